/* replica.h: pure decisions of a partition replica (high watermark, ISR, acks, truncation). */
#ifndef RUNNEL_BROKER_REPLICA_H
#define RUNNEL_BROKER_REPLICA_H

/*
 * These functions hold the rules the partition shell (partition.c) and the
 * follower's fetcher apply; they read no clock and touch no file, so the
 * rules are tested on their own and driven by the replication simulator
 * (test/sim/replica_sim.c).  docs/replication.md explains the protocol.
 */

#include "common/limits.h"

#include <stdbool.h>
#include <stdint.h>

/* acks values of a produce request. */
#define REPLICA_ACKS_NONE 0
#define REPLICA_ACKS_LEADER 1
#define REPLICA_ACKS_ALL (-1)

/* True for 0, 1 and -1. */
bool replica_acks_valid(int32_t acks);

/*
 * The high watermark of a partition this node leads: the smallest log end
 * offset among the in-sync replicas (the leader's own included), and never
 * lower than current_hw (it does not move backwards on a leader).
 * follower_leos holds the log end offsets of the other in-sync replicas
 * (count may be 0: with one replica the high watermark is the leader's log
 * end offset).
 */
int64_t replica_high_watermark(int64_t leader_leo, const int64_t *follower_leos, uint32_t count,
			       int64_t current_hw);

/* What an appended produce waits for before it is acknowledged. */
struct replica_ack_wait {
	int32_t acks;        /* 1 or -1 (acks=0 is never answered) */
	int64_t last_offset; /* last offset of the appended batch */
	bool needs_sync;     /* the flush policy asked for an fsync of this append */
};

/*
 * True when the produce may be answered: acks=all needs the high watermark
 * past last_offset, and an append the flush policy wants durable needs the
 * synced end past last_offset.
 */
bool replica_ack_ready(const struct replica_ack_wait *w, int64_t high_watermark,
		       int64_t synced_end);

/*
 * Kafka's flush policy: after an append leaves unsynced_records records not
 * yet fsynced, is an fsync due?  Due when unsynced_records reaches
 * flush_messages, or when flush_ms have passed since last_sync_ms (the last
 * time a sync was requested).  INT64_MAX means never for either.
 */
bool replica_flush_due(int64_t flush_messages, int64_t flush_ms, int64_t unsynced_records,
		       int64_t last_sync_ms, int64_t now_ms);

/* Checks a consumer's fetch offset: 0 when log_start <= offset <= high_watermark,
 * else RN_E_OFFSET_OUT_OF_RANGE. */
int replica_fetch_offset_check(int64_t offset, int64_t log_start, int64_t high_watermark);

/*
 * How many bytes one partition of a fetch may return: its own
 * partition_max_bytes (clamped to max_clamp; 0 or less gives
 * default_bytes) and no more than what is left of the request's max_bytes.
 * When nothing was returned yet for the request, the partition gets at least
 * one batch (the log returns one whole batch even over the budget), so the
 * result is at least 1 while remaining is 0 but nothing was sent.
 * Returns 0 when this partition must return no data.
 */
uint32_t replica_fetch_budget(int32_t partition_max_bytes, uint32_t default_bytes,
			      uint32_t max_clamp, uint64_t request_remaining, bool nothing_yet);

/* ------------------------------------------------------------------------
 * The leader's view of a partition.
 *
 * One struct replica_leader per partition this node leads.  The shell feeds
 * it events (an append, a follower's fetch, a committed metadata change) and
 * asks it questions (the high watermark, whether an ISR change should be
 * proposed, whether an acks=all produce may be answered).  It holds no
 * pointers and may be copied.
 * ------------------------------------------------------------------------ */

/* Most replicas a partition has: the leader plus its followers. */
#define REPLICA_MAX_REPLICAS RN_MAX_REPLICATION_FACTOR

/* A follower's log end offset that the leader has not learnt yet (no fetch
 * since this node became leader).  Such a follower holds the high watermark
 * back while it is in the ISR, because its log is unknown. */
#define REPLICA_LEO_UNKNOWN (-1ll)

/* What the leader knows of one follower. */
struct replica_follower {
	int32_t id;                    /* the follower's node id */
	int64_t leo;                   /* its fetch_offset; REPLICA_LEO_UNKNOWN */
	int64_t last_fetch_leader_leo; /* the leader's LEO at its previous fetch */
	int64_t last_fetch_ms;         /* time of its previous fetch; -1: none */
	int64_t last_caught_up_ms;     /* last time it was known caught up */
};

/*
 * The leader state of one partition.  Fields are read-only for callers;
 * change them only through the functions below.
 */
struct replica_leader {
	int32_t self_id;
	int32_t leader_epoch;
	int64_t epoch_start_offset; /* LEO when this leader epoch began */
	int64_t leo;                /* the leader's log end offset */
	int64_t hw;                 /* high watermark; never decreases */
	int32_t min_isr;            /* the topic's min.insync.replicas */
	int32_t partition_epoch;    /* of the committed ISR below */
	int32_t isr[REPLICA_MAX_REPLICAS]; /* committed ISR, leader included */
	uint32_t isr_count;
	bool pending;               /* an ISR change was proposed, not yet committed */
	int32_t pending_isr[REPLICA_MAX_REPLICAS];
	uint32_t pending_count;
	int64_t pending_since_ms;
	struct replica_follower followers[REPLICA_MAX_REPLICAS - 1]; /* every other replica */
	uint32_t follower_count;
};

