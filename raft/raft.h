/* raft.h: the Raft consensus algorithm as a pure state machine (no clock, socket or disk). */
#ifndef RUNNEL_RAFT_RAFT_H
#define RUNNEL_RAFT_RAFT_H

/*
 * The core never reads the clock, a socket or a file and never calls rand().
 * Everything arrives as an event and everything leaves as a Ready:
 *
 *   time        raft_tick()      one call per tick of the shell's timer
 *   messages    raft_step()      a message received from a peer
 *   proposals   raft_propose()   a new log entry (leader only)
 *   output      raft_ready()     what to persist, what to send, what to apply
 *   done        raft_advance()   the shell has persisted (and synced) a Ready
 *
 * The shell's loop is:
 *
 *   if (raft_has_ready(r)) {
 *       struct raft_ready rd;
 *       if (raft_ready(r, &rd) != 0) retry on a later turn;
 *       if (rd.truncate_from) remove persisted entries >= rd.truncate_from;
 *       append rd.entries; if (rd.hard_state_changed) save rd.hs;
 *       sync the storage (fsync)                     <- before anything below
 *       send rd.msgs; apply rd.committed in order;
 *       raft_advance(r, &rd);
 *   }
 *
 * (The full order, with snapshots and compaction, is below.)
 *
 * At most one Ready is outstanding: raft_has_ready() returns false between
 * raft_ready() and raft_advance().  The shell may keep calling raft_tick(),
 * raft_step() and raft_propose() while a Ready is outstanding (for example
 * while the fsync runs on another thread); their effects go into the next
 * Ready.  A Ready's arrays are owned by the raft and stay valid, unchanged,
 * until raft_advance() for that Ready.
 *
 * Safety rules the core enforces through this order: a vote is granted, a
 * campaign counts its own vote and an append is acknowledged only after the
 * hard state and entries that justify it were handed out in a Ready and
 * advanced, that is, persisted.  A leader counts its own log as replicated
 * only up to what it has persisted.
 *
 * Entries with len == 0 are the no-op entries a new leader appends in its
 * term (so that entries of earlier terms commit through it); the shell skips
 * them when applying.
 *
 * Snapshots and compaction.  Once the shell has applied entries up to some
 * index it may hand the core a serialized image of its state machine with
 * raft_compact(); the core keeps a copy (to send to peers that are too far
 * behind), drops its entries up to that index, and the next Ready tells the
 * shell to persist the snapshot and remove the persisted entries it covers
 * (compact_to).  A follower or observer whose log is behind the leader's
 * first entry receives RAFT_MSG_SNAPSHOT; its next Ready carries the
 * snapshot with snapshot_install set: the shell persists it, removes its
 * whole persisted log, and replaces its state machine with the snapshot
 * before applying anything else of that Ready.  The full order of a Ready:
 *
 *   if (rd.snapshot) persist *rd.snapshot (replaces the stored one);
 *   if (rd.compact_to) remove persisted entries <= rd.compact_to;
 *   if (rd.truncate_from) remove persisted entries >= rd.truncate_from;
 *   append rd.entries; if (rd.hard_state_changed) save rd.hs;
 *   sync (all of the above in one transaction, then fsync);
 *   send rd.msgs;
 *   if (rd.snapshot && rd.snapshot_install) replace the state machine with
 *       rd.snapshot->data (it then reflects every entry <= snapshot->index);
 *   apply rd.committed in order; raft_advance(r, &rd);
 *
 * Observers.  A node whose id is not among the voters (cfg->observer) never
 * campaigns or votes and is never counted for commit.  It pulls: every
 * heartbeat_ticks it sends RAFT_MSG_FETCH (its last index and that entry's
 * term) to the leader it knows, or to the voters in turn while it knows
 * none.  The leader answers with an APPEND of committed entries after the
 * matching point (an observer's log only ever holds committed entries) or a
 * SNAPSHOT when the observer is behind its first entry, and pushes newly
 * committed entries to observers it heard from recently.  A voter that does
 * not lead answers FETCH_RESP naming the leader it knows.  The leader tracks
 * each observer's match index and last contact for raft_status().
 *
 * Multi-voter clusters: elections use randomized timeouts in
 * [election_ticks, 2 * election_ticks) ticks drawn from a generator seeded
 * with cfg->seed, optional pre-vote (a node first asks whether it could win
 * before raising its term, so a partitioned node does not disrupt the
 * cluster), and optional check-quorum (a leader that has not heard from a
 * quorum within an election timeout steps down, and followers that heard
 * from a leader within the timeout ignore vote requests).  A single voter
 * campaigns on its first tick.
 */

