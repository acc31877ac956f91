/* h_quorum.c: the quorum APIs: RaftMessage, DescribeQuorum, BrokerRegistration, BrokerHeartbeat. */
#include "broker/conn.h"
#include "broker/ctrl.h"
#include "broker/forward.h"
#include "broker/handlers.h"
#include "broker/listener.h"
#include "broker/node.h"
#include "common/errors.h"
#include "common/log.h"
#include "controller/lifecycle.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ RaftMessage */

void handle_raft_message(struct req *r)
{
	/* One-way: the connection reserved no response slot for it. */
	ctrl_receive(r->node->ctrl, r->msg->raft_message);
	req_drop(r);
}

/* --------------------------------------------------------- DescribeQuorum */

static const char *role_name(const struct raft_status *st)
{
	if (st->observer)
		return "observer";
	switch (st->role) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_PRE_CANDIDATE:
		return "pre-candidate";
	case RAFT_FOLLOWER:
		break;
	}
	return "follower";
}

static Runnel__QuorumReplica *replica_new(struct req *r, int32_t id)
{
	Runnel__QuorumReplica *q = req_alloc(r, sizeof(*q));
	runnel__quorum_replica__init(q);
	q->node_id = id;
	q->log_end_offset = -1;
	q->last_contact_ms = -1;
	q->lag = -1;
	return q;
}

/* Voters in configuration order; the leader adds what it knows of each. */
static void fill_replicas(struct req *r, const struct raft_status *st,
			  Runnel__DescribeQuorumResponse *body)
{
	const struct node_config *cfg = &r->node->cfg;
	body->voters = req_alloc(r, (cfg->voter_count + 1) * sizeof(*body->voters));
	body->observers = req_alloc(r, (st->peer_count + 1) * sizeof(*body->observers));
	for (uint32_t i = 0; i < cfg->voter_count; i++)
		body->voters[body->n_voters++] = replica_new(r, cfg->voters[i].node_id);
	for (uint32_t i = 0; i < st->peer_count; i++) {
		const struct raft_peer_status *ps = &st->peers[i];
		Runnel__QuorumReplica *q = NULL;
		for (size_t v = 0; v < body->n_voters && ps->voter; v++)
			if ((uint64_t)body->voters[v]->node_id == ps->id)
				q = body->voters[v];
		if (!q) {
			q = replica_new(r, (int32_t)ps->id);
			body->observers[body->n_observers++] = q;
		}
		q->log_end_offset = (int64_t)ps->match;
		q->last_contact_ms = (int64_t)ps->ticks_since_contact * NODE_TICK_MS;
		q->lag = st->last_index > ps->match ? (int64_t)(st->last_index - ps->match) : 0;
	}
}

/*
 * A client of r's listener that cannot reach the quorum leader itself (a
 * dedicated controller on a network it cannot see) gets the leader's own
 * view through this node, which then has the broker role and is not the
 * leader.  Everyone else gets this node's view, which names the leader's
 * address for the listener, as before.
 */
static bool quorum_forward_wanted(struct req *r)
{
	struct node *n = r->node;
	int32_t leader = ctrl_leader_id(n->ctrl);
	const char *host;
	int32_t port;
	if (!(n->cfg.roles & NODE_ROLE_BROKER) || r->no_forward || leader < 0 ||
	    leader == n->cfg.node_id)
		return false;
	return !listener_controller_address(n, leader, r->listener, &host, &port);
}

void handle_describe_quorum(struct req *r)
{
	if (quorum_forward_wanted(r) &&
	    forward_request(r, ctrl_leader_id(r->node->ctrl), FORWARD_QUORUM_TIMEOUT_MS,
			    handle_describe_quorum, FORWARD_ANSWER_LOCALLY))
		return;
	struct ctrl *c = r->node->ctrl;
	const struct raft_status *st = ctrl_status(c);
	Runnel__DescribeQuorumResponse *body = req_alloc(r, sizeof(*body));
	runnel__describe_quorum_response__init(body);
	body->cluster_id = r->node->cluster_id;
	body->node_id = r->node->cfg.node_id;
	body->role = (char *)role_name(st);
	body->leader_id = st->leader ? (int32_t)st->leader : -1;
	body->leader_epoch = (int64_t)st->term;
	body->commit_index = (int64_t)st->commit;
	body->high_watermark = (int64_t)st->commit;
	body->last_index = (int64_t)st->last_index;
	body->applied_index = (int64_t)meta_image_applied_index(ctrl_image(c));
	body->snapshot_index = (int64_t)st->snapshot_index;
	const char *host;
	int32_t port;
	if (st->leader &&
	    listener_controller_address(r->node, (int32_t)st->leader, r->listener, &host, &port)) {
		body->leader_host = req_strdup(r, host);
		body->leader_port = port;
	}
	fill_replicas(r, st, body);
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.body_case = RUNNEL__RESPONSE__BODY_DESCRIBE_QUORUM;
	resp.describe_quorum = body;
	req_respond(r, &resp);
}

/* ----------------------------------------------------- BrokerRegistration */

struct reg_wait {
	struct req *r;
	struct ctrl_waiter *cw;
	Runnel__BrokerRegistrationResponse *body;
};

