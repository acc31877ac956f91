/* varint.h: zig-zag variable-length integers of the record format. */
#ifndef RUNNEL_WIRE_VARINT_H
#define RUNNEL_WIRE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX_BYTES 5
#define VARLONG_MAX_BYTES 10

/* Writes v at p (room for VARINT_MAX_BYTES); returns bytes written. */
size_t varint_put(uint8_t *p, int32_t v);
size_t varlong_put(uint8_t *p, int64_t v);

/* Bytes varint_put/varlong_put would write. */
size_t varint_size(int32_t v);
size_t varlong_size(int64_t v);

/* Reads from p[0..avail); returns bytes read, or 0 if the input is truncated
 * or longer than the type allows. */
size_t varint_get(const uint8_t *p, size_t avail, int32_t *out);
size_t varlong_get(const uint8_t *p, size_t avail, int64_t *out);

#endif
