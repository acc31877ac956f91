/* test_plog.c: partition log appends, reads, rolls, timestamps and truncation. */
#include "storage/plog.h"

#include "test/unit/harness.h"
#include "test/unit/storage/storage_util.h"

#include <pthread.h>
#include <stdatomic.h>

#define NOW 1000

TEST(append_read_round_trip)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_start_offset(log), 0);
	CHECK_EQ_INT(plog_end_offset(log), 0);
	CHECK_OK(append_batches(log, 100, 5, NOW));
	CHECK_EQ_INT(plog_end_offset(log), 500);
	CHECK_EQ_INT(plog_segment_count(log), 1);
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "log");
	CHECK_EQ_INT(file_size(path), (long long)plog_size_bytes(log));
	/* One read gets everything, byte for byte as appended and stamped. */
	int64_t next;
	CHECK_EQ_INT(read_check(log, 0, 1u << 20, INT64_MAX, &next, NULL), 100);
	CHECK_EQ_INT(next, 500);
	CHECK_EQ_INT(read_all(log, 300), 500);
	plog_close(log);
}

TEST(append_stamps_offset_and_epoch)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	uint8_t buf[TEST_BATCH_CAP];
	plog_config_default(&cfg);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 3, 2, NOW));
	size_t len = build_batch(buf, 6, 4);
	struct plog_append_result res;
	CHECK_OK(plog_append(log, buf, len, 42, NOW, &res));
	CHECK_EQ_INT(res.base_offset, 6);
	CHECK_EQ_INT(res.last_offset, 9);
	CHECK_EQ_INT(res.max_timestamp, TS_BASE + 9);
	struct batch_info info;
	CHECK_OK(batch_validate(buf, len, RN_MAX_RECORDS_PER_BATCH, &info));
	CHECK_EQ_INT(info.base_offset, 6);
	CHECK_EQ_INT(info.leader_epoch, 42);
	/* A buffer that is not exactly one batch is refused. */
	CHECK_EQ_INT(plog_append(log, buf, len - 1, 1, NOW, &res), RN_E_INVAL);
	CHECK_EQ_INT(plog_append(log, buf, 10, 1, NOW, &res), RN_E_INVAL);
	CHECK_EQ_INT(plog_end_offset(log), 10);
	plog_close(log);
}

TEST(read_every_offset_finds_its_batch)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1u << 20, 256);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	/* Batches of 1..7 records so batch boundaries are irregular. */
	for (int i = 0; i < 200; i++)
		CHECK_OK(append_batches(log, 1, 1 + i % 7, NOW));
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "index");
	int64_t end = plog_end_offset(log);
	for (int64_t o = 0; o < end; o++) {
		struct plog_slice s;
		int64_t next;
		CHECK(read_check(log, o, 1, INT64_MAX, &next, &s) == 1);
		CHECK(s.first_offset <= o && o < next);
	}
	plog_close(log);
	/* The close wrote the sparse index: several entries, 8 bytes each. */
	CHECK(file_size(path) >= 8 * 10);
	CHECK_EQ_INT(file_size(path) % 8, 0);
}

