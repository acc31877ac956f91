/* member.c: broker registration and heartbeats. */
#include "broker/member.h"

#include "broker/ctrl.h"
#include "broker/node.h"
#include "broker/peer.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "controller/lifecycle.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum member_state {
	MEMBER_IDLE,        /* before member_start */
	MEMBER_REGISTERING, /* no valid broker epoch yet */
	MEMBER_REGISTERED,
};

struct member {
	struct node *node;
	enum member_state state;
	uint8_t incarnation[META_INCARNATION_ID_LEN];
	int64_t broker_epoch;
	bool in_flight;           /* a call (remote or local) awaits its answer */
	bool caught_up_sent;      /* the early heartbeat after catching up went */
	bool waiting_cluster;     /* idle until the metadata log names the cluster */
	bool shutting_down;       /* a controlled shutdown is under way */
	int32_t hint;             /* controller named by the last answer, -1 none */
	uint32_t voter_cursor;    /* next voter to try when no leader is known */
	int32_t backoff_ms;
	struct event *timer;
	struct ctrl_waiter *local_wait; /* local registration waiting to apply */
	struct peer *call_peer;         /* the peer of the call in flight */
	uint32_t attempts;              /* failed attempts since the last success */
};

static void step(struct member *m);

bool member_registered(const struct member *m)
{
	return m->state == MEMBER_REGISTERED;
}

static void arm(struct member *m, int32_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(m->timer, &tv);
}

/* A failed attempt: try again after the backoff, at the hinted controller. */
static void retry_later(struct member *m, int32_t hint)
{
	m->in_flight = false;
	m->call_peer = NULL;
	m->hint = hint;
	m->attempts++;
	arm(m, m->backoff_ms);
	m->backoff_ms = m->backoff_ms * 2 > MEMBER_BACKOFF_MAX_MS ? MEMBER_BACKOFF_MAX_MS
								 : m->backoff_ms * 2;
}

static void succeeded(struct member *m)
{
	m->in_flight = false;
	m->call_peer = NULL;
	m->attempts = 0;
	m->backoff_ms = MEMBER_BACKOFF_MIN_MS;
}

/* The controller to ask: a hint, the leader this node knows, or the voters
 * in turn. */
static int32_t target(struct member *m)
{
	const struct node_config *cfg = &m->node->cfg;
	int32_t t = m->hint >= 0 ? m->hint : ctrl_leader_id(m->node->ctrl);
	m->hint = -1;
	if (t >= 0)
		return t;
	return cfg->voters[m->voter_cursor++ % cfg->voter_count].node_id;
}

static void became_registered(struct member *m, int64_t epoch)
{
	succeeded(m);
	m->state = MEMBER_REGISTERED;
	m->broker_epoch = epoch;
	m->node->broker_epoch = epoch;
	m->caught_up_sent = false;
	LOG_INFO("member", "registered with the active controller: broker epoch %" PRId64, epoch);
	/* The first heartbeat goes now: it is what unfences the broker. */
	arm(m, 0);
}

/* ----------------------------------------------------------- registration */

static void local_registered_cb(void *arg, int err)
{
	struct member *m = arg;
	m->local_wait = NULL;
	if (err != RN_OK) {
		retry_later(m, -1);
		return;
	}
	became_registered(m, m->broker_epoch);
}

/* The listeners to announce, the inter-node one first: its address is the
 * broker's host:port in the image, which followers and controllers use.
 * out holds CONFIG_MAX_LISTENERS; returns the count. */
static uint32_t announced_listeners(const struct node_config *cfg,
				    const struct config_listener **out)
{
	uint32_t n = 0;
	out[n++] = &cfg->listeners[cfg->inter_node];
	for (uint32_t i = 0; i < cfg->listener_count; i++)
		if (i != cfg->inter_node)
			out[n++] = &cfg->listeners[i];
	return n;
}

