/* test_raft.c: unit tests of the Raft core, single voter and an in-memory three-node cluster. */
#include <stdbool.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "raft/raft.h"
#include "test/unit/harness.h"

/* ---- a simulated node: in-memory "disk" plus what it applied ---------- */

#define MAX_SIM_ENTRIES 4096
#define MAX_SIM_NODES 5
#define MAX_SIM_MSGS 8192

struct sim_node {
	uint64_t id;
	struct raft *r;
	/* what is durable */
	struct raft_hard_state hs;
	struct raft_entry disk[MAX_SIM_ENTRIES];
	uint32_t disk_count;
	/* what the state machine applied, in order */
	uint64_t applied_index[MAX_SIM_ENTRIES];
	char applied_data[MAX_SIM_ENTRIES][32];
	uint32_t applied_count;
	bool down;
};

/* A queued message owns copies of its entries and their data. */
struct sim_msg {
	struct raft_msg m;
};

struct sim {
	struct sim_node nodes[MAX_SIM_NODES];
	uint32_t n;
	bool cut[MAX_SIM_NODES + 1][MAX_SIM_NODES + 1]; /* cut[a][b]: a's messages to b are lost */
	struct sim_msg *queue;
	uint32_t queue_count;
	uint64_t voters[MAX_SIM_NODES];
	bool pre_vote, check_quorum;
	uint64_t seed; /* seeds every node's election timer generator */
};

static void disk_truncate(struct sim_node *sn, uint64_t from)
{
	while (sn->disk_count >= from && sn->disk_count > 0) {
		free(sn->disk[sn->disk_count - 1].data);
		sn->disk_count--;
	}
}

/* What a shell does with a Ready: persist, then send and apply, then advance. */
static void sim_persist(struct sim_node *sn, const struct raft_ready *rd)
{
	if (rd->truncate_from)
		disk_truncate(sn, rd->truncate_from);
	for (uint32_t i = 0; i < rd->entry_count; i++) {
		const struct raft_entry *e = &rd->entries[i];
		RN_ASSERT(e->index <= (uint64_t)sn->disk_count + 1);
		disk_truncate(sn, e->index);
		struct raft_entry *d = &sn->disk[sn->disk_count++];
		*d = *e;
		d->data = NULL;
		if (e->len) {
			d->data = malloc(e->len);
			memcpy(d->data, e->data, e->len);
		}
	}
	if (rd->hard_state_changed)
		sn->hs = rd->hs;
}

static void sim_apply(struct sim_node *sn, const struct raft_ready *rd)
{
	for (uint32_t i = 0; i < rd->committed_count; i++) {
		const struct raft_entry *e = &rd->committed[i];
		if (e->len == 0)
			continue;
		uint32_t k = sn->applied_count++;
		sn->applied_index[k] = e->index;
		uint32_t n = e->len < 31 ? e->len : 31;
		memcpy(sn->applied_data[k], e->data, n);
		sn->applied_data[k][n] = 0;
	}
}

static void sim_enqueue(struct sim *s, const struct raft_msg *m)
{
	if (m->to == 0 || m->to > s->n || s->cut[m->from][m->to] || s->nodes[m->to - 1].down)
		return;
	RN_ASSERT(s->queue_count < MAX_SIM_MSGS);
	struct sim_msg *q = &s->queue[s->queue_count++];
	q->m = *m;
	q->m.entries = NULL;
	if (m->entry_count)
		q->m.entries = calloc(m->entry_count, sizeof(*q->m.entries));
	for (uint32_t i = 0; i < m->entry_count; i++) {
		q->m.entries[i] = m->entries[i];
		q->m.entries[i].data = NULL;
		if (m->entries[i].len) {
			q->m.entries[i].data = malloc(m->entries[i].len);
			memcpy(q->m.entries[i].data, m->entries[i].data, m->entries[i].len);
		}
	}
}

static void sim_msg_free(struct sim_msg *q)
{
	for (uint32_t i = 0; i < q->m.entry_count; i++)
		free(q->m.entries[i].data);
	free(q->m.entries);
}

