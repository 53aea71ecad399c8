/* Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (whitepaper 5.4.2-5.4.5), modelled
 * on the Linux driver's drivers/net/wireguard/noise.c:
 *   <- s
 *   ...
 *   -> e, es, s, ss, {t}
 *   <- e, ee, se, psk, {}
 */
#include "crypto/noise.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/compiler.h"
#include "crypto/aead.h"
#include "crypto/blake2s.h"

static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";

/* Ci := HASH(CONSTRUCTION) and Hi := HASH(Ci || IDENTIFIER) are the same for every handshake,
 * so they are computed once. */
static uint8_t initial_chaining_key[LR_BLAKE2S_HASH_SIZE];
static uint8_t initial_hash[LR_BLAKE2S_HASH_SIZE];
static pthread_once_t initial_once = PTHREAD_ONCE_INIT;

/* TAI64 labels second s of UTC as 2^62 + 10 + s (the 10 is TAI-UTC at 1970). */
#define TAI64_EPOCH 0x400000000000000aULL

static void initial_compute(void)
{
	struct lr_blake2s_state s;

	lr_blake2s(initial_chaining_key, sizeof(initial_chaining_key), construction,
		   strlen(construction), NULL, 0);
	lr_blake2s_init(&s, sizeof(initial_hash), NULL, 0);
	lr_blake2s_update(&s, initial_chaining_key, sizeof(initial_chaining_key));
	lr_blake2s_update(&s, identifier, strlen(identifier));
	lr_blake2s_final(&s, initial_hash);
}

int lr_noise_init(void)
{
	if (sodium_init() < 0)
		return -EIO;
	pthread_once(&initial_once, initial_compute);
	return 0;
}

/* ---- Symmetric state: the MixHash / MixKey steps of the Noise spec ---- */

static void mix_hash(uint8_t hash[LR_KEY_LEN], const void *in, size_t len)
{
	struct lr_blake2s_state s;

	lr_blake2s_init(&s, LR_BLAKE2S_HASH_SIZE, NULL, 0);
	lr_blake2s_update(&s, hash, LR_BLAKE2S_HASH_SIZE);
	lr_blake2s_update(&s, in, len);
	lr_blake2s_final(&s, hash);
}

/* The outputs go through a temporary so that lr_kdf never sees them alias its key. */
static void mix_key(uint8_t ck[LR_KEY_LEN], uint8_t *key, const uint8_t *in, size_t len)
{
	uint8_t next_ck[LR_KEY_LEN];

	lr_kdf(next_ck, key, NULL, ck, in, len);
	memcpy(ck, next_ck, LR_KEY_LEN);
	sodium_memzero(next_ck, sizeof(next_ck));
}

/* X25519 with the all-zero result refused: a low-order point would make the "shared" secret
 * known to everyone (libsodium's crypto_scalarmult already returns -1 for it). */
static bool dh(uint8_t out[LR_KEY_LEN], const uint8_t priv[LR_KEY_LEN],
	       const uint8_t pub[LR_KEY_LEN])
{
	if (crypto_scalarmult(out, priv, pub) != 0 || sodium_is_zero(out, LR_KEY_LEN)) {
		sodium_memzero(out, LR_KEY_LEN);
		return false;
	}
	return true;
}

static bool mix_dh(uint8_t ck[LR_KEY_LEN], uint8_t *key, const uint8_t priv[LR_KEY_LEN],
		   const uint8_t pub[LR_KEY_LEN])
{
	uint8_t shared[LR_KEY_LEN];

	if (!dh(shared, priv, pub))
		return false;
	mix_key(ck, key, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return true;
}

/* psk step: (Ck, tau, key) := KDF3(Ck, Q); MixHash(tau). */
static void mix_psk(uint8_t ck[LR_KEY_LEN], uint8_t hash[LR_KEY_LEN], uint8_t key[LR_KEY_LEN],
		    const uint8_t psk[LR_KEY_LEN])
{
	uint8_t next_ck[LR_KEY_LEN];
	uint8_t tau[LR_KEY_LEN];

	lr_kdf(next_ck, tau, key, ck, psk, LR_KEY_LEN);
	memcpy(ck, next_ck, LR_KEY_LEN);
	mix_hash(hash, tau, sizeof(tau));
	sodium_memzero(next_ck, sizeof(next_ck));
	sodium_memzero(tau, sizeof(tau));
}

/* The handshake AEADs use each key exactly once, so the counter is always zero. */
static void encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t key[LR_KEY_LEN], uint8_t hash[LR_KEY_LEN])
{
	lr_aead_seal(dst, src, len, hash, LR_KEY_LEN, 0, key);
	mix_hash(hash, dst, len + LR_TAG_LEN);
}

