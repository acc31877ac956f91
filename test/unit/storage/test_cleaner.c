/* test_cleaner.c: compaction of a partition log: what survives, tombstones, lag, crashes. */
#include "storage/cleaner.h"
#include "storage/plog.h"

#include "test/unit/harness.h"
#include "test/unit/storage/storage_util.h"

#include <dirent.h>


#define NOW 1000
#define MAX_RECS 200000
#define DAY_MS (24ll * 3600 * 1000)

/* What the test appended: per offset, the key index (-1: no key) and
 * whether the record is a tombstone. */
static int rec_key[MAX_RECS];
static bool rec_tomb[MAX_RECS];
static bool seen[MAX_RECS];
static bool seen_null[MAX_RECS]; /* read back as a tombstone */
/* Keys fill gives are key_base + i. */
static int key_base;
/* Batches verify read that are lz4-compressed and hold 1..19 records. */
static int lz4_partial;

static struct plog *open_small(const char *dir, uint64_t segment_bytes)
{
	struct plog_config cfg;
	plog_config_default(&cfg);
	cfg.segment_bytes = segment_bytes;
	cfg.index_interval_bytes = 512;
	struct plog *log = NULL;
	if (plog_open(dir, &cfg, NOW, &log) != 0)
		return NULL;
	return log;
}

static int value_of(char *out, size_t cap, int64_t offset)
{
	return snprintf(out, cap, "v%d-%lld", rec_key[offset], (long long)offset);
}

/* Appends n records in batches of per_batch: key (first + i) % keys, a
 * tombstone where tomb(offset) says so, compressed with codec. */
static int fill(struct plog *log, int n, int keys, int per_batch, int codec,
		bool (*tomb)(int64_t offset))
{
	static uint8_t buf[TEST_BATCH_CAP], packed[2 * TEST_BATCH_CAP];
	struct batch_codec bc;
	batch_codec_init(&bc);
	int rc = 0;
	for (int done = 0; rc == 0 && done < n; done += per_batch) {
		struct batch_builder b;
		int64_t first = plog_end_offset(log);
		batch_builder_init(&b, buf, sizeof(buf));
		for (int i = 0; i < per_batch && done + i < n; i++) {
			int64_t o = first + i;
			if (o >= MAX_RECS)
				abort();
			char key[16], val[32];
			rec_key[o] = key_base + (int)(o % keys);
			rec_tomb[o] = tomb && tomb(o);
			int kl = snprintf(key, sizeof(key), "k%04d", rec_key[o]);
			int vl = value_of(val, sizeof(val), o);
			if (batch_builder_add(&b, TS_BASE + o, key, kl, rec_tomb[o] ? NULL : val,
					      rec_tomb[o] ? -1 : vl, NULL, 0) != 0)
				abort();
		}
		size_t len = batch_builder_finish(&b, -1, -1, -1);
		uint8_t *out = buf;
		if (codec != BATCH_COMPRESSION_NONE) {
			if (batch_compress(&bc, codec, BATCH_CODEC_LEVEL_DEFAULT, buf, len, packed,
					   sizeof(packed), &len) != 0)
				abort();
			out = packed;
		}
		rc = plog_append(log, out, len, 3, NOW, NULL);
	}
	batch_codec_destroy(&bc);
	return rc;
}

/* Whether the record at offset survives a cleaning whose map covered
 * [0, map_end) with tombstones removed when drop_tombs. */
static bool expected(int64_t offset, int64_t map_end, int64_t end, bool drop_tombs)
{
	if (offset >= map_end)
		return true;
	for (int64_t o = offset + 1; o < map_end && o < end; o++)
		if (rec_key[o] == rec_key[offset])
			return false;
	return !(rec_tomb[offset] && drop_tombs);
}

/*
 * Reads the whole log and checks it against expected(): offsets increase,
 * each record present is one that should be, with its value, and each
 * record that should be is there exactly once.  Returns 0 or the line of
 * the first mismatch.
 */
