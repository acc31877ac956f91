/* test_codec.c: request/response decoding, envelope checks and framing. */
#include "common/errors.h"
#include "common/limits.h"
#include "test/unit/harness.h"
#include "wire/codec.h"
#include "wire/frame.h"

static uint8_t out[65536];

/* A Metadata request whose header and body agree. */
struct metadata_req {
	Runnel__Request req;
	Runnel__RequestHeader hdr;
	Runnel__MetadataRequest body;
};

static void metadata_req_init(struct metadata_req *m)
{
	runnel__request__init(&m->req);
	runnel__request_header__init(&m->hdr);
	runnel__metadata_request__init(&m->body);
	m->hdr.api_key = RUNNEL__API_KEY__API_METADATA;
	m->hdr.api_version = 0;
	m->hdr.correlation_id = 77;
	m->hdr.client_id = "test-client";
	m->req.header = &m->hdr;
	m->req.body_case = RUNNEL__REQUEST__BODY_METADATA;
	m->req.metadata = &m->body;
	m->body.all_topics = 1;
}

TEST(codec_decode_garbage_is_malformed)
{
	/* Field 1 (header) as a length-delimited field claiming 100 bytes. */
	const uint8_t truncated[] = { 0x0a, 0x64, 0x08, 0x01 };
	Runnel__Request *req = (Runnel__Request *)1;
	CHECK_EQ_INT(wire_request_decode(truncated, sizeof(truncated), &req), RN_E_MALFORMED_FRAME);
	CHECK(req == NULL);
	/* Wire type 7 does not exist. */
	const uint8_t bad_type[] = { 0x0f, 0x00 };
	CHECK_EQ_INT(wire_request_decode(bad_type, sizeof(bad_type), &req), RN_E_MALFORMED_FRAME);
	const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	CHECK_EQ_INT(wire_request_decode(junk, sizeof(junk), &req), RN_E_MALFORMED_FRAME);
	Runnel__Response *resp = (Runnel__Response *)1;
	CHECK_EQ_INT(wire_response_decode(junk, sizeof(junk), &resp), RN_E_MALFORMED_FRAME);
	CHECK(resp == NULL);
	wire_request_free(NULL);
	wire_response_free(NULL);
}

TEST(codec_request_round_trip)
{
	struct metadata_req m;
	metadata_req_init(&m);
	char *topics[] = { "orders", "payments" };
	m.body.n_topics = 2;
	m.body.topics = topics;

	size_t want = wire_frame_size(&m.req.base);
	CHECK(want > FRAME_PREFIX_BYTES && want < sizeof(out));
	CHECK_EQ_INT(wire_frame_pack(&m.req.base, out), want);

	uint32_t frame_len;
	CHECK_OK(frame_check(out, want, RN_MAX_FRAME_BYTES, &frame_len));
	CHECK_EQ_INT(frame_len + FRAME_PREFIX_BYTES, want);

	Runnel__Request *req;
	CHECK_OK(wire_request_decode(out + FRAME_PREFIX_BYTES, frame_len, &req));
	const char *why = "unset";
	CHECK_OK(wire_request_check(req, &why));
	CHECK(why == NULL);
	CHECK_EQ_INT(req->header->correlation_id, 77);
	CHECK_EQ_STR(req->header->client_id, "test-client");
	CHECK_EQ_INT(req->body_case, RUNNEL__REQUEST__BODY_METADATA);
	CHECK_EQ_INT(req->metadata->n_topics, 2);
	CHECK_EQ_STR(req->metadata->topics[1], "payments");
	CHECK(req->metadata->all_topics);
	wire_request_free(req);
}

TEST(codec_response_round_trip)
{
	Runnel__Response resp;
	Runnel__ApiVersionsResponse body;
	runnel__response__init(&resp);
	runnel__api_versions_response__init(&body);
	resp.correlation_id = 9;
	resp.body_case = RUNNEL__RESPONSE__BODY_API_VERSIONS;
	resp.api_versions = &body;
	body.software_version = "0.1.0";

	size_t count;
	const struct wire_api_range *table = wire_api_table(&count);
	Runnel__ApiVersionRange ranges[32];
	Runnel__ApiVersionRange *ptrs[32];
	CHECK(count <= 32);
	for (size_t i = 0; i < count; i++) {
		runnel__api_version_range__init(&ranges[i]);
		ranges[i].api_key = table[i].api_key;
		ranges[i].min_version = table[i].min_version;
		ranges[i].max_version = table[i].max_version;
		ptrs[i] = &ranges[i];
	}
	body.n_apis = count;
	body.apis = ptrs;

	size_t n = wire_frame_pack(&resp.base, out);
	CHECK_EQ_INT(n, wire_frame_size(&resp.base));
	Runnel__Response *got;
	CHECK_OK(wire_response_decode(out + FRAME_PREFIX_BYTES, n - FRAME_PREFIX_BYTES, &got));
	CHECK_EQ_INT(got->correlation_id, 9);
	CHECK_EQ_INT(got->body_case, RUNNEL__RESPONSE__BODY_API_VERSIONS);
	CHECK_EQ_INT(got->api_versions->n_apis, count);
	CHECK_EQ_INT(got->api_versions->apis[count - 1]->api_key,
		     RUNNEL__API_KEY__API_RAFT_MESSAGE);
	wire_response_free(got);
}

