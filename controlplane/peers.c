/* The control thread's peer table, and the snapshots of it that the workers read. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/device.h"

struct lr_peer *lr_device_peer_lookup(struct lr_device *dev, const uint8_t public_key[32])
{
	/* Linear: parties are tens of peers, and this runs per handshake, not per packet. */
	for (size_t i = 0; i < dev->n_peers; i++) {
		if (!sodium_memcmp(dev->peers[i]->public_key, public_key, LR_KEY_LEN))
			return dev->peers[i];
	}
	return NULL;
}

static int grow(void *arrayp, size_t *cap, size_t need)
{
	void **array = arrayp;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*array, ncap * sizeof(void *));
	if (!n)
		return -ENOMEM;
	*array = n;
	*cap = ncap;
	return 0;
}

struct lr_peer *lr_device_peer_add(struct lr_device *dev, const uint8_t public_key[32])
{
	struct lr_peer *peer;

	if (grow(&dev->peers, &dev->cap_peers, dev->n_peers + 1))
		return NULL;
	peer = lr_peer_create(public_key);
	if (!peer)
		return NULL;
	lr_noise_handshake_init(&peer->hs, &dev->identity, public_key, NULL);
	peer->owner = lr_dataplane_assign_owner(&dev->dp);
	dev->peers[dev->n_peers++] = peer;
	return peer;
}

int lr_device_peer_remove(struct lr_device *dev, struct lr_peer *peer)
{
	size_t i;

	if (grow(&dev->removed, &dev->cap_removed, dev->n_removed + 1))
		return -ENOMEM;
	for (i = 0; i < dev->n_peers && dev->peers[i] != peer; i++)
		;
	if (i == dev->n_peers)
		return -ENOENT;
	memmove(&dev->peers[i], &dev->peers[i + 1], (dev->n_peers - i - 1) * sizeof(peer));
	dev->n_peers--;
	lr_allowedips_remove_by_peer(&dev->routes, peer);
	lr_timers_stop(peer);
	lr_keypairs_clear(dev, peer);
	lr_index_table_remove(&dev->dp.index, &peer->hs_entry);
	peer->removed = true;
	dev->removed[dev->n_removed++] = peer;
	return 0;
}

static void peer_free_rcu(struct lr_qsbr_item *item)
{
	lr_peer_free((struct lr_peer *)((char *)item - offsetof(struct lr_peer, rcu)));
}

int lr_device_publish(struct lr_device *dev)
{
	struct lr_snapshot *snap = lr_snapshot_create(dev->n_peers);

	if (!snap)
		return -ENOMEM;
	if (lr_allowedips_clone(&snap->routes, &dev->routes)) {
		lr_snapshot_free(snap);
		return -ENOMEM;
	}
	if (dev->n_peers)
		memcpy(snap->peers, dev->peers, dev->n_peers * sizeof(snap->peers[0]));
	lr_dataplane_publish(&dev->dp, snap);
	/* The new snapshot no longer names the removed peers; once every worker passed a
	 * quiescent point, nothing can reach them. */
	for (size_t i = 0; i < dev->n_removed; i++)
		lr_qsbr_retire(&dev->dp.qsbr, &dev->removed[i]->rcu, peer_free_rcu);
	dev->n_removed = 0;
	return 0;
}

void lr_device_set_identity(struct lr_device *dev, const uint8_t *private_key)
{
	if (private_key)
		lr_noise_identity_set(&dev->identity, private_key);
	else
		lr_noise_identity_clear(&dev->identity);
	lr_cookie_checker_init(&dev->cookie_checker,
			       dev->identity.has_identity ? dev->identity.static_public : NULL);
	for (size_t i = 0; i < dev->n_peers; i++) {
		struct lr_peer *peer = dev->peers[i];

		/* Sessions made with the old key are no longer ours to use (kernel
		 * wg_noise_set_static_identity_private_key + expire_current_peer_keypairs). */
		lr_noise_handshake_clear(&peer->hs);
		lr_noise_handshake_precompute(&peer->hs, &dev->identity);
		lr_keypairs_clear(dev, peer);
	}
}
