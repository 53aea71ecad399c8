/* UDP -> TUN: split each receive (one datagram, or many coalesced by UDP GRO) into messages;
 * hand handshake messages to the control thread; decrypt every transport message of the pass
 * in one batch AEAD call; then check each against the replay window and the peer's allowed
 * IPs, merge TCP segments of one flow back into super-packets, and write them to TUN. */
#include <string.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/timing.h"
#include "dataplane/ip.h"
#include "dataplane/worker.h"

struct rx_pass {
	unsigned n_msgs;
	unsigned n_inner;
	struct lr_snapshot *snap;
};

static void to_control(struct lr_worker *w, const uint8_t *data, size_t len,
		       const union lr_sockaddr *src, size_t expected)
{
	struct lr_ring *ring = &w->dp->handshakes[w->id];
	struct lr_handshake_msg *msg;

	if (unlikely(len != expected)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_bad_handshake_size);
		return;
	}
	msg = lr_ring_reserve(ring);
	if (unlikely(!msg)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_handshake_queue_full);
		return;
	}
	msg->src = *src;
	msg->len = (uint16_t)len;
	memcpy(msg->data, data, len);
	if (lr_ring_push(ring))
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

/* After a message authenticated with kp: confirm a new session, roam, keep keys fresh. */
static void authenticated(struct lr_worker *w, struct lr_peer *peer, struct lr_keypair *kp,
			  const struct lr_rx_msg *m)
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
	if (unlikely(!lr_sockaddr_equal(&cur, m->src)))
		lr_peer_set_endpoint(peer, m->src);
	atomic_fetch_add_explicit(&peer->rx_bytes, m->datagram_len, memory_order_relaxed);
}

/* Queues one transport message for decryption (or hands it to its peer's owner). */
static void classify_data(struct lr_worker *w, struct rx_pass *rx, struct lr_pkt *pkt,
			  uint8_t *data, size_t len)
{
	const struct lr_msg_data *hdr = (const struct lr_msg_data *)data;
	struct lr_aead_batch_op *op;
	struct lr_index_entry *entry;
	struct lr_rx_msg *m;
	struct lr_keypair *kp;
	uint64_t counter;

	if (unlikely(len < LR_DATA_OVERHEAD)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_runt);
		return;
	}
	entry = lr_index_table_lookup(&w->dp->index, le32toh(hdr->receiver_index),
				      LR_INDEX_KEYPAIR);
	if (unlikely(!entry)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_unknown_index);
		return;
	}
	kp = entry->keypair;
	/* Only the owner touches the replay window: pass the datagram on, still encrypted. */
	if (unlikely(kp->peer->owner != w->id)) {
		lr_handoff_push(w, kp->peer->owner, LR_HANDOFF_RX, data, len, &pkt->addr);
		return;
	}
	counter = le64toh(hdr->counter);
	if (unlikely(w->now - kp->birth_ns >= lr_timing.reject_after_time ||
		     counter >= LR_REJECT_AFTER_MESSAGES)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_expired_session);
		return;
	}
	m = &w->rx_msgs[rx->n_msgs];
	op = &w->ops[rx->n_msgs++];
	m->kp = kp;
	m->pkt = pkt;
	m->src = &pkt->addr;
	m->datagram_len = (uint32_t)len;
	m->counter = counter;
	op->dst = data + sizeof(*hdr);
	op->src = op->dst;
	op->len = len - sizeof(*hdr);
	op->counter = counter;
	op->key = kp->recv_key;
}

static void classify(struct lr_worker *w, struct rx_pass *rx, struct lr_pkt *pkt, uint8_t *data,
		     size_t len)
{
	uint32_t type;

	if (unlikely(len < sizeof(struct lr_msg_header))) {
		lr_stats_drop(&w->dp->stats, LR_DROP_runt);
		return;
	}
	/* The whole little-endian word must match: the three reserved bytes are zero. */
	memcpy(&type, data, sizeof(type));
	switch (le32toh(type)) {
	case LR_MSG_DATA:
		classify_data(w, rx, pkt, data, len);
		break;
	case LR_MSG_INITIATION:
		to_control(w, data, len, &pkt->addr, sizeof(struct lr_msg_initiation));
		break;
	case LR_MSG_RESPONSE:
		to_control(w, data, len, &pkt->addr, sizeof(struct lr_msg_response));
		break;
	case LR_MSG_COOKIE:
		to_control(w, data, len, &pkt->addr, sizeof(struct lr_msg_cookie));
		break;
	default:
		lr_stats_drop(&w->dp->stats, LR_DROP_unknown_type);
		break;
	}
}

/* After decryption: replay window, roaming, timers, inner checks. Adds good packets to the
 * list that is coalesced and written. */
static void accept_msg(struct lr_worker *w, struct rx_pass *rx, unsigned i)
{
	struct lr_aead_batch_op *op = &w->ops[i];
	struct lr_rx_msg *m = &w->rx_msgs[i];
	struct lr_peer *peer = m->kp->peer;
	size_t plen = op->len - LR_TAG_LEN, inner;
	int family;

	if (unlikely(!op->ok)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_decrypt_failed);
		return;
	}
	/* The window is updated only after authentication, so forged counters cannot move it. */
	if (unlikely(!lr_replay_check(&m->kp->replay, m->counter, LR_REJECT_AFTER_MESSAGES))) {
		lr_stats_drop(&w->dp->stats, LR_DROP_replay);
		return;
	}
	authenticated(w, peer, m->kp, m);
	timers_received(w, peer, plen != 0);
	if (plen == 0)
		return; /* keepalive */
	inner = lr_ip_packet_len(op->dst, plen, &family);
	if (unlikely(!inner)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_bad_inner_packet);
		return;
	}
	/* Cryptokey routing, receive side: the source must be one this peer may use. */
	if (unlikely(!rx->snap || lr_allowedips_lookup(&rx->snap->routes, family,
						       lr_ip_src(op->dst, family)) != peer)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_inner_src_not_allowed);
		return;
	}
	w->inner[rx->n_inner].data = op->dst;
	w->inner[rx->n_inner].len = inner;
	rx->n_inner++;
}

