/* test_fetch_pack.c: fetch responses carry log bytes as file segments, byte for byte. */
#include "broker/fetch_pack.h"
#include "common/errors.h"
#include "storage/plog.h"
#include "test/unit/harness.h"
#include "wire/batch.h"
#include "wire/codec.h"

#include <event2/buffer.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t batch[8192];
static size_t batch_len;

/* A log holding one batch of three records, and a slice reading it. */
static struct plog *log_with_batch(struct plog_slice *slice)
{
	struct batch_builder b;
	batch_builder_init(&b, batch, sizeof(batch));
	for (int i = 0; i < 3; i++)
		batch_builder_add(&b, 1000 + i, "k", 1, "value", 5, NULL, 0);
	batch_len = batch_builder_finish(&b, -1, -1, -1);
	struct plog_config cfg;
	plog_config_default(&cfg);
	struct plog *log = NULL;
	if (plog_open(harness_tmpdir(), &cfg, 0, &log) != RN_OK)
		return NULL;
	struct plog_append_result res;
	if (plog_append(log, batch, batch_len, 7, 0, &res) != RN_OK ||
	    plog_read(log, 0, 1 << 20, plog_end_offset(log), slice) != RN_OK) {
		plog_close(log);
		return NULL;
	}
	return log;
}

/* Sends the frame through a socket pair (sendfile for file segments) and
 * decodes what arrives. */
