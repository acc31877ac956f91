/* h_group_admin.c: DescribeGroups, ListGroups and DeleteGroups. */
#include "broker/conn.h"
#include "broker/coord.h"
#include "broker/handlers.h"
#include "broker/node.h"
#include "common/errors.h"
#include "common/rn_assert.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ---------------------------------------------------------- DescribeGroups */

static Runnel__DescribedGroupMember *described_member(struct req *r,
						      const struct group_member_description *m)
{
	Runnel__DescribedGroupMember *dm = req_alloc(r, sizeof(*dm));
	runnel__described_group_member__init(dm);
	dm->member_id = req_strdup(r, m->member_id);
	dm->client_id = req_strdup(r, m->client_id);
	dm->client_host = req_strdup(r, m->client_host);
	dm->member_metadata = copy_bytes(r, m->metadata, m->metadata_len);
	dm->member_assignment = copy_bytes(r, m->assignment, m->assignment_len);
	return dm;
}

static void describe_fill(struct req *r, Runnel__DescribedGroup *dg,
			  const struct group_description *d)
{
	dg->state = (char *)group_state_name(d->state);
	dg->protocol_type = req_strdup(r, d->protocol_type);
	dg->protocol_name = req_strdup(r, d->protocol_name);
	dg->generation_id = d->generation_id;
	dg->leader = req_strdup(r, d->leader);
	dg->n_members = d->member_count;
	dg->members = req_alloc(r, (d->member_count + 1) * sizeof(*dg->members));
	for (uint32_t i = 0; i < d->member_count; i++)
		dg->members[i] = described_member(r, &d->members[i]);
}

/* One group.  A group this coordinator does not know is reported Dead
 * without an error, as Kafka does, so describing a group that never
 * committed anything is not a failure. */
static Runnel__DescribedGroup *describe_one(struct req *r, const char *group_id)
{
	Runnel__DescribedGroup *dg = req_alloc(r, sizeof(*dg));
	runnel__described_group__init(dg);
	dg->group_id = (char *)group_id;
	dg->state = (char *)group_state_name(GROUP_STATE_DEAD);
	dg->generation_id = -1;
	struct coord_part *cp = NULL;
	struct group_description d;
	memset(&d, 0, sizeof(d));
	int rc = coord_lookup(r->node->coord, group_id, &cp);
	if (rc == RN_OK)
		rc = group_describe(coord_part_gc(cp), group_id, &d);
	if (rc == RN_OK)
		describe_fill(r, dg, &d);
	group_description_free(&d);
	if (rc == RN_E_GROUP_ID_NOT_FOUND)
		rc = RN_OK;
	dg->error_code = rn_err_to_wire(rc);
	dg->error_message = rc == RN_OK ? "" : (char *)rn_strerror(rc);
	return dg;
}

void handle_describe_groups(struct req *r)
{
	const Runnel__DescribeGroupsRequest *dr = r->msg->describe_groups;
	if (dr->n_group_ids > RN_MAX_TOPICS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many groups in one DescribeGroups request");
		return;
	}
	Runnel__Response *resp = req_alloc(r, sizeof(*resp));
	runnel__response__init(resp);
	Runnel__DescribeGroupsResponse *body = req_alloc(r, sizeof(*body));
	runnel__describe_groups_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_DESCRIBE_GROUPS;
	resp->describe_groups = body;
	body->n_groups = dr->n_group_ids;
	body->groups = req_alloc(r, (dr->n_group_ids + 1) * sizeof(*body->groups));
	for (size_t i = 0; i < dr->n_group_ids; i++)
		body->groups[i] = describe_one(r, dr->group_ids[i]);
	req_respond(r, resp);
}

/* -------------------------------------------------------------- ListGroups */

/* The groups of every loaded coordinator, gathered before the response is
 * built (the total is unknown until all are seen). */
struct list_acc {
	const Runnel__ListGroupsRequest *filter;
	struct group_listing *items;
	uint32_t count;
	uint32_t cap;
};

static bool state_wanted(const Runnel__ListGroupsRequest *lr, enum group_state state)
{
	if (lr->n_states_filter == 0)
		return true;
	for (size_t i = 0; i < lr->n_states_filter; i++)
		if (strcasecmp(lr->states_filter[i], group_state_name(state)) == 0)
			return true;
	return false;
}

static void list_collect(struct group_coordinator *gc, void *arg)
{
	struct list_acc *acc = arg;
	struct group_listing *items = NULL;
	uint32_t count = 0;
	if (group_list(gc, &items, &count) != RN_OK)
		return;
	for (uint32_t i = 0; i < count; i++) {
		if (!state_wanted(acc->filter, items[i].state))
			continue;
		if (acc->count == acc->cap) {
			acc->cap = acc->cap ? acc->cap * 2 : 64;
			acc->items = realloc(acc->items, acc->cap * sizeof(*acc->items));
			RN_ASSERT(acc->items != NULL);
		}
		acc->items[acc->count++] = items[i];
	}
	free(items);
}

static Runnel__ListedGroup *listed_group(struct req *r, const struct group_listing *g)
{
	Runnel__ListedGroup *lg = req_alloc(r, sizeof(*lg));
	runnel__listed_group__init(lg);
	lg->group_id = req_strdup(r, g->group_id);
	lg->protocol_type = req_strdup(r, g->protocol_type);
	lg->state = (char *)group_state_name(g->state);
	lg->member_count = g->member_count;
	return lg;
}

