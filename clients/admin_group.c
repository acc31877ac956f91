/* admin_group.c: consumer group administration: list, describe, delete, offsets from outside the group. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/client.h"
#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"

/* A group request answered by one node waits at most this long. */
#define ADMIN_GROUP_CALL_TIMEOUT_MS 10000
/* The wait between two attempts to find a coordinator. */
#define ADMIN_GROUP_RETRY_MS 200

static int coordinator_retriable(int err)
{
	return err == RN_E_COORDINATOR_NOT_AVAILABLE || err == RN_E_COORDINATOR_LOAD_IN_PROGRESS ||
	       err == RN_E_NOT_COORDINATOR;
}

/* Asks any node for group's coordinator until one is named or
 * RUNNEL_GROUP_COORDINATOR_WAIT_MS passes.  Returns 0 with *node set. */
static int find_coordinator(struct client *c, const char *group, int32_t *node)
{
	int64_t deadline = rn_mono_ms() + RUNNEL_GROUP_COORDINATOR_WAIT_MS;
	for (;;) {
		Runnel__FindCoordinatorRequest fr = RUNNEL__FIND_COORDINATOR_REQUEST__INIT;
		Runnel__Request req = RUNNEL__REQUEST__INIT;
		Runnel__Response *resp = NULL;
		fr.key = (char *)group;
		req.body_case = RUNNEL__REQUEST__BODY_FIND_COORDINATOR;
		req.find_coordinator = &fr;
		int rc = client_request_any_sync(c, &req, RUNNEL__API_KEY__API_FIND_COORDINATOR, &resp,
						 c->cfg.metadata_timeout_ms);
		if (rc != 0)
			return rc;
		const Runnel__FindCoordinatorResponse *r = resp->find_coordinator;
		rc = rn_err_from_wire(r->error_code);
		if (rc == 0 && r->node_id >= 0) {
			client_learn_address(c, r->node_id, r->host, r->port);
			*node = r->node_id;
		} else {
			rc = rc ? rc : RN_E_COORDINATOR_NOT_AVAILABLE;
			client_fail_wire(c, rc, r->error_message, "find coordinator");
		}
		runnel__response__free_unpacked(resp, NULL);
		if (rc == 0 || !coordinator_retriable(rc) || rn_mono_ms() + ADMIN_GROUP_RETRY_MS >= deadline)
			return rc;
		client_poll(c, ADMIN_GROUP_RETRY_MS);
	}
}

int client_group_call(struct client *c, const char *group, Runnel__Request *req, int32_t api_key,
		      int (*check)(const Runnel__Response *), Runnel__Response **out, int32_t *node_out)
{
	int64_t deadline = rn_mono_ms() + RUNNEL_GROUP_COORDINATOR_WAIT_MS;
	for (;;) {
		int32_t node = -1;
		int rc = find_coordinator(c, group, &node);
		if (rc == 0)
			rc = client_request_once_sync(c, node, req, api_key, out, ADMIN_GROUP_CALL_TIMEOUT_MS);
		if (node_out)
			*node_out = node;
		if (rc == 0 && check && (rc = check(*out)) != 0) {
			runnel__response__free_unpacked(*out, NULL);
			*out = NULL;
			client_fail(c, rc, "group %s: %s", group, rn_strerror(rc));
		}
		if (rc == 0 || !coordinator_retriable(rc) || rn_mono_ms() + ADMIN_GROUP_RETRY_MS >= deadline)
			return rc;
		client_poll(c, ADMIN_GROUP_RETRY_MS);
	}
}

/* ------------------------------------------------------------------ list */

static int listing_cmp(const void *a, const void *b)
{
	return strcmp(((const struct runnel_group_listing *)a)->group,
		      ((const struct runnel_group_listing *)b)->group);
}

void runnel_group_listings_free(struct runnel_group_listing *list, size_t count)
{
	for (size_t i = 0; list && i < count; i++) {
		free(list[i].group);
		free(list[i].state);
		free(list[i].protocol_type);
	}
	free(list);
}

/* Adds the groups of one ListGroups answer that are not listed yet. */
static int merge_groups(struct runnel_group_listing **list, size_t *n, int32_t node,
			const Runnel__ListGroupsResponse *lr)
{
	for (size_t i = 0; i < lr->n_groups; i++) {
		const Runnel__ListedGroup *lg = lr->groups[i];
		int known = 0;
		for (size_t k = 0; k < *n && !known; k++)
			known = strcmp((*list)[k].group, lg->group_id) == 0;
		if (known)
			continue;
		struct runnel_group_listing *nl = realloc(*list, (*n + 1) * sizeof(*nl));
		if (!nl)
			return RN_E_NOMEM;
		*list = nl;
		struct runnel_group_listing *e = &nl[*n];
		e->group = strdup(lg->group_id);
		e->state = strdup(lg->state);
		e->protocol_type = strdup(lg->protocol_type);
		e->coordinator = node;
		e->member_count = lg->member_count;
		(*n)++;
		if (!e->group || !e->state || !e->protocol_type)
			return RN_E_NOMEM;
	}
	return 0;
}

