/* mac1/mac2 and cookie replies: validation, the cookie round trip, source binding, the reply's
 * AD, expiry and rotation, and mac1 against messages exchanged with wireguard-go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <endian.h>
#include <errno.h>
#include <sodium.h>

#include "common/clock.h"
#include "crypto/cookie.h"

/* A synthetic monotonic clock, well past the first secret's two minutes. */
#define T0 (1000 * LR_NSEC_PER_SEC)
#define SEC LR_NSEC_PER_SEC

/* The responder (checker side, "m" in the whitepaper) and one initiator that knows it. */
struct fixture {
	uint8_t responder_public[LR_KEY_LEN];
	struct lr_cookie_checker checker;
	struct lr_cookie cookie;
	struct lr_msg_initiation msg;
	union lr_sockaddr src;
};

static void hex_decode(uint8_t *out, size_t outlen, const char *hex)
{
	size_t binlen = 0;

	assert_int_equal(strlen(hex), 2 * outlen);
	assert_int_equal(sodium_hex2bin(out, outlen, hex, strlen(hex), NULL, &binlen, NULL), 0);
	assert_int_equal(binlen, outlen);
}

static void addr_set(union lr_sockaddr *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (strchr(ip, ':')) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &a->in6.sin6_addr), 1);
	} else {
		a->in4.sin_family = AF_INET;
		a->in4.sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &a->in4.sin_addr), 1);
	}
}

/* Any bytes do as the message body: mac1/mac2 only hash it. */
static void message_random(struct lr_msg_initiation *msg)
{
	randombytes_buf(msg, sizeof(*msg));
	msg->header.type = htole32(LR_MSG_INITIATION);
	memset(&msg->macs, 0, sizeof(msg->macs));
}

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	randombytes_buf(f->responder_public, sizeof(f->responder_public));
	lr_cookie_checker_init(&f->checker, f->responder_public);
	lr_cookie_init(&f->cookie, f->responder_public);
	message_random(&f->msg);
	addr_set(&f->src, "192.0.2.1", 51820);
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	lr_cookie_checker_destroy(&f->checker);
	lr_cookie_destroy(&f->cookie);
	free(f);
	return 0;
}

static enum lr_cookie_mac_state validate(struct fixture *f, const union lr_sockaddr *src,
					 bool under_load, uint64_t now)
{
	return lr_cookie_validate_packet(&f->checker, &f->msg, sizeof(f->msg), src, under_load,
					 now);
}

/* The responder answers the current message with a cookie reply; the initiator takes it. */
static void cookie_round_trip(struct fixture *f, uint64_t now)
{
	struct lr_msg_cookie reply;

	lr_cookie_reply_create(&reply, &f->checker, &f->msg, sizeof(f->msg), 0x11223344, &f->src,
			       now);
	assert_int_equal(le32toh(reply.header.type), LR_MSG_COOKIE);
	assert_int_equal(le32toh(reply.receiver_index), 0x11223344);
	assert_int_equal(lr_cookie_reply_consume(&f->cookie, &reply, now), 0);
	assert_true(f->cookie.is_valid);
}

/* mac1 verifies; one flipped bit anywhere before it, or in it, or a checker for another key,
 * or a checker without a key, fails it. */
