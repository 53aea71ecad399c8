/* TUN offloads: segmentation and coalescing vs hand-built packets, round trips, bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/compiler.h"
#include "tun/offload.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80
#define CANARY 0xa5
#define MAXPKT 70000

static uint64_t seed;

/* splitmix64: a fixed, tiny generator, so a seed reproduces on any libc. */
static uint64_t rnd(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A value in [lo, hi]. */
static size_t rnd_range(uint64_t *st, size_t lo, size_t hi)
{
	return lo + (size_t)(rnd(st) % (hi - lo + 1));
}

static void rnd_bytes(uint64_t *st, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd(st);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	assert_non_null(p);
	return p;
}

static uint8_t *dup_exact(const uint8_t *p, size_t len)
{
	uint8_t *q = xmalloc(len);

	memcpy(q, p, len);
	return q;
}

/* --- The deliberately simple reference --- */

/* RFC 1071 the slow way: big-endian 16-bit words, one at a time, folded at the end. */
static uint16_t ref_sum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i < len; i += 2)
		s += (uint32_t)(p[i] << 8) | (i + 1 < len ? p[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void wr16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v & 0xffff);
}

static uint8_t scratch[MAXPKT + 64];

/* The ones' complement sum of the pseudo-header laid out byte by byte, then the segment. */
static uint16_t ref_l4_sum(int v, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			   const uint8_t *l4, size_t l4_len)
{
	size_t alen = v == 4 ? 4 : 16, n = 0;

	memcpy(scratch, src, alen);
	memcpy(scratch + alen, dst, alen);
	n = 2 * alen;
	if (v == 4) {
		scratch[n++] = 0;
		scratch[n++] = proto;
		wr16(scratch + n, (unsigned)l4_len);
		n += 2;
	} else {
		wr32(scratch + n, (uint32_t)l4_len);
		n += 4;
		scratch[n++] = 0;
		scratch[n++] = 0;
		scratch[n++] = 0;
		scratch[n++] = proto;
	}
	if (l4)
		memcpy(scratch + n, l4, l4_len);
	return ref_sum(scratch, n + (l4 ? l4_len : 0));
}

struct flow {
	int v;
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport, win, id, urg;
	uint32_t seq, ack, label;
	uint8_t tos, ttl, df, flags, optlen;
	uint8_t opts[40];
};

enum csum_mode {
	CSUM_FULL,         /* what a correct packet carries */
	CSUM_FULL_NOZERO,  /* the same, 0 written as 0xffff (UDP, and skb_checksum_help) */
	CSUM_PARTIAL,      /* pseudo-header sum only, as the kernel hands over a TSO packet */
};

static size_t l3_len(const struct flow *f)
{
	return f->v == 4 ? 20 : 40;
}

static size_t l4_hdr_len(const struct flow *f)
{
	return f->proto == 6 ? 20 + (size_t)f->optlen : 8;
}

/* One packet of flow f, field by field. */
static size_t ref_build(uint8_t *o, const struct flow *f, uint32_t seq, uint8_t flags,
			uint16_t id, const uint8_t *payload, size_t plen, enum csum_mode mode)
{
	size_t l3 = l3_len(f), l4h = l4_hdr_len(f), len = l3 + l4h + plen;
	uint8_t *t = o + l3;
	unsigned c;

	if (f->v == 4) {
		o[0] = 0x45;
		o[1] = f->tos;
		wr16(o + 2, (unsigned)len);
		wr16(o + 4, id);
		wr16(o + 6, f->df ? 0x4000 : 0);
		o[8] = f->ttl;
		o[9] = f->proto;
		wr16(o + 10, 0);
		memcpy(o + 12, f->src, 4);
		memcpy(o + 16, f->dst, 4);
		wr16(o + 10, (uint16_t)~ref_sum(o, 20));
	} else {
		o[0] = (uint8_t)(0x60 | f->tos >> 4);
		o[1] = (uint8_t)(f->tos << 4 | (f->label >> 16 & 0xf));
		wr16(o + 2, f->label & 0xffff);
		wr16(o + 4, (unsigned)(len - 40));
		o[6] = f->proto;
		o[7] = f->ttl;
		memcpy(o + 8, f->src, 16);
		memcpy(o + 24, f->dst, 16);
	}
	wr16(t, f->sport);
	wr16(t + 2, f->dport);
	if (f->proto == 6) {
		wr32(t + 4, seq);
		wr32(t + 8, f->ack);
		t[12] = (uint8_t)((l4h / 4) << 4);
		t[13] = flags;
		wr16(t + 14, f->win);
		wr16(t + 16, 0);
		wr16(t + 18, f->urg);
		memcpy(t + 20, f->opts, f->optlen);
	} else {
		wr16(t + 4, (unsigned)(l4h + plen));
		wr16(t + 6, 0);
	}
	memcpy(t + l4h, payload, plen);
	if (mode == CSUM_PARTIAL) {
		c = ref_l4_sum(f->v, o + (f->v == 4 ? 12 : 8), o + (f->v == 4 ? 16 : 24), f->proto,
			       NULL, l4h + plen);
	} else {
		c = (uint16_t)~ref_l4_sum(f->v, o + (f->v == 4 ? 12 : 8),
					  o + (f->v == 4 ? 16 : 24), f->proto, t, l4h + plen);
		if (c == 0 && (mode == CSUM_FULL_NOZERO || f->proto == 17))
			c = 0xffff;
	}
	wr16(t + (f->proto == 6 ? 16 : 6), c);
	return len;
}

static void flow_random(struct flow *f, uint64_t *st, int v, uint8_t proto)
{
	memset(f, 0, sizeof(*f));
	f->v = v;
	f->proto = proto;
	rnd_bytes(st, f->src, 16);
	rnd_bytes(st, f->dst, 16);
	f->sport = (uint16_t)rnd(st);
	f->dport = (uint16_t)rnd(st);
	f->win = (uint16_t)rnd(st);
	f->id = (uint16_t)rnd(st);
	f->seq = (uint32_t)rnd(st);
	f->ack = (uint32_t)rnd(st);
	f->label = (uint32_t)rnd(st) & 0xfffff;
	f->tos = (uint8_t)rnd(st);
	f->ttl = (uint8_t)rnd_range(st, 1, 255);
	f->df = rnd(st) & 1;
	f->flags = TCP_ACK;
	switch (proto == 6 ? rnd(st) % 3 : 0) {
	case 1: /* NOP NOP timestamps, as Linux sends them */
		f->optlen = 12;
		f->opts[0] = 1;
		f->opts[1] = 1;
		f->opts[2] = 8;
		f->opts[3] = 10;
		rnd_bytes(st, f->opts + 4, 8);
		break;
	case 2:
		f->optlen = (uint8_t)(4 * rnd_range(st, 1, 10));
		rnd_bytes(st, f->opts, f->optlen);
		break;
	}
}

/* The flags segment i of count carries, per tcp_gso_segment. */
static uint8_t seg_flags(uint8_t flags, unsigned i, unsigned count)
{
	if (i + 1 < count)
		flags &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i > 0)
		flags &= (uint8_t)~TCP_CWR;
	return flags;
}

/* A super-packet as the kernel hands it over after IFF_VNET_HDR + TUNSETOFFLOAD. */
struct super {
	struct flow f;
	uint8_t vnet[LR_VNET_HDR_LEN];
	uint8_t *pkt; /* heap, exactly len bytes */
	uint8_t *payload;
	size_t len, plen, gso;
	unsigned count;
};

static void vnet_raw(uint8_t *raw, uint8_t flags, uint8_t type, unsigned hdr_len, unsigned gso,
		     unsigned start, unsigned off)
{
	raw[0] = flags;
	raw[1] = type;
	raw[2] = (uint8_t)hdr_len;
	raw[3] = (uint8_t)(hdr_len >> 8);
	raw[4] = (uint8_t)gso;
	raw[5] = (uint8_t)(gso >> 8);
	raw[6] = (uint8_t)start;
	raw[7] = (uint8_t)(start >> 8);
	raw[8] = (uint8_t)off;
	raw[9] = (uint8_t)(off >> 8);
}

