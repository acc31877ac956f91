/* test_node.c: runneld as a process on loopback, driven with raw frames. */
#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"
#include "common/clock.h"
#include "test/unit/broker/frame_io.h"
#include "test/unit/harness.h"
#include "wire/batch.h"
#include "wire/codec.h"
#include "wire/frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* How long a test waits for the node to come up or answer. */
#define WAIT_MS 10000

static pid_t node_pid = -1;
static int node_port;
static char node_dir[600];

static int try_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = {WAIT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Runs runneld with extra arguments; returns its pid.  stderr goes to log. */
static pid_t spawn_node(const char *dir, int port, char *const *extra, int extra_count)
{
	const char *bin = getenv("RUNNELD");
	char listen[64], data[700], log[700];
	snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", port);
	snprintf(data, sizeof(data), "--data-dir=%s/data", dir);
	snprintf(log, sizeof(log), "%s/node.log", dir);
	char *argv[16] = {(char *)bin, listen, data};
	int argc = 3;
	for (int i = 0; i < extra_count; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	pid_t pid = -1;
	if (!bin || posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int wait_exit(pid_t pid)
{
	int status = 0;
	int64_t deadline = rn_mono_ms() + WAIT_MS;
	while (rn_mono_ms() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void stop_node(void)
{
	if (node_pid > 0) {
		kill(node_pid, SIGTERM);
		wait_exit(node_pid);
	}
	node_pid = -1;
}

/* Starts the shared node (once) and waits until it accepts connections. */
static int ensure_node(void)
{
	if (node_pid > 0)
		return 0;
	if (!node_dir[0]) {
		snprintf(node_dir, sizeof(node_dir), "%s", harness_tmpdir());
		node_port = harness_free_port();
		atexit(stop_node);
	}
	node_pid = spawn_node(node_dir, node_port, NULL, 0);
	if (node_pid < 0)
		return -1;
	int64_t deadline = rn_mono_ms() + WAIT_MS;
	while (rn_mono_ms() < deadline) {
		int fd = try_connect(node_port);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(20000);
	}
	return -1;
}

static int conn_open(void)
{
	return ensure_node() == 0 ? try_connect(node_port) : -1;
}

static int32_t next_correlation = 1;

/* True when the peer closed (read returns 0) within the wait. */
static int peer_closed(int fd)
{
	uint8_t b;
	return read(fd, &b, 1) == 0;
}

static Runnel__Request *request_new(int32_t api_key)
{
	Runnel__Request *req = calloc(1, sizeof(*req));
	runnel__request__init(req);
	Runnel__RequestHeader *h = calloc(1, sizeof(*h));
	runnel__request_header__init(h);
	h->api_key = api_key;
	h->correlation_id = next_correlation++;
	h->client_id = "test";
	req->header = h;
	req->body_case = (Runnel__Request__BodyCase)(api_key + WIRE_BODY_FIELD_OFFSET);
	return req;
}

/* Sends req and returns the matching response (freeing the request's
 * header; bodies are on the caller's stack). */
static Runnel__Response *call(int fd, Runnel__Request *req)
{
	int32_t cid = req->header->correlation_id;
	send_request(fd, req);
	free(req->header);
	free(req);
	Runnel__Response *resp = recv_response(fd);
	if (resp && resp->correlation_id != cid) {
		runnel__response__free_unpacked(resp, NULL);
		return NULL;
	}
	return resp;
}

static Runnel__Response *api_versions(int fd)
{
	static Runnel__ApiVersionsRequest body = RUNNEL__API_VERSIONS_REQUEST__INIT;
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_API_VERSIONS);
	req->api_versions = &body;
	return call(fd, req);
}

static int create_topic(int fd, const char *name, int partitions, const char *cfg_name,
			const char *cfg_value)
{
	Runnel__CreatableTopic t = RUNNEL__CREATABLE_TOPIC__INIT;
	Runnel__CreatableTopic *tp = &t;
	Runnel__ConfigEntry ce = RUNNEL__CONFIG_ENTRY__INIT;
	Runnel__ConfigEntry *cep = &ce;
	t.name = (char *)name;
	t.num_partitions = partitions;
	if (cfg_name) {
		ce.name = (char *)cfg_name;
		ce.value = (char *)cfg_value;
		t.n_configs = 1;
		t.configs = &cep;
	}
	Runnel__CreateTopicsRequest body = RUNNEL__CREATE_TOPICS_REQUEST__INIT;
	body.n_topics = 1;
	body.topics = &tp;
	body.timeout_ms = 5000;
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_CREATE_TOPICS);
	req->create_topics = &body;
	Runnel__Response *resp = call(fd, req);
	int rc = !resp ? -1
	       : resp->error_code ? resp->error_code
				  : resp->create_topics->topics[0]->error_code;
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	return rc;
}

/* Builds one batch of count records "v0".."v(count-1)" into buf. */
static size_t build_batch(uint8_t *buf, size_t cap, int count, const char *prefix)
{
	struct batch_builder b;
	batch_builder_init(&b, buf, cap);
	for (int i = 0; i < count; i++) {
		char value[32];
		int n = snprintf(value, sizeof(value), "%s%d", prefix, i);
		RN_ASSERT(batch_builder_add(&b, 1700000000000LL + i, NULL, -1, value, n, NULL, 0) == 0);
	}
	return batch_builder_finish(&b, -1, -1, -1);
}

/* Produces one batch; returns the response (caller frees) or NULL. */
static Runnel__Response *produce(int fd, const char *topic, int32_t partition, int32_t acks,
				 uint8_t *batch, size_t len)
{
	Runnel__PartitionProduceData pd = RUNNEL__PARTITION_PRODUCE_DATA__INIT;
	Runnel__PartitionProduceData *pdp = &pd;
	pd.partition = partition;
	pd.records.data = batch;
	pd.records.len = len;
	Runnel__TopicProduceData td = RUNNEL__TOPIC_PRODUCE_DATA__INIT;
	Runnel__TopicProduceData *tdp = &td;
	td.name = (char *)topic;
	td.n_partitions = 1;
	td.partitions = &pdp;
	Runnel__ProduceRequest body = RUNNEL__PRODUCE_REQUEST__INIT;
	body.acks = acks;
	body.timeout_ms = 5000;
	body.n_topics = 1;
	body.topics = &tdp;
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_PRODUCE);
	req->produce = &body;
	if (acks == 0) {
		send_request(fd, req);
		free(req->header);
		free(req);
		return NULL;
	}
	return call(fd, req);
}

static void fetch_send(int fd, const char *topic, int32_t partition, int64_t offset,
		       int32_t min_bytes, int32_t max_wait_ms, int32_t correlation)
{
	Runnel__FetchPartition fp = RUNNEL__FETCH_PARTITION__INIT;
	Runnel__FetchPartition *fpp = &fp;
	fp.partition = partition;
	fp.fetch_offset = offset;
	fp.partition_max_bytes = 1 << 20;
	fp.current_leader_epoch = -1;
	Runnel__FetchTopic ft = RUNNEL__FETCH_TOPIC__INIT;
	Runnel__FetchTopic *ftp = &ft;
	ft.name = (char *)topic;
	ft.n_partitions = 1;
	ft.partitions = &fpp;
	Runnel__FetchRequest body = RUNNEL__FETCH_REQUEST__INIT;
	body.replica_id = -1;
	body.max_wait_ms = max_wait_ms;
	body.min_bytes = min_bytes;
	body.max_bytes = 1 << 22;
	body.n_topics = 1;
	body.topics = &ftp;
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_FETCH);
	req->header->correlation_id = correlation;
	req->fetch = &body;
	send_request(fd, req);
	free(req->header);
	free(req);
}

static Runnel__FetchPartitionData *fetch_part(Runnel__Response *resp)
{
	if (!resp || resp->body_case != RUNNEL__RESPONSE__BODY_FETCH || resp->fetch->n_topics != 1 ||
	    resp->fetch->topics[0]->n_partitions != 1)
		return NULL;
	return resp->fetch->topics[0]->partitions[0];
}

/* Counts records in fetched bytes and checks their values and offsets. */
static int check_records(const ProtobufCBinaryData *data, int64_t first_offset, int expected,
			 const char *prefix)
{
	size_t off = 0;
	int seen = 0;
	while (off < data->len) {
		struct batch_info info;
		if (batch_validate(data->data + off, data->len - off, RN_MAX_RECORDS_PER_BATCH, &info) != 0 &&
		    batch_peek(data->data + off, data->len - off, &info) != 0)
			return -1;
		struct batch_iter it;
		if (batch_iter_init(&it, data->data + off, info.total_bytes) != 0)
			return -1;
		struct record_view rec;
		while (batch_iter_next(&it, &rec) == 1) {
			char want[32];
			int n = snprintf(want, sizeof(want), "%s%d", prefix, seen);
			if (rec.offset != first_offset + seen || rec.value_len != n ||
			    memcmp(rec.value, want, (size_t)n) != 0)
				return -1;
			seen++;
		}
		off += info.total_bytes;
	}
	return seen == expected ? 0 : -1;
}

TEST(api_versions_and_metadata)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	Runnel__Response *resp = api_versions(fd);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->error_code, 0);
	CHECK(resp->api_versions->n_apis >= 7);
	runnel__response__free_unpacked(resp, NULL);

	Runnel__MetadataRequest body = RUNNEL__METADATA_REQUEST__INIT;
	body.all_topics = 1;
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_METADATA);
	req->metadata = &body;
	resp = call(fd, req);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->metadata->n_brokers, 1);
	CHECK_EQ_INT(resp->metadata->brokers[0]->node_id, 1);
	CHECK_EQ_INT(resp->metadata->brokers[0]->port, node_port);
	CHECK_EQ_INT(strlen(resp->metadata->cluster_id), 22);
	CHECK_EQ_INT(resp->metadata->controller_id, 1);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

