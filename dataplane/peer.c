/* Peer and keypair allocation, and the endpoint both threads update. */
#include "dataplane/peer.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct lr_peer *lr_peer_create(const uint8_t public_key[LR_KEY_LEN])
{
	struct lr_peer *peer = calloc(1, sizeof(*peer));

	if (!peer)
		return NULL;
	peer->staged.slots = calloc(LR_STAGED_MAX, LR_STAGED_SLOT);
	if (!peer->staged.slots)
		goto err_peer;
	if (pthread_spin_init(&peer->endpoint_lock, PTHREAD_PROCESS_PRIVATE))
		goto err_staged;
	memcpy(peer->public_key, public_key, LR_KEY_LEN);
	peer->hs_entry.type = LR_INDEX_HANDSHAKE;
	peer->hs_entry.peer = peer;
	lr_cookie_init(&peer->cookie, public_key);
	return peer;

err_staged:
	free(peer->staged.slots);
err_peer:
	free(peer);
	return NULL;
}

void lr_peer_free(struct lr_peer *peer)
{
	if (!peer)
		return;
	lr_noise_handshake_destroy(&peer->hs);
	lr_cookie_destroy(&peer->cookie);
	/* Staged packets are plaintext the user sent: wipe them too. */
	sodium_memzero(peer->staged.slots, (size_t)LR_STAGED_MAX * LR_STAGED_SLOT);
	free(peer->staged.slots);
	pthread_spin_destroy(&peer->endpoint_lock);
	sodium_memzero(peer, sizeof(*peer));
	free(peer);
}

void lr_keypair_free(struct lr_keypair *kp)
{
	if (!kp)
		return;
	sodium_memzero(kp, sizeof(*kp));
	free(kp);
}

void lr_peer_get_endpoint(struct lr_peer *peer, union lr_sockaddr *out)
{
	pthread_spin_lock(&peer->endpoint_lock);
	*out = peer->endpoint;
	pthread_spin_unlock(&peer->endpoint_lock);
}

void lr_peer_set_endpoint(struct lr_peer *peer, const union lr_sockaddr *addr)
{
	pthread_spin_lock(&peer->endpoint_lock);
	peer->endpoint = *addr;
	pthread_spin_unlock(&peer->endpoint_lock);
}