static uint8_t gso_type_of(const struct flow *f)
{
	if (f->proto == 17)
		return LR_VNET_GSO_UDP_L4;
	return (uint8_t)((f->v == 4 ? LR_VNET_GSO_TCPV4 : LR_VNET_GSO_TCPV6) |
			 ((f->flags & TCP_CWR) ? LR_VNET_GSO_ECN : 0));
}

/* Builds s from its flow, gso size and payload length. */
static void super_build(struct super *s, uint64_t *st)
{
	size_t hdr = l3_len(&s->f) + l4_hdr_len(&s->f);

	s->payload = xmalloc(s->plen);
	rnd_bytes(st, s->payload, s->plen);
	s->pkt = xmalloc(hdr + s->plen);
	s->len = ref_build(s->pkt, &s->f, s->f.seq, s->f.flags, s->f.id, s->payload, s->plen,
			   CSUM_PARTIAL);
	s->count = (unsigned)((s->plen + s->gso - 1) / s->gso);
	/* hdr_len is the kernel's skb_headlen(), which may run past the headers. */
	vnet_raw(s->vnet, LR_VNET_F_NEEDS_CSUM, gso_type_of(&s->f),
		 (unsigned)(hdr + (rnd(st) & 1 ? 0 : rnd_range(st, 0, s->plen))), (unsigned)s->gso,
		 (unsigned)l3_len(&s->f), s->f.proto == 6 ? 16 : 6);
}

static void super_random(struct super *s, uint64_t *st, int v, uint8_t proto)
{
	size_t hdr, max_payload;

	memset(s, 0, sizeof(*s));
	flow_random(&s->f, st, v, proto);
	if (proto == 6) {
		static const uint8_t extra[] = { 0, 0, TCP_PSH, TCP_FIN, TCP_CWR, TCP_ECE,
						 TCP_PSH | TCP_FIN, TCP_CWR | TCP_PSH | TCP_FIN };
		s->f.flags = TCP_ACK | extra[rnd(st) % sizeof(extra)];
	}
	hdr = l3_len(&s->f) + l4_hdr_len(&s->f);
	s->gso = rnd(st) % 4 ? rnd_range(st, 500, 1448) : rnd_range(st, 1, 64);
	/* At most 64 segments and a 64 KiB IP packet, so that the coalescer can rebuild it. */
	max_payload = 64 * s->gso < 65535 - hdr ? 64 * s->gso : 65535 - hdr;
	s->plen = rnd(st) % 8 ? rnd_range(st, 1, max_payload) : s->gso * rnd_range(st, 1, 3);
	if (s->plen > max_payload)
		s->plen = max_payload;
	super_build(s, st);
}

static void super_free(struct super *s)
{
	free(s->pkt);
	free(s->payload);
}

/* Expected segment i of s, built from the flow rather than from the super-packet. */
static size_t super_expect(const struct super *s, unsigned i, uint8_t *o)
{
	size_t off = i * s->gso, n = s->plen - off < s->gso ? s->plen - off : s->gso;

	return ref_build(o, &s->f, s->f.seq + (uint32_t)off, seg_flags(s->f.flags, i, s->count),
			 (uint16_t)(s->f.id + i), s->payload + off, n, CSUM_FULL);
}

/* A segmentation output buffer of exactly the size the layout needs, filled with canaries. */
struct outbuf {
	struct lr_offload_seg_out o;
	uint16_t seg_len[LR_OFFLOAD_END];
};

static void outbuf_make(struct outbuf *b, uint64_t *st, size_t count, size_t max_len,
			size_t last_len)
{
	b->o.headroom = rnd_range(st, 0, 48);
	b->o.stride = b->o.headroom + ((max_len + 15) & ~(size_t)15) + 16 + rnd_range(st, 0, 7);
	b->o.cap = (count - 1) * b->o.stride + b->o.headroom + last_len;
	b->o.max_segs = (unsigned)(count + rnd_range(st, 0, 2));
	b->o.base = xmalloc(b->o.cap);
	memset(b->o.base, CANARY, b->o.cap);
}

static uint8_t *outbuf_seg(const struct outbuf *b, unsigned i)
{
	return b->o.base + (size_t)i * b->o.stride + b->o.headroom;
}

/* Every byte outside the segments must still be a canary. */
static void outbuf_check_gaps(const struct outbuf *b, unsigned count)
{
	size_t at = 0;

	for (unsigned i = 0; i <= count; i++) {
		size_t end = i < count ? (size_t)(outbuf_seg(b, i) - b->o.base) : b->o.cap;

		for (; at < end; at++)
			if (b->o.base[at] != CANARY)
				fail_msg("byte %zu outside the segments written (seed %llu)", at,
					 (unsigned long long)seed);
		if (i < count)
			at += b->seg_len[i];
	}
}

static int segment_raw(const uint8_t *raw, const uint8_t *pkt, size_t len, struct outbuf *b)
{
	struct lr_vnet_hdr h;

	lr_offload_vnet_parse(&h, raw);
	return lr_offload_segment(&h, pkt, len, &b->o, b->seg_len);
}

/* Segments s into b and checks each segment against the reference and the canaries. */
static void super_segment_check(const struct super *s, struct outbuf *b, uint64_t *st)
{
	size_t hdr = l3_len(&s->f) + l4_hdr_len(&s->f);
	size_t last = s->plen - (s->count - 1) * s->gso;
	struct lr_offload_seg_info info;
	struct lr_vnet_hdr h;
	static uint8_t want[MAXPKT];
	int n;

	lr_offload_vnet_parse(&h, s->vnet);
	assert_int_equal(lr_offload_segment_info(&h, s->pkt, s->len, &info), 0);
	assert_int_equal(info.count, s->count);
	assert_int_equal(info.hdr_len, hdr);
	assert_int_equal(info.max_len, hdr + (s->count > 1 ? s->gso : last));
	outbuf_make(b, st, s->count, info.max_len, hdr + last);
	n = lr_offload_segment(&h, s->pkt, s->len, &b->o, b->seg_len);
	if (n != (int)s->count)
		fail_msg("segment returned %d, want %u (seed %llu)", n, s->count,
			 (unsigned long long)seed);
	for (unsigned i = 0; i < s->count; i++) {
		size_t wl = super_expect(s, i, want);

		if (b->seg_len[i] != wl || memcmp(outbuf_seg(b, i), want, wl))
			fail_msg("v%d proto %u segment %u/%u (gso %zu, payload %zu) differs from "
				 "the reference (seed %llu)", s->f.v, s->f.proto, i, s->count,
				 s->gso, s->plen, (unsigned long long)seed);
	}
	outbuf_check_gaps(b, s->count);
}

/* --- Tests --- */

/* The vnet header is little-endian on the wire and survives parse + write. */
static void test_offload_vnet_roundtrip(void **state)
{
	uint8_t raw[LR_VNET_HDR_LEN], back[LR_VNET_HDR_LEN];
	struct lr_vnet_hdr h;

	vnet_raw(raw, 0x01, 0x84, 0x1234, 0x0567, 0x0028, 0x0010);
	lr_offload_vnet_parse(&h, raw);
	assert_int_equal(h.flags, 1);
	assert_int_equal(h.gso_type, 0x84);
	assert_int_equal(h.hdr_len, 0x1234);
	assert_int_equal(h.gso_size, 0x0567);
	assert_int_equal(h.csum_start, 0x28);
	assert_int_equal(h.csum_offset, 0x10);
	lr_offload_vnet_write(back, &h);
	assert_memory_equal(raw, back, sizeof(raw));
	lr_offload_vnet_write_none(back);
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0);
}

/* The fast sum equals the slow one for any length, alignment and even-length chaining; the
 * pseudo-headers equal their byte-by-byte layout. */