/* What a node knows when it becomes leader of a partition. */
struct replica_leader_params {
	int32_t self_id;
	int32_t leader_epoch;
	int64_t epoch_start_offset; /* its log end offset when it became leader */
	int64_t leo;                /* its log end offset now */
	int64_t hw;                 /* its last known high watermark (checkpoint) */
	int32_t min_isr;            /* min.insync.replicas, at least 1 */
	int32_t partition_epoch;
	const int32_t *replicas;    /* every replica, the leader among them */
	uint32_t replica_count;
	const int32_t *isr;         /* the committed ISR, the leader among them */
	uint32_t isr_count;
};

/*
 * (Re)initialises rl when this node becomes leader (a new leader epoch).
 * Followers' log end offsets become unknown; ISR members count as caught up
 * at now_ms, so none is dropped before it had the chance to fetch.  The high
 * watermark starts at p->hw capped at p->leo.
 * Returns 0, or RN_E_INVAL when the counts exceed REPLICA_MAX_REPLICAS,
 * self_id is not among the replicas or the ISR, an ISR member is not a
 * replica, an id repeats, min_isr < 1, or the offsets are negative or
 * out of order (epoch_start_offset > leo).  rl is unchanged on error.
 */
int replica_leader_reset(struct replica_leader *rl, const struct replica_leader_params *p,
			 int64_t now_ms);

/*
 * The leader appended: its log end offset is now new_leo (>= the old one).
 * Returns true when the high watermark moved (a single-member ISR).
 */
bool replica_leader_on_append(struct replica_leader *rl, int64_t new_leo);

/*
 * A follower fetched at fetch_offset (its log end offset) at now_ms.
 * Records its LEO and applies the caught-up rule: its last_caught_up_ms
 * moves to now_ms when fetch_offset reaches the leader's LEO now, or to the
 * time of its previous fetch when fetch_offset reaches the leader's LEO as
 * it was then.  *hw_changed (may be NULL) tells whether the high watermark
 * moved.
 * Call it only after replica_leader_divergence found no divergence: a
 * follower whose log diverges has not proven that its log matches the
 * leader's up to fetch_offset, so its offset must not count.
 * Returns 0, RN_E_NOT_LEADER_OR_FOLLOWER when follower_id is not a replica
 * (or is the leader itself), or RN_E_OFFSET_OUT_OF_RANGE when fetch_offset
 * is negative or past the leader's LEO (nothing is recorded then).
 */
int replica_leader_on_follower_fetch(struct replica_leader *rl, int32_t follower_id,
				     int64_t fetch_offset, int64_t now_ms, bool *hw_changed);

/* The high watermark consumers may read up to (exclusive). */
int64_t replica_leader_hw(const struct replica_leader *rl);

/* Changes min.insync.replicas (a topic config change); values below 1 count
 * as 1.  Returns true when the high watermark moved. */
bool replica_leader_set_min_isr(struct replica_leader *rl, int32_t min_isr);

/*
 * Should the ISR change?  Shrink first: every ISR follower whose LEO is
 * behind the leader's and that has not been caught up for more than
 * lag_max_ms leaves.  Otherwise expand: every follower outside the ISR
 * whose LEO is known, at least the high watermark and at least the start
 * offset of this leader epoch joins.  None while a change is pending.
 * On true, out_isr (REPLICA_MAX_REPLICAS entries) and *out_count hold the
 * proposed ISR (the leader always first), and rl records it as pending
 * from now_ms; the shell sends it in AlterPartition with rl->leader_epoch
 * and rl->partition_epoch.  While pending, the high watermark is computed
 * over the union of the committed and proposed ISRs (the larger one, since
 * a proposal only shrinks or only grows), so a shrink never lets the high
 * watermark pass a record the removed member may still be needed for, and
 * an expansion counts the newcomer as soon as it is proposed.
 */
bool replica_leader_isr_proposal(struct replica_leader *rl, int64_t now_ms, int64_t lag_max_ms,
				 int32_t *out_isr, uint32_t *out_count);

/*
 * The metadata log committed this partition's ISR at partition_epoch (from
 * an AlterPartition response or from the metadata image; the leader epoch
 * is unchanged, else call replica_leader_reset).  Ignored when
 * partition_epoch is older than rl's.  A newer epoch clears any pending
 * proposal: it was applied or overtaken.  Followers that join the ISR count
 * as caught up now.  Returns 0, RN_E_INVAL (count over the limit, an id that
 * is not a replica, or the leader missing: the caller should resign), and
 * sets *hw_changed (may be NULL).
 */
int replica_leader_isr_committed(struct replica_leader *rl, const int32_t *isr, uint32_t count,
				 int32_t partition_epoch, int64_t now_ms, bool *hw_changed);

