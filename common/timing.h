/* The protocol's timer constants in nanoseconds, shrinkable for tests. LR_TEST_TIMER_DIVISOR=N
 * in the environment divides every protocol time by N (test-only: it lets a rekey happen
 * within seconds); without it the whitepaper's values apply. */
#ifndef LR_COMMON_TIMING_H
#define LR_COMMON_TIMING_H

#include <stdint.h>

struct lr_timing {
	uint64_t rekey_after_time;
	uint64_t reject_after_time;
	uint64_t rekey_attempt_time;
	uint64_t rekey_timeout;
	uint64_t keepalive_timeout;
	uint64_t cookie_secret_max_age;
	uint64_t jitter_max;      /* random extra delay on handshake timers: 1/3 s */
	uint64_t tick;            /* control-thread timer granularity */
	uint64_t rekey_after_messages;
	unsigned divisor;
};

/* Fills t from the defaults and LR_TEST_TIMER_DIVISOR. Returns 0 or -EINVAL for a bad value. */
int lr_timing_init(struct lr_timing *t);
extern struct lr_timing lr_timing;

#endif
