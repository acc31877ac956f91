/* fetcher.c: follower fetch sessions: copy the leader's batches, learn its high watermark, truncate divergent suffixes. */
#include "broker/fetcher.h"

#include "broker/ctrl.h"
#include "broker/log_retention.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "broker/peer.h"
#include "broker/replica.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "wire/batch.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* What the fetch in flight asked for one partition (holds a reference). */
struct sent_part {
	struct partition *p;
	int32_t leader_epoch;
	int64_t fetch_offset;
};

/* One leader node and the partitions this node follows there. */
struct session {
	struct fetcher *f;
	int32_t leader_id;
	struct peer *peer;
	struct config_addr addr; /* the address peer was made for */
	struct partition *parts; /* linked through fetch_next */
	uint32_t count;
	bool in_flight;
	struct event *timer; /* the next fetch (at once, or after a backoff) */
	int32_t backoff_ms;  /* after a failed call; PEER_BACKOFF_MIN_MS.. */
	struct sent_part *sent;
	uint32_t sent_count;
	struct session *next;
};

struct fetcher {
	struct node *node;
	struct session *sessions;
};

static void session_step(struct session *s);

static void arm(struct session *s, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(s->timer, &tv);
}

static void session_refetch(struct session *s);

/* The next fetch is due, or, with one in flight, a partition it left out
 * (backing off after an error) may be fetched again. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	(void)fd;
	(void)what;
	if (s->in_flight)
		session_refetch(s);
	else
		session_step(s);
}

/* --------------------------------------------------------------- sessions */

static struct session *session_find(struct fetcher *f, int32_t leader_id)
{
	for (struct session *s = f->sessions; s; s = s->next)
		if (s->leader_id == leader_id)
			return s;
	return NULL;
}

static struct session *session_get(struct fetcher *f, int32_t leader_id)
{
	struct session *s = session_find(f, leader_id);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->f = f;
	s->leader_id = leader_id;
	s->backoff_ms = PEER_BACKOFF_MIN_MS;
	s->timer = evtimer_new(f->node->base, timer_cb, s);
	if (!s->timer) {
		free(s);
		return NULL;
	}
	s->next = f->sessions;
	f->sessions = s;
	return s;
}

/* Releases what the fetch in flight held. */
static void sent_release(struct session *s)
{
	for (uint32_t i = 0; i < s->sent_count; i++)
		partition_unref(s->sent[i].p);
	free(s->sent);
	s->sent = NULL;
	s->sent_count = 0;
}

static void session_free(struct session *s)
{
	if (s->peer) {
		peer_cancel(s->peer, s);
		peer_free(s->peer);
	}
	sent_release(s);
	while (s->parts) {
		struct partition *p = s->parts;
		s->parts = p->fetch_next;
		p->fetch_next = NULL;
		p->following = false;
		partition_unref(p);
	}
	event_free(s->timer);
	free(s);
}

/* Drops a session that follows nothing and has nothing in flight. */
static void session_reap(struct session *s)
{
	if (s->count > 0 || s->in_flight)
		return;
	struct session **pp = &s->f->sessions;
	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	session_free(s);
}

int fetcher_new(struct node *n, struct fetcher **out)
{
	struct fetcher *f = calloc(1, sizeof(*f));
	if (!f)
		return RN_E_NOMEM;
	f->node = n;
	*out = f;
	return RN_OK;
}

void fetcher_free(struct fetcher *f)
{
	if (!f)
		return;
	while (f->sessions) {
		struct session *s = f->sessions;
		f->sessions = s->next;
		session_free(s);
	}
	free(f);
}

void fetcher_unfollow(struct fetcher *f, struct partition *p)
{
	if (!f || !p->following)
		return;
	struct session *s = session_find(f, p->fetch_leader);
	RN_ASSERT(s != NULL);
	struct partition **pp = &s->parts;
	while (*pp != p)
		pp = &(*pp)->fetch_next;
	*pp = p->fetch_next;
	p->fetch_next = NULL;
	p->following = false;
	s->count--;
	partition_unref(p);
	session_reap(s);
}

/* Fetches again now.  A fetch parked at the leader names only the
 * partitions it was built with, at their epochs then, and may wait there
 * replica.fetch.wait.max.ms; a partition that joined or changed epoch since
 * would wait as long, and an acks=all producer with it.  The parked fetch
 * is abandoned: its answer, if one comes, finds no call and is dropped, and
 * what it would have carried is asked for again. */
static void session_refetch(struct session *s)
{
	if (s->in_flight) {
		peer_cancel(s->peer, s);
		sent_release(s);
		s->in_flight = false;
	}
	arm(s, 0);
}