/* Handles every node's Ready once; returns true if any had one. */
static bool sim_readies(struct sim *s)
{
	bool any = false;
	for (uint32_t i = 0; i < s->n; i++) {
		struct sim_node *sn = &s->nodes[i];
		if (sn->down || !raft_has_ready(sn->r))
			continue;
		struct raft_ready rd;
		RN_ASSERT(raft_ready(sn->r, &rd) == 0);
		sim_persist(sn, &rd);
		for (uint32_t k = 0; k < rd.msg_count; k++)
			sim_enqueue(s, &rd.msgs[k]);
		sim_apply(sn, &rd);
		raft_advance(sn->r, &rd);
		any = true;
	}
	return any;
}

/* Delivers messages and handles readies until nothing moves. */
static void sim_settle(struct sim *s)
{
	for (int round = 0; round < 1000; round++) {
		bool any = sim_readies(s);
		uint32_t count = s->queue_count;
		struct sim_msg *batch = malloc(sizeof(*batch) * (count ? count : 1));
		memcpy(batch, s->queue, sizeof(*batch) * count);
		s->queue_count = 0;
		for (uint32_t k = 0; k < count; k++) {
			struct sim_node *to = &s->nodes[batch[k].m.to - 1];
			if (!to->down)
				RN_ASSERT(raft_step(to->r, &batch[k].m) == 0);
			sim_msg_free(&batch[k]);
		}
		free(batch);
		if (!any && count == 0)
			return;
	}
	RN_ASSERT(0 && "cluster did not settle");
}

static struct raft *sim_start_node(struct sim *s, uint32_t i, uint64_t applied)
{
	struct raft_config cfg = { .id = i + 1, .voters = s->voters, .voter_count = s->n,
				   .election_ticks = 10, .heartbeat_ticks = 1, .seed = s->seed,
				   .pre_vote = s->pre_vote, .check_quorum = s->check_quorum };
	struct raft *r = NULL;
	RN_ASSERT(raft_new(&cfg, &s->nodes[i].hs, s->nodes[i].disk, s->nodes[i].disk_count,
			   applied, &r) == 0);
	return r;
}

static struct sim *sim_new(uint32_t n, bool pre_vote, bool check_quorum)
{
	struct sim *s = calloc(1, sizeof(*s));
	s->queue = calloc(MAX_SIM_MSGS, sizeof(*s->queue));
	s->n = n;
	s->pre_vote = pre_vote;
	s->check_quorum = check_quorum;
	s->seed = 42;
	for (uint32_t i = 0; i < n; i++)
		s->voters[i] = i + 1;
	for (uint32_t i = 0; i < n; i++) {
		s->nodes[i].id = i + 1;
		s->nodes[i].r = sim_start_node(s, i, 0);
	}
	return s;
}

static void sim_free(struct sim *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		raft_free(s->nodes[i].r);
		disk_truncate(&s->nodes[i], 1);
	}
	for (uint32_t k = 0; k < s->queue_count; k++)
		sim_msg_free(&s->queue[k]);
	free(s->queue);
	free(s);
}

static void sim_tick(struct sim *s, int ticks)
{
	for (int t = 0; t < ticks; t++) {
		for (uint32_t i = 0; i < s->n; i++)
			if (!s->nodes[i].down)
				raft_tick(s->nodes[i].r);
		sim_settle(s);
	}
}

/* The single leader among the running nodes, 0 if none or several. */
static uint64_t sim_leader(struct sim *s)
{
	uint64_t leader = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->nodes[i].down || !raft_is_leader(s->nodes[i].r))
			continue;
		if (leader)
			return 0;
		leader = s->nodes[i].id;
	}
	return leader;
}

static void sim_isolate(struct sim *s, uint64_t id, bool cut)
{
	for (uint64_t j = 1; j <= s->n; j++) {
		s->cut[id][j] = cut;
		s->cut[j][id] = cut;
	}
}

static int sim_propose(struct sim *s, uint64_t id, const char *text)
{
	return raft_propose(s->nodes[id - 1].r, text, (uint32_t)strlen(text), NULL);
}

/* ---- single voter ----------------------------------------------------- */

