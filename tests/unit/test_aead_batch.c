/* Batch AEAD: every backend bit-exact with libsodium's ChaCha20-Poly1305, and forgeries refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/compiler.h"
#include "crypto/aead_batch.h"

#define TAG LR_AEAD_TAG_SIZE
#define KEY LR_AEAD_KEY_SIZE
#define N_KEYS 4
/* Larger than the ipsec-mb chunk (64), so batches cross chunk boundaries. */
#define GROUP 150

/* Each test runs once per backend; the auto one is ipsec-mb when the build has it. */
struct backend_case {
	unsigned int flags;
	enum lr_aead_batch_backend want;
};

static const struct backend_case case_auto = { 0, LR_AEAD_BATCH_IPSECMB };
static const struct backend_case case_openssl = { LR_AEAD_BATCH_NO_IPSECMB, LR_AEAD_BATCH_OPENSSL };
static const struct backend_case case_sodium = {
	LR_AEAD_BATCH_NO_IPSECMB | LR_AEAD_BATCH_NO_OPENSSL, LR_AEAD_BATCH_SODIUM
};

struct fixture {
	const struct backend_case *bc;
	struct lr_aead_batch_ctx *ctx;
	uint64_t rng;
	uint8_t keys[N_KEYS][KEY];
};

/* splitmix64: a fixed seed per test makes every failure reproducible. */
static uint64_t rnd(struct fixture *f)
{
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rnd_fill(struct fixture *f, uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)rnd(f);
}

/* Counters: the edges 0 and 2^64-1 often, otherwise anything. */
static uint64_t rnd_counter(struct fixture *f)
{
	switch (rnd(f) % 5) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX;
	default:
		return rnd(f);
	}
}

static int setup(void **state)
{
	const struct backend_case *bc = *state;
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || sodium_init() < 0)
		return -1;
	if (lr_aead_batch_ctx_create(&f->ctx, bc->flags) != 0)
		return -1;
	f->bc = bc;
	f->rng = 0x5eed0000 + bc->flags;
	rnd_fill(f, &f->keys[0][0], sizeof(f->keys));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lr_aead_batch_ctx_destroy(f->ctx);
	free(f);
	return 0;
}

/* A build without intel-ipsec-mb skips the ipsec-mb case (the openssl case then covers what
 * the engine gets); any other backend mismatch is a failure. */
static struct fixture *fixture_get(void **state)
{
	struct fixture *f = *state;
	enum lr_aead_batch_backend got = lr_aead_batch_ctx_backend(f->ctx);

#ifndef LR_HAVE_IPSEC_MB
	if (f->bc->want == LR_AEAD_BATCH_IPSECMB) {
		print_message("skipped: built without intel-ipsec-mb\n");
		skip();
	}
#endif
	if (got != f->bc->want)
		fail_msg("backend %s, wanted %s", lr_aead_batch_backend_name(got),
			 lr_aead_batch_backend_name(f->bc->want));
	return f;
}

static void nonce_of(uint8_t nonce[12], uint64_t counter)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

static void ref_seal(uint8_t *out, const uint8_t *pt, size_t len, uint64_t counter,
		     const uint8_t *key)
{
	uint8_t nonce[12];
	unsigned long long clen;

	nonce_of(nonce, counter);
	assert_int_equal(crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, len, NULL, 0,
								   NULL, nonce, key),
			 0);
	assert_int_equal(clen, len + TAG);
}

/* One packet of a test batch: exact-size heap buffers so ASan sees any overrun. */
struct pkt {
	uint8_t *pt;  /* plaintext, len */
	uint8_t *ct;  /* libsodium's ciphertext || tag, len + TAG */
	uint8_t *buf; /* what the batch writes (and, in place, reads) */
	const uint8_t *key;
	uint64_t counter;
	size_t len;
	bool in_place;
};

static void pkt_make(struct fixture *f, struct pkt *p, size_t len)
{
	p->len = len;
	p->key = f->keys[rnd(f) % N_KEYS];
	p->counter = rnd_counter(f);
	p->in_place = rnd(f) & 1;
	p->pt = malloc(len ? len : 1);
	p->ct = malloc(len + TAG);
	p->buf = malloc(len + TAG);
	assert_non_null(p->pt);
	assert_non_null(p->ct);
	assert_non_null(p->buf);
	rnd_fill(f, p->pt, len);
	ref_seal(p->ct, p->pt, len, p->counter, p->key);
}

