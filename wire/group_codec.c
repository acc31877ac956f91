/* group_codec.c: offsets-topic records to and from wire/group.proto bytes. */
#include "wire/group_codec.h"

#include "common/errors.h"
#include "wire/group.pb-c.h"

#include <stdlib.h>
#include <string.h>

/* Packs msg into a malloc'd buffer. */
static int pack_message(const ProtobufCMessage *msg, uint8_t **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		return RN_E_NOMEM;
	size_t packed = protobuf_c_message_pack(msg, b);
	if (packed != n) {
		free(b);
		return RN_E_INVAL;
	}
	*buf = b;
	*len = n;
	return 0;
}

int group_codec_encode_key(const struct group_record *rec, uint8_t **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	if (!rec->group_id[0])
		return RN_E_INVAL;
	Runnel__Group__GroupRecordKey key = RUNNEL__GROUP__GROUP_RECORD_KEY__INIT;
	Runnel__Group__OffsetKey ok = RUNNEL__GROUP__OFFSET_KEY__INIT;
	Runnel__Group__GroupKey gk = RUNNEL__GROUP__GROUP_KEY__INIT;
	if (rec->type == GROUP_RECORD_OFFSET) {
		ok.group_id = (char *)rec->group_id;
		ok.topic = (char *)rec->topic;
		ok.partition = rec->partition;
		key.kind_case = RUNNEL__GROUP__GROUP_RECORD_KEY__KIND_OFFSET;
		key.offset = &ok;
	} else if (rec->type == GROUP_RECORD_GROUP) {
		gk.group_id = (char *)rec->group_id;
		key.kind_case = RUNNEL__GROUP__GROUP_RECORD_KEY__KIND_GROUP;
		key.group = &gk;
	} else {
		return RN_E_INVAL;
	}
	return pack_message(&key.base, buf, len);
}

static int encode_group_value(const struct group_record *rec, uint8_t **buf, size_t *len)
{
	Runnel__Group__GroupValue v = RUNNEL__GROUP__GROUP_VALUE__INIT;
	v.protocol_type = (char *)rec->protocol_type;
	v.generation_id = rec->generation_id;
	v.protocol_name = (char *)rec->protocol_name;
	v.leader = (char *)rec->leader;
	v.state_timestamp_ms = rec->state_timestamp_ms;
	Runnel__Group__GroupMemberValue *mv = NULL;
	Runnel__Group__GroupMemberValue **mp = NULL;
	if (rec->member_count) {
		mv = calloc(rec->member_count, sizeof(*mv));
		mp = calloc(rec->member_count, sizeof(*mp));
		if (!mv || !mp) {
			free(mv);
			free(mp);
			return RN_E_NOMEM;
		}
	}
	for (uint32_t i = 0; i < rec->member_count; i++) {
		const struct group_member_record *m = &rec->members[i];
		runnel__group__group_member_value__init(&mv[i]);
		mv[i].member_id = (char *)m->member_id;
		mv[i].client_id = (char *)m->client_id;
		mv[i].client_host = (char *)m->client_host;
		mv[i].session_timeout_ms = m->session_timeout_ms;
		mv[i].rebalance_timeout_ms = m->rebalance_timeout_ms;
		mv[i].subscription.data = m->subscription;
		mv[i].subscription.len = m->subscription_len;
		mv[i].assignment.data = m->assignment;
		mv[i].assignment.len = m->assignment_len;
		mp[i] = &mv[i];
	}
	v.n_members = rec->member_count;
	v.members = mp;
	int rc = pack_message(&v.base, buf, len);
	free(mv);
	free(mp);
	return rc;
}

int group_codec_encode_value(const struct group_record *rec, uint8_t **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	if (rec->type != GROUP_RECORD_OFFSET && rec->type != GROUP_RECORD_GROUP)
		return RN_E_INVAL;
	if (rec->tombstone)
		return 0;
	if (rec->type == GROUP_RECORD_GROUP)
		return encode_group_value(rec, buf, len);
	Runnel__Group__OffsetValue v = RUNNEL__GROUP__OFFSET_VALUE__INIT;
	v.offset = rec->offset;
	v.leader_epoch = rec->leader_epoch;
	v.metadata = rec->metadata ? rec->metadata : (char *)"";
	v.commit_timestamp_ms = rec->commit_timestamp_ms;
	return pack_message(&v.base, buf, len);
}

/* ------------------------------------------------------------ decoding */

