/* test_replica.c: replica rules: high watermark, ISR changes, acks, flush policy, fetch range, divergence. */
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

/* ---- the leader's state ---- */

#define T0 100000
#define LAG 1000

/* Leader 1 of replicas {1,2,3}, ISR {1,2,3}, min.insync.replicas 2, leader
 * epoch 4 starting at offset 10, log end 10, high watermark 10. */
static void leader3(struct replica_leader *rl, int32_t min_isr)
{
	int32_t replicas[] = {1, 2, 3};
	struct replica_leader_params p = {
		.self_id = 1, .leader_epoch = 4, .epoch_start_offset = 10, .leo = 10, .hw = 10,
		.min_isr = min_isr, .partition_epoch = 7,
		.replicas = replicas, .replica_count = 3, .isr = replicas, .isr_count = 3,
	};
	if (replica_leader_reset(rl, &p, T0) != 0)
		abort();
}

static int fetch(struct replica_leader *rl, int32_t id, int64_t offset, int64_t now)
{
	bool moved;
	return replica_leader_on_follower_fetch(rl, id, offset, now, &moved);
}

TEST(reset_refuses_inconsistent_assignments)
{
	struct replica_leader rl;
	int32_t replicas[] = {1, 2, 3}, isr_bad[] = {1, 4}, isr_nolead[] = {2, 3}, dup[] = {1, 1};
	struct replica_leader_params p = {
		.self_id = 1, .leader_epoch = 1, .leo = 5, .hw = 3, .min_isr = 1,
		.replicas = replicas, .replica_count = 3, .isr = replicas, .isr_count = 3,
	};
	CHECK_OK(replica_leader_reset(&rl, &p, T0));
	CHECK_EQ_INT(replica_leader_hw(&rl), 3);
	p.isr = isr_bad;
	p.isr_count = 2;
	CHECK_EQ_INT(replica_leader_reset(&rl, &p, T0), RN_E_INVAL);
	p.isr = isr_nolead;
	CHECK_EQ_INT(replica_leader_reset(&rl, &p, T0), RN_E_INVAL);
	p.isr = dup;
	CHECK_EQ_INT(replica_leader_reset(&rl, &p, T0), RN_E_INVAL);
	p.isr = replicas;
	p.isr_count = 3;
	p.replica_count = REPLICA_MAX_REPLICAS + 1;
	CHECK_EQ_INT(replica_leader_reset(&rl, &p, T0), RN_E_INVAL);
	p.replica_count = 3;
	p.min_isr = 0;
	CHECK_EQ_INT(replica_leader_reset(&rl, &p, T0), RN_E_INVAL);
	p.min_isr = 1;
	p.epoch_start_offset = 6; /* past the log end */
	CHECK_EQ_INT(replica_leader_reset(&rl, &p, T0), RN_E_INVAL);
	/* A checkpointed high watermark past the log end is capped. */
	p.epoch_start_offset = 5;
	p.hw = 50;
	CHECK_OK(replica_leader_reset(&rl, &p, T0));
	CHECK_EQ_INT(replica_leader_hw(&rl), 5);
}

TEST(high_watermark_is_the_slowest_isr_member)
{
	struct replica_leader rl;
	leader3(&rl, 2);
	CHECK(!replica_leader_on_append(&rl, 20));
	CHECK_EQ_INT(replica_leader_hw(&rl), 10);
	bool moved = true;
	CHECK_OK(replica_leader_on_follower_fetch(&rl, 2, 20, T0 + 1, &moved));
	CHECK(!moved); /* follower 3 has not fetched: its log is unknown */
	CHECK_OK(replica_leader_on_follower_fetch(&rl, 3, 15, T0 + 2, &moved));
	CHECK(moved);
	CHECK_EQ_INT(replica_leader_hw(&rl), 15);
	CHECK_OK(fetch(&rl, 3, 20, T0 + 3));
	CHECK_EQ_INT(replica_leader_hw(&rl), 20);
	/* A follower that truncated reports a lower LEO; the HW stays. */
	CHECK_OK(fetch(&rl, 3, 12, T0 + 4));
	CHECK_EQ_INT(replica_leader_hw(&rl), 20);
}

