/* sim.c: a deterministic whole-cluster simulator of the Raft core and its safety checker. */
#include "test/sim/sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "raft/raft.h"

/* ---- the shape of one run --------------------------------------------- */

/* Simulated time advances in units; a node ticks every SIM_TICK_MIN_UNITS to
 * SIM_TICK_MAX_UNITS units (fixed per node and run), so clocks run at
 * different speeds. */
#define SIM_TICK_MIN_UNITS 4u
#define SIM_TICK_MAX_UNITS 6u
/* Length of the phase with faults; the quiet phase follows. */
#define SIM_FAULT_UNITS 400u
/* Message delay: usually 1..SIM_DELAY_MAX_UNITS, sometimes (a per-run rate)
 * up to SIM_LONG_DELAY_MAX_UNITS, which reorders messages heavily. */
#define SIM_DELAY_MAX_UNITS 4u
#define SIM_LONG_DELAY_MAX_UNITS 40u
/* Time from handing a write to the disk until its fsync completes. */
#define SIM_SYNC_MAX_UNITS 3u
#define SIM_SLOW_SYNC_MAX_UNITS 20u
/* Longest time a crashed node stays down during the fault phase. */
#define SIM_MAX_DOWN_UNITS 120u
/* Messages in flight; beyond this the network drops (counts as loss). */
#define SIM_MAX_INFLIGHT 4096u
/* Proposal payloads: an 8-byte tag plus 0..SIM_PAYLOAD_PAD_MAX filler bytes
 * derived from the tag, so every delivered copy can be verified. */
#define SIM_PAYLOAD_PAD_MAX 7u
#define SIM_MAX_PAYLOAD_BYTES (8u + SIM_PAYLOAD_PAD_MAX)
/* Share of proposal events that are bursts, and the largest burst. */
#define SIM_BURST_PM 50u
#define SIM_BURST_MAX 40u
/* Tags of the proposals made in the quiet phase to show liveness. */
#define SIM_MARKER_BIT (1ull << 62)
/* A compaction keeps up to this many applied entries out of the snapshot
 * (it compacts to a random index among the last ones applied). */
#define SIM_COMPACT_SPREAD 8u
/* Bytes per entry in a snapshot of the simulated state machine. */
#define SIM_SNAPSHOT_ENTRY_BYTES 16u

/* ---- the generator: xoshiro256** seeded through splitmix64 ------------ */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *g, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *g)
{
	uint64_t *s = g->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* A value in [0, n); the modulo bias is irrelevant at these ranges. */
static uint64_t rng_below(struct rng *g, uint64_t n)
{
	return n ? rng_next(g) % n : 0;
}

static bool rng_permille(struct rng *g, uint32_t p)
{
	return rng_below(g, 1000) < p;
}

/* ---- logs as the checker sees them ------------------------------------ */

/* An entry reduced to what identifies it: its term and the tag its payload
 * carries (0 for the leaders' no-op entries).  Entry i is e[i - 1]. */
struct sent {
	uint64_t term, tag;
};

struct slog {
	struct sent *e;
	uint64_t n, cap;
};

static void slog_push(struct slog *l, uint64_t term, uint64_t tag)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = realloc(l->e, l->cap * sizeof(*l->e));
		RN_ASSERT(l->e != NULL);
	}
	l->e[l->n].term = term;
	l->e[l->n].tag = tag;
	l->n++;
}

static void slog_truncate(struct slog *l, uint64_t from)
{
	if (from >= 1 && from - 1 < l->n)
		l->n = from - 1;
}

static void slog_copy(struct slog *dst, const struct slog *src)
{
	dst->n = 0;
	for (uint64_t i = 0; i < src->n; i++)
		slog_push(dst, src->e[i].term, src->e[i].tag);
}

static bool sent_equal(const struct sent *a, const struct sent *b)
{
	return a->term == b->term && a->tag == b->tag;
}

/* ---- payloads ---------------------------------------------------------- */

static uint32_t payload_len(uint64_t tag)
{
	return 8u + (uint32_t)(tag % (SIM_PAYLOAD_PAD_MAX + 1));
}

static void payload_fill(uint64_t tag, uint8_t *buf)
{
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(tag >> (8 * i));
	for (uint32_t i = 8; i < payload_len(tag); i++)
		buf[i] = (uint8_t)(tag * 31u + i);
}

/* Recovers the tag of e and checks every byte; false when the core handed
 * out a corrupted or truncated payload. */
static bool payload_decode(const struct raft_entry *e, uint64_t *tag)
{
	*tag = 0;
	if (e->len == 0)
		return e->data == NULL;
	if (e->len < 8 || e->len > SIM_MAX_PAYLOAD_BYTES || !e->data)
		return false;
	uint64_t t = 0;
	for (int i = 0; i < 8; i++)
		t |= (uint64_t)e->data[i] << (8 * i);
	uint8_t want[SIM_MAX_PAYLOAD_BYTES];
	if (t == 0 || e->len != payload_len(t))
		return false;
	payload_fill(t, want);
	*tag = t;
	return memcmp(want, e->data, e->len) == 0;
}

/* ---- snapshots of the simulated state machine -------------------------- */

/* A snapshot is the applied sequence itself: per entry its term and tag,
 * 8 bytes each, little-endian.  Installing one must give a node exactly the
 * sequence every other node applied. */
static void snapshot_encode(const struct slog *sm, uint64_t upto, uint8_t **buf, uint32_t *len)
{
	RN_ASSERT(upto <= sm->n);
	*len = (uint32_t)(upto * SIM_SNAPSHOT_ENTRY_BYTES);
	*buf = *len ? malloc(*len) : NULL;
	RN_ASSERT(*len == 0 || *buf);
	for (uint64_t i = 0; i < upto; i++)
		for (int b = 0; b < 8; b++) {
			(*buf)[i * 16 + (uint64_t)b] = (uint8_t)(sm->e[i].term >> (8 * b));
			(*buf)[i * 16 + 8 + (uint64_t)b] = (uint8_t)(sm->e[i].tag >> (8 * b));
		}
}

/* Decodes snap into out; false when its size, index or term disagree. */
static bool snapshot_decode(const struct raft_snapshot *snap, struct slog *out)
{
	out->n = 0;
	if (snap->len != snap->index * SIM_SNAPSHOT_ENTRY_BYTES || (snap->len && !snap->data))
		return false;
	for (uint64_t i = 0; i < snap->index; i++) {
		uint64_t term = 0, tag = 0;
		for (int b = 0; b < 8; b++) {
			term |= (uint64_t)snap->data[i * 16 + (uint64_t)b] << (8 * b);
			tag |= (uint64_t)snap->data[i * 16 + 8 + (uint64_t)b] << (8 * b);
		}
		slog_push(out, term, tag);
	}
	return snap->index == 0 || out->e[snap->index - 1].term == snap->term;
}

