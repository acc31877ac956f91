/* test_metadata.c: unit tests of the metadata image (applying records). */
#include "common/errors.h"
#include "controller/metadata.h"
#include "test/unit/harness.h"

static struct meta_record cluster_rec(const char *id)
{
	struct meta_record r = { .type = META_REC_CLUSTER };
	snprintf(r.u.cluster.cluster_id, sizeof(r.u.cluster.cluster_id), "%s", id);
	return r;
}

static struct meta_record broker_rec(int32_t node, int64_t epoch, const char *host, int32_t port)
{
	struct meta_record r = { .type = META_REC_REGISTER_BROKER };
	r.u.broker.node_id = node;
	r.u.broker.broker_epoch = epoch;
	snprintf(r.u.broker.host, sizeof(r.u.broker.host), "%s", host);
	r.u.broker.port = port;
	return r;
}

static struct meta_record topic_rec(const char *name, uint8_t id_byte)
{
	struct meta_record r = { .type = META_REC_TOPIC };
	snprintf(r.u.topic.name, sizeof(r.u.topic.name), "%s", name);
	memset(r.u.topic.topic_id, id_byte, sizeof(r.u.topic.topic_id));
	return r;
}

static struct meta_record part_rec(uint8_t id_byte, int32_t p, int32_t leader)
{
	struct meta_record r = { .type = META_REC_PARTITION };
	memset(r.u.partition.topic_id, id_byte, sizeof(r.u.partition.topic_id));
	r.u.partition.partition = p;
	r.u.partition.replica_count = 1;
	r.u.partition.replicas[0] = leader;
	r.u.partition.isr_count = 1;
	r.u.partition.isr[0] = leader;
	r.u.partition.leader = leader;
	return r;
}

static struct meta_record remove_rec(uint8_t id_byte)
{
	struct meta_record r = { .type = META_REC_REMOVE_TOPIC };
	memset(r.u.remove_topic.topic_id, id_byte, sizeof(r.u.remove_topic.topic_id));
	return r;
}

TEST(apply_builds_image)
{
	struct meta_image *img;
	CHECK_OK(meta_image_new(&img));
	CHECK_EQ_STR(meta_image_cluster_id(img), "");
	struct meta_record r = cluster_rec("abc123");
	CHECK_OK(meta_image_apply(img, 1, &r));
	CHECK_OK(meta_image_skip(img, 2));
	r = broker_rec(2, 10, "host2", 9092);
	CHECK_OK(meta_image_apply(img, 3, &r));
	r = broker_rec(1, 10, "host1", 9092);
	CHECK_OK(meta_image_apply(img, 4, &r));
	r = topic_rec("zeta", 1);
	struct meta_config_entry cfg = { "retention.ms", "1000" };
	r.u.topic.configs = &cfg;
	r.u.topic.config_count = 1;
	CHECK_OK(meta_image_apply(img, 5, &r));
	r = part_rec(1, 0, 1);
	CHECK_OK(meta_image_apply(img, 6, &r));
	r = part_rec(1, 1, 2);
	CHECK_OK(meta_image_apply(img, 7, &r));
	r = topic_rec("alpha", 2);
	CHECK_OK(meta_image_apply(img, 8, &r));

	CHECK_EQ_STR(meta_image_cluster_id(img), "abc123");
	CHECK_EQ_INT(meta_image_applied_index(img), 8);
	CHECK_EQ_INT(meta_image_broker_count(img), 2);
	CHECK_EQ_INT(meta_image_broker_at(img, 0)->node_id, 1);
	CHECK_EQ_STR(meta_image_broker(img, 2)->host, "host2");
	CHECK(meta_image_broker(img, 3) == NULL);
	CHECK_EQ_INT(meta_image_topic_count(img), 2);
	CHECK_EQ_STR(meta_image_topic_at(img, 0)->name, "alpha");
	CHECK_EQ_STR(meta_image_topic_at(img, 1)->name, "zeta");
	const struct meta_topic *t = meta_image_topic_by_name(img, "zeta");
	CHECK(t != NULL);
	uint8_t id[16];
	memset(id, 1, sizeof(id));
	CHECK(meta_image_topic_by_id(img, id) == t);
	CHECK_EQ_INT(t->partition_count, 2);
	CHECK_EQ_INT(meta_topic_partition(t, 1)->leader, 2);
	CHECK(meta_topic_partition(t, 2) == NULL);
	CHECK_EQ_STR(meta_topic_config(t, "retention.ms"), "1000");
	CHECK(meta_topic_config(t, "segment.ms") == NULL);
	/* The image copied the configs: the caller's array may go away. */
	CHECK(t->configs != &cfg);
	meta_image_free(img);
}

