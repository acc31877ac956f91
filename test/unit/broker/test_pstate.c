/* test_pstate.c: idempotent-producer state: duplicates answered, gaps and reorders refused, epochs fenced. */
#include "broker/pstate.h"
#include "common/errors.h"
#include "test/unit/harness.h"

#include <stdlib.h>
#include <string.h>

/* A batch of `records` records from producer pid at first_seq, written at offset. */
static struct pstate_append batch(int64_t pid, int16_t epoch, int32_t first_seq, int32_t records,
				  int64_t offset)
{
	return (struct pstate_append){pid, epoch, first_seq, pstate_last_seq(first_seq, records - 1),
				      offset, offset + records - 1};
}

/* Checks and, when accepted, records: what a leader does. */
static int leader_append(struct pstate *s, struct pstate_append a, struct pstate_batch *dup)
{
	int rc = pstate_check(s, &a, dup);
	if (rc == 0)
		rc = pstate_update(s, &a) == 0 ? 0 : RN_E_NOMEM;
	return rc;
}

TEST(sequences_wrap)
{
	CHECK_EQ_INT(pstate_next_seq(0), 1);
	CHECK_EQ_INT(pstate_next_seq(INT32_MAX), 0);
	CHECK_EQ_INT(pstate_last_seq(10, 4), 14);
	CHECK_EQ_INT(pstate_last_seq(INT32_MAX - 1, 3), 1);
}

TEST(in_order_batches_are_accepted)
{
	struct pstate s;
	pstate_init(&s);
	struct pstate_batch dup;
	CHECK_EQ_INT(leader_append(&s, batch(7, 0, 0, 10, 100), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(7, 0, 10, 5, 110), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(7, 0, 15, 1, 115), &dup), 0);
	const struct pstate_producer *p = pstate_find(&s, 7);
	CHECK(p != NULL);
	CHECK_EQ_INT(p->count, 3);
	CHECK_EQ_INT(p->batches[p->newest].last_seq, 15);
	pstate_free(&s);
}

