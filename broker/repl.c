/* repl.c: the leader's ISR proposals (AlterPartition to the active controller) and high-watermark checkpoints. */
#include "broker/repl.h"

#include "broker/ctrl.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "broker/peer.h"
#include "broker/replica.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "controller/controller.h"
#include "controller/replication.h"
#include "storage/kv.h"
#include "wire/batch.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* One partition's proposal in an AlterPartition call (holds a reference). */
struct proposal {
	struct partition *p;
	int32_t leader_epoch;
	int32_t partition_epoch;
	int32_t isr[REPLICA_MAX_REPLICAS];
	uint32_t isr_count;
};

/* An AlterPartition call in flight. */
struct alter_call {
	struct repl *r;
	struct peer *peer;
	uint32_t count;
	struct proposal *props;
	struct alter_call *prev;
	struct alter_call *next;
};

struct repl {
	struct node *node;
	struct event *isr_ev;
	struct event *ckpt_ev;
	struct alter_call *calls;
};

/* ------------------------------------------------------------ checkpoints */

void repl_checkpoint_key(const uint8_t topic_id[META_TOPIC_ID_LEN], int32_t partition,
			 uint8_t key[REPL_CHECKPOINT_KEY_LEN])
{
	memcpy(key, topic_id, META_TOPIC_ID_LEN);
	be_put32(key + META_TOPIC_ID_LEN, (uint32_t)partition);
}

int repl_checkpoint_read(struct kv *kv, const uint8_t topic_id[META_TOPIC_ID_LEN],
			 int32_t partition, int64_t *hw)
{
	if (!kv)
		return RN_E_NOT_FOUND;
	uint8_t key[REPL_CHECKPOINT_KEY_LEN];
	repl_checkpoint_key(topic_id, partition, key);
	void *val = NULL;
	size_t len = 0;
	int rc = kv_get(kv, KV_TABLE_CHECKPOINT, key, sizeof(key), &val, &len);
	if (rc != RN_OK)
		return rc;
	if (len != sizeof(uint64_t)) {
		free(val);
		return RN_E_CORRUPT_STATE;
	}
	int64_t v = (int64_t)be_get64(val);
	free(val);
	if (v < 0)
		return RN_E_CORRUPT_STATE;
	*hw = v;
	return RN_OK;
}

void repl_checkpoint_forget(struct kv *kv, const uint8_t topic_id[META_TOPIC_ID_LEN],
			    int32_t partition)
{
	if (!kv)
		return;
	uint8_t key[REPL_CHECKPOINT_KEY_LEN];
	repl_checkpoint_key(topic_id, partition, key);
	int rc = kv_del(kv, KV_TABLE_CHECKPOINT, key, sizeof(key));
	if (rc != RN_OK && rc != RN_E_NOT_FOUND)
		LOG_WARN("replication", "cannot remove a high-watermark checkpoint: %s",
			 rn_strerror(rc));
}

struct ckpt_pass {
	struct kv_txn *txn;
	int rc;
	uint32_t written;
	bool commit_done; /* second pass: mark what was written */
};

static void ckpt_cb(struct partition *p, void *arg)
{
	struct ckpt_pass *cp = arg;
	if (p->high_watermark == p->hw_checkpointed || cp->rc != RN_OK)
		return;
	if (cp->commit_done) {
		p->hw_checkpointed = p->high_watermark;
		return;
	}
	uint8_t key[REPL_CHECKPOINT_KEY_LEN];
	uint8_t val[sizeof(uint64_t)];
	repl_checkpoint_key(p->topic_id, p->index, key);
	be_put64(val, (uint64_t)p->high_watermark);
	cp->rc = kv_txn_put(cp->txn, KV_TABLE_CHECKPOINT, key, sizeof(key), val, sizeof(val));
	cp->written++;
}

