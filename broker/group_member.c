/* group_member.c: the membership protocol: join, sync, heartbeat, leave, rebalances and time. */
#include "broker/group_internal.h"

#include "common/errors.h"
#include "common/rn_assert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void complete_join(struct group_coordinator *gc, struct group *g, int64_t now_ms,
			  struct group_out *out);

/* ------------------------------------------------------------ helpers */

static void refresh_session(struct group_member *m, int64_t now_ms)
{
	m->session_deadline_ms = now_ms + m->session_timeout_ms;
}

static void answer_join_error(struct group_member *m, int error, int64_t now_ms,
			      struct group_out *out)
{
	if (!m->join_parked)
		return;
	refresh_session(m, now_ms);
	struct group_join_reply *r = group_out_join(out);
	r->handle = m->join_handle;
	r->error = error;
	memcpy(r->member_id, m->id, sizeof(r->member_id));
	m->join_parked = false;
	m->join_handle = NULL;
}

/* Answers m's parked sync.  Its session restarts now: while parked the
 * member was waiting on the coordinator, and it heartbeats again only once
 * it has its answer. */
static void answer_sync(struct group *g, struct group_member *m, int error, int64_t now_ms,
			struct group_out *out)
{
	if (!m->sync_parked)
		return;
	refresh_session(m, now_ms);
	struct group_sync_reply *r = group_out_sync(out);
	r->handle = m->sync_handle;
	r->error = error;
	if (error == 0) {
		memcpy(r->protocol_name, g->protocol_name, sizeof(r->protocol_name));
		r->assignment = group_xmemdup(m->assignment, m->assignment_len);
		r->assignment_len = m->assignment_len;
	}
	m->sync_parked = false;
	m->sync_handle = NULL;
}

void group_reset_assignments(struct group *g)
{
	for (uint32_t i = 0; i < g->member_count; i++) {
		free(g->members[i]->assignment);
		g->members[i]->assignment = NULL;
		g->members[i]->assignment_len = 0;
	}
}

/* The longest rebalance timeout among the members: how long a rebalance
 * waits for everyone to rejoin. */
static int32_t group_rebalance_timeout(const struct group *g)
{
	int32_t t = 0;
	for (uint32_t i = 0; i < g->member_count; i++)
		if (g->members[i]->rebalance_timeout_ms > t)
			t = g->members[i]->rebalance_timeout_ms;
	return t;
}

static bool member_offers(const struct group_member *m, const char *name)
{
	for (uint32_t j = 0; j < m->protocol_count; j++)
		if (strcmp(m->protocols[j].name, name) == 0)
			return true;
	return false;
}

/* True when protocol name is offered by every member but skip. */
static bool protocol_shared(const struct group *g, const struct group_member *skip,
			    const char *name)
{
	for (uint32_t i = 0; i < g->member_count; i++)
		if (g->members[i] != skip && !member_offers(g->members[i], name))
			return false;
	return true;
}

/*
 * Kafka's rule: a member may join a group with members only when its
 * protocol type matches and at least one of its protocols is offered by
 * every other member.  member is the joining member when it is known.
 */
static bool supports_protocols(const struct group *g, const struct group_member *member,
			       const struct group_join_request *req)
{
	uint32_t others = g->member_count - (member ? 1u : 0u);
	if (others == 0)
		return true;
	if (strcmp(g->protocol_type, req->protocol_type) != 0)
		return false;
	for (uint32_t i = 0; i < req->protocol_count; i++)
		if (protocol_shared(g, member, req->protocols[i].name))
			return true;
	return false;
}

/*
 * Chooses the protocol: among those every member offers, each member votes
 * for the one it prefers most, and the most votes win; a tie goes to the
 * leader's preference order.
 */
