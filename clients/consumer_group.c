/* consumer_group.c: a consumer's membership of its group: coordinator, join and sync, heartbeats, auto commit. */
#include <stdlib.h>
#include <string.h>

#include "clients/assignor.h"
#include "clients/cgroup.h"
#include "clients/consumer_int.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"

int cgroup_subscribed(const struct cgroup *g)
{
	return g && g->topic_count > 0;
}

int cgroup_stable(const struct cgroup *g)
{
	return g && g->stable;
}

/* Splits "range, sticky" into g->strategies, checking each name. */
static int parse_strategies(struct cgroup *g, const char *list)
{
	const char *p = list && *list ? list : RUNNEL_DEFAULT_ASSIGNMENT_STRATEGY;
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *s = p;
		size_t n = len;
		while (n > 0 && *s == ' ') {
			s++;
			n--;
		}
		while (n > 0 && s[n - 1] == ' ')
			n--;
		if (n > 0) {
			if (g->strategy_count >= RUNNEL_MAX_ASSIGNORS)
				return RN_E_INVAL;
			char *name = strndup(s, n);
			if (!name)
				return RN_E_NOMEM;
			g->strategies[g->strategy_count++] = name;
			if (!assignor_find(name))
				return RN_E_INVAL;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return g->strategy_count > 0 ? 0 : RN_E_INVAL;
}

int cgroup_new(struct runnel_consumer *c, struct cgroup **out)
{
	struct cgroup *g = calloc(1, sizeof(*g));
	if (!g)
		return RN_E_NOMEM;
	g->coordinator = -1;
	g->generation = -1;
	g->keep_from_generation = -1;
	g->group_id = strdup(c->cfg.group_id);
	g->member_id = strdup("");
	int rc = g->group_id && g->member_id ? parse_strategies(g, c->cfg.assignment_strategy)
					     : RN_E_NOMEM;
	if (rc != 0) {
		cgroup_free(g);
		return rc;
	}
	/* The strings of the caller's config may go away after new. */
	c->cfg.group_id = g->group_id;
	c->cfg.assignment_strategy = NULL;
	*out = g;
	return 0;
}

static void owned_clear(struct cgroup *g)
{
	for (size_t i = 0; i < g->owned_count; i++)
		free(g->owned[i].topic);
	free(g->owned);
	g->owned = NULL;
	g->owned_count = 0;
}

static void topics_clear(struct cgroup *g)
{
	for (size_t i = 0; i < g->topic_count; i++)
		free(g->topics[i]);
	free(g->topics);
	free(g->seen_counts);
	g->topics = NULL;
	g->seen_counts = NULL;
	g->topic_count = 0;
}

void cgroup_free(struct cgroup *g)
{
	if (!g)
		return;
	owned_clear(g);
	topics_clear(g);
	for (size_t i = 0; i < g->strategy_count; i++)
		free(g->strategies[i]);
	free(g->group_id);
	free(g->member_id);
	free(g->protocol);
	free(g);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int runnel_consumer_subscribe(runnel_consumer *c, const char *const *topics, size_t count)
{
	struct cgroup *g = c->group;
	if (!g)
		return client_fail(&c->client, RN_E_INVAL, "subscribing needs a group_id");
	if (count == 0 || !topics || count > RUNNEL_MAX_SUBSCRIBED_TOPICS)
		return client_fail(&c->client, RN_E_INVAL, "subscribe to 1 to %d topics",
				   RUNNEL_MAX_SUBSCRIBED_TOPICS);
	for (size_t i = 0; i < c->part_count; i++)
		if (c->parts[i].active && !cgroup_subscribed(g))
			return client_fail(&c->client, RN_E_INVAL,
					   "partitions were assigned by hand: a consumer either "
					   "assigns or subscribes");
	for (size_t i = 0; i < count; i++)
		if (!topics[i] || !*topics[i] || strlen(topics[i]) > RN_MAX_TOPIC_NAME_LEN)
			return client_fail(&c->client, RN_E_INVAL, "bad topic name");
	char **names = calloc(count, sizeof(*names));
	int32_t *seen = malloc(count * sizeof(*seen));
	size_t n = 0;
	if (!names || !seen)
		goto fail_nomem;
	for (size_t i = 0; i < count; i++)
		if (!(names[i] = strdup(topics[i])))
			goto fail_nomem;
	qsort(names, count, sizeof(*names), str_cmp);
	/* Duplicates are dropped: the list is sorted, so they are adjacent. */
	for (size_t i = 0; i < count; i++) {
		if (n > 0 && strcmp(names[n - 1], names[i]) == 0)
			free(names[i]);
		else
			names[n++] = names[i];
	}
	for (size_t i = 0; i < n; i++)
		seen[i] = -1;
	topics_clear(g);
	g->topics = names;
	g->seen_counts = seen;
	g->topic_count = n;
	/* A changed subscription is a reason to rebalance. */
	g->need_join = 1;
	return 0;
fail_nomem:
	for (size_t i = 0; names && i < count; i++)
		free(names[i]);
	free(names);
	free(seen);
	return client_fail(&c->client, RN_E_NOMEM, "out of memory");
}

const char *runnel_consumer_member_id(const runnel_consumer *c)
{
	return c->group ? c->group->member_id : "";
}

int32_t runnel_consumer_generation(const runnel_consumer *c)
{
	return c->group && c->group->stable ? c->group->generation : -1;
}

/* ------------------------------------------------------ assignment changes */

static int tp_cmp(const void *a, const void *b)
{
	const struct runnel_topic_partition *x = a, *y = b;
	int r = strcmp(x->topic, y->topic);
	if (r != 0)
		return r;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

int runnel_consumer_assignment(const runnel_consumer *c, struct runnel_topic_partition **out,
			       size_t *count)
{
	size_t n = 0;
	struct runnel_topic_partition *list = malloc((c->part_count ? c->part_count : 1) * sizeof(*list));
	if (!list)
		return RN_E_NOMEM;
	for (size_t i = 0; i < c->part_count; i++) {
		const struct cpart *p = &c->parts[i];
		if (!p->active && !p->awaiting_offset)
			continue;
		int64_t pos = p->active && !p->need_resolve ? p->position : -1;
		list[n++] = (struct runnel_topic_partition){p->topic, p->partition, pos};
	}
	qsort(list, n, sizeof(*list), tp_cmp);
	*out = list;
	*count = n;
	return 0;
}

/* Tells the application about the partitions in parts[0..n). */
static void notify(struct runnel_consumer *c, enum runnel_rebalance_event ev,
		   const struct runnel_topic_partition *parts, size_t n)
{
	if (c->cfg.rebalance_cb)
		c->cfg.rebalance_cb(c->cfg.rebalance_opaque, c, ev, parts, n);
}

/* Tells the application its current partitions are gone (ev: revoked or
 * lost), and stops reading them.  Positions stay in the entries, so that a
 * member given the same partitions by the next generation goes on from
 * there (cgroup_apply_assignment decides). */
void cgroup_drop_assignment(struct runnel_consumer *c, enum runnel_rebalance_event ev)
{
	struct runnel_topic_partition *list = NULL;
	size_t n = 0;
	if (c->cfg.rebalance_cb && runnel_consumer_assignment(c, &list, &n) == 0) {
		notify(c, ev, list, n);
		free(list);
	}
	for (size_t i = 0; i < c->part_count; i++)
		if (c->parts[i].active || c->parts[i].awaiting_offset)
			consumer_deactivate_part(&c->parts[i]);
	c->group->stable = 0;
}

static int owned_has(const struct cgroup *g, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < g->owned_count; i++)
		if (g->owned[i].partition == partition && strcmp(g->owned[i].topic, topic) == 0)
			return 1;
	return 0;
}

/* Remembers tps[0..n) as what this member owns (for sticky and for the
 * next generation's hand-over). */
static int owned_set(struct cgroup *g, const struct runnel_topic_partition *tps, size_t n)
{
	struct cgroup_tp *nw = calloc(n ? n : 1, sizeof(*nw));
	if (!nw)
		return RN_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		nw[i].partition = tps[i].partition;
		if (!(nw[i].topic = strdup(tps[i].topic))) {
			for (size_t k = 0; k < i; k++)
				free(nw[k].topic);
			free(nw);
			return RN_E_NOMEM;
		}
	}
	owned_clear(g);
	g->owned = nw;
	g->owned_count = n;
	return 0;
}

/*
 * Makes tps[0..n) the partitions this consumer reads.  A partition this
 * member read in the generation just before keeps its position (nobody
 * else could have read it in between); every other one waits for the
 * group's committed offset.
 */
int cgroup_apply_assignment(struct runnel_consumer *c, const struct runnel_topic_partition *tps,
			    size_t n)
{
	struct cgroup *g = c->group;
	int keep = g->keep_from_generation >= 0 && g->generation == g->keep_from_generation + 1;
	for (size_t i = 0; i < n; i++) {
		struct cpart *p = NULL;
		int known = consumer_find_part(c, tps[i].topic, tps[i].partition) != NULL;
		int rc = consumer_add_part(c, tps[i].topic, tps[i].partition, &p);
		if (rc != 0)
			return rc;
		if (known && keep && owned_has(g, tps[i].topic, tps[i].partition) &&
		    (p->position >= 0 || p->need_resolve)) {
			p->active = 1;
			continue;
		}
		consumer_deactivate_part(p);
		p->awaiting_offset = 1;
		p->committed = -1;
	}
	int rc = owned_set(g, tps, n);
	if (rc != 0)
		return rc;
	g->stable = 1;
	notify(c, RUNNEL_PARTITIONS_ASSIGNED, tps, n);
	return 0;
}

/* ----------------------------------------------------------- error policy */

enum cgroup_next cgroup_classify(int err)
{
	switch (err) {
	case 0:
		return CGROUP_OK;
	case RN_E_AGAIN:
	case RN_E_COORDINATOR_LOAD_IN_PROGRESS:
		return CGROUP_RETRY;
	case RN_E_NOT_COORDINATOR:
	case RN_E_COORDINATOR_NOT_AVAILABLE:
	case RN_E_CONNECT:
	case RN_E_NETWORK_EXCEPTION:
	case RN_E_REQUEST_TIMED_OUT:
	case RN_E_CLOSED:
	case RN_E_BROKER_NOT_AVAILABLE:
	case RN_E_TIMEOUT:
	case RN_E_SHUTTING_DOWN:
	case RN_E_FULL:
		return CGROUP_FIND;
	case RN_E_REBALANCE_IN_PROGRESS:
		return CGROUP_REJOIN;
	case RN_E_ILLEGAL_GENERATION:
		return CGROUP_LOST;
	case RN_E_UNKNOWN_MEMBER_ID:
		return CGROUP_RESET;
	default:
		return CGROUP_FATAL;
	}
}

/* Acts on an error of the coordinator or of the way to it.  Returns the
 * error when poll must report it (fatal), else 0. */
int cgroup_handle_error(struct runnel_consumer *c, int err)
{
	struct cgroup *g = c->group;
	int64_t now = rn_mono_ms();
	switch (cgroup_classify(err)) {
	case CGROUP_OK:
		return 0;
	case CGROUP_RETRY:
		if (err != RN_E_AGAIN)
			g->retry_at_ms = now + c->cfg.retry_backoff_ms;
		return 0;
	case CGROUP_FIND:
		g->coordinator = -1;
		g->retry_at_ms = now + c->cfg.retry_backoff_ms;
		return 0;
	case CGROUP_REJOIN:
		g->need_join = 1;
		return 0;
	case CGROUP_RESET:
		free(g->member_id);
		g->member_id = strdup("");
		if (!g->member_id)
			return RN_E_NOMEM;
		/* The old membership is gone with its id. */
		__attribute__((fallthrough));
	case CGROUP_LOST:
		if (g->stable)
			cgroup_drop_assignment(c, RUNNEL_PARTITIONS_LOST);
		/* A claim on partitions of a generation that is gone would only
		 * mislead the sticky assignor. */
		owned_clear(g);
		g->generation = -1;
		g->keep_from_generation = -1;
		g->need_join = 1;
		return 0;
	case CGROUP_FATAL:
		break;
	}
	return err;
}

/* ---------------------------------------------------- talking to the node */

struct gcall {
	int done;
	int abandoned;
	int err;
	Runnel__Response *resp;
};

static void gcall_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct gcall *w = opaque;
	if (w->abandoned) {
		if (resp)
			runnel__response__free_unpacked(resp, NULL);
		free(w);
		return;
	}
	w->done = 1;
	w->err = err;
	w->resp = resp;
}

