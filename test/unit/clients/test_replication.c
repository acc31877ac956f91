/* test_replication.c: reading from an in-sync replica in the client's rack, producer retries of replication errors, preferred-leader election. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clients/cli.h"
#include "clients/client.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/rn_assert.h"
#include "test/unit/harness.h"
#include "wire/batch.h"
#include "wire/frame.h"

/* ------------------------------------------------ choosing the read replica */

/* Brokers 1 (rack-a), 2 (rack-b), 3 (rack-b), 4 (rack-c, fenced). */
static void sample_brokers(struct client_broker *b)
{
	static const char *racks[4] = {"rack-a", "rack-b", "rack-b", "rack-c"};
	memset(b, 0, 4 * sizeof(*b));
	for (int i = 0; i < 4; i++) {
		b[i].node_id = i + 1;
		snprintf(b[i].rack, sizeof(b[i].rack), "%s", racks[i]);
	}
	b[3].fenced = 1;
}

static struct client_partition sample_partition(void)
{
	struct client_partition cp = {.partition = 0, .leader = 1, .leader_epoch = 3};
	const int32_t ids[4] = {1, 2, 3, 4};
	memcpy(cp.replicas, ids, sizeof(ids));
	cp.replica_count = 4;
	memcpy(cp.isr, ids, sizeof(ids));
	cp.isr_count = 4;
	return cp;
}

TEST(read_replica_is_the_leader_without_a_rack)
{
	struct client_broker b[4];
	struct client_partition cp = sample_partition();
	sample_brokers(b);
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, NULL, -1), 1);
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "", -1), 1);
	/* The leader's own rack: no reason to leave it. */
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-a", -1), 1);
	/* No replica in that rack at all. */
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-z", -1), 1);
}

TEST(read_replica_in_the_rack_must_be_in_sync_and_unfenced)
{
	struct client_broker b[4];
	struct client_partition cp = sample_partition();
	sample_brokers(b);
	/* The first in-sync replica of rack-b in replica order. */
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-b", -1), 2);
	/* Node 2 out of the ISR: node 3 is the one in that rack. */
	cp.isr[1] = 3;
	cp.isr[2] = 4;
	cp.isr_count = 3;
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-b", -1), 3);
	/* Neither in sync: back to the leader. */
	cp.isr_count = 1;
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-b", -1), 1);
	/* Node 4 is in sync and in rack-c, but fenced. */
	cp = sample_partition();
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-c", -1), 1);
	/* A replica the broker list does not know is not chosen. */
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 2, "rack-b", -1), 2);
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 1, "rack-b", -1), 1);
}

TEST(read_replica_skips_the_avoided_one_and_needs_a_leader)
{
	struct client_broker b[4];
	struct client_partition cp = sample_partition();
	sample_brokers(b);
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-b", 2), 3);
	cp.isr_count = 2; /* only 1 and 2 */
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-b", 2), 1);
	cp.leader = -1;
	CHECK_EQ_INT(client_choose_read_replica(&cp, b, 4, "rack-b", -1), -1);
}

/* ------------------------------------------------ election result output */

static char *print_results(const struct runnel_election_result *rs, size_t n, int json)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (json)
		cli_elect_print_json(f, rs, n);
	else
		cli_elect_print_text(f, rs, n);
	fclose(f);
	return out;
}

TEST(election_output_names_each_partition_and_counts)
{
	struct runnel_election_result rs[3] = {
		{"orders", 0, 0, ""},
		{"orders", 1, RN_E_ELECTION_NOT_NEEDED, ""},
		{"orders", 2, RN_E_PREFERRED_LEADER_NOT_AVAILABLE, "replica 3 is fenced"},
	};
	struct cli_elect_counts k;
	cli_elect_count(rs, 3, &k);
	CHECK_EQ_INT(k.elected, 1);
	CHECK_EQ_INT(k.not_needed, 1);
	CHECK_EQ_INT(k.failed, 1);
	char *text = print_results(rs, 3, 0);
	int ok = strstr(text, "elected    orders-0\n") && strstr(text, "not-needed orders-1\n") &&
		 strstr(text, "failed     orders-2  PREFERRED_LEADER_NOT_AVAILABLE: replica 3 is "
			      "fenced\n") &&
		 strstr(text, "1 elected, 1 already led by their preferred replica, 1 failed\n");
	if (!ok)
		fprintf(stderr, "  got:\n%s", text);
	free(text);
	CHECK(ok);
	char *json = print_results(rs, 3, 1);
	ok = strstr(json, "{\"topic\":\"orders\",\"partition\":0,\"outcome\":\"elected\",\"error\":"
			  "null") &&
	     strstr(json, "\"outcome\":\"failed\",\"error\":\"PREFERRED_LEADER_NOT_AVAILABLE\","
			  "\"message\":\"replica 3 is fenced\"") &&
	     strstr(json, "\"elected\":1,\"not_needed\":1,\"failed\":1}\n");
	if (!ok)
		fprintf(stderr, "  got: %s", json);
	free(json);
	CHECK(ok);
}

