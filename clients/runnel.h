/* runnel.h: librunnel, the client library of Runnel: producer, consumer and admin. */
#ifndef RUNNEL_CLIENTS_RUNNEL_H
#define RUNNEL_CLIENTS_RUNNEL_H

/*
 * The library talks to Runnel nodes over plain TCP sockets and drives all of
 * its I/O with poll() on the caller's thread: nothing happens in the
 * background.  A producer makes progress inside runnel_producer_send (only
 * when it must wait for buffer memory), runnel_producer_poll and
 * runnel_producer_flush; a consumer inside runnel_consumer_poll; the admin
 * calls are synchronous.  Objects are not thread-safe: use one object from
 * one thread at a time.
 *
 * Waits sleep in poll() until something can change: an answer, a
 * connection finishing or failing, a linger, retry or reconnect backoff
 * passing, a metadata refresh falling due, a delivery timeout.  A signal
 * that interrupts poll() (a handler installed without SA_RESTART; poll()
 * is never restarted anyway) ends the wait, so that a program can check
 * the flags its handlers set: runnel_producer_send and
 * runnel_producer_flush then return RN_E_AGAIN, runnel_producer_poll and
 * runnel_consumer_poll return early with what they have.  A signal that
 * arrives while the library is not waiting is not seen; programs that
 * must never miss one check their flag between calls, and keep each
 * call's timeout short.
 *
 * Every function that can fail returns 0 or a negative RN_E_* code from
 * common/errors.h.  Codes that came from a node keep Kafka's numbers (for
 * example RN_E_TOPIC_ALREADY_EXISTS is -36); rn_errname() and rn_strerror()
 * give the name and a message, and each object keeps a longer message about
 * its last failure (runnel_*_errmsg), which may include the node's own text.
 *
 * Configuration structs are filled with defaults by their *_config_init
 * function and then adjusted field by field; strings in them are copied by
 * the constructor, so the caller may free them afterwards.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"

/* Defaults (each is a field of a config struct below). */
#define RUNNEL_DEFAULT_BOOTSTRAP "127.0.0.1:9092"
#define RUNNEL_DEFAULT_CLIENT_ID "runnel"
/* Requests a connection pipelines before it waits for responses. */
#define RUNNEL_DEFAULT_MAX_IN_FLIGHT 5
#define RUNNEL_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define RUNNEL_DEFAULT_METADATA_TIMEOUT_MS 10000
#define RUNNEL_DEFAULT_RECONNECT_BACKOFF_MS 50
#define RUNNEL_DEFAULT_RECONNECT_BACKOFF_MAX_MS 2000
#define RUNNEL_DEFAULT_ACKS (-1)
#define RUNNEL_DEFAULT_BATCH_SIZE 65536u
#define RUNNEL_DEFAULT_LINGER_MS 5
#define RUNNEL_DEFAULT_RETRIES 2147483647
#define RUNNEL_DEFAULT_RETRY_BACKOFF_MS 100
#define RUNNEL_DEFAULT_DELIVERY_TIMEOUT_MS 120000
#define RUNNEL_DEFAULT_BUFFER_MEMORY (32u * 1024u * 1024u)
/* The largest batch (one record at least) the producer sends; nodes refuse
 * batches over the topic's max.message.bytes, whose default this matches. */
#define RUNNEL_DEFAULT_MESSAGE_MAX_BYTES (1024u * 1024u + 1024u)
#define RUNNEL_DEFAULT_FETCH_MAX_WAIT_MS 500
#define RUNNEL_DEFAULT_FETCH_MIN_BYTES 1
#define RUNNEL_DEFAULT_FETCH_MAX_BYTES (50 * 1024 * 1024)
#define RUNNEL_DEFAULT_PARTITION_MAX_BYTES (1024 * 1024 + 1024)
/* Consumer groups, with Kafka's defaults (max.poll.interval.ms is the
 * rebalance timeout). */
#define RUNNEL_DEFAULT_SESSION_TIMEOUT_MS 45000
#define RUNNEL_DEFAULT_HEARTBEAT_INTERVAL_MS 3000
#define RUNNEL_DEFAULT_REBALANCE_TIMEOUT_MS 300000
#define RUNNEL_DEFAULT_AUTO_COMMIT_INTERVAL_MS 5000
#define RUNNEL_DEFAULT_ASSIGNMENT_STRATEGY "range,roundrobin,sticky"
/* How often a group member refreshes the metadata of its subscribed topics
 * to notice new topics and changed partition counts. */
#define RUNNEL_DEFAULT_METADATA_MAX_AGE_MS 10000

/* Upper bounds on configuration values, checked by the constructors
 * (RN_E_INVAL beyond). */
#define RUNNEL_MAX_IN_FLIGHT_LIMIT 128
/* Group ids (Kafka sets no limit; this keeps keys of the offsets topic
 * small), topics one consumer subscribes to, and assignors it offers. */
#define RUNNEL_MAX_GROUP_ID_LEN 255
#define RUNNEL_MAX_SUBSCRIBED_TOPICS 1000
#define RUNNEL_MAX_ASSIGNORS 8
/* The longest session and rebalance timeouts accepted (a node may narrow
 * the session timeout further: INVALID_SESSION_TIMEOUT). */
#define RUNNEL_MAX_GROUP_TIMEOUT_MS 1800000
#define RUNNEL_MAX_BATCH_SIZE (16u * 1024u * 1024u)
#define RUNNEL_MAX_BOOTSTRAP_SERVERS 64
/* The longest client_rack; nodes accept racks of at most this length too. */
#define RUNNEL_MAX_RACK_LEN 64

