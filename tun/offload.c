/* TUN offloads: split TSO/USO super-packets into MTU-sized packets for encryption, merge
 * decrypted TCP segments back into super-packets for one TUN write. The rules follow Linux's
 * GSO (net/ipv4/tcp_offload.c tcp_gso_segment, udp_offload.c) and GRO (tcp_gro_receive,
 * inet_gro_receive), which wireguard-go's tun/offload_linux.go also mirrors. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "tun/offload.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80

#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58
#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6
#define UDP_HLEN 8

/* How many flows may have a super-packet under construction at once. Past that the oldest is
 * closed early: it only costs a smaller super-packet, and bounds the per-packet search. */
#define OPEN_FLOWS 16

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void lr_offload_vnet_parse(struct lr_vnet_hdr *h, const uint8_t raw[LR_VNET_HDR_LEN])
{
	h->flags = raw[0];
	h->gso_type = raw[1];
	h->hdr_len = get_le16(raw + 2);
	h->gso_size = get_le16(raw + 4);
	h->csum_start = get_le16(raw + 6);
	h->csum_offset = get_le16(raw + 8);
}

void lr_offload_vnet_write(uint8_t raw[LR_VNET_HDR_LEN], const struct lr_vnet_hdr *h)
{
	raw[0] = h->flags;
	raw[1] = h->gso_type;
	put_le16(raw + 2, h->hdr_len);
	put_le16(raw + 4, h->gso_size);
	put_le16(raw + 6, h->csum_start);
	put_le16(raw + 8, h->csum_offset);
}

void lr_offload_vnet_write_none(uint8_t raw[LR_VNET_HDR_LEN])
{
	memset(raw, 0, LR_VNET_HDR_LEN);
}

/* --- Checksums --- */

/* The sum is kept in native byte order (RFC 1071 2(B): the ones' complement sum is
 * byte-order independent) and swapped once in fold. Each 64-bit load is added as two 32-bit
 * halves into 64-bit accumulators: no carry to propagate, and the compiler can vectorize it;
 * 2^32 loads would be needed to overflow. */
uint64_t lr_offload_csum_add(uint64_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t a = 0, b = 0, w[4];
	uint32_t v32;
	uint16_t v16 = 0;

	for (; len >= sizeof(w); p += sizeof(w), len -= sizeof(w)) {
		memcpy(w, p, sizeof(w));
		a += (w[0] & 0xffffffff) + (w[0] >> 32) + (w[1] & 0xffffffff) + (w[1] >> 32);
		b += (w[2] & 0xffffffff) + (w[2] >> 32) + (w[3] & 0xffffffff) + (w[3] >> 32);
	}
	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&v32, p, 4);
		a += v32;
	}
	if (len >= 2) {
		memcpy(&v16, p, 2);
		b += v16;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The odd byte is the high-order byte of a zero-padded word in memory order. */
		v16 = 0;
		memcpy(&v16, p, 1);
		b += v16;
	}
	return sum + a + b;
}

uint16_t lr_offload_csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ntohs((uint16_t)sum);
}

uint64_t lr_offload_csum_pseudo4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
				 uint16_t l4_len)
{
	uint64_t sum = lr_offload_csum_add(0, src, 4);

	sum = lr_offload_csum_add(sum, dst, 4);
	/* Native-order values with the memory image of the big-endian fields. */
	return sum + htons(proto) + htons(l4_len);
}

uint64_t lr_offload_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
				 uint32_t l4_len)
{
	uint64_t sum = lr_offload_csum_add(0, src, 16);

	sum = lr_offload_csum_add(sum, dst, 16);
	return sum + htonl(l4_len) + htonl(proto);
}

/* The pseudo-header of the IP packet at ip (version v) for l4_len transport bytes. */
static uint64_t pseudo(const uint8_t *ip, int v, uint8_t proto, size_t l4_len)
{
	if (v == 4)
		return lr_offload_csum_pseudo4(ip + 12, ip + 16, proto, (uint16_t)l4_len);
	return lr_offload_csum_pseudo6(ip + 8, ip + 24, proto, (uint32_t)l4_len);
}