static void test_offload_csum_vs_reference(void **state)
{
	uint64_t st = seed ^ 0x11;
	static uint8_t buf[4096 + 8];
	uint8_t a[16], b[16];

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = iter < 300 ? (size_t)iter : rnd_range(&st, 0, 4096);
		size_t align = rnd_range(&st, 0, 7), cut = rnd_range(&st, 0, len) & ~(size_t)1;
		uint8_t *p = buf + align;
		uint64_t sum;

		rnd_bytes(&st, p, len);
		if (iter % 7 == 0)
			memset(p, 0xff, len); /* carries everywhere */
		sum = lr_offload_csum_add(0, p, cut);
		sum = lr_offload_csum_add(sum, p + cut, len - cut);
		if (lr_offload_csum_fold(sum) != ref_sum(p, len))
			fail_msg("len %zu cut %zu: %04x vs %04x (seed %llu)", len, cut,
				 lr_offload_csum_fold(sum), ref_sum(p, len),
				 (unsigned long long)seed);
	}
	for (int iter = 0; iter < 2000; iter++) {
		uint32_t l4 = (uint32_t)rnd(&st);
		uint8_t proto = (uint8_t)rnd(&st);

		rnd_bytes(&st, a, 16);
		rnd_bytes(&st, b, 16);
		assert_int_equal(lr_offload_csum_fold(lr_offload_csum_pseudo4(a, b, proto,
									      (uint16_t)l4)),
				 ref_l4_sum(4, a, b, proto, NULL, (uint16_t)l4));
		assert_int_equal(lr_offload_csum_fold(lr_offload_csum_pseudo6(a, b, proto, l4)),
				 ref_l4_sum(6, a, b, proto, NULL, l4));
	}
}

static void segment_random(int v, uint8_t proto, int iters, uint64_t salt)
{
	uint64_t st = seed ^ salt;

	for (int iter = 0; iter < iters; iter++) {
		struct outbuf *b = xmalloc(sizeof(*b));
		struct super s;

		super_random(&s, &st, v, proto);
		super_segment_check(&s, b, &st);
		free(b->o.base);
		free(b);
		super_free(&s);
	}
}

/* IPv4 TSO: IDs, lengths, header checksum, seq, FIN/PSH/CWR rules and TCP checksums. */
static void test_offload_segment_tcp4_random(void **state)
{
	segment_random(4, 6, 400, 0x21);
}

/* IPv6 TSO: payload length, seq, flags and TCP checksums. */
static void test_offload_segment_tcp6_random(void **state)
{
	segment_random(6, 6, 400, 0x22);
}

/* USO over IPv4 and IPv6: one UDP header, length and checksum per datagram. */
static void test_offload_segment_udp_random(void **state)
{
	segment_random(4, 17, 200, 0x23);
	segment_random(6, 17, 200, 0x24);
}

/* A single packet with NEEDS_CSUM gets its checksum completed from the pseudo-header sum, for
 * TCP and UDP, and for a csum_start/offset that are not a transport header at all. */
static void test_offload_segment_needs_csum_single(void **state)
{
	uint64_t st = seed ^ 0x31;
	static uint8_t pkt[2000], want[2000];
	struct outbuf *b = xmalloc(sizeof(*b));

	for (int iter = 0; iter < 400; iter++) {
		int v = rnd(&st) & 1 ? 4 : 6;
		uint8_t proto = rnd(&st) & 1 ? 6 : 17;
		size_t plen = rnd_range(&st, 0, 1400), len, wl;
		uint8_t payload[1400], *heap, raw[LR_VNET_HDR_LEN];
		struct flow f;

		flow_random(&f, &st, v, proto);
		rnd_bytes(&st, payload, plen);
		len = ref_build(pkt, &f, f.seq, f.flags, f.id, payload, plen, CSUM_PARTIAL);
		wl = ref_build(want, &f, f.seq, f.flags, f.id, payload, plen, CSUM_FULL_NOZERO);
		heap = dup_exact(pkt, len);
		vnet_raw(raw, LR_VNET_F_NEEDS_CSUM, LR_VNET_GSO_NONE, 0, 0,
			 (unsigned)l3_len(&f), proto == 6 ? 16 : 6);
		outbuf_make(b, &st, 1, len, len);
		assert_int_equal(segment_raw(raw, heap, len, b), 1);
		assert_int_equal(b->seg_len[0], wl);
		assert_memory_equal(outbuf_seg(b, 0), want, wl);
		outbuf_check_gaps(b, 1);
		free(b->o.base);
		free(heap);
	}
	/* Arbitrary placement: a zeroed field at the very end of a 7-byte packet. */
	{
		uint8_t odd[7] = { 1, 2, 3, 4, 5, 0, 0 }, raw[LR_VNET_HDR_LEN], *heap;

		heap = dup_exact(odd, sizeof(odd));
		vnet_raw(raw, LR_VNET_F_NEEDS_CSUM, LR_VNET_GSO_NONE, 0, 0, 1, 4);
		outbuf_make(b, &st, 1, sizeof(odd), sizeof(odd));
		assert_int_equal(segment_raw(raw, heap, sizeof(odd), b), 1);
		odd[5] = (uint8_t)(~ref_sum(odd + 1, 6) >> 8);
		odd[6] = (uint8_t)~ref_sum(odd + 1, 6);
		assert_memory_equal(outbuf_seg(b, 0), odd, sizeof(odd));
		free(b->o.base);
		free(heap);
	}
	free(b);
}

/* A checksum that computes to 0 is written as 0xffff: for UDP 0 would mean "none" (RFC 768),
 * and NEEDS_CSUM completion does the same as the kernel's skb_checksum_help. The payload word
 * that forces it is the complement of the sum of everything else. */
static void test_offload_segment_zero_checksum(void **state)
{
	uint64_t st = seed ^ 0x35;
	struct outbuf *b = xmalloc(sizeof(*b));
	static uint8_t seg[2000];

	for (int iter = 0; iter < 40; iter++) {
		int v = iter & 1 ? 4 : 6;
		struct super s;
		size_t hdr, at;
		uint16_t w;

		memset(&s, 0, sizeof(s));
		flow_random(&s.f, &st, v, iter & 2 ? 17 : 6);
		s.gso = 600;
		s.plen = iter & 2 ? 1800 : 600; /* USO: 3 datagrams; TCP: one NEEDS_CSUM packet */
		super_build(&s, &st);
		hdr = l3_len(&s.f) + l4_hdr_len(&s.f);
		/* The word at the start of the second datagram (or of the TCP payload). */
		at = s.f.proto == 17 ? 600 : 0;
		s.payload[at] = s.payload[at + 1] = 0;
		ref_build(seg, &s.f, s.f.seq, s.f.flags, (uint16_t)(s.f.id + 1), s.payload + at,
			  s.f.proto == 17 ? 600 : s.plen, CSUM_FULL);
		w = (uint16_t)(seg[l3_len(&s.f) + (s.f.proto == 17 ? 6 : 16)] << 8 |
			       seg[l3_len(&s.f) + (s.f.proto == 17 ? 7 : 17)]);
		s.payload[at] = s.pkt[hdr + at] = (uint8_t)(w >> 8);
		s.payload[at + 1] = s.pkt[hdr + at + 1] = (uint8_t)w;
		if (s.f.proto == 17) {
			super_segment_check(&s, b, &st);
			assert_int_equal(outbuf_seg(b, 1)[l3_len(&s.f) + 6], 0xff);
			assert_int_equal(outbuf_seg(b, 1)[l3_len(&s.f) + 7], 0xff);
		} else {
			vnet_raw(s.vnet, LR_VNET_F_NEEDS_CSUM, LR_VNET_GSO_NONE, 0, 0,
				 (unsigned)l3_len(&s.f), 16);
			outbuf_make(b, &st, 1, s.len, s.len);
			assert_int_equal(segment_raw(s.vnet, s.pkt, s.len, b), 1);
			assert_int_equal(outbuf_seg(b, 0)[l3_len(&s.f) + 16], 0xff);
			assert_int_equal(outbuf_seg(b, 0)[l3_len(&s.f) + 17], 0xff);
		}
		free(b->o.base);
		super_free(&s);
	}
	free(b);
}

