/* h_fetch.c: Fetch: consumers read below the high watermark, followers read the log and report their progress; long-poll for min_bytes. */
#include "broker/conn.h"
#include "broker/fetch_pack.h"
#include "broker/handlers.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "broker/replica.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>

/* The most record bytes one response carries: the frame limit less room for
 * everything else, and never more than a fetch may ask for. */
#define FETCH_MAX_RESPONSE_BYTES                                                 \
	((RN_MAX_FETCH_BYTES < RN_MAX_FRAME_BYTES - NODE_FETCH_FRAME_HEADROOM)  \
		 ? RN_MAX_FETCH_BYTES                                             \
		 : RN_MAX_FRAME_BYTES - NODE_FETCH_FRAME_HEADROOM)

struct fetch_wait;

/* One partition a parked fetch watches for appends. */
struct fetch_watch {
	struct pwait w;
	struct fetch_wait *fw;
};

/* A fetch parked until min_bytes arrive or max_wait_ms passes (purgatory). */
struct fetch_wait {
	struct req *r;
	struct node *node;
	struct event *timer;
	bool replica;      /* a follower's fetch (consumers wake on the high watermark only) */
	bool hw_moved;     /* a follower's: the high watermark moved since it parked */
	bool expired;      /* max_wait_ms passed: answer with what there is */
	bool failed;       /* a watched partition failed: answer at once */
	bool queued;       /* in node->ready_fetches */
	struct fetch_wait *next_ready;
	struct fetch_wait *next_replica; /* in node->replica_fetches (replica only) */
	uint32_t watch_count;
	struct fetch_watch watches[];
};

/* What one pass over the request's partitions found. */
struct fetch_result {
	Runnel__Response resp;
	struct fetch_slice *slices;
	uint32_t slice_count;
	uint64_t bytes;
	bool has_error;
	bool diverged; /* a follower must truncate: answer at once */
	bool hw_moved; /* a follower's fetch moved the high watermark: tell it at once */
};

static void set_error(Runnel__FetchPartitionData *pd, int err)
{
	pd->error_code = rn_err_to_wire(err);
	pd->error_message = (char *)rn_strerror(err);
}

/* Checks the fetcher's view of the leader epoch against this replica's. */
static int check_epoch(const struct partition *p, int32_t current_epoch)
{
	if (current_epoch >= 0 && current_epoch < p->leader_epoch)
		return RN_E_FENCED_LEADER_EPOCH;
	if (current_epoch > p->leader_epoch)
		return RN_E_UNKNOWN_LEADER_EPOCH;
	return RN_OK;
}

/*
 * A follower's fetch at the leader.  First the divergence check of its last
 * epoch against this log's epoch history: a follower whose log went past
 * where that epoch ends here is told to truncate (pd->diverging_*) and gets
 * no records.  Otherwise its fetch offset is its log end offset: recorded
 * (once per request, when it arrives) for the high watermark and the ISR.
 */
static int check_follower(struct req *r, struct fetch_result *fr, struct partition *p,
			  const Runnel__FetchPartition *fp, Runnel__FetchPartitionData *pd,
			  bool first_pass, bool *diverged)
{
	if (!p->leading)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	int rc = check_epoch(p, fp->current_leader_epoch);
	if (rc != RN_OK)
		return rc;
	int32_t found_epoch = REPLICA_EPOCH_UNDEFINED;
	int64_t found_end = REPLICA_OFFSET_UNDEFINED;
	int64_t first_start = 0;
	if (fp->last_fetched_epoch >= 0)
		plog_epoch_end_offset(p->log, fp->last_fetched_epoch, &found_epoch, &found_end);
	if (plog_epoch_start_offset(p->log, -1, &first_start) != RN_OK)
		first_start = plog_start_offset(p->log);
	int32_t div_epoch = REPLICA_EPOCH_UNDEFINED;
	int64_t div_end = REPLICA_OFFSET_UNDEFINED;
	if (replica_leader_divergence(fp->fetch_offset, fp->last_fetched_epoch, found_epoch,
				      found_end, first_start, &div_epoch, &div_end)) {
		pd->diverging_epoch = div_epoch;
		pd->diverging_end_offset = div_end;
		*diverged = true;
		return RN_OK;
	}
	if (!first_pass)
		return RN_OK;
	int64_t hw = p->high_watermark;
	rc = partition_on_follower_fetch(p, r->msg->fetch->replica_id, fp->fetch_offset,
					 rn_mono_ms());
	/* The follower learns the new high watermark from this answer, so it
	 * is not parked for want of records. */
	if (p->high_watermark != hw)
		fr->hw_moved = true;
	return rc;
}

