/* h_admin.c: CreateTopics, DeleteTopics, IncrementalAlterConfigs (validate, propose records, answer once applied) and DescribeConfigs. */
#include "broker/conn.h"
#include "broker/coord.h"
#include "broker/ctrl.h"
#include "broker/forward.h"
#include "broker/handlers.h"
#include "broker/listener.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "controller/controller.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest validation message sent back for one topic (room for
 * ctrl_not_controller_why). */
#define ADMIN_WHY_LEN CTRL_WHY_LEN

/* A CreateTopics or DeleteTopics request waiting for its records to apply. */
struct admin_wait {
	struct req *r;
	struct ctrl_waiter *cw;
	struct event *timer;
	Runnel__Response resp;
	uint32_t count;
	bool *proposed;        /* per topic: waiting on the log */
	int32_t **error_codes; /* per topic: its result's error_code */
	char ***error_messages; /* per topic: its result's error_message */
};

static int32_t admin_timeout_ms(int32_t requested)
{
	if (requested <= 0)
		return NODE_DEFAULT_ADMIN_TIMEOUT_MS;
	return requested > RN_MAX_PRODUCE_TIMEOUT_MS ? RN_MAX_PRODUCE_TIMEOUT_MS : requested;
}

/* Sets err on every topic still waiting, then answers. */
static void admin_finish(struct admin_wait *aw, int err)
{
	if (aw->timer)
		event_free(aw->timer);
	aw->timer = NULL;
	char *why = (char *)rn_strerror(err);
	if (err == RN_E_NOT_CONTROLLER) {
		/* Leadership moved while the records waited: say where it went. */
		why = req_alloc(aw->r, CTRL_WHY_LEN);
		listener_not_controller_why(aw->r->node, aw->r->listener, why);
	}
	for (uint32_t i = 0; i < aw->count && err != RN_OK; i++) {
		if (!aw->proposed[i])
			continue;
		*aw->error_codes[i] = rn_err_to_wire(err);
		*aw->error_messages[i] = why;
	}
	req_respond(aw->r, &aw->resp);
}

static void admin_applied_cb(void *arg, int err)
{
	struct admin_wait *aw = arg;
	aw->cw = NULL;
	admin_finish(aw, err);
}

static void admin_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin_wait *aw = arg;
	(void)fd;
	(void)what;
	if (aw->cw)
		ctrl_wait_cancel(aw->r->node->ctrl, aw->cw);
	aw->cw = NULL;
	admin_finish(aw, RN_E_REQUEST_TIMED_OUT);
}

static void admin_cancel(struct req *r)
{
	struct admin_wait *aw = r->wait;
	if (aw->cw)
		ctrl_wait_cancel(r->node->ctrl, aw->cw);
	aw->cw = NULL;
	if (aw->timer)
		event_free(aw->timer);
	aw->timer = NULL;
	req_drop(r);
}

static struct admin_wait *admin_wait_new(struct req *r, uint32_t count)
{
	struct admin_wait *aw = req_alloc(r, sizeof(*aw));
	aw->r = r;
	aw->count = count;
	aw->proposed = req_alloc(r, (count + 1) * sizeof(*aw->proposed));
	aw->error_codes = req_alloc(r, (count + 1) * sizeof(*aw->error_codes));
	aw->error_messages = req_alloc(r, (count + 1) * sizeof(*aw->error_messages));
	runnel__response__init(&aw->resp);
	return aw;
}

