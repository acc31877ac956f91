/* log_retention.h: deleting old log segments under the topics' retention settings. */
#ifndef RUNNEL_BROKER_LOG_RETENTION_H
#define RUNNEL_BROKER_LOG_RETENTION_H

/*
 * Every log.retention.check.interval.ms the node applies retention to each
 * partition it hosts (leader and follower replicas alike, each on its own
 * copy) whose topic's cleanup.policy includes delete: plog_apply_retention
 * with the topic's retention.ms and retention.bytes, never past the
 * partition's high watermark, so nothing a consumer has not been able to
 * read is deleted.  What goes is logged at INFO.  The work of one check is
 * bounded; a check that reaches the bound runs again soon for the rest.
 *
 * A follower also follows its leader's log start offset (fetch answers
 * carry it): it deletes its own whole segments below it, and when its whole
 * log is older than the leader's start (the leader answered
 * OFFSET_OUT_OF_RANGE), it restarts its log, empty, at the leader's start.
 *
 * Everything runs on the node's loop thread.  Deletion never disturbs a
 * reader: a fetch being answered holds its segment's files open, and a
 * fetch at an offset below the new start is answered OFFSET_OUT_OF_RANGE.
 */

#include <stdbool.h>
#include <stdint.h>

struct node;
struct partition;
struct log_retention;

/* Segments one check deletes at most, over all partitions (each deletion
 * renames and unlinks three files and fsyncs the directory once per
 * partition, on the loop thread). */
#define LOG_RETENTION_MAX_SEGMENTS_PER_CHECK 256u
/* ... and per partition, so that one large backlog does not starve the
 * others of a check. */
#define LOG_RETENTION_MAX_SEGMENTS_PER_PARTITION 64u
/* A check that hit its bound runs again after this long, not after the
 * whole interval. */
#define LOG_RETENTION_BACKLOG_DELAY_MS 100
/* Segments a follower deletes at most per fetch answer to follow its
 * leader's log start offset. */
#define LOG_RETENTION_FOLLOW_MAX_SEGMENTS 64u

/*
 * Starts the periodic check on the node's loop, the first one after
 * log.retention.check.interval.ms.  Returns 0 and *out (freed by
 * log_retention_free), or RN_E_NOMEM.
 */
int log_retention_new(struct node *n, struct log_retention **out);

/* Stops the check and frees it (NULL is ignored). */
void log_retention_free(struct log_retention *lr);

/*
 * Runs one check at wall-clock time now_ms, deleting at most max_segments
 * segments in all.  Returns the number deleted.
 */
uint32_t log_retention_check(struct node *n, int64_t now_ms, uint32_t max_segments);

/*
 * A follower's fetch answer from its leader carried the leader's log start
 * offset leader_start (-1 when unknown) and error err (0 or the
 * partition's error).  Moves p's log start forward as described above.
 * Returns true when the answer is fully handled (the log restarted at the
 * leader's start, or is being emptied towards it): its records and error
 * must then be ignored and the partition fetched again at once.
 */
bool log_retention_follow_leader(struct partition *p, int64_t leader_start, int err);

#endif
