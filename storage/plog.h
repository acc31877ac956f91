/* plog.h: a partition log, an append-only directory of segments. */
#ifndef RUNNEL_STORAGE_PLOG_H
#define RUNNEL_STORAGE_PLOG_H

/*
 * A partition log lives in one directory.  Each segment is three files named
 * by the segment's base offset as 20 zero-padded digits:
 *
 *   00000000000000000000.log        record batches, byte for byte as appended
 *   00000000000000000000.index      sparse offset index: (relative offset u32,
 *                                   file position u32) big-endian pairs
 *   00000000000000000000.timeindex  sparse time index: (timestamp i64,
 *                                   relative offset u32) big-endian pairs
 *
 * An index entry is added every index_interval_bytes of appended data.  The
 * last segment is the active one; a new segment starts (rolls) when the
 * active one would exceed segment_bytes or is older than segment_ms.
 *
 * The log does not validate batches: the caller passes batches that
 * batch_validate accepted.  The log assigns offsets (batch_stamp) on append.
 *
 * Threading: all functions are called from one thread, except plog_sync,
 * which may run on a background thread while the owner keeps appending and
 * reading (it only fsyncs file descriptors that stay open until the log is
 * closed and its last reference dropped).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct plog;

struct plog_config {
	uint64_t segment_bytes;        /* roll when the active segment would pass this */
	int64_t segment_ms;            /* roll when the active segment is older; 0: never */
	uint32_t index_interval_bytes; /* bytes of batches between index entries */
	uint32_t max_index_entries;    /* preallocation bound per segment index */
};

#define PLOG_DEFAULT_SEGMENT_BYTES (1024ull * 1024ull * 1024ull)
#define PLOG_DEFAULT_SEGMENT_MS (7ll * 24 * 3600 * 1000)
#define PLOG_DEFAULT_INDEX_INTERVAL_BYTES 4096u

void plog_config_default(struct plog_config *cfg);

/*
 * Opens the log in dir, creating the directory and an empty first segment if
 * needed.  Recovery runs here: the active segment is scanned batch by batch
 * from its last trustworthy index entry; a torn, partial or corrupt batch and
 * everything after it is truncated away (and logged).  An index or time index
 * that is missing, of a bad size, or inconsistent with its segment is rebuilt.
 * now_ms is the wall clock, used to age segments.
 * Returns 0 and *out (owned by the caller, freed by plog_close), or
 * RN_E_IO, RN_E_NOMEM, RN_E_CORRUPT_STATE (a closed segment is unreadable),
 * RN_E_INVAL (cfg out of range: segment_bytes outside [64 B, 2 GiB],
 * negative segment_ms, max_index_entries 0; see storage/storage_limits.h).
 */
int plog_open(const char *dir, const struct plog_config *cfg, int64_t now_ms, struct plog **out);

/* Drops the owner's reference; the files close when no slice holds one. */
void plog_close(struct plog *log);

/* Closes the log and removes its directory (topic deletion). */
int plog_destroy(struct plog *log);

/* Offset of the first record kept, and the offset the next append gets. */
int64_t plog_start_offset(const struct plog *log);
int64_t plog_end_offset(const struct plog *log);

/* Bytes stored over all segments, and the number of segments. */
uint64_t plog_size_bytes(const struct plog *log);
uint32_t plog_segment_count(const struct plog *log);

struct plog_append_result {
	int64_t base_offset;
	int64_t last_offset;
	int64_t max_timestamp;
};

/*
 * Appends one validated batch of len bytes.  Stamps base_offset (the log end
 * offset) and leader_epoch into buf in place, then writes the same bytes.
 * Rolls first if the batch would not fit or the segment is too old.
 * Returns 0, RN_E_IO (the log is then read-only until reopened) or RN_E_INVAL.
 */
int plog_append(struct plog *log, uint8_t *buf, size_t len, int32_t leader_epoch, int64_t now_ms,
		struct plog_append_result *res);

/*
 * Appends a batch that already carries its offsets (a follower copying the
 * leader).  The batch's base offset must equal plog_end_offset.
 * Returns 0, RN_E_IO, or RN_E_INVAL (not one batch, or the wrong offset).
 */
int plog_append_as_is(struct plog *log, const uint8_t *buf, size_t len, int64_t now_ms,
		      struct plog_append_result *res);

/*
 * A read result: bytes [file_pos, file_pos + len) of an open segment file,
 * holding whole batches.  The slice keeps the segment open until released,
 * so it can be sent with sendfile after the log has moved on.
 */
