/* ChaCha20-Poly1305 with WireGuard's counter nonce and XChaCha20-Poly1305: vectors and misuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/compiler.h"
#include "crypto/aead.h"

#define MAX_MSG 1500

static size_t hex_decode(uint8_t *out, size_t cap, const char *hex)
{
	size_t binlen = 0;

	assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &binlen, NULL), 0);
	assert_int_equal(binlen * 2, strlen(hex));
	return binlen;
}

/* Fixed-seed filler so a failure reproduces; the properties tested hold for any bytes. */
static void fill(void *buf, size_t len, uint8_t tag)
{
	uint8_t seed[randombytes_SEEDBYTES] = { tag };

	randombytes_buf_deterministic(buf, len, seed);
}

/* RFC 8439 section 2.8.2 ("Ladies and Gentlemen"). */
static const char rfc_282_key[] =
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
static const char rfc_282_aad[] = "50515253c0c1c2c3c4c5c6c7";
static const char ladies_pt[] =
	"4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
	"73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
	"6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
	"637265656e20776f756c642062652069742e";
static const char rfc_282_ct_tag[] =
	"d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	"3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	"92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	"3ff4def08e4b7a9de576d26586cec64b6116"
	"1ae10b594f09e26a7e902ecbd0600691";

/* Its nonce 07 00 00 00 || 40..47 has a non-zero prefix, so no WireGuard counter reaches it:
 * this pins the libsodium primitive that lr_aead_* wraps. */
