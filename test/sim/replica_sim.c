/* replica_sim.c: a deterministic simulator of partition replication (leader, followers, controller). */

/*
 * One partition with three replicas (brokers 1, 2 and 3), a controller and a
 * producing client live in this process and are driven from one seeded
 * generator.  The brokers run the pure replica rules of broker/replica.h
 * (high watermark, caught-up tracking, ISR proposals, acks=all decisions,
 * divergence and truncation) over in-memory logs that keep a leader-epoch
 * history with the same code as the partition log (storage/epoch_hist.h).
 * The controller is a model of the metadata quorum: it fences brokers that
 * stop heartbeating, elects leaders from the ISR (never uncleanly), validates
 * AlterPartition like the real one, and sometimes moves leadership back to
 * the preferred replica.  Every message goes through a network that delays,
 * reorders and loses messages and can isolate a broker; brokers crash
 * (kill -9: the log survives, memory does not) and restart.
 *
 * After every time unit the checker verifies:
 *  - committed records never change: a record below any broker's high
 *    watermark is the same on every broker and forever;
 *  - every acknowledged acks=all record is committed at the offset it was
 *    acknowledged with, and is held by every member of the committed ISR;
 *  - a follower never truncates below its own high watermark.
 * The run ends with a quiet phase (every broker up, the network whole) in
 * which the ISR must become whole again, every log identical, the high
 * watermark at the log end, and a new acks=all produce acknowledged.
 *
 * Usage: replica_sim [--seed S | --seeds FIRST:COUNT] [--verbose]
 *                    [--inject NAME [--expect-failure]]
 * A failure prints the seed and the command that replays it with a trace.
 */

#include "broker/replica.h"
#include "common/errors.h"
#include "common/log.h"
#include "storage/epoch_hist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the world's dimensions ------------------------------------------- */

#define NBROKERS 3
#define CONTROLLER 0       /* node id of the controller */
#define CLIENT 4           /* node id of the client */
#define NNODES 5           /* controller, three brokers, client */
#define MAX_LOG 8192       /* records one log may hold */
#define MAX_MSGS 4096      /* messages in flight */
#define FETCH_MAX_RECORDS 8
#define MAX_WAITERS 64     /* acks=all produces waiting on one leader */
#define MAX_INFLIGHT 16    /* produces the client has outstanding */

/* Timing, in simulated milliseconds (one time unit each). */
#define RUN_MS 3000
#define QUIET_MS 1500
#define QUIET_PRODUCE_MS 600    /* the quiet phase produces only this long */
#define LAG_MAX_MS 40
#define SESSION_TIMEOUT_MS 30
#define PRODUCE_TIMEOUT_MS 100
#define ALTER_TIMEOUT_MS 50
#define METADATA_RESEND_MS 20
#define HW_CHECKPOINT_MS 50
#define FETCH_IDLE_MS 3         /* a follower's pause after an empty fetch */
#define FETCH_TIMEOUT_MS 30     /* a fetch without answer is given up */
#define FULL_CHECK_MS 25        /* the ISR-holds-acked check runs this often */
#define MAX_DELAY_MS 5

/* Fault rates, per mille per time unit. */
#define P_CRASH 2
#define P_RESTART 15
#define P_ISOLATE 2
#define P_HEAL 10
#define P_DROP 10
#define P_PREFERRED 2
#define P_PRODUCE 300

/* ---- injected bugs ------------------------------------------------------ */

enum inject {
	INJECT_NONE,
	INJECT_SKIP_DIVERGENCE, /* the leader never reports a diverging epoch */
	INJECT_ACK_ON_APPEND,   /* acks=all answered as soon as the leader appends */
	INJECT_NO_EPOCH_START,  /* followers rejoin the ISR ignoring the epoch start */
};

static const char *const inject_names[] = {"none", "skip-divergence", "ack-on-append",
					   "no-epoch-start"};

/* ---- generator: splitmix64 ---------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *g, uint64_t n)
{
	return n ? rng_next(g) % n : 0;
}

static bool rng_permille(struct rng *g, uint32_t p)
{
	return rng_below(g, 1000) < p;
}

/* ---- messages ----------------------------------------------------------- */

enum msg_type {
	M_METADATA,
	M_FETCH,
	M_FETCH_RESP,
	M_ALTER,
	M_ALTER_RESP,
	M_PRODUCE,
	M_PRODUCE_RESP,
};

struct rec {
	int32_t epoch;
	int64_t value;
};

/* The partition's state as the controller commits it. */
struct pstate {
	int32_t leader; /* -1: offline */
	int32_t leader_epoch;
	int32_t partition_epoch;
	int32_t isr[NBROKERS];
	uint32_t isr_count;
};

struct msg {
	enum msg_type type;
	int from, to;
	int64_t deliver_at;
	int err;
	struct pstate ps;        /* METADATA, ALTER (proposal), ALTER_RESP */
	int64_t offset;          /* FETCH: fetch offset; PRODUCE_RESP: base offset */
	int32_t epoch;           /* FETCH: last fetched epoch; DIVERGING: epoch */
	int32_t leader_epoch;    /* FETCH / FETCH_RESP: the fetcher's view */
	int64_t hw;              /* FETCH_RESP */
	bool diverging;          /* FETCH_RESP */
	int64_t div_end;         /* FETCH_RESP */
	uint32_t nrec;           /* FETCH_RESP */
	struct rec recs[FETCH_MAX_RECORDS];
	int64_t value;           /* PRODUCE / PRODUCE_RESP */
	uint64_t seq;            /* ALTER / ALTER_RESP: matches an answer to its request */
};

