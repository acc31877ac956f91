/* coord_append.c: appending the coordinators' records to the offsets partitions and waiting for replication. */
#include "broker/coord_internal.h"

#include "broker/node.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "wire/batch.h"
#include "wire/group_codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The encoded keys and values of one append. */
struct encoded {
	uint8_t **keys;
	size_t *key_lens;
	uint8_t **values; /* NULL: a tombstone */
	size_t *value_lens;
	uint32_t count;
};

static void encoded_free(struct encoded *e)
{
	for (uint32_t i = 0; i < e->count; i++) {
		free(e->keys[i]);
		free(e->values[i]);
	}
	free(e->keys);
	free(e->key_lens);
	free(e->values);
	free(e->value_lens);
}

/* Encodes every record; returns 0, RN_E_INVAL or RN_E_NOMEM. */
static int encode_all(const struct group_out *out, struct encoded *e)
{
	uint32_t n = out->record_count;
	memset(e, 0, sizeof(*e));
	e->keys = calloc(n, sizeof(*e->keys));
	e->key_lens = calloc(n, sizeof(*e->key_lens));
	e->values = calloc(n, sizeof(*e->values));
	e->value_lens = calloc(n, sizeof(*e->value_lens));
	e->count = n;
	if (!e->keys || !e->key_lens || !e->values || !e->value_lens) {
		e->count = 0;
		return RN_E_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		int rc = group_codec_encode_key(&out->records[i], &e->keys[i], &e->key_lens[i]);
		if (rc == RN_OK)
			rc = group_codec_encode_value(&out->records[i], &e->values[i],
						      &e->value_lens[i]);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

/* Builds one batch of the encoded records into a malloc'd buffer.
 * Returns 0, RN_E_MESSAGE_TOO_LARGE or RN_E_NOMEM. */
static int build_batch(const struct encoded *e, int64_t now_ms, uint8_t **buf, size_t *len)
{
	size_t total = BATCH_HEADER_BYTES;
	for (uint32_t i = 0; i < e->count; i++)
		total += batch_record_size(0, (int32_t)i, (int32_t)e->key_lens[i],
					   e->values[i] ? (int32_t)e->value_lens[i] : -1, 0, NULL);
	if (total > RN_MAX_BATCH_BYTES || e->count > RN_MAX_RECORDS_PER_BATCH)
		return RN_E_MESSAGE_TOO_LARGE;
	uint8_t *b = malloc(total);
	if (!b)
		return RN_E_NOMEM;
	struct batch_builder bb;
	batch_builder_init(&bb, b, total);
	for (uint32_t i = 0; i < e->count; i++) {
		int rc = batch_builder_add(&bb, now_ms, e->keys[i], (int32_t)e->key_lens[i],
					   e->values[i], e->values[i] ? (int32_t)e->value_lens[i] : -1,
					   NULL, 0);
		RN_ASSERT(rc == RN_OK); /* sized above */
	}
	*len = batch_builder_finish(&bb, -1, -1, -1);
	*buf = b;
	return RN_OK;
}

/* Where an append stands: 0 replicated (and synced when the flush policy
 * asked), 1 still waiting, or the error it failed with. */
static int ack_status(struct partition *p, const struct replica_ack_wait *ack)
{
	if (!p->leading)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	int st = replica_leader_ack_state(&p->rl, ack->last_offset);
	if (st < 0)
		return st;
	if (st == REPLICA_ACK_WAIT)
		return 1;
	struct replica_ack_wait sync_only = *ack;
	sync_only.acks = REPLICA_ACKS_LEADER;
	return replica_ack_ready(&sync_only, p->high_watermark, partition_synced_end(p)) ? 0 : 1;
}

static void list_unlink(struct coord *c, struct coord_append *a)
{
	if (a->prev)
		a->prev->next = a->next;
	else
		c->waiting = a->next;
	if (a->next)
		a->next->prev = a->prev;
	a->prev = a->next = NULL;
}

/* The append is over: it moves to the done list, reported at the end of
 * the turn (never from inside a partition's wake-up walk, because reporting
 * may append again to the same partition). */
static void finish(struct coord_append *a, int err)
{
	struct coord *c = a->c;
	pwait_unlink(&a->w);
	list_unlink(c, a);
	a->done = true;
	a->err = err;
	if (c->done_tail)
		c->done_tail->next = a;
	else
		c->done_head = a;
	c->done_tail = a;
	coord_schedule_work(c);
}

static void wake_cb(struct pwait *w, int err)
{
	struct coord_append *a = (struct coord_append *)w;
	if (err == RN_OK) {
		int st = ack_status(w->p, &a->ack);
		if (st == 1)
			return;
		err = st;
	}
	/* A failed fsync leaves the partition offline and a stopping node
	 * leads nothing: clients should retry elsewhere, not see an
	 * internal code. */
	if (err == RN_E_IO)
		err = RN_E_COORDINATOR_NOT_AVAILABLE;
	else if (err == RN_E_SHUTTING_DOWN)
		err = RN_E_NOT_LEADER_OR_FOLLOWER;
	finish(a, err);
}

/* Appends the batch to p as its leader; 0 with *ack filled, or the error. */
static int append_to(struct partition *p, const struct group_out *out, int64_t now_ms,
		     struct replica_ack_wait *ack)
{
	if (!p || !p->leading)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	if (p->offline)
		return RN_E_COORDINATOR_NOT_AVAILABLE;
	if (replica_leader_produce_check(&p->rl, REPLICA_ACKS_ALL) != RN_OK)
		return RN_E_NOT_ENOUGH_REPLICAS;
	struct encoded e;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = encode_all(out, &e);
	if (rc == RN_OK)
		rc = build_batch(&e, now_ms, &buf, &len);
	encoded_free(&e);
	struct batch_info info;
	if (rc == RN_OK) {
		RN_ASSERT(batch_validate(buf, len, RN_MAX_RECORDS_PER_BATCH, &info) == RN_OK);
		struct plog_append_result res;
		bool needs_sync = false;
		rc = partition_append(p, buf, len, info.record_count, now_ms, &res, &needs_sync);
		ack->acks = REPLICA_ACKS_ALL;
		ack->last_offset = res.last_offset;
		ack->needs_sync = needs_sync;
	}
	free(buf);
	if (rc == RN_E_IO)
		rc = RN_E_COORDINATOR_NOT_AVAILABLE;
	return rc;
}

void coord_append_records(struct coord *c, struct coord_part *cp, struct group_out *out,
			  void (*done_cb)(void *arg, int err), void *arg)
{
	RN_ASSERT(out->append_id != 0);
	struct coord_append *a = calloc(1, sizeof(*a));
	RN_ASSERT(a != NULL);
	a->c = c;
	a->partition = cp->index;
	a->load_gen = cp->load_gen;
	a->append_id = out->append_id;
	a->done_cb = done_cb;
	a->arg = arg;
	a->deadline_ms = rn_mono_ms() + COORD_APPEND_TIMEOUT_MS;
	a->w.wake_cb = wake_cb;
	/* Linked as waiting first so that finish() can always unlink it. */
	a->next = c->waiting;
	if (c->waiting)
		c->waiting->prev = a;
	c->waiting = a;
	struct partition *p = pmgr_find(c->node->pm, COORD_OFFSETS_TOPIC, cp->index);
	int rc = append_to(p, out, rn_wall_ms(), &a->ack);
	if (rc != RN_OK) {
		LOG_WARN("coord", "%s-%d: appending %u group record(s) failed: %s",
			 COORD_OFFSETS_TOPIC, cp->index, out->record_count, rn_strerror(rc));
		finish(a, rc);
		return;
	}
	int st = ack_status(p, &a->ack);
	if (st != 1) {
		finish(a, st);
		return;
	}
	partition_wait_produce(p, &a->w);
}

void coord_appends_report(struct coord *c)
{
	/* Reporting may append again, which may complete more appends: take
	 * the list as it is now and leave the rest for the next turn. */
	struct coord_append *a = c->done_head;
	c->done_head = c->done_tail = NULL;
	int64_t now = coord_now_ms();
	while (a) {
		struct coord_append *next = a->next;
		struct coord_part *cp = (uint32_t)a->partition < c->part_count
						? &c->parts[a->partition]
						: NULL;
		if (cp && cp->state == COORD_PART_LOADED && cp->load_gen == a->load_gen) {
			struct group_out out;
			group_out_init(&out);
			group_append_done(cp->gc, a->append_id, a->err, now, &out);
			coord_apply(c, cp, &out, NULL, NULL);
		}
		if (a->done_cb)
			a->done_cb(a->arg, a->err);
		free(a);
		a = next;
	}
}

void coord_appends_expire(struct coord *c, int64_t mono_ms)
{
	struct coord_append *next;
	for (struct coord_append *a = c->waiting; a; a = next) {
		next = a->next;
		if (a->deadline_ms <= mono_ms)
			finish(a, RN_E_REQUEST_TIMED_OUT);
	}
}

void coord_appends_drop_all(struct coord *c)
{
	while (c->waiting)
		finish(c->waiting, RN_E_SHUTTING_DOWN);
	struct coord_append *a = c->done_head;
	c->done_head = c->done_tail = NULL;
	while (a) {
		struct coord_append *next = a->next;
		if (a->done_cb)
			a->done_cb(a->arg, RN_E_SHUTTING_DOWN);
		free(a);
		a = next;
	}
}