#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"

struct raft;

/* Tuning constants of the core.  Input beyond them is refused with RN_E_INVAL
 * (raft_step) or RN_E_FULL (raft_propose). */

/* Most entries the leader puts in one APPEND message, and the most a node
 * accepts in one received APPEND. */
#define RAFT_MAX_ENTRIES_PER_MSG 512u
/* Soft cap on the payload bytes of one APPEND (at least one entry is always
 * sent, so a single entry of up to RN_MAX_METADATA_RECORD_BYTES still goes). */
#define RAFT_MAX_MSG_BYTES (4u * 1024u * 1024u)
/* Entries the leader sends to a follower beyond its acknowledged match index
 * before waiting for acknowledgements (flow control). */
#define RAFT_MAX_INFLIGHT_ENTRIES 4096u
/* Largest snapshot (serialized state machine image) the core keeps and
 * sends: it travels in one RAFT_MSG_SNAPSHOT, so it stays well below
 * RN_MAX_FRAME_BYTES with room for the message's other fields.
 * raft_compact refuses a larger one with RN_E_FULL. */
#define RAFT_MAX_SNAPSHOT_BYTES (48u * 1024u * 1024u)
/* Ticks a leader waits for the answer to a RAFT_MSG_SNAPSHOT before it sends
 * the snapshot again, as a multiple of the election timeout base. */
#define RAFT_SNAPSHOT_RETRY_ELECTIONS 2u
/* Entries proposed but not yet committed; raft_propose returns RN_E_FULL
 * beyond this so a leader that lost its quorum does not grow without bound. */
#define RAFT_MAX_UNCOMMITTED_ENTRIES 65536u
/* Messages queued for the next Ready; beyond this a node drops new
 * outgoing messages (Raft retransmits on the next heartbeat). */
#define RAFT_MAX_OUTBOX_MSGS 65536u

/* One log entry.  In structures returned by the core, data is owned by the
 * core; in structures passed in, it is owned by the caller and copied. */
struct raft_entry {
	uint64_t term;
	uint64_t index;
	uint32_t len;
	uint8_t *data; /* NULL when len == 0 */
};

/* The state that must be persisted before any message that depends on it is
 * sent: the current term, the candidate voted for in it (0: none) and the
 * commit index (persisted so a restart re-applies exactly the committed
 * entries). */
struct raft_hard_state {
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
};

/* A snapshot: the state machine after applying every entry up to index.
 * In structures returned by the core, data is owned by the core; in
 * structures passed in, it is owned by the caller and copied. */
struct raft_snapshot {
	uint64_t index; /* the last entry the snapshot covers; 0: no snapshot */
	uint64_t term;  /* that entry's term */
	uint32_t len;   /* <= RAFT_MAX_SNAPSHOT_BYTES */
	uint8_t *data;  /* NULL when len == 0 */
};

struct raft_config {
	uint64_t id;              /* this node, != 0 */
	const uint64_t *voters;   /* the voting members, ids != 0, no duplicates; copied */
	uint32_t voter_count;     /* 1..RN_MAX_NODES */
	uint32_t election_ticks;  /* election timeout base, > heartbeat_ticks */
	uint32_t heartbeat_ticks; /* leader heartbeat interval, >= 1 */
	uint64_t seed;            /* seeds the election timeout generator */
	bool pre_vote;
	bool check_quorum;
	/* This node is an observer: not a voter, it never campaigns or votes and
	 * fetches the committed log from the leader.  Setting it while id is
	 * among the voters is RN_E_INVAL; a node whose id is not among the
	 * voters is an observer whether or not it is set. */
	bool observer;
};