/* ---- brokers ------------------------------------------------------------ */

struct waiter {
	int64_t value;
	int64_t offset;
	int64_t since_ms;
};

struct broker {
	int id;
	bool up;
	/* Survives a crash (on disk). */
	struct rec log[MAX_LOG];
	int64_t leo;
	struct epoch_hist hist;
	int64_t hw_checkpoint;
	/* Lost in a crash (memory). */
	int64_t hw;
	struct pstate view;
	bool have_view;
	bool leading;
	struct replica_leader rl;
	struct waiter waiters[MAX_WAITERS];
	uint32_t nwaiters;
	bool alter_inflight;
	int64_t alter_sent_ms;
	uint64_t alter_seq;      /* of the AlterPartition in flight */
	bool fetch_inflight;
	int64_t fetch_sent_ms;
	int64_t fetch_offset_sent;
	int64_t next_fetch_ms;
	uint64_t log_generation; /* bumped by each truncation */
	int64_t verified;        /* the checker compared [0, verified) already */
	bool registered;         /* this incarnation registered with the controller */
	int32_t min_partition_epoch; /* metadata older than the registration is stale */
	uint64_t fetch_generation;
};

/* ---- the controller ----------------------------------------------------- */

struct controller {
	struct pstate ps;
	bool fenced[NBROKERS + 1];
	int64_t last_heartbeat[NBROKERS + 1];
	int64_t next_resend_ms;
};

/* ---- the client --------------------------------------------------------- */

#define MAX_ACKED 65536

struct acked {
	int64_t value;
	int64_t offset;
};

struct client {
	struct pstate view;
	int64_t next_value;
	uint32_t inflight;
	int64_t inflight_since[MAX_INFLIGHT];
	struct acked acked[MAX_ACKED];
	uint32_t nacked;
	int64_t max_acked_offset;
	uint32_t quiet_acks;
};

/* ---- the world ---------------------------------------------------------- */

struct world {
	struct rng g;
	enum inject inject;
	bool verbose;
	int64_t now;
	bool quiet;
	int32_t min_isr;
	struct broker b[NBROKERS + 1]; /* index by id; [0] unused */
	struct controller c;
	struct client cl;
	struct msg msgs[MAX_MSGS];
	uint32_t nmsgs;
	bool isolated[NNODES];
	/* Committed records seen below any broker's high watermark. */
	struct rec committed[MAX_LOG];
	int64_t committed_len;
	/* Outcome. */
	bool failed;
	char reason[256];
	uint32_t crashes, elections, truncations, isr_changes, divergences;
};

static const int32_t replicas[NBROKERS] = {1, 2, 3};

static void trace(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(struct world *w, const char *fmt, ...)
{
	if (!w->verbose)
		return;
	va_list ap;
	fprintf(stderr, "%6" PRId64 "  ", w->now);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void fail(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct world *w, const char *fmt, ...)
{
	if (w->failed)
		return;
	w->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->reason, sizeof(w->reason), fmt, ap);
	va_end(ap);
	trace(w, "INVARIANT BROKEN: %s", w->reason);
}

/* ---- the network -------------------------------------------------------- */

static bool link_up(const struct world *w, int a, int b)
{
	/* The client reaches every broker even when a broker is cut off from
	 * its peers and the controller: that is what lets a deposed leader
	 * take writes it must never acknowledge. */
	if (a == CLIENT || b == CLIENT)
		return true;
	return !w->isolated[a] && !w->isolated[b];
}

static void net_send(struct world *w, struct msg *m)
{
	if (!link_up(w, m->from, m->to) || rng_permille(&w->g, P_DROP) || w->nmsgs == MAX_MSGS)
		return;
	m->deliver_at = w->now + 1 + (int64_t)rng_below(&w->g, MAX_DELAY_MS);
	w->msgs[w->nmsgs++] = *m;
}

/* ---- logs --------------------------------------------------------------- */

static void log_append(struct world *w, struct broker *b, struct rec r)
{
	if (b->leo == MAX_LOG) {
		fail(w, "log of broker %d is full (raise MAX_LOG)", b->id);
		return;
	}
	b->log[b->leo] = r;
	if (epoch_hist_add_batch(&b->hist, r.epoch, b->leo) < 0)
		fail(w, "broker %d: epoch history refused epoch %d at %" PRId64, b->id, r.epoch,
		     b->leo);
	b->leo++;
}

static void log_truncate(struct world *w, struct broker *b, int64_t to)
{
	if (to < b->hw)
		fail(w, "broker %d truncates to %" PRId64 " below its high watermark %" PRId64,
		     b->id, to, b->hw);
	trace(w, "broker %d truncates %" PRId64 " -> %" PRId64, b->id, b->leo, to);
	b->leo = to;
	if (b->verified > to)
		b->verified = to;
	epoch_hist_truncate(&b->hist, to);
	if (b->hw > to)
		b->hw = to;
	b->log_generation++;
	w->truncations++;
}

/* What a follower sends as its last fetched epoch: the latest epoch of its
 * history, as the node does (plog_latest_epoch).  That may be an epoch it
 * assigned as leader without writing a record. */
static int32_t last_epoch(const struct broker *b)
{
	return epoch_hist_latest(&b->hist);
}

/* ---- the controller ----------------------------------------------------- */

static bool in_set(const int32_t *ids, uint32_t n, int32_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void push_metadata(struct world *w, int to)
{
	struct msg m = {.type = M_METADATA, .from = CONTROLLER, .to = to, .ps = w->c.ps};
	net_send(w, &m);
}

static void push_metadata_all(struct world *w)
{
	for (int id = 1; id <= NBROKERS; id++)
		push_metadata(w, id);
	push_metadata(w, CLIENT);
}

static void ctrl_commit(struct world *w, const struct pstate *ps, const char *why)
{
	w->c.ps = *ps;
	w->c.ps.partition_epoch++;
	trace(w, "controller: %s: leader %d epoch %d isr of %u (partition epoch %d)", why,
	      w->c.ps.leader, w->c.ps.leader_epoch, w->c.ps.isr_count, w->c.ps.partition_epoch);
	push_metadata_all(w);
}

/* The first ISR member that is not fenced, or -1. */
static int32_t ctrl_pick_leader(const struct world *w, const struct pstate *ps)
{
	for (uint32_t i = 0; i < ps->isr_count; i++)
		if (!w->c.fenced[ps->isr[i]])
			return ps->isr[i];
	return -1;
}

static void ctrl_fence(struct world *w, int32_t id)
{
	w->c.fenced[id] = true;
	struct pstate ps = w->c.ps;
	/* The last ISR member stays (Kafka keeps it, so the partition can come
	 * back when it does; no unclean election). */
	if (in_set(ps.isr, ps.isr_count, id) && ps.isr_count > 1) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < ps.isr_count; i++)
			if (ps.isr[i] != id)
				ps.isr[n++] = ps.isr[i];
		ps.isr_count = n;
	}
	if (ps.leader == id) {
		ps.leader = ctrl_pick_leader(w, &ps);
		ps.leader_epoch++;
		w->elections++;
	}
	ctrl_commit(w, &ps, "fenced a broker");
}