TEST(produce_fetch_list_offsets)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(create_topic(fd, "orders", 2, "flush.messages", "1"), 0);
	/* Creating it again names the problem. */
	CHECK_EQ_INT(create_topic(fd, "orders", 2, NULL, NULL), -RN_E_TOPIC_ALREADY_EXISTS);
	static uint8_t batch[4096];
	size_t len = build_batch(batch, sizeof(batch), 3, "v");
	Runnel__Response *resp = produce(fd, "orders", 1, -1, batch, len);
	CHECK(resp && resp->produce->topics[0]->partitions[0]->error_code == 0);
	CHECK_EQ_INT(resp->produce->topics[0]->partitions[0]->base_offset, 0);
	runnel__response__free_unpacked(resp, NULL);
	len = build_batch(batch, sizeof(batch), 2, "v");
	resp = produce(fd, "orders", 1, 1, batch, len);
	CHECK(resp && resp->produce->topics[0]->partitions[0]->error_code == 0);
	CHECK_EQ_INT(resp->produce->topics[0]->partitions[0]->base_offset, 3);
	runnel__response__free_unpacked(resp, NULL);

	fetch_send(fd, "orders", 1, 0, 1, 100, 77);
	resp = recv_response(fd);
	Runnel__FetchPartitionData *pd = fetch_part(resp);
	CHECK(pd != NULL);
	CHECK_EQ_INT(resp->correlation_id, 77);
	CHECK_EQ_INT(pd->error_code, 0);
	CHECK_EQ_INT(pd->high_watermark, 5);
	/* Two batches: v0 v1 v2 at 0..2, then v0 v1 at 3..4. */
	CHECK(pd->records.len > 0);
	runnel__response__free_unpacked(resp, NULL);

	fetch_send(fd, "orders", 1, 3, 1, 100, 78);
	resp = recv_response(fd);
	pd = fetch_part(resp);
	CHECK(pd != NULL);
	CHECK_OK(check_records(&pd->records, 3, 2, "v"));
	runnel__response__free_unpacked(resp, NULL);

	fetch_send(fd, "orders", 1, 6, 1, 100, 79);
	resp = recv_response(fd);
	pd = fetch_part(resp);
	CHECK(pd != NULL);
	CHECK_EQ_INT(pd->error_code, -RN_E_OFFSET_OUT_OF_RANGE);
	CHECK_EQ_INT(pd->high_watermark, 5);
	CHECK_EQ_INT(pd->log_start_offset, 0);
	runnel__response__free_unpacked(resp, NULL);

	Runnel__ListOffsetsPartition lp[3] = {RUNNEL__LIST_OFFSETS_PARTITION__INIT,
					      RUNNEL__LIST_OFFSETS_PARTITION__INIT,
					      RUNNEL__LIST_OFFSETS_PARTITION__INIT};
	Runnel__ListOffsetsPartition *lpp[3] = {&lp[0], &lp[1], &lp[2]};
	for (int i = 0; i < 3; i++) {
		lp[i].partition = 1;
		lp[i].current_leader_epoch = -1;
	}
	lp[0].timestamp = -1;
	lp[1].timestamp = -2;
	lp[2].timestamp = 1700000000001LL;
	Runnel__ListOffsetsTopic lt = RUNNEL__LIST_OFFSETS_TOPIC__INIT;
	Runnel__ListOffsetsTopic *ltp = &lt;
	lt.name = "orders";
	lt.n_partitions = 3;
	lt.partitions = lpp;
	Runnel__ListOffsetsRequest lbody = RUNNEL__LIST_OFFSETS_REQUEST__INIT;
	lbody.replica_id = -1;
	lbody.n_topics = 1;
	lbody.topics = &ltp;
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_LIST_OFFSETS);
	req->list_offsets = &lbody;
	resp = call(fd, req);
	CHECK(resp != NULL);
	Runnel__ListOffsetsPartitionResult **res = resp->list_offsets->topics[0]->partitions;
	CHECK_EQ_INT(res[0]->offset, 5);
	CHECK_EQ_INT(res[1]->offset, 0);
	CHECK_EQ_INT(res[2]->error_code, 0);
	CHECK(res[2]->offset == 0 || res[2]->offset == 1);
	CHECK_EQ_INT(res[0]->high_watermark, 5);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

