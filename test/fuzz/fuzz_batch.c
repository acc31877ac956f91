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
 * checks that the reader agrees with the validator. */
static void walk_valid(const uint8_t *buf, size_t len, const struct batch_info *info)
{
	struct batch_iter it;
	struct record_view r;
	RN_ASSERT(batch_iter_init(&it, buf, len) == 0);
	int32_t n = 0;
	int rc;
	while ((rc = batch_iter_next(&it, &r)) == 1) {
		RN_ASSERT(r.offset == info->base_offset + n);
		assert_inside(r.key, r.key_len, buf, buf + len);
		assert_inside(r.value, r.value_len, buf, buf + len);
		RN_ASSERT(r.header_count <= RN_MAX_HEADERS_PER_RECORD);
		const uint8_t *hp = r.headers;
		size_t hl = r.headers_len;
		struct record_header_view h;
		uint32_t headers = 0;
		while ((rc = batch_header_next(&hp, &hl, &h)) == 1) {
			assert_inside(h.key, h.key_len, buf, buf + len);
			assert_inside(h.value, h.value_len, buf, buf + len);
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

static void validate_and_walk(const uint8_t *data, size_t size)
{
	struct batch_info info;
	int rc = batch_validate(data, size, RN_MAX_RECORDS_PER_BATCH, &info);
	RN_ASSERT(rc == 0 || rc == RN_E_CORRUPT_MESSAGE || rc == RN_E_INVALID_RECORD ||
		  rc == RN_E_UNSUPPORTED_VERSION || rc == RN_E_RECORD_LIST_TOO_LARGE);
	if (rc != 0)
		return;
	RN_ASSERT(info.total_bytes == size);
	walk_valid(data, size, &info);
	stamp_stays_valid(data, size);
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
	return 0;
}
