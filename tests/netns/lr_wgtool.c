/* A WireGuard-speaking test client for the netns scenarios: it sends an engine malformed and
 * hostile datagrams (garbage, bad mac1, unknown keys, floods, replays, forged tags) and acts as
 * a real peer when asked, printing what it sent and saw as key=value lines for the script.
 * Test-only: the scripts aim it only at namespaces they created. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "crypto/aead.h"
#include "crypto/cookie.h"
#include "crypto/messages.h"
#include "crypto/noise.h"

/* ---- Drop causes the tool predicts (names as dataplane/stats.h spells them) ---- */

enum cause {
	C_RUNT,
	C_UNKNOWN_TYPE,
	C_BAD_HANDSHAKE_SIZE,
	C_UNKNOWN_INDEX,
	C_MAC1_INVALID,
	C_UNEXPECTED_RESPONSE,
	C_UNKNOWN_PEER,
	C_DECRYPT_FAILED,
	C_REPLAY,
	C_BAD_INNER_PACKET,
	C_INNER_SRC_NOT_ALLOWED,
	C_EXPIRED_SESSION,
	C_HANDSHAKE_REPLAYED,
	C_COUNT
};

static const char *const cause_names[C_COUNT] = {
	"runt",		 "unknown_type",     "bad_handshake_size",    "unknown_index",
	"mac1_invalid",	 "unexpected_response", "unknown_peer",	      "decrypt_failed",
	"replay",	 "bad_inner_packet", "inner_src_not_allowed", "expired_session",
	"handshake_replayed",
};

static unsigned long expected[C_COUNT];

/* Every cause is printed, zeros too: the script then checks that an attack moved exactly the
 * counters it should and no others among these. */
static void expected_print(void)
{
	for (int i = 0; i < C_COUNT; i++)
		printf("expect_%s=%lu\n", cause_names[i], expected[i]);
}

/* ---- Sockets ---- */

struct target {
	int fd;
	union lr_sockaddr addr;
	unsigned long sent;
};

static int target_open(struct target *t, const char *host, const char *port)
{
	char *end;
	unsigned long p = strtoul(port, &end, 10);
	int rcvbuf = 4 << 20;

	memset(t, 0, sizeof(*t));
	if (*end || !p || p > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &t->addr.in4.sin_addr) == 1) {
		t->addr.in4.sin_family = AF_INET;
		t->addr.in4.sin_port = htons((uint16_t)p);
	} else if (inet_pton(AF_INET6, host, &t->addr.in6.sin6_addr) == 1) {
		t->addr.in6.sin6_family = AF_INET6;
		t->addr.in6.sin6_port = htons((uint16_t)p);
	} else {
		return -EINVAL;
	}
	t->fd = socket(t->addr.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return -errno;
	/* Cookie replies to a flood arrive faster than we read them between bursts. */
	setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Connected: only the engine's datagrams reach us, and ICMP errors surface. */
	if (connect(t->fd, &t->addr.sa, lr_sockaddr_len(&t->addr)) < 0) {
		close(t->fd);
		return -errno;
	}
	return 0;
}

/* Sends one datagram; a full socket buffer is waited out, any other error is fatal. */
static int target_send(struct target *t, const void *buf, size_t len)
{
	for (int tries = 0; tries < 1000; tries++) {
		if (send(t->fd, buf, len, 0) == (ssize_t)len) {
			t->sent++;
			return 0;
		}
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			return -errno;
		poll(NULL, 0, 1);
	}
	return -ENOBUFS;
}

/* Paced sending: an engine drains its socket in bursts, and a scenario that counts drops by
 * cause must not lose datagrams to a full receive buffer on the way in. A 64 KB datagram alone
 * takes a good part of a default 208 KB buffer once reassembled, so it gets its own pause. */
static int target_send_paced(struct target *t, const void *buf, size_t len)
{
	int ret = target_send(t, buf, len);

	if (!ret && (t->sent % 16 == 0 || len > 8192))
		poll(NULL, 0, len > 8192 ? 20 : 2);
	return ret;
}

/* One datagram, or 0 after timeout_ms (negative errno on error; an ICMP error is not one). */
static ssize_t target_recv(struct target *t, void *buf, size_t cap, int timeout_ms)
{
	struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return 0;
		n = recv(t->fd, buf, cap, MSG_DONTWAIT);
		if (n > 0)
			return n;
		if (n == 0 || errno == ECONNREFUSED || errno == EAGAIN || errno == EINTR)
			continue;
		return -errno;
	}
}

static int elapsed_ms(uint64_t since_ns)
{
	return (int)((lr_now_ns() - since_ns) / LR_NSEC_PER_MSEC);
}

/* ---- Arguments ---- */

static int key_from_b64(uint8_t key[LR_KEY_LEN], const char *text)
{
	size_t len = 0;

	if (sodium_base642bin(key, LR_KEY_LEN, text, strlen(text), " \n", &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) || len != LR_KEY_LEN)
		return -EINVAL;
	return 0;
}

