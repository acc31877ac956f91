/* conn.c: client connections: frames in, ordered responses out. */
#include "broker/conn.h"

#include "broker/handlers.h"
#include "broker/node.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "wire/codec.h"
#include "wire/frame.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Frames are read into the connection's frame_buf (wire/frame.h) and
 * decoded where they land: the record batches of a Produce request are
 * appended to the log straight from it (wire_request_decode_inplace), so a
 * batch is copied once, by the kernel, on its way in.  Responses collect in
 * an output buffer that is written once per loop turn, after every request
 * read in that turn has had its chance to answer.
 */
struct conn {
	struct node *node;
	evutil_socket_t fd;
	struct event *read_ev;   /* persistent; deleted while paused or closing */
	struct event *write_ev;  /* persistent EV_WRITE, added while output waits
				  * for room; activated by hand to flush */
	struct event *linger_ev; /* closing: how long the last answer may take */
	struct evbuffer *out;    /* framed responses not yet written */
	struct frame_buf in;     /* frames received, decoded in place */
	struct respq q;
	char peer[CONN_PEER_LEN];
	const char *listener; /* name of the listener it arrived on */
	bool paused;        /* reading stopped by back-pressure */
	bool closing;       /* close once the queued output is written */
	bool dead;          /* closed; waiting to be freed */
	bool in_input;      /* process_input is on the stack */
	bool flush_queued;  /* write_ev activated for this turn */
	bool write_waiting; /* write_ev added: the socket was full */
	struct conn *prev;
	struct conn *next; /* node's open list, then its dead list */
};

static void process_input(struct conn *c);

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}

void *req_alloc(struct req *r, size_t n)
{
	void *p = arena_alloc(&r->arena, n);
	/* Response structs are small; failing to get them means the process
	 * is out of memory, and stopping beats answering garbage. */
	RN_ASSERT(p != NULL);
	return p;
}

char *req_strdup(struct req *r, const char *s)
{
	char *p = arena_strdup(&r->arena, s ? s : "");
	RN_ASSERT(p != NULL);
	return p;
}

static void req_free(struct req *r)
{
	if (r->out)
		evbuffer_free(r->out);
	wire_request_free(r->msg);
	arena_free(&r->arena);
	free(r);
}

void req_drop(struct req *r)
{
	RN_ASSERT(r->conn == NULL);
	req_free(r);
}

void req_park(struct req *r, void (*cancel)(struct req *r), void *wait)
{
	RN_ASSERT(cancel != NULL);
	r->cancel = cancel;
	r->wait = wait;
}

/* Writes the queued output once this turn, after the callbacks already
 * running (so that answers to several pipelined requests leave together). */
static void schedule_flush(struct conn *c)
{
	if (c->dead || c->flush_queued)
		return;
	c->flush_queued = true;
	event_active(c->write_ev, EV_WRITE, 1);
}

/* Pauses or resumes reading so one client cannot queue unbounded work. */
static void update_backpressure(struct conn *c)
{
	if (c->dead || c->closing)
		return;
	size_t queued = evbuffer_get_length(c->out);
	bool over = respq_count(&c->q) >= RESPQ_CAPACITY || queued >= RN_MAX_CONN_OUTPUT_BYTES;
	if (over && !c->paused) {
		c->paused = true;
		event_del(c->read_ev);
	} else if (!over && c->paused) {
		c->paused = false;
		event_add(c->read_ev, NULL);
		/* Frames already buffered produce no new read event, so ask for
		 * one; activated, not called, because this may run inside a
		 * partition's wake-up of its waiters, where new requests must
		 * not be handled. */
		if (frame_buf_pending(&c->in))
			event_active(c->read_ev, EV_READ, 1);
	}
}

/* Moves completed responses at the head of the queue to the output. */
static void pump(struct conn *c)
{
	struct req *r;
	bool moved = false;
	while ((r = respq_pop_done(&c->q)) != NULL) {
		evbuffer_add_buffer(c->out, r->out);
		req_free(r);
		moved = true;
	}
	if (moved)
		schedule_flush(c);
	update_backpressure(c);
}

