/* fuzz_frame.c: framing, request decoding and envelope checks on arbitrary bytes. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "test/fuzz/fuzz.h"
#include "wire/batch.h"
#include "wire/codec.h"
#include "wire/frame.h"

/* Validates every batch of a produce request, as the broker does. */
static void validate_produce(const Runnel__ProduceRequest *p)
{
	for (size_t t = 0; t < p->n_topics; t++) {
		const Runnel__TopicProduceData *td = p->topics[t];
		for (size_t i = 0; i < td->n_partitions; i++) {
			const ProtobufCBinaryData *rec = &td->partitions[i]->records;
			struct batch_info info;
			(void)batch_validate(rec->data, rec->len, RN_MAX_RECORDS_PER_BATCH, &info);
		}
	}
}

/* True when msg or any message inside it carries fields the schema does not
 * name (kept by protobuf-c and packed again as they came). */
static int has_unknown_fields(const ProtobufCMessage *msg)
{
	if (msg->n_unknown_fields > 0)
		return 1;
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *sub =
				*(ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t j = 0; j < n; j++) {
				if (has_unknown_fields(sub[j]))
					return 1;
			}
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);
		if (sub && has_unknown_fields(sub))
			return 1;
	}
	return 0;
}

/*
 * A request that decoded must encode again, to exactly wire_frame_size bytes,
 * and decode to the same size.  The one exception: protobuf-c accepts an
 * unknown field whose tag is an over-long encoding of field number 0, keeps
 * it, and packs it back in the short form that its own decoder refuses.  Such
 * a field can only be an unknown one, so the round trip is required of every
 * request without unknown fields.
 */
static void reencode(const Runnel__Request *req)
{
	size_t n = wire_frame_size(&req->base);
	uint8_t *buf = malloc(n);
	RN_ASSERT(buf != NULL);
	RN_ASSERT(wire_frame_pack(&req->base, buf) == n);
	uint32_t frame_len;
	int rc = frame_check(buf, n, UINT32_MAX, &frame_len);
	/* A request whose fields are all defaults packs to zero bytes. */
	RN_ASSERT(rc == 0 || (rc == RN_E_MALFORMED_FRAME && n == FRAME_PREFIX_BYTES));
	Runnel__Request *again = NULL;
	rc = wire_request_decode(buf + FRAME_PREFIX_BYTES, n - FRAME_PREFIX_BYTES, &again);
	if (rc != 0) {
		RN_ASSERT(has_unknown_fields(&req->base));
	} else {
		RN_ASSERT(wire_frame_size(&again->base) == n);
		wire_request_free(again);
	}
	free(buf);
}

/* The node decodes in place: the same verdict as the copying decoder, and
 * the same message, packed again byte for byte. */
static void compare_inplace(const uint8_t *body, uint32_t len, const Runnel__Request *copied)
{
	uint8_t *frame = malloc(len ? len : 1);
	RN_ASSERT(frame != NULL);
	memcpy(frame, body, len);
	Runnel__Request *req = NULL;
	int rc = wire_request_decode_inplace(frame, len, &req);
	RN_ASSERT((rc == 0) == (copied != NULL));
	RN_ASSERT(rc == 0 || (rc == RN_E_MALFORMED_FRAME && req == NULL));
	if (rc == 0) {
		size_t n = wire_frame_size(&req->base);
		RN_ASSERT(n == wire_frame_size(&copied->base));
		uint8_t *a = malloc(n), *b = malloc(n);
		RN_ASSERT(a != NULL && b != NULL);
		wire_frame_pack(&req->base, a);
		wire_frame_pack(&copied->base, b);
		RN_ASSERT(memcmp(a, b, n) == 0);
		free(a);
		free(b);
		wire_request_free(req);
	}
	free(frame);
}

static void one_frame(const uint8_t *body, uint32_t len)
{
	Runnel__Request *req = NULL;
	int decoded = wire_request_decode(body, len, &req);
	compare_inplace(body, len, decoded == 0 ? req : NULL);
	if (decoded == 0) {
		const char *why = NULL;
		int rc = wire_request_check(req, &why);
		RN_ASSERT(rc == 0 || why != NULL);
		if (rc == 0 && req->body_case == RUNNEL__REQUEST__BODY_PRODUCE)
			validate_produce(req->produce);
		reencode(req);
		wire_request_free(req);
	} else {
		RN_ASSERT(req == NULL);
	}

	/* Clients decode responses from the same kind of stream. */
	Runnel__Response *resp = NULL;
	if (wire_response_decode(body, len, &resp) == 0)
		wire_response_free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The input is a byte stream that may hold several pipelined frames. */
	size_t pos = 0;
	while (pos < size) {
		uint32_t len = 0;
		int rc = frame_check(data + pos, size - pos, RN_MAX_FRAME_BYTES, &len);
		if (rc != 0) {
			RN_ASSERT(rc == RN_E_AGAIN || rc == RN_E_MALFORMED_FRAME ||
				  rc == RN_E_FRAME_TOO_LARGE);
			break;
		}
		RN_ASSERT(len > 0 && len <= size - pos - FRAME_PREFIX_BYTES);
		one_frame(data + pos + FRAME_PREFIX_BYTES, len);
		pos += FRAME_PREFIX_BYTES + len;
	}
	return 0;
}