/* Settings every client object shares. */
struct runnel_client_config {
	/* "host:port[,host:port...]": where to ask for metadata first. */
	const char *bootstrap;
	/* Sent in every request header; at most 255 bytes. */
	const char *client_id;
	/* Bounded pipelining: requests in flight on one connection (1..128). */
	int32_t max_in_flight;
	/* A request without a response after this long fails with
	 * RN_E_REQUEST_TIMED_OUT and its connection is closed. */
	int32_t request_timeout_ms;
	/* How long a metadata lookup keeps trying nodes (the bootstrap list
	 * included) before it fails: this bounds how long any call waits when
	 * no node can be reached. */
	int32_t metadata_timeout_ms;
	/* After a failed connection, wait this long before trying again,
	 * doubling each time up to reconnect_backoff_max_ms. */
	int32_t reconnect_backoff_ms;
	int32_t reconnect_backoff_max_ms;
};

/* Fills cfg with the defaults above. */
void runnel_client_config_init(struct runnel_client_config *cfg);

/* One record header.  key is key_len bytes (not necessarily NUL-terminated);
 * value is value_len bytes, or NULL with value_len -1 for a null value. */
struct runnel_header {
	const char *key;
	int32_t key_len;
	const void *value;
	int32_t value_len;
};

/* ------------------------------------------------------------------ producer */

typedef struct runnel_producer runnel_producer;

struct runnel_producer_config {
	struct runnel_client_config client;
	/* 0: no response (offsets unknown), 1: the leader, -1: all in-sync
	 * replicas. */
	int32_t acks;
	/* Bytes of an open batch; a batch is sent when the next record would
	 * not fit, or linger_ms after its first record. */
	uint32_t batch_size;
	int32_t linger_ms;
	/* Retriable failures are retried this many times, with retry_backoff_ms
	 * between attempts, but never after delivery_timeout_ms from send. */
	int32_t retries;
	int32_t retry_backoff_ms;
	int32_t delivery_timeout_ms;
	/* Bytes of batches held (open, queued or in flight) at most; send waits
	 * for delivery when this is reached.  An open batch counts as
	 * batch_size bytes; a closed one that holds much less (a batch closed
	 * by linger_ms with a record or two) counts as what it holds. */
	size_t buffer_memory;
	/* The largest batch sent; a record that alone needs more is refused
	 * with RN_E_MESSAGE_TOO_LARGE. */
	uint32_t message_max_bytes;
	/* The codec each batch is compressed with when it closes:
	 * RUNNEL_COMPRESSION_NONE, _LZ4 or _ZSTD (Kafka's compression.type;
	 * gzip and snappy are not supported).  batch_size and
	 * message_max_bytes count the records before compression; a batch
	 * that does not get smaller is sent uncompressed.  The producer keeps
	 * one compression buffer of about batch_size bytes besides
	 * buffer_memory. */
	int32_t compression_type;
	/* RUNNEL_COMPRESSION_LEVEL_DEFAULT (the codec's own default: lz4's
	 * fast mode, zstd level 3), or lz4 0..12 (3 and up: lz4's slower
	 * high-compression mode), zstd 1..22. */
	int32_t compression_level;
	/*
	 * Kafka's enable.idempotence: RUNNEL_IDEMPOTENCE_DEFAULT (the
	 * default: on unless acks is 0 or 1, retries is 0 or
	 * client.max_in_flight is above RUNNEL_IDEMPOTENCE_MAX_IN_FLIGHT,
	 * which turn it off silently), 1 (on; those settings then make
	 * runnel_producer_new fail with RN_E_INVAL) or 0 (off).  An
	 * idempotent producer gets a producer id from the cluster and numbers
	 * each partition's records, so that a retry of a batch the leader
	 * already wrote is not written again: see the section "Idempotence"
	 * of docs/client-library.md.  It keeps up to client.max_in_flight
	 * batches of one partition in flight; a producer that is not
	 * idempotent keeps one.
	 */
	int32_t enable_idempotence;
};

/* enable_idempotence: on, unless a setting it needs says otherwise. */
#define RUNNEL_IDEMPOTENCE_DEFAULT (-1)
/* An idempotent producer has at most this many requests in flight per
 * connection (Kafka's limit: the leader remembers a producer's last 5
 * batches per partition). */
#define RUNNEL_IDEMPOTENCE_MAX_IN_FLIGHT 5

/* Codecs, with the numbers a batch's attributes carry (Kafka's). */
#define RUNNEL_COMPRESSION_NONE 0
#define RUNNEL_COMPRESSION_LZ4 3
#define RUNNEL_COMPRESSION_ZSTD 4
#define RUNNEL_COMPRESSION_LEVEL_DEFAULT (-1)

void runnel_producer_config_init(struct runnel_producer_config *cfg);

/*
 * Checks cfg as runnel_producer_new does and, when msg is not NULL, writes
 * what is wrong into msg[0..msg_len) (naming the settings by their Kafka
 * names), or "" when nothing is.  Returns 0, RN_E_INVAL,
 * RN_E_INVALID_REQUIRED_ACKS or RN_E_UNSUPPORTED_COMPRESSION_TYPE.
 */
int runnel_producer_config_check(const struct runnel_producer_config *cfg, char *msg,
				 size_t msg_len);