void req_respond_frame(struct req *r, struct evbuffer *out)
{
	struct conn *c = r->conn;
	r->cancel = NULL;
	r->wait = NULL;
	if (!c) {
		evbuffer_free(out);
		req_free(r);
		return;
	}
	RN_ASSERT(r->out == NULL);
	r->out = out;
	respq_mark_done(&c->q, r->seq);
	pump(c);
}

/* Packs resp as one frame at the end of out.  Returns 0 or RN_E_NOMEM. */
static int pack_frame(struct evbuffer *out, const Runnel__Response *resp, size_t body_len)
{
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_PREFIX_BYTES + body_len), &v, 1) != 1)
		return RN_E_NOMEM;
	uint8_t *p = v.iov_base;
	frame_put_prefix(p, (uint32_t)body_len);
	size_t n = protobuf_c_message_pack(&resp->base, p + FRAME_PREFIX_BYTES);
	RN_ASSERT(n == body_len);
	v.iov_len = FRAME_PREFIX_BYTES + body_len;
	return evbuffer_commit_space(out, &v, 1) == 0 ? RN_OK : RN_E_NOMEM;
}

void req_respond(struct req *r, Runnel__Response *resp)
{
	struct conn *c = r->conn;
	r->cancel = NULL;
	r->wait = NULL;
	if (!c) {
		req_free(r);
		return;
	}
	resp->correlation_id = r->correlation_id;
	size_t body_len = protobuf_c_message_get_packed_size(&resp->base);
	Runnel__Response too_large = RUNNEL__RESPONSE__INIT;
	if (body_len > RN_MAX_FRAME_BYTES) {
		LOG_WARN("conn", "peer=%s response of %zu bytes exceeds the frame limit", c->peer,
			 body_len);
		too_large.correlation_id = r->correlation_id;
		too_large.error_code = rn_err_to_wire(RN_E_UNKNOWN_SERVER_ERROR);
		too_large.error_message = "response larger than the frame limit; ask for less";
		resp = &too_large;
		body_len = protobuf_c_message_get_packed_size(&resp->base);
	}
	/* The common case: nothing ahead in the queue, so pack straight into the
	 * socket's output buffer without an intermediate buffer. */
	if (c->q.head == r->seq) {
		int rc = pack_frame(c->out, resp, body_len);
		RN_ASSERT(rc == RN_OK);
		respq_mark_done(&c->q, r->seq);
		RN_ASSERT(respq_pop_done(&c->q) == r);
		req_free(r);
		schedule_flush(c);
		pump(c);
		return;
	}
	struct evbuffer *out = evbuffer_new();
	RN_ASSERT(out != NULL);
	int rc = pack_frame(out, resp, body_len);
	RN_ASSERT(rc == RN_OK);
	req_respond_frame(r, out);
}

void req_fail(struct req *r, int err, const char *message)
{
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.error_code = rn_err_to_wire(err);
	resp.error_message = (char *)(message ? message : rn_strerror(err));
	req_respond(r, &resp);
}

/* Answers a frame that ends the stream (too large, undecodable) and closes
 * once the answer is written: the stream cannot be resynchronised. */
static void reject_stream(struct conn *c, int err, const char *why)
{
	LOG_WARN("conn", "peer=%s %s: %s; closing the connection", c->peer, rn_errname(err), why);
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.correlation_id = 0;
	resp.error_code = rn_err_to_wire(err);
	resp.error_message = (char *)why;
	size_t body_len = protobuf_c_message_get_packed_size(&resp.base);
	/* This answer jumps the queue: earlier requests will never be answered
	 * because the connection closes. */
	if (pack_frame(c->out, &resp, body_len) != RN_OK) {
		conn_close(c);
		return;
	}
	c->closing = true;
	event_del(c->read_ev);
	struct timeval linger = {NODE_CLOSE_LINGER_MS / 1000, (NODE_CLOSE_LINGER_MS % 1000) * 1000};
	evtimer_add(c->linger_ev, &linger);
	schedule_flush(c);
}

