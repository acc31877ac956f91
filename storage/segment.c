/* segment.c: one log segment: its files, its sparse indexes and batch walks. */
#include "storage/segment.h"

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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- file names ---- */

void seg_file_name(char *out, int64_t base_offset, const char *ext)
{
	RN_ASSERT(base_offset >= 0);
	snprintf(out, SEG_NAME_MAX, "%020" PRId64 ".%s", base_offset, ext);
}

int seg_parse_name(const char *name, int64_t *base_offset, const char **ext)
{
	static const char *const exts[] = {"log", "index", "timeindex"};
	uint64_t v = 0;
	for (unsigned i = 0; i < SEG_BASE_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		uint64_t digit = (uint64_t)(name[i] - '0');
		/* Twenty digits can exceed an int64; such a name is not ours. */
		if (v > ((uint64_t)INT64_MAX - digit) / 10)
			return 0;
		v = v * 10 + digit;
	}
	if (name[SEG_BASE_DIGITS] != '.')
		return 0;
	for (unsigned i = 0; i < RN_ARRAY_LEN(exts); i++) {
		if (strcmp(name + SEG_BASE_DIGITS + 1, exts[i]) == 0) {
			*base_offset = (int64_t)v;
			*ext = exts[i];
			return 1;
		}
	}
	return 0;
}

/* ---- plain I/O helpers ---- */

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t pos)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			LOG_ERROR("storage", "write of %zu bytes at %" PRIu64 " failed: %s", len,
				  pos, n < 0 ? strerror(errno) : "no progress");
			return RN_E_IO;
		}
		buf += n;
		len -= (size_t)n;
		pos += (uint64_t)n;
	}
	return 0;
}

static int truncate_file(int fd, uint64_t len)
{
	while (ftruncate(fd, (off_t)len) != 0) {
		if (errno == EINTR)
			continue;
		LOG_ERROR("storage", "ftruncate to %" PRIu64 " bytes failed: %s", len,
			  strerror(errno));
		return RN_E_IO;
	}
	return 0;
}

