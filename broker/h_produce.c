/* h_produce.c: Produce: validate each batch, append it, answer when acks and the flush policy allow. */
#include "broker/conn.h"
#include "broker/coord.h"
#include "broker/handlers.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "broker/replica.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "wire/batch.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>

struct produce_ctx;

/* One appended partition whose answer waits (acks=all or an fsync). */
struct produce_part_wait {
	struct pwait w;
	struct produce_ctx *pc;
	struct replica_ack_wait ack;
	Runnel__PartitionProduceResponse *resp;
};

struct produce_ctx {
	struct req *r;
	Runnel__Response resp;
	uint32_t outstanding; /* partitions still waiting */
	uint32_t wait_count;
	struct produce_part_wait *waits;
	struct event *timer;
};

static void produce_answer(struct produce_ctx *pc)
{
	if (pc->timer)
		event_free(pc->timer);
	pc->timer = NULL;
	req_respond(pc->r, &pc->resp);
}

static void set_error(struct req *r, Runnel__PartitionProduceResponse *pr, int err,
		      const char *why)
{
	pr->error_code = rn_err_to_wire(err);
	pr->error_message = (char *)(why ? req_strdup(r, why) : rn_strerror(err));
	pr->base_offset = -1;
}

/*
 * Where an appended produce stands: 0 when it may be answered, 1 while it
 * waits, or the error to answer with.  acks=all waits for the high
 * watermark to pass its last offset and fails with
 * NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
 * min.insync.replicas meanwhile; an append the flush policy wants durable
 * also waits for its fsync.
 */
static int ack_status(struct partition *p, const struct replica_ack_wait *ack)
{
	if (ack->acks == REPLICA_ACKS_ALL) {
		if (!p->leading)
			return RN_E_NOT_LEADER_OR_FOLLOWER;
		int st = replica_leader_ack_state(&p->rl, ack->last_offset);
		if (st < 0)
			return st;
		if (st == REPLICA_ACK_WAIT)
			return 1;
	}
	struct replica_ack_wait sync_only = *ack;
	sync_only.acks = REPLICA_ACKS_LEADER;
	return replica_ack_ready(&sync_only, p->high_watermark, partition_synced_end(p)) ? 0 : 1;
}

/* A partition's state changed: answer this partition if it may be. */
static void part_wake_cb(struct pwait *w, int err)
{
	struct produce_part_wait *pw = (struct produce_part_wait *)w;
	struct partition *p = w->p;
	int64_t synced = partition_synced_end(p);
	if (err == RN_OK) {
		int st = ack_status(p, &pw->ack);
		if (st == 1)
			return;
		if (st < 0) {
			err = st;
			set_error(pw->pc->r, pw->resp, err, NULL);
		}
	} else if (err == RN_E_IO && pw->ack.needs_sync && synced > pw->ack.last_offset &&
		   ack_status(p, &pw->ack) == 0) {
		/* An fsync failure only matters to appends it left non-durable. */
		err = RN_OK;
	} else {
		set_error(pw->pc->r, pw->resp, err,
			  err == RN_E_IO ? "fsync of the partition log failed; the records "
					   "may not be durable"
					 : NULL);
	}
	pwait_unlink(w);
	struct produce_ctx *pc = pw->pc;
	RN_ASSERT(pc->outstanding > 0);
	if (--pc->outstanding == 0)
		produce_answer(pc);
}

static void produce_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct produce_ctx *pc = arg;
	(void)fd;
	(void)what;
	for (uint32_t i = 0; i < pc->wait_count; i++) {
		struct produce_part_wait *pw = &pc->waits[i];
		if (!pw->w.p)
			continue;
		pwait_unlink(&pw->w);
		set_error(pc->r, pw->resp, RN_E_REQUEST_TIMED_OUT, NULL);
	}
	pc->outstanding = 0;
	produce_answer(pc);
}

static void produce_cancel(struct req *r)
{
	struct produce_ctx *pc = r->wait;
	for (uint32_t i = 0; i < pc->wait_count; i++)
		pwait_unlink(&pc->waits[i].w);
	if (pc->timer)
		event_free(pc->timer);
	pc->timer = NULL;
	req_drop(r);
}

/* Checks one batch against the topic and appends it (or finds it is a
 * retry of one appended before); 0 or the partition's error. */
