/* UAPI text format: set requests parse into the right structure, get replies print in
 * wireguard-go's order and parse back equal, and each malformed line gets wireguard-go's errno. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "controlplane/uapi.h"

#define KEY_A "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define KEY_B "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define KEY_C "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376"
/* KEY_A cut to 31 bytes, with a non-hex digit, with a space. */
#define KEY_SHORT "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba5202"
#define KEY_NOT_HEX "g84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define KEY_SPACE " 84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define ZERO "0000000000000000000000000000000000000000000000000000000000000000"

static void hex_key(uint8_t out[LR_KEY_LEN], const char *hex)
{
	assert_int_equal(sodium_hex2bin(out, LR_KEY_LEN, hex, strlen(hex), NULL, NULL, NULL), 0);
}

/* Feeds text line by line; returns 0 or the first error, with *bad_line its 1-based number. */
static int parse_text(struct lr_uapi_config *cfg, enum lr_uapi_mode mode, const char *text,
		      int *bad_line)
{
	char *copy = strdup(text), *save = NULL, *line;
	int ret = 0, n = 0;

	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		n++;
		ret = lr_uapi_config_parse_line(cfg, mode, line);
		if (ret)
			break;
	}
	if (bad_line)
		*bad_line = n;
	free(copy);
	return ret;
}

static char *print_text(const struct lr_uapi_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(lr_uapi_config_print(cfg, f), 0);
	fclose(f);
	return text;
}

