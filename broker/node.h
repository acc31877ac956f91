/* node.h: the node: its event loop, durable state, flush scheduling and start-up/shutdown. */
#ifndef RUNNEL_BROKER_NODE_H
#define RUNNEL_BROKER_NODE_H

/*
 * One node runs one libevent loop on one thread, plus the flusher thread.
 * struct node ties the modules of runneld together:
 *
 *   server.c     listener and connection count
 *   conn.c       one client connection: framing, ordered responses, back-pressure
 *   ctrl.c       the controller shell around raft/ and controller/
 *   partition.c  the partitions this node hosts, with their waiting requests
 *   h_*.c        one file per API
 *
 * Work that must happen once per loop turn (submitting fsyncs, answering
 * fetches that became ready, freeing closed connections) is queued with the
 * node_defer_* functions and done by the turn event, which libevent runs
 * after the callbacks of the current turn because it is activated from them.
 */

#include "broker/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct event;
struct evdns_base;
struct kv;
struct flusher;
struct server;
struct ctrl;
struct pmgr;
struct partition;
struct conn;
struct fetch_wait;
struct member;
struct fetcher;
struct log_retention;
struct log_cleaner;
struct repl;
struct coord;

/* Tuning constants of the node (the hard limits are in common/limits.h). */

/* Controller tick: Raft elections and heartbeats count these. */
#define NODE_TICK_MS 100
#define NODE_ELECTION_TICKS 10
#define NODE_HEARTBEAT_TICKS 1
/* CreateTopics/DeleteTopics wait this long when the request gives no timeout,
 * and at most RN_MAX_PRODUCE_TIMEOUT_MS. */
#define NODE_DEFAULT_ADMIN_TIMEOUT_MS 30000
/* A connection that must be closed after an error response gets this long to
 * take the response before it is dropped. */
#define NODE_CLOSE_LINGER_MS 5000
/* After the listener fails to accept (out of file descriptors), it pauses so
 * the loop does not spin. */
#define NODE_ACCEPT_RETRY_MS 1000
/* Fetch: bytes a partition returns when the request gives no
 * partition_max_bytes. */
#define NODE_DEFAULT_PARTITION_FETCH_BYTES (1024u * 1024u)
/* Room kept in a fetch response frame for everything but record bytes. */
#define NODE_FETCH_FRAME_HEADROOM (8u * 1024u * 1024u)
/* Controlled shutdown: after SIGTERM or SIGINT a broker waits at most this
 * long (and never longer than broker.session.timeout.ms) for the active
 * controller to fence it and move its leaderships away, so clients fail
 * over at once instead of after a session timeout. */
#define NODE_SHUTDOWN_MAX_WAIT_MS 5000
/* A node whose controlled shutdown is done keeps running this long before
 * it stops: the requests the leadership change woke (answered with
 * NOT_LEADER_OR_FOLLOWER) reach their clients instead of seeing the
 * connection close, and when the node is the quorum leader its followers
 * learn the commit index of the fence from its next heartbeats (one per
 * NODE_TICK_MS); without them the remaining nodes would still see the
 * broker unfenced. */
#define NODE_DRAIN_LINGER_MS 300
/* Name resolution of peer addresses (evdns): seconds per attempt, and
 * attempts per name server.  A connection attempt is bounded as a whole by
 * PEER_CONNECT_TIMEOUT_MS as well. */
#define NODE_DNS_TIMEOUT_SECONDS "2"
#define NODE_DNS_ATTEMPTS "2"
/* A follower's fetch that the leader has not answered within
 * replica.fetch.wait.max.ms plus this long is given up and sent again. */
#define NODE_REPLICA_FETCH_TIMEOUT_SLACK_MS 5000
/* A partition whose fetch failed (the leader refused it) is left out of
 * fetches this long, or until the metadata changes its leader. */
#define NODE_REPLICA_FETCH_BACKOFF_MS 200
/* The same when the leader does not know the partition, or not yet as its
 * leader in this epoch: it has not applied the metadata this node acted on,
 * which takes milliseconds, and an acks=all producer waits meanwhile. */
#define NODE_REPLICA_FETCH_METADATA_BACKOFF_MS 10
/* Length of a generated cluster id (16 random bytes, URL-safe base64). */
#define NODE_CLUSTER_ID_LEN 22u
/* Name of the LMDB environment and the partition directory under data.dir. */
#define NODE_KV_DIR "node.mdb"
#define NODE_TOPICS_DIR "topics"
#define NODE_LOCK_FILE ".lock"

/* A request to the flusher that has not completed yet. */
struct node_sync {
	int64_t seq;
	bool kv;                  /* node.mdb is synced by it */
	bool ctrl;                /* ... for the controller's Raft state */
	uint32_t count;           /* partitions synced */
	struct partition **parts; /* each holds a reference until completion */
	struct node_sync *next;
};

struct node {
	struct node_config cfg;
	struct event_base *base;
	struct evdns_base *dns; /* resolves peer host names without blocking the loop */
	struct kv *kv;
	struct flusher *flusher;
	struct server *server;
	struct ctrl *ctrl;
	struct pmgr *pm;
	struct member *member; /* NULL without the broker role */
	struct fetcher *fetcher; /* follower fetch sessions */
	struct log_retention *retention; /* the periodic retention check (log_retention.h) */
	struct log_cleaner *cleaner;     /* compaction (log_cleaner.h); NULL when disabled */
	struct repl *repl;       /* ISR proposals and high-watermark checkpoints */
	struct coord *coord;     /* consumer group coordinators (coord.h) */
	int lock_fd;
	int64_t broker_epoch;  /* given by the active controller at registration */
	/* The cluster this node belongs to: stored in the data directory, or
	 * configured (cluster.id), or "" until learned from the metadata log. */
	char cluster_id[CONFIG_MAX_CLUSTER_ID_LEN + 1];
	bool listening; /* the listener accepts connections */
	bool ready;     /* the start-up summary was logged */
	char topics_dir[CONFIG_MAX_PATH + 16];

