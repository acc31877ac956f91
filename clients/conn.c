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
#include <sys/uio.h>
#include <unistd.h>
#include <fcntl.h>

#include "common/errors.h"
#include "common/rn_assert.h"
#include "clients/pbwalk.h"
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
		if (p.raw_cb)
			p.raw_cb(p.opaque, err, NULL, NULL, 0);
		else
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
	cn->seg_head = cn->seg_count = 0;
	cn->out_queued = cn->out_written = 0;
	cn->in_len = 0;
	free(cn->direct);
	cn->direct = NULL;
	cn->direct_len = cn->direct_need = 0;
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
	free(cn->segs);
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

/* Makes room for one more segment at the tail of the queue. */
static int reserve_seg(struct conn *cn)
{
	if (cn->seg_head + cn->seg_count < cn->seg_cap)
		return 0;
	if (cn->seg_head > 0) {
		memmove(cn->segs, cn->segs + cn->seg_head, cn->seg_count * sizeof(*cn->segs));
		cn->seg_head = 0;
		if (cn->seg_count < cn->seg_cap)
			return 0;
	}
	size_t ncap = cn->seg_cap ? cn->seg_cap * 2 : CONN_MAX_IOV;
	struct conn_out_seg *ns = realloc(cn->segs, ncap * sizeof(*ns));
	if (!ns)
		return RN_E_NOMEM;
	cn->segs = ns;
	cn->seg_cap = ncap;
	return 0;
}

/* Moves the unwritten own bytes to the front of the buffer, so that it does
 * not grow while the socket keeps up. */
static void compact_out(struct conn *cn)
{
	if (cn->out_off == 0)
		return;
	memmove(cn->out, cn->out + cn->out_off, cn->out_len - cn->out_off);
	for (size_t i = 0; i < cn->seg_count; i++) {
		struct conn_out_seg *sg = &cn->segs[cn->seg_head + i];
		if (!sg->ref)
			sg->off -= cn->out_off;
	}
	cn->out_len -= cn->out_off;
	cn->out_off = 0;
}

/* Queues out[off..off+len) (bytes already in the buffer), joining the last
 * segment when it ends there. */
static int queue_own(struct conn *cn, size_t off, size_t len)
{
	if (cn->seg_count > 0) {
		struct conn_out_seg *last = &cn->segs[cn->seg_head + cn->seg_count - 1];
		if (!last->ref && last->off + last->len == off) {
			last->len += len;
			cn->out_queued += len;
			return 0;
		}
	}
	if (reserve_seg(cn) != 0)
		return RN_E_NOMEM;
	cn->segs[cn->seg_head + cn->seg_count++] = (struct conn_out_seg){NULL, off, len};
	cn->out_queued += len;
	return 0;
}

/* Copies data into the connection's buffer and queues it. */
static int queue_copy(struct conn *cn, const void *data, size_t len)
{
	if (reserve(&cn->out, &cn->out_cap, cn->out_len + len) != 0)
		return RN_E_NOMEM;
	memcpy(cn->out + cn->out_len, data, len);
	cn->out_len += len;
	return queue_own(cn, cn->out_len - len, len);
}

static int queue_ref(struct conn *cn, const uint8_t *data, size_t len)
{
	if (reserve_seg(cn) != 0)
		return RN_E_NOMEM;
	cn->segs[cn->seg_head + cn->seg_count++] = (struct conn_out_seg){data, 0, len};
	cn->out_queued += len;
	return 0;
}

/* A protobuf-c output buffer that queues what the packer hands it: large
 * byte strings by reference, everything else copied. */
struct ref_packer {
	ProtobufCBuffer base;
	struct conn *cn;
	int err;
};

static void ref_packer_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data)
{
	struct ref_packer *rp = (struct ref_packer *)buf;
	if (rp->err != 0 || len == 0)
		return;
	if (len >= CONN_REF_MIN_BYTES)
		rp->err = queue_ref(rp->cn, data, len);
	else
		rp->err = queue_copy(rp->cn, data, len);
}