/* Fresh IPv4 header checksum over ihl bytes. */
static void ip4_fix_csum(uint8_t *ip, size_t ihl)
{
	put16(ip + 10, 0);
	put16(ip + 10, (uint16_t)~lr_offload_csum_fold(lr_offload_csum_add(0, ip, ihl)));
}

/* --- Segmentation --- */

enum seg_kind { SEG_COPY, SEG_CSUM, SEG_TCP, SEG_UDP };

struct seg_plan {
	enum seg_kind kind;
	int ip_version;
	size_t l3_len;    /* IP header bytes; also where the transport header starts */
	size_t hdr_len;   /* IP + transport header bytes */
	size_t gso_size;
	struct lr_offload_seg_info info;
};

/* Locates the transport header of a GSO packet: IPv4 (options allowed, as Linux replicates
 * them) or IPv6 with the transport header right after the fixed header. The IP length fields
 * are not held against len: every segment gets its own. */
static int plan_ip(const uint8_t *pkt, size_t len, int want_version, uint8_t proto,
		   struct seg_plan *p)
{
	if (unlikely(len < 20))
		return -EINVAL;
	p->ip_version = pkt[0] >> 4;
	if (want_version && p->ip_version != want_version)
		return -EINVAL;
	if (p->ip_version == 4) {
		p->l3_len = (size_t)(pkt[0] & 0xf) * 4;
		/* A fragment cannot be a GSO packet: MF or a fragment offset is malformed. */
		if (unlikely(p->l3_len < 20 || p->l3_len > len || pkt[9] != proto ||
			     (get16(pkt + 6) & 0x3fff)))
			return -EINVAL;
		return 0;
	}
	if (p->ip_version == 6) {
		if (unlikely(len < 40))
			return -EINVAL;
		/* Extension headers would move the transport header (and, for a routing header,
		 * the pseudo-header's destination); Linux's TCP never puts them on TSO packets. */
		if (unlikely(pkt[6] != proto))
			return -EOPNOTSUPP;
		p->l3_len = 40;
		return 0;
	}
	return -EINVAL;
}

/* The transport header, gso_size and the segment arithmetic of a TCP or UDP GSO packet. The
 * kernel's hdr_len is not used: it is skb_headlen(), which need not end at the headers. */
static int plan_gso(const struct lr_vnet_hdr *h, const uint8_t *pkt, size_t len,
		    struct seg_plan *p)
{
	size_t l4_len, payload, csum_offset;

	if (p->kind == SEG_TCP) {
		if (unlikely(len < p->l3_len + 20))
			return -EINVAL;
		l4_len = (size_t)(pkt[p->l3_len + 12] >> 4) * 4;
		if (unlikely(l4_len < 20))
			return -EINVAL;
		csum_offset = TCP_CSUM_OFF;
	} else {
		l4_len = UDP_HLEN;
		csum_offset = UDP_CSUM_OFF;
	}
	p->hdr_len = p->l3_len + l4_len;
	if (unlikely(len <= p->hdr_len || !h->gso_size))
		return -EINVAL;
	if ((h->flags & LR_VNET_F_NEEDS_CSUM) &&
	    unlikely(h->csum_start != p->l3_len || h->csum_offset != csum_offset))
		return -EINVAL;
	if (unlikely(p->hdr_len + h->gso_size > 0xffff))
		return -EMSGSIZE;
	payload = len - p->hdr_len;
	p->gso_size = h->gso_size;
	p->info.count = (unsigned)((payload + p->gso_size - 1) / p->gso_size);
	p->info.max_len = p->hdr_len + (payload < p->gso_size ? payload : p->gso_size);
	p->info.hdr_len = p->hdr_len;
	return 0;
}

