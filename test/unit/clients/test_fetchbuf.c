/* test_fetchbuf.c: consumer record decoding: null vs empty, headers, skipping, truncation, CRC failures. */
#include <stdlib.h>
#include <string.h>

#include "clients/fetchbuf.h"
#include "common/errors.h"
#include "common/rn_assert.h"
#include "test/unit/harness.h"
#include "wire/batch.h"

#define BUF_BYTES 4096

/* Builds the batch the tests read: four records at base_offset, the first
 * with two headers. */
static size_t build_batch(uint8_t *buf, int64_t base_offset)
{
	struct batch_builder b;
	struct record_header_view h[2] = {
		{(const uint8_t *)"trace", 5, (const uint8_t *)"t-1", 3},
		{(const uint8_t *)"gone", 4, NULL, -1},
	};
	batch_builder_init(&b, buf, BUF_BYTES);
	RN_ASSERT(batch_builder_add(&b, 1000, NULL, -1, "v0", 2, h, 2) == 0);
	RN_ASSERT(batch_builder_add(&b, 1001, "", 0, "", 0, NULL, 0) == 0);
	RN_ASSERT(batch_builder_add(&b, 1002, "k2", 2, NULL, -1, NULL, 0) == 0);
	RN_ASSERT(batch_builder_add(&b, 1003, "k3", 2, "v3", 2, NULL, 0) == 0);
	size_t len = batch_builder_finish(&b, -1, -1, -1);
	batch_stamp(buf, base_offset, 0);
	return len;
}

static uint8_t *copy_of(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, p, len);
	return c;
}

TEST(null_and_empty_are_distinct)
{
	uint8_t buf[BUF_BYTES];
	size_t len = build_batch(buf, 100);
	struct fetchbuf fb;
	struct record_view r;
	struct runnel_header hs[2];
	fetchbuf_init(&fb);
	fetchbuf_set(&fb, copy_of(buf, len), len);

	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 1);
	CHECK_EQ_INT(r.offset, 100);
	CHECK_EQ_INT(r.timestamp, 1000);
	CHECK(r.key == NULL && r.key_len == -1);
	CHECK(r.value_len == 2 && memcmp(r.value, "v0", 2) == 0);
	CHECK_EQ_INT(r.header_count, 2);
	CHECK_OK(fetchbuf_headers(&r, hs));
	CHECK(hs[0].key_len == 5 && memcmp(hs[0].key, "trace", 5) == 0);
	CHECK(hs[0].value_len == 3 && memcmp(hs[0].value, "t-1", 3) == 0);
	CHECK(hs[1].key_len == 4 && hs[1].value == NULL && hs[1].value_len == -1);

	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 1);
	CHECK_EQ_INT(r.offset, 101);
	CHECK(r.key != NULL && r.key_len == 0);
	CHECK(r.value != NULL && r.value_len == 0);

	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 1);
	CHECK(r.key_len == 2 && r.value == NULL && r.value_len == -1);

	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 1);
	CHECK_EQ_INT(r.offset, 103);
	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 0);
	CHECK(fetchbuf_empty(&fb));
	fetchbuf_clear(&fb);
}

TEST(records_below_position_are_skipped)
{
	uint8_t buf[2 * BUF_BYTES];
	size_t a = build_batch(buf, 10);
	size_t b = build_batch(buf + a, 14);
	struct fetchbuf fb;
	struct record_view r;
	fetchbuf_init(&fb);
	fetchbuf_set(&fb, copy_of(buf, a + b), a + b);
	/* The fetch returned the batch that contains 12: start inside it. */
	CHECK_EQ_INT(fetchbuf_next(&fb, 12, &r), 1);
	CHECK_EQ_INT(r.offset, 12);
	int64_t expect = 13;
	while (fetchbuf_next(&fb, expect, &r) == 1) {
		CHECK_EQ_INT(r.offset, expect);
		expect++;
	}
	CHECK_EQ_INT(expect, 18);
	/* A position past the first batch skips it whole. */
	fetchbuf_set(&fb, copy_of(buf, a + b), a + b);
	CHECK_EQ_INT(fetchbuf_next(&fb, 15, &r), 1);
	CHECK_EQ_INT(r.offset, 15);
	fetchbuf_clear(&fb);
}

