/* partition.h: the partitions this node hosts: logs, replica state and waiting requests. */
#ifndef RUNNEL_BROKER_PARTITION_H
#define RUNNEL_BROKER_PARTITION_H

/*
 * The partition manager (pmgr) follows the metadata image: when the
 * controller shell applies a PARTITION record whose replicas include this
 * node, the partition's log is opened (created on first use) under
 * DATA_DIR/topics/TOPIC-PARTITION; when it applies REMOVE_TOPIC, the topic's
 * logs are closed and their directories removed (readers holding slices keep
 * the files open until they finish).
 *
 * A partition holds its log, its replicas, ISR, leader and epochs as the
 * metadata image shows them, the high watermark, the flush-policy counters,
 * and two lists of waiting requests: produces waiting to be acknowledged and
 * fetches waiting for data.  The rules themselves are the pure functions of
 * replica.h.
 *
 * Roles follow the image.  Where the image names this node leader, the
 * partition keeps a struct replica_leader (follower progress, high
 * watermark, ISR proposals) and records the new leader epoch in its log's
 * epoch history before anything else is written in it.  Where another node
 * leads and this node is a replica, the partition is handed to the fetcher
 * (fetcher.h), which copies the leader's log and learns its high watermark.
 *
 * Lifetime: a partition is reference counted.  The manager holds one
 * reference while the partition exists; a pending fsync holds another, so a
 * partition removed while its log is being synced stays valid (with
 * log == NULL) until the sync completes.
 */

#include "broker/config.h"
#include "broker/pstate.h"
#include "broker/replica.h"
#include "controller/metadata.h"
#include "storage/plog.h"

#include <stdbool.h>
#include <stdint.h>

struct node;
struct pmgr;
struct partition;

/* Buckets of the topic hash table (topics are at most RN_MAX_TOPICS). */
#define PMGR_BUCKETS 4096u
/* Name of the file beside a partition directory recording which topic id
 * the directory belongs to ("DIR.id"), so a topic deleted and recreated under
 * the same name never reads the old incarnation's data. */
#define PMGR_ID_SUFFIX ".id"

/* The settings a partition follows: the topic's overrides over the node's
 * defaults. */
struct topic_conf {
	int64_t flush_messages;
	int64_t flush_ms;
	int64_t max_message_bytes;
	bool log_append_time; /* message.timestamp.type=LogAppendTime */
	int32_t min_insync_replicas;
	struct plog_config plog;
	/* Retention and compaction (the topic's settings or their defaults). */
	int64_t retention_ms;        /* -1: kept forever */
	int64_t retention_bytes;     /* -1: no size limit */
	bool cleanup_delete;         /* cleanup.policy has delete */
	bool cleanup_compact;        /* cleanup.policy has compact */
	int64_t delete_retention_ms; /* tombstones kept this long after cleaning */
	double min_cleanable_dirty_ratio;
	int64_t min_compaction_lag_ms;
};

/*
 * A request waiting on a partition.  wake_cb is called when the partition's
 * state changes (err 0: data appended (bytes > 0 for that wake), the high
 * watermark or the ISR moved, or an fsync completed (bytes 0)) or it fails (err: RN_E_IO after a failed fsync,
 * RN_E_NOT_LEADER_OR_FOLLOWER when this node stops leading it,
 * RN_E_UNKNOWN_TOPIC_OR_PARTITION when the partition is removed).  wake_cb
 * may unlink its own waiter (pwait_unlink) but no other.
 */
struct pwait {
	struct pwait *prev;
	struct pwait *next;
	struct partition *p; /* NULL when not linked */
	void (*wake_cb)(struct pwait *w, int err);
	int64_t bytes; /* for fetch watchers: bytes appended since linking */
};

struct partition {
	char topic[RN_MAX_TOPIC_NAME_LEN + 1];
	uint8_t topic_id[META_TOPIC_ID_LEN];
	int32_t index;
	struct node *node;
	struct plog *log; /* NULL once removed */
	struct topic_conf conf;
	int32_t leader;
	int32_t leader_epoch;
	int64_t high_watermark;
	int64_t unsynced_records; /* appended since the last fsync request */
	int64_t last_sync_ms;     /* wall clock of the last fsync request */
	bool queued_for_sync;     /* already in this turn's fsync list */
	bool offline;             /* a write or fsync failed: produce refused */
	uint32_t refs;
	struct pwait *produce_waiters;
	struct pwait *fetch_waiters;