static struct raft *single_new(const struct raft_hard_state *hs, const struct raft_entry *log,
			       uint32_t n, uint64_t applied)
{
	static const uint64_t voters[] = { 7 };
	struct raft_config cfg = { .id = 7, .voters = voters, .voter_count = 1,
				   .election_ticks = 10, .heartbeat_ticks = 1, .seed = 1 };
	struct raft *r = NULL;
	RN_ASSERT(raft_new(&cfg, hs, log, n, applied, &r) == 0);
	return r;
}

TEST(single_voter_persists_vote_before_leading)
{
	struct raft *r = single_new(NULL, NULL, 0, 0);
	CHECK(!raft_has_ready(r));
	raft_tick(r);
	/* It campaigned: the new term and its self-vote must be persisted first. */
	CHECK(!raft_is_leader(r));
	CHECK(raft_has_ready(r));
	struct raft_ready rd;
	CHECK_OK(raft_ready(r, &rd));
	CHECK(rd.hard_state_changed);
	CHECK_EQ_INT(rd.hs.term, 1);
	CHECK_EQ_INT(rd.hs.vote, 7);
	CHECK_EQ_INT(rd.entry_count, 0);
	CHECK(!raft_is_leader(r));
	/* Ticks while the Ready is outstanding must not start another election. */
	raft_tick(r);
	raft_tick(r);
	CHECK_EQ_INT(raft_term(r), 1);
	CHECK(!raft_has_ready(r));
	raft_advance(r, &rd);
	CHECK(raft_is_leader(r));
	CHECK_EQ_INT(raft_leader(r), 7);
	/* The leader's empty entry of its own term. */
	CHECK(raft_has_ready(r));
	CHECK_OK(raft_ready(r, &rd));
	CHECK_EQ_INT(rd.entry_count, 1);
	CHECK_EQ_INT(rd.entries[0].index, 1);
	CHECK_EQ_INT(rd.entries[0].term, 1);
	CHECK_EQ_INT(rd.entries[0].len, 0);
	CHECK_EQ_INT(rd.committed_count, 0);
	raft_advance(r, &rd);
	CHECK_EQ_INT(raft_commit_index(r), 1);
	raft_free(r);
}

/* Runs readies until none, collecting committed non-empty entries. */
static uint32_t drain(struct raft *r, char out[][32], uint32_t max)
{
	uint32_t n = 0;
	while (raft_has_ready(r)) {
		struct raft_ready rd;
		RN_ASSERT(raft_ready(r, &rd) == 0);
		for (uint32_t i = 0; i < rd.committed_count; i++) {
			if (rd.committed[i].len == 0 || n >= max)
				continue;
			memcpy(out[n], rd.committed[i].data, rd.committed[i].len);
			out[n][rd.committed[i].len] = 0;
			n++;
		}
		raft_advance(r, &rd);
	}
	return n;
}

TEST(single_voter_commits_only_after_advance)
{
	struct raft *r = single_new(NULL, NULL, 0, 0);
	char got[8][32];
	raft_tick(r);
	drain(r, got, 8);
	CHECK(raft_is_leader(r));
	uint64_t idx = 0;
	CHECK_OK(raft_propose(r, "hello", 5, &idx));
	CHECK_EQ_INT(idx, 2);
	CHECK_EQ_INT(raft_commit_index(r), 1);
	struct raft_ready rd;
	CHECK_OK(raft_ready(r, &rd));
	CHECK_EQ_INT(rd.entry_count, 1);
	CHECK_EQ_INT(rd.entries[0].len, 5);
	CHECK(memcmp(rd.entries[0].data, "hello", 5) == 0);
	CHECK_EQ_INT(rd.committed_count, 0);
	/* A proposal while the Ready is outstanding goes in the next one. */
	CHECK_OK(raft_propose(r, "world", 5, &idx));
	CHECK_EQ_INT(idx, 3);
	CHECK_EQ_INT(rd.entry_count, 1);
	CHECK_EQ_INT(raft_commit_index(r), 1);
	raft_advance(r, &rd);
	CHECK_EQ_INT(raft_commit_index(r), 2);
	CHECK_OK(raft_ready(r, &rd));
	CHECK_EQ_INT(rd.entry_count, 1);
	CHECK_EQ_INT(rd.entries[0].index, 3);
	CHECK_EQ_INT(rd.committed_count, 1);
	CHECK_EQ_INT(rd.committed[0].index, 2);
	CHECK(memcmp(rd.committed[0].data, "hello", 5) == 0);
	raft_advance(r, &rd);
	CHECK_EQ_INT(drain(r, got, 8), 1);
	CHECK_EQ_STR(got[0], "world");
	CHECK_EQ_INT(raft_applied_index(r), 3);
	raft_free(r);
}