TEST(cut_short_last_batch_is_dropped)
{
	uint8_t buf[2 * BUF_BYTES];
	size_t a = build_batch(buf, 0);
	size_t b = build_batch(buf + a, 4);
	struct fetchbuf fb;
	struct record_view r;
	int n = 0;
	fetchbuf_init(&fb);
	fetchbuf_set(&fb, copy_of(buf, a + b - 7), a + b - 7);
	while (fetchbuf_next(&fb, 0, &r) == 1)
		n++;
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(fb.truncated_first, 0);
	/* Only part of one batch: nothing, and the fetch size must grow. */
	fetchbuf_set(&fb, copy_of(buf, a - 1), a - 1);
	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 0);
	CHECK_EQ_INT(fb.truncated_first, 1);
	fetchbuf_set(&fb, copy_of(buf, 30), 30);
	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 0);
	CHECK_EQ_INT(fb.truncated_first, 1);
	fetchbuf_clear(&fb);
}

TEST(crc_failure_is_an_error)
{
	uint8_t buf[2 * BUF_BYTES];
	size_t a = build_batch(buf, 0);
	size_t b = build_batch(buf + a, 4);
	struct fetchbuf fb;
	struct record_view r;
	fetchbuf_init(&fb);
	/* Flip one bit in the second batch's last record. */
	buf[a + b - 2] ^= 0x01;
	fetchbuf_set(&fb, copy_of(buf, a + b), a + b);
	int n = 0, rc;
	while ((rc = fetchbuf_next(&fb, 0, &r)) == 1)
		n++;
	CHECK_EQ_INT(n, 4); /* the first, intact batch */
	CHECK_EQ_INT(rc, RN_E_CORRUPT_MESSAGE);
	/* A corrupt first batch yields no record at all. */
	buf[a - 3] ^= 0x10;
	fetchbuf_set(&fb, copy_of(buf, a), a);
	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), RN_E_CORRUPT_MESSAGE);
	fetchbuf_clear(&fb);
}

/* A chunk holding a copy of p[0..len). */
static struct fetch_chunk *chunk_of(const uint8_t *p, size_t len)
{
	struct fetch_chunk *ch = fetch_chunk_new(copy_of(p, len));
	RN_ASSERT(ch != NULL);
	return ch;
}

TEST(parts_are_read_in_order_and_released_when_read)
{
	uint8_t buf[3 * BUF_BYTES];
	size_t a = build_batch(buf, 0);
	size_t b = build_batch(buf + a, 4);
	size_t c = build_batch(buf + a + b, 8);
	struct fetch_chunk *one = chunk_of(buf, a + b);
	struct fetch_chunk *two = chunk_of(buf + a + b, c);
	struct fetchbuf fb;
	struct record_view r;
	fetchbuf_init(&fb);
	CHECK_EQ_INT(fb.end_offset, -1);
	CHECK_OK(fetchbuf_push(&fb, one, one->buf, a + b));
	CHECK_EQ_INT(fb.end_offset, 8);
	CHECK_OK(fetchbuf_push(&fb, two, two->buf, c));
	CHECK_EQ_INT(fb.end_offset, 12);
	CHECK_EQ_INT(fetchbuf_unread_parts(&fb), 2);
	/* The fetchbuf holds its own references. */
	fetch_chunk_unref(one);
	fetch_chunk_unref(two);
	CHECK_EQ_INT(one->refs, 1);

	int64_t expect = 0;
	for (; expect < 8; expect++) {
		CHECK_EQ_INT(fetchbuf_next(&fb, expect, &r), 1);
		CHECK_EQ_INT(r.offset, expect);
		CHECK(r.value == NULL || (r.value >= one->buf && r.value < one->buf + a + b));
	}
	/* The first part is read but its records may still be in use. */
	fetchbuf_release_read(&fb);
	CHECK_EQ_INT(fb.count, 2);
	CHECK_EQ_INT(fetchbuf_next(&fb, expect, &r), 1);
	CHECK_EQ_INT(r.offset, 8);
	CHECK_EQ_INT(fetchbuf_unread_parts(&fb), 1);
	/* Now the reader moved on: the first part (and its chunk) can go. */
	fetchbuf_release_read(&fb);
	CHECK_EQ_INT(fb.count, 1);
	CHECK_EQ_INT(two->refs, 1);
	for (expect = 9; expect < 12; expect++)
		CHECK_EQ_INT(fetchbuf_next(&fb, expect, &r), 1);
	CHECK_EQ_INT(fetchbuf_next(&fb, expect, &r), 0);
	CHECK(fetchbuf_empty(&fb));
	CHECK_EQ_INT(fetchbuf_unread_parts(&fb), 0);
	fetchbuf_release_read(&fb);
	CHECK_EQ_INT(fb.count, 0);
	CHECK_EQ_INT(fb.end_offset, -1);
	fetchbuf_clear(&fb);
}

