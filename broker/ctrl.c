/* ctrl.c: the controller shell around raft/ and controller/. */
#include "broker/ctrl.h"

#include "broker/node.h"
#include "broker/partition.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "controller/controller.h"
#include "raft/raft.h"
#include "raft/raft_store.h"
#include "wire/meta_codec.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum ctrl_phase {
	CTRL_REPLAY,      /* re-applying the committed log */
	CTRL_STARTING,    /* waiting for leadership to propose start-up records */
	CTRL_REGISTERING, /* start-up records proposed, not yet applied */
	CTRL_RUNNING,
};

struct ctrl_waiter {
	uint64_t index;
	void (*cb)(void *arg, int err);
	void *arg;
	struct ctrl_waiter *prev;
	struct ctrl_waiter *next;
};

struct pending_name {
	char name[RN_MAX_TOPIC_NAME_LEN + 1];
	uint64_t index;
};

struct ctrl {
	struct node *node;
	struct raft *raft;
	struct meta_image *img;
	struct event *tick_ev;
	enum ctrl_phase phase;
	uint64_t replay_until;   /* commit index found at start */
	uint64_t register_index; /* last start-up record */
	bool outstanding;        /* a Ready is between raft_ready and raft_advance */
	bool syncing;            /* ... and waits for the flusher */
	bool failed;
	struct raft_ready rd;
	struct ctrl_waiter *waiters;
	struct pending_name *pending;
	uint32_t pending_count;
	uint32_t pending_cap;
	const char **pending_view;
};

static void fail_fatal(struct ctrl *c, const char *what, int rc)
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
	if (c->failed || !raft_is_leader(c->raft))
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

/* ----------------------------------------------------------------- apply */

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
			LOG_INFO("controller", "broker %d registered at %s:%d (epoch %" PRId64 ")",
				 rec->u.broker.node_id, rec->u.broker.host, rec->u.broker.port,
				 rec->u.broker.broker_epoch);
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
	default:
		break;
	}
}

/* Tells the partition manager what a just-applied record changed. */
static int follow_record(struct ctrl *c, const struct meta_record *rec, const char *removed)
{
	struct pmgr *pm = c->node->pm;
	const struct meta_topic *t;
	switch (rec->type) {
	case META_REC_TOPIC:
		t = meta_image_topic_by_id(c->img, rec->u.topic.topic_id);
		RN_ASSERT(t != NULL);
		return pmgr_apply_topic(pm, t);
	case META_REC_PARTITION:
		t = meta_image_topic_by_id(c->img, rec->u.partition.topic_id);
		RN_ASSERT(t != NULL);
		return pmgr_apply_partition(pm, t, meta_topic_partition(t, rec->u.partition.partition));
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
		if (rc != RN_OK && rc != RN_E_NOMEM)
			rc = RN_OK;
	}
	meta_record_free_contents(&rec);
	return rc;
}

/* ----------------------------------------------------------- start-up */

static void propose_startup(struct ctrl *c)
{
	struct node *n = c->node;
	const char *stored = meta_image_cluster_id(c->img);
	uint64_t last = meta_image_applied_index(c->img);
	if (stored[0] == '\0') {
		struct meta_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.type = META_REC_CLUSTER;
		snprintf(rec.u.cluster.cluster_id, sizeof(rec.u.cluster.cluster_id), "%s",
			 n->cluster_id);
		int rc = ctrl_propose(c, &rec, 1, &last);
		if (rc != RN_OK) {
			fail_fatal(c, "cannot propose the cluster record", rc);
			return;
		}
	}
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int rc = controller_plan_register_broker(c->img, n->cfg.node_id, n->cfg.advertise.host,
						 n->cfg.advertise.port, n->broker_epoch, &recs,
						 &count);
	if (rc == RN_OK && count > 0)
		rc = ctrl_propose(c, recs, count, &last);
	controller_records_free(recs, count);
	if (rc != RN_OK) {
		fail_fatal(c, "cannot register this broker", rc);
		return;
	}
	c->register_index = last;
	c->phase = CTRL_REGISTERING;
}

/* Moves through the start-up phases after each applied Ready. */
static void advance_phase(struct ctrl *c)
{
	uint64_t applied = meta_image_applied_index(c->img);
	if (c->phase == CTRL_REPLAY && applied >= c->replay_until) {
		LOG_INFO("controller", "metadata log replayed to index %" PRIu64 ": %u topic(s), %u broker(s)",
			 applied, meta_image_topic_count(c->img), meta_image_broker_count(c->img));
		int rc = pmgr_open_all(c->node->pm);
		if (rc != RN_OK) {
			fail_fatal(c, "cannot open the partition logs", rc);
			return;
		}
		c->phase = CTRL_STARTING;
	}
	if (c->phase == CTRL_STARTING && raft_is_leader(c->raft))
		propose_startup(c);
	if (c->phase == CTRL_REGISTERING && applied >= c->register_index) {
		const char *img_id = meta_image_cluster_id(c->img);
		if (strcmp(img_id, c->node->cluster_id) != 0) {
			LOG_ERROR("controller", "the metadata log belongs to cluster %s but this node's "
						"data directory to cluster %s",
				  img_id, c->node->cluster_id);
			fail_fatal(c, "inconsistent cluster id", RN_E_INCONSISTENT_CLUSTER_ID);
			return;
		}
		c->phase = CTRL_RUNNING;
		node_on_ready(c->node);
	}
}

