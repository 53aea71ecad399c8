/* UDP -> TUN: classify each datagram; hand handshake messages to the control thread; decrypt
 * transport data in place, check the replay window and the inner source against the peer's
 * allowed IPs, and write the packet to the TUN device. */
#include <string.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/timing.h"
#include "crypto/aead.h"
#include "dataplane/ip.h"
#include "dataplane/worker.h"

static void to_control(struct lr_worker *w, struct lr_pkt *pkt, size_t expected)
{
	struct lr_handshake_msg *msg;

	if (unlikely(pkt->len != expected)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_bad_handshake_size);
		return;
	}
	msg = lr_ring_reserve(&w->dp->handshakes[w->id]);
	if (unlikely(!msg)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_handshake_queue_full);
		return;
	}
	msg->src = pkt->addr;
	msg->len = (uint16_t)pkt->len;
	memcpy(msg->data, pkt->data, pkt->len);
	if (lr_ring_push(&w->dp->handshakes[w->id]))
		lr_dataplane_wake_control(w->dp);
}

/* The timers that follow any authenticated packet we receive (kernel timers.c). */
static void timers_received(struct lr_worker *w, struct lr_peer *peer, bool is_data)
{
	struct lr_peer_timers *t = &peer->timers;

	if (atomic_load_explicit(&t->new_handshake, memory_order_relaxed))
		lr_timer_disarm(&t->new_handshake);
	if (peer->persistent_keepalive_interval)
		lr_timer_arm(&t->persistent_keepalive,
			     w->now + peer->persistent_keepalive_interval * LR_NSEC_PER_SEC);
	if (!is_data)
		return;
	if (atomic_load_explicit(&t->send_keepalive, memory_order_relaxed))
		atomic_store_explicit(&t->need_another_keepalive, true, memory_order_relaxed);
	else
		lr_timer_arm_if_idle(&t->send_keepalive, w->now + lr_timing.keepalive_timeout);
}

/* After a packet authenticated with kp: confirm a new session, roam, keep keys fresh. */
static void authenticated(struct lr_worker *w, struct lr_peer *peer, struct lr_keypair *kp,
			  const struct lr_pkt *pkt)
{
	union lr_sockaddr cur;
	uint32_t events = 0;

	if (unlikely(kp == atomic_load_explicit(&peer->kp_next, memory_order_acquire))) {
		atomic_store(&peer->kp_confirmed, kp);
		events |= LR_PEER_EV_CONFIRMED;
	}
	/* keep_key_fresh on receive: the initiator rekeys shortly before the session would be
	 * rejected, in case it has been receiving but not sending. */
	if (unlikely(kp->is_initiator &&
		     w->now - kp->birth_ns > lr_timing.reject_after_time -
						     lr_timing.keepalive_timeout -
						     lr_timing.rekey_timeout))
		events |= LR_PEER_EV_WANT_HANDSHAKE;
	if (events)
		lr_dataplane_peer_event(w->dp, peer, events);
	/* Roaming (whitepaper 2.1): the most recent authenticated source is the endpoint. */
	lr_peer_get_endpoint(peer, &cur);
	if (unlikely(!lr_sockaddr_equal(&cur, &pkt->addr)))
		lr_peer_set_endpoint(peer, &pkt->addr);
	atomic_fetch_add_explicit(&peer->rx_bytes, pkt->len, memory_order_relaxed);
}

/* Returns true when pkt was queued to the TUN device (ownership passed). */
static bool receive_data(struct lr_worker *w, struct lr_snapshot *snap, struct lr_pkt *pkt)
{
	const struct lr_msg_data *hdr = (const struct lr_msg_data *)pkt->data;
	struct lr_index_entry *entry;
	struct lr_keypair *kp;
	struct lr_peer *peer;
	uint8_t *plain = pkt->data + sizeof(*hdr);
	size_t clen = pkt->len - sizeof(*hdr);
	uint64_t counter;
	size_t inner;
	int family;

	entry = lr_index_table_lookup(&w->dp->index, le32toh(hdr->receiver_index),
				      LR_INDEX_KEYPAIR);
	if (unlikely(!entry)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_unknown_index);
		return false;
	}
	kp = entry->keypair;
	peer = kp->peer;
	/* Only the owner touches the replay window: pass the datagram on, still encrypted. */
	if (unlikely(peer->owner != w->id)) {
		lr_handoff_push(w, peer->owner, LR_HANDOFF_RX, pkt);
		return false;
	}
	counter = le64toh(hdr->counter);
	if (unlikely(w->now - kp->birth_ns >= lr_timing.reject_after_time ||
		     counter >= LR_REJECT_AFTER_MESSAGES)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_expired_session);
		return false;
	}
	if (unlikely(!lr_aead_open(plain, plain, clen, NULL, 0, counter, kp->recv_key))) {
		lr_stats_drop(&w->dp->stats, LR_DROP_decrypt_failed);
		return false;
	}
	/* The window is updated only after authentication, so forged counters cannot move it. */
	if (unlikely(!lr_replay_check(&kp->replay, counter, LR_REJECT_AFTER_MESSAGES))) {
		lr_stats_drop(&w->dp->stats, LR_DROP_replay);
		return false;
	}
	authenticated(w, peer, kp, pkt);
	clen -= LR_TAG_LEN;
	timers_received(w, peer, clen != 0);
	if (clen == 0)
		return false; /* keepalive */
	inner = lr_ip_packet_len(plain, clen, &family);
	if (unlikely(!inner)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_bad_inner_packet);
		return false;
	}
	/* Cryptokey routing, receive side: the source must be one this peer may use. */
	if (unlikely(!snap ||
		     lr_allowedips_lookup(&snap->routes, family, lr_ip_src(plain, family)) != peer)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_inner_src_not_allowed);
		return false;
	}
	pkt->data = plain;
	pkt->len = (uint32_t)inner;
	lr_worker_submit_tun_write(w, pkt);
	return true;
}

static bool receive_one(struct lr_worker *w, struct lr_snapshot *snap, struct lr_pkt *pkt)
{
	uint32_t type;

	if (unlikely(pkt->len < sizeof(struct lr_msg_header))) {
		lr_stats_drop(&w->dp->stats, LR_DROP_runt);
		return false;
	}
	/* The whole little-endian word must match: the three reserved bytes are zero. */
	memcpy(&type, pkt->data, sizeof(type));
	switch (le32toh(type)) {
	case LR_MSG_DATA:
		if (unlikely(pkt->len < LR_DATA_OVERHEAD)) {
			lr_stats_drop(&w->dp->stats, LR_DROP_runt);
			return false;
		}
		return receive_data(w, snap, pkt);
	case LR_MSG_INITIATION:
		to_control(w, pkt, sizeof(struct lr_msg_initiation));
		return false;
	case LR_MSG_RESPONSE:
		to_control(w, pkt, sizeof(struct lr_msg_response));
		return false;
	case LR_MSG_COOKIE:
		to_control(w, pkt, sizeof(struct lr_msg_cookie));
		return false;
	default:
		lr_stats_drop(&w->dp->stats, LR_DROP_unknown_type);
		return false;
	}
}

void lr_receive_batch(struct lr_worker *w, struct lr_batch *b)
{
	struct lr_snapshot *snap = atomic_load_explicit(&w->dp->snapshot, memory_order_acquire);

	for (unsigned i = 0; i < b->n; i++) {
		if (!receive_one(w, snap, b->pkts[i]))
			lr_worker_pkt_put(w, b->pkts[i]);
	}
}
