/* test_raft_snapshot.c: unit tests of the Raft core's snapshots, compaction, observers and status. */
#include <stdbool.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "raft/raft.h"
#include "test/unit/harness.h"

/* ---- a small in-memory cluster ------------------------------------------
 *
 * Each node has a "disk" (hard state, snapshot, log after the snapshot) and
 * a state machine that is the text of every applied payload followed by a
 * comma ("a,b,c,").  A snapshot is that text, so a node that installs one
 * must end with exactly the text the others built by applying entries.
 */

#define T_MAX_NODES 6u
#define T_MAX_LOG 512u
#define T_SM_BYTES 4096u
#define T_MAX_QUEUE 4096u
#define T_ELECTION_TICKS 10u
#define T_HEARTBEAT_TICKS 2u
#define T_SETTLE_ROUNDS 1000u

struct tnode {
	uint64_t id;
	bool observer, up;
	struct raft *r;
	struct raft_hard_state hs;
	struct raft_snapshot snap; /* data malloc'd */
	struct raft_entry log[T_MAX_LOG]; /* entries after snap, data malloc'd */
	uint32_t log_count;
	char sm[T_SM_BYTES];
	uint64_t applied;
	uint32_t installs;
	uint32_t campaign_msgs; /* VOTE and PRE_VOTE sent */
	uint32_t other_msgs;    /* anything an observer must never send */
	uint64_t first_applied; /* index of the first entry applied since start */
};

struct cluster {
	struct tnode nodes[T_MAX_NODES];
	uint32_t count, voter_count;
	uint64_t voters[T_MAX_NODES];
	struct raft_msg queue[T_MAX_QUEUE];
	uint32_t queued;
};

static struct cluster C;

static struct tnode *node(uint64_t id)
{
	RN_ASSERT(id >= 1 && id <= C.count);
	return &C.nodes[id - 1];
}

static void msg_release(struct raft_msg *m)
{
	for (uint32_t i = 0; i < m->entry_count; i++)
		free(m->entries[i].data);
	free(m->entries);
	free(m->snapshot);
}

static void entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	dst->data = NULL;
	if (src->len) {
		dst->data = malloc(src->len);
		RN_ASSERT(dst->data);
		memcpy(dst->data, src->data, src->len);
	}
}

static void enqueue(const struct raft_msg *m)
{
	RN_ASSERT(C.queued < T_MAX_QUEUE);
	struct raft_msg *q = &C.queue[C.queued++];
	*q = *m;
	q->entries = m->entry_count ? calloc(m->entry_count, sizeof(*q->entries)) : NULL;
	for (uint32_t i = 0; i < m->entry_count; i++)
		entry_copy(&q->entries[i], &m->entries[i]);
	q->snapshot = NULL;
	if (m->snapshot_len) {
		q->snapshot = malloc(m->snapshot_len);
		RN_ASSERT(q->snapshot);
		memcpy(q->snapshot, m->snapshot, m->snapshot_len);
	}
}

static void disk_drop_log(struct tnode *n, uint64_t from, uint64_t to)
{
	uint32_t w = 0;
	for (uint32_t i = 0; i < n->log_count; i++) {
		if (n->log[i].index >= from && n->log[i].index <= to)
			free(n->log[i].data);
		else
			n->log[w++] = n->log[i];
	}
	n->log_count = w;
}

static void disk_persist(struct tnode *n, const struct raft_ready *rd)
{
	if (rd->snapshot) {
		free(n->snap.data);
		n->snap = *rd->snapshot;
		n->snap.data = NULL;
		if (rd->snapshot->len) {
			n->snap.data = malloc(rd->snapshot->len);
			RN_ASSERT(n->snap.data);
			memcpy(n->snap.data, rd->snapshot->data, rd->snapshot->len);
		}
	}
	if (rd->compact_to)
		disk_drop_log(n, 0, rd->compact_to);
	if (rd->truncate_from)
		disk_drop_log(n, rd->truncate_from, UINT64_MAX);
	for (uint32_t i = 0; i < rd->entry_count; i++) {
		RN_ASSERT(n->log_count < T_MAX_LOG);
		RN_ASSERT(rd->entries[i].index == n->snap.index + n->log_count + 1);
		entry_copy(&n->log[n->log_count++], &rd->entries[i]);
	}
	if (rd->hard_state_changed)
		n->hs = rd->hs;
}