/* ---- the cluster ------------------------------------------------------- */

struct node {
	uint64_t id;
	bool observer;
	struct raft *r; /* NULL while the node is down */
	uint32_t tick_units;
	uint64_t next_tick, restart_at;
	bool sm_durable; /* the applied state survives a crash */

	/* What the disk holds durably.  disk is the whole sequence: entries
	 * 1..disk_snap are held by the durable snapshot, the rest by the log. */
	struct raft_hard_state hs;
	struct slog disk;
	uint64_t disk_snap;
	/* The state before the last synced write (only kept to inject
	 * SIM_INJECT_FORGET_SYNC). */
	struct raft_hard_state prev_hs;
	struct slog prev_disk;
	uint64_t prev_snap;
	bool has_prev;

	/* The Ready being persisted, and the log with it applied. */
	bool writing;
	struct raft_ready rd;
	uint64_t sync_at;
	struct slog handed;
	uint64_t handed_snap;

	/* The state machine: every entry applied, in order (sm.n == applied).
	 * Its snapshot is this sequence, serialized. */
	struct slog sm;
	uint64_t applied; /* entries the state machine applied, 1..applied */
	bool applied_marker;
	uint64_t seen_commit; /* highest commit index seen in this incarnation */
};

struct flight {
	uint64_t at; /* delivery time */
	struct raft_msg m;
};

struct sim {
	const struct sim_options *opt;
	struct sim_result *res;
	struct rng g;
	uint32_t n; /* voters: nodes 1..n */
	uint32_t m; /* members: voters, then observers n+1..m */
	uint64_t voters[SIM_MAX_NODES];
	bool pre_vote, check_quorum;
	struct node nodes[SIM_MAX_MEMBERS];
	bool blocked[SIM_MAX_MEMBERS][SIM_MAX_MEMBERS]; /* [from][to] */
	struct flight *net;
	uint32_t net_count, net_cap;

	/* Fault intensities of this run: per mille per message or write, and
	 * per ten thousand per time unit for crashes and partitions. */
	uint32_t loss_pm, dup_pm, long_delay_pm, slow_sync_pm, propose_pm, compact_pm;
	uint32_t crash_p10k, partition_p10k;

	uint64_t now;
	bool quiet;
	uint64_t bound_units;
	uint32_t max_tick_units;
	uint64_t next_tag, marker_term;

	/* The checker's memory: every entry known committed, in order, and the
	 * leader of every term (0: none seen). */
	struct slog committed;
	uint64_t *leaders;
	uint64_t leaders_cap;
	bool logs_dirty;
	bool failed;
};

static void trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(struct sim *s, const char *fmt, ...)
{
	if (!s->opt->verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "[step %5llu t=%4llu] ", (unsigned long long)s->res->steps,
		(unsigned long long)s->now);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Records the first broken invariant; the run stops after this step. */
static void fail(struct sim *s, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->res->reason, sizeof(s->res->reason), fmt, ap);
	va_end(ap);
	s->res->ok = false;
	s->res->failed_step = s->res->steps;
	trace(s, "VIOLATION: %s", s->res->reason);
}

static struct node *node_of(struct sim *s, uint64_t id)
{
	RN_ASSERT(id >= 1 && id <= s->m);
	return &s->nodes[id - 1];
}

static uint32_t quorum(const struct sim *s)
{
	return s->n / 2 + 1;
}

/* ---- the checker ------------------------------------------------------- */

/* Compares entry i of a node's log with the committed record, extending the
 * record when i is the next index to become known committed. */
static void check_committed_entry(struct sim *s, uint64_t id, uint64_t i, const struct sent *e,
				  const char *what)
{
	if (i <= s->committed.n) {
		const struct sent *c = &s->committed.e[i - 1];
		if (!sent_equal(c, e))
			fail(s, "node %llu %s entry %llu (term %llu tag %llu) but committed entry "
				"%llu is term %llu tag %llu",
			     (unsigned long long)id, what, (unsigned long long)i,
			     (unsigned long long)e->term, (unsigned long long)e->tag,
			     (unsigned long long)i, (unsigned long long)c->term,
			     (unsigned long long)c->tag);
		return;
	}
	if (i != s->committed.n + 1) {
		fail(s, "node %llu %s entry %llu beyond the committed prefix %llu",
		     (unsigned long long)id, what, (unsigned long long)i,
		     (unsigned long long)s->committed.n);
		return;
	}
	slog_push(&s->committed, e->term, e->tag);
	s->logs_dirty = true;
}

/* At most one leader per term; a follower's leader really led that term. */
static void check_leaders(struct sim *s)
{
	for (uint32_t k = 0; k < s->m; k++) {
		struct node *nd = &s->nodes[k];
		if (!nd->r)
			continue;
		uint64_t t = raft_term(nd->r);
		if (t >= s->leaders_cap) {
			uint64_t cap = s->leaders_cap ? s->leaders_cap : 64;
			while (cap <= t)
				cap *= 2;
			s->leaders = realloc(s->leaders, cap * sizeof(*s->leaders));
			RN_ASSERT(s->leaders != NULL);
			memset(s->leaders + s->leaders_cap, 0,
			       (cap - s->leaders_cap) * sizeof(*s->leaders));
			s->leaders_cap = cap;
		}
		uint64_t *seen = &s->leaders[t];
		if (raft_is_leader(nd->r)) {
			if (*seen == 0) {
				*seen = nd->id;
				s->res->elections++;
				trace(s, "node %llu is the leader of term %llu",
				      (unsigned long long)nd->id, (unsigned long long)t);
			} else if (*seen != nd->id) {
				fail(s, "two leaders in term %llu: nodes %llu and %llu",
				     (unsigned long long)t, (unsigned long long)*seen,
				     (unsigned long long)nd->id);
			}
		} else if (raft_leader(nd->r) != 0 && raft_leader(nd->r) != *seen) {
			fail(s, "node %llu follows %llu in term %llu, which was led by %llu",
			     (unsigned long long)nd->id, (unsigned long long)raft_leader(nd->r),
			     (unsigned long long)t, (unsigned long long)*seen);
		}
	}
}

/* Log matching: if two logs hold an entry with the same index and term,
 * they agree on that entry and on every entry before it. */