static Runnel__Response *through_socket(struct evbuffer *frame)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return NULL;
	size_t total = evbuffer_get_length(frame);
	static uint8_t got[1 << 16];
	size_t have = 0;
	while (evbuffer_get_length(frame) > 0) {
		if (evbuffer_write(frame, sv[0]) < 0)
			break;
	}
	while (have < total) {
		ssize_t n = read(sv[1], got + have, sizeof(got) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(sv[0]);
	close(sv[1]);
	Runnel__Response *resp = NULL;
	if (have == total && have > 4 && be_get32(got) == total - 4)
		wire_response_decode(got + 4, total - 4, &resp);
	return resp;
}

/* A response with one partition whose records field is the placeholder. */
static void build_response(Runnel__Response *resp, Runnel__FetchResponse *body,
			   Runnel__FetchTopicData *td, Runnel__FetchTopicData **tdp,
			   Runnel__FetchPartitionData *pd, Runnel__FetchPartitionData **pdp,
			   struct fetch_slice *fs)
{
	runnel__response__init(resp);
	runnel__fetch_response__init(body);
	runnel__fetch_topic_data__init(td);
	runnel__fetch_partition_data__init(pd);
	resp->correlation_id = 12;
	resp->body_case = RUNNEL__RESPONSE__BODY_FETCH;
	resp->fetch = body;
	body->n_topics = 1;
	*tdp = td;
	body->topics = tdp;
	td->name = "t";
	td->n_partitions = 1;
	*pdp = pd;
	td->partitions = pdp;
	pd->high_watermark = 3;
	pd->records.data = (uint8_t *)fs;
	pd->records.len = fs->slice.len;
	fs->field = &pd->records;
}

static void check_response(Runnel__Response *got)
{
	CHECK(got != NULL);
	CHECK_EQ_INT(got->correlation_id, 12);
	Runnel__FetchPartitionData *pd = got->fetch->topics[0]->partitions[0];
	CHECK_EQ_INT(pd->high_watermark, 3);
	CHECK_EQ_INT(pd->records.len, batch_len);
	/* The stored bytes are the produced bytes with offset and epoch stamped. */
	CHECK(memcmp(pd->records.data, batch, batch_len) == 0);
	struct batch_info info;
	CHECK_OK(batch_validate(pd->records.data, pd->records.len, 10, &info));
	CHECK_EQ_INT(info.leader_epoch, 7);
	CHECK_EQ_INT(info.record_count, 3);
}

TEST(records_travel_as_file_segments)
{
	struct plog_slice slice;
	struct plog *log = log_with_batch(&slice);
	CHECK(log != NULL);
	struct fetch_slice fs = {.slice = slice};
	Runnel__Response resp;
	Runnel__FetchResponse body;
	Runnel__FetchTopicData td, *tdp;
	Runnel__FetchPartitionData pd, *pdp;
	build_response(&resp, &body, &td, &tdp, &pd, &pdp, &fs);
	struct fetch_pack_stats before, after;
	fetch_pack_get_stats(&before);
	struct evbuffer *frame = fetch_pack_frame(&resp, &fs, 1);
	fetch_pack_get_stats(&after);
	CHECK(frame != NULL);
	CHECK_EQ_INT(after.zero_copy_frames, before.zero_copy_frames + 1);
	/* The frame holds its own reference: the caller may release now. */
	plog_slice_release(&fs.slice);
	Runnel__Response *got = through_socket(frame);
	evbuffer_free(frame);
	check_response(got);
	runnel__response__free_unpacked(got, NULL);
	plog_close(log);
}

TEST(copying_fallback_gives_the_same_bytes)
{
	struct plog_slice slice;
	struct plog *log = log_with_batch(&slice);
	CHECK(log != NULL);
	struct fetch_slice fs[2] = {{.slice = slice}, {.slice = slice}};
	Runnel__Response resp;
	Runnel__FetchResponse body;
	Runnel__FetchTopicData td, *tdp;
	Runnel__FetchPartitionData pd, *pdp;
	/* The records point at the second entry while the table claims two
	 * slices: one placeholder is never seen, so packing must copy. */
	build_response(&resp, &body, &td, &tdp, &pd, &pdp, &fs[1]);
	fs[0].field = &pd.records;
	struct fetch_pack_stats before, after;
	fetch_pack_get_stats(&before);
	struct evbuffer *frame = fetch_pack_frame(&resp, fs, 2);
	fetch_pack_get_stats(&after);
	CHECK(frame != NULL);
	CHECK_EQ_INT(after.copied_frames, before.copied_frames + 1);
	plog_slice_release(&slice);
	Runnel__Response *got = through_socket(frame);
	evbuffer_free(frame);
	CHECK(got != NULL);
	runnel__response__free_unpacked(got, NULL);
	plog_close(log);
}

TEST(small_responses_are_copied)
{
	fetch_pack_set_copy_max(FETCH_COPY_MAX_BYTES);
	struct plog_slice slice;
	struct plog *log = log_with_batch(&slice);
	CHECK(log != NULL);
	struct fetch_slice fs = {.slice = slice};
	Runnel__Response resp;
	Runnel__FetchResponse body;
	Runnel__FetchTopicData td, *tdp;
	Runnel__FetchPartitionData pd, *pdp;
	build_response(&resp, &body, &td, &tdp, &pd, &pdp, &fs);
	struct fetch_pack_stats before, after;
	fetch_pack_get_stats(&before);
	struct evbuffer *frame = fetch_pack_frame(&resp, &fs, 1);
	fetch_pack_get_stats(&after);
	CHECK(frame != NULL);
	CHECK_EQ_INT(after.copied_frames, before.copied_frames + 1);
	CHECK_EQ_INT(after.zero_copy_frames, before.zero_copy_frames);
	/* The placeholder is restored, so the caller's release stays valid. */
	CHECK(pd.records.data == (uint8_t *)&fs);
	plog_slice_release(&fs.slice);
	Runnel__Response *got = through_socket(frame);
	evbuffer_free(frame);
	check_response(got);
	runnel__response__free_unpacked(got, NULL);
	plog_close(log);
	fetch_pack_set_copy_max(0);
}

int main(int argc, char **argv)
{
	/* The other tests use batches of a few bytes and check the sendfile path. */
	fetch_pack_set_copy_max(0);
	return harness_run(argc, argv);
}