TEST(apply_refuses_inconsistent_records)
{
	struct meta_image *img;
	CHECK_OK(meta_image_new(&img));
	struct meta_record r = part_rec(9, 0, 1);
	CHECK_EQ_INT(meta_image_apply(img, 1, &r), RN_E_CORRUPT_STATE); /* unknown topic */
	CHECK_EQ_INT(meta_image_applied_index(img), 0);
	r = topic_rec("t", 9);
	CHECK_OK(meta_image_apply(img, 1, &r));
	CHECK_EQ_INT(meta_image_apply(img, 1, &r), RN_E_INVAL); /* index not above applied */
	CHECK_EQ_INT(meta_image_apply(img, 2, &r), RN_E_CORRUPT_STATE); /* duplicate */
	r = topic_rec("other", 9);
	CHECK_EQ_INT(meta_image_apply(img, 2, &r), RN_E_CORRUPT_STATE); /* id in use */
	r = topic_rec("bad name", 3);
	CHECK_EQ_INT(meta_image_apply(img, 2, &r), RN_E_CORRUPT_STATE);
	r = topic_rec("zero", 0);
	CHECK_EQ_INT(meta_image_apply(img, 2, &r), RN_E_CORRUPT_STATE);
	r = part_rec(9, 1, 1);
	CHECK_EQ_INT(meta_image_apply(img, 2, &r), RN_E_CORRUPT_STATE); /* gap */
	r = part_rec(9, 0, 1);
	r.u.partition.leader = 5;
	CHECK_EQ_INT(meta_image_apply(img, 2, &r), RN_E_CORRUPT_STATE); /* leader not replica */
	r = part_rec(9, 0, 1);
	r.u.partition.isr[0] = 4;
	CHECK_EQ_INT(meta_image_apply(img, 2, &r), RN_E_CORRUPT_STATE); /* isr not replica */
	r = part_rec(9, 0, 1);
	r.u.partition.replica_count = 2;
	r.u.partition.replicas[1] = 1;
	CHECK_EQ_INT(meta_image_apply(img, 2, &r), RN_E_CORRUPT_STATE); /* duplicate replica */
	r = part_rec(9, 0, 1);
	r.u.partition.leader_epoch = 3;
	CHECK_OK(meta_image_apply(img, 2, &r));
	r.u.partition.leader_epoch = 2;
	CHECK_EQ_INT(meta_image_apply(img, 3, &r), RN_E_CORRUPT_STATE); /* epoch backwards */
	r = cluster_rec("one");
	CHECK_OK(meta_image_apply(img, 3, &r));
	r = cluster_rec("two");
	CHECK_EQ_INT(meta_image_apply(img, 4, &r), RN_E_CORRUPT_STATE);
	struct meta_record f = { .type = META_REC_FENCE_BROKER };
	f.u.fence.node_id = 1;
	CHECK_EQ_INT(meta_image_apply(img, 4, &f), RN_E_CORRUPT_STATE); /* unknown broker */
	r = broker_rec(1, 5, "", 9092);
	CHECK_EQ_INT(meta_image_apply(img, 4, &r), RN_E_CORRUPT_STATE);
	r = broker_rec(1, 5, "h", 70000);
	CHECK_EQ_INT(meta_image_apply(img, 4, &r), RN_E_CORRUPT_STATE);
	struct meta_record bogus = { .type = (enum meta_record_type)99 };
	CHECK_EQ_INT(meta_image_apply(img, 4, &bogus), RN_E_INVAL);
	/* Nothing above changed the image. */
	CHECK_EQ_INT(meta_image_topic_count(img), 1);
	CHECK_EQ_INT(meta_image_topic_by_name(img, "t")->partition_count, 1);
	CHECK_EQ_INT(meta_image_topic_by_name(img, "t")->partitions[0].leader_epoch, 3);
	CHECK_EQ_STR(meta_image_cluster_id(img), "one");
	CHECK_EQ_INT(meta_image_applied_index(img), 3);
	meta_image_free(img);
}