static void check_pair(struct sim *s, const struct slog *a, const char *an, uint64_t aid,
		       const struct slog *b, const char *bn, uint64_t bid)
{
	uint64_t m = a->n < b->n ? a->n : b->n;
	bool matched = false;
	for (uint64_t i = m; i >= 1; i--) {
		const struct sent *x = &a->e[i - 1], *y = &b->e[i - 1];
		if (!matched && x->term == y->term)
			matched = true;
		if (matched && !sent_equal(x, y)) {
			fail(s, "log matching: %s log of node %llu and %s log of node %llu "
				"share a term at or above index %llu but differ at %llu",
			     an, (unsigned long long)aid, bn, (unsigned long long)bid,
			     (unsigned long long)i, (unsigned long long)i);
			return;
		}
	}
}

static void check_log_matching(struct sim *s)
{
	const struct slog *logs[2 * SIM_MAX_MEMBERS];
	const char *names[2 * SIM_MAX_MEMBERS];
	uint64_t ids[2 * SIM_MAX_MEMBERS];
	uint32_t count = 0;
	for (uint32_t k = 0; k < s->m; k++) {
		logs[count] = &s->nodes[k].disk;
		names[count] = "durable";
		ids[count++] = s->nodes[k].id;
		if (s->nodes[k].writing) {
			logs[count] = &s->nodes[k].handed;
			names[count] = "handed";
			ids[count++] = s->nodes[k].id;
		}
	}
	for (uint32_t a = 0; a < count && !s->failed; a++)
		for (uint32_t b = a + 1; b < count && !s->failed; b++)
			check_pair(s, logs[a], names[a], ids[a], logs[b], names[b], ids[b]);
}

/* A committed entry is never lost: the last one known is durable on a
 * quorum (log matching then covers every entry before it). */
static void check_committed_durable(struct sim *s)
{
	uint64_t k = s->committed.n;
	if (k == 0)
		return;
	uint32_t holders = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct slog *d = &s->nodes[i].disk;
		if (d->n >= k && sent_equal(&d->e[k - 1], &s->committed.e[k - 1]))
			holders++;
	}
	if (holders < quorum(s))
		fail(s, "committed entry %llu is durable on %u nodes, fewer than a quorum of %u",
		     (unsigned long long)k, holders, quorum(s));
}

/* What a running node reports about itself: its commit index only grows
 * and stays within its log, its term is at least the durable one, and it
 * has applied exactly what the shell applied. */
static void check_nodes(struct sim *s)
{
	for (uint32_t k = 0; k < s->m && !s->failed; k++) {
		struct node *nd = &s->nodes[k];
		if (!nd->r)
			continue;
		uint64_t commit = raft_commit_index(nd->r);
		if (commit < nd->seen_commit || commit > raft_last_index(nd->r))
			fail(s, "node %llu commit index %llu (was %llu, log %llu)",
			     (unsigned long long)nd->id, (unsigned long long)commit,
			     (unsigned long long)nd->seen_commit,
			     (unsigned long long)raft_last_index(nd->r));
		else if (raft_term(nd->r) < nd->hs.term)
			fail(s, "node %llu runs at term %llu below its durable term %llu",
			     (unsigned long long)nd->id, (unsigned long long)raft_term(nd->r),
			     (unsigned long long)nd->hs.term);
		else if (!nd->writing && raft_applied_index(nd->r) != nd->applied)
			fail(s, "node %llu reports applied %llu, the shell applied %llu",
			     (unsigned long long)nd->id,
			     (unsigned long long)raft_applied_index(nd->r),
			     (unsigned long long)nd->applied);
		nd->seen_commit = commit;
	}
}

/* Runs after every step. */
static void check_step(struct sim *s)
{
	check_leaders(s);
	check_nodes(s);
	if (s->logs_dirty && !s->failed) {
		check_log_matching(s);
		check_committed_durable(s);
		s->logs_dirty = false;
	}
}

static void step_begin(struct sim *s)
{
	s->res->steps++;
}

static void step_end(struct sim *s)
{
	if (!s->failed)
		check_step(s);
}

/* ---- the network ------------------------------------------------------- */

static void msg_free(struct raft_msg *m)
{
	for (uint32_t i = 0; i < m->entry_count; i++)
		free(m->entries[i].data);
	free(m->entries);
	free(m->snapshot);
	m->entries = NULL;
	m->entry_count = 0;
	m->snapshot = NULL;
	m->snapshot_len = 0;
}

static void msg_copy(struct raft_msg *dst, const struct raft_msg *src)
{
	*dst = *src;
	dst->entries = NULL;
	dst->snapshot = NULL;
	if (src->snapshot_len > 0) {
		dst->snapshot = malloc(src->snapshot_len);
		RN_ASSERT(dst->snapshot != NULL);
		memcpy(dst->snapshot, src->snapshot, src->snapshot_len);
	}
	if (src->entry_count == 0)
		return;
	dst->entries = calloc(src->entry_count, sizeof(*dst->entries));
	RN_ASSERT(dst->entries != NULL);
	for (uint32_t i = 0; i < src->entry_count; i++) {
		dst->entries[i] = src->entries[i];
		dst->entries[i].data = NULL;
		if (src->entries[i].len == 0)
			continue;
		dst->entries[i].data = malloc(src->entries[i].len);
		RN_ASSERT(dst->entries[i].data != NULL);
		memcpy(dst->entries[i].data, src->entries[i].data, src->entries[i].len);
	}
}

static void trace_msg(struct sim *s, const char *what, const struct raft_msg *m)
{
	trace(s, "%s %s %llu->%llu term %llu index %llu log_term %llu commit %llu%s n=%u", what,
	      raft_msg_type_name(m->type), (unsigned long long)m->from, (unsigned long long)m->to,
	      (unsigned long long)m->term, (unsigned long long)m->index,
	      (unsigned long long)m->log_term, (unsigned long long)m->commit,
	      m->reject ? " reject" : "", m->entry_count);
}

static uint64_t msg_delay(struct sim *s)
{
	if (!s->quiet && rng_permille(&s->g, s->long_delay_pm))
		return 1 + rng_below(&s->g, SIM_LONG_DELAY_MAX_UNITS);
	return 1 + rng_below(&s->g, SIM_DELAY_MAX_UNITS);
}

/* Puts one message on the wire, where it may be lost or duplicated. */
static void net_send(struct sim *s, const struct raft_msg *m)
{
	if (!s->quiet && rng_permille(&s->g, s->loss_pm)) {
		trace_msg(s, "lose", m);
		return;
	}
	uint32_t copies = rng_permille(&s->g, s->dup_pm) ? 2 : 1;
	for (uint32_t c = 0; c < copies; c++) {
		if (s->net_count == SIM_MAX_INFLIGHT) {
			trace_msg(s, "drop (network full)", m);
			return;
		}
		if (s->net_count == s->net_cap) {
			s->net_cap = s->net_cap ? s->net_cap * 2 : 64;
			s->net = realloc(s->net, s->net_cap * sizeof(*s->net));
			RN_ASSERT(s->net != NULL);
		}
		struct flight *f = &s->net[s->net_count++];
		f->at = s->now + msg_delay(s);
		msg_copy(&f->m, m);
		trace_msg(s, c ? "send duplicate" : "send", m);
	}
}

