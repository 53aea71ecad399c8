/* TUN -> peers: route each packet by destination (cryptokey routing), cut super-packets into
 * MTU-sized segments straight into "trains" (equal-size messages to one peer in one buffer),
 * encrypt every message of the pass in one batch AEAD call, and send each train with one UDP
 * GSO sendmsg. Without a usable session a packet is staged and a handshake requested. */
#include <sodium.h>
#include <string.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/timing.h"
#include "dataplane/ip.h"
#include "dataplane/worker.h"

#define MAX_TRAINS (2 * LR_BATCH_MAX)

struct tx_pass {
	struct lr_train trains[MAX_TRAINS];
	unsigned n_trains;
	unsigned n_ops;
};

static bool keypair_can_send(const struct lr_keypair *kp, uint64_t now)
{
	return kp && now - kp->birth_ns < lr_timing.reject_after_time &&
	       atomic_load_explicit(&kp->send_counter, memory_order_relaxed) <
		       LR_REJECT_AFTER_MESSAGES - LR_MSGS_MAX;
}

/* Plaintext is padded to 16 bytes but never past the MTU (whitepaper 5.4.6, kernel send.c). */
static size_t padded_len(struct lr_worker *w, size_t len)
{
	size_t mtu = atomic_load_explicit(&w->dp->mtu, memory_order_relaxed);
	size_t padded = (len + LR_PADDING_MULTIPLE - 1) & ~(size_t)(LR_PADDING_MULTIPLE - 1);

	if (padded > mtu && len <= mtu)
		padded = mtu;
	return padded < len ? len : padded;
}

static size_t message_len(struct lr_worker *w, size_t plain_len)
{
	return LR_PKT_HEADROOM + padded_len(w, plain_len) + LR_TAG_LEN;
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

static struct lr_train *train_find(struct lr_worker *w, struct tx_pass *tx, struct lr_peer *peer,
				   struct lr_keypair *kp, const union lr_sockaddr *dst,
				   size_t stride, const struct lr_offload_seg_info *info)
{
	struct lr_train *t;

	for (unsigned i = tx->n_trains; i-- > 0;) {
		t = &tx->trains[i];
		if (t->peer == peer && t->kp == kp && t->stride == stride && !t->closed &&
		    t->count + info->count <= LR_TRAIN_MAX_SEGS &&
		    t->used + info->count * stride <= LR_PKT_BUF_SIZE)
			return t;
		if (t->peer == peer)
			break; /* keep a peer's packets in order: only its newest train may grow */
	}
	if (tx->n_trains == MAX_TRAINS || tx->n_ops + LR_TRAIN_MAX_SEGS > LR_MSGS_MAX)
		return NULL;
	t = &tx->trains[tx->n_trains];
	t->pkt = lr_worker_pkt_get(w);
	if (!t->pkt)
		return NULL;
	tx->n_trains++;
	t->peer = peer;
	t->kp = kp;
	t->dst = *dst;
	t->stride = stride;
	t->used = 0;
	t->count = 0;
	t->first_op = tx->n_ops;
	t->closed = false;
	return t;
}

/* Adds one message per segment of pkt (len bytes after its virtio-net header h) to a train
 * for peer. Returns false (drop counted) when it cannot. */
static bool train_add(struct lr_worker *w, struct tx_pass *tx, struct lr_peer *peer,
		      struct lr_keypair *kp, const union lr_sockaddr *dst,
		      const struct lr_vnet_hdr *h, const uint8_t *pkt, size_t len)
{
	struct lr_offload_seg_info info;
	struct lr_offload_seg_out out;
	struct lr_train *t;
	size_t stride, last;
	int n;

	if (unlikely(lr_offload_segment_info(h, pkt, len, &info))) {
		lr_stats_drop(&w->dp->stats, LR_DROP_bad_offload);
		return false;
	}
	stride = message_len(w, info.max_len);
	t = train_find(w, tx, peer, kp, dst, stride, &info);
	if (unlikely(!t)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_no_buffer);
		return false;
	}
	out.base = t->pkt->buf + t->used;
	out.cap = LR_PKT_BUF_SIZE - t->used;
	out.headroom = LR_PKT_HEADROOM;
	out.stride = stride;
	out.max_segs = LR_TRAIN_MAX_SEGS - t->count;
	n = lr_offload_segment(h, pkt, len, &out, w->seg_len);
	if (unlikely(n <= 0)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_bad_offload);
		return false;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *plain = out.base + (size_t)i * stride + LR_PKT_HEADROOM;
		size_t padded = padded_len(w, w->seg_len[i]);
		struct lr_aead_batch_op *op = &w->ops[tx->n_ops++];

		memset(plain + w->seg_len[i], 0, padded - w->seg_len[i]);
		op->dst = plain;
		op->src = plain;
		op->len = padded;
		op->key = kp->send_key;
	}
	last = message_len(w, w->seg_len[n - 1]);
	t->used += (size_t)(n - 1) * stride + last;
	t->count += (unsigned)n;
	t->closed = last != stride;
	return true;
}