static void sm_install(struct tnode *n, const struct raft_snapshot *s)
{
	RN_ASSERT(s->len < T_SM_BYTES);
	if (s->len)
		memcpy(n->sm, s->data, s->len);
	n->sm[s->len] = '\0';
	n->applied = s->index;
	n->installs++;
}

static void sm_apply(struct tnode *n, const struct raft_entry *e)
{
	RN_ASSERT(e->index == n->applied + 1);
	if (n->first_applied == 0)
		n->first_applied = e->index;
	n->applied = e->index;
	size_t at = strlen(n->sm);
	RN_ASSERT(at + e->len + 2 < T_SM_BYTES);
	if (e->len) {
		memcpy(n->sm + at, e->data, e->len);
		strcpy(n->sm + at + e->len, ",");
	}
}

/* Does everything a shell does with one Ready. */
static void handle_ready(struct tnode *n)
{
	struct raft_ready rd;
	RN_ASSERT(raft_ready(n->r, &rd) == 0);
	disk_persist(n, &rd);
	for (uint32_t i = 0; i < rd.msg_count; i++) {
		enum raft_msg_type t = rd.msgs[i].type;
		if (t == RAFT_MSG_VOTE || t == RAFT_MSG_PRE_VOTE)
			n->campaign_msgs++;
		if (t != RAFT_MSG_FETCH)
			n->other_msgs++;
		enqueue(&rd.msgs[i]);
	}
	if (rd.snapshot && rd.snapshot_install)
		sm_install(n, rd.snapshot);
	for (uint32_t i = 0; i < rd.committed_count; i++)
		sm_apply(n, &rd.committed[i]);
	raft_advance(n->r, &rd);
}

/* Runs Readies and delivers messages until nothing moves. */
static void settle(void)
{
	for (uint32_t round = 0; round < T_SETTLE_ROUNDS; round++) {
		bool moved = false;
		for (uint32_t i = 0; i < C.count; i++) {
			struct tnode *n = &C.nodes[i];
			while (n->up && raft_has_ready(n->r)) {
				handle_ready(n);
				moved = true;
			}
		}
		uint32_t batch = C.queued;
		struct raft_msg *msgs = malloc(batch * sizeof(*msgs) + 1);
		RN_ASSERT(msgs);
		memcpy(msgs, C.queue, batch * sizeof(*msgs));
		C.queued = 0;
		for (uint32_t i = 0; i < batch; i++) {
			struct tnode *to = node(msgs[i].to);
			if (to->up)
				RN_ASSERT(raft_step(to->r, &msgs[i]) == 0);
			msg_release(&msgs[i]);
			moved = true;
		}
		free(msgs);
		if (!moved)
			return;
	}
	RN_ASSERT(!"the cluster did not settle");
}

static void node_start(struct tnode *n, uint64_t applied)
{
	struct raft_config cfg = { .id = n->id, .voters = C.voters, .voter_count = C.voter_count,
				   .election_ticks = T_ELECTION_TICKS,
				   .heartbeat_ticks = T_HEARTBEAT_TICKS, .seed = 7 * n->id,
				   .pre_vote = true, .observer = n->observer };
	struct raft_restore rs = { .hs = &n->hs, .snapshot = &n->snap, .log = n->log,
				   .log_count = n->log_count, .applied_index = applied };
	RN_ASSERT(raft_new_from(&cfg, &rs, &n->r) == 0);
	n->up = true;
	n->first_applied = 0;
}