void fetcher_follow(struct fetcher *f, struct partition *p)
{
	if (!f || !p->log)
		return;
	p->fetch_backoff_until_ms = 0;
	if (p->following && p->fetch_leader == p->leader) {
		session_refetch(session_find(f, p->leader));
		return;
	}
	fetcher_unfollow(f, p);
	struct session *s = session_get(f, p->leader);
	if (!s) {
		LOG_ERROR("fetcher", "%s-%d: out of memory; not following leader %d", p->topic,
			  p->index, p->leader);
		return;
	}
	partition_ref(p);
	p->following = true;
	p->fetch_leader = p->leader;
	p->fetch_next = s->parts;
	s->parts = p;
	s->count++;
	LOG_INFO("fetcher", "%s-%d: following leader %d in epoch %d from offset %" PRId64, p->topic,
		 p->index, p->leader, p->leader_epoch, plog_end_offset(p->log));
	session_refetch(s);
}

/* --------------------------------------------------------------- requests */

/* Makes sure the session's peer points at the address the leader
 * registered.  Returns false when the leader is not known to the image. */
static bool session_connect(struct session *s)
{
	struct node *n = s->f->node;
	const struct meta_broker *b = meta_image_broker(ctrl_image(n->ctrl), s->leader_id);
	if (!b)
		return false;
	if (s->peer && strcmp(s->addr.host, b->host) == 0 && s->addr.port == b->port)
		return true;
	if (s->peer) {
		peer_cancel(s->peer, s);
		peer_free(s->peer);
		s->peer = NULL;
	}
	snprintf(s->addr.host, sizeof(s->addr.host), "%s", b->host);
	s->addr.port = (uint16_t)b->port;
	return peer_new(n, s->leader_id, &s->addr, &s->peer) == RN_OK;
}

/* The request's partitions grouped by topic (names point into partitions,
 * which the sent array keeps referenced while the request is built). */
struct fetch_build {
	Runnel__FetchRequest body;
	Runnel__FetchTopic *topics;
	Runnel__FetchTopic **topic_ptrs;
	Runnel__FetchPartition *parts;
	Runnel__FetchPartition **part_ptrs;
};

static void build_free(struct fetch_build *b)
{
	free(b->topics);
	free(b->topic_ptrs);
	free(b->parts);
	free(b->part_ptrs);
}

/* Fills b from s->sent.  Each partition is its own FetchTopic entry: the
 * protocol allows a topic to repeat, and it keeps the code simple. */
static int build_request(struct session *s, struct fetch_build *b)
{
	const struct node_config *cfg = &s->f->node->cfg;
	uint32_t n = s->sent_count;
	b->topics = calloc(n, sizeof(*b->topics));
	b->topic_ptrs = calloc(n, sizeof(*b->topic_ptrs));
	b->parts = calloc(n, sizeof(*b->parts));
	b->part_ptrs = calloc(n, sizeof(*b->part_ptrs));
	if (!b->topics || !b->topic_ptrs || !b->parts || !b->part_ptrs) {
		build_free(b);
		return RN_E_NOMEM;
	}
	runnel__fetch_request__init(&b->body);
	b->body.replica_id = cfg->node_id;
	b->body.max_wait_ms = (int32_t)cfg->replica_fetch_wait_max_ms;
	b->body.min_bytes = 1;
	b->body.max_bytes = (int32_t)cfg->replica_fetch_response_max_bytes;
	b->body.n_topics = n;
	b->body.topics = b->topic_ptrs;
	for (uint32_t i = 0; i < n; i++) {
		struct partition *p = s->sent[i].p;
		Runnel__FetchPartition *fp = &b->parts[i];
		runnel__fetch_partition__init(fp);
		fp->partition = p->index;
		fp->fetch_offset = s->sent[i].fetch_offset;
		fp->partition_max_bytes = (int32_t)cfg->replica_fetch_max_bytes;
		fp->current_leader_epoch = s->sent[i].leader_epoch;
		fp->log_start_offset = plog_start_offset(p->log);
		fp->last_fetched_epoch = plog_latest_epoch(p->log);
		b->part_ptrs[i] = fp;
		Runnel__FetchTopic *ft = &b->topics[i];
		runnel__fetch_topic__init(ft);
		ft->name = p->topic;
		ft->n_partitions = 1;
		ft->partitions = &b->part_ptrs[i];
		b->topic_ptrs[i] = ft;
	}
	return RN_OK;
}

/* Picks the partitions to fetch now; returns the earliest backoff end of
 * those left out (INT64_MAX when none). */
