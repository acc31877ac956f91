/* test_coord.c: the group coordinator of runneld as a process on loopback, driven with raw frames. */
#include "common/errors.h"
#include "common/rn_assert.h"
#include "common/clock.h"
#include "test/unit/broker/frame_io.h"
#include "test/unit/harness.h"
#include "wire/batch.h"
#include "wire/codec.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* How long a test waits for the node to come up or a coordinator to load. */
#define WAIT_MS 15000
#define OFFSETS "__consumer_offsets"

static pid_t node_pid = -1;
static int node_port;
static char node_dir[600];

static int try_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)node_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = {WAIT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Runs runneld with the group settings the tests need (small offsets
 * topic, no initial rebalance delay, short sessions allowed). */
static pid_t spawn_node(void)
{
	const char *bin = getenv("RUNNELD");
	char listen[64], data[700], log[700];
	snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", node_port);
	snprintf(data, sizeof(data), "--data-dir=%s/data", node_dir);
	snprintf(log, sizeof(log), "%s/node.log", node_dir);
	char *argv[] = {(char *)bin, listen, data, "--offsets-topic-num-partitions=4",
			"--group-initial-rebalance-delay-ms=0", "--group-min-session-timeout-ms=500",
			NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	pid_t pid = -1;
	if (!bin || posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static void stop_node(int sig)
{
	if (node_pid > 0) {
		kill(node_pid, sig);
		waitpid(node_pid, NULL, 0);
	}
	node_pid = -1;
}

static void stop_node_at_exit(void)
{
	stop_node(SIGTERM);
}

static int ensure_node(void)
{
	if (node_pid > 0)
		return 0;
	if (!node_dir[0]) {
		snprintf(node_dir, sizeof(node_dir), "%s", harness_tmpdir());
		node_port = harness_free_port();
		atexit(stop_node_at_exit);
	}
	node_pid = spawn_node();
	if (node_pid < 0)
		return -1;
	for (int64_t deadline = rn_mono_ms() + WAIT_MS; rn_mono_ms() < deadline; usleep(20000)) {
		int fd = try_connect();
		if (fd >= 0) {
			close(fd);
			return 0;
		}
	}
	return -1;
}

static int conn_open(void)
{
	return ensure_node() == 0 ? try_connect() : -1;
}

/* ------------------------------------------------------------- framing */

static int32_t next_correlation = 1;

/* Sends a request whose body the caller set (case = api_key + 100) and
 * returns the response, or NULL. */
static Runnel__Response *call(int fd, int32_t api_key, Runnel__Request *req)
{
	Runnel__RequestHeader h = RUNNEL__REQUEST_HEADER__INIT;
	h.api_key = api_key;
	h.correlation_id = next_correlation++;
	h.client_id = "test";
	req->header = &h;
	req->body_case = (Runnel__Request__BodyCase)(api_key + WIRE_BODY_FIELD_OFFSET);
	size_t n = wire_frame_size(&req->base);
	uint8_t *buf = malloc(n);
	wire_frame_pack(&req->base, buf);
	RN_ASSERT(write(fd, buf, n) == (ssize_t)n);
	free(buf);
	Runnel__Response *resp = recv_response(fd);
	if (resp && resp->correlation_id != h.correlation_id) {
		runnel__response__free_unpacked(resp, NULL);
		return NULL;
	}
	return resp;
}

static void resp_free(Runnel__Response *resp)
{
	if (resp)
		runnel__response__free_unpacked(resp, NULL);
}

/* ------------------------------------------------------------ group calls */

/* FindCoordinator; returns its error code (0: found) and the node id. */
static int find_coordinator(int fd, const char *group, int32_t *node_id, int32_t *port)
{
	Runnel__FindCoordinatorRequest body = RUNNEL__FIND_COORDINATOR_REQUEST__INIT;
	body.key = (char *)group;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.find_coordinator = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_FIND_COORDINATOR, &req);
	if (!resp || !resp->find_coordinator) {
		resp_free(resp);
		return -1;
	}
	int rc = resp->find_coordinator->error_code;
	*node_id = resp->find_coordinator->node_id;
	*port = resp->find_coordinator->port;
	resp_free(resp);
	return rc;
}

/* Waits until group's coordinator is found (the offsets topic is created
 * on the first request). */
static int wait_coordinator(int fd, const char *group)
{
	int32_t node_id = -1, port = 0;
	int rc = -1;
	for (int64_t deadline = rn_mono_ms() + WAIT_MS; rn_mono_ms() < deadline; usleep(50000)) {
		rc = find_coordinator(fd, group, &node_id, &port);
		if (rc != 15)
			break;
	}
	return rc == 0 && node_id == 1 && port == node_port ? 0 : rc;
}

struct joined {
	int error;
	int32_t generation;
	char member_id[300];
	char leader[300];
	size_t member_count;
};

static struct joined join_group(int fd, const char *group, const char *member_id)
{
	static uint8_t meta[] = {0x0a, 0x01, 't'}; /* ConsumerSubscription{topics:["t"]} */
	Runnel__JoinGroupProtocol proto = RUNNEL__JOIN_GROUP_PROTOCOL__INIT;
	Runnel__JoinGroupProtocol *protos[1] = {&proto};
	proto.name = "range";
	proto.metadata.data = meta;
	proto.metadata.len = sizeof(meta);
	Runnel__JoinGroupRequest body = RUNNEL__JOIN_GROUP_REQUEST__INIT;
	body.group_id = (char *)group;
	body.session_timeout_ms = 10000;
	body.rebalance_timeout_ms = 10000;
	body.member_id = (char *)member_id;
	body.protocol_type = "consumer";
	body.n_protocols = 1;
	body.protocols = protos;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.join_group = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_JOIN_GROUP, &req);
	struct joined j = {.error = -1};
	if (resp && resp->join_group) {
		j.error = resp->join_group->error_code;
		j.generation = resp->join_group->generation_id;
		snprintf(j.member_id, sizeof(j.member_id), "%s", resp->join_group->member_id);
		snprintf(j.leader, sizeof(j.leader), "%s", resp->join_group->leader);
		j.member_count = resp->join_group->n_members;
	}
	resp_free(resp);
	return j;
}

/* The leader's SyncGroup giving itself `assignment`; returns the error and
 * copies the assignment received into got. */
static int sync_group(int fd, const char *group, const struct joined *j, const char *assignment,
		      char *got, size_t cap)
{
	Runnel__SyncGroupAssignment a = RUNNEL__SYNC_GROUP_ASSIGNMENT__INIT;
	Runnel__SyncGroupAssignment *as[1] = {&a};
	a.member_id = (char *)j->member_id;
	a.assignment.data = (uint8_t *)assignment;
	a.assignment.len = strlen(assignment);
	Runnel__SyncGroupRequest body = RUNNEL__SYNC_GROUP_REQUEST__INIT;
	body.group_id = (char *)group;
	body.generation_id = j->generation;
	body.member_id = (char *)j->member_id;
	body.n_assignments = 1;
	body.assignments = as;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.sync_group = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_SYNC_GROUP, &req);
	int rc = -1;
	if (resp && resp->sync_group) {
		rc = resp->sync_group->error_code;
		snprintf(got, cap, "%.*s", (int)resp->sync_group->assignment.len,
			 (const char *)resp->sync_group->assignment.data);
	}
	resp_free(resp);
	return rc;
}

static int heartbeat(int fd, const char *group, const char *member_id, int32_t generation)
{
	Runnel__HeartbeatRequest body = RUNNEL__HEARTBEAT_REQUEST__INIT;
	body.group_id = (char *)group;
	body.member_id = (char *)member_id;
	body.generation_id = generation;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.heartbeat = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_HEARTBEAT, &req);
	int rc = resp && resp->heartbeat ? resp->heartbeat->error_code : -1;
	resp_free(resp);
	return rc;
}

