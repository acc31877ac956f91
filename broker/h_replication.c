/* h_replication.c: AlterPartition and ElectLeaders at the active controller: plan, propose, answer once applied. */
#include "broker/conn.h"
#include "broker/ctrl.h"
#include "broker/forward.h"
#include "broker/handlers.h"
#include "broker/listener.h"
#include "broker/node.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "controller/controller.h"
#include "controller/replication.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

/* A request whose records wait to be applied before it is answered. */
struct repl_wait {
	struct req *r;
	struct ctrl_waiter *cw;
	struct event *timer;
	Runnel__Response resp;
	/* Fills the response once the records are applied (err 0) or failed. */
	void (*finish)(struct repl_wait *w, int err);
};

static void wait_done(struct repl_wait *w, int err)
{
	if (w->timer)
		event_free(w->timer);
	w->timer = NULL;
	w->finish(w, err);
	req_respond(w->r, &w->resp);
}

static void wait_applied_cb(void *arg, int err)
{
	struct repl_wait *w = arg;
	w->cw = NULL;
	wait_done(w, err);
}

static void wait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct repl_wait *w = arg;
	(void)fd;
	(void)what;
	if (w->cw)
		ctrl_wait_cancel(w->r->node->ctrl, w->cw);
	w->cw = NULL;
	wait_done(w, RN_E_REQUEST_TIMED_OUT);
}

static void wait_cancel(struct req *r)
{
	struct repl_wait *w = r->wait;
	if (w->cw)
		ctrl_wait_cancel(r->node->ctrl, w->cw);
	w->cw = NULL;
	if (w->timer)
		event_free(w->timer);
	w->timer = NULL;
	req_drop(r);
}

