/* consumer_join.c: joining a group: JoinGroup, the leader's assignment, SyncGroup. */
#include <stdlib.h>
#include <string.h>

#include "clients/assignor.h"
#include "clients/cgroup.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

/* Topic-partition lists as repeated TopicPartitions (subscriptions'
 * owned partitions and assignments). */
struct tps_buf {
	Runnel__TopicPartitions *items;
	Runnel__TopicPartitions **ptrs;
	int32_t *parts;
	size_t count;
};

static void tps_free(struct tps_buf *b)
{
	free(b->items);
	free(b->ptrs);
	free(b->parts);
	memset(b, 0, sizeof(*b));
}

/* Groups tps[0..n), in which equal topics are adjacent, into b; the topic
 * strings are borrowed.  Returns 0 or RN_E_NOMEM. */
static int tps_build(struct tps_buf *b, const struct runnel_topic_partition *tps, size_t n)
{
	size_t groups = 0;
	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(tps[i].topic, tps[i - 1].topic) != 0)
			groups++;
	b->items = calloc(groups ? groups : 1, sizeof(*b->items));
	b->ptrs = calloc(groups ? groups : 1, sizeof(*b->ptrs));
	b->parts = malloc((n ? n : 1) * sizeof(*b->parts));
	if (!b->items || !b->ptrs || !b->parts) {
		tps_free(b);
		return RN_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(tps[i].topic, tps[i - 1].topic) != 0) {
			Runnel__TopicPartitions *t = &b->items[b->count];
			runnel__topic_partitions__init(t);
			t->topic = (char *)tps[i].topic;
			t->partitions = &b->parts[i];
			b->ptrs[b->count++] = t;
		}
		b->parts[i] = tps[i].partition;
		b->items[b->count - 1].n_partitions++;
	}
	return 0;
}

static int tp_order(const void *a, const void *b)
{
	const struct runnel_topic_partition *x = a, *y = b;
	int r = strcmp(x->topic, y->topic);
	return r ? r : (x->partition > y->partition) - (x->partition < y->partition);
}

/* This member's ConsumerSubscription: its topics, and for the sticky
 * assignor what it owned and in which generation.  *out is malloc'd. */
static int pack_subscription(const struct cgroup *g, ProtobufCBinaryData *out)
{
	struct runnel_topic_partition *own = malloc((g->owned_count ? g->owned_count : 1) * sizeof(*own));
	struct tps_buf b = {0};
	if (!own)
		return RN_E_NOMEM;
	for (size_t i = 0; i < g->owned_count; i++)
		own[i] = (struct runnel_topic_partition){g->owned[i].topic, g->owned[i].partition, -1};
	qsort(own, g->owned_count, sizeof(*own), tp_order);
	int rc = tps_build(&b, own, g->owned_count);
	if (rc == 0) {
		Runnel__ConsumerSubscription s = RUNNEL__CONSUMER_SUBSCRIPTION__INIT;
		s.n_topics = g->topic_count;
		s.topics = g->topics;
		s.n_owned_partitions = b.count;
		s.owned_partitions = b.ptrs;
		s.generation_id = g->generation;
		out->len = runnel__consumer_subscription__get_packed_size(&s);
		out->data = malloc(out->len ? out->len : 1);
		if (out->data)
			runnel__consumer_subscription__pack(&s, out->data);
		else
			rc = RN_E_NOMEM;
	}
	tps_free(&b);
	free(own);
	return rc;
}

/* Sends JoinGroup and waits for the answer (the coordinator holds it until
 * the rebalance completes).  Adopts the member id the answer carries, even
 * with an error.  Returns 0 with *out set, or the error. */
