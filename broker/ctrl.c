/* ctrl.c: the controller shell around raft/ and controller/: Readies, applying, leadership. */
#include "broker/ctrl_internal.h"

#include "broker/node.h"
#include "broker/partition.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "controller/controller.h"
#include "controller/replication.h"
#include "raft/raft_store.h"
#include "wire/meta_codec.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ctrl_fail(struct ctrl *c, const char *what, int rc)
{
	LOG_ERROR("controller", "%s: %s; stopping the node", what, rn_strerror(rc));
	c->failed = true;
	node_stop(c->node, 1);
}

const struct meta_image *ctrl_image(const struct ctrl *c)
{
	return c->img;
}

int32_t ctrl_leader_id(const struct ctrl *c)
{
	uint64_t id = raft_leader(c->raft);
	return id == 0 ? -1 : (int32_t)id;
}

bool ctrl_is_active(const struct ctrl *c)
{
	return c->active && !c->failed && raft_is_leader(c->raft);
}

bool ctrl_replayed(const struct ctrl *c)
{
	return c->phase != CTRL_REPLAY;
}

/* Raft ids must not be 0; node.id starts at 1, so the two are the same. */
static uint64_t raft_id_of(int32_t node_id)
{
	RN_ASSERT(node_id > 0);
	return (uint64_t)node_id;
}

/* --------------------------------------------------------------- waiters */

struct ctrl_waiter *ctrl_wait_applied(struct ctrl *c, uint64_t index,
				      void (*cb)(void *arg, int err), void *arg)
{
	struct ctrl_waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->index = index;
	w->cb = cb;
	w->arg = arg;
	w->next = c->waiters;
	if (c->waiters)
		c->waiters->prev = w;
	c->waiters = w;
	return w;
}

static void waiter_unlink(struct ctrl *c, struct ctrl_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		c->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
}

void ctrl_wait_cancel(struct ctrl *c, struct ctrl_waiter *w)
{
	waiter_unlink(c, w);
	free(w);
}

/* Completes waiters whose entry is applied, or all with err when err != 0.
 * Each is unlinked before its callback, which may add or cancel others, so
 * the scan restarts after every call. */
static void notify_waiters(struct ctrl *c, int err)
{
	uint64_t applied = meta_image_applied_index(c->img);
	bool again = true;
	while (again) {
		again = false;
		for (struct ctrl_waiter *w = c->waiters; w; w = w->next) {
			if (err == RN_OK && w->index > applied)
				continue;
			waiter_unlink(c, w);
			void (*cb)(void *, int) = w->cb;
			void *arg = w->arg;
			free(w);
			cb(arg, err);
			again = true;
			break;
		}
	}
}

/* ------------------------------------------------------------- proposals */

static int pending_add(struct ctrl *c, const char *name, uint64_t index)
{
	if (c->pending_count == c->pending_cap) {
		uint32_t cap = c->pending_cap ? c->pending_cap * 2 : 16;
		struct pending_name *p = realloc(c->pending, cap * sizeof(*p));
		const char **v = realloc(c->pending_view, cap * sizeof(*v));
		if (v)
			c->pending_view = v;
		if (!p || !v) {
			if (p)
				c->pending = p;
			return RN_E_NOMEM;
		}
		c->pending = p;
		c->pending_cap = cap;
	}
	struct pending_name *e = &c->pending[c->pending_count++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->index = index;
	return RN_OK;
}

static void pending_prune(struct ctrl *c)
{
	uint64_t applied = meta_image_applied_index(c->img);
	uint32_t j = 0;
	bool leader = raft_is_leader(c->raft);
	/* A name stays pending until its TOPIC record is applied, or until
	 * leadership is lost (the proposal may then never commit). */
	for (uint32_t i = 0; i < c->pending_count; i++)
		if (leader && c->pending[i].index > applied)
			c->pending[j++] = c->pending[i];
	c->pending_count = j;
}

const char *const *ctrl_pending_names(struct ctrl *c, uint32_t *count)
{
	pending_prune(c);
	for (uint32_t i = 0; i < c->pending_count; i++)
		c->pending_view[i] = c->pending[i].name;
	*count = c->pending_count;
	return c->pending_count ? c->pending_view : NULL;
}

int ctrl_propose(struct ctrl *c, const struct meta_record *recs, uint32_t count,
		 uint64_t *last_index)
{
	if (!ctrl_is_active(c))
		return RN_E_NOT_CONTROLLER;
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		int rc = meta_record_encode(&recs[i], &buf, &len);
		if (rc != RN_OK)
			return rc;
		uint64_t index = 0;
		rc = raft_propose(c->raft, buf, (uint32_t)len, &index);
		free(buf);
		if (rc != RN_OK)
			return rc;
		*last_index = index;
		if (recs[i].type == META_REC_TOPIC) {
			rc = pending_add(c, recs[i].u.topic.name, index);
			if (rc != RN_OK)
				return rc;
		}
	}
	node_schedule_turn(c->node);
	return RN_OK;
}