static int open_in(int dir_fd, int64_t base, const char *ext, int flags)
{
	char name[SEG_NAME_MAX];
	seg_file_name(name, base, ext);
	int fd = openat(dir_fd, name, flags | O_CLOEXEC, 0644);
	if (fd < 0 && !(errno == ENOENT && !(flags & O_CREAT)))
		LOG_ERROR("storage", "open %s failed: %s", name, strerror(errno));
	return fd;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- in-memory indexes ---- */

static uint32_t idx_rel(const struct seg_index *ix, uint32_t i)
{
	return be_get32(ix->data + (size_t)i * SEG_INDEX_ENTRY_BYTES);
}

static uint32_t idx_pos(const struct seg_index *ix, uint32_t i)
{
	return be_get32(ix->data + (size_t)i * SEG_INDEX_ENTRY_BYTES + 4);
}

static int64_t tidx_ts(const struct seg_index *ix, uint32_t i)
{
	return (int64_t)be_get64(ix->data + (size_t)i * SEG_TIMEINDEX_ENTRY_BYTES);
}

static uint32_t tidx_rel(const struct seg_index *ix, uint32_t i)
{
	return be_get32(ix->data + (size_t)i * SEG_TIMEINDEX_ENTRY_BYTES + 8);
}

static void index_release(struct seg_index *ix, size_t entry_bytes)
{
	(void)entry_bytes;
	if (ix->mapped) {
		if (ix->map_bytes > 0)
			munmap(ix->data, ix->map_bytes);
	} else {
		free(ix->data);
	}
	memset(ix, 0, sizeof(*ix));
}

/* Makes room for need entries in a malloc'd index. */
static int index_reserve(struct seg_index *ix, size_t entry_bytes, uint32_t need)
{
	RN_ASSERT(!ix->mapped);
	if (ix->cap >= need && ix->data)
		return 0;
	uint64_t cap = ix->cap ? (uint64_t)ix->cap * 2 : 64;
	if (cap < need)
		cap = need;
	if (cap > UINT32_MAX)
		cap = UINT32_MAX;
	uint8_t *data = realloc(ix->data, (size_t)cap * entry_bytes);
	if (!data)
		return RN_E_NOMEM;
	ix->data = data;
	ix->cap = (uint32_t)cap;
	return 0;
}

/* Turns a mapped index into a malloc'd one holding at least cap entries. */
static int index_unmap(struct seg_index *ix, size_t entry_bytes, uint32_t cap)
{
	if (!ix->mapped)
		return index_reserve(ix, entry_bytes, cap > ix->count ? cap : ix->count);
	uint32_t n = cap > ix->count ? cap : ix->count;
	uint8_t *data = malloc((size_t)(n ? n : 1) * entry_bytes);
	if (!data)
		return RN_E_NOMEM;
	if (ix->count > 0)
		memcpy(data, ix->data, (size_t)ix->count * entry_bytes);
	if (ix->map_bytes > 0)
		munmap(ix->data, ix->map_bytes);
	ix->data = data;
	ix->cap = n ? n : 1;
	ix->written = ix->count;
	ix->mapped = false;
	ix->writable = false;
	ix->map_bytes = 0;
	return 0;
}

static int index_map_writable(struct seg_index *ix, int fd, size_t entry_bytes, uint32_t cap);

static int64_t last_tidx_ts(const struct segment *s)
{
	return s->tidx.count ? tidx_ts(&s->tidx, s->tidx.count - 1) : INT64_MIN;
}

/* Where the last offset index entry points (position 0 when there is none). */
static void last_entry(const struct segment *s, uint64_t *pos, int64_t *at)
{
	if (s->idx.count == 0) {
		*pos = 0;
		*at = s->base_offset;
		return;
	}
	*pos = idx_pos(&s->idx, s->idx.count - 1);
	*at = s->base_offset + idx_rel(&s->idx, s->idx.count - 1);
}

/* Room for one more entry: a malloc'd index grows, a mapped one has its
 * cap.  0, RN_E_FULL or RN_E_NOMEM. */
static int index_room(struct seg_index *ix, size_t entry_bytes)
{
	if (ix->mapped)
		return ix->writable && ix->count < ix->cap ? 0 : RN_E_FULL;
	return index_reserve(ix, entry_bytes, ix->count + 1);
}

/* An entry went into ix.  In a mapped index it is in the file already; the
 * pages it has filled leave the resident set now and then. */
static void index_added(struct seg_index *ix, size_t entry_bytes)
{
	if (!ix->mapped)
		return;
	ix->written = ix->count;
	if (ix->count % SEG_INDEX_RESIDENT_ENTRIES != 0)
		return;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t filled = (size_t)ix->count * entry_bytes / page * page;
	if (filled > 0)
		(void)madvise(ix->data, filled, MADV_DONTNEED);
}

/* Adds the index entries for the batch at pos (and offset base + rel). */
static void add_entries(struct segment *s, uint64_t pos, uint32_t rel)
{
	/* A missing entry only makes later walks longer, so a full or
	 * unallocatable index is logged and otherwise ignored. */
	if (index_room(&s->idx, SEG_INDEX_ENTRY_BYTES) != 0) {
		LOG_WARN("storage", "segment %020" PRId64 ": no room for an index entry",
			 s->base_offset);
		return;
	}
	uint8_t *e = s->idx.data + (size_t)s->idx.count * SEG_INDEX_ENTRY_BYTES;
	be_put32(e, rel);
	be_put32(e + 4, (uint32_t)pos);
	s->idx.count++;
	index_added(&s->idx, SEG_INDEX_ENTRY_BYTES);
	/* A time entry always names an offset entry, so it goes in only after
	 * that one did. */
	if (s->max_timestamp <= last_tidx_ts(s) ||
	    index_room(&s->tidx, SEG_TIMEINDEX_ENTRY_BYTES) != 0)
		return;
	e = s->tidx.data + (size_t)s->tidx.count * SEG_TIMEINDEX_ENTRY_BYTES;
	be_put64(e, (uint64_t)s->max_timestamp);
	be_put32(e + 8, rel);
	s->tidx.count++;
	index_added(&s->tidx, SEG_TIMEINDEX_ENTRY_BYTES);
}

void segment_note_batch(struct segment *s, uint64_t pos, const struct batch_info *info)
{
	uint64_t last_pos;
	int64_t last_at;
	last_entry(s, &last_pos, &last_at);
	if (pos > last_pos && s->bytes_since_index >= s->index_interval) {
		add_entries(s, pos, (uint32_t)(info->base_offset - s->base_offset));
		s->bytes_since_index = 0;
	}
	s->bytes_since_index += info->total_bytes;
	if (info->max_timestamp > s->max_timestamp)
		s->max_timestamp = info->max_timestamp;
	s->end_offset = info->base_offset + info->last_offset_delta + 1;
	s->size_bytes = pos + info->total_bytes;
}

/* Allocates disk space for the file up to at least end (rounded up to
 * SEG_RESERVE_BYTES, at most limit).  Best effort: where the filesystem
 * cannot, writes allocate as they go. */
static void reserve_ahead(struct segment *s, uint64_t end, uint64_t limit)
{
	if (end <= s->reserved_end || s->reserved_end >= limit)
		return;
	uint64_t to = (end + SEG_RESERVE_BYTES - 1) / SEG_RESERVE_BYTES * SEG_RESERVE_BYTES;
	if (to > limit)
		to = limit;
	uint64_t from = s->reserved_end > s->size_bytes ? s->reserved_end : s->size_bytes;
	if (to <= from)
		return;
	if (fallocate(s->log_fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)) != 0) {
		LOG_DEBUG("storage", "segment %020" PRId64 ": no space reserved ahead: %s",
			  s->base_offset, strerror(errno));
		/* Do not ask again for this segment. */
		to = UINT64_MAX;
	}
	s->reserved_end = to;
}

