/* peer.c: outbound connections to other nodes, with reconnect and bounded queues. */
#include "broker/peer.h"

#include "broker/node.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "wire/codec.h"
#include "wire/frame.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct call {
	struct peer *p;
	int32_t correlation_id;
	peer_response_cb cb;
	void *arg;
	struct event *timer;
	struct call *next;
};

/* A name lookup in flight.  It outlives its peer when the peer is freed or
 * its connection fails first: evdns may still call back after a cancel, so
 * the callback finds p NULL and only frees. */
struct lookup {
	struct peer *p;
	struct evdns_getaddrinfo_request *req;
};

struct peer {
	struct node *node;
	int32_t node_id;
	struct config_addr addr;
	struct bufferevent *bev; /* NULL while down; set (unconnected) while resolving */
	struct lookup *lookup;   /* the name lookup in flight, if any */
	uint32_t addr_cursor;    /* which resolved address to try (rotates on failure) */
	bool connected;
	struct event *retry_ev;  /* pending while waiting out the backoff */
	bool backing_off;
	int32_t backoff_ms;
	int32_t next_correlation_id;
	struct call *calls;
	uint32_t call_count;
	uint64_t failures; /* consecutive, for quieter logs */
};

int32_t peer_node_id(const struct peer *p)
{
	return p->node_id;
}

const struct config_addr *peer_addr(const struct peer *p)
{
	return &p->addr;
}

bool peer_connected(const struct peer *p)
{
	return p->connected;
}

/* ----------------------------------------------------------------- calls */

static void call_free(struct call *c)
{
	if (c->timer)
		event_free(c->timer);
	free(c);
}

/* Unlinks the call with this correlation id (or, with id 0, the first one
 * whose arg matches `arg`); NULL when none. */
static struct call *call_take(struct peer *p, int32_t id, void *arg)
{
	for (struct call **pp = &p->calls; *pp; pp = &(*pp)->next) {
		struct call *c = *pp;
		if ((id != 0 && c->correlation_id == id) || (id == 0 && c->arg == arg)) {
			*pp = c->next;
			p->call_count--;
			return c;
		}
	}
	return NULL;
}

/* Completes every pending call with err.  Callbacks may start new calls,
 * which land on the (now empty) list and are not failed here. */
static void calls_fail_all(struct peer *p, int err)
{
	struct call *list = p->calls;
	p->calls = NULL;
	p->call_count = 0;
	while (list) {
		struct call *c = list;
		list = c->next;
		peer_response_cb cb = c->cb;
		void *arg = c->arg;
		call_free(c);
		cb(arg, err, NULL);
	}
}

static void call_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;
	(void)fd;
	(void)what;
	struct call *taken = call_take(c->p, c->correlation_id, NULL);
	RN_ASSERT(taken == c);
	peer_response_cb cb = c->cb;
	void *cb_arg = c->arg;
	call_free(c);
	cb(cb_arg, RN_E_REQUEST_TIMED_OUT, NULL);
}

void peer_cancel(struct peer *p, void *arg)
{
	struct call *c;
	while ((c = call_take(p, 0, arg)) != NULL)
		call_free(c);
}

/* ------------------------------------------------------------ connection */

static void connect_now(struct peer *p);

/* Detaches the peer from its lookup in flight and cancels it. */
static void lookup_abandon(struct peer *p)
{
	struct lookup *lk = p->lookup;
	if (!lk)
		return;
	p->lookup = NULL;
	lk->p = NULL;
	evdns_getaddrinfo_cancel(lk->req);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	(void)fd;
	(void)what;
	p->backing_off = false;
	connect_now(p);
}

/* Drops the connection and waits out the backoff before the next attempt. */
static void connection_failed(struct peer *p, const char *why)
{
	if (p->failures++ == 0)
		LOG_WARN("peer", "node %d at %s:%u: %s; reconnecting with backoff", p->node_id,
			 p->addr.host, p->addr.port, why);
	else
		LOG_DEBUG("peer", "node %d at %s:%u: %s (failure %" PRIu64 ")", p->node_id,
			  p->addr.host, p->addr.port, why, p->failures);
	lookup_abandon(p);
	if (p->bev)
		bufferevent_free(p->bev);
	p->bev = NULL;
	/* A name with several addresses: the next attempt tries the next one. */
	p->addr_cursor++;
	p->connected = false;
	p->backing_off = true;
	struct timeval tv = {p->backoff_ms / 1000, (p->backoff_ms % 1000) * 1000};
	event_add(p->retry_ev, &tv);
	p->backoff_ms = p->backoff_ms * 2 > PEER_BACKOFF_MAX_MS ? PEER_BACKOFF_MAX_MS
								 : p->backoff_ms * 2;
	calls_fail_all(p, RN_E_NETWORK_EXCEPTION);
}