/* GSO_NONE: the packet as it is, with a checksum to complete if NEEDS_CSUM. */
static int plan_plain(const struct lr_vnet_hdr *h, size_t len, struct seg_plan *p)
{
	if (unlikely(h->gso_type & LR_VNET_GSO_ECN) || unlikely(!len))
		return -EINVAL;
	if (unlikely(len > 0xffff))
		return -EMSGSIZE;
	p->kind = SEG_COPY;
	if (h->flags & LR_VNET_F_NEEDS_CSUM) {
		if (unlikely((size_t)h->csum_start + h->csum_offset + 2 > len))
			return -EINVAL;
		p->kind = SEG_CSUM;
	}
	p->info = (struct lr_offload_seg_info){ .count = 1, .max_len = len };
	return 0;
}

static int plan_segments(const struct lr_vnet_hdr *h, const uint8_t *pkt, size_t len,
			 struct seg_plan *p)
{
	uint8_t type = h->gso_type & (uint8_t)~LR_VNET_GSO_ECN;
	int err;

	switch (type) {
	case LR_VNET_GSO_NONE:
		return plan_plain(h, len, p);
	case LR_VNET_GSO_TCPV4:
	case LR_VNET_GSO_TCPV6:
		p->kind = SEG_TCP;
		err = plan_ip(pkt, len, type == LR_VNET_GSO_TCPV4 ? 4 : 6, PROTO_TCP, p);
		break;
	case LR_VNET_GSO_UDP_L4:
		/* ECN marks TCP's CWR handling; it means nothing for UDP. */
		if (unlikely(h->gso_type & LR_VNET_GSO_ECN))
			return -EINVAL;
		p->kind = SEG_UDP;
		err = plan_ip(pkt, len, 0, PROTO_UDP, p);
		break;
	default:
		return -EOPNOTSUPP;
	}
	return err ? err : plan_gso(h, pkt, len, p);
}

int lr_offload_segment_info(const struct lr_vnet_hdr *h, const uint8_t *pkt, size_t len,
			    struct lr_offload_seg_info *info)
{
	struct seg_plan p;
	int err = plan_segments(h, pkt, len, &p);

	if (err)
		return err;
	*info = p.info;
	return 0;
}

/* Checks that count segments, the last one last_len long, fit the layout without overlap. */
static int check_layout(const struct lr_offload_seg_out *out, const struct seg_plan *p,
			size_t last_len)
{
	size_t need = out->headroom + last_len;

	if (unlikely(p->info.count > out->max_segs))
		return -E2BIG;
	if (unlikely(need < out->headroom || need > out->cap))
		return -ENOBUFS;
	if (p->info.count == 1)
		return 0;
	if (unlikely(out->stride < out->headroom ||
		     out->stride - out->headroom < p->info.max_len))
		return -EINVAL;
	if (unlikely((out->cap - need) / (p->info.count - 1) < out->stride))
		return -ENOBUFS;
	return 0;
}

/* A non-GSO packet that still owes its checksum: the field already holds the pseudo-header
 * sum (CHECKSUM_PARTIAL), so summing from csum_start to the end and complementing completes
 * it. 0 becomes 0xffff as in the kernel's skb_checksum_help: equal in ones' complement, and
 * the only correct form for UDP. */
static void complete_csum(uint8_t *o, size_t len, size_t start, size_t offset)
{
	uint16_t c = (uint16_t)~lr_offload_csum_fold(lr_offload_csum_add(0, o + start,
									   len - start));

	put16(o + start + offset, c ? c : 0xffff);
}

/* Per-segment TCP header rules of tcp_gso_segment: FIN and PSH stay on the last segment only,
 * CWR on the first only; the sequence number advances by the payload before it. */
static void tcp_fix(uint8_t *th, uint32_t seq, unsigned i, unsigned count)
{
	put32(th + 4, seq);
	if (i + 1 < count)
		th[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i > 0)
		th[13] &= (uint8_t)~TCP_CWR;
}

