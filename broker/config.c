/* config.c: the settings table and its parsers. */
#include "broker/config.h"

#include "broker/group.h"
#include "common/errors.h"
#include "common/rn_assert.h"
#include "controller/replication.h"
#include "storage/plog.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum setting_type {
	SET_INT,    /* int64 within [min, max] */
	SET_NEVER,  /* int64 within [min, max], or "never" */
	SET_ROLES,  /* "broker", "controller" or both, comma-separated */
	SET_ADDR,   /* HOST:PORT */
	SET_VOTERS, /* ID@HOST:PORT,... */
	SET_PATH,   /* a directory */
	SET_LEVEL,  /* debug, info, warn, error */
	SET_ID,     /* [A-Za-z0-9._-], at most max characters; may be empty */
	SET_BOOL,   /* true or false, stored as int64 1 or 0 */
	SET_LISTENERS,  /* NAME://HOST:PORT,... into listeners_text */
	SET_ADVERTISED, /* NAME://HOST:PORT,... into advertised_text */
	SET_LISTENER_NAME, /* one listener name */
};

struct setting {
	const char *name;
	enum setting_type type;
	const char *default_text; /* what --help shows; also parsed by config_defaults */
	size_t offset;            /* field in struct node_config */
	int64_t min;
	int64_t max;
	const char *description;
};

#define FIELD(f) offsetof(struct node_config, f)
#define DAY_MS (24ll * 3600 * 1000)

