/* Minimal IPv4/IPv6 header reading for cryptokey routing: version, addresses, true length.
 * Every function checks lengths first; they only read. */
#ifndef LR_DATAPLANE_IP_H
#define LR_DATAPLANE_IP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The packet's own length from its header (IPv4 total length, IPv6 40 + payload length), or 0
 * if the buffer does not hold a well-formed IPv4/IPv6 packet of at least that length. family
 * gets AF_INET or AF_INET6. */
static inline size_t lr_ip_packet_len(const uint8_t *p, size_t len, int *family)
{
	if (len >= 20 && (p[0] >> 4) == 4) {
		size_t total = ((size_t)p[2] << 8) | p[3];

		if ((p[0] & 0xf) < 5 || total < (size_t)(p[0] & 0xf) * 4 || total > len)
			return 0;
		*family = AF_INET;
		return total;
	}
	if (len >= 40 && (p[0] >> 4) == 6) {
		size_t total = 40 + (((size_t)p[4] << 8) | p[5]);

		if (total > len)
			return 0;
		*family = AF_INET6;
		return total;
	}
	return 0;
}

static inline const uint8_t *lr_ip_src(const uint8_t *p, int family)
{
	return family == AF_INET ? p + 12 : p + 8;
}

static inline const uint8_t *lr_ip_dst(const uint8_t *p, int family)
{
	return family == AF_INET ? p + 16 : p + 24;
}

/* A hash of the packet's flow (addresses, protocol, ports when the first header after a
 * plain IPv4/IPv6 header is TCP or UDP). The priority lane uses it to keep a flow's packets in
 * order: a small packet never overtakes a big one of its own flow. Reads only what len has. */
static inline uint32_t lr_ip_flow_hash(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t addr_off, addr_len, l4;
	uint8_t proto;

	if (len >= 20 && (p[0] >> 4) == 4) {
		addr_off = 12, addr_len = 8, proto = p[9], l4 = (size_t)(p[0] & 0xf) * 4;
	} else if (len >= 40 && (p[0] >> 4) == 6) {
		addr_off = 8, addr_len = 32, proto = p[6], l4 = 40;
	} else {
		return 0;
	}
	for (size_t i = 0; i < addr_len; i++)
		h = (h ^ p[addr_off + i]) * 16777619u;
	h = (h ^ proto) * 16777619u;
	if ((proto == 6 || proto == 17) && l4 + 4 <= len) {
		for (size_t i = 0; i < 4; i++)
			h = (h ^ p[l4 + i]) * 16777619u;
	}
	return h ^ (h >> 16);
}

#endif
