/* raft.c: the Raft consensus algorithm as a pure state machine. */
#include "raft/raft.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/rn_assert.h"

/* PR_SNAPSHOT: a snapshot was sent; nothing else goes to the peer until it
 * acknowledges the snapshot's index or the retry time passes. */
enum pr_state { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

/* What the leader knows about one member, and one voter's ballot in an
 * election.  The entry for this node itself is kept too: its match is the
 * last persisted index, and its vote is this node's own ballot.  Voters come
 * first in prs, in configuration order; a leader appends the observers it
 * hears from after them. */
struct progress {
	uint64_t id;
	bool voter;
	uint64_t match; /* highest index known to match the leader's log */
	uint64_t next;  /* next index to send */
	enum pr_state state;
	bool paused;        /* probing: one append is in flight, wait for its answer */
	bool recent_active; /* heard from since the last quorum check */
	int8_t vote;        /* 0: no answer, 1: granted, -1: rejected */
	uint32_t idle_ticks;    /* ticks since the leader last heard from it */
	uint32_t snap_wait;     /* PR_SNAPSHOT: ticks since the snapshot was sent */
	uint64_t snap_index;    /* PR_SNAPSHOT: the index of the snapshot sent */
};

struct raft {
	uint64_t id;
	uint32_t voter_count;
	uint32_t pr_count; /* voters plus the observers a leader tracks */
	int32_t self; /* index of this node in prs, -1 if it is not a voter */
	bool observer;
	uint32_t fetch_rotor; /* observer without a leader: the voter to ask next */
	struct progress prs[RN_MAX_NODES];
	uint32_t election_ticks, heartbeat_ticks;
	bool pre_vote, check_quorum;
	uint64_t rng;

	enum raft_role role;
	uint64_t term, vote, commit, leader;
	uint32_t election_elapsed, heartbeat_elapsed, randomized_timeout;

	/* The log after the snapshot: log[i] has index snap.index + 1 + i.  The
	 * snapshot stands for every entry up to snap.index (term snap.term). */
	struct raft_entry *log;
	uint64_t log_count, log_cap;
	struct raft_snapshot snap; /* data owned; index 0: none */

	/* Snapshot work for the next Ready: persist snap, install it in the
	 * state machine, remove persisted entries <= compact_to. */
	bool snap_persist, snap_install;
	uint64_t compact_to;

	/* Persistence bookkeeping.  Entries <= handed were given to the shell in a
	 * Ready; entries <= stable were persisted (their Ready was advanced).
	 * truncate_from asks the next Ready to remove persisted entries. */
	uint64_t handed, stable, applied, truncate_from;
	struct raft_hard_state hs_handed, hs_stable;

	struct raft_msg *outbox;
	uint32_t outbox_count, outbox_cap;

