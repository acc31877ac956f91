/* h_group.c: FindCoordinator and the membership APIs (JoinGroup, SyncGroup, Heartbeat, LeaveGroup). */
#include "broker/conn.h"
#include "broker/coord.h"
#include "broker/ctrl.h"
#include "broker/handlers.h"
#include "broker/listener.h"
#include "broker/node.h"
#include "common/errors.h"
#include "common/rn_assert.h"

#include <string.h>

/* A response with an empty body of the given case, in r's arena. */
static Runnel__Response *response_new(struct req *r)
{
	Runnel__Response *resp = req_alloc(r, sizeof(*resp));
	runnel__response__init(resp);
	return resp;
}

static char *error_message(struct req *r, int err, const char *why)
{
	return err == RN_OK ? "" : req_strdup(r, why ? why : rn_strerror(err));
}

/* Bytes copied into r's arena (the coordinator's copy is freed after the
 * reply is sent). */
static ProtobufCBinaryData copy_bytes(struct req *r, const uint8_t *data, size_t len)
{
	ProtobufCBinaryData b = {0, NULL};
	if (!data || len == 0)
		return b;
	b.data = req_alloc(r, len);
	memcpy(b.data, data, len);
	b.len = len;
	return b;
}

/* The peer's host without its port, as DescribeGroups shows a member. */
static const char *peer_host(struct req *r)
{
	char *host = req_strdup(r, r->peer);
	char *colon = strrchr(host, ':');
	if (colon && colon != host)
		*colon = '\0';
	return host;
}

/* --------------------------------------------------------- FindCoordinator */

void handle_find_coordinator(struct req *r)
{
	const Runnel__FindCoordinatorRequest *fr = r->msg->find_coordinator;
	Runnel__Response *resp = response_new(r);
	Runnel__FindCoordinatorResponse *body = req_alloc(r, sizeof(*body));
	runnel__find_coordinator_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_FIND_COORDINATOR;
	resp->find_coordinator = body;
	body->node_id = -1;
	int32_t partition = -1, leader = -1;
	const char *why = NULL;
	int rc = RN_E_INVALID_REQUEST;
	if (fr->key_type == 0)
		rc = coord_locate(r->node->coord, fr->key, &partition, &leader);
	else
		why = "only key_type 0 (a consumer group) has a coordinator";
	if (rc == RN_E_COORDINATOR_NOT_AVAILABLE)
		why = "the offsets topic is being created or its partition has no leader; retry";
	const struct meta_broker *b =
		rc == RN_OK ? meta_image_broker(ctrl_image(r->node->ctrl), leader) : NULL;
	if (b) {
		const char *host;
		body->node_id = b->node_id;
		listener_broker_address(b, r->listener, &host, &body->port);
		body->host = req_strdup(r, host);
	}
	body->error_code = rn_err_to_wire(rc);
	body->error_message = error_message(r, rc, why);
	req_respond(r, resp);
}

/* --------------------------------------------------------------- JoinGroup */

static Runnel__JoinGroupResponse *join_body(struct req *r, Runnel__Response **resp)
{
	*resp = response_new(r);
	Runnel__JoinGroupResponse *body = req_alloc(r, sizeof(*body));
	runnel__join_group_response__init(body);
	(*resp)->body_case = RUNNEL__RESPONSE__BODY_JOIN_GROUP;
	(*resp)->join_group = body;
	body->generation_id = -1;
	return body;
}

static void join_fail(struct req *r, int err, const char *member_id)
{
	Runnel__Response *resp;
	Runnel__JoinGroupResponse *body = join_body(r, &resp);
	body->error_code = rn_err_to_wire(err);
	body->error_message = error_message(r, err, NULL);
	body->member_id = req_strdup(r, member_id ? member_id : "");
	req_respond(r, resp);
}

static Runnel__JoinGroupMember *join_member(struct req *r, const struct group_join_member *m)
{
	Runnel__JoinGroupMember *jm = req_alloc(r, sizeof(*jm));
	runnel__join_group_member__init(jm);
	jm->member_id = req_strdup(r, m->member_id);
	jm->client_id = req_strdup(r, m->client_id);
	jm->client_host = req_strdup(r, m->client_host);
	jm->metadata = copy_bytes(r, m->metadata, m->metadata_len);
	return jm;
}

