/* test_batch_compress.c: lz4 and zstd batches: round trips, damaged frames, the decompression limit. */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "test/unit/harness.h"
#include "wire/batch.h"
#include "wire/batch_codec.h"

#define TS0 1700000000000LL
/* Big enough for 10000 records of the shapes below, and for their
 * compressed form. */
#define BUF_BYTES (4u * 1024u * 1024u)

static uint8_t plain[BUF_BYTES];
static uint8_t packed[BUF_BYTES + 65536];
static uint8_t work[BUF_BYTES + 65536];

static const int codecs[] = {BATCH_COMPRESSION_LZ4, BATCH_COMPRESSION_ZSTD};

/* A small deterministic generator (xorshift), for incompressible bytes. */
static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* What record i of a test batch holds; shape picks the mix. */
enum shape { SHAPE_MIXED, SHAPE_TEXT, SHAPE_RANDOM, SHAPE_EMPTY };

struct spec {
	const char *key;
	int32_t key_len;
	const uint8_t *value;
	int32_t value_len;
	struct record_header_view headers[2];
	uint32_t header_count;
};

static uint8_t value_buf[2048];
static char key_buf[32];

static struct spec record_spec(enum shape shape, int i)
{
	struct spec s = {0};
	s.key_len = snprintf(key_buf, sizeof(key_buf), "key-%d", i % 97);
	s.key = key_buf;
	s.value = value_buf;
	switch (shape) {
	case SHAPE_EMPTY:
		/* Empty and null values, null keys. */
		s.key = i % 2 ? NULL : key_buf;
		s.key_len = i % 2 ? -1 : s.key_len;
		s.value = i % 3 == 0 ? NULL : value_buf;
		s.value_len = i % 3 == 0 ? -1 : 0;
		break;
	case SHAPE_RANDOM:
		s.value_len = 200 + i % 50;
		for (int32_t k = 0; k < s.value_len; k += 8) {
			uint64_t r = rng_next();
			memcpy(value_buf + k, &r, 8);
		}
		break;
	case SHAPE_TEXT:
		s.value_len = snprintf((char *)value_buf, sizeof(value_buf),
				       "{\"user\":%d,\"event\":\"page_view\",\"path\":\"/items/%d\"}",
				       i % 1000, i % 37);
		break;
	case SHAPE_MIXED:
		s.key = i % 4 == 1 ? NULL : key_buf;
		s.key_len = i % 4 == 1 ? -1 : s.key_len;
		s.value_len = i % 5 == 2 ? -1 : i % 300;
		s.value = s.value_len < 0 ? NULL : value_buf;
		memset(value_buf, 'a' + i % 26, sizeof(value_buf));
		s.headers[0] = (struct record_header_view){(const uint8_t *)"trace", 5,
							   (const uint8_t *)"0af7651916cd", 12};
		s.headers[1] = (struct record_header_view){(const uint8_t *)"gone", 4, NULL, -1};
		s.header_count = (uint32_t)(i % 3);
		break;
	}
	return s;
}

static size_t build(enum shape shape, int n)
{
	struct batch_builder b;
	batch_builder_init(&b, plain, sizeof(plain));
	rng_state = 88172645463325252ull;
	for (int i = 0; i < n; i++) {
		struct spec s = record_spec(shape, i);
		int rc = batch_builder_add(&b, TS0 + i, s.key, s.key_len, s.value, s.value_len,
					   s.headers, s.header_count);
		RN_ASSERT(rc == 0);
	}
	return batch_builder_finish(&b, -1, -1, -1);
}

static size_t compress_into(uint8_t *out, size_t cap, int codec, int level, size_t len)
{
	static struct batch_codec c;
	static int ready;
	if (!ready) {
		batch_codec_init(&c);
		ready = 1;
	}
	size_t out_len = 0;
	RN_ASSERT(cap >= batch_compress_bound(codec, len));
	int rc = batch_compress(&c, codec, level, plain, len, out, cap, &out_len);
	return rc == 0 ? out_len : 0;
}

static int same_bytes(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	if (alen != blen)
		return 0;
	if (alen < 0)
		return a == NULL && b == NULL;
	return alen == 0 || memcmp(a, b, (size_t)alen) == 0;
}