	/* The outstanding Ready, owned here until raft_advance. */
	bool ready_out;
	uint64_t ready_applied, ready_handed;
	bool ready_has_snap;
	struct raft_snapshot ready_snap; /* a copy: raft_compact may replace snap */
	struct raft_entry *ready_entries, *ready_committed;
	uint32_t ready_entry_count, ready_committed_count;
	struct raft_msg *ready_msgs;
	uint32_t ready_msg_count;
};

static const char *const role_names[] = {
	[RAFT_FOLLOWER] = "follower",
	[RAFT_PRE_CANDIDATE] = "pre-candidate",
	[RAFT_CANDIDATE] = "candidate",
	[RAFT_LEADER] = "leader",
};

static const char *const msg_names[] = {
	[RAFT_MSG_VOTE] = "VOTE",
	[RAFT_MSG_VOTE_RESP] = "VOTE_RESP",
	[RAFT_MSG_PRE_VOTE] = "PRE_VOTE",
	[RAFT_MSG_PRE_VOTE_RESP] = "PRE_VOTE_RESP",
	[RAFT_MSG_APPEND] = "APPEND",
	[RAFT_MSG_APPEND_RESP] = "APPEND_RESP",
	[RAFT_MSG_HEARTBEAT] = "HEARTBEAT",
	[RAFT_MSG_HEARTBEAT_RESP] = "HEARTBEAT_RESP",
	[RAFT_MSG_FETCH] = "FETCH",
	[RAFT_MSG_FETCH_RESP] = "FETCH_RESP",
	[RAFT_MSG_SNAPSHOT] = "SNAPSHOT",
};

const char *raft_role_name(enum raft_role role)
{
	if ((unsigned)role < RN_ARRAY_LEN(role_names) && role_names[role])
		return role_names[role];
	return "unknown";
}

const char *raft_msg_type_name(enum raft_msg_type type)
{
	if ((unsigned)type < RN_ARRAY_LEN(msg_names) && msg_names[type])
		return msg_names[type];
	return "UNKNOWN";
}

/* ---- small helpers ---------------------------------------------------- */

/* splitmix64: a tiny, well-mixed generator; the seed makes runs replayable. */
static uint64_t rng_next(struct raft *r)
{
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t quorum(const struct raft *r)
{
	return r->voter_count / 2 + 1;
}

static uint64_t last_index(const struct raft *r)
{
	return r->snap.index + r->log_count;
}

/* Entry i, which must be in the log (after the snapshot). */
static struct raft_entry *entry_at(const struct raft *r, uint64_t i)
{
	RN_ASSERT(i > r->snap.index && i <= last_index(r));
	return &r->log[i - r->snap.index - 1];
}

/* The term of entry i: the snapshot's term at its index; 0 for index 0, for
 * indexes the snapshot covers (unknown) and for indexes beyond the log. */
static uint64_t term_at(const struct raft *r, uint64_t i)
{
	if (i == r->snap.index)
		return r->snap.term;
	if (i < r->snap.index || i > last_index(r))
		return 0;
	return entry_at(r, i)->term;
}

static uint64_t last_term(const struct raft *r)
{
	return term_at(r, last_index(r));
}

static struct progress *progress_of(struct raft *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->pr_count; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

static bool is_voter(const struct raft *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->voter_count; i++)
		if (r->prs[i].id == id)
			return true;
	return false;
}

static struct raft_hard_state hard_state(const struct raft *r)
{
	struct raft_hard_state hs = { .term = r->term, .vote = r->vote, .commit = r->commit };
	return hs;
}

static bool hs_equal(const struct raft_hard_state *a, const struct raft_hard_state *b)
{
	return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

static void entries_free(struct raft_entry *e, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		free(e[i].data);
	free(e);
}

/* Copies src[0..n) with their data into a new array. */
static int entries_dup(const struct raft_entry *src, uint64_t n, struct raft_entry **out)
{
	*out = NULL;
	if (n == 0)
		return 0;
	struct raft_entry *e = calloc(n, sizeof(*e));
	if (!e)
		return RN_E_NOMEM;
	for (uint64_t i = 0; i < n; i++) {
		e[i] = src[i];
		e[i].data = NULL;
		if (src[i].len == 0)
			continue;
		e[i].data = malloc(src[i].len);
		if (!e[i].data) {
			entries_free(e, i);
			return RN_E_NOMEM;
		}
		memcpy(e[i].data, src[i].data, src[i].len);
	}
	*out = e;
	return 0;
}

static void msgs_free(struct raft_msg *m, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		entries_free(m[i].entries, m[i].entry_count);
		free(m[i].snapshot);
	}
	free(m);
}

/* Copies len bytes into a new buffer (NULL, successfully, when len is 0). */
static int bytes_dup(const void *src, uint32_t len, uint8_t **out)
{
	*out = NULL;
	if (len == 0)
		return 0;
	*out = malloc(len);
	if (!*out)
		return RN_E_NOMEM;
	memcpy(*out, src, len);
	return 0;
}

/* ---- the log ---------------------------------------------------------- */

static int log_reserve(struct raft *r, uint64_t extra)
{
	if (r->log_count + extra <= r->log_cap)
		return 0;
	uint64_t cap = r->log_cap ? r->log_cap : 64;
	while (cap < r->log_count + extra)
		cap *= 2;
	struct raft_entry *n = realloc(r->log, cap * sizeof(*n));
	if (!n)
		return RN_E_NOMEM;
	r->log = n;
	r->log_cap = cap;
	return 0;
}

/* Removes entries >= from.  Entries already handed to the shell for
 * persistence must also be removed from its storage, so the next Ready
 * carries a truncation. */
static void log_truncate(struct raft *r, uint64_t from)
{
	RN_ASSERT(from > r->commit && from > r->snap.index);
	if (from > last_index(r))
		return;
	for (uint64_t i = from; i <= last_index(r); i++)
		free(entry_at(r, i)->data);
	r->log_count = from - 1 - r->snap.index;
	if (from <= r->handed) {
		if (r->truncate_from == 0 || from < r->truncate_from)
			r->truncate_from = from;
		r->handed = from - 1;
	}
	if (r->stable > from - 1)
		r->stable = from - 1;
}

/* Appends entries that own their data; the log takes the data over. */
static void log_append_owned(struct raft *r, struct raft_entry *e, uint64_t n)
{
	RN_ASSERT(r->log_count + n <= r->log_cap);
	for (uint64_t i = 0; i < n; i++) {
		RN_ASSERT(e[i].index == last_index(r) + 1);
		RN_ASSERT(e[i].term >= last_term(r));
		r->log[r->log_count++] = e[i];
	}
}

/* ---- the outbox ------------------------------------------------------- */

/* Queues m (which owns its entries) for the next Ready.  A message that
 * cannot be queued is dropped: Raft retransmits on heartbeats and timeouts. */
static void outbox_push(struct raft *r, struct raft_msg *m)
{
	m->from = r->id;
	if (r->outbox_count == r->outbox_cap) {
		uint32_t cap = r->outbox_cap ? r->outbox_cap * 2 : 16;
		struct raft_msg *n = NULL;
		if (r->outbox_cap < RAFT_MAX_OUTBOX_MSGS)
			n = realloc(r->outbox, cap * sizeof(*n));
		if (!n) {
			LOG_WARN("raft", "dropping %s to %llu: outbox full",
				 raft_msg_type_name(m->type), (unsigned long long)m->to);
			entries_free(m->entries, m->entry_count);
			free(m->snapshot);
			return;
		}
		r->outbox = n;
		r->outbox_cap = cap;
	}
	r->outbox[r->outbox_count++] = *m;
}

static void send_simple(struct raft *r, enum raft_msg_type type, uint64_t to, uint64_t term,
			bool reject)
{
	struct raft_msg m = { .type = type, .to = to, .term = term, .reject = reject };
	outbox_push(r, &m);
}

/* ---- role changes ----------------------------------------------------- */

static void reset_timers(struct raft *r)
{
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	r->randomized_timeout =
		r->election_ticks + (uint32_t)(rng_next(r) % r->election_ticks);
}

static void reset_votes(struct raft *r)
{
	for (uint32_t i = 0; i < r->voter_count; i++)
		r->prs[i].vote = 0;
}

static void become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	if (term != r->term) {
		r->term = term;
		r->vote = 0;
	}
	if (r->role == RAFT_LEADER || r->leader != leader)
		LOG_INFO("raft", "node %llu follower at term %llu, leader %llu",
			 (unsigned long long)r->id, (unsigned long long)term,
			 (unsigned long long)leader);
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	reset_timers(r);
	reset_votes(r);
}

static void become_pre_candidate(struct raft *r)
{
	/* A pre-candidate changes neither its term nor its vote: it only asks
	 * whether it could win, so a node cut off from the cluster does not
	 * raise the term and depose a healthy leader when it comes back. */
	r->role = RAFT_PRE_CANDIDATE;
	r->leader = 0;
	reset_timers(r);
	reset_votes(r);
}

static void become_candidate(struct raft *r)
{
	r->role = RAFT_CANDIDATE;
	r->term++;
	r->vote = r->id;
	r->leader = 0;
	reset_timers(r);
	reset_votes(r);
	LOG_INFO("raft", "node %llu campaigning at term %llu", (unsigned long long)r->id,
		 (unsigned long long)r->term);
}

static void bcast_append(struct raft *r, bool send_if_empty);

static void become_leader(struct raft *r)
{
	r->role = RAFT_LEADER;
	r->leader = r->id;
	reset_timers(r);
	/* Observers are learned afresh from their fetches. */
	r->pr_count = r->voter_count;
	for (uint32_t i = 0; i < r->voter_count; i++) {
		struct progress *pr = &r->prs[i];
		pr->match = 0;
		pr->next = last_index(r) + 1;
		pr->state = PR_PROBE;
		pr->paused = false;
		pr->recent_active = false;
		pr->idle_ticks = 0;
	}
	struct progress *self = &r->prs[r->self];
	self->match = r->stable;
	self->state = PR_REPLICATE;
	self->recent_active = true;
	LOG_INFO("raft", "node %llu became leader at term %llu", (unsigned long long)r->id,
		 (unsigned long long)r->term);

	/* An empty entry of the new term: entries of earlier terms can only be
	 * committed by counting replicas of an entry of the leader's own term. */
	if (log_reserve(r, 1) == 0) {
		struct raft_entry e = { .term = r->term, .index = last_index(r) + 1 };
		log_append_owned(r, &e, 1);
	}
	self->next = last_index(r) + 1;
	bcast_append(r, true);
}

/* ---- elections -------------------------------------------------------- */

/* Counts the ballots; returns 1 when won, -1 when lost, 0 when undecided. */
static int poll_result(const struct raft *r)
{
	uint32_t granted = 0, rejected = 0;
	for (uint32_t i = 0; i < r->voter_count; i++) {
		if (r->prs[i].vote > 0)
			granted++;
		else if (r->prs[i].vote < 0)
			rejected++;
	}
	if (granted >= quorum(r))
		return 1;
	if (rejected > r->voter_count - quorum(r))
		return -1;
	return 0;
}

static void campaign(struct raft *r, bool pre);

static void handle_poll(struct raft *r)
{
	int res = poll_result(r);
	if (res > 0 && r->role == RAFT_PRE_CANDIDATE)
		campaign(r, false);
	else if (res > 0 && r->role == RAFT_CANDIDATE)
		become_leader(r);
	else if (res < 0)
		become_follower(r, r->term, 0);
}

static void campaign(struct raft *r, bool pre)
{
	if (r->self < 0)
		return;
	enum raft_msg_type type = pre ? RAFT_MSG_PRE_VOTE : RAFT_MSG_VOTE;
	if (pre) {
		become_pre_candidate(r);
	} else {
		become_candidate(r);
	}
	uint64_t vote_term = pre ? r->term + 1 : r->term;
	for (uint32_t i = 0; i < r->voter_count; i++) {
		if ((int32_t)i == r->self)
			continue;
		struct raft_msg m = { .type = type, .to = r->prs[i].id, .term = vote_term,
				      .log_term = last_term(r), .index = last_index(r) };
		outbox_push(r, &m);
	}
	/* A pre-vote changes no state, so the node's own pre-vote counts at
	 * once.  A real vote counts only after the new term and vote are
	 * persisted (raft_advance), so a crash cannot make this node vote
	 * twice in one term. */
	if (pre) {
		r->prs[r->self].vote = 1;
		handle_poll(r);
	}
}

static bool log_up_to_date(const struct raft *r, uint64_t term, uint64_t index)
{
	return term > last_term(r) || (term == last_term(r) && index >= last_index(r));
}

static void handle_vote(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PRE_VOTE;
	enum raft_msg_type resp = pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
	bool can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
			(pre && m->term > r->term);
	if (can_vote && log_up_to_date(r, m->log_term, m->index)) {
		/* The response carries the message's term: for a pre-vote that is
		 * the term the candidate would campaign in. */
		send_simple(r, resp, m->from, m->term, false);
		if (!pre) {
			r->election_elapsed = 0;
			r->vote = m->from;
		}
		return;
	}
	send_simple(r, resp, m->from, r->term, true);
}

static void handle_vote_resp(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PRE_VOTE_RESP;
	if (pre != (r->role == RAFT_PRE_CANDIDATE))
		return;
	if (!pre && r->role != RAFT_CANDIDATE)
		return;
	/* A granted pre-vote carries the term we would campaign in. */
	if (pre && !m->reject && m->term != r->term + 1)
		return;
	struct progress *pr = progress_of(r, m->from);
	if (!pr || pr->vote != 0)
		return;
	pr->vote = m->reject ? -1 : 1;
	handle_poll(r);
}

/* ---- replication (leader side) ---------------------------------------- */

/* How many entries from `next` up to `upto` one APPEND to pr may carry. */
static uint64_t append_batch(const struct raft *r, const struct progress *pr, uint64_t upto)
{
	uint64_t avail = upto >= pr->next ? upto - pr->next + 1 : 0;
	uint64_t n = 0, bytes = 0;
	if (pr->state == PR_REPLICATE) {
		uint64_t inflight = pr->next - 1 - pr->match;
		uint64_t window = inflight >= RAFT_MAX_INFLIGHT_ENTRIES
					  ? 0
					  : RAFT_MAX_INFLIGHT_ENTRIES - inflight;
		if (avail > window)
			avail = window;
	}
	while (n < avail && n < RAFT_MAX_ENTRIES_PER_MSG) {
		uint32_t len = entry_at(r, pr->next + n)->len;
		if (n > 0 && bytes + len > RAFT_MAX_MSG_BYTES)
			break;
		bytes += len;
		n++;
	}
	return n;
}

static uint32_t snapshot_retry_ticks(const struct raft *r)
{
	return RAFT_SNAPSHOT_RETRY_ELECTIONS * r->election_ticks;
}

/* Sends pr the snapshot, because the entries it needs were compacted away.
 * Returns true if a message went out. */
static bool send_snapshot(struct raft *r, struct progress *pr)
{
	if (pr->state == PR_SNAPSHOT && pr->snap_wait < snapshot_retry_ticks(r))
		return false;
	struct raft_msg m = { .type = RAFT_MSG_SNAPSHOT, .to = pr->id, .term = r->term,
			      .index = r->snap.index, .log_term = r->snap.term,
			      .commit = r->commit, .snapshot_len = r->snap.len };
	if (bytes_dup(r->snap.data, r->snap.len, &m.snapshot) != 0)
		return false;
	LOG_INFO("raft", "node %llu sends snapshot %llu (%u bytes) to %llu",
		 (unsigned long long)r->id, (unsigned long long)r->snap.index, r->snap.len,
		 (unsigned long long)pr->id);
	pr->state = PR_SNAPSHOT;
	pr->snap_wait = 0;
	pr->snap_index = r->snap.index;
	pr->paused = true;
	pr->next = r->snap.index + 1;
	outbox_push(r, &m);
	return true;
}

/* Sends pr the next entries up to `upto`, from pr->next; returns true if a
 * message went out. */
static bool send_entries(struct raft *r, struct progress *pr, uint64_t upto, bool send_if_empty)
{
	if (pr->next <= r->snap.index)
		return send_snapshot(r, pr);
	uint64_t n = append_batch(r, pr, upto);
	if (n == 0 && !send_if_empty)
		return false;
	struct raft_msg m = { .type = RAFT_MSG_APPEND, .to = pr->id, .term = r->term,
			      .index = pr->next - 1, .log_term = term_at(r, pr->next - 1),
			      .commit = r->commit };
	if (n > 0 && entries_dup(entry_at(r, pr->next), n, &m.entries) != 0)
		return false;
	m.entry_count = (uint32_t)n;
	if (pr->state == PR_REPLICATE)
		pr->next += n;
	else
		pr->paused = true;
	outbox_push(r, &m);
	return true;
}

/* Sends a voter the next entries it lacks; returns true if a message went
 * out.  A peer waiting for a snapshot gets nothing until it answers or the
 * retry time passes. */
static bool send_append(struct raft *r, struct progress *pr, bool send_if_empty)
{
	if (pr->state == PR_SNAPSHOT)
		return send_snapshot(r, pr);
	if (pr->paused)
		return false;
	return send_entries(r, pr, last_index(r), send_if_empty);
}

/* Pushes newly committed entries to the observers heard from within an
 * election timeout; the others catch up with their next fetch. */
static void push_observers(struct raft *r)
{
	for (uint32_t i = r->voter_count; i < r->pr_count; i++) {
		struct progress *pr = &r->prs[i];
		if (pr->state == PR_REPLICATE && pr->idle_ticks < r->election_ticks &&
		    pr->next <= r->commit)
			send_entries(r, pr, r->commit, false);
	}
}

/* The commit index moved: tell the voters (their next append carries it) and
 * push the new entries to observers. */
static void commit_advanced(struct raft *r)
{
	bcast_append(r, true);
	push_observers(r);
}

static void bcast_append(struct raft *r, bool send_if_empty)
{
	for (uint32_t i = 0; i < r->voter_count; i++)
		if ((int32_t)i != r->self)
			send_append(r, &r->prs[i], send_if_empty);
}

static void bcast_heartbeat(struct raft *r)
{
	for (uint32_t i = 0; i < r->voter_count; i++) {
		if ((int32_t)i == r->self)
			continue;
		struct progress *pr = &r->prs[i];
		struct raft_msg m = { .type = RAFT_MSG_HEARTBEAT, .to = pr->id, .term = r->term,
				      .commit = pr->match < r->commit ? pr->match : r->commit };
		outbox_push(r, &m);
	}
}

static int cmp_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Advances the commit index to the highest index a quorum has persisted,
 * but only when that entry is of the leader's own term: an entry of an
 * earlier term may be on a majority and still be overwritten (Raft, 5.4.2). */
static bool maybe_commit(struct raft *r)
{
	uint64_t matches[RN_MAX_NODES];
	for (uint32_t i = 0; i < r->voter_count; i++)
		matches[i] = r->prs[i].match;
	qsort(matches, r->voter_count, sizeof(matches[0]), cmp_u64_desc);
	uint64_t q = matches[quorum(r) - 1];
	if (q <= r->commit || term_at(r, q) != r->term)
		return false;
	r->commit = q;
	return true;
}

static void become_probe(struct progress *pr)
{
	pr->state = PR_PROBE;
	pr->next = pr->match + 1;
	pr->paused = false;
}

/* The highest index in [floor, index] whose entry has a term <= `term`, or
 * floor when there is none: an entry of a higher term cannot match a log
 * whose entry there has term `term`.  Terms never decrease along a log, so
 * a binary search finds it. */
static uint64_t last_possible_match(const struct raft *r, uint64_t index, uint64_t term,
				    uint64_t floor)
{
	uint64_t hi = index < last_index(r) ? index : last_index(r);
	if (hi <= floor || term_at(r, hi) <= term)
		return hi > floor ? hi : floor;
	uint64_t lo = floor; /* invariant: answer in [lo, hi), term_at(hi) > term */
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (term_at(r, mid) <= term)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Handles a rejected append; returns true if pr.next moved back (resend).
 * A reject carrying the follower's term at its hint lets the leader skip
 * every entry of a term the follower does not have, so a follower with a
 * long divergent suffix catches up in one round trip per term instead of
 * one per entry. */
static bool decrease_next(const struct raft *r, struct progress *pr, const struct raft_msg *m)
{
	uint64_t rejected = m->index, hint = m->reject_hint;
	if (pr->state == PR_SNAPSHOT)
		return false; /* answers an append sent before the snapshot */
	if (pr->state == PR_REPLICATE) {
		if (rejected <= pr->match)
			return false; /* stale: answers an older append */
		become_probe(pr);
		return true;
	}
	if (pr->next - 1 != rejected)
		return false; /* stale: not the probe we are waiting for */
	/* Below the snapshot the leader knows no terms: a hint there leads to
	 * the snapshot (send_append sends it for next <= snapshot index). */
	if (m->log_term > 0 && hint > r->snap.index)
		hint = last_possible_match(r, hint, m->log_term, r->snap.index);
	uint64_t next = rejected < hint + 1 ? rejected : hint + 1;
	pr->next = next < 1 ? 1 : next;
	pr->paused = false;
	return true;
}

static void handle_append_resp(struct raft *r, struct progress *pr, const struct raft_msg *m)
{
	if (m->reject) {
		if (decrease_next(r, pr, m))
			send_append(r, pr, true);
		return;
	}
	if (m->index > last_index(r))
		return; /* cannot match what we never had: ignore */
	if (pr->state == PR_SNAPSHOT) {
		/* Only the answer to the snapshot (or a later append) ends the
		 * wait; an older acknowledgement only raises match. */
		if (m->index < pr->snap_index) {
			if (m->index > pr->match)
				pr->match = m->index;
			return;
		}
		pr->state = PR_PROBE;
		pr->paused = true;
	}
	bool was_paused = pr->paused;
	if (m->index > pr->match) {
		pr->match = m->index;
		pr->paused = false;
		if (pr->state == PR_PROBE) {
			pr->state = PR_REPLICATE;
			pr->next = pr->match + 1;
		}
	}
	if (pr->next < m->index + 1)
		pr->next = m->index + 1;
	if (maybe_commit(r)) {
		commit_advanced(r);
	} else if (was_paused) {
		pr->paused = false;
		send_append(r, pr, false);
	}
	while (send_append(r, pr, false) && pr->state == PR_REPLICATE) {
	}
}

static void step_leader(struct raft *r, const struct raft_msg *m)
{
	struct progress *pr = progress_of(r, m->from);
	if (!pr || !pr->voter || (int32_t)(pr - r->prs) == r->self)
		return;
	pr->idle_ticks = 0;
	if (m->type == RAFT_MSG_APPEND_RESP) {
		pr->recent_active = true;
		handle_append_resp(r, pr, m);
	} else if (m->type == RAFT_MSG_HEARTBEAT_RESP) {
		pr->recent_active = true;
		if (m->reject && m->index < pr->match) {
			LOG_WARN("raft", "leader %llu: node %llu lost entries %llu..%llu; probing it",
				 (unsigned long long)r->id, (unsigned long long)pr->id,
				 (unsigned long long)m->index + 1, (unsigned long long)pr->match);
			pr->match = m->index;
			if (pr->state != PR_SNAPSHOT)
				become_probe(pr);
		}
		pr->paused = false;
		/* Appends may have been lost.  An append at pr.next (empty if
		 * everything was sent) makes a follower that lacks entries
		 * reject, and the leader then probes back from its match. */
		if (pr->match < last_index(r))
			send_append(r, pr, true);
	}
}

/* ---- replication (follower side) -------------------------------------- */

static void commit_to(struct raft *r, uint64_t commit)
{
	if (commit > last_index(r))
		commit = last_index(r);
	if (commit > r->commit)
		r->commit = commit;
}

/* The first entry of m that is not already in the log with the same term
 * (0 when all are), and whether it conflicts with an existing entry. */
static uint64_t find_new(const struct raft *r, const struct raft_msg *m)
{
	for (uint32_t i = 0; i < m->entry_count; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->index > last_index(r) || term_at(r, e->index) != e->term)
			return e->index;
	}
	return 0;
}

/* Appends m's entries from index `from` on, replacing a conflicting suffix. */
static int append_from(struct raft *r, const struct raft_msg *m, uint64_t from)
{
	if (from <= r->commit) {
		LOG_ERROR("raft", "node %llu: leader %llu overwrites committed entry %llu",
			  (unsigned long long)r->id, (unsigned long long)m->from,
			  (unsigned long long)from);
		return RN_E_CORRUPT_STATE;
	}
	uint64_t skip = from - m->index - 1, n = m->entry_count - skip;
	struct raft_entry *copy;
	int rc = entries_dup(&m->entries[skip], n, &copy);
	if (rc == 0)
		rc = log_reserve(r, n);
	if (rc != 0) {
		entries_free(copy, n);
		return rc;
	}
	log_truncate(r, from);
	log_append_owned(r, copy, n);
	free(copy); /* the log now owns each entry's data */
	return 0;
}

static int handle_append(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg resp = { .type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->term };
	if (m->index < r->commit) {
		/* Everything up to commit is known to match; say so. */
		resp.index = r->commit;
		outbox_push(r, &resp);
		return 0;
	}
	if (m->index > last_index(r) || term_at(r, m->index) != m->log_term) {
		resp.reject = true;
		resp.index = m->index;
		/* The leader's terms never decrease, so none of its entries up to
		 * m->index has a term above m->log_term: our entries of a higher
		 * term cannot match and the hint skips them all at once. */
		resp.reject_hint = last_possible_match(r, m->index, m->log_term, r->commit);
		resp.log_term = term_at(r, resp.reject_hint);
		outbox_push(r, &resp);
		return 0;
	}
	uint64_t from = find_new(r, m);
	if (from != 0) {
		int rc = append_from(r, m, from);
		if (rc != 0)
			return rc;
	}
	uint64_t last_new = m->index + m->entry_count;
	commit_to(r, m->commit < last_new ? m->commit : last_new);
	resp.index = last_new;
	outbox_push(r, &resp);
	return 0;
}

/* ---- snapshots (follower and observer side) --------------------------- */

/* Replaces the whole log by snapshot m.  The next Ready persists and
 * installs it, and removes every persisted entry: those up to its index are
 * covered by it, and those after it cannot match the leader, since this log
 * lacks the snapshot's last entry. */
static int install_snapshot(struct raft *r, const struct raft_msg *m)
{
	uint8_t *data;
	int rc = bytes_dup(m->snapshot, m->snapshot_len, &data);
	if (rc != 0)
		return rc;
	LOG_INFO("raft", "node %llu installs snapshot %llu (term %llu, %u bytes) from %llu",
		 (unsigned long long)r->id, (unsigned long long)m->index,
		 (unsigned long long)m->log_term, m->snapshot_len, (unsigned long long)m->from);
	for (uint64_t i = r->snap.index + 1; i <= last_index(r); i++)
		free(entry_at(r, i)->data);
	r->log_count = 0;
	free(r->snap.data);
	r->snap = (struct raft_snapshot){ .index = m->index, .term = m->log_term,
					  .len = m->snapshot_len, .data = data };
	if (r->truncate_from == 0 || r->truncate_from > m->index + 1)
		r->truncate_from = m->index + 1;
	if (r->compact_to < m->index)
		r->compact_to = m->index;
	r->handed = m->index;
	if (r->stable > m->index)
		r->stable = m->index;
	r->commit = m->index;
	r->snap_persist = r->snap_install = true;
	return 0;
}

/* Handles a snapshot from the leader; *ack receives the index to
 * acknowledge: the snapshot's when this log now reaches it, else the commit
 * index (a stale snapshot, ignored). */
static int handle_snapshot(struct raft *r, const struct raft_msg *m, uint64_t *ack)
{
	*ack = r->commit;
	if (m->index <= r->commit)
		return 0;
	if (m->index <= last_index(r) && term_at(r, m->index) == m->log_term) {
		/* The log already holds the snapshot's last entry: keep it and
		 * what follows, which may still match the leader. */
		commit_to(r, m->index);
		*ack = m->index;
		return 0;
	}
	int rc = install_snapshot(r, m);
	if (rc == 0)
		*ack = m->index;
	return rc;
}

static int step_follower(struct raft *r, const struct raft_msg *m)
{
	if (m->type != RAFT_MSG_APPEND && m->type != RAFT_MSG_HEARTBEAT &&
	    m->type != RAFT_MSG_SNAPSHOT)
		return 0;
	if (r->role != RAFT_FOLLOWER || r->leader != m->from)
		become_follower(r, m->term, m->from);
	r->election_elapsed = 0;
	if (m->type == RAFT_MSG_APPEND)
		return handle_append(r, m);
	if (m->type == RAFT_MSG_SNAPSHOT) {
		struct raft_msg resp = { .type = RAFT_MSG_APPEND_RESP, .to = m->from,
					 .term = r->term };
		int rc = handle_snapshot(r, m, &resp.index);
		if (rc == 0)
			outbox_push(r, &resp);
		return rc;
	}
	commit_to(r, m->commit);
	/* The leader never sends a commit index above what it believes this
	 * log holds; a log shorter than that lost entries (a node restarted
	 * with an empty data directory), and says so, so that the leader
	 * probes it again instead of trusting its old match index. */
	struct raft_msg resp = { .type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .term = r->term,
				 .reject = m->commit > last_index(r), .index = last_index(r) };
	outbox_push(r, &resp);
	return 0;
}

/* ---- observers -------------------------------------------------------- */

/* Asks `to` for the entries after `index` (an index this log holds). */
static void send_fetch(struct raft *r, uint64_t to, uint64_t index)
{
	struct raft_msg m = { .type = RAFT_MSG_FETCH, .to = to, .term = r->term,
			      .index = index, .log_term = term_at(r, index) };
	outbox_push(r, &m);
}

/* The periodic fetch: to the leader, or to the next voter while no leader
 * is known (a voter that does not lead names the leader it knows). */
static void observer_fetch(struct raft *r)
{
	uint64_t to = r->leader;
	if (to == 0)
		to = r->prs[r->fetch_rotor++ % r->voter_count].id;
	send_fetch(r, to, last_index(r));
}

static void tick_observer(struct raft *r)
{
	r->election_elapsed++;
	r->heartbeat_elapsed++;
	if (r->leader != 0 && r->election_elapsed >= r->election_ticks) {
		/* The leader answers every fetch; silence for an election
		 * timeout means it is gone or deposed. */
		LOG_INFO("raft", "observer %llu lost leader %llu", (unsigned long long)r->id,
			 (unsigned long long)r->leader);
		r->leader = 0;
		r->election_elapsed = 0;
	}
	if (r->heartbeat_elapsed >= r->heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		observer_fetch(r);
	}
}

/* A voter that does not lead named the leader it knows: fetch from it. */
static void observer_redirect(struct raft *r, const struct raft_msg *m)
{
	uint64_t hint = m->reject_hint;
	if (hint == 0 || !is_voter(r, hint) || m->term < r->term)
		return;
	if (m->term > r->term) {
		r->term = m->term;
		r->vote = 0;
	}
	if (r->leader == hint)
		return;
	r->leader = hint;
	r->election_elapsed = 0;
	observer_fetch(r);
}

/* An APPEND to an observer holds committed entries only.  The part at or
 * below the commit index is already here; a mismatch is answered with a
 * fetch from the last point that may match, and a commit index beyond the
 * entries received with a fetch for the rest. */
static int observer_append(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg v = *m;
	if (v.index < r->commit) {
		uint64_t skip = r->commit - v.index;
		if (skip >= v.entry_count) {
			if (v.commit > last_index(r))
				send_fetch(r, m->from, last_index(r));
			return 0;
		}
		v.index = r->commit;
		v.log_term = v.entries[skip - 1].term;
		v.entries += skip;
		v.entry_count -= (uint32_t)skip;
	}
	if (v.index > last_index(r) || term_at(r, v.index) != v.log_term) {
		send_fetch(r, m->from, last_possible_match(r, v.index, v.log_term, r->commit));
		return 0;
	}
	uint64_t from = find_new(r, &v);
	if (from != 0) {
		int rc = append_from(r, &v, from);
		if (rc != 0)
			return rc;
	}
	uint64_t last_new = v.index + v.entry_count;
	commit_to(r, v.commit < last_new ? v.commit : last_new);
	if (v.commit > last_index(r))
		send_fetch(r, m->from, last_index(r));
	return 0;
}

static int step_observer(struct raft *r, const struct raft_msg *m)
{
	if (m->type == RAFT_MSG_FETCH_RESP) {
		observer_redirect(r, m);
		return 0;
	}
	if ((m->type != RAFT_MSG_APPEND && m->type != RAFT_MSG_SNAPSHOT) || m->term < r->term)
		return 0;
	if (m->term > r->term || r->leader != m->from)
		become_follower(r, m->term, m->from);
	r->election_elapsed = 0;
	if (m->type == RAFT_MSG_APPEND)
		return observer_append(r, m);
	uint64_t ack;
	int rc = handle_snapshot(r, m, &ack);
	if (rc == 0 && ack >= m->index)
		send_fetch(r, m->from, last_index(r));
	return rc;
}

/* The leader's record of observer id, added on its first fetch.  When the
 * table is full, the observer silent the longest (at least an election
 * timeout) gives up its slot.  NULL when id is a voter or there is no room. */
static struct progress *observer_progress(struct raft *r, uint64_t id)
{
	struct progress *pr = progress_of(r, id);
	if (pr)
		return pr->voter ? NULL : pr;
	uint32_t slot = r->pr_count;
	if (slot == RN_MAX_NODES) {
		uint32_t worst = 0;
		for (uint32_t i = r->voter_count; i < r->pr_count; i++) {
			if (r->prs[i].idle_ticks >= r->election_ticks &&
			    r->prs[i].idle_ticks >= worst) {
				worst = r->prs[i].idle_ticks;
				slot = i;
			}
		}
		if (slot == RN_MAX_NODES) {
			LOG_WARN("raft", "node %llu: no room to track observer %llu",
				 (unsigned long long)r->id, (unsigned long long)id);
			return NULL;
		}
	} else {
		r->pr_count++;
	}
	pr = &r->prs[slot];
	*pr = (struct progress){ .id = id, .state = PR_PROBE, .next = last_index(r) + 1 };
	LOG_INFO("raft", "leader %llu: observer %llu fetches", (unsigned long long)r->id,
		 (unsigned long long)id);
	return pr;
}

/* The leader answers a fetch with the committed entries after the point
 * where the observer's log matches its own, or with its snapshot when the
 * observer is behind it. */
static void leader_fetch(struct raft *r, const struct raft_msg *m)
{
	if (m->term > r->term)
		return; /* this leader is deposed; the observer knows a newer one */
	struct progress *pr = observer_progress(r, m->from);
	if (!pr)
		return;
	pr->idle_ticks = 0;
	if (m->index < r->snap.index ||
	    (m->index == r->snap.index && m->log_term != r->snap.term)) {
		send_snapshot(r, pr);
		return;
	}
	uint64_t p = m->index;
	if (p <= last_index(r) && term_at(r, p) == m->log_term)
		pr->match = p;
	else
		p = last_possible_match(r, p, m->log_term, r->snap.index);
	pr->state = PR_REPLICATE;
	pr->paused = false;
	pr->next = p + 1;
	send_entries(r, pr, r->commit, true);
}

static void handle_fetch(struct raft *r, const struct raft_msg *m)
{
	if (r->role == RAFT_LEADER) {
		if (!is_voter(r, m->from))
			leader_fetch(r, m);
		return;
	}
	struct raft_msg resp = { .type = RAFT_MSG_FETCH_RESP, .to = m->from, .term = r->term,
				 .reject = true, .reject_hint = r->leader };
	outbox_push(r, &resp);
}

/* ---- stepping --------------------------------------------------------- */

static bool in_lease(const struct raft *r)
{
	return r->check_quorum && r->leader != 0 && r->election_elapsed < r->election_ticks;
}

/* Applies the term rules common to every role.  Returns false when the
 * message is stale or must be ignored. */
static bool check_term(struct raft *r, const struct raft_msg *m)
{
	bool vote_req = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
	bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
			   m->type == RAFT_MSG_SNAPSHOT;
	if (m->term > r->term) {
		/* A node that heard from a leader recently ignores campaigns: the
		 * candidate is probably the one that lost contact. */
		if (vote_req && in_lease(r))
			return false;
		if (m->type == RAFT_MSG_PRE_VOTE)
			return true;
		if (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject)
			return true;
		if (from_leader) {
			become_follower(r, m->term, m->from);
		} else {
			/* Only hearing from a leader or granting a vote restarts the
			 * election timer (Raft, figure 2).  Otherwise a candidate
			 * whose log is behind could keep the one node that can win
			 * from ever timing out. */
			uint32_t elapsed = r->election_elapsed, timeout = r->randomized_timeout;
			bool was_leader = r->role == RAFT_LEADER;
			become_follower(r, m->term, 0);
			if (!was_leader) {
				r->election_elapsed = elapsed;
				r->randomized_timeout = timeout;
			}
		}
		return true;
	}
	if (m->term < r->term) {
		/* Tell a deposed leader about the new term, or it would never
		 * learn it when pre-vote or check-quorum silence the others. */
		if ((r->check_quorum || r->pre_vote) && from_leader)
			send_simple(r, RAFT_MSG_APPEND_RESP, m->from, r->term, false);
		else if (m->type == RAFT_MSG_PRE_VOTE)
			send_simple(r, RAFT_MSG_PRE_VOTE_RESP, m->from, r->term, true);
		return false;
	}
	return true;
}

static int validate_entries(const struct raft_msg *m)
{
	if (m->entry_count == 0)
		return 0;
	if (m->type != RAFT_MSG_APPEND || !m->entries || m->entry_count > RAFT_MAX_ENTRIES_PER_MSG)
		return RN_E_INVAL;
	if (m->index > UINT64_MAX - RAFT_MAX_ENTRIES_PER_MSG - 1)
		return RN_E_INVAL;
	uint64_t prev_term = m->log_term;
	for (uint32_t i = 0; i < m->entry_count; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term)
			return RN_E_INVAL;
		if (e->len > RN_MAX_METADATA_RECORD_BYTES || (e->len > 0 && !e->data))
			return RN_E_INVAL;
		prev_term = e->term;
	}
	return 0;
}