static void deliver(struct sim *s, struct raft_msg *m)
{
	struct node *to = node_of(s, m->to);
	step_begin(s);
	if (!to->r) {
		trace_msg(s, "drop (receiver down)", m);
	} else if (s->blocked[m->from - 1][m->to - 1]) {
		trace_msg(s, "drop (partitioned)", m);
	} else {
		trace_msg(s, "deliver", m);
		int rc = raft_step(to->r, m);
		if (rc != 0)
			fail(s, "node %llu refused %s from %llu: %s", (unsigned long long)to->id,
			     raft_msg_type_name(m->type), (unsigned long long)m->from,
			     rn_errname(rc));
	}
	step_end(s);
}

/* Delivers every message due now, in the order they were sent. */
static void net_deliver_due(struct sim *s)
{
	uint32_t w = 0;
	for (uint32_t i = 0; i < s->net_count; i++) {
		struct flight f = s->net[i];
		if (f.at > s->now) {
			s->net[w++] = f;
			continue;
		}
		if (!s->failed)
			deliver(s, &f.m);
		msg_free(&f.m);
	}
	s->net_count = w;
}

/* ---- the shell: persist, sync, send, apply ------------------------------ */

/* Applies a Ready's snapshot to a log view (the whole sequence): a snapshot
 * to install replaces the entries it covers, and one from a compaction must
 * equal them.  Every entry of a snapshot must be committed. */
static void log_apply_snapshot(struct sim *s, struct node *nd, struct slog *l, uint64_t *snap,
			       const struct raft_ready *rd, const char *what)
{
	if (rd->compact_to && (!rd->snapshot || rd->compact_to != rd->snapshot->index)) {
		fail(s, "node %llu compacts to %llu without a snapshot of that index",
		     (unsigned long long)nd->id, (unsigned long long)rd->compact_to);
		return;
	}
	if (!rd->snapshot)
		return;
	struct slog x = { 0 };
	if (!snapshot_decode(rd->snapshot, &x))
		fail(s, "node %llu %s snapshot %llu is corrupt", (unsigned long long)nd->id, what,
		     (unsigned long long)rd->snapshot->index);
	for (uint64_t i = 1; i <= x.n && !s->failed; i++) {
		check_committed_entry(s, nd->id, i, &x.e[i - 1], "holds in a snapshot");
		if (rd->snapshot_install && i <= l->n)
			l->e[i - 1] = x.e[i - 1];
		else if (rd->snapshot_install)
			slog_push(l, x.e[i - 1].term, x.e[i - 1].tag);
		else if (i > l->n || !sent_equal(&l->e[i - 1], &x.e[i - 1]))
			fail(s, "node %llu %s compaction snapshot differs from its log at %llu",
			     (unsigned long long)nd->id, what, (unsigned long long)i);
	}
	*snap = x.n;
	free(x.e);
}

/* Applies a Ready's snapshot, truncation and entries to a log, checking that
 * they continue it without a gap and with non-decreasing terms. */
static void log_apply(struct sim *s, struct node *nd, struct slog *l, uint64_t *snap,
		      const struct raft_ready *rd, const char *what)
{
	log_apply_snapshot(s, nd, l, snap, rd, what);
	if (s->failed)
		return;
	if (rd->truncate_from && rd->truncate_from <= *snap)
		fail(s, "node %llu truncates from %llu inside its snapshot %llu",
		     (unsigned long long)nd->id, (unsigned long long)rd->truncate_from,
		     (unsigned long long)*snap);
	if (rd->truncate_from)
		slog_truncate(l, rd->truncate_from);
	for (uint32_t i = 0; i < rd->entry_count; i++) {
		const struct raft_entry *e = &rd->entries[i];
		uint64_t tag;
		if (!payload_decode(e, &tag))
			fail(s, "node %llu handed entry %llu with a corrupt payload",
			     (unsigned long long)nd->id, (unsigned long long)e->index);
		if (e->index != l->n + 1)
			fail(s, "node %llu %s log has %llu entries; the Ready appends at %llu",
			     (unsigned long long)nd->id, what, (unsigned long long)l->n,
			     (unsigned long long)e->index);
		if (l->n > 0 && e->term < l->e[l->n - 1].term)
			fail(s, "node %llu %s entry %llu has a lower term than the one before it",
			     (unsigned long long)nd->id, what, (unsigned long long)e->index);
		if (s->failed)
			return;
		slog_push(l, e->term, tag);
	}
	s->logs_dirty = true;
}

/* A truncation must never remove a committed entry the disk holds. */
static void check_truncation(struct sim *s, struct node *nd, uint64_t from)
{
	if (from <= nd->hs.commit)
		fail(s, "node %llu truncates from %llu below its durable commit %llu",
		     (unsigned long long)nd->id, (unsigned long long)from,
		     (unsigned long long)nd->hs.commit);
	for (uint64_t i = from; i <= nd->disk.n && i <= s->committed.n && !s->failed; i++)
		if (sent_equal(&nd->disk.e[i - 1], &s->committed.e[i - 1]))
			fail(s, "node %llu truncates committed entry %llu",
			     (unsigned long long)nd->id, (unsigned long long)i);
}

/* The hard state only moves forward, and a vote never changes in a term. */
static void check_hard_state(struct sim *s, struct node *nd, const struct raft_hard_state *hs)
{
	const struct raft_hard_state *old = &nd->hs;
	if (hs->term < old->term || hs->commit < old->commit ||
	    (hs->term == old->term && old->vote != 0 && hs->vote != old->vote))
		fail(s, "node %llu hard state goes back: {%llu %llu %llu} -> {%llu %llu %llu}",
		     (unsigned long long)nd->id, (unsigned long long)old->term,
		     (unsigned long long)old->vote, (unsigned long long)old->commit,
		     (unsigned long long)hs->term, (unsigned long long)hs->vote,
		     (unsigned long long)hs->commit);
}