/* GSO_NONE without NEEDS_CSUM (with or without DATA_VALID) is copied unchanged. */
static void test_offload_segment_passthrough(void **state)
{
	uint64_t st = seed ^ 0x41;
	struct outbuf *b = xmalloc(sizeof(*b));
	uint8_t raw[LR_VNET_HDR_LEN];

	for (int iter = 0; iter < 100; iter++) {
		size_t len = iter ? rnd_range(&st, 1, 65535) : 65535;
		uint8_t *pkt = xmalloc(len);

		rnd_bytes(&st, pkt, len);
		vnet_raw(raw, iter & 1 ? LR_VNET_F_DATA_VALID : 0, LR_VNET_GSO_NONE,
			 (unsigned)rnd(&st), (unsigned)rnd(&st), (unsigned)rnd(&st),
			 (unsigned)rnd(&st));
		outbuf_make(b, &st, 1, len, len);
		assert_int_equal(segment_raw(raw, pkt, len, b), 1);
		assert_int_equal(b->seg_len[0], len);
		assert_memory_equal(outbuf_seg(b, 0), pkt, len);
		outbuf_check_gaps(b, 1);
		free(b->o.base);
		free(pkt);
	}
	free(b);
}

/* Runs one malformed case against a fresh copy of s and expects err from both entry points. */
static void expect_refused(const uint8_t *raw, const uint8_t *pkt, size_t len, int err,
			   const char *what)
{
	uint8_t *heap = dup_exact(pkt, len);
	struct lr_offload_seg_info info;
	struct outbuf *b = xmalloc(sizeof(*b));
	struct lr_vnet_hdr h;
	int got;

	b->o = (struct lr_offload_seg_out){ .base = xmalloc(1 << 17), .cap = 1 << 17,
					    .stride = 70000, .max_segs = 1 };
	lr_offload_vnet_parse(&h, raw);
	got = lr_offload_segment_info(&h, heap, len, &info);
	if (got != err)
		fail_msg("%s: info returned %d, want %d", what, got, err);
	got = lr_offload_segment(&h, heap, len, &b->o, b->seg_len);
	if (got != err)
		fail_msg("%s: segment returned %d, want %d", what, got, err);
	free(b->o.base);
	free(b);
	free(heap);
}

/* Header and packet combinations the kernel never sends are refused with the right errno. */
static void test_offload_segment_bad_input(void **state)
{
	uint64_t st = seed ^ 0x51;
	struct super s4, s6, u4;
	uint8_t raw[LR_VNET_HDR_LEN], *p = xmalloc(MAXPKT);

	memset(p, 0, MAXPKT);
	super_random(&s4, &st, 4, 6);
	super_random(&s6, &st, 6, 6);
	super_random(&u4, &st, 4, 17);

	vnet_raw(raw, 1, LR_VNET_GSO_TCPV4, 0, (unsigned)s4.gso, 24, 16);
	expect_refused(raw, s4.pkt, s4.len, -EINVAL, "tcp4 csum_start past the IP header");
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV4, 0, (unsigned)s4.gso, 20, 6);
	expect_refused(raw, s4.pkt, s4.len, -EINVAL, "tcp4 csum_offset of UDP");
	vnet_raw(raw, 1, LR_VNET_GSO_NONE, 0, 0, (unsigned)s4.len - 1, 0);
	expect_refused(raw, s4.pkt, s4.len, -EINVAL, "none csum field past the end");
	vnet_raw(raw, 1, LR_VNET_GSO_NONE, 0, 0, 0xffff, 0xffff);
	expect_refused(raw, s4.pkt, s4.len, -EINVAL, "none csum_start huge");
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV4, 0, 0, 20, 16);
	expect_refused(raw, s4.pkt, s4.len, -EINVAL, "zero gso_size");
	vnet_raw(raw, 1, LR_VNET_GSO_UDP_L4, 0, 0, 20, 6);
	expect_refused(raw, u4.pkt, u4.len, -EINVAL, "udp zero gso_size");
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV6, 0, (unsigned)s4.gso, 20, 16);
	expect_refused(raw, s4.pkt, s4.len, -EINVAL, "TCPV6 on an IPv4 packet");
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV4, 0, (unsigned)s6.gso, 40, 16);
	expect_refused(raw, s6.pkt, s6.len, -EINVAL, "TCPV4 on an IPv6 packet");
	vnet_raw(raw, 1, LR_VNET_GSO_UDP_L4, 0, (unsigned)s4.gso, 20, 6);
	expect_refused(raw, s4.pkt, s4.len, -EINVAL, "UDP_L4 on a TCP packet");
	vnet_raw(raw, 1, LR_VNET_GSO_UDP_L4 | LR_VNET_GSO_ECN, 0, (unsigned)u4.gso, 20, 6);
	expect_refused(raw, u4.pkt, u4.len, -EINVAL, "ECN on UDP");
	vnet_raw(raw, 0, LR_VNET_GSO_NONE | LR_VNET_GSO_ECN, 0, 0, 0, 0);
	expect_refused(raw, s4.pkt, s4.len, -EINVAL, "ECN without GSO");
	vnet_raw(raw, 1, LR_VNET_GSO_UDP, 0, (unsigned)u4.gso, 20, 6);
	expect_refused(raw, u4.pkt, u4.len, -EOPNOTSUPP, "UFO");
	vnet_raw(raw, 1, 2, 0, (unsigned)u4.gso, 20, 6);
	expect_refused(raw, u4.pkt, u4.len, -EOPNOTSUPP, "unknown gso type");
	vnet_raw(raw, 0, LR_VNET_GSO_NONE, 0, 0, 0, 0);
	expect_refused(raw, s4.pkt, 0, -EINVAL, "empty packet");
	expect_refused(raw, p, 65536, -EMSGSIZE, "plain packet over 64 KiB");

	/* Truncations: every length shorter than the headers. */
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV4, 0, (unsigned)s4.gso, 20, 16);
	for (size_t cut = 0; cut <= 40 + (size_t)s4.f.optlen; cut++)
		expect_refused(raw, s4.pkt, cut, -EINVAL, "truncated tcp4 headers");
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV6, 0, (unsigned)s6.gso, 40, 16);
	for (size_t cut = 0; cut <= 60 + (size_t)s6.f.optlen; cut++)
		expect_refused(raw, s6.pkt, cut, -EINVAL, "truncated tcp6 headers");
	vnet_raw(raw, 1, LR_VNET_GSO_UDP_L4, 0, (unsigned)u4.gso, 20, 6);
	for (size_t cut = 0; cut <= 28; cut++)
		expect_refused(raw, u4.pkt, cut, -EINVAL, "truncated udp4 headers");

	/* Header fields that point outside the packet or make no sense. */
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV4, 0, (unsigned)s4.gso, 20, 16);
	memcpy(p, s4.pkt, s4.len);
	p[0] = 0x4f; /* 60-byte IPv4 header, csum_start no longer matches */
	expect_refused(raw, p, s4.len, -EINVAL, "ihl 15 vs csum_start 20");
	expect_refused(raw, p, 50, -EINVAL, "ihl 15 past the end");
	p[0] = 0x44;
	expect_refused(raw, p, s4.len, -EINVAL, "ihl 4");
	p[0] = 0x45;
	p[32] = 0x40; /* data offset 4 */
	expect_refused(raw, p, s4.len, -EINVAL, "tcp data offset 4");
	p[32] = 0xf0; /* 60 bytes of TCP header in a 75-byte packet */
	expect_refused(raw, p, 75, -EINVAL, "tcp header past the end");
	memcpy(p, s4.pkt, s4.len);
	p[6] |= 0x20; /* MF */
	expect_refused(raw, p, s4.len, -EINVAL, "ipv4 fragment");
	memcpy(p, s4.pkt, s4.len);
	p[9] = 17;
	expect_refused(raw, p, s4.len, -EINVAL, "ipv4 protocol UDP under TCPV4");
	memcpy(p, s4.pkt, s4.len);
	p[0] = 0x55;
	expect_refused(raw, p, s4.len, -EINVAL, "ip version 5");
	memcpy(p, s6.pkt, s6.len);
	p[6] = 0; /* hop-by-hop extension header */
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV6, 0, (unsigned)s6.gso, 40, 16);
	expect_refused(raw, p, s6.len, -EOPNOTSUPP, "ipv6 extension header");
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV6, 0, 65535, 40, 16);
	expect_refused(raw, s6.pkt, s6.len, -EMSGSIZE, "segment larger than 64 KiB");
	/* Headers only, no payload: nothing to segment. */
	vnet_raw(raw, 1, LR_VNET_GSO_TCPV4, 0, (unsigned)s4.gso, 20, 16);
	expect_refused(raw, s4.pkt, 40 + s4.f.optlen, -EINVAL, "no payload");

	free(p);
	super_free(&s4);
	super_free(&s6);
	super_free(&u4);
}