/* Writes segment i (headers from pkt, then seg_payload bytes of payload at off). */
static void write_segment(const struct seg_plan *p, const uint8_t *pkt, uint8_t *o, unsigned i,
			  size_t off, size_t seg_payload)
{
	size_t seg_len = p->hdr_len + seg_payload, l4 = seg_len - p->l3_len;
	uint8_t *th = o + p->l3_len, proto;
	uint16_t c;

	memcpy(o, pkt, p->hdr_len);
	memcpy(o + p->hdr_len, pkt + off, seg_payload);
	if (p->ip_version == 4) {
		/* Linux numbers the segments' IPv4 IDs on from the super-packet's. */
		put16(o + 2, (uint16_t)seg_len);
		put16(o + 4, (uint16_t)(get16(pkt + 4) + i));
		ip4_fix_csum(o, p->l3_len);
	} else {
		put16(o + 4, (uint16_t)l4);
	}
	if (p->kind == SEG_TCP) {
		tcp_fix(th, get32(pkt + p->l3_len + 4) + (uint32_t)(i * p->gso_size), i,
			p->info.count);
		proto = PROTO_TCP;
		put16(th + TCP_CSUM_OFF, 0);
	} else {
		put16(th + 4, (uint16_t)l4);
		proto = PROTO_UDP;
		put16(th + UDP_CSUM_OFF, 0);
	}
	c = (uint16_t)~lr_offload_csum_fold(lr_offload_csum_add(pseudo(o, p->ip_version, proto, l4),
								 th, l4));
	if (p->kind == SEG_TCP)
		put16(th + TCP_CSUM_OFF, c);
	else
		put16(th + UDP_CSUM_OFF, c ? c : 0xffff); /* 0 would mean "no checksum" */
}

/* GSO_NONE: one segment, the packet itself, its checksum completed if it still owes one. */
static int segment_one(const struct lr_vnet_hdr *h, const struct seg_plan *p, const uint8_t *pkt,
		       size_t len, const struct lr_offload_seg_out *out, uint16_t *seg_len)
{
	uint8_t *o = out->base + out->headroom;
	int err = check_layout(out, p, len);

	if (err)
		return err;
	memcpy(o, pkt, len);
	if (p->kind == SEG_CSUM)
		complete_csum(o, len, h->csum_start, h->csum_offset);
	seg_len[0] = (uint16_t)len;
	return 1;
}

int lr_offload_segment(const struct lr_vnet_hdr *h, const uint8_t *pkt, size_t len,
		       const struct lr_offload_seg_out *out, uint16_t *seg_len)
{
	size_t payload, last, off;
	struct seg_plan p;
	unsigned i;
	int err;

	err = plan_segments(h, pkt, len, &p);
	if (err)
		return err;
	if (p.kind == SEG_COPY || p.kind == SEG_CSUM)
		return segment_one(h, &p, pkt, len, out, seg_len);
	payload = len - p.hdr_len;
	last = payload - (size_t)(p.info.count - 1) * p.gso_size;
	err = check_layout(out, &p, p.hdr_len + last);
	if (err)
		return err;
	for (i = 0, off = p.hdr_len; i < p.info.count; i++, off += p.gso_size) {
		size_t n = i + 1 < p.info.count ? p.gso_size : last;

		write_segment(&p, pkt, out->base + (size_t)i * out->stride + out->headroom, i, off,
			      n);
		seg_len[i] = (uint16_t)(p.hdr_len + n);
	}
	return (int)p.info.count;
}

/* --- Coalescing --- */

/* A decrypted packet as the coalescer sees it. */
struct tcp_view {
	const uint8_t *ip;
	size_t len;
	int version;
	size_t l3_len;
	size_t hdr_len;    /* IP + TCP (or UDP) header */
	size_t payload;
	uint8_t proto;     /* PROTO_TCP, or PROTO_UDP when UDP coalescing is on */
	uint8_t flags;
	bool has_flow;     /* a TCP packet whose addresses and ports could be read */
	bool addrs_only;   /* maybe TCP, but the ports are out of reach (fragment, IPv6
			    * extension header): only the addresses say which flows it touches */
	bool candidate;    /* may take part in a super-packet */
};

/* The IP layer of a candidate, per inet_gro_receive / ipv6_gro_receive: IPv4 without options
 * or fragmentation, IPv6 without extension headers, and the header's length equal to the
 * packet's. Checksums are left to view_csum_ok. */