/* A `wg setconf`-style request fills every field it names, in order, peers in sequence. */
static void test_set_request(void **state)
{
	static const char req[] = "private_key=" KEY_A "\n"
				  "listen_port=51820\n"
				  "fwmark=0\n"
				  "replace_peers=true\n"
				  "public_key=" KEY_B "\n"
				  "update_only=true\n"
				  "preshared_key=" ZERO "\n"
				  "endpoint=192.0.2.1:51820\n"
				  "persistent_keepalive_interval=25\n"
				  "replace_allowed_ips=true\n"
				  "allowed_ip=10.0.0.2/32\n"
				  "allowed_ip=2001:db8::/48\n"
				  "protocol_version=1\n"
				  "public_key=" KEY_C "\n"
				  "remove=true\n";
	struct lr_uapi_config cfg;
	uint8_t key[LR_KEY_LEN];
	const struct lr_uapi_peer *p;
	char buf[LR_SOCKADDR_STRLEN];

	lr_uapi_config_init(&cfg);
	assert_int_equal(parse_text(&cfg, LR_UAPI_SET, req, NULL), 0);
	assert_true(cfg.has_private_key);
	hex_key(key, KEY_A);
	assert_memory_equal(cfg.private_key, key, LR_KEY_LEN);
	assert_true(cfg.has_listen_port);
	assert_int_equal(cfg.listen_port, 51820);
	assert_true(cfg.has_fwmark); /* fwmark=0 means "clear", so it must be kept */
	assert_int_equal(cfg.fwmark, 0);
	assert_true(cfg.replace_peers);
	assert_int_equal(cfg.n_peers, 2);

	p = &cfg.peers[0];
	hex_key(key, KEY_B);
	assert_memory_equal(p->public_key, key, LR_KEY_LEN);
	assert_true(p->update_only);
	assert_false(p->remove);
	assert_true(p->has_preshared_key); /* all-zero: "no PSK", for the device to act on */
	assert_true(sodium_is_zero(p->preshared_key, LR_KEY_LEN));
	assert_true(p->has_endpoint);
	assert_string_equal(lr_sockaddr_format(&p->endpoint, buf, sizeof(buf)), "192.0.2.1:51820");
	assert_true(p->has_persistent_keepalive);
	assert_int_equal(p->persistent_keepalive_interval, 25);
	assert_true(p->replace_allowed_ips);
	assert_int_equal(p->n_allowed_ips, 2);
	assert_int_equal(p->allowed_ips[0].family, AF_INET);
	assert_int_equal(p->allowed_ips[0].cidr, 32);
	assert_memory_equal(p->allowed_ips[0].addr, "\x0a\x00\x00\x02", 4);
	assert_int_equal(p->allowed_ips[1].family, AF_INET6);
	assert_int_equal(p->allowed_ips[1].cidr, 48);
	assert_memory_equal(p->allowed_ips[1].addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\0", 16);

	p = &cfg.peers[1];
	hex_key(key, KEY_C);
	assert_memory_equal(p->public_key, key, LR_KEY_LEN);
	assert_true(p->remove);
	assert_false(p->has_endpoint);
	assert_false(p->has_preshared_key);
	assert_int_equal(p->n_allowed_ips, 0);
	lr_uapi_config_free(&cfg);
	assert_null(cfg.peers);
	assert_int_equal(cfg.n_peers, 0);
}

/* An all-zero private key is kept as sent ("remove the key"); upper-case hex is accepted as
 * Go's hex.DecodeString accepts it. */
static void test_set_zero_and_uppercase_keys(void **state)
{
	struct lr_uapi_config cfg;
	uint8_t key[LR_KEY_LEN];
	char upper[] = KEY_B;

	for (char *c = upper; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	lr_uapi_config_init(&cfg);
	assert_int_equal(lr_uapi_config_parse_line(&cfg, LR_UAPI_SET, "private_key=" ZERO), 0);
	assert_true(cfg.has_private_key);
	assert_true(sodium_is_zero(cfg.private_key, LR_KEY_LEN));
	assert_int_equal(lr_uapi_config_parse_line(&cfg, LR_UAPI_SET, "public_key=00"), -EINVAL);
	assert_int_equal(cfg.n_peers, 0);
	{
		char line[128];

		snprintf(line, sizeof(line), "public_key=%s", upper);
		assert_int_equal(lr_uapi_config_parse_line(&cfg, LR_UAPI_SET, line), 0);
	}
	hex_key(key, KEY_B);
	assert_memory_equal(cfg.peers[0].public_key, key, LR_KEY_LEN);
	lr_uapi_config_free(&cfg);
}

static void fill_config(struct lr_uapi_config *cfg, const char *endpoint)
{
	struct lr_uapi_peer *p;
	struct lr_uapi_allowedip *ip;

	lr_uapi_config_init(cfg);
	cfg->has_private_key = true;
	hex_key(cfg->private_key, KEY_A);
	cfg->has_listen_port = true;
	cfg->listen_port = 51820;
	cfg->has_fwmark = true;
	cfg->fwmark = 0xca6c;

	p = lr_uapi_config_add_peer(cfg);
	assert_non_null(p);
	hex_key(p->public_key, KEY_B);
	p->has_preshared_key = true;
	hex_key(p->preshared_key, KEY_C);
	p->has_endpoint = true;
	assert_int_equal(lr_sockaddr_parse(&p->endpoint, endpoint), 0);
	p->has_persistent_keepalive = true;
	p->persistent_keepalive_interval = 25;
	p->rx_bytes = UINT64_MAX;
	p->tx_bytes = 1234567;
	p->last_handshake_time_sec = 1700000000;
	p->last_handshake_time_nsec = 999999999;
	ip = lr_uapi_peer_add_allowedip(p);
	assert_non_null(ip);
	ip->family = AF_INET;
	ip->cidr = 24;
	inet_pton(AF_INET, "10.1.2.0", ip->addr);
	ip = lr_uapi_peer_add_allowedip(p);
	assert_non_null(ip);
	ip->family = AF_INET6;
	ip->cidr = 128;
	inet_pton(AF_INET6, "fd00::1:2", ip->addr);

	/* A second peer with nothing optional: no PSK, no endpoint, no keepalive. */
	p = lr_uapi_config_add_peer(cfg);
	assert_non_null(p);
	hex_key(p->public_key, KEY_C);
	p->has_persistent_keepalive = true;
}

static void assert_config_equal(const struct lr_uapi_config *a, const struct lr_uapi_config *b)
{
	assert_int_equal(a->has_private_key, b->has_private_key);
	assert_memory_equal(a->private_key, b->private_key, LR_KEY_LEN);
	assert_int_equal(a->has_listen_port, b->has_listen_port);
	assert_int_equal(a->listen_port, b->listen_port);
	assert_int_equal(a->has_fwmark, b->has_fwmark);
	assert_int_equal(a->fwmark, b->fwmark);
	assert_int_equal(a->n_peers, b->n_peers);
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct lr_uapi_peer *p = &a->peers[i], *q = &b->peers[i];

		assert_memory_equal(p->public_key, q->public_key, LR_KEY_LEN);
		assert_int_equal(p->has_preshared_key, q->has_preshared_key);
		if (p->has_preshared_key)
			assert_memory_equal(p->preshared_key, q->preshared_key, LR_KEY_LEN);
		assert_int_equal(p->has_endpoint, q->has_endpoint);
		if (p->has_endpoint)
			assert_true(lr_sockaddr_equal(&p->endpoint, &q->endpoint));
		assert_int_equal(p->has_persistent_keepalive, q->has_persistent_keepalive);
		assert_int_equal(p->persistent_keepalive_interval,
				 q->persistent_keepalive_interval);
		assert_true(p->rx_bytes == q->rx_bytes);
		assert_true(p->tx_bytes == q->tx_bytes);
		assert_true(p->last_handshake_time_sec == q->last_handshake_time_sec);
		assert_true(p->last_handshake_time_nsec == q->last_handshake_time_nsec);
		assert_int_equal(p->n_allowed_ips, q->n_allowed_ips);
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			assert_int_equal(p->allowed_ips[j].family, q->allowed_ips[j].family);
			assert_int_equal(p->allowed_ips[j].cidr, q->allowed_ips[j].cidr);
			assert_memory_equal(p->allowed_ips[j].addr, q->allowed_ips[j].addr,
					    p->allowed_ips[j].family == AF_INET ? 4 : 16);
		}
	}
}

