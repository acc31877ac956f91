/* producer.c: the producer: sends accumulated batches to partition leaders and reports deliveries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/accum.h"
#include "clients/client.h"
#include "clients/clock_cache.h"
#include "clients/producer_idem.h"
#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"

/* Bytes of batches one Produce request carries at most; more batches for the
 * same leader wait for the next request. */
#define PRODUCER_MAX_REQUEST_BYTES (8u * 1024u * 1024u)
/* Batches one Produce request carries at most. */
#define PRODUCER_MAX_REQUEST_BATCHES 256u
/* Longest single wait inside poll or send, so that due lingers, retries and
 * metadata refreshes are looked at regularly. */
#define PRODUCER_MAX_WAIT_MS 100

struct runnel_producer {
	struct runnel_producer_config cfg;
	struct client client;
	struct accum accum;
	struct producer_idem idem;
	/* The clocks as records are stamped: read again only when the last
	 * reading may be stale (see clock_cache.h). */
	struct clock_cache clock;
	/* The topic of the last send and the metadata version it was looked
	 * up under: an application usually sends to one topic many times,
	 * and while the metadata stays the same the lookup would too. */
	struct accum_topic *last_topic;
	uint64_t last_topic_version;
	/* Completed batches whose callbacks have not run yet, oldest first. */
	struct accum_batch *done_head, *done_tail;
	size_t done_records;
	int need_metadata;
	int64_t next_metadata_ms;
	/* Metadata versions: the one a refresh will produce, the last applied. */
	uint64_t metadata_wanted, metadata_seen;
	/* The monotonic time of the last send_ready turn, and the earliest
	 * time after it at which a batch that was ready then but could not go
	 * (its leader's connection waiting to reconnect) may go, or expires.
	 * Waits end there instead of spinning on a batch that is due but
	 * blocked. */
	int64_t step_ms;
	int64_t blocked_wake_ms;
	int flushing;
	int in_callbacks;
	/* Why records are waiting: the last retriable failure, quoted when
	 * they finally time out. */
	char cause[1152];
};

/* One Produce request in flight: the batches it carries. */
struct produce_inflight {
	struct runnel_producer *p;
	size_t count;
	struct accum_batch *batches[];
};

void runnel_producer_config_init(struct runnel_producer_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	runnel_client_config_init(&cfg->client);
	cfg->acks = RUNNEL_DEFAULT_ACKS;
	cfg->batch_size = RUNNEL_DEFAULT_BATCH_SIZE;
	cfg->linger_ms = RUNNEL_DEFAULT_LINGER_MS;
	cfg->retries = RUNNEL_DEFAULT_RETRIES;
	cfg->retry_backoff_ms = RUNNEL_DEFAULT_RETRY_BACKOFF_MS;
	cfg->delivery_timeout_ms = RUNNEL_DEFAULT_DELIVERY_TIMEOUT_MS;
	cfg->buffer_memory = RUNNEL_DEFAULT_BUFFER_MEMORY;
	cfg->message_max_bytes = RUNNEL_DEFAULT_MESSAGE_MAX_BYTES;
	cfg->compression_type = RUNNEL_COMPRESSION_NONE;
	cfg->compression_level = RUNNEL_COMPRESSION_LEVEL_DEFAULT;
	cfg->enable_idempotence = RUNNEL_IDEMPOTENCE_DEFAULT;
}

/* The public codec numbers are the batch attribute's. */
_Static_assert(RUNNEL_COMPRESSION_NONE == BATCH_COMPRESSION_NONE &&
		       RUNNEL_COMPRESSION_LZ4 == BATCH_COMPRESSION_LZ4 &&
		       RUNNEL_COMPRESSION_ZSTD == BATCH_COMPRESSION_ZSTD &&
		       RUNNEL_COMPRESSION_LEVEL_DEFAULT == BATCH_CODEC_LEVEL_DEFAULT,
	       "codec numbers");

/* client.max_in_flight as client_init will take it (0 means the default). */
static int32_t max_in_flight_of(const struct runnel_producer_config *cfg)
{
	return cfg->client.max_in_flight > 0 ? cfg->client.max_in_flight : RUNNEL_DEFAULT_MAX_IN_FLIGHT;
}

/* Whether the producer is idempotent: as asked, or by default when the
 * settings idempotence needs allow it (Kafka turns it off silently then). */
static int idempotence_on(const struct runnel_producer_config *cfg)
{
	if (cfg->enable_idempotence != RUNNEL_IDEMPOTENCE_DEFAULT)
		return cfg->enable_idempotence == 1;
	return cfg->acks == -1 && cfg->retries > 0 &&
	       max_in_flight_of(cfg) <= RUNNEL_IDEMPOTENCE_MAX_IN_FLIGHT;
}

/* Writes why into msg (when there is one) and returns err. */
static int config_fail(char *msg, size_t msg_len, int err, const char *why)
{
	if (msg && msg_len > 0)
		snprintf(msg, msg_len, "%s", why);
	return err;
}

