/* varint.c: zig-zag variable-length integers of the record format. */
#include "wire/varint.h"

/*
 * Zig-zag maps signed values to unsigned ones so that numbers near zero,
 * positive or negative, take few bytes: 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3.
 * The shifts are done on unsigned types so that no signed overflow or
 * implementation-defined right shift of a negative value is involved.
 */
static uint32_t zigzag32(int32_t v)
{
	uint32_t u = (uint32_t)v;
	return (u << 1) ^ (0u - (u >> 31));
}

static int32_t unzigzag32(uint32_t u)
{
	uint32_t v = (u >> 1) ^ (0u - (u & 1u));
	return (int32_t)v;
}

static uint64_t zigzag64(int64_t v)
{
	uint64_t u = (uint64_t)v;
	return (u << 1) ^ (0u - (u >> 63));
}

static int64_t unzigzag64(uint64_t u)
{
	uint64_t v = (u >> 1) ^ (0u - (u & 1u));
	return (int64_t)v;
}

static size_t put_unsigned(uint8_t *p, uint64_t u)
{
	size_t n = 0;
	while (u >= 0x80u) {
		p[n++] = (uint8_t)(u | 0x80u);
		u >>= 7;
	}
	p[n++] = (uint8_t)u;
	return n;
}

static size_t size_unsigned(uint64_t u)
{
	size_t n = 1;
	while (u >= 0x80u) {
		u >>= 7;
		n++;
	}
	return n;
}

/*
 * Reads an unsigned varint of at most max_bytes bytes whose value fits in
 * value_bits bits.  Returns the bytes read, or 0 when the input ends before
 * the last byte, when the encoding is longer than max_bytes, or when the
 * final byte sets bits above value_bits (a value the type cannot hold).
 */
static size_t get_unsigned(const uint8_t *p, size_t avail, size_t max_bytes, unsigned value_bits,
			   uint64_t *out)
{
	uint64_t u = 0;
	for (size_t i = 0; i < max_bytes; i++) {
		if (i >= avail)
			return 0;
		unsigned shift = (unsigned)(7 * i);
		uint64_t group = p[i] & 0x7fu;
		if (shift + 7 > value_bits && (group >> (value_bits - shift)) != 0)
			return 0;
		u |= group << shift;
		if ((p[i] & 0x80u) == 0) {
			*out = u;
			return i + 1;
		}
	}
	return 0;
}

size_t varint_put(uint8_t *p, int32_t v)
{
	return put_unsigned(p, zigzag32(v));
}

size_t varlong_put(uint8_t *p, int64_t v)
{
	return put_unsigned(p, zigzag64(v));
}

size_t varint_size(int32_t v)
{
	return size_unsigned(zigzag32(v));
}

size_t varlong_size(int64_t v)
{
	return size_unsigned(zigzag64(v));
}

size_t varint_get(const uint8_t *p, size_t avail, int32_t *out)
{
	uint64_t u;
	size_t n = get_unsigned(p, avail, VARINT_MAX_BYTES, 32, &u);
	if (n == 0)
		return 0;
	*out = unzigzag32((uint32_t)u);
	return n;
}

size_t varlong_get(const uint8_t *p, size_t avail, int64_t *out)
{
	uint64_t u;
	size_t n = get_unsigned(p, avail, VARLONG_MAX_BYTES, 64, &u);
	if (n == 0)
		return 0;
	*out = unzigzag64(u);
	return n;
}