/*
 * Sets one setting by its Kafka name, as `runnel produce -X KEY=VALUE`
 * does: bootstrap.servers, client.id, acks (0, 1, all or -1), batch.size,
 * linger.ms, retries, retry.backoff.ms, delivery.timeout.ms, buffer.memory,
 * max.request.size (message_max_bytes), compression.type (none, lz4,
 * zstd), compression.level, max.in.flight.requests.per.connection,
 * enable.idempotence (true or false), request.timeout.ms,
 * reconnect.backoff.ms, reconnect.backoff.max.ms.
 * String values are not copied: value must stay valid until
 * runnel_producer_new.  Returns 0, RN_E_NOT_FOUND (unknown key),
 * RN_E_UNSUPPORTED_COMPRESSION_TYPE (compression.type gzip or snappy) or
 * RN_E_INVAL (a value that does not parse or is out of range; the finer
 * rules, such as a level for the chosen codec, are runnel_producer_new's).
 */
int runnel_producer_config_set(struct runnel_producer_config *cfg, const char *key,
			       const char *value);

/*
 * Called once per record from runnel_producer_poll or _flush.  err is 0 when
 * the record was acknowledged; offset is its offset (-1 with acks=0, when the
 * node does not answer).  partition is where it went (-1 if it never got one).
 * Retriable errors (rn_err_retriable: NOT_LEADER_OR_FOLLOWER,
 * NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND, lost connections,
 * timeouts, ...) are retried after a metadata refresh and never reach the
 * callback unless retries or delivery_timeout_ms run out: err is then the
 * last of them, or RN_E_TIMEOUT when no attempt was answered.  Other errors
 * arrive at once.  Without idempotence, a retry after
 * NOT_ENOUGH_REPLICAS_AFTER_APPEND or a lost answer may write the records a
 * second time (at a later offset); an idempotent producer's retry is
 * answered with the offset of the first write instead.
 */
typedef void (*runnel_delivery_cb)(void *opaque, int err, int32_t partition, int64_t offset);

/*
 * Creates a producer.  Does not connect until the first send.
 * Returns 0 and sets *out, or RN_E_INVAL (a config value out of range, a
 * compression level the codec does not have, enable_idempotence 1 with
 * acks other than all, retries 0 or more than
 * RUNNEL_IDEMPOTENCE_MAX_IN_FLIGHT in flight, or an unparsable bootstrap
 * list), RN_E_UNSUPPORTED_COMPRESSION_TYPE (a codec other than none, lz4
 * and zstd) or RN_E_NOMEM.  runnel_producer_config_check says which
 * setting is wrong.  Free with runnel_producer_free.
 */
int runnel_producer_new(const struct runnel_producer_config *cfg, runnel_producer **out);

/*
 * Queues one record: its bytes are copied into the partition's open batch,
 * so the caller may reuse key, value and headers as soon as this returns.
 *   partition    a partition, or -1 to choose one: murmur2 of the key for
 *                keyed records, a "sticky" partition for keyless ones.
 *   key, value   NULL with length -1 for null (a null value is a tombstone).
 *   timestamp    ms since the epoch, or -1 for now.
 *   cb, opaque   delivery callback (may be NULL).
 * The first send to a topic fetches its metadata (waiting up to
 * request_timeout_ms).  Otherwise send only waits when buffer_memory is used
 * up, and then at most delivery_timeout_ms.
 * Returns 0, or RN_E_UNKNOWN_TOPIC_OR_PARTITION (no such topic or partition),
 * RN_E_MESSAGE_TOO_LARGE, RN_E_INVAL (bad arguments, too many headers),
 * RN_E_FULL (no buffer memory freed in time), RN_E_AGAIN (a signal
 * interrupted one of those waits: the record was not queued; check your
 * flags and send it again or stop), RN_E_NOMEM, or a connection error while
 * fetching metadata.  On error no callback will be called.
 */
int runnel_producer_send(runnel_producer *p, const char *topic, int32_t partition, const void *key,
			 int32_t key_len, const void *value, int32_t value_len,
			 const struct runnel_header *headers, size_t header_count, int64_t timestamp,
			 runnel_delivery_cb cb, void *opaque);

/* Drives I/O for up to timeout_ms (0: only what is ready) and calls the
 * delivery callbacks that are due.  Returns as soon as a callback ran, the
 * time is up, or a signal interrupted the wait.  Returns the number of
 * callbacks called. */
int runnel_producer_poll(runnel_producer *p, int timeout_ms);

/* Sends every open batch now and waits until all records are delivered or
 * failed (callbacks called), or timeout_ms passes.  Returns 0, or
 * RN_E_TIMEOUT with records still outstanding, or RN_E_AGAIN when a signal
 * interrupted the wait with records still outstanding (call it again to
 * keep waiting). */
int runnel_producer_flush(runnel_producer *p, int timeout_ms);

/* Records queued or in flight (not yet reported to a callback). */
size_t runnel_producer_outstanding(const runnel_producer *p);

/* Frees the producer.  Records not yet delivered are dropped without their
 * callbacks: call runnel_producer_flush first. */
void runnel_producer_free(runnel_producer *p);

/* A message about the last failure; valid until the next call. */
const char *runnel_producer_errmsg(const runnel_producer *p);

/* 1 while the producer is idempotent, 0 when it is not (configured off, or
 * turned off because the cluster does not support InitProducerId), and
 * when it is, the producer id its batches carry in *producer_id (may be
 * NULL; -1 while none is known yet). */
