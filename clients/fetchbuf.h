/* fetchbuf.h: the fetched bytes of one partition: CRC checks, record decoding, skipping below the position. */
#ifndef RUNNEL_CLIENTS_FETCHBUF_H
#define RUNNEL_CLIENTS_FETCHBUF_H

/*
 * A fetch returns whole batches, starting with the batch that contains the
 * requested offset, and may end with a batch cut short by the size limit.
 * A fetchbuf walks those bytes: each batch is validated (structure and
 * CRC32C) before any of its records comes out, records below the consumer's
 * position are skipped, and a cut-short batch at the end is dropped (it will
 * be fetched again whole).  No I/O and no clock: the consumer feeds it bytes.
 */

#include <stddef.h>
#include <stdint.h>

#include "clients/runnel.h"
#include "wire/batch.h"

struct fetchbuf {
	uint8_t *data; /* owned */
	size_t len;
	size_t off; /* start of the next batch */
	int in_batch;
	struct batch_iter it;
	/* Set when the bytes held only a cut-short batch: the partition's
	 * fetch size is too small for its next batch. */
	int truncated_first;
	int64_t last_base_offset;
};

void fetchbuf_init(struct fetchbuf *fb);

/* Takes ownership of data[0..len) (malloc'ed), replacing what was there. */
void fetchbuf_set(struct fetchbuf *fb, uint8_t *data, size_t len);

/* Frees the bytes; the fetchbuf is then empty. */
void fetchbuf_clear(struct fetchbuf *fb);

/* True when nothing is left to return. */
int fetchbuf_empty(const struct fetchbuf *fb);

/*
 * Returns 1 and fills rec with the next record whose offset is at least
 * position, 0 when the bytes are used up, or RN_E_CORRUPT_MESSAGE (a batch
 * failed its CRC or structure check; the rest of the bytes are dropped) or
 * another batch_validate error.  rec points into the fetchbuf's bytes.
 */
int fetchbuf_next(struct fetchbuf *fb, int64_t position, struct record_view *rec);

/* Decodes rec's headers into out[0..rec->header_count).  Returns 0 or
 * RN_E_CORRUPT_MESSAGE.  out points into the same bytes as rec. */
int fetchbuf_headers(const struct record_view *rec, struct runnel_header *out);

#endif