/* A consumer reads from the leader, or from a follower in the ISR (the
 * closest replica, KIP-392), in both cases below that replica's high
 * watermark. */
static int check_consumer(struct req *r, const struct partition *p, int32_t current_epoch)
{
	int32_t self = r->node->cfg.node_id;
	bool in_sync_follower = !p->leading && p->leader >= 0 && p->leader != self &&
				p->following && partition_in_isr(p, self);
	if (!p->leading && !in_sync_follower)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	return check_epoch(p, current_epoch);
}

/* Reads one partition into pd within *remaining bytes.  first_pass: the
 * request has just arrived (a follower's progress is recorded then only). */
static void read_partition(struct req *r, struct fetch_result *fr, const char *topic,
			   const Runnel__FetchPartition *fp, Runnel__FetchPartitionData *pd,
			   uint64_t *remaining, bool first_pass)
{
	const Runnel__FetchRequest *freq = r->msg->fetch;
	bool follower = freq->replica_id >= 0;
	struct partition *p = pmgr_find(r->node->pm, topic, fp->partition);
	bool diverged = false;
	int rc = RN_E_UNKNOWN_TOPIC_OR_PARTITION;
	if (p && follower)
		rc = check_follower(r, fr, p, fp, pd, first_pass, &diverged);
	else if (p)
		rc = check_consumer(r, p, fp->current_leader_epoch);
	if (rc != RN_OK) {
		set_error(pd, rc);
		fr->has_error = true;
		return;
	}
	/* Consumers read below the high watermark; a follower reads everything
	 * the leader has. */
	int64_t max_offset = follower ? plog_end_offset(p->log) : p->high_watermark;
	pd->high_watermark = p->high_watermark;
	pd->last_stable_offset = p->high_watermark;
	pd->log_start_offset = plog_start_offset(p->log);
	if (diverged) {
		fr->diverged = true;
		return;
	}
	rc = replica_fetch_offset_check(fp->fetch_offset, pd->log_start_offset, max_offset);
	bool nothing_yet = fr->bytes == 0;
	uint32_t budget = replica_fetch_budget(fp->partition_max_bytes,
					       NODE_DEFAULT_PARTITION_FETCH_BYTES,
					       FETCH_MAX_RESPONSE_BYTES, *remaining, nothing_yet);
	if (rc != RN_OK || budget == 0) {
		if (rc != RN_OK) {
			set_error(pd, rc);
			fr->has_error = true;
		}
		return;
	}
	struct fetch_slice *fs = &fr->slices[fr->slice_count];
	rc = plog_read(p->log, fp->fetch_offset, budget, max_offset, &fs->slice);
	if (rc != RN_OK) {
		set_error(pd, rc);
		fr->has_error = true;
		return;
	}
	/* Only the first partition with data may exceed its budget (one whole
	 * batch); later ones that do not fit are left for the next fetch. */
	if (fs->slice.len == 0 || (!nothing_yet && fs->slice.len > *remaining)) {
		plog_slice_release(&fs->slice);
		return;
	}
	fs->field = &pd->records;
	pd->records.data = (uint8_t *)fs;
	pd->records.len = fs->slice.len;
	fr->slice_count++;
	fr->bytes += fs->slice.len;
	*remaining -= fs->slice.len < *remaining ? fs->slice.len : *remaining;
}

static size_t count_partitions(const Runnel__FetchRequest *freq)
{
	size_t total = 0;
	for (size_t t = 0; t < freq->n_topics; t++)
		total += freq->topics[t]->n_partitions;
	return total;
}

