/* frame.h: length-prefixed frames on a byte stream, and a buffer that receives them in place. */
#ifndef RUNNEL_WIRE_FRAME_H
#define RUNNEL_WIRE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_PREFIX_BYTES 4u

/*
 * Looks at the start of a byte stream.  Returns 0 with *frame_len set when
 * avail holds the 4-byte prefix and the whole frame, RN_E_AGAIN (with
 * *frame_len set if the prefix is there) when more bytes are needed, or
 * RN_E_FRAME_TOO_LARGE when the prefix exceeds max_frame_bytes, or
 * RN_E_MALFORMED_FRAME for a zero-length frame.
 */
int frame_check(const uint8_t *buf, size_t avail, uint32_t max_frame_bytes, uint32_t *frame_len);

/* Writes the 4-byte big-endian prefix. */
void frame_put_prefix(uint8_t *p, uint32_t frame_len);

/*
 * A receive buffer for a stream of frames.  Bytes are read from a socket
 * into one contiguous buffer and each whole frame is handed out where it
 * lies, so a frame is copied once, by the kernel, and never again to be
 * decoded.  One read takes as much as the socket holds, up to the end of
 * the buffer.
 *
 * A buffer starts at FRAME_BUF_SMALL_BYTES (or base_cap when smaller), so
 * a quiet connection holds little; it grows to base_cap once a read fills
 * it, and back after FRAME_BUF_QUIET_READS reads in a row bring less than
 * half of the small size.  It grows to twice the frame being received when
 * that is larger (a frame is always whole in it), and shrinks back once
 * frames are small again.  Unconsumed bytes move to the front only when the
 * frame they start would not fit after them: at most one partial frame per
 * buffer's worth of input.  Memory: the buffer, never more than
 * 2 * (max_frame_bytes + FRAME_PREFIX_BYTES).
 */
#define FRAME_BUF_SMALL_BYTES (16u * 1024u)
#define FRAME_BUF_QUIET_READS 64u

struct frame_buf {
	uint8_t *data;      /* NULL until the first read */
	size_t cap;
	size_t start;       /* first byte not yet handed out */
	size_t end;         /* end of the bytes read */
	size_t last_frame;  /* bytes (prefix included) of the last frame handed out */
	size_t base_cap;
	size_t target;      /* the size wanted now: small or base_cap */
	uint32_t quiet;     /* reads in a row that brought little */
	uint32_t max_frame_bytes;
};

/* Starts an empty buffer (allocating nothing yet).  base_cap must be at
 * least FRAME_PREFIX_BYTES. */
void frame_buf_init(struct frame_buf *b, size_t base_cap, uint32_t max_frame_bytes);

/* Frees the buffer; frames handed out are gone with it. */
void frame_buf_free(struct frame_buf *b);

/*
 * Reads once from fd (non-blocking) into the buffer.  Frames handed out
 * before the call are invalid after it.  Returns 0 with *got the bytes read
 * (0: the peer closed the stream), RN_E_AGAIN when nothing was waiting,
 * RN_E_NOMEM, or RN_E_IO (errno says why).  Call it only when frame_buf_next
 * says RN_E_AGAIN: a frame that was refused never leaves the buffer.
 */
int frame_buf_read(struct frame_buf *b, int fd, size_t *got);

/*
 * Hands out the next whole frame: 0 with *body at its first byte after the
 * prefix and *len its length, valid until the next frame_buf_read or
 * frame_buf_free (the caller may change the bytes meanwhile).  Returns
 * RN_E_AGAIN when it has not all arrived, or, leaving it in the buffer,
 * RN_E_FRAME_TOO_LARGE (with *len the announced length) or
 * RN_E_MALFORMED_FRAME (a zero length): the stream cannot go on.
 */
int frame_buf_next(struct frame_buf *b, uint8_t **body, uint32_t *len);

/* True when bytes wait in the buffer that frame_buf_next has not handed out. */
bool frame_buf_pending(const struct frame_buf *b);

#endif