void segment_release_reserve(struct segment *s)
{
	if (s->reserved_end <= s->size_bytes || s->reserved_end == UINT64_MAX)
		return;
	/* The space past the end would otherwise stay allocated to a file that
	 * no longer grows. */
	(void)fallocate(s->log_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)s->size_bytes,
			(off_t)(s->reserved_end - s->size_bytes));
	s->reserved_end = s->size_bytes;
}

int segment_write(struct segment *s, const uint8_t *buf, size_t len, uint64_t reserve_limit)
{
	RN_ASSERT(!s->closed);
	reserve_ahead(s, s->size_bytes + len, reserve_limit);
	int rc = pwrite_all(s->log_fd, buf, len, s->size_bytes);
	if (rc) {
		/* Leave no partial batch behind if the disk lets us. */
		(void)truncate_file(s->log_fd, s->size_bytes);
	}
	return rc;
}

/* ---- lookups ---- */

void segment_lookup_offset(const struct segment *s, int64_t offset, uint64_t *pos, int64_t *at)
{
	int64_t rel = offset - s->base_offset;
	uint32_t lo = 0, hi = s->idx.count;
	/* Find the first entry past rel; the one before it is the answer. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((int64_t)idx_rel(&s->idx, mid) <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0) {
		*pos = 0;
		*at = s->base_offset;
		return;
	}
	*pos = idx_pos(&s->idx, lo - 1);
	*at = s->base_offset + idx_rel(&s->idx, lo - 1);
}

void segment_lookup_position(const struct segment *s, uint64_t target, uint64_t *pos,
			     int64_t *at)
{
	uint32_t lo = 0, hi = s->idx.count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (idx_pos(&s->idx, mid) <= target)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0) {
		*pos = 0;
		*at = s->base_offset;
		return;
	}
	*pos = idx_pos(&s->idx, lo - 1);
	*at = s->base_offset + idx_rel(&s->idx, lo - 1);
}

void segment_lookup_time(const struct segment *s, int64_t ts, uint64_t *pos, int64_t *at)
{
	uint32_t lo = 0, hi = s->tidx.count;
	/* Find the first entry with a timestamp >= ts; the one before it bounds
	 * everything before its offset below ts. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (tidx_ts(&s->tidx, mid) < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0) {
		*pos = 0;
		*at = s->base_offset;
		return;
	}
	segment_lookup_offset(s, s->base_offset + tidx_rel(&s->tidx, lo - 1), pos, at);
}

/* ---- walker ---- */

void seg_walker_init(struct seg_walker *w, const struct segment *s, uint8_t *buf, size_t cap,
		     size_t max_cap)
{
	memset(w, 0, sizeof(*w));
	if (buf) {
		w->buf = buf;
		w->cap = cap;
		w->max_cap = cap;
	} else {
		w->owned = true;
		w->init_cap = cap;
		w->max_cap = max_cap > cap ? max_cap : cap;
	}
	seg_walker_retarget(w, s);
}

void seg_walker_retarget(struct seg_walker *w, const struct segment *s)
{
	w->fd = s->log_fd;
	w->limit = s->size_bytes;
	w->buf_pos = 0;
	w->buf_len = 0;
}

void seg_walker_free(struct seg_walker *w)
{
	if (w->owned)
		free(w->buf);
	w->buf = NULL;
	w->cap = 0;
	w->buf_len = 0;
}

static int walker_reserve(struct seg_walker *w, size_t need)
{
	if (need <= w->cap && w->buf)
		return 0;
	/* A caller-owned buffer only ever serves header reads, which fit. */
	if (!w->owned || need > w->max_cap)
		return RN_E_CORRUPT_STATE;
	size_t cap = need > w->init_cap ? need : w->init_cap;
	uint8_t *buf = realloc(w->buf, cap);
	if (!buf)
		return RN_E_NOMEM;
	w->buf = buf;
	w->cap = cap;
	w->buf_len = 0;
	return 0;
}

int seg_walker_bytes(struct seg_walker *w, uint64_t pos, size_t len, const uint8_t **data)
{
	if (pos > w->limit || len > w->limit - pos)
		return RN_E_CORRUPT_STATE;
	if (pos >= w->buf_pos && pos + len <= w->buf_pos + w->buf_len) {
		*data = w->buf + (pos - w->buf_pos);
		return 0;
	}
	int rc = walker_reserve(w, len);
	if (rc)
		return rc;
	/* Read ahead a whole buffer: the next header is usually right after. */
	size_t want = w->cap;
	if (want > w->limit - pos)
		want = (size_t)(w->limit - pos);
	size_t got = 0;
	w->buf_len = 0;
	while (got < want) {
		ssize_t n = pread(w->fd, w->buf + got, want - got, (off_t)(pos + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			LOG_ERROR("storage", "read at %" PRIu64 " failed: %s", pos + got,
				  strerror(errno));
			return RN_E_IO;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got < len) {
		LOG_ERROR("storage", "segment file ended at %" PRIu64 ", expected %" PRIu64,
			  pos + got, w->limit);
		return RN_E_IO;
	}
	w->buf_pos = pos;
	w->buf_len = got;
	*data = w->buf;
	return 0;
}

int seg_walker_header(struct seg_walker *w, uint64_t pos, struct batch_info *info)
{
	if (pos > w->limit || w->limit - pos < BATCH_HEADER_BYTES)
		return RN_E_CORRUPT_STATE;
	const uint8_t *data;
	int rc = seg_walker_bytes(w, pos, BATCH_HEADER_BYTES, &data);
	if (rc)
		return rc;
	size_t avail = (size_t)(w->buf_pos + w->buf_len - pos);
	rc = batch_peek(data, avail, info);
	if (rc != 0 && rc != RN_E_AGAIN)
		return RN_E_CORRUPT_STATE;
	if (info->total_bytes > w->limit - pos || info->last_offset_delta < 0 ||
	    info->base_offset < 0)
		return RN_E_CORRUPT_STATE;
	return 0;
}

/* ---- scans ---- */

/* Tracks, without touching the segment, whether an index entry is due. */
struct dry_index {
	uint64_t last_pos;
	uint64_t since;
	uint32_t interval;
};

static int scan_stop(struct seg_scan *res, const char *why)
{
	res->clean = false;
	res->why = why;
	return 0;
}

/* Walks consecutive batches from pos (expecting offset expect there) to the
 * walker's limit; see struct seg_scan for what it reports. */
static int scan_batches(struct segment *s, struct seg_walker *w, uint64_t pos, int64_t expect,
			bool check_crc, bool note, struct dry_index *dry, struct seg_scan *res)
{
	memset(res, 0, sizeof(*res));
	res->end_pos = pos;
	res->end_offset = expect;
	res->max_timestamp = INT64_MIN;
	res->clean = true;
	while (pos < w->limit) {
		struct batch_info info;
		int rc = seg_walker_header(w, pos, &info);
		if (rc == RN_E_IO || rc == RN_E_NOMEM)
			return rc;
		if (rc)
			return scan_stop(res, "torn or malformed batch header");
		if (info.base_offset != expect)
			return scan_stop(res, "batch offset does not follow the previous batch");
		if (info.base_offset + info.last_offset_delta - s->base_offset >
		    PLOG_MAX_RELATIVE_OFFSET)
			return scan_stop(res, "batch offset too far from the segment base");
		if (check_crc) {
			const uint8_t *data;
			struct batch_info full;
			rc = seg_walker_bytes(w, pos, info.total_bytes, &data);
			if (rc == RN_E_IO || rc == RN_E_NOMEM)
				return rc;
			if (rc || batch_validate(data, info.total_bytes, RN_MAX_RECORDS_PER_BATCH,
						 &full) != 0)
				return scan_stop(res, "batch fails its CRC or record check");
		}
		if (note)
			segment_note_batch(s, pos, &info);
		if (dry) {
			if (pos > dry->last_pos && dry->since >= dry->interval)
				res->would_index = true;
			dry->since += info.total_bytes;
		}
		if (info.max_timestamp > res->max_timestamp)
			res->max_timestamp = info.max_timestamp;
		pos += info.total_bytes;
		expect = info.base_offset + info.last_offset_delta + 1;
		res->end_pos = pos;
		res->end_offset = expect;
	}
	return 0;
}

/* ---- lifecycle ---- */

static struct segment *segment_alloc(int64_t base_offset, uint32_t index_interval)
{
	struct segment *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base_offset = base_offset;
	s->log_fd = s->idx_fd = s->tidx_fd = -1;
	s->end_offset = base_offset;
	s->max_timestamp = INT64_MIN;
	s->created_ms = -1;
	s->index_interval = index_interval;
	atomic_init(&s->refs, 1);
	return s;
}

static int ensure_index_fds(struct segment *s, int dir_fd)
{
	if (s->idx_fd < 0)
		s->idx_fd = open_in(dir_fd, s->base_offset, "index", O_RDWR | O_CREAT);
	if (s->tidx_fd < 0)
		s->tidx_fd = open_in(dir_fd, s->base_offset, "timeindex", O_RDWR | O_CREAT);
	return s->idx_fd >= 0 && s->tidx_fd >= 0 ? 0 : RN_E_IO;
}

int segment_create(int dir_fd, int64_t base_offset, uint32_t index_interval, uint32_t idx_cap,
		   struct segment **out)
{
	struct segment *s = segment_alloc(base_offset, index_interval);
	if (!s)
		return RN_E_NOMEM;
	int rc = RN_E_IO;
	s->log_fd = open_in(dir_fd, base_offset, "log", O_RDWR | O_CREAT | O_TRUNC);
	s->idx_fd = open_in(dir_fd, base_offset, "index", O_RDWR | O_CREAT | O_TRUNC);
	s->tidx_fd = open_in(dir_fd, base_offset, "timeindex", O_RDWR | O_CREAT | O_TRUNC);
	if (s->log_fd < 0 || s->idx_fd < 0 || s->tidx_fd < 0)
		goto fail_segment;
	rc = index_map_writable(&s->idx, s->idx_fd, SEG_INDEX_ENTRY_BYTES, idx_cap);
	if (rc == 0)
		rc = index_map_writable(&s->tidx, s->tidx_fd, SEG_TIMEINDEX_ENTRY_BYTES, idx_cap);
	if (rc)
		goto fail_segment;
	s->max_ts_known = true;
	*out = s;
	return 0;
fail_segment:
	segment_unref(s);
	return rc;
}

int segment_open(int dir_fd, int64_t base_offset, uint32_t index_interval, struct segment **out)
{
	struct segment *s = segment_alloc(base_offset, index_interval);
	if (!s)
		return RN_E_NOMEM;
	struct stat st;
	s->log_fd = open_in(dir_fd, base_offset, "log", O_RDWR);
	if (s->log_fd < 0 || fstat(s->log_fd, &st) != 0) {
		segment_unref(s);
		return RN_E_IO;
	}
	s->size_bytes = (uint64_t)st.st_size;
	*out = s;
	return 0;
}

struct segment *segment_ref(struct segment *s)
{
	int prev = atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	RN_ASSERT(prev > 0);
	return s;
}

void segment_unref(struct segment *s)
{
	if (!s)
		return;
	int prev = atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel);
	RN_ASSERT(prev > 0);
	if (prev != 1)
		return;
	close_fd(&s->log_fd);
	close_fd(&s->idx_fd);
	close_fd(&s->tidx_fd);
	index_release(&s->idx, SEG_INDEX_ENTRY_BYTES);
	index_release(&s->tidx, SEG_TIMEINDEX_ENTRY_BYTES);
	free(s);
}

/* ---- loading and checking index files ---- */

static int read_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return RN_E_IO;
		got += (size_t)n;
	}
	return 0;
}

