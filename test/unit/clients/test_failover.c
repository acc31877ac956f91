/* test_failover.c: dead and silent nodes in the bootstrap list, and following NOT_CONTROLLER to the active controller. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clients/client.h"
#include "common/clock.h"
#include "common/errors.h"
#include "test/unit/harness.h"
#include "wire/frame.h"

/* ------------------------------------------------------------ pure parts */

TEST(controller_hint_with_address)
{
	int32_t id = -1;
	int has = 0;
	struct client_address a;
	CHECK(client_parse_controller_hint("node 2 is not the active controller; the active "
					   "controller is node 3 at 10.0.0.3:9093",
					   &id, &a, &has) == 0);
	CHECK_EQ_INT(id, 3);
	CHECK(has);
	CHECK(strcmp(a.host, "10.0.0.3") == 0);
	CHECK_EQ_INT(a.port, 9093);
	CHECK(client_parse_controller_hint("the active controller is node 12 at [::1]:19093.", &id,
					   &a, &has) == 0);
	CHECK_EQ_INT(id, 12);
	CHECK(has);
	CHECK(strcmp(a.host, "::1") == 0);
	CHECK_EQ_INT(a.port, 19093);
}

TEST(controller_hint_without_address)
{
	int32_t id = -1;
	int has = 1;
	struct client_address a;
	CHECK(client_parse_controller_hint("the active controller is node 4", &id, &a, &has) == 0);
	CHECK_EQ_INT(id, 4);
	CHECK(!has);
	/* A garbled address is no address, but the id still counts. */
	CHECK(client_parse_controller_hint("controller is node 4 at nowhere", &id, &a, &has) == 0);
	CHECK(!has);
}

TEST(controller_hint_absent)
{
	int32_t id = -1;
	int has = 0;
	struct client_address a;
	CHECK(client_parse_controller_hint("node 2 is not the active controller and knows no "
					   "quorum leader yet; retry shortly",
					   &id, &a, &has) == RN_E_NOT_FOUND);
	CHECK(client_parse_controller_hint("node 1 is the quorum leader but is still applying the "
					   "metadata log; retry shortly",
					   &id, &a, &has) == RN_E_NOT_FOUND);
	CHECK(client_parse_controller_hint(NULL, &id, &a, &has) == RN_E_NOT_FOUND);
	CHECK(client_parse_controller_hint("controller is node x", &id, &a, &has) == RN_E_NOT_FOUND);
	CHECK(client_parse_controller_hint("controller is node 99999999999", &id, &a, &has) ==
	      RN_E_NOT_FOUND);
	CHECK_EQ_INT(id, -1);
}

TEST(admin_retry_decision)
{
	/* Retriable: backoff doubles from the base up to the cap. */
	CHECK_EQ_INT(client_admin_retry_delay_ms(RN_E_NOT_CONTROLLER, 0, 0, 60000),
		     CLIENT_ADMIN_BACKOFF_MS);
	CHECK_EQ_INT(client_admin_retry_delay_ms(RN_E_NOT_CONTROLLER, 2, 0, 60000),
		     4 * CLIENT_ADMIN_BACKOFF_MS);
	CHECK_EQ_INT(client_admin_retry_delay_ms(RN_E_CONNECT, 12, 0, 60000),
		     CLIENT_ADMIN_BACKOFF_MAX_MS);
	CHECK(client_admin_retry_delay_ms(RN_E_NETWORK_EXCEPTION, 1, 0, 60000) > 0);
	CHECK(client_admin_retry_delay_ms(RN_E_REQUEST_TIMED_OUT, 1, 0, 60000) > 0);
	/* Final answers are never retried. */
	CHECK_EQ_INT(client_admin_retry_delay_ms(RN_E_TOPIC_ALREADY_EXISTS, 0, 0, 60000), -1);
	CHECK_EQ_INT(client_admin_retry_delay_ms(RN_E_INVALID_REPLICATION_FACTOR, 0, 0, 60000), -1);
	CHECK_EQ_INT(client_admin_retry_delay_ms(0, 0, 0, 60000), -1);
	/* Bounded by attempts and by the deadline. */
	CHECK_EQ_INT(client_admin_retry_delay_ms(RN_E_NOT_CONTROLLER, CLIENT_ADMIN_MAX_ATTEMPTS - 1, 0,
						 60000),
		     -1);
	CHECK_EQ_INT(client_admin_retry_delay_ms(RN_E_NOT_CONTROLLER, 0, 1000, 1050), -1);
}

/* --------------------------------------------------------- a fake cluster */

/*
 * Up to FAKE_NODES nodes served by one thread.  Each answers Metadata with
 * the brokers and controller the test set, and CreateTopics either with
 * success or with NOT_CONTROLLER and a message naming the real controller.
 */
#define FAKE_NODES 2
#define FAKE_MAX_CONNS 16
#define FAKE_BUF 65536

struct fake_node {
	int listen_fd;
	int port;
	int32_t node_id;
	int is_controller;
	int creates; /* CreateTopics requests seen */
};

