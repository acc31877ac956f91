/* test_lifecycle.c: unit tests of broker registration, heartbeats, fencing, leader election and cluster health. */
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "controller/controller.h"
#include "controller/health.h"
#include "controller/lifecycle.h"
#include "test/unit/harness.h"

#define CLUSTER "lifecycle-test"

/* A controller and the image its records are applied to, as if committed. */
struct fixture {
	struct meta_image *img;
	struct controller_lifecycle *lc;
	uint64_t idx;
	int64_t epochs[8]; /* by node id */
};

static void commit(struct fixture *f, struct meta_record *recs, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		RN_ASSERT(meta_image_apply(f->img, ++f->idx, &recs[i]) == 0);
	controller_records_free(recs, count);
}

static struct controller_registration registration(int32_t id, uint8_t incarnation,
						   const char *rack)
{
	static char host[32];
	snprintf(host, sizeof(host), "node%d", id);
	struct controller_registration reg = { .node_id = id, .cluster_id = CLUSTER,
					       .host = host, .port = 9090 + id, .rack = rack };
	memset(reg.incarnation_id, incarnation, sizeof(reg.incarnation_id));
	return reg;
}

static struct controller_heartbeat_resp beat(struct fixture *f, int32_t id, int64_t now_ms,
					     bool apply)
{
	struct controller_heartbeat hb = { .node_id = id, .broker_epoch = f->epochs[id],
					   .metadata_offset = f->idx };
	struct controller_heartbeat_resp resp;
	struct meta_record *recs;
	uint32_t count;
	RN_ASSERT(controller_broker_heartbeat(f->lc, f->img, &hb, now_ms, &resp, &recs, &count) ==
		  0);
	if (apply)
		commit(f, recs, count);
	else
		controller_records_free(recs, count);
	return resp;
}

/* Registers brokers 1..n (rack per broker or none) and unfences them at time 0. */
static void fixture_init(struct fixture *f, int32_t n, const char *const *racks)
{
	memset(f, 0, sizeof(*f));
	RN_ASSERT(meta_image_new(&f->img) == 0);
	RN_ASSERT(controller_lifecycle_new(CONTROLLER_SESSION_TIMEOUT_MS, &f->lc) == 0);
	struct meta_record c = { .type = META_REC_CLUSTER };
	strcpy(c.u.cluster.cluster_id, CLUSTER);
	RN_ASSERT(meta_image_apply(f->img, ++f->idx, &c) == 0);
	for (int32_t id = 1; id <= n; id++) {
		const char *rack = racks ? racks[id - 1] : NULL;
		struct controller_registration reg = registration(id, 1, rack);
		struct meta_record *recs;
		uint32_t count;
		RN_ASSERT(controller_broker_register(f->lc, f->img, &reg, 0, &f->epochs[id], &recs,
						     &count, NULL, 0) == 0);
		commit(f, recs, count);
	}
	for (int32_t id = 1; id <= n; id++)
		beat(f, id, 0, true);
}

static void fixture_free(struct fixture *f)
{
	controller_lifecycle_free(f->lc);
	meta_image_free(f->img);
}

static const struct meta_topic *create_topic(struct fixture *f, const char *name, int32_t parts,
					     int32_t rf, const struct meta_config_entry *cfg,
					     uint32_t ncfg)
{
	uint8_t id[16];
	memset(id, 0, sizeof(id));
	id[0] = (uint8_t)(meta_image_topic_count(f->img) + 1);
	struct create_topic_req req = { .name = name, .partitions = parts,
					.replication_factor = rf, .configs = cfg,
					.config_count = ncfg };
	struct meta_record *recs;
	uint32_t count;
	RN_ASSERT(controller_plan_create_topic(f->img, &req, id, 0, &recs, &count, NULL, 0) == 0);
	commit(f, recs, count);
	return meta_image_topic_by_name(f->img, name);
}

