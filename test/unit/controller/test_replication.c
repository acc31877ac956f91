/* test_replication.c: unit tests of AlterPartition validation and preferred leader elections at the controller. */
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "controller/controller.h"
#include "controller/lifecycle.h"
#include "controller/replication.h"
#include "test/unit/harness.h"

#define CLUSTER "replication-test"
#define WHY_LEN 256

/* A controller and the image its records are applied to, as if committed. */
struct fixture {
	struct meta_image *img;
	struct controller_lifecycle *lc;
	uint64_t idx;
	int64_t epochs[8]; /* by node id */
	char why[WHY_LEN];
};

static void commit(struct fixture *f, struct meta_record *recs, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		RN_ASSERT(meta_image_apply(f->img, ++f->idx, &recs[i]) == 0);
	controller_records_free(recs, count);
}

static void beat(struct fixture *f, int32_t id, int64_t now_ms, bool shut_down)
{
	struct controller_heartbeat hb = { .node_id = id, .broker_epoch = f->epochs[id],
					   .metadata_offset = f->idx,
					   .want_shut_down = shut_down };
	struct controller_heartbeat_resp resp;
	struct meta_record *recs;
	uint32_t count;
	RN_ASSERT(controller_broker_heartbeat(f->lc, f->img, &hb, now_ms, &resp, &recs, &count) ==
		  0);
	commit(f, recs, count);
}

/* Registers brokers 1..n and unfences them at time 0. */
static void fixture_init(struct fixture *f, int32_t n)
{
	memset(f, 0, sizeof(*f));
	RN_ASSERT(meta_image_new(&f->img) == 0);
	RN_ASSERT(controller_lifecycle_new(CONTROLLER_SESSION_TIMEOUT_MS, &f->lc) == 0);
	struct meta_record c = { .type = META_REC_CLUSTER };
	strcpy(c.u.cluster.cluster_id, CLUSTER);
	RN_ASSERT(meta_image_apply(f->img, ++f->idx, &c) == 0);
	for (int32_t id = 1; id <= n; id++) {
		char host[32];
		snprintf(host, sizeof(host), "node%d", id);
		struct controller_registration reg = { .node_id = id, .cluster_id = CLUSTER,
						       .host = host, .port = 9090 + id };
		memset(reg.incarnation_id, 1, sizeof(reg.incarnation_id));
		struct meta_record *recs;
		uint32_t count;
		RN_ASSERT(controller_broker_register(f->lc, f->img, &reg, 0, &f->epochs[id], &recs,
						     &count, NULL, 0) == 0);
		commit(f, recs, count);
	}
	for (int32_t id = 1; id <= n; id++)
		beat(f, id, 0, false);
}

static void fixture_free(struct fixture *f)
{
	controller_lifecycle_free(f->lc);
	meta_image_free(f->img);
}

static const struct meta_topic *create_topic(struct fixture *f, const char *name, int32_t parts,
					     int32_t rf)
{
	uint8_t id[16];
	memset(id, 0, sizeof(id));
	id[0] = (uint8_t)(meta_image_topic_count(f->img) + 1);
	struct create_topic_req req = { .name = name, .partitions = parts,
					.replication_factor = rf };
	struct meta_record *recs;
	uint32_t count;
	RN_ASSERT(controller_plan_create_topic(f->img, &req, id, 0, &recs, &count, NULL, 0) == 0);
	commit(f, recs, count);
	return meta_image_topic_by_name(f->img, name);
}

/* Partition p of the topic named `name` as the image shows it now. */
static const struct meta_partition *part(struct fixture *f, const char *name, int32_t p)
{
	return meta_topic_partition(meta_image_topic_by_name(f->img, name), p);
}

/* An AlterPartition from the partition's current leader in its current
 * epochs; the records are applied when `apply` and the call succeeded. */
