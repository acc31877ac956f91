/* replication.h: the controller's partition replication decisions: ISR changes proposed by leaders (AlterPartition) and preferred leader elections. */
#ifndef RUNNEL_CONTROLLER_REPLICATION_H
#define RUNNEL_CONTROLLER_REPLICATION_H

/*
 * Pure functions in the style of controller/controller.h: the shell passes
 * the current image (and, on the active controller, the lifecycle state,
 * which knows of fences proposed but not applied yet) and the request, and
 * gets PARTITION_CHANGE records to propose, or an error with a sentence for
 * the requester.  Nothing takes effect until the records are committed and
 * applied to the image.
 *
 * Records are malloc'd arrays the caller frees with controller_records_free
 * (controller/controller.h); *records is NULL and *count 0 when there is
 * nothing to propose.
 *
 * A record carries partition_epoch + 1 of the partition as the image shows
 * it.  Two changes computed from the same state (say an ISR shrink from the
 * leader and a fence from the lifecycle) race to the log: the first one
 * applied wins and the other is ignored as stale (controller/metadata.h).
 * So a shell that answers after the record is applied must answer with the
 * partition as the image shows it then, not with what it proposed: the
 * requester compares and learns whether its change took effect.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/lifecycle.h"
#include "controller/metadata.h"

/* Preferred leader elections proposed by one automatic check at most, so a
 * check after a long outage of a broker does not flood the metadata log;
 * the next check moves the rest (Kafka's KRaft controller uses 1000). */
#define CONTROLLER_MAX_AUTO_ELECTIONS 1000u

/* Kafka's defaults for leader.imbalance.check.interval.ms and
 * auto.leader.rebalance.enable (the node's settings override them). */
#define CONTROLLER_LEADER_IMBALANCE_CHECK_INTERVAL_MS 300000
#define CONTROLLER_AUTO_LEADER_REBALANCE_ENABLE true

/*
 * Validates an AlterPartition request of a partition leader (Kafka's API 56)
 * and returns the PARTITION_CHANGE record that sets the partition's ISR to
 * new_isr, with partition_epoch + 1 and the leader and leader_epoch
 * unchanged.  The ISR in the record lists the members in the order of the
 * partition's replica list, whatever order the request used.
 * When new_isr equals the current ISR (as a set) there is nothing to change:
 * 0 with no record, and the shell answers with the current partition at
 * once (a retry of a change that was already applied gets that answer).
 *   lc              the active controller's lifecycle, or NULL (image only)
 *   broker_id       the requesting broker; must be the partition's leader
 *   broker_epoch    its broker epoch; must equal the registered one
 *   topic_id        the topic (16 bytes)
 *   partition       the partition number
 *   leader_epoch    the leader epoch the requester leads in
 *   partition_epoch the partition epoch the requester's change starts from
 *   new_isr, n      the proposed ISR (1..RN_MAX_REPLICATION_FACTOR members)
 *   records, count  receive the records (caller frees with controller_records_free)
 *   why, why_len    receive a sentence for the requester on error (may be NULL/0)
 * Returns 0 or, checked in this order:
 *   RN_E_STALE_BROKER_EPOCH          broker_id is not registered with broker_epoch
 *   RN_E_UNKNOWN_TOPIC_OR_PARTITION  no such topic or partition
 *   RN_E_NOT_LEADER_OR_FOLLOWER      broker_id is not the partition's leader,
 *                                    or leader_epoch is above the current one
 *                                    (the requester is ahead of the log it
 *                                    should know: it retries after metadata)
 *   RN_E_FENCED_LEADER_EPOCH         leader_epoch is below the current one
 *   RN_E_INVALID_UPDATE_VERSION      partition_epoch differs from the current one
 *                                    (the requester must read the metadata again)
 *   RN_E_INVALID_REQUEST             new_isr NULL or empty, longer than the
 *                                    replica set, with a duplicate, or without
 *                                    the leader
 *   RN_E_INELIGIBLE_REPLICA          a member that is not a replica of the
 *                                    partition, not registered, fenced, or being
 *                                    fenced (controller_broker_eligible,
 *                                    controller/lifecycle.h)
 *   RN_E_NOMEM
 */
int controller_plan_alter_partition(const struct controller_lifecycle *lc,
				    const struct meta_image *img, int32_t broker_id,
				    int64_t broker_epoch,
				    const uint8_t topic_id[META_TOPIC_ID_LEN], int32_t partition,
				    int32_t leader_epoch, int32_t partition_epoch,
				    const int32_t *new_isr, uint32_t n,
				    struct meta_record **records, uint32_t *count, char *why,
				    size_t why_len);

/* The outcome of a preferred leader election for one partition. */
struct controller_election_result {
	char topic[RN_MAX_TOPIC_NAME_LEN + 1];
	int32_t partition;
	/* 0 (a PARTITION_CHANGE was planned: the preferred replica will lead),
	 * RN_E_ELECTION_NOT_NEEDED (it leads already),
	 * RN_E_PREFERRED_LEADER_NOT_AVAILABLE (it is not eligible or not in the
	 * ISR) or RN_E_UNKNOWN_TOPIC_OR_PARTITION (a partition number the topic
	 * does not have). */
	int error;
};

/*
 * Plans preferred leader elections (Kafka's ElectLeaders API 43 with the
 * PREFERRED type, and the automatic rebalance): for each selected partition
 * whose first replica (the preferred leader) is eligible
 * (controller_broker_eligible in controller/lifecycle.h), in the ISR and not
 * the leader, one PARTITION_CHANGE with that leader, leader_epoch + 1,
 * partition_epoch + 1 and the ISR unchanged.  A partition without a leader
 * is elected as well.
 *   lc          the active controller's lifecycle, or NULL (image only)
 *   topic       the topic's name, or NULL for every topic
 *   partitions, partition_count
 *               the partitions of `topic` to elect; partition_count 0 (and
 *               always when topic is NULL) selects every partition
 *   max_elections  records planned at most (e.g. CONTROLLER_MAX_AUTO_ELECTIONS
 *               for the automatic check; UINT32_MAX for no bound); selected
 *               partitions beyond it get no record and no result
 *   records, count  receive the records (caller frees with controller_records_free)
 *   results, result_count
 *               receive one result per selected partition, in the order of
 *               `partitions` or of the image (malloc'd; the caller frees
 *               them with free); pass results NULL when not wanted (the
 *               automatic check)
 *   why, why_len    receive a sentence on error (may be NULL/0)
 * Returns 0 (per-partition outcomes in results), RN_E_UNKNOWN_TOPIC_OR_PARTITION
 * (topic names no topic), RN_E_INVALID_TOPIC (invalid name), RN_E_INVAL
 * (partitions NULL with partition_count > 0) or RN_E_NOMEM; on error nothing
 * is returned.
 */
int controller_plan_preferred_election(const struct controller_lifecycle *lc,
				       const struct meta_image *img, const char *topic,
				       const int32_t *partitions, uint32_t partition_count,
				       uint32_t max_elections, struct meta_record **records,
				       uint32_t *count, struct controller_election_result **results,
				       uint32_t *result_count, char *why, size_t why_len);

/*
 * True when the automatic preferred leader check is due: enabled, and at
 * least interval_ms since last_check_ms (the time of the previous check, or
 * of becoming the active controller).  interval_ms <= 0 disables the check.
 */
bool controller_preferred_check_due(bool enabled, int64_t interval_ms, int64_t last_check_ms,
				    int64_t now_ms);

#endif