/* Private keys come from files (as `wg genkey` writes them), never from argv. */
static int key_from_file(uint8_t key[LR_KEY_LEN], const char *path)
{
	char text[128] = { 0 };
	FILE *f = fopen(path, "r");
	int ret;

	if (!f)
		return -errno;
	ret = fgets(text, sizeof(text), f) ? key_from_b64(key, text) : -EINVAL;
	fclose(f);
	sodium_memzero(text, sizeof(text));
	return ret;
}

static int count_parse(unsigned long *out, const char *text, unsigned long max)
{
	char *end;

	errno = 0;
	*out = strtoul(text, &end, 10);
	return errno || *end || !*text || *out > max ? -EINVAL : 0;
}

static int ip4_parse(struct in_addr *out, const char *text)
{
	return inet_pton(AF_INET, text, out) == 1 ? 0 : -EINVAL;
}

/* ---- Handshake messages from throwaway identities ---- */

/* An initiation to responder from a fresh random static key, MACed through ck (which must be
 * initialised for responder): a valid mac1, and a mac2 if ck holds a cookie. */
static int initiation_from_unknown(struct lr_msg_initiation *msg, struct lr_cookie *ck,
				   const uint8_t responder[LR_KEY_LEN], uint32_t index)
{
	struct lr_noise_identity id;
	struct lr_noise_handshake hs;
	uint8_t priv[LR_KEY_LEN];
	int ret;

	randombytes_buf(priv, sizeof(priv));
	lr_noise_identity_set(&id, priv);
	lr_noise_handshake_init(&hs, &id, responder, NULL);
	ret = lr_noise_initiation_create(msg, &hs, &id, index);
	if (!ret)
		lr_cookie_add_macs(ck, msg, sizeof(*msg), lr_now_ns());
	lr_noise_handshake_destroy(&hs);
	lr_noise_identity_clear(&id);
	sodium_memzero(priv, sizeof(priv));
	return ret;
}

static uint32_t msg_type(const uint8_t *buf, size_t len)
{
	uint32_t type;

	if (len < sizeof(type))
		return 0;
	memcpy(&type, buf, sizeof(type));
	return le32toh(type);
}

/* Replies the engine sent to one of the attacks that should never be answered. */
struct reply_tally {
	unsigned long cookies;
	unsigned long responses;
	unsigned long other;
};

static void reply_tally_add(struct reply_tally *r, const uint8_t *buf, size_t len)
{
	uint32_t type = msg_type(buf, len);

	if (type == LR_MSG_COOKIE && len == sizeof(struct lr_msg_cookie))
		r->cookies++;
	else if (type == LR_MSG_RESPONSE && len == sizeof(struct lr_msg_response))
		r->responses++;
	else
		r->other++;
}

/* Collects whatever arrives for linger_ms more. */
static void reply_tally_collect(struct reply_tally *r, struct target *t, int linger_ms)
{
	uint8_t buf[2048];
	uint64_t start = lr_now_ns();
	ssize_t n;

	while (elapsed_ms(start) < linger_ms) {
		n = target_recv(t, buf, sizeof(buf), linger_ms - elapsed_ms(start));
		if (n <= 0)
			break;
		reply_tally_add(r, buf, (size_t)n);
	}
}

static void reply_tally_print(const struct reply_tally *r)
{
	printf("replies_cookie=%lu\nreplies_response=%lu\nreplies_other=%lu\n", r->cookies,
	       r->responses, r->other);
}

/* ---- garbage / empty ---- */

/* What a WireGuard receiver must make of a datagram, from the protocol alone: the message type
 * is the whole first little-endian word (three reserved zero bytes), each handshake type has
 * one size, a data message needs 16 header + 16 tag bytes. Random content never carries a valid
 * mac1 or a live receiver index (2^-128 and n/2^32). */
static enum cause garbage_classify(const uint8_t *buf, size_t len)
{
	static const size_t sizes[] = { 0, sizeof(struct lr_msg_initiation),
					sizeof(struct lr_msg_response),
					sizeof(struct lr_msg_cookie) };
	uint32_t type;

	if (len < sizeof(uint32_t))
		return C_RUNT;
	type = msg_type(buf, len);
	if (type == LR_MSG_DATA)
		return len < LR_DATA_OVERHEAD ? C_RUNT : C_UNKNOWN_INDEX;
	if (type < LR_MSG_INITIATION || type > LR_MSG_COOKIE)
		return C_UNKNOWN_TYPE;
	if (len != sizes[type])
		return C_BAD_HANDSHAKE_SIZE;
	return type == LR_MSG_COOKIE ? C_UNEXPECTED_RESPONSE : C_MAC1_INVALID;
}

static int garbage_send(struct target *t, uint8_t *buf, size_t len)
{
	expected[garbage_classify(buf, len)]++;
	return target_send_paced(t, buf, len);
}

/* Each type with lengths around its own: no header, header only, one short, exact, one long,
 * a full Ethernet frame, and a 64 KB datagram that arrives in IP fragments. */
