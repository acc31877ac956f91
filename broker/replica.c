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

/* ------------------------------------------------------------------------
 * Leader state.
 * ------------------------------------------------------------------------ */

static bool ids_contain(const int32_t *ids, uint32_t count, int32_t id)
{
	for (uint32_t i = 0; i < count; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static bool ids_unique(const int32_t *ids, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		if (ids_contain(ids + i + 1, count - i - 1, ids[i]))
			return false;
	return true;
}

static struct replica_follower *follower_find(struct replica_leader *rl, int32_t id)
{
	for (uint32_t i = 0; i < rl->follower_count; i++)
		if (rl->followers[i].id == id)
			return &rl->followers[i];
	return NULL;
}

static const struct replica_follower *follower_find_const(const struct replica_leader *rl,
							  int32_t id)
{
	for (uint32_t i = 0; i < rl->follower_count; i++)
		if (rl->followers[i].id == id)
			return &rl->followers[i];
	return NULL;
}

static bool is_replica(const struct replica_leader *rl, int32_t id)
{
	return id == rl->self_id || follower_find_const(rl, id) != NULL;
}

/* An ISR is acceptable when it is within the limit, has no repeats, holds
 * the leader and names only replicas. */
static bool isr_valid(const struct replica_leader *rl, const int32_t *isr, uint32_t count)
{
	if (count == 0 || count > REPLICA_MAX_REPLICAS || !ids_unique(isr, count))
		return false;
	if (!ids_contain(isr, count, rl->self_id))
		return false;
	for (uint32_t i = 0; i < count; i++)
		if (!is_replica(rl, isr[i]))
			return false;
	return true;
}

static bool params_valid(const struct replica_leader_params *p)
{
	if (p->replica_count == 0 || p->replica_count > REPLICA_MAX_REPLICAS)
		return false;
	if (p->isr_count == 0 || p->isr_count > REPLICA_MAX_REPLICAS)
		return false;
	if (!ids_unique(p->replicas, p->replica_count) || !ids_unique(p->isr, p->isr_count))
		return false;
	if (!ids_contain(p->replicas, p->replica_count, p->self_id) ||
	    !ids_contain(p->isr, p->isr_count, p->self_id))
		return false;
	for (uint32_t i = 0; i < p->isr_count; i++)
		if (!ids_contain(p->replicas, p->replica_count, p->isr[i]))
			return false;
	if (p->min_isr < 1 || p->leader_epoch < 0)
		return false;
	return p->epoch_start_offset >= 0 && p->epoch_start_offset <= p->leo;
}

/* The smallest log end offset over the effective ISR; an unknown follower
 * LEO (no fetch yet) holds it at the current high watermark. */
static int64_t effective_isr_min_leo(const struct replica_leader *rl)
{
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t n = replica_leader_effective_isr(rl, isr);
	int64_t min = rl->leo;
	for (uint32_t i = 0; i < n; i++) {
		if (isr[i] == rl->self_id)
			continue;
		const struct replica_follower *f = follower_find_const(rl, isr[i]);
		RN_ASSERT(f != NULL);
		int64_t leo = f->leo == REPLICA_LEO_UNKNOWN ? rl->hw : f->leo;
		if (leo < min)
			min = leo;
	}
	return min;
}

/* Recomputes the high watermark; it only moves forward, and not at all
 * while the committed ISR is below min.insync.replicas (a record is
 * committed only once that many replicas hold it). */
static bool hw_update(struct replica_leader *rl)
{
	if (rl->isr_count < (uint32_t)rl->min_isr)
		return false;
	int64_t hw = effective_isr_min_leo(rl);
	if (hw <= rl->hw)
		return false;
	rl->hw = hw;
	RN_ASSERT(rl->hw <= rl->leo);
	return true;
}

int replica_leader_reset(struct replica_leader *rl, const struct replica_leader_params *p,
			 int64_t now_ms)
{
	if (!params_valid(p))
		return RN_E_INVAL;
	*rl = (struct replica_leader){
		.self_id = p->self_id,
		.leader_epoch = p->leader_epoch,
		.epoch_start_offset = p->epoch_start_offset,
		.leo = p->leo,
		.hw = p->hw < 0 ? 0 : (p->hw > p->leo ? p->leo : p->hw),
		.min_isr = p->min_isr,
		.partition_epoch = p->partition_epoch,
		.isr_count = p->isr_count,
	};
	for (uint32_t i = 0; i < p->isr_count; i++)
		rl->isr[i] = p->isr[i];
	for (uint32_t i = 0; i < p->replica_count; i++) {
		if (p->replicas[i] == p->self_id)
			continue;
		/* Kafka's rule: an ISR member starts caught up now, so it is not
		 * dropped before it had a chance to fetch from the new leader. */
		bool in_isr = ids_contain(p->isr, p->isr_count, p->replicas[i]);
		rl->followers[rl->follower_count++] = (struct replica_follower){
			.id = p->replicas[i],
			.leo = REPLICA_LEO_UNKNOWN,
			.last_fetch_leader_leo = REPLICA_LEO_UNKNOWN,
			.last_fetch_ms = -1,
			.last_caught_up_ms = in_isr ? now_ms : -1,
		};
	}
	hw_update(rl);
	return RN_OK;
}

bool replica_leader_on_append(struct replica_leader *rl, int64_t new_leo)
{
	RN_ASSERT(new_leo >= rl->leo);
	rl->leo = new_leo;
	return hw_update(rl);
}

int replica_leader_on_follower_fetch(struct replica_leader *rl, int32_t follower_id,
				     int64_t fetch_offset, int64_t now_ms, bool *hw_changed)
{
	if (hw_changed)
		*hw_changed = false;
	struct replica_follower *f = follower_find(rl, follower_id);
	if (!f)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	if (fetch_offset < 0 || fetch_offset > rl->leo)
		return RN_E_OFFSET_OUT_OF_RANGE;
	/* Kafka's caught-up rule: reaching the leader's end now counts from now;
	 * reaching the end the leader had at the previous fetch counts from the
	 * time of that fetch.  A follower that keeps fetching on a busy
	 * partition is thus caught up as long as each fetch brings it to where
	 * the leader was one round earlier. */
	if (fetch_offset >= rl->leo) {
		if (now_ms > f->last_caught_up_ms)
			f->last_caught_up_ms = now_ms;
	} else if (f->last_fetch_ms >= 0 && fetch_offset >= f->last_fetch_leader_leo) {
		if (f->last_fetch_ms > f->last_caught_up_ms)
			f->last_caught_up_ms = f->last_fetch_ms;
	}
	f->leo = fetch_offset;
	f->last_fetch_leader_leo = rl->leo;
	f->last_fetch_ms = now_ms;
	bool moved = hw_update(rl);
	if (hw_changed)
		*hw_changed = moved;
	return RN_OK;
}

int64_t replica_leader_hw(const struct replica_leader *rl)
{
	return rl->hw;
}

bool replica_leader_set_min_isr(struct replica_leader *rl, int32_t min_isr)
{
	rl->min_isr = min_isr < 1 ? 1 : min_isr;
	return hw_update(rl);
}

uint32_t replica_leader_effective_isr(const struct replica_leader *rl, int32_t *out)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < rl->isr_count; i++)
		out[n++] = rl->isr[i];
	if (!rl->pending)
		return n;
	for (uint32_t i = 0; i < rl->pending_count; i++)
		if (!ids_contain(out, n, rl->pending_isr[i])) {
			RN_ASSERT(n < REPLICA_MAX_REPLICAS);
			out[n++] = rl->pending_isr[i];
		}
	return n;
}