/* Waits until the coordinator's connection takes a request.  Returns 0,
 * RN_E_AGAIN (a signal, when interruptible), RN_E_TIMEOUT, or the
 * connection's error: a coordinator that cannot be reached is looked up
 * again rather than waited for. */
static int wait_sendable(struct client *cl, struct conn *cn, int64_t deadline, int interruptible)
{
	for (;;) {
		int64_t now = rn_mono_ms();
		int rc = conn_ensure(cn, now);
		if (rc != 0)
			return client_fail(cl, rc, "coordinator: %s", cn->errmsg);
		if (conn_can_send(cn))
			return 0;
		if (cn->state == CONN_DOWN)
			return client_fail(cl, cn->last_err ? cn->last_err : RN_E_CONNECT, "coordinator: %s",
					   cn->errmsg[0] ? cn->errmsg : "cannot connect");
		if (now >= deadline)
			return client_fail(cl, RN_E_TIMEOUT, "no connection to the coordinator in time");
		if (interruptible && cl->interrupted)
			return RN_E_AGAIN;
		int64_t wait = deadline - now;
		client_poll(cl, (int)(wait < CGROUP_WAIT_SLICE_MS ? wait : CGROUP_WAIT_SLICE_MS));
	}
}

int cgroup_call(struct runnel_consumer *c, Runnel__Request *req, int32_t api_key,
		int64_t deadline_ms, int interruptible, Runnel__Response **out)
{
	struct client *cl = &c->client;
	struct conn *cn = client_conn(cl, c->group->coordinator);
	if (!cn)
		return client_fail(cl, RN_E_COORDINATOR_NOT_AVAILABLE,
				   "the address of coordinator node %d is not known", c->group->coordinator);
	int rc = wait_sendable(cl, cn, deadline_ms, interruptible);
	if (rc != 0)
		return rc;
	struct gcall *w = calloc(1, sizeof(*w));
	if (!w)
		return client_fail(cl, RN_E_NOMEM, "out of memory");
	rc = client_send_until(cl, cn, req, api_key, deadline_ms, gcall_cb, w);
	if (rc != 0) {
		free(w);
		return client_fail(cl, rc, "cannot send to the coordinator: %s", rn_strerror(rc));
	}
	while (!w->done) {
		if (interruptible && cl->interrupted) {
			/* The answer, when it comes, is dropped by the callback. */
			w->abandoned = 1;
			return RN_E_AGAIN;
		}
		client_poll(cl, CGROUP_WAIT_SLICE_MS);
	}
	int err = w->err;
	Runnel__Response *resp = w->resp;
	free(w);
	if (err != 0 && !resp)
		return client_fail(cl, err, "coordinator: %s", cn->errmsg[0] ? cn->errmsg : rn_strerror(err));
	if (err != 0) {
		client_fail_wire(cl, err, resp->error_message, "coordinator");
		runnel__response__free_unpacked(resp, NULL);
		return err;
	}
	if ((int32_t)resp->body_case != api_key + 100) {
		runnel__response__free_unpacked(resp, NULL);
		return client_fail(cl, RN_E_MALFORMED_FRAME, "the coordinator answered with the wrong body");
	}
	*out = resp;
	return 0;
}

