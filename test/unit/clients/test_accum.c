/* test_accum.c: producer batch building: records fit, batch.size respected, order, memory, linger. */
#include <stdlib.h>
#include <string.h>

#include "clients/accum.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "test/unit/harness.h"
#include "wire/batch.h"

#define LINGER_MS 5
#define DELIVERY_MS 1000

static struct accum_topic *setup(struct accum *a, uint32_t batch_size, size_t memory, int32_t parts)
{
	accum_init(a, batch_size, LINGER_MS, 1024 * 1024, memory, DELIVERY_MS, 42);
	return accum_topic_get(a, "t", parts);
}

/* Counts the closed batches of a partition and checks each one validates
 * and is no larger than limit. */
static int check_queue(struct accum_partition *ap, size_t limit, int32_t *records)
{
	int n = 0;
	*records = 0;
	for (struct accum_batch *b = ap->head; b; b = b->next) {
		struct batch_info info;
		if (!b->closed || b->len > limit)
			return -1;
		if (batch_validate(b->buf, b->len, RN_MAX_RECORDS_PER_BATCH, &info) != 0)
			return -1;
		if (info.record_count != b->count)
			return -1;
		*records += b->count;
		n++;
	}
	return n;
}

TEST(records_fit_and_decode)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 4096, 1 << 20, 1);
	struct runnel_header h[2] = {{"trace", 5, "abc", 3}, {"none", 4, NULL, -1}};
	CHECK(t);
	CHECK_OK(accum_append(&a, t, 0, 1000, "k1", 2, "v1", 2, h, 2, NULL, NULL, 0));
	CHECK_OK(accum_append(&a, t, 0, 1001, NULL, -1, "", 0, NULL, 0, NULL, NULL, 0));
	CHECK_OK(accum_append(&a, t, 0, 1002, "", 0, NULL, -1, NULL, 0, NULL, NULL, 0));
	CHECK_EQ_INT(a.records, 3);
	CHECK(t->parts[0].head == NULL); /* still open */
	accum_close_ready(&a, 0, 1);
	struct accum_batch *b = t->parts[0].head;
	CHECK(b && b->closed && b->count == 3);
	struct batch_info info;
	CHECK_OK(batch_validate(b->buf, b->len, RN_MAX_RECORDS_PER_BATCH, &info));
	struct batch_iter it;
	struct record_view r;
	CHECK_OK(batch_iter_init(&it, b->buf, b->len));
	CHECK_EQ_INT(batch_iter_next(&it, &r), 1);
	CHECK(r.key_len == 2 && memcmp(r.key, "k1", 2) == 0 && r.value_len == 2);
	CHECK_EQ_INT(r.timestamp, 1000);
	CHECK_EQ_INT(r.header_count, 2);
	CHECK_EQ_INT(batch_iter_next(&it, &r), 1);
	CHECK(r.key == NULL && r.key_len == -1 && r.value_len == 0 && r.value != NULL);
	CHECK_EQ_INT(batch_iter_next(&it, &r), 1);
	CHECK(r.key_len == 0 && r.value == NULL && r.value_len == -1);
	CHECK_EQ_INT(r.timestamp, 1002);
	CHECK_EQ_INT(batch_iter_next(&it, &r), 0);
	accum_destroy(&a);
}

TEST(batch_size_is_respected_and_order_kept)
{
	enum { BATCH = 1024, RECORDS = 200 };
	struct accum a;
	struct accum_topic *t = setup(&a, BATCH, 1 << 20, 1);
	char value[100];
	for (int i = 0; i < RECORDS; i++) {
		memset(value, 'a' + i % 26, sizeof(value));
		memcpy(value, &i, sizeof(i));
		CHECK_OK(accum_append(&a, t, 0, 5000 + i, NULL, -1, value, sizeof(value), NULL, 0, NULL,
				      NULL, 0));
	}
	accum_close_ready(&a, 0, 1);
	int32_t records = 0;
	int batches = check_queue(&t->parts[0], BATCH, &records);
	CHECK(batches > 1);
	CHECK_EQ_INT(records, RECORDS);
	/* Records come out in the order they went in, across batches. */
	int next = 0;
	for (struct accum_batch *b = t->parts[0].head; b; b = b->next) {
		struct batch_iter it;
		struct record_view r;
		CHECK_OK(batch_iter_init(&it, b->buf, b->len));
		while (batch_iter_next(&it, &r) == 1) {
			int got;
			memcpy(&got, r.value, sizeof(got));
			CHECK_EQ_INT(got, next);
			next++;
		}
		/* A closed batch that was not the last one was full: the next
		 * record would not have fitted. */
		if (b->next)
			CHECK(b->len + 100 > BATCH - 20);
	}
	CHECK_EQ_INT(next, RECORDS);
	accum_destroy(&a);
}