/* voters 1..v, observers v+1..v+o; observers start when start_observers. */
static void cluster_init(uint32_t v, uint32_t o, bool start_observers)
{
	memset(&C, 0, sizeof(C));
	C.count = v + o;
	C.voter_count = v;
	for (uint32_t i = 0; i < v; i++)
		C.voters[i] = i + 1;
	for (uint32_t i = 0; i < C.count; i++) {
		C.nodes[i].id = i + 1;
		C.nodes[i].observer = i >= v;
		if (i < v || start_observers)
			node_start(&C.nodes[i], 0);
	}
}

static void node_crash(struct tnode *n)
{
	raft_free(n->r);
	n->r = NULL;
	n->up = false;
}

/* Forgets everything on the node's disk and in its state machine. */
static void node_wipe(struct tnode *n)
{
	disk_drop_log(n, 0, UINT64_MAX);
	free(n->snap.data);
	memset(&n->snap, 0, sizeof(n->snap));
	memset(&n->hs, 0, sizeof(n->hs));
	n->sm[0] = '\0';
	n->applied = 0;
}

static void cluster_free(void)
{
	for (uint32_t i = 0; i < C.count; i++) {
		struct tnode *n = &C.nodes[i];
		if (n->up)
			node_crash(n);
		node_wipe(n);
	}
	for (uint32_t i = 0; i < C.queued; i++)
		msg_release(&C.queue[i]);
	C.queued = 0;
}

static void tick_all(uint32_t ticks)
{
	for (uint32_t t = 0; t < ticks; t++) {
		for (uint32_t i = 0; i < C.count; i++)
			if (C.nodes[i].up)
				raft_tick(C.nodes[i].r);
		settle();
	}
}

/* Ticks only node id until it leads. */
static bool elect(uint64_t id)
{
	for (uint32_t t = 0; t < 4 * T_ELECTION_TICKS; t++) {
		raft_tick(node(id)->r);
		settle();
		if (raft_is_leader(node(id)->r))
			return true;
	}
	return false;
}

static void propose(uint64_t id, const char *text)
{
	RN_ASSERT(raft_propose(node(id)->r, text, (uint32_t)strlen(text), NULL) == 0);
	settle();
}

/* Compacts node id at everything it applied, with its state machine. */
static int compact(uint64_t id)
{
	struct tnode *n = node(id);
	RN_ASSERT(raft_applied_index(n->r) == n->applied);
	return raft_compact(n->r, n->applied, n->sm, (uint32_t)strlen(n->sm));
}

/* ---- observers -------------------------------------------------------- */

TEST(observer_catches_up_by_fetching)
{
	cluster_init(3, 1, false);
	CHECK(elect(1));
	propose(1, "a");
	propose(1, "b");
	propose(1, "c");
	node_start(node(4), 0);
	tick_all(3 * T_HEARTBEAT_TICKS);
	CHECK_EQ_STR(node(4)->sm, "a,b,c,");
	CHECK_EQ_INT(node(4)->applied, node(1)->applied);
	CHECK_EQ_INT(raft_leader(node(4)->r), 1);
	/* New entries reach it without waiting for its next fetch. */
	propose(1, "d");
	CHECK_EQ_STR(node(4)->sm, "a,b,c,d,");
	CHECK_EQ_INT(node(4)->other_msgs, 0);
	cluster_free();
}

TEST(observer_never_votes_or_campaigns)
{
	cluster_init(3, 1, true);
	/* No voter ticks: nobody leads, and the observer's clock runs out
	 * many times over. */
	for (uint32_t t = 0; t < 10 * T_ELECTION_TICKS; t++) {
		raft_tick(node(4)->r);
		settle();
	}
	CHECK_EQ_INT(node(4)->campaign_msgs, 0);
	CHECK_EQ_INT(node(4)->other_msgs, 0);
	CHECK(raft_role(node(4)->r) == RAFT_FOLLOWER);
	CHECK_EQ_INT(raft_term(node(4)->r), 0);
	/* A vote request gets no answer. */
	struct raft_msg vote = { .type = RAFT_MSG_VOTE, .from = 1, .to = 4, .term = 5 };
	CHECK_OK(raft_step(node(4)->r, &vote));
	CHECK(!raft_has_ready(node(4)->r));
	CHECK_EQ_INT(raft_term(node(4)->r), 0);
	struct raft_status st;
	raft_status(node(4)->r, &st);
	CHECK(st.observer);
	cluster_free();
}