int runnel_admin_list_groups(runnel_admin *a, struct runnel_group_listing **out, size_t *count)
{
	struct client *c = &a->client;
	struct runnel_group_listing *list = NULL;
	size_t n = 0, answered = 0;
	int rc = client_metadata_refresh(c, NULL, 0, 0, NULL);
	if (rc != 0)
		return rc;
	int last = RN_E_BROKER_NOT_AVAILABLE;
	for (size_t b = 0; b < c->broker_count && rc == 0; b++) {
		Runnel__ListGroupsRequest lr = RUNNEL__LIST_GROUPS_REQUEST__INIT;
		Runnel__Request req = RUNNEL__REQUEST__INIT;
		Runnel__Response *resp = NULL;
		req.body_case = RUNNEL__REQUEST__BODY_LIST_GROUPS;
		req.list_groups = &lr;
		int32_t node = c->brokers[b].node_id;
		last = client_request_once_sync(c, node, &req, RUNNEL__API_KEY__API_LIST_GROUPS, &resp,
						CLIENT_NODE_ATTEMPT_TIMEOUT_MS);
		if (last != 0)
			continue;
		if (resp->list_groups->error_code == 0) {
			answered++;
			rc = merge_groups(&list, &n, node, resp->list_groups);
		}
		runnel__response__free_unpacked(resp, NULL);
	}
	if (rc == 0 && answered == 0 && c->broker_count > 0)
		rc = client_fail(c, last, "no broker answered ListGroups: %s", c->errmsg);
	if (rc != 0) {
		runnel_group_listings_free(list, n);
		return rc == RN_E_NOMEM ? client_fail(c, rc, "out of memory") : rc;
	}
	qsort(list, n, sizeof(*list), listing_cmp);
	*out = list;
	*count = n;
	return 0;
}

/* ---------------------------------------------------------------- delete */

static int delete_check(const Runnel__Response *resp)
{
	const Runnel__DeleteGroupsResponse *dr = resp->delete_groups;
	return dr->n_results > 0 ? rn_err_from_wire(dr->results[0]->error_code) : RN_E_UNKNOWN_SERVER_ERROR;
}

int runnel_admin_delete_group(runnel_admin *a, const char *group)
{
	struct client *c = &a->client;
	if (!group || !*group)
		return client_fail(c, RN_E_INVAL, "no group id");
	char *ids[1] = {(char *)group};
	Runnel__DeleteGroupsRequest dr = RUNNEL__DELETE_GROUPS_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__Response *resp = NULL;
	dr.n_group_ids = 1;
	dr.group_ids = ids;
	req.body_case = RUNNEL__REQUEST__BODY_DELETE_GROUPS;
	req.delete_groups = &dr;
	int rc = client_group_call(c, group, &req, RUNNEL__API_KEY__API_DELETE_GROUPS, delete_check, &resp,
				   NULL);
	if (rc == RN_E_NON_EMPTY_GROUP)
		client_fail(c, rc, "group %s has members: stop its consumers first", group);
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	return rc;
}

/* ---------------------------------------------------------------- commit */

static int commit_check(const Runnel__Response *resp)
{
	const Runnel__OffsetCommitResponse *r = resp->offset_commit;
	int err = rn_err_from_wire(r->error_code);
	for (size_t t = 0; err == 0 && t < r->n_topics; t++)
		for (size_t k = 0; err == 0 && k < r->topics[t]->n_partitions; k++)
			err = rn_err_from_wire(r->topics[t]->partitions[k]->error_code);
	return err;
}