static int verify(struct plog *log, int64_t map_end, bool drop_tombs)
{
	int64_t off = plog_start_offset(log), end = plog_end_offset(log), last = -1;
	memset(seen, 0, sizeof(seen));
	lz4_partial = 0;
	uint8_t *buf = malloc(1 << 20);
	while (off < end) {
		struct plog_slice s;
		if (plog_read(log, off, 1 << 20, INT64_MAX, &s) != 0 || s.len == 0 ||
		    plog_slice_copy(&s, buf) != 0)
			return __LINE__;
		size_t len = s.len;
		plog_slice_release(&s);
		size_t pos = 0;
		while (pos < len) {
			struct batch_info info;
			struct batch_iter it;
			struct record_view rec;
			if (batch_peek(buf + pos, len - pos, &info) != 0 ||
			    batch_validate(buf + pos, info.total_bytes, RN_MAX_RECORDS_PER_BATCH,
					   &info) != 0 ||
			    batch_iter_init(&it, buf + pos, info.total_bytes) != 0)
				return __LINE__;
			if (info.base_offset != off)
				return __LINE__; /* batches follow each other */
			if (batch_codec_of(&info) == BATCH_COMPRESSION_LZ4 && info.record_count > 0 &&
			    info.record_count < 20)
				lz4_partial++;
			while (batch_iter_next(&it, &rec) == 1) {
				if (rec.offset <= last || rec.offset >= end)
					return __LINE__;
				last = rec.offset;
				if (!expected(rec.offset, map_end, end, drop_tombs))
					return __LINE__;
				char val[32];
				int vl = value_of(val, sizeof(val), rec.offset);
				seen_null[rec.offset] = rec.value_len == -1;
				if (rec_tomb[rec.offset] ? rec.value_len != -1
							 : (rec.value_len != vl ||
							    memcmp(rec.value, val, (size_t)vl) != 0))
					return __LINE__;
				if (rec.timestamp != TS_BASE + rec.offset)
					return __LINE__;
				seen[rec.offset] = true;
			}
			off = info.base_offset + info.last_offset_delta + 1;
			pos += info.total_bytes;
		}
	}
	free(buf);
	for (int64_t o = 0; o < end; o++)
		if (seen[o] != expected(o, map_end, end, drop_tombs))
			return __LINE__;
	return 0;
}

static struct plog_clean_params params_at(int64_t now_ms)
{
	struct plog_clean_params p = {
		.now_ms = now_ms,
		.delete_retention_ms = DAY_MS,
		.min_compaction_lag_ms = 0,
	};
	return p;
}

TEST(latest_value_per_key_survives)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_OK(fill(log, 100 * 100, 100, 7, BATCH_COMPRESSION_NONE, NULL));
	CHECK(plog_segment_count(log) > 10);
	uint64_t size_before = plog_size_bytes(log);
	struct plog_clean_stats st;
	struct plog_clean_params p = params_at(TS_BASE + DAY_MS / 2);
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK(st.segments > 0);
	CHECK(st.records_out < st.records_in);
	CHECK(st.bytes_out < st.bytes_in);
	CHECK(plog_size_bytes(log) < size_before);
	CHECK_EQ_INT(plog_clean_checkpoint(log), st.end_offset);
	CHECK_EQ_INT(verify(log, st.end_offset, false), 0);
	/* Nothing new is dirty: a second cleaning finds nothing to do. */
	CHECK_EQ_INT(plog_clean(log, &p, &st), RN_E_NOT_FOUND);
	/* The cleaned log reopens (after a crash too) with the same content. */
	int64_t cp = plog_clean_checkpoint(log);
	plog_close(log);
	char marker[512];
	snprintf(marker, sizeof(marker), "%s/.clean_shutdown", dir);
	unlink(marker);
	log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_EQ_INT(plog_clean_checkpoint(log), cp);
	CHECK_EQ_INT(verify(log, cp, false), 0);
	/* More updates, then a second pass over the new dirty part. */
	CHECK_OK(fill(log, 3000, 100, 5, BATCH_COMPRESSION_NONE, NULL));
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK_EQ_INT(st.first_offset, 0);
	CHECK(st.end_offset > cp);
	CHECK_EQ_INT(verify(log, st.end_offset, false), 0);
	plog_close(log);
}

TEST(bigger_log_with_small_map)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 16384);
	CHECK(log != NULL);
	CHECK_OK(fill(log, 100 * 1000, 100, 50, BATCH_COMPRESSION_NONE, NULL));
	/* A map too small for every key stops the dirty range early; passes
	 * continue from the checkpoint until the closed segments are clean. */
	struct plog_clean_params p = params_at(TS_BASE + DAY_MS / 2);
	p.map_buckets = 64; /* room for 57 keys: one pass covers under 57 records */
	struct plog_clean_stats st;
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK(st.end_offset < 100);
	CHECK_EQ_INT(verify(log, st.end_offset, false), 0);
	p.map_buckets = 0;
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK_EQ_INT(verify(log, st.end_offset, false), 0);
	int kept = 0;
	for (int64_t o = 0; o < st.end_offset; o++)
		kept += seen[o];
	CHECK(kept <= 100 + (int)plog_segment_count(log));
	plog_close(log);
}