TEST(big_record_gets_own_batch_or_is_refused)
{
	struct accum a;
	accum_init(&a, 1024, LINGER_MS, 8192, 1 << 20, DELIVERY_MS, 1);
	struct accum_topic *t = accum_topic_get(&a, "t", 1);
	char *big = calloc(1, 9000);
	CHECK(t && big);
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, big, 4000, NULL, 0, NULL, NULL, 0));
	accum_close_ready(&a, 0, 1);
	CHECK(t->parts[0].head && t->parts[0].head->len > 4000);
	CHECK_EQ_INT(accum_append(&a, t, 0, 1, NULL, -1, big, 9000, NULL, 0, NULL, NULL, 0),
		     RN_E_MESSAGE_TOO_LARGE);
	CHECK_EQ_INT(a.records, 1);
	free(big);
	accum_destroy(&a);
}

TEST(bad_arguments_are_refused)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 1024, 1 << 20, 2);
	CHECK_EQ_INT(accum_append(&a, t, 2, 1, NULL, -1, "x", 1, NULL, 0, NULL, NULL, 0), RN_E_INVAL);
	CHECK_EQ_INT(accum_append(&a, t, 0, 1, NULL, -2, "x", 1, NULL, 0, NULL, NULL, 0), RN_E_INVAL);
	CHECK_EQ_INT(accum_append(&a, t, 0, 1, NULL, 3, "x", 1, NULL, 0, NULL, NULL, 0), RN_E_INVAL);
	CHECK_EQ_INT(a.records, 0);
	accum_destroy(&a);
}

TEST(buffer_memory_limit_then_freed)
{
	struct accum a;
	/* Room for two 1 KiB batches. */
	struct accum_topic *t = setup(&a, 1024, 2048, 3);
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, "a", 1, NULL, 0, NULL, NULL, 0));
	CHECK_OK(accum_append(&a, t, 1, 1, NULL, -1, "b", 1, NULL, 0, NULL, NULL, 0));
	CHECK_EQ_INT(accum_append(&a, t, 2, 1, NULL, -1, "c", 1, NULL, 0, NULL, NULL, 0), RN_E_FULL);
	/* Deliver partition 0's batch: its memory comes back. */
	accum_close_ready(&a, 0, 1);
	struct accum_batch *b = accum_sendable(&a, &t->parts[0], 0);
	CHECK(b);
	accum_batch_sent(&a, b, 1);
	accum_batch_free(accum_batch_complete(&a, b, 0, 10));
	CHECK_OK(accum_append(&a, t, 2, 1, NULL, -1, "c", 1, NULL, 0, NULL, NULL, 0));
	accum_destroy(&a);
}

TEST(linger_closes_batches)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 4096, 1 << 20, 1);
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, "a", 1, NULL, 0, NULL, NULL, 100));
	CHECK_EQ_INT(accum_next_due(&a, 100), 100 + LINGER_MS);
	accum_close_ready(&a, 100 + LINGER_MS - 1, 0);
	CHECK(t->parts[0].head == NULL);
	accum_close_ready(&a, 100 + LINGER_MS, 0);
	CHECK(t->parts[0].head != NULL);
	accum_destroy(&a);
}

