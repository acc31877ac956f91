/* node.c: start-up, the loop turn, fsync scheduling and shutdown. */
#include "broker/node.h"

#include "broker/conn.h"
#include "broker/coord.h"
#include "broker/ctrl.h"
#include "broker/fetcher.h"
#include "broker/handlers.h"
#include "broker/log_cleaner.h"
#include "broker/log_retention.h"
#include "broker/member.h"
#include "broker/partition.h"
#include "broker/repl.h"
#include "broker/server.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/flusher.h"
#include "storage/kv.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Keys of the node's own facts in KV_TABLE_NODE. */
#define KEY_NODE_ID "node.id"
#define KEY_CLUSTER_ID "cluster.id"

int node_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return RN_E_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return RN_OK;
}

int node_partition_dir(const struct node *n, const char *topic, int32_t partition, char *out,
		       size_t cap)
{
	int len = snprintf(out, cap, "%s/%s-%d", n->topics_dir, topic, partition);
	return (len < 0 || (size_t)len >= cap) ? RN_E_INVAL : RN_OK;
}

/* --------------------------------------------------------------- the turn */

void node_schedule_turn(struct node *n)
{
	if (n->turn_pending || !n->turn_ev)
		return;
	n->turn_pending = true;
	/* Activated from a callback, the event runs after the callbacks that
	 * are already active in this turn. */
	event_active(n->turn_ev, EV_READ, 0);
}

void node_sync_partition(struct node *n, struct partition *p)
{
	if (p->queued_for_sync)
		return;
	if (n->turn_part_count == n->turn_part_cap) {
		uint32_t cap = n->turn_part_cap ? n->turn_part_cap * 2 : 64;
		struct partition **parts = realloc(n->turn_parts, cap * sizeof(*parts));
		RN_ASSERT(parts != NULL);
		n->turn_parts = parts;
		n->turn_part_cap = cap;
	}
	p->queued_for_sync = true;
	partition_ref(p);
	n->turn_parts[n->turn_part_count++] = p;
	node_schedule_turn(n);
}

void node_sync_kv(struct node *n)
{
	n->turn_kv = true;
	n->turn_kv_ctrl = true;
	node_schedule_turn(n);
}

void node_sync_kv_quietly(struct node *n)
{
	n->turn_kv = true;
	node_schedule_turn(n);
}

/* Completes one flusher request: durable (ok) or not. */
static void sync_complete(struct node *n, struct node_sync *s, bool ok)
{
	for (uint32_t i = 0; i < s->count; i++) {
		partition_on_synced(s->parts[i], ok);
		partition_unref(s->parts[i]);
	}
	if (s->ctrl && n->ctrl)
		ctrl_on_synced(n->ctrl, ok);
	free(s->parts);
	free(s);
}

/* Hands this turn's logs (and LMDB) to the flusher as one request. */
static void submit_syncs(struct node *n)
{
	if (n->turn_part_count == 0 && !n->turn_kv)
		return;
	struct node_sync *s = calloc(1, sizeof(*s));
	struct plog **logs = calloc(n->turn_part_count ? n->turn_part_count : 1, sizeof(*logs));
	RN_ASSERT(s != NULL && logs != NULL);
	s->kv = n->turn_kv;
	s->ctrl = n->turn_kv_ctrl;
	s->parts = n->turn_parts;
	s->count = n->turn_part_count;
	n->turn_parts = NULL;
	n->turn_part_count = n->turn_part_cap = 0;
	n->turn_kv = false;
	n->turn_kv_ctrl = false;
	uint32_t log_count = 0;
	for (uint32_t i = 0; i < s->count; i++) {
		s->parts[i]->queued_for_sync = false;
		if (s->parts[i]->log)
			logs[log_count++] = s->parts[i]->log;
	}
	s->seq = flusher_submit(n->flusher, logs, log_count, s->kv ? n->kv : NULL);
	free(logs);
	if (s->seq < 0) {
		LOG_ERROR("node", "cannot queue an fsync: %s", rn_strerror((int)s->seq));
		sync_complete(n, s, false);
		return;
	}
	if (n->sync_tail)
		n->sync_tail->next = s;
	else
		n->sync_head = s;
	n->sync_tail = s;
}