/* Commits one offset of topic "t" partition 0; returns the partition's error. */
static int commit(int fd, const char *group, const char *member_id, int32_t generation,
		  int64_t offset)
{
	Runnel__OffsetCommitPartition p = RUNNEL__OFFSET_COMMIT_PARTITION__INIT;
	Runnel__OffsetCommitPartition *ps[1] = {&p};
	p.partition = 0;
	p.committed_offset = offset;
	p.metadata = "m";
	Runnel__OffsetCommitTopic t = RUNNEL__OFFSET_COMMIT_TOPIC__INIT;
	Runnel__OffsetCommitTopic *ts[1] = {&t};
	t.name = "t";
	t.n_partitions = 1;
	t.partitions = ps;
	Runnel__OffsetCommitRequest body = RUNNEL__OFFSET_COMMIT_REQUEST__INIT;
	body.group_id = (char *)group;
	body.member_id = (char *)member_id;
	body.generation_id = generation;
	body.n_topics = 1;
	body.topics = ts;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.offset_commit = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_OFFSET_COMMIT, &req);
	int rc = -1;
	if (resp && resp->offset_commit && resp->offset_commit->n_topics == 1 &&
	    resp->offset_commit->topics[0]->n_partitions == 1)
		rc = resp->offset_commit->topics[0]->partitions[0]->error_code;
	resp_free(resp);
	return rc;
}