TEST(restart_redelivers_committed_entries)
{
	struct sim *s = sim_new(1, false, false);
	sim_tick(s, 1);
	CHECK_EQ_INT(sim_leader(s), 1);
	CHECK_OK(sim_propose(s, 1, "a"));
	CHECK_OK(sim_propose(s, 1, "b"));
	sim_settle(s);
	CHECK_EQ_INT(s->nodes[0].applied_count, 2);
	CHECK_EQ_INT(s->nodes[0].hs.commit, 3);

	/* Crash and restart from the durable state, having applied nothing. */
	struct sim_node *sn = &s->nodes[0];
	raft_free(sn->r);
	sn->applied_count = 0;
	sn->r = sim_start_node(s, 0, 0);
	CHECK(!raft_is_leader(sn->r));
	CHECK_EQ_INT(raft_term(sn->r), 1);
	sim_settle(s);
	CHECK_EQ_INT(sn->applied_count, 2);
	CHECK_EQ_STR(sn->applied_data[0], "a");
	CHECK_EQ_STR(sn->applied_data[1], "b");

	/* With applied_index 2 only the entries after it come back. */
	raft_free(sn->r);
	sn->applied_count = 0;
	sn->r = sim_start_node(s, 0, 2);
	sim_settle(s);
	CHECK_EQ_INT(sn->applied_count, 1);
	CHECK_EQ_STR(sn->applied_data[0], "b");

	/* It leads again in a higher term and keeps the old entries. */
	sim_tick(s, 1);
	CHECK_EQ_INT(sim_leader(s), 1);
	CHECK_EQ_INT(raft_term(sn->r), 2);
	CHECK_OK(sim_propose(s, 1, "c"));
	sim_settle(s);
	CHECK_EQ_INT(sn->applied_count, 2);
	CHECK_EQ_STR(sn->applied_data[1], "c");
	CHECK_EQ_INT(sn->disk_count, 5);
	sim_free(s);
}

TEST(propose_on_non_leader_fails)
{
	struct raft *r = single_new(NULL, NULL, 0, 0);
	CHECK_EQ_INT(raft_propose(r, "x", 1, NULL), RN_E_NOT_CONTROLLER);
	raft_tick(r);
	CHECK_EQ_INT(raft_propose(r, "x", 1, NULL), RN_E_NOT_CONTROLLER); /* candidate */
	char got[4][32];
	drain(r, got, 4);
	CHECK(raft_is_leader(r));
	static uint8_t big[RN_MAX_METADATA_RECORD_BYTES + 1];
	CHECK_EQ_INT(raft_propose(r, big, sizeof(big), NULL), RN_E_INVAL);
	CHECK_OK(raft_propose(r, big, sizeof(big) - 1, NULL));
	CHECK_OK(raft_propose(r, NULL, 0, NULL));
	raft_free(r);
}