static void turn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	(void)fd;
	(void)what;
	n->turn_pending = false;
	if (n->ctrl && !n->stopping)
		ctrl_pump(n->ctrl);
	fetch_answer_ready(n);
	if (!n->stopping)
		submit_syncs(n);
	conn_free_dead(n);
}

/* Runs on the flusher thread: only wakes the loop. */
static void flush_notify_cb(void *arg)
{
	struct node *n = arg;
	event_active(n->flush_ev, EV_READ, 0);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	(void)fd;
	(void)what;
	uint64_t failed = 0;
	int64_t done = flusher_completed(n->flusher, &failed);
	/* The flusher counts failures but does not say which request failed,
	 * so every request completed along with a failure counts as failed:
	 * nothing that may not be durable is acknowledged. */
	bool ok = failed == n->sync_failures_seen;
	if (!ok)
		LOG_ERROR("node", "%" PRIu64 " fsync failure(s) reported by the flusher",
			  failed - n->sync_failures_seen);
	n->sync_failures_seen = failed;
	while (n->sync_head && n->sync_head->seq <= done) {
		struct node_sync *s = n->sync_head;
		n->sync_head = s->next;
		if (!n->sync_head)
			n->sync_tail = NULL;
		sync_complete(n, s, ok);
	}
	node_schedule_turn(n);
}

/* --------------------------------------------------------------- start-up */

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return RN_OK;
	LOG_ERROR("node", "cannot create directory %s: %s", path, strerror(errno));
	return RN_E_IO;
}

/* Creates data.dir (and its parents) and topics/, and locks data.dir so two
 * nodes never share it. */
static int prepare_data_dir(struct node *n)
{
	char path[CONFIG_MAX_PATH + 32];
	snprintf(path, sizeof(path), "%s", n->cfg.data_dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = make_dir(path);
		*p = '/';
		if (rc != RN_OK)
			return rc;
	}
	if (make_dir(path) != RN_OK)
		return RN_E_IO;
	snprintf(n->topics_dir, sizeof(n->topics_dir), "%s/%s", n->cfg.data_dir, NODE_TOPICS_DIR);
	if (make_dir(n->topics_dir) != RN_OK)
		return RN_E_IO;
	snprintf(path, sizeof(path), "%s/%s", n->cfg.data_dir, NODE_LOCK_FILE);
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (n->lock_fd < 0 || flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		LOG_ERROR("node", "data directory %s is in use by another process (%s)",
			  n->cfg.data_dir, strerror(errno));
		return RN_E_IO;
	}
	return RN_OK;
}

int node_generate_cluster_id(char out[NODE_CLUSTER_ID_LEN + 1])
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[18] = {0};
	if (node_random(raw, 16) != RN_OK)
		return RN_E_IO;
	for (unsigned i = 0, o = 0; o < NODE_CLUSTER_ID_LEN; i += 3) {
		uint32_t v = ((uint32_t)raw[i] << 16) | ((uint32_t)raw[i + 1] << 8) | raw[i + 2];
		for (int k = 3; k >= 0 && o < NODE_CLUSTER_ID_LEN; k--)
			out[o++] = alphabet[(v >> (6 * k)) & 63];
	}
	out[NODE_CLUSTER_ID_LEN] = '\0';
	return RN_OK;
}

static int kv_get_text(struct kv *kv, const char *key, char *out, size_t cap)
{
	void *val = NULL;
	size_t len = 0;
	int rc = kv_get(kv, KV_TABLE_NODE, key, strlen(key), &val, &len);
	if (rc != RN_OK)
		return rc;
	if (len >= cap) {
		free(val);
		return RN_E_CORRUPT_STATE;
	}
	memcpy(out, val, len);
	out[len] = '\0';
	free(val);
	return RN_OK;
}