static int join(struct runnel_consumer *c, Runnel__Response **out)
{
	struct cgroup *g = c->group;
	ProtobufCBinaryData sub = {0, NULL};
	Runnel__JoinGroupProtocol protos[RUNNEL_MAX_ASSIGNORS];
	Runnel__JoinGroupProtocol *pp[RUNNEL_MAX_ASSIGNORS];
	Runnel__Response *resp = NULL;
	int rc = pack_subscription(g, &sub);
	if (rc != 0)
		return client_fail(&c->client, rc, "out of memory");
	for (size_t i = 0; i < g->strategy_count; i++) {
		runnel__join_group_protocol__init(&protos[i]);
		protos[i].name = g->strategies[i];
		protos[i].metadata = sub;
		pp[i] = &protos[i];
	}
	Runnel__JoinGroupRequest jr = RUNNEL__JOIN_GROUP_REQUEST__INIT;
	jr.group_id = g->group_id;
	jr.session_timeout_ms = c->cfg.session_timeout_ms;
	jr.rebalance_timeout_ms = c->cfg.rebalance_timeout_ms;
	jr.member_id = g->member_id;
	jr.protocol_type = CGROUP_PROTOCOL_TYPE;
	jr.n_protocols = g->strategy_count;
	jr.protocols = pp;
	jr.client_id = c->client.client_id;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_JOIN_GROUP;
	req.join_group = &jr;
	int64_t deadline = rn_mono_ms() + c->cfg.rebalance_timeout_ms + CGROUP_JOIN_EXTRA_MS;
	rc = cgroup_call(c, &req, RUNNEL__API_KEY__API_JOIN_GROUP, deadline, 1, &resp);
	free(sub.data);
	if (rc != 0)
		return rc;
	const Runnel__JoinGroupResponse *r = resp->join_group;
	if (r->member_id && *r->member_id && strcmp(r->member_id, g->member_id) != 0) {
		char *id = strdup(r->member_id);
		if (id) {
			free(g->member_id);
			g->member_id = id;
		}
	}
	rc = rn_err_from_wire(r->error_code);
	if (rc != 0) {
		client_fail_wire(&c->client, rc, r->error_message, "join group");
		runnel__response__free_unpacked(resp, NULL);
		return rc;
	}
	*out = resp;
	return 0;
}

/* ---------------------------------------------------- the leader's part */

/* Everything the leader decodes and builds to compute an assignment. */
struct lead {
	size_t n;
	Runnel__ConsumerSubscription **subs; /* per member; NULL: undecodable */
	const char **names;                  /* topics of all members, sorted */
	size_t name_count;
	struct assignor_topic *topics;
	struct assignor_member *members;
	int32_t **member_topics;
	struct assignor_tp **owned;
	struct assignor_assignment *out;
	int assigned;
};

static void lead_free(struct lead *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->subs && l->subs[i])
			runnel__consumer_subscription__free_unpacked(l->subs[i], NULL);
		if (l->member_topics)
			free(l->member_topics[i]);
		if (l->owned)
			free(l->owned[i]);
	}
	if (l->assigned)
		assignor_free(l->out, l->n);
	free(l->subs);
	free(l->names);
	free(l->topics);
	free(l->members);
	free(l->member_topics);
	free(l->owned);
	free(l->out);
}

static int cstr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int32_t topic_index(const struct lead *l, const char *name)
{
	const char **hit = bsearch(&name, l->names, l->name_count, sizeof(*l->names), cstr_cmp);
	return hit ? (int32_t)(hit - l->names) : -1;
}

/* Decodes every member's subscription and collects the topic names. */
static int lead_decode(struct lead *l, const Runnel__JoinGroupResponse *jr)
{
	size_t total = 0;
	l->n = jr->n_members;
	if (l->n > ASSIGNOR_MAX_MEMBERS)
		return RN_E_INVAL;
	l->subs = calloc(l->n ? l->n : 1, sizeof(*l->subs));
	l->member_topics = calloc(l->n ? l->n : 1, sizeof(*l->member_topics));
	l->owned = calloc(l->n ? l->n : 1, sizeof(*l->owned));
	l->members = calloc(l->n ? l->n : 1, sizeof(*l->members));
	l->out = calloc(l->n ? l->n : 1, sizeof(*l->out));
	if (!l->subs || !l->member_topics || !l->owned || !l->members || !l->out)
		return RN_E_NOMEM;
	for (size_t i = 0; i < l->n; i++) {
		const ProtobufCBinaryData *md = &jr->members[i]->metadata;
		/* A member whose subscription does not decode gets nothing
		 * rather than failing the whole group. */
		l->subs[i] = runnel__consumer_subscription__unpack(NULL, md->len, md->data);
		if (l->subs[i])
			total += l->subs[i]->n_topics;
	}
	l->names = malloc((total ? total : 1) * sizeof(*l->names));
	if (!l->names)
		return RN_E_NOMEM;
	for (size_t i = 0; i < l->n; i++)
		for (size_t k = 0; l->subs[i] && k < l->subs[i]->n_topics; k++)
			l->names[l->name_count++] = l->subs[i]->topics[k];
	qsort(l->names, l->name_count, sizeof(*l->names), cstr_cmp);
	size_t u = 0;
	for (size_t i = 0; i < l->name_count; i++)
		if (u == 0 || strcmp(l->names[u - 1], l->names[i]) != 0)
			l->names[u++] = l->names[i];
	l->name_count = u;
	return 0;
}