static int validate_snapshot(const struct raft_msg *m)
{
	if (m->type != RAFT_MSG_SNAPSHOT)
		return m->snapshot_len == 0 && !m->snapshot ? 0 : RN_E_INVAL;
	if (m->snapshot_len > RAFT_MAX_SNAPSHOT_BYTES || (m->snapshot_len > 0 && !m->snapshot))
		return RN_E_INVAL;
	return m->index >= 1 && m->log_term >= 1 ? 0 : RN_E_INVAL;
}

static int validate_msg(const struct raft *r, const struct raft_msg *m)
{
	if (m->to != r->id || m->from == 0 || m->from == r->id)
		return RN_E_INVAL;
	if (m->type < RAFT_MSG_VOTE || m->type > RAFT_MSG_SNAPSHOT)
		return RN_E_INVAL;
	if (m->log_term > m->term && m->type != RAFT_MSG_PRE_VOTE)
		return RN_E_INVAL;
	/* Only voters take part; any node may fetch. */
	if (m->type != RAFT_MSG_FETCH && !is_voter(r, m->from))
		return RN_E_INVAL;
	int rc = validate_snapshot(m);
	return rc != 0 ? rc : validate_entries(m);
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	int rc = validate_msg(r, m);
	if (rc != 0)
		return rc;
	if (r->observer)
		return step_observer(r, m);
	/* Fetches carry the observer's term only as information: they neither
	 * raise nor are refused by this node's term. */
	if (m->type == RAFT_MSG_FETCH) {
		handle_fetch(r, m);
		return 0;
	}
	if (m->type == RAFT_MSG_FETCH_RESP)
		return 0;
	if (!check_term(r, m))
		return 0;
	switch (m->type) {
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PRE_VOTE:
		handle_vote(r, m);
		return 0;
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PRE_VOTE_RESP:
		handle_vote_resp(r, m);
		return 0;
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		if (r->role == RAFT_LEADER) {
			LOG_WARN("raft", "node %llu: second leader %llu at term %llu",
				 (unsigned long long)r->id, (unsigned long long)m->from,
				 (unsigned long long)m->term);
			return 0;
		}
		return step_follower(r, m);
	case RAFT_MSG_APPEND_RESP:
	case RAFT_MSG_HEARTBEAT_RESP:
		if (r->role == RAFT_LEADER)
			step_leader(r, m);
		return 0;
	case RAFT_MSG_FETCH:
	case RAFT_MSG_FETCH_RESP:
		return 0;
	}
	return 0;
}