TEST(new_rejects_bad_config_and_state)
{
	uint64_t voters[] = { 1, 2, 1 };
	struct raft_config cfg = { .id = 1, .voters = voters, .voter_count = 3,
				   .election_ticks = 10, .heartbeat_ticks = 1 };
	struct raft *r = NULL;
	CHECK_EQ_INT(raft_new(&cfg, NULL, NULL, 0, 0, &r), RN_E_INVAL); /* duplicate */
	cfg.voter_count = 2;
	cfg.election_ticks = 1;
	CHECK_EQ_INT(raft_new(&cfg, NULL, NULL, 0, 0, &r), RN_E_INVAL);
	cfg.election_ticks = 10;
	cfg.id = 0;
	CHECK_EQ_INT(raft_new(&cfg, NULL, NULL, 0, 0, &r), RN_E_INVAL);
	cfg.id = 1;
	struct raft_entry log[2] = { { .term = 1, .index = 1 }, { .term = 1, .index = 3 } };
	struct raft_hard_state hs = { .term = 1, .commit = 1 };
	CHECK_EQ_INT(raft_new(&cfg, &hs, log, 2, 0, &r), RN_E_CORRUPT_STATE); /* gap */
	log[1].index = 2;
	hs.commit = 3;
	CHECK_EQ_INT(raft_new(&cfg, &hs, log, 2, 0, &r), RN_E_CORRUPT_STATE); /* commit beyond */
	hs.commit = 2;
	hs.term = 0;
	CHECK_EQ_INT(raft_new(&cfg, &hs, log, 2, 0, &r), RN_E_CORRUPT_STATE); /* term above hs */
	hs.term = 1;
	CHECK_EQ_INT(raft_new(&cfg, &hs, log, 2, 3, &r), RN_E_CORRUPT_STATE); /* applied beyond */
	CHECK_OK(raft_new(&cfg, &hs, log, 2, 0, &r));
	raft_free(r);
}

TEST(step_rejects_malformed_messages)
{
	struct sim *s = sim_new(3, false, false);
	struct raft *r = s->nodes[0].r;
	struct raft_msg m = { .type = RAFT_MSG_APPEND, .from = 2, .to = 1, .term = 1 };
	struct raft_entry e = { .term = 1, .index = 5, .len = 0 };
	m.entries = &e;
	m.entry_count = 1;
	CHECK_EQ_INT(raft_step(r, &m), RN_E_INVAL); /* index does not follow m.index */
	e.index = 1;
	e.term = 2;
	CHECK_EQ_INT(raft_step(r, &m), RN_E_INVAL); /* entry term above message term */
	e.term = 1;
	m.to = 2;
	CHECK_EQ_INT(raft_step(r, &m), RN_E_INVAL); /* not for this node */
	m.to = 1;
	m.from = 9;
	CHECK_EQ_INT(raft_step(r, &m), RN_E_INVAL); /* not a voter */
	m.from = 2;
	m.type = (enum raft_msg_type)77;
	CHECK_EQ_INT(raft_step(r, &m), RN_E_INVAL);
	m.type = RAFT_MSG_VOTE;
	CHECK_EQ_INT(raft_step(r, &m), RN_E_INVAL); /* entries on a vote */
	e.len = RN_MAX_METADATA_RECORD_BYTES + 1;
	m.type = RAFT_MSG_APPEND;
	CHECK_EQ_INT(raft_step(r, &m), RN_E_INVAL);
	e.len = 0;
	CHECK_OK(raft_step(r, &m));
	CHECK_EQ_INT(raft_leader(r), 2);
	CHECK_EQ_INT(raft_last_index(r), 1);
	sim_free(s);
}

/* ---- three voters ----------------------------------------------------- */

TEST(three_nodes_elect_one_leader_and_replicate)
{
	struct sim *s = sim_new(3, false, false);
	sim_tick(s, 25);
	uint64_t leader = sim_leader(s);
	CHECK(leader != 0);
	for (uint32_t i = 0; i < 3; i++)
		CHECK_EQ_INT(raft_leader(s->nodes[i].r), leader);
	uint64_t other = leader % 3 + 1;
	CHECK_EQ_INT(sim_propose(s, other, "x"), RN_E_NOT_CONTROLLER);
	CHECK_OK(sim_propose(s, leader, "one"));
	CHECK_OK(sim_propose(s, leader, "two"));
	sim_settle(s);
	sim_tick(s, 2); /* heartbeats carry the commit index to followers */
	for (uint32_t i = 0; i < 3; i++) {
		CHECK_EQ_INT(s->nodes[i].applied_count, 2);
		CHECK_EQ_STR(s->nodes[i].applied_data[0], "one");
		CHECK_EQ_STR(s->nodes[i].applied_data[1], "two");
	}
	sim_free(s);
}