/* The pending proposal failed without a decision (timeout, connection loss,
 * an error other than a committed change): forget it so that a later
 * replica_leader_isr_proposal may try again.  After INVALID_UPDATE_VERSION
 * the shell re-reads metadata and calls replica_leader_isr_committed. */
void replica_leader_isr_abort(struct replica_leader *rl);

/* The ISR the high watermark is computed over: the committed ISR, or the
 * union with the pending proposal.  out holds REPLICA_MAX_REPLICAS entries;
 * returns the count. */
uint32_t replica_leader_effective_isr(const struct replica_leader *rl, int32_t *out);

/* True when id is in the committed ISR. */
bool replica_leader_in_isr(const struct replica_leader *rl, int32_t id);

/*
 * May a produce with these acks be appended?  acks=all is refused with
 * RN_E_NOT_ENOUGH_REPLICAS (nothing is appended) while the committed ISR is
 * smaller than min.insync.replicas; acks 0 and 1 are always accepted.
 * Returns 0 or RN_E_NOT_ENOUGH_REPLICAS.
 */
int replica_leader_produce_check(const struct replica_leader *rl, int32_t acks);

/* Answers of replica_leader_ack_state. */
#define REPLICA_ACK_DONE 0
#define REPLICA_ACK_WAIT 1

/*
 * An acks=all produce whose batch ends at last_offset: REPLICA_ACK_DONE when
 * the high watermark passed last_offset (every ISR member has it),
 * RN_E_NOT_ENOUGH_REPLICAS_AFTER_APPEND when not yet and the committed ISR
 * has shrunk below min.insync.replicas (the high watermark cannot advance
 * then), REPLICA_ACK_WAIT otherwise.  Flush policy waits are separate
 * (replica_ack_ready).
 */
int replica_leader_ack_state(const struct replica_leader *rl, int64_t last_offset);

/* ------------------------------------------------------------------------
 * Log divergence (leader epochs), Kafka's KIP-320/KIP-595 scheme.
 * ------------------------------------------------------------------------ */

/* "No epoch": a log with no batches, or an epoch older than any known. */
#define REPLICA_EPOCH_UNDEFINED (-1)
#define REPLICA_OFFSET_UNDEFINED (-1ll)

/*
 * The leader's check of a follower fetch.  The follower says its log ends at
 * fetch_offset and its last batch has last_fetched_epoch
 * (REPLICA_EPOCH_UNDEFINED when its log is empty: nothing to check).  The
 * leader looked last_fetched_epoch up in its own history with
 * plog_epoch_end_offset, getting found_epoch and found_end_offset
 * (REPLICA_EPOCH_UNDEFINED and REPLICA_OFFSET_UNDEFINED when the epoch is
 * older than its first), and knows first_epoch_start, the start offset of
 * its oldest known epoch (its log start when the history is empty).
 * Returns true when the follower's log diverges: the fetch is answered with
 * no records and diverging_epoch *div_epoch, diverging_end_offset *div_end.
 * The follower's log diverges when the leader has no epoch equal to
 * last_fetched_epoch, or that epoch ends (the next one starts) before
 * fetch_offset.  An epoch older than the leader's first diverges only when
 * the follower's log passes the start of the leader's first epoch (below it
 * the leader cannot tell); the answer is then (REPLICA_EPOCH_UNDEFINED,
 * first_epoch_start).
 */
bool replica_leader_divergence(int64_t fetch_offset, int32_t last_fetched_epoch,
			       int32_t found_epoch, int64_t found_end_offset,
			       int64_t first_epoch_start, int32_t *div_epoch, int64_t *div_end);

/*
 * The follower's answer to a diverging_epoch (div_epoch, div_end) from the
 * leader: the offset to truncate its log to (then it fetches from there).
 * fetch_offset is the follower's log end offset it fetched at, log_start its
 * log start offset.  The follower looked div_epoch up in its own history with
 * plog_epoch_end_offset: local_epoch and local_end_offset
 * (REPLICA_EPOCH_UNDEFINED when it has no epoch that old).
 *  - It has div_epoch: truncate to min(fetch_offset, its end of div_epoch,
 *    div_end).
 *  - It has only an older epoch: truncate to min(fetch_offset, its end of
 *    that epoch); the next fetch checks that epoch with the leader.
 *  - It has no epoch that old: every record it has is of a newer epoch the
 *    leader never had: truncate to log_start.
 *  - div_epoch is undefined (older than the leader's first epoch): truncate
 *    to min(fetch_offset, div_end).
 * The result is always within [log_start, fetch_offset] (at least
 * log_start even if the leader's answer is below it).
 */
int64_t replica_follower_truncation_offset(int64_t fetch_offset, int64_t log_start,
					   int32_t div_epoch, int64_t div_end,
					   int32_t local_epoch, int64_t local_end_offset);

/* A follower's high watermark: the leader's, capped at its own log end
 * offset (it cannot expose records it does not have). */
int64_t replica_follower_hw(int64_t leader_hw, int64_t local_leo);

#endif