static bool view_ip(struct tcp_view *t, bool udp)
{
	const uint8_t *ip = t->ip;

	if (t->len < 20)
		return false;
	t->version = ip[0] >> 4;
	if (t->version == 4) {
		if ((ip[9] != PROTO_TCP && !(udp && ip[9] == PROTO_UDP)) || (ip[0] & 0xf) < 5)
			return false;
		t->proto = ip[9];
		t->l3_len = (size_t)(ip[0] & 0xf) * 4;
		/* A later fragment carries no ports. */
		t->addrs_only = get16(ip + 6) & 0x1fff;
		t->has_flow = !t->addrs_only && t->len >= t->l3_len + 4;
		return t->has_flow && ip[0] == 0x45 && get16(ip + 2) == t->len &&
		       !(get16(ip + 6) & ~0x4000);
	}
	if (t->version != 6 || t->len < 40)
		return false;
	if (ip[6] != PROTO_TCP && !(udp && ip[6] == PROTO_UDP)) {
		/* Anything but UDP and ICMPv6 may be an extension header in front of TCP. */
		t->addrs_only = ip[6] != PROTO_UDP && ip[6] != PROTO_ICMPV6;
		return false;
	}
	t->proto = ip[6];
	t->l3_len = 40;
	t->has_flow = t->len >= 44;
	return t->has_flow && get16(ip + 4) + (size_t)40 == t->len;
}

/* Only plain data segments merge (ACK, optionally ECE, CWR, PSH, FIN): SYN, RST and URG end
 * GRO in tcp_gro_receive too, and a segment without payload has nothing to merge. Reads
 * headers only; candidate still needs view_csum_ok. */
static void view_parse(struct tcp_view *t, const struct lr_offload_pkt *pkt, bool udp)
{
	const uint8_t *th;

	*t = (struct tcp_view){ .ip = pkt->data, .len = pkt->len };
	if (!view_ip(t, udp))
		return;
	if (t->proto == PROTO_UDP) {
		/* A datagram merges when its length field is exact and it carries a checksum
		 * (IPv4 may send none; a merged packet always gets one, so it could not be
		 * segmented back into the same bytes). */
		const uint8_t *uh = t->ip + t->l3_len;

		t->hdr_len = t->l3_len + 8;
		if (t->len <= t->hdr_len || t->len > LR_OFFLOAD_MAX_LEN ||
		    get16(uh + 4) != t->len - t->l3_len || !get16(uh + 6))
			return;
		t->payload = t->len - t->hdr_len;
		t->candidate = true;
		return;
	}
	if (t->len < t->l3_len + 20)
		return;
	th = t->ip + t->l3_len;
	t->hdr_len = t->l3_len + (size_t)(th[12] >> 4) * 4;
	t->flags = th[13];
	if ((th[12] >> 4) < 5 || t->hdr_len >= t->len || t->len > LR_OFFLOAD_MAX_LEN)
		return;
	if ((t->flags & (TCP_SYN | TCP_RST | TCP_URG)) || !(t->flags & TCP_ACK))
		return;
	t->payload = t->len - t->hdr_len;
	t->candidate = true;
}

/* A merged packet reaches the stack as CHECKSUM_PARTIAL, that is as already verified, so a
 * corrupt segment must never be merged (inet_gro_receive checks the IPv4 header, tcp4/6
 * _gro_receive the TCP checksum). Left alone, the kernel drops it. */
static bool view_csum_ok(const struct tcp_view *t)
{
	size_t l4 = t->len - t->l3_len;
	uint64_t sum = pseudo(t->ip, t->version, t->proto, l4);

	if (t->version == 4 && lr_offload_csum_fold(lr_offload_csum_add(0, t->ip, 20)) != 0xffff)
		return false;
	return lr_offload_csum_fold(lr_offload_csum_add(sum, t->ip + t->l3_len, l4)) == 0xffff;
}

