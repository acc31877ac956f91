/* test_group_codec.c: offsets-topic records to and from wire/group.proto bytes. */
#include "common/errors.h"
#include "test/unit/harness.h"
#include "wire/group.pb-c.h"
#include "wire/group_codec.h"

#include <stdlib.h>
#include <string.h>

static void offset_record(struct group_record *r, const char *group, const char *topic,
			  int32_t partition)
{
	memset(r, 0, sizeof(*r));
	r->type = GROUP_RECORD_OFFSET;
	strcpy(r->group_id, group);
	strcpy(r->topic, topic);
	r->partition = partition;
}

TEST(offset_round_trip)
{
	struct group_record r;
	offset_record(&r, "g1", "orders", 7);
	r.offset = 123456789012ll;
	r.leader_epoch = 4;
	r.metadata = strdup("processed by worker 3");
	r.commit_timestamp_ms = 1700000000000ll;
	uint8_t *k, *v;
	size_t kl, vl;
	CHECK_OK(group_codec_encode_key(&r, &k, &kl));
	CHECK_OK(group_codec_encode_value(&r, &v, &vl));
	struct group_record d;
	CHECK_OK(group_codec_decode(k, kl, v, vl, &d));
	CHECK_EQ_INT(d.type, GROUP_RECORD_OFFSET);
	CHECK(!d.tombstone);
	CHECK_EQ_STR(d.group_id, "g1");
	CHECK_EQ_STR(d.topic, "orders");
	CHECK_EQ_INT(d.partition, 7);
	CHECK_EQ_INT(d.offset, 123456789012ll);
	CHECK_EQ_INT(d.leader_epoch, 4);
	CHECK_EQ_STR(d.metadata, "processed by worker 3");
	CHECK_EQ_INT(d.commit_timestamp_ms, 1700000000000ll);
	group_record_clear(&d);
	group_record_clear(&r);
	free(k);
	free(v);
}

TEST(equal_keys_equal_bytes)
{
	/* Compaction keeps the latest value per key byte string, so a commit
	 * and a later one for the same partition must share key bytes, and
	 * differ from other partitions and from the group key. */
	struct group_record a, b, c, g;
	offset_record(&a, "g", "t", 1);
	offset_record(&b, "g", "t", 1);
	b.offset = 99;
	offset_record(&c, "g", "t", 2);
	memset(&g, 0, sizeof(g));
	g.type = GROUP_RECORD_GROUP;
	strcpy(g.group_id, "g");
	uint8_t *ka, *kb, *kc, *kg;
	size_t la, lb, lc, lg;
	CHECK_OK(group_codec_encode_key(&a, &ka, &la));
	CHECK_OK(group_codec_encode_key(&b, &kb, &lb));
	CHECK_OK(group_codec_encode_key(&c, &kc, &lc));
	CHECK_OK(group_codec_encode_key(&g, &kg, &lg));
	CHECK(la == lb && memcmp(ka, kb, la) == 0);
	CHECK(la != lc || memcmp(ka, kc, la) != 0);
	CHECK(la != lg || memcmp(ka, kg, la) != 0);
	free(ka);
	free(kb);
	free(kc);
	free(kg);
}

TEST(group_round_trip)
{
	struct group_record r = {0};
	r.type = GROUP_RECORD_GROUP;
	strcpy(r.group_id, "billing");
	strcpy(r.protocol_type, "consumer");
	strcpy(r.protocol_name, "sticky");
	strcpy(r.leader, "c1-abc");
	r.generation_id = 12;
	r.state_timestamp_ms = 55;
	r.member_count = 2;
	r.members = calloc(2, sizeof(*r.members));
	strcpy(r.members[0].member_id, "c1-abc");
	strcpy(r.members[0].client_id, "c1");
	strcpy(r.members[0].client_host, "/10.0.0.1");
	r.members[0].session_timeout_ms = 10000;
	r.members[0].rebalance_timeout_ms = 30000;
	r.members[0].subscription = (uint8_t *)strdup("SUB");
	r.members[0].subscription_len = 3;
	r.members[0].assignment = (uint8_t *)strdup("ASSIGN");
	r.members[0].assignment_len = 6;
	strcpy(r.members[1].member_id, "c2-def");
	r.members[1].session_timeout_ms = 6000;
	uint8_t *k, *v;
	size_t kl, vl;
	CHECK_OK(group_codec_encode_key(&r, &k, &kl));
	CHECK_OK(group_codec_encode_value(&r, &v, &vl));
	struct group_record d;
	CHECK_OK(group_codec_decode(k, kl, v, vl, &d));
	CHECK_EQ_INT(d.type, GROUP_RECORD_GROUP);
	CHECK_EQ_STR(d.group_id, "billing");
	CHECK_EQ_STR(d.protocol_type, "consumer");
	CHECK_EQ_STR(d.protocol_name, "sticky");
	CHECK_EQ_STR(d.leader, "c1-abc");
	CHECK_EQ_INT(d.generation_id, 12);
	CHECK_EQ_INT(d.state_timestamp_ms, 55);
	CHECK_EQ_INT(d.member_count, 2);
	CHECK_EQ_STR(d.members[0].client_host, "/10.0.0.1");
	CHECK_EQ_INT(d.members[0].rebalance_timeout_ms, 30000);
	CHECK_EQ_INT(d.members[0].assignment_len, 6);
	CHECK(memcmp(d.members[0].assignment, "ASSIGN", 6) == 0);
	CHECK_EQ_INT(d.members[0].subscription_len, 3);
	CHECK_EQ_STR(d.members[1].member_id, "c2-def");
	CHECK_EQ_INT(d.members[1].assignment_len, 0);
	CHECK(d.members[1].assignment == NULL);
	group_record_clear(&d);
	group_record_clear(&r);
	free(k);
	free(v);
}