/* Iterates both batches side by side: every record and header equal. */
static int records_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct batch_iter ia, ib;
	struct record_view ra, rb;
	if (batch_iter_init(&ia, a, alen) != 0 || batch_iter_init(&ib, b, blen) != 0)
		return 0;
	int ka, kb;
	while ((ka = batch_iter_next(&ia, &ra)) == 1) {
		kb = batch_iter_next(&ib, &rb);
		if (kb != 1 || ra.offset != rb.offset || ra.timestamp != rb.timestamp ||
		    !same_bytes(ra.key, ra.key_len, rb.key, rb.key_len) ||
		    !same_bytes(ra.value, ra.value_len, rb.value, rb.value_len) ||
		    ra.header_count != rb.header_count ||
		    !same_bytes(ra.headers, (int32_t)ra.headers_len, rb.headers,
				(int32_t)rb.headers_len))
			return 0;
	}
	return ka == 0 && batch_iter_next(&ib, &rb) == 0;
}

/* Compresses a batch of n records of shape with codec, checks the result
 * validates with the same header facts and the same records. */
static int round_trip(enum shape shape, int n, int codec, int level, size_t *plain_len,
		      size_t *packed_len)
{
	size_t len = build(shape, n);
	size_t clen = compress_into(packed, sizeof(packed), codec, level, len);
	*plain_len = len;
	*packed_len = clen;
	if (clen == 0)
		return -1;
	struct batch_info pi, ci;
	if (batch_validate(plain, len, RN_MAX_RECORDS_PER_BATCH, &pi) != 0)
		return -2;
	int rc = batch_validate(packed, clen, RN_MAX_RECORDS_PER_BATCH, &ci);
	if (rc != 0) {
		fprintf(stderr, "  %s of %d records: %s\n", batch_codec_name(codec), n, rn_errname(rc));
		return -3;
	}
	if (batch_codec_of(&ci) != codec || ci.record_count != n || ci.total_bytes != clen ||
	    ci.first_timestamp != pi.first_timestamp || ci.max_timestamp != pi.max_timestamp ||
	    ci.last_offset_delta != pi.last_offset_delta)
		return -4;
	/* Copied, so that iterating the plain batch cannot see the same
	 * thread buffer as the compressed one. */
	memcpy(work, packed, clen);
	return records_equal(plain, len, work, clen) ? 0 : -5;
}

TEST(round_trips_every_shape_and_size)
{
	static const int counts[] = {1, 2, 17, 1000, 10000};
	static const enum shape shapes[] = {SHAPE_MIXED, SHAPE_TEXT, SHAPE_RANDOM, SHAPE_EMPTY};
	for (size_t c = 0; c < RN_ARRAY_LEN(codecs); c++)
		for (size_t s = 0; s < RN_ARRAY_LEN(shapes); s++)
			for (size_t k = 0; k < RN_ARRAY_LEN(counts); k++) {
				size_t len = 0, clen = 0;
				int rc = round_trip(shapes[s], counts[k], codecs[c],
						    BATCH_CODEC_LEVEL_DEFAULT, &len, &clen);
				if (rc != 0)
					fprintf(stderr, "  %s shape %zu, %d records: %d\n",
						batch_codec_name(codecs[c]), s, counts[k], rc);
				CHECK_EQ_INT(rc, 0);
			}
}

TEST(text_compresses_and_random_does_not)
{
	for (size_t c = 0; c < RN_ARRAY_LEN(codecs); c++) {
		size_t len = 0, clen = 0;
		CHECK_OK(round_trip(SHAPE_TEXT, 5000, codecs[c], BATCH_CODEC_LEVEL_DEFAULT, &len, &clen));
		fprintf(stderr, "  %s: text %zu -> %zu bytes\n", batch_codec_name(codecs[c]), len, clen);
		CHECK(clen * 3 < len);
		CHECK_OK(round_trip(SHAPE_RANDOM, 1000, codecs[c], BATCH_CODEC_LEVEL_DEFAULT, &len, &clen));
		/* Incompressible values stay about their size, within the bound. */
		CHECK(clen * 10 > len * 9);
		CHECK(clen <= batch_compress_bound(codecs[c], len));
	}
}

