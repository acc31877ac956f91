/* test_codec_inplace.c: the in-place Produce decoder against protobuf-c, on valid and broken frames. */
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "test/unit/harness.h"
#include "wire/codec.h"
#include "wire/frame.h"

#include <stdbool.h>

/* Room for any frame these tests build. */
#define FRAME_CAP 8192u
/* Random cases the differential test runs (each a few microseconds). */
#define DIFF_CASES 40000

/* --------------------------------------------------------------- helpers */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: small, seedable, good enough to pick shapes. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static uint32_t rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(rng_next(s) % n);
}

/* What protobuf-c itself makes of a frame, as the node decoded it before:
 * 0 or RN_E_MALFORMED_FRAME, and the message packed again. */
static int reference_decode(const uint8_t *frame, size_t len, uint8_t *packed, size_t *packed_len)
{
	Runnel__Request *m = runnel__request__unpack(NULL, len, frame);
	if (!m)
		return RN_E_MALFORMED_FRAME;
	*packed_len = protobuf_c_message_pack(&m->base, packed);
	runnel__request__free_unpacked(m, NULL);
	return 0;
}

/* True when every non-empty batch of a produce request lies inside frame. */
static bool batches_in_frame(const Runnel__Request *m, const uint8_t *frame, size_t len)
{
	if (m->body_case != RUNNEL__REQUEST__BODY_PRODUCE)
		return false;
	const Runnel__ProduceRequest *p = m->produce;
	bool any = false;
	for (size_t t = 0; t < p->n_topics; t++) {
		for (size_t i = 0; i < p->topics[t]->n_partitions; i++) {
			const ProtobufCBinaryData *b = &p->topics[t]->partitions[i]->records;
			if (b->len == 0) {
				/* protobuf-c leaves empty bytes NULL; so must the walker. */
				if (b->data != NULL)
					return false;
				continue;
			}
			if (b->data < frame || b->data + b->len > frame + len)
				return false;
			any = true;
		}
	}
	return any;
}

/* True when an empty batch of a produce request has a data pointer. */
static bool has_empty_batch_with_data(const Runnel__Request *m)
{
	if (m->body_case != RUNNEL__REQUEST__BODY_PRODUCE)
		return false;
	for (size_t t = 0; t < m->produce->n_topics; t++) {
		const Runnel__TopicProduceData *td = m->produce->topics[t];
		for (size_t i = 0; i < td->n_partitions; i++) {
			const ProtobufCBinaryData *b = &td->partitions[i]->records;
			if (b->len == 0 && b->data != NULL)
				return true;
		}
	}
	return false;
}

/*
 * Decodes frame both ways and compares with protobuf-c: the same verdict and
 * code, and when accepted the same message (packed again byte for byte).
 * Returns 1 when the in-place decoder built the message, 0 when it left it
 * to protobuf-c or the frame was refused, -1 on a mismatch.
 */
static int compare_decoders(uint8_t *frame, size_t len)
{
	static uint8_t want[2 * FRAME_CAP], got[2 * FRAME_CAP];
	size_t want_len = 0;
	int want_rc = reference_decode(frame, len, want, &want_len);

	Runnel__Request *copy = NULL, *inplace = NULL;
	int copy_rc = wire_request_decode(frame, len, &copy);
	int inplace_rc = wire_request_decode_inplace(frame, len, &inplace);
	int result = 0;
	if (copy_rc != want_rc || inplace_rc != want_rc || (want_rc != 0) != (inplace == NULL) ||
	    (want_rc != 0) != (copy == NULL)) {
		fprintf(stderr, "  verdicts differ: protobuf-c %d, copying %d, in place %d\n", want_rc,
			copy_rc, inplace_rc);
		result = -1;
		goto done;
	}
	if (want_rc != 0)
		goto done;
	size_t n = protobuf_c_message_pack(&copy->base, got);
	if (n != want_len || memcmp(got, want, n) != 0) {
		fprintf(stderr, "  the copying decoder built another message\n");
		result = -1;
		goto done;
	}
	n = protobuf_c_message_pack(&inplace->base, got);
	if (n != want_len || memcmp(got, want, n) != 0) {
		fprintf(stderr, "  the in-place decoder built another message\n");
		result = -1;
		goto done;
	}
	if (batches_in_frame(copy, frame, len)) {
		fprintf(stderr, "  the copying decoder left a batch in the frame\n");
		result = -1;
		goto done;
	}
	result = batches_in_frame(inplace, frame, len) ? 1 : 0;
	if (!result && !batches_in_frame(copy, frame, len) && has_empty_batch_with_data(inplace)) {
		fprintf(stderr, "  an empty batch is not NULL\n");
		result = -1;
	}
done:
	wire_request_free(copy);
	wire_request_free(inplace);
	return result;
}