/* What the durable state must satisfy after every write. */
static void check_disk(struct sim *s, struct node *nd)
{
	if (nd->hs.commit > nd->disk.n) {
		fail(s, "node %llu durable commit %llu is beyond its durable log of %llu",
		     (unsigned long long)nd->id, (unsigned long long)nd->hs.commit,
		     (unsigned long long)nd->disk.n);
		return;
	}
	if (nd->disk.n > 0 && nd->disk.e[nd->disk.n - 1].term > nd->hs.term)
		fail(s, "node %llu durable log has a term above its durable term %llu",
		     (unsigned long long)nd->id, (unsigned long long)nd->hs.term);
	if (nd->disk_snap > nd->hs.commit)
		fail(s, "node %llu durable snapshot %llu is beyond its durable commit %llu",
		     (unsigned long long)nd->id, (unsigned long long)nd->disk_snap,
		     (unsigned long long)nd->hs.commit);
	for (uint64_t i = 1; i <= nd->hs.commit && !s->failed; i++)
		check_committed_entry(s, nd->id, i, &nd->disk.e[i - 1], "durably commits");
}

/* Installs the Ready's snapshot in the state machine: it must move it
 * forward, and it leaves exactly the committed sequence up to its index. */
static void install_snapshot(struct sim *s, struct node *nd, const struct raft_ready *rd)
{
	const struct raft_snapshot *snap = rd->snapshot;
	if (snap->index <= nd->applied) {
		fail(s, "node %llu installs snapshot %llu over applied %llu",
		     (unsigned long long)nd->id, (unsigned long long)snap->index,
		     (unsigned long long)nd->applied);
		return;
	}
	if (!snapshot_decode(snap, &nd->sm)) {
		fail(s, "node %llu installs a corrupt snapshot %llu", (unsigned long long)nd->id,
		     (unsigned long long)snap->index);
		return;
	}
	for (uint64_t i = 1; i <= nd->sm.n && !s->failed; i++)
		check_committed_entry(s, nd->id, i, &nd->sm.e[i - 1], "installs");
	nd->applied = snap->index;
	if (rd->compact_to)
		s->res->installs++; /* from a leader, not a restart's re-install */
	for (uint64_t i = 0; i < nd->sm.n; i++)
		if (nd->sm.e[i].tag & SIM_MARKER_BIT)
			nd->applied_marker = true;
	trace(s, "node %llu installs snapshot %llu", (unsigned long long)nd->id,
	      (unsigned long long)snap->index);
}

static void apply_committed(struct sim *s, struct node *nd, const struct raft_ready *rd)
{
	for (uint32_t i = 0; i < rd->committed_count && !s->failed; i++) {
		const struct raft_entry *e = &rd->committed[i];
		struct sent x = { .term = e->term };
		if (!payload_decode(e, &x.tag))
			fail(s, "node %llu applies entry %llu with a corrupt payload",
			     (unsigned long long)nd->id, (unsigned long long)e->index);
		else if (e->index != nd->applied + 1)
			fail(s, "node %llu applies entry %llu after %llu", (unsigned long long)nd->id,
			     (unsigned long long)e->index, (unsigned long long)nd->applied);
		else if (e->index > nd->hs.commit)
			fail(s, "node %llu applies entry %llu beyond its durable commit %llu",
			     (unsigned long long)nd->id, (unsigned long long)e->index,
			     (unsigned long long)nd->hs.commit);
		if (s->failed)
			return;
		check_committed_entry(s, nd->id, e->index, &x, "applies");
		slog_push(&nd->sm, x.term, x.tag);
		nd->applied = e->index;
		if (x.tag & SIM_MARKER_BIT)
			nd->applied_marker = true;
	}
}

static void send_ready_msgs(struct sim *s, const struct raft_ready *rd)
{
	for (uint32_t i = 0; i < rd->msg_count; i++)
		net_send(s, &rd->msgs[i]);
}

/* The fsync of the outstanding Ready completed: it is durable, so its
 * messages may go out and its committed entries may be applied. */
static void write_complete(struct sim *s, struct node *nd)
{
	const struct raft_ready *rd = &nd->rd;
	trace(s, "node %llu sync done", (unsigned long long)nd->id);
	if (s->opt->inject == SIM_INJECT_FORGET_SYNC) {
		slog_copy(&nd->prev_disk, &nd->disk);
		nd->prev_snap = nd->disk_snap;
		nd->prev_hs = nd->hs;
		nd->has_prev = true;
	}
	if (rd->truncate_from)
		check_truncation(s, nd, rd->truncate_from);
	log_apply(s, nd, &nd->disk, &nd->disk_snap, rd, "durable");
	if (rd->hard_state_changed) {
		check_hard_state(s, nd, &rd->hs);
		nd->hs = rd->hs;
	}
	if (!s->failed)
		check_disk(s, nd);
	if (s->opt->inject != SIM_INJECT_ACK_BEFORE_PERSIST)
		send_ready_msgs(s, rd);
	if (!s->failed && rd->snapshot && rd->snapshot_install &&
	    s->opt->inject != SIM_INJECT_SKIP_INSTALL)
		install_snapshot(s, nd, rd);
	if (!s->failed)
		apply_committed(s, nd, rd);
	raft_advance(nd->r, rd);
	nd->writing = false;
	s->logs_dirty = true;
}

static void trace_ready(struct sim *s, const struct node *nd, const struct raft_ready *rd)
{
	if (!s->opt->verbose)
		return;
	uint64_t first = rd->entry_count ? rd->entries[0].index : 0;
	uint64_t cfirst = rd->committed_count ? rd->committed[0].index : 0;
	trace(s,
	      "node %llu ready: snapshot %llu%s, compact to %llu, truncate %llu, entries "
	      "%llu..%llu, hs%s {term %llu vote %llu commit %llu}, apply %llu..%llu, %u msgs",
	      (unsigned long long)nd->id,
	      (unsigned long long)(rd->snapshot ? rd->snapshot->index : 0),
	      rd->snapshot && rd->snapshot_install ? " (install)" : "",
	      (unsigned long long)rd->compact_to, (unsigned long long)rd->truncate_from,
	      (unsigned long long)first,
	      (unsigned long long)(rd->entry_count ? first + rd->entry_count - 1 : 0),
	      rd->hard_state_changed ? " changed" : "", (unsigned long long)rd->hs.term,
	      (unsigned long long)rd->hs.vote, (unsigned long long)rd->hs.commit,
	      (unsigned long long)cfirst,
	      (unsigned long long)(rd->committed_count ? cfirst + rd->committed_count - 1 : 0),
	      rd->msg_count);
}

/* Takes a Ready and hands its writes to the disk.  A Ready with nothing to
 * write needs no fsync and completes at once. */
