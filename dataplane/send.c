/* TUN -> peers: route each packet by destination (cryptokey routing), encrypt it with the
 * peer's current session, and send it. Without a usable session the packet is staged and a
 * handshake is requested from the control thread. */
#include <sodium.h>
#include <string.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/timing.h"
#include "crypto/aead.h"
#include "dataplane/ip.h"
#include "dataplane/worker.h"

static bool keypair_can_send(const struct lr_keypair *kp, uint64_t now)
{
	return kp && now - kp->birth_ns < lr_timing.reject_after_time &&
	       atomic_load_explicit(&kp->send_counter, memory_order_relaxed) <
		       LR_REJECT_AFTER_MESSAGES;
}

/* The timers that follow any authenticated packet we send (kernel timers.c). */
static void timers_sent(struct lr_worker *w, struct lr_peer *peer, bool is_data)
{
	struct lr_peer_timers *t = &peer->timers;

	if (is_data)
		lr_timer_arm_if_idle(&t->new_handshake, w->now + lr_timing.keepalive_timeout +
								lr_timing.rekey_timeout);
	if (atomic_load_explicit(&t->send_keepalive, memory_order_relaxed))
		lr_timer_disarm(&t->send_keepalive);
	if (peer->persistent_keepalive_interval)
		lr_timer_arm(&t->persistent_keepalive,
			     w->now + peer->persistent_keepalive_interval * LR_NSEC_PER_SEC);
}

static void stage(struct lr_worker *w, struct lr_peer *peer, const struct lr_pkt *pkt)
{
	struct lr_staged *s = &peer->staged;
	unsigned slot;

	if (pkt->len > LR_STAGED_SLOT) {
		lr_stats_drop(&w->dp->stats, LR_DROP_staged_too_big);
		return;
	}
	if (s->count == LR_STAGED_MAX) {
		/* Keep the newest packets: the oldest are the likeliest to be retransmitted. */
		s->head = (s->head + 1) % LR_STAGED_MAX;
		s->count--;
		lr_stats_drop(&w->dp->stats, LR_DROP_staged_full);
	}
	slot = (s->head + s->count) % LR_STAGED_MAX;
	memcpy(s->slots[slot], pkt->data, pkt->len);
	s->len[slot] = (uint16_t)pkt->len;
	s->count++;
}

/* Encrypts pkt (plaintext at pkt->buf + headroom, pkt->len bytes) for kp and sends it to dst.
 * Takes ownership of pkt. */
static void encrypt_and_send(struct lr_worker *w, struct lr_peer *peer, struct lr_keypair *kp,
			     struct lr_pkt *pkt, const union lr_sockaddr *dst)
{
	struct lr_msg_data *hdr = (struct lr_msg_data *)pkt->buf;
	uint8_t *plain = pkt->buf + LR_PKT_HEADROOM;
	size_t mtu = atomic_load_explicit(&w->dp->mtu, memory_order_relaxed);
	size_t padded = (pkt->len + LR_PADDING_MULTIPLE - 1) & ~(size_t)(LR_PADDING_MULTIPLE - 1);
	uint64_t counter = atomic_fetch_add_explicit(&kp->send_counter, 1, memory_order_relaxed);

	/* Pad to a multiple of 16 but never past the MTU (whitepaper 5.4.6, kernel send.c). */
	if (padded > mtu && pkt->len <= mtu)
		padded = mtu;
	if (padded < pkt->len)
		padded = pkt->len;
	memset(plain + pkt->len, 0, padded - pkt->len);
	hdr->header.type = htole32(LR_MSG_DATA);
	hdr->receiver_index = htole32(kp->remote_index);
	hdr->counter = htole64(counter);
	lr_aead_seal(plain, plain, padded, NULL, 0, counter, kp->send_key);
	pkt->data = pkt->buf;
	pkt->len = (uint32_t)(LR_PKT_HEADROOM + padded + LR_TAG_LEN);
	atomic_fetch_add_explicit(&peer->tx_bytes, pkt->len, memory_order_relaxed);
	timers_sent(w, peer, padded != 0);
	/* keep_key_fresh (whitepaper 6.2): the initiator rekeys after REKEY_AFTER_TIME, either
	 * side after REKEY_AFTER_MESSAGES. */
	if (unlikely(counter > lr_timing.rekey_after_messages ||
		     (kp->is_initiator && w->now - kp->birth_ns > lr_timing.rekey_after_time)))
		lr_dataplane_peer_event(w->dp, peer, LR_PEER_EV_WANT_HANDSHAKE);
	lr_worker_submit_send(w, pkt, dst);
}

