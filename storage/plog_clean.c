/* plog_clean.c: compaction of a partition log's closed segments, and its crash-safe swap. */
#include "storage/plog.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/cleaner.h"
#include "storage/file_io.h"
#include "storage/plog_internal.h"
#include "storage/storage_limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECKPOINT_TMP PLOG_CLEANER_CHECKPOINT_FILE ".tmp"
/* Longest checkpoint file: one decimal offset and a newline. */
#define CHECKPOINT_MAX_BYTES 32u

static const char *const seg_exts[] = {"log", "index", "timeindex"};

/* One closed segment of a job: the one the log had, and its replacement. */
struct clean_seg {
	struct segment *old;
	struct segment *fresh; /* NULL: left as it is */
};

struct plog_clean_job {
	struct plog *log; /* held */
	struct plog_clean_params params;
	uint64_t generation;
	int64_t checkpoint;
	struct clean_seg *segs;
	uint32_t count;
	int tmp_fd;
	atomic_bool abort;
	bool ran;
	struct plog_clean_stats stats;
	/* the output segment being written by emit */
	struct segment *out;
};

/* ---- the checkpoint ---- */

static int64_t read_checkpoint(struct plog *log)
{
	int fd = openat(log->dir_fd, PLOG_CLEANER_CHECKPOINT_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[CHECKPOINT_MAX_BYTES + 1];
	ssize_t n = read(fd, buf, CHECKPOINT_MAX_BYTES);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *end;
	long long v = strtoll(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || v < 0) {
		LOG_WARN("storage", "%s: unreadable %s; the whole log counts as dirty", log->dir,
			 PLOG_CLEANER_CHECKPOINT_FILE);
		return 0;
	}
	return v;
}

int64_t plog_clean_checkpoint(struct plog *log)
{
	if (!log->clean_end_loaded) {
		log->clean_end = read_checkpoint(log);
		log->clean_end_loaded = true;
	}
	/* A truncation or a removal of old segments may leave it outside. */
	int64_t start = plog_start_offset(log), active = plog_active(log)->base_offset;
	if (log->clean_end > active)
		log->clean_end = active;
	if (log->clean_end < start)
		log->clean_end = start;
	return log->clean_end;
}

void plog_clean_dirty(struct plog *log, uint64_t *dirty_bytes, uint64_t *closed_bytes)
{
	int64_t cp = plog_clean_checkpoint(log);
	uint64_t dirty = 0;
	for (uint32_t i = 0; i + 1 < log->seg_count; i++)
		if (log->segs[i]->end_offset > cp)
			dirty += log->segs[i]->size_bytes;
	*dirty_bytes = dirty;
	*closed_bytes = log->closed_bytes;
}

/* Writes the new checkpoint to its temporary file and fsyncs it; the swap
 * renames it into place. */
static int write_checkpoint_tmp(struct plog_clean_job *job, int64_t offset)
{
	struct plog *log = job->log;
	char buf[CHECKPOINT_MAX_BYTES];
	int len = snprintf(buf, sizeof(buf), "%" PRId64 "\n", offset);
	if (file_write_synced(log->dir_fd, CHECKPOINT_TMP, buf, (size_t)len) == 0)
		return 0;
	LOG_ERROR("storage", "%s: cannot write %s: %s", log->dir, CHECKPOINT_TMP,
		  strerror(errno));
	return RN_E_IO;
}

/* ---- recovery at open ---- */

static bool has_suffix(const char *name, const char *suffix, size_t *stem)
{
	size_t n = strlen(name), s = strlen(suffix);
	if (n <= s || strcmp(name + n - s, suffix) != 0)
		return false;
	*stem = n - s;
	return true;
}

static void unlink_logged(struct plog *log, int dir_fd, const char *name, int flags)
{
	if (unlinkat(dir_fd, name, flags) != 0 && errno != ENOENT)
		LOG_ERROR("storage", "%s: cannot remove %s: %s", log->dir, name, strerror(errno));
}

/* Removes the cleaner's temporary directory and what it holds. */
static void remove_tmp_dir(struct plog *log)
{
	int fd = openat(log->dir_fd, PLOG_CLEAN_TMP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlink_logged(log, dirfd(d), e->d_name, 0);
	closedir(d);
	unlink_logged(log, log->dir_fd, PLOG_CLEAN_TMP_DIR, AT_REMOVEDIR);
}

/* Completes the swap of segment base: each file with a .swap replaces the
 * old one, and an old index without a .swap goes (it is rebuilt). */
static int complete_swap(struct plog *log, int64_t base)
{
	for (unsigned i = 0; i < RN_ARRAY_LEN(seg_exts); i++) {
		char name[SEG_NAME_MAX], swap[SEG_NAME_MAX + 16];
		seg_file_name(name, base, seg_exts[i]);
		snprintf(swap, sizeof(swap), "%s.swap", name);
		if (renameat(log->dir_fd, swap, log->dir_fd, name) == 0)
			continue;
		if (errno != ENOENT) {
			LOG_ERROR("storage", "%s: cannot complete the swap of %s: %s", log->dir,
				  name, strerror(errno));
			return RN_E_IO;
		}
		unlink_logged(log, log->dir_fd, name, 0);
	}
	LOG_WARN("storage", "%s: completed the interrupted swap of cleaned segment %020" PRId64,
		 log->dir, base);
	return 0;
}

/* One pass over the directory: what suffix, and what to do. */
static int recover_pass(struct plog *log, int pass)
{
	DIR *d = plog_opendir(log);
	if (!d)
		return RN_E_IO;
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t stem;
		char base_name[SEG_NAME_MAX + 16];
		int64_t base;
		const char *ext;
		if (pass == 0 && (has_suffix(e->d_name, ".cleaned", &stem) ||
				  strcmp(e->d_name, CHECKPOINT_TMP) == 0)) {
			unlink_logged(log, log->dir_fd, e->d_name, 0);
		} else if (pass == 1 && has_suffix(e->d_name, ".swap", &stem) &&
			   stem < sizeof(base_name)) {
			memcpy(base_name, e->d_name, stem);
			base_name[stem] = '\0';
			if (!seg_parse_name(base_name, &base, &ext) || strcmp(ext, "log") != 0)
				continue;
			rc = complete_swap(log, base);
		} else if (pass == 2 && (has_suffix(e->d_name, ".deleted", &stem) ||
					 has_suffix(e->d_name, ".swap", &stem))) {
			/* A .swap left now belongs to no .log.swap: its swap had
			 * not begun, and the old file is intact. */
			unlink_logged(log, log->dir_fd, e->d_name, 0);
		}
	}
	closedir(d);
	return rc;
}

int plog_clean_recover(struct plog *log)
{
	remove_tmp_dir(log);
	int rc = 0;
	/* The .swap of a segment's .log is the commit point of its swap. */
	for (int pass = 0; rc == 0 && pass < 3; pass++)
		rc = recover_pass(log, pass);
	return rc == 0 ? plog_sync_dir(log) : rc;
}

/* ---- begin ---- */

int plog_clean_begin(struct plog *log, const struct plog_clean_params *params,
		     struct plog_clean_job **out)
{
	if (atomic_load(&log->failed))
		return RN_E_IO;
	if (log->seg_count < 2)
		return RN_E_NOT_FOUND;
	struct plog_clean_job *job = calloc(1, sizeof(*job));
	uint32_t n = log->seg_count - 1;
	if (!job || !(job->segs = calloc(n, sizeof(*job->segs)))) {
		free(job);
		return RN_E_NOMEM;
	}
	job->params = *params;
	job->checkpoint = plog_clean_checkpoint(log);
	job->tmp_fd = -1;
	atomic_init(&job->abort, false);
	for (uint32_t i = 0; i < n; i++)
		job->segs[i].old = segment_ref(log->segs[i]);
	job->count = n;
	pthread_mutex_lock(&log->sync.lock);
	job->generation = log->sync.generation;
	pthread_mutex_unlock(&log->sync.lock);
	plog_hold(log);
	job->log = log;
	*out = job;
	return 0;
}

void plog_clean_abort(struct plog_clean_job *job)
{
	atomic_store(&job->abort, true);
}

/* ---- run: the key map ---- */

/* Adds the keys of the dirty batches of segment s (from the checkpoint) to
 * the map, stopping at a batch too young or too big for the map's room.
 * Returns 0 with *end the offset the map covers up to, *stopped when it
 * stopped early, or an error. */
static int map_segment(struct plog_clean_job *job, struct segment *s, struct seg_walker *w,
		       struct cleaner_map *map, int64_t *end, bool *stopped)
{
	int64_t young = job->params.now_ms - job->params.min_compaction_lag_ms;
	uint64_t pos = 0;
	seg_walker_retarget(w, s);
	while (pos < s->size_bytes) {
		struct batch_info info;
		const uint8_t *data;
		if (atomic_load_explicit(&job->abort, memory_order_relaxed))
			return RN_E_CLOSED;
		int rc = seg_walker_header(w, pos, &info);
		if (rc)
			return rc;
		int64_t next = info.base_offset + info.last_offset_delta + 1;
		if (next <= job->checkpoint) {
			pos += info.total_bytes;
			continue;
		}
		if (info.max_timestamp > young || (uint32_t)info.record_count > cleaner_map_room(map)) {
			*stopped = true;
			return 0;
		}
		rc = seg_walker_bytes(w, pos, info.total_bytes, &data);
		if (rc)
			return rc;
		struct batch_iter it;
		struct record_view rec;
		if (batch_validate(data, info.total_bytes, RN_MAX_RECORDS_PER_BATCH, &info) != 0 ||
		    batch_iter_init(&it, data, info.total_bytes) != 0)
			return RN_E_CORRUPT_STATE;
		while ((rc = batch_iter_next(&it, &rec)) == 1)
			if (rec.key_len >= 0)
				RN_ASSERT(cleaner_map_put(map, rec.key, rec.key_len, rec.offset,
						  rec.value_len < 0) == 0);
		if (rc < 0)
			return RN_E_CORRUPT_STATE;
		*end = next;
		pos += info.total_bytes;
	}
	return 0;
}

static int build_map(struct plog_clean_job *job, struct seg_walker *w, struct cleaner_map *map,
		     int64_t *map_end)
{
	*map_end = job->checkpoint;
	bool stopped = false;
	for (uint32_t i = 0; i < job->count && !stopped; i++) {
		struct segment *s = job->segs[i].old;
		if (s->end_offset <= job->checkpoint)
			continue;
		int rc = map_segment(job, s, w, map, map_end, &stopped);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- run: rewriting segments ---- */

static int emit_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct plog_clean_job *job = arg;
	struct segment *s = job->out;
	struct batch_info info;
	if (batch_peek(buf, len, &info) != 0 || info.total_bytes != len)
		return RN_E_CORRUPT_STATE;
	uint64_t pos = s->size_bytes;
	int rc = segment_write(s, buf, len, job->log->cfg.segment_bytes);
	if (rc)
		return rc;
	segment_note_batch(s, pos, &info);
	return 0;
}

/* Moves the output files of segment base from the temporary directory
 * beside the log as "*.cleaned". */
static int move_cleaned(struct plog_clean_job *job, int64_t base)
{
	for (unsigned i = 0; i < RN_ARRAY_LEN(seg_exts); i++) {
		char name[SEG_NAME_MAX], cleaned[SEG_NAME_MAX + 16];
		seg_file_name(name, base, seg_exts[i]);
		snprintf(cleaned, sizeof(cleaned), "%s.cleaned", name);
		if (renameat(job->tmp_fd, name, job->log->dir_fd, cleaned) != 0) {
			LOG_ERROR("storage", "%s: cannot move %s: %s", job->log->dir, cleaned,
				  strerror(errno));
			return RN_E_IO;
		}
	}
	return 0;
}

static void unlink_tmp(struct plog_clean_job *job, int64_t base)
{
	for (unsigned i = 0; i < RN_ARRAY_LEN(seg_exts); i++) {
		char name[SEG_NAME_MAX];
		seg_file_name(name, base, seg_exts[i]);
		unlinkat(job->tmp_fd, name, 0);
	}
}

/* Seals the written output segment: indexes cut to size and read-only,
 * everything fsynced. */
static int seal_output(struct plog_clean_job *job, struct segment *out,
		       const struct segment *old)
{
	int rc = segment_flush_indexes(out, job->tmp_fd);
	if (rc)
		return rc;
	segment_release_reserve(out);
	segment_trim_indexes(out);
	rc = segment_sync(out, true);
	if (rc)
		return rc;
	if (out->end_offset != old->end_offset) {
		LOG_ERROR("storage",
			  "%s: cleaned segment %020" PRId64 " ends at %" PRId64 ", not %" PRId64,
			  job->log->dir, old->base_offset, out->end_offset, old->end_offset);
		return RN_E_CORRUPT_STATE;
	}
	out->closed = true;
	out->created_ms = old->created_ms;
	return 0;
}

/* Rewrites segment i into the temporary directory; keeps the result when a
 * record went and the segment did not grow. */
static int clean_segment(struct plog_clean_job *job, uint32_t i, struct seg_walker *w,
			 struct cleaner_writer *cw, const struct cleaner_rules *rules)
{
	struct segment *old = job->segs[i].old;
	struct plog *log = job->log;
	struct segment *out;
	int rc = segment_create(job->tmp_fd, old->base_offset, log->cfg.index_interval_bytes,
				log->idx_cap, &out);
	if (rc)
		return rc;
	job->out = out;
	uint64_t in_before = cw->records_in, out_before = cw->records_out;
	bool changed = false;
	uint64_t pos = 0;
	seg_walker_retarget(w, old);
	while (rc == 0 && pos < old->size_bytes) {
		struct batch_info info;
		const uint8_t *data;
		bool c = false;
		if (atomic_load_explicit(&job->abort, memory_order_relaxed)) {
			rc = RN_E_CLOSED;
			break;
		}
		rc = seg_walker_header(w, pos, &info);
		if (rc == 0)
			rc = seg_walker_bytes(w, pos, info.total_bytes, &data);
		if (rc == 0 &&
		    batch_validate(data, info.total_bytes, RN_MAX_RECORDS_PER_BATCH, &info) != 0)
			rc = RN_E_CORRUPT_STATE;
		if (rc == 0)
			rc = cleaner_rewrite_batch(cw, rules, data, info.total_bytes, &c);
		changed |= c;
		pos += info.total_bytes;
	}
	if (rc == 0)
		rc = cleaner_writer_flush(cw);
	bool keep = rc == 0 && changed && out->size_bytes < old->size_bytes;
	if (keep)
		rc = seal_output(job, out, old);
	if (rc == 0 && keep)
		rc = move_cleaned(job, old->base_offset);
	job->out = NULL;
	if (rc || !keep) {
		unlink_tmp(job, old->base_offset);
		segment_unref(out);
		return rc;
	}
	job->segs[i].fresh = out;
	job->stats.segments++;
	job->stats.records_in += cw->records_in - in_before;
	job->stats.records_out += cw->records_out - out_before;
	job->stats.bytes_in += old->size_bytes;
	job->stats.bytes_out += out->size_bytes;
	return 0;
}

static int open_tmp_dir(struct plog_clean_job *job)
{
	struct plog *log = job->log;
	if (mkdirat(log->dir_fd, PLOG_CLEAN_TMP_DIR, 0755) != 0 && errno != EEXIST)
		goto fail;
	job->tmp_fd = openat(log->dir_fd, PLOG_CLEAN_TMP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (job->tmp_fd >= 0)
		return 0;
fail:
	LOG_ERROR("storage", "%s: cannot create %s: %s", log->dir, PLOG_CLEAN_TMP_DIR,
		  strerror(errno));
	return RN_E_IO;
}

static int rewrite_all(struct plog_clean_job *job, struct seg_walker *w,
		       const struct cleaner_rules *rules)
{
	struct cleaner_writer cw;
	int rc = cleaner_writer_init(&cw, emit_cb, job);
	if (rc)
		return rc;
	rc = open_tmp_dir(job);
	for (uint32_t i = 0; rc == 0 && i < job->count; i++) {
		if (job->segs[i].old->base_offset >= rules->map_end)
			break;
		rc = clean_segment(job, i, w, &cw, rules);
	}
	cleaner_writer_destroy(&cw);
	return rc;
}

int plog_clean_run(struct plog_clean_job *job)
{
	RN_ASSERT(!job->ran);
	job->ran = true;
	struct cleaner_map *map;
	uint32_t buckets = job->params.map_buckets ? job->params.map_buckets
						   : CLEANER_MAP_DEFAULT_BUCKETS;
	int rc = cleaner_map_create(buckets, &map);
	if (rc)
		return rc;
	struct seg_walker w;
	seg_walker_init(&w, job->segs[0].old, NULL, PLOG_RECOVERY_CHUNK_BYTES, RN_MAX_BATCH_BYTES);
	int64_t map_end;
	rc = build_map(job, &w, map, &map_end);
	if (rc == 0 && map_end <= job->checkpoint)
		rc = RN_E_NOT_FOUND;
	if (rc == 0) {
		struct cleaner_rules rules = {
			.map = map,
			.map_end = map_end,
			.delete_before_ms = job->params.now_ms - job->params.delete_retention_ms,
		};
		job->stats.first_offset = job->segs[0].old->base_offset;
		job->stats.end_offset = map_end;
		rc = rewrite_all(job, &w, &rules);
	}
	if (rc == 0)
		rc = write_checkpoint_tmp(job, map_end);
	seg_walker_free(&w);
	cleaner_map_free(map);
	return rc;
}

/* ---- finish: the swap ---- */

/* The old segment of the job is still in the log, closed, where it was. */
static bool still_there(struct plog *log, const struct segment *old)
{
	for (uint32_t i = 0; i + 1 < log->seg_count; i++)
		if (log->segs[i] == old)
			return old->closed;
	return false;
}

static int rename_ext(struct plog *log, int64_t base, const char *ext, const char *from_sfx,
		      const char *to_sfx)
{
	char name[SEG_NAME_MAX], from[SEG_NAME_MAX + 16], to[SEG_NAME_MAX + 16];
	seg_file_name(name, base, ext);
	snprintf(from, sizeof(from), "%s%s", name, from_sfx);
	snprintf(to, sizeof(to), "%s%s", name, to_sfx);
	if (renameat(log->dir_fd, from, log->dir_fd, to) == 0)
		return 0;
	LOG_ERROR("storage", "%s: cannot rename %s to %s: %s", log->dir, from, to,
		  strerror(errno));
	return RN_E_IO;
}

/* Renames ext's file of every replaced segment. */
static int rename_all(struct plog_clean_job *job, const char *ext, const char *from_sfx,
		      const char *to_sfx)
{
	for (uint32_t i = 0; i < job->count; i++) {
		if (!job->segs[i].fresh)
			continue;
		int rc = rename_ext(job->log, job->segs[i].old->base_offset, ext, from_sfx, to_sfx);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * The files' part of the swap.  The indexes become .swap first and the
 * .log last: a segment's .log.swap, once durable, is the commit point
 * after which recovery completes its swap.  Then the old files become
 * .deleted, the .swap files take the final names, the checkpoint moves in,
 * and the .deleted files go.
 */
static int swap_files(struct plog_clean_job *job)
{
	struct plog *log = job->log;
	int stop = job->params.stop_stage;
	int rc = 0;
	if (stop == PLOG_CLEAN_STOP_CLEANED)
		return 0;
	for (unsigned e = 1; rc == 0 && e < RN_ARRAY_LEN(seg_exts); e++)
		rc = rename_all(job, seg_exts[e], ".cleaned", ".swap");
	if (rc == 0)
		rc = plog_sync_dir(log);
	if (rc == 0)
		rc = rename_all(job, "log", ".cleaned", ".swap");
	if (rc == 0)
		rc = plog_sync_dir(log);
	if (rc || stop == PLOG_CLEAN_STOP_SWAP)
		return rc;
	for (unsigned e = 0; rc == 0 && e < RN_ARRAY_LEN(seg_exts); e++)
		rc = rename_all(job, seg_exts[e], "", ".deleted");
	if (rc || stop == PLOG_CLEAN_STOP_DELETED)
		return rc;
	for (unsigned e = 0; rc == 0 && e < RN_ARRAY_LEN(seg_exts); e++)
		rc = rename_all(job, seg_exts[e], ".swap", "");
	if (rc == 0 && renameat(log->dir_fd, CHECKPOINT_TMP, log->dir_fd,
				PLOG_CLEANER_CHECKPOINT_FILE) != 0) {
		LOG_ERROR("storage", "%s: cannot rename %s: %s", log->dir, CHECKPOINT_TMP,
			  strerror(errno));
		rc = RN_E_IO;
	}
	if (rc == 0)
		rc = plog_sync_dir(log);
	for (uint32_t i = 0; rc == 0 && i < job->count; i++) {
		if (!job->segs[i].fresh)
			continue;
		for (unsigned e = 0; e < RN_ARRAY_LEN(seg_exts); e++) {
			char name[SEG_NAME_MAX], del[SEG_NAME_MAX + 16];
			seg_file_name(name, job->segs[i].old->base_offset, seg_exts[e]);
			snprintf(del, sizeof(del), "%s.deleted", name);
			unlink_logged(log, log->dir_fd, del, 0);
		}
	}
	return rc;
}

/* Puts the cleaned segments in the old ones' places in the log. */
static void swap_memory(struct plog_clean_job *job)
{
	struct plog *log = job->log;
	for (uint32_t i = 0; i < job->count; i++) {
		struct clean_seg *cs = &job->segs[i];
		if (!cs->fresh)
			continue;
		for (uint32_t k = 0; k + 1 < log->seg_count; k++) {
			if (log->segs[k] != cs->old)
				continue;
			/* Readers holding a slice of the old segment keep its
			 * file open and go on reading the old bytes. */
			log->segs[k] = cs->fresh;
			cs->fresh = NULL;
			segment_unref(cs->old);
			break;
		}
	}
	plog_count_closed_bytes(log);
}

int plog_clean_finish(struct plog *log, struct plog_clean_job *job,
		      struct plog_clean_stats *stats)
{
	RN_ASSERT(job->log == log && job->ran);
	if (atomic_load(&log->failed))
		return RN_E_IO;
	pthread_mutex_lock(&log->sync.lock);
	bool same = job->generation == log->sync.generation;
	pthread_mutex_unlock(&log->sync.lock);
	for (uint32_t i = 0; same && i < job->count; i++)
		if (job->segs[i].fresh && !still_there(log, job->segs[i].old))
			same = false;
	if (!same) {
		LOG_INFO("storage", "%s: the log changed while it was cleaned; cleaning again later",
			 log->dir);
		return RN_E_AGAIN;
	}
	int rc = swap_files(job);
	if (rc) {
		LOG_ERROR("storage", "%s: the swap of cleaned segments failed; the log is read-only "
				     "until reopened",
			  log->dir);
		atomic_store(&log->failed, true);
		return rc;
	}
	if (job->params.stop_stage)
		return 0;
	swap_memory(job);
	log->clean_end = job->stats.end_offset;
	log->clean_end_loaded = true;
	if (stats)
		*stats = job->stats;
	return 0;
}

void plog_clean_job_free(struct plog_clean_job *job)
{
	if (!job)
		return;
	struct plog *log = job->log;
	for (uint32_t i = 0; i < job->count; i++) {
		struct clean_seg *cs = &job->segs[i];
		if (cs->fresh && !job->params.stop_stage) {
			/* Not swapped in: its .cleaned files go. */
			for (unsigned e = 0; e < RN_ARRAY_LEN(seg_exts); e++) {
				char name[SEG_NAME_MAX], cl[SEG_NAME_MAX + 16];
				seg_file_name(name, cs->old->base_offset, seg_exts[e]);
				snprintf(cl, sizeof(cl), "%s.cleaned", name);
				unlinkat(log->dir_fd, cl, 0);
			}
		}
		segment_unref(cs->fresh);
		segment_unref(cs->old);
	}
	if (job->tmp_fd >= 0) {
		close(job->tmp_fd);
		if (!atomic_load(&log->destroyed))
			unlinkat(log->dir_fd, PLOG_CLEAN_TMP_DIR, AT_REMOVEDIR);
	}
	free(job->segs);
	plog_unhold(log);
	free(job);
}

int plog_clean(struct plog *log, const struct plog_clean_params *params,
	       struct plog_clean_stats *stats)
{
	struct plog_clean_job *job;
	int rc = plog_clean_begin(log, params, &job);
	if (rc)
		return rc;
	rc = plog_clean_run(job);
	if (rc == 0)
		rc = plog_clean_finish(log, job, stats);
	plog_clean_job_free(job);
	return rc;
}