TEST(part_without_a_whole_batch_is_not_queued)
{
	uint8_t buf[2 * BUF_BYTES];
	size_t a = build_batch(buf, 0);
	struct fetch_chunk *ch = chunk_of(buf, a);
	struct fetchbuf fb;
	fetchbuf_init(&fb);
	CHECK_OK(fetchbuf_push(&fb, ch, ch->buf, a - 1));
	CHECK_EQ_INT(fb.count, 0);
	CHECK_EQ_INT(fb.truncated_first, 1);
	CHECK_EQ_INT(ch->refs, 1);
	/* Bytes that are no batch are queued so that reading reports them,
	 * and the end is then unknown. */
	memset(ch->buf, 0xee, BATCH_HEADER_BYTES);
	fb.truncated_first = 0;
	CHECK_OK(fetchbuf_push(&fb, ch, ch->buf, a));
	CHECK_EQ_INT(fb.count, 1);
	CHECK_EQ_INT(fb.end_offset, -1);
	struct record_view r;
	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), RN_E_CORRUPT_MESSAGE);
	fetchbuf_clear(&fb);
	CHECK_EQ_INT(ch->refs, 1);
	fetch_chunk_unref(ch);
}

TEST(queue_is_bounded)
{
	uint8_t buf[BUF_BYTES];
	size_t a = build_batch(buf, 0);
	struct fetch_chunk *ch = chunk_of(buf, a);
	struct fetchbuf fb;
	fetchbuf_init(&fb);
	for (int i = 0; i < FETCHBUF_MAX_SEGS; i++)
		CHECK_OK(fetchbuf_push(&fb, ch, ch->buf, a));
	CHECK_EQ_INT(fetchbuf_push(&fb, ch, ch->buf, a), RN_E_FULL);
	CHECK_EQ_INT(ch->refs, 1 + FETCHBUF_MAX_SEGS);
	fetchbuf_clear(&fb);
	CHECK_EQ_INT(ch->refs, 1);
	fetch_chunk_unref(ch);
}

/* A batch of count one-byte records at base (malloc'ed), setting *len. */
static uint8_t *build_many(int32_t count, int64_t base, size_t *len)
{
	size_t cap = BATCH_HEADER_BYTES + (size_t)count * 16;
	uint8_t *p = malloc(cap);
	struct batch_builder b;
	RN_ASSERT(p != NULL);
	batch_builder_init(&b, p, cap);
	for (int32_t i = 0; i < count; i++) {
		uint8_t v = (uint8_t)i;
		RN_ASSERT(batch_builder_add(&b, 1000 + i, NULL, -1, &v, 1, NULL, 0) == 0);
	}
	*len = batch_builder_finish(&b, -1, -1, -1);
	batch_stamp(p, base, 0);
	return p;
}

/* Reads every record from position (at least base) on; checks offsets,
 * timestamps and values follow the batch build_many made.  Returns the
 * count, or -1. */
static int read_all_from(struct fetchbuf *fb, int64_t base, int64_t position)
{
	struct record_view r;
	int n = 0;
	int64_t expect = position;
	while (fetchbuf_next(fb, expect, &r) == 1) {
		if (r.offset != expect || r.timestamp != 1000 + (expect - base) ||
		    r.value_len != 1 || r.value[0] != (uint8_t)(expect - base))
			return -1;
		expect++;
		n++;
	}
	return n;
}