/* Remembers a queued request in the FIFO of pending responses. */
static void push_pending(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms,
			 conn_response_cb cb, conn_raw_cb raw_cb, void *opaque)
{
	uint32_t tail = (cn->pending_head + cn->pending_count) % cn->max_in_flight;
	cn->pending[tail] = (struct conn_pending){
		.correlation_id = req->header->correlation_id,
		.deadline_ms = deadline_ms,
		.cb = cb,
		.raw_cb = raw_cb,
		.opaque = opaque,
		.out_end = cn->out_queued,
	};
	cn->pending_count++;
}

/* Checks whether a request may be queued; sets *body to its packed size. */
static int send_check(const struct conn *cn, const Runnel__Request *req, int wants_answer,
		      size_t *body)
{
	if (cn->state == CONN_DOWN)
		return RN_E_CLOSED;
	if (wants_answer && cn->pending_count >= cn->max_in_flight)
		return RN_E_FULL;
	*body = runnel__request__get_packed_size(req);
	if (*body > RN_MAX_FRAME_BYTES)
		return RN_E_FRAME_TOO_LARGE;
	return 0;
}

/* Packs req into the connection's own buffer and queues it. */
static int send_copy(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms,
		     conn_response_cb cb, conn_raw_cb raw_cb, void *opaque)
{
	size_t body = 0;
	int rc = send_check(cn, req, cb || raw_cb, &body);
	if (rc != 0)
		return rc;
	compact_out(cn);
	if (reserve(&cn->out, &cn->out_cap, cn->out_len + FRAME_PREFIX_BYTES + body) != 0 ||
	    reserve_seg(cn) != 0)
		return RN_E_NOMEM;
	uint8_t *p = cn->out + cn->out_len;
	frame_put_prefix(p, (uint32_t)body);
	size_t packed = runnel__request__pack(req, p + FRAME_PREFIX_BYTES);
	RN_ASSERT(packed == body);
	cn->out_len += FRAME_PREFIX_BYTES + body;
	rc = queue_own(cn, cn->out_len - FRAME_PREFIX_BYTES - body, FRAME_PREFIX_BYTES + body);
	RN_ASSERT(rc == 0); /* the segment was reserved above */
	if (cb || raw_cb)
		push_pending(cn, req, deadline_ms, cb, raw_cb, opaque);
	return 0;
}

int conn_send(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms, conn_response_cb cb,
	      void *opaque)
{
	return send_copy(cn, req, deadline_ms, cb, NULL, opaque);
}

int conn_send_raw(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms, conn_raw_cb cb,
		  void *opaque)
{
	RN_ASSERT(cb != NULL);
	return send_copy(cn, req, deadline_ms, NULL, cb, opaque);
}

int conn_send_ref(struct conn *cn, const Runnel__Request *req, int64_t deadline_ms,
		  conn_response_cb cb, void *opaque)
{
	RN_ASSERT(cb != NULL);
	size_t body = 0;
	int rc = send_check(cn, req, 1, &body);
	if (rc != 0)
		return rc;
	compact_out(cn);
	/* Undone on failure, so that no half request is ever queued. */
	size_t old_len = cn->out_len, old_segs = cn->seg_count;
	uint64_t old_queued = cn->out_queued;
	uint8_t prefix[FRAME_PREFIX_BYTES];
	frame_put_prefix(prefix, (uint32_t)body);
	struct ref_packer rp = {.base = {.append = ref_packer_append}, .cn = cn};
	rp.err = queue_copy(cn, prefix, sizeof(prefix));
	size_t packed = rp.err == 0 ? runnel__request__pack_to_buffer(req, &rp.base) : 0;
	if (rp.err != 0) {
		cn->out_len = old_len;
		cn->seg_count = old_segs;
		cn->out_queued = old_queued;
		/* The last kept segment may have been joined by the copy. */
		if (old_segs > 0) {
			struct conn_out_seg *last = &cn->segs[cn->seg_head + old_segs - 1];
			if (!last->ref && last->off + last->len > old_len)
				last->len = old_len - last->off;
		}
		return rp.err;
	}
	RN_ASSERT(packed == body);
	push_pending(cn, req, deadline_ms, cb, NULL, opaque);
	return 0;
}

