/* AEADs of the protocol: ChaCha20-Poly1305 with WireGuard's 64-bit counter nonce (transport and
 * handshake) and XChaCha20-Poly1305 (cookie replies), on libsodium. */
#ifndef LR_CRYPTO_AEAD_H
#define LR_CRYPTO_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LR_AEAD_KEY_SIZE 32
#define LR_AEAD_TAG_SIZE 16
#define LR_XAEAD_NONCE_SIZE 24

/* dst receives srclen + 16 bytes; dst may equal src (in place). The nonce is 4 zero bytes
 * followed by the little-endian counter, as the whitepaper specifies. */
void lr_aead_seal(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad, size_t adlen,
		  uint64_t counter, const uint8_t key[LR_AEAD_KEY_SIZE]);
/* srclen includes the tag; dst receives srclen - 16 bytes. Returns false (and leaves dst
 * unspecified) when authentication fails or srclen < 16. */
bool lr_aead_open(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad, size_t adlen,
		  uint64_t counter, const uint8_t key[LR_AEAD_KEY_SIZE]);

void lr_xaead_seal(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		   size_t adlen, const uint8_t nonce[LR_XAEAD_NONCE_SIZE],
		   const uint8_t key[LR_AEAD_KEY_SIZE]);
bool lr_xaead_open(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		   size_t adlen, const uint8_t nonce[LR_XAEAD_NONCE_SIZE],
		   const uint8_t key[LR_AEAD_KEY_SIZE]);

#endif
