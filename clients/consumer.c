/* consumer.c: the consumer: resolves positions, long-poll fetches per leader, returns checked records. */
#include <stdlib.h>
#include <string.h>

#include "clients/client.h"
#include "clients/consumer_int.h"
#include "clients/fetchbuf.h"
#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"

/* Longest single wait inside poll, so that retries and metadata refreshes
 * are looked at regularly. */
#define CONSUMER_MAX_WAIT_MS 100
/*
 * A partition is fetched ahead, while the application still reads what an
 * earlier fetch returned, as long as at most this many answers wait unread
 * for it.  With one, a partition holds at most two answers (each at most
 * its max_bytes, and a request at most fetch_max_bytes) while the node
 * prepares the next, so the consumer rarely waits for a round trip.
 */
#define CONSUMER_FETCH_AHEAD_PARTS 1
/* Bytes of a node's error message kept for reporting. */
#define CONSUMER_NODE_MESSAGE_BYTES 512
/* ListOffsets timestamps with a special meaning. */
#define LIST_OFFSETS_LATEST (-1)
#define LIST_OFFSETS_EARLIEST (-2)

/* One Fetch or ListOffsets request in flight: the partitions it covers,
 * each with the seek generation it was sent for. */
struct request_inflight {
	struct runnel_consumer *c;
	size_t count;
	struct {
		size_t part;
		uint32_t gen;
	} items[];
};

void runnel_consumer_config_init(struct runnel_consumer_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	runnel_client_config_init(&cfg->client);
	cfg->fetch_max_wait_ms = RUNNEL_DEFAULT_FETCH_MAX_WAIT_MS;
	cfg->fetch_min_bytes = RUNNEL_DEFAULT_FETCH_MIN_BYTES;
	cfg->fetch_max_bytes = RUNNEL_DEFAULT_FETCH_MAX_BYTES;
	cfg->partition_max_bytes = RUNNEL_DEFAULT_PARTITION_MAX_BYTES;
	cfg->retry_backoff_ms = RUNNEL_DEFAULT_RETRY_BACKOFF_MS;
	cfg->auto_offset_reset = RUNNEL_RESET_LATEST;
	cfg->session_timeout_ms = RUNNEL_DEFAULT_SESSION_TIMEOUT_MS;
	cfg->heartbeat_interval_ms = RUNNEL_DEFAULT_HEARTBEAT_INTERVAL_MS;
	cfg->rebalance_timeout_ms = RUNNEL_DEFAULT_REBALANCE_TIMEOUT_MS;
	cfg->enable_auto_commit = 1;
	cfg->auto_commit_interval_ms = RUNNEL_DEFAULT_AUTO_COMMIT_INTERVAL_MS;
	cfg->assignment_strategy = RUNNEL_DEFAULT_ASSIGNMENT_STRATEGY;
	cfg->metadata_max_age_ms = RUNNEL_DEFAULT_METADATA_MAX_AGE_MS;
}

static int in_range(int32_t v, int32_t lo, int32_t hi)
{
	return v >= lo && v <= hi;
}

/* The group settings matter only with a group, but are checked always so
 * that a mistake shows when it is made. */
static int group_config_valid(const struct runnel_consumer_config *cfg)
{
	if (cfg->group_id && strlen(cfg->group_id) > RUNNEL_MAX_GROUP_ID_LEN)
		return 0;
	return in_range(cfg->session_timeout_ms, 1, RUNNEL_MAX_GROUP_TIMEOUT_MS) &&
	       in_range(cfg->heartbeat_interval_ms, 1, cfg->session_timeout_ms) &&
	       in_range(cfg->rebalance_timeout_ms, 1, RUNNEL_MAX_GROUP_TIMEOUT_MS) &&
	       in_range(cfg->auto_commit_interval_ms, 0, INT32_MAX) &&
	       in_range(cfg->metadata_max_age_ms, 0, INT32_MAX);
}