	/* Replication: the partition as the metadata image shows it. */
	int32_t replicas[RN_MAX_REPLICATION_FACTOR];
	uint32_t replica_count;
	int32_t isr[RN_MAX_REPLICATION_FACTOR];
	uint32_t isr_count;
	int32_t partition_epoch;
	/* Leader side: rl is valid while leading (this node leads leader_epoch
	 * and the log is open). */
	bool leading;
	struct replica_leader rl;
	int64_t isr_retry_ms;    /* no ISR proposal before then (monotonic): one was refused */
	int64_t hw_checkpointed; /* the high watermark last written to node.mdb */
	/* Follower side (fetcher.c): the session of fetch_leader holds it. */
	bool following;
	int32_t fetch_leader;
	struct partition *fetch_next;
	int64_t fetch_backoff_until_ms; /* skipped by fetches until then (monotonic) */

	/* Idempotent producers (pstate.h), leader and follower alike: what the
	 * log up to its end implies; snapshots in the log directory
	 * (pstate_store.h). */
	struct pstate producers;
	/* The log end when the flush policy last asked for an fsync: a retry
	 * answered from the cache below it waits for that fsync as the
	 * original append did. */
	int64_t sync_requested_end;
};

/*
 * The node-level setting that replaces the controller's default for a topic
 * config key (flush.messages <- log.flush.interval.messages, as in Kafka).
 * Returns true and *value, or false when the node has no such setting.
 */
bool topic_conf_node_value(const struct node_config *cfg, const char *key, int64_t *value);

/* Room for a config value formatted from a node setting (an int64). */
#define TOPIC_CONF_VALUE_BUF 32
/* The source topic_conf_describe reports for a node's own setting. */
#define TOPIC_CONF_SOURCE_NODE "node"

/*
 * The effective value of topic config key as this node applies it, and its
 * source: "topic" (the topic's override), "cluster" (the cluster-wide
 * default), "node" (this node's own setting, topic_conf_node_value, when it
 * differs from the built-in default) or "default".
 *   cfg     the node's settings; NULL leaves them out (the cluster's view)
 *   img     the image with the cluster-wide defaults (NULL: none)
 *   t       the topic (NULL: no topic)
 *   buf     holds a value formatted from the node's setting
 *   value, source  receive pointers into buf, t, img or static tables,
 *           valid while those are
 * Returns 0 or RN_E_NOT_FOUND (unknown key).
 */
int topic_conf_describe(const struct node_config *cfg, const struct meta_image *img,
			const struct meta_topic *t, const char *key,
			char buf[TOPIC_CONF_VALUE_BUF], const char **value, const char **source);

/* Creates an empty manager.  Returns 0 or RN_E_NOMEM. */
int pmgr_new(struct node *n, struct pmgr **out);

/* Closes every log (plog_close syncs and writes the clean-shutdown marker)
 * and frees the manager. */
void pmgr_free(struct pmgr *pm);

/*
 * Controls whether logs open as records are applied (live) or only once at
 * the end of the metadata replay (pmgr_open_all), so a replay that passes
 * through a deleted incarnation of a topic never touches today's files.
 */
void pmgr_set_live(struct pmgr *pm, bool live);

/* A TOPIC record was applied: remember the topic and its settings.
 * Returns 0 or RN_E_NOMEM. */
int pmgr_apply_topic(struct pmgr *pm, const struct meta_topic *t);

/* A PARTITION record for topic t was applied.  When this node is a
 * replica, creates the partition (opening its log when live) and updates
 * leader and epoch.  Returns 0, RN_E_NOMEM or the plog_open error. */
int pmgr_apply_partition(struct pmgr *pm, const struct meta_topic *t,
			 const struct meta_partition *mp);

/*
 * Records the partition's leader and leader epoch from the metadata image.
 * When this node led the partition and no longer does, every waiting
 * produce and fetch is woken at once with RN_E_NOT_LEADER_OR_FOLLOWER
 * (a produce that was appended but not acknowledged is answered with that
 * error, never as a success; a fetch is answered from the new state).
 */
void partition_set_leader(struct partition *p, int32_t leader, int32_t leader_epoch);

/* A CONFIG record changed topic t's overrides: the topic and its hosted
 * partitions follow the new settings (the segment settings of an open log
 * apply from its next start). */
void pmgr_apply_topic_config(struct pmgr *pm, const struct meta_topic *t);

/*
 * The metadata image was replaced by a snapshot: removes topics the image no
 * longer holds (or holds under another id), adds the new ones, refreshes
 * settings and applies every partition as pmgr_apply_partition does.
 * Returns 0, RN_E_NOMEM or the first plog_open error (the others are still
 * applied).
 */
int pmgr_reconcile(struct pmgr *pm, const struct meta_image *img);

/* A REMOVE_TOPIC record was applied for topic `name`: wakes its waiters
 * with RN_E_UNKNOWN_TOPIC_OR_PARTITION and destroys its logs. */
void pmgr_remove_topic(struct pmgr *pm, const char *name);

/* End of the replay: opens the logs of every hosted partition and removes
 * partition directories the image no longer names.  Returns 0 or the first
 * plog_open error. */
int pmgr_open_all(struct pmgr *pm);

