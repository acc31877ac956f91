/* pstate_store.c: producer-state snapshot files, and rebuilding the state from them and the log. */
#include "broker/pstate_store.h"

#include "storage/file_io.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "wire/batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OFFSET_DIGITS 20
/* dir + "/" + 20 digits + the longest suffix. */
#define PATH_BYTES (PATH_MAX + 64)

/* The offset a snapshot file name stands for, or -1 for any other name. */
static int64_t name_offset(const char *name, const char *suffix)
{
	size_t n = strlen(name);
	if (n != OFFSET_DIGITS + strlen(suffix) || strcmp(name + OFFSET_DIGITS, suffix) != 0)
		return -1;
	int64_t v = 0;
	for (int i = 0; i < OFFSET_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

static int snapshot_path(const char *dir, int64_t offset, const char *suffix, char *out,
			 size_t cap)
{
	int len = snprintf(out, cap, "%s/%020" PRId64 "%s", dir, offset, suffix);
	return (len < 0 || (size_t)len >= cap) ? RN_E_INVAL : RN_OK;
}

/*
 * The cap largest snapshot offsets of dir at or below max_offset, newest
 * first, in out[0..*count).  Returns 0 or RN_E_IO.
 */
static int list_snapshots(const char *dir, int64_t max_offset, int64_t *out, uint32_t cap,
			  uint32_t *count)
{
	*count = 0;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? RN_OK : RN_E_IO;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int64_t off = name_offset(e->d_name, PSTATE_STORE_SUFFIX);
		if (off < 0 || off > max_offset)
			continue;
		/* Insertion into a short array sorted newest first. */
		uint32_t at = *count;
		while (at > 0 && out[at - 1] < off)
			at--;
		if (at >= cap)
			continue;
		uint32_t last = *count < cap ? *count : cap - 1;
		memmove(&out[at + 1], &out[at], (last - at) * sizeof(*out));
		out[at] = off;
		if (*count < cap)
			(*count)++;
	}
	closedir(d);
	return RN_OK;
}

/* Deletes the snapshots of dir outside [keep_from, keep_to], and any
 * temporary file an interrupted write left. */
static int remove_outside(const char *dir, int64_t keep_from, int64_t keep_to)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? RN_OK : RN_E_IO;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int64_t off = name_offset(e->d_name, PSTATE_STORE_SUFFIX);
		bool tmp = name_offset(e->d_name, PSTATE_STORE_TMP_SUFFIX) >= 0;
		if (!tmp && (off < 0 || (off >= keep_from && off <= keep_to)))
			continue;
		char path[PATH_BYTES];
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) != 0 && errno != ENOENT)
			LOG_WARN("pstate", "cannot delete %s: %s", path, strerror(errno));
	}
	closedir(d);
	return RN_OK;
}

int pstate_store_remove_above(const char *dir, int64_t offset)
{
	return remove_outside(dir, 0, offset);
}

/* Keeps only the PSTATE_KEEP_SNAPSHOTS newest snapshots. */
static void prune(const char *dir)
{
	int64_t newest[PSTATE_KEEP_SNAPSHOTS];
	uint32_t count = 0;
	if (list_snapshots(dir, INT64_MAX, newest, PSTATE_KEEP_SNAPSHOTS, &count) != RN_OK ||
	    count < PSTATE_KEEP_SNAPSHOTS)
		return;
	remove_outside(dir, newest[count - 1], INT64_MAX);
}

int pstate_store_write(const char *dir, const struct pstate *s, int64_t end_offset)
{
	RN_ASSERT(end_offset >= 0);
	char tmp[PATH_BYTES], path[PATH_BYTES];
	if (snapshot_path(dir, end_offset, PSTATE_STORE_TMP_SUFFIX, tmp, sizeof(tmp)) != RN_OK ||
	    snapshot_path(dir, end_offset, PSTATE_STORE_SUFFIX, path, sizeof(path)) != RN_OK)
		return RN_E_INVAL;
	size_t len = pstate_snapshot_size(s);
	uint8_t *buf = malloc(len);
	if (!buf)
		return RN_E_NOMEM;
	pstate_snapshot_write(s, end_offset, buf);
	/* The data is durable before the name points at it, so a snapshot
	 * that exists under its final name is whole (the CRC checks it
	 * anyway). */
	int rc = file_write_synced(AT_FDCWD, tmp, buf, len);
	if (rc == RN_OK && rename(tmp, path) != 0)
		rc = RN_E_IO;
	if (rc != RN_OK) {
		LOG_ERROR("pstate", "cannot write the snapshot %s: %s", path, strerror(errno));
		unlink(tmp);
		goto free_buf;
	}
	prune(dir);
free_buf:
	free(buf);
	return rc;
}

/* Reads one snapshot file into s; RN_E_CORRUPT_STATE when it is not a
 * good snapshot for offset. */
