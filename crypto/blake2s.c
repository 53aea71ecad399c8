/* BLAKE2s (RFC 7693), HMAC-BLAKE2s (RFC 2104) and the whitepaper's KDF; libsodium has only 2b. */
#include "crypto/blake2s.h"

#include <string.h>

#include <sodium.h>

static const uint32_t blake2s_iv[8] = {
	0x6A09E667UL, 0xBB67AE85UL, 0x3C6EF372UL, 0xA54FF53AUL,
	0x510E527FUL, 0x9B05688CUL, 0x1F83D9ABUL, 0x5BE0CD19UL,
};

/* RFC 7693 section 2.7; BLAKE2s runs 10 rounds so only the first 10 rows are needed. */
static const uint8_t blake2s_sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static inline uint32_t rotr32(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

/* memcpy keeps the load legal on any alignment; the byte swap makes it right on big endian. */
static inline uint32_t load_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline void store_le32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, sizeof(v));
}

/* The mixing function G (RFC 7693 section 3.1) with BLAKE2s rotations 16, 12, 8, 7. */
#define G(r, i, a, b, c, d)                                  \
	do {                                                 \
		a = a + b + m[blake2s_sigma[r][2 * (i)]];     \
		d = rotr32(d ^ a, 16);                       \
		c = c + d;                                   \
		b = rotr32(b ^ c, 12);                       \
		a = a + b + m[blake2s_sigma[r][2 * (i) + 1]]; \
		d = rotr32(d ^ a, 8);                        \
		c = c + d;                                   \
		b = rotr32(b ^ c, 7);                        \
	} while (0)

/* Constant round numbers let the compiler resolve every sigma lookup at build time. */
#define ROUND(r)                                        \
	do {                                            \
		G(r, 0, v[0], v[4], v[8], v[12]);       \
		G(r, 1, v[1], v[5], v[9], v[13]);       \
		G(r, 2, v[2], v[6], v[10], v[14]);      \
		G(r, 3, v[3], v[7], v[11], v[15]);      \
		G(r, 4, v[0], v[5], v[10], v[15]);      \
		G(r, 5, v[1], v[6], v[11], v[12]);      \
		G(r, 6, v[2], v[7], v[8], v[13]);       \
		G(r, 7, v[3], v[4], v[9], v[14]);       \
	} while (0)

/* Compresses nblocks consecutive blocks, bumping the byte counter by inc before each. The final
 * block always goes through here alone, with inc = the real byte count and f[0] already set. */
static void compress(struct lr_blake2s_state *s, const uint8_t *block, size_t nblocks, uint32_t inc)
{
	uint32_t m[16], v[16];
	int i;

	while (nblocks--) {
		s->t[0] += inc;
		s->t[1] += (s->t[0] < inc);
		for (i = 0; i < 16; i++)
			m[i] = load_le32(block + 4 * i);
		memcpy(v, s->h, sizeof(s->h));
		memcpy(v + 8, blake2s_iv, sizeof(blake2s_iv));
		v[12] ^= s->t[0];
		v[13] ^= s->t[1];
		v[14] ^= s->f[0];
		v[15] ^= s->f[1];
		ROUND(0);
		ROUND(1);
		ROUND(2);
		ROUND(3);
		ROUND(4);
		ROUND(5);
		ROUND(6);
		ROUND(7);
		ROUND(8);
		ROUND(9);
		for (i = 0; i < 8; i++)
			s->h[i] ^= v[i] ^ v[i + 8];
		block += LR_BLAKE2S_BLOCK_SIZE;
	}
	/* The message words and working vector are functions of secret keys in HMAC and the KDF. */
	sodium_memzero(m, sizeof(m));
	sodium_memzero(v, sizeof(v));
}

#undef ROUND
#undef G

void lr_blake2s_init(struct lr_blake2s_state *s, size_t outlen, const void *key, size_t keylen)
{
	uint8_t block[LR_BLAKE2S_BLOCK_SIZE];

	memset(s, 0, sizeof(*s));
	memcpy(s->h, blake2s_iv, sizeof(s->h));
	/* Parameter block word 0: digest length, key length, fanout 1, depth 1 (sequential). */
	s->h[0] ^= 0x01010000UL ^ ((uint32_t)keylen << 8) ^ (uint32_t)outlen;
	s->outlen = outlen;
	if (keylen) {
		/* A key is absorbed as a zero-padded first block (RFC 7693 section 3.3). */
		memset(block, 0, sizeof(block));
		memcpy(block, key, keylen);
		lr_blake2s_update(s, block, LR_BLAKE2S_BLOCK_SIZE);
		sodium_memzero(block, sizeof(block));
	}
}