/* Proposes records the lifecycle decided; a failure is logged and the
 * lifecycle decides again on a later tick. */
static void propose_decided(struct ctrl *c, struct meta_record *recs, uint32_t count)
{
	uint64_t last = 0;
	int rc = count ? ctrl_propose(c, recs, count, &last) : RN_OK;
	if (rc != RN_OK)
		LOG_WARN("controller", "cannot propose %u lifecycle record(s): %s", count,
			 rn_strerror(rc));
	controller_records_free(recs, count);
}

/* ------------------------------------------------------ broker lifecycle */

int ctrl_broker_register(struct ctrl *c, const struct controller_registration *reg,
			 int64_t *broker_epoch, uint64_t *wait_index, char *why)
{
	*wait_index = 0;
	if (!ctrl_is_active(c)) {
		ctrl_not_controller_why(c, why);
		return RN_E_NOT_CONTROLLER;
	}
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int rc = controller_broker_register(c->lc, c->img, reg, rn_mono_ms(), broker_epoch, &recs,
					    &count, why, CTRL_WHY_LEN);
	if (rc == RN_OK && count > 0)
		rc = ctrl_propose(c, recs, count, wait_index);
	controller_records_free(recs, count);
	if (rc != RN_OK && !why[0])
		snprintf(why, CTRL_WHY_LEN, "%s", rn_strerror(rc));
	return rc;
}

int ctrl_broker_heartbeat(struct ctrl *c, const struct controller_heartbeat *hb,
			  struct controller_heartbeat_resp *resp)
{
	if (!ctrl_is_active(c))
		return RN_E_NOT_CONTROLLER;
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int rc = controller_broker_heartbeat(c->lc, c->img, hb, rn_mono_ms(), resp, &recs, &count);
	if (rc != RN_OK)
		return rc;
	propose_decided(c, recs, count);
	return RN_OK;
}

const struct controller_lifecycle *ctrl_lifecycle(const struct ctrl *c)
{
	return ctrl_is_active(c) ? c->lc : NULL;
}

int ctrl_alter_partition(struct ctrl *c, int32_t broker_id, int64_t broker_epoch,
			 const uint8_t topic_id[META_TOPIC_ID_LEN], int32_t partition,
			 int32_t leader_epoch, int32_t partition_epoch, const int32_t *new_isr,
			 uint32_t n, uint64_t *index, char *why)
{
	char scratch[CTRL_WHY_LEN];
	if (!why)
		why = scratch;
	why[0] = '\0';
	if (index)
		*index = 0;
	if (!ctrl_is_active(c)) {
		ctrl_not_controller_why(c, why);
		return RN_E_NOT_CONTROLLER;
	}
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	uint64_t last = 0;
	int rc = controller_plan_alter_partition(c->lc, c->img, broker_id, broker_epoch, topic_id,
						 partition, leader_epoch, partition_epoch, new_isr, n,
						 &recs, &count, why, CTRL_WHY_LEN);
	if (rc == RN_OK && count > 0)
		rc = ctrl_propose(c, recs, count, &last);
	controller_records_free(recs, count);
	if (rc == RN_OK && index)
		*index = last;
	return rc;
}

int ctrl_init_producer_id(struct ctrl *c, int64_t *producer_id, uint64_t *index, char *why)
{
	why[0] = '\0';
	*index = 0;
	if (!ctrl_is_active(c)) {
		ctrl_not_controller_why(c, why);
		return RN_E_NOT_CONTROLLER;
	}
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int rc = controller_plan_producer_id(c->lc, c->img, producer_id, &recs, &count, why,
					     CTRL_WHY_LEN);
	if (rc == RN_OK)
		rc = ctrl_propose(c, recs, count, index);
	controller_records_free(recs, count);
	return rc;
}

/* Kafka's auto.leader.rebalance.enable: every
 * leader.imbalance.check.interval.ms, leadership goes back to each
 * partition's first replica where it is in sync again. */
static void preferred_tick(struct ctrl *c)
{
	const struct node_config *cfg = &c->node->cfg;
	int64_t now = rn_mono_ms();
	if (!controller_preferred_check_due(cfg->auto_leader_rebalance_enable != 0,
					    cfg->leader_imbalance_check_interval_ms,
					    c->preferred_check_ms, now))
		return;
	c->preferred_check_ms = now;
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int rc = controller_plan_preferred_election(c->lc, c->img, NULL, NULL, 0,
						    CONTROLLER_MAX_AUTO_ELECTIONS, &recs, &count,
						    NULL, NULL, NULL, 0);
	if (rc != RN_OK) {
		LOG_WARN("controller", "automatic preferred leader election failed: %s",
			 rn_strerror(rc));
		return;
	}
	if (count > 0)
		LOG_INFO("controller", "moving %u partition leadership(s) back to their preferred "
				       "replicas", count);
	propose_decided(c, recs, count);
}

static void lifecycle_tick(struct ctrl *c)
{
	if (!ctrl_is_active(c) || ++c->lifecycle_ticks < CTRL_LIFECYCLE_TICKS)
		return;
	c->lifecycle_ticks = 0;
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	if (controller_lifecycle_tick(c->lc, c->img, rn_mono_ms(), &recs, &count) == RN_OK)
		propose_decided(c, recs, count);
	preferred_tick(c);
}

/* ----------------------------------------------------------------- apply */

/* True for a CONFIG record that sets a cluster-wide default (an all-zero
 * topic id) rather than one topic's override. */
static bool config_is_cluster_wide(const struct meta_record *rec)
{
	static const uint8_t zero[META_TOPIC_ID_LEN] = {0};
	return rec->type == META_REC_CONFIG &&
	       memcmp(rec->u.config.topic_id, zero, META_TOPIC_ID_LEN) == 0;
}

static void log_applied(struct ctrl *c, const struct meta_record *rec, const char *removed)
{
	bool live = c->phase != CTRL_REPLAY;
	char id[33];
	switch (rec->type) {
	case META_REC_CLUSTER:
		LOG_INFO("controller", "cluster id %s", rec->u.cluster.cluster_id);
		break;
	case META_REC_REGISTER_BROKER:
		if (live)
			LOG_INFO("controller", "broker %d registered at %s:%d (epoch %" PRId64 "%s%s)",
				 rec->u.broker.node_id, rec->u.broker.host, rec->u.broker.port,
				 rec->u.broker.broker_epoch, rec->u.broker.rack[0] ? ", rack " : "",
				 rec->u.broker.rack);
		break;
	case META_REC_FENCE_BROKER:
		if (live)
			LOG_INFO("controller", "broker %d %s", rec->u.fence.node_id,
				 rec->u.fence.fenced ? "fenced" : "unfenced");
		break;
	case META_REC_TOPIC:
		meta_topic_id_format(rec->u.topic.topic_id, id);
		if (live)
			LOG_INFO("controller", "created topic %s (id %s)", rec->u.topic.name, id);
		break;
	case META_REC_REMOVE_TOPIC:
		meta_topic_id_format(rec->u.remove_topic.topic_id, id);
		if (live)
			LOG_INFO("controller", "deleted topic %s (id %s)",
				 removed[0] ? removed : "(already gone)", id);
		break;
	case META_REC_CONFIG:
		if (live && config_is_cluster_wide(rec) && rec->u.config.remove)
			LOG_INFO("controller", "cluster-wide default of %s removed",
				 rec->u.config.name);
		else if (live && config_is_cluster_wide(rec))
			LOG_INFO("controller", "cluster-wide default %s=%s", rec->u.config.name,
				 rec->u.config.value);
		break;
	default:
		break;
	}
}

/* Tells the partition manager (and the node) what a just-applied record
 * changed. */
static int follow_record(struct ctrl *c, const struct meta_record *rec, const char *removed)
{
	struct pmgr *pm = c->node->pm;
	const struct meta_topic *t;
	switch (rec->type) {
	case META_REC_CLUSTER:
		return node_learn_cluster_id(c->node, rec->u.cluster.cluster_id);
	case META_REC_TOPIC:
		t = meta_image_topic_by_id(c->img, rec->u.topic.topic_id);
		RN_ASSERT(t != NULL);
		return pmgr_apply_topic(pm, t);
	case META_REC_PARTITION:
		t = meta_image_topic_by_id(c->img, rec->u.partition.topic_id);
		RN_ASSERT(t != NULL);
		return pmgr_apply_partition(pm, t, meta_topic_partition(t, rec->u.partition.partition));
	case META_REC_PARTITION_CHANGE:
		/* A change for a topic deleted meanwhile is ignored by the image. */
		t = meta_image_topic_by_id(c->img, rec->u.partition_change.topic_id);
		if (!t)
			return RN_OK;
		return pmgr_apply_partition(pm, t,
					    meta_topic_partition(t, rec->u.partition_change.partition));
	case META_REC_CONFIG:
		if (config_is_cluster_wide(rec)) {
			/* A cluster-wide default reaches every topic that does
			 * not override the key: recompute them all. */
			for (uint32_t i = 0; i < meta_image_topic_count(c->img); i++)
				pmgr_apply_topic_config(pm, meta_image_topic_at(c->img, i));
			return RN_OK;
		}
		t = meta_image_topic_by_id(c->img, rec->u.config.topic_id);
		if (t)
			pmgr_apply_topic_config(pm, t);
		return RN_OK;
	case META_REC_REMOVE_TOPIC:
		if (removed[0])
			pmgr_remove_topic(pm, removed);
		return RN_OK;
	default:
		return RN_OK;
	}
}

static int apply_entry(struct ctrl *c, const struct raft_entry *e)
{
	if (e->len == 0)
		return meta_image_skip(c->img, e->index);
	struct meta_record rec;
	int rc = meta_record_decode(e->data, e->len, &rec);
	if (rc != RN_OK) {
		LOG_ERROR("controller", "metadata log entry %" PRIu64 " does not decode", e->index);
		return rc;
	}
	char removed[RN_MAX_TOPIC_NAME_LEN + 1] = "";
	if (rec.type == META_REC_REMOVE_TOPIC) {
		const struct meta_topic *t = meta_image_topic_by_id(c->img, rec.u.remove_topic.topic_id);
		if (t)
			snprintf(removed, sizeof(removed), "%s", t->name);
	}
	rc = meta_image_apply(c->img, e->index, &rec);
	if (rc != RN_OK) {
		LOG_ERROR("controller", "metadata log entry %" PRIu64 " (%s) cannot be applied",
			  e->index, meta_record_type_name(rec.type));
	} else {
		log_applied(c, &rec, removed);
		rc = follow_record(c, &rec, removed);
		/* A partition log that cannot open is reported by the partition
		 * manager; the metadata stays applied and other partitions work. */
		if (rc != RN_OK && rc != RN_E_NOMEM && rc != RN_E_INCONSISTENT_CLUSTER_ID)
			rc = RN_OK;
	}
	meta_record_free_contents(&rec);
	return rc;
}

/* Replaces the image by the snapshot the leader sent (or the one stored,
 * at start) and brings the partition manager in line with it. */
static int install_snapshot(struct ctrl *c, const struct raft_snapshot *s)
{
	struct meta_image *img = NULL;
	int rc = meta_snapshot_decode(s->data, s->len, &img);
	if (rc != RN_OK) {
		LOG_ERROR("controller", "the snapshot at index %" PRIu64 " does not decode", s->index);
		return rc;
	}
	if (meta_image_applied_index(img) != s->index) {
		LOG_ERROR("controller", "the snapshot claims index %" PRIu64 " but holds %" PRIu64,
			  s->index, meta_image_applied_index(img));
		meta_image_free(img);
		return RN_E_CORRUPT_STATE;
	}
	meta_image_free(c->img);
	c->img = img;
	c->snapshot_index = s->index;
	LOG_INFO("controller", "installed the metadata snapshot at index %" PRIu64
			       " (term %" PRIu64 ", %u bytes): %u topic(s), %u broker(s)",
		 s->index, s->term, s->len, meta_image_topic_count(img), meta_image_broker_count(img));
	const char *id = meta_image_cluster_id(img);
	if (id[0]) {
		rc = node_learn_cluster_id(c->node, id);
		if (rc != RN_OK)
			return rc;
	}
	rc = pmgr_reconcile(c->node->pm, img);
	return rc == RN_E_NOMEM ? rc : RN_OK;
}

/* Every metadata.snapshot.interval.records applied entries, hands the core
 * a snapshot so it can drop the log prefix. */
static void maybe_compact(struct ctrl *c)
{
	uint64_t applied = meta_image_applied_index(c->img);
	uint64_t interval = (uint64_t)c->node->cfg.metadata_snapshot_interval_records;
	if (c->phase == CTRL_REPLAY || applied < c->snapshot_index + interval ||
	    applied > raft_applied_index(c->raft))
		return;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = meta_snapshot_encode(c->img, &buf, &len);
	if (rc == RN_OK)
		rc = raft_compact(c->raft, applied, buf, (uint32_t)len);
	free(buf);
	if (rc != RN_OK) {
		LOG_WARN("controller", "cannot snapshot the metadata image at index %" PRIu64 ": %s",
			 applied, rn_strerror(rc));
		/* Try again after another interval rather than at every Ready. */
		c->snapshot_index = applied;
		return;
	}
	c->snapshot_index = applied;
	LOG_INFO("controller", "metadata snapshot at index %" PRIu64 " (%zu bytes); log compacted",
		 applied, len);
	node_schedule_turn(c->node);
}

/* --------------------------------------------------------- leadership */

static void note_leader(struct ctrl *c)
{
	int32_t leader = ctrl_leader_id(c);
	if (leader == c->last_leader_logged)
		return;
	c->last_leader_logged = leader;
	if (leader < 0)
		LOG_INFO("controller", "no quorum leader known (term %" PRIu64 ")", raft_term(c->raft));
	else
		LOG_INFO("controller", "quorum leader is node %d (term %" PRIu64 ")%s", leader,
			 raft_term(c->raft), leader == c->node->cfg.node_id ? ": this node" : "");
}

/* The first active leader of a new cluster names it. */
static void propose_cluster_record(struct ctrl *c)
{
	if (meta_image_cluster_id(c->img)[0] || c->cluster_proposed_term == raft_term(c->raft))
		return;
	c->cluster_proposed_term = raft_term(c->raft);
	struct meta_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.type = META_REC_CLUSTER;
	if (c->node->cluster_id[0])
		snprintf(rec.u.cluster.cluster_id, sizeof(rec.u.cluster.cluster_id), "%s",
			 c->node->cluster_id);
	else if (node_generate_cluster_id(rec.u.cluster.cluster_id) != RN_OK) {
		ctrl_fail(c, "cannot generate a cluster id", RN_E_IO);
		return;
	}
	uint64_t last = 0;
	int rc = ctrl_propose(c, &rec, 1, &last);
	if (rc != RN_OK)
		LOG_WARN("controller", "cannot propose the cluster record: %s", rn_strerror(rc));
}

/* Tracks whether this node is the active controller. */
static void update_leadership(struct ctrl *c)
{
	note_leader(c);
	if (!raft_is_leader(c->raft)) {
		if (c->active)
			LOG_INFO("controller", "no longer the active controller");
		c->active = false;
		c->lead_term = 0;
		return;
	}
	if (c->lead_term != raft_term(c->raft)) {
		/* The log end now includes the no-op of the new term: once it is
		 * applied, the image holds everything earlier leaders committed. */
		c->lead_term = raft_term(c->raft);
		c->lead_start_index = raft_last_index(c->raft);
		c->active = false;
	}
	if (!c->active && c->phase != CTRL_REPLAY &&
	    meta_image_applied_index(c->img) >= c->lead_start_index) {
		if (controller_lifecycle_reset(c->lc, c->img, rn_mono_ms()) != RN_OK)
			return;
		c->active = true;
		c->lifecycle_ticks = 0;
		c->preferred_check_ms = rn_mono_ms();
		LOG_INFO("controller", "this node is the active controller (term %" PRIu64
				       ", metadata index %" PRIu64 ")",
			 raft_term(c->raft), meta_image_applied_index(c->img));
	}
	if (c->active)
		propose_cluster_record(c);
}

/* Ends the replay once the image reaches what was committed at start. */
static void advance_phase(struct ctrl *c)
{
	uint64_t applied = meta_image_applied_index(c->img);
	if (c->phase == CTRL_REPLAY && applied >= c->replay_until) {
		LOG_INFO("controller", "metadata log replayed to index %" PRIu64 ": %u topic(s), %u broker(s)",
			 applied, meta_image_topic_count(c->img), meta_image_broker_count(c->img));
		int rc = pmgr_open_all(c->node->pm);
		if (rc != RN_OK) {
			ctrl_fail(c, "cannot open the partition logs", rc);
			return;
		}
		c->phase = CTRL_RUNNING;
		node_on_replayed(c->node);
	}
	update_leadership(c);
}

/* ----------------------------------------------------------- the Ready */

static void apply_ready(struct ctrl *c)
{
	if (c->rd.snapshot && c->rd.snapshot_install) {
		int rc = install_snapshot(c, c->rd.snapshot);
		if (rc != RN_OK) {
			ctrl_fail(c, "cannot install the metadata snapshot", rc);
			return;
		}
	}
	for (uint32_t i = 0; i < c->rd.committed_count && !c->failed; i++) {
		if (c->rd.committed[i].index <= meta_image_applied_index(c->img))
			continue;
		int rc = apply_entry(c, &c->rd.committed[i]);
		if (rc != RN_OK)
			ctrl_fail(c, "cannot apply the metadata log", rc);
	}
}

static void finish_ready(struct ctrl *c)
{
	ctrl_net_send_ready(c);
	apply_ready(c);
	raft_advance(c->raft, &c->rd);
	c->outstanding = false;
	if (c->failed)
		return;
	if (!raft_is_leader(c->raft))
		notify_waiters(c, RN_E_NOT_CONTROLLER);
	else
		notify_waiters(c, RN_OK);
	advance_phase(c);
	maybe_compact(c);
	node_on_metadata(c->node);
}

void ctrl_pump(struct ctrl *c)
{
	while (!c->failed && !c->outstanding && raft_has_ready(c->raft)) {
		if (raft_ready(c->raft, &c->rd) != RN_OK)
			return; /* out of memory: the next turn tries again */
		c->outstanding = true;
		bool persist = c->rd.hard_state_changed || c->rd.entry_count > 0 ||
			       c->rd.truncate_from != 0 || c->rd.snapshot != NULL ||
			       c->rd.compact_to != 0;
		if (!persist) {
			finish_ready(c);
			continue;
		}
		int rc = raft_store_save(c->node->kv, &c->rd);
		if (rc != RN_OK) {
			ctrl_fail(c, "cannot persist Raft state", rc);
			return;
		}
		/* Nothing that depends on this Ready happens before it is synced. */
		c->syncing = true;
		node_sync_kv(c->node);
		return;
	}
}

void ctrl_on_synced(struct ctrl *c, bool ok)
{
	RN_ASSERT(c->syncing && c->outstanding);
	c->syncing = false;
	if (!ok) {
		ctrl_fail(c, "fsync of the node's LMDB environment failed", RN_E_IO);
		return;
	}
	finish_ready(c);
	ctrl_pump(c);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctrl *c = arg;
	(void)fd;
	(void)what;
	if (c->failed)
		return;
	raft_tick(c->raft);
	if (!c->outstanding)
		update_leadership(c);
	lifecycle_tick(c);
	ctrl_pump(c);
	node_schedule_turn(c->node);
}

/* ------------------------------------------------------------- lifetime */

