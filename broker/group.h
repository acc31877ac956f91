/* group.h: the consumer group coordinator of one offsets partition, as a pure state machine. */
#ifndef RUNNEL_BROKER_GROUP_H
#define RUNNEL_BROKER_GROUP_H

/*
 * Kafka's classic group protocol (docs/consumer-groups.md).  One
 * struct group_coordinator serves the groups that map to one partition of
 * __consumer_offsets while this node leads that partition.  It reads no
 * clock, touches no socket or file and draws no random numbers: the shell
 * (the node's coordinator code) passes now_ms and random bytes in, appends
 * the records the coordinator asks for, and sends the replies it hands out.
 *
 * Life of a coordinator:
 *   group_coordinator_create           on gaining leadership of the partition
 *   group_load_record ...              each record of the partition, in log order
 *   group_load_complete                when the replay reached the log end;
 *                                      until then every request gets
 *                                      COORDINATOR_LOAD_IN_PROGRESS
 *   group_join, group_sync, ...        requests
 *   group_tick                         every 100-250 ms
 *   group_append_done                  when an append it asked for is
 *                                      replicated (high watermark past it) or failed
 *   group_unload, then _destroy        on losing leadership
 *
 * Outputs.  Every call that can answer requests or write records takes a
 * struct group_out.  It must be empty when the call starts (fresh from
 * group_out_init or group_out_clear); after the call the shell:
 *   1. appends out->records, if any, to the offsets partition as one batch
 *      in the given order and later calls group_append_done(out->append_id);
 *   2. sends every reply in out->joins, out->syncs and out->commits to the
 *      request its handle names (the opaque handle the shell passed in);
 *   3. calls group_out_clear.
 * Replies may answer requests parked by earlier calls: a JoinGroup waits
 * for the rest of the group, a SyncGroup for the leader's assignment and its
 * append, an OffsetCommit for its append.
 *
 * Handles.  group_join, group_sync and group_commit_offsets return 0 when
 * they took the request's handle: exactly one reply for that handle then
 * comes out, in this call's out or a later one (group_unload answers every
 * handle still held, with NOT_COORDINATOR).  A negative return means the
 * handle was not taken and the shell answers the request with that error.
 *
 * Memory exhaustion inside the coordinator aborts the process, as Redis
 * does: group state half-updated by a failed allocation could not be trusted.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/group_record.h"
#include "common/limits.h"

/* Groups one coordinator holds at once; a join or commit that would create
 * one more gets RN_E_FULL. */
#define GROUP_MAX_GROUPS 100000u

/* Protocols (assignors) one JoinGroup may offer (INCONSISTENT_GROUP_PROTOCOL
 * beyond). */
#define GROUP_MAX_PROTOCOLS 16u

/* Random bytes the shell supplies with each JoinGroup, from which a new
 * member's id is made (formatted as a UUID). */
#define GROUP_MEMBER_ID_RANDOM_BYTES 16u

/* Defaults of the node settings that drive the coordinator (Kafka's). */
#define GROUP_DEFAULT_MIN_SESSION_TIMEOUT_MS 6000
#define GROUP_DEFAULT_MAX_SESSION_TIMEOUT_MS 1800000
#define GROUP_DEFAULT_INITIAL_REBALANCE_DELAY_MS 3000

/* Group states, as Kafka names them. */
enum group_state {
	GROUP_STATE_EMPTY = 0,           /* no members; may hold offsets */
	GROUP_STATE_PREPARING_REBALANCE, /* waiting for members to (re)join */
	GROUP_STATE_COMPLETING_REBALANCE,/* joined; waiting for the leader's assignment */
	GROUP_STATE_STABLE,              /* assignment handed out; heartbeats flow */
	GROUP_STATE_DEAD,                /* deleted or never existed */
};

/* "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead". */
const char *group_state_name(enum group_state state);

