/* test_group.c: the group coordinator state machine (broker/group.h). */
#include "broker/group.h"
#include "common/errors.h"
#include "common/rn_assert.h"
#include "test/unit/harness.h"
#include "wire/group_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define H(n) ((void *)(uintptr_t)(n))
#define SESSION_MS 10000
#define REBALANCE_MS 20000

/* ------------------------------------------------------------ fixture */

static struct group_coordinator *coord_new(int32_t delay_ms)
{
	struct group_config cfg;
	group_config_default(&cfg);
	cfg.min_session_timeout_ms = 1000;
	cfg.initial_rebalance_delay_ms = delay_ms;
	struct group_coordinator *gc = NULL;
	if (group_coordinator_create(&cfg, &gc) != 0)
		return NULL;
	group_load_complete(gc, 0);
	return gc;
}

/* Distinct random bytes per call, as the shell's generator would give. */
static const uint8_t *random_bytes(void)
{
	static uint8_t b[GROUP_MEMBER_ID_RANDOM_BYTES];
	static uint32_t counter;
	counter++;
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(counter * 31u + i * 7u);
	return b;
}

static const struct group_protocol RANGE[] = {{"range", (const uint8_t *)"sub", 3}};

/* A join with the given protocols. */
static int join_p(struct group_coordinator *gc, struct group_out *out, const char *group,
		  const char *member, const char *client, const struct group_protocol *protos,
		  uint32_t nprotos, uintptr_t handle, int64_t now)
{
	struct group_join_request req = {
		.group_id = group,
		.member_id = member,
		.client_id = client,
		.client_host = "/127.0.0.1",
		.protocol_type = "consumer",
		.session_timeout_ms = SESSION_MS,
		.rebalance_timeout_ms = REBALANCE_MS,
		.protocols = protos,
		.protocol_count = nprotos,
		.random = random_bytes(),
		.handle = H(handle),
	};
	return group_join(gc, &req, now, out);
}

static int join(struct group_coordinator *gc, struct group_out *out, const char *group,
		const char *member, uintptr_t handle, int64_t now)
{
	return join_p(gc, out, group, member, "cli", RANGE, 1, handle, now);
}

static const struct group_join_reply *join_reply(const struct group_out *out, uintptr_t h)
{
	for (uint32_t i = 0; i < out->join_count; i++)
		if (out->joins[i].handle == H(h))
			return &out->joins[i];
	return NULL;
}

/* Copies the member id of the join reply for handle h into dst. */
static bool take_id(char *dst, const struct group_out *out, uintptr_t h)
{
	const struct group_join_reply *r = join_reply(out, h);
	if (!r || r->error)
		return false;
	memcpy(dst, r->member_id, sizeof(r->member_id));
	return true;
}

static const struct group_sync_reply *sync_reply(const struct group_out *out, uintptr_t h)
{
	for (uint32_t i = 0; i < out->sync_count; i++)
		if (out->syncs[i].handle == H(h))
			return &out->syncs[i];
	return NULL;
}

static const struct group_commit_reply *commit_reply(const struct group_out *out, uintptr_t h)
{
	for (uint32_t i = 0; i < out->commit_count; i++)
		if (out->commits[i].handle == H(h))
			return &out->commits[i];
	return NULL;
}

static int sync_call(struct group_coordinator *gc, struct group_out *out, const char *group,
		     const char *member, int32_t gen, const struct group_assignment *as,
		     uint32_t n, uintptr_t handle, int64_t now)
{
	struct group_sync_request req = {
		.group_id = group,
		.generation_id = gen,
		.member_id = member,
		.protocol_type = "consumer",
		.assignments = as,
		.assignment_count = n,
		.handle = H(handle),
	};
	return group_sync(gc, &req, now, out);
}

static int commit(struct group_coordinator *gc, struct group_out *out, const char *group,
		  const char *member, int32_t gen, const char *topic, int32_t partition,
		  int64_t offset, uintptr_t handle, int64_t now)
{
	struct group_offset_commit o = {topic, partition, offset, 3, "md"};
	struct group_commit_request req = {
		.group_id = group,
		.generation_id = gen,
		.member_id = member,
		.offsets = &o,
		.offset_count = 1,
		.handle = H(handle),
	};
	return group_commit_offsets(gc, &req, now, out);
}

static int64_t fetched(struct group_coordinator *gc, const char *group, const char *topic,
		       int32_t partition)
{
	struct group_topic_partition tp = {topic, partition};
	struct group_offset_list l;
	if (group_fetch_offsets(gc, group, &tp, 1, &l) != 0 || l.count != 1)
		return -100;
	int64_t off = l.entries[0].offset;
	group_offset_list_free(&l);
	return off;
}

static enum group_state state_of(struct group_coordinator *gc, const char *group)
{
	struct group_description d;
	if (group_describe(gc, group, &d) != 0)
		return GROUP_STATE_DEAD;
	enum group_state s = d.state;
	group_description_free(&d);
	return s;
}

/* Brings a one-member group to Stable; member id into id. */
static int stable_one(struct group_coordinator *gc, const char *group, char *id, int64_t now)
{
	struct group_out out;
	group_out_init(&out);
	int rc = join(gc, &out, group, "", 1, now);
	const struct group_join_reply *jr = join_reply(&out, 1);
	if (rc || !jr || jr->error)
		return -1;
	strcpy(id, jr->member_id);
	int32_t gen = jr->generation_id;
	group_out_clear(&out);
	struct group_assignment a = {id, (const uint8_t *)"all", 3};
	if (sync_call(gc, &out, group, id, gen, &a, 1, 2, now) != 0)
		return -1;
	uint64_t ap = out.append_id;
	group_out_clear(&out);
	group_append_done(gc, ap, 0, now, &out);
	rc = sync_reply(&out, 2) && sync_reply(&out, 2)->error == 0 ? gen : -1;
	group_out_clear(&out);
	return rc;
}

/* ------------------------------------------------------------ basics */