static bool decrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t key[LR_KEY_LEN], uint8_t hash[LR_KEY_LEN])
{
	if (!lr_aead_open(dst, src, len, hash, LR_KEY_LEN, 0, key))
		return false;
	mix_hash(hash, src, len);
	return true;
}

/* e step: MixHash(e) and Ck := KDF1(Ck, e) (the "psk" variant of Noise mixes e into the key). */
static void mix_ephemeral(uint8_t ck[LR_KEY_LEN], uint8_t hash[LR_KEY_LEN],
			  const uint8_t e[LR_KEY_LEN])
{
	mix_hash(hash, e, LR_KEY_LEN);
	mix_key(ck, NULL, e, LR_KEY_LEN);
}

/* Ci, Hi := initial values; Hi := HASH(Hi || Spub_r). */
static void symmetric_start(uint8_t ck[LR_KEY_LEN], uint8_t hash[LR_KEY_LEN],
			    const uint8_t responder_static[LR_KEY_LEN])
{
	pthread_once(&initial_once, initial_compute);
	memcpy(ck, initial_chaining_key, LR_KEY_LEN);
	memcpy(hash, initial_hash, LR_KEY_LEN);
	mix_hash(hash, responder_static, LR_KEY_LEN);
}

static bool ephemeral_generate(uint8_t priv[LR_KEY_LEN], uint8_t pub[LR_KEY_LEN])
{
	randombytes_buf(priv, LR_KEY_LEN);
	return crypto_scalarmult_base(pub, priv) == 0 && !sodium_is_zero(pub, LR_KEY_LEN);
}

/* ---- Identities and per-peer state ---- */

void lr_noise_identity_set(struct lr_noise_identity *id, const uint8_t private_key[LR_KEY_LEN])
{
	memcpy(id->static_private, private_key, LR_KEY_LEN);
	/* Clamp as X25519 does anyway, so that the stored key is the one that is used. */
	id->static_private[0] &= 248;
	id->static_private[31] = (id->static_private[31] & 127) | 64;
	/* An all-zero private key means "no key" (wg set private-key with zeros; the kernel's
	 * curve25519_generate_public refuses it too). */
	id->has_identity = !sodium_is_zero(private_key, LR_KEY_LEN) &&
			   crypto_scalarmult_base(id->static_public, id->static_private) == 0 &&
			   !sodium_is_zero(id->static_public, LR_KEY_LEN);
	if (!id->has_identity)
		lr_noise_identity_clear(id);
}

void lr_noise_identity_clear(struct lr_noise_identity *id)
{
	sodium_memzero(id, sizeof(*id));
}

void lr_noise_handshake_precompute(struct lr_noise_handshake *hs,
				   const struct lr_noise_identity *id)
{
	/* A zero result (no identity, or a low-order peer key) makes every handshake with this
	 * peer fail with -ENOKEY instead of running on a public "secret". */
	if (!id->has_identity || !dh(hs->precomputed_static_static, id->static_private,
				     hs->remote_static))
		sodium_memzero(hs->precomputed_static_static, LR_KEY_LEN);
}

void lr_noise_handshake_set_psk(struct lr_noise_handshake *hs, const uint8_t *psk)
{
	if (psk)
		memcpy(hs->preshared_key, psk, LR_KEY_LEN);
	else
		sodium_memzero(hs->preshared_key, LR_KEY_LEN);
}

void lr_noise_handshake_init(struct lr_noise_handshake *hs, const struct lr_noise_identity *id,
			     const uint8_t remote_static[LR_KEY_LEN], const uint8_t *psk)
{
	sodium_memzero(hs, sizeof(*hs));
	memcpy(hs->remote_static, remote_static, LR_KEY_LEN);
	lr_noise_handshake_set_psk(hs, psk);
	lr_noise_handshake_precompute(hs, id);
}

/* latest_timestamp and last_initiation_consumption_ns survive: forgetting them would let an
 * old initiation be replayed after every finished handshake. */
