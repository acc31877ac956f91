/* make_seeds.c: writes the seed corpora of the fuzz targets (valid batches and frames). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/rn_assert.h"
#include "wire/batch.h"
#include "wire/codec.h"
#include "wire/frame.h"

#define SEED_BUF_BYTES (256u * 1024u)
#define SEED_TS 1700000000000LL

static uint8_t batch_buf[SEED_BUF_BYTES];
static uint8_t frame_buf[SEED_BUF_BYTES];

static void write_path(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "make_seeds: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void write_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_path(path, data, len);
}

/* Builds a batch of n records whose shape depends on flavour. */
static size_t build_batch(uint8_t *out, size_t cap, int n, int flavour)
{
	struct batch_builder b;
	struct record_header_view h[2] = {
		{ (const uint8_t *)"trace-id", 8, (const uint8_t *)"0af7651916cd43dd", 16 },
		{ (const uint8_t *)"deleted", 7, NULL, -1 },
	};
	char value[64];
	batch_builder_init(&b, out, cap);
	for (int i = 0; i < n; i++) {
		int vl = snprintf(value, sizeof(value), "value %d", i);
		const char *key = (flavour & 1) && i % 2 ? NULL : "key";
		int64_t ts = SEED_TS + i * 3 - (flavour & 2 ? 5 : 0);
		int null_value = (flavour & 4) && i == 0;
		int rc = batch_builder_add(&b, ts, key, key ? 3 : -1, null_value ? NULL : value,
					   null_value ? -1 : vl, h, (uint32_t)(i % 3));
		RN_ASSERT(rc == 0);
	}
	size_t len = batch_builder_finish(&b, flavour & 8 ? 1000 : -1, flavour & 8 ? 0 : -1,
					  flavour & 8 ? 0 : -1);
	RN_ASSERT(len > 0);
	return len;
}

/* lz4 and zstd forms of some of the batches, so that the fuzzer starts
 * from real frames. */
static void write_compressed(const char *dir)
{
	static uint8_t packed[SEED_BUF_BYTES];
	static const int codecs[] = {BATCH_COMPRESSION_LZ4, BATCH_COMPRESSION_ZSTD};
	static const int records[] = {1, 6, 40};
	struct batch_codec c;
	batch_codec_init(&c);
	for (size_t k = 0; k < RN_ARRAY_LEN(codecs); k++) {
		for (size_t i = 0; i < RN_ARRAY_LEN(records); i++) {
			size_t len = build_batch(batch_buf, sizeof(batch_buf), records[i], (int)i * 5);
			size_t out = 0;
			RN_ASSERT(batch_compress(&c, codecs[k], BATCH_CODEC_LEVEL_DEFAULT, batch_buf, len,
						 packed, sizeof(packed), &out) == 0);
			char name[48];
			snprintf(name, sizeof(name), "batch-%s-%zu", batch_codec_name(codecs[k]), i);
			write_file(dir, name, packed, out);
		}
	}
	batch_codec_destroy(&c);
}

static void write_batches(const char *dir)
{
	static const struct {
		int records;
		int flavour;
	} kinds[] = { { 1, 0 }, { 2, 1 }, { 3, 2 }, { 5, 4 }, { 8, 8 }, { 40, 15 } };
	for (size_t i = 0; i < RN_ARRAY_LEN(kinds); i++) {
		size_t len = build_batch(batch_buf, sizeof(batch_buf), kinds[i].records,
					 kinds[i].flavour);
		char name[32];
		snprintf(name, sizeof(name), "batch-%zu", i);
		write_file(dir, name, batch_buf, len);
	}
	write_compressed(dir);
	size_t len = build_batch(batch_buf, sizeof(batch_buf), 4, 1);
	batch_stamp(batch_buf, 1234, 7);
	write_file(dir, "batch-stamped", batch_buf, len);
	batch_stamp_log_append_time(batch_buf, len, SEED_TS + 60000);
	write_file(dir, "batch-log-append-time", batch_buf, len);
}

/* Fills req with a header for api_key and writes it as a frame. */
static size_t pack_request(Runnel__Request *req, Runnel__RequestHeader *hdr, int32_t api_key,
			   uint8_t *out)
{
	hdr->api_key = api_key;
	hdr->api_version = 0;
	hdr->correlation_id = api_key + 1;
	hdr->client_id = "seed";
	req->header = hdr;
	req->body_case = (Runnel__Request__BodyCase)(api_key + WIRE_BODY_FIELD_OFFSET);
	RN_ASSERT(wire_frame_size(&req->base) <= SEED_BUF_BYTES);
	return wire_frame_pack(&req->base, out);
}

static size_t produce_frame(uint8_t *out)
{
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__ProduceRequest body = RUNNEL__PRODUCE_REQUEST__INIT;
	Runnel__TopicProduceData topic = RUNNEL__TOPIC_PRODUCE_DATA__INIT;
	Runnel__PartitionProduceData part = RUNNEL__PARTITION_PRODUCE_DATA__INIT;
	Runnel__TopicProduceData *topics[] = { &topic };
	Runnel__PartitionProduceData *parts[] = { &part };
	part.partition = 0;
	part.records.len = build_batch(batch_buf, sizeof(batch_buf), 3, 5);
	part.records.data = batch_buf;
	topic.name = "orders";
	topic.n_partitions = 1;
	topic.partitions = parts;
	body.acks = -1;
	body.timeout_ms = 30000;
	body.n_topics = 1;
	body.topics = topics;
	req.produce = &body;
	return pack_request(&req, &hdr, RUNNEL__API_KEY__API_PRODUCE, out);
}