static void ctrl_unfence(struct world *w, int32_t id)
{
	w->c.fenced[id] = false;
	if (w->c.ps.leader != -1)
		return;
	struct pstate ps = w->c.ps;
	ps.leader = ctrl_pick_leader(w, &ps);
	if (ps.leader == -1)
		return;
	ps.leader_epoch++;
	w->elections++;
	ctrl_commit(w, &ps, "leader back online");
}

/*
 * A restarted broker registers a new incarnation.  As in the real
 * controller, that fences the old incarnation (it leaves the ISR and loses
 * leadership, with a new leader epoch) before the heartbeats unfence it, and
 * the broker acts only on metadata from its registration on (it replays the
 * metadata log before it leads or follows).
 */
static void ctrl_register(struct world *w, struct broker *b)
{
	if (!w->c.fenced[b->id])
		ctrl_fence(w, b->id);
	b->registered = true;
	b->min_partition_epoch = w->c.ps.partition_epoch;
	trace(w, "broker %d registers at partition epoch %d", b->id, b->min_partition_epoch);
}

static void ctrl_tick(struct world *w)
{
	for (int id = 1; id <= NBROKERS; id++) {
		struct broker *b = &w->b[id];
		if (b->up && !b->registered && link_up(w, id, CONTROLLER))
			ctrl_register(w, b);
		if (b->up && b->registered && link_up(w, id, CONTROLLER)) {
			w->c.last_heartbeat[id] = w->now;
			if (w->c.fenced[id])
				ctrl_unfence(w, id);
		} else if (!w->c.fenced[id] &&
			   w->now - w->c.last_heartbeat[id] > SESSION_TIMEOUT_MS) {
			ctrl_fence(w, id);
		}
	}
	if (w->now >= w->c.next_resend_ms) {
		push_metadata_all(w);
		w->c.next_resend_ms = w->now + METADATA_RESEND_MS;
	}
}

/* Preferred-leader election: the first replica leads again when it is in
 * the ISR, unfenced and not already the leader. */
static void ctrl_preferred(struct world *w)
{
	int32_t pref = replicas[0];
	struct pstate ps = w->c.ps;
	if (ps.leader == pref || w->c.fenced[pref] || !in_set(ps.isr, ps.isr_count, pref))
		return;
	ps.leader = pref;
	ps.leader_epoch++;
	w->elections++;
	ctrl_commit(w, &ps, "preferred leader election");
}

static int ctrl_check_alter(const struct world *w, int from, const struct pstate *req)
{
	const struct pstate *ps = &w->c.ps;
	if (w->c.fenced[from])
		return RN_E_STALE_BROKER_EPOCH;
	if (req->leader_epoch != ps->leader_epoch)
		return RN_E_FENCED_LEADER_EPOCH;
	if (from != ps->leader)
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	if (req->partition_epoch != ps->partition_epoch)
		return RN_E_INVALID_UPDATE_VERSION;
	if (req->isr_count == 0 || !in_set(req->isr, req->isr_count, from))
		return RN_E_INVALID_REQUEST;
	for (uint32_t i = 0; i < req->isr_count; i++)
		if (w->c.fenced[req->isr[i]] && !in_set(ps->isr, ps->isr_count, req->isr[i]))
			return RN_E_INELIGIBLE_REPLICA;
	return 0;
}

