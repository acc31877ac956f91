/* test_snapshot.c: unit tests of the new metadata records (codec and image) and of image snapshots. */
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "controller/metadata.h"
#include "test/unit/harness.h"
#include "wire/meta_codec.h"

static int round_trip(const struct meta_record *in, struct meta_record *out)
{
	uint8_t *buf;
	size_t len;
	int rc = meta_record_encode(in, &buf, &len);
	if (rc != 0)
		return rc;
	rc = meta_record_decode(buf, len, out);
	free(buf);
	return rc;
}

static void make_id(uint8_t id[16], uint32_t n)
{
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(n * 31 + (uint32_t)i + 1);
	/* Unique for every n below 2^16. */
	id[0] = (uint8_t)(n >> 8);
	id[1] = (uint8_t)n;
}

static struct meta_record broker_rec(int32_t id, int64_t epoch, const char *rack, bool fenced)
{
	struct meta_record r;
	memset(&r, 0, sizeof(r));
	r.type = META_REC_REGISTER_BROKER;
	r.u.broker.node_id = id;
	r.u.broker.broker_epoch = epoch;
	snprintf(r.u.broker.host, sizeof(r.u.broker.host), "node%d.example", id);
	r.u.broker.port = 9000 + id;
	make_id(r.u.broker.incarnation_id, (uint32_t)(id * 7 + epoch));
	strcpy(r.u.broker.rack, rack);
	r.u.broker.endpoint_count = 2;
	strcpy(r.u.broker.endpoints[0].name, "CLIENT");
	strcpy(r.u.broker.endpoints[0].host, r.u.broker.host);
	r.u.broker.endpoints[0].port = 9000 + id;
	strcpy(r.u.broker.endpoints[1].name, "CONTROLLER");
	strcpy(r.u.broker.endpoints[1].host, "10.0.0.1");
	r.u.broker.endpoints[1].port = 9500 + id;
	r.u.broker.fenced = fenced;
	return r;
}

TEST(round_trip_register_broker_every_field)
{
	struct meta_record in = broker_rec(4, 77, "rack-b", true), out;
	in.u.broker.registered_index = 123456789012ull;
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_REGISTER_BROKER);
	CHECK_EQ_INT(out.u.broker.node_id, 4);
	CHECK_EQ_INT(out.u.broker.broker_epoch, 77);
	CHECK_EQ_STR(out.u.broker.host, "node4.example");
	CHECK_EQ_INT(out.u.broker.port, 9004);
	CHECK(memcmp(out.u.broker.incarnation_id, in.u.broker.incarnation_id, 16) == 0);
	CHECK_EQ_STR(out.u.broker.rack, "rack-b");
	CHECK_EQ_INT(out.u.broker.endpoint_count, 2);
	CHECK_EQ_STR(out.u.broker.endpoints[1].name, "CONTROLLER");
	CHECK_EQ_STR(out.u.broker.endpoints[1].host, "10.0.0.1");
	CHECK_EQ_INT(out.u.broker.endpoints[1].port, 9504);
	CHECK(out.u.broker.fenced);
	CHECK_EQ_INT(out.u.broker.registered_index, 123456789012ull);

	in.u.broker.endpoint_count = META_MAX_ENDPOINTS + 1;
	uint8_t *buf;
	size_t len;
	CHECK_EQ_INT(meta_record_encode(&in, &buf, &len), RN_E_INVAL);
}

