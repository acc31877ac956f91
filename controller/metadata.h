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

enum meta_record_type {
	META_REC_CLUSTER = 1,
	META_REC_REGISTER_BROKER,
	META_REC_FENCE_BROKER,
	META_REC_TOPIC,
	META_REC_PARTITION,
	META_REC_REMOVE_TOPIC,
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
		/* A broker (re)registers: its address and the epoch of this start.
		 * Registration also unfences it. */
		struct {
			int32_t node_id;
			int64_t broker_epoch;
			char host[RN_MAX_ADDRESS_LEN + 1];
			int32_t port;
		} broker;
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
 *   REGISTER_BROKER  adds or updates the broker and unfences it; node_id
 *                    outside 0..META_MAX_NODE_ID, an empty host, a port
 *                    outside 1..65535 or an epoch lower than the registered
 *                    one is RN_E_CORRUPT_STATE; more than RN_MAX_NODES
 *                    brokers is RN_E_CORRUPT_STATE
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

/* Brokers in node id order; i < meta_image_broker_count. */
uint32_t meta_image_broker_count(const struct meta_image *img);
const struct meta_broker *meta_image_broker_at(const struct meta_image *img, uint32_t i);
const struct meta_broker *meta_image_broker(const struct meta_image *img, int32_t node_id);

/* The cluster id ("" until a CLUSTER record is applied). Never NULL. */
const char *meta_image_cluster_id(const struct meta_image *img);
/* The index of the last applied (or skipped) log entry. */
uint64_t meta_image_applied_index(const struct meta_image *img);

/* Kafka's topic name rule: 1..RN_MAX_TOPIC_NAME_LEN characters of
 * [a-zA-Z0-9._-], and neither "." nor "..".  On false, *why (if why is not
 * NULL) points to a static sentence saying what is wrong. */
bool meta_topic_name_valid(const char *name, const char **why);

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
