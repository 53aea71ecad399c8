/* Socket addresses for WireGuard endpoints: the UAPI text form, comparison and v4/v6 mapping. */
#include "common/sockaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Strict decimal as Go's strconv.ParseUint(s, 10, bits) takes it: digits only (no sign, no
 * space, no "0x"), leading zeros allowed, at least one digit, no overflow. */
static bool parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* inet_pton wants a NUL-terminated string; copy the bounded span first. */
static bool parse_ip(int family, const char *s, size_t len, void *addr)
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(family, buf, addr) == 1;
}

/* A zone is an interface name or a decimal index, looked up in that order as wireguard-go's
 * zoneToUint32 does (conn/bind_linux.go, 0.0.20220316). if_nametoindex is a local ioctl, not
 * a resolver, so the syntax stays numeric-only as far as the network is concerned. */
static bool parse_zone(const char *s, size_t len, uint32_t *scope)
{
	char name[IF_NAMESIZE];
	uint64_t v;

	if (len == 0)
		return false;
	if (len < sizeof(name)) {
		memcpy(name, s, len);
		name[len] = '\0';
		*scope = if_nametoindex(name);
		if (*scope != 0)
			return true;
	}
	if (!parse_decimal(s, len, UINT32_MAX, &v))
		return false;
	*scope = (uint32_t)v;
	return true;
}

/* "[addr]" or "[addr%zone]" between host and host_end (brackets included). */
static bool parse_host6(struct sockaddr_in6 *in6, const char *host, const char *host_end)
{
	const char *addr = host + 1, *addr_end = host_end - 1, *pct;
	uint32_t scope = 0;

	if (host_end - host < 2 || *host != '[' || *addr_end != ']')
		return false;
	pct = memchr(addr, '%', (size_t)(addr_end - addr));
	if (pct) {
		if (!parse_zone(pct + 1, (size_t)(addr_end - pct - 1), &scope))
			return false;
		addr_end = pct;
	}
	if (!parse_ip(AF_INET6, addr, (size_t)(addr_end - addr), &in6->sin6_addr))
		return false;
	in6->sin6_family = AF_INET6;
	in6->sin6_scope_id = scope;
	return true;
}

/* Mirrors netip.ParseAddrPort (used by wireguard-go's LinuxSocketBind.ParseEndpoint): the port
 * follows the last colon; brackets are required for IPv6 and forbidden for IPv4. */
int lr_sockaddr_parse(union lr_sockaddr *out, const char *text)
{
	const char *colon = strrchr(text, ':');
	union lr_sockaddr a;
	uint64_t port;

	memset(&a, 0, sizeof(a));
	if (!colon || colon == text)
		return -EINVAL;
	if (!parse_decimal(colon + 1, strlen(colon + 1), UINT16_MAX, &port))
		return -EINVAL;
	if (text[0] == '[') {
		if (!parse_host6(&a.in6, text, colon))
			return -EINVAL;
		a.in6.sin6_port = htons((uint16_t)port);
	} else {
		if (!parse_ip(AF_INET, text, (size_t)(colon - text), &a.in4.sin_addr))
			return -EINVAL;
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons((uint16_t)port);
	}
	*out = a;
	return 0;
}

/* The scope id is printed as a number: wireguard-go drops it from DstToString, but a number
 * survives a parse round trip even after the interface is renamed. */
char *lr_sockaddr_format(const union lr_sockaddr *addr, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (addr->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &addr->in4.sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(addr->in4.sin_port));
	} else if (addr->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &addr->in6.sin6_addr, ip, sizeof(ip));
		if (addr->in6.sin6_scope_id)
			snprintf(buf, len, "[%s%%%u]:%u", ip, addr->in6.sin6_scope_id,
				 ntohs(addr->in6.sin6_port));
		else
			snprintf(buf, len, "[%s]:%u", ip, ntohs(addr->in6.sin6_port));
	}
	return buf;
}

socklen_t lr_sockaddr_len(const union lr_sockaddr *addr)
{
	if (addr->sa.sa_family == AF_INET)
		return sizeof(addr->in4);
	if (addr->sa.sa_family == AF_INET6)
		return sizeof(addr->in6);
	return 0;
}

/* Flow info is not part of an endpoint's identity; the scope id is (fe80::1 on two links are
 * two hosts). */
bool lr_sockaddr_equal(const union lr_sockaddr *a, const union lr_sockaddr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port &&
		       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr)) == 0;
	return false;
}

void lr_sockaddr_unmap(union lr_sockaddr *out, const union lr_sockaddr *in)
{
	union lr_sockaddr tmp;

	if (in->sa.sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in->in6.sin6_addr)) {
		*out = *in;
		return;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.in4.sin_family = AF_INET;
	tmp.in4.sin_port = in->in6.sin6_port;
	memcpy(&tmp.in4.sin_addr, &in->in6.sin6_addr.s6_addr[12], sizeof(tmp.in4.sin_addr));
	*out = tmp;
}

/* Anything but AF_INET/AF_INET6 yields an all-zero AF_INET6 address (::, port 0), which no
 * send will reach, rather than uninitialised bytes. */
void lr_sockaddr_map6(struct sockaddr_in6 *out, const union lr_sockaddr *in)
{
	struct sockaddr_in6 tmp;

	if (in->sa.sa_family == AF_INET6) {
		*out = in->in6;
		return;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.sin6_family = AF_INET6;
	if (in->sa.sa_family == AF_INET) {
		tmp.sin6_port = in->in4.sin_port;
		tmp.sin6_addr.s6_addr[10] = 0xff;
		tmp.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&tmp.sin6_addr.s6_addr[12], &in->in4.sin_addr, sizeof(in->in4.sin_addr));
	}
	*out = tmp;
}