/* Output buffers for TUN writes: groups are packed one after another, each write holding a
 * reference, so a flood of small packets needs a couple of buffers, not one each. */
struct out_buf {
	struct lr_pkt *pkt;
	size_t used;
};

static uint8_t *out_reserve(struct lr_worker *w, struct out_buf *o, size_t len)
{
	if (o->pkt && o->used + len > LR_PKT_BUF_SIZE) {
		lr_worker_pkt_put(w, o->pkt);
		o->pkt = NULL;
	}
	if (!o->pkt) {
		o->pkt = lr_worker_pkt_get(w);
		o->used = 0;
		if (!o->pkt)
			return NULL;
	}
	return o->pkt->buf + o->used;
}

static void write_group(struct lr_worker *w, struct out_buf *o, const struct lr_offload_group *g)
{
	bool vnet = w->dp->tun_vnet_hdr;
	size_t need = g->len + (vnet ? LR_VNET_HDR_LEN : 0);
	uint8_t *dst = out_reserve(w, o, need);
	int len;

	if (unlikely(!dst)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_no_buffer);
		return;
	}
	if (vnet) {
		len = lr_offload_coalesce_build(w->inner, w->next, g, dst, need);
	} else {
		len = (int)w->inner[g->head].len;
		memcpy(dst, w->inner[g->head].data, (size_t)len);
	}
	if (unlikely(len <= 0)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_bad_inner_packet);
		return;
	}
	lr_worker_submit_tun_write(w, o->pkt, dst, (size_t)len);
	/* Keep each packet cache-line aligned for the stack's header reads. */
	o->used += ((size_t)len + 63) & ~(size_t)63;
}

/* Merges TCP runs and writes every group to TUN, copied out of the receive buffers so those go
 * back to the pool at once. Small packets are written first: the receive half of the priority
 * lane. */
static void write_inner(struct lr_worker *w, struct rx_pass *rx)
{
	struct out_buf o = { .pkt = NULL, .used = 0 };
	int n_groups;

	if (!rx->n_inner)
		return;
	if (w->dp->tun_vnet_hdr) {
		n_groups = lr_offload_coalesce_flags(w->inner, rx->n_inner, w->groups, w->next,
						     w->dp->tun_uso ? LR_OFFLOAD_COALESCE_UDP : 0);
	} else {
		/* Without a virtio-net header the device takes plain packets only. */
		for (unsigned i = 0; i < rx->n_inner; i++) {
			w->groups[i] = (struct lr_offload_group){ .head = (uint16_t)i,
								  .tail = (uint16_t)i,
								  .count = 1,
								  .len = (uint32_t)w->inner[i].len };
			w->next[i] = LR_OFFLOAD_END;
		}
		n_groups = (int)rx->n_inner;
	}
	/* A small packet goes first only if no bigger packet of its flow came before it: within
	 * a flow, order is kept. bulk_flows is a one-pass Bloom filter of the flows seen with a
	 * big packet; a false positive only sends a small packet in the second pass. */
	uint64_t bulk_flows[16] = { 0 };
	bool any_first = false;

	for (int g = 0; g < n_groups; g++) {
		const struct lr_offload_pkt *head = &w->inner[w->groups[g].head];
		uint32_t bit = lr_ip_flow_hash(head->data, head->len) % 1024;
		bool small = w->groups[g].count == 1 && w->groups[g].len <= LR_PRIO_MAX_LEN;

		if (small && !(bulk_flows[bit / 64] & (1ull << (bit % 64)))) {
			write_group(w, &o, &w->groups[g]);
			w->groups[g].len = 0; /* written */
			any_first = true;
		} else if (!small) {
			bulk_flows[bit / 64] |= 1ull << (bit % 64);
		}
	}
	if (any_first && !w->sinks)
		io_uring_submit(&w->ring);
	for (int g = 0; g < n_groups; g++) {
		if (w->groups[g].len)
			write_group(w, &o, &w->groups[g]);
	}
	if (o.pkt)
		lr_worker_pkt_put(w, o.pkt);
}

void lr_receive_batch(struct lr_worker *w, struct lr_batch *b)
{
	struct rx_pass rx = { .n_msgs = 0, .n_inner = 0 };

	rx.snap = atomic_load_explicit(&w->dp->snapshot, memory_order_acquire);
	for (unsigned i = 0; i < b->n; i++) {
		struct lr_pkt *pkt = b->pkts[i];
		size_t seg = pkt->gso_size ? pkt->gso_size : pkt->len;

		/* A GRO receive is messages of seg bytes, the last possibly shorter. Each pass
		 * has room for LR_MSGS_MAX: a full batch of full GRO receives. */
		for (size_t off = 0; off < pkt->len && rx.n_msgs < LR_MSGS_MAX; off += seg) {
			size_t len = pkt->len - off < seg ? pkt->len - off : seg;

			classify(w, &rx, pkt, pkt->data + off, len);
		}
	}
	if (rx.n_msgs)
		lr_aead_batch_open(w->aead, w->ops, rx.n_msgs);
	for (unsigned i = 0; i < rx.n_msgs; i++)
		accept_msg(w, &rx, i);
	write_inner(w, &rx);
	for (unsigned i = 0; i < b->n; i++)
		lr_worker_pkt_put(w, b->pkts[i]);
}
