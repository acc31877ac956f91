/* plog.c: a partition log: appends, reads, timestamps, truncation and sync. */
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
#include <unistd.h>

void plog_config_default(struct plog_config *cfg)
{
	cfg->segment_bytes = PLOG_DEFAULT_SEGMENT_BYTES;
	cfg->segment_ms = PLOG_DEFAULT_SEGMENT_MS;
	cfg->index_interval_bytes = PLOG_DEFAULT_INDEX_INTERVAL_BYTES;
	cfg->max_index_entries = PLOG_DEFAULT_MAX_INDEX_ENTRIES;
}

/* ---- lifetime ---- */

/* Enough index entries for a full segment at the configured interval, so
 * appends never grow the index; a segment rolls when it is full. */
static uint32_t index_capacity(const struct plog_config *cfg)
{
	uint32_t interval = cfg->index_interval_bytes ? cfg->index_interval_bytes : 1;
	uint64_t per_segment = cfg->segment_bytes / interval + 2;
	return per_segment < cfg->max_index_entries ? (uint32_t)per_segment
						    : cfg->max_index_entries;
}

void plog_set_segment_config(struct plog *log, uint64_t segment_bytes, int64_t segment_ms)
{
	RN_ASSERT(segment_bytes > 0);
	log->cfg.segment_bytes = segment_bytes;
	log->cfg.segment_ms = segment_ms;
	log->idx_cap = index_capacity(&log->cfg);
}

struct plog *plog_alloc(const char *dir, const struct plog_config *cfg)
{
	struct plog *log = calloc(1, sizeof(*log));
	if (!log)
		return NULL;
	/* A walk from an index entry covers about index_interval_bytes of
	 * batches, so one read of that much (page-rounded) usually finds every
	 * header it needs; reading more would only copy bytes nobody looks at. */
	uint64_t scan = (uint64_t)cfg->index_interval_bytes + BATCH_HEADER_BYTES;
	scan = (scan + 4095) & ~4095ull;
	log->scan_bytes = scan < PLOG_SCAN_CHUNK_BYTES ? (uint32_t)scan : PLOG_SCAN_CHUNK_BYTES;
	log->dir = strdup(dir);
	log->scan_buf = malloc(log->scan_bytes);
	if (!log->dir || !log->scan_buf) {
		free(log->dir);
		free(log->scan_buf);
		free(log);
		return NULL;
	}
	log->dir_fd = -1;
	log->read_seg_base = -1;
	log->cfg = *cfg;
	log->idx_cap = index_capacity(cfg);
	atomic_init(&log->end_offset, 0);
	atomic_init(&log->synced_end, 0);
	atomic_init(&log->failed, false);
	atomic_init(&log->destroyed, false);
	atomic_init(&log->refs, 1);
	pthread_mutex_init(&log->sync.lock, NULL);
	pthread_mutex_init(&log->sync.sync_lock, NULL);
	return log;
}

void plog_unref(struct plog *log)
{
	int prev = atomic_fetch_sub_explicit(&log->refs, 1, memory_order_acq_rel);
	RN_ASSERT(prev > 0);
	if (prev != 1)
		return;
	segment_unref(log->sync.active);
	while (log->sync.pending) {
		struct segment *s = log->sync.pending;
		log->sync.pending = s->sync_next;
		segment_unref(s);
	}
	for (uint32_t i = 0; i < log->seg_count; i++)
		segment_unref(log->segs[i]);
	if (log->dir_fd >= 0)
		close(log->dir_fd);
	pthread_mutex_destroy(&log->sync.lock);
	pthread_mutex_destroy(&log->sync.sync_lock);
	epoch_hist_free(&log->epochs);
	free(log->segs);
	free(log->scan_buf);
	free(log->dir);
	free(log);
}

void plog_hold(struct plog *log)
{
	int prev = atomic_fetch_add_explicit(&log->refs, 1, memory_order_relaxed);
	RN_ASSERT(prev > 0);
}

void plog_unhold(struct plog *log)
{
	plog_unref(log);
}