/* ------------------------------------------------------- a hand encoder */

/*
 * Encodes Produce requests field by field so that a test can choose what
 * protobuf-c's packer never emits: over-long varints, fields in any order,
 * repeated singular fields, unknown fields, odd wire types.
 */
struct enc {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint64_t *rng;
	bool odd; /* use the unusual encodings at random */
};

static void put_byte(struct enc *e, uint8_t b)
{
	if (e->len < e->cap)
		e->buf[e->len] = b;
	e->len++;
}

/* A varint, padded to pad extra bytes (an over-long but valid encoding). */
static void put_varint_padded(struct enc *e, uint64_t v, unsigned pad)
{
	while (v >= 0x80 || pad > 0) {
		put_byte(e, (uint8_t)(v | 0x80));
		if (v < 0x80)
			pad--;
		v >>= 7;
	}
	put_byte(e, (uint8_t)v);
}

static unsigned pick_pad(struct enc *e, unsigned max_pad)
{
	if (!e->odd || rng_below(e->rng, 8) != 0)
		return 0;
	return rng_below(e->rng, max_pad + 1);
}

static void put_varint(struct enc *e, uint64_t v)
{
	/* Up to 11 bytes: one more than any decoder takes. */
	put_varint_padded(e, v, pick_pad(e, 4));
}

static void put_key(struct enc *e, uint32_t field, uint32_t wire_type)
{
	put_varint_padded(e, ((uint64_t)field << 3) | wire_type, pick_pad(e, 3));
}

static void put_int32(struct enc *e, uint32_t field, int32_t v)
{
	put_key(e, field, 0);
	/* A negative int32 is sign-extended to 10 bytes; 5 bytes of its low 32
	 * bits read the same, and an odd encoder may send that. */
	if (v < 0 && e->odd && rng_below(e->rng, 4) == 0)
		put_varint(e, (uint32_t)v);
	else
		put_varint(e, (uint64_t)(int64_t)v);
}

static void put_bytes(struct enc *e, uint32_t field, const void *data, size_t len)
{
	put_key(e, field, 2);
	put_varint_padded(e, len, pick_pad(e, 2));
	for (size_t i = 0; i < len; i++)
		put_byte(e, ((const uint8_t *)data)[i]);
}

/* Sometimes an unknown field, or a known number with another wire type. */
static void maybe_stray_field(struct enc *e)
{
	if (!e->odd || rng_below(e->rng, 16) != 0)
		return;
	switch (rng_below(e->rng, 4)) {
	case 0:
		put_key(e, 40 + rng_below(e->rng, 10), 0);
		put_varint(e, rng_next(e->rng));
		break;
	case 1:
		put_bytes(e, 40 + rng_below(e->rng, 10), "xyz", 3);
		break;
	case 2:
		put_key(e, 1 + rng_below(e->rng, 3), 5);
		for (int i = 0; i < 4; i++)
			put_byte(e, 0);
		break;
	default:
		put_key(e, 1 + rng_below(e->rng, 3), 2 - 2 * rng_below(e->rng, 2));
		put_byte(e, 0);
		break;
	}
}

/* Encodes a nested message built by fn into e as field. */
static void put_message(struct enc *e, uint32_t field, void (*fn)(struct enc *e, void *arg),
			void *arg)
{
	uint8_t tmp[FRAME_CAP];
	struct enc sub = {tmp, 0, sizeof(tmp), e->rng, e->odd};
	fn(&sub, arg);
	put_bytes(e, field, tmp, sub.len < sub.cap ? sub.len : sub.cap);
}