static void select_protocol(struct group *g)
{
	const struct group_member *leader = group_member_find(g, g->leader);
	RN_ASSERT(leader != NULL);
	uint32_t best_votes = 0;
	const char *best = NULL;
	for (uint32_t c = 0; c < leader->protocol_count; c++) {
		const char *name = leader->protocols[c].name;
		if (!protocol_shared(g, NULL, name))
			continue;
		uint32_t votes = 0;
		for (uint32_t i = 0; i < g->member_count; i++) {
			const struct group_member *m = g->members[i];
			for (uint32_t j = 0; j < m->protocol_count; j++) {
				if (!protocol_shared(g, NULL, m->protocols[j].name))
					continue;
				votes += strcmp(m->protocols[j].name, name) == 0;
				break;
			}
		}
		if (!best || votes > best_votes) {
			best = name;
			best_votes = votes;
		}
	}
	/* Every join was checked against the group's protocols, so the
	 * members always share at least one. */
	RN_ASSERT(best != NULL);
	RN_ASSERT(group_str_copy(g->protocol_name, best, GROUP_MAX_PROTOCOL_NAME_LEN));
}

/* ------------------------------------------------------------ rebalances */

void group_prepare_rebalance(struct group_coordinator *gc, struct group *g, int64_t now_ms,
			     struct group_out *out)
{
	(void)gc;
	if (g->state == GROUP_STATE_COMPLETING_REBALANCE) {
		group_reset_assignments(g);
		for (uint32_t i = 0; i < g->member_count; i++)
			answer_sync(g, g->members[i], RN_E_REBALANCE_IN_PROGRESS, now_ms, out);
	}
	g->assignment_pending = false;
	int32_t timeout = group_rebalance_timeout(g);
	int32_t delay = gc->cfg.initial_rebalance_delay_ms;
	if (g->state == GROUP_STATE_EMPTY && delay > 0) {
		/* A group starting up waits a little for more members, so that it
		 * rebalances once rather than once per member. */
		g->initial_delay = true;
		g->new_member_added = false;
		g->initial_remaining_ms = timeout > delay ? timeout - delay : 0;
		g->join_deadline_ms = now_ms + delay;
	} else {
		g->initial_delay = false;
		g->join_deadline_ms = now_ms + timeout;
	}
	group_set_state(g, GROUP_STATE_PREPARING_REBALANCE, now_ms);
}

static bool all_members_joined(const struct group *g)
{
	for (uint32_t i = 0; i < g->member_count; i++)
		if (!g->members[i]->join_parked)
			return false;
	return true;
}

static void try_complete_join(struct group_coordinator *gc, struct group *g, int64_t now_ms,
			      struct group_out *out)
{
	if (g->state == GROUP_STATE_PREPARING_REBALANCE && !g->initial_delay &&
	    all_members_joined(g))
		complete_join(gc, g, now_ms, out);
}

/* Fills a join reply with the group's current generation for member m. */
static void fill_join_reply(const struct group *g, const struct group_member *m,
			    struct group_join_reply *r)
{
	r->generation_id = g->generation;
	memcpy(r->protocol_type, g->protocol_type, sizeof(r->protocol_type));
	memcpy(r->protocol_name, g->protocol_name, sizeof(r->protocol_name));
	memcpy(r->leader, g->leader, sizeof(r->leader));
	memcpy(r->member_id, m->id, sizeof(r->member_id));
	if (strcmp(g->leader, m->id) != 0)
		return;
	r->members = group_xcalloc(g->member_count, sizeof(*r->members));
	r->member_count = g->member_count;
	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct group_member *o = g->members[i];
		struct group_join_member *jm = &r->members[i];
		memcpy(jm->member_id, o->id, sizeof(jm->member_id));
		memcpy(jm->client_id, o->client_id, sizeof(jm->client_id));
		memcpy(jm->client_host, o->client_host, sizeof(jm->client_host));
		size_t len;
		const uint8_t *md = group_member_metadata(o, g->protocol_name, &len);
		jm->metadata = group_xmemdup(md, len);
		jm->metadata_len = len;
	}
}

