/* coord_topic.c: creating the offsets topic through the active controller, and finding a group's coordinator. */
#include "broker/coord_internal.h"

#include "broker/ctrl.h"
#include "broker/node.h"
#include "broker/peer.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/murmur2.h"
#include "common/rn_assert.h"
#include "controller/controller.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The settings the offsets topic is created with. */
struct offsets_topic_plan {
	int32_t partitions;
	int32_t replication_factor;
	struct meta_config_entry configs[3];
	uint32_t config_count;
};

static uint32_t unfenced_brokers(const struct meta_image *img)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < meta_image_broker_count(img); i++)
		if (!meta_image_broker_at(img, i)->fenced)
			n++;
	return n;
}

static void add_config(struct offsets_topic_plan *plan, const char *name, const char *value)
{
	RN_ASSERT(plan->config_count < RN_ARRAY_LEN(plan->configs));
	struct meta_config_entry *e = &plan->configs[plan->config_count++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->value, sizeof(e->value), "%s", value);
}

/*
 * Kafka's rules: offsets.topic.replication.factor, capped by the brokers
 * alive now so a small cluster still gets its topic; compacted, so the log
 * keeps the latest record per key.  min.insync.replicas stays the node's
 * unless the capped factor is smaller, where commits could never succeed.
 * Returns false when no broker is alive to place replicas on.
 */
static bool plan_topic(const struct node *n, struct offsets_topic_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	uint32_t alive = unfenced_brokers(ctrl_image(n->ctrl));
	if (alive == 0)
		return false;
	int64_t rf = n->cfg.offsets_topic_replication_factor;
	plan->replication_factor = (int32_t)(rf < (int64_t)alive ? rf : (int64_t)alive);
	plan->partitions = (int32_t)n->cfg.offsets_topic_num_partitions;
	add_config(plan, "cleanup.policy", "compact");
	add_config(plan, "segment.bytes", COORD_OFFSETS_SEGMENT_BYTES);
	if (n->cfg.min_insync_replicas > plan->replication_factor) {
		char v[16];
		snprintf(v, sizeof(v), "%d", plan->replication_factor);
		add_config(plan, "min.insync.replicas", v);
	}
	return true;
}

/* This node is the active controller: plan and propose the records. */
static void create_local(struct coord *c, const struct offsets_topic_plan *plan)
{
	struct node *n = c->node;
	struct create_topic_req req = {0};
	req.name = COORD_OFFSETS_TOPIC;
	req.partitions = plan->partitions;
	req.replication_factor = plan->replication_factor;
	req.configs = plan->configs;
	req.config_count = plan->config_count;
	req.pending_names = ctrl_pending_names(n->ctrl, &req.pending_count);
	uint8_t id[META_TOPIC_ID_LEN] = {0};
	uint64_t random = 0;
	int rc;
	do {
		rc = node_random(id, sizeof(id));
	} while (rc == RN_OK && memcmp(id, (uint8_t[META_TOPIC_ID_LEN]){0}, sizeof(id)) == 0);
	if (rc == RN_OK)
		rc = node_random(&random, sizeof(random));
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	char why[256] = "";
	uint64_t last = 0;
	if (rc == RN_OK)
		rc = controller_plan_create_topic(ctrl_image(n->ctrl), &req, id, random, &recs, &count,
						  why, sizeof(why));
	if (rc == RN_OK)
		rc = ctrl_propose(n->ctrl, recs, count, &last);
	controller_records_free(recs, count);
	if (rc == RN_OK)
		LOG_INFO("coord", "creating %s: %d partition(s), replication factor %d",
			 COORD_OFFSETS_TOPIC, plan->partitions, plan->replication_factor);
	else if (rc != RN_E_TOPIC_ALREADY_EXISTS)
		LOG_WARN("coord", "cannot create %s: %s", COORD_OFFSETS_TOPIC,
			 why[0] ? why : rn_strerror(rc));
}

static void create_answer_cb(void *arg, int err, const Runnel__Response *resp)
{
	struct coord *c = arg;
	c->create_in_flight = false;
	c->create_peer = NULL;
	if (err == RN_OK && resp->body_case == RUNNEL__RESPONSE__BODY_CREATE_TOPICS &&
	    resp->create_topics->n_topics == 1)
		err = rn_err_from_wire(resp->create_topics->topics[0]->error_code);
	else if (err == RN_OK)
		err = rn_err_from_wire(resp->error_code ? resp->error_code : 1000);
	if (err == RN_OK)
		LOG_INFO("coord", "the active controller created %s", COORD_OFFSETS_TOPIC);
	else if (err != RN_E_TOPIC_ALREADY_EXISTS && err != RN_E_NOT_CONTROLLER)
		LOG_WARN("coord", "the active controller did not create %s: %s",
			 COORD_OFFSETS_TOPIC, rn_strerror(err));
}

