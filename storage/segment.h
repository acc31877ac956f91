/* segment.h: one log segment: its files, its sparse indexes and batch walks. */
#ifndef RUNNEL_STORAGE_SEGMENT_H
#define RUNNEL_STORAGE_SEGMENT_H

/*
 * Internal to storage/.  A segment is three files named by its base offset
 * (see plog.h).  Its indexes live in memory in their on-disk byte format, so
 * that writing them out is a plain write of the unwritten tail:
 *
 *   .index      8-byte entries: relative offset u32, file position u32
 *   .timeindex 12-byte entries: timestamp i64, relative offset u32
 *
 * An offset index entry (rel, pos) says that the batch at file position pos
 * has base offset base_offset + rel.  Entries are added at a batch boundary
 * once index_interval bytes have been appended since the previous entry, and
 * never at position 0 (the start of the file is an implicit entry).
 *
 * A time index entry (ts, rel) is added together with an offset index entry
 * when the largest batch max timestamp of everything before that batch has
 * grown since the last time index entry; ts is that largest timestamp.  So
 * every batch before rel has max timestamp <= ts, and a search for the first
 * batch with max timestamp >= T may start at the last entry with ts < T.
 * Every time index rel is also an offset index rel, which gives its position.
 *
 * The active segment's indexes are shared writable mappings of their files,
 * sized for a full segment, so that they live in the page cache rather than
 * in the node's own memory; every SEG_INDEX_RESIDENT_ENTRIES entries the
 * pages already filled leave the process's resident set (a lookup maps back
 * what it reads).  When the segment closes (a roll, a clean shutdown) its
 * files are cut to the entries they hold and mapped read-only, as a closed
 * segment loaded from disk is.  An index whose file cannot be mapped, and
 * one rebuilt while the log opens, is kept in malloc'd memory and written to
 * its file at a roll, a close or the end of the rebuild.  Segments are reference counted (atomically): the log holds one
 * reference, every read slice one more, and the sync state one for each
 * segment it still has to fsync, so a segment's files stay open while any of
 * them needs it.
 */

#include "wire/batch.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEG_INDEX_ENTRY_BYTES 8u
#define SEG_TIMEINDEX_ENTRY_BYTES 12u
/* Length of "NNNNNNNNNNNNNNNNNNNN.timeindex" plus the terminator, rounded up. */
#define SEG_NAME_MAX 40u
#define SEG_BASE_DIGITS 20u
/* Entries an active segment's mapped index adds between two drops of its
 * filled pages from the resident set (64 KiB of offset index, 96 KiB of
 * time index). */
#define SEG_INDEX_RESIDENT_ENTRIES 8192u
/* Disk space an active segment allocates ahead of its writes at a time. */
#define SEG_RESERVE_BYTES (4u * 1024u * 1024u)

struct seg_index {
	uint8_t *data;    /* entries in file format; malloc'd or mapped */
	uint32_t count;   /* entries held */
	uint32_t cap;     /* entries data can hold (== count when mapped read-only) */
	uint32_t written; /* entries already in the file */
	bool mapped;      /* data is an mmap of the file */
	bool writable;    /* the mapping is the active segment's, shared and writable */
	size_t map_bytes; /* length of the mapping */
};

struct segment {
	int64_t base_offset;
	int log_fd;
	int idx_fd;  /* -1 until needed for a closed segment loaded from disk */
	int tidx_fd; /* likewise */
	uint64_t size_bytes;
	int64_t end_offset;       /* offset after the last batch */
	int64_t max_timestamp;    /* largest batch max timestamp; INT64_MIN: none */
	bool max_ts_known;        /* false for a closed segment until first asked */
	int64_t created_ms;       /* now_ms of the first append; -1 while empty */
	uint32_t index_interval;  /* bytes between index entries */
	uint64_t reserved_end;    /* disk space allocated ahead of the writes, up to here */
	uint64_t bytes_since_index;
	struct seg_index idx;
	struct seg_index tidx;
	bool closed;
	atomic_int refs;
	/* Sync list membership; guarded by the owning log's sync mutex. */
	struct segment *sync_next;
	bool sync_listed;
};

/* Reads batch headers (and whole batches) of one segment through a buffer. */
struct seg_walker {
	int fd;
	uint64_t limit;   /* bytes of the segment that count */
	uint8_t *buf;
	size_t cap;
	size_t init_cap;  /* first size of an owned buffer */
	size_t max_cap;   /* largest cap an owned buffer may grow to */
	bool owned;       /* buf is the walker's own (malloc'd, growable) */
	uint64_t buf_pos; /* file position of buf[0] */
	size_t buf_len;   /* valid bytes in buf */
};

