/* Sliding-window replay protection for transport counters (RFC 6479 style bitmap, 8192 bits as
 * the kernel uses), applied only after a packet authenticated. Owned by one worker at a time. */
#ifndef LR_DATAPLANE_REPLAY_H
#define LR_DATAPLANE_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define LR_REPLAY_BITS_PER_WORD 64
#define LR_REPLAY_WORDS 128 /* 8192 bits */
#define LR_REPLAY_WINDOW ((LR_REPLAY_WORDS - 1) * LR_REPLAY_BITS_PER_WORD)

struct lr_replay {
	uint64_t greatest; /* one past the greatest counter accepted so far */
	uint64_t bitmap[LR_REPLAY_WORDS];
};

void lr_replay_init(struct lr_replay *r);
/* True (and the counter is marked as seen) if counter is new, inside the window and below
 * limit (REJECT_AFTER_MESSAGES); false for a replay, a counter too old, or one past limit. */
bool lr_replay_check(struct lr_replay *r, uint64_t counter, uint64_t limit);

#endif
