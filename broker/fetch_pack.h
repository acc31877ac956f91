/* fetch_pack.h: packs a fetch response whose record bytes go out with sendfile. */
#ifndef RUNNEL_BROKER_FETCH_PACK_H
#define RUNNEL_BROKER_FETCH_PACK_H

/*
 * The fetch handler sets each partition's `records` field to
 * {len = slice length, data = the address of that slice's fetch_slice} — a
 * placeholder that is never read.  protobuf-c packs a bytes field by calling
 * the buffer's append() once for the tag and length and once with exactly
 * (len, data); the packing buffer here recognises the placeholder address
 * and appends the slice as a file segment (sendfile) instead of bytes.  If
 * that ever does not hold (a placeholder not seen exactly once, or a size
 * mismatch), the frame is packed again by copying the slices' bytes.
 *
 * The frame buffer is marked EVBUFFER_FLAG_DRAINS_TO_FD: it may only be
 * moved into a socket's output buffer (evbuffer_add_buffer), written to a
 * socket, or freed; reading its bytes in memory is not supported.
 */

#include "storage/plog.h"
#include "wire/runnel.pb-c.h"

#include <stdint.h>

struct evbuffer;

struct fetch_slice {
	struct plog_slice slice;     /* owned by the caller; released by it */
	ProtobufCBinaryData *field;  /* the records field that refers to it */
};

/*
 * Builds one frame (length prefix and packed resp) in a new evbuffer.
 * slices[0..count) are the placeholders used in resp; each stays owned by
 * the caller (the frame takes its own reference per segment, released when
 * the segment has been sent or dropped).  Returns the evbuffer (the caller
 * owns it) or NULL when out of memory or a slice could not be read.
 */
struct evbuffer *fetch_pack_frame(const Runnel__Response *resp, struct fetch_slice *slices,
				  uint32_t count);

/*
 * Responses carrying at most this many record bytes are copied rather than
 * sent with sendfile: for a few KiB one write is cheaper than a write per
 * segment plus the kernel's page-cache walk.  Measured with runnel perf e2e
 * (docs/benchmarks.md).
 */
#define FETCH_COPY_MAX_BYTES (64u * 1024u)

/* Changes the threshold above (0: always sendfile); for tests. */
void fetch_pack_set_copy_max(uint64_t bytes);

/* Counters for tests: frames packed by zero copy and by the copying path. */
struct fetch_pack_stats {
	uint64_t zero_copy_frames;
	uint64_t copied_frames;
};
void fetch_pack_get_stats(struct fetch_pack_stats *out);

#endif
