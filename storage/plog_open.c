/* plog_open.c: opening a partition log and recovering it after a crash. */
#include "storage/plog.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/plog_internal.h"
#include "storage/storage_limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check_config(const struct plog_config *cfg)
{
	if (!cfg || cfg->segment_bytes < PLOG_MIN_SEGMENT_BYTES ||
	    cfg->segment_bytes > PLOG_MAX_SEGMENT_BYTES || cfg->segment_ms < 0 ||
	    cfg->index_interval_bytes > PLOG_MAX_INDEX_INTERVAL_BYTES ||
	    cfg->max_index_entries == 0)
		return RN_E_INVAL;
	return 0;
}

/* Creates dir and any missing parents. */
static int make_dirs(const char *dir)
{
	char path[4096];
	size_t len = strlen(dir);
	if (len == 0 || len >= sizeof(path))
		return RN_E_INVAL;
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char saved = path[i];
		path[i] = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			LOG_ERROR("storage", "cannot create %s: %s", path, strerror(errno));
			return RN_E_IO;
		}
		path[i] = saved;
	}
	return 0;
}

/* Reads and removes the clean shutdown marker.  Its removal is made durable
 * before anything is appended: a stale marker after a later crash would make
 * the next open skip recovery of a torn tail. */
static int take_clean_marker(struct plog *log, bool *clean)
{
	*clean = unlinkat(log->dir_fd, PLOG_CLEAN_MARKER, 0) == 0;
	if (!*clean && errno != ENOENT) {
		LOG_ERROR("storage", "%s: cannot remove the clean shutdown marker: %s", log->dir,
			  strerror(errno));
		return RN_E_IO;
	}
	return *clean ? plog_sync_dir(log) : 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void remove_stray(struct plog *log, const char *name, const char *why)
{
	LOG_WARN("storage", "%s: removing %s (%s)", log->dir, name, why);
	if (unlinkat(log->dir_fd, name, 0) != 0)
		LOG_ERROR("storage", "%s: cannot remove %s: %s", log->dir, name, strerror(errno));
}

/* A growable array of base offsets. */
struct bases {
	int64_t *v;
	size_t n, cap;
};

static int bases_push(struct bases *b, int64_t base)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		int64_t *v = realloc(b->v, cap * sizeof(*v));
		if (!v)
			return RN_E_NOMEM;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n++] = base;
	return 0;
}

/* Lists the .log files into *logs (sorted) and removes files of unknown
 * format: anything that is not a segment file, and indexes without a log. */
static int list_segments(struct plog *log, struct bases *logs)
{
	DIR *d = plog_opendir(log);
	if (!d)
		return RN_E_IO;
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		int64_t base;
		const char *ext;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, PLOG_EPOCH_CHECKPOINT_FILE) == 0 ||
		    strcmp(e->d_name, PLOG_CLEANER_CHECKPOINT_FILE) == 0)
			continue;
		size_t name_len = strlen(e->d_name);
		if (name_len > strlen(PLOG_OWNER_FILE_SUFFIX) &&
		    strcmp(e->d_name + name_len - strlen(PLOG_OWNER_FILE_SUFFIX),
			   PLOG_OWNER_FILE_SUFFIX) == 0)
			continue;
		if (plog_is_deleted_name(e->d_name))
			remove_stray(log, e->d_name, "left by an interrupted segment deletion");
		else if (!seg_parse_name(e->d_name, &base, &ext))
			remove_stray(log, e->d_name, "not a segment file");
		else if (strcmp(ext, "log") == 0)
			rc = bases_push(logs, base);
	}
	if (rc == 0 && logs->n > 0)
		qsort(logs->v, logs->n, sizeof(*logs->v), cmp_i64);
	rewinddir(d);
	while (rc == 0 && (e = readdir(d)) != NULL) {
		int64_t base;
		const char *ext;
		if (!seg_parse_name(e->d_name, &base, &ext) || strcmp(ext, "log") == 0)
			continue;
		if (logs->n == 0 || !bsearch(&base, logs->v, logs->n, sizeof(*logs->v), cmp_i64))
			remove_stray(log, e->d_name, "index without a segment");
	}
	closedir(d);
	return rc;
}

/* Opens the segments found in the directory, or creates the first one of a
 * new log (*created; there is nothing to recover then). */