/* Learns each topic's partition count from fresh metadata (0 when the
 * topic does not exist). */
static int lead_counts(struct runnel_consumer *c, struct lead *l)
{
	l->topics = calloc(l->name_count ? l->name_count : 1, sizeof(*l->topics));
	if (!l->topics)
		return RN_E_NOMEM;
	if (l->name_count > 0) {
		int rc = client_metadata_refresh(&c->client, l->names, l->name_count, 0, NULL);
		if (rc != 0)
			return rc;
	}
	for (size_t t = 0; t < l->name_count; t++) {
		const struct client_topic *ct = client_topic_find(&c->client, l->names[t]);
		l->topics[t].name = l->names[t];
		l->topics[t].partition_count = ct && ct->error == 0 ? ct->partition_count : 0;
	}
	return 0;
}

/* Fills member i's subscription and owned partitions as topic indexes. */
static int lead_member(struct lead *l, size_t i, const Runnel__JoinGroupMember *jm)
{
	const Runnel__ConsumerSubscription *s = l->subs[i];
	size_t nt = s ? s->n_topics : 0, no = 0;
	for (size_t k = 0; s && k < s->n_owned_partitions; k++)
		no += s->owned_partitions[k]->n_partitions;
	l->member_topics[i] = malloc((nt ? nt : 1) * sizeof(int32_t));
	l->owned[i] = malloc((no ? no : 1) * sizeof(struct assignor_tp));
	if (!l->member_topics[i] || !l->owned[i])
		return RN_E_NOMEM;
	struct assignor_member *m = &l->members[i];
	m->member_id = jm->member_id;
	m->topics = l->member_topics[i];
	m->owned = l->owned[i];
	m->generation = s ? s->generation_id : -1;
	for (size_t k = 0; k < nt; k++)
		l->member_topics[i][m->topic_count++] = topic_index(l, s->topics[k]);
	for (size_t k = 0; s && k < s->n_owned_partitions; k++) {
		const Runnel__TopicPartitions *tp = s->owned_partitions[k];
		int32_t t = topic_index(l, tp->topic);
		for (size_t j = 0; t >= 0 && j < tp->n_partitions; j++)
			l->owned[i][m->owned_count++] = (struct assignor_tp){t, tp->partitions[j]};
	}
	return 0;
}

/* Packs member i's share as a ConsumerAssignment into *out (malloc'd). */
static int pack_assignment(const struct lead *l, size_t i, ProtobufCBinaryData *out)
{
	const struct assignor_assignment *a = &l->out[i];
	struct runnel_topic_partition *tps = malloc((a->count ? a->count : 1) * sizeof(*tps));
	struct tps_buf b = {0};
	if (!tps)
		return RN_E_NOMEM;
	/* The assignors sort by topic index, and the indexes follow the
	 * sorted names, so equal topics are adjacent. */
	for (size_t k = 0; k < a->count; k++)
		tps[k] = (struct runnel_topic_partition){l->names[a->parts[k].topic], a->parts[k].partition, -1};
	int rc = tps_build(&b, tps, a->count);
	if (rc == 0) {
		Runnel__ConsumerAssignment ca = RUNNEL__CONSUMER_ASSIGNMENT__INIT;
		ca.n_partitions = b.count;
		ca.partitions = b.ptrs;
		out->len = runnel__consumer_assignment__get_packed_size(&ca);
		out->data = malloc(out->len ? out->len : 1);
		if (out->data)
			runnel__consumer_assignment__pack(&ca, out->data);
		else
			rc = RN_E_NOMEM;
	}
	tps_free(&b);
	free(tps);
	return rc;
}

