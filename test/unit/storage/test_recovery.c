/* test_recovery.c: opening a partition log after crashes, torn writes and damage. */
#include "storage/plog.h"

#include "test/unit/harness.h"
#include "test/unit/storage/storage_util.h"

#include <dirent.h>

#define NOW 1000

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* Base offsets of the .log files in dir, sorted; returns how many. */
static int list_bases(const char *dir, long long *bases, int max)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && n < max) {
		size_t len = strlen(e->d_name);
		if (len == 24 && strcmp(e->d_name + 20, ".log") == 0)
			bases[n++] = atoll(e->d_name);
	}
	if (d)
		closedir(d);
	qsort(bases, (size_t)n, sizeof(*bases), cmp_ll);
	return n;
}

/* Every offset's read lands on the batch that holds it. */
static int lookups_ok(struct plog *log)
{
	for (int64_t o = plog_start_offset(log); o < plog_end_offset(log); o++) {
		struct plog_slice s;
		int64_t next;
		if (read_check(log, o, 1, INT64_MAX, &next, &s) != 1)
			return 0;
		if (!(s.first_offset <= o && o < next))
			return 0;
		int64_t off, ts;
		if (plog_offset_for_timestamp(log, TS_BASE + o, &off, &ts) != 0 || off != o)
			return 0;
	}
	return 1;
}

static struct plog *open_small(const char *dir, uint64_t segment_bytes)
{
	struct plog_config cfg;
	struct plog *log = NULL;
	small_config(&cfg, segment_bytes, 256);
	return plog_open(dir, &cfg, NOW, &log) == 0 ? log : NULL;
}

TEST(partial_batch_after_crash_is_cut)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 20, 3, NOW));
	uint64_t size = plog_size_bytes(log);
	plog_close(log);
	forget_clean_close(dir);
	/* The first half of the next batch made it to the file. */
	uint8_t buf[TEST_BATCH_CAP];
	size_t len = build_batch(buf, 60, 3);
	batch_stamp(buf, 60, 7);
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "log");
	CHECK_OK(append_raw(path, buf, len / 2));
	log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_end_offset(log), 60);
	CHECK_EQ_INT(file_size(path), (long long)size);
	CHECK_EQ_INT(read_all(log, 1u << 20), 60);
	CHECK(lookups_ok(log));
	CHECK_OK(append_batches(log, 1, 3, NOW));
	CHECK_EQ_INT(read_all(log, 1u << 20), 63);
	plog_close(log);
	log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_end_offset(log), 63);
	plog_close(log);
}

TEST(garbage_after_crash_is_cut)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 30, 2, NOW));
	uint64_t size = plog_size_bytes(log);
	plog_close(log);
	forget_clean_close(dir);
	uint8_t junk[3000];
	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "log");
	CHECK_OK(append_raw(path, junk, sizeof(junk)));
	log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_end_offset(log), 60);
	CHECK_EQ_INT(plog_size_bytes(log), size);
	CHECK_EQ_INT(file_size(path), (long long)size);
	CHECK_EQ_INT(read_all(log, 1000), 60);
	CHECK_OK(append_batches(log, 2, 2, NOW));
	CHECK_EQ_INT(read_all(log, 1000), 64);
	plog_close(log);
}

TEST(flipped_byte_in_last_batch_drops_it)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 10, 4, NOW));
	uint64_t before_last = plog_size_bytes(log);
	CHECK_OK(append_batches(log, 1, 4, NOW));
	plog_close(log);
	forget_clean_close(dir);
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "log");
	/* A byte inside the records: only the CRC can tell. */
	CHECK_OK(poke_byte(path, (long long)before_last + BATCH_HEADER_BYTES + 5, 0x20));
	log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_end_offset(log), 40);
	CHECK_EQ_INT(file_size(path), (long long)before_last);
	CHECK_EQ_INT(read_all(log, 1u << 20), 40);
	CHECK_OK(append_batches(log, 1, 4, NOW));
	CHECK_EQ_INT(read_all(log, 1u << 20), 44);
	plog_close(log);
}

TEST(flipped_byte_in_middle_cuts_from_there)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 10, 4, NOW));
	uint64_t cut = plog_size_bytes(log);
	CHECK_OK(append_batches(log, 10, 4, NOW));
	plog_close(log);
	forget_clean_close(dir);
	char path[1024];
	seg_path(path, sizeof(path), dir, 0, "log");
	CHECK_OK(poke_byte(path, (long long)cut + BATCH_CRC_START + 3, 0x01));
	log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_end_offset(log), 40);
	CHECK_EQ_INT(read_all(log, 1u << 20), 40);
	CHECK(lookups_ok(log));
	plog_close(log);
}

TEST(unclean_shutdown_without_damage_keeps_everything)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 2048);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 120, 2, NOW));
	uint32_t segs = plog_segment_count(log);
	CHECK(segs > 3);
	plog_close(log);
	forget_clean_close(dir);
	log = open_small(dir, 2048);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_end_offset(log), 240);
	CHECK_EQ_INT(plog_synced_end(log), 240);
	CHECK_EQ_INT(plog_segment_count(log), segs);
	CHECK_EQ_INT(read_all(log, 1u << 20), 240);
	CHECK(lookups_ok(log));
	plog_close(log);
}