/* Answers now if nothing was proposed, else parks until last_index applies. */
static void admin_wait_or_answer(struct admin_wait *aw, bool any, uint64_t last_index,
				 int32_t timeout_ms)
{
	struct req *r = aw->r;
	if (!any) {
		req_respond(r, &aw->resp);
		return;
	}
	aw->cw = ctrl_wait_applied(r->node->ctrl, last_index, admin_applied_cb, aw);
	aw->timer = evtimer_new(r->node->base, admin_timeout_cb, aw);
	if (!aw->cw || !aw->timer) {
		if (aw->cw)
			ctrl_wait_cancel(r->node->ctrl, aw->cw);
		aw->cw = NULL;
		admin_finish(aw, RN_E_NOMEM);
		return;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(aw->timer, &tv);
	req_park(r, admin_cancel, aw);
}

/* -------------------------------------------------------------- create */

static int convert_configs(struct req *r, const Runnel__CreatableTopic *ct,
			   struct meta_config_entry **out, char *why)
{
	*out = NULL;
	if (ct->n_configs > RN_MAX_CONFIGS_PER_TOPIC) {
		snprintf(why, ADMIN_WHY_LEN, "at most %u configs per topic", RN_MAX_CONFIGS_PER_TOPIC);
		return RN_E_INVALID_CONFIG;
	}
	if (ct->n_configs == 0)
		return RN_OK;
	struct meta_config_entry *cfgs = req_alloc(r, ct->n_configs * sizeof(*cfgs));
	for (size_t i = 0; i < ct->n_configs; i++) {
		const char *name = ct->configs[i]->name, *value = ct->configs[i]->value;
		if (strlen(name) > RN_MAX_CONFIG_VALUE_LEN || strlen(value) > RN_MAX_CONFIG_VALUE_LEN) {
			snprintf(why, ADMIN_WHY_LEN, "config names and values are at most %u bytes",
				 RN_MAX_CONFIG_VALUE_LEN);
			return RN_E_INVALID_CONFIG;
		}
		strcpy(cfgs[i].name, name);
		strcpy(cfgs[i].value, value);
	}
	*out = cfgs;
	return RN_OK;
}

/* Plans (and unless validate_only proposes) one topic.  Returns 0 with
 * *proposed and *last_index set, or the error for this topic. */
static int create_one(struct req *r, const Runnel__CreatableTopic *ct, bool validate_only,
		      Runnel__CreatableTopicResult *res, bool *proposed, uint64_t *last_index,
		      char *why)
{
	struct node *n = r->node;
	struct create_topic_req ctr = {0};
	ctr.name = ct->name;
	/* As in Kafka, 0 and -1 ask for the node's default; any other value,
	 * negative ones included, is the caller's and is validated as such. */
	ctr.partitions = (ct->num_partitions == 0 || ct->num_partitions == -1)
				 ? (int32_t)n->cfg.num_partitions
				 : ct->num_partitions;
	ctr.replication_factor = (ct->replication_factor == 0 || ct->replication_factor == -1)
					 ? (int32_t)n->cfg.default_replication_factor
					 : ct->replication_factor;
	struct meta_config_entry *cfgs;
	int rc = convert_configs(r, ct, &cfgs, why);
	if (rc != RN_OK)
		return rc;
	ctr.configs = cfgs;
	ctr.config_count = (uint32_t)ct->n_configs;
	ctr.pending_names = ctrl_pending_names(n->ctrl, &ctr.pending_count);
	uint8_t *id = req_alloc(r, META_TOPIC_ID_LEN);
	uint64_t random = 0;
	do {
		rc = node_random(id, META_TOPIC_ID_LEN);
	} while (rc == RN_OK && memcmp(id, (uint8_t[META_TOPIC_ID_LEN]){0}, META_TOPIC_ID_LEN) == 0);
	if (rc == RN_OK)
		rc = node_random(&random, sizeof(random));
	if (rc != RN_OK)
		return rc;
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	/* Only the active controller's image is known to be current. */
	if (!ctrl_is_active(n->ctrl)) {
		listener_not_controller_why(n, r->listener, why);
		return RN_E_NOT_CONTROLLER;
	}
	rc = controller_plan_create_topic(ctrl_image(n->ctrl), &ctr, id, random, &recs, &count, why,
					  ADMIN_WHY_LEN);
	if (rc != RN_OK)
		return rc;
	res->topic_id.data = id;
	res->topic_id.len = META_TOPIC_ID_LEN;
	res->num_partitions = ctr.partitions;
	res->replication_factor = ctr.replication_factor;
	if (!validate_only) {
		rc = ctrl_propose(n->ctrl, recs, count, last_index);
		*proposed = rc == RN_OK;
	}
	controller_records_free(recs, count);
	return rc;
}

void handle_create_topics(struct req *r)
{
	const Runnel__CreateTopicsRequest *cr = r->msg->create_topics;
	if (cr->n_topics > RN_MAX_TOPICS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many topics in one CreateTopics request");
		return;
	}
	if (forward_controller_request(r, cr->timeout_ms, handle_create_topics))
		return;
	uint32_t count = (uint32_t)cr->n_topics;
	struct admin_wait *aw = admin_wait_new(r, count);
	Runnel__CreateTopicsResponse *body = req_alloc(r, sizeof(*body));
	runnel__create_topics_response__init(body);
	body->n_topics = count;
	body->topics = req_alloc(r, (count + 1) * sizeof(*body->topics));
	aw->resp.body_case = RUNNEL__RESPONSE__BODY_CREATE_TOPICS;
	aw->resp.create_topics = body;
	uint64_t last = 0;
	bool any = false;
	char why[ADMIN_WHY_LEN];
	for (uint32_t i = 0; i < count; i++) {
		Runnel__CreatableTopicResult *res = req_alloc(r, sizeof(*res));
		runnel__creatable_topic_result__init(res);
		body->topics[i] = res;
		res->name = cr->topics[i]->name;
		aw->error_codes[i] = &res->error_code;
		aw->error_messages[i] = &res->error_message;
		why[0] = '\0';
		uint64_t index = 0;
		int rc = create_one(r, cr->topics[i], cr->validate_only, res, &aw->proposed[i], &index,
				    why);
		if (rc != RN_OK) {
			res->error_code = rn_err_to_wire(rc);
			res->error_message = req_strdup(r, why[0] ? why : rn_strerror(rc));
			continue;
		}
		if (aw->proposed[i]) {
			any = true;
			last = index > last ? index : last;
		}
	}
	admin_wait_or_answer(aw, any, last, admin_timeout_ms(cr->timeout_ms));
}

/* -------------------------------------------------------------- delete */

void handle_delete_topics(struct req *r)
{
	const Runnel__DeleteTopicsRequest *dr = r->msg->delete_topics;
	if (dr->n_names > RN_MAX_TOPICS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many topics in one DeleteTopics request");
		return;
	}
	if (forward_controller_request(r, dr->timeout_ms, handle_delete_topics))
		return;
	struct node *n = r->node;
	uint32_t count = (uint32_t)dr->n_names;
	struct admin_wait *aw = admin_wait_new(r, count);
	Runnel__DeleteTopicsResponse *body = req_alloc(r, sizeof(*body));
	runnel__delete_topics_response__init(body);
	body->n_topics = count;
	body->topics = req_alloc(r, (count + 1) * sizeof(*body->topics));
	aw->resp.body_case = RUNNEL__RESPONSE__BODY_DELETE_TOPICS;
	aw->resp.delete_topics = body;
	uint64_t last = 0;
	bool any = false;
	char why[ADMIN_WHY_LEN];
	for (uint32_t i = 0; i < count; i++) {
		Runnel__DeletableTopicResult *res = req_alloc(r, sizeof(*res));
		runnel__deletable_topic_result__init(res);
		body->topics[i] = res;
		res->name = dr->names[i];
		aw->error_codes[i] = &res->error_code;
		aw->error_messages[i] = &res->error_message;
		why[0] = '\0';
		struct meta_record *recs = NULL;
		uint32_t rec_count = 0;
		uint64_t index = 0;
		int rc = RN_E_NOT_CONTROLLER;
		if (coord_is_internal_topic(dr->names[i])) {
			rc = RN_E_INVALID_TOPIC;
			snprintf(why, sizeof(why), "%s is internal (committed offsets and groups) "
						   "and cannot be deleted", dr->names[i]);
		} else if (!ctrl_is_active(n->ctrl))
			listener_not_controller_why(n, r->listener, why);
		else
			rc = controller_plan_delete_topic(ctrl_image(n->ctrl), dr->names[i], &recs,
							  &rec_count, why, sizeof(why));
		if (rc == RN_OK)
			rc = ctrl_propose(n->ctrl, recs, rec_count, &index);
		controller_records_free(recs, rec_count);
		if (rc != RN_OK) {
			res->error_code = rn_err_to_wire(rc);
			res->error_message = req_strdup(r, why[0] ? why : rn_strerror(rc));
			continue;
		}
		aw->proposed[i] = true;
		any = true;
		last = index > last ? index : last;
	}
	admin_wait_or_answer(aw, any, last, admin_timeout_ms(dr->timeout_ms));
}

/* ------------------------------------------------------- alter configs */

/* The resource kinds of the config APIs (runnel.proto ConfigResourceType). */
#define RESOURCE_TOPIC RUNNEL__CONFIG_RESOURCE_TYPE__CONFIG_RESOURCE_TOPIC
#define RESOURCE_CLUSTER RUNNEL__CONFIG_RESOURCE_TYPE__CONFIG_RESOURCE_CLUSTER

/* Turns a resource's operations into controller changes.  Returns 0 or
 * RN_E_INVALID_REQUEST / RN_E_INVALID_CONFIG with why set. */
static int convert_changes(struct req *r, const Runnel__AlterConfigsResource *res,
			   struct controller_config_change **out, char *why)
{
	*out = NULL;
	if (res->n_configs > RN_MAX_CONFIGS_PER_TOPIC) {
		snprintf(why, ADMIN_WHY_LEN, "at most %u config changes per resource, got %zu",
			 RN_MAX_CONFIGS_PER_TOPIC, res->n_configs);
		return RN_E_INVALID_CONFIG;
	}
	struct controller_config_change *ch = req_alloc(r, (res->n_configs + 1) * sizeof(*ch));
	for (size_t i = 0; i < res->n_configs; i++) {
		const Runnel__AlterableConfig *c = res->configs[i];
		ch[i].name = c->name;
		switch (c->op) {
		case RUNNEL__ALTER_CONFIG_OP__ALTER_CONFIG_SET:
			ch[i].value = c->value;
			break;
		case RUNNEL__ALTER_CONFIG_OP__ALTER_CONFIG_DELETE:
			ch[i].value = NULL;
			break;
		case RUNNEL__ALTER_CONFIG_OP__ALTER_CONFIG_APPEND:
		case RUNNEL__ALTER_CONFIG_OP__ALTER_CONFIG_SUBTRACT:
			snprintf(why, ADMIN_WHY_LEN,
				 "%s: APPEND and SUBTRACT apply to list values, and every config "
				 "key holds a single value (use SET)", c->name);
			return RN_E_INVALID_REQUEST;
		default:
			snprintf(why, ADMIN_WHY_LEN, "%s: unknown config operation %d", c->name,
				 (int)c->op);
			return RN_E_INVALID_REQUEST;
		}
	}
	*out = ch;
	return RN_OK;
}

/* Plans (and unless validate_only proposes) the changes of one resource.
 * Returns 0 with *proposed and *last_index set, or the resource's error. */
static int alter_one(struct req *r, const Runnel__AlterConfigsResource *res, bool validate_only,
		     bool *proposed, uint64_t *last_index, char *why)
{
	struct node *n = r->node;
	if (res->resource_type != RESOURCE_TOPIC && res->resource_type != RESOURCE_CLUSTER) {
		snprintf(why, ADMIN_WHY_LEN, "unknown config resource type %d (2: a topic, 4: the "
					     "cluster)", (int)res->resource_type);
		return RN_E_INVALID_REQUEST;
	}
	if (res->resource_type == RESOURCE_CLUSTER && res->resource_name[0]) {
		snprintf(why, ADMIN_WHY_LEN, "the cluster resource has an empty name; per-node "
					     "configs are set in each node's configuration");
		return RN_E_INVALID_REQUEST;
	}
	struct controller_config_change *changes;
	int rc = convert_changes(r, res, &changes, why);
	if (rc != RN_OK)
		return rc;
	/* Only the active controller's image is known to be current. */
	if (!ctrl_is_active(n->ctrl)) {
		listener_not_controller_why(n, r->listener, why);
		return RN_E_NOT_CONTROLLER;
	}
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	uint32_t nch = (uint32_t)res->n_configs;
	if (res->resource_type == RESOURCE_TOPIC)
		rc = controller_plan_alter_configs(ctrl_image(n->ctrl), res->resource_name, changes,
						   nch, &recs, &count, why, ADMIN_WHY_LEN);
	else
		rc = controller_plan_alter_cluster_configs(ctrl_image(n->ctrl), changes, nch, &recs,
							   &count, why, ADMIN_WHY_LEN);
	if (rc == RN_OK && !validate_only) {
		rc = ctrl_propose(n->ctrl, recs, count, last_index);
		*proposed = rc == RN_OK;
	}
	controller_records_free(recs, count);
	return rc;
}

void handle_incremental_alter_configs(struct req *r)
{
	const Runnel__IncrementalAlterConfigsRequest *ar = r->msg->incremental_alter_configs;
	if (ar->n_resources > RN_MAX_TOPICS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST,
			 "too many resources in one IncrementalAlterConfigs request");
		return;
	}
	if (forward_controller_request(r, ar->timeout_ms, handle_incremental_alter_configs))
		return;
	uint32_t count = (uint32_t)ar->n_resources;
	struct admin_wait *aw = admin_wait_new(r, count);
	Runnel__IncrementalAlterConfigsResponse *body = req_alloc(r, sizeof(*body));
	runnel__incremental_alter_configs_response__init(body);
	body->n_resources = count;
	body->resources = req_alloc(r, (count + 1) * sizeof(*body->resources));
	aw->resp.body_case = RUNNEL__RESPONSE__BODY_INCREMENTAL_ALTER_CONFIGS;
	aw->resp.incremental_alter_configs = body;
	uint64_t last = 0;
	bool any = false;
	char why[ADMIN_WHY_LEN];
	for (uint32_t i = 0; i < count; i++) {
		const Runnel__AlterConfigsResource *in = ar->resources[i];
		Runnel__AlterConfigsResourceResult *res = req_alloc(r, sizeof(*res));
		runnel__alter_configs_resource_result__init(res);
		body->resources[i] = res;
		res->resource_type = in->resource_type;
		res->resource_name = in->resource_name;
		aw->error_codes[i] = &res->error_code;
		aw->error_messages[i] = &res->error_message;
		why[0] = '\0';
		uint64_t index = 0;
		int rc = alter_one(r, in, ar->validate_only, &aw->proposed[i], &index, why);
		if (rc != RN_OK) {
			res->error_code = rn_err_to_wire(rc);
			res->error_message = req_strdup(r, why[0] ? why : rn_strerror(rc));
			continue;
		}
		if (aw->proposed[i]) {
			any = true;
			last = index > last ? index : last;
		}
	}
	admin_wait_or_answer(aw, any, last, admin_timeout_ms(ar->timeout_ms));
}

