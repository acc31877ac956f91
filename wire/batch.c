/* batch.c: the binary record batch: validation, stamping, iteration, building. */
#include "wire/batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "wire/varint.h"

/*
 * The smallest record: a one-byte length, then attributes, timestamp delta,
 * offset delta, key length, value length and header count, one byte each.
 * It bounds how many records a batch of a given size can hold, so a header
 * that claims more is refused before the records are walked.
 */
#define MIN_RECORD_BYTES 7u

/* How many times its compressed size a frame's declared content size may
 * be before the first buffer offered for it stops growing with the claim
 * (lz4 cannot expand more than about 255 times; records that zstd shrinks
 * further simply take a few larger buffers). */
#define BATCH_HINT_MAX_RATIO 256u

/* A record's fields as parsed from the bytes, before the header is applied. */
struct record_raw {
	int8_t attributes;
	int64_t timestamp_delta;
	int32_t offset_delta;
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;
	int32_t value_len;
	int32_t header_count;
	const uint8_t *headers;
	size_t headers_len;
};

/* A forward-only reader over [pos, end) that never reads past end. */
struct cursor {
	const uint8_t *pos;
	const uint8_t *end;
};

static inline size_t cursor_left(const struct cursor *c)
{
	return (size_t)(c->end - c->pos);
}

/*
 * Reads a zig-zag varint's unsigned value of one or two bytes, the size of
 * nearly every length, delta and count in a record, without a call; longer
 * ones are left to varint.c.  Returns the bytes read, 0 when the caller
 * must take the general path.  Accepts exactly what varint_get accepts: a
 * one- or two-byte encoding always fits either type.
 */
static inline size_t short_varint(const struct cursor *c, uint32_t *u)
{
	size_t left = cursor_left(c);
	if (left >= 1 && c->pos[0] < 0x80u) {
		*u = c->pos[0];
		return 1;
	}
	if (left >= 2 && c->pos[1] < 0x80u) {
		*u = (uint32_t)(c->pos[0] & 0x7fu) | ((uint32_t)c->pos[1] << 7);
		return 2;
	}
	return 0;
}

static inline int cursor_varint(struct cursor *c, int32_t *out)
{
	uint32_t u;
	size_t n = short_varint(c, &u);
	if (n > 0) {
		*out = (int32_t)((u >> 1) ^ (0u - (u & 1u)));
		c->pos += n;
		return 0;
	}
	n = varint_get(c->pos, cursor_left(c), out);
	if (n == 0)
		return RN_E_CORRUPT_MESSAGE;
	c->pos += n;
	return 0;
}

static inline int cursor_varlong(struct cursor *c, int64_t *out)
{
	uint32_t u;
	size_t n = short_varint(c, &u);
	if (n > 0) {
		*out = (int64_t)(int32_t)((u >> 1) ^ (0u - (u & 1u)));
		c->pos += n;
		return 0;
	}
	n = varlong_get(c->pos, cursor_left(c), out);
	if (n == 0)
		return RN_E_CORRUPT_MESSAGE;
	c->pos += n;
	return 0;
}

/* Reads a length-prefixed byte string whose length may be -1 (null) when
 * nullable is set.  *bytes is NULL for a null string. */
static inline int cursor_bytes(struct cursor *c, int nullable, const uint8_t **bytes,
				int32_t *len)
{
	int rc = cursor_varint(c, len);
	if (rc != 0)
		return rc;
	if (*len == -1 && nullable) {
		*bytes = NULL;
		return 0;
	}
	if (*len < 0 || (size_t)*len > cursor_left(c))
		return RN_E_CORRUPT_MESSAGE;
	*bytes = c->pos;
	c->pos += *len;
	return 0;
}

/* ---------------------------------------------------------------- header */

