/* cgroup.h: the consumer's group membership state, shared by consumer_group.c, consumer_join.c and consumer_offsets.c. */
#ifndef RUNNEL_CLIENTS_CGROUP_H
#define RUNNEL_CLIENTS_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#include "clients/consumer_int.h"
#include "wire/runnel.pb-c.h"

/* A JoinGroup or SyncGroup answer may wait for the whole rebalance
 * timeout (the coordinator parks it until every member rejoined); the
 * request is given this much longer before it counts as lost. */
#define CGROUP_JOIN_EXTRA_MS 5000
/* Longest single wait while a call to the coordinator is outstanding, so
 * that signals and other connections are looked at regularly. */
#define CGROUP_WAIT_SLICE_MS 100
/* The protocol type of consumer groups. */
#define CGROUP_PROTOCOL_TYPE "consumer"

struct cgroup_tp {
	char *topic; /* owned */
	int32_t partition;
};

struct cgroup {
	char *group_id;
	/* The subscription: sorted, without duplicates; and each topic's
	 * partition count when the assignment was made (-1: not known). */
	char **topics;
	size_t topic_count;
	int32_t *seen_counts;
	uint64_t seen_metadata_version;
	/* Assignor names offered in JoinGroup, most preferred first. */
	char *strategies[RUNNEL_MAX_ASSIGNORS];
	size_t strategy_count;
	int32_t coordinator; /* node id, -1 when it must be looked up */
	char *member_id;     /* "" until the coordinator gives one */
	int32_t generation;  /* -1: none */
	char *protocol;      /* the assignor the coordinator chose */
	/* The member holds the assignment of `generation`. */
	int stable;
	/* Rejoin at the next step (a rebalance began, the subscription or the
	 * partition counts changed, or a join failed). */
	int need_join;
	/* The generation whose partitions the member held until it began to
	 * rejoin cleanly (-1: none, or they were lost). */
	int32_t keep_from_generation;
	/* Bumped at every join: answers to heartbeats and commits sent for an
	 * older membership are ignored. */
	uint32_t epoch;
	/* What the member was assigned last (for the sticky assignor and for
	 * the hand-over to the next generation). */
	struct cgroup_tp *owned;
	size_t owned_count;
	int64_t retry_at_ms; /* no coordinator traffic before this */
	int64_t next_heartbeat_ms;
	int heartbeat_inflight;
	int64_t next_commit_ms;
	int commit_inflight;
	int64_t next_metadata_ms;
	int async_err; /* from a heartbeat or auto commit, for the next step */
};

/* What to do after an error of the coordinator (or of reaching it). */
enum cgroup_next {
	CGROUP_OK,
	CGROUP_RETRY,  /* the same coordinator, after a backoff */
	CGROUP_FIND,   /* look the coordinator up again */
	CGROUP_REJOIN, /* a rebalance began: join again, the assignment is still ours */
	CGROUP_LOST,   /* the generation is gone: the assignment is lost */
	CGROUP_RESET,  /* the member id is gone too */
	CGROUP_FATAL,  /* report to the application */
};

enum cgroup_next cgroup_classify(int err);

/* Acts on err as cgroup_classify says.  Returns err when it is fatal,
 * else 0. */
int cgroup_handle_error(struct runnel_consumer *c, int err);

/* Sends req to the coordinator and waits for the answer until deadline_ms
 * or, when interruptible, until a signal (RN_E_AGAIN).  Returns 0 with
 * *out owned by the caller, the response's top-level error, a connection
 * error, RN_E_TIMEOUT or RN_E_COORDINATOR_NOT_AVAILABLE (no address). */
int cgroup_call(struct runnel_consumer *c, Runnel__Request *req, int32_t api_key,
		int64_t deadline_ms, int interruptible, Runnel__Response **out);

/* Asks any node for the group's coordinator and remembers it.  Returns 0
 * or the error (COORDINATOR_NOT_AVAILABLE while the offsets topic is being
 * created, INVALID_GROUP_ID, connection errors). */
int cgroup_find_coordinator(struct runnel_consumer *c, int64_t deadline_ms);

/* Commits the positions (with enable_auto_commit), tells the application
 * its partitions are revoked, then joins and syncs.  Returns 0 (joined,
 * or a retriable failure to try again later) or a fatal error. */
int cgroup_rejoin(struct runnel_consumer *c);

/* Tells the application the current partitions are revoked or lost and
 * stops reading them; the member is no longer stable. */
void cgroup_drop_assignment(struct runnel_consumer *c, enum runnel_rebalance_event ev);

/* Makes tps[0..n) the assignment (see consumer_group.c).  Returns 0 or
 * RN_E_NOMEM. */
int cgroup_apply_assignment(struct runnel_consumer *c, const struct runnel_topic_partition *tps,
			    size_t n);

/* Remembers the subscribed topics' partition counts as they are now. */
void cgroup_snapshot_counts(struct runnel_consumer *c);

/* Fetches the committed offsets of the partitions awaiting them and
 * starts each there (or as auto_offset_reset says).  Returns 0 or a fatal
 * error. */
int cgroup_fetch_awaiting(struct runnel_consumer *c);

/* Queues an OffsetCommit of tps[0..n) for the current membership on cn
 * with cb.  Returns 0 or the send error (cb is then not called). */
int cgroup_send_commit(struct runnel_consumer *c, struct conn *cn,
		       const struct runnel_topic_partition *tps, size_t n, conn_response_cb cb,
		       void *opaque);

/* The first error of an OffsetCommit answer (top level, then per
 * partition), or 0. */
int cgroup_commit_result(struct runnel_consumer *c, const Runnel__OffsetCommitResponse *r);

#endif