static int open_segments(struct plog *log, bool *created)
{
	struct bases logs = {0};
	int rc = list_segments(log, &logs);
	for (size_t i = 0; rc == 0 && i < logs.n; i++) {
		struct segment *s;
		rc = segment_open(log->dir_fd, logs.v[i], log->cfg.index_interval_bytes, &s);
		if (rc == 0 && (rc = plog_push_segment(log, s)) != 0)
			segment_unref(s);
	}
	free(logs.v);
	*created = rc == 0 && log->seg_count == 0;
	if (!*created)
		return rc;
	struct segment *s;
	rc = segment_create(log->dir_fd, 0, log->cfg.index_interval_bytes, log->idx_cap, &s);
	if (rc)
		return rc;
	if ((rc = plog_push_segment(log, s)) != 0) {
		segment_unref(s);
		return rc;
	}
	return plog_sync_dir(log);
}

/* Cuts segment i at a batch boundary found by recovery and drops every later
 * segment; segment i becomes the active one. */
static int cut_at(struct plog *log, uint32_t i, struct seg_walker *w, uint64_t file_bytes,
		  const struct seg_scan *res, const char *why)
{
	struct segment *s = log->segs[i];
	LOG_WARN("storage",
		 "%s: segment %020" PRId64 ": %s at position %" PRIu64 " (offset %" PRId64
		 "): truncating %" PRIu64 " bytes and removing %u later segments",
		 log->dir, s->base_offset, res->why ? res->why : why, res->end_pos,
		 res->end_offset, file_bytes - res->end_pos, log->seg_count - i - 1);
	plog_drop_segments(log, i + 1);
	int rc = segment_make_active(s, log->dir_fd, log->idx_cap);
	if (rc == 0)
		rc = segment_truncate(s, w, res->end_pos, res->end_offset);
	return rc == 0 ? plog_sync_dir(log) : rc;
}

/* Writes a rebuilt index of a closed segment and makes it durable. */
static int store_rebuilt(struct plog *log, struct segment *s)
{
	int rc = segment_flush_indexes(s, log->dir_fd);
	return rc ? rc : segment_sync(s, true);
}

/*
 * Loads and checks closed segment i.  After an unclean shutdown it also
 * verifies the batches after the last index entry, since a crash soon after
 * a roll can leave the old segment's tail unwritten; the log is then cut
 * where the good data ends (segment i becomes the last one).
 */
static int recover_closed(struct plog *log, uint32_t i, bool clean, struct seg_walker *w)
{
	struct segment *s = log->segs[i];
	int64_t next_base = log->segs[i + 1]->base_offset;
	uint64_t file_bytes = s->size_bytes;
	struct seg_scan res;
	const char *why = NULL;
	s->closed = true;
	s->end_offset = next_base;
	seg_walker_retarget(w, s);
	int rc = segment_load_indexes(s, log->dir_fd, false, 0, &why);
	if (rc == 0 && clean)
		return 0;
	if (rc == 0) {
		rc = segment_check_tail(s, w, &res);
		if (rc)
			return rc;
		bool lines_up = res.clean && res.end_offset == next_base;
		if (lines_up && !res.would_index)
			return 0;
		if (!lines_up)
			return cut_at(log, i, w, file_bytes, &res,
				      "segment does not end where the next one starts");
		why = "offset index is missing entries";
	} else if (rc != RN_E_CORRUPT_STATE) {
		return rc;
	}
	LOG_WARN("storage", "%s: rebuilding the indexes of segment %020" PRId64 ": %s", log->dir,
		 s->base_offset, why);
	rc = segment_rebuild_indexes(s, log->dir_fd, w, !clean, 0, &res);
	if (rc)
		return rc;
	if (res.clean && res.end_offset == next_base)
		return store_rebuilt(log, s);
	if (clean) {
		LOG_ERROR("storage", "%s: closed segment %020" PRId64 " is unreadable: %s",
			  log->dir, s->base_offset,
			  res.why ? res.why : "it ends before the next segment");
		return RN_E_CORRUPT_STATE;
	}
	return cut_at(log, i, w, file_bytes, &res,
		      "segment does not end where the next one starts");
}

/* When a segment holding data was started, for rolling by age: its first
 * batch's timestamp (the append time for LogAppendTime topics), never later
 * than now. */
static int64_t segment_start_ms(struct segment *s, struct seg_walker *w, int64_t now_ms)
{
	struct batch_info info;
	if (s->size_bytes == 0)
		return -1;
	seg_walker_retarget(w, s);
	if (seg_walker_header(w, 0, &info) != 0 || info.max_timestamp < 0 ||
	    info.max_timestamp > now_ms)
		return now_ms;
	return info.max_timestamp;
}

/*
 * Recovers the last segment.  After a clean shutdown its indexes are loaded
 * and the counters re-derived from the last index entry; otherwise (or when
 * that finds a problem) every batch is checked from the start of the file,
 * the indexes are rebuilt and the file is cut at the first bad batch.
 */
