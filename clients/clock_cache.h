/* clock_cache.h: a clock reading reused while the CPU's tick counter shows little time passed. */
#ifndef RUNNEL_CLIENTS_CLOCK_CACHE_H
#define RUNNEL_CLIENTS_CLOCK_CACHE_H

/*
 * A producer stamps every record it is given, and at millions of records a
 * second two or three clock_gettime calls per record cost more than
 * building the batch.  The cache keeps one reading and hands it out again
 * until the CPU's tick counter (the TSC on x86-64, the virtual counter on
 * AArch64, both readable from user space for a few nanoseconds) has
 * advanced by CLOCK_CACHE_MAX_AGE_US or more; then it reads the clocks
 * again.  A reused reading is therefore never more than that stale, however
 * slowly or quickly the application calls.  Where no such counter exists
 * every lookup reads the clocks.
 *
 * The counter only decides when to read again, never what the time is, so
 * its rate needs to be known only from below: on x86-64 it is taken as
 * CLOCK_CACHE_MIN_TSC_MHZ, which makes the real bound tighter on faster
 * counters.  A counter that moved backwards (a thread moved to a CPU whose
 * counter lags) reads as a huge advance and also forces a new reading.
 */

#include <stdint.h>

#include "common/clock.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* How stale a reused reading may be at most, in microseconds. */
#define CLOCK_CACHE_MAX_AGE_US 250
/* The slowest TSC assumed on x86-64, in MHz (TSCs tick at the nominal CPU
 * frequency, above this on any x86-64 part). */
#define CLOCK_CACHE_MIN_TSC_MHZ 800

struct clock_cache {
	int64_t wall_ms; /* CLOCK_REALTIME, ms since the epoch */
	int64_t mono_ms; /* CLOCK_MONOTONIC, ms */
	uint64_t ticks;  /* the counter when the clocks were read */
	uint64_t max_ticks; /* counter advance after which the reading is stale; 0: always */
	int valid;
};

/* Reads the tick counter; 0 where there is none. */
static inline uint64_t clock_cache_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __rdtsc();
#elif defined(__aarch64__)
	uint64_t v;
	__asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	return 0;
#endif
}

/* The counter advance that spans CLOCK_CACHE_MAX_AGE_US at the counter's
 * lowest rate; 0 when there is no counter (every lookup reads the clocks). */
static inline uint64_t clock_cache_max_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return (uint64_t)CLOCK_CACHE_MAX_AGE_US * CLOCK_CACHE_MIN_TSC_MHZ;
#elif defined(__aarch64__)
	uint64_t hz;
	__asm__ __volatile__("mrs %0, cntfrq_el0" : "=r"(hz));
	return hz / 1000000 * CLOCK_CACHE_MAX_AGE_US;
#else
	return 0;
#endif
}

/* Starts with no reading. */
static inline void clock_cache_init(struct clock_cache *cc)
{
	cc->wall_ms = 0;
	cc->mono_ms = 0;
	cc->ticks = 0;
	cc->max_ticks = clock_cache_max_ticks();
	cc->valid = 0;
}

/* Drops the reading, so that the next lookup reads the clocks (for callers
 * that know time passed: after waiting for I/O). */
static inline void clock_cache_invalidate(struct clock_cache *cc)
{
	cc->valid = 0;
}

/* Makes the reading current: reads the clocks unless the last reading is
 * younger than CLOCK_CACHE_MAX_AGE_US.  Then use cc->wall_ms and cc->mono_ms. */
static inline void clock_cache_update(struct clock_cache *cc)
{
	uint64_t now = clock_cache_ticks();
	if (cc->valid && now - cc->ticks < cc->max_ticks)
		return;
	cc->mono_ms = rn_mono_ms();
	cc->wall_ms = rn_wall_ms();
	cc->ticks = clock_cache_ticks();
	cc->valid = 1;
}

#endif