static size_t fetch_frame(uint8_t *out)
{
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__FetchRequest body = RUNNEL__FETCH_REQUEST__INIT;
	Runnel__FetchTopic topic = RUNNEL__FETCH_TOPIC__INIT;
	Runnel__FetchPartition part = RUNNEL__FETCH_PARTITION__INIT;
	Runnel__FetchTopic *topics[] = { &topic };
	Runnel__FetchPartition *parts[] = { &part };
	part.fetch_offset = 42;
	part.partition_max_bytes = 1048576;
	part.current_leader_epoch = -1;
	topic.name = "orders";
	topic.n_partitions = 1;
	topic.partitions = parts;
	body.replica_id = -1;
	body.max_wait_ms = 500;
	body.min_bytes = 1;
	body.max_bytes = 52428800;
	body.n_topics = 1;
	body.topics = topics;
	req.fetch = &body;
	return pack_request(&req, &hdr, RUNNEL__API_KEY__API_FETCH, out);
}

static size_t list_offsets_frame(uint8_t *out)
{
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__ListOffsetsRequest body = RUNNEL__LIST_OFFSETS_REQUEST__INIT;
	Runnel__ListOffsetsTopic topic = RUNNEL__LIST_OFFSETS_TOPIC__INIT;
	Runnel__ListOffsetsPartition part = RUNNEL__LIST_OFFSETS_PARTITION__INIT;
	Runnel__ListOffsetsTopic *topics[] = { &topic };
	Runnel__ListOffsetsPartition *parts[] = { &part };
	part.timestamp = -2;
	topic.name = "orders";
	topic.n_partitions = 1;
	topic.partitions = parts;
	body.replica_id = -1;
	body.n_topics = 1;
	body.topics = topics;
	req.list_offsets = &body;
	return pack_request(&req, &hdr, RUNNEL__API_KEY__API_LIST_OFFSETS, out);
}

static size_t metadata_frame(uint8_t *out)
{
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__MetadataRequest body = RUNNEL__METADATA_REQUEST__INIT;
	char *names[] = { "orders", "payments" };
	body.n_topics = 2;
	body.topics = names;
	req.metadata = &body;
	return pack_request(&req, &hdr, RUNNEL__API_KEY__API_METADATA, out);
}

static size_t api_versions_frame(uint8_t *out)
{
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__ApiVersionsRequest body = RUNNEL__API_VERSIONS_REQUEST__INIT;
	req.api_versions = &body;
	return pack_request(&req, &hdr, RUNNEL__API_KEY__API_API_VERSIONS, out);
}

static size_t create_topics_frame(uint8_t *out)
{
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__CreateTopicsRequest body = RUNNEL__CREATE_TOPICS_REQUEST__INIT;
	Runnel__CreatableTopic topic = RUNNEL__CREATABLE_TOPIC__INIT;
	Runnel__ConfigEntry cfg = RUNNEL__CONFIG_ENTRY__INIT;
	Runnel__CreatableTopic *topics[] = { &topic };
	Runnel__ConfigEntry *cfgs[] = { &cfg };
	cfg.name = "retention.ms";
	cfg.value = "86400000";
	topic.name = "orders";
	topic.num_partitions = 3;
	topic.replication_factor = 1;
	topic.n_configs = 1;
	topic.configs = cfgs;
	body.n_topics = 1;
	body.topics = topics;
	body.timeout_ms = 30000;
	req.create_topics = &body;
	return pack_request(&req, &hdr, RUNNEL__API_KEY__API_CREATE_TOPICS, out);
}

static size_t delete_topics_frame(uint8_t *out)
{
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__DeleteTopicsRequest body = RUNNEL__DELETE_TOPICS_REQUEST__INIT;
	char *names[] = { "orders" };
	body.n_names = 1;
	body.names = names;
	body.timeout_ms = 30000;
	req.delete_topics = &body;
	return pack_request(&req, &hdr, RUNNEL__API_KEY__API_DELETE_TOPICS, out);
}

static void write_frames(const char *dir)
{
	static const struct {
		const char *name;
		size_t (*make)(uint8_t *out);
	} kinds[] = {
		{ "frame-produce", produce_frame },
		{ "frame-fetch", fetch_frame },
		{ "frame-list-offsets", list_offsets_frame },
		{ "frame-metadata", metadata_frame },
		{ "frame-api-versions", api_versions_frame },
		{ "frame-create-topics", create_topics_frame },
		{ "frame-delete-topics", delete_topics_frame },
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(kinds); i++) {
		size_t len = kinds[i].make(frame_buf);
		write_file(dir, kinds[i].name, frame_buf, len);
	}
	/* Two pipelined requests in one read. */
	size_t a = metadata_frame(frame_buf);
	size_t b = fetch_frame(frame_buf + a);
	write_file(dir, "frame-pipelined", frame_buf, a + b);
}

static void make_dir(const char *dir)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "make_seeds: cannot create %s: %s\n", dir, strerror(errno));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: make_seeds FRAME_DIR BATCH_DIR STAMP_FILE\n");
		return 2;
	}
	make_dir(argv[1]);
	make_dir(argv[2]);
	write_frames(argv[1]);
	write_batches(argv[2]);
	write_path(argv[3], (const uint8_t *)"ok\n", 3);
	return 0;
}
