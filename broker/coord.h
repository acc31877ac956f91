/* coord.h: the group coordinator shell: the offsets topic, loading, appends, timers and parked group requests. */
#ifndef RUNNEL_BROKER_COORD_H
#define RUNNEL_BROKER_COORD_H

/*
 * The pure group coordinator (broker/group.h) decides; this shell does the
 * I/O around it, one struct group_coordinator per partition of
 * __consumer_offsets that this node leads:
 *
 *   - The offsets topic is created through the active controller the first
 *     time a FindCoordinator arrives and it does not exist (coord_locate);
 *     meanwhile clients are told COORDINATOR_NOT_AVAILABLE and retry.
 *   - A group lives in partition (murmur2(group id) & 0x7fffffff) % N of
 *     that topic, N being the topic's partition count; the partition's
 *     leader is the group's coordinator.
 *   - When this node becomes leader of an offsets partition, the shell
 *     replays the partition log from its start to its end at that moment
 *     (COORD_LOAD_CHUNK_BYTES per step of the loop, so a long log never
 *     stalls the node) into a fresh coordinator, which answers
 *     COORDINATOR_LOAD_IN_PROGRESS until the replay is over.  When the node
 *     stops leading it (or leads it in a new epoch), the coordinator is
 *     unloaded: parked requests get NOT_COORDINATOR and the clients look
 *     for the new coordinator.
 *   - The records the coordinator asks for are appended to its partition as
 *     one batch through the leader's append path and reported back
 *     (group_append_done) once the high watermark passed them, as an
 *     acks=all produce would be answered; an append that is not replicated
 *     within COORD_APPEND_TIMEOUT_MS fails with REQUEST_TIMED_OUT.
 *   - group_tick runs every COORD_TICK_MS.
 *
 * Parked requests.  The coordinator holds opaque handles for JoinGroup,
 * SyncGroup and OffsetCommit requests it answers later.  The handle is a
 * struct coord_wait owned by the shell, not the request itself: when the
 * client's connection closes first, the request is freed and the wait only
 * forgets it, so a late reply from the coordinator is dropped safely.
 */

#include "broker/group.h"

#include <stdbool.h>
#include <stdint.h>

struct node;
struct req;
struct coord;
struct coord_part;

/* The internal topic holding committed offsets and group metadata. */
#define COORD_OFFSETS_TOPIC "__consumer_offsets"
/* How often the coordinators' timers run (sessions, rebalance timeouts,
 * the initial rebalance delay). */
#define COORD_TICK_MS 100
/* Bytes of the offsets log replayed per step of the loop while loading. */
#define COORD_LOAD_CHUNK_BYTES (1024u * 1024u)
/* An append of the coordinator's records that the in-sync replicas have
 * not all taken within this long fails (Kafka's offsets.commit.timeout.ms). */
#define COORD_APPEND_TIMEOUT_MS 5000
/* Between two attempts to create the offsets topic. */
#define COORD_CREATE_RETRY_MS 1000
/* How long a CreateTopics call to a remote active controller may take. */
#define COORD_CREATE_CALL_TIMEOUT_MS 5000
/* Kafka's segment size for the offsets topic (offsets.topic.segment.bytes):
 * smaller than data topics so compaction can work on closed segments. */
#define COORD_OFFSETS_SEGMENT_BYTES "104857600"

/* What a parked group request is waiting for. */
enum coord_wait_kind {
	COORD_WAIT_JOIN = 1,
	COORD_WAIT_SYNC,
	COORD_WAIT_COMMIT,
	COORD_WAIT_DELETE,
};

/*
 * A parked request, the handle the coordinator holds.  Allocated by
 * coord_wait_new and freed by the shell once answered (or, when its request
 * went away, once nothing refers to it any more).
 */
struct coord_wait {
	struct coord_wait *prev;
	struct coord_wait *next;
	struct coord *c;
	struct req *r; /* NULL once the connection closed */
	enum coord_wait_kind kind;
	void *ctx;            /* the handler's response being built (in r's arena) */
	uint32_t outstanding; /* DeleteGroups: appends still to complete */
};

/* Creates the shell and starts its timer.  Returns 0 or RN_E_NOMEM. */
int coord_new(struct node *n, struct coord **out);

/* Unloads every coordinator (replies are dropped: the connections are
 * closed by then), cancels calls and frees.  NULL is fine. */
void coord_free(struct coord *c);

/* The metadata image changed: leaderships of offsets partitions are
 * checked at the end of this loop turn rather than at the next tick. */
void coord_on_metadata(struct coord *c);

/* True for the name of the internal offsets topic, which clients may read
 * but neither produce to nor delete. */
bool coord_is_internal_topic(const char *name);

/* True when group_id is a valid group id (1..GROUP_MAX_ID_LEN bytes). */
bool coord_group_id_valid(const char *group_id);

/*
 * Finds the coordinator of group_id: *partition receives its offsets
 * partition and *leader the node that leads it.  When the offsets topic
 * does not exist, asks the active controller to create it.
 * Returns 0, RN_E_INVALID_GROUP_ID or RN_E_COORDINATOR_NOT_AVAILABLE (no
 * topic yet, or the partition has no live leader).
 */
int coord_locate(struct coord *c, const char *group_id, int32_t *partition, int32_t *leader);

/*
 * The loaded coordinator of group_id on this node.
 * Returns 0 with *out, or RN_E_INVALID_GROUP_ID, RN_E_COORDINATOR_NOT_AVAILABLE
 * (no offsets topic), RN_E_NOT_COORDINATOR (this node does not lead the
 * group's partition) or RN_E_COORDINATOR_LOAD_IN_PROGRESS.
 */
int coord_lookup(struct coord *c, const char *group_id, struct coord_part **out);

/* The coordinator of a loaded partition. */
struct group_coordinator *coord_part_gc(struct coord_part *cp);

/* Calls cb for every coordinator this node has loaded; returns true when
 * some offsets partition it leads is still loading. */
bool coord_foreach_loaded(struct coord *c, void (*cb)(struct group_coordinator *gc, void *arg),
			  void *arg);

/* The clock the coordinators run on (wall-clock milliseconds, as the
 * timestamps of the records they write). */
int64_t coord_now_ms(void);

/* A new wait for request r (not yet parked).  Never NULL: running out of
 * memory stops the process, like req_alloc. */
struct coord_wait *coord_wait_new(struct coord *c, struct req *r, enum coord_wait_kind kind,
				  void *ctx);

/* Parks w's request: if its connection closes first, the wait forgets it. */
void coord_wait_park(struct coord_wait *w);

/* Frees a wait that nothing refers to any longer (answered, or its request
 * went away and no reply or append is due). */
void coord_wait_free(struct coord_wait *w);

/*
 * Carries out what a coordinator call produced: appends out->records to
 * cp's partition as one batch (when there are any) and sends the replies.
 * When done_cb is given it runs once that append completes (err 0 when
 * replicated) or fails, or at once with 0 when there is nothing to append.
 * out is cleared.
 */
void coord_apply(struct coord *c, struct coord_part *cp, struct group_out *out,
		 void (*done_cb)(void *arg, int err), void *arg);

/* ------------------------------------------------------------------------
 * Replies: h_group.c turns the coordinator's replies into responses.  Each
 * sends the response for w's request (unless it went away) and frees w.
 * ------------------------------------------------------------------------ */
void coord_reply_join(struct coord_wait *w, const struct group_join_reply *rep);
void coord_reply_sync(struct coord_wait *w, const struct group_sync_reply *rep);
void coord_reply_commit(struct coord_wait *w, const struct group_commit_reply *rep);

#endif