static void fill_registration(struct member *m, struct controller_registration *reg,
			      struct meta_endpoint *eps)
{
	const struct node_config *cfg = &m->node->cfg;
	const struct config_listener *ls[CONFIG_MAX_LISTENERS];
	uint32_t count = announced_listeners(cfg, ls);
	for (uint32_t i = 0; i < count; i++) {
		memset(&eps[i], 0, sizeof(eps[i]));
		snprintf(eps[i].name, sizeof(eps[i].name), "%s", ls[i]->name);
		snprintf(eps[i].host, sizeof(eps[i].host), "%s", ls[i]->advertise.host);
		eps[i].port = ls[i]->advertise.port;
	}
	memset(reg, 0, sizeof(*reg));
	reg->node_id = cfg->node_id;
	memcpy(reg->incarnation_id, m->incarnation, META_INCARNATION_ID_LEN);
	reg->cluster_id = m->node->cluster_id;
	reg->host = cfg->advertise.host;
	reg->port = cfg->advertise.port;
	reg->rack = cfg->rack;
	reg->endpoints = eps;
	reg->endpoint_count = count;
}

static void register_local(struct member *m)
{
	struct controller_registration reg;
	struct meta_endpoint eps[CONFIG_MAX_LISTENERS];
	fill_registration(m, &reg, eps);
	char why[CTRL_WHY_LEN] = "";
	uint64_t index = 0;
	int64_t epoch = 0;
	int rc = ctrl_broker_register(m->node->ctrl, &reg, &epoch, &index, why);
	if (rc != RN_OK) {
		if (rc != RN_E_NOT_CONTROLLER || m->attempts % 10 == 9)
			LOG_WARN("member", "registration refused: %s", why[0] ? why : rn_strerror(rc));
		retry_later(m, -1);
		return;
	}
	m->broker_epoch = epoch;
	if (index == 0) {
		became_registered(m, epoch);
		return;
	}
	m->in_flight = true;
	m->local_wait = ctrl_wait_applied(m->node->ctrl, index, local_registered_cb, m);
	if (!m->local_wait)
		retry_later(m, -1);
}

static void registration_cb(void *arg, int err, const Runnel__Response *resp)
{
	struct member *m = arg;
	const Runnel__BrokerRegistrationResponse *br =
		(err == RN_OK && resp->body_case == RUNNEL__RESPONSE__BODY_BROKER_REGISTRATION)
			? resp->broker_registration
			: NULL;
	if (!br) {
		if (err == RN_OK)
			LOG_WARN("member", "registration refused: %s",
				 resp->error_message ? resp->error_message : "no answer body");
		retry_later(m, -1);
		return;
	}
	if (br->error_code != 0) {
		int rc = rn_err_from_wire(br->error_code);
		if (rc != RN_E_NOT_CONTROLLER || m->attempts % 10 == 9)
			LOG_WARN("member", "registration refused: %s",
				 br->error_message && br->error_message[0] ? br->error_message
									   : rn_strerror(rc));
		retry_later(m, rc == RN_E_NOT_CONTROLLER ? br->controller_id : -1);
		return;
	}
	became_registered(m, br->broker_epoch);
}

static void register_remote(struct member *m, struct peer *p)
{
	const struct node_config *cfg = &m->node->cfg;
	const struct config_listener *ls[CONFIG_MAX_LISTENERS];
	uint32_t count = announced_listeners(cfg, ls);
	Runnel__BrokerEndpoint ep[CONFIG_MAX_LISTENERS];
	Runnel__BrokerEndpoint *eps[CONFIG_MAX_LISTENERS];
	for (uint32_t i = 0; i < count; i++) {
		runnel__broker_endpoint__init(&ep[i]);
		ep[i].name = (char *)ls[i]->name;
		ep[i].host = (char *)ls[i]->advertise.host;
		ep[i].port = ls[i]->advertise.port;
		eps[i] = &ep[i];
	}
	Runnel__BrokerRegistrationRequest body = RUNNEL__BROKER_REGISTRATION_REQUEST__INIT;
	body.broker_id = cfg->node_id;
	body.cluster_id = m->node->cluster_id;
	body.incarnation_id.data = m->incarnation;
	body.incarnation_id.len = META_INCARNATION_ID_LEN;
	body.n_listeners = count;
	body.listeners = eps;
	body.rack = (char *)cfg->rack;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	hdr.api_key = RUNNEL__API_KEY__API_BROKER_REGISTRATION;
	hdr.client_id = "runneld";
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.header = &hdr;
	req.body_case = RUNNEL__REQUEST__BODY_BROKER_REGISTRATION;
	req.broker_registration = &body;
	if (peer_call(p, &req, MEMBER_CALL_TIMEOUT_MS, registration_cb, m) != RN_OK) {
		retry_later(m, -1);
		return;
	}
	m->in_flight = true;
	m->call_peer = p;
}