TEST(lingered_batch_waits_for_the_one_in_flight)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 4096, 1 << 20, 1);
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, "a", 1, NULL, 0, NULL, NULL, 100));
	accum_close_ready(&a, 100 + LINGER_MS, 0);
	struct accum_batch *first = accum_sendable(&a, &t->parts[0], 100 + LINGER_MS);
	CHECK(first != NULL);
	accum_batch_sent(&a, first, 1);
	/* Records that arrive meanwhile keep filling one open batch past its
	 * linger, and no linger wake-up is due for it. */
	for (int i = 0; i < 5; i++)
		CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, "b", 1, NULL, 0, NULL, NULL, 106 + i));
	CHECK_EQ_INT(accum_next_due(&a, 200), INT64_MAX);
	accum_close_ready(&a, 200, 0);
	CHECK(first->next == NULL);
	CHECK(t->parts[0].open && t->parts[0].open->count == 5);
	/* When the first completes, the waiting one closes whole. */
	accum_batch_release(&a, accum_batch_complete(&a, first, 0, 0));
	CHECK_EQ_INT(accum_next_due(&a, 200), 106 + LINGER_MS);
	accum_close_ready(&a, 200, 0);
	struct accum_batch *second = accum_sendable(&a, &t->parts[0], 200);
	CHECK(second && second->count == 5);
	/* A flush closes an open batch even behind one in flight. */
	accum_batch_sent(&a, second, 1);
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, "c", 1, NULL, 0, NULL, NULL, 201));
	accum_close_ready(&a, 201, 1);
	CHECK(second->next != NULL && second->next->count == 1);
	accum_destroy(&a);
}

TEST(only_head_in_flight_and_retry_keeps_order)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 100, 1 << 20, 1);
	char v[60] = {0};
	for (int i = 0; i < 3; i++)
		CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0));
	accum_close_ready(&a, 0, 1);
	struct accum_batch *first = accum_sendable(&a, &t->parts[0], 0);
	CHECK(first && first->next);
	accum_batch_sent(&a, first, 1);
	CHECK(accum_sendable(&a, &t->parts[0], 0) == NULL);
	accum_batch_retry(&a, first, 50);
	CHECK(accum_sendable(&a, &t->parts[0], 49) == NULL);
	CHECK(accum_sendable(&a, &t->parts[0], 50) == first);
	CHECK_EQ_INT(first->attempts, 1);
	accum_destroy(&a);
}

TEST(keyless_records_spread_over_batches)
{
	enum { PARTS = 4 };
	struct accum a;
	struct accum_topic *t = setup(&a, 256, 1 << 24, PARTS);
	char v[50] = {0};
	for (int i = 0; i < 400; i++) {
		int32_t p = accum_choose_partition(t, NULL, -1);
		CHECK_OK(accum_append(&a, t, p, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0));
	}
	accum_close_ready(&a, 0, 1);
	for (int p = 0; p < PARTS; p++) {
		int32_t records = 0;
		int batches = check_queue(&t->parts[p], 256, &records);
		CHECK(batches > 0);
		/* Sticky: whole batches, not single records, per partition. */
		CHECK(records >= 2 * batches - 1);
	}
	/* Keyed records ignore stickiness. */
	CHECK_EQ_INT(accum_choose_partition(t, "key-1", 5), 193331640 % PARTS);
	accum_destroy(&a);
}

/* Closes partition part's open batch and completes it as delivered; the
 * completed batch is handed back to the accumulator for reuse. */
static void deliver_one(struct accum *a, struct accum_topic *t, int32_t part)
{
	accum_close_ready(a, 0, 1);
	struct accum_batch *b = accum_sendable(a, &t->parts[part], 0);
	RN_ASSERT(b != NULL);
	accum_batch_sent(a, b, 1);
	accum_batch_release(a, accum_batch_complete(a, b, 0, 0));
}

TEST(batch_buffers_are_reused)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 1024, 1 << 20, 1);
	char v[100] = {0};
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0));
	const uint8_t *first_buf = t->parts[0].open->buf;
	const struct accum_batch *first_batch = t->parts[0].open;
	deliver_one(&a, t, 0);
	CHECK_EQ_INT(a.memory_used, 0);
	CHECK_EQ_INT(a.pool_bytes, 1024);
	CHECK_EQ_INT(a.free_batch_count, 1);
	/* The next batch takes the same buffer and struct back. */
	CHECK_OK(accum_append(&a, t, 0, 2, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0));
	CHECK(t->parts[0].open->buf == first_buf);
	CHECK(t->parts[0].open == first_batch);
	CHECK_EQ_INT(a.pool_bytes, 0);
	CHECK_EQ_INT(a.memory_used, 1024);
	/* A reused batch starts clean: the new record is its only one. */
	accum_close_ready(&a, 0, 1);
	struct accum_batch *b = t->parts[0].head;
	struct batch_info info;
	CHECK(b && b->count == 1 && b->attempts == 0 && b->err == 0);
	CHECK_OK(batch_validate(b->buf, b->len, RN_MAX_RECORDS_PER_BATCH, &info));
	CHECK_EQ_INT(info.record_count, 1);
	CHECK_EQ_INT(info.first_timestamp, 2);
	accum_destroy(&a);
}