TEST(batches_read_the_same_with_and_without_kept_views)
{
	/* One batch small enough for the views its validation fills, one
	 * too large for them, read from the start and from the middle. */
	static const int32_t counts[] = {100, FETCHBUF_MAX_VIEWS + 1};
	for (size_t k = 0; k < 2; k++) {
		size_t len;
		uint8_t *p = build_many(counts[k], 500, &len);
		struct fetchbuf fb;
		fetchbuf_init(&fb);
		CHECK_OK(fetchbuf_set(&fb, copy_of(p, len), len));
		CHECK_EQ_INT(read_all_from(&fb, 500, 500), counts[k]);
		CHECK_EQ_INT(fb.use_views, k == 0);
		CHECK_OK(fetchbuf_set(&fb, copy_of(p, len), len));
		CHECK_EQ_INT(read_all_from(&fb, 500, 500 + 37), counts[k] - 37);
		fetchbuf_clear(&fb);
		CHECK(fb.views == NULL);
		free(p);
	}
}

/* ------------------------------------------------------ compressed batches */

/* count records of value_len bytes each at base, compressed with codec:
 * the value of record i is value_len copies of the byte i (malloc'ed). */
static uint8_t *build_compressed(int codec, int32_t count, size_t value_len, int64_t base,
				 size_t *len)
{
	size_t cap = BATCH_HEADER_BYTES + (size_t)count * (value_len + 16);
	uint8_t *plain = malloc(cap), *value = malloc(value_len ? value_len : 1);
	struct batch_builder b;
	RN_ASSERT(plain && value);
	batch_builder_init(&b, plain, cap);
	for (int32_t i = 0; i < count; i++) {
		memset(value, i & 0xff, value_len);
		RN_ASSERT(batch_builder_add(&b, 1000 + i, NULL, -1, value, (int32_t)value_len, NULL,
					    0) == 0);
	}
	size_t plen = batch_builder_finish(&b, -1, -1, -1);
	size_t zcap = batch_compress_bound(codec, plen);
	uint8_t *z = malloc(zcap);
	struct batch_codec c;
	batch_codec_init(&c);
	RN_ASSERT(z && batch_compress(&c, codec, -1, plain, plen, z, zcap, len) == 0);
	batch_codec_destroy(&c);
	batch_stamp(z, base, 0);
	free(plain);
	free(value);
	return z;
}

/* Concatenates the batches bs[0..n) into one chunk. */
static struct fetch_chunk *chunk_of_batches(uint8_t **bs, const size_t *lens, size_t n,
					    size_t *total)
{
	*total = 0;
	for (size_t i = 0; i < n; i++)
		*total += lens[i];
	uint8_t *buf = malloc(*total);
	size_t off = 0;
	RN_ASSERT(buf != NULL);
	for (size_t i = 0; i < n; i++) {
		memcpy(buf + off, bs[i], lens[i]);
		off += lens[i];
	}
	return fetch_chunk_new(buf);
}

/* Reads records while they come, checking offsets and values against
 * build_compressed's (value_len bytes each, all batches of per records
 * from base 0).  Returns what the last fetchbuf_next said. */
static int read_checked(struct fetchbuf *fb, int64_t *expect, size_t value_len, int per, int max)
{
	struct record_view r;
	int rc;
	for (int n = 0; n < max; n++) {
		if ((rc = fetchbuf_next(fb, *expect, &r)) != 1)
			return rc;
		int32_t i = (int32_t)(*expect % per);
		if (r.offset != *expect || r.timestamp != 1000 + i || r.value_len != (int32_t)value_len ||
		    (value_len > 0 && (r.value[0] != (uint8_t)i || r.value[value_len - 1] != (uint8_t)i)))
			return -1;
		(*expect)++;
	}
	return 1;
}