/* ------------------------------------------------------- a fake cluster */

/*
 * Two nodes, 1 in rack-a and 2 in rack-b, served by one thread.  Topic "t"
 * has FAKE_PARTITIONS partitions led by node 1 with replicas [1, 2]; the
 * ISR is whatever the test sets.  Each node answers Fetch with one record
 * whose value names the node, or with the error the test set for it;
 * Produce with the scripted errors in order, then success; ElectLeaders
 * with NOT_CONTROLLER from a node that is not the controller (naming the
 * controller), and with a fixed set of results from the controller.
 */
#define FAKE_NODES 2
#define FAKE_MAX_CONNS 16
#define FAKE_BUF 65536
#define FAKE_PARTITIONS 3
#define FAKE_SCRIPT 8

struct fake_node {
	int listen_fd;
	int port;
	int32_t node_id;
	int fetch_error;  /* negative code to answer fetches with, 0: records */
	volatile int fetches;
	volatile int elects;
	volatile int metadata;
};

struct fake {
	struct fake_node nodes[FAKE_NODES];
	int32_t isr[FAKE_NODES];
	size_t isr_count;
	int32_t controller_id; /* what Metadata says */
	int32_t real_controller;
	int produce_script[FAKE_SCRIPT]; /* errors for the first produces */
	int produce_script_len;
	int produce_always; /* answer every produce with this error */
	volatile int produces;
	int64_t next_offset;
	/* The filter of the last ElectLeaders request the controller saw. */
	char elect_topic[64];
	int32_t elect_partitions[4];
	size_t elect_partition_count;
	size_t elect_topic_count;
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
	static uint8_t buf[FAKE_BUF];
	size_t n = runnel__response__get_packed_size(resp);
	if (n + FRAME_PREFIX_BYTES > sizeof(buf))
		return;
	frame_put_prefix(buf, (uint32_t)n);
	runnel__response__pack(resp, buf + FRAME_PREFIX_BYTES);
	ssize_t w = write(fd, buf, n + FRAME_PREFIX_BYTES);
	(void)w;
}

static void answer_metadata(struct fake *f, struct fake_node *n, Runnel__Response *resp)
{
	static const char *racks[FAKE_NODES] = {"rack-a", "rack-b"};
	static Runnel__MetadataResponse md;
	static Runnel__BrokerInfo bi[FAKE_NODES];
	static Runnel__BrokerInfo *bip[FAKE_NODES];
	static Runnel__TopicMetadata tm;
	static Runnel__TopicMetadata *tmp[1];
	static Runnel__PartitionMetadata pm[FAKE_PARTITIONS];
	static Runnel__PartitionMetadata *pmp[FAKE_PARTITIONS];
	static int32_t replicas[FAKE_NODES] = {1, 2};
	runnel__metadata_response__init(&md);
	for (int i = 0; i < FAKE_NODES; i++) {
		runnel__broker_info__init(&bi[i]);
		bi[i].node_id = f->nodes[i].node_id;
		bi[i].host = (char *)"127.0.0.1";
		bi[i].port = f->nodes[i].port;
		bi[i].rack = (char *)racks[i];
		bip[i] = &bi[i];
	}
	runnel__topic_metadata__init(&tm);
	tm.name = (char *)"t";
	for (int p = 0; p < FAKE_PARTITIONS; p++) {
		runnel__partition_metadata__init(&pm[p]);
		pm[p].partition = p;
		pm[p].leader = 1;
		pm[p].leader_epoch = 1;
		pm[p].n_replicas = FAKE_NODES;
		pm[p].replicas = replicas;
		pm[p].n_isr = f->isr_count;
		pm[p].isr = f->isr;
		pmp[p] = &pm[p];
	}
	tm.n_partitions = FAKE_PARTITIONS;
	tm.partitions = pmp;
	tmp[0] = &tm;
	md.n_brokers = FAKE_NODES;
	md.brokers = bip;
	md.controller_id = f->controller_id;
	md.n_topics = 1;
	md.topics = tmp;
	n->metadata++;
	resp->body_case = RUNNEL__RESPONSE__BODY_METADATA;
	resp->metadata = &md;
}