int runnel_admin_commit_group_offsets(runnel_admin *a, const char *group,
				      const struct runnel_topic_partition *offsets, size_t count)
{
	struct client *c = &a->client;
	if (!group || !*group || count == 0 || !offsets || count > RN_MAX_PARTITIONS_PER_REQUEST)
		return client_fail(c, RN_E_INVAL, "no group id or no offsets");
	/* One topic entry per partition: simple, and the coordinator takes
	 * repeated topic names. */
	Runnel__OffsetCommitTopic *ts = calloc(count, sizeof(*ts));
	Runnel__OffsetCommitTopic **tp = calloc(count, sizeof(*tp));
	Runnel__OffsetCommitPartition *ps = calloc(count, sizeof(*ps));
	Runnel__OffsetCommitPartition **pp = calloc(count, sizeof(*pp));
	Runnel__Response *resp = NULL;
	int rc = RN_E_NOMEM;
	if (!ts || !tp || !ps || !pp)
		goto out;
	for (size_t i = 0; i < count; i++) {
		runnel__offset_commit_partition__init(&ps[i]);
		ps[i].partition = offsets[i].partition;
		ps[i].committed_offset = offsets[i].offset;
		ps[i].committed_leader_epoch = -1;
		pp[i] = &ps[i];
		runnel__offset_commit_topic__init(&ts[i]);
		ts[i].name = (char *)offsets[i].topic;
		ts[i].n_partitions = 1;
		ts[i].partitions = &pp[i];
		tp[i] = &ts[i];
	}
	Runnel__OffsetCommitRequest r = RUNNEL__OFFSET_COMMIT_REQUEST__INIT;
	r.group_id = (char *)group;
	r.generation_id = -1;
	r.member_id = "";
	r.n_topics = count;
	r.topics = tp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_OFFSET_COMMIT;
	req.offset_commit = &r;
	rc = client_group_call(c, group, &req, RUNNEL__API_KEY__API_OFFSET_COMMIT, commit_check, &resp,
			       NULL);
out:
	if (rc == RN_E_NOMEM)
		client_fail(c, rc, "out of memory");
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	free(pp);
	free(ps);
	free(tp);
	free(ts);
	return rc;
}

/* ----------------------------------------------------------- list offsets */

/* One ListOffsets for one partition at its leader. */
static int list_one(struct client *c, const char *topic, int32_t partition, int32_t leader,
		    int64_t query, int64_t *out)
{
	Runnel__ListOffsetsPartition lp = RUNNEL__LIST_OFFSETS_PARTITION__INIT;
	Runnel__ListOffsetsPartition *lpp = &lp;
	Runnel__ListOffsetsTopic lt = RUNNEL__LIST_OFFSETS_TOPIC__INIT;
	Runnel__ListOffsetsTopic *ltp = &lt;
	Runnel__ListOffsetsRequest lr = RUNNEL__LIST_OFFSETS_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__Response *resp = NULL;
	lp.partition = partition;
	lp.timestamp = query;
	lp.current_leader_epoch = -1;
	lt.name = (char *)topic;
	lt.n_partitions = 1;
	lt.partitions = &lpp;
	lr.replica_id = -1;
	lr.n_topics = 1;
	lr.topics = &ltp;
	req.body_case = RUNNEL__REQUEST__BODY_LIST_OFFSETS;
	req.list_offsets = &lr;
	int rc = client_request_sync(c, leader, &req, RUNNEL__API_KEY__API_LIST_OFFSETS, &resp,
				     ADMIN_GROUP_CALL_TIMEOUT_MS);
	if (rc != 0)
		return rc;
	rc = RN_E_UNKNOWN_TOPIC_OR_PARTITION;
	const Runnel__ListOffsetsResponse *r = resp->list_offsets;
	if (r->n_topics == 1 && r->topics[0]->n_partitions == 1) {
		const Runnel__ListOffsetsPartitionResult *pr = r->topics[0]->partitions[0];
		rc = rn_err_from_wire(pr->error_code);
		if (rc == 0)
			*out = pr->offset;
		else
			client_fail_wire(c, rc, pr->error_message, topic);
	}
	runnel__response__free_unpacked(resp, NULL);
	return rc;
}

int runnel_admin_list_offsets(runnel_admin *a, const char *topic, int64_t query, int64_t **offsets,
			      int32_t *count)
{
	struct client *c = &a->client;
	if (!topic || !*topic || query < RUNNEL_OFFSET_EARLIEST)
		return client_fail(c, RN_E_INVAL, "bad topic or offset query");
	int rc = client_metadata_refresh(c, &topic, 1, 0, NULL);
	if (rc != 0)
		return rc;
	const struct client_topic *t = client_topic_find(c, topic);
	if (!t || t->error != 0) {
		rc = t ? t->error : RN_E_UNKNOWN_TOPIC_OR_PARTITION;
		return client_fail(c, rc, "topic %s: %s", topic, rn_strerror(rc));
	}
	int32_t n = t->partition_count;
	int64_t *offs = malloc((n ? (size_t)n : 1) * sizeof(*offs));
	if (!offs)
		return client_fail(c, RN_E_NOMEM, "out of memory");
	for (int32_t p = 0; p < n && rc == 0; p++) {
		/* The cache may be refreshed by a request below: look the
		 * leader up each time. */
		int32_t leader = client_leader(c, topic, p);
		rc = leader < 0 ? client_fail(c, RN_E_LEADER_NOT_AVAILABLE, "%s/%d has no leader", topic, p)
				: list_one(c, topic, p, leader, query, &offs[p]);
	}
	if (rc != 0) {
		free(offs);
		return rc;
	}
	*offsets = offs;
	*count = n;
	return 0;
}