static void random_string(uint64_t *rng, char *out, size_t max)
{
	size_t n = rng_below(rng, (uint32_t)max);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('a' + rng_below(rng, 26));
	out[n] = 0;
}

static void enc_header(struct enc *e, void *arg)
{
	(void)arg;
	char id[24];
	random_string(e->rng, id, sizeof(id));
	put_int32(e, 1, e->odd && rng_below(e->rng, 8) == 0 ? 1 : 0);
	if (rng_below(e->rng, 4))
		put_int32(e, 2, 0);
	put_int32(e, 3, (int32_t)rng_next(e->rng));
	maybe_stray_field(e);
	if (rng_below(e->rng, 2))
		put_bytes(e, 4, id, strlen(id));
	if (rng_below(e->rng, 8) == 0)
		put_bytes(e, 5, "INTERNAL", 8);
}

static void enc_partition(struct enc *e, void *arg)
{
	(void)arg;
	uint8_t batch[96];
	size_t n = rng_below(e->rng, sizeof(batch));
	for (size_t i = 0; i < n; i++)
		batch[i] = (uint8_t)rng_next(e->rng);
	bool records_first = e->odd && rng_below(e->rng, 2);
	if (records_first)
		put_bytes(e, 2, batch, n);
	put_int32(e, 1, (int32_t)rng_below(e->rng, 20) - 2);
	maybe_stray_field(e);
	if (!records_first)
		put_bytes(e, 2, batch, n);
	if (e->odd && rng_below(e->rng, 16) == 0)
		put_bytes(e, 2, batch, n / 2); /* a second batch field: the last one counts */
}

static void enc_topic(struct enc *e, void *arg)
{
	(void)arg;
	char name[16];
	random_string(e->rng, name, sizeof(name));
	put_bytes(e, 1, name, strlen(name));
	uint32_t parts = rng_below(e->rng, 4);
	for (uint32_t i = 0; i < parts; i++) {
		put_message(e, 2, enc_partition, NULL);
		maybe_stray_field(e);
	}
}

static void enc_produce(struct enc *e, void *arg)
{
	(void)arg;
	static const int32_t acks[] = {-1, 0, 1, 2, INT32_MIN};
	put_int32(e, 1, acks[rng_below(e->rng, 5)]);
	put_int32(e, 2, (int32_t)rng_below(e->rng, 40000) - 10);
	uint32_t topics = rng_below(e->rng, 4);
	for (uint32_t i = 0; i < topics; i++)
		put_message(e, 3, enc_topic, NULL);
	maybe_stray_field(e);
}

/* A whole Produce request; odd: use unusual encodings at random. */
static size_t enc_request(uint64_t *rng, bool odd, uint8_t *buf, size_t cap)
{
	struct enc e = {buf, 0, cap, rng, odd};
	bool body_first = odd && rng_below(rng, 4) == 0;
	if (body_first)
		put_message(&e, 100, enc_produce, NULL);
	if (!odd || rng_below(rng, 16) != 0)
		put_message(&e, 1, enc_header, NULL);
	if (!body_first)
		put_message(&e, 100, enc_produce, NULL);
	if (odd && rng_below(rng, 32) == 0)
		put_message(&e, 1, enc_header, NULL); /* a second header: merged */
	if (odd && rng_below(rng, 32) == 0)
		put_message(&e, 100, enc_produce, NULL); /* a second body: merged */
	maybe_stray_field(&e);
	return e.len < e.cap ? e.len : e.cap;
}

/* Damages a frame: a flipped, replaced, inserted or removed byte, or a cut. */
static size_t mutate(uint64_t *rng, uint8_t *buf, size_t len, size_t cap)
{
	if (len == 0)
		return 0;
	size_t at = rng_below(rng, (uint32_t)len);
	switch (rng_below(rng, 5)) {
	case 0:
		buf[at] ^= (uint8_t)(1u << rng_below(rng, 8));
		return len;
	case 1:
		buf[at] = (uint8_t)rng_next(rng);
		return len;
	case 2:
		if (len == cap)
			return len;
		memmove(buf + at + 1, buf + at, len - at);
		buf[at] = (uint8_t)rng_next(rng);
		return len + 1;
	case 3:
		memmove(buf + at, buf + at + 1, len - at - 1);
		return len - 1;
	default:
		return at;
	}
}

