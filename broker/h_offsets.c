/* h_offsets.c: OffsetCommit (answered once the commit is replicated) and OffsetFetch. */
#include "broker/conn.h"
#include "broker/coord.h"
#include "broker/handlers.h"
#include "broker/node.h"
#include "common/errors.h"
#include "common/rn_assert.h"

#include <string.h>

/* ------------------------------------------------------------ OffsetCommit */

/* The response, shaped like the request, every partition carrying err. */
static void commit_set_error(Runnel__OffsetCommitResponse *body, int err)
{
	const char *msg = err == RN_OK ? "" : rn_strerror(err);
	body->error_code = rn_err_to_wire(err);
	body->error_message = (char *)msg;
	for (size_t t = 0; t < body->n_topics; t++) {
		Runnel__OffsetCommitTopicResult *tr = body->topics[t];
		for (size_t i = 0; i < tr->n_partitions; i++) {
			tr->partitions[i]->error_code = rn_err_to_wire(err);
			tr->partitions[i]->error_message = (char *)msg;
		}
	}
}

static Runnel__Response *commit_response(struct req *r, const Runnel__OffsetCommitRequest *cr)
{
	Runnel__Response *resp = req_alloc(r, sizeof(*resp));
	runnel__response__init(resp);
	Runnel__OffsetCommitResponse *body = req_alloc(r, sizeof(*body));
	runnel__offset_commit_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_OFFSET_COMMIT;
	resp->offset_commit = body;
	body->n_topics = cr->n_topics;
	body->topics = req_alloc(r, (cr->n_topics + 1) * sizeof(*body->topics));
	for (size_t t = 0; t < cr->n_topics; t++) {
		const Runnel__OffsetCommitTopic *ct = cr->topics[t];
		Runnel__OffsetCommitTopicResult *tr = req_alloc(r, sizeof(*tr));
		runnel__offset_commit_topic_result__init(tr);
		tr->name = ct->name;
		tr->n_partitions = ct->n_partitions;
		tr->partitions = req_alloc(r, (ct->n_partitions + 1) * sizeof(*tr->partitions));
		for (size_t i = 0; i < ct->n_partitions; i++) {
			Runnel__OffsetCommitPartitionResult *pr = req_alloc(r, sizeof(*pr));
			runnel__offset_commit_partition_result__init(pr);
			pr->partition = ct->partitions[i]->partition;
			tr->partitions[i] = pr;
		}
		body->topics[t] = tr;
	}
	return resp;
}

void coord_reply_commit(struct coord_wait *w, const struct group_commit_reply *rep)
{
	struct req *r = w->r;
	Runnel__Response *resp = w->ctx;
	coord_wait_free(w);
	if (!r)
		return;
	commit_set_error(resp->offset_commit, rep->error);
	req_respond(r, resp);
}

/* The request's offsets as one flat list, or NULL when it names too many. */
static struct group_offset_commit *commit_offsets(struct req *r,
						  const Runnel__OffsetCommitRequest *cr,
						  uint32_t *count)
{
	size_t total = 0;
	for (size_t t = 0; t < cr->n_topics; t++)
		total += cr->topics[t]->n_partitions;
	if (cr->n_topics > RN_MAX_TOPICS_PER_REQUEST || total > RN_MAX_PARTITIONS_PER_REQUEST)
		return NULL;
	struct group_offset_commit *offs = req_alloc(r, (total + 1) * sizeof(*offs));
	size_t k = 0;
	for (size_t t = 0; t < cr->n_topics; t++) {
		for (size_t i = 0; i < cr->topics[t]->n_partitions; i++) {
			const Runnel__OffsetCommitPartition *cp = cr->topics[t]->partitions[i];
			offs[k].topic = cr->topics[t]->name;
			offs[k].partition = cp->partition;
			offs[k].offset = cp->committed_offset;
			offs[k].leader_epoch = cp->committed_leader_epoch;
			offs[k].metadata = cp->metadata;
			k++;
		}
	}
	*count = (uint32_t)total;
	return offs;
}