TEST(tombstone_has_no_value)
{
	struct group_record r;
	offset_record(&r, "g", "t", 0);
	r.tombstone = true;
	uint8_t *k, *v = (uint8_t *)1;
	size_t kl, vl = 5;
	CHECK_OK(group_codec_encode_key(&r, &k, &kl));
	CHECK_OK(group_codec_encode_value(&r, &v, &vl));
	CHECK(v == NULL);
	CHECK_EQ_INT(vl, 0);
	struct group_record d;
	CHECK_OK(group_codec_decode(k, kl, NULL, 0, &d));
	CHECK(d.tombstone);
	CHECK_EQ_STR(d.topic, "t");
	group_record_clear(&d);
	/* A present but empty value is an empty message, not a tombstone. */
	CHECK_OK(group_codec_decode(k, kl, (const uint8_t *)"", 0, &d));
	CHECK(!d.tombstone);
	CHECK_EQ_INT(d.offset, 0);
	group_record_clear(&d);
	free(k);
}

TEST(encode_refuses_bad_records)
{
	struct group_record r = {0};
	uint8_t *b;
	size_t l;
	r.type = GROUP_RECORD_GROUP;
	CHECK_EQ_INT(group_codec_encode_key(&r, &b, &l), RN_E_INVAL);
	strcpy(r.group_id, "g");
	r.type = (enum group_record_type)9;
	CHECK_EQ_INT(group_codec_encode_key(&r, &b, &l), RN_E_INVAL);
	CHECK_EQ_INT(group_codec_encode_value(&r, &b, &l), RN_E_INVAL);
}

TEST(decode_refuses_garbage)
{
	struct group_record d;
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	CHECK_EQ_INT(group_codec_decode(junk, sizeof(junk), NULL, 0, &d), RN_E_CORRUPT_MESSAGE);
	/* A key with no kind set. */
	CHECK_EQ_INT(group_codec_decode((const uint8_t *)"", 0, NULL, 0, &d), RN_E_CORRUPT_MESSAGE);
	CHECK_EQ_INT(group_codec_decode(NULL, 0, NULL, 0, &d), RN_E_CORRUPT_MESSAGE);
	/* A good key with a value that is not an OffsetValue. */
	struct group_record r;
	offset_record(&r, "g", "t", 0);
	uint8_t *k;
	size_t kl;
	CHECK_OK(group_codec_encode_key(&r, &k, &kl));
	CHECK_EQ_INT(group_codec_decode(k, kl, junk, sizeof(junk), &d), RN_E_CORRUPT_MESSAGE);
	free(k);
}

TEST(decode_enforces_limits)
{
	/* A group id longer than any struct field can hold. */
	char big[GROUP_MAX_ID_LEN + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	Runnel__Group__GroupKey gk = RUNNEL__GROUP__GROUP_KEY__INIT;
	gk.group_id = big;
	Runnel__Group__GroupRecordKey key = RUNNEL__GROUP__GROUP_RECORD_KEY__INIT;
	key.kind_case = RUNNEL__GROUP__GROUP_RECORD_KEY__KIND_GROUP;
	key.group = &gk;
	uint8_t buf[1024];
	size_t kl = runnel__group__group_record_key__pack(&key, buf);
	struct group_record d;
	CHECK_EQ_INT(group_codec_decode(buf, kl, NULL, 0, &d), RN_E_CORRUPT_MESSAGE);

	/* A subscription over GROUP_MAX_METADATA_BYTES. */
	gk.group_id = (char *)"g";
	kl = runnel__group__group_record_key__pack(&key, buf);
	Runnel__Group__GroupMemberValue mv = RUNNEL__GROUP__GROUP_MEMBER_VALUE__INIT;
	mv.member_id = (char *)"m";
	mv.subscription.len = GROUP_MAX_METADATA_BYTES + 1;
	mv.subscription.data = calloc(1, mv.subscription.len);
	Runnel__Group__GroupMemberValue *mp = &mv;
	Runnel__Group__GroupValue gv = RUNNEL__GROUP__GROUP_VALUE__INIT;
	gv.n_members = 1;
	gv.members = &mp;
	size_t vl = runnel__group__group_value__get_packed_size(&gv);
	uint8_t *v = malloc(vl);
	runnel__group__group_value__pack(&gv, v);
	CHECK_EQ_INT(group_codec_decode(buf, kl, v, vl, &d), RN_E_CORRUPT_MESSAGE);
	/* The same member with a small subscription decodes. */
	mv.subscription.len = 4;
	vl = runnel__group__group_value__pack(&gv, v);
	CHECK_OK(group_codec_decode(buf, kl, v, vl, &d));
	CHECK_EQ_INT(d.member_count, 1);
	CHECK_EQ_INT(d.members[0].subscription_len, 4);
	group_record_clear(&d);
	free(v);
	free(mv.subscription.data);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