TEST(follower_fetch_errors)
{
	struct replica_leader rl;
	leader3(&rl, 2);
	CHECK_EQ_INT(fetch(&rl, 9, 10, T0), RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK_EQ_INT(fetch(&rl, 1, 10, T0), RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK_EQ_INT(fetch(&rl, 2, 11, T0), RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(fetch(&rl, 2, -1, T0), RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(rl.followers[0].leo, REPLICA_LEO_UNKNOWN);
}

TEST(caught_up_rule_follows_kafka)
{
	struct replica_leader rl;
	leader3(&rl, 2);
	CHECK_OK(fetch(&rl, 2, 10, T0 + 100)); /* at the end: caught up now */
	CHECK_EQ_INT(rl.followers[0].last_caught_up_ms, T0 + 100);
	replica_leader_on_append(&rl, 30);
	/* Behind the current end but reaching the end of the previous fetch
	 * (10): caught up as of the previous fetch. */
	CHECK_OK(fetch(&rl, 2, 20, T0 + 200));
	CHECK_EQ_INT(rl.followers[0].last_caught_up_ms, T0 + 100);
	replica_leader_on_append(&rl, 40);
	CHECK_OK(fetch(&rl, 2, 30, T0 + 300)); /* reaches 30, the end at T0+200 */
	CHECK_EQ_INT(rl.followers[0].last_caught_up_ms, T0 + 200);
	CHECK_OK(fetch(&rl, 2, 35, T0 + 400)); /* short of 40: no progress */
	CHECK_EQ_INT(rl.followers[0].last_caught_up_ms, T0 + 200);
	CHECK_OK(fetch(&rl, 2, 40, T0 + 500));
	CHECK_EQ_INT(rl.followers[0].last_caught_up_ms, T0 + 500);
	/* It never moves backwards. */
	CHECK_OK(fetch(&rl, 2, 40, T0 + 450));
	CHECK_EQ_INT(rl.followers[0].last_caught_up_ms, T0 + 500);
}

TEST(lagging_follower_is_proposed_out_and_hw_waits_for_commit)
{
	struct replica_leader rl;
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t n = 0;
	leader3(&rl, 2);
	replica_leader_on_append(&rl, 50);
	CHECK_OK(fetch(&rl, 2, 50, T0 + 10));
	CHECK_OK(fetch(&rl, 3, 20, T0 + 10));
	CHECK_EQ_INT(replica_leader_hw(&rl), 20);
	/* Within the lag limit nothing changes (3 counts as caught up from the
	 * reset). */
	CHECK(!replica_leader_isr_proposal(&rl, T0 + LAG, LAG, isr, &n));
	CHECK(replica_leader_isr_proposal(&rl, T0 + LAG + 1, LAG, isr, &n));
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(isr[0], 1);
	CHECK_EQ_INT(isr[1], 2);
	/* Pending: no second proposal, and the removed member still holds the
	 * high watermark back until the controller commits the change. */
	CHECK(!replica_leader_isr_proposal(&rl, T0 + 5 * LAG, LAG, isr, &n));
	CHECK_OK(fetch(&rl, 2, 50, T0 + 2 * LAG));
	CHECK_EQ_INT(replica_leader_hw(&rl), 20);
	CHECK(replica_leader_in_isr(&rl, 3));
	bool moved = false;
	int32_t committed[] = {1, 2};
	CHECK_OK(replica_leader_isr_committed(&rl, committed, 2, 8, T0 + 2 * LAG, &moved));
	CHECK(moved);
	CHECK_EQ_INT(replica_leader_hw(&rl), 50);
	CHECK(!replica_leader_in_isr(&rl, 3));
	CHECK(!rl.pending);
}

TEST(idle_follower_at_the_end_stays_in_sync)
{
	struct replica_leader rl;
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t n;
	leader3(&rl, 2);
	CHECK_OK(fetch(&rl, 2, 10, T0));
	CHECK_OK(fetch(&rl, 3, 10, T0));
	/* No traffic for a long time: both are at the end, nobody leaves. */
	CHECK(!replica_leader_isr_proposal(&rl, T0 + 100 * LAG, LAG, isr, &n));
}

TEST(caught_up_follower_is_proposed_back_in)
{
	struct replica_leader rl;
	int32_t replicas[] = {1, 2, 3}, isr1[] = {1, 2};
	struct replica_leader_params p = {
		.self_id = 1, .leader_epoch = 4, .epoch_start_offset = 10, .leo = 30, .hw = 30,
		.min_isr = 2, .partition_epoch = 7,
		.replicas = replicas, .replica_count = 3, .isr = isr1, .isr_count = 2,
	};
	CHECK_OK(replica_leader_reset(&rl, &p, T0));
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t n;
	CHECK_OK(fetch(&rl, 2, 30, T0));
	CHECK_OK(fetch(&rl, 3, 25, T0)); /* below the HW: not yet */
	CHECK(!replica_leader_isr_proposal(&rl, T0, LAG, isr, &n));
	CHECK_OK(fetch(&rl, 3, 30, T0 + 1));
	CHECK(replica_leader_isr_proposal(&rl, T0 + 1, LAG, isr, &n));
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(isr[0], 1);
	CHECK_EQ_INT(isr[2], 3);
	/* While the expansion is pending, the newcomer already counts for the
	 * high watermark (the larger of the two sets). */
	replica_leader_on_append(&rl, 40);
	CHECK_OK(fetch(&rl, 2, 40, T0 + 2));
	CHECK_EQ_INT(replica_leader_hw(&rl), 30);
	CHECK_OK(fetch(&rl, 3, 40, T0 + 2));
	CHECK_EQ_INT(replica_leader_hw(&rl), 40);
	/* A refused proposal is forgotten; the next one may go out. */
	replica_leader_isr_abort(&rl);
	CHECK(replica_leader_isr_proposal(&rl, T0 + 3, LAG, isr, &n));
}

TEST(follower_below_the_epoch_start_does_not_join)
{
	struct replica_leader rl;
	int32_t replicas[] = {1, 2, 3}, isr12[] = {1, 2};
	struct replica_leader_params p = {
		.self_id = 1, .leader_epoch = 9, .epoch_start_offset = 40, .leo = 45, .hw = 20,
		.min_isr = 1, .partition_epoch = 3,
		.replicas = replicas, .replica_count = 3, .isr = isr12, .isr_count = 2,
	};
	CHECK_OK(replica_leader_reset(&rl, &p, T0));
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t n;
	CHECK_OK(fetch(&rl, 2, 30, T0));
	CHECK_EQ_INT(replica_leader_hw(&rl), 30);
	CHECK_OK(fetch(&rl, 3, 35, T0));
	/* At or past the HW (30) but below the epoch start (40): its log may
	 * still hold another leader's suffix there, so it stays out. */
	CHECK(!replica_leader_isr_proposal(&rl, T0, LAG, isr, &n));
	CHECK_OK(fetch(&rl, 3, 40, T0 + 1));
	CHECK(replica_leader_isr_proposal(&rl, T0 + 1, LAG, isr, &n));
	CHECK_EQ_INT(n, 3);
}

TEST(acks_all_needs_min_isr_before_and_after_append)
{
	struct replica_leader rl;
	leader3(&rl, 2);
	CHECK_OK(replica_leader_produce_check(&rl, REPLICA_ACKS_ALL));
	replica_leader_on_append(&rl, 15);
	CHECK_EQ_INT(replica_leader_ack_state(&rl, 14), REPLICA_ACK_WAIT);
	CHECK_OK(fetch(&rl, 2, 15, T0 + 1));
	CHECK_EQ_INT(replica_leader_ack_state(&rl, 14), REPLICA_ACK_WAIT);
	CHECK_OK(fetch(&rl, 3, 15, T0 + 1));
	CHECK_EQ_INT(replica_leader_ack_state(&rl, 14), REPLICA_ACK_DONE);
	/* The ISR shrinks to the leader alone. */
	replica_leader_on_append(&rl, 20);
	int32_t alone[] = {1};
	CHECK_OK(replica_leader_isr_committed(&rl, alone, 1, 8, T0 + 2, NULL));
	/* The HW does not advance below min.insync.replicas... */
	CHECK_EQ_INT(replica_leader_hw(&rl), 15);
	/* ...the waiting produce fails, new acks=all produces are refused, and
	 * acks=1 goes on. */
	CHECK_EQ_INT(replica_leader_ack_state(&rl, 19), RN_E_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
	CHECK_EQ_INT(replica_leader_ack_state(&rl, 14), REPLICA_ACK_DONE);
	CHECK_EQ_INT(replica_leader_produce_check(&rl, REPLICA_ACKS_ALL), RN_E_NOT_ENOUGH_REPLICAS);
	CHECK_OK(replica_leader_produce_check(&rl, REPLICA_ACKS_LEADER));
	CHECK_OK(replica_leader_produce_check(&rl, REPLICA_ACKS_NONE));
	/* Lowering min.insync.replicas to 1 lets the HW reach the end. */
	CHECK(replica_leader_set_min_isr(&rl, 1));
	CHECK_EQ_INT(replica_leader_hw(&rl), 20);
}

TEST(isr_commits_are_ordered_by_partition_epoch)
{
	struct replica_leader rl;
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t n;
	leader3(&rl, 1);
	replica_leader_on_append(&rl, 20);
	CHECK_OK(fetch(&rl, 2, 20, T0));
	CHECK(replica_leader_isr_proposal(&rl, T0 + 10 * LAG, LAG, isr, &n));
	CHECK_EQ_INT(n, 2);
	/* A stale image (older partition epoch) changes nothing. */
	int32_t old[] = {1};
	CHECK_OK(replica_leader_isr_committed(&rl, old, 1, 6, T0, NULL));
	CHECK_EQ_INT(rl.isr_count, 3);
	CHECK(rl.pending);
	/* The controller changed the ISR on its own (partition epoch 8): the
	 * pending proposal is overtaken. */
	int32_t other[] = {1, 3};
	CHECK_OK(replica_leader_isr_committed(&rl, other, 2, 8, T0 + 10 * LAG, NULL));
	CHECK(!rl.pending);
	CHECK_EQ_INT(rl.partition_epoch, 8);
	/* An ISR without the leader or with a stranger is refused. */
	int32_t nolead[] = {2, 3}, stranger[] = {1, 7};
	CHECK_EQ_INT(replica_leader_isr_committed(&rl, nolead, 2, 9, T0, NULL), RN_E_INVAL);
	CHECK_EQ_INT(replica_leader_isr_committed(&rl, stranger, 2, 9, T0, NULL), RN_E_INVAL);
	CHECK_EQ_INT(rl.partition_epoch, 8);
}

TEST(rejoined_member_gets_a_fresh_lag_clock)
{
	struct replica_leader rl;
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t n;
	int32_t replicas[] = {1, 2}, isr1[] = {1};
	struct replica_leader_params p = {
		.self_id = 1, .leader_epoch = 1, .leo = 10, .hw = 10, .min_isr = 1,
		.replicas = replicas, .replica_count = 2, .isr = isr1, .isr_count = 1,
	};
	CHECK_OK(replica_leader_reset(&rl, &p, T0));
	CHECK_OK(fetch(&rl, 2, 10, T0));
	CHECK(replica_leader_isr_proposal(&rl, T0, LAG, isr, &n));
	replica_leader_on_append(&rl, 20);
	CHECK_OK(replica_leader_isr_committed(&rl, replicas, 2, 1, T0 + 5 * LAG, NULL));
	/* Behind, but it joined only now: not out of sync yet. */
	CHECK(!replica_leader_isr_proposal(&rl, T0 + 5 * LAG + 10, LAG, isr, &n));
	CHECK(replica_leader_isr_proposal(&rl, T0 + 6 * LAG + 1, LAG, isr, &n));
	CHECK_EQ_INT(n, 1);
}

/* ---- divergence ---- */

TEST(leader_detects_a_diverging_follower)
{
	int32_t e;
	int64_t end;
	/* Empty follower log: nothing to compare. */
	CHECK(!replica_leader_divergence(0, REPLICA_EPOCH_UNDEFINED, -1, -1, 0, &e, &end));
	/* Same epoch, the leader's epoch reaches past the fetch offset. */
	CHECK(!replica_leader_divergence(15, 3, 3, 20, 0, &e, &end));
	CHECK(!replica_leader_divergence(20, 3, 3, 20, 0, &e, &end));
	/* The leader's epoch 3 ended at 20; the follower has more of it. */
	CHECK(replica_leader_divergence(25, 3, 3, 20, 0, &e, &end));
	CHECK_EQ_INT(e, 3);
	CHECK_EQ_INT(end, 20);
	/* The leader never had epoch 4: its largest below is 3, ending at 20. */
	CHECK(replica_leader_divergence(18, 4, 3, 20, 0, &e, &end));
	CHECK_EQ_INT(e, 3);
	CHECK_EQ_INT(end, 20);
	/* Older than the leader's first epoch (starting at 100). */
	CHECK(!replica_leader_divergence(100, 1, -1, -1, 100, &e, &end));
	CHECK(replica_leader_divergence(120, 1, -1, -1, 100, &e, &end));
	CHECK_EQ_INT(e, REPLICA_EPOCH_UNDEFINED);
	CHECK_EQ_INT(end, 100);
}

TEST(follower_truncation_offset)
{
	/* Both have epoch 3; the follower's ends at 22, the leader's at 20. */
	CHECK_EQ_INT(replica_follower_truncation_offset(25, 0, 3, 20, 3, 22), 20);
	CHECK_EQ_INT(replica_follower_truncation_offset(25, 0, 3, 24, 3, 22), 22);
	/* The follower lacks the leader's epoch 5 and has only epoch 2 below
	 * it, ending at 12: cut there and ask again. */
	CHECK_EQ_INT(replica_follower_truncation_offset(25, 0, 5, 30, 2, 12), 12);
	/* No epoch that old at all: everything it has diverges. */
	CHECK_EQ_INT(replica_follower_truncation_offset(25, 4, 1, 30, -1, -1), 4);
	/* Older than the leader's first epoch. */
	CHECK_EQ_INT(replica_follower_truncation_offset(25, 0, -1, 10, 3, 40), 10);
	/* Never past the fetch offset nor below the log start. */
	CHECK_EQ_INT(replica_follower_truncation_offset(8, 0, 3, 20, 3, 22), 8);
	CHECK_EQ_INT(replica_follower_truncation_offset(25, 15, -1, 10, 3, 40), 15);
}

TEST(follower_hw_is_capped_by_its_log)
{
	CHECK_EQ_INT(replica_follower_hw(50, 40), 40);
	CHECK_EQ_INT(replica_follower_hw(30, 40), 30);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
