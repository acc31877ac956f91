/* test_raft_wire.c: Raft messages survive the trip through a packed RaftMessage request. */
#include "broker/raft_wire.h"
#include "common/errors.h"
#include "common/rn_assert.h"
#include "test/unit/harness.h"
#include "wire/codec.h"
#include "wire/frame.h"

#include <stdlib.h>
#include <string.h>

static Runnel__RaftEntry wire_entries[RAFT_MAX_ENTRIES_PER_MSG];
static Runnel__RaftEntry *wire_ptrs[RAFT_MAX_ENTRIES_PER_MSG];
static struct raft_entry rx[RAFT_MAX_ENTRIES_PER_MSG];

/* Encodes m, packs it as a frame, decodes the frame as a peer would. */
static Runnel__Request *trip(const struct raft_msg *m, const struct raft_wire_origin *o)
{
	Runnel__Request req;
	Runnel__RequestHeader hdr;
	Runnel__RaftMessageRequest body;
	raft_wire_encode(m, o, &req, &hdr, &body, wire_entries, wire_ptrs);
	size_t size = wire_frame_size(&req.base);
	uint8_t *buf = malloc(size);
	RN_ASSERT(buf != NULL);
	/* A helper cannot use CHECK (it returns from void tests). */
	RN_ASSERT(wire_frame_pack(&req.base, buf) == size);
	Runnel__Request *got = NULL;
	int rc = wire_request_decode(buf + FRAME_PREFIX_BYTES, size - FRAME_PREFIX_BYTES, &got);
	free(buf);
	RN_ASSERT(rc == RN_OK && wire_request_check(got, NULL) == RN_OK);
	return got;
}

TEST(append_resp_keeps_every_field_the_catch_up_needs)
{
	struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = 7,
			     .log_term = 5, .index = 90, .commit = 80, .reject = true,
			     .reject_hint = 42};
	struct raft_wire_origin o = {"clusterA", "127.0.0.1", 9102};
	Runnel__Request *req = trip(&m, &o);
	CHECK_EQ_INT(req->header->api_key, RUNNEL__API_KEY__API_RAFT_MESSAGE);
	CHECK_EQ_STR(req->raft_message->cluster_id, "clusterA");
	CHECK_EQ_STR(req->raft_message->from_host, "127.0.0.1");
	CHECK_EQ_INT(req->raft_message->from_port, 9102);
	struct raft_msg got;
	CHECK_OK(raft_wire_decode(req->raft_message, &got, rx));
	CHECK_EQ_INT(got.type, RAFT_MSG_APPEND_RESP);
	CHECK_EQ_INT(got.from, 2);
	CHECK_EQ_INT(got.to, 1);
	CHECK_EQ_INT(got.term, 7);
	CHECK_EQ_INT(got.log_term, 5);
	CHECK_EQ_INT(got.index, 90);
	CHECK_EQ_INT(got.commit, 80);
	CHECK(got.reject);
	CHECK_EQ_INT(got.reject_hint, 42);
	CHECK_EQ_INT(got.entry_count, 0);
	CHECK(got.snapshot == NULL);
	wire_request_free(req);
}

TEST(append_entries_and_snapshots_arrive_byte_for_byte)
{
	uint8_t a[] = {1, 2, 3}, b[] = {9};
	struct raft_entry es[3] = {{3, 11, sizeof(a), a}, {3, 12, 0, NULL}, {4, 13, sizeof(b), b}};
	struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 3, .term = 4,
			     .log_term = 3, .index = 10, .commit = 12, .entries = es,
			     .entry_count = 3};
	struct raft_wire_origin o = {"", "h", 1};
	Runnel__Request *req = trip(&m, &o);
	struct raft_msg got;
	CHECK_OK(raft_wire_decode(req->raft_message, &got, rx));
	CHECK_EQ_INT(got.entry_count, 3);
	CHECK_EQ_INT(got.entries[0].index, 11);
	CHECK_EQ_INT(got.entries[0].len, 3);
	CHECK(memcmp(got.entries[0].data, a, 3) == 0);
	CHECK_EQ_INT(got.entries[1].len, 0); /* a leader's no-op stays empty */
	CHECK(got.entries[1].data == NULL);
	CHECK_EQ_INT(got.entries[2].term, 4);
	CHECK_EQ_INT(got.entries[2].data[0], 9);
	wire_request_free(req);

	uint8_t image[1000];
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7);
	struct raft_msg s = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 4, .term = 4,
			     .log_term = 4, .index = 500, .commit = 510, .snapshot = image,
			     .snapshot_len = sizeof(image)};
	req = trip(&s, &o);
	CHECK_OK(raft_wire_decode(req->raft_message, &got, rx));
	CHECK_EQ_INT(got.type, RAFT_MSG_SNAPSHOT);
	CHECK_EQ_INT(got.index, 500);
	CHECK_EQ_INT(got.snapshot_len, sizeof(image));
	CHECK(memcmp(got.snapshot, image, sizeof(image)) == 0);
	wire_request_free(req);
}

TEST(malformed_messages_are_refused)
{
	Runnel__RaftMessageRequest body = RUNNEL__RAFT_MESSAGE_REQUEST__INIT;
	struct raft_msg got;
	body.from = 1;
	body.to = 2;
	body.type = 0;
	CHECK_EQ_INT(raft_wire_decode(&body, &got, rx), RN_E_INVAL);
	body.type = RAFT_MSG_SNAPSHOT + 1;
	CHECK_EQ_INT(raft_wire_decode(&body, &got, rx), RN_E_INVAL);
	body.type = RAFT_MSG_FETCH;
	body.from = 0;
	CHECK_EQ_INT(raft_wire_decode(&body, &got, rx), RN_E_INVAL);
	body.from = 1;
	CHECK_OK(raft_wire_decode(&body, &got, rx));
	CHECK_EQ_INT(got.type, RAFT_MSG_FETCH);
	body.n_entries = RAFT_MAX_ENTRIES_PER_MSG + 1;
	CHECK_EQ_INT(raft_wire_decode(&body, &got, rx), RN_E_INVAL);
	body.n_entries = 0;
	body.snapshot.len = RAFT_MAX_SNAPSHOT_BYTES + 1;
	CHECK_EQ_INT(raft_wire_decode(&body, &got, rx), RN_E_INVAL);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