TEST(pooled_buffers_stay_within_buffer_memory)
{
	enum { BATCH = 1024, MEMORY = 3 * 1024, PARTS = 3 };
	struct accum a;
	struct accum_topic *t = setup(&a, BATCH, MEMORY, PARTS);
	/* Records that fill more than half a batch: closed batches keep their
	 * full-size buffers, which go back to the pool when delivered. */
	char v[600] = {0};
	for (int round = 0; round < 5; round++) {
		for (int32_t p = 0; p < PARTS; p++) {
			int rc = accum_append(&a, t, p, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0);
			CHECK_OK(rc);
		}
		CHECK_EQ_INT(accum_append(&a, t, 0, 1, NULL, -1, v, 1000, NULL, 0, NULL, NULL, 0),
			     RN_E_FULL);
		for (int32_t p = 0; p < PARTS; p++) {
			deliver_one(&a, t, p);
			CHECK(a.memory_used + a.pool_bytes <= MEMORY);
		}
		CHECK_EQ_INT(a.pool_bytes, MEMORY);
	}
	/* A batch larger than batch_size is never pooled, and making room for
	 * it gives pooled buffers back first. */
	char *big = calloc(1, 2500);
	CHECK(big);
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, big, 2500, NULL, 0, NULL, NULL, 0));
	CHECK(a.memory_used > BATCH);
	CHECK(a.memory_used + a.pool_bytes <= MEMORY);
	deliver_one(&a, t, 0);
	CHECK_EQ_INT(a.memory_used, 0);
	CHECK(a.pool_bytes <= MEMORY && a.pool_bytes % BATCH == 0);
	free(big);
	accum_destroy(&a);
	CHECK(a.free_bufs == NULL && a.free_batches == NULL);
}

TEST(released_batches_are_bounded)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 256, 1 << 24, 1);
	struct accum_batch *done[ACCUM_MAX_FREE_BATCHES + 8];
	char v[200] = {0};
	size_t n = 0;
	/* Complete many batches first, release them all afterwards. */
	while (n < RN_ARRAY_LEN(done)) {
		CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0));
		accum_close_ready(&a, 0, 1);
		struct accum_batch *b = accum_sendable(&a, &t->parts[0], 0);
		CHECK(b);
		accum_batch_sent(&a, b, 1);
		done[n++] = accum_batch_complete(&a, b, 0, 0);
	}
	for (size_t i = 0; i < n; i++)
		accum_batch_release(&a, done[i]);
	CHECK_EQ_INT(a.free_batch_count, ACCUM_MAX_FREE_BATCHES);
	accum_destroy(&a);
}

/* Appends one small record to partition 0 and closes its batch, as linger
 * does while a leader is unreachable. */
static int append_and_close(struct accum *a, struct accum_topic *t, int64_t ts)
{
	char v[100];
	memset(v, (int)(ts & 0x7f), sizeof(v));
	int rc = accum_append(a, t, 0, ts, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0);
	if (rc == 0)
		accum_close_ready(a, 0, 1);
	return rc;
}