/* The hosted partition, or NULL (unknown topic, partition or not hosted). */
struct partition *pmgr_find(struct pmgr *pm, const char *topic, int32_t partition);
/* True when the manager knows the topic (even if it hosts no partition). */
bool pmgr_has_topic(struct pmgr *pm, const char *topic);

void partition_ref(struct partition *p);
void partition_unref(struct partition *p);

/*
 * Appends one validated batch (buf is stamped in place) as the leader:
 * advances the high watermark, applies the flush policy (queueing an fsync
 * for this turn when due, which sets *needs_sync) and wakes fetch watchers.
 * Returns 0, RN_E_IO (the partition goes offline) or RN_E_INVAL.
 */
int partition_append(struct partition *p, uint8_t *buf, size_t len, int32_t record_count,
		     int64_t now_ms, struct plog_append_result *res, bool *needs_sync);

/* What partition_produce did with a batch. */
struct partition_produce_result {
	struct plog_append_result append; /* the offsets (the original's for a duplicate) */
	bool duplicate;                   /* a retry of a batch already in the log */
	bool needs_sync; /* the answer waits for an fsync (of this append or the original's) */
};

/*
 * Appends a producer's validated batch (info from batch_validate) as the
 * leader, deduplicating idempotent producers (producer_id >= 0): a retry
 * of one of the producer's last PSTATE_CACHED_BATCHES batches is not
 * appended again, and out receives the offsets the original got
 * (out->duplicate); a batch of a producer without an id is appended as
 * partition_append does.  why[0..why_len) receives a message naming the
 * problem on a refusal.  Returns 0 or:
 *   RN_E_INVALID_RECORD               a producer id without a base sequence
 *                                     or with a negative epoch
 *   RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER not the producer's next sequence
 *   RN_E_INVALID_PRODUCER_EPOCH       an epoch older than the producer's
 *   as partition_append
 */
int partition_produce(struct partition *p, uint8_t *buf, size_t len,
		      const struct batch_info *info, int64_t now_ms,
		      struct partition_produce_result *out, char *why, size_t why_len);

/* The flusher finished an fsync of p's log; ok false when it failed. */
void partition_on_synced(struct partition *p, bool ok);

/* The offset up to which p's log is known durable. */
int64_t partition_synced_end(const struct partition *p);

/*
 * The leader saw a follower fetch at fetch_offset (its log end offset):
 * records its progress, and when the high watermark moves, wakes the
 * produces and fetches waiting here.  Returns 0,
 * RN_E_NOT_LEADER_OR_FOLLOWER (not leading, or follower_id is not a replica)
 * or RN_E_OFFSET_OUT_OF_RANGE (fetch_offset past the log end).
 */
int partition_on_follower_fetch(struct partition *p, int32_t follower_id, int64_t fetch_offset,
				int64_t now_ms);

/*
 * A follower copies one batch of the leader's (already validated, carrying
 * its offsets; its base offset must be the log end offset) and applies the
 * flush policy.  Returns 0, RN_E_INVAL (wrong offset) or RN_E_IO (the
 * partition goes offline).
 */
int partition_append_replica(struct partition *p, const uint8_t *buf, size_t len,
			     int32_t record_count, int64_t now_ms);

/*
 * A follower drops its log from offset on (rounded down to the start of the
 * batch holding it, so a batch is never cut) and caps its high watermark at
 * the new end.  Returns 0 or the plog error (RN_E_IO takes it offline).
 */
int partition_truncate(struct partition *p, int64_t offset);

/* A follower learnt the leader's high watermark: its own becomes that,
 * capped at its log end, and never moves back; fetches waiting on this
 * replica (consumers reading from the closest replica) wake when it moves. */
void partition_follower_hw(struct partition *p, int64_t leader_hw);

/* The metadata image or an AlterPartition answer committed an ISR for this
 * partition at partition_epoch: a leader applies it (replica.h).  Returns 0
 * or RN_E_INVAL. */
int partition_isr_committed(struct partition *p, const int32_t *isr, uint32_t count,
			    int32_t partition_epoch);

/* True when node_id is in the partition's ISR as the image shows it. */
bool partition_in_isr(const struct partition *p, int32_t node_id);

/* Writes p's producer-state snapshot for its log end now (pstate_store.h).
 * Returns 0 or as pstate_store_write. */
int partition_snapshot_producers(struct partition *p);

/* Calls cb for every hosted partition with an open log. */
void pmgr_foreach(struct pmgr *pm, void (*cb)(struct partition *p, void *arg), void *arg);

/* Links w into p's produce or fetch list. */
void partition_wait_produce(struct partition *p, struct pwait *w);
void partition_watch_fetch(struct partition *p, struct pwait *w);
/* Unlinks w from whichever list holds it; no-op when not linked. */
void pwait_unlink(struct pwait *w);

#endif
