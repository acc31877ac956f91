/* member.h: this node's broker as a member of the cluster: registration with the active controller and heartbeats. */
#ifndef RUNNEL_BROKER_MEMBER_H
#define RUNNEL_BROKER_MEMBER_H

/*
 * Every node with the broker role runs one member, as a Kafka broker does
 * in KRaft mode:
 *
 *   1. Once the node has replayed its metadata and knows the cluster id, it
 *      sends BrokerRegistration (its id, a random incarnation id chosen at
 *      start, every listener's advertised address, the inter-node one
 *      first, and its rack) to the active controller.
 *      The controller is the Raft leader this node knows, or else the
 *      voters in turn; a NOT_CONTROLLER answer names the one to try next.
 *      Attempts back off from MEMBER_BACKOFF_MIN_MS to MEMBER_BACKOFF_MAX_MS.
 *      When the active controller is this node, the call is local.
 *   2. Registered, it heartbeats every broker.heartbeat.interval.ms with the
 *      last metadata index it applied, and at once when it has just caught
 *      up with its own registration record (so a restarted broker is
 *      unfenced without waiting a whole interval).  STALE_BROKER_EPOCH sends
 *      it back to step 1.
 *   3. On SIGTERM or SIGINT, a controlled shutdown (member_begin_shutdown).
 *
 * The controller's decisions (fenced or not, leaders) arrive through the
 * metadata log like every other change; the heartbeat answers only pace
 * this loop.
 */

#include <stdbool.h>
#include <stdint.h>

struct node;
struct member;

#define MEMBER_BACKOFF_MIN_MS 100
#define MEMBER_BACKOFF_MAX_MS 2000
/* How long a registration or heartbeat call may take before it is retried. */
#define MEMBER_CALL_TIMEOUT_MS 5000
/* During a controlled shutdown, heartbeats asking to shut down go this often
 * until the controller has fenced the broker. */
#define MEMBER_SHUTDOWN_POLL_MS 200

/* Creates the member (idle until member_start).  Returns 0 or RN_E_NOMEM. */
int member_new(struct node *n, struct member **out);

/* Cancels calls in flight and frees.  NULL is fine. */
void member_free(struct member *m);

/* The node replayed its metadata: start registering. */
void member_start(struct member *m);

/* The node applied metadata: heartbeat early when that caught it up. */
void member_on_metadata(struct member *m);

/*
 * Begins a controlled shutdown, as a Kafka broker does: heartbeats now carry
 * want_shut_down (every MEMBER_SHUTDOWN_POLL_MS), and the active controller
 * fences the broker and moves its leaderships to other in-sync replicas.
 * When this node's image shows the broker fenced and leading no partition,
 * the member calls node_on_drained.  Works the same when this node is the
 * active controller (the heartbeat is then a local call).
 * Returns true when the node should wait for that, false when there is
 * nothing to wait for (not registered yet, or already fenced and leading
 * nothing): the caller then stops at once.
 */
bool member_begin_shutdown(struct member *m);

/* True while registered with the current broker epoch. */
bool member_registered(const struct member *m);

#endif