int runnel_producer_idempotent(const runnel_producer *p, int64_t *producer_id);

/* ------------------------------------------------------------------ consumer */

typedef struct runnel_consumer runnel_consumer;

/* A partition and an offset: what runnel_consumer_commit commits, what
 * runnel_consumer_committed reports, and what a rebalance callback lists
 * (offset -1 there).  topic is not owned by the struct. */
struct runnel_topic_partition {
	const char *topic;
	int32_t partition;
	int64_t offset;
};

/* What a rebalance callback is told. */
enum runnel_rebalance_event {
	/* Before the consumer rejoins its group: these partitions may go to
	 * another member.  Their positions can still be committed from the
	 * callback (runnel_consumer_commit); with enable_auto_commit they
	 * have been already. */
	RUNNEL_PARTITIONS_REVOKED,
	/* After a rebalance: the consumer's whole new assignment. */
	RUNNEL_PARTITIONS_ASSIGNED,
	/* The consumer was dropped from the group (its session expired or
	 * its generation was fenced): the partitions may already belong to
	 * someone else and nothing can be committed for them. */
	RUNNEL_PARTITIONS_LOST,
};

/*
 * Called from inside runnel_consumer_poll (and _close, for REVOKED) when the
 * group's assignment changes.  parts[0..count) and their topic strings are
 * valid during the call only.  The callback may call runnel_consumer_commit,
 * _committed, _position, _seek and _assignment, but not _poll, _close,
 * _subscribe or _free.
 */
typedef void (*runnel_rebalance_cb)(void *opaque, runnel_consumer *c,
				    enum runnel_rebalance_event event,
				    const struct runnel_topic_partition *parts, size_t count);

/* What to do when a fetch position is outside the log. */
enum runnel_offset_reset {
	RUNNEL_RESET_EARLIEST,
	RUNNEL_RESET_LATEST,
	RUNNEL_RESET_NONE, /* runnel_consumer_poll fails with RN_E_OFFSET_OUT_OF_RANGE */
};

struct runnel_consumer_config {
	struct runnel_client_config client;
	/* Long poll: the node answers when fetch_min_bytes are there or after
	 * fetch_max_wait_ms. */
	int32_t fetch_max_wait_ms;
	int32_t fetch_min_bytes;
	int32_t fetch_max_bytes;
	int32_t partition_max_bytes;
	int32_t retry_backoff_ms;
	/* Also where a newly assigned partition starts: earliest means the
	 * beginning, latest and none mean the end. */
	enum runnel_offset_reset auto_offset_reset;
	/* The rack (or zone) the consumer runs in, like Kafka's client.rack;
	 * NULL or "" for none.  When set, a partition whose leader is in
	 * another rack is read from an in-sync replica in this rack, if the
	 * metadata names one; that replica serves records only below its own
	 * high watermark.  When such a replica refuses (it left the ISR or
	 * stopped being a replica) or fails, the consumer goes back to the
	 * leader and leaves that replica alone for
	 * RUNNEL_REPLICA_AVOID_MS.  At most RUNNEL_MAX_RACK_LEN bytes. */
	const char *client_rack;

	/* ---- consumer groups (runnel_consumer_subscribe) ---- */
	/* The group to join, or NULL (or "") for none.  With a group but no
	 * subscription, runnel_consumer_commit still stores offsets for the
	 * group from outside its membership (accepted only while the group
	 * has no members). */
	const char *group_id;
	/* The coordinator removes a member it has not heard from for this
	 * long; heartbeats go every heartbeat_interval_ms (at most a third of
	 * the session timeout is sensible).  Heartbeats are sent from
	 * runnel_consumer_poll: call it at least that often. */
	int32_t session_timeout_ms;
	int32_t heartbeat_interval_ms;
	/* How long the coordinator waits for every member to rejoin during a
	 * rebalance (Kafka's max.poll.interval.ms). */
	int32_t rebalance_timeout_ms;
	/* Commit the positions of the assigned partitions every
	 * auto_commit_interval_ms, before a rebalance and on close. */
	int enable_auto_commit;
	int32_t auto_commit_interval_ms;
	/* The assignors this member supports, most preferred first, comma
	 * separated: "range", "roundrobin", "sticky".  The coordinator picks
	 * one that every member supports. */
	const char *assignment_strategy;
	/* How often the subscribed topics' metadata is refreshed; a changed
	 * partition count or a newly created topic makes the member rejoin. */
	int32_t metadata_max_age_ms;
	/* Told about assignment changes; may be NULL. */
	runnel_rebalance_cb rebalance_cb;
	void *rebalance_opaque;
};

/* How long a consumer reads from the leader after an in-sync replica in its
 * rack refused or failed a fetch, before it tries that replica again. */
#define RUNNEL_REPLICA_AVOID_MS 30000

void runnel_consumer_config_init(struct runnel_consumer_config *cfg);

/*
 * Sets one setting by its Kafka name, as `runnel consume -X KEY=VALUE`
 * does: bootstrap.servers, client.id, group.id, session.timeout.ms,
 * heartbeat.interval.ms, max.poll.interval.ms, enable.auto.commit
 * (true|false), auto.commit.interval.ms, auto.offset.reset
 * (earliest|latest|none), partition.assignment.strategy,
 * fetch.max.wait.ms, fetch.min.bytes, fetch.max.bytes,
 * max.partition.fetch.bytes, retry.backoff.ms, request.timeout.ms,
 * metadata.max.age.ms, reconnect.backoff.ms, reconnect.backoff.max.ms,
 * client.rack.  String values are not copied: value must stay valid until
 * runnel_consumer_new.  Returns 0, RN_E_NOT_FOUND (unknown key) or
 * RN_E_INVAL (a value that does not parse or is out of range).
 */