TEST(round_trip_partition_change_and_config)
{
	struct meta_record in, out;
	memset(&in, 0, sizeof(in));
	in.type = META_REC_PARTITION_CHANGE;
	make_id(in.u.partition_change.topic_id, 9);
	in.u.partition_change.partition = 17;
	in.u.partition_change.has_leader = true;
	in.u.partition_change.leader = META_NO_LEADER;
	in.u.partition_change.has_isr = true;
	in.u.partition_change.isr_count = 2;
	in.u.partition_change.isr[0] = 3;
	in.u.partition_change.isr[1] = 1;
	in.u.partition_change.leader_epoch = 5;
	in.u.partition_change.partition_epoch = 9;
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_PARTITION_CHANGE);
	CHECK(memcmp(out.u.partition_change.topic_id, in.u.partition_change.topic_id, 16) == 0);
	CHECK_EQ_INT(out.u.partition_change.partition, 17);
	CHECK(out.u.partition_change.has_leader);
	CHECK_EQ_INT(out.u.partition_change.leader, -1);
	CHECK(out.u.partition_change.has_isr);
	CHECK_EQ_INT(out.u.partition_change.isr_count, 2);
	CHECK_EQ_INT(out.u.partition_change.isr[0], 3);
	CHECK_EQ_INT(out.u.partition_change.isr[1], 1);
	CHECK_EQ_INT(out.u.partition_change.leader_epoch, 5);
	CHECK_EQ_INT(out.u.partition_change.partition_epoch, 9);

	/* Absent fields stay absent. */
	in.u.partition_change.has_leader = false;
	in.u.partition_change.has_isr = false;
	CHECK_OK(round_trip(&in, &out));
	CHECK(!out.u.partition_change.has_leader);
	CHECK(!out.u.partition_change.has_isr);
	CHECK_EQ_INT(out.u.partition_change.isr_count, 0);

	memset(&in, 0, sizeof(in));
	in.type = META_REC_CONFIG;
	make_id(in.u.config.topic_id, 2);
	strcpy(in.u.config.name, "retention.ms");
	strcpy(in.u.config.value, "3600000");
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_CONFIG);
	CHECK_EQ_STR(out.u.config.name, "retention.ms");
	CHECK_EQ_STR(out.u.config.value, "3600000");
	CHECK(!out.u.config.remove);
	in.u.config.remove = true;
	CHECK_OK(round_trip(&in, &out));
	CHECK(out.u.config.remove);
	CHECK_EQ_STR(meta_record_type_name(META_REC_PARTITION_CHANGE), "PARTITION_CHANGE");
	CHECK_EQ_STR(meta_record_type_name(META_REC_CONFIG), "CONFIG");
}

/* ---- applying the new records ------------------------------------------------ */

static struct meta_image *image_one_partition(uint8_t tid[16], uint64_t *idx)
{
	struct meta_image *img;
	RN_ASSERT(meta_image_new(&img) == 0);
	*idx = 0;
	for (int32_t id = 1; id <= 3; id++) {
		struct meta_record b = broker_rec(id, 1, "", false);
		RN_ASSERT(meta_image_apply(img, ++*idx, &b) == 0);
	}
	struct meta_record t;
	memset(&t, 0, sizeof(t));
	t.type = META_REC_TOPIC;
	strcpy(t.u.topic.name, "t");
	make_id(tid, 1);
	memcpy(t.u.topic.topic_id, tid, 16);
	RN_ASSERT(meta_image_apply(img, ++*idx, &t) == 0);
	struct meta_record p;
	memset(&p, 0, sizeof(p));
	p.type = META_REC_PARTITION;
	memcpy(p.u.partition.topic_id, tid, 16);
	p.u.partition.replica_count = p.u.partition.isr_count = 3;
	for (int i = 0; i < 3; i++)
		p.u.partition.replicas[i] = p.u.partition.isr[i] = i + 1;
	p.u.partition.leader = 1;
	RN_ASSERT(meta_image_apply(img, ++*idx, &p) == 0);
	return img;
}

static struct meta_record change(const uint8_t tid[16], int32_t leader_epoch, int32_t pe)
{
	struct meta_record c;
	memset(&c, 0, sizeof(c));
	c.type = META_REC_PARTITION_CHANGE;
	memcpy(c.u.partition_change.topic_id, tid, 16);
	c.u.partition_change.leader_epoch = leader_epoch;
	c.u.partition_change.partition_epoch = pe;
	return c;
}