int plog_push_segment(struct plog *log, struct segment *s)
{
	if (log->seg_count == log->seg_cap) {
		uint32_t cap = log->seg_cap ? log->seg_cap * 2 : 8;
		struct segment **segs = realloc(log->segs, cap * sizeof(*segs));
		if (!segs)
			return RN_E_NOMEM;
		log->segs = segs;
		log->seg_cap = cap;
	}
	log->segs[log->seg_count++] = s;
	return 0;
}

static void unlink_segment_files(struct plog *log, int64_t base)
{
	static const char *const exts[] = {"log", "index", "timeindex"};
	for (unsigned i = 0; i < RN_ARRAY_LEN(exts); i++) {
		char name[SEG_NAME_MAX];
		seg_file_name(name, base, exts[i]);
		if (unlinkat(log->dir_fd, name, 0) != 0 && errno != ENOENT)
			LOG_ERROR("storage", "%s: cannot remove %s: %s", log->dir, name,
				  strerror(errno));
	}
}

void plog_drop_segments(struct plog *log, uint32_t from)
{
	while (log->seg_count > from) {
		struct segment *s = log->segs[--log->seg_count];
		unlink_segment_files(log, s->base_offset);
		segment_unref(s);
	}
}

void plog_count_closed_bytes(struct plog *log)
{
	log->closed_bytes = 0;
	for (uint32_t i = 0; i + 1 < log->seg_count; i++)
		log->closed_bytes += log->segs[i]->size_bytes;
}

int plog_sync_dir(struct plog *log)
{
	while (fsync(log->dir_fd) != 0) {
		if (errno == EINTR)
			continue;
		LOG_ERROR("storage", "%s: fsync of the directory failed: %s", log->dir,
			  strerror(errno));
		return RN_E_IO;
	}
	return 0;
}

/* ---- sizes and bounds ---- */

int64_t plog_start_offset(const struct plog *log)
{
	return log->segs[0]->base_offset;
}

int64_t plog_end_offset(const struct plog *log)
{
	return atomic_load_explicit(&log->end_offset, memory_order_relaxed);
}

uint64_t plog_size_bytes(const struct plog *log)
{
	return log->closed_bytes + plog_active(log)->size_bytes;
}

uint32_t plog_segment_count(const struct plog *log)
{
	return log->seg_count;
}

/* The segment holding offset: the last one whose base is at or below it. */
static uint32_t find_segment(const struct plog *log, int64_t offset)
{
	uint32_t lo = 0, hi = log->seg_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid]->base_offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	RN_ASSERT(lo > 0);
	return lo - 1;
}

/* A file that does not hold what its indexes and neighbours promise is an
 * I/O failure as far as a reader is concerned. */
static int read_error(struct plog *log, const struct segment *s, int rc)
{
	if (rc == RN_E_CORRUPT_STATE) {
		LOG_ERROR("storage", "%s: segment %020" PRId64 " is corrupt", log->dir,
			  s->base_offset);
		return RN_E_IO;
	}
	return rc;
}

/* ---- appends ---- */

static bool should_roll(const struct plog *log, const struct segment *s, size_t len,
			int32_t last_offset_delta, int64_t now_ms)
{
	if (s->size_bytes == 0)
		return false;
	if (s->size_bytes + len > log->cfg.segment_bytes)
		return true;
	if (log->cfg.segment_ms > 0 && s->created_ms >= 0 &&
	    now_ms - s->created_ms > log->cfg.segment_ms)
		return true;
	if (s->idx.count >= log->cfg.max_index_entries ||
	    s->tidx.count >= log->cfg.max_index_entries)
		return true;
	/* The active segment's index was sized for the segment.bytes it was
	 * created under; a larger value set since starts a new segment. */
	if (s->idx.mapped && s->idx.writable &&
	    (s->idx.count >= s->idx.cap || s->tidx.count >= s->tidx.cap))
		return true;
	return s->end_offset + last_offset_delta - s->base_offset > PLOG_MAX_RELATIVE_OFFSET;
}