static void take_ready(struct sim *s, struct node *nd)
{
	step_begin(s);
	int rc = raft_ready(nd->r, &nd->rd);
	if (rc != 0) {
		fail(s, "node %llu: raft_ready failed: %s", (unsigned long long)nd->id,
		     rn_errname(rc));
		step_end(s);
		return;
	}
	const struct raft_ready *rd = &nd->rd;
	trace_ready(s, nd, rd);
	nd->writing = true;
	log_apply(s, nd, &nd->handed, &nd->handed_snap, rd, "handed");
	bool writes = rd->truncate_from || rd->entry_count || rd->hard_state_changed ||
		      rd->snapshot || rd->compact_to;
	if (s->opt->inject == SIM_INJECT_ACK_BEFORE_PERSIST)
		send_ready_msgs(s, rd);
	if (!writes) {
		write_complete(s, nd);
	} else {
		uint64_t max = rng_permille(&s->g, s->quiet ? 0 : s->slow_sync_pm)
				       ? SIM_SLOW_SYNC_MAX_UNITS
				       : SIM_SYNC_MAX_UNITS;
		nd->sync_at = s->now + 1 + rng_below(&s->g, max);
	}
	step_end(s);
}

/* ---- crashes and restarts ---------------------------------------------- */

static void node_crash(struct sim *s, struct node *nd)
{
	step_begin(s);
	trace(s, "node %llu crashes%s", (unsigned long long)nd->id,
	      nd->writing ? ", losing the write in progress" : "");
	raft_free(nd->r);
	nd->r = NULL;
	nd->writing = false;
	if (s->opt->inject == SIM_INJECT_FORGET_SYNC && nd->has_prev) {
		slog_copy(&nd->disk, &nd->prev_disk);
		nd->disk_snap = nd->prev_snap;
		nd->hs = nd->prev_hs;
		nd->has_prev = false;
	}
	if (s->opt->inject == SIM_INJECT_FORGET_VOTE)
		nd->hs.vote = 0;
	slog_copy(&nd->handed, &nd->disk);
	nd->handed_snap = nd->disk_snap;
	if (!nd->sm_durable) {
		nd->applied = 0;
	} else if (nd->applied > nd->hs.commit) {
		if (s->opt->inject == SIM_INJECT_NONE)
			fail(s, "node %llu applied %llu beyond its durable commit %llu",
			     (unsigned long long)nd->id, (unsigned long long)nd->applied,
			     (unsigned long long)nd->hs.commit);
		nd->applied = nd->hs.commit;
	}
	nd->sm.n = nd->applied;
	nd->applied_marker = false;
	nd->restart_at = s->now + 1 + rng_below(&s->g, SIM_MAX_DOWN_UNITS);
	s->res->crashes++;
	s->logs_dirty = true;
	step_end(s);
}

/* The durable log after the snapshot, as raft entries with payloads rebuilt
 * from their tags; *data holds the payload bytes. */
static struct raft_entry *durable_entries(const struct node *nd, uint8_t **data, uint32_t *count)
{
	uint64_t first = nd->disk_snap, n = nd->disk.n - first;
	struct raft_entry *log = n ? calloc(n, sizeof(*log)) : NULL;
	*data = n ? malloc(n * SIM_MAX_PAYLOAD_BYTES) : NULL;
	RN_ASSERT(n == 0 || (log && *data));
	for (uint64_t i = 0; i < n; i++) {
		const struct sent *e = &nd->disk.e[first + i];
		log[i].term = e->term;
		log[i].index = first + i + 1;
		if (e->tag) {
			log[i].data = *data + i * SIM_MAX_PAYLOAD_BYTES;
			log[i].len = payload_len(e->tag);
			payload_fill(e->tag, log[i].data);
		}
	}
	*count = (uint32_t)n;
	return log;
}

/* What a restarted node must report: exactly its durable state. */
static void check_restart(struct sim *s, struct node *nd)
{
	nd->seen_commit = raft_commit_index(nd->r);
	if (nd->seen_commit != nd->hs.commit || raft_term(nd->r) != nd->hs.term ||
	    raft_last_index(nd->r) != nd->disk.n || raft_snapshot_index(nd->r) != nd->disk_snap)
		fail(s, "node %llu restarted with commit %llu term %llu log %llu snapshot %llu, "
			"not its durable state",
		     (unsigned long long)nd->id, (unsigned long long)nd->seen_commit,
		     (unsigned long long)raft_term(nd->r), (unsigned long long)raft_last_index(nd->r),
		     (unsigned long long)raft_snapshot_index(nd->r));
}

/* Starts a node from its durable state (snapshot, log, hard state), as a
 * process restart would. */
static void node_start(struct sim *s, struct node *nd)
{
	step_begin(s);
	uint8_t *data;
	uint32_t n;
	struct raft_entry *log = durable_entries(nd, &data, &n);
	struct raft_snapshot snap = { .index = nd->disk_snap,
				      .term = nd->disk_snap ? nd->disk.e[nd->disk_snap - 1].term : 0 };
	snapshot_encode(&nd->disk, nd->disk_snap, &snap.data, &snap.len);
	struct raft_config cfg = {
		.id = nd->id, .voters = s->voters, .voter_count = s->n,
		.election_ticks = SIM_ELECTION_TICKS, .heartbeat_ticks = SIM_HEARTBEAT_TICKS,
		.seed = rng_next(&s->g), .pre_vote = s->pre_vote, .check_quorum = s->check_quorum,
		.observer = nd->observer,
	};
	struct raft_restore rs = { .hs = &nd->hs, .snapshot = &snap, .log = log, .log_count = n,
				   .applied_index = nd->applied };
	int rc = raft_new_from(&cfg, &rs, &nd->r);
	free(log);
	free(data);
	free(snap.data);
	trace(s, "node %llu starts: term %llu vote %llu commit %llu, snapshot %llu, %u entries, "
		 "applied %llu",
	      (unsigned long long)nd->id, (unsigned long long)nd->hs.term,
	      (unsigned long long)nd->hs.vote, (unsigned long long)nd->hs.commit,
	      (unsigned long long)nd->disk_snap, n, (unsigned long long)nd->applied);
	if (rc != 0) {
		nd->r = NULL;
		fail(s, "node %llu cannot restart from its durable state: %s",
		     (unsigned long long)nd->id, rn_errname(rc));
	} else {
		nd->next_tick = s->now + 1 + rng_below(&s->g, nd->tick_units);
		check_restart(s, nd);
	}
	step_end(s);
}

/* Compacts a node's log at a random index among the last it applied, with
 * its state machine up to there as the snapshot. */