/* The committed offset of "t" partition 0 (-1: none), or the negated
 * group-level error code (-1000 when there is no answer). */
static int64_t fetch_offset(int fd, const char *group)
{
	int32_t parts[1] = {0};
	Runnel__OffsetFetchTopic t = RUNNEL__OFFSET_FETCH_TOPIC__INIT;
	Runnel__OffsetFetchTopic *ts[1] = {&t};
	t.name = "t";
	t.n_partitions = 1;
	t.partitions = parts;
	Runnel__OffsetFetchRequest body = RUNNEL__OFFSET_FETCH_REQUEST__INIT;
	body.group_id = (char *)group;
	body.n_topics = 1;
	body.topics = ts;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.offset_fetch = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_OFFSET_FETCH, &req);
	int64_t v = -1000;
	const Runnel__OffsetFetchResponse *f = resp ? resp->offset_fetch : NULL;
	if (f && f->error_code)
		v = -f->error_code;
	else if (f && f->n_topics == 1 && f->topics[0]->n_partitions == 1)
		v = f->topics[0]->partitions[0]->committed_offset;
	resp_free(resp);
	return v;
}

/* DescribeGroups of one group: returns the error, the state and member count. */
static int describe(int fd, const char *group, char *state, size_t cap, size_t *members)
{
	char *ids[1] = {(char *)group};
	Runnel__DescribeGroupsRequest body = RUNNEL__DESCRIBE_GROUPS_REQUEST__INIT;
	body.n_group_ids = 1;
	body.group_ids = ids;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.describe_groups = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_DESCRIBE_GROUPS, &req);
	int rc = -1;
	if (resp && resp->describe_groups && resp->describe_groups->n_groups == 1) {
		const Runnel__DescribedGroup *g = resp->describe_groups->groups[0];
		rc = g->error_code;
		snprintf(state, cap, "%s", g->state);
		*members = g->n_members;
	}
	resp_free(resp);
	return rc;
}

static int leave(int fd, const char *group, const char *member_id)
{
	char *ids[1] = {(char *)member_id};
	Runnel__LeaveGroupRequest body = RUNNEL__LEAVE_GROUP_REQUEST__INIT;
	body.group_id = (char *)group;
	body.n_member_ids = 1;
	body.member_ids = ids;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.leave_group = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_LEAVE_GROUP, &req);
	int rc = resp && resp->leave_group ? resp->leave_group->error_code : -1;
	resp_free(resp);
	return rc;
}

static int delete_group(int fd, const char *group)
{
	char *ids[1] = {(char *)group};
	Runnel__DeleteGroupsRequest body = RUNNEL__DELETE_GROUPS_REQUEST__INIT;
	body.n_group_ids = 1;
	body.group_ids = ids;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.delete_groups = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_DELETE_GROUPS, &req);
	int rc = -1;
	if (resp && resp->delete_groups && resp->delete_groups->n_results == 1)
		rc = resp->delete_groups->results[0]->error_code;
	resp_free(resp);
	return rc;
}

