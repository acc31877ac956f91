/* group_offsets.c: offset commits, group deletion and the appends waiting for replication. */
#include "broker/group_internal.h"

#include "common/errors.h"
#include "common/rn_assert.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ commit */

/* Kafka's topic name rule: 1 to RN_MAX_TOPIC_NAME_LEN of [a-zA-Z0-9._-]. */
static bool topic_name_ok(const char *t)
{
	if (!t || !t[0])
		return false;
	size_t n = 0;
	for (; t[n]; n++) {
		char c = t[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok || n >= RN_MAX_TOPIC_NAME_LEN)
			return false;
	}
	return true;
}

static int commit_check_offsets(const struct group_commit_request *req)
{
	if (req->offset_count > RN_MAX_PARTITIONS_PER_REQUEST ||
	    (req->offset_count && !req->offsets))
		return RN_E_INVALID_REQUEST;
	for (uint32_t i = 0; i < req->offset_count; i++) {
		const struct group_offset_commit *o = &req->offsets[i];
		if (!topic_name_ok(o->topic))
			return RN_E_INVALID_TOPIC;
		if (o->partition < 0 || o->offset < 0)
			return RN_E_INVALID_REQUEST;
		if (o->metadata &&
		    strnlen(o->metadata, GROUP_MAX_COMMIT_METADATA_BYTES + 1) >
			    GROUP_MAX_COMMIT_METADATA_BYTES)
			return RN_E_INVALID_REQUEST;
	}
	return 0;
}

/*
 * Decides whether the commit may go ahead and finds (or, for a commit from
 * outside the membership, creates) its group.
 */
static int commit_admit(struct group_coordinator *gc, const struct group_commit_request *req,
			int64_t now_ms, struct group **gp)
{
	struct group *g = group_find(gc, req->group_id);
	bool outsider = req->generation_id < 0 && (!req->member_id || !req->member_id[0]);
	if (outsider) {
		if (g && g->member_count > 0)
			return RN_E_NON_EMPTY_GROUP;
		return group_get_or_create(gc, req->group_id, now_ms, gp);
	}
	struct group_member *m = g ? group_member_find(g, req->member_id) : NULL;
	if (!m)
		return RN_E_UNKNOWN_MEMBER_ID;
	/* The generation is checked before the state so that a zombie from an
	 * older generation is told exactly that, whatever the group is doing. */
	if (req->generation_id != g->generation)
		return RN_E_ILLEGAL_GENERATION;
	if (g->state == GROUP_STATE_COMPLETING_REBALANCE)
		return RN_E_REBALANCE_IN_PROGRESS;
	m->session_deadline_ms = now_ms + m->session_timeout_ms;
	*gp = g;
	return 0;
}

int group_commit_offsets(struct group_coordinator *gc, const struct group_commit_request *req,
			 int64_t now_ms, struct group_out *out)
{
	group_out_check_empty(out);
	if (gc->loading)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	int rc = group_id_check(req->group_id);
	if (rc)
		return rc;
	if ((rc = commit_check_offsets(req)) != 0)
		return rc;
	struct group *g = NULL;
	if ((rc = commit_admit(gc, req, now_ms, &g)) != 0)
		return rc;
	if (req->offset_count == 0) {
		struct group_commit_reply *r = group_out_commit(out);
		r->handle = req->handle;
		return 0;
	}
	struct committed_offset *copies = group_xcalloc(req->offset_count, sizeof(*copies));
	for (uint32_t i = 0; i < req->offset_count; i++) {
		const struct group_offset_commit *o = &req->offsets[i];
		struct group_record *r = group_out_record(gc, out);
		r->type = GROUP_RECORD_OFFSET;
		memcpy(r->group_id, g->id, sizeof(r->group_id));
		RN_ASSERT(group_str_copy(r->topic, o->topic, RN_MAX_TOPIC_NAME_LEN));
		r->partition = o->partition;
		r->offset = o->offset;
		r->leader_epoch = o->leader_epoch;
		r->metadata = o->metadata && o->metadata[0] ? group_xstrdup(o->metadata) : NULL;
		r->commit_timestamp_ms = now_ms;
		memcpy(copies[i].topic, r->topic, sizeof(copies[i].topic));
		copies[i].partition = o->partition;
		copies[i].offset = o->offset;
		copies[i].leader_epoch = o->leader_epoch;
		copies[i].metadata = group_xstrdup(o->metadata);
		copies[i].commit_timestamp_ms = now_ms;
	}
	struct pending_effect *e = group_pending_add(group_pending_for(gc, out));
	e->kind = EFFECT_COMMIT;
	memcpy(e->group_id, g->id, sizeof(e->group_id));
	e->incarnation = g->incarnation;
	e->handle = req->handle;
	e->offsets = copies;
	e->offset_count = req->offset_count;
	return 0;
}

