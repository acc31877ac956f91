/* conn.h: one client connection to a node: non-blocking socket, framing, pipelined requests. */
#ifndef RUNNEL_CLIENTS_CONN_H
#define RUNNEL_CLIENTS_CONN_H

/*
 * A connection owns its socket and its buffers.  Requests are queued as whole
 * frames and remembered in a FIFO of pending entries.  The output queue is a
 * list of segments: bytes copied into the connection's own buffer, and (for
 * conn_send_ref) large byte strings of the request written straight from
 * where the caller keeps them, so that a produced batch is not copied once
 * more on its way to the socket.  Because a node answers in request order,
 * each response must carry the correlation id at the head of the FIFO, and
 * anything else is a protocol error that closes the connection.  The owner
 * drives the connection: conn_poll_events() says what to wait for,
 * conn_handle_events() does the I/O after poll(), conn_check_timeouts()
 * enforces request deadlines.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "wire/runnel.pb-c.h"

/* Called exactly once per request that expects a response: with err 0 and
 * the response, with the response's own top-level error (err < 0, resp set),
 * or with a connection error and resp NULL.  The callback owns resp and frees
 * it with runnel__response__free_unpacked(resp, NULL).  A callback must not
 * send on or close any connection: it records what happened and returns. */
typedef void (*conn_response_cb)(void *opaque, int err, Runnel__Response *resp);

/*
 * The callback of a request sent with conn_send_raw: called exactly once,
 * with err 0 and the undecoded response body[0..len), which lies inside buf,
 * or with a connection error and buf NULL.  The callback owns buf and frees
 * it with free(); anything it keeps pointing into the body stays valid until
 * then.  The correlation id was checked; everything else is the callback's
 * to decode.  The same rules as for conn_response_cb apply.
 */
typedef void (*conn_raw_cb)(void *opaque, int err, uint8_t *buf, const uint8_t *body, size_t len);

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_READY };

struct conn_pending {
	int32_t correlation_id;
	int64_t deadline_ms;
	conn_response_cb cb; /* NULL when raw_cb is set */
	conn_raw_cb raw_cb;
	void *opaque;
	/* out_queued just after the request: an answer that arrives before
	 * out_written reaches it answers something never fully sent. */
	uint64_t out_end;
};

/* One piece of the output queue: ref bytes the caller keeps alive, or (ref
 * NULL) bytes at out[off] of the connection's own buffer. */
struct conn_out_seg {
	const uint8_t *ref;
	size_t off;
	size_t len;
};

/* Byte strings of at least this size are sent from the caller's memory by
 * conn_send_ref; smaller ones cost less to copy than to point at. */
#define CONN_REF_MIN_BYTES 1024u
/* Segments written with one sendmsg() call at most. */
#define CONN_MAX_IOV 64
/* A raw response frame at least this large that has not fully arrived is
 * read straight into a buffer of its own, the one handed to the callback,
 * rather than through the connection's input buffer. */
#define CONN_DIRECT_FRAME_BYTES (64u * 1024u)

struct conn {
	int32_t node_id;
	char host[RN_MAX_ADDRESS_LEN + 1];
	char port[8];
	int fd;
	enum conn_state state;
	/* The connection's own output bytes: out[out_off..out_len) not yet
	 * written, in the order of their segments. */
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	/* The output queue, oldest first: segs[seg_head..seg_head+seg_count). */
	struct conn_out_seg *segs;
	size_t seg_head, seg_count, seg_cap;
	/* Bytes ever queued and ever written since the socket opened. */
	uint64_t out_queued, out_written;
	uint8_t *in;
	size_t in_len, in_cap;
	/* The raw frame being read into its own buffer: direct_len of
	 * direct_need body bytes so far (direct NULL when none). */
	uint8_t *direct;
	size_t direct_len, direct_need;
	struct conn_pending *pending; /* ring of max_in_flight entries */
	uint32_t pending_head, pending_count, max_in_flight;
	/* Reconnection: no attempt before retry_at_ms; backoff doubles. */
	int64_t retry_at_ms;
	int32_t backoff_ms, backoff_min_ms, backoff_max_ms;
	/* When a failure (refused, reset, timed out) last closed the
	 * connection; 0 once the node answers again.  A stopped process still
	 * accepts connections, so only an answer proves the node is alive. */
	int64_t failed_at_ms;
	int last_err;
	/* Room for the address (up to RN_MAX_ADDRESS_LEN) and the reason. */
	char errmsg[RN_MAX_ADDRESS_LEN + 384];
};

/* Sets up a connection to host:port (not connected yet).  Returns 0,
 * RN_E_INVAL (address too long) or RN_E_NOMEM. */
int conn_init(struct conn *cn, int32_t node_id, const char *host, int port, uint32_t max_in_flight,
	      int32_t backoff_min_ms, int32_t backoff_max_ms);

/* Closes the socket (failing pending requests with err) and frees buffers. */
void conn_destroy(struct conn *cn);

/* Starts connecting when down and the backoff has passed.  Returns 0 (down
 * in backoff, connecting or ready) or the error of a failed attempt. */
int conn_ensure(struct conn *cn, int64_t now_ms);

/* True when a request can be queued now: connected or connecting, and fewer
 * than max_in_flight requests pending. */
int conn_can_send(const struct conn *cn);

/*
 * Packs req (its header's correlation id already set) into a frame and
 * queues it.  With cb NULL no response is expected (acks=0 produce) and the
 * request takes no in-flight slot.  Returns 0, RN_E_FULL (no slot),
 * RN_E_CLOSED (not connected or connecting), RN_E_FRAME_TOO_LARGE or
 * RN_E_NOMEM.
 */
int conn_send(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms, conn_response_cb cb,
	      void *opaque);

/*
 * As conn_send, but the request's byte strings of CONN_REF_MIN_BYTES or more
 * are not copied: they are written to the socket from where they are.  The
 * caller keeps them unchanged until cb runs (cb must not be NULL), which is
 * after they were written, or when the connection closes; a node that
 * answers before the whole request was written breaks the protocol and the
 * connection is closed.
 */
int conn_send_ref(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms,
		  conn_response_cb cb, void *opaque);

/* As conn_send, with the response handed to cb undecoded (see conn_raw_cb),
 * so that a large answer is neither copied nor unpacked by the connection. */
int conn_send_raw(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms, conn_raw_cb cb,
		  void *opaque);

/* Bytes queued on the connection and not yet written to its socket. */
static inline uint64_t conn_out_pending(const struct conn *cn)
{
	return cn->out_queued - cn->out_written;
}

/* The poll() events this connection waits for (0 when it has no socket). */
short conn_poll_events(const struct conn *cn);

/* Handles poll() results: finishes connecting, writes, reads and dispatches
 * responses.  Failures close the connection and fail its pending requests. */
void conn_handle_events(struct conn *cn, short revents, int64_t now_ms);

/* Fails everything pending with RN_E_REQUEST_TIMED_OUT, and closes, when the
 * oldest request passed its deadline (later ones cannot be answered first). */
void conn_check_timeouts(struct conn *cn, int64_t now_ms);

/* The earliest deadline of this connection (INT64_MAX when none). */
int64_t conn_next_deadline(const struct conn *cn);

/* Closes the socket, fails all pending requests with err, and schedules the
 * next connection attempt after the backoff. */
void conn_close(struct conn *cn, int err, int64_t now_ms);

#endif
