/* server.c: the listener. */
#include "broker/server.h"

#include "broker/conn.h"
#include "broker/node.h"
#include "common/errors.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Pending connections the kernel queues before accept. */
#define SERVER_BACKLOG 1024
/* How long start-up keeps retrying a listen address that is in use: an
 * outbound connection on this host may hold the port for a moment (see
 * connected_to_self in peer.c), and a previous process may still be exiting. */
#define SERVER_BIND_RETRY_MS 5000
#define SERVER_BIND_RETRY_STEP_MS 100

/* One bound listener; accept_cb's argument. */
struct server_listener {
	struct node *node;
	const struct config_listener *cfg; /* in n->cfg, which outlives the server */
	struct evconnlistener *lev;
};

struct server {
	struct server_listener listeners[CONFIG_MAX_LISTENERS];
	uint32_t count;
	struct event *retry_ev;
	uint64_t refused; /* connections closed at the limit, for the log */
};

static void format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%d", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%d", host, port);
	} else {
		snprintf(out, cap, "unknown");
	}
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct server_listener *sl = arg;
	struct node *n = sl->node;
	(void)lev;
	(void)socklen;
	char peer[CONN_PEER_LEN];
	format_peer(sa, peer, sizeof(peer));
	if (n->stopping || n->conn_count >= RN_MAX_CONNECTIONS) {
		/* Log the first refusal and then every thousandth, so a flood of
		 * connections cannot flood the log too. */
		if (n->server->refused++ % 1000 == 0)
			LOG_WARN("server", "refusing connection from %s: %u connections open (limit %u)",
				 peer, n->conn_count, RN_MAX_CONNECTIONS);
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c;
	if (conn_new(n, fd, peer, sl->cfg->name, &c) != RN_OK)
		LOG_ERROR("server", "out of memory accepting %s", peer);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	(void)fd;
	(void)what;
	if (n->stopping)
		return;
	for (uint32_t i = 0; i < n->server->count; i++)
		evconnlistener_enable(n->server->listeners[i].lev);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct server_listener *sl = arg;
	struct node *n = sl->node;
	int err = EVUTIL_SOCKET_ERROR();
	LOG_WARN("server", "accept failed on listener %s: %s; pausing its accepts for %d ms",
		 sl->cfg->name, evutil_socket_error_to_string(err), NODE_ACCEPT_RETRY_MS);
	/* Out of descriptors: accepting again at once would spin the loop. */
	evconnlistener_disable(lev);
	struct timeval tv = {NODE_ACCEPT_RETRY_MS / 1000, (NODE_ACCEPT_RETRY_MS % 1000) * 1000};
	event_add(n->server->retry_ev, &tv);
}

static int resolve(const struct config_addr *addr, struct addrinfo **res)
{
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	char port[8];
	snprintf(port, sizeof(port), "%u", addr->port);
	int rc = getaddrinfo(addr->host, port, &hints, res);
	if (rc != 0) {
		LOG_ERROR("server", "cannot resolve listen address %s: %s", addr->host,
			  gai_strerror(rc));
		return RN_E_INVALID_CONFIG;
	}
	return RN_OK;
}

/* Binds one listener (disabled until server_enable). */
static int bind_listener(struct node *n, struct server_listener *sl)
{
	const struct config_addr *addr = &sl->cfg->bind;
	struct addrinfo *ai = NULL;
	int rc = resolve(addr, &ai);
	if (rc != RN_OK)
		return rc;
	for (int waited_ms = 0;; waited_ms += SERVER_BIND_RETRY_STEP_MS) {
		sl->lev = evconnlistener_new_bind(n->base, accept_cb, sl,
						  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
							  LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
						  SERVER_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
		if (sl->lev || errno != EADDRINUSE || waited_ms >= SERVER_BIND_RETRY_MS)
			break;
		if (waited_ms == 0)
			LOG_WARN("server", "%s:%u (listener %s) is in use; retrying for up to %d ms",
				 addr->host, addr->port, sl->cfg->name, SERVER_BIND_RETRY_MS);
		/* Start-up, before the event loop runs: sleeping here delays nobody. */
		usleep(SERVER_BIND_RETRY_STEP_MS * 1000);
	}
	freeaddrinfo(ai);
	if (!sl->lev) {
		LOG_ERROR("server", "cannot listen on %s:%u (listener %s): %s", addr->host,
			  addr->port, sl->cfg->name, strerror(errno));
		return RN_E_IO;
	}
	evconnlistener_set_error_cb(sl->lev, accept_error_cb);
	return RN_OK;
}

int server_start(struct node *n)
{
	struct server *s = calloc(1, sizeof(*s));
	if (!s)
		return RN_E_NOMEM;
	n->server = s;
	for (uint32_t i = 0; i < n->cfg.listener_count; i++) {
		struct server_listener *sl = &s->listeners[s->count++];
		sl->node = n;
		sl->cfg = &n->cfg.listeners[i];
		int rc = bind_listener(n, sl);
		if (rc != RN_OK)
			return rc;
	}
	s->retry_ev = evtimer_new(n->base, retry_cb, n);
	if (!s->retry_ev)
		return RN_E_NOMEM;
	return RN_OK;
}

void server_enable(struct node *n)
{
	for (uint32_t i = 0; i < n->server->count; i++) {
		const struct server_listener *sl = &n->server->listeners[i];
		evconnlistener_enable(sl->lev);
		LOG_INFO("server", "accepting connections on %s:%u (listener %s%s, advertised as %s:%u)",
			 sl->cfg->bind.host, sl->cfg->bind.port, sl->cfg->name,
			 i == n->cfg.inter_node ? ", inter-node" : "", sl->cfg->advertise.host,
			 sl->cfg->advertise.port);
	}
}

void server_free(struct node *n)
{
	struct server *s = n->server;
	if (!s)
		return;
	for (uint32_t i = 0; i < s->count; i++)
		if (s->listeners[i].lev)
			evconnlistener_free(s->listeners[i].lev);
	if (s->retry_ev)
		event_free(s->retry_ev);
	free(s);
	n->server = NULL;
}