int cgroup_find_coordinator(struct runnel_consumer *c, int64_t deadline_ms)
{
	struct cgroup *g = c->group;
	struct client *cl = &c->client;
	Runnel__FindCoordinatorRequest fr = RUNNEL__FIND_COORDINATOR_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__Response *resp = NULL;
	fr.key = g->group_id;
	fr.key_type = 0;
	req.body_case = RUNNEL__REQUEST__BODY_FIND_COORDINATOR;
	req.find_coordinator = &fr;
	int64_t left = deadline_ms - rn_mono_ms();
	if (left > cl->cfg.metadata_timeout_ms)
		left = cl->cfg.metadata_timeout_ms;
	if (left < 1)
		left = 1;
	int rc = client_request_any_sync(cl, &req, RUNNEL__API_KEY__API_FIND_COORDINATOR, &resp,
					 (int)left);
	if (rc != 0)
		return rc;
	const Runnel__FindCoordinatorResponse *fc = resp->find_coordinator;
	rc = rn_err_from_wire(fc->error_code);
	if (rc == 0 && fc->node_id < 0)
		rc = RN_E_COORDINATOR_NOT_AVAILABLE;
	if (rc != 0) {
		client_fail_wire(cl, rc, fc->error_message, "find coordinator");
	} else {
		/* A node the metadata did not list yet is reached at the
		 * address the answer gives. */
		client_learn_address(cl, fc->node_id, fc->host, fc->port);
		g->coordinator = fc->node_id;
	}
	runnel__response__free_unpacked(resp, NULL);
	return rc;
}

