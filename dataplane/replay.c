/* Replay window for transport counters: RFC 6479's ring of bitmap words. */
#include "dataplane/replay.h"

#include <string.h>

#include "common/compiler.h"

/* The algorithm and its edges are those of the kernel's counter_validate
 * (drivers/net/wireguard/receive.c): the bitmap is a ring of words indexed by counter / 64, so
 * sliding forward clears whole words instead of shifting bits (RFC 6479 section 2), and the
 * one word the window leaves spare is what lets the newest word be partly filled without
 * losing the oldest bits still inside the window. Counters are kept plus one, so that
 * greatest == 0 means nothing was seen yet and counter 0 is an ordinary first packet. */

_Static_assert((LR_REPLAY_WORDS & (LR_REPLAY_WORDS - 1)) == 0, "the ring index is a mask");

void lr_replay_init(struct lr_replay *r)
{
	memset(r, 0, sizeof(*r));
}

/* Moves the top of the window to n (> greatest), clearing the words it enters; a jump of a
 * whole ring or more clears every word once. */
static void window_advance(struct lr_replay *r, uint64_t n)
{
	uint64_t current = r->greatest / LR_REPLAY_BITS_PER_WORD;
	uint64_t steps = n / LR_REPLAY_BITS_PER_WORD - current, i;

	if (steps > LR_REPLAY_WORDS)
		steps = LR_REPLAY_WORDS;
	for (i = 1; i <= steps; i++)
		r->bitmap[(current + i) & (LR_REPLAY_WORDS - 1)] = 0;
	r->greatest = n;
}

bool lr_replay_check(struct lr_replay *r, uint64_t counter, uint64_t limit)
{
	uint64_t n, word, bit;

	/* greatest > limit is the kernel's "counter >= REJECT_AFTER_MESSAGES + 1", written so that
	 * a limit of UINT64_MAX cannot wrap; counter < limit keeps n below wrapping too. */
	if (unlikely(r->greatest > limit || counter >= limit))
		return false;
	n = counter + 1;
	/* Too far behind: more than WINDOW below the greatest counter seen. */
	if (unlikely(r->greatest > n && r->greatest - n > LR_REPLAY_WINDOW))
		return false;
	if (likely(n > r->greatest))
		window_advance(r, n);
	word = (n / LR_REPLAY_BITS_PER_WORD) & (LR_REPLAY_WORDS - 1);
	bit = 1ULL << (n % LR_REPLAY_BITS_PER_WORD);
	if (r->bitmap[word] & bit)
		return false;
	r->bitmap[word] |= bit;
	return true;
}
