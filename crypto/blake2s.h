/* BLAKE2s (RFC 7693) and the HMAC and HKDF built on it, as the WireGuard whitepaper uses them. */
#ifndef LR_CRYPTO_BLAKE2S_H
#define LR_CRYPTO_BLAKE2S_H

#include <stddef.h>
#include <stdint.h>

#define LR_BLAKE2S_HASH_SIZE 32
#define LR_BLAKE2S_BLOCK_SIZE 64
#define LR_BLAKE2S_KEY_SIZE 32

struct lr_blake2s_state {
	uint32_t h[8];
	uint32_t t[2];
	uint32_t f[2];
	uint8_t buf[LR_BLAKE2S_BLOCK_SIZE];
	size_t buflen;
	size_t outlen;
};

/* outlen 1..32; keylen 0..32 (key may be NULL when keylen is 0). */
void lr_blake2s_init(struct lr_blake2s_state *s, size_t outlen, const void *key, size_t keylen);
void lr_blake2s_update(struct lr_blake2s_state *s, const void *in, size_t inlen);
/* Writes outlen bytes and wipes the state. */
void lr_blake2s_final(struct lr_blake2s_state *s, uint8_t *out);
void lr_blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen, const void *key,
		size_t keylen);

/* HMAC-BLAKE2s (RFC 2104 with a 64-byte block), 32-byte output. */
void lr_blake2s_hmac(uint8_t out[LR_BLAKE2S_HASH_SIZE], const void *in, size_t inlen,
		     const void *key, size_t keylen);

/* The whitepaper's KDF_n(key, input): t0 = HMAC(key, input), t1 = HMAC(t0, 0x1),
 * t2 = HMAC(t0, t1 || 0x2), t3 = HMAC(t0, t2 || 0x3). out2 and out3 may be NULL.
 * All intermediates are wiped. */
void lr_kdf(uint8_t out1[32], uint8_t *out2, uint8_t *out3, const uint8_t key[32], const void *in,
	    size_t inlen);

#endif