/* One record at offset whose value is "from-N" for node N. */
static size_t fake_batch(uint8_t *buf, size_t cap, int64_t offset, int32_t node_id)
{
	char value[16];
	struct batch_builder b;
	int len = snprintf(value, sizeof(value), "from-%d", node_id);
	batch_builder_init(&b, buf, cap);
	RN_ASSERT(batch_builder_add(&b, 1000, NULL, -1, value, len, NULL, 0) == 0);
	size_t n = batch_builder_finish(&b, -1, -1, -1);
	batch_stamp(buf, offset, 1);
	return n;
}

static void answer_fetch(struct fake_node *n, const Runnel__Request *req, Runnel__Response *resp)
{
	static Runnel__FetchResponse fr;
	static Runnel__FetchTopicData td;
	static Runnel__FetchTopicData *tdp[1];
	static Runnel__FetchPartitionData pd;
	static Runnel__FetchPartitionData *pdp[1];
	static uint8_t batch[512];
	const Runnel__FetchPartition *fp = req->fetch->topics[0]->partitions[0];
	runnel__fetch_response__init(&fr);
	runnel__fetch_topic_data__init(&td);
	runnel__fetch_partition_data__init(&pd);
	td.name = req->fetch->topics[0]->name;
	pd.partition = fp->partition;
	pd.diverging_epoch = -1;
	pd.diverging_end_offset = -1;
	if (n->fetch_error) {
		pd.error_code = rn_err_to_wire(n->fetch_error);
	} else {
		pd.records.len = fake_batch(batch, sizeof(batch), fp->fetch_offset, n->node_id);
		pd.records.data = batch;
		pd.high_watermark = fp->fetch_offset + 1;
	}
	n->fetches++;
	pdp[0] = &pd;
	td.n_partitions = 1;
	td.partitions = pdp;
	tdp[0] = &td;
	fr.n_topics = 1;
	fr.topics = tdp;
	resp->body_case = RUNNEL__RESPONSE__BODY_FETCH;
	resp->fetch = &fr;
}

static void answer_produce(struct fake *f, const Runnel__Request *req, Runnel__Response *resp)
{
	static Runnel__ProduceResponse pr;
	static Runnel__TopicProduceResponse tr;
	static Runnel__TopicProduceResponse *trp[1];
	static Runnel__PartitionProduceResponse pp;
	static Runnel__PartitionProduceResponse *ppp[1];
	const Runnel__TopicProduceData *td = req->produce->topics[0];
	runnel__produce_response__init(&pr);
	runnel__topic_produce_response__init(&tr);
	runnel__partition_produce_response__init(&pp);
	tr.name = td->name;
	pp.partition = td->partitions[0]->partition;
	int k = f->produces++;
	int err = f->produce_always;
	if (!err && k < f->produce_script_len)
		err = f->produce_script[k];
	if (err != 0) {
		pp.error_code = rn_err_to_wire(err);
		pp.base_offset = -1;
	} else {
		pp.base_offset = f->next_offset++;
	}
	ppp[0] = &pp;
	tr.n_partitions = 1;
	tr.partitions = ppp;
	trp[0] = &tr;
	pr.n_topics = 1;
	pr.topics = trp;
	resp->body_case = RUNNEL__RESPONSE__BODY_PRODUCE;
	resp->produce = &pr;
}