/* Output layouts that cannot hold the segments are refused before anything is written. */
static void test_offload_segment_layout_errors(void **state)
{
	uint64_t st = seed ^ 0x61;
	struct outbuf *b = xmalloc(sizeof(*b));
	struct lr_offload_seg_info info;
	struct lr_vnet_hdr h;
	struct super s;
	size_t hdr, last;

	do {
		super_random(&s, &st, 4, 6);
		if (s.count < 3)
			super_free(&s);
	} while (s.count < 3);
	hdr = 40 + s.f.optlen;
	last = s.plen - (s.count - 1) * s.gso;
	lr_offload_vnet_parse(&h, s.vnet);
	assert_int_equal(lr_offload_segment_info(&h, s.pkt, s.len, &info), 0);

	outbuf_make(b, &st, s.count, info.max_len, hdr + last);
	b->o.max_segs = s.count - 1;
	assert_int_equal(lr_offload_segment(&h, s.pkt, s.len, &b->o, b->seg_len), -E2BIG);
	b->o.max_segs = s.count;
	b->o.cap--;
	assert_int_equal(lr_offload_segment(&h, s.pkt, s.len, &b->o, b->seg_len), -ENOBUFS);
	b->o.cap++;
	b->o.stride = b->o.headroom + info.max_len - 1;
	assert_int_equal(lr_offload_segment(&h, s.pkt, s.len, &b->o, b->seg_len), -EINVAL);
	b->o.stride = SIZE_MAX / 2;
	assert_int_equal(lr_offload_segment(&h, s.pkt, s.len, &b->o, b->seg_len), -ENOBUFS);
	b->o.headroom = SIZE_MAX - 10;
	assert_int_equal(lr_offload_segment(&h, s.pkt, s.len, &b->o, b->seg_len), -ENOBUFS);
	/* Nothing was written by any of the refusals. */
	b->o.headroom = 0;
	outbuf_check_gaps(b, 0);
	free(b->o.base);
	free(b);
	super_free(&s);
}

/* --- Coalescing --- */

struct batch {
	struct lr_offload_pkt pkts[512];
	struct lr_offload_group groups[512];
	uint16_t next[512];
	unsigned n;
	int ngroups;
};

static void batch_add(struct batch *bt, const uint8_t *p, size_t len)
{
	bt->pkts[bt->n].data = dup_exact(p, len);
	bt->pkts[bt->n].len = len;
	bt->n++;
}

static void batch_free(struct batch *bt)
{
	for (unsigned i = 0; i < bt->n; i++)
		free((void *)bt->pkts[i].data);
	bt->n = 0;
}

static void batch_classify(struct batch *bt)
{
	bt->ngroups = lr_offload_coalesce(bt->pkts, bt->n, bt->groups, bt->next);
	assert_true(bt->ngroups >= 1 || bt->n == 0);
}

/* The member indices of group g, in order. */
static unsigned group_members(const struct batch *bt, const struct lr_offload_group *g,
			      unsigned *m)
{
	unsigned k = 0;

	for (unsigned i = g->head; i != LR_OFFLOAD_END; i = bt->next[i])
		m[k++] = i;
	return k;
}

/* Checks the groups are exactly `want` (each a list of packet indices ending with -1, the
 * lists ending with an empty one). */
static void expect_groups(const struct batch *bt, const int want[][70], const char *what)
{
	int g = 0;

	for (; want[g][0] >= 0; g++) {
		unsigned m[512], k;
		int j = 0;

		if (g >= bt->ngroups)
			fail_msg("%s: %d groups, want more", what, bt->ngroups);
		k = group_members(bt, &bt->groups[g], m);
		for (; want[g][j] >= 0; j++)
			if ((unsigned)j >= k || m[j] != (unsigned)want[g][j])
				fail_msg("%s: group %d member %d is %d, want %d", what, g, j,
					 (unsigned)j < k ? (int)m[j] : -1, want[g][j]);
		if ((unsigned)j != k || bt->groups[g].count != k)
			fail_msg("%s: group %d has %u members, want %d", what, g, k, j);
	}
	if (g != bt->ngroups)
		fail_msg("%s: %d groups, want %d", what, bt->ngroups, g);
}

/* Builds group g into an exactly sized heap buffer; returns it (caller frees). */
static uint8_t *group_build(const struct batch *bt, const struct lr_offload_group *g,
			    size_t *out_len)
{
	size_t cap = LR_VNET_HDR_LEN + g->len;
	uint8_t *out = xmalloc(cap);

	assert_int_equal(lr_offload_coalesce_build(bt->pkts, bt->next, g, out, cap), (int)cap);
	*out_len = cap;
	return out;
}

/* Segments a built group again and checks the segments are its members, byte for byte. */
static void group_resegment_check(const struct batch *bt, const struct lr_offload_group *g,
				  uint64_t *st)
{
	struct outbuf *b = xmalloc(sizeof(*b));
	struct lr_offload_seg_info info;
	unsigned m[512], k = group_members(bt, g, m);
	struct lr_vnet_hdr h;
	size_t len;
	uint8_t *out = group_build(bt, g, &len);

	lr_offload_vnet_parse(&h, out);
	assert_int_equal(lr_offload_segment_info(&h, out + LR_VNET_HDR_LEN,
						 len - LR_VNET_HDR_LEN, &info), 0);
	assert_int_equal(info.count, k);
	outbuf_make(b, st, k, info.max_len, bt->pkts[m[k - 1]].len);
	assert_int_equal(lr_offload_segment(&h, out + LR_VNET_HDR_LEN, len - LR_VNET_HDR_LEN,
					    &b->o, b->seg_len), (int)k);
	for (unsigned i = 0; i < k; i++)
		if (b->seg_len[i] != bt->pkts[m[i]].len ||
		    memcmp(outbuf_seg(b, i), bt->pkts[m[i]].data, b->seg_len[i]))
			fail_msg("re-segmented member %u of %u differs (seed %llu)", i, k,
				 (unsigned long long)seed);
	free(b->o.base);
	free(b);
	free(out);
}

/* Segments then coalesces random super-packets: one group that rebuilds the original exactly
 * (vnet header with the true hdr_len, partial checksum as the kernel writes it) and that
 * segments again into the same packets. */
static void test_offload_coalesce_roundtrip(void **state)
{
	uint64_t st = seed ^ 0x71;
	struct batch *bt = xmalloc(sizeof(*bt));

	bt->n = 0;
	for (int iter = 0; iter < 600; iter++) {
		struct outbuf *b = xmalloc(sizeof(*b));
		uint8_t want_vnet[LR_VNET_HDR_LEN], *out;
		struct super s;
		size_t len;

		super_random(&s, &st, iter & 1 ? 6 : 4, 6);
		super_segment_check(&s, b, &st);
		for (unsigned i = 0; i < s.count; i++)
			batch_add(bt, outbuf_seg(b, i), b->seg_len[i]);
		batch_classify(bt);
		assert_int_equal(bt->ngroups, 1);
		assert_int_equal(bt->groups[0].count, s.count);
		out = group_build(bt, &bt->groups[0], &len);
		assert_int_equal(len, LR_VNET_HDR_LEN + s.len);
		if (s.count > 1)
			vnet_raw(want_vnet, LR_VNET_F_NEEDS_CSUM, gso_type_of(&s.f),
				 (unsigned)(l3_len(&s.f) + l4_hdr_len(&s.f)), (unsigned)s.gso,
				 (unsigned)l3_len(&s.f), 16);
		else
			memset(want_vnet, 0, sizeof(want_vnet));
		if (memcmp(out, want_vnet, LR_VNET_HDR_LEN))
			fail_msg("vnet header differs (seed %llu, iter %d)",
				 (unsigned long long)seed, iter);
		if (s.count > 1 && memcmp(out + LR_VNET_HDR_LEN, s.pkt, s.len))
			fail_msg("super-packet differs from the original (seed %llu, iter %d)",
				 (unsigned long long)seed, iter);
		if (s.count > 1)
			group_resegment_check(bt, &bt->groups[0], &st);
		free(out);
		batch_free(bt);
		free(b->o.base);
		free(b);
		super_free(&s);
	}
	free(bt);
}