/* The rules of enable.idempotence=true (Kafka's). */
static int check_idempotence(const struct runnel_producer_config *cfg, char *msg, size_t msg_len)
{
	if (cfg->enable_idempotence != 0 && cfg->enable_idempotence != 1 &&
	    cfg->enable_idempotence != RUNNEL_IDEMPOTENCE_DEFAULT)
		return config_fail(msg, msg_len, RN_E_INVAL, "enable.idempotence must be true or false");
	if (cfg->enable_idempotence != 1)
		return 0;
	if (cfg->acks != -1)
		return config_fail(msg, msg_len, RN_E_INVAL,
				   "enable.idempotence=true requires acks=all (set acks=all, or "
				   "enable.idempotence=false to use acks 0 or 1)");
	if (cfg->retries <= 0)
		return config_fail(msg, msg_len, RN_E_INVAL,
				   "enable.idempotence=true requires retries greater than 0");
	if (max_in_flight_of(cfg) > RUNNEL_IDEMPOTENCE_MAX_IN_FLIGHT)
		return config_fail(msg, msg_len, RN_E_INVAL,
				   "enable.idempotence=true requires "
				   "max.in.flight.requests.per.connection of at most 5");
	return 0;
}

int runnel_producer_config_check(const struct runnel_producer_config *cfg, char *msg,
				 size_t msg_len)
{
	config_fail(msg, msg_len, 0, "");
	if (cfg->acks != 0 && cfg->acks != 1 && cfg->acks != -1)
		return config_fail(msg, msg_len, RN_E_INVALID_REQUIRED_ACKS,
				   "acks must be 0, 1 or all (-1)");
	if (cfg->batch_size <= BATCH_HEADER_BYTES || cfg->batch_size > RUNNEL_MAX_BATCH_SIZE)
		return config_fail(msg, msg_len, RN_E_INVAL, "batch.size out of range");
	if (cfg->message_max_bytes <= BATCH_HEADER_BYTES || cfg->message_max_bytes > RN_MAX_BATCH_BYTES)
		return config_fail(msg, msg_len, RN_E_INVAL, "max.request.size out of range");
	if (cfg->linger_ms < 0 || cfg->retries < 0 || cfg->retry_backoff_ms < 0 ||
	    cfg->delivery_timeout_ms <= 0 || cfg->buffer_memory == 0)
		return config_fail(msg, msg_len, RN_E_INVAL,
				   "linger.ms, retries, retry.backoff.ms, delivery.timeout.ms or "
				   "buffer.memory out of range");
	if (!batch_codec_supported(cfg->compression_type))
		return config_fail(msg, msg_len, RN_E_UNSUPPORTED_COMPRESSION_TYPE,
				   "compression.type must be none, lz4 or zstd");
	/* A level means nothing without a codec, as in Kafka. */
	if (cfg->compression_type != RUNNEL_COMPRESSION_NONE &&
	    !batch_codec_level_valid(cfg->compression_type, cfg->compression_level))
		return config_fail(msg, msg_len, RN_E_INVAL,
				   "compression.level does not suit the codec (lz4 0-12, zstd 1-22)");
	return check_idempotence(cfg, msg, msg_len);
}

int runnel_producer_new(const struct runnel_producer_config *cfg, runnel_producer **out)
{
	struct runnel_producer_config defaults;
	if (!cfg) {
		runnel_producer_config_init(&defaults);
		cfg = &defaults;
	}
	int rc = runnel_producer_config_check(cfg, NULL, 0);
	if (rc != 0)
		return rc;
	struct runnel_producer *p = calloc(1, sizeof(*p));
	if (!p)
		return RN_E_NOMEM;
	p->cfg = *cfg;
	rc = client_init(&p->client, &cfg->client);
	if (rc != 0) {
		free(p);
		return rc;
	}
	p->cfg.client = p->client.cfg;
	clock_cache_init(&p->clock);
	accum_init(&p->accum, cfg->batch_size, cfg->linger_ms, cfg->message_max_bytes,
		   cfg->buffer_memory, cfg->delivery_timeout_ms, (uint32_t)rn_wall_ms());
	accum_set_compression(&p->accum, cfg->compression_type,
			      cfg->compression_type == RUNNEL_COMPRESSION_NONE
				      ? RUNNEL_COMPRESSION_LEVEL_DEFAULT
				      : cfg->compression_level);
	int idem = idempotence_on(cfg);
	producer_idem_init(&p->idem, &p->client, &p->accum, idem, cfg->enable_idempotence == 1,
			   cfg->retry_backoff_ms, p->client.cfg.request_timeout_ms, p->cause,
			   sizeof(p->cause));
	/* Without idempotence a partition keeps one batch in flight, so that
	 * a retry cannot overtake the batch behind it. */
	accum_set_max_inflight(&p->accum, idem ? p->client.cfg.max_in_flight : 1);
	*out = p;
	return 0;
}