/* Node settings the coordinator obeys. */
struct group_config {
	int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms */
	int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms */
	int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms, >= 0 */
	uint32_t max_group_size;            /* group.max.size, 1..GROUP_MAX_MEMBERS */
};

/* Fills cfg with the defaults above and max_group_size GROUP_MAX_MEMBERS. */
void group_config_default(struct group_config *cfg);

struct group_coordinator;

/* ------------------------------------------------------------------ outputs */

/* A member as the leader's JoinGroup reply lists it. */
struct group_join_member {
	char member_id[GROUP_MAX_MEMBER_ID_LEN + 1];
	char client_id[RN_MAX_CLIENT_ID_LEN + 1];
	char client_host[GROUP_MAX_HOST_LEN + 1];
	uint8_t *metadata; /* its subscription for the chosen protocol; owned by the out */
	size_t metadata_len;
};

/* The reply to one JoinGroup. */
struct group_join_reply {
	void *handle;
	int error; /* 0 or a negative RN_E_* code; on error only member_id may be set */
	int32_t generation_id;
	char protocol_type[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	char protocol_name[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	char leader[GROUP_MAX_MEMBER_ID_LEN + 1];
	char member_id[GROUP_MAX_MEMBER_ID_LEN + 1];
	struct group_join_member *members; /* the leader's reply only; owned by the out */
	uint32_t member_count;
};

/* The reply to one SyncGroup. */
struct group_sync_reply {
	void *handle;
	int error;
	char protocol_name[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	uint8_t *assignment; /* this member's ConsumerAssignment bytes; owned by the out */
	size_t assignment_len;
};

/* The reply to one OffsetCommit: one error for every partition it named. */
struct group_commit_reply {
	void *handle;
	int error;
};

/* What one call produced.  Arrays are owned by the out. */
struct group_out {
	struct group_join_reply *joins;
	uint32_t join_count, join_cap;
	struct group_sync_reply *syncs;
	uint32_t sync_count, sync_cap;
	struct group_commit_reply *commits;
	uint32_t commit_count, commit_cap;
	/* Records to append as one batch, in order; append_id (never 0) names
	 * the append in group_append_done.  append_id is 0 when there are none. */
	struct group_record *records;
	uint32_t record_count, record_cap;
	uint64_t append_id;
};

/* Makes out empty. */
void group_out_init(struct group_out *out);

/* Frees everything out holds and makes it empty again. */
void group_out_clear(struct group_out *out);

/* ------------------------------------------------------------- lifecycle */

/*
 * Creates an empty coordinator in the loading state.
 *   cfg  copied; min <= max session timeouts, both > 0, delay >= 0,
 *        max_group_size in 1..GROUP_MAX_MEMBERS
 *   out  receives the coordinator; free it with group_coordinator_destroy
 * Returns 0 or RN_E_INVAL (cfg out of range).
 */
int group_coordinator_create(const struct group_config *cfg, struct group_coordinator **out);

/* Frees gc and everything it holds without answering anything; call
 * group_unload first when requests may still be parked.  NULL is a no-op. */
void group_coordinator_destroy(struct group_coordinator *gc);

/*
 * Applies one replayed record (the shell decodes it with
 * wire/group_codec.h).  Records must come in log order, before
 * group_load_complete.  A later record for the same key replaces an earlier
 * one; a tombstone deletes it.
 * Returns 0, RN_E_INVAL (called after group_load_complete, or a record that
 * breaks a limit: it is skipped and loading may go on) or RN_E_FULL (more
 * than GROUP_MAX_GROUPS groups).
 */
int group_load_record(struct group_coordinator *gc, const struct group_record *rec);

/*
 * Ends loading: groups with members become Stable with each member's session
 * starting at now_ms (their clients heartbeat or rejoin), the others Empty.
 */
void group_load_complete(struct group_coordinator *gc, int64_t now_ms);

/* True between create and group_load_complete. */
bool group_is_loading(const struct group_coordinator *gc);

/*
 * Answers every parked JoinGroup and SyncGroup and every commit waiting for
 * its append with RN_E_NOT_COORDINATOR, and forgets every group, as the node
 * no longer leads the partition.  Later group_append_done calls for earlier
 * appends are ignored.  The coordinator is left empty and not loading.
 */
void group_unload(struct group_coordinator *gc, struct group_out *out);

/* ------------------------------------------------------------- requests */

/* One protocol (assignor) a joining member offers, most preferred first. */
struct group_protocol {
	const char *name;        /* e.g. "range" */
	const uint8_t *metadata; /* a ConsumerSubscription */
	size_t metadata_len;
};

struct group_join_request {
	const char *group_id;
	const char *member_id;   /* "" or NULL on the first join */
	const char *client_id;   /* from the request header or body; NULL is "" */
	const char *client_host; /* the peer's address; NULL is "" */
	const char *protocol_type; /* "consumer" */
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms; /* <= 0: the session timeout */
	const struct group_protocol *protocols;
	uint32_t protocol_count;
	/* GROUP_MEMBER_ID_RANDOM_BYTES bytes from the shell's random source;
	 * used only when member_id is empty. */
	const uint8_t *random;
	void *handle;
};

/*
 * A member joins (or rejoins) the group.  The reply comes once the group's
 * rebalance completes: every known member rejoined, the rebalance timeout
 * passed, or for a group starting from Empty the initial rebalance delay
 * passed.  A member rejoining a Stable group with unchanged protocols is
 * answered at once with the current generation.
 * Returns 0 (handle taken) or, handle not taken:
 *   RN_E_COORDINATOR_LOAD_IN_PROGRESS  still loading
 *   RN_E_INVALID_GROUP_ID              empty or longer than GROUP_MAX_ID_LEN
 *   RN_E_INVALID_SESSION_TIMEOUT       outside [min, max] of the config
 *   RN_E_INCONSISTENT_GROUP_PROTOCOL   no protocols, too many, a name too
 *                                      long, or none in common with the group
 *   RN_E_UNKNOWN_MEMBER_ID             a member id the group does not know
 *   RN_E_GROUP_MAX_SIZE_REACHED        the group is full
 *   RN_E_INVALID_REQUEST               metadata over GROUP_MAX_METADATA_BYTES,
 *                                      client id or host too long, random NULL
 *   RN_E_FULL                          GROUP_MAX_GROUPS reached
 */
int group_join(struct group_coordinator *gc, const struct group_join_request *req,
	       int64_t now_ms, struct group_out *out);

/* One member's share, as the leader sends it. */
struct group_assignment {
	const char *member_id;
	const uint8_t *assignment; /* a ConsumerAssignment */
	size_t assignment_len;
};

struct group_sync_request {
	const char *group_id;
	int32_t generation_id;
	const char *member_id;
	const char *protocol_type; /* NULL or "": not checked */
	const char *protocol_name; /* NULL or "": not checked */
	const struct group_assignment *assignments; /* the leader's only */
	uint32_t assignment_count;
	void *handle;
};

/*
 * A member collects its assignment.  In CompletingRebalance the reply waits
 * until the leader's SyncGroup arrives and the group record holding the
 * assignment is replicated (out->records carries it); in Stable it comes at
 * once.  Members the leader leaves out get an empty assignment.
 * Returns 0 (handle taken) or, handle not taken:
 *   RN_E_COORDINATOR_LOAD_IN_PROGRESS, RN_E_INVALID_GROUP_ID,
 *   RN_E_UNKNOWN_MEMBER_ID (unknown group or member, or the group is Empty),
 *   RN_E_ILLEGAL_GENERATION, RN_E_INCONSISTENT_GROUP_PROTOCOL,
 *   RN_E_REBALANCE_IN_PROGRESS (PreparingRebalance: rejoin),
 *   RN_E_INVALID_REQUEST (an assignment over GROUP_MAX_METADATA_BYTES or
 *   naming a member id twice).
 */
int group_sync(struct group_coordinator *gc, const struct group_sync_request *req,
	       int64_t now_ms, struct group_out *out);

/*
 * A member's heartbeat: extends its session.
 * Returns 0, RN_E_REBALANCE_IN_PROGRESS (the member must rejoin; its
 * session is extended all the same), RN_E_COORDINATOR_LOAD_IN_PROGRESS,
 * RN_E_INVALID_GROUP_ID, RN_E_UNKNOWN_MEMBER_ID or RN_E_ILLEGAL_GENERATION.
 */
int group_heartbeat(struct group_coordinator *gc, const char *group_id, const char *member_id,
		    int32_t generation_id, int64_t now_ms);

/*
 * Members leave the group, which rebalances without them (or becomes
 * Empty).  Every known member named leaves even if another is unknown.
 * Returns 0, RN_E_UNKNOWN_MEMBER_ID (the group or one of the members is
 * unknown), RN_E_COORDINATOR_LOAD_IN_PROGRESS or RN_E_INVALID_GROUP_ID.
 */
int group_leave(struct group_coordinator *gc, const char *group_id,
		const char *const *member_ids, uint32_t member_count, int64_t now_ms,
		struct group_out *out);

/* One committed position. */
struct group_offset_commit {
	const char *topic;
	int32_t partition;
	int64_t offset; /* the next offset to read, >= 0 */
	int32_t leader_epoch;
	const char *metadata; /* NULL is "" */
};

struct group_commit_request {
	const char *group_id;
	/* -1 with an empty member id commits from outside the membership
	 * (manual assignment, `group seek`): accepted only while the group has
	 * no members, and creates the group when it does not exist. */
	int32_t generation_id;
	const char *member_id;
	const struct group_offset_commit *offsets;
	uint32_t offset_count; /* at most RN_MAX_PARTITIONS_PER_REQUEST */
	void *handle;
};

/*
 * Commits offsets.  out->records gets one offset record per entry; the
 * reply (and the offsets becoming visible to group_fetch_offsets) waits for
 * group_append_done.  A member's commit also extends its session.  Commits
 * are accepted in Stable and PreparingRebalance (so members commit before
 * giving partitions away).
 * Returns 0 (handle taken) or, handle not taken:
 *   RN_E_COORDINATOR_LOAD_IN_PROGRESS, RN_E_INVALID_GROUP_ID,
 *   RN_E_UNKNOWN_MEMBER_ID, RN_E_ILLEGAL_GENERATION (an older generation:
 *   a zombie), RN_E_REBALANCE_IN_PROGRESS (CompletingRebalance),
 *   RN_E_NON_EMPTY_GROUP (generation -1 while the group has members),
 *   RN_E_INVALID_TOPIC (a bad topic name), RN_E_INVALID_REQUEST (a negative
 *   partition or offset, metadata over GROUP_MAX_COMMIT_METADATA_BYTES, too
 *   many offsets), RN_E_FULL.
 */
int group_commit_offsets(struct group_coordinator *gc, const struct group_commit_request *req,
			 int64_t now_ms, struct group_out *out);

/* A topic partition to look up. */
struct group_topic_partition {
	const char *topic;
	int32_t partition;
};

/* One committed offset as group_fetch_offsets reports it. */
struct group_offset_entry {
	char topic[RN_MAX_TOPIC_NAME_LEN + 1];
	int32_t partition;
	int64_t offset; /* -1: nothing committed */
	int32_t leader_epoch; /* -1 when offset is -1 */
	char *metadata;       /* malloc'd, never NULL */
};

/* A list of offsets; free with group_offset_list_free. */
struct group_offset_list {
	struct group_offset_entry *entries;
	uint32_t count;
};

/*
 * The group's committed offsets for the partitions named (count 0: every
 * partition it has committed, sorted by topic then partition).  An unknown
 * group has no commits: each named partition reports -1.
 * Returns 0, RN_E_COORDINATOR_LOAD_IN_PROGRESS or RN_E_INVALID_GROUP_ID; on
 * error out is empty.
 */
int group_fetch_offsets(struct group_coordinator *gc, const char *group_id,
			const struct group_topic_partition *tps, uint32_t count,
			struct group_offset_list *out);

void group_offset_list_free(struct group_offset_list *list);

/* A member as DescribeGroups shows it. */
struct group_member_description {
	char member_id[GROUP_MAX_MEMBER_ID_LEN + 1];
	char client_id[RN_MAX_CLIENT_ID_LEN + 1];
	char client_host[GROUP_MAX_HOST_LEN + 1];
	uint8_t *metadata; /* subscription for the group's protocol, or NULL */
	size_t metadata_len;
	uint8_t *assignment; /* current assignment, or NULL */
	size_t assignment_len;
};

/* One group; free with group_description_free. */
struct group_description {
	char group_id[GROUP_MAX_ID_LEN + 1];
	enum group_state state;
	char protocol_type[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	char protocol_name[GROUP_MAX_PROTOCOL_NAME_LEN + 1]; /* "" until chosen */
	int32_t generation_id;
	char leader[GROUP_MAX_MEMBER_ID_LEN + 1];
	struct group_member_description *members;
	uint32_t member_count;
};

/*
 * Describes one group.
 * Returns 0, RN_E_GROUP_ID_NOT_FOUND, RN_E_COORDINATOR_LOAD_IN_PROGRESS or
 * RN_E_INVALID_GROUP_ID; on error out is zeroed and owns nothing.
 */
int group_describe(struct group_coordinator *gc, const char *group_id,
		   struct group_description *out);

void group_description_free(struct group_description *desc);

/* One line of ListGroups. */
struct group_listing {
	char group_id[GROUP_MAX_ID_LEN + 1];
	char protocol_type[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	enum group_state state;
	int32_t member_count;
};

/*
 * Every group the coordinator holds, sorted by id.
 *   out, count  receive a malloc'd array (NULL when empty) freed with free()
 * Returns 0 or RN_E_COORDINATOR_LOAD_IN_PROGRESS.
 */
int group_list(struct group_coordinator *gc, struct group_listing **out, uint32_t *count);

/*
 * Deletes a group without members and its committed offsets: out->records
 * gets a tombstone for every offset and one for the group.  The group is
 * gone from this coordinator at once; the shell may answer after the append.
 * Returns 0, RN_E_GROUP_ID_NOT_FOUND, RN_E_NON_EMPTY_GROUP,
 * RN_E_COORDINATOR_LOAD_IN_PROGRESS or RN_E_INVALID_GROUP_ID.
 */
int group_delete(struct group_coordinator *gc, const char *group_id, int64_t now_ms,
		 struct group_out *out);

/* ------------------------------------------------------------ time, appends */

/*
 * Advances time: removes members whose session expired (no heartbeat,
 * commit, join or sync within session_timeout_ms, unless a join or sync of
 * theirs is parked), ends initial rebalance delays and rebalance timeouts
 * (members that did not rejoin are removed), and answers what that settles.
 */
void group_tick(struct group_coordinator *gc, int64_t now_ms, struct group_out *out);

/*
 * Reports the outcome of the append named append_id: error 0 once the
 * records are replicated (the high watermark passed the last), or the
 * negative code the append failed with.  On success the commits become
 * visible and are answered, and a stored assignment is handed out (the
 * group becomes Stable).  On failure the waiting requests get the error as
 * Kafka maps it (NOT_LEADER_OR_FOLLOWER to NOT_COORDINATOR; not enough
 * replicas, time-outs and unknown partitions to COORDINATOR_NOT_AVAILABLE;
 * others unchanged) and a failed assignment makes the group rebalance.  An
 * unknown append_id is ignored.
 */
void group_append_done(struct group_coordinator *gc, uint64_t append_id, int error,
		       int64_t now_ms, struct group_out *out);

#endif