TEST(one_record_batches_are_charged_what_they_hold)
{
	enum { BATCH = 64 * 1024, MEMORY = 1024 * 1024, RECORDS = 2000 };
	struct accum a;
	struct accum_topic *t = setup(&a, BATCH, MEMORY, 1);
	/* Charged at batch_size each, 16 such batches would fill the buffer;
	 * charged by length, thousands fit. */
	for (int i = 0; i < RECORDS; i++) {
		int rc = append_and_close(&a, t, 1000 + i);
		if (rc != 0)
			fprintf(stderr, "  append %d of %d: %s\n", i, RECORDS, rn_strerror(rc));
		CHECK_OK(rc);
	}
	int32_t records = 0;
	CHECK_EQ_INT(check_queue(&t->parts[0], BATCH, &records), RECORDS);
	CHECK_EQ_INT(records, RECORDS);
	CHECK(a.memory_used <= (size_t)RECORDS * (BATCH_HEADER_BYTES + 120));
	/* The large buffers went back to the pool, within buffer_memory. */
	CHECK(a.memory_used + a.pool_bytes <= MEMORY);
	/* Delivering them gives every byte back. */
	struct accum_batch *b;
	while ((b = accum_sendable(&a, &t->parts[0], 0)) != NULL) {
		accum_batch_sent(&a, b, 1);
		accum_batch_release(&a, accum_batch_complete(&a, b, 0, 0));
	}
	CHECK_EQ_INT(a.memory_used, 0);
	CHECK_EQ_INT(a.records, 0);
	CHECK(a.pool_bytes <= MEMORY);
	accum_destroy(&a);
}

TEST(full_batches_keep_their_buffer)
{
	enum { BATCH = 1024 };
	struct accum a;
	struct accum_topic *t = setup(&a, BATCH, 1 << 20, 1);
	char v[300] = {0};
	for (int i = 0; i < 3; i++)
		CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0));
	const uint8_t *buf = t->parts[0].open->buf;
	accum_close_ready(&a, 0, 1);
	struct accum_batch *b = t->parts[0].head;
	CHECK(b && b->buf == buf && b->cap == BATCH && b->len > BATCH / 2);
	CHECK_EQ_INT(a.memory_used, BATCH);
	accum_destroy(&a);
}

/* Appends n records to partition 0: text that compresses, or random bytes
 * that do not. */
static int append_records(struct accum *a, struct accum_topic *t, int n, int random_bytes)
{
	char v[200];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < n; i++) {
		int len = snprintf(v, sizeof(v), "{\"user\":%d,\"event\":\"page_view\"}", i % 50);
		for (int k = 0; random_bytes && k < (int)sizeof(v); k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v[k] = (char)x;
		}
		if (random_bytes)
			len = (int)sizeof(v);
		int rc = accum_append(a, t, 0, 1000 + i, NULL, -1, v, len, NULL, 0, NULL, NULL, 0);
		if (rc != 0)
			return rc;
	}
	accum_close_ready(a, 0, 1);
	return 0;
}

TEST(closed_batches_are_compressed_and_charged_compressed)
{
	static const int codecs[] = {BATCH_COMPRESSION_LZ4, BATCH_COMPRESSION_ZSTD};
	for (size_t c = 0; c < RN_ARRAY_LEN(codecs); c++) {
		enum { BATCH = 16384 };
		struct accum a;
		struct accum_topic *t = setup(&a, BATCH, 1 << 22, 1);
		accum_set_compression(&a, codecs[c], BATCH_CODEC_LEVEL_DEFAULT);
		CHECK_OK(append_records(&a, t, 2000, 0));
		int32_t records = 0;
		int batches = check_queue(&t->parts[0], BATCH, &records);
		CHECK(batches > 1);
		CHECK_EQ_INT(records, 2000);
		size_t held = 0;
		int64_t next = 1000;
		for (struct accum_batch *b = t->parts[0].head; b; b = b->next) {
			struct batch_info info;
			CHECK_OK(batch_validate(b->buf, b->len, RN_MAX_RECORDS_PER_BATCH, &info));
			CHECK_EQ_INT(batch_codec_of(&info), codecs[c]);
			/* Much smaller than a batch, and moved to a buffer of
			 * its own size. */
			CHECK(b->len < BATCH / 3 && b->cap == b->len);
			held += b->cap;
			struct batch_iter it;
			struct record_view r;
			CHECK_OK(batch_iter_init(&it, b->buf, b->len));
			while (batch_iter_next(&it, &r) == 1)
				CHECK_EQ_INT(r.timestamp, next++);
		}
		CHECK_EQ_INT(next, 3000);
		CHECK_EQ_INT(a.memory_used, held);
		CHECK(a.zbuf != NULL && a.zbuf_cap <= batch_compress_bound(codecs[c], BATCH));
		accum_destroy(&a);
	}
}