int runnel_consumer_new(const struct runnel_consumer_config *cfg, runnel_consumer **out)
{
	struct runnel_consumer_config defaults;
	if (!cfg) {
		runnel_consumer_config_init(&defaults);
		cfg = &defaults;
	}
	if (cfg->fetch_max_wait_ms < 0 || cfg->fetch_max_wait_ms > RN_MAX_FETCH_WAIT_MS ||
	    cfg->fetch_min_bytes < 0 || cfg->fetch_max_bytes <= 0 || cfg->partition_max_bytes <= 0 ||
	    cfg->retry_backoff_ms < 0 || cfg->auto_offset_reset > RUNNEL_RESET_NONE)
		return RN_E_INVAL;
	if (cfg->client_rack && strlen(cfg->client_rack) > RUNNEL_MAX_RACK_LEN)
		return RN_E_INVAL;
	if (!group_config_valid(cfg))
		return RN_E_INVAL;
	struct runnel_consumer *c = calloc(1, sizeof(*c));
	if (!c)
		return RN_E_NOMEM;
	fetch_arena_init(&c->arena);
	c->cfg = *cfg;
	int rc = client_init(&c->client, &cfg->client);
	if (rc != 0) {
		free(c);
		return rc;
	}
	c->cfg.client = c->client.cfg;
	if (cfg->client_rack && *cfg->client_rack) {
		c->rack = strdup(cfg->client_rack);
		if (!c->rack) {
			client_destroy(&c->client);
			free(c);
			return RN_E_NOMEM;
		}
	}
	c->cfg.client_rack = c->rack;
	if (cfg->group_id && *cfg->group_id) {
		rc = cgroup_new(c, &c->group);
		if (rc != 0) {
			runnel_consumer_free(c);
			return rc;
		}
	}
	/* A fetch waits up to fetch_max_wait_ms by design; the request
	 * timeout must leave room for it. */
	if (c->client.cfg.request_timeout_ms <= c->cfg.fetch_max_wait_ms)
		c->client.cfg.request_timeout_ms = c->cfg.fetch_max_wait_ms + 1000;
	*out = c;
	return 0;
}

void runnel_consumer_free(runnel_consumer *c)
{
	if (!c)
		return;
	/* The connections go first: failing their pending requests calls
	 * callbacks that may still look at the group state. */
	client_destroy(&c->client);
	cgroup_free(c->group);
	for (size_t i = 0; i < c->part_count; i++) {
		fetchbuf_clear(&c->parts[i].fb);
		free(c->parts[i].topic);
	}
	free(c->parts);
	free(c->hdrs);
	free(c->rack);
	fetch_arena_destroy(&c->arena);
	free(c);
}

const char *runnel_consumer_errmsg(const runnel_consumer *c)
{
	return c->client.errmsg;
}

struct cpart *consumer_find_part(const struct runnel_consumer *c, const char *topic,
				 int32_t partition)
{
	for (size_t i = 0; i < c->part_count; i++)
		if (c->parts[i].partition == partition && strcmp(c->parts[i].topic, topic) == 0)
			return &c->parts[i];
	return NULL;
}

struct runnel_position consumer_reset_position(const struct runnel_consumer *c)
{
	struct runnel_position pos = {RUNNEL_POS_END, 0};
	if (c->cfg.auto_offset_reset == RUNNEL_RESET_EARLIEST)
		pos.kind = RUNNEL_POS_BEGINNING;
	return pos;
}

int consumer_add_part(struct runnel_consumer *c, const char *topic, int32_t partition,
		      struct cpart **out)
{
	struct cpart *known = consumer_find_part(c, topic, partition);
	if (known) {
		if (out)
			*out = known;
		return 0;
	}
	struct cpart *np = realloc(c->parts, (c->part_count + 1) * sizeof(*np));
	if (!np)
		return RN_E_NOMEM;
	c->parts = np;
	struct cpart *p = &c->parts[c->part_count];
	memset(p, 0, sizeof(*p));
	p->topic = strdup(topic);
	if (!p->topic)
		return RN_E_NOMEM;
	p->partition = partition;
	p->position = -1;
	p->high_watermark = -1;
	p->need_resolve = 1;
	p->pending = consumer_reset_position(c);
	p->max_bytes = c->cfg.partition_max_bytes;
	p->fetch_node = -1;
	p->avoid_node = -1;
	p->active = 1;
	p->committed = -1;
	fetchbuf_init(&p->fb);
	fetchbuf_set_arena(&p->fb, &c->arena);
	c->part_count++;
	if (out)
		*out = p;
	return 0;
}

int runnel_consumer_assign(runnel_consumer *c, const char *topic, const int32_t *partitions,
			   size_t count)
{
	if (!topic || !*topic || strlen(topic) > RN_MAX_TOPIC_NAME_LEN || (count > 0 && !partitions))
		return client_fail(&c->client, RN_E_INVAL, "bad topic name or partition list");
	if (c->group && cgroup_subscribed(c->group))
		return client_fail(&c->client, RN_E_INVAL,
				   "the consumer subscribed to topics: its group assigns partitions");
	int rc = client_metadata_refresh(&c->client, &topic, 1, 0, NULL);
	if (rc != 0)
		return rc;
	const struct client_topic *ct = client_topic_find(&c->client, topic);
	if (!ct || ct->error != 0) {
		int err = ct ? ct->error : RN_E_UNKNOWN_TOPIC_OR_PARTITION;
		return client_fail(&c->client, err, "topic %s: %s", topic, rn_strerror(err));
	}
	for (size_t i = 0; i < count; i++)
		if (partitions[i] < 0 || partitions[i] >= ct->partition_count)
			return client_fail(&c->client, RN_E_UNKNOWN_TOPIC_OR_PARTITION,
					   "topic %s has no partition %d (it has %d)", topic,
					   partitions[i], ct->partition_count);
	int32_t n = count > 0 ? (int32_t)count : ct->partition_count;
	for (int32_t i = 0; i < n; i++) {
		rc = consumer_add_part(c, topic, count > 0 ? partitions[i] : i, NULL);
		if (rc != 0)
			return client_fail(&c->client, rc, "out of memory");
	}
	return 0;
}