TEST(leader_needs_a_majority_to_commit)
{
	struct sim *s = sim_new(3, false, false);
	sim_tick(s, 25);
	uint64_t leader = sim_leader(s);
	CHECK(leader != 0);
	sim_isolate(s, leader, true);
	CHECK_OK(sim_propose(s, leader, "lost"));
	sim_tick(s, 3);
	CHECK_EQ_INT(s->nodes[leader - 1].applied_count, 0);
	sim_free(s);
}

TEST(new_leader_after_partition_overwrites_uncommitted_entries)
{
	struct sim *s = sim_new(3, false, false);
	sim_tick(s, 25);
	uint64_t old = sim_leader(s);
	CHECK(old != 0);
	CHECK_OK(sim_propose(s, old, "kept"));
	sim_tick(s, 2);
	sim_isolate(s, old, true);
	CHECK_OK(sim_propose(s, old, "lost"));
	sim_tick(s, 40);
	uint64_t fresh = 0;
	for (uint32_t i = 0; i < 3; i++)
		if (s->nodes[i].id != old && raft_is_leader(s->nodes[i].r))
			fresh = s->nodes[i].id;
	CHECK(fresh != 0);
	CHECK(raft_term(s->nodes[fresh - 1].r) > raft_term(s->nodes[old - 1].r));
	CHECK_OK(sim_propose(s, fresh, "new"));
	sim_tick(s, 2);
	sim_isolate(s, old, false);
	sim_tick(s, 5);
	CHECK_EQ_INT(sim_leader(s), fresh);
	for (uint32_t i = 0; i < 3; i++) {
		struct sim_node *sn = &s->nodes[i];
		CHECK_EQ_INT(sn->applied_count, 2);
		CHECK_EQ_STR(sn->applied_data[0], "kept");
		CHECK_EQ_STR(sn->applied_data[1], "new");
		/* The durable logs agree too: the old leader truncated "lost". */
		CHECK_EQ_INT(sn->disk_count, s->nodes[fresh - 1].disk_count);
	}
	sim_free(s);
}

TEST(follower_restart_catches_up)
{
	struct sim *s = sim_new(3, false, false);
	sim_tick(s, 25);
	uint64_t leader = sim_leader(s);
	uint64_t f = leader % 3 + 1;
	struct sim_node *sn = &s->nodes[f - 1];
	sn->down = true;
	for (int i = 0; i < 20; i++) {
		char buf[16];
		snprintf(buf, sizeof(buf), "e%d", i);
		CHECK_OK(sim_propose(s, leader, buf));
	}
	sim_tick(s, 2);
	CHECK_EQ_INT(s->nodes[leader - 1].applied_count, 20);
	raft_free(sn->r);
	sn->applied_count = 0;
	sn->r = sim_start_node(s, f - 1, 0);
	sn->down = false;
	sim_tick(s, 5);
	CHECK_EQ_INT(sim_leader(s), leader);
	CHECK_EQ_INT(sn->applied_count, 20);
	CHECK_EQ_STR(sn->applied_data[19], "e19");
	sim_free(s);
}

TEST(pre_vote_keeps_isolated_node_from_raising_term)
{
	struct sim *s = sim_new(3, true, true);
	sim_tick(s, 25);
	uint64_t leader = sim_leader(s);
	CHECK(leader != 0);
	uint64_t term = raft_term(s->nodes[leader - 1].r);
	uint64_t f = leader % 3 + 1;
	sim_isolate(s, f, true);
	sim_tick(s, 60);
	CHECK_EQ_INT(raft_term(s->nodes[f - 1].r), term);
	sim_isolate(s, f, false);
	sim_tick(s, 5);
	CHECK_EQ_INT(sim_leader(s), leader);
	CHECK_EQ_INT(raft_term(s->nodes[leader - 1].r), term);
	sim_free(s);
}

TEST(without_pre_vote_isolated_node_disrupts_on_return)
{
	struct sim *s = sim_new(3, false, false);
	sim_tick(s, 25);
	uint64_t leader = sim_leader(s);
	uint64_t term = raft_term(s->nodes[leader - 1].r);
	uint64_t f = leader % 3 + 1;
	sim_isolate(s, f, true);
	sim_tick(s, 60);
	CHECK(raft_term(s->nodes[f - 1].r) > term);
	sim_isolate(s, f, false);
	sim_tick(s, 40);
	CHECK(sim_leader(s) != 0);
	CHECK(raft_term(s->nodes[sim_leader(s) - 1].r) > term);
	sim_free(s);
}

