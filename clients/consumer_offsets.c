/* consumer_offsets.c: a consumer's committed offsets (OffsetCommit, OffsetFetch) and leaving its group. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cgroup.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"

static int tp_order(const void *a, const void *b)
{
	const struct runnel_topic_partition *x = a, *y = b;
	int r = strcmp(x->topic, y->topic);
	return r ? r : (x->partition > y->partition) - (x->partition < y->partition);
}

/* An OffsetCommitRequest (or OffsetFetchRequest) and the arrays it points
 * into, built from a sorted copy of the caller's list. */
struct offsets_req {
	struct runnel_topic_partition *tps;
	size_t n;
	size_t topic_count;
	Runnel__OffsetCommitTopic *ct;
	Runnel__OffsetCommitTopic **ctp;
	Runnel__OffsetCommitPartition *cp;
	Runnel__OffsetCommitPartition **cpp;
	Runnel__OffsetFetchTopic *ft;
	Runnel__OffsetFetchTopic **ftp;
	int32_t *fparts;
};

static void offsets_req_free(struct offsets_req *o)
{
	free(o->tps);
	free(o->ct);
	free(o->ctp);
	free(o->cp);
	free(o->cpp);
	free(o->ft);
	free(o->ftp);
	free(o->fparts);
	memset(o, 0, sizeof(*o));
}

static int offsets_req_sort(struct offsets_req *o, const struct runnel_topic_partition *tps, size_t n)
{
	memset(o, 0, sizeof(*o));
	o->tps = malloc((n ? n : 1) * sizeof(*o->tps));
	if (!o->tps)
		return RN_E_NOMEM;
	memcpy(o->tps, tps, n * sizeof(*tps));
	qsort(o->tps, n, sizeof(*o->tps), tp_order);
	o->n = n;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(o->tps[i].topic, o->tps[i - 1].topic) != 0)
			o->topic_count++;
	return 0;
}

static int commit_req_build(struct offsets_req *o, const struct runnel_topic_partition *tps, size_t n)
{
	if (offsets_req_sort(o, tps, n) != 0)
		return RN_E_NOMEM;
	size_t t = o->topic_count ? o->topic_count : 1;
	o->ct = calloc(t, sizeof(*o->ct));
	o->ctp = calloc(t, sizeof(*o->ctp));
	o->cp = calloc(n ? n : 1, sizeof(*o->cp));
	o->cpp = calloc(n ? n : 1, sizeof(*o->cpp));
	if (!o->ct || !o->ctp || !o->cp || !o->cpp)
		return RN_E_NOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(o->tps[i].topic, o->tps[i - 1].topic) != 0) {
			runnel__offset_commit_topic__init(&o->ct[k]);
			o->ct[k].name = (char *)o->tps[i].topic;
			o->ct[k].partitions = &o->cpp[i];
			o->ctp[k] = &o->ct[k];
			k++;
		}
		runnel__offset_commit_partition__init(&o->cp[i]);
		o->cp[i].partition = o->tps[i].partition;
		o->cp[i].committed_offset = o->tps[i].offset;
		o->cp[i].committed_leader_epoch = -1;
		o->cpp[i] = &o->cp[i];
		o->ct[k - 1].n_partitions++;
	}
	return 0;
}

static int fetch_req_build(struct offsets_req *o, const struct runnel_topic_partition *tps, size_t n)
{
	if (offsets_req_sort(o, tps, n) != 0)
		return RN_E_NOMEM;
	size_t t = o->topic_count ? o->topic_count : 1;
	o->ft = calloc(t, sizeof(*o->ft));
	o->ftp = calloc(t, sizeof(*o->ftp));
	o->fparts = calloc(n ? n : 1, sizeof(*o->fparts));
	if (!o->ft || !o->ftp || !o->fparts)
		return RN_E_NOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(o->tps[i].topic, o->tps[i - 1].topic) != 0) {
			runnel__offset_fetch_topic__init(&o->ft[k]);
			o->ft[k].name = (char *)o->tps[i].topic;
			o->ft[k].partitions = &o->fparts[i];
			o->ftp[k] = &o->ft[k];
			k++;
		}
		o->fparts[i] = o->tps[i].partition;
		o->ft[k - 1].n_partitions++;
	}
	return 0;
}

/* The membership a commit carries: a stable member's generation and id,
 * or -1 and "" for a commit from outside the group's membership. */