static void pkt_free(struct pkt *p)
{
	free(p->pt);
	free(p->ct);
	free(p->buf);
}

static void op_for_seal(struct lr_aead_batch_op *op, struct pkt *p)
{
	memset(p->buf, 0xa5, p->len + TAG);
	if (p->in_place)
		memcpy(p->buf, p->pt, p->len);
	*op = (struct lr_aead_batch_op){ .dst = p->buf, .src = p->in_place ? p->buf : p->pt,
					 .len = p->len, .counter = p->counter, .key = p->key };
}

static void op_for_open(struct lr_aead_batch_op *op, struct pkt *p)
{
	memset(p->buf, 0xa5, p->len + TAG);
	if (p->in_place)
		memcpy(p->buf, p->ct, p->len + TAG);
	*op = (struct lr_aead_batch_op){ .dst = p->buf, .src = p->in_place ? p->buf : p->ct,
					 .len = p->len + TAG, .counter = p->counter,
					 .key = p->key };
}

/* Seals (or opens) pkts[0..n) in one batch and checks each against libsodium. */
static void check_batch(struct fixture *f, struct pkt *pkts, size_t n, bool seal)
{
	struct lr_aead_batch_op *ops = calloc(n, sizeof(*ops));
	size_t i, good;

	assert_non_null(ops);
	for (i = 0; i < n; i++)
		(seal ? op_for_seal : op_for_open)(&ops[i], &pkts[i]);
	good = seal ? lr_aead_batch_seal(f->ctx, ops, n) : lr_aead_batch_open(f->ctx, ops, n);
	assert_int_equal(good, n);
	for (i = 0; i < n; i++) {
		assert_true(ops[i].ok);
		if (seal)
			assert_memory_equal(pkts[i].buf, pkts[i].ct, pkts[i].len + TAG);
		else if (pkts[i].len)
			assert_memory_equal(pkts[i].buf, pkts[i].pt, pkts[i].len);
	}
	free(ops);
}

/* Lengths from..to inclusive, in batches of GROUP, mixed keys and in/out of place. */
static void check_lengths(struct fixture *f, size_t from, size_t to, bool seal)
{
	struct pkt pkts[GROUP];
	size_t len = from, n, i;

	while (len <= to) {
		for (n = 0; n < GROUP && len <= to; n++, len++)
			pkt_make(f, &pkts[n], len);
		check_batch(f, pkts, n, seal);
		for (i = 0; i < n; i++)
			pkt_free(&pkts[i]);
	}
}

/* Random lengths up to 65535, a few per batch. */
static void check_random_lengths(struct fixture *f, bool seal)
{
	struct pkt pkts[8];
	int round, i;

	for (round = 0; round < 12; round++) {
		for (i = 0; i < 8; i++)
			pkt_make(f, &pkts[i], rnd(f) % 65536);
		check_batch(f, pkts, 8, seal);
		for (i = 0; i < 8; i++)
			pkt_free(&pkts[i]);
	}
}

static void test_seal_every_length_to_2048(void **state)
{
	check_lengths(fixture_get(state), 0, 2048, true);
}

static void test_seal_random_lengths_to_65535(void **state)
{
	check_random_lengths(fixture_get(state), true);
}

static void test_open_every_length_to_2048(void **state)
{
	check_lengths(fixture_get(state), 0, 2048, false);
}

static void test_open_random_lengths_to_65535(void **state)
{
	check_random_lengths(fixture_get(state), false);
}