int repl_checkpoint_all(struct node *n)
{
	struct ckpt_pass cp = {0};
	int rc = kv_txn_begin(n->kv, &cp.txn);
	if (rc != RN_OK)
		goto fail;
	pmgr_foreach(n->pm, ckpt_cb, &cp);
	if (cp.rc != RN_OK) {
		kv_txn_abort(cp.txn);
		rc = cp.rc;
		goto fail;
	}
	if (cp.written == 0) {
		kv_txn_abort(cp.txn);
		return RN_OK;
	}
	rc = kv_txn_commit(cp.txn);
	if (rc != RN_OK)
		goto fail;
	cp.commit_done = true;
	pmgr_foreach(n->pm, ckpt_cb, &cp);
	return RN_OK;

fail:
	LOG_WARN("replication", "cannot write the high-watermark checkpoints: %s", rn_strerror(rc));
	return rc;
}

static void ckpt_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct repl *r = arg;
	(void)fd;
	(void)what;
	if (r->node->stopping)
		return;
	if (repl_checkpoint_all(r->node) == RN_OK)
		node_sync_kv_quietly(r->node);
}

/* ------------------------------------------------------------- proposals */

/* What the controller answered for one proposal. */
static void take_result(struct proposal *pr, int err, const int32_t *isr, uint32_t count,
			int32_t partition_epoch)
{
	struct partition *p = pr->p;
	if (!p->log || !p->leading || p->rl.leader_epoch != pr->leader_epoch)
		return;
	if (err == RN_OK) {
		int rc = partition_isr_committed(p, isr, count, partition_epoch);
		if (rc != RN_OK)
			LOG_WARN("replication", "%s-%d: the committed ISR does not fit: %s", p->topic,
				 p->index, rn_strerror(rc));
	} else if (err == RN_E_INVALID_UPDATE_VERSION) {
		/* The proposal started from an old partition epoch: take the
		 * ISR the image shows (newer ones arrive as it is applied). */
		LOG_INFO("replication", "%s-%d: ISR change refused (stale partition epoch %d); "
					"using the metadata's",
			 p->topic, p->index, pr->partition_epoch);
		partition_isr_committed(p, p->isr, p->isr_count, p->partition_epoch);
	} else {
		LOG_INFO("replication", "%s-%d: ISR change refused: %s", p->topic, p->index,
			 rn_strerror(err));
	}
	if (err != RN_OK)
		p->isr_retry_ms = rn_mono_ms() + NODE_ISR_RETRY_BACKOFF_MS;
	/* Whatever was decided, nothing is pending for this proposal now. */
	if (p->rl.pending && p->rl.leader_epoch == pr->leader_epoch)
		replica_leader_isr_abort(&p->rl);
}

static void call_free(struct alter_call *c)
{
	struct repl *r = c->r;
	if (c->prev)
		c->prev->next = c->next;
	else
		r->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	for (uint32_t i = 0; i < c->count; i++)
		partition_unref(c->props[i].p);
	free(c->props);
	free(c);
}

static struct proposal *find_proposal(struct alter_call *c, const ProtobufCBinaryData *topic_id,
				      int32_t partition)
{
	if (topic_id->len != META_TOPIC_ID_LEN)
		return NULL;
	for (uint32_t i = 0; i < c->count; i++)
		if (c->props[i].p->index == partition &&
		    memcmp(c->props[i].p->topic_id, topic_id->data, META_TOPIC_ID_LEN) == 0)
			return &c->props[i];
	return NULL;
}

static void alter_cb(void *arg, int err, const Runnel__Response *resp)
{
	struct alter_call *c = arg;
	const Runnel__AlterPartitionResponse *ar =
		err == RN_OK && resp->body_case == RUNNEL__RESPONSE__BODY_ALTER_PARTITION
			? resp->alter_partition
			: NULL;
	if (err == RN_OK && !ar)
		err = resp->error_code ? rn_err_from_wire(resp->error_code) : RN_E_UNKNOWN_SERVER_ERROR;
	if (ar && ar->error_code)
		err = rn_err_from_wire(ar->error_code);
	for (size_t t = 0; err == RN_OK && t < ar->n_topics; t++) {
		const Runnel__AlterPartitionTopicResult *tr = ar->topics[t];
		for (size_t i = 0; i < tr->n_partitions; i++) {
			const Runnel__AlterPartitionPartitionResult *pr = tr->partitions[i];
			struct proposal *prop = find_proposal(c, &tr->topic_id, pr->partition);
			if (!prop || pr->n_isr > REPLICA_MAX_REPLICAS)
				continue;
			take_result(prop, pr->error_code ? rn_err_from_wire(pr->error_code) : RN_OK,
				    pr->isr, (uint32_t)pr->n_isr, pr->partition_epoch);
			prop->leader_epoch = -1; /* answered */
		}
	}
	/* Proposals without an answer (a failed call) are forgotten so that a
	 * later check proposes again. */
	for (uint32_t i = 0; i < c->count; i++)
		if (c->props[i].leader_epoch >= 0)
			take_result(&c->props[i], err == RN_OK ? RN_E_UNKNOWN_SERVER_ERROR : err, NULL,
				    0, 0);
	call_free(c);
}