static uint32_t tick(struct fixture *f, int64_t now_ms, bool apply)
{
	struct meta_record *recs;
	uint32_t count;
	RN_ASSERT(controller_lifecycle_tick(f->lc, f->img, now_ms, &recs, &count) == 0);
	if (apply)
		commit(f, recs, count);
	else
		controller_records_free(recs, count);
	return count;
}

static bool fenced(struct fixture *f, int32_t id)
{
	return meta_image_broker(f->img, id)->fenced;
}

TEST(registered_broker_stays_fenced_until_caught_up)
{
	struct fixture f;
	fixture_init(&f, 0, NULL);
	struct controller_registration reg = registration(1, 7, "r1");
	struct meta_record *recs;
	uint32_t count;
	int64_t epoch;
	CHECK_OK(controller_broker_register(f.lc, f.img, &reg, 0, &epoch, &recs, &count, NULL, 0));
	CHECK_EQ_INT(count, 1);
	CHECK_EQ_INT(recs[0].type, META_REC_REGISTER_BROKER);
	CHECK(recs[0].u.broker.fenced);
	CHECK(epoch > 0);
	f.epochs[1] = epoch;

	/* Heartbeats before the record is applied: accepted, still fenced. */
	struct controller_heartbeat_resp resp = beat(&f, 1, 100, true);
	CHECK(resp.is_fenced);
	CHECK(!resp.is_caught_up);
	/* A retry of the same incarnation gets the same epoch and no record. */
	struct meta_record *again;
	uint32_t again_count;
	int64_t again_epoch;
	CHECK_OK(controller_broker_register(f.lc, f.img, &reg, 150, &again_epoch, &again,
					    &again_count, NULL, 0));
	CHECK_EQ_INT(again_epoch, epoch);
	CHECK_EQ_INT(again_count, 0);

	commit(&f, recs, count);
	uint64_t registered_at = f.idx;
	CHECK(fenced(&f, 1));
	CHECK_EQ_STR(meta_image_broker(f.img, 1)->rack, "r1");

	/* Behind its registration: no unfencing. */
	struct controller_heartbeat hb = { .node_id = 1, .broker_epoch = epoch,
					   .metadata_offset = registered_at - 1 };
	CHECK_OK(controller_broker_heartbeat(f.lc, f.img, &hb, 200, &resp, &recs, &count));
	CHECK_EQ_INT(count, 0);
	CHECK(resp.is_fenced);
	CHECK(!resp.is_caught_up);

	hb.metadata_offset = registered_at;
	CHECK_OK(controller_broker_heartbeat(f.lc, f.img, &hb, 300, &resp, &recs, &count));
	CHECK(resp.is_caught_up);
	CHECK(!resp.is_fenced);
	CHECK_EQ_INT(count, 1);
	CHECK_EQ_INT(recs[0].type, META_REC_FENCE_BROKER);
	CHECK(!recs[0].u.fence.fenced);
	commit(&f, recs, count);
	CHECK(!fenced(&f, 1));
	fixture_free(&f);
}

TEST(registration_checks_cluster_id_and_fields)
{
	struct fixture f;
	fixture_init(&f, 0, NULL);
	struct controller_registration reg = registration(1, 1, NULL);
	reg.cluster_id = "another-cluster";
	struct meta_record *recs;
	uint32_t count;
	int64_t epoch;
	char why[256] = "";
	CHECK_EQ_INT(controller_broker_register(f.lc, f.img, &reg, 0, &epoch, &recs, &count, why,
						sizeof(why)),
		     RN_E_INCONSISTENT_CLUSTER_ID);
	CHECK(strstr(why, "another-cluster") != NULL);
	CHECK(recs == NULL && count == 0);
	reg.cluster_id = CLUSTER;
	reg.port = 70000;
	CHECK_EQ_INT(controller_broker_register(f.lc, f.img, &reg, 0, &epoch, &recs, &count, why,
						sizeof(why)),
		     RN_E_INVAL);
	reg.port = 9091;
	reg.host = "";
	CHECK_EQ_INT(controller_broker_register(f.lc, f.img, &reg, 0, &epoch, &recs, &count, NULL,
						0),
		     RN_E_INVAL);
	fixture_free(&f);
}