bool replica_leader_in_isr(const struct replica_leader *rl, int32_t id)
{
	return ids_contain(rl->isr, rl->isr_count, id);
}

/* A follower in the ISR is out of sync when it is behind the leader's end
 * and has not been caught up for longer than lag_max_ms.  One that is at the
 * end is never out of sync, so an idle partition keeps its ISR. */
static bool follower_out_of_sync(const struct replica_leader *rl,
				 const struct replica_follower *f, int64_t now_ms,
				 int64_t lag_max_ms)
{
	if (f->leo == rl->leo)
		return false;
	return now_ms - f->last_caught_up_ms > lag_max_ms;
}

/* A follower outside the ISR may join when its log reaches the high
 * watermark and the start of this leader epoch: everything it has is then
 * known to match the leader's log. */
static bool follower_can_join(const struct replica_leader *rl, const struct replica_follower *f)
{
	return f->leo != REPLICA_LEO_UNKNOWN && f->leo >= rl->hw &&
	       f->leo >= rl->epoch_start_offset;
}

static uint32_t propose_shrink(const struct replica_leader *rl, int64_t now_ms,
			       int64_t lag_max_ms, int32_t *out)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < rl->isr_count; i++) {
		int32_t id = rl->isr[i];
		if (id != rl->self_id) {
			const struct replica_follower *f = follower_find_const(rl, id);
			RN_ASSERT(f != NULL);
			if (follower_out_of_sync(rl, f, now_ms, lag_max_ms))
				continue;
		}
		out[n++] = id;
	}
	return n;
}

static uint32_t propose_expand(const struct replica_leader *rl, int32_t *out)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < rl->isr_count; i++)
		out[n++] = rl->isr[i];
	for (uint32_t i = 0; i < rl->follower_count; i++) {
		const struct replica_follower *f = &rl->followers[i];
		if (!ids_contain(rl->isr, rl->isr_count, f->id) && follower_can_join(rl, f))
			out[n++] = f->id;
	}
	return n;
}