static int alter(struct fixture *f, const char *name, int32_t p, const int32_t *isr, uint32_t n,
		 uint32_t *count_out, bool apply)
{
	const struct meta_topic *t = meta_image_topic_by_name(f->img, name);
	const struct meta_partition *mp = meta_topic_partition(t, p);
	struct meta_record *recs;
	uint32_t count;
	int rc = controller_plan_alter_partition(f->lc, f->img, mp->leader,
						 f->epochs[mp->leader], t->id, p, mp->leader_epoch,
						 mp->partition_epoch, isr, n, &recs, &count, f->why,
						 sizeof(f->why));
	if (count_out)
		*count_out = count;
	if (apply)
		commit(f, recs, count);
	else
		controller_records_free(recs, count);
	return rc;
}

/* Fences broker `dead` through a missed session while 1..n others beat. */
static void fence_by_session(struct fixture *f, int32_t n, int32_t dead, int64_t now_ms)
{
	for (int32_t id = 1; id <= n; id++)
		if (id != dead)
			beat(f, id, now_ms - 1, false);
	struct meta_record *recs;
	uint32_t count;
	RN_ASSERT(controller_lifecycle_tick(f->lc, f->img, now_ms, &recs, &count) == 0);
	commit(f, recs, count);
	RN_ASSERT(meta_image_broker(f->img, dead)->fenced);
}

static bool isr_is(const struct meta_partition *p, const int32_t *isr, uint32_t n)
{
	if (p->isr_count != n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (p->isr[i] != isr[i])
			return false;
	return true;
}

/* ---- AlterPartition ------------------------------------------------------------ */

TEST(isr_shrink_and_expand_take_effect_when_applied)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "orders", 1, 3);
	struct meta_partition before = *part(&f, "orders", 0);
	CHECK_EQ_INT(before.isr_count, 3);
	int32_t leader = before.leader;
	int32_t follower = before.replicas[1], lagging = before.replicas[2];

	/* Shrink: drop the lagging follower. */
	int32_t small[2] = { follower, leader };
	uint32_t count;
	CHECK_EQ_INT(alter(&f, "orders", 0, small, 2, &count, true), 0);
	CHECK_EQ_INT(count, 1);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t want_small[2] = { leader, follower }; /* replica order */
	CHECK(isr_is(p, want_small, 2));
	CHECK_EQ_INT(p->leader, leader);
	CHECK_EQ_INT(p->leader_epoch, before.leader_epoch);
	CHECK_EQ_INT(p->partition_epoch, before.partition_epoch + 1);

	/* Expand: the follower caught up again; any order in the request. */
	int32_t full[3] = { lagging, follower, leader };
	CHECK_EQ_INT(alter(&f, "orders", 0, full, 3, &count, true), 0);
	CHECK_EQ_INT(count, 1);
	p = part(&f, "orders", 0);
	CHECK(isr_is(p, before.replicas, 3));
	CHECK_EQ_INT(p->leader_epoch, before.leader_epoch);
	CHECK_EQ_INT(p->partition_epoch, before.partition_epoch + 2);
	fixture_free(&f);
}

TEST(unchanged_isr_needs_no_record)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "orders", 1, 3);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t same[3] = { p->replicas[2], p->replicas[0], p->replicas[1] };
	uint32_t count = 99;
	int32_t epoch = p->partition_epoch;
	CHECK_EQ_INT(alter(&f, "orders", 0, same, 3, &count, true), 0);
	CHECK_EQ_INT(count, 0);
	CHECK_EQ_INT(part(&f, "orders", 0)->partition_epoch, epoch);
	fixture_free(&f);
}