TEST(stale_broker_epoch_is_refused)
{
	struct fixture f;
	fixture_init(&f, 2, NULL);
	struct controller_heartbeat hb = { .node_id = 1, .broker_epoch = f.epochs[1] + 5,
					   .metadata_offset = f.idx };
	struct controller_heartbeat_resp resp;
	struct meta_record *recs;
	uint32_t count;
	CHECK_EQ_INT(controller_broker_heartbeat(f.lc, f.img, &hb, 10, &resp, &recs, &count),
		     RN_E_STALE_BROKER_EPOCH);
	hb.node_id = 7; /* never registered */
	CHECK_EQ_INT(controller_broker_heartbeat(f.lc, f.img, &hb, 10, &resp, &recs, &count),
		     RN_E_STALE_BROKER_EPOCH);

	/* A restart registers a new incarnation; the old epoch is stale after. */
	int64_t old = f.epochs[1];
	struct controller_registration reg = registration(1, 2, NULL);
	CHECK_OK(controller_broker_register(f.lc, f.img, &reg, 20, &f.epochs[1], &recs, &count,
					    NULL, 0));
	CHECK(f.epochs[1] > old);
	CHECK(f.epochs[1] != f.epochs[2]);
	commit(&f, recs, count);
	CHECK(fenced(&f, 1));
	hb.node_id = 1;
	hb.broker_epoch = old;
	CHECK_EQ_INT(controller_broker_heartbeat(f.lc, f.img, &hb, 30, &resp, &recs, &count),
		     RN_E_STALE_BROKER_EPOCH);
	resp = beat(&f, 1, 40, true);
	CHECK(!resp.is_fenced);
	CHECK(!fenced(&f, 1));
	fixture_free(&f);
}

TEST(missed_session_fences_shrinks_isr_and_moves_leaders)
{
	struct fixture f;
	fixture_init(&f, 3, NULL);
	const struct meta_topic *t = create_topic(&f, "orders", 3, 3, NULL, 0);
	CHECK(t != NULL);
	int32_t led_by_1 = -1;
	for (int32_t p = 0; p < 3; p++)
		if (t->partitions[p].leader == 1)
			led_by_1 = p;
	CHECK(led_by_1 >= 0);

	/* Brokers 2 and 3 keep heartbeating; broker 1 falls silent after 0. */
	for (int64_t now = 2000; now <= 8000; now += 2000) {
		beat(&f, 2, now, true);
		beat(&f, 3, now, true);
		CHECK_EQ_INT(tick(&f, now, true), 0);
	}
	CHECK_EQ_INT(tick(&f, CONTROLLER_SESSION_TIMEOUT_MS, true), 0); /* not over yet */
	beat(&f, 2, 9000, true);
	beat(&f, 3, 9000, true);

	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_lifecycle_tick(f.lc, f.img, CONTROLLER_SESSION_TIMEOUT_MS + 1, &recs,
					   &count));
	CHECK_EQ_INT(count, 4); /* the fence, then one change per partition */
	CHECK_EQ_INT(recs[0].type, META_REC_FENCE_BROKER);
	CHECK_EQ_INT(recs[0].u.fence.node_id, 1);
	CHECK(recs[0].u.fence.fenced);
	/* Until applied, another tick proposes nothing twice. */
	CHECK_EQ_INT(tick(&f, CONTROLLER_SESSION_TIMEOUT_MS + 100, false), 0);
	int32_t old_epochs[3], old_leaders[3];
	for (int32_t p = 0; p < 3; p++) {
		old_epochs[p] = t->partitions[p].leader_epoch;
		old_leaders[p] = t->partitions[p].leader;
	}
	commit(&f, recs, count);
	CHECK(fenced(&f, 1));
	for (int32_t p = 0; p < 3; p++) {
		const struct meta_partition *mp = &t->partitions[p];
		CHECK_EQ_INT(mp->isr_count, 2);
		CHECK(mp->isr[0] != 1 && mp->isr[1] != 1);
		CHECK_EQ_INT(mp->partition_epoch, 1);
		if (p == led_by_1) {
			CHECK_EQ_INT(mp->leader, mp->isr[0]); /* first alive ISR member */
			CHECK_EQ_INT(mp->leader_epoch, old_epochs[p] + 1);
		} else {
			CHECK_EQ_INT(mp->leader, old_leaders[p]);
			CHECK_EQ_INT(mp->leader_epoch, old_epochs[p]);
		}
	}
	struct controller_health h;
	controller_health(f.img, &h);
	CHECK_EQ_INT(h.fenced_brokers, 1);
	CHECK_EQ_INT(h.offline_partitions, 0);
	CHECK_EQ_INT(h.under_replicated_partitions, 3);
	CHECK(!h.healthy);
	CHECK_EQ_INT(tick(&f, 9500, true), 0); /* settled: nothing more to do */
	fixture_free(&f);
}

