/* The cross-platform userspace API (wireguard.com/xplatform): parsing set=1 requests and get=1
 * replies into one plain structure, printing it back, and the unix-socket server that the `wg`
 * tool talks to. Knows nothing of the device: the server calls the ops below. */
#ifndef LR_CONTROLPLANE_UAPI_H
#define LR_CONTROLPLANE_UAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/sockaddr.h"
#include "crypto/messages.h"

struct lr_uapi_allowedip {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;
	uint8_t addr[16];
};

struct lr_uapi_peer {
	uint8_t public_key[LR_KEY_LEN];
	bool remove;
	bool update_only;
	bool has_preshared_key;
	uint8_t preshared_key[LR_KEY_LEN];
	bool has_endpoint;
	union lr_sockaddr endpoint;
	bool has_persistent_keepalive;
	uint16_t persistent_keepalive_interval;
	bool replace_allowed_ips;
	struct lr_uapi_allowedip *allowed_ips;
	size_t n_allowed_ips;
	size_t cap_allowed_ips;
	/* get=1 only */
	uint64_t rx_bytes;
	uint64_t tx_bytes;
	int64_t last_handshake_time_sec;
	int64_t last_handshake_time_nsec;
};

/* One whole set=1 request, or one whole get=1 reply. */
struct lr_uapi_config {
	bool has_private_key;
	uint8_t private_key[LR_KEY_LEN];
	bool has_listen_port;
	uint16_t listen_port;
	bool has_fwmark;
	uint32_t fwmark;
	bool replace_peers;
	struct lr_uapi_peer *peers;
	size_t n_peers;
	size_t cap_peers;
};

enum lr_uapi_mode { LR_UAPI_SET, LR_UAPI_GET };

void lr_uapi_config_init(struct lr_uapi_config *cfg);
/* Wipes keys and frees everything. */
void lr_uapi_config_free(struct lr_uapi_config *cfg);
/* One "key=value" line without its newline. Returns 0 or a negative errno as wireguard-go
 * would reply (-EINVAL for a bad key or value, -EPROTO for a line without '=', -ENOMEM). On
 * error the config may hold a partial request: the caller discards it, so nothing is applied.
 * In LR_UAPI_GET mode unknown keys are skipped (as `wg` does), and "errno=" is the caller's. */
int lr_uapi_config_parse_line(struct lr_uapi_config *cfg, enum lr_uapi_mode mode,
			      const char *line);
/* Prints cfg as a get=1 reply body (no trailing errno/blank line) and flushes out. Returns 0,
 * -EIO when out fails, or -EINVAL for an endpoint or allowed IP of no known family. */
int lr_uapi_config_print(const struct lr_uapi_config *cfg, FILE *out);
/* Adds a zeroed peer / allowed IP; NULL on allocation failure. */
struct lr_uapi_peer *lr_uapi_config_add_peer(struct lr_uapi_config *cfg);
struct lr_uapi_allowedip *lr_uapi_peer_add_allowedip(struct lr_uapi_peer *peer);

/* What the server needs from the device. Both run on the control thread. apply gets a fully
 * parsed request and must apply all of it or nothing; it returns 0 or a negative errno. dump
 * fills an initialised config (the server frees it). */
struct lr_uapi_ops {
	int (*apply)(void *ctx, const struct lr_uapi_config *cfg);
	int (*dump)(void *ctx, struct lr_uapi_config *cfg);
	/* Optional: answers "get=lanrage-stats" with key=value counter lines. */
	int (*stats)(void *ctx, FILE *out);
};

struct lr_uapi_server;

/* Server limits. No valid line comes near LR_UAPI_LINE_MAX (the longest, a scoped IPv6
 * endpoint, is under 100 bytes); LR_UAPI_REQUEST_MAX fits some 4000 peers of `wg setconf`. A set
 * request breaking either is answered errno=-5 (EIO), as wireguard-go answers when its line
 * scanner gives up. Connections beyond LR_UAPI_MAX_CONNS are accepted and closed at once. */
#define LR_UAPI_LINE_MAX 4096
#define LR_UAPI_REQUEST_MAX (1u << 20)
#define LR_UAPI_MAX_CONNS 64

/* Creates sock_dir (0755, with parents; NULL means /var/run/wireguard) and the socket
 * IFNAME.sock (0600) in it, replacing a stale socket left by a dead daemon. Returns 0 or a
 * negative errno: -EADDRINUSE when a live daemon owns it, -EEXIST when a non-socket is there. */
int lr_uapi_server_open(struct lr_uapi_server **out, const char *sock_dir, const char *ifname,
			const struct lr_uapi_ops *ops, void *ctx);
/* Removes the socket file and closes every connection. */
void lr_uapi_server_close(struct lr_uapi_server *srv);
/* A pollable fd (readable when there is work); call dispatch then. Never blocks. Dispatch
 * returns -ENOENT once the socket file has been deleted, else 0: wireguard-go exits then
 * (ipc/uapi_linux.go watches the path with inotify), and wg-quick on macOS stops a userspace
 * daemon by removing its socket, so the daemon should shut down on -ENOENT. */
int lr_uapi_server_fd(const struct lr_uapi_server *srv);
int lr_uapi_server_dispatch(struct lr_uapi_server *srv);

#endif
