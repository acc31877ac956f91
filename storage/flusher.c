/* flusher.c: a background thread that makes writes durable, in batches. */
#include "storage/flusher.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/kv.h"
#include "storage/plog.h"
#include "storage/storage_limits.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct flusher_req {
	int64_t seq;
	struct plog **logs; /* malloc'd copy; each log held until synced */
	uint32_t log_count;
	struct kv *kv;
};

struct flusher {
	pthread_t thread;
	pthread_mutex_t lock; /* guards the queue, next_seq and stopping */
	pthread_cond_t cond;
	struct flusher_req queue[FLUSHER_MAX_QUEUED];
	uint32_t head;
	uint32_t count;
	int64_t next_seq;
	bool stopping;
	_Atomic int64_t completed;
	_Atomic uint64_t failed;
	void (*notify_cb)(void *arg);
	void *arg;
	/* Requests taken off the queue in one turn (flusher thread only). */
	struct flusher_req batch[FLUSHER_MAX_QUEUED];
};

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
	return x < y ? -1 : x > y;
}

/* Syncs each distinct log once.  One plog_sync covers everything appended
 * before it started, so a log named by several queued requests needs only
 * one fsync for all of them: this is the group commit. */
static uint64_t sync_logs(struct plog **logs, uint32_t n)
{
	uint64_t failures = 0;
	if (n == 0)
		return 0;
	qsort(logs, n, sizeof(*logs), cmp_ptr);
	for (uint32_t i = 0; i < n; i++) {
		if (i > 0 && logs[i] == logs[i - 1])
			continue;
		if (plog_sync(logs[i], NULL) != 0)
			failures++;
	}
	return failures;
}

/* Completes requests batch[0..n): syncs, releases the holds, publishes. */
static void run_batch(struct flusher *f, struct flusher_req *batch, uint32_t n)
{
	uint64_t failures = 0;
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++)
		total += batch[i].log_count;
	struct plog **all = total ? malloc(total * sizeof(*all)) : NULL;
	if (all || total == 0) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < n; i++)
			for (uint32_t j = 0; j < batch[i].log_count; j++)
				all[k++] = batch[i].logs[j];
		failures += sync_logs(all, k);
	} else {
		/* Without memory to merge, sync request by request. */
		for (uint32_t i = 0; i < n; i++)
			failures += sync_logs(batch[i].logs, batch[i].log_count);
	}
	free(all);
	struct kv *synced_kv = NULL;
	for (uint32_t i = 0; i < n; i++) {
		struct kv *kv = batch[i].kv;
		if (kv && kv != synced_kv) {
			if (kv_sync(kv) != 0)
				failures++;
			synced_kv = kv;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < batch[i].log_count; j++)
			plog_unhold(batch[i].logs[j]);
		free(batch[i].logs);
	}
	if (failures) {
		LOG_ERROR("storage", "flusher: %llu sync failures", (unsigned long long)failures);
		atomic_fetch_add(&f->failed, failures);
	}
	atomic_store_explicit(&f->completed, batch[n - 1].seq, memory_order_release);
	/* One wake-up covers every request of the batch: the owner reads the
	 * completed sequence, not the number of calls. */
	if (f->notify_cb)
		f->notify_cb(f->arg);
}

static void *flusher_main(void *arg)
{
	struct flusher *f = arg;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (f->count == 0 && !f->stopping)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->count == 0)
			break;
		uint32_t n = f->count;
		for (uint32_t i = 0; i < n; i++)
			f->batch[i] = f->queue[(f->head + i) % FLUSHER_MAX_QUEUED];
		f->head = (f->head + n) % FLUSHER_MAX_QUEUED;
		f->count = 0;
		pthread_mutex_unlock(&f->lock);
		run_batch(f, f->batch, n);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int flusher_start(void (*notify_cb)(void *arg), void *arg, struct flusher **out)
{
	struct flusher *f = calloc(1, sizeof(*f));
	if (!f)
		return RN_E_NOMEM;
	f->notify_cb = notify_cb;
	f->arg = arg;
	atomic_init(&f->completed, 0);
	atomic_init(&f->failed, 0);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	int err = pthread_create(&f->thread, NULL, flusher_main, f);
	if (err) {
		LOG_ERROR("storage", "flusher: cannot start the thread: %s", strerror(err));
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->lock);
		free(f);
		return rn_err_from_errno(err);
	}
	*out = f;
	return 0;
}

void flusher_stop(struct flusher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	RN_ASSERT(f->count == 0);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int64_t flusher_submit(struct flusher *f, struct plog **logs, uint32_t log_count, struct kv *kv)
{
	if (log_count > FLUSHER_MAX_LOGS_PER_REQUEST || (log_count > 0 && !logs))
		return RN_E_INVAL;
	struct plog **copy = NULL;
	if (log_count > 0) {
		copy = malloc(log_count * sizeof(*copy));
		if (!copy)
			return RN_E_NOMEM;
		memcpy(copy, logs, log_count * sizeof(*copy));
	}
	pthread_mutex_lock(&f->lock);
	int64_t rc;
	if (f->stopping) {
		rc = RN_E_CLOSED;
	} else if (f->count == FLUSHER_MAX_QUEUED) {
		rc = RN_E_FULL;
	} else {
		for (uint32_t i = 0; i < log_count; i++)
			plog_hold(copy[i]);
		struct flusher_req *r = &f->queue[(f->head + f->count) % FLUSHER_MAX_QUEUED];
		r->seq = rc = ++f->next_seq;
		r->logs = copy;
		r->log_count = log_count;
		r->kv = kv;
		f->count++;
		copy = NULL;
		pthread_cond_signal(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	free(copy);
	return rc;
}

int64_t flusher_completed(struct flusher *f, uint64_t *failed)
{
	if (failed)
		*failed = atomic_load_explicit(&f->failed, memory_order_acquire);
	return atomic_load_explicit(&f->completed, memory_order_acquire);
}
