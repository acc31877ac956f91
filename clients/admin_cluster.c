/* admin_cluster.c: the cluster status: the metadata quorum, brokers and partition health. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/client.h"
#include "clients/runnel.h"
#include "common/errors.h"

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static void refs_free(struct runnel_partition_ref *refs, size_t n)
{
	for (size_t i = 0; refs && i < n; i++)
		free(refs[i].topic);
	free(refs);
}

void runnel_cluster_status_free(struct runnel_cluster_status *st)
{
	if (!st)
		return;
	for (size_t i = 0; st->brokers && i < st->broker_count; i++) {
		free(st->brokers[i].host);
		free(st->brokers[i].rack);
	}
	refs_free(st->offline, st->offline_listed);
	refs_free(st->under_replicated, st->under_replicated_listed);
	free(st->brokers);
	free(st->voters);
	free(st->observers);
	free(st->cluster_id);
	free(st->answered_role);
	free(st->leader_error);
	free(st->leader_host);
	free(st);
}

static int send_describe_quorum(struct client *c, int32_t node_id, Runnel__Response **out)
{
	Runnel__DescribeQuorumRequest dq = RUNNEL__DESCRIBE_QUORUM_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_DESCRIBE_QUORUM;
	req.describe_quorum = &dq;
	if (node_id == -1)
		return client_request_any_sync(c, &req, RUNNEL__API_KEY__API_DESCRIBE_QUORUM, out,
					       c->cfg.metadata_timeout_ms);
	return client_request_once_sync(c, node_id, &req, RUNNEL__API_KEY__API_DESCRIBE_QUORUM, out,
					CLIENT_NODE_ATTEMPT_TIMEOUT_MS);
}

/* Metadata for every topic from the quorum leader, whose image is the most
 * current one.  Returns 0 or the request's error. */
static int metadata_from(struct client *c, int32_t node_id, Runnel__Response **out)
{
	Runnel__MetadataRequest mr = RUNNEL__METADATA_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	mr.all_topics = 1;
	req.body_case = RUNNEL__REQUEST__BODY_METADATA;
	req.metadata = &mr;
	return client_request_once_sync(c, node_id, &req, RUNNEL__API_KEY__API_METADATA, out,
					CLIENT_NODE_ATTEMPT_TIMEOUT_MS);
}

/* How many times the status follows "the leader is node N" from one node
 * to the next: enough to pass one node with a stale view during an
 * election. */
#define STATUS_MAX_LEADER_HOPS 2

/* Records that the named leader could not give its view, and why. */
static int leader_unreachable(struct runnel_cluster_status *st, const char *why)
{
	st->leader_unreachable = 1;
	st->leader_error = strdup(why && *why ? why : "no answer");
	return st->leader_error ? 0 : RN_E_NOMEM;
}

/*
 * Asks any node for its view of the quorum and, when that node is not the
 * leader it names, asks the leader, until a node answers that it leads.  On
 * return *dq is the leader's answer, or the first one with
 * st->leader_unreachable set when the named leader did not answer or did
 * not confirm.  Returns 0 or the error of the first request (no node
 * answered).
 */
static int quorum_view(struct client *c, struct runnel_cluster_status *st, Runnel__Response **dq)
{
	char why[sizeof(c->errmsg)];
	int rc = send_describe_quorum(c, -1, dq);
	if (rc != 0)
		return rc;
	const Runnel__DescribeQuorumResponse *q = (*dq)->describe_quorum;
	int32_t named = q->leader_id;
	if (named < 0 || named == q->node_id)
		return 0;
	client_learn_address(c, named, q->leader_host, q->leader_port);
	for (int hop = 0; hop < STATUS_MAX_LEADER_HOPS && named >= 0; hop++) {
		Runnel__Response *next = NULL;
		rc = send_describe_quorum(c, named, &next);
		if (rc != 0) {
			snprintf(why, sizeof(why), "%s", c->errmsg[0] ? c->errmsg : rn_strerror(rc));
			return leader_unreachable(st, why);
		}
		const Runnel__DescribeQuorumResponse *nq = next->describe_quorum;
		if (nq->leader_id == nq->node_id) {
			runnel__response__free_unpacked(*dq, NULL);
			*dq = next;
			return 0;
		}
		/* The named node no longer leads: follow whom it names. */
		snprintf(why, sizeof(why), "node %d no longer leads; it names %d as the leader",
			 named, nq->leader_id);
		if (nq->leader_id >= 0)
			client_learn_address(c, nq->leader_id, nq->leader_host, nq->leader_port);
		named = nq->leader_id;
		runnel__response__free_unpacked(next, NULL);
	}
	return leader_unreachable(st, why);
}