static int load_index_file(struct segment *s, int dir_fd, const char *ext, size_t entry_bytes,
			   bool active, uint32_t idx_cap, struct seg_index *ix, int *fd_out,
			   const char **why)
{
	index_release(ix, entry_bytes);
	close_fd(fd_out);
	int fd = open_in(dir_fd, s->base_offset, ext, active ? O_RDWR | O_CREAT : O_RDONLY);
	if (fd < 0) {
		*why = "index file missing";
		return errno == ENOENT ? RN_E_CORRUPT_STATE : RN_E_IO;
	}
	int rc = RN_E_IO;
	struct stat st;
	if (fstat(fd, &st) != 0)
		goto close_file;
	rc = RN_E_CORRUPT_STATE;
	if ((uint64_t)st.st_size % entry_bytes != 0 ||
	    (uint64_t)st.st_size / entry_bytes > UINT32_MAX) {
		*why = "index file size is not a whole number of entries";
		goto close_file;
	}
	uint32_t count = (uint32_t)((uint64_t)st.st_size / entry_bytes);
	if (active) {
		rc = index_reserve(ix, entry_bytes, count > idx_cap ? count : idx_cap);
		if (rc == 0 && count > 0)
			rc = read_all(fd, ix->data, (size_t)st.st_size);
		if (rc)
			goto close_file;
		*fd_out = fd;
	} else {
		if (count > 0) {
			void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
			rc = RN_E_IO;
			if (map == MAP_FAILED)
				goto close_file;
			ix->data = map;
			ix->mapped = true;
			ix->map_bytes = (size_t)st.st_size;
			ix->cap = count;
		}
		close(fd);
	}
	ix->count = count;
	ix->written = count;
	return 0;
close_file:
	close(fd);
	return rc;
}

