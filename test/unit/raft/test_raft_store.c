/* test_raft_store.c: unit tests of the LMDB store of the Raft log and hard state. */
#include "common/errors.h"
#include "common/rn_assert.h"
#include "raft/raft.h"
#include "raft/raft_store.h"
#include "storage/kv.h"
#include "test/unit/harness.h"

static struct kv *open_kv(const char *dir)
{
	struct kv *kv = NULL;
	if (kv_open(dir, 0, &kv) != 0)
		return NULL;
	return kv;
}

TEST(empty_store_loads_nothing)
{
	struct kv *kv = open_kv(harness_tmpdir());
	CHECK(kv != NULL);
	struct raft_hard_state hs = { 9, 9, 9 };
	struct raft_entry *e = (struct raft_entry *)1;
	uint32_t n = 7;
	CHECK_OK(raft_store_load(kv, &hs, &e, &n));
	CHECK_EQ_INT(hs.term, 0);
	CHECK_EQ_INT(hs.vote, 0);
	CHECK_EQ_INT(hs.commit, 0);
	CHECK(e == NULL);
	CHECK_EQ_INT(n, 0);
	kv_close(kv);
}

TEST(save_truncate_and_reload_across_reopen)
{
	const char *dir = harness_tmpdir();
	struct kv *kv = open_kv(dir);
	CHECK(kv != NULL);
	struct raft_entry ents[3] = {
		{ .term = 1, .index = 1, .len = 0, .data = NULL },
		{ .term = 1, .index = 2, .len = 3, .data = (uint8_t *)"abc" },
		{ .term = 2, .index = 3, .len = 2, .data = (uint8_t *)"xy" },
	};
	struct raft_ready rd = { .hard_state_changed = true, .hs = { 2, 5, 2 },
				 .entries = ents, .entry_count = 3 };
	CHECK_OK(raft_store_save(kv, &rd));
	/* Replace entry 3 and append 4: the conflicting suffix goes first. */
	struct raft_entry more[2] = {
		{ .term = 3, .index = 3, .len = 1, .data = (uint8_t *)"z" },
		{ .term = 3, .index = 4, .len = 4, .data = (uint8_t *)"four" },
	};
	struct raft_ready rd2 = { .hard_state_changed = true, .hs = { 3, 0, 3 },
				  .truncate_from = 3, .entries = more, .entry_count = 2 };
	CHECK_OK(raft_store_save(kv, &rd2));
	/* A Ready without persistent changes writes nothing. */
	struct raft_ready rd3 = { 0 };
	CHECK_OK(raft_store_save(kv, &rd3));
	CHECK_OK(kv_sync(kv));
	kv_close(kv);

	kv = open_kv(dir);
	CHECK(kv != NULL);
	struct raft_hard_state hs;
	struct raft_entry *e;
	uint32_t n;
	CHECK_OK(raft_store_load(kv, &hs, &e, &n));
	CHECK_EQ_INT(hs.term, 3);
	CHECK_EQ_INT(hs.vote, 0);
	CHECK_EQ_INT(hs.commit, 3);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(e[0].len, 0);
	CHECK(e[0].data == NULL);
	CHECK_EQ_INT(e[1].term, 1);
	CHECK(e[1].len == 3 && memcmp(e[1].data, "abc", 3) == 0);
	CHECK_EQ_INT(e[2].term, 3);
	CHECK(e[2].len == 1 && e[2].data[0] == 'z');
	CHECK_EQ_INT(e[3].index, 4);
	CHECK(e[3].len == 4 && memcmp(e[3].data, "four", 4) == 0);
	raft_store_free_entries(e, n);

	/* Truncation alone removes the tail. */
	struct raft_ready rd4 = { .truncate_from = 2 };
	CHECK_OK(raft_store_save(kv, &rd4));
	CHECK_OK(raft_store_load(kv, &hs, &e, &n));
	CHECK_EQ_INT(n, 1);
	raft_store_free_entries(e, n);
	kv_close(kv);
}

