/* admin_group_describe.c: describing a consumer group: members, committed offsets, lag. */
#include <stdlib.h>
#include <string.h>

#include "clients/client.h"
#include "clients/runnel.h"
#include "common/errors.h"

void runnel_group_info_free(struct runnel_group_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->member_count; i++) {
		struct runnel_group_member_info *m = &info->members[i];
		free(m->member_id);
		free(m->client_id);
		free(m->host);
		for (size_t k = 0; k < m->assigned_count; k++)
			free((char *)m->assigned[k].topic);
		free(m->assigned);
	}
	for (size_t i = 0; i < info->partition_count; i++)
		free(info->partitions[i].topic);
	free(info->members);
	free(info->partitions);
	free(info->group);
	free(info->state);
	free(info->protocol_type);
	free(info->protocol);
	free(info);
}

static int describe_check(const Runnel__Response *resp)
{
	const Runnel__DescribeGroupsResponse *dr = resp->describe_groups;
	return dr->n_groups > 0 ? rn_err_from_wire(dr->groups[0]->error_code) : RN_E_GROUP_ID_NOT_FOUND;
}

static int fetch_check(const Runnel__Response *resp)
{
	return rn_err_from_wire(resp->offset_fetch->error_code);
}

/* Decodes a member's ConsumerAssignment into m->assigned (empty when the
 * bytes are absent or do not decode). */
static int member_assignment(struct runnel_group_member_info *m, const ProtobufCBinaryData *bytes)
{
	if (bytes->len == 0)
		return 0;
	Runnel__ConsumerAssignment *ca = runnel__consumer_assignment__unpack(NULL, bytes->len, bytes->data);
	if (!ca)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < ca->n_partitions; i++)
		n += ca->partitions[i]->n_partitions;
	int rc = 0;
	m->assigned = calloc(n ? n : 1, sizeof(*m->assigned));
	if (!m->assigned)
		rc = RN_E_NOMEM;
	for (size_t i = 0; rc == 0 && i < ca->n_partitions; i++) {
		const Runnel__TopicPartitions *tp = ca->partitions[i];
		for (size_t k = 0; rc == 0 && k < tp->n_partitions; k++) {
			char *topic = strdup(tp->topic);
			if (!topic) {
				rc = RN_E_NOMEM;
				break;
			}
			m->assigned[m->assigned_count++] =
				(struct runnel_topic_partition){topic, tp->partitions[k], -1};
		}
	}
	runnel__consumer_assignment__free_unpacked(ca, NULL);
	return rc;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int info_from_described(struct runnel_group_info *info, const Runnel__DescribedGroup *dg)
{
	info->group = dup_or_empty(dg->group_id);
	info->state = dup_or_empty(dg->state);
	info->protocol_type = dup_or_empty(dg->protocol_type);
	info->protocol = dup_or_empty(dg->protocol_name);
	info->generation = dg->generation_id;
	info->members = calloc(dg->n_members ? dg->n_members : 1, sizeof(*info->members));
	if (!info->group || !info->state || !info->protocol_type || !info->protocol || !info->members)
		return RN_E_NOMEM;
	for (size_t i = 0; i < dg->n_members; i++) {
		const Runnel__DescribedGroupMember *dm = dg->members[i];
		struct runnel_group_member_info *m = &info->members[info->member_count++];
		m->member_id = dup_or_empty(dm->member_id);
		m->client_id = dup_or_empty(dm->client_id);
		m->host = dup_or_empty(dm->client_host);
		if (!m->member_id || !m->client_id || !m->host ||
		    member_assignment(m, &dm->member_assignment) != 0)
			return RN_E_NOMEM;
	}
	return 0;
}

/* The entry for topic/partition, added when missing. */
static struct runnel_group_partition_info *part_entry(struct runnel_group_info *info, const char *topic,
						      int32_t partition, size_t *cap)
{
	for (size_t i = 0; i < info->partition_count; i++)
		if (info->partitions[i].partition == partition && strcmp(info->partitions[i].topic, topic) == 0)
			return &info->partitions[i];
	if (info->partition_count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct runnel_group_partition_info *np = realloc(info->partitions, ncap * sizeof(*np));
		if (!np)
			return NULL;
		info->partitions = np;
		*cap = ncap;
	}
	struct runnel_group_partition_info *e = &info->partitions[info->partition_count];
	memset(e, 0, sizeof(*e));
	if (!(e->topic = strdup(topic)))
		return NULL;
	e->partition = partition;
	e->committed_offset = -1;
	e->log_end_offset = -1;
	e->lag = -1;
	info->partition_count++;
	return e;
}

