/* Monotonic and wall clocks in nanoseconds; the protocol's timers all read lr_now_ns(). */
#ifndef LR_COMMON_CLOCK_H
#define LR_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

#define LR_NSEC_PER_SEC 1000000000ULL
#define LR_NSEC_PER_MSEC 1000000ULL

static inline uint64_t lr_now_ns(void)
{
	struct timespec ts;
	/* CLOCK_BOOTTIME keeps counting through suspend, so keys expire on a laptop that slept. */
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * LR_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline uint64_t lr_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * LR_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif
