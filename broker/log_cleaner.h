/* log_cleaner.h: the node's log cleaner: compaction of compacted topics' partitions on a thread. */
#ifndef RUNNEL_BROKER_LOG_CLEANER_H
#define RUNNEL_BROKER_LOG_CLEANER_H

/*
 * With log.cleaner.enable, one cleaner thread per node compacts, one at a
 * time, the partitions it hosts (leader and follower replicas alike, each
 * its own copy) whose topic's cleanup.policy includes compact.  Every
 * log.cleaner.backoff.ms, and at once after a cleaning that did work, the
 * loop picks the dirtiest partition whose dirty ratio (bytes of closed
 * segments past the cleaner checkpoint over bytes of all closed segments)
 * is at least its topic's min.cleanable.dirty.ratio, takes a reference on
 * it and hands the job to the thread (plog_clean_run); the thread wakes the
 * loop, which swaps the cleaned segments in (plog_clean_finish) and logs
 * the result at INFO.  A partition removed or re-created meanwhile has its
 * job dropped.  Stopping the node aborts a running job and joins the
 * thread.
 */

struct node;
struct log_cleaner;

/* Starts the thread and the periodic check (nothing when
 * log.cleaner.enable is false: *out is NULL).  0, RN_E_NOMEM or RN_E_IO. */
int log_cleaner_new(struct node *n, struct log_cleaner **out);

/* Aborts the running job, joins the thread and frees (NULL is ignored). */
void log_cleaner_free(struct log_cleaner *lc);

#endif