int runnel_consumer_config_set(struct runnel_consumer_config *cfg, const char *key,
			       const char *value);

/* Where to read from. */
enum runnel_position_kind {
	RUNNEL_POS_BEGINNING, /* the log start offset */
	RUNNEL_POS_END,       /* the high watermark: only new records */
	RUNNEL_POS_OFFSET,    /* value is an absolute offset */
	RUNNEL_POS_TIMESTAMP, /* value: the first record at or after this time (ms) */
	RUNNEL_POS_FROM_END,  /* value records before the end (not before the start) */
};

struct runnel_position {
	enum runnel_position_kind kind;
	int64_t value;
};

/* A consumed record.  Pointers stay valid until the next
 * runnel_consumer_poll or runnel_consumer_free.  A null key or value has a
 * NULL pointer and length -1; an empty one has length 0. */
struct runnel_record {
	const char *topic;
	int32_t partition;
	int64_t offset;
	int64_t timestamp;
	const void *key;
	int32_t key_len;
	const void *value;
	int32_t value_len;
	const struct runnel_header *headers;
	size_t header_count;
};

/* Creates a consumer.  Returns 0 and sets *out, RN_E_INVAL or RN_E_NOMEM. */
int runnel_consumer_new(const struct runnel_consumer_config *cfg, runnel_consumer **out);

/*
 * Adds partitions of topic to the consumer (count 0: every partition).  Asks
 * the cluster for the topic's metadata first.  Each new partition starts as
 * auto_offset_reset says until runnel_consumer_seek.
 * Returns 0, RN_E_UNKNOWN_TOPIC_OR_PARTITION, RN_E_INVAL, RN_E_NOMEM or a
 * connection error.
 */
int runnel_consumer_assign(runnel_consumer *c, const char *topic, const int32_t *partitions,
			   size_t count);

/* Moves assigned partitions of topic (partition -1: all of them) to pos; the
 * position is resolved (ListOffsets) by the next poll.  Returns 0, RN_E_INVAL
 * (bad position) or RN_E_NOT_FOUND (not assigned). */
int runnel_consumer_seek(runnel_consumer *c, const char *topic, int32_t partition,
			 struct runnel_position pos);

/*
 * Returns up to max records in recs[], waiting up to timeout_ms for the
 * first.  Every batch's CRC is checked before any of its records is returned.
 * Returns 0 with *count set (0 on timeout), or RN_E_CORRUPT_MESSAGE,
 * RN_E_UNKNOWN_TOPIC_OR_PARTITION, RN_E_OFFSET_OUT_OF_RANGE (reset "none"),
 * or another non-retriable error; retriable ones are retried inside.
 */
int runnel_consumer_poll(runnel_consumer *c, int timeout_ms, struct runnel_record *recs, size_t max,
			 size_t *count);

/* Returns 1 when every assigned partition's position is at or past the high
 * watermark of its last fetch (nothing more to read now), else 0. */
int runnel_consumer_at_end(const runnel_consumer *c);

/* The next offset to be returned and the last known high watermark (-1 when
 * not known yet).  Returns 0 or RN_E_NOT_FOUND. */
int runnel_consumer_position(const runnel_consumer *c, const char *topic, int32_t partition,
			     int64_t *position, int64_t *high_watermark);

/*
 * Joins the consumer's group (group_id) reading topics[0..count): the group
 * divides the partitions of these topics among its members.  Nothing is sent
 * here; runnel_consumer_poll finds the coordinator, joins, and then fetches
 * the partitions assigned to this member, starting at the group's committed
 * offsets (or as auto_offset_reset says where there is none or it is out of
 * range).  Calling it again replaces the subscription and rejoins.
 * Topics that do not exist yet are assigned once they do.
 * Returns 0, or RN_E_INVAL (no group_id, partitions assigned by hand, a bad
 * topic name, more than RUNNEL_MAX_SUBSCRIBED_TOPICS topics) or
 * RN_E_NOMEM.
 */
int runnel_consumer_subscribe(runnel_consumer *c, const char *const *topics, size_t count);

/*
 * Commits offsets for the group and waits (up to timeout_ms) until the
 * coordinator has stored them (replicated): offsets[0..count), each the
 * next offset to read; or, with count 0, the position of every assigned
 * partition (what poll has returned so far).  A member of a group commits
 * with its generation; a consumer with a group but no subscription commits
 * from outside the membership.  Returns 0, or RN_E_INVAL (no group_id), a
 * refusal of the coordinator: RN_E_REBALANCE_IN_PROGRESS,
 * RN_E_ILLEGAL_GENERATION,
 * RN_E_UNKNOWN_MEMBER_ID (the consumer then rejoins on its next poll; the
 * offsets are not stored), RN_E_TIMEOUT, or another node error.
 */
int runnel_consumer_commit(runnel_consumer *c, const struct runnel_topic_partition *offsets,
			   size_t count, int timeout_ms);

/* Asks the coordinator for the group's committed offsets of
 * parts[0..count) and stores each in parts[i].offset (-1: none).  Waits up
 * to timeout_ms.  Returns 0, RN_E_INVAL (no group_id), RN_E_TIMEOUT or a
 * node error. */
