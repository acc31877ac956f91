/* assignor.c: range, roundrobin and sticky partition assignment for consumer groups. */
#include "clients/assignor.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/rn_assert.h"

/* What every assignor needs: the members in member-id order, and every
 * partition of every topic numbered 0..total, topic by topic, with the
 * member that gets it (-1: nobody yet). */
struct plan {
	const struct assignor_member *members;
	size_t member_count;
	const struct assignor_topic *topics;
	size_t topic_count;
	size_t *order; /* member indexes sorted by member id */
	size_t *base;  /* first partition number of each topic; base[topic_count] = total */
	size_t total;
	int32_t *owner; /* member index per partition, -1 for none */
};

struct id_ref {
	const char *id;
	size_t idx;
};

static int id_ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct id_ref *)a)->id, ((const struct id_ref *)b)->id);
}

static int sort_members(struct plan *pl)
{
	struct id_ref *refs = malloc((pl->member_count ? pl->member_count : 1) * sizeof(*refs));
	if (!refs)
		return RN_E_NOMEM;
	for (size_t i = 0; i < pl->member_count; i++)
		refs[i] = (struct id_ref){pl->members[i].member_id, i};
	qsort(refs, pl->member_count, sizeof(*refs), id_ref_cmp);
	int rc = 0;
	for (size_t i = 0; i < pl->member_count; i++) {
		/* Equal ids would make the order, and so the answer, depend on
		 * the order of the input. */
		if (i > 0 && strcmp(refs[i - 1].id, refs[i].id) == 0)
			rc = RN_E_INVAL;
		pl->order[i] = refs[i].idx;
	}
	free(refs);
	return rc;
}

static int check_input(const struct assignor_member *members, size_t member_count,
		       const struct assignor_topic *topics, size_t topic_count)
{
	if (member_count > ASSIGNOR_MAX_MEMBERS || (member_count > 0 && !members) ||
	    (topic_count > 0 && !topics))
		return RN_E_INVAL;
	size_t total = 0;
	for (size_t t = 0; t < topic_count; t++) {
		if (topics[t].partition_count < 0)
			return RN_E_INVAL;
		total += (size_t)topics[t].partition_count;
		if (total > ASSIGNOR_MAX_PARTITIONS)
			return RN_E_INVAL;
	}
	for (size_t m = 0; m < member_count; m++) {
		if (!members[m].member_id || (members[m].topic_count > 0 && !members[m].topics) ||
		    (members[m].owned_count > 0 && !members[m].owned))
			return RN_E_INVAL;
		for (size_t k = 0; k < members[m].topic_count; k++)
			if (members[m].topics[k] < 0 || (size_t)members[m].topics[k] >= topic_count)
				return RN_E_INVAL;
	}
	return 0;
}

static void plan_free(struct plan *pl)
{
	free(pl->order);
	free(pl->base);
	free(pl->owner);
}

static int plan_init(struct plan *pl, const struct assignor_member *members, size_t member_count,
		     const struct assignor_topic *topics, size_t topic_count)
{
	memset(pl, 0, sizeof(*pl));
	int rc = check_input(members, member_count, topics, topic_count);
	if (rc != 0)
		return rc;
	pl->members = members;
	pl->member_count = member_count;
	pl->topics = topics;
	pl->topic_count = topic_count;
	pl->order = malloc((member_count ? member_count : 1) * sizeof(*pl->order));
	pl->base = malloc((topic_count + 1) * sizeof(*pl->base));
	if (!pl->order || !pl->base)
		goto fail_nomem;
	for (size_t t = 0; t < topic_count; t++) {
		pl->base[t] = pl->total;
		pl->total += (size_t)topics[t].partition_count;
	}
	pl->base[topic_count] = pl->total;
	pl->owner = malloc((pl->total ? pl->total : 1) * sizeof(*pl->owner));
	if (!pl->owner)
		goto fail_nomem;
	for (size_t i = 0; i < pl->total; i++)
		pl->owner[i] = -1;
	rc = sort_members(pl);
	if (rc != 0)
		plan_free(pl);
	return rc;
fail_nomem:
	plan_free(pl);
	return RN_E_NOMEM;
}

static int subscribed(const struct assignor_member *m, int32_t topic)
{
	for (size_t k = 0; k < m->topic_count; k++)
		if (m->topics[k] == topic)
			return 1;
	return 0;
}