TEST(batches_that_do_not_shrink_go_uncompressed)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 4096, 1 << 22, 1);
	accum_set_compression(&a, BATCH_COMPRESSION_LZ4, BATCH_CODEC_LEVEL_DEFAULT);
	CHECK_OK(append_records(&a, t, 100, 1));
	int32_t records = 0;
	CHECK(check_queue(&t->parts[0], 4096, &records) > 1);
	CHECK_EQ_INT(records, 100);
	for (struct accum_batch *b = t->parts[0].head; b; b = b->next) {
		struct batch_info info;
		CHECK_OK(batch_validate(b->buf, b->len, RN_MAX_RECORDS_PER_BATCH, &info));
		CHECK_EQ_INT(batch_codec_of(&info), BATCH_COMPRESSION_NONE);
	}
	/* A lone record larger than batch_size: the compression buffer made
	 * for it is not kept. */
	char *big = malloc(100000);
	CHECK(big != NULL);
	memset(big, 'x', 100000);
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, big, 100000, NULL, 0, NULL, NULL, 0));
	accum_close_ready(&a, 0, 1);
	CHECK(t->parts[0].tail->len < 2000);
	CHECK(a.zbuf == NULL || a.zbuf_cap <= batch_compress_bound(BATCH_COMPRESSION_LZ4, 4096));
	/* Nor for one that does not compress. */
	uint64_t x = 88172645463325252ull;
	for (size_t k = 0; k + 8 <= 100000; k += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(big + k, &x, 8);
	}
	CHECK_OK(accum_append(&a, t, 0, 2, NULL, -1, big, 100000, NULL, 0, NULL, NULL, 0));
	accum_close_ready(&a, 0, 1);
	free(big);
	CHECK(t->parts[0].tail->len > 100000);
	CHECK(a.zbuf == NULL || a.zbuf_cap <= batch_compress_bound(BATCH_COMPRESSION_LZ4, 4096));
	accum_destroy(&a);
}

/* ------------------------------------------------------------ idempotence */

/* An idempotent accumulator with producer id pid (-1: none yet) and a
 * partition limit of max_inflight. */
static struct accum_topic *setup_idem(struct accum *a, int64_t pid, int max_inflight)
{
	struct accum_topic *t = setup(a, 300, 1 << 20, 2);
	accum_set_idempotence(a, 1);
	accum_set_max_inflight(a, max_inflight);
	if (pid >= 0)
		accum_set_producer(a, pid, 0);
	return t;
}

/* Appends n records of 60 bytes to partition part (about three fit in a
 * 300-byte batch) and closes what is open. */
static int append_n(struct accum *a, struct accum_topic *t, int32_t part, int n)
{
	char v[60] = {0};
	for (int i = 0; i < n; i++) {
		int rc = accum_append(a, t, part, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0);
		if (rc != 0)
			return rc;
	}
	accum_close_ready(a, 0, 1);
	return 0;
}

/* Checks that every queued batch of ap validates (CRC included) and carries
 * pid, epoch 0 and consecutive sequences from first_seq.  Returns the
 * number of batches, or -1. */
static int check_stamps(struct accum_partition *ap, int64_t pid, int32_t first_seq)
{
	int n = 0;
	int32_t seq = first_seq;
	for (struct accum_batch *b = ap->head; b; b = b->next, n++) {
		struct batch_info info;
		if (batch_validate(b->buf, b->len, RN_MAX_RECORDS_PER_BATCH, &info) != 0)
			return -1;
		if (info.producer_id != pid || info.producer_epoch != 0 || info.base_sequence != seq ||
		    b->base_sequence != seq || b->producer_id != pid)
			return -1;
		seq = accum_seq_add(seq, b->count);
	}
	return seq == ap->next_sequence ? n : -1;
}

TEST(sequences_are_assigned_when_batches_close)
{
	struct accum a;
	struct accum_topic *t = setup_idem(&a, 7, 5);
	CHECK_OK(append_n(&a, t, 0, 10));
	CHECK_OK(append_n(&a, t, 1, 2));
	CHECK(check_stamps(&t->parts[0], 7, 0) >= 3);
	CHECK_EQ_INT(t->parts[0].next_sequence, 10);
	CHECK_EQ_INT(check_stamps(&t->parts[1], 7, 0), 1);
	CHECK_EQ_INT(t->parts[1].next_sequence, 2);
	/* Without idempotence batches carry no producer fields. */
	struct accum plain;
	struct accum_topic *pt = setup(&plain, 300, 1 << 20, 1);
	CHECK_OK(append_n(&plain, pt, 0, 2));
	struct batch_info info;
	CHECK_OK(batch_validate(pt->parts[0].head->buf, pt->parts[0].head->len, 100, &info));
	CHECK(info.producer_id == -1 && info.base_sequence == -1);
	accum_destroy(&plain);
	accum_destroy(&a);
}

