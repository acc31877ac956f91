/* client.c: bootstrap parsing, the metadata cache, connections and synchronous requests. */
#include "clients/client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/rn_assert.h"

static int parse_one_address(const char *s, size_t len, struct client_address *out)
{
	const char *colon;
	const char *host = s;
	size_t host_len;
	if (len > 0 && s[0] == '[') {
		const char *close_br = memchr(s, ']', len);
		if (!close_br || close_br + 1 >= s + len || close_br[1] != ':')
			return RN_E_INVAL;
		host = s + 1;
		host_len = (size_t)(close_br - host);
		colon = close_br + 1;
	} else {
		colon = NULL;
		for (size_t i = 0; i < len; i++)
			if (s[i] == ':')
				colon = s + i;
		if (!colon)
			return RN_E_INVAL;
		host_len = (size_t)(colon - s);
	}
	if (host_len == 0 || host_len > RN_MAX_ADDRESS_LEN)
		return RN_E_INVAL;
	const char *port = colon + 1;
	size_t port_len = (size_t)(s + len - port);
	if (port_len == 0 || port_len > 5)
		return RN_E_INVAL;
	int value = 0;
	for (size_t i = 0; i < port_len; i++) {
		if (port[i] < '0' || port[i] > '9')
			return RN_E_INVAL;
		value = value * 10 + (port[i] - '0');
	}
	if (value < 1 || value > 65535)
		return RN_E_INVAL;
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';
	out->port = value;
	return 0;
}

int client_parse_bootstrap(const char *list, struct client_address *addrs, size_t max)
{
	size_t n = 0;
	const char *p = list;
	if (!list || !*list)
		return RN_E_INVAL;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		if (n >= max || parse_one_address(p, len, &addrs[n]) != 0)
			return RN_E_INVAL;
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	return (int)n;
}

static int32_t pick(int32_t value, int32_t fallback)
{
	return value > 0 ? value : fallback;
}

int client_init(struct client *c, const struct runnel_client_config *cfg)
{
	struct runnel_client_config defaults;
	runnel_client_config_init(&defaults);
	memset(c, 0, sizeof(*c));
	c->controller_id = -1;
	c->hint.node_id = -1;
	c->next_correlation_id = 1;
	if (!cfg)
		cfg = &defaults;
	c->cfg.max_in_flight = pick(cfg->max_in_flight, defaults.max_in_flight);
	c->cfg.request_timeout_ms = pick(cfg->request_timeout_ms, defaults.request_timeout_ms);
	c->cfg.metadata_timeout_ms = pick(cfg->metadata_timeout_ms, defaults.metadata_timeout_ms);
	c->cfg.reconnect_backoff_ms = pick(cfg->reconnect_backoff_ms, defaults.reconnect_backoff_ms);
	c->cfg.reconnect_backoff_max_ms =
		pick(cfg->reconnect_backoff_max_ms, defaults.reconnect_backoff_max_ms);
	if (c->cfg.max_in_flight > RUNNEL_MAX_IN_FLIGHT_LIMIT)
		return client_fail(c, RN_E_INVAL, "max_in_flight must be 1..%d",
				   RUNNEL_MAX_IN_FLIGHT_LIMIT);
	const char *id = cfg->client_id ? cfg->client_id : defaults.client_id;
	if (strlen(id) > RN_MAX_CLIENT_ID_LEN)
		return client_fail(c, RN_E_INVAL, "client id longer than %u bytes", RN_MAX_CLIENT_ID_LEN);
	c->client_id = strdup(id);
	c->bootstrap = calloc(RUNNEL_MAX_BOOTSTRAP_SERVERS, sizeof(*c->bootstrap));
	if (!c->client_id || !c->bootstrap) {
		client_destroy(c);
		return RN_E_NOMEM;
	}
	c->cfg.client_id = c->client_id;
	const char *list = cfg->bootstrap ? cfg->bootstrap : defaults.bootstrap;
	int n = client_parse_bootstrap(list, c->bootstrap, RUNNEL_MAX_BOOTSTRAP_SERVERS);
	if (n < 0) {
		client_destroy(c);
		return client_fail(c, RN_E_INVAL, "bad bootstrap list \"%s\" (want HOST:PORT[,HOST:PORT...])",
				   list);
	}
	c->bootstrap_count = (size_t)n;
	return 0;
}

