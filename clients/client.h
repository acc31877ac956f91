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

struct client_address {
	char host[RN_MAX_ADDRESS_LEN + 1];
	int port;
};

struct client_broker {
	int32_t node_id;
	struct client_address addr;
};

struct client_partition {
	int32_t partition;
	int32_t error; /* negative code, 0 when fine */
	int32_t leader; /* -1: none */
	int32_t leader_epoch;
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

/* The cached metadata of a topic, or NULL. */
const struct client_topic *client_topic_find(const struct client *c, const char *name);

/* The leader of topic/partition from the cache, or -1. */
int32_t client_leader(const struct client *c, const char *topic, int32_t partition);

#endif
