/* h_metadata.c: Metadata: brokers, cluster id, controller and topics from the image. */
#include "broker/conn.h"
#include "broker/ctrl.h"
#include "broker/handlers.h"
#include "broker/listener.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "common/errors.h"
#include "controller/controller.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int32_t *copy_ids(struct req *r, const int32_t *ids, uint32_t count)
{
	int32_t *out = req_alloc(r, (count ? count : 1) * sizeof(*out));
	memcpy(out, ids, count * sizeof(*out));
	return out;
}

static Runnel__PartitionMetadata *partition_meta(struct req *r, const struct meta_partition *mp)
{
	Runnel__PartitionMetadata *pm = req_alloc(r, sizeof(*pm));
	runnel__partition_metadata__init(pm);
	pm->partition = mp->partition;
	pm->leader = mp->leader;
	pm->leader_epoch = mp->leader_epoch;
	pm->partition_epoch = mp->partition_epoch;
	pm->n_replicas = mp->replica_count;
	pm->replicas = copy_ids(r, mp->replicas, mp->replica_count);
	pm->n_isr = mp->isr_count;
	pm->isr = copy_ids(r, mp->isr, mp->isr_count);
	return pm;
}

/* The effective value of one config key and where it comes from: the
 * topic's override, the cluster-wide default, the node's setting or the
 * built-in default (topic_conf_describe). */
static Runnel__ConfigEntry *config_entry(struct req *r, const struct meta_topic *t,
					 const struct controller_config_def *def)
{
	Runnel__ConfigEntry *e = req_alloc(r, sizeof(*e));
	runnel__config_entry__init(e);
	e->name = (char *)def->name;
	char buf[TOPIC_CONF_VALUE_BUF];
	const char *value = def->default_value, *source = CONTROLLER_SOURCE_DEFAULT;
	topic_conf_describe(&r->node->cfg, ctrl_image(r->node->ctrl), t, def->name, buf, &value,
			    &source);
	e->value = value == buf ? req_strdup(r, buf) : (char *)value;
	e->source = (char *)source;
	return e;
}

static void fill_topic(struct req *r, Runnel__TopicMetadata *tm, const struct meta_topic *t)
{
	tm->name = (char *)t->name;
	tm->topic_id.data = (uint8_t *)t->id;
	tm->topic_id.len = META_TOPIC_ID_LEN;
	tm->n_partitions = t->partition_count;
	tm->partitions = req_alloc(r, (t->partition_count + 1) * sizeof(*tm->partitions));
	for (uint32_t i = 0; i < t->partition_count; i++)
		tm->partitions[i] = partition_meta(r, &t->partitions[i]);
	uint32_t count = controller_config_count();
	tm->n_configs = count;
	tm->configs = req_alloc(r, (count + 1) * sizeof(*tm->configs));
	for (uint32_t i = 0; i < count; i++)
		tm->configs[i] = config_entry(r, t, controller_config_at(i));
}

static Runnel__TopicMetadata *topic_meta(struct req *r, const struct meta_image *img,
					 const char *name)
{
	Runnel__TopicMetadata *tm = req_alloc(r, sizeof(*tm));
	runnel__topic_metadata__init(tm);
	tm->name = (char *)name;
	const char *why = NULL;
	const struct meta_topic *t = meta_image_topic_by_name(img, name);
	if (!meta_topic_name_valid(name, &why)) {
		tm->error_code = rn_err_to_wire(RN_E_INVALID_TOPIC);
		tm->error_message = (char *)why;
	} else if (!t) {
		tm->error_code = rn_err_to_wire(RN_E_UNKNOWN_TOPIC_OR_PARTITION);
		tm->error_message = "no topic with this name";
	} else {
		fill_topic(r, tm, t);
	}
	return tm;
}

/* Every broker with its address for the request's listener (a broker that
 * lacks that listener is listed with its inter-node address). */
static void fill_brokers(struct req *r, Runnel__MetadataResponse *body,
			 const struct meta_image *img)
{
	uint32_t count = meta_image_broker_count(img);
	body->n_brokers = count;
	body->brokers = req_alloc(r, (count + 1) * sizeof(*body->brokers));
	for (uint32_t i = 0; i < count; i++) {
		const struct meta_broker *b = meta_image_broker_at(img, i);
		Runnel__BrokerInfo *bi = req_alloc(r, sizeof(*bi));
		runnel__broker_info__init(bi);
		bi->node_id = b->node_id;
		const char *host;
		listener_broker_address(b, r->listener, &host, &bi->port);
		bi->host = (char *)host;
		bi->fenced = b->fenced;
		bi->rack = (char *)b->rack;
		body->brokers[i] = bi;
	}
}

/*
 * The node a client of this listener sends controller requests to: the
 * active controller when it is a broker with an address on this listener;
 * otherwise this node, when it is a broker (it forwards them to the active
 * controller); otherwise the active controller as this node knows it.
 */
static int32_t controller_for_client(struct req *r)
{
	struct node *n = r->node;
	int32_t leader = ctrl_leader_id(n->ctrl);
	if (leader < 0 || leader == n->cfg.node_id)
		return leader;
	const struct meta_broker *b = meta_image_broker(ctrl_image(n->ctrl), leader);
	const char *host;
	int32_t port;
	if (b && listener_broker_address(b, r->listener, &host, &port))
		return leader;
	return (n->cfg.roles & NODE_ROLE_BROKER) && !r->no_forward ? n->cfg.node_id : leader;
}

void handle_metadata(struct req *r)
{
	const Runnel__MetadataRequest *mr = r->msg->metadata;
	if (mr->n_topics > RN_MAX_TOPICS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many topics in one Metadata request");
		return;
	}
	const struct meta_image *img = ctrl_image(r->node->ctrl);
	Runnel__MetadataResponse *body = req_alloc(r, sizeof(*body));
	runnel__metadata_response__init(body);
	fill_brokers(r, body, img);
	body->cluster_id = (char *)meta_image_cluster_id(img);
	body->controller_id = controller_for_client(r);
	bool all = mr->n_topics == 0 && mr->all_topics;
	size_t count = all ? meta_image_topic_count(img) : mr->n_topics;
	body->n_topics = count;
	body->topics = req_alloc(r, (count + 1) * sizeof(*body->topics));
	for (size_t i = 0; i < count; i++) {
		const char *name = all ? meta_image_topic_at(img, (uint32_t)i)->name : mr->topics[i];
		body->topics[i] = topic_meta(r, img, name);
	}
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.body_case = RUNNEL__RESPONSE__BODY_METADATA;
	resp.metadata = body;
	/* The response points into the image; it is packed before any other
	 * callback can apply a record. */
	req_respond(r, &resp);
}