enum raft_msg_type {
	RAFT_MSG_VOTE = 1,
	RAFT_MSG_VOTE_RESP,
	RAFT_MSG_PRE_VOTE,
	RAFT_MSG_PRE_VOTE_RESP,
	RAFT_MSG_APPEND,
	RAFT_MSG_APPEND_RESP,
	RAFT_MSG_HEARTBEAT,
	RAFT_MSG_HEARTBEAT_RESP,
	RAFT_MSG_FETCH,
	RAFT_MSG_FETCH_RESP,
	RAFT_MSG_SNAPSHOT,
};

/*
 * A message between nodes.  Field use per type:
 *   VOTE, PRE_VOTE          log_term/index: the candidate's last entry
 *   VOTE_RESP, PRE_VOTE_RESP reject
 *   APPEND                  log_term/index: the entry preceding `entries`;
 *                           commit: the leader's commit index
 *   APPEND_RESP             index: on success the last index now matching the
 *                           leader; on reject the rejected preceding index,
 *                           with reject_hint = the highest index at which
 *                           the follower's log may still match (its entries
 *                           above it up to index have terms above the
 *                           append's log_term) and log_term = the follower's
 *                           term at reject_hint; a leader treats log_term 0
 *                           as "no term given" and uses reject_hint alone
 *   HEARTBEAT               commit: min(leader commit, follower match)
 *   HEARTBEAT_RESP          index: the follower's last index; reject: its
 *                           log is shorter than the heartbeat's commit, so
 *                           it lost entries the leader counts as matching
 *                           (restarted with an empty data directory) and
 *                           the leader probes it again
 *   FETCH                   observer to voter: index/log_term: the last
 *                           entry of the observer's log, or the point where
 *                           it wants the leader to continue after a
 *                           mismatch; term: the observer's term (a leader
 *                           ignores a FETCH of a higher term)
 *   FETCH_RESP              voter that does not lead to observer: reject
 *                           true, reject_hint: the leader this voter knows
 *                           in `term`, 0 when none
 *   SNAPSHOT                leader to follower or observer: index/log_term:
 *                           the snapshot's last entry; commit: the leader's
 *                           commit index; snapshot/snapshot_len: the image.
 *                           A follower answers APPEND_RESP (index: the
 *                           snapshot's index), an observer its next FETCH.
 * An APPEND to an observer carries only committed entries; the observer
 * does not answer it, except with a FETCH when it needs more (a mismatch,
 * or a commit index beyond the entries received).
 * For PRE_VOTE and a granted PRE_VOTE_RESP, term is the term the candidate
 * would campaign in (its current term + 1), not the sender's current term.
 */
struct raft_msg {
	enum raft_msg_type type;
	uint64_t from, to, term;
	uint64_t log_term, index, commit;
	bool reject;
	uint64_t reject_hint;
	struct raft_entry *entries;
	uint32_t entry_count;
	uint8_t *snapshot; /* SNAPSHOT only; NULL when snapshot_len == 0 */
	uint32_t snapshot_len; /* <= RAFT_MAX_SNAPSHOT_BYTES */
};

/*
 * The output of one round.  Owned by the raft; valid and unchanged until
 * raft_advance(r, rd).  Order of work for the shell (see the top of this
 * file): persist the snapshot, remove compacted and truncated entries,
 * append entries, save the hard state, sync; then send msgs, install the
 * snapshot when snapshot_install, and apply committed.
 */
struct raft_ready {
	/* NULL: none.  Else a snapshot to persist (replacing the stored one):
	 * made by raft_compact, received from the leader, or (on a node restored
	 * with applied_index below its snapshot) the stored one again. */
	const struct raft_snapshot *snapshot;
	/* The state machine must be replaced by *snapshot before committed is
	 * applied; the shell's applied index becomes snapshot->index. */
	bool snapshot_install;
	uint64_t compact_to; /* 0: none; else remove persisted entries <= this index */
	bool hard_state_changed;
	struct raft_hard_state hs; /* persist when hard_state_changed */
	uint64_t truncate_from;    /* 0: none; else remove persisted entries >= this index first */
	const struct raft_entry *entries; /* append (consecutive indexes) */
	uint32_t entry_count;
	/* Apply in order (after installing the snapshot, when there is one to
	 * install); len 0 entries are no-ops. */
	const struct raft_entry *committed;
	uint32_t committed_count;
	const struct raft_msg *msgs; /* send only after the above is durable */
	uint32_t msg_count;
};

