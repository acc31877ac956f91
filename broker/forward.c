/* forward.c: relaying controller requests to the quorum leader over the peer connection. */
#include "broker/forward.h"

#include "broker/conn.h"
#include "broker/ctrl.h"
#include "broker/node.h"
#include "broker/peer.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"

#include <inttypes.h>
#include <stdio.h>

/* A request parked while the controller answers it. */
struct forward_wait {
	struct req *r;
	struct peer *peer; /* NULL once the call has ended */
	int32_t to;
	void (*local)(struct req *r);
	enum forward_fallback fallback;
};

/* Ends the wait's hold on the bound (once). */
static void release(struct forward_wait *w)
{
	struct node *n = w->r->node;
	RN_ASSERT(n->forwards_in_flight > 0);
	n->forwards_in_flight--;
	w->peer = NULL;
}

static void forward_cancel(struct req *r)
{
	struct forward_wait *w = r->wait;
	if (w->peer)
		peer_cancel(w->peer, w);
	release(w);
	req_drop(r);
}

/* The controller gave no answer: answer here, or say the outcome is unknown. */
static void answer_failure(struct forward_wait *w, int err)
{
	struct req *r = w->r;
	if (w->fallback == FORWARD_ANSWER_LOCALLY || err == RN_E_CONNECT) {
		r->no_forward = true;
		w->local(r);
		return;
	}
	int code = err == RN_E_REQUEST_TIMED_OUT ? RN_E_REQUEST_TIMED_OUT
		   : err == RN_E_SHUTTING_DOWN  ? RN_E_SHUTTING_DOWN
						: RN_E_NETWORK_EXCEPTION;
	char *why = req_alloc(r, CTRL_WHY_LEN);
	snprintf(why, CTRL_WHY_LEN, "node %d forwarded the request to the active controller "
				    "(node %d), which gave no answer (%s); it may or may not have "
				    "taken effect",
		 r->node->cfg.node_id, w->to, rn_strerror(err));
	req_fail(r, code, why);
}

static void forward_answer_cb(void *arg, int err, const Runnel__Response *resp)
{
	struct forward_wait *w = arg;
	release(w);
	if (err != RN_OK) {
		LOG_DEBUG("forward", "peer=%s forwarded request to node %d failed: %s", w->r->peer,
			  w->to, rn_strerror(err));
		answer_failure(w, err);
		return;
	}
	/* The response is the peer's until this callback returns; req_respond
	 * packs it at once, under the client's correlation id. */
	Runnel__Response copy = *resp;
	req_respond(w->r, &copy);
}

bool forward_request(struct req *r, int32_t to, int32_t timeout_ms, void (*local)(struct req *r),
		     enum forward_fallback fallback)
{
	struct node *n = r->node;
	struct peer *p = to >= 0 ? ctrl_peer(n->ctrl, to) : NULL;
	if (!p || r->no_forward || !r->conn)
		return false;
	if (n->forwards_in_flight >= FORWARD_MAX_IN_FLIGHT) {
		if (n->forwards_refused++ % 100 == 0)
			LOG_WARN("forward", "%u requests already wait for the active controller (limit "
					    "%u): answering here (%" PRIu64 " so far)",
				 n->forwards_in_flight, FORWARD_MAX_IN_FLIGHT, n->forwards_refused);
		return false;
	}
	struct forward_wait *w = req_alloc(r, sizeof(*w));
	w->r = r;
	w->to = to;
	w->local = local;
	w->fallback = fallback;
	Runnel__RequestHeader *h = r->msg->header;
	char *own_listener = h->forwarded_listener;
	/* peer_call packs the frame before it returns, so the header may
	 * point at the listener name only for the call. */
	h->forwarded_listener = (char *)r->listener;
	int rc = peer_call(p, r->msg, timeout_ms, forward_answer_cb, w);
	h->forwarded_listener = own_listener;
	if (rc != RN_OK) {
		LOG_DEBUG("forward", "cannot forward to node %d: %s", to, rn_strerror(rc));
		return false;
	}
	w->peer = p;
	n->forwards_in_flight++;
	req_park(r, forward_cancel, w);
	return true;
}

bool forward_controller_request(struct req *r, int32_t requested_timeout_ms,
				void (*local)(struct req *r))
{
	struct node *n = r->node;
	int32_t leader = ctrl_leader_id(n->ctrl);
	if (!(n->cfg.roles & NODE_ROLE_BROKER) || r->no_forward || ctrl_is_active(n->ctrl) ||
	    leader < 0 || leader == n->cfg.node_id)
		return false;
	int32_t timeout_ms = requested_timeout_ms <= 0 ? NODE_DEFAULT_ADMIN_TIMEOUT_MS
			     : requested_timeout_ms > RN_MAX_PRODUCE_TIMEOUT_MS
				     ? RN_MAX_PRODUCE_TIMEOUT_MS
				     : requested_timeout_ms;
	return forward_request(r, leader, timeout_ms + FORWARD_TIMEOUT_SLACK_MS, local,
			       FORWARD_FAIL_UNKNOWN);
}
