/* epoch_hist.h: a partition log's leader-epoch history and its checkpoint file. */
#ifndef RUNNEL_STORAGE_EPOCH_HIST_H
#define RUNNEL_STORAGE_EPOCH_HIST_H

/*
 * Internal to storage/ (plog.h documents the behaviour users see).  The
 * history is a list of (epoch, start_offset) with both strictly increasing:
 * epoch e covers the offsets from its start to the start of the next entry
 * (or the log end for the last one).
 *
 * The checkpoint file is text, one item per line, so an operator can read
 * it:
 *
 *   0                 format version
 *   N                 number of entries
 *   EPOCH START       N lines, in order
 *
 * It is replaced atomically: written to "<name>.tmp", fsynced, renamed over
 * the old file, then the directory is fsynced.
 */

#include <stdbool.h>
#include <stdint.h>

#define EPOCH_HIST_VERSION 0

struct epoch_entry {
	int32_t epoch;
	int64_t start_offset;
};

struct epoch_hist {
	struct epoch_entry *v; /* malloc'd, n used of cap */
	uint32_t n;
	uint32_t cap;
};

/* Frees the entries and empties h. */
void epoch_hist_free(struct epoch_hist *h);

/* The latest epoch, or -1 when empty. */
int32_t epoch_hist_latest(const struct epoch_hist *h);

/*
 * Adds (epoch, start_offset) when epoch is newer than the latest entry.
 * An entry whose start equals start_offset is replaced (an epoch that wrote
 * nothing is superseded by the next one at the same offset).  When the
 * history holds PLOG_MAX_EPOCH_ENTRIES the oldest entry is dropped.
 * Returns 1 when h changed, 0 when epoch is not newer (nothing to do),
 * RN_E_INVAL (start_offset below the latest start, or negative values) or
 * RN_E_NOMEM.
 */
int epoch_hist_add(struct epoch_hist *h, int32_t epoch, int64_t start_offset);

/*
 * Records a batch of epoch appended at base_offset (the log end offset).
 * Like epoch_hist_add, except that a latest entry starting at base_offset
 * with another epoch is dropped first: it holds no records (the log ends
 * where it starts), typically an epoch a node assigned when it became
 * leader and never wrote in, and it must not hide the epoch of the batches
 * a follower then copies from a later leader.  An epoch older than the
 * (remaining) latest is otherwise not recorded.
 * Returns 1 when h changed, 0 when not, RN_E_INVAL or RN_E_NOMEM.
 */
int epoch_hist_add_batch(struct epoch_hist *h, int32_t epoch, int64_t base_offset);

/* Drops every entry that starts at or after end_offset.  True if any was. */
bool epoch_hist_truncate(struct epoch_hist *h, int64_t end_offset);

/*
 * The log now starts at start_offset (Kafka's truncateFromStart): entries
 * that start at or before it are dropped except the last of them, which
 * then starts at start_offset.  True if h changed.
 */
bool epoch_hist_truncate_start(struct epoch_hist *h, int64_t start_offset);

/*
 * The largest epoch <= epoch and where it ends (the next entry's start, or
 * log_end for the last).  (-1, -1) when epoch is older than the first entry
 * or h is empty.
 */
void epoch_hist_end_offset(const struct epoch_hist *h, int32_t epoch, int64_t log_end,
			   int32_t *found_epoch, int64_t *end_offset);

/* Index of exactly epoch, or -1. */
int32_t epoch_hist_find(const struct epoch_hist *h, int32_t epoch);

/*
 * Reads the checkpoint file name in directory dir_fd into h (emptied
 * first).  Returns 0, RN_E_NOT_FOUND (no file), RN_E_CORRUPT_STATE (bad
 * format, entries out of order, over the limit), RN_E_NOMEM or RN_E_IO.
 * On error h is empty.
 */
int epoch_hist_load(struct epoch_hist *h, int dir_fd, const char *name);

/* Writes h atomically as the checkpoint file name in dir_fd (see above).
 * Returns 0 or RN_E_IO (the old file is then still in place). */
int epoch_hist_store(const struct epoch_hist *h, int dir_fd, const char *name);

#endif