static void topic_free(struct client_topic *t)
{
	free(t->name);
	free(t->partitions);
}

void client_destroy(struct client *c)
{
	for (size_t i = 0; i < c->conn_count; i++) {
		conn_destroy(c->conns[i]);
		free(c->conns[i]);
	}
	for (size_t i = 0; i < c->topic_count; i++)
		topic_free(&c->topics[i]);
	free(c->conns);
	free(c->pollfds);
	free(c->topics);
	free(c->brokers);
	free(c->bootstrap);
	free(c->client_id);
	c->conns = NULL;
	c->conn_count = 0;
	c->topics = NULL;
	c->topic_count = 0;
	c->brokers = NULL;
	c->bootstrap = NULL;
	c->client_id = NULL;
	c->pollfds = NULL;
}

int client_fail(struct client *c, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	c->last_error = err;
	return err;
}

int client_fail_wire(struct client *c, int err, const char *node_message, const char *context)
{
	const char *msg = node_message && *node_message ? node_message : rn_strerror(err);
	if (context && *context)
		return client_fail(c, err, "%s: %s", context, msg);
	return client_fail(c, err, "%s", msg);
}

static const struct client_address *address_of(const struct client *c, int32_t id)
{
	if (id <= CLIENT_BOOTSTRAP_ID_BASE) {
		size_t idx = (size_t)(CLIENT_BOOTSTRAP_ID_BASE - id);
		return idx < c->bootstrap_count ? &c->bootstrap[idx] : NULL;
	}
	for (size_t i = 0; i < c->broker_count; i++)
		if (c->brokers[i].node_id == id)
			return &c->brokers[i].addr;
	if (id >= 0 && c->hint.node_id == id)
		return &c->hint.addr;
	return NULL;
}

struct conn *client_conn(struct client *c, int32_t node_id)
{
	for (size_t i = 0; i < c->conn_count; i++)
		if (c->conns[i]->node_id == node_id)
			return c->conns[i];
	const struct client_address *addr = address_of(c, node_id);
	if (!addr)
		return NULL;
	struct conn *cn = malloc(sizeof(*cn));
	struct conn **nconns = realloc(c->conns, (c->conn_count + 1) * sizeof(*nconns));
	struct pollfd *pfds = realloc(c->pollfds, (c->conn_count + 1) * sizeof(*pfds));
	if (nconns)
		c->conns = nconns;
	if (pfds)
		c->pollfds = pfds;
	if (!cn || !nconns || !pfds)
		goto fail_alloc;
	if (conn_init(cn, node_id, addr->host, addr->port, (uint32_t)c->cfg.max_in_flight,
		      c->cfg.reconnect_backoff_ms, c->cfg.reconnect_backoff_max_ms) != 0)
		goto fail_alloc;
	c->conns[c->conn_count++] = cn;
	return cn;
fail_alloc:
	free(cn);
	return NULL;
}

/* How a request is queued: copied, with its large byte strings by
 * reference, or copied with the answer wanted undecoded. */
enum send_mode { SEND_COPY, SEND_REF, SEND_RAW };

/* Fills the header and queues req as mode says; cb is a conn_response_cb,
 * or a conn_raw_cb for SEND_RAW. */
static int send_request(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
			int64_t deadline_ms, enum send_mode mode, conn_response_cb cb,
			conn_raw_cb raw_cb, void *opaque)
{
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	hdr.api_key = api_key;
	hdr.api_version = 0;
	hdr.correlation_id = c->next_correlation_id;
	hdr.client_id = c->client_id;
	req->header = &hdr;
	RN_ASSERT((int32_t)req->body_case == api_key + 100);
	int rc;
	if (mode == SEND_RAW)
		rc = conn_send_raw(cn, req, deadline_ms, raw_cb, opaque);
	else if (mode == SEND_REF)
		rc = conn_send_ref(cn, req, deadline_ms, cb, opaque);
	else
		rc = conn_send(cn, req, deadline_ms, cb, opaque);
	req->header = NULL;
	if (rc == 0) {
		/* Correlation ids stay positive; wrapping is harmless because
		 * only the FIFO head is ever compared. */
		c->next_correlation_id = c->next_correlation_id == INT32_MAX ? 1 : c->next_correlation_id + 1;
	}
	return rc;
}