static bool idx_has_rel(const struct seg_index *ix, uint32_t rel)
{
	uint32_t lo = 0, hi = ix->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint32_t r = idx_rel(ix, mid);
		if (r == rel)
			return true;
		if (r < rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static const char *check_offset_index(const struct segment *s)
{
	for (uint32_t i = 0; i < s->idx.count; i++) {
		uint32_t rel = idx_rel(&s->idx, i), pos = idx_pos(&s->idx, i);
		if (pos == 0 || pos >= s->size_bytes)
			return "offset index entry points outside the segment";
		if (rel > PLOG_MAX_RELATIVE_OFFSET)
			return "offset index entry is too far from the base offset";
		if (i > 0 && (rel <= idx_rel(&s->idx, i - 1) || pos <= idx_pos(&s->idx, i - 1)))
			return "offset index entries are not increasing";
	}
	return NULL;
}

static const char *check_time_index(const struct segment *s)
{
	/* The first offset index entry always comes with a time entry, since
	 * some batch precedes it; an empty time index next to a non-empty offset
	 * index means the time index lost entries. */
	if (s->idx.count > 0 &&
	    (s->tidx.count == 0 || tidx_rel(&s->tidx, 0) != idx_rel(&s->idx, 0)))
		return "time index does not match the offset index";
	for (uint32_t i = 0; i < s->tidx.count; i++) {
		if (!idx_has_rel(&s->idx, tidx_rel(&s->tidx, i)))
			return "time index entry has no offset index entry";
		if (i > 0 && (tidx_ts(&s->tidx, i) <= tidx_ts(&s->tidx, i - 1) ||
			      tidx_rel(&s->tidx, i) <= tidx_rel(&s->tidx, i - 1)))
			return "time index entries are not increasing";
	}
	return NULL;
}

/* The batch at the last index entry must carry the offset the entry names;
 * it is where resumed walks start. */
static int check_last_entry(struct segment *s, const char **why)
{
	if (s->idx.count == 0)
		return 0;
	uint8_t buf[BATCH_HEADER_BYTES];
	struct seg_walker w;
	struct batch_info info;
	uint64_t pos;
	int64_t at;
	last_entry(s, &pos, &at);
	seg_walker_init(&w, s, buf, sizeof(buf), 0);
	int rc = seg_walker_header(&w, pos, &info);
	if (rc == RN_E_IO)
		return rc;
	if (rc || info.base_offset != at) {
		*why = "last offset index entry does not point at its batch";
		return RN_E_CORRUPT_STATE;
	}
	return 0;
}

static void index_forget_pages(struct seg_index *ix, size_t entry_bytes)
{
	if (ix->mapped && ix->count > 0)
		(void)madvise(ix->data, (size_t)ix->count * entry_bytes, MADV_DONTNEED);
}

void segment_forget_index_pages(struct segment *s)
{
	index_forget_pages(&s->idx, SEG_INDEX_ENTRY_BYTES);
	index_forget_pages(&s->tidx, SEG_TIMEINDEX_ENTRY_BYTES);
}

int segment_load_indexes(struct segment *s, int dir_fd, bool active, uint32_t idx_cap,
			 const char **why)
{
	*why = NULL;
	int rc = load_index_file(s, dir_fd, "index", SEG_INDEX_ENTRY_BYTES, active, idx_cap,
				 &s->idx, &s->idx_fd, why);
	if (rc == 0)
		rc = load_index_file(s, dir_fd, "timeindex", SEG_TIMEINDEX_ENTRY_BYTES, active,
				     idx_cap, &s->tidx, &s->tidx_fd, why);
	if (rc)
		return rc;
	*why = check_offset_index(s);
	if (!*why)
		*why = check_time_index(s);
	if (*why)
		return RN_E_CORRUPT_STATE;
	rc = check_last_entry(s, why);
	/* The checks read every entry; a node opening many segments would
	 * otherwise keep all their indexes resident. */
	if (!active)
		segment_forget_index_pages(s);
	return rc;
}

/* ---- rebuilding, resuming, checking ---- */

int segment_rebuild_indexes(struct segment *s, int dir_fd, struct seg_walker *w, bool check_crc,
			    uint32_t idx_cap, struct seg_scan *res)
{
	index_release(&s->idx, SEG_INDEX_ENTRY_BYTES);
	index_release(&s->tidx, SEG_TIMEINDEX_ENTRY_BYTES);
	int rc = index_reserve(&s->idx, SEG_INDEX_ENTRY_BYTES, idx_cap);
	if (rc == 0)
		rc = index_reserve(&s->tidx, SEG_TIMEINDEX_ENTRY_BYTES, idx_cap);
	if (rc == 0)
		rc = ensure_index_fds(s, dir_fd);
	if (rc == 0)
		rc = truncate_file(s->idx_fd, 0);
	if (rc == 0)
		rc = truncate_file(s->tidx_fd, 0);
	if (rc)
		return rc;
	seg_walker_retarget(w, s);
	s->bytes_since_index = 0;
	s->max_timestamp = INT64_MIN;
	rc = scan_batches(s, w, 0, s->base_offset, check_crc, true, NULL, res);
	if (rc)
		return rc;
	s->size_bytes = res->end_pos;
	s->end_offset = res->end_offset;
	s->max_ts_known = true;
	return 0;
}

int segment_resume(struct segment *s, struct seg_walker *w, struct seg_scan *res)
{
	uint64_t pos;
	int64_t at;
	last_entry(s, &pos, &at);
	seg_walker_retarget(w, s);
	s->max_timestamp = last_tidx_ts(s);
	s->bytes_since_index = 0;
	int rc = scan_batches(s, w, pos, at, false, true, NULL, res);
	if (rc)
		return rc;
	s->size_bytes = res->end_pos;
	s->end_offset = res->end_offset;
	s->max_ts_known = true;
	return 0;
}

int segment_check_tail(struct segment *s, struct seg_walker *w, struct seg_scan *res)
{
	struct dry_index dry = {.interval = s->index_interval};
	int64_t at;
	last_entry(s, &dry.last_pos, &at);
	seg_walker_retarget(w, s);
	int rc = scan_batches(s, w, dry.last_pos, at, true, false, &dry, res);
	if (rc)
		return rc;
	if (res->clean) {
		int64_t before = last_tidx_ts(s);
		if (before > res->max_timestamp)
			res->max_timestamp = before;
		s->max_timestamp = res->max_timestamp;
		s->max_ts_known = true;
	}
	return 0;
}

static int flush_index(int fd, struct seg_index *ix, size_t entry_bytes)
{
	if (ix->mapped || ix->written >= ix->count)
		return 0;
	int rc = pwrite_all(fd, ix->data + (size_t)ix->written * entry_bytes,
			    (size_t)(ix->count - ix->written) * entry_bytes,
			    (uint64_t)ix->written * entry_bytes);
	if (rc == 0)
		ix->written = ix->count;
	return rc;
}

/*
 * Moves an index into a shared writable mapping of its file with room for
 * cap entries, keeping the entries it holds (written to the file first when
 * they were in memory).  Where the file cannot be mapped the index stays
 * in (or moves to) malloc'd memory.  0, RN_E_IO or RN_E_NOMEM.
 */
static int index_map_writable(struct seg_index *ix, int fd, size_t entry_bytes, uint32_t cap)
{
	if (ix->mapped && ix->writable)
		return 0;
	if (cap < ix->count)
		cap = ix->count;
	if (cap == 0)
		cap = 1;
	int rc = ix->mapped ? 0 : flush_index(fd, ix, entry_bytes);
	size_t bytes = (size_t)cap * entry_bytes;
	if (rc == 0)
		rc = truncate_file(fd, bytes);
	if (rc)
		return rc;
	void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		LOG_DEBUG("storage", "cannot map an index file (%s); keeping it in memory",
			  strerror(errno));
		rc = truncate_file(fd, (uint64_t)ix->count * entry_bytes);
		if (rc == 0)
			rc = index_unmap(ix, entry_bytes, cap);
		return rc;
	}
	uint32_t count = ix->count;
	index_release(ix, entry_bytes);
	ix->data = map;
	ix->count = ix->written = count;
	ix->cap = cap;
	ix->mapped = ix->writable = true;
	ix->map_bytes = bytes;
	return 0;
}

/* Cuts a writable mapped index's file to its entries and maps those
 * read-only (the segment closes).  0 or RN_E_IO. */
static int index_seal(struct seg_index *ix, int fd, size_t entry_bytes)
{
	if (!ix->mapped || !ix->writable)
		return 0;
	uint32_t count = ix->count;
	size_t bytes = (size_t)count * entry_bytes;
	/* The mapping goes before the file shrinks under it. */
	index_release(ix, entry_bytes);
	int rc = truncate_file(fd, bytes);
	if (rc)
		return rc;
	if (count == 0)
		return 0;
	void *map = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		LOG_ERROR("storage", "cannot map an index file: %s", strerror(errno));
		return RN_E_IO;
	}
	ix->data = map;
	ix->count = ix->written = ix->cap = count;
	ix->mapped = true;
	ix->map_bytes = bytes;
	return 0;
}

