/* mac1/mac2 and cookie replies (whitepaper 5.4.4, 5.4.7), after the Linux driver's
 * drivers/net/wireguard/cookie.c: mac1 proves the sender knows our public key, mac2 proves it
 * can receive at its source address, which is what we ask for while under load. */
#include "crypto/cookie.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "common/clock.h"
#include "crypto/aead.h"
#include "crypto/blake2s.h"

#define LABEL_LEN 8
static const uint8_t mac1_label[LABEL_LEN] = { 'm', 'a', 'c', '1', '-', '-', '-', '-' };
static const uint8_t cookie_label[LABEL_LEN] = { 'c', 'o', 'o', 'k', 'i', 'e', '-', '-' };

/* key := HASH(label || public key) */
static void key_derive(uint8_t key[LR_KEY_LEN], const uint8_t public_key[LR_KEY_LEN],
		       const uint8_t label[LABEL_LEN])
{
	struct lr_blake2s_state s;

	lr_blake2s_init(&s, LR_KEY_LEN, NULL, 0);
	lr_blake2s_update(&s, label, LABEL_LEN);
	lr_blake2s_update(&s, public_key, LR_KEY_LEN);
	lr_blake2s_final(&s, key);
}

/* True once age_s seconds have passed since birth_ns (the kernel's wg_birthdate_has_expired). */
static bool birth_expired(uint64_t birth_ns, uint64_t age_s, uint64_t now_ns)
{
	return birth_ns + age_s * LR_NSEC_PER_SEC <= now_ns;
}

/* The macs are the last 32 bytes of the message; mac1 covers all before it, mac2 all before
 * mac2 (mac1 included). The caller guarantees len >= sizeof(struct lr_msg_macs). */
static void mac1_compute(uint8_t mac[LR_COOKIE_LEN], const void *msg, size_t len,
			 const uint8_t key[LR_KEY_LEN])
{
	size_t covered = len - sizeof(struct lr_msg_macs) + offsetof(struct lr_msg_macs, mac1);

	lr_blake2s(mac, LR_COOKIE_LEN, msg, covered, key, LR_KEY_LEN);
}

static void mac2_compute(uint8_t mac[LR_COOKIE_LEN], const void *msg, size_t len,
			 const uint8_t cookie[LR_COOKIE_LEN])
{
	size_t covered = len - sizeof(struct lr_msg_macs) + offsetof(struct lr_msg_macs, mac2);

	lr_blake2s(mac, LR_COOKIE_LEN, msg, covered, cookie, LR_COOKIE_LEN);
}

static struct lr_msg_macs *macs_of(const void *msg, size_t len)
{
	return (struct lr_msg_macs *)((uintptr_t)msg + len - sizeof(struct lr_msg_macs));
}

/* ---- Our side: the checker ---- */

static void secret_rotate(struct lr_cookie_checker *c, uint64_t now_ns)
{
	randombytes_buf(c->secret, sizeof(c->secret));
	c->secret_birth_ns = now_ns;
}

void lr_cookie_checker_init(struct lr_cookie_checker *c, const uint8_t *our_public)
{
	sodium_memzero(c, sizeof(*c));
	/* Birth 0: the first secret counts as made at boot, so it rotates on its first use
	 * after two minutes of uptime; it is random either way. */
	secret_rotate(c, 0);
	if (!our_public)
		return;
	key_derive(c->cookie_encryption_key, our_public, cookie_label);
	key_derive(c->message_mac1_key, our_public, mac1_label);
	c->has_key = true;
}

void lr_cookie_checker_destroy(struct lr_cookie_checker *c)
{
	sodium_memzero(c, sizeof(*c));
}

/* cookie := MAC(Rm, source address || source port), the port in network order as on the
 * wire. src is AF_INET or AF_INET6, as recvmsg on our UDP sockets yields (the daemon turns
 * v4-mapped addresses into AF_INET first, so a peer's cookie does not depend on the socket);
 * any other family gets a cookie over no address bytes, which still binds it to Rm. */
static void cookie_make(uint8_t cookie[LR_COOKIE_LEN], struct lr_cookie_checker *c,
			const union lr_sockaddr *src, uint64_t now_ns)
{
	struct lr_blake2s_state s;

	if (birth_expired(c->secret_birth_ns, LR_COOKIE_SECRET_MAX_AGE_S, now_ns))
		secret_rotate(c, now_ns);

	lr_blake2s_init(&s, LR_COOKIE_LEN, c->secret, sizeof(c->secret));
	if (src->sa.sa_family == AF_INET) {
		lr_blake2s_update(&s, &src->in4.sin_addr, sizeof(src->in4.sin_addr));
		lr_blake2s_update(&s, &src->in4.sin_port, sizeof(src->in4.sin_port));
	} else if (src->sa.sa_family == AF_INET6) {
		lr_blake2s_update(&s, &src->in6.sin6_addr, sizeof(src->in6.sin6_addr));
		lr_blake2s_update(&s, &src->in6.sin6_port, sizeof(src->in6.sin6_port));
	}
	lr_blake2s_final(&s, cookie);
}