/* ---- ticks and proposals ---------------------------------------------- */

static bool quorum_active(struct raft *r)
{
	uint32_t active = 0;
	for (uint32_t i = 0; i < r->voter_count; i++) {
		if ((int32_t)i == r->self || r->prs[i].recent_active)
			active++;
		if ((int32_t)i != r->self)
			r->prs[i].recent_active = false;
	}
	return active >= quorum(r);
}

static void tick_peers(struct raft *r)
{
	for (uint32_t i = 0; i < r->pr_count; i++) {
		struct progress *pr = &r->prs[i];
		if ((int32_t)i == r->self)
			continue;
		if (pr->idle_ticks < UINT32_MAX)
			pr->idle_ticks++;
		if (pr->state == PR_SNAPSHOT && pr->snap_wait < UINT32_MAX)
			pr->snap_wait++;
	}
}

static void tick_leader(struct raft *r)
{
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	tick_peers(r);
	if (r->election_elapsed >= r->election_ticks) {
		r->election_elapsed = 0;
		if (r->check_quorum && !quorum_active(r)) {
			LOG_WARN("raft", "node %llu: lost contact with a quorum, stepping down",
				 (unsigned long long)r->id);
			become_follower(r, r->term, 0);
			return;
		}
	}
	if (r->heartbeat_elapsed >= r->heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		bcast_heartbeat(r);
	}
}