/* Removes the members that did not rejoin in time, without further
 * rebalancing: the join phase is ending anyway. */
static void remove_unjoined(struct group *g)
{
	for (uint32_t i = 0; i < g->member_count;) {
		struct group_member *m = g->members[i];
		if (m->join_parked) {
			i++;
			continue;
		}
		group_member_detach(g, m);
		group_member_free(m);
	}
}

/* The join phase ends: a new generation starts, or the group is Empty. */
static void complete_join(struct group_coordinator *gc, struct group *g, int64_t now_ms,
			  struct group_out *out)
{
	remove_unjoined(g);
	g->initial_delay = false;
	g->generation++;
	if (g->member_count == 0) {
		g->protocol_name[0] = '\0';
		g->leader[0] = '\0';
		group_set_state(g, GROUP_STATE_EMPTY, now_ms);
		g->has_metadata = true;
		group_emit_group_record(gc, g, now_ms, out);
		return;
	}
	if (!group_member_find(g, g->leader))
		memcpy(g->leader, g->members[0]->id, sizeof(g->leader));
	select_protocol(g);
	group_reset_assignments(g);
	group_set_state(g, GROUP_STATE_COMPLETING_REBALANCE, now_ms);
	for (uint32_t i = 0; i < g->member_count; i++) {
		struct group_member *m = g->members[i];
		struct group_join_reply *r = group_out_join(out);
		r->handle = m->join_handle;
		fill_join_reply(g, m, r);
		m->join_parked = false;
		m->join_handle = NULL;
		refresh_session(m, now_ms);
	}
}

/*
 * Takes m out of g, answering what it had parked, and moves the group on: a
 * Stable or CompletingRebalance group rebalances, a rebalance in progress
 * may now be complete.
 */
static void remove_member(struct group_coordinator *gc, struct group *g, struct group_member *m,
			  int64_t now_ms, struct group_out *out)
{
	answer_join_error(m, RN_E_UNKNOWN_MEMBER_ID, now_ms, out);
	answer_sync(g, m, RN_E_UNKNOWN_MEMBER_ID, now_ms, out);
	group_member_detach(g, m);
	group_member_free(m);
	if (g->state == GROUP_STATE_STABLE || g->state == GROUP_STATE_COMPLETING_REBALANCE)
		group_prepare_rebalance(gc, g, now_ms, out);
	try_complete_join(gc, g, now_ms, out);
}

/* ------------------------------------------------------------ join */

static int join_check(const struct group_coordinator *gc, const struct group_join_request *req)
{
	int rc = group_id_check(req->group_id);
	if (rc)
		return rc;
	if (req->session_timeout_ms < gc->cfg.min_session_timeout_ms ||
	    req->session_timeout_ms > gc->cfg.max_session_timeout_ms)
		return RN_E_INVALID_SESSION_TIMEOUT;
	if (!req->protocol_type || !req->protocol_type[0] ||
	    strlen(req->protocol_type) > GROUP_MAX_PROTOCOL_NAME_LEN || req->protocol_count == 0 ||
	    req->protocol_count > GROUP_MAX_PROTOCOLS || !req->protocols)
		return RN_E_INCONSISTENT_GROUP_PROTOCOL;
	for (uint32_t i = 0; i < req->protocol_count; i++) {
		const struct group_protocol *p = &req->protocols[i];
		if (!p->name || !p->name[0] || strlen(p->name) > GROUP_MAX_PROTOCOL_NAME_LEN)
			return RN_E_INCONSISTENT_GROUP_PROTOCOL;
		if (p->metadata_len > GROUP_MAX_METADATA_BYTES || (p->metadata_len && !p->metadata))
			return RN_E_INVALID_REQUEST;
	}
	if ((req->client_id && strlen(req->client_id) > RN_MAX_CLIENT_ID_LEN) ||
	    (req->client_host && strlen(req->client_host) > GROUP_MAX_HOST_LEN))
		return RN_E_INVALID_REQUEST;
	if ((!req->member_id || !req->member_id[0]) && !req->random)
		return RN_E_INVALID_REQUEST;
	if (req->member_id && strlen(req->member_id) > GROUP_MAX_MEMBER_ID_LEN)
		return RN_E_UNKNOWN_MEMBER_ID;
	return 0;
}

