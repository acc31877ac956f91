/* test_clock_cache.c: the producer's cached clock reading: bounded staleness, reuse. */
#include <time.h>

#include "clients/clock_cache.h"
#include "common/clock.h"
#include "test/unit/harness.h"

/* How long the staleness test keeps looking. */
#define WATCH_MS 200

TEST(reading_is_never_staler_than_the_bound)
{
	struct clock_cache cc;
	clock_cache_init(&cc);
	int64_t end = rn_mono_ms() + WATCH_MS;
	long updates = 0;
	for (;;) {
		/* Read first: whatever the cache hands out afterwards was read at
		 * most CLOCK_CACHE_MAX_AGE_US before the update call, so never
		 * more than a millisecond (ms rounding included) before t0. */
		int64_t t0 = rn_mono_ms();
		int64_t w0 = rn_wall_ms();
		clock_cache_update(&cc);
		updates++;
		CHECK(cc.valid);
		CHECK(cc.mono_ms >= t0 - 1);
		CHECK(cc.mono_ms <= rn_mono_ms());
		/* The wall clock may be stepped by an operator, but not during
		 * this test by more than this allows. */
		CHECK(cc.wall_ms >= w0 - 1 - WATCH_MS);
		if (t0 >= end)
			break;
	}
	CHECK(updates > 0);
}

TEST(fresh_reading_is_reused_and_invalidate_forces_a_new_one)
{
	struct clock_cache cc;
	clock_cache_init(&cc);
	if (cc.max_ticks == 0) {
		/* No tick counter on this CPU: every lookup reads the clocks. */
		clock_cache_update(&cc);
		uint64_t t = cc.ticks;
		clock_cache_update(&cc);
		CHECK(cc.ticks == t);
		return;
	}
	/* Two lookups in a row are microseconds apart unless the thread was
	 * descheduled in between; some of many attempts must reuse. */
	int reused = 0;
	for (int i = 0; i < 1000 && !reused; i++) {
		clock_cache_invalidate(&cc);
		clock_cache_update(&cc);
		uint64_t read_at = cc.ticks;
		clock_cache_update(&cc);
		reused = cc.ticks == read_at;
	}
	CHECK(reused);
	/* Invalidating always makes the next lookup read the clocks. */
	clock_cache_update(&cc);
	uint64_t before = cc.ticks;
	clock_cache_invalidate(&cc);
	CHECK(!cc.valid);
	clock_cache_update(&cc);
	CHECK(cc.valid && cc.ticks != before);
}

TEST(reading_is_renewed_after_the_bound)
{
	struct clock_cache cc;
	clock_cache_init(&cc);
	clock_cache_update(&cc);
	int64_t first = cc.mono_ms;
	/* Well past CLOCK_CACHE_MAX_AGE_US: the next lookup must read again. */
	struct timespec ts = {0, 5 * 1000 * 1000};
	nanosleep(&ts, NULL);
	clock_cache_update(&cc);
	CHECK(cc.mono_ms >= first + 5);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