static int roll(struct plog *log)
{
	struct segment *old = plog_active(log);
	int64_t base = old->end_offset;
	int rc = segment_flush_indexes(old, log->dir_fd);
	if (rc)
		return rc;
	struct segment *s;
	rc = segment_create(log->dir_fd, base, log->cfg.index_interval_bytes, log->idx_cap, &s);
	if (rc)
		return rc;
	rc = plog_push_segment(log, s);
	if (rc) {
		segment_unref(s);
		return rc;
	}
	old->closed = true;
	segment_trim_indexes(old);
	segment_release_reserve(old);
	log->closed_bytes += old->size_bytes;
	/* The sync state's reference to the old segment moves to the pending
	 * list, so its data and indexes are fsynced by the next plog_sync. */
	pthread_mutex_lock(&log->sync.lock);
	RN_ASSERT(log->sync.active == old && !old->sync_listed);
	old->sync_next = log->sync.pending;
	old->sync_listed = true;
	log->sync.pending = old;
	log->sync.active = segment_ref(s);
	log->sync.dir_dirty = true;
	pthread_mutex_unlock(&log->sync.lock);
	LOG_DEBUG("storage", "%s: rolled to segment %020" PRId64, log->dir, base);
	return 0;
}

int plog_maybe_roll(struct plog *log, int64_t now_ms)
{
	if (atomic_load(&log->failed))
		return RN_E_IO;
	struct segment *s = plog_active(log);
	if (s->size_bytes == 0 || log->cfg.segment_ms <= 0 || s->created_ms < 0 ||
	    now_ms - s->created_ms <= log->cfg.segment_ms)
		return 0;
	int rc = roll(log);
	if (rc == RN_E_IO)
		atomic_store(&log->failed, true);
	return rc;
}

/* The header must describe exactly len bytes of one batch. */
static int check_batch(const uint8_t *buf, size_t len, struct batch_info *info)
{
	if (!buf || len < BATCH_HEADER_BYTES || len > RN_MAX_BATCH_BYTES)
		return RN_E_INVAL;
	if (batch_peek(buf, len, info) != 0 || info->total_bytes != len ||
	    info->last_offset_delta < 0)
		return RN_E_INVAL;
	return 0;
}

static int append_checked(struct plog *log, uint8_t *stamp_buf, const uint8_t *buf,
			  struct batch_info *info, int32_t leader_epoch, int64_t now_ms,
			  struct plog_append_result *res)
{
	struct segment *s = plog_active(log);
	int rc = 0;
	if (should_roll(log, s, info->total_bytes, info->last_offset_delta, now_ms))
		rc = roll(log);
	if (rc)
		goto fail;
	s = plog_active(log);
	if (stamp_buf) {
		batch_stamp(stamp_buf, s->end_offset, leader_epoch);
		info->base_offset = s->end_offset;
		info->leader_epoch = leader_epoch;
	}
	/* The history entry is durable before the batch reaches the file, so
	 * no batch on disk is ever missing from the history. */
	rc = plog_epochs_note_batch(log, info->leader_epoch, info->base_offset);
	if (rc)
		goto fail;
	uint64_t pos = s->size_bytes;
	rc = segment_write(s, buf, info->total_bytes, log->cfg.segment_bytes);
	if (rc)
		goto fail;
	if (s->created_ms < 0)
		s->created_ms = now_ms;
	segment_note_batch(s, pos, info);
	/* Publish the new end only after the bytes are in the file, so that a
	 * concurrent plog_sync never claims more than it fsyncs. */
	atomic_store_explicit(&log->end_offset, s->end_offset, memory_order_release);
	if (res) {
		res->base_offset = info->base_offset;
		res->last_offset = info->base_offset + info->last_offset_delta;
		res->max_timestamp = info->max_timestamp;
	}
	return 0;
fail:
	if (rc == RN_E_IO) {
		LOG_ERROR("storage", "%s: append failed; the log is read-only until reopened",
			  log->dir);
		atomic_store(&log->failed, true);
	}
	return rc;
}

int plog_append(struct plog *log, uint8_t *buf, size_t len, int32_t leader_epoch, int64_t now_ms,
		struct plog_append_result *res)
{
	if (atomic_load_explicit(&log->failed, memory_order_relaxed))
		return RN_E_IO;
	struct batch_info info;
	int rc = check_batch(buf, len, &info);
	if (rc)
		return rc;
	return append_checked(log, buf, buf, &info, leader_epoch, now_ms, res);
}