/* ------------------------------------------------------------------ tests */

TEST(inplace_batches_point_into_the_frame)
{
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__ProduceRequest pr = RUNNEL__PRODUCE_REQUEST__INIT;
	Runnel__TopicProduceData td[2] = {RUNNEL__TOPIC_PRODUCE_DATA__INIT,
					  RUNNEL__TOPIC_PRODUCE_DATA__INIT};
	Runnel__TopicProduceData *tds[2] = {&td[0], &td[1]};
	Runnel__PartitionProduceData pd[3] = {RUNNEL__PARTITION_PRODUCE_DATA__INIT,
					      RUNNEL__PARTITION_PRODUCE_DATA__INIT,
					      RUNNEL__PARTITION_PRODUCE_DATA__INIT};
	Runnel__PartitionProduceData *pds0[2] = {&pd[0], &pd[1]}, *pds1[1] = {&pd[2]};
	uint8_t b0[300], b1[5], b2[1];
	memset(b0, 0xa5, sizeof(b0));
	memset(b1, 0x11, sizeof(b1));
	b2[0] = 7;
	hdr.api_key = RUNNEL__API_KEY__API_PRODUCE;
	hdr.correlation_id = -5;
	hdr.client_id = "producer-1";
	req.header = &hdr;
	req.body_case = RUNNEL__REQUEST__BODY_PRODUCE;
	req.produce = &pr;
	pr.acks = -1;
	pr.timeout_ms = 30000;
	pr.n_topics = 2;
	pr.topics = tds;
	td[0].name = "orders";
	td[0].n_partitions = 2;
	td[0].partitions = pds0;
	td[1].name = "";
	td[1].n_partitions = 1;
	td[1].partitions = pds1;
	pd[0].partition = 0;
	pd[0].records = (ProtobufCBinaryData){sizeof(b0), b0};
	pd[1].partition = 9999;
	pd[1].records = (ProtobufCBinaryData){sizeof(b1), b1};
	pd[2].partition = -1;
	pd[2].records = (ProtobufCBinaryData){sizeof(b2), b2};

	static uint8_t frame[FRAME_CAP];
	size_t n = wire_frame_pack(&req.base, frame);
	uint8_t *body = frame + FRAME_PREFIX_BYTES;
	size_t len = n - FRAME_PREFIX_BYTES;
	Runnel__Request *m = NULL;
	CHECK_OK(wire_request_decode_inplace(body, len, &m));
	CHECK_OK(wire_request_check(m, NULL));
	CHECK_EQ_INT(m->header->correlation_id, -5);
	CHECK_EQ_STR(m->header->client_id, "producer-1");
	CHECK_EQ_STR(m->header->forwarded_listener, "");
	CHECK_EQ_INT(m->produce->acks, -1);
	CHECK_EQ_INT(m->produce->timeout_ms, 30000);
	CHECK_EQ_INT(m->produce->n_topics, 2);
	CHECK_EQ_STR(m->produce->topics[0]->name, "orders");
	CHECK_EQ_STR(m->produce->topics[1]->name, "");
	CHECK_EQ_INT(m->produce->topics[0]->n_partitions, 2);
	CHECK_EQ_INT(m->produce->topics[0]->partitions[1]->partition, 9999);
	CHECK_EQ_INT(m->produce->topics[1]->partitions[0]->partition, -1);
	const ProtobufCBinaryData *r0 = &m->produce->topics[0]->partitions[0]->records;
	CHECK_EQ_INT(r0->len, sizeof(b0));
	CHECK(r0->data > body && r0->data + r0->len <= body + len);
	CHECK(memcmp(r0->data, b0, sizeof(b0)) == 0);
	/* The batch is the frame's bytes: a change to one is a change to the other. */
	body[r0->data - body] ^= 0xff;
	CHECK_EQ_INT(r0->data[0], 0xa5 ^ 0xff);
	body[r0->data - body] ^= 0xff;
	CHECK(batches_in_frame(m, body, len));
	wire_request_free(m);

	CHECK_EQ_INT(compare_decoders(body, len), 1);
}

