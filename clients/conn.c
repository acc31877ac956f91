/* conn.c: non-blocking client connections with pipelined, ordered responses. */
#include "clients/conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include "common/errors.h"
#include "common/rn_assert.h"
#include "wire/frame.h"

/* Bytes read from the socket per read() call, and the initial buffer sizes. */
#define CONN_READ_CHUNK (64u * 1024u)
#define CONN_INITIAL_BUF (64u * 1024u)

int conn_init(struct conn *cn, int32_t node_id, const char *host, int port, uint32_t max_in_flight,
	      int32_t backoff_min_ms, int32_t backoff_max_ms)
{
	RN_ASSERT(max_in_flight >= 1);
	memset(cn, 0, sizeof(*cn));
	if (strlen(host) > RN_MAX_ADDRESS_LEN || port <= 0 || port > 65535)
		return RN_E_INVAL;
	cn->pending = calloc(max_in_flight, sizeof(*cn->pending));
	if (!cn->pending)
		return RN_E_NOMEM;
	cn->node_id = node_id;
	snprintf(cn->host, sizeof(cn->host), "%s", host);
	snprintf(cn->port, sizeof(cn->port), "%d", port);
	cn->fd = -1;
	cn->state = CONN_DOWN;
	cn->max_in_flight = max_in_flight;
	cn->backoff_min_ms = backoff_min_ms;
	cn->backoff_max_ms = backoff_max_ms;
	cn->backoff_ms = backoff_min_ms;
	return 0;
}

static void fail_pending(struct conn *cn, int err)
{
	/* Pop each entry before its callback runs, so the ring is consistent
	 * whatever the callback records. */
	while (cn->pending_count > 0) {
		struct conn_pending p = cn->pending[cn->pending_head];
		cn->pending_head = (cn->pending_head + 1) % cn->max_in_flight;
		cn->pending_count--;
		p.cb(p.opaque, err, NULL);
	}
}

void conn_close(struct conn *cn, int err, int64_t now_ms)
{
	if (cn->fd >= 0)
		close(cn->fd);
	cn->fd = -1;
	cn->state = CONN_DOWN;
	cn->out_len = cn->out_off = 0;
	cn->in_len = 0;
	cn->last_err = err;
	if (err != RN_E_CLOSED)
		cn->failed_at_ms = now_ms > 0 ? now_ms : 1;
	cn->retry_at_ms = now_ms + cn->backoff_ms;
	cn->backoff_ms = cn->backoff_ms * 2 > cn->backoff_max_ms ? cn->backoff_max_ms : cn->backoff_ms * 2;
	fail_pending(cn, err);
}

void conn_destroy(struct conn *cn)
{
	if (cn->pending)
		conn_close(cn, RN_E_CLOSED, 0);
	free(cn->out);
	free(cn->in);
	free(cn->pending);
	memset(cn, 0, sizeof(*cn));
	cn->fd = -1;
}