/* ----------------------------------------------------------- the Ready */

static void finish_ready(struct ctrl *c)
{
	/* Messages go to peers here once a transport exists; a single voter
	 * never produces any. */
	if (c->rd.msg_count > 0)
		LOG_DEBUG("controller", "dropping %u Raft message(s): no peer transport",
			  c->rd.msg_count);
	for (uint32_t i = 0; i < c->rd.committed_count && !c->failed; i++) {
		int rc = apply_entry(c, &c->rd.committed[i]);
		if (rc != RN_OK)
			fail_fatal(c, "cannot apply the metadata log", rc);
	}
	raft_advance(c->raft, &c->rd);
	c->outstanding = false;
	if (c->failed)
		return;
	if (!raft_is_leader(c->raft))
		notify_waiters(c, RN_E_NOT_CONTROLLER);
	else
		notify_waiters(c, RN_OK);
	advance_phase(c);
}

void ctrl_pump(struct ctrl *c)
{
	while (!c->failed && !c->outstanding && raft_has_ready(c->raft)) {
		raft_ready(c->raft, &c->rd);
		c->outstanding = true;
		bool persist = c->rd.hard_state_changed || c->rd.entry_count > 0 ||
			       c->rd.truncate_from != 0;
		if (!persist) {
			finish_ready(c);
			continue;
		}
		int rc = raft_store_save(c->node->kv, &c->rd);
		if (rc != RN_OK) {
			fail_fatal(c, "cannot persist Raft state", rc);
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
		fail_fatal(c, "fsync of the node's LMDB environment failed", RN_E_IO);
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
	/* A node that became leader proposes its start-up records even when no
	 * Ready is pending. */
	if (c->phase == CTRL_STARTING && raft_is_leader(c->raft) && !c->outstanding)
		advance_phase(c);
	ctrl_pump(c);
	node_schedule_turn(c->node);
}

/* ------------------------------------------------------------- lifetime */

static int build_raft(struct ctrl *c, const struct raft_hard_state *hs,
		      const struct raft_entry *log, uint32_t count)
{
	const struct node_config *cfg = &c->node->cfg;
	uint64_t voters[RN_MAX_NODES];
	for (uint32_t i = 0; i < cfg->voter_count; i++)
		voters[i] = raft_id_of(cfg->voters[i].node_id);
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
	};
	int rc = raft_new(&rc_cfg, hs->term ? hs : NULL, log, count, 0, &c->raft);
	if (rc != RN_OK)
		LOG_ERROR("controller", "cannot restore Raft state: %s", rn_strerror(rc));
	return rc;
}

int ctrl_open(struct node *n, struct ctrl **out)
{
	struct ctrl *c = calloc(1, sizeof(*c));
	if (!c)
		return RN_E_NOMEM;
	c->node = n;
	struct raft_hard_state hs;
	struct raft_entry *log = NULL;
	uint32_t count = 0;
	int rc = raft_store_load(n->kv, &hs, &log, &count);
	if (rc != RN_OK) {
		LOG_ERROR("controller", "cannot load Raft state from LMDB: %s", rn_strerror(rc));
		goto fail_ctrl;
	}
	rc = build_raft(c, &hs, log, count);
	raft_store_free_entries(log, count);
	if (rc != RN_OK)
		goto fail_ctrl;
	rc = meta_image_new(&c->img);
	if (rc != RN_OK)
		goto fail_raft;
	if (n->cfg.voter_count > 1 || !(n->cfg.roles & NODE_ROLE_CONTROLLER))
		LOG_WARN("controller", "this version runs single-node clusters only: Raft messages "
				       "between nodes are not sent, so with %u voter(s) and roles %s "
				       "the node waits for a leader and does not serve clients",
			 n->cfg.voter_count,
			 (n->cfg.roles & NODE_ROLE_CONTROLLER) ? "including controller" : "broker");
	c->replay_until = hs.commit;
	c->phase = CTRL_REPLAY;
	pmgr_set_live(n->pm, hs.commit == 0);
	LOG_INFO("controller", "Raft state: term %" PRIu64 ", %u log entries, commit %" PRIu64,
		 hs.term, count, hs.commit);
	c->tick_ev = event_new(n->base, -1, EV_PERSIST, tick_cb, c);
	if (!c->tick_ev) {
		rc = RN_E_NOMEM;
		goto fail_image;
	}
	struct timeval tick = {NODE_TICK_MS / 1000, (NODE_TICK_MS % 1000) * 1000};
	event_add(c->tick_ev, &tick);
	*out = c;
	n->ctrl = c;
	advance_phase(c);
	ctrl_pump(c);
	return RN_OK;

fail_image:
	meta_image_free(c->img);
fail_raft:
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
	raft_free(c->raft);
	meta_image_free(c->img);
	free(c->pending);
	free(c->pending_view);
	free(c);
}