TEST(config_checked)
{
	struct group_config cfg;
	group_config_default(&cfg);
	CHECK_EQ_INT(cfg.initial_rebalance_delay_ms, 3000);
	CHECK_EQ_INT(cfg.min_session_timeout_ms, 6000);
	struct group_coordinator *gc = NULL;
	cfg.max_session_timeout_ms = 10;
	CHECK_EQ_INT(group_coordinator_create(&cfg, &gc), RN_E_INVAL);
	CHECK(gc == NULL);
	group_config_default(&cfg);
	cfg.max_group_size = 0;
	CHECK_EQ_INT(group_coordinator_create(&cfg, &gc), RN_E_INVAL);
	CHECK_EQ_STR(group_state_name(GROUP_STATE_COMPLETING_REBALANCE), "CompletingRebalance");
}

TEST(loading_refuses_requests)
{
	struct group_config cfg;
	group_config_default(&cfg);
	struct group_coordinator *gc;
	CHECK_OK(group_coordinator_create(&cfg, &gc));
	CHECK(group_is_loading(gc));
	struct group_out out;
	group_out_init(&out);
	CHECK_EQ_INT(join(gc, &out, "g", "", 1, 0), RN_E_COORDINATOR_LOAD_IN_PROGRESS);
	CHECK_EQ_INT(group_heartbeat(gc, "g", "m", 1, 0), RN_E_COORDINATOR_LOAD_IN_PROGRESS);
	struct group_listing *l;
	uint32_t n;
	CHECK_EQ_INT(group_list(gc, &l, &n), RN_E_COORDINATOR_LOAD_IN_PROGRESS);
	group_load_complete(gc, 0);
	CHECK(!group_is_loading(gc));
	CHECK_OK(group_list(gc, &l, &n));
	CHECK_EQ_INT(n, 0);
	group_coordinator_destroy(gc);
}

TEST(join_validation)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	CHECK_EQ_INT(join(gc, &out, "", "", 1, 0), RN_E_INVALID_GROUP_ID);
	char long_id[GROUP_MAX_ID_LEN + 2];
	memset(long_id, 'g', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	CHECK_EQ_INT(join(gc, &out, long_id, "", 1, 0), RN_E_INVALID_GROUP_ID);
	CHECK_EQ_INT(join(gc, &out, "g", "nobody", 1, 0), RN_E_UNKNOWN_MEMBER_ID);
	CHECK_EQ_INT(join_p(gc, &out, "g", "", "c", RANGE, 0, 1, 0),
		     RN_E_INCONSISTENT_GROUP_PROTOCOL);
	struct group_join_request req = {
		.group_id = "g", .protocol_type = "consumer", .session_timeout_ms = 500,
		.protocols = RANGE, .protocol_count = 1, .random = random_bytes(),
	};
	CHECK_EQ_INT(group_join(gc, &req, 0, &out), RN_E_INVALID_SESSION_TIMEOUT);
	req.session_timeout_ms = GROUP_DEFAULT_MAX_SESSION_TIMEOUT_MS + 1;
	CHECK_EQ_INT(group_join(gc, &req, 0, &out), RN_E_INVALID_SESSION_TIMEOUT);
	/* Nothing was answered or created by refused joins. */
	CHECK_EQ_INT(out.join_count, 0);
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_DEAD);
	group_coordinator_destroy(gc);
}

TEST(single_member_reaches_stable)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(join(gc, &out, "g", "", 1, 100));
	const struct group_join_reply *jr = join_reply(&out, 1);
	CHECK(jr != NULL);
	CHECK_EQ_INT(jr->error, 0);
	CHECK_EQ_INT(jr->generation_id, 1);
	CHECK_EQ_STR(jr->protocol_name, "range");
	CHECK_EQ_STR(jr->leader, jr->member_id);
	CHECK(strncmp(jr->member_id, "cli-", 4) == 0);
	CHECK_EQ_INT(strlen(jr->member_id), 4 + 36);
	CHECK_EQ_INT(jr->member_count, 1);
	CHECK_EQ_INT(jr->members[0].metadata_len, 3);
	char id[GROUP_MAX_MEMBER_ID_LEN + 1];
	strcpy(id, jr->member_id);
	group_out_clear(&out);
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_COMPLETING_REBALANCE);

	struct group_assignment a = {id, (const uint8_t *)"p0p1", 4};
	CHECK_OK(sync_call(gc, &out, "g", id, 1, &a, 1, 2, 100));
	/* The sync waits for the group record to be replicated. */
	CHECK_EQ_INT(out.sync_count, 0);
	CHECK_EQ_INT(out.record_count, 1);
	CHECK(out.append_id != 0);
	const struct group_record *r = &out.records[0];
	CHECK_EQ_INT(r->type, GROUP_RECORD_GROUP);
	CHECK_EQ_INT(r->generation_id, 1);
	CHECK_EQ_INT(r->member_count, 1);
	CHECK_EQ_INT(r->members[0].assignment_len, 4);
	CHECK_EQ_STR(r->leader, id);
	uint64_t ap = out.append_id;
	group_out_clear(&out);

	group_append_done(gc, ap, 0, 150, &out);
	const struct group_sync_reply *sr = sync_reply(&out, 2);
	CHECK(sr != NULL);
	CHECK_EQ_INT(sr->error, 0);
	CHECK_EQ_INT(sr->assignment_len, 4);
	CHECK(memcmp(sr->assignment, "p0p1", 4) == 0);
	group_out_clear(&out);
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_STABLE);
	CHECK_OK(group_heartbeat(gc, "g", id, 1, 200));
	/* A second sync in Stable is answered at once. */
	CHECK_OK(sync_call(gc, &out, "g", id, 1, NULL, 0, 3, 200));
	CHECK(sync_reply(&out, 3) && sync_reply(&out, 3)->assignment_len == 4);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(initial_delay_gathers_members)
{
	struct group_coordinator *gc = coord_new(3000);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(join(gc, &out, "g", "", 1, 0));
	CHECK_OK(join(gc, &out, "g", "", 2, 100));
	CHECK_EQ_INT(out.join_count, 0);
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_PREPARING_REBALANCE);
	group_tick(gc, 2999, &out);
	CHECK_EQ_INT(out.join_count, 0);
	/* A member arrived during the delay: the delay is extended once more. */
	group_tick(gc, 3000, &out);
	CHECK_EQ_INT(out.join_count, 0);
	group_tick(gc, 5999, &out);
	CHECK_EQ_INT(out.join_count, 0);
	group_tick(gc, 6000, &out);
	CHECK_EQ_INT(out.join_count, 2);
	const struct group_join_reply *a = join_reply(&out, 1), *b = join_reply(&out, 2);
	CHECK(a && b);
	CHECK_EQ_INT(a->generation_id, 1);
	CHECK_EQ_INT(b->generation_id, 1);
	CHECK_EQ_STR(a->leader, b->leader);
	CHECK(strcmp(a->member_id, b->member_id) != 0);
	/* Only the leader learns the members. */
	const struct group_join_reply *leader = strcmp(a->leader, a->member_id) == 0 ? a : b;
	const struct group_join_reply *follower = leader == a ? b : a;
	CHECK_EQ_INT(leader->member_count, 2);
	CHECK_EQ_INT(follower->member_count, 0);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(initial_delay_without_newcomers_completes_once)
{
	struct group_coordinator *gc = coord_new(3000);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(join(gc, &out, "g", "", 1, 0));
	group_tick(gc, 3000, &out);
	CHECK(join_reply(&out, 1) && join_reply(&out, 1)->generation_id == 1);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(new_member_triggers_rebalance)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_OK(join(gc, &out, "g", "", 10, 100));
	CHECK_EQ_INT(out.join_count, 0);
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_PREPARING_REBALANCE);
	CHECK_EQ_INT(group_heartbeat(gc, "g", a, 1, 200), RN_E_REBALANCE_IN_PROGRESS);
	/* Commits are still accepted so that a is able to commit before giving
	 * partitions away. */
	CHECK_OK(commit(gc, &out, "g", a, 1, "t", 0, 5, 11, 200));
	CHECK_EQ_INT(out.record_count, 1);
	group_out_clear(&out);
	CHECK_OK(join(gc, &out, "g", a, 12, 300));
	CHECK_EQ_INT(out.join_count, 2);
	CHECK_EQ_INT(join_reply(&out, 10)->generation_id, 2);
	CHECK_EQ_INT(join_reply(&out, 12)->generation_id, 2);
	/* The old leader stays leader. */
	CHECK_EQ_STR(join_reply(&out, 12)->leader, a);
	CHECK_EQ_INT(join_reply(&out, 12)->member_count, 2);
	group_out_clear(&out);
	/* The old generation is fenced. */
	CHECK_EQ_INT(group_heartbeat(gc, "g", a, 1, 400), RN_E_ILLEGAL_GENERATION);
	CHECK_EQ_INT(commit(gc, &out, "g", a, 1, "t", 0, 6, 13, 400), RN_E_ILLEGAL_GENERATION);
	/* CompletingRebalance refuses commits from the new generation. */
	CHECK_EQ_INT(commit(gc, &out, "g", a, 2, "t", 0, 6, 14, 400), RN_E_REBALANCE_IN_PROGRESS);
	group_coordinator_destroy(gc);
}