static void commit_identity(const struct cgroup *g, Runnel__OffsetCommitRequest *r)
{
	r->group_id = g->group_id;
	r->generation_id = g->stable ? g->generation : -1;
	r->member_id = g->stable ? g->member_id : "";
}

int cgroup_send_commit(struct runnel_consumer *c, struct conn *cn,
		       const struct runnel_topic_partition *tps, size_t n, conn_response_cb cb,
		       void *opaque)
{
	struct offsets_req o;
	int rc = commit_req_build(&o, tps, n);
	if (rc == 0) {
		Runnel__OffsetCommitRequest r = RUNNEL__OFFSET_COMMIT_REQUEST__INIT;
		commit_identity(c->group, &r);
		r.n_topics = o.topic_count;
		r.topics = o.ctp;
		Runnel__Request req = RUNNEL__REQUEST__INIT;
		req.body_case = RUNNEL__REQUEST__BODY_OFFSET_COMMIT;
		req.offset_commit = &r;
		rc = client_send(&c->client, cn, &req, RUNNEL__API_KEY__API_OFFSET_COMMIT, cb, opaque);
	}
	offsets_req_free(&o);
	return rc;
}

int cgroup_commit_result(struct runnel_consumer *c, const Runnel__OffsetCommitResponse *r)
{
	int err = rn_err_from_wire(r->error_code);
	if (err != 0)
		return client_fail_wire(&c->client, err, r->error_message, "commit");
	for (size_t t = 0; t < r->n_topics; t++) {
		const Runnel__OffsetCommitTopicResult *tr = r->topics[t];
		for (size_t k = 0; k < tr->n_partitions; k++) {
			err = rn_err_from_wire(tr->partitions[k]->error_code);
			if (err != 0) {
				char ctx[RN_MAX_TOPIC_NAME_LEN + 32];
				snprintf(ctx, sizeof(ctx), "commit %s/%d", tr->name, tr->partitions[k]->partition);
				return client_fail_wire(&c->client, err, tr->partitions[k]->error_message, ctx);
			}
		}
	}
	return 0;
}

/* Sleeps (driving I/O) for the retry backoff unless that passes the
 * deadline.  Returns 1 when there is time for another attempt. */
static int backoff_before(struct runnel_consumer *c, int64_t deadline)
{
	int64_t now = rn_mono_ms();
	if (now + c->cfg.retry_backoff_ms >= deadline)
		return 0;
	client_poll(&c->client, c->cfg.retry_backoff_ms);
	return 1;
}

/*
 * Sends a request built by build to the coordinator, finding it first and
 * again after it moved, until an answer or the deadline.  Returns 0 with
 * *out set, or the last error.
 */
static int coordinator_request(struct runnel_consumer *c, Runnel__Request *req, int32_t api_key,
			       int64_t deadline, Runnel__Response **out)
{
	struct cgroup *g = c->group;
	for (;;) {
		int rc = 0;
		if (g->coordinator < 0)
			rc = cgroup_find_coordinator(c, deadline);
		if (rc == 0)
			rc = cgroup_call(c, req, api_key, deadline, 0, out);
		if (rc == 0)
			return 0;
		enum cgroup_next next = cgroup_classify(rc);
		if (next == CGROUP_FIND)
			g->coordinator = -1;
		if ((next != CGROUP_FIND && next != CGROUP_RETRY) || !backoff_before(c, deadline))
			return rc;
	}
}

/* Positions of the partitions being read, into *out (malloc'd). */
static int positions(const struct runnel_consumer *c, struct runnel_topic_partition **out, size_t *n)
{
	*n = 0;
	*out = malloc((c->part_count ? c->part_count : 1) * sizeof(**out));
	if (!*out)
		return RN_E_NOMEM;
	for (size_t i = 0; i < c->part_count; i++) {
		const struct cpart *p = &c->parts[i];
		if (p->active && !p->need_resolve && p->position >= 0)
			(*out)[(*n)++] = (struct runnel_topic_partition){p->topic, p->partition, p->position};
	}
	return 0;
}