TEST(produce_errors_are_per_partition)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(create_topic(fd, "errs", 1, NULL, NULL), 0);
	static uint8_t batch[4096];
	size_t len = build_batch(batch, sizeof(batch), 2, "e");
	Runnel__Response *resp = produce(fd, "nope", 0, 1, batch, len);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->produce->topics[0]->partitions[0]->error_code,
		     -RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	runnel__response__free_unpacked(resp, NULL);
	resp = produce(fd, "errs", 0, 5, batch, len);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->produce->topics[0]->partitions[0]->error_code,
		     -RN_E_INVALID_REQUIRED_ACKS);
	runnel__response__free_unpacked(resp, NULL);
	batch[len - 1] ^= 0x5a; /* breaks the CRC */
	resp = produce(fd, "errs", 0, 1, batch, len);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->produce->topics[0]->partitions[0]->error_code, -RN_E_CORRUPT_MESSAGE);
	CHECK(strlen(resp->produce->topics[0]->partitions[0]->error_message) > 0);
	runnel__response__free_unpacked(resp, NULL);
	/* Nothing was appended by the refused requests. */
	fetch_send(fd, "errs", 0, 0, 0, 0, 5);
	resp = recv_response(fd);
	CHECK(fetch_part(resp) != NULL);
	CHECK_EQ_INT(fetch_part(resp)->high_watermark, 0);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

