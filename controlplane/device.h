/* The engine's control side: one device (TUN + UDP socket + peers) driven by the control thread.
 * Declarations are grouped by the file that defines them, so any function is found from here. */
#ifndef LR_CONTROLPLANE_DEVICE_H
#define LR_CONTROLPLANE_DEVICE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controlplane/ratelimiter.h"
#include "controlplane/uapi.h"
#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "dataplane/dataplane.h"

struct lr_device {
	char ifname[IFNAMSIZ];
	struct lr_dataplane dp;
	struct lr_noise_identity identity;
	struct lr_cookie_checker cookie_checker;
	uint16_t listen_port;     /* bound port */
	uint32_t fwmark;
	struct lr_peer **peers;   /* control thread's list; workers see snapshots */
	size_t n_peers;
	size_t cap_peers;
	struct lr_allowedips routes; /* master copy; cloned into each snapshot */
	struct lr_peer **removed; /* unlinked peers, retired once a snapshot without them is out */
	size_t n_removed;
	size_t cap_removed;
	uint64_t last_under_load_ns;
	struct lr_ratelimiter ratelimiter;
	uint64_t next_mtu_check_ns;
	struct lr_uapi_server *uapi;
	int epoll_fd;
	int timer_fd;
	int signal_fd;
	bool stop;
};

/* device.c: lifecycle and the control loop. */
/* Creates the TUN device (one queue per worker), the UDP sockets (random port), n_workers
 * workers and the UAPI socket in sock_dir (NULL: /var/run/wireguard). Returns 0 or a negative
 * errno. */
int lr_device_create(struct lr_device *dev, const char *ifname, const char *sock_dir,
		     unsigned n_workers);
/* Runs until SIGINT/SIGTERM, a fatal worker error, or the interface disappears. */
int lr_device_run(struct lr_device *dev);
void lr_device_destroy(struct lr_device *dev);
/* Rebinds the UDP socket (listen_port change); the worker is restarted around it. */
int lr_device_rebind(struct lr_device *dev, uint16_t port, uint32_t fwmark);
/* Sends one handshake-sized datagram from the control thread. */
int lr_device_send(struct lr_device *dev, const union lr_sockaddr *dst, const void *buf,
		   size_t len);

/* peers.c: the peer table and what is published to the workers. */
struct lr_peer *lr_device_peer_lookup(struct lr_device *dev, const uint8_t public_key[32]);
/* Returns the new peer or NULL (-ENOMEM). Not visible to workers until lr_device_publish. */
struct lr_peer *lr_device_peer_add(struct lr_device *dev, const uint8_t public_key[32]);
/* Unlinks the peer; it is retired (and later freed) by the next lr_device_publish. Returns 0 or
 * -ENOMEM (nothing changed). */
int lr_device_peer_remove(struct lr_device *dev, struct lr_peer *peer);
/* Publishes the current peers and routes to the workers. Returns 0 or -ENOMEM (the previous
 * snapshot stays in force). */
int lr_device_publish(struct lr_device *dev);
/* New private key: recompute everything derived from it. */
void lr_device_set_identity(struct lr_device *dev, const uint8_t *private_key);

/* keypairs.c: session slots (current, previous, next). */
/* Installs a session from a finished handshake; returns 0 or -ENOMEM. */
int lr_keypairs_install(struct lr_device *dev, struct lr_peer *peer,
			const struct lr_noise_session_keys *keys);
/* A data packet arrived on the next session: make it current (whitepaper 5.4.8). */
bool lr_keypairs_confirm(struct lr_device *dev, struct lr_peer *peer);
/* Retires every session of the peer (zeroing happens when the worker can no longer see them). */
void lr_keypairs_clear(struct lr_device *dev, struct lr_peer *peer);

/* handshake.c: handshake messages in and out. */
/* Sends an initiation unless one went out less than REKEY_TIMEOUT ago. retry keeps the
 * attempt counter (a retransmission); otherwise it is reset. */
void lr_handshake_send_initiation(struct lr_device *dev, struct lr_peer *peer, bool retry);
void lr_handshake_receive(struct lr_device *dev, const struct lr_handshake_msg *msg,
			  bool under_load);
/* Drains the rings from the workers, a bounded amount each; true if work is left. */
bool lr_handshake_drain(struct lr_device *dev);

/* timers.c: the timer state machine (kernel timers.c), evaluated on each tick. */
void lr_timers_tick(struct lr_device *dev, uint64_t now);
/* Acts on events the workers raised on peers (handshake wanted, session confirmed). */
void lr_timers_events(struct lr_device *dev);
void lr_timers_handshake_initiated(struct lr_peer *peer, uint64_t now);
void lr_timers_handshake_complete(struct lr_peer *peer);
void lr_timers_session_derived(struct lr_peer *peer, uint64_t now);
void lr_timers_authenticated_traversal(struct lr_peer *peer, uint64_t now);
void lr_timers_stop(struct lr_peer *peer);

/* config.c: the UAPI ops. */
int lr_config_apply(void *dev, const struct lr_uapi_config *cfg);
int lr_config_dump(void *dev, struct lr_uapi_config *cfg);
/* get=lanrage-stats: drop_<cause>=N for every cause, then handshakes_completed, cookies_sent. */
int lr_config_stats(void *dev, FILE *out);

#endif