TEST(check_quorum_makes_isolated_leader_step_down)
{
	struct sim *s = sim_new(3, true, true);
	sim_tick(s, 25);
	uint64_t leader = sim_leader(s);
	CHECK(leader != 0);
	sim_isolate(s, leader, true);
	sim_tick(s, 25);
	CHECK(!raft_is_leader(s->nodes[leader - 1].r));
	CHECK_EQ_INT(raft_propose(s->nodes[leader - 1].r, "x", 1, NULL), RN_E_NOT_CONTROLLER);
	sim_free(s);
}

TEST(five_nodes_survive_two_failures)
{
	struct sim *s = sim_new(5, true, true);
	sim_tick(s, 25);
	uint64_t leader = sim_leader(s);
	CHECK(leader != 0);
	s->nodes[leader - 1].down = true;
	s->nodes[leader % 5].down = true;
	sim_tick(s, 60);
	uint64_t fresh = sim_leader(s);
	CHECK(fresh != 0 && fresh != leader);
	CHECK_OK(sim_propose(s, fresh, "ok"));
	sim_tick(s, 2);
	uint32_t applied = 0;
	for (uint32_t i = 0; i < 5; i++)
		if (!s->nodes[i].down && s->nodes[i].applied_count == 1)
			applied++;
	CHECK_EQ_INT(applied, 3);
	sim_free(s);
}

/* Every committed entry must stay: the applied sequences of any two nodes
 * agree on their common prefix, and every entry a node ever applied is still
 * applied, at the same index, by every node that got as far. */
static bool sim_agree(struct sim *s)
{
	for (uint32_t i = 1; i < s->n; i++) {
		struct sim_node *a = &s->nodes[0], *b = &s->nodes[i];
		uint32_t n = a->applied_count < b->applied_count ? a->applied_count
								 : b->applied_count;
		for (uint32_t k = 0; k < n; k++)
			if (strcmp(a->applied_data[k], b->applied_data[k]) != 0 ||
			    a->applied_index[k] != b->applied_index[k])
				return false;
	}
	return true;
}

/* Seeds, partitions, crashes and options vary; a failure names the seed. */
static bool random_run(uint64_t seed)
{
	struct sim *s = sim_new(3, seed % 2 == 0, seed % 3 == 0);
	s->seed = seed;
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	int proposed = 0;
	bool ok = true;
	for (int step = 0; step < 300 && ok; step++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 23 == 0)
			sim_isolate(s, x % 3 + 1, true);
		if (x % 17 == 0)
			for (uint64_t id = 1; id <= 3; id++)
				sim_isolate(s, id, false);
		if (x % 41 == 0) {
			/* Crash a node and restart it from its disk, re-applying all. */
			struct sim_node *sn = &s->nodes[x % 3];
			raft_free(sn->r);
			sn->applied_count = 0;
			sn->r = sim_start_node(s, (uint32_t)(x % 3), 0);
		}
		uint64_t l = sim_leader(s);
		if (l && x % 3 == 0 && proposed < 1000) {
			char buf[16];
			snprintf(buf, sizeof(buf), "p%d", proposed++);
			sim_propose(s, l, buf);
		}
		sim_tick(s, 1);
		ok = sim_agree(s);
	}
	for (uint64_t id = 1; id <= 3; id++)
		sim_isolate(s, id, false);
	sim_tick(s, 60);
	ok = ok && sim_agree(s) && sim_leader(s) != 0;
	/* Once healed, everyone catches up to the same commit. */
	for (uint32_t i = 1; ok && i < 3; i++)
		ok = s->nodes[i].applied_count == s->nodes[0].applied_count;
	sim_free(s);
	return ok;
}

TEST(random_partitions_never_diverge)
{
	for (uint64_t seed = 1; seed <= 200; seed++) {
		if (!random_run(seed)) {
			fprintf(stderr, "  failed with seed %" PRIu64 "\n", seed);
			CHECK(0);
		}
	}
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
