/* test_conn.c: a client connection on a real socket: bytes sent by reference, raw answers, early answers. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clients/conn.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/rn_assert.h"
#include "test/unit/harness.h"
#include "wire/batch.h"
#include "wire/frame.h"

/* Every wait in these tests ends after this long. */
#define WAIT_MS 10000
#define BIG_RECORDS (300u * 1024u)
#define SMALL_RECORDS 100u

/* The node's end: a listening socket and the accepted connection. */
struct peer {
	int listen_fd;
	int fd;
	uint8_t *in;
	size_t in_len, in_cap;
};

static int peer_listen(struct peer *pr)
{
	memset(pr, 0, sizeof(*pr));
	pr->fd = -1;
	pr->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (pr->listen_fd < 0 || bind(pr->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(pr->listen_fd, 4) != 0 ||
	    getsockname(pr->listen_fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	return ntohs(a.sin_port);
}

static void peer_close(struct peer *pr)
{
	if (pr->fd >= 0)
		close(pr->fd);
	close(pr->listen_fd);
	free(pr->in);
}

/* Lets the connection do whatever I/O is ready, waiting up to ms. */
static void pump(struct conn *cn, int ms)
{
	struct pollfd pfd = {.fd = cn->fd, .events = conn_poll_events(cn)};
	if (pfd.events == 0)
		return;
	if (poll(&pfd, 1, ms) > 0)
		conn_handle_events(cn, pfd.revents, rn_mono_ms());
}

/* Connects cn to the peer and accepts on the peer's side. */
static int connect_pair(struct conn *cn, struct peer *pr, int port)
{
	if (conn_init(cn, 1, "127.0.0.1", port, 4, 10, 100) != 0 ||
	    conn_ensure(cn, rn_mono_ms()) != 0)
		return -1;
	pr->fd = accept(pr->listen_fd, NULL, NULL);
	int64_t end = rn_mono_ms() + WAIT_MS;
	while (cn->state == CONN_CONNECTING && rn_mono_ms() < end)
		pump(cn, 100);
	return pr->fd >= 0 && cn->state == CONN_READY ? 0 : -1;
}

/* Reads one whole request frame on the peer's side while pumping the
 * client, and unpacks it.  NULL on timeout or a bad frame. */
static Runnel__Request *peer_read_request(struct peer *pr, struct conn *cn)
{
	int64_t end = rn_mono_ms() + WAIT_MS;
	uint32_t flen = 0;
	while (rn_mono_ms() < end) {
		if (pr->in_len >= FRAME_PREFIX_BYTES) {
			flen = be_get32(pr->in);
			if (pr->in_len >= FRAME_PREFIX_BYTES + flen)
				break;
		}
		pump(cn, 1);
		if (pr->in_cap - pr->in_len < 65536) {
			pr->in_cap = pr->in_cap ? pr->in_cap * 2 : 1 << 20;
			pr->in = realloc(pr->in, pr->in_cap);
			RN_ASSERT(pr->in != NULL);
		}
		size_t room = pr->in_cap - pr->in_len;
		ssize_t n = recv(pr->fd, pr->in + pr->in_len, room, MSG_DONTWAIT);
		if (n > 0)
			pr->in_len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return NULL;
	}
	if (pr->in_len < FRAME_PREFIX_BYTES + flen)
		return NULL;
	Runnel__Request *req = runnel__request__unpack(NULL, flen, pr->in + FRAME_PREFIX_BYTES);
	memmove(pr->in, pr->in + FRAME_PREFIX_BYTES + flen, pr->in_len - FRAME_PREFIX_BYTES - flen);
	pr->in_len -= FRAME_PREFIX_BYTES + flen;
	return req;
}

/* Packs resp into a frame (malloc'ed), setting *len. */
static uint8_t *frame_of(const Runnel__Response *resp, size_t *len)
{
	size_t body = runnel__response__get_packed_size(resp);
	uint8_t *f = malloc(FRAME_PREFIX_BYTES + body);
	RN_ASSERT(f != NULL);
	frame_put_prefix(f, (uint32_t)body);
	RN_ASSERT(runnel__response__pack(resp, f + FRAME_PREFIX_BYTES) == body);
	*len = FRAME_PREFIX_BYTES + body;
	return f;
}

/* Writes len bytes on the peer's side in pieces of at most piece bytes,
 * pumping the client between them. */
static int peer_write(struct peer *pr, struct conn *cn, const uint8_t *p, size_t len, size_t piece)
{
	int64_t end = rn_mono_ms() + WAIT_MS;
	size_t off = 0;
	while (off < len && rn_mono_ms() < end) {
		size_t k = len - off < piece ? len - off : piece;
		ssize_t n = send(pr->fd, p + off, k, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		pump(cn, 1);
	}
	return off == len ? 0 : -1;
}

/* What a callback saw. */
struct answer {
	int calls;
	int err;
	Runnel__Response *resp;
	uint8_t *buf;
	const uint8_t *body;
	size_t len;
};

static void answer_cb(void *opaque, int err, Runnel__Response *resp)
{
	struct answer *a = opaque;
	a->calls++;
	a->err = err;
	a->resp = resp;
}

static void raw_cb(void *opaque, int err, uint8_t *buf, const uint8_t *body, size_t len)
{
	struct answer *a = opaque;
	a->calls++;
	a->err = err;
	a->buf = buf;
	a->body = body;
	a->len = len;
}

static void wait_answer(struct conn *cn, const struct answer *a)
{
	int64_t end = rn_mono_ms() + WAIT_MS;
	while (a->calls == 0 && cn->state == CONN_READY && rn_mono_ms() < end)
		pump(cn, 10);
}

/* A Produce request for two partitions, one batch of each size. */
struct produce_req {
	Runnel__PartitionProduceData pd[2];
	Runnel__PartitionProduceData *pdp[2];
	Runnel__TopicProduceData td;
	Runnel__TopicProduceData *tdp;
	Runnel__ProduceRequest pr;
	Runnel__RequestHeader hdr;
	Runnel__Request req;
};

static void produce_req_init(struct produce_req *r, uint8_t *big, size_t big_len, uint8_t *small,
			     size_t small_len, int32_t correlation_id)
{
	for (int i = 0; i < 2; i++) {
		runnel__partition_produce_data__init(&r->pd[i]);
		r->pd[i].partition = i;
		r->pdp[i] = &r->pd[i];
	}
	r->pd[0].records = (ProtobufCBinaryData){big_len, big};
	r->pd[1].records = (ProtobufCBinaryData){small_len, small};
	runnel__topic_produce_data__init(&r->td);
	r->td.name = "t";
	r->td.n_partitions = 2;
	r->td.partitions = r->pdp;
	r->tdp = &r->td;
	runnel__produce_request__init(&r->pr);
	r->pr.acks = 1;
	r->pr.n_topics = 1;
	r->pr.topics = &r->tdp;
	runnel__request_header__init(&r->hdr);
	r->hdr.correlation_id = correlation_id;
	r->hdr.client_id = "test";
	runnel__request__init(&r->req);
	r->req.header = &r->hdr;
	r->req.body_case = RUNNEL__REQUEST__BODY_PRODUCE;
	r->req.produce = &r->pr;
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);
	RN_ASSERT(p != NULL);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31u + seed);
	return p;
}

TEST(large_byte_strings_go_by_reference)
{
	struct peer pr;
	struct conn cn;
	int port = peer_listen(&pr);
	CHECK(port > 0);
	CHECK_OK(connect_pair(&cn, &pr, port));
	uint8_t *big = pattern(BIG_RECORDS, 1), *small = pattern(SMALL_RECORDS, 2);
	struct produce_req r;
	struct answer a = {0};
	produce_req_init(&r, big, BIG_RECORDS, small, SMALL_RECORDS, 11);
	CHECK_OK(conn_send_ref(&cn, &r.req, rn_mono_ms() + WAIT_MS, answer_cb, &a));
	/* The big batch is queued where it lies; the small one was copied. */
	int big_ref = 0, small_ref = 0;
	for (size_t i = 0; i < cn.seg_count; i++) {
		const struct conn_out_seg *sg = &cn.segs[cn.seg_head + i];
		big_ref += sg->ref == big && sg->len == BIG_RECORDS;
		small_ref += sg->ref == small;
	}
	CHECK_EQ_INT(big_ref, 1);
	CHECK_EQ_INT(small_ref, 0);
	size_t frame_len = FRAME_PREFIX_BYTES + runnel__request__get_packed_size(&r.req);
	CHECK_EQ_INT(conn_out_pending(&cn), frame_len);

	Runnel__Request *got = peer_read_request(&pr, &cn);
	CHECK(got && got->body_case == RUNNEL__REQUEST__BODY_PRODUCE);
	CHECK_EQ_INT(got->header->correlation_id, 11);
	Runnel__PartitionProduceData **gp = got->produce->topics[0]->partitions;
	CHECK(gp[0]->records.len == BIG_RECORDS &&
	      memcmp(gp[0]->records.data, big, BIG_RECORDS) == 0);
	CHECK(gp[1]->records.len == SMALL_RECORDS &&
	      memcmp(gp[1]->records.data, small, SMALL_RECORDS) == 0);
	runnel__request__free_unpacked(got, NULL);
	CHECK_EQ_INT(conn_out_pending(&cn), 0);

	Runnel__ProduceResponse prr = RUNNEL__PRODUCE_RESPONSE__INIT;
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.correlation_id = 11;
	resp.body_case = RUNNEL__RESPONSE__BODY_PRODUCE;
	resp.produce = &prr;
	size_t flen;
	uint8_t *frame = frame_of(&resp, &flen);
	CHECK_OK(peer_write(&pr, &cn, frame, flen, flen));
	wait_answer(&cn, &a);
	CHECK_EQ_INT(a.calls, 1);
	CHECK(a.err == 0 && a.resp && a.resp->correlation_id == 11);
	runnel__response__free_unpacked(a.resp, NULL);
	free(frame);
	free(big);
	free(small);
	conn_destroy(&cn);
	peer_close(&pr);
}

/* A Fetch answer with records_len bytes of records for one partition. */
static uint8_t *fetch_frame(int32_t correlation_id, const uint8_t *records, size_t records_len,
			    size_t *len)
{
	Runnel__FetchPartitionData pd = RUNNEL__FETCH_PARTITION_DATA__INIT;
	pd.records = (ProtobufCBinaryData){records_len, (uint8_t *)records};
	Runnel__FetchPartitionData *pdp = &pd;
	Runnel__FetchTopicData td = RUNNEL__FETCH_TOPIC_DATA__INIT;
	td.name = "t";
	td.n_partitions = 1;
	td.partitions = &pdp;
	Runnel__FetchTopicData *tdp = &td;
	Runnel__FetchResponse fr = RUNNEL__FETCH_RESPONSE__INIT;
	fr.n_topics = 1;
	fr.topics = &tdp;
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.correlation_id = correlation_id;
	resp.body_case = RUNNEL__RESPONSE__BODY_FETCH;
	resp.fetch = &fr;
	return frame_of(&resp, len);
}

/* A small request to answer raw. */
static void fetch_req_init(Runnel__Request *req, Runnel__RequestHeader *hdr,
			   Runnel__FetchRequest *fr, int32_t correlation_id)
{
	runnel__fetch_request__init(fr);
	runnel__request_header__init(hdr);
	hdr->correlation_id = correlation_id;
	hdr->client_id = "test";
	runnel__request__init(req);
	req->header = hdr;
	req->body_case = RUNNEL__REQUEST__BODY_FETCH;
	req->fetch = fr;
}

TEST(raw_answers_arrive_whole_and_in_order)
{
	struct peer pr;
	struct conn cn;
	int port = peer_listen(&pr);
	CHECK(port > 0);
	CHECK_OK(connect_pair(&cn, &pr, port));
	Runnel__Request req[2];
	Runnel__RequestHeader hdr[2];
	Runnel__FetchRequest fr[2];
	struct answer a[2] = {{0}, {0}};
	for (int i = 0; i < 2; i++) {
		fetch_req_init(&req[i], &hdr[i], &fr[i], 21 + i);
		CHECK_OK(conn_send_raw(&cn, &req[i], rn_mono_ms() + WAIT_MS, raw_cb, &a[i]));
	}
	for (int i = 0; i < 2; i++) {
		Runnel__Request *got = peer_read_request(&pr, &cn);
		CHECK(got && got->header->correlation_id == 21 + i);
		runnel__request__free_unpacked(got, NULL);
	}
	/* A large answer, then a small one, in one stream written in pieces
	 * that split both the large body and the small frame's prefix. */
	uint8_t *records = pattern(BIG_RECORDS, 3);
	size_t big_len, small_len;
	uint8_t *big = fetch_frame(21, records, BIG_RECORDS, &big_len);
	uint8_t *small = fetch_frame(22, records, 10, &small_len);
	uint8_t *both = malloc(big_len + small_len);
	CHECK(both);
	memcpy(both, big, big_len);
	memcpy(both + big_len, small, small_len);
	CHECK_OK(peer_write(&pr, &cn, both, big_len + small_len, 7001));
	wait_answer(&cn, &a[1]);
	CHECK_EQ_INT(a[0].calls, 1);
	CHECK_EQ_INT(a[1].calls, 1);
	CHECK(a[0].err == 0 && a[0].len == big_len - FRAME_PREFIX_BYTES);
	CHECK(memcmp(a[0].body, big + FRAME_PREFIX_BYTES, a[0].len) == 0);
	CHECK(a[1].err == 0 && a[1].len == small_len - FRAME_PREFIX_BYTES);
	CHECK(memcmp(a[1].body, small + FRAME_PREFIX_BYTES, a[1].len) == 0);
	/* The large answer was read into its own buffer, not through the
	 * connection's input buffer. */
	CHECK(cn.in_cap < big_len);
	CHECK(a[0].body == a[0].buf);
	free(a[0].buf);
	free(a[1].buf);
	free(both);
	free(big);
	free(small);
	free(records);
	conn_destroy(&cn);
	peer_close(&pr);
}

TEST(pending_raw_request_fails_when_the_connection_closes)
{
	struct peer pr;
	struct conn cn;
	int port = peer_listen(&pr);
	CHECK(port > 0);
	CHECK_OK(connect_pair(&cn, &pr, port));
	Runnel__Request req;
	Runnel__RequestHeader hdr;
	Runnel__FetchRequest fr;
	struct answer a = {0};
	fetch_req_init(&req, &hdr, &fr, 5);
	CHECK_OK(conn_send_raw(&cn, &req, rn_mono_ms() + WAIT_MS, raw_cb, &a));
	Runnel__Request *got = peer_read_request(&pr, &cn);
	CHECK(got);
	runnel__request__free_unpacked(got, NULL);
	/* Half of a large answer, then the node goes away. */
	uint8_t *records = pattern(BIG_RECORDS, 4);
	size_t len;
	uint8_t *frame = fetch_frame(5, records, BIG_RECORDS, &len);
	CHECK_OK(peer_write(&pr, &cn, frame, len / 2, len / 2));
	close(pr.fd);
	pr.fd = -1;
	wait_answer(&cn, &a);
	CHECK_EQ_INT(a.calls, 1);
	CHECK(a.err != 0 && a.buf == NULL);
	CHECK(cn.state == CONN_DOWN && cn.direct == NULL);
	free(frame);
	free(records);
	conn_destroy(&cn);
	peer_close(&pr);
}

TEST(answer_before_the_request_was_sent_closes_the_connection)
{
	/* More than the socket buffers of both ends hold, so that the request
	 * cannot be written in full while the peer does not read. */
	enum { HUGE = 48 * 1024 * 1024 };
	struct peer pr;
	struct conn cn;
	int port = peer_listen(&pr);
	CHECK(port > 0);
	CHECK_OK(connect_pair(&cn, &pr, port));
	uint8_t *huge = calloc(1, HUGE), small[8] = {0};
	CHECK(huge);
	struct produce_req r;
	struct answer a = {0};
	produce_req_init(&r, huge, HUGE, small, sizeof(small), 9);
	CHECK_OK(conn_send_ref(&cn, &r.req, rn_mono_ms() + WAIT_MS, answer_cb, &a));
	for (int i = 0; i < 20; i++)
		pump(&cn, 5);
	CHECK(conn_out_pending(&cn) > 0);
	Runnel__ProduceResponse prr = RUNNEL__PRODUCE_RESPONSE__INIT;
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.correlation_id = 9;
	resp.body_case = RUNNEL__RESPONSE__BODY_PRODUCE;
	resp.produce = &prr;
	size_t flen;
	uint8_t *frame = frame_of(&resp, &flen);
	CHECK_EQ_INT(send(pr.fd, frame, flen, MSG_NOSIGNAL), (ssize_t)flen);
	wait_answer(&cn, &a);
	CHECK_EQ_INT(a.calls, 1);
	CHECK(a.err != 0 && a.resp == NULL);
	CHECK(cn.state == CONN_DOWN);
	CHECK(strstr(cn.errmsg, "not yet sent in full") != NULL);
	CHECK_EQ_INT(conn_out_pending(&cn), 0);
	free(frame);
	free(huge);
	conn_destroy(&cn);
	peer_close(&pr);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