/* The printed reply has wireguard-go's keys, values and order (device/uapi.go). */
static void test_print_exact(void **state)
{
	static const char want[] = "private_key=" KEY_A "\n"
				   "listen_port=51820\n"
				   "fwmark=51820\n"
				   "public_key=" KEY_B "\n"
				   "preshared_key=" KEY_C "\n"
				   "protocol_version=1\n"
				   "endpoint=192.0.2.1:51820\n"
				   "last_handshake_time_sec=1700000000\n"
				   "last_handshake_time_nsec=999999999\n"
				   "tx_bytes=1234567\n"
				   "rx_bytes=18446744073709551615\n"
				   "persistent_keepalive_interval=25\n"
				   "allowed_ip=10.1.2.0/24\n"
				   "allowed_ip=fd00::1:2/128\n"
				   "public_key=" KEY_C "\n"
				   "preshared_key=" ZERO "\n"
				   "protocol_version=1\n"
				   "last_handshake_time_sec=0\n"
				   "last_handshake_time_nsec=0\n"
				   "tx_bytes=0\n"
				   "rx_bytes=0\n"
				   "persistent_keepalive_interval=0\n";
	struct lr_uapi_config cfg;
	char *text;

	fill_config(&cfg, "192.0.2.1:51820");
	cfg.fwmark = 51820;
	text = print_text(&cfg);
	assert_string_equal(text, want);
	free(text);
	lr_uapi_config_free(&cfg);
}

/* wireguard-go omits a zero private key, port 0 and fwmark 0 even when "set". */
static void test_print_omits_zero_device_fields(void **state)
{
	struct lr_uapi_config cfg;
	char *text;

	lr_uapi_config_init(&cfg);
	cfg.has_private_key = true;
	cfg.has_listen_port = true;
	cfg.has_fwmark = true;
	text = print_text(&cfg);
	assert_string_equal(text, "");
	free(text);
	lr_uapi_config_free(&cfg);
}

static void round_trip(const char *endpoint)
{
	struct lr_uapi_config cfg, back;
	char *text;
	int bad;

	fill_config(&cfg, endpoint);
	text = print_text(&cfg);
	lr_uapi_config_init(&back);
	assert_int_equal(parse_text(&back, LR_UAPI_GET, text, &bad), 0);
	assert_config_equal(&cfg, &back);
	free(text);
	lr_uapi_config_free(&back);
	lr_uapi_config_free(&cfg);
}