static bool every_tenth_update_of_low_keys(int64_t o)
{
	/* The last update of keys 0..9 is a tombstone. */
	return o >= 9900 && o % 100 < 10;
}

TEST(tombstones_go_after_delete_retention)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_OK(fill(log, 100 * 100, 100, 7, BATCH_COMPRESSION_NONE,
		      every_tenth_update_of_low_keys));
	/* Roll so that the tombstones are in closed segments. */
	key_base = 1000; /* keys that do not clash with the first ones */
	CHECK_OK(fill(log, 400, 1000, 7, BATCH_COMPRESSION_NONE, NULL));
	struct plog_clean_stats st;
	/* Within delete.retention.ms of the tombstones: they stay. */
	struct plog_clean_params p = params_at(TS_BASE + 10000 + 1000);
	p.delete_retention_ms = 60000;
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK(st.end_offset > 10000);
	CHECK_EQ_INT(verify(log, st.end_offset, false), 0);
	for (int64_t o = 9900; o < 9910; o++)
		CHECK(seen[o]);
	/* Later, with new dirty data: they go, and their keys with them. */
	CHECK_OK(fill(log, 400, 1000, 7, BATCH_COMPRESSION_NONE, NULL));
	key_base = 0;
	p.now_ms = TS_BASE + 10000 + 61000;
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK_EQ_INT(verify(log, st.end_offset, true), 0);
	for (int64_t o = 9900; o < 9910; o++)
		CHECK(!seen[o]);
	for (int k = 0; k < 10; k++)
		for (int64_t o = 0; o < 10000; o++)
			CHECK(!(seen[o] && rec_key[o] == k && !seen_null[o]));
	plog_close(log);
}

TEST(min_compaction_lag_keeps_young_records_dirty)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_OK(fill(log, 5000, 100, 7, BATCH_COMPRESSION_NONE, NULL));
	/* Records at offsets >= 2000 are younger than the lag. */
	struct plog_clean_params p = params_at(TS_BASE + 2000 + 10000);
	p.min_compaction_lag_ms = 10000;
	struct plog_clean_stats st;
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK(st.end_offset <= 2001);
	CHECK(st.end_offset > 1900);
	CHECK_EQ_INT(verify(log, st.end_offset, false), 0);
	for (int64_t o = 2001; o < 5000; o++)
		CHECK(seen[o]);
	plog_close(log);
}

TEST(lz4_batches_are_cleaned)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_OK(fill(log, 30 * 50, 30, 20, BATCH_COMPRESSION_LZ4, NULL));
	/* Fresh keys push the last updates into closed segments. */
	key_base = 1000;
	CHECK_OK(fill(log, 1000, 1000, 20, BATCH_COMPRESSION_LZ4, NULL));
	key_base = 0;
	struct plog_clean_params p = params_at(TS_BASE + DAY_MS / 2);
	struct plog_clean_stats st;
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK(st.records_out < st.records_in);
	CHECK_EQ_INT(verify(log, st.end_offset, false), 0);
	/* Surviving runs are compressed again with the same codec. */
	CHECK(lz4_partial > 0);
	plog_close(log);
}

TEST(slice_held_across_the_swap_reads_old_bytes)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_OK(fill(log, 3000, 100, 7, BATCH_COMPRESSION_NONE, NULL));
	struct plog_slice s;
	CHECK_OK(plog_read(log, 0, 4096, INT64_MAX, &s));
	uint8_t *before = malloc(s.len), *after = malloc(s.len);
	CHECK_OK(plog_slice_copy(&s, before));
	struct plog_clean_params p = params_at(TS_BASE + DAY_MS / 2);
	struct plog_clean_stats st;
	CHECK_OK(plog_clean(log, &p, &st));
	CHECK_OK(plog_slice_copy(&s, after));
	CHECK(memcmp(before, after, s.len) == 0);
	plog_slice_release(&s);
	free(before);
	free(after);
	CHECK_EQ_INT(verify(log, st.end_offset, false), 0);
	plog_close(log);
}

