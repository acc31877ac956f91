/* client.h: the core shared by producer, consumer and admin: brokers, metadata cache, connections, requests. */
#ifndef RUNNEL_CLIENTS_CLIENT_H
#define RUNNEL_CLIENTS_CLIENT_H

/*
 * A client knows the bootstrap addresses, the brokers and partition leaders
 * from the last Metadata response, and keeps one connection per node.  All
 * I/O happens inside client_poll (and the synchronous helpers, which call
 * it), on the caller's thread.
 */

#include <stddef.h>
#include <stdint.h>

#include "clients/conn.h"
#include "clients/runnel.h"
#include "common/limits.h"
#include "wire/runnel.pb-c.h"

/* Bootstrap entries get connection ids below this, so that they never
 * collide with node ids (which are >= 0). */
#define CLIENT_BOOTSTRAP_ID_BASE (-2)

/* How long a request to "any node" waits for one node before it tries the
 * next, on the first pass over the candidates; each later pass doubles it.
 * A stopped process accepts connections but never answers, so without this
 * bound one such node in the bootstrap list would use up the whole
 * metadata timeout. */
#define CLIENT_NODE_ATTEMPT_TIMEOUT_MS 2000

/* Admin requests follow the active controller: after NOT_CONTROLLER or a
 * lost connection they refresh metadata and try again, waiting
 * CLIENT_ADMIN_BACKOFF_MS, doubled per attempt up to
 * CLIENT_ADMIN_BACKOFF_MAX_MS, at most CLIENT_ADMIN_MAX_ATTEMPTS times and
 * never past the caller's deadline.  Elections take from a few hundred
 * milliseconds to a few seconds, which these values cover. */
#define CLIENT_ADMIN_MAX_ATTEMPTS 20
#define CLIENT_ADMIN_BACKOFF_MS 100
#define CLIENT_ADMIN_BACKOFF_MAX_MS 1600
/* One attempt at the controller waits at most this long for its answer, so
 * that a controller that stopped without closing its connections costs one
 * attempt rather than the whole deadline.  A healthy quorum commits in
 * milliseconds. */
#define CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS 5000

struct client_address {
	char host[RN_MAX_ADDRESS_LEN + 1];
	int port;
};

struct client_broker {
	int32_t node_id;
	struct client_address addr;
	int fenced; /* the controller fenced it: probably down, asked last */
	char rack[RUNNEL_MAX_RACK_LEN + 1]; /* "" when none (or too long to use) */
};

struct client_partition {
	int32_t partition;
	int32_t error; /* negative code, 0 when fine */
	int32_t leader; /* -1: none */
	int32_t leader_epoch;
	/* The first RN_MAX_REPLICATION_FACTOR replicas and in-sync replicas
	 * the metadata listed (a node never lists more). */
	int32_t replicas[RN_MAX_REPLICATION_FACTOR];
	size_t replica_count;
	int32_t isr[RN_MAX_REPLICATION_FACTOR];
	size_t isr_count;
};

struct client_topic {
	char *name;
	int32_t error; /* negative code, 0 when fine */
	int32_t partition_count;
	struct client_partition *partitions; /* indexed by partition number */
};

struct client {
	struct runnel_client_config cfg; /* strings point to the copies below */
	char *client_id;
	struct client_address *bootstrap;
	size_t bootstrap_count;
	struct client_broker *brokers;
	size_t broker_count;
	int32_t controller_id;
	/* The address of a node learned outside the broker list (a
	 * controller-only node named by a NOT_CONTROLLER message or by
	 * DescribeQuorum); node_id -1 when none. */
	struct client_broker hint;
	struct client_topic *topics;
	size_t topic_count;
	struct conn **conns;
	size_t conn_count;
	void *pollfds; /* struct pollfd[conn_count], reused */
	int32_t next_correlation_id;
	/* Bumped each time a metadata response updates the cache. */
	uint64_t metadata_version;
	int metadata_inflight; /* an asynchronous refresh is waiting */
	int interrupted; /* poll() returned EINTR (a signal arrived) */
	int last_error;
	char errmsg[1024];
};

