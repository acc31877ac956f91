/* test_plog_retention.c: deleting old segments by time, size and start offset. */
#include "storage/plog.h"

#include "test/unit/harness.h"
#include "test/unit/storage/storage_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>

#define NOW 1700000000000ll
#define MAX_BASES 512

static const struct plog_retention keep_all = {
	.retention_ms = -1, .retention_bytes = -1, .max_offset = INT64_MAX, .max_segments = 1000};

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* The base offsets of the .log files in dir, sorted; counts "*.deleted"
 * files in *deleted. */
static int list_bases(const char *dir, long long *bases, int cap, int *deleted)
{
	DIR *d = opendir(dir);
	int n = 0;
	*deleted = 0;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len > 8 && strcmp(e->d_name + len - 8, ".deleted") == 0)
			(*deleted)++;
		else if (len == 24 && strcmp(e->d_name + 20, ".log") == 0 && n < cap)
			bases[n++] = strtoll(e->d_name, NULL, 10);
	}
	closedir(d);
	qsort(bases, (size_t)n, sizeof(*bases), cmp_ll);
	return n;
}

/* Appends batches of one record each, records per batch 1, with epoch. */
static int append_epoch(struct plog *log, int count, int32_t epoch)
{
	static uint8_t buf[TEST_BATCH_CAP];
	for (int i = 0; i < count; i++) {
		struct plog_append_result res;
		size_t len = build_batch(buf, plog_end_offset(log), 1);
		int rc = plog_append(log, buf, len, epoch, NOW, &res);
		if (rc)
			return rc;
	}
	return 0;
}

static int64_t size_of_segment(const char *dir, long long base)
{
	char path[1024];
	seg_path(path, sizeof(path), dir, base, "log");
	return file_size(path);
}

TEST(size_keeps_the_log_at_least_retention_bytes)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 200, 2, NOW));
	long long before[MAX_BASES];
	int deleted;
	int nb = list_bases(dir, before, MAX_BASES, &deleted);
	CHECK(nb >= 10);
	uint64_t size0 = plog_size_bytes(log);
	struct plog_retention r = keep_all;
	r.retention_bytes = 4000;
	struct plog_retention_result res;
	CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
	CHECK(res.by_size.segments > 0);
	CHECK_EQ_INT(res.by_time.segments, 0);
	CHECK_EQ_INT(plog_size_bytes(log), size0 - res.by_size.bytes);
	/* Kafka's rule: at least retention_bytes remain, and the oldest segment
	 * left could not go without the log falling below it. */
	long long after[MAX_BASES];
	int na = list_bases(dir, after, MAX_BASES, &deleted);
	CHECK_EQ_INT(deleted, 0);
	CHECK_EQ_INT(na, nb - (int)res.by_size.segments);
	CHECK_EQ_INT(plog_segment_count(log), na);
	CHECK_EQ_INT(after[0], before[res.by_size.segments]);
	CHECK_EQ_INT(plog_start_offset(log), after[0]);
	CHECK_EQ_INT(res.start_offset, after[0]);
	CHECK(plog_size_bytes(log) >= 4000);
	CHECK(plog_size_bytes(log) - (uint64_t)size_of_segment(dir, after[0]) < 4000);
	CHECK_EQ_INT(plog_end_offset(log), 400);
	/* Reads below the start are out of range; from it, everything is there. */
	struct plog_slice s;
	CHECK_EQ_INT(plog_read(log, after[0] - 1, 1u << 20, INT64_MAX, &s),
		     RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(plog_read(log, 0, 1u << 20, INT64_MAX, &s), RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(read_all(log, 1u << 20), 400);
	/* Applying the same limit again deletes nothing more. */
	CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
	CHECK_EQ_INT(res.by_size.segments, 0);
	CHECK_EQ_INT(res.start_offset, after[0]);
	plog_close(log);
}

TEST(time_deletes_segments_whose_newest_record_is_older)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	/* Record at offset o has timestamp TS_BASE + o. */
	CHECK_OK(append_batches(log, 150, 2, NOW));
	long long before[MAX_BASES];
	int deleted;
	int nb = list_bases(dir, before, MAX_BASES, &deleted);
	CHECK(nb >= 5);
	struct plog_retention r = keep_all;
	r.retention_ms = 50;
	struct plog_retention_result res;
	/* now - ts > 50 for every record below offset 100. */
	CHECK_OK(plog_apply_retention(log, &r, TS_BASE + 150, &res));
	long long expect = 0;
	for (int i = 0; i + 1 < nb; i++)
		if (before[i + 1] <= 100)
			expect = before[i + 1];
	CHECK(expect > 0);
	CHECK_EQ_INT(plog_start_offset(log), expect);
	CHECK_EQ_INT(res.start_offset, expect);
	CHECK(res.by_time.segments > 0);
	CHECK_EQ_INT(res.by_size.segments, 0);
	long long after[MAX_BASES];
	int na = list_bases(dir, after, MAX_BASES, &deleted);
	CHECK_EQ_INT(na, nb - (int)res.by_time.segments);
	CHECK_EQ_INT(deleted, 0);
	CHECK_EQ_INT(read_all(log, 1u << 20), 300);
	/* retention.ms -1 never deletes, whatever the clock says. */
	r.retention_ms = -1;
	CHECK_OK(plog_apply_retention(log, &r, INT64_MAX / 2, &res));
	CHECK_EQ_INT(res.by_time.segments, 0);
	plog_close(log);
}

