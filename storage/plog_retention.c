/* plog_retention.c: deleting whole segments from the front of a partition log. */
#include "storage/plog.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/plog_internal.h"
#include "storage/storage_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const seg_exts[] = {"log", "index", "timeindex"};

/* "NNNNNNNNNNNNNNNNNNNN.<ext>.deleted" */
#define DELETED_NAME_MAX (SEG_NAME_MAX + sizeof(PLOG_DELETED_SUFFIX))

bool plog_is_deleted_name(const char *name)
{
	size_t len = strlen(name), suffix = strlen(PLOG_DELETED_SUFFIX);
	return len > suffix && strcmp(name + len - suffix, PLOG_DELETED_SUFFIX) == 0;
}

int plog_epochs_clamp_start(struct plog *log)
{
	if (!epoch_hist_truncate_start(&log->epochs, plog_start_offset(log)))
		return 0;
	return epoch_hist_store(&log->epochs, log->dir_fd, PLOG_EPOCH_CHECKPOINT_FILE);
}

static void deleted_name(char *out, int64_t base, const char *ext)
{
	char name[SEG_NAME_MAX];
	seg_file_name(name, base, ext);
	snprintf(out, DELETED_NAME_MAX, "%s%s", name, PLOG_DELETED_SUFFIX);
}

/*
 * Takes segment s out of the directory's view by renaming its files to
 * "*.deleted".  The .log goes first: once it is renamed, an open no longer
 * sees the segment (index files without a log are strays), so a crash at
 * any point leaves either the whole segment or none of it.
 */
static int rename_segment(struct plog *log, const struct segment *s)
{
	for (unsigned i = 0; i < RN_ARRAY_LEN(seg_exts); i++) {
		char from[SEG_NAME_MAX], to[DELETED_NAME_MAX];
		seg_file_name(from, s->base_offset, seg_exts[i]);
		deleted_name(to, s->base_offset, seg_exts[i]);
		if (renameat(log->dir_fd, from, log->dir_fd, to) == 0 || errno == ENOENT)
			continue;
		LOG_ERROR("storage", "%s: cannot rename %s for deletion: %s", log->dir, from,
			  strerror(errno));
		/* Without its .log renamed the segment is still whole; with it,
		 * the index files left are removed by the next open. */
		return i == 0 ? RN_E_IO : 0;
	}
	return 0;
}

static void unlink_deleted(struct plog *log, int64_t base)
{
	for (unsigned i = 0; i < RN_ARRAY_LEN(seg_exts); i++) {
		char name[DELETED_NAME_MAX];
		deleted_name(name, base, seg_exts[i]);
		if (unlinkat(log->dir_fd, name, 0) != 0 && errno != ENOENT)
			LOG_ERROR("storage", "%s: cannot remove %s: %s", log->dir, name,
				  strerror(errno));
	}
}

/* Drops s from the sync state's list of segments to fsync: its data no
 * longer needs to be durable. */
static void unlist_pending(struct plog *log, struct segment *s)
{
	struct segment **pp = &log->sync.pending;
	while (*pp && *pp != s)
		pp = &(*pp)->sync_next;
	if (!*pp)
		return;
	*pp = s->sync_next;
	s->sync_next = NULL;
	s->sync_listed = false;
	segment_unref(s);
}

/*
 * Deletes segments [0, count), all closed.  They are renamed first, then the
 * directory is fsynced so the deletion of a prefix is durable as a prefix
 * (an open after a crash must never find a gap in the middle of the log),
 * then they leave the log and their files are unlinked.  A slice or a
 * background sync holding one keeps its open files.  Adds to *d what went.
 */
