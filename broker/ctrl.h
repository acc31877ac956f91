/* ctrl.h: the controller shell: ticks, persists, sends and applies the Raft core and the metadata image. */
#ifndef RUNNEL_BROKER_CTRL_H
#define RUNNEL_BROKER_CTRL_H

/*
 * Every node runs this shell.  A node whose id is in `voters` (it then has
 * the controller role) is a Raft voter; any other node is an observer that
 * pulls the committed log from the leader.  The shell drives raft/raft.h
 * with a libevent timer (NODE_TICK_MS) and handles each Ready in the order
 * the core requires:
 *
 *   raft_store_save into LMDB (snapshot, compaction, truncation, entries,
 *   hard state)  ->  the flusher runs kv_sync  ->  the Ready's messages go to
 *   the peers (broker/peer.h)  ->  a received snapshot replaces the image and
 *   the partition manager reconciles  ->  committed entries are decoded and
 *   applied to the image, and the partition manager follows  ->
 *   raft_advance  ->  every CTRL_SNAPSHOT interval, raft_compact with the
 *   encoded image.
 *
 * On start it loads the snapshot and the log from LMDB and rebuilds the
 * image from them (the snapshot, then every committed entry after it),
 * without opening partition logs until that replay is over.
 *
 * The active controller is the Raft leader once it has applied every entry
 * up to the no-op that started its term: only then does it accept
 * proposals, run the broker lifecycle (controller/lifecycle.h) and, on a
 * new cluster, propose the cluster record.  Elsewhere ctrl_propose and the
 * lifecycle calls answer RN_E_NOT_CONTROLLER, and ctrl_not_controller_why
 * names the leader for the client.
 */

#include "broker/config.h"
#include "controller/lifecycle.h"
#include "controller/metadata.h"
#include "raft/raft.h"
#include "wire/runnel.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node;
struct ctrl;
struct ctrl_waiter;
struct peer;

/* The lifecycle check (fencing expired sessions) runs every this many ticks. */
#define CTRL_LIFECYCLE_TICKS 5u
/* Longest sentence ctrl_not_controller_why writes. */
#define CTRL_WHY_LEN 512u

/* Creates the shell: loads Raft state (raft_store_load_all), creates the
 * core, the image and the voters' peers, and starts ticking.  Returns 0 or
 * a negative code (logged). */
int ctrl_open(struct node *n, struct ctrl **out);

/* Stops ticking, fails every waiter with RN_E_SHUTTING_DOWN, closes the
 * peers and frees.  NULL is fine. */
void ctrl_free(struct ctrl *c);

/* The current image (valid until the next apply). */
const struct meta_image *ctrl_image(const struct ctrl *c);

/* The node id of the Raft leader as this node knows it (the active
 * controller), -1 when unknown. */
int32_t ctrl_leader_id(const struct ctrl *c);

/* True when this node is the active controller (see above). */
bool ctrl_is_active(const struct ctrl *c);

/* True once the metadata log found at start has been replayed. */
bool ctrl_replayed(const struct ctrl *c);

/* The configured address of voter node_id, NULL when it is not a voter. */
const struct config_addr *ctrl_voter_addr(const struct ctrl *c, int32_t node_id);

/* The outbound connection to node_id (voters always have one; other nodes
 * once they have sent a Raft message with their address), NULL if none. */
struct peer *ctrl_peer(struct ctrl *c, int32_t node_id);

/* Writes into why (CTRL_WHY_LEN bytes) the sentence a client gets with
 * NOT_CONTROLLER: the active controller's id and address when known. */
void ctrl_not_controller_why(const struct ctrl *c, char *why);

/*
 * Proposes records as consecutive log entries.  *last_index receives the
 * index of the last one.  TOPIC records are remembered as pending until
 * applied (ctrl_pending_names).  Returns 0, RN_E_NOT_CONTROLLER (not the
 * active controller), RN_E_FULL, RN_E_INVAL or RN_E_NOMEM; records proposed
 * before an error stay proposed.
 */
int ctrl_propose(struct ctrl *c, const struct meta_record *recs, uint32_t count,
		 uint64_t *last_index);

/*
 * Calls cb(arg, 0) once entry `index` is applied to the image, or
 * cb(arg, RN_E_NOT_CONTROLLER) if this node loses leadership first, or
 * cb(arg, RN_E_SHUTTING_DOWN) at shutdown.  cb runs from the loop, never
 * inside this call.  Returns the waiter (for ctrl_wait_cancel) or NULL when
 * out of memory.
 */