TEST(stale_partition_epoch_is_refused_and_changes_nothing)
{
	struct fixture f;
	fixture_init(&f, 3);
	const struct meta_topic *t = create_topic(&f, "orders", 1, 3);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t leader = p->leader, old_epoch = p->partition_epoch;
	int32_t two[2] = { p->replicas[0], p->replicas[1] };
	CHECK_EQ_INT(alter(&f, "orders", 0, two, 2, NULL, true), 0);

	/* A second proposal computed from the state before the first one. */
	p = part(&f, "orders", 0);
	int32_t one[1] = { leader };
	struct meta_record *recs = NULL;
	uint32_t count = 7;
	int rc = controller_plan_alter_partition(f.lc, f.img, leader, f.epochs[leader], t->id, 0,
						 p->leader_epoch, old_epoch, one, 1, &recs, &count,
						 f.why, sizeof(f.why));
	CHECK_EQ_INT(rc, RN_E_INVALID_UPDATE_VERSION);
	CHECK(recs == NULL);
	CHECK_EQ_INT(count, 0);
	CHECK(strstr(f.why, "partition epoch") != NULL);
	/* From the future, too. */
	rc = controller_plan_alter_partition(f.lc, f.img, leader, f.epochs[leader], t->id, 0,
					     p->leader_epoch, p->partition_epoch + 1, one, 1, &recs,
					     &count, NULL, 0);
	CHECK_EQ_INT(rc, RN_E_INVALID_UPDATE_VERSION);
	CHECK_EQ_INT(part(&f, "orders", 0)->isr_count, 2);
	fixture_free(&f);
}

TEST(only_the_current_leader_in_its_epoch_may_alter_the_isr)
{
	struct fixture f;
	fixture_init(&f, 3);
	const struct meta_topic *t = create_topic(&f, "orders", 1, 3);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t leader = p->leader, other = p->replicas[1];
	int32_t isr[2] = { leader, other };
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int rc = controller_plan_alter_partition(f.lc, f.img, other, f.epochs[other], t->id, 0,
						 p->leader_epoch, p->partition_epoch, isr, 2, &recs,
						 &count, f.why, sizeof(f.why));
	CHECK_EQ_INT(rc, RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK(strstr(f.why, "does not lead") != NULL);
	rc = controller_plan_alter_partition(f.lc, f.img, leader, f.epochs[leader], t->id, 0,
					     p->leader_epoch + 1, p->partition_epoch, isr, 2, &recs,
					     &count, NULL, 0);
	CHECK_EQ_INT(rc, RN_E_NOT_LEADER_OR_FOLLOWER);
	rc = controller_plan_alter_partition(f.lc, f.img, leader, f.epochs[leader] + 1, t->id, 0,
					     p->leader_epoch, p->partition_epoch, isr, 2, &recs,
					     &count, NULL, 0);
	CHECK_EQ_INT(rc, RN_E_STALE_BROKER_EPOCH);
	rc = controller_plan_alter_partition(f.lc, f.img, 7, 1, t->id, 0, p->leader_epoch,
					     p->partition_epoch, isr, 2, &recs, &count, NULL, 0);
	CHECK_EQ_INT(rc, RN_E_STALE_BROKER_EPOCH);
	CHECK(recs == NULL);
	fixture_free(&f);
}

TEST(deposed_leader_gets_fenced_leader_epoch)
{
	struct fixture f;
	fixture_init(&f, 3);
	const struct meta_topic *t = create_topic(&f, "orders", 1, 3);
	struct meta_partition old = *part(&f, "orders", 0);
	/* The leader misses its session; another replica leads in a new epoch. */
	fence_by_session(&f, 3, old.leader, CONTROLLER_SESSION_TIMEOUT_MS + 1);
	const struct meta_partition *p = part(&f, "orders", 0);
	CHECK(p->leader != old.leader);
	CHECK_EQ_INT(p->leader_epoch, old.leader_epoch + 1);
	/* The new leader's own claim in the old epoch: fenced. */
	int32_t isr[1] = { p->leader };
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int rc = controller_plan_alter_partition(f.lc, f.img, p->leader, f.epochs[p->leader], t->id,
						 0, old.leader_epoch, p->partition_epoch, isr, 1,
						 &recs, &count, f.why, sizeof(f.why));
	CHECK_EQ_INT(rc, RN_E_FENCED_LEADER_EPOCH);
	/* The deposed leader (it still holds its registration epoch). */
	int32_t old_leader = old.leader;
	rc = controller_plan_alter_partition(f.lc, f.img, old_leader, f.epochs[old_leader], t->id,
					     0, old.leader_epoch, old.partition_epoch, isr, 1,
					     &recs, &count, NULL, 0);
	CHECK_EQ_INT(rc, RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK(recs == NULL);
	fixture_free(&f);
}

TEST(malformed_isr_is_an_invalid_request)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "orders", 1, 3);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t l = p->leader, a = p->replicas[1], b = p->replicas[2];
	int32_t without_leader[2] = { a, b };
	int32_t dup[3] = { l, a, a };
	int32_t too_long[4] = { l, a, b, 4 };
	CHECK_EQ_INT(alter(&f, "orders", 0, NULL, 0, NULL, false), RN_E_INVALID_REQUEST);
	CHECK_EQ_INT(alter(&f, "orders", 0, dup, 0, NULL, false), RN_E_INVALID_REQUEST);
	CHECK(strstr(f.why, "empty") != NULL);
	CHECK_EQ_INT(alter(&f, "orders", 0, without_leader, 2, NULL, false), RN_E_INVALID_REQUEST);
	CHECK(strstr(f.why, "leader") != NULL);
	CHECK_EQ_INT(alter(&f, "orders", 0, dup, 3, NULL, false), RN_E_INVALID_REQUEST);
	CHECK(strstr(f.why, "twice") != NULL);
	CHECK_EQ_INT(alter(&f, "orders", 0, too_long, 4, NULL, false), RN_E_INVALID_REQUEST);
	CHECK_EQ_INT(part(&f, "orders", 0)->isr_count, 3);
	fixture_free(&f);
}

