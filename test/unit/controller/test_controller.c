/* test_controller.c: unit tests of the controller's decisions and the topic config table. */
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "controller/controller.h"
#include "test/unit/harness.h"

static const uint8_t topic_id[16] = { 0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

/* An image with brokers 1..n registered (and `fenced` of them fenced). */
static struct meta_image *image_with_brokers(int32_t n, int32_t fenced_id)
{
	struct meta_image *img;
	RN_ASSERT(meta_image_new(&img) == 0);
	uint64_t idx = 0;
	for (int32_t id = 1; id <= n; id++) {
		struct meta_record *recs;
		uint32_t count;
		RN_ASSERT(controller_plan_register_broker(img, id, "localhost", 9090 + id, 1, &recs,
							  &count) == 0);
		RN_ASSERT(count == 1);
		RN_ASSERT(meta_image_apply(img, ++idx, &recs[0]) == 0);
		controller_records_free(recs, count);
	}
	if (fenced_id) {
		struct meta_record f = { .type = META_REC_FENCE_BROKER };
		f.u.fence.node_id = fenced_id;
		f.u.fence.fenced = true;
		RN_ASSERT(meta_image_apply(img, ++idx, &f) == 0);
	}
	return img;
}

static void apply_all(struct meta_image *img, struct meta_record *recs, uint32_t count)
{
	uint64_t idx = meta_image_applied_index(img);
	for (uint32_t i = 0; i < count; i++)
		RN_ASSERT(meta_image_apply(img, ++idx, &recs[i]) == 0);
}

TEST(create_topic_records_apply_to_the_expected_image)
{
	struct meta_image *img = image_with_brokers(3, 0);
	struct meta_config_entry cfg[1] = { { "retention.ms", "60000" } };
	struct create_topic_req req = { .name = "orders", .partitions = 6,
					 .replication_factor = 2, .configs = cfg,
					 .config_count = 1 };
	struct meta_record *recs;
	uint32_t count;
	char why[256] = "";
	CHECK_OK(controller_plan_create_topic(img, &req, topic_id, 0, &recs, &count, why,
					      sizeof(why)));
	CHECK_EQ_INT(count, 7);
	CHECK_EQ_INT(recs[0].type, META_REC_TOPIC);
	CHECK_EQ_STR(recs[0].u.topic.name, "orders");
	for (uint32_t i = 1; i < count; i++) {
		CHECK_EQ_INT(recs[i].type, META_REC_PARTITION);
		CHECK_EQ_INT(recs[i].u.partition.partition, (int)i - 1);
		CHECK_EQ_INT(recs[i].u.partition.leader, recs[i].u.partition.replicas[0]);
		CHECK_EQ_INT(recs[i].u.partition.isr_count, 2);
		CHECK_EQ_INT(recs[i].u.partition.leader_epoch, 0);
	}
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	const struct meta_topic *t = meta_image_topic_by_name(img, "orders");
	CHECK(t != NULL);
	CHECK_EQ_INT(t->partition_count, 6);
	CHECK(memcmp(t->id, topic_id, 16) == 0);
	const char *value, *source;
	CHECK_OK(controller_config_lookup(img, t, "retention.ms", &value, &source));
	CHECK_EQ_STR(value, "60000");
	CHECK_EQ_STR(source, "topic");
	CHECK_OK(controller_config_lookup(img, t, "cleanup.policy", &value, &source));
	CHECK_EQ_STR(value, "delete");
	CHECK_EQ_STR(source, "default");
	meta_image_free(img);
}

TEST(replica_assignment_spreads_leaders_and_followers)
{
	struct meta_image *img = image_with_brokers(4, 0);
	for (uint64_t random = 0; random < 8; random++) {
		struct create_topic_req req = { .name = "spread", .partitions = 12,
						.replication_factor = 3 };
		struct meta_record *recs;
		uint32_t count;
		CHECK_OK(controller_plan_create_topic(img, &req, topic_id, random * 0x100000001ull,
						      &recs, &count, NULL, 0));
		int leaders[5] = { 0 }, replicas[5] = { 0 };
		for (uint32_t i = 1; i < count; i++) {
			const int32_t *rep = recs[i].u.partition.replicas;
			leaders[rep[0]]++;
			for (int j = 0; j < 3; j++) {
				CHECK(rep[j] >= 1 && rep[j] <= 4);
				replicas[rep[j]]++;
				for (int k = 0; k < j; k++)
					CHECK(rep[k] != rep[j]); /* never twice in one partition */
			}
		}
		for (int b = 1; b <= 4; b++) {
			CHECK_EQ_INT(leaders[b], 3);
			CHECK_EQ_INT(replicas[b], 9);
		}
		controller_records_free(recs, count);
	}
	meta_image_free(img);
}

TEST(replica_assignment_skips_fenced_brokers)
{
	struct meta_image *img = image_with_brokers(3, 2);
	struct create_topic_req req = { .name = "f", .partitions = 10, .replication_factor = 2 };
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_plan_create_topic(img, &req, topic_id, 5, &recs, &count, NULL, 0));
	for (uint32_t i = 1; i < count; i++)
		for (uint32_t j = 0; j < 2; j++)
			CHECK(recs[i].u.partition.replicas[j] != 2);
	controller_records_free(recs, count);
	req.replication_factor = 3;
	char why[200];
	CHECK_EQ_INT(controller_plan_create_topic(img, &req, topic_id, 5, &recs, &count, why,
						  sizeof(why)),
		     RN_E_INVALID_REPLICATION_FACTOR);
	CHECK(strstr(why, "2 available") != NULL);
	meta_image_free(img);
}