TEST(active_index_lives_in_its_file)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1u << 20, 256);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	for (int i = 0; i < 300; i++)
		CHECK_OK(append_batches(log, 1, 1 + i % 5, NOW));
	char idx[1024], tidx[1024];
	seg_path(idx, sizeof(idx), dir, 0, "index");
	seg_path(tidx, sizeof(tidx), dir, 0, "timeindex");
	/* While the segment is active, its index files are sized for a full
	 * segment (1 MiB / 256 B, plus two) and hold the entries as they are
	 * added. */
	long long full = ((1 << 20) / 256 + 2);
	CHECK_EQ_INT(file_size(idx), full * 8);
	CHECK_EQ_INT(file_size(tidx), full * 12);
	int fd = open(idx, O_RDONLY);
	CHECK(fd >= 0);
	uint8_t entry[8] = {0};
	CHECK_EQ_INT(pread(fd, entry, sizeof(entry), 0), 8);
	close(fd);
	/* The first entry: a batch after the first 256 bytes, at a position
	 * past them. */
	uint32_t rel = be_get32(entry), pos = be_get32(entry + 4);
	CHECK(rel > 0 && pos >= 256);
	/* A truncation keeps the active index consistent. */
	int64_t end = plog_end_offset(log);
	struct plog_slice sl;
	int64_t next;
	CHECK(read_check(log, end / 2, 1, INT64_MAX, &next, &sl) == 1);
	CHECK_OK(plog_truncate(log, sl.first_offset));
	CHECK_OK(append_batches(log, 20, 3, NOW));
	end = plog_end_offset(log);
	plog_close(log);
	/* Closed cleanly: cut to the entries they hold. */
	long long entries = file_size(idx) / 8;
	CHECK(entries > 10 && entries < full);
	CHECK_EQ_INT(file_size(idx) % 8, 0);
	CHECK_EQ_INT(file_size(tidx) % 12, 0);
	CHECK(file_size(tidx) / 12 <= entries);
	/* Reopened, every offset is found, and appends go on. */
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_end_offset(log), end);
	for (int64_t o = 0; o < end; o++) {
		CHECK(read_check(log, o, 1, INT64_MAX, &next, &sl) == 1);
		CHECK(sl.first_offset <= o && o < next);
	}
	CHECK_OK(append_batches(log, 5, 2, NOW));
	CHECK_EQ_INT(read_all(log, 1u << 20), plog_end_offset(log));
	plog_close(log);
}

TEST(read_bounds)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	struct plog_slice s;
	int64_t next;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 10, 4, NOW)); /* offsets 0..39, batches of 4 */
	CHECK(read_check(log, 0, 1u << 20, INT64_MAX, &next, &s) == 10);
	uint32_t batch_bytes = s.len / 10;
	/* max_bytes cuts at whole batches. */
	uint32_t three_and_a_half = 3 * batch_bytes + batch_bytes / 2;
	CHECK_EQ_INT(read_check(log, 0, three_and_a_half, INT64_MAX, &next, &s), 3);
	CHECK_EQ_INT(s.len, 3 * batch_bytes);
	CHECK_EQ_INT(next, 12);
	/* A tiny max_bytes still returns one whole batch. */
	CHECK_EQ_INT(read_check(log, 5, 1, INT64_MAX, &next, &s), 1);
	CHECK_EQ_INT(s.first_offset, 4);
	CHECK_EQ_INT(next, 8);
	/* max_offset: only batches whose last offset is below it. */
	CHECK_EQ_INT(read_check(log, 0, 1u << 20, 22, &next, &s), 5);
	CHECK_EQ_INT(next, 20);
	CHECK_EQ_INT(read_check(log, 0, 1u << 20, 24, &next, &s), 6);
	/* The batch holding the offset ends at or past max_offset: nothing. */
	CHECK_OK(plog_read(log, 20, 1u << 20, 23, &s));
	CHECK_EQ_INT(s.len, 0);
	plog_slice_release(&s);
	/* At the end: nothing yet; past the end or before the start: an error. */
	CHECK_OK(plog_read(log, 40, 1u << 20, INT64_MAX, &s));
	CHECK_EQ_INT(s.len, 0);
	CHECK_EQ_INT(plog_read(log, 41, 100, INT64_MAX, &s), RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(plog_read(log, -1, 100, INT64_MAX, &s), RN_E_OFFSET_OUT_OF_RANGE);
	plog_close(log);
}

TEST(roll_by_size_and_read_across)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 2048, 200);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 100, 3, NOW));
	uint32_t segs = plog_segment_count(log);
	CHECK(segs >= 5);
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "log");
	CHECK(file_size(path) <= 2048);
	CHECK_EQ_INT(read_all(log, 1u << 20), 300);
	CHECK_EQ_INT(read_all(log, 1), 300);
	plog_close(log);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_segment_count(log), segs);
	for (int64_t o = 0; o < 300; o++) {
		int64_t next;
		struct plog_slice s;
		CHECK(read_check(log, o, 1, INT64_MAX, &next, &s) == 1);
		CHECK(s.first_offset <= o && o < next);
	}
	CHECK_EQ_INT(read_all(log, 5000), 300);
	plog_close(log);
}

