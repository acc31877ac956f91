/* coord.c: the group coordinator shell: offsets partitions, loading, ticks and parked requests. */
#include "broker/coord.h"

#include "broker/conn.h"
#include "broker/coord_internal.h"
#include "broker/ctrl.h"
#include "broker/node.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/murmur2.h"
#include "common/rn_assert.h"
#include "wire/batch.h"
#include "wire/group_codec.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int64_t coord_now_ms(void)
{
	return rn_wall_ms();
}

bool coord_is_internal_topic(const char *name)
{
	return name && strcmp(name, COORD_OFFSETS_TOPIC) == 0;
}

bool coord_group_id_valid(const char *group_id)
{
	size_t len = group_id ? strlen(group_id) : 0;
	return len > 0 && len <= GROUP_MAX_ID_LEN;
}

struct group_coordinator *coord_part_gc(struct coord_part *cp)
{
	return cp->gc;
}

/* ------------------------------------------------------------------ waits */

struct coord_wait *coord_wait_new(struct coord *c, struct req *r, enum coord_wait_kind kind,
				  void *ctx)
{
	struct coord_wait *w = calloc(1, sizeof(*w));
	RN_ASSERT(w != NULL);
	w->c = c;
	w->r = r;
	w->kind = kind;
	w->ctx = ctx;
	w->next = c->waits;
	if (c->waits)
		c->waits->prev = w;
	c->waits = w;
	return w;
}

void coord_wait_free(struct coord_wait *w)
{
	struct coord *c = w->c;
	if (w->prev)
		w->prev->next = w->next;
	else
		c->waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	free(w);
}

/* The client went away: the wait stays for the reply the coordinator owes
 * (or the appends still running) and then goes. */
static void wait_cancel(struct req *r)
{
	struct coord_wait *w = r->wait;
	w->r = NULL;
	req_drop(r);
}

void coord_wait_park(struct coord_wait *w)
{
	req_park(w->r, wait_cancel, w);
}

/* Sends every reply of out to its handle. */
static void send_replies(struct group_out *out)
{
	for (uint32_t i = 0; i < out->join_count; i++)
		coord_reply_join(out->joins[i].handle, &out->joins[i]);
	for (uint32_t i = 0; i < out->sync_count; i++)
		coord_reply_sync(out->syncs[i].handle, &out->syncs[i]);
	for (uint32_t i = 0; i < out->commit_count; i++)
		coord_reply_commit(out->commits[i].handle, &out->commits[i]);
}

void coord_apply(struct coord *c, struct coord_part *cp, struct group_out *out,
		 void (*done_cb)(void *arg, int err), void *arg)
{
	/* Records first: a reply sent now never depends on them (replies that
	 * do wait for group_append_done), but the append must be in the log
	 * before any later request of the same group appends behind it. */
	if (out->record_count > 0)
		coord_append_records(c, cp, out, done_cb, arg);
	else if (done_cb)
		done_cb(arg, RN_OK);
	send_replies(out);
	group_out_clear(out);
}

/* ------------------------------------------------------- offsets partitions */

/* Unloads cp: parked requests learn NOT_COORDINATOR. */
static void part_unload(struct coord *c, struct coord_part *cp, const char *why)
{
	if (cp->state == COORD_PART_UNLOADED)
		return;
	struct group_out out;
	group_out_init(&out);
	group_unload(cp->gc, &out);
	/* An unloaded coordinator asks for no appends. */
	RN_ASSERT(out.record_count == 0);
	coord_apply(c, cp, &out, NULL, NULL);
	group_coordinator_destroy(cp->gc);
	cp->gc = NULL;
	cp->state = COORD_PART_UNLOADED;
	LOG_INFO("coord", "%s-%d: unloaded its groups (%s)", COORD_OFFSETS_TOPIC, cp->index, why);
}

