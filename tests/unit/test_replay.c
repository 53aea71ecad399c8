/* Replay window: the kernel's counter selftest table, window edges, limits, reordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/messages.h"
#include "dataplane/replay.h"

#define W LR_REPLAY_WINDOW
#define LIM LR_REJECT_AFTER_MESSAGES
#define RING (LR_REPLAY_WORDS * LR_REPLAY_BITS_PER_WORD)

static uint64_t seed;

/* splitmix64: a fixed, tiny generator, so a seed reproduces on any libc. */
static uint64_t rnd(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct row {
	uint64_t counter;
	bool ok;
};

static void run_rows(struct lr_replay *r, const struct row *rows, size_t n, uint64_t limit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lr_replay_check(r, rows[i].counter, limit) != rows[i].ok)
			fail_msg("row %zu: counter %llu expected %s", i + 1,
				 (unsigned long long)rows[i].counter,
				 rows[i].ok ? "accept" : "reject");
	}
}

/* The sequence of drivers/net/wireguard/selftest/counter.c, with L = WINDOW + 1. */
static void test_replay_kernel_sequence(void **state)
{
	const uint64_t L = W + 1;
	const struct row rows[] = {
		{ 0, true },
		{ 1, true },
		{ 1, false }, /* duplicate */
		{ 9, true },
		{ 8, true }, /* out of order, inside the window */
		{ 7, true },
		{ 7, false },
		{ L, true },
		{ L - 1, true },
		{ L - 1, false },
		{ L - 2, true },
		{ 2, true }, /* old but still inside the window */
		{ 2, false },
		{ L + 16, true },
		{ 3, false }, /* now too old */
		{ L + 16, false },
		{ L * 4, true }, /* big jump: the bitmap must be cleared */
		{ L * 4 - (L - 1), true }, /* exactly WINDOW behind */
		{ 10, false },
		{ L * 4 - L, false }, /* WINDOW + 1 behind */
		{ L * 4 - (L + 1), false },
		{ L * 4 - (L - 2), true },
		{ L * 4 + 1 - L, false }, /* the counter accepted at the edge above */
		{ 0, false },
		{ LIM, false }, /* at the limit */
		{ LIM - 1, true },
		{ LIM, false },
		{ LIM - 1, false },
		{ LIM - 2, true },
		{ LIM + 1, false },
		{ LIM + 2, false },
		{ LIM - 2, false },
		{ LIM - 3, true },
		{ 0, false },
	};
	struct lr_replay r;

	lr_replay_init(&r);
	run_rows(&r, rows, sizeof(rows) / sizeof(rows[0]), LIM);
}

/* The kernel's fill-the-window loops: WINDOW + 1 distinct counters all fit, in either order. */
static void test_replay_fill_window(void **state)
{
	struct lr_replay r;
	uint64_t i;

	lr_replay_init(&r);
	for (i = 1; i <= W; i++)
		assert_true(lr_replay_check(&r, i, LIM));
	assert_true(lr_replay_check(&r, 0, LIM));
	assert_false(lr_replay_check(&r, 0, LIM));

	lr_replay_init(&r);
	for (i = 2; i <= W + 1; i++)
		assert_true(lr_replay_check(&r, i, LIM));
	assert_true(lr_replay_check(&r, 1, LIM));
	assert_false(lr_replay_check(&r, 0, LIM));

	lr_replay_init(&r);
	for (i = W + 1; i-- > 0;)
		assert_true(lr_replay_check(&r, i, LIM));

	lr_replay_init(&r);
	for (i = W + 2; i-- > 1;)
		assert_true(lr_replay_check(&r, i, LIM));
	assert_false(lr_replay_check(&r, 0, LIM));

	lr_replay_init(&r);
	for (i = W + 1; i-- > 1;)
		assert_true(lr_replay_check(&r, i, LIM));
	assert_true(lr_replay_check(&r, W + 1, LIM));
	assert_false(lr_replay_check(&r, 0, LIM));

	lr_replay_init(&r);
	for (i = W + 1; i-- > 1;)
		assert_true(lr_replay_check(&r, i, LIM));
	assert_true(lr_replay_check(&r, 0, LIM));
	assert_true(lr_replay_check(&r, W + 1, LIM));
}

/* Exactly WINDOW behind the greatest is accepted, WINDOW + 1 behind is not, at every offset
 * within a word (the ring's word boundaries must not move the edge). */
static void test_replay_window_edge(void **state)
{
	struct lr_replay r;
	uint64_t top;

	for (top = 3 * RING; top < 3 * RING + 2 * LR_REPLAY_BITS_PER_WORD; top++) {
		lr_replay_init(&r);
		assert_true(lr_replay_check(&r, top, LIM));
		assert_false(lr_replay_check(&r, top - W - 1, LIM));
		assert_true(lr_replay_check(&r, top - W, LIM));
		assert_false(lr_replay_check(&r, top - W, LIM));
		assert_true(lr_replay_check(&r, top - 1, LIM));
		assert_false(lr_replay_check(&r, top, LIM));
	}
}

/* Jumps forward by a whole ring (or a multiple, or a bit less) must not leave old bits that
 * alias the new window's slots: every unseen counter in the new window is accepted once. */
static void test_replay_big_jumps(void **state)
{
	const uint64_t jumps[] = { RING, RING - 1, RING + 1, 2 * RING, W, W + 1, 1000 * RING + 17 };
	struct lr_replay r;
	uint64_t base, top, c;
	size_t j;

	for (j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
		lr_replay_init(&r);
		for (c = 0; c <= W; c++)
			assert_true(lr_replay_check(&r, c, LIM));
		base = W;
		top = base + jumps[j];
		assert_true(lr_replay_check(&r, top, LIM));
		for (c = top - W; c < top; c++) {
			if (c <= base)
				assert_false(lr_replay_check(&r, c, LIM));
			else
				assert_true(lr_replay_check(&r, c, LIM));
			assert_false(lr_replay_check(&r, c, LIM));
		}
		if (top > W)
			assert_false(lr_replay_check(&r, top - W - 1, LIM));
	}
}