/* Segments of flow f: seq advancing by plen, IDs by one, all ACK only. */
static void flow_segments(struct batch *bt, const struct flow *f, unsigned k, size_t plen,
			  uint64_t *st)
{
	static uint8_t payload[1500], pkt[1600];

	for (unsigned i = 0; i < k; i++) {
		rnd_bytes(st, payload, plen);
		batch_add(bt, pkt, ref_build(pkt, f, f->seq + (uint32_t)(i * plen), f->flags,
					     (uint16_t)(f->id + i), payload, plen, CSUM_FULL));
	}
}

/* A missing segment splits the run into two super-packets. */
static void test_offload_coalesce_gap(void **state)
{
	static const int want[][70] = { { 0, 1, 2, -1 }, { 3, 4, -1 }, { -1 } };
	uint64_t st = seed ^ 0x81;
	struct batch *bt = xmalloc(sizeof(*bt));
	struct flow f;

	bt->n = 0;
	flow_random(&f, &st, 4, 6);
	flow_segments(bt, &f, 6, 1000, &st);
	free((void *)bt->pkts[3].data);
	memmove(bt->pkts + 3, bt->pkts + 4, 2 * sizeof(bt->pkts[0]));
	bt->n = 5;
	/* The IDs are consecutive again after the gap, so only seq decides. */
	for (unsigned i = 3; i < 5; i++) {
		uint8_t *p = (uint8_t *)bt->pkts[i].data;

		wr16(p + 4, (uint16_t)(f.id + i));
		wr16(p + 10, 0);
		wr16(p + 10, (uint16_t)~ref_sum(p, 20));
	}
	batch_classify(bt);
	expect_groups(bt, want, "gap");
	for (int g = 0; g < bt->ngroups; g++)
		group_resegment_check(bt, &bt->groups[g], &st);
	batch_free(bt);
	free(bt);
}

/* Interleaved flows each get their own super-packet, in the order of their first packet. */
static void test_offload_coalesce_interleaved(void **state)
{
	uint64_t st = seed ^ 0x91;
	struct batch *bt = xmalloc(sizeof(*bt));
	struct flow f[8];
	unsigned left[8], seen[8] = { 0 };

	bt->n = 0;
	for (int iter = 0; iter < 50; iter++) {
		unsigned total = 0, order[8], norder = 0;

		for (unsigned j = 0; j < 8; j++) {
			flow_random(&f[j], &st, j & 1 ? 6 : 4, 6);
			if (j == 7) { /* same addresses as flow 6, other port: still its own flow */
				memcpy(f[7].src, f[6].src, 16);
				memcpy(f[7].dst, f[6].dst, 16);
				f[7].v = f[6].v;
				f[7].sport = (uint16_t)(f[6].sport + 1);
				f[7].dport = f[6].dport;
			}
			left[j] = (unsigned)rnd_range(&st, 1, 6);
			seen[j] = 0;
			total += left[j];
		}
		/* A random interleaving that keeps each flow's own order. */
		while (total) {
			unsigned j = (unsigned)(rnd(&st) % 8);
			static uint8_t payload[1000], pkt[1200];

			if (!left[j])
				continue;
			if (!seen[j])
				order[norder++] = j;
			rnd_bytes(&st, payload, 700);
			batch_add(bt, pkt, ref_build(pkt, &f[j], f[j].seq + seen[j] * 700,
						     f[j].flags, (uint16_t)(f[j].id + seen[j]),
						     payload, 700, CSUM_FULL));
			seen[j]++;
			left[j]--;
			total--;
		}
		batch_classify(bt);
		assert_int_equal(bt->ngroups, 8);
		for (unsigned g = 0; g < 8; g++) {
			unsigned m[64], k = group_members(bt, &bt->groups[g], m);

			assert_int_equal(k, seen[order[g]]);
			for (unsigned i = 1; i < k; i++)
				assert_true(m[i] > m[i - 1]);
			group_resegment_check(bt, &bt->groups[g], &st);
		}
		batch_free(bt);
	}
	free(bt);
}

/* Checks every packet is in exactly one group, groups are ordered by their first packet and
 * members by arrival, and every group re-segments into its members. */
static void check_partition(const struct batch *bt, uint64_t *st)
{
	unsigned char seen[512] = { 0 };
	unsigned m[512], last_head = 0;

	for (int g = 0; g < bt->ngroups; g++) {
		unsigned k = group_members(bt, &bt->groups[g], m);

		assert_int_equal(k, bt->groups[g].count);
		assert_int_equal(m[k - 1], bt->groups[g].tail);
		assert_true(g == 0 || bt->groups[g].head > last_head);
		last_head = bt->groups[g].head;
		for (unsigned i = 0; i < k; i++) {
			assert_true(i == 0 || m[i] > m[i - 1]);
			assert_int_equal(seen[m[i]]++, 0);
		}
		if (k > 1)
			group_resegment_check(bt, &bt->groups[g], st);
	}
	for (unsigned i = 0; i < bt->n; i++)
		assert_int_equal(seen[i], 1);
}

/* Round-robin over many flows: up to 16 flows are built at once; past that the oldest runs are
 * cut short, which costs only size, never correctness. */
static void test_offload_coalesce_many_flows(void **state)
{
	uint64_t st = seed ^ 0x95;
	struct batch *bt = xmalloc(sizeof(*bt));
	static uint8_t pkt[1200], payload[1000];
	struct flow f[40];

	bt->n = 0;
	for (unsigned nflows = 1; nflows <= 40; nflows++) {
		for (unsigned j = 0; j < nflows; j++)
			flow_random(&f[j], &st, j & 1 ? 6 : 4, 6);
		for (unsigned r = 0; r < 4; r++)
			for (unsigned j = 0; j < nflows; j++) {
				rnd_bytes(&st, payload, 500);
				batch_add(bt, pkt, ref_build(pkt, &f[j], f[j].seq + r * 500,
							     f[j].flags, (uint16_t)(f[j].id + r),
							     payload, 500, CSUM_FULL));
			}
		batch_classify(bt);
		if (nflows <= 16)
			assert_int_equal(bt->ngroups, nflows);
		check_partition(bt, &st);
		batch_free(bt);
	}
	free(bt);
}

/* A UDP packet between a flow's segments merges with nothing and does not break the flow; a
 * pure ACK of the same flow, or a packet that may be of it, does break it (the flow's order on
 * TUN is kept). */