static void test_mac1(void **state)
{
	struct fixture *f = *state;
	struct lr_cookie_checker other, none;
	uint8_t other_public[LR_KEY_LEN];
	size_t bit;

	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0);
	assert_false(sodium_is_zero(f->msg.macs.mac1, LR_COOKIE_LEN));
	assert_true(sodium_is_zero(f->msg.macs.mac2, LR_COOKIE_LEN));
	assert_true(f->cookie.have_sent_mac1);
	assert_memory_equal(f->cookie.last_mac1_sent, f->msg.macs.mac1, LR_COOKIE_LEN);
	assert_int_equal(validate(f, &f->src, false, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);

	for (bit = 0; bit < 8 * offsetof(struct lr_msg_initiation, macs.mac2); bit += 13) {
		((uint8_t *)&f->msg)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(validate(f, &f->src, false, T0), LR_COOKIE_INVALID_MAC);
		((uint8_t *)&f->msg)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* mac2 is not covered by mac1. */
	f->msg.macs.mac2[3] ^= 1;
	assert_int_equal(validate(f, &f->src, false, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);

	randombytes_buf(other_public, sizeof(other_public));
	lr_cookie_checker_init(&other, other_public);
	assert_int_equal(lr_cookie_validate_packet(&other, &f->msg, sizeof(f->msg), &f->src, false,
						   T0),
			 LR_COOKIE_INVALID_MAC);
	lr_cookie_checker_init(&none, NULL);
	assert_int_equal(lr_cookie_validate_packet(&none, &f->msg, sizeof(f->msg), &f->src, false,
						   T0),
			 LR_COOKIE_INVALID_MAC);
}

/* Response-sized messages carry their macs at the end too. */
static void test_mac1_response(void **state)
{
	struct fixture *f = *state;
	struct lr_msg_response resp;

	randombytes_buf(&resp, sizeof(resp));
	lr_cookie_add_macs(&f->cookie, &resp, sizeof(resp), T0);
	assert_int_equal(lr_cookie_validate_packet(&f->checker, &resp, sizeof(resp), &f->src, false,
						   T0),
			 LR_COOKIE_VALID_MAC_NO_COOKIE);
	resp.unencrypted_ephemeral[0] ^= 0x80;
	assert_int_equal(lr_cookie_validate_packet(&f->checker, &resp, sizeof(resp), &f->src, false,
						   T0),
			 LR_COOKIE_INVALID_MAC);
}

/* Under load, a message without a cookie is VALID_MAC_NO_COOKIE; after the cookie reply and a
 * re-send with mac2 it is VALID_MAC_WITH_COOKIE, for this and later messages from src. */
static void test_cookie_round_trip(void **state)
{
	struct fixture *f = *state;

	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0);
	assert_int_equal(validate(f, &f->src, true, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);
	cookie_round_trip(f, T0);

	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0 + SEC);
	assert_false(sodium_is_zero(f->msg.macs.mac2, LR_COOKIE_LEN));
	assert_int_equal(validate(f, &f->src, true, T0 + SEC), LR_COOKIE_VALID_MAC_WITH_COOKIE);
	/* Not under load, mac2 is not looked at. */
	assert_int_equal(validate(f, &f->src, false, T0 + SEC), LR_COOKIE_VALID_MAC_NO_COOKIE);
	/* A broken mac2 is just "no cookie". */
	f->msg.macs.mac2[0] ^= 1;
	assert_int_equal(validate(f, &f->src, true, T0 + SEC), LR_COOKIE_VALID_MAC_NO_COOKIE);

	message_random(&f->msg);
	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0 + 2 * SEC);
	assert_int_equal(validate(f, &f->src, true, T0 + 2 * SEC), LR_COOKIE_VALID_MAC_WITH_COOKIE);
}

/* The cookie is bound to the source address and port: another address, another port, the
 * IPv6 form of the same address, none of them passes mac2. IPv6 sources work the same way. */