TEST(compressed_batches_read_through_the_arena)
{
	static const int codecs[] = {BATCH_COMPRESSION_LZ4, BATCH_COMPRESSION_ZSTD};
	for (size_t k = 0; k < 2; k++) {
		uint8_t *bs[3];
		size_t lens[3], total;
		/* The middle one too large for kept views: it is iterated. */
		static const int32_t counts[3] = {50, FETCHBUF_MAX_VIEWS + 10, 50};
		int64_t base = 0;
		for (int i = 0; i < 3; i++) {
			bs[i] = build_compressed(codecs[k], counts[i], 10, base, &lens[i]);
			base += counts[i];
		}
		/* Records are numbered from the start of each batch. */
		struct fetch_arena ar;
		struct fetchbuf fb;
		fetch_arena_init(&ar);
		fetchbuf_init(&fb);
		fetchbuf_set_arena(&fb, &ar);
		struct fetch_chunk *ch = chunk_of_batches(bs, lens, 3, &total);
		CHECK_OK(fetchbuf_push(&fb, ch, ch->buf, total));
		fetch_chunk_unref(ch);
		struct record_view r;
		int64_t expect = 0;
		for (int i = 0; i < 3; i++) {
			for (int32_t j = 0; j < counts[i]; j++, expect++) {
				CHECK_EQ_INT(fetchbuf_next(&fb, expect, &r), 1);
				CHECK_EQ_INT(r.offset, expect);
				CHECK(r.value_len == 10 && r.value[0] == (uint8_t)j);
				CHECK(r.value >= ar.buf && r.value < ar.buf + ar.used);
			}
		}
		CHECK_EQ_INT(fetchbuf_next(&fb, expect, &r), 0);
		fetchbuf_clear(&fb);
		CHECK(fb.arena == &ar); /* kept by clear */
		fetch_arena_destroy(&ar);
		for (int i = 0; i < 3; i++)
			free(bs[i]);
	}
}

TEST(full_arena_waits_for_its_reset)
{
	/* Three batches of 1000 records of 600 bytes: each decompresses to
	 * about 0.6 MiB, so two do not fit in the first arena together. */
	enum { PER = 1000, VALUE = 600 };
	uint8_t *bs[3];
	size_t lens[3], total;
	for (int i = 0; i < 3; i++)
		bs[i] = build_compressed(BATCH_COMPRESSION_ZSTD, PER, VALUE, (int64_t)i * PER, &lens[i]);
	struct fetch_arena ar;
	struct fetchbuf fb;
	fetch_arena_init(&ar);
	fetchbuf_init(&fb);
	fetchbuf_set_arena(&fb, &ar);
	struct fetch_chunk *ch = chunk_of_batches(bs, lens, 3, &total);
	CHECK_OK(fetchbuf_push(&fb, ch, ch->buf, total));
	fetch_chunk_unref(ch);
	int64_t expect = 0;
	/* The whole first batch, then no room for the second. */
	CHECK_EQ_INT(read_checked(&fb, &expect, VALUE, PER, PER), 1);
	CHECK_EQ_INT(read_checked(&fb, &expect, VALUE, PER, 1), RN_E_FULL);
	CHECK_EQ_INT(expect, PER);
	CHECK_EQ_INT(ar.cap, FETCH_ARENA_MIN_BYTES);
	/* After the reset the second batch reads; stop half way through it. */
	fetch_arena_reset(&ar);
	CHECK_EQ_INT(read_checked(&fb, &expect, VALUE, PER, PER / 2), 1);
	/* A reset under the open batch (the arena's bytes then reused for
	 * something else) makes it decompress again and go on where it was. */
	fetch_arena_reset(&ar);
	memset(ar.buf, 0xa5, ar.cap);
	CHECK_EQ_INT(read_checked(&fb, &expect, VALUE, PER, PER - PER / 2), 1);
	CHECK_EQ_INT(expect, 2 * PER);
	CHECK_EQ_INT(read_checked(&fb, &expect, VALUE, PER, 1), RN_E_FULL);
	fetch_arena_reset(&ar);
	CHECK_EQ_INT(read_checked(&fb, &expect, VALUE, PER, 2 * PER), 0);
	CHECK_EQ_INT(expect, 3 * PER);
	CHECK(ar.cap <= BATCH_MAX_RECORDS_BYTES);
	fetchbuf_clear(&fb);
	fetch_arena_destroy(&ar);
	for (int i = 0; i < 3; i++)
		free(bs[i]);
}