static int kv_put_text(struct kv *kv, const char *key, const char *value)
{
	return kv_put(kv, KV_TABLE_NODE, key, strlen(key), value, strlen(value));
}

/* First start: records the node id.  Every start: checks the node id, and
 * the stored cluster id against cluster.id when both exist.  A node that
 * has no stored cluster id learns it from the metadata log
 * (node_learn_cluster_id). */
static int check_identity(struct node *n)
{
	char stored[32];
	char want[32];
	snprintf(want, sizeof(want), "%d", n->cfg.node_id);
	int rc = kv_get_text(n->kv, KEY_NODE_ID, stored, sizeof(stored));
	if (rc == RN_E_NOT_FOUND) {
		rc = kv_put_text(n->kv, KEY_NODE_ID, want);
		if (rc != RN_OK)
			return rc;
		LOG_INFO("node", "new data directory %s for node id %s", n->cfg.data_dir, want);
	} else if (rc != RN_OK) {
		return rc;
	} else if (strcmp(stored, want) != 0) {
		LOG_ERROR("node", "data directory %s belongs to node.id %s, but this node is configured "
				  "with node.id %s; refusing to start",
			  n->cfg.data_dir, stored, want);
		return RN_E_INVALID_CONFIG;
	}
	rc = kv_get_text(n->kv, KEY_CLUSTER_ID, n->cluster_id, sizeof(n->cluster_id));
	if (rc == RN_E_NOT_FOUND) {
		snprintf(n->cluster_id, sizeof(n->cluster_id), "%s", n->cfg.cluster_id);
	} else if (rc != RN_OK) {
		LOG_ERROR("node", "data directory %s holds an invalid cluster id", n->cfg.data_dir);
		return RN_E_CORRUPT_STATE;
	} else if (n->cfg.cluster_id[0] && strcmp(n->cfg.cluster_id, n->cluster_id) != 0) {
		LOG_ERROR("node", "data directory %s belongs to cluster %s, but this node is configured "
				  "with cluster.id %s; refusing to start",
			  n->cfg.data_dir, n->cluster_id, n->cfg.cluster_id);
		return RN_E_INCONSISTENT_CLUSTER_ID;
	}
	/* Start-up may block on the disk: nothing is served yet. */
	return kv_sync(n->kv);
}

int node_learn_cluster_id(struct node *n, const char *cluster_id)
{
	if (n->cluster_id[0] && strcmp(n->cluster_id, cluster_id) != 0) {
		LOG_ERROR("node", "the metadata log belongs to cluster %s but this node belongs to "
				  "cluster %s (data directory %s or cluster.id); refusing to join",
			  cluster_id, n->cluster_id, n->cfg.data_dir);
		node_stop(n, 1);
		return RN_E_INCONSISTENT_CLUSTER_ID;
	}
	char stored[CONFIG_MAX_CLUSTER_ID_LEN + 1];
	if (kv_get_text(n->kv, KEY_CLUSTER_ID, stored, sizeof(stored)) == RN_OK)
		return RN_OK;
	/* Once per data directory: a synchronous write is fine. */
	int rc = kv_put_text(n->kv, KEY_CLUSTER_ID, cluster_id);
	if (rc == RN_OK)
		rc = kv_sync(n->kv);
	if (rc != RN_OK) {
		LOG_ERROR("node", "cannot store the cluster id: %s", rn_strerror(rc));
		return rc;
	}
	snprintf(n->cluster_id, sizeof(n->cluster_id), "%s", cluster_id);
	LOG_INFO("node", "joined cluster %s", cluster_id);
	return RN_OK;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct node *n = arg;
	(void)what;
	LOG_INFO("node", "received %s; shutting down%s", sig == SIGINT ? "SIGINT" : "SIGTERM",
		 n->draining ? " now" : "");
	node_shut_down(n);
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	(void)fd;
	(void)what;
	if (!n->drained)
		LOG_WARN("node", "the active controller did not complete the controlled shutdown "
				 "in time; stopping anyway");
	node_stop(n, 0);
}