TEST(observer_is_not_counted_for_commit)
{
	cluster_init(3, 2, true);
	CHECK(elect(1));
	propose(1, "a");
	tick_all(2 * T_HEARTBEAT_TICKS);
	CHECK_EQ_STR(node(5)->sm, "a,");
	uint64_t commit = raft_commit_index(node(1)->r);
	node_crash(node(2));
	node_crash(node(3));
	propose(1, "b");
	tick_all(3 * T_ELECTION_TICKS);
	/* Two observers and the leader are three members, but only one of
	 * three voters: nothing commits and nobody applies "b". */
	CHECK_EQ_INT(raft_commit_index(node(1)->r), commit);
	CHECK_EQ_STR(node(1)->sm, "a,");
	CHECK_EQ_STR(node(4)->sm, "a,");
	CHECK_EQ_STR(node(5)->sm, "a,");
	node_start(node(2), node(2)->applied);
	tick_all(3 * T_HEARTBEAT_TICKS);
	CHECK_EQ_STR(node(1)->sm, "a,b,");
	CHECK_EQ_STR(node(4)->sm, "a,b,");
	CHECK_EQ_STR(node(5)->sm, "a,b,");
	cluster_free();
}

TEST(observer_follows_new_leader_after_failover)
{
	cluster_init(3, 1, true);
	CHECK(elect(1));
	propose(1, "a");
	tick_all(2 * T_HEARTBEAT_TICKS);
	CHECK_EQ_INT(raft_leader(node(4)->r), 1);
	node_crash(node(1));
	CHECK(elect(2));
	propose(2, "b");
	/* The observer notices the silence, asks the voters in turn, is told
	 * the new leader and fetches from it. */
	tick_all(3 * T_ELECTION_TICKS);
	CHECK_EQ_INT(raft_leader(node(4)->r), 2);
	CHECK_EQ_INT(raft_term(node(4)->r), raft_term(node(2)->r));
	CHECK_EQ_STR(node(4)->sm, "a,b,");
	CHECK_EQ_INT(node(4)->other_msgs, 0);
	cluster_free();
}

TEST(voter_that_does_not_lead_redirects_fetch)
{
	cluster_init(3, 1, true);
	CHECK(elect(1));
	struct raft_msg f = { .type = RAFT_MSG_FETCH, .from = 4, .to = 2, .term = 0 };
	CHECK_OK(raft_step(node(2)->r, &f));
	struct raft_ready rd;
	CHECK_OK(raft_ready(node(2)->r, &rd));
	CHECK_EQ_INT(rd.msg_count, 1);
	CHECK(rd.msgs[0].type == RAFT_MSG_FETCH_RESP);
	CHECK(rd.msgs[0].reject);
	CHECK_EQ_INT(rd.msgs[0].reject_hint, 1);
	CHECK_EQ_INT(rd.msgs[0].to, 4);
	raft_advance(node(2)->r, &rd);
	cluster_free();
}

/* ---- snapshots -------------------------------------------------------- */