/* SyncGroup's assignments from the leader. */
struct sync_plan {
	Runnel__SyncGroupAssignment *items;
	Runnel__SyncGroupAssignment **ptrs;
	size_t n;
};

static void sync_plan_free(struct sync_plan *sp)
{
	for (size_t i = 0; sp->items && i < sp->n; i++)
		free(sp->items[i].assignment.data);
	free(sp->items);
	free(sp->ptrs);
	memset(sp, 0, sizeof(*sp));
}

/* The leader member: runs the chosen assignor over every member's
 * subscription and packs each member's share. */
static int lead_assign(struct runnel_consumer *c, const Runnel__JoinGroupResponse *jr,
		       struct sync_plan *sp)
{
	struct lead l = {0};
	assignor_fn fn = assignor_find(jr->protocol_name);
	int rc = fn ? lead_decode(&l, jr) : RN_E_INCONSISTENT_GROUP_PROTOCOL;
	if (rc == 0)
		rc = lead_counts(c, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		rc = lead_member(&l, i, jr->members[i]);
	if (rc == 0)
		rc = fn(l.members, l.n, l.topics, l.name_count, l.out);
	l.assigned = rc == 0;
	sp->items = calloc(l.n ? l.n : 1, sizeof(*sp->items));
	sp->ptrs = calloc(l.n ? l.n : 1, sizeof(*sp->ptrs));
	if (rc == 0 && (!sp->items || !sp->ptrs))
		rc = RN_E_NOMEM;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		runnel__sync_group_assignment__init(&sp->items[i]);
		sp->items[i].member_id = jr->members[i]->member_id;
		sp->ptrs[i] = &sp->items[i];
		sp->n = i + 1;
		rc = pack_assignment(&l, i, &sp->items[i].assignment);
	}
	if (rc == 0)
		LOG_DEBUG("consumer", "group %s generation %d: assigned %zu members with %s",
			 c->group->group_id, jr->generation_id, l.n, jr->protocol_name);
	else
		client_fail(&c->client, rc, "assigning partitions with %s failed: %s",
			    jr->protocol_name ? jr->protocol_name : "?", rn_strerror(rc));
	lead_free(&l);
	return rc;
}

/* ------------------------------------------------------------- syncing */

static int sync_group(struct runnel_consumer *c, const struct sync_plan *sp, Runnel__Response **out)
{
	struct cgroup *g = c->group;
	Runnel__Response *resp = NULL;
	Runnel__SyncGroupRequest sr = RUNNEL__SYNC_GROUP_REQUEST__INIT;
	sr.group_id = g->group_id;
	sr.generation_id = g->generation;
	sr.member_id = g->member_id;
	sr.protocol_type = CGROUP_PROTOCOL_TYPE;
	sr.protocol_name = g->protocol;
	sr.n_assignments = sp->n;
	sr.assignments = sp->ptrs;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_SYNC_GROUP;
	req.sync_group = &sr;
	int64_t deadline = rn_mono_ms() + c->cfg.rebalance_timeout_ms + CGROUP_JOIN_EXTRA_MS;
	int rc = cgroup_call(c, &req, RUNNEL__API_KEY__API_SYNC_GROUP, deadline, 1, &resp);
	if (rc != 0)
		return rc;
	rc = rn_err_from_wire(resp->sync_group->error_code);
	if (rc != 0) {
		client_fail_wire(&c->client, rc, resp->sync_group->error_message, "sync group");
		runnel__response__free_unpacked(resp, NULL);
		return rc;
	}
	*out = resp;
	return 0;
}