short conn_poll_events(const struct conn *cn)
{
	if (cn->fd < 0)
		return 0;
	if (cn->state == CONN_CONNECTING)
		return POLLOUT;
	return (short)(POLLIN | (conn_out_pending(cn) > 0 ? POLLOUT : 0));
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

/* Marks n bytes of the queue written. */
static void consume_out(struct conn *cn, size_t n)
{
	cn->out_written += n;
	while (n > 0) {
		struct conn_out_seg *sg = &cn->segs[cn->seg_head];
		size_t k = n < sg->len ? n : sg->len;
		if (sg->ref)
			sg->ref += k;
		else {
			sg->off += k;
			cn->out_off += k;
		}
		sg->len -= k;
		n -= k;
		if (sg->len == 0) {
			cn->seg_head++;
			cn->seg_count--;
		}
	}
	if (cn->seg_count == 0) {
		cn->seg_head = 0;
		cn->out_off = cn->out_len = 0;
	}
}

static int write_out(struct conn *cn)
{
	while (cn->seg_count > 0) {
		struct iovec iov[CONN_MAX_IOV];
		size_t n = cn->seg_count < CONN_MAX_IOV ? cn->seg_count : CONN_MAX_IOV;
		for (size_t i = 0; i < n; i++) {
			const struct conn_out_seg *sg = &cn->segs[cn->seg_head + i];
			iov[i].iov_base = (void *)(sg->ref ? sg->ref : cn->out + sg->off);
			iov[i].iov_len = sg->len;
		}
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n};
		ssize_t w = sendmsg(cn->fd, &msg, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			snprintf(cn->errmsg, sizeof(cn->errmsg), "write to %s:%s failed: %s", cn->host,
				 cn->port, strerror(errno));
			return RN_E_NETWORK_EXCEPTION;
		}
		consume_out(cn, (size_t)w);
	}
	return 0;
}

/* The correlation id of an encoded Response (field 1; 0 when absent). */
static int peek_correlation_id(const uint8_t *body, size_t len, int32_t *id)
{
	struct pbwalk w;
	struct pbfield f;
	int rc;
	*id = 0;
	pbwalk_init(&w, body, len);
	while ((rc = pbwalk_next(&w, &f)) == 1)
		if (f.number == 1 && f.wire_type == PBWALK_VARINT)
			*id = pbfield_int32(&f);
	return rc;
}

/* Checks that a response with correlation id id answers the head of the
 * FIFO, whose request was written in full.  Returns 0 or
 * RN_E_MALFORMED_FRAME (with errmsg set). */
static int check_head(struct conn *cn, int32_t id)
{
	if (cn->pending_count == 0 || cn->pending[cn->pending_head].correlation_id != id) {
		snprintf(cn->errmsg, sizeof(cn->errmsg),
			 "response with unexpected correlation id %d from %s:%s", id, cn->host,
			 cn->port);
		return RN_E_MALFORMED_FRAME;
	}
	if (cn->pending[cn->pending_head].out_end > cn->out_written) {
		snprintf(cn->errmsg, sizeof(cn->errmsg),
			 "response from %s:%s to a request not yet sent in full", cn->host,
			 cn->port);
		return RN_E_MALFORMED_FRAME;
	}
	return 0;
}

static struct conn_pending pop_head(struct conn *cn)
{
	struct conn_pending p = cn->pending[cn->pending_head];
	cn->pending_head = (cn->pending_head + 1) % cn->max_in_flight;
	cn->pending_count--;
	cn->failed_at_ms = 0;
	return p;
}