void runnel_producer_free(runnel_producer *p)
{
	if (!p)
		return;
	/* Connections go first: closing them fails in-flight requests, whose
	 * callbacks still refer to the accumulator's batches. */
	client_destroy(&p->client);
	struct accum_batch *b = p->done_head;
	while (b) {
		struct accum_batch *next = b->next;
		accum_batch_free(b);
		b = next;
	}
	accum_destroy(&p->accum);
	free(p);
}

const char *runnel_producer_errmsg(const runnel_producer *p)
{
	return p->client.errmsg;
}

int runnel_producer_idempotent(const runnel_producer *p, int64_t *producer_id)
{
	int on = p->idem.state != IDEM_OFF;
	if (producer_id)
		*producer_id = on ? p->accum.producer_id : -1;
	return on;
}

size_t runnel_producer_outstanding(const runnel_producer *p)
{
	return p->accum.records + p->done_records;
}

/* Moves a completed batch to the done list; its callbacks run from poll. */
static void finish_batch(struct runnel_producer *p, struct accum_batch *b, int err, int64_t base)
{
	/* A batch that took sequences and failed leaves a gap the leader
	 * would refuse every later batch for: a new producer id restarts the
	 * sequences (the batches behind it are stamped again). */
	if (err != 0 && b->base_sequence >= 0 && b->producer_id == p->idem.producer_id)
		producer_idem_reset(&p->idem);
	accum_batch_complete(&p->accum, b, err, base);
	if (p->done_tail)
		p->done_tail->next = b;
	else
		p->done_head = b;
	p->done_tail = b;
	p->done_records += (size_t)b->count;
}

/* Retries a batch after a retriable error, or fails it when out of retries
 * or past its delivery deadline. */
static void retry_or_fail(struct runnel_producer *p, struct accum_batch *b, int err, int64_t now)
{
	p->need_metadata = 1;
	b->last_err = err;
	if (!p->cause[0])
		snprintf(p->cause, sizeof(p->cause), "%s", rn_strerror(err));
	if (b->attempts >= p->cfg.retries || now + p->cfg.retry_backoff_ms >= b->deadline_ms) {
		finish_batch(p, b, err, -1);
		return;
	}
	accum_batch_retry(&p->accum, b, now + p->cfg.retry_backoff_ms);
}

static const Runnel__PartitionProduceResponse *find_result(const Runnel__ProduceResponse *pr,
							   const struct accum_batch *b)
{
	for (size_t t = 0; t < pr->n_topics; t++) {
		if (strcmp(pr->topics[t]->name, b->topic) != 0)
			continue;
		for (size_t i = 0; i < pr->topics[t]->n_partitions; i++)
			if (pr->topics[t]->partitions[i]->partition == b->partition)
				return pr->topics[t]->partitions[i];
	}
	return NULL;
}

/*
 * Handles a sequence error of an idempotent batch: returns 1 when the batch
 * is to be retried.  OUT_OF_ORDER_SEQUENCE_NUMBER while an older batch of
 * the partition is still unacknowledged is the gap that older batch's
 * retry fills.  Otherwise the leader and the producer disagree about the
 * sequence (or the epoch): the producer takes a new id, and the batch,
 * which the leader refused and so did not write, goes again under it.
 */
static int sequence_error(struct runnel_producer *p, struct accum_batch *b, int err)
{
	if (b->base_sequence < 0 ||
	    (err != RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER && err != RN_E_INVALID_PRODUCER_EPOCH))
		return 0;
	if (err == RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER && accum_batch_has_earlier(&p->accum, b))
		return 1;
	if (b->producer_id == p->idem.producer_id)
		producer_idem_reset(&p->idem);
	return 1;
}

static void produce_response_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct produce_inflight *fl = opaque;
	struct runnel_producer *p = fl->p;
	int64_t now = rn_mono_ms();
	if (err == 0 && resp->body_case != RUNNEL__RESPONSE__BODY_PRODUCE)
		err = RN_E_MALFORMED_FRAME;
	if (err != 0 && resp)
		client_fail_wire(&p->client, err, resp->error_message, "produce");
	if (err != 0)
		snprintf(p->cause, sizeof(p->cause), "%s: %s", rn_errname(err),
			 resp && resp->error_message[0] ? resp->error_message : rn_strerror(err));
	for (size_t i = 0; i < fl->count; i++) {
		struct accum_batch *b = fl->batches[i];
		int berr = err;
		int64_t base = -1;
		const Runnel__PartitionProduceResponse *r = NULL;
		if (berr == 0) {
			r = find_result(resp->produce, b);
			berr = r ? rn_err_from_wire(r->error_code) : RN_E_UNKNOWN_SERVER_ERROR;
			base = r ? r->base_offset : -1;
			if (berr != 0) {
				client_fail_wire(&p->client, berr, r ? r->error_message : NULL, "produce");
				snprintf(p->cause, sizeof(p->cause), "%s: %s", rn_errname(berr),
					 p->client.errmsg);
			}
		}
		if (berr == RN_E_DUPLICATE_SEQUENCE_NUMBER && b->base_sequence >= 0) {
			/* The leader already has the batch but no longer knows
			 * where: written once, offsets unknown (as in Kafka). */
			berr = 0;
			base = -1;
		}
		if (berr == 0) {
			p->cause[0] = '\0';
			finish_batch(p, b, 0, base);
		} else if (rn_err_retriable(berr)) {
			retry_or_fail(p, b, berr, now);
		} else if (sequence_error(p, b, berr)) {
			retry_or_fail(p, b, berr, now);
		} else {
			finish_batch(p, b, berr, -1);
		}
	}
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	free(fl);
}

