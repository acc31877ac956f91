/* metadata.h: the metadata image (brokers, topics, partitions, configs) built by applying metadata records. */
#ifndef RUNNEL_CONTROLLER_METADATA_H
#define RUNNEL_CONTROLLER_METADATA_H

/*
 * Every change to cluster metadata is one meta_record carried by one entry of
 * the Raft-replicated metadata log.  Each node applies committed records in
 * log order to its meta_image, so every node builds the same image.  The
 * image is pure data: no I/O, no clock, no protobuf types (wire/meta_codec.h
 * converts records to and from bytes).
 *
 * meta_image_apply validates each record against the image and refuses one
 * that cannot follow from it (for example a partition of an unknown topic)
 * with RN_E_CORRUPT_STATE, leaving the image unchanged: such a record means
 * the log or the code that wrote it is wrong.
 *
 * Pointers returned by the accessors stay valid until the next
 * meta_image_apply or meta_image_free.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

/* Longest cluster id (Kafka's are 22 characters of URL-safe base64). */
#define META_CLUSTER_ID_MAX_LEN 39u
/* Length of a topic id (a random UUID). */
#define META_TOPIC_ID_LEN 16u
/* Node ids are 0..META_MAX_NODE_ID; -1 marks "no leader". */
#define META_MAX_NODE_ID 0x7fffffff
#define META_NO_LEADER (-1)
/* Length of a broker incarnation id (random bytes chosen at each start). */
#define META_INCARNATION_ID_LEN 16u
/* Longest rack name a broker may announce. */
#define META_MAX_RACK_LEN 255u
/* Cluster-wide config defaults the image holds at most (one per key). */
#define META_MAX_CLUSTER_CONFIGS RN_MAX_CONFIGS_PER_TOPIC
/* Listeners a broker may announce, and the longest listener name. */
#define META_MAX_ENDPOINTS 8u
#define META_MAX_LISTENER_NAME_LEN 63u

enum meta_record_type {
	META_REC_CLUSTER = 1,
	META_REC_REGISTER_BROKER,
	META_REC_FENCE_BROKER,
	META_REC_TOPIC,
	META_REC_PARTITION,
	META_REC_REMOVE_TOPIC,
	META_REC_PARTITION_CHANGE,
	META_REC_CONFIG,
	META_REC_PRODUCER_IDS,
};

/* Producer ids are 0..META_MAX_PRODUCER_ID; next_producer_id reaches at
 * most META_MAX_PRODUCER_ID + 1 == INT64_MAX, after which no id is left. */
#define META_MAX_PRODUCER_ID (INT64_MAX - 1)

/* A named listener of a broker (for example "CLIENT" or "CONTROLLER"). */
struct meta_endpoint {
	char name[META_MAX_LISTENER_NAME_LEN + 1];
	char host[RN_MAX_ADDRESS_LEN + 1];
	int32_t port;
};

/* A topic configuration override (key and value), e.g. retention.ms=3600000. */
struct meta_config_entry {
	char name[RN_MAX_CONFIG_VALUE_LEN + 1];
	char value[RN_MAX_CONFIG_VALUE_LEN + 1];
};