static int64_t pick_partitions(struct session *s, int64_t now_ms)
{
	int64_t next = INT64_MAX;
	uint32_t cap = s->count < RN_MAX_PARTITIONS_PER_REQUEST ? s->count
								: RN_MAX_PARTITIONS_PER_REQUEST;
	s->sent = calloc(cap ? cap : 1, sizeof(*s->sent));
	if (!s->sent)
		return now_ms + NODE_REPLICA_FETCH_BACKOFF_MS;
	for (struct partition *p = s->parts; p && s->sent_count < cap; p = p->fetch_next) {
		if (!p->log || p->offline)
			continue;
		if (p->fetch_backoff_until_ms > now_ms) {
			next = p->fetch_backoff_until_ms < next ? p->fetch_backoff_until_ms : next;
			continue;
		}
		partition_ref(p);
		s->sent[s->sent_count++] = (struct sent_part){p, p->leader_epoch,
							      plog_end_offset(p->log)};
	}
	return next;
}

static void fetch_cb(void *arg, int err, const Runnel__Response *resp);

/* A failed call: wait out the backoff, then fetch again. */
static void session_backoff(struct session *s)
{
	arm(s, s->backoff_ms);
	s->backoff_ms = s->backoff_ms * 2 > PEER_BACKOFF_MAX_MS ? PEER_BACKOFF_MAX_MS
								: s->backoff_ms * 2;
}

/* Sends the next fetch when nothing is in flight. */
static void session_step(struct session *s)
{
	struct node *n = s->f->node;
	if (s->in_flight || n->stopping)
		return;
	if (s->count == 0) {
		session_reap(s);
		return;
	}
	int64_t now_ms = rn_mono_ms();
	int64_t next = pick_partitions(s, now_ms);
	if (s->sent_count == 0) {
		sent_release(s);
		if (next != INT64_MAX)
			arm(s, next - now_ms);
		return;
	}
	struct fetch_build b;
	memset(&b, 0, sizeof(b));
	if (!session_connect(s) || build_request(s, &b) != RN_OK) {
		sent_release(s);
		session_backoff(s);
		return;
	}
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	hdr.api_key = RUNNEL__API_KEY__API_FETCH;
	hdr.client_id = "runneld-replica";
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.header = &hdr;
	req.body_case = RUNNEL__REQUEST__BODY_FETCH;
	req.fetch = &b.body;
	int32_t timeout_ms = (int32_t)n->cfg.replica_fetch_wait_max_ms +
			     NODE_REPLICA_FETCH_TIMEOUT_SLACK_MS;
	int rc = peer_call(s->peer, &req, timeout_ms, fetch_cb, s);
	build_free(&b);
	if (rc != RN_OK) {
		sent_release(s);
		session_backoff(s);
		return;
	}
	s->in_flight = true;
	/* Partitions left out for a backoff join at its end, not when the
	 * parked fetch returns. */
	if (next != INT64_MAX)
		arm(s, next - now_ms);
}

/* -------------------------------------------------------------- responses */

/* Appends the batches of one answer; stops at the first it cannot take. */
static void append_records(struct partition *p, const ProtobufCBinaryData *records,
			   int64_t now_ms)
{
	size_t off = 0;
	while (off < records->len && p->log) {
		struct batch_info info;
		const uint8_t *buf = records->data + off;
		int rc = batch_peek(buf, records->len - off, &info);
		if (rc == RN_OK)
			rc = batch_validate(buf, info.total_bytes, RN_MAX_RECORDS_PER_BATCH, &info);
		if (rc == RN_OK && info.base_offset != plog_end_offset(p->log))
			rc = RN_E_INVAL;
		if (rc == RN_OK)
			rc = partition_append_replica(p, buf, info.total_bytes, info.record_count,
						      now_ms);
		if (rc != RN_OK) {
			LOG_WARN("fetcher", "%s-%d: cannot append the leader's batch at offset %" PRId64
					    ": %s",
				 p->topic, p->index, plog_end_offset(p->log), rn_strerror(rc));
			p->fetch_backoff_until_ms = now_ms + NODE_REPLICA_FETCH_BACKOFF_MS;
			return;
		}
		off += info.total_bytes;
	}
}

/* The leader said the log diverges: truncate it where the leader's
 * history and ours agree. */
static void truncate_divergent(struct partition *p, const struct sent_part *sp,
			       const Runnel__FetchPartitionData *pd)
{
	int32_t local_epoch = REPLICA_EPOCH_UNDEFINED;
	int64_t local_end = REPLICA_OFFSET_UNDEFINED;
	if (pd->diverging_epoch >= 0)
		plog_epoch_end_offset(p->log, pd->diverging_epoch, &local_epoch, &local_end);
	int64_t to = replica_follower_truncation_offset(sp->fetch_offset, plog_start_offset(p->log),
							 pd->diverging_epoch, pd->diverging_end_offset,
							 local_epoch, local_end);
	LOG_WARN("fetcher", "%s-%d: leader %d says the log diverges after epoch %d (ends at %" PRId64
			    " there); truncating to %" PRId64,
		 p->topic, p->index, p->fetch_leader, pd->diverging_epoch, pd->diverging_end_offset, to);
	if (partition_truncate(p, to) != RN_OK)
		p->fetch_backoff_until_ms = rn_mono_ms() + NODE_REPLICA_FETCH_BACKOFF_MS;
}

