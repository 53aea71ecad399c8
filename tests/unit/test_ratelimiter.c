/* The per-source handshake rate limiter: burst, refill rate, independence of sources, /64
 * grouping for IPv6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/clock.h"
#include "controlplane/ratelimiter.h"

static struct lr_ratelimiter rl;

static union lr_sockaddr addr(const char *text)
{
	union lr_sockaddr a;

	assert_int_equal(lr_sockaddr_parse(&a, text), 0);
	return a;
}

static unsigned allowed_now(const union lr_sockaddr *src, uint64_t now, unsigned tries)
{
	unsigned n = 0;

	while (tries--)
		n += lr_ratelimiter_allow(&rl, src, now);
	return n;
}

static void test_burst_then_limit(void **state)
{
	union lr_sockaddr a = addr("192.0.2.7:1000");
	uint64_t t = 10 * LR_NSEC_PER_SEC;

	lr_ratelimiter_init(&rl);
	assert_int_equal(allowed_now(&a, t, 100), LR_RATELIMITER_BURST);
	/* 20 per second: one more every 50 ms, not before. */
	assert_int_equal(allowed_now(&a, t + 49 * LR_NSEC_PER_MSEC, 10), 0);
	assert_int_equal(allowed_now(&a, t + 50 * LR_NSEC_PER_MSEC, 10), 1);
	/* A long pause refills only up to the burst. */
	assert_int_equal(allowed_now(&a, t + 60 * LR_NSEC_PER_SEC, 100), LR_RATELIMITER_BURST);
}

static void test_sources_independent(void **state)
{
	union lr_sockaddr a = addr("192.0.2.7:1000"), b = addr("192.0.2.8:1000");
	union lr_sockaddr a_other_port = addr("192.0.2.7:2000");
	uint64_t t = LR_NSEC_PER_SEC;

	lr_ratelimiter_init(&rl);
	assert_int_equal(allowed_now(&a, t, 100), LR_RATELIMITER_BURST);
	assert_int_equal(allowed_now(&a_other_port, t, 100), 0); /* ports share the address */
	assert_int_equal(allowed_now(&b, t, 100), LR_RATELIMITER_BURST);
}

static void test_ipv6_grouped_by_64(void **state)
{
	union lr_sockaddr a = addr("[2001:db8:1:2::1]:1"), same64 = addr("[2001:db8:1:2::ffff]:1");
	union lr_sockaddr other64 = addr("[2001:db8:1:3::1]:1");
	uint64_t t = LR_NSEC_PER_SEC;

	lr_ratelimiter_init(&rl);
	assert_int_equal(allowed_now(&a, t, 100), LR_RATELIMITER_BURST);
	assert_int_equal(allowed_now(&same64, t, 100), 0);
	assert_int_equal(allowed_now(&other64, t, 100), LR_RATELIMITER_BURST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_limit),
		cmocka_unit_test(test_sources_independent),
		cmocka_unit_test(test_ipv6_grouped_by_64),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
