/* controller.h: the controller's decisions (validating metadata requests and turning them into records) and the topic config table. */
#ifndef RUNNEL_CONTROLLER_CONTROLLER_H
#define RUNNEL_CONTROLLER_CONTROLLER_H

/*
 * Pure functions: the shell passes the current image, random bytes and the
 * request in and gets records to propose (or a validation error with a
 * message for the client) back.  The records are proposed to Raft as
 * consecutive entries; the change takes effect on every node when they are
 * committed and applied to the image (controller/metadata.h).
 *
 * Records returned here are malloc'd arrays owned by the caller and freed
 * with controller_records_free.
 */

#include <stddef.h>
#include <stdint.h>

#include "controller/metadata.h"

struct create_topic_req {
	const char *name;
	int32_t partitions;         /* 1..RN_MAX_PARTITIONS_PER_TOPIC */
	int32_t replication_factor; /* 1..RN_MAX_REPLICATION_FACTOR, <= unfenced brokers */
	const struct meta_config_entry *configs; /* overrides; validated and copied */
	uint32_t config_count;
	/* Names of topics proposed but not applied yet (NULL if none): creating
	 * one of them again is refused like an existing topic. */
	const char *const *pending_names;
	uint32_t pending_count;
};

/*
 * Validates a CreateTopics request and returns the records that create the
 * topic: one TOPIC record (with the request's configs), then one PARTITION
 * record per partition in order.  Replicas are assigned over the unfenced
 * brokers.  When brokers announce racks, the brokers are ordered by
 * alternating racks (the first broker of each rack, then the second of
 * each, ...); otherwise by node id.  Partition p's first replica (its
 * leader) is the broker at position (random + p) mod n of that order, so
 * every broker leads either floor or ceil(partitions / n) partitions.  The
 * others follow at a shift that also varies with `random` and p, skipping
 * brokers on a rack the partition already uses until every rack is used, so
 * followers spread evenly, replicas spread over racks, and a partition
 * never holds a broker twice.  Brokers without a rack count as one rack
 * "" when others have racks.  leader = first replica, isr = replicas,
 * leader_epoch = partition_epoch = 0.
 *   topic_id  16 random bytes chosen by the shell (not all zero)
 *   random    random bits chosen by the shell (placement start)
 *   records, count  receive the records (caller frees with controller_records_free)
 *   why, why_len    receives a sentence for the client on a validation error
 *                   (may be NULL/0)
 * Returns 0 or: RN_E_INVALID_TOPIC (bad name), RN_E_TOPIC_ALREADY_EXISTS
 * (in the image or pending), RN_E_INVALID_PARTITIONS, RN_E_INVALID_REPLICATION_FACTOR,
 * RN_E_INVALID_CONFIG (unknown key, bad value, duplicate key or more than
 * RN_MAX_CONFIGS_PER_TOPIC), RN_E_INVAL (topic_id NULL or all zero) or
 * RN_E_NOMEM.  The checks run in that order, so the error names the first
 * problem.
 */
int controller_plan_create_topic(const struct meta_image *img, const struct create_topic_req *req,
				 const uint8_t topic_id[META_TOPIC_ID_LEN], uint64_t random,
				 struct meta_record **records, uint32_t *count, char *why,
				 size_t why_len);

/*
 * Returns one REMOVE_TOPIC record for the topic named `name`.
 * Returns 0, RN_E_UNKNOWN_TOPIC_OR_PARTITION (no such topic; why says so),
 * RN_E_INVALID_TOPIC (name NULL or invalid) or RN_E_NOMEM.
 */
int controller_plan_delete_topic(const struct meta_image *img, const char *name,
				 struct meta_record **records, uint32_t *count, char *why,
				 size_t why_len);

/*
 * Returns the REGISTER_BROKER record (unfenced, no rack or listeners) for a
 * broker announcing itself, or no record at all (*count 0, *records NULL) when the image already holds
 * exactly this registration unfenced (a restart with nothing new to say).
 * Returns 0, RN_E_INVAL (node_id outside 0..META_MAX_NODE_ID, host empty or
 * longer than RN_MAX_ADDRESS_LEN, port outside 1..65535), RN_E_STALE_BROKER_EPOCH
 * (broker_epoch lower than the registered one) or RN_E_NOMEM.
 * This is the registration of a node that is its own controller and needs
 * no catching up; brokers of a controller quorum register through
 * controller_broker_register (controller/lifecycle.h), which starts them
 * fenced.
 */