TEST(sole_isr_member_lost_goes_offline_then_leads_again)
{
	struct fixture f;
	fixture_init(&f, 2, NULL);
	const struct meta_topic *t = create_topic(&f, "single", 2, 1, NULL, 0);
	int32_t p1 = t->partitions[0].leader == 1 ? 0 : 1;
	CHECK_EQ_INT(t->partitions[p1].leader, 1);
	beat(&f, 2, 8000, true);
	CHECK(tick(&f, 9001, true) == 2); /* fence + one change */
	const struct meta_partition *mp = &t->partitions[p1];
	CHECK_EQ_INT(mp->leader, META_NO_LEADER);
	CHECK_EQ_INT(mp->isr_count, 1);
	CHECK_EQ_INT(mp->isr[0], 1); /* the ISR never drops below one member */
	CHECK_EQ_INT(mp->leader_epoch, 1);
	struct controller_health h;
	controller_health(f.img, &h);
	CHECK_EQ_INT(h.offline_partitions, 1);
	CHECK_EQ_INT(h.under_replicated_partitions, 0);

	/* Broker 1 was only paused: it heartbeats again, caught up. */
	struct controller_heartbeat hb = { .node_id = 1, .broker_epoch = f.epochs[1],
					   .metadata_offset = f.idx };
	struct controller_heartbeat_resp resp;
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_broker_heartbeat(f.lc, f.img, &hb, 9500, &resp, &recs, &count));
	CHECK(!resp.is_fenced);
	CHECK_EQ_INT(count, 2); /* unfence, then leadership of its partition */
	CHECK_EQ_INT(recs[1].type, META_REC_PARTITION_CHANGE);
	commit(&f, recs, count);
	CHECK(!fenced(&f, 1));
	CHECK_EQ_INT(mp->leader, 1);
	CHECK_EQ_INT(mp->leader_epoch, 2);
	controller_health(f.img, &h);
	CHECK(h.healthy);
	fixture_free(&f);
}

/* Shrinks partition 0's ISR to {1} with broker 1 leading. */
static void isr_only_1(struct fixture *f, const struct meta_topic *t)
{
	struct meta_record c;
	memset(&c, 0, sizeof(c));
	c.type = META_REC_PARTITION_CHANGE;
	memcpy(c.u.partition_change.topic_id, t->id, 16);
	c.u.partition_change.has_isr = true;
	c.u.partition_change.isr_count = 1;
	c.u.partition_change.isr[0] = 1;
	c.u.partition_change.has_leader = true;
	c.u.partition_change.leader = 1;
	c.u.partition_change.leader_epoch = t->partitions[0].leader_epoch + 1;
	c.u.partition_change.partition_epoch = t->partitions[0].partition_epoch + 1;
	RN_ASSERT(meta_image_apply(f->img, ++f->idx, &c) == 0);
}

