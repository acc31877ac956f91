/* pstate.h: a partition's idempotent-producer state: each producer's last batches, to answer retries and refuse gaps. */
#ifndef RUNNEL_BROKER_PSTATE_H
#define RUNNEL_BROKER_PSTATE_H

/*
 * An idempotent producer stamps every batch with its producer id, its epoch
 * and the sequence number of the batch's first record (per partition,
 * counting records from 0 and wrapping after INT32_MAX to 0).  The leader
 * remembers, per producer, the sequence ranges and offsets of its last
 * PSTATE_CACHED_BATCHES batches, so that:
 *
 *   - a retry of one of them (same epoch, same first and last sequence) is
 *     answered with the offsets it was written at, not appended again;
 *   - a batch that does not follow the last one (a gap, or a reordering
 *     beyond what the cache remembers) is refused with
 *     OUT_OF_ORDER_SEQUENCE_NUMBER, and the producer retries in order;
 *   - a batch from an older epoch than the producer's latest (a zombie
 *     after the id was re-initialised) is refused with
 *     INVALID_PRODUCER_EPOCH;
 *   - a new epoch starts at sequence 0.
 *
 * A producer the state does not know (never seen, expired, or lost with a
 * truncated log) is accepted at any sequence, as Kafka does since KIP-360:
 * refusing it would leave the producer no way to continue.
 *
 * Followers and recovery apply every batch with pstate_update, without
 * checks (the leader decided), so a follower that becomes leader
 * deduplicates the same way.  The state is a pure structure: no clock, no
 * file; the partition shell persists snapshots (pstate_snapshot_*) and
 * replays the log after the latest one on restart.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Batches remembered per producer (Kafka's 5, the most in flight). */
#define PSTATE_CACHED_BATCHES 5
/* Producers remembered per partition; beyond it the least recently used
 * producer is forgotten (and would be accepted as unknown). */
#define PSTATE_MAX_PRODUCERS 16384
/* Snapshot file format. */
#define PSTATE_SNAPSHOT_MAGIC 0x524e5053u /* "RNPS" */
#define PSTATE_SNAPSHOT_VERSION 1
#define PSTATE_SNAPSHOT_HEADER_BYTES 22u  /* magic 4, version 2, crc 4, end 8, count 4 */
#define PSTATE_SNAPSHOT_PRODUCER_BYTES 19u /* id 8, epoch 2, last used 8, batch count 1 */
#define PSTATE_SNAPSHOT_BATCH_BYTES 24u   /* first seq 4, last seq 4, first offset 8, last offset 8 */

/* One batch as the state sees it (from the batch header and its offsets). */
struct pstate_batch {
	int32_t first_seq;
	int32_t last_seq;
	int64_t first_offset;
	int64_t last_offset;
};

struct pstate_producer {
	int64_t producer_id; /* -1: a free slot */
	int16_t epoch;
	uint8_t count;       /* batches cached, at most PSTATE_CACHED_BATCHES */
	uint8_t newest;      /* index of the newest cached batch */
	int64_t last_used;   /* a tick of the state's own counter (LRU) or a time */
	struct pstate_batch batches[PSTATE_CACHED_BATCHES];
};

struct pstate {
	struct pstate_producer *slots; /* open addressing, linear probing */
	uint32_t cap;                  /* a power of two, or 0 */
	uint32_t count;
	int64_t clock;                 /* incremented by every update (LRU order) */
};

/* A batch to check or record.  last_seq = first_seq + last_offset_delta,
 * wrapped (pstate_last_seq). */
struct pstate_append {
	int64_t producer_id;
	int16_t epoch;
	int32_t first_seq;
	int32_t last_seq;
	int64_t first_offset; /* pstate_update only */
	int64_t last_offset;  /* pstate_update only */
};

struct batch_info;

/*
 * Fills *a from the header of a batch that carries its offsets (a stamped
 * or stored batch): producer fields, sequences and offsets.  Returns false
 * when the batch has no producer id or no base sequence (nothing to
 * record).
 */
bool pstate_append_from_batch(const struct batch_info *info, struct pstate_append *a);

/* The sequence after seq (wraps from INT32_MAX to 0). */
int32_t pstate_next_seq(int32_t seq);

/* The last sequence of a batch starting at first_seq whose records span
 * last_offset_delta + 1 offsets. */
int32_t pstate_last_seq(int32_t first_seq, int32_t last_offset_delta);

void pstate_init(struct pstate *s);
void pstate_free(struct pstate *s);

/* Forgets every producer (keeps the memory). */
void pstate_clear(struct pstate *s);

/*
 * Checks a batch a leader is about to append (a->producer_id >= 0,
 * a->first_seq >= 0).  Returns:
 *   0                               append it, then call pstate_update
 *   RN_E_DUPLICATE_SEQUENCE_NUMBER  a retry of a cached batch; *dup (not
 *                                   NULL) receives it: answer with its offsets
 *   RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER  not the next sequence for this epoch,
 *                                   or a new epoch not starting at 0
 *   RN_E_INVALID_PRODUCER_EPOCH     older than the producer's epoch
 */
int pstate_check(const struct pstate *s, const struct pstate_append *a, struct pstate_batch *dup);

/*
 * Records an appended batch: a newer epoch replaces the producer's cached
 * batches, the same epoch adds one (dropping the oldest beyond
 * PSTATE_CACHED_BATCHES).  Batches without a producer id are ignored.
 * Returns 0 or RN_E_NOMEM (the state is then unchanged).
 */
int pstate_update(struct pstate *s, const struct pstate_append *a);

/* The producer's entry, or NULL. */
const struct pstate_producer *pstate_find(const struct pstate *s, int64_t producer_id);

/*
 * Removes every batch at or after offset (the log was truncated there);
 * producers left without batches are forgotten.  A producer whose older
 * batches were evicted from the cache may then be forgotten while the log
 * still holds some of its batches: the shell rebuilds from a snapshot and
 * the log when it needs exact state.
 */
void pstate_truncate(struct pstate *s, int64_t offset);

/* Bytes pstate_snapshot_write writes. */
size_t pstate_snapshot_size(const struct pstate *s);

/* Writes the state, valid for a log ending at end_offset, into buf
 * (pstate_snapshot_size bytes): big-endian, CRC32C over what follows the CRC. */
void pstate_snapshot_write(const struct pstate *s, int64_t end_offset, uint8_t *buf);

/*
 * Replaces s with a snapshot.  Returns 0 with *end_offset, RN_E_CORRUPT_STATE
 * (bad magic, version, CRC or structure: s is then empty) or RN_E_NOMEM.
 */
int pstate_snapshot_read(struct pstate *s, const uint8_t *buf, size_t len, int64_t *end_offset);

#endif