static void test_offload_coalesce_other_packet_between(void **state)
{
	static const int want_udp[][70] = { { 0, 1, 3, 4, -1 }, { 2, -1 }, { -1 } };
	static const int want_ack[][70] = { { 0, 1, -1 }, { 2, -1 }, { 3, 4, -1 }, { -1 } };
	uint64_t st = seed ^ 0xa1;
	struct batch *bt = xmalloc(sizeof(*bt)), *tmp = xmalloc(sizeof(*tmp));
	static uint8_t pkt[1600], payload[1000];
	struct flow f, u;
	size_t len;

	bt->n = tmp->n = 0;
	flow_random(&f, &st, 4, 6);
	flow_random(&u, &st, 4, 17);
	memcpy(u.src, f.src, 16);
	memcpy(u.dst, f.dst, 16);
	u.sport = f.sport;
	u.dport = f.dport;
	flow_segments(tmp, &f, 4, 1000, &st);
	batch_add(bt, tmp->pkts[0].data, tmp->pkts[0].len);
	batch_add(bt, tmp->pkts[1].data, tmp->pkts[1].len);
	rnd_bytes(&st, payload, 1000);
	len = ref_build(pkt, &u, 0, 0, 7, payload, 1000, CSUM_FULL);
	batch_add(bt, pkt, len);
	batch_add(bt, tmp->pkts[2].data, tmp->pkts[2].len);
	batch_add(bt, tmp->pkts[3].data, tmp->pkts[3].len);
	batch_classify(bt);
	expect_groups(bt, want_udp, "udp between");
	{
		uint8_t vnet[LR_VNET_HDR_LEN] = { 0 };
		size_t n;
		uint8_t *out = group_build(bt, &bt->groups[1], &n);

		assert_memory_equal(out, vnet, sizeof(vnet));
		assert_int_equal(n, LR_VNET_HDR_LEN + len);
		assert_memory_equal(out + LR_VNET_HDR_LEN, pkt, len);
		free(out);
	}
	group_resegment_check(bt, &bt->groups[0], &st);
	batch_free(bt);

	/* Now a pure ACK of the flow itself in the middle (its ID continues the run). */
	f.id = (uint16_t)(f.id + 2);
	len = ref_build(pkt, &f, f.seq + 2000, TCP_ACK, f.id, payload, 0, CSUM_FULL);
	batch_add(bt, tmp->pkts[0].data, tmp->pkts[0].len);
	batch_add(bt, tmp->pkts[1].data, tmp->pkts[1].len);
	batch_add(bt, pkt, len);
	batch_add(bt, tmp->pkts[2].data, tmp->pkts[2].len);
	batch_add(bt, tmp->pkts[3].data, tmp->pkts[3].len);
	batch_classify(bt);
	expect_groups(bt, want_ack, "pure ack between");
	batch_free(bt);

	/* A later fragment between the same hosts may belong to the flow: it closes the run. */
	len = ref_build(pkt, &f, f.seq + 2000, TCP_ACK, f.id, payload, 600, CSUM_FULL);
	wr16(pkt + 6, 0x0100);
	batch_add(bt, tmp->pkts[0].data, tmp->pkts[0].len);
	batch_add(bt, tmp->pkts[1].data, tmp->pkts[1].len);
	batch_add(bt, pkt, len);
	batch_add(bt, tmp->pkts[2].data, tmp->pkts[2].len);
	batch_add(bt, tmp->pkts[3].data, tmp->pkts[3].len);
	batch_classify(bt);
	expect_groups(bt, want_ack, "fragment between");
	batch_free(bt);
	batch_free(tmp);

	/* Likewise an IPv6 packet whose TCP header may hide behind an extension header. */
	flow_random(&f, &st, 6, 6);
	flow_segments(tmp, &f, 4, 1000, &st);
	len = ref_build(pkt, &f, f.seq + 2000, TCP_ACK, 0, payload, 600, CSUM_FULL);
	pkt[6] = 60; /* destination options */
	batch_add(bt, tmp->pkts[0].data, tmp->pkts[0].len);
	batch_add(bt, tmp->pkts[1].data, tmp->pkts[1].len);
	batch_add(bt, pkt, len);
	batch_add(bt, tmp->pkts[2].data, tmp->pkts[2].len);
	batch_add(bt, tmp->pkts[3].data, tmp->pkts[3].len);
	batch_classify(bt);
	expect_groups(bt, want_ack, "extension header between");
	batch_free(bt);
	batch_free(tmp);
	free(tmp);
	free(bt);
}

/* Runs of more than 64 segments, or of more than 64 KiB, are cut at the limit. */
static void test_offload_coalesce_limits(void **state)
{
	uint64_t st = seed ^ 0xb1;
	struct batch *bt = xmalloc(sizeof(*bt));
	struct flow f;
	unsigned per;

	bt->n = 0;
	flow_random(&f, &st, 6, 6);
	f.optlen = 0;
	flow_segments(bt, &f, 150, 100, &st);
	batch_classify(bt);
	assert_int_equal(bt->ngroups, 3);
	assert_int_equal(bt->groups[0].count, 64);
	assert_int_equal(bt->groups[1].count, 64);
	assert_int_equal(bt->groups[2].count, 22);
	for (int g = 0; g < 3; g++)
		group_resegment_check(bt, &bt->groups[g], &st);
	batch_free(bt);

	flow_random(&f, &st, 4, 6);
	f.optlen = 12;
	flow_segments(bt, &f, 60, 1448, &st);
	batch_classify(bt);
	per = 1 + (65535 - (52 + 1448)) / 1448; /* the head's headers count once */
	assert_int_equal(bt->groups[0].count, per);
	assert_true(bt->groups[0].len <= 65535);
	assert_true(bt->groups[0].len + 1448 > 65535);
	assert_int_equal(bt->ngroups, (60 + per - 1) / per);
	for (int g = 0; g < bt->ngroups; g++)
		group_resegment_check(bt, &bt->groups[g], &st);
	batch_free(bt);
	free(bt);
}

typedef void (*mutate_fn)(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen);

static void mut_ttl(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->ttl ^= 1;
}

static void mut_tos(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->tos ^= 0x04;
}

static void mut_df(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->df ^= 1;
}

static void mut_label(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->label ^= 1;
}

static void mut_ack(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->ack++;
}

static void mut_win(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->win ^= 0x100;
}

static void mut_opts(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->opts[f->optlen - 1] ^= 1;
}

static void mut_optlen(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->optlen = (uint8_t)(f->optlen + 4);
}

static void mut_urg(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->urg = 1; /* without URG: meaningless, but segmentation would copy it everywhere */
}

static void mut_id(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	f->id = (uint16_t)(f->id + 5);
}

static void mut_seq(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*seq += 1;
}

static void mut_psh(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*flags |= TCP_PSH;
}

static void mut_fin(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*flags |= TCP_FIN;
}

static void mut_cwr(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*flags |= TCP_CWR;
}

static void mut_ece(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*flags |= TCP_ECE;
}

static void mut_syn(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*flags |= TCP_SYN;
}

static void mut_noack(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*flags = 0;
}

static void mut_short(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*plen -= 1;
}

static void mut_long(struct flow *f, uint32_t *seq, uint8_t *flags, size_t *plen)
{
	*plen += 1;
}

/* The same 4 segments with packet 2 changed one way each, and where the runs must break. */
static void test_offload_coalesce_header_mismatch(void **state)
{
	/* Packet 2 stands alone and packet 3 cannot follow it. */
	static const int alone[][70] = { { 0, 1, -1 }, { 2, -1 }, { 3, -1 }, { -1 } };
	/* Packet 2 ends the run (PSH/FIN, or a shorter payload). */
	static const int ends[][70] = { { 0, 1, 2, -1 }, { 3, -1 }, { -1 } };
	/* Packet 2 starts a new run that packet 3 continues. */
	static const int starts[][70] = { { 0, 1, -1 }, { 2, 3, -1 }, { -1 } };
	static const struct {
		mutate_fn fn;
		int v;
		const int (*want)[70];
		const char *name;
	} cases[] = {
		{ mut_ttl, 4, alone, "ttl" },      { mut_ttl, 6, alone, "hop limit" },
		{ mut_tos, 4, alone, "tos" },      { mut_tos, 6, alone, "traffic class" },
		{ mut_df, 4, alone, "df" },        { mut_label, 6, alone, "flow label" },
		{ mut_ack, 4, alone, "ack" },      { mut_win, 6, alone, "window" },
		{ mut_opts, 4, alone, "options" }, { mut_optlen, 6, alone, "options length" },
		{ mut_id, 4, alone, "ipv4 id" },   { mut_seq, 6, alone, "seq" },
		{ mut_urg, 6, alone, "urgent pointer" },
		{ mut_ece, 4, alone, "ece" },      { mut_syn, 4, alone, "syn" },
		{ mut_noack, 6, alone, "no ack" }, { mut_long, 4, alone, "longer payload" },
		{ mut_psh, 4, ends, "psh" },       { mut_fin, 6, ends, "fin" },
		{ mut_short, 6, ends, "shorter payload" },
		{ mut_cwr, 4, starts, "cwr" },
	};
	uint64_t st = seed ^ 0xc1;
	struct batch *bt = xmalloc(sizeof(*bt));
	static uint8_t pkt[1700], payload[1500];

	bt->n = 0;
	for (size_t c = 0; c < LR_ARRAY_SIZE(cases); c++) {
		struct flow f;
		size_t plen = 1000;

		flow_random(&f, &st, cases[c].v, 6);
		f.optlen = 12;
		for (unsigned i = 0; i < 4; i++) {
			struct flow g = f;
			uint32_t seq = f.seq + (uint32_t)(i * plen);
			uint8_t flags = f.flags;
			size_t n = plen;

			g.id = (uint16_t)(f.id + i);
			if (i == 2)
				cases[c].fn(&g, &seq, &flags, &n);
			rnd_bytes(&st, payload, n);
			batch_add(bt, pkt, ref_build(pkt, &g, seq, flags, g.id, payload, n,
						     CSUM_FULL));
		}
		batch_classify(bt);
		expect_groups(bt, cases[c].want, cases[c].name);
		for (int g = 0; g < bt->ngroups; g++)
			if (bt->groups[g].count > 1)
				group_resegment_check(bt, &bt->groups[g], &st);
		batch_free(bt);
	}
	free(bt);
}

