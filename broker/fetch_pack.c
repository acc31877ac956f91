/* fetch_pack.c: zero-copy packing of fetch responses. */
#include "broker/fetch_pack.h"

#include "common/errors.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "wire/frame.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static struct fetch_pack_stats stats;
static uint64_t copy_max_bytes = FETCH_COPY_MAX_BYTES;

void fetch_pack_set_copy_max(uint64_t bytes)
{
	copy_max_bytes = bytes;
}

void fetch_pack_get_stats(struct fetch_pack_stats *out)
{
	*out = stats;
}

struct zc_buffer {
	ProtobufCBuffer base;
	struct evbuffer *out;
	struct fetch_slice *slices;
	uint32_t count;
	uint32_t matched;
	bool failed;
};

/* A segment's own reference to the slice's file, dropped by libevent. */
struct segment_hold {
	struct plog_slice slice;
};

static void segment_cleanup_cb(const struct evbuffer_file_segment *seg, int flags, void *arg)
{
	struct segment_hold *hold = arg;
	(void)seg;
	(void)flags;
	plog_slice_release(&hold->slice);
	free(hold);
}

static int add_segment(struct evbuffer *out, const struct plog_slice *s)
{
	struct segment_hold *hold = malloc(sizeof(*hold));
	if (!hold)
		return RN_E_NOMEM;
	hold->slice = *s;
	hold->slice.ref = plog_ref_acquire(s->ref);
	struct evbuffer_file_segment *seg = evbuffer_file_segment_new(
		s->fd, (ev_off_t)s->file_pos, (ev_off_t)s->len, EVBUF_FS_DISABLE_LOCKING);
	if (!seg) {
		plog_slice_release(&hold->slice);
		free(hold);
		return RN_E_NOMEM;
	}
	evbuffer_file_segment_add_cleanup_cb(seg, segment_cleanup_cb, hold);
	int rc = evbuffer_add_file_segment(out, seg, 0, (ev_off_t)s->len);
	/* The buffer holds its own reference when the add succeeded; ours goes,
	 * and with it the hold if the add failed. */
	evbuffer_file_segment_free(seg);
	return rc == 0 ? RN_OK : RN_E_NOMEM;
}

/* Index of the placeholder data points at, or -1 when it is ordinary bytes. */
static int64_t placeholder_index(const struct zc_buffer *z, const uint8_t *data)
{
	uintptr_t lo = (uintptr_t)z->slices;
	uintptr_t hi = (uintptr_t)(z->slices + z->count);
	uintptr_t p = (uintptr_t)data;
	if (z->count == 0 || p < lo || p >= hi || (p - lo) % sizeof(struct fetch_slice) != 0)
		return -1;
	return (int64_t)((p - lo) / sizeof(struct fetch_slice));
}

static void zc_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
	struct zc_buffer *z = (struct zc_buffer *)b;
	if (z->failed || len == 0)
		return;
	int64_t i = placeholder_index(z, data);
	if (i >= 0 && len == z->slices[i].slice.len) {
		if (add_segment(z->out, &z->slices[i].slice) != RN_OK)
			z->failed = true;
		z->matched++;
		return;
	}
	/* evbuffer_add after a file segment sizes its new chain from the
	 * segment's chain, whose length counts the file offset: tens of MiB
	 * mapped and unmapped per response.  Reserving asks for what is
	 * needed. */
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(z->out, (ev_ssize_t)len, &v, 1) != 1) {
		z->failed = true;
		return;
	}
	memcpy(v.iov_base, data, len);
	v.iov_len = len;
	if (evbuffer_commit_space(z->out, &v, 1) != 0)
		z->failed = true;
}

static struct evbuffer *pack_zero_copy(const Runnel__Response *resp, size_t body_len,
				       struct fetch_slice *slices, uint32_t count)
{
	struct zc_buffer z = {.base = {.append = zc_append}, .slices = slices, .count = count};
	z.out = evbuffer_new();
	if (!z.out)
		return NULL;
	/* libevent keeps a file segment as a sendfile chain only in a buffer
	 * that promises to drain to a socket; otherwise it reads or maps the
	 * file into memory.  This buffer is only ever moved into a socket's
	 * output buffer or freed, which is what the flag requires. */
	evbuffer_set_flags(z.out, EVBUFFER_FLAG_DRAINS_TO_FD);
	uint8_t prefix[FRAME_PREFIX_BYTES];
	frame_put_prefix(prefix, (uint32_t)body_len);
	evbuffer_add(z.out, prefix, sizeof(prefix));
	protobuf_c_message_pack_to_buffer(&resp->base, &z.base);
	uint32_t nonempty = 0;
	for (uint32_t i = 0; i < count; i++)
		nonempty += slices[i].slice.len > 0;
	if (z.failed || z.matched != nonempty ||
	    evbuffer_get_length(z.out) != FRAME_PREFIX_BYTES + body_len) {
		evbuffer_free(z.out);
		return NULL;
	}
	return z.out;
}

/* The fallback: read the slices into memory and pack an ordinary frame. */
static struct evbuffer *pack_copy(const Runnel__Response *resp, size_t body_len,
				  struct fetch_slice *slices, uint32_t count)
{
	struct evbuffer *out = NULL;
	uint8_t **bufs = calloc(count + 1, sizeof(*bufs));
	if (!bufs)
		return NULL;
	uint32_t i;
	for (i = 0; i < count; i++) {
		bufs[i] = malloc(slices[i].slice.len + 1);
		if (!bufs[i] || plog_slice_copy(&slices[i].slice, bufs[i]) != RN_OK)
			goto free_bufs;
		slices[i].field->data = bufs[i];
	}
	out = evbuffer_new();
	struct evbuffer_iovec v;
	if (!out || evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_PREFIX_BYTES + body_len), &v, 1) != 1)
		goto free_out;
	frame_put_prefix(v.iov_base, (uint32_t)body_len);
	protobuf_c_message_pack(&resp->base, (uint8_t *)v.iov_base + FRAME_PREFIX_BYTES);
	v.iov_len = FRAME_PREFIX_BYTES + body_len;
	evbuffer_commit_space(out, &v, 1);
	goto free_bufs;
free_out:
	if (out)
		evbuffer_free(out);
	out = NULL;
free_bufs:
	for (uint32_t j = 0; j < count; j++) {
		slices[j].field->data = (uint8_t *)&slices[j];
		free(bufs[j]);
	}
	free(bufs);
	return out;
}

struct evbuffer *fetch_pack_frame(const Runnel__Response *resp, struct fetch_slice *slices,
				  uint32_t count)
{
	size_t body_len = protobuf_c_message_get_packed_size(&resp->base);
	if (body_len > RN_MAX_FRAME_BYTES)
		return NULL;
	/* A small response costs less to copy than to hand to sendfile: one
	 * write instead of a write per segment and the kernel's page walk. */
	uint64_t record_bytes = 0;
	for (uint32_t i = 0; i < count; i++)
		record_bytes += slices[i].slice.len;
	struct evbuffer *out = NULL;
	if (record_bytes > copy_max_bytes)
		out = pack_zero_copy(resp, body_len, slices, count);
	if (out) {
		stats.zero_copy_frames++;
		return out;
	}
	if (record_bytes > copy_max_bytes)
		LOG_DEBUG("fetch", "zero-copy packing did not apply; copying %u slice(s)", count);
	out = pack_copy(resp, body_len, slices, count);
	if (out)
		stats.copied_frames++;
	return out;
}