/* ------------------------------------------------------------ heartbeats */

struct async_ctx {
	struct runnel_consumer *c;
	uint32_t epoch;
	size_t count;
	struct {
		size_t part;
		int64_t offset;
	} items[];
};

/* An error from an asynchronous answer, kept for the next step: the
 * callbacks run inside client_poll, where nothing may be sent. */
static void note_async_error(struct cgroup *g, uint32_t epoch, int err)
{
	if (err != 0 && epoch == g->epoch && g->async_err == 0)
		g->async_err = err;
}

static void heartbeat_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct async_ctx *ctx = opaque;
	struct cgroup *g = ctx->c->group;
	g->heartbeat_inflight = 0;
	if (err == 0 && resp->body_case != RUNNEL__RESPONSE__BODY_HEARTBEAT)
		err = RN_E_MALFORMED_FRAME;
	if (err == 0)
		err = rn_err_from_wire(resp->heartbeat->error_code);
	note_async_error(g, ctx->epoch, err);
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	free(ctx);
}

static void send_heartbeat(struct runnel_consumer *c, int64_t now)
{
	struct cgroup *g = c->group;
	if (g->heartbeat_inflight || now < g->next_heartbeat_ms)
		return;
	struct conn *cn = client_conn(&c->client, g->coordinator);
	if (!cn || conn_ensure(cn, now) != 0 || !conn_can_send(cn))
		return;
	struct async_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return;
	ctx->c = c;
	ctx->epoch = g->epoch;
	Runnel__HeartbeatRequest hr = RUNNEL__HEARTBEAT_REQUEST__INIT;
	hr.group_id = g->group_id;
	hr.generation_id = g->generation;
	hr.member_id = g->member_id;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_HEARTBEAT;
	req.heartbeat = &hr;
	if (client_send(&c->client, cn, &req, RUNNEL__API_KEY__API_HEARTBEAT, heartbeat_cb, ctx) != 0) {
		free(ctx);
		return;
	}
	g->heartbeat_inflight = 1;
	g->next_heartbeat_ms = now + c->cfg.heartbeat_interval_ms;
}