void handle_list_groups(struct req *r)
{
	struct list_acc acc = {r->msg->list_groups, NULL, 0, 0};
	bool loading = coord_foreach_loaded(r->node->coord, list_collect, &acc);
	Runnel__Response *resp = req_alloc(r, sizeof(*resp));
	runnel__response__init(resp);
	Runnel__ListGroupsResponse *body = req_alloc(r, sizeof(*body));
	runnel__list_groups_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_LIST_GROUPS;
	resp->list_groups = body;
	body->n_groups = acc.count;
	body->groups = req_alloc(r, (acc.count + 1) * sizeof(*body->groups));
	for (uint32_t i = 0; i < acc.count; i++)
		body->groups[i] = listed_group(r, &acc.items[i]);
	free(acc.items);
	/* The groups of partitions still loading are missing: say so, as Kafka
	 * does, while listing the others. */
	int rc = loading ? RN_E_COORDINATOR_LOAD_IN_PROGRESS : RN_OK;
	body->error_code = rn_err_to_wire(rc);
	body->error_message = rc == RN_OK ? "" : (char *)rn_strerror(rc);
	req_respond(r, resp);
}

/* ------------------------------------------------------------ DeleteGroups */

/* One group's deletion waiting for its tombstones to be replicated. */
struct delete_one {
	struct coord_wait *w;
	Runnel__DeleteGroupResult *res;
};

/* The error a client sees when the tombstones could not be written: the
 * same mapping the coordinator applies to commits. */
static int delete_append_error(int err)
{
	switch (err) {
	case RN_OK:
		return RN_OK;
	case RN_E_NOT_LEADER_OR_FOLLOWER:
	case RN_E_SHUTTING_DOWN:
		return RN_E_NOT_COORDINATOR;
	case RN_E_NOT_ENOUGH_REPLICAS:
	case RN_E_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case RN_E_REQUEST_TIMED_OUT:
	case RN_E_UNKNOWN_TOPIC_OR_PARTITION:
		return RN_E_COORDINATOR_NOT_AVAILABLE;
	default:
		return err;
	}
}

static void delete_finish(struct coord_wait *w)
{
	RN_ASSERT(w->outstanding > 0);
	if (--w->outstanding > 0)
		return;
	struct req *r = w->r;
	Runnel__Response *resp = w->ctx;
	coord_wait_free(w);
	if (r)
		req_respond(r, resp);
}

static void delete_done_cb(void *arg, int err)
{
	struct delete_one *d = arg;
	err = delete_append_error(err);
	if (d->w->r && err != RN_OK) {
		d->res->error_code = rn_err_to_wire(err);
		d->res->error_message = (char *)rn_strerror(err);
	}
	struct coord_wait *w = d->w;
	free(d);
	delete_finish(w);
}

static void delete_one_group(struct req *r, struct coord_wait *w, Runnel__DeleteGroupResult *res)
{
	struct coord *c = r->node->coord;
	struct coord_part *cp = NULL;
	int rc = coord_lookup(c, res->group_id, &cp);
	struct group_out out;
	group_out_init(&out);
	if (rc == RN_OK)
		rc = group_delete(coord_part_gc(cp), res->group_id, coord_now_ms(), &out);
	if (rc != RN_OK) {
		res->error_code = rn_err_to_wire(rc);
		res->error_message = (char *)rn_strerror(rc);
		if (cp)
			coord_apply(c, cp, &out, NULL, NULL);
		group_out_clear(&out);
		return;
	}
	struct delete_one *d = malloc(sizeof(*d));
	RN_ASSERT(d != NULL);
	d->w = w;
	d->res = res;
	w->outstanding++;
	coord_apply(c, cp, &out, delete_done_cb, d);
}

void handle_delete_groups(struct req *r)
{
	const Runnel__DeleteGroupsRequest *dr = r->msg->delete_groups;
	if (dr->n_group_ids > RN_MAX_TOPICS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many groups in one DeleteGroups request");
		return;
	}
	Runnel__Response *resp = req_alloc(r, sizeof(*resp));
	runnel__response__init(resp);
	Runnel__DeleteGroupsResponse *body = req_alloc(r, sizeof(*body));
	runnel__delete_groups_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_DELETE_GROUPS;
	resp->delete_groups = body;
	body->n_results = dr->n_group_ids;
	body->results = req_alloc(r, (dr->n_group_ids + 1) * sizeof(*body->results));
	struct coord_wait *w = coord_wait_new(r->node->coord, r, COORD_WAIT_DELETE, resp);
	/* One count for the loop itself, so an append that completes at once
	 * cannot answer before every group was handled. */
	w->outstanding = 1;
	coord_wait_park(w);
	for (size_t i = 0; i < dr->n_group_ids; i++) {
		Runnel__DeleteGroupResult *res = req_alloc(r, sizeof(*res));
		runnel__delete_group_result__init(res);
		res->group_id = dr->group_ids[i];
		res->error_message = "";
		body->results[i] = res;
		delete_one_group(r, w, res);
	}
	delete_finish(w);
}