TEST(remove_topic_forgets_it_and_allows_recreate)
{
	struct meta_image *img;
	CHECK_OK(meta_image_new(&img));
	for (uint8_t i = 1; i <= 5; i++) {
		char name[8];
		snprintf(name, sizeof(name), "t%u", i);
		struct meta_record r = topic_rec(name, i);
		CHECK_OK(meta_image_apply(img, i, &r));
	}
	struct meta_record r = remove_rec(3);
	CHECK_OK(meta_image_apply(img, 6, &r));
	CHECK_EQ_INT(meta_image_topic_count(img), 4);
	CHECK(meta_image_topic_by_name(img, "t3") == NULL);
	CHECK_EQ_STR(meta_image_topic_at(img, 2)->name, "t4");
	/* A second removal of the same topic changes nothing. */
	CHECK_OK(meta_image_apply(img, 7, &r));
	CHECK_EQ_INT(meta_image_topic_count(img), 4);
	r = topic_rec("t3", 33);
	CHECK_OK(meta_image_apply(img, 8, &r));
	uint8_t id[16];
	memset(id, 33, sizeof(id));
	CHECK(meta_image_topic_by_id(img, id) == meta_image_topic_by_name(img, "t3"));
	r = part_rec(3, 0, 1);
	CHECK_EQ_INT(meta_image_apply(img, 9, &r), RN_E_CORRUPT_STATE); /* old id is gone */
	meta_image_free(img);
}

TEST(register_broker_updates_and_unfences)
{
	struct meta_image *img;
	CHECK_OK(meta_image_new(&img));
	struct meta_record r = broker_rec(1, 100, "old", 9092);
	CHECK_OK(meta_image_apply(img, 1, &r));
	struct meta_record f = { .type = META_REC_FENCE_BROKER };
	f.u.fence.node_id = 1;
	f.u.fence.fenced = true;
	CHECK_OK(meta_image_apply(img, 2, &f));
	CHECK(meta_image_broker(img, 1)->fenced);
	r = broker_rec(1, 101, "new", 9093);
	CHECK_OK(meta_image_apply(img, 3, &r));
	const struct meta_broker *b = meta_image_broker(img, 1);
	CHECK_EQ_STR(b->host, "new");
	CHECK_EQ_INT(b->port, 9093);
	CHECK_EQ_INT(b->epoch, 101);
	CHECK(!b->fenced);
	r = broker_rec(1, 99, "stale", 9094);
	CHECK_EQ_INT(meta_image_apply(img, 4, &r), RN_E_CORRUPT_STATE);
	CHECK_EQ_STR(meta_image_broker(img, 1)->host, "new");
	meta_image_free(img);
}

TEST(many_topics_stay_sorted)
{
	struct meta_image *img;
	CHECK_OK(meta_image_new(&img));
	uint64_t idx = 0;
	for (uint32_t i = 0; i < 300; i++) {
		struct meta_record r = { .type = META_REC_TOPIC };
		uint32_t k = (i * 7919u) % 300u;
		snprintf(r.u.topic.name, sizeof(r.u.topic.name), "topic-%03u", k);
		r.u.topic.topic_id[0] = (uint8_t)(k >> 8);
		r.u.topic.topic_id[1] = (uint8_t)k;
		r.u.topic.topic_id[15] = 1;
		CHECK_OK(meta_image_apply(img, ++idx, &r));
	}
	CHECK_EQ_INT(meta_image_topic_count(img), 300);
	for (uint32_t i = 1; i < 300; i++)
		CHECK(strcmp(meta_image_topic_at(img, i - 1)->name, meta_image_topic_at(img, i)->name) <
		      0);
	CHECK(meta_image_topic_by_name(img, "topic-123") != NULL);
	meta_image_free(img);
}

TEST(topic_name_rule)
{
	const char *why = NULL;
	CHECK(meta_topic_name_valid("orders.v1_x-y", &why));
	CHECK(!meta_topic_name_valid("", &why));
	CHECK(why != NULL);
	CHECK(!meta_topic_name_valid(".", &why));
	CHECK(!meta_topic_name_valid("..", &why));
	CHECK(meta_topic_name_valid("...", &why));
	CHECK(!meta_topic_name_valid("a/b", &why));
	CHECK(strstr(why, "letters") != NULL);
	CHECK(!meta_topic_name_valid(NULL, NULL));
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	longname[249] = 0;
	CHECK(meta_topic_name_valid(longname, &why));
	longname[249] = 'a';
	longname[250] = 0;
	CHECK(!meta_topic_name_valid(longname, &why));
	CHECK(strstr(why, "249") != NULL);
}