static int plan(struct meta_image *img, const struct create_topic_req *req, char *why, size_t len)
{
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	int rc = controller_plan_create_topic(img, req, topic_id, 0, &recs, &count, why, len);
	if (rc != 0)
		RN_ASSERT(recs == NULL && count == 0);
	controller_records_free(recs, count);
	return rc;
}

TEST(create_topic_validation_errors)
{
	struct meta_image *img = image_with_brokers(1, 0);
	char why[512];
	struct create_topic_req req = { .name = "bad/name", .partitions = 1,
					.replication_factor = 1 };
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_TOPIC);
	CHECK(strstr(why, "topic name") != NULL);
	req.name = NULL;
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_TOPIC);

	req.name = "ok";
	req.partitions = 0;
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_PARTITIONS);
	CHECK(strstr(why, "got 0") != NULL);
	req.partitions = RN_MAX_PARTITIONS_PER_TOPIC + 1;
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_PARTITIONS);
	req.partitions = 1;
	req.replication_factor = 0;
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_REPLICATION_FACTOR);
	req.replication_factor = RN_MAX_REPLICATION_FACTOR + 1;
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_REPLICATION_FACTOR);
	req.replication_factor = 2;
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_REPLICATION_FACTOR);
	req.replication_factor = 1;

	struct meta_config_entry cfg[2] = { { "retention.ms", "1" }, { "retention.ms", "2" } };
	req.configs = cfg;
	req.config_count = 2;
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "more than once") != NULL);
	req.config_count = RN_MAX_CONFIGS_PER_TOPIC + 1;
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_INVALID_CONFIG);
	req.config_count = 0;

	uint8_t zero[16] = { 0 };
	struct meta_record *recs;
	uint32_t count;
	CHECK_EQ_INT(controller_plan_create_topic(img, &req, zero, 0, &recs, &count, NULL, 0),
		     RN_E_INVAL);
	CHECK_OK(plan(img, &req, NULL, 0));
	meta_image_free(img);
}

TEST(create_existing_or_pending_topic_fails)
{
	struct meta_image *img = image_with_brokers(1, 0);
	struct create_topic_req req = { .name = "dup", .partitions = 1, .replication_factor = 1 };
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_plan_create_topic(img, &req, topic_id, 0, &recs, &count, NULL, 0));
	/* Proposed but not applied yet: the shell says so through pending. */
	const char *pending[] = { "other", "dup" };
	req.pending_names = pending;
	req.pending_count = 2;
	char why[256];
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_TOPIC_ALREADY_EXISTS);
	CHECK(strstr(why, "\"dup\" already exists") != NULL);
	req.pending_count = 0;
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	CHECK_EQ_INT(plan(img, &req, why, sizeof(why)), RN_E_TOPIC_ALREADY_EXISTS);
	meta_image_free(img);
}