/* ------------------------------------------------------------ delete */

int group_delete(struct group_coordinator *gc, const char *group_id, int64_t now_ms,
		 struct group_out *out)
{
	group_out_check_empty(out);
	if (gc->loading)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	int rc = group_id_check(group_id);
	if (rc)
		return rc;
	struct group *g = group_find(gc, group_id);
	if (!g)
		return RN_E_GROUP_ID_NOT_FOUND;
	if (g->member_count > 0)
		return RN_E_NON_EMPTY_GROUP;
	for (uint32_t i = 0; i < g->offset_count; i++) {
		struct group_record *r = group_out_record(gc, out);
		r->type = GROUP_RECORD_OFFSET;
		r->tombstone = true;
		memcpy(r->group_id, g->id, sizeof(r->group_id));
		memcpy(r->topic, g->offsets[i].topic, sizeof(r->topic));
		r->partition = g->offsets[i].partition;
	}
	struct group_record *r = group_out_record(gc, out);
	r->type = GROUP_RECORD_GROUP;
	r->tombstone = true;
	memcpy(r->group_id, g->id, sizeof(r->group_id));
	r->state_timestamp_ms = now_ms;
	group_drop(gc, g);
	return 0;
}

/* ------------------------------------------------------------ appends */

int group_append_error(int error)
{
	switch (error) {
	case 0:
		return 0;
	case RN_E_NOT_LEADER_OR_FOLLOWER:
	case RN_E_NOT_COORDINATOR:
	case RN_E_FENCED_LEADER_EPOCH:
	case RN_E_KAFKA_STORAGE_ERROR:
		return RN_E_NOT_COORDINATOR;
	case RN_E_NOT_ENOUGH_REPLICAS:
	case RN_E_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case RN_E_REQUEST_TIMED_OUT:
	case RN_E_TIMEOUT:
	case RN_E_UNKNOWN_TOPIC_OR_PARTITION:
	case RN_E_LEADER_NOT_AVAILABLE:
	case RN_E_SHUTTING_DOWN:
		return RN_E_COORDINATOR_NOT_AVAILABLE;
	case RN_E_MESSAGE_TOO_LARGE:
	case RN_E_RECORD_LIST_TOO_LARGE:
	case RN_E_CORRUPT_MESSAGE:
	case RN_E_INVALID_RECORD:
		/* The coordinator built a batch the log refuses: its own fault,
		 * not the client's. */
		return RN_E_UNKNOWN_SERVER_ERROR;
	default:
		return error;
	}
}

static void commit_done(struct group_coordinator *gc, struct pending_effect *e, int error,
			struct group_out *out)
{
	struct group_commit_reply *r = group_out_commit(out);
	r->handle = e->handle;
	r->error = error;
	if (error)
		return;
	/* A group deleted (or deleted and created again) since the commit was
	 * appended lies after it in the log, so the commit no longer counts. */
	struct group *g = group_find_incarnation(gc, e->group_id, e->incarnation);
	if (!g)
		return;
	for (uint32_t i = 0; i < e->offset_count; i++)
		group_offset_put(g, &e->offsets[i]);
}

void group_append_done(struct group_coordinator *gc, uint64_t append_id, int error,
		       int64_t now_ms, struct group_out *out)
{
	group_out_check_empty(out);
	struct pending_append **pp = &gc->pending;
	while (*pp && (*pp)->id != append_id)
		pp = &(*pp)->next;
	struct pending_append *pa = *pp;
	if (!pa)
		return;
	*pp = pa->next;
	int mapped = group_append_error(error);
	for (uint32_t i = 0; i < pa->effect_count; i++) {
		struct pending_effect *e = &pa->effects[i];
		if (e->kind == EFFECT_COMMIT) {
			commit_done(gc, e, mapped, out);
			continue;
		}
		struct group *g = group_find_incarnation(gc, e->group_id, e->incarnation);
		if (g)
			group_assignment_done(gc, g, e->generation, mapped, now_ms, out);
	}
	group_pending_free(pa);
}