static int delete_front(struct plog *log, uint32_t count, struct plog_deletion *d)
{
	RN_ASSERT(count < log->seg_count);
	uint32_t renamed = 0;
	int rc = 0;
	while (renamed < count && (rc = rename_segment(log, log->segs[renamed])) == 0)
		renamed++;
	if (renamed == 0)
		return rc;
	int sync_rc = plog_sync_dir(log);
	pthread_mutex_lock(&log->sync.lock);
	for (uint32_t i = 0; i < renamed; i++) {
		RN_ASSERT(log->segs[i]->closed && log->segs[i] != log->sync.active);
		unlist_pending(log, log->segs[i]);
	}
	pthread_mutex_unlock(&log->sync.lock);
	for (uint32_t i = 0; i < renamed; i++) {
		struct segment *s = log->segs[i];
		d->segments++;
		d->bytes += s->size_bytes;
		log->closed_bytes -= s->size_bytes;
		LOG_DEBUG("storage", "%s: deleting segment %020" PRId64 " (offsets %" PRId64
				     "..%" PRId64 ", %" PRIu64 " bytes)",
			  log->dir, s->base_offset, s->base_offset, s->end_offset, s->size_bytes);
		unlink_deleted(log, s->base_offset);
		segment_unref(s);
	}
	memmove(log->segs, log->segs + renamed,
		(size_t)(log->seg_count - renamed) * sizeof(*log->segs));
	log->seg_count -= renamed;
	if (rc == 0)
		rc = sync_rc;
	/* The history is cut after the files are gone, so no batch left on
	 * disk ever lacks its entry; a crash in between is mended at open. */
	int epoch_rc = plog_epochs_clamp_start(log);
	return rc ? rc : epoch_rc;
}

/* The number of leading segments retention may consider: closed, and
 * ending at or below max_offset. */
static uint32_t candidates(const struct plog *log, int64_t max_offset, uint32_t max_segments)
{
	uint32_t n = 0;
	while (n + 1 < log->seg_count && n < max_segments && log->segs[n]->closed &&
	       log->segs[n]->end_offset <= max_offset)
		n++;
	return n;
}

/* When segment s was last written to, for retention.ms: its largest record
 * timestamp, or its file's modification time when it has none. */
static int segment_age_ts(struct plog *log, struct segment *s, struct seg_walker *w,
			  int64_t *ts)
{
	seg_walker_retarget(w, s);
	int rc = segment_max_timestamp(s, w, ts);
	if (rc) {
		LOG_ERROR("storage", "%s: cannot read the timestamps of segment %020" PRId64 ": %s",
			  log->dir, s->base_offset, rn_strerror(rc));
		return RN_E_IO;
	}
	if (*ts >= 0)
		return 0;
	struct stat st;
	if (fstat(s->log_fd, &st) != 0) {
		LOG_ERROR("storage", "%s: cannot stat segment %020" PRId64 ": %s", log->dir,
			  s->base_offset, strerror(errno));
		return RN_E_IO;
	}
	*ts = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	return 0;
}

/* How many of the first n segments are past retention_ms. */
static int count_expired(struct plog *log, uint32_t n, int64_t retention_ms, int64_t now_ms,
			 uint32_t *expired)
{
	*expired = 0;
	if (retention_ms < 0 || n == 0)
		return 0;
	struct seg_walker w;
	seg_walker_init(&w, log->segs[0], NULL, PLOG_SCAN_CHUNK_BYTES, RN_MAX_BATCH_BYTES);
	int rc = 0;
	for (uint32_t i = 0; i < n; i++) {
		int64_t ts;
		rc = segment_age_ts(log, log->segs[i], &w, &ts);
		/* A timestamp ahead of the clock keeps its segment (and those
		 * after it), as in Kafka. */
		if (rc || now_ms - ts <= retention_ms)
			break;
		(*expired)++;
	}
	seg_walker_free(&w);
	return rc;
}

/* How many of the first n segments can go with the log staying at least
 * retention_bytes large. */
static uint32_t count_oversize(const struct plog *log, uint32_t n, int64_t retention_bytes)
{
	uint64_t size = plog_size_bytes(log);
	if (retention_bytes < 0 || size <= (uint64_t)retention_bytes)
		return 0;
	uint64_t excess = size - (uint64_t)retention_bytes;
	uint32_t k = 0;
	while (k < n && log->segs[k]->size_bytes <= excess) {
		excess -= log->segs[k]->size_bytes;
		k++;
	}
	return k;
}

