/* test_meta_codec.c: unit tests of metadata record encoding and decoding. */
#include "common/errors.h"
#include "common/limits.h"
#include "controller/metadata.h"
#include "test/unit/harness.h"
#include "wire/meta_codec.h"
#include "wire/metadata.pb-c.h"

/* Encodes, decodes and checks the decoded record equals the original. */
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

TEST(round_trip_cluster_broker_fence_remove)
{
	struct meta_record in = { .type = META_REC_CLUSTER }, out;
	strcpy(in.u.cluster.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_CLUSTER);
	CHECK_EQ_STR(out.u.cluster.cluster_id, in.u.cluster.cluster_id);

	memset(&in, 0, sizeof(in));
	in.type = META_REC_REGISTER_BROKER;
	in.u.broker.node_id = 7;
	in.u.broker.broker_epoch = 1234567890123ll;
	strcpy(in.u.broker.host, "broker7.example.com");
	in.u.broker.port = 9092;
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_REGISTER_BROKER);
	CHECK_EQ_INT(out.u.broker.node_id, 7);
	CHECK_EQ_INT(out.u.broker.broker_epoch, 1234567890123ll);
	CHECK_EQ_STR(out.u.broker.host, "broker7.example.com");
	CHECK_EQ_INT(out.u.broker.port, 9092);

	memset(&in, 0, sizeof(in));
	in.type = META_REC_FENCE_BROKER;
	in.u.fence.node_id = 3;
	in.u.fence.fenced = true;
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_FENCE_BROKER);
	CHECK_EQ_INT(out.u.fence.node_id, 3);
	CHECK(out.u.fence.fenced);

	memset(&in, 0, sizeof(in));
	in.type = META_REC_REMOVE_TOPIC;
	for (int i = 0; i < 16; i++)
		in.u.remove_topic.topic_id[i] = (uint8_t)(i * 17);
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_REMOVE_TOPIC);
	CHECK(memcmp(out.u.remove_topic.topic_id, in.u.remove_topic.topic_id, 16) == 0);
}

TEST(round_trip_producer_ids)
{
	const int64_t values[] = { 1, 2, 1000, 1ll << 40, INT64_MAX };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct meta_record in = { .type = META_REC_PRODUCER_IDS }, out;
		in.u.producer_ids.next_producer_id = values[i];
		CHECK_OK(round_trip(&in, &out));
		CHECK_EQ_INT(out.type, META_REC_PRODUCER_IDS);
		CHECK_EQ_INT(out.u.producer_ids.next_producer_id, values[i]);
	}
	/* The bytes are the protobuf message other tools read. */
	struct meta_record in = { .type = META_REC_PRODUCER_IDS };
	in.u.producer_ids.next_producer_id = 7;
	uint8_t *buf;
	size_t len;
	CHECK_OK(meta_record_encode(&in, &buf, &len));
	Runnel__Meta__MetadataRecord *m = runnel__meta__metadata_record__unpack(NULL, len, buf);
	CHECK(m != NULL);
	CHECK_EQ_INT(m->record_case, RUNNEL__META__METADATA_RECORD__RECORD_PRODUCER_IDS);
	CHECK_EQ_INT(m->producer_ids->next_producer_id, 7);
	runnel__meta__metadata_record__free_unpacked(m, NULL);
	free(buf);
}