TEST(sequences_wrap_after_int32_max)
{
	CHECK_EQ_INT(accum_seq_add(0, 5), 5);
	CHECK_EQ_INT(accum_seq_add(INT32_MAX, 1), 0);
	CHECK_EQ_INT(accum_seq_add(INT32_MAX - 1, 3), 1);
	CHECK_EQ_INT(accum_seq_add(INT32_MAX, 0), INT32_MAX);
	struct accum a;
	struct accum_topic *t = setup_idem(&a, 3, 5);
	t->parts[0].next_sequence = INT32_MAX - 1;
	CHECK_OK(append_n(&a, t, 0, 3));
	struct accum_batch *b = t->parts[0].head;
	CHECK(b && b->count == 3 && b->base_sequence == INT32_MAX - 1);
	CHECK_EQ_INT(t->parts[0].next_sequence, 1);
	accum_destroy(&a);
}

TEST(batches_wait_for_the_producer_id_and_are_stamped_with_it)
{
	struct accum a;
	struct accum_topic *t = setup_idem(&a, -1, 5);
	CHECK_OK(append_n(&a, t, 0, 7));
	CHECK(t->parts[0].head && t->parts[0].head->base_sequence == -1);
	CHECK(accum_sendable(&a, &t->parts[0], 0) == NULL);
	accum_set_producer(&a, 42, 0);
	CHECK(check_stamps(&t->parts[0], 42, 0) >= 2);
	CHECK(accum_sendable(&a, &t->parts[0], 0) == t->parts[0].head);
	/* Batches closed from now on continue the sequence. */
	CHECK_OK(append_n(&a, t, 0, 2));
	CHECK(check_stamps(&t->parts[0], 42, 0) >= 3);
	CHECK_EQ_INT(t->parts[0].next_sequence, 9);
	accum_destroy(&a);
}

TEST(several_batches_of_a_partition_in_flight)
{
	struct accum a;
	struct accum_topic *t = setup_idem(&a, 1, 3);
	struct accum_partition *ap = &t->parts[0];
	CHECK_OK(append_n(&a, t, 0, 15)); /* five batches of three */
	struct accum_batch *bs[8];
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 0, bs, 8), 3);
	CHECK(bs[0] == ap->head && bs[1] == ap->head->next && bs[2] == ap->head->next->next);
	for (int i = 0; i < 3; i++)
		accum_batch_sent(&a, bs[i], 1);
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 0, bs, 8), 0);
	CHECK_EQ_INT(a.inflight, 3);
	struct accum_batch *fourth = ap->head->next->next->next;
	accum_batch_release(&a, accum_batch_complete(&a, ap->head, 0, 0));
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 0, bs, 8), 1);
	CHECK(bs[0] == fourth);
	/* Without idempotence a partition keeps one batch in flight. */
	struct accum plain;
	struct accum_topic *pt = setup(&plain, 300, 1 << 20, 1);
	CHECK_OK(append_n(&plain, pt, 0, 9));
	CHECK_EQ_INT(accum_sendable_list(&plain, &pt->parts[0], 0, bs, 8), 1);
	accum_destroy(&plain);
	accum_destroy(&a);
}