static void header_read(const uint8_t *buf, struct batch_info *info)
{
	info->base_offset = (int64_t)be_get64(buf + BATCH_OFF_BASE_OFFSET);
	info->total_bytes = BATCH_LOG_OVERHEAD + be_get32(buf + BATCH_OFF_LENGTH);
	info->leader_epoch = (int32_t)be_get32(buf + BATCH_OFF_LEADER_EPOCH);
	info->crc = be_get32(buf + BATCH_OFF_CRC);
	info->attributes = (int16_t)be_get16(buf + BATCH_OFF_ATTRIBUTES);
	info->last_offset_delta = (int32_t)be_get32(buf + BATCH_OFF_LAST_OFFSET_DELTA);
	info->first_timestamp = (int64_t)be_get64(buf + BATCH_OFF_FIRST_TIMESTAMP);
	info->max_timestamp = (int64_t)be_get64(buf + BATCH_OFF_MAX_TIMESTAMP);
	info->producer_id = (int64_t)be_get64(buf + BATCH_OFF_PRODUCER_ID);
	info->producer_epoch = (int16_t)be_get16(buf + BATCH_OFF_PRODUCER_EPOCH);
	info->base_sequence = (int32_t)be_get32(buf + BATCH_OFF_BASE_SEQUENCE);
	info->record_count = (int32_t)be_get32(buf + BATCH_OFF_RECORD_COUNT);
}

int batch_peek(const uint8_t *buf, size_t avail, struct batch_info *info)
{
	if (avail < BATCH_HEADER_BYTES)
		return RN_E_CORRUPT_MESSAGE;
	if (buf[BATCH_OFF_MAGIC] != BATCH_MAGIC)
		return RN_E_CORRUPT_MESSAGE;

	/* Checked before the addition in header_read so that a huge claimed
	 * length cannot wrap total_bytes around to a plausible value. */
	uint32_t batch_length = be_get32(buf + BATCH_OFF_LENGTH);
	if (batch_length < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD ||
	    batch_length > RN_MAX_BATCH_BYTES - BATCH_LOG_OVERHEAD)
		return RN_E_CORRUPT_MESSAGE;

	header_read(buf, info);
	if (avail < info->total_bytes)
		return RN_E_AGAIN;
	return 0;
}

/* Checks the header fields that do not depend on the records. */
static int header_check(const uint8_t *buf, size_t len, uint32_t max_records,
			const struct batch_info *info)
{
	uint32_t crc = crc32c(buf + BATCH_CRC_START, len - BATCH_CRC_START);
	if (crc != info->crc)
		return RN_E_CORRUPT_MESSAGE;
	int codec = batch_codec_of(info);
	if (!batch_codec_supported(codec))
		return RN_E_UNSUPPORTED_COMPRESSION_TYPE;
	if (info->record_count < 0)
		return RN_E_CORRUPT_MESSAGE;
	/* An empty batch is what compaction leaves where it removed every
	 * record of a range: it keeps the offsets base..base+last_offset_delta
	 * accounted for and holds no records (uncompressed). */
	if (info->record_count == 0)
		return info->last_offset_delta >= 0 && codec == BATCH_COMPRESSION_NONE &&
				       len == BATCH_HEADER_BYTES
			       ? 0
			       : RN_E_INVALID_RECORD;

	uint32_t limit = max_records;
	if (limit > RN_MAX_RECORDS_PER_BATCH)
		limit = RN_MAX_RECORDS_PER_BATCH;
	if ((uint32_t)info->record_count > limit)
		return RN_E_RECORD_LIST_TOO_LARGE;
	/* A compressed section is checked against this once decompressed. */
	if (codec == BATCH_COMPRESSION_NONE &&
	    (uint64_t)info->record_count * MIN_RECORD_BYTES > len - BATCH_HEADER_BYTES)
		return RN_E_CORRUPT_MESSAGE;
	if (info->last_offset_delta != info->record_count - 1)
		return RN_E_INVALID_RECORD;
	return 0;
}

/* ---------------------------------------------------------------- records */

/* Walks the headers of one record, checking that each is well formed. */
static int headers_check(const uint8_t *pos, size_t len, int32_t count)
{
	struct record_header_view h;
	for (int32_t i = 0; i < count; i++) {
		int rc = batch_header_next(&pos, &len, &h);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return RN_E_CORRUPT_MESSAGE;
	}
	return len == 0 ? 0 : RN_E_CORRUPT_MESSAGE;
}

/*
 * Parses the record at c->pos and moves past it.  Checks only structure:
 * the length stays inside the batch, every field fits, and the fields fill
 * the length exactly.  The header count is reported unchecked against the
 * limit; the caller decides what a rule break is.
 */