enum lr_cookie_mac_state lr_cookie_validate_packet(struct lr_cookie_checker *c, const void *msg,
						   size_t len, const union lr_sockaddr *src,
						   bool check_cookie, uint64_t now_ns)
{
	const struct lr_msg_macs *macs;
	enum lr_cookie_mac_state ret = LR_COOKIE_INVALID_MAC;
	uint8_t computed[LR_COOKIE_LEN];
	uint8_t cookie[LR_COOKIE_LEN];

	if (!c->has_key || len < sizeof(*macs))
		return LR_COOKIE_INVALID_MAC;
	macs = macs_of(msg, len);

	mac1_compute(computed, msg, len, c->message_mac1_key);
	if (crypto_verify_16(computed, macs->mac1) != 0)
		goto out;
	ret = LR_COOKIE_VALID_MAC_NO_COOKIE;
	if (!check_cookie)
		goto out;

	cookie_make(cookie, c, src, now_ns);
	mac2_compute(computed, msg, len, cookie);
	if (crypto_verify_16(computed, macs->mac2) == 0)
		ret = LR_COOKIE_VALID_MAC_WITH_COOKIE;
out:
	sodium_memzero(cookie, sizeof(cookie));
	return ret;
}

void lr_cookie_reply_create(struct lr_msg_cookie *reply, struct lr_cookie_checker *c,
			    const void *msg, size_t len, uint32_t sender_index,
			    const union lr_sockaddr *src, uint64_t now_ns)
{
	const struct lr_msg_macs *macs = macs_of(msg, len);
	uint8_t cookie[LR_COOKIE_LEN];

	reply->header.type = htole32(LR_MSG_COOKIE);
	reply->receiver_index = htole32(sender_index);
	randombytes_buf(reply->nonce, sizeof(reply->nonce));
	cookie_make(cookie, c, src, now_ns);
	/* The AD is the mac1 being answered, so only its sender can use the reply
	 * (whitepaper 5.4.7). */
	lr_xaead_seal(reply->encrypted_cookie, cookie, sizeof(cookie), macs->mac1,
		      sizeof(macs->mac1), reply->nonce, c->cookie_encryption_key);
	sodium_memzero(cookie, sizeof(cookie));
}

/* ---- The peer's side: remembering its cookie ---- */

void lr_cookie_init(struct lr_cookie *ck, const uint8_t remote_public[LR_KEY_LEN])
{
	sodium_memzero(ck, sizeof(*ck));
	key_derive(ck->cookie_decryption_key, remote_public, cookie_label);
	key_derive(ck->message_mac1_key, remote_public, mac1_label);
}

void lr_cookie_destroy(struct lr_cookie *ck)
{
	sodium_memzero(ck, sizeof(*ck));
}

void lr_cookie_add_macs(struct lr_cookie *ck, void *msg, size_t len, uint64_t now_ns)
{
	struct lr_msg_macs *macs = macs_of(msg, len);

	mac1_compute(macs->mac1, msg, len, ck->message_mac1_key);
	memcpy(ck->last_mac1_sent, macs->mac1, LR_COOKIE_LEN);
	ck->have_sent_mac1 = true;

	/* The responder's secret may rotate any time in its two minutes; stopping five seconds
	 * early keeps a cookie that is about to die from costing a round trip. */
	if (ck->is_valid && !birth_expired(ck->birth_ns, LR_COOKIE_SECRET_MAX_AGE_S -
					   LR_COOKIE_SECRET_LATENCY_S, now_ns))
		mac2_compute(macs->mac2, msg, len, ck->cookie);
	else
		memset(macs->mac2, 0, LR_COOKIE_LEN);
}

int lr_cookie_reply_consume(struct lr_cookie *ck, const struct lr_msg_cookie *reply,
			    uint64_t now_ns)
{
	uint8_t cookie[LR_COOKIE_LEN];
	int ret = -EBADMSG;

	/* A reply to nothing we sent cannot be authenticated: there is no AD to check it with. */
	if (!ck->have_sent_mac1)
		return -EBADMSG;
	if (!lr_xaead_open(cookie, reply->encrypted_cookie, sizeof(reply->encrypted_cookie),
			   ck->last_mac1_sent, LR_COOKIE_LEN, reply->nonce,
			   ck->cookie_decryption_key))
		goto out;

	memcpy(ck->cookie, cookie, LR_COOKIE_LEN);
	ck->birth_ns = now_ns;
	ck->is_valid = true;
	/* One reply per mac1: a second copy of the reply must not refresh the cookie's age. */
	ck->have_sent_mac1 = false;
	ret = 0;
out:
	sodium_memzero(cookie, sizeof(cookie));
	return ret;
}
