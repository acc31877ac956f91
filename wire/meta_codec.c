/* meta_codec.c: metadata log records to and from MetadataRecord protobuf bytes. */
#include "wire/meta_codec.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "wire/metadata.pb-c.h"

/* The protobuf-c structs built for encoding point into the record; the
 * casts drop const only because protobuf-c's fields are not const. */

static bool str_fits(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

static ProtobufCBinaryData id_bytes(const uint8_t *id)
{
	ProtobufCBinaryData b = { .len = META_TOPIC_ID_LEN, .data = (uint8_t *)id };
	return b;
}

/* Everything the encoder builds on the stack for one record. */
struct enc {
	Runnel__Meta__MetadataRecord top;
	union {
		Runnel__Meta__ClusterRecord cluster;
		Runnel__Meta__RegisterBrokerRecord broker;
		Runnel__Meta__FenceBrokerRecord fence;
		Runnel__Meta__TopicRecord topic;
		Runnel__Meta__PartitionRecord partition;
		Runnel__Meta__RemoveTopicRecord remove;
	} u;
	Runnel__Meta__TopicConfig configs[RN_MAX_CONFIGS_PER_TOPIC];
	Runnel__Meta__TopicConfig *config_ptrs[RN_MAX_CONFIGS_PER_TOPIC];
};

static int enc_topic(struct enc *e, const struct meta_record *rec)
{
	const typeof(rec->u.topic) *t = &rec->u.topic;
	if (t->config_count > RN_MAX_CONFIGS_PER_TOPIC || (t->config_count && !t->configs) ||
	    !str_fits(t->name, sizeof(t->name)))
		return RN_E_INVAL;
	runnel__meta__topic_record__init(&e->u.topic);
	e->u.topic.name = (char *)t->name;
	e->u.topic.topic_id = id_bytes(t->topic_id);
	for (uint32_t i = 0; i < t->config_count; i++) {
		const struct meta_config_entry *c = &t->configs[i];
		if (!str_fits(c->name, sizeof(c->name)) || !str_fits(c->value, sizeof(c->value)))
			return RN_E_INVAL;
		runnel__meta__topic_config__init(&e->configs[i]);
		e->configs[i].name = (char *)c->name;
		e->configs[i].value = (char *)c->value;
		e->config_ptrs[i] = &e->configs[i];
	}
	e->u.topic.n_configs = t->config_count;
	e->u.topic.configs = e->config_ptrs;
	e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_TOPIC;
	e->top.topic = &e->u.topic;
	return 0;
}

static int enc_partition(struct enc *e, const struct meta_record *rec)
{
	const typeof(rec->u.partition) *p = &rec->u.partition;
	if (p->replica_count > RN_MAX_REPLICATION_FACTOR || p->isr_count > RN_MAX_REPLICATION_FACTOR)
		return RN_E_INVAL;
	runnel__meta__partition_record__init(&e->u.partition);
	e->u.partition.topic_id = id_bytes(p->topic_id);
	e->u.partition.partition = p->partition;
	e->u.partition.n_replicas = p->replica_count;
	e->u.partition.replicas = (int32_t *)p->replicas;
	e->u.partition.n_isr = p->isr_count;
	e->u.partition.isr = (int32_t *)p->isr;
	e->u.partition.leader = p->leader;
	e->u.partition.leader_epoch = p->leader_epoch;
	e->u.partition.partition_epoch = p->partition_epoch;
	e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_PARTITION;
	e->top.partition = &e->u.partition;
	return 0;
}

static int enc_broker(struct enc *e, const struct meta_record *rec)
{
	if (!str_fits(rec->u.broker.host, sizeof(rec->u.broker.host)))
		return RN_E_INVAL;
	runnel__meta__register_broker_record__init(&e->u.broker);
	e->u.broker.node_id = rec->u.broker.node_id;
	e->u.broker.broker_epoch = rec->u.broker.broker_epoch;
	e->u.broker.host = (char *)rec->u.broker.host;
	e->u.broker.port = rec->u.broker.port;
	e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_REGISTER_BROKER;
	e->top.register_broker = &e->u.broker;
	return 0;
}

static int enc_build(struct enc *e, const struct meta_record *rec)
{
	runnel__meta__metadata_record__init(&e->top);
	switch (rec->type) {
	case META_REC_CLUSTER:
		if (!str_fits(rec->u.cluster.cluster_id, sizeof(rec->u.cluster.cluster_id)))
			return RN_E_INVAL;
		runnel__meta__cluster_record__init(&e->u.cluster);
		e->u.cluster.cluster_id = (char *)rec->u.cluster.cluster_id;
		e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_CLUSTER;
		e->top.cluster = &e->u.cluster;
		return 0;
	case META_REC_REGISTER_BROKER:
		return enc_broker(e, rec);
	case META_REC_FENCE_BROKER:
		runnel__meta__fence_broker_record__init(&e->u.fence);
		e->u.fence.node_id = rec->u.fence.node_id;
		e->u.fence.fenced = rec->u.fence.fenced;
		e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_FENCE_BROKER;
		e->top.fence_broker = &e->u.fence;
		return 0;
	case META_REC_TOPIC:
		return enc_topic(e, rec);
	case META_REC_PARTITION:
		return enc_partition(e, rec);
	case META_REC_REMOVE_TOPIC:
		runnel__meta__remove_topic_record__init(&e->u.remove);
		e->u.remove.topic_id = id_bytes(rec->u.remove_topic.topic_id);
		e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_REMOVE_TOPIC;
		e->top.remove_topic = &e->u.remove;
		return 0;
	}
	return RN_E_INVAL;
}

int meta_record_encode(const struct meta_record *rec, uint8_t **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	struct enc *e = malloc(sizeof(*e));
	if (!e)
		return RN_E_NOMEM;
	int rc = enc_build(e, rec);
	if (rc != 0)
		goto free_enc;
	size_t size = runnel__meta__metadata_record__get_packed_size(&e->top);
	if (size > RN_MAX_METADATA_RECORD_BYTES) {
		rc = RN_E_INVAL;
		goto free_enc;
	}
	/* One spare byte so a record that packs to nothing still gets a buffer. */
	uint8_t *out = malloc(size + 1);
	if (!out) {
		rc = RN_E_NOMEM;
		goto free_enc;
	}
	*len = runnel__meta__metadata_record__pack(&e->top, out);
	*buf = out;
free_enc:
	free(e);
	return rc;
}

/* ---- decoding ---------------------------------------------------------- */

/* Copies a protobuf string into a fixed field; false if it does not fit. */
static bool copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap) : 0;
	if (n >= cap)
		return false;
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
	return true;
}