void raft_tick(struct raft *r)
{
	if (r->observer) {
		tick_observer(r);
		return;
	}
	if (r->role == RAFT_LEADER) {
		tick_leader(r);
		return;
	}
	r->election_elapsed++;
	if (r->self < 0)
		return;
	/* A lone voter need not wait out a timeout: nobody else can lead. */
	bool alone = r->voter_count == 1 && r->role == RAFT_FOLLOWER;
	if (alone || r->election_elapsed >= r->randomized_timeout)
		campaign(r, r->pre_vote);
}

int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index_out)
{
	if (r->role != RAFT_LEADER)
		return RN_E_NOT_CONTROLLER;
	if (len > RN_MAX_METADATA_RECORD_BYTES || (len > 0 && !data))
		return RN_E_INVAL;
	if (last_index(r) - r->commit >= RAFT_MAX_UNCOMMITTED_ENTRIES)
		return RN_E_FULL;
	struct raft_entry src = { .term = r->term, .index = last_index(r) + 1, .len = len,
				  .data = (uint8_t *)data };
	struct raft_entry *copy;
	int rc = entries_dup(&src, 1, &copy);
	if (rc == 0)
		rc = log_reserve(r, 1);
	if (rc != 0) {
		entries_free(copy, 1);
		return rc;
	}
	log_append_owned(r, copy, 1);
	free(copy);
	r->prs[r->self].next = last_index(r) + 1;
	bcast_append(r, false);
	if (index_out)
		*index_out = last_index(r);
	return 0;
}