int segment_flush_indexes(struct segment *s, int dir_fd)
{
	if (s->idx.written >= s->idx.count && s->tidx.written >= s->tidx.count &&
	    !s->idx.writable && !s->tidx.writable)
		return 0;
	int rc = ensure_index_fds(s, dir_fd);
	if (rc == 0)
		rc = flush_index(s->idx_fd, &s->idx, SEG_INDEX_ENTRY_BYTES);
	if (rc == 0)
		rc = flush_index(s->tidx_fd, &s->tidx, SEG_TIMEINDEX_ENTRY_BYTES);
	if (rc == 0)
		rc = index_seal(&s->idx, s->idx_fd, SEG_INDEX_ENTRY_BYTES);
	if (rc == 0)
		rc = index_seal(&s->tidx, s->tidx_fd, SEG_TIMEINDEX_ENTRY_BYTES);
	return rc;
}

int segment_map_indexes(struct segment *s, int dir_fd, uint32_t idx_cap)
{
	int rc = ensure_index_fds(s, dir_fd);
	if (rc == 0)
		rc = index_map_writable(&s->idx, s->idx_fd, SEG_INDEX_ENTRY_BYTES, idx_cap);
	if (rc == 0)
		rc = index_map_writable(&s->tidx, s->tidx_fd, SEG_TIMEINDEX_ENTRY_BYTES, idx_cap);
	return rc;
}