TEST(partition_change_applies_only_present_fields)
{
	uint8_t tid[16];
	uint64_t idx;
	struct meta_image *img = image_one_partition(tid, &idx);
	const struct meta_topic *t = meta_image_topic_by_name(img, "t");
	const struct meta_partition *p = meta_topic_partition(t, 0);

	/* Shrink the ISR only: the leader stays. */
	struct meta_record c = change(tid, 0, 1);
	c.u.partition_change.has_isr = true;
	c.u.partition_change.isr_count = 2;
	c.u.partition_change.isr[0] = 1;
	c.u.partition_change.isr[1] = 3;
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	CHECK_EQ_INT(p->isr_count, 2);
	CHECK_EQ_INT(p->isr[1], 3);
	CHECK_EQ_INT(p->leader, 1);
	CHECK_EQ_INT(p->partition_epoch, 1);
	CHECK_EQ_INT(p->leader_epoch, 0);

	/* A new leader without a higher leader epoch is refused. */
	c = change(tid, 0, 2);
	c.u.partition_change.has_leader = true;
	c.u.partition_change.leader = 3;
	CHECK_EQ_INT(meta_image_apply(img, ++idx, &c), RN_E_CORRUPT_STATE);
	/* A leader outside the ISR is refused. */
	c = change(tid, 1, 2);
	c.u.partition_change.has_leader = true;
	c.u.partition_change.leader = 2;
	CHECK_EQ_INT(meta_image_apply(img, idx, &c), RN_E_CORRUPT_STATE);
	/* An ISR member that is not a replica is refused. */
	c = change(tid, 0, 2);
	c.u.partition_change.has_isr = true;
	c.u.partition_change.isr_count = 1;
	c.u.partition_change.isr[0] = 9;
	CHECK_EQ_INT(meta_image_apply(img, idx, &c), RN_E_CORRUPT_STATE);
	CHECK_EQ_INT(p->partition_epoch, 1); /* unchanged by the refusals */

	c = change(tid, 1, 2);
	c.u.partition_change.has_leader = true;
	c.u.partition_change.leader = 3;
	CHECK_OK(meta_image_apply(img, idx, &c));
	CHECK_EQ_INT(p->leader, 3);
	CHECK_EQ_INT(p->leader_epoch, 1);
	CHECK_EQ_INT(p->isr_count, 2);

	/* A change computed from an older partition epoch is ignored. */
	c = change(tid, 2, 2);
	c.u.partition_change.has_leader = true;
	c.u.partition_change.leader = 1;
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	CHECK_EQ_INT(p->leader, 3);
	CHECK_EQ_INT(meta_image_applied_index(img), idx);
	/* So is a change for a topic deleted meanwhile. */
	make_id(c.u.partition_change.topic_id, 99);
	c.u.partition_change.partition_epoch = 50;
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	/* A partition beyond the topic's is corrupt. */
	c = change(tid, 1, 3);
	c.u.partition_change.partition = 1;
	CHECK_EQ_INT(meta_image_apply(img, ++idx, &c), RN_E_CORRUPT_STATE);
	meta_image_free(img);
}

TEST(config_record_sets_replaces_and_removes)
{
	uint8_t tid[16];
	uint64_t idx;
	struct meta_image *img = image_one_partition(tid, &idx);
	const struct meta_topic *t = meta_image_topic_by_name(img, "t");
	struct meta_record c;
	memset(&c, 0, sizeof(c));
	c.type = META_REC_CONFIG;
	memcpy(c.u.config.topic_id, tid, 16);
	strcpy(c.u.config.name, "retention.ms");
	strcpy(c.u.config.value, "1000");
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	CHECK_EQ_STR(meta_topic_config(t, "retention.ms"), "1000");
	strcpy(c.u.config.value, "2000");
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	CHECK_EQ_STR(meta_topic_config(t, "retention.ms"), "2000");
	CHECK_EQ_INT(t->config_count, 1);
	c.u.config.remove = true;
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	CHECK(meta_topic_config(t, "retention.ms") == NULL);
	CHECK_EQ_INT(t->config_count, 0);
	CHECK_OK(meta_image_apply(img, ++idx, &c)); /* removing again: nothing */

	/* Overrides beyond the limit are corrupt. */
	c.u.config.remove = false;
	for (uint32_t i = 0; i < RN_MAX_CONFIGS_PER_TOPIC; i++) {
		snprintf(c.u.config.name, sizeof(c.u.config.name), "k%u", i);
		CHECK_OK(meta_image_apply(img, ++idx, &c));
	}
	strcpy(c.u.config.name, "one.more");
	CHECK_EQ_INT(meta_image_apply(img, ++idx, &c), RN_E_CORRUPT_STATE);
	c.u.config.name[0] = 0;
	CHECK_EQ_INT(meta_image_apply(img, idx, &c), RN_E_CORRUPT_STATE);
	meta_image_free(img);
}