TEST(levels_round_trip_and_bad_ones_are_refused)
{
	static const struct {
		int codec;
		int level;
	} ok[] = {{BATCH_COMPRESSION_LZ4, 0},  {BATCH_COMPRESSION_LZ4, 1},
		  {BATCH_COMPRESSION_LZ4, 9},  {BATCH_COMPRESSION_LZ4, 12},
		  {BATCH_COMPRESSION_ZSTD, 1}, {BATCH_COMPRESSION_ZSTD, 19}};
	for (size_t i = 0; i < RN_ARRAY_LEN(ok); i++) {
		size_t len = 0, clen = 0;
		CHECK(batch_codec_level_valid(ok[i].codec, ok[i].level));
		CHECK_OK(round_trip(SHAPE_TEXT, 300, ok[i].codec, ok[i].level, &len, &clen));
	}
	CHECK(!batch_codec_level_valid(BATCH_COMPRESSION_LZ4, 13));
	CHECK(!batch_codec_level_valid(BATCH_COMPRESSION_ZSTD, 0));
	CHECK(!batch_codec_level_valid(BATCH_COMPRESSION_ZSTD, 23));
	CHECK(!batch_codec_level_valid(BATCH_COMPRESSION_NONE, 1));
	CHECK(batch_codec_level_valid(BATCH_COMPRESSION_NONE, BATCH_CODEC_LEVEL_DEFAULT));
	size_t len = build(SHAPE_TEXT, 10), out = 0;
	struct batch_codec c;
	batch_codec_init(&c);
	CHECK_EQ_INT(batch_compress(&c, BATCH_COMPRESSION_ZSTD, 99, plain, len, packed, sizeof(packed),
				    &out),
		     RN_E_INVAL);
	CHECK_EQ_INT(batch_compress(&c, BATCH_COMPRESSION_GZIP, -1, plain, len, packed,
				    sizeof(packed), &out),
		     RN_E_INVAL);
	/* Too small an output buffer is refused before anything is written. */
	CHECK_EQ_INT(batch_compress(&c, BATCH_COMPRESSION_LZ4, -1, plain, len, packed, len, &out),
		     RN_E_INVAL);
	batch_codec_destroy(&c);
}

TEST(codec_names)
{
	int codec = -1;
	CHECK_OK(batch_codec_parse("lz4", &codec));
	CHECK_EQ_INT(codec, BATCH_COMPRESSION_LZ4);
	CHECK_OK(batch_codec_parse("zstd", &codec));
	CHECK_EQ_INT(codec, BATCH_COMPRESSION_ZSTD);
	CHECK_OK(batch_codec_parse("none", &codec));
	CHECK_EQ_INT(codec, BATCH_COMPRESSION_NONE);
	CHECK_EQ_INT(batch_codec_parse("gzip", &codec), RN_E_INVAL);
	CHECK_EQ_INT(batch_codec_parse("snappy", &codec), RN_E_INVAL);
	CHECK_EQ_INT(batch_codec_parse("LZ4", &codec), RN_E_INVAL);
	CHECK_EQ_STR(batch_codec_name(BATCH_COMPRESSION_GZIP), "gzip");
	CHECK_EQ_STR(batch_codec_name(BATCH_COMPRESSION_SNAPPY), "snappy");
	CHECK_EQ_STR(batch_codec_name(7), "unknown");
}

TEST(stamping_keeps_a_compressed_batch_valid)
{
	for (size_t c = 0; c < RN_ARRAY_LEN(codecs); c++) {
		size_t len = build(SHAPE_MIXED, 50);
		size_t clen = compress_into(packed, sizeof(packed), codecs[c], -1, len);
		struct batch_info info;
		CHECK(clen > 0);
		batch_stamp(packed, 5000, 3);
		CHECK_OK(batch_validate(packed, clen, RN_MAX_RECORDS_PER_BATCH, &info));
		CHECK_EQ_INT(info.base_offset, 5000);
		batch_stamp_log_append_time(packed, clen, TS0 + 99999);
		CHECK_OK(batch_validate(packed, clen, RN_MAX_RECORDS_PER_BATCH, &info));
		/* The codec survives the timestamp type being set. */
		CHECK_EQ_INT(batch_codec_of(&info), codecs[c]);
		CHECK(info.attributes & BATCH_ATTR_TIMESTAMP_LOG_APPEND);
		struct batch_iter it;
		struct record_view r;
		CHECK_OK(batch_iter_init(&it, packed, clen));
		int n = 0;
		while (batch_iter_next(&it, &r) == 1) {
			CHECK_EQ_INT(r.offset, 5000 + n);
			CHECK_EQ_INT(r.timestamp, TS0 + 99999);
			n++;
		}
		CHECK_EQ_INT(n, 50);
	}
}

