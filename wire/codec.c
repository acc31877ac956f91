/* codec.c: the request/response codec and API version table. */
#include "wire/codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "wire/frame.h"

/*
 * Every API the node serves, sorted by key.  Adding an API or a version is a
 * change to this table (and to runnel.proto); nothing else in the codec
 * needs to know about it.
 */
static const struct wire_api_range api_table[] = {
	{ RUNNEL__API_KEY__API_PRODUCE, 0, 0, "Produce" },
	{ RUNNEL__API_KEY__API_FETCH, 0, 0, "Fetch" },
	{ RUNNEL__API_KEY__API_LIST_OFFSETS, 0, 0, "ListOffsets" },
	{ RUNNEL__API_KEY__API_METADATA, 0, 0, "Metadata" },
	{ RUNNEL__API_KEY__API_OFFSET_COMMIT, 0, 0, "OffsetCommit" },
	{ RUNNEL__API_KEY__API_OFFSET_FETCH, 0, 0, "OffsetFetch" },
	{ RUNNEL__API_KEY__API_FIND_COORDINATOR, 0, 0, "FindCoordinator" },
	{ RUNNEL__API_KEY__API_JOIN_GROUP, 0, 0, "JoinGroup" },
	{ RUNNEL__API_KEY__API_HEARTBEAT, 0, 0, "Heartbeat" },
	{ RUNNEL__API_KEY__API_LEAVE_GROUP, 0, 0, "LeaveGroup" },
	{ RUNNEL__API_KEY__API_SYNC_GROUP, 0, 0, "SyncGroup" },
	{ RUNNEL__API_KEY__API_DESCRIBE_GROUPS, 0, 0, "DescribeGroups" },
	{ RUNNEL__API_KEY__API_LIST_GROUPS, 0, 0, "ListGroups" },
	{ RUNNEL__API_KEY__API_API_VERSIONS, 0, 0, "ApiVersions" },
	{ RUNNEL__API_KEY__API_CREATE_TOPICS, 0, 0, "CreateTopics" },
	{ RUNNEL__API_KEY__API_DELETE_TOPICS, 0, 0, "DeleteTopics" },
	{ RUNNEL__API_KEY__API_INIT_PRODUCER_ID, 0, 0, "InitProducerId" },
	{ RUNNEL__API_KEY__API_DESCRIBE_CONFIGS, 0, 0, "DescribeConfigs" },
	{ RUNNEL__API_KEY__API_DELETE_GROUPS, 0, 0, "DeleteGroups" },
	{ RUNNEL__API_KEY__API_ELECT_LEADERS, 0, 0, "ElectLeaders" },
	{ RUNNEL__API_KEY__API_INCREMENTAL_ALTER_CONFIGS, 0, 0, "IncrementalAlterConfigs" },
	{ RUNNEL__API_KEY__API_DESCRIBE_QUORUM, 0, 0, "DescribeQuorum" },
	{ RUNNEL__API_KEY__API_ALTER_PARTITION, 0, 0, "AlterPartition" },
	{ RUNNEL__API_KEY__API_BROKER_REGISTRATION, 0, 0, "BrokerRegistration" },
	{ RUNNEL__API_KEY__API_BROKER_HEARTBEAT, 0, 0, "BrokerHeartbeat" },
	{ RUNNEL__API_KEY__API_RAFT_MESSAGE, 0, 0, "RaftMessage" },
};

const struct wire_api_range *wire_api_table(size_t *count)
{
	*count = RN_ARRAY_LEN(api_table);
	return api_table;
}

const struct wire_api_range *wire_api_find(int32_t api_key)
{
	for (size_t i = 0; i < RN_ARRAY_LEN(api_table); i++) {
		if (api_table[i].api_key == api_key)
			return &api_table[i];
	}
	return NULL;
}

/* ---------------------------------------------------------- ownership */