TEST(round_trip_topic_with_configs)
{
	struct meta_record in = { .type = META_REC_TOPIC }, out;
	strcpy(in.u.topic.name, "orders.eu");
	memset(in.u.topic.topic_id, 0x5a, 16);
	struct meta_config_entry cfg[2] = { { "retention.ms", "1000" },
					    { "cleanup.policy", "compact" } };
	in.u.topic.configs = cfg;
	in.u.topic.config_count = 2;
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_TOPIC);
	CHECK_EQ_STR(out.u.topic.name, "orders.eu");
	CHECK(memcmp(out.u.topic.topic_id, in.u.topic.topic_id, 16) == 0);
	CHECK_EQ_INT(out.u.topic.config_count, 2);
	CHECK_EQ_STR(out.u.topic.configs[0].name, "retention.ms");
	CHECK_EQ_STR(out.u.topic.configs[1].value, "compact");
	meta_record_free_contents(&out);

	/* Longest name and a full set of configs. */
	memset(in.u.topic.name, 'n', RN_MAX_TOPIC_NAME_LEN);
	in.u.topic.name[RN_MAX_TOPIC_NAME_LEN] = 0;
	struct meta_config_entry *many = calloc(RN_MAX_CONFIGS_PER_TOPIC, sizeof(*many));
	for (uint32_t i = 0; i < RN_MAX_CONFIGS_PER_TOPIC; i++) {
		snprintf(many[i].name, sizeof(many[i].name), "k%u", i);
		memset(many[i].value, 'v', RN_MAX_CONFIG_VALUE_LEN);
	}
	in.u.topic.configs = many;
	in.u.topic.config_count = RN_MAX_CONFIGS_PER_TOPIC;
	int rc = round_trip(&in, &out);
	CHECK_OK(rc);
	CHECK_EQ_INT(out.u.topic.config_count, RN_MAX_CONFIGS_PER_TOPIC);
	CHECK_EQ_INT(strlen(out.u.topic.configs[63].value), RN_MAX_CONFIG_VALUE_LEN);
	CHECK_EQ_INT(strlen(out.u.topic.name), RN_MAX_TOPIC_NAME_LEN);
	meta_record_free_contents(&out);
	in.u.topic.config_count = RN_MAX_CONFIGS_PER_TOPIC + 1;
	uint8_t *buf;
	size_t len;
	CHECK_EQ_INT(meta_record_encode(&in, &buf, &len), RN_E_INVAL);
	free(many);
}

TEST(round_trip_partition)
{
	struct meta_record in = { .type = META_REC_PARTITION }, out;
	memset(in.u.partition.topic_id, 0x11, 16);
	in.u.partition.partition = 9999;
	in.u.partition.replica_count = 3;
	in.u.partition.replicas[0] = 3;
	in.u.partition.replicas[1] = 1;
	in.u.partition.replicas[2] = 2;
	in.u.partition.isr_count = 2;
	in.u.partition.isr[0] = 3;
	in.u.partition.isr[1] = 2;
	in.u.partition.leader = 3;
	in.u.partition.leader_epoch = 5;
	in.u.partition.partition_epoch = 8;
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.type, META_REC_PARTITION);
	CHECK(memcmp(&out.u.partition, &in.u.partition, sizeof(in.u.partition)) == 0);
	in.u.partition.leader = META_NO_LEADER;
	CHECK_OK(round_trip(&in, &out));
	CHECK_EQ_INT(out.u.partition.leader, -1);
	in.u.partition.replica_count = RN_MAX_REPLICATION_FACTOR + 1;
	uint8_t *buf;
	size_t len;
	CHECK_EQ_INT(meta_record_encode(&in, &buf, &len), RN_E_INVAL);
}

TEST(decode_refuses_garbage)
{
	struct meta_record out;
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02 };
	CHECK_EQ_INT(meta_record_decode(junk, sizeof(junk), &out), RN_E_CORRUPT_STATE);
	/* Empty bytes decode to a MetadataRecord with no record set. */
	CHECK_EQ_INT(meta_record_decode(junk, 0, &out), RN_E_CORRUPT_STATE);
	CHECK_EQ_INT(meta_record_decode(NULL, 5, &out), RN_E_CORRUPT_STATE);
	/* Truncations of a valid record never decode to something bigger. */
	struct meta_record in = { .type = META_REC_TOPIC };
	strcpy(in.u.topic.name, "t");
	memset(in.u.topic.topic_id, 1, 16);
	uint8_t *buf;
	size_t len;
	CHECK_OK(meta_record_encode(&in, &buf, &len));
	for (size_t cut = 0; cut < len; cut++) {
		int rc = meta_record_decode(buf, cut, &out);
		CHECK(rc == RN_E_CORRUPT_STATE || rc == 0);
		meta_record_free_contents(&out);
	}
	free(buf);
	/* Random bytes: any result but a crash, and nothing owned on error. */
	uint64_t x = 88172645463325252ull;
	uint8_t rnd[64];
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(x % sizeof(rnd));
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			rnd[i] = (uint8_t)x;
		}
		if (meta_record_decode(rnd, n, &out) == 0)
			meta_record_free_contents(&out);
	}
}