TEST(a_retry_of_any_cached_batch_is_a_duplicate_with_its_offsets)
{
	struct pstate s;
	pstate_init(&s);
	struct pstate_batch dup;
	for (int i = 0; i < 8; i++)
		CHECK_EQ_INT(leader_append(&s, batch(1, 3, i * 10, 10, 1000 + i * 10), &dup), 0);
	/* The last five are remembered, each with the offsets it got. */
	for (int i = 3; i < 8; i++) {
		memset(&dup, 0, sizeof(dup));
		CHECK_EQ_INT(leader_append(&s, batch(1, 3, i * 10, 10, 9999), &dup),
			     RN_E_DUPLICATE_SEQUENCE_NUMBER);
		CHECK_EQ_INT(dup.first_offset, 1000 + i * 10);
		CHECK_EQ_INT(dup.last_offset, 1000 + i * 10 + 9);
	}
	/* Older than the cache: not the next sequence either. */
	CHECK_EQ_INT(leader_append(&s, batch(1, 3, 20, 10, 9999), &dup),
		     RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	/* Nothing was recorded by the refused attempts. */
	CHECK_EQ_INT(leader_append(&s, batch(1, 3, 80, 10, 1080), &dup), 0);
	pstate_free(&s);
}

TEST(gaps_and_reorders_are_refused)
{
	struct pstate s;
	pstate_init(&s);
	struct pstate_batch dup;
	CHECK_EQ_INT(leader_append(&s, batch(5, 0, 0, 10, 0), &dup), 0);
	/* A gap: batch 20.. arrives before 10.. (the second was lost in flight). */
	CHECK_EQ_INT(leader_append(&s, batch(5, 0, 20, 10, 10), &dup),
		     RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	/* A batch overlapping the last one without matching it. */
	CHECK_EQ_INT(leader_append(&s, batch(5, 0, 5, 10, 10), &dup),
		     RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	/* Same first sequence, different length: not the same batch. */
	CHECK_EQ_INT(leader_append(&s, batch(5, 0, 0, 4, 10), &dup),
		     RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	/* The producer retries in order and goes on. */
	CHECK_EQ_INT(leader_append(&s, batch(5, 0, 10, 10, 10), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(5, 0, 20, 10, 20), &dup), 0);
	pstate_free(&s);
}

TEST(epochs_fence_and_restart_sequences)
{
	struct pstate s;
	pstate_init(&s);
	struct pstate_batch dup;
	CHECK_EQ_INT(leader_append(&s, batch(9, 1, 0, 10, 0), &dup), 0);
	/* A new epoch must start at 0. */
	CHECK_EQ_INT(leader_append(&s, batch(9, 2, 10, 10, 10), &dup),
		     RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK_EQ_INT(leader_append(&s, batch(9, 2, 0, 10, 10), &dup), 0);
	/* The old epoch is fenced, even with the next sequence. */
	CHECK_EQ_INT(leader_append(&s, batch(9, 1, 10, 10, 20), &dup),
		     RN_E_INVALID_PRODUCER_EPOCH);
	/* A duplicate is judged within the epoch: epoch 2's batch 0 is cached,
	 * epoch 1's is gone. */
	CHECK_EQ_INT(leader_append(&s, batch(9, 2, 0, 10, 99), &dup), RN_E_DUPLICATE_SEQUENCE_NUMBER);
	CHECK_EQ_INT(dup.first_offset, 10);
	pstate_free(&s);
}

TEST(unknown_producers_are_accepted_at_any_sequence)
{
	struct pstate s;
	pstate_init(&s);
	struct pstate_batch dup;
	CHECK_EQ_INT(leader_append(&s, batch(11, 0, 500, 10, 0), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(11, 0, 510, 10, 10), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(11, 0, 530, 10, 20), &dup),
		     RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	pstate_free(&s);
}

TEST(sequence_wraps_after_int32_max)
{
	struct pstate s;
	pstate_init(&s);
	struct pstate_batch dup;
	CHECK_EQ_INT(leader_append(&s, batch(3, 0, INT32_MAX - 4, 5, 0), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(3, 0, 0, 5, 5), &dup), 0);
	/* A batch spanning the wrap. */
	CHECK_EQ_INT(leader_append(&s, batch(3, 0, 5, 5, 10), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(4, 0, INT32_MAX - 1, 4, 15), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(4, 0, 2, 1, 19), &dup), 0);
	pstate_free(&s);
}

TEST(follower_updates_without_checks_give_the_same_decisions)
{
	struct pstate leader, follower;
	pstate_init(&leader);
	pstate_init(&follower);
	struct pstate_batch dup;
	int64_t offset = 0;
	for (int64_t pid = 0; pid < 50; pid++)
		for (int i = 0; i < 7; i++) {
			struct pstate_append a = batch(pid, 0, i * 3, 3, offset);
			CHECK_EQ_INT(leader_append(&leader, a, &dup), 0);
			CHECK_OK(pstate_update(&follower, &a));
			/* A follower fetching the same batch again does not add it twice. */
			CHECK_OK(pstate_update(&follower, &a));
			offset += 3;
		}
	/* The follower, now leader, answers the same retries the same way. */
	for (int64_t pid = 0; pid < 50; pid++) {
		struct pstate_append retry = batch(pid, 0, 6 * 3, 3, -1);
		struct pstate_batch d1, d2;
		CHECK_EQ_INT(pstate_check(&leader, &retry, &d1), RN_E_DUPLICATE_SEQUENCE_NUMBER);
		CHECK_EQ_INT(pstate_check(&follower, &retry, &d2), RN_E_DUPLICATE_SEQUENCE_NUMBER);
		CHECK_EQ_INT(d1.first_offset, d2.first_offset);
		struct pstate_append next = batch(pid, 0, 7 * 3, 3, -1);
		CHECK_EQ_INT(pstate_check(&follower, &next, &d2), 0);
		struct pstate_append gap = batch(pid, 0, 8 * 3, 3, -1);
		CHECK_EQ_INT(pstate_check(&follower, &gap, &d2), RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	}
	pstate_free(&leader);
	pstate_free(&follower);
}

TEST(truncation_forgets_batches_past_the_new_end)
{
	struct pstate s;
	pstate_init(&s);
	struct pstate_batch dup;
	CHECK_EQ_INT(leader_append(&s, batch(1, 0, 0, 10, 0), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(2, 0, 0, 10, 10), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(1, 0, 10, 10, 20), &dup), 0);
	CHECK_EQ_INT(leader_append(&s, batch(2, 0, 10, 10, 30), &dup), 0);
	pstate_truncate(&s, 20);
	/* Producer 1's second batch is gone: its retry is appended again. */
	CHECK_EQ_INT(leader_append(&s, batch(1, 0, 10, 10, 20), &dup), 0);
	pstate_truncate(&s, 10);
	CHECK(pstate_find(&s, 2) == NULL);
	CHECK(pstate_find(&s, 1) != NULL);
	CHECK_EQ_INT(s.count, 1);
	pstate_truncate(&s, 0);
	CHECK_EQ_INT(s.count, 0);
	pstate_free(&s);
}

TEST(the_table_stays_within_its_limit_and_survives_removals)
{
	struct pstate s;
	pstate_init(&s);
	struct pstate_batch dup;
	/* Fill beyond the limit: the least recently used are forgotten. */
	for (int64_t pid = 0; pid < PSTATE_MAX_PRODUCERS + 100; pid++)
		CHECK_EQ_INT(leader_append(&s, batch(pid * 7919, 0, 0, 1, pid), &dup), 0);
	CHECK_EQ_INT(s.count, PSTATE_MAX_PRODUCERS);
	CHECK(pstate_find(&s, 0) == NULL);
	CHECK(pstate_find(&s, (int64_t)(PSTATE_MAX_PRODUCERS + 99) * 7919) != NULL);
	/* Remove every other producer by truncation, then every survivor is
	 * still found (removals keep probe runs intact). */
	pstate_truncate(&s, 100 + PSTATE_MAX_PRODUCERS / 2);
	for (int64_t pid = 100; pid < 100 + PSTATE_MAX_PRODUCERS / 2; pid++)
		CHECK(pstate_find(&s, pid * 7919) != NULL);
	CHECK_EQ_INT(s.count, PSTATE_MAX_PRODUCERS / 2);
	pstate_free(&s);
}

TEST(snapshots_round_trip_and_refuse_damage)
{
	struct pstate s, r;
	pstate_init(&s);
	pstate_init(&r);
	struct pstate_batch dup;
	int64_t offset = 0;
	for (int64_t pid = 1; pid <= 30; pid++)
		for (int i = 0; i < (int)(pid % 8); i++, offset += 2)
			CHECK_EQ_INT(leader_append(&s, batch(pid, (int16_t)(pid % 3), i * 2, 2, offset), &dup), 0);
	size_t len = pstate_snapshot_size(&s);
	uint8_t *buf = malloc(len);
	CHECK(buf != NULL);
	pstate_snapshot_write(&s, offset, buf);
	int64_t end = -1;
	CHECK_OK(pstate_snapshot_read(&r, buf, len, &end));
	CHECK_EQ_INT(end, offset);
	CHECK_EQ_INT(r.count, s.count);
	for (int64_t pid = 1; pid <= 30; pid++) {
		int n = (int)(pid % 8);
		struct pstate_append next = batch(pid, (int16_t)(pid % 3), n * 2, 2, -1);
		struct pstate_batch d1, d2;
		CHECK_EQ_INT(pstate_check(&r, &next, &d1), pstate_check(&s, &next, &d2));
		if (n > 0) {
			struct pstate_append retry = batch(pid, (int16_t)(pid % 3), (n - 1) * 2, 2, -1);
			CHECK_EQ_INT(pstate_check(&r, &retry, &d1), RN_E_DUPLICATE_SEQUENCE_NUMBER);
			CHECK_EQ_INT(pstate_check(&s, &retry, &d2), RN_E_DUPLICATE_SEQUENCE_NUMBER);
			CHECK_EQ_INT(d1.first_offset, d2.first_offset);
		}
	}
	/* Every single-byte change and every truncation is refused. */
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x40;
		CHECK_EQ_INT(pstate_snapshot_read(&r, buf, len, &end), RN_E_CORRUPT_STATE);
		CHECK_EQ_INT(r.count, 0);
		buf[i] ^= 0x40;
	}
	for (size_t cut = 0; cut < len; cut++)
		CHECK_EQ_INT(pstate_snapshot_read(&r, buf, cut, &end), RN_E_CORRUPT_STATE);
	free(buf);
	pstate_free(&s);
	pstate_free(&r);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