static int produce_partition(struct req *r, struct partition *p, int32_t acks,
			     ProtobufCBinaryData *records, int64_t now_ms,
			     struct partition_produce_result *res, char *why, size_t why_len)
{
	if (!p->leading)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	if (replica_leader_produce_check(&p->rl, acks) != RN_OK) {
		snprintf(why, why_len, "%u in-sync replica(s), min.insync.replicas is %d: acks=all "
				       "is refused and nothing was appended",
			 p->rl.isr_count, p->rl.min_isr);
		return RN_E_NOT_ENOUGH_REPLICAS;
	}
	if (p->offline) {
		snprintf(why, why_len, "the partition log is offline after an I/O error");
		return RN_E_IO;
	}
	struct batch_info info;
	int rc = batch_validate(records->data, records->len, RN_MAX_RECORDS_PER_BATCH, &info);
	if (rc != RN_OK) {
		snprintf(why, why_len, "record batch of %zu bytes refused: %s", records->len,
			 rn_strerror(rc));
		LOG_WARN("produce", "peer=%s %s-%d: %s", r->peer, p->topic, p->index, why);
		return rc;
	}
	/* Empty batches are what compaction leaves in a log; a producer has
	 * no business claiming offsets without records. */
	if (info.record_count == 0) {
		snprintf(why, why_len, "record batch holds no records");
		return RN_E_INVALID_RECORD;
	}
	if ((int64_t)records->len > p->conf.max_message_bytes) {
		snprintf(why, why_len, "record batch of %zu bytes exceeds max.message.bytes %" PRId64,
			 records->len, p->conf.max_message_bytes);
		return RN_E_MESSAGE_TOO_LARGE;
	}
	if (p->conf.log_append_time)
		batch_stamp_log_append_time(records->data, records->len, now_ms);
	/* The batch is appended from the request's own buffer: no copy. */
	rc = partition_produce(p, records->data, records->len, &info, now_ms, res, why, why_len);
	if (rc == RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER || rc == RN_E_INVALID_PRODUCER_EPOCH ||
	    rc == RN_E_INVALID_RECORD)
		LOG_DEBUG("produce", "peer=%s %s-%d: %s", r->peer, p->topic, p->index, why);
	return rc;
}

/* Appends one partition of the request and fills its response; may add a wait. */
static void produce_one(struct produce_ctx *pc, int32_t acks, const char *topic,
			Runnel__PartitionProduceData *pd, Runnel__PartitionProduceResponse *pr,
			int64_t now_ms)
{
	struct req *r = pc->r;
	char why[256] = "";
	pr->partition = pd->partition;
	pr->log_append_time_ms = -1;
	pr->base_offset = -1;
	if (coord_is_internal_topic(topic)) {
		/* Only the group coordinators write there, through the
		 * coordinator APIs; clients may read it. */
		set_error(r, pr, RN_E_INVALID_TOPIC,
			  COORD_OFFSETS_TOPIC " is internal: commit offsets with OffsetCommit");
		return;
	}
	struct partition *p = pmgr_find(r->node->pm, topic, pd->partition);
	if (!p) {
		set_error(r, pr, RN_E_UNKNOWN_TOPIC_OR_PARTITION, NULL);
		return;
	}
	struct partition_produce_result res;
	int rc = produce_partition(r, p, acks, &pd->records, now_ms, &res, why, sizeof(why));
	if (rc != RN_OK) {
		set_error(r, pr, rc, why[0] ? why : NULL);
		return;
	}
	/* A retry of a batch already appended is answered as the original
	 * was, and waits for the same high watermark and fsync. */
	pr->base_offset = res.append.base_offset;
	pr->log_start_offset = plog_start_offset(p->log);
	if (p->conf.log_append_time)
		pr->log_append_time_ms = now_ms;
	if (acks == REPLICA_ACKS_NONE)
		return;
	struct replica_ack_wait ack = {acks, res.append.last_offset, res.needs_sync};
	int st = ack_status(p, &ack);
	if (st == 0)
		return;
	if (st < 0) {
		set_error(r, pr, st, NULL);
		return;
	}
	struct produce_part_wait *pw = &pc->waits[pc->wait_count++];
	pw->w.wake_cb = part_wake_cb;
	pw->pc = pc;
	pw->ack = ack;
	pw->resp = pr;
	partition_wait_produce(p, &pw->w);
	pc->outstanding++;
}