TEST(follower_sync_waits_for_leader)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1], b[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_OK(join(gc, &out, "g", "", 10, 0));
	CHECK_OK(join(gc, &out, "g", a, 11, 0));
	CHECK(take_id(b, &out, 10));
	group_out_clear(&out);
	CHECK_OK(sync_call(gc, &out, "g", b, 2, NULL, 0, 20, 10));
	CHECK_EQ_INT(out.sync_count, 0);
	CHECK_EQ_INT(out.record_count, 0);
	group_out_clear(&out);
	struct group_assignment as[] = {{a, (const uint8_t *)"A", 1}, {b, (const uint8_t *)"BB", 2}};
	CHECK_OK(sync_call(gc, &out, "g", a, 2, as, 2, 21, 10));
	uint64_t ap = out.append_id;
	CHECK_EQ_INT(out.sync_count, 0);
	group_out_clear(&out);
	group_append_done(gc, ap, 0, 20, &out);
	CHECK_EQ_INT(out.sync_count, 2);
	CHECK_EQ_INT(sync_reply(&out, 20)->assignment_len, 2);
	CHECK(memcmp(sync_reply(&out, 20)->assignment, "BB", 2) == 0);
	CHECK_EQ_INT(sync_reply(&out, 21)->assignment_len, 1);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(sync_errors)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_EQ_INT(sync_call(gc, &out, "g", a, 7, NULL, 0, 1, 0), RN_E_ILLEGAL_GENERATION);
	CHECK_EQ_INT(sync_call(gc, &out, "g", "x", 1, NULL, 0, 1, 0), RN_E_UNKNOWN_MEMBER_ID);
	CHECK_EQ_INT(sync_call(gc, &out, "nog", a, 1, NULL, 0, 1, 0), RN_E_UNKNOWN_MEMBER_ID);
	CHECK_OK(join(gc, &out, "g", "", 2, 0));
	group_out_clear(&out);
	CHECK_EQ_INT(sync_call(gc, &out, "g", a, 1, NULL, 0, 1, 0), RN_E_REBALANCE_IN_PROGRESS);
	CHECK_EQ_INT(out.sync_count, 0);
	group_coordinator_destroy(gc);
}

