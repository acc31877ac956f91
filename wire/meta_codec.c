/* meta_codec.c: metadata log records to and from MetadataRecord protobuf bytes. */
#include "wire/meta_codec.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "wire/batch.h"
#include "wire/metadata.pb-c.h"

_Static_assert(META_INCARNATION_ID_LEN == META_TOPIC_ID_LEN,
	       "copy_id copies incarnation ids and topic ids alike");

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
		Runnel__Meta__PartitionChangeRecord change;
		Runnel__Meta__ConfigRecord config;
		Runnel__Meta__ProducerIdsRecord producer_ids;
	} u;
	Runnel__Meta__TopicConfig configs[RN_MAX_CONFIGS_PER_TOPIC];
	Runnel__Meta__TopicConfig *config_ptrs[RN_MAX_CONFIGS_PER_TOPIC];
	Runnel__Meta__BrokerEndpoint endpoints[META_MAX_ENDPOINTS];
	Runnel__Meta__BrokerEndpoint *endpoint_ptrs[META_MAX_ENDPOINTS];
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

static int enc_endpoints(struct enc *e, const struct meta_record *rec)
{
	const typeof(rec->u.broker) *b = &rec->u.broker;
	if (b->endpoint_count > META_MAX_ENDPOINTS)
		return RN_E_INVAL;
	for (uint32_t i = 0; i < b->endpoint_count; i++) {
		const struct meta_endpoint *src = &b->endpoints[i];
		if (!str_fits(src->name, sizeof(src->name)) ||
		    !str_fits(src->host, sizeof(src->host)))
			return RN_E_INVAL;
		runnel__meta__broker_endpoint__init(&e->endpoints[i]);
		e->endpoints[i].name = (char *)src->name;
		e->endpoints[i].host = (char *)src->host;
		e->endpoints[i].port = src->port;
		e->endpoint_ptrs[i] = &e->endpoints[i];
	}
	e->u.broker.n_endpoints = b->endpoint_count;
	e->u.broker.endpoints = e->endpoint_ptrs;
	return 0;
}

static int enc_broker(struct enc *e, const struct meta_record *rec)
{
	const typeof(rec->u.broker) *b = &rec->u.broker;
	if (!str_fits(b->host, sizeof(b->host)) || !str_fits(b->rack, sizeof(b->rack)))
		return RN_E_INVAL;
	runnel__meta__register_broker_record__init(&e->u.broker);
	e->u.broker.node_id = b->node_id;
	e->u.broker.broker_epoch = b->broker_epoch;
	e->u.broker.host = (char *)b->host;
	e->u.broker.port = b->port;
	e->u.broker.incarnation_id.len = META_INCARNATION_ID_LEN;
	e->u.broker.incarnation_id.data = (uint8_t *)b->incarnation_id;
	e->u.broker.rack = (char *)b->rack;
	e->u.broker.fenced = b->fenced;
	e->u.broker.registered_index = b->registered_index;
	int rc = enc_endpoints(e, rec);
	if (rc != 0)
		return rc;
	e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_REGISTER_BROKER;
	e->top.register_broker = &e->u.broker;
	return 0;
}

static int enc_change(struct enc *e, const struct meta_record *rec)
{
	const typeof(rec->u.partition_change) *pc = &rec->u.partition_change;
	if (pc->isr_count > RN_MAX_REPLICATION_FACTOR)
		return RN_E_INVAL;
	runnel__meta__partition_change_record__init(&e->u.change);
	e->u.change.topic_id = id_bytes(pc->topic_id);
	e->u.change.partition = pc->partition;
	e->u.change.has_leader = pc->has_leader;
	e->u.change.leader = pc->leader;
	e->u.change.has_isr = pc->has_isr;
	e->u.change.n_isr = pc->has_isr ? pc->isr_count : 0;
	e->u.change.isr = (int32_t *)pc->isr;
	e->u.change.leader_epoch = pc->leader_epoch;
	e->u.change.partition_epoch = pc->partition_epoch;
	e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_PARTITION_CHANGE;
	e->top.partition_change = &e->u.change;
	return 0;
}