static bool all_zero(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

/* Each forged packet (ct || tag with bit `bit` flipped, opened in place) sits before a valid
 * copy of the same packet (opened out of place): the forgery must fail with its dst wiped, and
 * the valid packet after it must still open. */
#define FLIPS_PER_BATCH 32
static void check_bit_flips(struct fixture *f, size_t len)
{
	struct lr_aead_batch_op ops[2 * FLIPS_PER_BATCH];
	uint8_t *forged[FLIPS_PER_BATCH], *plain[FLIPS_PER_BATCH];
	size_t nbits = (len + TAG) * 8, bit = 0, k, n;
	struct pkt p;

	pkt_make(f, &p, len);
	for (k = 0; k < FLIPS_PER_BATCH; k++) {
		forged[k] = malloc(len + TAG);
		plain[k] = malloc(len ? len : 1);
		assert_true(forged[k] && plain[k]);
	}
	while (bit < nbits) {
		for (n = 0; n < FLIPS_PER_BATCH && bit < nbits; n++, bit++) {
			memcpy(forged[n], p.ct, len + TAG);
			forged[n][bit / 8] ^= (uint8_t)(1u << (bit % 8));
			ops[2 * n] = (struct lr_aead_batch_op){ forged[n], forged[n], len + TAG,
								p.counter, p.key, true };
			ops[2 * n + 1] = (struct lr_aead_batch_op){ plain[n], p.ct, len + TAG,
								    p.counter, p.key, false };
		}
		assert_int_equal(lr_aead_batch_open(f->ctx, ops, 2 * n), n);
		for (k = 0; k < n; k++) {
			assert_false(ops[2 * k].ok);
			assert_true(all_zero(forged[k], len));
			assert_true(ops[2 * k + 1].ok);
			if (len)
				assert_memory_equal(plain[k], p.pt, len);
		}
	}
	for (k = 0; k < FLIPS_PER_BATCH; k++) {
		free(forged[k]);
		free(plain[k]);
	}
	pkt_free(&p);
}

static void test_open_rejects_every_flipped_bit(void **state)
{
	/* Around the block sizes (16, 64), the EVP cut-over (640) and a full-MTU packet. */
	static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 65, 639, 640, 1420 };
	struct fixture *f = fixture_get(state);
	size_t i;

	for (i = 0; i < LR_ARRAY_SIZE(lens); i++)
		check_bit_flips(f, lens[i]);
}

/* Wrong counters (next, previous, top bit) and a wrong key fail; the valid ones between open. */
static void test_open_rejects_wrong_counter_and_key(void **state)
{
	static const size_t lens[] = { 0, 64, 1420 };
	struct fixture *f = fixture_get(state);
	struct lr_aead_batch_op ops[8];
	uint8_t out[8][1420 + 1];
	size_t i, k;
	struct pkt p;

	for (i = 0; i < LR_ARRAY_SIZE(lens); i++) {
		pkt_make(f, &p, lens[i]);
		for (k = 0; k < 8; k++)
			ops[k] = (struct lr_aead_batch_op){ out[k], p.ct, p.len + TAG, p.counter,
							    p.key, false };
		ops[0].counter = p.counter + 1;
		ops[2].counter = p.counter - 1;
		ops[4].counter = p.counter ^ (1ULL << 63);
		ops[6].key = p.key == f->keys[0] ? f->keys[1] : f->keys[0];
		assert_int_equal(lr_aead_batch_open(f->ctx, ops, 8), 4);
		for (k = 0; k < 8; k++) {
			assert_int_equal(ops[k].ok, k % 2 == 1);
			if (k % 2 == 1 && p.len)
				assert_memory_equal(out[k], p.pt, p.len);
		}
		pkt_free(&p);
	}
}

/* Anything shorter than a tag is refused untouched, and does not disturb the batch. */
static void test_open_rejects_shorter_than_tag(void **state)
{
	struct fixture *f = fixture_get(state);
	struct lr_aead_batch_op ops[TAG + 1];
	uint8_t junk[TAG], out[TAG + 1][64];
	size_t k;
	struct pkt p;

	pkt_make(f, &p, 48);
	memset(junk, 0x11, sizeof(junk));
	memset(out, 0xa5, sizeof(out));
	for (k = 0; k < TAG; k++)
		ops[k] = (struct lr_aead_batch_op){ out[k], junk, k, 0, p.key, true };
	ops[TAG] = (struct lr_aead_batch_op){ out[TAG], p.ct, p.len + TAG, p.counter, p.key,
					      false };
	assert_int_equal(lr_aead_batch_open(f->ctx, ops, TAG + 1), 1);
	for (k = 0; k < TAG; k++) {
		assert_false(ops[k].ok);
		assert_int_equal(out[k][0], 0xa5);
	}
	assert_true(ops[TAG].ok);
	assert_memory_equal(out[TAG], p.pt, p.len);
	pkt_free(&p);
}