struct fake {
	struct fake_node nodes[FAKE_NODES];
	int32_t advertised_controller; /* what Metadata says */
	int broker_count;              /* brokers listed in Metadata (nodes[0..n)) */
	volatile int stop;
	pthread_t thread;
};

static int listen_any(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

static void send_response(int fd, Runnel__Response *resp)
{
	uint8_t buf[FAKE_BUF];
	size_t n = runnel__response__get_packed_size(resp);
	if (n + FRAME_PREFIX_BYTES > sizeof(buf))
		return;
	frame_put_prefix(buf, (uint32_t)n);
	runnel__response__pack(resp, buf + FRAME_PREFIX_BYTES);
	ssize_t w = write(fd, buf, n + FRAME_PREFIX_BYTES);
	(void)w;
}

static void answer_metadata(struct fake *f, Runnel__Response *resp)
{
	static Runnel__MetadataResponse md;
	static Runnel__BrokerInfo bi[FAKE_NODES];
	static Runnel__BrokerInfo *bip[FAKE_NODES];
	runnel__metadata_response__init(&md);
	for (int i = 0; i < f->broker_count; i++) {
		runnel__broker_info__init(&bi[i]);
		bi[i].node_id = f->nodes[i].node_id;
		bi[i].host = (char *)"127.0.0.1";
		bi[i].port = f->nodes[i].port;
		bip[i] = &bi[i];
	}
	md.n_brokers = (size_t)f->broker_count;
	md.brokers = bip;
	md.controller_id = f->advertised_controller;
	resp->body_case = RUNNEL__RESPONSE__BODY_METADATA;
	resp->metadata = &md;
}

static void answer_create(struct fake *f, struct fake_node *n, const Runnel__Request *req,
			  Runnel__Response *resp)
{
	static Runnel__CreateTopicsResponse cr;
	static Runnel__CreatableTopicResult res;
	static Runnel__CreatableTopicResult *resp_list[1];
	static char why[256];
	runnel__create_topics_response__init(&cr);
	runnel__creatable_topic_result__init(&res);
	res.name = req->create_topics->topics[0]->name;
	if (!n->is_controller) {
		const struct fake_node *c = f->nodes[0].is_controller ? &f->nodes[0] : &f->nodes[1];
		snprintf(why, sizeof(why),
			 "node %d is not the active controller; the active controller is node %d at "
			 "127.0.0.1:%d",
			 n->node_id, c->node_id, c->port);
		res.error_code = rn_err_to_wire(RN_E_NOT_CONTROLLER);
		res.error_message = why;
	}
	n->creates++;
	resp_list[0] = &res;
	cr.n_topics = 1;
	cr.topics = resp_list;
	resp->body_case = RUNNEL__RESPONSE__BODY_CREATE_TOPICS;
	resp->create_topics = &cr;
}

/* Answers every whole request frame in buf; returns the bytes consumed. */
static size_t serve_frames(struct fake *f, struct fake_node *n, int fd, uint8_t *buf, size_t len)
{
	size_t off = 0;
	uint32_t flen = 0;
	while (frame_check(buf + off, len - off, FAKE_BUF, &flen) == 0) {
		Runnel__Request *req =
			runnel__request__unpack(NULL, flen, buf + off + FRAME_PREFIX_BYTES);
		off += FRAME_PREFIX_BYTES + flen;
		if (!req)
			continue;
		Runnel__Response resp = RUNNEL__RESPONSE__INIT;
		resp.correlation_id = req->header->correlation_id;
		if (req->body_case == RUNNEL__REQUEST__BODY_METADATA)
			answer_metadata(f, &resp);
		else if (req->body_case == RUNNEL__REQUEST__BODY_CREATE_TOPICS)
			answer_create(f, n, req, &resp);
		send_response(fd, &resp);
		runnel__request__free_unpacked(req, NULL);
	}
	return off;
}

struct fake_conn {
	int fd;
	struct fake_node *node;
	uint8_t buf[FAKE_BUF];
	size_t len;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	static struct fake_conn conns[FAKE_MAX_CONNS];
	size_t nconns = 0;
	while (!f->stop) {
		struct pollfd pfd[FAKE_NODES + FAKE_MAX_CONNS];
		for (int i = 0; i < FAKE_NODES; i++)
			pfd[i] = (struct pollfd){f->nodes[i].listen_fd, POLLIN, 0};
		for (size_t i = 0; i < nconns; i++)
			pfd[FAKE_NODES + i] = (struct pollfd){conns[i].fd, POLLIN, 0};
		if (poll(pfd, FAKE_NODES + nconns, 50) <= 0)
			continue;
		for (int i = 0; i < FAKE_NODES; i++) {
			if (!(pfd[i].revents & POLLIN) || nconns >= FAKE_MAX_CONNS)
				continue;
			conns[nconns].fd = accept(f->nodes[i].listen_fd, NULL, NULL);
			conns[nconns].node = &f->nodes[i];
			conns[nconns].len = 0;
			if (conns[nconns].fd >= 0)
				nconns++;
		}
		for (size_t i = 0; i < nconns; i++) {
			struct fake_conn *c = &conns[i];
			if (!(pfd[FAKE_NODES + i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (r <= 0)
				continue;
			c->len += (size_t)r;
			size_t used = serve_frames(f, c->node, c->fd, c->buf, c->len);
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
		}
	}
	for (size_t i = 0; i < nconns; i++)
		close(conns[i].fd);
	return NULL;
}

static int fake_start(struct fake *f, int broker_count, int32_t advertised_controller,
		      int controller_index)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < FAKE_NODES; i++) {
		f->nodes[i].listen_fd = listen_any(&f->nodes[i].port);
		f->nodes[i].node_id = i + 1;
		f->nodes[i].is_controller = i == controller_index;
		if (f->nodes[i].listen_fd < 0)
			return -1;
	}
	f->broker_count = broker_count;
	f->advertised_controller = advertised_controller;
	return pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	for (int i = 0; i < FAKE_NODES; i++)
		close(f->nodes[i].listen_fd);
}

static int list_topics_via(const char *bootstrap, int64_t *elapsed_ms)
{
	struct runnel_client_config cfg;
	runnel_admin *a = NULL;
	struct runnel_topic_summary *list = NULL;
	size_t n = 0;
	runnel_client_config_init(&cfg);
	cfg.bootstrap = bootstrap;
	if (runnel_admin_new(&cfg, &a) != 0)
		return RN_E_INVAL;
	int64_t start = rn_mono_ms();
	int rc = runnel_admin_list_topics(a, &list, &n);
	*elapsed_ms = rn_mono_ms() - start;
	runnel_topic_summaries_free(list, n);
	runnel_admin_free(a);
	return rc;
}

TEST(refused_node_in_bootstrap_is_skipped_at_once)
{
	static struct fake f;
	int dead_port = 0;
	int dead = listen_any(&dead_port);
	close(dead); /* nothing listens there now: connections are refused */
	CHECK(fake_start(&f, 1, 1, 0) == 0);
	char bootstrap[128];
	snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d,127.0.0.1:%d", dead_port,
		 f.nodes[0].port);
	int64_t ms = 0;
	int rc = list_topics_via(bootstrap, &ms);
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK(ms < 1000);
}

TEST(silent_node_in_bootstrap_costs_one_attempt)
{
	static struct fake f;
	int silent_port = 0;
	/* Listens but never accepts or answers, as a stopped process does. */
	int silent = listen_any(&silent_port);
	CHECK(silent >= 0);
	CHECK(fake_start(&f, 1, 1, 0) == 0);
	char bootstrap[128];
	snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d,127.0.0.1:%d", silent_port,
		 f.nodes[0].port);
	int64_t ms = 0;
	int rc = list_topics_via(bootstrap, &ms);
	fake_stop(&f);
	close(silent);
	CHECK_EQ_INT(rc, 0);
	CHECK(ms >= CLIENT_NODE_ATTEMPT_TIMEOUT_MS - 100);
	/* One attempt, not two (two would take at least twice as long). */
	CHECK(ms < 2 * CLIENT_NODE_ATTEMPT_TIMEOUT_MS - 100);
}