int plog_append_as_is(struct plog *log, const uint8_t *buf, size_t len, int64_t now_ms,
		      struct plog_append_result *res)
{
	if (atomic_load_explicit(&log->failed, memory_order_relaxed))
		return RN_E_IO;
	struct batch_info info;
	int rc = check_batch(buf, len, &info);
	if (rc)
		return rc;
	if (info.base_offset != plog_end_offset(log))
		return RN_E_INVAL;
	return append_checked(log, NULL, buf, &info, info.leader_epoch, now_ms, res);
}

/* ---- reads ---- */

static void slice_empty(struct plog_slice *slice, int64_t offset)
{
	slice->fd = -1;
	slice->file_pos = 0;
	slice->len = 0;
	slice->first_offset = offset;
	slice->ref = NULL;
}

/* Where the slice starting at start (its first batch ending at first_end)
 * must end: before the batch holding max_offset and within max_bytes. */
static int slice_end(struct segment *s, struct seg_walker *w, uint64_t start, uint64_t first_end,
		     uint32_t max_bytes, int64_t max_offset, uint64_t *end)
{
	uint64_t off_end = s->size_bytes;
	int rc;
	if (max_offset < s->end_offset) {
		struct batch_info info;
		rc = segment_find_batch(s, w, max_offset, &off_end, &info);
		if (rc)
			return rc;
	}
	uint64_t target = start + max_bytes;
	if (target >= off_end) {
		*end = off_end;
		return 0;
	}
	uint64_t boundary;
	rc = segment_boundary_below(s, w, start, target, &boundary);
	if (rc)
		return rc;
	/* At least one whole batch, so that a reader always makes progress. */
	*end = boundary < first_end ? first_end : boundary;
	return 0;
}

/* Reads moved to segment s: the index pages the previous segment's lookups
 * mapped leave the resident set, so a reader going through old data keeps
 * about one segment's index resident, not all it has passed. */
static void switch_read_segment(struct plog *log, struct segment *s)
{
	int64_t prev = log->read_seg_base;
	log->read_seg_base = s->base_offset;
	if (prev < log->segs[0]->base_offset)
		return;
	struct segment *old = log->segs[find_segment(log, prev)];
	if (old->base_offset == prev && old->closed)
		segment_forget_index_pages(old);
}

int plog_read(struct plog *log, int64_t offset, uint32_t max_bytes, int64_t max_offset,
	      struct plog_slice *slice)
{
	slice_empty(slice, offset);
	int64_t end = plog_end_offset(log);
	if (offset < plog_start_offset(log) || offset > end)
		return RN_E_OFFSET_OUT_OF_RANGE;
	if (offset == end || max_offset <= offset)
		return 0;
	struct segment *s = log->segs[find_segment(log, offset)];
	RN_ASSERT(offset < s->end_offset);
	if (s->base_offset != log->read_seg_base)
		switch_read_segment(log, s);
	struct seg_walker w;
	seg_walker_init(&w, s, log->scan_buf, log->scan_bytes, 0);
	uint64_t start;
	struct batch_info first;
	int rc = segment_find_batch(s, &w, offset, &start, &first);
	if (rc)
		return read_error(log, s, rc);
	if (first.base_offset + first.last_offset_delta >= max_offset)
		return 0;
	uint64_t stop;
	rc = slice_end(s, &w, start, start + first.total_bytes, max_bytes, max_offset, &stop);
	if (rc)
		return read_error(log, s, rc);
	RN_ASSERT(stop > start && stop - start <= UINT32_MAX);
	slice->fd = s->log_fd;
	slice->file_pos = start;
	slice->len = (uint32_t)(stop - start);
	slice->first_offset = first.base_offset;
	slice->ref = segment_ref(s);
	return 0;
}

