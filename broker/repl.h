/* repl.h: the leader side of replication: ISR changes through AlterPartition, and high-watermark checkpoints. */
#ifndef RUNNEL_BROKER_REPL_H
#define RUNNEL_BROKER_REPL_H

/*
 * Every NODE_ISR_CHECK_MS the node asks each partition it leads whether its
 * ISR should change (replica_leader_isr_proposal: a follower that has not
 * caught up within replica.lag.time.max.ms leaves, a follower that reached
 * the high watermark comes back).  The proposals of one check go to the
 * active controller in one AlterPartition request (a local call when this
 * node is the active controller), with each partition's leader epoch and
 * partition epoch.  The change takes effect when its PARTITION_CHANGE
 * record is applied; until then the leader keeps its ISR (and counts the
 * larger of the two for the high watermark).  A refused proposal is
 * forgotten: after INVALID_UPDATE_VERSION the leader takes the ISR its
 * image shows and may propose again at a later check.
 *
 * Every replica.high.watermark.checkpoint.interval.ms (and on a clean
 * shutdown) the high watermarks that moved are written to the checkpoint
 * table of node.mdb, so a restarted replica starts from them instead of
 * from nothing.  Keys are the topic id (16 bytes) then the partition
 * (4 bytes, big-endian); values the high watermark (8 bytes, big-endian).
 */

#include "controller/metadata.h"

#include <stdbool.h>
#include <stdint.h>

struct node;
struct kv;
struct repl;

/* How often led partitions are checked for ISR changes. */
#define NODE_ISR_CHECK_MS 200
/* An AlterPartition call that has not been answered in this long fails and
 * its proposals are forgotten (the next check proposes again). */
#define NODE_ALTER_PARTITION_TIMEOUT_MS 10000
/* After a refused proposal (a follower not yet eligible, a stale
 * partition epoch, no controller) the partition proposes again no sooner
 * than this. */
#define NODE_ISR_RETRY_BACKOFF_MS 1000
/* Partitions one AlterPartition request carries at most; more wait for the
 * next check. */
#define NODE_MAX_ALTER_PARTITIONS 1000u
/* Length of a checkpoint key: topic id and partition number. */
#define REPL_CHECKPOINT_KEY_LEN (META_TOPIC_ID_LEN + 4u)

/* Creates the shell and starts its timers.  Returns 0 or RN_E_NOMEM. */
int repl_new(struct node *n, struct repl **out);

/* Stops the timers, forgets calls in flight and frees.  NULL is fine. */
void repl_free(struct repl *r);

/*
 * Writes the high watermark of every partition whose value moved since its
 * last checkpoint in one LMDB transaction (committed, synced by the next
 * fsync of node.mdb).  Returns 0 or the kv error (logged).
 */
int repl_checkpoint_all(struct node *n);

/* Reads the checkpointed high watermark of a partition.  Returns 0 with
 * *hw, RN_E_NOT_FOUND (also when kv is NULL: a node without node.mdb, as
 * in unit tests), or RN_E_CORRUPT_STATE (a value of the wrong size). */
int repl_checkpoint_read(struct kv *kv, const uint8_t topic_id[META_TOPIC_ID_LEN],
			 int32_t partition, int64_t *hw);

/* Removes a partition's checkpoint (its topic was deleted); kv may be NULL. */
void repl_checkpoint_forget(struct kv *kv, const uint8_t topic_id[META_TOPIC_ID_LEN],
			    int32_t partition);

/* The checkpoint key of a partition into key (REPL_CHECKPOINT_KEY_LEN bytes). */
void repl_checkpoint_key(const uint8_t topic_id[META_TOPIC_ID_LEN], int32_t partition,
			 uint8_t key[REPL_CHECKPOINT_KEY_LEN]);

#endif
