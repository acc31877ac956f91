/* lifecycle.h: broker registration, heartbeats, fencing and leader election, as the active controller decides them. */
#ifndef RUNNEL_CONTROLLER_LIFECYCLE_H
#define RUNNEL_CONTROLLER_LIFECYCLE_H

/*
 * The broker lifecycle follows Kafka's KRaft mode:
 *
 *   1. A broker starts and registers with the active controller
 *      (controller_broker_register).  The controller gives it a new broker
 *      epoch and proposes a REGISTER_BROKER record that registers it fenced:
 *      it hosts no leaders and gets no new replicas yet.
 *   2. The broker follows the metadata log and heartbeats every
 *      CONTROLLER_HEARTBEAT_INTERVAL_MS with the index of the last metadata
 *      entry it applied (controller_broker_heartbeat).  Once that index
 *      reaches the index of its registration record, it has caught up, and
 *      the controller proposes FENCE_BROKER (fenced false), followed by
 *      PARTITION_CHANGE records that make it leader of leaderless partitions
 *      whose ISR holds it.
 *   3. A broker whose last heartbeat is older than the session timeout is
 *      fenced (controller_lifecycle_tick): FENCE_BROKER (fenced true), and a
 *      PARTITION_CHANGE for each partition it is in: it leaves the ISR (never
 *      below one member: when it is the only member the ISR stays and the
 *      partition has no leader, as in Kafka), and where it led, the first
 *      ISR member that is alive becomes leader with leader_epoch + 1.  When
 *      no ISR member is alive the partition goes offline (leader -1), unless
 *      the topic sets unclean.leader.election.enable=true: then the first
 *      alive replica leads and becomes the whole ISR.
 *
 * Every decision is a list of records the shell proposes to Raft; nothing
 * takes effect until the records are committed and applied to the image.
 * The partition decisions are recomputed from the image on every tick, so a
 * lost proposal is made again, and one proposed twice is harmless: the
 * image ignores a PARTITION_CHANGE computed from an older partition epoch.
 *
 * The state here is volatile and belongs to the active controller only: a
 * controller that becomes leader calls controller_lifecycle_reset once it
 * has applied its whole log, and every registered broker then gets a fresh
 * session starting at that moment, so a leader change never fences a
 * healthy broker.
 *
 * Pure: time arrives as now_ms (any monotonic millisecond clock).  Records
 * returned are malloc'd arrays the caller frees with controller_records_free
 * (controller/controller.h); *records is NULL and *count 0 when there is
 * nothing to propose.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/metadata.h"

/* Kafka's defaults: broker.heartbeat.interval.ms and broker.session.timeout.ms. */
#define CONTROLLER_HEARTBEAT_INTERVAL_MS 2000
#define CONTROLLER_SESSION_TIMEOUT_MS 9000
/* A fence or unfence proposed but not seen in the image after this long is
 * proposed again (the proposal was lost, for example with a leader change). */
#define CONTROLLER_PROPOSAL_RETRY_MS 3000

struct controller_lifecycle;

/*
 * Creates the lifecycle state with no brokers known.
 *   session_timeout_ms  > 0; CONTROLLER_SESSION_TIMEOUT_MS as in Kafka
 *   out                 receives the state (free with controller_lifecycle_free)
 * Returns 0, RN_E_INVAL (session_timeout_ms <= 0) or RN_E_NOMEM.
 */
int controller_lifecycle_new(int64_t session_timeout_ms, struct controller_lifecycle **out);
void controller_lifecycle_free(struct controller_lifecycle *lc);

/*
 * Starts a new term of leadership: forgets every pending proposal (broker
 * records and producer ids) and gives each broker registered in img a fresh
 * session starting at now_ms.
 * Returns 0 or RN_E_NOMEM.
 */
int controller_lifecycle_reset(struct controller_lifecycle *lc, const struct meta_image *img,
			       int64_t now_ms);

/* What a broker sends when it registers. */
struct controller_registration {
	int32_t node_id;                                 /* 0..META_MAX_NODE_ID */
	uint8_t incarnation_id[META_INCARNATION_ID_LEN]; /* random, new at each start */
	const char *cluster_id; /* the broker's; must equal the image's */
	const char *host;       /* the address clients use */
	int32_t port;
	const char *rack; /* NULL or "" when none */
	const struct meta_endpoint *endpoints; /* every listener (may be NULL) */
	uint32_t endpoint_count;               /* <= META_MAX_ENDPOINTS */
};

