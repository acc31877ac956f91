/* test_replica.c: high watermark, acknowledgement, flush policy and fetch range rules. */
#include "broker/replica.h"
#include "common/errors.h"
#include "test/unit/harness.h"

TEST(acks_values)
{
	CHECK(replica_acks_valid(0));
	CHECK(replica_acks_valid(1));
	CHECK(replica_acks_valid(-1));
	CHECK(!replica_acks_valid(2));
	CHECK(!replica_acks_valid(-2));
}

TEST(single_replica_high_watermark_is_log_end)
{
	CHECK_EQ_INT(replica_high_watermark(10, NULL, 0, 7), 10);
	CHECK_EQ_INT(replica_high_watermark(0, NULL, 0, 0), 0);
}

TEST(high_watermark_is_slowest_in_sync_replica_and_never_falls)
{
	int64_t followers[] = {8, 12};
	CHECK_EQ_INT(replica_high_watermark(15, followers, 2, 5), 8);
	/* A follower that fell behind (after truncation) does not pull it back. */
	int64_t behind[] = {3};
	CHECK_EQ_INT(replica_high_watermark(15, behind, 1, 8), 8);
}

TEST(acks_leader_without_sync_is_ready_at_once)
{
	struct replica_ack_wait w = {.acks = 1, .last_offset = 9, .needs_sync = false};
	CHECK(replica_ack_ready(&w, 0, 0));
}

TEST(acks_all_waits_for_high_watermark)
{
	struct replica_ack_wait w = {.acks = -1, .last_offset = 9, .needs_sync = false};
	CHECK(!replica_ack_ready(&w, 9, 100));
	CHECK(replica_ack_ready(&w, 10, 0));
}

TEST(sync_policy_waits_for_synced_end)
{
	struct replica_ack_wait w = {.acks = 1, .last_offset = 9, .needs_sync = true};
	CHECK(!replica_ack_ready(&w, 100, 9));
	CHECK(replica_ack_ready(&w, 100, 10));
	struct replica_ack_wait all = {.acks = -1, .last_offset = 9, .needs_sync = true};
	CHECK(!replica_ack_ready(&all, 9, 10));
	CHECK(!replica_ack_ready(&all, 10, 9));
	CHECK(replica_ack_ready(&all, 10, 10));
}

TEST(flush_policy)
{
	/* never / never: no fsync on the produce path */
	CHECK(!replica_flush_due(INT64_MAX, INT64_MAX, 1000000, 0, 1000000));
	/* flush.messages=1: every append */
	CHECK(replica_flush_due(1, INT64_MAX, 1, 0, 0));
	CHECK(!replica_flush_due(1, INT64_MAX, 0, 0, 0));
	/* flush.messages=100 */
	CHECK(!replica_flush_due(100, INT64_MAX, 99, 0, 0));
	CHECK(replica_flush_due(100, INT64_MAX, 100, 0, 0));
	/* flush.ms=50 since the last sync */
	CHECK(!replica_flush_due(INT64_MAX, 50, 5, 1000, 1049));
	CHECK(replica_flush_due(INT64_MAX, 50, 5, 1000, 1050));
	CHECK(replica_flush_due(INT64_MAX, 0, 1, 1000, 1000));
}

TEST(fetch_offset_range)
{
	CHECK_OK(replica_fetch_offset_check(0, 0, 0));
	CHECK_OK(replica_fetch_offset_check(5, 0, 5)); /* at the high watermark: wait */
	CHECK_EQ_INT(replica_fetch_offset_check(6, 0, 5), RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(replica_fetch_offset_check(2, 3, 5), RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(replica_fetch_offset_check(-1, 0, 5), RN_E_OFFSET_OUT_OF_RANGE);
}

TEST(fetch_budget)
{
	CHECK_EQ_INT(replica_fetch_budget(1000, 4096, 1 << 20, 1 << 20, true), 1000);
	CHECK_EQ_INT(replica_fetch_budget(0, 4096, 1 << 20, 1 << 20, true), 4096);
	CHECK_EQ_INT(replica_fetch_budget(1 << 30, 4096, 1 << 20, 1ull << 40, true), 1 << 20);
	CHECK_EQ_INT(replica_fetch_budget(1000, 4096, 1 << 20, 300, false), 300);
	/* request budget spent: nothing more, unless nothing was sent yet */
	CHECK_EQ_INT(replica_fetch_budget(1000, 4096, 1 << 20, 0, false), 0);
	CHECK_EQ_INT(replica_fetch_budget(1000, 4096, 1 << 20, 0, true), 1);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
