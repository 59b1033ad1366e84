/*
 * Time for waiting loops and timed waits, shared by the agent and the
 * control plane: a monotonic clock in milliseconds (deadlines that the
 * wall clock cannot move), a sleep, and the absolute CLOCK_REALTIME time
 * pthread_cond_timedwait wants. Header only, so the static agent takes it
 * without another object.
 */
#ifndef LOAM_LIB_CLOCK_H
#define LOAM_LIB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t loam_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void loam_sleep_ms(long ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The CLOCK_REALTIME instant ms from now, for pthread_cond_timedwait. */
static inline struct timespec loam_abstime_in(long ms)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

#endif