static int create_events(struct node *n)
{
	n->turn_ev = event_new(n->base, -1, 0, turn_cb, n);
	n->flush_ev = event_new(n->base, -1, 0, flush_cb, n);
	n->sigint_ev = evsignal_new(n->base, SIGINT, signal_cb, n);
	n->sigterm_ev = evsignal_new(n->base, SIGTERM, signal_cb, n);
	n->drain_ev = evtimer_new(n->base, drain_timeout_cb, n);
	if (!n->turn_ev || !n->flush_ev || !n->sigint_ev || !n->sigterm_ev || !n->drain_ev)
		return RN_E_NOMEM;
	event_add(n->sigint_ev, NULL);
	event_add(n->sigterm_ev, NULL);
	return RN_OK;
}

/*
 * Peer host names are resolved with evdns rather than getaddrinfo: a lookup
 * never blocks the loop (a slow name server would otherwise stall Raft
 * ticks and every client), and a name is resolved again at each reconnect,
 * so a voter that moved to a new address is found without a restart.  IP
 * literals and /etc/hosts entries are answered without any DNS traffic.
 * Resolving once at start-up would be simpler, but it would still block on
 * every reconnect or pin an address for the life of the process.
 */
static int open_resolver(struct node *n)
{
	n->dns = evdns_base_new(n->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
						 EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!n->dns) {
		/* No usable resolv.conf: IP literals and /etc/hosts still work. */
		LOG_WARN("node", "cannot read the system resolver configuration; peer host names "
				 "resolve from /etc/hosts only");
		n->dns = evdns_base_new(n->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!n->dns)
			return RN_E_NOMEM;
		evdns_base_load_hosts(n->dns, NULL);
	}
	evdns_base_set_option(n->dns, "timeout:", NODE_DNS_TIMEOUT_SECONDS);
	evdns_base_set_option(n->dns, "attempts:", NODE_DNS_ATTEMPTS);
	return RN_OK;
}

static int open_storage(struct node *n)
{
	char path[CONFIG_MAX_PATH + 32];
	snprintf(path, sizeof(path), "%s/%s", n->cfg.data_dir, NODE_KV_DIR);
	int rc = make_dir(path);
	if (rc != RN_OK)
		return rc;
	rc = kv_open(path, 0, &n->kv);
	if (rc != RN_OK) {
		LOG_ERROR("node", "cannot open %s: %s", path, rn_strerror(rc));
		return rc;
	}
	rc = check_identity(n);
	if (rc != RN_OK && rc != RN_E_INVALID_CONFIG && rc != RN_E_INCONSISTENT_CLUSTER_ID)
		LOG_ERROR("node", "cannot read or record the node identity in %s: %s", path,
			  rn_strerror(rc));
	return rc;
}