struct plog_slice {
	int fd;
	uint64_t file_pos;
	uint32_t len;
	int64_t first_offset; /* base offset of the first batch in the slice */
	void *ref;            /* pass to plog_slice_release */
};

/*
 * Reads whole batches starting with the batch that contains offset, up to
 * max_bytes (but at least one whole batch if the first one is larger, so a
 * reader always makes progress), never including a batch whose last offset
 * is at or beyond max_offset (the high watermark for consumers).
 * Returns 0 with slice->len possibly 0 (nothing below max_offset yet),
 * RN_E_OFFSET_OUT_OF_RANGE if offset is below the log start or above the
 * log end, or RN_E_IO.
 */
int plog_read(struct plog *log, int64_t offset, uint32_t max_bytes, int64_t max_offset,
	      struct plog_slice *slice);

/* Copies a slice's bytes into buf (at least slice->len bytes); 0 or RN_E_IO. */
int plog_slice_copy(const struct plog_slice *slice, uint8_t *buf);

/* Drops the slice's reference (if any) and empties it (len 0, fd -1). */
void plog_slice_release(struct plog_slice *slice);

/* Takes one more reference on the slice's segment for a second user. */
void *plog_ref_acquire(void *ref);
void plog_ref_release(void *ref);

/*
 * Finds the first offset whose batch max timestamp is at least timestamp_ms.
 * Returns 0 with *offset and *found_timestamp, or RN_E_NOT_FOUND when every
 * record is older (the caller answers with the log end offset), or RN_E_IO.
 */
int plog_offset_for_timestamp(struct plog *log, int64_t timestamp_ms, int64_t *offset,
			      int64_t *found_timestamp);

/* Changes segment.bytes and segment.ms of an open log (owner thread): the
 * next append rolls by the new values; segments are never rewritten. */
void plog_set_segment_config(struct plog *log, uint64_t segment_bytes, int64_t segment_ms);

/* Rolls if the active segment is older than segment_ms. */
int plog_maybe_roll(struct plog *log, int64_t now_ms);

/*
 * Removes everything from offset on (a follower truncating a divergent
 * suffix), and the leader-epoch history entries that start at or after it
 * (also when offset is the end: an assigned epoch without batches goes).
 * offset must be within [start, end] and the first offset of a
 * batch (or the end).  Returns 0, RN_E_OFFSET_OUT_OF_RANGE, RN_E_INVAL (not a
 * batch boundary) or RN_E_IO (the log is then read-only).
 */
int plog_truncate(struct plog *log, int64_t offset);

/* ------------------------------------------------------------------------
 * Leader-epoch history.
 *
 * The log keeps, for each leader epoch that wrote to it, the offset of its
 * first batch: a list of (epoch, start_offset) with both strictly rising.
 * plog_append and plog_append_as_is add an entry when a batch carries an
 * epoch newer than the latest (an older epoch is added only in place of a
 * latest entry that holds no batch, such as an epoch assigned to a leader
 * that never wrote before it became a follower); plog_truncate
 * drops entries that start at or past the new end; plog_epoch_assign adds
 * one when a node becomes leader, before any batch of the epoch.  The list
 * is stored in the file "leader-epoch-checkpoint" of the log directory,
 * rewritten (temporary file, fsync, rename, directory fsync) before the
 * change it records reaches the segment files, so a batch on disk never
 * lacks its entry.  plog_open reads it, drops entries at or past the
 * recovered end, and rebuilds it from the batch headers when it is
 * missing or unreadable.  The history is bounded by
 * PLOG_MAX_EPOCH_ENTRIES; beyond it the oldest entry is dropped.
 * ------------------------------------------------------------------------ */

#define PLOG_EPOCH_CHECKPOINT_FILE "leader-epoch-checkpoint"
/* Files ending so in a log directory belong to the log's owner (the
 * broker's producer-state snapshots): plog_open leaves them alone. */
#define PLOG_OWNER_FILE_SUFFIX ".pstate"

/* The latest epoch in the history, or -1 when it is empty.  It may be an
 * epoch assigned by plog_epoch_assign that holds no batch yet; a follower
 * sends it as its last fetched epoch, and a plog_truncate (even one at the
 * log end) removes it when the leader reports a divergence. */
int32_t plog_latest_epoch(const struct plog *log);

/* Entries in the history (for tests and diagnostics). */
uint32_t plog_epoch_count(const struct plog *log);