TEST(roll_by_age)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	plog_config_default(&cfg);
	cfg.segment_ms = 1000;
	CHECK_OK(plog_open(dir, &cfg, 0, &log));
	CHECK_OK(append_batches(log, 2, 1, 5000));
	CHECK_OK(append_batches(log, 2, 1, 5900));
	CHECK_EQ_INT(plog_segment_count(log), 1);
	/* Older than segment_ms since its first append: the next append rolls. */
	CHECK_OK(append_batches(log, 1, 1, 6001));
	CHECK_EQ_INT(plog_segment_count(log), 2);
	char path[1024];
	seg_path(path, sizeof(path), dir, 4, "log");
	CHECK(file_exists(path));
	CHECK_OK(plog_maybe_roll(log, 6500));
	CHECK_EQ_INT(plog_segment_count(log), 2);
	CHECK_OK(plog_maybe_roll(log, 7002));
	CHECK_EQ_INT(plog_segment_count(log), 3);
	/* An empty segment never rolls. */
	CHECK_OK(plog_maybe_roll(log, 100000));
	CHECK_EQ_INT(plog_segment_count(log), 3);
	CHECK_EQ_INT(read_all(log, 1u << 20), 5);
	plog_close(log);
}

TEST(reopen_after_clean_close)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 4096, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 50, 4, NOW));
	uint64_t size = plog_size_bytes(log);
	uint32_t segs = plog_segment_count(log);
	plog_close(log);
	char marker[1024];
	snprintf(marker, sizeof(marker), "%s/.clean_shutdown", dir);
	CHECK(file_exists(marker));
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK(!file_exists(marker));
	CHECK_EQ_INT(plog_end_offset(log), 200);
	CHECK_EQ_INT(plog_synced_end(log), 200);
	CHECK_EQ_INT(plog_size_bytes(log), size);
	CHECK_EQ_INT(plog_segment_count(log), segs);
	CHECK_EQ_INT(read_all(log, 1u << 20), 200);
	CHECK_OK(append_batches(log, 5, 4, NOW));
	CHECK_EQ_INT(read_all(log, 700), 220);
	plog_close(log);
}

TEST(offset_for_timestamp)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	int64_t off, ts;
	small_config(&cfg, 2048, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_offset_for_timestamp(log, 0, &off, &ts), RN_E_NOT_FOUND);
	CHECK_OK(append_batches(log, 80, 5, NOW)); /* record o has TS_BASE + o */
	CHECK(plog_segment_count(log) > 3);
	for (int64_t o = 0; o < 400; o += 7) {
		CHECK_OK(plog_offset_for_timestamp(log, TS_BASE + o, &off, &ts));
		CHECK_EQ_INT(off, o);
		CHECK_EQ_INT(ts, TS_BASE + o);
	}
	CHECK_OK(plog_offset_for_timestamp(log, 0, &off, &ts));
	CHECK_EQ_INT(off, 0);
	CHECK_EQ_INT(plog_offset_for_timestamp(log, TS_BASE + 400, &off, &ts), RN_E_NOT_FOUND);
	plog_close(log);
	/* The same answers from indexes loaded from disk. */
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	for (int64_t o = 1; o < 400; o += 13) {
		CHECK_OK(plog_offset_for_timestamp(log, TS_BASE + o, &off, &ts));
		CHECK_EQ_INT(off, o);
	}
	plog_close(log);
}

TEST(truncate_then_append)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 100);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 40, 3, NOW)); /* batches start at multiples of 3 */
	CHECK(plog_segment_count(log) >= 4);
	CHECK_EQ_INT(plog_truncate(log, 61), RN_E_INVAL);
	CHECK_EQ_INT(plog_truncate(log, 121), RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(plog_end_offset(log), 120);
	CHECK_OK(plog_truncate(log, 120));
	CHECK_OK(plog_truncate(log, 90));
	CHECK_EQ_INT(plog_end_offset(log), 90);
	CHECK_EQ_INT(read_all(log, 1u << 20), 90);
	CHECK_OK(append_batches(log, 2, 3, NOW));
	CHECK_EQ_INT(plog_end_offset(log), 96);
	CHECK_EQ_INT(read_all(log, 1u << 20), 96);
	/* Back into the first segment: later segment files go away. */
	CHECK_OK(plog_truncate(log, 6));
	CHECK_EQ_INT(plog_segment_count(log), 1);
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "log");
	CHECK_EQ_INT(file_size(path), (long long)plog_size_bytes(log));
	CHECK_OK(append_batches(log, 3, 3, NOW));
	CHECK_EQ_INT(read_all(log, 1u << 20), 15);
	int64_t off, ts;
	CHECK_OK(plog_offset_for_timestamp(log, TS_BASE + 14, &off, &ts));
	CHECK_EQ_INT(off, 14);
	plog_close(log);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_end_offset(log), 15);
	CHECK_EQ_INT(read_all(log, 1u << 20), 15);
	CHECK_OK(plog_truncate(log, 0));
	CHECK_EQ_INT(plog_end_offset(log), 0);
	CHECK_EQ_INT(plog_size_bytes(log), 0);
	CHECK_OK(append_batches(log, 1, 2, NOW));
	CHECK_EQ_INT(read_all(log, 1u << 20), 2);
	plog_close(log);
}