TEST(no_alive_isr_member_is_offline_unless_unclean_election_allowed)
{
	for (int unclean = 0; unclean <= 1; unclean++) {
		struct fixture f;
		fixture_init(&f, 3, NULL);
		struct meta_config_entry cfg[1] = { { "unclean.leader.election.enable", "true" } };
		const struct meta_topic *t = create_topic(&f, "u", 1, 3, cfg, (uint32_t)unclean);
		isr_only_1(&f, t);
		beat(&f, 2, 8000, true);
		beat(&f, 3, 8000, true);
		tick(&f, 9001, true);
		const struct meta_partition *mp = &t->partitions[0];
		if (unclean) {
			/* The first alive replica leads and is the whole ISR. */
			int32_t expect = mp->replicas[0] != 1 ? mp->replicas[0] : mp->replicas[1];
			CHECK_EQ_INT(mp->leader, expect);
			CHECK_EQ_INT(mp->isr_count, 1);
			CHECK_EQ_INT(mp->isr[0], expect);
		} else {
			CHECK_EQ_INT(mp->leader, META_NO_LEADER);
			CHECK_EQ_INT(mp->isr_count, 1);
			CHECK_EQ_INT(mp->isr[0], 1);
		}
		CHECK_EQ_INT(mp->leader_epoch, 2);
		fixture_free(&f);
	}
}

TEST(new_controller_gives_every_broker_a_fresh_session)
{
	struct fixture f;
	fixture_init(&f, 3, NULL);
	create_topic(&f, "x", 3, 2, NULL, 0);
	/* A new leader takes over long after the last heartbeat it could know. */
	struct controller_lifecycle *next;
	CHECK_OK(controller_lifecycle_new(CONTROLLER_SESSION_TIMEOUT_MS, &next));
	CHECK_OK(controller_lifecycle_reset(next, f.img, 100000));
	controller_lifecycle_free(f.lc);
	f.lc = next;
	CHECK_EQ_INT(tick(&f, 100000 + CONTROLLER_SESSION_TIMEOUT_MS, true), 0);
	CHECK(!fenced(&f, 1) && !fenced(&f, 2) && !fenced(&f, 3));
	/* Heartbeats with the epochs of the old controller's time still count. */
	beat(&f, 1, 105000, true);
	beat(&f, 2, 105000, true);
	tick(&f, 100000 + CONTROLLER_SESSION_TIMEOUT_MS + 1, true);
	CHECK(!fenced(&f, 1) && !fenced(&f, 2));
	CHECK(fenced(&f, 3));
	/* The next registration still gets an epoch above every earlier one. */
	struct controller_registration reg = registration(4, 9, NULL);
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_broker_register(f.lc, f.img, &reg, 110000, &f.epochs[4], &recs, &count,
					    NULL, 0));
	CHECK(f.epochs[4] > f.epochs[3]);
	commit(&f, recs, count);
	fixture_free(&f);
}

TEST(lost_fence_proposal_is_made_again)
{
	struct fixture f;
	fixture_init(&f, 2, NULL);
	beat(&f, 2, 8000, true);
	CHECK_EQ_INT(tick(&f, 9001, false), 1); /* proposed, then lost */
	beat(&f, 2, 9500, true);
	CHECK_EQ_INT(tick(&f, 9500, false), 0);
	beat(&f, 2, 12000, true);
	CHECK_EQ_INT(tick(&f, 9001 + CONTROLLER_PROPOSAL_RETRY_MS, true), 1);
	CHECK(fenced(&f, 1));
	CHECK(!fenced(&f, 2));
	fixture_free(&f);
}