/* Lists every partition that has a commit or an owner. */
static int collect_partitions(struct runnel_group_info *info, const Runnel__OffsetFetchResponse *fr)
{
	size_t cap = 0;
	for (size_t t = 0; t < fr->n_topics; t++) {
		const Runnel__OffsetFetchTopicResult *tr = fr->topics[t];
		for (size_t k = 0; k < tr->n_partitions; k++) {
			const Runnel__OffsetFetchPartition *fp = tr->partitions[k];
			if (fp->error_code != 0 || fp->committed_offset < 0)
				continue;
			struct runnel_group_partition_info *e = part_entry(info, tr->name, fp->partition, &cap);
			if (!e)
				return RN_E_NOMEM;
			e->committed_offset = fp->committed_offset;
		}
	}
	for (size_t i = 0; i < info->member_count; i++) {
		const struct runnel_group_member_info *m = &info->members[i];
		for (size_t k = 0; k < m->assigned_count; k++) {
			struct runnel_group_partition_info *e =
				part_entry(info, m->assigned[k].topic, m->assigned[k].partition, &cap);
			if (!e)
				return RN_E_NOMEM;
			e->member = m;
		}
	}
	return 0;
}

/* Fills the high watermarks, one ListOffsets pass per topic; a topic
 * that cannot be asked leaves them unknown. */
static void fill_log_ends(runnel_admin *a, struct runnel_group_info *info)
{
	for (size_t i = 0; i < info->partition_count; i++) {
		struct runnel_group_partition_info *e = &info->partitions[i];
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(info->partitions[j].topic, e->topic) == 0;
		if (seen)
			continue;
		int64_t *ends = NULL;
		int32_t n = 0;
		if (runnel_admin_list_offsets(a, e->topic, RUNNEL_OFFSET_LATEST, &ends, &n) != 0)
			continue;
		for (size_t j = i; j < info->partition_count; j++) {
			struct runnel_group_partition_info *f = &info->partitions[j];
			if (strcmp(f->topic, e->topic) == 0 && f->partition < n)
				f->log_end_offset = ends[f->partition];
		}
		free(ends);
	}
	for (size_t i = 0; i < info->partition_count; i++) {
		struct runnel_group_partition_info *e = &info->partitions[i];
		if (e->committed_offset >= 0 && e->log_end_offset >= 0)
			e->lag = e->log_end_offset > e->committed_offset ? e->log_end_offset - e->committed_offset : 0;
	}
}

static int partition_cmp(const void *x, const void *y)
{
	const struct runnel_group_partition_info *a = x, *b = y;
	int r = strcmp(a->topic, b->topic);
	return r ? r : (a->partition > b->partition) - (a->partition < b->partition);
}

int runnel_admin_describe_group(runnel_admin *a, const char *group, struct runnel_group_info **out)
{
	struct client *c = &a->client;
	Runnel__Response *dresp = NULL, *fresp = NULL;
	if (!group || !*group)
		return client_fail(c, RN_E_INVAL, "no group id");
	struct runnel_group_info *info = calloc(1, sizeof(*info));
	if (!info)
		return client_fail(c, RN_E_NOMEM, "out of memory");
	char *ids[1] = {(char *)group};
	Runnel__DescribeGroupsRequest dr = RUNNEL__DESCRIBE_GROUPS_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	dr.n_group_ids = 1;
	dr.group_ids = ids;
	req.body_case = RUNNEL__REQUEST__BODY_DESCRIBE_GROUPS;
	req.describe_groups = &dr;
	int rc = client_group_call(c, group, &req, RUNNEL__API_KEY__API_DESCRIBE_GROUPS, describe_check,
				   &dresp, &info->coordinator);
	if (rc != 0)
		goto fail;
	Runnel__OffsetFetchRequest fr = RUNNEL__OFFSET_FETCH_REQUEST__INIT;
	Runnel__Request freq = RUNNEL__REQUEST__INIT;
	fr.group_id = (char *)group;
	freq.body_case = RUNNEL__REQUEST__BODY_OFFSET_FETCH;
	freq.offset_fetch = &fr;
	rc = client_group_call(c, group, &freq, RUNNEL__API_KEY__API_OFFSET_FETCH, fetch_check, &fresp, NULL);
	if (rc != 0)
		goto fail;
	rc = info_from_described(info, dresp->describe_groups->groups[0]);
	if (rc == 0)
		rc = collect_partitions(info, fresp->offset_fetch);
	if (rc != 0) {
		client_fail(c, rc, "out of memory");
		goto fail;
	}
	fill_log_ends(a, info);
	if (info->partition_count > 0)
		qsort(info->partitions, info->partition_count, sizeof(*info->partitions), partition_cmp);
	*out = info;
	info = NULL;
fail:
	if (dresp)
		runnel__response__free_unpacked(dresp, NULL);
	if (fresp)
		runnel__response__free_unpacked(fresp, NULL);
	runnel_group_info_free(info);
	return rc;
}
