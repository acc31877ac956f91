/* test_replication.c: three runneld processes replicate partitions: followers copy the leader, the ISR follows stopped followers, a deposed leader truncates, leadership returns to the preferred replica. */
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
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NODES 3
/* How long the cluster gets to elect, register and unfence every broker. */
#define FORM_MS 30000
/* A socket read gives up after this long. */
#define READ_TIMEOUT_MS 20000
/* Small lag and session bounds so that ISR changes and fencing happen
 * within a unit test. */
#define LAG_MS "3000"
#define SESSION_MS "3000"
#define HEARTBEAT_MS "300"
/* How long a replication effect (a copy, an ISR change, a failover) may
 * take before the test fails. */
#define SETTLE_MS 15000

static pid_t pids[NODES + 1];
static int ports[NODES + 1];
static char base_dir[600];
static int test_finished;
static int32_t next_correlation = 1;

static int try_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = {READ_TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static pid_t spawn_node(int id)
{
	const char *bin = getenv("RUNNELD");
	char node_id[32], listen[64], data[700], log[700], voters[256], rack[32];
	snprintf(node_id, sizeof(node_id), "--node-id=%d", id);
	snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", ports[id]);
	snprintf(data, sizeof(data), "--data-dir=%s/n%d", base_dir, id);
	snprintf(log, sizeof(log), "%s/n%d.log", base_dir, id);
	snprintf(rack, sizeof(rack), "--rack=r%d", id);
	snprintf(voters, sizeof(voters), "--voters=1@127.0.0.1:%d,2@127.0.0.1:%d,3@127.0.0.1:%d",
		 ports[1], ports[2], ports[3]);
	char *argv[] = {(char *)bin, node_id, listen, data, voters, rack,
			"--replica-lag-time-max-ms=" LAG_MS,
			"--broker-session-timeout-ms=" SESSION_MS,
			"--broker-heartbeat-interval-ms=" HEARTBEAT_MS, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	pid_t pid = -1;
	if (!bin || posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* On failure, the nodes' logs tell why (the test directory is removed). */
static void print_logs(void)
{
	if (test_finished)
		return;
	for (int i = 1; i <= NODES; i++) {
		char path[700], line[1024];
		snprintf(path, sizeof(path), "%s/n%d.log", base_dir, i);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		fprintf(stderr, "---- node %d log\n", i);
		while (fgets(line, sizeof(line), f))
			fputs(line, stderr);
		fclose(f);
	}
}

static void kill_all(void)
{
	print_logs();
	for (int i = 1; i <= NODES; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGCONT);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
		pids[i] = -1;
	}
}

/* ------------------------------------------------------------ the protocol */

/* Sends one request to node id and returns its answer (NULL: none). */
static Runnel__Response *call(int id, Runnel__Request *req, int32_t api_key)
{
	Runnel__RequestHeader hdr = RUNNEL__REQUEST_HEADER__INIT;
	hdr.api_key = api_key;
	hdr.correlation_id = next_correlation++;
	hdr.client_id = "test";
	req->header = &hdr;
	req->body_case = (Runnel__Request__BodyCase)(api_key + WIRE_BODY_FIELD_OFFSET);
	int fd = try_connect(ports[id]);
	if (fd < 0)
		return NULL;
	send_request(fd, req);
	Runnel__Response *resp = recv_response(fd);
	close(fd);
	if (resp && (resp->correlation_id != hdr.correlation_id ||
		     (int32_t)resp->body_case != api_key + WIRE_BODY_FIELD_OFFSET)) {
		runnel__response__free_unpacked(resp, NULL);
		resp = NULL;
	}
	return resp;
}

/* What node id's metadata says about one partition. */
struct pview {
	int controller;
	int leader;
	int epoch;
	int isr[NODES];
	int isr_count;
	int fenced[NODES + 1];
};

static int partition_view(int id, const char *topic, int32_t partition, struct pview *v)
{
	Runnel__MetadataRequest body = RUNNEL__METADATA_REQUEST__INIT;
	body.all_topics = 1;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.metadata = &body;
	Runnel__Response *resp = call(id, &req, RUNNEL__API_KEY__API_METADATA);
	if (!resp)
		return -1;
	memset(v, 0, sizeof(*v));
	int rc = -1;
	const Runnel__MetadataResponse *md = resp->metadata;
	v->controller = md->controller_id;
	for (size_t b = 0; b < md->n_brokers; b++)
		if (md->brokers[b]->node_id >= 1 && md->brokers[b]->node_id <= NODES)
			v->fenced[md->brokers[b]->node_id] = md->brokers[b]->fenced;
	for (size_t t = 0; t < md->n_topics; t++) {
		const Runnel__TopicMetadata *tm = md->topics[t];
		if (strcmp(tm->name, topic) != 0 || (size_t)partition >= tm->n_partitions)
			continue;
		const Runnel__PartitionMetadata *pm = tm->partitions[partition];
		v->leader = pm->leader;
		v->epoch = pm->leader_epoch;
		for (size_t i = 0; i < pm->n_isr && i < NODES; i++)
			v->isr[v->isr_count++] = pm->isr[i];
		rc = 0;
	}
	runnel__response__free_unpacked(resp, NULL);
	return rc;
}

static int in_isr(const struct pview *v, int id)
{
	for (int i = 0; i < v->isr_count; i++)
		if (v->isr[i] == id)
			return 1;
	return 0;
}

/* Creates topic name (one partition, RF 3, min.insync.replicas) at the
 * active controller and waits until every node leads or follows it. */
static int create_topic(const char *name, const char *min_isr)
{
	int64_t deadline = rn_mono_ms() + FORM_MS;
	int rc = -1;
	for (int id = 1; rc != 0 && rn_mono_ms() < deadline; id = id % NODES + 1) {
		Runnel__ConfigEntry ce = RUNNEL__CONFIG_ENTRY__INIT;
		Runnel__ConfigEntry *cep = &ce;
		ce.name = "min.insync.replicas";
		ce.value = (char *)min_isr;
		Runnel__CreatableTopic t = RUNNEL__CREATABLE_TOPIC__INIT;
		Runnel__CreatableTopic *tp = &t;
		t.name = (char *)name;
		t.num_partitions = 1;
		t.replication_factor = NODES;
		t.n_configs = 1;
		t.configs = &cep;
		Runnel__CreateTopicsRequest body = RUNNEL__CREATE_TOPICS_REQUEST__INIT;
		body.n_topics = 1;
		body.topics = &tp;
		body.timeout_ms = 5000;
		Runnel__Request req = RUNNEL__REQUEST__INIT;
		req.create_topics = &body;
		Runnel__Response *resp = call(id, &req, RUNNEL__API_KEY__API_CREATE_TOPICS);
		rc = resp ? resp->create_topics->topics[0]->error_code : -1;
		if (resp)
			runnel__response__free_unpacked(resp, NULL);
		if (rc != 0)
			usleep(100000);
	}
	struct pview v;
	for (int id = 1; rc == 0 && id <= NODES; id++)
		while (partition_view(id, name, 0, &v) != 0 && rn_mono_ms() < deadline)
			usleep(50000);
	return rc;
}

/* Produces one batch of count records "<prefix><i>" to node id.  Returns
 * the partition's error code (0: acknowledged), or -1 without an answer. */
static int produce(int id, const char *topic, int32_t acks, const char *prefix, int count)
{
	uint8_t buf[4096];
	struct batch_builder b;
	batch_builder_init(&b, buf, sizeof(buf));
	for (int i = 0; i < count; i++) {
		char value[64];
		int n = snprintf(value, sizeof(value), "%s%d", prefix, i);
		RN_ASSERT(batch_builder_add(&b, 1700000000000LL + i, NULL, -1, value, n, NULL, 0) ==
			  0);
	}
	size_t len = batch_builder_finish(&b, -1, -1, -1);
	Runnel__PartitionProduceData pd = RUNNEL__PARTITION_PRODUCE_DATA__INIT;
	Runnel__PartitionProduceData *pdp = &pd;
	pd.records.data = buf;
	pd.records.len = len;
	Runnel__TopicProduceData td = RUNNEL__TOPIC_PRODUCE_DATA__INIT;
	Runnel__TopicProduceData *tdp = &td;
	td.name = (char *)topic;
	td.n_partitions = 1;
	td.partitions = &pdp;
	Runnel__ProduceRequest body = RUNNEL__PRODUCE_REQUEST__INIT;
	body.acks = acks;
	body.timeout_ms = 10000;
	body.n_topics = 1;
	body.topics = &tdp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.produce = &body;
	Runnel__Response *resp = call(id, &req, RUNNEL__API_KEY__API_PRODUCE);
	int rc = resp ? resp->produce->topics[0]->partitions[0]->error_code : -1;
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	return rc;
}

/* A consumer's read of the whole partition from node id, fetch after fetch
 * (one answer covers one segment at most): the error code, and the record
 * bytes and high watermark when it is 0. */
struct fetched {
	int error;
	int64_t hw;
	size_t len;
	uint8_t *data;
};

/* One fetch at offset; appends the records to out.  Returns the offset
 * after the last record received, or -1 when nothing came. */
static int64_t fetch_once(int id, const char *topic, int64_t offset, struct fetched *out)
{
	Runnel__FetchPartition fp = RUNNEL__FETCH_PARTITION__INIT;
	Runnel__FetchPartition *fpp = &fp;
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
	body.max_bytes = 1 << 22;
	body.n_topics = 1;
	body.topics = &ftp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.fetch = &body;
	Runnel__Response *resp = call(id, &req, RUNNEL__API_KEY__API_FETCH);
	out->error = -1;
	if (!resp)
		return -1;
	const Runnel__FetchPartitionData *pd = resp->fetch->topics[0]->partitions[0];
	out->error = pd->error_code;
	out->hw = pd->high_watermark;
	int64_t next = -1;
	size_t len = pd->records.len;
	if (pd->error_code == 0 && len > 0) {
		out->data = realloc(out->data, out->len + len);
		memcpy(out->data + out->len, pd->records.data, len);
		out->len += len;
		/* The next offset follows the last batch of the answer. */
		size_t off = 0;
		struct batch_info info;
		while (off < len && batch_peek(pd->records.data + off, len - off, &info) == 0) {
			next = info.base_offset + info.last_offset_delta + 1;
			off += info.total_bytes;
		}
	}
	runnel__response__free_unpacked(resp, NULL);
	return next;
}

static void fetch_all(int id, const char *topic, struct fetched *out)
{
	memset(out, 0, sizeof(*out));
	int64_t offset = 0;
	for (int i = 0; i < 1000 && offset >= 0; i++) {
		offset = fetch_once(id, topic, offset, out);
		if (out->error != 0) {
			free(out->data);
			out->data = NULL;
			out->len = 0;
			return;
		}
	}
}

/* Counts the records in fetched bytes whose value starts with prefix. */
static int count_prefix(const struct fetched *f, const char *prefix)
{
	int seen = 0;
	size_t off = 0;
	while (off < f->len) {
		struct batch_info info;
		if (batch_peek(f->data + off, f->len - off, &info) != 0 ||
		    batch_validate(f->data + off, info.total_bytes, RN_MAX_RECORDS_PER_BATCH, &info) != 0)
			return -1;
		struct batch_iter it;
		struct record_view rec;
		batch_iter_init(&it, f->data + off, info.total_bytes);
		while (batch_iter_next(&it, &rec) == 1)
			if (rec.value_len >= (int32_t)strlen(prefix) &&
			    memcmp(rec.value, prefix, strlen(prefix)) == 0)
				seen++;
		off += info.total_bytes;
	}
	return seen;
}

/* Waits until node id, reading as a consumer, returns exactly the bytes
 * node `like` returns (the leader's committed log). */
static int same_log_soon(int id, int like, const char *topic)
{
	int64_t deadline = rn_mono_ms() + SETTLE_MS;
	while (rn_mono_ms() < deadline) {
		struct fetched a, b;
		fetch_all(like, topic, &a);
		fetch_all(id, topic, &b);
		int same = a.error == 0 && b.error == 0 && a.len > 0 && a.len == b.len &&
			   memcmp(a.data, b.data, a.len) == 0 && a.hw == b.hw;
		if (!same && rn_mono_ms() + 200 > deadline)
			fprintf(stderr, "  node %d: error %d, %zu bytes, hw %lld; node %d: error %d, "
					"%zu bytes, hw %lld\n",
				like, a.error, a.len, (long long)a.hw, id, b.error, b.len,
				(long long)b.hw);
		free(a.data);
		free(b.data);
		if (same)
			return 1;
		usleep(100000);
	}
	return 0;
}

/* Waits until node from shows the partition's ISR with (want 1) or
 * without (want 0) node id, and a leader; fills v. */
static int isr_soon(int from, const char *topic, int id, int want, struct pview *v)
{
	int64_t deadline = rn_mono_ms() + SETTLE_MS;
	while (rn_mono_ms() < deadline) {
		if (partition_view(from, topic, 0, v) == 0 && v->leader > 0 && in_isr(v, id) == want)
			return 1;
		usleep(100000);
	}
	return 0;
}

/* ElectLeaders for topic at the active controller; the partition's code. */
static int elect(const char *topic)
{
	struct pview v;
	if (partition_view(1, topic, 0, &v) != 0 || v.controller <= 0)
		return -1;
	Runnel__ElectLeadersTopic et = RUNNEL__ELECT_LEADERS_TOPIC__INIT;
	Runnel__ElectLeadersTopic *etp = &et;
	int32_t part = 0;
	et.name = (char *)topic;
	et.n_partitions = 1;
	et.partitions = &part;
	Runnel__ElectLeadersRequest body = RUNNEL__ELECT_LEADERS_REQUEST__INIT;
	body.n_topics = 1;
	body.topics = &etp;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.elect_leaders = &body;
	Runnel__Response *resp = call(v.controller, &req, RUNNEL__API_KEY__API_ELECT_LEADERS);
	int rc = -1;
	if (resp && resp->elect_leaders->error_code == 0 && resp->elect_leaders->n_topics == 1 &&
	    resp->elect_leaders->topics[0]->n_partitions == 1)
		rc = resp->elect_leaders->topics[0]->partitions[0]->error_code;
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	return rc;
}

static int all_unfenced(void)
{
	for (int id = 1; id <= NODES; id++) {
		Runnel__MetadataRequest body = RUNNEL__METADATA_REQUEST__INIT;
		Runnel__Request req = RUNNEL__REQUEST__INIT;
		req.metadata = &body;
		Runnel__Response *resp = call(id, &req, RUNNEL__API_KEY__API_METADATA);
		if (!resp)
			return 0;
		int ok = resp->metadata->n_brokers == NODES;
		for (size_t b = 0; b < resp->metadata->n_brokers; b++)
			ok = ok && !resp->metadata->brokers[b]->fenced;
		runnel__response__free_unpacked(resp, NULL);
		if (!ok)
			return 0;
	}
	return 1;
}

static int start_cluster(void)
{
	snprintf(base_dir, sizeof(base_dir), "%s", harness_tmpdir());
	for (int i = 1; i <= NODES; i++)
		ports[i] = harness_free_port();
	atexit(kill_all);
	for (int i = 1; i <= NODES; i++) {
		pids[i] = spawn_node(i);
		if (pids[i] < 0)
			return -1;
	}
	int64_t deadline = rn_mono_ms() + FORM_MS;
	while (rn_mono_ms() < deadline) {
		if (all_unfenced())
			return 0;
		usleep(100000);
	}
	return -1;
}

/* --------------------------------------------------------------- the tests */

TEST(followers_copy_the_leader_and_serve_in_sync_reads)
{
	CHECK_OK(start_cluster());
	CHECK_EQ_INT(create_topic("copied", "2"), 0);
	struct pview v;
	CHECK_OK(partition_view(1, "copied", 0, &v));
	int leader = v.leader;
	CHECK(leader > 0);
	/* acks=all is answered once both followers have each batch. */
	for (int i = 0; i < 20; i++) {
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "c%d-", i);
		CHECK_EQ_INT(produce(leader, "copied", -1, prefix, 10), 0);
	}
	/* Each in-sync follower serves consumers the same bytes as the leader,
	 * up to the same high watermark. */
	for (int id = 1; id <= NODES; id++) {
		if (id == leader)
			continue;
		CHECK(same_log_soon(id, leader, "copied"));
	}
	struct fetched f;
	fetch_all(leader, "copied", &f);
	CHECK_EQ_INT(f.error, 0);
	CHECK_EQ_INT(f.hw, 200);
	CHECK_EQ_INT(count_prefix(&f, "c"), 200);
	free(f.data);
	test_finished = 1;
}

TEST(a_stopped_follower_leaves_the_isr_and_min_isr_guards_acks_all)
{
	test_finished = 0;
	CHECK_EQ_INT(create_topic("guarded", "3"), 0);
	struct pview v;
	CHECK_OK(partition_view(1, "guarded", 0, &v));
	int leader = v.leader;
	CHECK_EQ_INT(produce(leader, "guarded", -1, "before-", 5), 0);
	/* Stop a follower that is not the active controller, so the quorum
	 * keeps its leader. */
	int victim = 0;
	for (int id = 1; id <= NODES && !victim; id++)
		if (id != leader && id != v.controller)
			victim = id;
	CHECK(victim > 0);
	kill(pids[victim], SIGSTOP);
	/* The waiting acks=all produce learns that the ISR shrank below
	 * min.insync.replicas=3 while it waited. */
	CHECK_EQ_INT(produce(leader, "guarded", -1, "during-", 5),
		     -RN_E_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
	CHECK(isr_soon(leader, "guarded", victim, 0, &v));
	CHECK_EQ_INT(v.isr_count, 2);
	/* Now acks=all is refused before anything is appended; acks=1 works. */
	CHECK_EQ_INT(produce(leader, "guarded", -1, "refused-", 5), -RN_E_NOT_ENOUGH_REPLICAS);
	CHECK_EQ_INT(produce(leader, "guarded", 1, "one-", 5), 0);
	/* Resumed, it catches up and comes back; acks=all works again. */
	kill(pids[victim], SIGCONT);
	CHECK(isr_soon(leader, "guarded", victim, 1, &v));
	CHECK_EQ_INT(v.isr_count, 3);
	CHECK_EQ_INT(produce(leader, "guarded", -1, "after-", 5), 0);
	CHECK(same_log_soon(victim, leader, "guarded"));
	struct fetched f;
	fetch_all(victim, "guarded", &f);
	CHECK_EQ_INT(count_prefix(&f, "refused-"), 0);
	CHECK_EQ_INT(count_prefix(&f, "one-"), 5);
	CHECK_EQ_INT(count_prefix(&f, "after-"), 5);
	free(f.data);
	test_finished = 1;
}

TEST(a_deposed_leader_truncates_what_the_new_leader_never_had)
{
	test_finished = 0;
	CHECK_EQ_INT(create_topic("deposed", "1"), 0);
	struct pview v;
	CHECK_OK(partition_view(1, "deposed", 0, &v));
	int old = v.leader;
	int old_epoch = v.epoch;
	CHECK_EQ_INT(produce(old, "deposed", -1, "kept-", 5), 0);
	int a = old % NODES + 1, b = a % NODES + 1;
	CHECK(same_log_soon(a, old, "deposed"));
	CHECK(same_log_soon(b, old, "deposed"));
	/* Cut off from its followers, the leader still takes acks=1 writes
	 * that nobody else gets; then it dies. */
	kill(pids[a], SIGSTOP);
	kill(pids[b], SIGSTOP);
	/* Their parked fetches expire (replica.fetch.wait.max.ms) and they
	 * send no new ones, so the next batch reaches neither. */
	usleep(1000000);
	CHECK_EQ_INT(produce(old, "deposed", 1, "lost-", 7), 0);
	kill(pids[old], SIGKILL);
	waitpid(pids[old], NULL, 0);
	pids[old] = -1;
	kill(pids[a], SIGCONT);
	kill(pids[b], SIGCONT);
	/* The others fence it and elect a new leader from the ISR. */
	int64_t deadline = rn_mono_ms() + SETTLE_MS;
	int moved = 0;
	while (!moved && rn_mono_ms() < deadline) {
		moved = partition_view(a, "deposed", 0, &v) == 0 && v.leader > 0 && v.leader != old &&
			v.epoch > old_epoch;
		if (!moved)
			usleep(100000);
	}
	CHECK(moved);
	int leader = v.leader;
	CHECK_EQ_INT(produce(leader, "deposed", -1, "new-", 3), 0);
	/* Back, the old leader finds its log diverges, drops the records the
	 * new leader never had, and copies the new ones. */
	pids[old] = spawn_node(old);
	CHECK(pids[old] > 0);
	CHECK(isr_soon(leader, "deposed", old, 1, &v));
	CHECK(same_log_soon(old, leader, "deposed"));
	struct fetched f;
	fetch_all(old, "deposed", &f);
	CHECK_EQ_INT(f.error, 0);
	CHECK_EQ_INT(count_prefix(&f, "kept-"), 5);
	CHECK_EQ_INT(count_prefix(&f, "lost-"), 0);
	CHECK_EQ_INT(count_prefix(&f, "new-"), 3);
	free(f.data);

	/* The old leader is the preferred replica (the first one): an election
	 * gives the leadership back to it, and a second one is not needed. */
	CHECK_EQ_INT(elect("deposed"), 0);
	deadline = rn_mono_ms() + SETTLE_MS;
	int back = 0;
	while (!back && rn_mono_ms() < deadline) {
		back = partition_view(old, "deposed", 0, &v) == 0 && v.leader == old;
		if (!back)
			usleep(100000);
	}
	CHECK(back);
	CHECK_EQ_INT(elect("deposed"), -RN_E_ELECTION_NOT_NEEDED);
	CHECK_EQ_INT(produce(old, "deposed", -1, "home-", 2), 0);
	test_finished = 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i <= NODES; i++)
		pids[i] = -1;
	return harness_run(argc, argv);
}
