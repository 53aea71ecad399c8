/* The fast path end to end without the kernel: packets go through one worker's send path
 * (segmentation, trains, batch encryption) and another's receive path (GRO split, batch
 * decryption, replay window, allowed IPs, coalescing), and must come out as they went in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/timing.h"
#include "dataplane/loopback.h"

#define MAX_OUT 256

struct capture {
	unsigned n;
	size_t len[MAX_OUT];
	uint8_t *data[MAX_OUT];
};

static void on_write(void *ctx, int side, const uint8_t *data, size_t len)
{
	struct capture *c = ctx;

	if (c->n == MAX_OUT)
		return;
	c->data[c->n] = malloc(len);
	memcpy(c->data[c->n], data, len);
	c->len[c->n++] = len;
}

static void capture_free(struct capture *c)
{
	for (unsigned i = 0; i < c->n; i++)
		free(c->data[i]);
	c->n = 0;
}

/* An IPv4 UDP packet from src_last (10.0.0.x) to 10.0.0.2 with payload bytes, checksums set. */
static size_t make_udp4(uint8_t *p, uint8_t src_last, size_t payload)
{
	size_t len = 28 + payload;
	uint64_t sum;

	memset(p, 0, 28);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 17;
	p[12] = 10, p[15] = src_last;
	p[16] = 10, p[19] = 2;
	sum = lr_offload_csum_add(0, p, 20);
	p[10] = (uint8_t)(~lr_offload_csum_fold(sum) >> 8);
	p[11] = (uint8_t)~lr_offload_csum_fold(sum);
	p[20] = 0x30, p[21] = 0x39, p[22] = 0x11, p[23] = 0x5c;
	p[24] = (uint8_t)((len - 20) >> 8);
	p[25] = (uint8_t)(len - 20);
	randombytes_buf(p + 28, payload);
	return len;
}

/* make_udp4 with a UDP checksum and IPv4 ID id, as a connected socket sends them. */
static size_t make_udp4_csum(uint8_t *p, uint16_t id, size_t payload)
{
	size_t len = make_udp4(p, 1, payload);
	uint64_t sum;
	uint16_t c;

	p[4] = (uint8_t)(id >> 8), p[5] = (uint8_t)id;
	p[10] = p[11] = 0;
	sum = lr_offload_csum_add(0, p, 20);
	p[10] = (uint8_t)(~lr_offload_csum_fold(sum) >> 8);
	p[11] = (uint8_t)~lr_offload_csum_fold(sum);
	sum = lr_offload_csum_pseudo4(p + 12, p + 16, 17, (uint16_t)(len - 20));
	c = (uint16_t)~lr_offload_csum_fold(lr_offload_csum_add(sum, p + 20, len - 20));
	p[26] = (uint8_t)((c ? c : 0xffff) >> 8), p[27] = (uint8_t)(c ? c : 0xffff);
	return len;
}

static void run(struct lr_loopback *lb, struct capture *c, const uint8_t *const *reads,
		const size_t *lens, unsigned n)
{
	lb->on_tun_write = on_write;
	lb->ctx = c;
	assert_int_equal(lr_loopback_send(lb, 0, reads, lens, n), n);
}

/* Plain packets of every size class arrive byte for byte, in order, without offloads. */
static void test_plain_packets_roundtrip(void **state)
{
	static uint8_t bufs[100][1500];
	const uint8_t *reads[100];
	size_t lens[100];
	struct lr_loopback lb;
	struct capture c = { 0 };

	assert_int_equal(lr_loopback_create(&lb, false), 0);
	for (unsigned i = 0; i < 100; i++) {
		lens[i] = make_udp4(bufs[i], 1, i < 50 ? 36 : randombytes_uniform(1300));
		reads[i] = bufs[i];
	}
	run(&lb, &c, reads, lens, 100);
	assert_int_equal(c.n, 100);
	for (unsigned i = 0; i < 100; i++) {
		assert_int_equal(c.len[i], lens[i]);
		assert_memory_equal(c.data[i], bufs[i], lens[i]);
	}
	/* Equal sizes went out as GSO trains and came back through the GRO split. */
	assert_int_equal(lb.side[1].datagrams_in, 100);
	assert_true(lb.side[1].trains_in > 0 && lb.side[1].trains_in < 100);
	capture_free(&c);
	lr_loopback_destroy(&lb);
}

/* With virtio-net headers, plain packets come out behind an all-zero header. */
static void test_vnet_plain_packets(void **state)
{
	static uint8_t bufs[20][1600];
	const uint8_t *reads[20];
	size_t lens[20];
	struct lr_loopback lb;
	struct capture c = { 0 };
	uint8_t zero[LR_VNET_HDR_LEN] = { 0 };

	assert_int_equal(lr_loopback_create(&lb, true), 0);
	for (unsigned i = 0; i < 20; i++) {
		memset(bufs[i], 0, LR_VNET_HDR_LEN);
		lens[i] = LR_VNET_HDR_LEN + make_udp4(bufs[i] + LR_VNET_HDR_LEN, 1, 100 + i * 50);
		reads[i] = bufs[i];
	}
	run(&lb, &c, reads, lens, 20);
	assert_int_equal(c.n, 20);
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(c.len[i], lens[i]);
		assert_memory_equal(c.data[i], zero, LR_VNET_HDR_LEN);
		assert_memory_equal(c.data[i], bufs[i], lens[i]);
	}
	capture_free(&c);
	lr_loopback_destroy(&lb);
}

/* A TCP super-packet from TUN is cut into segments, encrypted, decrypted and merged back into
 * one super-packet carrying the same payload. */