static void record_elect_filter(struct fake *f, const Runnel__ElectLeadersRequest *er)
{
	f->elect_topic_count = er->n_topics;
	f->elect_topic[0] = '\0';
	f->elect_partition_count = 0;
	if (er->n_topics == 0)
		return;
	snprintf(f->elect_topic, sizeof(f->elect_topic), "%s", er->topics[0]->name);
	for (size_t i = 0; i < er->topics[0]->n_partitions && i < 4; i++)
		f->elect_partitions[f->elect_partition_count++] = er->topics[0]->partitions[i];
}

static void answer_elect(struct fake *f, struct fake_node *n, const Runnel__Request *req,
			 Runnel__Response *resp)
{
	static Runnel__ElectLeadersResponse er;
	static Runnel__ElectLeadersTopicResult tr[2];
	static Runnel__ElectLeadersTopicResult *trp[2];
	static Runnel__ElectLeadersPartitionResult pr[FAKE_PARTITIONS];
	static Runnel__ElectLeadersPartitionResult *prp[FAKE_PARTITIONS];
	static const int codes[FAKE_PARTITIONS] = {0, RN_E_ELECTION_NOT_NEEDED,
						   RN_E_PREFERRED_LEADER_NOT_AVAILABLE};
	static char why[256];
	runnel__elect_leaders_response__init(&er);
	n->elects++;
	resp->body_case = RUNNEL__RESPONSE__BODY_ELECT_LEADERS;
	resp->elect_leaders = &er;
	if (n->node_id != f->real_controller) {
		const struct fake_node *c = &f->nodes[f->real_controller - 1];
		snprintf(why, sizeof(why),
			 "node %d is not the active controller; the active controller is node %d at "
			 "127.0.0.1:%d",
			 n->node_id, c->node_id, c->port);
		er.error_code = rn_err_to_wire(RN_E_NOT_CONTROLLER);
		er.error_message = why;
		er.controller_id = f->real_controller;
		return;
	}
	record_elect_filter(f, req->elect_leaders);
	/* Listed out of order on purpose: results come back sorted. */
	for (int i = 0; i < FAKE_PARTITIONS; i++) {
		int p = FAKE_PARTITIONS - 1 - i;
		runnel__elect_leaders_partition_result__init(&pr[i]);
		pr[i].partition = p;
		pr[i].error_code = codes[p] ? rn_err_to_wire(codes[p]) : 0;
		pr[i].error_message = (char *)(codes[p] ? "replica 1 is fenced" : "");
		prp[i] = &pr[i];
	}
	runnel__elect_leaders_topic_result__init(&tr[0]);
	tr[0].name = (char *)"t";
	tr[0].n_partitions = FAKE_PARTITIONS;
	tr[0].partitions = prp;
	runnel__elect_leaders_topic_result__init(&tr[1]);
	tr[1].name = (char *)"nope";
	tr[1].error_code = rn_err_to_wire(RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	trp[0] = &tr[1];
	trp[1] = &tr[0];
	er.n_topics = 2;
	er.topics = trp;
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
			answer_metadata(f, n, &resp);
		else if (req->body_case == RUNNEL__REQUEST__BODY_FETCH)
			answer_fetch(n, req, &resp);
		else if (req->body_case == RUNNEL__REQUEST__BODY_PRODUCE)
			answer_produce(f, req, &resp);
		else if (req->body_case == RUNNEL__REQUEST__BODY_ELECT_LEADERS)
			answer_elect(f, n, req, &resp);
		else
			resp.error_code = rn_err_to_wire(RN_E_UNSUPPORTED_API);
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

static void serve_conn(struct fake *f, struct fake_conn *c)
{
	ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (r <= 0)
		return;
	c->len += (size_t)r;
	size_t used = serve_frames(f, c->node, c->fd, c->buf, c->len);
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
}

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
		if (poll(pfd, FAKE_NODES + nconns, 20) <= 0)
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
		for (size_t i = 0; i < nconns; i++)
			if (pfd[FAKE_NODES + i].revents & (POLLIN | POLLHUP))
				serve_conn(f, &conns[i]);
	}
	for (size_t i = 0; i < nconns; i++)
		close(conns[i].fd);
	return NULL;
}