TEST(register_record_keeps_rack_endpoints_and_registration_index)
{
	struct meta_image *img;
	CHECK_OK(meta_image_new(&img));
	struct meta_record b = broker_rec(5, 3, "eu-1a", true);
	CHECK_OK(meta_image_apply(img, 40, &b));
	const struct meta_broker *mb = meta_image_broker(img, 5);
	CHECK(mb != NULL);
	CHECK(mb->fenced);
	CHECK_EQ_STR(mb->rack, "eu-1a");
	CHECK_EQ_INT(mb->endpoint_count, 2);
	CHECK_EQ_INT(mb->registered_index, 40);
	CHECK(memcmp(mb->incarnation_id, b.u.broker.incarnation_id, 16) == 0);
	/* A log record may not claim a registration index in the future. */
	b.u.broker.registered_index = 100;
	CHECK_EQ_INT(meta_image_apply(img, 41, &b), RN_E_CORRUPT_STATE);
	b.u.broker.registered_index = 0;
	b.u.broker.endpoints[1].port = 0;
	CHECK_EQ_INT(meta_image_apply(img, 41, &b), RN_E_CORRUPT_STATE);
	meta_image_free(img);
}

/* ---- snapshots ----------------------------------------------------------------- */

/* An image with brokers on racks, many topics with configs, and changed partitions. */
static struct meta_image *big_image(uint32_t topics)
{
	struct meta_image *img;
	RN_ASSERT(meta_image_new(&img) == 0);
	uint64_t idx = 0;
	struct meta_record c = { .type = META_REC_CLUSTER };
	strcpy(c.u.cluster.cluster_id, "snapshot-cluster");
	RN_ASSERT(meta_image_apply(img, ++idx, &c) == 0);
	static const char *racks[] = { "a", "b", "c", "" };
	for (int32_t id = 1; id <= 9; id++) {
		struct meta_record b = broker_rec(id, id * 3, racks[id % 4], id % 3 == 0);
		RN_ASSERT(meta_image_apply(img, ++idx, &b) == 0);
	}
	for (uint32_t n = 0; n < topics; n++) {
		struct meta_config_entry cfg[3] = { { "retention.ms", "" },
						    { "cleanup.policy", "compact" },
						    { "segment.bytes", "1048576" } };
		snprintf(cfg[0].value, sizeof(cfg[0].value), "%u", 1000 + n);
		struct meta_record t;
		memset(&t, 0, sizeof(t));
		t.type = META_REC_TOPIC;
		snprintf(t.u.topic.name, sizeof(t.u.topic.name), "topic-%04u", n);
		make_id(t.u.topic.topic_id, n + 100);
		t.u.topic.configs = cfg;
		t.u.topic.config_count = n % 4;
		RN_ASSERT(meta_image_apply(img, ++idx, &t) == 0);
		for (int32_t p = 0; p < (int32_t)(n % 5) + 1; p++) {
			struct meta_record pr;
			memset(&pr, 0, sizeof(pr));
			pr.type = META_REC_PARTITION;
			memcpy(pr.u.partition.topic_id, t.u.topic.topic_id, 16);
			pr.u.partition.partition = p;
			pr.u.partition.replica_count = 3;
			for (int32_t r = 0; r < 3; r++)
				pr.u.partition.replicas[r] = 1 + (p + r + (int32_t)n) % 9;
			pr.u.partition.isr_count = 2;
			memcpy(pr.u.partition.isr, pr.u.partition.replicas, 2 * sizeof(int32_t));
			pr.u.partition.leader = pr.u.partition.replicas[p % 2];
			pr.u.partition.leader_epoch = p;
			pr.u.partition.partition_epoch = p * 2;
			RN_ASSERT(meta_image_apply(img, ++idx, &pr) == 0);
		}
	}
	RN_ASSERT(meta_image_skip(img, idx + 5) == 0);
	return img;
}

static int snapshot_round_trip(const struct meta_image *img, struct meta_image **out)
{
	uint8_t *buf;
	size_t len;
	int rc = meta_snapshot_encode(img, &buf, &len);
	if (rc != 0)
		return rc;
	rc = meta_snapshot_decode(buf, len, out);
	free(buf);
	return rc;
}