void lr_noise_handshake_clear(struct lr_noise_handshake *hs)
{
	sodium_memzero(hs->ephemeral_private, LR_KEY_LEN);
	sodium_memzero(hs->remote_ephemeral, LR_KEY_LEN);
	sodium_memzero(hs->hash, LR_KEY_LEN);
	sodium_memzero(hs->chaining_key, LR_KEY_LEN);
	hs->local_index = 0;
	hs->remote_index = 0;
	hs->state = LR_NOISE_ZEROED;
}

void lr_noise_handshake_destroy(struct lr_noise_handshake *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}

/* ---- TAI64N ---- */

/* The kernel rounds the nanoseconds down to a power of two no finer than the initiation rate
 * limit (2^24 ns for 50/s): the timestamp is sent encrypted but still should not leak a fine
 * clock, and a finer value would not let more initiations through anyway. */
static uint32_t timestamp_granularity(void)
{
	uint32_t limit = (uint32_t)(1000000000u / LR_INITIATIONS_PER_SECOND);

	return 1u << (31 - __builtin_clz(limit));
}

void lr_noise_tai64n_now(uint8_t out[LR_TIMESTAMP_LEN])
{
	struct timespec now;
	uint64_t secs;
	uint32_t nsec;

	clock_gettime(CLOCK_REALTIME, &now);
	secs = htobe64(TAI64_EPOCH + (uint64_t)now.tv_sec);
	nsec = htobe32((uint32_t)now.tv_nsec & ~(timestamp_granularity() - 1));
	memcpy(out, &secs, sizeof(secs));
	memcpy(out + sizeof(secs), &nsec, sizeof(nsec));
}

/* ---- Message 1: initiation ---- */

/* Fills everything after the header; on false hs holds partial state the caller must clear. */
static bool initiation_fill(struct lr_msg_initiation *msg, struct lr_noise_handshake *hs,
			    const struct lr_noise_identity *id)
{
	uint8_t timestamp[LR_TIMESTAMP_LEN];
	uint8_t key[LR_KEY_LEN];
	bool ok = false;

	symmetric_start(hs->chaining_key, hs->hash, hs->remote_static);

	/* e */
	if (!ephemeral_generate(hs->ephemeral_private, msg->unencrypted_ephemeral))
		goto out;
	mix_ephemeral(hs->chaining_key, hs->hash, msg->unencrypted_ephemeral);
	/* es */
	if (!mix_dh(hs->chaining_key, key, hs->ephemeral_private, hs->remote_static))
		goto out;
	/* s */
	encrypt_and_hash(msg->encrypted_static, id->static_public, LR_KEY_LEN, key, hs->hash);
	/* ss, from the precomputed DH(Spriv_i, Spub_r) */
	mix_key(hs->chaining_key, key, hs->precomputed_static_static, LR_KEY_LEN);
	/* {t} */
	lr_noise_tai64n_now(timestamp);
	encrypt_and_hash(msg->encrypted_timestamp, timestamp, sizeof(timestamp), key, hs->hash);
	ok = true;
out:
	sodium_memzero(timestamp, sizeof(timestamp));
	sodium_memzero(key, sizeof(key));
	return ok;
}

int lr_noise_initiation_create(struct lr_msg_initiation *msg, struct lr_noise_handshake *hs,
			       const struct lr_noise_identity *id, uint32_t local_index)
{
	if (!id->has_identity || sodium_is_zero(hs->precomputed_static_static, LR_KEY_LEN))
		return -ENOKEY;

	lr_noise_handshake_clear(hs);
	memset(msg, 0, sizeof(*msg));
	msg->header.type = htole32(LR_MSG_INITIATION);
	msg->sender_index = htole32(local_index);
	if (!initiation_fill(msg, hs, id)) {
		lr_noise_handshake_clear(hs);
		sodium_memzero(msg, sizeof(*msg));
		return -ENOKEY;
	}
	hs->local_index = local_index;
	hs->state = LR_NOISE_CREATED_INITIATION;
	return 0;
}

/* Unlike the kernel, which mixes the peer's precomputed DH(Spriv_r, Spub_i) after looking the
 * peer up, this computes ss from the decrypted static key so that no peer table is needed
 * here: one more X25519 per initiation, and only for initiations that passed mac1 and es. */