static void flush_staged(struct lr_worker *w, struct lr_peer *peer, bool keepalive)
{
	struct lr_keypair *kp = atomic_load_explicit(&peer->kp_current, memory_order_acquire);
	struct lr_staged *s = &peer->staged;
	union lr_sockaddr dst;
	struct lr_pkt *pkt;

	lr_peer_get_endpoint(peer, &dst);
	if (!keypair_can_send(kp, w->now) || !dst.sa.sa_family) {
		if (s->count || keepalive)
			lr_dataplane_peer_event(w->dp, peer, LR_PEER_EV_WANT_HANDSHAKE);
		return;
	}
	if (!s->count && keepalive && (pkt = lr_worker_pkt_get(w))) {
		pkt->len = 0;
		encrypt_and_send(w, peer, kp, pkt, &dst);
		return;
	}
	while (s->count && (pkt = lr_worker_pkt_get(w))) {
		memcpy(pkt->buf + LR_PKT_HEADROOM, s->slots[s->head], s->len[s->head]);
		pkt->len = s->len[s->head];
		s->head = (s->head + 1) % LR_STAGED_MAX;
		s->count--;
		encrypt_and_send(w, peer, kp, pkt, &dst);
	}
}

static void send_one(struct lr_worker *w, struct lr_snapshot *snap, struct lr_pkt *pkt)
{
	struct lr_peer *peer;
	struct lr_keypair *kp;
	union lr_sockaddr dst;
	int family;

	if (unlikely(!lr_ip_packet_len(pkt->data, pkt->len, &family))) {
		lr_stats_drop(&w->dp->stats, LR_DROP_bad_ip_packet);
		goto drop;
	}
	peer = snap ? lr_allowedips_lookup(&snap->routes, family, lr_ip_dst(pkt->data, family))
		    : NULL;
	if (unlikely(!peer)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_no_route);
		goto drop;
	}
	lr_peer_get_endpoint(peer, &dst);
	if (unlikely(!dst.sa.sa_family)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_no_endpoint);
		goto drop;
	}
	kp = atomic_load_explicit(&peer->kp_current, memory_order_acquire);
	/* Any worker may encrypt with a live session (the counter is atomic); only the owner
	 * stages, so the staging queue needs no lock. */
	if (unlikely(peer->owner != w->id && !keypair_can_send(kp, w->now))) {
		lr_handoff_push(w, peer->owner, LR_HANDOFF_STAGE, pkt);
		goto drop;
	}
	if (unlikely(!keypair_can_send(kp, w->now) || peer->staged.count)) {
		/* Keep order: once anything is staged, later packets queue behind it. */
		stage(w, peer, pkt);
		lr_worker_pkt_put(w, pkt);
		if (keypair_can_send(kp, w->now))
			flush_staged(w, peer, false);
		else
			lr_dataplane_peer_event(w->dp, peer, LR_PEER_EV_WANT_HANDSHAKE);
		return;
	}
	encrypt_and_send(w, peer, kp, pkt, &dst);
	return;
drop:
	lr_worker_pkt_put(w, pkt);
}

void lr_send_batch(struct lr_worker *w, struct lr_batch *b)
{
	struct lr_snapshot *snap = atomic_load_explicit(&w->dp->snapshot, memory_order_acquire);

	for (unsigned i = 0; i < b->n; i++)
		send_one(w, snap, b->pkts[i]);
}

void lr_send_handle_requests(struct lr_worker *w)
{
	struct lr_snapshot *snap = atomic_load_explicit(&w->dp->snapshot, memory_order_acquire);

	if (!snap)
		return;
	for (size_t i = 0; i < snap->n_peers; i++) {
		struct lr_peer *peer = snap->peers[i];
		uint32_t req;

		if (peer->owner != w->id ||
		    !atomic_load_explicit(&peer->worker_requests, memory_order_relaxed))
			continue;
		req = atomic_exchange(&peer->worker_requests, 0);
		if (req & LR_PEER_REQ_PURGE) {
			sodium_memzero(peer->staged.slots, (size_t)LR_STAGED_MAX * LR_STAGED_SLOT);
			peer->staged.count = 0;
			peer->staged.head = 0;
		}
		if (req & (LR_PEER_REQ_FLUSH | LR_PEER_REQ_KEEPALIVE))
			flush_staged(w, peer, req & LR_PEER_REQ_KEEPALIVE);
	}
}
