/* frame.h: length-prefixed frames and the protobuf request/response codec. */
#ifndef RUNNEL_WIRE_FRAME_H
#define RUNNEL_WIRE_FRAME_H

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

#endif