int client_send_until(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
		      int64_t deadline_ms, conn_response_cb cb, void *opaque)
{
	return send_request(c, cn, req, api_key, deadline_ms, SEND_COPY, cb, NULL, opaque);
}

int client_send(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
		conn_response_cb cb, void *opaque)
{
	int64_t deadline_ms = rn_mono_ms() + c->cfg.request_timeout_ms;
	return send_request(c, cn, req, api_key, deadline_ms, SEND_COPY, cb, NULL, opaque);
}

int client_send_ref(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
		    conn_response_cb cb, void *opaque)
{
	int64_t deadline_ms = rn_mono_ms() + c->cfg.request_timeout_ms;
	return send_request(c, cn, req, api_key, deadline_ms, SEND_REF, cb, NULL, opaque);
}

int client_send_raw(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
		    conn_raw_cb cb, void *opaque)
{
	int64_t deadline_ms = rn_mono_ms() + c->cfg.request_timeout_ms;
	return send_request(c, cn, req, api_key, deadline_ms, SEND_RAW, NULL, cb, opaque);
}

int client_poll(struct client *c, int timeout_ms)
{
	struct pollfd *pfds = c->pollfds;
	struct conn *polled[c->conn_count + 1];
	nfds_t n = 0;
	int64_t now = rn_mono_ms();
	int64_t wake = now + (timeout_ms < 0 ? 0 : timeout_ms);

	for (size_t i = 0; i < c->conn_count; i++) {
		struct conn *cn = c->conns[i];
		short ev = conn_poll_events(cn);
		int64_t dl = conn_next_deadline(cn);
		if (dl < wake)
			wake = dl;
		if (ev == 0)
			continue;
		pfds[n].fd = cn->fd;
		pfds[n].events = ev;
		pfds[n].revents = 0;
		polled[n++] = cn;
	}
	int wait_ms = wake > now ? (int)(wake - now) : 0;
	int ready = poll(n ? pfds : NULL, n, wait_ms);
	if (ready < 0 && errno == EINTR)
		c->interrupted = 1;
	now = rn_mono_ms();
	for (nfds_t i = 0; ready > 0 && i < n; i++)
		conn_handle_events(polled[i], pfds[i].revents, now);
	for (size_t i = 0; i < c->conn_count; i++)
		conn_check_timeouts(c->conns[i], now);
	return 0;
}

struct sync_wait {
	int done;
	int err;
	Runnel__Response *resp;
};

static void sync_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct sync_wait *w = opaque;
	w->done = 1;
	w->err = err;
	w->resp = resp;
}

/* Waits until cn can take a request.  Returns 0, RN_E_TIMEOUT, or the
 * connection's error when it failed and either wait_reconnect is off or the
 * next attempt would come after deadline. */
static int wait_sendable(struct client *c, struct conn *cn, int64_t deadline, int wait_reconnect)
{
	for (;;) {
		int64_t now = rn_mono_ms();
		int rc = conn_ensure(cn, now);
		if (rc != 0 && (!wait_reconnect || cn->retry_at_ms >= deadline))
			return client_fail(c, rc, "%s", cn->errmsg);
		if (conn_can_send(cn))
			return 0;
		if (now >= deadline || c->interrupted)
			return client_fail(c, RN_E_TIMEOUT, "no connection to %s:%s in time", cn->host,
					   cn->port);
		if (cn->state == CONN_DOWN && (!wait_reconnect || cn->retry_at_ms >= deadline))
			return client_fail(c, cn->last_err ? cn->last_err : RN_E_CONNECT, "%s",
					   cn->errmsg[0] ? cn->errmsg : "cannot connect");
		int64_t until = cn->state == CONN_DOWN ? cn->retry_at_ms : deadline;
		client_poll(c, (int)(until - now));
	}
}