static int commit_list(struct runnel_consumer *c, const struct runnel_topic_partition *tps, size_t n,
		       int timeout_ms)
{
	struct offsets_req o;
	Runnel__Response *resp = NULL;
	int rc = commit_req_build(&o, tps, n);
	if (rc != 0) {
		offsets_req_free(&o);
		return client_fail(&c->client, rc, "out of memory");
	}
	Runnel__OffsetCommitRequest r = RUNNEL__OFFSET_COMMIT_REQUEST__INIT;
	commit_identity(c->group, &r);
	r.n_topics = o.topic_count;
	r.topics = o.ctp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_OFFSET_COMMIT;
	req.offset_commit = &r;
	rc = coordinator_request(c, &req, RUNNEL__API_KEY__API_OFFSET_COMMIT,
				 rn_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1), &resp);
	if (rc == 0) {
		rc = cgroup_commit_result(c, resp->offset_commit);
		runnel__response__free_unpacked(resp, NULL);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct cpart *p = consumer_find_part(c, tps[i].topic, tps[i].partition);
		if (p)
			p->committed = tps[i].offset;
	}
	offsets_req_free(&o);
	return rc;
}

int runnel_consumer_commit(runnel_consumer *c, const struct runnel_topic_partition *offsets,
			   size_t count, int timeout_ms)
{
	struct cgroup *g = c->group;
	if (!g)
		return client_fail(&c->client, RN_E_INVAL, "committing needs a group_id");
	if (cgroup_subscribed(g) && !g->stable)
		return client_fail(&c->client, RN_E_REBALANCE_IN_PROGRESS,
				   "the group is rebalancing: this member holds no partitions now");
	if (count > RN_MAX_PARTITIONS_PER_REQUEST || (count > 0 && !offsets))
		return client_fail(&c->client, RN_E_INVAL, "bad offsets list");
	for (size_t i = 0; i < count; i++)
		if (!offsets[i].topic || !*offsets[i].topic || offsets[i].partition < 0 ||
		    offsets[i].offset < 0)
			return client_fail(&c->client, RN_E_INVAL, "bad offset for %s/%d",
					   offsets[i].topic ? offsets[i].topic : "?", offsets[i].partition);
	struct runnel_topic_partition *own = NULL;
	size_t n = count;
	if (count == 0) {
		if (positions(c, &own, &n) != 0)
			return client_fail(&c->client, RN_E_NOMEM, "out of memory");
		offsets = own;
	}
	int rc = n > 0 ? commit_list(c, offsets, n, timeout_ms) : 0;
	enum cgroup_next next = cgroup_classify(rc);
	/* The membership is stale: the next poll rejoins. */
	if (cgroup_subscribed(g) && (next == CGROUP_REJOIN || next == CGROUP_LOST || next == CGROUP_RESET) &&
	    g->async_err == 0)
		g->async_err = rc;
	free(own);
	return rc;
}

/* Asks for the committed offsets of tps[0..n) and stores them in
 * tps[i].offset (-1: none). */
static int fetch_committed(struct runnel_consumer *c, struct runnel_topic_partition *tps, size_t n,
			   int64_t deadline)
{
	struct offsets_req o;
	Runnel__Response *resp = NULL;
	int rc = fetch_req_build(&o, tps, n);
	if (rc != 0) {
		offsets_req_free(&o);
		return client_fail(&c->client, rc, "out of memory");
	}
	Runnel__OffsetFetchRequest r = RUNNEL__OFFSET_FETCH_REQUEST__INIT;
	r.group_id = c->group->group_id;
	r.n_topics = o.topic_count;
	r.topics = o.ftp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_OFFSET_FETCH;
	req.offset_fetch = &r;
	rc = coordinator_request(c, &req, RUNNEL__API_KEY__API_OFFSET_FETCH, deadline, &resp);
	offsets_req_free(&o);
	if (rc != 0)
		return rc;
	const Runnel__OffsetFetchResponse *fr = resp->offset_fetch;
	rc = rn_err_from_wire(fr->error_code);
	if (rc != 0)
		client_fail_wire(&c->client, rc, fr->error_message, "offset fetch");
	for (size_t i = 0; i < n; i++)
		tps[i].offset = -1;
	for (size_t t = 0; rc == 0 && t < fr->n_topics; t++) {
		const Runnel__OffsetFetchTopicResult *tr = fr->topics[t];
		for (size_t k = 0; rc == 0 && k < tr->n_partitions; k++) {
			const Runnel__OffsetFetchPartition *fp = tr->partitions[k];
			rc = rn_err_from_wire(fp->error_code);
			if (rc != 0) {
				client_fail(&c->client, rc, "offset fetch %s/%d: %s", tr->name, fp->partition,
					    rn_strerror(rc));
				break;
			}
			for (size_t i = 0; i < n; i++)
				if (tps[i].partition == fp->partition && strcmp(tps[i].topic, tr->name) == 0)
					tps[i].offset = fp->committed_offset >= 0 ? fp->committed_offset : -1;
		}
	}
	runnel__response__free_unpacked(resp, NULL);
	return rc;
}

