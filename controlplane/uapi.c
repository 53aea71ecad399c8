/* The UAPI text format: one "key=value" line at a time into struct lr_uapi_config, and back. */
#include "controlplane/uapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/*
 * Return values follow what wireguard-go 0.0.20220316 (Debian 12's) replies, so `wg` prints the
 * same message for the same mistake. Its codes are negative errnos (ipc/uapi_unix.go):
 * IpcErrorInvalid = -EINVAL (-22), IpcErrorProtocol = -EPROTO (-71), IpcErrorIO = -EIO (-5),
 * IpcErrorPortInUse = -EADDRINUSE (-98), IpcErrorUnknown = -55. The reply line is
 * "errno=%d\n\n" with that signed value, "errno=0\n\n" on success (device/uapi.go IpcHandle).
 *
 *   line without '='                      -EPROTO  ("failed to parse line", IpcSetOperation)
 *   unknown key, or a device key after the first public_key, or a peer key before it
 *                                          -EINVAL  (handleDeviceLine / handlePeerLine default)
 *   bad hex or a key that is not 32 bytes  -EINVAL  (loadExactHex via FromHex)
 *   number not strict decimal or too big   -EINVAL  (strconv.ParseUint(v, 10, bits))
 *   boolean other than exactly "true"      -EINVAL  (replace_peers, remove, update_only, ...)
 *   bad endpoint / allowed_ip              -EINVAL  (netip.ParseAddrPort / ParsePrefix)
 *   protocol_version other than "1"        -EINVAL
 *   out of memory                          -ENOMEM  (wireguard-go cannot say this; `wg` prints
 *                                                    strerror of whatever comes back)
 *
 * Left to the device and the server: -EADDRINUSE when listen_port or fwmark cannot be bound
 * (apply), -EIO for an over-long line or request (uapi_server.c). wireguard-go reports the first
 * failing line and stops; the server here likewise keeps only the first error.
 *
 * Values are kept as sent: an all-zero private_key ("remove it") or preshared_key ("no PSK")
 * stays all-zero with its has_ flag set, allowed IPs keep their host bits; the device decides
 * what they mean. Upper-case hex is accepted because Go's hex.DecodeString accepts it.
 *
 * In LR_UAPI_GET mode (parsing a reply) unknown keys are skipped, as wireguard-tools'
 * ipc-uapi.h does, so a newer daemon's extra fields do not break an older reader; a known key
 * with a bad value is still an error. A zero preshared_key there means "none" and leaves
 * has_preshared_key false, again as ipc-uapi.h reads it.
 */

enum key_scope { SCOPE_DEVICE, SCOPE_PEER, SCOPE_ANY };

#define MODE_SET (1u << LR_UAPI_SET)
#define MODE_GET (1u << LR_UAPI_GET)
#define MODE_BOTH (MODE_SET | MODE_GET)

struct key_handler {
	const char *name;
	unsigned int modes;
	enum key_scope scope;
	int (*parse)(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer, enum lr_uapi_mode mode,
		     const char *value);
};

void lr_uapi_config_init(struct lr_uapi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

void lr_uapi_config_free(struct lr_uapi_config *cfg)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		free(cfg->peers[i].allowed_ips);
	if (cfg->peers)
		sodium_memzero(cfg->peers, cfg->cap_peers * sizeof(*cfg->peers));
	free(cfg->peers);
	sodium_memzero(cfg, sizeof(*cfg));
}

/* Peers hold preshared keys, so the array is never realloc'd: realloc may leave the old block
 * behind unwiped. */
struct lr_uapi_peer *lr_uapi_config_add_peer(struct lr_uapi_config *cfg)
{
	struct lr_uapi_peer *peers = cfg->peers;
	size_t cap = cfg->cap_peers;

	if (cfg->n_peers == cap) {
		cap = cap ? cap * 2 : 4;
		if (cap > SIZE_MAX / sizeof(*peers))
			return NULL;
		peers = calloc(cap, sizeof(*peers));
		if (!peers)
			return NULL;
		if (cfg->peers) {
			memcpy(peers, cfg->peers, cfg->n_peers * sizeof(*peers));
			sodium_memzero(cfg->peers, cfg->cap_peers * sizeof(*peers));
			free(cfg->peers);
		}
		cfg->peers = peers;
		cfg->cap_peers = cap;
	}
	memset(&cfg->peers[cfg->n_peers], 0, sizeof(*cfg->peers));
	return &cfg->peers[cfg->n_peers++];
}

struct lr_uapi_allowedip *lr_uapi_peer_add_allowedip(struct lr_uapi_peer *peer)
{
	struct lr_uapi_allowedip *ips = peer->allowed_ips;
	size_t cap = peer->cap_allowed_ips;

	if (peer->n_allowed_ips == cap) {
		cap = cap ? cap * 2 : 4;
		if (cap > SIZE_MAX / sizeof(*ips))
			return NULL;
		ips = realloc(ips, cap * sizeof(*ips));
		if (!ips)
			return NULL;
		peer->allowed_ips = ips;
		peer->cap_allowed_ips = cap;
	}
	memset(&peer->allowed_ips[peer->n_allowed_ips], 0, sizeof(*ips));
	return &peer->allowed_ips[peer->n_allowed_ips++];
}

/* Value parsers: true on success, and *out untouched on failure. */

/* strconv.ParseUint(s, 10, bits): digits only, no sign, leading zeros fine. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static bool parse_key(uint8_t out[LR_KEY_LEN], const char *s)
{
	uint8_t key[LR_KEY_LEN];
	const char *end = NULL;
	size_t len = 0;
	bool ok;

	if (strlen(s) != 2 * LR_KEY_LEN)
		return false;
	ok = sodium_hex2bin(key, sizeof(key), s, 2 * LR_KEY_LEN, NULL, &len, &end) == 0 &&
	     len == LR_KEY_LEN && end == s + 2 * LR_KEY_LEN;
	if (ok)
		memcpy(out, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	return ok;
}

/* netip.ParsePrefix: "addr/bits", no zone; the family comes from the address text. */
static bool parse_allowedip(struct lr_uapi_allowedip *out, const char *s)
{
	struct lr_uapi_allowedip ip = { 0 };
	const char *slash = strrchr(s, '/');
	char addr[INET6_ADDRSTRLEN];
	size_t len = slash ? (size_t)(slash - s) : 0;
	uint64_t cidr;

	if (len == 0 || len >= sizeof(addr))
		return false;
	memcpy(addr, s, len);
	addr[len] = '\0';
	ip.family = memchr(addr, ':', len) ? AF_INET6 : AF_INET;
	if (inet_pton(ip.family, addr, ip.addr) != 1)
		return false;
	if (!parse_uint(slash + 1, ip.family == AF_INET ? 32 : 128, &cidr))
		return false;
	ip.cidr = (uint8_t)cidr;
	*out = ip;
	return true;
}

/* Key handlers: 0 or a negative errno. */

static int handle_private_key(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			      enum lr_uapi_mode mode, const char *value)
{
	if (!parse_key(cfg->private_key, value))
		return -EINVAL;
	cfg->has_private_key = true;
	return 0;
}

static int handle_listen_port(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			      enum lr_uapi_mode mode, const char *value)
{
	uint64_t v;

	if (!parse_uint(value, UINT16_MAX, &v))
		return -EINVAL;
	cfg->listen_port = (uint16_t)v;
	cfg->has_listen_port = true;
	return 0;
}

static int handle_fwmark(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			 enum lr_uapi_mode mode, const char *value)
{
	uint64_t v;

	if (!parse_uint(value, UINT32_MAX, &v))
		return -EINVAL;
	cfg->fwmark = (uint32_t)v;
	cfg->has_fwmark = true;
	return 0;
}

static int handle_replace_peers(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
				enum lr_uapi_mode mode, const char *value)
{
	if (strcmp(value, "true"))
		return -EINVAL;
	cfg->replace_peers = true;
	return 0;
}

static int handle_public_key(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			     enum lr_uapi_mode mode, const char *value)
{
	uint8_t key[LR_KEY_LEN];

	if (!parse_key(key, value))
		return -EINVAL;
	peer = lr_uapi_config_add_peer(cfg);
	if (!peer)
		return -ENOMEM;
	memcpy(peer->public_key, key, sizeof(key));
	return 0;
}

static int handle_remove(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			 enum lr_uapi_mode mode, const char *value)
{
	if (strcmp(value, "true"))
		return -EINVAL;
	peer->remove = true;
	return 0;
}

static int handle_update_only(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			      enum lr_uapi_mode mode, const char *value)
{
	if (strcmp(value, "true"))
		return -EINVAL;
	peer->update_only = true;
	return 0;
}

static int handle_preshared_key(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
				enum lr_uapi_mode mode, const char *value)
{
	if (!parse_key(peer->preshared_key, value))
		return -EINVAL;
	peer->has_preshared_key =
		mode == LR_UAPI_SET || !sodium_is_zero(peer->preshared_key, LR_KEY_LEN);
	return 0;
}

static int handle_endpoint(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			   enum lr_uapi_mode mode, const char *value)
{
	if (lr_sockaddr_parse(&peer->endpoint, value))
		return -EINVAL;
	peer->has_endpoint = true;
	return 0;
}

static int handle_keepalive(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			    enum lr_uapi_mode mode, const char *value)
{
	uint64_t v;

	if (!parse_uint(value, UINT16_MAX, &v))
		return -EINVAL;
	peer->persistent_keepalive_interval = (uint16_t)v;
	peer->has_persistent_keepalive = true;
	return 0;
}

static int handle_replace_allowed_ips(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
				      enum lr_uapi_mode mode, const char *value)
{
	if (strcmp(value, "true"))
		return -EINVAL;
	peer->replace_allowed_ips = true;
	return 0;
}

static int handle_allowed_ip(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			     enum lr_uapi_mode mode, const char *value)
{
	struct lr_uapi_allowedip ip, *slot;

	if (!parse_allowedip(&ip, value))
		return -EINVAL;
	slot = lr_uapi_peer_add_allowedip(peer);
	if (!slot)
		return -ENOMEM;
	*slot = ip;
	return 0;
}

static int handle_protocol_version(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
				   enum lr_uapi_mode mode, const char *value)
{
	return strcmp(value, "1") ? -EINVAL : 0;
}

static int handle_handshake_sec(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
				enum lr_uapi_mode mode, const char *value)
{
	uint64_t v;

	if (!parse_uint(value, INT64_MAX, &v))
		return -EINVAL;
	peer->last_handshake_time_sec = (int64_t)v;
	return 0;
}

static int handle_handshake_nsec(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
				 enum lr_uapi_mode mode, const char *value)
{
	uint64_t v;

	if (!parse_uint(value, 999999999, &v))
		return -EINVAL;
	peer->last_handshake_time_nsec = (int64_t)v;
	return 0;
}

static int handle_rx_bytes(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			   enum lr_uapi_mode mode, const char *value)
{
	return parse_uint(value, UINT64_MAX, &peer->rx_bytes) ? 0 : -EINVAL;
}

static int handle_tx_bytes(struct lr_uapi_config *cfg, struct lr_uapi_peer *peer,
			   enum lr_uapi_mode mode, const char *value)
{
	return parse_uint(value, UINT64_MAX, &peer->tx_bytes) ? 0 : -EINVAL;
}

static const struct key_handler key_handlers[] = {
	{ "private_key", MODE_BOTH, SCOPE_DEVICE, handle_private_key },
	{ "listen_port", MODE_BOTH, SCOPE_DEVICE, handle_listen_port },
	{ "fwmark", MODE_BOTH, SCOPE_DEVICE, handle_fwmark },
	{ "replace_peers", MODE_SET, SCOPE_DEVICE, handle_replace_peers },
	{ "public_key", MODE_BOTH, SCOPE_ANY, handle_public_key },
	{ "remove", MODE_SET, SCOPE_PEER, handle_remove },
	{ "update_only", MODE_SET, SCOPE_PEER, handle_update_only },
	{ "preshared_key", MODE_BOTH, SCOPE_PEER, handle_preshared_key },
	{ "endpoint", MODE_BOTH, SCOPE_PEER, handle_endpoint },
	{ "persistent_keepalive_interval", MODE_BOTH, SCOPE_PEER, handle_keepalive },
	{ "replace_allowed_ips", MODE_SET, SCOPE_PEER, handle_replace_allowed_ips },
	{ "allowed_ip", MODE_BOTH, SCOPE_PEER, handle_allowed_ip },
	{ "protocol_version", MODE_BOTH, SCOPE_PEER, handle_protocol_version },
	{ "last_handshake_time_sec", MODE_GET, SCOPE_PEER, handle_handshake_sec },
	{ "last_handshake_time_nsec", MODE_GET, SCOPE_PEER, handle_handshake_nsec },
	{ "rx_bytes", MODE_GET, SCOPE_PEER, handle_rx_bytes },
	{ "tx_bytes", MODE_GET, SCOPE_PEER, handle_tx_bytes },
};

static const struct key_handler *key_find(const char *key, size_t len, enum lr_uapi_mode mode)
{
	for (size_t i = 0; i < sizeof(key_handlers) / sizeof(key_handlers[0]); i++) {
		const struct key_handler *h = &key_handlers[i];

		if ((h->modes & (1u << mode)) && strlen(h->name) == len &&
		    memcmp(h->name, key, len) == 0)
			return h;
	}
	return NULL;
}

int lr_uapi_config_parse_line(struct lr_uapi_config *cfg, enum lr_uapi_mode mode,
			      const char *line)
{
	const char *eq = strchr(line, '=');
	const struct key_handler *h;
	struct lr_uapi_peer *peer;

	if (!eq)
		return -EPROTO;
	h = key_find(line, (size_t)(eq - line), mode);
	if (!h)
		return mode == LR_UAPI_GET ? 0 : -EINVAL;
	peer = cfg->n_peers ? &cfg->peers[cfg->n_peers - 1] : NULL;
	/* wireguard-go switches from device to peer keys at the first public_key for good. */
	if ((h->scope == SCOPE_PEER && !peer) || (h->scope == SCOPE_DEVICE && peer))
		return -EINVAL;
	return h->parse(cfg, peer, mode, eq + 1);
}

/* The hex goes through a stack buffer that is wiped, never through a heap string. */
static void print_key(FILE *out, const char *name, const uint8_t key[LR_KEY_LEN])
{
	char hex[2 * LR_KEY_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), key, LR_KEY_LEN);
	fprintf(out, "%s=%s\n", name, hex);
	sodium_memzero(hex, sizeof(hex));
}

