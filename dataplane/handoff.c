/* Hand-off between workers: a datagram that reached a socket other than its peer's owner's,
 * or a packet to stage for a peer owned elsewhere, is copied into the owner's ring. The copy
 * costs a memcpy per packet, but only for mis-steered packets (SO_REUSEPORT normally sends a
 * peer's datagrams to one socket) and for packets sent before a session exists. */
#include <string.h>

#include "common/compiler.h"
#include "dataplane/worker.h"

static struct lr_ring *ring(struct lr_dataplane *dp, unsigned from, unsigned to)
{
	return &dp->handoff[from * dp->n_workers + to];
}

void lr_handoff_push(struct lr_worker *w, unsigned owner, enum lr_handoff_kind kind,
		     const uint8_t *data, size_t len, const union lr_sockaddr *addr)
{
	struct lr_handoff_msg *msg;
	struct lr_ring *r;

	owner %= w->dp->n_workers;
	if (unlikely(len > LR_HANDOFF_SLOT)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_handoff_too_big);
		return;
	}
	r = ring(w->dp, w->id, owner);
	msg = lr_ring_reserve(r);
	if (unlikely(!msg)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_handoff_full);
		return;
	}
	msg->kind = (uint8_t)kind;
	msg->len = (uint16_t)len;
	msg->addr = *addr;
	memcpy(msg->data, data, len);
	if (lr_ring_push(r))
		lr_worker_wake(w->dp->workers[owner]);
}

/* Feeds one message through the local path as if it had been read here. */
static void take(struct lr_worker *w, const struct lr_handoff_msg *msg, struct lr_batch *tx,
		 struct lr_batch *rx)
{
	struct lr_pkt *pkt = lr_worker_pkt_get(w);

	if (unlikely(!pkt)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_handoff_full);
		return;
	}
	pkt->len = msg->len;
	pkt->addr = msg->addr;
	pkt->data = pkt->buf;
	if (msg->kind == LR_HANDOFF_RX) {
		memcpy(pkt->data, msg->data, msg->len);
		rx->pkts[rx->n++] = pkt;
	} else {
		/* The send path expects what a TUN read returns: a virtio-net header first. */
		size_t hdr = w->dp->tun_vnet_hdr ? LR_VNET_HDR_LEN : 0;

		lr_offload_vnet_write_none(pkt->data);
		memcpy(pkt->data + hdr, msg->data, msg->len);
		pkt->len += (uint32_t)hdr;
		tx->pkts[tx->n++] = pkt;
	}
}

void lr_handoff_drain(struct lr_worker *w)
{
	struct lr_dataplane *dp = w->dp;

	if (dp->n_workers == 1)
		return;
	for (unsigned from = 0; from < dp->n_workers; from++) {
		struct lr_ring *r = ring(dp, from, w->id);
		struct lr_batch tx = { .n = 0 }, rx = { .n = 0 };
		struct lr_handoff_msg *msg;

		if (from == w->id)
			continue;
		while (tx.n < LR_BATCH_MAX && rx.n < LR_BATCH_MAX && (msg = lr_ring_peek(r))) {
			take(w, msg, &tx, &rx);
			lr_ring_pop(r);
		}
		if (rx.n)
			lr_receive_batch(w, &rx);
		if (tx.n)
			lr_send_batch(w, &tx);
		/* More left: come back on the next loop pass. */
		if (lr_ring_peek(r))
			lr_worker_wake(w);
	}
}