static void part_start_load(struct coord *c, struct coord_part *cp, struct partition *p)
{
	RN_ASSERT(cp->state == COORD_PART_UNLOADED);
	int rc = group_coordinator_create(&c->gcfg, &cp->gc);
	RN_ASSERT(rc == RN_OK); /* the settings were checked by config_finish */
	cp->state = COORD_PART_LOADING;
	cp->leader_epoch = p->leader_epoch;
	cp->load_gen++;
	cp->load_next = plog_start_offset(p->log);
	cp->load_end = plog_end_offset(p->log);
	cp->load_started_ms = rn_mono_ms();
	cp->loaded_records = 0;
	cp->skipped_records = 0;
	LOG_INFO("coord", "%s-%d: leader in epoch %d; loading offsets %" PRId64 "..%" PRId64,
		 COORD_OFFSETS_TOPIC, cp->index, cp->leader_epoch, cp->load_next, cp->load_end);
	coord_schedule_work(c);
}

static void part_finish_load(struct coord_part *cp)
{
	group_load_complete(cp->gc, coord_now_ms());
	cp->state = COORD_PART_LOADED;
	LOG_INFO("coord", "%s-%d: loaded %" PRIu64 " record(s) in %" PRId64 " ms%s",
		 COORD_OFFSETS_TOPIC, cp->index, cp->loaded_records,
		 rn_mono_ms() - cp->load_started_ms,
		 cp->skipped_records ? " (some records could not be read; see above)" : "");
}

/* Hands one record of the log to the coordinator. */
static void load_record(struct coord_part *cp, const struct record_view *rec)
{
	struct group_record gr;
	int rc = RN_E_CORRUPT_MESSAGE;
	if (rec->key)
		rc = group_codec_decode(rec->key, (size_t)rec->key_len, rec->value,
					rec->value_len < 0 ? 0 : (size_t)rec->value_len, &gr);
	if (rc == RN_OK) {
		rc = group_load_record(cp->gc, &gr);
		group_record_clear(&gr);
	}
	if (rc == RN_OK) {
		cp->loaded_records++;
		return;
	}
	cp->skipped_records++;
	LOG_WARN("coord", "%s-%d: skipping the record at offset %" PRId64 ": %s",
		 COORD_OFFSETS_TOPIC, cp->index, rec->offset, rn_strerror(rc));
}

/* Replays the batches in buf[0..len); returns the offset after the last. */
static int64_t load_batches(struct coord_part *cp, const uint8_t *buf, size_t len, int64_t next)
{
	size_t pos = 0;
	while (pos < len) {
		struct batch_info info;
		struct batch_iter it;
		struct record_view rec;
		if (batch_peek(buf + pos, len - pos, &info) != RN_OK ||
		    batch_validate(buf + pos, info.total_bytes, RN_MAX_RECORDS_PER_BATCH, &info) !=
			    RN_OK ||
		    batch_iter_init(&it, buf + pos, info.total_bytes) != RN_OK) {
			LOG_ERROR("coord", "%s-%d: unreadable batch at offset %" PRId64
					   "; loading stops there",
				  COORD_OFFSETS_TOPIC, cp->index, next);
			return cp->load_end;
		}
		while (batch_iter_next(&it, &rec) == 1)
			if (rec.offset >= cp->load_next)
				load_record(cp, &rec);
		next = info.base_offset + info.last_offset_delta + 1;
		pos += info.total_bytes;
	}
	return next;
}

/* One step of loading: at most COORD_LOAD_CHUNK_BYTES of the log.  Returns
 * true when more remains. */