static bool train_add_keepalive(struct lr_worker *w, struct tx_pass *tx, struct lr_peer *peer,
				struct lr_keypair *kp, const union lr_sockaddr *dst)
{
	struct lr_offload_seg_info info = { .count = 1, .max_len = 0 };
	size_t stride = LR_PKT_HEADROOM + LR_TAG_LEN;
	struct lr_train *t = train_find(w, tx, peer, kp, dst, stride, &info);
	struct lr_aead_batch_op *op;

	if (!t)
		return false;
	op = &w->ops[tx->n_ops++];
	op->dst = t->pkt->buf + t->used + LR_PKT_HEADROOM;
	op->src = op->dst;
	op->len = 0;
	op->key = kp->send_key;
	t->used += stride;
	t->count++;
	return true;
}

/* Numbers, encrypts and sends every train of the pass. */
static void tx_flush(struct lr_worker *w, struct tx_pass *tx)
{
	for (unsigned i = 0; i < tx->n_trains; i++) {
		struct lr_train *t = &tx->trains[i];
		uint64_t counter = atomic_fetch_add_explicit(&t->kp->send_counter, t->count,
							     memory_order_relaxed);

		for (unsigned j = 0; j < t->count; j++) {
			struct lr_aead_batch_op *op = &w->ops[t->first_op + j];
			struct lr_msg_data *hdr = (struct lr_msg_data *)(op->dst - LR_PKT_HEADROOM);

			op->counter = counter + j;
			hdr->header.type = htole32(LR_MSG_DATA);
			hdr->receiver_index = htole32(t->kp->remote_index);
			hdr->counter = htole64(counter + j);
		}
	}
	if (tx->n_ops)
		lr_aead_batch_seal(w->aead, w->ops, tx->n_ops);
	for (unsigned i = 0; i < tx->n_trains; i++) {
		struct lr_train *t = &tx->trains[i];
		size_t per_send = w->dp->udp_gso ? LR_UDP_MAX_PAYLOAD / t->stride : 1;
		const uint8_t *base = t->pkt->buf;
		size_t off = 0;
		uint64_t first_counter = w->ops[t->first_op].counter;

		if (per_send > LR_TRAIN_MAX_SEGS)
			per_send = LR_TRAIN_MAX_SEGS;
		for (unsigned j = 0; j < t->count; j += (unsigned)per_send) {
			unsigned k = t->count - j < per_send ? t->count - j : (unsigned)per_send;
			size_t bytes = j + k == t->count ? t->used - off : k * t->stride;

			lr_worker_submit_send(w, t->pkt, base + off, bytes,
					      k > 1 ? (uint16_t)t->stride : 0, &t->dst);
			off += bytes;
		}
		atomic_fetch_add_explicit(&t->peer->tx_bytes, t->used, memory_order_relaxed);
		timers_sent(w, t->peer, t->used > t->count * (LR_PKT_HEADROOM + LR_TAG_LEN));
		/* keep_key_fresh (whitepaper 6.2): the initiator rekeys after REKEY_AFTER_TIME,
		 * either side after REKEY_AFTER_MESSAGES. */
		if (unlikely(first_counter + t->count > lr_timing.rekey_after_messages ||
			     (t->kp->is_initiator &&
			      w->now - t->kp->birth_ns > lr_timing.rekey_after_time)))
			lr_dataplane_peer_event(w->dp, t->peer, LR_PEER_EV_WANT_HANDSHAKE);
		lr_worker_pkt_put(w, t->pkt);
	}
	tx->n_trains = 0;
	tx->n_ops = 0;
}

/* Stages a plain packet (at most one segment) in the peer's queue; owner only. */
static void stage(struct lr_worker *w, struct lr_peer *peer, const struct lr_vnet_hdr *h,
		  const uint8_t *pkt, size_t len)
{
	struct lr_staged *s = &peer->staged;
	struct lr_offload_seg_out out = { .headroom = 0, .max_segs = 1 };
	unsigned slot;
	uint16_t seg_len;

	if (s->count == LR_STAGED_MAX) {
		/* Keep the newest packets: the oldest are the likeliest to be retransmitted. */
		s->head = (s->head + 1) % LR_STAGED_MAX;
		s->count--;
		lr_stats_drop(&w->dp->stats, LR_DROP_staged_full);
	}
	slot = (s->head + s->count) % LR_STAGED_MAX;
	out.base = s->slots[slot];
	out.cap = LR_STAGED_SLOT;
	out.stride = LR_STAGED_SLOT;
	/* Segmenting into the slot also completes a partial checksum. */
	if (lr_offload_segment(h, pkt, len, &out, &seg_len) != 1) {
		lr_stats_drop(&w->dp->stats, LR_DROP_staged_too_big);
		return;
	}
	s->len[slot] = seg_len;
	s->count++;
}