int controller_plan_register_broker(const struct meta_image *img, int32_t node_id,
				    const char *host, int32_t port, int64_t broker_epoch,
				    struct meta_record **records, uint32_t *count);

/* One change of a topic config override. */
struct controller_config_change {
	const char *name;
	const char *value; /* NULL removes the override (back to the default) */
};

/*
 * Validates config changes for the topic named `topic` and returns one
 * CONFIG record per change, in order.  Values are checked as at creation
 * (min.insync.replicas against the topic's replication factor); removing a
 * key the topic does not override is allowed and changes nothing.
 * Returns 0, RN_E_INVALID_TOPIC (name NULL or invalid),
 * RN_E_UNKNOWN_TOPIC_OR_PARTITION (no such topic), RN_E_INVALID_CONFIG
 * (unknown key, bad value, a key given twice, no changes, or more than
 * RN_MAX_CONFIGS_PER_TOPIC overrides afterwards) or RN_E_NOMEM; why says
 * which.
 */
int controller_plan_alter_configs(const struct meta_image *img, const char *topic,
				  const struct controller_config_change *changes, uint32_t n,
				  struct meta_record **records, uint32_t *count, char *why,
				  size_t why_len);

/*
 * Validates changes of the cluster-wide defaults and returns one CONFIG
 * record (all-zero topic id) per change, in order.  A cluster-wide default
 * applies to every topic that does not override the key.  Values are
 * checked as for a topic, except min.insync.replicas, which may be up to
 * RN_MAX_REPLICATION_FACTOR (a topic whose replication factor is lower then
 * refuses acks=all produces, as in Kafka).  Removing a default the cluster
 * does not set is allowed and changes nothing.
 * Returns 0, RN_E_INVALID_CONFIG (unknown key, bad value, a key given
 * twice, no changes, or more than META_MAX_CLUSTER_CONFIGS defaults
 * afterwards) or RN_E_NOMEM; why says which.
 */
int controller_plan_alter_cluster_configs(const struct meta_image *img,
					  const struct controller_config_change *changes,
					  uint32_t n, struct meta_record **records,
					  uint32_t *count, char *why, size_t why_len);

/* Frees records from the planners (contents and array); NULL is fine. */
void controller_records_free(struct meta_record *records, uint32_t count);

/*
 * The topic configuration keys the node knows, with their defaults.  A topic
 * stores only its overrides.  The effective value of a key is, first found:
 * the topic's override, the cluster-wide default (set through
 * controller_plan_alter_cluster_configs), the built-in default.  Between the
 * last two the broker puts its own node-level setting where one exists (for
 * example flush.messages from log.flush.interval.messages), as Kafka puts a
 * broker's static setting between its dynamic cluster default and the
 * built-in one.
 */

/* The sources controller_config_lookup reports. */
#define CONTROLLER_SOURCE_TOPIC "topic"
#define CONTROLLER_SOURCE_CLUSTER "cluster"
#define CONTROLLER_SOURCE_DEFAULT "default"
struct controller_config_def {
	const char *name;
	const char *default_value;
	const char *doc; /* one sentence */
};

/* Number of known keys; controller_config_at(i) for i < count, in name order. */
uint32_t controller_config_count(void);
const struct controller_config_def *controller_config_at(uint32_t i);
/* The definition of key `name`, NULL if unknown. */
const struct controller_config_def *controller_config_find(const char *name);

/*
 * Validates one override.  replication_factor is the topic's (for
 * min.insync.replicas), or 0 for a cluster-wide default (min.insync.replicas
 * then up to RN_MAX_REPLICATION_FACTOR).  On error why receives a sentence
 * naming the key and the allowed values.  Returns 0 or RN_E_INVALID_CONFIG.
 */
int controller_config_validate(const char *name, const char *value, int32_t replication_factor,
			       char *why, size_t why_len);

/*
 * The effective value of key `name` for topic t in image img.
 *   img     the image holding the cluster-wide defaults (NULL: none)
 *   t       the topic (NULL: no topic, the cluster's view of the key)
 *   value   receives the value (points into t, img or the static table:
 *           valid until the next meta_image_apply)
 *   source  (may be NULL) receives CONTROLLER_SOURCE_TOPIC for an override,
 *           CONTROLLER_SOURCE_CLUSTER for a cluster-wide default,
 *           CONTROLLER_SOURCE_DEFAULT otherwise
 * Returns 0 or RN_E_NOT_FOUND (unknown key).
 */
int controller_config_lookup(const struct meta_image *img, const struct meta_topic *t,
			     const char *name, const char **value, const char **source);

#endif