/* Replaces m's protocols, timeouts and client details with the request's. */
static void member_update(struct group_member *m, const struct group_join_request *req)
{
	for (uint32_t i = 0; i < m->protocol_count; i++)
		free(m->protocols[i].metadata);
	free(m->protocols);
	m->protocols = group_xcalloc(req->protocol_count, sizeof(*m->protocols));
	m->protocol_count = req->protocol_count;
	for (uint32_t i = 0; i < req->protocol_count; i++) {
		const struct group_protocol *p = &req->protocols[i];
		RN_ASSERT(group_str_copy(m->protocols[i].name, p->name, GROUP_MAX_PROTOCOL_NAME_LEN));
		m->protocols[i].metadata = group_xmemdup(p->metadata, p->metadata_len);
		m->protocols[i].metadata_len = p->metadata_len;
	}
	m->session_timeout_ms = req->session_timeout_ms;
	m->rebalance_timeout_ms =
		req->rebalance_timeout_ms > 0 ? req->rebalance_timeout_ms : req->session_timeout_ms;
	RN_ASSERT(group_str_copy(m->client_id, req->client_id, RN_MAX_CLIENT_ID_LEN));
	RN_ASSERT(group_str_copy(m->client_host, req->client_host, GROUP_MAX_HOST_LEN));
}

/* True when the request offers exactly the protocols m already has. */
static bool member_protocols_equal(const struct group_member *m,
				   const struct group_join_request *req)
{
	if (m->protocol_count != req->protocol_count)
		return false;
	for (uint32_t i = 0; i < m->protocol_count; i++) {
		const struct group_protocol *p = &req->protocols[i];
		if (strcmp(m->protocols[i].name, p->name) != 0 ||
		    m->protocols[i].metadata_len != p->metadata_len ||
		    (p->metadata_len && memcmp(m->protocols[i].metadata, p->metadata, p->metadata_len)))
			return false;
	}
	return true;
}

/* Parks m's join, answering an older parked join of the same member first. */
static void park_join(struct group_member *m, void *handle, int64_t now_ms,
		      struct group_out *out)
{
	answer_join_error(m, RN_E_REBALANCE_IN_PROGRESS, now_ms, out);
	m->join_parked = true;
	m->join_handle = handle;
}

/*
 * Makes a new member id: the client id, a dash and the random bytes as a
 * UUID (version 4 layout).  A clash with a current member (only possible if
 * the caller repeats random bytes) gets a counter appended.
 */
