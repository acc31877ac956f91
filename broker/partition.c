/* partition.c: hosted partitions, their logs and their waiting requests. */
#include "broker/partition.h"

#include "broker/ctrl.h"
#include "broker/fetcher.h"
#include "broker/node.h"
#include "broker/pstate_store.h"
#include "broker/repl.h"
#include "broker/replica.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "controller/controller.h"
#include "storage/kv.h"
#include "wire/batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ptopic {
	char name[RN_MAX_TOPIC_NAME_LEN + 1];
	uint8_t id[META_TOPIC_ID_LEN];
	struct topic_conf conf;
	uint32_t count; /* slots in parts (the topic's partition count) */
	struct partition **parts; /* NULL where this node is not a replica */
	struct ptopic *next;
};

struct pmgr {
	struct node *node;
	bool live;
	uint32_t topic_count;
	struct ptopic *buckets[PMGR_BUCKETS];
};

static uint32_t name_hash(const char *s)
{
	/* FNV-1a: names are short and chosen by clients, the table is bounded. */
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % PMGR_BUCKETS;
}

static struct ptopic *topic_find(struct pmgr *pm, const char *name)
{
	for (struct ptopic *t = pm->buckets[name_hash(name)]; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static void wake_list(struct pwait *head, int err, int64_t bytes);
static void hw_moved(struct partition *p);
static void update_role(struct partition *p);

int pmgr_new(struct node *n, struct pmgr **out)
{
	struct pmgr *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return RN_E_NOMEM;
	pm->node = n;
	*out = pm;
	return RN_OK;
}

void pmgr_set_live(struct pmgr *pm, bool live)
{
	pm->live = live;
}

bool pmgr_has_topic(struct pmgr *pm, const char *topic)
{
	return topic_find(pm, topic) != NULL;
}

struct partition *pmgr_find(struct pmgr *pm, const char *topic, int32_t partition)
{
	struct ptopic *t = topic_find(pm, topic);
	if (!t || partition < 0 || (uint32_t)partition >= t->count)
		return NULL;
	struct partition *p = t->parts[partition];
	return p && p->log ? p : NULL;
}

/* ---------------------------------------------------------------- settings */

static int64_t parse_i64(const char *s, int64_t fallback)
{
	if (strcmp(s, "never") == 0)
		return INT64_MAX;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	return (errno || !end || *end || v < 0) ? fallback : v;
}

bool topic_conf_node_value(const struct node_config *cfg, const char *key, int64_t *value)
{
	static const struct {
		const char *key;
		size_t offset;
	} map[] = {
		{"flush.messages", offsetof(struct node_config, log_flush_interval_messages)},
		{"flush.ms", offsetof(struct node_config, log_flush_interval_ms)},
		{"max.message.bytes", offsetof(struct node_config, message_max_bytes)},
		{"segment.bytes", offsetof(struct node_config, log_segment_bytes)},
		{"segment.ms", offsetof(struct node_config, log_roll_ms)},
		{"index.interval.bytes", offsetof(struct node_config, log_index_interval_bytes)},
		{"min.insync.replicas", offsetof(struct node_config, min_insync_replicas)},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(map); i++) {
		if (strcmp(map[i].key, key) == 0) {
			memcpy(value, (const char *)cfg + map[i].offset, sizeof(*value));
			return true;
		}
	}
	return false;
}

/* The image whose cluster-wide config defaults apply: the controller's
 * (NULL for a partition manager driven without one, as in unit tests). */
static const struct meta_image *cluster_image(const struct pmgr *pm)
{
	return pm->node->ctrl ? ctrl_image(pm->node->ctrl) : NULL;
}

/* The topic's override of key, else the cluster-wide default, else the
 * node's value (Kafka's order: dynamic topic, dynamic cluster default,
 * static broker setting). */
static int64_t topic_setting(const struct meta_image *img, const struct meta_topic *t,
			     const char *key, int64_t node_value)
{
	const char *value = NULL, *source = NULL;
	if (controller_config_lookup(img, t, key, &value, &source) != RN_OK ||
	    strcmp(source, CONTROLLER_SOURCE_DEFAULT) == 0)
		return node_value;
	return parse_i64(value, node_value);
}

/* The effective value of a topic-only key (override, cluster-wide default
 * or built-in default). */
static const char *topic_value(const struct meta_image *img, const struct meta_topic *t,
			       const char *key)
{
	const char *value = NULL;
	int rc = controller_config_lookup(img, t, key, &value, NULL);
	RN_ASSERT(rc == RN_OK && value != NULL);
	return value;
}

/* A validated integer setting that may be -1. */
static int64_t topic_long(const struct meta_image *img, const struct meta_topic *t,
			  const char *key)
{
	const char *s = topic_value(img, t, key);
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	RN_ASSERT(errno == 0 && end && *end == '\0');
	return v;
}

static void conf_retention(const struct meta_image *img, const struct meta_topic *t,
			   struct topic_conf *c)
{
	c->retention_ms = topic_long(img, t, "retention.ms");
	c->retention_bytes = topic_long(img, t, "retention.bytes");
	const char *policy = topic_value(img, t, "cleanup.policy");
	c->cleanup_delete = strstr(policy, "delete") != NULL;
	c->cleanup_compact = strstr(policy, "compact") != NULL;
	c->delete_retention_ms = topic_long(img, t, "delete.retention.ms");
	c->min_cleanable_dirty_ratio =
		strtod(topic_value(img, t, "min.cleanable.dirty.ratio"), NULL);
	c->min_compaction_lag_ms = topic_long(img, t, "min.compaction.lag.ms");
}

static void conf_from_topic(const struct node_config *cfg, const struct meta_image *img,
			    const struct meta_topic *t, struct topic_conf *c)
{
	conf_retention(img, t, c);
	c->flush_messages =
		topic_setting(img, t, "flush.messages", cfg->log_flush_interval_messages);
	c->flush_ms = topic_setting(img, t, "flush.ms", cfg->log_flush_interval_ms);
	c->max_message_bytes = topic_setting(img, t, "max.message.bytes", cfg->message_max_bytes);
	plog_config_default(&c->plog);
	c->plog.segment_bytes =
		(uint64_t)topic_setting(img, t, "segment.bytes", cfg->log_segment_bytes);
	c->plog.segment_ms = topic_setting(img, t, "segment.ms", cfg->log_roll_ms);
	int64_t interval =
		topic_setting(img, t, "index.interval.bytes", cfg->log_index_interval_bytes);
	c->plog.index_interval_bytes = interval > UINT32_MAX ? UINT32_MAX : (uint32_t)interval;
	int64_t min_isr = topic_setting(img, t, "min.insync.replicas", cfg->min_insync_replicas);
	c->min_insync_replicas = min_isr < 1 ? 1 : min_isr > INT32_MAX ? INT32_MAX : (int32_t)min_isr;
	const char *ts = topic_value(img, t, "message.timestamp.type");
	c->log_append_time = strcmp(ts, "LogAppendTime") == 0;
}

int topic_conf_describe(const struct node_config *cfg, const struct meta_image *img,
			const struct meta_topic *t, const char *key,
			char buf[TOPIC_CONF_VALUE_BUF], const char **value, const char **source)
{
	const struct controller_config_def *def = controller_config_find(key);
	if (!def)
		return RN_E_NOT_FOUND;
	int rc = controller_config_lookup(img, t, key, value, source);
	RN_ASSERT(rc == RN_OK);
	int64_t node_value;
	if (!cfg || strcmp(*source, CONTROLLER_SOURCE_DEFAULT) != 0 ||
	    !topic_conf_node_value(cfg, key, &node_value))
		return RN_OK;
	snprintf(buf, TOPIC_CONF_VALUE_BUF, "%" PRId64, node_value);
	/* The node's value replaces the default; it is reported as the node's
	 * own only when it differs. */
	bool same = strcmp(buf, def->default_value) == 0 ||
		    (node_value == INT64_MAX && strcmp(def->default_value, "never") == 0);
	if (!same) {
		*value = buf;
		*source = TOPIC_CONF_SOURCE_NODE;
	}
	return RN_OK;
}

int pmgr_apply_topic(struct pmgr *pm, const struct meta_topic *mt)
{
	RN_ASSERT(topic_find(pm, mt->name) == NULL);
	struct ptopic *t = calloc(1, sizeof(*t));
	if (!t)
		return RN_E_NOMEM;
	snprintf(t->name, sizeof(t->name), "%s", mt->name);
	memcpy(t->id, mt->id, META_TOPIC_ID_LEN);
	conf_from_topic(&pm->node->cfg, cluster_image(pm), mt, &t->conf);
	uint32_t b = name_hash(t->name);
	t->next = pm->buckets[b];
	pm->buckets[b] = t;
	pm->topic_count++;
	return RN_OK;
}

void pmgr_apply_topic_config(struct pmgr *pm, const struct meta_topic *mt)
{
	struct ptopic *t = topic_find(pm, mt->name);
	if (!t)
		return;
	conf_from_topic(&pm->node->cfg, cluster_image(pm), mt, &t->conf);
	for (uint32_t i = 0; i < t->count; i++) {
		struct partition *p = t->parts[i];
		if (!p)
			continue;
		/* segment.bytes and segment.ms apply to an open log from its next
		 * append; the index interval stays what the log was opened with. */
		struct plog_config plog = p->conf.plog;
		p->conf = t->conf;
		plog.segment_bytes = t->conf.plog.segment_bytes;
		plog.segment_ms = t->conf.plog.segment_ms;
		p->conf.plog = plog;
		if (p->log)
			plog_set_segment_config(p->log, plog.segment_bytes, plog.segment_ms);
		if (p->leading && replica_leader_set_min_isr(&p->rl, p->conf.min_insync_replicas))
			hw_moved(p);
		else if (p->leading)
			/* acks=all produces may now fail (or pass) the new rule. */
			wake_list(p->produce_waiters, RN_OK, 0);
	}
}

/* ------------------------------------------------------------ directories */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *path)
{
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		LOG_ERROR("partition", "cannot remove %s: %s", path, strerror(errno));
}

/* Writes DIR.id with the topic id and syncs it and its directory. */
static int write_id_file(const char *id_path, const uint8_t id[META_TOPIC_ID_LEN])
{
	int fd = open(id_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return rn_err_from_errno(errno);
	int rc = RN_OK;
	if (write(fd, id, META_TOPIC_ID_LEN) != (ssize_t)META_TOPIC_ID_LEN || fsync(fd) != 0)
		rc = RN_E_IO;
	close(fd);
	return rc;
}

/* True when DIR.id exists and names id. */
static bool id_file_matches(const char *id_path, const uint8_t id[META_TOPIC_ID_LEN])
{
	uint8_t buf[META_TOPIC_ID_LEN];
	int fd = open(id_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)sizeof(buf) && memcmp(buf, id, sizeof(buf)) == 0;
}

static void sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void label_of(const struct partition *p, char *out, size_t cap)
{
	snprintf(out, cap, "%s-%d", p->topic, p->index);
}

/* Makes p's producer state what its log implies (snapshot, then replay). */
static int rebuild_producers(struct partition *p, const char *dir)
{
	char label[RN_MAX_TOPIC_NAME_LEN + 16];
	label_of(p, label, sizeof(label));
	return pstate_store_rebuild(dir, p->log, &p->producers, label);
}

/* Writes p's producer-state snapshot for the log up to offset.  A failure
 * costs only a longer replay at the next open, so it is logged, not
 * raised; the fsync it does runs on the loop, once per segment roll. */
static int snapshot_producers_at(struct partition *p, int64_t offset)
{
	char dir[CONFIG_MAX_PATH + RN_MAX_TOPIC_NAME_LEN + 64];
	int rc = node_partition_dir(p->node, p->topic, p->index, dir, sizeof(dir));
	if (rc == RN_OK)
		rc = pstate_store_write(dir, &p->producers, offset);
	if (rc != RN_OK)
		LOG_WARN("partition", "%s-%d: cannot write the producer-state snapshot at offset %" PRId64
				      ": %s (recovery will replay more of the log)",
			 p->topic, p->index, offset, rn_strerror(rc));
	return rc;
}

int partition_snapshot_producers(struct partition *p)
{
	RN_ASSERT(p->log != NULL);
	return snapshot_producers_at(p, plog_end_offset(p->log));
}

/* Opens p's log, first removing a directory left by an older topic of the
 * same name. */
static int partition_open_log(struct pmgr *pm, struct partition *p)
{
	char dir[CONFIG_MAX_PATH + RN_MAX_TOPIC_NAME_LEN + 64];
	char id_path[sizeof(dir) + 8];
	int rc = node_partition_dir(pm->node, p->topic, p->index, dir, sizeof(dir));
	if (rc != RN_OK)
		return rc;
	snprintf(id_path, sizeof(id_path), "%s%s", dir, PMGR_ID_SUFFIX);
	struct stat st;
	bool exists = stat(dir, &st) == 0;
	if (exists && !id_file_matches(id_path, p->topic_id)) {
		LOG_WARN("partition", "removing %s: it belongs to an earlier topic named %s", dir,
			 p->topic);
		remove_tree(dir);
		exists = false;
	}
	int64_t known_hw = 0;
	if (!exists && repl_checkpoint_read(pm->node->kv, p->topic_id, p->index, &known_hw) == RN_OK &&
	    known_hw > 0)
		/* The node state says this node held the partition: its files were
		 * removed or the data directory was swapped.  Say so loudly rather
		 * than serve an empty log as if nothing happened. */
		LOG_ERROR("partition",
			  "%s-%d: the log directory %s is missing, but this node held the partition "
			  "up to high watermark %" PRId64 "; starting it empty (other replicas, if "
			  "any, will fill it again; with no other replica those records are lost)",
			  p->topic, p->index, dir, known_hw);
	if (!exists) {
		rc = write_id_file(id_path, p->topic_id);
		if (rc != RN_OK) {
			LOG_ERROR("partition", "cannot write %s: %s", id_path, rn_strerror(rc));
			return rc;
		}
		sync_dir(pm->node->topics_dir);
	}
	rc = plog_open(dir, &p->conf.plog, rn_wall_ms(), &p->log);
	if (rc != RN_OK) {
		LOG_ERROR("partition", "cannot open the log of %s-%d in %s: %s", p->topic, p->index,
			  dir, rn_strerror(rc));
		return rc;
	}
	/* The high watermark starts where the last checkpoint left it (never
	 * past the recovered log end); a leader raises it as its followers
	 * report, a follower as its leader tells. */
	int64_t hw = 0;
	int64_t end = plog_end_offset(p->log);
	if (repl_checkpoint_read(pm->node->kv, p->topic_id, p->index, &hw) != RN_OK)
		hw = plog_start_offset(p->log);
	p->high_watermark = hw < end ? hw : end;
	p->hw_checkpointed = p->high_watermark;
	rc = rebuild_producers(p, dir);
	if (rc != RN_OK) {
		/* Without its producer state the partition would append retries
		 * twice: it stays closed, like a log that cannot be read. */
		plog_close(p->log);
		p->log = NULL;
		return rc;
	}
	p->last_sync_ms = rn_wall_ms();
	LOG_INFO("partition", "%s %s-%d: offsets %" PRId64 "..%" PRId64 ", %u segment(s), "
			      "high watermark %" PRId64 ", leader %d epoch %d",
		 exists ? "recovered" : "created", p->topic, p->index, plog_start_offset(p->log),
		 end, plog_segment_count(p->log), p->high_watermark, p->leader, p->leader_epoch);
	update_role(p);
	return RN_OK;
}

void partition_set_leader(struct partition *p, int32_t leader, int32_t leader_epoch)
{
	int32_t self = p->node->cfg.node_id;
	bool lost = p->leader == self && leader != self;
	p->leader = leader;
	p->leader_epoch = leader_epoch;
	if (!lost)
		return;
	p->leading = false;
	if (p->log)
		LOG_INFO("partition", "%s-%d: no longer the leader (leader %d, epoch %d)", p->topic,
			 p->index, leader, leader_epoch);
	/* Requests waiting here would otherwise run to their timeout: a
	 * produce appended but not acknowledged must not succeed now, and a
	 * parked fetch is answered at once so the client finds the new leader. */
	wake_list(p->produce_waiters, RN_E_NOT_LEADER_OR_FOLLOWER, 0);
	wake_list(p->fetch_waiters, RN_E_NOT_LEADER_OR_FOLLOWER, 0);
}

static bool is_replica(const struct meta_partition *mp, int32_t node_id)
{
	for (uint32_t i = 0; i < mp->replica_count; i++)
		if (mp->replicas[i] == node_id)
			return true;
	return false;
}

/* Copies the replica set, ISR and partition epoch from the image. */
static void copy_meta(struct partition *p, const struct meta_partition *mp)
{
	RN_ASSERT(mp->replica_count <= RN_MAX_REPLICATION_FACTOR);
	RN_ASSERT(mp->isr_count <= RN_MAX_REPLICATION_FACTOR);
	memcpy(p->replicas, mp->replicas, mp->replica_count * sizeof(p->replicas[0]));
	p->replica_count = mp->replica_count;
	memcpy(p->isr, mp->isr, mp->isr_count * sizeof(p->isr[0]));
	p->isr_count = mp->isr_count;
	p->partition_epoch = mp->partition_epoch;
}

bool partition_in_isr(const struct partition *p, int32_t node_id)
{
	for (uint32_t i = 0; i < p->isr_count; i++)
		if (p->isr[i] == node_id)
			return true;
	return false;
}

static bool hosts_replica(const struct partition *p, int32_t node_id)
{
	for (uint32_t i = 0; i < p->replica_count; i++)
		if (p->replicas[i] == node_id)
			return true;
	return false;
}

/* This node leads p in a new leader epoch: the epoch goes into the log's
 * history before any batch of it, and the leader state starts over. */
static void become_leader(struct partition *p, int64_t now_ms)
{
	int64_t leo = plog_end_offset(p->log);
	int rc = plog_epoch_assign(p->log, p->leader_epoch);
	struct replica_leader_params prm = {
		.self_id = p->node->cfg.node_id,
		.leader_epoch = p->leader_epoch,
		.epoch_start_offset = leo,
		.leo = leo,
		.hw = p->high_watermark,
		.min_isr = p->conf.min_insync_replicas,
		.partition_epoch = p->partition_epoch,
		.replicas = p->replicas,
		.replica_count = p->replica_count,
		.isr = p->isr,
		.isr_count = p->isr_count,
	};
	if (rc == RN_OK)
		rc = replica_leader_reset(&p->rl, &prm, now_ms);
	if (rc != RN_OK) {
		/* Without its state the node cannot lead safely: produces and
		 * fetches are refused until the metadata changes again. */
		LOG_ERROR("partition", "%s-%d: cannot take the leadership of epoch %d: %s", p->topic,
			  p->index, p->leader_epoch, rn_strerror(rc));
		p->leading = false;
		return;
	}
	p->leading = true;
	p->isr_retry_ms = 0;
	LOG_INFO("partition", "%s-%d: leader in epoch %d from offset %" PRId64
			      " (high watermark %" PRId64 ", %u in-sync of %u replicas)",
		 p->topic, p->index, p->leader_epoch, leo, replica_leader_hw(&p->rl), p->isr_count,
		 p->replica_count);
	if (replica_leader_hw(&p->rl) != p->high_watermark)
		hw_moved(p);
}

/* Brings p's role (leader state, fetcher session) in line with the image. */
static void update_role(struct partition *p)
{
	struct node *n = p->node;
	int32_t self = n->cfg.node_id;
	if (!p->log)
		return;
	if (p->leader != self) {
		p->leading = false;
		if (p->leader >= 0 && hosts_replica(p, self))
			fetcher_follow(n->fetcher, p);
		else
			fetcher_unfollow(n->fetcher, p);
		return;
	}
	fetcher_unfollow(n->fetcher, p);
	int64_t now_ms = rn_mono_ms();
	if (!p->leading || p->rl.leader_epoch != p->leader_epoch) {
		become_leader(p, now_ms);
		return;
	}
	int rc = partition_isr_committed(p, p->isr, p->isr_count, p->partition_epoch);
	if (rc != RN_OK)
		LOG_WARN("partition", "%s-%d: the image's ISR does not fit the leader state: %s",
			 p->topic, p->index, rn_strerror(rc));
}

int partition_isr_committed(struct partition *p, const int32_t *isr, uint32_t count,
			    int32_t partition_epoch)
{
	if (!p->leading)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	bool hw_changed = false;
	uint32_t before = p->rl.isr_count;
	int32_t before_epoch = p->rl.partition_epoch;
	int rc = replica_leader_isr_committed(&p->rl, isr, count, partition_epoch, rn_mono_ms(),
					      &hw_changed);
	if (rc != RN_OK)
		return rc;
	if (p->rl.partition_epoch != before_epoch)
		LOG_INFO("partition", "%s-%d: ISR now has %u member(s) (was %u), partition epoch %d",
			 p->topic, p->index, p->rl.isr_count, before, p->rl.partition_epoch);
	if (hw_changed)
		hw_moved(p);
	else
		/* A smaller ISR may fail acks=all produces waiting here. */
		wake_list(p->produce_waiters, RN_OK, 0);
	return RN_OK;
}

int pmgr_apply_partition(struct pmgr *pm, const struct meta_topic *mt,
			 const struct meta_partition *mp)
{
	struct ptopic *t = topic_find(pm, mt->name);
	RN_ASSERT(t != NULL);
	if ((uint32_t)mp->partition >= t->count) {
		uint32_t count = (uint32_t)mp->partition + 1;
		struct partition **parts = realloc(t->parts, count * sizeof(*parts));
		if (!parts)
			return RN_E_NOMEM;
		for (uint32_t i = t->count; i < count; i++)
			parts[i] = NULL;
		t->parts = parts;
		t->count = count;
	}
	struct partition *p = t->parts[mp->partition];
	if (!is_replica(mp, pm->node->cfg.node_id)) {
		/* Moved off this node: it leads and follows it no longer. */
		if (p) {
			partition_set_leader(p, mp->leader, mp->leader_epoch);
			fetcher_unfollow(pm->node->fetcher, p);
		}
		return RN_OK;
	}
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return RN_E_NOMEM;
		snprintf(p->topic, sizeof(p->topic), "%s", t->name);
		memcpy(p->topic_id, t->id, META_TOPIC_ID_LEN);
		p->index = mp->partition;
		p->node = pm->node;
		p->conf = t->conf;
		p->refs = 1;
		t->parts[mp->partition] = p;
	}
	partition_set_leader(p, mp->leader, mp->leader_epoch);
	copy_meta(p, mp);
	if (pm->live && !p->log)
		return partition_open_log(pm, p);
	update_role(p);
	return RN_OK;
}

/* ----------------------------------------------------------------- waiting */

static void list_push(struct pwait **head, struct partition *p, struct pwait *w)
{
	RN_ASSERT(w->p == NULL);
	w->p = p;
	w->prev = NULL;
	w->next = *head;
	if (*head)
		(*head)->prev = w;
	*head = w;
}

void partition_wait_produce(struct partition *p, struct pwait *w)
{
	list_push(&p->produce_waiters, p, w);
}

void partition_watch_fetch(struct partition *p, struct pwait *w)
{
	w->bytes = 0;
	list_push(&p->fetch_waiters, p, w);
}

void pwait_unlink(struct pwait *w)
{
	struct partition *p = w->p;
	if (!p)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else if (p->produce_waiters == w)
		p->produce_waiters = w->next;
	else
		p->fetch_waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->p = NULL;
}

/* Calls every waiter of a list; each may unlink only itself. */
static void wake_list(struct pwait *head, int err, int64_t bytes)
{
	struct pwait *next;
	for (struct pwait *w = head; w; w = next) {
		next = w->next;
		w->bytes += bytes;
		w->wake_cb(w, err);
	}
}

/* ------------------------------------------------------------------ append */

static void go_offline(struct partition *p, const char *what)
{
	if (p->offline)
		return;
	p->offline = true;
	LOG_ERROR("partition", "%s-%d: %s; the partition refuses writes until the node restarts",
		  p->topic, p->index, what);
}

/* Counts appended records and queues an fsync for this turn when the flush
 * policy says so.  Returns true when it did. */
static bool apply_flush_policy(struct partition *p, int32_t record_count, int64_t now_ms)
{
	p->unsynced_records += record_count;
	if (!replica_flush_due(p->conf.flush_messages, p->conf.flush_ms, p->unsynced_records,
			       p->last_sync_ms, now_ms))
		return false;
	p->unsynced_records = 0;
	p->last_sync_ms = now_ms;
	p->sync_requested_end = plog_end_offset(p->log);
	node_sync_partition(p->node, p);
	return true;
}

/*
 * Records a batch just appended at base_offset in the producer state.  When
 * the append rolled the log (more segments than before), the snapshot for
 * the new segment's base offset is written first, while the state is still
 * that of the log before this batch.
 */
static void track_producers(struct partition *p, const uint8_t *buf, size_t len,
			    uint32_t segments_before, int64_t base_offset)
{
	if (plog_segment_count(p->log) > segments_before)
		snapshot_producers_at(p, base_offset);
	struct batch_info info;
	struct pstate_append a;
	if (batch_peek(buf, len, &info) != RN_OK || !pstate_append_from_batch(&info, &a))
		return;
	int rc = pstate_update(&p->producers, &a);
	if (rc != RN_OK)
		LOG_ERROR("partition", "%s-%d: cannot record producer %" PRId64 " at offset %" PRId64
				       ": %s; a retry of that batch would be appended again",
			  p->topic, p->index, a.producer_id, a.first_offset, rn_strerror(rc));
}

int partition_append(struct partition *p, uint8_t *buf, size_t len, int32_t record_count,
		     int64_t now_ms, struct plog_append_result *res, bool *needs_sync)
{
	RN_ASSERT(p->log != NULL);
	*needs_sync = false;
	uint32_t segments = plog_segment_count(p->log);
	int rc = plog_append(p->log, buf, len, p->leader_epoch, now_ms, res);
	if (rc != RN_OK) {
		if (rc == RN_E_IO && !p->offline) {
			p->offline = true;
			LOG_ERROR("partition", "%s-%d: write failed; the partition refuses produces "
					       "until the node restarts", p->topic, p->index);
		}
		return rc;
	}
	track_producers(p, buf, len, segments, res->base_offset);
	*needs_sync = apply_flush_policy(p, record_count, now_ms);
	/* Followers' parked fetches wake for the new bytes; consumers wake
	 * only when the high watermark moves. */
	wake_list(p->fetch_waiters, RN_OK, (int64_t)len);
	if (p->leading && replica_leader_on_append(&p->rl, plog_end_offset(p->log)))
		hw_moved(p);
	return RN_OK;
}

/* Says why pstate_check refused a batch: the producer, its epoch, the
 * sequence received and the one expected. */
static void describe_refusal(const struct partition *p, const struct pstate_append *a, int rc,
			     char *why, size_t why_len)
{
	const struct pstate_producer *known = pstate_find(&p->producers, a->producer_id);
	RN_ASSERT(known != NULL);
	const struct pstate_batch *last = known->count ? &known->batches[known->newest] : NULL;
	if (rc == RN_E_INVALID_PRODUCER_EPOCH) {
		snprintf(why, why_len,
			 "producer id %" PRId64 " epoch %d is older than its current epoch %d "
			 "(sequence %d received): the producer was fenced",
			 a->producer_id, a->epoch, known->epoch, a->first_seq);
		return;
	}
	bool new_epoch = a->epoch > known->epoch;
	int32_t expected = new_epoch || !last ? 0 : pstate_next_seq(last->last_seq);
	snprintf(why, why_len,
		 "producer id %" PRId64 " epoch %d: sequence %d received, %d expected%s",
		 a->producer_id, a->epoch, a->first_seq, expected,
		 new_epoch ? " (a new epoch starts at 0)" : "");
}

int partition_produce(struct partition *p, uint8_t *buf, size_t len,
		      const struct batch_info *info, int64_t now_ms,
		      struct partition_produce_result *out, char *why, size_t why_len)
{
	RN_ASSERT(p->log != NULL);
	memset(out, 0, sizeof(*out));
	if (info->producer_id < 0)
		return partition_append(p, buf, len, info->record_count, now_ms, &out->append,
					&out->needs_sync);
	if (info->base_sequence < 0 || info->producer_epoch < 0) {
		snprintf(why, why_len,
			 "producer id %" PRId64 " needs a producer epoch and a base sequence "
			 "(epoch %d, base sequence %d received)",
			 info->producer_id, info->producer_epoch, info->base_sequence);
		return RN_E_INVALID_RECORD;
	}
	/* The offsets it fills are the producer's (0-based); only the
	 * sequences are checked, and the update after the append has the
	 * real ones. */
	struct pstate_append a;
	bool stamped = pstate_append_from_batch(info, &a);
	RN_ASSERT(stamped);
	struct pstate_batch dup;
	int rc = pstate_check(&p->producers, &a, &dup);
	if (rc == RN_E_DUPLICATE_SEQUENCE_NUMBER) {
		/* The original may still wait for its fsync (acks=all waits for
		 * the high watermark in the caller, as for a fresh append). */
		out->duplicate = true;
		out->append.base_offset = dup.first_offset;
		out->append.last_offset = dup.last_offset;
		out->append.max_timestamp = -1;
		out->needs_sync = dup.last_offset < p->sync_requested_end &&
				  partition_synced_end(p) <= dup.last_offset;
		LOG_DEBUG("partition", "%s-%d: producer id %" PRId64 " epoch %d sequences %d..%d "
				       "retried: answered with offset %" PRId64,
			  p->topic, p->index, a.producer_id, a.epoch, a.first_seq, a.last_seq,
			  dup.first_offset);
		return RN_OK;
	}
	if (rc != RN_OK) {
		describe_refusal(p, &a, rc, why, why_len);
		return rc;
	}
	return partition_append(p, buf, len, info->record_count, now_ms, &out->append,
				&out->needs_sync);
}

int partition_append_replica(struct partition *p, const uint8_t *buf, size_t len,
			     int32_t record_count, int64_t now_ms)
{
	RN_ASSERT(p->log != NULL);
	if (p->offline)
		return RN_E_IO;
	struct plog_append_result res;
	uint32_t segments = plog_segment_count(p->log);
	int rc = plog_append_as_is(p->log, buf, len, now_ms, &res);
	if (rc != RN_OK) {
		if (rc == RN_E_IO)
			go_offline(p, "a write of a replicated batch failed");
		return rc;
	}
	/* The leader decided about the batch; the follower only remembers it,
	 * so that it deduplicates the same way should it lead. */
	track_producers(p, buf, len, segments, res.base_offset);
	apply_flush_policy(p, record_count, now_ms);
	return RN_OK;
}

int partition_truncate(struct partition *p, int64_t offset)
{
	RN_ASSERT(p->log != NULL);
	int64_t end = plog_end_offset(p->log);
	int64_t start = plog_start_offset(p->log);
	if (offset >= end)
		return RN_OK;
	if (offset < start)
		offset = start;
	/* plog_truncate cuts at batch boundaries: the batch holding offset
	 * goes too, and the follower fetches it again. */
	struct plog_slice s;
	int rc = plog_read(p->log, offset, 1, INT64_MAX, &s);
	if (rc != RN_OK)
		return rc;
	int64_t boundary = s.len > 0 ? s.first_offset : offset;
	plog_slice_release(&s);
	rc = plog_truncate(p->log, boundary);
	if (rc != RN_OK) {
		if (rc == RN_E_IO)
			go_offline(p, "truncating the log failed");
		return rc;
	}
	LOG_WARN("partition", "%s-%d: truncated the log from offset %" PRId64 " to %" PRId64
			      " (it diverged from the leader's)",
		 p->topic, p->index, end, boundary);
	if (p->high_watermark > boundary)
		p->high_watermark = boundary;
	/* The cached batches may name offsets that are gone, and batches the
	 * cache had evicted may be a producer's newest again: start over from
	 * the snapshot at or below the new end. */
	char dir[CONFIG_MAX_PATH + RN_MAX_TOPIC_NAME_LEN + 64];
	rc = node_partition_dir(p->node, p->topic, p->index, dir, sizeof(dir));
	if (rc == RN_OK)
		rc = rebuild_producers(p, dir);
	if (rc != RN_OK)
		go_offline(p, "rebuilding the producer state after a truncation failed");
	return rc;
}

void partition_follower_hw(struct partition *p, int64_t leader_hw)
{
	if (!p->log)
		return;
	int64_t hw = replica_follower_hw(leader_hw, plog_end_offset(p->log));
	if (hw <= p->high_watermark)
		return;
	p->high_watermark = hw;
	wake_list(p->fetch_waiters, RN_OK, 0);
}

int partition_on_follower_fetch(struct partition *p, int32_t follower_id, int64_t fetch_offset,
				int64_t now_ms)
{
	if (!p->leading || !p->log)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	bool hw_changed = false;
	int rc = replica_leader_on_follower_fetch(&p->rl, follower_id, fetch_offset, now_ms,
						  &hw_changed);
	if (rc == RN_OK && hw_changed)
		hw_moved(p);
	return rc;
}

/* The leader's high watermark moved: acks=all produces and consumers'
 * parked fetches wake. */
static void hw_moved(struct partition *p)
{
	p->high_watermark = replica_leader_hw(&p->rl);
	wake_list(p->produce_waiters, RN_OK, 0);
	wake_list(p->fetch_waiters, RN_OK, 0);
}

int64_t partition_synced_end(const struct partition *p)
{
	return p->log ? plog_synced_end(p->log) : 0;
}

void partition_on_synced(struct partition *p, bool ok)
{
	if (!p->log)
		return;
	if (!ok && !p->offline) {
		p->offline = true;
		LOG_ERROR("partition", "%s-%d: fsync failed; unsynced records are not acknowledged "
				       "and the partition refuses produces until the node restarts",
			  p->topic, p->index);
	}
	wake_list(p->produce_waiters, ok ? RN_OK : RN_E_IO, 0);
}

/* ---------------------------------------------------------------- lifetime */

void partition_ref(struct partition *p)
{
	p->refs++;
}

void partition_unref(struct partition *p)
{
	RN_ASSERT(p->refs > 0);
	if (--p->refs > 0)
		return;
	RN_ASSERT(p->log == NULL);
	RN_ASSERT(p->produce_waiters == NULL && p->fetch_waiters == NULL);
	pstate_free(&p->producers);
	free(p);
}

/* Wakes everyone with err, forcibly unlinks whoever stayed, and leaves the
 * partition without a log. */
static void partition_detach(struct partition *p, int err)
{
	fetcher_unfollow(p->node->fetcher, p);
	p->leading = false;
	wake_list(p->produce_waiters, err, 0);
	wake_list(p->fetch_waiters, err, 0);
	while (p->produce_waiters)
		pwait_unlink(p->produce_waiters);
	while (p->fetch_waiters)
		pwait_unlink(p->fetch_waiters);
}

static void topic_unlink(struct pmgr *pm, struct ptopic *t)
{
	struct ptopic **pp = &pm->buckets[name_hash(t->name)];
	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	pm->topic_count--;
}

void pmgr_remove_topic(struct pmgr *pm, const char *name)
{
	struct ptopic *t = topic_find(pm, name);
	if (!t)
		return;
	topic_unlink(pm, t);
	for (uint32_t i = 0; i < t->count; i++) {
		struct partition *p = t->parts[i];
		if (!p)
			continue;
		partition_detach(p, RN_E_UNKNOWN_TOPIC_OR_PARTITION);
		/* During the replay no log is open and the directory may belong to
		 * a later topic of the same name: leave the files alone. */
		if (!pm->live) {
			partition_unref(p);
			continue;
		}
		if (p->log) {
			int rc = plog_destroy(p->log);
			if (rc != RN_OK)
				LOG_ERROR("partition", "%s-%d: removing the log failed: %s", p->topic,
					  p->index, rn_strerror(rc));
			p->log = NULL;
		}
		char dir[CONFIG_MAX_PATH + RN_MAX_TOPIC_NAME_LEN + 64];
		char id_path[sizeof(dir) + 8];
		if (node_partition_dir(pm->node, p->topic, p->index, dir, sizeof(dir)) == RN_OK) {
			snprintf(id_path, sizeof(id_path), "%s%s", dir, PMGR_ID_SUFFIX);
			unlink(id_path);
		}
		repl_checkpoint_forget(pm->node->kv, p->topic_id, p->index);
		partition_unref(p);
	}
	if (pm->live)
		LOG_INFO("partition", "removed topic %s (%u partition(s))", t->name, t->count);
	free(t->parts);
	free(t);
}

/* Removes the topics the image no longer holds under the same id.  Names are
 * collected first because removal unlinks from the buckets being walked. */
static void remove_missing_topics(struct pmgr *pm, const struct meta_image *img)
{
	for (uint32_t b = 0; b < PMGR_BUCKETS; b++) {
		struct ptopic *t = pm->buckets[b];
		while (t) {
			struct ptopic *next = t->next;
			const struct meta_topic *mt = meta_image_topic_by_name(img, t->name);
			if (!mt || memcmp(mt->id, t->id, META_TOPIC_ID_LEN) != 0) {
				char name[RN_MAX_TOPIC_NAME_LEN + 1];
				snprintf(name, sizeof(name), "%s", t->name);
				pmgr_remove_topic(pm, name);
			}
			t = next;
		}
	}
}

int pmgr_reconcile(struct pmgr *pm, const struct meta_image *img)
{
	remove_missing_topics(pm, img);
	int first = RN_OK;
	for (uint32_t i = 0; i < meta_image_topic_count(img); i++) {
		const struct meta_topic *mt = meta_image_topic_at(img, i);
		int rc = RN_OK;
		if (!topic_find(pm, mt->name))
			rc = pmgr_apply_topic(pm, mt);
		else
			pmgr_apply_topic_config(pm, mt);
		for (uint32_t j = 0; rc == RN_OK && j < mt->partition_count; j++)
			rc = pmgr_apply_partition(pm, mt, &mt->partitions[j]);
		if (rc == RN_E_NOMEM)
			return rc;
		if (first == RN_OK)
			first = rc;
	}
	return first;
}

/* Removes topics/ entries that belong to no hosted partition (left behind by
 * a crash during a topic deletion). */
static void remove_orphans(struct pmgr *pm)
{
	DIR *d = opendir(pm->node->topics_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char base[NAME_MAX + 1];
		snprintf(base, sizeof(base), "%s", e->d_name);
		size_t n = strlen(base);
		size_t sl = strlen(PMGR_ID_SUFFIX);
		if (n > sl && strcmp(base + n - sl, PMGR_ID_SUFFIX) == 0)
			base[n - sl] = '\0';
		char *dash = strrchr(base, '-');
		bool keep = false;
		if (dash) {
			*dash = '\0';
			char *end = NULL;
			long part = strtol(dash + 1, &end, 10);
			keep = end && *end == '\0' && part >= 0 && part <= INT32_MAX &&
			       pmgr_find(pm, base, (int32_t)part) != NULL;
		}
		if (keep)
			continue;
		char path[CONFIG_MAX_PATH + NAME_MAX + 32];
		snprintf(path, sizeof(path), "%s/%s", pm->node->topics_dir, e->d_name);
		LOG_WARN("partition", "removing %s: no hosted partition uses it", path);
		remove_tree(path);
	}
	closedir(d);
}

int pmgr_open_all(struct pmgr *pm)
{
	pm->live = true;
	for (uint32_t b = 0; b < PMGR_BUCKETS; b++) {
		for (struct ptopic *t = pm->buckets[b]; t; t = t->next) {
			for (uint32_t i = 0; i < t->count; i++) {
				struct partition *p = t->parts[i];
				if (!p || p->log)
					continue;
				int rc = partition_open_log(pm, p);
				if (rc != RN_OK)
					return rc;
			}
		}
	}
	remove_orphans(pm);
	return RN_OK;
}

void pmgr_foreach(struct pmgr *pm, void (*cb)(struct partition *p, void *arg), void *arg)
{
	for (uint32_t b = 0; b < PMGR_BUCKETS; b++)
		for (struct ptopic *t = pm->buckets[b]; t; t = t->next)
			for (uint32_t i = 0; i < t->count; i++)
				if (t->parts[i] && t->parts[i]->log)
					cb(t->parts[i], arg);
}

void pmgr_free(struct pmgr *pm)
{
	if (!pm)
		return;
	for (uint32_t b = 0; b < PMGR_BUCKETS; b++) {
		struct ptopic *t = pm->buckets[b];
		while (t) {
			struct ptopic *next = t->next;
			for (uint32_t i = 0; i < t->count; i++) {
				struct partition *p = t->parts[i];
				if (!p)
					continue;
				partition_detach(p, RN_E_SHUTTING_DOWN);
				/* A clean stop leaves a snapshot at the log end: the
				 * next open replays nothing. */
				if (p->log && !p->offline)
					partition_snapshot_producers(p);
				if (p->log)
					plog_close(p->log);
				p->log = NULL;
				partition_unref(p);
			}
			free(t->parts);
			free(t);
			t = next;
		}
	}
	free(pm);
}