TEST(failed_assignment_append_rebalances)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(join(gc, &out, "g", "", 1, 0));
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK(take_id(a, &out, 1));
	group_out_clear(&out);
	CHECK_OK(sync_call(gc, &out, "g", a, 1, NULL, 0, 2, 0));
	uint64_t ap = out.append_id;
	group_out_clear(&out);
	group_append_done(gc, ap, RN_E_NOT_ENOUGH_REPLICAS, 10, &out);
	CHECK(sync_reply(&out, 2) != NULL);
	CHECK_EQ_INT(sync_reply(&out, 2)->error, RN_E_COORDINATOR_NOT_AVAILABLE);
	group_out_clear(&out);
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_PREPARING_REBALANCE);
	/* The member rejoins and the group moves on to generation 2. */
	CHECK_OK(join(gc, &out, "g", a, 3, 20));
	CHECK_EQ_INT(join_reply(&out, 3)->generation_id, 2);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(session_timeout_removes_member)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1], b[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_OK(join(gc, &out, "g", "", 10, 0));
	CHECK_OK(join(gc, &out, "g", a, 11, 0));
	CHECK(take_id(b, &out, 10));
	group_out_clear(&out);
	CHECK_OK(sync_call(gc, &out, "g", b, 2, NULL, 0, 20, 0));
	group_out_clear(&out);
	/* a (the leader) never syncs and goes silent; b waits in sync. */
	group_tick(gc, SESSION_MS - 1, &out);
	CHECK_EQ_INT(out.sync_count, 0);
	group_tick(gc, SESSION_MS, &out);
	/* a is gone: b's parked sync is told to rejoin. */
	CHECK(sync_reply(&out, 20) != NULL);
	CHECK_EQ_INT(sync_reply(&out, 20)->error, RN_E_REBALANCE_IN_PROGRESS);
	group_out_clear(&out);
	CHECK_EQ_INT(group_heartbeat(gc, "g", a, 2, SESSION_MS), RN_E_UNKNOWN_MEMBER_ID);
	CHECK_OK(join(gc, &out, "g", b, 21, SESSION_MS + 1));
	const struct group_join_reply *jr = join_reply(&out, 21);
	CHECK(jr != NULL);
	CHECK_EQ_INT(jr->generation_id, 3);
	CHECK_EQ_STR(jr->leader, b);
	CHECK_EQ_INT(jr->member_count, 1);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(heartbeats_keep_member_alive)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	for (int64_t t = 1000; t <= 5 * SESSION_MS; t += 1000) {
		CHECK_OK(group_heartbeat(gc, "g", a, 1, t));
		group_tick(gc, t + 500, &out);
		CHECK_EQ_INT(out.record_count + out.join_count, 0);
	}
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_STABLE);
	group_tick(gc, 6 * SESSION_MS + 1, &out);
	/* The last member expired: the group is Empty and says so in the log. */
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_EMPTY);
	CHECK_EQ_INT(out.record_count, 1);
	CHECK_EQ_INT(out.records[0].member_count, 0);
	CHECK_EQ_INT(out.records[0].generation_id, 2);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(rebalance_timeout_removes_laggards)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_OK(join(gc, &out, "g", "", 10, 0));
	group_out_clear(&out);
	/* a keeps heartbeating but never rejoins. */
	for (int64_t t = 1000; t < REBALANCE_MS; t += 1000) {
		CHECK_EQ_INT(group_heartbeat(gc, "g", a, 1, t), RN_E_REBALANCE_IN_PROGRESS);
		group_tick(gc, t, &out);
		CHECK_EQ_INT(out.join_count, 0);
	}
	group_tick(gc, REBALANCE_MS, &out);
	const struct group_join_reply *jr = join_reply(&out, 10);
	CHECK(jr != NULL);
	CHECK_EQ_INT(jr->generation_id, 2);
	CHECK_EQ_INT(jr->member_count, 1);
	CHECK_EQ_STR(jr->leader, jr->member_id);
	group_out_clear(&out);
	CHECK_EQ_INT(group_heartbeat(gc, "g", a, 1, REBALANCE_MS), RN_E_UNKNOWN_MEMBER_ID);
	group_coordinator_destroy(gc);
}

TEST(leave_rebalances_or_empties)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	const char *ids[] = {"ghost"};
	CHECK_EQ_INT(group_leave(gc, "g", ids, 1, 0, &out), RN_E_UNKNOWN_MEMBER_ID);
	CHECK_EQ_INT(group_leave(gc, "other", ids, 1, 0, &out), RN_E_UNKNOWN_MEMBER_ID);
	const char *mine[] = {a};
	CHECK_OK(group_leave(gc, "g", mine, 1, 5, &out));
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_EMPTY);
	CHECK_EQ_INT(out.record_count, 1);
	CHECK_EQ_INT(out.records[0].type, GROUP_RECORD_GROUP);
	CHECK_EQ_INT(out.records[0].member_count, 0);
	group_out_clear(&out);
	CHECK_EQ_INT(group_heartbeat(gc, "g", a, 1, 10), RN_E_UNKNOWN_MEMBER_ID);
	group_coordinator_destroy(gc);
}

TEST(leave_of_parked_member_answers_its_join)
{
	struct group_coordinator *gc = coord_new(3000);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(join(gc, &out, "g", "", 1, 0));
	CHECK_OK(join(gc, &out, "g", "", 2, 0));
	group_tick(gc, 3000, &out);
	group_tick(gc, 6000, &out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1], b[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK(take_id(a, &out, 1));
	CHECK(take_id(b, &out, 2));
	group_out_clear(&out);
	/* a rejoins with new protocols and waits; b leaves. */
	static const struct group_protocol rr[] = {{"roundrobin", NULL, 0}, {"range", NULL, 0}};
	CHECK_OK(join_p(gc, &out, "g", a, "cli", rr, 2, 3, 100));
	CHECK_EQ_INT(out.join_count, 0);
	const char *leaving[] = {b};
	CHECK_OK(group_leave(gc, "g", leaving, 1, 200, &out));
	/* Everyone left has rejoined, so generation 2 starts at once. */
	const struct group_join_reply *jr = join_reply(&out, 3);
	CHECK(jr != NULL);
	CHECK_EQ_INT(jr->generation_id, 2);
	CHECK_EQ_STR(jr->protocol_name, "roundrobin");
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(stable_follower_rejoin_gets_current_generation)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1], b[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_OK(join(gc, &out, "g", "", 10, 0));
	CHECK_OK(join(gc, &out, "g", a, 11, 0));
	CHECK(take_id(b, &out, 10));
	group_out_clear(&out);
	CHECK_OK(sync_call(gc, &out, "g", b, 2, NULL, 0, 20, 0));
	CHECK_OK(sync_call(gc, &out, "g", a, 2, NULL, 0, 21, 0));
	uint64_t ap = out.append_id;
	group_out_clear(&out);
	group_append_done(gc, ap, 0, 0, &out);
	group_out_clear(&out);
	CHECK_OK(join(gc, &out, "g", b, 30, 50));
	CHECK(join_reply(&out, 30) != NULL);
	CHECK_EQ_INT(join_reply(&out, 30)->generation_id, 2);
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_STABLE);
	group_out_clear(&out);
	/* The leader rejoining asks for a rebalance (it saw metadata change). */
	CHECK_OK(join(gc, &out, "g", a, 31, 60));
	CHECK_EQ_INT(out.join_count, 0);
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_PREPARING_REBALANCE);
	group_coordinator_destroy(gc);
}

