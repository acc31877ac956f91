/* replica.c: pure decisions of a partition replica. */
#include "broker/replica.h"

#include "common/errors.h"
#include "common/rn_assert.h"

bool replica_acks_valid(int32_t acks)
{
	return acks == REPLICA_ACKS_NONE || acks == REPLICA_ACKS_LEADER || acks == REPLICA_ACKS_ALL;
}

int64_t replica_high_watermark(int64_t leader_leo, const int64_t *follower_leos, uint32_t count,
			       int64_t current_hw)
{
	int64_t hw = leader_leo;
	for (uint32_t i = 0; i < count; i++)
		if (follower_leos[i] < hw)
			hw = follower_leos[i];
	return hw > current_hw ? hw : current_hw;
}

bool replica_ack_ready(const struct replica_ack_wait *w, int64_t high_watermark,
		       int64_t synced_end)
{
	RN_ASSERT(w->acks == REPLICA_ACKS_LEADER || w->acks == REPLICA_ACKS_ALL);
	if (w->acks == REPLICA_ACKS_ALL && high_watermark <= w->last_offset)
		return false;
	if (w->needs_sync && synced_end <= w->last_offset)
		return false;
	return true;
}

bool replica_flush_due(int64_t flush_messages, int64_t flush_ms, int64_t unsynced_records,
		       int64_t last_sync_ms, int64_t now_ms)
{
	if (unsynced_records <= 0)
		return false;
	if (flush_messages != INT64_MAX && unsynced_records >= flush_messages)
		return true;
	if (flush_ms != INT64_MAX && now_ms - last_sync_ms >= flush_ms)
		return true;
	return false;
}

int replica_fetch_offset_check(int64_t offset, int64_t log_start, int64_t high_watermark)
{
	if (offset < log_start || offset > high_watermark)
		return RN_E_OFFSET_OUT_OF_RANGE;
	return RN_OK;
}

uint32_t replica_fetch_budget(int32_t partition_max_bytes, uint32_t default_bytes,
			      uint32_t max_clamp, uint64_t request_remaining, bool nothing_yet)
{
	uint32_t budget = partition_max_bytes <= 0 ? default_bytes : (uint32_t)partition_max_bytes;
	if (budget > max_clamp)
		budget = max_clamp;
	if (budget > request_remaining)
		budget = (uint32_t)request_remaining;
	/* The first partition with data always gets one whole batch, however
	 * large, so a consumer never stalls on a batch bigger than its limit. */
	if (budget == 0 && nothing_yet)
		budget = 1;
	return budget;
}
