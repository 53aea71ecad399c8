/* lanrage-bench crypto: the batch AEAD against libsodium's per-packet calls, in the same run. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "bench/bench.h"
#include "common/clock.h"
#include "common/compiler.h"
#include "crypto/aead_batch.h"

#define TAG LR_AEAD_TAG_SIZE
#define BATCH 64
#define MAX_LEN 1420
/* Each cell is cut into RUNS slices, and the four workloads take turns slice by slice, so a
 * neighbour's load on this shared 2-core machine hits libsodium and the batch alike. */
#define RUNS 15

static const size_t sizes[] = { 64, 512, MAX_LEN };

struct options {
	double seconds;
	bool json;
	unsigned int flags;
	const char *backend; /* as asked; NULL for the default choice */
};

/* Everything one packet size needs, allocated once. */
struct bench {
	struct lr_aead_batch_ctx *ctx;
	size_t len;
	bool failed;
	uint8_t key[LR_AEAD_KEY_SIZE];
	uint8_t pkt[BATCH][MAX_LEN + TAG];    /* sealed in place, again and again */
	uint8_t sealed[BATCH][MAX_LEN + TAG]; /* valid packets for the open workloads */
	uint8_t out[BATCH][MAX_LEN];
	struct lr_aead_batch_op seal_ops[BATCH];
	struct lr_aead_batch_op open_ops[BATCH];
};

static uint64_t counter_of(size_t i)
{
	return 1000 + i;
}

static void run_sodium_seal(struct bench *b)
{
	size_t i;

	for (i = 0; i < BATCH; i++)
		lr_aead_seal(b->pkt[i], b->pkt[i], b->len, NULL, 0, counter_of(i), b->key);
}

static void run_batch_seal(struct bench *b)
{
	if (lr_aead_batch_seal(b->ctx, b->seal_ops, BATCH) != BATCH)
		b->failed = true;
}

static void run_sodium_open(struct bench *b)
{
	size_t i;

	for (i = 0; i < BATCH; i++) {
		if (!lr_aead_open(b->out[i], b->sealed[i], b->len + TAG, NULL, 0, counter_of(i),
				  b->key))
			b->failed = true;
	}
}

static void run_batch_open(struct bench *b)
{
	if (lr_aead_batch_open(b->ctx, b->open_ops, BATCH) != BATCH)
		b->failed = true;
}

enum { SODIUM_SEAL, BATCH_SEAL, SODIUM_OPEN, BATCH_OPEN, N_WORKLOADS };

static const struct workload {
	const char *impl;
	const char *op;
	int baseline; /* the libsodium workload this one is compared with */
	void (*run)(struct bench *b);
} workloads[N_WORKLOADS] = {
	[SODIUM_SEAL] = { "libsodium", "seal", SODIUM_SEAL, run_sodium_seal },
	[BATCH_SEAL] = { "batch", "seal", SODIUM_SEAL, run_batch_seal },
	[SODIUM_OPEN] = { "libsodium", "open", SODIUM_OPEN, run_sodium_open },
	[BATCH_OPEN] = { "batch", "open", SODIUM_OPEN, run_batch_open },
};

struct result {
	double pps;
	double gbps;
	double ratio;
};

static void bench_prepare(struct bench *b, size_t len)
{
	size_t i;

	b->len = len;
	for (i = 0; i < BATCH; i++) {
		randombytes_buf(b->pkt[i], len);
		lr_aead_seal(b->sealed[i], b->pkt[i], len, NULL, 0, counter_of(i), b->key);
		b->seal_ops[i] = (struct lr_aead_batch_op){ b->pkt[i], b->pkt[i], len,
							    counter_of(i), b->key, false };
		b->open_ops[i] = (struct lr_aead_batch_op){ b->out[i], b->sealed[i], len + TAG,
							    counter_of(i), b->key, false };
	}
}

