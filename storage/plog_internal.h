/* plog_internal.h: the partition log's state, shared by plog.c and plog_open.c. */
#ifndef RUNNEL_STORAGE_PLOG_INTERNAL_H
#define RUNNEL_STORAGE_PLOG_INTERNAL_H

#include "storage/epoch_hist.h"
#include "storage/plog.h"
#include "storage/segment.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>

/* Written by plog_close after everything is fsynced, removed by plog_open. */
#define PLOG_CLEAN_MARKER ".clean_shutdown"

/*
 * What plog_sync, running on another thread, may look at.  The owner thread
 * changes it only at a roll, a truncation or a close, under lock.
 */
struct plog_sync_state {
	pthread_mutex_t lock;    /* guards the four fields below */
	struct segment *active;  /* a reference to the segment appends go to */
	struct segment *pending; /* closed since the last sync, each a reference */
	bool dir_dirty;          /* a segment file was created or removed */
	uint64_t generation;     /* bumped by each truncation */
	pthread_mutex_t sync_lock; /* runs one plog_sync at a time */
};

struct plog {
	char *dir;
	int dir_fd;
	struct plog_config cfg;
	uint32_t idx_cap;            /* index entries preallocated per segment */
	struct segment **segs;       /* by base offset; the last is active */
	uint32_t seg_count;
	uint32_t seg_cap;
	uint64_t closed_bytes;       /* bytes in every segment but the active one */
	uint8_t *scan_buf;           /* scan_bytes for header walks during reads */
	int64_t read_seg_base;       /* base of the segment the last read was in; -1: none */
	uint32_t scan_bytes;
	_Atomic int64_t end_offset;  /* written end, published after each write */
	_Atomic int64_t synced_end;  /* known durable end */
	atomic_bool failed;          /* a write or sync failed: read-only */
	atomic_bool destroyed;       /* files removed: nothing left to sync */
	atomic_int refs;             /* the owner plus each plog_hold */
	struct plog_sync_state sync;
	struct epoch_hist epochs;    /* leader-epoch history; owner thread only */
	int64_t clean_end;           /* cleaner checkpoint; owner thread only */
	bool clean_end_loaded;       /* clean_end was read from its file */
};

static inline struct segment *plog_active(const struct plog *log)
{
	return log->segs[log->seg_count - 1];
}

/* Allocates a log for dir with one reference and no segments. */
struct plog *plog_alloc(const char *dir, const struct plog_config *cfg);

/* Drops a reference; the last one frees the log and its segment references. */
void plog_unref(struct plog *log);

/* Appends a segment reference (taking it over).  0 or RN_E_NOMEM. */
int plog_push_segment(struct plog *log, struct segment *s);

/* Removes segments [from, seg_count) and their files. */
void plog_drop_segments(struct plog *log, uint32_t from);

/* Recomputes closed_bytes from the segment sizes. */
void plog_count_closed_bytes(struct plog *log);

/* Opens the log directory for a walk from its first entry (on a duplicate
 * of dir_fd, which shares its position).  NULL on failure; closedir it. */
DIR *plog_opendir(struct plog *log);

/* fsyncs the log directory.  0 or RN_E_IO. */
int plog_sync_dir(struct plog *log);

/* Loads the leader-epoch history at open (after recovery), dropping entries
 * past the recovered end, or rebuilds it from the batch headers when the
 * checkpoint is missing or unreadable.  0, RN_E_IO or RN_E_NOMEM. */
int plog_epochs_open(struct plog *log);

/* Records that a batch of epoch starts at base_offset, persisting the
 * history first when it changes.  0, RN_E_IO or RN_E_NOMEM. */
int plog_epochs_note_batch(struct plog *log, int32_t epoch, int64_t base_offset);

/* Drops history entries at or past end_offset after a truncation.  0 or
 * RN_E_IO. */
int plog_epochs_truncate(struct plog *log, int64_t end_offset);

/* Cuts the leader-epoch history at the log start offset (after a deletion,
 * and at open, in case a crash came between the two), persisting it when it
 * changes.  0 or RN_E_IO. */
int plog_epochs_clamp_start(struct plog *log);

/* True when name is a segment file a deletion left behind ("*.deleted"). */
bool plog_is_deleted_name(const char *name);

/* Name of the directory (inside the log's) where a cleaning writes its
 * segments before they move beside the log as "*.cleaned". */
#define PLOG_CLEAN_TMP_DIR "cleaner.tmp"

/* Finishes or undoes a swap a crash interrupted, at open, before the
 * segments are listed: "*.cleaned" files and the cleaner's directory are
 * removed (the old segment is intact), "*.swap" files complete their swap
 * when the segment's .log.swap exists (and are removed otherwise), and
 * "*.deleted" files are removed.  0 or RN_E_IO. */
int plog_clean_recover(struct plog *log);
#endif