TEST(views_of_a_compressed_batch_point_into_the_scratch)
{
	struct batch_scratch s;
	struct record_view views[64];
	struct batch_info info;
	int filled = 0;
	batch_scratch_init(&s);
	size_t len = build(SHAPE_MIXED, 40);
	size_t clen = compress_into(packed, sizeof(packed), BATCH_COMPRESSION_ZSTD, -1, len);
	CHECK_OK(batch_validate_scratch(&s, packed, clen, 100, &info, views, 64, &filled));
	CHECK(filled);
	for (int i = 0; i < 40; i++) {
		struct spec sp = record_spec(SHAPE_MIXED, i);
		CHECK_EQ_INT(views[i].offset, i);
		CHECK(same_bytes(views[i].value, views[i].value_len, sp.value, sp.value_len));
		if (views[i].value_len > 0)
			CHECK(views[i].value >= s.buf && views[i].value < s.buf + s.cap);
	}
	/* The record limit applies to the decompressed count. */
	CHECK_EQ_INT(batch_validate_scratch(&s, packed, clen, 39, &info, NULL, 0, NULL),
		     RN_E_RECORD_LIST_TOO_LARGE);
	batch_scratch_destroy(&s);
}

TEST(validating_during_iteration_leaves_the_iteration_alone)
{
	size_t len = build(SHAPE_TEXT, 30);
	size_t clen = compress_into(work, sizeof(work), BATCH_COMPRESSION_LZ4, -1, len);
	CHECK(clen > 0);
	struct batch_iter it;
	struct record_view r;
	CHECK_OK(batch_iter_init(&it, work, clen));
	CHECK_EQ_INT(batch_iter_next(&it, &r), 1);
	/* Another compressed batch is validated on the same thread. */
	size_t len2 = build(SHAPE_RANDOM, 500);
	size_t clen2 = compress_into(packed, sizeof(packed), BATCH_COMPRESSION_LZ4, -1, len2);
	struct batch_info info;
	CHECK_OK(batch_validate(packed, clen2, RN_MAX_RECORDS_PER_BATCH, &info));
	int n = 1;
	while (batch_iter_next(&it, &r) == 1) {
		struct spec sp = record_spec(SHAPE_TEXT, n);
		CHECK(same_bytes(r.value, r.value_len, sp.value, sp.value_len));
		n++;
	}
	CHECK_EQ_INT(n, 30);
}

/* Writes a batch header in front of frame[0..frame_len) (claiming count
 * records and codec), with the length and CRC right. */
static size_t wrap_frame(uint8_t *out, const uint8_t *frame, size_t frame_len, int32_t count,
			 int codec)
{
	build(SHAPE_TEXT, count);
	memcpy(out, plain, BATCH_HEADER_BYTES);
	memmove(out + BATCH_HEADER_BYTES, frame, frame_len);
	size_t total = BATCH_HEADER_BYTES + frame_len;
	be_put32(out + BATCH_OFF_LENGTH, (uint32_t)(total - BATCH_LOG_OVERHEAD));
	be_put16(out + BATCH_OFF_ATTRIBUTES, (uint16_t)codec);
	be_put32(out + BATCH_OFF_CRC, crc32c(out + BATCH_CRC_START, total - BATCH_CRC_START));
	return total;
}

TEST(every_bit_flip_in_the_frame_is_caught_or_harmless)
{
	for (size_t c = 0; c < RN_ARRAY_LEN(codecs); c++) {
		size_t len = build(SHAPE_MIXED, 12);
		size_t clen = compress_into(packed, sizeof(packed), codecs[c], -1, len);
		CHECK(clen > 0);
		int caught_by_frame = 0;
		for (size_t i = BATCH_HEADER_BYTES; i < clen; i++) {
			for (int bit = 0; bit < 8; bit++) {
				struct batch_info info;
				memcpy(work, packed, clen);
				work[i] ^= (uint8_t)(1u << bit);
				/* Untouched CRC: always caught. */
				CHECK_EQ_INT(batch_validate(work, clen, 100, &info),
					     RN_E_CORRUPT_MESSAGE);
				/* CRC fixed: the frame or the records must catch it,
				 * or the records that come out are well formed. */
				be_put32(work + BATCH_OFF_CRC,
					 crc32c(work + BATCH_CRC_START, clen - BATCH_CRC_START));
				int rc = batch_validate(work, clen, 100, &info);
				CHECK(rc == 0 || rc == RN_E_CORRUPT_MESSAGE || rc == RN_E_INVALID_RECORD);
				caught_by_frame += rc != 0;
				if (rc != 0)
					continue;
				struct batch_iter it;
				struct record_view r;
				CHECK_OK(batch_iter_init(&it, work, clen));
				int n = 0;
				while ((rc = batch_iter_next(&it, &r)) == 1)
					n++;
				CHECK_EQ_INT(rc, 0);
				CHECK_EQ_INT(n, 12);
			}
		}
		CHECK(caught_by_frame > 0);
	}
}