static bool same_addrs(const struct tcp_view *a, const struct tcp_view *b)
{
	size_t addrs = a->version == 4 ? 12 : 8, alen = a->version == 4 ? 8 : 32;

	return a->version == b->version && !memcmp(a->ip + addrs, b->ip + addrs, alen);
}

/* Same addresses and ports (each at its own header length). */
static bool same_flow(const struct tcp_view *a, const struct tcp_view *b)
{
	return same_addrs(a, b) && a->proto == b->proto &&
	       !memcmp(a->ip + a->l3_len, b->ip + b->l3_len, 4);
}

/* Everything segmentation would have copied unchanged must match the group's head: TOS, DF
 * and TTL (IPv4), version/class/flow label and hop limit (IPv6), ack, data offset, flags but
 * CWR/PSH/FIN, window and options (the words tcp_gro_receive compares), and the urgent
 * pointer, so that segmenting the result again gives back exactly these packets. */
static bool headers_match(const struct tcp_view *h, const struct tcp_view *t)
{
	const uint8_t *a = h->ip, *b = t->ip, *ta = a + h->l3_len, *tb = b + t->l3_len;

	if (h->version == 4) {
		if (a[1] != b[1] || a[8] != b[8] || ((a[6] ^ b[6]) & 0x40))
			return false;
	} else if (memcmp(a, b, 4) || a[7] != b[7]) {
		return false;
	}
	if (h->proto == PROTO_UDP)
		return true; /* ports matched in same_flow; length and checksum are per datagram */
	if (h->hdr_len != t->hdr_len || memcmp(ta + 8, tb + 8, 5) ||
	    ((ta[13] ^ tb[13]) & ~(TCP_CWR | TCP_PSH | TCP_FIN)) || memcmp(ta + 14, tb + 14, 2) ||
	    memcmp(ta + 18, tb + 18, 2))
		return false;
	return !memcmp(ta + 20, tb + 20, h->hdr_len - h->l3_len - 20);
}

/* Whether t continues group g, whose head is h. */
static bool can_append(const struct lr_offload_group *g, const struct tcp_view *h,
		       const struct tcp_view *t)
{
	const uint8_t *th = t->ip + t->l3_len;

	if (!t->candidate || !g->open || t->payload > g->gso_size ||
	    g->len + t->payload > LR_OFFLOAD_MAX_LEN)
		return false;
	if (t->proto == PROTO_TCP && ((t->flags & TCP_CWR) || get32(th + 4) != g->next_seq))
		return false;
	/* tcp_gso_segment numbers IPv4 IDs consecutively; requiring that here is what makes
	 * segmenting the super-packet again give back these exact packets. */
	if (t->version == 4 && get16(t->ip + 4) != g->next_id)
		return false;
	return headers_match(h, t);
}

/* A segment shorter than the rest, or carrying PSH or FIN, ends its super-packet (the
 * out_check_final rule of tcp_gro_receive). */
static bool ends_group(const struct lr_offload_group *g, const struct tcp_view *t)
{
	return t->payload < g->gso_size || (t->flags & (TCP_PSH | TCP_FIN)) ||
	       g->count >= LR_OFFLOAD_MAX_SEGS;
}

static void group_start(struct lr_offload_group *g, unsigned i, const struct tcp_view *t)
{
	*g = (struct lr_offload_group){
		.head = (uint16_t)i,
		.tail = (uint16_t)i,
		.count = 1,
		.len = (uint32_t)t->len,
	};
	if (!t->candidate)
		return;
	g->gso_size = (uint16_t)t->payload;
	if (t->proto == PROTO_TCP)
		g->next_seq = get32(t->ip + t->l3_len + 4) + (uint32_t)t->payload;
	g->next_id = (uint16_t)(get16(t->ip + 4) + 1);
	g->open = !(t->flags & (TCP_PSH | TCP_FIN));
}

