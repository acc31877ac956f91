/* frame.c: length-prefixed frames on a byte stream, and their receive buffer. */
#include "wire/frame.h"

#include "common/errors.h"
#include "common/rn_assert.h"
#include "wire/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int frame_check(const uint8_t *buf, size_t avail, uint32_t max_frame_bytes, uint32_t *frame_len)
{
	if (avail < FRAME_PREFIX_BYTES)
		return RN_E_AGAIN;

	uint32_t n = be_get32(buf);
	*frame_len = n;
	/* An empty frame cannot hold a Request or Response with a header, and
	 * accepting it would let a peer spin the reader without progress. */
	if (n == 0)
		return RN_E_MALFORMED_FRAME;
	if (n > max_frame_bytes)
		return RN_E_FRAME_TOO_LARGE;
	if (avail - FRAME_PREFIX_BYTES < n)
		return RN_E_AGAIN;
	return 0;
}

void frame_put_prefix(uint8_t *p, uint32_t frame_len)
{
	be_put32(p, frame_len);
}

/* ------------------------------------------------------------ frame_buf */

void frame_buf_init(struct frame_buf *b, size_t base_cap, uint32_t max_frame_bytes)
{
	RN_ASSERT(base_cap >= FRAME_PREFIX_BYTES);
	memset(b, 0, sizeof(*b));
	b->base_cap = base_cap;
	b->target = base_cap < FRAME_BUF_SMALL_BYTES ? base_cap : FRAME_BUF_SMALL_BYTES;
	b->max_frame_bytes = max_frame_bytes;
}

void frame_buf_free(struct frame_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->cap = b->start = b->end = 0;
}

bool frame_buf_pending(const struct frame_buf *b)
{
	return b->end > b->start;
}

int frame_buf_next(struct frame_buf *b, uint8_t **body, uint32_t *len)
{
	if (!b->data)
		return RN_E_AGAIN;
	int rc = frame_check(b->data + b->start, b->end - b->start, b->max_frame_bytes, len);
	if (rc != 0)
		return rc;
	*body = b->data + b->start + FRAME_PREFIX_BYTES;
	b->start += FRAME_PREFIX_BYTES + *len;
	b->last_frame = FRAME_PREFIX_BYTES + *len;
	return 0;
}

/* Moves the unconsumed bytes to the front of a buffer of cap bytes (a new
 * one when cap differs from the current size).  0 or RN_E_NOMEM. */
static int rebuffer(struct frame_buf *b, size_t cap)
{
	size_t have = b->end - b->start;
	if (cap == b->cap) {
		memmove(b->data, b->data + b->start, have);
	} else {
		uint8_t *data = malloc(cap);
		if (!data)
			return RN_E_NOMEM;
		if (have)
			memcpy(data, b->data + b->start, have);
		free(b->data);
		b->data = data;
		b->cap = cap;
	}
	b->start = 0;
	b->end = have;
	return 0;
}

/* Makes room for the rest of the frame being received in one piece, and
 * for at least one more byte.  0 or RN_E_NOMEM. */
static int make_room(struct frame_buf *b)
{
	size_t have = b->end - b->start;
	uint32_t len = 0;
	size_t want = FRAME_PREFIX_BYTES;
	if (b->data && frame_check(b->data + b->start, have, b->max_frame_bytes, &len) == RN_E_AGAIN &&
	    len > 0)
		want = FRAME_PREFIX_BYTES + (size_t)len;
	/* Twice the frame, so that the frame after it usually fits too. */
	size_t cap = 2 * want > b->target ? 2 * want : b->target;
	if (have == 0) {
		b->start = b->end = 0;
		/* Give back a buffer grown for large frames (or for a busy
		 * stream) once they stop. */
		if (b->cap > cap && 2 * b->last_frame <= cap)
			frame_buf_free(b);
	}
	if (!b->data || b->cap < cap)
		return rebuffer(b, cap);
	if (b->cap - b->start >= want && b->end < b->cap)
		return 0;
	return rebuffer(b, b->cap);
}

/* Sizes the buffer to the stream: a read that fills it asks for base_cap,
 * a run of reads that bring little for the small size again. */
static void note_read(struct frame_buf *b, size_t n, size_t room)
{
	if (n == room) {
		b->target = b->base_cap;
		b->quiet = 0;
	} else if (n < FRAME_BUF_SMALL_BYTES / 2) {
		if (++b->quiet >= FRAME_BUF_QUIET_READS) {
			b->quiet = 0;
			if (b->target > FRAME_BUF_SMALL_BYTES)
				b->target = FRAME_BUF_SMALL_BYTES;
		}
	} else {
		b->quiet = 0;
	}
}

int frame_buf_read(struct frame_buf *b, int fd, size_t *got)
{
	*got = 0;
	int rc = make_room(b);
	if (rc != 0)
		return rc;
	size_t room = b->cap - b->end;
	ssize_t n = read(fd, b->data + b->end, room);
	if (n >= 0) {
		b->end += (size_t)n;
		*got = (size_t)n;
		note_read(b, (size_t)n, room);
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return RN_E_AGAIN;
	return RN_E_IO;
}