void coord_reply_join(struct coord_wait *w, const struct group_join_reply *rep)
{
	struct req *r = w->r;
	coord_wait_free(w);
	if (!r)
		return;
	Runnel__Response *resp;
	Runnel__JoinGroupResponse *body = join_body(r, &resp);
	body->error_code = rn_err_to_wire(rep->error);
	body->error_message = error_message(r, rep->error, NULL);
	body->member_id = req_strdup(r, rep->member_id);
	if (rep->error == RN_OK) {
		body->generation_id = rep->generation_id;
		body->protocol_type = req_strdup(r, rep->protocol_type);
		body->protocol_name = req_strdup(r, rep->protocol_name);
		body->leader = req_strdup(r, rep->leader);
		body->n_members = rep->member_count;
		body->members = req_alloc(r, (rep->member_count + 1) * sizeof(*body->members));
		for (uint32_t i = 0; i < rep->member_count; i++)
			body->members[i] = join_member(r, &rep->members[i]);
	}
	req_respond(r, resp);
}

/* Fills the coordinator's request from the wire request. */
static int join_request(struct req *r, const Runnel__JoinGroupRequest *jr,
			struct group_join_request *g)
{
	struct group_protocol *protocols =
		req_alloc(r, (jr->n_protocols + 1) * sizeof(*protocols));
	for (size_t i = 0; i < jr->n_protocols; i++) {
		protocols[i].name = jr->protocols[i]->name;
		protocols[i].metadata = jr->protocols[i]->metadata.data;
		protocols[i].metadata_len = jr->protocols[i]->metadata.len;
	}
	uint8_t *random = req_alloc(r, GROUP_MEMBER_ID_RANDOM_BYTES);
	if (node_random(random, GROUP_MEMBER_ID_RANDOM_BYTES) != RN_OK)
		return RN_E_UNKNOWN_SERVER_ERROR;
	memset(g, 0, sizeof(*g));
	g->group_id = jr->group_id;
	g->member_id = jr->member_id;
	g->client_id = jr->client_id && jr->client_id[0] ? jr->client_id
							 : r->msg->header->client_id;
	g->client_host = peer_host(r);
	g->protocol_type = jr->protocol_type;
	g->session_timeout_ms = jr->session_timeout_ms;
	g->rebalance_timeout_ms = jr->rebalance_timeout_ms;
	g->protocols = protocols;
	g->protocol_count = jr->n_protocols > UINT32_MAX ? UINT32_MAX : (uint32_t)jr->n_protocols;
	g->random = random;
	return RN_OK;
}

void handle_join_group(struct req *r)
{
	const Runnel__JoinGroupRequest *jr = r->msg->join_group;
	struct coord *c = r->node->coord;
	struct coord_part *cp = NULL;
	struct group_join_request g;
	int rc = coord_lookup(c, jr->group_id, &cp);
	if (rc == RN_OK)
		rc = join_request(r, jr, &g);
	if (rc != RN_OK) {
		join_fail(r, rc, jr->member_id);
		return;
	}
	struct coord_wait *w = coord_wait_new(c, r, COORD_WAIT_JOIN, NULL);
	g.handle = w;
	struct group_out out;
	group_out_init(&out);
	rc = group_join(coord_part_gc(cp), &g, coord_now_ms(), &out);
	if (rc != RN_OK)
		coord_wait_free(w);
	else
		coord_wait_park(w);
	coord_apply(c, cp, &out, NULL, NULL);
	if (rc != RN_OK)
		join_fail(r, rc, jr->member_id);
}

/* --------------------------------------------------------------- SyncGroup */

static void sync_respond(struct req *r, int err, const char *protocol_name,
			 const uint8_t *assignment, size_t len)
{
	Runnel__Response *resp = response_new(r);
	Runnel__SyncGroupResponse *body = req_alloc(r, sizeof(*body));
	runnel__sync_group_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_SYNC_GROUP;
	resp->sync_group = body;
	body->error_code = rn_err_to_wire(err);
	body->error_message = error_message(r, err, NULL);
	body->protocol_name = req_strdup(r, protocol_name ? protocol_name : "");
	body->assignment = copy_bytes(r, assignment, len);
	req_respond(r, resp);
}