int runnel_consumer_committed(runnel_consumer *c, struct runnel_topic_partition *parts,
			      size_t count, int timeout_ms);

/* The partitions this consumer reads now, sorted by topic and partition,
 * offset set to the position (-1 when not known yet).  *out is malloc'd
 * and owned by the caller (free()); its topic strings belong to the
 * consumer and stay valid until runnel_consumer_free.  Returns 0 or
 * RN_E_NOMEM. */
int runnel_consumer_assignment(const runnel_consumer *c, struct runnel_topic_partition **out,
			       size_t *count);

/* The member id the coordinator gave this consumer ("" before the first
 * join) and the generation of its current assignment (-1: none). */
const char *runnel_consumer_member_id(const runnel_consumer *c);
int32_t runnel_consumer_generation(const runnel_consumer *c);

/*
 * Leaves the group cleanly: commits the positions (with
 * enable_auto_commit), tells the rebalance callback the partitions are
 * revoked, and sends LeaveGroup so that the group rebalances at once
 * instead of after the session timeout.  Waits at most timeout_ms.  After
 * close, poll returns RN_E_CLOSED; free the consumer with
 * runnel_consumer_free.  A consumer without a group only stops.  Returns 0
 * or the commit's error (the consumer leaves anyway).
 */
int runnel_consumer_close(runnel_consumer *c, int timeout_ms);

/* Frees the consumer without talking to the group: call
 * runnel_consumer_close first to leave it cleanly. */
void runnel_consumer_free(runnel_consumer *c);
const char *runnel_consumer_errmsg(const runnel_consumer *c);

/* --------------------------------------------------------------------- admin */

typedef struct runnel_admin runnel_admin;

struct runnel_config_entry {
	const char *name;
	const char *value;
	/* "default", "node", "cluster" or "topic" (runnel_admin_describe_configs);
	 * NULL on input */
	const char *source;
};

struct runnel_new_topic {
	const char *name;
	int32_t partitions;         /* 0: the node's default */
	int32_t replication_factor; /* 0: the node's default */
	const struct runnel_config_entry *configs;
	size_t config_count;
};

struct runnel_topic_summary {
	char *name;
	int32_t partitions;
	int32_t replication_factor;
};

struct runnel_partition_info {
	int32_t partition;
	int32_t error; /* 0 or a negative code for this partition */
	int32_t leader; /* -1: none */
	int32_t leader_epoch;
	int32_t *replicas;
	size_t replica_count;
	int32_t *isr;
	size_t isr_count;
	int64_t log_start_offset; /* -1 when the leader could not say */
	int64_t high_watermark;
};

struct runnel_topic_info {
	char *name;
	struct runnel_partition_info *partitions;
	size_t partition_count;
	struct runnel_config_entry *configs; /* strings owned by the info */
	size_t config_count;
};

/* Creates an admin client.  Returns 0, RN_E_INVAL or RN_E_NOMEM. */
int runnel_admin_new(const struct runnel_client_config *cfg, runnel_admin **out);
void runnel_admin_free(runnel_admin *a);
const char *runnel_admin_errmsg(const runnel_admin *a);

/* Creates a topic and waits (up to timeout_ms) for the controller's answer.
 * Returns 0, or the node's error (RN_E_TOPIC_ALREADY_EXISTS,
 * RN_E_INVALID_TOPIC, RN_E_INVALID_PARTITIONS, RN_E_INVALID_REPLICATION_FACTOR,
 * RN_E_INVALID_CONFIG, ...), or a connection error. */
int runnel_admin_create_topic(runnel_admin *a, const struct runnel_new_topic *topic, int timeout_ms);

/* Deletes a topic.  Returns 0, RN_E_UNKNOWN_TOPIC_OR_PARTITION, or another
 * error as for create. */
int runnel_admin_delete_topic(runnel_admin *a, const char *name, int timeout_ms);

/* Lists every topic, sorted by name.  On success *out is an array of *count
 * entries owned by the caller: free with runnel_topic_summaries_free. */
int runnel_admin_list_topics(runnel_admin *a, struct runnel_topic_summary **out, size_t *count);
void runnel_topic_summaries_free(struct runnel_topic_summary *list, size_t count);

/* Describes one topic: metadata, configs, and each partition's log start
 * offset and high watermark (ListOffsets to its leader).  *out is owned by the
 * caller: free with runnel_topic_info_free.  Returns 0,
 * RN_E_UNKNOWN_TOPIC_OR_PARTITION or a connection error. */
int runnel_admin_describe_topic(runnel_admin *a, const char *name, struct runnel_topic_info **out);
void runnel_topic_info_free(struct runnel_topic_info *info);

/* ------------------------------------------------------------ consumer groups */

/* How long the group calls keep looking for a group's coordinator (the
 * offsets topic may be being created, or its leader moving). */
#define RUNNEL_GROUP_COORDINATOR_WAIT_MS 15000

/* One group as some node's ListGroups reports it. */
struct runnel_group_listing {
	char *group;
	char *state; /* Empty, PreparingRebalance, CompletingRebalance, Stable, Dead */
	char *protocol_type;
	int32_t coordinator; /* the node that reported it */
	int32_t member_count;
};

/* Asks every broker for the groups it coordinates and merges the answers,
 * sorted by group id; brokers that do not answer are skipped.  *out is
 * owned by the caller (runnel_group_listings_free).  Returns 0, or
 * RN_E_TIMEOUT or a connection error when no broker answered. */
