/* accum.h: the producer's record accumulator: one open batch per partition, queues of closed batches. */
#ifndef RUNNEL_CLIENTS_ACCUM_H
#define RUNNEL_CLIENTS_ACCUM_H

/*
 * The accumulator is the producer's core and does no I/O: time comes in as
 * now_ms (monotonic) and records as bytes.  Each partition has at most one
 * open batch, built in place with batch_builder, and a FIFO of closed
 * batches.  The oldest batches of the FIFO may be in flight, up to the
 * in-flight limit of accum_set_max_inflight (1 unless the producer is
 * idempotent).  When one of them fails with a retriable error the
 * partition sends nothing new until every batch of it in flight has come
 * back, and then resends from the oldest, so records stay in order across
 * retries.
 *
 * With idempotence on (accum_set_idempotence) every closed batch carries
 * the producer id and epoch of accum_set_producer and a base sequence:
 * each partition counts records from 0 (wrapping after INT32_MAX to 0),
 * and a batch takes the next sequences when it closes, so that a retry
 * sends the same bytes and the leader can recognise it.  Batches closed
 * while no producer id is known are stamped when one is set; a new id
 * (after a fatal sequence error) restarts every partition at sequence 0
 * and stamps the batches not yet acknowledged again.  Batch
 * buffers count against buffer_memory; an append that would exceed it fails
 * with RN_E_FULL and the producer waits for deliveries to free memory.  An
 * open batch is charged its whole buffer (batch_size, or one record's size
 * when larger); a closed batch that fills at most half of it is moved into
 * a buffer of its own size and charged that, so that batches closed by
 * linger with a record or two do not use up buffer_memory.  With a codec
 * set, a batch is compressed when it closes, and charged its compressed
 * size the same way.
 */

#include <stddef.h>
#include <stdint.h>

#include "clients/partitioner.h"
#include "clients/runnel.h"
#include "wire/batch.h"

struct accum_record_meta {
	runnel_delivery_cb cb;
	void *opaque;
};

struct accum_batch {
	struct accum_batch *next;
	const char *topic; /* the accumulator's copy of the name */
	int32_t partition;
	uint8_t *buf;
	size_t cap;
	size_t len; /* set when closed */
	struct batch_builder builder;
	int closed;
	int inflight; /* sent, no answer yet */
	/* What the batch's header carries: producer id and epoch, and the
	 * sequence of its first record (-1, -1, -1 when not stamped). */
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	struct accum_record_meta *meta;
	size_t meta_cap;
	int32_t count;
	int64_t created_ms;  /* when the first record was appended */
	int64_t deadline_ms; /* created_ms + delivery timeout */
	int64_t retry_at_ms; /* not sent again before this */
	int32_t attempts;
	/* The retriable error of the last failed attempt, 0 before any: what
	 * the batch reports if its delivery timeout passes before a retry
	 * succeeds. */
	int last_err;
	/* Outcome, filled when the batch completes. */
	int err;
	int64_t base_offset;
};

struct accum_partition {
	struct accum_batch *open;
	struct accum_batch *head, *tail; /* closed batches, oldest first */
	int inflight;                    /* batches of the queue in flight */
	/* A batch failed with a retriable error: nothing new is sent until
	 * inflight drops to 0, then the queue is sent again from its head. */
	int draining;
	/* The node the batches in flight went to: while some are, no batch
	 * goes to another node, whose answers could overtake theirs. */
	int32_t node;
	/* The sequence the next closed batch starts at (idempotence). */
	int32_t next_sequence;
};

struct accum_topic {
	char *name;
	int32_t partition_count;
	struct accum_partition *parts;
	struct partitioner_sticky sticky;
};

/* Released batches (with their record metadata arrays) kept for reuse at
 * most; more are freed. */
#define ACCUM_MAX_FREE_BATCHES 32

struct accum {
	uint32_t batch_size;
	int32_t linger_ms;
	uint32_t message_max_bytes;
	size_t buffer_memory;
	int32_t delivery_timeout_ms;
	uint32_t seed;
	struct accum_topic **topics;
	size_t topic_count;
	size_t memory_used;
	size_t records; /* appended and not yet taken out with accum_batch_complete */
	/*
	 * Buffers of batch_size bytes whose batches completed, kept for the
	 * next batches instead of going back to malloc: at high rates a fresh
	 * buffer per batch costs page faults to map and zero its memory.  A
	 * free buffer holds the link to the next one in its first bytes.
	 * Their bytes, pool_bytes, and memory_used together stay within
	 * buffer_memory.
	 */
	uint8_t *free_bufs;
	size_t pool_bytes;
	/* Released batch structs, linked by next, at most ACCUM_MAX_FREE_BATCHES. */
	struct accum_batch *free_batches;
	size_t free_batch_count;
	/*
	 * Compression of closed batches (accum_set_compression): the codec
	 * (BATCH_COMPRESSION_*), its level and contexts, and the buffer a batch
	 * is compressed into before its bytes replace the batch's own.  The
	 * buffer holds the worst case of a batch_size batch and is kept; one
	 * made larger for a batch of a single large record is freed after use.
	 */
	int codec;
	int codec_level;
	struct batch_codec codec_ctx;
	uint8_t *zbuf;
	size_t zbuf_cap;
	/* Batches in flight, over every partition. */
	size_t inflight;
	/* Batches of one partition in flight at most (accum_set_max_inflight). */
	int max_inflight;
	/* Idempotence: on or off, and the producer id and epoch batches are
	 * stamped with (-1 while none is known: batches then close unstamped
	 * and none is sendable). */
	int idempotent;
	int64_t producer_id;
	int16_t producer_epoch;
};

