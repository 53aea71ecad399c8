/* A peer's three session slots, rotated as the whitepaper (5.4.8) and the kernel's noise.c do:
 * the initiator uses a new session at once; the responder keeps it as "next" until the first
 * data packet on it confirms the initiator has it too. Only the control thread writes slots;
 * workers read them with acquire loads, and old sessions are freed through QSBR. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "controlplane/device.h"

static void keypair_free_rcu(struct lr_qsbr_item *item)
{
	lr_keypair_free((struct lr_keypair *)((char *)item - offsetof(struct lr_keypair, rcu)));
}

static void retire(struct lr_device *dev, struct lr_keypair *kp)
{
	if (!kp)
		return;
	lr_index_table_remove(&dev->dp.index, &kp->entry);
	lr_qsbr_retire(&dev->dp.qsbr, &kp->rcu, keypair_free_rcu);
}

int lr_keypairs_install(struct lr_device *dev, struct lr_peer *peer,
			const struct lr_noise_session_keys *keys)
{
	struct lr_keypair *kp = calloc(1, sizeof(*kp));
	struct lr_keypair *cur, *prev, *next;

	if (!kp)
		return -ENOMEM;
	memcpy(kp->send_key, keys->send, LR_KEY_LEN);
	memcpy(kp->recv_key, keys->recv, LR_KEY_LEN);
	lr_replay_init(&kp->replay);
	kp->birth_ns = lr_now_ns();
	kp->remote_index = keys->remote_index;
	kp->is_initiator = keys->is_initiator;
	kp->peer = peer;
	kp->entry.type = LR_INDEX_KEYPAIR;
	kp->entry.peer = peer;
	kp->entry.keypair = kp;
	/* The session takes over the index its handshake used (the handshake entry is unlinked
	 * first, so a lookup never finds both). */
	lr_index_table_remove(&dev->dp.index, &peer->hs_entry);
	lr_index_table_insert_at(&dev->dp.index, &kp->entry, keys->local_index);

	cur = atomic_load(&peer->kp_current);
	prev = atomic_load(&peer->kp_previous);
	next = atomic_load(&peer->kp_next);
	if (kp->is_initiator) {
		if (next) {
			/* An unconfirmed next session becomes previous: it may still carry data
			 * the responder sent before it saw our newer handshake. */
			atomic_store(&peer->kp_next, NULL);
			atomic_store(&peer->kp_previous, next);
			retire(dev, cur);
		} else {
			atomic_store(&peer->kp_previous, cur);
		}
		retire(dev, prev);
		atomic_store_explicit(&peer->kp_current, kp, memory_order_release);
	} else {
		atomic_store_explicit(&peer->kp_next, kp, memory_order_release);
		retire(dev, next);
		atomic_store(&peer->kp_previous, NULL);
		retire(dev, prev);
	}
	return 0;
}

bool lr_keypairs_confirm(struct lr_device *dev, struct lr_peer *peer)
{
	struct lr_keypair *next = atomic_load(&peer->kp_next);
	struct lr_keypair *prev = atomic_load(&peer->kp_previous);

	/* Only the session the worker saw data on: a newer handshake may have replaced it. */
	if (!next || next != atomic_exchange(&peer->kp_confirmed, NULL))
		return false;
	atomic_store(&peer->kp_previous, atomic_load(&peer->kp_current));
	retire(dev, prev);
	atomic_store_explicit(&peer->kp_current, next, memory_order_release);
	atomic_store(&peer->kp_next, NULL);
	return true;
}

void lr_keypairs_clear(struct lr_device *dev, struct lr_peer *peer)
{
	retire(dev, atomic_exchange(&peer->kp_current, NULL));
	retire(dev, atomic_exchange(&peer->kp_previous, NULL));
	retire(dev, atomic_exchange(&peer->kp_next, NULL));
}
