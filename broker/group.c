/* group.c: the group coordinator's table of groups, its outputs, loading and queries. */
#include "broker/group_internal.h"

#include "common/errors.h"
#include "common/rn_assert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ allocation */

void *group_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	RN_ASSERT(p != NULL);
	return p;
}

void *group_xrealloc(void *p, size_t n, size_t size)
{
	RN_ASSERT(size == 0 || n <= SIZE_MAX / size);
	size_t bytes = n * size;
	void *q = realloc(p, bytes ? bytes : 1);
	RN_ASSERT(q != NULL);
	return q;
}

uint8_t *group_xmemdup(const void *p, size_t len)
{
	if (len == 0)
		return NULL;
	uint8_t *q = group_xcalloc(1, len);
	memcpy(q, p, len);
	return q;
}

char *group_xstrdup(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	char *q = group_xcalloc(1, len + 1);
	if (len)
		memcpy(q, s, len);
	return q;
}

bool group_str_copy(char *dst, const char *s, size_t max)
{
	if (!s)
		s = "";
	size_t len = strnlen(s, max + 1);
	if (len > max)
		return false;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

int group_id_check(const char *group_id)
{
	if (!group_id || !group_id[0] || strnlen(group_id, GROUP_MAX_ID_LEN + 1) > GROUP_MAX_ID_LEN)
		return RN_E_INVALID_GROUP_ID;
	return 0;
}

const char *group_state_name(enum group_state state)
{
	switch (state) {
	case GROUP_STATE_EMPTY:
		return "Empty";
	case GROUP_STATE_PREPARING_REBALANCE:
		return "PreparingRebalance";
	case GROUP_STATE_COMPLETING_REBALANCE:
		return "CompletingRebalance";
	case GROUP_STATE_STABLE:
		return "Stable";
	case GROUP_STATE_DEAD:
		return "Dead";
	}
	return "Dead";
}

void group_config_default(struct group_config *cfg)
{
	cfg->min_session_timeout_ms = GROUP_DEFAULT_MIN_SESSION_TIMEOUT_MS;
	cfg->max_session_timeout_ms = GROUP_DEFAULT_MAX_SESSION_TIMEOUT_MS;
	cfg->initial_rebalance_delay_ms = GROUP_DEFAULT_INITIAL_REBALANCE_DELAY_MS;
	cfg->max_group_size = GROUP_MAX_MEMBERS;
}

/* ------------------------------------------------------------ outputs */

void group_out_init(struct group_out *out)
{
	memset(out, 0, sizeof(*out));
}

void group_out_clear(struct group_out *out)
{
	for (uint32_t i = 0; i < out->join_count; i++) {
		for (uint32_t j = 0; j < out->joins[i].member_count; j++)
			free(out->joins[i].members[j].metadata);
		free(out->joins[i].members);
	}
	for (uint32_t i = 0; i < out->sync_count; i++)
		free(out->syncs[i].assignment);
	for (uint32_t i = 0; i < out->record_count; i++)
		group_record_clear(&out->records[i]);
	free(out->joins);
	free(out->syncs);
	free(out->commits);
	free(out->records);
	group_out_init(out);
}

void group_out_check_empty(const struct group_out *out)
{
	RN_ASSERT(out != NULL);
	RN_ASSERT(out->join_count == 0 && out->sync_count == 0 && out->commit_count == 0);
	RN_ASSERT(out->record_count == 0 && out->append_id == 0);
}

/* Grows an array of elem-sized items so that one more fits. */
static void *grow(void *arr, uint32_t count, uint32_t *cap, size_t elem)
{
	if (count < *cap)
		return arr;
	uint32_t ncap = *cap ? *cap * 2 : 4;
	arr = group_xrealloc(arr, ncap, elem);
	memset((char *)arr + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
	*cap = ncap;
	return arr;
}

struct group_join_reply *group_out_join(struct group_out *out)
{
	out->joins = grow(out->joins, out->join_count, &out->join_cap, sizeof(*out->joins));
	return &out->joins[out->join_count++];
}

struct group_sync_reply *group_out_sync(struct group_out *out)
{
	out->syncs = grow(out->syncs, out->sync_count, &out->sync_cap, sizeof(*out->syncs));
	return &out->syncs[out->sync_count++];
}

struct group_commit_reply *group_out_commit(struct group_out *out)
{
	out->commits = grow(out->commits, out->commit_count, &out->commit_cap, sizeof(*out->commits));
	return &out->commits[out->commit_count++];
}

struct pending_append *group_pending_for(struct group_coordinator *gc, struct group_out *out)
{
	if (out->append_id != 0) {
		for (struct pending_append *pa = gc->pending; pa; pa = pa->next)
			if (pa->id == out->append_id)
				return pa;
		RN_UNREACHABLE();
	}
	struct pending_append *pa = group_xcalloc(1, sizeof(*pa));
	pa->id = ++gc->next_append_id;
	struct pending_append **tail = &gc->pending;
	while (*tail)
		tail = &(*tail)->next;
	*tail = pa;
	out->append_id = pa->id;
	return pa;
}

struct pending_effect *group_pending_add(struct pending_append *pa)
{
	pa->effects = grow(pa->effects, pa->effect_count, &pa->effect_cap, sizeof(*pa->effects));
	return &pa->effects[pa->effect_count++];
}

struct group_record *group_out_record(struct group_coordinator *gc, struct group_out *out)
{
	(void)group_pending_for(gc, out);
	out->records = grow(out->records, out->record_count, &out->record_cap, sizeof(*out->records));
	return &out->records[out->record_count++];
}

void group_pending_free(struct pending_append *pa)
{
	for (uint32_t i = 0; i < pa->effect_count; i++) {
		struct pending_effect *e = &pa->effects[i];
		for (uint32_t j = 0; j < e->offset_count; j++)
			free(e->offsets[j].metadata);
		free(e->offsets);
	}
	free(pa->effects);
	free(pa);
}

/* ------------------------------------------------------------ the group table */

/* Index of the first group whose id is >= group_id. */
static uint32_t group_lower_bound(const struct group_coordinator *gc, const char *group_id)
{
	uint32_t lo = 0, hi = gc->group_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (strcmp(gc->groups[mid]->id, group_id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct group *group_find(struct group_coordinator *gc, const char *group_id)
{
	uint32_t i = group_lower_bound(gc, group_id);
	if (i < gc->group_count && strcmp(gc->groups[i]->id, group_id) == 0)
		return gc->groups[i];
	return NULL;
}

struct group *group_find_incarnation(struct group_coordinator *gc, const char *group_id,
				     uint64_t incarnation)
{
	struct group *g = group_find(gc, group_id);
	return g && g->incarnation == incarnation ? g : NULL;
}

int group_get_or_create(struct group_coordinator *gc, const char *group_id, int64_t now_ms,
			struct group **out)
{
	uint32_t i = group_lower_bound(gc, group_id);
	if (i < gc->group_count && strcmp(gc->groups[i]->id, group_id) == 0) {
		*out = gc->groups[i];
		return 0;
	}
	if (gc->group_count >= GROUP_MAX_GROUPS)
		return RN_E_FULL;
	struct group *g = group_xcalloc(1, sizeof(*g));
	RN_ASSERT(group_str_copy(g->id, group_id, GROUP_MAX_ID_LEN));
	g->incarnation = ++gc->next_incarnation;
	g->state = GROUP_STATE_EMPTY;
	g->state_timestamp_ms = now_ms;
	gc->groups = grow(gc->groups, gc->group_count, &gc->group_cap, sizeof(*gc->groups));
	memmove(&gc->groups[i + 1], &gc->groups[i], (gc->group_count - i) * sizeof(*gc->groups));
	gc->groups[i] = g;
	gc->group_count++;
	*out = g;
	return 0;
}

static void group_free(struct group *g)
{
	for (uint32_t i = 0; i < g->member_count; i++)
		group_member_free(g->members[i]);
	free(g->members);
	for (uint32_t i = 0; i < g->offset_count; i++)
		free(g->offsets[i].metadata);
	free(g->offsets);
	free(g);
}

void group_drop(struct group_coordinator *gc, struct group *g)
{
	uint32_t i = group_lower_bound(gc, g->id);
	RN_ASSERT(i < gc->group_count && gc->groups[i] == g);
	memmove(&gc->groups[i], &gc->groups[i + 1], (gc->group_count - i - 1) * sizeof(*gc->groups));
	gc->group_count--;
	group_free(g);
}

void group_set_state(struct group *g, enum group_state state, int64_t now_ms)
{
	g->state = state;
	g->state_timestamp_ms = now_ms;
}

/* ------------------------------------------------------------ members */

struct group_member *group_member_find(struct group *g, const char *member_id)
{
	if (!member_id || !member_id[0])
		return NULL;
	for (uint32_t i = 0; i < g->member_count; i++)
		if (strcmp(g->members[i]->id, member_id) == 0)
			return g->members[i];
	return NULL;
}

void group_member_free(struct group_member *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->protocol_count; i++)
		free(m->protocols[i].metadata);
	free(m->protocols);
	free(m->assignment);
	free(m);
}

void group_member_detach(struct group *g, struct group_member *m)
{
	for (uint32_t i = 0; i < g->member_count; i++) {
		if (g->members[i] != m)
			continue;
		memmove(&g->members[i], &g->members[i + 1],
			(g->member_count - i - 1) * sizeof(*g->members));
		g->member_count--;
		if (strcmp(g->leader, m->id) == 0)
			g->leader[0] = '\0';
		return;
	}
	RN_UNREACHABLE();
}

const uint8_t *group_member_metadata(const struct group_member *m, const char *name, size_t *len)
{
	for (uint32_t i = 0; i < m->protocol_count; i++) {
		if (strcmp(m->protocols[i].name, name) == 0) {
			*len = m->protocols[i].metadata_len;
			return m->protocols[i].metadata;
		}
	}
	*len = 0;
	return NULL;
}

void group_emit_group_record(struct group_coordinator *gc, struct group *g, int64_t now_ms,
			     struct group_out *out)
{
	struct group_record *r = group_out_record(gc, out);
	r->type = GROUP_RECORD_GROUP;
	memcpy(r->group_id, g->id, sizeof(r->group_id));
	memcpy(r->protocol_type, g->protocol_type, sizeof(r->protocol_type));
	memcpy(r->protocol_name, g->protocol_name, sizeof(r->protocol_name));
	memcpy(r->leader, g->leader, sizeof(r->leader));
	r->generation_id = g->generation;
	r->state_timestamp_ms = now_ms;
	r->member_count = g->member_count;
	r->members = g->member_count ? group_xcalloc(g->member_count, sizeof(*r->members)) : NULL;
	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct group_member *m = g->members[i];
		struct group_member_record *mr = &r->members[i];
		memcpy(mr->member_id, m->id, sizeof(mr->member_id));
		memcpy(mr->client_id, m->client_id, sizeof(mr->client_id));
		memcpy(mr->client_host, m->client_host, sizeof(mr->client_host));
		mr->session_timeout_ms = m->session_timeout_ms;
		mr->rebalance_timeout_ms = m->rebalance_timeout_ms;
		size_t len;
		const uint8_t *md = group_member_metadata(m, g->protocol_name, &len);
		mr->subscription = group_xmemdup(md, len);
		mr->subscription_len = len;
		mr->assignment = group_xmemdup(m->assignment, m->assignment_len);
		mr->assignment_len = m->assignment_len;
	}
}

/* ------------------------------------------------------------ offsets */

static int offset_cmp(const struct committed_offset *o, const char *topic, int32_t partition)
{
	int c = strcmp(o->topic, topic);
	if (c)
		return c;
	return o->partition < partition ? -1 : o->partition > partition ? 1 : 0;
}

/* Index of the first offset >= (topic, partition). */
static uint32_t offset_lower_bound(const struct group *g, const char *topic, int32_t partition)
{
	uint32_t lo = 0, hi = g->offset_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (offset_cmp(&g->offsets[mid], topic, partition) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct committed_offset *group_offset_find(struct group *g, const char *topic, int32_t partition)
{
	uint32_t i = offset_lower_bound(g, topic, partition);
	if (i < g->offset_count && offset_cmp(&g->offsets[i], topic, partition) == 0)
		return &g->offsets[i];
	return NULL;
}

void group_offset_put(struct group *g, const struct committed_offset *src)
{
	uint32_t i = offset_lower_bound(g, src->topic, src->partition);
	struct committed_offset *o;
	if (i < g->offset_count && offset_cmp(&g->offsets[i], src->topic, src->partition) == 0) {
		o = &g->offsets[i];
		free(o->metadata);
	} else {
		g->offsets = grow(g->offsets, g->offset_count, &g->offset_cap, sizeof(*g->offsets));
		memmove(&g->offsets[i + 1], &g->offsets[i],
			(g->offset_count - i) * sizeof(*g->offsets));
		g->offset_count++;
		o = &g->offsets[i];
	}
	*o = *src;
	o->metadata = group_xstrdup(src->metadata);
}

void group_offset_remove(struct group *g, const char *topic, int32_t partition)
{
	uint32_t i = offset_lower_bound(g, topic, partition);
	if (i >= g->offset_count || offset_cmp(&g->offsets[i], topic, partition) != 0)
		return;
	free(g->offsets[i].metadata);
	memmove(&g->offsets[i], &g->offsets[i + 1], (g->offset_count - i - 1) * sizeof(*g->offsets));
	g->offset_count--;
}

/* ------------------------------------------------------------ lifecycle */

int group_coordinator_create(const struct group_config *cfg, struct group_coordinator **out)
{
	*out = NULL;
	if (!cfg || cfg->min_session_timeout_ms <= 0 ||
	    cfg->max_session_timeout_ms < cfg->min_session_timeout_ms ||
	    cfg->initial_rebalance_delay_ms < 0 || cfg->max_group_size < 1 ||
	    cfg->max_group_size > GROUP_MAX_MEMBERS)
		return RN_E_INVAL;
	struct group_coordinator *gc = group_xcalloc(1, sizeof(*gc));
	gc->cfg = *cfg;
	gc->loading = true;
	*out = gc;
	return 0;
}

static void free_everything(struct group_coordinator *gc)
{
	for (uint32_t i = 0; i < gc->group_count; i++)
		group_free(gc->groups[i]);
	free(gc->groups);
	gc->groups = NULL;
	gc->group_count = gc->group_cap = 0;
	while (gc->pending) {
		struct pending_append *pa = gc->pending;
		gc->pending = pa->next;
		group_pending_free(pa);
	}
}

void group_coordinator_destroy(struct group_coordinator *gc)
{
	if (!gc)
		return;
	free_everything(gc);
	free(gc);
}

bool group_is_loading(const struct group_coordinator *gc)
{
	return gc->loading;
}

void group_unload(struct group_coordinator *gc, struct group_out *out)
{
	group_out_check_empty(out);
	for (uint32_t i = 0; i < gc->group_count; i++) {
		struct group *g = gc->groups[i];
		for (uint32_t j = 0; j < g->member_count; j++) {
			struct group_member *m = g->members[j];
			if (m->join_parked) {
				struct group_join_reply *r = group_out_join(out);
				r->handle = m->join_handle;
				r->error = RN_E_NOT_COORDINATOR;
				memcpy(r->member_id, m->id, sizeof(r->member_id));
			}
			if (m->sync_parked) {
				struct group_sync_reply *r = group_out_sync(out);
				r->handle = m->sync_handle;
				r->error = RN_E_NOT_COORDINATOR;
			}
		}
	}
	for (struct pending_append *pa = gc->pending; pa; pa = pa->next) {
		for (uint32_t i = 0; i < pa->effect_count; i++) {
			if (pa->effects[i].kind != EFFECT_COMMIT)
				continue;
			struct group_commit_reply *r = group_out_commit(out);
			r->handle = pa->effects[i].handle;
			r->error = RN_E_NOT_COORDINATOR;
		}
	}
	free_everything(gc);
	gc->loading = false;
}

/* ------------------------------------------------------------ loading */

/* Drops g when nothing in the log speaks for it any more. */
static void drop_if_unused(struct group_coordinator *gc, struct group *g)
{
	if (!g->has_metadata && g->offset_count == 0 && g->member_count == 0)
		group_drop(gc, g);
}

static void clear_members(struct group *g)
{
	for (uint32_t i = 0; i < g->member_count; i++)
		group_member_free(g->members[i]);
	g->member_count = 0;
	g->leader[0] = '\0';
}

static void load_offset(struct group *g, const struct group_record *rec)
{
	struct committed_offset o = {0};
	memcpy(o.topic, rec->topic, sizeof(o.topic));
	o.partition = rec->partition;
	o.offset = rec->offset;
	o.leader_epoch = rec->leader_epoch;
	o.metadata = rec->metadata;
	o.commit_timestamp_ms = rec->commit_timestamp_ms;
	group_offset_put(g, &o);
}

static void load_group(struct group *g, const struct group_record *rec)
{
	clear_members(g);
	memcpy(g->protocol_type, rec->protocol_type, sizeof(g->protocol_type));
	memcpy(g->protocol_name, rec->protocol_name, sizeof(g->protocol_name));
	memcpy(g->leader, rec->leader, sizeof(g->leader));
	g->generation = rec->generation_id;
	g->state_timestamp_ms = rec->state_timestamp_ms;
	g->has_metadata = true;
	if (rec->member_count) {
		g->members = group_xrealloc(g->members, rec->member_count, sizeof(*g->members));
		g->member_cap = rec->member_count;
	}
	for (uint32_t i = 0; i < rec->member_count; i++) {
		const struct group_member_record *mr = &rec->members[i];
		struct group_member *m = group_xcalloc(1, sizeof(*m));
		memcpy(m->id, mr->member_id, sizeof(m->id));
		memcpy(m->client_id, mr->client_id, sizeof(m->client_id));
		memcpy(m->client_host, mr->client_host, sizeof(m->client_host));
		m->session_timeout_ms = mr->session_timeout_ms;
		m->rebalance_timeout_ms = mr->rebalance_timeout_ms;
		m->protocols = group_xcalloc(1, sizeof(*m->protocols));
		m->protocol_count = 1;
		memcpy(m->protocols[0].name, rec->protocol_name, sizeof(m->protocols[0].name));
		m->protocols[0].metadata = group_xmemdup(mr->subscription, mr->subscription_len);
		m->protocols[0].metadata_len = mr->subscription_len;
		m->assignment = group_xmemdup(mr->assignment, mr->assignment_len);
		m->assignment_len = mr->assignment_len;
		g->members[g->member_count++] = m;
	}
}

/* Checks what the codec cannot know: values the coordinator relies on. */
static int load_record_check(const struct group_record *rec)
{
	if (group_id_check(rec->group_id) != 0)
		return RN_E_INVAL;
	if (rec->type == GROUP_RECORD_OFFSET)
		return rec->topic[0] && rec->partition >= 0 ? 0 : RN_E_INVAL;
	if (rec->type != GROUP_RECORD_GROUP)
		return RN_E_INVAL;
	if (rec->tombstone)
		return 0;
	if (rec->member_count > GROUP_MAX_MEMBERS)
		return RN_E_INVAL;
	for (uint32_t i = 0; i < rec->member_count; i++)
		if (!rec->members[i].member_id[0] || rec->members[i].session_timeout_ms <= 0)
			return RN_E_INVAL;
	return 0;
}

int group_load_record(struct group_coordinator *gc, const struct group_record *rec)
{
	if (!gc->loading)
		return RN_E_INVAL;
	int rc = load_record_check(rec);
	if (rc)
		return rc;
	struct group *g = group_find(gc, rec->group_id);
	if (rec->tombstone) {
		if (!g)
			return 0;
		if (rec->type == GROUP_RECORD_OFFSET) {
			group_offset_remove(g, rec->topic, rec->partition);
		} else {
			clear_members(g);
			g->has_metadata = false;
		}
		drop_if_unused(gc, g);
		return 0;
	}
	if (!g && (rc = group_get_or_create(gc, rec->group_id, rec->state_timestamp_ms, &g)) != 0)
		return rc;
	if (rec->type == GROUP_RECORD_OFFSET)
		load_offset(g, rec);
	else
		load_group(g, rec);
	return 0;
}

void group_load_complete(struct group_coordinator *gc, int64_t now_ms)
{
	for (uint32_t i = 0; i < gc->group_count; i++) {
		struct group *g = gc->groups[i];
		g->state = g->member_count ? GROUP_STATE_STABLE : GROUP_STATE_EMPTY;
		for (uint32_t j = 0; j < g->member_count; j++)
			g->members[j]->session_deadline_ms =
				now_ms + g->members[j]->session_timeout_ms;
		if (g->member_count && !group_member_find(g, g->leader))
			memcpy(g->leader, g->members[0]->id, sizeof(g->leader));
	}
	gc->loading = false;
}

/* ------------------------------------------------------------ queries */

int group_fetch_offsets(struct group_coordinator *gc, const char *group_id,
			const struct group_topic_partition *tps, uint32_t count,
			struct group_offset_list *out)
{
	memset(out, 0, sizeof(*out));
	if (gc->loading)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	int rc = group_id_check(group_id);
	if (rc)
		return rc;
	struct group *g = group_find(gc, group_id);
	uint32_t n = count ? count : g ? g->offset_count : 0;
	out->entries = n ? group_xcalloc(n, sizeof(*out->entries)) : NULL;
	out->count = n;
	for (uint32_t i = 0; i < n; i++) {
		struct group_offset_entry *e = &out->entries[i];
		const struct committed_offset *o;
		if (count) {
			(void)group_str_copy(e->topic, tps[i].topic, RN_MAX_TOPIC_NAME_LEN);
			e->partition = tps[i].partition;
			o = g && tps[i].topic ? group_offset_find(g, tps[i].topic, tps[i].partition)
					      : NULL;
		} else {
			o = &g->offsets[i];
			memcpy(e->topic, o->topic, sizeof(e->topic));
			e->partition = o->partition;
		}
		e->offset = o ? o->offset : -1;
		e->leader_epoch = o ? o->leader_epoch : -1;
		e->metadata = group_xstrdup(o ? o->metadata : "");
	}
	return 0;
}

void group_offset_list_free(struct group_offset_list *list)
{
	for (uint32_t i = 0; i < list->count; i++)
		free(list->entries[i].metadata);
	free(list->entries);
	memset(list, 0, sizeof(*list));
}

int group_describe(struct group_coordinator *gc, const char *group_id,
		   struct group_description *out)
{
	memset(out, 0, sizeof(*out));
	if (gc->loading)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	int rc = group_id_check(group_id);
	if (rc)
		return rc;
	struct group *g = group_find(gc, group_id);
	if (!g)
		return RN_E_GROUP_ID_NOT_FOUND;
	memcpy(out->group_id, g->id, sizeof(out->group_id));
	out->state = g->state;
	memcpy(out->protocol_type, g->protocol_type, sizeof(out->protocol_type));
	memcpy(out->protocol_name, g->protocol_name, sizeof(out->protocol_name));
	memcpy(out->leader, g->leader, sizeof(out->leader));
	out->generation_id = g->generation;
	out->member_count = g->member_count;
	out->members = g->member_count ? group_xcalloc(g->member_count, sizeof(*out->members)) : NULL;
	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct group_member *m = g->members[i];
		struct group_member_description *d = &out->members[i];
		memcpy(d->member_id, m->id, sizeof(d->member_id));
		memcpy(d->client_id, m->client_id, sizeof(d->client_id));
		memcpy(d->client_host, m->client_host, sizeof(d->client_host));
		size_t len;
		const uint8_t *md = group_member_metadata(m, g->protocol_name, &len);
		d->metadata = group_xmemdup(md, len);
		d->metadata_len = len;
		d->assignment = group_xmemdup(m->assignment, m->assignment_len);
		d->assignment_len = m->assignment_len;
	}
	return 0;
}

void group_description_free(struct group_description *desc)
{
	for (uint32_t i = 0; i < desc->member_count; i++) {
		free(desc->members[i].metadata);
		free(desc->members[i].assignment);
	}
	free(desc->members);
	memset(desc, 0, sizeof(*desc));
}

int group_list(struct group_coordinator *gc, struct group_listing **out, uint32_t *count)
{
	*out = NULL;
	*count = 0;
	if (gc->loading)
		return RN_E_COORDINATOR_LOAD_IN_PROGRESS;
	if (gc->group_count == 0)
		return 0;
	struct group_listing *l = group_xcalloc(gc->group_count, sizeof(*l));
	for (uint32_t i = 0; i < gc->group_count; i++) {
		const struct group *g = gc->groups[i];
		memcpy(l[i].group_id, g->id, sizeof(l[i].group_id));
		memcpy(l[i].protocol_type, g->protocol_type, sizeof(l[i].protocol_type));
		l[i].state = g->state;
		l[i].member_count = (int32_t)g->member_count;
	}
	*out = l;
	*count = gc->group_count;
	return 0;
}
