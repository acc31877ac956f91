/* fuzz_batch.c: record batch validation and iteration on arbitrary bytes. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "test/fuzz/fuzz.h"
#include "wire/batch.h"

/* Asserts that [p, p + len) lies inside [lo, hi). */
static void assert_inside(const uint8_t *p, int32_t len, const uint8_t *lo, const uint8_t *hi)
{
	if (len < 0) {
		RN_ASSERT(p == NULL && len == -1);
		return;
	}
	RN_ASSERT(p >= lo && p + len <= hi);
}

/* Walks every record and header of a batch that batch_validate accepted and
 * checks that the reader agrees with the validator.  The records lie in the
 * batch, or, for a compressed one, in what the iterator decompressed. */
static void walk_valid(const uint8_t *buf, size_t len, const struct batch_info *info)
{
	struct batch_iter it;
	struct record_view r;
	RN_ASSERT(batch_iter_init(&it, buf, len) == 0);
	const uint8_t *lo = it.pos, *hi = it.end;
	if (batch_codec_of(info) == BATCH_COMPRESSION_NONE)
		RN_ASSERT(lo == buf + BATCH_HEADER_BYTES && hi == buf + len);
	else
		RN_ASSERT((size_t)(hi - lo) <= BATCH_MAX_RECORDS_BYTES);
	int32_t n = 0;
	int rc;
	while ((rc = batch_iter_next(&it, &r)) == 1) {
		RN_ASSERT(r.offset == info->base_offset + n);
		assert_inside(r.key, r.key_len, lo, hi);
		assert_inside(r.value, r.value_len, lo, hi);
		RN_ASSERT(r.header_count <= RN_MAX_HEADERS_PER_RECORD);
		const uint8_t *hp = r.headers;
		size_t hl = r.headers_len;
		struct record_header_view h;
		uint32_t headers = 0;
		while ((rc = batch_header_next(&hp, &hl, &h)) == 1) {
			assert_inside(h.key, h.key_len, lo, hi);
			assert_inside(h.value, h.value_len, lo, hi);
			headers++;
		}
		RN_ASSERT(rc == 0 && headers == r.header_count);
		n++;
	}
	RN_ASSERT(rc == 0 && n == info->record_count);
}

/* Stamping must keep a valid batch valid: the broker relies on it. */
static void stamp_stays_valid(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size);
	RN_ASSERT(copy != NULL);
	memcpy(copy, data, size);
	struct batch_info info;
	batch_stamp(copy, 123456789, 42);
	RN_ASSERT(batch_validate(copy, size, RN_MAX_RECORDS_PER_BATCH, &info) == 0);
	RN_ASSERT(info.base_offset == 123456789 && info.leader_epoch == 42);
	batch_stamp_log_append_time(copy, size, 1);
	RN_ASSERT(batch_validate(copy, size, RN_MAX_RECORDS_PER_BATCH, &info) == 0);
	walk_valid(copy, size, &info);
	free(copy);
}

/* The records of two valid batches are the same, one by one. */
static void same_records(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	/* Iterating both at once would share the thread's decompression
	 * buffer, so the compressed one is read into views first. */
	static struct record_view views[4096];
	struct batch_scratch s;
	struct batch_info info;
	int filled = 0;
	batch_scratch_init(&s);
	RN_ASSERT(batch_validate_scratch(&s, b, blen, RN_MAX_RECORDS_PER_BATCH, &info, views,
					 RN_ARRAY_LEN(views), &filled) == 0);
	struct batch_iter it;
	struct record_view r;
	RN_ASSERT(batch_iter_init(&it, a, alen) == 0);
	for (int32_t i = 0; filled && batch_iter_next(&it, &r) == 1; i++) {
		RN_ASSERT(i < info.record_count && r.offset == views[i].offset &&
			  r.timestamp == views[i].timestamp && r.key_len == views[i].key_len &&
			  r.value_len == views[i].value_len && r.headers_len == views[i].headers_len);
		RN_ASSERT(r.key_len <= 0 || memcmp(r.key, views[i].key, (size_t)r.key_len) == 0);
		RN_ASSERT(r.value_len <= 0 || memcmp(r.value, views[i].value, (size_t)r.value_len) == 0);
	}
	batch_scratch_destroy(&s);
}

/* A valid uncompressed batch, compressed with each codec, stays valid with
 * the same records: what the producer sends, the broker accepts. */
