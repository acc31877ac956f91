/* lifecycle.c: broker registration, heartbeats, fencing and leader election, as the active controller decides them. */
#include "controller/lifecycle.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "controller/controller.h"

#define MAX_PORT 65535

/* A fence or unfence this controller proposed and has not seen applied. */
enum fence_pending { PENDING_NONE, PENDING_FENCE, PENDING_UNFENCE };

/* What the active controller knows of one broker beyond the image. */
struct session {
	int32_t node_id;
	int64_t last_heartbeat_ms;
	/* A registration proposed but not applied yet. */
	bool reg_pending;
	int64_t reg_epoch;
	int64_t reg_since_ms;
	uint8_t reg_incarnation[META_INCARNATION_ID_LEN];
	enum fence_pending fence;
	int64_t fence_since_ms;
};

struct controller_lifecycle {
	int64_t session_timeout_ms;
	int64_t last_epoch; /* the highest broker epoch given out */
	struct session sessions[RN_MAX_NODES];
	uint32_t session_count; /* sorted by node id */
	/* Partition changes were proposed when the image stood at
	 * held_applied; until it moves on (or the retry time passes) they are
	 * in flight and not proposed again. */
	bool held;
	uint64_t held_applied;
	int64_t held_ms;
	/* The next producer id this controller would hand out, counting the
	 * PRODUCER_IDS records it proposed and has not seen applied; 0 right
	 * after a reset, when the image alone decides. */
	int64_t next_producer_id;
};

/* The records being built for one call. */
struct recbuf {
	struct meta_record *recs;
	uint32_t n, cap;
};

static struct meta_record *recbuf_add(struct recbuf *b)
{
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 8;
		struct meta_record *n = realloc(b->recs, (size_t)cap * sizeof(*n));
		if (!n)
			return NULL;
		b->recs = n;
		b->cap = cap;
	}
	struct meta_record *r = &b->recs[b->n++];
	memset(r, 0, sizeof(*r));
	return r;
}

/* Hands the records to the caller, or frees them on error. */
static int recbuf_finish(struct recbuf *b, int rc, struct meta_record **records, uint32_t *count)
{
	if (rc != 0 || b->n == 0) {
		controller_records_free(b->recs, b->n);
		return rc;
	}
	*records = b->recs;
	*count = b->n;
	return 0;
}

/* ---- sessions -------------------------------------------------------------- */

static struct session *session_find(struct controller_lifecycle *lc, int32_t node_id)
{
	for (uint32_t i = 0; i < lc->session_count; i++)
		if (lc->sessions[i].node_id == node_id)
			return &lc->sessions[i];
	return NULL;
}

/* The session of node_id, created with a fresh start at now_ms if missing;
 * NULL when RN_MAX_NODES sessions exist already. */
static struct session *session_get(struct controller_lifecycle *lc, int32_t node_id,
				   int64_t now_ms)
{
	struct session *s = session_find(lc, node_id);
	if (s)
		return s;
	if (lc->session_count >= RN_MAX_NODES)
		return NULL;
	uint32_t i = lc->session_count;
	while (i > 0 && lc->sessions[i - 1].node_id > node_id)
		i--;
	memmove(&lc->sessions[i + 1], &lc->sessions[i],
		(lc->session_count - i) * sizeof(lc->sessions[0]));
	lc->session_count++;
	s = &lc->sessions[i];
	memset(s, 0, sizeof(*s));
	s->node_id = node_id;
	s->last_heartbeat_ms = now_ms;
	return s;
}

/* Forgets proposals that the image now shows, or that waited too long. */
static void session_settle(struct session *s, const struct meta_broker *b, int64_t now_ms)
{
	bool reg_expired = now_ms - s->reg_since_ms >= CONTROLLER_PROPOSAL_RETRY_MS;
	if (s->reg_pending && ((b && b->epoch >= s->reg_epoch) || reg_expired))
		s->reg_pending = false;
	bool expired = now_ms - s->fence_since_ms >= CONTROLLER_PROPOSAL_RETRY_MS;
	if ((s->fence == PENDING_FENCE && ((b && b->fenced) || expired)) ||
	    (s->fence == PENDING_UNFENCE && ((b && !b->fenced) || expired)))
		s->fence = PENDING_NONE;
}

/*
 * A broker is alive when it is registered and, counting what this
 * controller has proposed, unfenced.  A broker that registered again with a
 * new epoch not applied yet has restarted: its old incarnation is gone.
 */