int plog_slice_copy(const struct plog_slice *slice, uint8_t *buf)
{
	size_t got = 0;
	while (got < slice->len) {
		ssize_t n = pread(slice->fd, buf + got, slice->len - got,
				  (off_t)(slice->file_pos + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			LOG_ERROR("storage", "slice read at %" PRIu64 " failed: %s",
				  slice->file_pos + got, n < 0 ? strerror(errno) : "end of file");
			return RN_E_IO;
		}
		got += (size_t)n;
	}
	return 0;
}

void plog_slice_release(struct plog_slice *slice)
{
	if (slice->ref)
		segment_unref(slice->ref);
	slice->ref = NULL;
	slice->fd = -1;
	slice->len = 0;
}

void *plog_ref_acquire(void *ref)
{
	return ref ? segment_ref(ref) : NULL;
}

void plog_ref_release(void *ref)
{
	if (ref)
		segment_unref(ref);
}

/* ---- timestamps ---- */

/* The first record of the batch at pos with a timestamp >= ts. */
static int first_record_at(struct segment *s, struct seg_walker *w, uint64_t pos,
			   const struct batch_info *info, int64_t ts, int64_t *offset,
			   int64_t *found)
{
	*offset = info->base_offset;
	*found = info->max_timestamp;
	/* With LogAppendTime every record carries the batch's max timestamp. */
	if (info->attributes & BATCH_ATTR_TIMESTAMP_LOG_APPEND)
		return 0;
	const uint8_t *data;
	int rc = seg_walker_bytes(w, pos, info->total_bytes, &data);
	if (rc)
		return rc;
	struct batch_iter it;
	if (batch_iter_init(&it, data, info->total_bytes) != 0)
		return RN_E_CORRUPT_STATE;
	struct record_view rec;
	while ((rc = batch_iter_next(&it, &rec)) == 1) {
		if (rec.timestamp >= ts) {
			*offset = rec.offset;
			*found = rec.timestamp;
			return 0;
		}
	}
	return rc == 0 ? 0 : RN_E_CORRUPT_STATE;
}

static int find_timestamp_in(struct segment *s, struct seg_walker *w, int64_t ts,
			     int64_t *offset, int64_t *found)
{
	uint64_t pos;
	int64_t at;
	segment_lookup_time(s, ts, &pos, &at);
	for (;;) {
		struct batch_info info;
		int rc = seg_walker_header(w, pos, &info);
		if (rc)
			return rc;
		if (info.max_timestamp >= ts)
			return first_record_at(s, w, pos, &info, ts, offset, found);
		pos += info.total_bytes;
	}
}

int plog_offset_for_timestamp(struct plog *log, int64_t timestamp_ms, int64_t *offset,
			      int64_t *found_timestamp)
{
	struct seg_walker w;
	int rc = RN_E_NOT_FOUND;
	seg_walker_init(&w, log->segs[0], NULL, PLOG_SCAN_CHUNK_BYTES, RN_MAX_BATCH_BYTES);
	for (uint32_t i = 0; i < log->seg_count; i++) {
		struct segment *s = log->segs[i];
		int64_t max_ts;
		seg_walker_retarget(&w, s);
		rc = segment_max_timestamp(s, &w, &max_ts);
		if (rc) {
			rc = read_error(log, s, rc);
			break;
		}
		rc = RN_E_NOT_FOUND;
		if (s->size_bytes == 0 || max_ts < timestamp_ms)
			continue;
		rc = find_timestamp_in(s, &w, timestamp_ms, offset, found_timestamp);
		if (rc)
			rc = read_error(log, s, rc);
		break;
	}
	seg_walker_free(&w);
	return rc;
}

/* ---- truncation ---- */

/* Position of the batch starting exactly at offset, or RN_E_INVAL. */
static int batch_start(struct plog *log, struct segment *s, int64_t offset, uint64_t *pos)
{
	if (offset == s->base_offset) {
		*pos = 0;
		return 0;
	}
	if (offset == s->end_offset) {
		*pos = s->size_bytes;
		return 0;
	}
	struct seg_walker w;
	struct batch_info info;
	seg_walker_init(&w, s, log->scan_buf, log->scan_bytes, 0);
	int rc = segment_find_batch(s, &w, offset, pos, &info);
	if (rc)
		return read_error(log, s, rc);
	return info.base_offset == offset ? 0 : RN_E_INVAL;
}

int plog_truncate(struct plog *log, int64_t offset)
{
	if (atomic_load(&log->failed))
		return RN_E_IO;
	int64_t end = plog_end_offset(log);
	if (offset < plog_start_offset(log) || offset > end)
		return RN_E_OFFSET_OUT_OF_RANGE;
	/* Nothing to cut, but an epoch assigned at the end without a batch goes:
	 * a follower told that its log diverges must stop naming that epoch as
	 * its last, or it would be told so again forever. */
	if (offset == end)
		return plog_epochs_truncate(log, offset);
	uint32_t i = find_segment(log, offset);
	struct segment *s = log->segs[i];
	uint64_t pos;
	int rc = batch_start(log, s, offset, &pos);
	if (rc)
		return rc;
	LOG_WARN("storage",
		 "%s: truncating from offset %" PRId64 " (end was %" PRId64 "): %" PRIu64
		 " bytes removed from segment %020" PRId64 " and %u later segments removed",
		 log->dir, offset, end, s->size_bytes - pos, s->base_offset,
		 log->seg_count - i - 1);
	bool dropped = i + 1 < log->seg_count;
	plog_drop_segments(log, i + 1);
	struct seg_walker w;
	seg_walker_init(&w, s, log->scan_buf, log->scan_bytes, 0);
	rc = segment_make_active(s, log->dir_fd, log->idx_cap);
	if (rc == 0)
		rc = segment_truncate(s, &w, pos, offset);
	plog_count_closed_bytes(log);
	pthread_mutex_lock(&log->sync.lock);
	if (log->sync.active != s) {
		/* s was closed.  If it still waits in the pending list for an
		 * fsync, its reference there becomes the active one: an active
		 * segment is never listed, and plog_sync covers it as active. */
		if (s->sync_listed) {
			struct segment **pp = &log->sync.pending;
			while (*pp != s)
				pp = &(*pp)->sync_next;
			*pp = s->sync_next;
			s->sync_next = NULL;
			s->sync_listed = false;
		} else {
			segment_ref(s);
		}
		segment_unref(log->sync.active);
		log->sync.active = s;
	}
	log->sync.generation++;
	log->sync.dir_dirty |= dropped;
	if (atomic_load(&log->synced_end) > offset)
		atomic_store(&log->synced_end, offset);
	pthread_mutex_unlock(&log->sync.lock);
	atomic_store_explicit(&log->end_offset, offset, memory_order_release);
	if (log->clean_end > offset)
		log->clean_end = offset; /* the cleaner checkpoint (plog_clean.c) */
	if (rc) {
		LOG_ERROR("storage", "%s: truncation failed; the log is read-only", log->dir);
		atomic_store(&log->failed, true);
		return read_error(log, s, rc);
	}
	/* A crash between the cut and this rewrite is harmless: the next open
	 * drops history entries past the recovered end. */
	rc = plog_epochs_truncate(log, offset);
	if (rc)
		atomic_store(&log->failed, true);
	return rc;
}

/* ---- durability ---- */

int64_t plog_synced_end(const struct plog *log)
{
	return atomic_load_explicit(&log->synced_end, memory_order_acquire);
}

/* Takes what plog_sync needs under the state lock: the active segment, the
 * segments closed since the last sync, and the end offset to publish. */
static int sync_snapshot(struct plog *log, struct segment **active, struct segment ***closed,
			 uint32_t *closed_count, bool *dir, int64_t *end, uint64_t *gen)
{
	pthread_mutex_lock(&log->sync.lock);
	uint32_t n = 0;
	for (struct segment *s = log->sync.pending; s; s = s->sync_next)
		n++;
	struct segment **list = NULL;
	if (n > 0 && !(list = malloc(n * sizeof(*list)))) {
		pthread_mutex_unlock(&log->sync.lock);
		return RN_E_NOMEM;
	}
	n = 0;
	while (log->sync.pending) {
		struct segment *s = log->sync.pending;
		log->sync.pending = s->sync_next;
		s->sync_next = NULL;
		s->sync_listed = false;
		list[n++] = s;
	}
	*active = segment_ref(log->sync.active);
	*closed = list;
	*closed_count = n;
	*dir = log->sync.dir_dirty;
	log->sync.dir_dirty = false;
	*end = atomic_load_explicit(&log->end_offset, memory_order_acquire);
	*gen = log->sync.generation;
	pthread_mutex_unlock(&log->sync.lock);
	return 0;
}

int plog_sync(struct plog *log, int64_t *synced_end)
{
	pthread_mutex_lock(&log->sync.sync_lock);
	struct segment *active, **closed;
	uint32_t n;
	bool dir;
	int64_t end;
	uint64_t gen;
	int rc = 0;
	if (atomic_load(&log->destroyed))
		goto out;
	rc = sync_snapshot(log, &active, &closed, &n, &dir, &end, &gen);
	if (rc)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = segment_sync(closed[i], true);
		segment_unref(closed[i]);
	}
	free(closed);
	if (rc == 0)
		rc = segment_sync(active, false);
	segment_unref(active);
	if (rc == 0 && dir)
		rc = plog_sync_dir(log);
	if (rc) {
		/* After a failed fsync the kernel may have dropped the dirty pages;
		 * retrying cannot prove durability, so the log stops taking writes. */
		atomic_store(&log->failed, true);
		goto out;
	}
	pthread_mutex_lock(&log->sync.lock);
	if (gen == log->sync.generation && end > atomic_load(&log->synced_end))
		atomic_store_explicit(&log->synced_end, end, memory_order_release);
	pthread_mutex_unlock(&log->sync.lock);
out:
	if (synced_end)
		*synced_end = plog_synced_end(log);
	pthread_mutex_unlock(&log->sync.sync_lock);
	return rc;
}