/* Keepalives carry no payload; a caller may then pass no source at all. */
static void test_seal_empty_without_source(void **state)
{
	struct fixture *f = fixture_get(state);
	uint8_t want[TAG], got[2][TAG];
	struct lr_aead_batch_op ops[2] = {
		{ got[0], NULL, 0, 42, f->keys[0], false },
		{ got[1], NULL, 0, 43, f->keys[0], false },
	};

	assert_int_equal(lr_aead_batch_seal(f->ctx, ops, 2), 2);
	ref_seal(want, NULL, 0, 42, f->keys[0]);
	assert_memory_equal(got[0], want, TAG);
	ref_seal(want, NULL, 0, 43, f->keys[0]);
	assert_memory_equal(got[1], want, TAG);
}

/* A key rewritten in place between batches (a reused keypair slot) must be noticed: backends
 * that cache key schedules compare contents, not addresses. */
static void test_key_rewritten_at_same_address(void **state)
{
	struct fixture *f = fixture_get(state);
	uint8_t key[KEY], pt[1024], want[1024 + TAG], got[1024 + TAG];
	struct lr_aead_batch_op op = { got, pt, sizeof(pt), 7, key, false };
	int round;

	rnd_fill(f, pt, sizeof(pt));
	for (round = 0; round < 3; round++) {
		rnd_fill(f, key, sizeof(key));
		ref_seal(want, pt, sizeof(pt), 7, key);
		assert_int_equal(lr_aead_batch_seal(f->ctx, &op, 1), 1);
		assert_memory_equal(got, want, sizeof(want));
		op.src = want;
		op.dst = got;
		op.len = sizeof(want);
		assert_int_equal(lr_aead_batch_open(f->ctx, &op, 1), 1);
		assert_memory_equal(got, pt, sizeof(pt));
		op = (struct lr_aead_batch_op){ got, pt, sizeof(pt), 7, key, false };
	}
}

/* The flags reach each fallback; without them the fastest built-in backend is chosen. */
static void test_create_selects_backend(void **state)
{
	static const struct backend_case *cases[] = { &case_auto, &case_openssl, &case_sodium };
	struct lr_aead_batch_ctx *ctx;
	enum lr_aead_batch_backend want;
	size_t i;

	for (i = 0; i < LR_ARRAY_SIZE(cases); i++) {
		want = cases[i]->want;
#ifndef LR_HAVE_IPSEC_MB
		if (want == LR_AEAD_BATCH_IPSECMB)
			want = LR_AEAD_BATCH_OPENSSL;
#endif
		assert_int_equal(lr_aead_batch_ctx_create(&ctx, cases[i]->flags), 0);
		assert_int_equal(lr_aead_batch_ctx_backend(ctx), want);
		assert_string_not_equal(lr_aead_batch_backend_name(want), "unknown");
		lr_aead_batch_ctx_destroy(ctx);
	}
	lr_aead_batch_ctx_destroy(NULL);
}

#define FOR_EACH_BACKEND(t)                                                                       \
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, (void *)&case_auto),         \
		cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,                      \
							 (void *)&case_openssl),                  \
		cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, (void *)&case_sodium)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_selects_backend),
		FOR_EACH_BACKEND(test_seal_every_length_to_2048),
		FOR_EACH_BACKEND(test_seal_random_lengths_to_65535),
		FOR_EACH_BACKEND(test_open_every_length_to_2048),
		FOR_EACH_BACKEND(test_open_random_lengths_to_65535),
		FOR_EACH_BACKEND(test_open_rejects_every_flipped_bit),
		FOR_EACH_BACKEND(test_open_rejects_wrong_counter_and_key),
		FOR_EACH_BACKEND(test_open_rejects_shorter_than_tag),
		FOR_EACH_BACKEND(test_seal_empty_without_source),
		FOR_EACH_BACKEND(test_key_rewritten_at_same_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
