/* producer_idem.h: the idempotent producer's id: asking for it, falling back without it, replacing it after a fatal sequence error. */
#ifndef RUNNEL_CLIENTS_PRODUCER_IDEM_H
#define RUNNEL_CLIENTS_PRODUCER_IDEM_H

/*
 * An idempotent producer stamps its batches with a producer id that the
 * cluster hands out (InitProducerId, API key 22, answered by any node on
 * behalf of the active controller).  The id is asked for without blocking
 * the caller: batches close unstamped until it arrives, and are stamped
 * then (accum_set_producer).  Retriable errors are retried every
 * retry.backoff.ms; the batches waiting meanwhile expire by their delivery
 * timeout as any other.
 *
 * A cluster that does not know InitProducerId (UNSUPPORTED_API) turns
 * idempotence off when it was on only by default, with a warning in the
 * producer's error text; when the application asked for it
 * (enable.idempotence=true), the records fail instead.
 *
 * After a fatal sequence error the producer asks for a new id (naming the
 * old one), once no batch is in flight: the new id restarts every
 * partition's sequences at 0, and the batches not yet acknowledged are
 * stamped again before they are sent.
 */

#include <stddef.h>
#include <stdint.h>

#include "clients/accum.h"
#include "clients/client.h"

/* An InitProducerId attempt waits this long for its answer at most, so that
 * a node that stopped answering costs one attempt (the node forwards to
 * the active controller, which commits the id in milliseconds). */
#define PRODUCER_IDEM_ATTEMPT_TIMEOUT_MS 5000

enum producer_idem_state {
	IDEM_OFF,        /* not idempotent */
	IDEM_NEED_ID,    /* an id is needed: asked for when batches wait */
	IDEM_REQUESTING, /* InitProducerId is in flight */
	IDEM_READY,      /* the accumulator stamps batches with the id */
};

struct producer_idem {
	struct client *client;
	struct accum *accum;
	enum producer_idem_state state;
	/* enable.idempotence=true was set: no silent fallback. */
	int explicit_on;
	/* A fatal sequence error asked for a new id (state is IDEM_NEED_ID or
	 * IDEM_REQUESTING until it arrives). */
	int reset_pending;
	/* The last id and epoch the cluster gave; -1 before any. */
	int64_t producer_id;
	int16_t producer_epoch;
	/* New ids given since the first (resets). */
	uint64_t resets;
	int32_t backoff_ms;
	int32_t request_timeout_ms;
	int64_t next_attempt_ms;
	/* Set by an answer, taken by the producer: fail the batches waiting
	 * for an id with this error (a final refusal), or fail them and every
	 * later send (fatal_err: idempotence was requested and the cluster
	 * cannot provide it). */
	int fail_err;
	int fatal_err;
	/* Where the reason for waiting records goes (the producer's cause). */
	char *cause;
	size_t cause_len;
};

/* Sets up the state: on says whether the producer is idempotent,
 * explicit_on whether the application asked for it. */
void producer_idem_init(struct producer_idem *s, struct client *c, struct accum *a, int on,
			int explicit_on, int32_t backoff_ms, int32_t request_timeout_ms,
			char *cause, size_t cause_len);

/* Asks for an id when one is needed, batches wait for it, nothing is in
 * flight and the backoff has passed. */
void producer_idem_step(struct producer_idem *s, int64_t now_ms);

/* A fatal sequence error (or a sequenced batch that failed, leaving a gap):
 * stops sending until a new id is set.  Does nothing while one is already
 * being asked for. */
void producer_idem_reset(struct producer_idem *s);

/* When producer_idem_step next has something to do (INT64_MAX: nothing). */
int64_t producer_idem_next_due(const struct producer_idem *s);

#endif