static void test_rfc8439_282_libsodium(void **state)
{
	static const uint8_t nonce[12] = { 0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43,
					   0x44, 0x45, 0x46, 0x47 };
	uint8_t key[32], ad[12], pt[114], want[114 + 16], got[114 + 16];
	unsigned long long clen;

	hex_decode(key, sizeof(key), rfc_282_key);
	hex_decode(ad, sizeof(ad), rfc_282_aad);
	assert_int_equal(hex_decode(pt, sizeof(pt), ladies_pt), sizeof(pt));
	assert_int_equal(hex_decode(want, sizeof(want), rfc_282_ct_tag), sizeof(want));

	crypto_aead_chacha20poly1305_ietf_encrypt(got, &clen, pt, sizeof(pt), ad, sizeof(ad), NULL,
						  nonce, key);
	assert_int_equal(clen, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
}

/* RFC 8439 Appendix A.5: nonce 00 00 00 00 || 01..08, i.e. counter 0x0807060504030201. */
static const uint64_t rfc_a5_counter = 0x0807060504030201ULL;
static const char rfc_a5_key[] =
	"1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0";
static const char rfc_a5_aad[] = "f33388860000000000004e91";
static const char rfc_a5_ct_tag[] =
	"64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
	"4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
	"332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
	"9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
	"b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
	"af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
	"0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
	"49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
	"a6ad5cb4022b02709b"
	"eead9d67890cbb22392336fea1851f38";
static const char rfc_a5_pt[] =
	"496e7465726e65742d4472616674732061726520647261667420646f63756d65"
	"6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
	"6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
	"65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
	"6e747320617420616e792074696d652e20497420697320696e617070726f7072"
	"6961746520746f2075736520496e7465726e65742d4472616674732061732072"
	"65666572656e6365206d6174657269616c206f7220746f206369746520746865"
	"6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
	"726573732e2fe2809d";

static void test_rfc8439_a5_open(void **state)
{
	uint8_t key[32], ad[12], ct[265 + 16], want[265], got[265];

	hex_decode(key, sizeof(key), rfc_a5_key);
	hex_decode(ad, sizeof(ad), rfc_a5_aad);
	assert_int_equal(hex_decode(ct, sizeof(ct), rfc_a5_ct_tag), sizeof(ct));
	assert_int_equal(hex_decode(want, sizeof(want), rfc_a5_pt), sizeof(want));

	assert_true(lr_aead_open(got, ct, sizeof(ct), ad, sizeof(ad), rfc_a5_counter, key));
	assert_memory_equal(got, want, sizeof(want));
}

/* The same vector run backwards: sealing the plaintext must reproduce ciphertext and tag. */
static void test_rfc8439_a5_seal(void **state)
{
	uint8_t key[32], ad[12], pt[265], want[265 + 16], got[265 + 16];

	hex_decode(key, sizeof(key), rfc_a5_key);
	hex_decode(ad, sizeof(ad), rfc_a5_aad);
	hex_decode(pt, sizeof(pt), rfc_a5_pt);
	hex_decode(want, sizeof(want), rfc_a5_ct_tag);

	lr_aead_seal(got, pt, sizeof(pt), ad, sizeof(ad), rfc_a5_counter, key);
	assert_memory_equal(got, want, sizeof(want));
}

/* Whitepaper 5.4.6: nonce = 32 zero bits || counter little endian. Compared with libsodium fed
 * nonces built by hand, so a byte-order or offset slip in lr_aead_seal cannot hide. */
static void test_counter_nonce_layout(void **state)
{
	static const struct {
		uint64_t counter;
		uint8_t nonce[12];
	} cases[] = {
		{ 0, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
		{ 1, { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 } },
		{ 0x0102030405060708ULL, { 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1 } },
		{ 0xfffffffffffffffeULL, { 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					   0xff } },
	};
	uint8_t key[32], pt[100], want[116], got[116];
	size_t i;

	fill(key, sizeof(key), 1);
	fill(pt, sizeof(pt), 2);
	for (i = 0; i < LR_ARRAY_SIZE(cases); i++) {
		crypto_aead_chacha20poly1305_ietf_encrypt(want, NULL, pt, sizeof(pt), NULL, 0, NULL,
							  cases[i].nonce, key);
		lr_aead_seal(got, pt, sizeof(pt), NULL, 0, cases[i].counter, key);
		assert_memory_equal(got, want, sizeof(want));
	}
}

/* Sizes around the 16-byte Poly1305 and 64-byte ChaCha20 blocks, up to an MTU-sized packet. */
static const size_t sizes[] = { 0, 1, 15, 16, 17, 63, 64, 65, 1420, MAX_MSG };

static void test_aead_round_trip(void **state)
{
	uint8_t key[32], ad[32], pt[MAX_MSG], ct[MAX_MSG + 16], back[MAX_MSG];
	size_t i;

	fill(key, sizeof(key), 3);
	fill(ad, sizeof(ad), 4);
	fill(pt, sizeof(pt), 5);
	for (i = 0; i < LR_ARRAY_SIZE(sizes); i++) {
		lr_aead_seal(ct, pt, sizes[i], ad, sizeof(ad), 42 + i, key);
		memset(back, 0xaa, sizeof(back));
		assert_true(lr_aead_open(back, ct, sizes[i] + 16, ad, sizeof(ad), 42 + i, key));
		assert_memory_equal(back, pt, sizes[i]);
	}
}

/* The dataplane encrypts packet buffers in place: results must match the out-of-place ones. */
static void test_aead_in_place(void **state)
{
	uint8_t key[32], ad[16], pt[MAX_MSG], want[MAX_MSG + 16], buf[MAX_MSG + 16];
	size_t i;

	fill(key, sizeof(key), 6);
	fill(ad, sizeof(ad), 7);
	fill(pt, sizeof(pt), 8);
	for (i = 0; i < LR_ARRAY_SIZE(sizes); i++) {
		lr_aead_seal(want, pt, sizes[i], ad, sizeof(ad), 7, key);
		memcpy(buf, pt, sizes[i]);
		lr_aead_seal(buf, buf, sizes[i], ad, sizeof(ad), 7, key);
		assert_memory_equal(buf, want, sizes[i] + 16);
		assert_true(lr_aead_open(buf, buf, sizes[i] + 16, ad, sizeof(ad), 7, key));
		assert_memory_equal(buf, pt, sizes[i]);
	}
}

/* Keepalives are empty: the output is a bare tag that still authenticates ad and counter. */
static void test_aead_empty_plaintext(void **state)
{
	uint8_t key[32], ad[8], tag[16], want[16], none[1];

	fill(key, sizeof(key), 9);
	fill(ad, sizeof(ad), 10);
	lr_aead_seal(tag, NULL, 0, ad, sizeof(ad), 5, key);
	crypto_aead_chacha20poly1305_ietf_encrypt(want, NULL, NULL, 0, ad, sizeof(ad), NULL,
						  (const uint8_t[12]){ 0, 0, 0, 0, 5 }, key);
	assert_memory_equal(tag, want, sizeof(tag));
	assert_true(lr_aead_open(none, tag, sizeof(tag), ad, sizeof(ad), 5, key));
	assert_false(lr_aead_open(none, tag, sizeof(tag), ad, sizeof(ad), 6, key));
	assert_false(lr_aead_open(none, tag, sizeof(tag), NULL, 0, 5, key));
}

/* Shorter than a tag cannot be authentic, and must not be read past its end. */
static void test_aead_short_input(void **state)
{
	uint8_t key[32] = { 0 }, buf[15] = { 0 }, out[16];
	size_t len;

	for (len = 0; len < sizeof(buf); len++) {
		assert_false(lr_aead_open(out, buf, len, NULL, 0, 0, key));
		assert_false(lr_xaead_open(out, buf, len, NULL, 0, (const uint8_t[24]){ 0 }, key));
	}
}

/* One sealed message under either AEAD, so the tamper checks are written once. */
struct sealed {
	bool xchacha;
	uint8_t key[32];
	uint8_t nonce[24];
	uint64_t counter;
	uint8_t ad[20];
	uint8_t pt[40];
	uint8_t ct[40 + 16];
};

static void sealed_make(struct sealed *s, bool xchacha)
{
	s->xchacha = xchacha;
	fill(s->key, sizeof(s->key), 11);
	fill(s->nonce, sizeof(s->nonce), 12);
	s->counter = 0x1122334455667788ULL;
	fill(s->ad, sizeof(s->ad), 13);
	fill(s->pt, sizeof(s->pt), 14);
	if (xchacha)
		lr_xaead_seal(s->ct, s->pt, sizeof(s->pt), s->ad, sizeof(s->ad), s->nonce, s->key);
	else
		lr_aead_seal(s->ct, s->pt, sizeof(s->pt), s->ad, sizeof(s->ad), s->counter, s->key);
}

static bool sealed_open(const struct sealed *s)
{
	uint8_t out[sizeof(s->pt)];

	if (s->xchacha)
		return lr_xaead_open(out, s->ct, sizeof(s->ct), s->ad, sizeof(s->ad), s->nonce,
				     s->key);
	return lr_aead_open(out, s->ct, sizeof(s->ct), s->ad, sizeof(s->ad), s->counter, s->key);
}

/* Every single-bit flip of ciphertext, tag, ad, key or nonce must make open fail. */
static void check_tamper(bool xchacha)
{
	struct sealed s;
	size_t bit;

	sealed_make(&s, xchacha);
	assert_true(sealed_open(&s));
	for (bit = 0; bit < 8 * sizeof(s.ct); bit++) {
		s.ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_false(sealed_open(&s));
		s.ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (bit = 0; bit < 8 * sizeof(s.ad); bit++) {
		s.ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_false(sealed_open(&s));
		s.ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	s.key[31] ^= 0x80;
	assert_false(sealed_open(&s));
	s.key[31] ^= 0x80;
	if (xchacha)
		s.nonce[23] ^= 1;
	else
		s.counter ^= 1ULL << 63;
	assert_false(sealed_open(&s));
}

static void test_aead_tamper(void **state)
{
	check_tamper(false);
}

static void test_xaead_tamper(void **state)
{
	check_tamper(true);
}

/* draft-irtf-cfrg-xchacha-03 Appendix A.3.1 (same plaintext and ad as RFC 8439 2.8.2). */
static void test_xchacha_draft_a31(void **state)
{
	static const char nonce_hex[] = "404142434445464748494a4b4c4d4e4f5051525354555657";
	static const char ct_tag_hex[] =
		"bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
		"731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
		"2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
		"21f9664c97637da9768812f615c68b13b52e"
		"c0875924c1c7987947deafd8780acf49";
	uint8_t key[32], ad[12], nonce[24], pt[114], want[114 + 16], got[114 + 16], back[114];

	hex_decode(key, sizeof(key), rfc_282_key);
	hex_decode(ad, sizeof(ad), rfc_282_aad);
	hex_decode(nonce, sizeof(nonce), nonce_hex);
	hex_decode(pt, sizeof(pt), ladies_pt);
	assert_int_equal(hex_decode(want, sizeof(want), ct_tag_hex), sizeof(want));

	lr_xaead_seal(got, pt, sizeof(pt), ad, sizeof(ad), nonce, key);
	assert_memory_equal(got, want, sizeof(want));
	assert_true(lr_xaead_open(back, got, sizeof(got), ad, sizeof(ad), nonce, key));
	assert_memory_equal(back, pt, sizeof(pt));
}

/* Cookie replies seal 16-byte cookies, but the wrapper must hold for any length and in place. */
static void test_xaead_round_trip_in_place(void **state)
{
	uint8_t key[32], nonce[24], ad[16], pt[MAX_MSG], want[MAX_MSG + 16], buf[MAX_MSG + 16];
	size_t i;

	fill(key, sizeof(key), 15);
	fill(nonce, sizeof(nonce), 16);
	fill(ad, sizeof(ad), 17);
	fill(pt, sizeof(pt), 18);
	for (i = 0; i < LR_ARRAY_SIZE(sizes); i++) {
		lr_xaead_seal(want, pt, sizes[i], ad, sizeof(ad), nonce, key);
		memcpy(buf, pt, sizes[i]);
		lr_xaead_seal(buf, buf, sizes[i], ad, sizeof(ad), nonce, key);
		assert_memory_equal(buf, want, sizes[i] + 16);
		assert_true(lr_xaead_open(buf, buf, sizes[i] + 16, ad, sizeof(ad), nonce, key));
		assert_memory_equal(buf, pt, sizes[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8439_282_libsodium),
		cmocka_unit_test(test_rfc8439_a5_open),
		cmocka_unit_test(test_rfc8439_a5_seal),
		cmocka_unit_test(test_counter_nonce_layout),
		cmocka_unit_test(test_aead_round_trip),
		cmocka_unit_test(test_aead_in_place),
		cmocka_unit_test(test_aead_empty_plaintext),
		cmocka_unit_test(test_aead_short_input),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_xchacha_draft_a31),
		cmocka_unit_test(test_xaead_round_trip_in_place),
		cmocka_unit_test(test_xaead_tamper),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
