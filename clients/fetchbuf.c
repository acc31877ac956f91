/* fetchbuf.c: validating and decoding fetched record batches. */
#include "clients/fetchbuf.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"

void fetchbuf_init(struct fetchbuf *fb)
{
	memset(fb, 0, sizeof(*fb));
	fb->last_base_offset = -1;
}

void fetchbuf_clear(struct fetchbuf *fb)
{
	free(fb->data);
	fetchbuf_init(fb);
}

void fetchbuf_set(struct fetchbuf *fb, uint8_t *data, size_t len)
{
	fetchbuf_clear(fb);
	fb->data = data;
	fb->len = len;
}

int fetchbuf_empty(const struct fetchbuf *fb)
{
	return !fb->in_batch && fb->off >= fb->len;
}

/* Validates the batch at fb->off and starts iterating it.  Returns 1 when a
 * batch was opened, 0 when no whole batch is left, or an error. */
static int open_batch(struct fetchbuf *fb)
{
	struct batch_info info;
	size_t avail = fb->len - fb->off;
	const uint8_t *p = fb->data + fb->off;
	if (avail == 0)
		return 0;
	int rc = batch_peek(p, avail, &info);
	if (rc == RN_E_AGAIN || (rc != 0 && avail < BATCH_HEADER_BYTES)) {
		/* A batch cut short by the fetch size: drop it. */
		if (fb->off == 0)
			fb->truncated_first = 1;
		fb->off = fb->len;
		return 0;
	}
	if (rc == 0)
		rc = batch_validate(p, info.total_bytes, RN_MAX_RECORDS_PER_BATCH, &info);
	if (rc == 0)
		rc = batch_iter_init(&fb->it, p, info.total_bytes);
	if (rc != 0) {
		fb->off = fb->len;
		return rc;
	}
	fb->off += info.total_bytes;
	fb->in_batch = 1;
	fb->last_base_offset = info.base_offset;
	return 1;
}

int fetchbuf_next(struct fetchbuf *fb, int64_t position, struct record_view *rec)
{
	for (;;) {
		if (!fb->in_batch) {
			int rc = open_batch(fb);
			if (rc <= 0)
				return rc;
			/* A whole batch below the position needs no decoding. */
			int64_t last = fb->it.info.base_offset + fb->it.info.last_offset_delta;
			if (last < position) {
				fb->in_batch = 0;
				continue;
			}
		}
		int rc = batch_iter_next(&fb->it, rec);
		if (rc < 0) {
			fb->in_batch = 0;
			fb->off = fb->len;
			return rc;
		}
		if (rc == 0) {
			fb->in_batch = 0;
			continue;
		}
		if (rec->offset >= position)
			return 1;
	}
}

int fetchbuf_headers(const struct record_view *rec, struct runnel_header *out)
{
	const uint8_t *pos = rec->headers;
	size_t len = rec->headers_len;
	struct record_header_view h;
	for (uint32_t i = 0; i < rec->header_count; i++) {
		int rc = batch_header_next(&pos, &len, &h);
		if (rc != 1)
			return RN_E_CORRUPT_MESSAGE;
		out[i].key = (const char *)h.key;
		out[i].key_len = h.key_len;
		out[i].value = h.value;
		out[i].value_len = h.value_len;
	}
	return 0;
}