/* ------------------------------------------------------------ auto commit */

static void auto_commit_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct async_ctx *ctx = opaque;
	struct runnel_consumer *c = ctx->c;
	c->group->commit_inflight = 0;
	if (err == 0 && resp->body_case != RUNNEL__RESPONSE__BODY_OFFSET_COMMIT)
		err = RN_E_MALFORMED_FRAME;
	if (err == 0)
		err = cgroup_commit_result(c, resp->offset_commit);
	if (err == 0)
		for (size_t i = 0; i < ctx->count; i++)
			c->parts[ctx->items[i].part].committed = ctx->items[i].offset;
	else if (cgroup_classify(err) == CGROUP_FATAL)
		client_fail(&c->client, err, "auto commit failed: %s", rn_strerror(err));
	else
		note_async_error(c->group, ctx->epoch, err);
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	free(ctx);
}

static void send_auto_commit(struct runnel_consumer *c, int64_t now)
{
	struct cgroup *g = c->group;
	if (!c->cfg.enable_auto_commit || g->commit_inflight || now < g->next_commit_ms)
		return;
	g->next_commit_ms = now + c->cfg.auto_commit_interval_ms;
	struct conn *cn = client_conn(&c->client, g->coordinator);
	if (!cn || conn_ensure(cn, now) != 0 || !conn_can_send(cn))
		return;
	struct async_ctx *ctx = malloc(sizeof(*ctx) + c->part_count * sizeof(ctx->items[0]));
	struct runnel_topic_partition *tps = malloc((c->part_count ? c->part_count : 1) * sizeof(*tps));
	size_t n = 0;
	if (!ctx || !tps)
		goto out;
	for (size_t i = 0; i < c->part_count; i++) {
		const struct cpart *p = &c->parts[i];
		/* Only what moved since the last commit. */
		if (!p->active || p->need_resolve || p->position < 0 || p->position == p->committed)
			continue;
		tps[n] = (struct runnel_topic_partition){p->topic, p->partition, p->position};
		ctx->items[n].part = i;
		ctx->items[n].offset = p->position;
		n++;
	}
	if (n == 0)
		goto out;
	ctx->c = c;
	ctx->epoch = g->epoch;
	ctx->count = n;
	if (cgroup_send_commit(c, cn, tps, n, auto_commit_cb, ctx) == 0) {
		g->commit_inflight = 1;
		ctx = NULL;
	}
out:
	free(tps);
	free(ctx);
}