/* ---- Ready ------------------------------------------------------------ */

static uint64_t committed_limit(const struct raft *r)
{
	return r->commit < r->stable ? r->commit : r->stable;
}

/* What the state machine will have applied once the snapshot waiting to be
 * installed is: committed entries are delivered after this index. */
static uint64_t apply_base(const struct raft *r)
{
	return r->snap_install && r->snap.index > r->applied ? r->snap.index : r->applied;
}

bool raft_has_ready(const struct raft *r)
{
	if (r->ready_out)
		return false;
	struct raft_hard_state hs = hard_state(r);
	return !hs_equal(&hs, &r->hs_handed) || r->truncate_from != 0 || r->snap_persist ||
	       r->compact_to != 0 || last_index(r) > r->handed ||
	       committed_limit(r) > apply_base(r) || r->outbox_count > 0;
}

/* Moves the pending snapshot work into the Ready; the snapshot is copied
 * because raft_compact or a newer snapshot may replace it meanwhile. */
static int ready_snapshot(struct raft *r, struct raft_ready *rd)
{
	if (r->snap_persist) {
		uint8_t *data;
		if (bytes_dup(r->snap.data, r->snap.len, &data) != 0)
			return RN_E_NOMEM;
		r->ready_snap = r->snap;
		r->ready_snap.data = data;
		r->ready_has_snap = true;
		rd->snapshot = &r->ready_snap;
		rd->snapshot_install = r->snap_install;
	}
	rd->compact_to = r->compact_to;
	r->snap_persist = r->snap_install = false;
	r->compact_to = 0;
	return 0;
}