/* print -> parse as get gives back the same structure, IPv4 endpoint. */
static void test_round_trip_ipv4(void **state)
{
	round_trip("198.51.100.20:1");
}

/* print -> parse as get gives back the same structure, IPv6 endpoint with and without scope. */
static void test_round_trip_ipv6(void **state)
{
	round_trip("[2001:db8:1::20]:65535");
	round_trip("[fe80::20%9]:51820");
}

/* Many peers and allowed IPs exercise the arrays' growth (peers move without realloc). */
static void test_round_trip_many(void **state)
{
	struct lr_uapi_config cfg, back;
	struct lr_uapi_peer *p;
	struct lr_uapi_allowedip *ip;
	char *text;

	lr_uapi_config_init(&cfg);
	for (int i = 0; i < 300; i++) {
		p = lr_uapi_config_add_peer(&cfg);
		assert_non_null(p);
		randombytes_buf(p->public_key, LR_KEY_LEN);
		p->has_preshared_key = true;
		randombytes_buf(p->preshared_key, LR_KEY_LEN);
		p->has_persistent_keepalive = true;
		p->persistent_keepalive_interval = (uint16_t)i;
		for (int j = 0; j < i % 17; j++) {
			ip = lr_uapi_peer_add_allowedip(p);
			assert_non_null(ip);
			ip->family = j % 2 ? AF_INET6 : AF_INET;
			ip->cidr = (uint8_t)randombytes_uniform(j % 2 ? 129 : 33);
			randombytes_buf(ip->addr, sizeof(ip->addr));
			if (ip->family == AF_INET)
				memset(ip->addr + 4, 0, 12);
		}
	}
	text = print_text(&cfg);
	lr_uapi_config_init(&back);
	assert_int_equal(parse_text(&back, LR_UAPI_GET, text, NULL), 0);
	assert_config_equal(&cfg, &back);
	free(text);
	lr_uapi_config_free(&back);
	lr_uapi_config_free(&cfg);
}

struct bad_case {
	enum lr_uapi_mode mode;
	const char *prefix; /* lines before, must parse */
	const char *line;
	int err;
};

#define PEER "public_key=" KEY_B "\n"