void consumer_seek_part(struct cpart *p, struct runnel_position pos)
{
	p->gen++;
	p->fetching = 0;
	p->fetch_ahead = 0;
	p->ahead_failed = 0;
	p->resolving = 0;
	fetchbuf_clear(&p->fb);
	p->retry_at_ms = 0;
	if (pos.kind == RUNNEL_POS_OFFSET) {
		p->position = pos.value;
		p->need_resolve = 0;
	} else {
		p->need_resolve = 1;
		p->pending = pos;
	}
}

void consumer_deactivate_part(struct cpart *p)
{
	p->gen++;
	p->fetching = 0;
	p->fetch_ahead = 0;
	p->ahead_failed = 0;
	p->resolving = 0;
	fetchbuf_clear(&p->fb);
	p->active = 0;
	p->awaiting_offset = 0;
}

int runnel_consumer_seek(runnel_consumer *c, const char *topic, int32_t partition,
			 struct runnel_position pos)
{
	if (pos.kind > RUNNEL_POS_FROM_END || (pos.kind == RUNNEL_POS_OFFSET && pos.value < 0) ||
	    (pos.kind == RUNNEL_POS_FROM_END && pos.value < 0) ||
	    (pos.kind == RUNNEL_POS_TIMESTAMP && pos.value < 0))
		return client_fail(&c->client, RN_E_INVAL, "bad position");
	int found = 0;
	for (size_t i = 0; i < c->part_count; i++) {
		struct cpart *p = &c->parts[i];
		if (strcmp(p->topic, topic) != 0 || (partition >= 0 && p->partition != partition))
			continue;
		consumer_seek_part(p, pos);
		/* An explicit position replaces the committed offset the
		 * partition was waiting for. */
		if (p->awaiting_offset) {
			p->awaiting_offset = 0;
			p->active = 1;
		}
		found = 1;
	}
	if (!found)
		return client_fail(&c->client, RN_E_NOT_FOUND, "%s/%d is not assigned", topic, partition);
	return 0;
}

int runnel_consumer_at_end(const runnel_consumer *c)
{
	/* A member without an assignment has not started reading. */
	if (c->group && cgroup_subscribed(c->group) && !cgroup_stable(c->group))
		return 0;
	for (size_t i = 0; i < c->part_count; i++) {
		const struct cpart *p = &c->parts[i];
		if (p->awaiting_offset)
			return 0;
		if (!p->active)
			continue;
		if (p->need_resolve || p->high_watermark < 0 || p->position < p->high_watermark)
			return 0;
	}
	return 1;
}

int runnel_consumer_position(const runnel_consumer *c, const char *topic, int32_t partition,
			     int64_t *position, int64_t *high_watermark)
{
	const struct cpart *p = consumer_find_part(c, topic, partition);
	if (!p)
		return RN_E_NOT_FOUND;
	*position = p->need_resolve ? -1 : p->position;
	*high_watermark = p->high_watermark;
	return 0;
}

/* Records an error for the partition: retriable ones wait and refresh
 * metadata, others are reported by the next poll. */
static void part_error(struct runnel_consumer *c, struct cpart *p, int err, const char *node_msg,
		       int64_t now)
{
	if (rn_err_retriable(err)) {
		c->need_metadata = 1;
		p->retry_at_ms = now + c->cfg.retry_backoff_ms;
		return;
	}
	if (err == RN_E_OFFSET_OUT_OF_RANGE && c->cfg.auto_offset_reset != RUNNEL_RESET_NONE) {
		consumer_seek_part(p, consumer_reset_position(c));
		return;
	}
	char ctx[RN_MAX_TOPIC_NAME_LEN + 32];
	snprintf(ctx, sizeof(ctx), "%s/%d", p->topic, p->partition);
	client_fail_wire(&c->client, err, node_msg, ctx);
	c->fatal = err;
}

/* Records an error for a fetch.  A replica read for client_rack that
 * refused (it is no longer in the ISR, or its log does not reach the
 * position yet) or failed sends the partition back to its leader at once,
 * and that replica is left alone for a while; its answer never moves the
 * position, which only the leader may do.  Other errors are as for
 * part_error. */
static void fetch_error(struct runnel_consumer *c, struct cpart *p, int err, const char *node_msg,
			int64_t now)
{
	if (p->fetch_from_replica && (rn_err_retriable(err) || err == RN_E_OFFSET_OUT_OF_RANGE)) {
		p->avoid_node = p->fetch_node;
		p->avoid_until_ms = now + RUNNEL_REPLICA_AVOID_MS;
		p->retry_at_ms = now;
		c->need_metadata = 1;
		return;
	}
	part_error(c, p, err, node_msg, now);
}

