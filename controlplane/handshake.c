/* Handshake messages: sending initiations, answering initiations, consuming responses and
 * cookie replies, with the mac1/mac2 checks and cookie replies under load (whitepaper 5.3). */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "common/clock.h"
#include "common/timing.h"
#include "controlplane/device.h"

#define HANDSHAKE_DRAIN_BUDGET 256

static void sent_to_peer(struct lr_device *dev, struct lr_peer *peer, const void *msg,
			 size_t len, uint64_t now)
{
	union lr_sockaddr dst;

	lr_peer_get_endpoint(peer, &dst);
	lr_timers_authenticated_traversal(peer, now);
	lr_timer_disarm(&peer->timers.send_keepalive); /* any authenticated packet sent */
	if (dst.sa.sa_family && !lr_device_send(dev, &dst, msg, len))
		atomic_fetch_add(&peer->tx_bytes, len);
}

void lr_handshake_send_initiation(struct lr_device *dev, struct lr_peer *peer, bool retry)
{
	struct lr_msg_initiation msg;
	uint64_t now = lr_now_ns();
	uint32_t index;

	if (!retry)
		peer->handshake_attempts = 0;
	/* Rate limited to one per REKEY_TIMEOUT (whitepaper 6.4). */
	if (peer->last_sent_handshake_ns && now - peer->last_sent_handshake_ns < lr_timing.rekey_timeout)
		return;
	if (!dev->identity.has_identity)
		return;
	peer->last_sent_handshake_ns = now;
	lr_index_table_remove(&dev->dp.index, &peer->hs_entry);
	index = lr_index_table_insert(&dev->dp.index, &peer->hs_entry, peer->owner,
				      dev->dp.n_workers);
	if (lr_noise_initiation_create(&msg, &peer->hs, &dev->identity, index)) {
		lr_index_table_remove(&dev->dp.index, &peer->hs_entry);
		return;
	}
	lr_cookie_add_macs(&peer->cookie, &msg, sizeof(msg), now);
	sent_to_peer(dev, peer, &msg, sizeof(msg), now);
	lr_timers_handshake_initiated(peer, now);
}

static void received_from_peer(struct lr_peer *peer, const struct lr_handshake_msg *m,
			       uint64_t now)
{
	/* Roaming applies to handshakes too: answer where the peer is now. */
	lr_peer_set_endpoint(peer, &m->src);
	atomic_fetch_add(&peer->rx_bytes, m->len);
	lr_timer_disarm(&peer->timers.new_handshake); /* any authenticated packet received */
	lr_timers_authenticated_traversal(peer, now);
}

static void send_response(struct lr_device *dev, struct lr_peer *peer, uint64_t now)
{
	struct lr_noise_session_keys keys;
	struct lr_msg_response msg;
	uint32_t index;

	lr_index_table_remove(&dev->dp.index, &peer->hs_entry);
	index = lr_index_table_insert(&dev->dp.index, &peer->hs_entry, peer->owner,
				      dev->dp.n_workers);
	if (lr_noise_response_create(&msg, &peer->hs, index))
		goto err_index;
	lr_cookie_add_macs(&peer->cookie, &msg, sizeof(msg), now);
	if (lr_noise_session_derive(&peer->hs, &keys))
		goto err_index;
	keys.local_index = index;
	if (!lr_keypairs_install(dev, peer, &keys)) {
		lr_timers_session_derived(peer, now);
		peer->last_sent_handshake_ns = now;
		sent_to_peer(dev, peer, &msg, sizeof(msg), now);
	}
	lr_noise_session_keys_clear(&keys);
	return;

err_index:
	lr_index_table_remove(&dev->dp.index, &peer->hs_entry);
}

static void receive_initiation(struct lr_device *dev, const struct lr_handshake_msg *m,
			       uint64_t now)
{
	const struct lr_msg_initiation *msg = (const void *)m->data;
	struct lr_noise_initiation_result res;
	struct lr_peer *peer;
	int ret;

	if (lr_noise_initiation_consume(msg, &dev->identity, &res)) {
		lr_stats_drop(&dev->dp.stats, LR_DROP_handshake_invalid);
		return;
	}
	peer = lr_device_peer_lookup(dev, res.remote_static);
	if (!peer) {
		lr_stats_drop(&dev->dp.stats, LR_DROP_unknown_peer);
		goto out;
	}
	ret = lr_noise_initiation_accept(&peer->hs, &res, now);
	if (ret) {
		lr_stats_drop(&dev->dp.stats, ret == -EBUSY ? LR_DROP_handshake_flood
							    : LR_DROP_handshake_replayed);
		goto out;
	}
	received_from_peer(peer, m, now);
	send_response(dev, peer, now);
out:
	lr_noise_initiation_result_clear(&res);
}

