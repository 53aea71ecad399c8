/* Protocol timer constants, with the test-only divisor applied once at start-up. */
#include "common/timing.h"

#include <errno.h>
#include <stdlib.h>

#include "common/clock.h"
#include "crypto/messages.h"

struct lr_timing lr_timing;

int lr_timing_init(struct lr_timing *t)
{
	const char *env = getenv("LR_TEST_TIMER_DIVISOR");
	unsigned long div = 1;

	if (env && *env) {
		char *end;

		div = strtoul(env, &end, 10);
		if (*end || div == 0 || div > 1000)
			return -EINVAL;
	}
	t->divisor = (unsigned)div;
	t->rekey_after_time = LR_REKEY_AFTER_TIME_S * LR_NSEC_PER_SEC / div;
	t->reject_after_time = LR_REJECT_AFTER_TIME_S * LR_NSEC_PER_SEC / div;
	t->rekey_attempt_time = LR_REKEY_ATTEMPT_TIME_S * LR_NSEC_PER_SEC / div;
	t->rekey_timeout = LR_REKEY_TIMEOUT_S * LR_NSEC_PER_SEC / div;
	t->keepalive_timeout = LR_KEEPALIVE_TIMEOUT_S * LR_NSEC_PER_SEC / div;
	t->cookie_secret_max_age = LR_COOKIE_SECRET_MAX_AGE_S * LR_NSEC_PER_SEC;
	t->jitter_max = LR_NSEC_PER_SEC / 3 / div;
	/* 20 ms keeps timers within a few percent of their nominal value at the shortest scaled
	 * setting while costing nothing measurable when idle. */
	t->tick = 20 * LR_NSEC_PER_MSEC;
	t->rekey_after_messages = LR_REKEY_AFTER_MESSAGES;
	return 0;
}