/*
 * Creates a raft node restored from persisted state.
 *   cfg            the configuration (copied, including the voters array)
 *   hs             the persisted hard state, or NULL for a new node
 *   log            the persisted entries, consecutive indexes from 1; NULL if
 *                  log_count == 0; the entries and their data are copied
 *   applied_index  the last index the shell has already applied; committed
 *                  entries after it are delivered again in the first Ready
 *                  (0 on a node that rebuilds its state by re-applying all)
 *   out            receives the node; free with raft_free
 * Returns 0, RN_E_INVAL (bad configuration: id 0, no voters, more than
 * RN_MAX_NODES, duplicate or zero voter ids, election_ticks <= heartbeat_ticks,
 * heartbeat_ticks 0, observer set on a voter), RN_E_CORRUPT_STATE (log not consecutive from 1, terms
 * decreasing or above hs->term, commit beyond the log, applied beyond commit)
 * or RN_E_NOMEM.
 */
int raft_new(const struct raft_config *cfg, const struct raft_hard_state *hs,
	     const struct raft_entry *log, uint32_t log_count, uint64_t applied_index,
	     struct raft **out);

/* Everything a node persisted, for raft_new_from. */
struct raft_restore {
	const struct raft_hard_state *hs;   /* NULL for a new node */
	const struct raft_snapshot *snapshot; /* NULL or index 0: none */
	/* The persisted entries, consecutive from snapshot->index + 1 (from 1
	 * without a snapshot); entries at or below the snapshot's index must
	 * have been removed.  NULL if log_count == 0.  Copied. */
	const struct raft_entry *log;
	uint32_t log_count;
	/* The last index the shell's state machine has applied.  Below the
	 * snapshot's index (e.g. 0 for a state machine rebuilt at every start),
	 * the first Ready carries the snapshot with snapshot_install, then the
	 * committed entries after it; at or above it, committed entries after
	 * applied_index are delivered again. */
	uint64_t applied_index;
};

/*
 * Creates a raft node restored from persisted state including a snapshot.
 * raft_new(cfg, hs, log, n, applied, out) is raft_new_from with no snapshot.
 * The snapshot's data is copied.  A commit index below the snapshot's
 * index is raised to it (a snapshot only holds committed entries).
 * Returns 0, RN_E_INVAL (bad configuration, as for raft_new, or an observer
 * flag that disagrees with the voter list), RN_E_CORRUPT_STATE (as for
 * raft_new, with the log starting after the snapshot; a snapshot larger
 * than RAFT_MAX_SNAPSHOT_BYTES, of term above hs->term, or with data NULL
 * and len > 0; log terms below the snapshot's term) or RN_E_NOMEM.
 */
int raft_new_from(const struct raft_config *cfg, const struct raft_restore *rs,
		  struct raft **out);

/* Frees the node and everything it owns, including an outstanding Ready. */
void raft_free(struct raft *r);

/* Advances logical time by one tick: elections on followers and candidates,
 * heartbeats and the quorum check on the leader. */
void raft_tick(struct raft *r);

/*
 * Feeds one message received from a peer.  The message and its entries stay
 * owned by the caller (the data is copied).  Stale or irrelevant messages are
 * ignored and return 0.
 * Returns 0, RN_E_INVAL (malformed: to != this node, from 0, this node or
 * not a voter (any other node may send FETCH), unknown type, entries on a
 * type that carries none, snapshot bytes on a type other than SNAPSHOT or
 * more than RAFT_MAX_SNAPSHOT_BYTES of them, more than
 * RAFT_MAX_ENTRIES_PER_MSG entries, an entry larger than
 * RN_MAX_METADATA_RECORD_BYTES, entry indexes not consecutive after
 * m->index or terms out of order), RN_E_CORRUPT_STATE (a leader asked this
 * node to overwrite a committed entry: the cluster's logs disagree) or
 * RN_E_NOMEM.
 */
int raft_step(struct raft *r, const struct raft_msg *m);