/* ---------------------------------------------------- describe configs */

/* Fills one resource's entries: every key, or the ones it names. */
static int describe_entries(struct req *r, const Runnel__DescribeConfigsResource *in,
			    const struct meta_image *img, const struct meta_topic *t,
			    Runnel__DescribeConfigsResult *res, char *why)
{
	/* A topic shows what this node applies to it (its own settings
	 * included); the cluster shows only what every node shares. */
	const struct node_config *cfg = t ? &r->node->cfg : NULL;
	uint32_t all = controller_config_count();
	size_t n = in->n_config_names ? in->n_config_names : all;
	if (n > RN_MAX_CONFIGS_PER_TOPIC) {
		snprintf(why, ADMIN_WHY_LEN, "at most %u config names per resource, got %zu",
			 RN_MAX_CONFIGS_PER_TOPIC, n);
		return RN_E_INVALID_REQUEST;
	}
	res->configs = req_alloc(r, (n + 1) * sizeof(*res->configs));
	for (size_t i = 0; i < n; i++) {
		const char *key = in->n_config_names ? in->config_names[i]
						     : controller_config_at((uint32_t)i)->name;
		char buf[TOPIC_CONF_VALUE_BUF];
		const char *value, *source;
		if (topic_conf_describe(cfg, img, t, key, buf, &value, &source) != RN_OK) {
			snprintf(why, ADMIN_WHY_LEN, "unknown topic config \"%.200s\"", key);
			return RN_E_INVALID_CONFIG;
		}
		Runnel__ConfigEntry *e = req_alloc(r, sizeof(*e));
		runnel__config_entry__init(e);
		e->name = (char *)key;
		e->value = value == buf ? req_strdup(r, buf) : req_strdup(r, value);
		e->source = (char *)source;
		res->configs[i] = e;
	}
	res->n_configs = n;
	return RN_OK;
}