/* Builds bytes with protobuf-c directly to reach fields the encoder never writes. */
static int decode_packed(const Runnel__Meta__MetadataRecord *m, struct meta_record *out)
{
	size_t len = runnel__meta__metadata_record__get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	runnel__meta__metadata_record__pack(m, buf);
	int rc = meta_record_decode(buf, len, out);
	free(buf);
	return rc;
}

TEST(decode_refuses_oversized_fields)
{
	struct meta_record out;
	Runnel__Meta__MetadataRecord m = RUNNEL__META__METADATA_RECORD__INIT;
	Runnel__Meta__RemoveTopicRecord rt = RUNNEL__META__REMOVE_TOPIC_RECORD__INIT;
	uint8_t id15[15] = { 1 };
	rt.topic_id.len = sizeof(id15);
	rt.topic_id.data = id15;
	m.record_case = RUNNEL__META__METADATA_RECORD__RECORD_REMOVE_TOPIC;
	m.remove_topic = &rt;
	CHECK_EQ_INT(decode_packed(&m, &out), RN_E_CORRUPT_STATE);

	Runnel__Meta__ClusterRecord cr = RUNNEL__META__CLUSTER_RECORD__INIT;
	char longid[META_CLUSTER_ID_MAX_LEN + 2];
	memset(longid, 'c', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	cr.cluster_id = longid;
	m.record_case = RUNNEL__META__METADATA_RECORD__RECORD_CLUSTER;
	m.cluster = &cr;
	CHECK_EQ_INT(decode_packed(&m, &out), RN_E_CORRUPT_STATE);
	longid[META_CLUSTER_ID_MAX_LEN] = 0;
	CHECK_OK(decode_packed(&m, &out));

	Runnel__Meta__PartitionRecord pr = RUNNEL__META__PARTITION_RECORD__INIT;
	uint8_t id16[16] = { 1 };
	int32_t reps[RN_MAX_REPLICATION_FACTOR + 1] = { 0 };
	pr.topic_id.len = 16;
	pr.topic_id.data = id16;
	pr.n_replicas = RN_MAX_REPLICATION_FACTOR + 1;
	pr.replicas = reps;
	m.record_case = RUNNEL__META__METADATA_RECORD__RECORD_PARTITION;
	m.partition = &pr;
	CHECK_EQ_INT(decode_packed(&m, &out), RN_E_CORRUPT_STATE);

	Runnel__Meta__TopicRecord tr = RUNNEL__META__TOPIC_RECORD__INIT;
	static char longname[RN_MAX_TOPIC_NAME_LEN + 2];
	memset(longname, 'n', RN_MAX_TOPIC_NAME_LEN + 1);
	tr.name = longname;
	tr.topic_id.len = 16;
	tr.topic_id.data = id16;
	m.record_case = RUNNEL__META__METADATA_RECORD__RECORD_TOPIC;
	m.topic = &tr;
	CHECK_EQ_INT(decode_packed(&m, &out), RN_E_CORRUPT_STATE);
	CHECK(out.u.topic.configs == NULL);
}

TEST(encode_refuses_unknown_type)
{
	struct meta_record in = { .type = (enum meta_record_type)42 };
	uint8_t *buf = (uint8_t *)1;
	size_t len = 1;
	CHECK_EQ_INT(meta_record_encode(&in, &buf, &len), RN_E_INVAL);
	CHECK(buf == NULL);
	CHECK_EQ_INT(len, 0);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