/*
 * Every decoded Request belongs to one owner allocation that holds the
 * message itself and, after it, whatever the in-place decoder builds; what
 * protobuf-c allocates beyond the top-level message goes into chunks linked
 * to the owner.  What protobuf-c frees while it decodes (a oneof member
 * replaced, submessages merged) is freed at once, so decoding any frame
 * takes no more memory than protobuf-c alone would.  wire_request_free
 * finds the owner from the message's address.
 */
struct msg_chunk {
	struct msg_chunk *prev;
	struct msg_chunk *next;
	max_align_t data[];
};

struct msg_owner {
	ProtobufCAllocator alloc; /* protobuf-c's view of this owner */
	struct msg_chunk *chunks; /* protobuf-c's allocations but the message */
	bool msg_taken;           /* protobuf-c has been given msg */
	bool nomem;               /* an allocation failed */
	Runnel__Request msg;
	max_align_t tail[];       /* the in-place decoder's structs and strings */
};

static void *owner_alloc_cb(void *data, size_t size)
{
	struct msg_owner *o = data;
	/* protobuf-c allocates the top-level message first. */
	if (!o->msg_taken && size == sizeof(o->msg)) {
		o->msg_taken = true;
		return &o->msg;
	}
	struct msg_chunk *c = malloc(sizeof(*c) + size);
	if (!c) {
		o->nomem = true;
		return NULL;
	}
	c->prev = NULL;
	c->next = o->chunks;
	if (o->chunks)
		o->chunks->prev = c;
	o->chunks = c;
	return c->data;
}