static bool part_load_step(struct coord *c, struct coord_part *cp)
{
	struct partition *p = pmgr_find(c->node->pm, COORD_OFFSETS_TOPIC, cp->index);
	if (!p || cp->load_next >= cp->load_end) {
		part_finish_load(cp);
		return false;
	}
	struct plog_slice s;
	uint8_t *buf = NULL;
	int rc = plog_read(p->log, cp->load_next, COORD_LOAD_CHUNK_BYTES, cp->load_end, &s);
	if (rc == RN_OK && s.len > 0) {
		buf = malloc(s.len);
		rc = buf ? plog_slice_copy(&s, buf) : RN_E_NOMEM;
	}
	if (rc != RN_OK || s.len == 0) {
		if (rc != RN_OK)
			LOG_ERROR("coord", "%s-%d: cannot read offset %" PRId64 ": %s; loading stops there",
				  COORD_OFFSETS_TOPIC, cp->index, cp->load_next, rn_strerror(rc));
		if (rc == RN_OK)
			plog_slice_release(&s);
		free(buf);
		part_finish_load(cp);
		return false;
	}
	cp->load_next = load_batches(cp, buf, s.len, cp->load_next);
	plog_slice_release(&s);
	free(buf);
	if (cp->load_next < cp->load_end)
		return true;
	part_finish_load(cp);
	return false;
}

/* Makes room for count partitions (the topic only grows). */
static void parts_grow(struct coord *c, uint32_t count)
{
	if (count <= c->part_count)
		return;
	struct coord_part *parts = realloc(c->parts, count * sizeof(*parts));
	RN_ASSERT(parts != NULL);
	for (uint32_t i = c->part_count; i < count; i++) {
		memset(&parts[i], 0, sizeof(parts[i]));
		parts[i].index = (int32_t)i;
	}
	c->parts = parts;
	c->part_count = count;
}

static void unload_all(struct coord *c, const char *why)
{
	for (uint32_t i = 0; i < c->part_count; i++)
		part_unload(c, &c->parts[i], why);
}

/* Brings the loaded coordinators in line with the partitions this node
 * leads. */
static void reconcile(struct coord *c)
{
	c->reconcile_due = false;
	const struct meta_topic *t = meta_image_topic_by_name(ctrl_image(c->node->ctrl),
							      COORD_OFFSETS_TOPIC);
	if (!t || (c->have_topic && memcmp(t->id, c->topic_id, META_TOPIC_ID_LEN) != 0)) {
		unload_all(c, "the offsets topic is gone");
		c->have_topic = false;
		if (!t)
			return;
	}
	c->have_topic = true;
	memcpy(c->topic_id, t->id, META_TOPIC_ID_LEN);
	parts_grow(c, t->partition_count);
	for (uint32_t i = 0; i < c->part_count; i++) {
		struct coord_part *cp = &c->parts[i];
		struct partition *p = pmgr_find(c->node->pm, COORD_OFFSETS_TOPIC, (int32_t)i);
		bool leads = p && p->leading;
		if (cp->state != COORD_PART_UNLOADED && !leads)
			part_unload(c, cp, "this node no longer leads the partition");
		else if (cp->state != COORD_PART_UNLOADED && p->leader_epoch != cp->leader_epoch)
			part_unload(c, cp, "the partition has a new leader epoch");
		if (leads && cp->state == COORD_PART_UNLOADED)
			part_start_load(c, cp, p);
	}
}

/* ------------------------------------------------------------- the loop */

static void work_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coord *c = arg;
	(void)fd;
	(void)what;
	c->work_pending = false;
	if (c->node->stopping)
		return;
	if (c->reconcile_due)
		reconcile(c);
	coord_appends_report(c);
	bool more = false;
	for (uint32_t i = 0; i < c->part_count; i++)
		if (c->parts[i].state == COORD_PART_LOADING && part_load_step(c, &c->parts[i]))
			more = true;
	if (more)
		coord_schedule_work(c);
}

void coord_schedule_work(struct coord *c)
{
	if (c->work_pending)
		return;
	c->work_pending = true;
	event_active(c->work_ev, EV_READ, 0);
}

void coord_on_metadata(struct coord *c)
{
	if (!c)
		return;
	c->reconcile_due = true;
	coord_schedule_work(c);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coord *c = arg;
	(void)fd;
	(void)what;
	if (c->node->stopping)
		return;
	reconcile(c);
	int64_t now = coord_now_ms();
	for (uint32_t i = 0; i < c->part_count; i++) {
		struct coord_part *cp = &c->parts[i];
		if (cp->state != COORD_PART_LOADED)
			continue;
		struct group_out out;
		group_out_init(&out);
		group_tick(cp->gc, now, &out);
		coord_apply(c, cp, &out, NULL, NULL);
	}
	coord_appends_expire(c, rn_mono_ms());
}