/* The one table of settings.  Order is the order of --help and the docs. */
static const struct setting settings[] = {
	{"node.id", SET_INT, "1", FIELD(node_id), 1, INT32_MAX,
	 "Id of this node in the cluster (1 or more); must match the id stored in the data "
	 "directory."},
	{"roles", SET_ROLES, "broker,controller", FIELD(roles), 0, 0,
	 "Roles this node plays: broker (serves topics), controller (votes on metadata), or both."},
	{"listen", SET_ADDR, "127.0.0.1:9092", FIELD(listen), 0, 0,
	 "Address the node accepts connections on: its one listener, named PLAINTEXT. Not with "
	 "listeners."},
	{"advertise", SET_ADDR, "(listen)", FIELD(advertise), 0, 0,
	 "Address other nodes and clients are told to use to reach the listen address. Not with "
	 "listeners."},
	{"listeners", SET_LISTENERS, "(PLAINTEXT://listen)", FIELD(listeners_text), 0, 0,
	 "Listeners as NAME://HOST:PORT,... (NAME of A-Z, 0-9 and _; at most 8), each bound on "
	 "its own address. A client is given the addresses of the listener its connection "
	 "arrived on."},
	{"advertised.listeners", SET_ADVERTISED, "(listeners)", FIELD(advertised_text), 0, 0,
	 "Addresses announced for listeners, as NAME://HOST:PORT,...; each NAME must be in "
	 "listeners. A listener not named here announces its bind address, which must then not "
	 "be a wildcard (0.0.0.0, ::)."},
	{"inter.node.listener.name", SET_LISTENER_NAME, "(the first listener)",
	 FIELD(inter_node_listener_name), 0, 0,
	 "The listener other nodes use: replication, registration, forwarded controller requests. "
	 "The voters' addresses are the controllers' addresses on it."},
	{"voters", SET_VOTERS, "(node.id@advertise)", FIELD(voters), 0, 0,
	 "Controller quorum voters as ID@HOST:PORT,... The same list on every node."},
	{"data.dir", SET_PATH, "./runnel-data", FIELD(data_dir), 0, 0,
	 "Directory holding node.mdb (node state, metadata log) and the partition logs."},
	{"log.level", SET_LEVEL, "info", FIELD(log_level), 0, 0,
	 "Lowest level of log lines written to stderr: debug, info, warn or error."},
	{"num.partitions", SET_INT, "1", FIELD(num_partitions), 1, RN_MAX_PARTITIONS_PER_TOPIC,
	 "Partitions of a new topic when CreateTopics does not say."},
	{"default.replication.factor", SET_INT, "1", FIELD(default_replication_factor), 1,
	 RN_MAX_REPLICATION_FACTOR,
	 "Replicas of each partition of a new topic when CreateTopics does not say."},
	{"min.insync.replicas", SET_INT, "1", FIELD(min_insync_replicas), 1,
	 RN_MAX_REPLICATION_FACTOR,
	 "In-sync replicas an acks=all produce needs before it is accepted."},
	{"message.max.bytes", SET_INT, "1049600", FIELD(message_max_bytes), 64, RN_MAX_BATCH_BYTES,
	 "Largest record batch a topic accepts unless the topic sets max.message.bytes."},
	{"log.segment.bytes", SET_INT, "1073741824", FIELD(log_segment_bytes), 1024 * 1024,
	 INT32_MAX, "A partition log starts a new segment file when the active one would pass this size."},
	{"log.roll.ms", SET_INT, "604800000", FIELD(log_roll_ms), 1, INT64_MAX / 2,
	 "A partition log starts a new segment when the active one is older than this."},
	{"log.index.interval.bytes", SET_INT, "4096", FIELD(log_index_interval_bytes), 1,
	 RN_MAX_BATCH_BYTES, "Bytes of batches between two entries of a segment's offset index."},
	{"log.flush.interval.messages", SET_NEVER, "never", FIELD(log_flush_interval_messages), 1,
	 INT64_MAX,
	 "fsync a partition log once this many records are unsynced; a produce is answered only "
	 "after its fsync. 1 syncs before acknowledging every produce; never leaves durability to "
	 "replication and the page cache."},
	{"log.flush.interval.ms", SET_NEVER, "never", FIELD(log_flush_interval_ms), 0, INT64_MAX,
	 "fsync a partition log on an append that comes at least this long after its previous "
	 "fsync; that produce is answered after the fsync. 0 syncs every append."},
	{"replica.lag.time.max.ms", SET_INT, "30000", FIELD(replica_lag_time_max_ms), 1,
	 INT32_MAX, "A follower that has not caught up with the leader's log end for this long "
		    "leaves the in-sync replicas."},
	{"replica.fetch.wait.max.ms", SET_INT, "500", FIELD(replica_fetch_wait_max_ms), 1,
	 RN_MAX_FETCH_WAIT_MS,
	 "Longest a follower's fetch waits at the leader for new records; an idle partition costs "
	 "one fetch per this interval. Keep it below replica.lag.time.max.ms."},
	{"replica.fetch.max.bytes", SET_INT, "1048576", FIELD(replica_fetch_max_bytes), 1024,
	 RN_MAX_FETCH_BYTES,
	 "Record bytes a follower asks for per partition in one fetch (at least one whole batch "
	 "comes back)."},
	{"replica.fetch.response.max.bytes", SET_INT, "10485760",
	 FIELD(replica_fetch_response_max_bytes), 1024, RN_MAX_FETCH_BYTES,
	 "Record bytes a follower asks for over all partitions of one fetch."},
	{"replica.high.watermark.checkpoint.interval.ms", SET_INT, "5000",
	 FIELD(replica_high_watermark_checkpoint_interval_ms), 10, INT32_MAX,
	 "How often every partition's high watermark is written to node.mdb (and on a clean "
	 "shutdown), so a restarted replica serves consumers no further than before."},
	{"auto.leader.rebalance.enable", SET_BOOL, "true", FIELD(auto_leader_rebalance_enable), 0,
	 1, "The active controller moves each partition's leadership back to its first replica "
	    "(the preferred leader) once that replica is in sync again."},
	{"leader.imbalance.check.interval.ms", SET_INT, "300000",
	 FIELD(leader_imbalance_check_interval_ms), 1, INT32_MAX,
	 "How often the active controller looks for partitions not led by their preferred "
	 "replica (with auto.leader.rebalance.enable)."},
	{"log.retention.check.interval.ms", SET_INT, "300000",
	 FIELD(log_retention_check_interval_ms), 1, INT32_MAX,
	 "How often the node deletes log segments that the retention.ms and retention.bytes "
	 "of their topics no longer keep."},
	{"log.cleaner.enable", SET_BOOL, "true", FIELD(log_cleaner_enable), 0, 1,
	 "Run the log cleaner, which compacts the partitions of topics whose cleanup.policy "
	 "includes compact."},
	{"log.cleaner.backoff.ms", SET_INT, "15000", FIELD(log_cleaner_backoff_ms), 1, INT32_MAX,
	 "How long the log cleaner waits before looking again when no partition is dirty "
	 "enough to clean."},
	{"cluster.id", SET_ID, "(none)", FIELD(cluster_id), 0, CONFIG_MAX_CLUSTER_ID_LEN,
	 "Id of the cluster this node belongs to. Empty: the first quorum leader creates one "
	 "(or adopts this setting) and every node stores the id it learns from the metadata log; "
	 "a node whose stored id differs from this setting refuses to start."},
	{"rack", SET_ID, "(none)", FIELD(rack), 0, CONFIG_MAX_RACK_LEN,
	 "Rack (or zone) of this broker; placement spreads a partition's replicas over racks."},
	{"broker.heartbeat.interval.ms", SET_INT, "2000", FIELD(broker_heartbeat_interval_ms), 10,
	 INT32_MAX, "How often a broker sends a heartbeat to the active controller."},
	{"broker.session.timeout.ms", SET_INT, "9000", FIELD(broker_session_timeout_ms), 100,
	 INT32_MAX,
	 "A broker whose last heartbeat is older than this is fenced: it leaves every ISR and "
	 "loses the partitions it leads. Used by the active controller."},
	{"metadata.snapshot.interval.records", SET_INT, "20000",
	 FIELD(metadata_snapshot_interval_records), 1, INT32_MAX,
	 "A node writes a snapshot of its metadata image and drops the log prefix it covers "
	 "after applying this many metadata log entries since its last snapshot."},
	{"offsets.topic.num.partitions", SET_INT, "50", FIELD(offsets_topic_num_partitions), 1,
	 RN_MAX_PARTITIONS_PER_TOPIC,
	 "Partitions of the internal __consumer_offsets topic, created on the first FindCoordinator. "
	 "A group lives in partition murmur2(group id) modulo this count; changing it once the topic "
	 "exists has no effect."},
	{"offsets.topic.replication.factor", SET_INT, "3", FIELD(offsets_topic_replication_factor),
	 1, RN_MAX_REPLICATION_FACTOR,
	 "Replicas of each __consumer_offsets partition; capped by the unfenced brokers when the "
	 "topic is created."},
	{"group.initial.rebalance.delay.ms", SET_INT, "3000", FIELD(group_initial_rebalance_delay_ms),
	 0, INT32_MAX,
	 "How long the coordinator waits for more members to join an empty group before its first "
	 "rebalance, so a group starting up rebalances once rather than once per member."},
	{"group.min.session.timeout.ms", SET_INT, "6000", FIELD(group_min_session_timeout_ms), 1,
	 INT32_MAX, "Shortest session timeout a group member may ask for (INVALID_SESSION_TIMEOUT "
		    "below)."},
	{"group.max.session.timeout.ms", SET_INT, "1800000", FIELD(group_max_session_timeout_ms), 1,
	 INT32_MAX, "Longest session timeout a group member may ask for (INVALID_SESSION_TIMEOUT "
		    "above)."},
	{"group.max.size", SET_INT, "2147483647", FIELD(group_max_size), 1, INT32_MAX,
	 "Most members one consumer group may have (GROUP_MAX_SIZE_REACHED beyond); the "
	 "coordinator's own limit on members per group applies as well."},
};