int node_start(struct node *n)
{
	char context[32];
	snprintf(context, sizeof(context), "node=%d", n->cfg.node_id);
	rn_log_set_context(context);
	rn_log_set_level(n->cfg.log_level);
	char summary[1024 + CONFIG_MAX_PATH];
	config_summary(&n->cfg, summary, sizeof(summary));
	LOG_INFO("node", "starting runneld: %s", summary);
	if (n->cfg.env_warning[0])
		LOG_WARN("node", "%s", n->cfg.env_warning);
	n->lock_fd = -1;
	signal(SIGPIPE, SIG_IGN);
	/* The flusher thread wakes the loop with event_active. */
	if (evthread_use_pthreads() != 0)
		return RN_E_NOMEM;
	n->base = event_base_new();
	if (!n->base)
		return RN_E_NOMEM;
	int rc = prepare_data_dir(n);
	if (rc == RN_OK)
		rc = open_storage(n);
	if (rc == RN_OK)
		rc = create_events(n);
	if (rc == RN_OK)
		rc = open_resolver(n);
	if (rc == RN_OK)
		rc = flusher_start(flush_notify_cb, n, &n->flusher);
	if (rc == RN_OK)
		rc = pmgr_new(n, &n->pm);
	if (rc == RN_OK)
		rc = fetcher_new(n, &n->fetcher);
	if (rc == RN_OK)
		rc = log_retention_new(n, &n->retention);
	if (rc == RN_OK)
		rc = log_cleaner_new(n, &n->cleaner);
	if (rc == RN_OK)
		rc = repl_new(n, &n->repl);
	if (rc == RN_OK)
		rc = coord_new(n, &n->coord);
	if (rc == RN_OK)
		rc = server_start(n);
	if (rc == RN_OK && (n->cfg.roles & NODE_ROLE_BROKER))
		rc = member_new(n, &n->member);
	if (rc == RN_OK)
		rc = ctrl_open(n, &n->ctrl);
	if (rc != RN_OK) {
		n->exit_code = 1;
		node_free(n);
	}
	return rc;
}

static void start_listening(struct node *n)
{
	if (n->listening || n->stopping)
		return;
	n->listening = true;
	server_enable(n);
}

/* A single-node cluster is its own quorum: it waits to accept clients until
 * it can serve them. */
static bool single_node(const struct node *n)
{
	return n->cfg.voter_count == 1 && n->cfg.voters[0].node_id == n->cfg.node_id;
}

void node_on_replayed(struct node *n)
{
	if (!single_node(n))
		start_listening(n);
	if (n->member)
		member_start(n->member);
}

/* True when this node can serve: the cluster id is known and its broker (if
 * it has the role) is registered with this start's epoch and unfenced. */
static bool node_serving(const struct node *n)
{
	if (!n->cluster_id[0] || !ctrl_replayed(n->ctrl))
		return false;
	if (!n->member)
		return true;
	const struct meta_broker *b = meta_image_broker(ctrl_image(n->ctrl), n->cfg.node_id);
	return b && n->broker_epoch > 0 && b->epoch == n->broker_epoch && !b->fenced;
}

void node_on_metadata(struct node *n)
{
	if (n->stopping)
		return;
	if (n->member)
		member_on_metadata(n->member);
	coord_on_metadata(n->coord);
	if (n->ready || !node_serving(n))
		return;
	n->ready = true;
	LOG_INFO("node", "node %d ready: cluster %s, broker epoch %" PRId64, n->cfg.node_id,
		 n->cluster_id, n->broker_epoch);
	start_listening(n);
}

int node_run(struct node *n)
{
	event_base_dispatch(n->base);
	return n->exit_code;
}

void node_stop(struct node *n, int exit_code)
{
	if (n->stopping)
		return;
	n->stopping = true;
	n->exit_code = exit_code;
	/* Stop accepting and answering; parked requests are cancelled. */
	server_free(n);
	conn_close_all(n);
	event_base_loopexit(n->base, NULL);
}

/* True when another registered broker is unfenced and can take over this
 * node's leaderships. */
static bool other_broker_alive(const struct node *n)
{
	const struct meta_image *img = ctrl_image(n->ctrl);
	for (uint32_t i = 0; i < meta_image_broker_count(img); i++) {
		const struct meta_broker *b = meta_image_broker_at(img, i);
		if (b->node_id != n->cfg.node_id && !b->fenced)
			return true;
	}
	return false;
}