static void dispatch_api(struct req *r)
{
	switch (r->msg->header->api_key) {
	case RUNNEL__API_KEY__API_PRODUCE:
		handle_produce(r);
		return;
	case RUNNEL__API_KEY__API_FETCH:
		handle_fetch(r);
		return;
	case RUNNEL__API_KEY__API_LIST_OFFSETS:
		handle_list_offsets(r);
		return;
	case RUNNEL__API_KEY__API_METADATA:
		handle_metadata(r);
		return;
	case RUNNEL__API_KEY__API_API_VERSIONS:
		handle_api_versions(r);
		return;
	case RUNNEL__API_KEY__API_CREATE_TOPICS:
		handle_create_topics(r);
		return;
	case RUNNEL__API_KEY__API_DELETE_TOPICS:
		handle_delete_topics(r);
		return;
	case RUNNEL__API_KEY__API_INCREMENTAL_ALTER_CONFIGS:
		handle_incremental_alter_configs(r);
		return;
	case RUNNEL__API_KEY__API_DESCRIBE_CONFIGS:
		handle_describe_configs(r);
		return;
	case RUNNEL__API_KEY__API_DESCRIBE_QUORUM:
		handle_describe_quorum(r);
		return;
	case RUNNEL__API_KEY__API_BROKER_REGISTRATION:
		handle_broker_registration(r);
		return;
	case RUNNEL__API_KEY__API_BROKER_HEARTBEAT:
		handle_broker_heartbeat(r);
		return;
	case RUNNEL__API_KEY__API_ALTER_PARTITION:
		handle_alter_partition(r);
		return;
	case RUNNEL__API_KEY__API_ELECT_LEADERS:
		handle_elect_leaders(r);
		return;
	case RUNNEL__API_KEY__API_INIT_PRODUCER_ID:
		handle_init_producer_id(r);
		return;
	case RUNNEL__API_KEY__API_RAFT_MESSAGE:
		handle_raft_message(r);
		return;
	case RUNNEL__API_KEY__API_FIND_COORDINATOR:
		handle_find_coordinator(r);
		return;
	case RUNNEL__API_KEY__API_JOIN_GROUP:
		handle_join_group(r);
		return;
	case RUNNEL__API_KEY__API_SYNC_GROUP:
		handle_sync_group(r);
		return;
	case RUNNEL__API_KEY__API_HEARTBEAT:
		handle_heartbeat(r);
		return;
	case RUNNEL__API_KEY__API_LEAVE_GROUP:
		handle_leave_group(r);
		return;
	case RUNNEL__API_KEY__API_OFFSET_COMMIT:
		handle_offset_commit(r);
		return;
	case RUNNEL__API_KEY__API_OFFSET_FETCH:
		handle_offset_fetch(r);
		return;
	case RUNNEL__API_KEY__API_DESCRIBE_GROUPS:
		handle_describe_groups(r);
		return;
	case RUNNEL__API_KEY__API_LIST_GROUPS:
		handle_list_groups(r);
		return;
	case RUNNEL__API_KEY__API_DELETE_GROUPS:
		handle_delete_groups(r);
		return;
	default:
		/* wire_request_check accepted only keys in the API table. */
		req_fail(r, RN_E_UNSUPPORTED_API, NULL);
		return;
	}
}

/* A request forwarded by another node names its client's listener: the
 * answer is for that listener.  Returns 0 or RN_E_INVALID_REQUEST. */
static int take_forwarded_listener(struct req *r, const char **why)
{
	const char *name = r->msg->header->forwarded_listener;
	if (!name || !name[0])
		return RN_OK;
	if (strnlen(name, CONFIG_MAX_LISTENER_NAME_LEN + 1) > CONFIG_MAX_LISTENER_NAME_LEN) {
		*why = "forwarded_listener too long";
		return RN_E_INVALID_REQUEST;
	}
	r->listener = name;
	r->no_forward = true;
	return RN_OK;
}

