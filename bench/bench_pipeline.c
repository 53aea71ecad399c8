/* lanrage-bench pipeline: packets/s through the worker's send and receive paths, kernel left
 * out (dataplane/loopback.c wires two workers back to back on this one thread). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench/bench.h"
#include "common/clock.h"
#include "common/timing.h"
#include "dataplane/loopback.h"

#define BATCH 64

struct scenario {
	const char *name;
	size_t ip_len;  /* inner IP packet (for tso: bytes of payload) */
	bool tso;
	bool vnet;
};

static size_t build_udp(uint8_t *p, size_t ip_len)
{
	uint64_t sum;

	memset(p, 0, 28);
	p[0] = 0x45, p[2] = (uint8_t)(ip_len >> 8), p[3] = (uint8_t)ip_len;
	p[8] = 64, p[9] = 17;
	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	sum = lr_offload_csum_add(0, p, 20);
	p[10] = (uint8_t)(~lr_offload_csum_fold(sum) >> 8);
	p[11] = (uint8_t)~lr_offload_csum_fold(sum);
	p[20] = 0x30, p[22] = 0x11, p[23] = 0x5c;
	p[24] = (uint8_t)((ip_len - 20) >> 8), p[25] = (uint8_t)(ip_len - 20);
	randombytes_buf(p + 28, ip_len - 28);
	return ip_len;
}

/* A TCP super-packet as TUN hands it over with TSO: partial checksum, gso_size 1368. */
static size_t build_tso(uint8_t *buf, size_t payload)
{
	struct lr_vnet_hdr h = { .flags = LR_VNET_F_NEEDS_CSUM, .gso_type = LR_VNET_GSO_TCPV4,
				 .hdr_len = 40, .gso_size = 1368, .csum_start = 20,
				 .csum_offset = 16 };
	uint8_t *ip = buf + LR_VNET_HDR_LEN;
	uint16_t partial;

	lr_offload_vnet_write(buf, &h);
	memset(ip, 0, 40);
	ip[0] = 0x45, ip[2] = (uint8_t)((40 + payload) >> 8), ip[3] = (uint8_t)(40 + payload);
	ip[6] = 0x40, ip[8] = 64, ip[9] = 6;
	ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
	ip[20] = 0x30, ip[22] = 0x14, ip[23] = 0x51, ip[24] = 1;
	ip[32] = 0x50, ip[33] = 0x10, ip[34] = 0xff;
	randombytes_buf(ip + 40, payload);
	partial = lr_offload_csum_fold(lr_offload_csum_pseudo4(ip + 12, ip + 16, 6,
								 (uint16_t)(20 + payload)));
	ip[36] = (uint8_t)(partial >> 8), ip[37] = (uint8_t)partial;
	return LR_VNET_HDR_LEN + 40 + payload;
}

/* Returns inner packets/s (segments for TSO) and fills *gbps with inner Gbit/s. */
static double run(const struct scenario *sc, double seconds, double *gbps)
{
	static uint8_t bufs[BATCH][LR_VNET_HDR_LEN + 65536];
	const uint8_t *reads[BATCH];
	size_t lens[BATCH];
	struct lr_loopback lb;
	uint64_t t0, t1, packets_before, bytes_before;
	double secs;

	if (lr_loopback_create(&lb, sc->vnet))
		return -1;
	for (int i = 0; i < BATCH; i++) {
		if (sc->tso) {
			lens[i] = build_tso(bufs[i], sc->ip_len);
		} else {
			size_t hdr = sc->vnet ? LR_VNET_HDR_LEN : 0;

			memset(bufs[i], 0, hdr);
			lens[i] = hdr + build_udp(bufs[i] + hdr, sc->ip_len);
		}
		reads[i] = bufs[i];
	}
	/* Warm up, then count what side 1 writes to its TUN. */
	lr_loopback_send(&lb, 0, reads, lens, BATCH);
	packets_before = lb.side[1].datagrams_in;
	bytes_before = lb.side[1].tun_bytes;
	t0 = lr_now_ns();
	do {
		for (int k = 0; k < 16; k++)
			lr_loopback_send(&lb, 0, reads, lens, BATCH);
		t1 = lr_now_ns();
	} while (t1 - t0 < (uint64_t)(seconds * 1e9));
	secs = (double)(t1 - t0) / 1e9;
	*gbps = (double)(lb.side[1].tun_bytes - bytes_before) * 8 / secs / 1e9;
	{
		double pps = (double)(lb.side[1].datagrams_in - packets_before) / secs;
		uint64_t drops = 0;

		for (int c = 0; c < LR_DROP_COUNT; c++)
			drops += atomic_load(&lb.side[0].dp.stats.drops[c]) +
				 atomic_load(&lb.side[1].dp.stats.drops[c]);
		lr_loopback_destroy(&lb);
		return drops ? -(double)drops : pps;
	}
}

int bench_pipeline_main(int argc, char *argv[])
{
	static const struct scenario scenarios[] = {
		{ "UDP 64 B, plain", 64, false, false },
		{ "UDP 512 B, plain", 512, false, false },
		{ "UDP 1420 B, plain", 1420, false, false },
		{ "UDP 1420 B, vnet", 1420, false, true },
		{ "TCP 64 KiB TSO", 64000, true, true },
	};
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double seconds = 1.0;
	int c;

	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			seconds = atof(optarg);
			break;
		default:
			printf("Usage: lanrage-bench pipeline [--seconds S]\n"
			       "Encrypts on one worker and decrypts on another, on this thread, with the\n"
			       "kernel left out; prints inner packets/s and Gbit/s per scenario.\n");
			return c == 'h' ? 0 : 1;
		}
	}
	if (sodium_init() < 0 || lr_timing_init(&lr_timing) || seconds <= 0)
		return 1;
	printf("| scenario | packets/s (encrypt + decrypt, 1 thread) | inner Gbit/s |\n");
	printf("|---|---:|---:|\n");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		double gbps = 0, pps = run(&scenarios[i], seconds, &gbps);

		if (pps < 0) {
			printf("| %s | failed (%.0f drops) | - |\n", scenarios[i].name, -pps);
			continue;
		}
		printf("| %s | %.0f | %.2f |\n", scenarios[i].name, pps, gbps);
	}
	return 0;
}
