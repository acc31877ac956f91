/* fetchbuf.c: decoding Fetch responses in place, validating and decoding fetched record batches. */
#include "clients/fetchbuf.h"

#include <stdlib.h>
#include <string.h>

#include "clients/pbwalk.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"

/* ------------------------------------------------------------------ chunks */

struct fetch_chunk *fetch_chunk_new(uint8_t *buf)
{
	struct fetch_chunk *ch = malloc(sizeof(*ch));
	if (!ch) {
		free(buf);
		return NULL;
	}
	ch->buf = buf;
	ch->refs = 1;
	return ch;
}

void fetch_chunk_ref(struct fetch_chunk *ch)
{
	ch->refs++;
}

void fetch_chunk_unref(struct fetch_chunk *ch)
{
	if (!ch)
		return;
	RN_ASSERT(ch->refs > 0);
	if (--ch->refs > 0)
		return;
	free(ch->buf);
	free(ch);
}

/* --------------------------------------------------------------- the queue */

void fetchbuf_init(struct fetchbuf *fb)
{
	memset(fb, 0, sizeof(*fb));
	fb->last_base_offset = -1;
	fb->end_offset = -1;
}

void fetchbuf_set_arena(struct fetchbuf *fb, struct fetch_arena *ar)
{
	fb->arena = ar;
}

void fetchbuf_clear(struct fetchbuf *fb)
{
	struct fetch_arena *ar = fb->arena;
	for (size_t i = 0; i < fb->count; i++)
		fetch_chunk_unref(fb->segs[i].chunk);
	free(fb->views);
	fetchbuf_init(fb);
	fb->arena = ar;
}

/* ------------------------------------------------------------------ arena */

void fetch_arena_init(struct fetch_arena *ar)
{
	ar->buf = NULL;
	ar->cap = 0;
	ar->used = 0;
	ar->gen = 0;
	batch_codec_init(&ar->codec);
}

void fetch_arena_destroy(struct fetch_arena *ar)
{
	free(ar->buf);
	batch_codec_destroy(&ar->codec);
	fetch_arena_init(ar);
}

void fetch_arena_reset(struct fetch_arena *ar)
{
	ar->used = 0;
	ar->gen++;
}

/* Makes an empty arena hold at least want bytes. */
static int arena_grow(struct fetch_arena *ar, size_t want)
{
	RN_ASSERT(ar->used == 0);
	if (want <= ar->cap)
		return 0;
	if (want < FETCH_ARENA_MIN_BYTES)
		want = FETCH_ARENA_MIN_BYTES;
	if (want > BATCH_MAX_RECORDS_BYTES)
		want = BATCH_MAX_RECORDS_BYTES;
	uint8_t *nb = malloc(want);
	if (!nb)
		return RN_E_NOMEM;
	free(ar->buf);
	ar->buf = nb;
	ar->cap = want;
	return 0;
}

/*
 * Decompresses the records of the compressed batch p (header checked) at
 * the end of the arena.  Returns 0 with *records and *len set, RN_E_FULL
 * when they need more room than is left and the arena holds records
 * already, or a decompression error.  An empty arena grows as needed.
 */
static int arena_inflate(struct fetch_arena *ar, const uint8_t *p, const struct batch_info *info,
			 const uint8_t **records, size_t *len)
{
	size_t hint = batch_records_size_hint(p, info);
	if (ar->used > 0 && ar->cap - ar->used < hint)
		return RN_E_FULL;
	int rc = ar->used == 0 ? arena_grow(ar, hint) : 0;
	while (rc == 0) {
		rc = batch_decompress_records(&ar->codec, p, info, ar->buf + ar->used,
					      ar->cap - ar->used, len);
		if (rc != RN_E_FULL || ar->used > 0)
			break;
		rc = arena_grow(ar, ar->cap * 2);
	}
	if (rc != 0)
		return rc;
	*records = ar->buf + ar->used;
	ar->used += *len;
	return 0;
}

/* True when the part being read has nothing left (and is not mid-batch). */
static int cur_read_out(const struct fetchbuf *fb)
{
	return fb->cur < fb->count && !fb->in_batch && fb->off >= fb->segs[fb->cur].len;
}