static size_t count_partitions(const Runnel__ProduceRequest *pr)
{
	size_t total = 0;
	for (size_t t = 0; t < pr->n_topics; t++)
		total += pr->topics[t]->n_partitions;
	return total;
}

static Runnel__ProduceResponse *build_response(struct produce_ctx *pc,
					       const Runnel__ProduceRequest *preq, int err)
{
	struct req *r = pc->r;
	Runnel__ProduceResponse *body = req_alloc(r, sizeof(*body));
	runnel__produce_response__init(body);
	body->n_topics = preq->n_topics;
	body->topics = req_alloc(r, (preq->n_topics + 1) * sizeof(*body->topics));
	int64_t now_ms = rn_wall_ms();
	for (size_t t = 0; t < preq->n_topics; t++) {
		const Runnel__TopicProduceData *td = preq->topics[t];
		Runnel__TopicProduceResponse *tr = req_alloc(r, sizeof(*tr));
		runnel__topic_produce_response__init(tr);
		tr->name = td->name;
		tr->n_partitions = td->n_partitions;
		tr->partitions = req_alloc(r, (td->n_partitions + 1) * sizeof(*tr->partitions));
		for (size_t i = 0; i < td->n_partitions; i++) {
			Runnel__PartitionProduceResponse *ppr = req_alloc(r, sizeof(*ppr));
			runnel__partition_produce_response__init(ppr);
			tr->partitions[i] = ppr;
			if (err != RN_OK) {
				ppr->partition = td->partitions[i]->partition;
				ppr->log_append_time_ms = -1;
				set_error(r, ppr, err, NULL);
				continue;
			}
			produce_one(pc, preq->acks, td->name, td->partitions[i], ppr, now_ms);
		}
		body->topics[t] = tr;
	}
	return body;
}

/* The batches point into the connection's receive buffer (conn.h), which
 * is reused once this handler returns: a produce that waits must not reach
 * them later, so they are forgotten once appended. */
static void forget_batches(const Runnel__ProduceRequest *preq)
{
	for (size_t t = 0; t < preq->n_topics; t++) {
		Runnel__TopicProduceData *td = preq->topics[t];
		for (size_t i = 0; i < td->n_partitions; i++) {
			td->partitions[i]->records.data = NULL;
			td->partitions[i]->records.len = 0;
		}
	}
}

void handle_produce(struct req *r)
{
	const Runnel__ProduceRequest *preq = r->msg->produce;
	size_t parts = count_partitions(preq);
	if (preq->n_topics > RN_MAX_TOPICS_PER_REQUEST || parts > RN_MAX_PARTITIONS_PER_REQUEST ||
	    preq->timeout_ms < 0 || preq->timeout_ms > RN_MAX_PRODUCE_TIMEOUT_MS) {
		if (!r->conn) {
			LOG_WARN("produce", "peer=%s acks=0 request refused: bad counts or timeout",
				 r->peer);
			req_drop(r);
			return;
		}
		req_fail(r, RN_E_INVALID_REQUEST,
			 "too many topics or partitions, or timeout_ms outside 0..300000");
		return;
	}
	struct produce_ctx *pc = req_alloc(r, sizeof(*pc));
	pc->r = r;
	runnel__response__init(&pc->resp);
	pc->waits = req_alloc(r, (parts + 1) * sizeof(*pc->waits));
	int err = replica_acks_valid(preq->acks) ? RN_OK : RN_E_INVALID_REQUIRED_ACKS;
	pc->resp.body_case = RUNNEL__RESPONSE__BODY_PRODUCE;
	pc->resp.produce = build_response(pc, preq, err);
	forget_batches(preq);
	if (!r->conn) {
		/* acks=0: appended (or refused) and never answered. */
		req_drop(r);
		return;
	}
	if (pc->outstanding == 0) {
		produce_answer(pc);
		return;
	}
	pc->timer = evtimer_new(r->node->base, produce_timeout_cb, pc);
	RN_ASSERT(pc->timer != NULL);
	int32_t timeout_ms = preq->timeout_ms > 0 ? preq->timeout_ms : RN_MAX_PRODUCE_TIMEOUT_MS;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(pc->timer, &tv);
	req_park(r, produce_cancel, pc);
}
