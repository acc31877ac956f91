/* h_producer_id.c: InitProducerId: the active controller hands out a producer id and answers once its record is committed. */
#include "broker/conn.h"
#include "broker/ctrl.h"
#include "broker/forward.h"
#include "broker/handlers.h"
#include "broker/listener.h"
#include "broker/node.h"
#include "common/errors.h"
#include "common/log.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>

/* The answer's id and epoch when no id is handed out (Kafka's NO_PRODUCER_ID
 * and NO_PRODUCER_EPOCH). */
#define NO_PRODUCER_ID (-1)
#define NO_PRODUCER_EPOCH (-1)

/* A request waiting for its PRODUCER_IDS record to apply. */
struct pid_wait {
	struct req *r;
	struct ctrl_waiter *cw;
	struct event *timer;
	Runnel__InitProducerIdResponse body;
	int64_t producer_id;
};

static void pid_respond(struct req *r, Runnel__InitProducerIdResponse *body)
{
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.body_case = RUNNEL__RESPONSE__BODY_INIT_PRODUCER_ID;
	resp.init_producer_id = body;
	req_respond(r, &resp);
}

/* Answers with an error and no id. */
static void pid_fail(struct req *r, Runnel__InitProducerIdResponse *body, int err,
		     const char *why)
{
	body->error_code = rn_err_to_wire(err);
	body->error_message = req_strdup(r, why && why[0] ? why : rn_strerror(err));
	body->producer_id = NO_PRODUCER_ID;
	body->producer_epoch = NO_PRODUCER_EPOCH;
	pid_respond(r, body);
}

/* The record applied (err 0), or it never will here (err set). */
static void pid_finish(struct pid_wait *pw, int err)
{
	if (pw->timer)
		event_free(pw->timer);
	pw->timer = NULL;
	struct req *r = pw->r;
	if (err == RN_OK) {
		pw->body.producer_id = pw->producer_id;
		pw->body.producer_epoch = 0;
		pid_respond(r, &pw->body);
		return;
	}
	char *why = req_alloc(r, CTRL_WHY_LEN);
	if (err == RN_E_NOT_CONTROLLER)
		/* Leadership moved before the record committed: the id may
		 * never be committed, so the client asks the new controller. */
		listener_not_controller_why(r->node, r->listener, why);
	else
		snprintf(why, CTRL_WHY_LEN, "producer id %" PRId64 " was not committed: %s",
			 pw->producer_id, rn_strerror(err));
	pid_fail(r, &pw->body, err, why);
}

static void pid_applied_cb(void *arg, int err)
{
	struct pid_wait *pw = arg;
	pw->cw = NULL;
	pid_finish(pw, err);
}

static void pid_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pid_wait *pw = arg;
	(void)fd;
	(void)what;
	if (pw->cw)
		ctrl_wait_cancel(pw->r->node->ctrl, pw->cw);
	pw->cw = NULL;
	pid_finish(pw, RN_E_REQUEST_TIMED_OUT);
}

static void pid_cancel(struct req *r)
{
	struct pid_wait *pw = r->wait;
	if (pw->cw)
		ctrl_wait_cancel(r->node->ctrl, pw->cw);
	pw->cw = NULL;
	if (pw->timer)
		event_free(pw->timer);
	pw->timer = NULL;
	req_drop(r);
}

void handle_init_producer_id(struct req *r)
{
	const Runnel__InitProducerIdRequest *ir = r->msg->init_producer_id;
	struct pid_wait *pw = req_alloc(r, sizeof(*pw));
	pw->r = r;
	runnel__init_producer_id_response__init(&pw->body);
	/* Refused before forwarding: no node would accept it. */
	if (ir->transactional_id[0]) {
		pid_fail(r, &pw->body, RN_E_INVALID_REQUEST,
			 "transactions are not supported: send InitProducerId with an empty "
			 "transactional_id for an idempotent producer");
		return;
	}
	if (forward_controller_request(r, NODE_DEFAULT_ADMIN_TIMEOUT_MS, handle_init_producer_id))
		return;
	struct node *n = r->node;
	char why[CTRL_WHY_LEN] = "";
	uint64_t index = 0;
	/* A producer that had an id (ir->producer_id >= 0) and asks again gets
	 * a new one like any other: without transactions there is no epoch to
	 * bump, and a fresh id starts its sequences afresh on every partition. */
	int rc = RN_E_NOT_CONTROLLER;
	if (!ctrl_is_active(n->ctrl))
		listener_not_controller_why(n, r->listener, why);
	else
		rc = ctrl_init_producer_id(n->ctrl, &pw->producer_id, &index, why);
	if (rc != RN_OK) {
		if (rc != RN_E_NOT_CONTROLLER)
			LOG_WARN("controller", "cannot hand out a producer id: %s",
				 why[0] ? why : rn_strerror(rc));
		pid_fail(r, &pw->body, rc, why);
		return;
	}
	pw->cw = ctrl_wait_applied(n->ctrl, index, pid_applied_cb, pw);
	pw->timer = evtimer_new(n->base, pid_timeout_cb, pw);
	if (!pw->cw || !pw->timer) {
		if (pw->cw)
			ctrl_wait_cancel(n->ctrl, pw->cw);
		pw->cw = NULL;
		pid_finish(pw, RN_E_NOMEM);
		return;
	}
	struct timeval tv = { NODE_DEFAULT_ADMIN_TIMEOUT_MS / 1000,
			      (NODE_DEFAULT_ADMIN_TIMEOUT_MS % 1000) * 1000 };
	evtimer_add(pw->timer, &tv);
	req_park(r, pid_cancel, pw);
}