TEST(protocol_selection)
{
	struct group_coordinator *gc = coord_new(3000);
	struct group_out out;
	group_out_init(&out);
	static const struct group_protocol p1[] = {{"sticky", NULL, 0}, {"range", NULL, 0}};
	static const struct group_protocol p2[] = {{"sticky", NULL, 0}, {"roundrobin", NULL, 0},
						   {"range", NULL, 0}};
	static const struct group_protocol p3[] = {{"range", NULL, 0}, {"sticky", NULL, 0}};
	static const struct group_protocol bad[] = {{"roundrobin", NULL, 0}};
	CHECK_OK(join_p(gc, &out, "g", "", "c", p1, 2, 1, 0));
	CHECK_OK(join_p(gc, &out, "g", "", "c", p2, 3, 2, 0));
	CHECK_OK(join_p(gc, &out, "g", "", "c", p3, 2, 3, 0));
	CHECK_EQ_INT(join_p(gc, &out, "g", "", "c", bad, 1, 4, 0),
		     RN_E_INCONSISTENT_GROUP_PROTOCOL);
	struct group_join_request req = {
		.group_id = "g", .protocol_type = "connect", .session_timeout_ms = SESSION_MS,
		.protocols = p1, .protocol_count = 2, .random = random_bytes(),
	};
	CHECK_EQ_INT(group_join(gc, &req, 0, &out), RN_E_INCONSISTENT_GROUP_PROTOCOL);
	/* Members kept coming during the first delay, so one more passes. */
	group_tick(gc, 3000, &out);
	CHECK_EQ_INT(out.join_count, 0);
	group_tick(gc, 6000, &out);
	CHECK_EQ_INT(out.join_count, 3);
	/* sticky gets two first-choice votes, range one. */
	CHECK_EQ_STR(join_reply(&out, 1)->protocol_name, "sticky");
	CHECK_EQ_STR(join_reply(&out, 3)->protocol_name, "sticky");
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(group_max_size)
{
	struct group_config cfg;
	group_config_default(&cfg);
	cfg.initial_rebalance_delay_ms = 0;
	cfg.max_group_size = 2;
	struct group_coordinator *gc;
	CHECK_OK(group_coordinator_create(&cfg, &gc));
	group_load_complete(gc, 0);
	struct group_out out;
	group_out_init(&out);
	struct group_join_request req = {
		.group_id = "g", .client_id = "c", .protocol_type = "consumer",
		.session_timeout_ms = 6000, .protocols = RANGE, .protocol_count = 1,
	};
	for (int i = 0; i < 2; i++) {
		req.random = random_bytes();
		req.handle = H(i + 1);
		CHECK_OK(group_join(gc, &req, 0, &out));
		group_out_clear(&out);
	}
	req.random = random_bytes();
	CHECK_EQ_INT(group_join(gc, &req, 0, &out), RN_E_GROUP_MAX_SIZE_REACHED);
	group_coordinator_destroy(gc);
}

TEST(repeated_random_bytes_still_give_unique_ids)
{
	struct group_coordinator *gc = coord_new(3000);
	struct group_out out;
	group_out_init(&out);
	static const uint8_t same[GROUP_MEMBER_ID_RANDOM_BYTES] = {1, 2, 3};
	struct group_join_request req = {
		.group_id = "g", .client_id = "c", .protocol_type = "consumer",
		.session_timeout_ms = 6000, .protocols = RANGE, .protocol_count = 1,
		.random = same,
	};
	for (int i = 0; i < 3; i++) {
		req.handle = H(i + 1);
		CHECK_OK(group_join(gc, &req, 0, &out));
	}
	/* Members kept coming during the first delay, so one more passes. */
	group_tick(gc, 3000, &out);
	CHECK_EQ_INT(out.join_count, 0);
	group_tick(gc, 6000, &out);
	CHECK_EQ_INT(out.join_count, 3);
	CHECK(strcmp(out.joins[0].member_id, out.joins[1].member_id) != 0);
	CHECK(strcmp(out.joins[1].member_id, out.joins[2].member_id) != 0);
	CHECK(strcmp(out.joins[0].member_id, out.joins[2].member_id) != 0);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

/* ------------------------------------------------------------ offsets */

TEST(commit_visible_after_replication)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_EQ_INT(fetched(gc, "g", "t", 0), -1);
	CHECK_OK(commit(gc, &out, "g", a, 1, "t", 0, 42, 5, 10));
	CHECK_EQ_INT(out.commit_count, 0);
	CHECK_EQ_INT(out.record_count, 1);
	CHECK_EQ_INT(out.records[0].type, GROUP_RECORD_OFFSET);
	CHECK_EQ_STR(out.records[0].topic, "t");
	CHECK_EQ_INT(out.records[0].offset, 42);
	CHECK_EQ_INT(out.records[0].commit_timestamp_ms, 10);
	uint64_t ap = out.append_id;
	group_out_clear(&out);
	CHECK_EQ_INT(fetched(gc, "g", "t", 0), -1);
	group_append_done(gc, ap, 0, 20, &out);
	CHECK(commit_reply(&out, 5) && commit_reply(&out, 5)->error == 0);
	group_out_clear(&out);
	CHECK_EQ_INT(fetched(gc, "g", "t", 0), 42);
	/* A second report of the same append is ignored. */
	group_append_done(gc, ap, 0, 20, &out);
	CHECK_EQ_INT(out.commit_count, 0);

	/* A failed append is answered with the coordinator error and changes nothing. */
	CHECK_OK(commit(gc, &out, "g", a, 1, "t", 0, 50, 6, 30));
	ap = out.append_id;
	group_out_clear(&out);
	group_append_done(gc, ap, RN_E_NOT_LEADER_OR_FOLLOWER, 40, &out);
	CHECK_EQ_INT(commit_reply(&out, 6)->error, RN_E_NOT_COORDINATOR);
	group_out_clear(&out);
	CHECK_EQ_INT(fetched(gc, "g", "t", 0), 42);

	struct group_offset_list l;
	CHECK_OK(group_fetch_offsets(gc, "g", NULL, 0, &l));
	CHECK_EQ_INT(l.count, 1);
	CHECK_EQ_STR(l.entries[0].metadata, "md");
	CHECK_EQ_INT(l.entries[0].leader_epoch, 3);
	group_offset_list_free(&l);
	CHECK_OK(group_fetch_offsets(gc, "nothing", NULL, 0, &l));
	CHECK_EQ_INT(l.count, 0);
	group_coordinator_destroy(gc);
}

TEST(commit_validation_and_fencing)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_EQ_INT(commit(gc, &out, "g", "", -1, "t", 0, 1, 1, 0), RN_E_NON_EMPTY_GROUP);
	CHECK_EQ_INT(commit(gc, &out, "g", "zombie", 1, "t", 0, 1, 1, 0), RN_E_UNKNOWN_MEMBER_ID);
	CHECK_EQ_INT(commit(gc, &out, "g", a, 0, "t", 0, 1, 1, 0), RN_E_ILLEGAL_GENERATION);
	CHECK_EQ_INT(commit(gc, &out, "g", a, 1, "bad topic", 0, 1, 1, 0), RN_E_INVALID_TOPIC);
	CHECK_EQ_INT(commit(gc, &out, "g", a, 1, "t", -1, 1, 1, 0), RN_E_INVALID_REQUEST);
	CHECK_EQ_INT(commit(gc, &out, "g", a, 1, "t", 0, -5, 1, 0), RN_E_INVALID_REQUEST);
	CHECK_EQ_INT(commit(gc, &out, "nog", "m", 1, "t", 0, 1, 1, 0), RN_E_UNKNOWN_MEMBER_ID);
	char *big = malloc(GROUP_MAX_COMMIT_METADATA_BYTES + 2);
	memset(big, 'x', GROUP_MAX_COMMIT_METADATA_BYTES + 1);
	big[GROUP_MAX_COMMIT_METADATA_BYTES + 1] = '\0';
	struct group_offset_commit o = {"t", 0, 1, 0, big};
	struct group_commit_request req = {"g", 1, a, &o, 1, H(9)};
	CHECK_EQ_INT(group_commit_offsets(gc, &req, 0, &out), RN_E_INVALID_REQUEST);
	free(big);
	CHECK_EQ_INT(out.record_count, 0);
	/* An empty commit is answered at once. */
	req.offset_count = 0;
	CHECK_OK(group_commit_offsets(gc, &req, 0, &out));
	CHECK(commit_reply(&out, 9) && commit_reply(&out, 9)->error == 0);
	CHECK_EQ_INT(out.append_id, 0);
	group_out_clear(&out);
	group_coordinator_destroy(gc);
}