/* Each malformed line gets the errno wireguard-go 0.0.20220316 replies for it. */
static void test_malformed_lines(void **state)
{
	static const struct bad_case cases[] = {
		{ LR_UAPI_SET, "", "no equals sign", -EPROTO },
		{ LR_UAPI_SET, "", "", -EPROTO },
		{ LR_UAPI_SET, "", "bogus_key=1", -EINVAL },
		{ LR_UAPI_SET, "", "Private_key=" KEY_A, -EINVAL },
		{ LR_UAPI_SET, "", "private_key =" KEY_A, -EINVAL },
		{ LR_UAPI_SET, "", "private_key=" KEY_A "00", -EINVAL },
		{ LR_UAPI_SET, "", "private_key=" KEY_SHORT, -EINVAL },
		{ LR_UAPI_SET, "", "private_key=" KEY_NOT_HEX, -EINVAL },
		{ LR_UAPI_SET, "", "private_key=" KEY_SPACE, -EINVAL },
		{ LR_UAPI_SET, "", "listen_port=65536", -EINVAL },
		{ LR_UAPI_SET, "", "listen_port=-1", -EINVAL },
		{ LR_UAPI_SET, "", "listen_port=+1", -EINVAL },
		{ LR_UAPI_SET, "", "listen_port=1x", -EINVAL },
		{ LR_UAPI_SET, "", "listen_port=1 ", -EINVAL },
		{ LR_UAPI_SET, "", "listen_port=", -EINVAL },
		{ LR_UAPI_SET, "", "listen_port=0x10", -EINVAL },
		{ LR_UAPI_SET, "", "fwmark=4294967296", -EINVAL },
		{ LR_UAPI_SET, "", "fwmark=-1", -EINVAL },
		{ LR_UAPI_SET, "", "replace_peers=false", -EINVAL },
		{ LR_UAPI_SET, "", "replace_peers=true ", -EINVAL },
		{ LR_UAPI_SET, "", "allowed_ip=10.0.0.0/8", -EINVAL },
		{ LR_UAPI_SET, "", "endpoint=192.0.2.1:1", -EINVAL },
		{ LR_UAPI_SET, "", "protocol_version=1", -EINVAL },
		{ LR_UAPI_SET, "", "public_key=" KEY_B "x", -EINVAL },
		{ LR_UAPI_SET, PEER, "listen_port=1", -EINVAL },
		{ LR_UAPI_SET, PEER, "replace_peers=true", -EINVAL },
		{ LR_UAPI_SET, PEER, "rx_bytes=1", -EINVAL },
		{ LR_UAPI_SET, PEER, "last_handshake_time_sec=1", -EINVAL },
		{ LR_UAPI_SET, PEER, "preshared_key=" KEY_A "0", -EINVAL },
		{ LR_UAPI_SET, PEER, "preshared_key=", -EINVAL },
		{ LR_UAPI_SET, PEER, "endpoint=192.0.2.1", -EINVAL },
		{ LR_UAPI_SET, PEER, "endpoint=[2001:db8::1]:65536", -EINVAL },
		{ LR_UAPI_SET, PEER, "endpoint=2001:db8::1:80", -EINVAL },
		{ LR_UAPI_SET, PEER, "endpoint=vpn.example.com:51820", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=10.0.0.0/33", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=::/129", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=10.0.0.0", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=10.0.0.0/", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=10.0.0.0/-1", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=10.0.0.0/8x", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=-10.0.0.0/8", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=10.0.0/8", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=fe80::1%eth0/64", -EINVAL },
		{ LR_UAPI_SET, PEER, "allowed_ip=[::1]/128", -EINVAL },
		{ LR_UAPI_SET, PEER, "protocol_version=2", -EINVAL },
		{ LR_UAPI_SET, PEER, "protocol_version=01", -EINVAL },
		{ LR_UAPI_SET, PEER, "persistent_keepalive_interval=65536", -EINVAL },
		{ LR_UAPI_SET, PEER, "persistent_keepalive_interval=-5", -EINVAL },
		{ LR_UAPI_SET, PEER, "remove=1", -EINVAL },
		{ LR_UAPI_SET, PEER, "update_only=yes", -EINVAL },
		{ LR_UAPI_SET, PEER, "replace_allowed_ips=TRUE", -EINVAL },
		{ LR_UAPI_GET, "", "listen_port=70000", -EINVAL },
		{ LR_UAPI_GET, "", "rx_bytes=1", -EINVAL },
		{ LR_UAPI_GET, "", "no equals sign", -EPROTO },
		{ LR_UAPI_GET, PEER, "private_key=" KEY_A, -EINVAL },
		{ LR_UAPI_GET, PEER, "rx_bytes=-1", -EINVAL },
		{ LR_UAPI_GET, PEER, "tx_bytes=18446744073709551616", -EINVAL },
		{ LR_UAPI_GET, PEER, "last_handshake_time_sec=9223372036854775808", -EINVAL },
		{ LR_UAPI_GET, PEER, "last_handshake_time_nsec=1000000000", -EINVAL },
		{ LR_UAPI_GET, PEER, "protocol_version=2", -EINVAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lr_uapi_config cfg;
		int ret;

		lr_uapi_config_init(&cfg);
		assert_int_equal(parse_text(&cfg, cases[i].mode, cases[i].prefix, NULL), 0);
		ret = lr_uapi_config_parse_line(&cfg, cases[i].mode, cases[i].line);
		if (ret != cases[i].err)
			fail_msg("\"%s\" (%s mode): got %d, want %d", cases[i].line,
				 cases[i].mode == LR_UAPI_SET ? "set" : "get", ret, cases[i].err);
		lr_uapi_config_free(&cfg);
	}
}

/* Limits that are valid stay valid: the largest values and the edges of each range. */
static void test_edge_values_accepted(void **state)
{
	static const char req[] = "listen_port=65535\n"
				  "fwmark=4294967295\n"
				  "public_key=" KEY_B "\n"
				  "persistent_keepalive_interval=65535\n"
				  "endpoint=[::ffff:192.0.2.1]:0\n"
				  "allowed_ip=0.0.0.0/0\n"
				  "allowed_ip=::/0\n"
				  "allowed_ip=255.255.255.255/32\n"
				  "allowed_ip=::ffff:10.0.0.1/128\n"
				  "allowed_ip=10.0.0.1/024\n";
	struct lr_uapi_config cfg;
	const struct lr_uapi_peer *p;

	lr_uapi_config_init(&cfg);
	assert_int_equal(parse_text(&cfg, LR_UAPI_SET, req, NULL), 0);
	assert_int_equal(cfg.listen_port, 65535);
	assert_int_equal(cfg.fwmark, UINT32_MAX);
	p = &cfg.peers[0];
	assert_int_equal(p->persistent_keepalive_interval, 65535);
	assert_int_equal(p->endpoint.sa.sa_family, AF_INET6);
	assert_int_equal(p->n_allowed_ips, 5);
	assert_int_equal(p->allowed_ips[3].family, AF_INET6); /* v4-mapped stays IPv6 */
	assert_int_equal(p->allowed_ips[4].cidr, 24);
	assert_memory_equal(p->allowed_ips[4].addr, "\x0a\x00\x00\x01", 4); /* host bits kept */
	lr_uapi_config_free(&cfg);
}

/* A get reply parser skips keys it does not know (as `wg` does) and reads a zero PSK as none. */
static void test_get_lenient(void **state)
{
	static const char reply[] = "private_key=" KEY_A "\n"
				    "some_future_key=whatever\n"
				    "public_key=" KEY_B "\n"
				    "preshared_key=" ZERO "\n"
				    "replace_allowed_ips=true\n"
				    "errno=0\n"
				    "allowed_ip=10.0.0.0/8\n";
	struct lr_uapi_config cfg;

	lr_uapi_config_init(&cfg);
	assert_int_equal(parse_text(&cfg, LR_UAPI_GET, reply, NULL), 0);
	assert_int_equal(cfg.n_peers, 1);
	assert_false(cfg.peers[0].has_preshared_key);
	assert_false(cfg.peers[0].replace_allowed_ips);
	assert_int_equal(cfg.peers[0].n_allowed_ips, 1);
	lr_uapi_config_free(&cfg);
}

/* Values the printer cannot express are refused rather than printed as garbage. */
static void test_print_rejects_bad_family(void **state)
{
	struct lr_uapi_config cfg;
	struct lr_uapi_peer *p;
	struct lr_uapi_allowedip *ip;
	FILE *f = fopen("/dev/null", "w");

	assert_non_null(f);
	lr_uapi_config_init(&cfg);
	p = lr_uapi_config_add_peer(&cfg);
	assert_non_null(p);
	p->has_endpoint = true; /* family still AF_UNSPEC */
	assert_int_equal(lr_uapi_config_print(&cfg, f), -EINVAL);
	p->has_endpoint = false;
	ip = lr_uapi_peer_add_allowedip(p);
	assert_non_null(ip);
	ip->family = AF_INET;
	ip->cidr = 33;
	assert_int_equal(lr_uapi_config_print(&cfg, f), -EINVAL);
	ip->cidr = 32;
	assert_int_equal(lr_uapi_config_print(&cfg, f), 0);
	fclose(f);
	lr_uapi_config_free(&cfg);
}

/* A stream that fails to write makes print return -EIO. */
static void test_print_io_error(void **state)
{
	struct lr_uapi_config cfg;
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		skip();
	fill_config(&cfg, "192.0.2.1:1");
	assert_int_equal(lr_uapi_config_print(&cfg, f), -EIO);
	fclose(f);
	lr_uapi_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_request),
		cmocka_unit_test(test_set_zero_and_uppercase_keys),
		cmocka_unit_test(test_print_exact),
		cmocka_unit_test(test_print_omits_zero_device_fields),
		cmocka_unit_test(test_round_trip_ipv4),
		cmocka_unit_test(test_round_trip_ipv6),
		cmocka_unit_test(test_round_trip_many),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_edge_values_accepted),
		cmocka_unit_test(test_get_lenient),
		cmocka_unit_test(test_print_rejects_bad_family),
		cmocka_unit_test(test_print_io_error),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