static void set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, CONFIG_MAX_ERROR, fmt, ap);
	va_end(ap);
}

static const struct setting *setting_find(const char *name)
{
	for (size_t i = 0; i < RN_ARRAY_LEN(settings); i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

static int parse_int(const char *text, int64_t min, int64_t max, int allow_never, int64_t *out)
{
	if (allow_never && strcmp(text, "never") == 0) {
		*out = CONFIG_NEVER;
		return RN_OK;
	}
	if (!*text || isspace((unsigned char)*text))
		return RN_E_INVAL;
	errno = 0;
	char *end = NULL;
	long long v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return RN_E_INVAL;
	*out = v;
	return RN_OK;
}

int config_parse_addr(const char *text, struct config_addr *out)
{
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text)
		return RN_E_INVAL;
	const char *host = text;
	size_t host_len = (size_t)(colon - text);
	/* "[::1]:9092": the brackets only delimit the host. */
	if (host[0] == '[') {
		if (host_len < 3 || host[host_len - 1] != ']')
			return RN_E_INVAL;
		host++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len > RN_MAX_ADDRESS_LEN)
		return RN_E_INVAL;
	for (size_t i = 0; i < host_len; i++)
		if (isspace((unsigned char)host[i]) || host[i] == ',' || host[i] == '@')
			return RN_E_INVAL;
	int64_t port;
	if (parse_int(colon + 1, 1, 65535, 0, &port) != RN_OK)
		return RN_E_INVAL;
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';
	out->port = (uint16_t)port;
	return RN_OK;
}

static int parse_roles(const char *text, unsigned *out)
{
	unsigned roles = 0;
	const char *p = text;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 6 && strncmp(p, "broker", 6) == 0)
			roles |= NODE_ROLE_BROKER;
		else if (n == 10 && strncmp(p, "controller", 10) == 0)
			roles |= NODE_ROLE_CONTROLLER;
		else
			return RN_E_INVAL;
		p += n;
		if (*p == ',' && *++p == '\0')
			return RN_E_INVAL;
	}
	if (roles == 0)
		return RN_E_INVAL;
	*out = roles;
	return RN_OK;
}

/* Parses "ID@HOST:PORT,..." into cfg->voters; ids must be distinct. */
static int parse_voters(const char *text, struct node_config *cfg)
{
	char item[RN_MAX_ADDRESS_LEN + 32];
	uint32_t count = 0;
	const char *p = text;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(item) || count >= RN_MAX_NODES)
			return RN_E_INVAL;
		memcpy(item, p, n);
		item[n] = '\0';
		char *at = strchr(item, '@');
		if (!at)
			return RN_E_INVAL;
		*at = '\0';
		struct config_voter v;
		int64_t id;
		if (parse_int(item, 1, INT32_MAX, 0, &id) != RN_OK ||
		    config_parse_addr(at + 1, &v.addr) != RN_OK)
			return RN_E_INVAL;
		v.node_id = (int32_t)id;
		for (uint32_t i = 0; i < count; i++)
			if (cfg->voters[i].node_id == v.node_id)
				return RN_E_INVAL;
		cfg->voters[count++] = v;
		p += n;
		if (*p == ',' && *++p == '\0')
			return RN_E_INVAL;
	}
	if (count == 0)
		return RN_E_INVAL;
	cfg->voter_count = count;
	return RN_OK;
}

/* Copies an identifier of at most max characters of [A-Za-z0-9._-] into out
 * (which holds max + 1 bytes); the empty string is allowed. */
static int parse_id(const char *text, size_t max, char *out)
{
	size_t n = strlen(text);
	if (n > max)
		return RN_E_INVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)text[i]) && !strchr("._-", text[i]))
			return RN_E_INVAL;
	memcpy(out, text, n + 1);
	return RN_OK;
}

/* Checks a listener name: 1 to CONFIG_MAX_LISTENER_NAME_LEN characters of
 * A-Z, 0-9 and _ (n characters of text, which need not end there). */
static bool listener_name_ok(const char *text, size_t n)
{
	if (n == 0 || n > CONFIG_MAX_LISTENER_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(text[i] >= 'A' && text[i] <= 'Z') && !isdigit((unsigned char)text[i]) &&
		    text[i] != '_')
			return false;
	return true;
}

/* Parses one "NAME://HOST:PORT".  Returns 0, or RN_E_INVAL with *why set. */
static int parse_endpoint(const char *item, struct config_endpoint *out, const char **why)
{
	const char *sep = strstr(item, "://");
	if (!sep) {
		*why = "expected NAME://HOST:PORT";
		return RN_E_INVAL;
	}
	size_t name_len = (size_t)(sep - item);
	if (!listener_name_ok(item, name_len)) {
		*why = "a listener name is 1 to 32 characters of A-Z, 0-9 and _";
		return RN_E_INVAL;
	}
	if (config_parse_addr(sep + 3, &out->addr) != RN_OK) {
		*why = "expected NAME://HOST:PORT with a port from 1 to 65535";
		return RN_E_INVAL;
	}
	memcpy(out->name, item, name_len);
	out->name[name_len] = '\0';
	return RN_OK;
}

