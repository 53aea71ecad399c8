/* BLAKE2s, HMAC-BLAKE2s and lr_kdf against RFC 7693, the BLAKE2 KATs and Python's hashlib. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/compiler.h"
#include "crypto/blake2s.h"

static void hex_decode(uint8_t *out, size_t outlen, const char *hex)
{
	size_t binlen = 0;

	assert_int_equal(strlen(hex), 2 * outlen);
	assert_int_equal(sodium_hex2bin(out, outlen, hex, strlen(hex), NULL, &binlen, NULL), 0);
	assert_int_equal(binlen, outlen);
}

static void assert_hex_equal(const uint8_t *got, const char *want_hex)
{
	uint8_t want[64];
	size_t len = strlen(want_hex) / 2;

	hex_decode(want, len, want_hex);
	assert_memory_equal(got, want, len);
}

/* i * mul + add, truncated to bytes: the same patterns as the Python generator below. */
static void pattern(uint8_t *out, size_t len, unsigned int mul, unsigned int add)
{
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = (uint8_t)(i * mul + add);
}

/* RFC 7693 Appendix B: BLAKE2s-256("abc"). */
static void test_rfc7693_abc(void **state)
{
	uint8_t out[32];

	lr_blake2s(out, sizeof(out), "abc", 3, NULL, 0);
	assert_hex_equal(out, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

/* Sample of BLAKE2/BLAKE2 testvectors/blake2s-kat.txt (commit ed1974ea): key = 00..1f,
 * input = 00..(n-1). The lengths straddle the 64-byte block edges where buffering bugs hide. */
static const struct {
	size_t len;
	const char *hash;
} kat[] = {
	{ 0, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49" },
	{ 1, "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1" },
	{ 2, "6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803" },
	{ 3, "1d220dbe2ee134661fdf6d9e74b41704710556f2f6e5a091b227697445dbea6b" },
	{ 31, "b6156f72d380ee9ea6acd190464f2307a5c179ef01fd71f99f2d0f7a57360aea" },
	{ 32, "c03bc642b20959cbe133a0303e0c1abff3e31ec8e1a328ec8565c36decff5265" },
	{ 33, "2c3e08176f760c6264c3a2cd66fec6c3d78de43fc192457b2a4a660a1e0eb22b" },
	{ 63, "c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd" },
	{ 64, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4" },
	{ 65, "21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8" },
	{ 127, "ddbfea75cc467882eb3483ce5e2e756a4f4701b76b445519e89f22d60fa86e06" },
	{ 128, "0c311f38c35a4fb90d651c289d486856cd1413df9b0677f53ece2cd9e477c60a" },
	{ 129, "46a73a8dd3e70f59d3942c01df599def783c9da82fd83222cd662b53dce7dbdf" },
	{ 255, "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd" },
};

static void test_kat_keyed(void **state)
{
	uint8_t key[32], in[255], out[32];
	size_t i;

	pattern(key, sizeof(key), 1, 0);
	pattern(in, sizeof(in), 1, 0);
	for (i = 0; i < LR_ARRAY_SIZE(kat); i++) {
		lr_blake2s(out, sizeof(out), in, kat[i].len, key, sizeof(key));
		assert_hex_equal(out, kat[i].hash);
	}
}

/* RFC 7693 Appendix E's deterministic Fibonacci byte generator. */
static void selftest_seq(uint8_t *out, size_t len, uint32_t seed)
{
	uint32_t a = 0xDEAD4BADu * seed, b = 1, t;
	size_t i;

	for (i = 0; i < len; i++) {
		t = a + b;
		a = b;
		b = t;
		out[i] = (uint8_t)(t >> 24);
	}
}

/* RFC 7693 Appendix E: hash of the plain and keyed hashes for every outlen x inlen pair. The
 * expected value is the RFC's blake2s_res (6a 41 1f 08 ...); c2 3a 78 00 ... is BLAKE2b's. */
static void test_rfc7693_selftest(void **state)
{
	static const size_t md_len[] = { 16, 20, 28, 32 };
	static const size_t in_len[] = { 0, 3, 64, 65, 255, 1024 };
	struct lr_blake2s_state grand;
	uint8_t in[1024], md[32], key[32];
	size_t i, j;

	lr_blake2s_init(&grand, 32, NULL, 0);
	for (i = 0; i < LR_ARRAY_SIZE(md_len); i++) {
		for (j = 0; j < LR_ARRAY_SIZE(in_len); j++) {
			selftest_seq(in, in_len[j], (uint32_t)in_len[j]);
			lr_blake2s(md, md_len[i], in, in_len[j], NULL, 0);
			lr_blake2s_update(&grand, md, md_len[i]);
			selftest_seq(key, md_len[i], (uint32_t)md_len[i]);
			lr_blake2s(md, md_len[i], in, in_len[j], key, md_len[i]);
			lr_blake2s_update(&grand, md, md_len[i]);
		}
	}
	lr_blake2s_final(&grand, md);
	assert_hex_equal(md, "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe");
}

static uint32_t xorshift32(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Feeding the same bytes in random pieces (including empty ones) must not change the digest. */
static void test_incremental_equals_oneshot(void **state)
{
	struct lr_blake2s_state s;
	uint8_t in[700], key[32], want[32], got[32];
	uint32_t rng = 0x12345678;
	size_t len, off, chunk, outlen, keylen;
	int round;

	pattern(in, sizeof(in), 29, 3);
	pattern(key, sizeof(key), 5, 77);
	for (round = 0; round < 2000; round++) {
		len = xorshift32(&rng) % (sizeof(in) + 1);
		outlen = 1 + xorshift32(&rng) % 32;
		keylen = xorshift32(&rng) % 33;
		lr_blake2s(want, outlen, in, len, key, keylen);

		lr_blake2s_init(&s, outlen, key, keylen);
		for (off = 0; off < len; off += chunk) {
			chunk = xorshift32(&rng) % 150;
			if (chunk > len - off)
				chunk = len - off;
			lr_blake2s_update(&s, in + off, chunk);
		}
		lr_blake2s_final(&s, got);
		assert_memory_equal(got, want, outlen);
	}
}

/* The header promises final wipes the state, which held key-derived chaining values. */
static void test_final_wipes_state(void **state)
{
	static const struct lr_blake2s_state zero;
	struct lr_blake2s_state s;
	uint8_t key[32], out[32];

	pattern(key, sizeof(key), 1, 1);
	lr_blake2s_init(&s, 32, key, sizeof(key));
	lr_blake2s_update(&s, "secret", 6);
	lr_blake2s_final(&s, out);
	assert_memory_equal(&s, &zero, sizeof(s));
}

/* Expected values for the two tests below, from this Python 3 (hashlib.blake2s is the
 * reference implementation; hmac is RFC 2104):
 *
 *   import hashlib, hmac
 *   pat = lambda n, mul, add: bytes((i * mul + add) & 0xff for i in range(n))
 *   H = lambda k, m: hmac.new(k, m, hashlib.blake2s).digest()
 *   for kl, ml in ((0, 0), (1, 3), (32, 32), (64, 100), (65, 64), (200, 1000)):
 *       print(kl, ml, H(pat(kl, 7, 1), pat(ml, 13, 5)).hex())
 *   def kdf(key, inp):  # whitepaper section 5.4 KDF3
 *       t0 = H(key, inp); t1 = H(t0, b"\x01"); t2 = H(t0, t1 + b"\x02")
 *       return t1, t2, H(t0, t2 + b"\x03")
 *   for il in (0, 32, 100):
 *       print(il, *[t.hex() for t in kdf(pat(32, 3, 9), pat(il, 11, 2))])
 */
static const struct {
	size_t keylen, msglen;
	const char *mac;
} hmac_vec[] = {
	{ 0, 0, "eaf4bb25938f4d20e72656bbbc7a9bf63c0c18537333c35bdb67db1402661acd" },
	{ 1, 3, "f1761581cf2e6f759fd5bf9d5eb6cf59d159461392c5a7658df453566e7ad36d" },
	{ 32, 32, "d5a5086c7b93d709774f6cbe397b5b84f0bcef3303b93aee65f2dda3f0ea327c" },
	{ 64, 100, "017c1e7ac5f234cdbafe52602273c95674177125d88775335c45e22c80ba692f" },
	/* Keys over one block are hashed first (RFC 2104 section 2). */
	{ 65, 64, "207d5432bd4b7a5e8ec38dd79982d57cb38ed87f79d3396e42d0ee289b079e00" },
	{ 200, 1000, "c200efa91b97d4a771707b36195cdf80e44b919e2df20a7764c4b018b6631860" },
};

static void test_hmac_python(void **state)
{
	uint8_t key[200], msg[1000], out[32];
	size_t i;

	for (i = 0; i < LR_ARRAY_SIZE(hmac_vec); i++) {
		pattern(key, hmac_vec[i].keylen, 7, 1);
		pattern(msg, hmac_vec[i].msglen, 13, 5);
		lr_blake2s_hmac(out, msg, hmac_vec[i].msglen, key, hmac_vec[i].keylen);
		assert_hex_equal(out, hmac_vec[i].mac);
	}
}

static const struct {
	size_t inlen;
	const char *t1, *t2, *t3;
} kdf_vec[] = {
	{ 0, "e7669b45f71fe3f95ff605db133aa748f4ee62f6afa7a9d5d633d1a52d8560a6",
	  "8f43d6ab05865d8b84f70393d8f6fb4d7b72b264d9b108379329024879cc80a2",
	  "f0f998833e0a612035e7c06aae9a6b429981fc02c0c9d7526a839a3bc3c09969" },
	{ 32, "9f417f7b4bbdccdf52fb2404c51452df8a284f043c7616d5d293279b4eaad880",
	  "8bd4f4f952e7656ba54897b48813bd36527d4fb81c4fd2957f29d4b2ccd1b42d",
	  "edd8d5ebab543faae1aca72854aba8310b8d9b55c706681338a0ac0c16c40614" },
	{ 100, "749fad52171fad831719352c48ad2b9bc9658c19c5859529bf2f37a9087ee93f",
	  "37eb255ed59a2aeed9c819318024614e4b444f9674dc2b5c42a17c7ce25c2d73",
	  "43542f7dd34c0c719b9b47d78677b5f84130c075ec5261b19b62af3fb302bb51" },
};

static void test_kdf_python(void **state)
{
	uint8_t key[32], in[100], t1[32], t2[32], t3[32];
	size_t i;

	pattern(key, sizeof(key), 3, 9);
	for (i = 0; i < LR_ARRAY_SIZE(kdf_vec); i++) {
		pattern(in, kdf_vec[i].inlen, 11, 2);
		lr_kdf(t1, t2, t3, key, in, kdf_vec[i].inlen);
		assert_hex_equal(t1, kdf_vec[i].t1);
		assert_hex_equal(t2, kdf_vec[i].t2);
		assert_hex_equal(t3, kdf_vec[i].t3);
	}
}

/* KDF1 and KDF2 are prefixes of KDF3, and noise.c chains in place: lr_kdf(ck, k, NULL, ck, ...). */
static void test_kdf_partial_and_aliased(void **state)
{
	uint8_t key[32], in[32], t1[32], t2[32];

	pattern(key, sizeof(key), 3, 9);
	pattern(in, sizeof(in), 11, 2);
	lr_kdf(t1, NULL, NULL, key, in, sizeof(in));
	assert_hex_equal(t1, kdf_vec[1].t1);
	lr_kdf(t1, t2, NULL, key, in, sizeof(in));
	assert_hex_equal(t1, kdf_vec[1].t1);
	assert_hex_equal(t2, kdf_vec[1].t2);

	lr_kdf(key, t2, NULL, key, in, sizeof(in));
	assert_hex_equal(key, kdf_vec[1].t1);
	assert_hex_equal(t2, kdf_vec[1].t2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7693_abc),
		cmocka_unit_test(test_kat_keyed),
		cmocka_unit_test(test_rfc7693_selftest),
		cmocka_unit_test(test_incremental_equals_oneshot),
		cmocka_unit_test(test_final_wipes_state),
		cmocka_unit_test(test_hmac_python),
		cmocka_unit_test(test_kdf_python),
		cmocka_unit_test(test_kdf_partial_and_aliased),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