static int request_on_conn(struct client *c, struct conn *cn, Runnel__Request *req, int32_t api_key,
			   Runnel__Response **out, int64_t deadline, int wait_reconnect)
{
	struct sync_wait w = {0};
	int rc = wait_sendable(c, cn, deadline, wait_reconnect);
	if (rc != 0)
		return rc;
	/* The caller's deadline bounds the request too, unless the usual
	 * request timeout comes first. */
	int64_t due = rn_mono_ms() + c->cfg.request_timeout_ms;
	rc = client_send_until(c, cn, req, api_key, due < deadline ? due : deadline, sync_cb, &w);
	if (rc != 0)
		return client_fail(c, rc, "cannot send to %s:%s: %s", cn->host, cn->port, rn_strerror(rc));
	/* The request's deadline always ends this loop, because
	 * conn_check_timeouts fails it then. */
	while (!w.done)
		client_poll(c, 1000);
	if (w.err != 0 && !w.resp)
		return client_fail(c, w.err, "%s", cn->errmsg[0] ? cn->errmsg : rn_strerror(w.err));
	if (w.err != 0) {
		client_fail_wire(c, w.err, w.resp->error_message, NULL);
		runnel__response__free_unpacked(w.resp, NULL);
		return w.err;
	}
	if ((int32_t)w.resp->body_case != api_key + 100) {
		runnel__response__free_unpacked(w.resp, NULL);
		return client_fail(c, RN_E_MALFORMED_FRAME, "response from %s:%s has the wrong body",
				   cn->host, cn->port);
	}
	*out = w.resp;
	return 0;
}

int client_request_sync(struct client *c, int32_t node_id, Runnel__Request *req, int32_t api_key,
			Runnel__Response **out, int timeout_ms)
{
	struct conn *cn = client_conn(c, node_id);
	if (!cn)
		return client_fail(c, RN_E_BROKER_NOT_AVAILABLE, "node %d is not known", node_id);
	return request_on_conn(c, cn, req, api_key, out, rn_mono_ms() + timeout_ms, 1);
}

int client_request_once_sync(struct client *c, int32_t node_id, Runnel__Request *req,
			     int32_t api_key, Runnel__Response **out, int timeout_ms)
{
	struct conn *cn = client_conn(c, node_id);
	if (!cn)
		return client_fail(c, RN_E_BROKER_NOT_AVAILABLE, "node %d is not known", node_id);
	return request_on_conn(c, cn, req, api_key, out, rn_mono_ms() + timeout_ms, 0);
}

/* How likely a node is to answer, lower first: connected and not failing,
 * then not known to fail, then failed (longest ago first, since that one
 * had the most time to come back). */
static int64_t candidate_rank(struct client *c, int32_t id)
{
	const int64_t failed_base = (int64_t)1 << 40;
	for (size_t i = 0; i < c->conn_count; i++) {
		const struct conn *cn = c->conns[i];
		if (cn->node_id != id)
			continue;
		if (cn->failed_at_ms > 0)
			return failed_base + cn->failed_at_ms;
		return cn->state == CONN_READY ? 0 : 1;
	}
	return 1;
}

static void add_candidate(int32_t *ids, size_t *n, size_t max, int32_t id)
{
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == id)
			return;
	if (*n < max)
		ids[(*n)++] = id;
}

/* Candidates for "any node", each once: unfenced brokers, fenced brokers,
 * a learned controller address, then the bootstrap entries, stably sorted
 * by candidate_rank so that nodes known to be failing are tried last. */
