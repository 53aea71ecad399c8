/* The WireGuard timer state machine (whitepaper 6, kernel timers.c). Each timer is a deadline
 * on the peer; workers arm and disarm the data-driven ones with atomics, and the control thread
 * fires whichever expired on its tick. Expiry handlers run only on the control thread. */
#include <sodium.h>

#include "common/clock.h"
#include "common/timing.h"
#include "controlplane/device.h"

static uint64_t jitter(void)
{
	return lr_timing.jitter_max ? randombytes_uniform((uint32_t)lr_timing.jitter_max) : 0;
}

void lr_timers_handshake_initiated(struct lr_peer *peer, uint64_t now)
{
	lr_timer_arm(&peer->timers.retransmit_handshake, now + lr_timing.rekey_timeout + jitter());
}

void lr_timers_handshake_complete(struct lr_peer *peer)
{
	lr_timer_disarm(&peer->timers.retransmit_handshake);
	peer->handshake_attempts = 0;
	peer->sent_lastminute_handshake = false;
	peer->last_handshake_wall_ns = lr_wall_ns();
}

void lr_timers_session_derived(struct lr_peer *peer, uint64_t now)
{
	lr_timer_arm(&peer->timers.zero_key_material, now + 3 * lr_timing.reject_after_time);
}

void lr_timers_authenticated_traversal(struct lr_peer *peer, uint64_t now)
{
	if (peer->persistent_keepalive_interval)
		lr_timer_arm(&peer->timers.persistent_keepalive,
			     now + peer->persistent_keepalive_interval * LR_NSEC_PER_SEC);
}

void lr_timers_stop(struct lr_peer *peer)
{
	lr_timer_disarm(&peer->timers.retransmit_handshake);
	lr_timer_disarm(&peer->timers.send_keepalive);
	lr_timer_disarm(&peer->timers.new_handshake);
	lr_timer_disarm(&peer->timers.zero_key_material);
	lr_timer_disarm(&peer->timers.persistent_keepalive);
}

/* True once if t expired: the compare-and-swap makes the expiry fire exactly once even if a
 * worker re-arms the timer at the same moment. */
static bool expired(_Atomic uint64_t *t, uint64_t now)
{
	uint64_t deadline = atomic_load(t);

	return deadline && deadline <= now && atomic_compare_exchange_strong(t, &deadline, 0);
}

static void expired_retransmit_handshake(struct lr_device *dev, struct lr_peer *peer,
					 uint64_t now)
{
	if (peer->handshake_attempts > LR_MAX_TIMER_HANDSHAKES) {
		/* Give up for now: the next packet we want to send starts over. */
		lr_timer_disarm(&peer->timers.send_keepalive);
		lr_dataplane_request(&dev->dp, peer, LR_PEER_REQ_PURGE);
		lr_timer_arm_if_idle(&peer->timers.zero_key_material,
				     now + 3 * lr_timing.reject_after_time);
		return;
	}
	peer->handshake_attempts++;
	lr_handshake_send_initiation(dev, peer, true);
}

static void expired_send_keepalive(struct lr_device *dev, struct lr_peer *peer, uint64_t now)
{
	lr_dataplane_request(&dev->dp, peer, LR_PEER_REQ_KEEPALIVE);
	if (atomic_exchange(&peer->timers.need_another_keepalive, false))
		lr_timer_arm(&peer->timers.send_keepalive, now + lr_timing.keepalive_timeout);
}

static void expired_zero_key_material(struct lr_device *dev, struct lr_peer *peer)
{
	/* Nothing was sent or received for 3 * REJECT_AFTER_TIME: forget every secret. */
	lr_keypairs_clear(dev, peer);
	lr_noise_handshake_clear(&peer->hs);
	lr_index_table_remove(&dev->dp.index, &peer->hs_entry);
}

void lr_timers_tick(struct lr_device *dev, uint64_t now)
{
	for (size_t i = 0; i < dev->n_peers; i++) {
		struct lr_peer *peer = dev->peers[i];
		struct lr_peer_timers *t = &peer->timers;

		if (expired(&t->retransmit_handshake, now))
			expired_retransmit_handshake(dev, peer, now);
		if (expired(&t->send_keepalive, now))
			expired_send_keepalive(dev, peer, now);
		if (expired(&t->new_handshake, now))
			lr_handshake_send_initiation(dev, peer, false);
		if (expired(&t->zero_key_material, now))
			expired_zero_key_material(dev, peer);
		if (expired(&t->persistent_keepalive, now) && peer->persistent_keepalive_interval)
			lr_dataplane_request(&dev->dp, peer, LR_PEER_REQ_KEEPALIVE);
	}
}

void lr_timers_events(struct lr_device *dev)
{
	for (size_t i = 0; i < dev->n_peers; i++) {
		struct lr_peer *peer = dev->peers[i];
		uint32_t ev;

		if (!atomic_load_explicit(&peer->control_events, memory_order_relaxed))
			continue;
		ev = atomic_exchange(&peer->control_events, 0);
		if ((ev & LR_PEER_EV_CONFIRMED) && lr_keypairs_confirm(dev, peer)) {
			atomic_fetch_add(&dev->dp.stats.handshakes_completed, 1);
			lr_timers_handshake_complete(peer);
			lr_dataplane_request(&dev->dp, peer, LR_PEER_REQ_FLUSH);
		}
		if (ev & LR_PEER_EV_WANT_HANDSHAKE)
			lr_handshake_send_initiation(dev, peer, false);
	}
}