/* Packets that are not plain data segments never merge, and close their flow's run: a bad
 * TCP or IPv4 header checksum, IP options, a fragment, a length that disagrees with the IP
 * header, an IPv6 extension header (which hides the ports: any open run between the same
 * addresses is closed). */
static void test_offload_coalesce_refuses_odd_packets(void **state)
{
	static const int alone[][70] = { { 0, 1, -1 }, { 2, -1 }, { 3, -1 }, { -1 } };
	uint64_t st = seed ^ 0xd1;
	struct batch *bt = xmalloc(sizeof(*bt));

	bt->n = 0;
	for (int c = 0; c < 8; c++) {
		struct flow f;
		uint8_t *p;

		flow_random(&f, &st, c == 6 ? 6 : 4, 6);
		flow_segments(bt, &f, 4, 800, &st);
		p = (uint8_t *)bt->pkts[2].data;
		switch (c) {
		case 0: /* payload corrupted after the checksum was computed */
			p[bt->pkts[2].len - 1] ^= 0x10;
			break;
		case 1: /* IPv4 header checksum wrong */
			p[10] ^= 1;
			break;
		case 2: /* IHL 6: four bytes of NOP options, everything else valid */
			p = realloc(p, bt->pkts[2].len + 4);
			assert_non_null(p);
			memmove(p + 24, p + 20, bt->pkts[2].len - 20);
			memset(p + 20, 1, 4);
			bt->pkts[2].data = p;
			bt->pkts[2].len += 4;
			p[0] = 0x46;
			wr16(p + 2, (unsigned)bt->pkts[2].len);
			wr16(p + 10, 0);
			wr16(p + 10, (uint16_t)~ref_sum(p, 24));
			break;
		case 3: /* MF */
			p[6] |= 0x20;
			wr16(p + 10, 0);
			wr16(p + 10, (uint16_t)~ref_sum(p, 20));
			break;
		case 4: /* total length says shorter than the buffer */
			bt->pkts[2].len++;
			p = realloc(p, bt->pkts[2].len);
			assert_non_null(p);
			bt->pkts[2].data = p;
			p[bt->pkts[2].len - 1] = 0;
			break;
		case 5: /* buffer shorter than the total length */
			bt->pkts[2].len--;
			break;
		case 6: /* IPv6 hop-by-hop header in front of the TCP header */
			p[6] = 0;
			break;
		case 7: /* a later IPv4 fragment: no ports to read */
			p[7] = 0x40;
			wr16(p + 10, 0);
			wr16(p + 10, (uint16_t)~ref_sum(p, 20));
			break;
		}
		batch_classify(bt);
		expect_groups(bt, alone, "odd packet");
		batch_free(bt);
	}
	free(bt);
}

/* The builder checks its buffer and that the group matches the packets. */
static void test_offload_coalesce_build_errors(void **state)
{
	uint64_t st = seed ^ 0xe1;
	struct batch *bt = xmalloc(sizeof(*bt));
	struct lr_offload_group g;
	static uint8_t out[70000];
	struct flow f;

	bt->n = 0;
	flow_random(&f, &st, 4, 6);
	flow_segments(bt, &f, 5, 900, &st);
	batch_classify(bt);
	assert_int_equal(bt->ngroups, 1);
	g = bt->groups[0];
	assert_int_equal(lr_offload_coalesce_build(bt->pkts, bt->next, &g, out,
						   LR_VNET_HDR_LEN + g.len - 1), -ENOBUFS);
	assert_int_equal(lr_offload_coalesce_build(bt->pkts, bt->next, &g, out, 3), -ENOBUFS);
	g.len--;
	assert_int_equal(lr_offload_coalesce_build(bt->pkts, bt->next, &g, out, sizeof(out)),
			 -EINVAL);
	g = bt->groups[0];
	g.count++;
	assert_int_equal(lr_offload_coalesce_build(bt->pkts, bt->next, &g, out, sizeof(out)),
			 -EINVAL);
	g.count -= 2;
	assert_int_equal(lr_offload_coalesce_build(bt->pkts, bt->next, &g, out, sizeof(out)),
			 -EINVAL);
	/* A singleton is copied behind a zero header; the cap still holds. */
	g = (struct lr_offload_group){ .head = 1, .tail = 1, .count = 1,
				       .len = (uint32_t)bt->pkts[1].len };
	assert_int_equal(lr_offload_coalesce_build(bt->pkts, bt->next, &g, out,
						   LR_VNET_HDR_LEN + bt->pkts[1].len - 1),
			 -ENOBUFS);
	assert_int_equal(lr_offload_coalesce_build(bt->pkts, bt->next, &g, out, sizeof(out)),
			 (int)(LR_VNET_HDR_LEN + bt->pkts[1].len));
	assert_memory_equal(out + LR_VNET_HDR_LEN, bt->pkts[1].data, bt->pkts[1].len);
	assert_int_equal(lr_offload_coalesce(bt->pkts, LR_OFFLOAD_END + 1, bt->groups, bt->next),
			 -EINVAL);
	assert_int_equal(lr_offload_coalesce(bt->pkts, 0, bt->groups, bt->next), 0);
	batch_free(bt);
	free(bt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offload_vnet_roundtrip),
		cmocka_unit_test(test_offload_csum_vs_reference),
		cmocka_unit_test(test_offload_segment_tcp4_random),
		cmocka_unit_test(test_offload_segment_tcp6_random),
		cmocka_unit_test(test_offload_segment_udp_random),
		cmocka_unit_test(test_offload_segment_needs_csum_single),
		cmocka_unit_test(test_offload_segment_zero_checksum),
		cmocka_unit_test(test_offload_segment_passthrough),
		cmocka_unit_test(test_offload_segment_bad_input),
		cmocka_unit_test(test_offload_segment_layout_errors),
		cmocka_unit_test(test_offload_coalesce_roundtrip),
		cmocka_unit_test(test_offload_coalesce_gap),
		cmocka_unit_test(test_offload_coalesce_interleaved),
		cmocka_unit_test(test_offload_coalesce_many_flows),
		cmocka_unit_test(test_offload_coalesce_other_packet_between),
		cmocka_unit_test(test_offload_coalesce_limits),
		cmocka_unit_test(test_offload_coalesce_header_mismatch),
		cmocka_unit_test(test_offload_coalesce_refuses_odd_packets),
		cmocka_unit_test(test_offload_coalesce_build_errors),
	};
	const char *env = getenv("LR_TEST_SEED");

	seed = env ? strtoull(env, NULL, 0) : 0x6f66666cULL;
	printf("offload: seed %llu (set LR_TEST_SEED to change)\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