/* Applies one ListOffsets answer to the partition waiting for it. */
static void apply_offset(struct runnel_consumer *c, struct cpart *p,
			 const Runnel__ListOffsetsPartitionResult *r, int64_t now)
{
	int err = rn_err_from_wire(r->error_code);
	if (err != 0) {
		part_error(c, p, err, r->error_message, now);
		return;
	}
	int64_t pos = r->offset;
	switch (p->pending.kind) {
	case RUNNEL_POS_END:
		p->high_watermark = r->offset;
		break;
	case RUNNEL_POS_FROM_END:
		p->high_watermark = r->offset;
		pos = r->offset - p->pending.value;
		if (pos < r->log_start_offset)
			pos = r->log_start_offset;
		if (pos < 0)
			pos = 0;
		break;
	case RUNNEL_POS_TIMESTAMP:
		if (r->offset < 0) {
			/* No record that new: start at the end. */
			p->pending.kind = RUNNEL_POS_END;
			return;
		}
		break;
	default:
		break;
	}
	if (pos < 0) {
		part_error(c, p, RN_E_OFFSET_NOT_AVAILABLE, NULL, now);
		return;
	}
	p->position = pos;
	p->need_resolve = 0;
}

static int64_t list_offsets_query(const struct cpart *p)
{
	switch (p->pending.kind) {
	case RUNNEL_POS_BEGINNING:
		return LIST_OFFSETS_EARLIEST;
	case RUNNEL_POS_TIMESTAMP:
		return p->pending.value;
	default:
		return LIST_OFFSETS_LATEST;
	}
}

/* The partition an in-flight request item refers to, if no seek has
 * happened since it was sent. */
static struct cpart *inflight_part(struct runnel_consumer *c, size_t part, uint32_t gen)
{
	struct cpart *p = &c->parts[part];
	return p->gen == gen ? p : NULL;
}

static const Runnel__ListOffsetsPartitionResult *find_offset(const Runnel__ListOffsetsResponse *lr,
							     const struct cpart *p)
{
	for (size_t t = 0; t < lr->n_topics; t++) {
		const Runnel__ListOffsetsTopicResult *tr = lr->topics[t];
		if (strcmp(tr->name, p->topic) != 0)
			continue;
		for (size_t k = 0; k < tr->n_partitions; k++)
			if (tr->partitions[k]->partition == p->partition)
				return tr->partitions[k];
	}
	return NULL;
}

static void list_offsets_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct request_inflight *fl = opaque;
	struct runnel_consumer *c = fl->c;
	int64_t now = rn_mono_ms();
	if (err == 0 && resp->body_case != RUNNEL__RESPONSE__BODY_LIST_OFFSETS)
		err = RN_E_MALFORMED_FRAME;
	for (size_t i = 0; i < fl->count; i++) {
		struct cpart *p = inflight_part(c, fl->items[i].part, fl->items[i].gen);
		if (!p)
			continue;
		p->resolving = 0;
		const Runnel__ListOffsetsPartitionResult *r = err ? NULL : find_offset(resp->list_offsets, p);
		if (r)
			apply_offset(c, p, r, now);
		else
			part_error(c, p, err ? err : RN_E_UNKNOWN_SERVER_ERROR,
				   resp ? resp->error_message : NULL, now);
	}
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	free(fl);
}

/* Asks leader, with one ListOffsets request, for the pending positions of
 * the partitions idx[0..n); the answer arrives through client_poll. */