static void node_compact(struct sim *s, struct node *nd)
{
	uint64_t lo = raft_snapshot_index(nd->r) + 1, hi = raft_applied_index(nd->r);
	if (lo > hi)
		return;
	uint64_t spread = hi - lo + 1 < SIM_COMPACT_SPREAD ? hi - lo + 1 : SIM_COMPACT_SPREAD;
	uint64_t index = hi - rng_below(&s->g, spread);
	RN_ASSERT(index <= nd->sm.n);
	uint8_t *buf;
	uint32_t len;
	snapshot_encode(&nd->sm, index, &buf, &len);
	step_begin(s);
	int rc = raft_compact(nd->r, index, buf, len);
	free(buf);
	trace(s, "node %llu compacts to %llu: %s", (unsigned long long)nd->id,
	      (unsigned long long)index, rn_errname(rc));
	if (rc != 0)
		fail(s, "node %llu refused to compact to %llu: %s", (unsigned long long)nd->id,
		     (unsigned long long)index, rn_errname(rc));
	else if (raft_snapshot_index(nd->r) != index)
		fail(s, "node %llu compacted to %llu reports snapshot %llu",
		     (unsigned long long)nd->id, (unsigned long long)index,
		     (unsigned long long)raft_snapshot_index(nd->r));
	s->res->compactions++;
	step_end(s);
}

static void compact_unit(struct sim *s)
{
	for (uint32_t k = 0; k < s->m && !s->failed; k++)
		if (s->nodes[k].r && rng_permille(&s->g, s->compact_pm))
			node_compact(s, &s->nodes[k]);
}

/* ---- faults and proposals ---------------------------------------------- */

static void propose(struct sim *s, struct node *nd, uint64_t tag)
{
	uint8_t buf[SIM_MAX_PAYLOAD_BYTES];
	payload_fill(tag, buf);
	uint64_t index = 0;
	step_begin(s);
	int rc = raft_propose(nd->r, buf, payload_len(tag), &index);
	trace(s, "propose tag %llu on node %llu: %s, index %llu", (unsigned long long)tag,
	      (unsigned long long)nd->id, rn_errname(rc), (unsigned long long)index);
	if (rc != 0 && !(rc == RN_E_NOT_CONTROLLER && !raft_is_leader(nd->r)))
		fail(s, "node %llu refused a proposal: %s", (unsigned long long)nd->id,
		     rn_errname(rc));
	step_end(s);
}

/* A random up node that believes it leads, the one of the highest term
 * when several do; NULL when none does. */
static struct node *find_leader(struct sim *s)
{
	struct node *best = NULL;
	for (uint32_t k = 0; k < s->m; k++) {
		struct node *nd = &s->nodes[k];
		if (nd->r && raft_is_leader(nd->r) &&
		    (!best || raft_term(nd->r) > raft_term(best->r)))
			best = nd;
	}
	return best;
}

static void partition_change(struct sim *s)
{
	step_begin(s);
	memset(s->blocked, 0, sizeof(s->blocked));
	uint64_t kind = rng_below(&s->g, 4);
	struct node *leader = find_leader(s);
	if (kind == 0) {
		trace(s, "network heals");
	} else if (kind == 1 || (kind == 3 && !leader)) {
		/* A symmetric split into two random sides. */
		uint64_t side = rng_next(&s->g);
		for (uint32_t a = 0; a < s->m; a++)
			for (uint32_t b = 0; b < s->m; b++)
				s->blocked[a][b] = ((side >> a) & 1) != ((side >> b) & 1);
		trace(s, "symmetric partition, side mask %llx",
		      (unsigned long long)(side & ((1u << s->m) - 1)));
	} else if (kind == 2) {
		/* Random one-way cuts: a hears b while b does not hear a. */
		for (uint32_t a = 0; a < s->m; a++)
			for (uint32_t b = 0; b < s->m; b++)
				s->blocked[a][b] = a != b && rng_permille(&s->g, 300);
		trace(s, "one-way partition");
	} else {
		/* The leader can still send but hears nobody. */
		for (uint32_t a = 0; a < s->m; a++)
			s->blocked[a][leader->id - 1] = a != leader->id - 1;
		trace(s, "leader %llu hears nobody", (unsigned long long)leader->id);
	}
	s->res->partitions++;
	s->logs_dirty = true;
	step_end(s);
}

static void faults_unit(struct sim *s)
{
	if (rng_below(&s->g, 10000) < s->crash_p10k) {
		struct node *nd = &s->nodes[rng_below(&s->g, s->m)];
		if (nd->r)
			node_crash(s, nd);
	}
	if (!s->failed && rng_below(&s->g, 10000) < s->partition_p10k)
		partition_change(s);
	for (uint32_t k = 0; k < s->m && !s->failed; k++) {
		struct node *nd = &s->nodes[k];
		if (!nd->r && nd->restart_at <= s->now)
			node_start(s, nd);
	}
	if (!s->failed && rng_permille(&s->g, s->propose_pm)) {
		/* Mostly one proposal, sometimes a burst that fills the
		 * replication pipeline. */
		uint64_t count = rng_permille(&s->g, SIM_BURST_PM) ? 1 + rng_below(&s->g, SIM_BURST_MAX)
								  : 1;
		struct node *nd = find_leader(s);
		if (!nd)
			nd = &s->nodes[rng_below(&s->g, s->m)];
		for (uint64_t i = 0; i < count && nd->r && !s->failed; i++)
			propose(s, nd, s->next_tag++);
	}
}

/* ---- the quiet phase --------------------------------------------------- */

static void quiet_begin(struct sim *s)
{
	step_begin(s);
	trace(s, "quiet phase: network heals, no loss, every node up");
	s->quiet = true;
	memset(s->blocked, 0, sizeof(s->blocked));
	s->bound_units = (uint64_t)SIM_LIVENESS_BOUND_TICKS * s->max_tick_units;
	for (uint32_t k = 0; k < s->m; k++)
		s->nodes[k].applied_marker = false;
	step_end(s);
	for (uint32_t k = 0; k < s->m && !s->failed; k++)
		if (!s->nodes[k].r)
			node_start(s, &s->nodes[k]);
}

/* Returns true once every node applied a marker proposal. */
static bool quiet_unit(struct sim *s)
{
	uint64_t elapsed = s->now - SIM_FAULT_UNITS;
	bool all = true;
	for (uint32_t k = 0; k < s->m; k++)
		all = all && s->nodes[k].applied_marker;
	if (all) {
		s->res->liveness_ticks =
			(uint32_t)((elapsed + s->max_tick_units - 1) / s->max_tick_units);
		trace(s, "every node applied a new proposal after %u ticks",
		      s->res->liveness_ticks);
		return true;
	}
	if (elapsed > s->bound_units) {
		fail(s, "liveness: no new proposal applied on every node within %u ticks of the "
			"quiet phase",
		     SIM_LIVENESS_BOUND_TICKS);
		return false;
	}
	/* Propose once through each new leader: a leader deposed before its
	 * entry committed may lose it, and its successor gets a fresh one. */
	struct node *leader = find_leader(s);
	if (leader && raft_term(leader->r) != s->marker_term) {
		s->marker_term = raft_term(leader->r);
		propose(s, leader, SIM_MARKER_BIT | s->next_tag++);
	}
	return false;
}