/* True when ListGroups names group in state. */
static bool listed(int fd, const char *group, const char *state)
{
	Runnel__ListGroupsRequest body = RUNNEL__LIST_GROUPS_REQUEST__INIT;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.list_groups = &body;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_LIST_GROUPS, &req);
	bool found = false;
	for (size_t i = 0; resp && resp->list_groups && i < resp->list_groups->n_groups; i++) {
		const Runnel__ListedGroup *g = resp->list_groups->groups[i];
		if (strcmp(g->group_id, group) == 0 && strcmp(g->state, state) == 0)
			found = true;
	}
	resp_free(resp);
	return found;
}

/* Joins `group` as its only member and completes the rebalance. */
static int join_stable(int fd, const char *group, struct joined *j)
{
	*j = join_group(fd, group, "");
	if (j->error != 0 || j->generation < 1 || !j->member_id[0] ||
	    strcmp(j->leader, j->member_id) != 0 || j->member_count != 1)
		return -1;
	char got[64] = "";
	if (sync_group(fd, group, j, "assign", got, sizeof(got)) != 0)
		return -2;
	return strcmp(got, "assign") == 0 ? 0 : -3;
}

/* ------------------------------------------------------------------ tests */

TEST(coord_find_creates_offsets_topic)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(wait_coordinator(fd, "g-find"), 0);
	/* Bad group ids are refused, not hashed. */
	int32_t node_id, port;
	CHECK_EQ_INT(find_coordinator(fd, "", &node_id, &port), 24);
	close(fd);
}

TEST(coord_join_sync_commit_fetch)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(wait_coordinator(fd, "g-life"), 0);
	struct joined j;
	CHECK_EQ_INT(join_stable(fd, "g-life", &j), 0);
	CHECK_EQ_INT(heartbeat(fd, "g-life", j.member_id, j.generation), 0);
	CHECK_EQ_INT(heartbeat(fd, "g-life", "nobody", j.generation), 25);
	CHECK_EQ_INT(fetch_offset(fd, "g-life"), -1);
	CHECK_EQ_INT(commit(fd, "g-life", j.member_id, j.generation, 42), 0);
	CHECK_EQ_INT(fetch_offset(fd, "g-life"), 42);
	/* A zombie of an older generation is fenced and changes nothing. */
	CHECK_EQ_INT(commit(fd, "g-life", j.member_id, j.generation - 1, 99), 22);
	CHECK_EQ_INT(commit(fd, "g-life", "nobody", j.generation, 99), 25);
	CHECK_EQ_INT(fetch_offset(fd, "g-life"), 42);
	CHECK_EQ_INT(leave(fd, "g-life", j.member_id), 0);
	close(fd);
}

TEST(coord_describe_list_leave_delete)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(wait_coordinator(fd, "g-admin"), 0);
	struct joined j;
	CHECK_EQ_INT(join_stable(fd, "g-admin", &j), 0);
	char state[64] = "";
	size_t members = 0;
	CHECK_EQ_INT(describe(fd, "g-admin", state, sizeof(state), &members), 0);
	CHECK(strcmp(state, "Stable") == 0);
	CHECK_EQ_INT(members, 1);
	CHECK(listed(fd, "g-admin", "Stable"));
	CHECK_EQ_INT(commit(fd, "g-admin", j.member_id, j.generation, 5), 0);
	CHECK_EQ_INT(delete_group(fd, "g-admin"), 68);
	CHECK_EQ_INT(leave(fd, "g-admin", j.member_id), 0);
	CHECK_EQ_INT(describe(fd, "g-admin", state, sizeof(state), &members), 0);
	CHECK(strcmp(state, "Empty") == 0);
	CHECK_EQ_INT(members, 0);
	CHECK_EQ_INT(delete_group(fd, "g-admin"), 0);
	CHECK_EQ_INT(describe(fd, "g-admin", state, sizeof(state), &members), 0);
	CHECK(strcmp(state, "Dead") == 0);
	CHECK(!listed(fd, "g-admin", "Empty"));
	CHECK_EQ_INT(fetch_offset(fd, "g-admin"), -1);
	CHECK_EQ_INT(delete_group(fd, "g-admin"), 69);
	close(fd);
}

