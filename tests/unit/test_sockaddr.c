/* Endpoint text (UAPI syntax) parse/format round trips and rejects, plus compare and v4/v6 map. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/sockaddr.h"

static void check_round_trip(const char *text, const char *expect)
{
	union lr_sockaddr a, b;
	char buf[LR_SOCKADDR_STRLEN];

	assert_int_equal(lr_sockaddr_parse(&a, text), 0);
	assert_string_equal(lr_sockaddr_format(&a, buf, sizeof(buf)), expect);
	assert_int_equal(lr_sockaddr_parse(&b, buf), 0);
	assert_true(lr_sockaddr_equal(&a, &b));
}

/* IPv4 fields land in network order and print back unchanged. */
static void test_parse_ipv4(void **state)
{
	union lr_sockaddr a;

	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.7:51820"), 0);
	assert_int_equal(a.sa.sa_family, AF_INET);
	assert_int_equal(ntohs(a.in4.sin_port), 51820);
	assert_int_equal(ntohl(a.in4.sin_addr.s_addr), 0xc0000207);
	assert_int_equal(lr_sockaddr_len(&a), sizeof(struct sockaddr_in));
	check_round_trip("192.0.2.7:51820", "192.0.2.7:51820");
	check_round_trip("0.0.0.0:0", "0.0.0.0:0");
	check_round_trip("255.255.255.255:65535", "255.255.255.255:65535");
}

/* IPv6 needs brackets; output is the canonical compressed form. */
static void test_parse_ipv6(void **state)
{
	static const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	union lr_sockaddr a;

	assert_int_equal(lr_sockaddr_parse(&a, "[2001:db8::1]:51820"), 0);
	assert_int_equal(a.sa.sa_family, AF_INET6);
	assert_int_equal(ntohs(a.in6.sin6_port), 51820);
	assert_memory_equal(&a.in6.sin6_addr, want, 16);
	assert_int_equal(a.in6.sin6_scope_id, 0);
	assert_int_equal(lr_sockaddr_len(&a), sizeof(struct sockaddr_in6));
	check_round_trip("[2001:db8::1]:51820", "[2001:db8::1]:51820");
	check_round_trip("[2001:DB8:0:0:0:0:0:1]:1", "[2001:db8::1]:1");
	check_round_trip("[::]:0", "[::]:0");
	check_round_trip("[::ffff:192.0.2.1]:9", "[::ffff:192.0.2.1]:9");
}

/* Scope ids: numeric, or an interface name turned into its index; printed as a number. */
static void test_parse_scope(void **state)
{
	unsigned int lo = if_nametoindex("lo");
	union lr_sockaddr a;
	char want[LR_SOCKADDR_STRLEN];

	assert_int_equal(lr_sockaddr_parse(&a, "[fe80::1%7]:51820"), 0);
	assert_int_equal(a.in6.sin6_scope_id, 7);
	check_round_trip("[fe80::1%7]:51820", "[fe80::1%7]:51820");
	check_round_trip("[fe80::1%0]:1", "[fe80::1]:1");
	if (lo == 0)
		return; /* no loopback interface in this namespace: the numeric case stands */
	assert_int_equal(lr_sockaddr_parse(&a, "[fe80::1%lo]:51820"), 0);
	assert_int_equal(a.in6.sin6_scope_id, lo);
	snprintf(want, sizeof(want), "[fe80::1%%%u]:51820", lo);
	check_round_trip("[fe80::1%lo]:51820", want);
}

/* Ports are strict decimal 0..65535; leading zeros are fine as in Go's ParseUint. */
static void test_parse_port(void **state)
{
	union lr_sockaddr a;

	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:0080"), 0);
	assert_int_equal(ntohs(a.in4.sin_port), 80);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:65535"), 0);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:65536"), -EINVAL);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:99999999999999999999999"), -EINVAL);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:-1"), -EINVAL);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:+1"), -EINVAL);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:0x10"), -EINVAL);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1: 1"), -EINVAL);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:1 "), -EINVAL);
	assert_int_equal(lr_sockaddr_parse(&a, "192.0.2.1:"), -EINVAL);
}

/* Everything that is not numeric ip:port in the bracket rules is refused, output untouched. */
static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		":",
		":80",
		"192.0.2.1",
		"[192.0.2.1]:80",
		"2001:db8::1:80",
		"[2001:db8::1]",
		"[2001:db8::1]:",
		"[2001:db8::1:80",
		"2001:db8::1]:80",
		"[::1]x:80",
		"[]:80",
		"[fe80::1%]:80",
		"[fe80::1%no-such-if0]:80",
		"[fe80::1%4294967296]:80",
		"[fe80::1%-1]:80",
		"localhost:80",
		"example.com:51820",
		"192.0.2:80",
		"192.0.2.1.5:80",
		"192.0.02.1:80",
		"256.0.2.1:80",
		" 192.0.2.1:80",
		"192.0.2.1 :80",
		"[ ::1]:80",
		"[::1]::80",
		"[1::2::3]:80",
		"1111111111111111111111111111111111111111111111111111111:1",
	};
	union lr_sockaddr a, before;

	memset(&a, 0xa5, sizeof(a));
	before = a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (lr_sockaddr_parse(&a, bad[i]) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_memory_equal(&a, &before, sizeof(a));
	}
}