/* Orders send candidates by leader, then topic, then partition, so that
 * each leader's batches are contiguous and each topic's within them. */
struct send_candidate {
	int32_t leader;
	/* The batch's place among its partition's candidates: a request
	 * carries one batch per partition, so round n goes in a later request
	 * than round n - 1, on the same connection, in sequence order. */
	uint32_t round;
	struct accum_batch *batch;
};

static int compare_candidates(const void *x, const void *y)
{
	const struct send_candidate *a = x, *b = y;
	if (a->leader != b->leader)
		return a->leader < b->leader ? -1 : 1;
	if (a->round != b->round)
		return a->round < b->round ? -1 : 1;
	int c = strcmp(a->batch->topic, b->batch->topic);
	if (c != 0)
		return c;
	return (a->batch->partition > b->batch->partition) - (a->batch->partition < b->batch->partition);
}

/* How many of bs[0..n) one request takes: at least one, then as many of
 * the same round as fit under the byte and count limits. */
static size_t request_take(struct send_candidate *bs, size_t n)
{
	size_t bytes = bs[0].batch->len, k = 1;
	while (k < n && k < PRODUCER_MAX_REQUEST_BATCHES && bs[k].round == bs[0].round &&
	       bytes + bs[k].batch->len <= PRODUCER_MAX_REQUEST_BYTES)
		bytes += bs[k++].batch->len;
	return k;
}

/* Builds and queues one Produce request for bs[0..n) (all for one leader).
 * Returns 0 or the error of conn_send. */
static int send_request(struct runnel_producer *p, struct conn *cn, struct send_candidate *bs, size_t n)
{
	int rc = RN_E_NOMEM;
	Runnel__PartitionProduceData *pd = calloc(n, sizeof(*pd));
	Runnel__PartitionProduceData **pdp = calloc(n, sizeof(*pdp));
	Runnel__TopicProduceData *td = calloc(n, sizeof(*td));
	Runnel__TopicProduceData **tdp = calloc(n, sizeof(*tdp));
	struct produce_inflight *fl = malloc(sizeof(*fl) + n * sizeof(fl->batches[0]));
	if (!pd || !pdp || !td || !tdp || !fl)
		goto out_free;
	size_t topics = 0;
	for (size_t i = 0; i < n; i++) {
		struct accum_batch *b = bs[i].batch;
		runnel__partition_produce_data__init(&pd[i]);
		pd[i].partition = b->partition;
		pd[i].records.data = b->buf;
		pd[i].records.len = b->len;
		pdp[i] = &pd[i];
		if (topics == 0 || strcmp(td[topics - 1].name, b->topic) != 0) {
			runnel__topic_produce_data__init(&td[topics]);
			td[topics].name = (char *)b->topic;
			td[topics].partitions = &pdp[i];
			tdp[topics] = &td[topics];
			topics++;
		}
		td[topics - 1].n_partitions++;
		fl->batches[i] = b;
	}
	Runnel__ProduceRequest pr = RUNNEL__PRODUCE_REQUEST__INIT;
	pr.acks = p->cfg.acks;
	pr.timeout_ms = p->cfg.client.request_timeout_ms < RN_MAX_PRODUCE_TIMEOUT_MS
				? p->cfg.client.request_timeout_ms
				: RN_MAX_PRODUCE_TIMEOUT_MS;
	pr.n_topics = topics;
	pr.topics = tdp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_PRODUCE;
	req.produce = &pr;
	fl->p = p;
	fl->count = n;
	/* With acks=0 the node never answers, so nothing waits for a response
	 * and the batches are done once they are queued on the socket. */
	int acks0 = p->cfg.acks == 0;
	/* The batches stay untouched until the answer (their buffers are
	 * released only when the batch completes), so they go by reference.
	 * acks=0 batches complete as soon as they are queued: copied. */
	if (acks0)
		rc = client_send(&p->client, cn, &req, RUNNEL__API_KEY__API_PRODUCE, NULL, fl);
	else
		rc = client_send_ref(&p->client, cn, &req, RUNNEL__API_KEY__API_PRODUCE,
				     produce_response_cb, fl);
	if (rc != 0)
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		if (acks0)
			finish_batch(p, bs[i].batch, 0, -1);
		else
			accum_batch_sent(&p->accum, bs[i].batch, bs[i].leader);
	}
	if (!acks0)
		fl = NULL;