/* -------------------------------------------------------- metadata changes */

/* The partition count of each subscribed topic in the metadata cache
 * (-1: not known yet), into counts[0..topic_count). */
static void current_counts(const struct runnel_consumer *c, int32_t *counts)
{
	const struct cgroup *g = c->group;
	for (size_t i = 0; i < g->topic_count; i++) {
		const struct client_topic *t = client_topic_find(&c->client, g->topics[i]);
		counts[i] = !t ? -1 : t->error != 0 ? 0 : t->partition_count;
	}
}

void cgroup_snapshot_counts(struct runnel_consumer *c)
{
	current_counts(c, c->group->seen_counts);
	c->group->seen_metadata_version = c->client.metadata_version;
}

/* Asks for the subscribed topics' metadata now and then, and rejoins when
 * a topic appeared or its partition count changed: the leader must then
 * assign the new partitions. */
static void watch_metadata(struct runnel_consumer *c, int64_t now)
{
	struct cgroup *g = c->group;
	if (c->client.metadata_version != g->seen_metadata_version) {
		int32_t counts[RUNNEL_MAX_SUBSCRIBED_TOPICS];
		current_counts(c, counts);
		for (size_t i = 0; i < g->topic_count; i++) {
			if (counts[i] >= 0 && counts[i] != g->seen_counts[i]) {
				g->need_join = 1;
				break;
			}
		}
		g->seen_metadata_version = c->client.metadata_version;
		memcpy(g->seen_counts, counts, g->topic_count * sizeof(*counts));
	}
	if (now >= g->next_metadata_ms) {
		client_metadata_refresh_async(&c->client, (const char *const *)g->topics,
					      g->topic_count);
		g->next_metadata_ms = now + c->cfg.metadata_max_age_ms;
	}
}

/* ------------------------------------------------------------------ step */

/* The partitions waiting for their committed offsets, or none. */
static int any_awaiting(const struct runnel_consumer *c)
{
	for (size_t i = 0; i < c->part_count; i++)
		if (c->parts[i].awaiting_offset)
			return 1;
	return 0;
}

int cgroup_step(struct runnel_consumer *c)
{
	struct cgroup *g = c->group;
	client_poll(&c->client, 0);
	if (!cgroup_subscribed(g))
		return 0;
	if (g->async_err) {
		int err = g->async_err;
		g->async_err = 0;
		int rc = cgroup_handle_error(c, err);
		if (rc != 0)
			return rc;
	}
	int64_t now = rn_mono_ms();
	if (now < g->retry_at_ms)
		return 0;
	int rc = 0;
	if (g->coordinator < 0) {
		rc = cgroup_find_coordinator(c, now + c->client.cfg.metadata_timeout_ms);
		if (rc != 0 || g->coordinator < 0)
			return cgroup_handle_error(c, rc ? rc : RN_E_COORDINATOR_NOT_AVAILABLE);
	}
	if (g->need_join || !g->stable) {
		rc = cgroup_rejoin(c);
		if (rc != 0 || !g->stable)
			return rc;
	}
	if (any_awaiting(c)) {
		rc = cgroup_fetch_awaiting(c);
		if (rc != 0)
			return rc;
	}
	now = rn_mono_ms();
	send_heartbeat(c, now);
	send_auto_commit(c, now);
	watch_metadata(c, now);
	return 0;
}
