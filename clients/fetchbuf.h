/* fetchbuf.h: a partition's fetched bytes, read in place: Fetch answers, CRC checks, records. */
#ifndef RUNNEL_CLIENTS_FETCHBUF_H
#define RUNNEL_CLIENTS_FETCHBUF_H

/*
 * A fetch returns whole batches, starting with the batch that contains the
 * requested offset, and may end with a batch cut short by the size limit.
 * A fetchbuf walks those bytes: each batch is validated (structure and
 * CRC32C) before any of its records comes out, records below the consumer's
 * position are skipped, and a cut-short batch at the end is dropped (it will
 * be fetched again whole).  No I/O and no clock: the consumer feeds it bytes.
 *
 * The bytes are read where they were received.  A Fetch response stays in
 * the buffer the connection read it into (a fetch_chunk, shared by every
 * partition with records in it), each partition's fetchbuf points at its
 * part of it, and the chunk is freed when the last partition is done with
 * it.  A fetchbuf holds a short queue of such parts, so that the next fetch
 * can be answered while the application still reads the previous one.
 *
 * The records of a compressed batch are decompressed into a fetch_arena,
 * one per consumer and shared by its partitions: batch after batch at its
 * end, so that the records one poll returns from several batches stay
 * valid together, until the consumer resets it at its next poll.  A batch
 * that does not fit in what is left waits for that reset (fetchbuf_next
 * returns RN_E_FULL); an empty arena grows to hold the batch, up to
 * BATCH_MAX_RECORDS_BYTES.  A batch still being read when the arena is reset
 * is decompressed again on the next read.
 */

#include <stddef.h>
#include <stdint.h>

#include "clients/runnel.h"
#include "wire/batch.h"

/* The received bytes of one response, shared by the partitions whose
 * records lie in them. */
struct fetch_chunk {
	uint8_t *buf; /* malloc'ed, owned */
	size_t refs;
};

/* Wraps buf (malloc'ed; owned from now on) in a chunk with one reference.
 * Returns NULL when out of memory, buf then freed. */
struct fetch_chunk *fetch_chunk_new(uint8_t *buf);
void fetch_chunk_ref(struct fetch_chunk *ch);
/* Drops a reference; the last one frees the chunk and its bytes.  NULL is
 * ignored. */
void fetch_chunk_unref(struct fetch_chunk *ch);

/* The size an arena starts at, once a compressed batch arrives. */
#define FETCH_ARENA_MIN_BYTES (1024u * 1024u)

struct fetch_arena {
	uint8_t *buf;
	size_t cap;
	size_t used;
	uint32_t gen; /* bumped by each reset */
	struct batch_codec codec;
};

void fetch_arena_init(struct fetch_arena *ar);
void fetch_arena_destroy(struct fetch_arena *ar);

/* Makes the whole arena free again: records decompressed into it must no
 * longer be in use. */
void fetch_arena_reset(struct fetch_arena *ar);

/* Parts one fetchbuf queues at most: one being read, one read to the end
 * but still pointed at by records the application holds, and the answers
 * of the fetches the consumer sends ahead. */
#define FETCHBUF_MAX_SEGS 4

/* Records of one batch kept from its validation at most (the view array of
 * a fetchbuf grows up to this); a batch with more is walked a second time
 * to read it instead. */
#define FETCHBUF_MAX_VIEWS 2048

/* One response's bytes for the partition. */
struct fetchbuf_seg {
	struct fetch_chunk *chunk; /* a reference */
	const uint8_t *data;
	size_t len;
};

struct fetchbuf {
	struct fetchbuf_seg segs[FETCHBUF_MAX_SEGS]; /* read in order */
	size_t count;
	size_t cur; /* the part being read; the ones before it are read to the end */
	size_t off; /* start of the next batch in segs[cur] */
	int in_batch;
	struct batch_info info; /* of the open batch */
	/* The open batch's records as its validation parsed them (when
	 * use_views; view_next is the next to return), or an iterator that
	 * parses them again. */
	struct record_view *views; /* owned */
	size_t views_cap;
	int use_views;
	int32_t view_next;
	struct batch_iter it;
	/* Set when a part held only a cut-short batch: the partition's fetch
	 * size is too small for its next batch (the part is not kept). */
	int truncated_first;
	int64_t last_base_offset;
	/* The offset after the last whole batch queued, where the next fetch
	 * can start before these are read; -1 when not known (nothing queued,
	 * or bytes that do not parse as batches). */
	int64_t end_offset;
	/* Where compressed batches are decompressed (NULL: they are refused
	 * with RN_E_UNSUPPORTED_COMPRESSION_TYPE).  Kept by fetchbuf_clear. */
	struct fetch_arena *arena;
	/* The open batch when it is compressed: its bytes, and the arena
	 * generation its records were decompressed in. */
	const uint8_t *zbatch;
	uint32_t zgen;
	/* The codec of the last batch refused, for the error message. */
	int bad_codec;
};