static void registration_respond(struct req *r, Runnel__BrokerRegistrationResponse *body, int rc,
				 const char *why)
{
	body->controller_id = ctrl_leader_id(r->node->ctrl);
	if (rc != RN_OK) {
		body->error_code = rn_err_to_wire(rc);
		body->error_message = req_strdup(r, why && why[0] ? why : rn_strerror(rc));
	}
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.body_case = RUNNEL__RESPONSE__BODY_BROKER_REGISTRATION;
	resp.broker_registration = body;
	req_respond(r, &resp);
}

static void registration_applied_cb(void *arg, int err)
{
	struct reg_wait *w = arg;
	w->cw = NULL;
	registration_respond(w->r, w->body, err, NULL);
}

static void registration_cancel(struct req *r)
{
	struct reg_wait *w = r->wait;
	if (w->cw)
		ctrl_wait_cancel(r->node->ctrl, w->cw);
	w->cw = NULL;
	req_drop(r);
}

/* Checks the request's own fields and fills reg.  Returns 0 or
 * RN_E_INVALID_REQUEST with why set. */
static int registration_check(const Runnel__BrokerRegistrationRequest *br,
			      struct controller_registration *reg, struct meta_endpoint *eps,
			      char *why)
{
	if (br->incarnation_id.len != META_INCARNATION_ID_LEN || br->n_listeners == 0 ||
	    br->n_listeners > META_MAX_ENDPOINTS) {
		snprintf(why, CTRL_WHY_LEN, "a registration needs a %u-byte incarnation id and 1 to "
					    "%u listeners", META_INCARNATION_ID_LEN, META_MAX_ENDPOINTS);
		return RN_E_INVALID_REQUEST;
	}
	memset(reg, 0, sizeof(*reg));
	for (size_t i = 0; i < br->n_listeners; i++) {
		const Runnel__BrokerEndpoint *e = br->listeners[i];
		if (strlen(e->name) > META_MAX_LISTENER_NAME_LEN ||
		    strlen(e->host) > RN_MAX_ADDRESS_LEN) {
			snprintf(why, CTRL_WHY_LEN, "listener name or host too long");
			return RN_E_INVALID_REQUEST;
		}
		memset(&eps[i], 0, sizeof(eps[i]));
		snprintf(eps[i].name, sizeof(eps[i].name), "%s", e->name);
		snprintf(eps[i].host, sizeof(eps[i].host), "%s", e->host);
		eps[i].port = e->port;
	}
	reg->node_id = br->broker_id;
	memcpy(reg->incarnation_id, br->incarnation_id.data, META_INCARNATION_ID_LEN);
	reg->cluster_id = br->cluster_id;
	reg->host = eps[0].host;
	reg->port = eps[0].port;
	reg->rack = br->rack;
	reg->endpoints = eps;
	reg->endpoint_count = (uint32_t)br->n_listeners;
	return RN_OK;
}

void handle_broker_registration(struct req *r)
{
	struct ctrl *c = r->node->ctrl;
	Runnel__BrokerRegistrationResponse *body = req_alloc(r, sizeof(*body));
	runnel__broker_registration_response__init(body);
	struct controller_registration reg;
	struct meta_endpoint *eps = req_alloc(r, META_MAX_ENDPOINTS * sizeof(*eps));
	char why[CTRL_WHY_LEN] = "";
	int rc = registration_check(r->msg->broker_registration, &reg, eps, why);
	uint64_t index = 0;
	if (rc == RN_OK)
		rc = ctrl_broker_register(c, &reg, &body->broker_epoch, &index, why);
	if (rc != RN_OK || index == 0) {
		registration_respond(r, body, rc, why);
		return;
	}
	/* The answer waits for the registration record to commit and apply. */
	struct reg_wait *w = req_alloc(r, sizeof(*w));
	w->r = r;
	w->body = body;
	w->cw = ctrl_wait_applied(c, index, registration_applied_cb, w);
	if (!w->cw) {
		registration_respond(r, body, RN_E_NOMEM, NULL);
		return;
	}
	req_park(r, registration_cancel, w);
}

/* -------------------------------------------------------- BrokerHeartbeat */

void handle_broker_heartbeat(struct req *r)
{
	const Runnel__BrokerHeartbeatRequest *hq = r->msg->broker_heartbeat;
	Runnel__BrokerHeartbeatResponse *body = req_alloc(r, sizeof(*body));
	runnel__broker_heartbeat_response__init(body);
	struct controller_heartbeat hb = {
		.node_id = hq->broker_id,
		.broker_epoch = hq->broker_epoch,
		.metadata_offset = hq->current_metadata_offset > 0
					   ? (uint64_t)hq->current_metadata_offset
					   : 0,
		.want_shut_down = hq->want_shut_down,
	};
	struct controller_heartbeat_resp hr;
	memset(&hr, 0, sizeof(hr));
	int rc = ctrl_broker_heartbeat(r->node->ctrl, &hb, &hr);
	body->controller_id = ctrl_leader_id(r->node->ctrl);
	if (rc != RN_OK) {
		char why[CTRL_WHY_LEN];
		if (rc == RN_E_NOT_CONTROLLER)
			ctrl_not_controller_why(r->node->ctrl, why);
		else
			snprintf(why, sizeof(why), "%s", rn_strerror(rc));
		body->error_code = rn_err_to_wire(rc);
		body->error_message = req_strdup(r, why);
	}
	body->is_caught_up = hr.is_caught_up;
	body->is_fenced = hr.is_fenced;
	body->should_shut_down = hr.should_shut_down;
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.body_case = RUNNEL__RESPONSE__BODY_BROKER_HEARTBEAT;
	resp.broker_heartbeat = body;
	req_respond(r, &resp);
}