TEST(delete_topic_removes_it)
{
	struct meta_image *img = image_with_brokers(1, 0);
	struct create_topic_req req = { .name = "gone", .partitions = 3, .replication_factor = 1 };
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_plan_create_topic(img, &req, topic_id, 0, &recs, &count, NULL, 0));
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	char why[128];
	CHECK_OK(controller_plan_delete_topic(img, "gone", &recs, &count, why, sizeof(why)));
	CHECK_EQ_INT(count, 1);
	CHECK_EQ_INT(recs[0].type, META_REC_REMOVE_TOPIC);
	CHECK(memcmp(recs[0].u.remove_topic.topic_id, topic_id, 16) == 0);
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	CHECK(meta_image_topic_by_name(img, "gone") == NULL);
	CHECK_EQ_INT(controller_plan_delete_topic(img, "gone", &recs, &count, why, sizeof(why)),
		     RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK(strstr(why, "does not exist") != NULL);
	CHECK_EQ_INT(controller_plan_delete_topic(img, "", &recs, &count, why, sizeof(why)),
		     RN_E_INVALID_TOPIC);
	meta_image_free(img);
}

TEST(register_broker_plans)
{
	struct meta_image *img = image_with_brokers(1, 0);
	struct meta_record *recs;
	uint32_t count;
	/* The same registration again says nothing new. */
	CHECK_OK(controller_plan_register_broker(img, 1, "localhost", 9091, 1, &recs, &count));
	CHECK_EQ_INT(count, 0);
	CHECK(recs == NULL);
	CHECK_OK(controller_plan_register_broker(img, 1, "10.0.0.1", 9091, 2, &recs, &count));
	CHECK_EQ_INT(count, 1);
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	CHECK_EQ_STR(meta_image_broker(img, 1)->host, "10.0.0.1");
	CHECK_EQ_INT(controller_plan_register_broker(img, 1, "x", 9091, 1, &recs, &count),
		     RN_E_STALE_BROKER_EPOCH);
	CHECK_EQ_INT(controller_plan_register_broker(img, -1, "x", 9091, 1, &recs, &count),
		     RN_E_INVAL);
	CHECK_EQ_INT(controller_plan_register_broker(img, 2, "", 9091, 1, &recs, &count),
		     RN_E_INVAL);
	CHECK_EQ_INT(controller_plan_register_broker(img, 2, "x", 0, 1, &recs, &count), RN_E_INVAL);
	CHECK_EQ_INT(controller_plan_register_broker(img, 2, "x", 65536, 1, &recs, &count),
		     RN_E_INVAL);
	meta_image_free(img);
}

static int check_value(const char *name, const char *value, int32_t rf, char *why, size_t len)
{
	return controller_config_validate(name, value, rf, why, len);
}

