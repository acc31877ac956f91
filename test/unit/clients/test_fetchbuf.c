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

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