/* One pass over every requested partition; the response lives in the arena. */
static void fetch_build(struct req *r, struct fetch_result *fr, bool first_pass)
{
	const Runnel__FetchRequest *freq = r->msg->fetch;
	runnel__response__init(&fr->resp);
	fr->resp.correlation_id = r->correlation_id;
	fr->slices = req_alloc(r, (count_partitions(freq) + 1) * sizeof(*fr->slices));
	fr->slice_count = 0;
	fr->bytes = 0;
	fr->has_error = false;
	fr->diverged = false;
	fr->hw_moved = false;
	Runnel__FetchResponse *body = req_alloc(r, sizeof(*body));
	runnel__fetch_response__init(body);
	fr->resp.body_case = RUNNEL__RESPONSE__BODY_FETCH;
	fr->resp.fetch = body;
	uint64_t remaining = freq->max_bytes > 0 && (uint32_t)freq->max_bytes < FETCH_MAX_RESPONSE_BYTES
				     ? (uint64_t)freq->max_bytes
				     : FETCH_MAX_RESPONSE_BYTES;
	body->n_topics = freq->n_topics;
	body->topics = req_alloc(r, (freq->n_topics + 1) * sizeof(*body->topics));
	for (size_t t = 0; t < freq->n_topics; t++) {
		const Runnel__FetchTopic *ft = freq->topics[t];
		Runnel__FetchTopicData *td = req_alloc(r, sizeof(*td));
		runnel__fetch_topic_data__init(td);
		td->name = ft->name;
		td->n_partitions = ft->n_partitions;
		td->partitions = req_alloc(r, (ft->n_partitions + 1) * sizeof(*td->partitions));
		for (size_t i = 0; i < ft->n_partitions; i++) {
			Runnel__FetchPartitionData *pd = req_alloc(r, sizeof(*pd));
			runnel__fetch_partition_data__init(pd);
			pd->partition = ft->partitions[i]->partition;
			pd->high_watermark = pd->last_stable_offset = pd->log_start_offset = -1;
			pd->diverging_epoch = -1;
			pd->diverging_end_offset = -1;
			read_partition(r, fr, ft->name, ft->partitions[i], pd, &remaining, first_pass);
			td->partitions[i] = pd;
		}
		body->topics[t] = td;
	}
}

static void release_slices(struct fetch_result *fr)
{
	for (uint32_t i = 0; i < fr->slice_count; i++)
		plog_slice_release(&fr->slices[i].slice);
	fr->slice_count = 0;
}

/* Packs and sends the built response; the slices are released after. */
static void fetch_send(struct req *r, struct fetch_result *fr)
{
	struct evbuffer *out = NULL;
	if (r->conn)
		out = fetch_pack_frame(&fr->resp, fr->slices, fr->slice_count);
	release_slices(fr);
	if (!r->conn) {
		req_drop(r);
		return;
	}
	if (!out) {
		req_fail(r, RN_E_UNKNOWN_SERVER_ERROR, "cannot read the partition logs for this fetch");
		return;
	}
	req_respond_frame(r, out);
}

/* --------------------------------------------------------------- purgatory */

static void queue_ready(struct fetch_wait *fw)
{
	if (fw->queued)
		return;
	fw->queued = true;
	fw->next_ready = fw->node->ready_fetches;
	fw->node->ready_fetches = fw;
	node_schedule_turn(fw->node);
}

/* A watched partition changed: an append (bytes > 0) or a move of the high
 * watermark (bytes 0).  A consumer's fetch can only gain from the second.
 * A follower's gains records from the first, and from the second the new
 * high watermark, which it is answered with at once so that its own high
 * watermark (and what it serves to consumers reading from it) lags the
 * leader's by one round trip rather than by replica.fetch.wait.max.ms.
 * Whether enough arrived is decided by reading again at the end of the
 * turn. */
static void watch_cb(struct pwait *w, int err)
{
	struct fetch_watch *fwt = (struct fetch_watch *)w;
	struct fetch_wait *fw = fwt->fw;
	int64_t bytes = w->bytes;
	w->bytes = 0;
	if (err != RN_OK)
		fw->failed = true;
	else if (bytes > 0 && !fw->replica)
		return;
	else if (bytes == 0 && fw->replica)
		fw->hw_moved = true;
	queue_ready(fw);
}

static void fetch_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_wait *fw = arg;
	(void)fd;
	(void)what;
	fw->expired = true;
	queue_ready(fw);
}

/* Takes fw off the ready list if it is on it. */
static void ready_remove(struct fetch_wait *fw)
{
	if (!fw->queued)
		return;
	struct fetch_wait **pp = &fw->node->ready_fetches;
	while (*pp != fw)
		pp = &(*pp)->next_ready;
	*pp = fw->next_ready;
	fw->queued = false;
}

/* True when a built response should go now rather than wait. */
static bool fetch_satisfied(const Runnel__FetchRequest *freq, const struct fetch_result *fr)
{
	return fr->bytes >= (uint64_t)freq->min_bytes || fr->has_error || fr->diverged ||
	       fr->hw_moved || fr->bytes >= FETCH_MAX_RESPONSE_BYTES;
}

/* Unlinks, stops the timer and frees the wait (not the request). */
static void fetch_wait_free(struct fetch_wait *fw)
{
	if (fw->replica) {
		struct fetch_wait **pp = &fw->node->replica_fetches;
		while (*pp != fw)
			pp = &(*pp)->next_replica;
		*pp = fw->next_replica;
	}
	for (uint32_t i = 0; i < fw->watch_count; i++)
		pwait_unlink(&fw->watches[i].w);
	if (fw->timer)
		event_free(fw->timer);
	free(fw);
}