TEST(outsider_commit_creates_group)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(commit(gc, &out, "seeked", "", -1, "t", 2, 7, 1, 0));
	uint64_t ap = out.append_id;
	group_out_clear(&out);
	group_append_done(gc, ap, 0, 0, &out);
	group_out_clear(&out);
	CHECK_EQ_INT(fetched(gc, "seeked", "t", 2), 7);
	CHECK_EQ_INT(state_of(gc, "seeked"), GROUP_STATE_EMPTY);
	struct group_listing *l;
	uint32_t n;
	CHECK_OK(group_list(gc, &l, &n));
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_STR(l[0].group_id, "seeked");
	CHECK_EQ_INT(l[0].state, GROUP_STATE_EMPTY);
	CHECK_EQ_INT(l[0].member_count, 0);
	free(l);
	group_coordinator_destroy(gc);
}

TEST(delete_group)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	CHECK_OK(commit(gc, &out, "g", a, 1, "t", 0, 3, 1, 0));
	uint64_t ap = out.append_id;
	group_out_clear(&out);
	group_append_done(gc, ap, 0, 0, &out);
	group_out_clear(&out);
	CHECK_EQ_INT(group_delete(gc, "g", 0, &out), RN_E_NON_EMPTY_GROUP);
	CHECK_EQ_INT(group_delete(gc, "nog", 0, &out), RN_E_GROUP_ID_NOT_FOUND);
	const char *ids[] = {a};
	CHECK_OK(group_leave(gc, "g", ids, 1, 0, &out));
	group_out_clear(&out);
	CHECK_OK(group_delete(gc, "g", 0, &out));
	CHECK_EQ_INT(out.record_count, 2);
	CHECK(out.records[0].tombstone && out.records[0].type == GROUP_RECORD_OFFSET);
	CHECK(out.records[1].tombstone && out.records[1].type == GROUP_RECORD_GROUP);
	group_out_clear(&out);
	struct group_description d;
	CHECK_EQ_INT(group_describe(gc, "g", &d), RN_E_GROUP_ID_NOT_FOUND);
	CHECK_EQ_INT(fetched(gc, "g", "t", 0), -1);
	group_coordinator_destroy(gc);
}

TEST(commit_completing_after_delete_is_dropped)
{
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(commit(gc, &out, "g", "", -1, "t", 0, 3, 1, 0));
	uint64_t ap = out.append_id;
	group_out_clear(&out);
	CHECK_OK(group_delete(gc, "g", 0, &out));
	group_out_clear(&out);
	group_append_done(gc, ap, 0, 0, &out);
	CHECK(commit_reply(&out, 1) && commit_reply(&out, 1)->error == 0);
	group_out_clear(&out);
	CHECK_EQ_INT(fetched(gc, "g", "t", 0), -1);
	group_coordinator_destroy(gc);
}

TEST(describe_shows_members)
{
	struct group_coordinator *gc = coord_new(0);
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK_EQ_INT(stable_one(gc, "g", a, 0), 1);
	struct group_description d;
	CHECK_OK(group_describe(gc, "g", &d));
	CHECK_EQ_INT(d.state, GROUP_STATE_STABLE);
	CHECK_EQ_STR(d.protocol_type, "consumer");
	CHECK_EQ_STR(d.protocol_name, "range");
	CHECK_EQ_INT(d.generation_id, 1);
	CHECK_EQ_INT(d.member_count, 1);
	CHECK_EQ_STR(d.members[0].member_id, a);
	CHECK_EQ_STR(d.members[0].client_id, "cli");
	CHECK_EQ_STR(d.members[0].client_host, "/127.0.0.1");
	CHECK_EQ_INT(d.members[0].assignment_len, 3);
	CHECK_EQ_INT(d.members[0].metadata_len, 3);
	group_description_free(&d);
	group_coordinator_destroy(gc);
}