int runnel_consumer_committed(runnel_consumer *c, struct runnel_topic_partition *parts,
			      size_t count, int timeout_ms)
{
	if (!c->group)
		return client_fail(&c->client, RN_E_INVAL, "committed offsets need a group_id");
	if (count > RN_MAX_PARTITIONS_PER_REQUEST || (count > 0 && !parts))
		return client_fail(&c->client, RN_E_INVAL, "bad partition list");
	for (size_t i = 0; i < count; i++)
		if (!parts[i].topic || !*parts[i].topic || parts[i].partition < 0)
			return client_fail(&c->client, RN_E_INVAL, "bad partition in the list");
	if (count == 0)
		return 0;
	return fetch_committed(c, parts, count, rn_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1));
}

/* Starts p at its committed offset, or as auto_offset_reset says. */
static int start_part(struct runnel_consumer *c, struct cpart *p, int64_t committed)
{
	p->awaiting_offset = 0;
	if (committed >= 0) {
		consumer_seek_part(p, (struct runnel_position){RUNNEL_POS_OFFSET, committed});
		p->committed = committed;
	} else if (c->cfg.auto_offset_reset == RUNNEL_RESET_NONE) {
		return client_fail(&c->client, RN_E_OFFSET_OUT_OF_RANGE,
				   "%s/%d has no committed offset and auto.offset.reset is none", p->topic,
				   p->partition);
	} else {
		consumer_seek_part(p, consumer_reset_position(c));
	}
	p->active = 1;
	return 0;
}

int cgroup_fetch_awaiting(struct runnel_consumer *c)
{
	size_t n = 0;
	struct runnel_topic_partition *tps = malloc((c->part_count ? c->part_count : 1) * sizeof(*tps));
	size_t *idx = malloc((c->part_count ? c->part_count : 1) * sizeof(*idx));
	int rc = 0;
	if (!tps || !idx) {
		rc = client_fail(&c->client, RN_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c->part_count; i++) {
		if (!c->parts[i].awaiting_offset)
			continue;
		tps[n] = (struct runnel_topic_partition){c->parts[i].topic, c->parts[i].partition, -1};
		idx[n++] = i;
	}
	rc = fetch_committed(c, tps, n, rn_mono_ms() + c->client.cfg.request_timeout_ms);
	if (rc != 0) {
		rc = cgroup_handle_error(c, rc);
		goto out;
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = start_part(c, &c->parts[idx[i]], tps[i].offset);
out:
	free(idx);
	free(tps);
	return rc;
}

/* Tells the coordinator this member is leaving, so that the group
 * rebalances now instead of after the session timeout.  Errors are
 * ignored: the session timeout removes the member anyway. */
static void leave_group(struct runnel_consumer *c, int64_t deadline)
{
	struct cgroup *g = c->group;
	Runnel__Response *resp = NULL;
	char *ids[1] = {g->member_id};
	Runnel__LeaveGroupRequest lr = RUNNEL__LEAVE_GROUP_REQUEST__INIT;
	lr.group_id = g->group_id;
	lr.n_member_ids = 1;
	lr.member_ids = ids;
	lr.reason = "the consumer is closing";
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_LEAVE_GROUP;
	req.leave_group = &lr;
	if (coordinator_request(c, &req, RUNNEL__API_KEY__API_LEAVE_GROUP, deadline, &resp) == 0)
		runnel__response__free_unpacked(resp, NULL);
	g->generation = -1;
}

int runnel_consumer_close(runnel_consumer *c, int timeout_ms)
{
	struct cgroup *g = c->group;
	int rc = 0;
	if (c->closed)
		return 0;
	/* The signal that probably brought us here must not cut the goodbye
	 * short. */
	c->client.interrupted = 0;
	int64_t deadline = rn_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	if (g && g->stable) {
		if (c->cfg.enable_auto_commit)
			rc = runnel_consumer_commit(c, NULL, 0, timeout_ms);
		cgroup_drop_assignment(c, RUNNEL_PARTITIONS_REVOKED);
	}
	if (g && cgroup_subscribed(g) && g->member_id[0] && rn_mono_ms() < deadline)
		leave_group(c, deadline);
	for (size_t i = 0; i < c->part_count; i++)
		consumer_deactivate_part(&c->parts[i]);
	c->closed = 1;
	return rc;
}