TEST(config_validation_messages)
{
	char why[512];
	CHECK_EQ_INT(check_value("retention.mss", "1", 1, why, sizeof(why)), RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "unknown topic config \"retention.mss\"") != NULL);
	CHECK(strstr(why, "retention.ms") != NULL);
	CHECK(strstr(why, "unclean.leader.election.enable)") != NULL);

	CHECK_EQ_INT(check_value("cleanup.policy", "remove", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "cleanup.policy") && strstr(why, "delete, compact or compact,delete"));
	CHECK_OK(check_value("cleanup.policy", "compact,delete", 1, why, sizeof(why)));

	CHECK_EQ_INT(check_value("retention.ms", "-2", 1, why, sizeof(why)), RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "\"-2\" for retention.ms") && strstr(why, "-1 or an integer >= 0"));
	CHECK_OK(check_value("retention.ms", "-1", 1, why, sizeof(why)));
	CHECK_EQ_INT(check_value("retention.bytes", "12x", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK_EQ_INT(check_value("retention.bytes", " 12", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK_EQ_INT(check_value("retention.bytes", "99999999999999999999", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);

	CHECK_EQ_INT(check_value("segment.bytes", "1023", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK_OK(check_value("segment.bytes", "1024", 1, why, sizeof(why)));
	CHECK_EQ_INT(check_value("segment.ms", "0", 1, why, sizeof(why)), RN_E_INVALID_CONFIG);

	CHECK_EQ_INT(check_value("min.insync.replicas", "3", 2, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "replication factor (2)") != NULL);
	CHECK_OK(check_value("min.insync.replicas", "2", 2, why, sizeof(why)));
	CHECK_EQ_INT(check_value("min.insync.replicas", "0", 2, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);

	CHECK_EQ_INT(check_value("max.message.bytes", "16777217", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK_OK(check_value("max.message.bytes", "16777216", 1, why, sizeof(why)));
	CHECK_EQ_INT(check_value("flush.messages", "0", 1, why, sizeof(why)), RN_E_INVALID_CONFIG);
	CHECK_OK(check_value("flush.ms", "0", 1, why, sizeof(why)));
	CHECK_EQ_INT(check_value("message.timestamp.type", "createtime", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "CreateTime or LogAppendTime") != NULL);
	CHECK_EQ_INT(check_value("unclean.leader.election.enable", "yes", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK_OK(check_value("min.cleanable.dirty.ratio", "0.75", 1, why, sizeof(why)));
	CHECK_EQ_INT(check_value("min.cleanable.dirty.ratio", "1.5", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK_EQ_INT(check_value("min.compaction.lag.ms", "-1", 1, why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK_OK(check_value("delete.retention.ms", "0", 1, NULL, 0));
	/* A tiny buffer is cut, never overrun. */
	char small[8];
	CHECK_EQ_INT(check_value("nope", "1", 1, small, sizeof(small)), RN_E_INVALID_CONFIG);
	CHECK_EQ_INT(strlen(small), 7);
}

TEST(config_table_defaults_are_valid_and_sorted)
{
	CHECK_EQ_INT(controller_config_count(), 14);
	for (uint32_t i = 0; i < controller_config_count(); i++) {
		const struct controller_config_def *d = controller_config_at(i);
		char why[256] = "";
		if (controller_config_validate(d->name, d->default_value, 1, why, sizeof(why)) != 0) {
			fprintf(stderr, "  default of %s: %s\n", d->name, why);
			CHECK(0);
		}
		CHECK(d->doc && d->doc[0]);
		if (i > 0)
			CHECK(strcmp(controller_config_at(i - 1)->name, d->name) < 0);
		CHECK(controller_config_find(d->name) == d);
	}
	CHECK(controller_config_at(controller_config_count()) == NULL);
	CHECK(controller_config_find("bogus") == NULL);
	const char *value, *source;
	CHECK_OK(controller_config_lookup(NULL, NULL, "max.message.bytes", &value, &source));
	CHECK_EQ_STR(value, "1049600");
	CHECK_EQ_STR(source, "default");
	CHECK_EQ_INT(controller_config_lookup(NULL, NULL, "bogus", &value, &source), RN_E_NOT_FOUND);
}

/* An image with one unfenced broker per entry of racks (ids 1..n). */
static struct meta_image *image_with_racks(const char *const *racks, int32_t n)
{
	struct meta_image *img;
	RN_ASSERT(meta_image_new(&img) == 0);
	for (int32_t id = 1; id <= n; id++) {
		struct meta_record r = { .type = META_REC_REGISTER_BROKER };
		r.u.broker.node_id = id;
		r.u.broker.broker_epoch = 1;
		strcpy(r.u.broker.host, "localhost");
		r.u.broker.port = 9000 + id;
		strcpy(r.u.broker.rack, racks[id - 1]);
		RN_ASSERT(meta_image_apply(img, (uint64_t)id, &r) == 0);
	}
	return img;
}

static uint32_t racks_of(const struct meta_record *rec, const char *const *racks)
{
	uint32_t distinct = 0;
	for (uint32_t j = 0; j < rec->u.partition.replica_count; j++) {
		bool seen = false;
		for (uint32_t k = 0; k < j; k++)
			seen = seen || strcmp(racks[rec->u.partition.replicas[k] - 1],
					      racks[rec->u.partition.replicas[j] - 1]) == 0;
		distinct += !seen;
	}
	return distinct;
}

TEST(placement_spreads_replicas_over_racks_and_balances_leaders)
{
	/* Racks given out of order on purpose: node ids alone would put
	 * neighbours on one rack. */
	static const char *const racks[6] = { "a", "a", "b", "b", "c", "c" };
	struct meta_image *img = image_with_racks(racks, 6);
	for (uint64_t random = 0; random < 12; random++) {
		struct create_topic_req req = { .name = "racked", .partitions = 12,
						.replication_factor = 3 };
		struct meta_record *recs;
		uint32_t count;
		CHECK_OK(controller_plan_create_topic(img, &req, topic_id, random * 0x100000001ull,
						      &recs, &count, NULL, 0));
		int leaders[7] = { 0 }, replicas[7] = { 0 };
		for (uint32_t i = 1; i < count; i++) {
			CHECK_EQ_INT(racks_of(&recs[i], racks), 3); /* one replica per rack */
			leaders[recs[i].u.partition.leader]++;
			for (uint32_t j = 0; j < 3; j++)
				replicas[recs[i].u.partition.replicas[j]]++;
		}
		for (int b = 1; b <= 6; b++) {
			CHECK_EQ_INT(leaders[b], 2);
			CHECK_EQ_INT(replicas[b], 6);
		}
		controller_records_free(recs, count);
	}
	meta_image_free(img);
}

TEST(placement_uses_every_rack_before_repeating_one)
{
	/* Three brokers on rack a, one on rack b: every partition of
	 * replication factor 2 still spans both racks. */
	static const char *const racks[4] = { "a", "a", "a", "b" };
	struct meta_image *img = image_with_racks(racks, 4);
	for (uint64_t random = 0; random < 8; random++) {
		struct create_topic_req req = { .name = "uneven", .partitions = 8,
						.replication_factor = 2 };
		struct meta_record *recs;
		uint32_t count;
		CHECK_OK(controller_plan_create_topic(img, &req, topic_id, random * 0x100000001ull,
						      &recs, &count, NULL, 0));
		int leaders[5] = { 0 };
		for (uint32_t i = 1; i < count; i++) {
			CHECK_EQ_INT(racks_of(&recs[i], racks), 2);
			leaders[recs[i].u.partition.leader]++;
		}
		for (int b = 1; b <= 4; b++)
			CHECK_EQ_INT(leaders[b], 2);
		controller_records_free(recs, count);
	}
	/* Replication factor 4 over 2 racks: both racks, no broker twice. */
	struct create_topic_req req = { .name = "all", .partitions = 4, .replication_factor = 4 };
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_plan_create_topic(img, &req, topic_id, 3, &recs, &count, NULL, 0));
	for (uint32_t i = 1; i < count; i++)
		CHECK_EQ_INT(racks_of(&recs[i], racks), 2);
	controller_records_free(recs, count);
	meta_image_free(img);
}

TEST(alter_configs_validates_and_applies)
{
	struct meta_image *img = image_with_brokers(2, 0);
	struct create_topic_req req = { .name = "cfg", .partitions = 1, .replication_factor = 2 };
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_plan_create_topic(img, &req, topic_id, 0, &recs, &count, NULL, 0));
	apply_all(img, recs, count);
	controller_records_free(recs, count);

	struct controller_config_change ch[2] = { { "retention.ms", "5000" },
						  { "min.insync.replicas", "2" } };
	char why[512] = "";
	CHECK_OK(controller_plan_alter_configs(img, "cfg", ch, 2, &recs, &count, why, sizeof(why)));
	CHECK_EQ_INT(count, 2);
	CHECK_EQ_INT(recs[0].type, META_REC_CONFIG);
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	const struct meta_topic *t = meta_image_topic_by_name(img, "cfg");
	CHECK_EQ_STR(meta_topic_config(t, "retention.ms"), "5000");
	CHECK_EQ_STR(meta_topic_config(t, "min.insync.replicas"), "2");

	/* Removing an override brings the default back. */
	struct controller_config_change rm = { "retention.ms", NULL };
	CHECK_OK(controller_plan_alter_configs(img, "cfg", &rm, 1, &recs, &count, NULL, 0));
	CHECK(recs[0].u.config.remove);
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	const char *value, *source;
	CHECK_OK(controller_config_lookup(img, t, "retention.ms", &value, &source));
	CHECK_EQ_STR(source, "default");

	/* min.insync.replicas above the replication factor is refused. */
	struct controller_config_change bad = { "min.insync.replicas", "3" };
	CHECK_EQ_INT(controller_plan_alter_configs(img, "cfg", &bad, 1, &recs, &count, why,
						   sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "min.insync.replicas") != NULL);
	CHECK(recs == NULL && count == 0);
	struct controller_config_change unknown = { "no.such.key", "1" };
	CHECK_EQ_INT(controller_plan_alter_configs(img, "cfg", &unknown, 1, &recs, &count, why,
						   sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "unknown topic config") != NULL);
	struct controller_config_change twice[2] = { { "segment.ms", "1" }, { "segment.ms", "2" } };
	CHECK_EQ_INT(controller_plan_alter_configs(img, "cfg", twice, 2, &recs, &count, why,
						   sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK_EQ_INT(controller_plan_alter_configs(img, "cfg", ch, 0, &recs, &count, NULL, 0),
		     RN_E_INVALID_CONFIG);
	CHECK_EQ_INT(controller_plan_alter_configs(img, "nope", ch, 1, &recs, &count, why,
						   sizeof(why)),
		     RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK(strstr(why, "\"nope\" does not exist") != NULL);
	meta_image_free(img);
}

TEST(lookup_prefers_topic_then_cluster_then_default)
{
	struct meta_image *img = image_with_brokers(3, 0);
	struct meta_config_entry cfg[1] = { { "retention.ms", "1000" } };
	struct create_topic_req req = { .name = "over", .partitions = 1, .replication_factor = 3,
					.configs = cfg, .config_count = 1 };
	struct meta_record *recs;
	uint32_t count;
	CHECK_OK(controller_plan_create_topic(img, &req, topic_id, 0, &recs, &count, NULL, 0));
	apply_all(img, recs, count);
	controller_records_free(recs, count);

	/* Cluster-wide defaults for a key the topic overrides and one it does not. */
	struct controller_config_change ch[2] = { { "retention.ms", "2000" },
						  { "segment.ms", "3000" } };
	char why[512] = "";
	CHECK_OK(controller_plan_alter_cluster_configs(img, ch, 2, &recs, &count, why, sizeof(why)));
	CHECK_EQ_INT(count, 2);
	for (uint32_t i = 0; i < count; i++) {
		CHECK_EQ_INT(recs[i].type, META_REC_CONFIG);
		CHECK(memcmp(recs[i].u.config.topic_id, (uint8_t[16]){ 0 }, 16) == 0);
		CHECK(!recs[i].u.config.remove);
	}
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	CHECK_EQ_INT(meta_image_cluster_config_count(img), 2);
	CHECK_EQ_STR(meta_image_cluster_config(img, "segment.ms"), "3000");

	const struct meta_topic *t = meta_image_topic_by_name(img, "over");
	const char *value, *source;
	CHECK_OK(controller_config_lookup(img, t, "retention.ms", &value, &source));
	CHECK_EQ_STR(value, "1000");
	CHECK_EQ_STR(source, "topic");
	CHECK_OK(controller_config_lookup(img, t, "segment.ms", &value, &source));
	CHECK_EQ_STR(value, "3000");
	CHECK_EQ_STR(source, "cluster");
	CHECK_OK(controller_config_lookup(img, t, "cleanup.policy", &value, &source));
	CHECK_EQ_STR(value, "delete");
	CHECK_EQ_STR(source, "default");
	/* Without a topic: the cluster's view. */
	CHECK_OK(controller_config_lookup(img, NULL, "retention.ms", &value, &source));
	CHECK_EQ_STR(value, "2000");
	CHECK_EQ_STR(source, "cluster");
	/* Without an image: only built-in defaults and the topic. */
	CHECK_OK(controller_config_lookup(NULL, t, "segment.ms", &value, &source));
	CHECK_EQ_STR(value, "604800000");
	CHECK_EQ_STR(source, "default");

	/* Removing the topic's override falls back to the cluster default,
	 * removing that to the built-in one. */
	struct controller_config_change rm = { "retention.ms", NULL };
	CHECK_OK(controller_plan_alter_configs(img, "over", &rm, 1, &recs, &count, NULL, 0));
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	t = meta_image_topic_by_name(img, "over");
	CHECK_OK(controller_config_lookup(img, t, "retention.ms", &value, &source));
	CHECK_EQ_STR(value, "2000");
	CHECK_EQ_STR(source, "cluster");
	CHECK_OK(controller_plan_alter_cluster_configs(img, &rm, 1, &recs, &count, NULL, 0));
	CHECK(recs[0].u.config.remove);
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	CHECK_OK(controller_config_lookup(img, t, "retention.ms", &value, &source));
	CHECK_EQ_STR(value, "604800000");
	CHECK_EQ_STR(source, "default");
	CHECK_EQ_INT(meta_image_cluster_config_count(img), 1);
	meta_image_free(img);
}

TEST(alter_cluster_configs_refuses_bad_changes)
{
	struct meta_image *img = image_with_brokers(1, 0);
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	char why[512] = "";
	struct controller_config_change bad = { "cleanup.policy", "sometimes" };
	CHECK_EQ_INT(controller_plan_alter_cluster_configs(img, &bad, 1, &recs, &count, why,
							   sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "cleanup.policy") != NULL);
	CHECK(strstr(why, "delete, compact") != NULL);
	CHECK(recs == NULL && count == 0);
	struct controller_config_change unknown = { "retention.hours", "1" };
	CHECK_EQ_INT(controller_plan_alter_cluster_configs(img, &unknown, 1, &recs, &count, why,
							   sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "unknown topic config \"retention.hours\"") != NULL);
	/* Deleting an unknown key is refused too: it names no setting. */
	struct controller_config_change del_unknown = { "retention.hours", NULL };
	CHECK_EQ_INT(controller_plan_alter_cluster_configs(img, &del_unknown, 1, &recs, &count,
							   why, sizeof(why)),
		     RN_E_INVALID_CONFIG);
	/* min.insync.replicas: no topic, so any factor up to the largest. */
	struct controller_config_change isr_ok = { "min.insync.replicas", "2" };
	CHECK_OK(controller_plan_alter_cluster_configs(img, &isr_ok, 1, &recs, &count, NULL, 0));
	controller_records_free(recs, count);
	char big[16];
	snprintf(big, sizeof(big), "%u", RN_MAX_REPLICATION_FACTOR + 1);
	struct controller_config_change isr_bad = { "min.insync.replicas", big };
	CHECK_EQ_INT(controller_plan_alter_cluster_configs(img, &isr_bad, 1, &recs, &count, why,
							   sizeof(why)),
		     RN_E_INVALID_CONFIG);
	CHECK(strstr(why, "min.insync.replicas") != NULL);
	CHECK_EQ_INT(controller_plan_alter_cluster_configs(img, &bad, 0, &recs, &count, NULL, 0),
		     RN_E_INVALID_CONFIG);
	/* Deleting a default the cluster does not set is fine and harmless. */
	struct controller_config_change rm = { "retention.ms", NULL };
	CHECK_OK(controller_plan_alter_cluster_configs(img, &rm, 1, &recs, &count, NULL, 0));
	apply_all(img, recs, count);
	controller_records_free(recs, count);
	CHECK_EQ_INT(meta_image_cluster_config_count(img), 0);
	meta_image_free(img);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