static void test_tso_roundtrip(void **state)
{
	static uint8_t in[LR_VNET_HDR_LEN + 40 + 60000];
	const size_t payload = 60000, mss = 1368;
	const uint8_t *reads[1] = { in };
	size_t lens[1] = { sizeof(in) };
	struct lr_vnet_hdr h = { .flags = LR_VNET_F_NEEDS_CSUM, .gso_type = LR_VNET_GSO_TCPV4,
				 .hdr_len = 40, .gso_size = (uint16_t)mss, .csum_start = 20,
				 .csum_offset = 16 };
	struct lr_loopback lb;
	struct capture c = { 0 };
	struct lr_vnet_hdr out_h;
	uint8_t *ip = in + LR_VNET_HDR_LEN;
	uint16_t partial;
	size_t got = 0;

	lr_offload_vnet_write(in, &h);
	memset(ip, 0, 40);
	ip[0] = 0x45, ip[2] = (uint8_t)((40 + payload) >> 8), ip[3] = (uint8_t)(40 + payload);
	ip[6] = 0x40, ip[8] = 64, ip[9] = 6;
	ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
	ip[20] = 0x30, ip[22] = 0x14, ip[23] = 0x51; /* ports */
	ip[24] = 1, ip[32] = 0x50, ip[33] = 0x18, ip[34] = 0xff; /* seq, doff 5, ACK|PSH, window */
	randombytes_buf(ip + 40, payload);
	partial = lr_offload_csum_fold(lr_offload_csum_pseudo4(ip + 12, ip + 16, 6,
								 (uint16_t)(20 + payload)));
	ip[36] = (uint8_t)(partial >> 8), ip[37] = (uint8_t)partial;

	assert_int_equal(lr_loopback_create(&lb, true), 0);
	run(&lb, &c, reads, lens, 1);
	assert_true(lb.side[1].datagrams_in >= payload / mss);
	assert_true(c.n >= 1);
	for (unsigned i = 0; i < c.n; i++) {
		size_t hl = 40;

		lr_offload_vnet_parse(&out_h, c.data[i]);
		if (c.n == 1) {
			assert_int_equal(out_h.gso_type, LR_VNET_GSO_TCPV4);
			assert_int_equal(out_h.gso_size, mss);
		}
		assert_memory_equal(c.data[i] + LR_VNET_HDR_LEN + hl, ip + 40 + got,
				    c.len[i] - LR_VNET_HDR_LEN - hl);
		got += c.len[i] - LR_VNET_HDR_LEN - hl;
	}
	assert_int_equal(got, payload);
	capture_free(&c);
	lr_loopback_destroy(&lb);
}

/* A burst of equal datagrams of one UDP flow leaves as USO super-packets (one TUN write for
 * many), which cut back into exactly the datagrams that went in. */
static void test_udp_flood_coalesced(void **state)
{
	static uint8_t bufs[64][LR_VNET_HDR_LEN + 100];
	static uint8_t seg[64 * 128];
	const uint8_t *reads[64];
	size_t lens[64];
	struct lr_loopback lb;
	struct capture c = { 0 };
	unsigned got = 0;

	assert_int_equal(lr_loopback_create(&lb, true), 0);
	for (unsigned i = 0; i < 64; i++) {
		memset(bufs[i], 0, LR_VNET_HDR_LEN);
		lens[i] = LR_VNET_HDR_LEN + make_udp4_csum(bufs[i] + LR_VNET_HDR_LEN,
							   (uint16_t)(7000 + i), 36);
		reads[i] = bufs[i];
	}
	run(&lb, &c, reads, lens, 64);
	assert_true(c.n < 64); /* merged: fewer writes than datagrams */
	for (unsigned k = 0; k < c.n; k++) {
		struct lr_vnet_hdr h;
		struct lr_offload_seg_out out = { .base = seg, .cap = sizeof(seg), .headroom = 0,
						  .stride = 128, .max_segs = 64 };
		uint16_t seg_len[64];
		int n;

		lr_offload_vnet_parse(&h, c.data[k]);
		n = lr_offload_segment(&h, c.data[k] + LR_VNET_HDR_LEN, c.len[k] - LR_VNET_HDR_LEN,
				       &out, seg_len);
		assert_true(n >= 1);
		for (int i = 0; i < n; i++, got++) {
			assert_int_equal(seg_len[i], lens[got] - LR_VNET_HDR_LEN);
			assert_memory_equal(seg + (size_t)i * 128, bufs[got] + LR_VNET_HDR_LEN,
					    seg_len[i]);
		}
	}
	assert_int_equal(got, 64);
	capture_free(&c);
	lr_loopback_destroy(&lb);
}

/* A decrypted packet whose source the peer may not use is dropped and counted. */
static void test_inner_source_checked(void **state)
{
	static uint8_t buf[200];
	const uint8_t *reads[1] = { buf };
	size_t lens[1];
	struct lr_loopback lb;
	struct capture c = { 0 };

	assert_int_equal(lr_loopback_create(&lb, false), 0);
	lens[0] = make_udp4(buf, 99, 50); /* 10.0.0.99 is not side 0's address */
	run(&lb, &c, reads, lens, 1);
	assert_int_equal(c.n, 0);
	assert_int_equal(atomic_load(&lb.side[1].dp.stats.drops[LR_DROP_inner_src_not_allowed]), 1);
	lr_loopback_destroy(&lb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_packets_roundtrip),
		cmocka_unit_test(test_vnet_plain_packets),
		cmocka_unit_test(test_tso_roundtrip),
		cmocka_unit_test(test_udp_flood_coalesced),
		cmocka_unit_test(test_inner_source_checked),
	};

	if (sodium_init() < 0 || lr_timing_init(&lr_timing))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