static size_t any_candidates(struct client *c, int32_t *ids, size_t max)
{
	int64_t rank[2 * RN_MAX_NODES + RUNNEL_MAX_BOOTSTRAP_SERVERS + 1];
	size_t n = 0;
	RN_ASSERT(max <= RN_ARRAY_LEN(rank));
	for (int fenced = 0; fenced <= 1; fenced++)
		for (size_t i = 0; i < c->broker_count; i++)
			if (c->brokers[i].fenced == fenced)
				add_candidate(ids, &n, max, c->brokers[i].node_id);
	if (c->hint.node_id >= 0)
		add_candidate(ids, &n, max, c->hint.node_id);
	for (size_t i = 0; i < c->bootstrap_count; i++)
		add_candidate(ids, &n, max, CLIENT_BOOTSTRAP_ID_BASE - (int32_t)i);
	for (size_t i = 0; i < n; i++)
		rank[i] = candidate_rank(c, ids[i]);
	/* Insertion sort: the lists are short and the order must be stable. */
	for (size_t i = 1; i < n; i++) {
		int32_t id = ids[i];
		int64_t r = rank[i];
		size_t j = i;
		for (; j > 0 && rank[j - 1] > r; j--) {
			ids[j] = ids[j - 1];
			rank[j] = rank[j - 1];
		}
		ids[j] = id;
		rank[j] = r;
	}
	return n;
}

static int moves_on(int rc)
{
	return rc == RN_E_CONNECT || rc == RN_E_NETWORK_EXCEPTION || rc == RN_E_REQUEST_TIMED_OUT ||
	       rc == RN_E_CLOSED || rc == RN_E_TIMEOUT;
}

/* The deadline of one attempt on pass number pass over the candidates. */
static int64_t attempt_deadline(int pass, int64_t deadline)
{
	int shift = pass < 10 ? pass : 10;
	int64_t until = rn_mono_ms() + ((int64_t)CLIENT_NODE_ATTEMPT_TIMEOUT_MS << shift);
	return until < deadline ? until : deadline;
}

int client_request_any_sync(struct client *c, Runnel__Request *req, int32_t api_key,
			    Runnel__Response **out, int timeout_ms)
{
	int32_t ids[2 * RN_MAX_NODES + RUNNEL_MAX_BOOTSTRAP_SERVERS];
	int64_t deadline = rn_mono_ms() + timeout_ms;
	int rc = RN_E_BROKER_NOT_AVAILABLE;
	for (int pass = 0; rn_mono_ms() < deadline && !c->interrupted; pass++) {
		size_t n = any_candidates(c, ids, RN_ARRAY_LEN(ids));
		int64_t earliest_retry = INT64_MAX;
		for (size_t i = 0; i < n && rn_mono_ms() < deadline; i++) {
			struct conn *cn = client_conn(c, ids[i]);
			if (!cn)
				continue;
			int64_t now = rn_mono_ms();
			if (cn->state == CONN_DOWN && cn->retry_at_ms > now) {
				if (cn->retry_at_ms < earliest_retry)
					earliest_retry = cn->retry_at_ms;
				continue;
			}
			rc = request_on_conn(c, cn, req, api_key, out, attempt_deadline(pass, deadline), 0);
			/* Only connection trouble moves on to the next node; an
			 * answer, even an error, is the answer. */
			if (!moves_on(rc))
				return rc;
		}
		int64_t now = rn_mono_ms();
		if (earliest_retry != INT64_MAX && earliest_retry > now) {
			int64_t until = earliest_retry < deadline ? earliest_retry : deadline;
			client_poll(c, (int)(until - now));
		}
	}
	if (rc == RN_E_BROKER_NOT_AVAILABLE)
		return client_fail(c, RN_E_TIMEOUT, "no node answered within %d ms", timeout_ms);
	return c->last_error ? c->last_error : rc;
}

void runnel_client_config_init(struct runnel_client_config *cfg)
{
	cfg->bootstrap = RUNNEL_DEFAULT_BOOTSTRAP;
	cfg->client_id = RUNNEL_DEFAULT_CLIENT_ID;
	cfg->max_in_flight = RUNNEL_DEFAULT_MAX_IN_FLIGHT;
	cfg->request_timeout_ms = RUNNEL_DEFAULT_REQUEST_TIMEOUT_MS;
	cfg->metadata_timeout_ms = RUNNEL_DEFAULT_METADATA_TIMEOUT_MS;
	cfg->reconnect_backoff_ms = RUNNEL_DEFAULT_RECONNECT_BACKOFF_MS;
	cfg->reconnect_backoff_max_ms = RUNNEL_DEFAULT_RECONNECT_BACKOFF_MAX_MS;
}

