/* storage_util.h: helpers shared by the storage unit tests. */
#ifndef RUNNEL_TEST_STORAGE_UTIL_H
#define RUNNEL_TEST_STORAGE_UTIL_H

/*
 * Every record a test appends has the value "r<offset in 8 digits>" and the timestamp
 * TS_BASE + offset, so a reader can check each record it gets back against
 * the offset the log gave it.
 */

#include "common/errors.h"
#include "common/limits.h"
#include "storage/plog.h"
#include "test/unit/harness.h"
#include "wire/batch.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TS_BASE 1700000000000ll
#define TEST_BATCH_CAP 65536u

/* Builds a batch of n records meant for offsets first.. with the values and
 * timestamps described above; returns its length. */
static inline size_t build_batch(uint8_t *buf, int64_t first, int n)
{
	struct batch_builder b;
	batch_builder_init(&b, buf, TEST_BATCH_CAP);
	for (int i = 0; i < n; i++) {
		char val[32];
		int len = snprintf(val, sizeof(val), "r%08lld", (long long)(first + i));
		if (batch_builder_add(&b, TS_BASE + first + i, NULL, -1, val, len, NULL, 0) != 0)
			abort();
	}
	return batch_builder_finish(&b, -1, -1, -1);
}

/* Appends count batches of n records each; returns 0 or the first error. */
static inline int append_batches(struct plog *log, int count, int n, int64_t now_ms)
{
	static uint8_t buf[TEST_BATCH_CAP];
	for (int i = 0; i < count; i++) {
		struct plog_append_result res;
		int64_t first = plog_end_offset(log);
		size_t len = build_batch(buf, first, n);
		int rc = plog_append(log, buf, len, 7, now_ms, &res);
		if (rc)
			return rc;
		if (res.base_offset != first || res.last_offset != first + n - 1)
			return RN_E_INVAL;
	}
	return 0;
}

/*
 * Checks that buf[0..len) is whole valid batches whose records have
 * consecutive offsets starting at *next and the expected values and
 * timestamps; advances *next.  Returns the number of batches, or -1.
 */
static inline int check_batches(const uint8_t *buf, size_t len, int64_t *next)
{
	size_t pos = 0;
	int batches = 0;
	while (pos < len) {
		struct batch_info info;
		if (batch_peek(buf + pos, len - pos, &info) != 0)
			return -1;
		if (batch_validate(buf + pos, info.total_bytes, RN_MAX_RECORDS_PER_BATCH,
				   &info) != 0)
			return -1;
		if (info.base_offset != *next)
			return -1;
		struct batch_iter it;
		struct record_view rec;
		if (batch_iter_init(&it, buf + pos, info.total_bytes) != 0)
			return -1;
		int rc;
		while ((rc = batch_iter_next(&it, &rec)) == 1) {
			char want[32];
			int n = snprintf(want, sizeof(want), "r%08lld", (long long)*next);
			if (rec.offset != *next || rec.value_len != n ||
			    memcmp(rec.value, want, (size_t)n) != 0 ||
			    rec.timestamp != TS_BASE + *next)
				return -1;
			(*next)++;
		}
		if (rc != 0)
			return -1;
		pos += info.total_bytes;
		batches++;
	}
	return batches;
}

/* Reads one slice at offset and checks it; returns batches read or -1. */
static inline int read_check(struct plog *log, int64_t offset, uint32_t max_bytes,
			     int64_t max_offset, int64_t *next, struct plog_slice *out)
{
	struct plog_slice s;
	if (plog_read(log, offset, max_bytes, max_offset, &s) != 0)
		return -1;
	uint8_t *buf = malloc(s.len ? s.len : 1);
	int batches = -1;
	*next = s.first_offset;
	if (buf && plog_slice_copy(&s, buf) == 0)
		batches = check_batches(buf, s.len, next);
	free(buf);
	if (out)
		*out = s;
	plog_slice_release(&s);
	return batches;
}

/* Reads the whole log from its start and checks every record; returns the
 * offset reached (the end offset when all is well) or -1. */
static inline int64_t read_all(struct plog *log, uint32_t max_bytes)
{
	int64_t off = plog_start_offset(log), end = plog_end_offset(log);
	while (off < end) {
		int64_t next;
		if (read_check(log, off, max_bytes, INT64_MAX, &next, NULL) <= 0)
			return -1;
		if (next <= off)
			return -1;
		off = next;
	}
	return off;
}

static inline void seg_path(char *out, size_t cap, const char *dir, int64_t base,
			    const char *ext)
{
	snprintf(out, cap, "%s/%020lld.%s", dir, (long long)base, ext);
}

static inline long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static inline int file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Writes len bytes at the end of a file (simulating a torn write). */
static inline int append_raw(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Overwrites one byte of a file. */
static inline int poke_byte(const char *path, long long pos, uint8_t xor_mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	int rc = -1;
	if (fd >= 0 && pread(fd, &b, 1, pos) == 1) {
		b ^= xor_mask;
		rc = pwrite(fd, &b, 1, pos) == 1 ? 0 : -1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Removes the clean shutdown marker, as if the process had crashed. */
static inline void forget_clean_close(const char *dir)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/.clean_shutdown", dir);
	unlink(path);
}

static inline void small_config(struct plog_config *cfg, uint64_t segment_bytes,
				uint32_t interval)
{
	plog_config_default(cfg);
	cfg->segment_bytes = segment_bytes;
	cfg->index_interval_bytes = interval;
}

#endif