static void dispatch(struct conn *c, Runnel__Request *msg)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r) {
		wire_request_free(msg);
		LOG_ERROR("conn", "peer=%s out of memory; closing the connection", c->peer);
		conn_close(c);
		return;
	}
	r->node = c->node;
	r->msg = msg;
	r->correlation_id = msg->header ? msg->header->correlation_id : 0;
	arena_init(&r->arena);
	memcpy(r->peer, c->peer, sizeof(r->peer));
	r->listener = c->listener;

	const char *why = NULL;
	int rc = wire_request_check(msg, &why);
	if (rc == RN_OK)
		rc = take_forwarded_listener(r, &why);
	/* A produce with acks=0 and a Raft message are never answered, so they
	 * take no slot. */
	bool silent = rc == RN_OK && ((msg->body_case == RUNNEL__REQUEST__BODY_PRODUCE &&
				       msg->produce->acks == 0) ||
				      msg->body_case == RUNNEL__REQUEST__BODY_RAFT_MESSAGE);
	if (!silent) {
		int qrc = respq_push(&c->q, r, &r->seq);
		/* Reading pauses at capacity, so a slot is always free here. */
		RN_ASSERT(qrc == RN_OK);
		r->conn = c;
	}
	if (rc != RN_OK) {
		LOG_WARN("conn", "peer=%s correlation_id=%d refused: %s (%s)", c->peer,
			 r->correlation_id, rn_errname(rc), why ? why : rn_strerror(rc));
		req_fail(r, rc, why);
		return;
	}
	dispatch_api(r);
}

/* Reads and dispatches every complete frame in the receive buffer.  A
 * Produce request's batches point into the buffer: the handler appends them
 * before it returns, and the bytes are reused after. */
static void process_input(struct conn *c)
{
	if (c->in_input || c->dead)
		return;
	c->in_input = true;
	while (!c->dead && !c->closing && !c->paused) {
		uint8_t *body = NULL;
		uint32_t len = 0;
		int rc = frame_buf_next(&c->in, &body, &len);
		if (rc == RN_E_AGAIN)
			break;
		if (rc != RN_OK) {
			char why[128];
			snprintf(why, sizeof(why), "frame of %u bytes (limit %u)", len,
				 RN_MAX_FRAME_BYTES);
			reject_stream(c, rc, why);
			break;
		}
		Runnel__Request *msg = NULL;
		rc = wire_request_decode_inplace(body, len, &msg);
		if (rc == RN_E_NOMEM) {
			LOG_ERROR("conn", "peer=%s out of memory decoding a frame", c->peer);
			conn_close(c);
			break;
		}
		if (rc != RN_OK) {
			reject_stream(c, RN_E_MALFORMED_FRAME, "the frame is not a valid Request");
			break;
		}
		dispatch(c, msg);
		update_backpressure(c);
	}
	c->in_input = false;
}

/* Reads what the socket holds.  Returns 1 when bytes arrived, 0 when none
 * were waiting, -1 when the connection closed. */
static int fill(struct conn *c)
{
	size_t got = 0;
	int rc = frame_buf_read(&c->in, c->fd, &got);
	if (rc == RN_OK && got > 0)
		return 1;
	if (rc == RN_E_AGAIN)
		return 0;
	if (rc == RN_E_NOMEM)
		LOG_ERROR("conn", "peer=%s out of memory reading a frame", c->peer);
	else if (rc == RN_OK)
		LOG_DEBUG("conn", "peer=%s closed the connection", c->peer);
	else
		LOG_DEBUG("conn", "peer=%s connection error: %s", c->peer, strerror(errno));
	conn_close(c);
	return -1;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	/* Frames left over from before a pause first, then what arrived. */
	process_input(c);
	if (c->dead || c->closing || c->paused)
		return;
	if (fill(c) > 0)
		process_input(c);
}

/* Writes as much of the output as the socket takes; waits for room for the
 * rest.  Closes a closing connection once everything is written. */