static int update_brokers(struct client *c, const Runnel__MetadataResponse *md)
{
	size_t n = md->n_brokers < RN_MAX_NODES ? md->n_brokers : RN_MAX_NODES;
	struct client_broker *b = calloc(n ? n : 1, sizeof(*b));
	if (!b)
		return RN_E_NOMEM;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		const Runnel__BrokerInfo *bi = md->brokers[i];
		if (!bi->host || strlen(bi->host) > RN_MAX_ADDRESS_LEN || bi->node_id < 0)
			continue;
		b[kept].node_id = bi->node_id;
		snprintf(b[kept].addr.host, sizeof(b[kept].addr.host), "%s", bi->host);
		b[kept].addr.port = bi->port;
		b[kept].fenced = bi->fenced ? 1 : 0;
		/* A rack longer than any node accepts is treated as none: it
		 * cannot match a consumer's rack. */
		if (bi->rack && strlen(bi->rack) <= RUNNEL_MAX_RACK_LEN)
			snprintf(b[kept].rack, sizeof(b[kept].rack), "%s", bi->rack);
		kept++;
	}
	free(c->brokers);
	c->brokers = b;
	c->broker_count = kept;
	c->controller_id = md->controller_id;
	return 0;
}

/* Copies up to RN_MAX_REPLICATION_FACTOR ids; a longer list is cut, which
 * only narrows the replicas a consumer may read from. */
static void copy_ids(int32_t *dst, size_t *count, const int32_t *src, size_t n)
{
	*count = n < RN_MAX_REPLICATION_FACTOR ? n : RN_MAX_REPLICATION_FACTOR;
	if (*count)
		memcpy(dst, src, *count * sizeof(*dst));
}

static int topic_from_wire(struct client_topic *t, const Runnel__TopicMetadata *tm)
{
	int32_t count = 0;
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < tm->n_partitions; i++)
		if (tm->partitions[i]->partition >= count)
			count = tm->partitions[i]->partition + 1;
	if (count > (int32_t)RN_MAX_PARTITIONS_PER_TOPIC)
		return RN_E_INVAL;
	t->name = strdup(tm->name);
	t->partitions = calloc(count ? (size_t)count : 1, sizeof(*t->partitions));
	if (!t->name || !t->partitions) {
		topic_free(t);
		return RN_E_NOMEM;
	}
	t->error = rn_err_from_wire(tm->error_code);
	t->partition_count = count;
	for (int32_t p = 0; p < count; p++) {
		t->partitions[p].partition = p;
		t->partitions[p].leader = -1;
		t->partitions[p].error = RN_E_LEADER_NOT_AVAILABLE;
	}
	for (size_t i = 0; i < tm->n_partitions; i++) {
		const Runnel__PartitionMetadata *pm = tm->partitions[i];
		if (pm->partition < 0)
			continue;
		struct client_partition *cp = &t->partitions[pm->partition];
		cp->error = rn_err_from_wire(pm->error_code);
		cp->leader = pm->leader;
		cp->leader_epoch = pm->leader_epoch;
		copy_ids(cp->replicas, &cp->replica_count, pm->replicas, pm->n_replicas);
		copy_ids(cp->isr, &cp->isr_count, pm->isr, pm->n_isr);
	}
	return 0;
}

static int update_topic(struct client *c, const Runnel__TopicMetadata *tm)
{
	struct client_topic nt;
	int rc = topic_from_wire(&nt, tm);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < c->topic_count; i++) {
		if (strcmp(c->topics[i].name, nt.name) == 0) {
			topic_free(&c->topics[i]);
			c->topics[i] = nt;
			return 0;
		}
	}
	struct client_topic *nts = realloc(c->topics, (c->topic_count + 1) * sizeof(*nts));
	if (!nts) {
		topic_free(&nt);
		return RN_E_NOMEM;
	}
	c->topics = nts;
	c->topics[c->topic_count++] = nt;
	return 0;
}

