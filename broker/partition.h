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
 * A partition holds the state replication will build on: the log, the
 * leader and its epoch, the high watermark, the flush-policy counters, and
 * two lists of waiting requests: produces waiting to be acknowledged and
 * fetches waiting for data.  The rules themselves are the pure functions of
 * replica.h.
 *
 * Lifetime: a partition is reference counted.  The manager holds one
 * reference while the partition exists; a pending fsync holds another, so a
 * partition removed while its log is being synced stays valid (with
 * log == NULL) until the sync completes.
 */

#include "broker/config.h"
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
	struct plog_config plog;
};

/*
 * A request waiting on a partition.  wake_cb is called when the partition's
 * state changes (err 0: data appended, high watermark moved or an fsync
 * completed) or it fails (err: RN_E_IO after a failed fsync,
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
};

/*
 * The node-level setting that replaces the controller's default for a topic
 * config key (flush.messages <- log.flush.interval.messages, as in Kafka).
 * Returns true and *value, or false when the node has no such setting.
 */
bool topic_conf_node_value(const struct node_config *cfg, const char *key, int64_t *value);

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

/* The flusher finished an fsync of p's log; ok false when it failed. */
void partition_on_synced(struct partition *p, bool ok);

/* The offset up to which p's log is known durable. */
int64_t partition_synced_end(const struct partition *p);

/* Links w into p's produce or fetch list. */
void partition_wait_produce(struct partition *p, struct pwait *w);
void partition_watch_fetch(struct partition *p, struct pwait *w);
/* Unlinks w from whichever list holds it; no-op when not linked. */
void pwait_unlink(struct pwait *w);

#endif