int runnel_admin_list_groups(runnel_admin *a, struct runnel_group_listing **out, size_t *count);
void runnel_group_listings_free(struct runnel_group_listing *list, size_t count);

struct runnel_group_member_info {
	char *member_id;
	char *client_id;
	char *host;
	/* The member's assignment (decoded ConsumerAssignment); topic
	 * strings are owned by the info. */
	struct runnel_topic_partition *assigned;
	size_t assigned_count;
};

/* A partition the group has committed an offset for or has assigned. */
struct runnel_group_partition_info {
	char *topic;
	int32_t partition;
	int64_t committed_offset; /* -1: none */
	int64_t log_end_offset;   /* the high watermark; -1 when not known */
	int64_t lag;              /* log_end_offset - committed_offset; -1 when either is not known */
	/* The member reading it (pointers into members), NULL when none. */
	const struct runnel_group_member_info *member;
};

struct runnel_group_info {
	char *group;
	char *state;
	char *protocol_type;
	char *protocol; /* the assignor of the current generation */
	int32_t generation;
	int32_t coordinator;
	struct runnel_group_member_info *members;
	size_t member_count;
	struct runnel_group_partition_info *partitions; /* sorted by topic and partition */
	size_t partition_count;
};

/* Describes a group: state and members (DescribeGroups to its
 * coordinator), committed offsets (OffsetFetch), and the high watermark of
 * each partition.  *out is owned by the caller (runnel_group_info_free).
 * Returns 0, RN_E_GROUP_ID_NOT_FOUND, RN_E_COORDINATOR_NOT_AVAILABLE,
 * RN_E_INVALID_GROUP_ID, or a connection error. */
int runnel_admin_describe_group(runnel_admin *a, const char *group, struct runnel_group_info **out);
void runnel_group_info_free(struct runnel_group_info *info);

/* Deletes a group and its committed offsets.  Returns 0,
 * RN_E_NON_EMPTY_GROUP (it has members), RN_E_GROUP_ID_NOT_FOUND, or
 * another node or connection error. */
int runnel_admin_delete_group(runnel_admin *a, const char *group);

/* Commits offsets[0..count) for group from outside its membership; the
 * coordinator accepts that only while the group has no members.  Returns
 * 0 or the first error (top level or per partition). */
int runnel_admin_commit_group_offsets(runnel_admin *a, const char *group,
				      const struct runnel_topic_partition *offsets, size_t count);

/* ListOffsets timestamps with a special meaning. */
#define RUNNEL_OFFSET_LATEST (-1)
#define RUNNEL_OFFSET_EARLIEST (-2)

/* For every partition of topic: the earliest offset (query
 * RUNNEL_OFFSET_EARLIEST), the high watermark (RUNNEL_OFFSET_LATEST), or
 * the first offset whose timestamp is at or after query (-1 when none).
 * *offsets is malloc'd with *count entries, indexed by partition.  Returns
 * 0, RN_E_UNKNOWN_TOPIC_OR_PARTITION, or another error. */
int runnel_admin_list_offsets(runnel_admin *a, const char *topic, int64_t query, int64_t **offsets,
			      int32_t *count);

/* ------------------------------------------------- preferred-leader election */

/* The outcome of a preferred-leader election for one partition. */
struct runnel_election_result {
	char *topic;
	/* -1 when error concerns the whole topic (it does not exist). */
	int32_t partition;
	/* 0: the preferred replica (the first one) leads now;
	 * RN_E_ELECTION_NOT_NEEDED: it already led;
	 * RN_E_PREFERRED_LEADER_NOT_AVAILABLE: it is fenced or not in sync;
	 * RN_E_UNKNOWN_TOPIC_OR_PARTITION, or another code. */
	int32_t error;
	char *message; /* the controller's own words, "" when it gave none */
};

/*
 * Asks the active controller to move leadership of partitions back to their
 * preferred replica (the first of each partition's replicas) where that
 * replica is alive and in sync: topic NULL means every partition of every
 * topic; partition -1 every partition of topic.  Waits up to timeout_ms,
 * following the controller across elections as topic creation does (an
 * attempt whose answer was lost is sent again, so a partition it moved is
 * then reported as ELECTION_NOT_NEEDED).
 * On success *out is an array of *count results sorted by topic and
 * partition, owned by the caller: free with runnel_election_results_free.
 * Returns 0 when the controller answered (the outcome of each partition is
 * in its result), RN_E_INVAL (bad arguments), RN_E_NOT_CONTROLLER (no
 * controller answered in time), RN_E_NOMEM, or a connection error.
 */
int runnel_admin_elect_leaders(runnel_admin *a, const char *topic, int32_t partition,
			       int timeout_ms, struct runnel_election_result **out, size_t *count);
void runnel_election_results_free(struct runnel_election_result *results, size_t count);

/* ------------------------------------------------------------ cluster status */

/* Partitions named in a status's offline and under-replicated lists at
 * most; the counts are always complete. */
#define RUNNEL_STATUS_MAX_LISTED 100

/* One member of the metadata quorum as the quorum leader sees it.  Fields
 * the answering node could not know (it was not the leader) are -1. */
struct runnel_quorum_member {
	int32_t id;
	int64_t log_end_offset; /* the last log index the leader knows it holds */
	int64_t lag;            /* entries behind the leader's last index */
	int64_t last_contact_ms; /* since the leader last heard from it */
};