static void result_init(const struct plog *log, struct plog_retention_result *res)
{
	memset(res, 0, sizeof(*res));
	res->start_offset = plog_start_offset(log);
}

int plog_apply_retention(struct plog *log, const struct plog_retention *rules, int64_t now_ms,
			 struct plog_retention_result *res)
{
	if (!log || !rules || !res || rules->retention_ms < -1 || rules->retention_bytes < -1)
		return RN_E_INVAL;
	result_init(log, res);
	if (atomic_load(&log->failed))
		return RN_E_IO;
	uint32_t budget = rules->max_segments;
	uint32_t n = candidates(log, rules->max_offset, budget);
	uint32_t expired;
	int rc = count_expired(log, n, rules->retention_ms, now_ms, &expired);
	if (rc == 0 && expired > 0) {
		rc = delete_front(log, expired, &res->by_time);
		budget -= res->by_time.segments;
	}
	if (rc == 0) {
		n = candidates(log, rules->max_offset, budget);
		uint32_t oversize = count_oversize(log, n, rules->retention_bytes);
		if (oversize > 0)
			rc = delete_front(log, oversize, &res->by_size);
	}
	res->start_offset = plog_start_offset(log);
	return rc;
}

/*
 * Replaces the only segment left, the active one, by an empty one at offset
 * (past the log end): the new segment is created and the old one renamed,
 * both made durable by one directory fsync, before the log switches over.
 */
static int restart_at(struct plog *log, int64_t offset, struct plog_deletion *d)
{
	RN_ASSERT(log->seg_count == 1 && offset > plog_end_offset(log));
	struct segment *old = plog_active(log), *s;
	int rc = segment_create(log->dir_fd, offset, log->cfg.index_interval_bytes, log->idx_cap,
				&s);
	if (rc)
		return rc;
	rc = rename_segment(log, old);
	if (rc == 0)
		rc = plog_sync_dir(log);
	if (rc) {
		/* Which of the two an open would find is unclear: the log stops
		 * taking writes until it is reopened and recovered. */
		atomic_store(&log->failed, true);
		segment_unref(s);
		return rc;
	}
	log->segs[0] = s;
	log->closed_bytes = 0;
	pthread_mutex_lock(&log->sync.lock);
	RN_ASSERT(log->sync.active == old);
	segment_unref(log->sync.active);
	log->sync.active = segment_ref(s);
	log->sync.generation++;
	atomic_store(&log->synced_end, offset);
	pthread_mutex_unlock(&log->sync.lock);
	atomic_store_explicit(&log->end_offset, offset, memory_order_release);
	d->segments++;
	d->bytes += old->size_bytes;
	unlink_deleted(log, old->base_offset);
	segment_unref(old);
	/* The epochs of the old records are gone with them; the next batch
	 * copied from the leader starts the history again. */
	epoch_hist_truncate(&log->epochs, 0);
	rc = epoch_hist_store(&log->epochs, log->dir_fd, PLOG_EPOCH_CHECKPOINT_FILE);
	if (rc)
		atomic_store(&log->failed, true);
	return rc;
}

int plog_advance_start(struct plog *log, int64_t offset, uint32_t max_segments,
		       struct plog_retention_result *res)
{
	if (!log || !res || max_segments == 0)
		return RN_E_INVAL;
	result_init(log, res);
	if (offset <= plog_start_offset(log))
		return 0;
	if (atomic_load(&log->failed))
		return RN_E_IO;
	uint32_t n = candidates(log, offset, max_segments);
	int rc = n > 0 ? delete_front(log, n, &res->by_start) : 0;
	if (rc == 0 && log->seg_count == 1 && offset > plog_end_offset(log) &&
	    res->by_start.segments < max_segments) {
		rc = restart_at(log, offset, &res->by_start);
		res->restarted = rc == 0;
	}
	res->start_offset = plog_start_offset(log);
	return rc;
}
