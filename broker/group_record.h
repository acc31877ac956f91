/* group_record.h: the records of the __consumer_offsets topic as plain structs. */
#ifndef RUNNEL_BROKER_GROUP_RECORD_H
#define RUNNEL_BROKER_GROUP_RECORD_H

/*
 * The group coordinator (broker/group.h) emits these records for the shell
 * to append to its offsets partition, and takes them back one by one when a
 * new leader of that partition replays it (group_load_record).
 * wire/group_codec.h turns them into the key and value bytes of
 * wire/group.proto and back, so neither the coordinator nor its tests see a
 * protobuf type.
 *
 * Strings that name things (ids, topics, protocol names) are fixed arrays
 * whose lengths are the limits below; byte strings of unbounded content
 * (commit metadata, member subscriptions and assignments) are malloc'd and
 * owned by the record: group_record_clear frees them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"

/* Longest group id (INVALID_GROUP_ID beyond; an empty id is invalid too). */
#define GROUP_MAX_ID_LEN 255u

/* Longest member id.  The coordinator makes ids of the client id, a dash and
 * a 36-character UUID, so this holds RN_MAX_CLIENT_ID_LEN + 37. */
#define GROUP_MAX_MEMBER_ID_LEN (RN_MAX_CLIENT_ID_LEN + 37u)

/* Longest protocol type ("consumer") or assignor name ("range"). */
#define GROUP_MAX_PROTOCOL_NAME_LEN 63u

/* Longest client host a member is described with. */
#define GROUP_MAX_HOST_LEN RN_MAX_ADDRESS_LEN

/* Largest commit metadata string (Kafka's offset.metadata.max.bytes). */
#define GROUP_MAX_COMMIT_METADATA_BYTES 4096u

/* Largest subscription or assignment blob of one member. */
#define GROUP_MAX_METADATA_BYTES (1024u * 1024u)

/* Hard cap on the members of one group (group.max.size may be lower). */
#define GROUP_MAX_MEMBERS 4096u

enum group_record_type {
	GROUP_RECORD_OFFSET = 1, /* key OffsetKey, value OffsetValue */
	GROUP_RECORD_GROUP = 2,  /* key GroupKey, value GroupValue */
};

/* One member inside a GroupValue. */
struct group_member_record {
	char member_id[GROUP_MAX_MEMBER_ID_LEN + 1];
	char client_id[RN_MAX_CLIENT_ID_LEN + 1];
	char client_host[GROUP_MAX_HOST_LEN + 1];
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	uint8_t *subscription; /* malloc'd or NULL when subscription_len is 0 */
	size_t subscription_len;
	uint8_t *assignment; /* malloc'd or NULL when assignment_len is 0 */
	size_t assignment_len;
};

/*
 * One record.  type and group_id (and for offsets topic and partition) form
 * the key; tombstone means a null value, which deletes the key.  Only the
 * fields of the record's type are meaningful.
 */
struct group_record {
	enum group_record_type type;
	char group_id[GROUP_MAX_ID_LEN + 1];
	bool tombstone;

	/* GROUP_RECORD_OFFSET: key */
	char topic[RN_MAX_TOPIC_NAME_LEN + 1];
	int32_t partition;
	/* GROUP_RECORD_OFFSET: value */
	int64_t offset; /* the next offset the group reads */
	int32_t leader_epoch;
	char *metadata; /* malloc'd NUL-terminated string, or NULL for "" */
	int64_t commit_timestamp_ms;

	/* GROUP_RECORD_GROUP: value */
	char protocol_type[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	int32_t generation_id;
	char protocol_name[GROUP_MAX_PROTOCOL_NAME_LEN + 1];
	char leader[GROUP_MAX_MEMBER_ID_LEN + 1];
	int64_t state_timestamp_ms;
	struct group_member_record *members; /* malloc'd array or NULL */
	uint32_t member_count;
};

/* Frees what r owns and zeroes it; r itself is not freed.  Safe on a zeroed
 * record and on a record already cleared. */
static inline void group_record_clear(struct group_record *r)
{
	free(r->metadata);
	for (uint32_t i = 0; i < r->member_count; i++) {
		free(r->members[i].subscription);
		free(r->members[i].assignment);
	}
	free(r->members);
	memset(r, 0, sizeof(*r));
}

#endif
