/* The seam between the control thread and the data-plane workers: everything both sides touch
 * lives here. The control thread publishes peer tables as immutable snapshots and sessions
 * through the index table; workers hand handshake messages and events back over a ring and
 * per-peer event bits, and wake the control thread through an eventfd. */
#ifndef LR_DATAPLANE_DATAPLANE_H
#define LR_DATAPLANE_DATAPLANE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "crypto/messages.h"
#include "dataplane/allowedips.h"
#include "dataplane/index.h"
#include "dataplane/peer.h"
#include "dataplane/qsbr.h"
#include "dataplane/ring.h"
#include "dataplane/stats.h"

/* What workers may read: the routing trie and the peer list, both immutable once published. */
struct lr_snapshot {
	struct lr_qsbr_item rcu;
	struct lr_allowedips routes;
	size_t n_peers;
	struct lr_peer *peers[];
};

/* A handshake message on its way from a worker to the control thread. */
#define LR_HANDSHAKE_MAX_LEN sizeof(struct lr_msg_initiation)
struct lr_handshake_msg {
	union lr_sockaddr src;
	uint16_t len;
	uint8_t data[LR_HANDSHAKE_MAX_LEN];
};

/* Bounded like the kernel's MAX_QUEUED_INCOMING_HANDSHAKES: a flood fills it and is dropped. */
#define LR_HANDSHAKE_RING_SLOTS 4096

/* A packet handed from one worker to a peer's owner: a datagram to receive there (the owner
 * alone touches the replay window) or a plaintext packet to stage (the owner alone touches the
 * staging queue). Raw bytes only: a peer pointer could be freed while the message waits. */
#define LR_HANDOFF_SLOT 2048
#define LR_HANDOFF_SLOTS 256
enum lr_handoff_kind { LR_HANDOFF_RX = 1, LR_HANDOFF_STAGE };
struct lr_handoff_msg {
	union lr_sockaddr addr;
	uint16_t len;
	uint8_t kind;
	uint8_t data[LR_HANDOFF_SLOT];
};

#define LR_MAX_WORKERS 16
/* Segments in one UDP GSO send (the kernel's UDP_MAX_SEGMENTS), and so the most the TUN device
 * may put in one super-packet. */
#define LR_GSO_MAX_SEGS 64

struct lr_worker;

struct lr_dataplane {
	unsigned n_workers;
	int tun_fds[LR_MAX_WORKERS]; /* one TUN queue per worker (IFF_MULTI_QUEUE) */
	int udp_fds[LR_MAX_WORKERS]; /* one SO_REUSEPORT socket per worker, same port */
	int udp_family;             /* dual-stack AF_INET6 (or AF_INET when IPv6 is off) */
	bool tun_vnet_hdr;          /* TUN reads and writes carry a virtio-net header */
	bool tun_uso;               /* ... and the device takes UDP super-packets (USO) */
	bool udp_gso;               /* the sockets take UDP_SEGMENT */
	bool udp_gro;               /* the sockets coalesce receives (UDP_GRO) */
	_Atomic unsigned mtu;       /* of the TUN device, refreshed by the control thread */
	_Atomic int fatal;          /* a worker's unrecoverable error (negative errno), or 0 */
	struct lr_snapshot *_Atomic snapshot;
	struct lr_index_table index;
	struct lr_qsbr qsbr;
	struct lr_ring handshakes[LR_MAX_WORKERS]; /* worker i -> control */
	int control_wake_fd;        /* eventfd the control thread polls */
	struct lr_stats stats;
	struct lr_worker *workers[LR_MAX_WORKERS];
	struct lr_ring *handoff;    /* n_workers^2 rings; [from * n_workers + to] */
	unsigned next_owner;        /* round-robin peer assignment (control thread) */
};

/* n_workers 1..LR_MAX_WORKERS; the fds are filled in by the caller before start. */
int lr_dataplane_init(struct lr_dataplane *dp, unsigned n_workers);
void lr_dataplane_destroy(struct lr_dataplane *dp);

/* Control thread: makes snap the table workers read and retires the previous one. */
void lr_dataplane_publish(struct lr_dataplane *dp, struct lr_snapshot *snap);
struct lr_snapshot *lr_snapshot_create(size_t n_peers);
void lr_snapshot_free(struct lr_snapshot *snap);

/* Worker: wake the control thread (after a ring push into an empty ring, or a new event). */
void lr_dataplane_wake_control(struct lr_dataplane *dp);
/* Worker: raises event bits on a peer and wakes the control thread if any bit was new. */
void lr_dataplane_peer_event(struct lr_dataplane *dp, struct lr_peer *peer, uint32_t bits);

/* Starts/stops every worker (dataplane/worker.c). Returns 0 or a negative errno (none left
 * running then). */
int lr_dataplane_start(struct lr_dataplane *dp);
void lr_dataplane_stop(struct lr_dataplane *dp);
/* Control thread: raise request bits on a peer and wake its owner. */
void lr_dataplane_request(struct lr_dataplane *dp, struct lr_peer *peer, uint32_t bits);
/* Control thread: the worker a new peer belongs to. */
unsigned lr_dataplane_assign_owner(struct lr_dataplane *dp);

#endif