struct runnel_broker_state {
	int32_t id;
	char *host;
	int32_t port;
	char *rack; /* "" when none was given */
	int fenced; /* 1: fenced by the controller (missed heartbeats or not caught up) */
};

/* A partition as "topic-partition". */
struct runnel_partition_ref {
	char *topic;
	int32_t partition;
};

struct runnel_cluster_status {
	char *cluster_id;
	/* The node whose DescribeQuorum answer this is: the quorum leader
	 * when it could be reached. */
	int32_t answered_by;
	char *answered_role; /* leader, follower, candidate, observer, ... */
	/* Set when the quorum leader was named but did not answer; the quorum
	 * fields then come from answered_by's view, and leader_error says
	 * why. */
	int leader_unreachable;
	char *leader_error;
	int32_t leader_id; /* -1: no quorum leader */
	char *leader_host; /* NULL when not known */
	int32_t leader_port;
	int64_t epoch; /* the Raft term */
	int64_t commit_index;
	int64_t high_watermark;
	int64_t last_index; /* answered_by's last log index */
	struct runnel_quorum_member *voters;
	size_t voter_count;
	struct runnel_quorum_member *observers;
	size_t observer_count;
	int32_t controller_id; /* from the metadata: the active controller, -1 none */
	struct runnel_broker_state *brokers; /* sorted by id */
	size_t broker_count;
	int32_t partition_total;
	/* Offline: no leader, or a fenced leader.  Under-replicated: fewer
	 * in-sync replicas than replicas.  The lists hold the first
	 * RUNNEL_STATUS_MAX_LISTED of each, sorted by topic and partition. */
	int32_t offline_count;
	struct runnel_partition_ref *offline;
	size_t offline_listed;
	int32_t under_replicated_count;
	struct runnel_partition_ref *under_replicated;
	size_t under_replicated_listed;
};

/*
 * Describes the cluster: the metadata quorum (DescribeQuorum, asked of the
 * quorum leader when the first node that answers is not it), the brokers and
 * the partitions (Metadata for every topic, from the quorum leader when it
 * answers).  Nodes that do not answer are skipped; a named leader that does
 * not answer is reported in leader_unreachable, not as a failure.
 * *out is owned by the caller: free with runnel_cluster_status_free.
 * Returns 0, RN_E_TIMEOUT or a connection error when no node answered, or
 * RN_E_NOMEM.
 */
int runnel_admin_describe_cluster(runnel_admin *a, struct runnel_cluster_status **out);
void runnel_cluster_status_free(struct runnel_cluster_status *st);

/* ------------------------------------------------------------------- configs */

/* What a config call is about (Kafka's resource type numbers). */
enum runnel_config_resource {
	RUNNEL_CONFIG_TOPIC = 2,   /* one topic's overrides */
	RUNNEL_CONFIG_CLUSTER = 4, /* the cluster-wide defaults of the topic keys */
};

enum runnel_config_op {
	RUNNEL_CONFIG_SET = 0,    /* set the key to value */
	RUNNEL_CONFIG_DELETE = 1, /* remove the override or default (value unused) */
};

/* One change of a topic override or cluster-wide default. */
struct runnel_config_change {
	const char *name;
	enum runnel_config_op op;
	const char *value; /* RUNNEL_CONFIG_SET only */
};

/*
 * Changes the configs of a topic (type RUNNEL_CONFIG_TOPIC, name the topic)
 * or the cluster-wide defaults (RUNNEL_CONFIG_CLUSTER, name NULL or "") as
 * one step through the active controller (IncrementalAlterConfigs): either
 * every change is made or none.  A topic's value is, first found, its
 * override, the cluster-wide default, the node's own setting, the built-in
 * default.  With validate_only set, the changes are only checked.  After a
 * success, waits (within timeout_ms) until every live broker applies the
 * changes, so they are in effect on every node when this returns.
 *   changes[0..count)  1 to RN_MAX_CONFIGS_PER_TOPIC changes, each key once;
 *                      not owned, only read during the call
 * Returns 0, RN_E_INVAL (bad arguments), RN_E_INVALID_CONFIG (an unknown
 * key or a value outside the key's allowed values: runnel_admin_errmsg
 * names the key and the allowed values), RN_E_UNKNOWN_TOPIC_OR_PARTITION,
 * RN_E_INVALID_TOPIC, RN_E_INVALID_REQUEST, or a connection error.
 */
int runnel_admin_alter_configs(runnel_admin *a, enum runnel_config_resource type, const char *name,
			       const struct runnel_config_change *changes, size_t count,
			       int validate_only, int timeout_ms);

/*
 * Describes every config key of a topic (type RUNNEL_CONFIG_TOPIC, name the
 * topic) or the cluster-wide defaults (RUNNEL_CONFIG_CLUSTER, name NULL or
 * ""), in key order, with each value's source: "topic", "cluster", "node"
 * (the answering node's own setting; topics only) or "default"
 * (DescribeConfigs to any node).  *out is an array of *count entries owned by
 * the caller: free with runnel_config_entries_free.  Returns 0, RN_E_INVAL,
 * RN_E_UNKNOWN_TOPIC_OR_PARTITION, RN_E_INVALID_TOPIC, RN_E_NOMEM or a
 * connection error.
 */
int runnel_admin_describe_configs(runnel_admin *a, enum runnel_config_resource type,
				  const char *name, struct runnel_config_entry **out, size_t *count);
void runnel_config_entries_free(struct runnel_config_entry *entries, size_t count);

#endif