TEST(load_refuses_corrupt_state)
{
	struct kv *kv = open_kv(harness_tmpdir());
	CHECK(kv != NULL);
	struct raft_hard_state hs;
	struct raft_entry *e;
	uint32_t n;
	/* A hole in the log. */
	uint8_t key[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };
	uint8_t val[8] = { 0 };
	CHECK_OK(kv_put(kv, KV_TABLE_RAFT_LOG, key, 8, val, 8));
	CHECK_EQ_INT(raft_store_load(kv, &hs, &e, &n), RN_E_CORRUPT_STATE);
	CHECK_OK(kv_del(kv, KV_TABLE_RAFT_LOG, key, 8));
	/* An entry value shorter than its term. */
	key[7] = 1;
	CHECK_OK(kv_put(kv, KV_TABLE_RAFT_LOG, key, 8, val, 4));
	CHECK_EQ_INT(raft_store_load(kv, &hs, &e, &n), RN_E_CORRUPT_STATE);
	CHECK_OK(kv_put(kv, KV_TABLE_RAFT_LOG, key, 8, val, 8));
	CHECK_OK(raft_store_load(kv, &hs, &e, &n));
	CHECK_EQ_INT(n, 1);
	raft_store_free_entries(e, n);
	/* A hard state of the wrong size. */
	CHECK_OK(kv_put(kv, KV_TABLE_RAFT_META, RAFT_STORE_HARD_STATE_KEY,
			strlen(RAFT_STORE_HARD_STATE_KEY), val, 8));
	CHECK_EQ_INT(raft_store_load(kv, &hs, &e, &n), RN_E_CORRUPT_STATE);
	kv_close(kv);
}

/* Drives a single-voter raft through the store the way the node does, then
 * restarts it from what the store holds. */
static void run_ready(struct raft *r, struct kv *kv, uint32_t *applied)
{
	while (raft_has_ready(r)) {
		struct raft_ready rd;
		RN_ASSERT(raft_ready(r, &rd) == 0);
		RN_ASSERT(raft_store_save(kv, &rd) == 0);
		RN_ASSERT(kv_sync(kv) == 0);
		for (uint32_t i = 0; i < rd.committed_count; i++)
			if (rd.committed[i].len)
				(*applied)++;
		raft_advance(r, &rd);
	}
}

TEST(raft_restarts_from_store)
{
	const char *dir = harness_tmpdir();
	static const uint64_t voters[] = { 1 };
	struct raft_config cfg = { .id = 1, .voters = voters, .voter_count = 1,
				   .election_ticks = 10, .heartbeat_ticks = 1, .seed = 3 };
	struct kv *kv = open_kv(dir);
	CHECK(kv != NULL);
	struct raft *r;
	CHECK_OK(raft_new(&cfg, NULL, NULL, 0, 0, &r));
	uint32_t applied = 0;
	raft_tick(r);
	run_ready(r, kv, &applied);
	CHECK(raft_is_leader(r));
	CHECK_OK(raft_propose(r, "one", 3, NULL));
	CHECK_OK(raft_propose(r, "two", 3, NULL));
	run_ready(r, kv, &applied);
	CHECK_EQ_INT(applied, 2);
	raft_free(r);
	kv_close(kv);

	kv = open_kv(dir);
	CHECK(kv != NULL);
	struct raft_hard_state hs;
	struct raft_entry *e;
	uint32_t n;
	CHECK_OK(raft_store_load(kv, &hs, &e, &n));
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(hs.commit, 3);
	CHECK_OK(raft_new(&cfg, &hs, e, n, 0, &r));
	raft_store_free_entries(e, n);
	applied = 0;
	run_ready(r, kv, &applied);
	CHECK_EQ_INT(applied, 2);
	raft_tick(r);
	run_ready(r, kv, &applied);
	CHECK(raft_is_leader(r));
	CHECK_EQ_INT(raft_term(r), 2);
	raft_free(r);
	kv_close(kv);
}

static int save_entries(struct kv *kv, uint64_t first, uint32_t n, uint64_t term)
{
	struct raft_entry e[16];
	RN_ASSERT(n <= 16);
	for (uint32_t i = 0; i < n; i++)
		e[i] = (struct raft_entry){ .term = term, .index = first + i, .len = 1,
					    .data = (uint8_t *)"e" };
	struct raft_ready rd = { .hard_state_changed = true,
				 .hs = { .term = term, .commit = first + n - 1 },
				 .entries = e, .entry_count = n };
	return raft_store_save(kv, &rd);
}