void node_shut_down(struct node *n)
{
	if (n->stopping)
		return;
	if (n->draining || !n->member || !n->ctrl || !other_broker_alive(n) ||
	    !member_begin_shutdown(n->member)) {
		node_stop(n, 0);
		return;
	}
	n->draining = true;
	int64_t wait_ms = n->cfg.broker_session_timeout_ms < NODE_SHUTDOWN_MAX_WAIT_MS
				  ? n->cfg.broker_session_timeout_ms
				  : NODE_SHUTDOWN_MAX_WAIT_MS;
	struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)((wait_ms % 1000) * 1000)};
	evtimer_add(n->drain_ev, &tv);
	LOG_INFO("node", "controlled shutdown: asking the active controller to move this broker's "
			 "leaderships (waiting at most %" PRId64 " ms)", wait_ms);
}

void node_on_drained(struct node *n)
{
	if (n->stopping || n->drained)
		return;
	n->drained = true;
	LOG_INFO("node", "controlled shutdown complete: this broker is fenced and leads no "
			 "partition; stopping in %d ms", NODE_DRAIN_LINGER_MS);
	evtimer_del(n->drain_ev);
	struct timeval tv = {NODE_DRAIN_LINGER_MS / 1000, (NODE_DRAIN_LINGER_MS % 1000) * 1000};
	evtimer_add(n->drain_ev, &tv);
}

static void free_events(struct node *n)
{
	struct event **evs[] = {&n->turn_ev, &n->flush_ev, &n->sigint_ev, &n->sigterm_ev,
				&n->drain_ev};
	for (size_t i = 0; i < RN_ARRAY_LEN(evs); i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
}

void node_free(struct node *n)
{
	n->stopping = true;
	server_free(n);
	if (n->base)
		conn_close_all(n);
	fetch_answer_ready(n);
	conn_free_dead(n);
	/* The flusher finishes what it was given before it stops. */
	if (n->flusher)
		flusher_stop(n->flusher);
	n->flusher = NULL;
	while (n->sync_head) {
		struct node_sync *s = n->sync_head;
		n->sync_head = s->next;
		for (uint32_t i = 0; i < s->count; i++)
			partition_unref(s->parts[i]);
		free(s->parts);
		free(s);
	}
	n->sync_tail = NULL;
	for (uint32_t i = 0; i < n->turn_part_count; i++) {
		n->turn_parts[i]->queued_for_sync = false;
		partition_unref(n->turn_parts[i]);
	}
	free(n->turn_parts);
	n->turn_parts = NULL;
	n->turn_part_count = 0;
	member_free(n->member);
	n->member = NULL;
	/* The coordinators wait on offsets partitions: they go before the
	 * partitions do. */
	coord_free(n->coord);
	n->coord = NULL;
	/* The cleaner stops (its job dropped) before the logs close. */
	log_cleaner_free(n->cleaner);
	n->cleaner = NULL;
	/* No retention check runs once the node stops. */
	log_retention_free(n->retention);
	n->retention = NULL;
	/* Followers stop fetching before their logs close. */
	fetcher_free(n->fetcher);
	n->fetcher = NULL;
	ctrl_free(n->ctrl);
	n->ctrl = NULL;
	repl_free(n->repl);
	n->repl = NULL;
	/* A clean stop records every high watermark (synced with node.mdb
	 * below), so a restart serves consumers as far as before. */
	if (n->pm && n->kv)
		repl_checkpoint_all(n);
	/* After the peers: their lookups in flight are cancelled with them. */
	if (n->dns)
		evdns_base_free(n->dns, 1);
	n->dns = NULL;
	/* plog_close syncs each log and marks it cleanly closed. */
	pmgr_free(n->pm);
	n->pm = NULL;
	if (n->kv) {
		kv_sync(n->kv);
		kv_close(n->kv);
		n->kv = NULL;
	}
	free_events(n);
	if (n->base)
		event_base_free(n->base);
	n->base = NULL;
	if (n->lock_fd >= 0) {
		close(n->lock_fd);
		LOG_INFO("node", "stopped (exit code %d)", n->exit_code);
	}
	n->lock_fd = -1;
}