out_free:
	free(fl);
	free(tdp);
	free(td);
	free(pdp);
	free(pd);
	return rc;
}

/* Lowers the time the next wait ends at to t. */
static void wake_at(struct runnel_producer *p, int64_t t)
{
	if (t < p->blocked_wake_ms)
		p->blocked_wake_ms = t;
}

/* Notes when the unsent candidates bs[0..n) expire: a wait must end then
 * even if nothing else happens. */
static void note_unsent(struct runnel_producer *p, const struct send_candidate *bs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wake_at(p, bs[i].batch->deadline_ms);
}

/* Sends the candidates of one leader while its connection takes requests.
 * What stays unsent waits for the connection: for its reconnect backoff to
 * pass (a time, noted in blocked_wake_ms) or for an answer or a finished
 * connect (socket events, which end the wait by themselves). */
static void send_to_leader(struct runnel_producer *p, struct send_candidate *bs, size_t n, int64_t now)
{
	struct conn *cn = client_conn(&p->client, bs[0].leader);
	if (!cn) {
		p->need_metadata = 1;
		note_unsent(p, bs, n);
		return;
	}
	if (conn_ensure(cn, now) != 0 || cn->state == CONN_DOWN) {
		snprintf(p->cause, sizeof(p->cause), "%s", cn->errmsg);
		p->need_metadata = 1;
		wake_at(p, cn->retry_at_ms);
		note_unsent(p, bs, n);
		return;
	}
	/* acks=0 batches count as delivered once queued, so they wait until
	 * the connection is really up rather than risk a failed connect. */
	if (p->cfg.acks == 0 && cn->state != CONN_READY) {
		note_unsent(p, bs, n);
		return;
	}
	size_t i = 0;
	while (i < n && conn_can_send(cn)) {
		/* acks=0 requests take no in-flight slot; stop instead when the
		 * socket is this far behind. */
		if (p->cfg.acks == 0 && conn_out_pending(cn) > PRODUCER_MAX_REQUEST_BYTES)
			break;
		size_t k = request_take(bs + i, n - i);
		if (send_request(p, cn, bs + i, k) != 0)
			break;
		i += k;
	}
	note_unsent(p, bs + i, n - i);
}

/* Fails a batch that waited past its delivery timeout.  A batch that was
 * refused before reports that refusal (NOT_ENOUGH_REPLICAS says more than
 * "timed out"); one that never got an answer reports RN_E_TIMEOUT. */
static void expire_batch(struct runnel_producer *p, struct accum_batch *b)
{
	int err = b->last_err ? b->last_err : RN_E_TIMEOUT;
	client_fail(&p->client, err,
		    "records for %s/%d not delivered within delivery.timeout.ms (%d ms)%s%s", b->topic,
		    b->partition, p->cfg.delivery_timeout_ms, p->cause[0] ? "; last error: " : "",
		    p->cause);
	finish_batch(p, b, err, -1);
}

/* Fails the batches of a partition, oldest first, that are not in flight
 * and waited past their delivery timeout. */
static void expire_partition(struct runnel_producer *p, struct accum_partition *ap, int64_t now)
{
	struct accum_batch *b;
	while ((b = ap->head) != NULL && !b->inflight && now >= b->deadline_ms)
		expire_batch(p, b);
}

/* Adds the batches of one partition that can go now to cands. */
static void add_candidates(struct runnel_producer *p, struct accum_topic *at, int32_t part,
			   int64_t now, struct send_candidate *cands, size_t *n)
{
	struct accum_partition *ap = &at->parts[part];
	struct accum_batch *bs[RUNNEL_MAX_IN_FLIGHT_LIMIT];
	size_t k = accum_sendable_list(&p->accum, ap, now, bs, RN_ARRAY_LEN(bs));
	if (k == 0)
		return;
	int32_t leader = client_leader(&p->client, at->name, part);
	if (leader < 0) {
		p->need_metadata = 1;
		wake_at(p, bs[0]->deadline_ms);
		return;
	}
	/* Batches still in flight to the old leader are answered first: one
	 * sent to the new leader now could be written before them. */
	if (ap->inflight > 0 && ap->node != leader)
		return;
	for (size_t i = 0; i < k; i++)
		cands[(*n)++] = (struct send_candidate){.leader = leader, .round = (uint32_t)i,
							.batch = bs[i]};
}