static void group_append(struct lr_offload_group *g, uint16_t *next, unsigned i,
			 const struct tcp_view *t)
{
	next[g->tail] = (uint16_t)i;
	g->tail = (uint16_t)i;
	g->count++;
	g->len += (uint32_t)t->payload;
	g->next_seq += (uint32_t)t->payload;
	g->next_id++;
	if (ends_group(g, t))
		g->open = false;
}

/* The open flows: group indices, oldest first. */
struct open_set {
	unsigned g[OPEN_FLOWS];
	unsigned n;
	bool udp; /* UDP datagrams merge too */
};

static void open_remove(struct open_set *s, unsigned at)
{
	memmove(s->g + at, s->g + at + 1, (s->n - at - 1) * sizeof(s->g[0]));
	s->n--;
}

/* A packet that may belong to any TCP flow between its addresses closes all their runs. */
static void close_by_addrs(const struct lr_offload_pkt *pkts, const struct tcp_view *t,
			   struct lr_offload_group *groups, struct open_set *s)
{
	struct tcp_view h;

	for (unsigned k = s->n; k-- > 0;) {
		view_parse(&h, &pkts[groups[s->g[k]].head], s->udp);
		if (same_addrs(&h, t)) {
			groups[s->g[k]].open = false;
			open_remove(s, k);
		}
	}
}

/* Puts packet i (view t) into a group: its flow's open one if it continues it, else a new
 * one; a packet of the flow that cannot continue the open group closes it, so that the flow's
 * packets reach TUN in their order. */
static unsigned classify_one(const struct lr_offload_pkt *pkts, unsigned i,
			     const struct tcp_view *t, struct lr_offload_group *groups,
			     unsigned ngroups, uint16_t *next, struct open_set *s)
{
	struct tcp_view h;
	unsigned k;

	if (t->addrs_only)
		close_by_addrs(pkts, t, groups, s);
	for (k = s->n; t->has_flow && k-- > 0;) {
		struct lr_offload_group *g = &groups[s->g[k]];

		view_parse(&h, &pkts[g->head], s->udp);
		if (!same_flow(&h, t))
			continue;
		if (can_append(g, &h, t)) {
			group_append(g, next, i, t);
			if (!g->open)
				open_remove(s, k);
			return ngroups;
		}
		g->open = false;
		open_remove(s, k);
		break;
	}
	group_start(&groups[ngroups], i, t);
	if (groups[ngroups].open) {
		if (s->n == OPEN_FLOWS) {
			groups[s->g[0]].open = false;
			open_remove(s, 0);
		}
		s->g[s->n++] = ngroups;
	}
	return ngroups + 1;
}

int lr_offload_coalesce(const struct lr_offload_pkt *pkts, unsigned n,
			struct lr_offload_group *groups, uint16_t *next)
{
	return lr_offload_coalesce_flags(pkts, n, groups, next, 0);
}

int lr_offload_coalesce_flags(const struct lr_offload_pkt *pkts, unsigned n,
			      struct lr_offload_group *groups, uint16_t *next, unsigned flags)
{
	struct open_set s = { .n = 0, .udp = flags & LR_OFFLOAD_COALESCE_UDP };
	struct tcp_view t;
	unsigned i, ngroups = 0;

	if (unlikely(n > LR_OFFLOAD_END))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		next[i] = LR_OFFLOAD_END;
		view_parse(&t, &pkts[i], s.udp);
		if (t.candidate && !view_csum_ok(&t))
			t.candidate = false;
		ngroups = classify_one(pkts, i, &t, groups, ngroups, next, &s);
	}
	for (i = 0; i < s.n; i++)
		groups[s.g[i]].open = false;
	return (int)ngroups;
}

/* The head's headers as the super-packet's: lengths for the whole, the tail's PSH/FIN, and the
 * pseudo-header sum in the checksum field, which the kernel completes (CHECKSUM_PARTIAL, as
 * tcp_gro_complete leaves it). */