TEST(compressed_batch_below_the_position_is_not_decompressed)
{
	size_t la, lb, total;
	uint8_t *bs[2] = {build_compressed(BATCH_COMPRESSION_LZ4, 20, 8, 0, &la),
			  build_compressed(BATCH_COMPRESSION_LZ4, 20, 8, 20, &lb)};
	size_t lens[2] = {la, lb};
	struct fetch_arena ar;
	struct fetchbuf fb;
	struct record_view r;
	fetch_arena_init(&ar);
	fetchbuf_init(&fb);
	fetchbuf_set_arena(&fb, &ar);
	struct fetch_chunk *ch = chunk_of_batches(bs, lens, 2, &total);
	CHECK_OK(fetchbuf_push(&fb, ch, ch->buf, total));
	fetch_chunk_unref(ch);
	CHECK_EQ_INT(fetchbuf_next(&fb, 25, &r), 1);
	CHECK_EQ_INT(r.offset, 25);
	/* Only the second batch went into the arena. */
	CHECK(ar.used > 0 && ar.used < 2 * (20 * 8 + 20 * 12));
	size_t one = ar.used;
	fetch_arena_reset(&ar);
	CHECK_EQ_INT(fetchbuf_next(&fb, 26, &r), 1);
	CHECK_EQ_INT(ar.used, one);
	fetchbuf_clear(&fb);
	fetch_arena_destroy(&ar);
	free(bs[0]);
	free(bs[1]);
}

TEST(compressed_batch_without_arena_or_damaged_is_refused)
{
	size_t len;
	uint8_t *z = build_compressed(BATCH_COMPRESSION_ZSTD, 5, 30, 0, &len);
	struct fetchbuf fb;
	struct record_view r;
	fetchbuf_init(&fb);
	CHECK_OK(fetchbuf_set(&fb, copy_of(z, len), len));
	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), RN_E_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK_EQ_INT(fb.bad_codec, BATCH_COMPRESSION_ZSTD);
	/* A damaged frame whose CRC was made to match. */
	struct fetch_arena ar;
	fetch_arena_init(&ar);
	fetchbuf_set_arena(&fb, &ar);
	z[len - 3] ^= 0x10;
	be_put32(z + BATCH_OFF_CRC, crc32c(z + BATCH_CRC_START, len - BATCH_CRC_START));
	CHECK_OK(fetchbuf_set(&fb, copy_of(z, len), len));
	int rc = fetchbuf_next(&fb, 0, &r);
	CHECK(rc == RN_E_CORRUPT_MESSAGE || rc == RN_E_INVALID_RECORD);
	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 0);
	fetchbuf_clear(&fb);
	fetch_arena_destroy(&ar);
	free(z);
}

/* ------------------------------------------------- Fetch responses in place */

#include "wire/runnel.pb-c.h"

/* Packs a Response with a Fetch answer: topic "events" with partition 3
 * (records, high watermark 42) and partition 5 (an error), then topic "x"
 * with partition 0 (no records).  Returns the packed bytes (malloc'ed). */
static uint8_t *pack_fetch_response(const uint8_t *records, size_t records_len, size_t *len)
{
	Runnel__FetchPartitionData p3 = RUNNEL__FETCH_PARTITION_DATA__INIT;
	p3.partition = 3;
	p3.high_watermark = 42;
	p3.records.data = (uint8_t *)records;
	p3.records.len = records_len;
	Runnel__FetchPartitionData p5 = RUNNEL__FETCH_PARTITION_DATA__INIT;
	p5.partition = 5;
	p5.error_code = 6; /* NOT_LEADER_OR_FOLLOWER */
	p5.error_message = "not the leader";
	p5.high_watermark = -1;
	Runnel__FetchPartitionData p0 = RUNNEL__FETCH_PARTITION_DATA__INIT;
	Runnel__FetchPartitionData *ev_parts[] = {&p3, &p5};
	Runnel__FetchPartitionData *x_parts[] = {&p0};
	Runnel__FetchTopicData ev = RUNNEL__FETCH_TOPIC_DATA__INIT;
	ev.name = "events";
	ev.n_partitions = 2;
	ev.partitions = ev_parts;
	Runnel__FetchTopicData x = RUNNEL__FETCH_TOPIC_DATA__INIT;
	x.name = "x";
	x.n_partitions = 1;
	x.partitions = x_parts;
	Runnel__FetchTopicData *topics[] = {&ev, &x};
	Runnel__FetchResponse fr = RUNNEL__FETCH_RESPONSE__INIT;
	fr.n_topics = 2;
	fr.topics = topics;
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.correlation_id = 77;
	resp.body_case = RUNNEL__RESPONSE__BODY_FETCH;
	resp.fetch = &fr;
	*len = runnel__response__get_packed_size(&resp);
	uint8_t *out = malloc(*len);
	RN_ASSERT(out && runnel__response__pack(&resp, out) == *len);
	return out;
}