TEST(compaction_drops_entries_and_asks_to_persist_the_snapshot)
{
	cluster_init(1, 0, false);
	CHECK(elect(1));
	propose(1, "a");
	propose(1, "b");
	propose(1, "c");
	uint64_t s = node(1)->applied;
	CHECK_EQ_INT(s, 4); /* the leader's no-op, then a, b, c */
	CHECK_OK(compact(1));
	CHECK_EQ_INT(raft_snapshot_index(node(1)->r), s);
	struct raft_ready rd;
	CHECK(raft_has_ready(node(1)->r));
	CHECK_OK(raft_ready(node(1)->r, &rd));
	CHECK_EQ_INT(rd.compact_to, s);
	CHECK(rd.snapshot != NULL);
	CHECK(!rd.snapshot_install);
	CHECK_EQ_INT(rd.snapshot->index, s);
	CHECK_EQ_INT(rd.snapshot->term, raft_term(node(1)->r));
	CHECK_EQ_INT(rd.snapshot->len, 6);
	CHECK(memcmp(rd.snapshot->data, "a,b,c,", 6) == 0);
	disk_persist(node(1), &rd);
	raft_advance(node(1)->r, &rd);
	CHECK_EQ_INT(node(1)->log_count, 0);
	CHECK_EQ_INT(node(1)->snap.index, s);
	struct raft_status st;
	raft_status(node(1)->r, &st);
	CHECK_EQ_INT(st.first_index, s + 1);
	CHECK_EQ_INT(st.snapshot_index, s);
	/* The log goes on after the snapshot. */
	propose(1, "d");
	CHECK_EQ_INT(raft_last_index(node(1)->r), s + 1);
	CHECK_EQ_INT(node(1)->log_count, 1);
	CHECK_EQ_STR(node(1)->sm, "a,b,c,d,");
	/* Compacting again at or below the snapshot does nothing. */
	CHECK_OK(raft_compact(node(1)->r, s, "x", 1));
	CHECK(!raft_has_ready(node(1)->r));
	cluster_free();
}

TEST(compact_refuses_bad_arguments)
{
	cluster_init(1, 0, false);
	CHECK(elect(1));
	propose(1, "a");
	uint64_t applied = raft_applied_index(node(1)->r);
	CHECK_EQ_INT(raft_compact(node(1)->r, applied + 1, "x", 1), RN_E_INVAL);
	CHECK_EQ_INT(raft_compact(node(1)->r, applied, NULL, 1), RN_E_INVAL);
	CHECK_EQ_INT(raft_compact(node(1)->r, applied, "x", RAFT_MAX_SNAPSHOT_BYTES + 1),
		     RN_E_FULL);
	CHECK_EQ_INT(raft_snapshot_index(node(1)->r), 0);
	cluster_free();
}

TEST(lagging_follower_catches_up_through_snapshot)
{
	cluster_init(3, 0, false);
	CHECK(elect(1));
	propose(1, "a");
	node_crash(node(3));
	propose(1, "b");
	propose(1, "c");
	CHECK_OK(compact(1));
	CHECK_OK(compact(2));
	settle();
	propose(1, "d"); /* one entry after the snapshot */
	node_start(node(3), node(3)->applied);
	tick_all(4 * T_HEARTBEAT_TICKS);
	CHECK_EQ_INT(node(3)->installs, 1);
	CHECK_EQ_STR(node(3)->sm, "a,b,c,d,");
	CHECK_EQ_INT(node(3)->applied, node(1)->applied);
	CHECK_EQ_INT(node(3)->snap.index, raft_snapshot_index(node(1)->r));
	/* Its log now starts after the snapshot, and it keeps replicating. */
	propose(1, "e");
	CHECK_EQ_STR(node(3)->sm, "a,b,c,d,e,");
	cluster_free();
}

TEST(node_with_empty_data_catches_up_through_snapshot)
{
	cluster_init(3, 0, false);
	CHECK(elect(1));
	propose(1, "a");
	propose(1, "b");
	CHECK_OK(compact(1));
	CHECK_OK(compact(2));
	settle();
	node_crash(node(3));
	node_wipe(node(3));
	node_start(node(3), 0);
	tick_all(4 * T_HEARTBEAT_TICKS);
	CHECK_EQ_INT(node(3)->installs, 1);
	CHECK_EQ_STR(node(3)->sm, "a,b,");
	/* It votes again: with the leader gone, 2 and 3 elect a new one. */
	node_crash(node(1));
	CHECK(elect(3));
	propose(3, "c");
	CHECK_EQ_STR(node(2)->sm, "a,b,c,");
	cluster_free();
}

