/* replication.c: the controller's partition replication decisions: ISR changes proposed by leaders (AlterPartition) and preferred leader elections. */
#include "controller/replication.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "controller/controller.h"

static void say(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...)
{
	if (!why || why_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

static bool member(const int32_t *a, uint32_t n, int32_t v)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

/* ---- AlterPartition -------------------------------------------------------------- */

/* The checks on who asks: the partition's leader, in the leader epoch and
 * partition epoch the image shows.  A requester whose leader epoch is ahead
 * of the image knows of a change this controller has not applied yet; it
 * is told it does not lead rather than fenced, so it waits for metadata. */
static int check_requester(int32_t broker_id, const struct meta_topic *t,
			   const struct meta_partition *p, int32_t leader_epoch,
			   int32_t partition_epoch, char *why, size_t why_len)
{
	if (p->leader != broker_id) {
		say(why, why_len,
		    "broker %" PRId32 " does not lead %s-%" PRId32 " (leader %" PRId32 ")",
		    broker_id, t->name, p->partition, p->leader);
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	}
	if (leader_epoch > p->leader_epoch) {
		say(why, why_len,
		    "leader epoch %" PRId32 " of %s-%" PRId32 " is ahead of the controller's %"
		    PRId32, leader_epoch, t->name, p->partition, p->leader_epoch);
		return RN_E_NOT_LEADER_OR_FOLLOWER;
	}
	if (leader_epoch < p->leader_epoch) {
		say(why, why_len,
		    "leader epoch %" PRId32 " of %s-%" PRId32 " is older than %" PRId32,
		    leader_epoch, t->name, p->partition, p->leader_epoch);
		return RN_E_FENCED_LEADER_EPOCH;
	}
	if (partition_epoch != p->partition_epoch) {
		say(why, why_len,
		    "partition epoch %" PRId32 " of %s-%" PRId32 " is not the current %" PRId32,
		    partition_epoch, t->name, p->partition, p->partition_epoch);
		return RN_E_INVALID_UPDATE_VERSION;
	}
	return 0;
}

/* The shape of the proposed ISR: 1..replica_count distinct members, the
 * leader among them. */
static int check_isr_shape(const struct meta_partition *p, const int32_t *isr, uint32_t n,
			   char *why, size_t why_len)
{
	if (!isr || n == 0) {
		say(why, why_len, "the proposed ISR is empty");
		return RN_E_INVALID_REQUEST;
	}
	if (n > p->replica_count) {
		say(why, why_len,
		    "the proposed ISR has %" PRIu32 " members for %" PRIu32 " replicas", n,
		    p->replica_count);
		return RN_E_INVALID_REQUEST;
	}
	for (uint32_t i = 1; i < n; i++) {
		if (member(isr, i, isr[i])) {
			say(why, why_len, "broker %" PRId32 " appears twice in the proposed ISR",
			    isr[i]);
			return RN_E_INVALID_REQUEST;
		}
	}
	if (!member(isr, n, p->leader)) {
		say(why, why_len, "the proposed ISR does not hold the leader %" PRId32, p->leader);
		return RN_E_INVALID_REQUEST;
	}
	return 0;
}

/* Every member must be a replica and a broker that may be in an ISR. */
static int check_isr_members(const struct controller_lifecycle *lc, const struct meta_image *img,
			     const struct meta_partition *p, const int32_t *isr, uint32_t n,
			     char *why, size_t why_len)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!member(p->replicas, p->replica_count, isr[i])) {
			say(why, why_len, "broker %" PRId32 " is not a replica of the partition",
			    isr[i]);
			return RN_E_INELIGIBLE_REPLICA;
		}
		if (!controller_broker_eligible(lc, img, isr[i])) {
			say(why, why_len, "broker %" PRId32 " is fenced, shutting down or unknown",
			    isr[i]);
			return RN_E_INELIGIBLE_REPLICA;
		}
	}
	return 0;
}

/* True when isr (n members) holds exactly the members of p's ISR. */
static bool isr_same_set(const struct meta_partition *p, const int32_t *isr, uint32_t n)
{
	if (n != p->isr_count)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!member(p->isr, p->isr_count, isr[i]))
			return false;
	return true;
}