static void ctrl_on_alter(struct world *w, const struct msg *m)
{
	struct msg r = {.type = M_ALTER_RESP, .from = CONTROLLER, .to = m->from, .seq = m->seq};
	r.err = ctrl_check_alter(w, m->from, &m->ps);
	if (r.err == 0) {
		struct pstate ps = w->c.ps;
		ps.isr_count = m->ps.isr_count;
		memcpy(ps.isr, m->ps.isr, sizeof(ps.isr));
		w->isr_changes++;
		ctrl_commit(w, &ps, "AlterPartition");
	}
	r.ps = w->c.ps;
	net_send(w, &r);
}

/* ---- the leader side ---------------------------------------------------- */

static void answer_produce(struct world *w, struct broker *b, int64_t value, int64_t offset,
			   int err)
{
	struct msg r = {.type = M_PRODUCE_RESP, .from = b->id, .to = CLIENT, .value = value,
			.offset = offset, .err = err};
	net_send(w, &r);
}

static void fail_waiters(struct world *w, struct broker *b, int err)
{
	for (uint32_t i = 0; i < b->nwaiters; i++)
		answer_produce(w, b, b->waiters[i].value, -1, err);
	b->nwaiters = 0;
}

/* Answers every acks=all produce that is done, failed or timed out. */
static void serve_waiters(struct world *w, struct broker *b)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < b->nwaiters; i++) {
		struct waiter *wt = &b->waiters[i];
		int st = replica_leader_ack_state(&b->rl, wt->offset);
		if (st == REPLICA_ACK_DONE)
			answer_produce(w, b, wt->value, wt->offset, 0);
		else if (st < 0)
			answer_produce(w, b, wt->value, -1, st);
		else if (w->now - wt->since_ms > PRODUCE_TIMEOUT_MS)
			answer_produce(w, b, wt->value, -1, RN_E_REQUEST_TIMED_OUT);
		else
			b->waiters[n++] = *wt;
	}
	b->nwaiters = n;
}

static void become_leader(struct world *w, struct broker *b)
{
	if (b->leading)
		fail_waiters(w, b, RN_E_NOT_LEADER_OR_FOLLOWER);
	/* Kafka records the new epoch's start before any batch of it. */
	if (epoch_hist_add(&b->hist, b->view.leader_epoch, b->leo) < 0)
		fail(w, "broker %d cannot assign epoch %d", b->id, b->view.leader_epoch);
	struct replica_leader_params p = {
		.self_id = b->id, .leader_epoch = b->view.leader_epoch,
		.epoch_start_offset = w->inject == INJECT_NO_EPOCH_START ? 0 : b->leo, .leo = b->leo, .hw = b->hw, .min_isr = w->min_isr,
		.partition_epoch = b->view.partition_epoch, .replicas = replicas,
		.replica_count = NBROKERS, .isr = b->view.isr, .isr_count = b->view.isr_count,
	};
	if (replica_leader_reset(&b->rl, &p, w->now) != 0) {
		fail(w, "broker %d: replica_leader_reset refused the controller's state", b->id);
		return;
	}
	b->leading = true;
	b->alter_inflight = false;
	b->hw = replica_leader_hw(&b->rl);
	trace(w, "broker %d leads epoch %d at leo %" PRId64 " hw %" PRId64, b->id,
	      b->view.leader_epoch, b->leo, b->hw);
}

static void resign(struct world *w, struct broker *b)
{
	if (!b->leading)
		return;
	trace(w, "broker %d stops leading", b->id);
	fail_waiters(w, b, RN_E_NOT_LEADER_OR_FOLLOWER);
	b->leading = false;
}

static void on_metadata(struct world *w, struct broker *b, const struct pstate *ps)
{
	if (!b->registered || ps->partition_epoch < b->min_partition_epoch)
		return;
	if (b->have_view && (ps->leader_epoch < b->view.leader_epoch ||
			     ps->partition_epoch <= b->view.partition_epoch))
		return;
	bool new_epoch = !b->have_view || ps->leader_epoch != b->view.leader_epoch;
	b->view = *ps;
	b->have_view = true;
	if (ps->leader != b->id) {
		resign(w, b);
		if (new_epoch)
			b->fetch_inflight = false;
		return;
	}
	if (!b->leading || new_epoch) {
		become_leader(w, b);
		return;
	}
	bool moved = false;
	if (replica_leader_isr_committed(&b->rl, ps->isr, ps->isr_count, ps->partition_epoch,
					 w->now, &moved) != 0)
		fail(w, "broker %d: the committed ISR was refused", b->id);
	b->hw = replica_leader_hw(&b->rl);
	serve_waiters(w, b);
}

static void on_produce(struct world *w, struct broker *b, const struct msg *m)
{
	if (!b->leading) {
		answer_produce(w, b, m->value, -1, RN_E_NOT_LEADER_OR_FOLLOWER);
		return;
	}
	int rc = replica_leader_produce_check(&b->rl, REPLICA_ACKS_ALL);
	if (rc || b->nwaiters == MAX_WAITERS) {
		answer_produce(w, b, m->value, -1, rc ? rc : RN_E_FULL);
		return;
	}
	int64_t offset = b->leo;
	log_append(w, b, (struct rec){.epoch = b->rl.leader_epoch, .value = m->value});
	replica_leader_on_append(&b->rl, b->leo);
	b->hw = replica_leader_hw(&b->rl);
	if (w->inject == INJECT_ACK_ON_APPEND) {
		answer_produce(w, b, m->value, offset, 0);
		return;
	}
	b->waiters[b->nwaiters++] = (struct waiter){.value = m->value, .offset = offset,
						    .since_ms = w->now};
	serve_waiters(w, b);
}

