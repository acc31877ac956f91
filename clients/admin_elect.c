/* admin_elect.c: preferred-leader election on demand (ElectLeaders, sent to the active controller). */
#include <stdlib.h>
#include <string.h>

#include "clients/client.h"
#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"

void runnel_election_results_free(struct runnel_election_result *results, size_t count)
{
	for (size_t i = 0; results && i < count; i++) {
		free(results[i].topic);
		free(results[i].message);
	}
	free(results);
}

static int compare_results(const void *x, const void *y)
{
	const struct runnel_election_result *a = x, *b = y;
	int c = strcmp(a->topic, b->topic);
	return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static int result_set(struct runnel_election_result *r, const char *topic, int32_t partition,
		      int32_t code, const char *message)
{
	r->topic = strdup(topic ? topic : "");
	r->message = strdup(message ? message : "");
	r->partition = partition;
	r->error = rn_err_from_wire(code);
	return r->topic && r->message ? 0 : RN_E_NOMEM;
}

/* Flattens the controller's answer into one result per partition, or one
 * per topic that failed as a whole.  Returns 0 or RN_E_NOMEM. */
static int results_from_wire(const Runnel__ElectLeadersResponse *er,
			     struct runnel_election_result **out, size_t *count)
{
	size_t total = 0, n = 0;
	int rc = 0;
	for (size_t t = 0; t < er->n_topics; t++)
		total += er->topics[t]->error_code ? 1 : er->topics[t]->n_partitions;
	struct runnel_election_result *res = calloc(total ? total : 1, sizeof(*res));
	if (!res)
		return RN_E_NOMEM;
	for (size_t t = 0; rc == 0 && t < er->n_topics; t++) {
		const Runnel__ElectLeadersTopicResult *tr = er->topics[t];
		if (tr->error_code) {
			rc = result_set(&res[n++], tr->name, -1, tr->error_code, tr->error_message);
			continue;
		}
		for (size_t i = 0; rc == 0 && i < tr->n_partitions; i++) {
			const Runnel__ElectLeadersPartitionResult *pr = tr->partitions[i];
			rc = result_set(&res[n++], tr->name, pr->partition, pr->error_code,
					pr->error_message);
		}
	}
	if (rc != 0) {
		runnel_election_results_free(res, n);
		return rc;
	}
	qsort(res, n, sizeof(*res), compare_results);
	*out = res;
	*count = n;
	return 0;
}

/* Handles a NOT_CONTROLLER answer: the message, or failing that the
 * controller id the answer carries, says where to go next. */
static void follow_answer(struct client *c, const Runnel__ElectLeadersResponse *er)
{
	client_follow_not_controller(c, er->error_message);
	if (c->controller_id < 0 && er->controller_id >= 0 && client_conn(c, er->controller_id))
		c->controller_id = er->controller_id;
}

/* One attempt: 0 with the results, or the error to retry or report. */
static int elect_attempt(struct client *c, Runnel__Request *req, int64_t deadline_ms,
			 struct runnel_election_result **out, size_t *count)
{
	Runnel__Response *resp = NULL;
	int rc = client_controller_attempt(c, req, RUNNEL__API_KEY__API_ELECT_LEADERS, &resp,
					   deadline_ms);
	if (rc == RN_E_NOT_CONTROLLER) {
		client_follow_not_controller(c, c->errmsg);
		return rc;
	}
	if (rc != 0) {
		/* The controller went away: ask the cluster again. */
		if (client_admin_retriable(rc))
			c->controller_id = -1;
		return rc;
	}
	const Runnel__ElectLeadersResponse *er = resp->elect_leaders;
	rc = rn_err_from_wire(er->error_code);
	if (rc != 0) {
		client_fail_wire(c, rc, er->error_message, "elect leaders");
		if (rc == RN_E_NOT_CONTROLLER)
			follow_answer(c, er);
	} else {
		rc = results_from_wire(er, out, count);
		if (rc != 0)
			client_fail(c, rc, "out of memory");
	}
	runnel__response__free_unpacked(resp, NULL);
	return rc;
}

int runnel_admin_elect_leaders(runnel_admin *a, const char *topic, int32_t partition,
			       int timeout_ms, struct runnel_election_result **out, size_t *count)
{
	struct client *c = &a->client;
	if ((topic && (!*topic || strlen(topic) > RN_MAX_TOPIC_NAME_LEN)) || partition < -1 ||
	    (!topic && partition >= 0) || timeout_ms <= 0 || !out || !count)
		return client_fail(c, RN_E_INVAL, "bad topic, partition or timeout");
	Runnel__ElectLeadersTopic et = RUNNEL__ELECT_LEADERS_TOPIC__INIT;
	Runnel__ElectLeadersTopic *etp = &et;
	et.name = (char *)topic;
	et.n_partitions = partition >= 0 ? 1 : 0;
	et.partitions = &partition;
	Runnel__ElectLeadersRequest er = RUNNEL__ELECT_LEADERS_REQUEST__INIT;
	er.n_topics = topic ? 1 : 0;
	er.topics = &etp;
	/* The controller's wait for the commit stays within one attempt. */
	er.timeout_ms = timeout_ms < CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS ? timeout_ms
								     : CLIENT_ADMIN_ATTEMPT_TIMEOUT_MS;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.body_case = RUNNEL__REQUEST__BODY_ELECT_LEADERS;
	req.elect_leaders = &er;
	int64_t deadline = rn_mono_ms() + timeout_ms;
	int rc = 0;
	for (int attempt = 0;; attempt++) {
		rc = elect_attempt(c, &req, deadline, out, count);
		int64_t delay = client_admin_retry_delay_ms(rc, attempt, rn_mono_ms(), deadline);
		if (delay < 0)
			break;
		client_poll(c, (int)delay);
	}
	return rc;
}