/* Answers now when nothing was proposed, else once index is applied. */
static void wait_or_answer(struct repl_wait *w, uint64_t index, int32_t timeout_ms)
{
	struct req *r = w->r;
	if (index == 0) {
		wait_done(w, RN_OK);
		return;
	}
	w->cw = ctrl_wait_applied(r->node->ctrl, index, wait_applied_cb, w);
	w->timer = evtimer_new(r->node->base, wait_timeout_cb, w);
	if (!w->cw || !w->timer) {
		if (w->cw)
			ctrl_wait_cancel(r->node->ctrl, w->cw);
		w->cw = NULL;
		wait_done(w, RN_E_NOMEM);
		return;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(w->timer, &tv);
	req_park(r, wait_cancel, w);
}

static int32_t wait_timeout_ms(int32_t requested)
{
	if (requested <= 0)
		return NODE_DEFAULT_ADMIN_TIMEOUT_MS;
	return requested > RN_MAX_PRODUCE_TIMEOUT_MS ? RN_MAX_PRODUCE_TIMEOUT_MS : requested;
}

static void set_error(struct req *r, int32_t *code, char **message, int err, const char *why)
{
	*code = rn_err_to_wire(err);
	*message = req_strdup(r, why && why[0] ? why : rn_strerror(err));
}

/* ---------------------------------------------------------- AlterPartition */

struct alter_wait {
	struct repl_wait w;
	Runnel__AlterPartitionResponse *body;
	const Runnel__AlterPartitionRequest *req;
};

/* Copies the partition as the image shows it now into the result. */
static void fill_partition(struct req *r, const uint8_t *topic_id,
			   Runnel__AlterPartitionPartitionResult *res)
{
	const struct meta_image *img = ctrl_image(r->node->ctrl);
	const struct meta_topic *t = meta_image_topic_by_id(img, topic_id);
	const struct meta_partition *mp = t ? meta_topic_partition(t, res->partition) : NULL;
	if (!mp) {
		set_error(r, &res->error_code, &res->error_message, RN_E_UNKNOWN_TOPIC_OR_PARTITION,
			  NULL);
		return;
	}
	res->leader = mp->leader;
	res->leader_epoch = mp->leader_epoch;
	res->partition_epoch = mp->partition_epoch;
	res->n_isr = mp->isr_count;
	res->isr = req_alloc(r, (mp->isr_count + 1) * sizeof(*res->isr));
	memcpy(res->isr, mp->isr, mp->isr_count * sizeof(*res->isr));
}

static void alter_finish(struct repl_wait *w, int err)
{
	struct alter_wait *aw = (struct alter_wait *)w;
	struct req *r = w->r;
	char why[CTRL_WHY_LEN] = "";
	if (err == RN_E_NOT_CONTROLLER)
		ctrl_not_controller_why(r->node->ctrl, why);
	for (size_t t = 0; t < aw->body->n_topics; t++) {
		Runnel__AlterPartitionTopicResult *tr = aw->body->topics[t];
		for (size_t i = 0; i < tr->n_partitions; i++) {
			Runnel__AlterPartitionPartitionResult *res = tr->partitions[i];
			if (res->error_code != 0)
				continue;
			if (err != RN_OK)
				set_error(r, &res->error_code, &res->error_message, err, why);
			else
				fill_partition(r, tr->topic_id.data, res);
		}
	}
}

/* Plans and proposes one partition's change; returns its error (0 when
 * proposed or unchanged) and raises *last to its record's index. */
static int alter_one(struct req *r, const Runnel__AlterPartitionRequest *ar,
		     const Runnel__AlterPartitionTopic *at, const Runnel__AlterPartitionPartition *ap,
		     uint64_t *last, char *why)
{
	if (at->topic_id.len != META_TOPIC_ID_LEN || ap->n_new_isr > RN_MAX_REPLICATION_FACTOR) {
		snprintf(why, CTRL_WHY_LEN, "topic_id must be 16 bytes and new_isr at most %u members",
			 RN_MAX_REPLICATION_FACTOR);
		return RN_E_INVALID_REQUEST;
	}
	uint64_t index = 0;
	int rc = ctrl_alter_partition(r->node->ctrl, ar->broker_id, ar->broker_epoch,
				      at->topic_id.data, ap->partition, ap->leader_epoch,
				      ap->partition_epoch, ap->new_isr, (uint32_t)ap->n_new_isr, &index,
				      why);
	if (rc == RN_OK && index > *last)
		*last = index;
	return rc;
}

static size_t alter_count(const Runnel__AlterPartitionRequest *ar)
{
	size_t total = 0;
	for (size_t t = 0; t < ar->n_topics; t++)
		total += ar->topics[t]->n_partitions;
	return total;
}

void handle_alter_partition(struct req *r)
{
	const Runnel__AlterPartitionRequest *ar = r->msg->alter_partition;
	if (ar->n_topics > RN_MAX_TOPICS_PER_REQUEST ||
	    alter_count(ar) > RN_MAX_PARTITIONS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many partitions in one AlterPartition request");
		return;
	}
	struct node *n = r->node;
	struct alter_wait *aw = req_alloc(r, sizeof(*aw));
	aw->w.r = r;
	aw->w.finish = alter_finish;
	aw->req = ar;
	runnel__response__init(&aw->w.resp);
	Runnel__AlterPartitionResponse *body = req_alloc(r, sizeof(*body));
	runnel__alter_partition_response__init(body);
	aw->body = body;
	aw->w.resp.body_case = RUNNEL__RESPONSE__BODY_ALTER_PARTITION;
	aw->w.resp.alter_partition = body;
	body->controller_id = ctrl_leader_id(n->ctrl);
	char why[CTRL_WHY_LEN] = "";
	if (!ctrl_is_active(n->ctrl)) {
		ctrl_not_controller_why(n->ctrl, why);
		set_error(r, &body->error_code, &body->error_message, RN_E_NOT_CONTROLLER, why);
		req_respond(r, &aw->w.resp);
		return;
	}
	body->n_topics = ar->n_topics;
	body->topics = req_alloc(r, (ar->n_topics + 1) * sizeof(*body->topics));
	uint64_t last = 0;
	for (size_t t = 0; t < ar->n_topics; t++) {
		const Runnel__AlterPartitionTopic *at = ar->topics[t];
		Runnel__AlterPartitionTopicResult *tr = req_alloc(r, sizeof(*tr));
		runnel__alter_partition_topic_result__init(tr);
		tr->topic_id = at->topic_id;
		tr->n_partitions = at->n_partitions;
		tr->partitions = req_alloc(r, (at->n_partitions + 1) * sizeof(*tr->partitions));
		for (size_t i = 0; i < at->n_partitions; i++) {
			Runnel__AlterPartitionPartitionResult *res = req_alloc(r, sizeof(*res));
			runnel__alter_partition_partition_result__init(res);
			res->partition = at->partitions[i]->partition;
			res->leader = -1;
			why[0] = '\0';
			int rc = alter_one(r, ar, at, at->partitions[i], &last, why);
			if (rc != RN_OK)
				set_error(r, &res->error_code, &res->error_message, rc, why);
			tr->partitions[i] = res;
		}
		body->topics[t] = tr;
	}
	wait_or_answer(&aw->w, last, NODE_DEFAULT_ADMIN_TIMEOUT_MS);
}

/* ------------------------------------------------------------ ElectLeaders */

struct elect_wait {
	struct repl_wait w;
	Runnel__ElectLeadersResponse *body;
};

static void elect_finish(struct repl_wait *w, int err)
{
	struct elect_wait *ew = (struct elect_wait *)w;
	struct req *r = w->r;
	if (err == RN_OK)
		return;
	char why[CTRL_WHY_LEN] = "";
	if (err == RN_E_NOT_CONTROLLER)
		listener_not_controller_why(r->node, r->listener, why);
	/* The elections planned may not have taken effect. */
	for (size_t t = 0; t < ew->body->n_topics; t++) {
		Runnel__ElectLeadersTopicResult *tr = ew->body->topics[t];
		for (size_t i = 0; i < tr->n_partitions; i++)
			if (tr->partitions[i]->error_code == 0)
				set_error(r, &tr->partitions[i]->error_code,
					  &tr->partitions[i]->error_message, err, why);
	}
}

/* Appends a topic result to the response (capacity reserved by the caller). */
static Runnel__ElectLeadersTopicResult *topic_result(struct req *r,
						     Runnel__ElectLeadersResponse *body,
						     const char *name, size_t partitions)
{
	Runnel__ElectLeadersTopicResult *tr = req_alloc(r, sizeof(*tr));
	runnel__elect_leaders_topic_result__init(tr);
	tr->name = req_strdup(r, name);
	tr->partitions = req_alloc(r, (partitions + 1) * sizeof(*tr->partitions));
	body->topics[body->n_topics++] = tr;
	return tr;
}

/* Turns the planner's results into topic results, one per run of the same
 * topic name. */
static void add_results(struct req *r, Runnel__ElectLeadersResponse *body,
			const struct controller_election_result *res, uint32_t count)
{
	Runnel__ElectLeadersTopicResult *tr = NULL;
	for (uint32_t i = 0; i < count; i++) {
		if (!tr || strcmp(tr->name, res[i].topic) != 0) {
			uint32_t run = 0;
			while (i + run < count && strcmp(res[i + run].topic, res[i].topic) == 0)
				run++;
			tr = topic_result(r, body, res[i].topic, run);
		}
		Runnel__ElectLeadersPartitionResult *pr = req_alloc(r, sizeof(*pr));
		runnel__elect_leaders_partition_result__init(pr);
		pr->partition = res[i].partition;
		if (res[i].error != RN_OK)
			set_error(r, &pr->error_code, &pr->error_message, res[i].error, NULL);
		tr->partitions[tr->n_partitions++] = pr;
	}
}

/* Plans and proposes the elections of one topic (name NULL: every topic). */
static void elect_topic(struct req *r, Runnel__ElectLeadersResponse *body, const char *name,
			const int32_t *parts, uint32_t part_count, uint64_t *last)
{
	struct ctrl *c = r->node->ctrl;
	struct meta_record *recs = NULL;
	uint32_t count = 0;
	struct controller_election_result *res = NULL;
	uint32_t res_count = 0;
	char why[CTRL_WHY_LEN] = "";
	uint64_t index = 0;
	int rc = controller_plan_preferred_election(ctrl_lifecycle(c), ctrl_image(c), name, parts,
						    part_count, UINT32_MAX, &recs, &count, &res,
						    &res_count, why, sizeof(why));
	if (rc == RN_OK && count > 0)
		rc = ctrl_propose(c, recs, count, &index);
	controller_records_free(recs, count);
	if (rc != RN_OK) {
		Runnel__ElectLeadersTopicResult *tr = topic_result(r, body, name ? name : "", 0);
		set_error(r, &tr->error_code, &tr->error_message, rc, why);
		free(res);
		return;
	}
	if (index > *last)
		*last = index;
	add_results(r, body, res, res_count);
	free(res);
}

/* Topic results the response may need: every topic of the image when the
 * request names none (one per topic), else one per named topic. */
static size_t elect_capacity(struct req *r, const Runnel__ElectLeadersRequest *er)
{
	size_t n = er->n_topics;
	if (n == 0)
		n = meta_image_topic_count(ctrl_image(r->node->ctrl));
	return n + 1;
}

void handle_elect_leaders(struct req *r)
{
	const Runnel__ElectLeadersRequest *er = r->msg->elect_leaders;
	if (er->n_topics > RN_MAX_TOPICS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many topics in one ElectLeaders request");
		return;
	}
	if (forward_controller_request(r, er->timeout_ms, handle_elect_leaders))
		return;
	struct node *n = r->node;
	struct elect_wait *ew = req_alloc(r, sizeof(*ew));
	ew->w.r = r;
	ew->w.finish = elect_finish;
	runnel__response__init(&ew->w.resp);
	Runnel__ElectLeadersResponse *body = req_alloc(r, sizeof(*body));
	runnel__elect_leaders_response__init(body);
	ew->body = body;
	ew->w.resp.body_case = RUNNEL__RESPONSE__BODY_ELECT_LEADERS;
	ew->w.resp.elect_leaders = body;
	body->controller_id = ctrl_leader_id(n->ctrl);
	if (!ctrl_is_active(n->ctrl)) {
		char why[CTRL_WHY_LEN];
		listener_not_controller_why(n, r->listener, why);
		set_error(r, &body->error_code, &body->error_message, RN_E_NOT_CONTROLLER, why);
		req_respond(r, &ew->w.resp);
		return;
	}
	body->topics = req_alloc(r, elect_capacity(r, er) * sizeof(*body->topics));
	uint64_t last = 0;
	if (er->n_topics == 0)
		elect_topic(r, body, NULL, NULL, 0, &last);
	for (size_t t = 0; t < er->n_topics; t++) {
		const Runnel__ElectLeadersTopic *et = er->topics[t];
		if (et->n_partitions > RN_MAX_PARTITIONS_PER_TOPIC) {
			Runnel__ElectLeadersTopicResult *tr = topic_result(r, body, et->name, 0);
			set_error(r, &tr->error_code, &tr->error_message, RN_E_INVALID_REQUEST,
				  "too many partitions named for one topic");
			continue;
		}
		elect_topic(r, body, et->name, et->partitions, (uint32_t)et->n_partitions, &last);
	}
	wait_or_answer(&ew->w, last, wait_timeout_ms(er->timeout_ms));
}