struct meta_record {
	enum meta_record_type type;
	union {
		/* The cluster's id, recorded once when the cluster is created. */
		struct {
			char cluster_id[META_CLUSTER_ID_MAX_LEN + 1];
		} cluster;
		/* A broker (re)registers: the address clients use (host, port),
		 * the epoch of this start, and the broker's fenced state from now
		 * on.  Brokers registered through the lifecycle
		 * (controller/lifecycle.h) start fenced and are unfenced once
		 * they have caught up with the metadata log; older records
		 * (fenced false) register an unfenced broker.
		 * registered_index is 0 in log records, where the image uses the
		 * index of the entry carrying the record; snapshots carry the
		 * original index there so that a rebuilt image is equal. */
		struct {
			int32_t node_id;
			int64_t broker_epoch;
			char host[RN_MAX_ADDRESS_LEN + 1];
			int32_t port;
			uint8_t incarnation_id[META_INCARNATION_ID_LEN];
			char rack[META_MAX_RACK_LEN + 1]; /* "" when not given */
			uint32_t endpoint_count;
			struct meta_endpoint endpoints[META_MAX_ENDPOINTS];
			bool fenced;
			uint64_t registered_index;
		} broker;
		/* Fences (fenced true) or unfences a registered broker. */
		struct {
			int32_t node_id;
			bool fenced;
		} fence;
		/* A topic is created; its partitions follow as PARTITION records.
		 * configs holds the overrides only (malloc'd, owned by the record). */
		struct {
			char name[RN_MAX_TOPIC_NAME_LEN + 1];
			uint8_t topic_id[META_TOPIC_ID_LEN];
			uint32_t config_count;
			struct meta_config_entry *configs;
		} topic;
		/* A partition is created (partition == current count) or changes
		 * (partition < count: new leader, ISR or epochs). */
		struct {
			uint8_t topic_id[META_TOPIC_ID_LEN];
			int32_t partition;
			uint32_t replica_count;
			int32_t replicas[RN_MAX_REPLICATION_FACTOR];
			uint32_t isr_count;
			int32_t isr[RN_MAX_REPLICATION_FACTOR];
			int32_t leader; /* META_NO_LEADER when none */
			int32_t leader_epoch;
			int32_t partition_epoch;
		} partition;
		struct {
			uint8_t topic_id[META_TOPIC_ID_LEN];
		} remove_topic;
		/* Changes an existing partition: only the fields marked present
		 * change; both epochs are the new absolute values.  A change
		 * whose partition_epoch is not above the partition's current one
		 * was computed from an older state and is ignored. */
		struct {
			uint8_t topic_id[META_TOPIC_ID_LEN];
			int32_t partition;
			bool has_leader;
			int32_t leader; /* META_NO_LEADER: offline */
			bool has_isr;
			uint32_t isr_count;
			int32_t isr[RN_MAX_REPLICATION_FACTOR];
			int32_t leader_epoch;
			int32_t partition_epoch;
		} partition_change;
		/* Sets (remove false) or removes (remove true) one topic config
		 * override, or, when topic_id is all zeros, one cluster-wide
		 * default that applies to every topic without an override. */
		struct {
			uint8_t topic_id[META_TOPIC_ID_LEN];
			char name[RN_MAX_CONFIG_VALUE_LEN + 1];
			char value[RN_MAX_CONFIG_VALUE_LEN + 1];
			bool remove;
		} config;
		/* Producer ids below next_producer_id have been handed out
		 * (Kafka's ProducerIdsRecord).  Each record raises it: ids are
		 * never handed out twice, and never go backwards. */
		struct {
			int64_t next_producer_id;
		} producer_ids;
	} u;
};

struct meta_partition {
	int32_t partition;
	uint32_t replica_count;
	int32_t replicas[RN_MAX_REPLICATION_FACTOR];
	uint32_t isr_count;
	int32_t isr[RN_MAX_REPLICATION_FACTOR];
	int32_t leader;
	int32_t leader_epoch;
	int32_t partition_epoch;
};

struct meta_topic {
	char name[RN_MAX_TOPIC_NAME_LEN + 1];
	uint8_t id[META_TOPIC_ID_LEN];
	uint32_t partition_count; /* PARTITION records applied so far */
	struct meta_partition *partitions; /* indexed by partition number */
	uint32_t config_count;             /* overrides only; defaults in controller.h */
	struct meta_config_entry *configs;
};

struct meta_broker {
	int32_t node_id;
	int64_t epoch;
	char host[RN_MAX_ADDRESS_LEN + 1];
	int32_t port;
	bool fenced;
	uint8_t incarnation_id[META_INCARNATION_ID_LEN];
	char rack[META_MAX_RACK_LEN + 1]; /* "" when not given */
	uint32_t endpoint_count;
	struct meta_endpoint endpoints[META_MAX_ENDPOINTS];
	/* The log index of the registration record: a broker whose applied
	 * metadata index reaches it has caught up with its own registration. */
	uint64_t registered_index;
};

struct meta_image;

/* Creates an empty image (no cluster id, no brokers, no topics, applied 0).
 * Returns 0 or RN_E_NOMEM. */
int meta_image_new(struct meta_image **out);
void meta_image_free(struct meta_image *img);