/* Hands one decoded response to the call waiting for it; frees resp. */
static void deliver(struct peer *p, Runnel__Response *resp)
{
	struct call *c = resp->correlation_id != 0 ? call_take(p, resp->correlation_id, NULL)
						   : NULL;
	if (!c) {
		/* Answers to one-way messages are errors from a node that does
		 * not know the API; nothing waits for them. */
		if (resp->error_code != 0)
			LOG_DEBUG("peer", "node %d: unsolicited error %d: %s", p->node_id,
				  resp->error_code, resp->error_message ? resp->error_message : "");
		wire_response_free(resp);
		return;
	}
	peer_response_cb cb = c->cb;
	void *arg = c->arg;
	call_free(c);
	cb(arg, RN_OK, resp);
	wire_response_free(resp);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	/* Each frame is decoded and drained before its callback runs, and the
	 * loop stops when a callback replaced the connection. */
	while (p->bev == bev) {
		size_t avail = evbuffer_get_length(in);
		if (avail < FRAME_PREFIX_BYTES)
			return;
		uint32_t len = 0;
		int rc = frame_check(evbuffer_pullup(in, FRAME_PREFIX_BYTES), avail,
				     RN_MAX_FRAME_BYTES, &len);
		if (rc == RN_E_AGAIN)
			return;
		if (rc != RN_OK) {
			connection_failed(p, "the peer sent a bad frame");
			return;
		}
		uint8_t *frame = evbuffer_pullup(in, (ev_ssize_t)(FRAME_PREFIX_BYTES + len));
		if (!frame) {
			connection_failed(p, "out of memory reading a frame");
			return;
		}
		Runnel__Response *resp = NULL;
		rc = wire_response_decode(frame + FRAME_PREFIX_BYTES, len, &resp);
		evbuffer_drain(in, FRAME_PREFIX_BYTES + len);
		if (rc != RN_OK) {
			connection_failed(p, "the peer sent a frame that is not a Response");
			return;
		}
		deliver(p, resp);
	}
}

/*
 * True when a socket is connected to itself.  A connect to a port on this
 * host where nothing listens yet can be given that very port as its source
 * port (the port lies in the ephemeral range), and TCP's simultaneous open
 * then "succeeds".  Such a connection reaches no peer, and it holds the port
 * the peer needs to listen on, so it must be closed at once.
 */
static bool connected_to_self(evutil_socket_t fd)
{
	struct sockaddr_storage local, remote;
	socklen_t local_len = sizeof(local), remote_len = sizeof(remote);
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0 ||
	    getpeername(fd, (struct sockaddr *)&remote, &remote_len) != 0)
		return false;
	return local_len == remote_len && memcmp(&local, &remote, local_len) == 0;
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer *p = arg;
	if (what & BEV_EVENT_CONNECTED) {
		if (connected_to_self(bufferevent_getfd(bev))) {
			connection_failed(p, "connected to itself: nothing listens on the peer's port yet");
			return;
		}
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (p->failures > 0)
			LOG_INFO("peer", "node %d at %s:%u: connected", p->node_id, p->addr.host,
				 p->addr.port);
		p->connected = true;
		p->failures = 0;
		p->backoff_ms = PEER_BACKOFF_MIN_MS;
		return;
	}
	if (what & BEV_EVENT_EOF)
		connection_failed(p, "connection closed");
	else if (what & BEV_EVENT_TIMEOUT)
		connection_failed(p, p->connected ? "the peer stopped reading" : "connect timed out");
	else
		connection_failed(p, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* The name is resolved: connect the waiting bufferevent to one address. */
static void resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct lookup *lk = arg;
	struct peer *p = lk->p;
	free(lk);
	if (!p) {
		if (res)
			evutil_freeaddrinfo(res);
		return;
	}
	p->lookup = NULL;
	if (result != 0 || !res) {
		if (res)
			evutil_freeaddrinfo(res);
		connection_failed(p, result ? evutil_gai_strerror(result) : "no address");
		return;
	}
	uint32_t count = 0;
	for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next)
		count++;
	struct evutil_addrinfo *ai = res;
	for (uint32_t i = p->addr_cursor % count; i > 0; i--)
		ai = ai->ai_next;
	int rc = bufferevent_socket_connect(p->bev, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(res);
	if (rc != 0)
		connection_failed(p, "connect failed");
}