static void resolve_leader(struct runnel_consumer *c, int32_t leader, size_t *idx, size_t n)
{
	struct conn *cn = client_conn(&c->client, leader);
	if (!cn) {
		c->need_metadata = 1;
		return;
	}
	if (conn_ensure(cn, rn_mono_ms()) != 0 || !conn_can_send(cn))
		return;
	Runnel__ListOffsetsPartition *lp = calloc(n, sizeof(*lp));
	Runnel__ListOffsetsPartition **lpp = calloc(n, sizeof(*lpp));
	Runnel__ListOffsetsTopic *lt = calloc(n, sizeof(*lt));
	Runnel__ListOffsetsTopic **ltp = calloc(n, sizeof(*ltp));
	struct request_inflight *fl = malloc(sizeof(*fl) + n * sizeof(fl->items[0]));
	if (!lp || !lpp || !lt || !ltp || !fl)
		goto out;
	/* One topic entry per partition keeps this simple; the node accepts
	 * repeated topic names. */
	for (size_t i = 0; i < n; i++) {
		struct cpart *p = &c->parts[idx[i]];
		runnel__list_offsets_partition__init(&lp[i]);
		lp[i].partition = p->partition;
		lp[i].timestamp = list_offsets_query(p);
		lp[i].current_leader_epoch = -1;
		lpp[i] = &lp[i];
		runnel__list_offsets_topic__init(&lt[i]);
		lt[i].name = p->topic;
		lt[i].n_partitions = 1;
		lt[i].partitions = &lpp[i];
		ltp[i] = &lt[i];
		fl->items[i].part = idx[i];
		fl->items[i].gen = p->gen;
	}
	fl->c = c;
	fl->count = n;
	Runnel__ListOffsetsRequest lr = RUNNEL__LIST_OFFSETS_REQUEST__INIT;
	lr.replica_id = -1;
	lr.n_topics = n;
	lr.topics = ltp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_LIST_OFFSETS;
	req.list_offsets = &lr;
	if (client_send(&c->client, cn, &req, RUNNEL__API_KEY__API_LIST_OFFSETS, list_offsets_cb, fl) != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		c->parts[idx[i]].resolving = 1;
	fl = NULL;
out:
	free(fl);
	free(ltp);
	free(lt);
	free(lpp);
	free(lp);
}

/* The node to fetch p from: its leader, or an in-sync replica in the
 * consumer's rack; -1 when the leader is not known. */
static int32_t read_node(const struct runnel_consumer *c, const struct cpart *p, int64_t now)
{
	const struct client_topic *t = client_topic_find(&c->client, p->topic);
	if (!t || p->partition >= t->partition_count)
		return -1;
	int32_t avoid = p->avoid_until_ms > now ? p->avoid_node : -1;
	return client_choose_read_replica(&t->partitions[p->partition], c->client.brokers,
					  c->client.broker_count, c->rack, avoid);
}

/* True when p wants a fetch: its buffer is read, or it may be fetched ahead
 * (see CONSUMER_FETCH_AHEAD_PARTS) from where its buffered batches end. */
static int fetch_due(const struct cpart *p)
{
	if (p->need_resolve || p->fetching)
		return 0;
	if (fetchbuf_empty(&p->fb))
		return 1;
	return !p->ahead_failed && p->fb.end_offset >= 0 &&
	       fetchbuf_unread_parts(&p->fb) <= CONSUMER_FETCH_AHEAD_PARTS &&
	       p->fb.count < FETCHBUF_MAX_SEGS;
}

/* Where p's next fetch starts. */
static int64_t fetch_offset(const struct cpart *p)
{
	if (fetchbuf_empty(&p->fb) || p->fb.end_offset < 0)
		return p->position;
	return p->fb.end_offset;
}

/* Collects the partitions with a known leader that are due for a request
 * of some kind (want_resolve: pending positions, always asked of the
 * leader; otherwise fetches, from the node read_node chooses) and calls fn
 * once per node with their indexes. */
static void for_each_node(struct runnel_consumer *c, int want_resolve, int64_t now,
			    void (*fn)(struct runnel_consumer *, int32_t, size_t *, size_t))
{
	size_t *idx = malloc((c->part_count ? c->part_count : 1) * sizeof(*idx));
	int32_t *nodes = malloc((c->part_count ? c->part_count : 1) * sizeof(*nodes));
	size_t n = 0;
	if (!idx || !nodes)
		goto out;
	for (size_t i = 0; i < c->part_count; i++) {
		struct cpart *p = &c->parts[i];
		int due = want_resolve ? p->need_resolve && !p->resolving : fetch_due(p);
		if (!p->active)
			continue;
		if (!due || p->retry_at_ms > now)
			continue;
		nodes[i] = want_resolve ? client_leader(&c->client, p->topic, p->partition)
					: read_node(c, p, now);
		if (nodes[i] < 0) {
			c->need_metadata = 1;
			continue;
		}
		idx[n++] = i;
	}
	/* Group by node with a simple quadratic pass: partition counts per
	 * consumer are modest and this allocates nothing more. */
	size_t done = 0;
	while (done < n) {
		int32_t node = nodes[idx[done]];
		size_t k = done;
		for (size_t j = done; j < n; j++) {
			if (nodes[idx[j]] == node) {
				size_t tmp = idx[k];
				idx[k++] = idx[j];
				idx[j] = tmp;
			}
		}
		fn(c, node, idx + done, k - done);
		done = k;
	}
out:
	free(nodes);
	free(idx);
}

static struct cpart *fetch_item(struct request_inflight *fl, const struct fetch_str *topic,
				int32_t partition)
{
	for (size_t i = 0; i < fl->count; i++) {
		struct cpart *p = &fl->c->parts[fl->items[i].part];
		if (p->partition != partition || p->gen != fl->items[i].gen)
			continue;
		if (strlen(p->topic) == topic->len && memcmp(p->topic, topic->data, topic->len) == 0)
			return p;
	}
	return NULL;
}

/* Copies a node's message into out (NUL-terminated, cut to fit). */
static const char *node_message(const struct fetch_str *s, char *out, size_t cap)
{
	size_t n = s->len < cap - 1 ? s->len : cap - 1;
	memcpy(out, s->data, n);
	out[n] = '\0';
	return out;
}

/* An error answering a fetch sent ahead is not acted on: the records before
 * it are still to be read, and the fetch that follows them meets the error
 * again if it lasts, and then handles it. */
static void ahead_error(struct runnel_consumer *c, struct cpart *p, int err)
{
	p->ahead_failed = 1;
	if (rn_err_retriable(err))
		c->need_metadata = 1;
}

/* What a Fetch answer is applied with. */
struct fetch_apply {
	struct runnel_consumer *c;
	struct request_inflight *fl;
	struct fetch_chunk *chunk;
	int64_t now;
};

/* Takes one partition's fetched data, which stays in the response's chunk. */
static int apply_fetch(void *arg, const struct fetch_part_view *pv)
{
	struct fetch_apply *fa = arg;
	struct runnel_consumer *c = fa->c;
	struct cpart *p = fetch_item(fa->fl, &pv->topic, pv->partition);
	char msg[CONSUMER_NODE_MESSAGE_BYTES];
	if (!p)
		return 0;
	int err = rn_err_from_wire(pv->error_code);
	if (err != 0 && p->fetch_ahead)
		ahead_error(c, p, err);
	else if (err != 0)
		fetch_error(c, p, err, node_message(&pv->error_message, msg, sizeof(msg)), fa->now);
	if (err != 0)
		return 0;
	p->high_watermark = pv->high_watermark;
	/* With no room the bytes are dropped, and since the buffer's end did
	 * not move the next fetch asks for them again. */
	if (fetchbuf_push(&p->fb, fa->chunk, pv->records, pv->records_len) != 0)
		p->ahead_failed = 1;
	return 0;
}

/* Checks the top of a Fetch answer.  Returns 0 or the error it carries. */
static int fetch_top_error(const uint8_t *body, size_t len, struct fetch_resp_view *top)
{
	int rc = fetch_response_decode(body, len, top, NULL, NULL);
	if (rc != 0)
		return rc;
	if (top->error_code != 0)
		return rn_err_from_wire(top->error_code);
	if (!top->has_fetch)
		return RN_E_MALFORMED_FRAME;
	return rn_err_from_wire(top->fetch_error_code);
}

/* The answer to a Fetch, read in place: the partitions' records stay in the
 * buffer the connection received them in. */
static void fetch_raw_cb(void *opaque, int err, uint8_t *buf, const uint8_t *body, size_t len)
{
	struct request_inflight *fl = opaque;
	struct runnel_consumer *c = fl->c;
	struct fetch_apply fa = {.c = c, .fl = fl, .now = rn_mono_ms()};
	struct fetch_resp_view top = {.error_message = {"", 0}};
	char msg[CONSUMER_NODE_MESSAGE_BYTES] = "";
	if (err == 0)
		err = fetch_top_error(body, len, &top);
	if (err == 0) {
		fa.chunk = fetch_chunk_new(buf);
		buf = NULL;
		err = fa.chunk ? fetch_response_decode(body, len, &top, apply_fetch, &fa)
			       : RN_E_NOMEM;
	}
	if (err != 0 && buf)
		node_message(&top.error_message, msg, sizeof(msg));
	for (size_t i = 0; i < fl->count; i++) {
		struct cpart *p = &c->parts[fl->items[i].part];
		if (p->gen != fl->items[i].gen)
			continue;
		p->fetching = 0;
		if (err != 0 && p->fetch_ahead)
			ahead_error(c, p, err);
		else if (err != 0)
			fetch_error(c, p, err, msg[0] ? msg : NULL, fa.now);
	}
	fetch_chunk_unref(fa.chunk);
	free(buf);
	free(fl);
}

/* True while a fetch to node is in flight: one long poll per node at a
 * time, covering all of its partitions. */
static int node_busy(const struct runnel_consumer *c, int32_t node)
{
	for (size_t i = 0; i < c->part_count; i++)
		if (c->parts[i].fetching && c->parts[i].fetch_node == node)
			return 1;
	return 0;
}

/* Sends one long-poll Fetch to node (a leader, or an in-sync replica in the
 * consumer's rack) for the partitions idx[0..n). */
static void fetch_node(struct runnel_consumer *c, int32_t node, size_t *idx, size_t n)
{
	struct conn *cn = client_conn(&c->client, node);
	if (!cn) {
		c->need_metadata = 1;
		return;
	}
	if (node_busy(c, node) || conn_ensure(cn, rn_mono_ms()) != 0 || !conn_can_send(cn))
		return;
	Runnel__FetchPartition *fp = calloc(n, sizeof(*fp));
	Runnel__FetchPartition **fpp = calloc(n, sizeof(*fpp));
	Runnel__FetchTopic *ft = calloc(n, sizeof(*ft));
	Runnel__FetchTopic **ftp = calloc(n, sizeof(*ftp));
	struct request_inflight *fl = malloc(sizeof(*fl) + n * sizeof(fl->items[0]));
	if (!fp || !fpp || !ft || !ftp || !fl)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct cpart *p = &c->parts[idx[i]];
		runnel__fetch_partition__init(&fp[i]);
		fp[i].partition = p->partition;
		fp[i].fetch_offset = fetch_offset(p);
		fp[i].partition_max_bytes = p->max_bytes;
		fp[i].current_leader_epoch = -1;
		fp[i].log_start_offset = -1;
		/* Epoch checks are for followers; a consumer has no log. */
		fp[i].last_fetched_epoch = -1;
		fpp[i] = &fp[i];
		runnel__fetch_topic__init(&ft[i]);
		ft[i].name = p->topic;
		ft[i].n_partitions = 1;
		ft[i].partitions = &fpp[i];
		ftp[i] = &ft[i];
		fl->items[i].part = idx[i];
		fl->items[i].gen = p->gen;
	}
	fl->c = c;
	fl->count = n;
	Runnel__FetchRequest fr = RUNNEL__FETCH_REQUEST__INIT;
	fr.replica_id = -1;
	fr.max_wait_ms = c->cfg.fetch_max_wait_ms;
	fr.min_bytes = c->cfg.fetch_min_bytes;
	fr.max_bytes = c->cfg.fetch_max_bytes;
	fr.n_topics = n;
	fr.topics = ftp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_FETCH;
	req.fetch = &fr;
	int rc = client_send_raw(&c->client, cn, &req, RUNNEL__API_KEY__API_FETCH, fetch_raw_cb, fl);
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct cpart *p = &c->parts[idx[i]];
		p->fetching = 1;
		p->fetch_ahead = !fetchbuf_empty(&p->fb);
		if (!p->fetch_ahead)
			p->ahead_failed = 0;
		p->fetch_node = node;
		p->fetch_from_replica = node != client_leader(&c->client, p->topic, p->partition);
	}
	fl = NULL;