static bool copy_id(uint8_t *dst, ProtobufCBinaryData b)
{
	if (b.len != META_TOPIC_ID_LEN)
		return false;
	memcpy(dst, b.data, META_TOPIC_ID_LEN);
	return true;
}

static int dec_topic(const Runnel__Meta__TopicRecord *t, struct meta_record *out)
{
	out->type = META_REC_TOPIC;
	if (!copy_str(out->u.topic.name, sizeof(out->u.topic.name), t->name) ||
	    !copy_id(out->u.topic.topic_id, t->topic_id) ||
	    t->n_configs > RN_MAX_CONFIGS_PER_TOPIC)
		return RN_E_CORRUPT_STATE;
	if (t->n_configs == 0)
		return 0;
	struct meta_config_entry *c = calloc(t->n_configs, sizeof(*c));
	if (!c)
		return RN_E_NOMEM;
	for (size_t i = 0; i < t->n_configs; i++) {
		if (!copy_str(c[i].name, sizeof(c[i].name), t->configs[i]->name) ||
		    !copy_str(c[i].value, sizeof(c[i].value), t->configs[i]->value)) {
			free(c);
			return RN_E_CORRUPT_STATE;
		}
	}
	out->u.topic.configs = c;
	out->u.topic.config_count = (uint32_t)t->n_configs;
	return 0;
}