static int enc_config(struct enc *e, const struct meta_record *rec)
{
	const typeof(rec->u.config) *c = &rec->u.config;
	if (!str_fits(c->name, sizeof(c->name)) || !str_fits(c->value, sizeof(c->value)))
		return RN_E_INVAL;
	runnel__meta__config_record__init(&e->u.config);
	e->u.config.topic_id = id_bytes(c->topic_id);
	e->u.config.name = (char *)c->name;
	e->u.config.value = (char *)c->value;
	e->u.config.remove = c->remove;
	e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_CONFIG;
	e->top.config = &e->u.config;
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
	case META_REC_PARTITION_CHANGE:
		return enc_change(e, rec);
	case META_REC_CONFIG:
		return enc_config(e, rec);
	case META_REC_PRODUCER_IDS:
		runnel__meta__producer_ids_record__init(&e->u.producer_ids);
		e->u.producer_ids.next_producer_id = rec->u.producer_ids.next_producer_id;
		e->top.record_case = RUNNEL__META__METADATA_RECORD__RECORD_PRODUCER_IDS;
		e->top.producer_ids = &e->u.producer_ids;
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
	typeof(out->u.broker) *r = &out->u.broker;
	out->type = META_REC_REGISTER_BROKER;
	if (!copy_str(r->host, sizeof(r->host), b->host) ||
	    !copy_str(r->rack, sizeof(r->rack), b->rack) || b->n_endpoints > META_MAX_ENDPOINTS)
		return RN_E_CORRUPT_STATE;
	/* Records written before incarnation ids existed carry none. */
	if (b->incarnation_id.len != 0 && !copy_id(r->incarnation_id, b->incarnation_id))
		return RN_E_CORRUPT_STATE;
	for (size_t i = 0; i < b->n_endpoints; i++) {
		const Runnel__Meta__BrokerEndpoint *src = b->endpoints[i];
		if (!copy_str(r->endpoints[i].name, sizeof(r->endpoints[i].name), src->name) ||
		    !copy_str(r->endpoints[i].host, sizeof(r->endpoints[i].host), src->host))
			return RN_E_CORRUPT_STATE;
		r->endpoints[i].port = src->port;
	}
	r->endpoint_count = (uint32_t)b->n_endpoints;
	r->node_id = b->node_id;
	r->broker_epoch = b->broker_epoch;
	r->port = b->port;
	r->fenced = b->fenced;
	r->registered_index = b->registered_index;
	return 0;
}

static int dec_change(const Runnel__Meta__PartitionChangeRecord *c, struct meta_record *out)
{
	typeof(out->u.partition_change) *pc = &out->u.partition_change;
	out->type = META_REC_PARTITION_CHANGE;
	if (!copy_id(pc->topic_id, c->topic_id) || c->n_isr > RN_MAX_REPLICATION_FACTOR ||
	    (!c->has_isr && c->n_isr > 0))
		return RN_E_CORRUPT_STATE;
	pc->partition = c->partition;
	pc->has_leader = c->has_leader;
	pc->leader = c->leader;
	pc->has_isr = c->has_isr;
	pc->isr_count = (uint32_t)c->n_isr;
	if (c->n_isr)
		memcpy(pc->isr, c->isr, c->n_isr * sizeof(int32_t));
	pc->leader_epoch = c->leader_epoch;
	pc->partition_epoch = c->partition_epoch;
	return 0;
}