/* Puts the leader first, keeping the order of the others. */
static void leader_first(int32_t self_id, int32_t *isr, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (isr[i] == self_id) {
			for (uint32_t j = i; j > 0; j--)
				isr[j] = isr[j - 1];
			isr[0] = self_id;
			return;
		}
}

bool replica_leader_isr_proposal(struct replica_leader *rl, int64_t now_ms, int64_t lag_max_ms,
				 int32_t *out_isr, uint32_t *out_count)
{
	if (rl->pending)
		return false;
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t n = propose_shrink(rl, now_ms, lag_max_ms, isr);
	if (n == rl->isr_count) {
		n = propose_expand(rl, isr);
		if (n == rl->isr_count)
			return false;
	}
	leader_first(rl->self_id, isr, n);
	RN_ASSERT(isr_valid(rl, isr, n));
	rl->pending = true;
	rl->pending_count = n;
	rl->pending_since_ms = now_ms;
	for (uint32_t i = 0; i < n; i++)
		rl->pending_isr[i] = out_isr[i] = isr[i];
	*out_count = n;
	return true;
}

int replica_leader_isr_committed(struct replica_leader *rl, const int32_t *isr, uint32_t count,
				 int32_t partition_epoch, int64_t now_ms, bool *hw_changed)
{
	if (hw_changed)
		*hw_changed = false;
	if (partition_epoch < rl->partition_epoch)
		return RN_OK;
	if (!isr_valid(rl, isr, count))
		return RN_E_INVAL;
	if (partition_epoch > rl->partition_epoch)
		rl->pending = false;
	for (uint32_t i = 0; i < count; i++) {
		if (ids_contain(rl->isr, rl->isr_count, isr[i]))
			continue;
		/* A member that just joined was caught up when it was proposed; its
		 * lag clock starts now so it is not dropped at once. */
		struct replica_follower *f = follower_find(rl, isr[i]);
		if (f && f->last_caught_up_ms < now_ms)
			f->last_caught_up_ms = now_ms;
	}
	rl->partition_epoch = partition_epoch;
	rl->isr_count = count;
	for (uint32_t i = 0; i < count; i++)
		rl->isr[i] = isr[i];
	bool moved = hw_update(rl);
	if (hw_changed)
		*hw_changed = moved;
	return RN_OK;
}

void replica_leader_isr_abort(struct replica_leader *rl)
{
	rl->pending = false;
	rl->pending_count = 0;
}

int replica_leader_produce_check(const struct replica_leader *rl, int32_t acks)
{
	if (acks == REPLICA_ACKS_ALL && rl->isr_count < (uint32_t)rl->min_isr)
		return RN_E_NOT_ENOUGH_REPLICAS;
	return RN_OK;
}

int replica_leader_ack_state(const struct replica_leader *rl, int64_t last_offset)
{
	if (rl->hw > last_offset)
		return REPLICA_ACK_DONE;
	if (rl->isr_count < (uint32_t)rl->min_isr)
		return RN_E_NOT_ENOUGH_REPLICAS_AFTER_APPEND;
	return REPLICA_ACK_WAIT;
}

/* ------------------------------------------------------------------------
 * Divergence.
 * ------------------------------------------------------------------------ */

bool replica_leader_divergence(int64_t fetch_offset, int32_t last_fetched_epoch,
			       int32_t found_epoch, int64_t found_end_offset,
			       int64_t first_epoch_start, int32_t *div_epoch, int64_t *div_end)
{
	if (last_fetched_epoch < 0)
		return false;
	if (found_epoch < 0) {
		/* Below the start of the leader's first epoch the leader has no
		 * records to compare with, so only a log that reaches past it can
		 * be shown to diverge. */
		if (fetch_offset <= first_epoch_start)
			return false;
		*div_epoch = REPLICA_EPOCH_UNDEFINED;
		*div_end = first_epoch_start;
		return true;
	}
	if (found_epoch == last_fetched_epoch && found_end_offset >= fetch_offset)
		return false;
	*div_epoch = found_epoch;
	*div_end = found_end_offset;
	return true;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int64_t replica_follower_truncation_offset(int64_t fetch_offset, int64_t log_start,
					   int32_t div_epoch, int64_t div_end,
					   int32_t local_epoch, int64_t local_end_offset)
{
	int64_t to;
	if (div_epoch < 0)
		to = min64(fetch_offset, div_end);
	else if (local_epoch < 0)
		to = log_start;
	else if (local_epoch == div_epoch)
		to = min64(fetch_offset, min64(local_end_offset, div_end));
	else
		to = min64(fetch_offset, local_end_offset);
	if (to < log_start)
		to = log_start;
	if (to > fetch_offset)
		to = fetch_offset;
	return to;
}

int64_t replica_follower_hw(int64_t leader_hw, int64_t local_leo)
{
	return min64(leader_hw, local_leo);
}