TEST(inplace_other_apis_are_copied)
{
	/* A Metadata request goes to protobuf-c and owns everything it holds. */
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	Runnel__MetadataRequest md = RUNNEL__METADATA_REQUEST__INIT;
	char *topics[] = {"a", "b"};
	hdr.api_key = RUNNEL__API_KEY__API_METADATA;
	req.header = &hdr;
	req.body_case = RUNNEL__REQUEST__BODY_METADATA;
	req.metadata = &md;
	md.n_topics = 2;
	md.topics = topics;
	static uint8_t frame[FRAME_CAP];
	size_t n = wire_frame_pack(&req.base, frame);
	Runnel__Request *m = NULL;
	CHECK_OK(wire_request_decode_inplace(frame + FRAME_PREFIX_BYTES, n - FRAME_PREFIX_BYTES, &m));
	memset(frame, 0, n);
	CHECK_EQ_INT(m->metadata->n_topics, 2);
	CHECK_EQ_STR(m->metadata->topics[1], "b");
	wire_request_free(m);
}

TEST(inplace_refuses_what_protobuf_c_refuses)
{
	/* Each is a Produce request (field 100) broken one way. */
	static const struct {
		const char *what;
		uint8_t bytes[24];
		size_t len;
	} cases[] = {
		{"body length past the end", {0xa2, 0x06, 0x05, 0x08, 0x01}, 5},
		{"topic length past the body", {0xa2, 0x06, 0x03, 0x1a, 0x05, 0x0a}, 6},
		{"records length past the partition",
		 {0xa2, 0x06, 0x06, 0x1a, 0x04, 0x12, 0x02, 0x12, 0x09}, 9},
		{"acks as a length-delimited field", {0xa2, 0x06, 0x02, 0x0a, 0x00}, 5},
		{"records as a varint",
		 {0xa2, 0x06, 0x06, 0x1a, 0x04, 0x12, 0x02, 0x10, 0x01}, 9},
		{"a topic as a varint", {0xa2, 0x06, 0x02, 0x18, 0x01}, 5},
		{"a varint of eleven bytes",
		 {0xa2, 0x06, 0x0c, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0x01},
		 15},
		{"a varint cut off", {0xa2, 0x06, 0x02, 0x08, 0xff}, 5},
		{"a key of six bytes", {0xa2, 0x06, 0x07, 0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01}, 10},
		{"a length of six bytes", {0xa2, 0x06, 0x07, 0x1a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 10},
		{"wire type 3 (a group)", {0xa2, 0x06, 0x02, 0x0b, 0x0c}, 5},
		{"wire type 7", {0xa2, 0x06, 0x02, 0x0f, 0x00}, 5},
		{"a fixed32 cut off", {0xa2, 0x06, 0x03, 0x0d, 0x00, 0x00}, 6},
		{"a header string as a varint", {0x0a, 0x02, 0x20, 0x01, 0xa2, 0x06, 0x00}, 7},
		{"a header string past the header", {0x0a, 0x02, 0x22, 0x7f, 0xa2, 0x06, 0x00}, 7},
		{"the body as a varint", {0xa0, 0x06, 0x01}, 3},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cases); i++) {
		uint8_t frame[32];
		memcpy(frame, cases[i].bytes, cases[i].len);
		Runnel__Request *m = (Runnel__Request *)1;
		int rc = wire_request_decode_inplace(frame, cases[i].len, &m);
		if (rc != RN_E_MALFORMED_FRAME || m != NULL)
			fprintf(stderr, "  case \"%s\": %d\n", cases[i].what, rc);
		CHECK_EQ_INT(rc, RN_E_MALFORMED_FRAME);
		CHECK(m == NULL);
		CHECK_EQ_INT(compare_decoders(frame, cases[i].len), 0);
	}
}

