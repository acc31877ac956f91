/* metadata.c: the metadata image, built by applying metadata records in log order. */
#include "controller/metadata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/rn_assert.h"

#define MAX_PORT 65535

/* Topics are heap objects reached through two sorted arrays of pointers, by
 * name (for lookups and name-ordered listing) and by id (the records name
 * topics by id).  Brokers are few and kept in one array sorted by node id. */
struct meta_image {
	char cluster_id[META_CLUSTER_ID_MAX_LEN + 1];
	uint64_t applied;
	struct meta_broker *brokers;
	uint32_t broker_count, broker_cap;
	struct meta_topic **by_name;
	struct meta_topic **by_id;
	uint32_t topic_count, topic_cap;
	/* Cluster-wide config defaults, in the order they were first set. */
	struct meta_config_entry *defaults;
	uint32_t default_count;
	/* Every producer id below this one has been handed out. */
	int64_t next_producer_id;
};

static const char *const record_names[] = {
	[META_REC_CLUSTER] = "CLUSTER",
	[META_REC_REGISTER_BROKER] = "REGISTER_BROKER",
	[META_REC_FENCE_BROKER] = "FENCE_BROKER",
	[META_REC_TOPIC] = "TOPIC",
	[META_REC_PARTITION] = "PARTITION",
	[META_REC_REMOVE_TOPIC] = "REMOVE_TOPIC",
	[META_REC_PARTITION_CHANGE] = "PARTITION_CHANGE",
	[META_REC_CONFIG] = "CONFIG",
	[META_REC_PRODUCER_IDS] = "PRODUCER_IDS",
};

const char *meta_record_type_name(enum meta_record_type type)
{
	if ((unsigned)type < RN_ARRAY_LEN(record_names) && record_names[type])
		return record_names[type];
	return "UNKNOWN";
}

void meta_topic_id_format(const uint8_t id[META_TOPIC_ID_LEN], char buf[33])
{
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < META_TOPIC_ID_LEN; i++) {
		buf[2 * i] = hex[id[i] >> 4];
		buf[2 * i + 1] = hex[id[i] & 15];
	}
	buf[32] = 0;
}

bool meta_topic_name_valid(const char *name, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (!name || !name[0]) {
		*why = "topic name is empty";
		return false;
	}
	size_t len = strnlen(name, RN_MAX_TOPIC_NAME_LEN + 1);
	if (len > RN_MAX_TOPIC_NAME_LEN) {
		*why = "topic name is longer than 249 characters";
		return false;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		*why = "topic name cannot be \".\" or \"..\"";
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok) {
			*why = "topic name may contain only ASCII letters, digits, '.', '_' and '-'";
			return false;
		}
	}
	return true;
}

/* ---- records ----------------------------------------------------------- */

void meta_record_free_contents(struct meta_record *rec)
{
	if (!rec || rec->type != META_REC_TOPIC)
		return;
	free(rec->u.topic.configs);
	rec->u.topic.configs = NULL;
	rec->u.topic.config_count = 0;
}

static int configs_dup(const struct meta_config_entry *src, uint32_t n,
		       struct meta_config_entry **out)
{
	*out = NULL;
	if (n == 0)
		return 0;
	*out = malloc((size_t)n * sizeof(**out));
	if (!*out)
		return RN_E_NOMEM;
	memcpy(*out, src, (size_t)n * sizeof(**out));
	return 0;
}

int meta_record_copy(struct meta_record *dst, const struct meta_record *src)
{
	*dst = *src;
	if (src->type != META_REC_TOPIC)
		return 0;
	int rc = configs_dup(src->u.topic.configs, src->u.topic.config_count,
			     &dst->u.topic.configs);
	if (rc != 0)
		dst->u.topic.config_count = 0;
	return rc;
}

/* ---- image lifetime and lookups ------------------------------------------ */

int meta_image_new(struct meta_image **out)
{
	struct meta_image *img = calloc(1, sizeof(*img));
	if (!img)
		return RN_E_NOMEM;
	*out = img;
	return 0;
}

static void topic_free(struct meta_topic *t)
{
	if (!t)
		return;
	free(t->partitions);
	free(t->configs);
	free(t);
}