/*
 * Applies the record carried by log entry `index` (which must be greater than
 * the last applied index).  The record stays owned by the caller.
 * Validation and effects:
 *   CLUSTER          sets the cluster id; a different id than the one
 *                    already set is RN_E_CORRUPT_STATE
 *   REGISTER_BROKER  adds or replaces the broker, fenced as the record
 *                    says; node_id outside 0..META_MAX_NODE_ID, an empty
 *                    host, a port outside 1..65535 (also in endpoints),
 *                    more than META_MAX_ENDPOINTS endpoints, a
 *                    registered_index above `index`, or an epoch lower
 *                    than the registered one is RN_E_CORRUPT_STATE; more
 *                    than RN_MAX_NODES brokers is RN_E_CORRUPT_STATE
 *   FENCE_BROKER     sets the fenced flag of a registered broker
 *                    (unknown broker: RN_E_CORRUPT_STATE)
 *   TOPIC            adds a topic; an invalid name, a name or id already in
 *                    use, an all-zero id, more than RN_MAX_CONFIGS_PER_TOPIC
 *                    configs or more than RN_MAX_TOPICS topics is
 *                    RN_E_CORRUPT_STATE
 *   PARTITION        adds partition `partition` when it equals the topic's
 *                    partition count, replaces it when lower; an unknown
 *                    topic id, a gap, more than RN_MAX_PARTITIONS_PER_TOPIC,
 *                    replicas empty or duplicated, an ISR member that is not a
 *                    replica, a leader that is not a replica (or -1), or epochs
 *                    lower than the current ones is RN_E_CORRUPT_STATE
 *   REMOVE_TOPIC     removes the topic; removing an unknown id changes
 *                    nothing and returns 0, because two deletions of the same
 *                    topic may race to the log
 *   PARTITION_CHANGE changes the present fields of an existing partition.
 *                    An unknown topic id is ignored (the topic was deleted
 *                    while the change was in flight), and so is a
 *                    partition_epoch not above the current one (the change
 *                    was computed from an older state).  A partition out
 *                    of range, an ISR that is empty, duplicated or not
 *                    made of replicas, a leader that is not in the
 *                    resulting ISR (or -1), a lower leader_epoch, or a
 *                    new leader without a higher leader_epoch is
 *                    RN_E_CORRUPT_STATE
 *   CONFIG           sets or removes one override of a topic; an unknown
 *                    topic id is ignored (deleted meanwhile); an all-zero
 *                    topic id sets or removes a cluster-wide default
 *                    instead; an empty or too long name or value, an
 *                    override beyond RN_MAX_CONFIGS_PER_TOPIC or a default
 *                    beyond META_MAX_CLUSTER_CONFIGS is RN_E_CORRUPT_STATE
 *   PRODUCER_IDS     raises the next producer id to hand out; a
 *                    next_producer_id not above the image's, or above
 *                    META_MAX_PRODUCER_ID + 1, is RN_E_CORRUPT_STATE
 * Returns 0, RN_E_INVAL (index not above the last applied index, or an unknown
 * record type), RN_E_CORRUPT_STATE (above; the image is unchanged) or
 * RN_E_NOMEM (the image is unchanged).
 */
int meta_image_apply(struct meta_image *img, uint64_t index, const struct meta_record *rec);

/* Records that log entry `index` carried no record (a Raft no-op entry).
 * Returns 0 or RN_E_INVAL (index not above the last applied index). */
int meta_image_skip(struct meta_image *img, uint64_t index);

/* Lookups; NULL when absent. */
const struct meta_topic *meta_image_topic_by_name(const struct meta_image *img, const char *name);
const struct meta_topic *meta_image_topic_by_id(const struct meta_image *img,
						const uint8_t id[META_TOPIC_ID_LEN]);
/* Topics in name order (byte-wise strcmp); i < meta_image_topic_count. */
uint32_t meta_image_topic_count(const struct meta_image *img);
const struct meta_topic *meta_image_topic_at(const struct meta_image *img, uint32_t i);
/* Partition `partition` of a topic, NULL if out of range. */
const struct meta_partition *meta_topic_partition(const struct meta_topic *t, int32_t partition);
/* A topic override by key, NULL if the topic does not override it. */
const char *meta_topic_config(const struct meta_topic *t, const char *name);

