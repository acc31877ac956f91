/* controller.c: validating metadata requests, turning them into records, and the topic config table. */
#include "controller/controller.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"

#define MAX_PORT 65535

_Static_assert(RN_DEFAULT_MAX_MESSAGE_BYTES == 1049600,
	       "the max.message.bytes default below must match limits.h");

/* ---- the config table ------------------------------------------------------ */

enum config_kind {
	KIND_LONG,      /* an integer in [min, max] */
	KIND_LONG_OR_M1, /* -1 (no limit) or an integer in [min, max] */
	KIND_CHOICE,    /* one of choices */
	KIND_RATIO,     /* a decimal number in [0, 1] */
	KIND_MIN_ISR,   /* an integer in [1, replication factor] */
};

struct config_rule {
	struct controller_config_def def;
	enum config_kind kind;
	int64_t min, max;
	const char *const *choices;
	const char *allowed; /* the allowed values, in words, for error messages */
};

static const char *const cleanup_choices[] = { "delete", "compact", "compact,delete",
					       "delete,compact", NULL };
static const char *const timestamp_choices[] = { "CreateTime", "LogAppendTime", NULL };
static const char *const bool_choices[] = { "true", "false", NULL };

/* Sorted by name: controller_config_at iterates in this order. */
static const struct config_rule rules[] = {
	{ { "cleanup.policy", "delete",
	    "Whether old segments are deleted, compacted by key, or both." },
	  KIND_CHOICE, 0, 0, cleanup_choices, "delete, compact or compact,delete" },
	{ { "delete.retention.ms", "86400000",
	    "How long delete markers are kept in a compacted topic, in milliseconds." },
	  KIND_LONG, 0, INT64_MAX, NULL, "an integer >= 0" },
	{ { "flush.messages", "9223372036854775807",
	    "Messages appended to a partition before it is fsynced (1: every append)." },
	  KIND_LONG, 1, INT64_MAX, NULL, "an integer >= 1" },
	{ { "flush.ms", "9223372036854775807",
	    "Milliseconds an appended message may wait before its partition is fsynced." },
	  KIND_LONG, 0, INT64_MAX, NULL, "an integer >= 0" },
	{ { "max.message.bytes", "1049600",
	    "The largest record batch the topic accepts, in bytes." },
	  KIND_LONG, 0, RN_MAX_BATCH_BYTES, NULL, "an integer from 0 to 16777216" },
	{ { "message.timestamp.type", "CreateTime",
	    "Whether record timestamps are the producer's (CreateTime) or the broker's "
	    "append time (LogAppendTime)." },
	  KIND_CHOICE, 0, 0, timestamp_choices, "CreateTime or LogAppendTime" },
	{ { "min.cleanable.dirty.ratio", "0.5",
	    "The share of a compacted log that must be uncompacted before it is cleaned." },
	  KIND_RATIO, 0, 0, NULL, "a number from 0 to 1" },
	{ { "min.compaction.lag.ms", "0",
	    "The least time a message stays uncompacted, in milliseconds." },
	  KIND_LONG, 0, INT64_MAX, NULL, "an integer >= 0" },
	{ { "min.insync.replicas", "1",
	    "In-sync replicas needed to acknowledge a produce with acks=all." },
	  KIND_MIN_ISR, 1, 0, NULL, "an integer from 1 to the replication factor" },
	{ { "retention.bytes", "-1",
	    "The largest size a partition may grow to before old segments are deleted "
	    "(-1: no limit)." },
	  KIND_LONG_OR_M1, 0, INT64_MAX, NULL, "-1 or an integer >= 0" },
	{ { "retention.ms", "604800000",
	    "How long messages are kept, in milliseconds (-1: forever)." },
	  KIND_LONG_OR_M1, 0, INT64_MAX, NULL, "-1 or an integer >= 0" },
	{ { "segment.bytes", "1073741824", "The size at which a new segment file is rolled." },
	  KIND_LONG, 1024, INT32_MAX, NULL, "an integer from 1024 to 2147483647" },
	{ { "segment.ms", "604800000",
	    "The age in milliseconds at which a new segment file is rolled." },
	  KIND_LONG, 1, INT64_MAX, NULL, "an integer >= 1" },
	{ { "unclean.leader.election.enable", "false",
	    "Whether a replica outside the ISR may become leader (losing data)." },
	  KIND_CHOICE, 0, 0, bool_choices, "true or false" },
};