static int record_parse(struct cursor *c, struct record_raw *r)
{
	int32_t rec_len;
	int rc = cursor_varint(c, &rec_len);
	if (rc != 0)
		return rc;
	if (rec_len < 0 || (size_t)rec_len > cursor_left(c))
		return RN_E_CORRUPT_MESSAGE;

	struct cursor in = { c->pos, c->pos + rec_len };
	c->pos = in.end;
	if (cursor_left(&in) < 1)
		return RN_E_CORRUPT_MESSAGE;
	r->attributes = (int8_t)*in.pos++;
	if ((rc = cursor_varlong(&in, &r->timestamp_delta)) != 0 ||
	    (rc = cursor_varint(&in, &r->offset_delta)) != 0 ||
	    (rc = cursor_bytes(&in, 1, &r->key, &r->key_len)) != 0 ||
	    (rc = cursor_bytes(&in, 1, &r->value, &r->value_len)) != 0 ||
	    (rc = cursor_varint(&in, &r->header_count)) != 0)
		return rc;
	if (r->header_count < 0)
		return RN_E_CORRUPT_MESSAGE;
	r->headers = in.pos;
	r->headers_len = cursor_left(&in);
	return 0;
}

/* Applies the rules to one parsed record: its position, attributes,
 * header count and timestamp against the batch header. */
static int record_rules(const struct record_raw *r, int32_t index, const struct batch_info *info)
{
	if (r->offset_delta != index)
		return RN_E_INVALID_RECORD;
	if (r->attributes != 0)
		return RN_E_INVALID_RECORD;
	if ((uint32_t)r->header_count > RN_MAX_HEADERS_PER_RECORD)
		return RN_E_INVALID_RECORD;
	/* With LogAppendTime the leader's clock replaces every record's time,
	 * so the producer's deltas no longer relate to max_timestamp. */
	if (info->attributes & BATCH_ATTR_TIMESTAMP_LOG_APPEND)
		return 0;
	int64_t ts;
	if (__builtin_add_overflow(info->first_timestamp, r->timestamp_delta, &ts))
		return RN_E_INVALID_RECORD;
	if (ts > info->max_timestamp)
		return RN_E_INVALID_RECORD;
	return 0;
}

/*
 * Structural errors outrank rule breaks: a batch whose bytes cannot be parsed
 * is CORRUPT_MESSAGE even if an earlier record also broke a rule, because the
 * producer (or the network) damaged it and retrying may help.
 */
/* Offsets and timestamps are added with wrapping arithmetic: a validated
 * batch cannot overflow, and an unvalidated one must not cause undefined
 * behaviour, only odd values. */