void lr_blake2s_update(struct lr_blake2s_state *s, const void *in, size_t inlen)
{
	const uint8_t *p = in;
	size_t fill = LR_BLAKE2S_BLOCK_SIZE - s->buflen;
	size_t nblocks;

	if (!inlen)
		return;
	/* A full buffer is only compressed once more input shows it is not the last block, because
	 * the last block must be compressed with the finalization flag. */
	if (inlen > fill) {
		memcpy(s->buf + s->buflen, p, fill);
		compress(s, s->buf, 1, LR_BLAKE2S_BLOCK_SIZE);
		s->buflen = 0;
		p += fill;
		inlen -= fill;
		if (inlen > LR_BLAKE2S_BLOCK_SIZE) {
			nblocks = (inlen - 1) / LR_BLAKE2S_BLOCK_SIZE;
			compress(s, p, nblocks, LR_BLAKE2S_BLOCK_SIZE);
			p += nblocks * LR_BLAKE2S_BLOCK_SIZE;
			inlen -= nblocks * LR_BLAKE2S_BLOCK_SIZE;
		}
	}
	memcpy(s->buf + s->buflen, p, inlen);
	s->buflen += inlen;
}

void lr_blake2s_final(struct lr_blake2s_state *s, uint8_t *out)
{
	uint8_t digest[LR_BLAKE2S_HASH_SIZE];
	int i;

	s->f[0] = 0xFFFFFFFFUL;
	memset(s->buf + s->buflen, 0, LR_BLAKE2S_BLOCK_SIZE - s->buflen);
	compress(s, s->buf, 1, (uint32_t)s->buflen);
	for (i = 0; i < 8; i++)
		store_le32(digest + 4 * i, s->h[i]);
	memcpy(out, digest, s->outlen);
	sodium_memzero(digest, sizeof(digest));
	sodium_memzero(s, sizeof(*s));
}

void lr_blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen, const void *key,
		size_t keylen)
{
	struct lr_blake2s_state s;

	lr_blake2s_init(&s, outlen, key, keylen);
	lr_blake2s_update(&s, in, inlen);
	lr_blake2s_final(&s, out);
}

/* Plain HMAC over BLAKE2s, not BLAKE2s's own keyed mode: the whitepaper's HKDF is specified so,
 * and keys longer than a block are hashed down first as RFC 2104 section 2 requires. */
void lr_blake2s_hmac(uint8_t out[LR_BLAKE2S_HASH_SIZE], const void *in, size_t inlen,
		     const void *key, size_t keylen)
{
	struct lr_blake2s_state s;
	uint8_t pad[LR_BLAKE2S_BLOCK_SIZE] = { 0 };
	uint8_t inner[LR_BLAKE2S_HASH_SIZE];
	int i;

	if (keylen > LR_BLAKE2S_BLOCK_SIZE)
		lr_blake2s(pad, LR_BLAKE2S_HASH_SIZE, key, keylen, NULL, 0);
	else if (keylen)
		memcpy(pad, key, keylen);

	for (i = 0; i < LR_BLAKE2S_BLOCK_SIZE; i++)
		pad[i] ^= 0x36;
	lr_blake2s_init(&s, LR_BLAKE2S_HASH_SIZE, NULL, 0);
	lr_blake2s_update(&s, pad, LR_BLAKE2S_BLOCK_SIZE);
	lr_blake2s_update(&s, in, inlen);
	lr_blake2s_final(&s, inner);

	/* 0x36 ^ 0x5c turns the inner pad into the outer one without keeping the key around. */
	for (i = 0; i < LR_BLAKE2S_BLOCK_SIZE; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	lr_blake2s_init(&s, LR_BLAKE2S_HASH_SIZE, NULL, 0);
	lr_blake2s_update(&s, pad, LR_BLAKE2S_BLOCK_SIZE);
	lr_blake2s_update(&s, inner, LR_BLAKE2S_HASH_SIZE);
	lr_blake2s_final(&s, out);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

/* HKDF (RFC 5869) with HMAC-BLAKE2s, empty info, as in the whitepaper section 5.4 and the kernel's
 * noise.c kdf(): t0 is the extracted PRK, each output chains the previous one and a counter byte.
 * Outputs are computed into locals so out1 may alias key or in. */
void lr_kdf(uint8_t out1[32], uint8_t *out2, uint8_t *out3, const uint8_t key[32], const void *in,
	    size_t inlen)
{
	uint8_t prk[LR_BLAKE2S_HASH_SIZE];
	uint8_t t[LR_BLAKE2S_HASH_SIZE + 1];

	lr_blake2s_hmac(prk, in, inlen, key, LR_BLAKE2S_KEY_SIZE);

	t[0] = 0x1;
	lr_blake2s_hmac(t, t, 1, prk, sizeof(prk));
	memcpy(out1, t, LR_BLAKE2S_HASH_SIZE);
	if (!out2)
		goto wipe;

	t[LR_BLAKE2S_HASH_SIZE] = 0x2;
	lr_blake2s_hmac(t, t, sizeof(t), prk, sizeof(prk));
	memcpy(out2, t, LR_BLAKE2S_HASH_SIZE);
	if (!out3)
		goto wipe;

	t[LR_BLAKE2S_HASH_SIZE] = 0x3;
	lr_blake2s_hmac(t, t, sizeof(t), prk, sizeof(prk));
	memcpy(out3, t, LR_BLAKE2S_HASH_SIZE);

wipe:
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
}
