/* test_status.c: the cluster status verdict (health, problems, warnings) and its text and JSON output. */
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "test/unit/harness.h"

#define MAX_BROKERS 128
#define MAX_REFS RUNNEL_STATUS_MAX_LISTED

/* A cluster status built in static storage, healthy until a test breaks it. */
struct fixture {
	struct runnel_cluster_status st;
	struct runnel_quorum_member voters[3];
	struct runnel_quorum_member observers[1];
	struct runnel_broker_state brokers[MAX_BROKERS];
	struct runnel_partition_ref offline[MAX_REFS];
	struct runnel_partition_ref under[MAX_REFS];
	struct cli_status_verdict v;
};

static char host[] = "127.0.0.1";
static char no_rack[] = "";
static char rack_a[] = "rack-a";
static char topic_orders[] = "orders";
static char cluster_id[] = "c-123";
static char role_leader[] = "leader";
static char role_follower[] = "follower";

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	struct runnel_cluster_status *st = &f->st;
	st->cluster_id = cluster_id;
	st->answered_by = 1;
	st->answered_role = role_leader;
	st->leader_id = 1;
	st->leader_host = host;
	st->leader_port = 9093;
	st->epoch = 4;
	st->commit_index = 120;
	st->high_watermark = 120;
	st->last_index = 120;
	st->controller_id = 1;
	for (int i = 0; i < 3; i++)
		f->voters[i] = (struct runnel_quorum_member){i + 1, 120, 0, i == 0 ? 0 : 150};
	f->observers[0] = (struct runnel_quorum_member){7, 118, 2, 300};
	st->voters = f->voters;
	st->voter_count = 3;
	st->observers = f->observers;
	st->observer_count = 1;
	for (int i = 0; i < 3; i++)
		f->brokers[i] = (struct runnel_broker_state){i + 1, host, 9092 + i,
							     i == 2 ? rack_a : no_rack, 0};
	st->brokers = f->brokers;
	st->broker_count = 3;
	st->partition_total = 12;
	st->offline = f->offline;
	st->under_replicated = f->under;
}

static void set_offline(struct fixture *f, int32_t count)
{
	f->st.offline_count = count;
	f->st.offline_listed = count < MAX_REFS ? (size_t)count : MAX_REFS;
	for (size_t i = 0; i < f->st.offline_listed; i++)
		f->offline[i] = (struct runnel_partition_ref){topic_orders, (int32_t)i};
}

static char *render(const struct fixture *f, int json)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	if (json)
		cli_status_print_json(m, &f->st, &f->v);
	else
		cli_status_print_text(m, &f->st, &f->v);
	fclose(m);
	return out;
}

#define CHECK_CONTAINS(text, needle)                                              \
	do {                                                                      \
		int found_ = strstr((text), (needle)) != NULL;                   \
		if (!found_)                                                      \
			fprintf(stderr, "  missing \"%s\" in:\n%s\n", (needle), (text)); \
		CHECK(found_);                                                    \
	} while (0)

static int has_line(char (*lines)[CLI_STATUS_LINE_LEN], size_t n, const char *needle)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(lines[i], needle))
			return 1;
	return 0;
}

TEST(healthy_cluster_has_no_problems)
{
	static struct fixture f;
	fixture_init(&f);
	cli_status_assess(&f.st, &f.v);
	CHECK(f.v.healthy);
	CHECK(f.v.problem_count == 0);
	CHECK(f.v.warning_count == 0);
}

TEST(fenced_broker_is_a_problem)
{
	static struct fixture f;
	fixture_init(&f);
	f.brokers[1].fenced = 1;
	cli_status_assess(&f.st, &f.v);
	CHECK(!f.v.healthy);
	CHECK(f.v.problem_count == 1);
	CHECK(has_line(f.v.problems, f.v.problem_count, "broker 2 (127.0.0.1:9093) is fenced"));
}