TEST(isr_members_must_be_eligible_replicas)
{
	struct fixture f;
	fixture_init(&f, 4);
	create_topic(&f, "orders", 1, 3);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t l = p->leader, a = p->replicas[1], b = p->replicas[2];
	int32_t outsider = 1;
	while (outsider == l || outsider == a || outsider == b)
		outsider++;
	int32_t with_outsider[2] = { l, outsider };
	CHECK_EQ_INT(alter(&f, "orders", 0, with_outsider, 2, NULL, false),
		     RN_E_INELIGIBLE_REPLICA);
	CHECK(strstr(f.why, "not a replica") != NULL);
	int32_t unknown[2] = { l, 6 };
	CHECK_EQ_INT(alter(&f, "orders", 0, unknown, 2, NULL, false), RN_E_INELIGIBLE_REPLICA);

	/* Replica b misses its session: fenced and out of the ISR. */
	fence_by_session(&f, 4, b, CONTROLLER_SESSION_TIMEOUT_MS + 1);
	p = part(&f, "orders", 0);
	CHECK_EQ_INT(p->isr_count, 2);
	int32_t back[3] = { l, a, b };
	CHECK_EQ_INT(alter(&f, "orders", 0, back, 3, NULL, false), RN_E_INELIGIBLE_REPLICA);
	CHECK(strstr(f.why, "fenced") != NULL);
	CHECK_EQ_INT(part(&f, "orders", 0)->isr_count, 2);
	fixture_free(&f);
}

TEST(broker_being_fenced_is_not_eligible)
{
	struct fixture f;
	fixture_init(&f, 3);
	const struct meta_topic *t = create_topic(&f, "orders", 1, 3);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t l = p->leader, a = p->replicas[1], b = p->replicas[2];
	int32_t two[2] = { l, a };
	CHECK_EQ_INT(alter(&f, "orders", 0, two, 2, NULL, true), 0);
	/* b asks to shut down: the fence is proposed but not applied yet. */
	struct controller_heartbeat hb = { .node_id = b, .broker_epoch = f.epochs[b],
					   .metadata_offset = f.idx, .want_shut_down = true };
	struct controller_heartbeat_resp resp;
	struct meta_record *lost;
	uint32_t lost_count;
	CHECK_EQ_INT(controller_broker_heartbeat(f.lc, f.img, &hb, 100, &resp, &lost, &lost_count),
		     0);
	CHECK(lost_count >= 1);
	controller_records_free(lost, lost_count);
	CHECK(!meta_image_broker(f.img, b)->fenced);
	CHECK(!controller_broker_eligible(f.lc, f.img, b));
	CHECK(controller_broker_eligible(NULL, f.img, b));
	CHECK(controller_broker_eligible(f.lc, f.img, a));
	CHECK(!controller_broker_eligible(f.lc, f.img, 9));

	p = part(&f, "orders", 0);
	int32_t three[3] = { l, a, b };
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	CHECK_EQ_INT(controller_plan_alter_partition(f.lc, f.img, l, f.epochs[l], t->id, 0,
						     p->leader_epoch, p->partition_epoch, three, 3,
						     &recs, &count, NULL, 0),
		     RN_E_INELIGIBLE_REPLICA);
	/* Without the lifecycle, the image alone still shows b unfenced. */
	CHECK_EQ_INT(controller_plan_alter_partition(NULL, f.img, l, f.epochs[l], t->id, 0,
						     p->leader_epoch, p->partition_epoch, three, 3,
						     &recs, &count, NULL, 0),
		     0);
	CHECK_EQ_INT(count, 1);
	controller_records_free(recs, count);
	fixture_free(&f);
}