/* ---- the run ----------------------------------------------------------- */

static void ticks_unit(struct sim *s)
{
	for (uint32_t k = 0; k < s->m && !s->failed; k++) {
		struct node *nd = &s->nodes[k];
		if (!nd->r || nd->next_tick > s->now)
			continue;
		nd->next_tick += nd->tick_units;
		step_begin(s);
		enum raft_role before = raft_role(nd->r);
		raft_tick(nd->r);
		enum raft_role after = raft_role(nd->r);
		if (before != after)
			trace(s, "node %llu tick: %s -> %s, term %llu", (unsigned long long)nd->id,
			      raft_role_name(before), raft_role_name(after),
			      (unsigned long long)raft_term(nd->r));
		else
			trace(s, "node %llu tick (%s, term %llu)", (unsigned long long)nd->id,
			      raft_role_name(after), (unsigned long long)raft_term(nd->r));
		step_end(s);
	}
}

static void disk_unit(struct sim *s)
{
	for (uint32_t k = 0; k < s->m && !s->failed; k++) {
		struct node *nd = &s->nodes[k];
		if (nd->r && nd->writing && nd->sync_at <= s->now) {
			step_begin(s);
			write_complete(s, nd);
			step_end(s);
		}
		if (!s->failed && nd->r && !nd->writing && raft_has_ready(nd->r))
			take_ready(s, nd);
	}
}

static void sim_setup(struct sim *s)
{
	struct rng *g = &s->g;
	rng_seed(g, s->opt->seed);
	s->n = s->opt->nodes;
	s->pre_vote = rng_below(g, 2);
	s->check_quorum = rng_below(g, 2);
	s->loss_pm = rng_below(g, 4) == 0 ? 0 : (uint32_t)rng_below(g, 250);
	s->dup_pm = (uint32_t)rng_below(g, 100);
	s->long_delay_pm = (uint32_t)rng_below(g, 150);
	s->slow_sync_pm = (uint32_t)rng_below(g, 100);
	s->propose_pm = 20 + (uint32_t)rng_below(g, 200);
	s->crash_p10k = (uint32_t)rng_below(g, 150);
	s->partition_p10k = (uint32_t)rng_below(g, 150);
	s->compact_pm = rng_below(g, 4) == 0 ? 0 : 2 + (uint32_t)rng_below(g, 40);
	/* Half the runs have no observer, a quarter one, a quarter two. */
	uint32_t observers = (uint32_t)rng_below(g, 4);
	observers = observers < 2 ? 0 : observers - 1;
	s->m = s->n + observers;
	s->res->observers = observers;
	s->next_tag = 1;
	for (uint32_t k = 0; k < s->m; k++) {
		struct node *nd = &s->nodes[k];
		nd->id = k + 1;
		nd->observer = k >= s->n;
		if (!nd->observer)
			s->voters[k] = nd->id;
		nd->tick_units = SIM_TICK_MIN_UNITS +
				 (uint32_t)rng_below(g, SIM_TICK_MAX_UNITS - SIM_TICK_MIN_UNITS + 1);
		if (nd->tick_units > s->max_tick_units)
			s->max_tick_units = nd->tick_units;
		nd->sm_durable = rng_below(g, 2);
	}
	trace(s,
	      "seed %llu: %u voters %u observers, pre_vote %d check_quorum %d, loss %u‰ dup %u‰ "
	      "long delay %u‰ slow sync %u‰ propose %u‰ compact %u‰, crash %u/10000 partition "
	      "%u/10000 per unit",
	      (unsigned long long)s->opt->seed, s->n, s->m - s->n, s->pre_vote, s->check_quorum,
	      s->loss_pm, s->dup_pm, s->long_delay_pm, s->slow_sync_pm, s->propose_pm,
	      s->compact_pm, s->crash_p10k, s->partition_p10k);
	for (uint32_t k = 0; k < s->m; k++)
		trace(s, "node %u (%s) ticks every %u units, state machine %s", k + 1,
		      s->nodes[k].observer ? "observer" : "voter", s->nodes[k].tick_units,
		      s->nodes[k].sm_durable ? "durable" : "volatile");
}

static void sim_teardown(struct sim *s)
{
	for (uint32_t k = 0; k < s->m; k++) {
		struct node *nd = &s->nodes[k];
		raft_free(nd->r);
		free(nd->disk.e);
		free(nd->prev_disk.e);
		free(nd->handed.e);
		free(nd->sm.e);
	}
	for (uint32_t i = 0; i < s->net_count; i++)
		msg_free(&s->net[i].m);
	free(s->net);
	free(s->committed.e);
	free(s->leaders);
}

int sim_run(const struct sim_options *opt, struct sim_result *res)
{
	RN_ASSERT(opt->nodes >= SIM_MIN_NODES && opt->nodes <= SIM_MAX_NODES);
	struct sim *s = calloc(1, sizeof(*s));
	RN_ASSERT(s != NULL);
	memset(res, 0, sizeof(*res));
	res->ok = true;
	s->opt = opt;
	s->res = res;
	sim_setup(s);
	for (uint32_t k = 0; k < s->m && !s->failed; k++)
		node_start(s, &s->nodes[k]);
	for (s->now = 0; !s->failed; s->now++) {
		if (s->now < SIM_FAULT_UNITS)
			faults_unit(s);
		else if (s->now == SIM_FAULT_UNITS)
			quiet_begin(s);
		if (s->quiet && !s->failed && quiet_unit(s))
			break;
		ticks_unit(s);
		if (!s->failed)
			compact_unit(s);
		if (!s->failed)
			net_deliver_due(s);
		if (!s->failed)
			disk_unit(s);
	}
	res->time_units = s->now;
	res->committed = s->committed.n;
	sim_teardown(s);
	free(s);
	return res->ok ? 0 : -1;
}

int sim_inject_parse(const char *name, enum sim_inject *out)
{
	for (int i = SIM_INJECT_NONE; i <= SIM_INJECT_SKIP_INSTALL; i++) {
		if (strcmp(name, sim_inject_name((enum sim_inject)i)) == 0) {
			*out = (enum sim_inject)i;
			return 0;
		}
	}
	return -1;
}

const char *sim_inject_name(enum sim_inject inject)
{
	switch (inject) {
	case SIM_INJECT_NONE:
		return "none";
	case SIM_INJECT_FORGET_SYNC:
		return "forget-sync";
	case SIM_INJECT_ACK_BEFORE_PERSIST:
		return "ack-before-persist";
	case SIM_INJECT_FORGET_VOTE:
		return "forget-vote";
	case SIM_INJECT_SKIP_INSTALL:
		return "skip-install";
	}
	return "unknown";
}
