/* clock.h: the process clock, read only by I/O shells and passed to cores. */
#ifndef RUNNEL_COMMON_CLOCK_H
#define RUNNEL_COMMON_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock; record timestamps). */
int64_t rn_wall_ms(void);

/* Milliseconds from an arbitrary start that never goes backwards (timeouts). */
int64_t rn_mono_ms(void);

/* Microseconds, monotonic (latency measurement). */
int64_t rn_mono_us(void);

#endif