static void config_from_node(const struct node_config *cfg, struct group_config *g)
{
	group_config_default(g);
	g->min_session_timeout_ms = (int32_t)cfg->group_min_session_timeout_ms;
	g->max_session_timeout_ms = (int32_t)cfg->group_max_session_timeout_ms;
	g->initial_rebalance_delay_ms = (int32_t)cfg->group_initial_rebalance_delay_ms;
	g->max_group_size = cfg->group_max_size < GROUP_MAX_MEMBERS ? (uint32_t)cfg->group_max_size
								    : GROUP_MAX_MEMBERS;
}

int coord_new(struct node *n, struct coord **out)
{
	struct coord *c = calloc(1, sizeof(*c));
	if (!c)
		return RN_E_NOMEM;
	c->node = n;
	config_from_node(&n->cfg, &c->gcfg);
	/* A group_coordinator_create with these settings must succeed later. */
	struct group_coordinator *probe = NULL;
	int rc = group_coordinator_create(&c->gcfg, &probe);
	group_coordinator_destroy(probe);
	c->tick_ev = event_new(n->base, -1, EV_PERSIST, tick_cb, c);
	c->work_ev = event_new(n->base, -1, 0, work_cb, c);
	if (rc != RN_OK || !c->tick_ev || !c->work_ev) {
		if (rc != RN_OK)
			LOG_ERROR("coord", "the group settings are out of range: %s", rn_strerror(rc));
		coord_free(c);
		return rc != RN_OK ? RN_E_INVALID_CONFIG : RN_E_NOMEM;
	}
	struct timeval tv = {0, COORD_TICK_MS * 1000};
	event_add(c->tick_ev, &tv);
	*out = c;
	return RN_OK;
}

void coord_free(struct coord *c)
{
	if (!c)
		return;
	coord_topic_cancel(c);
	unload_all(c, "shutting down");
	coord_appends_drop_all(c);
	while (c->waits)
		coord_wait_free(c->waits);
	if (c->tick_ev)
		event_free(c->tick_ev);
	if (c->work_ev)
		event_free(c->work_ev);
	free(c->parts);
	free(c);
}

/* ----------------------------------------------------------------- lookup */

int coord_lookup(struct coord *c, const char *group_id, struct coord_part **out)
{
	if (!coord_group_id_valid(group_id))
		return RN_E_INVALID_GROUP_ID;
	const struct meta_topic *t = meta_image_topic_by_name(ctrl_image(c->node->ctrl),
							      COORD_OFFSETS_TOPIC);
	if (!t || t->partition_count == 0)
		return RN_E_COORDINATOR_NOT_AVAILABLE;
	if (c->reconcile_due)
		reconcile(c);
	int32_t index = rn_murmur2_partition(group_id, strlen(group_id),
					     (int32_t)t->partition_count);
	if ((uint32_t)index >= c->part_count)
		return RN_E_NOT_COORDINATOR;
	struct coord_part *cp = &c->parts[index];
	if (cp->state == COORD_PART_UNLOADED)
		return RN_E_NOT_COORDINATOR;
	if (cp->state == COORD_PART_LOADING)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	*out = cp;
	return RN_OK;
}

bool coord_foreach_loaded(struct coord *c, void (*cb)(struct group_coordinator *gc, void *arg),
			  void *arg)
{
	bool loading = false;
	for (uint32_t i = 0; i < c->part_count; i++) {
		if (c->parts[i].state == COORD_PART_LOADED)
			cb(c->parts[i].gc, arg);
		else if (c->parts[i].state == COORD_PART_LOADING)
			loading = true;
	}
	return loading;
}
