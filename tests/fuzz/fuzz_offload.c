/* libFuzzer harness for tun/offload.h: segmentation of whatever TUN might hand over and
 * coalescing of whatever a peer might send must stay inside their buffers, and what they
 * produce must check out: segment checksums verify, and a coalesced group segments back into
 * exactly its members.
 *
 * Input: byte 0 picks the output layout and whether to repair checksums; bytes 1..10 are a
 * vnet header, the rest the packet. The same rest, cut into packets by 2-byte big-endian
 * length prefixes, plus the segments of the first part, feed the coalescer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tun/offload.h"

#define MAX_BATCH 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* RFC 1071 one word at a time: independent of the code under test. */
static uint16_t slow_sum(uint32_t start, const uint8_t *p, size_t len)
{
	uint64_t s = start;

	for (size_t i = 0; i < len; i += 2)
		s += (uint32_t)(p[i] << 8) | (i + 1 < len ? p[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The pseudo-header sum of an IPv4/IPv6 packet (the layout the segmenter accepted). */
static uint16_t slow_pseudo(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	int v4 = ip[0] >> 4 == 4;
	uint32_t s = slow_sum(0, ip + (v4 ? 12 : 8), v4 ? 8 : 32);

	return slow_sum(s + proto + (uint32_t)(l4_len >> 16) + (uint32_t)(l4_len & 0xffff), NULL,
			0);
}

/* Every segment of a TCP/UDP GSO packet carries verifying checksums and its own lengths. */
static void check_segment(const uint8_t *seg, size_t len, size_t l3, uint8_t proto)
{
	if (seg[0] >> 4 == 4) {
		check(slow_sum(0, seg, l3) == 0xffff);
		check((size_t)(seg[2] << 8 | seg[3]) == len);
	} else {
		check((size_t)(seg[4] << 8 | seg[5]) + 40 == len);
	}
	if (proto == 17)
		check((size_t)(seg[l3 + 4] << 8 | seg[l3 + 5]) == len - l3);
	check(slow_sum(slow_pseudo(seg, proto, len - l3), seg + l3, len - l3) == 0xffff);
}

struct seg_result {
	uint8_t *buf;
	size_t n;
	const uint8_t *seg[MAX_BATCH];
	uint16_t len[LR_OFFLOAD_END + 1];
};

static void fuzz_segment(uint8_t mode, const uint8_t *raw, const uint8_t *pkt, size_t len,
			 struct seg_result *r)
{
	struct lr_offload_seg_info info;
	struct lr_offload_seg_out out;
	struct lr_vnet_hdr h;
	size_t total = 0;
	int n;

	lr_offload_vnet_parse(&h, raw);
	if (lr_offload_segment_info(&h, pkt, len, &info))
		return;
	check(info.count >= 1 && info.max_len <= 0xffff && info.max_len <= len);
	if (info.count > MAX_BATCH)
		return;
	out.headroom = mode & 0x1f;
	out.stride = out.headroom + info.max_len + (mode >> 5);
	/* Exactly room for count full-size segments, or (mode bit 7) one byte less. */
	out.cap = (info.count - 1) * out.stride + out.headroom + info.max_len - (mode >> 7);
	out.max_segs = info.count;
	out.base = malloc(out.cap ? out.cap : 1);
	if (!out.base)
		abort();
	n = lr_offload_segment(&h, pkt, len, &out, r->len);
	if (n < 0) {
		free(out.base);
		return;
	}
	check((unsigned)n == info.count);
	for (int i = 0; i < n; i++) {
		const uint8_t *seg = out.base + (size_t)i * out.stride + out.headroom;

		check(r->len[i] <= info.max_len && r->len[i] >= info.hdr_len);
		if (info.hdr_len) {
			int v4 = seg[0] >> 4 == 4;

			/* Addresses come from the super-packet unchanged. */
			check(!memcmp(seg + (v4 ? 12 : 8), pkt + (v4 ? 12 : 8), v4 ? 8 : 32));
			check_segment(seg, r->len[i], v4 ? (size_t)(seg[0] & 0xf) * 4 : 40,
				      (h.gso_type & 0x7f) == LR_VNET_GSO_UDP_L4 ? 17 : 6);
			total += r->len[i] - info.hdr_len;
		}
		r->seg[i] = seg;
	}
	check(!info.hdr_len || total == len - info.hdr_len);
	r->buf = out.base;
	r->n = (size_t)n;
}

/* Writes valid checksums into what looks like a TCP/IPv4 or TCP/IPv6 packet, so that the
 * coalescer's deeper paths are reachable from random bytes. */
static void repair(uint8_t *p, size_t len)
{
	size_t l3, l4;
	uint16_t c;

	if (len >= 20 && p[0] >> 4 == 4 && (p[0] & 0xf) >= 5 && (size_t)(p[0] & 0xf) * 4 <= len) {
		l3 = (size_t)(p[0] & 0xf) * 4;
		p[10] = p[11] = 0;
		c = (uint16_t)~slow_sum(0, p, l3);
		p[10] = (uint8_t)(c >> 8);
		p[11] = (uint8_t)c;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		l3 = 40;
	} else {
		return;
	}
	l4 = len - l3;
	if (l4 >= 8 && (p[0] >> 4 == 4 ? p[9] : p[6]) == 17) {
		/* UDP: an exact length field and a checksum make a datagram mergeable. */
		p[l3 + 4] = (uint8_t)(l4 >> 8);
		p[l3 + 5] = (uint8_t)l4;
		p[l3 + 6] = p[l3 + 7] = 0;
		c = (uint16_t)~slow_sum(slow_pseudo(p, 17, l4), p + l3, l4);
		c = c ? c : 0xffff;
		p[l3 + 6] = (uint8_t)(c >> 8);
		p[l3 + 7] = (uint8_t)c;
		return;
	}
	if (l4 < 20 || (p[0] >> 4 == 4 ? p[9] : p[6]) != 6)
		return;
	p[l3 + 16] = p[l3 + 17] = 0;
	c = (uint16_t)~slow_sum(slow_pseudo(p, 6, l4), p + l3, l4);
	p[l3 + 16] = (uint8_t)(c >> 8);
	p[l3 + 17] = (uint8_t)c;
}

/* Equal, except that a checksum field may hold 0 where the other holds 0xffff (the same
 * value in ones' complement). */
static int same_packet(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t l3 = a[0] >> 4 == 4 ? (size_t)(a[0] & 0xf) * 4 : 40;
	size_t fields[2] = { a[0] >> 4 == 4 ? 10 : len, l3 + 16 };

	for (size_t i = 0; i < len; i++) {
		int in_field = 0;

		for (int k = 0; k < 2; k++)
			if (i == fields[k] || i == fields[k] + 1)
				in_field = 1 + k;
		if (a[i] == b[i])
			continue;
		if (!in_field)
			return 0;
		i = fields[in_field - 1];
		if ((a[i] | a[i + 1] << 8) + (b[i] | b[i + 1] << 8) != 0xffff ||
		    ((a[i] != 0 || a[i + 1] != 0) && (b[i] != 0 || b[i + 1] != 0)))
			return 0;
		i++;
	}
	return 1;
}

/* Builds group g, segments it again and compares with its members. */
static void check_group(const struct lr_offload_pkt *pkts, const uint16_t *next,
			const struct lr_offload_group *g)
{
	struct lr_offload_seg_info info;
	struct lr_offload_seg_out out;
	static uint16_t seg_len[LR_OFFLOAD_MAX_SEGS];
	size_t cap = LR_VNET_HDR_LEN + g->len;
	uint8_t *buf = malloc(cap);
	struct lr_vnet_hdr h;
	unsigned m = g->head;
	int n;

	if (!buf)
		abort();
	check(lr_offload_coalesce_build(pkts, next, g, buf, cap) == (int)cap);
	if (g->count == 1) {
		check(!memcmp(buf + LR_VNET_HDR_LEN, pkts[g->head].data, pkts[g->head].len));
		free(buf);
		return;
	}
	lr_offload_vnet_parse(&h, buf);
	check(!lr_offload_segment_info(&h, buf + LR_VNET_HDR_LEN, g->len, &info));
	check(info.count == g->count);
	out = (struct lr_offload_seg_out){ .headroom = 0, .stride = info.max_len,
					   .max_segs = LR_OFFLOAD_MAX_SEGS };
	out.cap = info.count * info.max_len;
	out.base = malloc(out.cap);
	if (!out.base)
		abort();
	n = lr_offload_segment(&h, buf + LR_VNET_HDR_LEN, g->len, &out, seg_len);
	check(n == g->count);
	for (int i = 0; i < n; i++, m = next[m]) {
		check(m != LR_OFFLOAD_END && seg_len[i] == pkts[m].len);
		check(same_packet(out.base + (size_t)i * out.stride, pkts[m].data, seg_len[i]));
	}
	check(m == LR_OFFLOAD_END);
	free(out.base);
	free(buf);
}

static void fuzz_coalesce(struct lr_offload_pkt *pkts, unsigned n, unsigned flags)
{
	static struct lr_offload_group groups[MAX_BATCH];
	static uint16_t next[MAX_BATCH];
	unsigned char seen[MAX_BATCH] = { 0 };
	int ng = lr_offload_coalesce_flags(pkts, n, groups, next, flags);

	check(ng >= 0 && (unsigned)ng <= n && (ng > 0 || n == 0));
	for (int g = 0; g < ng; g++) {
		unsigned k = 0;

		check(groups[g].count >= 1 && groups[g].count <= LR_OFFLOAD_MAX_SEGS);
		check(groups[g].len <= LR_OFFLOAD_MAX_LEN || groups[g].count == 1);
		check(g == 0 || groups[g].head > groups[g - 1].head);
		for (unsigned m = groups[g].head; m != LR_OFFLOAD_END; m = next[m], k++)
			check(m < n && !seen[m]++);
		check(k == groups[g].count);
		check_group(pkts, next, &groups[g]);
	}
	for (unsigned i = 0; i < n; i++)
		check(seen[i] == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seg_result r;
	struct lr_offload_pkt pkts[MAX_BATCH];
	size_t len, at;
	uint8_t *pkt;
	unsigned n = 0;

	if (size < 1 + LR_VNET_HDR_LEN)
		return 0;
	/* Heap copies of exactly the input's size: one byte too far is a heap-buffer-overflow. */
	len = size - 1 - LR_VNET_HDR_LEN;
	pkt = malloc(len ? len : 1);
	if (!pkt)
		abort();
	memcpy(pkt, data + 1 + LR_VNET_HDR_LEN, len);
	r.buf = NULL;
	r.n = 0;
	fuzz_segment(data[0], data + 1, pkt, len, &r);

	for (size_t i = 0; i < r.n && n < MAX_BATCH; i++) {
		uint8_t *q = malloc(r.len[i]);

		if (!q)
			abort();
		memcpy(q, r.seg[i], r.len[i]);
		pkts[n++] = (struct lr_offload_pkt){ .data = q, .len = r.len[i] };
	}
	for (at = 0; at + 2 <= len && n < MAX_BATCH;) {
		size_t plen = (size_t)(pkt[at] << 8 | pkt[at + 1]);
		uint8_t *q;

		at += 2;
		if (plen > len - at)
			plen = len - at;
		q = malloc(plen ? plen : 1);
		if (!q)
			abort();
		memcpy(q, pkt + at, plen);
		if (data[0] & 1)
			repair(q, plen);
		pkts[n++] = (struct lr_offload_pkt){ .data = q, .len = plen };
		at += plen;
	}
	fuzz_coalesce(pkts, n, (data[0] & 2) ? LR_OFFLOAD_COALESCE_UDP : 0);

	for (unsigned i = 0; i < n; i++)
		free((void *)pkts[i].data);
	free(r.buf);
	free(pkt);
	return 0;
}