struct ctrl_waiter *ctrl_wait_applied(struct ctrl *c, uint64_t index,
				      void (*cb)(void *arg, int err), void *arg);

/* Forgets a waiter whose cb has not run (its request went away). */
void ctrl_wait_cancel(struct ctrl *c, struct ctrl_waiter *w);

/* Names of topics proposed and not yet applied (for create validation).
 * The array is valid until the next ctrl call. */
const char *const *ctrl_pending_names(struct ctrl *c, uint32_t *count);

/*
 * A broker registers (BrokerRegistration, or this node's own broker).
 *   broker_epoch  receives the epoch the broker heartbeats with
 *   wait_index    receives the index of the registration record to wait
 *                 for with ctrl_wait_applied, or 0 when nothing was
 *                 proposed (a retry of the same incarnation)
 *   why           CTRL_WHY_LEN bytes: a sentence for the broker on error
 * Returns 0, RN_E_NOT_CONTROLLER, RN_E_INCONSISTENT_CLUSTER_ID, RN_E_INVAL,
 * RN_E_FULL or RN_E_NOMEM.
 */
int ctrl_broker_register(struct ctrl *c, const struct controller_registration *reg,
			 int64_t *broker_epoch, uint64_t *wait_index, char *why);

/*
 * A broker heartbeats; the records that follow (unfencing, leaders) are
 * proposed and the answer is filled at once, as Kafka does.
 * Returns 0, RN_E_NOT_CONTROLLER, RN_E_STALE_BROKER_EPOCH or RN_E_NOMEM.
 */
int ctrl_broker_heartbeat(struct ctrl *c, const struct controller_heartbeat *hb,
			  struct controller_heartbeat_resp *resp);

/*
 * A RaftMessage request arrived.  Drops it (logged) when it names another
 * cluster or does not decode; learns the sender's address; steps the core.
 * The caller keeps ownership of body.
 */
void ctrl_receive(struct ctrl *c, const Runnel__RaftMessageRequest *body);

/*
 * A partition leader's ISR proposal (AlterPartition) reaches the active
 * controller: validates it (controller_plan_alter_partition) and proposes
 * the PARTITION_CHANGE record.  *index (may be NULL) receives the index to
 * wait for with ctrl_wait_applied, or 0 when there was nothing to change.
 * why (CTRL_WHY_LEN bytes, may be NULL) receives a sentence on error.
 * Returns 0, RN_E_NOT_CONTROLLER, the planner's errors (controller/replication.h)
 * or ctrl_propose's.
 */
int ctrl_alter_partition(struct ctrl *c, int32_t broker_id, int64_t broker_epoch,
			 const uint8_t topic_id[META_TOPIC_ID_LEN], int32_t partition,
			 int32_t leader_epoch, int32_t partition_epoch, const int32_t *new_isr,
			 uint32_t n, uint64_t *index, char *why);

/*
 * InitProducerId reaches the active controller: hands out one producer id
 * (controller_plan_producer_id) and proposes the PRODUCER_IDS record that
 * commits it.  The id may be given to the client only once *index is
 * applied (ctrl_wait_applied).
 *   producer_id  receives the id
 *   index        receives the index of the record
 *   why          CTRL_WHY_LEN bytes: a sentence for the client on error
 * Returns 0, RN_E_NOT_CONTROLLER, RN_E_FULL (ids exhausted) or
 * ctrl_propose's errors.
 */
int ctrl_init_producer_id(struct ctrl *c, int64_t *producer_id, uint64_t *index, char *why);

/* The active controller's lifecycle state, for the replication planners
 * (controller/replication.h); NULL when this node is not active. */
const struct controller_lifecycle *ctrl_lifecycle(const struct ctrl *c);

/* This node's Raft view (valid until the next ctrl call). */
const struct raft_status *ctrl_status(struct ctrl *c);

/* Handles the Ready the turn produced (the node calls it at the end of a
 * turn, before submitting fsyncs). */
void ctrl_pump(struct ctrl *c);

/* The flusher finished the kv_sync this shell asked for; ok false when the
 * fsync failed (the node then stops: Raft state cannot be trusted). */
void ctrl_on_synced(struct ctrl *c, bool ok);

#endif