TEST(new_observer_catches_up_through_snapshot)
{
	cluster_init(3, 1, false);
	CHECK(elect(1));
	propose(1, "a");
	propose(1, "b");
	CHECK_OK(compact(1));
	settle();
	propose(1, "c");
	node_start(node(4), 0);
	tick_all(4 * T_HEARTBEAT_TICKS);
	CHECK_EQ_INT(node(4)->installs, 1);
	CHECK_EQ_STR(node(4)->sm, "a,b,c,");
	CHECK_EQ_INT(node(4)->other_msgs, 0);
	cluster_free();
}

TEST(restart_from_snapshot_redelivers_only_entries_after_it)
{
	cluster_init(1, 0, false);
	CHECK(elect(1));
	propose(1, "a");
	propose(1, "b");
	CHECK_OK(compact(1));
	settle();
	uint64_t s = raft_snapshot_index(node(1)->r);
	propose(1, "c");
	propose(1, "d");
	struct tnode *n = node(1);
	node_crash(n);
	/* The shell restores its state machine from its snapshot. */
	sm_install(n, &n->snap);
	CHECK_EQ_STR(n->sm, "a,b,");
	node_start(n, s);
	CHECK_EQ_INT(raft_snapshot_index(n->r), s);
	CHECK_EQ_INT(raft_commit_index(n->r), s + 2);
	settle();
	CHECK_EQ_INT(n->first_applied, s + 1);
	CHECK_EQ_STR(n->sm, "a,b,c,d,");

	/* A state machine rebuilt from nothing gets the snapshot first. */
	node_crash(n);
	n->sm[0] = '\0';
	n->applied = 0;
	node_start(n, 0);
	struct raft_ready rd;
	CHECK(raft_has_ready(n->r));
	CHECK_OK(raft_ready(n->r, &rd));
	CHECK(rd.snapshot != NULL && rd.snapshot_install);
	CHECK_EQ_INT(rd.snapshot->index, s);
	CHECK_EQ_INT(rd.compact_to, 0);
	CHECK_EQ_INT(rd.committed_count, 2);
	CHECK_EQ_INT(rd.committed[0].index, s + 1);
	raft_advance(n->r, &rd);
	cluster_free();
}

TEST(stale_snapshot_is_ignored)
{
	cluster_init(3, 0, false);
	CHECK(elect(1));
	propose(1, "a");
	propose(1, "b");
	propose(1, "c");
	tick_all(T_HEARTBEAT_TICKS);
	struct tnode *f = node(2);
	uint64_t commit = raft_commit_index(f->r);
	CHECK_EQ_INT(commit, 4);
	uint8_t old[] = "a,";
	struct raft_msg m = { .type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2,
			      .term = raft_term(node(1)->r), .index = 2,
			      .log_term = raft_term(node(1)->r), .commit = 2, .snapshot = old,
			      .snapshot_len = 2 };
	CHECK_OK(raft_step(f->r, &m));
	struct raft_ready rd;
	CHECK_OK(raft_ready(f->r, &rd));
	CHECK(rd.snapshot == NULL);
	CHECK_EQ_INT(rd.compact_to, 0);
	CHECK_EQ_INT(rd.msg_count, 1);
	CHECK(rd.msgs[0].type == RAFT_MSG_APPEND_RESP);
	CHECK_EQ_INT(rd.msgs[0].index, commit);
	raft_advance(f->r, &rd);
	CHECK_EQ_INT(raft_commit_index(f->r), commit);
	CHECK_EQ_INT(raft_last_index(f->r), 4);
	CHECK_EQ_STR(f->sm, "a,b,c,");
	cluster_free();
}

