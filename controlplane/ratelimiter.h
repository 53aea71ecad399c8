/* Per-source token buckets for handshake messages under load (the kernel's ratelimiter.c):
 * once a flood puts the engine under load, a source that proved its address with a cookie may
 * still cost us at most 20 handshakes per second (burst 5). IPv6 sources are grouped by /64. */
#ifndef LR_CONTROLPLANE_RATELIMITER_H
#define LR_CONTROLPLANE_RATELIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/sockaddr.h"

#define LR_RATELIMITER_SLOTS 4096
#define LR_RATELIMITER_PER_SECOND 20
#define LR_RATELIMITER_BURST 5

struct lr_ratelimiter_slot {
	uint8_t key[9];    /* family byte + IPv4 address or IPv6 /64 */
	uint64_t last_ns;  /* last refill; 0 = free */
	uint64_t tokens;   /* in nanoseconds of credit, as the kernel counts */
};

struct lr_ratelimiter {
	uint8_t secret[16]; /* keyed hash, so an attacker cannot aim at one slot */
	struct lr_ratelimiter_slot slots[LR_RATELIMITER_SLOTS];
};

void lr_ratelimiter_init(struct lr_ratelimiter *rl);
/* True if a handshake from src may be processed now (and takes a token). */
bool lr_ratelimiter_allow(struct lr_ratelimiter *rl, const union lr_sockaddr *src, uint64_t now);

#endif
