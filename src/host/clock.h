/*
 * Time for the agent's waiting loops (vm-stop, vm-wait-ready, jobs, watch):
 * a monotonic clock in milliseconds and a sleep, so that every loop
 * measures its deadline the same way whatever the wall clock does.
 */
#ifndef LOAM_HOST_CLOCK_H
#define LOAM_HOST_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t agent_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void agent_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

#endif