static void fetch_cancel(struct req *r)
{
	struct fetch_wait *fw = r->wait;
	ready_remove(fw);
	fetch_wait_free(fw);
	req_drop(r);
}

void fetch_answer_ready(struct node *n)
{
	while (n->ready_fetches) {
		struct fetch_wait *fw = n->ready_fetches;
		n->ready_fetches = fw->next_ready;
		fw->queued = false;
		struct req *r = fw->r;
		struct fetch_result fr;
		fetch_build(r, &fr, false);
		if (!fw->expired && !fw->failed && !fw->hw_moved && !n->stopping && r->conn &&
		    !fetch_satisfied(r->msg->fetch, &fr)) {
			/* Woken, but not enough to answer yet: keep waiting. */
			release_slices(&fr);
			arena_free(&r->arena);
			continue;
		}
		ready_remove(fw);
		fetch_wait_free(fw);
		r->cancel = NULL;
		r->wait = NULL;
		fetch_send(r, &fr);
	}
}

/* Parks the request, watching every partition it names that this node leads. */
static void fetch_park(struct req *r)
{
	const Runnel__FetchRequest *freq = r->msg->fetch;
	size_t parts = count_partitions(freq);
	struct fetch_wait *fw = calloc(1, sizeof(*fw) + parts * sizeof(fw->watches[0]));
	RN_ASSERT(fw != NULL);
	fw->r = r;
	fw->node = r->node;
	fw->replica = freq->replica_id >= 0;
	if (fw->replica) {
		fw->next_replica = r->node->replica_fetches;
		r->node->replica_fetches = fw;
	}
	for (size_t t = 0; t < freq->n_topics; t++) {
		const Runnel__FetchTopic *ft = freq->topics[t];
		for (size_t i = 0; i < ft->n_partitions; i++) {
			struct partition *p = pmgr_find(r->node->pm, ft->name, ft->partitions[i]->partition);
			if (!p)
				continue;
			struct fetch_watch *fwt = &fw->watches[fw->watch_count++];
			fwt->fw = fw;
			fwt->w.wake_cb = watch_cb;
			partition_watch_fetch(p, &fwt->w);
		}
	}
	fw->timer = evtimer_new(r->node->base, fetch_timeout_cb, fw);
	RN_ASSERT(fw->timer != NULL);
	struct timeval tv = {freq->max_wait_ms / 1000, (freq->max_wait_ms % 1000) * 1000};
	evtimer_add(fw->timer, &tv);
	req_park(r, fetch_cancel, fw);
}

/*
 * A follower sends a second fetch while one is parked only when it gave the
 * first up (a partition joined it or changed epoch: fetcher.c).  Responses
 * leave a connection in request order, so the parked one would hold the new
 * one back for up to max_wait_ms: answer it now with what it has.
 */
static void release_replaced_fetches(struct req *r)
{
	int32_t replica = r->msg->fetch->replica_id;
	for (struct fetch_wait *fw = r->node->replica_fetches; fw; fw = fw->next_replica) {
		if (fw->r->conn == r->conn && fw->r->msg->fetch->replica_id == replica) {
			fw->expired = true;
			queue_ready(fw);
		}
	}
}

void handle_fetch(struct req *r)
{
	const Runnel__FetchRequest *freq = r->msg->fetch;
	if (freq->n_topics > RN_MAX_TOPICS_PER_REQUEST ||
	    count_partitions(freq) > RN_MAX_PARTITIONS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many topics or partitions in one Fetch request");
		return;
	}
	if (freq->max_wait_ms < 0 || freq->max_wait_ms > RN_MAX_FETCH_WAIT_MS || freq->min_bytes < 0) {
		req_fail(r, RN_E_INVALID_REQUEST, "max_wait_ms must be 0..60000 and min_bytes >= 0");
		return;
	}
	if (freq->replica_id >= 0 && freq->replica_id == r->node->cfg.node_id) {
		req_fail(r, RN_E_INVALID_REQUEST, "a node does not fetch from itself");
		return;
	}
	if (freq->replica_id >= 0)
		release_replaced_fetches(r);
	struct fetch_result fr;
	fetch_build(r, &fr, true);
	if (fetch_satisfied(freq, &fr) || freq->max_wait_ms == 0) {
		fetch_send(r, &fr);
		return;
	}
	/* Not enough yet: forget this pass (the response is rebuilt when the
	 * fetch wakes) and wait. */
	release_slices(&fr);
	arena_free(&r->arena);
	fetch_park(r);
}