TEST(unknown_topic_or_partition)
{
	struct fixture f;
	fixture_init(&f, 3);
	const struct meta_topic *t = create_topic(&f, "orders", 2, 3);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t isr[1] = { p->leader };
	uint8_t missing[16];
	memset(missing, 0xee, sizeof(missing));
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int32_t l = p->leader;
	CHECK_EQ_INT(controller_plan_alter_partition(f.lc, f.img, l, f.epochs[l], missing, 0,
						     p->leader_epoch, p->partition_epoch, isr, 1,
						     &recs, &count, NULL, 0),
		     RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK_EQ_INT(controller_plan_alter_partition(f.lc, f.img, l, f.epochs[l], t->id, 2,
						     p->leader_epoch, p->partition_epoch, isr, 1,
						     &recs, &count, NULL, 0),
		     RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK_EQ_INT(controller_plan_alter_partition(f.lc, f.img, l, f.epochs[l], t->id, -1,
						     p->leader_epoch, p->partition_epoch, isr, 1,
						     &recs, &count, NULL, 0),
		     RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK(recs == NULL);
	fixture_free(&f);
}

TEST(racing_changes_from_one_state_apply_only_the_first)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "orders", 1, 3);
	struct meta_partition before = *part(&f, "orders", 0);
	int32_t l = before.leader, a = before.replicas[1], b = before.replicas[2];
	/* The leader wants to drop b; meanwhile a misses its session and the
	 * lifecycle removes it.  Both changes start from the same epoch. */
	int32_t shrink[2] = { l, a };
	struct meta_record *mine = NULL;
	uint32_t mine_count = 0;
	const struct meta_topic *t = meta_image_topic_by_name(f.img, "orders");
	CHECK_EQ_INT(controller_plan_alter_partition(f.lc, f.img, l, f.epochs[l], t->id, 0,
						     before.leader_epoch, before.partition_epoch,
						     shrink, 2, &mine, &mine_count, NULL, 0),
		     0);
	fence_by_session(&f, 3, a, CONTROLLER_SESSION_TIMEOUT_MS + 1);
	int32_t after_fence[2] = { l, b };
	CHECK(isr_is(part(&f, "orders", 0), after_fence, 2));
	commit(&f, mine, mine_count); /* stale now: ignored */
	const struct meta_partition *p = part(&f, "orders", 0);
	CHECK(isr_is(p, after_fence, 2));
	CHECK_EQ_INT(p->partition_epoch, before.partition_epoch + 1);
	/* Proposed again from the new state, the shrink is refused as stale. */
	CHECK_EQ_INT(controller_plan_alter_partition(f.lc, f.img, l, f.epochs[l], t->id, 0,
						     before.leader_epoch, before.partition_epoch,
						     shrink, 2, &mine, &mine_count, NULL, 0),
		     RN_E_INVALID_UPDATE_VERSION);
	fixture_free(&f);
}

/* ---- preferred leader election -------------------------------------------------- */

static int elect(struct fixture *f, const char *topic, const int32_t *parts, uint32_t n,
		 uint32_t max, uint32_t *count_out, struct controller_election_result **res,
		 uint32_t *res_n, bool apply)
{
	struct meta_record *recs;
	uint32_t count;
	int rc = controller_plan_preferred_election(f->lc, f->img, topic, parts, n, max, &recs,
						    &count, res, res_n, f->why, sizeof(f->why));
	if (count_out)
		*count_out = count;
	if (apply)
		commit(f, recs, count);
	else
		controller_records_free(recs, count);
	return rc;
}

/* Broker `victim` misses its session (fenced, out of every ISR, its
 * leaderships moved), then heartbeats again and is unfenced, still outside
 * the ISRs until their leaders add it back. */
static int32_t fail_over_broker(struct fixture *f, int32_t n, int32_t victim, int64_t now_ms)
{
	fence_by_session(f, n, victim, now_ms);
	beat(f, victim, now_ms + 1, false); /* back: unfenced, not in any ISR */
	RN_ASSERT(!meta_image_broker(f->img, victim)->fenced);
	return victim;
}

TEST(leadership_returns_to_the_preferred_replica_once_in_the_isr)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "orders", 3, 3);
	struct meta_partition p0 = *part(&f, "orders", 0);
	int32_t preferred = p0.replicas[0];
	CHECK_EQ_INT(p0.leader, preferred);
	fail_over_broker(&f, 3, preferred, CONTROLLER_SESSION_TIMEOUT_MS + 1);
	const struct meta_partition *p = part(&f, "orders", 0);
	CHECK(p->leader != preferred);
	CHECK_EQ_INT(p->isr_count, 2);

	/* Back but not in sync yet: not available. */
	struct controller_election_result *res = NULL;
	uint32_t res_n = 0, count = 0;
	int32_t zero[1] = { 0 };
	CHECK_EQ_INT(elect(&f, "orders", zero, 1, UINT32_MAX, &count, &res, &res_n, true), 0);
	CHECK_EQ_INT(count, 0);
	CHECK_EQ_INT(res_n, 1);
	CHECK_EQ_STR(res[0].topic, "orders");
	CHECK_EQ_INT(res[0].partition, 0);
	CHECK_EQ_INT(res[0].error, RN_E_PREFERRED_LEADER_NOT_AVAILABLE);
	free(res);

	/* The new leader adds it back once it caught up; then it leads again. */
	int32_t full[3] = { p0.replicas[0], p0.replicas[1], p0.replicas[2] };
	CHECK_EQ_INT(alter(&f, "orders", 0, full, 3, NULL, true), 0);
	int32_t epoch_before = part(&f, "orders", 0)->leader_epoch;
	int32_t pepoch_before = part(&f, "orders", 0)->partition_epoch;
	CHECK_EQ_INT(elect(&f, "orders", zero, 1, UINT32_MAX, &count, &res, &res_n, true), 0);
	CHECK_EQ_INT(count, 1);
	CHECK_EQ_INT(res_n, 1);
	CHECK_EQ_INT(res[0].error, 0);
	free(res);
	p = part(&f, "orders", 0);
	CHECK_EQ_INT(p->leader, preferred);
	CHECK_EQ_INT(p->leader_epoch, epoch_before + 1);
	CHECK_EQ_INT(p->partition_epoch, pepoch_before + 1);
	CHECK(isr_is(p, full, 3));

	/* Asked again: nothing to do. */
	CHECK_EQ_INT(elect(&f, "orders", zero, 1, UINT32_MAX, &count, &res, &res_n, true), 0);
	CHECK_EQ_INT(count, 0);
	CHECK_EQ_INT(res[0].error, RN_E_ELECTION_NOT_NEEDED);
	free(res);
	fixture_free(&f);
}