static int head_is_raw(const struct conn *cn)
{
	return cn->pending_count > 0 && cn->pending[cn->pending_head].raw_cb != NULL;
}

/* Hands a raw frame body[0..len), inside buf (owned; freed on error), to the
 * head request's callback. */
static int dispatch_raw(struct conn *cn, uint8_t *buf, const uint8_t *body, size_t len)
{
	int32_t id;
	int rc = peek_correlation_id(body, len, &id);
	if (rc != 0)
		snprintf(cn->errmsg, sizeof(cn->errmsg), "undecodable response from %s:%s", cn->host,
			 cn->port);
	else
		rc = check_head(cn, id);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	struct conn_pending p = pop_head(cn);
	p.raw_cb(p.opaque, 0, buf, body, len);
	return 0;
}

static int dispatch_frame(struct conn *cn, const uint8_t *body, uint32_t len)
{
	if (head_is_raw(cn)) {
		uint8_t *copy = malloc(len);
		if (!copy) {
			snprintf(cn->errmsg, sizeof(cn->errmsg), "out of memory for a response");
			return RN_E_NOMEM;
		}
		memcpy(copy, body, len);
		return dispatch_raw(cn, copy, copy, len);
	}
	Runnel__Response *resp = runnel__response__unpack(NULL, len, body);
	if (!resp) {
		snprintf(cn->errmsg, sizeof(cn->errmsg), "undecodable response from %s:%s", cn->host,
			 cn->port);
		return RN_E_MALFORMED_FRAME;
	}
	int rc = check_head(cn, resp->correlation_id);
	if (rc != 0) {
		runnel__response__free_unpacked(resp, NULL);
		return rc;
	}
	struct conn_pending p = pop_head(cn);
	p.cb(p.opaque, resp->error_code ? rn_err_from_wire(resp->error_code) : 0, resp);
	return 0;
}

/* Moves the start of a large raw frame, whose prefix is at in[off], into a
 * buffer of its own; the rest of it will be read straight into that buffer. */
static int start_direct(struct conn *cn, size_t off, uint32_t flen)
{
	size_t have = cn->in_len - off - FRAME_PREFIX_BYTES;
	RN_ASSERT(have < flen);
	cn->direct = malloc(flen);
	if (!cn->direct) {
		snprintf(cn->errmsg, sizeof(cn->errmsg), "out of memory for a response");
		return RN_E_NOMEM;
	}
	memcpy(cn->direct, cn->in + off + FRAME_PREFIX_BYTES, have);
	cn->direct_len = have;
	cn->direct_need = flen;
	cn->in_len = off;
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
			if (flen >= CONN_DIRECT_FRAME_BYTES && head_is_raw(cn))
				rc = start_direct(cn, off, flen);
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

/* Takes n more bytes of the frame being read directly; dispatches it once
 * whole. */
static int direct_received(struct conn *cn, size_t n)
{
	cn->direct_len += n;
	if (cn->direct_len < cn->direct_need)
		return 0;
	uint8_t *buf = cn->direct;
	size_t len = cn->direct_need;
	cn->direct = NULL;
	cn->direct_len = cn->direct_need = 0;
	return dispatch_raw(cn, buf, buf, len);
}

static int read_in(struct conn *cn)
{
	for (;;) {
		uint8_t *dst;
		size_t room;
		if (cn->direct) {
			dst = cn->direct + cn->direct_len;
			room = cn->direct_need - cn->direct_len;
		} else {
			if (reserve(&cn->in, &cn->in_cap, cn->in_len + CONN_READ_CHUNK) != 0)
				return RN_E_NOMEM;
			dst = cn->in + cn->in_len;
			room = cn->in_cap - cn->in_len;
		}
		ssize_t n = recv(cn->fd, dst, room, 0);
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
		int rc;
		if (cn->direct) {
			rc = direct_received(cn, (size_t)n);
		} else {
			cn->in_len += (size_t)n;
			rc = parse_frames(cn);
		}
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