/* Starts a connection: the bufferevent exists at once (frames queue in its
 * output while the name resolves), and the connect follows the lookup.  IP
 * literals and /etc/hosts names resolve inside evdns_getaddrinfo, with no
 * DNS traffic; the callback then runs before it returns, and may already
 * have failed the connection. */
static void connect_now(struct peer *p)
{
	RN_ASSERT(p->bev == NULL && p->lookup == NULL && !p->backing_off);
	p->bev = bufferevent_socket_new(p->node->base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct lookup *lk = calloc(1, sizeof(*lk));
	if (!p->bev || !lk) {
		free(lk);
		connection_failed(p, "out of memory");
		return;
	}
	bufferevent_setcb(p->bev, read_cb, NULL, event_cb, p);
	/* The write timeout bounds the lookup and the connect together, and
	 * later a peer that stops reading (a stopped process keeps its socket
	 * open). */
	struct timeval tv = {PEER_CONNECT_TIMEOUT_MS / 1000, (PEER_CONNECT_TIMEOUT_MS % 1000) * 1000};
	bufferevent_set_timeouts(p->bev, NULL, &tv);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	char port[8];
	snprintf(port, sizeof(port), "%u", p->addr.port);
	lk->p = p;
	struct evdns_getaddrinfo_request *req =
		evdns_getaddrinfo(p->node->dns, p->addr.host, port, &hints, resolved_cb, lk);
	/* NULL: resolved_cb already ran (and freed lk). */
	if (req) {
		lk->req = req;
		p->lookup = lk;
	}
}

/* ------------------------------------------------------------------ send */

/* Packs req as one frame into the output, connecting first if needed. */
static int enqueue(struct peer *p, Runnel__Request *req)
{
	if (!p->bev && !p->backing_off)
		connect_now(p);
	if (!p->bev)
		return RN_E_CONNECT;
	struct evbuffer *out = bufferevent_get_output(p->bev);
	size_t queued = evbuffer_get_length(out);
	size_t size = wire_frame_size(&req->base);
	if (size > FRAME_PREFIX_BYTES + RN_MAX_FRAME_BYTES)
		return RN_E_FRAME_TOO_LARGE;
	if (queued > 0 && queued + size > PEER_MAX_QUEUED_BYTES)
		return RN_E_FULL;
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)size, &v, 1) != 1)
		return RN_E_NOMEM;
	size_t n = wire_frame_pack(&req->base, v.iov_base);
	RN_ASSERT(n == size);
	v.iov_len = n;
	return evbuffer_commit_space(out, &v, 1) == 0 ? RN_OK : RN_E_NOMEM;
}

int peer_send(struct peer *p, Runnel__Request *req)
{
	RN_ASSERT(req->header != NULL);
	req->header->correlation_id = 0;
	return enqueue(p, req);
}

int peer_call(struct peer *p, Runnel__Request *req, int32_t timeout_ms, peer_response_cb cb,
	      void *arg)
{
	RN_ASSERT(req->header != NULL && cb != NULL && timeout_ms > 0);
	if (p->call_count >= PEER_MAX_PENDING_CALLS)
		return RN_E_FULL;
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return RN_E_NOMEM;
	c->p = p;
	c->cb = cb;
	c->arg = arg;
	c->timer = evtimer_new(p->node->base, call_timeout_cb, c);
	if (!c->timer) {
		free(c);
		return RN_E_NOMEM;
	}
	/* Ids stay positive and skip 0, which one-way messages use. */
	p->next_correlation_id = p->next_correlation_id == INT32_MAX ? 1 : p->next_correlation_id + 1;
	c->correlation_id = p->next_correlation_id;
	req->header->correlation_id = c->correlation_id;
	int rc = enqueue(p, req);
	if (rc != RN_OK) {
		call_free(c);
		return rc;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
	c->next = p->calls;
	p->calls = c;
	p->call_count++;
	return RN_OK;
}

/* -------------------------------------------------------------- lifetime */

int peer_new(struct node *n, int32_t node_id, const struct config_addr *addr, struct peer **out)
{
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return RN_E_NOMEM;
	p->node = n;
	p->node_id = node_id;
	p->addr = *addr;
	p->backoff_ms = PEER_BACKOFF_MIN_MS;
	p->retry_ev = evtimer_new(n->base, retry_cb, p);
	if (!p->retry_ev) {
		free(p);
		return RN_E_NOMEM;
	}
	*out = p;
	return RN_OK;
}

void peer_free(struct peer *p)
{
	if (!p)
		return;
	lookup_abandon(p);
	if (p->bev)
		bufferevent_free(p->bev);
	p->bev = NULL;
	calls_fail_all(p, RN_E_SHUTTING_DOWN);
	event_free(p->retry_ev);
	free(p);
}