/* Starts the fake with both nodes in sync and node 1 the controller. */
static int fake_start(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < FAKE_NODES; i++) {
		f->nodes[i].listen_fd = listen_any(&f->nodes[i].port);
		f->nodes[i].node_id = i + 1;
		if (f->nodes[i].listen_fd < 0)
			return -1;
	}
	f->isr[0] = 1;
	f->isr[1] = 2;
	f->isr_count = 2;
	f->controller_id = 1;
	f->real_controller = 1;
	f->next_offset = 42;
	return pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	for (int i = 0; i < FAKE_NODES; i++)
		close(f->nodes[i].listen_fd);
}

static void bootstrap_of(const struct fake *f, int node_index, char *buf, size_t cap)
{
	snprintf(buf, cap, "127.0.0.1:%d", f->nodes[node_index].port);
}

/* ----------------------------------------------------- consumer with a rack */

/* Reads the first record of t/0 from offset 7 with the given rack; copies
 * its value into value.  Returns 0 or the poll's error. */
static int consume_first(const struct fake *f, const char *rack, char *value, size_t cap)
{
	struct runnel_consumer_config cfg;
	runnel_consumer *c = NULL;
	char bootstrap[64];
	struct runnel_record recs[4];
	size_t n = 0;
	int32_t part = 0;
	int rc;
	bootstrap_of(f, 0, bootstrap, sizeof(bootstrap));
	runnel_consumer_config_init(&cfg);
	cfg.client.bootstrap = bootstrap;
	cfg.client_rack = rack;
	cfg.retry_backoff_ms = 10000; /* long: a fallback must not wait for it */
	if ((rc = runnel_consumer_new(&cfg, &c)) != 0)
		return rc;
	rc = runnel_consumer_assign(c, "t", &part, 1);
	if (rc == 0)
		rc = runnel_consumer_seek(c, "t", 0, (struct runnel_position){RUNNEL_POS_OFFSET, 7});
	int64_t deadline = rn_mono_ms() + 8000;
	while (rc == 0 && n == 0 && rn_mono_ms() < deadline)
		rc = runnel_consumer_poll(c, 200, recs, 4, &n);
	if (rc == 0 && n == 0)
		rc = RN_E_TIMEOUT;
	if (rc == 0) {
		RN_ASSERT(recs[0].offset == 7);
		snprintf(value, cap, "%.*s", (int)recs[0].value_len, (const char *)recs[0].value);
	}
	runnel_consumer_free(c);
	return rc;
}

TEST(consumer_with_rack_reads_from_in_sync_replica_there)
{
	static struct fake f;
	char value[32] = "";
	CHECK(fake_start(&f) == 0);
	int rc = consume_first(&f, "rack-b", value, sizeof(value));
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(value, "from-2");
	CHECK_EQ_INT(f.nodes[0].fetches, 0);
}

TEST(consumer_without_rack_or_in_leader_rack_reads_the_leader)
{
	static struct fake f;
	char value[32] = "";
	CHECK(fake_start(&f) == 0);
	int rc1 = consume_first(&f, NULL, value, sizeof(value));
	char value2[32] = "";
	int rc2 = consume_first(&f, "rack-a", value2, sizeof(value2));
	fake_stop(&f);
	CHECK_EQ_INT(rc1, 0);
	CHECK_EQ_STR(value, "from-1");
	CHECK_EQ_INT(rc2, 0);
	CHECK_EQ_STR(value2, "from-1");
	CHECK_EQ_INT(f.nodes[1].fetches, 0);
}

TEST(consumer_skips_replica_out_of_isr)
{
	static struct fake f;
	char value[32] = "";
	CHECK(fake_start(&f) == 0);
	f.isr_count = 1; /* only the leader is in sync */
	int rc = consume_first(&f, "rack-b", value, sizeof(value));
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(value, "from-1");
	CHECK_EQ_INT(f.nodes[1].fetches, 0);
}

/* The replica refuses with err; the consumer must get the record from the
 * leader, at the same position, without waiting for its retry backoff, and
 * not ask the refusing replica again. */
static void check_replica_refusal(int err)
{
	static struct fake f;
	char value[32] = "";
	CHECK(fake_start(&f) == 0);
	f.nodes[1].fetch_error = err;
	int64_t start = rn_mono_ms();
	int rc = consume_first(&f, "rack-b", value, sizeof(value));
	int64_t ms = rn_mono_ms() - start;
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(value, "from-1");
	CHECK_EQ_INT(f.nodes[1].fetches, 1);
	CHECK(ms < 5000);
}

