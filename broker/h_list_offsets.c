/* h_list_offsets.c: ListOffsets: earliest, latest, or the first offset at a timestamp. */
#include "broker/conn.h"
#include "broker/handlers.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "common/errors.h"

/* The special timestamps of a ListOffsets query. */
#define LIST_OFFSETS_LATEST (-1)
#define LIST_OFFSETS_EARLIEST (-2)

static void set_error(Runnel__ListOffsetsPartitionResult *res, int err)
{
	res->error_code = rn_err_to_wire(err);
	res->error_message = (char *)rn_strerror(err);
}

static void list_one(struct req *r, const char *topic, const Runnel__ListOffsetsPartition *lp,
		     Runnel__ListOffsetsPartitionResult *res)
{
	res->partition = lp->partition;
	res->timestamp = -1;
	res->offset = -1;
	res->leader_epoch = -1;
	res->log_start_offset = -1;
	res->high_watermark = -1;
	struct partition *p = pmgr_find(r->node->pm, topic, lp->partition);
	if (!p) {
		set_error(res, RN_E_UNKNOWN_TOPIC_OR_PARTITION);
		return;
	}
	if (!p->leading) {
		set_error(res, RN_E_NOT_LEADER_OR_FOLLOWER);
		return;
	}
	if (lp->current_leader_epoch >= 0 && lp->current_leader_epoch != p->leader_epoch) {
		set_error(res, lp->current_leader_epoch < p->leader_epoch ? RN_E_FENCED_LEADER_EPOCH
									   : RN_E_UNKNOWN_LEADER_EPOCH);
		return;
	}
	res->leader_epoch = p->leader_epoch;
	res->log_start_offset = plog_start_offset(p->log);
	res->high_watermark = p->high_watermark;
	if (lp->timestamp == LIST_OFFSETS_LATEST) {
		res->offset = p->high_watermark;
	} else if (lp->timestamp == LIST_OFFSETS_EARLIEST) {
		res->offset = res->log_start_offset;
	} else if (lp->timestamp < 0) {
		set_error(res, RN_E_INVALID_TIMESTAMP);
	} else {
		int64_t offset, found;
		int rc = plog_offset_for_timestamp(p->log, lp->timestamp, &offset, &found);
		/* Kafka answers -1/-1 when every record is older, or when the
		 * matching record is not yet below the high watermark. */
		if (rc == RN_OK && offset < p->high_watermark) {
			res->offset = offset;
			res->timestamp = found;
		} else if (rc != RN_OK && rc != RN_E_NOT_FOUND) {
			set_error(res, rc);
		}
	}
}

void handle_list_offsets(struct req *r)
{
	const Runnel__ListOffsetsRequest *lr = r->msg->list_offsets;
	size_t parts = 0;
	for (size_t t = 0; t < lr->n_topics; t++)
		parts += lr->topics[t]->n_partitions;
	if (lr->n_topics > RN_MAX_TOPICS_PER_REQUEST || parts > RN_MAX_PARTITIONS_PER_REQUEST) {
		req_fail(r, RN_E_INVALID_REQUEST, "too many topics or partitions in one request");
		return;
	}
	Runnel__ListOffsetsResponse *body = req_alloc(r, sizeof(*body));
	runnel__list_offsets_response__init(body);
	body->n_topics = lr->n_topics;
	body->topics = req_alloc(r, (lr->n_topics + 1) * sizeof(*body->topics));
	for (size_t t = 0; t < lr->n_topics; t++) {
		const Runnel__ListOffsetsTopic *lt = lr->topics[t];
		Runnel__ListOffsetsTopicResult *tr = req_alloc(r, sizeof(*tr));
		runnel__list_offsets_topic_result__init(tr);
		tr->name = lt->name;
		tr->n_partitions = lt->n_partitions;
		tr->partitions = req_alloc(r, (lt->n_partitions + 1) * sizeof(*tr->partitions));
		for (size_t i = 0; i < lt->n_partitions; i++) {
			Runnel__ListOffsetsPartitionResult *res = req_alloc(r, sizeof(*res));
			runnel__list_offsets_partition_result__init(res);
			list_one(r, lt->name, lt->partitions[i], res);
			tr->partitions[i] = res;
		}
		body->topics[t] = tr;
	}
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.body_case = RUNNEL__RESPONSE__BODY_LIST_OFFSETS;
	resp.list_offsets = body;
	req_respond(r, &resp);
}