/* What a scan of consecutive batches found. */
struct seg_scan {
	uint64_t end_pos;      /* end of the last good batch */
	int64_t end_offset;    /* offset after the last good batch */
	int64_t max_timestamp; /* largest max timestamp seen, INT64_MIN: none */
	bool clean;            /* reached the end without a bad batch */
	bool would_index;      /* (tail check) an index entry is missing */
	const char *why;       /* why the scan stopped early */
};

/* Formats "NNNNNNNNNNNNNNNNNNNN.<ext>" into out (SEG_NAME_MAX bytes). */
void seg_file_name(char *out, int64_t base_offset, const char *ext);

/* Parses a segment file name; returns 1 and the base offset and which file
 * ("log", "index" or "timeindex" as *ext) or 0 for any other name. */
int seg_parse_name(const char *name, int64_t *base_offset, const char **ext);

/*
 * Creates the three empty files of a new segment in dir_fd (replacing any
 * with the same names) and an empty in-memory index with room for idx_cap
 * entries.  Returns 0 and *out with one reference, RN_E_IO or RN_E_NOMEM.
 */
int segment_create(int dir_fd, int64_t base_offset, uint32_t index_interval, uint32_t idx_cap,
		   struct segment **out);

/* Opens an existing segment's .log (its indexes are loaded separately).
 * Returns 0 and *out with one reference, RN_E_IO or RN_E_NOMEM. */
int segment_open(int dir_fd, int64_t base_offset, uint32_t index_interval,
		 struct segment **out);

struct segment *segment_ref(struct segment *s);
/* Drops a reference; the last one closes the files and frees the segment. */
void segment_unref(struct segment *s);

/*
 * Loads the segment's two index files and checks them against the segment:
 * sizes a multiple of the entry size, entries strictly increasing, positions
 * inside the file, every time index entry matching an offset index entry,
 * and the batch at the last entry carrying the offset the entry names.
 * active: load into a growable buffer of at least idx_cap entries (missing
 * files are created) instead of mapping.
 * Returns 0, RN_E_CORRUPT_STATE with *why set when the caller must rebuild,
 * RN_E_IO or RN_E_NOMEM.
 */
int segment_load_indexes(struct segment *s, int dir_fd, bool active, uint32_t idx_cap,
			 const char **why);

/*
 * Drops the indexes and rebuilds them by scanning the whole file from
 * position 0 (checking each batch's CRC and records when check_crc),
 * stopping at the first bad batch.  Leaves size_bytes, end_offset and
 * max_timestamp describing the good prefix (the file is not truncated) and
 * the index files empty until segment_flush_indexes.
 * Returns 0 with *res, RN_E_IO or RN_E_NOMEM.
 */
int segment_rebuild_indexes(struct segment *s, int dir_fd, struct seg_walker *w, bool check_crc,
			    uint32_t idx_cap, struct seg_scan *res);

/*
 * Re-derives the active segment's end, max timestamp and index interval
 * state by walking batch headers from its last index entry to the end of
 * the file.  res->clean is false when a batch there is broken.
 * Returns 0 with *res or RN_E_IO.
 */
int segment_resume(struct segment *s, struct seg_walker *w, struct seg_scan *res);

/*
 * Checks a closed segment without changing it: walks from its last index
 * entry to the end of the file verifying each batch (CRC included) and that
 * offsets continue.  Returns 0 with *res (max_timestamp is then the
 * segment's, which is cached) or RN_E_IO.
 */
int segment_check_tail(struct segment *s, struct seg_walker *w, struct seg_scan *res);

/* Writes len bytes at the end of the .log with one pwrite (more only after a
 * short write).  On failure the file is cut back to its previous size when
 * possible.  Does not update the counters (see segment_note_batch).
 * Disk space is allocated ahead of the writes, SEG_RESERVE_BYTES at a time
 * and never past reserve_limit bytes of file (the segment's roll size): a
 * write into allocated space costs the filesystem less than one that
 * allocates as it goes.  The file's size stays that of the data written.
 * Returns 0 or RN_E_IO. */
int segment_write(struct segment *s, const uint8_t *buf, size_t len, uint64_t reserve_limit);

/* Gives back the space allocated past the end of a segment that closes. */
void segment_release_reserve(struct segment *s);