TEST(time_boundary_is_strict)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 100, 2, NOW));
	long long bases[MAX_BASES];
	int deleted;
	CHECK(list_bases(dir, bases, MAX_BASES, &deleted) >= 3);
	/* The first segment's newest record is at offset bases[1] - 1. */
	int64_t newest = TS_BASE + bases[1] - 1;
	struct plog_retention r = keep_all;
	r.retention_ms = 1000;
	struct plog_retention_result res;
	CHECK_OK(plog_apply_retention(log, &r, newest + 1000, &res));
	CHECK_EQ_INT(res.by_time.segments, 0);
	CHECK_OK(plog_apply_retention(log, &r, newest + 1001, &res));
	CHECK_EQ_INT(res.by_time.segments, 1);
	CHECK_EQ_INT(plog_start_offset(log), bases[1]);
	plog_close(log);
}

TEST(time_falls_back_to_file_mtime_without_timestamps)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 512, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	static uint8_t buf[TEST_BATCH_CAP];
	for (int i = 0; i < 40; i++) {
		struct batch_builder b;
		batch_builder_init(&b, buf, TEST_BATCH_CAP);
		CHECK_OK(batch_builder_add(&b, -1, NULL, -1, "no-timestamp", 12, NULL, 0));
		size_t len = batch_builder_finish(&b, -1, -1, -1);
		struct plog_append_result res;
		CHECK_OK(plog_append(log, buf, len, 1, NOW, &res));
	}
	CHECK(plog_segment_count(log) >= 3);
	long long bases[MAX_BASES];
	int deleted;
	CHECK(list_bases(dir, bases, MAX_BASES, &deleted) >= 3);
	/* The first segment was last written an hour ago (by its mtime). */
	char path[1024];
	seg_path(path, sizeof(path), dir, bases[0], "log");
	struct timespec times[2] = {{.tv_sec = NOW / 1000 - 3600}, {.tv_sec = NOW / 1000 - 3600}};
	CHECK_OK(utimensat(AT_FDCWD, path, times, 0));
	struct plog_retention r = keep_all;
	r.retention_ms = 60000;
	struct plog_retention_result res;
	CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
	CHECK_EQ_INT(res.by_time.segments, 1);
	CHECK_EQ_INT(plog_start_offset(log), bases[1]);
	plog_close(log);
}