/* Closes lingered batches and sends every batch that can go now. */
static void send_ready(struct runnel_producer *p, int64_t now)
{
	struct accum *a = &p->accum;
	p->step_ms = now;
	p->blocked_wake_ms = INT64_MAX;
	accum_close_ready(a, now, p->flushing);
	size_t cap = 0, n = 0;
	for (size_t t = 0; t < a->topic_count; t++)
		cap += (size_t)a->topics[t]->partition_count * (size_t)a->max_inflight;
	struct send_candidate *cands = malloc((cap ? cap : 1) * sizeof(*cands));
	if (!cands)
		return;
	for (size_t t = 0; t < a->topic_count; t++) {
		struct accum_topic *at = a->topics[t];
		for (int32_t i = 0; i < at->partition_count; i++) {
			expire_partition(p, &at->parts[i], now);
			add_candidates(p, at, i, now, cands, &n);
		}
	}
	qsort(cands, n, sizeof(*cands), compare_candidates);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && cands[j].leader == cands[i].leader)
			j++;
		send_to_leader(p, cands + i, j - i, now);
		i = j;
	}
	free(cands);
}

/* Fails the queued batches of a topic that the cluster no longer knows. */
static void fail_topic(struct runnel_producer *p, struct accum_topic *at, int err)
{
	for (int32_t i = 0; i < at->partition_count; i++) {
		struct accum_batch *b;
		while ((b = at->parts[i].head) != NULL && !b->inflight)
			finish_batch(p, b, err, -1);
	}
}

/* Fails every queued batch that is not in flight with err (the producer
 * cannot send them: no producer id can be had). */
static void fail_waiting(struct runnel_producer *p, int err)
{
	struct accum *a = &p->accum;
	/* Open batches close first, so that their records fail too. */
	accum_close_ready(a, INT64_MAX, 1);
	for (size_t t = 0; t < a->topic_count; t++)
		fail_topic(p, a->topics[t], err);
}

/* Takes in what the producer id's answers decided. */
static void idem_step(struct runnel_producer *p, int64_t now)
{
	struct producer_idem *s = &p->idem;
	if (s->fatal_err) {
		fail_waiting(p, s->fatal_err);
	} else if (s->fail_err) {
		client_fail(&p->client, s->fail_err, "%s", p->cause);
		fail_waiting(p, s->fail_err);
		s->fail_err = 0;
	}
	producer_idem_step(s, now);
}

/* Starts a metadata refresh of every topic the producer has used; the
 * answer arrives through client_poll. */
static void request_metadata(struct runnel_producer *p, int64_t now)
{
	struct accum *a = &p->accum;
	const char **names = malloc((a->topic_count ? a->topic_count : 1) * sizeof(*names));
	if (!names)
		return;
	for (size_t i = 0; i < a->topic_count; i++)
		names[i] = a->topics[i]->name;
	if (client_metadata_refresh_async(&p->client, names, a->topic_count) == 0)
		p->metadata_wanted = p->client.metadata_version + 1;
	free(names);
	p->next_metadata_ms = now + (p->cfg.retry_backoff_ms > 0 ? p->cfg.retry_backoff_ms : 1);
}

/* Takes in new metadata: topics that vanished fail their queued records,
 * topics that grew get more partitions. */
static void apply_metadata(struct runnel_producer *p)
{
	struct accum *a = &p->accum;
	p->metadata_seen = p->client.metadata_version;
	if (p->metadata_seen >= p->metadata_wanted)
		p->need_metadata = 0;
	for (size_t i = 0; i < a->topic_count; i++) {
		const struct client_topic *ct = client_topic_find(&p->client, a->topics[i]->name);
		if (ct && ct->error == RN_E_UNKNOWN_TOPIC_OR_PARTITION) {
			client_fail(&p->client, ct->error, "topic %s no longer exists", ct->name);
			fail_topic(p, a->topics[i], ct->error);
		} else if (ct && ct->partition_count > a->topics[i]->partition_count) {
			accum_topic_get(a, ct->name, ct->partition_count);
		}
	}
}

/* One turn of work that needs no waiting: metadata when due, sending. */
static void producer_step(struct runnel_producer *p)
{
	int64_t now = rn_mono_ms();
	if (p->client.metadata_version != p->metadata_seen)
		apply_metadata(p);
	if (p->need_metadata && now >= p->next_metadata_ms)
		request_metadata(p, now);
	idem_step(p, now);
	send_ready(p, now);
}

/* Calls the callbacks of completed batches.  Returns how many ran. */
static int dispatch_callbacks(struct runnel_producer *p)
{
	int called = 0;
	if (p->in_callbacks)
		return 0;
	p->in_callbacks = 1;
	while (p->done_head) {
		struct accum_batch *b = p->done_head;
		p->done_head = b->next;
		if (!p->done_head)
			p->done_tail = NULL;
		p->done_records -= (size_t)b->count;
		for (int32_t i = 0; i < b->count; i++) {
			int64_t off = b->err == 0 && b->base_offset >= 0 ? b->base_offset + i : -1;
			if (b->meta[i].cb)
				b->meta[i].cb(b->meta[i].opaque, b->err, b->partition, off);
			called++;
		}
		accum_batch_release(&p->accum, b);
	}
	p->in_callbacks = 0;
	return called;
}

