/* flusher.h: a background thread that makes writes durable, in batches. */
#ifndef RUNNEL_STORAGE_FLUSHER_H
#define RUNNEL_STORAGE_FLUSHER_H

/*
 * The event loop never waits on fsync.  Once per loop turn it hands the
 * flusher the logs (and the LMDB environment) written since the last turn;
 * the flusher syncs them on its own thread and then calls notify_cb, from
 * that thread, so the loop can wake up and collect the results with
 * flusher_poll.  Requests complete in submission order.  This batches fsyncs
 * (group commit): many produce requests share one fsync per partition.
 */

#include <stdint.h>

struct flusher;
struct plog;
struct kv;

/* notify_cb (may be NULL) runs on the flusher thread after requests complete,
 * once for all the requests synced together; it must only wake the owner
 * (for example event_active on a libevent event). */
int flusher_start(void (*notify_cb)(void *arg), void *arg, struct flusher **out);

/* Stops the thread after finishing queued requests and frees the flusher. */
void flusher_stop(struct flusher *f);

/*
 * Queues one request: sync each log (plog_hold is taken here and released
 * after the sync) and, if kv is not NULL, the LMDB environment.  Returns the
 * request's sequence number (increasing from 1) or a negative error:
 * RN_E_FULL (FLUSHER_MAX_QUEUED requests waiting), RN_E_INVAL (too many logs,
 * or logs NULL with log_count > 0), RN_E_NOMEM.
 */
int64_t flusher_submit(struct flusher *f, struct plog **logs, uint32_t log_count, struct kv *kv);

/*
 * Returns the highest sequence number completed so far, and in *failed the
 * number of sync failures seen since start (a failed fsync means the data may
 * not be durable: the owner must not acknowledge it).  Safe to call from the
 * owner thread at any time.
 */
int64_t flusher_completed(struct flusher *f, uint64_t *failed);

#endif