#define MAX_SEEN 8

struct seen {
	struct fetch_part_view parts[MAX_SEEN];
	int n;
};

static int collect(void *arg, const struct fetch_part_view *pv)
{
	struct seen *s = arg;
	if (s->n < MAX_SEEN)
		s->parts[s->n] = *pv;
	s->n++;
	return 0;
}

static int str_is(const struct fetch_str *s, const char *want)
{
	return s->len == strlen(want) && memcmp(s->data, want, s->len) == 0;
}

TEST(fetch_response_is_decoded_in_place)
{
	uint8_t batch[BUF_BYTES];
	size_t blen = build_batch(batch, 100);
	size_t len;
	uint8_t *body = pack_fetch_response(batch, blen, &len);
	struct fetch_resp_view top;
	struct seen s = {.n = 0};
	CHECK_OK(fetch_response_decode(body, len, &top, collect, &s));
	CHECK(top.has_fetch && top.error_code == 0 && top.fetch_error_code == 0);
	CHECK_EQ_INT(s.n, 3);
	CHECK(str_is(&s.parts[0].topic, "events") && s.parts[0].partition == 3);
	CHECK_EQ_INT(s.parts[0].high_watermark, 42);
	/* The records are the response's own bytes, not a copy. */
	CHECK(s.parts[0].records > body && s.parts[0].records + blen <= body + len);
	CHECK_EQ_INT(s.parts[0].records_len, blen);
	CHECK(memcmp(s.parts[0].records, batch, blen) == 0);
	CHECK(str_is(&s.parts[1].topic, "events") && s.parts[1].partition == 5);
	CHECK_EQ_INT(s.parts[1].error_code, 6);
	CHECK(str_is(&s.parts[1].error_message, "not the leader"));
	CHECK_EQ_INT(s.parts[1].high_watermark, -1);
	CHECK(s.parts[1].records_len == 0);
	CHECK(str_is(&s.parts[2].topic, "x") && s.parts[2].partition == 0);

	/* The records read straight from the response. */
	struct fetch_chunk *ch = fetch_chunk_new(body);
	struct fetchbuf fb;
	struct record_view r;
	CHECK(ch);
	fetchbuf_init(&fb);
	CHECK_OK(fetchbuf_push(&fb, ch, s.parts[0].records, s.parts[0].records_len));
	fetch_chunk_unref(ch);
	CHECK_EQ_INT(fetchbuf_next(&fb, 0, &r), 1);
	CHECK_EQ_INT(r.offset, 100);
	CHECK(r.value_len == 2 && memcmp(r.value, "v0", 2) == 0);
	fetchbuf_clear(&fb);
}