static void make_member_id(struct group_coordinator *gc, struct group *g,
			   const struct group_join_request *req, char *id)
{
	uint8_t b[GROUP_MEMBER_ID_RANDOM_BYTES];
	memcpy(b, req->random, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	const char *prefix = req->client_id && req->client_id[0] ? req->client_id : "member";
	int n = snprintf(id, GROUP_MAX_MEMBER_ID_LEN + 1,
			 "%s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 prefix, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
			 b[11], b[12], b[13], b[14], b[15]);
	RN_ASSERT(n > 0 && n <= (int)GROUP_MAX_MEMBER_ID_LEN);
	while (group_member_find(g, id)) {
		/* The id is at most RN_MAX_CLIENT_ID_LEN + 37 characters, so the
		 * suffix is written over the UUID's tail rather than past the end. */
		char suffix[24];
		int sn = snprintf(suffix, sizeof(suffix), "-%llu",
				  (unsigned long long)++gc->member_id_collisions);
		memcpy(id + n - sn, suffix, (size_t)sn + 1);
	}
}

static int join_new_member(struct group_coordinator *gc, struct group *g,
			   const struct group_join_request *req, int64_t now_ms,
			   struct group_out *out)
{
	if (g->member_count >= gc->cfg.max_group_size)
		return RN_E_GROUP_MAX_SIZE_REACHED;
	struct group_member *m = group_xcalloc(1, sizeof(*m));
	make_member_id(gc, g, req, m->id);
	member_update(m, req);
	refresh_session(m, now_ms);
	g->members = group_xrealloc(g->members, g->member_count + 1, sizeof(*g->members));
	g->member_cap = g->member_count + 1;
	g->members[g->member_count++] = m;
	if (g->member_count == 1)
		RN_ASSERT(group_str_copy(g->protocol_type, req->protocol_type,
					 GROUP_MAX_PROTOCOL_NAME_LEN));
	park_join(m, req->handle, now_ms, out);
	if (g->state == GROUP_STATE_PREPARING_REBALANCE)
		g->new_member_added = true;
	else
		group_prepare_rebalance(gc, g, now_ms, out);
	try_complete_join(gc, g, now_ms, out);
	return 0;
}

static int join_known_member(struct group_coordinator *gc, struct group *g,
			     struct group_member *m, const struct group_join_request *req,
			     int64_t now_ms, struct group_out *out)
{
	bool same = member_protocols_equal(m, req);
	bool is_leader = strcmp(g->leader, m->id) == 0;
	refresh_session(m, now_ms);
	switch (g->state) {
	case GROUP_STATE_PREPARING_REBALANCE:
		member_update(m, req);
		park_join(m, req->handle, now_ms, out);
		try_complete_join(gc, g, now_ms, out);
		return 0;
	case GROUP_STATE_COMPLETING_REBALANCE:
	case GROUP_STATE_STABLE:
		if (same && (g->state == GROUP_STATE_COMPLETING_REBALANCE || !is_leader)) {
			/* Nothing changed: the member only missed the join reply
			 * (or asks again); give it the current generation. */
			struct group_join_reply *r = group_out_join(out);
			r->handle = req->handle;
			fill_join_reply(g, m, r);
			return 0;
		}
		member_update(m, req);
		park_join(m, req->handle, now_ms, out);
		group_prepare_rebalance(gc, g, now_ms, out);
		try_complete_join(gc, g, now_ms, out);
		return 0;
	case GROUP_STATE_EMPTY:
	case GROUP_STATE_DEAD:
		break;
	}
	return RN_E_UNKNOWN_MEMBER_ID;
}

int group_join(struct group_coordinator *gc, const struct group_join_request *req,
	       int64_t now_ms, struct group_out *out)
{
	group_out_check_empty(out);
	if (gc->loading)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	int rc = join_check(gc, req);
	if (rc)
		return rc;
	bool is_new = !req->member_id || !req->member_id[0];
	struct group *g = group_find(gc, req->group_id);
	struct group_member *m = g ? group_member_find(g, req->member_id) : NULL;
	if (!is_new && !m)
		return RN_E_UNKNOWN_MEMBER_ID;
	if (g && !supports_protocols(g, m, req))
		return RN_E_INCONSISTENT_GROUP_PROTOCOL;
	if (g && is_new && g->member_count >= gc->cfg.max_group_size)
		return RN_E_GROUP_MAX_SIZE_REACHED;
	if (!g && (rc = group_get_or_create(gc, req->group_id, now_ms, &g)) != 0)
		return rc;
	if (is_new)
		return join_new_member(gc, g, req, now_ms, out);
	return join_known_member(gc, g, m, req, now_ms, out);
}

/* ------------------------------------------------------------ sync */

static int sync_check_assignments(const struct group_sync_request *req)
{
	for (uint32_t i = 0; i < req->assignment_count; i++) {
		const struct group_assignment *a = &req->assignments[i];
		if (!a->member_id || a->assignment_len > GROUP_MAX_METADATA_BYTES ||
		    (a->assignment_len && !a->assignment))
			return RN_E_INVALID_REQUEST;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(req->assignments[j].member_id, a->member_id) == 0)
				return RN_E_INVALID_REQUEST;
	}
	return 0;
}

