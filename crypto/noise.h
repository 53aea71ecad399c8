/* Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake (whitepaper 5.4): message creation and
 * consumption, and the derivation of the transport keys. Pure functions of their inputs: no
 * I/O, no peer tables, no locking. The caller (controlplane/handshake.c) owns lookup and state. */
#ifndef LR_CRYPTO_NOISE_H
#define LR_CRYPTO_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/messages.h"

struct lr_noise_identity {
	uint8_t static_private[LR_KEY_LEN];
	uint8_t static_public[LR_KEY_LEN];
	bool has_identity;
};

enum lr_noise_state {
	LR_NOISE_ZEROED = 0,
	LR_NOISE_CREATED_INITIATION,
	LR_NOISE_CONSUMED_INITIATION,
	LR_NOISE_CREATED_RESPONSE,
	LR_NOISE_CONSUMED_RESPONSE,
};

/* Per-peer handshake state. remote_static, preshared_key and precomputed_static_static persist;
 * the rest is per attempt and wiped by lr_noise_handshake_clear(). */
struct lr_noise_handshake {
	enum lr_noise_state state;
	uint8_t remote_static[LR_KEY_LEN];
	uint8_t precomputed_static_static[LR_KEY_LEN]; /* DH(our static, their static); 0 if none */
	uint8_t preshared_key[LR_KEY_LEN];             /* all zero when no PSK is set */
	uint8_t ephemeral_private[LR_KEY_LEN];
	uint8_t remote_ephemeral[LR_KEY_LEN];
	uint8_t hash[LR_KEY_LEN];
	uint8_t chaining_key[LR_KEY_LEN];
	uint8_t latest_timestamp[LR_TIMESTAMP_LEN];   /* greatest TAI64N seen from this peer */
	uint64_t last_initiation_consumption_ns;       /* for the 50 initiations/s flood limit */
	uint32_t local_index;
	uint32_t remote_index;
};

/* What consuming an initiation learned before the peer is known. Wipe with
 * lr_noise_initiation_result_clear() after use. */
struct lr_noise_initiation_result {
	uint8_t remote_static[LR_KEY_LEN];
	uint8_t remote_ephemeral[LR_KEY_LEN];
	uint8_t hash[LR_KEY_LEN];
	uint8_t chaining_key[LR_KEY_LEN];
	uint8_t timestamp[LR_TIMESTAMP_LEN];
	uint32_t sender_index;
};

/* Transport keys of one session. */
struct lr_noise_session_keys {
	uint8_t send[LR_KEY_LEN];
	uint8_t recv[LR_KEY_LEN];
	uint32_t local_index;
	uint32_t remote_index;
	bool is_initiator;
};

/* One-time global setup (the construction and identifier hashes); idempotent and thread-safe
 * once sodium_init() succeeded. Returns 0 or -EIO. */
int lr_noise_init(void);

/* Derives static_public from static_private (clamping applied). A private key whose public key
 * is all zero leaves has_identity false. */
void lr_noise_identity_set(struct lr_noise_identity *id, const uint8_t private_key[LR_KEY_LEN]);
void lr_noise_identity_clear(struct lr_noise_identity *id);

/* Sets up a peer's handshake: copies remote_static and psk (NULL = none) and precomputes
 * DH(static, static). Call again (or lr_noise_handshake_precompute) when our identity changes. */
void lr_noise_handshake_init(struct lr_noise_handshake *hs, const struct lr_noise_identity *id,
			     const uint8_t remote_static[LR_KEY_LEN], const uint8_t *psk);
void lr_noise_handshake_precompute(struct lr_noise_handshake *hs,
				   const struct lr_noise_identity *id);
void lr_noise_handshake_set_psk(struct lr_noise_handshake *hs, const uint8_t *psk);
/* Wipes per-attempt secrets and returns to LR_NOISE_ZEROED; keeps identity fields. */
void lr_noise_handshake_clear(struct lr_noise_handshake *hs);
/* Wipes everything. */
void lr_noise_handshake_destroy(struct lr_noise_handshake *hs);

/* Initiator, message 1. The macs are left zero: crypto/cookie.h fills them. Returns 0, or
 * -ENOKEY without an identity or when DH(static, static) is zero. */
int lr_noise_initiation_create(struct lr_msg_initiation *msg, struct lr_noise_handshake *hs,
			       const struct lr_noise_identity *id, uint32_t local_index);

/* Responder, message 1, first half: decrypts the initiator's static key and timestamp.
 * Returns 0, or -EBADMSG on any failure (out is wiped then). */
int lr_noise_initiation_consume(const struct lr_msg_initiation *msg,
				const struct lr_noise_identity *id,
				struct lr_noise_initiation_result *out);
/* Second half, once the peer is found by out->remote_static: refuses a replayed timestamp
 * (-EALREADY) and more than 50 initiations/s from this peer (-EBUSY); otherwise moves hs to
 * LR_NOISE_CONSUMED_INITIATION and returns 0. */
int lr_noise_initiation_accept(struct lr_noise_handshake *hs,
			       const struct lr_noise_initiation_result *res, uint64_t now_ns);
void lr_noise_initiation_result_clear(struct lr_noise_initiation_result *res);

/* Responder, message 2 (macs left zero). hs must be LR_NOISE_CONSUMED_INITIATION.
 * Returns 0 or -EINVAL. */
int lr_noise_response_create(struct lr_msg_response *msg, struct lr_noise_handshake *hs,
			     uint32_t local_index);
/* Initiator, message 2. hs must be LR_NOISE_CREATED_INITIATION (found by receiver_index).
 * Returns 0 and moves hs to LR_NOISE_CONSUMED_RESPONSE, or -EBADMSG leaving hs unchanged. */
int lr_noise_response_consume(const struct lr_msg_response *msg, struct lr_noise_handshake *hs,
			      const struct lr_noise_identity *id);

/* Derives the transport keys from a finished handshake (CREATED_RESPONSE for the responder,
 * CONSUMED_RESPONSE for the initiator) and clears the handshake. Returns 0 or -EINVAL. */
int lr_noise_session_derive(struct lr_noise_handshake *hs, struct lr_noise_session_keys *keys);
void lr_noise_session_keys_clear(struct lr_noise_session_keys *keys);

/* TAI64N of now, with the nanoseconds rounded down (whitepaper: do not leak a fine clock). */
void lr_noise_tai64n_now(uint8_t out[LR_TIMESTAMP_LEN]);

#endif
