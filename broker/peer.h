/* peer.h: outbound connections from this node to another node (Raft messages, broker registration, heartbeats). */
#ifndef RUNNEL_BROKER_PEER_H
#define RUNNEL_BROKER_PEER_H

/*
 * A peer is one outbound TCP connection to another node's listener, speaking
 * the ordinary framed protocol (wire/codec.h): this node is the client.  Two
 * kinds of traffic use it:
 *
 *   one-way    peer_send: Raft messages.  The receiver never answers, and a
 *              message that cannot be queued is dropped, because Raft
 *              retransmits what matters on its next heartbeat.
 *   calls      peer_call: BrokerRegistration and BrokerHeartbeat.  The
 *              callback runs exactly once, with the response, or with an
 *              error when the connection fails or the call times out.
 *
 * The connection is made on first use and remade after a failure with
 * exponential backoff (PEER_BACKOFF_MIN_MS doubling up to
 * PEER_BACKOFF_MAX_MS).  Each attempt resolves the host name with the
 * node's evdns resolver (n->dns), which never blocks the loop; IP literals
 * and /etc/hosts names resolve at once.  Frames queue while the name
 * resolves, and PEER_CONNECT_TIMEOUT_MS bounds lookup and connect together.
 * A name with several addresses is tried one address per attempt.  While it is down, one-way messages are dropped and
 * calls fail at once with RN_E_CONNECT, so nothing piles up.  Output waiting
 * for the socket is bounded by PEER_MAX_QUEUED_BYTES (one frame is always
 * accepted into an empty queue, so a large snapshot still goes).
 *
 * Callbacks never run inside peer_send or peer_call.
 */

#include "broker/config.h"
#include "wire/runnel.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

struct node;
struct peer;

/* Reconnect backoff bounds. */
#define PEER_BACKOFF_MIN_MS 100
#define PEER_BACKOFF_MAX_MS 2000
/* Bytes of frames waiting for the socket before new messages are dropped. */
#define PEER_MAX_QUEUED_BYTES (8u * 1024u * 1024u)
/* Calls waiting for a response on one peer (RN_E_FULL beyond). */
#define PEER_MAX_PENDING_CALLS 64u
/* A connection attempt that has not completed in this long fails. */
#define PEER_CONNECT_TIMEOUT_MS 3000

/* Called once per peer_call: err 0 and resp (valid only during the call), or
 * err < 0 and resp NULL (RN_E_CONNECT, RN_E_NETWORK_EXCEPTION,
 * RN_E_REQUEST_TIMED_OUT, RN_E_SHUTTING_DOWN when the peer is freed). */
typedef void (*peer_response_cb)(void *arg, int err, const Runnel__Response *resp);

/*
 * Creates a peer for node_id at addr (copied).  Nothing connects yet.
 * Returns 0 or RN_E_NOMEM.
 */
int peer_new(struct node *n, int32_t node_id, const struct config_addr *addr, struct peer **out);

/* Closes the connection, fails pending calls with RN_E_SHUTTING_DOWN (their
 * callbacks run now) and frees.  NULL is fine. */
void peer_free(struct peer *p);

/* The node id and address given to peer_new. */
int32_t peer_node_id(const struct peer *p);
const struct config_addr *peer_addr(const struct peer *p);

/* True while the TCP connection is established. */
bool peer_connected(const struct peer *p);

/*
 * Queues req (api_key set in its header by the caller) as a one-way frame.
 * req stays owned by the caller.  Returns 0, RN_E_CONNECT (the connection is
 * down and waits for its backoff; a reconnect is scheduled), RN_E_FULL (the
 * output queue is at its bound) or RN_E_NOMEM; in every error case the
 * message is dropped.
 */
int peer_send(struct peer *p, Runnel__Request *req);

/*
 * Sends req and calls cb(arg, ...) with the response, matched by a
 * correlation id this function assigns.  req stays owned by the caller.
 * Returns 0 (cb will run later), RN_E_CONNECT, RN_E_FULL (queue bound or
 * PEER_MAX_PENDING_CALLS) or RN_E_NOMEM (cb will not run).
 */
int peer_call(struct peer *p, Runnel__Request *req, int32_t timeout_ms, peer_response_cb cb,
	      void *arg);

/* Cancels every pending call whose arg is `arg` without calling it (its
 * owner goes away). */
void peer_cancel(struct peer *p, void *arg);

#endif