TEST(no_leader_is_a_problem)
{
	static struct fixture f;
	fixture_init(&f);
	f.st.leader_id = -1;
	f.st.leader_host = NULL;
	f.st.answered_role = role_follower;
	for (int i = 0; i < 3; i++)
		f.voters[i] = (struct runnel_quorum_member){i + 1, -1, -1, -1};
	cli_status_assess(&f.st, &f.v);
	CHECK(!f.v.healthy);
	CHECK(has_line(f.v.problems, f.v.problem_count, "no quorum leader"));
	/* Unknown contact times are not mistaken for stale ones. */
	CHECK(f.v.warning_count == 0);
}

TEST(unreachable_leader_is_a_problem)
{
	static struct fixture f;
	fixture_init(&f);
	f.st.answered_by = 2;
	f.st.leader_unreachable = 1;
	f.st.leader_error = (char *)"request to 127.0.0.1:9093 timed out";
	cli_status_assess(&f.st, &f.v);
	CHECK(!f.v.healthy);
	CHECK(has_line(f.v.problems, f.v.problem_count, "node 2 names 1 as the quorum leader, which did not confirm it"));
	CHECK(has_line(f.v.problems, f.v.problem_count, "timed out"));
}

TEST(offline_partitions_are_named)
{
	static struct fixture f;
	fixture_init(&f);
	set_offline(&f, 7);
	cli_status_assess(&f.st, &f.v);
	CHECK(!f.v.healthy);
	CHECK(f.v.problem_count == 1);
	CHECK(has_line(f.v.problems, 1,
		       "7 partitions are offline: orders-0, orders-1, orders-2, orders-3, orders-4, ..."));
	set_offline(&f, 1);
	cli_status_assess(&f.st, &f.v);
	CHECK(has_line(f.v.problems, 1, "1 partition is offline: orders-0"));
	CHECK(!has_line(f.v.problems, 1, "..."));
}

TEST(under_replication_warns_but_stays_healthy)
{
	static struct fixture f;
	fixture_init(&f);
	f.st.under_replicated_count = 2;
	f.st.under_replicated_listed = 2;
	f.under[0] = (struct runnel_partition_ref){topic_orders, 0};
	f.under[1] = (struct runnel_partition_ref){topic_orders, 2};
	cli_status_assess(&f.st, &f.v);
	CHECK(f.v.healthy);
	CHECK(has_line(f.v.warnings, f.v.warning_count,
		       "2 partitions are under-replicated: orders-0, orders-2"));
}

TEST(silent_voter_warns)
{
	static struct fixture f;
	fixture_init(&f);
	f.voters[2].last_contact_ms = CLI_STATUS_STALE_CONTACT_MS + 100;
	f.voters[2].lag = 40;
	cli_status_assess(&f.st, &f.v);
	CHECK(f.v.healthy);
	CHECK(has_line(f.v.warnings, f.v.warning_count, "voter 3 for 5100 ms (lag 40 entries)"));
}

TEST(no_broker_is_a_problem)
{
	static struct fixture f;
	fixture_init(&f);
	f.st.broker_count = 0;
	cli_status_assess(&f.st, &f.v);
	CHECK(!f.v.healthy);
	CHECK(has_line(f.v.problems, f.v.problem_count, "no broker is registered"));
}

TEST(many_problems_are_counted_not_dropped)
{
	static struct fixture f;
	fixture_init(&f);
	for (int i = 0; i < MAX_BROKERS; i++)
		f.brokers[i] = (struct runnel_broker_state){i + 1, host, 9000 + i, no_rack, 1};
	f.st.broker_count = MAX_BROKERS;
	cli_status_assess(&f.st, &f.v);
	CHECK(!f.v.healthy);
	CHECK(f.v.problem_count == CLI_STATUS_MAX_LINES);
	char expected[64];
	snprintf(expected, sizeof(expected), "... and %d more", MAX_BROKERS - (CLI_STATUS_MAX_LINES - 1));
	CHECK(strcmp(f.v.problems[CLI_STATUS_MAX_LINES - 1], expected) == 0);
}