TEST(truncate_into_an_unsynced_segment_then_roll)
{
	/* A follower truncating into a closed segment that no fsync has
	 * covered yet makes it active again; the next roll must close it
	 * like any active segment, and a sync must cover what is left. */
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 100);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 40, 3, NOW));
	CHECK(plog_segment_count(log) >= 4);
	CHECK_OK(plog_truncate(log, 30));
	CHECK_EQ_INT(plog_end_offset(log), 30);
	CHECK_OK(append_batches(log, 40, 3, NOW));
	CHECK(plog_segment_count(log) >= 4);
	int64_t synced = -1;
	CHECK_OK(plog_sync(log, &synced));
	CHECK_EQ_INT(synced, 150);
	CHECK_EQ_INT(read_all(log, 1u << 20), 150);
	plog_close(log);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_end_offset(log), 150);
	CHECK_EQ_INT(read_all(log, 1u << 20), 150);
	plog_close(log);
}

TEST(append_as_is_copies_a_leader)
{
	char dir_b[1024];
	const char *dir_a = harness_tmpdir();
	struct plog_config cfg;
	struct plog *a, *b;
	small_config(&cfg, 1500, 100);
	CHECK_OK(plog_open(dir_a, &cfg, NOW, &a));
	snprintf(dir_b, sizeof(dir_b), "%s/follower/p-0", dir_a);
	CHECK_OK(plog_open(dir_b, &cfg, NOW, &b));
	CHECK_OK(append_batches(a, 30, 2, NOW));
	int64_t off = 0;
	while (off < plog_end_offset(a)) {
		struct plog_slice s;
		uint8_t buf[8192];
		CHECK_OK(plog_read(a, off, 1, INT64_MAX, &s));
		CHECK(s.len <= sizeof(buf));
		CHECK_OK(plog_slice_copy(&s, buf));
		uint32_t len = s.len;
		plog_slice_release(&s);
		struct plog_append_result res;
		CHECK_OK(plog_append_as_is(b, buf, len, NOW, &res));
		CHECK_EQ_INT(res.base_offset, off);
		/* The same batch again does not start at the end: refused. */
		CHECK_EQ_INT(plog_append_as_is(b, buf, len, NOW, &res), RN_E_INVAL);
		off = res.last_offset + 1;
	}
	CHECK_EQ_INT(plog_end_offset(b), 60);
	CHECK_EQ_INT(read_all(b, 1u << 20), 60);
	plog_close(b);
	plog_close(a);
}

TEST(slice_outlives_close)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	struct plog_slice s;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 5, 3, NOW));
	CHECK_OK(plog_read(log, 0, 1u << 20, INT64_MAX, &s));
	void *second = plog_ref_acquire(s.ref);
	plog_close(log);
	uint8_t *buf = malloc(s.len);
	CHECK(buf != NULL);
	CHECK_OK(plog_slice_copy(&s, buf));
	int64_t next = 0;
	CHECK_EQ_INT(check_batches(buf, s.len, &next), 5);
	plog_slice_release(&s);
	/* The second reference still keeps the file open. */
	struct plog_slice again = s;
	again.ref = NULL;
	CHECK_OK(plog_slice_copy(&again, buf));
	plog_ref_release(second);
	free(buf);
}

struct sync_thread {
	struct plog *log;
	atomic_bool stop;
	int errors;
	int64_t last;
	int regressions;
	int syncs;
};