static int dir_has_suffix(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	size_t sl = strlen(suffix);
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		n += l > sl && strcmp(e->d_name + l - sl, suffix) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

/* Cleans up to stage, "crashes" (no clean shutdown marker) and reopens:
 * the log must be whole, with either its old or its cleaned content. */
static int crash_at(int stage, const char *suffix, bool cleaned_after)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	if (!log || fill(log, 3000, 100, 7, BATCH_COMPRESSION_NONE, NULL) != 0)
		return __LINE__;
	struct plog_clean_params p = params_at(TS_BASE + DAY_MS / 2);
	p.stop_stage = stage;
	struct plog_clean_job *job;
	if (plog_clean_begin(log, &p, &job) != 0 || plog_clean_run(job) != 0 ||
	    plog_clean_finish(log, job, NULL) != 0)
		return __LINE__;
	/* A whole cleaning covers the closed segments: up to the active
	 * one's base, the largest .log in the directory. */
	int64_t map_end = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		if (strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".log") == 0 &&
		    atoll(e->d_name) > map_end)
			map_end = atoll(e->d_name);
	if (d)
		closedir(d);
	plog_clean_job_free(job);
	if (dir_has_suffix(dir, suffix) == 0)
		return __LINE__;
	plog_close(log);
	char marker[512];
	snprintf(marker, sizeof(marker), "%s/.clean_shutdown", dir);
	unlink(marker);
	log = open_small(dir, 4096);
	if (!log)
		return __LINE__;
	if (dir_has_suffix(dir, ".cleaned") || dir_has_suffix(dir, ".swap") ||
	    dir_has_suffix(dir, ".deleted"))
		return __LINE__;
	int rc = verify(log, cleaned_after ? map_end : 0, false);
	if (rc == 0 && plog_end_offset(log) != 3000)
		rc = __LINE__;
	plog_close(log);
	return rc;
}

TEST(crash_during_the_swap_loses_nothing)
{
	CHECK_EQ_INT(crash_at(PLOG_CLEAN_STOP_CLEANED, ".log.cleaned", false), 0);
	CHECK_EQ_INT(crash_at(PLOG_CLEAN_STOP_SWAP, ".log.swap", true), 0);
	CHECK_EQ_INT(crash_at(PLOG_CLEAN_STOP_DELETED, ".log.deleted", true), 0);
}

TEST(discarded_when_the_log_is_truncated_meanwhile)
{
	const char *dir = harness_tmpdir();
	struct plog *log = open_small(dir, 4096);
	CHECK(log != NULL);
	CHECK_OK(fill(log, 3000, 100, 10, BATCH_COMPRESSION_NONE, NULL));
	struct plog_clean_params p = params_at(TS_BASE + DAY_MS / 2);
	struct plog_clean_job *job;
	CHECK_OK(plog_clean_begin(log, &p, &job));
	CHECK_OK(plog_clean_run(job));
	CHECK_OK(plog_truncate(log, 1000));
	CHECK_EQ_INT(plog_clean_finish(log, job, NULL), RN_E_AGAIN);
	plog_clean_job_free(job);
	CHECK_EQ_INT(dir_has_suffix(dir, ".cleaned"), 0);
	CHECK_EQ_INT(verify(log, 0, false), 0);
	plog_close(log);
}

TEST(key_map_bounds)
{
	struct cleaner_map *m;
	CHECK_EQ_INT(cleaner_map_create(100, &m), RN_E_INVAL);
	CHECK_OK(cleaner_map_create(16, &m));
	char k[8];
	int i = 0;
	for (;; i++) {
		int n = snprintf(k, sizeof(k), "%d", i);
		if (cleaner_map_put(m, (uint8_t *)k, n, i, false) != 0)
			break;
	}
	CHECK_EQ_INT(i, 16 * CLEANER_MAP_LOAD_PERCENT / 100);
	CHECK_EQ_INT(cleaner_map_get(m, (const uint8_t *)"3", 1, NULL), 3);
	CHECK_OK(cleaner_map_put(m, (const uint8_t *)"3", 1, 99, true));
	CHECK_EQ_INT(cleaner_map_get(m, (const uint8_t *)"3", 1, NULL), 99);
	CHECK_EQ_INT(cleaner_map_get(m, (const uint8_t *)"zz", 2, NULL), -1);
	cleaner_map_free(m);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