/* This thread's CPU time: other engineers' jobs share the 2 cores, and wall time would charge
 * their time slices to whichever workload they interrupted. It is a system call (not vDSO), so
 * measure() reads it once per CHECK_EVERY batches only. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * LR_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

#define CHECK_EVERY 8

/* Whole batches until the slice of CPU time is over; returns packets per CPU second. */
static double measure(struct bench *b, const struct workload *w, double seconds)
{
	uint64_t start = cpu_ns(), deadline = start + (uint64_t)(seconds * 1e9), now;
	uint64_t packets = 0;
	int i;

	do {
		for (i = 0; i < CHECK_EVERY; i++)
			w->run(b);
		packets += CHECK_EVERY * BATCH;
		now = cpu_ns();
	} while (now < deadline);
	return (double)packets * 1e9 / (double)(now - start);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* The ratio is the median of per-slice ratios: each compares two neighbouring slices, which
 * saw the same machine load. */
static void bench_size(struct bench *b, size_t len, double seconds, struct result *res)
{
	double pps[N_WORKLOADS][RUNS], ratio[RUNS];
	double slice = seconds / RUNS;
	int w, r;

	bench_prepare(b, len);
	for (w = 0; w < N_WORKLOADS; w++)
		measure(b, &workloads[w], slice / 2); /* warm caches and branch predictors */
	for (r = 0; r < RUNS; r++)
		for (w = 0; w < N_WORKLOADS; w++)
			pps[w][r] = measure(b, &workloads[w], slice);
	for (w = 0; w < N_WORKLOADS; w++) {
		for (r = 0; r < RUNS; r++)
			ratio[r] = pps[w][r] / pps[workloads[w].baseline][r];
		res[w].ratio = median(ratio, RUNS);
		res[w].pps = median(pps[w], RUNS);
		res[w].gbps = res[w].pps * (double)len * 8 / 1e9;
	}
}

static void print_table(const struct result res[][N_WORKLOADS], const char *backend,
			const struct options *o)
{
	char label[32];
	size_t s;
	int w;

	printf("ChaCha20-Poly1305, batches of %d packets under one key; batch backend: %s\n", BATCH,
	       backend);
	printf("median of %d slices, %.2f s of thread CPU time per cell; "
	       "Gbit/s counts plaintext bytes\n\n",
	       RUNS, o->seconds);
	printf("%5s  %-15s %12s %8s %13s\n", "bytes", "operation", "packets/s", "Gbit/s",
	       "vs libsodium");
	for (s = 0; s < LR_ARRAY_SIZE(sizes); s++) {
		for (w = 0; w < N_WORKLOADS; w++) {
			snprintf(label, sizeof(label), "%s %s", workloads[w].impl, workloads[w].op);
			printf("%5zu  %-15s %12.0f %8.2f %12.2fx\n", sizes[s], label,
			       res[s][w].pps, res[s][w].gbps, res[s][w].ratio);
		}
	}
}

static void print_json(const struct result res[][N_WORKLOADS], const char *backend,
		       const struct options *o)
{
	const char *sep = "";
	size_t s;
	int w;

	printf("{\"bench\":\"crypto\",\"backend\":\"%s\",\"batch\":%d,\"runs\":%d,"
	       "\"seconds_per_cell\":%.3f,\"results\":[",
	       backend, BATCH, RUNS, o->seconds);
	for (s = 0; s < LR_ARRAY_SIZE(sizes); s++) {
		for (w = 0; w < N_WORKLOADS; w++) {
			printf("%s{\"bytes\":%zu,\"op\":\"%s\",\"impl\":\"%s\",\"pps\":%.0f,"
			       "\"gbps\":%.4f,\"ratio\":%.4f}",
			       sep, sizes[s], workloads[w].op, workloads[w].impl, res[s][w].pps,
			       res[s][w].gbps, res[s][w].ratio);
			sep = ",";
		}
	}
	printf("]}\n");
}

static void show_usage(FILE *file)
{
	fprintf(file,
		"Usage: lanrage-bench crypto [--seconds S] [--json] [--backend NAME]\n"
		"  --seconds S     CPU time per (size, workload) cell, default 1\n"
		"  --json          one JSON object instead of the table\n"
		"  --backend NAME  ipsec-mb, openssl or libsodium (default: the engine's)\n");
}

static bool parse_seconds(struct options *o, const char *value)
{
	char *end;

	o->seconds = strtod(value, &end);
	return end != value && !*end && o->seconds >= 0.01 && o->seconds <= 3600;
}

static bool parse_backend(struct options *o, const char *value)
{
	o->backend = value;
	if (!strcmp(value, "ipsec-mb"))
		o->flags = 0;
	else if (!strcmp(value, "openssl"))
		o->flags = LR_AEAD_BATCH_NO_IPSECMB;
	else if (!strcmp(value, "libsodium"))
		o->flags = LR_AEAD_BATCH_NO_IPSECMB | LR_AEAD_BATCH_NO_OPENSSL;
	else
		return false;
	return true;
}

/* Returns 0 to go on, 1 for a usage error, -1 after --help. */
static int parse_options(struct options *o, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "backend", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct options){ .seconds = 1.0 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 's' && !parse_seconds(o, optarg)) {
			fprintf(stderr, "Invalid --seconds (want 0.01 to 3600): `%s'\n", optarg);
			return 1;
		} else if (c == 'b' && !parse_backend(o, optarg)) {
			fprintf(stderr, "Unknown --backend: `%s'\n", optarg);
			return 1;
		} else if (c == 'j') {
			o->json = true;
		} else if (c == 'h') {
			show_usage(stdout);
			return -1;
		} else if (c == '?') {
			show_usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Unexpected argument: `%s'\n", argv[optind]);
		return 1;
	}
	return 0;
}

static int bench_open_ctx(struct bench *b, const struct options *o)
{
	const char *got;
	int ret;

	ret = lr_aead_batch_ctx_create(&b->ctx, o->flags);
	if (ret) {
		fprintf(stderr, "lr_aead_batch_ctx_create: %s\n", strerror(-ret));
		return 1;
	}
	got = lr_aead_batch_backend_name(lr_aead_batch_ctx_backend(b->ctx));
	if (o->backend && strcmp(got, o->backend)) {
		fprintf(stderr, "Backend `%s' is not available here (got %s)\n", o->backend, got);
		return 1;
	}
	return 0;
}

int bench_crypto_main(int argc, char *argv[])
{
	struct result res[LR_ARRAY_SIZE(sizes)][N_WORKLOADS];
	struct options o;
	struct bench *b;
	const char *backend;
	size_t s;
	int ret;

	ret = parse_options(&o, argc, argv);
	if (ret)
		return ret < 0 ? 0 : 1;
	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		fprintf(stderr, "Out of memory\n");
		return 1;
	}
	ret = bench_open_ctx(b, &o);
	if (ret)
		goto out_free;
	randombytes_buf(b->key, sizeof(b->key));
	for (s = 0; s < LR_ARRAY_SIZE(sizes); s++)
		bench_size(b, sizes[s], o.seconds, res[s]);
	/* A failed packet would make the rates meaningless: say so instead of printing them. */
	if (b->failed) {
		fprintf(stderr, "A seal or open failed during the run; no results\n");
		ret = 1;
		goto out_ctx;
	}
	backend = lr_aead_batch_backend_name(lr_aead_batch_ctx_backend(b->ctx));
	if (o.json)
		print_json(res, backend, &o);
	else
		print_table(res, backend, &o);
out_ctx:
	lr_aead_batch_ctx_destroy(b->ctx);
out_free:
	sodium_memzero(b->key, sizeof(b->key));
	free(b);
	return ret;
}