TEST(malformed_frames_are_corrupt)
{
	for (size_t c = 0; c < RN_ARRAY_LEN(codecs); c++) {
		int codec = codecs[c];
		size_t len = build(SHAPE_TEXT, 20);
		size_t clen = compress_into(packed, sizeof(packed), codec, -1, len);
		size_t flen = clen - BATCH_HEADER_BYTES;
		static uint8_t frame[65536];
		struct batch_info info;
		CHECK(clen > 0 && flen * 2 < sizeof(frame));
		memcpy(frame, packed + BATCH_HEADER_BYTES, flen);
		/* Cut short by one byte, and by half. */
		size_t n = wrap_frame(work, frame, flen - 1, 20, codec);
		CHECK_EQ_INT(batch_validate(work, n, 100, &info), RN_E_CORRUPT_MESSAGE);
		n = wrap_frame(work, frame, flen / 2, 20, codec);
		CHECK_EQ_INT(batch_validate(work, n, 100, &info), RN_E_CORRUPT_MESSAGE);
		/* A byte after the frame, and the frame twice. */
		frame[flen] = 0;
		n = wrap_frame(work, frame, flen + 1, 20, codec);
		CHECK_EQ_INT(batch_validate(work, n, 100, &info), RN_E_CORRUPT_MESSAGE);
		memcpy(frame + flen, frame, flen);
		n = wrap_frame(work, frame, 2 * flen, 20, codec);
		CHECK_EQ_INT(batch_validate(work, n, 100, &info), RN_E_CORRUPT_MESSAGE);
		/* An empty section, and a header that claims more records than
		 * the frame holds. */
		n = wrap_frame(work, frame, 0, 20, codec);
		CHECK_EQ_INT(batch_validate(work, n, 100, &info), RN_E_CORRUPT_MESSAGE);
		memcpy(work, packed, clen);
		be_put32(work + BATCH_OFF_RECORD_COUNT, 21);
		be_put32(work + BATCH_OFF_LAST_OFFSET_DELTA, 20);
		be_put32(work + BATCH_OFF_CRC, crc32c(work + BATCH_CRC_START, clen - BATCH_CRC_START));
		CHECK_EQ_INT(batch_validate(work, clen, 100, &info), RN_E_CORRUPT_MESSAGE);
		struct batch_iter it;
		CHECK_EQ_INT(batch_iter_init(&it, work, 0), RN_E_CORRUPT_MESSAGE);
	}
}