static void fill_isr_change(struct meta_record *r, const struct meta_topic *t,
			    const struct meta_partition *p, const int32_t *isr, uint32_t n)
{
	memset(r, 0, sizeof(*r));
	r->type = META_REC_PARTITION_CHANGE;
	typeof(r->u.partition_change) *pc = &r->u.partition_change;
	memcpy(pc->topic_id, t->id, META_TOPIC_ID_LEN);
	pc->partition = p->partition;
	pc->has_isr = true;
	/* Replica order, so the ISR reads the same whichever order the leader
	 * sent, and the lifecycle's "first alive member" follows the replicas. */
	for (uint32_t i = 0; i < p->replica_count; i++)
		if (member(isr, n, p->replicas[i]))
			pc->isr[pc->isr_count++] = p->replicas[i];
	RN_ASSERT(pc->isr_count == n);
	pc->leader_epoch = p->leader_epoch;
	pc->partition_epoch = p->partition_epoch + 1;
}

int controller_plan_alter_partition(const struct controller_lifecycle *lc,
				    const struct meta_image *img, int32_t broker_id,
				    int64_t broker_epoch,
				    const uint8_t topic_id[META_TOPIC_ID_LEN], int32_t partition,
				    int32_t leader_epoch, int32_t partition_epoch,
				    const int32_t *new_isr, uint32_t n,
				    struct meta_record **records, uint32_t *count, char *why,
				    size_t why_len)
{
	*records = NULL;
	*count = 0;
	const struct meta_broker *b = meta_image_broker(img, broker_id);
	if (!b || b->epoch != broker_epoch) {
		say(why, why_len, "broker %" PRId32 " is not registered with epoch %" PRId64,
		    broker_id, broker_epoch);
		return RN_E_STALE_BROKER_EPOCH;
	}
	const struct meta_topic *t = topic_id ? meta_image_topic_by_id(img, topic_id) : NULL;
	const struct meta_partition *p = t ? meta_topic_partition(t, partition) : NULL;
	if (!p) {
		say(why, why_len, "no such topic or partition %" PRId32, partition);
		return RN_E_UNKNOWN_TOPIC_OR_PARTITION;
	}
	int rc = check_requester(broker_id, t, p, leader_epoch, partition_epoch, why, why_len);
	if (rc == 0)
		rc = check_isr_shape(p, new_isr, n, why, why_len);
	if (rc == 0)
		rc = check_isr_members(lc, img, p, new_isr, n, why, why_len);
	if (rc != 0 || isr_same_set(p, new_isr, n))
		return rc;
	struct meta_record *r = malloc(sizeof(*r));
	if (!r)
		return RN_E_NOMEM;
	fill_isr_change(r, t, p, new_isr, n);
	*records = r;
	*count = 1;
	return 0;
}

/* ---- preferred leader election ------------------------------------------------- */

/* The records and results being built for one call. */
struct election_plan {
	const struct controller_lifecycle *lc;
	const struct meta_image *img;
	uint32_t max_elections;
	struct meta_record *recs;
	uint32_t n, cap;
	bool want_results;
	struct controller_election_result *results;
	uint32_t result_n, result_cap;
};

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	uint32_t cap2 = *cap ? *cap * 2 : 16;
	while (cap2 < need)
		cap2 *= 2;
	void *n = realloc(*arr, (size_t)cap2 * size);
	if (!n)
		return RN_E_NOMEM;
	*arr = n;
	*cap = cap2;
	return 0;
}

static int add_result(struct election_plan *pl, const char *topic, int32_t partition, int error)
{
	if (!pl->want_results)
		return 0;
	int rc = grow((void **)&pl->results, &pl->result_cap, pl->result_n + 1,
		      sizeof(pl->results[0]));
	if (rc != 0)
		return rc;
	struct controller_election_result *res = &pl->results[pl->result_n++];
	memset(res, 0, sizeof(*res));
	snprintf(res->topic, sizeof(res->topic), "%s", topic);
	res->partition = partition;
	res->error = error;
	return 0;
}

/* The outcome for one partition: 0 when its preferred replica should lead. */
static int election_outcome(const struct election_plan *pl, const struct meta_partition *p)
{
	int32_t preferred = p->replicas[0];
	if (p->leader == preferred)
		return RN_E_ELECTION_NOT_NEEDED;
	if (!member(p->isr, p->isr_count, preferred) ||
	    !controller_broker_eligible(pl->lc, pl->img, preferred))
		return RN_E_PREFERRED_LEADER_NOT_AVAILABLE;
	return 0;
}