/* Decodes this member's share and makes it the assignment. */
static int take_assignment(struct runnel_consumer *c, const ProtobufCBinaryData *bytes)
{
	Runnel__ConsumerAssignment *ca = runnel__consumer_assignment__unpack(NULL, bytes->len, bytes->data);
	if (!ca)
		return client_fail(&c->client, RN_E_MALFORMED_FRAME, "the group's assignment does not decode");
	size_t n = 0;
	for (size_t i = 0; i < ca->n_partitions; i++)
		n += ca->partitions[i]->n_partitions;
	struct runnel_topic_partition *tps = malloc((n ? n : 1) * sizeof(*tps));
	int rc = RN_E_NOMEM;
	if (tps) {
		n = 0;
		for (size_t i = 0; i < ca->n_partitions; i++) {
			const Runnel__TopicPartitions *tp = ca->partitions[i];
			for (size_t k = 0; k < tp->n_partitions; k++)
				if (tp->topic && *tp->topic && tp->partitions[k] >= 0)
					tps[n++] = (struct runnel_topic_partition){tp->topic, tp->partitions[k], -1};
		}
		qsort(tps, n, sizeof(*tps), tp_order);
		rc = cgroup_apply_assignment(c, tps, n);
	}
	free(tps);
	runnel__consumer_assignment__free_unpacked(ca, NULL);
	return rc;
}

/* Before rejoining: the positions are committed (with auto commit) so
 * that whoever gets a partition next starts where this member stopped, and
 * the application hears that its partitions are revoked. */
static void prepare_rejoin(struct runnel_consumer *c)
{
	struct cgroup *g = c->group;
	if (!g->stable)
		return;
	if (c->cfg.enable_auto_commit) {
		int rc = runnel_consumer_commit(c, NULL, 0, c->client.cfg.request_timeout_ms);
		enum cgroup_next next = cgroup_classify(rc);
		if (next == CGROUP_LOST || next == CGROUP_RESET) {
			cgroup_handle_error(c, rc);
			return;
		}
	}
	g->keep_from_generation = g->generation;
	cgroup_drop_assignment(c, RUNNEL_PARTITIONS_REVOKED);
}

/* After a successful sync: timers start, partition counts are noted. */
static void joined(struct runnel_consumer *c)
{
	struct cgroup *g = c->group;
	int64_t now = rn_mono_ms();
	g->need_join = 0;
	g->keep_from_generation = -1;
	g->next_heartbeat_ms = now + c->cfg.heartbeat_interval_ms;
	g->next_commit_ms = now + c->cfg.auto_commit_interval_ms;
	g->next_metadata_ms = now + c->cfg.metadata_max_age_ms;
	/* A failed refresh leaves counts unknown; the next periodic one
	 * fills them. */
	client_metadata_refresh(&c->client, (const char *const *)g->topics, g->topic_count, 0, NULL);
	cgroup_snapshot_counts(c);
	LOG_DEBUG("consumer", "group %s: member %s joined generation %d with %zu partitions",
		 g->group_id, g->member_id, g->generation, g->owned_count);
}

int cgroup_rejoin(struct runnel_consumer *c)
{
	struct cgroup *g = c->group;
	Runnel__Response *jresp = NULL, *sresp = NULL;
	struct sync_plan sp = {0};
	prepare_rejoin(c);
	g->epoch++;
	g->need_join = 1;
	int rc = join(c, &jresp);
	if (rc != 0)
		return cgroup_handle_error(c, rc);
	const Runnel__JoinGroupResponse *jr = jresp->join_group;
	char *proto = strdup(jr->protocol_name ? jr->protocol_name : "");
	if (!proto) {
		rc = RN_E_NOMEM;
		goto out;
	}
	free(g->protocol);
	g->protocol = proto;
	g->generation = jr->generation_id;
	if (jr->leader && strcmp(jr->leader, g->member_id) == 0) {
		rc = lead_assign(c, jr, &sp);
		if (rc != 0)
			goto out_retry;
	}
	rc = sync_group(c, &sp, &sresp);
	if (rc != 0)
		goto out_retry;
	rc = take_assignment(c, &sresp->sync_group->assignment);
	if (rc == 0)
		joined(c);
	goto out;
out_retry:
	rc = cgroup_handle_error(c, rc);
out:
	sync_plan_free(&sp);
	if (sresp)
		runnel__response__free_unpacked(sresp, NULL);
	runnel__response__free_unpacked(jresp, NULL);
	return rc;
}