/* Parses "NAME://HOST:PORT,..." (1 to CONFIG_MAX_LISTENERS distinct names)
 * into out; out and *count change only on success.  RN_E_INVAL with *why
 * set otherwise. */
static int parse_endpoints(const char *text, struct config_endpoint *out, uint32_t *count,
			   const char **why)
{
	struct config_endpoint eps[CONFIG_MAX_LISTENERS];
	char item[CONFIG_MAX_LISTENER_NAME_LEN + RN_MAX_ADDRESS_LEN + 16];
	uint32_t n = 0;
	const char *p = text;
	*why = "expected NAME://HOST:PORT,...";
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len >= sizeof(item))
			return RN_E_INVAL;
		if (n >= CONFIG_MAX_LISTENERS) {
			*why = "at most 8 listeners";
			return RN_E_INVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (parse_endpoint(item, &eps[n], why) != RN_OK)
			return RN_E_INVAL;
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(eps[i].name, eps[n].name) == 0) {
				*why = "a listener name appears twice";
				return RN_E_INVAL;
			}
		n++;
		p += len;
		if (*p == ',' && *++p == '\0')
			return RN_E_INVAL;
	}
	if (n == 0)
		return RN_E_INVAL;
	memcpy(out, eps, n * sizeof(eps[0]));
	*count = n;
	return RN_OK;
}

static const char *type_hint(enum setting_type type)
{
	switch (type) {
	case SET_INT:
		return "an integer";
	case SET_NEVER:
		return "an integer or \"never\"";
	case SET_ROLES:
		return "broker, controller or broker,controller";
	case SET_ADDR:
		return "HOST:PORT";
	case SET_VOTERS:
		return "ID@HOST:PORT,...";
	case SET_PATH:
		return "a path";
	case SET_LEVEL:
		return "debug, info, warn or error";
	case SET_ID:
		return "letters, digits, '.', '_' and '-' (cluster.id at most 39, rack at most 64)";
	case SET_BOOL:
		return "true or false";
	case SET_LISTENERS:
	case SET_ADVERTISED:
		return "NAME://HOST:PORT,...";
	case SET_LISTENER_NAME:
		return "a listener name (A-Z, 0-9 and _, at most 32)";
	}
	return "?";
}

/* Applies value to the setting.  Returns 0 or RN_E_INVAL; *why may then
 * name the problem more precisely than the setting type's hint. */
static int apply_value(struct node_config *cfg, const struct setting *s, const char *value,
		       const char **why)
{
	char *field = (char *)cfg + s->offset;
	*why = NULL;
	switch (s->type) {
	case SET_INT:
	case SET_NEVER: {
		int64_t v;
		int rc = parse_int(value, s->min, s->max, s->type == SET_NEVER, &v);
		if (rc != RN_OK)
			return rc;
		if (s->offset == FIELD(node_id))
			cfg->node_id = (int32_t)v;
		else
			memcpy(field, &v, sizeof(v));
		return RN_OK;
	}
	case SET_ROLES:
		return parse_roles(value, &cfg->roles);
	case SET_ADDR: {
		int rc = config_parse_addr(value, (struct config_addr *)(void *)field);
		if (rc == RN_OK && s->offset == FIELD(advertise))
			cfg->advertise_given = 1;
		if (rc == RN_OK && s->offset == FIELD(listen))
			cfg->listen_given = 1;
		return rc;
	}
	case SET_VOTERS: {
		int rc = parse_voters(value, cfg);
		if (rc == RN_OK)
			cfg->voters_given = 1;
		return rc;
	}
	case SET_PATH:
		if (!*value || strlen(value) >= CONFIG_MAX_PATH)
			return RN_E_INVAL;
		strcpy(cfg->data_dir, value);
		return RN_OK;
	case SET_LEVEL:
		return rn_log_parse_level(value, &cfg->log_level);
	case SET_ID:
		return parse_id(value, (size_t)s->max, field);
	case SET_BOOL: {
		int64_t v;
		if (strcmp(value, "true") == 0)
			v = 1;
		else if (strcmp(value, "false") == 0)
			v = 0;
		else
			return RN_E_INVAL;
		memcpy(field, &v, sizeof(v));
		return RN_OK;
	}
	case SET_LISTENERS: {
		int rc = parse_endpoints(value, cfg->listeners_text, &cfg->listeners_parsed, why);
		if (rc == RN_OK)
			cfg->listeners_given = 1;
		return rc;
	}
	case SET_ADVERTISED: {
		int rc = parse_endpoints(value, cfg->advertised_text, &cfg->advertised_parsed, why);
		if (rc == RN_OK)
			cfg->advertised_listeners_given = 1;
		return rc;
	}
	case SET_LISTENER_NAME:
		if (!listener_name_ok(value, strlen(value)))
			return RN_E_INVAL;
		strcpy(cfg->inter_node_listener_name, value);
		return RN_OK;
	}
	RN_UNREACHABLE();
	return RN_E_INVAL;
}