static void random_sockaddr(union lr_sockaddr *a)
{
	memset(a, 0, sizeof(*a));
	if (randombytes_uniform(2)) {
		a->in4.sin_family = AF_INET;
		a->in4.sin_port = (in_port_t)randombytes_uniform(65536);
		randombytes_buf(&a->in4.sin_addr, sizeof(a->in4.sin_addr));
		return;
	}
	a->in6.sin6_family = AF_INET6;
	a->in6.sin6_port = (in_port_t)randombytes_uniform(65536);
	randombytes_buf(&a->in6.sin6_addr, sizeof(a->in6.sin6_addr));
	/* Runs of zero groups exercise the "::" compression. */
	for (int i = 0; i < 16; i++)
		if (randombytes_uniform(3) == 0)
			a->in6.sin6_addr.s6_addr[i] = 0;
	if (randombytes_uniform(4) == 0)
		a->in6.sin6_scope_id = 1000000 + randombytes_uniform(1000000);
}

/* format then parse gives the same address for random IPv4 and IPv6 endpoints. */
static void test_random_round_trip(void **state)
{
	union lr_sockaddr a, b;
	char buf[LR_SOCKADDR_STRLEN];

	for (int i = 0; i < 20000; i++) {
		random_sockaddr(&a);
		lr_sockaddr_format(&a, buf, sizeof(buf));
		if (lr_sockaddr_parse(&b, buf) != 0 || !lr_sockaddr_equal(&a, &b))
			fail_msg("round trip failed for %s", buf);
	}
}

/* Equality looks at family, address, port and scope, and nothing else. */
static void test_equal(void **state)
{
	union lr_sockaddr a, b;

	assert_int_equal(lr_sockaddr_parse(&a, "[fe80::1%3]:5"), 0);
	b = a;
	b.in6.sin6_flowinfo = htonl(7);
	assert_true(lr_sockaddr_equal(&a, &b));
	b.in6.sin6_scope_id = 4;
	assert_false(lr_sockaddr_equal(&a, &b));
	b = a;
	b.in6.sin6_port = htons(6);
	assert_false(lr_sockaddr_equal(&a, &b));
	b = a;
	b.in6.sin6_addr.s6_addr[0] ^= 1;
	assert_false(lr_sockaddr_equal(&a, &b));
	assert_int_equal(lr_sockaddr_parse(&b, "192.0.2.1:5"), 0);
	assert_false(lr_sockaddr_equal(&a, &b));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_false(lr_sockaddr_equal(&a, &b)); /* AF_UNSPEC is nobody */
	assert_int_equal(lr_sockaddr_len(&a), 0);
}

/* map6 then unmap is the identity for IPv4; unmap leaves real IPv6 alone. */
static void test_map_unmap(void **state)
{
	union lr_sockaddr v4, v6, back;
	struct sockaddr_in6 mapped;
	char buf[LR_SOCKADDR_STRLEN];

	assert_int_equal(lr_sockaddr_parse(&v4, "192.0.2.9:4242"), 0);
	lr_sockaddr_map6(&mapped, &v4);
	memset(&back, 0, sizeof(back));
	back.in6 = mapped;
	assert_string_equal(lr_sockaddr_format(&back, buf, sizeof(buf)), "[::ffff:192.0.2.9]:4242");
	lr_sockaddr_unmap(&back, &back);
	assert_true(lr_sockaddr_equal(&back, &v4));

	assert_int_equal(lr_sockaddr_parse(&v6, "[2001:db8::9]:1"), 0);
	lr_sockaddr_unmap(&back, &v6);
	assert_true(lr_sockaddr_equal(&back, &v6));
	lr_sockaddr_map6(&mapped, &v6);
	assert_memory_equal(&mapped, &v6.in6, sizeof(mapped));
}

/* A short output buffer truncates but stays a terminated string. */
static void test_format_short_buffer(void **state)
{
	union lr_sockaddr a;
	char buf[8];

	assert_int_equal(lr_sockaddr_parse(&a, "[2001:db8::1]:51820"), 0);
	lr_sockaddr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:d");
	memset(&a, 0, sizeof(a));
	assert_string_equal(lr_sockaddr_format(&a, buf, sizeof(buf)), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_parse_scope),
		cmocka_unit_test(test_parse_port),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_random_round_trip),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_map_unmap),
		cmocka_unit_test(test_format_short_buffer),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
