/* conn.h: one client connection: framing, dispatch, ordered responses, back-pressure. */
#ifndef RUNNEL_BROKER_CONN_H
#define RUNNEL_BROKER_CONN_H

/*
 * A connection reads frames from its socket into a buffer of its own,
 * decodes each where it landed (the record batches of a Produce request are
 * not copied: they are valid while the handler runs) and hands it to the
 * API's handler as a struct req.  Every request but produce with acks=0
 * takes a slot in the connection's response queue (respq.h); the handler
 * answers at once or parks the request (req_park) and answers later, and
 * completed answers leave strictly in request order, in one write per loop
 * turn.
 *
 * A connection stops reading while RN_MAX_INFLIGHT_PER_CONN requests are
 * pending or RN_MAX_CONN_OUTPUT_BYTES of responses wait to be sent, and
 * resumes when that drains.  A frame over RN_MAX_FRAME_BYTES or one that
 * does not decode is answered with an error and the connection is closed;
 * a request that decodes but is refused (unknown API or version) is answered
 * with an error and the connection stays open.
 *
 * When a connection closes, each parked request's cancel function is
 * called: it undoes the request's waits (fetch purgatory, produce waiting for
 * fsync, a metadata commit) and frees the request.  The connection itself is
 * freed at the end of the loop turn, never inside its own callback.
 */

#include "broker/arena.h"
#include "broker/respq.h"
#include "wire/runnel.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

struct node;
struct conn;
struct evbuffer;

/* Longest peer address text, "[v6addr]:port". */
#define CONN_PEER_LEN 64u

/* A busy connection's receive buffer (wire/frame.h frame_buf): one read
 * takes up to this much.  A quiet connection's holds FRAME_BUF_SMALL_BYTES;
 * a frame larger than half of it gets a buffer of twice its size while such
 * frames keep coming. */
#define CONN_RECV_BUFFER_BYTES (256u * 1024u)

struct req {
	struct node *node;
	struct conn *conn;       /* NULL: no response is sent (acks=0, or the connection closed) */
	uint64_t seq;            /* slot in conn's queue, valid while conn != NULL */
	Runnel__Request *msg;    /* owned; freed with the request */
	int32_t correlation_id;
	struct evbuffer *out;    /* the framed response once complete */
	void (*cancel)(struct req *r); /* set while parked; must free r */
	void *wait;              /* the handler's parked state */
	struct arena arena;      /* response structs */
	char peer[CONN_PEER_LEN];
	/* The listener whose addresses the answer gives (listener.h): the one
	 * the connection arrived on, or for a request another node forwarded,
	 * the one its client's connection arrived on.  Valid as long as r. */
	const char *listener;
	/* Answered on this node, never forwarded (forward.h): another node
	 * forwarded it here, or forwarding it failed. */
	bool no_forward;
};

/* Creates a connection on an accepted socket (owned from now on), which
 * arrived on the listener named listener (a string that outlives it).
 * Returns 0 or RN_E_NOMEM (the socket is then closed). */
int conn_new(struct node *n, int fd, const char *peer, const char *listener, struct conn **out);

/* Closes the connection now: cancels parked requests, drops unsent output.
 * Safe to call more than once; the struct is freed at the end of the turn. */
void conn_close(struct conn *c);

/* Frees the connections closed during this turn (the node calls it at the
 * end of the turn, when no callback can hold them). */
void conn_free_dead(struct node *n);

/* The connection's peer address, for logs. */
const char *conn_peer(const struct conn *c);

/* Closes every connection of the node (shutdown). */
void conn_close_all(struct node *n);

/* Allocates zeroed memory that lives as long as the request (never NULL:
 * running out of memory here stops the process). */
void *req_alloc(struct req *r, size_t n);
char *req_strdup(struct req *r, const char *s);

/* Parks the request: it answers later; cancel undoes its waits and frees it
 * when the connection closes first. */
void req_park(struct req *r, void (*cancel)(struct req *r), void *wait);

/*
 * Completes the request with resp (built by the handler, usually in the
 * arena): sets its correlation id, packs it into a frame and queues it in
 * order.  Frees the request (and msg) unless it is waiting to be written.
 * A response too large for a frame is replaced by an UNKNOWN_SERVER_ERROR.
 */
void req_respond(struct req *r, Runnel__Response *resp);

/* Completes the request with an already framed response (zero-copy fetch);
 * takes ownership of out. */
void req_respond_frame(struct req *r, struct evbuffer *out);

/* Completes the request with a top-level error (err negative, message
 * optional: the error table's text is used when NULL). */
void req_fail(struct req *r, int err, const char *message);

/* Frees a request that will not be answered (acks=0). */
void req_drop(struct req *r);

#endif