/*
 * Parses "host:port[,host:port...]" into addrs (at most max entries).
 * IPv6 hosts are written in brackets: "[::1]:9092".  Returns the number of
 * entries (>= 1) or RN_E_INVAL.
 */
int client_parse_bootstrap(const char *list, struct client_address *addrs, size_t max);

/* Copies cfg (filling zero fields with defaults) and parses the bootstrap
 * list.  Returns 0, RN_E_INVAL (with c->errmsg set) or RN_E_NOMEM. */
int client_init(struct client *c, const struct runnel_client_config *cfg);
void client_destroy(struct client *c);

/* Records err and a message (printf format) as the last error; returns err. */
int client_fail(struct client *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records err with the node's error_message if it sent one, otherwise the
 * standard message for err.  Returns err. */
int client_fail_wire(struct client *c, int err, const char *node_message, const char *context);

/* The connection to node_id (created on first use), or NULL when the node
 * is not in the last metadata. */
struct conn *client_conn(struct client *c, int32_t node_id);

/* Fills req->header (api_key, correlation id, client id) and queues req on
 * cn, expecting a response within request_timeout_ms unless cb is NULL.
 * Returns as conn_send. */
int client_send(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
		conn_response_cb cb, void *opaque);

/* As client_send, but large byte strings of req are written from where they
 * are, not copied (see conn_send_ref): the caller keeps them unchanged until
 * cb runs.  cb must not be NULL. */
int client_send_ref(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
		    conn_response_cb cb, void *opaque);

/* As client_send, with the answer handed to cb undecoded (see conn_raw_cb). */
int client_send_raw(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
		    conn_raw_cb cb, void *opaque);

/* As client_send, with the response due by deadline_ms (monotonic) instead
 * of request_timeout_ms from now. */
int client_send_until(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
		      int64_t deadline_ms, conn_response_cb cb, void *opaque);

/* Waits up to timeout_ms for socket events and handles them (responses
 * call their callbacks), then enforces request timeouts.  Returns 0; sets
 * c->interrupted when a signal cut the wait short. */
int client_poll(struct client *c, int timeout_ms);

/* Sends req to node_id and waits up to timeout_ms for the response, which
 * the caller owns (runnel__response__free_unpacked).  Returns 0, the
 * response's top-level error, a connection error, or
 * RN_E_BROKER_NOT_AVAILABLE for an unknown node. */
int client_request_sync(struct client *c, int32_t node_id, Runnel__Request *req, int32_t api_key,
			Runnel__Response **out, int timeout_ms);

/* As client_request_sync, but a connection that fails (or is waiting to
 * reconnect after a failure) fails the call at once instead of being
 * retried: for callers that have somewhere else to go. */
int client_request_once_sync(struct client *c, int32_t node_id, Runnel__Request *req,
			     int32_t api_key, Runnel__Response **out, int timeout_ms);

/* As client_request_sync, to any node that answers: known brokers first,
 * then the bootstrap list, moving on when a connection fails. */
int client_request_any_sync(struct client *c, Runnel__Request *req, int32_t api_key,
			    Runnel__Response **out, int timeout_ms);

/*
 * Asks for metadata of topics[0..n) (all topics when all is set) and updates
 * the broker list, the controller id and the cached topics.  When keep is not
 * NULL the response is handed to the caller instead of being freed.
 * Returns 0 or a connection error; per-topic errors are in the cache.
 */
int client_metadata_refresh(struct client *c, const char *const *topics, size_t n, int all,
			    Runnel__Response **keep);

/*
 * Starts a metadata request for topics[0..n) without waiting: the response
 * updates the cache (and metadata_version) from inside client_poll.  Does
 * nothing while one is already in flight.  Returns 0 (sent, or already in
 * flight), or RN_E_AGAIN when no node can take a request right now.  The
 * topic names are copied into the request before this returns.
 */
int client_metadata_refresh_async(struct client *c, const char *const *topics, size_t n);

/*
 * Sends req without waiting to the first node that can take a request now
 * (known brokers first, nodes known to be failing last, then the bootstrap
 * list); its answer, due within timeout_ms, reaches cb from inside
 * client_poll.  Returns 0, or RN_E_AGAIN when no node can take a request
 * right now (the caller tries again later).
 */
int client_send_any_async(struct client *c, Runnel__Request *req, int32_t api_key,
			  int32_t timeout_ms, conn_response_cb cb, void *opaque);

/*
 * Reads the active controller out of a NOT_CONTROLLER message such as
 * "node 2 is not the active controller; the active controller is node 3 at
 * 10.0.0.3:9093".  Sets *id, and *addr with *has_addr = 1 when the message
 * gives an address.  Returns 0, or RN_E_NOT_FOUND when the message names no
 * controller (for example while an election is running).
 */
int client_parse_controller_hint(const char *msg, int32_t *id, struct client_address *addr,
				 int *has_addr);

/* Remembers host:port as the address of node id when the broker list does
 * not have it (controller-only nodes are not brokers).  Ignores bad input. */
void client_learn_address(struct client *c, int32_t id, const char *host, int port);

/* True for the errors after which an admin request is sent again to the
 * (possibly new) active controller: NOT_CONTROLLER and connection trouble. */
int client_admin_retriable(int err);

/* The wait before retrying an admin request that failed with err on attempt
 * number attempt (0 for the first), or -1 when it must not be retried: err
 * is final, the attempts are used up, or the wait would pass deadline_ms. */
int64_t client_admin_retry_delay_ms(int err, int attempt, int64_t now_ms, int64_t deadline_ms);

/*
 * One attempt at the active controller: learns it from metadata when it is
 * not known, then sends req and waits until deadline_ms (at most
 * CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS).  Returns as client_request_sync, or
 * RN_E_NOT_CONTROLLER while no controller is known (an election is running).
 */
int client_controller_attempt(struct client *c, Runnel__Request *req, int32_t api_key,
			      Runnel__Response **out, int64_t deadline_ms);

/* After a NOT_CONTROLLER answer carrying msg: remembers the controller the
 * message names (and its address) so that the next attempt goes straight
 * there, or forgets the controller so that it is looked up again. */
void client_follow_not_controller(struct client *c, const char *msg);

/* The cached metadata of a topic, or NULL. */
const struct client_topic *client_topic_find(const struct client *c, const char *name);

/* The leader of topic/partition from the cache, or -1. */
int32_t client_leader(const struct client *c, const char *topic, int32_t partition);

/*
 * The node a consumer in rack should fetch cp from (pure, no I/O): the
 * leader, unless rack is set (not NULL or ""), the leader is not in that
 * rack, and an in-sync replica other than avoid is: then the first such
 * replica in replica order that brokers[0..n) lists as unfenced and in that
 * rack.  Returns -1 when the partition has no leader.
 */
int32_t client_choose_read_replica(const struct client_partition *cp,
				   const struct client_broker *brokers, size_t n, const char *rack,
				   int32_t avoid);

/*
 * Sends req to the coordinator of group (FindCoordinator first), finding it
 * again and retrying while it moves or loads, for up to
 * RUNNEL_GROUP_COORDINATOR_WAIT_MS.  check (may be NULL) returns the
 * error inside the answer's body.  Returns 0 with *out set (the caller
 * frees it) and *node (may be NULL) set to the coordinator, or the error.
 */
int client_group_call(struct client *c, const char *group, Runnel__Request *req, int32_t api_key,
		      int (*check)(const Runnel__Response *), Runnel__Response **out, int32_t *node);

/* An admin client is a client core and nothing more; admin.c and
 * admin_cluster.c share this definition. */
struct runnel_admin {
	struct client client;
};

#endif