static void test_cookie_source_bound(void **state)
{
	struct fixture *f = *state;
	union lr_sockaddr other;

	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0);
	cookie_round_trip(f, T0);
	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0);
	assert_int_equal(validate(f, &f->src, true, T0), LR_COOKIE_VALID_MAC_WITH_COOKIE);

	addr_set(&other, "192.0.2.2", 51820);
	assert_int_equal(validate(f, &other, true, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);
	addr_set(&other, "192.0.2.1", 51821);
	assert_int_equal(validate(f, &other, true, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);
	/* Taken as given: the daemon unmaps v4-mapped sources before it asks. */
	addr_set(&other, "::ffff:192.0.2.1", 51820);
	assert_int_equal(validate(f, &other, true, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);

	addr_set(&f->src, "2001:db8::1", 51820);
	assert_int_equal(validate(f, &f->src, true, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);
	cookie_round_trip(f, T0);
	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0);
	assert_int_equal(validate(f, &f->src, true, T0), LR_COOKIE_VALID_MAC_WITH_COOKIE);
	addr_set(&other, "2001:db8::2", 51820);
	assert_int_equal(validate(f, &other, true, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);
}

/* A reply is only good against the mac1 it answered: once the initiator sent another message,
 * the old reply fails; so does a tampered reply, a reply for another peer's key, a reply when
 * nothing was sent, and a second copy of a consumed reply. */
static void test_reply_authentication(void **state)
{
	struct fixture *f = *state;
	struct lr_msg_cookie reply, bad;
	struct lr_cookie fresh, stranger;
	uint8_t stranger_public[LR_KEY_LEN];
	size_t off;

	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0);
	lr_cookie_reply_create(&reply, &f->checker, &f->msg, sizeof(f->msg), 7, &f->src, T0);

	/* Untouched cookie state after each failure. */
	for (off = offsetof(struct lr_msg_cookie, nonce); off < sizeof(reply); off += 3) {
		bad = reply;
		((uint8_t *)&bad)[off] ^= 0x20;
		assert_int_equal(lr_cookie_reply_consume(&f->cookie, &bad, T0), -EBADMSG);
		assert_false(f->cookie.is_valid);
	}

	randombytes_buf(stranger_public, sizeof(stranger_public));
	lr_cookie_init(&stranger, stranger_public);
	lr_cookie_add_macs(&stranger, &f->msg, sizeof(f->msg), T0);
	assert_int_equal(lr_cookie_reply_consume(&stranger, &reply, T0), -EBADMSG);

	lr_cookie_init(&fresh, f->responder_public);
	assert_int_equal(lr_cookie_reply_consume(&fresh, &reply, T0), -EBADMSG);

	/* The initiator moved on to a new message (different mac1): wrong AD. */
	message_random(&f->msg);
	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0);
	assert_int_equal(lr_cookie_reply_consume(&f->cookie, &reply, T0), -EBADMSG);
	assert_false(f->cookie.is_valid);

	lr_cookie_reply_create(&reply, &f->checker, &f->msg, sizeof(f->msg), 7, &f->src, T0);
	assert_int_equal(lr_cookie_reply_consume(&f->cookie, &reply, T0), 0);
	assert_int_equal(lr_cookie_reply_consume(&f->cookie, &reply, T0 + SEC), -EBADMSG);
	assert_int_equal(f->cookie.birth_ns, T0);
	lr_cookie_destroy(&stranger);
	lr_cookie_destroy(&fresh);
}

/* The initiator stops using a cookie 115 s after receiving it; the responder's secret rotates
 * after 120 s, after which a mac2 made with the old cookie fails. */
static void test_cookie_expiry(void **state)
{
	struct fixture *f = *state;
	uint8_t stale_mac2[LR_COOKIE_LEN];

	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0);
	assert_int_equal(validate(f, &f->src, true, T0), LR_COOKIE_VALID_MAC_NO_COOKIE);
	cookie_round_trip(f, T0);

	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0 + 115 * SEC - 1);
	assert_false(sodium_is_zero(f->msg.macs.mac2, LR_COOKIE_LEN));
	memcpy(stale_mac2, f->msg.macs.mac2, LR_COOKIE_LEN);
	assert_int_equal(validate(f, &f->src, true, T0 + 119 * SEC),
			 LR_COOKIE_VALID_MAC_WITH_COOKIE);

	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0 + 115 * SEC);
	assert_true(sodium_is_zero(f->msg.macs.mac2, LR_COOKIE_LEN));
	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0 + 121 * SEC);
	assert_true(sodium_is_zero(f->msg.macs.mac2, LR_COOKIE_LEN));

	memcpy(f->msg.macs.mac2, stale_mac2, LR_COOKIE_LEN);
	assert_int_equal(validate(f, &f->src, true, T0 + 121 * SEC), LR_COOKIE_VALID_MAC_NO_COOKIE);
	assert_int_equal(f->checker.secret_birth_ns, T0 + 121 * SEC);

	/* A new reply under the new secret works again. */
	cookie_round_trip(f, T0 + 122 * SEC);
	lr_cookie_add_macs(&f->cookie, &f->msg, sizeof(f->msg), T0 + 122 * SEC);
	assert_int_equal(validate(f, &f->src, true, T0 + 122 * SEC),
			 LR_COOKIE_VALID_MAC_WITH_COOKIE);
}

