/* admin.c: synchronous topic administration: create, delete, list, describe, and config changes. */
#include <stdlib.h>
#include <string.h>

#include "clients/client.h"
#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"

/* After a create, how long to wait for every broker to serve the new topic,
 * and how often to ask. */
#define TOPIC_VISIBLE_MAX_WAIT_MS 10000
#define TOPIC_VISIBLE_POLL_MS 50
/* How long one broker gets to answer; one that does not is skipped. */
#define TOPIC_VISIBLE_ASK_MS 1000

#define LIST_OFFSETS_LATEST (-1)
#define LIST_OFFSETS_EARLIEST (-2)

int runnel_admin_new(const struct runnel_client_config *cfg, runnel_admin **out)
{
	struct runnel_admin *a = calloc(1, sizeof(*a));
	if (!a)
		return RN_E_NOMEM;
	int rc = client_init(&a->client, cfg);
	if (rc != 0) {
		free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void runnel_admin_free(runnel_admin *a)
{
	if (!a)
		return;
	client_destroy(&a->client);
	free(a);
}

const char *runnel_admin_errmsg(const runnel_admin *a)
{
	return a->client.errmsg;
}

void client_follow_not_controller(struct client *c, const char *msg)
{
	int32_t id = -1;
	int has_addr = 0;
	struct client_address addr;
	if (client_parse_controller_hint(msg, &id, &addr, &has_addr) != 0) {
		c->controller_id = -1;
		return;
	}
	if (has_addr)
		client_learn_address(c, id, addr.host, addr.port);
	c->controller_id = client_conn(c, id) ? id : -1;
}

int client_controller_attempt(struct client *c, Runnel__Request *req, int32_t api_key,
			     Runnel__Response **out, int64_t deadline_ms)
{
	if (c->controller_id < 0 || !client_conn(c, c->controller_id)) {
		int rc = client_metadata_refresh(c, NULL, 0, 0, NULL);
		if (rc != 0)
			return rc;
	}
	if (c->controller_id < 0 || !client_conn(c, c->controller_id))
		return client_fail(c, RN_E_NOT_CONTROLLER,
				   "the cluster has no active controller yet (election running?)");
	int64_t left = deadline_ms - rn_mono_ms();
	if (left > CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS)
		left = CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS;
	if (left <= 0)
		return client_fail(c, RN_E_TIMEOUT, "no time left to reach the controller");
	return client_request_once_sync(c, c->controller_id, req, api_key, out, (int)left);
}

/* Pulls the result for one topic out of an admin response: returns its
 * code (0 or negative) and points *msg at its message. */
typedef int (*topic_result_fn)(const Runnel__Response *resp, const char *name, const char **msg);

static int create_result(const Runnel__Response *resp, const char *name, const char **msg)
{
	const Runnel__CreateTopicsResponse *r = resp->create_topics;
	for (size_t i = 0; i < r->n_topics; i++) {
		if (strcmp(r->topics[i]->name, name) == 0) {
			*msg = r->topics[i]->error_message;
			return rn_err_from_wire(r->topics[i]->error_code);
		}
	}
	*msg = "the node did not answer for this topic";
	return RN_E_UNKNOWN_SERVER_ERROR;
}

static int delete_result(const Runnel__Response *resp, const char *name, const char **msg)
{
	const Runnel__DeleteTopicsResponse *r = resp->delete_topics;
	for (size_t i = 0; i < r->n_topics; i++) {
		if (strcmp(r->topics[i]->name, name) == 0) {
			*msg = r->topics[i]->error_message;
			return rn_err_from_wire(r->topics[i]->error_code);
		}
	}
	*msg = "the node did not answer for this topic";
	return RN_E_UNKNOWN_SERVER_ERROR;
}

/* A failure after which the controller may or may not have acted on the
 * request: the answer was lost, not refused. */
static int outcome_unknown(int rc)
{
	return rc == RN_E_NETWORK_EXCEPTION || rc == RN_E_REQUEST_TIMED_OUT || rc == RN_E_CLOSED;
}

/*
 * Sends a topic request to the active controller until it gives a final
 * answer for topic name, following NOT_CONTROLLER and lost connections with
 * backoff until deadline_ms.  Returns the topic's code; c->errmsg says why.
 */
static int admin_topic_call(struct client *c, Runnel__Request *req, int32_t api_key,
			    const char *name, topic_result_fn result, int64_t deadline_ms)
{
	int rc = 0, unknown = 0;
	for (int attempt = 0;; attempt++) {
		Runnel__Response *resp = NULL;
		rc = client_controller_attempt(c, req, api_key, &resp, deadline_ms);
		if (rc == 0) {
			const char *msg = NULL;
			rc = result(resp, name, &msg);
			if (rc != 0)
				client_fail_wire(c, rc, msg, NULL);
			if (rc == RN_E_NOT_CONTROLLER)
				client_follow_not_controller(c, msg);
			runnel__response__free_unpacked(resp, NULL);
		} else if (rc == RN_E_NOT_CONTROLLER) {
			client_follow_not_controller(c, c->errmsg);
		} else if (client_admin_retriable(rc)) {
			/* The controller went away: ask the cluster again. */
			c->controller_id = -1;
		}
		unknown |= outcome_unknown(rc);
		int64_t delay = client_admin_retry_delay_ms(rc, attempt, rn_mono_ms(), deadline_ms);
		if (delay < 0)
			break;
		client_poll(c, (int)delay);
	}
	if (unknown && (rc == RN_E_TOPIC_ALREADY_EXISTS || rc == RN_E_UNKNOWN_TOPIC_OR_PARTITION)) {
		char first[sizeof(c->errmsg)];
		snprintf(first, sizeof(first), "%s", c->errmsg);
		client_fail(c, rc, "%s (an earlier attempt whose answer was lost may have done it)",
			    first);
	}
	return rc;
}

/* The server-side wait of one attempt: the caller's timeout, but never
 * longer than the client waits for the answer. */
static int32_t server_timeout_ms(int timeout_ms)
{
	return timeout_ms < CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS ? timeout_ms
							    : CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS;
}

/* 1 when node_id answers a Metadata request for name with the topic and a
 * leader for every partition, 0 when it answers without them, -1 when it
 * does not answer (a node that is down has nothing to catch up on). */
static int node_knows_topic(struct client *c, int32_t node_id, const char *name, int timeout_ms)
{
	Runnel__MetadataRequest mr = RUNNEL__METADATA_REQUEST__INIT;
	char *names[1] = {(char *)name};
	mr.n_topics = 1;
	mr.topics = names;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_METADATA;
	req.metadata = &mr;
	Runnel__Response *resp = NULL;
	if (client_request_once_sync(c, node_id, &req, RUNNEL__API_KEY__API_METADATA, &resp,
				     timeout_ms) != 0 || !resp)
		return -1;
	int known = 0;
	if (resp->body_case == RUNNEL__RESPONSE__BODY_METADATA && resp->metadata->n_topics == 1) {
		const Runnel__TopicMetadata *t = resp->metadata->topics[0];
		known = t->error_code == 0 && t->n_partitions > 0;
		for (size_t i = 0; known && i < t->n_partitions; i++)
			known = t->partitions[i]->leader >= 0;
	}
	runnel__response__free_unpacked(resp, NULL);
	return known;
}

/*
 * Waits, within deadline_ms, until every live broker serves metadata for a
 * topic just created.  Brokers apply the metadata log a moment after the
 * controller commits, and a produce or consume sent to one that has not yet
 * would be told the topic does not exist.  Waiting here makes "created"
 * mean "usable from any node".  Gives up quietly at the deadline: the topic
 * exists, and clients retry.
 */
static void wait_topic_visible(struct client *c, const char *name, int64_t deadline_ms)
{
	for (;;) {
		int all = 1;
		for (size_t i = 0; all && i < c->broker_count; i++) {
			if (c->brokers[i].fenced)
				continue;
			int64_t left = deadline_ms - rn_mono_ms();
			if (left <= 0)
				return;
			all = node_knows_topic(c, c->brokers[i].node_id, name,
					       left < TOPIC_VISIBLE_ASK_MS ? (int)left
									   : TOPIC_VISIBLE_ASK_MS) != 0;
		}
		if (all || rn_mono_ms() + TOPIC_VISIBLE_POLL_MS >= deadline_ms)
			return;
		client_poll(c, TOPIC_VISIBLE_POLL_MS);
	}
}

int runnel_admin_create_topic(runnel_admin *a, const struct runnel_new_topic *topic, int timeout_ms)
{
	struct client *c = &a->client;
	if (!topic || !topic->name || topic->config_count > RN_MAX_CONFIGS_PER_TOPIC ||
	    (topic->config_count > 0 && !topic->configs) || timeout_ms <= 0)
		return client_fail(c, RN_E_INVAL, "bad topic description");
	Runnel__ConfigEntry ce[RN_MAX_CONFIGS_PER_TOPIC];
	Runnel__ConfigEntry *cep[RN_MAX_CONFIGS_PER_TOPIC];
	for (size_t i = 0; i < topic->config_count; i++) {
		runnel__config_entry__init(&ce[i]);
		ce[i].name = (char *)topic->configs[i].name;
		ce[i].value = (char *)topic->configs[i].value;
		cep[i] = &ce[i];
	}
	Runnel__CreatableTopic ct = RUNNEL__CREATABLE_TOPIC__INIT;
	Runnel__CreatableTopic *ctp = &ct;
	ct.name = (char *)topic->name;
	ct.num_partitions = topic->partitions;
	ct.replication_factor = topic->replication_factor;
	ct.n_configs = topic->config_count;
	ct.configs = cep;
	Runnel__CreateTopicsRequest cr = RUNNEL__CREATE_TOPICS_REQUEST__INIT;
	cr.n_topics = 1;
	cr.topics = &ctp;
	cr.timeout_ms = server_timeout_ms(timeout_ms);
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_CREATE_TOPICS;
	req.create_topics = &cr;
	int64_t deadline_ms = rn_mono_ms() + timeout_ms;
	int rc = admin_topic_call(c, &req, RUNNEL__API_KEY__API_CREATE_TOPICS, topic->name,
				  create_result, deadline_ms);
	if (rc == 0) {
		int64_t visible_by = rn_mono_ms() + TOPIC_VISIBLE_MAX_WAIT_MS;
		wait_topic_visible(c, topic->name, visible_by < deadline_ms ? visible_by : deadline_ms);
	}
	return rc;
}

int runnel_admin_delete_topic(runnel_admin *a, const char *name, int timeout_ms)
{
	struct client *c = &a->client;
	if (!name || timeout_ms <= 0)
		return client_fail(c, RN_E_INVAL, "no topic name");
	Runnel__DeleteTopicsRequest dr = RUNNEL__DELETE_TOPICS_REQUEST__INIT;
	char *names[1] = {(char *)name};
	dr.n_names = 1;
	dr.names = names;
	dr.timeout_ms = server_timeout_ms(timeout_ms);
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_DELETE_TOPICS;
	req.delete_topics = &dr;
	return admin_topic_call(c, &req, RUNNEL__API_KEY__API_DELETE_TOPICS, name, delete_result,
				rn_mono_ms() + timeout_ms);
}

static int compare_summaries(const void *x, const void *y)
{
	const struct runnel_topic_summary *a = x, *b = y;
	return strcmp(a->name, b->name);
}

void runnel_topic_summaries_free(struct runnel_topic_summary *list, size_t count)
{
	for (size_t i = 0; list && i < count; i++)
		free(list[i].name);
	free(list);
}

int runnel_admin_list_topics(runnel_admin *a, struct runnel_topic_summary **out, size_t *count)
{
	struct client *c = &a->client;
	Runnel__Response *resp = NULL;
	int rc = client_metadata_refresh(c, NULL, 0, 1, &resp);
	if (rc != 0)
		return rc;
	const Runnel__MetadataResponse *md = resp->metadata;
	struct runnel_topic_summary *list = calloc(md->n_topics ? md->n_topics : 1, sizeof(*list));
	size_t n = 0;
	if (!list)
		goto fail_nomem;
	for (size_t i = 0; i < md->n_topics; i++) {
		const Runnel__TopicMetadata *tm = md->topics[i];
		if (tm->error_code != 0)
			continue;
		list[n].name = strdup(tm->name);
		if (!list[n].name)
			goto fail_nomem;
		list[n].partitions = (int32_t)tm->n_partitions;
		list[n].replication_factor =
			tm->n_partitions ? (int32_t)tm->partitions[0]->n_replicas : 0;
		n++;
	}
	qsort(list, n, sizeof(*list), compare_summaries);
	runnel__response__free_unpacked(resp, NULL);
	*out = list;
	*count = n;
	return 0;
fail_nomem:
	runnel_topic_summaries_free(list, n);
	runnel__response__free_unpacked(resp, NULL);
	return client_fail(c, RN_E_NOMEM, "out of memory");
}

void runnel_topic_info_free(struct runnel_topic_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; info->partitions && i < info->partition_count; i++) {
		free(info->partitions[i].replicas);
		free(info->partitions[i].isr);
	}
	for (size_t i = 0; info->configs && i < info->config_count; i++) {
		free((char *)info->configs[i].name);
		free((char *)info->configs[i].value);
		free((char *)info->configs[i].source);
	}
	free(info->partitions);
	free(info->configs);
	free(info->name);
	free(info);
}

static int32_t *copy_ids(const int32_t *ids, size_t n)
{
	int32_t *out = malloc((n ? n : 1) * sizeof(*out));
	if (out && n)
		memcpy(out, ids, n * sizeof(*out));
	return out;
}

static int compare_partitions(const void *x, const void *y)
{
	const struct runnel_partition_info *a = x, *b = y;
	return (a->partition > b->partition) - (a->partition < b->partition);
}

/* Copies the topic's metadata into a new info.  Returns 0 or RN_E_NOMEM. */
static int info_from_wire(const Runnel__TopicMetadata *tm, struct runnel_topic_info **out)
{
	struct runnel_topic_info *info = calloc(1, sizeof(*info));
	if (!info)
		return RN_E_NOMEM;
	info->name = strdup(tm->name);
	info->partitions = calloc(tm->n_partitions ? tm->n_partitions : 1, sizeof(*info->partitions));
	info->configs = calloc(tm->n_configs ? tm->n_configs : 1, sizeof(*info->configs));
	if (!info->name || !info->partitions || !info->configs)
		goto fail_nomem;
	for (size_t i = 0; i < tm->n_partitions; i++) {
		const Runnel__PartitionMetadata *pm = tm->partitions[i];
		struct runnel_partition_info *pi = &info->partitions[i];
		info->partition_count++;
		pi->partition = pm->partition;
		pi->error = rn_err_from_wire(pm->error_code);
		pi->leader = pm->leader;
		pi->leader_epoch = pm->leader_epoch;
		pi->replicas = copy_ids(pm->replicas, pm->n_replicas);
		pi->replica_count = pm->n_replicas;
		pi->isr = copy_ids(pm->isr, pm->n_isr);
		pi->isr_count = pm->n_isr;
		pi->log_start_offset = -1;
		pi->high_watermark = -1;
		if (!pi->replicas || !pi->isr)
			goto fail_nomem;
	}
	qsort(info->partitions, info->partition_count, sizeof(*info->partitions), compare_partitions);
	for (size_t i = 0; i < tm->n_configs; i++) {
		struct runnel_config_entry *ce = &info->configs[i];
		info->config_count++;
		ce->name = strdup(tm->configs[i]->name);
		ce->value = strdup(tm->configs[i]->value);
		ce->source = strdup(tm->configs[i]->source);
		if (!ce->name || !ce->value || !ce->source)
			goto fail_nomem;
	}
	*out = info;
	return 0;
fail_nomem:
	runnel_topic_info_free(info);
	return RN_E_NOMEM;
}

/* Asks leader for one kind of offset (earliest or latest) of the topic's
 * partitions it leads, and stores the answers in info.  Errors leave -1. */
static void fill_offsets(struct client *c, struct runnel_topic_info *info, int32_t leader,
			 int64_t which)
{
	size_t n = 0;
	Runnel__ListOffsetsPartition *lp = calloc(info->partition_count, sizeof(*lp));
	Runnel__ListOffsetsPartition **lpp = calloc(info->partition_count, sizeof(*lpp));
	Runnel__Response *resp = NULL;
	if (!lp || !lpp)
		goto out;
	for (size_t i = 0; i < info->partition_count; i++) {
		if (info->partitions[i].leader != leader)
			continue;
		runnel__list_offsets_partition__init(&lp[n]);
		lp[n].partition = info->partitions[i].partition;
		lp[n].timestamp = which;
		lp[n].current_leader_epoch = -1;
		lpp[n] = &lp[n];
		n++;
	}
	Runnel__ListOffsetsTopic lt = RUNNEL__LIST_OFFSETS_TOPIC__INIT;
	Runnel__ListOffsetsTopic *ltp = &lt;
	lt.name = info->name;
	lt.n_partitions = n;
	lt.partitions = lpp;
	Runnel__ListOffsetsRequest lr = RUNNEL__LIST_OFFSETS_REQUEST__INIT;
	lr.replica_id = -1;
	lr.n_topics = 1;
	lr.topics = &ltp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_LIST_OFFSETS;
	req.list_offsets = &lr;
	/* A leader that is down or stopped leaves its offsets unknown (-1)
	 * after one short attempt rather than holding up the whole describe. */
	if (client_request_once_sync(c, leader, &req, RUNNEL__API_KEY__API_LIST_OFFSETS, &resp,
				     CLIENT_NODE_ATTEMPT_TIMEOUT_MS) != 0)
		goto out;
	for (size_t t = 0; t < resp->list_offsets->n_topics; t++) {
		const Runnel__ListOffsetsTopicResult *tr = resp->list_offsets->topics[t];
		for (size_t k = 0; k < tr->n_partitions; k++) {
			const Runnel__ListOffsetsPartitionResult *r = tr->partitions[k];
			for (size_t i = 0; r->error_code == 0 && i < info->partition_count; i++) {
				struct runnel_partition_info *pi = &info->partitions[i];
				if (pi->partition != r->partition)
					continue;
				if (which == LIST_OFFSETS_EARLIEST)
					pi->log_start_offset = r->offset;
				else
					pi->high_watermark = r->offset;
			}
		}
	}
out:
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	free(lpp);
	free(lp);
}

int runnel_admin_describe_topic(runnel_admin *a, const char *name, struct runnel_topic_info **out)
{
	struct client *c = &a->client;
	Runnel__Response *resp = NULL;
	struct runnel_topic_info *info = NULL;
	if (!name || !*name)
		return client_fail(c, RN_E_INVAL, "no topic name");
	int rc = client_metadata_refresh(c, &name, 1, 0, &resp);
	if (rc != 0)
		return rc;
	const Runnel__MetadataResponse *md = resp->metadata;
	const Runnel__TopicMetadata *tm = NULL;
	for (size_t i = 0; i < md->n_topics; i++)
		if (strcmp(md->topics[i]->name, name) == 0)
			tm = md->topics[i];
	rc = tm ? rn_err_from_wire(tm->error_code) : RN_E_UNKNOWN_TOPIC_OR_PARTITION;
	if (rc != 0) {
		client_fail_wire(c, rc, tm ? tm->error_message : NULL, NULL);
		goto out;
	}
	rc = info_from_wire(tm, &info);
	if (rc != 0) {
		client_fail(c, rc, "out of memory");
		goto out;
	}
	/* One pair of ListOffsets per distinct leader. */
	for (size_t i = 0; i < info->partition_count; i++) {
		int32_t leader = info->partitions[i].leader;
		int seen = leader < 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = info->partitions[j].leader == leader;
		if (seen)
			continue;
		fill_offsets(c, info, leader, LIST_OFFSETS_EARLIEST);
		fill_offsets(c, info, leader, LIST_OFFSETS_LATEST);
	}
	*out = info;
out:
	runnel__response__free_unpacked(resp, NULL);
	return rc;
}

/* ------------------------------------------------------------ configs */

static int alter_result(const Runnel__Response *resp, const char *name, const char **msg)
{
	const Runnel__IncrementalAlterConfigsResponse *r = resp->incremental_alter_configs;
	for (size_t i = 0; i < r->n_resources; i++) {
		if (strcmp(r->resources[i]->resource_name, name) == 0) {
			*msg = r->resources[i]->error_message;
			return rn_err_from_wire(r->resources[i]->error_code);
		}
	}
	*msg = "the node did not answer for this resource";
	return RN_E_UNKNOWN_SERVER_ERROR;
}

/* Asks node_id (or any node when node_id is -1) for the configs of one
 * resource; keys[0..nkeys) narrows the answer (nkeys 0: every key).  The
 * response is the caller's.  Returns 0, the resource's error, or a
 * connection error. */
static int describe_call(struct client *c, int32_t node_id, enum runnel_config_resource type,
			 const char *name, const char *const *keys, size_t nkeys, int timeout_ms,
			 Runnel__Response **out, const Runnel__DescribeConfigsResult **result)
{
	Runnel__DescribeConfigsResource dres = RUNNEL__DESCRIBE_CONFIGS_RESOURCE__INIT;
	Runnel__DescribeConfigsResource *dresp = &dres;
	dres.resource_type = (int32_t)type;
	dres.resource_name = (char *)name;
	dres.n_config_names = nkeys;
	dres.config_names = (char **)keys;
	Runnel__DescribeConfigsRequest dr = RUNNEL__DESCRIBE_CONFIGS_REQUEST__INIT;
	dr.n_resources = 1;
	dr.resources = &dresp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_DESCRIBE_CONFIGS;
	req.describe_configs = &dr;
	*out = NULL;
	int rc = node_id < 0 ? client_request_any_sync(c, &req, RUNNEL__API_KEY__API_DESCRIBE_CONFIGS,
						       out, timeout_ms)
			     : client_request_once_sync(c, node_id, &req,
							RUNNEL__API_KEY__API_DESCRIBE_CONFIGS, out,
							timeout_ms);
	if (rc != 0)
		return rc;
	const Runnel__DescribeConfigsResponse *body = (*out)->describe_configs;
	if ((*out)->body_case != RUNNEL__RESPONSE__BODY_DESCRIBE_CONFIGS || body->n_results != 1) {
		runnel__response__free_unpacked(*out, NULL);
		*out = NULL;
		return client_fail(c, RN_E_UNKNOWN_SERVER_ERROR, "malformed DescribeConfigs answer");
	}
	*result = body->results[0];
	rc = rn_err_from_wire(body->results[0]->error_code);
	if (rc != 0)
		client_fail_wire(c, rc, body->results[0]->error_message, NULL);
	return rc;
}

/* 1 when node_id reports every change in effect, 0 when not yet, -1 when
 * it does not answer. */
static int node_has_changes(struct client *c, int32_t node_id, enum runnel_config_resource type,
			    const char *name, const struct runnel_config_change *changes,
			    size_t count, int timeout_ms)
{
	const char *keys[RN_MAX_CONFIGS_PER_TOPIC];
	for (size_t i = 0; i < count; i++)
		keys[i] = changes[i].name;
	Runnel__Response *resp = NULL;
	const Runnel__DescribeConfigsResult *res = NULL;
	if (describe_call(c, node_id, type, name, keys, count, timeout_ms, &resp, &res) != 0) {
		/* An answer with an error (the topic not applied there yet)
		 * means "not yet"; no answer means the node is away. */
		int answered = resp != NULL;
		if (resp)
			runnel__response__free_unpacked(resp, NULL);
		return answered ? 0 : -1;
	}
	/* The source that a SET shows and a DELETE takes away. */
	const char *own = type == RUNNEL_CONFIG_TOPIC ? "topic" : "cluster";
	int done = res->n_configs == count;
	for (size_t i = 0; done && i < count; i++) {
		const Runnel__ConfigEntry *e = res->configs[i];
		if (changes[i].op == RUNNEL_CONFIG_SET)
			done = strcmp(e->source, own) == 0 && strcmp(e->value, changes[i].value) == 0;
		else
			done = strcmp(e->source, own) != 0;
	}
	runnel__response__free_unpacked(resp, NULL);
	return done;
}

/* Waits, within deadline_ms, until every live broker applies the changes
 * (as wait_topic_visible does for a new topic), so that "altered" means
 * "in effect on every node".  Gives up quietly at the deadline. */
static void wait_changes_applied(struct client *c, enum runnel_config_resource type,
				 const char *name, const struct runnel_config_change *changes,
				 size_t count, int64_t deadline_ms)
{
	for (;;) {
		int all = 1;
		for (size_t i = 0; all && i < c->broker_count; i++) {
			if (c->brokers[i].fenced)
				continue;
			int64_t left = deadline_ms - rn_mono_ms();
			if (left <= 0)
				return;
			all = node_has_changes(c, c->brokers[i].node_id, type, name, changes, count,
					       left < TOPIC_VISIBLE_ASK_MS ? (int)left
									   : TOPIC_VISIBLE_ASK_MS) != 0;
		}
		if (all || rn_mono_ms() + TOPIC_VISIBLE_POLL_MS >= deadline_ms)
			return;
		client_poll(c, TOPIC_VISIBLE_POLL_MS);
	}
}

/* Checks the arguments of runnel_admin_alter_configs. */
static int alter_args_ok(enum runnel_config_resource type, const char *name,
			 const struct runnel_config_change *changes, size_t count)
{
	if (type != RUNNEL_CONFIG_TOPIC && type != RUNNEL_CONFIG_CLUSTER)
		return 0;
	if ((type == RUNNEL_CONFIG_TOPIC) != (name && name[0]))
		return 0;
	if (!changes || count == 0 || count > RN_MAX_CONFIGS_PER_TOPIC)
		return 0;
	for (size_t i = 0; i < count; i++)
		if (!changes[i].name ||
		    (changes[i].op != RUNNEL_CONFIG_SET && changes[i].op != RUNNEL_CONFIG_DELETE) ||
		    (changes[i].op == RUNNEL_CONFIG_SET && !changes[i].value))
			return 0;
	return 1;
}

int runnel_admin_alter_configs(runnel_admin *a, enum runnel_config_resource type, const char *name,
			       const struct runnel_config_change *changes, size_t count,
			       int validate_only, int timeout_ms)
{
	struct client *c = &a->client;
	if (!alter_args_ok(type, name, changes, count) || timeout_ms <= 0)
		return client_fail(c, RN_E_INVAL, "bad config changes (a topic needs a name, the "
						  "cluster none; 1 to %u changes, SET with a value)",
				   RN_MAX_CONFIGS_PER_TOPIC);
	if (type == RUNNEL_CONFIG_CLUSTER)
		name = "";
	Runnel__AlterableConfig ac[RN_MAX_CONFIGS_PER_TOPIC];
	Runnel__AlterableConfig *acp[RN_MAX_CONFIGS_PER_TOPIC];
	for (size_t i = 0; i < count; i++) {
		runnel__alterable_config__init(&ac[i]);
		ac[i].name = (char *)changes[i].name;
		ac[i].op = (int32_t)changes[i].op;
		ac[i].value = (char *)(changes[i].op == RUNNEL_CONFIG_SET ? changes[i].value : "");
		acp[i] = &ac[i];
	}
	Runnel__AlterConfigsResource res = RUNNEL__ALTER_CONFIGS_RESOURCE__INIT;
	Runnel__AlterConfigsResource *resp = &res;
	res.resource_type = (int32_t)type;
	res.resource_name = (char *)name;
	res.n_configs = count;
	res.configs = acp;
	Runnel__IncrementalAlterConfigsRequest ar = RUNNEL__INCREMENTAL_ALTER_CONFIGS_REQUEST__INIT;
	ar.n_resources = 1;
	ar.resources = &resp;
	ar.validate_only = validate_only != 0;
	ar.timeout_ms = server_timeout_ms(timeout_ms);
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_INCREMENTAL_ALTER_CONFIGS;
	req.incremental_alter_configs = &ar;
	int64_t deadline_ms = rn_mono_ms() + timeout_ms;
	int rc = admin_topic_call(c, &req, RUNNEL__API_KEY__API_INCREMENTAL_ALTER_CONFIGS, name,
				  alter_result, deadline_ms);
	if (rc == 0 && !validate_only) {
		int64_t applied_by = rn_mono_ms() + TOPIC_VISIBLE_MAX_WAIT_MS;
		wait_changes_applied(c, type, name, changes, count,
				     applied_by < deadline_ms ? applied_by : deadline_ms);
	}
	return rc;
}

void runnel_config_entries_free(struct runnel_config_entry *entries, size_t count)
{
	for (size_t i = 0; entries && i < count; i++) {
		free((char *)entries[i].name);
		free((char *)entries[i].value);
		free((char *)entries[i].source);
	}
	free(entries);
}

int runnel_admin_describe_configs(runnel_admin *a, enum runnel_config_resource type,
				  const char *name, struct runnel_config_entry **out, size_t *count)
{
	struct client *c = &a->client;
	if ((type != RUNNEL_CONFIG_TOPIC && type != RUNNEL_CONFIG_CLUSTER) ||
	    (type == RUNNEL_CONFIG_TOPIC) != (name && name[0]) || !out || !count)
		return client_fail(c, RN_E_INVAL, "a topic needs a name, the cluster none");
	Runnel__Response *resp = NULL;
	const Runnel__DescribeConfigsResult *res = NULL;
	int rc = describe_call(c, -1, type, type == RUNNEL_CONFIG_CLUSTER ? "" : name, NULL, 0,
			       CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS, &resp, &res);
	if (rc != 0)
		goto out;
	struct runnel_config_entry *list = calloc(res->n_configs + 1, sizeof(*list));
	size_t n = 0;
	for (; list && n < res->n_configs; n++) {
		list[n].name = strdup(res->configs[n]->name);
		list[n].value = strdup(res->configs[n]->value);
		list[n].source = strdup(res->configs[n]->source);
		if (!list[n].name || !list[n].value || !list[n].source) {
			runnel_config_entries_free(list, n + 1);
			list = NULL;
		}
	}
	if (!list) {
		rc = client_fail(c, RN_E_NOMEM, "out of memory");
		goto out;
	}
	*out = list;
	*count = n;
out:
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	return rc;
}