static int print_allowedip(FILE *out, const struct lr_uapi_allowedip *ip)
{
	char text[INET6_ADDRSTRLEN];
	unsigned int max = ip->family == AF_INET ? 32 : 128;

	if ((ip->family != AF_INET && ip->family != AF_INET6) || ip->cidr > max)
		return -EINVAL;
	inet_ntop(ip->family, ip->addr, text, sizeof(text));
	fprintf(out, "allowed_ip=%s/%u\n", text, ip->cidr);
	return 0;
}

/* Order and conditions as IpcGetOperation prints them (device/uapi.go, 0.0.20220316). */
static int print_peer(FILE *out, const struct lr_uapi_peer *peer)
{
	static const uint8_t zero[LR_KEY_LEN];
	char endpoint[LR_SOCKADDR_STRLEN];
	int ret;

	print_key(out, "public_key", peer->public_key);
	print_key(out, "preshared_key", peer->has_preshared_key ? peer->preshared_key : zero);
	fprintf(out, "protocol_version=1\n");
	if (peer->has_endpoint) {
		if (!lr_sockaddr_len(&peer->endpoint))
			return -EINVAL;
		fprintf(out, "endpoint=%s\n",
			lr_sockaddr_format(&peer->endpoint, endpoint, sizeof(endpoint)));
	}
	fprintf(out, "last_handshake_time_sec=%" PRId64 "\n", peer->last_handshake_time_sec);
	fprintf(out, "last_handshake_time_nsec=%" PRId64 "\n", peer->last_handshake_time_nsec);
	fprintf(out, "tx_bytes=%" PRIu64 "\n", peer->tx_bytes);
	fprintf(out, "rx_bytes=%" PRIu64 "\n", peer->rx_bytes);
	fprintf(out, "persistent_keepalive_interval=%u\n",
		peer->has_persistent_keepalive ? peer->persistent_keepalive_interval : 0u);
	for (size_t i = 0; i < peer->n_allowed_ips; i++) {
		ret = print_allowedip(out, &peer->allowed_ips[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/* wireguard-go leaves out a zero private key, port 0 and fwmark 0, so the printer does too
 * whatever the has_ flags say. */
int lr_uapi_config_print(const struct lr_uapi_config *cfg, FILE *out)
{
	int ret;

	if (cfg->has_private_key && !sodium_is_zero(cfg->private_key, LR_KEY_LEN))
		print_key(out, "private_key", cfg->private_key);
	if (cfg->has_listen_port && cfg->listen_port)
		fprintf(out, "listen_port=%u\n", cfg->listen_port);
	if (cfg->has_fwmark && cfg->fwmark)
		fprintf(out, "fwmark=%" PRIu32 "\n", cfg->fwmark);
	for (size_t i = 0; i < cfg->n_peers; i++) {
		ret = print_peer(out, &cfg->peers[i]);
		if (ret)
			return ret;
	}
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