/* Updates the cache from a metadata response.  Returns 0 or RN_E_NOMEM. */
static int apply_metadata(struct client *c, const Runnel__MetadataResponse *md)
{
	int rc = update_brokers(c, md);
	for (size_t i = 0; rc == 0 && i < md->n_topics; i++)
		rc = update_topic(c, md->topics[i]);
	if (rc == 0)
		c->metadata_version++;
	return rc;
}

static void metadata_async_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct client *c = opaque;
	c->metadata_inflight = 0;
	if (err == 0 && resp->body_case == RUNNEL__RESPONSE__BODY_METADATA)
		apply_metadata(c, resp->metadata);
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
}

int client_metadata_refresh_async(struct client *c, const char *const *topics, size_t n)
{
	if (c->metadata_inflight)
		return 0;
	Runnel__MetadataRequest mr = RUNNEL__METADATA_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	mr.n_topics = n;
	mr.topics = (char **)topics;
	req.body_case = RUNNEL__REQUEST__BODY_METADATA;
	req.metadata = &mr;
	/* A short deadline: while this request waits no other refresh starts,
	 * so a node that stopped answering must not hold it. */
	int32_t timeout_ms = c->cfg.request_timeout_ms < CLIENT_NODE_ATTEMPT_TIMEOUT_MS
				     ? c->cfg.request_timeout_ms
				     : CLIENT_NODE_ATTEMPT_TIMEOUT_MS;
	int rc = client_send_any_async(c, &req, RUNNEL__API_KEY__API_METADATA, timeout_ms,
				       metadata_async_cb, c);
	if (rc == 0)
		c->metadata_inflight = 1;
	return rc;
}

int client_send_any_async(struct client *c, Runnel__Request *req, int32_t api_key,
			  int32_t timeout_ms, conn_response_cb cb, void *opaque)
{
	int32_t ids[2 * RN_MAX_NODES + RUNNEL_MAX_BOOTSTRAP_SERVERS];
	size_t count = any_candidates(c, ids, RN_ARRAY_LEN(ids));
	int64_t now = rn_mono_ms();
	for (size_t i = 0; i < count; i++) {
		struct conn *cn = client_conn(c, ids[i]);
		if (!cn || conn_ensure(cn, now) != 0 || !conn_can_send(cn))
			continue;
		if (client_send_until(c, cn, req, api_key, now + timeout_ms, cb, opaque) == 0)
			return 0;
	}
	return RN_E_AGAIN;
}

int client_metadata_refresh(struct client *c, const char *const *topics, size_t n, int all,
			    Runnel__Response **keep)
{
	Runnel__MetadataRequest mr = RUNNEL__METADATA_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	Runnel__Response *resp = NULL;
	mr.n_topics = n;
	mr.topics = (char **)topics;
	mr.all_topics = all ? 1 : 0;
	req.body_case = RUNNEL__REQUEST__BODY_METADATA;
	req.metadata = &mr;
	int rc = client_request_any_sync(c, &req, RUNNEL__API_KEY__API_METADATA, &resp,
					 c->cfg.metadata_timeout_ms);
	if (rc != 0)
		return rc;
	rc = apply_metadata(c, resp->metadata);
	if (rc == 0 && keep) {
		*keep = resp;
		return 0;
	}
	runnel__response__free_unpacked(resp, NULL);
	if (rc != 0)
		return client_fail(c, rc, "cannot use the metadata response: %s", rn_strerror(rc));
	return 0;
}

const struct client_topic *client_topic_find(const struct client *c, const char *name)
{
	for (size_t i = 0; i < c->topic_count; i++)
		if (strcmp(c->topics[i].name, name) == 0)
			return &c->topics[i];
	return NULL;
}

int32_t client_leader(const struct client *c, const char *topic, int32_t partition)
{
	const struct client_topic *t = client_topic_find(c, topic);
	if (!t || partition < 0 || partition >= t->partition_count)
		return -1;
	return t->partitions[partition].leader;
}