/* Sends the proposals to the active controller on another node. */
static int send_remote(struct repl *r, struct alter_call *c, int32_t controller)
{
	struct node *n = r->node;
	struct peer *peer = ctrl_peer(n->ctrl, controller);
	if (!peer)
		return RN_E_CONNECT;
	Runnel__AlterPartitionTopic *topics = calloc(c->count, sizeof(*topics));
	Runnel__AlterPartitionTopic **tptrs = calloc(c->count, sizeof(*tptrs));
	Runnel__AlterPartitionPartition *parts = calloc(c->count, sizeof(*parts));
	Runnel__AlterPartitionPartition **pptrs = calloc(c->count, sizeof(*pptrs));
	int rc = RN_E_NOMEM;
	if (!topics || !tptrs || !parts || !pptrs)
		goto free_arrays;
	Runnel__AlterPartitionRequest body = RUNNEL__ALTER_PARTITION_REQUEST__INIT;
	body.broker_id = n->cfg.node_id;
	body.broker_epoch = n->broker_epoch;
	body.n_topics = c->count;
	body.topics = tptrs;
	for (uint32_t i = 0; i < c->count; i++) {
		struct proposal *pr = &c->props[i];
		runnel__alter_partition_partition__init(&parts[i]);
		parts[i].partition = pr->p->index;
		parts[i].leader_epoch = pr->leader_epoch;
		parts[i].partition_epoch = pr->partition_epoch;
		parts[i].n_new_isr = pr->isr_count;
		parts[i].new_isr = pr->isr;
		pptrs[i] = &parts[i];
		runnel__alter_partition_topic__init(&topics[i]);
		topics[i].topic_id.data = pr->p->topic_id;
		topics[i].topic_id.len = META_TOPIC_ID_LEN;
		topics[i].n_partitions = 1;
		topics[i].partitions = &pptrs[i];
		tptrs[i] = &topics[i];
	}
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	hdr.api_key = RUNNEL__API_KEY__API_ALTER_PARTITION;
	hdr.client_id = "runneld";
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.header = &hdr;
	req.body_case = RUNNEL__REQUEST__BODY_ALTER_PARTITION;
	req.alter_partition = &body;
	rc = peer_call(peer, &req, NODE_ALTER_PARTITION_TIMEOUT_MS, alter_cb, c);
	if (rc == RN_OK)
		c->peer = peer;
free_arrays:
	free(topics);
	free(tptrs);
	free(parts);
	free(pptrs);
	return rc;
}

/* This node is the active controller: plan and propose directly.  The
 * leader learns the outcome when the record is applied (or, if it never
 * is, its proposal times out). */
static void send_local(struct repl *r, struct alter_call *c)
{
	struct node *n = r->node;
	for (uint32_t i = 0; i < c->count; i++) {
		struct proposal *pr = &c->props[i];
		int err = ctrl_alter_partition(n->ctrl, n->cfg.node_id, n->broker_epoch,
					       pr->p->topic_id, pr->p->index, pr->leader_epoch,
					       pr->partition_epoch, pr->isr, pr->isr_count, NULL, NULL);
		if (err != RN_OK)
			take_result(pr, err, NULL, 0, 0);
	}
	call_free(c);
}

struct collect {
	struct alter_call *c;
	int64_t now_ms;
	int64_t lag_max_ms;
};

