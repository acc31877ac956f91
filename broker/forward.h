/* forward.h: a broker passes its clients' controller requests on to the active controller. */
#ifndef RUNNEL_BROKER_FORWARD_H
#define RUNNEL_BROKER_FORWARD_H

/*
 * Only the active controller can answer CreateTopics, DeleteTopics,
 * IncrementalAlterConfigs, ElectLeaders and InitProducerId.  A client that reaches only brokers (dedicated controllers
 * on a network the client cannot see) still administers the cluster,
 * because a broker that is not the active controller forwards such a request
 * over its peer connection to the quorum leader (broker/peer.h), and answers
 * the client with the leader's response under the client's correlation id.
 *
 * The forwarded request is the client's, with header.forwarded_listener set
 * to the listener the client's connection arrived on: the controller answers
 * with addresses for that listener (listener.h), and never forwards a
 * forwarded request again, so a request crosses at most one hop.  The
 * node-internal controller APIs (BrokerRegistration, BrokerHeartbeat,
 * AlterPartition, RaftMessage) are never forwarded: brokers send them to the
 * controller themselves.
 *
 * Forwarding is bounded: at most FORWARD_MAX_IN_FLIGHT requests wait for the
 * controller at once on a node.  Over that bound, or when no quorum leader is
 * known or no connection to it can be queued, the request is answered here,
 * which for a controller API is NOT_CONTROLLER, as a client retries.
 */

#include <stdbool.h>
#include <stdint.h>

struct req;

/* Forwarded requests waiting for the controller's answer, per node. */
#define FORWARD_MAX_IN_FLIGHT 32u
/* A forwarded request waits for the controller as long as the request's own
 * timeout_ms (the controller's wait for its records to apply) plus this. */
#define FORWARD_TIMEOUT_SLACK_MS 5000
/* A forwarded DescribeQuorum commits nothing: one not answered this fast is
 * answered from this node's own view instead. */
#define FORWARD_QUORUM_TIMEOUT_MS 1500

/* How the request is answered when the controller gives no answer. */
enum forward_fallback {
	/* The request may have been acted on (a create or delete): the client
	 * gets REQUEST_TIMED_OUT or NETWORK_EXCEPTION and retries, unless it
	 * was never sent (RN_E_CONNECT), when the local handler answers. */
	FORWARD_FAIL_UNKNOWN,
	/* A read: the local handler answers whatever went wrong. */
	FORWARD_ANSWER_LOCALLY,
};

/*
 * Forwards r to node `to` and parks it; the response is relayed when it
 * comes.  local is the handler that answers r on this node if the forward
 * fails (it is then called with r marked no_forward).  timeout_ms bounds the
 * wait.  Returns true when r was forwarded (the caller must not touch it
 * again), false when it could not be (no peer connection to `to`, the
 * bound reached, the output queue full): the caller answers r itself.
 */
bool forward_request(struct req *r, int32_t to, int32_t timeout_ms, void (*local)(struct req *r),
		     enum forward_fallback fallback);

/*
 * The gate of the controller APIs' handlers: when this node has the broker
 * role, is not the active controller, r may be forwarded (it was not
 * forwarded to this node) and a quorum leader other than this node is
 * known, forwards r to it with the request's own timeout_ms (0 or less:
 * NODE_DEFAULT_ADMIN_TIMEOUT_MS) and returns true.  Otherwise returns false
 * and the handler answers r itself.
 */
bool forward_controller_request(struct req *r, int32_t requested_timeout_ms,
				void (*local)(struct req *r));

#endif