/* -------------------------------------------------------------- heartbeat */

/* True when this node's image shows its broker fenced (with this start's
 * epoch) and leading no partition: the controlled shutdown is done. */
static bool drained(const struct member *m)
{
	const struct meta_image *img = ctrl_image(m->node->ctrl);
	int32_t self = m->node->cfg.node_id;
	const struct meta_broker *b = meta_image_broker(img, self);
	if (!b || b->epoch != m->broker_epoch || !b->fenced)
		return false;
	for (uint32_t i = 0; i < meta_image_topic_count(img); i++) {
		const struct meta_topic *t = meta_image_topic_at(img, i);
		for (uint32_t j = 0; j < t->partition_count; j++)
			if (t->partitions[j].leader == self)
				return false;
	}
	return true;
}

static void shutdown_answer(struct member *m, int rc, int32_t hint)
{
	if (rc == RN_E_STALE_BROKER_EPOCH) {
		/* The controller no longer knows this incarnation: nothing of it
		 * is left to move. */
		node_stop(m->node, 0);
		return;
	}
	if (rc != RN_OK) {
		retry_later(m, rc == RN_E_NOT_CONTROLLER ? hint : -1);
		return;
	}
	succeeded(m);
	if (drained(m)) {
		node_on_drained(m->node);
		return;
	}
	arm(m, MEMBER_SHUTDOWN_POLL_MS);
}

static void heartbeat_answer(struct member *m, int rc, int32_t hint)
{
	if (m->shutting_down) {
		shutdown_answer(m, rc, hint);
		return;
	}
	if (rc == RN_E_STALE_BROKER_EPOCH) {
		LOG_WARN("member", "the controller does not know broker epoch %" PRId64
				   "; registering again", m->broker_epoch);
		m->state = MEMBER_REGISTERING;
		m->in_flight = false;
		m->call_peer = NULL;
		arm(m, 0);
		return;
	}
	if (rc != RN_OK) {
		retry_later(m, rc == RN_E_NOT_CONTROLLER ? hint : -1);
		return;
	}
	succeeded(m);
	arm(m, (int32_t)m->node->cfg.broker_heartbeat_interval_ms);
}

static void heartbeat_cb(void *arg, int err, const Runnel__Response *resp)
{
	struct member *m = arg;
	if (err != RN_OK) {
		heartbeat_answer(m, err, -1);
		return;
	}
	if (resp->body_case != RUNNEL__RESPONSE__BODY_BROKER_HEARTBEAT) {
		heartbeat_answer(m, rn_err_from_wire(resp->error_code ? resp->error_code : 1000), -1);
		return;
	}
	const Runnel__BrokerHeartbeatResponse *hb = resp->broker_heartbeat;
	heartbeat_answer(m, hb->error_code ? rn_err_from_wire(hb->error_code) : RN_OK,
			 hb->controller_id);
}

static void heartbeat(struct member *m, int32_t to)
{
	struct node *n = m->node;
	uint64_t applied = meta_image_applied_index(ctrl_image(n->ctrl));
	if (to == n->cfg.node_id) {
		struct controller_heartbeat hb = {n->cfg.node_id, m->broker_epoch, applied,
						  m->shutting_down};
		struct controller_heartbeat_resp resp;
		heartbeat_answer(m, ctrl_broker_heartbeat(n->ctrl, &hb, &resp), -1);
		return;
	}
	struct peer *p = ctrl_peer(n->ctrl, to);
	if (!p) {
		retry_later(m, -1);
		return;
	}
	Runnel__BrokerHeartbeatRequest body = RUNNEL__BROKER_HEARTBEAT_REQUEST__INIT;
	body.broker_id = n->cfg.node_id;
	body.broker_epoch = m->broker_epoch;
	body.current_metadata_offset = (int64_t)applied;
	body.want_shut_down = m->shutting_down;
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	hdr.api_key = RUNNEL__API_KEY__API_BROKER_HEARTBEAT;
	hdr.client_id = "runneld";
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.header = &hdr;
	req.body_case = RUNNEL__REQUEST__BODY_BROKER_HEARTBEAT;
	req.broker_heartbeat = &body;
	if (peer_call(p, &req, MEMBER_CALL_TIMEOUT_MS, heartbeat_cb, m) != RN_OK) {
		retry_later(m, -1);
		return;
	}
	m->in_flight = true;
	m->call_peer = p;
}