static int describe_one(struct req *r, const Runnel__DescribeConfigsResource *in,
			Runnel__DescribeConfigsResult *res, char *why)
{
	const struct meta_image *img = ctrl_image(r->node->ctrl);
	const struct meta_topic *t = NULL;
	const char *reason;
	if (in->resource_type == RESOURCE_TOPIC) {
		if (!meta_topic_name_valid(in->resource_name, &reason)) {
			snprintf(why, ADMIN_WHY_LEN, "%s", reason);
			return RN_E_INVALID_TOPIC;
		}
		t = meta_image_topic_by_name(img, in->resource_name);
		if (!t) {
			snprintf(why, ADMIN_WHY_LEN, "topic \"%s\" does not exist", in->resource_name);
			return RN_E_UNKNOWN_TOPIC_OR_PARTITION;
		}
	} else if (in->resource_type != RESOURCE_CLUSTER || in->resource_name[0]) {
		snprintf(why, ADMIN_WHY_LEN, "describe a topic (type 2, its name) or the cluster "
					     "(type 4, an empty name)");
		return RN_E_INVALID_REQUEST;
	}
	return describe_entries(r, in, img, t, res, why);
}

void handle_describe_configs(struct req *r)
{
	const Runnel__DescribeConfigsRequest *dr = r->msg->describe_configs;
	if (dr->n_resources > RN_MAX_TOPICS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many resources in one DescribeConfigs request");
		return;
	}
	uint32_t count = (uint32_t)dr->n_resources;
	Runnel__DescribeConfigsResponse *body = req_alloc(r, sizeof(*body));
	runnel__describe_configs_response__init(body);
	body->n_results = count;
	body->results = req_alloc(r, (count + 1) * sizeof(*body->results));
	char why[ADMIN_WHY_LEN];
	for (uint32_t i = 0; i < count; i++) {
		const Runnel__DescribeConfigsResource *in = dr->resources[i];
		Runnel__DescribeConfigsResult *res = req_alloc(r, sizeof(*res));
		runnel__describe_configs_result__init(res);
		body->results[i] = res;
		res->resource_type = in->resource_type;
		res->resource_name = in->resource_name;
		why[0] = '\0';
		int rc = describe_one(r, in, res, why);
		if (rc != RN_OK) {
			res->n_configs = 0;
			res->error_code = rn_err_to_wire(rc);
			res->error_message = req_strdup(r, why[0] ? why : rn_strerror(rc));
		}
	}
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.body_case = RUNNEL__RESPONSE__BODY_DESCRIBE_CONFIGS;
	resp.describe_configs = body;
	req_respond(r, &resp);
}