static int dec_config(const Runnel__Meta__ConfigRecord *c, struct meta_record *out)
{
	typeof(out->u.config) *r = &out->u.config;
	out->type = META_REC_CONFIG;
	if (!copy_id(r->topic_id, c->topic_id) || !copy_str(r->name, sizeof(r->name), c->name) ||
	    !copy_str(r->value, sizeof(r->value), c->value))
		return RN_E_CORRUPT_STATE;
	r->remove = c->remove;
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
	case RUNNEL__META__METADATA_RECORD__RECORD_PARTITION_CHANGE:
		return dec_change(m->partition_change, out);
	case RUNNEL__META__METADATA_RECORD__RECORD_CONFIG:
		return dec_config(m->config, out);
	case RUNNEL__META__METADATA_RECORD__RECORD_PRODUCER_IDS:
		out->type = META_REC_PRODUCER_IDS;
		out->u.producer_ids.next_producer_id = m->producer_ids->next_producer_id;
		return 0;
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

/* ---- snapshots ------------------------------------------------------------ */

static const uint8_t snapshot_magic[4] = { 'R', 'N', 'M', 'S' };
/* magic, version, applied index, record count */
#define SNAPSHOT_HEADER_BYTES 20u
#define SNAPSHOT_LEN_BYTES 4u
#define SNAPSHOT_CRC_BYTES 4u

struct snapbuf {
	uint8_t *data;
	size_t len, cap;
};

static int snapbuf_reserve(struct snapbuf *b, size_t more)
{
	if (more > META_SNAPSHOT_MAX_BYTES || b->len + more > META_SNAPSHOT_MAX_BYTES)
		return RN_E_FULL;
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	if (cap > META_SNAPSHOT_MAX_BYTES)
		cap = META_SNAPSHOT_MAX_BYTES;
	uint8_t *n = realloc(b->data, cap);
	if (!n)
		return RN_E_NOMEM;
	b->data = n;
	b->cap = cap;
	return 0;
}

static void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Appends one record, length-prefixed. */
static int snapbuf_add_record(struct snapbuf *b, const struct meta_record *rec)
{
	uint8_t *enc;
	size_t enc_len;
	int rc = meta_record_encode(rec, &enc, &enc_len);
	if (rc != 0)
		return rc;
	rc = snapbuf_reserve(b, SNAPSHOT_LEN_BYTES + enc_len);
	if (rc == 0) {
		put_be(b->data + b->len, enc_len, SNAPSHOT_LEN_BYTES);
		memcpy(b->data + b->len + SNAPSHOT_LEN_BYTES, enc, enc_len);
		b->len += SNAPSHOT_LEN_BYTES + enc_len;
	}
	free(enc);
	return rc;
}

/* Appends every record of the image; *count receives how many. */
static int snapbuf_add_image(struct snapbuf *b, const struct meta_image *img, uint32_t *count)
{
	struct meta_image_pos pos = { 0 };
	struct meta_record rec;
	int more;
	*count = 0;
	while ((more = meta_image_records_next(img, &pos, &rec)) == 1) {
		int rc = snapbuf_add_record(b, &rec);
		meta_record_free_contents(&rec);
		if (rc != 0)
			return rc;
		(*count)++;
	}
	return more;
}

int meta_snapshot_encode(const struct meta_image *img, uint8_t **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	struct snapbuf b = { 0 };
	int rc = snapbuf_reserve(&b, SNAPSHOT_HEADER_BYTES);
	if (rc != 0)
		goto free_buf;
	b.len = SNAPSHOT_HEADER_BYTES;
	uint32_t count;
	rc = snapbuf_add_image(&b, img, &count);
	if (rc != 0)
		goto free_buf;
	rc = snapbuf_reserve(&b, SNAPSHOT_CRC_BYTES);
	if (rc != 0)
		goto free_buf;
	memcpy(b.data, snapshot_magic, sizeof(snapshot_magic));
	put_be(b.data + 4, META_SNAPSHOT_VERSION, 4);
	put_be(b.data + 8, meta_image_applied_index(img), 8);
	put_be(b.data + 16, count, 4);
	put_be(b.data + b.len, crc32c(b.data, b.len), SNAPSHOT_CRC_BYTES);
	b.len += SNAPSHOT_CRC_BYTES;
	*buf = b.data;
	*len = b.len;
	return 0;
free_buf:
	free(b.data);
	return rc;
}

/* Checks the frame around the records: size, magic, version and CRC. */
static int snapshot_check(const uint8_t *buf, size_t len)
{
	if (!buf || len < SNAPSHOT_HEADER_BYTES + SNAPSHOT_CRC_BYTES ||
	    len > META_SNAPSHOT_MAX_BYTES)
		return RN_E_CORRUPT_STATE;
	if (memcmp(buf, snapshot_magic, sizeof(snapshot_magic)) != 0 ||
	    get_be(buf + 4, 4) != META_SNAPSHOT_VERSION)
		return RN_E_CORRUPT_STATE;
	size_t body = len - SNAPSHOT_CRC_BYTES;
	if (crc32c(buf, body) != (uint32_t)get_be(buf + body, SNAPSHOT_CRC_BYTES))
		return RN_E_CORRUPT_STATE;
	return 0;
}

/* Decodes the records of a checked snapshot into img. */
static int snapshot_restore(const uint8_t *buf, size_t len, struct meta_image *img)
{
	size_t end = len - SNAPSHOT_CRC_BYTES, pos = SNAPSHOT_HEADER_BYTES;
	uint64_t count = get_be(buf + 16, 4);
	for (uint64_t i = 0; i < count; i++) {
		if (end - pos < SNAPSHOT_LEN_BYTES)
			return RN_E_CORRUPT_STATE;
		size_t rec_len = (size_t)get_be(buf + pos, SNAPSHOT_LEN_BYTES);
		pos += SNAPSHOT_LEN_BYTES;
		if (rec_len > end - pos)
			return RN_E_CORRUPT_STATE;
		struct meta_record rec;
		int rc = meta_record_decode(buf + pos, rec_len, &rec);
		if (rc != 0)
			return rc;
		rc = meta_image_restore_record(img, &rec);
		meta_record_free_contents(&rec);
		if (rc != 0)
			return rc == RN_E_NOMEM ? rc : RN_E_CORRUPT_STATE;
		pos += rec_len;
	}
	if (pos != end)
		return RN_E_CORRUPT_STATE;
	return meta_image_restore_finish(img, get_be(buf + 8, 8)) == 0 ? 0 : RN_E_CORRUPT_STATE;
}

int meta_snapshot_decode(const uint8_t *buf, size_t len, struct meta_image **out)
{
	*out = NULL;
	int rc = snapshot_check(buf, len);
	if (rc != 0)
		return rc;
	struct meta_image *img;
	rc = meta_image_new(&img);
	if (rc != 0)
		return rc;
	rc = snapshot_restore(buf, len, img);
	if (rc != 0) {
		meta_image_free(img);
		return rc;
	}
	*out = img;
	return 0;
}
