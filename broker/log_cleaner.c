/* log_cleaner.c: the node's log cleaner: compaction of compacted topics' partitions on a thread. */
#include "broker/log_cleaner.h"

#include "broker/node.h"
#include "broker/partition.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/plog.h"

#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

/* After a cleaning that did work, the next look comes this soon: the
 * partition (or another) may still be dirty. */
#define LOG_CLEANER_AGAIN_MS 10

struct log_cleaner {
	struct node *node;
	struct event *timer;
	struct event *done_ev; /* the thread finished a job */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                  /* guarded by lock */
	struct plog_clean_job *job; /* handed to the thread; guarded by lock */
	bool done;                  /* the thread finished job; guarded by lock */
	int rc;                     /* its result */
	/* Loop thread only: the job's partition (a reference) and log. */
	struct partition *part;
	struct plog *log;
	int64_t started_ms;
};

static void arm(struct log_cleaner *lc, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(lc->timer, &tv);
}

static void *thread_main(void *arg)
{
	struct log_cleaner *lc = arg;
	pthread_mutex_lock(&lc->lock);
	for (;;) {
		while (!lc->stop && (!lc->job || lc->done))
			pthread_cond_wait(&lc->cond, &lc->lock);
		if (lc->stop)
			break;
		struct plog_clean_job *job = lc->job;
		pthread_mutex_unlock(&lc->lock);
		int rc = plog_clean_run(job);
		pthread_mutex_lock(&lc->lock);
		lc->rc = rc;
		lc->done = true;
		event_active(lc->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&lc->lock);
	return NULL;
}

/* The dirtiest partition eligible for cleaning. */
struct pick {
	struct partition *best;
	double ratio;
};

static void consider(struct partition *p, void *arg)
{
	struct pick *pk = arg;
	if (!p->log || p->offline || !p->conf.cleanup_compact)
		return;
	uint64_t dirty, closed;
	plog_clean_dirty(p->log, &dirty, &closed);
	if (closed == 0 || dirty == 0)
		return;
	double ratio = (double)dirty / (double)closed;
	if (ratio < p->conf.min_cleanable_dirty_ratio || ratio <= pk->ratio)
		return;
	pk->best = p;
	pk->ratio = ratio;
}

/* Starts a job for the dirtiest partition; false when there is none. */
static bool start_job(struct log_cleaner *lc)
{
	struct pick pk = {NULL, -1.0};
	pmgr_foreach(lc->node->pm, consider, &pk);
	if (!pk.best)
		return false;
	struct partition *p = pk.best;
	struct plog_clean_params params = {
		.now_ms = rn_wall_ms(),
		.delete_retention_ms = p->conf.delete_retention_ms,
		.min_compaction_lag_ms = p->conf.min_compaction_lag_ms,
	};
	struct plog_clean_job *job;
	int rc = plog_clean_begin(p->log, &params, &job);
	if (rc) {
		if (rc != RN_E_NOT_FOUND)
			LOG_WARN("cleaner", "%s-%d: cannot start cleaning: %s", p->topic, p->index,
				 rn_strerror(rc));
		return false;
	}
	partition_ref(p);
	lc->part = p;
	lc->log = p->log;
	lc->started_ms = rn_mono_ms();
	pthread_mutex_lock(&lc->lock);
	lc->job = job;
	lc->done = false;
	pthread_cond_signal(&lc->cond);
	pthread_mutex_unlock(&lc->lock);
	return true;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct log_cleaner *lc = arg;
	if (lc->part)
		return; /* a job runs; its end re-arms */
	if (!start_job(lc))
		arm(lc, lc->node->cfg.log_cleaner_backoff_ms);
}

static void report(const struct partition *p, const struct plog_clean_stats *st, int64_t ms)
{
	LOG_INFO("cleaner",
		 "%s-%d: cleaned offsets %" PRId64 "..%" PRId64 ": %" PRIu64 " records -> %" PRIu64
		 " records, %" PRIu64 " bytes -> %" PRIu64 " bytes in %" PRId64 " ms",
		 p->topic, p->index, st->first_offset, st->end_offset - 1, st->records_in,
		 st->records_out, st->bytes_in, st->bytes_out, ms);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct log_cleaner *lc = arg;
	pthread_mutex_lock(&lc->lock);
	bool done = lc->done;
	struct plog_clean_job *job = lc->job;
	int rc = lc->rc;
	if (done)
		lc->job = NULL;
	pthread_mutex_unlock(&lc->lock);
	if (!done || !job)
		return;
	struct partition *p = lc->part;
	bool worked = false;
	/* A partition removed, or re-created with a new log, keeps its
	 * files as they are: the job is dropped. */
	if (rc == 0 && p->log == lc->log) {
		struct plog_clean_stats st;
		rc = plog_clean_finish(p->log, job, &st);
		if (rc == 0) {
			report(p, &st, rn_mono_ms() - lc->started_ms);
			worked = true;
		}
	}
	if (rc && rc != RN_E_NOT_FOUND && rc != RN_E_AGAIN && rc != RN_E_CLOSED)
		LOG_ERROR("cleaner", "%s-%d: cleaning failed: %s", p->topic, p->index,
			  rn_strerror(rc));
	plog_clean_job_free(job);
	lc->part = NULL;
	lc->log = NULL;
	partition_unref(p);
	arm(lc, worked ? LOG_CLEANER_AGAIN_MS : lc->node->cfg.log_cleaner_backoff_ms);
}

int log_cleaner_new(struct node *n, struct log_cleaner **out)
{
	*out = NULL;
	if (!n->cfg.log_cleaner_enable)
		return RN_OK;
	struct log_cleaner *lc = calloc(1, sizeof(*lc));
	if (!lc)
		return RN_E_NOMEM;
	lc->node = n;
	pthread_mutex_init(&lc->lock, NULL);
	pthread_cond_init(&lc->cond, NULL);
	lc->timer = evtimer_new(n->base, timer_cb, lc);
	lc->done_ev = event_new(n->base, -1, 0, done_cb, lc);
	if (!lc->timer || !lc->done_ev)
		goto fail;
	if (pthread_create(&lc->thread, NULL, thread_main, lc) != 0) {
		LOG_ERROR("cleaner", "cannot start the cleaner thread");
		goto fail;
	}
	arm(lc, n->cfg.log_cleaner_backoff_ms);
	*out = lc;
	return RN_OK;
fail:
	if (lc->timer)
		event_free(lc->timer);
	if (lc->done_ev)
		event_free(lc->done_ev);
	pthread_mutex_destroy(&lc->lock);
	pthread_cond_destroy(&lc->cond);
	free(lc);
	return RN_E_NOMEM;
}

void log_cleaner_free(struct log_cleaner *lc)
{
	if (!lc)
		return;
	pthread_mutex_lock(&lc->lock);
	lc->stop = true;
	if (lc->job && !lc->done)
		plog_clean_abort(lc->job);
	pthread_cond_signal(&lc->cond);
	pthread_mutex_unlock(&lc->lock);
	pthread_join(lc->thread, NULL);
	/* A job the thread finished or abandoned is dropped unswapped: its
	 * cleaned files go, and the next start cleans again. */
	if (lc->job)
		plog_clean_job_free(lc->job);
	if (lc->part)
		partition_unref(lc->part);
	event_free(lc->timer);
	event_free(lc->done_ev);
	pthread_mutex_destroy(&lc->lock);
	pthread_cond_destroy(&lc->cond);
	free(lc);
}