void fetchbuf_release_read(struct fetchbuf *fb)
{
	size_t k = fb->cur + (cur_read_out(fb) ? 1 : 0);
	if (k == 0)
		return;
	for (size_t i = 0; i < k; i++)
		fetch_chunk_unref(fb->segs[i].chunk);
	memmove(fb->segs, fb->segs + k, (fb->count - k) * sizeof(fb->segs[0]));
	fb->count -= k;
	if (k > fb->cur)
		fb->off = 0;
	fb->cur = 0;
	if (fb->count == 0) {
		/* Idle partitions keep no view array. */
		fb->end_offset = -1;
		free(fb->views);
		fb->views = NULL;
		fb->views_cap = 0;
	}
}

int fetchbuf_empty(const struct fetchbuf *fb)
{
	return !fb->in_batch &&
	       (fb->cur >= fb->count || (fb->cur + 1 == fb->count && cur_read_out(fb)));
}

size_t fetchbuf_unread_parts(const struct fetchbuf *fb)
{
	if (fb->cur >= fb->count)
		return 0;
	return fb->count - fb->cur - (cur_read_out(fb) ? 1 : 0);
}

/* Walks the batch headers of data[0..len): how many whole batches it starts
 * with, the offset after the last of them, and whether it then holds
 * something that is not a batch (rather than a batch cut short). */
static void scan_batches(const uint8_t *data, size_t len, size_t *whole, int64_t *end, int *bad)
{
	size_t off = 0;
	*whole = 0;
	*bad = 0;
	while (off < len) {
		struct batch_info info;
		int rc = batch_peek(data + off, len - off, &info);
		if (rc == RN_E_AGAIN || (rc != 0 && len - off < BATCH_HEADER_BYTES))
			return;
		if (rc != 0) {
			*bad = 1;
			return;
		}
		(*whole)++;
		*end = info.base_offset + (int64_t)info.last_offset_delta + 1;
		off += info.total_bytes;
	}
}

int fetchbuf_push(struct fetchbuf *fb, struct fetch_chunk *chunk, const uint8_t *data, size_t len)
{
	if (len == 0)
		return 0;
	size_t whole;
	int64_t end = -1;
	int bad;
	scan_batches(data, len, &whole, &end, &bad);
	if (whole == 0 && !bad) {
		fb->truncated_first = 1;
		return 0;
	}
	if (fb->count >= FETCHBUF_MAX_SEGS)
		return RN_E_FULL;
	fetch_chunk_ref(chunk);
	fb->segs[fb->count++] = (struct fetchbuf_seg){chunk, data, len};
	/* Past bytes that are not batches there is no telling where the next
	 * fetch should start; reading reports them, and the position decides. */
	fb->end_offset = bad ? -1 : end;
	return 0;
}

int fetchbuf_set(struct fetchbuf *fb, uint8_t *data, size_t len)
{
	fetchbuf_clear(fb);
	struct fetch_chunk *ch = fetch_chunk_new(data);
	if (!ch)
		return RN_E_NOMEM;
	int rc = fetchbuf_push(fb, ch, data, len);
	fetch_chunk_unref(ch);
	return rc;
}

/* ----------------------------------------------------------------- reading */

/* Grows the view array to hold count records, if that is within
 * FETCHBUF_MAX_VIEWS; when it cannot grow, the batch is read by iterating. */
static void views_reserve(struct fetchbuf *fb, int32_t count)
{
	if (count <= 0 || count > FETCHBUF_MAX_VIEWS || (size_t)count <= fb->views_cap)
		return;
	size_t ncap = fb->views_cap ? fb->views_cap : 64;
	while (ncap < (size_t)count)
		ncap *= 2;
	if (ncap > FETCHBUF_MAX_VIEWS)
		ncap = FETCHBUF_MAX_VIEWS;
	struct record_view *nv = realloc(fb->views, ncap * sizeof(*nv));
	if (!nv)
		return;
	fb->views = nv;
	fb->views_cap = ncap;
}

/* Prepares reading records[0..len), the checked records of the batch
 * info describes: from the views the check filled, or by iterating. */