/* The topic of partition number i. */
static int32_t topic_of(const struct plan *pl, size_t i)
{
	size_t lo = 0, hi = pl->topic_count;
	/* base is non-decreasing; find the last topic whose base <= i that
	 * has partitions. */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (pl->base[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	while (lo + 1 < pl->topic_count && pl->base[lo + 1] <= i)
		lo++;
	RN_ASSERT(i >= pl->base[lo] && i < pl->base[lo + 1]);
	return (int32_t)lo;
}

/* Turns the owner of every partition into each member's sorted list. */
static int plan_output(const struct plan *pl, struct assignor_assignment *out)
{
	size_t *counts = calloc(pl->member_count ? pl->member_count : 1, sizeof(*counts));
	if (!counts)
		return RN_E_NOMEM;
	for (size_t i = 0; i < pl->total; i++)
		if (pl->owner[i] >= 0)
			counts[pl->owner[i]]++;
	for (size_t m = 0; m < pl->member_count; m++) {
		out[m].count = 0;
		out[m].parts = malloc((counts[m] ? counts[m] : 1) * sizeof(*out[m].parts));
		if (!out[m].parts) {
			assignor_free(out, m);
			free(counts);
			return RN_E_NOMEM;
		}
	}
	for (size_t i = 0; i < pl->total; i++) {
		if (pl->owner[i] < 0)
			continue;
		struct assignor_assignment *a = &out[pl->owner[i]];
		int32_t t = topic_of(pl, i);
		a->parts[a->count++] = (struct assignor_tp){t, (int32_t)(i - pl->base[t])};
	}
	free(counts);
	return 0;
}

static void range_plan(struct plan *pl, size_t *subs)
{
	for (size_t t = 0; t < pl->topic_count; t++) {
		size_t n = 0;
		for (size_t k = 0; k < pl->member_count; k++)
			if (subscribed(&pl->members[pl->order[k]], (int32_t)t))
				subs[n++] = pl->order[k];
		if (n == 0)
			continue;
		size_t count = (size_t)pl->topics[t].partition_count;
		size_t per = count / n, extra = count % n;
		for (size_t k = 0; k < n; k++) {
			size_t start = k * per + (k < extra ? k : extra);
			size_t len = per + (k < extra ? 1 : 0);
			for (size_t p = start; p < start + len; p++)
				pl->owner[pl->base[t] + p] = (int32_t)subs[k];
		}
	}
}

static void roundrobin_plan(struct plan *pl)
{
	size_t next = 0;
	for (size_t i = 0; i < pl->total && pl->member_count > 0; i++) {
		int32_t t = topic_of(pl, i);
		for (size_t tries = 0; tries < pl->member_count; tries++) {
			size_t k = (next + tries) % pl->member_count;
			if (subscribed(&pl->members[pl->order[k]], t)) {
				pl->owner[i] = (int32_t)pl->order[k];
				next = k + 1;
				break;
			}
		}
	}
}

/* Gives every member its valid owned partitions; a partition claimed by
 * several members goes to the newest generation, or to nobody on a tie
 * (two members cannot both be right about it). */
static int sticky_keep_owned(struct plan *pl)
{
	int32_t *claim_gen = malloc((pl->total ? pl->total : 1) * sizeof(*claim_gen));
	if (!claim_gen)
		return RN_E_NOMEM;
	for (size_t i = 0; i < pl->total; i++)
		claim_gen[i] = INT32_MIN;
	for (size_t m = 0; m < pl->member_count; m++) {
		const struct assignor_member *mb = &pl->members[m];
		for (size_t k = 0; k < mb->owned_count; k++) {
			struct assignor_tp tp = mb->owned[k];
			if (tp.topic < 0 || (size_t)tp.topic >= pl->topic_count || tp.partition < 0 ||
			    tp.partition >= pl->topics[tp.topic].partition_count || !subscribed(mb, tp.topic))
				continue;
			size_t i = pl->base[tp.topic] + (size_t)tp.partition;
			if (mb->generation > claim_gen[i] || claim_gen[i] == INT32_MIN) {
				claim_gen[i] = mb->generation;
				pl->owner[i] = (int32_t)m;
			} else if (mb->generation == claim_gen[i] && pl->owner[i] != (int32_t)m) {
				pl->owner[i] = -1;
			}
		}
	}
	free(claim_gen);
	return 0;
}

/* The eligible member (subscribed to topic t) with the fewest partitions,
 * first in id order on a tie; -1 when none is subscribed. */
static int32_t least_loaded(const struct plan *pl, const size_t *counts, int32_t t)
{
	int32_t best = -1;
	for (size_t k = 0; k < pl->member_count; k++) {
		size_t m = pl->order[k];
		if (!subscribed(&pl->members[m], t))
			continue;
		if (best < 0 || counts[m] < counts[best])
			best = (int32_t)m;
	}
	return best;
}

/* Moves partitions from a member to one holding at least two fewer that
 * may take them, until no such pair exists.  Every move lowers the sum of
 * squared counts, so the loop ends. */
static void sticky_balance(struct plan *pl, size_t *counts)
{
	for (int moved = 1; moved;) {
		moved = 0;
		size_t min = SIZE_MAX;
		for (size_t m = 0; m < pl->member_count; m++)
			if (counts[m] < min)
				min = counts[m];
		/* Later partitions move first, so the lowest-numbered ones
		 * tend to stay where they are. */
		for (size_t i = pl->total; i-- > 0;) {
			int32_t a = pl->owner[i];
			if (a < 0 || counts[a] < min + 2)
				continue;
			int32_t b = least_loaded(pl, counts, topic_of(pl, i));
			if (b < 0 || counts[b] + 2 > counts[a])
				continue;
			pl->owner[i] = b;
			counts[a]--;
			counts[b]++;
			moved = 1;
		}
	}
}

static int sticky_plan(struct plan *pl)
{
	int rc = sticky_keep_owned(pl);
	if (rc != 0)
		return rc;
	size_t *counts = calloc(pl->member_count ? pl->member_count : 1, sizeof(*counts));
	if (!counts)
		return RN_E_NOMEM;
	for (size_t i = 0; i < pl->total; i++)
		if (pl->owner[i] >= 0)
			counts[pl->owner[i]]++;
	for (size_t i = 0; i < pl->total; i++) {
		if (pl->owner[i] >= 0)
			continue;
		int32_t m = least_loaded(pl, counts, topic_of(pl, i));
		if (m >= 0) {
			pl->owner[i] = m;
			counts[m]++;
		}
	}
	sticky_balance(pl, counts);
	free(counts);
	return 0;
}

enum kind { KIND_RANGE, KIND_ROUNDROBIN, KIND_STICKY };

static int run(enum kind kind, const struct assignor_member *members, size_t member_count,
	       const struct assignor_topic *topics, size_t topic_count,
	       struct assignor_assignment *out)
{
	struct plan pl;
	int rc = plan_init(&pl, members, member_count, topics, topic_count);
	if (rc != 0)
		return rc;
	size_t *scratch = NULL;
	switch (kind) {
	case KIND_RANGE:
		scratch = malloc((member_count ? member_count : 1) * sizeof(*scratch));
		if (!scratch) {
			rc = RN_E_NOMEM;
			break;
		}
		range_plan(&pl, scratch);
		break;
	case KIND_ROUNDROBIN:
		roundrobin_plan(&pl);
		break;
	case KIND_STICKY:
		rc = sticky_plan(&pl);
		break;
	}
	if (rc == 0)
		rc = plan_output(&pl, out);
	free(scratch);
	plan_free(&pl);
	return rc;
}

int assignor_range(const struct assignor_member *members, size_t member_count,
		   const struct assignor_topic *topics, size_t topic_count,
		   struct assignor_assignment *out)
{
	return run(KIND_RANGE, members, member_count, topics, topic_count, out);
}

int assignor_roundrobin(const struct assignor_member *members, size_t member_count,
			const struct assignor_topic *topics, size_t topic_count,
			struct assignor_assignment *out)
{
	return run(KIND_ROUNDROBIN, members, member_count, topics, topic_count, out);
}

int assignor_sticky(const struct assignor_member *members, size_t member_count,
		    const struct assignor_topic *topics, size_t topic_count,
		    struct assignor_assignment *out)
{
	return run(KIND_STICKY, members, member_count, topics, topic_count, out);
}

assignor_fn assignor_find(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, ASSIGNOR_RANGE) == 0)
		return assignor_range;
	if (strcmp(name, ASSIGNOR_ROUNDROBIN) == 0)
		return assignor_roundrobin;
	if (strcmp(name, ASSIGNOR_STICKY) == 0)
		return assignor_sticky;
	return NULL;
}

void assignor_free(struct assignor_assignment *out, size_t n)
{
	for (size_t i = 0; out && i < n; i++) {
		free(out[i].parts);
		out[i].parts = NULL;
		out[i].count = 0;
	}
}