TEST(inplace_accepts_what_protobuf_c_accepts)
{
	/* Unusual but valid: protobuf-c takes these, and so must the node. */
	static const struct {
		const char *what;
		uint8_t bytes[24];
		size_t len;
	} cases[] = {
		{"an over-long key", {0xa2, 0x86, 0x80, 0x00, 0x02, 0x08, 0x01}, 7},
		{"an over-long length", {0xa2, 0x06, 0x82, 0x80, 0x00, 0x08, 0x01}, 7},
		{"an unknown field", {0xa2, 0x06, 0x02, 0x50, 0x01}, 5},
		{"acks twice", {0xa2, 0x06, 0x04, 0x08, 0x01, 0x08, 0x00}, 7},
		{"an empty body", {0xa2, 0x06, 0x00}, 3},
		{"an empty partition", {0xa2, 0x06, 0x04, 0x1a, 0x02, 0x12, 0x00}, 7},
		{"empty records", {0xa2, 0x06, 0x06, 0x1a, 0x04, 0x12, 0x02, 0x12, 0x00}, 9},
		{"a string with a NUL", {0xa2, 0x06, 0x05, 0x1a, 0x03, 0x0a, 0x01, 0x00}, 8},
		{"field number 0", {0x00, 0x01, 0xa2, 0x06, 0x00}, 5},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cases); i++) {
		uint8_t frame[32];
		memcpy(frame, cases[i].bytes, cases[i].len);
		Runnel__Request *m = NULL;
		Runnel__Request *ref = runnel__request__unpack(NULL, cases[i].len, frame);
		int want = ref ? 0 : RN_E_MALFORMED_FRAME;
		runnel__request__free_unpacked(ref, NULL);
		int rc = wire_request_decode_inplace(frame, cases[i].len, &m);
		if (rc != want)
			fprintf(stderr, "  case \"%s\": %d, protobuf-c %d\n", cases[i].what, rc, want);
		CHECK_EQ_INT(rc, want);
		wire_request_free(m);
		CHECK(compare_decoders(frame, cases[i].len) >= 0);
	}
}

TEST(inplace_matches_protobuf_c_on_random_frames)
{
	const char *env = getenv("CODEC_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : 0x5eed0f1a7e5ull;
	uint64_t rng = seed | 1;
	static uint8_t frame[FRAME_CAP];
	int in_place = 0, refused = 0;
	for (int i = 0; i < DIFF_CASES; i++) {
		uint64_t case_rng = rng;
		/* A third plain, a third with odd encodings, a third damaged. */
		int kind = (int)rng_below(&rng, 3);
		size_t len = enc_request(&rng, kind != 0, frame, sizeof(frame));
		if (kind == 2) {
			uint32_t cuts = 1 + rng_below(&rng, 3);
			for (uint32_t c = 0; c < cuts; c++)
				len = mutate(&rng, frame, len, sizeof(frame));
		}
		int rc = compare_decoders(frame, len);
		if (rc < 0) {
			fprintf(stderr, "  case %d (rng state %llu) failed; replay: CODEC_SEED=%llu "
					"test_wire_codec_inplace inplace_matches_protobuf_c_on_random_frames\n",
				i, (unsigned long long)case_rng, (unsigned long long)seed);
		}
		CHECK(rc >= 0);
		/* A plain encoding is always walked in place (when it has a batch). */
		if (kind == 0 && rc == 0) {
			Runnel__Request *m = runnel__request__unpack(NULL, len, frame);
			CHECK(m != NULL);
			bool has_batch = false;
			for (size_t t = 0; t < m->produce->n_topics; t++)
				for (size_t p = 0; p < m->produce->topics[t]->n_partitions; p++)
					has_batch |= m->produce->topics[t]->partitions[p]->records.len > 0;
			runnel__request__free_unpacked(m, NULL);
			CHECK(!has_batch);
		}
		in_place += rc == 1;
		Runnel__Request *ref = runnel__request__unpack(NULL, len, frame);
		refused += ref == NULL;
		runnel__request__free_unpacked(ref, NULL);
	}
	fprintf(stderr, "  %d cases: %d decoded in place, %d refused by both\n", DIFF_CASES, in_place,
		refused);
	/* Both paths are exercised: most plain frames in place, many refused. */
	CHECK(in_place > DIFF_CASES / 4);
	CHECK(refused > DIFF_CASES / 20);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