int raft_ready(struct raft *r, struct raft_ready *rd)
{
	RN_ASSERT(!r->ready_out);
	/* Copies, so that the Ready stays intact while the shell keeps calling
	 * the core (proposals may grow the log, an append may truncate it).
	 * They are made first so that running out of memory changes nothing. */
	RN_ASSERT(r->handed >= r->snap.index);
	uint64_t n_new = last_index(r) - r->handed;
	uint64_t hi = committed_limit(r), base = apply_base(r);
	uint64_t n_commit = hi > base ? hi - base : 0;
	struct raft_entry *entries = NULL, *committed = NULL;
	if (n_new > 0 && entries_dup(entry_at(r, r->handed + 1), n_new, &entries) != 0)
		return RN_E_NOMEM;
	if (n_commit > 0 && entries_dup(entry_at(r, base + 1), n_commit, &committed) != 0) {
		entries_free(entries, n_new);
		return RN_E_NOMEM;
	}
	memset(rd, 0, sizeof(*rd));
	if (ready_snapshot(r, rd) != 0) {
		entries_free(entries, n_new);
		entries_free(committed, n_commit);
		return RN_E_NOMEM;
	}
	rd->hs = hard_state(r);
	rd->hard_state_changed = !hs_equal(&rd->hs, &r->hs_handed);
	r->hs_handed = rd->hs;
	rd->truncate_from = r->truncate_from;
	r->truncate_from = 0;
	r->handed = last_index(r);
	r->ready_handed = r->handed;
	r->ready_applied = hi > base ? hi : base;

	r->ready_entries = entries;
	r->ready_entry_count = (uint32_t)n_new;
	r->ready_committed = committed;
	r->ready_committed_count = (uint32_t)n_commit;
	r->ready_msgs = r->outbox;
	r->ready_msg_count = r->outbox_count;
	r->outbox = NULL;
	r->outbox_count = r->outbox_cap = 0;

	rd->entries = r->ready_entries;
	rd->entry_count = r->ready_entry_count;
	rd->committed = r->ready_committed;
	rd->committed_count = r->ready_committed_count;
	rd->msgs = r->ready_msgs;
	rd->msg_count = r->ready_msg_count;
	r->ready_out = true;
	return 0;
}

static void ready_release(struct raft *r)
{
	if (r->ready_has_snap)
		free(r->ready_snap.data);
	r->ready_has_snap = false;
	entries_free(r->ready_entries, r->ready_entry_count);
	entries_free(r->ready_committed, r->ready_committed_count);
	msgs_free(r->ready_msgs, r->ready_msg_count);
	r->ready_entries = r->ready_committed = NULL;
	r->ready_msgs = NULL;
	r->ready_entry_count = r->ready_committed_count = r->ready_msg_count = 0;
	r->ready_out = false;
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
	RN_ASSERT(r->ready_out);
	RN_ASSERT(rd->entries == r->ready_entries && rd->msgs == r->ready_msgs);
	/* A snapshot installed while this Ready was out may have lowered
	 * handed; what it removed is not stable. */
	r->stable = r->ready_handed < r->handed ? r->ready_handed : r->handed;
	r->hs_stable = rd->hs;
	r->applied = r->ready_applied;
	ready_release(r);

	/* Now that the new term and vote are durable, the candidate's own
	 * vote counts. */
	if (r->role == RAFT_CANDIDATE && r->hs_stable.term == r->term &&
	    r->hs_stable.vote == r->id && r->prs[r->self].vote == 0) {
		r->prs[r->self].vote = 1;
		handle_poll(r);
	}
	if (r->role == RAFT_LEADER) {
		r->prs[r->self].match = r->stable;
		if (maybe_commit(r))
			commit_advanced(r);
	}
}

/* ---- construction ----------------------------------------------------- */

static bool config_has(const struct raft_config *cfg, uint64_t id)
{
	for (uint32_t i = 0; i < cfg->voter_count; i++)
		if (cfg->voters[i] == id)
			return true;
	return false;
}

static int check_config(const struct raft_config *cfg)
{
	if (cfg->id == 0 || !cfg->voters || cfg->voter_count == 0 ||
	    cfg->voter_count > RN_MAX_NODES)
		return RN_E_INVAL;
	if (cfg->heartbeat_ticks == 0 || cfg->election_ticks <= cfg->heartbeat_ticks)
		return RN_E_INVAL;
	for (uint32_t i = 0; i < cfg->voter_count; i++) {
		if (cfg->voters[i] == 0)
			return RN_E_INVAL;
		for (uint32_t j = 0; j < i; j++)
			if (cfg->voters[j] == cfg->voters[i])
				return RN_E_INVAL;
	}
	if (cfg->observer && config_has(cfg, cfg->id))
		return RN_E_INVAL;
	return 0;
}