static void owner_free_cb(void *data, void *ptr)
{
	struct msg_owner *o = data;
	if (ptr == &o->msg)
		return;
	struct msg_chunk *c = (struct msg_chunk *)((uint8_t *)ptr - offsetof(struct msg_chunk, data));
	if (c->prev)
		c->prev->next = c->next;
	else
		o->chunks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* An owner with tail_bytes of room after the message, or NULL. */
static struct msg_owner *owner_new(size_t tail_bytes)
{
	struct msg_owner *o = malloc(sizeof(*o) + tail_bytes);
	if (!o)
		return NULL;
	o->alloc.alloc = owner_alloc_cb;
	o->alloc.free = owner_free_cb;
	o->alloc.allocator_data = o;
	o->chunks = NULL;
	o->msg_taken = false;
	o->nomem = false;
	return o;
}

static void owner_free(struct msg_owner *o)
{
	while (o->chunks) {
		struct msg_chunk *c = o->chunks;
		o->chunks = c->next;
		free(c);
	}
	free(o);
}

/* Decodes with protobuf-c into a fresh owner (every bytes field copied). */
static int decode_copying(const uint8_t *frame, size_t len, Runnel__Request **out)
{
	*out = NULL;
	struct msg_owner *o = owner_new(0);
	if (!o)
		return RN_E_NOMEM;
	Runnel__Request *m = runnel__request__unpack(&o->alloc, len, frame);
	if (!m) {
		int rc = o->nomem ? RN_E_NOMEM : RN_E_MALFORMED_FRAME;
		owner_free(o);
		return rc;
	}
	RN_ASSERT(m == &o->msg);
	*out = m;
	return RN_OK;
}

int wire_request_decode(const uint8_t *frame, size_t len, Runnel__Request **out)
{
	return decode_copying(frame, len, out);
}

void wire_request_free(Runnel__Request *req)
{
	if (req)
		owner_free((struct msg_owner *)((uint8_t *)req - offsetof(struct msg_owner, msg)));
}

/* ------------------------------------------------- in-place Produce decoding */

/*
 * The in-place decoder reads the shape every encoder gives a Produce request:
 * each singular field at most once and with its schema's wire type, no
 * unknown fields, no field encodings protobuf-c would have to merge or skip.
 * Meeting anything else it gives up (WALK_DEFER) before building anything,
 * and the frame goes to protobuf-c, which then accepts or refuses it.  So the
 * two accept exactly the same frames and build the same message; only the
 * record batches differ, pointing into the frame instead of into copies.
 *
 * A first pass checks the shape and adds up the room the structs and strings
 * need; a second pass, which cannot fail, builds them in the owner's tail.
 */

#define WALK_DEFER 1

/* Protobuf wire types the Produce messages use. */
#define PB_VARINT 0u
#define PB_LEN 2u
/* protobuf-c reads a field key of at most 5 bytes, a length of at most 5 and
 * a varint value of at most 10. */
#define PB_KEY_MAX_BYTES 5u
#define PB_LEN_MAX_BYTES 5u
#define PB_VARINT_MAX_BYTES 10u

/* Field numbers, from runnel.proto. */
#define F_REQUEST_HEADER 1u
#define F_REQUEST_PRODUCE (RUNNEL__REQUEST__BODY_PRODUCE)
#define F_HEADER_API_KEY 1u
#define F_HEADER_API_VERSION 2u
#define F_HEADER_CORRELATION_ID 3u
#define F_HEADER_CLIENT_ID 4u
#define F_HEADER_FORWARDED_LISTENER 5u
#define F_PRODUCE_ACKS 1u
#define F_PRODUCE_TIMEOUT_MS 2u
#define F_PRODUCE_TOPICS 3u
#define F_TOPIC_NAME 1u
#define F_TOPIC_PARTITIONS 2u
#define F_PARTITION_INDEX 1u
#define F_PARTITION_RECORDS 2u

struct pb_cursor {
	const uint8_t *pos;
	const uint8_t *end;
};

struct pb_field {
	uint32_t number;
	uint32_t wire_type;
	uint64_t value;      /* PB_VARINT */
	const uint8_t *data; /* PB_LEN: the field's bytes, inside the frame */
	size_t len;
};

/* Where the second pass puts what it builds. */
struct walk_out {
	uint8_t *pos;
	uint8_t *end;
};

static size_t walk_round(size_t n)
{
	const size_t a = _Alignof(max_align_t);
	return (n + a - 1) & ~(a - 1);
}

static void *walk_take(struct walk_out *w, size_t n)
{
	void *p = w->pos;
	w->pos += walk_round(n);
	RN_ASSERT(w->pos <= w->end);
	return p;
}

/* Reads a varint of at most max_bytes; false when longer or cut off. */
static bool pb_varint(struct pb_cursor *c, unsigned max_bytes, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < max_bytes && c->pos < c->end; i++) {
		uint8_t b = *c->pos++;
		v |= (uint64_t)(b & 0x7fu) << (7 * i);
		if (b < 0x80u) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Reads the next field: 1, 0 at the end, or WALK_DEFER for anything but a
 * well-formed varint or length-delimited field. */
static int pb_next(struct pb_cursor *c, struct pb_field *f)
{
	if (c->pos == c->end)
		return 0;
	uint64_t key, n;
	if (!pb_varint(c, PB_KEY_MAX_BYTES, &key))
		return -WALK_DEFER;
	f->number = (uint32_t)(key >> 3);
	f->wire_type = (uint32_t)(key & 7u);
	if (f->wire_type == PB_VARINT)
		return pb_varint(c, PB_VARINT_MAX_BYTES, &f->value) ? 1 : -WALK_DEFER;
	if (f->wire_type != PB_LEN || !pb_varint(c, PB_LEN_MAX_BYTES, &n) ||
	    n > (uint64_t)(c->end - c->pos))
		return -WALK_DEFER;
	f->data = c->pos;
	f->len = (size_t)n;
	c->pos += n;
	return 1;
}

/* Next field for the second pass, over bytes the first pass accepted. */
static bool pb_next_known(struct pb_cursor *c, struct pb_field *f)
{
	int rc = pb_next(c, f);
	RN_ASSERT(rc >= 0);
	return rc == 1;
}

/* True when f is field number with wire type, seen for the first time
 * (seen: a bit per field number, all below 32). */
static bool pb_once(const struct pb_field *f, uint32_t number, uint32_t wire_type,
		    uint32_t *seen)
{
	if (f->number != number || f->wire_type != wire_type || (*seen & (1u << number)))
		return false;
	*seen |= 1u << number;
	return true;
}

/* The first pass's tally: bytes of structs and strings to build. */
struct walk_tally {
	size_t bytes;
};

static int scan_header(const uint8_t *data, size_t len, struct walk_tally *t)
{
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	uint32_t seen = 0;
	int rc;
	t->bytes += walk_round(sizeof(Runnel__RequestHeader));
	while ((rc = pb_next(&c, &f)) == 1) {
		if (pb_once(&f, F_HEADER_API_KEY, PB_VARINT, &seen) ||
		    pb_once(&f, F_HEADER_API_VERSION, PB_VARINT, &seen) ||
		    pb_once(&f, F_HEADER_CORRELATION_ID, PB_VARINT, &seen))
			continue;
		if (pb_once(&f, F_HEADER_CLIENT_ID, PB_LEN, &seen) ||
		    pb_once(&f, F_HEADER_FORWARDED_LISTENER, PB_LEN, &seen)) {
			t->bytes += walk_round(f.len + 1);
			continue;
		}
		return WALK_DEFER;
	}
	return rc == 0 ? RN_OK : WALK_DEFER;
}

static int scan_partition(const uint8_t *data, size_t len, struct walk_tally *t)
{
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	uint32_t seen = 0;
	int rc;
	t->bytes += sizeof(Runnel__PartitionProduceData *) +
		    walk_round(sizeof(Runnel__PartitionProduceData));
	while ((rc = pb_next(&c, &f)) == 1) {
		if (!pb_once(&f, F_PARTITION_INDEX, PB_VARINT, &seen) &&
		    !pb_once(&f, F_PARTITION_RECORDS, PB_LEN, &seen))
			return WALK_DEFER;
	}
	return rc == 0 ? RN_OK : WALK_DEFER;
}

static int scan_topic(const uint8_t *data, size_t len, struct walk_tally *t)
{
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	uint32_t seen = 0;
	size_t partitions = 0;
	int rc;
	t->bytes += sizeof(Runnel__TopicProduceData *) + walk_round(sizeof(Runnel__TopicProduceData));
	while ((rc = pb_next(&c, &f)) == 1) {
		if (pb_once(&f, F_TOPIC_NAME, PB_LEN, &seen)) {
			t->bytes += walk_round(f.len + 1);
		} else if (f.number == F_TOPIC_PARTITIONS && f.wire_type == PB_LEN) {
			if (scan_partition(f.data, f.len, t) != RN_OK)
				return WALK_DEFER;
			partitions++;
		} else {
			return WALK_DEFER;
		}
	}
	/* The pointer array is rounded up as a whole. */
	t->bytes += walk_round(partitions * sizeof(void *)) - partitions * sizeof(void *);
	return rc == 0 ? RN_OK : WALK_DEFER;
}

static int scan_produce(const uint8_t *data, size_t len, struct walk_tally *t)
{
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	uint32_t seen = 0;
	size_t topics = 0;
	int rc;
	t->bytes += walk_round(sizeof(Runnel__ProduceRequest));
	while ((rc = pb_next(&c, &f)) == 1) {
		if (pb_once(&f, F_PRODUCE_ACKS, PB_VARINT, &seen) ||
		    pb_once(&f, F_PRODUCE_TIMEOUT_MS, PB_VARINT, &seen))
			continue;
		if (f.number != F_PRODUCE_TOPICS || f.wire_type != PB_LEN ||
		    scan_topic(f.data, f.len, t) != RN_OK)
			return WALK_DEFER;
		topics++;
	}
	t->bytes += walk_round(topics * sizeof(void *)) - topics * sizeof(void *);
	return rc == 0 ? RN_OK : WALK_DEFER;
}

/* Checks the whole request; 0 with the tally when the walker can build it. */
static int scan_request(const uint8_t *frame, size_t len, struct walk_tally *t)
{
	struct pb_cursor c = {frame, frame + len};
	struct pb_field f;
	bool header = false, produce = false;
	int rc;
	while ((rc = pb_next(&c, &f)) == 1) {
		if (f.number == F_REQUEST_HEADER && f.wire_type == PB_LEN && !header) {
			header = true;
			rc = scan_header(f.data, f.len, t);
		} else if (f.number == F_REQUEST_PRODUCE && f.wire_type == PB_LEN && !produce) {
			produce = true;
			rc = scan_produce(f.data, f.len, t);
		} else {
			return WALK_DEFER;
		}
		if (rc != RN_OK)
			return WALK_DEFER;
	}
	return rc == 0 && produce ? RN_OK : WALK_DEFER;
}

/* Counts the fields numbered number in a message the first pass accepted. */
static size_t count_fields(const uint8_t *data, size_t len, uint32_t number)
{
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	size_t n = 0;
	while (pb_next_known(&c, &f))
		n += f.number == number;
	return n;
}

/* A NUL-terminated copy, as protobuf-c makes of a string field. */
static char *build_string(struct walk_out *w, const struct pb_field *f)
{
	char *s = walk_take(w, f->len + 1);
	memcpy(s, f->data, f->len);
	s[f->len] = '\0';
	return s;
}

static Runnel__RequestHeader *build_header(struct walk_out *w, const uint8_t *data, size_t len)
{
	Runnel__RequestHeader *h = walk_take(w, sizeof(*h));
	runnel__request_header__init(h);
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	while (pb_next_known(&c, &f)) {
		/* An int32 is the low 32 bits of its varint, as protobuf-c reads it. */
		int32_t v = (int32_t)(uint32_t)f.value;
		switch (f.number) {
		case F_HEADER_API_KEY:
			h->api_key = v;
			break;
		case F_HEADER_API_VERSION:
			h->api_version = v;
			break;
		case F_HEADER_CORRELATION_ID:
			h->correlation_id = v;
			break;
		case F_HEADER_CLIENT_ID:
			h->client_id = build_string(w, &f);
			break;
		default:
			h->forwarded_listener = build_string(w, &f);
			break;
		}
	}
	return h;
}

static Runnel__PartitionProduceData *build_partition(struct walk_out *w, const uint8_t *data,
						     size_t len)
{
	Runnel__PartitionProduceData *pd = walk_take(w, sizeof(*pd));
	runnel__partition_produce_data__init(pd);
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	while (pb_next_known(&c, &f)) {
		if (f.number == F_PARTITION_INDEX) {
			pd->partition = (int32_t)(uint32_t)f.value;
		} else {
			/* Empty bytes are NULL with length 0, as protobuf-c leaves them. */
			pd->records.len = f.len;
			pd->records.data = f.len ? (uint8_t *)f.data : NULL;
		}
	}
	return pd;
}

static Runnel__TopicProduceData *build_topic(struct walk_out *w, const uint8_t *data, size_t len)
{
	Runnel__TopicProduceData *td = walk_take(w, sizeof(*td));
	runnel__topic_produce_data__init(td);
	size_t n = count_fields(data, len, F_TOPIC_PARTITIONS);
	if (n > 0)
		td->partitions = walk_take(w, n * sizeof(*td->partitions));
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	while (pb_next_known(&c, &f)) {
		if (f.number == F_TOPIC_NAME)
			td->name = build_string(w, &f);
		else
			td->partitions[td->n_partitions++] = build_partition(w, f.data, f.len);
	}
	return td;
}

static Runnel__ProduceRequest *build_produce(struct walk_out *w, const uint8_t *data, size_t len)
{
	Runnel__ProduceRequest *p = walk_take(w, sizeof(*p));
	runnel__produce_request__init(p);
	size_t n = count_fields(data, len, F_PRODUCE_TOPICS);
	if (n > 0)
		p->topics = walk_take(w, n * sizeof(*p->topics));
	struct pb_cursor c = {data, data + len};
	struct pb_field f;
	while (pb_next_known(&c, &f)) {
		if (f.number == F_PRODUCE_ACKS)
			p->acks = (int32_t)(uint32_t)f.value;
		else if (f.number == F_PRODUCE_TIMEOUT_MS)
			p->timeout_ms = (int32_t)(uint32_t)f.value;
		else
			p->topics[p->n_topics++] = build_topic(w, f.data, f.len);
	}
	return p;
}

static void build_request(struct msg_owner *o, size_t tail_bytes, const uint8_t *frame,
			  size_t len)
{
	struct walk_out w = {(uint8_t *)o->tail, (uint8_t *)o->tail + tail_bytes};
	Runnel__Request *m = &o->msg;
	runnel__request__init(m);
	struct pb_cursor c = {frame, frame + len};
	struct pb_field f;
	while (pb_next_known(&c, &f)) {
		if (f.number == F_REQUEST_HEADER) {
			m->header = build_header(&w, f.data, f.len);
		} else {
			m->body_case = RUNNEL__REQUEST__BODY_PRODUCE;
			m->produce = build_produce(&w, f.data, f.len);
		}
	}
	RN_ASSERT(w.pos == w.end);
}

int wire_request_decode_inplace(uint8_t *frame, size_t len, Runnel__Request **out)
{
	struct walk_tally t = {0};
	if (scan_request(frame, len, &t) != RN_OK)
		return decode_copying(frame, len, out);
	*out = NULL;
	struct msg_owner *o = owner_new(t.bytes);
	if (!o)
		return RN_E_NOMEM;
	build_request(o, t.bytes, frame, len);
	*out = &o->msg;
	return RN_OK;
}

int wire_response_decode(const uint8_t *frame, size_t len, Runnel__Response **out)
{
	*out = runnel__response__unpack(NULL, len, frame);
	return *out ? 0 : RN_E_MALFORMED_FRAME;
}

void wire_response_free(Runnel__Response *resp)
{
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
}

static int check_fail(const char **why, const char *reason, int err)
{
	if (why)
		*why = reason;
	return err;
}

int wire_request_check(const Runnel__Request *req, const char **why)
{
	RN_ASSERT(req != NULL);
	const Runnel__RequestHeader *h = req->header;
	if (h == NULL)
		return check_fail(why, "request header missing", RN_E_INVALID_REQUEST);
	/* strnlen bounds the scan: the id only has to be known to be too long. */
	if (h->client_id && strnlen(h->client_id, RN_MAX_CLIENT_ID_LEN + 1) > RN_MAX_CLIENT_ID_LEN)
		return check_fail(why, "client id too long", RN_E_INVALID_REQUEST);

	const struct wire_api_range *api = wire_api_find(h->api_key);
	if (api == NULL)
		return check_fail(why, "unsupported API key", RN_E_UNSUPPORTED_API);
	if (h->api_version < api->min_version || h->api_version > api->max_version)
		return check_fail(why, "unsupported API version", RN_E_UNSUPPORTED_VERSION);

	if (req->body_case == RUNNEL__REQUEST__BODY__NOT_SET)
		return check_fail(why, "request body missing", RN_E_INVALID_REQUEST);
	if ((int32_t)req->body_case != h->api_key + WIRE_BODY_FIELD_OFFSET)
		return check_fail(why, "request body does not match the API key",
				  RN_E_INVALID_REQUEST);

	if (why)
		*why = NULL;
	return 0;
}

size_t wire_frame_size(const ProtobufCMessage *msg)
{
	return FRAME_PREFIX_BYTES + protobuf_c_message_get_packed_size(msg);
}

size_t wire_frame_pack(const ProtobufCMessage *msg, uint8_t *out)
{
	size_t n = protobuf_c_message_pack(msg, out + FRAME_PREFIX_BYTES);
	RN_ASSERT(n <= UINT32_MAX);
	frame_put_prefix(out, (uint32_t)n);
	return FRAME_PREFIX_BYTES + n;
}