TEST(create_follows_not_controller_to_unlisted_controller)
{
	static struct fake f;
	/* Node 1 is the only broker and claims to be the controller, but the
	 * controller is node 2, which is not in the broker list: only the
	 * NOT_CONTROLLER message says where it is. */
	CHECK(fake_start(&f, 1, 1, 1) == 0);
	char bootstrap[64];
	snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", f.nodes[0].port);
	struct runnel_client_config cfg;
	runnel_admin *a = NULL;
	runnel_client_config_init(&cfg);
	cfg.bootstrap = bootstrap;
	CHECK(runnel_admin_new(&cfg, &a) == 0);
	struct runnel_new_topic t = {.name = "orders", .partitions = 1, .replication_factor = 1};
	int rc = runnel_admin_create_topic(a, &t, 10000);
	if (rc != 0)
		fprintf(stderr, "  create: %s\n", runnel_admin_errmsg(a));
	runnel_admin_free(a);
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(f.nodes[0].creates, 1);
	CHECK_EQ_INT(f.nodes[1].creates, 1);
}

TEST(create_gives_up_when_no_controller_appears)
{
	static struct fake f;
	/* Metadata never names a controller: the create fails by its deadline
	 * with NOT_CONTROLLER instead of hanging. */
	CHECK(fake_start(&f, 1, -1, 1) == 0);
	char bootstrap[64];
	snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", f.nodes[0].port);
	struct runnel_client_config cfg;
	runnel_admin *a = NULL;
	runnel_client_config_init(&cfg);
	cfg.bootstrap = bootstrap;
	CHECK(runnel_admin_new(&cfg, &a) == 0);
	struct runnel_new_topic t = {.name = "orders", .partitions = 1, .replication_factor = 1};
	int64_t start = rn_mono_ms();
	int rc = runnel_admin_create_topic(a, &t, 1500);
	int64_t ms = rn_mono_ms() - start;
	runnel_admin_free(a);
	fake_stop(&f);
	CHECK_EQ_INT(rc, RN_E_NOT_CONTROLLER);
	CHECK(ms < 2500);
	CHECK_EQ_INT(f.nodes[0].creates + f.nodes[1].creates, 0);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