void fetchbuf_init(struct fetchbuf *fb);

/* Lets fb read compressed batches, decompressing them into ar (which must
 * outlive fb's use of it). */
void fetchbuf_set_arena(struct fetchbuf *fb, struct fetch_arena *ar);

/*
 * Queues data[0..len), which lies inside chunk (a reference is taken), after
 * what the fetchbuf holds.  A part with no whole batch sets truncated_first
 * and is not queued.  Returns 0 or RN_E_FULL (FETCHBUF_MAX_SEGS parts are
 * queued; nothing changed).
 */
int fetchbuf_push(struct fetchbuf *fb, struct fetch_chunk *chunk, const uint8_t *data, size_t len);

/* Replaces what was there with data[0..len) (malloc'ed; owned from now on).
 * Returns 0 or RN_E_NOMEM (data freed). */
int fetchbuf_set(struct fetchbuf *fb, uint8_t *data, size_t len);

/* Lets go of every part; the fetchbuf is then empty. */
void fetchbuf_clear(struct fetchbuf *fb);

/* Lets go of the parts read to the end.  Records returned from them must no
 * longer be in use. */
void fetchbuf_release_read(struct fetchbuf *fb);

/* True when nothing is left to return. */
int fetchbuf_empty(const struct fetchbuf *fb);

/* Parts queued and not yet read to the end. */
size_t fetchbuf_unread_parts(const struct fetchbuf *fb);

/*
 * Returns 1 and fills rec with the next record whose offset is at least
 * position, 0 when the bytes are used up, RN_E_FULL when the next batch is
 * compressed and the arena has no room left for it until it is reset
 * (nothing is lost: the batch is read after the reset), or
 * RN_E_CORRUPT_MESSAGE (a batch failed its CRC, structure or decompression
 * check; the rest of the bytes are dropped) or another batch_validate error
 * (RN_E_UNSUPPORTED_COMPRESSION_TYPE with bad_codec set).  rec points into
 * the fetchbuf's bytes, or the arena's for a compressed batch, valid until
 * the part it came from is released or the arena reset.
 */
int fetchbuf_next(struct fetchbuf *fb, int64_t position, struct record_view *rec);

/* Decodes rec's headers into out[0..rec->header_count).  Returns 0 or
 * RN_E_CORRUPT_MESSAGE.  out points into the same bytes as rec. */
int fetchbuf_headers(const struct record_view *rec, struct runnel_header *out);

/* ------------------------------------------------- Fetch responses in place */

/* A byte string inside an encoded response (not NUL-terminated). */
struct fetch_str {
	const char *data;
	size_t len;
};

/* The top of an encoded Response that carries a Fetch answer. */
struct fetch_resp_view {
	int32_t error_code;         /* the Response's own (wire code) */
	struct fetch_str error_message;
	int32_t fetch_error_code;   /* the FetchResponse's (wire code) */
	int has_fetch;              /* the body is a FetchResponse */
};

/* One partition's answer, pointing into the encoded response. */
struct fetch_part_view {
	struct fetch_str topic;
	int32_t partition;
	int32_t error_code; /* wire code */
	struct fetch_str error_message;
	int64_t high_watermark;
	const uint8_t *records;
	size_t records_len;
};

/*
 * Decodes the encoded Response body[0..len) in place, without copying or
 * allocating: fills top, and when it carries a FetchResponse calls fn (may
 * be NULL) for every partition in it, in order.  The whole response is
 * checked before the first call, so fn never sees part of a malformed one.
 * Returns 0, RN_E_MALFORMED_FRAME (not a well-formed Response, or fields of
 * the wrong type), or the first nonzero value fn returned.
 */
int fetch_response_decode(const uint8_t *body, size_t len, struct fetch_resp_view *top,
			  int (*fn)(void *arg, const struct fetch_part_view *part), void *arg);

#endif