TEST(restarted_broker_loses_leadership_until_caught_up)
{
	struct fixture f;
	fixture_init(&f, 3, NULL);
	const struct meta_topic *t = create_topic(&f, "r", 3, 3, NULL, 0);
	struct controller_registration reg = registration(2, 5, NULL);
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_broker_register(f.lc, f.img, &reg, 1000, &f.epochs[2], &recs, &count,
					    NULL, 0));
	commit(&f, recs, count);
	CHECK(fenced(&f, 2));
	beat(&f, 1, 1000, true);
	beat(&f, 3, 1000, true);
	tick(&f, 1000, true);
	for (int32_t p = 0; p < 3; p++) {
		CHECK(t->partitions[p].leader != 2);
		CHECK_EQ_INT(t->partitions[p].isr_count, 2);
	}
	struct controller_heartbeat_resp resp = beat(&f, 2, 1500, true);
	CHECK(!resp.is_fenced);
	CHECK(!fenced(&f, 2));
	fixture_free(&f);
}

TEST(controlled_shutdown_fences_before_saying_stop)
{
	struct fixture f;
	fixture_init(&f, 2, NULL);
	const struct meta_topic *t = create_topic(&f, "s", 2, 2, NULL, 0);
	struct controller_heartbeat hb = { .node_id = 1, .broker_epoch = f.epochs[1],
					   .metadata_offset = f.idx, .want_shut_down = true };
	struct controller_heartbeat_resp resp;
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_broker_heartbeat(f.lc, f.img, &hb, 100, &resp, &recs, &count));
	CHECK(resp.is_fenced);
	CHECK(!resp.should_shut_down);
	CHECK_EQ_INT(count, 3);
	commit(&f, recs, count);
	for (int32_t p = 0; p < 2; p++)
		CHECK_EQ_INT(t->partitions[p].leader, 2);
	CHECK_OK(controller_broker_heartbeat(f.lc, f.img, &hb, 200, &resp, &recs, &count));
	CHECK(resp.should_shut_down);
	CHECK_EQ_INT(count, 0);
	fixture_free(&f);
}

static int64_t plan_pid(struct fixture *f, bool apply)
{
	struct meta_record *recs;
	uint32_t count;
	int64_t id = -1;
	RN_ASSERT(controller_plan_producer_id(f->lc, f->img, &id, &recs, &count, NULL, 0) == 0);
	RN_ASSERT(count == 1 && recs[0].type == META_REC_PRODUCER_IDS);
	RN_ASSERT(recs[0].u.producer_ids.next_producer_id == id + 1);
	if (apply)
		commit(f, recs, count);
	else
		controller_records_free(recs, count);
	return id;
}

TEST(producer_ids_are_handed_out_once)
{
	struct fixture f;
	fixture_init(&f, 1, NULL);
	CHECK_EQ_INT(plan_pid(&f, true), 0);
	CHECK_EQ_INT(plan_pid(&f, true), 1);
	CHECK_EQ_INT(meta_image_next_producer_id(f.img), 2);

	/* Three requests planned before any commits get three ids, and their
	 * records apply in order. */
	struct meta_record *recs[3];
	uint32_t count[3];
	int64_t ids[3];
	for (int i = 0; i < 3; i++)
		CHECK_OK(controller_plan_producer_id(f.lc, f.img, &ids[i], &recs[i], &count[i],
						     NULL, 0));
	CHECK_EQ_INT(ids[0], 2);
	CHECK_EQ_INT(ids[1], 3);
	CHECK_EQ_INT(ids[2], 4);
	for (int i = 0; i < 3; i++)
		commit(&f, recs[i], count[i]);
	CHECK_EQ_INT(meta_image_next_producer_id(f.img), 5);
	CHECK_EQ_INT(plan_pid(&f, true), 5);

	/* Planned and lost (leadership moved before the commit): the next
	 * controller plans from the image alone and hands the id out again,
	 * which is safe because nobody was told about it. */
	CHECK_EQ_INT(plan_pid(&f, false), 6);
	CHECK_EQ_INT(plan_pid(&f, false), 7);
	CHECK_OK(controller_lifecycle_reset(f.lc, f.img, 0));
	CHECK_EQ_INT(plan_pid(&f, true), 6);

	/* A reset cannot go below what the image holds: records committed by
	 * an earlier controller count. */
	struct meta_record jump = { .type = META_REC_PRODUCER_IDS };
	jump.u.producer_ids.next_producer_id = 100;
	CHECK_OK(meta_image_apply(f.img, ++f.idx, &jump));
	CHECK_OK(controller_lifecycle_reset(f.lc, f.img, 0));
	CHECK_EQ_INT(plan_pid(&f, true), 100);
	fixture_free(&f);
}