/* ------------------------------------------------------------------ loop */

static void step(struct member *m)
{
	struct node *n = m->node;
	if (m->in_flight || m->state == MEMBER_IDLE || n->stopping)
		return;
	/* The registration names the cluster: wait until the log has told it. */
	if (!n->cluster_id[0] || !ctrl_replayed(n->ctrl)) {
		m->waiting_cluster = true;
		return;
	}
	m->waiting_cluster = false;
	int32_t to = target(m);
	if (m->state == MEMBER_REGISTERED) {
		heartbeat(m, to);
		return;
	}
	if (to == n->cfg.node_id) {
		register_local(m);
		return;
	}
	struct peer *p = ctrl_peer(n->ctrl, to);
	if (!p)
		retry_later(m, -1);
	else
		register_remote(m, p);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	step(arg);
}

void member_start(struct member *m)
{
	if (m->state != MEMBER_IDLE)
		return;
	m->state = MEMBER_REGISTERING;
	arm(m, 0);
}

bool member_begin_shutdown(struct member *m)
{
	if (m->state != MEMBER_REGISTERED || m->shutting_down || drained(m))
		return false;
	m->shutting_down = true;
	/* A heartbeat in flight did not ask to shut down: the request that
	 * does goes now rather than after its answer or timeout. */
	if (m->call_peer)
		peer_cancel(m->call_peer, m);
	m->call_peer = NULL;
	m->in_flight = false;
	m->backoff_ms = MEMBER_BACKOFF_MIN_MS;
	evtimer_del(m->timer);
	arm(m, 0);
	return true;
}

void member_on_metadata(struct member *m)
{
	if (m->shutting_down) {
		if (drained(m))
			node_on_drained(m->node);
		return;
	}
	if (m->waiting_cluster && m->node->cluster_id[0]) {
		m->waiting_cluster = false;
		arm(m, 0);
		return;
	}
	if (m->state != MEMBER_REGISTERED || m->in_flight || m->caught_up_sent)
		return;
	const struct meta_image *img = ctrl_image(m->node->ctrl);
	const struct meta_broker *b = meta_image_broker(img, m->node->cfg.node_id);
	if (!b || b->epoch != m->broker_epoch || !b->fenced ||
	    meta_image_applied_index(img) < b->registered_index)
		return;
	/* Caught up with its own registration while fenced: the heartbeat that
	 * unfences it goes now rather than after a whole interval. */
	m->caught_up_sent = true;
	evtimer_del(m->timer);
	arm(m, 0);
}

int member_new(struct node *n, struct member **out)
{
	struct member *m = calloc(1, sizeof(*m));
	if (!m)
		return RN_E_NOMEM;
	m->node = n;
	m->hint = -1;
	m->backoff_ms = MEMBER_BACKOFF_MIN_MS;
	m->timer = evtimer_new(n->base, timer_cb, m);
	if (!m->timer || node_random(m->incarnation, sizeof(m->incarnation)) != RN_OK) {
		if (m->timer)
			event_free(m->timer);
		free(m);
		return RN_E_NOMEM;
	}
	*out = m;
	return RN_OK;
}

void member_free(struct member *m)
{
	if (!m)
		return;
	if (m->local_wait && m->node->ctrl)
		ctrl_wait_cancel(m->node->ctrl, m->local_wait);
	if (m->call_peer)
		peer_cancel(m->call_peer, m);
	event_free(m->timer);
	free(m);
}