/* Applies the answer for one partition of the fetch. */
static void take_partition(struct session *s, const struct sent_part *sp,
			   const Runnel__FetchPartitionData *pd, int64_t now_ms)
{
	struct partition *p = sp->p;
	/* Anything that changed while the fetch was out makes the answer stale. */
	if (!p->log || !p->following || p->fetch_leader != s->leader_id ||
	    p->leader_epoch != sp->leader_epoch || plog_end_offset(p->log) != sp->fetch_offset)
		return;
	/* The leader's log may start later than ours (retention). */
	if (log_retention_follow_leader(p, pd->log_start_offset, rn_err_from_wire(pd->error_code)))
		return;
	if (pd->error_code != 0) {
		int err = rn_err_from_wire(pd->error_code);
		LOG_DEBUG("fetcher", "%s-%d: leader %d refused the fetch at %" PRId64 ": %s", p->topic,
			  p->index, s->leader_id, sp->fetch_offset, rn_strerror(err));
		bool behind = err == RN_E_UNKNOWN_TOPIC_OR_PARTITION ||
			      err == RN_E_NOT_LEADER_OR_FOLLOWER || err == RN_E_UNKNOWN_LEADER_EPOCH;
		p->fetch_backoff_until_ms = now_ms + (behind ? NODE_REPLICA_FETCH_METADATA_BACKOFF_MS
							     : NODE_REPLICA_FETCH_BACKOFF_MS);
		return;
	}
	if (pd->diverging_end_offset >= 0) {
		truncate_divergent(p, sp, pd);
		return;
	}
	append_records(p, &pd->records, now_ms);
	partition_follower_hw(p, pd->high_watermark);
}

/* The answer names topics by name: find what was sent for each. */
static const struct sent_part *sent_find(const struct session *s, const char *topic,
					 int32_t partition, uint32_t *cursor)
{
	for (uint32_t k = 0; k < s->sent_count; k++) {
		uint32_t i = (*cursor + k) % s->sent_count;
		const struct sent_part *sp = &s->sent[i];
		if (sp->p->index == partition && strcmp(sp->p->topic, topic) == 0) {
			*cursor = i + 1;
			return sp;
		}
	}
	return NULL;
}

static void take_response(struct session *s, const Runnel__FetchResponse *fr)
{
	int64_t now_ms = rn_mono_ms();
	uint32_t cursor = 0;
	for (size_t t = 0; t < fr->n_topics; t++) {
		const Runnel__FetchTopicData *td = fr->topics[t];
		for (size_t i = 0; td->name && i < td->n_partitions; i++) {
			const Runnel__FetchPartitionData *pd = td->partitions[i];
			const struct sent_part *sp = sent_find(s, td->name, pd->partition, &cursor);
			if (sp)
				take_partition(s, sp, pd, now_ms);
		}
	}
}

static void fetch_cb(void *arg, int err, const Runnel__Response *resp)
{
	struct session *s = arg;
	bool ok = err == RN_OK && resp->body_case == RUNNEL__RESPONSE__BODY_FETCH;
	if (ok) {
		s->backoff_ms = PEER_BACKOFF_MIN_MS;
		take_response(s, resp->fetch);
	} else if (err == RN_OK) {
		LOG_WARN("fetcher", "leader %d refused the fetch: %s", s->leader_id,
			 resp->error_message && resp->error_message[0]
				 ? resp->error_message
				 : rn_strerror(rn_err_from_wire(resp->error_code)));
	} else if (err != RN_E_SHUTTING_DOWN) {
		LOG_DEBUG("fetcher", "fetch from leader %d failed: %s", s->leader_id, rn_strerror(err));
	}
	sent_release(s);
	/* Cleared only now, so the session cannot be reaped while the answer
	 * is being applied. */
	s->in_flight = false;
	if (err == RN_E_SHUTTING_DOWN)
		return;
	/* A session that follows nothing any more is reaped from its timer:
	 * freeing it here would free the peer whose read callback this is. */
	if (s->count == 0) {
		arm(s, 0);
		return;
	}
	/* The leader parks a fetch until it has data, so the next one goes at
	 * once; a failure waits out the backoff. */
	if (ok)
		arm(s, 0);
	else
		session_backoff(s);
}