static int set_socket_options(int fd)
{
	int one = 1;
	int flags = fcntl(fd, F_GETFL, 0);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return rn_err_from_errno(errno);
	/* Requests are whole frames written at once; Nagle would only delay
	 * the small ones (metadata, acks=1 produce) by a round trip. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int start_connect(struct conn *cn, int64_t now_ms)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(cn->host, cn->port, &hints, &res);
	if (gai != 0) {
		snprintf(cn->errmsg, sizeof(cn->errmsg), "cannot resolve %s: %s", cn->host,
			 gai_strerror(gai));
		conn_close(cn, RN_E_CONNECT, now_ms);
		return RN_E_CONNECT;
	}
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0 || set_socket_options(fd) != 0)
		goto fail_socket;
	if (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS)
		goto fail_socket;
	freeaddrinfo(res);
	cn->fd = fd;
	cn->state = CONN_CONNECTING;
	return 0;

fail_socket:
	snprintf(cn->errmsg, sizeof(cn->errmsg), "cannot connect to %s:%s: %s", cn->host, cn->port,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	conn_close(cn, RN_E_CONNECT, now_ms);
	return RN_E_CONNECT;
}

int conn_ensure(struct conn *cn, int64_t now_ms)
{
	if (cn->state != CONN_DOWN || now_ms < cn->retry_at_ms)
		return 0;
	return start_connect(cn, now_ms);
}

int conn_can_send(const struct conn *cn)
{
	return cn->state != CONN_DOWN && cn->pending_count < cn->max_in_flight;
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : CONN_INITIAL_BUF;
	while (ncap < need)
		ncap *= 2;
	uint8_t *nb = realloc(*buf, ncap);
	if (!nb)
		return RN_E_NOMEM;
	*buf = nb;
	*cap = ncap;
	return 0;
}

int conn_send(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms, conn_response_cb cb,
	      void *opaque)
{
	if (cn->state == CONN_DOWN)
		return RN_E_CLOSED;
	if (cb && cn->pending_count >= cn->max_in_flight)
		return RN_E_FULL;
	size_t body = runnel__request__get_packed_size(req);
	if (body > RN_MAX_FRAME_BYTES)
		return RN_E_FRAME_TOO_LARGE;
	/* Compact the output buffer before growing it. */
	if (cn->out_off > 0) {
		memmove(cn->out, cn->out + cn->out_off, cn->out_len - cn->out_off);
		cn->out_len -= cn->out_off;
		cn->out_off = 0;
	}
	if (reserve(&cn->out, &cn->out_cap, cn->out_len + FRAME_PREFIX_BYTES + body) != 0)
		return RN_E_NOMEM;
	uint8_t *p = cn->out + cn->out_len;
	frame_put_prefix(p, (uint32_t)body);
	size_t packed = runnel__request__pack(req, p + FRAME_PREFIX_BYTES);
	RN_ASSERT(packed == body);
	cn->out_len += FRAME_PREFIX_BYTES + body;
	if (cb) {
		uint32_t tail = (cn->pending_head + cn->pending_count) % cn->max_in_flight;
		cn->pending[tail] = (struct conn_pending){
			.correlation_id = req->header->correlation_id,
			.deadline_ms = deadline_ms,
			.cb = cb,
			.opaque = opaque,
		};
		cn->pending_count++;
	}
	return 0;
}

short conn_poll_events(const struct conn *cn)
{
	if (cn->fd < 0)
		return 0;
	if (cn->state == CONN_CONNECTING)
		return POLLOUT;
	return (short)(POLLIN | (cn->out_off < cn->out_len ? POLLOUT : 0));
}

/* True when the socket is connected to itself: connecting to a port on this
 * host where nothing listens can be handed that same port as the source port,
 * and TCP's simultaneous open then "succeeds" with no server at the other end. */
static bool connected_to_self(int fd)
{
	struct sockaddr_storage local, remote;
	socklen_t local_len = sizeof(local), remote_len = sizeof(remote);
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0 ||
	    getpeername(fd, (struct sockaddr *)&remote, &remote_len) != 0)
		return false;
	return local_len == remote_len && memcmp(&local, &remote, local_len) == 0;
}

static int finish_connect(struct conn *cn)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr != 0) {
		snprintf(cn->errmsg, sizeof(cn->errmsg), "cannot connect to %s:%s: %s", cn->host,
			 cn->port, strerror(soerr));
		return RN_E_CONNECT;
	}
	if (connected_to_self(cn->fd)) {
		snprintf(cn->errmsg, sizeof(cn->errmsg), "cannot connect to %s:%s: nothing listens there",
			 cn->host, cn->port);
		return RN_E_CONNECT;
	}
	cn->state = CONN_READY;
	cn->backoff_ms = cn->backoff_min_ms;
	return 0;
}

static int write_out(struct conn *cn)
{
	while (cn->out_off < cn->out_len) {
		ssize_t n = send(cn->fd, cn->out + cn->out_off, cn->out_len - cn->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			snprintf(cn->errmsg, sizeof(cn->errmsg), "write to %s:%s failed: %s", cn->host,
				 cn->port, strerror(errno));
			return RN_E_NETWORK_EXCEPTION;
		}
		cn->out_off += (size_t)n;
	}
	cn->out_off = cn->out_len = 0;
	return 0;
}