static int dec_partition(const Runnel__Meta__PartitionRecord *p, struct meta_record *out)
{
	out->type = META_REC_PARTITION;
	if (!copy_id(out->u.partition.topic_id, p->topic_id) ||
	    p->n_replicas > RN_MAX_REPLICATION_FACTOR || p->n_isr > RN_MAX_REPLICATION_FACTOR)
		return RN_E_CORRUPT_STATE;
	out->u.partition.partition = p->partition;
	out->u.partition.replica_count = (uint32_t)p->n_replicas;
	if (p->n_replicas)
		memcpy(out->u.partition.replicas, p->replicas, p->n_replicas * sizeof(int32_t));
	out->u.partition.isr_count = (uint32_t)p->n_isr;
	if (p->n_isr)
		memcpy(out->u.partition.isr, p->isr, p->n_isr * sizeof(int32_t));
	out->u.partition.leader = p->leader;
	out->u.partition.leader_epoch = p->leader_epoch;
	out->u.partition.partition_epoch = p->partition_epoch;
	return 0;
}

static int dec_broker(const Runnel__Meta__RegisterBrokerRecord *b, struct meta_record *out)
{
	out->type = META_REC_REGISTER_BROKER;
	if (!copy_str(out->u.broker.host, sizeof(out->u.broker.host), b->host))
		return RN_E_CORRUPT_STATE;
	out->u.broker.node_id = b->node_id;
	out->u.broker.broker_epoch = b->broker_epoch;
	out->u.broker.port = b->port;
	return 0;
}

static int dec_record(const Runnel__Meta__MetadataRecord *m, struct meta_record *out)
{
	switch (m->record_case) {
	case RUNNEL__META__METADATA_RECORD__RECORD_CLUSTER:
		out->type = META_REC_CLUSTER;
		return copy_str(out->u.cluster.cluster_id, sizeof(out->u.cluster.cluster_id),
				m->cluster->cluster_id)
			       ? 0
			       : RN_E_CORRUPT_STATE;
	case RUNNEL__META__METADATA_RECORD__RECORD_REGISTER_BROKER:
		return dec_broker(m->register_broker, out);
	case RUNNEL__META__METADATA_RECORD__RECORD_FENCE_BROKER:
		out->type = META_REC_FENCE_BROKER;
		out->u.fence.node_id = m->fence_broker->node_id;
		out->u.fence.fenced = m->fence_broker->fenced;
		return 0;
	case RUNNEL__META__METADATA_RECORD__RECORD_TOPIC:
		return dec_topic(m->topic, out);
	case RUNNEL__META__METADATA_RECORD__RECORD_PARTITION:
		return dec_partition(m->partition, out);
	case RUNNEL__META__METADATA_RECORD__RECORD_REMOVE_TOPIC:
		out->type = META_REC_REMOVE_TOPIC;
		return copy_id(out->u.remove_topic.topic_id, m->remove_topic->topic_id)
			       ? 0
			       : RN_E_CORRUPT_STATE;
	default:
		return RN_E_CORRUPT_STATE;
	}
}

int meta_record_decode(const uint8_t *buf, size_t len, struct meta_record *out)
{
	memset(out, 0, sizeof(*out));
	if ((!buf && len > 0) || len > RN_MAX_METADATA_RECORD_BYTES)
		return RN_E_CORRUPT_STATE;
	Runnel__Meta__MetadataRecord *m = runnel__meta__metadata_record__unpack(NULL, len, buf);
	if (!m)
		return RN_E_CORRUPT_STATE;
	int rc = dec_record(m, out);
	runnel__meta__metadata_record__free_unpacked(m, NULL);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