void meta_image_free(struct meta_image *img)
{
	if (!img)
		return;
	for (uint32_t i = 0; i < img->topic_count; i++)
		topic_free(img->by_name[i]);
	free(img->by_name);
	free(img->by_id);
	free(img->brokers);
	free(img->defaults);
	free(img);
}

/* Binary search over a sorted array; returns the position of the match or
 * where it would be inserted, and sets *found. */
static uint32_t find_name(const struct meta_image *img, const char *name, bool *found)
{
	uint32_t lo = 0, hi = img->topic_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(img->by_name[mid]->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static uint32_t find_id(const struct meta_image *img, const uint8_t *id, bool *found)
{
	uint32_t lo = 0, hi = img->topic_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = memcmp(img->by_id[mid]->id, id, META_TOPIC_ID_LEN);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static uint32_t find_broker(const struct meta_image *img, int32_t node_id, bool *found)
{
	uint32_t lo = 0, hi = img->broker_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (img->brokers[mid].node_id == node_id) {
			*found = true;
			return mid;
		}
		if (img->brokers[mid].node_id < node_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct meta_topic *meta_image_topic_by_name(const struct meta_image *img, const char *name)
{
	bool found;
	if (!name)
		return NULL;
	uint32_t i = find_name(img, name, &found);
	return found ? img->by_name[i] : NULL;
}

const struct meta_topic *meta_image_topic_by_id(const struct meta_image *img,
						const uint8_t id[META_TOPIC_ID_LEN])
{
	bool found;
	uint32_t i = find_id(img, id, &found);
	return found ? img->by_id[i] : NULL;
}

uint32_t meta_image_topic_count(const struct meta_image *img)
{
	return img->topic_count;
}

const struct meta_topic *meta_image_topic_at(const struct meta_image *img, uint32_t i)
{
	return i < img->topic_count ? img->by_name[i] : NULL;
}

const struct meta_partition *meta_topic_partition(const struct meta_topic *t, int32_t partition)
{
	if (!t || partition < 0 || (uint32_t)partition >= t->partition_count)
		return NULL;
	return &t->partitions[partition];
}

const char *meta_topic_config(const struct meta_topic *t, const char *name)
{
	for (uint32_t i = 0; t && name && i < t->config_count; i++)
		if (strcmp(t->configs[i].name, name) == 0)
			return t->configs[i].value;
	return NULL;
}

const char *meta_image_cluster_config(const struct meta_image *img, const char *name)
{
	for (uint32_t i = 0; img && name && i < img->default_count; i++)
		if (strcmp(img->defaults[i].name, name) == 0)
			return img->defaults[i].value;
	return NULL;
}

uint32_t meta_image_cluster_config_count(const struct meta_image *img)
{
	return img ? img->default_count : 0;
}

const struct meta_config_entry *meta_image_cluster_config_at(const struct meta_image *img,
							     uint32_t i)
{
	return img && i < img->default_count ? &img->defaults[i] : NULL;
}

uint32_t meta_image_broker_count(const struct meta_image *img)
{
	return img->broker_count;
}

const struct meta_broker *meta_image_broker_at(const struct meta_image *img, uint32_t i)
{
	return i < img->broker_count ? &img->brokers[i] : NULL;
}

const struct meta_broker *meta_image_broker(const struct meta_image *img, int32_t node_id)
{
	bool found;
	uint32_t i = find_broker(img, node_id, &found);
	return found ? &img->brokers[i] : NULL;
}

const char *meta_image_cluster_id(const struct meta_image *img)
{
	return img->cluster_id;
}

int64_t meta_image_next_producer_id(const struct meta_image *img)
{
	return img->next_producer_id;
}

uint64_t meta_image_applied_index(const struct meta_image *img)
{
	return img->applied;
}

/* ---- applying records ---------------------------------------------------- */

static bool str_fits(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

static int apply_cluster(struct meta_image *img, const struct meta_record *rec)
{
	const char *id = rec->u.cluster.cluster_id;
	if (!str_fits(id, sizeof(rec->u.cluster.cluster_id)) || !id[0])
		return RN_E_CORRUPT_STATE;
	if (img->cluster_id[0] && strcmp(img->cluster_id, id) != 0)
		return RN_E_CORRUPT_STATE;
	strcpy(img->cluster_id, id);
	return 0;
}

static bool endpoint_ok(const struct meta_endpoint *e)
{
	return str_fits(e->name, sizeof(e->name)) && str_fits(e->host, sizeof(e->host)) &&
	       e->host[0] && e->port >= 1 && e->port <= MAX_PORT;
}

static int check_register(const struct meta_record *rec, uint64_t index)
{
	const typeof(rec->u.broker) *b = &rec->u.broker;
	if (b->node_id < 0 || !str_fits(b->host, sizeof(b->host)) || !b->host[0] ||
	    b->port < 1 || b->port > MAX_PORT || !str_fits(b->rack, sizeof(b->rack)) ||
	    b->endpoint_count > META_MAX_ENDPOINTS)
		return RN_E_CORRUPT_STATE;
	/* index 0 is a snapshot restore, where any original index is fine. */
	if (index != 0 && b->registered_index > index)
		return RN_E_CORRUPT_STATE;
	for (uint32_t i = 0; i < b->endpoint_count; i++)
		if (!endpoint_ok(&b->endpoints[i]))
			return RN_E_CORRUPT_STATE;
	return 0;
}

/* Makes room for broker node_id at position i (sorted by node id). */
static int broker_insert(struct meta_image *img, uint32_t i)
{
	if (img->broker_count >= RN_MAX_NODES)
		return RN_E_CORRUPT_STATE;
	if (img->broker_count == img->broker_cap) {
		uint32_t cap = img->broker_cap ? img->broker_cap * 2 : 8;
		struct meta_broker *n = realloc(img->brokers, cap * sizeof(*n));
		if (!n)
			return RN_E_NOMEM;
		img->brokers = n;
		img->broker_cap = cap;
	}
	memmove(&img->brokers[i + 1], &img->brokers[i],
		(img->broker_count - i) * sizeof(img->brokers[0]));
	img->broker_count++;
	return 0;
}

static int apply_register(struct meta_image *img, uint64_t index, const struct meta_record *rec)
{
	const typeof(rec->u.broker) *b = &rec->u.broker;
	int rc = check_register(rec, index);
	if (rc != 0)
		return rc;
	bool found;
	uint32_t i = find_broker(img, b->node_id, &found);
	if (found && b->broker_epoch < img->brokers[i].epoch)
		return RN_E_CORRUPT_STATE;
	if (!found) {
		rc = broker_insert(img, i);
		if (rc != 0)
			return rc;
	}
	struct meta_broker *dst = &img->brokers[i];
	memset(dst, 0, sizeof(*dst));
	dst->node_id = b->node_id;
	dst->epoch = b->broker_epoch;
	strcpy(dst->host, b->host);
	dst->port = b->port;
	dst->fenced = b->fenced;
	memcpy(dst->incarnation_id, b->incarnation_id, META_INCARNATION_ID_LEN);
	strcpy(dst->rack, b->rack);
	dst->endpoint_count = b->endpoint_count;
	for (uint32_t e = 0; e < b->endpoint_count; e++) {
		strcpy(dst->endpoints[e].name, b->endpoints[e].name);
		strcpy(dst->endpoints[e].host, b->endpoints[e].host);
		dst->endpoints[e].port = b->endpoints[e].port;
	}
	dst->registered_index = b->registered_index ? b->registered_index : index;
	return 0;
}

static int apply_fence(struct meta_image *img, const struct meta_record *rec)
{
	bool found;
	uint32_t i = find_broker(img, rec->u.fence.node_id, &found);
	if (!found)
		return RN_E_CORRUPT_STATE;
	img->brokers[i].fenced = rec->u.fence.fenced;
	return 0;
}

static bool id_is_zero(const uint8_t *id)
{
	for (unsigned i = 0; i < META_TOPIC_ID_LEN; i++)
		if (id[i])
			return false;
	return true;
}

static int topic_reserve(struct meta_image *img)
{
	if (img->topic_count < img->topic_cap)
		return 0;
	uint32_t cap = img->topic_cap ? img->topic_cap * 2 : 16;
	struct meta_topic **n1 = realloc(img->by_name, cap * sizeof(*n1));
	if (!n1)
		return RN_E_NOMEM;
	img->by_name = n1;
	struct meta_topic **n2 = realloc(img->by_id, cap * sizeof(*n2));
	if (!n2)
		return RN_E_NOMEM;
	img->by_id = n2;
	img->topic_cap = cap;
	return 0;
}

static int check_topic(const struct meta_image *img, const struct meta_record *rec)
{
	const typeof(rec->u.topic) *t = &rec->u.topic;
	if (!str_fits(t->name, sizeof(t->name)) || !meta_topic_name_valid(t->name, NULL))
		return RN_E_CORRUPT_STATE;
	if (id_is_zero(t->topic_id) || t->config_count > RN_MAX_CONFIGS_PER_TOPIC ||
	    (t->config_count > 0 && !t->configs))
		return RN_E_CORRUPT_STATE;
	for (uint32_t i = 0; i < t->config_count; i++)
		if (!str_fits(t->configs[i].name, sizeof(t->configs[i].name)) ||
		    !str_fits(t->configs[i].value, sizeof(t->configs[i].value)))
			return RN_E_CORRUPT_STATE;
	if (img->topic_count >= RN_MAX_TOPICS)
		return RN_E_CORRUPT_STATE;
	bool found;
	find_name(img, t->name, &found);
	if (found)
		return RN_E_CORRUPT_STATE;
	find_id(img, t->topic_id, &found);
	if (found)
		return RN_E_CORRUPT_STATE;
	return 0;
}

static void insert_at(struct meta_topic **arr, uint32_t count, uint32_t pos, struct meta_topic *t)
{
	memmove(&arr[pos + 1], &arr[pos], (count - pos) * sizeof(arr[0]));
	arr[pos] = t;
}

static int apply_topic(struct meta_image *img, const struct meta_record *rec)
{
	int rc = check_topic(img, rec);
	if (rc != 0)
		return rc;
	rc = topic_reserve(img);
	if (rc != 0)
		return rc;
	struct meta_topic *t = calloc(1, sizeof(*t));
	if (!t)
		return RN_E_NOMEM;
	rc = configs_dup(rec->u.topic.configs, rec->u.topic.config_count, &t->configs);
	if (rc != 0) {
		free(t);
		return rc;
	}
	t->config_count = rec->u.topic.config_count;
	strcpy(t->name, rec->u.topic.name);
	memcpy(t->id, rec->u.topic.topic_id, META_TOPIC_ID_LEN);
	bool found;
	uint32_t pn = find_name(img, t->name, &found);
	uint32_t pi = find_id(img, t->id, &found);
	insert_at(img->by_name, img->topic_count, pn, t);
	insert_at(img->by_id, img->topic_count, pi, t);
	img->topic_count++;
	return 0;
}

static bool contains(const int32_t *a, uint32_t n, int32_t v)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

/* Checks a partition's replica set, ISR and leader on their own. */
static int check_partition_shape(const struct meta_record *rec)
{
	const typeof(rec->u.partition) *p = &rec->u.partition;
	if (p->partition < 0 || (uint32_t)p->partition >= RN_MAX_PARTITIONS_PER_TOPIC)
		return RN_E_CORRUPT_STATE;
	if (p->replica_count < 1 || p->replica_count > RN_MAX_REPLICATION_FACTOR ||
	    p->isr_count > p->replica_count)
		return RN_E_CORRUPT_STATE;
	for (uint32_t i = 0; i < p->replica_count; i++)
		if (p->replicas[i] < 0 || contains(p->replicas, i, p->replicas[i]))
			return RN_E_CORRUPT_STATE;
	for (uint32_t i = 0; i < p->isr_count; i++)
		if (!contains(p->replicas, p->replica_count, p->isr[i]) ||
		    contains(p->isr, i, p->isr[i]))
			return RN_E_CORRUPT_STATE;
	if (p->leader != META_NO_LEADER && !contains(p->replicas, p->replica_count, p->leader))
		return RN_E_CORRUPT_STATE;
	if (p->leader_epoch < 0 || p->partition_epoch < 0)
		return RN_E_CORRUPT_STATE;
	return 0;
}

static int apply_partition(struct meta_image *img, const struct meta_record *rec)
{
	const typeof(rec->u.partition) *p = &rec->u.partition;
	int rc = check_partition_shape(rec);
	if (rc != 0)
		return rc;
	bool found;
	uint32_t ti = find_id(img, p->topic_id, &found);
	if (!found)
		return RN_E_CORRUPT_STATE;
	struct meta_topic *t = img->by_id[ti];
	uint32_t idx = (uint32_t)p->partition;
	if (idx > t->partition_count)
		return RN_E_CORRUPT_STATE; /* a gap: an earlier partition is missing */
	if (idx < t->partition_count) {
		const struct meta_partition *old = &t->partitions[idx];
		if (p->leader_epoch < old->leader_epoch || p->partition_epoch < old->partition_epoch)
			return RN_E_CORRUPT_STATE;
	} else {
		/* Grow one at a time: partitions arrive one record each, and the
		 * count is bounded by RN_MAX_PARTITIONS_PER_TOPIC. */
		struct meta_partition *n =
			realloc(t->partitions, ((size_t)t->partition_count + 1) * sizeof(*n));
		if (!n)
			return RN_E_NOMEM;
		t->partitions = n;
		t->partition_count++;
	}
	struct meta_partition *dst = &t->partitions[idx];
	memset(dst, 0, sizeof(*dst));
	dst->partition = p->partition;
	dst->replica_count = p->replica_count;
	memcpy(dst->replicas, p->replicas, p->replica_count * sizeof(p->replicas[0]));
	dst->isr_count = p->isr_count;
	memcpy(dst->isr, p->isr, p->isr_count * sizeof(p->isr[0]));
	dst->leader = p->leader;
	dst->leader_epoch = p->leader_epoch;
	dst->partition_epoch = p->partition_epoch;
	return 0;
}

static void remove_at(struct meta_topic **arr, uint32_t count, uint32_t pos)
{
	memmove(&arr[pos], &arr[pos + 1], (count - pos - 1) * sizeof(arr[0]));
}

static int apply_remove(struct meta_image *img, const struct meta_record *rec)
{
	bool found;
	uint32_t pi = find_id(img, rec->u.remove_topic.topic_id, &found);
	if (!found)
		return 0; /* already removed by an earlier record: nothing to do */
	struct meta_topic *t = img->by_id[pi];
	uint32_t pn = find_name(img, t->name, &found);
	RN_ASSERT(found && img->by_name[pn] == t);
	remove_at(img->by_id, img->topic_count, pi);
	remove_at(img->by_name, img->topic_count, pn);
	img->topic_count--;
	topic_free(t);
	return 0;
}

/* Checks a PARTITION_CHANGE's new ISR against the partition's replicas. */
static bool change_isr_ok(const struct meta_partition *old, const struct meta_record *rec)
{
	const typeof(rec->u.partition_change) *pc = &rec->u.partition_change;
	if (pc->isr_count < 1 || pc->isr_count > old->replica_count)
		return false;
	for (uint32_t i = 0; i < pc->isr_count; i++)
		if (!contains(old->replicas, old->replica_count, pc->isr[i]) ||
		    contains(pc->isr, i, pc->isr[i]))
			return false;
	return true;
}

static int apply_partition_change(struct meta_image *img, const struct meta_record *rec)
{
	const typeof(rec->u.partition_change) *pc = &rec->u.partition_change;
	bool found;
	uint32_t ti = find_id(img, pc->topic_id, &found);
	if (!found)
		return 0; /* the topic was deleted while the change was in flight */
	struct meta_topic *t = img->by_id[ti];
	if (pc->partition < 0 || (uint32_t)pc->partition >= t->partition_count)
		return RN_E_CORRUPT_STATE;
	struct meta_partition *old = &t->partitions[pc->partition];
	if (pc->partition_epoch <= old->partition_epoch)
		return 0; /* computed from an older state of the partition: stale */
	struct meta_partition next = *old;
	if (pc->has_isr) {
		if (!change_isr_ok(old, rec))
			return RN_E_CORRUPT_STATE;
		next.isr_count = pc->isr_count;
		memcpy(next.isr, pc->isr, pc->isr_count * sizeof(pc->isr[0]));
	}
	if (pc->has_leader)
		next.leader = pc->leader;
	if (next.leader != META_NO_LEADER && !contains(next.isr, next.isr_count, next.leader))
		return RN_E_CORRUPT_STATE;
	if (pc->leader_epoch < old->leader_epoch ||
	    (next.leader != old->leader && pc->leader_epoch <= old->leader_epoch))
		return RN_E_CORRUPT_STATE;
	next.leader_epoch = pc->leader_epoch;
	next.partition_epoch = pc->partition_epoch;
	*old = next;
	return 0;
}

/* Sets or removes one entry of a config list (a topic's overrides or the
 * cluster's defaults) holding at most max entries. */
static int config_list_change(struct meta_config_entry **list, uint32_t *count, uint32_t max,
			      const struct meta_record *rec)
{
	const typeof(rec->u.config) *c = &rec->u.config;
	uint32_t i = 0;
	while (i < *count && strcmp((*list)[i].name, c->name) != 0)
		i++;
	if (c->remove) {
		if (i < *count) {
			memmove(&(*list)[i], &(*list)[i + 1], (*count - i - 1) * sizeof((*list)[0]));
			(*count)--;
		}
		return 0;
	}
	if (i == *count) {
		if (*count >= max)
			return RN_E_CORRUPT_STATE;
		struct meta_config_entry *n = realloc(*list, ((size_t)*count + 1) * sizeof(*n));
		if (!n)
			return RN_E_NOMEM;
		*list = n;
		(*count)++;
		strcpy((*list)[i].name, c->name);
	}
	strcpy((*list)[i].value, c->value);
	return 0;
}

static int apply_config(struct meta_image *img, const struct meta_record *rec)
{
	const typeof(rec->u.config) *c = &rec->u.config;
	if (!str_fits(c->name, sizeof(c->name)) || !c->name[0] ||
	    !str_fits(c->value, sizeof(c->value)))
		return RN_E_CORRUPT_STATE;
	/* No topic has the all-zero id (apply_topic refuses it), so logs
	 * written before cluster defaults existed never carry one here. */
	if (id_is_zero(c->topic_id))
		return config_list_change(&img->defaults, &img->default_count,
					  META_MAX_CLUSTER_CONFIGS, rec);
	bool found;
	uint32_t ti = find_id(img, c->topic_id, &found);
	if (!found)
		return 0; /* the topic was deleted while the change was in flight */
	struct meta_topic *t = img->by_id[ti];
	return config_list_change(&t->configs, &t->config_count, RN_MAX_CONFIGS_PER_TOPIC, rec);
}

/* Only the active controller writes PRODUCER_IDS, each time planning above
 * everything it has handed out, so in log order the next id only grows: a
 * record that would lower it (or hand out an id twice) was written by
 * broken code and is refused. */
static int apply_producer_ids(struct meta_image *img, const struct meta_record *rec)
{
	int64_t next = rec->u.producer_ids.next_producer_id;
	if (next <= img->next_producer_id || next > META_MAX_PRODUCER_ID + 1)
		return RN_E_CORRUPT_STATE;
	img->next_producer_id = next;
	return 0;
}

/* Applies one record; index 0 means a snapshot restore (no log entry). */
static int apply_record(struct meta_image *img, uint64_t index, const struct meta_record *rec)
{
	switch (rec->type) {
	case META_REC_CLUSTER:
		return apply_cluster(img, rec);
	case META_REC_REGISTER_BROKER:
		return apply_register(img, index, rec);
	case META_REC_FENCE_BROKER:
		return apply_fence(img, rec);
	case META_REC_TOPIC:
		return apply_topic(img, rec);
	case META_REC_PARTITION:
		return apply_partition(img, rec);
	case META_REC_REMOVE_TOPIC:
		return apply_remove(img, rec);
	case META_REC_PARTITION_CHANGE:
		return apply_partition_change(img, rec);
	case META_REC_CONFIG:
		return apply_config(img, rec);
	case META_REC_PRODUCER_IDS:
		return apply_producer_ids(img, rec);
	}
	return RN_E_INVAL;
}

int meta_image_apply(struct meta_image *img, uint64_t index, const struct meta_record *rec)
{
	if (index <= img->applied)
		return RN_E_INVAL;
	int rc = apply_record(img, index, rec);
	if (rc == 0)
		img->applied = index;
	return rc;
}

int meta_image_restore_record(struct meta_image *img, const struct meta_record *rec)
{
	return apply_record(img, 0, rec);
}

int meta_image_restore_finish(struct meta_image *img, uint64_t applied_index)
{
	if (applied_index < img->applied)
		return RN_E_INVAL;
	img->applied = applied_index;
	return 0;
}

int meta_image_skip(struct meta_image *img, uint64_t index)
{
	if (index <= img->applied)
		return RN_E_INVAL;
	img->applied = index;
	return 0;
}

/* ---- the image as records (snapshots) -------------------------------------- */

enum walk_stage {
	WALK_CLUSTER,
	WALK_BROKERS,
	WALK_DEFAULTS,
	WALK_PRODUCER_IDS,
	WALK_TOPICS,
	WALK_DONE
};

static void broker_record(const struct meta_broker *b, struct meta_record *rec)
{
	rec->type = META_REC_REGISTER_BROKER;
	typeof(rec->u.broker) *r = &rec->u.broker;
	r->node_id = b->node_id;
	r->broker_epoch = b->epoch;
	strcpy(r->host, b->host);
	r->port = b->port;
	memcpy(r->incarnation_id, b->incarnation_id, META_INCARNATION_ID_LEN);
	strcpy(r->rack, b->rack);
	r->endpoint_count = b->endpoint_count;
	memcpy(r->endpoints, b->endpoints, b->endpoint_count * sizeof(b->endpoints[0]));
	r->fenced = b->fenced;
	r->registered_index = b->registered_index;
}

static void partition_record(const struct meta_topic *t, const struct meta_partition *p,
			     struct meta_record *rec)
{
	rec->type = META_REC_PARTITION;
	typeof(rec->u.partition) *r = &rec->u.partition;
	memcpy(r->topic_id, t->id, META_TOPIC_ID_LEN);
	r->partition = p->partition;
	r->replica_count = p->replica_count;
	memcpy(r->replicas, p->replicas, p->replica_count * sizeof(p->replicas[0]));
	r->isr_count = p->isr_count;
	memcpy(r->isr, p->isr, p->isr_count * sizeof(p->isr[0]));
	r->leader = p->leader;
	r->leader_epoch = p->leader_epoch;
	r->partition_epoch = p->partition_epoch;
}

static int topic_record(const struct meta_topic *t, struct meta_record *rec)
{
	rec->type = META_REC_TOPIC;
	strcpy(rec->u.topic.name, t->name);
	memcpy(rec->u.topic.topic_id, t->id, META_TOPIC_ID_LEN);
	int rc = configs_dup(t->configs, t->config_count, &rec->u.topic.configs);
	if (rc != 0)
		return rc;
	rec->u.topic.config_count = t->config_count;
	return 0;
}

int meta_image_records_next(const struct meta_image *img, struct meta_image_pos *pos,
			    struct meta_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (pos->stage == WALK_CLUSTER) {
		pos->stage = WALK_BROKERS;
		pos->i = 0;
		if (img->cluster_id[0]) {
			rec->type = META_REC_CLUSTER;
			strcpy(rec->u.cluster.cluster_id, img->cluster_id);
			return 1;
		}
	}
	if (pos->stage == WALK_BROKERS) {
		if (pos->i < img->broker_count) {
			broker_record(&img->brokers[pos->i++], rec);
			return 1;
		}
		pos->stage = WALK_DEFAULTS;
		pos->i = 0;
	}
	if (pos->stage == WALK_DEFAULTS) {
		if (pos->i < img->default_count) {
			const struct meta_config_entry *d = &img->defaults[pos->i++];
			rec->type = META_REC_CONFIG;
			strcpy(rec->u.config.name, d->name);
			strcpy(rec->u.config.value, d->value);
			return 1;
		}
		pos->stage = WALK_PRODUCER_IDS;
	}
	if (pos->stage == WALK_PRODUCER_IDS) {
		pos->stage = WALK_TOPICS;
		pos->i = 0;
		pos->j = 0;
		/* An image that never handed out an id has nothing to carry, so
		 * its snapshot is the same as before producer ids existed. */
		if (img->next_producer_id > 0) {
			rec->type = META_REC_PRODUCER_IDS;
			rec->u.producer_ids.next_producer_id = img->next_producer_id;
			return 1;
		}
	}
	if (pos->stage == WALK_TOPICS) {
		if (pos->i < img->topic_count) {
			const struct meta_topic *t = img->by_name[pos->i];
			uint32_t j = pos->j++;
			if (pos->j > t->partition_count) {
				pos->i++;
				pos->j = 0;
			}
			if (j == 0)
				return topic_record(t, rec) == 0 ? 1 : RN_E_NOMEM;
			partition_record(t, &t->partitions[j - 1], rec);
			return 1;
		}
		pos->stage = WALK_DONE;
	}
	return 0;
}

/* ---- equality -------------------------------------------------------------- */

static bool brokers_equal(const struct meta_broker *a, const struct meta_broker *b)
{
	if (a->node_id != b->node_id || a->epoch != b->epoch || strcmp(a->host, b->host) != 0 ||
	    a->port != b->port || a->fenced != b->fenced ||
	    memcmp(a->incarnation_id, b->incarnation_id, META_INCARNATION_ID_LEN) != 0 ||
	    strcmp(a->rack, b->rack) != 0 || a->endpoint_count != b->endpoint_count ||
	    a->registered_index != b->registered_index)
		return false;
	for (uint32_t i = 0; i < a->endpoint_count; i++)
		if (strcmp(a->endpoints[i].name, b->endpoints[i].name) != 0 ||
		    strcmp(a->endpoints[i].host, b->endpoints[i].host) != 0 ||
		    a->endpoints[i].port != b->endpoints[i].port)
			return false;
	return true;
}

static bool partitions_equal(const struct meta_partition *a, const struct meta_partition *b)
{
	return a->partition == b->partition && a->replica_count == b->replica_count &&
	       memcmp(a->replicas, b->replicas, a->replica_count * sizeof(a->replicas[0])) == 0 &&
	       a->isr_count == b->isr_count &&
	       memcmp(a->isr, b->isr, a->isr_count * sizeof(a->isr[0])) == 0 &&
	       a->leader == b->leader && a->leader_epoch == b->leader_epoch &&
	       a->partition_epoch == b->partition_epoch;
}

static bool topics_equal(const struct meta_topic *a, const struct meta_topic *b)
{
	if (strcmp(a->name, b->name) != 0 || memcmp(a->id, b->id, META_TOPIC_ID_LEN) != 0 ||
	    a->partition_count != b->partition_count || a->config_count != b->config_count)
		return false;
	for (uint32_t i = 0; i < a->partition_count; i++)
		if (!partitions_equal(&a->partitions[i], &b->partitions[i]))
			return false;
	for (uint32_t i = 0; i < a->config_count; i++)
		if (strcmp(a->configs[i].name, b->configs[i].name) != 0 ||
		    strcmp(a->configs[i].value, b->configs[i].value) != 0)
			return false;
	return true;
}

bool meta_image_equal(const struct meta_image *a, const struct meta_image *b)
{
	if (strcmp(a->cluster_id, b->cluster_id) != 0 || a->applied != b->applied ||
	    a->broker_count != b->broker_count || a->topic_count != b->topic_count ||
	    a->default_count != b->default_count || a->next_producer_id != b->next_producer_id)
		return false;
	for (uint32_t i = 0; i < a->default_count; i++)
		if (strcmp(a->defaults[i].name, b->defaults[i].name) != 0 ||
		    strcmp(a->defaults[i].value, b->defaults[i].value) != 0)
			return false;
	for (uint32_t i = 0; i < a->broker_count; i++)
		if (!brokers_equal(&a->brokers[i], &b->brokers[i]))
			return false;
	for (uint32_t i = 0; i < a->topic_count; i++)
		if (!topics_equal(a->by_name[i], b->by_name[i]))
			return false;
	return true;
}