static int start_records(struct fetchbuf *fb, const struct batch_info *info,
			 const uint8_t *records, size_t len)
{
	views_reserve(fb, info->record_count);
	int rc = batch_check_records(info, records, len, fb->views, fb->views_cap, &fb->use_views);
	if (rc == 0 && !fb->use_views)
		batch_iter_init_records(&fb->it, info, records, len);
	fb->view_next = 0;
	return rc;
}

/* Decompresses the open compressed batch p into the arena and prepares
 * reading it.  Returns 0, RN_E_FULL (no room until the arena is reset) or
 * an error. */
static int inflate_batch(struct fetchbuf *fb, const uint8_t *p, const struct batch_info *info)
{
	const uint8_t *records;
	size_t len;
	int rc = arena_inflate(fb->arena, p, info, &records, &len);
	if (rc != 0)
		return rc;
	fb->zbatch = p;
	fb->zgen = fb->arena->gen;
	return start_records(fb, info, records, len);
}

/* Validates the batch at p (total bytes long, per its header info) and
 * prepares reading it, decompressing it first when it is compressed.
 * Sets *skip for a compressed batch wholly below position: its CRC was
 * checked, but it is not worth decompressing. */
static int start_batch(struct fetchbuf *fb, const uint8_t *p, struct batch_info *info,
		       int64_t position, int *skip)
{
	size_t total = info->total_bytes;
	int rc = batch_check_header(p, total, RN_MAX_RECORDS_PER_BATCH, info);
	fb->zbatch = NULL;
	*skip = 0;
	if (rc != 0) {
		fb->bad_codec = batch_codec_of(info);
		return rc;
	}
	if (batch_codec_of(info) == BATCH_COMPRESSION_NONE)
		return start_records(fb, info, p + BATCH_HEADER_BYTES, total - BATCH_HEADER_BYTES);
	if (!fb->arena) {
		fb->bad_codec = batch_codec_of(info);
		return RN_E_UNSUPPORTED_COMPRESSION_TYPE;
	}
	if (info->base_offset + info->last_offset_delta < position) {
		*skip = 1;
		return 0;
	}
	return inflate_batch(fb, p, info);
}

/* Validates the next batch and starts iterating it.  Returns 1 when a batch
 * was opened, 0 when no whole batch is left, RN_E_FULL when the next one
 * must wait for room in the arena (it stays next), or an error (the rest of
 * the part is then dropped). */
static int open_batch(struct fetchbuf *fb, int64_t position)
{
	for (;;) {
		if (fb->cur >= fb->count)
			return 0;
		const struct fetchbuf_seg *sg = &fb->segs[fb->cur];
		size_t avail = sg->len - fb->off;
		if (avail == 0) {
			if (fb->cur + 1 >= fb->count)
				return 0;
			fb->cur++;
			fb->off = 0;
			continue;
		}
		const uint8_t *p = sg->data + fb->off;
		struct batch_info info;
		int rc = batch_peek(p, avail, &info);
		if (rc == RN_E_AGAIN || (rc != 0 && avail < BATCH_HEADER_BYTES)) {
			/* A batch cut short by the fetch size: drop it. */
			fb->off = sg->len;
			continue;
		}
		int skip = 0;
		if (rc == 0)
			rc = start_batch(fb, p, &info, position, &skip);
		if (rc == RN_E_FULL)
			return rc;
		if (rc != 0) {
			fb->off = sg->len;
			return rc;
		}
		fb->off += info.total_bytes;
		if (skip)
			continue;
		fb->in_batch = 1;
		fb->info = info;
		fb->last_base_offset = info.base_offset;
		return 1;
	}
}

/* The next record of the open batch: 1, 0 at its end, or an error. */
static int batch_next(struct fetchbuf *fb, struct record_view *rec)
{
	if (!fb->use_views)
		return batch_iter_next(&fb->it, rec);
	if (fb->view_next >= fb->info.record_count)
		return 0;
	*rec = fb->views[fb->view_next++];
	return 1;
}

/* Skips the views of the open batch below position (validation checked
 * that record i has offset base + i); iteration skips them as it reads. */
static void seek_views(struct fetchbuf *fb, int64_t position)
{
	int64_t base = fb->info.base_offset;
	if (fb->use_views && position > base && position - base > fb->view_next)
		fb->view_next = (int32_t)(position - base);
}