static const struct config_rule *rule_find(const char *name)
{
	for (size_t i = 0; name && i < RN_ARRAY_LEN(rules); i++)
		if (strcmp(rules[i].def.name, name) == 0)
			return &rules[i];
	return NULL;
}

uint32_t controller_config_count(void)
{
	return (uint32_t)RN_ARRAY_LEN(rules);
}

const struct controller_config_def *controller_config_at(uint32_t i)
{
	return i < RN_ARRAY_LEN(rules) ? &rules[i].def : NULL;
}

const struct controller_config_def *controller_config_find(const char *name)
{
	const struct config_rule *rule = rule_find(name);
	return rule ? &rule->def : NULL;
}

static void say(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...)
{
	if (!why || why_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* Parses a whole decimal integer: no spaces, no trailing characters. */
static bool parse_long(const char *s, int64_t *out)
{
	if (!s[0] || !((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != 0)
		return false;
	*out = v;
	return true;
}

static bool parse_ratio(const char *s)
{
	if (!s[0] || !((s[0] >= '0' && s[0] <= '9') || s[0] == '.'))
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	return errno == 0 && *end == 0 && v >= 0.0 && v <= 1.0;
}

static bool value_ok(const struct config_rule *rule, const char *value, int32_t rf)
{
	int64_t v;
	switch (rule->kind) {
	case KIND_LONG:
		return parse_long(value, &v) && v >= rule->min && v <= rule->max;
	case KIND_LONG_OR_M1:
		return parse_long(value, &v) && (v == -1 || (v >= rule->min && v <= rule->max));
	case KIND_MIN_ISR:
		/* A cluster-wide default (rf 0) meets topics of every size. */
		return parse_long(value, &v) && v >= 1 &&
		       v <= (rf > 0 ? rf : (int32_t)RN_MAX_REPLICATION_FACTOR);
	case KIND_RATIO:
		return parse_ratio(value);
	case KIND_CHOICE:
		for (const char *const *c = rule->choices; *c; c++)
			if (strcmp(*c, value) == 0)
				return true;
		return false;
	}
	return false;
}

/* "unknown topic config "x" (known: a, b, ...)", listing the table. */
static void say_unknown(const char *name, char *why, size_t why_len)
{
	if (!why || why_len == 0)
		return;
	int used = snprintf(why, why_len, "unknown topic config \"%s\" (known:", name ? name : "");
	for (size_t i = 0; i < RN_ARRAY_LEN(rules) && used >= 0 && (size_t)used < why_len; i++)
		used += snprintf(why + used, why_len - (size_t)used, "%s %s", i ? "," : "",
				 rules[i].def.name);
	if (used >= 0 && (size_t)used < why_len)
		snprintf(why + used, why_len - (size_t)used, ")");
}

int controller_config_validate(const char *name, const char *value, int32_t replication_factor,
			       char *why, size_t why_len)
{
	const struct config_rule *rule = rule_find(name);
	if (!rule) {
		say_unknown(name, why, why_len);
		return RN_E_INVALID_CONFIG;
	}
	if (!value || !value_ok(rule, value, replication_factor)) {
		if (rule->kind == KIND_MIN_ISR && replication_factor <= 0)
			say(why, why_len,
			    "invalid value \"%s\" for %s: allowed values are integers from 1 to %u",
			    value ? value : "", name, RN_MAX_REPLICATION_FACTOR);
		else if (rule->kind == KIND_MIN_ISR)
			say(why, why_len,
			    "invalid value \"%s\" for %s: allowed values are integers from 1 to "
			    "the replication factor (%" PRId32 ")",
			    value ? value : "", name, replication_factor);
		else
			say(why, why_len, "invalid value \"%s\" for %s: allowed values are %s",
			    value ? value : "", name, rule->allowed);
		return RN_E_INVALID_CONFIG;
	}
	return 0;
}

int controller_config_lookup(const struct meta_image *img, const struct meta_topic *t,
			     const char *name, const char **value, const char **source)
{
	const struct config_rule *rule = rule_find(name);
	if (!rule)
		return RN_E_NOT_FOUND;
	const char *found = meta_topic_config(t, name), *from = CONTROLLER_SOURCE_TOPIC;
	if (!found) {
		found = meta_image_cluster_config(img, name);
		from = CONTROLLER_SOURCE_CLUSTER;
	}
	if (!found) {
		found = rule->def.default_value;
		from = CONTROLLER_SOURCE_DEFAULT;
	}
	*value = found;
	if (source)
		*source = from;
	return 0;
}

/* ---- records ------------------------------------------------------------- */

void controller_records_free(struct meta_record *records, uint32_t count)
{
	if (!records)
		return;
	for (uint32_t i = 0; i < count; i++)
		meta_record_free_contents(&records[i]);
	free(records);
}

/* ---- create topic -------------------------------------------------------- */

static bool is_pending(const struct create_topic_req *req)
{
	for (uint32_t i = 0; i < req->pending_count; i++)
		if (req->pending_names && req->pending_names[i] &&
		    strcmp(req->pending_names[i], req->name) == 0)
			return true;
	return false;
}

static int check_configs(const struct create_topic_req *req, char *why, size_t why_len)
{
	if (req->config_count > RN_MAX_CONFIGS_PER_TOPIC) {
		say(why, why_len, "too many configs: %" PRIu32 " (at most %u)", req->config_count,
		    RN_MAX_CONFIGS_PER_TOPIC);
		return RN_E_INVALID_CONFIG;
	}
	if (req->config_count > 0 && !req->configs)
		return RN_E_INVALID_CONFIG;
	for (uint32_t i = 0; i < req->config_count; i++) {
		const struct meta_config_entry *c = &req->configs[i];
		if (!memchr(c->name, 0, sizeof(c->name)) || !memchr(c->value, 0, sizeof(c->value))) {
			say(why, why_len, "config key or value longer than %u bytes",
			    RN_MAX_CONFIG_VALUE_LEN);
			return RN_E_INVALID_CONFIG;
		}
		int rc = controller_config_validate(c->name, c->value, req->replication_factor,
						    why, why_len);
		if (rc != 0)
			return rc;
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(req->configs[j].name, c->name) == 0) {
				say(why, why_len, "config \"%s\" is given more than once", c->name);
				return RN_E_INVALID_CONFIG;
			}
		}
	}
	return 0;
}

/* The unfenced brokers in placement order, with each one's rack. */
struct placement {
	uint32_t n;
	int32_t ids[RN_MAX_NODES];
	const char *racks[RN_MAX_NODES];
	uint32_t rack_count; /* distinct racks; 0 when no broker has one */
};

static int rack_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Counts the distinct racks and returns them sorted in out. */
static uint32_t distinct_racks(const struct placement *pl, const char **out)
{
	const char *sorted[RN_MAX_NODES];
	memcpy(sorted, pl->racks, pl->n * sizeof(sorted[0]));
	qsort(sorted, pl->n, sizeof(sorted[0]), rack_cmp);
	uint32_t k = 0;
	for (uint32_t i = 0; i < pl->n; i++)
		if (k == 0 || strcmp(out[k - 1], sorted[i]) != 0)
			out[k++] = sorted[i];
	return k;
}

/*
 * Reorders the brokers so racks alternate: the first broker of each rack
 * (racks in name order), then the second of each, and so on.  Consecutive
 * positions then sit on different racks, which the replica walk relies on.
 */
static void alternate_racks(struct placement *pl)
{
	const char *racks[RN_MAX_NODES];
	uint32_t nr = distinct_racks(pl, racks);
	int32_t ids[RN_MAX_NODES];
	const char *rk[RN_MAX_NODES];
	uint32_t out = 0;
	for (uint32_t round = 0; out < pl->n; round++) {
		for (uint32_t r = 0; r < nr; r++) {
			uint32_t seen = 0;
			for (uint32_t i = 0; i < pl->n; i++) {
				if (strcmp(pl->racks[i], racks[r]) != 0 || seen++ != round)
					continue;
				ids[out] = pl->ids[i];
				rk[out++] = pl->racks[i];
				break;
			}
		}
	}
	memcpy(pl->ids, ids, pl->n * sizeof(ids[0]));
	memcpy(pl->racks, rk, pl->n * sizeof(rk[0]));
	pl->rack_count = nr;
}

/* Collects the unfenced brokers in placement order. */
static void placement_build(const struct meta_image *img, struct placement *pl)
{
	bool any_rack = false;
	pl->n = 0;
	pl->rack_count = 0;
	for (uint32_t i = 0; i < meta_image_broker_count(img) && pl->n < RN_MAX_NODES; i++) {
		const struct meta_broker *b = meta_image_broker_at(img, i);
		if (b->fenced)
			continue;
		pl->ids[pl->n] = b->node_id;
		pl->racks[pl->n++] = b->rack;
		any_rack = any_rack || b->rack[0];
	}
	if (any_rack)
		alternate_racks(pl);
}

static int check_create(const struct meta_image *img, const struct create_topic_req *req,
			uint32_t brokers, char *why, size_t why_len)
{
	const char *reason;
	if (!meta_topic_name_valid(req->name, &reason)) {
		say(why, why_len, "%s", reason);
		return RN_E_INVALID_TOPIC;
	}
	if (meta_image_topic_by_name(img, req->name) || is_pending(req)) {
		say(why, why_len, "topic \"%s\" already exists", req->name);
		return RN_E_TOPIC_ALREADY_EXISTS;
	}
	if (req->partitions < 1 || (uint32_t)req->partitions > RN_MAX_PARTITIONS_PER_TOPIC) {
		say(why, why_len, "number of partitions must be from 1 to %u, got %" PRId32,
		    RN_MAX_PARTITIONS_PER_TOPIC, req->partitions);
		return RN_E_INVALID_PARTITIONS;
	}
	if (req->replication_factor < 1 ||
	    (uint32_t)req->replication_factor > RN_MAX_REPLICATION_FACTOR) {
		say(why, why_len, "replication factor must be from 1 to %u, got %" PRId32,
		    RN_MAX_REPLICATION_FACTOR, req->replication_factor);
		return RN_E_INVALID_REPLICATION_FACTOR;
	}
	if ((uint32_t)req->replication_factor > brokers) {
		say(why, why_len,
		    "replication factor %" PRId32 " is larger than the %" PRIu32
		    " available broker(s)",
		    req->replication_factor, brokers);
		return RN_E_INVALID_REPLICATION_FACTOR;
	}
	return check_configs(req, why, why_len);
}

/* True when broker position `cand` may join the partition chosen so far. */
static bool replica_ok(const struct placement *pl, const uint32_t *chosen, uint32_t k,
		       uint32_t cand)
{
	uint32_t racks_used = 0;
	bool rack_taken = false;
	for (uint32_t i = 0; i < k; i++) {
		if (chosen[i] == cand)
			return false;
		bool first_of_rack = true;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(pl->racks[chosen[j]], pl->racks[chosen[i]]) == 0)
				first_of_rack = false;
		racks_used += first_of_rack;
		if (strcmp(pl->racks[chosen[i]], pl->racks[cand]) == 0)
			rack_taken = true;
	}
	/* A rack is used twice only once every rack holds a replica. */
	return !(pl->rack_count > 0 && racks_used < pl->rack_count && rack_taken);
}

/*
 * Places partition p: its first replica walks round the brokers from `start`
 * so leaders spread evenly; the others start at distinct offsets 1..n-1 from
 * the first, and that offset moves on each time the partitions wrap round the
 * brokers, so the followers of one broker's partitions spread too.  From its
 * offset, each follower walks on past brokers already chosen and, until
 * every rack is used, past brokers on a rack already used.
 */
static void assign_replicas(const struct placement *pl, uint32_t start, uint32_t shift,
			    uint32_t p, uint32_t rf, int32_t *out)
{
	uint32_t n = pl->n, chosen[RN_MAX_REPLICATION_FACTOR];
	chosen[0] = (start + p) % n;
	for (uint32_t j = 1; j < rf; j++) {
		uint32_t offset = 1 + (shift + p / n + j - 1) % (n - 1);
		uint32_t cand = (chosen[0] + offset) % n;
		/* With rf <= n a broker not chosen yet always exists, and while a
		 * rack is unused one of its brokers is free: the walk finds one. */
		for (uint32_t step = 0; step < n && !replica_ok(pl, chosen, j, cand); step++)
			cand = (cand + 1) % n;
		RN_ASSERT(replica_ok(pl, chosen, j, cand));
		chosen[j] = cand;
	}
	for (uint32_t j = 0; j < rf; j++)
		out[j] = pl->ids[chosen[j]];
}

static void fill_partition(struct meta_record *rec, const uint8_t *topic_id, uint32_t p,
			   const int32_t *replicas, uint32_t rf)
{
	rec->type = META_REC_PARTITION;
	memcpy(rec->u.partition.topic_id, topic_id, META_TOPIC_ID_LEN);
	rec->u.partition.partition = (int32_t)p;
	rec->u.partition.replica_count = rf;
	memcpy(rec->u.partition.replicas, replicas, rf * sizeof(replicas[0]));
	rec->u.partition.isr_count = rf;
	memcpy(rec->u.partition.isr, replicas, rf * sizeof(replicas[0]));
	rec->u.partition.leader = replicas[0];
	rec->u.partition.leader_epoch = 0;
	rec->u.partition.partition_epoch = 0;
}

static int fill_topic(struct meta_record *rec, const struct create_topic_req *req,
		      const uint8_t *topic_id)
{
	rec->type = META_REC_TOPIC;
	strcpy(rec->u.topic.name, req->name);
	memcpy(rec->u.topic.topic_id, topic_id, META_TOPIC_ID_LEN);
	if (req->config_count == 0)
		return 0;
	rec->u.topic.configs = malloc(req->config_count * sizeof(*rec->u.topic.configs));
	if (!rec->u.topic.configs)
		return RN_E_NOMEM;
	memcpy(rec->u.topic.configs, req->configs,
	       req->config_count * sizeof(*rec->u.topic.configs));
	rec->u.topic.config_count = req->config_count;
	return 0;
}

static bool id_is_zero(const uint8_t *id)
{
	for (unsigned i = 0; i < META_TOPIC_ID_LEN; i++)
		if (id[i])
			return false;
	return true;
}

int controller_plan_create_topic(const struct meta_image *img, const struct create_topic_req *req,
				 const uint8_t topic_id[META_TOPIC_ID_LEN], uint64_t random,
				 struct meta_record **records, uint32_t *count, char *why,
				 size_t why_len)
{
	*records = NULL;
	*count = 0;
	if (!topic_id || id_is_zero(topic_id))
		return RN_E_INVAL;
	struct placement *pl = malloc(sizeof(*pl));
	if (!pl)
		return RN_E_NOMEM;
	placement_build(img, pl);
	uint32_t n = pl->n;
	int rc = check_create(img, req, n, why, why_len);
	if (rc != 0)
		goto free_placement;
	uint32_t parts = (uint32_t)req->partitions, rf = (uint32_t)req->replication_factor;
	struct meta_record *recs = calloc(1 + parts, sizeof(*recs));
	rc = RN_E_NOMEM;
	if (!recs)
		goto free_placement;
	rc = fill_topic(&recs[0], req, topic_id);
	if (rc != 0) {
		free(recs);
		goto free_placement;
	}
	uint32_t start = (uint32_t)(random % n);
	uint32_t shift = n > 1 ? (uint32_t)((random >> 32) % (n - 1)) : 0;
	for (uint32_t p = 0; p < parts; p++) {
		int32_t replicas[RN_MAX_REPLICATION_FACTOR];
		assign_replicas(pl, start, shift, p, rf, replicas);
		fill_partition(&recs[1 + p], topic_id, p, replicas, rf);
	}
	*records = recs;
	*count = 1 + parts;
free_placement:
	free(pl);
	return rc;
}

/* ---- delete topic and register broker ---------------------------------------- */

int controller_plan_delete_topic(const struct meta_image *img, const char *name,
				 struct meta_record **records, uint32_t *count, char *why,
				 size_t why_len)
{
	*records = NULL;
	*count = 0;
	const char *reason;
	if (!meta_topic_name_valid(name, &reason)) {
		say(why, why_len, "%s", reason);
		return RN_E_INVALID_TOPIC;
	}
	const struct meta_topic *t = meta_image_topic_by_name(img, name);
	if (!t) {
		say(why, why_len, "topic \"%s\" does not exist", name);
		return RN_E_UNKNOWN_TOPIC_OR_PARTITION;
	}
	struct meta_record *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return RN_E_NOMEM;
	rec->type = META_REC_REMOVE_TOPIC;
	memcpy(rec->u.remove_topic.topic_id, t->id, META_TOPIC_ID_LEN);
	*records = rec;
	*count = 1;
	return 0;
}

int controller_plan_register_broker(const struct meta_image *img, int32_t node_id,
				    const char *host, int32_t port, int64_t broker_epoch,
				    struct meta_record **records, uint32_t *count)
{
	*records = NULL;
	*count = 0;
	if (node_id < 0 || !host || !host[0] || strnlen(host, RN_MAX_ADDRESS_LEN + 1) >
							 RN_MAX_ADDRESS_LEN ||
	    port < 1 || port > MAX_PORT)
		return RN_E_INVAL;
	const struct meta_broker *b = meta_image_broker(img, node_id);
	if (b && broker_epoch < b->epoch)
		return RN_E_STALE_BROKER_EPOCH;
	if (b && broker_epoch == b->epoch && !b->fenced && b->port == port &&
	    strcmp(b->host, host) == 0)
		return 0; /* nothing new to record */
	struct meta_record *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return RN_E_NOMEM;
	rec->type = META_REC_REGISTER_BROKER;
	rec->u.broker.node_id = node_id;
	rec->u.broker.broker_epoch = broker_epoch;
	strcpy(rec->u.broker.host, host);
	rec->u.broker.port = port;
	*records = rec;
	*count = 1;
	return 0;
}

/* ---- alter topic configs ------------------------------------------------------ */

/* Validates one change; rf is the topic's replication factor (0: a
 * cluster-wide default). */
static int check_change(const struct controller_config_change *changes, uint32_t i, int32_t rf,
			char *why, size_t why_len)
{
	const struct controller_config_change *c = &changes[i];
	if (!c->name || !controller_config_find(c->name)) {
		say_unknown(c->name, why, why_len);
		return RN_E_INVALID_CONFIG;
	}
	if (c->value && strnlen(c->value, RN_MAX_CONFIG_VALUE_LEN + 1) > RN_MAX_CONFIG_VALUE_LEN) {
		say(why, why_len, "value of %s is longer than %u bytes", c->name,
		    RN_MAX_CONFIG_VALUE_LEN);
		return RN_E_INVALID_CONFIG;
	}
	if (c->value) {
		int rc = controller_config_validate(c->name, c->value, rf, why, why_len);
		if (rc != 0)
			return rc;
	}
	for (uint32_t j = 0; j < i; j++) {
		if (strcmp(changes[j].name, c->name) == 0) {
			say(why, why_len, "config \"%s\" is given more than once", c->name);
			return RN_E_INVALID_CONFIG;
		}
	}
	return 0;
}

/* What a list of changes applies to: a topic's overrides or the cluster's
 * defaults. */
struct change_target {
	const struct meta_topic *topic; /* NULL: the cluster's defaults */
	const struct meta_image *img;
	int32_t rf;   /* the topic's replication factor, 0 for the cluster */
	uint32_t max; /* entries the list may hold */
};

static bool target_has(const struct change_target *tg, const char *name)
{
	return tg->topic ? meta_topic_config(tg->topic, name) != NULL
			 : meta_image_cluster_config(tg->img, name) != NULL;
}

/* Validates every change and the number of entries the list ends with. */
static int check_changes(const struct change_target *tg,
			 const struct controller_config_change *changes, uint32_t n, char *why,
			 size_t why_len)
{
	if (!changes || n == 0 || n > RN_MAX_CONFIGS_PER_TOPIC) {
		say(why, why_len, "give from 1 to %u config changes, got %" PRIu32,
		    RN_MAX_CONFIGS_PER_TOPIC, changes ? n : 0);
		return RN_E_INVALID_CONFIG;
	}
	int64_t entries = tg->topic ? tg->topic->config_count
				    : meta_image_cluster_config_count(tg->img);
	for (uint32_t i = 0; i < n; i++) {
		int rc = check_change(changes, i, tg->rf, why, why_len);
		if (rc != 0)
			return rc;
		bool present = target_has(tg, changes[i].name);
		entries += (changes[i].value && !present) - (!changes[i].value && present);
	}
	if (entries > tg->max) {
		if (tg->topic)
			say(why, why_len,
			    "topic \"%s\" would have %" PRId64 " config overrides (at most %u)",
			    tg->topic->name, entries, tg->max);
		else
			say(why, why_len,
			    "the cluster would have %" PRId64 " config defaults (at most %u)",
			    entries, tg->max);
		return RN_E_INVALID_CONFIG;
	}
	return 0;
}

/* One CONFIG record per change, for topic id `id` (all zeros: the cluster). */
static int plan_changes(const uint8_t *id, const struct controller_config_change *changes,
			uint32_t n, struct meta_record **records, uint32_t *count)
{
	struct meta_record *recs = calloc(n, sizeof(*recs));
	if (!recs)
		return RN_E_NOMEM;
	for (uint32_t i = 0; i < n; i++) {
		recs[i].type = META_REC_CONFIG;
		memcpy(recs[i].u.config.topic_id, id, META_TOPIC_ID_LEN);
		strcpy(recs[i].u.config.name, changes[i].name);
		strcpy(recs[i].u.config.value, changes[i].value ? changes[i].value : "");
		recs[i].u.config.remove = changes[i].value == NULL;
	}
	*records = recs;
	*count = n;
	return 0;
}

int controller_plan_alter_configs(const struct meta_image *img, const char *topic,
				  const struct controller_config_change *changes, uint32_t n,
				  struct meta_record **records, uint32_t *count, char *why,
				  size_t why_len)
{
	*records = NULL;
	*count = 0;
	const char *reason;
	if (!meta_topic_name_valid(topic, &reason)) {
		say(why, why_len, "%s", reason);
		return RN_E_INVALID_TOPIC;
	}
	const struct meta_topic *t = meta_image_topic_by_name(img, topic);
	if (!t) {
		say(why, why_len, "topic \"%s\" does not exist", topic);
		return RN_E_UNKNOWN_TOPIC_OR_PARTITION;
	}
	struct change_target tg = {
		.topic = t,
		.img = img,
		.rf = t->partition_count ? (int32_t)t->partitions[0].replica_count : 1,
		.max = RN_MAX_CONFIGS_PER_TOPIC,
	};
	int rc = check_changes(&tg, changes, n, why, why_len);
	if (rc != 0)
		return rc;
	return plan_changes(t->id, changes, n, records, count);
}

int controller_plan_alter_cluster_configs(const struct meta_image *img,
					  const struct controller_config_change *changes,
					  uint32_t n, struct meta_record **records,
					  uint32_t *count, char *why, size_t why_len)
{
	*records = NULL;
	*count = 0;
	struct change_target tg = {
		.topic = NULL,
		.img = img,
		.rf = 0,
		.max = META_MAX_CLUSTER_CONFIGS,
	};
	int rc = check_changes(&tg, changes, n, why, why_len);
	if (rc != 0)
		return rc;
	static const uint8_t cluster_id[META_TOPIC_ID_LEN] = {0};
	return plan_changes(cluster_id, changes, n, records, count);
}