/* Another node is the active controller: send it a CreateTopics. */
static void create_remote(struct coord *c, const struct offsets_topic_plan *plan)
{
	struct node *n = c->node;
	int32_t leader = ctrl_leader_id(n->ctrl);
	struct peer *p = leader >= 0 ? ctrl_peer(n->ctrl, leader) : NULL;
	if (!p)
		return;
	Runnel__ConfigEntry entries[RN_ARRAY_LEN(plan->configs)];
	Runnel__ConfigEntry *ptrs[RN_ARRAY_LEN(plan->configs)];
	for (uint32_t i = 0; i < plan->config_count; i++) {
		runnel__config_entry__init(&entries[i]);
		entries[i].name = (char *)plan->configs[i].name;
		entries[i].value = (char *)plan->configs[i].value;
		ptrs[i] = &entries[i];
	}
	Runnel__CreatableTopic topic = RUNNEL__CREATABLE_TOPIC__INIT;
	topic.name = COORD_OFFSETS_TOPIC;
	topic.num_partitions = plan->partitions;
	topic.replication_factor = plan->replication_factor;
	topic.n_configs = plan->config_count;
	topic.configs = ptrs;
	Runnel__CreatableTopic *topics[1] = {&topic};
	Runnel__CreateTopicsRequest body = RUNNEL__CREATE_TOPICS_REQUEST__INIT;
	body.n_topics = 1;
	body.topics = topics;
	body.timeout_ms = COORD_CREATE_CALL_TIMEOUT_MS;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	hdr.api_key = RUNNEL__API_KEY__API_CREATE_TOPICS;
	hdr.client_id = "runneld";
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.header = &hdr;
	req.body_case = RUNNEL__REQUEST__BODY_CREATE_TOPICS;
	req.create_topics = &body;
	if (peer_call(p, &req, COORD_CREATE_CALL_TIMEOUT_MS, create_answer_cb, c) != RN_OK)
		return;
	c->create_in_flight = true;
	c->create_peer = p;
}

void coord_topic_ensure(struct coord *c)
{
	struct node *n = c->node;
	if (meta_image_topic_by_name(ctrl_image(n->ctrl), COORD_OFFSETS_TOPIC))
		return;
	int64_t now = rn_mono_ms();
	if (c->create_in_flight || now < c->create_next_ms || n->stopping)
		return;
	c->create_next_ms = now + COORD_CREATE_RETRY_MS;
	struct offsets_topic_plan plan;
	if (!plan_topic(n, &plan))
		return;
	if (ctrl_is_active(n->ctrl))
		create_local(c, &plan);
	else
		create_remote(c, &plan);
}

void coord_topic_cancel(struct coord *c)
{
	if (c->create_peer)
		peer_cancel(c->create_peer, c);
	c->create_peer = NULL;
	c->create_in_flight = false;
}

int coord_locate(struct coord *c, const char *group_id, int32_t *partition, int32_t *leader)
{
	if (!coord_group_id_valid(group_id))
		return RN_E_INVALID_GROUP_ID;
	const struct meta_image *img = ctrl_image(c->node->ctrl);
	const struct meta_topic *t = meta_image_topic_by_name(img, COORD_OFFSETS_TOPIC);
	if (!t) {
		coord_topic_ensure(c);
		return RN_E_COORDINATOR_NOT_AVAILABLE;
	}
	if (t->partition_count == 0)
		return RN_E_COORDINATOR_NOT_AVAILABLE;
	int32_t index = rn_murmur2_partition(group_id, strlen(group_id),
					     (int32_t)t->partition_count);
	const struct meta_partition *mp = &t->partitions[index];
	const struct meta_broker *b = mp->leader >= 0 ? meta_image_broker(img, mp->leader) : NULL;
	if (!b || b->fenced)
		return RN_E_COORDINATOR_NOT_AVAILABLE;
	*partition = index;
	*leader = mp->leader;
	return RN_OK;
}