TEST(snapshot_messages_are_validated)
{
	cluster_init(3, 1, false);
	uint8_t b[1] = { 'x' };
	struct raft_msg m = { .type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 1,
			      .index = 1, .log_term = 1, .snapshot = b,
			      .snapshot_len = RAFT_MAX_SNAPSHOT_BYTES + 1 };
	CHECK_EQ_INT(raft_step(node(2)->r, &m), RN_E_INVAL);
	m.snapshot_len = 1;
	m.index = 0;
	CHECK_EQ_INT(raft_step(node(2)->r, &m), RN_E_INVAL);
	/* Snapshot bytes only travel in SNAPSHOT. */
	struct raft_msg a = { .type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1,
			      .snapshot = b, .snapshot_len = 1 };
	CHECK_EQ_INT(raft_step(node(2)->r, &a), RN_E_INVAL);
	/* Only FETCH may come from a node that is not a voter. */
	struct raft_msg h = { .type = RAFT_MSG_HEARTBEAT, .from = 4, .to = 2, .term = 1 };
	CHECK_EQ_INT(raft_step(node(2)->r, &h), RN_E_INVAL);
	/* A voter cannot be configured as an observer. */
	struct raft_config cfg = { .id = 2, .voters = C.voters, .voter_count = 3,
				   .election_ticks = 10, .heartbeat_ticks = 2, .observer = true };
	struct raft *r = NULL;
	CHECK_EQ_INT(raft_new(&cfg, NULL, NULL, 0, 0, &r), RN_E_INVAL);
	/* A restored log must start right after the snapshot. */
	struct raft_hard_state hs = { .term = 2, .commit = 5 };
	struct raft_snapshot snap = { .index = 5, .term = 2, .len = 1, .data = b };
	struct raft_entry e = { .term = 2, .index = 7 };
	struct raft_restore rs = { .hs = &hs, .snapshot = &snap, .log = &e, .log_count = 1 };
	cfg.observer = false;
	CHECK_EQ_INT(raft_new_from(&cfg, &rs, &r), RN_E_CORRUPT_STATE);
	e.index = 6;
	CHECK_OK(raft_new_from(&cfg, &rs, &r));
	CHECK_EQ_INT(raft_last_index(r), 6);
	CHECK_EQ_INT(raft_snapshot_index(r), 5);
	raft_free(r);
	cluster_free();
}

/* ---- status ----------------------------------------------------------- */

TEST(status_reports_voters_observers_and_lag)
{
	static struct raft_status st;
	cluster_init(3, 1, true);
	CHECK(elect(1));
	propose(1, "a");
	propose(1, "b");
	tick_all(2 * T_HEARTBEAT_TICKS);
	raft_status(node(1)->r, &st);
	CHECK(st.role == RAFT_LEADER);
	CHECK(!st.observer);
	CHECK_EQ_INT(st.leader, 1);
	CHECK_EQ_INT(st.term, raft_term(node(1)->r));
	CHECK_EQ_INT(st.commit, 3);
	CHECK_EQ_INT(st.last_index, 3);
	CHECK_EQ_INT(st.first_index, 1);
	CHECK_EQ_INT(st.peer_count, 4);
	for (uint32_t i = 0; i < 3; i++) {
		CHECK_EQ_INT(st.peers[i].id, i + 1);
		CHECK(st.peers[i].voter);
		CHECK_EQ_INT(st.peers[i].match, 3);
	}
	CHECK_EQ_INT(st.peers[3].id, 4);
	CHECK(!st.peers[3].voter);
	CHECK_EQ_INT(st.peers[3].match, 3);
	CHECK_EQ_INT(st.peers[0].ticks_since_contact, 0);

	/* A silent voter's contact ages; the others stay fresh. */
	node_crash(node(3));
	tick_all(5);
	raft_status(node(1)->r, &st);
	CHECK(st.peers[2].ticks_since_contact >= 5);
	CHECK(st.peers[1].ticks_since_contact < 2 * T_HEARTBEAT_TICKS);
	CHECK(st.peers[3].ticks_since_contact < 2 * T_HEARTBEAT_TICKS);

	/* Other nodes report their own view and no peers. */
	raft_status(node(4)->r, &st);
	CHECK(st.observer);
	CHECK_EQ_INT(st.leader, 1);
	CHECK_EQ_INT(st.commit, 3);
	CHECK_EQ_INT(st.peer_count, 0);
	cluster_free();
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