/* The limit is exclusive, counters at or past it are refused even into an empty window, and a
 * limit of UINT64_MAX does not wrap. */
static void test_replay_limit(void **state)
{
	struct lr_replay r;

	lr_replay_init(&r);
	assert_false(lr_replay_check(&r, 100, 100));
	assert_false(lr_replay_check(&r, UINT64_MAX, 100));
	assert_true(lr_replay_check(&r, 99, 100));
	assert_false(lr_replay_check(&r, 99, 100));
	assert_true(lr_replay_check(&r, 98, 100));

	lr_replay_init(&r);
	assert_false(lr_replay_check(&r, UINT64_MAX, UINT64_MAX));
	assert_true(lr_replay_check(&r, UINT64_MAX - 1, UINT64_MAX));
	assert_false(lr_replay_check(&r, UINT64_MAX - 1, UINT64_MAX));
	assert_true(lr_replay_check(&r, UINT64_MAX - 1 - W, UINT64_MAX));
	assert_false(lr_replay_check(&r, UINT64_MAX - 2 - W, UINT64_MAX));
	assert_false(lr_replay_check(&r, 0, UINT64_MAX));

	/* The protocol's own limit: the last usable counter is LIM - 1. */
	lr_replay_init(&r);
	assert_true(lr_replay_check(&r, LIM - 1, LIM));
	assert_false(lr_replay_check(&r, LIM, LIM));
}

static void shuffle(uint64_t *v, size_t n, uint64_t *state)
{
	uint64_t tmp;
	size_t i, j;

	for (i = n; i > 1; i--) {
		j = (size_t)(rnd(state) % i);
		tmp = v[i - 1];
		v[i - 1] = v[j];
		v[j] = tmp;
	}
}

/* Delivery shuffled within blocks of WINDOW + 1 keeps every packet at most WINDOW behind the
 * greatest: all are accepted once, and every one is refused when replayed, whether it is still
 * in the window (a set bit) or has fallen out of it. */
static void test_replay_reordered_delivery(void **state)
{
	enum { BLOCKS = 6, BLOCK = W + 1, N = BLOCKS * BLOCK };
	uint64_t *order = malloc(N * sizeof(*order)), rs = seed, start = 12345;
	struct lr_replay r;
	size_t i, b;

	assert_non_null(order);
	lr_replay_init(&r);
	for (i = 0; i < N; i++)
		order[i] = start + i;
	for (b = 0; b < BLOCKS; b++)
		shuffle(order + b * BLOCK, BLOCK, &rs);
	for (i = 0; i < N; i++)
		if (!lr_replay_check(&r, order[i], LIM))
			fail_msg("packet %zu (counter %llu) refused", i,
				 (unsigned long long)order[i]);
	shuffle(order, N, &rs);
	for (i = 0; i < N; i++)
		if (lr_replay_check(&r, order[i], LIM))
			fail_msg("replay of counter %llu accepted", (unsigned long long)order[i]);
	free(order);
}

/* Against a plain model (a seen-set and the greatest counter) on random traffic: mostly
 * forward steps, reordering, duplicates, stragglers near the edge and big jumps. */
static void test_replay_matches_model(void **state)
{
	enum { SPAN = 1 << 26, STEPS = 300000 };
	uint8_t *seen = calloc(SPAN / 8, 1);
	uint64_t rs = seed ^ 0x5eed, greatest = 0, c, pick;
	bool any = false, want, got;
	struct lr_replay r;
	size_t i;

	assert_non_null(seen);
	lr_replay_init(&r);
	for (i = 0; i < STEPS; i++) {
		pick = rnd(&rs) % 100;
		if (pick < 60)
			c = greatest + rnd(&rs) % 64;
		else if (pick < 85 && greatest > W + 64)
			c = greatest - W - 32 + rnd(&rs) % 96; /* around the trailing edge */
		else if (pick < 85)
			c = rnd(&rs) % (W + 64);
		else if (pick < 99)
			c = greatest - (greatest < 512 ? greatest : rnd(&rs) % 512);
		else
			c = greatest + rnd(&rs) % (3 * RING);
		if (c >= SPAN - 1)
			break;
		want = !(seen[c / 8] >> (c % 8) & 1) && (!any || c + W >= greatest);
		got = lr_replay_check(&r, c, LIM);
		if (got != want)
			fail_msg("step %zu counter %llu greatest %llu: got %d want %d (seed %llu)",
				 i, (unsigned long long)c, (unsigned long long)greatest, got, want,
				 (unsigned long long)seed);
		if (want) {
			seen[c / 8] |= (uint8_t)(1u << (c % 8));
			if (!any || c > greatest)
				greatest = c;
			any = true;
		}
	}
	free(seen);
	assert_int_equal(i, STEPS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_kernel_sequence),
		cmocka_unit_test(test_replay_fill_window),
		cmocka_unit_test(test_replay_window_edge),
		cmocka_unit_test(test_replay_big_jumps),
		cmocka_unit_test(test_replay_limit),
		cmocka_unit_test(test_replay_reordered_delivery),
		cmocka_unit_test(test_replay_matches_model),
	};
	const char *env = getenv("LR_TEST_SEED");

	seed = env ? strtoull(env, NULL, 0) : 0x1a2b3c4dULL;
	printf("replay: seed %llu (set LR_TEST_SEED to change)\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