static int copy_members(Runnel__QuorumReplica *const *in, size_t n,
			const Runnel__DescribeQuorumResponse *q, struct runnel_quorum_member **out)
{
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return RN_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		struct runnel_quorum_member *m = &(*out)[i];
		m->id = in[i]->node_id;
		m->log_end_offset = in[i]->log_end_offset;
		m->lag = in[i]->lag;
		m->last_contact_ms = in[i]->last_contact_ms;
		/* The leader does not track itself as a peer: it holds its
		 * own log, so it is never behind and always in contact. */
		if (m->id == q->leader_id && q->node_id == q->leader_id && m->lag < 0) {
			m->log_end_offset = q->last_index;
			m->lag = 0;
			m->last_contact_ms = 0;
		}
	}
	return 0;
}

static int fill_quorum(struct runnel_cluster_status *st, const Runnel__DescribeQuorumResponse *q)
{
	st->cluster_id = dup_or_empty(q->cluster_id);
	st->answered_by = q->node_id;
	st->answered_role = dup_or_empty(q->role);
	st->leader_id = q->leader_id;
	st->leader_port = q->leader_port;
	st->epoch = q->leader_epoch;
	st->commit_index = q->commit_index;
	st->high_watermark = q->high_watermark;
	st->last_index = q->last_index;
	if (q->leader_host && *q->leader_host) {
		st->leader_host = strdup(q->leader_host);
		if (!st->leader_host)
			return RN_E_NOMEM;
	}
	if (!st->cluster_id || !st->answered_role)
		return RN_E_NOMEM;
	st->voter_count = q->n_voters;
	st->observer_count = q->n_observers;
	int rc = copy_members(q->voters, q->n_voters, q, &st->voters);
	if (rc == 0)
		rc = copy_members(q->observers, q->n_observers, q, &st->observers);
	return rc;
}

static int compare_brokers(const void *x, const void *y)
{
	const struct runnel_broker_state *a = x, *b = y;
	return (a->id > b->id) - (a->id < b->id);
}

static int fill_brokers(struct runnel_cluster_status *st, const Runnel__MetadataResponse *md)
{
	st->controller_id = md->controller_id;
	st->brokers = calloc(md->n_brokers ? md->n_brokers : 1, sizeof(*st->brokers));
	if (!st->brokers)
		return RN_E_NOMEM;
	for (size_t i = 0; i < md->n_brokers; i++) {
		const Runnel__BrokerInfo *bi = md->brokers[i];
		struct runnel_broker_state *b = &st->brokers[st->broker_count++];
		b->id = bi->node_id;
		b->port = bi->port;
		b->fenced = bi->fenced ? 1 : 0;
		b->host = dup_or_empty(bi->host);
		b->rack = dup_or_empty(bi->rack);
		if (!b->host || !b->rack)
			return RN_E_NOMEM;
	}
	qsort(st->brokers, st->broker_count, sizeof(*st->brokers), compare_brokers);
	return 0;
}

static int broker_fenced(const struct runnel_cluster_status *st, int32_t id)
{
	for (size_t i = 0; i < st->broker_count; i++)
		if (st->brokers[i].id == id)
			return st->brokers[i].fenced;
	return 0;
}

