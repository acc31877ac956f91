/* frame.c: length-prefixed frames on a byte stream. */
#include "wire/frame.h"

#include "common/errors.h"
#include "wire/batch.h"

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