/*
 * How long the I/O wait may last: until the deadline, the next linger,
 * retry or metadata refresh, a blocked batch's reconnect or expiry, or
 * PRODUCER_MAX_WAIT_MS, whichever is first.  A batch that is due but
 * cannot go (its leader unreachable) does not count as due: the wait ends
 * when what blocks it can change, and socket events end it earlier.
 */
static int wait_budget(struct runnel_producer *p, int64_t deadline)
{
	int64_t now = rn_mono_ms();
	int64_t until = deadline;
	int64_t due = accum_next_due(&p->accum, p->step_ms);
	if (p->need_metadata && p->next_metadata_ms < due)
		due = p->next_metadata_ms;
	if (p->blocked_wake_ms < due)
		due = p->blocked_wake_ms;
	if (producer_idem_next_due(&p->idem) < due)
		due = producer_idem_next_due(&p->idem);
	if (due < until)
		until = due;
	if (until > now + PRODUCER_MAX_WAIT_MS)
		until = now + PRODUCER_MAX_WAIT_MS;
	return until > now ? (int)(until - now) : 0;
}

/* Drives I/O until a callback ran, deadline passed or a signal interrupted
 * the wait (p->client.interrupted is then left set for the caller).
 * Returns the number of callbacks called. */
static int poll_until(struct runnel_producer *p, int64_t deadline)
{
	int called = 0;
	for (;;) {
		producer_step(p);
		/* Completed batches report at once rather than after a wait. */
		client_poll(&p->client, p->done_head ? 0 : wait_budget(p, deadline));
		producer_step(p);
		called += dispatch_callbacks(p);
		if (called > 0 || rn_mono_ms() >= deadline || p->client.interrupted)
			return called;
	}
}

int runnel_producer_poll(runnel_producer *p, int timeout_ms)
{
	p->client.interrupted = 0;
	int called = poll_until(p, rn_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0));
	p->client.interrupted = 0;
	return called;
}

/* True while some connection still holds request bytes not yet written to
 * its socket (what acks=0 records rely on being sent). */
static int output_pending(const struct runnel_producer *p)
{
	for (size_t i = 0; i < p->client.conn_count; i++) {
		const struct conn *cn = p->client.conns[i];
		if (cn->state == CONN_READY && conn_out_pending(cn) > 0)
			return 1;
	}
	return 0;
}

int runnel_producer_flush(runnel_producer *p, int timeout_ms)
{
	int64_t deadline = rn_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int interrupted = 0;
	p->client.interrupted = 0;
	p->flushing = 1;
	while (runnel_producer_outstanding(p) > 0 || output_pending(p)) {
		int64_t now = rn_mono_ms();
		if (now >= deadline)
			break;
		/* Short turns: poll returns early only for callbacks, and the
		 * loop must also notice drained sockets. */
		poll_until(p, now + (deadline - now < PRODUCER_MAX_WAIT_MS ? deadline - now
									: PRODUCER_MAX_WAIT_MS));
		if (p->client.interrupted) {
			interrupted = 1;
			break;
		}
	}
	p->client.interrupted = 0;
	p->flushing = 0;
	dispatch_callbacks(p);
	size_t left = runnel_producer_outstanding(p);
	if (left > 0 && interrupted)
		return client_fail(&p->client, RN_E_AGAIN,
				   "interrupted by a signal with %zu records still undelivered", left);
	if (left > 0)
		return client_fail(&p->client, RN_E_TIMEOUT, "%zu records still undelivered after %d ms",
				   left, timeout_ms);
	return 0;
}

/* Finds the topic's metadata, asking the cluster when it is not cached or
 * was an error.  Returns 0 with *out set, or an error. */
static int topic_metadata(struct runnel_producer *p, const char *topic, const struct client_topic **out)
{
	const struct client_topic *ct = client_topic_find(&p->client, topic);
	if (!ct || ct->error != 0 || ct->partition_count == 0) {
		int rc = client_metadata_refresh(&p->client, &topic, 1, 0, NULL);
		if (rc != 0)
			return rc;
		ct = client_topic_find(&p->client, topic);
	}
	if (!ct)
		return client_fail(&p->client, RN_E_UNKNOWN_TOPIC_OR_PARTITION, "topic %s: %s", topic,
				   rn_strerror(RN_E_UNKNOWN_TOPIC_OR_PARTITION));
	if (ct->error != 0)
		return client_fail(&p->client, ct->error, "topic %s: %s", topic, rn_strerror(ct->error));
	if (ct->partition_count == 0)
		return client_fail(&p->client, RN_E_LEADER_NOT_AVAILABLE, "topic %s has no partitions yet",
				   topic);
	*out = ct;
	return 0;
}

/* Appends, waiting for buffer memory (driving I/O) when it is used up.
 * now is the monotonic time of the first attempt. */