TEST(active_segment_is_never_deleted)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 3, 2, NOW));
	CHECK_EQ_INT(plog_segment_count(log), 1);
	struct plog_retention r = {.retention_ms = 0, .retention_bytes = 0,
				   .max_offset = INT64_MAX, .max_segments = 1000};
	struct plog_retention_result res;
	/* One active segment: nothing goes, however strict the rules. */
	CHECK_OK(plog_apply_retention(log, &r, INT64_MAX / 2, &res));
	CHECK_EQ_INT(res.by_time.segments + res.by_size.segments, 0);
	CHECK_EQ_INT(plog_start_offset(log), 0);
	CHECK_OK(append_batches(log, 100, 2, NOW));
	int64_t end = plog_end_offset(log);
	CHECK(plog_segment_count(log) > 3);
	CHECK_OK(plog_apply_retention(log, &r, INT64_MAX / 2, &res));
	CHECK_EQ_INT(plog_segment_count(log), 1);
	CHECK_EQ_INT(plog_size_bytes(log), size_of_segment(dir, plog_start_offset(log)));
	CHECK(plog_start_offset(log) > 0);
	CHECK_EQ_INT(plog_end_offset(log), end);
	/* The active segment keeps taking appends and serving reads. */
	CHECK_OK(append_batches(log, 2, 2, NOW));
	int64_t next;
	CHECK(read_check(log, plog_start_offset(log), 1u << 20, INT64_MAX, &next, NULL) > 0);
	CHECK_EQ_INT(next, end + 4);
	plog_close(log);
}

TEST(bounds_high_watermark_and_segments_per_call)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 200, 2, NOW));
	long long bases[MAX_BASES];
	int deleted;
	int nb = list_bases(dir, bases, MAX_BASES, &deleted);
	CHECK(nb >= 10);
	struct plog_retention r = {.retention_ms = -1, .retention_bytes = 0,
				   .max_offset = bases[3], .max_segments = 1000};
	struct plog_retention_result res;
	/* Only segments ending at or below the high watermark go. */
	CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
	CHECK_EQ_INT(res.by_size.segments, 3);
	CHECK_EQ_INT(plog_start_offset(log), bases[3]);
	r.max_offset = INT64_MAX;
	r.max_segments = 2;
	CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
	CHECK_EQ_INT(res.by_size.segments, 2);
	CHECK_EQ_INT(plog_start_offset(log), bases[5]);
	r.retention_bytes = -2;
	CHECK_EQ_INT(plog_apply_retention(log, &r, NOW, &res), RN_E_INVAL);
	plog_close(log);
}

TEST(start_offset_survives_reopen)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 200, 2, NOW));
	struct plog_retention r = keep_all;
	r.retention_bytes = 3000;
	struct plog_retention_result res;
	CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
	int64_t start = plog_start_offset(log);
	uint32_t segs = plog_segment_count(log);
	CHECK(start > 0);
	plog_close(log);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_start_offset(log), start);
	CHECK_EQ_INT(plog_segment_count(log), segs);
	CHECK_EQ_INT(plog_end_offset(log), 400);
	CHECK_EQ_INT(read_all(log, 1u << 20), 400);
	struct plog_slice s;
	CHECK_EQ_INT(plog_read(log, start - 1, 1u << 20, INT64_MAX, &s), RN_E_OFFSET_OUT_OF_RANGE);
	/* And after a crash (recovery checks every closed segment's tail). */
	CHECK_OK(append_batches(log, 50, 2, NOW));
	CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
	start = plog_start_offset(log);
	CHECK_OK(plog_sync(log, NULL));
	plog_close(log);
	forget_clean_close(dir);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_start_offset(log), start);
	CHECK_EQ_INT(read_all(log, 1u << 20), 500);
	plog_close(log);
}

TEST(leftover_deleted_files_are_removed_at_open)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 100, 2, NOW));
	long long bases[MAX_BASES];
	int deleted;
	int nb = list_bases(dir, bases, MAX_BASES, &deleted);
	CHECK(nb >= 3);
	plog_close(log);
	/* A crash after the first segment's .log was renamed, before its
	 * indexes were and before anything was unlinked. */
	char from[1024], to[1100];
	seg_path(from, sizeof(from), dir, bases[0], "log");
	snprintf(to, sizeof(to), "%s.deleted", from);
	CHECK_OK(rename(from, to));
	forget_clean_close(dir);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK(!file_exists(to));
	char idx[1024];
	seg_path(idx, sizeof(idx), dir, bases[0], "index");
	CHECK(!file_exists(idx));
	long long after[MAX_BASES];
	CHECK_EQ_INT(list_bases(dir, after, MAX_BASES, &deleted), nb - 1);
	CHECK_EQ_INT(deleted, 0);
	CHECK_EQ_INT(plog_start_offset(log), bases[1]);
	CHECK_EQ_INT(read_all(log, 1u << 20), 200);
	plog_close(log);
}

