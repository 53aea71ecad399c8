/* Noise_IKpsk2 handshake: both roles, PSK, replay and flood limits, forgeries, TAI64N, and
 * vectors captured from a live exchange with wireguard-go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <endian.h>
#include <errno.h>
#include <sodium.h>
#include <time.h>

#include "common/clock.h"
#include "crypto/aead.h"
#include "crypto/noise.h"

/* A synthetic monotonic clock: the handshake code only compares the values it is given. */
#define T0 (1000 * LR_NSEC_PER_SEC)
#define FLOOD_INTERVAL (LR_NSEC_PER_SEC / LR_INITIATIONS_PER_SECOND)

struct party {
	struct lr_noise_identity id;
	struct lr_noise_handshake hs; /* towards the other party */
	struct lr_noise_session_keys keys;
	uint32_t index;
};

static void hex_decode(uint8_t *out, size_t outlen, const char *hex)
{
	size_t binlen = 0;

	assert_int_equal(strlen(hex), 2 * outlen);
	assert_int_equal(sodium_hex2bin(out, outlen, hex, strlen(hex), NULL, &binlen, NULL), 0);
	assert_int_equal(binlen, outlen);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void identity_random(struct lr_noise_identity *id)
{
	uint8_t priv[LR_KEY_LEN];

	randombytes_buf(priv, sizeof(priv));
	lr_noise_identity_set(id, priv);
	assert_true(id->has_identity);
	sodium_memzero(priv, sizeof(priv));
}

/* a and b know each other; a uses psk_a for b, b uses psk_b for a. */
static void parties_setup(struct party *a, struct party *b, const uint8_t *psk_a,
			  const uint8_t *psk_b)
{
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	identity_random(&a->id);
	identity_random(&b->id);
	lr_noise_handshake_init(&a->hs, &a->id, b->id.static_public, psk_a);
	lr_noise_handshake_init(&b->hs, &b->id, a->id.static_public, psk_b);
	a->index = 0x01020304;
	b->index = 0xa0b0c0d0;
}

/* Initiator i sends message 1, responder r accepts it at now and answers. */
static void initiation_to_response(struct party *i, struct party *r, struct lr_msg_response *resp,
				   uint64_t now)
{
	struct lr_msg_initiation init;
	struct lr_noise_initiation_result res;

	assert_int_equal(lr_noise_initiation_create(&init, &i->hs, &i->id, i->index), 0);
	assert_int_equal(i->hs.state, LR_NOISE_CREATED_INITIATION);
	assert_int_equal(le32toh(init.header.type), LR_MSG_INITIATION);
	assert_int_equal(le32toh(init.sender_index), i->index);
	assert_int_equal(lr_noise_initiation_consume(&init, &r->id, &res), 0);
	assert_memory_equal(res.remote_static, i->id.static_public, LR_KEY_LEN);
	assert_int_equal(res.sender_index, i->index);
	assert_int_equal(lr_noise_initiation_accept(&r->hs, &res, now), 0);
	lr_noise_initiation_result_clear(&res);
	assert_int_equal(lr_noise_response_create(resp, &r->hs, r->index), 0);
	assert_int_equal(le32toh(resp->header.type), LR_MSG_RESPONSE);
	assert_int_equal(le32toh(resp->receiver_index), i->index);
	assert_int_equal(le32toh(resp->sender_index), r->index);
}

/* One transport packet each way with the derived keys, as the data plane will send them. */
static void transport_check(const struct party *from, const struct party *to)
{
	static const char text[] = "a game packet, padded to 32";
	uint8_t wire[32 + LR_TAG_LEN];
	uint8_t plain[32];

	memset(plain, 0, sizeof(plain));
	memcpy(plain, text, sizeof(text) - 1);
	lr_aead_seal(wire, plain, sizeof(plain), NULL, 0, 7, from->keys.send);
	memset(plain, 0xff, sizeof(plain));
	assert_true(lr_aead_open(plain, wire, sizeof(wire), NULL, 0, 7, to->keys.recv));
	assert_memory_equal(plain, text, sizeof(text) - 1);
	/* The other direction's key must not open it. */
	assert_false(lr_aead_open(plain, wire, sizeof(wire), NULL, 0, 7, to->keys.send));
}

static void handshake_full(struct party *i, struct party *r, uint64_t now)
{
	struct lr_msg_response resp;

	initiation_to_response(i, r, &resp, now);
	assert_int_equal(lr_noise_response_consume(&resp, &i->hs, &i->id), 0);
	assert_int_equal(i->hs.state, LR_NOISE_CONSUMED_RESPONSE);
	assert_int_equal(lr_noise_session_derive(&i->hs, &i->keys), 0);
	assert_int_equal(lr_noise_session_derive(&r->hs, &r->keys), 0);
	assert_int_equal(i->hs.state, LR_NOISE_ZEROED);
	assert_int_equal(r->hs.state, LR_NOISE_ZEROED);
	assert_true(sodium_is_zero(i->hs.chaining_key, LR_KEY_LEN));
	assert_true(sodium_is_zero(r->hs.ephemeral_private, LR_KEY_LEN));

	assert_true(i->keys.is_initiator);
	assert_false(r->keys.is_initiator);
	assert_memory_equal(i->keys.send, r->keys.recv, LR_KEY_LEN);
	assert_memory_equal(i->keys.recv, r->keys.send, LR_KEY_LEN);
	assert_memory_not_equal(i->keys.send, i->keys.recv, LR_KEY_LEN);
	assert_int_equal(i->keys.local_index, i->index);
	assert_int_equal(i->keys.remote_index, r->index);
	assert_int_equal(r->keys.local_index, r->index);
	assert_int_equal(r->keys.remote_index, i->index);
	transport_check(i, r);
	transport_check(r, i);
}

static void roles_both(const uint8_t *psk)
{
	struct party a, b;
	uint8_t first_send[LR_KEY_LEN];

	parties_setup(&a, &b, psk, psk);
	handshake_full(&a, &b, T0);
	memcpy(first_send, a.keys.send, LR_KEY_LEN);
	/* The initiator's timestamp must advance past the one b saw (2^24 ns granularity). */
	sleep_ms(40);
	handshake_full(&b, &a, T0 + LR_NSEC_PER_SEC);
	/* Fresh ephemerals: a new session never repeats a key. */
	assert_memory_not_equal(first_send, a.keys.recv, LR_KEY_LEN);
	lr_noise_handshake_destroy(&a.hs);
	lr_noise_handshake_destroy(&b.hs);
}

/* A initiates to B, then B to A, without a preshared key. */
static void test_handshake_both_roles(void **state)
{
	roles_both(NULL);
}

/* The same with a preshared key on both sides. */
static void test_handshake_both_roles_psk(void **state)
{
	uint8_t psk[LR_KEY_LEN];

	randombytes_buf(psk, sizeof(psk));
	roles_both(psk);
}

/* A PSK on one side only, or two different PSKs: the response does not authenticate. */
static void test_psk_mismatch(void **state)
{
	struct party a, b;
	struct lr_msg_response resp;
	uint8_t psk1[LR_KEY_LEN], psk2[LR_KEY_LEN];

	randombytes_buf(psk1, sizeof(psk1));
	randombytes_buf(psk2, sizeof(psk2));
	parties_setup(&a, &b, psk1, psk2);
	initiation_to_response(&a, &b, &resp, T0);
	assert_int_equal(lr_noise_response_consume(&resp, &a.hs, &a.id), -EBADMSG);
	assert_int_equal(a.hs.state, LR_NOISE_CREATED_INITIATION);

	parties_setup(&a, &b, NULL, psk2);
	initiation_to_response(&a, &b, &resp, T0);
	assert_int_equal(lr_noise_response_consume(&resp, &a.hs, &a.id), -EBADMSG);

	/* Setting the right PSK afterwards (wg set ... preshared-key) makes the next one work. */
	lr_noise_handshake_set_psk(&a.hs, psk2);
	sleep_ms(40);
	handshake_full(&a, &b, T0 + LR_NSEC_PER_SEC);
}

/* The same initiation twice: the second is a replay, even long after and after the session
 * was derived (the latest timestamp survives handshake_clear). */
static void test_initiation_replay(void **state)
{
	struct party a, b;
	struct lr_msg_initiation init;
	struct lr_noise_initiation_result res;
	struct lr_msg_response resp;

	parties_setup(&a, &b, NULL, NULL);
	assert_int_equal(lr_noise_initiation_create(&init, &a.hs, &a.id, a.index), 0);
	assert_int_equal(lr_noise_initiation_consume(&init, &b.id, &res), 0);
	assert_int_equal(lr_noise_initiation_accept(&b.hs, &res, T0), 0);
	assert_int_equal(lr_noise_response_create(&resp, &b.hs, b.index), 0);
	assert_int_equal(lr_noise_session_derive(&b.hs, &b.keys), 0);

	assert_int_equal(lr_noise_initiation_consume(&init, &b.id, &res), 0);
	assert_int_equal(lr_noise_initiation_accept(&b.hs, &res, T0 + 60 * LR_NSEC_PER_SEC),
			 -EALREADY);
	assert_int_equal(b.hs.state, LR_NOISE_ZEROED);
	assert_int_equal(b.hs.last_initiation_consumption_ns, T0);
	lr_noise_initiation_result_clear(&res);
	assert_true(sodium_is_zero((const uint8_t *)&res, sizeof(res)));
}

/* Two fresh initiations 10 ms apart: the second is refused (50/s); at 20 ms it passes. */
static void test_initiation_flood(void **state)
{
	struct party a, b;
	struct lr_msg_initiation first, second;
	struct lr_noise_initiation_result res1, res2;
	uint8_t latest[LR_TIMESTAMP_LEN];

	parties_setup(&a, &b, NULL, NULL);
	assert_int_equal(lr_noise_initiation_create(&first, &a.hs, &a.id, a.index), 0);
	sleep_ms(40); /* so that the second timestamp is strictly newer */
	assert_int_equal(lr_noise_initiation_create(&second, &a.hs, &a.id, a.index + 1), 0);
	assert_int_equal(lr_noise_initiation_consume(&first, &b.id, &res1), 0);
	assert_int_equal(lr_noise_initiation_consume(&second, &b.id, &res2), 0);
	assert_true(memcmp(res2.timestamp, res1.timestamp, LR_TIMESTAMP_LEN) > 0);

	assert_int_equal(lr_noise_initiation_accept(&b.hs, &res1, T0), 0);
	memcpy(latest, b.hs.latest_timestamp, sizeof(latest));
	assert_int_equal(lr_noise_initiation_accept(&b.hs, &res2, T0 + FLOOD_INTERVAL / 2), -EBUSY);
	/* A refused initiation changes nothing. */
	assert_memory_equal(b.hs.latest_timestamp, latest, sizeof(latest));
	assert_int_equal(b.hs.last_initiation_consumption_ns, T0);
	assert_int_equal(b.hs.remote_index, a.index);
	assert_int_equal(lr_noise_initiation_accept(&b.hs, &res2, T0 + FLOOD_INTERVAL - 1), -EBUSY);
	assert_int_equal(lr_noise_initiation_accept(&b.hs, &res2, T0 + FLOOD_INTERVAL), 0);
	assert_int_equal(b.hs.remote_index, a.index + 1);
	lr_noise_initiation_result_clear(&res1);
	lr_noise_initiation_result_clear(&res2);
}

/* An initiator that has the wrong public key for the responder: the responder cannot decrypt
 * and the result is wiped. */
static void test_wrong_responder_key(void **state)
{
	struct party a, b;
	struct lr_noise_identity other;
	struct lr_msg_initiation init;
	struct lr_noise_initiation_result res;

	parties_setup(&a, &b, NULL, NULL);
	identity_random(&other);
	lr_noise_handshake_init(&a.hs, &a.id, other.static_public, NULL);
	assert_int_equal(lr_noise_initiation_create(&init, &a.hs, &a.id, a.index), 0);
	memset(&res, 0xaa, sizeof(res));
	assert_int_equal(lr_noise_initiation_consume(&init, &b.id, &res), -EBADMSG);
	assert_true(sodium_is_zero((const uint8_t *)&res, sizeof(res)));
	/* The intended responder can. */
	assert_int_equal(lr_noise_initiation_consume(&init, &other, &res), 0);
	lr_noise_initiation_result_clear(&res);
}

/* A corrupted initiation, bit by bit in each encrypted or hashed field, is refused. */
static void test_tampered_initiation(void **state)
{
	struct party a, b;
	struct lr_msg_initiation init, bad;
	struct lr_noise_initiation_result res;
	size_t off;

	parties_setup(&a, &b, NULL, NULL);
	assert_int_equal(lr_noise_initiation_create(&init, &a.hs, &a.id, a.index), 0);
	for (off = offsetof(struct lr_msg_initiation, unencrypted_ephemeral);
	     off < offsetof(struct lr_msg_initiation, macs); off += 7) {
		bad = init;
		((uint8_t *)&bad)[off] ^= 0x04;
		assert_int_equal(lr_noise_initiation_consume(&bad, &b.id, &res), -EBADMSG);
	}
	assert_int_equal(lr_noise_initiation_consume(&init, &b.id, &res), 0);
	lr_noise_initiation_result_clear(&res);
}

/* A tampered response fails and leaves the initiator exactly as it was, so the genuine
 * response still completes the handshake. */
static void test_tampered_response(void **state)
{
	struct party a, b;
	struct lr_msg_response resp, bad;
	struct lr_noise_handshake before;
	size_t off;

	parties_setup(&a, &b, NULL, NULL);
	initiation_to_response(&a, &b, &resp, T0);
	before = a.hs;
	for (off = offsetof(struct lr_msg_response, sender_index);
	     off < offsetof(struct lr_msg_response, macs); off++) {
		bad = resp;
		((uint8_t *)&bad)[off] ^= 0x10;
		/* sender_index is not authenticated by the AEAD (the kernel neither): skip it. */
		if (off < offsetof(struct lr_msg_response, receiver_index))
			continue;
		assert_int_equal(lr_noise_response_consume(&bad, &a.hs, &a.id), -EBADMSG);
		assert_memory_equal(&a.hs, &before, sizeof(before));
	}
	assert_int_equal(lr_noise_response_consume(&resp, &a.hs, &a.id), 0);
	/* A second copy of the response finds no handshake waiting for it. */
	assert_int_equal(lr_noise_response_consume(&resp, &a.hs, &a.id), -EBADMSG);
	assert_int_equal(lr_noise_session_derive(&a.hs, &a.keys), 0);
	assert_int_equal(lr_noise_session_derive(&b.hs, &b.keys), 0);
	assert_memory_equal(a.keys.send, b.keys.recv, LR_KEY_LEN);
}

/* Out-of-order calls are refused without touching the state. */
static void test_state_machine(void **state)
{
	struct party a, b;
	struct lr_msg_response resp;
	struct lr_noise_session_keys keys;

	parties_setup(&a, &b, NULL, NULL);
	assert_int_equal(lr_noise_response_create(&resp, &b.hs, b.index), -EINVAL);
	assert_int_equal(lr_noise_session_derive(&b.hs, &keys), -EINVAL);
	assert_int_equal(lr_noise_response_consume(&resp, &a.hs, &a.id), -EBADMSG);

	/* A response for another local index is not ours. */
	initiation_to_response(&a, &b, &resp, T0);
	resp.receiver_index = htole32(a.index + 1);
	assert_int_equal(lr_noise_response_consume(&resp, &a.hs, &a.id), -EBADMSG);
	assert_int_equal(a.hs.state, LR_NOISE_CREATED_INITIATION);
	/* The initiator has nothing to derive from before the response. */
	assert_int_equal(lr_noise_session_derive(&a.hs, &keys), -EINVAL);
}

/* An all-zero private key is "no identity"; a low-order peer key gives a zero static DH. Both
 * refuse to initiate, and no identity refuses to respond. */
static void test_no_identity(void **state)
{
	static const uint8_t zero[LR_KEY_LEN];
	struct lr_noise_identity none, a;
	struct lr_noise_handshake hs;
	struct lr_msg_initiation init;
	struct lr_noise_initiation_result res;

	lr_noise_identity_set(&none, zero);
	assert_false(none.has_identity);
	assert_true(sodium_is_zero(none.static_public, LR_KEY_LEN));
	identity_random(&a);
	lr_noise_handshake_init(&hs, &none, a.static_public, NULL);
	assert_true(sodium_is_zero(hs.precomputed_static_static, LR_KEY_LEN));
	assert_int_equal(lr_noise_initiation_create(&init, &hs, &none, 1), -ENOKEY);
	assert_int_equal(hs.state, LR_NOISE_ZEROED);

	/* Peer key 0 is a low-order point: DH(anything, 0) = 0. */
	lr_noise_handshake_init(&hs, &a, zero, NULL);
	assert_int_equal(lr_noise_initiation_create(&init, &hs, &a, 1), -ENOKEY);

	/* A real initiation to "none" (whose public key is zero) cannot be consumed by it. */
	lr_noise_handshake_init(&hs, &a, a.static_public, NULL);
	assert_int_equal(lr_noise_initiation_create(&init, &hs, &a, 1), 0);
	assert_int_equal(lr_noise_initiation_consume(&init, &none, &res), -EBADMSG);

	/* Setting a key later and recomputing makes the handshake usable. */
	lr_noise_handshake_init(&hs, &none, a.static_public, NULL);
	identity_random(&none);
	lr_noise_handshake_precompute(&hs, &none);
	assert_int_equal(lr_noise_initiation_create(&init, &hs, &none, 1), 0);
	assert_int_equal(lr_noise_initiation_consume(&init, &a, &res), 0);
	assert_memory_equal(res.remote_static, none.static_public, LR_KEY_LEN);
	lr_noise_initiation_result_clear(&res);
}

static time_t realtime_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* TAI64N: 2^62 + 10 + Unix seconds big-endian, then nanoseconds rounded down to 2^24, and
 * increasing with time. */
static void test_tai64n(void **state)
{
	uint8_t t1[LR_TIMESTAMP_LEN], t2[LR_TIMESTAMP_LEN];
	uint64_t secs_be, secs;
	uint32_t nsec_be, nsec;
	time_t before, after;

	/* The same clock as lr_noise_tai64n_now: time() reads the coarse clock, which can still
	 * show the previous second when the precise one has moved on. */
	before = realtime_secs();
	lr_noise_tai64n_now(t1);
	after = realtime_secs();
	memcpy(&secs_be, t1, sizeof(secs_be));
	memcpy(&nsec_be, t1 + 8, sizeof(nsec_be));
	secs = be64toh(secs_be);
	nsec = be32toh(nsec_be);
	assert_true(secs >= 0x400000000000000aULL + (uint64_t)before);
	assert_true(secs <= 0x400000000000000aULL + (uint64_t)after);
	assert_true(nsec < 1000000000u);
	assert_int_equal(nsec % (1u << 24), 0);

	sleep_ms(40);
	lr_noise_tai64n_now(t2);
	assert_true(memcmp(t2, t1, LR_TIMESTAMP_LEN) > 0);
}

/* Interop vectors, from one live exchange with wireguard-go v0.0.20220316 (Debian 12) in a
 * network namespace, PSK set on both sides. Keys: */
static const char wg_priv_hex[] =
	"1078c1cdc14fb3ae112c3409fbd28cf9b4d4730f375a5d8a72c93211d3800348";
static const char wg_pub_hex[] =
	"dccd7b57de34da0c5238ce58331394c7a7f39e9330a8cb75f3a43d8b60945641";
static const char our_priv_hex[] =
	"788a0c3380ce8eb6d1a85ccbae4d5877dc97926d7ddd715dc0c0f7893be0935b";
static const char our_pub_hex[] =
	"d920220e311e9a0c3ac5102fad6866783566112cc4f53c2156f819a6e83c8955";
static const char psk_hex[] =
	"31fb466f51c519ab721da2de39adf18308cf8f08b7789df1f9568365ae985f38";

/* wireguard-go initiates (triggered by a UDP packet into its TUN), and its timestamp. */
static const char wg_initiation_hex[] =
	"01000000ed334f509e809a3a22a67320f66fbbb71818c7e15fc1458fe27f3eeb0c3492a026a33369"
	"3c3381851b72e548cd4f64e716b95e26adf796e72886efd8b8e33c368c9080181f58846a082c3ce3"
	"79ed8ee357d710eb863c973ae4964359967bf11520be973d9e3b139ac6fe37d910f26885bbe570ed"
	"21816003af625fd52a7357aa00000000000000000000000000000000";
static const char wg_timestamp_hex[] = "400000006b068e801d000000";

/* We initiate (local index 0xb1b2b3b4); the state our initiation left behind; wireguard-go's
 * response; then its encrypted ICMP echo reply to the echo request we sent with the keys. */
static const char our_initiation_hex[] =
	"01000000b4b3b2b16b754f0a76e0f722961f51941a44c75e5c7ea4c09271f2d1dcd5f4717d4ed052"
	"4a91246e27b16f2badc2b2a857378c9ce9ea7c8d3c2ca95f99292fc89389169c25f030a8ad5fd508"
	"f4fe9ee50918d98ca2337390bfa6edc967c012a0855006fc9d0a0c972ff67b50c95411a32166859f"
	"86516611d27470992980fe7800000000000000000000000000000000";
static const char our_ephemeral_hex[] =
	"1fb41988749772dcf4ba759f6f01c7ecfa933bcc343e7d6384850420041e5bb3";
static const char our_hash_hex[] =
	"6c089f16976743ee2ca3a7e5d2e24367b28bca7151bfdbff1d325e701802b640";
static const char our_chaining_key_hex[] =
	"51b283f29b2a569baf975bb2d628a71be6d972e09f0bece7d718e16bd8d14feb";
static const char wg_response_hex[] =
	"02000000fc9f6c42b4b3b2b1f8e39281fc5ff72a6ef08bbee3e505e63235838d0a528de24656e874"
	"815f12084a72c90e4c8e21c5aa29fc72748a88986976628b53f75e830c25488b01ffc06200000000"
	"000000000000000000000000";
static const char wg_data_hex[] =
	"04000000b4b3b2b10000000000000000ca94937ec90b0fd1923d8058c94a9e72fa223b782f86bc09"
	"3e2524cc39d960ebb2fd4c41672f6838b821433ffb34e34ecbe843445b8b4b7aa8d4cc343f4051db";
static const char wg_data_plain_hex[] =
	"45000030fde800004001681c0a6300010a6300020000bf0e123400016c616e726167652d6e6f6973"
	"652d696e7465726f";

static void identity_from_hex(struct lr_noise_identity *id, const char *priv_hex,
			      const char *pub_hex)
{
	uint8_t priv[LR_KEY_LEN], pub[LR_KEY_LEN];

	hex_decode(priv, sizeof(priv), priv_hex);
	hex_decode(pub, sizeof(pub), pub_hex);
	lr_noise_identity_set(id, priv);
	assert_true(id->has_identity);
	assert_memory_equal(id->static_public, pub, LR_KEY_LEN);
}

/* Our responder decrypts wireguard-go's initiation: its static key and timestamp. */
static void test_interop_wireguard_go_initiation(void **state)
{
	struct lr_noise_identity us;
	struct lr_msg_initiation init;
	struct lr_noise_initiation_result res;
	uint8_t wg_pub[LR_KEY_LEN], ts[LR_TIMESTAMP_LEN];

	identity_from_hex(&us, our_priv_hex, our_pub_hex);
	hex_decode(wg_pub, sizeof(wg_pub), wg_pub_hex);
	hex_decode((uint8_t *)&init, sizeof(init), wg_initiation_hex);
	hex_decode(ts, sizeof(ts), wg_timestamp_hex);
	assert_int_equal(lr_noise_initiation_consume(&init, &us, &res), 0);
	assert_memory_equal(res.remote_static, wg_pub, LR_KEY_LEN);
	assert_memory_equal(res.timestamp, ts, LR_TIMESTAMP_LEN);
	assert_int_equal(res.sender_index, le32toh(init.sender_index));
	lr_noise_initiation_result_clear(&res);
}

/* Our initiator consumes wireguard-go's response (PSK mixed in), derives the keys, and opens
 * the data packet wireguard-go sent with them. */
static void test_interop_wireguard_go_response(void **state)
{
	struct lr_noise_identity us, wg;
	struct lr_noise_handshake hs;
	struct lr_noise_session_keys keys;
	struct lr_noise_initiation_result res;
	struct lr_msg_initiation init;
	struct lr_msg_response resp;
	uint8_t psk[LR_KEY_LEN], data[80], want[48], plain[48];
	const struct lr_msg_data *hdr = (const struct lr_msg_data *)data;

	identity_from_hex(&us, our_priv_hex, our_pub_hex);
	identity_from_hex(&wg, wg_priv_hex, wg_pub_hex);
	hex_decode(psk, sizeof(psk), psk_hex);
	lr_noise_handshake_init(&hs, &us, wg.static_public, psk);
	/* Rebuild the initiator state that went out with our_initiation, and check it is what a
	 * responder derives from that message (the message wireguard-go answered). */
	hex_decode(hs.ephemeral_private, LR_KEY_LEN, our_ephemeral_hex);
	hex_decode(hs.hash, LR_KEY_LEN, our_hash_hex);
	hex_decode(hs.chaining_key, LR_KEY_LEN, our_chaining_key_hex);
	hs.local_index = 0xb1b2b3b4;
	hs.state = LR_NOISE_CREATED_INITIATION;
	hex_decode((uint8_t *)&init, sizeof(init), our_initiation_hex);
	assert_int_equal(lr_noise_initiation_consume(&init, &wg, &res), 0);
	assert_memory_equal(res.hash, hs.hash, LR_KEY_LEN);
	assert_memory_equal(res.chaining_key, hs.chaining_key, LR_KEY_LEN);
	assert_int_equal(res.sender_index, hs.local_index);
	lr_noise_initiation_result_clear(&res);

	hex_decode((uint8_t *)&resp, sizeof(resp), wg_response_hex);
	assert_int_equal(lr_noise_response_consume(&resp, &hs, &us), 0);
	assert_int_equal(lr_noise_session_derive(&hs, &keys), 0);
	assert_true(keys.is_initiator);
	assert_int_equal(keys.remote_index, le32toh(resp.sender_index));

	hex_decode(data, sizeof(data), wg_data_hex);
	hex_decode(want, sizeof(want), wg_data_plain_hex);
	assert_int_equal(le32toh(hdr->receiver_index), keys.local_index);
	assert_true(lr_aead_open(plain, hdr->encrypted_data, sizeof(data) - sizeof(*hdr), NULL, 0,
				 le64toh(hdr->counter), keys.recv));
	assert_memory_equal(plain, want, sizeof(want));
	lr_noise_session_keys_clear(&keys);
}

static int group_setup(void **state)
{
	return sodium_init() < 0 || lr_noise_init() != 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_both_roles),
		cmocka_unit_test(test_handshake_both_roles_psk),
		cmocka_unit_test(test_psk_mismatch),
		cmocka_unit_test(test_initiation_replay),
		cmocka_unit_test(test_initiation_flood),
		cmocka_unit_test(test_wrong_responder_key),
		cmocka_unit_test(test_tampered_initiation),
		cmocka_unit_test(test_tampered_response),
		cmocka_unit_test(test_state_machine),
		cmocka_unit_test(test_no_identity),
		cmocka_unit_test(test_tai64n),
		cmocka_unit_test(test_interop_wireguard_go_initiation),
		cmocka_unit_test(test_interop_wireguard_go_response),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