static int append_waiting(struct runnel_producer *p, struct accum_topic *at, int32_t part,
			  int64_t ts, const void *key, int32_t key_len, const void *value,
			  int32_t value_len, const struct runnel_header *headers, size_t header_count,
			  runnel_delivery_cb cb, void *opaque, int64_t now)
{
	int rc = accum_append(&p->accum, at, part, ts, key, key_len, value, value_len, headers,
			      header_count, cb, opaque, now);
	if (rc != RN_E_FULL)
		return rc;
	/* The slow path: the clock is read afresh on every turn from here,
	 * and only a signal that arrives during this wait counts. */
	int64_t deadline = now + p->cfg.delivery_timeout_ms;
	p->client.interrupted = 0;
	for (;;) {
		if (p->client.interrupted) {
			p->client.interrupted = 0;
			return client_fail(&p->client, RN_E_AGAIN,
					   "interrupted by a signal while waiting for buffer memory; "
					   "the record was not queued");
		}
		/* Full buffers mean batches are waiting: send them now
		 * rather than after their linger.  The step after the wait
		 * takes in answers and expires batches, which frees memory. */
		p->flushing = 1;
		producer_step(p);
		client_poll(&p->client, wait_budget(p, deadline));
		producer_step(p);
		p->flushing = 0;
		clock_cache_invalidate(&p->clock);
		now = rn_mono_ms();
		rc = accum_append(&p->accum, at, part, ts, key, key_len, value, value_len, headers,
				  header_count, cb, opaque, now);
		if (rc != RN_E_FULL)
			return rc;
		if (now >= deadline)
			return client_fail(&p->client, RN_E_FULL,
					   "buffer memory (%zu bytes) still full after %d ms",
					   p->cfg.buffer_memory, p->cfg.delivery_timeout_ms);
	}
}

/* Finds the accumulator's topic for a send, checking the name and asking
 * for metadata as needed.  Returns 0 with *out set, or an error. */
static int send_topic(struct runnel_producer *p, const char *topic, struct accum_topic **out)
{
	if (p->last_topic && p->last_topic_version == p->client.metadata_version &&
	    strcmp(topic, p->last_topic->name) == 0) {
		*out = p->last_topic;
		return 0;
	}
	if (!*topic || strlen(topic) > RN_MAX_TOPIC_NAME_LEN)
		return client_fail(&p->client, RN_E_INVAL, "bad topic name or partition");
	const struct client_topic *ct = NULL;
	p->client.interrupted = 0;
	int rc = topic_metadata(p, topic, &ct);
	if (rc != 0 && p->client.interrupted) {
		p->client.interrupted = 0;
		return client_fail(&p->client, RN_E_AGAIN,
				   "interrupted by a signal while looking up topic %s", topic);
	}
	if (rc != 0)
		return rc;
	struct accum_topic *at = accum_topic_get(&p->accum, topic, ct->partition_count);
	if (!at)
		return client_fail(&p->client, RN_E_NOMEM, "out of memory");
	p->last_topic = at;
	p->last_topic_version = p->client.metadata_version;
	*out = at;
	return 0;
}

int runnel_producer_send(runnel_producer *p, const char *topic, int32_t partition, const void *key,
			 int32_t key_len, const void *value, int32_t value_len,
			 const struct runnel_header *headers, size_t header_count, int64_t timestamp,
			 runnel_delivery_cb cb, void *opaque)
{
	if (!topic || partition < -1)
		return client_fail(&p->client, RN_E_INVAL, "bad topic name or partition");
	if (p->idem.fatal_err)
		return client_fail(&p->client, p->idem.fatal_err,
				   "enable.idempotence=true, but the cluster does not support "
				   "InitProducerId (%s): records cannot be sent idempotently",
				   rn_errname(p->idem.fatal_err));
	if (header_count > RN_MAX_HEADERS_PER_RECORD)
		return client_fail(&p->client, RN_E_INVAL, "more than %u headers",
				   RN_MAX_HEADERS_PER_RECORD);
	struct accum_topic *at = NULL;
	int rc = send_topic(p, topic, &at);
	if (rc != 0)
		return rc;
	int32_t part = partition >= 0 ? partition : accum_choose_partition(at, key, key_len);
	if (part >= at->partition_count)
		return client_fail(&p->client, RN_E_UNKNOWN_TOPIC_OR_PARTITION,
				   "topic %s has no partition %d (it has %d)", topic, part,
				   at->partition_count);
	clock_cache_update(&p->clock);
	int64_t ts = timestamp >= 0 ? timestamp : p->clock.wall_ms;
	rc = append_waiting(p, at, part, ts, key, key_len, value, value_len, headers, header_count, cb,
			    opaque, p->clock.mono_ms);
	if (rc == RN_E_MESSAGE_TOO_LARGE)
		return client_fail(&p->client, rc, "record larger than message_max_bytes (%u bytes)",
				   p->cfg.message_max_bytes);
	if (rc != 0 && rc != RN_E_FULL && rc != RN_E_AGAIN)
		return client_fail(&p->client, rc, "cannot queue the record: %s", rn_strerror(rc));
	return rc;
}