out:
	free(fl);
	free(ftp);
	free(ft);
	free(fpp);
	free(fp);
}

/* Grows a partition's fetch size when its next batch did not fit. */
static void note_truncation(struct runnel_consumer *c, struct cpart *p)
{
	if (!p->fb.truncated_first)
		return;
	if (p->max_bytes >= (int32_t)RN_MAX_BATCH_BYTES) {
		client_fail(&c->client, RN_E_MESSAGE_TOO_LARGE,
			    "%s/%d: a batch at offset %lld is larger than %d bytes", p->topic,
			    p->partition, (long long)p->position, p->max_bytes);
		c->fatal = RN_E_MESSAGE_TOO_LARGE;
		return;
	}
	p->max_bytes *= 2;
	if (p->max_bytes > (int32_t)RN_MAX_BATCH_BYTES)
		p->max_bytes = (int32_t)RN_MAX_BATCH_BYTES;
	p->fb.truncated_first = 0;
}

static int reserve_headers(struct runnel_consumer *c, size_t need)
{
	if (need <= c->hdr_cap)
		return 0;
	size_t ncap = c->hdr_cap ? c->hdr_cap : 64;
	while (ncap < need)
		ncap *= 2;
	struct runnel_header *nh = realloc(c->hdrs, ncap * sizeof(*nh));
	if (!nh)
		return RN_E_NOMEM;
	c->hdrs = nh;
	c->hdr_cap = ncap;
	return 0;
}