static void collect_cb(struct partition *p, void *arg)
{
	struct collect *col = arg;
	if (!p->leading)
		return;
	/* A proposal nobody answered (the record never committed, the call
	 * was lost) is forgotten after a while, so the leader can try again. */
	if (p->rl.pending && col->now_ms - p->rl.pending_since_ms > NODE_ALTER_PARTITION_TIMEOUT_MS)
		replica_leader_isr_abort(&p->rl);
	struct alter_call *c = col->c;
	if (c->count >= NODE_MAX_ALTER_PARTITIONS || col->now_ms < p->isr_retry_ms)
		return;
	struct proposal *pr = &c->props[c->count];
	if (!replica_leader_isr_proposal(&p->rl, col->now_ms, col->lag_max_ms, pr->isr,
					 &pr->isr_count))
		return;
	pr->p = p;
	pr->leader_epoch = p->rl.leader_epoch;
	pr->partition_epoch = p->rl.partition_epoch;
	partition_ref(p);
	c->count++;
	LOG_INFO("replication", "%s-%d: proposing an ISR of %u member(s) (now %u), partition "
				"epoch %d",
		 p->topic, p->index, pr->isr_count, p->rl.isr_count, pr->partition_epoch);
}

static void isr_check(struct repl *r)
{
	struct node *n = r->node;
	if (n->stopping || !n->ctrl || !ctrl_replayed(n->ctrl))
		return;
	struct alter_call *c = calloc(1, sizeof(*c));
	struct proposal *props = calloc(NODE_MAX_ALTER_PARTITIONS, sizeof(*props));
	if (!c || !props) {
		free(c);
		free(props);
		return;
	}
	c->r = r;
	c->props = props;
	c->next = r->calls;
	if (r->calls)
		r->calls->prev = c;
	r->calls = c;
	struct collect col = {c, rn_mono_ms(), n->cfg.replica_lag_time_max_ms};
	pmgr_foreach(n->pm, collect_cb, &col);
	int32_t controller = ctrl_leader_id(n->ctrl);
	if (c->count == 0) {
		call_free(c);
		return;
	}
	if (controller == n->cfg.node_id) {
		send_local(r, c);
		return;
	}
	int rc = controller < 0 ? RN_E_NOT_CONTROLLER : send_remote(r, c, controller);
	if (rc != RN_OK) {
		for (uint32_t i = 0; i < c->count; i++)
			take_result(&c->props[i], rc, NULL, 0, 0);
		call_free(c);
	}
}

static void isr_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	isr_check(arg);
}

/* -------------------------------------------------------------- lifetime */

int repl_new(struct node *n, struct repl **out)
{
	struct repl *r = calloc(1, sizeof(*r));
	if (!r)
		return RN_E_NOMEM;
	r->node = n;
	r->isr_ev = event_new(n->base, -1, EV_PERSIST, isr_timer_cb, r);
	r->ckpt_ev = event_new(n->base, -1, EV_PERSIST, ckpt_timer_cb, r);
	if (!r->isr_ev || !r->ckpt_ev) {
		repl_free(r);
		return RN_E_NOMEM;
	}
	struct timeval isr_tv = {NODE_ISR_CHECK_MS / 1000, (NODE_ISR_CHECK_MS % 1000) * 1000};
	int64_t ck = n->cfg.replica_high_watermark_checkpoint_interval_ms;
	struct timeval ck_tv = {(time_t)(ck / 1000), (suseconds_t)((ck % 1000) * 1000)};
	event_add(r->isr_ev, &isr_tv);
	event_add(r->ckpt_ev, &ck_tv);
	*out = r;
	return RN_OK;
}

void repl_free(struct repl *r)
{
	if (!r)
		return;
	while (r->calls) {
		struct alter_call *c = r->calls;
		if (c->peer && r->node->ctrl)
			peer_cancel(c->peer, c);
		call_free(c);
	}
	if (r->isr_ev)
		event_free(r->isr_ev);
	if (r->ckpt_ev)
		event_free(r->ckpt_ev);
	free(r);
}
