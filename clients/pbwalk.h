/* pbwalk.h: walking the fields of an encoded protobuf message in place, without copying. */
#ifndef RUNNEL_CLIENTS_PBWALK_H
#define RUNNEL_CLIENTS_PBWALK_H

/*
 * protobuf-c's unpacker copies every bytes field into memory of its own.
 * For a Fetch response, whose record batches are nearly all of its bytes,
 * that is a second copy of everything fetched; reading the few fields a
 * consumer needs straight from the received frame avoids it.  This walker
 * yields one field at a time (number, wire type, value or bytes) and reads
 * only inside the given bytes; it knows nothing of any message type.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"

/* Protobuf wire types. */
#define PBWALK_VARINT 0
#define PBWALK_I64 1
#define PBWALK_LEN 2
#define PBWALK_I32 5

/* Bytes of a varint at most. */
#define PBWALK_VARINT_MAX_BYTES 10

struct pbwalk {
	const uint8_t *pos;
	const uint8_t *end;
};

struct pbfield {
	uint32_t number;
	int wire_type;
	uint64_t value;      /* VARINT, I64 and I32 fields (little-endian for the fixed ones) */
	const uint8_t *data; /* LEN fields: the bytes, inside the walked message */
	size_t len;
};

static inline void pbwalk_init(struct pbwalk *w, const uint8_t *data, size_t len)
{
	w->pos = data;
	w->end = data + len;
}

/* Reads a base-128 varint.  Returns 0, or RN_E_MALFORMED_FRAME when the input
 * ends inside it or it is longer than PBWALK_VARINT_MAX_BYTES. */
static inline int pbwalk_varint(struct pbwalk *w, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < PBWALK_VARINT_MAX_BYTES; i++) {
		if (w->pos >= w->end)
			return RN_E_MALFORMED_FRAME;
		uint8_t b = *w->pos++;
		v |= (uint64_t)(b & 0x7fu) << (7 * i);
		if (b < 0x80u) {
			*out = v;
			return 0;
		}
	}
	return RN_E_MALFORMED_FRAME;
}

/* Reads n little-endian bytes. */
static inline int pbwalk_fixed(struct pbwalk *w, unsigned n, uint64_t *out)
{
	if ((size_t)(w->end - w->pos) < n)
		return RN_E_MALFORMED_FRAME;
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)w->pos[i] << (8 * i);
	w->pos += n;
	*out = v;
	return 0;
}

/*
 * Reads the next field into f.  Returns 1, 0 at the end of the message, or
 * RN_E_MALFORMED_FRAME: a field running past the end, field number 0, or a
 * wire type this format does not use (the deprecated groups).
 */
static inline int pbwalk_next(struct pbwalk *w, struct pbfield *f)
{
	if (w->pos >= w->end)
		return 0;
	uint64_t key;
	if (pbwalk_varint(w, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
		return RN_E_MALFORMED_FRAME;
	f->number = (uint32_t)(key >> 3);
	f->wire_type = (int)(key & 7u);
	f->data = NULL;
	f->len = 0;
	f->value = 0;
	switch (f->wire_type) {
	case PBWALK_VARINT:
		return pbwalk_varint(w, &f->value) == 0 ? 1 : RN_E_MALFORMED_FRAME;
	case PBWALK_I64:
		return pbwalk_fixed(w, 8, &f->value) == 0 ? 1 : RN_E_MALFORMED_FRAME;
	case PBWALK_I32:
		return pbwalk_fixed(w, 4, &f->value) == 0 ? 1 : RN_E_MALFORMED_FRAME;
	case PBWALK_LEN: {
		uint64_t len;
		if (pbwalk_varint(w, &len) != 0 || len > (uint64_t)(w->end - w->pos))
			return RN_E_MALFORMED_FRAME;
		f->data = w->pos;
		f->len = (size_t)len;
		w->pos += len;
		return 1;
	}
	default:
		return RN_E_MALFORMED_FRAME;
	}
}

/* The value of an int32 field: protobuf sign-extends negative ones to 64
 * bits, and keeping the low 32 bits undoes that. */
static inline int32_t pbfield_int32(const struct pbfield *f)
{
	return (int32_t)(uint32_t)f->value;
}

static inline int64_t pbfield_int64(const struct pbfield *f)
{
	return (int64_t)f->value;
}

#endif