/* Decodes rv's headers into the consumer's header array after the first
 * used entries.  Returns 0 or an error (recorded). */
static int take_headers(struct runnel_consumer *c, const struct cpart *p,
			const struct record_view *rv, size_t used)
{
	if (reserve_headers(c, used + rv->header_count) != 0)
		return client_fail(&c->client, RN_E_NOMEM, "out of memory");
	int rc = fetchbuf_headers(rv, c->hdrs + used);
	if (rc != 0)
		return client_fail(&c->client, rc, "%s/%d: bad headers at offset %lld", p->topic,
				   p->partition, (long long)rv->offset);
	return 0;
}

/* Takes records from one partition's buffer into recs.  Returns 0 or an
 * error (corruption); *n and *hdr_used grow. */
static int drain_part(struct runnel_consumer *c, struct cpart *p, struct runnel_record *recs,
		      size_t max, size_t *n, size_t *hdr_used)
{
	struct record_view rv;
	while (*n < max && p->active && !p->need_resolve) {
		int rc = fetchbuf_next(&p->fb, p->position, &rv);
		/* Every batch read: the position moves past the last one even
		 * when its last offsets returned nothing (compaction leaves empty
		 * batches where it removed records), or the next fetch would ask
		 * for the same removed range again. */
		if (rc == 0 && p->fb.end_offset > p->position)
			p->position = p->fb.end_offset;
		/* FULL: the next batch is compressed and waits for room in the
		 * arena, which the next poll frees. */
		if (rc == 0 || rc == RN_E_FULL)
			break;
		if (rc == RN_E_UNSUPPORTED_COMPRESSION_TYPE) {
			fetchbuf_clear(&p->fb);
			return client_fail(&c->client, rc,
					   "%s/%d: batch near offset %lld is compressed with %s, which "
					   "this client does not read (none, lz4 and zstd)",
					   p->topic, p->partition, (long long)p->position,
					   batch_codec_name(p->fb.bad_codec));
		}
		if (rc < 0) {
			fetchbuf_clear(&p->fb);
			return client_fail(&c->client, rc, "%s/%d: batch near offset %lld: %s", p->topic,
					   p->partition, (long long)p->position, rn_strerror(rc));
		}
		if (rv.header_count > 0 && (rc = take_headers(c, p, &rv, *hdr_used)) != 0)
			return rc;
		struct runnel_record *r = &recs[(*n)++];
		r->topic = p->topic;
		r->partition = p->partition;
		r->offset = rv.offset;
		r->timestamp = rv.timestamp;
		r->key = rv.key;
		r->key_len = rv.key_len;
		r->value = rv.value;
		r->value_len = rv.value_len;
		r->header_count = rv.header_count;
		*hdr_used += rv.header_count;
		p->position = rv.offset + 1;
	}
	note_truncation(c, p);
	return 0;
}

