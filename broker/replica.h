/* replica.h: pure decisions of a partition replica (high watermark, acks, flush, fetch range). */
#ifndef RUNNEL_BROKER_REPLICA_H
#define RUNNEL_BROKER_REPLICA_H

/*
 * These functions hold the rules the partition shell (partition.c) applies;
 * they read no clock and touch no file, so the rules are tested on their own
 * and stay the same when followers are added.
 */

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

#endif
