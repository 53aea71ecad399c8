/* libFuzzer harness for the handshake parsers, fed as dataplane/receive.c and
 * controlplane/handshake.c feed them: mac1/mac2 checks (under load and not), initiation and
 * response consumption, and cookie replies, with round-trip checks on genuine messages.
 *
 * Input: one flags byte, then the datagram.
 *   bit 0  the responder is under load (mac2 is checked, cookie replies are made)
 *   bit 1  the datagram comes from an IPv6 source (else IPv4)
 *   bit 2  XOR the datagram (after its type word) onto a genuine message of its type, so the
 *          fuzzer explores near-valid messages; an all-zero mask is the genuine message and
 *          must be accepted
 *   bit 3  recompute mac1 (and mac2 from a cookie for the IPv4 source), so that the parsers
 *          behind the macs see the fuzzer's bytes
 * Randomness comes from a seeded ChaCha20 stream reset for every input, so a crash reproduces
 * from its input alone. */
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/cookie.h"
#include "crypto/messages.h"
#include "crypto/noise.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_NS (1000ULL * 1000000000ULL) /* past the checker's first secret rotation */
#define INITIATOR_INDEX 0x1234u
#define RESPONDER_INDEX 0x5678u

#define F_UNDER_LOAD 0x01
#define F_SRC6 0x02
#define F_XOR 0x04
#define F_FIX_MACS 0x08

/* ---- Deterministic randombytes ---- */

static uint64_t rng_counter;

static void rng_buf(void *const buf, const size_t size)
{
	static const uint8_t key[crypto_stream_chacha20_KEYBYTES] = { 'f', 'u', 'z', 'z' };
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];

	memcpy(nonce, &rng_counter, sizeof(nonce));
	rng_counter++;
	crypto_stream_chacha20(buf, size, nonce, key);
}

static uint32_t rng_random(void)
{
	uint32_t r;

	rng_buf(&r, sizeof(r));
	return r;
}

static const char *rng_name(void)
{
	return "fuzz-chacha20";
}

static randombytes_implementation rng = {
	.implementation_name = rng_name,
	.random = rng_random,
	.buf = rng_buf,
};

/* ---- The pristine world every input starts from ---- */

static struct {
	struct lr_noise_identity responder, initiator;
	struct lr_cookie_checker checker_r; /* the responder's, for initiations */
	struct lr_cookie_checker checker_i; /* the initiator's, for responses */
	struct lr_noise_handshake initiator_hs; /* CREATED_INITIATION for init0 */
	struct lr_noise_handshake responder_hs; /* the responder's state for the initiator */
	struct lr_cookie initiator_ck;          /* sent init0's mac1, no cookie yet */
	struct lr_cookie initiator_ck_cookie;   /* holds the cookie for src4 */
	struct lr_cookie responder_ck;          /* the responder's MAC state towards the initiator */
	struct lr_msg_initiation init0;
	struct lr_msg_response resp0;
	struct lr_msg_cookie cookie0;
	struct lr_noise_session_keys responder_keys;
	union lr_sockaddr src4, src6;
} w;

static void world_keys(void)
{
	uint8_t key[LR_KEY_LEN];

	memset(key, 0x11, sizeof(key));
	lr_noise_identity_set(&w.responder, key);
	memset(key, 0x22, sizeof(key));
	lr_noise_identity_set(&w.initiator, key);
	lr_cookie_checker_init(&w.checker_r, w.responder.static_public);
	lr_cookie_checker_init(&w.checker_i, w.initiator.static_public);
	w.src4.in4.sin_family = AF_INET;
	w.src4.in4.sin_addr.s_addr = htobe32(0xc0000202); /* 192.0.2.2 */
	w.src4.in4.sin_port = htobe16(51821);
	w.src6.in6.sin6_family = AF_INET6;
	w.src6.in6.sin6_addr.s6_addr[0] = 0x20;
	w.src6.in6.sin6_addr.s6_addr[1] = 0x01;
	w.src6.in6.sin6_addr.s6_addr[15] = 2;
	w.src6.in6.sin6_port = htobe16(51821);
}