int config_set(struct node_config *cfg, const char *name, const char *value, const char *source,
	       char *err)
{
	const struct setting *s = setting_find(name);
	if (!s) {
		set_err(err, "unknown setting '%s' (%s); see --help", name, source);
		return RN_E_INVALID_CONFIG;
	}
	const char *why = NULL;
	if (apply_value(cfg, s, value, &why) != RN_OK) {
		if (why)
			set_err(err, "bad value '%s' for %s (%s): %s", value, name, source, why);
		else if (s->type == SET_INT || s->type == SET_NEVER)
			set_err(err, "bad value '%s' for %s (%s): expected %s from %" PRId64
				     " to %" PRId64,
				value, name, source, type_hint(s->type), s->min, s->max);
		else
			set_err(err, "bad value '%s' for %s (%s): expected %s", value, name, source,
				type_hint(s->type));
		return RN_E_INVALID_CONFIG;
	}
	return RN_OK;
}

void config_defaults(struct node_config *cfg)
{
	char err[CONFIG_MAX_ERROR];
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < RN_ARRAY_LEN(settings); i++) {
		/* Derived defaults are written "(...)" and resolved by config_finish. */
		if (settings[i].default_text[0] == '(')
			continue;
		int rc = config_set(cfg, settings[i].name, settings[i].default_text, "default", err);
		RN_ASSERT(rc == RN_OK);
	}
	cfg->advertise_given = 0;
	cfg->voters_given = 0;
	cfg->listen_given = 0;
	/* The table spells defaults as text for --help; these keep the text and
	 * the named constants of the other modules in step. */
	RN_ASSERT(cfg->message_max_bytes == RN_DEFAULT_MAX_MESSAGE_BYTES);
	RN_ASSERT(cfg->log_segment_bytes == (int64_t)PLOG_DEFAULT_SEGMENT_BYTES);
	RN_ASSERT(cfg->log_roll_ms == PLOG_DEFAULT_SEGMENT_MS);
	RN_ASSERT(cfg->log_index_interval_bytes == PLOG_DEFAULT_INDEX_INTERVAL_BYTES);
	RN_ASSERT(cfg->leader_imbalance_check_interval_ms ==
		  CONTROLLER_LEADER_IMBALANCE_CHECK_INTERVAL_MS);
	RN_ASSERT((cfg->auto_leader_rebalance_enable != 0) == CONTROLLER_AUTO_LEADER_REBALANCE_ENABLE);
	RN_ASSERT(cfg->group_min_session_timeout_ms == GROUP_DEFAULT_MIN_SESSION_TIMEOUT_MS);
	RN_ASSERT(cfg->group_max_session_timeout_ms == GROUP_DEFAULT_MAX_SESSION_TIMEOUT_MS);
	RN_ASSERT(cfg->group_initial_rebalance_delay_ms == GROUP_DEFAULT_INITIAL_REBALANCE_DELAY_MS);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int config_apply_text(struct node_config *cfg, const char *text, const char *path, char *err)
{
	char line[RN_MAX_CONFIG_VALUE_LEN + 256];
	char source[CONFIG_MAX_PATH + 32];
	unsigned lineno = 0;
	const char *p = text;
	while (*p) {
		size_t n = strcspn(p, "\n");
		lineno++;
		snprintf(source, sizeof(source), "%s:%u", path, lineno);
		if (n >= sizeof(line)) {
			set_err(err, "line too long (%s)", source);
			return RN_E_INVALID_CONFIG;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n;
		if (*p == '\n')
			p++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			set_err(err, "expected key=value, got '%s' (%s)", s, source);
			return RN_E_INVALID_CONFIG;
		}
		*eq = '\0';
		int rc = config_set(cfg, trim(s), trim(eq + 1), source, err);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

void config_flag_name(const char *name, char *out, size_t cap)
{
	size_t j = 0;
	RN_ASSERT(cap > 3);
	out[j++] = '-';
	out[j++] = '-';
	for (const char *c = name; *c && j + 1 < cap; c++)
		out[j++] = *c == '.' ? '-' : *c;
	out[j] = '\0';
}

void config_env_name(const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "RUNNEL_");
	size_t j = n > 0 ? (size_t)n : 0;
	for (const char *c = name; *c && j + 1 < cap; c++)
		out[j++] = *c == '.' ? '_' : (char)toupper((unsigned char)*c);
	out[j] = '\0';
}

/* Maps RUNNEL_NODE_ID back to "node.id"; NULL when no setting has that name. */
static const struct setting *setting_by_env(const char *env_name, size_t len)
{
	char want[128];
	for (size_t i = 0; i < RN_ARRAY_LEN(settings); i++) {
		config_env_name(settings[i].name, want, sizeof(want));
		if (strlen(want) == len && strncmp(want, env_name, len) == 0)
			return &settings[i];
	}
	return NULL;
}

int config_apply_env(struct node_config *cfg, char *const *envp, char *err)
{
	for (; envp && *envp; envp++) {
		const char *e = *envp;
		if (strncmp(e, "RUNNEL_", 7) != 0)
			continue;
		const char *eq = strchr(e, '=');
		if (!eq)
			continue;
		size_t len = (size_t)(eq - e);
		if (len == 13 && strncmp(e, "RUNNEL_CONFIG", 13) == 0)
			continue;
		const struct setting *s = setting_by_env(e, len);
		if (!s) {
			/* The runnel CLI reads RUNNEL_* variables too (RUNNEL_BOOTSTRAP),
			 * so an unknown one is reported, not fatal. */
			snprintf(cfg->env_warning, sizeof(cfg->env_warning),
				 "ignoring environment variable %.*s: no setting has that name",
				 (int)len, e);
			continue;
		}
		char source[160];
		snprintf(source, sizeof(source), "environment %.*s", (int)len, e);
		int rc = config_set(cfg, s->name, eq + 1, source, err);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

/* Maps "--node-id" back to "node.id"; NULL when no setting has that flag. */
static const struct setting *setting_by_flag(const char *flag, size_t len)
{
	char want[128];
	for (size_t i = 0; i < RN_ARRAY_LEN(settings); i++) {
		config_flag_name(settings[i].name, want, sizeof(want));
		if (strlen(want) == len && strncmp(want, flag, len) == 0)
			return &settings[i];
	}
	return NULL;
}

/* Reads a whole small file into a malloc'd, NUL-terminated string. */
static int read_text_file(const char *path, char **out, char *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		set_err(err, "cannot open config file %s: %s", path, strerror(errno));
		return RN_E_INVALID_CONFIG;
	}
	/* A config file is a few kilobytes; the bound keeps a wrong path (a
	 * device, a log file) from filling memory. */
	enum { max_file_bytes = 1024 * 1024 };
	char *buf = malloc(max_file_bytes + 1);
	if (!buf) {
		fclose(f);
		set_err(err, "out of memory reading %s", path);
		return RN_E_INVALID_CONFIG;
	}
	size_t n = fread(buf, 1, max_file_bytes + 1, f);
	int failed = ferror(f);
	fclose(f);
	if (failed || n > max_file_bytes) {
		free(buf);
		set_err(err, "cannot read config file %s (unreadable or over %d bytes)", path,
			max_file_bytes);
		return RN_E_INVALID_CONFIG;
	}
	buf[n] = '\0';
	*out = buf;
	return RN_OK;
}

/* First pass over argv: --help, --version, --config; no setting applied yet. */
static int scan_meta_flags(int argc, char *const *argv, char *const *envp,
			   enum config_action *action, const char **config_path, char *err)
{
	*action = CONFIG_RUN;
	*config_path = NULL;
	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, "RUNNEL_CONFIG=", 14) == 0 && (*e)[14])
			*config_path = *e + 14;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			*action = CONFIG_HELP;
		else if (strcmp(a, "--version") == 0)
			*action = CONFIG_VERSION;
		else if (strcmp(a, "--help-markdown") == 0)
			*action = CONFIG_MARKDOWN;
		else if (strncmp(a, "--config=", 9) == 0)
			*config_path = a + 9;
		else if (strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				set_err(err, "--config needs a file name");
				return RN_E_INVALID_CONFIG;
			}
			*config_path = argv[++i];
		}
	}
	return RN_OK;
}