static int64_t add_wrapping(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* Fills the view of a parsed record of the batch info describes. */
static void view_fill(const struct batch_info *info, const struct record_raw *r,
		      struct record_view *rec)
{
	rec->offset = add_wrapping(info->base_offset, r->offset_delta);
	if (info->attributes & BATCH_ATTR_TIMESTAMP_LOG_APPEND)
		rec->timestamp = info->max_timestamp;
	else
		rec->timestamp = add_wrapping(info->first_timestamp, r->timestamp_delta);
	rec->key = r->key;
	rec->key_len = r->key_len;
	rec->value = r->value;
	rec->value_len = r->value_len;
	rec->header_count = (uint32_t)r->header_count;
	rec->headers = r->headers;
	rec->headers_len = r->headers_len;
}

/* Checks every record of the records section recs[0..len); fills views[i]
 * for record i when views is set. */
static int records_check(const uint8_t *recs, size_t len, const struct batch_info *info,
			 struct record_view *views)
{
	if ((uint64_t)info->record_count * MIN_RECORD_BYTES > len)
		return RN_E_CORRUPT_MESSAGE;
	struct cursor c = { recs, recs + len };
	int rule_err = 0;
	for (int32_t i = 0; i < info->record_count; i++) {
		struct record_raw r;
		int rc = record_parse(&c, &r);
		if (rc == 0)
			rc = headers_check(r.headers, r.headers_len, r.header_count);
		if (rc != 0)
			return rc;
		if (rule_err == 0)
			rule_err = record_rules(&r, i, info);
		if (views)
			view_fill(info, &r, &views[i]);
	}
	if (c.pos != c.end)
		return RN_E_CORRUPT_MESSAGE;
	return rule_err;
}

int batch_check_header(const uint8_t *buf, size_t len, uint32_t max_records,
		       struct batch_info *info)
{
	int rc = batch_peek(buf, len, info);
	if (rc == RN_E_AGAIN)
		return RN_E_CORRUPT_MESSAGE;
	if (rc != 0)
		return rc;
	if (len != info->total_bytes)
		return RN_E_CORRUPT_MESSAGE;
	return header_check(buf, len, max_records, info);
}

int batch_check_records(const struct batch_info *info, const uint8_t *records, size_t len,
			struct record_view *views, size_t cap, int *filled)
{
	/* A checked header made record_count positive. */
	int fill = views && info->record_count > 0 && (size_t)info->record_count <= cap;
	int rc = records_check(records, len, info, fill ? views : NULL);
	if (filled)
		*filled = rc == 0 && fill;
	return rc;
}

/* ---------------------------------------------------------------- compression */

void batch_scratch_init(struct batch_scratch *s)
{
	s->buf = NULL;
	s->cap = 0;
	batch_codec_init(&s->codec);
}

void batch_scratch_destroy(struct batch_scratch *s)
{
	free(s->buf);
	batch_codec_destroy(&s->codec);
	batch_scratch_init(s);
}

int batch_decompress_records(struct batch_codec *c, const uint8_t *buf,
			     const struct batch_info *info, uint8_t *dst, size_t cap, size_t *len)
{
	const uint8_t *frame = buf + BATCH_HEADER_BYTES;
	size_t frame_len = info->total_bytes - BATCH_HEADER_BYTES;
	size_t room = cap < BATCH_MAX_RECORDS_BYTES ? cap : BATCH_MAX_RECORDS_BYTES;
	int rc = batch_codec_decompress(c, batch_codec_of(info), frame, frame_len, dst, room, len);
	/* Past the limit a larger buffer is never offered: the batch is bad,
	 * not the buffer small. */
	if (rc == RN_E_FULL && room == BATCH_MAX_RECORDS_BYTES)
		return RN_E_CORRUPT_MESSAGE;
	return rc;
}

size_t batch_records_size_hint(const uint8_t *buf, const struct batch_info *info)
{
	size_t frame_len = info->total_bytes - BATCH_HEADER_BYTES;
	size_t hint = batch_codec_content_size(batch_codec_of(info), buf + BATCH_HEADER_BYTES,
					       frame_len);
	/* Without a declared size, records that compressed by a typical
	 * factor fit; a larger buffer is offered if they do not.  A declared
	 * size is believed up to a ratio real records seldom reach, so that a
	 * small frame that lies cannot make the reader allocate the limit. */
	size_t believable = frame_len * BATCH_HINT_MAX_RATIO;
	if (believable < BATCH_SCRATCH_MIN_BYTES)
		believable = BATCH_SCRATCH_MIN_BYTES;
	if (hint == 0)
		hint = frame_len * 4;
	if (hint > believable)
		hint = believable;
	if (hint < MIN_RECORD_BYTES * (size_t)(info->record_count > 0 ? info->record_count : 0))
		hint = MIN_RECORD_BYTES * (size_t)info->record_count;
	return hint < BATCH_MAX_RECORDS_BYTES ? hint : BATCH_MAX_RECORDS_BYTES;
}

/* Makes s->buf hold at least want bytes (its content is not kept). */
static int scratch_reserve(struct batch_scratch *s, size_t want)
{
	if (want <= s->cap)
		return 0;
	if (want < BATCH_SCRATCH_MIN_BYTES)
		want = BATCH_SCRATCH_MIN_BYTES;
	uint8_t *nb = malloc(want);
	if (!nb)
		return RN_E_NOMEM;
	free(s->buf);
	s->buf = nb;
	s->cap = want;
	return 0;
}

int batch_scratch_inflate(struct batch_scratch *s, const uint8_t *buf,
			  const struct batch_info *info, const uint8_t **records, size_t *len)
{
	int rc = scratch_reserve(s, batch_records_size_hint(buf, info));
	while (rc == 0) {
		rc = batch_decompress_records(&s->codec, buf, info, s->buf, s->cap, len);
		if (rc != RN_E_FULL)
			break;
		size_t want = s->cap * 2 < BATCH_MAX_RECORDS_BYTES ? s->cap * 2 : BATCH_MAX_RECORDS_BYTES;
		rc = scratch_reserve(s, want);
	}
	if (rc == 0)
		*records = s->buf;
	return rc;
}

/* The decompression buffers of a thread: one for validation, one for
 * iteration, so that validating a batch does not pull the records from
 * under an iteration in progress.  Freed when the thread exits. */
struct thread_scratch {
	struct batch_scratch validate;
	struct batch_scratch iter;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void thread_scratch_free(void *p)
{
	struct thread_scratch *t = p;
	batch_scratch_destroy(&t->validate);
	batch_scratch_destroy(&t->iter);
	free(t);
}

static void scratch_key_make(void)
{
	RN_ASSERT(pthread_key_create(&scratch_key, thread_scratch_free) == 0);
}

/* The calling thread's buffers, made on first use; NULL without memory. */
static struct thread_scratch *thread_scratch(void)
{
	pthread_once(&scratch_once, scratch_key_make);
	struct thread_scratch *t = pthread_getspecific(scratch_key);
	if (t)
		return t;
	t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	batch_scratch_init(&t->validate);
	batch_scratch_init(&t->iter);
	if (pthread_setspecific(scratch_key, t) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

/* batch_validate, filling views[0..record_count) when they fit in cap;
 * a compressed batch is decompressed into s, or the thread's buffer when s
 * is NULL. */
static int validate(struct batch_scratch *s, const uint8_t *buf, size_t len,
		    uint32_t max_records, struct batch_info *info, struct record_view *views,
		    size_t cap, int *filled)
{
	struct batch_info tmp;
	int rc = batch_check_header(buf, len, max_records, &tmp);
	if (rc != 0)
		return rc;
	const uint8_t *records = buf + BATCH_HEADER_BYTES;
	size_t records_len = len - BATCH_HEADER_BYTES;
	if (batch_codec_of(&tmp) != BATCH_COMPRESSION_NONE) {
		struct thread_scratch *t = s ? NULL : thread_scratch();
		if (!s && !t)
			return RN_E_NOMEM;
		rc = batch_scratch_inflate(s ? s : &t->validate, buf, &tmp, &records, &records_len);
		if (rc != 0)
			return rc;
	}
	rc = batch_check_records(&tmp, records, records_len, views, cap, filled);
	if (rc != 0)
		return rc;
	if (info)
		*info = tmp;
	return 0;
}

int batch_validate(const uint8_t *buf, size_t len, uint32_t max_records, struct batch_info *info)
{
	return validate(NULL, buf, len, max_records, info, NULL, 0, NULL);
}

int batch_validate_views(const uint8_t *buf, size_t len, uint32_t max_records,
			 struct batch_info *info, struct record_view *views, size_t cap,
			 int *filled)
{
	*filled = 0;
	return validate(NULL, buf, len, max_records, info, views, cap, filled);
}

int batch_validate_scratch(struct batch_scratch *s, const uint8_t *buf, size_t len,
			   uint32_t max_records, struct batch_info *info, struct record_view *views,
			   size_t cap, int *filled)
{
	if (filled)
		*filled = 0;
	return validate(s, buf, len, max_records, info, views, cap, filled);
}

size_t batch_compress_bound(int codec, size_t len)
{
	RN_ASSERT(len >= BATCH_HEADER_BYTES);
	return BATCH_HEADER_BYTES + batch_codec_bound(codec, len - BATCH_HEADER_BYTES);
}

int batch_compress(struct batch_codec *c, int codec, int level, const uint8_t *buf, size_t len,
		   uint8_t *out, size_t cap, size_t *out_len)
{
	if (len < BATCH_HEADER_BYTES || batch_codec_bound(codec, 0) == 0 ||
	    cap < batch_compress_bound(codec, len) ||
	    (be_get16(buf + BATCH_OFF_ATTRIBUTES) & BATCH_ATTR_COMPRESSION_MASK) != 0)
		return RN_E_INVAL;
	size_t frame_len = 0;
	int rc = batch_codec_compress(c, codec, level, buf + BATCH_HEADER_BYTES,
				      len - BATCH_HEADER_BYTES, out + BATCH_HEADER_BYTES,
				      cap - BATCH_HEADER_BYTES, &frame_len);
	if (rc != 0)
		return rc;
	size_t total = BATCH_HEADER_BYTES + frame_len;
	if (total > RN_MAX_BATCH_BYTES)
		return RN_E_FULL;
	memcpy(out, buf, BATCH_HEADER_BYTES);
	be_put32(out + BATCH_OFF_LENGTH, (uint32_t)(total - BATCH_LOG_OVERHEAD));
	uint16_t attributes = be_get16(buf + BATCH_OFF_ATTRIBUTES);
	be_put16(out + BATCH_OFF_ATTRIBUTES, (uint16_t)(attributes | (uint16_t)codec));
	be_put32(out + BATCH_OFF_CRC, crc32c(out + BATCH_CRC_START, total - BATCH_CRC_START));
	*out_len = total;
	return 0;
}

/* ---------------------------------------------------------------- stamping */

void batch_stamp(uint8_t *buf, int64_t base_offset, int32_t leader_epoch)
{
	be_put64(buf + BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
	be_put32(buf + BATCH_OFF_LEADER_EPOCH, (uint32_t)leader_epoch);
}

void batch_stamp_log_append_time(uint8_t *buf, size_t len, int64_t now_ms)
{
	RN_ASSERT(len >= BATCH_HEADER_BYTES);
	RN_ASSERT(len == BATCH_LOG_OVERHEAD + (size_t)be_get32(buf + BATCH_OFF_LENGTH));

	uint16_t attributes = be_get16(buf + BATCH_OFF_ATTRIBUTES);
	attributes |= BATCH_ATTR_TIMESTAMP_LOG_APPEND;
	be_put16(buf + BATCH_OFF_ATTRIBUTES, attributes);
	be_put64(buf + BATCH_OFF_MAX_TIMESTAMP, (uint64_t)now_ms);
	be_put32(buf + BATCH_OFF_CRC, crc32c(buf + BATCH_CRC_START, len - BATCH_CRC_START));
}

/* ---------------------------------------------------------------- reading */

int batch_iter_init(struct batch_iter *it, const uint8_t *buf, size_t len)
{
	int rc = batch_peek(buf, len, &it->info);
	if (rc != 0 || len < it->info.total_bytes)
		return RN_E_CORRUPT_MESSAGE;
	it->batch = buf;
	it->index = 0;
	if (batch_codec_of(&it->info) == BATCH_COMPRESSION_NONE) {
		it->pos = buf + BATCH_HEADER_BYTES;
		it->end = buf + it->info.total_bytes;
		return 0;
	}
	if (!batch_codec_supported(batch_codec_of(&it->info)))
		return RN_E_UNSUPPORTED_COMPRESSION_TYPE;
	struct thread_scratch *t = thread_scratch();
	if (!t)
		return RN_E_NOMEM;
	const uint8_t *records;
	size_t records_len;
	rc = batch_scratch_inflate(&t->iter, buf, &it->info, &records, &records_len);
	if (rc != 0)
		return rc;
	it->pos = records;
	it->end = records + records_len;
	return 0;
}

void batch_iter_init_records(struct batch_iter *it, const struct batch_info *info,
			     const uint8_t *records, size_t len)
{
	it->info = *info;
	it->batch = NULL;
	it->pos = records;
	it->end = records + len;
	it->index = 0;
}

int batch_iter_next(struct batch_iter *it, struct record_view *rec)
{
	if (it->index >= it->info.record_count || it->pos >= it->end)
		return 0;

	struct cursor c = { it->pos, it->end };
	struct record_raw r;
	int rc = record_parse(&c, &r);
	if (rc != 0)
		return rc;
	it->pos = c.pos;
	it->index++;
	view_fill(&it->info, &r, rec);
	return 1;
}

int batch_header_next(const uint8_t **pos, size_t *len, struct record_header_view *h)
{
	if (*len == 0)
		return 0;
	struct cursor c = { *pos, *pos + *len };
	/* Header keys are never null; only values may be. */
	int rc = cursor_bytes(&c, 0, &h->key, &h->key_len);
	if (rc == 0)
		rc = cursor_bytes(&c, 1, &h->value, &h->value_len);
	if (rc != 0)
		return rc;
	*len = cursor_left(&c);
	*pos = c.pos;
	return 1;
}

/* ---------------------------------------------------------------- building */

void batch_builder_init(struct batch_builder *b, uint8_t *buf, size_t cap)
{
	RN_ASSERT(buf != NULL);
	RN_ASSERT(cap >= BATCH_HEADER_BYTES);
	b->buf = buf;
	b->cap = cap;
	b->len = BATCH_HEADER_BYTES;
	b->count = 0;
	b->first_timestamp = 0;
	b->max_timestamp = 0;
}

/*
 * The builder encodes varints with these inline copies of varint.c's
 * encoder: a record costs a handful of them, and a call into another
 * translation unit for each was a large share of building a small record.
 * The bytes are the same (test_batch checks them against varint_get).
 */
static inline uint32_t zigzag32(int32_t v)
{
	uint32_t u = (uint32_t)v;
	return (u << 1) ^ (0u - (u >> 31));
}

static inline uint64_t zigzag64(int64_t v)
{
	uint64_t u = (uint64_t)v;
	return (u << 1) ^ (0u - (u >> 63));
}

/* Bytes of the unsigned varint u: one per started group of 7 bits.  The
 * one- and two-byte cases, nearly every field of a record, are tested
 * first. */
static inline size_t uvarint_size(uint64_t u)
{
	if (u < 0x80u)
		return 1;
	if (u < 0x4000u)
		return 2;
	unsigned bits = 64u - (unsigned)__builtin_clzll(u);
	return (bits + 6u) / 7u;
}

static inline uint8_t *uvarint_put(uint8_t *p, uint64_t u)
{
	while (u >= 0x80u) {
		*p++ = (uint8_t)(u | 0x80u);
		u >>= 7;
	}
	*p++ = (uint8_t)u;
	return p;
}

static inline size_t bytes_field_size(int32_t len)
{
	return uvarint_size(zigzag32(len)) + (len > 0 ? (size_t)len : 0);
}

static size_t headers_size(uint32_t header_count, const struct record_header_view *headers)
{
	size_t n = 0;
	for (uint32_t i = 0; i < header_count; i++)
		n += bytes_field_size(headers[i].key_len) + bytes_field_size(headers[i].value_len);
	return n;
}

/* The record's bytes after its length prefix. */
static inline size_t record_body_size(int64_t timestamp_delta, int32_t offset_delta,
				      int32_t key_len, int32_t value_len, uint32_t header_count,
				      const struct record_header_view *headers)
{
	size_t n = 1 + uvarint_size(zigzag64(timestamp_delta)) +
		   uvarint_size(zigzag32(offset_delta)) + bytes_field_size(key_len) +
		   bytes_field_size(value_len) + uvarint_size(zigzag32((int32_t)header_count));
	if (header_count > 0)
		n += headers_size(header_count, headers);
	return n;
}

size_t batch_record_size(int64_t timestamp_delta, int32_t offset_delta, int32_t key_len,
			 int32_t value_len, uint32_t header_count,
			 const struct record_header_view *headers)
{
	size_t body = record_body_size(timestamp_delta, offset_delta, key_len, value_len,
				       header_count, headers);
	return varint_size((int32_t)(body > INT32_MAX ? INT32_MAX : body)) + body;
}

static int add_args_check(const struct batch_builder *b, const void *key, int32_t key_len,
			  const void *value, int32_t value_len,
			  const struct record_header_view *headers, uint32_t header_count)
{
	if ((uint32_t)b->count >= RN_MAX_RECORDS_PER_BATCH)
		return RN_E_INVAL;
	if (header_count > RN_MAX_HEADERS_PER_RECORD || (header_count > 0 && headers == NULL))
		return RN_E_INVAL;
	if (key_len < -1 || value_len < -1)
		return RN_E_INVAL;
	if ((key_len > 0 && key == NULL) || (value_len > 0 && value == NULL))
		return RN_E_INVAL;
	for (uint32_t i = 0; i < header_count; i++) {
		const struct record_header_view *h = &headers[i];
		if (h->key_len < 0 || h->value_len < -1)
			return RN_E_INVAL;
		if ((h->key_len > 0 && h->key == NULL) || (h->value_len > 0 && h->value == NULL))
			return RN_E_INVAL;
	}
	return 0;
}

static inline uint8_t *put_bytes(uint8_t *p, const void *data, int32_t len)
{
	p = uvarint_put(p, zigzag32(len));
	if (len > 0) {
		memcpy(p, data, (size_t)len);
		p += len;
	}
	return p;
}

int batch_builder_add(struct batch_builder *b, int64_t timestamp, const void *key, int32_t key_len,
		      const void *value, int32_t value_len,
		      const struct record_header_view *headers, uint32_t header_count)
{
	int rc = add_args_check(b, key, key_len, value, value_len, headers, header_count);
	if (rc != 0)
		return rc;

	int64_t first = b->count == 0 ? timestamp : b->first_timestamp;
	int64_t delta;
	if (__builtin_sub_overflow(timestamp, first, &delta))
		return RN_E_INVAL;

	size_t body = record_body_size(delta, b->count, key_len, value_len, header_count, headers);
	/* A batch never grows past RN_MAX_BATCH_BYTES, so whatever the builder
	 * produces is something batch_validate accepts. */
	size_t room = (b->cap < RN_MAX_BATCH_BYTES ? b->cap : RN_MAX_BATCH_BYTES) - b->len;
	if (body > room || uvarint_size(zigzag32((int32_t)body)) + body > room)
		return RN_E_FULL;

	uint8_t *start = b->buf + b->len;
	uint8_t *p = uvarint_put(start, zigzag32((int32_t)body));
	uint8_t *body_start = p;
	*p++ = 0; /* record attributes: none defined */
	p = uvarint_put(p, zigzag64(delta));
	p = uvarint_put(p, zigzag32(b->count));
	p = put_bytes(p, key, key_len);
	p = put_bytes(p, value, value_len);
	p = uvarint_put(p, zigzag32((int32_t)header_count));
	for (uint32_t i = 0; i < header_count; i++) {
		p = put_bytes(p, headers[i].key, headers[i].key_len);
		p = put_bytes(p, headers[i].value, headers[i].value_len);
	}
	RN_ASSERT((size_t)(p - body_start) == body);

	b->len = (size_t)(p - b->buf);
	if (b->count == 0 || timestamp > b->max_timestamp)
		b->max_timestamp = timestamp;
	b->first_timestamp = first;
	b->count++;
	return 0;
}

size_t batch_builder_finish(struct batch_builder *b, int64_t producer_id, int16_t producer_epoch,
			    int32_t base_sequence)
{
	if (b->count == 0)
		return 0;

	uint8_t *h = b->buf;
	be_put64(h + BATCH_OFF_BASE_OFFSET, 0);
	be_put32(h + BATCH_OFF_LENGTH, (uint32_t)(b->len - BATCH_LOG_OVERHEAD));
	be_put32(h + BATCH_OFF_LEADER_EPOCH, (uint32_t)-1);
	h[BATCH_OFF_MAGIC] = BATCH_MAGIC;
	be_put16(h + BATCH_OFF_ATTRIBUTES, 0);
	be_put32(h + BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(b->count - 1));
	be_put64(h + BATCH_OFF_FIRST_TIMESTAMP, (uint64_t)b->first_timestamp);
	be_put64(h + BATCH_OFF_MAX_TIMESTAMP, (uint64_t)b->max_timestamp);
	be_put64(h + BATCH_OFF_PRODUCER_ID, (uint64_t)producer_id);
	be_put16(h + BATCH_OFF_PRODUCER_EPOCH, (uint16_t)producer_epoch);
	be_put32(h + BATCH_OFF_BASE_SEQUENCE, (uint32_t)base_sequence);
	be_put32(h + BATCH_OFF_RECORD_COUNT, (uint32_t)b->count);
	be_put32(h + BATCH_OFF_CRC, crc32c(h + BATCH_CRC_START, b->len - BATCH_CRC_START));
	return b->len;
}