/* Appends topic/partition to a list of at most RUNNEL_STATUS_MAX_LISTED. */
static int add_ref(struct runnel_partition_ref *list, size_t *n, const char *topic, int32_t partition)
{
	if (*n >= RUNNEL_STATUS_MAX_LISTED)
		return 0;
	list[*n].topic = strdup(topic);
	if (!list[*n].topic)
		return RN_E_NOMEM;
	list[*n].partition = partition;
	(*n)++;
	return 0;
}

static int compare_refs(const void *x, const void *y)
{
	const struct runnel_partition_ref *a = x, *b = y;
	int c = strcmp(a->topic, b->topic);
	return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static int fill_partitions(struct runnel_cluster_status *st, const Runnel__MetadataResponse *md)
{
	int rc = 0;
	st->offline = calloc(RUNNEL_STATUS_MAX_LISTED, sizeof(*st->offline));
	st->under_replicated = calloc(RUNNEL_STATUS_MAX_LISTED, sizeof(*st->under_replicated));
	if (!st->offline || !st->under_replicated)
		return RN_E_NOMEM;
	for (size_t t = 0; rc == 0 && t < md->n_topics; t++) {
		const Runnel__TopicMetadata *tm = md->topics[t];
		if (tm->error_code != 0)
			continue;
		for (size_t i = 0; rc == 0 && i < tm->n_partitions; i++) {
			const Runnel__PartitionMetadata *pm = tm->partitions[i];
			st->partition_total++;
			if (pm->leader < 0 || broker_fenced(st, pm->leader)) {
				st->offline_count++;
				rc = add_ref(st->offline, &st->offline_listed, tm->name, pm->partition);
			}
			if (rc == 0 && pm->n_isr < pm->n_replicas) {
				st->under_replicated_count++;
				rc = add_ref(st->under_replicated, &st->under_replicated_listed, tm->name,
					     pm->partition);
			}
		}
	}
	qsort(st->offline, st->offline_listed, sizeof(*st->offline), compare_refs);
	qsort(st->under_replicated, st->under_replicated_listed, sizeof(*st->under_replicated),
	      compare_refs);
	return rc;
}

int runnel_admin_describe_cluster(runnel_admin *a, struct runnel_cluster_status **out)
{
	struct client *c = &a->client;
	Runnel__Response *md = NULL, *dq = NULL, *md_leader = NULL;
	struct runnel_cluster_status *st = calloc(1, sizeof(*st));
	if (!st)
		return client_fail(c, RN_E_NOMEM, "out of memory");
	st->leader_id = -1;
	st->controller_id = -1;
	/* Metadata first: it fills the broker list, so that the quorum
	 * request can go to any broker, not only to the bootstrap list. */
	int rc = client_metadata_refresh(c, NULL, 0, 1, &md);
	if (rc == 0)
		rc = quorum_view(c, st, &dq);
	if (rc != 0)
		goto fail;
	const Runnel__DescribeQuorumResponse *q = dq->describe_quorum;
	/* The leader's metadata is the freshest; the first answer stays when
	 * the leader cannot give it. */
	if (q->leader_id >= 0 && q->leader_id == q->node_id && metadata_from(c, q->leader_id, &md_leader) == 0) {
		runnel__response__free_unpacked(md, NULL);
		md = md_leader;
	}
	rc = fill_quorum(st, q);
	if (rc == 0)
		rc = fill_brokers(st, md->metadata);
	/* Metadata names the node this client sends controller requests to,
	 * which is a forwarding broker when the controllers are out of the
	 * client's reach; the quorum leader that confirmed itself is the active
	 * controller. */
	if (rc == 0 && !st->leader_unreachable && q->leader_id >= 0 && q->leader_id == q->node_id)
		st->controller_id = q->leader_id;
	if (rc == 0)
		rc = fill_partitions(st, md->metadata);
	if (rc != 0) {
		client_fail(c, rc, "out of memory");
		goto fail;
	}
	runnel__response__free_unpacked(md, NULL);
	runnel__response__free_unpacked(dq, NULL);
	*out = st;
	return 0;
fail:
	if (md)
		runnel__response__free_unpacked(md, NULL);
	if (dq)
		runnel__response__free_unpacked(dq, NULL);
	runnel_cluster_status_free(st);
	return rc;
}
