/* ctrl_internal.h: the controller shell's state, shared by ctrl.c (Readies, applying, leadership) and ctrl_net.c (peers and Raft messages). */
#ifndef RUNNEL_BROKER_CTRL_INTERNAL_H
#define RUNNEL_BROKER_CTRL_INTERNAL_H

#include "broker/ctrl.h"
#include "broker/peer.h"
#include "common/limits.h"

enum ctrl_phase {
	CTRL_REPLAY,  /* rebuilding the image from the snapshot and log found at start */
	CTRL_RUNNING,
};

struct ctrl_waiter {
	uint64_t index;
	void (*cb)(void *arg, int err);
	void *arg;
	struct ctrl_waiter *prev;
	struct ctrl_waiter *next;
};

struct pending_name {
	char name[RN_MAX_TOPIC_NAME_LEN + 1];
	uint64_t index;
};

struct ctrl {
	struct node *node;
	struct raft *raft;
	struct meta_image *img;
	struct event *tick_ev;
	enum ctrl_phase phase;
	uint64_t replay_until;   /* commit (or snapshot) index found at start */
	bool outstanding;        /* a Ready is between raft_ready and raft_advance */
	bool syncing;            /* ... and waits for the flusher */
	bool failed;
	struct raft_ready rd;
	struct ctrl_waiter *waiters;
	struct pending_name *pending;
	uint32_t pending_count;
	uint32_t pending_cap;
	const char **pending_view;

	/* Leadership: the term this node leads in and its log end when it won;
	 * it becomes the active controller once it has applied that far. */
	uint64_t lead_term;
	uint64_t lead_start_index;
	bool active;
	uint64_t cluster_proposed_term;
	int32_t last_leader_logged;
	struct controller_lifecycle *lc;
	uint32_t lifecycle_ticks;
	int64_t preferred_check_ms; /* last automatic preferred-leader check (monotonic) */
	uint64_t snapshot_index; /* image index of the last snapshot made or installed */

	/* Peers by node id: voters from the configuration, others learned from
	 * their Raft messages. */
	struct peer *peers[RN_MAX_NODES];
	uint32_t peer_count;
	uint64_t foreign_dropped; /* messages from another cluster, for the log */
	struct raft_status *status;
	/* Scratch for encoding one outgoing message. */
	Runnel__RaftEntry wire_entries[RAFT_MAX_ENTRIES_PER_MSG];
	Runnel__RaftEntry *wire_entry_ptrs[RAFT_MAX_ENTRIES_PER_MSG];
	struct raft_entry rx_entries[RAFT_MAX_ENTRIES_PER_MSG];
};

/* ctrl_net.c: creates the voters' peers.  Returns 0 or RN_E_NOMEM. */
int ctrl_net_open(struct ctrl *c);
/* ctrl_net.c: closes every peer. */
void ctrl_net_close(struct ctrl *c);
/* ctrl_net.c: sends the messages of the outstanding Ready (dropping those
 * with no route). */
void ctrl_net_send_ready(struct ctrl *c);

/* ctrl.c: stops the node after an error Raft state cannot survive. */
void ctrl_fail(struct ctrl *c, const char *what, int rc);

#endif