static const struct client_broker *broker_find(const struct client_broker *brokers, size_t n,
					      int32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (brokers[i].node_id == id)
			return &brokers[i];
	return NULL;
}

static int in_list(const int32_t *ids, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

int32_t client_choose_read_replica(const struct client_partition *cp,
				   const struct client_broker *brokers, size_t n, const char *rack,
				   int32_t avoid)
{
	if (cp->leader < 0 || !rack || !*rack)
		return cp->leader;
	const struct client_broker *lb = broker_find(brokers, n, cp->leader);
	/* Reading from the leader is always right; a replica only saves
	 * cross-rack traffic when the leader is elsewhere. */
	if (lb && strcmp(lb->rack, rack) == 0)
		return cp->leader;
	for (size_t i = 0; i < cp->replica_count; i++) {
		int32_t id = cp->replicas[i];
		if (id == cp->leader || id == avoid || !in_list(cp->isr, cp->isr_count, id))
			continue;
		const struct client_broker *b = broker_find(brokers, n, id);
		if (b && !b->fenced && strcmp(b->rack, rack) == 0)
			return id;
	}
	return cp->leader;
}

int client_parse_controller_hint(const char *msg, int32_t *id, struct client_address *addr,
				 int *has_addr)
{
	static const char marker[] = "controller is node ";
	const char *p = msg ? strstr(msg, marker) : NULL;
	int64_t value = 0;
	*has_addr = 0;
	if (!p)
		return RN_E_NOT_FOUND;
	p += sizeof(marker) - 1;
	if (*p < '0' || *p > '9')
		return RN_E_NOT_FOUND;
	for (; *p >= '0' && *p <= '9'; p++) {
		value = value * 10 + (*p - '0');
		if (value > INT32_MAX)
			return RN_E_NOT_FOUND;
	}
	*id = (int32_t)value;
	if (strncmp(p, " at ", 4) == 0) {
		p += 4;
		/* The address ends at white space or the end of the sentence;
		 * a trailing period or comma is punctuation, not port. */
		size_t len = strcspn(p, " \t;,\n");
		while (len > 0 && p[len - 1] == '.')
			len--;
		if (parse_one_address(p, len, addr) == 0)
			*has_addr = 1;
	}
	return 0;
}

void client_learn_address(struct client *c, int32_t id, const char *host, int port)
{
	if (id < 0 || !host || !*host || strlen(host) > RN_MAX_ADDRESS_LEN || port < 1 ||
	    port > 65535)
		return;
	for (size_t i = 0; i < c->broker_count; i++)
		if (c->brokers[i].node_id == id)
			return;
	c->hint.node_id = id;
	snprintf(c->hint.addr.host, sizeof(c->hint.addr.host), "%s", host);
	c->hint.addr.port = port;
	c->hint.fenced = 0;
}

int client_admin_retriable(int err)
{
	switch (err) {
	case RN_E_NOT_CONTROLLER:
	case RN_E_BROKER_NOT_AVAILABLE:
	case RN_E_CONNECT:
	case RN_E_NETWORK_EXCEPTION:
	case RN_E_REQUEST_TIMED_OUT:
	case RN_E_CLOSED:
	case RN_E_TIMEOUT:
	case RN_E_LEADER_NOT_AVAILABLE:
	case RN_E_SHUTTING_DOWN:
		return 1;
	default:
		return 0;
	}
}

int64_t client_admin_retry_delay_ms(int err, int attempt, int64_t now_ms, int64_t deadline_ms)
{
	if (!client_admin_retriable(err) || attempt < 0 || attempt + 1 >= CLIENT_ADMIN_MAX_ATTEMPTS)
		return -1;
	int64_t delay = CLIENT_ADMIN_BACKOFF_MS;
	for (int i = 0; i < attempt && delay < CLIENT_ADMIN_BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > CLIENT_ADMIN_BACKOFF_MAX_MS)
		delay = CLIENT_ADMIN_BACKOFF_MAX_MS;
	if (now_ms + delay >= deadline_ms)
		return -1;
	return delay;
}