static void index_trim(struct seg_index *ix, size_t entry_bytes)
{
	if (ix->mapped || ix->cap <= ix->count || ix->count == 0)
		return;
	uint8_t *data = realloc(ix->data, (size_t)ix->count * entry_bytes);
	if (data) {
		ix->data = data;
		ix->cap = ix->count;
	}
}

void segment_trim_indexes(struct segment *s)
{
	index_trim(&s->idx, SEG_INDEX_ENTRY_BYTES);
	index_trim(&s->tidx, SEG_TIMEINDEX_ENTRY_BYTES);
}

static int sync_fd(int fd, int64_t base, const char *what)
{
	if (fd < 0)
		return 0;
	while (fdatasync(fd) != 0) {
		if (errno == EINTR)
			continue;
		LOG_ERROR("storage", "fdatasync of segment %020" PRId64 " %s failed: %s", base,
			  what, strerror(errno));
		return RN_E_IO;
	}
	return 0;
}

int segment_sync(struct segment *s, bool with_indexes)
{
	int rc = sync_fd(s->log_fd, s->base_offset, "log");
	if (rc == 0 && with_indexes)
		rc = sync_fd(s->idx_fd, s->base_offset, "index");
	if (rc == 0 && with_indexes)
		rc = sync_fd(s->tidx_fd, s->base_offset, "timeindex");
	return rc;
}