/* init0 from the initiator, the responder's resp0 to it, and a cookie reply to init0. */
static void world_messages(void)
{
	struct lr_noise_initiation_result res;
	struct lr_noise_handshake hs;

	lr_noise_handshake_init(&w.initiator_hs, &w.initiator, w.responder.static_public, NULL);
	lr_cookie_init(&w.initiator_ck, w.responder.static_public);
	if (lr_noise_initiation_create(&w.init0, &w.initiator_hs, &w.initiator, INITIATOR_INDEX))
		abort();
	lr_cookie_add_macs(&w.initiator_ck, &w.init0, sizeof(w.init0), NOW_NS);

	lr_noise_handshake_init(&w.responder_hs, &w.responder, w.initiator.static_public, NULL);
	lr_cookie_init(&w.responder_ck, w.initiator.static_public);
	hs = w.responder_hs;
	if (lr_noise_initiation_consume(&w.init0, &w.responder, &res) ||
	    lr_noise_initiation_accept(&hs, &res, NOW_NS) ||
	    lr_noise_response_create(&w.resp0, &hs, RESPONDER_INDEX))
		abort();
	lr_cookie_add_macs(&w.responder_ck, &w.resp0, sizeof(w.resp0), NOW_NS);
	if (lr_noise_session_derive(&hs, &w.responder_keys))
		abort();
	lr_noise_initiation_result_clear(&res);

	lr_cookie_reply_create(&w.cookie0, &w.checker_r, &w.init0, sizeof(w.init0),
			       INITIATOR_INDEX, &w.src4, NOW_NS);
	w.initiator_ck_cookie = w.initiator_ck;
	if (lr_cookie_reply_consume(&w.initiator_ck_cookie, &w.cookie0, NOW_NS))
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	randombytes_set_implementation(&rng);
	if (lr_noise_init())
		abort();
	world_keys();
	world_messages();
	return 0;
}

/* ---- Per input ---- */

struct input {
	uint8_t flags;
	bool under_load;
	const union lr_sockaddr *src;
	bool genuine; /* the message is byte for byte the genuine one */
};

/* Builds the message of a handshake type into out (len bytes) from the fuzzer's bytes. */
static void message_build(void *out, const uint8_t *msg, size_t len, const void *genuine,
			  struct input *in)
{
	uint8_t *p = out;

	memcpy(p, msg, len);
	if (in->flags & F_XOR) {
		for (size_t i = sizeof(struct lr_msg_header); i < len; i++)
			p[i] ^= ((const uint8_t *)genuine)[i];
	}
	in->genuine = !memcmp(p, genuine, len);
}

/* Checks the macs as handshake.c does; false when the message goes no further. Under load, a
 * message without a cookie is answered with a cookie reply that its sender must be able to
 * open exactly when the message carried the mac1 it sent. */
static bool macs_check(struct lr_cookie_checker *checker, struct lr_cookie *sender, void *msg,
		       size_t len, const struct input *in)
{
	struct lr_msg_cookie reply;
	uint32_t sender_index;
	bool mac1_ours;

	switch (lr_cookie_validate_packet(checker, msg, len, in->src, in->under_load, NOW_NS)) {
	case LR_COOKIE_INVALID_MAC:
		return false;
	case LR_COOKIE_VALID_MAC_WITH_COOKIE:
		return true;
	case LR_COOKIE_VALID_MAC_NO_COOKIE:
		break;
	}
	if (!in->under_load)
		return true;
	memcpy(&sender_index, (uint8_t *)msg + sizeof(struct lr_msg_header), sizeof(sender_index));
	lr_cookie_reply_create(&reply, checker, msg, len, le32toh(sender_index), in->src, NOW_NS);
	mac1_ours = sender->have_sent_mac1 &&
		    !memcmp((uint8_t *)msg + len - sizeof(struct lr_msg_macs),
			    sender->last_mac1_sent, LR_COOKIE_LEN);
	if ((lr_cookie_reply_consume(sender, &reply, NOW_NS) == 0) != mac1_ours)
		abort();
	return false;
}

static void initiation_fuzz(const uint8_t *msg, struct input *in)
{
	struct lr_cookie_checker checker = w.checker_r;
	struct lr_cookie ck = w.initiator_ck;
	struct lr_noise_handshake hs = w.responder_hs;
	struct lr_noise_initiation_result res;
	struct lr_msg_initiation m;
	struct lr_msg_response resp;

	message_build(&m, msg, sizeof(m), &w.init0, in);
	if (in->flags & F_FIX_MACS) {
		struct lr_cookie fix = w.initiator_ck_cookie;

		lr_cookie_add_macs(&fix, &m, sizeof(m), NOW_NS);
		in->genuine = false;
	}
	if (!macs_check(&checker, &ck, &m, sizeof(m), in))
		return;
	if (lr_noise_initiation_consume(&m, &w.responder, &res)) {
		if (in->genuine)
			abort();
		return;
	}
	/* Only the initiator's key can be in a message that decrypted: nobody else has it. */
	if (sodium_memcmp(res.remote_static, w.initiator.static_public, LR_KEY_LEN))
		abort();
	/* The responder has accepted nothing yet, so the genuine initiation is new to it. */
	if (lr_noise_initiation_accept(&hs, &res, NOW_NS) == 0) {
		if (lr_noise_response_create(&resp, &hs, RESPONDER_INDEX))
			abort();
	} else if (in->genuine) {
		abort();
	}
	lr_noise_initiation_result_clear(&res);
}