TEST(codec_api_table)
{
	size_t count;
	const struct wire_api_range *t = wire_api_table(&count);
	CHECK_EQ_INT(count, 26);
	const int32_t keys[] = { 0,  1,  2,  3,  8,  9,  10, 11, 12, 13, 14, 15, 16,
				 18, 19, 20, 22, 32, 42, 43, 44, 55, 56, 62, 63, 1000 };
	for (size_t i = 0; i < count; i++) {
		CHECK_EQ_INT(t[i].api_key, keys[i]);
		CHECK(t[i].min_version <= t[i].max_version);
		CHECK(t[i].name != NULL);
		CHECK(wire_api_find(keys[i]) == &t[i]);
	}
	CHECK_EQ_STR(wire_api_find(0)->name, "Produce");
	CHECK(wire_api_find(4) == NULL);
	CHECK(wire_api_find(-1) == NULL);
	CHECK(wire_api_find(INT32_MAX) == NULL);
}

TEST(codec_check_unknown_api)
{
	struct metadata_req m;
	metadata_req_init(&m);
	const char *why = NULL;
	m.hdr.api_key = 4;
	CHECK_EQ_INT(wire_request_check(&m.req, &why), RN_E_UNSUPPORTED_API);
	CHECK(why != NULL);
	m.hdr.api_key = INT32_MAX;
	CHECK_EQ_INT(wire_request_check(&m.req, &why), RN_E_UNSUPPORTED_API);
	m.hdr.api_key = -1;
	CHECK_EQ_INT(wire_request_check(&m.req, NULL), RN_E_UNSUPPORTED_API);
}

TEST(codec_check_bad_version)
{
	struct metadata_req m;
	metadata_req_init(&m);
	const char *why = NULL;
	m.hdr.api_version = 1;
	CHECK_EQ_INT(wire_request_check(&m.req, &why), RN_E_UNSUPPORTED_VERSION);
	CHECK_EQ_STR(why, "unsupported API version");
	m.hdr.api_version = -1;
	CHECK_EQ_INT(wire_request_check(&m.req, &why), RN_E_UNSUPPORTED_VERSION);
}

TEST(codec_check_envelope)
{
	struct metadata_req m;
	metadata_req_init(&m);
	const char *why = NULL;

	/* The header says Produce, the body is Metadata. */
	m.hdr.api_key = RUNNEL__API_KEY__API_PRODUCE;
	CHECK_EQ_INT(wire_request_check(&m.req, &why), RN_E_INVALID_REQUEST);
	CHECK_EQ_STR(why, "request body does not match the API key");

	metadata_req_init(&m);
	m.req.body_case = RUNNEL__REQUEST__BODY__NOT_SET;
	m.req.metadata = NULL;
	CHECK_EQ_INT(wire_request_check(&m.req, &why), RN_E_INVALID_REQUEST);

	metadata_req_init(&m);
	m.req.header = NULL;
	CHECK_EQ_INT(wire_request_check(&m.req, &why), RN_E_INVALID_REQUEST);
	CHECK_EQ_STR(why, "request header missing");

	char id[RN_MAX_CLIENT_ID_LEN + 2];
	memset(id, 'c', sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	metadata_req_init(&m);
	m.hdr.client_id = id;
	CHECK_EQ_INT(wire_request_check(&m.req, &why), RN_E_INVALID_REQUEST);
	CHECK_EQ_STR(why, "client id too long");
	id[RN_MAX_CLIENT_ID_LEN] = 0;
	CHECK_OK(wire_request_check(&m.req, &why));
}

TEST(codec_check_after_decode_of_mismatched_body)
{
	/* The same mismatch arrives intact through encode and decode. */
	struct metadata_req m;
	metadata_req_init(&m);
	m.hdr.api_key = RUNNEL__API_KEY__API_FETCH;
	size_t n = wire_frame_pack(&m.req.base, out);
	Runnel__Request *req;
	CHECK_OK(wire_request_decode(out + FRAME_PREFIX_BYTES, n - FRAME_PREFIX_BYTES, &req));
	int rc = wire_request_check(req, NULL);
	wire_request_free(req);
	CHECK_EQ_INT(rc, RN_E_INVALID_REQUEST);

	/* An empty body decodes (proto3 defaults) but has no header. */
	CHECK_OK(wire_request_decode(out, 0, &req));
	rc = wire_request_check(req, NULL);
	wire_request_free(req);
	CHECK_EQ_INT(rc, RN_E_INVALID_REQUEST);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