TEST(gzip_and_snappy_are_refused_by_name)
{
	size_t len = build(SHAPE_TEXT, 3);
	struct batch_info info;
	struct batch_iter it;
	memcpy(work, plain, len);
	be_put16(work + BATCH_OFF_ATTRIBUTES, BATCH_COMPRESSION_GZIP);
	be_put32(work + BATCH_OFF_CRC, crc32c(work + BATCH_CRC_START, len - BATCH_CRC_START));
	CHECK_EQ_INT(batch_validate(work, len, 10, &info), RN_E_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK_EQ_INT(batch_iter_init(&it, work, len), RN_E_UNSUPPORTED_COMPRESSION_TYPE);
	be_put16(work + BATCH_OFF_ATTRIBUTES, BATCH_COMPRESSION_SNAPPY);
	be_put32(work + BATCH_OFF_CRC, crc32c(work + BATCH_CRC_START, len - BATCH_CRC_START));
	CHECK_EQ_INT(batch_validate(work, len, 10, &info), RN_E_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK(strstr(rn_strerror(RN_E_UNSUPPORTED_COMPRESSION_TYPE), "lz4") != NULL);
	CHECK_EQ_INT(rn_err_to_wire(RN_E_UNSUPPORTED_COMPRESSION_TYPE), 76);
}

/* A zstd frame of bomb_len zero bytes: a few hundred bytes that expand to
 * far more than any batch may hold. */
static size_t zstd_bomb(uint8_t *out, size_t cap, size_t bomb_len, int declare_size)
{
	uint8_t *zeros = calloc(1, bomb_len);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	RN_ASSERT(zeros && cc);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, declare_size);
	size_t n = ZSTD_compress2(cc, out, cap, zeros, bomb_len);
	RN_ASSERT(!ZSTD_isError(n));
	ZSTD_freeCCtx(cc);
	free(zeros);
	return n;
}

TEST(decompression_past_the_limit_is_refused_without_growing_past_it)
{
	static uint8_t frame[1 << 20];
	const size_t bomb = (size_t)BATCH_MAX_RECORDS_BYTES * 4;
	for (int declare = 0; declare <= 1; declare++) {
		struct batch_scratch s;
		struct batch_info info;
		batch_scratch_init(&s);
		size_t flen = zstd_bomb(frame, sizeof(frame), bomb, declare);
		CHECK(flen < 64 * 1024);
		size_t n = wrap_frame(work, frame, flen, 1, BATCH_COMPRESSION_ZSTD);
		CHECK_EQ_INT(batch_validate_scratch(&s, work, n, 10, &info, NULL, 0, NULL),
			     RN_E_CORRUPT_MESSAGE);
		/* The scratch never grew past the limit to find out. */
		CHECK(s.cap <= BATCH_MAX_RECORDS_BYTES);
		CHECK_EQ_INT(batch_validate(work, n, 10, &info), RN_E_CORRUPT_MESSAGE);
		batch_scratch_destroy(&s);
	}
	/* Into a caller's buffer, too small is FULL and the limit is final. */
	struct batch_codec c;
	struct batch_info info;
	batch_codec_init(&c);
	size_t len = build(SHAPE_TEXT, 100);
	size_t clen = compress_into(packed, sizeof(packed), BATCH_COMPRESSION_LZ4, -1, len);
	CHECK_OK(batch_check_header(packed, clen, 1000, &info));
	size_t out = 0;
	CHECK_EQ_INT(batch_decompress_records(&c, packed, &info, work, 100, &out), RN_E_FULL);
	CHECK_OK(batch_decompress_records(&c, packed, &info, work, sizeof(work), &out));
	CHECK_EQ_INT(out, len - BATCH_HEADER_BYTES);
	CHECK(memcmp(work, plain + BATCH_HEADER_BYTES, out) == 0);
	CHECK_EQ_INT(batch_records_size_hint(packed, &info), len - BATCH_HEADER_BYTES);
	batch_codec_destroy(&c);
}

TEST(a_lying_size_hint_is_only_a_hint)
{
	/* An lz4 frame that declares far more content than it has: the
	 * buffer offered first is bounded, and the batch still reads. */
	size_t len = build(SHAPE_TEXT, 50);
	size_t clen = compress_into(packed, sizeof(packed), BATCH_COMPRESSION_LZ4, -1, len);
	uint8_t *fr = packed + BATCH_HEADER_BYTES;
	CHECK(fr[4] & 0x08); /* the content size is declared */
	for (int i = 0; i < 8; i++)
		fr[6 + i] = 0xff;
	/* The header checksum byte of the frame now disagrees: lz4 refuses it. */
	be_put32(packed + BATCH_OFF_CRC, crc32c(packed + BATCH_CRC_START, clen - BATCH_CRC_START));
	struct batch_info info;
	struct batch_scratch s;
	batch_scratch_init(&s);
	CHECK_OK(batch_check_header(packed, clen, 100, &info));
	size_t hint = batch_records_size_hint(packed, &info);
	CHECK(hint <= 256 * (clen - BATCH_HEADER_BYTES) || hint <= BATCH_SCRATCH_MIN_BYTES);
	CHECK_EQ_INT(batch_validate_scratch(&s, packed, clen, 100, &info, NULL, 0, NULL),
		     RN_E_CORRUPT_MESSAGE);
	batch_scratch_destroy(&s);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