/* Answers a follower's fetch: an error, a diverging epoch, or records. */
static void on_fetch(struct world *w, struct broker *b, const struct msg *m)
{
	struct msg r = {.type = M_FETCH_RESP, .from = b->id, .to = m->from,
			.leader_epoch = m->leader_epoch, .offset = m->offset};
	if (!b->leading) {
		r.err = RN_E_NOT_LEADER_OR_FOLLOWER;
	} else if (m->leader_epoch != b->rl.leader_epoch) {
		r.err = m->leader_epoch < b->rl.leader_epoch ? RN_E_FENCED_LEADER_EPOCH
							     : RN_E_UNKNOWN_LEADER_EPOCH;
	} else {
		int32_t found;
		int64_t end, first = b->hist.n ? b->hist.v[0].start_offset : 0;
		epoch_hist_end_offset(&b->hist, m->epoch, b->leo, &found, &end);
		r.diverging = w->inject != INJECT_SKIP_DIVERGENCE &&
			      replica_leader_divergence(m->offset, m->epoch, found, end, first,
							&r.epoch, &r.div_end);
		if (r.diverging)
			w->divergences++;
		else if (m->offset > b->leo)
			r.err = RN_E_OFFSET_OUT_OF_RANGE;
		else
			r.err = replica_leader_on_follower_fetch(&b->rl, m->from, m->offset,
								 w->now, NULL);
	}
	if (b->leading && !r.err && !r.diverging) {
		b->hw = replica_leader_hw(&b->rl);
		serve_waiters(w, b);
		for (int64_t o = m->offset; o < b->leo && r.nrec < FETCH_MAX_RECORDS; o++)
			r.recs[r.nrec++] = b->log[o];
		r.hw = b->hw;
	}
	net_send(w, &r);
}

static void leader_tick(struct world *w, struct broker *b)
{
	serve_waiters(w, b);
	if (b->alter_inflight && w->now - b->alter_sent_ms > ALTER_TIMEOUT_MS) {
		replica_leader_isr_abort(&b->rl);
		b->alter_inflight = false;
	}
	struct msg m = {.type = M_ALTER, .from = b->id, .to = CONTROLLER};
	if (!replica_leader_isr_proposal(&b->rl, w->now, LAG_MAX_MS, m.ps.isr, &m.ps.isr_count))
		return;
	m.ps.leader_epoch = b->rl.leader_epoch;
	m.ps.partition_epoch = b->rl.partition_epoch;
	m.ps.leader = b->id;
	b->alter_inflight = true;
	b->alter_sent_ms = w->now;
	m.seq = ++b->alter_seq;
	trace(w, "broker %d proposes an ISR of %u", b->id, m.ps.isr_count);
	net_send(w, &m);
}

static void on_alter_resp(struct world *w, struct broker *b, const struct msg *m)
{
	/* Only the answer to the proposal in flight counts: a late answer to an
	 * earlier one must not end the wait for the current one, or the pending
	 * change would never be resolved. */
	if (!b->leading || !b->alter_inflight || m->seq != b->alter_seq)
		return;
	b->alter_inflight = false;
	if (m->err) {
		trace(w, "broker %d: AlterPartition refused: %s", b->id, rn_errname(m->err));
		replica_leader_isr_abort(&b->rl);
		return;
	}
	/* The response carries the committed state, like the metadata log. */
	on_metadata(w, b, &m->ps);
}

/* ---- the follower side -------------------------------------------------- */

static void follower_tick(struct world *w, struct broker *b)
{
	if (b->fetch_inflight && w->now - b->fetch_sent_ms > FETCH_TIMEOUT_MS)
		b->fetch_inflight = false;
	if (b->fetch_inflight || !b->have_view || b->view.leader < 1 || w->now < b->next_fetch_ms)
		return;
	struct msg m = {.type = M_FETCH, .from = b->id, .to = b->view.leader, .offset = b->leo,
			.epoch = last_epoch(b), .leader_epoch = b->view.leader_epoch};
	b->fetch_inflight = true;
	b->fetch_sent_ms = w->now;
	b->fetch_offset_sent = b->leo;
	b->fetch_generation = b->log_generation;
	net_send(w, &m);
}

static void on_diverging(struct world *w, struct broker *b, const struct msg *m)
{
	int32_t local_epoch;
	int64_t local_end;
	epoch_hist_end_offset(&b->hist, m->epoch, b->leo, &local_epoch, &local_end);
	int64_t to = replica_follower_truncation_offset(m->offset, 0, m->epoch, m->div_end,
							local_epoch, local_end);
	trace(w, "broker %d diverges: leader says epoch %d ends at %" PRId64, b->id, m->epoch,
	      m->div_end);
	if (to < b->leo)
		log_truncate(w, b, to);
	else
		epoch_hist_truncate(&b->hist, to); /* as plog_truncate at the end */
}