TEST(election_over_every_topic_reports_each_partition)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "a-topic", 3, 3);
	create_topic(&f, "b-topic", 2, 2);
	struct controller_election_result *res = NULL;
	uint32_t res_n = 0, count = 9;
	CHECK_EQ_INT(elect(&f, NULL, NULL, 0, UINT32_MAX, &count, &res, &res_n, true), 0);
	CHECK_EQ_INT(count, 0);
	CHECK_EQ_INT(res_n, 5);
	CHECK_EQ_STR(res[0].topic, "a-topic");
	CHECK_EQ_STR(res[4].topic, "b-topic");
	CHECK_EQ_INT(res[4].partition, 1);
	for (uint32_t i = 0; i < res_n; i++)
		CHECK_EQ_INT(res[i].error, RN_E_ELECTION_NOT_NEEDED);
	free(res);
	fixture_free(&f);
}

TEST(election_filters_and_unknown_names)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "orders", 2, 3);
	struct controller_election_result *res = NULL;
	uint32_t res_n = 0, count = 0;
	int32_t parts[2] = { 1, 5 };
	CHECK_EQ_INT(elect(&f, "orders", parts, 2, UINT32_MAX, &count, &res, &res_n, true), 0);
	CHECK_EQ_INT(res_n, 2);
	CHECK_EQ_INT(res[0].partition, 1);
	CHECK_EQ_INT(res[0].error, RN_E_ELECTION_NOT_NEEDED);
	CHECK_EQ_INT(res[1].partition, 5);
	CHECK_EQ_INT(res[1].error, RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	free(res);
	res = NULL;
	CHECK_EQ_INT(elect(&f, "missing", NULL, 0, UINT32_MAX, &count, &res, &res_n, false),
		     RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK(res == NULL);
	CHECK_EQ_INT(res_n, 0);
	CHECK(strstr(f.why, "missing") != NULL);
	CHECK_EQ_INT(elect(&f, "..", NULL, 0, UINT32_MAX, &count, &res, &res_n, false),
		     RN_E_INVALID_TOPIC);
	CHECK_EQ_INT(elect(&f, "orders", NULL, 1, UINT32_MAX, &count, &res, &res_n, false),
		     RN_E_INVAL);
	fixture_free(&f);
}

TEST(automatic_check_moves_every_partition_back_within_its_bound)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "orders", 6, 3);
	/* Broker 1 fails over and returns; its partitions are led elsewhere. */
	fail_over_broker(&f, 3, 1, CONTROLLER_SESSION_TIMEOUT_MS + 1);
	uint32_t moved_away = 0;
	for (int32_t i = 0; i < 6; i++) {
		const struct meta_partition *p = part(&f, "orders", i);
		CHECK(p->leader != 1);
		if (p->replicas[0] == 1)
			moved_away++;
		int32_t full[3] = { p->replicas[0], p->replicas[1], p->replicas[2] };
		CHECK_EQ_INT(alter(&f, "orders", i, full, 3, NULL, true), 0);
	}
	CHECK_EQ_INT(moved_away, 2);
	uint32_t count = 0;
	CHECK_EQ_INT(elect(&f, NULL, NULL, 0, 1, &count, NULL, NULL, true), 0);
	CHECK_EQ_INT(count, 1);
	CHECK_EQ_INT(elect(&f, NULL, NULL, 0, CONTROLLER_MAX_AUTO_ELECTIONS, &count, NULL, NULL,
			   true),
		     0);
	CHECK_EQ_INT(count, 1);
	for (int32_t i = 0; i < 6; i++)
		CHECK_EQ_INT(part(&f, "orders", i)->leader, part(&f, "orders", i)->replicas[0]);
	CHECK_EQ_INT(elect(&f, NULL, NULL, 0, CONTROLLER_MAX_AUTO_ELECTIONS, &count, NULL, NULL,
			   true),
		     0);
	CHECK_EQ_INT(count, 0);
	fixture_free(&f);
}

