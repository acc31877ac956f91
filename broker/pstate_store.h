/* pstate_store.h: producer-state snapshot files of a partition directory, and rebuilding the state from them and the log. */
#ifndef RUNNEL_BROKER_PSTATE_STORE_H
#define RUNNEL_BROKER_PSTATE_STORE_H

/*
 * A partition directory holds, beside its segments, snapshots of its
 * idempotent-producer state (broker/pstate.h), each named by the log offset
 * it is valid for as 20 zero-padded digits:
 *
 *   00000000000000004096.pstate   the state of the log up to offset 4096
 *                                 (the batches below it), pstate_snapshot_write
 *
 * A snapshot is written when the active segment rolls (at the new segment's
 * base offset) and when the log is closed cleanly (at its end).  It is
 * written to "<name>.tmp", fsynced, and renamed; the directory is not
 * fsynced: a snapshot lost or torn by a crash is only a slower recovery,
 * because every snapshot is checked (CRC) when read and a bad one is
 * skipped.  Only the PSTATE_KEEP_SNAPSHOTS newest are kept.
 *
 * Rebuilding (pstate_store_rebuild) loads the newest readable snapshot at or
 * below the log end and replays the batch headers after it: only headers
 * are read (61 bytes per batch), so recovery costs what was written since
 * the last roll, not the whole log.
 *
 * These functions do file I/O on the calling thread; the partition shell
 * calls them on a roll, on a clean close, on open and after a truncation.
 */

#include "broker/pstate.h"
#include "storage/plog.h"

#include <stdint.h>

struct plog;

/* Snapshots kept per partition (Kafka keeps a few; two are enough to
 * survive one that a crash tore). */
#define PSTATE_KEEP_SNAPSHOTS 2
/* File name suffix of a snapshot (plog_open keeps such files), and of one
 * being written (plog_open removes a leftover one). */
#define PSTATE_STORE_SUFFIX PLOG_OWNER_FILE_SUFFIX
#define PSTATE_STORE_TMP_SUFFIX PLOG_OWNER_FILE_SUFFIX ".tmp"
/* The largest snapshot file read: PSTATE_MAX_PRODUCERS producers with all
 * their cached batches.  A larger file is corrupt. */
#define PSTATE_STORE_MAX_FILE_BYTES                                                 \
	(PSTATE_SNAPSHOT_HEADER_BYTES +                                             \
	 (size_t)PSTATE_MAX_PRODUCERS *                                             \
		 (PSTATE_SNAPSHOT_PRODUCER_BYTES +                                  \
		  PSTATE_CACHED_BATCHES * PSTATE_SNAPSHOT_BATCH_BYTES))
/* Bytes of the log read per slice while replaying (headers are read out
 * of it one by one). */
#define PSTATE_STORE_REPLAY_SLICE_BYTES (16u * 1024u * 1024u)
/* Snapshot files one directory listing considers; more are ignored (the
 * directory normally holds PSTATE_KEEP_SNAPSHOTS). */
#define PSTATE_STORE_MAX_LISTED 64u

/*
 * Writes s, valid for the log up to end_offset, as dir's snapshot for
 * end_offset (replacing one of that name), then deletes all but the
 * PSTATE_KEEP_SNAPSHOTS newest.  Returns 0, RN_E_NOMEM or RN_E_IO (nothing
 * was renamed into place; a leftover temporary file is removed).
 */
int pstate_store_write(const char *dir, const struct pstate *s, int64_t end_offset);

/*
 * Deletes every snapshot of dir for an offset above offset (the log was
 * truncated to offset, or lost its tail in a crash).  Returns 0 or RN_E_IO
 * (dir unreadable; a file that cannot be deleted is logged and skipped).
 */
int pstate_store_remove_above(const char *dir, int64_t offset);

/*
 * Replaces s with the newest readable snapshot of dir at or below
 * max_offset; snapshots that cannot be read or fail their checks are
 * skipped with a warning.  Returns 0 with *offset, RN_E_NOT_FOUND (none:
 * s is empty), RN_E_NOMEM, or RN_E_IO (dir unreadable).
 */
int pstate_store_load(const char *dir, int64_t max_offset, struct pstate *s, int64_t *offset);

/*
 * Applies to s (pstate_update) the header of every batch of log from the
 * batch holding from_offset (raised to the log start) to the log end.
 * Returns 0, RN_E_NOMEM or RN_E_IO (s then holds what was read before).
 */
int pstate_store_replay(struct plog *log, int64_t from_offset, struct pstate *s);

/*
 * Makes s exactly what log implies: removes snapshots above the log end,
 * loads the newest snapshot at or below it (or starts empty) and replays
 * the log after it.  label names the partition in log lines.  Returns 0,
 * RN_E_NOMEM or RN_E_IO.
 */
int pstate_store_rebuild(const char *dir, struct plog *log, struct pstate *s, const char *label);

#endif