static int apply_flags(struct node_config *cfg, int argc, char *const *argv, char *err)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ||
		    strcmp(a, "--version") == 0 || strcmp(a, "--help-markdown") == 0 ||
		    strncmp(a, "--config=", 9) == 0)
			continue;
		if (strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			set_err(err, "unexpected argument '%s'; settings are given as --name value",
				a);
			return RN_E_INVALID_CONFIG;
		}
		const char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		const struct setting *s = setting_by_flag(a, len);
		if (!s) {
			set_err(err, "unknown option '%.*s'; see --help", (int)len, a);
			return RN_E_INVALID_CONFIG;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (!value) {
			if (i + 1 >= argc) {
				set_err(err, "option %s needs a value", a);
				return RN_E_INVALID_CONFIG;
			}
			value = argv[++i];
		}
		char source[160];
		snprintf(source, sizeof(source), "flag %.*s", (int)len, a);
		int rc = config_set(cfg, s->name, value, source, err);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

int config_parse(struct node_config *cfg, int argc, char *const *argv, char *const *envp,
		 enum config_action *action, char *err)
{
	const char *path;
	config_defaults(cfg);
	int rc = scan_meta_flags(argc, argv, envp, action, &path, err);
	if (rc != RN_OK || *action != CONFIG_RUN)
		return rc;
	if (path) {
		if (strlen(path) >= CONFIG_MAX_PATH) {
			set_err(err, "config file path too long");
			return RN_E_INVALID_CONFIG;
		}
		char *text = NULL;
		rc = read_text_file(path, &text, err);
		if (rc != RN_OK)
			return rc;
		rc = config_apply_text(cfg, text, path, err);
		free(text);
		if (rc != RN_OK)
			return rc;
		strcpy(cfg->config_file, path);
	}
	rc = config_apply_env(cfg, envp, err);
	if (rc != RN_OK)
		return rc;
	rc = apply_flags(cfg, argc, argv, err);
	if (rc != RN_OK)
		return rc;
	return config_finish(cfg, err);
}

int config_host_is_wildcard(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
	       strcmp(host, "0:0:0:0:0:0:0:0") == 0;
}

const struct config_listener *config_listener_find(const struct node_config *cfg,
						   const char *name)
{
	for (uint32_t i = 0; i < cfg->listener_count; i++)
		if (strcmp(cfg->listeners[i].name, name) == 0)
			return &cfg->listeners[i];
	return NULL;
}

/* Fills cfg->listeners from listeners, or from listen and advertise (one
 * listener named CONFIG_DEFAULT_LISTENER_NAME), without advertised
 * addresses from advertised.listeners yet. */
static int listeners_from_settings(struct node_config *cfg, char *err)
{
	if (cfg->listeners_given && (cfg->listen_given || cfg->advertise_given)) {
		set_err(err, "%s cannot be combined with listeners: declare every listener in "
			     "listeners and its announced address in advertised.listeners",
			cfg->listen_given ? "listen" : "advertise");
		return RN_E_INVALID_CONFIG;
	}
	if (cfg->advertise_given && cfg->advertised_listeners_given) {
		set_err(err, "advertise cannot be combined with advertised.listeners");
		return RN_E_INVALID_CONFIG;
	}
	memset(cfg->listeners, 0, sizeof(cfg->listeners));
	if (!cfg->listeners_given) {
		/* The one-listener form keeps its old meaning: advertise defaults to
		 * listen even when that is a wildcard. */
		cfg->listener_count = 1;
		strcpy(cfg->listeners[0].name, CONFIG_DEFAULT_LISTENER_NAME);
		cfg->listeners[0].bind = cfg->listen;
		cfg->listeners[0].advertise = cfg->advertise_given ? cfg->advertise : cfg->listen;
		return RN_OK;
	}
	cfg->listener_count = cfg->listeners_parsed;
	for (uint32_t i = 0; i < cfg->listener_count; i++) {
		strcpy(cfg->listeners[i].name, cfg->listeners_text[i].name);
		cfg->listeners[i].bind = cfg->listeners_text[i].addr;
		cfg->listeners[i].advertise = cfg->listeners_text[i].addr;
	}
	return RN_OK;
}

/* Applies advertised.listeners and checks what each listener announces. */
static int advertise_listeners(struct node_config *cfg, char *err)
{
	bool named[CONFIG_MAX_LISTENERS] = {false};
	for (uint32_t i = 0; i < cfg->advertised_parsed && cfg->advertised_listeners_given; i++) {
		const struct config_endpoint *e = &cfg->advertised_text[i];
		uint32_t j = 0;
		while (j < cfg->listener_count && strcmp(cfg->listeners[j].name, e->name) != 0)
			j++;
		if (j == cfg->listener_count) {
			set_err(err, "advertised.listeners names %s, which listeners does not declare",
				e->name);
			return RN_E_INVALID_CONFIG;
		}
		cfg->listeners[j].advertise = e->addr;
		named[j] = true;
	}
	for (uint32_t i = 0; i < cfg->listener_count && cfg->listeners_given; i++) {
		const struct config_listener *l = &cfg->listeners[i];
		if (!named[i] && config_host_is_wildcard(l->bind.host)) {
			set_err(err, "listener %s binds the wildcard address %s, which no client or "
				     "node can connect to: give the address to announce in "
				     "advertised.listeners",
				l->name, l->bind.host);
			return RN_E_INVALID_CONFIG;
		}
		if (config_host_is_wildcard(l->advertise.host)) {
			set_err(err, "advertised.listeners gives %s the wildcard address %s, which no "
				     "client or node can connect to", l->name, l->advertise.host);
			return RN_E_INVALID_CONFIG;
		}
	}
	return RN_OK;
}

/* Two listeners on one port of one address (or of every address) could
 * never both bind. */
static int check_binds(const struct node_config *cfg, char *err)
{
	for (uint32_t i = 0; i < cfg->listener_count; i++)
		for (uint32_t j = i + 1; j < cfg->listener_count; j++) {
			const struct config_addr *a = &cfg->listeners[i].bind;
			const struct config_addr *b = &cfg->listeners[j].bind;
			if (a->port != b->port)
				continue;
			if (strcmp(a->host, b->host) == 0 || config_host_is_wildcard(a->host) ||
			    config_host_is_wildcard(b->host)) {
				set_err(err, "listeners %s and %s both bind port %u of %s",
					cfg->listeners[i].name, cfg->listeners[j].name, a->port,
					config_host_is_wildcard(a->host) ? b->host : a->host);
				return RN_E_INVALID_CONFIG;
			}
		}
	return RN_OK;
}

/* Resolves the listeners and the inter-node one; listen and advertise
 * become the inter-node listener's addresses. */
static int resolve_listeners(struct node_config *cfg, char *err)
{
	int rc = listeners_from_settings(cfg, err);
	if (rc == RN_OK)
		rc = advertise_listeners(cfg, err);
	if (rc == RN_OK)
		rc = check_binds(cfg, err);
	if (rc != RN_OK)
		return rc;
	cfg->inter_node = 0;
	if (cfg->inter_node_listener_name[0]) {
		const struct config_listener *l =
			config_listener_find(cfg, cfg->inter_node_listener_name);
		if (!l) {
			set_err(err, "inter.node.listener.name %s is not declared in listeners",
				cfg->inter_node_listener_name);
			return RN_E_INVALID_CONFIG;
		}
		cfg->inter_node = (uint32_t)(l - cfg->listeners);
	}
	cfg->listen = cfg->listeners[cfg->inter_node].bind;
	cfg->advertise = cfg->listeners[cfg->inter_node].advertise;
	return RN_OK;
}

int config_finish(struct node_config *cfg, char *err)
{
	int rc = resolve_listeners(cfg, err);
	if (rc != RN_OK)
		return rc;
	if (!cfg->voters_given) {
		cfg->voter_count = 1;
		cfg->voters[0].node_id = cfg->node_id;
		cfg->voters[0].addr = cfg->advertise;
	}
	int is_voter = 0;
	for (uint32_t i = 0; i < cfg->voter_count; i++)
		if (cfg->voters[i].node_id == cfg->node_id)
			is_voter = 1;
	if ((cfg->roles & NODE_ROLE_CONTROLLER) && !is_voter) {
		set_err(err, "node.id %d has the controller role but is not in voters", cfg->node_id);
		return RN_E_INVALID_CONFIG;
	}
	if (!(cfg->roles & NODE_ROLE_CONTROLLER) && is_voter) {
		set_err(err, "node.id %d is in voters but lacks the controller role", cfg->node_id);
		return RN_E_INVALID_CONFIG;
	}
	if (cfg->broker_heartbeat_interval_ms >= cfg->broker_session_timeout_ms) {
		set_err(err, "broker.heartbeat.interval.ms (%" PRId64 ") must be shorter than "
			     "broker.session.timeout.ms (%" PRId64 ")",
			cfg->broker_heartbeat_interval_ms, cfg->broker_session_timeout_ms);
		return RN_E_INVALID_CONFIG;
	}
	if (cfg->replica_fetch_wait_max_ms >= cfg->replica_lag_time_max_ms) {
		set_err(err, "replica.fetch.wait.max.ms (%" PRId64 ") must be shorter than "
			     "replica.lag.time.max.ms (%" PRId64 "): an idle follower would leave the ISR",
			cfg->replica_fetch_wait_max_ms, cfg->replica_lag_time_max_ms);
		return RN_E_INVALID_CONFIG;
	}
	if (cfg->group_min_session_timeout_ms > cfg->group_max_session_timeout_ms) {
		set_err(err, "group.min.session.timeout.ms (%" PRId64 ") exceeds "
			     "group.max.session.timeout.ms (%" PRId64 ")",
			cfg->group_min_session_timeout_ms, cfg->group_max_session_timeout_ms);
		return RN_E_INVALID_CONFIG;
	}
	if (cfg->min_insync_replicas > cfg->default_replication_factor) {
		set_err(err, "min.insync.replicas (%" PRId64 ") exceeds default.replication.factor (%" PRId64 ")",
			cfg->min_insync_replicas, cfg->default_replication_factor);
		return RN_E_INVALID_CONFIG;
	}
	return RN_OK;
}

void config_print_help(FILE *out, const char *prog)
{
	char flag[128], env[128];
	fprintf(out,
		"usage: %s [--config FILE] [--SETTING VALUE]...\n\n"
		"Runs a Runnel node. With no arguments it starts a single-node cluster on\n"
		"127.0.0.1:9092 with its data under ./runnel-data.\n\n"
		"Every setting can be given in the config file (name=value), in the\n"
		"environment (RUNNEL_NAME) or as a flag (--name); flags win over the\n"
		"environment, which wins over the file.\n\n"
		"  --config FILE   read settings from FILE (also RUNNEL_CONFIG)\n"
		"  --help          show this help\n"
		"  --version       show the version\n\n"
		"settings:\n",
		prog);
	for (size_t i = 0; i < RN_ARRAY_LEN(settings); i++) {
		const struct setting *s = &settings[i];
		config_flag_name(s->name, flag, sizeof(flag));
		config_env_name(s->name, env, sizeof(env));
		fprintf(out, "  %s  (%s, file: %s)\n      default %s. %s\n", flag, env, s->name,
			s->default_text, s->description);
	}
}

void config_print_markdown(FILE *out)
{
	char flag[128], env[128];
	fprintf(out, "| setting (file) | flag | environment | default | meaning |\n"
		     "|---|---|---|---|---|\n");
	for (size_t i = 0; i < RN_ARRAY_LEN(settings); i++) {
		const struct setting *s = &settings[i];
		config_flag_name(s->name, flag, sizeof(flag));
		config_env_name(s->name, env, sizeof(env));
		fprintf(out, "| `%s` | `%s` | `%s` | `%s` | %s |\n", s->name, flag, env,
			s->default_text, s->description);
	}
}

static void format_never(int64_t v, char *out, size_t cap)
{
	if (v == CONFIG_NEVER)
		snprintf(out, cap, "never");
	else
		snprintf(out, cap, "%" PRId64, v);
}

/* "NAME://bind>advertised,..." with the inter-node listener first, for the
 * start-up summary (truncated at cap). */
static void format_listeners(const struct node_config *cfg, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	for (uint32_t k = 0; k < cfg->listener_count && used < cap; k++) {
		uint32_t i = k == 0 ? cfg->inter_node : (k <= cfg->inter_node ? k - 1 : k);
		const struct config_listener *l = &cfg->listeners[i];
		int n = snprintf(out + used, cap - used, "%s%s://%s:%u>%s:%u", k ? "," : "", l->name,
				 l->bind.host, l->bind.port, l->advertise.host, l->advertise.port);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

void config_summary(const struct node_config *cfg, char *out, size_t cap)
{
	char flush_msgs[32], flush_ms[32];
	char listeners[CONFIG_MAX_LISTENERS * 96];
	format_never(cfg->log_flush_interval_messages, flush_msgs, sizeof(flush_msgs));
	format_never(cfg->log_flush_interval_ms, flush_ms, sizeof(flush_ms));
	format_listeners(cfg, listeners, sizeof(listeners));
	snprintf(out, cap,
		 "node.id=%d roles=%s%s%s listeners=%s voters=%u data.dir=%s "
		 "num.partitions=%" PRId64 " default.replication.factor=%" PRId64
		 " log.flush.interval.messages=%s log.flush.interval.ms=%s%s%s",
		 cfg->node_id, (cfg->roles & NODE_ROLE_BROKER) ? "broker" : "",
		 (cfg->roles == (NODE_ROLE_BROKER | NODE_ROLE_CONTROLLER)) ? "," : "",
		 (cfg->roles & NODE_ROLE_CONTROLLER) ? "controller" : "", listeners, cfg->voter_count,
		 cfg->data_dir, cfg->num_partitions, cfg->default_replication_factor, flush_msgs,
		 flush_ms, cfg->config_file[0] ? " config=" : "", cfg->config_file);
}