/* Stores the leader's assignment and asks for the group record holding it. */
static void store_assignment(struct group_coordinator *gc, struct group *g,
			     const struct group_sync_request *req, int64_t now_ms,
			     struct group_out *out)
{
	group_reset_assignments(g);
	for (uint32_t i = 0; i < req->assignment_count; i++) {
		struct group_member *m = group_member_find(g, req->assignments[i].member_id);
		if (!m)
			continue;
		m->assignment = group_xmemdup(req->assignments[i].assignment,
					      req->assignments[i].assignment_len);
		m->assignment_len = req->assignments[i].assignment_len;
	}
	g->assignment_pending = true;
	g->has_metadata = true;
	group_emit_group_record(gc, g, now_ms, out);
	struct pending_effect *e = group_pending_add(group_pending_for(gc, out));
	e->kind = EFFECT_ASSIGNMENT;
	memcpy(e->group_id, g->id, sizeof(e->group_id));
	e->incarnation = g->incarnation;
	e->generation = g->generation;
}

static int sync_lookup(struct group_coordinator *gc, const struct group_sync_request *req,
		       struct group **gp, struct group_member **mp)
{
	if (gc->loading)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	int rc = group_id_check(req->group_id);
	if (rc)
		return rc;
	struct group *g = group_find(gc, req->group_id);
	struct group_member *m = g ? group_member_find(g, req->member_id) : NULL;
	if (!m)
		return RN_E_UNKNOWN_MEMBER_ID;
	if (req->generation_id != g->generation)
		return RN_E_ILLEGAL_GENERATION;
	if ((req->protocol_type && req->protocol_type[0] &&
	     strcmp(req->protocol_type, g->protocol_type) != 0) ||
	    (req->protocol_name && req->protocol_name[0] &&
	     strcmp(req->protocol_name, g->protocol_name) != 0))
		return RN_E_INCONSISTENT_GROUP_PROTOCOL;
	if (g->state == GROUP_STATE_PREPARING_REBALANCE)
		return RN_E_REBALANCE_IN_PROGRESS;
	*gp = g;
	*mp = m;
	return 0;
}

int group_sync(struct group_coordinator *gc, const struct group_sync_request *req,
	       int64_t now_ms, struct group_out *out)
{
	group_out_check_empty(out);
	struct group *g = NULL;
	struct group_member *m = NULL;
	int rc = sync_lookup(gc, req, &g, &m);
	if (rc)
		return rc;
	bool is_leader = strcmp(g->leader, m->id) == 0;
	if (is_leader && (rc = sync_check_assignments(req)) != 0)
		return rc;
	refresh_session(m, now_ms);
	if (g->state == GROUP_STATE_STABLE) {
		struct group_sync_reply *r = group_out_sync(out);
		r->handle = req->handle;
		memcpy(r->protocol_name, g->protocol_name, sizeof(r->protocol_name));
		r->assignment = group_xmemdup(m->assignment, m->assignment_len);
		r->assignment_len = m->assignment_len;
		return 0;
	}
	RN_ASSERT(g->state == GROUP_STATE_COMPLETING_REBALANCE);
	answer_sync(g, m, RN_E_REBALANCE_IN_PROGRESS, now_ms, out);
	m->sync_parked = true;
	m->sync_handle = req->handle;
	if (is_leader && !g->assignment_pending)
		store_assignment(gc, g, req, now_ms, out);
	return 0;
}

