/* test_cluster.c: three runneld processes on loopback: controlled shutdown, waiters woken by a leadership change, peers named by host name. */
#include "common/errors.h"
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
/* A parked fetch waits this long unless something wakes it. */
#define PARKED_FETCH_WAIT_MS 15000
/* A controlled shutdown ends far within the 9 s session timeout.  Whether
 * the controller confirmed it (rather than the 5 s bound running out) is
 * read from the node's log, not from a clock that a busy machine stretches. */
#define CONTROLLED_STOP_MS 8000
/* The bound of a controlled shutdown nobody confirms
 * (NODE_SHUTDOWN_MAX_WAIT_MS). */
#define SHUTDOWN_BOUND_MS 5000
/* The last broker has nobody to hand over to: it stops at once, well
 * before the 5 s bound of a handover nobody confirms. */
#define PROMPT_STOP_MS 3000

static pid_t pids[NODES + 1];
static int ports[NODES + 1];
static char base_dir[600];

/* True when node id's log holds a line containing needle. */
static int log_has(int id, const char *needle)
{
	char path[700], line[2048];
	snprintf(path, sizeof(path), "%s/n%d.log", base_dir, id);
	FILE *f = fopen(path, "r");
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

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

/* Starts node id.  Every address is given as "localhost", so peers reach
 * each other only through name resolution. */
static pid_t spawn_node(int id)
{
	const char *bin = getenv("RUNNELD");
	char node_id[32], listen[64], advertise[64], data[700], log[700], voters[256];
	snprintf(node_id, sizeof(node_id), "--node-id=%d", id);
	snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", ports[id]);
	snprintf(advertise, sizeof(advertise), "--advertise=localhost:%d", ports[id]);
	snprintf(data, sizeof(data), "--data-dir=%s/n%d", base_dir, id);
	snprintf(log, sizeof(log), "%s/n%d.log", base_dir, id);
	snprintf(voters, sizeof(voters), "--voters=1@localhost:%d,2@localhost:%d,3@localhost:%d",
		 ports[1], ports[2], ports[3]);
	char *argv[] = {(char *)bin, node_id, listen, advertise, data, voters, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	pid_t pid = -1;
	if (!bin || posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* Waits for pid to exit (killing it after wait_ms); its exit code or -1. */
static int wait_exit(pid_t pid, int64_t wait_ms)
{
	int status = 0;
	int64_t deadline = rn_mono_ms() + wait_ms;
	while (rn_mono_ms() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int test_finished;

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
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
		pids[i] = -1;
	}
}

/* ------------------------------------------------------------ the protocol */

static int32_t next_correlation = 1;

static void request_init(Runnel__Request *req, Runnel__RequestHeader *hdr, int32_t api_key)
{
	runnel__request__init(req);
	runnel__request_header__init(hdr);
	hdr->api_key = api_key;
	hdr->correlation_id = next_correlation++;
	hdr->client_id = "test";
	req->header = hdr;
	req->body_case = (Runnel__Request__BodyCase)(api_key + WIRE_BODY_FIELD_OFFSET);
}

/* Metadata with every topic from node id; NULL when it does not answer. */
static Runnel__Response *metadata(int id)
{
	int fd = try_connect(ports[id]);
	if (fd < 0)
		return NULL;
	Runnel__MetadataRequest body = RUNNEL__METADATA_REQUEST__INIT;
	body.all_topics = 1;
	Runnel__Request req;
	Runnel__RequestHeader hdr;
	request_init(&req, &hdr, RUNNEL__API_KEY__API_METADATA);
	req.metadata = &body;
	send_request(fd, &req);
	Runnel__Response *resp = recv_response(fd);
	close(fd);
	if (resp && resp->body_case != RUNNEL__RESPONSE__BODY_METADATA) {
		runnel__response__free_unpacked(resp, NULL);
		resp = NULL;
	}
	return resp;
}

static const Runnel__BrokerInfo *broker_of(const Runnel__MetadataResponse *md, int id)
{
	for (size_t i = 0; i < md->n_brokers; i++)
		if (md->brokers[i]->node_id == id)
			return md->brokers[i];
	return NULL;
}

static const Runnel__TopicMetadata *topic_of(const Runnel__MetadataResponse *md, const char *name)
{
	for (size_t i = 0; i < md->n_topics; i++)
		if (strcmp(md->topics[i]->name, name) == 0)
			return md->topics[i];
	return NULL;
}

/* True when node id's view holds every broker in `want` registered and
 * unfenced. */
static int brokers_alive(int id, const int *want, int count)
{
	Runnel__Response *resp = metadata(id);
	int ok = resp != NULL;
	for (int i = 0; ok && i < count; i++) {
		const Runnel__BrokerInfo *b = broker_of(resp->metadata, want[i]);
		ok = b && !b->fenced;
	}
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
	return ok;
}

/* Creates topic `name` (partitions x RF 3) at whichever node is the active
 * controller.  Returns 0 or the last error. */
static int create_topic(const char *name, int partitions)
{
	int rc = -1;
	int64_t deadline = rn_mono_ms() + FORM_MS;
	for (int id = 1; rc != 0 && rn_mono_ms() < deadline; id = id % NODES + 1) {
		int fd = try_connect(ports[id]);
		if (fd < 0)
			continue;
		Runnel__CreatableTopic t = RUNNEL__CREATABLE_TOPIC__INIT;
		Runnel__CreatableTopic *tp = &t;
		t.name = (char *)name;
		t.num_partitions = partitions;
		t.replication_factor = NODES;
		Runnel__CreateTopicsRequest body = RUNNEL__CREATE_TOPICS_REQUEST__INIT;
		body.n_topics = 1;
		body.topics = &tp;
		body.timeout_ms = 5000;
		Runnel__Request req;
		Runnel__RequestHeader hdr;
		request_init(&req, &hdr, RUNNEL__API_KEY__API_CREATE_TOPICS);
		req.create_topics = &body;
		send_request(fd, &req);
		Runnel__Response *resp = recv_response(fd);
		close(fd);
		rc = !resp ? -1 : resp->error_code ? resp->error_code
						   : resp->create_topics->topics[0]->error_code;
		if (resp)
			runnel__response__free_unpacked(resp, NULL);
		if (rc != 0)
			usleep(100000);
	}
	return rc;
}

/* Parks a fetch on topic/partition at offset 0 that waits for one byte. */
static void park_fetch(int fd, const char *topic, int32_t partition, int32_t correlation)
{
	Runnel__FetchPartition fp = RUNNEL__FETCH_PARTITION__INIT;
	Runnel__FetchPartition *fpp = &fp;
	fp.partition = partition;
	fp.fetch_offset = 0;
	fp.partition_max_bytes = 1 << 20;
	fp.current_leader_epoch = -1;
	Runnel__FetchTopic ft = RUNNEL__FETCH_TOPIC__INIT;
	Runnel__FetchTopic *ftp = &ft;
	ft.name = (char *)topic;
	ft.n_partitions = 1;
	ft.partitions = &fpp;
	Runnel__FetchRequest body = RUNNEL__FETCH_REQUEST__INIT;
	body.replica_id = -1;
	body.max_wait_ms = PARKED_FETCH_WAIT_MS;
	body.min_bytes = 1;
	body.max_bytes = 1 << 22;
	body.n_topics = 1;
	body.topics = &ftp;
	Runnel__Request req;
	Runnel__RequestHeader hdr;
	request_init(&req, &hdr, RUNNEL__API_KEY__API_FETCH);
	hdr.correlation_id = correlation;
	req.fetch = &body;
	send_request(fd, &req);
}

/* --------------------------------------------------------------- the test */

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
	const int all[NODES] = {1, 2, 3};
	int64_t deadline = rn_mono_ms() + FORM_MS;
	while (rn_mono_ms() < deadline) {
		if (brokers_alive(1, all, NODES) && brokers_alive(2, all, NODES) &&
		    brokers_alive(3, all, NODES))
			return 0;
		usleep(100000);
	}
	return -1;
}

/* In node from's view: the active controller, and the first partition of
 * topic that node leads (-1 when none, or the topic is not there yet). */
static int controller_and_partition(int from, const char *topic, int32_t *partition)
{
	Runnel__Response *resp = metadata(from);
	*partition = -1;
	if (!resp)
		return 0;
	int controller = resp->metadata->controller_id;
	const Runnel__TopicMetadata *t = topic_of(resp->metadata, topic);
	for (size_t i = 0; t && i < t->n_partitions && *partition < 0; i++)
		if (t->partitions[i]->leader == controller)
			*partition = t->partitions[i]->partition;
	runnel__response__free_unpacked(resp, NULL);
	return controller > 0 ? controller : 0;
}

/* True when node from sees broker id fenced and leading no partition. */
static int moved_away(int from, int id, const char *topic)
{
	Runnel__Response *resp = metadata(from);
	if (!resp)
		return 0;
	const Runnel__BrokerInfo *b = broker_of(resp->metadata, id);
	const Runnel__TopicMetadata *t = topic_of(resp->metadata, topic);
	int ok = b && b->fenced && t;
	for (size_t i = 0; ok && i < t->n_partitions; i++)
		ok = t->partitions[i]->leader != id && t->partitions[i]->leader > 0;
	runnel__response__free_unpacked(resp, NULL);
	return ok;
}

TEST(controlled_shutdown_moves_leaders_and_wakes_parked_fetches)
{
	CHECK_OK(start_cluster());
	CHECK_EQ_INT(create_topic("moving", 6), 0);
	/* The victim is the active controller itself: its own heartbeat is a
	 * local call, and the others learn the fence from it before it goes.
	 * It must have applied the topic and lead a partition of it. */
	int victim = 0;
	int32_t part = -1;
	int64_t deadline = rn_mono_ms() + FORM_MS;
	while (rn_mono_ms() < deadline && part < 0) {
		victim = controller_and_partition(1, "moving", &part);
		int32_t own = -1;
		if (victim && controller_and_partition(victim, "moving", &own) != victim)
			part = -1;
		if (part < 0)
			usleep(100000);
	}
	CHECK(victim > 0 && part >= 0);
	int survivor = victim % NODES + 1;

	/* A consumer long-polls that partition at its leader. */
	int fd = try_connect(ports[victim]);
	CHECK(fd >= 0);
	park_fetch(fd, "moving", part, 4242);
	usleep(200000);

	int64_t start = rn_mono_ms();
	kill(pids[victim], SIGTERM);
	/* The leadership moves before the node goes: the parked fetch is
	 * answered with NOT_LEADER_OR_FOLLOWER, not by its timeout and not by
	 * the connection closing. */
	Runnel__Response *resp = recv_response(fd);
	CHECK(resp != NULL);
	CHECK_EQ_INT(resp->correlation_id, 4242);
	CHECK_EQ_INT(resp->body_case, RUNNEL__RESPONSE__BODY_FETCH);
	CHECK_EQ_INT(resp->fetch->topics[0]->partitions[0]->error_code,
		     -RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK(rn_mono_ms() - start < CONTROLLED_STOP_MS);
	runnel__response__free_unpacked(resp, NULL);
	close(fd);

	/* It exits cleanly, confirmed by the controller rather than by the
	 * bound, and the others already see it fenced with every partition
	 * led elsewhere: long before a 9 s session timeout would have. */
	CHECK_EQ_INT(wait_exit(pids[victim], 10000), 0);
	pids[victim] = -1;
	CHECK(log_has(victim, "controlled shutdown complete"));
	CHECK(rn_mono_ms() - start < CONTROLLED_STOP_MS);
	int moved = 0;
	while (!moved && rn_mono_ms() - start < CONTROLLED_STOP_MS) {
		moved = moved_away(survivor, victim, "moving");
		if (!moved)
			usleep(50000);
	}
	CHECK(moved);

	/* The second node hands over to the third (two voters still make a
	 * quorum); the last one has nobody to hand over to and stops at once. */
	int second = survivor, last = 6 - victim - survivor;
	start = rn_mono_ms();
	kill(pids[second], SIGTERM);
	CHECK_EQ_INT(wait_exit(pids[second], 10000), 0);
	pids[second] = -1;
	CHECK(log_has(second, "controlled shutdown complete"));
	CHECK(rn_mono_ms() - start < CONTROLLED_STOP_MS);
	/* The last node stops at once only once it knows the second is gone. */
	for (int64_t until = rn_mono_ms() + 10000; rn_mono_ms() < until && !moved_away(last, second, "moving");)
		usleep(50000);
	start = rn_mono_ms();
	kill(pids[last], SIGTERM);
	CHECK_EQ_INT(wait_exit(pids[last], 10000), 0);
	pids[last] = -1;
	CHECK(rn_mono_ms() - start < PROMPT_STOP_MS);
	test_finished = 1;
}

/* Runs after the first test: the same data directories start again. */
TEST(an_unanswered_controlled_shutdown_stops_after_its_bound)
{
	test_finished = 0;
	for (int i = 1; i <= NODES; i++) {
		pids[i] = spawn_node(i);
		CHECK(pids[i] > 0);
	}
	const int all[NODES] = {1, 2, 3};
	int formed = 0;
	int64_t deadline = rn_mono_ms() + FORM_MS;
	while (!formed && rn_mono_ms() < deadline) {
		formed = brokers_alive(1, all, NODES) && brokers_alive(2, all, NODES) &&
			 brokers_alive(3, all, NODES);
		if (!formed)
			usleep(100000);
	}
	CHECK(formed);
	/* Two nodes stop answering: no quorum, no controller to confirm. */
	kill(pids[2], SIGSTOP);
	kill(pids[3], SIGSTOP);
	int64_t start = rn_mono_ms();
	kill(pids[1], SIGTERM);
	int code = wait_exit(pids[1], 10000);
	int64_t took = rn_mono_ms() - start;
	pids[1] = -1;
	kill(pids[2], SIGCONT);
	kill(pids[3], SIGCONT);
	CHECK_EQ_INT(code, 0);
	/* NODE_SHUTDOWN_MAX_WAIT_MS (5 s), and not much more. */
	CHECK(took >= SHUTDOWN_BOUND_MS - 200);
	CHECK(took < SHUTDOWN_BOUND_MS + 2000);
	/* A second signal during the wait stops at once. */
	start = rn_mono_ms();
	kill(pids[2], SIGTERM);
	usleep(100000);
	kill(pids[2], SIGTERM);
	CHECK_EQ_INT(wait_exit(pids[2], 10000), 0);
	pids[2] = -1;
	CHECK(rn_mono_ms() - start < PROMPT_STOP_MS);
	test_finished = 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i <= NODES; i++)
		pids[i] = -1;
	return harness_run(argc, argv);
}
