/* log_retention.c: deleting old log segments under the topics' retention settings. */
#include "broker/log_retention.h"

#include "broker/node.h"
#include "broker/partition.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>

struct log_retention {
	struct node *node;
	struct event *timer;
};

/* One check's progress over the partitions. */
struct check {
	int64_t now_ms;
	uint32_t budget; /* segments it may still delete */
	uint32_t deleted;
	bool more; /* a partition reached its bound: there may be more to delete */
};

static void arm(struct log_retention *lr, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(lr->timer, &tv);
}

static void report(const struct partition *p, const struct plog_deletion *d, const char *why,
		   int64_t start)
{
	if (d->segments == 0)
		return;
	LOG_INFO("retention", "%s-%d: deleted %u segment(s) (%" PRIu64 " bytes) by %s; log start "
			      "offset now %" PRId64,
		 p->topic, p->index, d->segments, d->bytes, why, start);
}

/* A failed deletion leaves the log consistent (plog_apply_retention says
 * so); the next check tries again.  A log that failed for good fails its
 * next write too, which takes the partition offline. */
static void deletion_failed(const struct partition *p, int rc)
{
	LOG_ERROR("retention", "%s-%d: deleting old segments failed: %s", p->topic, p->index,
		  rn_strerror(rc));
}

static void check_partition(struct partition *p, void *arg)
{
	struct check *c = arg;
	const struct topic_conf *conf = &p->conf;
	if (c->budget == 0 || !p->log || p->offline || !conf->cleanup_delete ||
	    (conf->retention_ms < 0 && conf->retention_bytes < 0))
		return;
	struct plog_retention rules = {
		.retention_ms = conf->retention_ms,
		.retention_bytes = conf->retention_bytes,
		.max_offset = p->high_watermark,
		.max_segments = c->budget < LOG_RETENTION_MAX_SEGMENTS_PER_PARTITION
					? c->budget
					: LOG_RETENTION_MAX_SEGMENTS_PER_PARTITION,
	};
	struct plog_retention_result res;
	int rc = plog_apply_retention(p->log, &rules, c->now_ms, &res);
	uint32_t n = res.by_time.segments + res.by_size.segments;
	RN_ASSERT(n <= c->budget);
	c->budget -= n;
	c->deleted += n;
	c->more |= n == rules.max_segments;
	report(p, &res.by_time, "retention.ms", res.start_offset);
	report(p, &res.by_size, "retention.bytes", res.start_offset);
	if (rc != RN_OK)
		deletion_failed(p, rc);
}

/* Runs one check; true when a bound stopped it (more may be due). */
static bool check_all(struct node *n, int64_t now_ms, uint32_t max_segments, uint32_t *deleted)
{
	struct check c = {.now_ms = now_ms, .budget = max_segments};
	pmgr_foreach(n->pm, check_partition, &c);
	*deleted = c.deleted;
	return c.more;
}

uint32_t log_retention_check(struct node *n, int64_t now_ms, uint32_t max_segments)
{
	uint32_t deleted;
	check_all(n, now_ms, max_segments, &deleted);
	return deleted;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct log_retention *lr = arg;
	struct node *n = lr->node;
	(void)fd;
	(void)what;
	if (n->stopping)
		return;
	uint32_t deleted;
	bool more = check_all(n, rn_wall_ms(), LOG_RETENTION_MAX_SEGMENTS_PER_CHECK, &deleted);
	/* At a bound there may be more to delete: come back soon rather than
	 * after a whole interval. */
	arm(lr, more ? LOG_RETENTION_BACKLOG_DELAY_MS : n->cfg.log_retention_check_interval_ms);
}

int log_retention_new(struct node *n, struct log_retention **out)
{
	struct log_retention *lr = calloc(1, sizeof(*lr));
	if (!lr)
		return RN_E_NOMEM;
	lr->node = n;
	lr->timer = evtimer_new(n->base, timer_cb, lr);
	if (!lr->timer) {
		free(lr);
		return RN_E_NOMEM;
	}
	arm(lr, n->cfg.log_retention_check_interval_ms);
	*out = lr;
	return RN_OK;
}

void log_retention_free(struct log_retention *lr)
{
	if (!lr)
		return;
	event_free(lr->timer);
	free(lr);
}

bool log_retention_follow_leader(struct partition *p, int64_t leader_start, int err)
{
	if (!p->log || p->offline || leader_start <= plog_start_offset(p->log))
		return false;
	/* A whole log below the leader's start is only acted on when the
	 * leader says so: it refused the fetch as out of range. */
	bool behind = leader_start > plog_end_offset(p->log);
	if (behind && err != RN_E_OFFSET_OUT_OF_RANGE)
		return false;
	struct plog_retention_result res;
	int rc = plog_advance_start(p->log, leader_start, LOG_RETENTION_FOLLOW_MAX_SEGMENTS, &res);
	report(p, &res.by_start, "the leader's log start offset", res.start_offset);
	if (rc != RN_OK) {
		LOG_ERROR("retention", "%s-%d: cannot follow the leader's log start offset %" PRId64
				       ": %s",
			  p->topic, p->index, leader_start, rn_strerror(rc));
		return behind;
	}
	if (res.restarted) {
		LOG_WARN("retention", "%s-%d: the whole log was older than the leader's log start "
				      "offset; it restarts empty at offset %" PRId64,
			 p->topic, p->index, res.start_offset);
		if (p->high_watermark < res.start_offset)
			p->high_watermark = res.start_offset;
		/* Nothing of the old log is left, so neither are its producers;
		 * a snapshot at the new start says so to the next open. */
		pstate_clear(&p->producers);
		partition_snapshot_producers(p);
	}
	return behind;
}