void group_assignment_done(struct group_coordinator *gc, struct group *g, int32_t generation,
			   int error, int64_t now_ms, struct group_out *out)
{
	if (g->state != GROUP_STATE_COMPLETING_REBALANCE || g->generation != generation ||
	    !g->assignment_pending)
		return;
	g->assignment_pending = false;
	if (error == 0) {
		group_set_state(g, GROUP_STATE_STABLE, now_ms);
		for (uint32_t i = 0; i < g->member_count; i++)
			answer_sync(g, g->members[i], 0, now_ms, out);
		return;
	}
	for (uint32_t i = 0; i < g->member_count; i++)
		answer_sync(g, g->members[i], error, now_ms, out);
	group_reset_assignments(g);
	group_prepare_rebalance(gc, g, now_ms, out);
	try_complete_join(gc, g, now_ms, out);
}

/* ------------------------------------------------------------ heartbeat, leave */

int group_heartbeat(struct group_coordinator *gc, const char *group_id, const char *member_id,
		    int32_t generation_id, int64_t now_ms)
{
	if (gc->loading)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	int rc = group_id_check(group_id);
	if (rc)
		return rc;
	struct group *g = group_find(gc, group_id);
	struct group_member *m = g ? group_member_find(g, member_id) : NULL;
	if (!m)
		return RN_E_UNKNOWN_MEMBER_ID;
	if (generation_id != g->generation)
		return RN_E_ILLEGAL_GENERATION;
	refresh_session(m, now_ms);
	if (g->state == GROUP_STATE_PREPARING_REBALANCE)
		return RN_E_REBALANCE_IN_PROGRESS;
	return 0;
}

int group_leave(struct group_coordinator *gc, const char *group_id,
		const char *const *member_ids, uint32_t member_count, int64_t now_ms,
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
		return RN_E_UNKNOWN_MEMBER_ID;
	for (uint32_t i = 0; i < member_count; i++) {
		struct group_member *m = group_member_find(g, member_ids[i]);
		if (!m) {
			rc = RN_E_UNKNOWN_MEMBER_ID;
			continue;
		}
		remove_member(gc, g, m, now_ms, out);
	}
	return rc;
}

/* ------------------------------------------------------------ time */

/* The first member whose session lapsed, or NULL.  Members with a parked
 * join or sync are waiting on the coordinator, not silent. */
static struct group_member *expired_member(const struct group *g, int64_t now_ms)
{
	for (uint32_t i = 0; i < g->member_count; i++) {
		struct group_member *m = g->members[i];
		if (!m->join_parked && !m->sync_parked && now_ms >= m->session_deadline_ms)
			return m;
	}
	return NULL;
}

static void tick_join_deadline(struct group_coordinator *gc, struct group *g, int64_t now_ms,
			       struct group_out *out)
{
	if (g->state != GROUP_STATE_PREPARING_REBALANCE)
		return;
	while (now_ms >= g->join_deadline_ms && g->initial_delay && g->new_member_added &&
	       g->initial_remaining_ms > 0) {
		/* Members are still arriving: wait another delay from the end of
		 * the last one, but never longer in all than the rebalance timeout. */
		int32_t delay = gc->cfg.initial_rebalance_delay_ms;
		int64_t step = g->initial_remaining_ms < delay ? g->initial_remaining_ms : delay;
		g->initial_remaining_ms -= step;
		g->new_member_added = false;
		g->join_deadline_ms += step;
	}
	if (now_ms >= g->join_deadline_ms)
		complete_join(gc, g, now_ms, out);
}

void group_tick(struct group_coordinator *gc, int64_t now_ms, struct group_out *out)
{
	group_out_check_empty(out);
	if (gc->loading)
		return;
	for (uint32_t i = 0; i < gc->group_count; i++) {
		struct group *g = gc->groups[i];
		struct group_member *m;
		while ((m = expired_member(g, now_ms)) != NULL)
			remove_member(gc, g, m, now_ms, out);
		tick_join_deadline(gc, g, now_ms, out);
	}
}