/* ------------------------------------------------------------ failover */

/* Every record appended and replicated, as the partition would hold it. */
struct log {
	struct {
		uint8_t *key, *value;
		size_t key_len, value_len;
	} e[256];
	int n;
};

/* Encodes out's records into the log and reports the append done. */
static int replicate(struct group_coordinator *gc, struct group_out *out, struct log *lg,
		     int64_t now)
{
	uint64_t ap = out->append_id;
	for (uint32_t i = 0; i < out->record_count; i++) {
		if (lg->n >= (int)RN_ARRAY_LEN(lg->e))
			return -1;
		if (group_codec_encode_key(&out->records[i], &lg->e[lg->n].key,
					   &lg->e[lg->n].key_len) ||
		    group_codec_encode_value(&out->records[i], &lg->e[lg->n].value,
					     &lg->e[lg->n].value_len))
			return -1;
		lg->n++;
	}
	group_out_clear(out);
	if (ap)
		group_append_done(gc, ap, 0, now, out);
	return 0;
}

static struct group_coordinator *replay(struct log *lg, int64_t now)
{
	struct group_config cfg;
	group_config_default(&cfg);
	cfg.min_session_timeout_ms = 1000;
	cfg.initial_rebalance_delay_ms = 0;
	struct group_coordinator *gc;
	if (group_coordinator_create(&cfg, &gc))
		return NULL;
	for (int i = 0; i < lg->n; i++) {
		struct group_record r;
		if (group_codec_decode(lg->e[i].key, lg->e[i].key_len, lg->e[i].value,
				       lg->e[i].value_len, &r) ||
		    group_load_record(gc, &r)) {
			group_coordinator_destroy(gc);
			return NULL;
		}
		group_record_clear(&r);
	}
	group_load_complete(gc, now);
	return gc;
}

static void log_free(struct log *lg)
{
	for (int i = 0; i < lg->n; i++) {
		free(lg->e[i].key);
		free(lg->e[i].value);
	}
}

TEST(new_coordinator_loads_groups_and_offsets)
{
	static struct log lg;
	memset(&lg, 0, sizeof(lg));
	struct group_coordinator *gc = coord_new(0);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(join(gc, &out, "g", "", 1, 0));
	char a[GROUP_MAX_MEMBER_ID_LEN + 1];
	CHECK(take_id(a, &out, 1));
	group_out_clear(&out);
	struct group_assignment as = {a, (const uint8_t *)"t:0,1", 5};
	CHECK_OK(sync_call(gc, &out, "g", a, 1, &as, 1, 2, 0));
	CHECK_OK(replicate(gc, &out, &lg, 0));
	group_out_clear(&out);
	CHECK_OK(commit(gc, &out, "g", a, 1, "t", 0, 100, 3, 10));
	CHECK_OK(replicate(gc, &out, &lg, 10));
	group_out_clear(&out);
	CHECK_OK(commit(gc, &out, "g", a, 1, "t", 0, 120, 4, 20));
	CHECK_OK(replicate(gc, &out, &lg, 20));
	group_out_clear(&out);
	CHECK_OK(commit(gc, &out, "other", "", -1, "u", 1, 9, 5, 20));
	CHECK_OK(replicate(gc, &out, &lg, 20));
	group_out_clear(&out);
	CHECK_OK(group_delete(gc, "other", 30, &out));
	CHECK_OK(replicate(gc, &out, &lg, 30));
	group_out_clear(&out);
	group_coordinator_destroy(gc);

	/* The old coordinator is gone; the new leader replays the partition. */
	struct group_coordinator *gc2 = replay(&lg, 1000);
	CHECK(gc2 != NULL);
	CHECK_EQ_INT(fetched(gc2, "g", "t", 0), 120);
	CHECK_EQ_INT(state_of(gc2, "g"), GROUP_STATE_STABLE);
	CHECK_EQ_INT(state_of(gc2, "other"), GROUP_STATE_DEAD);
	struct group_description d;
	CHECK_OK(group_describe(gc2, "g", &d));
	CHECK_EQ_INT(d.generation_id, 1);
	CHECK_EQ_STR(d.leader, a);
	CHECK_EQ_INT(d.members[0].assignment_len, 5);
	group_description_free(&d);
	/* The member carries on with its generation; a stale one is fenced. */
	CHECK_OK(group_heartbeat(gc2, "g", a, 1, 1500));
	CHECK_EQ_INT(commit(gc2, &out, "g", a, 0, "t", 0, 1, 6, 1500), RN_E_ILLEGAL_GENERATION);
	CHECK_OK(sync_call(gc2, &out, "g", a, 1, NULL, 0, 7, 1500));
	CHECK_EQ_INT(sync_reply(&out, 7)->assignment_len, 5);
	group_out_clear(&out);
	/* Without heartbeats the loaded member expires like any other. */
	group_tick(gc2, 1500 + SESSION_MS, &out);
	CHECK_EQ_INT(state_of(gc2, "g"), GROUP_STATE_EMPTY);
	group_out_clear(&out);
	group_coordinator_destroy(gc2);
	log_free(&lg);
}

TEST(unload_answers_everything)
{
	struct group_coordinator *gc = coord_new(3000);
	struct group_out out;
	group_out_init(&out);
	CHECK_OK(join(gc, &out, "g", "", 1, 0));
	CHECK_OK(commit(gc, &out, "h", "", -1, "t", 0, 1, 2, 0));
	uint64_t ap = out.append_id;
	group_out_clear(&out);
	group_unload(gc, &out);
	CHECK(join_reply(&out, 1) && join_reply(&out, 1)->error == RN_E_NOT_COORDINATOR);
	CHECK(commit_reply(&out, 2) && commit_reply(&out, 2)->error == RN_E_NOT_COORDINATOR);
	group_out_clear(&out);
	group_append_done(gc, ap, 0, 0, &out);
	CHECK_EQ_INT(out.commit_count, 0);
	group_tick(gc, 10000, &out);
	CHECK_EQ_INT(out.join_count, 0);
	group_coordinator_destroy(gc);
}