/* A response that fails leaves the initiator's state as it was; the genuine one derives the
 * responder's keys, crosswise. */
static void response_fuzz(const uint8_t *msg, struct input *in)
{
	struct lr_cookie_checker checker = w.checker_i;
	struct lr_cookie ck = w.responder_ck;
	struct lr_noise_handshake hs = w.initiator_hs;
	struct lr_noise_session_keys keys;
	struct lr_msg_response m;

	message_build(&m, msg, sizeof(m), &w.resp0, in);
	if (in->flags & F_FIX_MACS) {
		struct lr_cookie fix = w.responder_ck;

		lr_cookie_add_macs(&fix, &m, sizeof(m), NOW_NS);
	}
	if (!macs_check(&checker, &ck, &m, sizeof(m), in))
		return;
	if (lr_noise_response_consume(&m, &hs, &w.initiator)) {
		if (in->genuine || memcmp(&hs, &w.initiator_hs, sizeof(hs)))
			abort();
		return;
	}
	if (lr_noise_session_derive(&hs, &keys))
		abort();
	if (in->genuine && (memcmp(keys.send, w.responder_keys.recv, LR_KEY_LEN) ||
			    memcmp(keys.recv, w.responder_keys.send, LR_KEY_LEN) ||
			    keys.remote_index != RESPONDER_INDEX))
		abort();
	lr_noise_session_keys_clear(&keys);
}

static void cookie_fuzz(const uint8_t *msg, struct input *in)
{
	struct lr_cookie ck = w.initiator_ck;
	struct lr_msg_cookie m;
	int ret;

	message_build(&m, msg, sizeof(m), &w.cookie0, in);
	ret = lr_cookie_reply_consume(&ck, &m, NOW_NS);
	if (in->genuine && (ret || !ck.is_valid ||
			    memcmp(ck.cookie, w.initiator_ck_cookie.cookie, LR_COOKIE_LEN)))
		abort();
	/* A cookie is consumed once per mac1: the same reply again must not refresh it. */
	if (!ret && !lr_cookie_reply_consume(&ck, &m, NOW_NS))
		abort();
}

/* The dispatch of receive.c: the whole first word is the type, each handshake type has one
 * size, and only the right size reaches the control thread. */
static void datagram_fuzz(const uint8_t *msg, size_t len, struct input *in)
{
	uint32_t type;

	if (len < sizeof(type))
		return;
	memcpy(&type, msg, sizeof(type));
	switch (le32toh(type)) {
	case LR_MSG_INITIATION:
		if (len == sizeof(struct lr_msg_initiation))
			initiation_fuzz(msg, in);
		break;
	case LR_MSG_RESPONSE:
		if (len == sizeof(struct lr_msg_response))
			response_fuzz(msg, in);
		break;
	case LR_MSG_COOKIE:
		if (len == sizeof(struct lr_msg_cookie))
			cookie_fuzz(msg, in);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lr_cookie_checker checker = w.checker_r;
	struct input in;
	uint8_t *msg;
	size_t len;

	if (size < 1)
		return 0;
	rng_counter = 1ULL << 32;
	in.flags = data[0];
	in.under_load = in.flags & F_UNDER_LOAD;
	in.src = in.flags & F_SRC6 ? &w.src6 : &w.src4;
	len = size - 1;
	/* Exactly len bytes on the heap, so any read past the datagram is caught. */
	msg = malloc(len ? len : 1);
	if (!msg)
		abort();
	memcpy(msg, data + 1, len);
	/* mac checking takes any length (it refuses what cannot hold the macs). */
	lr_cookie_validate_packet(&checker, msg, len, in.src, in.under_load, NOW_NS);
	datagram_fuzz(msg, len, &in);
	free(msg);
	return 0;
}