TEST(preferred_replica_shutting_down_is_not_elected)
{
	struct fixture f;
	fixture_init(&f, 3);
	create_topic(&f, "orders", 1, 3);
	const struct meta_partition *p = part(&f, "orders", 0);
	int32_t preferred = p->replicas[0];
	/* Lead elsewhere: elect replica 1 by hand through a change record. */
	struct meta_record r = { .type = META_REC_PARTITION_CHANGE };
	memcpy(r.u.partition_change.topic_id, meta_image_topic_by_name(f.img, "orders")->id, 16);
	r.u.partition_change.has_leader = true;
	r.u.partition_change.leader = p->replicas[1];
	r.u.partition_change.leader_epoch = p->leader_epoch + 1;
	r.u.partition_change.partition_epoch = p->partition_epoch + 1;
	RN_ASSERT(meta_image_apply(f.img, ++f.idx, &r) == 0);
	/* The preferred replica asks to shut down; the fence is in flight. */
	struct controller_heartbeat hb = { .node_id = preferred,
					   .broker_epoch = f.epochs[preferred],
					   .metadata_offset = f.idx,
					   .want_shut_down = true };
	struct controller_heartbeat_resp resp;
	struct meta_record *recs;
	uint32_t n;
	CHECK_EQ_INT(controller_broker_heartbeat(f.lc, f.img, &hb, 50, &resp, &recs, &n), 0);
	controller_records_free(recs, n);
	struct controller_election_result *res = NULL;
	uint32_t res_n = 0, count = 0;
	CHECK_EQ_INT(elect(&f, "orders", NULL, 0, UINT32_MAX, &count, &res, &res_n, false), 0);
	CHECK_EQ_INT(count, 0);
	CHECK_EQ_INT(res[0].error, RN_E_PREFERRED_LEADER_NOT_AVAILABLE);
	free(res);
	fixture_free(&f);
}

