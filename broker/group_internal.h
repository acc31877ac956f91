/* group_internal.h: the data structures shared by the group coordinator's files (group*.c). */
#ifndef RUNNEL_BROKER_GROUP_INTERNAL_H
#define RUNNEL_BROKER_GROUP_INTERNAL_H

/*
 * Not a public header: only broker/group.c, group_member.c and
 * group_offsets.c include it.  group.c holds the group table, the outputs,
 * loading and the read-only queries; group_member.c the membership protocol
 * (join, sync, heartbeat, leave, rebalances and time); group_offsets.c
 * commits, deletion and the appends waiting for replication.
 */

#include "broker/group.h"

/* One protocol a member offers. */
struct member_protocol {
	char name[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	uint8_t *metadata;
	size_t metadata_len;
};

struct group_member {
	char id[GROUP_MAX_MEMBER_ID_LEN + 1];
	char client_id[RN_MAX_CLIENT_ID_LEN + 1];
	char client_host[GROUP_MAX_HOST_LEN + 1];
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	struct member_protocol *protocols; /* in the member's order of preference */
	uint32_t protocol_count;
	uint8_t *assignment; /* of the current generation, NULL until synced */
	size_t assignment_len;
	int64_t session_deadline_ms;
	bool join_parked; /* a JoinGroup waits for the rebalance to complete */
	void *join_handle;
	bool sync_parked; /* a SyncGroup waits for the assignment */
	void *sync_handle;
};

/* One committed offset of a group. */
struct committed_offset {
	char topic[RN_MAX_TOPIC_NAME_LEN + 1];
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;
	char *metadata; /* malloc'd, never NULL */
	int64_t commit_timestamp_ms;
};

struct group {
	char id[GROUP_MAX_ID_LEN + 1];
	/* Distinguishes this group from an earlier one of the same id that was
	 * deleted, so that an append completing late does not touch it. */
	uint64_t incarnation;
	enum group_state state;
	int64_t state_timestamp_ms;
	char protocol_type[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	char protocol_name[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	int32_t generation;
	char leader[GROUP_MAX_MEMBER_ID_LEN + 1]; /* "" when none */
	struct group_member **members;            /* in join order */
	uint32_t member_count, member_cap;
	struct committed_offset *offsets; /* sorted by topic, then partition */
	uint32_t offset_count, offset_cap;
	/* PreparingRebalance: when the join phase ends at the latest. */
	int64_t join_deadline_ms;
	/* The join phase is the initial delay of a group that was Empty: it
	 * ends only at its deadline, extended while new members keep coming. */
	bool initial_delay;
	int64_t initial_remaining_ms;
	bool new_member_added;
	/* CompletingRebalance: the leader's assignment is being appended. */
	bool assignment_pending;
	/* A group record for this group is in the log (not deleted). */
	bool has_metadata;
};

enum effect_kind {
	EFFECT_COMMIT,     /* apply offsets and answer a commit */
	EFFECT_ASSIGNMENT, /* hand out an assignment, group becomes Stable */
};

/* What to do when an append completes. */
struct pending_effect {
	enum effect_kind kind;
	char group_id[GROUP_MAX_ID_LEN + 1];
	uint64_t incarnation;
	int32_t generation;                /* EFFECT_ASSIGNMENT */
	void *handle;                      /* EFFECT_COMMIT */
	struct committed_offset *offsets;  /* EFFECT_COMMIT, owned */
	uint32_t offset_count;
};

/* One append the shell was asked for and has not reported yet. */
struct pending_append {
	uint64_t id;
	struct pending_effect *effects;
	uint32_t effect_count, effect_cap;
	struct pending_append *next;
};

struct group_coordinator {
	struct group_config cfg;
	bool loading;
	struct group **groups; /* sorted by id */
	uint32_t group_count, group_cap;
	uint64_t next_incarnation;
	uint64_t next_append_id;
	uint64_t member_id_collisions;
	struct pending_append *pending; /* oldest first */
};

/* Allocation that aborts on exhaustion (see group.h). */
void *group_xcalloc(size_t n, size_t size);
void *group_xrealloc(void *p, size_t n, size_t size);
uint8_t *group_xmemdup(const void *p, size_t len);
char *group_xstrdup(const char *s);

/* Copies s into dst (a fixed field of max characters); false if it is too long. */
bool group_str_copy(char *dst, const char *s, size_t max);

/* Checks a group id: 0 or RN_E_INVALID_GROUP_ID. */
int group_id_check(const char *group_id);

/* Asserts that out is empty, as every call requires. */
void group_out_check_empty(const struct group_out *out);

/* Appends a zeroed reply or record to out and returns it. */
struct group_join_reply *group_out_join(struct group_out *out);
struct group_sync_reply *group_out_sync(struct group_out *out);
struct group_commit_reply *group_out_commit(struct group_out *out);
/* Also makes sure out->append_id names a pending append of gc. */
struct group_record *group_out_record(struct group_coordinator *gc, struct group_out *out);

/* The pending append out->append_id names (created with group_out_record). */
struct pending_append *group_pending_for(struct group_coordinator *gc, struct group_out *out);
struct pending_effect *group_pending_add(struct pending_append *pa);

/* The group table. */
struct group *group_find(struct group_coordinator *gc, const char *group_id);
/* Finds or creates an Empty group; RN_E_FULL at GROUP_MAX_GROUPS. */
int group_get_or_create(struct group_coordinator *gc, const char *group_id, int64_t now_ms,
			struct group **out);
/* Takes g out of the table and frees it; parked requests must be answered. */
void group_drop(struct group_coordinator *gc, struct group *g);
/* The group with this id and incarnation, or NULL. */
struct group *group_find_incarnation(struct group_coordinator *gc, const char *group_id,
				     uint64_t incarnation);

/* Members. */
struct group_member *group_member_find(struct group *g, const char *member_id);
void group_member_free(struct group_member *m);
/* Takes m out of g's list (not freed). */
void group_member_detach(struct group *g, struct group_member *m);
/* The member's metadata for protocol name, or NULL with *len 0. */
const uint8_t *group_member_metadata(const struct group_member *m, const char *name, size_t *len);

void group_set_state(struct group *g, enum group_state state, int64_t now_ms);

/* Emits a GroupValue record of g's current state into out. */
void group_emit_group_record(struct group_coordinator *gc, struct group *g, int64_t now_ms,
			     struct group_out *out);

/* Offsets. */
struct committed_offset *group_offset_find(struct group *g, const char *topic, int32_t partition);
void group_offset_put(struct group *g, const struct committed_offset *src);
void group_offset_remove(struct group *g, const char *topic, int32_t partition);

/* Membership helpers shared with group_offsets.c. */
void group_prepare_rebalance(struct group_coordinator *gc, struct group *g, int64_t now_ms,
			     struct group_out *out);
void group_reset_assignments(struct group *g);
/* The append holding the leader's assignment of generation for g finished
 * with error (0: replicated): hand it out, or rebalance. */
void group_assignment_done(struct group_coordinator *gc, struct group *g, int32_t generation,
			   int error, int64_t now_ms, struct group_out *out);

/* Maps an append's error to what the waiting requests are told. */
int group_append_error(int error);

/* Frees a pending append and what its effects own. */
void group_pending_free(struct pending_append *pa);

#endif