static bool broker_alive(const struct controller_lifecycle *lc, const struct meta_broker *b)
{
	for (uint32_t i = 0; i < lc->session_count; i++) {
		const struct session *s = &lc->sessions[i];
		if (s->node_id != b->node_id)
			continue;
		if ((s->reg_pending && s->reg_epoch > b->epoch) || s->fence == PENDING_FENCE)
			return false;
		if (s->fence == PENDING_UNFENCE)
			return true;
	}
	return !b->fenced;
}

/* ---- lifetime -------------------------------------------------------------- */

int controller_lifecycle_new(int64_t session_timeout_ms, struct controller_lifecycle **out)
{
	*out = NULL;
	if (session_timeout_ms <= 0)
		return RN_E_INVAL;
	struct controller_lifecycle *lc = calloc(1, sizeof(*lc));
	if (!lc)
		return RN_E_NOMEM;
	lc->session_timeout_ms = session_timeout_ms;
	*out = lc;
	return 0;
}

void controller_lifecycle_free(struct controller_lifecycle *lc)
{
	free(lc);
}

int controller_lifecycle_reset(struct controller_lifecycle *lc, const struct meta_image *img,
			       int64_t now_ms)
{
	lc->session_count = 0;
	lc->held = false;
	lc->last_epoch = 0;
	lc->next_producer_id = 0;
	for (uint32_t i = 0; i < meta_image_broker_count(img); i++) {
		const struct meta_broker *b = meta_image_broker_at(img, i);
		RN_ASSERT(session_get(lc, b->node_id, now_ms) != NULL);
		if (b->epoch > lc->last_epoch)
			lc->last_epoch = b->epoch;
	}
	return 0;
}

/* ---- partition decisions ----------------------------------------------------- */

/* The node ids of alive brokers, sorted, for quick membership tests. */
struct alive_set {
	const struct meta_image *img; /* the image it was built from (cluster defaults) */
	uint32_t n;
	int32_t ids[RN_MAX_NODES];
};

static void alive_build(const struct controller_lifecycle *lc, const struct meta_image *img,
			struct alive_set *a)
{
	a->img = img;
	a->n = 0;
	/* The image lists brokers in node id order, so ids stay sorted. */
	for (uint32_t i = 0; i < meta_image_broker_count(img) && a->n < RN_MAX_NODES; i++) {
		const struct meta_broker *b = meta_image_broker_at(img, i);
		if (broker_alive(lc, b))
			a->ids[a->n++] = b->node_id;
	}
}

