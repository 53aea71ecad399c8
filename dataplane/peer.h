/* A peer and its sessions (keypairs), split by who writes what: the control thread owns the
 * handshake and configuration, the worker owns the replay windows and the staging queue, and
 * the fields both touch are atomics. Peers and keypairs are freed through QSBR. */
#ifndef LR_DATAPLANE_PEER_H
#define LR_DATAPLANE_PEER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "dataplane/index.h"
#include "dataplane/qsbr.h"
#include "dataplane/replay.h"

struct lr_keypair {
	struct lr_qsbr_item rcu;
	struct lr_index_entry entry; /* local_index -> this keypair */
	uint8_t send_key[LR_KEY_LEN];
	uint8_t recv_key[LR_KEY_LEN];
	_Atomic uint64_t send_counter; /* next nonce; fetch_add makes nonces unique */
	struct lr_replay replay;       /* the owning worker's alone */
	uint64_t birth_ns;
	uint32_t remote_index;
	bool is_initiator;
	struct lr_peer *peer;
};

/* Control thread -> worker requests (bits of lr_peer.worker_requests). */
enum {
	LR_PEER_REQ_FLUSH = 1u << 0,     /* a session is ready: send the staged packets */
	LR_PEER_REQ_KEEPALIVE = 1u << 1, /* send a keepalive unless staged data went out */
	LR_PEER_REQ_PURGE = 1u << 2,     /* handshakes gave up: drop the staged packets */
};

/* Worker -> control thread events (bits of lr_peer.control_events). */
enum {
	LR_PEER_EV_WANT_HANDSHAKE = 1u << 0, /* no usable session, or it is getting old */
	LR_PEER_EV_CONFIRMED = 1u << 1,      /* data arrived on the next keypair: promote it */
};

/* Timer deadlines in lr_now_ns() time; 0 means not armed. Armed with compare-and-swap so
 * "arm if not pending" from a worker and "disarm" from the control thread never race badly. */
struct lr_peer_timers {
	_Atomic uint64_t retransmit_handshake;
	_Atomic uint64_t send_keepalive;
	_Atomic uint64_t new_handshake;
	_Atomic uint64_t zero_key_material;
	_Atomic uint64_t persistent_keepalive;
	_Atomic bool need_another_keepalive;
};

#define LR_STAGED_MAX 32
#define LR_STAGED_SLOT 2048

struct lr_staged {
	unsigned head, count;
	uint16_t len[LR_STAGED_MAX];
	uint8_t (*slots)[LR_STAGED_SLOT];
};

struct lr_peer {
	struct lr_qsbr_item rcu;
	uint8_t public_key[LR_KEY_LEN];
	unsigned owner; /* the worker that receives, stages and flushes for this peer */

	/* Sessions: written by the control thread, read by workers. */
	struct lr_keypair *_Atomic kp_current;
	struct lr_keypair *_Atomic kp_previous;
	struct lr_keypair *_Atomic kp_next;

	struct lr_keypair *_Atomic kp_confirmed; /* the next session data arrived on */
	_Atomic uint32_t worker_requests;
	_Atomic uint32_t control_events;

	/* Written on roaming by whoever authenticated a packet from a new address. */
	pthread_spinlock_t endpoint_lock;
	union lr_sockaddr endpoint; /* sa_family 0: none */

	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t tx_bytes;
	struct lr_peer_timers timers;

	/* Control thread only. */
	struct lr_noise_handshake hs;
	struct lr_index_entry hs_entry;
	struct lr_cookie cookie;
	uint64_t last_sent_handshake_ns;
	uint64_t last_handshake_wall_ns; /* for get=1 */
	unsigned handshake_attempts;
	bool sent_lastminute_handshake;
	bool has_psk;
	uint16_t persistent_keepalive_interval;
	bool removed;

	/* Worker only. */
	struct lr_staged staged;
};

struct lr_peer *lr_peer_create(const uint8_t public_key[LR_KEY_LEN]);
/* Frees immediately; use only when no worker can reach the peer (QSBR passed). */
void lr_peer_free(struct lr_peer *peer);

void lr_peer_get_endpoint(struct lr_peer *peer, union lr_sockaddr *out);
void lr_peer_set_endpoint(struct lr_peer *peer, const union lr_sockaddr *addr);

void lr_keypair_free(struct lr_keypair *kp);

/* Arm a timer only if it is not already armed (the kernel's "mod_timer if !pending"). */
static inline void lr_timer_arm_if_idle(_Atomic uint64_t *t, uint64_t deadline)
{
	uint64_t idle = 0;

	if (atomic_load_explicit(t, memory_order_relaxed) == 0)
		atomic_compare_exchange_strong(t, &idle, deadline ? deadline : 1);
}

static inline void lr_timer_arm(_Atomic uint64_t *t, uint64_t deadline)
{
	atomic_store(t, deadline ? deadline : 1);
}

static inline void lr_timer_disarm(_Atomic uint64_t *t)
{
	atomic_store(t, 0);
}

#endif