TEST(snapshot_rebuilds_an_equal_image)
{
	struct meta_image *img = big_image(300), *copy;
	CHECK_OK(snapshot_round_trip(img, &copy));
	CHECK(meta_image_equal(img, copy));
	CHECK_EQ_INT(meta_image_applied_index(copy), meta_image_applied_index(img));
	CHECK_EQ_STR(meta_image_cluster_id(copy), "snapshot-cluster");
	CHECK_EQ_INT(meta_image_topic_count(copy), 300);
	const struct meta_broker *b = meta_image_broker(copy, 6);
	CHECK(b != NULL && b->fenced);
	CHECK_EQ_STR(b->rack, "c");
	CHECK_EQ_INT(b->registered_index, meta_image_broker(img, 6)->registered_index);
	const struct meta_topic *t = meta_image_topic_by_name(copy, "topic-0007");
	CHECK(t != NULL);
	CHECK_EQ_INT(t->config_count, 3);
	CHECK_EQ_STR(meta_topic_config(t, "retention.ms"), "1007");
	CHECK_EQ_INT(t->partition_count, 3);
	CHECK_EQ_INT(meta_topic_partition(t, 2)->partition_epoch, 4);

	/* The copy goes on applying records like the original. */
	struct meta_record rm = { .type = META_REC_REMOVE_TOPIC };
	memcpy(rm.u.remove_topic.topic_id, t->id, 16);
	uint64_t next = meta_image_applied_index(copy) + 1;
	CHECK_OK(meta_image_apply(copy, next, &rm));
	CHECK(!meta_image_equal(img, copy));
	CHECK_OK(meta_image_apply(img, next, &rm));
	CHECK(meta_image_equal(img, copy));
	meta_image_free(copy);
	meta_image_free(img);
}

TEST(cluster_defaults_apply_and_survive_a_snapshot)
{
	struct meta_image *img = big_image(3), *copy;
	uint64_t idx = meta_image_applied_index(img);
	struct meta_record c;
	memset(&c, 0, sizeof(c));
	c.type = META_REC_CONFIG; /* all-zero topic id: a cluster-wide default */
	strcpy(c.u.config.name, "retention.ms");
	strcpy(c.u.config.value, "5000");
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	strcpy(c.u.config.name, "cleanup.policy");
	strcpy(c.u.config.value, "compact");
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	strcpy(c.u.config.value, "compact,delete"); /* replaces, does not add */
	CHECK_OK(meta_image_apply(img, ++idx, &c));
	CHECK_EQ_INT(meta_image_cluster_config_count(img), 2);
	CHECK_EQ_STR(meta_image_cluster_config(img, "cleanup.policy"), "compact,delete");
	/* Topics keep their own overrides apart from the defaults. */
	const struct meta_topic *t = meta_image_topic_by_name(img, "topic-0001");
	CHECK_EQ_STR(meta_topic_config(t, "retention.ms"), "1001");

	CHECK_OK(snapshot_round_trip(img, &copy));
	CHECK(meta_image_equal(img, copy));
	CHECK_EQ_INT(meta_image_cluster_config_count(copy), 2);
	CHECK_EQ_STR(meta_image_cluster_config(copy, "retention.ms"), "5000");
	CHECK_EQ_STR(meta_image_cluster_config_at(copy, 1)->name, "cleanup.policy");

	/* Removing one default makes the images differ until both apply it. */
	c.u.config.remove = true;
	uint64_t next = meta_image_applied_index(copy) + 1;
	CHECK_OK(meta_image_apply(copy, next, &c));
	CHECK(meta_image_cluster_config(copy, "cleanup.policy") == NULL);
	CHECK(!meta_image_equal(img, copy));
	CHECK_OK(meta_image_apply(img, next, &c));
	CHECK(meta_image_equal(img, copy));
	meta_image_free(copy);

	/* Defaults beyond the limit are corrupt. */
	c.u.config.remove = false;
	idx = meta_image_applied_index(img);
	while (meta_image_cluster_config_count(img) < META_MAX_CLUSTER_CONFIGS) {
		snprintf(c.u.config.name, sizeof(c.u.config.name), "k%u",
			 meta_image_cluster_config_count(img));
		CHECK_OK(meta_image_apply(img, ++idx, &c));
	}
	strcpy(c.u.config.name, "one.more");
	CHECK_EQ_INT(meta_image_apply(img, ++idx, &c), RN_E_CORRUPT_STATE);
	meta_image_free(img);
}

/* True when walking the image yields a PRODUCER_IDS record. */
static bool walk_has_producer_ids(const struct meta_image *img)
{
	struct meta_image_pos pos = { 0 };
	struct meta_record rec;
	bool found = false;
	while (meta_image_records_next(img, &pos, &rec) == 1) {
		found |= rec.type == META_REC_PRODUCER_IDS;
		meta_record_free_contents(&rec);
	}
	return found;
}