/* ---- close and destroy ---- */

static int write_clean_marker(struct plog *log)
{
	int fd = openat(log->dir_fd, PLOG_CLEAN_MARKER, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);
	if (fd < 0) {
		LOG_ERROR("storage", "%s: cannot write the clean shutdown marker: %s", log->dir,
			  strerror(errno));
		return RN_E_IO;
	}
	int rc = fsync(fd) == 0 ? 0 : RN_E_IO;
	close(fd);
	if (rc == 0)
		rc = plog_sync_dir(log);
	return rc;
}

void plog_close(struct plog *log)
{
	if (!log)
		return;
	/* The marker promises the next open that every file is complete and
	 * durable, so it is written only after all of them are fsynced. */
	if (!atomic_load(&log->failed)) {
		struct segment *s = plog_active(log);
		int rc = segment_flush_indexes(s, log->dir_fd);
		if (rc == 0)
			rc = plog_sync(log, NULL);
		if (rc == 0)
			rc = segment_sync(s, true);
		if (rc == 0)
			rc = write_clean_marker(log);
		if (rc)
			LOG_ERROR("storage", "%s: closed without a clean shutdown marker",
				  log->dir);
	}
	plog_unref(log);
}

DIR *plog_opendir(struct plog *log)
{
	int fd = dup(log->dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* The duplicate shares its position with dir_fd: start from the top. */
	rewinddir(d);
	return d;
}

/* Removes every entry of the (flat) log directory. */
static int remove_dir_entries(struct plog *log)
{
	DIR *d = plog_opendir(log);
	if (!d)
		return RN_E_IO;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(log->dir_fd, e->d_name, 0) != 0 &&
		    unlinkat(log->dir_fd, e->d_name, AT_REMOVEDIR) != 0) {
			LOG_ERROR("storage", "%s: cannot remove %s: %s", log->dir, e->d_name,
				  strerror(errno));
			rc = RN_E_IO;
		}
	}
	closedir(d);
	return rc;
}

int plog_destroy(struct plog *log)
{
	atomic_store(&log->destroyed, true);
	atomic_store(&log->failed, true);
	int rc = remove_dir_entries(log);
	if (rc == 0 && rmdir(log->dir) != 0) {
		LOG_ERROR("storage", "%s: cannot remove the directory: %s", log->dir,
			  strerror(errno));
		rc = RN_E_IO;
	}
	plog_unref(log);
	return rc;
}