TEST(a_failed_batch_drains_the_partition_then_resends_in_order)
{
	struct accum a;
	struct accum_topic *t = setup_idem(&a, 1, 5);
	struct accum_partition *ap = &t->parts[0];
	CHECK_OK(append_n(&a, t, 0, 12)); /* four batches */
	struct accum_batch *bs[8];
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 0, bs, 8), 4);
	struct accum_batch *b1 = bs[0], *b2 = bs[1], *b3 = bs[2], *b4 = bs[3];
	int32_t seq2 = b2->base_sequence;
	for (int i = 0; i < 4; i++)
		accum_batch_sent(&a, bs[i], 1);
	/* b2 fails: nothing goes until b3 and b4 are back. */
	accum_batch_retry(&a, b2, 10);
	CHECK(ap->draining);
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 100, bs, 8), 0);
	accum_batch_release(&a, accum_batch_complete(&a, b1, 0, 0));
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 100, bs, 8), 0);
	/* b3 and b4 arrived after the gap (OUT_OF_ORDER_SEQUENCE_NUMBER):
	 * an older batch is still unacknowledged, so they are retried. */
	CHECK(accum_batch_has_earlier(&a, b3) && !accum_batch_has_earlier(&a, b2));
	accum_batch_retry(&a, b3, 10);
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 100, bs, 8), 0);
	accum_batch_retry(&a, b4, 10);
	CHECK(!ap->draining && ap->inflight == 0 && a.inflight == 0);
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 9, bs, 8), 0); /* backoff */
	CHECK_EQ_INT(accum_next_due(&a, 0), 10);
	CHECK_EQ_INT(accum_sendable_list(&a, ap, 10, bs, 8), 3);
	CHECK(bs[0] == b2 && bs[1] == b3 && bs[2] == b4);
	/* A retry sends the same sequences. */
	CHECK_EQ_INT(b2->base_sequence, seq2);
	CHECK_EQ_INT(check_stamps(ap, 1, seq2 - 0), 3);
	accum_destroy(&a);
}

TEST(a_new_producer_id_restamps_unacknowledged_batches)
{
	for (int codec = 0; codec < 2; codec++) {
		struct accum a;
		struct accum_topic *t = setup_idem(&a, 5, 5);
		if (codec)
			accum_set_compression(&a, BATCH_COMPRESSION_LZ4, BATCH_CODEC_LEVEL_DEFAULT);
		struct accum_partition *ap = &t->parts[0];
		CHECK_OK(append_n(&a, t, 0, 9));
		CHECK_OK(append_n(&a, t, 1, 3));
		struct accum_batch *bs[8];
		CHECK_EQ_INT(accum_sendable_list(&a, ap, 0, bs, 8), 3);
		accum_batch_sent(&a, bs[0], 1);
		accum_batch_sent(&a, bs[1], 1);
		accum_batch_release(&a, accum_batch_complete(&a, bs[0], 0, 0));
		/* bs[1] comes back with a fatal sequence error: the id is
		 * dropped and nothing is sendable until a new one arrives. */
		accum_batch_retry(&a, bs[1], 0);
		accum_set_producer(&a, -1, -1);
		CHECK(accum_sendable(&a, ap, 100) == NULL);
		CHECK(accum_sendable(&a, &t->parts[1], 100) == NULL);
		/* Records appended meanwhile close unstamped. */
		CHECK_OK(append_n(&a, t, 0, 3));
		accum_set_producer(&a, 6, 0);
		CHECK_EQ_INT(check_stamps(ap, 6, 0), 3);
		CHECK_EQ_INT(ap->next_sequence, 9);
		CHECK_EQ_INT(check_stamps(&t->parts[1], 6, 0), 1);
		CHECK(accum_sendable(&a, ap, 100) == bs[1]);
		accum_destroy(&a);
	}
}

TEST(lingered_batches_pipeline_up_to_the_limit)
{
	struct accum a;
	struct accum_topic *t = setup_idem(&a, 1, 2);
	struct accum_partition *ap = &t->parts[0];
	char v[10] = {0};
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 0));
	accum_close_ready(&a, LINGER_MS, 0);
	accum_batch_sent(&a, accum_sendable(&a, ap, LINGER_MS), 1);
	/* One in flight, room for another: the next lingered batch closes. */
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 10));
	CHECK_EQ_INT(accum_next_due(&a, 0), 10 + LINGER_MS);
	accum_close_ready(&a, 10 + LINGER_MS, 0);
	CHECK(ap->open == NULL);
	accum_batch_sent(&a, accum_sendable(&a, ap, 10 + LINGER_MS), 1);
	/* At the limit the open batch keeps filling. */
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, v, sizeof(v), NULL, 0, NULL, NULL, 20));
	accum_close_ready(&a, 100, 0);
	CHECK(ap->open != NULL);
	CHECK_EQ_INT(accum_next_due(&a, 0), INT64_MAX);
	accum_destroy(&a);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