static void compress_round_trip(const uint8_t *data, size_t size, const struct batch_info *info)
{
	static struct batch_codec codec;
	static int ready;
	static const int codecs[] = {BATCH_COMPRESSION_LZ4, BATCH_COMPRESSION_ZSTD};
	if (batch_codec_of(info) != BATCH_COMPRESSION_NONE)
		return;
	if (!ready) {
		batch_codec_init(&codec);
		ready = 1;
	}
	for (size_t i = 0; i < RN_ARRAY_LEN(codecs); i++) {
		size_t cap = batch_compress_bound(codecs[i], size), len = 0;
		uint8_t *out = malloc(cap);
		RN_ASSERT(out != NULL);
		int rc = batch_compress(&codec, codecs[i], BATCH_CODEC_LEVEL_DEFAULT, data, size, out,
					cap, &len);
		RN_ASSERT(rc == 0 || rc == RN_E_FULL);
		struct batch_info cinfo;
		if (rc == 0) {
			RN_ASSERT(batch_validate(out, len, RN_MAX_RECORDS_PER_BATCH, &cinfo) == 0);
			RN_ASSERT(cinfo.record_count == info->record_count &&
				  batch_codec_of(&cinfo) == codecs[i]);
			same_records(data, size, out, len);
		}
		free(out);
	}
}

static void validate_and_walk(const uint8_t *data, size_t size)
{
	struct batch_info info;
	int rc = batch_validate(data, size, RN_MAX_RECORDS_PER_BATCH, &info);
	RN_ASSERT(rc == 0 || rc == RN_E_CORRUPT_MESSAGE || rc == RN_E_INVALID_RECORD ||
		  rc == RN_E_UNSUPPORTED_COMPRESSION_TYPE || rc == RN_E_RECORD_LIST_TOO_LARGE);
	if (rc != 0)
		return;
	RN_ASSERT(info.total_bytes == size);
	walk_valid(data, size, &info);
	stamp_stays_valid(data, size);
	compress_round_trip(data, size, &info);
}

/*
 * Random bytes almost never carry a matching CRC, so on its own the fuzzer
 * would stop at the checksum.  A second pass validates a copy whose CRC has
 * been recomputed, which lets the mutations reach the record parser.
 */
static void with_fixed_crc(const uint8_t *data, size_t size)
{
	if (size < BATCH_HEADER_BYTES)
		return;
	uint8_t *copy = malloc(size);
	RN_ASSERT(copy != NULL);
	memcpy(copy, data, size);
	be_put32(copy + BATCH_OFF_CRC, crc32c(copy + BATCH_CRC_START, size - BATCH_CRC_START));
	validate_and_walk(copy, size);
	free(copy);
}

/*
 * The bytes after the header as a compressed section: the input's own codec
 * bits when it names lz4 or zstd, else the codec its last byte picks, with
 * the CRC recomputed.  Mutated seeds that hold real frames reach the
 * decompressors this way, and the decompression limit is exercised by any
 * frame that expands too far.
 */
static void as_compressed(const uint8_t *data, size_t size)
{
	if (size < BATCH_HEADER_BYTES)
		return;
	uint8_t *copy = malloc(size);
	RN_ASSERT(copy != NULL);
	memcpy(copy, data, size);
	uint16_t attributes = be_get16(copy + BATCH_OFF_ATTRIBUTES);
	int codec = attributes & BATCH_ATTR_COMPRESSION_MASK;
	if (codec != BATCH_COMPRESSION_LZ4 && codec != BATCH_COMPRESSION_ZSTD)
		codec = data[size - 1] & 1 ? BATCH_COMPRESSION_ZSTD : BATCH_COMPRESSION_LZ4;
	attributes = (uint16_t)((attributes & ~BATCH_ATTR_COMPRESSION_MASK) | codec);
	be_put16(copy + BATCH_OFF_ATTRIBUTES, attributes);
	be_put32(copy + BATCH_OFF_CRC, crc32c(copy + BATCH_CRC_START, size - BATCH_CRC_START));
	validate_and_walk(copy, size);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch_info info;
	int rc = batch_peek(data, size, &info);
	RN_ASSERT(rc == 0 || rc == RN_E_AGAIN || rc == RN_E_CORRUPT_MESSAGE);
	if (rc == 0 || rc == RN_E_AGAIN)
		RN_ASSERT(info.total_bytes >= BATCH_HEADER_BYTES &&
			  info.total_bytes <= RN_MAX_BATCH_BYTES);

	validate_and_walk(data, size);
	with_fixed_crc(data, size);
	as_compressed(data, size);
	return 0;
}