TEST(acks_zero_gets_no_response_but_appends)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(create_topic(fd, "fire", 1, NULL, NULL), 0);
	static uint8_t batch[4096];
	size_t len = build_batch(batch, sizeof(batch), 4, "f");
	produce(fd, "fire", 0, 0, batch, len);
	/* The next response on the connection is for the next request. */
	Runnel__Response *resp = api_versions(fd);
	CHECK(resp != NULL);
	runnel__response__free_unpacked(resp, NULL);
	fetch_send(fd, "fire", 0, 0, 1, 1000, 9);
	resp = recv_response(fd);
	CHECK(fetch_part(resp) != NULL);
	CHECK_OK(check_records(&fetch_part(resp)->records, 0, 4, "f"));
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

TEST(pipelined_responses_keep_request_order)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(create_topic(fd, "pipe", 1, NULL, NULL), 0);
	/* A long poll that finds nothing, then a request answered at once:
	 * the second answer must wait for the first. */
	int64_t start = rn_mono_ms();
	fetch_send(fd, "pipe", 0, 0, 1, 300, 1000);
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_API_VERSIONS);
	static Runnel__ApiVersionsRequest av = RUNNEL__API_VERSIONS_REQUEST__INIT;
	req->api_versions = &av;
	req->header->correlation_id = 1001;
	send_request(fd, req);
	free(req->header);
	free(req);
	Runnel__Response *first = recv_response(fd);
	Runnel__Response *second = recv_response(fd);
	CHECK(first && second);
	CHECK_EQ_INT(first->correlation_id, 1000);
	CHECK_EQ_INT(second->correlation_id, 1001);
	CHECK(rn_mono_ms() - start >= 250);
	CHECK_EQ_INT(fetch_part(first)->records.len, 0);
	runnel__response__free_unpacked(first, NULL);
	runnel__response__free_unpacked(second, NULL);
	close(fd);
}

