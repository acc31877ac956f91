/* epoch_hist.c: a partition log's leader-epoch history and its checkpoint file. */
#include "storage/epoch_hist.h"

#include "storage/file_io.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/storage_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest checkpoint file: the two header lines and every entry line. */
#define CHECKPOINT_MAX_BYTES ((size_t)(PLOG_MAX_EPOCH_ENTRIES + 2) * PLOG_EPOCH_LINE_MAX)

void epoch_hist_free(struct epoch_hist *h)
{
	free(h->v);
	*h = (struct epoch_hist){0};
}

int32_t epoch_hist_latest(const struct epoch_hist *h)
{
	return h->n ? h->v[h->n - 1].epoch : -1;
}

static int reserve(struct epoch_hist *h)
{
	if (h->n < h->cap)
		return 0;
	uint32_t cap = h->cap ? h->cap * 2 : 8;
	if (cap > PLOG_MAX_EPOCH_ENTRIES)
		cap = PLOG_MAX_EPOCH_ENTRIES;
	struct epoch_entry *v = realloc(h->v, (size_t)cap * sizeof(*v));
	if (!v)
		return RN_E_NOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

int epoch_hist_add(struct epoch_hist *h, int32_t epoch, int64_t start_offset)
{
	if (epoch < 0 || start_offset < 0)
		return RN_E_INVAL;
	if (h->n && epoch <= h->v[h->n - 1].epoch)
		return 0;
	if (h->n && start_offset < h->v[h->n - 1].start_offset)
		return RN_E_INVAL;
	/* An epoch that wrote nothing ends where the next begins: it has no
	 * records to tell apart, so the newer epoch takes its place. */
	if (h->n && h->v[h->n - 1].start_offset == start_offset) {
		h->v[h->n - 1].epoch = epoch;
		return 1;
	}
	if (h->n == PLOG_MAX_EPOCH_ENTRIES) {
		memmove(h->v, h->v + 1, (size_t)(h->n - 1) * sizeof(*h->v));
		h->n--;
	}
	int rc = reserve(h);
	if (rc)
		return rc;
	h->v[h->n++] = (struct epoch_entry){.epoch = epoch, .start_offset = start_offset};
	return 1;
}

int epoch_hist_add_batch(struct epoch_hist *h, int32_t epoch, int64_t base_offset)
{
	if (epoch < 0 || base_offset < 0)
		return RN_E_INVAL;
	bool dropped = false;
	if (h->n && h->v[h->n - 1].start_offset == base_offset && h->v[h->n - 1].epoch != epoch) {
		h->n--;
		dropped = true;
	}
	int rc = epoch_hist_add(h, epoch, base_offset);
	return rc < 0 ? rc : (rc || dropped);
}

bool epoch_hist_truncate(struct epoch_hist *h, int64_t end_offset)
{
	uint32_t n = h->n;
	while (n > 0 && h->v[n - 1].start_offset >= end_offset)
		n--;
	bool changed = n != h->n;
	h->n = n;
	return changed;
}

bool epoch_hist_truncate_start(struct epoch_hist *h, int64_t start_offset)
{
	uint32_t k = 0;
	while (k < h->n && h->v[k].start_offset <= start_offset)
		k++;
	if (k == 0 || (k == 1 && h->v[0].start_offset == start_offset))
		return false;
	/* The epoch that holds the new start keeps its place, starting there;
	 * the older ones go with their records. */
	h->v[k - 1].start_offset = start_offset;
	memmove(h->v, h->v + (k - 1), (size_t)(h->n - (k - 1)) * sizeof(*h->v));
	h->n -= k - 1;
	return true;
}

void epoch_hist_end_offset(const struct epoch_hist *h, int32_t epoch, int64_t log_end,
			   int32_t *found_epoch, int64_t *end_offset)
{
	*found_epoch = -1;
	*end_offset = -1;
	/* Entries are few (one per leader change) and lookups rare (a fetch
	 * that names an epoch other than the latest), so a backward scan from
	 * the newest entry is enough; the common case stops at once. */
	for (uint32_t i = h->n; i > 0; i--) {
		if (h->v[i - 1].epoch > epoch)
			continue;
		*found_epoch = h->v[i - 1].epoch;
		*end_offset = i == h->n ? log_end : h->v[i].start_offset;
		return;
	}
}

int32_t epoch_hist_find(const struct epoch_hist *h, int32_t epoch)
{
	for (uint32_t i = 0; i < h->n; i++)
		if (h->v[i].epoch == epoch)
			return (int32_t)i;
	return -1;
}

/* ---- the checkpoint file ---- */

/* Reads the whole file into a malloc'd, NUL-terminated buffer. */
static int read_file(int dir_fd, const char *name, char **out)
{
	size_t len;
	return file_read_whole(dir_fd, name, CHECKPOINT_MAX_BYTES, (uint8_t **)out, &len);
}

/* Parses one decimal integer in [min, max] ending at a newline. */
static bool parse_line_int(char **p, long long min, long long max, long long *v)
{
	char *end;
	errno = 0;
	if (**p < '0' || **p > '9')
		return false;
	*v = strtoll(*p, &end, 10);
	if (errno || *v < min || *v > max)
		return false;
	*p = end;
	return true;
}

static bool expect(char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static int parse(struct epoch_hist *h, char *p)
{
	long long version, count;
	if (!parse_line_int(&p, 0, 0, &version) || !expect(&p, '\n'))
		return RN_E_CORRUPT_STATE;
	if (!parse_line_int(&p, 0, PLOG_MAX_EPOCH_ENTRIES, &count) || !expect(&p, '\n'))
		return RN_E_CORRUPT_STATE;
	for (long long i = 0; i < count; i++) {
		long long epoch, start;
		if (!parse_line_int(&p, 0, INT32_MAX, &epoch) || !expect(&p, ' ') ||
		    !parse_line_int(&p, 0, INT64_MAX, &start) || !expect(&p, '\n'))
			return RN_E_CORRUPT_STATE;
		/* Both columns must rise strictly: anything else was not written by
		 * epoch_hist_store. */
		if (h->n && (epoch <= h->v[h->n - 1].epoch || start <= h->v[h->n - 1].start_offset))
			return RN_E_CORRUPT_STATE;
		int rc = reserve(h);
		if (rc)
			return rc;
		h->v[h->n++] = (struct epoch_entry){.epoch = (int32_t)epoch, .start_offset = start};
	}
	return *p == '\0' ? 0 : RN_E_CORRUPT_STATE;
}

int epoch_hist_load(struct epoch_hist *h, int dir_fd, const char *name)
{
	epoch_hist_free(h);
	char *buf = NULL;
	int rc = read_file(dir_fd, name, &buf);
	if (rc)
		return rc;
	rc = parse(h, buf);
	free(buf);
	if (rc)
		epoch_hist_free(h);
	return rc;
}

/* Formats h into a malloc'd buffer; returns its length or 0 on NOMEM. */
static size_t format(const struct epoch_hist *h, char **out)
{
	size_t cap = ((size_t)h->n + 2) * PLOG_EPOCH_LINE_MAX;
	char *buf = malloc(cap);
	if (!buf)
		return 0;
	size_t len = (size_t)snprintf(buf, cap, "%d\n%" PRIu32 "\n", EPOCH_HIST_VERSION, h->n);
	for (uint32_t i = 0; i < h->n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%" PRId32 " %" PRId64 "\n",
					h->v[i].epoch, h->v[i].start_offset);
	RN_ASSERT(len < cap);
	*out = buf;
	return len;
}

int epoch_hist_store(const struct epoch_hist *h, int dir_fd, const char *name)
{
	char tmp[256];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= sizeof(tmp))
		return RN_E_INVAL;
	char *buf = NULL;
	size_t len = format(h, &buf);
	if (len == 0)
		return RN_E_NOMEM;
	/* The rename replaces the old file in one step, and the directory fsync
	 * makes the new name durable: a crash leaves either version whole. */
	int rc = file_write_synced(dir_fd, tmp, buf, len);
	if (rc == 0 && (renameat(dir_fd, tmp, dir_fd, name) != 0 || fsync(dir_fd) != 0))
		rc = RN_E_IO;
	if (rc) {
		int err = errno;
		unlinkat(dir_fd, tmp, 0);
		LOG_ERROR("storage", "cannot write %s: %s", name, strerror(err));
	}
	free(buf);
	return rc;
}