/* Updates the indexes and counters for a batch just written at pos. */
void segment_note_batch(struct segment *s, uint64_t pos, const struct batch_info *info);

/* Writes the indexes' unwritten entries to their files, and cuts a mapped
 * active segment's files to the entries they hold (mapping them read-only:
 * the segment takes no more entries).  Called when the segment closes.
 * 0 or RN_E_IO. */
int segment_flush_indexes(struct segment *s, int dir_fd);

/* Moves the active segment's indexes into shared writable mappings of their
 * files with room for idx_cap entries (see above; kept in memory where the
 * files cannot be mapped).  0, RN_E_IO or RN_E_NOMEM. */
int segment_map_indexes(struct segment *s, int dir_fd, uint32_t idx_cap);

/* Unmaps from the process the pages of a closed segment's mapped indexes
 * (they stay in the page cache; the next lookup maps what it reads), so
 * that indexes read once do not stay in the node's resident memory. */
void segment_forget_index_pages(struct segment *s);

/* Gives back the unused part of a closed segment's preallocated indexes. */
void segment_trim_indexes(struct segment *s);

/* fdatasyncs the .log and, when with_indexes, the index files.  0 or RN_E_IO. */
int segment_sync(struct segment *s, bool with_indexes);

/* Turns a closed segment back into an active one (malloc'd indexes with room
 * for idx_cap entries, index files open).  0, RN_E_IO or RN_E_NOMEM. */
int segment_make_active(struct segment *s, int dir_fd, uint32_t idx_cap);

/*
 * Cuts an active segment at pos, a batch boundary whose batch has offset
 * end_offset: truncates the .log and both index files, drops index entries
 * at or after the cut and recomputes the counters.  0 or RN_E_IO.
 */
int segment_truncate(struct segment *s, struct seg_walker *w, uint64_t pos, int64_t end_offset);

/* The index entry at or before a spot: (pos, offset of the batch there). */
void segment_lookup_offset(const struct segment *s, int64_t offset, uint64_t *pos, int64_t *at);
void segment_lookup_position(const struct segment *s, uint64_t target, uint64_t *pos,
			     int64_t *at);
/* The last time index entry with timestamp < ts, as a position and offset. */
void segment_lookup_time(const struct segment *s, int64_t ts, uint64_t *pos, int64_t *at);

/*
 * Finds the batch containing offset (which must lie in [base, end_offset)).
 * Returns 0 with its position and header, RN_E_CORRUPT_STATE when the file
 * does not hold it, or RN_E_IO.
 */
int segment_find_batch(struct segment *s, struct seg_walker *w, int64_t offset, uint64_t *pos,
		       struct batch_info *info);

/* The last batch boundary at or below target, not below start (a boundary).
 * Returns 0 with *boundary, RN_E_CORRUPT_STATE or RN_E_IO. */
int segment_boundary_below(struct segment *s, struct seg_walker *w, uint64_t start,
			   uint64_t target, uint64_t *boundary);

/* The segment's largest batch max timestamp, computed once for a closed
 * segment.  Returns 0, RN_E_CORRUPT_STATE or RN_E_IO. */
int segment_max_timestamp(struct segment *s, struct seg_walker *w, int64_t *ts);

/* Starts a walker over s.  With buf, the walker uses that caller-owned
 * buffer of cap bytes and never grows it (reads); with buf NULL, it owns a
 * buffer allocated on first use with cap bytes and grown up to max_cap. */
void seg_walker_init(struct seg_walker *w, const struct segment *s, uint8_t *buf, size_t cap,
		     size_t max_cap);
/* Points a walker at another segment (or at the new size of the same one),
 * keeping its buffer but forgetting what the buffer held. */
void seg_walker_retarget(struct seg_walker *w, const struct segment *s);
/* Frees the buffer of a walker that owns one. */
void seg_walker_free(struct seg_walker *w);

/* Reads the header of the batch at pos.  0, RN_E_CORRUPT_STATE (no whole
 * header there, or the batch runs past the limit) or RN_E_IO. */
int seg_walker_header(struct seg_walker *w, uint64_t pos, struct batch_info *info);

/* Makes [pos, pos + len) available in the buffer; *data points at it until
 * the next walker call.  0, RN_E_NOMEM, RN_E_CORRUPT_STATE or RN_E_IO. */
int seg_walker_bytes(struct seg_walker *w, uint64_t pos, size_t len, const uint8_t **data);

#endif
