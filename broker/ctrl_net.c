/* ctrl_net.c: the controller shell's network side: peers, outgoing and incoming Raft messages, status. */
#include "broker/ctrl_internal.h"

#include "broker/node.h"
#include "broker/raft_wire.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const struct config_addr *ctrl_voter_addr(const struct ctrl *c, int32_t node_id)
{
	const struct node_config *cfg = &c->node->cfg;
	for (uint32_t i = 0; i < cfg->voter_count; i++)
		if (cfg->voters[i].node_id == node_id)
			return &cfg->voters[i].addr;
	return NULL;
}

struct peer *ctrl_peer(struct ctrl *c, int32_t node_id)
{
	for (uint32_t i = 0; i < c->peer_count; i++)
		if (peer_node_id(c->peers[i]) == node_id)
			return c->peers[i];
	return NULL;
}

void ctrl_not_controller_why(const struct ctrl *c, char *why)
{
	int32_t leader = ctrl_leader_id(c);
	const struct config_addr *a = leader >= 0 ? ctrl_voter_addr(c, leader) : NULL;
	if (leader == c->node->cfg.node_id)
		snprintf(why, CTRL_WHY_LEN, "node %d is the quorum leader but is still applying the "
					    "metadata log; retry shortly", leader);
	else if (a)
		snprintf(why, CTRL_WHY_LEN, "node %d is not the active controller; the active "
					    "controller is node %d at %s:%u",
			 c->node->cfg.node_id, leader, a->host, a->port);
	else
		snprintf(why, CTRL_WHY_LEN, "node %d is not the active controller and knows no "
					    "quorum leader yet; retry shortly", c->node->cfg.node_id);
}

/* Adds a peer for node_id at addr, or moves an existing non-voter peer to a
 * new address (a broker restarted elsewhere). */
static struct peer *peer_learn(struct ctrl *c, int32_t node_id, const struct config_addr *addr)
{
	struct peer *p = ctrl_peer(c, node_id);
	if (p) {
		const struct config_addr *old = peer_addr(p);
		if (ctrl_voter_addr(c, node_id) || (strcmp(old->host, addr->host) == 0 &&
						     old->port == addr->port))
			return p;
		uint32_t i = 0;
		while (c->peers[i] != p)
			i++;
		peer_free(p);
		c->peers[i] = c->peers[--c->peer_count];
	}
	if (c->peer_count >= RN_MAX_NODES || peer_new(c->node, node_id, addr, &p) != RN_OK)
		return NULL;
	c->peers[c->peer_count++] = p;
	return p;
}

int ctrl_net_open(struct ctrl *c)
{
	const struct node_config *cfg = &c->node->cfg;
	for (uint32_t i = 0; i < cfg->voter_count; i++) {
		if (cfg->voters[i].node_id == cfg->node_id)
			continue;
		if (!peer_learn(c, cfg->voters[i].node_id, &cfg->voters[i].addr))
			return RN_E_NOMEM;
	}
	return RN_OK;
}

void ctrl_net_close(struct ctrl *c)
{
	for (uint32_t i = 0; i < c->peer_count; i++)
		peer_free(c->peers[i]);
	c->peer_count = 0;
}

/* ---------------------------------------------------------------- sending */

static void send_one(struct ctrl *c, const struct raft_msg *m)
{
	struct peer *p = m->to <= INT32_MAX ? ctrl_peer(c, (int32_t)m->to) : NULL;
	if (!p) {
		LOG_DEBUG("controller", "no route to node %" PRIu64 " for %s", m->to,
			  raft_msg_type_name(m->type));
		return;
	}
	const struct node_config *cfg = &c->node->cfg;
	struct raft_wire_origin origin = {
		.cluster_id = c->node->cluster_id,
		.host = cfg->advertise.host,
		.port = cfg->advertise.port,
	};
	Runnel__Request req;
	Runnel__RequestHeader hdr;
	Runnel__RaftMessageRequest body;
	raft_wire_encode(m, &origin, &req, &hdr, &body, c->wire_entries, c->wire_entry_ptrs);
	int rc = peer_send(p, &req);
	if (rc != RN_OK)
		LOG_DEBUG("controller", "dropped %s to node %" PRIu64 ": %s",
			  raft_msg_type_name(m->type), m->to, rn_strerror(rc));
}

void ctrl_net_send_ready(struct ctrl *c)
{
	for (uint32_t i = 0; i < c->rd.msg_count; i++)
		send_one(c, &c->rd.msgs[i]);
}

/* -------------------------------------------------------------- receiving */

/* False (and a rate-limited error) when the message names another cluster. */
static bool same_cluster(struct ctrl *c, const Runnel__RaftMessageRequest *body)
{
	const char *ours = c->node->cluster_id;
	const char *theirs = body->cluster_id ? body->cluster_id : "";
	if (!ours[0] || !theirs[0] || strcmp(ours, theirs) == 0)
		return true;
	if (c->foreign_dropped++ % 100 == 0)
		LOG_ERROR("controller", "dropping Raft messages from node %" PRIu64 " (%s:%d) of "
					"cluster %s: this node belongs to cluster %s (%" PRIu64 " dropped)",
			  body->from, body->from_host ? body->from_host : "?", body->from_port,
			  theirs, ours, c->foreign_dropped);
	return false;
}

void ctrl_receive(struct ctrl *c, const Runnel__RaftMessageRequest *body)
{
	if (c->failed || !same_cluster(c, body))
		return;
	struct raft_msg m;
	if (raft_wire_decode(body, &m, c->rx_entries) != RN_OK) {
		LOG_DEBUG("controller", "dropping a malformed Raft message from node %" PRIu64,
			  body->from);
		return;
	}
	struct config_addr addr;
	memset(&addr, 0, sizeof(addr));
	if (m.from <= INT32_MAX && body->from_host && body->from_host[0] &&
	    strlen(body->from_host) <= RN_MAX_ADDRESS_LEN && body->from_port > 0 &&
	    body->from_port <= 65535) {
		snprintf(addr.host, sizeof(addr.host), "%s", body->from_host);
		addr.port = (uint16_t)body->from_port;
		peer_learn(c, (int32_t)m.from, &addr);
	}
	int rc = raft_step(c->raft, &m);
	if (rc == RN_E_CORRUPT_STATE) {
		ctrl_fail(c, "the quorum leader asked to overwrite a committed entry", rc);
		return;
	}
	if (rc != RN_OK)
		LOG_DEBUG("controller", "Raft refused %s from node %" PRIu64 ": %s",
			  raft_msg_type_name(m.type), m.from, rn_strerror(rc));
	node_schedule_turn(c->node);
}

const struct raft_status *ctrl_status(struct ctrl *c)
{
	raft_status(c->raft, c->status);
	return c->status;
}