TEST(missing_index_of_closed_segment_is_rebuilt)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 100, 3, NOW));
	plog_close(log);
	char path[1024], tpath[1024];
	seg_path(path, sizeof(path), dir, 0, "index");
	seg_path(tpath, sizeof(tpath), dir, 0, "timeindex");
	long long idx_size = file_size(path), tidx_size = file_size(tpath);
	CHECK(idx_size > 0 && tidx_size > 0);
	CHECK_OK(unlink(path));
	CHECK_OK(unlink(tpath));
	log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_EQ_INT(file_size(path), idx_size);
	CHECK_EQ_INT(file_size(tpath), tidx_size);
	CHECK(lookups_ok(log));
	plog_close(log);
}

TEST(corrupt_indexes_are_rebuilt)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 100, 3, NOW));
	plog_close(log);
	long long bases[64];
	int n = list_bases(dir, bases, 64);
	CHECK(n >= 3);
	char path[1024];
	/* Segment 0: an index entry whose position goes backwards. */
	seg_path(path, sizeof(path), dir, bases[0], "index");
	long long size0 = file_size(path);
	CHECK(size0 >= 16);
	CHECK_OK(poke_byte(path, 8 + 4, 0xff));
	/* Segment 1: a time index with a torn last entry. */
	seg_path(path, sizeof(path), dir, bases[1], "timeindex");
	CHECK_OK(append_raw(path, "abcde", 5));
	/* The active segment: an index pointing past the end of its file. */
	seg_path(path, sizeof(path), dir, bases[n - 1], "index");
	uint8_t entry[8] = {0, 0, 0x10, 0, 0x7f, 0, 0, 0};
	CHECK_OK(append_raw(path, entry, sizeof(entry)));
	log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_end_offset(log), 300);
	CHECK(lookups_ok(log));
	seg_path(path, sizeof(path), dir, bases[0], "index");
	CHECK_EQ_INT(file_size(path), size0);
	seg_path(path, sizeof(path), dir, bases[1], "timeindex");
	CHECK_EQ_INT(file_size(path) % 12, 0);
	plog_close(log);
	/* The repaired files load cleanly next time. */
	log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK(lookups_ok(log));
	plog_close(log);
}

TEST(torn_tail_of_closed_segment_cuts_the_log)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 2048);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 100, 2, NOW));
	plog_close(log);
	forget_clean_close(dir);
	long long bases[64];
	int n = list_bases(dir, bases, 64);
	CHECK(n >= 4);
	/* The crash lost the end of segment 1 although segment 2 was created. */
	char path[1024];
	seg_path(path, sizeof(path), dir, bases[1], "log");
	CHECK_OK(truncate(path, file_size(path) - 10));
	log = open_small(dir, 2048);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_segment_count(log), 2);
	int64_t end = plog_end_offset(log);
	CHECK(end > bases[1] && end < bases[2]);
	CHECK_EQ_INT(read_all(log, 1u << 20), end);
	CHECK(lookups_ok(log));
	seg_path(path, sizeof(path), dir, bases[2], "log");
	CHECK(!file_exists(path));
	CHECK_OK(append_batches(log, 30, 2, NOW));
	CHECK_EQ_INT(read_all(log, 1u << 20), end + 60);
	plog_close(log);
}

TEST(stray_files_are_removed)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 5, 2, NOW));
	plog_close(log);
	const char *strays[] = {"leftover.tmp", "00000000000000000000.swap",
				"00000000000000000999.index", "00000000000000000999.timeindex"};
	char path[1024];
	for (unsigned i = 0; i < sizeof(strays) / sizeof(strays[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, strays[i]);
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		fputs("junk", f);
		fclose(f);
	}
	log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	for (unsigned i = 0; i < sizeof(strays) / sizeof(strays[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, strays[i]);
		CHECK(!file_exists(path));
	}
	CHECK_EQ_INT(read_all(log, 1u << 20), 10);
	plog_close(log);
}

TEST(crash_right_after_roll)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	plog_config_default(&cfg);
	cfg.segment_ms = 100;
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_batches(log, 4, 2, NOW));
	CHECK_OK(plog_maybe_roll(log, NOW + 500));
	CHECK_EQ_INT(plog_segment_count(log), 2);
	plog_close(log);
	forget_clean_close(dir);
	CHECK_OK(plog_open(dir, &cfg, NOW + 600, &log));
	CHECK_EQ_INT(plog_segment_count(log), 2);
	CHECK_EQ_INT(plog_end_offset(log), 8);
	CHECK_EQ_INT(read_all(log, 1u << 20), 8);
	CHECK_OK(append_batches(log, 1, 2, NOW + 600));
	CHECK_EQ_INT(read_all(log, 1u << 20), 10);
	plog_close(log);
}

TEST(clean_marker_is_consumed_on_open)
{
	const char *dir = harness_tmpdir();
	char marker[1024];
	snprintf(marker, sizeof(marker), "%s/.clean_shutdown", dir);
	struct plog *log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	CHECK_OK(append_batches(log, 5, 2, NOW));
	plog_close(log);
	CHECK(file_exists(marker));
	log = open_small(dir, 1u << 20);
	CHECK(log != NULL);
	/* Were the process to crash now, a surviving marker would let a torn
	 * tail go unchecked on the next open. */
	CHECK(!file_exists(marker));
	CHECK_OK(append_batches(log, 5, 2, NOW));
	CHECK(!file_exists(marker));
	plog_close(log);
	CHECK(file_exists(marker));
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