/* More pipelined long polls than a connection may have in flight: reading
 * pauses at the limit and resumes as they complete, and every answer comes,
 * in order. */
TEST(backpressure_keeps_every_answer_in_order)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(create_topic(fd, "bp", 1, NULL, NULL), 0);
	enum { count = RN_MAX_INFLIGHT_PER_CONN + 50 };
	int64_t start = rn_mono_ms();
	for (int i = 0; i < count; i++)
		fetch_send(fd, "bp", 0, 0, 1, 150, 5000 + i);
	for (int i = 0; i < count; i++) {
		Runnel__Response *resp = recv_response(fd);
		CHECK(resp != NULL);
		CHECK_EQ_INT(resp->correlation_id, 5000 + i);
		runnel__response__free_unpacked(resp, NULL);
	}
	/* Two waves of long polls: the ones past the limit waited for the first. */
	CHECK(rn_mono_ms() - start >= 280);
	close(fd);
}

TEST(long_poll_wakes_on_produce)
{
	int consumer = conn_open();
	int producer = conn_open();
	CHECK(consumer >= 0 && producer >= 0);
	CHECK_EQ_INT(create_topic(producer, "poll", 1, NULL, NULL), 0);
	int64_t start = rn_mono_ms();
	fetch_send(consumer, "poll", 0, 0, 1, 8000, 42);
	usleep(100000);
	static uint8_t batch[4096];
	size_t len = build_batch(batch, sizeof(batch), 1, "p");
	Runnel__Response *resp = produce(producer, "poll", 0, 1, batch, len);
	CHECK(resp != NULL);
	runnel__response__free_unpacked(resp, NULL);
	resp = recv_response(consumer);
	CHECK(fetch_part(resp) != NULL);
	CHECK(rn_mono_ms() - start < 4000);
	CHECK_OK(check_records(&fetch_part(resp)->records, 0, 1, "p"));
	runnel__response__free_unpacked(resp, NULL);
	close(consumer);
	close(producer);
}

