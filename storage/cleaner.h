/* cleaner.h: the compaction core: a bounded key -> latest offset map and the rewrite of one batch. */
#ifndef RUNNEL_STORAGE_CLEANER_H
#define RUNNEL_STORAGE_CLEANER_H

/*
 * Compaction keeps, for every key, only its latest record.  This module
 * holds the parts that touch no file: the map from key to the offset of the
 * key's latest record over the dirty part of a log, and the rewrite of one
 * record batch given that map.  storage/plog_clean.c drives them over a
 * log's segments.
 *
 * A key is identified by a 64-bit hash of its bytes plus its length, as
 * Kafka identifies keys by a digest: two different keys of the same length
 * would have to collide in 64 bits to be mistaken for each other.
 *
 * The rewrite never changes an offset.  A batch whose records all survive
 * is kept byte for byte.  Otherwise each run of surviving records with
 * consecutive offsets becomes a batch of its own (its base offset the first
 * survivor's, the producer fields, leader epoch, attributes and codec of
 * the original, compressed again with the same codec), and each run of
 * removed offsets becomes an empty batch (no records, uncompressed) whose
 * offset range covers it, so that the batches of a segment still follow
 * each other offset after offset.  Empty runs that follow each other across
 * batches of the same leader epoch are merged into one empty batch.
 */

#include "wire/batch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of the key map: its memory is CLEANER_MAP_BUCKET_BYTES per
 * bucket, and it takes keys until CLEANER_MAP_LOAD_PERCENT of the buckets
 * are used (a cleaning then stops its dirty range early, as Kafka does). */
#define CLEANER_MAP_DEFAULT_BUCKETS (1u << 20)
#define CLEANER_MAP_MIN_BUCKETS 16u
#define CLEANER_MAP_MAX_BUCKETS (1u << 26)
#define CLEANER_MAP_BUCKET_BYTES 24u
#define CLEANER_MAP_LOAD_PERCENT 90u

struct cleaner_map;

/* Allocates a map of buckets buckets (a power of two within the bounds
 * above).  Returns 0 and *out, RN_E_INVAL or RN_E_NOMEM. */
int cleaner_map_create(uint32_t buckets, struct cleaner_map **out);
void cleaner_map_free(struct cleaner_map *m);

/* Keys the map can still take before it counts as full. */
uint32_t cleaner_map_room(const struct cleaner_map *m);
uint32_t cleaner_map_size(const struct cleaner_map *m);

/* Records that key's latest record is at offset (later puts of the same
 * key replace the offset).  Returns 0 or RN_E_FULL (a new key and no
 * room; nothing changed). */
int cleaner_map_put(struct cleaner_map *m, const uint8_t *key, int32_t key_len, int64_t offset,
		    bool tombstone);

/* The latest offset recorded for key, or -1 when the map does not hold it;
 * *tombstone (when not NULL) says whether that record is a tombstone. */
int64_t cleaner_map_get(const struct cleaner_map *m, const uint8_t *key, int32_t key_len,
			bool *tombstone);

/* What decides whether a record survives. */
struct cleaner_rules {
	const struct cleaner_map *map;
	int64_t map_end;         /* records at or past this offset are all kept */
	int64_t delete_before_ms; /* a latest tombstone in a batch whose max
				     timestamp is below this is removed */
};

/* Whether the record rec of a batch with max timestamp batch_max_ts
 * survives under rules. */
bool cleaner_keeps(const struct cleaner_rules *rules, const struct record_view *rec,
		   int64_t batch_max_ts);

/* Receives each output batch of a rewrite: buf[0..len), one whole batch.
 * Returns 0 or an error that stops the rewrite. */
typedef int (*cleaner_emit_cb)(void *arg, const uint8_t *buf, size_t len);

/* The state of a segment's rewrite: scratch buffers and a pending empty
 * run.  One per thread. */
struct cleaner_writer {
	uint8_t *build;     /* RN_MAX_BATCH_BYTES: an uncompressed output batch */
	uint8_t *packed;    /* its compressed form */
	size_t packed_cap;
	struct record_header_view *hdrs; /* RN_MAX_HEADERS_PER_RECORD */
	struct batch_codec codec;
	bool gap_open;      /* an empty run waits to be written */
	int64_t gap_base;
	int64_t gap_end;    /* offset after the run */
	struct batch_info gap_info; /* the batch the run began in */
	cleaner_emit_cb emit;
	void *emit_arg;
	uint64_t records_in, records_out;
};

int cleaner_writer_init(struct cleaner_writer *w, cleaner_emit_cb emit, void *arg);
void cleaner_writer_destroy(struct cleaner_writer *w);

/*
 * Rewrites the validated batch buf[0..len) under rules, emitting the
 * output batches in offset order.  *changed is set when a record was
 * removed.  A pending empty run is emitted before anything that follows
 * it; call cleaner_writer_flush at the end of a segment.
 * Returns 0, RN_E_CORRUPT_STATE (the batch does not decode), RN_E_NOMEM or
 * what emit returned.
 */
int cleaner_rewrite_batch(struct cleaner_writer *w, const struct cleaner_rules *rules,
			  const uint8_t *buf, size_t len, bool *changed);

/* Emits the pending empty run, if any.  0 or what emit returned. */
int cleaner_writer_flush(struct cleaner_writer *w);

#endif
