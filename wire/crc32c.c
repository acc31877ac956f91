/* crc32c.c: CRC32C (Castagnoli) of record batches, computed with ISA-L. */
#include "wire/batch.h"

#include <isa-l/crc.h>

/*
 * ISA-L takes the length as an int, so longer inputs are fed in chunks that
 * stay well below INT_MAX; the chunk size does not change the result.
 */
#define CRC32C_CHUNK_BYTES (1024u * 1024u * 1024u)

/*
 * ISA-L's crc32_iscsi works on the raw register: it neither pre- nor
 * post-inverts.  The standard CRC32C starts from all ones and inverts the
 * result, so a running value is inverted on the way in and on the way out.
 * The buffer parameter is not const in ISA-L's prototype, but the function
 * only reads it.
 */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned int reg = crc ^ 0xffffffffu;

	while (len > 0) {
		size_t n = len < CRC32C_CHUNK_BYTES ? len : CRC32C_CHUNK_BYTES;
		reg = crc32_iscsi((unsigned char *)(uintptr_t)p, (int)n, reg);
		p += n;
		len -= n;
	}
	return reg ^ 0xffffffffu;
}

uint32_t crc32c(const void *data, size_t len)
{
	return crc32c_extend(0, data, len);
}