static void flush_staged(struct lr_worker *w, struct tx_pass *tx, struct lr_peer *peer,
			 bool keepalive)
{
	struct lr_keypair *kp = atomic_load_explicit(&peer->kp_current, memory_order_acquire);
	struct lr_vnet_hdr none = { 0 };
	struct lr_staged *s = &peer->staged;
	union lr_sockaddr dst;

	lr_peer_get_endpoint(peer, &dst);
	if (!keypair_can_send(kp, w->now) || !dst.sa.sa_family) {
		if (s->count || keepalive)
			lr_dataplane_peer_event(w->dp, peer, LR_PEER_EV_WANT_HANDSHAKE);
		return;
	}
	if (!s->count && keepalive) {
		if (!train_add_keepalive(w, tx, peer, kp, &dst))
			lr_stats_drop(&w->dp->stats, LR_DROP_no_buffer);
		return;
	}
	while (s->count) {
		train_add(w, tx, peer, kp, &dst, &none, s->slots[s->head], s->len[s->head]);
		s->head = (s->head + 1) % LR_STAGED_MAX;
		s->count--;
	}
}

static void send_one(struct lr_worker *w, struct tx_pass *tx, struct lr_snapshot *snap,
		     const struct lr_vnet_hdr *h, const uint8_t *pkt, size_t len)
{
	struct lr_peer *peer;
	struct lr_keypair *kp;
	union lr_sockaddr dst;
	int family;

	/* A super-packet's IP total length covers only its first segment's worth; the header
	 * fields we route on are the same in every segment. */
	if (unlikely(len < 20 || !lr_ip_packet_len(pkt, len, &family))) {
		if (!(h->gso_type != LR_VNET_GSO_NONE && len >= 40 &&
		      ((pkt[0] >> 4) == 4 || (pkt[0] >> 4) == 6))) {
			lr_stats_drop(&w->dp->stats, LR_DROP_bad_ip_packet);
			return;
		}
		family = (pkt[0] >> 4) == 4 ? AF_INET : AF_INET6;
	}
	peer = snap ? lr_allowedips_lookup(&snap->routes, family, lr_ip_dst(pkt, family)) : NULL;
	if (unlikely(!peer)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_no_route);
		return;
	}
	lr_peer_get_endpoint(peer, &dst);
	if (unlikely(!dst.sa.sa_family)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_no_endpoint);
		return;
	}
	kp = atomic_load_explicit(&peer->kp_current, memory_order_acquire);
	/* Any worker may encrypt with a live session (the counter is atomic); only the owner
	 * stages, so the staging queue needs no lock. */
	if (unlikely(peer->owner != w->id && !keypair_can_send(kp, w->now))) {
		if (h->gso_type == LR_VNET_GSO_NONE && !(h->flags & LR_VNET_F_NEEDS_CSUM))
			lr_handoff_push(w, peer->owner, LR_HANDOFF_STAGE, pkt, len, &dst);
		else
			lr_stats_drop(&w->dp->stats, LR_DROP_staged_too_big);
		return;
	}
	if (unlikely(!keypair_can_send(kp, w->now) || peer->staged.count)) {
		/* Keep order: once anything is staged, later packets queue behind it. */
		stage(w, peer, h, pkt, len);
		if (keypair_can_send(kp, w->now))
			flush_staged(w, tx, peer, false);
		else
			lr_dataplane_peer_event(w->dp, peer, LR_PEER_EV_WANT_HANDSHAKE);
		return;
	}
	train_add(w, tx, peer, kp, &dst, h, pkt, len);
}

void lr_send_batch(struct lr_worker *w, struct lr_batch *b)
{
	struct lr_snapshot *snap = atomic_load_explicit(&w->dp->snapshot, memory_order_acquire);
	struct tx_pass tx = { .n_trains = 0, .n_ops = 0 };
	bool vnet = w->dp->tun_vnet_hdr;

	for (unsigned i = 0; i < b->n; i++) {
		struct lr_pkt *pkt = b->pkts[i];
		struct lr_vnet_hdr h = { 0 };
		const uint8_t *ip = pkt->data;
		size_t len = pkt->len;

		if (vnet) {
			if (unlikely(len < LR_VNET_HDR_LEN)) {
				lr_stats_drop(&w->dp->stats, LR_DROP_bad_offload);
				lr_worker_pkt_put(w, pkt);
				continue;
			}
			lr_offload_vnet_parse(&h, ip);
			ip += LR_VNET_HDR_LEN;
			len -= LR_VNET_HDR_LEN;
		}
		send_one(w, &tx, snap, &h, ip, len);
		/* Trains hold copies: the read buffer is free at once. */
		lr_worker_pkt_put(w, pkt);
	}
	tx_flush(w, &tx);
}

void lr_send_handle_requests(struct lr_worker *w)
{
	struct lr_snapshot *snap = atomic_load_explicit(&w->dp->snapshot, memory_order_acquire);
	struct tx_pass tx = { .n_trains = 0, .n_ops = 0 };

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
			flush_staged(w, &tx, peer, req & LR_PEER_REQ_KEEPALIVE);
		if (tx.n_trains > MAX_TRAINS - 4)
			tx_flush(w, &tx);
	}
	tx_flush(w, &tx);
}