TEST(slice_held_across_deletion_still_reads)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 100, 2, NOW));
	struct plog_slice s;
	CHECK_OK(plog_read(log, 0, 1u << 20, INT64_MAX, &s));
	CHECK(s.len > 0);
	struct plog_retention r = keep_all;
	r.retention_bytes = 0;
	struct plog_retention_result res;
	CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
	CHECK(plog_start_offset(log) > 0);
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "log");
	CHECK(!file_exists(path));
	/* The file is gone from the directory, not from the reader. */
	uint8_t *buf = malloc(s.len);
	CHECK(buf != NULL);
	CHECK_OK(plog_slice_copy(&s, buf));
	int64_t next = 0;
	CHECK(check_batches(buf, s.len, &next) > 0);
	free(buf);
	plog_slice_release(&s);
	plog_close(log);
}

TEST(epoch_history_is_cut_at_the_start)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_epoch(log, 40, 1));
	CHECK_OK(append_epoch(log, 40, 2));
	CHECK_OK(append_epoch(log, 40, 3));
	CHECK_EQ_INT(plog_epoch_count(log), 3);
	long long bases[MAX_BASES];
	int deleted;
	int nb = list_bases(dir, bases, MAX_BASES, &deleted);
	/* Delete up to the first segment starting past offset 50 (epoch 2). */
	int k = 0;
	while (k < nb && bases[k] <= 50)
		k++;
	CHECK(k < nb - 1 && bases[k] < 80);
	struct plog_retention_result res;
	CHECK_OK(plog_advance_start(log, bases[k], 1000, &res));
	CHECK_EQ_INT(res.by_start.segments, k);
	CHECK_EQ_INT(plog_start_offset(log), bases[k]);
	int64_t start;
	CHECK_EQ_INT(plog_epoch_start_offset(log, 1, &start), RN_E_NOT_FOUND);
	CHECK_OK(plog_epoch_start_offset(log, 2, &start));
	CHECK_EQ_INT(start, bases[k]);
	CHECK_OK(plog_epoch_start_offset(log, 3, &start));
	CHECK_EQ_INT(start, 80);
	CHECK_EQ_INT(plog_epoch_count(log), 2);
	int32_t found;
	int64_t end;
	CHECK_OK(plog_epoch_end_offset(log, 1, &found, &end));
	CHECK_EQ_INT(found, -1);
	plog_close(log);
	/* The checkpoint says the same after a restart. */
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_epoch_count(log), 2);
	CHECK_OK(plog_epoch_start_offset(log, -1, &start));
	CHECK_EQ_INT(start, bases[k]);
	/* A crash after the files went but before the history was cut: the
	 * open cuts it. */
	plog_close(log);
	int j = k;
	while (j < nb && bases[j] <= 80)
		j++;
	CHECK(j < nb - 1);
	static const char *const exts[] = {"log", "index", "timeindex"};
	for (int i = k; i < j; i++)
		for (int x = 0; x < 3; x++) {
			char path[1024];
			seg_path(path, sizeof(path), dir, bases[i], exts[x]);
			CHECK_OK(unlink(path));
		}
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_start_offset(log), bases[j]);
	CHECK_EQ_INT(plog_epoch_count(log), 1);
	CHECK_OK(plog_epoch_start_offset(log, 3, &start));
	CHECK_EQ_INT(start, bases[j]);
	plog_close(log);
}

TEST(advance_start_deletes_whole_segments_below_it)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 100, 2, NOW));
	long long bases[MAX_BASES];
	int deleted;
	int nb = list_bases(dir, bases, MAX_BASES, &deleted);
	CHECK(nb >= 4);
	struct plog_retention_result res;
	/* An offset inside segment 2 keeps segment 2. */
	CHECK_OK(plog_advance_start(log, bases[2] + 1, 1000, &res));
	CHECK_EQ_INT(res.by_start.segments, 2);
	CHECK_EQ_INT(plog_start_offset(log), bases[2]);
	CHECK(!res.restarted);
	/* Below the start: nothing. */
	CHECK_OK(plog_advance_start(log, 1, 1000, &res));
	CHECK_EQ_INT(res.by_start.segments, 0);
	/* At the end: every closed segment goes, the active one stays. */
	CHECK_OK(plog_advance_start(log, 200, 1000, &res));
	CHECK_EQ_INT(plog_segment_count(log), 1);
	CHECK_EQ_INT(plog_end_offset(log), 200);
	CHECK(!res.restarted);
	CHECK_EQ_INT(plog_advance_start(log, 300, 0, &res), RN_E_INVAL);
	plog_close(log);
}