/* Takes buffered records, starting at a rotating partition for fairness. */
static int drain(struct runnel_consumer *c, struct runnel_record *recs, size_t max, size_t *n)
{
	size_t hdr_used = 0;
	int rc = 0;
	for (size_t k = 0; k < c->part_count && *n < max && rc == 0; k++) {
		struct cpart *p = &c->parts[(c->rr + k) % c->part_count];
		rc = drain_part(c, p, recs, max, n, &hdr_used);
	}
	if (c->part_count)
		c->rr = (c->rr + 1) % c->part_count;
	/* Header pointers are set last: the header array may have moved while
	 * it grew. */
	size_t h = 0;
	for (size_t i = 0; i < *n; i++) {
		recs[i].headers = recs[i].header_count ? c->hdrs + h : NULL;
		h += recs[i].header_count;
	}
	return rc;
}

static void consumer_step(struct runnel_consumer *c)
{
	int64_t now = rn_mono_ms();
	if (c->need_metadata && now >= c->next_metadata_ms) {
		size_t n = 0;
		const char **names = malloc((c->part_count ? c->part_count : 1) * sizeof(*names));
		for (size_t i = 0; names && i < c->part_count; i++)
			names[n++] = c->parts[i].topic;
		/* The answer updates the leaders from inside client_poll. */
		if (names && client_metadata_refresh_async(&c->client, names, n) == 0)
			c->need_metadata = 0;
		free(names);
		c->next_metadata_ms = rn_mono_ms() + c->cfg.retry_backoff_ms;
		now = rn_mono_ms();
	}
	for_each_node(c, 1, now, resolve_leader);
	for_each_node(c, 0, rn_mono_ms(), fetch_node);
}

int runnel_consumer_poll(runnel_consumer *c, int timeout_ms, struct runnel_record *recs, size_t max,
			 size_t *count)
{
	int64_t deadline = rn_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	*count = 0;
	if (max == 0 || !recs)
		return client_fail(&c->client, RN_E_INVAL, "no room for records");
	if (c->closed)
		return client_fail(&c->client, RN_E_CLOSED, "the consumer is closed");
	for (;;) {
		/* Parts of the buffers read by the previous poll can go now:
		 * the records returned then are no longer valid (and on later
		 * turns of this loop none was returned yet). */
		for (size_t i = 0; i < c->part_count; i++)
			fetchbuf_release_read(&c->parts[i].fb);
		fetch_arena_reset(&c->arena);
		/* The group goes first, even when records are buffered, so that
		 * a busy consumer still heartbeats and commits. */
		int rc = c->group ? cgroup_step(c) : 0;
		if (rc != 0)
			return rc;
		rc = drain(c, recs, max, count);
		if (rc != 0 || *count > 0)
			return rc;
		if (c->fatal) {
			rc = c->fatal;
			c->fatal = 0;
			return rc;
		}
		consumer_step(c);
		int64_t now = rn_mono_ms();
		if (now >= deadline || c->client.interrupted)
			break;
		int64_t wait = deadline - now;
		client_poll(&c->client, (int)(wait < CONSUMER_MAX_WAIT_MS ? wait : CONSUMER_MAX_WAIT_MS));
	}
	c->client.interrupted = 0;
	return 0;
}