static int garbage_typed(struct target *t, uint8_t *buf)
{
	static const size_t sizes[] = { 0, 148, 92, 64, 32 };
	int ret = 0;

	for (uint32_t type = LR_MSG_INITIATION; type <= LR_MSG_DATA && !ret; type++) {
		const size_t s = sizes[type];
		const size_t lens[] = { 1, 3, 4, 5, s - 1, s, s + 1, s + 16, 1472, 65000 };

		for (size_t i = 0; i < LR_ARRAY_SIZE(lens) && !ret; i++) {
			randombytes_buf(buf, lens[i]);
			buf[0] = (uint8_t)type;
			if (lens[i] >= 4)
				memset(buf + 1, 0, 3);
			ret = garbage_send(t, buf, lens[i]);
		}
		/* The right size but a non-zero reserved byte: not this type at all. */
		randombytes_buf(buf, s);
		memcpy(buf, (uint8_t[]){ (uint8_t)type, 0, 0, 1 }, 4);
		if (!ret)
			ret = garbage_send(t, buf, s);
	}
	return ret;
}

static int cmd_garbage(int argc, char **argv)
{
	static uint8_t buf[65536];
	struct reply_tally replies = { 0 };
	unsigned long count;
	struct target t;
	int ret;

	if (argc != 3 || count_parse(&count, argv[2], 1000000))
		return -EINVAL;
	ret = target_open(&t, argv[0], argv[1]);
	if (ret)
		return ret;
	for (unsigned long i = 0; i < count && !ret; i++) {
		size_t len = 1 + randombytes_uniform(2000);

		randombytes_buf(buf, len);
		ret = garbage_send(&t, buf, len);
	}
	if (!ret)
		ret = garbage_typed(&t, buf);
	reply_tally_collect(&replies, &t, 500);
	printf("sent=%lu\n", t.sent);
	reply_tally_print(&replies);
	expected_print();
	close(t.fd);
	return ret;
}

/* Zero-length datagrams: legal UDP, and shorter than any message. */
static int cmd_empty(int argc, char **argv)
{
	struct reply_tally replies = { 0 };
	unsigned long count;
	struct target t;
	int ret;

	if (argc != 3 || count_parse(&count, argv[2], 1000000))
		return -EINVAL;
	ret = target_open(&t, argv[0], argv[1]);
	if (ret)
		return ret;
	for (unsigned long i = 0; i < count && !ret; i++)
		ret = target_send_paced(&t, "", 0);
	expected[C_RUNT] = t.sent;
	reply_tally_collect(&replies, &t, 300);
	printf("sent=%lu\n", t.sent);
	reply_tally_print(&replies);
	expected_print();
	close(t.fd);
	return ret;
}

/* ---- initiate-unknown / bad-mac1 ---- */

static int cmd_initiate_unknown(int argc, char **argv)
{
	struct reply_tally replies = { 0 };
	uint8_t responder[LR_KEY_LEN];
	struct lr_msg_initiation msg;
	struct lr_cookie ck;
	unsigned long count;
	struct target t;
	int ret;

	if (argc != 4 || key_from_b64(responder, argv[2]) || count_parse(&count, argv[3], 100000))
		return -EINVAL;
	ret = target_open(&t, argv[0], argv[1]);
	if (ret)
		return ret;
	lr_cookie_init(&ck, responder);
	for (unsigned long i = 0; i < count && !ret; i++) {
		ret = initiation_from_unknown(&msg, &ck, responder, randombytes_random());
		if (!ret)
			ret = target_send_paced(&t, &msg, sizeof(msg));
	}
	expected[C_UNKNOWN_PEER] = t.sent;
	reply_tally_collect(&replies, &t, 500);
	printf("sent=%lu\n", t.sent);
	reply_tally_print(&replies);
	expected_print();
	lr_cookie_destroy(&ck);
	close(t.fd);
	return ret;
}

/* Four ways to get mac1 wrong on otherwise well-formed messages: one bit off, keyed with some
 * other responder's public key, all zero, and a response whose mac1 is off by one bit. */
static void bad_mac1_make(uint8_t *buf, size_t *len, const uint8_t responder[LR_KEY_LEN],
			  unsigned long i)
{
	struct lr_msg_initiation *init = (struct lr_msg_initiation *)buf;
	struct lr_msg_response *resp = (struct lr_msg_response *)buf;
	uint8_t other[LR_KEY_LEN];
	struct lr_cookie ck;

	randombytes_buf(other, sizeof(other));
	lr_cookie_init(&ck, i % 4 == 1 ? other : responder);
	*len = sizeof(*init);
	initiation_from_unknown(init, &ck, i % 4 == 1 ? other : responder, randombytes_random());
	switch (i % 4) {
	case 0:
		init->macs.mac1[randombytes_uniform(LR_COOKIE_LEN)] ^=
			(uint8_t)(1u << randombytes_uniform(8));
		break;
	case 2:
		memset(&init->macs, 0, sizeof(init->macs));
		break;
	case 3:
		randombytes_buf(resp, sizeof(*resp));
		resp->header.type = htole32(LR_MSG_RESPONSE);
		lr_cookie_add_macs(&ck, resp, sizeof(*resp), lr_now_ns());
		resp->macs.mac1[0] ^= 0x80;
		*len = sizeof(*resp);
		break;
	}
	lr_cookie_destroy(&ck);
}

