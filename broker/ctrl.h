/* ctrl.h: the controller shell: ticks, persists and applies the Raft core and the metadata image. */
#ifndef RUNNEL_BROKER_CTRL_H
#define RUNNEL_BROKER_CTRL_H

/*
 * The shell drives raft/raft.h with a libevent timer (NODE_TICK_MS) and
 * handles each Ready in the order the core requires:
 *
 *   raft_store_save into LMDB  ->  the flusher runs kv_sync  ->  (messages
 *   would be sent here; a single voter has none)  ->  committed entries are
 *   decoded and applied to the metadata image, and the partition manager
 *   follows  ->  raft_advance.
 *
 * On start it loads the Raft state from LMDB and re-applies every committed
 * entry from index 1 (there are no snapshots yet), without opening partition
 * logs until the replay is over.  Then, as leader, it proposes the cluster
 * record (first start only) and this broker's registration, and once they
 * are applied it calls node_on_ready so the listener starts.
 *
 * Proposals come from request handlers (CreateTopics, DeleteTopics); a
 * handler waits for its last record to be applied with ctrl_wait_applied.
 */

#include "controller/metadata.h"

#include <stdbool.h>
#include <stdint.h>

struct node;
struct ctrl;
struct ctrl_waiter;

/* Creates the shell: loads Raft state (raft_store_load), creates the core
 * and the image and starts ticking.  Returns 0 or a negative code (logged). */
int ctrl_open(struct node *n, struct ctrl **out);

/* Stops ticking, fails every waiter with RN_E_SHUTTING_DOWN and frees. */
void ctrl_free(struct ctrl *c);

/* The current image (valid until the next apply). */
const struct meta_image *ctrl_image(const struct ctrl *c);

/* The node id of the Raft leader (the active controller), -1 when unknown. */
int32_t ctrl_leader_id(const struct ctrl *c);

/*
 * Proposes records as consecutive log entries.  *last_index receives the
 * index of the last one.  TOPIC records are remembered as pending until
 * applied (ctrl_pending_names).  Returns 0, RN_E_NOT_CONTROLLER, RN_E_FULL,
 * RN_E_INVAL or RN_E_NOMEM; records proposed before an error stay proposed.
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

/* Handles the Ready the turn produced (the node calls it at the end of a
 * turn, before submitting fsyncs). */
void ctrl_pump(struct ctrl *c);

/* The flusher finished the kv_sync this shell asked for; ok false when the
 * fsync failed (the node then stops: Raft state cannot be trusted). */
void ctrl_on_synced(struct ctrl *c, bool ok);

#endif