static int build_raft(struct ctrl *c, const struct raft_store_state *st)
{
	const struct node_config *cfg = &c->node->cfg;
	uint64_t voters[RN_MAX_NODES];
	bool voter = false;
	for (uint32_t i = 0; i < cfg->voter_count; i++) {
		voters[i] = raft_id_of(cfg->voters[i].node_id);
		voter = voter || cfg->voters[i].node_id == cfg->node_id;
	}
	uint64_t seed = 0;
	if (node_random(&seed, sizeof(seed)) != RN_OK)
		seed = (uint64_t)rn_mono_us();
	struct raft_config rc_cfg = {
		.id = raft_id_of(cfg->node_id),
		.voters = voters,
		.voter_count = cfg->voter_count,
		.election_ticks = NODE_ELECTION_TICKS,
		.heartbeat_ticks = NODE_HEARTBEAT_TICKS,
		.seed = seed,
		.pre_vote = true,
		.check_quorum = true,
		.observer = !voter,
	};
	/* The image is rebuilt at every start: applied 0 makes the first Ready
	 * carry the stored snapshot (to install) and every committed entry
	 * after it. */
	struct raft_restore rs = {
		.hs = st->hs.term ? &st->hs : NULL,
		.snapshot = st->snapshot.index ? &st->snapshot : NULL,
		.log = st->entries,
		.log_count = st->count,
		.applied_index = 0,
	};
	int rc = raft_new_from(&rc_cfg, &rs, &c->raft);
	if (rc != RN_OK)
		LOG_ERROR("controller", "cannot restore Raft state: %s", rn_strerror(rc));
	else
		LOG_INFO("controller", "Raft %s among %u voter(s): term %" PRIu64 ", snapshot %" PRIu64
				       ", %u log entries, commit %" PRIu64,
			 voter ? "voter" : "observer", cfg->voter_count, st->hs.term,
			 st->snapshot.index, st->count, st->hs.commit);
	return rc;
}

static int start_ticking(struct ctrl *c)
{
	c->tick_ev = event_new(c->node->base, -1, EV_PERSIST, tick_cb, c);
	if (!c->tick_ev)
		return RN_E_NOMEM;
	struct timeval tick = {NODE_TICK_MS / 1000, (NODE_TICK_MS % 1000) * 1000};
	event_add(c->tick_ev, &tick);
	return RN_OK;
}

int ctrl_open(struct node *n, struct ctrl **out)
{
	struct ctrl *c = calloc(1, sizeof(*c));
	if (!c)
		return RN_E_NOMEM;
	c->node = n;
	c->last_leader_logged = -1;
	struct raft_store_state st;
	int rc = raft_store_load_all(n->kv, &st);
	if (rc != RN_OK) {
		LOG_ERROR("controller", "cannot load Raft state from LMDB: %s", rn_strerror(rc));
		goto fail_ctrl;
	}
	rc = build_raft(c, &st);
	c->replay_until = st.hs.commit > st.snapshot.index ? st.hs.commit : st.snapshot.index;
	c->snapshot_index = st.snapshot.index;
	raft_store_state_free(&st);
	if (rc != RN_OK)
		goto fail_ctrl;
	c->status = calloc(1, sizeof(*c->status));
	rc = c->status ? meta_image_new(&c->img) : RN_E_NOMEM;
	if (rc != RN_OK)
		goto fail_raft;
	rc = controller_lifecycle_new(n->cfg.broker_session_timeout_ms, &c->lc);
	if (rc != RN_OK)
		goto fail_image;
	rc = ctrl_net_open(c);
	if (rc == RN_OK)
		rc = start_ticking(c);
	if (rc != RN_OK)
		goto fail_net;
	c->phase = CTRL_REPLAY;
	pmgr_set_live(n->pm, c->replay_until == 0);
	*out = c;
	n->ctrl = c;
	advance_phase(c);
	ctrl_pump(c);
	return RN_OK;

fail_net:
	ctrl_net_close(c);
	controller_lifecycle_free(c->lc);
fail_image:
	meta_image_free(c->img);
fail_raft:
	free(c->status);
	raft_free(c->raft);
fail_ctrl:
	free(c);
	return rc;
}

void ctrl_free(struct ctrl *c)
{
	if (!c)
		return;
	if (c->tick_ev)
		event_free(c->tick_ev);
	notify_waiters(c, RN_E_SHUTTING_DOWN);
	ctrl_net_close(c);
	controller_lifecycle_free(c->lc);
	raft_free(c->raft);
	meta_image_free(c->img);
	free(c->status);
	free(c->pending);
	free(c->pending_view);
	free(c);
}
