/* codec.c: the request/response codec and API version table. */
#include "wire/codec.h"

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
	{ RUNNEL__API_KEY__API_DELETE_GROUPS, 0, 0, "DeleteGroups" },
	{ RUNNEL__API_KEY__API_ELECT_LEADERS, 0, 0, "ElectLeaders" },
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

int wire_request_decode(const uint8_t *frame, size_t len, Runnel__Request **out)
{
	*out = runnel__request__unpack(NULL, len, frame);
	return *out ? 0 : RN_E_MALFORMED_FRAME;
}

void wire_request_free(Runnel__Request *req)
{
	if (req)
		runnel__request__free_unpacked(req, NULL);
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
