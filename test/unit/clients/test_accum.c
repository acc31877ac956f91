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
	struct accum_batch *b = accum_sendable(&t->parts[0], 0);
	CHECK(b);
	t->parts[0].inflight = 1;
	accum_batch_free(accum_batch_complete(&a, b, 0, 10));
	CHECK_OK(accum_append(&a, t, 2, 1, NULL, -1, "c", 1, NULL, 0, NULL, NULL, 0));
	accum_destroy(&a);
}

TEST(linger_closes_batches)
{
	struct accum a;
	struct accum_topic *t = setup(&a, 4096, 1 << 20, 1);
	CHECK_OK(accum_append(&a, t, 0, 1, NULL, -1, "a", 1, NULL, 0, NULL, NULL, 100));
	CHECK_EQ_INT(accum_next_due(&a), 100 + LINGER_MS);
	accum_close_ready(&a, 100 + LINGER_MS - 1, 0);
	CHECK(t->parts[0].head == NULL);
	accum_close_ready(&a, 100 + LINGER_MS, 0);
	CHECK(t->parts[0].head != NULL);
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
	struct accum_batch *first = accum_sendable(&t->parts[0], 0);
	CHECK(first && first->next);
	t->parts[0].inflight = 1;
	CHECK(accum_sendable(&t->parts[0], 0) == NULL);
	accum_batch_retry(&a, first, 50);
	CHECK(accum_sendable(&t->parts[0], 49) == NULL);
	CHECK(accum_sendable(&t->parts[0], 50) == first);
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
	struct accum_batch *b = accum_sendable(&t->parts[part], 0);
	RN_ASSERT(b != NULL);
	t->parts[part].inflight = 1;
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
	char v[100] = {0};
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
		struct accum_batch *b = accum_sendable(&t->parts[0], 0);
		CHECK(b);
		t->parts[0].inflight = 1;
		done[n++] = accum_batch_complete(&a, b, 0, 0);
	}
	for (size_t i = 0; i < n; i++)
		accum_batch_release(&a, done[i]);
	CHECK_EQ_INT(a.free_batch_count, ACCUM_MAX_FREE_BATCHES);
	accum_destroy(&a);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