TEST(offline_partition_is_elected_when_its_preferred_replica_returns)
{
	struct fixture f;
	fixture_init(&f, 2);
	create_topic(&f, "solo", 1, 1);
	int32_t only = part(&f, "solo", 0)->replicas[0];
	fence_by_session(&f, 2, only, CONTROLLER_SESSION_TIMEOUT_MS + 1);
	CHECK_EQ_INT(part(&f, "solo", 0)->leader, META_NO_LEADER);
	struct controller_election_result *res = NULL;
	uint32_t res_n = 0, count = 0;
	CHECK_EQ_INT(elect(&f, "solo", NULL, 0, UINT32_MAX, &count, &res, &res_n, false), 0);
	CHECK_EQ_INT(res[0].error, RN_E_PREFERRED_LEADER_NOT_AVAILABLE);
	free(res);
	/* Unfenced again, but the heartbeat's own records are dropped (lost),
	 * so only the election can give the partition its leader back. */
	struct controller_heartbeat hb = { .node_id = only, .broker_epoch = f.epochs[only],
					   .metadata_offset = f.idx };
	struct controller_heartbeat_resp resp;
	struct meta_record *recs;
	uint32_t n;
	CHECK_EQ_INT(controller_broker_heartbeat(f.lc, f.img, &hb, 20000, &resp, &recs, &n), 0);
	CHECK(n >= 1 && recs[0].type == META_REC_FENCE_BROKER);
	RN_ASSERT(meta_image_apply(f.img, ++f.idx, &recs[0]) == 0);
	controller_records_free(recs, n);
	CHECK_EQ_INT(elect(&f, "solo", NULL, 0, UINT32_MAX, &count, &res, &res_n, true), 0);
	CHECK_EQ_INT(count, 1);
	CHECK_EQ_INT(res[0].error, 0);
	free(res);
	CHECK_EQ_INT(part(&f, "solo", 0)->leader, only);
	fixture_free(&f);
}

TEST(automatic_check_is_due_after_its_interval)
{
	CHECK(!controller_preferred_check_due(true, 300000, 0, 299999));
	CHECK(controller_preferred_check_due(true, 300000, 0, 300000));
	CHECK(!controller_preferred_check_due(false, 300000, 0, 900000));
	CHECK(!controller_preferred_check_due(true, 0, 0, 900000));
	CHECK(controller_preferred_check_due(CONTROLLER_AUTO_LEADER_REBALANCE_ENABLE,
					     CONTROLLER_LEADER_IMBALANCE_CHECK_INTERVAL_MS, 1000,
					     1000 + CONTROLLER_LEADER_IMBALANCE_CHECK_INTERVAL_MS));
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