TEST(coord_internal_topic_protected)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(wait_coordinator(fd, "g-protect"), 0);
	uint8_t batch[256];
	struct batch_builder b;
	batch_builder_init(&b, batch, sizeof(batch));
	CHECK_EQ_INT(batch_builder_add(&b, 1, "k", 1, "v", 1, NULL, 0), 0);
	size_t len = batch_builder_finish(&b, -1, -1, -1);
	Runnel__PartitionProduceData pd = RUNNEL__PARTITION_PRODUCE_DATA__INIT;
	Runnel__PartitionProduceData *pds[1] = {&pd};
	pd.partition = 0;
	pd.records.data = batch;
	pd.records.len = len;
	Runnel__TopicProduceData td = RUNNEL__TOPIC_PRODUCE_DATA__INIT;
	Runnel__TopicProduceData *tds[1] = {&td};
	td.name = OFFSETS;
	td.n_partitions = 1;
	td.partitions = pds;
	Runnel__ProduceRequest pbody = RUNNEL__PRODUCE_REQUEST__INIT;
	pbody.acks = -1;
	pbody.timeout_ms = 5000;
	pbody.n_topics = 1;
	pbody.topics = tds;
	Runnel__Request req = RUNNEL__REQUEST__INIT;
	req.produce = &pbody;
	Runnel__Response *resp = call(fd, RUNNEL__API_KEY__API_PRODUCE, &req);
	CHECK(resp && resp->produce && resp->produce->n_topics == 1);
	CHECK_EQ_INT(resp->produce->topics[0]->partitions[0]->error_code, 17);
	resp_free(resp);
	char *names[1] = {OFFSETS};
	Runnel__DeleteTopicsRequest dbody = RUNNEL__DELETE_TOPICS_REQUEST__INIT;
	dbody.n_names = 1;
	dbody.names = names;
	Runnel__Request dreq = RUNNEL__REQUEST__INIT;
	dreq.delete_topics = &dbody;
	resp = call(fd, RUNNEL__API_KEY__API_DELETE_TOPICS, &dreq);
	CHECK(resp && resp->delete_topics && resp->delete_topics->n_topics == 1);
	CHECK_EQ_INT(resp->delete_topics->topics[0]->error_code, 17);
	resp_free(resp);
	close(fd);
}

/* Offsets are records of the offsets topic: a node killed without a clean
 * shutdown replays them when it leads the partition again. */
TEST(coord_offsets_survive_kill)
{
	int fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(wait_coordinator(fd, "g-durable"), 0);
	/* A commit from outside the membership, as `group seek` makes it. */
	CHECK_EQ_INT(commit(fd, "g-durable", "", -1, 7), 0);
	struct joined j;
	CHECK_EQ_INT(join_stable(fd, "g-durable-members", &j), 0);
	CHECK_EQ_INT(commit(fd, "g-durable-members", j.member_id, j.generation, 11), 0);
	CHECK_EQ_INT(commit(fd, "g-durable-members", j.member_id, j.generation, 12), 0);
	close(fd);
	stop_node(SIGKILL);
	fd = conn_open();
	CHECK(fd >= 0);
	CHECK_EQ_INT(wait_coordinator(fd, "g-durable"), 0);
	int64_t got = -1000;
	for (int64_t deadline = rn_mono_ms() + WAIT_MS; rn_mono_ms() < deadline; usleep(50000)) {
		got = fetch_offset(fd, "g-durable");
		/* NOT_COORDINATOR until the partition has a leader again,
		 * COORDINATOR_LOAD_IN_PROGRESS while it replays. */
		if (got != -16 && got != -14)
			break;
	}
	CHECK_EQ_INT(got, 7);
	CHECK_EQ_INT(fetch_offset(fd, "g-durable-members"), 12);
	/* The member survived in the group record and still heartbeats. */
	CHECK_EQ_INT(heartbeat(fd, "g-durable-members", j.member_id, j.generation), 0);
	close(fd);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return harness_run(argc, argv);
}