/* The cluster-wide default of a config key (a CONFIG record with an all-zero
 * topic id), NULL when the cluster sets none.  img may be NULL (none). */
const char *meta_image_cluster_config(const struct meta_image *img, const char *name);
/* Cluster-wide defaults in the order they were first set; i < count. */
uint32_t meta_image_cluster_config_count(const struct meta_image *img);
const struct meta_config_entry *meta_image_cluster_config_at(const struct meta_image *img,
							     uint32_t i);

/* Brokers in node id order; i < meta_image_broker_count. */
uint32_t meta_image_broker_count(const struct meta_image *img);
const struct meta_broker *meta_image_broker_at(const struct meta_image *img, uint32_t i);
const struct meta_broker *meta_image_broker(const struct meta_image *img, int32_t node_id);

/* The cluster id ("" until a CLUSTER record is applied). Never NULL. */
const char *meta_image_cluster_id(const struct meta_image *img);
/* The next producer id to hand out: every id below it has been handed out
 * (0 until a PRODUCER_IDS record is applied). */
int64_t meta_image_next_producer_id(const struct meta_image *img);
/* The index of the last applied (or skipped) log entry. */
uint64_t meta_image_applied_index(const struct meta_image *img);

/* Kafka's topic name rule: 1..RN_MAX_TOPIC_NAME_LEN characters of
 * [a-zA-Z0-9._-], and neither "." nor "..".  On false, *why (if why is not
 * NULL) points to a static sentence saying what is wrong. */
bool meta_topic_name_valid(const char *name, const char **why);

/*
 * Rebuilding an image from a snapshot (wire/meta_codec.h).  A snapshot holds
 * the records that recreate the image; meta_image_records walks them and
 * meta_image_restore_record/meta_image_restore_finish put them back.
 *
 * meta_image_records_next fills *rec with the next record of the image
 * (CLUSTER if set, REGISTER_BROKER per broker with its fenced state and
 * registered_index, one CONFIG with an all-zero topic id per cluster-wide
 * default, PRODUCER_IDS when an id has been handed out, then per topic in
 * name order: TOPIC followed by one PARTITION per partition).  *pos starts at {0} and is opaque.  The record
 * may own memory (a TOPIC's configs): free it with
 * meta_record_free_contents.  The image must not change during the walk.
 * Returns 1 (a record), 0 (no more records) or RN_E_NOMEM.
 */
struct meta_image_pos {
	uint32_t stage, i, j;
};
int meta_image_records_next(const struct meta_image *img, struct meta_image_pos *pos,
			    struct meta_record *rec);

/* Applies a snapshot record to an image being rebuilt: the checks of
 * meta_image_apply, without touching the applied index.  Returns what
 * meta_image_apply returns. */
int meta_image_restore_record(struct meta_image *img, const struct meta_record *rec);

/* Ends a rebuild: the image's applied index becomes applied_index.
 * Returns 0 or RN_E_INVAL (applied_index below the current one). */
int meta_image_restore_finish(struct meta_image *img, uint64_t applied_index);

/* True when a and b hold the same cluster id, brokers (every field),
 * cluster-wide defaults, next producer id, topics, partitions, configs and
 * applied index. */
bool meta_image_equal(const struct meta_image *a, const struct meta_image *b);

/* Frees what a record owns (the configs of a TOPIC record) and zeroes those
 * fields; the record itself is the caller's.  NULL is fine. */
void meta_record_free_contents(struct meta_record *rec);

/* Deep copy: dst receives copies of everything src owns.  Returns 0 or
 * RN_E_NOMEM (dst then owns nothing). */
int meta_record_copy(struct meta_record *dst, const struct meta_record *src);

/* "CLUSTER", "TOPIC", ...; "UNKNOWN" otherwise. Never NULL. */
const char *meta_record_type_name(enum meta_record_type type);

/* Formats a topic id as 32 lower-case hex digits plus NUL into buf (>= 33 bytes). */
void meta_topic_id_format(const uint8_t id[META_TOPIC_ID_LEN], char buf[33]);

#endif