static void build_headers(uint8_t *o, const struct tcp_view *h, const struct tcp_view *tail,
			  size_t len)
{
	uint8_t *th = o + h->l3_len;

	if (h->version == 4) {
		put16(o + 2, (uint16_t)len);
		ip4_fix_csum(o, h->l3_len);
	} else {
		put16(o + 4, (uint16_t)(len - 40));
	}
	if (h->proto == PROTO_UDP) {
		/* As __udp_gso_segment expects: the length and pseudo-header of the whole. */
		put16(th + 4, (uint16_t)(len - h->l3_len));
		put16(th + 6, lr_offload_csum_fold(pseudo(o, h->version, PROTO_UDP,
							  len - h->l3_len)));
		return;
	}
	th[13] |= tail->flags & (TCP_PSH | TCP_FIN);
	put16(th + TCP_CSUM_OFF,
	      lr_offload_csum_fold(pseudo(o, h->version, PROTO_TCP, len - h->l3_len)));
}

static void build_vnet(uint8_t *raw, const struct lr_offload_group *g, const struct tcp_view *h)
{
	struct lr_vnet_hdr v = {
		.flags = LR_VNET_F_NEEDS_CSUM,
		.gso_type = h->version == 4 ? LR_VNET_GSO_TCPV4 : LR_VNET_GSO_TCPV6,
		.hdr_len = (uint16_t)h->hdr_len,
		.gso_size = g->gso_size,
		.csum_start = (uint16_t)h->l3_len,
		.csum_offset = TCP_CSUM_OFF,
	};

	if (h->proto == PROTO_UDP) {
		v.gso_type = LR_VNET_GSO_UDP_L4;
		v.csum_offset = 6;
		lr_offload_vnet_write(raw, &v);
		return;
	}

	/* tcp_gro_complete does the same, so a later re-segmentation clears CWR after the
	 * first segment. */
	if (h->flags & TCP_CWR)
		v.gso_type |= LR_VNET_GSO_ECN;
	lr_offload_vnet_write(raw, &v);
}

static int build_single(const struct lr_offload_pkt *p, uint8_t *out, size_t cap)
{
	if (unlikely(cap < LR_VNET_HDR_LEN || cap - LR_VNET_HDR_LEN < p->len))
		return -ENOBUFS;
	lr_offload_vnet_write_none(out);
	memcpy(out + LR_VNET_HDR_LEN, p->data, p->len);
	return (int)(LR_VNET_HDR_LEN + p->len);
}

int lr_offload_coalesce_build(const struct lr_offload_pkt *pkts, const uint16_t *next,
			      const struct lr_offload_group *g, uint8_t *out, size_t cap)
{
	struct tcp_view h, t;
	size_t len;
	unsigned k;
	uint16_t m;

	if (g->count == 1)
		return build_single(&pkts[g->head], out, cap);
	/* UDP on: a group only holds datagrams if the classifier was told to merge them. */
	view_parse(&h, &pkts[g->head], true);
	if (unlikely(!h.candidate || !g->count || h.len > g->len || g->len > LR_OFFLOAD_MAX_LEN))
		return -EINVAL;
	if (unlikely(cap < LR_VNET_HDR_LEN || cap - LR_VNET_HDR_LEN < g->len))
		return -ENOBUFS;
	memcpy(out + LR_VNET_HDR_LEN, h.ip, h.len);
	len = h.len;
	/* The members' views are re-derived, not trusted: a group that does not match pkts
	 * fails here rather than writing past len. */
	for (k = 1, m = next[g->head]; k < g->count; k++, m = next[m]) {
		if (unlikely(m == LR_OFFLOAD_END))
			return -EINVAL;
		view_parse(&t, &pkts[m], true);
		if (unlikely(!t.candidate || t.proto != h.proto || t.hdr_len != h.hdr_len || len + t.payload > g->len))
			return -EINVAL;
		memcpy(out + LR_VNET_HDR_LEN + len, t.ip + t.hdr_len, t.payload);
		len += t.payload;
	}
	if (unlikely(len != g->len || m != LR_OFFLOAD_END))
		return -EINVAL;
	build_headers(out + LR_VNET_HDR_LEN, &h, &t, len);
	build_vnet(out, g, &h);
	return (int)(LR_VNET_HDR_LEN + len);
}