void handle_offset_commit(struct req *r)
{
	const Runnel__OffsetCommitRequest *cr = r->msg->offset_commit;
	struct coord *c = r->node->coord;
	uint32_t count = 0;
	struct group_offset_commit *offs = commit_offsets(r, cr, &count);
	if (!offs) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many topics or partitions in one OffsetCommit");
		return;
	}
	Runnel__Response *resp = commit_response(r, cr);
	struct coord_part *cp = NULL;
	int rc = coord_lookup(c, cr->group_id, &cp);
	if (rc != RN_OK) {
		commit_set_error(resp->offset_commit, rc);
		req_respond(r, resp);
		return;
	}
	struct coord_wait *w = coord_wait_new(c, r, COORD_WAIT_COMMIT, resp);
	struct group_commit_request g = {
		.group_id = cr->group_id,
		.generation_id = cr->generation_id,
		.member_id = cr->member_id,
		.offsets = offs,
		.offset_count = count,
		.handle = w,
	};
	struct group_out out;
	group_out_init(&out);
	rc = group_commit_offsets(coord_part_gc(cp), &g, coord_now_ms(), &out);
	if (rc != RN_OK)
		coord_wait_free(w);
	else
		coord_wait_park(w);
	coord_apply(c, cp, &out, NULL, NULL);
	if (rc != RN_OK) {
		commit_set_error(resp->offset_commit, rc);
		req_respond(r, resp);
	}
}

/* ------------------------------------------------------------- OffsetFetch */

static struct group_topic_partition *fetch_partitions(struct req *r,
						      const Runnel__OffsetFetchRequest *fr,
						      uint32_t *count)
{
	size_t total = 0;
	for (size_t t = 0; t < fr->n_topics; t++)
		total += fr->topics[t]->n_partitions;
	if (fr->n_topics > RN_MAX_TOPICS_PER_REQUEST || total > RN_MAX_PARTITIONS_PER_REQUEST)
		return NULL;
	struct group_topic_partition *tps = req_alloc(r, (total + 1) * sizeof(*tps));
	size_t k = 0;
	for (size_t t = 0; t < fr->n_topics; t++) {
		for (size_t i = 0; i < fr->topics[t]->n_partitions; i++) {
			tps[k].topic = fr->topics[t]->name;
			tps[k].partition = fr->topics[t]->partitions[i];
			k++;
		}
	}
	*count = (uint32_t)total;
	return tps;
}

static Runnel__OffsetFetchPartition *fetch_partition(struct req *r,
						     const struct group_offset_entry *e)
{
	Runnel__OffsetFetchPartition *fp = req_alloc(r, sizeof(*fp));
	runnel__offset_fetch_partition__init(fp);
	fp->partition = e->partition;
	fp->committed_offset = e->offset;
	fp->committed_leader_epoch = e->leader_epoch;
	fp->metadata = req_strdup(r, e->metadata ? e->metadata : "");
	return fp;
}

/* Groups the entries into topics: consecutive entries of one topic share a
 * topic result (the coordinator lists them in request order, or sorted). */
static void fetch_fill(struct req *r, Runnel__OffsetFetchResponse *body,
		       const struct group_offset_list *list)
{
	body->topics = req_alloc(r, (list->count + 1) * sizeof(*body->topics));
	Runnel__OffsetFetchTopicResult *cur = NULL;
	for (uint32_t i = 0; i < list->count; i++) {
		const struct group_offset_entry *e = &list->entries[i];
		if (!cur || strcmp(cur->name, e->topic) != 0) {
			cur = req_alloc(r, sizeof(*cur));
			runnel__offset_fetch_topic_result__init(cur);
			cur->name = req_strdup(r, e->topic);
			cur->partitions = req_alloc(r, (list->count - i + 1) * sizeof(*cur->partitions));
			body->topics[body->n_topics++] = cur;
		}
		cur->partitions[cur->n_partitions++] = fetch_partition(r, e);
	}
}

void handle_offset_fetch(struct req *r)
{
	const Runnel__OffsetFetchRequest *fr = r->msg->offset_fetch;
	uint32_t count = 0;
	struct group_topic_partition *tps = fetch_partitions(r, fr, &count);
	if (!tps) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many topics or partitions in one OffsetFetch");
		return;
	}
	Runnel__Response *resp = req_alloc(r, sizeof(*resp));
	runnel__response__init(resp);
	Runnel__OffsetFetchResponse *body = req_alloc(r, sizeof(*body));
	runnel__offset_fetch_response__init(body);
	resp->body_case = RUNNEL__RESPONSE__BODY_OFFSET_FETCH;
	resp->offset_fetch = body;
	struct coord_part *cp = NULL;
	struct group_offset_list list = {0};
	int rc = coord_lookup(r->node->coord, fr->group_id, &cp);
	if (rc == RN_OK)
		rc = group_fetch_offsets(coord_part_gc(cp), fr->group_id, tps, count, &list);
	if (rc == RN_OK)
		fetch_fill(r, body, &list);
	group_offset_list_free(&list);
	body->error_code = rn_err_to_wire(rc);
	body->error_message = rc == RN_OK ? "" : (char *)rn_strerror(rc);
	req_respond(r, resp);
}