/*
 * Appends a new entry with a copy of data[0..len) to the leader's log; it
 * appears in the next Ready's entries and, once committed, in committed.
 *   index_out  receives the entry's index (may be NULL)
 * Returns 0, RN_E_NOT_CONTROLLER (this node is not the leader),
 * RN_E_INVAL (len > RN_MAX_METADATA_RECORD_BYTES, or data NULL with len > 0),
 * RN_E_FULL (RAFT_MAX_UNCOMMITTED_ENTRIES entries are waiting to commit)
 * or RN_E_NOMEM.
 */
int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index_out);

/*
 * Compacts the log: the shell has applied every entry up to index and
 * snapshot[0..len) is its serialized state machine at that point.  The core
 * keeps a copy (to send to peers behind its first entry), frees its entries
 * <= index, and the next Ready carries the snapshot to persist and
 * compact_to = index.  Call between Readies or while one is outstanding,
 * but only for an index the core already counts as applied.
 * Returns 0 (also, doing nothing, when index is at or below the current
 * snapshot's index), RN_E_INVAL (index above raft_applied_index(), or
 * snapshot NULL with len > 0), RN_E_FULL (len > RAFT_MAX_SNAPSHOT_BYTES)
 * or RN_E_NOMEM (nothing changed).
 */
int raft_compact(struct raft *r, uint64_t index, const void *snapshot, uint32_t len);

/* True when there is something to persist, send or apply and no Ready is
 * outstanding. */
bool raft_has_ready(const struct raft *r);

/* Fills rd with the pending work and marks it outstanding.  Call only when
 * raft_has_ready() is true.  rd's arrays stay valid until raft_advance.
 * Returns 0, or RN_E_NOMEM with nothing changed (try again later). */
int raft_ready(struct raft *r, struct raft_ready *rd);

/* Tells the node that rd (the outstanding Ready) is persisted and synced, its
 * messages sent and its committed entries applied; frees rd's arrays. */
void raft_advance(struct raft *r, const struct raft_ready *rd);

/* The current leader's id, 0 when unknown. */
uint64_t raft_leader(const struct raft *r);
bool raft_is_leader(const struct raft *r);
uint64_t raft_term(const struct raft *r);
uint64_t raft_commit_index(const struct raft *r);
/* The index of the last entry in the log (persisted or not). */
uint64_t raft_last_index(const struct raft *r);
/* The last index delivered in a Ready's committed (or covered by an
 * installed snapshot) and advanced. */
uint64_t raft_applied_index(const struct raft *r);
/* The index of the last entry covered by the current snapshot, 0: none.
 * The log holds entries from this index + 1 to raft_last_index(). */
uint64_t raft_snapshot_index(const struct raft *r);

/* An observer is always a RAFT_FOLLOWER; raft_status says it observes. */
enum raft_role { RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };
enum raft_role raft_role(const struct raft *r);
const char *raft_role_name(enum raft_role role);
/* "VOTE", "APPEND_RESP", ...; "UNKNOWN" for anything else. Never NULL. */
const char *raft_msg_type_name(enum raft_msg_type type);

/* What a leader knows about one member (itself included). */
struct raft_peer_status {
	uint64_t id;
	bool voter; /* false: an observer */
	/* The highest index known to match the leader's log (for the leader
	 * itself: its last persisted index).  An observer's is updated at each
	 * FETCH, so it may trail what was pushed since by up to a heartbeat. */
	uint64_t match;
	/* Ticks since the leader last heard from it (0 for the leader); counts
	 * from when this node became leader. */
	uint32_t ticks_since_contact;
};

/* A node's view of the quorum, for DescribeQuorum and cluster status. */
struct raft_status {
	uint64_t id;
	enum raft_role role;
	bool observer;
	uint64_t term, vote, leader; /* leader 0: unknown */
	uint64_t commit, applied;
	uint64_t first_index; /* first entry in the log: snapshot_index + 1 */
	uint64_t last_index;  /* last entry in the log (persisted or not) */
	uint64_t snapshot_index, snapshot_term; /* 0: no snapshot */
	/* On the leader: every voter in configuration order, then the observers
	 * it heard from; 0 on other nodes. */
	uint32_t peer_count;
	struct raft_peer_status peers[RN_MAX_NODES];
};

/* Fills st with this node's view.  Cheap (no allocation); st is large
 * (RN_MAX_NODES peers), so prefer a static or heap instance to the stack of
 * a deep call chain. */
void raft_status(const struct raft *r, struct raft_status *st);

#endif