TEST(compaction_persists_snapshot_and_drops_covered_entries)
{
	const char *dir = harness_tmpdir();
	struct kv *kv = open_kv(dir);
	CHECK(kv != NULL);
	CHECK_OK(save_entries(kv, 1, 5, 2));
	struct raft_snapshot snap = { .index = 3, .term = 2, .len = 4, .data = (uint8_t *)"snap" };
	struct raft_ready rd = { .snapshot = &snap, .compact_to = 3 };
	CHECK_OK(raft_store_save(kv, &rd));
	CHECK_OK(kv_sync(kv));
	kv_close(kv);

	kv = open_kv(dir);
	CHECK(kv != NULL);
	struct raft_store_state st;
	CHECK_OK(raft_store_load_all(kv, &st));
	CHECK_EQ_INT(st.hs.term, 2);
	CHECK_EQ_INT(st.hs.commit, 5);
	CHECK_EQ_INT(st.snapshot.index, 3);
	CHECK_EQ_INT(st.snapshot.term, 2);
	CHECK_EQ_INT(st.snapshot.len, 4);
	CHECK(memcmp(st.snapshot.data, "snap", 4) == 0);
	CHECK_EQ_INT(st.count, 2);
	CHECK_EQ_INT(st.entries[0].index, 4);
	CHECK_EQ_INT(st.entries[1].index, 5);
	/* The old loader cannot return the snapshot and says so. */
	struct raft_hard_state hs;
	struct raft_entry *e = NULL;
	uint32_t n = 0;
	CHECK_EQ_INT(raft_store_load(kv, &hs, &e, &n), RN_E_CORRUPT_STATE);
	/* What was loaded restores a node. */
	uint64_t voters[] = { 1 };
	struct raft_config cfg = { .id = 1, .voters = voters, .voter_count = 1,
				   .election_ticks = 10, .heartbeat_ticks = 2 };
	struct raft_restore rs = { .hs = &st.hs, .snapshot = &st.snapshot, .log = st.entries,
				   .log_count = st.count, .applied_index = 3 };
	struct raft *r = NULL;
	CHECK_OK(raft_new_from(&cfg, &rs, &r));
	CHECK_EQ_INT(raft_snapshot_index(r), 3);
	CHECK_EQ_INT(raft_last_index(r), 5);
	CHECK_EQ_INT(raft_commit_index(r), 5);
	raft_free(r);
	raft_store_state_free(&st);
	CHECK(st.snapshot.data == NULL && st.entries == NULL);
	kv_close(kv);
}

TEST(installed_snapshot_replaces_the_whole_log)
{
	struct kv *kv = open_kv(harness_tmpdir());
	CHECK(kv != NULL);
	CHECK_OK(save_entries(kv, 1, 5, 1));
	struct raft_snapshot snap = { .index = 10, .term = 3, .len = 2, .data = (uint8_t *)"ok" };
	struct raft_ready rd = { .snapshot = &snap, .snapshot_install = true, .compact_to = 10,
				 .truncate_from = 11, .hard_state_changed = true,
				 .hs = { .term = 3, .commit = 10 } };
	CHECK_OK(raft_store_save(kv, &rd));
	struct raft_store_state st;
	CHECK_OK(raft_store_load_all(kv, &st));
	CHECK_EQ_INT(st.snapshot.index, 10);
	CHECK_EQ_INT(st.count, 0);
	CHECK_EQ_INT(st.hs.commit, 10);
	raft_store_state_free(&st);
	/* The log goes on right after the snapshot. */
	CHECK_OK(save_entries(kv, 11, 2, 3));
	CHECK_OK(raft_store_load_all(kv, &st));
	CHECK_EQ_INT(st.count, 2);
	CHECK_EQ_INT(st.entries[0].index, 11);
	raft_store_state_free(&st);
	kv_close(kv);
}

TEST(store_without_snapshot_loads_with_both_loaders)
{
	struct kv *kv = open_kv(harness_tmpdir());
	CHECK(kv != NULL);
	CHECK_OK(save_entries(kv, 1, 3, 1));
	struct raft_store_state st;
	CHECK_OK(raft_store_load_all(kv, &st));
	CHECK_EQ_INT(st.snapshot.index, 0);
	CHECK(st.snapshot.data == NULL);
	CHECK_EQ_INT(st.count, 3);
	raft_store_state_free(&st);
	kv_close(kv);
}

TEST(corrupt_snapshot_or_gap_after_it_is_refused)
{
	struct kv *kv = open_kv(harness_tmpdir());
	CHECK(kv != NULL);
	CHECK_OK(kv_put(kv, KV_TABLE_RAFT_META, RAFT_STORE_SNAPSHOT_KEY,
			strlen(RAFT_STORE_SNAPSHOT_KEY), "short", 5));
	struct raft_store_state st;
	CHECK_EQ_INT(raft_store_load_all(kv, &st), RN_E_CORRUPT_STATE);
	/* A snapshot at 3 with the log resuming at 5: entry 4 is missing. */
	struct raft_snapshot snap = { .index = 3, .term = 1 };
	struct raft_ready rd = { .snapshot = &snap };
	CHECK_OK(raft_store_save(kv, &rd));
	CHECK_OK(save_entries(kv, 5, 1, 1));
	CHECK_EQ_INT(raft_store_load_all(kv, &st), RN_E_CORRUPT_STATE);
	kv_close(kv);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