static int dispatch_frame(struct conn *cn, const uint8_t *body, uint32_t len)
{
	Runnel__Response *resp = runnel__response__unpack(NULL, len, body);
	if (!resp) {
		snprintf(cn->errmsg, sizeof(cn->errmsg), "undecodable response from %s:%s", cn->host,
			 cn->port);
		return RN_E_MALFORMED_FRAME;
	}
	if (cn->pending_count == 0 ||
	    cn->pending[cn->pending_head].correlation_id != resp->correlation_id) {
		snprintf(cn->errmsg, sizeof(cn->errmsg),
			 "response with unexpected correlation id %d from %s:%s", resp->correlation_id,
			 cn->host, cn->port);
		runnel__response__free_unpacked(resp, NULL);
		return RN_E_MALFORMED_FRAME;
	}
	struct conn_pending p = cn->pending[cn->pending_head];
	cn->pending_head = (cn->pending_head + 1) % cn->max_in_flight;
	cn->pending_count--;
	cn->failed_at_ms = 0;
	p.cb(p.opaque, resp->error_code ? rn_err_from_wire(resp->error_code) : 0, resp);
	return 0;
}

static int parse_frames(struct conn *cn)
{
	size_t off = 0;
	int rc = 0;
	while (off < cn->in_len) {
		uint32_t flen = 0;
		rc = frame_check(cn->in + off, cn->in_len - off, RN_MAX_FRAME_BYTES, &flen);
		if (rc == RN_E_AGAIN) {
			rc = 0;
			break;
		}
		if (rc != 0) {
			snprintf(cn->errmsg, sizeof(cn->errmsg), "bad frame from %s:%s: %s", cn->host,
				 cn->port, rn_strerror(rc));
			break;
		}
		rc = dispatch_frame(cn, cn->in + off + FRAME_PREFIX_BYTES, flen);
		if (rc != 0)
			break;
		off += FRAME_PREFIX_BYTES + flen;
	}
	if (off > 0) {
		memmove(cn->in, cn->in + off, cn->in_len - off);
		cn->in_len -= off;
	}
	return rc;
}

static int read_in(struct conn *cn)
{
	for (;;) {
		if (reserve(&cn->in, &cn->in_cap, cn->in_len + CONN_READ_CHUNK) != 0)
			return RN_E_NOMEM;
		ssize_t n = recv(cn->fd, cn->in + cn->in_len, cn->in_cap - cn->in_len, 0);
		if (n == 0) {
			snprintf(cn->errmsg, sizeof(cn->errmsg), "%s:%s closed the connection", cn->host,
				 cn->port);
			return RN_E_NETWORK_EXCEPTION;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			snprintf(cn->errmsg, sizeof(cn->errmsg), "read from %s:%s failed: %s", cn->host,
				 cn->port, strerror(errno));
			return RN_E_NETWORK_EXCEPTION;
		}
		cn->in_len += (size_t)n;
		int rc = parse_frames(cn);
		if (rc != 0)
			return rc;
		if (cn->state != CONN_READY)
			break;
	}
	return 0;
}

void conn_handle_events(struct conn *cn, short revents, int64_t now_ms)
{
	int rc = 0;
	if (cn->fd < 0 || revents == 0)
		return;
	if (cn->state == CONN_CONNECTING) {
		rc = finish_connect(cn);
		if (rc != 0)
			goto fail;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		rc = read_in(cn);
		if (rc != 0)
			goto fail;
	}
	rc = write_out(cn);
	if (rc != 0)
		goto fail;
	return;
fail:
	conn_close(cn, rc == RN_E_CONNECT ? RN_E_CONNECT : RN_E_NETWORK_EXCEPTION, now_ms);
}

int64_t conn_next_deadline(const struct conn *cn)
{
	if (cn->pending_count == 0)
		return INT64_MAX;
	return cn->pending[cn->pending_head].deadline_ms;
}

void conn_check_timeouts(struct conn *cn, int64_t now_ms)
{
	if (cn->pending_count == 0 || cn->pending[cn->pending_head].deadline_ms > now_ms)
		return;
	snprintf(cn->errmsg, sizeof(cn->errmsg), "request to %s:%s timed out", cn->host, cn->port);
	conn_close(cn, RN_E_REQUEST_TIMED_OUT, now_ms);
}