static int cmd_bad_mac1(int argc, char **argv)
{
	struct reply_tally replies = { 0 };
	uint8_t responder[LR_KEY_LEN];
	uint8_t buf[sizeof(struct lr_msg_initiation)];
	unsigned long count;
	struct target t;
	size_t len;
	int ret;

	if (argc != 4 || key_from_b64(responder, argv[2]) || count_parse(&count, argv[3], 100000))
		return -EINVAL;
	ret = target_open(&t, argv[0], argv[1]);
	if (ret)
		return ret;
	for (unsigned long i = 0; i < count && !ret; i++) {
		bad_mac1_make(buf, &len, responder, i);
		ret = target_send_paced(&t, buf, len);
	}
	expected[C_MAC1_INVALID] = t.sent;
	reply_tally_collect(&replies, &t, 500);
	printf("sent=%lu\n", t.sent);
	reply_tally_print(&replies);
	expected_print();
	close(t.fd);
	return ret;
}

/* ---- flood ---- */

#define FLOOD_POOL 256
#define FLOOD_BURST 64

/* Precomputed initiations from unknown keys, each with the cookie state its mac1 belongs to,
 * so that every cookie reply can be authenticated as an answer to what we sent. */
struct flood {
	struct target t;
	bool honour;
	uint32_t index_base;
	struct lr_msg_initiation msgs[FLOOD_POOL];
	struct lr_cookie cookies[FLOOD_POOL];
	unsigned next;
	unsigned long send_blocked;
	unsigned long cookie_replies;
	unsigned long cookie_valid;
	unsigned long with_mac2;
	struct reply_tally other;
};

static int flood_prepare(struct flood *f, const uint8_t responder[LR_KEY_LEN])
{
	f->index_base = randombytes_random() & 0x7fffffff;
	for (unsigned i = 0; i < FLOOD_POOL; i++) {
		lr_cookie_init(&f->cookies[i], responder);
		if (initiation_from_unknown(&f->msgs[i], &f->cookies[i], responder,
					    f->index_base + i))
			return -EIO;
	}
	return 0;
}

/* A cookie reply for one of our messages: authenticate it against that message's mac1. With
 * honour, the message is re-MACed so that from now on it carries a valid mac2 for our address,
 * as a well-behaved (but unknown) initiator would. */
static void flood_cookie(struct flood *f, const struct lr_msg_cookie *reply)
{
	uint32_t slot = le32toh(reply->receiver_index) - f->index_base;
	struct lr_cookie *ck;

	f->cookie_replies++;
	if (slot >= FLOOD_POOL)
		return;
	ck = &f->cookies[slot];
	if (lr_cookie_reply_consume(ck, reply, lr_now_ns()))
		return;
	f->cookie_valid++;
	/* We keep sending the same mac1, so later replies to it are just as authentic. */
	ck->have_sent_mac1 = true;
	if (f->honour) {
		lr_cookie_add_macs(ck, &f->msgs[slot], sizeof(f->msgs[slot]), lr_now_ns());
		f->with_mac2++;
	}
}