TEST(bad_frames_close_only_their_connection)
{
	int bad = conn_open();
	int good = conn_open();
	CHECK(bad >= 0 && good >= 0);
	uint8_t huge[4];
	be_put32(huge, RN_MAX_FRAME_BYTES + 1);
	CHECK(write(bad, huge, 4) == 4);
	Runnel__Response *resp = recv_response(bad);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->correlation_id, 0);
	CHECK_EQ_INT(resp->error_code, -RN_E_FRAME_TOO_LARGE);
	runnel__response__free_unpacked(resp, NULL);
	CHECK(peer_closed(bad));
	close(bad);

	bad = conn_open();
	uint8_t garbage[7] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
	CHECK(write(bad, garbage, sizeof(garbage)) == (ssize_t)sizeof(garbage));
	resp = recv_response(bad);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->error_code, -RN_E_MALFORMED_FRAME);
	runnel__response__free_unpacked(resp, NULL);
	CHECK(peer_closed(bad));
	close(bad);

	resp = api_versions(good);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->error_code, 0);
	runnel__response__free_unpacked(resp, NULL);
	close(good);
}

TEST(refused_request_keeps_the_connection)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_API_VERSIONS);
	static Runnel__ApiVersionsRequest av = RUNNEL__API_VERSIONS_REQUEST__INIT;
	req->api_versions = &av;
	req->header->api_version = 999;
	int32_t cid = req->header->correlation_id;
	Runnel__Response *resp = call(fd, req);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->correlation_id, cid);
	CHECK_EQ_INT(resp->error_code, -RN_E_UNSUPPORTED_VERSION);
	runnel__response__free_unpacked(resp, NULL);
	resp = api_versions(fd);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->error_code, 0);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

TEST(closing_with_parked_requests_is_harmless)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(create_topic(fd, "gone", 1, NULL, NULL), 0);
	for (int i = 0; i < 20; i++)
		fetch_send(fd, "gone", 0, 0, 1, 5000, 500 + i);
	usleep(50000);
	close(fd);
	usleep(50000);
	fd = conn_open();
	Runnel__Response *resp = api_versions(fd);
	CHECK(resp != NULL);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

TEST(delete_topic_then_unknown)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(create_topic(fd, "tmp", 1, NULL, NULL), 0);
	Runnel__DeleteTopicsRequest body = RUNNEL__DELETE_TOPICS_REQUEST__INIT;
	char *names[] = {"tmp", "never-was"};
	body.n_names = 2;
	body.names = names;
	body.timeout_ms = 5000;
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_DELETE_TOPICS);
	req->delete_topics = &body;
	Runnel__Response *resp = call(fd, req);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->delete_topics->topics[0]->error_code, 0);
	CHECK_EQ_INT(resp->delete_topics->topics[1]->error_code, -RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	runnel__response__free_unpacked(resp, NULL);
	static uint8_t batch[4096];
	size_t len = build_batch(batch, sizeof(batch), 1, "x");
	resp = produce(fd, "tmp", 0, 1, batch, len);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->produce->topics[0]->partitions[0]->error_code,
		     -RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

/* Last (tests run in file order): restarts the shared node. */
TEST(restart_keeps_topics_and_records)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(create_topic(fd, "durable", 1, NULL, NULL), 0);
	static uint8_t batch[4096];
	size_t len = build_batch(batch, sizeof(batch), 5, "d");
	Runnel__Response *resp = produce(fd, "durable", 0, 1, batch, len);
	CHECK(resp != NULL);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
	pid_t pid = node_pid;
	/* A single node is its only broker: its controlled shutdown has nobody
	 * to hand over to, so it stops promptly. */
	int64_t stop_start = rn_mono_ms();
	kill(pid, SIGTERM);
	CHECK_EQ_INT(wait_exit(pid), 0);
	CHECK(rn_mono_ms() - stop_start < 4000);
	node_pid = -1;
	fd = conn_open();
	CHECK(fd >= 0);
	fetch_send(fd, "durable", 0, 0, 1, 1000, 3);
	resp = recv_response(fd);
	CHECK(fetch_part(resp) != NULL);
	CHECK_OK(check_records(&fetch_part(resp)->records, 0, 5, "d"));
	runnel__response__free_unpacked(resp, NULL);
	/* The deleted topic stayed deleted. */
	CHECK_EQ_INT(create_topic(fd, "tmp", 1, NULL, NULL), 0);
	close(fd);
}