static bool alive_has(const struct alive_set *a, int32_t id)
{
	uint32_t lo = 0, hi = a->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (a->ids[mid] == id)
			return true;
		if (a->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool unclean_allowed(const struct meta_image *img, const struct meta_topic *t)
{
	const char *value = NULL;
	return controller_config_lookup(img, t, "unclean.leader.election.enable", &value, NULL) == 0 &&
	       strcmp(value, "true") == 0;
}

/* The ISR and leader a partition should have given who is alive. */
struct partition_target {
	uint32_t isr_count;
	int32_t isr[RN_MAX_REPLICATION_FACTOR];
	int32_t leader;
};

static bool member(const int32_t *a, uint32_t n, int32_t v)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

/*
 * Dead brokers leave the ISR, but it never drops below one member: when no
 * member is alive it stays as it is, since every member held every
 * committed record and whichever returns first may lead without loss.  The
 * leader stays if alive and in the ISR; otherwise the first alive ISR member
 * leads; with none, the partition is offline, unless unclean election is
 * allowed: then the first alive replica leads and is the whole ISR.
 */
static void partition_target(const struct alive_set *a, const struct meta_topic *t,
			     const struct meta_partition *p, struct partition_target *out)
{
	out->isr_count = 0;
	for (uint32_t i = 0; i < p->isr_count; i++)
		if (alive_has(a, p->isr[i]))
			out->isr[out->isr_count++] = p->isr[i];
	if (out->isr_count == 0) {
		out->isr_count = p->isr_count;
		memcpy(out->isr, p->isr, p->isr_count * sizeof(p->isr[0]));
		out->leader = META_NO_LEADER;
		if (!unclean_allowed(a->img, t))
			return;
		for (uint32_t i = 0; i < p->replica_count; i++) {
			if (alive_has(a, p->replicas[i])) {
				out->leader = out->isr[0] = p->replicas[i];
				out->isr_count = 1;
				return;
			}
		}
		return;
	}
	bool keep = p->leader != META_NO_LEADER && member(out->isr, out->isr_count, p->leader) &&
		    alive_has(a, p->leader);
	out->leader = keep ? p->leader : out->isr[0];
}

/* Adds a PARTITION_CHANGE when the partition differs from its target. */
static int partition_reconcile(struct recbuf *b, const struct alive_set *a,
			       const struct meta_topic *t, const struct meta_partition *p)
{
	struct partition_target tg;
	partition_target(a, t, p, &tg);
	bool isr_changed = tg.isr_count != p->isr_count ||
			   memcmp(tg.isr, p->isr, tg.isr_count * sizeof(tg.isr[0])) != 0;
	bool leader_changed = tg.leader != p->leader;
	if (!isr_changed && !leader_changed)
		return 0;
	struct meta_record *r = recbuf_add(b);
	if (!r)
		return RN_E_NOMEM;
	r->type = META_REC_PARTITION_CHANGE;
	typeof(r->u.partition_change) *pc = &r->u.partition_change;
	memcpy(pc->topic_id, t->id, META_TOPIC_ID_LEN);
	pc->partition = p->partition;
	pc->has_isr = isr_changed;
	pc->isr_count = isr_changed ? tg.isr_count : 0;
	memcpy(pc->isr, tg.isr, pc->isr_count * sizeof(tg.isr[0]));
	pc->has_leader = leader_changed;
	pc->leader = leader_changed ? tg.leader : 0;
	pc->leader_epoch = p->leader_epoch + (leader_changed ? 1 : 0);
	pc->partition_epoch = p->partition_epoch + 1;
	return 0;
}

/* Proposes every partition change that follows from who is alive, unless
 * the previous batch is still in flight. */
static int partitions_reconcile(struct controller_lifecycle *lc, const struct meta_image *img,
				int64_t now_ms, struct recbuf *b)
{
	uint64_t applied = meta_image_applied_index(img);
	if (lc->held && lc->held_applied == applied &&
	    now_ms - lc->held_ms < CONTROLLER_PROPOSAL_RETRY_MS)
		return 0;
	lc->held = false;
	struct alive_set *a = malloc(sizeof(*a));
	if (!a)
		return RN_E_NOMEM;
	alive_build(lc, img, a);
	uint32_t before = b->n;
	int rc = 0;
	for (uint32_t i = 0; i < meta_image_topic_count(img) && rc == 0; i++) {
		const struct meta_topic *t = meta_image_topic_at(img, i);
		for (uint32_t p = 0; p < t->partition_count && rc == 0; p++)
			rc = partition_reconcile(b, a, t, &t->partitions[p]);
	}
	free(a);
	if (rc == 0 && b->n > before) {
		lc->held = true;
		lc->held_applied = applied;
		lc->held_ms = now_ms;
	}
	return rc;
}

static int add_fence(struct recbuf *b, struct session *s, bool fenced, int64_t now_ms)
{
	struct meta_record *r = recbuf_add(b);
	if (!r)
		return RN_E_NOMEM;
	r->type = META_REC_FENCE_BROKER;
	r->u.fence.node_id = s->node_id;
	r->u.fence.fenced = fenced;
	s->fence = fenced ? PENDING_FENCE : PENDING_UNFENCE;
	s->fence_since_ms = now_ms;
	return 0;
}

/* ---- tick ------------------------------------------------------------------ */

int controller_lifecycle_tick(struct controller_lifecycle *lc, const struct meta_image *img,
			      int64_t now_ms, struct meta_record **records, uint32_t *count)
{
	*records = NULL;
	*count = 0;
	struct recbuf b = { 0 };
	int rc = 0;
	bool fenced_any = false;
	for (uint32_t i = 0; i < meta_image_broker_count(img) && rc == 0; i++) {
		const struct meta_broker *br = meta_image_broker_at(img, i);
		struct session *s = session_get(lc, br->node_id, now_ms);
		RN_ASSERT(s != NULL); /* the image holds at most RN_MAX_NODES brokers */
		session_settle(s, br, now_ms);
		bool fenced = (br->fenced && s->fence != PENDING_UNFENCE) ||
			      s->fence == PENDING_FENCE;
		if (fenced || now_ms - s->last_heartbeat_ms <= lc->session_timeout_ms)
			continue;
		rc = add_fence(&b, s, true, now_ms);
		fenced_any = true;
	}
	if (rc == 0) {
		if (fenced_any)
			lc->held = false;
		rc = partitions_reconcile(lc, img, now_ms, &b);
	}
	return recbuf_finish(&b, rc, records, count);
}

/* ---- registration ------------------------------------------------------------- */

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

static bool text_fits(const char *s, size_t max_len, bool required)
{
	if (!s)
		return !required;
	size_t n = strnlen(s, max_len + 1);
	return n <= max_len && (n > 0 || !required);
}

static int check_registration(const struct meta_image *img,
			      const struct controller_registration *reg, char *why,
			      size_t why_len)
{
	const char *cluster = meta_image_cluster_id(img);
	if (!reg->cluster_id) {
		say(why, why_len, "the registration names no cluster id");
		return RN_E_INVAL;
	}
	if (cluster[0] && strcmp(cluster, reg->cluster_id) != 0) {
		say(why, why_len, "broker belongs to cluster \"%.64s\", this is cluster \"%s\"",
		    reg->cluster_id, cluster);
		return RN_E_INCONSISTENT_CLUSTER_ID;
	}
	if (reg->node_id < 0 || !text_fits(reg->host, RN_MAX_ADDRESS_LEN, true) ||
	    reg->port < 1 || reg->port > MAX_PORT ||
	    !text_fits(reg->rack, META_MAX_RACK_LEN, false) ||
	    reg->endpoint_count > META_MAX_ENDPOINTS || (reg->endpoint_count && !reg->endpoints)) {
		say(why, why_len,
		    "invalid registration: node id, host, port, rack or listeners out of range");
		return RN_E_INVAL;
	}
	for (uint32_t i = 0; i < reg->endpoint_count; i++) {
		const struct meta_endpoint *e = &reg->endpoints[i];
		if (!memchr(e->name, 0, sizeof(e->name)) || !memchr(e->host, 0, sizeof(e->host)) ||
		    !e->host[0] || e->port < 1 || e->port > MAX_PORT) {
			say(why, why_len, "invalid listener %" PRIu32 " in the registration", i);
			return RN_E_INVAL;
		}
	}
	if (!meta_image_broker(img, reg->node_id) && meta_image_broker_count(img) >= RN_MAX_NODES) {
		say(why, why_len, "the cluster already has %u brokers", RN_MAX_NODES);
		return RN_E_INVAL;
	}
	return 0;
}

static void fill_registration(struct meta_record *r, const struct controller_registration *reg,
			      int64_t epoch)
{
	r->type = META_REC_REGISTER_BROKER;
	typeof(r->u.broker) *rb = &r->u.broker;
	rb->node_id = reg->node_id;
	rb->broker_epoch = epoch;
	strcpy(rb->host, reg->host);
	rb->port = reg->port;
	memcpy(rb->incarnation_id, reg->incarnation_id, META_INCARNATION_ID_LEN);
	strcpy(rb->rack, reg->rack ? reg->rack : "");
	rb->endpoint_count = reg->endpoint_count;
	if (reg->endpoint_count)
		memcpy(rb->endpoints, reg->endpoints,
		       reg->endpoint_count * sizeof(rb->endpoints[0]));
	/* A new incarnation may have lost what it had not synced: it leads
	 * nothing until it has caught up and is unfenced. */
	rb->fenced = true;
}

/* The epoch a retry of the same incarnation gets again, or 0 for a new one. */
static int64_t known_epoch(const struct session *s, const struct meta_broker *b,
			   const uint8_t *incarnation)
{
	if (s->reg_pending && memcmp(s->reg_incarnation, incarnation, META_INCARNATION_ID_LEN) == 0)
		return s->reg_epoch;
	if (b && !s->reg_pending &&
	    memcmp(b->incarnation_id, incarnation, META_INCARNATION_ID_LEN) == 0)
		return b->epoch;
	return 0;
}

int controller_broker_register(struct controller_lifecycle *lc, const struct meta_image *img,
			       const struct controller_registration *reg, int64_t now_ms,
			       int64_t *broker_epoch, struct meta_record **records,
			       uint32_t *count, char *why, size_t why_len)
{
	*records = NULL;
	*count = 0;
	*broker_epoch = 0;
	int rc = check_registration(img, reg, why, why_len);
	if (rc != 0)
		return rc;
	const struct meta_broker *b = meta_image_broker(img, reg->node_id);
	struct session *s = session_get(lc, reg->node_id, now_ms);
	if (!s) {
		say(why, why_len, "the cluster already has %u brokers", RN_MAX_NODES);
		return RN_E_INVAL;
	}
	session_settle(s, b, now_ms);
	s->last_heartbeat_ms = now_ms;
	int64_t epoch = known_epoch(s, b, reg->incarnation_id);
	if (epoch != 0) {
		*broker_epoch = epoch;
		return 0;
	}
	for (uint32_t i = 0; i < meta_image_broker_count(img); i++)
		if (meta_image_broker_at(img, i)->epoch > lc->last_epoch)
			lc->last_epoch = meta_image_broker_at(img, i)->epoch;
	epoch = ++lc->last_epoch;
	struct meta_record *r = calloc(1, sizeof(*r));
	if (!r)
		return RN_E_NOMEM;
	fill_registration(r, reg, epoch);
	s->reg_pending = true;
	s->reg_epoch = epoch;
	s->reg_since_ms = now_ms;
	memcpy(s->reg_incarnation, reg->incarnation_id, META_INCARNATION_ID_LEN);
	s->fence = PENDING_NONE;
	lc->held = false;
	*broker_epoch = epoch;
	*records = r;
	*count = 1;
	return 0;
}

/* ---- heartbeats ------------------------------------------------------------- */

/* A broker that wants to stop is fenced first, so its leaderships move. */
static int heartbeat_shut_down(struct controller_lifecycle *lc, const struct meta_image *img,
			       struct session *s, const struct meta_broker *b, int64_t now_ms,
			       struct controller_heartbeat_resp *resp, struct recbuf *rb)
{
	resp->is_fenced = true;
	resp->should_shut_down = b->fenced;
	if (b->fenced || s->fence == PENDING_FENCE)
		return 0;
	int rc = add_fence(rb, s, true, now_ms);
	if (rc != 0)
		return rc;
	lc->held = false;
	return partitions_reconcile(lc, img, now_ms, rb);
}

int controller_broker_heartbeat(struct controller_lifecycle *lc, const struct meta_image *img,
				const struct controller_heartbeat *hb, int64_t now_ms,
				struct controller_heartbeat_resp *resp,
				struct meta_record **records, uint32_t *count)
{
	*records = NULL;
	*count = 0;
	memset(resp, 0, sizeof(*resp));
	const struct meta_broker *b = meta_image_broker(img, hb->node_id);
	struct session *s = session_find(lc, hb->node_id);
	if (s)
		session_settle(s, b, now_ms);
	if (s && s->reg_pending && s->reg_epoch == hb->broker_epoch) {
		/* Registered, but the record is not applied yet. */
		s->last_heartbeat_ms = now_ms;
		resp->is_fenced = true;
		return 0;
	}
	if (!b || b->epoch != hb->broker_epoch)
		return RN_E_STALE_BROKER_EPOCH;
	s = session_get(lc, hb->node_id, now_ms);
	RN_ASSERT(s != NULL); /* b is registered, so there is room for its session */
	s->last_heartbeat_ms = now_ms;
	resp->is_caught_up = hb->metadata_offset >= b->registered_index;
	struct recbuf rb = { 0 };
	int rc = 0;
	if (hb->want_shut_down) {
		rc = heartbeat_shut_down(lc, img, s, b, now_ms, resp, &rb);
		return recbuf_finish(&rb, rc, records, count);
	}
	bool unfencing = s->fence == PENDING_UNFENCE;
	if (b->fenced && !unfencing && resp->is_caught_up) {
		rc = add_fence(&rb, s, false, now_ms);
		unfencing = true;
		lc->held = false;
		if (rc == 0)
			rc = partitions_reconcile(lc, img, now_ms, &rb);
	}
	resp->is_fenced = (b->fenced && !unfencing) || s->fence == PENDING_FENCE;
	return recbuf_finish(&rb, rc, records, count);
}

/* ---- eligibility -------------------------------------------------------------- */

bool controller_broker_eligible(const struct controller_lifecycle *lc,
				const struct meta_image *img, int32_t node_id)
{
	const struct meta_broker *b = meta_image_broker(img, node_id);
	if (!b)
		return false;
	return lc ? broker_alive(lc, b) : !b->fenced;
}

/* ---- producer ids ------------------------------------------------------------ */

int controller_plan_producer_id(struct controller_lifecycle *lc, const struct meta_image *img,
				int64_t *producer_id, struct meta_record **records,
				uint32_t *count, char *why, size_t why_len)
{
	*records = NULL;
	*count = 0;
	int64_t id = meta_image_next_producer_id(img);
	if (lc->next_producer_id > id)
		id = lc->next_producer_id;
	RN_ASSERT(id >= 0 && id <= META_MAX_PRODUCER_ID + 1);
	if (id > META_MAX_PRODUCER_ID) {
		say(why, why_len, "producer ids are exhausted: every id up to %" PRId64
				  " has been handed out", (int64_t)META_MAX_PRODUCER_ID);
		return RN_E_FULL;
	}
	struct meta_record *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return RN_E_NOMEM;
	rec->type = META_REC_PRODUCER_IDS;
	rec->u.producer_ids.next_producer_id = id + 1;
	lc->next_producer_id = id + 1;
	*producer_id = id;
	*records = rec;
	*count = 1;
	return 0;
}