	struct event *turn_ev;  /* end of the loop turn */
	struct event *flush_ev; /* the flusher finished something */
	struct event *sigint_ev;
	struct event *sigterm_ev;
	struct event *drain_ev; /* bounds the controlled shutdown */
	bool turn_pending;
	bool draining; /* a controlled shutdown waits for the controller */
	bool drained;  /* ... and is done: the node lingers briefly, then stops */
	bool stopping;
	int exit_code;

	/* This turn's fsync work. */
	struct partition **turn_parts;
	uint32_t turn_part_count;
	uint32_t turn_part_cap;
	bool turn_kv;
	bool turn_kv_ctrl;
	/* Submitted, not yet completed, in submission order. */
	struct node_sync *sync_head;
	struct node_sync *sync_tail;
	uint64_t sync_failures_seen;

	/* Fetches that can be answered now (h_fetch.c owns the list). */
	struct fetch_wait *ready_fetches;
	struct fetch_wait *replica_fetches; /* parked followers' fetches (h_fetch.c) */
	/* Open connections, and those closed this turn (freed at its end). */
	struct conn *conns;
	uint32_t conn_count;
	struct conn *dead_conns;

	/* Client requests forwarded to the active controller and not answered
	 * yet (forward.h), and those answered here because of the bound. */
	uint32_t forwards_in_flight;
	uint64_t forwards_refused;
};

/*
 * Starts the node: data directory and lock, LMDB, identity checks, the
 * flusher, the controller shell (which replays the metadata log), the
 * listener.  Returns 0 or a negative code; on error everything is released
 * and a message was logged.  n->cfg must be filled by the caller.
 */
int node_start(struct node *n);

/* Runs the event loop until a signal or node_stop.  Returns the exit code. */
int node_run(struct node *n);

/* Asks the loop to shut down gracefully with exit_code (first call wins). */
void node_stop(struct node *n, int exit_code);

/*
 * A controlled shutdown, as on SIGTERM or SIGINT.  A node with the broker
 * role first asks the active controller to fence it and move its
 * leaderships away (member_begin_shutdown), keeps serving meanwhile (clients
 * are told NOT_LEADER_OR_FOLLOWER and refresh their metadata), and stops
 * once its own image shows that done (node_on_drained), or after
 * NODE_SHUTDOWN_MAX_WAIT_MS (at most broker.session.timeout.ms) when no
 * controller answers.  When there is nothing to wait for (no broker role,
 * not registered, or no other unfenced broker to take over, as in a
 * single-node cluster) it stops at once.  A second call stops at once.
 */
void node_shut_down(struct node *n);

/* The controlled shutdown is done (the member saw this broker fenced and
 * leading nothing): the node stops after NODE_DRAIN_LINGER_MS. */
void node_on_drained(struct node *n);

/* Releases everything node_start created (after node_run returned). */
void node_free(struct node *n);

/* Makes sure the turn event runs at the end of this loop turn. */
void node_schedule_turn(struct node *n);

/* Queues partition p's log for this turn's fsync (once per turn). */
void node_sync_partition(struct node *n, struct partition *p);

/* Queues the LMDB environment for this turn's fsync (Raft wrote to it);
 * ctrl_on_synced is called when it completes. */
void node_sync_kv(struct node *n);

/* Queues an fsync of the LMDB environment for other writers (high-watermark
 * checkpoints); nobody is told when it completes. */
void node_sync_kv_quietly(struct node *n);

/* The partition directory for topic/partition into out (cap bytes). */
int node_partition_dir(const struct node *n, const char *topic, int32_t partition, char *out,
		       size_t cap);

/* Fills buf with len random bytes from the kernel (getrandom).
 * Returns 0 or RN_E_IO. */
int node_random(void *buf, size_t len);

/* A cluster id as Kafka makes them: 16 random bytes in URL-safe base64
 * (NODE_CLUSTER_ID_LEN characters and a NUL).  Returns 0 or RN_E_IO. */
int node_generate_cluster_id(char out[NODE_CLUSTER_ID_LEN + 1]);

/*
 * The metadata log (or a snapshot) names the cluster: the first time, the id
 * is stored in the data directory (and synced); afterwards it must equal the
 * stored or configured one.  Returns 0, or RN_E_INCONSISTENT_CLUSTER_ID (logged;
 * the node stops with exit code 1) or RN_E_IO.
 */
int node_learn_cluster_id(struct node *n, const char *cluster_id);

/* Called by the controller shell once the metadata found at start is
 * replayed: a node of a multi-node cluster starts accepting connections
 * (its peers need it to elect a leader), and the broker starts registering. */
void node_on_replayed(struct node *n);

/* Called by the controller shell after each applied Ready.  The node
 * follows: a single-node cluster starts accepting once this broker is
 * registered and unfenced (so the first client request finds a working
 * node, as before quorums existed); the broker may heartbeat early. */
void node_on_metadata(struct node *n);

#endif
