/* Token buckets per source address, in a fixed table: a new source takes over its slot, so
 * memory stays bounded whatever the flood; the worst case is forgetting a limit early. */
#include "controlplane/ratelimiter.h"

#include <sodium.h>
#include <string.h>

#include "common/clock.h"

#define PACKET_COST (LR_NSEC_PER_SEC / LR_RATELIMITER_PER_SECOND)
#define TOKEN_MAX (PACKET_COST * LR_RATELIMITER_BURST)

void lr_ratelimiter_init(struct lr_ratelimiter *rl)
{
	memset(rl, 0, sizeof(*rl));
	randombytes_buf(rl->secret, sizeof(rl->secret));
}

static void make_key(uint8_t key[9], const union lr_sockaddr *src)
{
	memset(key, 0, 9);
	key[0] = (uint8_t)src->sa.sa_family;
	if (src->sa.sa_family == AF_INET)
		memcpy(key + 1, &src->in4.sin_addr, 4);
	else if (src->sa.sa_family == AF_INET6)
		memcpy(key + 1, &src->in6.sin6_addr, 8); /* one /64 is one subscriber */
}

bool lr_ratelimiter_allow(struct lr_ratelimiter *rl, const union lr_sockaddr *src, uint64_t now)
{
	struct lr_ratelimiter_slot *slot;
	uint8_t key[9];
	uint64_t h;

	make_key(key, src);
	crypto_shorthash_siphash24((uint8_t *)&h, key, sizeof(key), rl->secret);
	slot = &rl->slots[h % LR_RATELIMITER_SLOTS];
	if (!slot->last_ns || memcmp(slot->key, key, sizeof(key))) {
		memcpy(slot->key, key, sizeof(key));
		slot->last_ns = now;
		slot->tokens = TOKEN_MAX - PACKET_COST;
		return true;
	}
	slot->tokens += now - slot->last_ns;
	if (slot->tokens > TOKEN_MAX)
		slot->tokens = TOKEN_MAX;
	slot->last_ns = now;
	if (slot->tokens < PACKET_COST)
		return false;
	slot->tokens -= PACKET_COST;
	return true;
}