int fetchbuf_next(struct fetchbuf *fb, int64_t position, struct record_view *rec)
{
	for (;;) {
		if (!fb->in_batch) {
			int rc = open_batch(fb, position);
			if (rc <= 0)
				return rc;
			/* A whole batch below the position needs no decoding. */
			if (fb->info.base_offset + fb->info.last_offset_delta < position) {
				fb->in_batch = 0;
				continue;
			}
			seek_views(fb, position);
		} else if (fb->zbatch && fb->zgen != fb->arena->gen) {
			/* The arena was reset under the open batch: its
			 * records are decompressed again, and the ones
			 * already returned skipped. */
			int rc = inflate_batch(fb, fb->zbatch, &fb->info);
			if (rc == RN_E_FULL)
				return rc;
			if (rc != 0) {
				fb->in_batch = 0;
				fb->off = fb->segs[fb->cur].len;
				return rc;
			}
			seek_views(fb, position);
		}
		int rc = batch_next(fb, rec);
		if (rc < 0) {
			fb->in_batch = 0;
			fb->off = fb->segs[fb->cur].len;
			return rc;
		}
		if (rc == 0) {
			fb->in_batch = 0;
			continue;
		}
		if (rec->offset >= position)
			return 1;
	}
}

int fetchbuf_headers(const struct record_view *rec, struct runnel_header *out)
{
	const uint8_t *pos = rec->headers;
	size_t len = rec->headers_len;
	struct record_header_view h;
	for (uint32_t i = 0; i < rec->header_count; i++) {
		int rc = batch_header_next(&pos, &len, &h);
		if (rc != 1)
			return RN_E_CORRUPT_MESSAGE;
		out[i].key = (const char *)h.key;
		out[i].key_len = h.key_len;
		out[i].value = h.value;
		out[i].value_len = h.value_len;
	}
	return 0;
}

/* ------------------------------------------------- Fetch responses in place */

/* Field numbers of runnel.proto's Response, FetchResponse, FetchTopicData
 * and FetchPartitionData that a consumer reads. */
#define RESPONSE_ERROR_CODE 2
#define RESPONSE_ERROR_MESSAGE 3
#define RESPONSE_BODY_FIRST 100
#define RESPONSE_BODY_FETCH 101
#define FETCH_ERROR_CODE 1
#define FETCH_TOPICS 2
#define TOPIC_NAME 1
#define TOPIC_PARTITIONS 2
#define PART_PARTITION 1
#define PART_ERROR_CODE 2
#define PART_ERROR_MESSAGE 3
#define PART_HIGH_WATERMARK 4
#define PART_RECORDS 7

/* A field this decoder reads must have the wire type its declaration gives
 * it; protobuf-c refuses the message otherwise, and so does this. */
static int want_type(const struct pbfield *f, int wire_type)
{
	return f->wire_type == wire_type ? 0 : RN_E_MALFORMED_FRAME;
}

static int take_str(const struct pbfield *f, struct fetch_str *s)
{
	if (want_type(f, PBWALK_LEN) != 0)
		return RN_E_MALFORMED_FRAME;
	s->data = (const char *)f->data;
	s->len = f->len;
	return 0;
}

static int decode_partition(const uint8_t *data, size_t len, struct fetch_part_view *pv)
{
	struct pbwalk w;
	struct pbfield f;
	int rc;
	pbwalk_init(&w, data, len);
	while ((rc = pbwalk_next(&w, &f)) == 1) {
		int err = 0;
		switch (f.number) {
		case PART_PARTITION:
			if ((err = want_type(&f, PBWALK_VARINT)) == 0)
				pv->partition = pbfield_int32(&f);
			break;
		case PART_ERROR_CODE:
			if ((err = want_type(&f, PBWALK_VARINT)) == 0)
				pv->error_code = pbfield_int32(&f);
			break;
		case PART_ERROR_MESSAGE:
			err = take_str(&f, &pv->error_message);
			break;
		case PART_HIGH_WATERMARK:
			if ((err = want_type(&f, PBWALK_VARINT)) == 0)
				pv->high_watermark = pbfield_int64(&f);
			break;
		case PART_RECORDS:
			if ((err = want_type(&f, PBWALK_LEN)) == 0) {
				pv->records = f.data;
				pv->records_len = f.len;
			}
			break;
		default:
			break;
		}
		if (err != 0)
			return err;
	}
	return rc;
}

