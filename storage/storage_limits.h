/* storage_limits.h: the bounds the storage module enforces, in one place. */
#ifndef RUNNEL_STORAGE_LIMITS_H
#define RUNNEL_STORAGE_LIMITS_H

#include "common/limits.h"

/*
 * Segment sizes.  Index entries store a file position as a u32, so a segment
 * may not grow past 4 GiB: segment_bytes is capped at 2 GiB (Kafka's own cap)
 * and a single batch adds at most RN_MAX_BATCH_BYTES beyond it.
 */
#define PLOG_MIN_SEGMENT_BYTES 64ull
#define PLOG_MAX_SEGMENT_BYTES (2048ull * 1024ull * 1024ull)

/* Index entries store offsets relative to the segment base as a u32; a
 * segment rolls before any offset in it would be further than this from the
 * base (Kafka uses the same bound). */
#define PLOG_MAX_RELATIVE_OFFSET 0x7fffffffll

/* Default bound on entries per index file (10 MiB of offset index, as in
 * Kafka's segment.index.bytes); a segment rolls when its index is full. */
#define PLOG_DEFAULT_MAX_INDEX_ENTRIES (10u * 1024u * 1024u / 8u)

/* Largest accepted index_interval_bytes (a larger one would make every read
 * walk megabytes of headers). */
#define PLOG_MAX_INDEX_INTERVAL_BYTES (64u * 1024u * 1024u)

/* Most bytes one pread fetches while walking batch headers during a read
 * (the log uses index_interval_bytes plus a header, page-rounded, when that
 * is smaller).  A read walks about index_interval_bytes from an index entry,
 * so one chunk nearly always suffices. */
#define PLOG_SCAN_CHUNK_BYTES (64u * 1024u)

/* Initial buffer for the checksum scan of recovery; it grows up to
 * RN_MAX_BATCH_BYTES when a batch is larger. */
#define PLOG_RECOVERY_CHUNK_BYTES (1024u * 1024u)

/* Entries a partition log's leader-epoch history keeps.  An entry is added
 * only when a new leader epoch writes to the log, so even a partition whose
 * leadership moves every minute takes weeks to fill it; beyond it the oldest
 * entry is dropped (the history then starts later, which only makes very
 * stale followers truncate more). */
#define PLOG_MAX_EPOCH_ENTRIES 16384u

/* Longest line of a leader-epoch checkpoint file (two decimal integers). */
#define PLOG_EPOCH_LINE_MAX 64u

/* Flusher requests waiting at once; flusher_submit fails with RN_E_FULL
 * beyond this so that a stalled disk cannot grow memory without bound. */
#define FLUSHER_MAX_QUEUED 1024u

/* Logs one flusher request may name (one per partition written in a loop
 * turn). */
#define FLUSHER_MAX_LOGS_PER_REQUEST (RN_MAX_PARTITIONS_PER_REQUEST)

/* Named LMDB tables one environment may hold. */
#define KV_MAX_TABLES 16u

/* Longest table name, terminator excluded. */
#define KV_MAX_TABLE_NAME_LEN 63u

/* Default LMDB map size: the most the node's state file may grow to. */
#define KV_DEFAULT_MAP_BYTES (1024ull * 1024ull * 1024ull)

#endif