TEST(producer_ids_survive_a_snapshot)
{
	struct meta_image *img = big_image(4), *copy;
	/* An image that never handed out an id snapshots as before producer
	 * ids existed, and reads back with none handed out. */
	CHECK(!walk_has_producer_ids(img));
	CHECK_OK(snapshot_round_trip(img, &copy));
	CHECK_EQ_INT(meta_image_next_producer_id(copy), 0);
	CHECK(meta_image_equal(img, copy));
	meta_image_free(copy);

	uint64_t idx = meta_image_applied_index(img);
	struct meta_record p = { .type = META_REC_PRODUCER_IDS };
	p.u.producer_ids.next_producer_id = 41;
	CHECK_OK(meta_image_apply(img, ++idx, &p));
	p.u.producer_ids.next_producer_id = 42;
	CHECK_OK(meta_image_apply(img, ++idx, &p));
	CHECK(walk_has_producer_ids(img));
	CHECK_OK(snapshot_round_trip(img, &copy));
	CHECK(meta_image_equal(img, copy));
	CHECK_EQ_INT(meta_image_next_producer_id(copy), 42);
	CHECK_EQ_INT(meta_image_topic_count(copy), 4);

	/* The rebuilt image keeps refusing ids that go backwards, and goes on
	 * like the original. */
	p.u.producer_ids.next_producer_id = 42;
	CHECK_EQ_INT(meta_image_apply(copy, ++idx, &p), RN_E_CORRUPT_STATE);
	p.u.producer_ids.next_producer_id = 43;
	CHECK_OK(meta_image_apply(copy, idx, &p));
	CHECK(!meta_image_equal(img, copy));
	CHECK_OK(meta_image_apply(img, idx, &p));
	CHECK(meta_image_equal(img, copy));
	meta_image_free(copy);
	meta_image_free(img);
}

TEST(snapshot_of_an_empty_image)
{
	struct meta_image *img, *copy;
	CHECK_OK(meta_image_new(&img));
	CHECK_OK(snapshot_round_trip(img, &copy));
	CHECK(meta_image_equal(img, copy));
	CHECK_EQ_INT(meta_image_topic_count(copy), 0);
	meta_image_free(copy);
	meta_image_free(img);
}

TEST(equal_notices_every_kind_of_difference)
{
	struct meta_image *a = big_image(5), *b = big_image(5);
	CHECK(meta_image_equal(a, b));
	uint64_t idx = meta_image_applied_index(b);
	struct meta_record f = { .type = META_REC_FENCE_BROKER };
	f.u.fence.node_id = 1;
	f.u.fence.fenced = true;
	CHECK_OK(meta_image_apply(b, ++idx, &f));
	CHECK(!meta_image_equal(a, b));
	CHECK_OK(meta_image_skip(a, idx));
	CHECK(!meta_image_equal(a, b));
	f.u.fence.fenced = false;
	CHECK_OK(meta_image_apply(b, ++idx, &f));
	CHECK_OK(meta_image_skip(a, idx));
	CHECK(meta_image_equal(a, b));
	meta_image_free(a);
	meta_image_free(b);
}

TEST(snapshot_decode_refuses_damage)
{
	struct meta_image *img = big_image(20), *copy = NULL;
	uint8_t *buf;
	size_t len;
	CHECK_OK(meta_snapshot_encode(img, &buf, &len));
	CHECK(memcmp(buf, "RNMS", 4) == 0);
	/* Every single flipped byte is caught (by the CRC or the header). */
	for (size_t i = 0; i < len; i += 97) {
		buf[i] ^= 0x40;
		CHECK_EQ_INT(meta_snapshot_decode(buf, len, &copy), RN_E_CORRUPT_STATE);
		CHECK(copy == NULL);
		buf[i] ^= 0x40;
	}
	CHECK_EQ_INT(meta_snapshot_decode(buf, len - 1, &copy), RN_E_CORRUPT_STATE);
	CHECK_EQ_INT(meta_snapshot_decode(buf, 10, &copy), RN_E_CORRUPT_STATE);
	CHECK_EQ_INT(meta_snapshot_decode(NULL, 0, &copy), RN_E_CORRUPT_STATE);
	CHECK_OK(meta_snapshot_decode(buf, len, &copy));
	CHECK(meta_image_equal(img, copy));
	meta_image_free(copy);
	free(buf);
	meta_image_free(img);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
