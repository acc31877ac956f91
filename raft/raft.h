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

struct raft_config {
	uint64_t id;              /* this node, != 0 */
	const uint64_t *voters;   /* the voting members, ids != 0, no duplicates; copied */
	uint32_t voter_count;     /* 1..RN_MAX_NODES */
	uint32_t election_ticks;  /* election timeout base, > heartbeat_ticks */
	uint32_t heartbeat_ticks; /* leader heartbeat interval, >= 1 */
	uint64_t seed;            /* seeds the election timeout generator */
	bool pre_vote;
	bool check_quorum;
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
 *   HEARTBEAT_RESP          no extra fields
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
};

/*
 * The output of one round.  Owned by the raft; valid and unchanged until
 * raft_advance(r, rd).  Order of work for the shell: truncate, append
 * entries, save the hard state, sync; then send msgs and apply committed.
 */
struct raft_ready {
	bool hard_state_changed;
	struct raft_hard_state hs; /* persist when hard_state_changed */
	uint64_t truncate_from;    /* 0: none; else remove persisted entries >= this index first */
	const struct raft_entry *entries; /* append (consecutive indexes) */
	uint32_t entry_count;
	const struct raft_entry *committed; /* apply in order; len 0 entries are no-ops */
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
 * heartbeat_ticks 0), RN_E_CORRUPT_STATE (log not consecutive from 1, terms
 * decreasing or above hs->term, commit beyond the log, applied beyond commit)
 * or RN_E_NOMEM.
 */
int raft_new(const struct raft_config *cfg, const struct raft_hard_state *hs,
	     const struct raft_entry *log, uint32_t log_count, uint64_t applied_index,
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
 * not a voter, unknown type, entries on a type that carries none, more than
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
/* The last index delivered in a Ready's committed and advanced. */
uint64_t raft_applied_index(const struct raft *r);

enum raft_role { RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };
enum raft_role raft_role(const struct raft *r);
const char *raft_role_name(enum raft_role role);
/* "VOTE", "APPEND_RESP", ...; "UNKNOWN" for anything else. Never NULL. */
const char *raft_msg_type_name(enum raft_msg_type type);

#endif