/* From one live exchange with wireguard-go v0.0.20220316 (the same capture as test_noise.c):
 * our public key and wireguard-go's, an initiation and a response it sent us (mac1 keyed with
 * our key), and an initiation we sent it, which it answered, so its mac1 was right. */
static const char our_pub_hex[] =
	"d920220e311e9a0c3ac5102fad6866783566112cc4f53c2156f819a6e83c8955";
static const char wg_pub_hex[] =
	"dccd7b57de34da0c5238ce58331394c7a7f39e9330a8cb75f3a43d8b60945641";
static const char wg_initiation_hex[] =
	"01000000ed334f509e809a3a22a67320f66fbbb71818c7e15fc1458fe27f3eeb0c3492a026a33369"
	"3c3381851b72e548cd4f64e716b95e26adf796e72886efd8b8e33c368c9080181f58846a082c3ce3"
	"79ed8ee357d710eb863c973ae4964359967bf11520be973d9e3b139ac6fe37d910f26885bbe570ed"
	"21816003af625fd52a7357aa00000000000000000000000000000000";
static const char wg_response_hex[] =
	"02000000fc9f6c42b4b3b2b1f8e39281fc5ff72a6ef08bbee3e505e63235838d0a528de24656e874"
	"815f12084a72c90e4c8e21c5aa29fc72748a88986976628b53f75e830c25488b01ffc06200000000"
	"000000000000000000000000";
static const char our_initiation_hex[] =
	"01000000b4b3b2b16b754f0a76e0f722961f51941a44c75e5c7ea4c09271f2d1dcd5f4717d4ed052"
	"4a91246e27b16f2badc2b2a857378c9ce9ea7c8d3c2ca95f99292fc89389169c25f030a8ad5fd508"
	"f4fe9ee50918d98ca2337390bfa6edc967c012a0855006fc9d0a0c972ff67b50c95411a32166859f"
	"86516611d27470992980fe7800000000000000000000000000000000";

static void test_mac1_wireguard_go(void **state)
{
	struct fixture *f = *state;
	struct lr_cookie_checker us;
	struct lr_cookie to_wg;
	struct lr_msg_initiation init, ours;
	struct lr_msg_response resp;
	uint8_t our_pub[LR_KEY_LEN], wg_pub[LR_KEY_LEN];

	hex_decode(our_pub, sizeof(our_pub), our_pub_hex);
	hex_decode(wg_pub, sizeof(wg_pub), wg_pub_hex);
	lr_cookie_checker_init(&us, our_pub);
	hex_decode((uint8_t *)&init, sizeof(init), wg_initiation_hex);
	hex_decode((uint8_t *)&resp, sizeof(resp), wg_response_hex);
	assert_int_equal(lr_cookie_validate_packet(&us, &init, sizeof(init), &f->src, false, T0),
			 LR_COOKIE_VALID_MAC_NO_COOKIE);
	assert_int_equal(lr_cookie_validate_packet(&us, &resp, sizeof(resp), &f->src, false, T0),
			 LR_COOKIE_VALID_MAC_NO_COOKIE);

	hex_decode((uint8_t *)&ours, sizeof(ours), our_initiation_hex);
	init = ours;
	memset(&init.macs, 0, sizeof(init.macs));
	lr_cookie_init(&to_wg, wg_pub);
	lr_cookie_add_macs(&to_wg, &init, sizeof(init), T0);
	assert_memory_equal(&init, &ours, sizeof(ours));
	lr_cookie_destroy(&to_wg);
	lr_cookie_checker_destroy(&us);
}

#define fixture_test(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

static int group_setup(void **state)
{
	return sodium_init() < 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_mac1),
		fixture_test(test_mac1_response),
		fixture_test(test_cookie_round_trip),
		fixture_test(test_cookie_source_bound),
		fixture_test(test_reply_authentication),
		fixture_test(test_cookie_expiry),
		fixture_test(test_mac1_wireguard_go),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