TEST(replica_not_leader_or_follower_sends_consumer_to_leader)
{
	check_replica_refusal(RN_E_NOT_LEADER_OR_FOLLOWER);
}

TEST(replica_offset_out_of_range_sends_consumer_to_leader)
{
	/* A replica behind the leader does not have the offset yet: that is
	 * no reason to reset the position. */
	check_replica_refusal(RN_E_OFFSET_OUT_OF_RANGE);
}

TEST(consumer_refuses_overlong_rack)
{
	struct runnel_consumer_config cfg;
	runnel_consumer *c = NULL;
	char rack[RUNNEL_MAX_RACK_LEN + 2];
	memset(rack, 'r', sizeof(rack) - 1);
	rack[sizeof(rack) - 1] = '\0';
	runnel_consumer_config_init(&cfg);
	cfg.client_rack = rack;
	CHECK_EQ_INT(runnel_consumer_new(&cfg, &c), RN_E_INVAL);
	rack[RUNNEL_MAX_RACK_LEN] = '\0';
	CHECK_EQ_INT(runnel_consumer_new(&cfg, &c), 0);
	runnel_consumer_free(c);
}

/* ------------------------------------------------------ producer retries */

struct delivery {
	int calls;
	int err;
	int64_t offset;
};

static void on_delivery(void *opaque, int err, int32_t partition, int64_t offset)
{
	struct delivery *d = opaque;
	(void)partition;
	d->calls++;
	d->err = err;
	d->offset = offset;
}

/* Sends one record to t/0 and flushes; fills *d from its callback. */
static int produce_one(const struct fake *f, int32_t delivery_timeout_ms, struct delivery *d)
{
	struct runnel_producer_config cfg;
	runnel_producer *p = NULL;
	char bootstrap[64];
	bootstrap_of(f, 0, bootstrap, sizeof(bootstrap));
	runnel_producer_config_init(&cfg);
	cfg.client.bootstrap = bootstrap;
	cfg.retry_backoff_ms = 20;
	cfg.delivery_timeout_ms = delivery_timeout_ms;
	int rc = runnel_producer_new(&cfg, &p);
	if (rc != 0)
		return rc;
	rc = runnel_producer_send(p, "t", 0, NULL, -1, "v", 1, NULL, 0, -1, on_delivery, d);
	if (rc == 0)
		runnel_producer_flush(p, delivery_timeout_ms + 2000);
	runnel_producer_free(p);
	return rc;
}

static void check_retried_to_success(int err)
{
	static struct fake f;
	struct delivery d = {0};
	CHECK(fake_start(&f) == 0);
	f.produce_script[0] = err;
	f.produce_script[1] = err;
	f.produce_script_len = 2;
	int rc = produce_one(&f, 10000, &d);
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(d.calls, 1);
	CHECK_EQ_INT(d.err, 0);
	CHECK_EQ_INT(d.offset, 42);
	CHECK_EQ_INT(f.produces, 3);
	/* Each retry asked for fresh metadata first (beyond the first lookup). */
	CHECK(f.nodes[0].metadata + f.nodes[1].metadata >= 2);
}

TEST(producer_retries_not_enough_replicas)
{
	check_retried_to_success(RN_E_NOT_ENOUGH_REPLICAS);
}