/*
 * Kafka's OffsetsForLeaderEpoch: finds the largest epoch <= epoch in the
 * history and the offset at which it ends (the start of the next epoch, or
 * the log end offset when it is the latest).  When epoch is older than the
 * first entry (or the history is empty) the answer is *found_epoch = -1,
 * *end_offset = -1.  When epoch is newer than the latest, the latest and the
 * log end offset.  Returns 0, or RN_E_INVAL for a NULL output.
 */
int plog_epoch_end_offset(const struct plog *log, int32_t epoch, int32_t *found_epoch,
			  int64_t *end_offset);

/*
 * The start offset of exactly epoch, or of the first epoch when epoch is -1.
 * Returns 0 with *start_offset, or RN_E_NOT_FOUND.
 */
int plog_epoch_start_offset(const struct plog *log, int32_t epoch, int64_t *start_offset);

/*
 * Records that epoch begins at the log end offset (a node becoming leader),
 * unless the latest epoch is already >= epoch.  Persists the history.
 * Returns 0, RN_E_INVAL (negative epoch) or RN_E_IO.
 */
int plog_epoch_assign(struct plog *log, int32_t epoch);

/*
 * Durability.  plog_unsynced_end is the end offset of what has been written
 * but not yet fsynced.  plog_sync fsyncs the data (and, after a roll, the
 * closed segments and directory) up to the end offset as it was when the
 * call started, and returns that offset in *synced_end; it may run on a
 * background thread.  plog_synced_end reports what is known durable.
 */
int64_t plog_synced_end(const struct plog *log);
int plog_sync(struct plog *log, int64_t *synced_end);

/* Holds the log (and its files) open while a background sync uses it. */
void plog_hold(struct plog *log);
void plog_unhold(struct plog *log);

/* ------------------------------------------------------------------------
 * Retention (storage/plog_retention.c).
 *
 * Whole closed segments are deleted from the front of the log, oldest
 * first, as Kafka's retention does; the active segment is never deleted
 * (nor rolled for the purpose), so a log keeps at least its active segment
 * whatever the limits.  The log start offset becomes the base offset of the
 * first remaining segment; after a restart the first segment file gives it.
 * A deleted segment's files are renamed to "<name>.deleted", the directory
 * is fsynced, and then they are unlinked; plog_open removes any
 * "*.deleted" file a crash left behind.  Readers holding a slice of a
 * deleted segment keep reading it (the slice keeps its files open), and a
 * background plog_sync that took the segment keeps a reference to it too.
 * The leader-epoch history is cut at the new start (Kafka's
 * truncateFromStart): the epoch holding the start then starts there.
 * ------------------------------------------------------------------------ */

/* Suffix of a segment file being deleted. */
#define PLOG_DELETED_SUFFIX ".deleted"

struct plog_retention {
	int64_t retention_ms;    /* delete segments whose newest record is older; -1: never */
	int64_t retention_bytes; /* delete while the log stays at least this large; -1: never */
	int64_t max_offset;      /* only segments ending at or below it go (the high watermark) */
	uint32_t max_segments;   /* the most segments one call deletes (bounds its work) */
};

/* What one reason deleted. */
struct plog_deletion {
	uint32_t segments;
	uint64_t bytes;
};

struct plog_retention_result {
	struct plog_deletion by_time;  /* retention_ms */
	struct plog_deletion by_size;  /* retention_bytes */
	struct plog_deletion by_start; /* plog_advance_start */
	bool restarted;                /* plog_advance_start emptied the log */
	int64_t start_offset;          /* the log start offset afterwards */
};

/*
 * Applies the retention rules to the closed segments, oldest first, each
 * rule deleting a prefix of the log (it stops at the first segment it
 * keeps):
 *   by time: a segment goes when now_ms minus its largest record timestamp
 *   (its file's modification time when no record has a timestamp) exceeds
 *   retention_ms;
 *   by size: then the oldest segment goes as long as the log without it is
 *   still at least retention_bytes large.
 * Only segments that end at or below rules->max_offset are candidates, and
 * at most rules->max_segments are deleted per call; the caller calls again
 * later for the rest.  *res (always filled) says what went and the new log
 * start offset.
 * Returns 0, RN_E_INVAL (NULL arguments, retention values below -1), or
 * RN_E_IO (the log failed before, or a rename, an fsync or the epoch
 * history could not be written: what was deleted before the error is
 * reported in *res and the log stays consistent).
 */
int plog_apply_retention(struct plog *log, const struct plog_retention *rules, int64_t now_ms,
			 struct plog_retention_result *res);