TEST(wrong_node_id_and_bad_config_refuse_to_start)
{
	CHECK_OK(ensure_node());
	stop_node();
	char *wrong[] = {"--node-id=2", "--voters=2@127.0.0.1:1"};
	pid_t pid = spawn_node(node_dir, harness_free_port(), wrong, 2);
	CHECK(pid > 0);
	CHECK_EQ_INT(wait_exit(pid), 1);
	char *bad[] = {"--num-partitions=zero"};
	pid = spawn_node(node_dir, harness_free_port(), bad, 1);
	CHECK(pid > 0);
	CHECK_EQ_INT(wait_exit(pid), 2);
}

TEST(describe_quorum_on_a_single_node)
{
	CHECK_OK(ensure_node());
	int fd = conn_open();
	CHECK(fd >= 0);
	static Runnel__DescribeQuorumRequest body = RUNNEL__DESCRIBE_QUORUM_REQUEST__INIT;
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_DESCRIBE_QUORUM);
	req->describe_quorum = &body;
	Runnel__Response *resp = call(fd, req);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->body_case, RUNNEL__RESPONSE__BODY_DESCRIBE_QUORUM);
	const Runnel__DescribeQuorumResponse *dq = resp->describe_quorum;
	CHECK_EQ_INT(dq->error_code, 0);
	CHECK_EQ_INT(dq->leader_id, 1);
	CHECK_EQ_INT(dq->node_id, 1);
	CHECK_EQ_STR(dq->role, "leader");
	CHECK(dq->leader_epoch >= 1);
	CHECK(dq->commit_index >= 3); /* cluster, registration, unfence */
	CHECK_EQ_INT(strlen(dq->cluster_id), 22);
	CHECK_EQ_INT(dq->n_voters, 1);
	CHECK_EQ_INT(dq->voters[0]->node_id, 1);
	CHECK_EQ_INT(dq->voters[0]->lag, 0);
	CHECK_EQ_INT(dq->n_observers, 0);
	CHECK_EQ_INT(dq->leader_port, node_port);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

TEST(a_raft_message_is_never_answered)
{
	CHECK_OK(ensure_node());
	int fd = conn_open();
	CHECK(fd >= 0);
	/* A stale vote request from a node that is not a voter: dropped
	 * silently, and the next request is answered normally. */
	static Runnel__RaftMessageRequest body = RUNNEL__RAFT_MESSAGE_REQUEST__INIT;
	body.type = 1;
	body.from = 7;
	body.to = 1;
	body.cluster_id = "";
	Runnel__Request *req = request_new(RUNNEL__API_KEY__API_RAFT_MESSAGE);
	req->raft_message = &body;
	send_request(fd, req);
	free(req->header);
	free(req);
	Runnel__Response *resp = api_versions(fd);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->body_case, RUNNEL__RESPONSE__BODY_API_VERSIONS);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);
}

TEST(a_different_cluster_id_refuses_to_start)
{
	CHECK_OK(ensure_node());
	stop_node();
	char *other[] = {"--cluster-id=another-cluster"};
	pid_t pid = spawn_node(node_dir, harness_free_port(), other, 1);
	CHECK(pid > 0);
	CHECK_EQ_INT(wait_exit(pid), 1);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return harness_run(argc, argv);
}