static void receive_response(struct lr_device *dev, const struct lr_handshake_msg *m,
			     uint64_t now)
{
	const struct lr_msg_response *msg = (const void *)m->data;
	struct lr_noise_session_keys keys;
	struct lr_index_entry *entry;
	struct lr_peer *peer;

	entry = lr_index_table_lookup(&dev->dp.index, le32toh(msg->receiver_index),
				      LR_INDEX_HANDSHAKE);
	if (!entry) {
		lr_stats_drop(&dev->dp.stats, LR_DROP_unexpected_response);
		return;
	}
	peer = entry->peer;
	if (lr_noise_response_consume(msg, &peer->hs, &dev->identity)) {
		lr_stats_drop(&dev->dp.stats, LR_DROP_handshake_invalid);
		return;
	}
	received_from_peer(peer, m, now);
	if (lr_noise_session_derive(&peer->hs, &keys))
		return;
	keys.local_index = entry->index;
	if (!lr_keypairs_install(dev, peer, &keys)) {
		lr_timers_session_derived(peer, now);
		lr_timers_handshake_complete(peer);
		atomic_fetch_add(&dev->dp.stats.handshakes_completed, 1);
		/* Send what waited for this session, or a keepalive to confirm it at once. */
		lr_dataplane_request(&dev->dp, peer, LR_PEER_REQ_FLUSH | LR_PEER_REQ_KEEPALIVE);
	}
	lr_noise_session_keys_clear(&keys);
}

static void receive_cookie(struct lr_device *dev, const struct lr_handshake_msg *m, uint64_t now)
{
	const struct lr_msg_cookie *msg = (const void *)m->data;
	struct lr_index_entry *entry;

	entry = lr_index_table_lookup(&dev->dp.index, le32toh(msg->receiver_index),
				      LR_INDEX_HANDSHAKE | LR_INDEX_KEYPAIR);
	if (!entry) {
		lr_stats_drop(&dev->dp.stats, LR_DROP_unexpected_response);
		return;
	}
	/* The retransmission timer resends the initiation, now with mac2. */
	if (lr_cookie_reply_consume(&entry->peer->cookie, msg, now))
		lr_stats_drop(&dev->dp.stats, LR_DROP_cookie_invalid);
}

static void send_cookie_reply(struct lr_device *dev, const struct lr_handshake_msg *m,
			      uint64_t now)
{
	struct lr_msg_cookie reply;
	uint32_t sender_index;

	/* Initiations and responses both carry the sender index right after the header. */
	memcpy(&sender_index, m->data + sizeof(struct lr_msg_header), sizeof(sender_index));
	lr_cookie_reply_create(&reply, &dev->cookie_checker, m->data, m->len,
			       le32toh(sender_index), &m->src, now);
	if (!lr_device_send(dev, &m->src, &reply, sizeof(reply)))
		atomic_fetch_add(&dev->dp.stats.cookies_sent, 1);
}

void lr_handshake_receive(struct lr_device *dev, const struct lr_handshake_msg *m,
			  bool under_load)
{
	uint64_t now = lr_now_ns();
	uint32_t type;

	memcpy(&type, m->data, sizeof(type));
	type = le32toh(type);
	if (type == LR_MSG_COOKIE) {
		receive_cookie(dev, m, now);
		return;
	}
	switch (lr_cookie_validate_packet(&dev->cookie_checker, m->data, m->len, &m->src,
					  under_load, now)) {
	case LR_COOKIE_INVALID_MAC:
		lr_stats_drop(&dev->dp.stats, LR_DROP_mac1_invalid);
		return;
	case LR_COOKIE_VALID_MAC_NO_COOKIE:
		if (under_load) {
			lr_stats_drop(&dev->dp.stats, LR_DROP_cookie_required);
			send_cookie_reply(dev, m, now);
			return;
		}
		break;
	case LR_COOKIE_VALID_MAC_WITH_COOKIE:
		/* The source proved its address; under load it still gets a bounded rate. */
		if (under_load && !lr_ratelimiter_allow(&dev->ratelimiter, &m->src, now)) {
			lr_stats_drop(&dev->dp.stats, LR_DROP_handshake_ratelimited);
			return;
		}
		break;
	}
	if (type == LR_MSG_INITIATION)
		receive_initiation(dev, m, now);
	else
		receive_response(dev, m, now);
}

static bool under_load(struct lr_device *dev, uint64_t now)
{
	size_t queued = 0, capacity = 0;

	for (unsigned i = 0; i < dev->dp.n_workers; i++) {
		queued += lr_ring_count(&dev->dp.handshakes[i]);
		capacity += lr_ring_capacity(&dev->dp.handshakes[i]);
	}
	/* As the kernel: loaded when the queue is an eighth full, and for a second after. */
	if (queued >= capacity / 8) {
		dev->last_under_load_ns = now;
		return true;
	}
	return dev->last_under_load_ns && now - dev->last_under_load_ns < LR_NSEC_PER_SEC;
}

bool lr_handshake_drain(struct lr_device *dev)
{
	bool more = false;

	/* A budget per worker's ring keeps one flooded socket from starving the others. */
	for (unsigned i = 0; i < dev->dp.n_workers; i++) {
		struct lr_ring *ring = &dev->dp.handshakes[i];
		unsigned budget = HANDSHAKE_DRAIN_BUDGET;
		struct lr_handshake_msg *m;

		while (budget && (m = lr_ring_peek(ring))) {
			lr_handshake_receive(dev, m, under_load(dev, lr_now_ns()));
			lr_ring_pop(ring);
			budget--;
		}
		more |= lr_ring_peek(ring) != NULL;
	}
	return more;
}