/*
 * Moves the log start forward to offset, at segment granularity: deletes
 * the closed segments that end at or below offset (at most max_segments).
 * When offset is past the log end and no closed segment is left, the active
 * segment goes too and the log restarts, empty, at offset, with an empty
 * epoch history (a follower whose whole log is older than its leader's
 * start, Kafka's truncateFullyAndStartAt).  An offset at or below the start
 * changes nothing.  Fills *res (res->by_start, res->restarted).
 * Returns 0, RN_E_INVAL (NULL res, max_segments 0) or RN_E_IO (as for
 * plog_apply_retention; a failed restart makes the log read-only).
 */
int plog_advance_start(struct plog *log, int64_t offset, uint32_t max_segments,
		       struct plog_retention_result *res);


/* ------------------------------------------------------------------------
 * Compaction (storage/plog_clean.c; docs/storage.md, "Compaction").
 *
 * A cleaning keeps only the latest record of each key in the closed
 * segments, never changing an offset.  It runs in three steps so that the
 * heavy part can run on a cleaner thread while the owner keeps appending
 * and reading: plog_clean_begin (owner thread) takes references on the
 * closed segments; plog_clean_run (any one thread) builds the key map over
 * the dirty part and writes the cleaned segments beside the log; and
 * plog_clean_finish (owner thread) swaps them in, crash-safely, unless the
 * log changed meanwhile (a truncation, segments removed), in which case
 * the work is discarded.  The offset up to which the log is clean is kept
 * in the file PLOG_CLEANER_CHECKPOINT_FILE.
 * ------------------------------------------------------------------------ */

#define PLOG_CLEANER_CHECKPOINT_FILE "cleaner-offset-checkpoint"

struct plog_clean_job;

struct plog_clean_params {
	int64_t now_ms;                /* wall clock */
	int64_t delete_retention_ms;   /* how long a latest tombstone stays */
	int64_t min_compaction_lag_ms; /* records younger than this stay dirty */
	uint32_t map_buckets;          /* key map size; 0: CLEANER_MAP_DEFAULT_BUCKETS */
	int stop_stage;                /* tests only: PLOG_CLEAN_STOP_*, 0: none */
};

/* Tests only: where plog_clean_finish stops, as a crash there would. */
#define PLOG_CLEAN_STOP_CLEANED 1 /* the .cleaned files written, no swap */
#define PLOG_CLEAN_STOP_SWAP 2    /* renamed to .swap, the old files intact */
#define PLOG_CLEAN_STOP_DELETED 3 /* the old files renamed to .deleted */

struct plog_clean_stats {
	int64_t first_offset;  /* first offset of the cleaned range */
	int64_t end_offset;    /* offset after it (the new checkpoint) */
	uint64_t records_in, records_out; /* records in the rewritten segments */
	uint64_t bytes_in, bytes_out;     /* their sizes before and after */
	uint32_t segments;     /* segments replaced */
};

/* Owner thread.  The offset up to which the log is clean, and the bytes of
 * closed segments at or past it (dirty) and of all closed segments. */
int64_t plog_clean_checkpoint(struct plog *log);
void plog_clean_dirty(struct plog *log, uint64_t *dirty_bytes, uint64_t *closed_bytes);

/* Owner thread.  Starts a cleaning.  Returns 0 and *out (freed by
 * plog_clean_job_free), RN_E_NOT_FOUND (no closed segment), RN_E_IO (the
 * log is read-only) or RN_E_NOMEM.  The job holds the log open. */
int plog_clean_begin(struct plog *log, const struct plog_clean_params *params,
		     struct plog_clean_job **out);

/* Any thread, one at a time per job.  Returns 0, RN_E_NOT_FOUND (nothing
 * to clean: no dirty record old enough), RN_E_CLOSED (aborted), RN_E_IO,
 * RN_E_NOMEM or RN_E_CORRUPT_STATE (a batch does not decode). */
int plog_clean_run(struct plog_clean_job *job);

/* Any thread: makes a running plog_clean_run stop soon with RN_E_CLOSED. */
void plog_clean_abort(struct plog_clean_job *job);

/* Owner thread, after plog_clean_run returned 0.  Swaps the cleaned
 * segments in and fills *stats.  Returns 0, RN_E_AGAIN (the log changed
 * meanwhile; the work is discarded) or RN_E_IO (the log is then read-only
 * until reopened, and the next open completes the swap). */
int plog_clean_finish(struct plog *log, struct plog_clean_job *job,
		      struct plog_clean_stats *stats);

/* Removes the job's leftover files and drops its references. */
void plog_clean_job_free(struct plog_clean_job *job);

/* begin, run and finish on the calling thread.  Returns as they do. */
int plog_clean(struct plog *log, const struct plog_clean_params *params,
	       struct plog_clean_stats *stats);

#endif