static void on_fetch_resp(struct world *w, struct broker *b, const struct msg *m)
{
	/* A stale answer: another fetch, a truncation or a new leader epoch
	 * came in between. */
	if (!b->fetch_inflight || b->leading || m->from != b->view.leader ||
	    m->leader_epoch != b->view.leader_epoch || m->offset != b->fetch_offset_sent ||
	    b->fetch_generation != b->log_generation || m->offset != b->leo)
		return;
	b->fetch_inflight = false;
	if (m->err) {
		b->next_fetch_ms = w->now + FETCH_IDLE_MS;
		return;
	}
	if (m->diverging) {
		on_diverging(w, b, m);
		return;
	}
	for (uint32_t i = 0; i < m->nrec; i++)
		log_append(w, b, m->recs[i]);
	int64_t hw = replica_follower_hw(m->hw, b->leo);
	if (hw > b->hw)
		b->hw = hw;
	b->next_fetch_ms = m->nrec ? w->now : w->now + FETCH_IDLE_MS;
}

/* ---- brokers: crash, restart, tick -------------------------------------- */

static void crash(struct world *w, struct broker *b)
{
	trace(w, "broker %d crashes", b->id);
	b->up = false;
	b->leading = false;
	b->nwaiters = 0;
	w->crashes++;
}

static void restart(struct world *w, struct broker *b)
{
	trace(w, "broker %d restarts with leo %" PRId64, b->id, b->leo);
	b->up = true;
	b->registered = false;
	b->hw = b->hw_checkpoint < b->leo ? b->hw_checkpoint : b->leo;
	b->have_view = false;
	b->leading = false;
	b->nwaiters = 0;
	b->alter_inflight = false;
	b->fetch_inflight = false;
	b->next_fetch_ms = w->now;
}

static void broker_tick(struct world *w, struct broker *b)
{
	if (w->now % HW_CHECKPOINT_MS == 0)
		b->hw_checkpoint = b->hw;
	if (b->leading)
		leader_tick(w, b);
	else
		follower_tick(w, b);
}

static void deliver_to_broker(struct world *w, struct broker *b, const struct msg *m)
{
	switch (m->type) {
	case M_METADATA:
		on_metadata(w, b, &m->ps);
		break;
	case M_FETCH:
		on_fetch(w, b, m);
		break;
	case M_FETCH_RESP:
		on_fetch_resp(w, b, m);
		break;
	case M_ALTER_RESP:
		on_alter_resp(w, b, m);
		break;
	case M_PRODUCE:
		on_produce(w, b, m);
		break;
	default:
		break;
	}
}

/* ---- the client --------------------------------------------------------- */

static void client_on_ack(struct world *w, const struct msg *m)
{
	struct client *cl = &w->cl;
	if (cl->inflight)
		cl->inflight--;
	if (m->err)
		return;
	if (m->offset >= w->committed_len || w->committed[m->offset].value != m->value) {
		fail(w, "value %" PRId64 " acknowledged at offset %" PRId64
			" is not committed there",
		     m->value, m->offset);
		return;
	}
	trace(w, "client: value %" PRId64 " acknowledged at offset %" PRId64 " by %d", m->value,
	      m->offset, m->from);
	if (cl->nacked == MAX_ACKED)
		return;
	cl->acked[cl->nacked++] = (struct acked){.value = m->value, .offset = m->offset};
	if (m->offset > cl->max_acked_offset)
		cl->max_acked_offset = m->offset;
	if (w->quiet)
		cl->quiet_acks++;
}

static void client_tick(struct world *w, bool produce)
{
	struct client *cl = &w->cl;
	/* Answers that were lost in the network free their slot after a
	 * while, as a client's request timeout does. */
	if (cl->inflight && rng_permille(&w->g, 20))
		cl->inflight--;
	if (!produce || cl->inflight >= MAX_INFLIGHT || cl->view.leader < 1 ||
	    !rng_permille(&w->g, P_PRODUCE))
		return;
	struct msg m = {.type = M_PRODUCE, .from = CLIENT, .to = cl->view.leader,
			.value = cl->next_value++};
	cl->inflight++;
	net_send(w, &m);
}

static void deliver(struct world *w, const struct msg *m)
{
	if (m->to == CONTROLLER) {
		if (m->type == M_ALTER)
			ctrl_on_alter(w, m);
	} else if (m->to == CLIENT) {
		if (m->type == M_METADATA && m->ps.partition_epoch > w->cl.view.partition_epoch)
			w->cl.view = m->ps;
		else if (m->type == M_PRODUCE_RESP)
			client_on_ack(w, m);
	} else if (w->b[m->to].up) {
		deliver_to_broker(w, &w->b[m->to], m);
	}
}

/* Delivers every message due now, in a random order. */
static void deliver_due(struct world *w)
{
	for (;;) {
		uint32_t due[MAX_MSGS], n = 0;
		for (uint32_t i = 0; i < w->nmsgs; i++)
			if (w->msgs[i].deliver_at <= w->now)
				due[n++] = i;
		if (n == 0)
			return;
		uint32_t pick = due[rng_below(&w->g, n)];
		struct msg m = w->msgs[pick];
		w->msgs[pick] = w->msgs[--w->nmsgs];
		deliver(w, &m);
		if (w->failed)
			return;
	}
}

/* ---- the checker -------------------------------------------------------- */

static bool rec_eq(struct rec a, struct rec b)
{
	return a.epoch == b.epoch && a.value == b.value;
}

/* Records below a broker's high watermark are committed: the same on every
 * broker, forever. */
