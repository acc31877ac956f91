/* limits.h: every hard limit of Runnel, in one place. */
#ifndef RUNNEL_COMMON_LIMITS_H
#define RUNNEL_COMMON_LIMITS_H

/*
 * Each limit is enforced where input enters: a request over a limit is refused
 * with the error code named beside it, never with a crash or a silent cut.
 */

/* Largest frame (the 4-byte length prefix excluded) a node or client accepts.
 * A larger frame gets FRAME_TOO_LARGE and the connection is closed, because the
 * stream cannot be resynchronised without reading the frame. */
#define RN_MAX_FRAME_BYTES (64u * 1024u * 1024u)

/* Largest single record batch (CORRUPT_MESSAGE if the header claims more,
 * MESSAGE_TOO_LARGE if it is well formed but bigger than the topic allows). */
#define RN_MAX_BATCH_BYTES (16u * 1024u * 1024u)

/* Default topic max.message.bytes: the largest batch a topic accepts. */
#define RN_DEFAULT_MAX_MESSAGE_BYTES (1024u * 1024u + 1024u)

/* Most records one batch may hold (RECORD_LIST_TOO_LARGE). */
#define RN_MAX_RECORDS_PER_BATCH 1000000u

/* Most headers one record may carry (INVALID_RECORD). */
#define RN_MAX_HEADERS_PER_RECORD 1024u

/* Topic names: Kafka's rule, 1 to 249 characters of [a-zA-Z0-9._-]. */
#define RN_MAX_TOPIC_NAME_LEN 249u

/* Partitions per topic (INVALID_PARTITIONS). */
#define RN_MAX_PARTITIONS_PER_TOPIC 10000u

/* Replicas per partition (INVALID_REPLICATION_FACTOR). */
#define RN_MAX_REPLICATION_FACTOR 16u

/* Topics in one cluster. */
#define RN_MAX_TOPICS 10000u

/* Client id carried in a request header. */
#define RN_MAX_CLIENT_ID_LEN 255u

/* Requests a connection may have in flight; reading pauses beyond this. */
#define RN_MAX_INFLIGHT_PER_CONN 128u

/* Bytes queued for output on one connection before the node stops reading
 * further requests from it (back-pressure, not an error). */
#define RN_MAX_CONN_OUTPUT_BYTES (128u * 1024u * 1024u)

/* Connections a node accepts at once; more are closed right after accept. */
#define RN_MAX_CONNECTIONS 4096u

/* Longest a fetch may wait for min_bytes (INVALID_REQUEST beyond). */
#define RN_MAX_FETCH_WAIT_MS 60000

/* Largest max_bytes a fetch may ask for; larger values are clamped. */
#define RN_MAX_FETCH_BYTES (64u * 1024u * 1024u)

/* Produce timeout upper bound (INVALID_REQUEST beyond). */
#define RN_MAX_PRODUCE_TIMEOUT_MS 300000

/* Topics or partitions named in one request. */
#define RN_MAX_TOPICS_PER_REQUEST 1000u
#define RN_MAX_PARTITIONS_PER_REQUEST 100000u

/* Configuration entries per topic and the length of a key or value. */
#define RN_MAX_CONFIGS_PER_TOPIC 64u
#define RN_MAX_CONFIG_VALUE_LEN 1024u

/* Nodes in one cluster (voters plus brokers). */
#define RN_MAX_NODES 256u

/* Length of HOST:PORT strings. */
#define RN_MAX_ADDRESS_LEN 255u

/* A metadata log entry. */
#define RN_MAX_METADATA_RECORD_BYTES (1024u * 1024u)

#endif
