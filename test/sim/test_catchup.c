/* test_catchup.c: a follower with a long divergent log catches up in a few round trips. */
#include <stdbool.h>
#include <string.h>

#include "common/log.h"
#include "raft/raft.h"
#include "test/unit/harness.h"

/* Entries of the divergent suffix; without the term hint in rejections the
 * leader would need one round trip for each of them. */
#define DIVERGENT_ENTRIES 200u
#define MAX_ROUNDS 1000u

static const uint64_t voters[] = { 1, 2, 3 };

/* A log of one entry of term 1 followed by DIVERGENT_ENTRIES of `term`. */
static void node_new(uint64_t id, uint64_t term, struct raft **out)
{
	static struct raft_entry log[DIVERGENT_ENTRIES + 1];
	for (uint32_t i = 0; i <= DIVERGENT_ENTRIES; i++)
		log[i] = (struct raft_entry){ .term = i == 0 ? 1 : term, .index = i + 1 };
	struct raft_hard_state hs = { .term = term, .commit = 1 };
	struct raft_config cfg = { .id = id, .voters = voters, .voter_count = 3,
				   .election_ticks = 10, .heartbeat_ticks = 1, .seed = id };
	CHECK(raft_new(&cfg, &hs, log, DIVERGENT_ENTRIES + 1, 0, out) == 0);
}

/* One turn of both live nodes' shells: each Ready's messages are delivered
 * straight to their receiver (node 2 is down, so its messages are lost) and
 * the Ready is advanced; storage is not needed for this test.  Counts the
 * APPEND rejections the follower sends. */
static void exchange(struct raft **nodes, uint32_t *rejects)
{
	for (uint64_t id = 1; id <= 3; id += 2) {
		if (!raft_has_ready(nodes[id]))
			continue;
		struct raft_ready rd;
		CHECK(raft_ready(nodes[id], &rd) == 0);
		for (uint32_t k = 0; k < rd.msg_count; k++) {
			const struct raft_msg *m = &rd.msgs[k];
			if (m->to == 2)
				continue;
			if (m->type == RAFT_MSG_APPEND_RESP && m->reject)
				(*rejects)++;
			CHECK(raft_step(nodes[m->to], m) == 0);
		}
		raft_advance(nodes[id], &rd);
	}
}

TEST(divergent_follower_catches_up_in_few_round_trips)
{
	struct raft *nodes[4] = { NULL };
	node_new(1, 3, &nodes[1]);
	node_new(3, 2, &nodes[3]);
	CHECK(nodes[1] && nodes[3]);
	uint32_t rejects = 0;
	/* Node 1 has the newer log (term 3) and wins node 3's vote. */
	for (uint32_t i = 0; i < MAX_ROUNDS && !raft_is_leader(nodes[1]); i++) {
		raft_tick(nodes[1]);
		exchange(nodes, &rejects);
	}
	CHECK(raft_is_leader(nodes[1]));

	/* Replicate until node 3 commits the leader's whole log, with a
	 * heartbeat tick now and then. */
	uint64_t target = raft_last_index(nodes[1]);
	rejects = 0;
	for (uint32_t round = 1; round <= MAX_ROUNDS && raft_commit_index(nodes[3]) < target;
	     round++) {
		if (round % 5 == 0)
			raft_tick(nodes[1]);
		exchange(nodes, &rejects);
	}
	CHECK(raft_commit_index(nodes[3]) == target);
	CHECK(raft_last_index(nodes[3]) == target);
	/* One rejection skips the whole term-2 suffix; a heartbeat racing it
	 * may add another.  One per divergent entry would be 200. */
	CHECK(rejects <= 3);
	raft_free(nodes[1]);
	raft_free(nodes[3]);
}

int main(int argc, char **argv)
{
	rn_log_set_level(RN_LOG_ERROR);
	return harness_run(argc, argv);
}