static bool initiation_decrypt(const struct lr_msg_initiation *msg,
			       const struct lr_noise_identity *id,
			       struct lr_noise_initiation_result *out)
{
	uint8_t key[LR_KEY_LEN];
	bool ok = false;

	symmetric_start(out->chaining_key, out->hash, id->static_public);

	/* e */
	memcpy(out->remote_ephemeral, msg->unencrypted_ephemeral, LR_KEY_LEN);
	mix_ephemeral(out->chaining_key, out->hash, out->remote_ephemeral);
	/* es */
	if (!mix_dh(out->chaining_key, key, id->static_private, out->remote_ephemeral))
		goto out;
	/* s */
	if (!decrypt_and_hash(out->remote_static, msg->encrypted_static,
			      sizeof(msg->encrypted_static), key, out->hash))
		goto out;
	/* ss */
	if (!mix_dh(out->chaining_key, key, id->static_private, out->remote_static))
		goto out;
	/* {t} */
	if (!decrypt_and_hash(out->timestamp, msg->encrypted_timestamp,
			      sizeof(msg->encrypted_timestamp), key, out->hash))
		goto out;
	ok = true;
out:
	sodium_memzero(key, sizeof(key));
	return ok;
}

int lr_noise_initiation_consume(const struct lr_msg_initiation *msg,
				const struct lr_noise_identity *id,
				struct lr_noise_initiation_result *out)
{
	sodium_memzero(out, sizeof(*out));
	if (!id->has_identity || !initiation_decrypt(msg, id, out)) {
		lr_noise_initiation_result_clear(out);
		return -EBADMSG;
	}
	out->sender_index = le32toh(msg->sender_index);
	return 0;
}

void lr_noise_initiation_result_clear(struct lr_noise_initiation_result *res)
{
	sodium_memzero(res, sizeof(*res));
}

int lr_noise_initiation_accept(struct lr_noise_handshake *hs,
			       const struct lr_noise_initiation_result *res, uint64_t now_ns)
{
	const uint64_t interval = 1000000000ULL / LR_INITIATIONS_PER_SECOND;

	/* The caller looked hs up by this key; a mismatch is a caller bug, never a peer's. */
	if (sodium_memcmp(res->remote_static, hs->remote_static, LR_KEY_LEN) != 0)
		return -EINVAL;
	/* TAI64N is big-endian, so byte order is time order. Equal is a replay too. */
	if (memcmp(res->timestamp, hs->latest_timestamp, LR_TIMESTAMP_LEN) <= 0)
		return -EALREADY;
	if (now_ns < hs->last_initiation_consumption_ns + interval)
		return -EBUSY;

	/* An initiation of our own in flight is superseded: the kernel does the same. */
	sodium_memzero(hs->ephemeral_private, LR_KEY_LEN);
	memcpy(hs->remote_ephemeral, res->remote_ephemeral, LR_KEY_LEN);
	memcpy(hs->hash, res->hash, LR_KEY_LEN);
	memcpy(hs->chaining_key, res->chaining_key, LR_KEY_LEN);
	memcpy(hs->latest_timestamp, res->timestamp, LR_TIMESTAMP_LEN);
	hs->last_initiation_consumption_ns = now_ns;
	hs->remote_index = res->sender_index;
	hs->state = LR_NOISE_CONSUMED_INITIATION;
	return 0;
}

/* ---- Message 2: response ---- */

static bool response_fill(struct lr_msg_response *msg, struct lr_noise_handshake *hs)
{
	uint8_t key[LR_KEY_LEN];
	bool ok = false;

	/* e */
	if (!ephemeral_generate(hs->ephemeral_private, msg->unencrypted_ephemeral))
		goto out;
	mix_ephemeral(hs->chaining_key, hs->hash, msg->unencrypted_ephemeral);
	/* ee */
	if (!mix_dh(hs->chaining_key, NULL, hs->ephemeral_private, hs->remote_ephemeral))
		goto out;
	/* se */
	if (!mix_dh(hs->chaining_key, NULL, hs->ephemeral_private, hs->remote_static))
		goto out;
	/* psk */
	mix_psk(hs->chaining_key, hs->hash, key, hs->preshared_key);
	/* {} */
	encrypt_and_hash(msg->encrypted_nothing, NULL, 0, key, hs->hash);
	ok = true;
out:
	sodium_memzero(key, sizeof(key));
	return ok;
}