TEST(record_copy_is_deep)
{
	struct meta_record r = topic_rec("t", 1);
	struct meta_config_entry cfg[2] = { { "a", "1" }, { "b", "2" } };
	r.u.topic.configs = cfg;
	r.u.topic.config_count = 2;
	struct meta_record c;
	CHECK_OK(meta_record_copy(&c, &r));
	CHECK(c.u.topic.configs != cfg);
	CHECK_EQ_STR(c.u.topic.configs[1].value, "2");
	meta_record_free_contents(&c);
	CHECK(c.u.topic.configs == NULL);
	char hex[33];
	meta_topic_id_format(r.u.topic.topic_id, hex);
	CHECK_EQ_STR(hex, "01010101010101010101010101010101");
	CHECK_EQ_STR(meta_record_type_name(META_REC_PARTITION), "PARTITION");
}

static struct meta_record pids_rec(int64_t next)
{
	struct meta_record r = { .type = META_REC_PRODUCER_IDS };
	r.u.producer_ids.next_producer_id = next;
	return r;
}

TEST(producer_ids_only_go_up)
{
	struct meta_image *img;
	CHECK_OK(meta_image_new(&img));
	CHECK_EQ_INT(meta_image_next_producer_id(img), 0);
	struct meta_record r = pids_rec(1);
	CHECK_OK(meta_image_apply(img, 1, &r));
	CHECK_EQ_INT(meta_image_next_producer_id(img), 1);
	/* A jump is fine: ids handed out and lost with a leader change. */
	r = pids_rec(5);
	CHECK_OK(meta_image_apply(img, 2, &r));
	CHECK_EQ_INT(meta_image_next_producer_id(img), 5);
	CHECK_EQ_INT(meta_image_applied_index(img), 2);

	/* The same next id again would hand out id 4 twice; a lower one would
	 * go backwards; zero and negatives never follow anything. */
	const int64_t bad[] = { 5, 4, 1, 0, -1, INT64_MIN };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = pids_rec(bad[i]);
		CHECK_EQ_INT(meta_image_apply(img, 3, &r), RN_E_CORRUPT_STATE);
		CHECK_EQ_INT(meta_image_next_producer_id(img), 5);
		CHECK_EQ_INT(meta_image_applied_index(img), 2);
	}

	/* The last id (META_MAX_PRODUCER_ID) may be handed out; nothing after. */
	r = pids_rec(META_MAX_PRODUCER_ID);
	CHECK_OK(meta_image_apply(img, 3, &r));
	r = pids_rec(META_MAX_PRODUCER_ID + 1);
	CHECK_OK(meta_image_apply(img, 4, &r));
	CHECK_EQ_INT(meta_image_next_producer_id(img), INT64_MAX);
	CHECK_EQ_INT(meta_image_apply(img, 5, &r), RN_E_CORRUPT_STATE);
	CHECK_EQ_STR(meta_record_type_name(META_REC_PRODUCER_IDS), "PRODUCER_IDS");
	meta_image_free(img);
}

TEST(producer_ids_leave_the_rest_of_the_image_alone)
{
	struct meta_image *a, *b;
	CHECK_OK(meta_image_new(&a));
	CHECK_OK(meta_image_new(&b));
	struct meta_record r = cluster_rec("c1");
	CHECK_OK(meta_image_apply(a, 1, &r));
	CHECK_OK(meta_image_apply(b, 1, &r));
	r = pids_rec(3);
	CHECK_OK(meta_image_apply(a, 2, &r));
	CHECK_OK(meta_image_skip(b, 2));
	/* Equal in everything but the next producer id, which equality sees. */
	CHECK(!meta_image_equal(a, b));
	CHECK_EQ_STR(meta_image_cluster_id(a), "c1");
	CHECK_EQ_INT(meta_image_topic_count(a), 0);
	CHECK_EQ_INT(meta_image_broker_count(a), 0);
	CHECK_OK(meta_image_apply(b, 3, &r));
	CHECK_OK(meta_image_skip(a, 3));
	CHECK(meta_image_equal(a, b));
	meta_image_free(a);
	meta_image_free(b);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