TEST(producer_retries_not_enough_replicas_after_append)
{
	check_retried_to_success(RN_E_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
}

TEST(producer_retries_not_leader_and_timeouts)
{
	static struct fake f;
	struct delivery d = {0};
	CHECK(fake_start(&f) == 0);
	f.produce_script[0] = RN_E_NOT_LEADER_OR_FOLLOWER;
	f.produce_script[1] = RN_E_REQUEST_TIMED_OUT;
	f.produce_script[2] = RN_E_LEADER_NOT_AVAILABLE;
	f.produce_script_len = 3;
	int rc = produce_one(&f, 10000, &d);
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(d.err, 0);
	CHECK_EQ_INT(f.produces, 4);
}

TEST(producer_gives_up_with_not_enough_replicas_at_delivery_timeout)
{
	static struct fake f;
	struct delivery d = {0};
	CHECK(fake_start(&f) == 0);
	f.produce_always = RN_E_NOT_ENOUGH_REPLICAS;
	int64_t start = rn_mono_ms();
	int rc = produce_one(&f, 600, &d);
	int64_t ms = rn_mono_ms() - start;
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(d.calls, 1);
	/* The refusal that kept the record out, not a bare timeout. */
	CHECK_EQ_INT(d.err, RN_E_NOT_ENOUGH_REPLICAS);
	CHECK_EQ_INT(d.offset, -1);
	CHECK(f.produces >= 2);
	CHECK(ms >= 500);
	CHECK(ms < 3000);
}

TEST(producer_reports_non_retriable_at_once)
{
	static struct fake f;
	struct delivery d = {0};
	CHECK(fake_start(&f) == 0);
	f.produce_script[0] = RN_E_CORRUPT_MESSAGE;
	f.produce_script_len = 1;
	int rc = produce_one(&f, 10000, &d);
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(d.err, RN_E_CORRUPT_MESSAGE);
	CHECK_EQ_INT(f.produces, 1);
}

/* ------------------------------------------------------ elect leaders */

TEST(elect_leaders_follows_controller_and_sorts_results)
{
	static struct fake f;
	struct runnel_client_config cfg;
	runnel_admin *a = NULL;
	struct runnel_election_result *rs = NULL;
	size_t n = 0;
	char bootstrap[64];
	CHECK(fake_start(&f) == 0);
	f.real_controller = 2; /* metadata still names node 1 */
	bootstrap_of(&f, 0, bootstrap, sizeof(bootstrap));
	runnel_client_config_init(&cfg);
	cfg.bootstrap = bootstrap;
	CHECK(runnel_admin_new(&cfg, &a) == 0);
	int rc = runnel_admin_elect_leaders(a, NULL, -1, 10000, &rs, &n);
	if (rc != 0)
		fprintf(stderr, "  elect: %s\n", runnel_admin_errmsg(a));
	runnel_admin_free(a);
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(f.nodes[0].elects, 1);
	CHECK_EQ_INT(f.nodes[1].elects, 1);
	CHECK_EQ_INT(f.elect_topic_count, 0); /* every topic */
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_STR(rs[0].topic, "nope");
	CHECK_EQ_INT(rs[0].partition, -1);
	CHECK_EQ_INT(rs[0].error, RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	for (int p = 0; p < 3; p++) {
		CHECK_EQ_STR(rs[1 + p].topic, "t");
		CHECK_EQ_INT(rs[1 + p].partition, p);
	}
	CHECK_EQ_INT(rs[1].error, 0);
	CHECK_EQ_INT(rs[2].error, RN_E_ELECTION_NOT_NEEDED);
	CHECK_EQ_INT(rs[3].error, RN_E_PREFERRED_LEADER_NOT_AVAILABLE);
	CHECK_EQ_STR(rs[3].message, "replica 1 is fenced");
	runnel_election_results_free(rs, n);
}

TEST(elect_leaders_sends_topic_and_partition_filter)
{
	static struct fake f;
	struct runnel_client_config cfg;
	runnel_admin *a = NULL;
	struct runnel_election_result *rs = NULL;
	size_t n = 0;
	char bootstrap[64];
	CHECK(fake_start(&f) == 0);
	bootstrap_of(&f, 0, bootstrap, sizeof(bootstrap));
	runnel_client_config_init(&cfg);
	cfg.bootstrap = bootstrap;
	CHECK(runnel_admin_new(&cfg, &a) == 0);
	CHECK_EQ_INT(runnel_admin_elect_leaders(a, NULL, 1, 1000, &rs, &n), RN_E_INVAL);
	CHECK_EQ_INT(runnel_admin_elect_leaders(a, "t", -2, 1000, &rs, &n), RN_E_INVAL);
	CHECK_EQ_INT(runnel_admin_elect_leaders(a, "", -1, 1000, &rs, &n), RN_E_INVAL);
	int rc = runnel_admin_elect_leaders(a, "t", 1, 10000, &rs, &n);
	runnel_election_results_free(rs, n);
	runnel_admin_free(a);
	fake_stop(&f);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(f.elect_topic_count, 1);
	CHECK_EQ_STR(f.elect_topic, "t");
	CHECK_EQ_INT(f.elect_partition_count, 1);
	CHECK_EQ_INT(f.elect_partitions[0], 1);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
