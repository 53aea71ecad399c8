/* Batched transport-data ChaCha20-Poly1305: one context per worker thread, many packets a call. */
#ifndef LR_CRYPTO_AEAD_BATCH_H
#define LR_CRYPTO_AEAD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"

/* One packet. Same nonce and layout as lr_aead_seal/lr_aead_open (4 zero bytes, then the
 * little-endian counter; no associated data).
 *   seal: len is the plaintext length; dst receives len + LR_AEAD_TAG_SIZE bytes.
 *   open: len is the ciphertext length including the tag; dst receives len - 16 bytes. On
 *         failure (bad tag, or len < 16) ok is false, and dst's len - 16 bytes are zeroed when
 *         len >= 16, so unauthenticated plaintext never escapes.
 * dst may equal src (in place); any other overlap is not allowed; src may be NULL when a seal's
 * len is 0 (keepalives). key points to
 * LR_AEAD_KEY_SIZE bytes and may differ from op to op. ok is written by the call. */
struct lr_aead_batch_op {
	uint8_t *dst;
	const uint8_t *src;
	size_t len;
	uint64_t counter;
	const uint8_t *key;
	bool ok;
};

/* Implementations, fastest first; the context takes the first that initialises. Measured on the
 * dev machine (docs/PERFORMANCE.md): intel-ipsec-mb beats libsodium at every length; OpenSSL
 * only from about LR_AEAD_BATCH_EVP_MIN_LEN bytes, so that backend hands shorter packets to
 * libsodium. */
enum lr_aead_batch_backend {
	LR_AEAD_BATCH_IPSECMB,	/* intel-ipsec-mb job API (only when built with it) */
	LR_AEAD_BATCH_OPENSSL,	/* OpenSSL 3 EVP from LR_AEAD_BATCH_EVP_MIN_LEN, else libsodium */
	LR_AEAD_BATCH_SODIUM,	/* libsodium, one call per packet: the reference and fallback */
};

/* From a 16-byte-step sweep: libsodium's 512-byte AVX2 stride wins up to 560 bytes, EVP wins by
 * 15% or more from 640 on. */
#define LR_AEAD_BATCH_EVP_MIN_LEN 640

/* Flags for lr_aead_batch_ctx_create: skip a backend during selection. The engine passes 0;
 * tests and lanrage-bench use them to reach and compare the fallbacks. */
#define LR_AEAD_BATCH_NO_IPSECMB (1u << 0)
#define LR_AEAD_BATCH_NO_OPENSSL (1u << 1)

struct lr_aead_batch_ctx;

/* Allocates everything a batch needs up front; nothing is allocated per packet. A context is
 * not thread-safe: create one per worker. Returns 0, -ENOMEM, or -EIO if libsodium fails. */
int lr_aead_batch_ctx_create(struct lr_aead_batch_ctx **out, unsigned int flags);
/* Wipes cached keys and library state. NULL is a no-op. */
void lr_aead_batch_ctx_destroy(struct lr_aead_batch_ctx *ctx);

enum lr_aead_batch_backend lr_aead_batch_ctx_backend(const struct lr_aead_batch_ctx *ctx);
const char *lr_aead_batch_backend_name(enum lr_aead_batch_backend backend);

/* Both return how many ops ended with ok == true. Seal only fails on a library error. */
size_t lr_aead_batch_seal(struct lr_aead_batch_ctx *ctx, struct lr_aead_batch_op *ops, size_t n);
size_t lr_aead_batch_open(struct lr_aead_batch_ctx *ctx, struct lr_aead_batch_op *ops, size_t n);

#endif