TEST(fetch_response_errors_and_other_bodies)
{
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.error_code = 35;
	resp.error_message = "unsupported";
	uint8_t out[256];
	size_t len = runnel__response__pack(&resp, out);
	struct fetch_resp_view top;
	CHECK_OK(fetch_response_decode(out, len, &top, collect, NULL));
	CHECK(!top.has_fetch && top.error_code == 35);
	CHECK(str_is(&top.error_message, "unsupported"));

	Runnel__ProduceResponse pr = RUNNEL__PRODUCE_RESPONSE__INIT;
	Runnel__Response other = RUNNEL__RESPONSE__INIT;
	other.body_case = RUNNEL__RESPONSE__BODY_PRODUCE;
	other.produce = &pr;
	len = runnel__response__pack(&other, out);
	CHECK_OK(fetch_response_decode(out, len, &top, collect, NULL));
	CHECK(!top.has_fetch);

	Runnel__FetchResponse fr = RUNNEL__FETCH_RESPONSE__INIT;
	fr.error_code = 7;
	Runnel__Response fe = RUNNEL__RESPONSE__INIT;
	fe.body_case = RUNNEL__RESPONSE__BODY_FETCH;
	fe.fetch = &fr;
	len = runnel__response__pack(&fe, out);
	CHECK_OK(fetch_response_decode(out, len, &top, collect, NULL));
	CHECK(top.has_fetch && top.fetch_error_code == 7);
}

/* Appends a protobuf key and a length prefix. */
static size_t put_len_field(uint8_t *p, uint32_t number, size_t len)
{
	size_t n = 0;
	uint64_t key = ((uint64_t)number << 3) | 2u;
	for (uint64_t v = key;; v >>= 7) {
		p[n++] = (uint8_t)(v < 0x80 ? v : (v & 0x7f) | 0x80);
		if (v < 0x80)
			break;
	}
	for (uint64_t v = len;; v >>= 7) {
		p[n++] = (uint8_t)(v < 0x80 ? v : (v & 0x7f) | 0x80);
		if (v < 0x80)
			break;
	}
	return n;
}

TEST(fetch_topic_name_may_follow_its_partitions)
{
	Runnel__FetchPartitionData p1 = RUNNEL__FETCH_PARTITION_DATA__INIT;
	p1.partition = 1;
	p1.high_watermark = 9;
	uint8_t part[64], topic[128], fetch[192], body[256];
	size_t plen = runnel__fetch_partition_data__pack(&p1, part);
	/* FetchTopicData with field 2 (a partition) before field 1 (the name). */
	size_t tlen = put_len_field(topic, 2, plen);
	memcpy(topic + tlen, part, plen);
	tlen += plen;
	tlen += put_len_field(topic + tlen, 1, 3);
	memcpy(topic + tlen, "abc", 3);
	tlen += 3;
	size_t flen = put_len_field(fetch, 2, tlen);
	memcpy(fetch + flen, topic, tlen);
	flen += tlen;
	size_t blen = put_len_field(body, 101, flen);
	memcpy(body + blen, fetch, flen);
	blen += flen;
	struct fetch_resp_view top;
	struct seen s = {.n = 0};
	CHECK_OK(fetch_response_decode(body, blen, &top, collect, &s));
	CHECK_EQ_INT(s.n, 1);
	CHECK(str_is(&s.parts[0].topic, "abc"));
	CHECK_EQ_INT(s.parts[0].partition, 1);
	CHECK_EQ_INT(s.parts[0].high_watermark, 9);
}

TEST(malformed_fetch_responses_are_refused_whole)
{
	uint8_t batch[BUF_BYTES];
	size_t blen = build_batch(batch, 0);
	size_t len;
	uint8_t *body = pack_fetch_response(batch, blen, &len);
	struct fetch_resp_view top;
	/* Every cut-short response either decodes (a cut that falls between
	 * the response's own fields) or is refused before any partition is
	 * reported; none reads outside the bytes it was given. */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = copy_of(body, cut);
		struct seen s = {.n = 0};
		int rc = fetch_response_decode(copy, cut, &top, collect, &s);
		free(copy);
		CHECK(rc == 0 || rc == RN_E_MALFORMED_FRAME);
		if (rc != 0)
			CHECK_EQ_INT(s.n, 0);
	}
	/* A field of the wrong wire type: records (7) sent as a varint. */
	uint8_t bad[] = {0xaa, 0x06, 0x06, 0x12, 0x04, 0x12, 0x02, 0x38, 0x01};
	struct seen s = {.n = 0};
	CHECK_EQ_INT(fetch_response_decode(bad, sizeof(bad), &top, collect, &s),
		     RN_E_MALFORMED_FRAME);
	CHECK_EQ_INT(s.n, 0);
	free(body);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