static void check_committed(struct world *w)
{
	for (int id = 1; id <= NBROKERS; id++) {
		struct broker *b = &w->b[id];
		if (b->hw > b->leo)
			fail(w, "broker %d: high watermark %" PRId64 " past its log end %" PRId64,
			     id, b->hw, b->leo);
		/* Below verified the log was compared already and only a truncation
		 * (which lowers verified) could change it. */
		for (int64_t o = b->verified; o < b->hw && !w->failed; o++) {
			if (o >= w->committed_len) {
				w->committed[o] = b->log[o];
				w->committed_len = o + 1;
			} else if (!rec_eq(w->committed[o], b->log[o])) {
				fail(w, "offset %" PRId64 " holds value %" PRId64 " (epoch %d) on "
					"broker %d but %" PRId64 " (epoch %d) was committed",
				     o, b->log[o].value, b->log[o].epoch, id,
				     w->committed[o].value, w->committed[o].epoch);
			}
		}
		if (b->hw > b->verified)
			b->verified = b->hw;
	}
}

/* Every acknowledged record is held, at its offset, by every member of the
 * ISR the controller committed. */
static void check_isr_holds_acked(struct world *w)
{
	const struct pstate *ps = &w->c.ps;
	for (uint32_t i = 0; i < ps->isr_count && !w->failed; i++) {
		const struct broker *b = &w->b[ps->isr[i]];
		for (uint32_t k = 0; k < w->cl.nacked; k++) {
			const struct acked *a = &w->cl.acked[k];
			if (a->offset >= b->leo || b->log[a->offset].value != a->value) {
				fail(w, "ISR member %d lacks acknowledged value %" PRId64
					" at offset %" PRId64,
				     b->id, a->value, a->offset);
				break;
			}
		}
	}
}

/* ---- the run ------------------------------------------------------------ */

static void inject_faults(struct world *w)
{
	int id = 1 + (int)rng_below(&w->g, NBROKERS);
	struct broker *b = &w->b[id];
	if (b->up && rng_permille(&w->g, P_CRASH))
		crash(w, b);
	else if (!b->up && rng_permille(&w->g, P_RESTART))
		restart(w, b);
	if (!w->isolated[id] && rng_permille(&w->g, P_ISOLATE)) {
		trace(w, "broker %d is cut off", id);
		w->isolated[id] = true;
	} else if (w->isolated[id] && rng_permille(&w->g, P_HEAL)) {
		trace(w, "broker %d is reachable again", id);
		w->isolated[id] = false;
	}
	if (rng_permille(&w->g, P_PREFERRED))
		ctrl_preferred(w);
}

static void step(struct world *w, bool faults, bool produce)
{
	w->now++;
	deliver_due(w);
	if (faults)
		inject_faults(w);
	ctrl_tick(w);
	for (int id = 1; id <= NBROKERS; id++)
		if (w->b[id].up)
			broker_tick(w, &w->b[id]);
	client_tick(w, produce);
	check_committed(w);
	if (w->now % FULL_CHECK_MS == 0)
		check_isr_holds_acked(w);
}

static void world_init(struct world *w, uint64_t seed, enum inject inject, bool verbose)
{
	memset(w, 0, sizeof(*w));
	w->g.s = seed;
	w->inject = inject;
	w->verbose = verbose;
	w->min_isr = 1 + (int32_t)rng_below(&w->g, 2);
	w->c.ps = (struct pstate){.leader = 1, .leader_epoch = 0, .partition_epoch = 0,
				  .isr = {1, 2, 3}, .isr_count = 3};
	for (int id = 1; id <= NBROKERS; id++) {
		w->b[id].id = id;
		w->b[id].up = true;
		w->b[id].registered = true;
	}
	w->cl.next_value = 1;
	w->cl.max_acked_offset = -1;
	push_metadata_all(w);
}

/* After the faults heal: the ISR whole, every log the leader's, the high
 * watermark at the end, and produces acknowledged again. */
static void check_quiet_end(struct world *w)
{
	const struct pstate *ps = &w->c.ps;
	for (int id = 1; id <= NBROKERS; id++) {
		const struct broker *b = &w->b[id];
		trace(w, "broker %d: up %d leading %d leo %" PRId64 " hw %" PRId64
			 " view epoch %d/%d pending %d alter %d",
		      id, b->up, b->leading, b->leo, b->hw, b->view.leader_epoch,
		      b->view.partition_epoch, b->rl.pending, b->alter_inflight);
	}
	if (ps->leader < 1) {
		fail(w, "liveness: no leader after the quiet phase");
		return;
	}
	if (ps->isr_count != NBROKERS) {
		fail(w, "liveness: the ISR has %u members after the quiet phase", ps->isr_count);
		return;
	}
	const struct broker *l = &w->b[ps->leader];
	for (int id = 1; id <= NBROKERS; id++) {
		const struct broker *b = &w->b[id];
		if (b->leo != l->leo || b->hw != l->leo) {
			fail(w, "liveness: broker %d has leo %" PRId64 " hw %" PRId64
				", the leader leo %" PRId64,
			     id, b->leo, b->hw, l->leo);
			return;
		}
		for (int64_t o = 0; o < b->leo; o++)
			if (!rec_eq(b->log[o], l->log[o])) {
				fail(w, "broker %d differs from the leader at offset %" PRId64, id, o);
				return;
			}
	}
	if (w->cl.quiet_acks == 0)
		fail(w, "liveness: no produce acknowledged after the faults healed");
}