void coord_reply_sync(struct coord_wait *w, const struct group_sync_reply *rep)
{
	struct req *r = w->r;
	coord_wait_free(w);
	if (r)
		sync_respond(r, rep->error, rep->protocol_name, rep->assignment,
			     rep->assignment_len);
}

void handle_sync_group(struct req *r)
{
	const Runnel__SyncGroupRequest *sr = r->msg->sync_group;
	struct coord *c = r->node->coord;
	struct coord_part *cp = NULL;
	int rc = coord_lookup(c, sr->group_id, &cp);
	if (rc != RN_OK) {
		sync_respond(r, rc, NULL, NULL, 0);
		return;
	}
	struct group_assignment *as = req_alloc(r, (sr->n_assignments + 1) * sizeof(*as));
	for (size_t i = 0; i < sr->n_assignments; i++) {
		as[i].member_id = sr->assignments[i]->member_id;
		as[i].assignment = sr->assignments[i]->assignment.data;
		as[i].assignment_len = sr->assignments[i]->assignment.len;
	}
	struct coord_wait *w = coord_wait_new(c, r, COORD_WAIT_SYNC, NULL);
	struct group_sync_request g = {
		.group_id = sr->group_id,
		.generation_id = sr->generation_id,
		.member_id = sr->member_id,
		.protocol_type = sr->protocol_type,
		.protocol_name = sr->protocol_name,
		.assignments = as,
		.assignment_count = sr->n_assignments > UINT32_MAX ? UINT32_MAX
								   : (uint32_t)sr->n_assignments,
		.handle = w,
	};
	struct group_out out;
	group_out_init(&out);
	rc = group_sync(coord_part_gc(cp), &g, coord_now_ms(), &out);
	if (rc != RN_OK)
		coord_wait_free(w);
	else
		coord_wait_park(w);
	coord_apply(c, cp, &out, NULL, NULL);
	if (rc != RN_OK)
		sync_respond(r, rc, NULL, NULL, 0);
}

/* --------------------------------------------------------------- Heartbeat */

void handle_heartbeat(struct req *r)
{
	const Runnel__HeartbeatRequest *hr = r->msg->heartbeat;
	struct coord_part *cp = NULL;
	int rc = coord_lookup(r->node->coord, hr->group_id, &cp);
	if (rc == RN_OK)
		rc = group_heartbeat(coord_part_gc(cp), hr->group_id, hr->member_id,
				     hr->generation_id, coord_now_ms());
	Runnel__Response *resp = response_new(r);
	Runnel__HeartbeatResponse *body = req_alloc(r, sizeof(*body));
	runnel__heartbeat_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_HEARTBEAT;
	resp->heartbeat = body;
	body->error_code = rn_err_to_wire(rc);
	body->error_message = error_message(r, rc, NULL);
	req_respond(r, resp);
}

/* -------------------------------------------------------------- LeaveGroup */

void handle_leave_group(struct req *r)
{
	const Runnel__LeaveGroupRequest *lr = r->msg->leave_group;
	struct coord *c = r->node->coord;
	struct coord_part *cp = NULL;
	int rc = lr->n_member_ids > GROUP_MAX_MEMBERS ? RN_E_INVALID_REQUEST
						      : coord_lookup(c, lr->group_id, &cp);
	if (rc == RN_OK) {
		struct group_out out;
		group_out_init(&out);
		rc = group_leave(coord_part_gc(cp), lr->group_id,
				 (const char *const *)lr->member_ids, (uint32_t)lr->n_member_ids,
				 coord_now_ms(), &out);
		coord_apply(c, cp, &out, NULL, NULL);
	}
	Runnel__Response *resp = response_new(r);
	Runnel__LeaveGroupResponse *body = req_alloc(r, sizeof(*body));
	runnel__leave_group_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_LEAVE_GROUP;
	resp->leave_group = body;
	body->error_code = rn_err_to_wire(rc);
	body->error_message = error_message(r, rc, NULL);
	req_respond(r, resp);
}