static void flush_output(struct conn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		/* libevent returns 0 for a sendfile that would block (errno
		 * EAGAIN) and for one that finds its file shorter than the
		 * slice (errno untouched): clearing errno tells them apart. */
		errno = 0;
		int n = evbuffer_write_atmost(c->out, c->fd, -1);
		if (n > 0)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			break;
		LOG_DEBUG("conn", "peer=%s connection error: %s", c->peer,
			  n == 0 ? "nothing written" : strerror(errno));
		conn_close(c);
		return;
	}
	bool pending = evbuffer_get_length(c->out) > 0;
	if (pending && !c->write_waiting)
		event_add(c->write_ev, NULL);
	else if (!pending && c->write_waiting)
		event_del(c->write_ev);
	c->write_waiting = pending;
	if (!pending && c->closing) {
		conn_close(c);
		return;
	}
	update_backpressure(c);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	c->flush_queued = false;
	if (!c->dead)
		flush_output(c);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	LOG_DEBUG("conn", "peer=%s did not take its last response in time", c->peer);
	conn_close(c);
}

/* Frees what conn_new made; the socket is closed. */
static void conn_release(struct conn *c)
{
	if (c->read_ev)
		event_free(c->read_ev);
	if (c->write_ev)
		event_free(c->write_ev);
	if (c->linger_ev)
		event_free(c->linger_ev);
	if (c->out)
		evbuffer_free(c->out);
	frame_buf_free(&c->in);
	free(c);
}

int conn_new(struct node *n, int fd, const char *peer, const char *listener, struct conn **out)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return RN_E_NOMEM;
	}
	c->node = n;
	c->fd = fd;
	respq_init(&c->q);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->listener = listener;
	frame_buf_init(&c->in, CONN_RECV_BUFFER_BYTES, RN_MAX_FRAME_BYTES);
	evutil_make_socket_nonblocking(fd);
	c->read_ev = event_new(n->base, fd, EV_READ | EV_PERSIST, read_cb, c);
	c->write_ev = event_new(n->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	c->linger_ev = evtimer_new(n->base, linger_cb, c);
	c->out = evbuffer_new();
	if (!c->read_ev || !c->write_ev || !c->linger_ev || !c->out) {
		close(fd);
		conn_release(c);
		return RN_E_NOMEM;
	}
	/* Fetch responses carry file segments; they stay sendfile chains
	 * only in a buffer that promises to drain to a socket, which this
	 * one does (flush_output). */
	evbuffer_set_flags(c->out, EVBUFFER_FLAG_DRAINS_TO_FD);
	event_add(c->read_ev, NULL);
	c->next = n->conns;
	if (n->conns)
		n->conns->prev = c;
	n->conns = c;
	n->conn_count++;
	LOG_DEBUG("conn", "peer=%s connected (%u open)", c->peer, n->conn_count);
	*out = c;
	return RN_OK;
}

void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	struct req *r;
	while ((r = respq_pop_any(&c->q)) != NULL) {
		r->conn = NULL;
		if (r->out) {
			req_free(r);
			continue;
		}
		/* Only a parked request can be pending here: handlers run to
		 * completion or park before the loop runs another callback. */
		RN_ASSERT(r->cancel != NULL);
		void (*cancel)(struct req *) = r->cancel;
		r->cancel = NULL;
		cancel(r);
	}
	/* The events are freed with the connection at the end of the turn:
	 * this may run inside one of their callbacks. */
	event_del(c->read_ev);
	event_del(c->write_ev);
	event_del(c->linger_ev);
	evbuffer_free(c->out);
	c->out = NULL;
	close(c->fd);
	c->fd = -1;
	struct node *n = c->node;
	if (c->prev)
		c->prev->next = c->next;
	else
		n->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	n->conn_count--;
	/* Callbacks further up the stack may still hold c; free it at the end
	 * of the turn. */
	c->prev = NULL;
	c->next = n->dead_conns;
	n->dead_conns = c;
	node_schedule_turn(n);
}

void conn_free_dead(struct node *n)
{
	while (n->dead_conns) {
		struct conn *c = n->dead_conns;
		n->dead_conns = c->next;
		RN_ASSERT(c->dead);
		conn_release(c);
	}
}

void conn_close_all(struct node *n)
{
	while (n->conns)
		conn_close(n->conns);
}