struct outcome {
	bool ok;
	char reason[256];
	int64_t at_ms;
	uint32_t acked, crashes, elections, truncations, isr_changes, divergences;
	int32_t min_isr;
};

static void run(uint64_t seed, enum inject inject, bool verbose, struct outcome *out)
{
	struct world *w = calloc(1, sizeof(*w));
	if (!w) {
		perror("calloc");
		exit(2);
	}
	world_init(w, seed, inject, verbose);
	while (!w->failed && w->now < RUN_MS)
		step(w, true, true);
	trace(w, "quiet phase");
	w->quiet = true;
	for (int id = 1; id <= NBROKERS; id++) {
		w->isolated[id] = false;
		if (!w->b[id].up)
			restart(w, &w->b[id]);
	}
	int64_t quiet_start = w->now;
	while (!w->failed && w->now < quiet_start + QUIET_MS)
		step(w, false, w->now < quiet_start + QUIET_PRODUCE_MS);
	if (!w->failed)
		check_isr_holds_acked(w);
	if (!w->failed)
		check_quiet_end(w);
	*out = (struct outcome){.ok = !w->failed, .at_ms = w->now, .acked = w->cl.nacked,
				.crashes = w->crashes, .elections = w->elections,
				.truncations = w->truncations, .isr_changes = w->isr_changes,
				.divergences = w->divergences, .min_isr = w->min_isr};
	memcpy(out->reason, w->reason, sizeof(out->reason));
	for (int id = 1; id <= NBROKERS; id++)
		epoch_hist_free(&w->b[id].hist);
	free(w);
}

/* ---- command line ------------------------------------------------------- */

struct cli {
	uint64_t first_seed, seed_count;
	enum inject inject;
	bool verbose, expect_failure;
	const char *prog;
};

static void print_replay(const struct cli *c, uint64_t seed)
{
	printf("  replay: %s --seed %" PRIu64 "%s%s --verbose\n", c->prog, seed,
	       c->inject ? " --inject " : "", c->inject ? inject_names[c->inject] : "");
}

static int run_range(const struct cli *c)
{
	uint64_t acked = 0, crashes = 0, elections = 0, truncations = 0, isr = 0, div = 0;
	for (uint64_t s = c->first_seed; s < c->first_seed + c->seed_count; s++) {
		struct outcome o;
		run(s, c->inject, c->verbose, &o);
		if (c->expect_failure && !o.ok) {
			printf("ok: the injected '%s' was caught at seed %" PRIu64 ": %s\n",
			       inject_names[c->inject], s, o.reason);
			return 0;
		}
		if (!o.ok && !c->expect_failure) {
			printf("FAIL seed=%" PRIu64 " at %" PRId64 " ms (min.insync.replicas %d): %s\n",
			       s, o.at_ms, o.min_isr, o.reason);
			print_replay(c, s);
			return 1;
		}
		acked += o.acked;
		crashes += o.crashes;
		elections += o.elections;
		truncations += o.truncations;
		isr += o.isr_changes;
		div += o.divergences;
	}
	if (c->expect_failure) {
		printf("FAILED: the injected '%s' went unnoticed over %" PRIu64 " seeds\n",
		       inject_names[c->inject], c->seed_count);
		return 1;
	}
	printf("ok: %" PRIu64 " seeds, %" PRIu64 " records acknowledged, %" PRIu64
	       " crashes, %" PRIu64 " elections, %" PRIu64 " ISR changes, %" PRIu64
	       " diverging fetches, %" PRIu64 " truncations\n",
	       c->seed_count, acked, crashes, elections, isr, div, truncations);
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--verbose") == 0) {
			c->verbose = true;
		} else if (strcmp(a, "--expect-failure") == 0) {
			c->expect_failure = true;
		} else if (!val) {
			return -1;
		} else if (strcmp(a, "--seed") == 0 && parse_u64(val, &c->first_seed) == 0) {
			c->seed_count = 1;
			i++;
		} else if (strcmp(a, "--seeds") == 0) {
			const char *colon = strchr(val, ':');
			char first[32];
			if (!colon || (size_t)(colon - val) >= sizeof(first))
				return -1;
			memcpy(first, val, (size_t)(colon - val));
			first[colon - val] = '\0';
			if (parse_u64(first, &c->first_seed) || parse_u64(colon + 1, &c->seed_count))
				return -1;
			i++;
		} else if (strcmp(a, "--inject") == 0) {
			bool found = false;
			for (int k = 0; k < (int)(sizeof(inject_names) / sizeof(*inject_names)); k++)
				if (strcmp(val, inject_names[k]) == 0) {
					c->inject = (enum inject)k;
					found = true;
				}
			if (!found)
				return -1;
			i++;
		} else {
			return -1;
		}
	}
	return c->seed_count > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct cli c = {.first_seed = 1, .seed_count = 1, .prog = argv[0]};
	if (parse_args(argc, argv, &c) != 0) {
		fprintf(stderr,
			"usage: %s [--seed S | --seeds FIRST:COUNT] [--verbose]\n"
			"          [--inject none|skip-divergence|ack-on-append|no-epoch-start\n"
			"           [--expect-failure]]\n",
			argv[0]);
		return 2;
	}
	rn_log_set_level(RN_LOG_ERROR);
	return run_range(&c);
}
