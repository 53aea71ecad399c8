/* The protocol's AEADs: counter-nonce ChaCha20-Poly1305 and XChaCha20-Poly1305, on libsodium. */
#include "crypto/aead.h"

#include <string.h>

#include <sodium.h>

#include "common/compiler.h"

/* Whitepaper section 5.4.6: 32 zero bits then the 64-bit counter, little endian. */
static void nonce_from_counter(uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES],
			       uint64_t counter)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

/* The detached calls make the tag's place (right after the ciphertext) explicit; libsodium
 * allows the message and ciphertext buffers to be the same, which in-place use relies on. */
void lr_aead_seal(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad, size_t adlen,
		  uint64_t counter, const uint8_t key[LR_AEAD_KEY_SIZE])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	nonce_from_counter(nonce, counter);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(dst, dst + srclen, NULL, src, srclen, ad,
							   adlen, NULL, nonce, key);
}

bool lr_aead_open(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad, size_t adlen,
		  uint64_t counter, const uint8_t key[LR_AEAD_KEY_SIZE])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
	size_t mlen;

	if (unlikely(srclen < LR_AEAD_TAG_SIZE))
		return false;
	mlen = srclen - LR_AEAD_TAG_SIZE;
	nonce_from_counter(nonce, counter);
	/* libsodium checks the tag in constant time before decrypting, and wipes dst on failure. */
	return crypto_aead_chacha20poly1305_ietf_decrypt_detached(dst, NULL, src, mlen,
								  src + mlen, ad, adlen, nonce,
								  key) == 0;
}

void lr_xaead_seal(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		   size_t adlen, const uint8_t nonce[LR_XAEAD_NONCE_SIZE],
		   const uint8_t key[LR_AEAD_KEY_SIZE])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(dst, dst + srclen, NULL, src, srclen,
							    ad, adlen, NULL, nonce, key);
}

bool lr_xaead_open(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		   size_t adlen, const uint8_t nonce[LR_XAEAD_NONCE_SIZE],
		   const uint8_t key[LR_AEAD_KEY_SIZE])
{
	size_t mlen;

	if (unlikely(srclen < LR_AEAD_TAG_SIZE))
		return false;
	mlen = srclen - LR_AEAD_TAG_SIZE;
	return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(dst, NULL, src, mlen, src + mlen,
								   ad, adlen, nonce, key) == 0;
}
