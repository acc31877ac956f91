/* producer_idem.c: asking the cluster for the idempotent producer's id, and what to do without one. */
#include "clients/producer_idem.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/rn_assert.h"

void producer_idem_init(struct producer_idem *s, struct client *c, struct accum *a, int on,
			int explicit_on, int32_t backoff_ms, int32_t request_timeout_ms,
			char *cause, size_t cause_len)
{
	memset(s, 0, sizeof(*s));
	s->client = c;
	s->accum = a;
	s->state = on ? IDEM_NEED_ID : IDEM_OFF;
	s->explicit_on = explicit_on;
	s->producer_id = -1;
	s->producer_epoch = -1;
	s->backoff_ms = backoff_ms > 0 ? backoff_ms : 1;
	s->request_timeout_ms = request_timeout_ms < PRODUCER_IDEM_ATTEMPT_TIMEOUT_MS
					? request_timeout_ms
					: PRODUCER_IDEM_ATTEMPT_TIMEOUT_MS;
	s->cause = cause;
	s->cause_len = cause_len;
	accum_set_idempotence(a, on);
}

/* True when an InitProducerId request should go as soon as the backoff
 * allows: an id is needed, records wait for it, and nothing is in flight
 * (a new id stamps the queued batches again, which must not be on the
 * wire). */
static int wants_id(const struct producer_idem *s)
{
	return s->state == IDEM_NEED_ID && !s->fatal_err && s->accum->records > 0 &&
	       s->accum->inflight == 0;
}

/* The cluster gave an id: batches are stamped with it from now on. */
static void take_id(struct producer_idem *s, int64_t id, int16_t epoch)
{
	s->producer_id = id;
	s->producer_epoch = epoch;
	if (s->reset_pending)
		s->resets++;
	s->reset_pending = 0;
	s->state = IDEM_READY;
	accum_set_producer(s->accum, id, epoch);
}

/* The cluster does not know InitProducerId.  Idempotence that was on by
 * default is turned off with a warning in the error text; idempotence the
 * application asked for fails the records instead of being dropped. */
static void unsupported(struct producer_idem *s, int err)
{
	if (s->explicit_on) {
		s->fatal_err = err;
		client_fail(s->client, err,
			    "enable.idempotence=true, but the cluster does not support "
			    "InitProducerId (%s): records cannot be sent idempotently",
			    rn_errname(err));
		return;
	}
	s->state = IDEM_OFF;
	accum_set_idempotence(s->accum, 0);
	accum_set_max_inflight(s->accum, 1);
	client_fail(s->client, err,
		    "WARN: the cluster does not support InitProducerId (%s); the producer "
		    "continues without idempotence (enable.idempotence=false), and a retry "
		    "may write records twice",
		    rn_errname(err));
}

static void init_producer_id_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct producer_idem *s = opaque;
	const Runnel__InitProducerIdResponse *r = NULL;
	const char *msg = resp && resp->error_message[0] ? resp->error_message : NULL;
	RN_ASSERT(s->state == IDEM_REQUESTING);
	s->state = IDEM_NEED_ID;
	if (err == 0 && resp->body_case != RUNNEL__RESPONSE__BODY_INIT_PRODUCER_ID)
		err = RN_E_MALFORMED_FRAME;
	if (err == 0) {
		r = resp->init_producer_id;
		err = rn_err_from_wire(r->error_code);
		if (r->error_message[0])
			msg = r->error_message;
	}
	if (err == 0 && (r->producer_id < 0 || r->producer_epoch < 0 || r->producer_epoch > INT16_MAX)) {
		err = RN_E_UNKNOWN_SERVER_ERROR;
		msg = "the answer carries no valid producer id";
	}
	/* Nothing is sendable while the id is asked for, so nothing can have
	 * gone out meanwhile; if something did, ask again once it is back. */
	if (err == 0 && s->accum->inflight == 0) {
		take_id(s, r->producer_id, (int16_t)r->producer_epoch);
		goto out;
	}
	if (err == RN_E_UNSUPPORTED_API || err == RN_E_UNSUPPORTED_VERSION) {
		unsupported(s, err);
		goto out;
	}
	if (err != 0) {
		snprintf(s->cause, s->cause_len, "InitProducerId: %s: %s", rn_errname(err),
			 msg ? msg : rn_strerror(err));
		if (!rn_err_retriable(err))
			s->fail_err = err;
	}
	s->next_attempt_ms = rn_mono_ms() + (err != 0 ? s->backoff_ms : 0);
out:
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
}

void producer_idem_step(struct producer_idem *s, int64_t now_ms)
{
	if (!wants_id(s) || now_ms < s->next_attempt_ms)
		return;
	Runnel__InitProducerIdRequest ir = RUNNEL__INIT_PRODUCER_ID_REQUEST__INIT;
	/* After a fatal sequence error the old id is named, so the cluster
	 * knows it is being replaced. */
	ir.producer_id = s->reset_pending ? s->producer_id : -1;
	ir.producer_epoch = s->reset_pending ? s->producer_epoch : -1;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_INIT_PRODUCER_ID;
	req.init_producer_id = &ir;
	s->state = IDEM_REQUESTING;
	if (client_send_any_async(s->client, &req, RUNNEL__API_KEY__API_INIT_PRODUCER_ID,
				  s->request_timeout_ms, init_producer_id_cb, s) == 0)
		return;
	s->state = IDEM_NEED_ID;
	s->next_attempt_ms = now_ms + s->backoff_ms;
	snprintf(s->cause, s->cause_len, "InitProducerId: no node can take a request: %s",
		 s->client->errmsg[0] ? s->client->errmsg : "none reachable");
}

void producer_idem_reset(struct producer_idem *s)
{
	if (s->state == IDEM_OFF || s->reset_pending)
		return;
	s->reset_pending = 1;
	if (s->state == IDEM_READY)
		s->state = IDEM_NEED_ID;
	s->next_attempt_ms = 0;
	accum_set_producer(s->accum, -1, -1);
}

int64_t producer_idem_next_due(const struct producer_idem *s)
{
	return wants_id(s) ? s->next_attempt_ms : INT64_MAX;
}