/* Sets up an empty accumulator.  seed varies the sticky partitioner.
 * batch_size must be at least BATCH_HEADER_BYTES + 1. */
void accum_init(struct accum *a, uint32_t batch_size, int32_t linger_ms, uint32_t message_max_bytes,
		size_t buffer_memory, int32_t delivery_timeout_ms, uint32_t seed);

/* Compresses every batch closed from now on with codec (BATCH_COMPRESSION_*,
 * none, lz4 or zstd) at level (BATCH_CODEC_LEVEL_DEFAULT or valid for the
 * codec).  A batch whose compressed form would not be smaller is sent
 * uncompressed. */
void accum_set_compression(struct accum *a, int codec, int level);

/* Lets up to max (>= 1) batches of one partition be in flight at once. */
void accum_set_max_inflight(struct accum *a, int max);

/* Turns idempotence on or off.  On, batches are sent only once stamped with
 * a producer id (accum_set_producer).  Turning it off leaves batches that
 * closed unstamped as they are: they go without producer fields. */
void accum_set_idempotence(struct accum *a, int on);

/*
 * Sets the producer id and epoch (producer_id >= 0), or forgets them
 * (producer_id -1: nothing is sendable until an id is set again).  A new id
 * restarts every partition's sequence at 0 and stamps every closed batch
 * (new producer fields, new sequences in queue order, CRC recomputed).
 * Nothing may be in flight (a->inflight == 0): the bytes of a batch in
 * flight are still being sent.
 */
void accum_set_producer(struct accum *a, int64_t producer_id, int16_t producer_epoch);

/* The sequence count records after seq: sequences wrap from INT32_MAX to 0. */
int32_t accum_seq_add(int32_t seq, int32_t count);

/* Frees every batch (without calling callbacks) and the topics. */
void accum_destroy(struct accum *a);

/* Finds the topic, adding it (or growing it to partition_count partitions).
 * Returns NULL when out of memory. */
struct accum_topic *accum_topic_get(struct accum *a, const char *name, int32_t partition_count);
struct accum_topic *accum_topic_find(const struct accum *a, const char *name);

/* The partition for a record sent with partition -1: murmur2 of the key, or
 * the sticky partition for a null key. */
int32_t accum_choose_partition(struct accum_topic *t, const void *key, int32_t key_len);

/*
 * Appends one record to partition's open batch, closing the batch and
 * opening a new one when the record does not fit.  timestamp is wall-clock
 * ms.  Returns 0, RN_E_FULL (buffer_memory reached; nothing appended),
 * RN_E_MESSAGE_TOO_LARGE (the record alone exceeds message_max_bytes),
 * RN_E_INVAL (too many headers, bad lengths, partition out of range) or
 * RN_E_NOMEM.
 */
int accum_append(struct accum *a, struct accum_topic *t, int32_t partition, int64_t timestamp,
		 const void *key, int32_t key_len, const void *value, int32_t value_len,
		 const struct runnel_header *headers, size_t header_count, runnel_delivery_cb cb,
		 void *opaque, int64_t now_ms);

/* Closes open batches whose linger time has passed and whose partition has
 * nothing queued that is not in flight, and room for one more in flight
 * (all open batches when flush is set), moving them to their partition's
 * queue. */
void accum_close_ready(struct accum *a, int64_t now_ms, int flush);

/*
 * The batches of a partition that can be sent now, in queue order, into
 * out[0..max): the oldest closed batches not in flight and past their retry
 * time, as many as the in-flight limit leaves room for, none while the
 * partition drains after a failure, and with idempotence on none until the
 * producer id is known.  Returns how many.
 */
size_t accum_sendable_list(const struct accum *a, const struct accum_partition *ap,
			   int64_t now_ms, struct accum_batch **out, size_t max);

/* The first batch accum_sendable_list would give, or NULL. */
struct accum_batch *accum_sendable(const struct accum *a, const struct accum_partition *ap,
				   int64_t now_ms);

/* Marks a sendable batch as in flight to node. */
void accum_batch_sent(struct accum *a, struct accum_batch *b, int32_t node);

/* True when a batch older than b in its partition's queue has not been
 * acknowledged yet (it is in flight or waiting to be sent again). */
int accum_batch_has_earlier(struct accum *a, const struct accum_batch *b);

/* Removes a closed batch from its partition (it completed: delivered or
 * failed), releasing its buffer memory; the caller owns the returned batch
 * (its meta, for the callbacks) and hands it back with accum_batch_release
 * (or frees it with accum_batch_free).  Usually the head of the queue. */
struct accum_batch *accum_batch_complete(struct accum *a, struct accum_batch *b, int err,
					 int64_t base_offset);

/* Puts an in-flight batch back to be sent again after retry_at_ms; its
 * partition drains (see accum_partition.draining). */
void accum_batch_retry(struct accum *a, struct accum_batch *b, int64_t retry_at_ms);

/* The partition state of batch b. */
struct accum_partition *accum_partition_of(struct accum *a, const struct accum_batch *b);

/* The earliest time something becomes due: a linger (of a partition with
 * nothing queued, which otherwise waits for its queue), or a retry after
 * after_ms (a batch whose retry time passed by then is ready, not due: the
 * caller knows why it did not go).  INT64_MAX when nothing is. */
int64_t accum_next_due(const struct accum *a, int64_t after_ms);

/* True when no record is open, queued or in flight. */
int accum_empty(const struct accum *a);

/* Frees a batch and everything it holds. */
void accum_batch_free(struct accum_batch *b);

/* Takes back a batch that accum_batch_complete returned, once its callbacks
 * ran, to reuse its memory for a later batch. */
void accum_batch_release(struct accum *a, struct accum_batch *b);

#endif