/* Calls fn (when not NULL) for each partition of one FetchTopicData. */
static int walk_topic(const uint8_t *data, size_t len,
		      int (*fn)(void *arg, const struct fetch_part_view *part), void *arg)
{
	struct fetch_str name = {"", 0};
	struct pbwalk w;
	struct pbfield f;
	int rc;
	/* The name may follow the partitions on the wire: find it first. */
	pbwalk_init(&w, data, len);
	while ((rc = pbwalk_next(&w, &f)) == 1)
		if (f.number == TOPIC_NAME && take_str(&f, &name) != 0)
			return RN_E_MALFORMED_FRAME;
	if (rc != 0)
		return rc;
	pbwalk_init(&w, data, len);
	while ((rc = pbwalk_next(&w, &f)) == 1) {
		if (f.number != TOPIC_PARTITIONS)
			continue;
		if (want_type(&f, PBWALK_LEN) != 0)
			return RN_E_MALFORMED_FRAME;
		struct fetch_part_view pv = {.topic = name, .error_message = {"", 0}};
		if ((rc = decode_partition(f.data, f.len, &pv)) != 0)
			return rc;
		if (fn && (rc = fn(arg, &pv)) != 0)
			return rc;
	}
	return rc;
}

/* Reads the FetchResponse's error code into top and walks its topics. */
static int walk_fetch(const uint8_t *data, size_t len, struct fetch_resp_view *top,
		      int (*fn)(void *arg, const struct fetch_part_view *part), void *arg)
{
	struct pbwalk w;
	struct pbfield f;
	int rc;
	pbwalk_init(&w, data, len);
	while ((rc = pbwalk_next(&w, &f)) == 1) {
		if (f.number == FETCH_ERROR_CODE) {
			if (want_type(&f, PBWALK_VARINT) != 0)
				return RN_E_MALFORMED_FRAME;
			top->fetch_error_code = pbfield_int32(&f);
		} else if (f.number == FETCH_TOPICS) {
			if (want_type(&f, PBWALK_LEN) != 0)
				return RN_E_MALFORMED_FRAME;
			if ((rc = walk_topic(f.data, f.len, fn, arg)) != 0)
				return rc;
		}
	}
	return rc;
}

/* Reads the Response's own fields and finds its body. */
static int decode_top(const uint8_t *body, size_t len, struct fetch_resp_view *top,
		      struct pbfield *fetch)
{
	struct pbwalk w;
	struct pbfield f;
	int rc;
	memset(top, 0, sizeof(*top));
	top->error_message.data = "";
	pbwalk_init(&w, body, len);
	while ((rc = pbwalk_next(&w, &f)) == 1) {
		if (f.number == RESPONSE_ERROR_CODE) {
			if (want_type(&f, PBWALK_VARINT) != 0)
				return RN_E_MALFORMED_FRAME;
			top->error_code = pbfield_int32(&f);
		} else if (f.number == RESPONSE_ERROR_MESSAGE) {
			if (take_str(&f, &top->error_message) != 0)
				return RN_E_MALFORMED_FRAME;
		} else if (f.number == RESPONSE_BODY_FETCH) {
			if (want_type(&f, PBWALK_LEN) != 0)
				return RN_E_MALFORMED_FRAME;
			*fetch = f;
			top->has_fetch = 1;
		} else if (f.number >= RESPONSE_BODY_FIRST) {
			/* Another member of the body oneof: the last one set wins. */
			top->has_fetch = 0;
		}
	}
	return rc;
}

int fetch_response_decode(const uint8_t *body, size_t len, struct fetch_resp_view *top,
			  int (*fn)(void *arg, const struct fetch_part_view *part), void *arg)
{
	struct pbfield fetch = {0};
	int rc = decode_top(body, len, top, &fetch);
	if (rc != 0 || !top->has_fetch)
		return rc;
	rc = walk_fetch(fetch.data, fetch.len, top, NULL, NULL);
	if (rc != 0 || !fn)
		return rc;
	return walk_fetch(fetch.data, fetch.len, top, fn, arg);
}