int segment_make_active(struct segment *s, int dir_fd, uint32_t idx_cap)
{
	int rc = segment_map_indexes(s, dir_fd, idx_cap);
	if (rc == 0)
		s->closed = false;
	return rc;
}

int segment_truncate(struct segment *s, struct seg_walker *w, uint64_t pos, int64_t end_offset)
{
	RN_ASSERT(!s->closed && (!s->idx.mapped || s->idx.writable) &&
		  (!s->tidx.mapped || s->tidx.writable));
	RN_ASSERT(pos <= s->size_bytes && end_offset >= s->base_offset);
	int rc = truncate_file(s->log_fd, pos);
	if (rc)
		return rc;
	/* Truncation frees the space allocated past the new end too. */
	if (s->reserved_end != UINT64_MAX)
		s->reserved_end = pos;
	while (s->idx.count > 0 && idx_pos(&s->idx, s->idx.count - 1) >= pos)
		s->idx.count--;
	uint64_t rel_cut = (uint64_t)(end_offset - s->base_offset);
	while (s->tidx.count > 0 && tidx_rel(&s->tidx, s->tidx.count - 1) >= rel_cut)
		s->tidx.count--;
	if (s->idx.written > s->idx.count)
		s->idx.written = s->idx.count;
	if (s->tidx.written > s->tidx.count)
		s->tidx.written = s->tidx.count;
	/* A mapped index's file keeps its size (it is cut when the segment
	 * closes); the entries past the count are never read. */
	if (s->idx_fd >= 0 && !s->idx.mapped)
		rc = truncate_file(s->idx_fd, (uint64_t)s->idx.written * SEG_INDEX_ENTRY_BYTES);
	if (rc == 0 && s->tidx_fd >= 0 && !s->tidx.mapped)
		rc = truncate_file(s->tidx_fd,
				   (uint64_t)s->tidx.written * SEG_TIMEINDEX_ENTRY_BYTES);
	if (rc)
		return rc;
	s->size_bytes = pos;
	struct seg_scan res;
	rc = segment_resume(s, w, &res);
	if (rc)
		return rc;
	if (!res.clean || res.end_offset != end_offset)
		return RN_E_CORRUPT_STATE;
	if (pos == 0)
		s->created_ms = -1;
	return 0;
}

/* ---- finding batches ---- */

int segment_find_batch(struct segment *s, struct seg_walker *w, int64_t offset, uint64_t *pos,
		       struct batch_info *info)
{
	uint64_t p;
	int64_t at;
	segment_lookup_offset(s, offset, &p, &at);
	for (;;) {
		int rc = seg_walker_header(w, p, info);
		if (rc)
			return rc;
		if (info->base_offset > offset)
			return RN_E_CORRUPT_STATE;
		if (info->base_offset + info->last_offset_delta >= offset) {
			*pos = p;
			return 0;
		}
		p += info->total_bytes;
	}
}

int segment_boundary_below(struct segment *s, struct seg_walker *w, uint64_t start,
			   uint64_t target, uint64_t *boundary)
{
	if (target >= s->size_bytes) {
		*boundary = s->size_bytes;
		return 0;
	}
	uint64_t p;
	int64_t at;
	segment_lookup_position(s, target, &p, &at);
	if (p < start)
		p = start;
	while (p < s->size_bytes) {
		struct batch_info info;
		int rc = seg_walker_header(w, p, &info);
		if (rc)
			return rc;
		if (p + info.total_bytes > target)
			break;
		p += info.total_bytes;
	}
	*boundary = p;
	return 0;
}

int segment_max_timestamp(struct segment *s, struct seg_walker *w, int64_t *ts)
{
	if (!s->max_ts_known) {
		uint64_t pos;
		int64_t at;
		struct seg_scan res;
		last_entry(s, &pos, &at);
		int rc = scan_batches(s, w, pos, at, false, false, NULL, &res);
		if (rc)
			return rc;
		if (!res.clean)
			return RN_E_CORRUPT_STATE;
		int64_t before = last_tidx_ts(s);
		s->max_timestamp = before > res.max_timestamp ? before : res.max_timestamp;
		s->max_ts_known = true;
	}
	*ts = s->max_timestamp;
	return 0;
}