int lr_noise_response_create(struct lr_msg_response *msg, struct lr_noise_handshake *hs,
			     uint32_t local_index)
{
	if (hs->state != LR_NOISE_CONSUMED_INITIATION)
		return -EINVAL;

	memset(msg, 0, sizeof(*msg));
	msg->header.type = htole32(LR_MSG_RESPONSE);
	msg->sender_index = htole32(local_index);
	msg->receiver_index = htole32(hs->remote_index);
	if (!response_fill(msg, hs)) {
		/* The chaining key is half-advanced now; nothing can resume from it. */
		lr_noise_handshake_clear(hs);
		sodium_memzero(msg, sizeof(*msg));
		return -EINVAL;
	}
	hs->local_index = local_index;
	hs->state = LR_NOISE_CREATED_RESPONSE;
	return 0;
}

/* Works on copies of hash and chaining key so that a forged response leaves hs untouched: the
 * genuine response may still arrive. */
static bool response_decrypt(const struct lr_msg_response *msg,
			     const struct lr_noise_handshake *hs,
			     const struct lr_noise_identity *id, uint8_t ck[LR_KEY_LEN],
			     uint8_t hash[LR_KEY_LEN])
{
	uint8_t nothing[1];
	uint8_t key[LR_KEY_LEN];
	bool ok = false;

	memcpy(ck, hs->chaining_key, LR_KEY_LEN);
	memcpy(hash, hs->hash, LR_KEY_LEN);
	/* e */
	mix_ephemeral(ck, hash, msg->unencrypted_ephemeral);
	/* ee */
	if (!mix_dh(ck, NULL, hs->ephemeral_private, msg->unencrypted_ephemeral))
		goto out;
	/* se */
	if (!mix_dh(ck, NULL, id->static_private, msg->unencrypted_ephemeral))
		goto out;
	/* psk */
	mix_psk(ck, hash, key, hs->preshared_key);
	/* {} */
	if (!decrypt_and_hash(nothing, msg->encrypted_nothing, sizeof(msg->encrypted_nothing),
			      key, hash))
		goto out;
	ok = true;
out:
	sodium_memzero(key, sizeof(key));
	return ok;
}

int lr_noise_response_consume(const struct lr_msg_response *msg, struct lr_noise_handshake *hs,
			      const struct lr_noise_identity *id)
{
	uint8_t ck[LR_KEY_LEN];
	uint8_t hash[LR_KEY_LEN];
	int ret = -EBADMSG;

	if (hs->state != LR_NOISE_CREATED_INITIATION || !id->has_identity ||
	    le32toh(msg->receiver_index) != hs->local_index)
		return -EBADMSG;
	if (!response_decrypt(msg, hs, id, ck, hash))
		goto out;

	memcpy(hs->remote_ephemeral, msg->unencrypted_ephemeral, LR_KEY_LEN);
	memcpy(hs->chaining_key, ck, LR_KEY_LEN);
	memcpy(hs->hash, hash, LR_KEY_LEN);
	hs->remote_index = le32toh(msg->sender_index);
	hs->state = LR_NOISE_CONSUMED_RESPONSE;
	ret = 0;
out:
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(hash, sizeof(hash));
	return ret;
}

/* ---- Transport keys ---- */

int lr_noise_session_derive(struct lr_noise_handshake *hs, struct lr_noise_session_keys *keys)
{
	uint8_t t1[LR_KEY_LEN];
	uint8_t t2[LR_KEY_LEN];

	if (hs->state != LR_NOISE_CREATED_RESPONSE && hs->state != LR_NOISE_CONSUMED_RESPONSE)
		return -EINVAL;

	/* (T_send_i = T_recv_r, T_recv_i = T_send_r) := KDF2(Ck, e), e the empty string */
	lr_kdf(t1, t2, NULL, hs->chaining_key, "", 0);
	keys->is_initiator = hs->state == LR_NOISE_CONSUMED_RESPONSE;
	memcpy(keys->send, keys->is_initiator ? t1 : t2, LR_KEY_LEN);
	memcpy(keys->recv, keys->is_initiator ? t2 : t1, LR_KEY_LEN);
	keys->local_index = hs->local_index;
	keys->remote_index = hs->remote_index;
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
	lr_noise_handshake_clear(hs);
	return 0;
}

void lr_noise_session_keys_clear(struct lr_noise_session_keys *keys)
{
	sodium_memzero(keys, sizeof(*keys));
}