static int elect_one(struct election_plan *pl, const struct meta_topic *t,
		     const struct meta_partition *p)
{
	int outcome = election_outcome(pl, p);
	if (outcome != 0)
		return add_result(pl, t->name, p->partition, outcome);
	if (pl->n >= pl->max_elections)
		return 0;
	int rc = grow((void **)&pl->recs, &pl->cap, pl->n + 1, sizeof(pl->recs[0]));
	if (rc != 0)
		return rc;
	struct meta_record *r = &pl->recs[pl->n++];
	memset(r, 0, sizeof(*r));
	r->type = META_REC_PARTITION_CHANGE;
	typeof(r->u.partition_change) *pc = &r->u.partition_change;
	memcpy(pc->topic_id, t->id, META_TOPIC_ID_LEN);
	pc->partition = p->partition;
	pc->has_leader = true;
	pc->leader = p->replicas[0];
	pc->leader_epoch = p->leader_epoch + 1;
	pc->partition_epoch = p->partition_epoch + 1;
	return add_result(pl, t->name, p->partition, 0);
}

static int elect_topic(struct election_plan *pl, const struct meta_topic *t,
		       const int32_t *partitions, uint32_t partition_count)
{
	int rc = 0;
	if (partition_count == 0) {
		for (uint32_t i = 0; i < t->partition_count && rc == 0; i++)
			rc = elect_one(pl, t, &t->partitions[i]);
		return rc;
	}
	for (uint32_t i = 0; i < partition_count && rc == 0; i++) {
		const struct meta_partition *p = meta_topic_partition(t, partitions[i]);
		rc = p ? elect_one(pl, t, p)
		       : add_result(pl, t->name, partitions[i], RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	}
	return rc;
}

/* Finds the topic the filter names; 0 with *out NULL means every topic. */
static int election_topic(const struct meta_image *img, const char *topic,
			  const struct meta_topic **out, char *why, size_t why_len)
{
	*out = NULL;
	if (!topic)
		return 0;
	const char *bad = NULL;
	if (!meta_topic_name_valid(topic, &bad)) {
		say(why, why_len, "invalid topic name: %s", bad);
		return RN_E_INVALID_TOPIC;
	}
	*out = meta_image_topic_by_name(img, topic);
	if (!*out) {
		say(why, why_len, "topic %s does not exist", topic);
		return RN_E_UNKNOWN_TOPIC_OR_PARTITION;
	}
	return 0;
}

int controller_plan_preferred_election(const struct controller_lifecycle *lc,
				       const struct meta_image *img, const char *topic,
				       const int32_t *partitions, uint32_t partition_count,
				       uint32_t max_elections, struct meta_record **records,
				       uint32_t *count, struct controller_election_result **results,
				       uint32_t *result_count, char *why, size_t why_len)
{
	*records = NULL;
	*count = 0;
	if (results) {
		*results = NULL;
		*result_count = 0;
	}
	if (partition_count > 0 && !partitions) {
		say(why, why_len, "no partitions given");
		return RN_E_INVAL;
	}
	const struct meta_topic *t = NULL;
	int rc = election_topic(img, topic, &t, why, why_len);
	if (rc != 0)
		return rc;
	struct election_plan pl = { .lc = lc, .img = img, .max_elections = max_elections,
				    .want_results = results != NULL };
	if (t)
		rc = elect_topic(&pl, t, partitions, partition_count);
	for (uint32_t i = 0; !t && i < meta_image_topic_count(img) && rc == 0; i++)
		rc = elect_topic(&pl, meta_image_topic_at(img, i), NULL, 0);
	if (rc != 0) {
		free(pl.recs);
		free(pl.results);
		return rc;
	}
	if (pl.n > 0) {
		*records = pl.recs;
		*count = pl.n;
	} else {
		free(pl.recs);
	}
	if (results) {
		*results = pl.results;
		*result_count = pl.result_n;
	}
	return 0;
}

bool controller_preferred_check_due(bool enabled, int64_t interval_ms, int64_t last_check_ms,
				    int64_t now_ms)
{
	return enabled && interval_ms > 0 && now_ms - last_check_ms >= interval_ms;
}