static void *sync_loop(void *arg)
{
	struct sync_thread *t = arg;
	while (!atomic_load(&t->stop)) {
		int64_t end;
		if (plog_sync(t->log, &end) != 0)
			t->errors++;
		if (end < t->last)
			t->regressions++;
		t->last = end;
		t->syncs++;
	}
	return NULL;
}

TEST(sync_from_another_thread_while_appending)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 16384, 512);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	struct sync_thread t = {.log = log};
	atomic_init(&t.stop, false);
	plog_hold(log);
	pthread_t th;
	CHECK_OK(pthread_create(&th, NULL, sync_loop, &t));
	for (int i = 0; i < 2000; i++) {
		CHECK_OK(append_batches(log, 1, 2, NOW));
		int64_t synced = plog_synced_end(log);
		CHECK(synced >= 0 && synced <= plog_end_offset(log));
	}
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	plog_unhold(log);
	CHECK_EQ_INT(t.errors, 0);
	CHECK_EQ_INT(t.regressions, 0);
	CHECK(t.syncs > 0);
	CHECK(plog_segment_count(log) > 3);
	int64_t end;
	CHECK_OK(plog_sync(log, &end));
	CHECK_EQ_INT(end, 4000);
	CHECK_EQ_INT(plog_synced_end(log), 4000);
	CHECK_EQ_INT(read_all(log, 1u << 20), 4000);
	plog_close(log);
}

TEST(hold_keeps_log_after_close)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 3, 1, NOW));
	plog_hold(log);
	plog_close(log);
	int64_t end;
	CHECK_OK(plog_sync(log, &end));
	CHECK_EQ_INT(end, 3);
	plog_unhold(log);
}

TEST(destroy_removes_directory)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/topic-0", harness_tmpdir());
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 100);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 20, 3, NOW));
	CHECK_OK(plog_destroy(log));
	CHECK(!file_exists(dir));
}

/* Bytes of disk a file holds, and its size. */
static void file_space(const char *path, long long *allocated, long long *size)
{
	struct stat st;
	*allocated = *size = -1;
	if (stat(path, &st) == 0) {
		*allocated = (long long)st.st_blocks * 512;
		*size = (long long)st.st_size;
	}
}

TEST(space_reserved_ahead_and_given_back_at_roll)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	const long long mib = 1024 * 1024;
	small_config(&cfg, 6 * mib, 4096);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	/* About 40 KB per batch. */
	while (plog_size_bytes(log) < (uint64_t)mib)
		CHECK_OK(append_batches(log, 1, 2000, NOW));
	char first[1024];
	seg_path(first, sizeof(first), dir, 0, "log");
	long long allocated, size;
	file_space(first, &allocated, &size);
	/* The file's size is the data; the space ahead is reserved (where the
	 * filesystem can: then the first 4 MiB at once). */
	CHECK_EQ_INT(size, (long long)plog_size_bytes(log));
	int reserves = allocated >= 4 * mib;
	CHECK(allocated >= size);
	fprintf(stderr, "  %lld bytes written, %lld allocated\n", size, allocated);
	while (plog_size_bytes(log) < (uint64_t)(5 * mib))
		CHECK_OK(append_batches(log, 1, 2000, NOW));
	file_space(first, &allocated, &size);
	/* Never past the segment's roll size. */
	CHECK(allocated <= 6 * mib + 64 * 1024);
	if (reserves)
		CHECK(allocated >= 6 * mib);
	while (plog_segment_count(log) < 2)
		CHECK_OK(append_batches(log, 1, 2000, NOW));
	file_space(first, &allocated, &size);
	/* The closed segment gives back what it did not use. */
	CHECK(allocated < size + 64 * 1024);
	CHECK_EQ_INT(read_all(log, 1u << 20), plog_end_offset(log));
	plog_close(log);
	/* Reopened, the data is all there and appends go on. */
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 3, 10, NOW));
	CHECK_EQ_INT(read_all(log, 1u << 20), plog_end_offset(log));
	plog_close(log);
}

TEST(bad_config_refused)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	plog_config_default(&cfg);
	cfg.segment_bytes = 8ull << 30;
	CHECK_EQ_INT(plog_open(dir, &cfg, NOW, &log), RN_E_INVAL);
	plog_config_default(&cfg);
	cfg.max_index_entries = 0;
	CHECK_EQ_INT(plog_open(dir, &cfg, NOW, &log), RN_E_INVAL);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