static int recover_active(struct plog *log, bool clean, struct seg_walker *w, int64_t now_ms)
{
	uint32_t i = log->seg_count - 1;
	struct segment *s = log->segs[i];
	uint64_t file_bytes = s->size_bytes;
	struct seg_scan res;
	const char *why = "unclean shutdown";
	int rc;
	s->closed = false;
	seg_walker_retarget(w, s);
	/* A segment this open created has its (empty) indexes mapped already. */
	if (s->idx.writable && s->size_bytes == 0)
		goto started;
	if (clean) {
		rc = segment_load_indexes(s, log->dir_fd, true, log->idx_cap, &why);
		if (rc == 0) {
			rc = segment_resume(s, w, &res);
			if (rc == 0 && res.clean)
				goto started;
			why = res.why;
		}
		if (rc != 0 && rc != RN_E_CORRUPT_STATE)
			return rc;
	}
	s->size_bytes = file_bytes;
	rc = segment_rebuild_indexes(s, log->dir_fd, w, true, log->idx_cap, &res);
	if (rc)
		return rc;
	if (file_bytes > 0)
		LOG_WARN("storage",
			 "%s: rebuilt the indexes of active segment %020" PRId64 " (%s): %" PRIu64
			 " good bytes, offsets %" PRId64 "..%" PRId64,
			 log->dir, s->base_offset, why, res.end_pos, s->base_offset,
			 res.end_offset);
	if (res.end_pos < file_bytes) {
		rc = cut_at(log, i, w, file_bytes, &res, "bad batch");
		if (rc)
			return rc;
	}
started:
	s->created_ms = segment_start_ms(s, w, now_ms);
	/* Loaded or rebuilt in memory; appends go to mappings of the files. */
	return segment_map_indexes(s, log->dir_fd, log->idx_cap);
}

/* After an unclean shutdown the page cache may still hold data that was
 * never fsynced; one syncfs makes all of it durable before the log reports
 * its end as synced. */
static int sync_after_recovery(struct plog *log)
{
	if (syncfs(log->dir_fd) != 0) {
		LOG_ERROR("storage", "%s: syncfs failed: %s", log->dir, strerror(errno));
		return RN_E_IO;
	}
	return 0;
}

static int recover(struct plog *log, bool clean, int64_t now_ms)
{
	struct seg_walker w;
	seg_walker_init(&w, log->segs[0], NULL, PLOG_RECOVERY_CHUNK_BYTES, RN_MAX_BATCH_BYTES);
	int rc = 0;
	/* A cut makes segment i the last one, which ends this loop. */
	for (uint32_t i = 0; rc == 0 && i + 1 < log->seg_count; i++)
		rc = recover_closed(log, i, clean, &w);
	if (rc == 0)
		rc = recover_active(log, clean, &w, now_ms);
	if (rc == 0 && !clean)
		rc = sync_after_recovery(log);
	seg_walker_free(&w);
	return rc;
}

int plog_open(const char *dir, const struct plog_config *cfg, int64_t now_ms, struct plog **out)
{
	if (!dir || check_config(cfg) != 0)
		return RN_E_INVAL;
	struct plog *log = plog_alloc(dir, cfg);
	if (!log)
		return RN_E_NOMEM;
	bool clean = false;
	int rc = make_dirs(dir);
	if (rc)
		goto fail_log;
	log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0) {
		LOG_ERROR("storage", "%s: cannot open the directory: %s", dir, strerror(errno));
		rc = RN_E_IO;
		goto fail_log;
	}
	bool created = false;
	rc = take_clean_marker(log, &clean);
	/* A compaction swap a crash interrupted is completed or undone first. */
	if (rc == 0)
		rc = plog_clean_recover(log);
	if (rc == 0)
		rc = open_segments(log, &created);
	clean |= created;
	if (rc == 0)
		rc = recover(log, clean, now_ms);
	if (rc)
		goto fail_log;
	struct segment *active = plog_active(log);
	plog_count_closed_bytes(log);
	atomic_store(&log->end_offset, active->end_offset);
	rc = plog_epochs_open(log);
	/* Retention may have deleted segments without cutting the history. */
	if (rc == 0)
		rc = plog_epochs_clamp_start(log);
	if (rc)
		goto fail_log;
	atomic_store(&log->synced_end, active->end_offset);
	log->sync.active = segment_ref(active);
	*out = log;
	return 0;
fail_log:
	LOG_ERROR("storage", "%s: cannot open the log: %s", dir, rn_strerror(rc));
	plog_unref(log);
	return rc;
}