TEST(load_rejects_bad_records)
{
	struct group_config cfg;
	group_config_default(&cfg);
	struct group_coordinator *gc;
	CHECK_OK(group_coordinator_create(&cfg, &gc));
	struct group_record r = {0};
	r.type = GROUP_RECORD_OFFSET;
	CHECK_EQ_INT(group_load_record(gc, &r), RN_E_INVAL);
	strcpy(r.group_id, "g");
	strcpy(r.topic, "t");
	r.offset = 5;
	CHECK_OK(group_load_record(gc, &r));
	r.tombstone = true;
	CHECK_OK(group_load_record(gc, &r));
	group_load_complete(gc, 0);
	/* The tombstone left nothing: the group is gone. */
	CHECK_EQ_INT(state_of(gc, "g"), GROUP_STATE_DEAD);
	CHECK_EQ_INT(group_load_record(gc, &r), RN_E_INVAL);
	group_coordinator_destroy(gc);
}

/* ------------------------------------------------------------ randomized */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define RAND_MEMBERS 5
#define RAND_HANDLES 4096

/*
 * Random joins, syncs, heartbeats, commits, leaves, silences and appends
 * completing or failing.  Checked: every handle taken is answered exactly
 * once (the last ones by unload), replies carry the generation the group
 * has, and a Stable group's members all hold the current generation.
 */
TEST(randomized_every_handle_answered_once)
{
	const char *env = getenv("GROUP_SEED");
	uint64_t seed0 = env ? strtoull(env, NULL, 10) : 0x9e3779b97f4a7c15ull;
	for (int run = 0; run < 40; run++) {
		uint64_t seed = seed0 + (uint64_t)run, s = seed | 1;
		static uint8_t answered[RAND_HANDLES];
		static uint8_t taken[RAND_HANDLES];
		static int slot_of[RAND_HANDLES];
		memset(answered, 0, sizeof(answered));
		memset(taken, 0, sizeof(taken));
		struct group_coordinator *gc = coord_new((int32_t)(rng_next(&s) % 2) * 500);
		char ids[RAND_MEMBERS][GROUP_MAX_MEMBER_ID_LEN + 1] = {{0}};
		int32_t gens[RAND_MEMBERS] = {0};
		uint64_t appends[64];
		int napp = 0;
		uintptr_t next_h = 1;
		int64_t now = 0;
		int bad = 0;
		struct group_out out;
		group_out_init(&out);
		for (int step = 0; step < 400 && next_h < RAND_HANDLES - 8 && !bad; step++) {
			int who = (int)(rng_next(&s) % RAND_MEMBERS);
			int op = (int)(rng_next(&s) % 8);
			uintptr_t h = next_h++;
			int rc = 0;
			now += (int64_t)(rng_next(&s) % 800);
			switch (op) {
			case 0:
			case 1:
				rc = join(gc, &out, "g", ids[who], h, now);
				break;
			case 2:
				rc = sync_call(gc, &out, "g", ids[who], gens[who], NULL, 0, h, now);
				break;
			case 3:
				(void)group_heartbeat(gc, "g", ids[who], gens[who], now);
				rc = -1;
				break;
			case 4:
				rc = commit(gc, &out, "g", ids[who], gens[who], "t", who, step, h, now);
				break;
			case 5: {
				const char *l[] = {ids[who]};
				(void)group_leave(gc, "g", l, 1, now, &out);
				rc = -1;
				break;
			}
			case 6:
				if (napp > 0) {
					int k = (int)(rng_next(&s) % (uint64_t)napp);
					int err = rng_next(&s) % 4 == 0 ? RN_E_NOT_ENOUGH_REPLICAS : 0;
					group_append_done(gc, appends[k], err, now, &out);
					appends[k] = appends[--napp];
				}
				rc = -1;
				break;
			default:
				now += SESSION_MS / 3;
				group_tick(gc, now, &out);
				rc = -1;
				break;
			}
			if (rc == 0)
				taken[h] = 1;
			slot_of[h] = who;
			if (out.append_id && napp < 64)
				appends[napp++] = out.append_id;
			for (uint32_t i = 0; i < out.join_count; i++) {
				uintptr_t jh = (uintptr_t)out.joins[i].handle;
				bad |= jh >= RAND_HANDLES || !taken[jh] || answered[jh]++;
				if (jh >= RAND_HANDLES)
					continue;
				/* Remember the id and generation of the member slot that
				 * joined; a refused member forgets its id. */
				int slot = slot_of[jh];
				if (out.joins[i].error == 0) {
					strcpy(ids[slot], out.joins[i].member_id);
					gens[slot] = out.joins[i].generation_id;
				} else if (out.joins[i].error == RN_E_UNKNOWN_MEMBER_ID) {
					ids[slot][0] = '\0';
				}
			}
			for (uint32_t i = 0; i < out.sync_count; i++) {
				uintptr_t sh = (uintptr_t)out.syncs[i].handle;
				bad |= sh >= RAND_HANDLES || !taken[sh] || answered[sh]++;
			}
			for (uint32_t i = 0; i < out.commit_count; i++) {
				uintptr_t ch = (uintptr_t)out.commits[i].handle;
				bad |= ch >= RAND_HANDLES || !taken[ch] || answered[ch]++;
			}
			group_out_clear(&out);
			struct group_description d;
			if (group_describe(gc, "g", &d) == 0) {
				bad |= d.state == GROUP_STATE_STABLE && d.member_count == 0;
				bad |= d.state == GROUP_STATE_EMPTY && d.member_count != 0;
				group_description_free(&d);
			}
		}
		group_unload(gc, &out);
		for (uint32_t i = 0; i < out.join_count; i++)
			bad |= answered[(uintptr_t)out.joins[i].handle]++ != 0;
		for (uint32_t i = 0; i < out.sync_count; i++)
			bad |= answered[(uintptr_t)out.syncs[i].handle]++ != 0;
		for (uint32_t i = 0; i < out.commit_count; i++)
			bad |= answered[(uintptr_t)out.commits[i].handle]++ != 0;
		group_out_clear(&out);
		for (int h = 0; h < RAND_HANDLES; h++)
			bad |= taken[h] != answered[h];
		group_coordinator_destroy(gc);
		if (bad) {
			fprintf(stderr, "  seed %llu failed; replay: GROUP_SEED=%llu test_broker_group "
					"randomized_every_handle_answered_once\n",
				(unsigned long long)seed, (unsigned long long)seed);
		}
		CHECK(!bad);
	}
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