TEST(advance_start_past_the_end_restarts_the_log)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 1024, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_epoch(log, 60, 4));
	CHECK(plog_segment_count(log) >= 3);
	struct plog_retention_result res;
	/* Bounded: two segments per call; the restart waits for the rest. */
	CHECK_OK(plog_advance_start(log, 5000, 2, &res));
	CHECK_EQ_INT(res.by_start.segments, 2);
	CHECK(!res.restarted);
	while (!res.restarted)
		CHECK_OK(plog_advance_start(log, 5000, 2, &res));
	CHECK_EQ_INT(plog_segment_count(log), 1);
	CHECK_EQ_INT(plog_start_offset(log), 5000);
	CHECK_EQ_INT(plog_end_offset(log), 5000);
	CHECK_EQ_INT(plog_synced_end(log), 5000);
	CHECK_EQ_INT(plog_epoch_count(log), 0);
	CHECK_EQ_INT(plog_latest_epoch(log), -1);
	long long bases[MAX_BASES];
	int deleted;
	CHECK_EQ_INT(list_bases(dir, bases, MAX_BASES, &deleted), 1);
	CHECK_EQ_INT(bases[0], 5000);
	CHECK_EQ_INT(deleted, 0);
	/* A follower copies the leader's batches from there. */
	static uint8_t buf[TEST_BATCH_CAP];
	size_t len = build_batch(buf, 5000, 3);
	batch_stamp(buf, 5000, 9);
	struct plog_append_result ar;
	CHECK_OK(plog_append_as_is(log, buf, len, NOW, &ar));
	CHECK_EQ_INT(plog_end_offset(log), 5003);
	CHECK_EQ_INT(plog_latest_epoch(log), 9);
	plog_close(log);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_start_offset(log), 5000);
	CHECK_EQ_INT(plog_end_offset(log), 5003);
	CHECK_EQ_INT(read_all(log, 1u << 20), 5003);
	plog_close(log);
}

struct sync_thread {
	struct plog *log;
	atomic_bool stop;
	int errors;
	int syncs;
};

static void *sync_loop(void *arg)
{
	struct sync_thread *t = arg;
	while (!atomic_load(&t->stop)) {
		if (plog_sync(t->log, NULL) != 0)
			t->errors++;
		t->syncs++;
	}
	return NULL;
}

TEST(deletion_while_another_thread_syncs)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	small_config(&cfg, 2048, 256);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	struct sync_thread t = {.log = log};
	atomic_init(&t.stop, false);
	plog_hold(log);
	pthread_t th;
	CHECK_OK(pthread_create(&th, NULL, sync_loop, &t));
	struct plog_retention r = keep_all;
	r.retention_bytes = 6000;
	uint32_t deleted_segments = 0;
	for (int i = 0; i < 1500; i++) {
		CHECK_OK(append_batches(log, 1, 2, NOW));
		struct plog_retention_result res;
		CHECK_OK(plog_apply_retention(log, &r, NOW, &res));
		deleted_segments += res.by_size.segments;
	}
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	plog_unhold(log);
	CHECK_EQ_INT(t.errors, 0);
	CHECK(t.syncs > 0);
	CHECK(deleted_segments > 10);
	int64_t end;
	CHECK_OK(plog_sync(log, &end));
	CHECK_EQ_INT(end, 3000);
	CHECK(plog_size_bytes(log) >= 6000);
	CHECK_EQ_INT(read_all(log, 1u << 20), 3000);
	long long bases[MAX_BASES];
	int deleted;
	CHECK_EQ_INT(list_bases(dir, bases, MAX_BASES, &deleted), plog_segment_count(log));
	CHECK_EQ_INT(deleted, 0);
	plog_close(log);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