TEST(text_output)
{
	static struct fixture f;
	fixture_init(&f);
	f.brokers[1].fenced = 1;
	set_offline(&f, 2);
	cli_status_assess(&f.st, &f.v);
	char *text = render(&f, 0);
	CHECK_CONTAINS(text, "Cluster ID:        c-123\n");
	CHECK_CONTAINS(text, "Quorum leader:     1 at 127.0.0.1:9093\n");
	CHECK_CONTAINS(text, "Epoch:             4\n");
	CHECK_CONTAINS(text, "Commit index:      120 (high watermark 120)\n");
	CHECK_CONTAINS(text, "  3        follower  120            0          150\n");
	CHECK_CONTAINS(text, "  7        observer  118            2          300\n");
	CHECK_CONTAINS(text, "  2        127.0.0.1:9093           -            fenced\n");
	CHECK_CONTAINS(text, "  3        127.0.0.1:9094           rack-a       alive\n");
	CHECK_CONTAINS(text, "Partitions: 12 total, 2 offline, 0 under-replicated\n");
	CHECK_CONTAINS(text, "Health: UNHEALTHY\nProblems:\n  - broker 2 ");
	CHECK_CONTAINS(text, "  - 2 partitions are offline: orders-0, orders-1\n");
	free(text);
}

TEST(json_output)
{
	static struct fixture f;
	fixture_init(&f);
	f.brokers[1].fenced = 1;
	f.voters[1] = (struct runnel_quorum_member){2, -1, -1, -1};
	set_offline(&f, 1);
	cli_status_assess(&f.st, &f.v);
	char *json = render(&f, 1);
	CHECK(json[0] == '{');
	CHECK(strcmp(json + strlen(json) - 2, "}\n") == 0);
	CHECK(strchr(json, '\n') == json + strlen(json) - 1);
	CHECK_CONTAINS(json, "\"cluster_id\":\"c-123\"");
	CHECK_CONTAINS(json, "\"quorum\":{\"leader_id\":1,\"leader_host\":\"127.0.0.1\","
			     "\"leader_port\":9093,\"leader_reachable\":true,\"epoch\":4,"
			     "\"commit_index\":120,\"high_watermark\":120,\"voters\":[");
	CHECK_CONTAINS(json, "{\"id\":1,\"log_end_offset\":120,\"lag\":0,\"last_contact_ms\":0}");
	/* Unknown values are null, not -1. */
	CHECK_CONTAINS(json, "{\"id\":2,\"log_end_offset\":null,\"lag\":null,\"last_contact_ms\":null}");
	CHECK_CONTAINS(json, "\"observers\":[{\"id\":7,");
	CHECK_CONTAINS(json, "{\"id\":1,\"host\":\"127.0.0.1\",\"port\":9092,\"rack\":null,\"state\":\"alive\"}");
	CHECK_CONTAINS(json, "{\"id\":2,\"host\":\"127.0.0.1\",\"port\":9093,\"rack\":null,\"state\":\"fenced\"}");
	CHECK_CONTAINS(json, "\"rack\":\"rack-a\"");
	CHECK_CONTAINS(json, "\"partitions\":{\"total\":12,\"offline\":1,\"under_replicated\":0,"
			     "\"offline_partitions\":[\"orders-0\"],\"under_replicated_partitions\":[]}");
	CHECK_CONTAINS(json, "\"healthy\":false,\"problems\":[\"broker 2 (127.0.0.1:9093) is fenced");
	CHECK_CONTAINS(json, "\"1 partition is offline: orders-0\"]");
	CHECK_CONTAINS(json, "\"warnings\":[]}");
	free(json);
}

TEST(json_healthy_and_no_leader)
{
	static struct fixture f;
	fixture_init(&f);
	f.st.leader_id = -1;
	f.st.leader_host = NULL;
	cli_status_assess(&f.st, &f.v);
	char *json = render(&f, 1);
	CHECK_CONTAINS(json, "\"leader_id\":-1,\"leader_host\":null,\"leader_port\":null,"
			     "\"leader_reachable\":false");
	CHECK_CONTAINS(json, "\"healthy\":false");
	free(json);
	fixture_init(&f);
	cli_status_assess(&f.st, &f.v);
	json = render(&f, 1);
	CHECK_CONTAINS(json, "\"healthy\":true,\"problems\":[],\"warnings\":[]}");
	free(json);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