/*
 * Registers a broker.  A new incarnation gets a new broker epoch, above
 * every epoch given before, and a REGISTER_BROKER record with fenced true;
 * a retry of the same incarnation (registered or still pending) gets its
 * epoch again and no record.  The broker's session starts at now_ms.
 *   broker_epoch    receives the epoch the broker uses in its heartbeats
 *   records, count  receive the records to propose
 *   why, why_len    receive a sentence for the broker on error (may be NULL/0)
 * Returns 0, RN_E_INCONSISTENT_CLUSTER_ID (cluster ids differ), RN_E_INVAL
 * (node id, host, port, rack or endpoints out of range, or the cluster
 * already has RN_MAX_NODES brokers) or RN_E_NOMEM.
 */
int controller_broker_register(struct controller_lifecycle *lc, const struct meta_image *img,
			       const struct controller_registration *reg, int64_t now_ms,
			       int64_t *broker_epoch, struct meta_record **records,
			       uint32_t *count, char *why, size_t why_len);

/* What a broker sends in each heartbeat. */
struct controller_heartbeat {
	int32_t node_id;
	int64_t broker_epoch;     /* from its registration */
	uint64_t metadata_offset; /* the last metadata log index it applied */
	bool want_shut_down;      /* it is stopping: fence it first */
};

/* The answer, describing the broker once the returned records are applied. */
struct controller_heartbeat_resp {
	bool is_caught_up;     /* metadata_offset reached its registration */
	bool is_fenced;        /* it may not lead or be placed on */
	bool should_shut_down; /* it asked to stop and is now fenced */
};

/*
 * Records a heartbeat: the broker's session restarts at now_ms.  A fenced
 * broker that has caught up is unfenced (FENCE_BROKER fenced false) and
 * made leader of the leaderless partitions whose ISR holds it.  A broker
 * that wants to shut down is fenced (as on a missed session) and told to
 * shut down once the image shows it fenced.
 *   resp            receives the answer
 *   records, count  receive the records to propose
 * Returns 0, RN_E_STALE_BROKER_EPOCH (the broker is not registered, or with
 * another epoch: it must register again) or RN_E_NOMEM.
 */
int controller_broker_heartbeat(struct controller_lifecycle *lc, const struct meta_image *img,
				const struct controller_heartbeat *hb, int64_t now_ms,
				struct controller_heartbeat_resp *resp,
				struct meta_record **records, uint32_t *count);

/*
 * The periodic check (every few hundred milliseconds): fences the brokers
 * whose session expired, and proposes the partition changes that follow
 * from the fenced brokers (ISR shrink, new leaders, offline partitions) and
 * leaders for leaderless partitions that have an alive ISR member.
 *   records, count  receive the records to propose
 * Returns 0 or RN_E_NOMEM.
 */
int controller_lifecycle_tick(struct controller_lifecycle *lc, const struct meta_image *img,
			      int64_t now_ms, struct meta_record **records, uint32_t *count);

/*
 * Hands out one producer id (InitProducerId) and returns the PRODUCER_IDS
 * record that commits it: next_producer_id = *producer_id + 1.  The id is
 * the image's next id, or above every id this controller handed out since
 * its last controller_lifecycle_reset when those records are not applied
 * yet, so two requests planned before either commits never get the same
 * id.  An id whose record is lost (leadership moved before it committed)
 * is handed out again by the next controller: the client never got it,
 * because the answer waits for the commit.
 *   producer_id     receives the id (0..META_MAX_PRODUCER_ID)
 *   records, count  receive the one record to propose
 *   why, why_len    receive a sentence for the client on error (may be NULL/0)
 * Returns 0, RN_E_FULL (every id up to META_MAX_PRODUCER_ID has been
 * handed out) or RN_E_NOMEM.
 */
int controller_plan_producer_id(struct controller_lifecycle *lc, const struct meta_image *img,
				int64_t *producer_id, struct meta_record **records,
				uint32_t *count, char *why, size_t why_len);

/*
 * True when broker node_id may be in an ISR or lead: it is registered and
 * unfenced in img, and the lifecycle lc (NULL: the image alone) has not
 * proposed to fence it (a controlled shutdown or an expired session) or
 * seen it register a new incarnation not applied yet.
 */
bool controller_broker_eligible(const struct controller_lifecycle *lc,
				const struct meta_image *img, int32_t node_id);

#endif