TEST(producer_ids_run_out_with_a_clear_error)
{
	struct fixture f;
	fixture_init(&f, 1, NULL);
	struct meta_record r = { .type = META_REC_PRODUCER_IDS };
	r.u.producer_ids.next_producer_id = META_MAX_PRODUCER_ID - 1;
	CHECK_OK(meta_image_apply(f.img, ++f.idx, &r));
	CHECK_EQ_INT(plan_pid(&f, false), META_MAX_PRODUCER_ID - 1);
	CHECK_EQ_INT(plan_pid(&f, false), META_MAX_PRODUCER_ID);
	struct meta_record *recs = (struct meta_record *)&r;
	uint32_t count = 7;
	int64_t id = -5;
	char why[256] = "";
	CHECK_EQ_INT(controller_plan_producer_id(f.lc, f.img, &id, &recs, &count, why, sizeof(why)),
		     RN_E_FULL);
	CHECK(recs == NULL && count == 0 && id == -5);
	CHECK(strstr(why, "producer ids are exhausted") != NULL);
	/* The same once the records are committed. */
	CHECK_OK(controller_lifecycle_reset(f.lc, f.img, 0));
	CHECK_EQ_INT(plan_pid(&f, true), META_MAX_PRODUCER_ID - 1);
	CHECK_EQ_INT(plan_pid(&f, true), META_MAX_PRODUCER_ID);
	CHECK_EQ_INT(meta_image_next_producer_id(f.img), INT64_MAX);
	CHECK_EQ_INT(controller_plan_producer_id(f.lc, f.img, &id, &recs, &count, NULL, 0),
		     RN_E_FULL);
	fixture_free(&f);
}

TEST(health_counts_offline_and_under_replicated_partitions)
{
	struct fixture f;
	fixture_init(&f, 3, NULL);
	struct controller_health h;
	controller_health(f.img, &h);
	CHECK(h.healthy);
	CHECK_EQ_INT(h.broker_count, 3);
	CHECK_EQ_INT(h.partition_count, 0);
	const struct meta_topic *t = create_topic(&f, "h", 4, 2, NULL, 0);
	controller_health(f.img, &h);
	CHECK(h.healthy);
	CHECK_EQ_INT(h.topic_count, 1);
	CHECK_EQ_INT(h.partition_count, 4);
	CHECK_EQ_INT(h.under_replicated_partitions, 0);
	/* Fence a leader directly in the image: its partitions are offline. */
	struct meta_record fr = { .type = META_REC_FENCE_BROKER };
	fr.u.fence.node_id = t->partitions[0].leader;
	fr.u.fence.fenced = true;
	CHECK_OK(meta_image_apply(f.img, ++f.idx, &fr));
	uint32_t led = 0;
	for (int32_t p = 0; p < 4; p++)
		led += t->partitions[p].leader == fr.u.fence.node_id;
	controller_health(f.img, &h);
	CHECK(!h.healthy);
	CHECK_EQ_INT(h.fenced_brokers, 1);
	CHECK_EQ_INT(h.offline_partitions, led);
	CHECK(controller_partition_offline(f.img, &t->partitions[0]));
	fixture_free(&f);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