static int load_file(const char *path, int64_t offset, struct pstate *s)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = file_read_whole(AT_FDCWD, path, PSTATE_STORE_MAX_FILE_BYTES, &buf, &len);
	if (rc == RN_E_NOT_FOUND)
		return RN_E_IO;
	if (rc != RN_OK)
		return rc;
	if (len < PSTATE_SNAPSHOT_HEADER_BYTES) {
		free(buf);
		return RN_E_CORRUPT_STATE;
	}
	int64_t end = -1;
	rc = pstate_snapshot_read(s, buf, len, &end);
	if (rc == RN_OK && end != offset) {
		/* A file renamed by hand or copied from elsewhere. */
		pstate_clear(s);
		rc = RN_E_CORRUPT_STATE;
	}
	free(buf);
	return rc;
}

int pstate_store_load(const char *dir, int64_t max_offset, struct pstate *s, int64_t *offset)
{
	int64_t offsets[PSTATE_STORE_MAX_LISTED];
	uint32_t count = 0;
	pstate_clear(s);
	int rc = list_snapshots(dir, max_offset, offsets, PSTATE_STORE_MAX_LISTED, &count);
	if (rc != RN_OK)
		return rc;
	for (uint32_t i = 0; i < count; i++) {
		char path[PATH_BYTES];
		if (snapshot_path(dir, offsets[i], PSTATE_STORE_SUFFIX, path, sizeof(path)) != RN_OK)
			continue;
		rc = load_file(path, offsets[i], s);
		if (rc == RN_OK) {
			*offset = offsets[i];
			return RN_OK;
		}
		if (rc == RN_E_NOMEM)
			return rc;
		LOG_WARN("pstate", "skipping the producer-state snapshot %s: %s", path,
			 rn_strerror(rc));
	}
	pstate_clear(s);
	return RN_E_NOT_FOUND;
}

static int pread_all(int fd, uint8_t *buf, size_t len, uint64_t pos)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(pos + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return RN_E_IO;
		got += (size_t)n;
	}
	return RN_OK;
}

/* Applies the headers of the batches in one slice; *next receives the
 * offset after its last batch. */
static int replay_slice(const struct plog_slice *sl, struct pstate *s, int64_t *next)
{
	uint64_t pos = 0;
	while (pos < sl->len) {
		uint8_t hdr[BATCH_HEADER_BYTES];
		struct batch_info info;
		if (sl->len - pos < BATCH_HEADER_BYTES ||
		    pread_all(sl->fd, hdr, sizeof(hdr), sl->file_pos + pos) != RN_OK)
			return RN_E_IO;
		int rc = batch_peek(hdr, sizeof(hdr), &info);
		if ((rc != RN_OK && rc != RN_E_AGAIN) || info.total_bytes > sl->len - pos ||
		    info.last_offset_delta < 0)
			return RN_E_IO;
		struct pstate_append a;
		if (pstate_append_from_batch(&info, &a)) {
			rc = pstate_update(s, &a);
			if (rc != RN_OK)
				return rc;
		}
		*next = info.base_offset + info.last_offset_delta + 1;
		pos += info.total_bytes;
	}
	return RN_OK;
}

int pstate_store_replay(struct plog *log, int64_t from_offset, struct pstate *s)
{
	int64_t off = from_offset < plog_start_offset(log) ? plog_start_offset(log) : from_offset;
	int64_t end = plog_end_offset(log);
	while (off < end) {
		struct plog_slice sl;
		int rc = plog_read(log, off, PSTATE_STORE_REPLAY_SLICE_BYTES, INT64_MAX, &sl);
		if (rc != RN_OK)
			return rc == RN_E_NOMEM ? rc : RN_E_IO;
		if (sl.len == 0) {
			plog_slice_release(&sl);
			break;
		}
		int64_t next = off;
		rc = replay_slice(&sl, s, &next);
		plog_slice_release(&sl);
		if (rc != RN_OK)
			return rc;
		/* Every slice holds at least one batch ending at or after off. */
		if (next <= off)
			return RN_E_IO;
		off = next;
	}
	return RN_OK;
}

int pstate_store_rebuild(const char *dir, struct plog *log, struct pstate *s, const char *label)
{
	int64_t start = plog_start_offset(log);
	int64_t end = plog_end_offset(log);
	if (pstate_store_remove_above(dir, end) != RN_OK)
		LOG_WARN("pstate", "%s: cannot list %s to remove snapshots past the log end", label,
			 dir);
	int64_t snap = -1;
	int rc = pstate_store_load(dir, end, s, &snap);
	if (rc == RN_E_NOMEM)
		return rc;
	int64_t from = rc == RN_OK && snap > start ? snap : start;
	rc = pstate_store_replay(log, from, s);
	if (rc != RN_OK) {
		LOG_ERROR("pstate", "%s: rebuilding the producer state failed at offsets %" PRId64
				    "..%" PRId64 ": %s",
			  label, from, end, rn_strerror(rc));
		return rc;
	}
	if (snap >= 0 || s->count > 0)
		LOG_INFO("pstate", "%s: %u producer(s) from %s%" PRId64 " and the batches of offsets %" PRId64
				   "..%" PRId64,
			 label, s->count, snap >= 0 ? "the snapshot at " : "no snapshot, start ",
			 snap >= 0 ? snap : start, from, end);
	return RN_OK;
}