/* Copies a decoded string into a fixed field; false when it does not fit. */
static bool copy_str(char *dst, const char *src, size_t max)
{
	size_t n = src ? strlen(src) : 0;
	if (n > max)
		return false;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

/* Copies a decoded blob of at most max bytes into a malloc'd buffer. */
static int copy_blob(ProtobufCBinaryData b, size_t max, uint8_t **dst, size_t *dst_len)
{
	*dst = NULL;
	*dst_len = 0;
	if (b.len > max)
		return RN_E_CORRUPT_MESSAGE;
	if (b.len == 0)
		return 0;
	*dst = malloc(b.len);
	if (!*dst)
		return RN_E_NOMEM;
	memcpy(*dst, b.data, b.len);
	*dst_len = b.len;
	return 0;
}

static int decode_key(const uint8_t *key, size_t key_len, struct group_record *out)
{
	Runnel__Group__GroupRecordKey *k = runnel__group__group_record_key__unpack(NULL, key_len, key);
	if (!k)
		return RN_E_CORRUPT_MESSAGE;
	int rc = RN_E_CORRUPT_MESSAGE;
	if (k->kind_case == RUNNEL__GROUP__GROUP_RECORD_KEY__KIND_OFFSET && k->offset) {
		out->type = GROUP_RECORD_OFFSET;
		out->partition = k->offset->partition;
		if (copy_str(out->group_id, k->offset->group_id, GROUP_MAX_ID_LEN) &&
		    copy_str(out->topic, k->offset->topic, RN_MAX_TOPIC_NAME_LEN) &&
		    out->group_id[0] && out->topic[0])
			rc = 0;
	} else if (k->kind_case == RUNNEL__GROUP__GROUP_RECORD_KEY__KIND_GROUP && k->group) {
		out->type = GROUP_RECORD_GROUP;
		if (copy_str(out->group_id, k->group->group_id, GROUP_MAX_ID_LEN) &&
		    out->group_id[0])
			rc = 0;
	}
	runnel__group__group_record_key__free_unpacked(k, NULL);
	return rc;
}

static int decode_offset_value(const uint8_t *value, size_t value_len, struct group_record *out)
{
	Runnel__Group__OffsetValue *v = runnel__group__offset_value__unpack(NULL, value_len, value);
	if (!v)
		return RN_E_CORRUPT_MESSAGE;
	int rc = 0;
	out->offset = v->offset;
	out->leader_epoch = v->leader_epoch;
	out->commit_timestamp_ms = v->commit_timestamp_ms;
	size_t n = v->metadata ? strlen(v->metadata) : 0;
	if (n > GROUP_MAX_COMMIT_METADATA_BYTES) {
		rc = RN_E_CORRUPT_MESSAGE;
	} else if (n) {
		out->metadata = malloc(n + 1);
		if (!out->metadata)
			rc = RN_E_NOMEM;
		else
			memcpy(out->metadata, v->metadata, n + 1);
	}
	runnel__group__offset_value__free_unpacked(v, NULL);
	return rc;
}

static int decode_member(const Runnel__Group__GroupMemberValue *mv, struct group_member_record *m)
{
	if (!copy_str(m->member_id, mv->member_id, GROUP_MAX_MEMBER_ID_LEN) ||
	    !copy_str(m->client_id, mv->client_id, RN_MAX_CLIENT_ID_LEN) ||
	    !copy_str(m->client_host, mv->client_host, GROUP_MAX_HOST_LEN))
		return RN_E_CORRUPT_MESSAGE;
	m->session_timeout_ms = mv->session_timeout_ms;
	m->rebalance_timeout_ms = mv->rebalance_timeout_ms;
	int rc = copy_blob(mv->subscription, GROUP_MAX_METADATA_BYTES, &m->subscription,
			   &m->subscription_len);
	if (rc)
		return rc;
	return copy_blob(mv->assignment, GROUP_MAX_METADATA_BYTES, &m->assignment,
			 &m->assignment_len);
}

static int decode_group_value(const uint8_t *value, size_t value_len, struct group_record *out)
{
	Runnel__Group__GroupValue *v = runnel__group__group_value__unpack(NULL, value_len, value);
	if (!v)
		return RN_E_CORRUPT_MESSAGE;
	int rc = RN_E_CORRUPT_MESSAGE;
	if (!copy_str(out->protocol_type, v->protocol_type, GROUP_MAX_PROTOCOL_NAME_LEN) ||
	    !copy_str(out->protocol_name, v->protocol_name, GROUP_MAX_PROTOCOL_NAME_LEN) ||
	    !copy_str(out->leader, v->leader, GROUP_MAX_MEMBER_ID_LEN) ||
	    v->n_members > GROUP_MAX_MEMBERS)
		goto out_free;
	out->generation_id = v->generation_id;
	out->state_timestamp_ms = v->state_timestamp_ms;
	if (v->n_members) {
		out->members = calloc(v->n_members, sizeof(*out->members));
		if (!out->members) {
			rc = RN_E_NOMEM;
			goto out_free;
		}
	}
	rc = 0;
	for (size_t i = 0; i < v->n_members && rc == 0; i++) {
		/* Counted before decoding so that group_record_clear frees a
		 * member decoded halfway. */
		out->member_count = (uint32_t)i + 1;
		rc = decode_member(v->members[i], &out->members[i]);
	}
out_free:
	runnel__group__group_value__free_unpacked(v, NULL);
	return rc;
}

int group_codec_decode(const uint8_t *key, size_t key_len, const uint8_t *value,
		       size_t value_len, struct group_record *out)
{
	memset(out, 0, sizeof(*out));
	if (!key)
		return RN_E_CORRUPT_MESSAGE;
	int rc = decode_key(key, key_len, out);
	if (rc)
		goto fail;
	if (!value) {
		out->tombstone = true;
		return 0;
	}
	if (out->type == GROUP_RECORD_OFFSET)
		rc = decode_offset_value(value, value_len, out);
	else
		rc = decode_group_value(value, value_len, out);
	if (rc)
		goto fail;
	return 0;
fail:
	group_record_clear(out);
	return rc;
}