static int check_snapshot(const struct raft_hard_state *hs, const struct raft_snapshot *snap)
{
	if (snap->index == 0)
		return 0;
	if (snap->term == 0 || snap->term > hs->term || snap->len > RAFT_MAX_SNAPSHOT_BYTES ||
	    (snap->len > 0 && !snap->data))
		return RN_E_CORRUPT_STATE;
	return 0;
}

static int check_log(const struct raft_restore *rs, const struct raft_snapshot *snap)
{
	const struct raft_hard_state *hs = rs->hs;
	if (rs->log_count > 0 && !rs->log)
		return RN_E_INVAL;
	int rc = check_snapshot(hs, snap);
	if (rc != 0)
		return rc;
	uint64_t prev_term = snap->term;
	for (uint32_t i = 0; i < rs->log_count; i++) {
		const struct raft_entry *e = &rs->log[i];
		if (e->index != snap->index + 1 + i || e->term < prev_term || e->term > hs->term ||
		    e->len > RN_MAX_METADATA_RECORD_BYTES || (e->len > 0 && !e->data))
			return RN_E_CORRUPT_STATE;
		prev_term = e->term;
	}
	uint64_t commit = hs->commit > snap->index ? hs->commit : snap->index;
	if (commit > snap->index + rs->log_count || rs->applied_index > commit)
		return RN_E_CORRUPT_STATE;
	return 0;
}

static int restore(struct raft *r, const struct raft_restore *rs, const struct raft_snapshot *snap)
{
	const struct raft_hard_state *hs = rs->hs;
	int rc = log_reserve(r, rs->log_count);
	if (rc == 0)
		rc = bytes_dup(snap->data, snap->len, &r->snap.data);
	if (rc != 0)
		return rc;
	r->snap.index = snap->index;
	r->snap.term = snap->term;
	r->snap.len = snap->len;
	struct raft_entry *copy;
	rc = entries_dup(rs->log, rs->log_count, &copy);
	if (rc != 0)
		return rc;
	log_append_owned(r, copy, rs->log_count);
	free(copy);
	r->term = hs->term;
	r->vote = hs->vote;
	r->commit = hs->commit > snap->index ? hs->commit : snap->index;
	r->hs_handed = r->hs_stable = *hs;
	r->handed = r->stable = last_index(r);
	r->applied = rs->applied_index;
	/* A state machine behind the snapshot starts from the snapshot. */
	if (r->applied < snap->index)
		r->snap_persist = r->snap_install = true;
	return 0;
}

static void configure(struct raft *r, const struct raft_config *cfg)
{
	r->id = cfg->id;
	r->voter_count = r->pr_count = cfg->voter_count;
	r->self = -1;
	for (uint32_t i = 0; i < cfg->voter_count; i++) {
		r->prs[i].id = cfg->voters[i];
		r->prs[i].voter = true;
		if (cfg->voters[i] == cfg->id)
			r->self = (int32_t)i;
	}
	r->observer = r->self < 0;
	r->election_ticks = cfg->election_ticks;
	r->heartbeat_ticks = cfg->heartbeat_ticks;
	r->pre_vote = cfg->pre_vote;
	r->check_quorum = cfg->check_quorum;
	r->rng = cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ull);
	/* Observers spread their first fetches over the voters. */
	r->fetch_rotor = (uint32_t)(cfg->id % cfg->voter_count);
}

int raft_new_from(const struct raft_config *cfg, const struct raft_restore *in,
		  struct raft **out)
{
	static const struct raft_hard_state zero_hs;
	static const struct raft_snapshot no_snap;
	struct raft_restore rs = *in;
	if (!rs.hs)
		rs.hs = &zero_hs;
	const struct raft_snapshot *snap = rs.snapshot ? rs.snapshot : &no_snap;
	int rc = check_config(cfg);
	if (rc == 0)
		rc = check_log(&rs, snap);
	if (rc != 0)
		return rc;
	struct raft *r = calloc(1, sizeof(*r));
	if (!r)
		return RN_E_NOMEM;
	configure(r, cfg);
	rc = restore(r, &rs, snap);
	if (rc != 0) {
		raft_free(r);
		return rc;
	}
	r->role = RAFT_FOLLOWER;
	reset_timers(r);
	*out = r;
	return 0;
}

int raft_new(const struct raft_config *cfg, const struct raft_hard_state *hs,
	     const struct raft_entry *log, uint32_t log_count, uint64_t applied_index,
	     struct raft **out)
{
	struct raft_restore rs = { .hs = hs, .log = log, .log_count = log_count,
				   .applied_index = applied_index };
	return raft_new_from(cfg, &rs, out);
}

void raft_free(struct raft *r)
{
	if (!r)
		return;
	ready_release(r);
	free(r->snap.data);
	entries_free(r->log, r->log_count);
	msgs_free(r->outbox, r->outbox_count);
	free(r);
}

uint64_t raft_leader(const struct raft *r)
{
	return r->leader;
}

bool raft_is_leader(const struct raft *r)
{
	return r->role == RAFT_LEADER;
}

uint64_t raft_term(const struct raft *r)
{
	return r->term;
}

uint64_t raft_commit_index(const struct raft *r)
{
	return r->commit;
}

uint64_t raft_last_index(const struct raft *r)
{
	return last_index(r);
}

uint64_t raft_snapshot_index(const struct raft *r)
{
	return r->snap.index;
}

uint64_t raft_applied_index(const struct raft *r)
{
	return r->applied;
}

enum raft_role raft_role(const struct raft *r)
{
	return r->role;
}

/* ---- compaction and status -------------------------------------------- */

int raft_compact(struct raft *r, uint64_t index, const void *snapshot, uint32_t len)
{
	if (len > RAFT_MAX_SNAPSHOT_BYTES)
		return RN_E_FULL;
	if ((len > 0 && !snapshot) || index > r->applied)
		return RN_E_INVAL;
	if (index <= r->snap.index)
		return 0;
	uint8_t *data;
	if (bytes_dup(snapshot, len, &data) != 0)
		return RN_E_NOMEM;
	/* Applied entries are persisted and committed (applied <= stable and
	 * commit), so none of the dropped ones is still to be handed out. */
	RN_ASSERT(index <= r->stable && index <= r->commit && index <= r->handed);
	uint64_t term = term_at(r, index), drop = index - r->snap.index;
	for (uint64_t i = 0; i < drop; i++)
		free(r->log[i].data);
	memmove(r->log, r->log + drop, (r->log_count - drop) * sizeof(*r->log));
	r->log_count -= drop;
	free(r->snap.data);
	r->snap = (struct raft_snapshot){ .index = index, .term = term, .len = len, .data = data };
	r->snap_persist = true;
	r->compact_to = index;
	return 0;
}

void raft_status(const struct raft *r, struct raft_status *st)
{
	memset(st, 0, sizeof(*st));
	st->id = r->id;
	st->role = r->role;
	st->observer = r->observer;
	st->term = r->term;
	st->vote = r->vote;
	st->leader = r->leader;
	st->commit = r->commit;
	st->applied = r->applied;
	st->first_index = r->snap.index + 1;
	st->last_index = last_index(r);
	st->snapshot_index = r->snap.index;
	st->snapshot_term = r->snap.term;
	if (r->role != RAFT_LEADER)
		return;
	for (uint32_t i = 0; i < r->pr_count; i++) {
		const struct progress *pr = &r->prs[i];
		struct raft_peer_status *ps = &st->peers[st->peer_count++];
		ps->id = pr->id;
		ps->voter = pr->voter;
		ps->match = (int32_t)i == r->self ? r->stable : pr->match;
		ps->ticks_since_contact = (int32_t)i == r->self ? 0 : pr->idle_ticks;
	}
}