static void flood_drain(struct flood *f)
{
	uint8_t buf[FLOOD_BURST][128];
	struct mmsghdr vec[FLOOD_BURST];
	struct iovec iov[FLOOD_BURST];
	int n;

	do {
		memset(vec, 0, sizeof(vec));
		for (int i = 0; i < FLOOD_BURST; i++) {
			iov[i] = (struct iovec){ .iov_base = buf[i], .iov_len = sizeof(buf[i]) };
			vec[i].msg_hdr.msg_iov = &iov[i];
			vec[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(f->t.fd, vec, FLOOD_BURST, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			if (msg_type(buf[i], vec[i].msg_len) == LR_MSG_COOKIE &&
			    vec[i].msg_len == sizeof(struct lr_msg_cookie))
				flood_cookie(f, (const void *)buf[i]);
			else
				reply_tally_add(&f->other, buf[i], vec[i].msg_len);
		}
	} while (n == FLOOD_BURST || (n < 0 && errno == ECONNREFUSED));
}

static void flood_burst(struct flood *f)
{
	struct mmsghdr vec[FLOOD_BURST];
	struct iovec iov[FLOOD_BURST];
	struct pollfd pfd = { .fd = f->t.fd, .events = POLLOUT };
	int n;

	memset(vec, 0, sizeof(vec));
	for (int i = 0; i < FLOOD_BURST; i++) {
		iov[i].iov_base = &f->msgs[(f->next + (unsigned)i) % FLOOD_POOL];
		iov[i].iov_len = sizeof(struct lr_msg_initiation);
		vec[i].msg_hdr.msg_iov = &iov[i];
		vec[i].msg_hdr.msg_iovlen = 1;
	}
	n = sendmmsg(f->t.fd, vec, FLOOD_BURST, MSG_DONTWAIT);
	if (n > 0) {
		f->t.sent += (unsigned long)n;
		f->next = (f->next + (unsigned)n) % FLOOD_POOL;
	} else {
		/* Full socket buffer (or an ICMP error to clear): wait a little, never spin. */
		f->send_blocked++;
		poll(&pfd, 1, 1);
	}
}

static int cmd_flood(int argc, char **argv)
{
	static struct flood f;
	uint8_t responder[LR_KEY_LEN];
	unsigned long seconds;
	uint64_t start;
	int ret;

	if ((argc != 4 && argc != 5) || key_from_b64(responder, argv[2]) ||
	    count_parse(&seconds, argv[3], 3600) || (argc == 5 && strcmp(argv[4], "honour")))
		return -EINVAL;
	f.honour = argc == 5;
	ret = target_open(&f.t, argv[0], argv[1]);
	if (ret)
		return ret;
	ret = flood_prepare(&f, responder);
	start = lr_now_ns();
	while (!ret && lr_now_ns() - start < seconds * LR_NSEC_PER_SEC) {
		flood_burst(&f);
		flood_drain(&f);
	}
	/* Replies still queued at the engine. */
	poll(NULL, 0, 300);
	flood_drain(&f);
	printf("sent=%lu\nseconds=%lu\nrate_per_s=%lu\nsend_blocked=%lu\n", f.t.sent, seconds,
	       f.t.sent / (seconds ? seconds : 1), f.send_blocked);
	printf("cookie_replies=%lu\ncookie_valid=%lu\nhonoured=%lu\n", f.cookie_replies,
	       f.cookie_valid, f.with_mac2);
	reply_tally_print(&f.other);
	close(f.t.fd);
	return ret;
}

/* ---- A real peer: handshake, transport data, and attacks from inside a session ---- */

struct session {
	struct target t;
	struct lr_noise_identity id;
	struct lr_noise_handshake hs;
	struct lr_cookie ck;
	struct lr_noise_session_keys keys;
	uint64_t counter; /* next counter to send */
	struct in_addr inner_src;
	struct in_addr inner_dst;
	uint16_t echo_id;
	uint16_t echo_seq;
	struct lr_msg_initiation last_initiation; /* the one that got the response */
	unsigned long cookie_replies;
	unsigned long initiations;
};

static void session_destroy(struct session *s)
{
	lr_noise_handshake_destroy(&s->hs);
	lr_noise_identity_clear(&s->id);
	lr_noise_session_keys_clear(&s->keys);
	lr_cookie_destroy(&s->ck);
	if (s->t.fd > 0)
		close(s->t.fd);
}

/* argv: HOST PORT RESPONDER_PUB KEYFILE INNER_SRC INNER_DST */
static int session_open(struct session *s, char **argv)
{
	uint8_t responder[LR_KEY_LEN];
	uint8_t priv[LR_KEY_LEN];
	int ret;

	memset(s, 0, sizeof(*s));
	s->t.fd = -1;
	if (key_from_b64(responder, argv[2]) || ip4_parse(&s->inner_src, argv[4]) ||
	    ip4_parse(&s->inner_dst, argv[5]))
		return -EINVAL;
	ret = key_from_file(priv, argv[3]);
	if (ret)
		return ret;
	lr_noise_identity_set(&s->id, priv);
	sodium_memzero(priv, sizeof(priv));
	if (!s->id.has_identity)
		return -EINVAL;
	lr_noise_handshake_init(&s->hs, &s->id, responder, NULL);
	lr_cookie_init(&s->ck, responder);
	s->echo_id = (uint16_t)randombytes_random();
	return target_open(&s->t, argv[0], argv[1]);
}

static int session_send_initiation(struct session *s)
{
	struct lr_msg_initiation msg;
	int ret;

	ret = lr_noise_initiation_create(&msg, &s->hs, &s->id, randombytes_random());
	if (ret)
		return ret;
	/* Carries mac2 once a cookie reply told us our cookie (whitepaper 5.4.7). */
	lr_cookie_add_macs(&s->ck, &msg, sizeof(msg), lr_now_ns());
	s->initiations++;
	s->last_initiation = msg;
	return target_send(&s->t, &msg, sizeof(msg));
}

/* 1: handshake done; 0: not for us or not yet; -EAGAIN: a cookie arrived, send again now. */
static int session_handshake_reply(struct session *s, const uint8_t *buf, size_t len)
{
	uint32_t type = msg_type(buf, len);

	if (type == LR_MSG_COOKIE && len == sizeof(struct lr_msg_cookie)) {
		const struct lr_msg_cookie *c = (const void *)buf;

		if (le32toh(c->receiver_index) != s->hs.local_index ||
		    lr_cookie_reply_consume(&s->ck, c, lr_now_ns()))
			return 0;
		s->cookie_replies++;
		return -EAGAIN;
	}
	if (type != LR_MSG_RESPONSE || len != sizeof(struct lr_msg_response))
		return 0;
	if (lr_noise_response_consume((const void *)buf, &s->hs, &s->id))
		return 0;
	if (lr_noise_session_derive(&s->hs, &s->keys))
		return -EIO;
	return 1;
}

/* Initiates until a response completes the handshake. Retransmits every second (faster than
 * REKEY_TIMEOUT: this is a test client, and each try is a new initiation) and at once after a
 * cookie reply, which is what lets it in while the engine is under load. */
static int session_handshake(struct session *s, int timeout_ms)
{
	uint64_t start = lr_now_ns(), last = 0;
	uint8_t buf[2048];
	ssize_t n;
	int ret;

	while (elapsed_ms(start) < timeout_ms) {
		if (!last || elapsed_ms(last) >= 1000) {
			ret = session_send_initiation(s);
			if (ret)
				return ret;
			last = lr_now_ns();
		}
		n = target_recv(&s->t, buf, sizeof(buf), 100);
		if (n < 0)
			return (int)n;
		ret = n ? session_handshake_reply(s, buf, (size_t)n) : 0;
		if (ret == 1)
			return 0;
		if (ret == -EAGAIN)
			last = 0;
		else if (ret < 0)
			return ret;
	}
	return -ETIMEDOUT;
}

static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#define ECHO_PAYLOAD 32
#define ECHO_LEN (20 + 8 + ECHO_PAYLOAD)

/* An IPv4 ICMP echo request src -> dst with this session's id and the given sequence. */
static size_t echo_build(uint8_t *p, struct in_addr src, struct in_addr dst, uint16_t id,
			 uint16_t seq)
{
	uint16_t csum;

	memset(p, 0, ECHO_LEN);
	p[0] = 0x45;
	p[2] = ECHO_LEN >> 8;
	p[3] = ECHO_LEN & 0xff;
	p[6] = 0x40; /* DF */
	p[8] = 64;   /* TTL */
	p[9] = IPPROTO_ICMP;
	memcpy(p + 12, &src, 4);
	memcpy(p + 16, &dst, 4);
	csum = inet_csum(p, 20);
	p[10] = (uint8_t)(csum >> 8);
	p[11] = (uint8_t)csum;
	p[20] = 8; /* echo request */
	p[24] = (uint8_t)(id >> 8);
	p[25] = (uint8_t)id;
	p[26] = (uint8_t)(seq >> 8);
	p[27] = (uint8_t)seq;
	memset(p + 28, 0xa5, ECHO_PAYLOAD);
	csum = inet_csum(p + 20, 8 + ECHO_PAYLOAD);
	p[22] = (uint8_t)(csum >> 8);
	p[23] = (uint8_t)csum;
	return ECHO_LEN;
}

#define DGRAM_MAX (sizeof(struct lr_msg_data) + 1500 + LR_TAG_LEN)

/* A transport message carrying plain (padded to 16 as the whitepaper says) under counter. */
static size_t data_build(const struct session *s, uint8_t *out, const uint8_t *plain,
			 size_t len, uint64_t counter)
{
	struct lr_msg_data *hdr = (struct lr_msg_data *)out;
	size_t padded = (len + LR_PADDING_MULTIPLE - 1) / LR_PADDING_MULTIPLE * LR_PADDING_MULTIPLE;

	hdr->header.type = htole32(LR_MSG_DATA);
	hdr->receiver_index = htole32(s->keys.remote_index);
	hdr->counter = htole64(counter);
	memcpy(hdr->encrypted_data, plain, len);
	memset(hdr->encrypted_data + len, 0, padded - len);
	lr_aead_seal(hdr->encrypted_data, hdr->encrypted_data, padded, NULL, 0, counter,
		     s->keys.send);
	return sizeof(*hdr) + padded + LR_TAG_LEN;
}

/* An echo request from src under counter; the datagram is left in out for replaying. */
static size_t echo_datagram(struct session *s, uint8_t *out, struct in_addr src, uint64_t counter)
{
	uint8_t ip[ECHO_LEN];

	echo_build(ip, src, s->inner_dst, s->echo_id, ++s->echo_seq);
	return data_build(s, out, ip, sizeof(ip), counter);
}

/* Is this decrypted packet an echo reply to us? */
static bool echo_is_reply(const struct session *s, const uint8_t *p, size_t len)
{
	return len >= 28 && p[0] == 0x45 && p[9] == IPPROTO_ICMP && p[20] == 0 &&
	       !memcmp(p + 12, &s->inner_dst, 4) && !memcmp(p + 16, &s->inner_src, 4) &&
	       p[24] == (uint8_t)(s->echo_id >> 8) && p[25] == (uint8_t)s->echo_id;
}

/* Counts echo replies that arrive within timeout_ms, returning early once want arrived. */
static unsigned long echo_collect(struct session *s, unsigned long want, int timeout_ms)
{
	uint8_t buf[DGRAM_MAX + 64];
	uint64_t start = lr_now_ns();
	unsigned long got = 0;
	ssize_t n;

	while (got < want && elapsed_ms(start) < timeout_ms) {
		const struct lr_msg_data *hdr = (const void *)buf;
		size_t clen;

		n = target_recv(&s->t, buf, sizeof(buf), timeout_ms - elapsed_ms(start));
		if (n <= 0)
			break;
		if (msg_type(buf, (size_t)n) != LR_MSG_DATA || (size_t)n < LR_DATA_OVERHEAD ||
		    le32toh(hdr->receiver_index) != s->keys.local_index)
			continue;
		clen = (size_t)n - sizeof(*hdr);
		if (!lr_aead_open(buf + sizeof(*hdr), buf + sizeof(*hdr), clen, NULL, 0,
				  le64toh(hdr->counter), s->keys.recv))
			continue;
		got += echo_is_reply(s, buf + sizeof(*hdr), clen - LR_TAG_LEN);
	}
	return got;
}

/* One echo under a fresh counter; true if its reply came back. */
static bool echo_roundtrip(struct session *s, uint64_t counter, int timeout_ms)
{
	uint8_t dgram[DGRAM_MAX];
	size_t len = echo_datagram(s, dgram, s->inner_src, counter);

	return !target_send(&s->t, dgram, len) && echo_collect(s, 1, timeout_ms) == 1;
}

static int session_start(struct session *s, char **argv, int timeout_ms)
{
	uint64_t start = lr_now_ns();
	int ret = session_open(s, argv);

	if (ret)
		return ret;
	ret = session_handshake(s, timeout_ms);
	printf("handshake=%s\nhandshake_ms=%d\ninitiations=%lu\ncookie_replies=%lu\n",
	       ret ? "failed" : "ok", elapsed_ms(start), s->initiations, s->cookie_replies);
	return ret;
}

/* `connect`: handshake (honouring cookies) and one ping through the tunnel. */
static int cmd_connect(int argc, char **argv)
{
	struct session s;
	unsigned long timeout;
	bool ok = false;
	int ret;

	if (argc != 7 || count_parse(&timeout, argv[6], 600))
		return -EINVAL;
	ret = session_start(&s, argv, (int)timeout * 1000);
	for (int i = 0; !ret && !ok && i < 5; i++)
		ok = echo_roundtrip(&s, s.counter++, 1000);
	if (!ret)
		printf("echo=%s\n", ok ? "ok" : "failed");
	session_destroy(&s);
	return ret ? ret : ok ? 0 : -ETIMEDOUT;
}

/* The in-session attacks of `replay`, each counted as the cause it must be dropped for. */
struct replay_run {
	struct session s;
	struct in_addr spoof;
	unsigned long n;
	uint8_t (*saved)[DGRAM_MAX];
	size_t *saved_len;
};

/* Genuine echoes, then the very same datagrams again: none may be answered twice. */
static int replay_genuine_then_again(struct replay_run *r)
{
	unsigned long got;
	int ret = 0;

	for (unsigned long i = 0; i < r->n && !ret; i++) {
		r->saved_len[i] = echo_datagram(&r->s, r->saved[i], r->s.inner_src, r->s.counter++);
		ret = target_send_paced(&r->s.t, r->saved[i], r->saved_len[i]);
	}
	got = ret ? 0 : echo_collect(&r->s, r->n, 3000);
	printf("echo_sent=%lu\necho_replies=%lu\n", r->n, got);
	for (unsigned long i = 0; i < r->n && !ret; i++)
		ret = target_send_paced(&r->s.t, r->saved[i], r->saved_len[i]);
	got = ret ? 0 : echo_collect(&r->s, r->n, 1000);
	printf("replayed=%lu\nreplies_to_replays=%lu\n", r->n, got);
	expected[C_REPLAY] += r->n;
	return ret;
}

/* Forged tags, half of them under counters far ahead: if a forgery could move the replay window,
 * the genuine packet sent after them would be refused as too old. */
static int replay_bad_tags(struct replay_run *r)
{
	uint8_t dgram[DGRAM_MAX];
	int ret = 0;

	for (unsigned long i = 0; i < r->n && !ret; i++) {
		uint64_t counter = i % 2 ? (1ULL << 40) + i : r->s.counter + i;
		size_t len = echo_datagram(&r->s, dgram, r->s.inner_src, counter);

		dgram[len - 1] ^= 0x01;
		ret = target_send_paced(&r->s.t, dgram, len);
	}
	expected[C_DECRYPT_FAILED] += r->n;
	printf("bad_tag=%lu\n", r->n);
	if (!ret)
		printf("echo_after_bad_tags=%s\n",
		       echo_roundtrip(&r->s, r->s.counter++, 2000) ? "ok" : "failed");
	return ret;
}

/* Authentic packets whose inner source is another peer's address (cryptokey routing must
 * refuse them) or that are no IP packet at all. */
static int replay_bad_inner(struct replay_run *r)
{
	uint8_t dgram[DGRAM_MAX], junk[40];
	int ret = 0;

	for (unsigned long i = 0; i < r->n && !ret; i++) {
		size_t len = echo_datagram(&r->s, dgram, r->spoof, r->s.counter++);

		ret = target_send_paced(&r->s.t, dgram, len);
	}
	expected[C_INNER_SRC_NOT_ALLOWED] += r->n;
	printf("spoofed_src=%lu\n", r->n);
	for (unsigned long i = 0; i < r->n && !ret; i++) {
		size_t len;

		randombytes_buf(junk, sizeof(junk));
		junk[0] &= 0x0f; /* IP version 0 */
		len = data_build(&r->s, dgram, junk, sizeof(junk), r->s.counter++);
		ret = target_send_paced(&r->s.t, dgram, len);
	}
	expected[C_BAD_INNER_PACKET] += r->n;
	printf("not_ip=%lu\n", r->n);
	return ret;
}

/* A counter that has fallen out of the window (8192 - 64 as the kernel) after a jump ahead,
 * and one at REJECT_AFTER_MESSAGES, which no session may use. */
static int replay_counter_edges(struct replay_run *r)
{
	uint64_t old = r->s.counter;
	uint8_t dgram[DGRAM_MAX];
	size_t len;
	bool ok;
	int ret;

	r->s.counter += 10000;
	ok = echo_roundtrip(&r->s, r->s.counter++, 2000);
	printf("echo_after_jump=%s\n", ok ? "ok" : "failed");
	len = echo_datagram(&r->s, dgram, r->s.inner_src, old);
	ret = target_send(&r->s.t, dgram, len);
	expected[C_REPLAY]++;
	printf("replies_to_too_old=%lu\n", ret ? 0 : echo_collect(&r->s, 1, 1000));
	len = echo_datagram(&r->s, dgram, r->s.inner_src, LR_REJECT_AFTER_MESSAGES);
	if (!ret)
		ret = target_send(&r->s.t, dgram, len);
	expected[C_EXPIRED_SESSION]++;
	printf("replies_to_exhausted=%lu\n", ret ? 0 : echo_collect(&r->s, 1, 1000));
	return ret;
}

/* The initiation that opened the session, sent again byte for byte: its timestamp is not newer
 * than the last one the responder accepted, so it must neither be answered nor disturb the
 * session (whitepaper 5.1, "replay attack" on the first message). */
static int replay_initiation(struct replay_run *r)
{
	struct reply_tally replies = { 0 };
	int ret;

	ret = target_send(&r->s.t, &r->s.last_initiation, sizeof(r->s.last_initiation));
	expected[C_HANDSHAKE_REPLAYED]++;
	if (!ret)
		reply_tally_collect(&replies, &r->s.t, 1000);
	printf("responses_to_replayed_initiation=%lu\n", replies.responses);
	return ret;
}

/* `replay`: a real session, then attacks on it from inside (argv adds SPOOF_SRC COUNT). */
static int cmd_replay(int argc, char **argv)
{
	static struct replay_run r;
	int ret;

	if (argc != 8 || ip4_parse(&r.spoof, argv[6]) || count_parse(&r.n, argv[7], 1000) || !r.n)
		return -EINVAL;
	r.saved = calloc(r.n, sizeof(*r.saved));
	r.saved_len = calloc(r.n, sizeof(*r.saved_len));
	ret = r.saved && r.saved_len ? session_start(&r.s, argv, 20000) : -ENOMEM;
	if (!ret)
		ret = replay_genuine_then_again(&r);
	if (!ret)
		ret = replay_bad_tags(&r);
	if (!ret)
		ret = replay_bad_inner(&r);
	if (!ret)
		ret = replay_counter_edges(&r);
	if (!ret)
		ret = replay_initiation(&r);
	if (!ret)
		printf("echo_at_end=%s\n",
		       echo_roundtrip(&r.s, r.s.counter++, 2000) ? "ok" : "failed");
	expected_print();
	session_destroy(&r.s);
	free(r.saved);
	free(r.saved_len);
	return ret;
}

/* ---- Dispatch ---- */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "garbage", cmd_garbage, "HOST PORT COUNT  (random + type-prefixed wrong-size datagrams)" },
	{ "empty", cmd_empty, "HOST PORT COUNT  (zero-length datagrams)" },
	{ "initiate-unknown", cmd_initiate_unknown,
	  "HOST PORT RESPONDER_PUB COUNT  (valid mac1, random unknown static keys)" },
	{ "bad-mac1", cmd_bad_mac1, "HOST PORT RESPONDER_PUB COUNT  (handshakes with wrong mac1)" },
	{ "flood", cmd_flood,
	  "HOST PORT RESPONDER_PUB SECONDS [honour]  (initiations as fast as possible)" },
	{ "connect", cmd_connect,
	  "HOST PORT RESPONDER_PUB KEYFILE INNER_SRC INNER_DST TIMEOUT_S  (handshake + ping)" },
	{ "replay", cmd_replay,
	  "HOST PORT RESPONDER_PUB KEYFILE INNER_SRC INNER_DST SPOOF_SRC COUNT  (session attacks)" },
};

static void usage(const char *prog)
{
	fprintf(stderr, "usage:\n");
	for (size_t i = 0; i < LR_ARRAY_SIZE(commands); i++)
		fprintf(stderr, "  %s %s %s\n", prog, commands[i].name, commands[i].usage);
}

int main(int argc, char **argv)
{
	int ret;

	if (lr_noise_init()) {
		fprintf(stderr, "%s: libsodium failed to initialise\n", argv[0]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; argc >= 2 && i < LR_ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		ret = commands[i].fn(argc - 2, argv + 2);
		if (ret == -EINVAL)
			usage(argv[0]);
		else if (ret)
			fprintf(stderr, "%s %s: %s\n", argv[0], argv[1], strerror(-ret));
		return ret ? 1 : 0;
	}
	usage(argv[0]);
	return 2;
}
