/* test_config.c: settings from defaults, file, environment and flags. */
#include "broker/config.h"
#include "common/errors.h"
#include "test/unit/harness.h"

#include <stdio.h>
#include <string.h>

static char err[CONFIG_MAX_ERROR];
static struct node_config cfg;

static int parse(int argc, char *const *argv, char *const *envp, enum config_action *action)
{
	err[0] = '\0';
	return config_parse(&cfg, argc, argv, envp, action, err);
}

static const char *write_file(const char *text)
{
	static char path[700];
	snprintf(path, sizeof(path), "%s/node.conf", harness_tmpdir());
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

TEST(defaults_start_a_single_node_cluster)
{
	char *argv[] = {"runneld", NULL};
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_OK(parse(1, argv, envp, &action));
	CHECK_EQ_INT(action, CONFIG_RUN);
	CHECK_EQ_INT(cfg.node_id, 1);
	CHECK_EQ_INT(cfg.roles, NODE_ROLE_BROKER | NODE_ROLE_CONTROLLER);
	CHECK_EQ_STR(cfg.listen.host, "127.0.0.1");
	CHECK_EQ_INT(cfg.listen.port, 9092);
	CHECK_EQ_STR(cfg.advertise.host, "127.0.0.1");
	CHECK_EQ_INT(cfg.advertise.port, 9092);
	CHECK_EQ_INT(cfg.voter_count, 1);
	CHECK_EQ_INT(cfg.voters[0].node_id, 1);
	CHECK_EQ_INT(cfg.voters[0].addr.port, 9092);
	CHECK_EQ_STR(cfg.data_dir, "./runnel-data");
	CHECK_EQ_INT(cfg.log_level, RN_LOG_INFO);
	CHECK_EQ_INT(cfg.num_partitions, 1);
	CHECK_EQ_INT(cfg.default_replication_factor, 1);
	CHECK_EQ_INT(cfg.message_max_bytes, RN_DEFAULT_MAX_MESSAGE_BYTES);
	CHECK_EQ_INT(cfg.log_segment_bytes, 1024LL * 1024 * 1024);
	CHECK_EQ_INT(cfg.log_roll_ms, 7LL * 24 * 3600 * 1000);
	CHECK_EQ_INT(cfg.log_index_interval_bytes, 4096);
	CHECK(cfg.log_flush_interval_messages == INT64_MAX);
	CHECK(cfg.log_flush_interval_ms == INT64_MAX);
	CHECK_EQ_INT(cfg.replica_lag_time_max_ms, 30000);
	CHECK_EQ_INT(cfg.log_retention_check_interval_ms, 300000);
}

TEST(names_in_three_spellings)
{
	char buf[128];
	config_flag_name("log.flush.interval.messages", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "--log-flush-interval-messages");
	config_env_name("log.flush.interval.messages", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "RUNNEL_LOG_FLUSH_INTERVAL_MESSAGES");
	config_env_name("node.id", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "RUNNEL_NODE_ID");
}

TEST(flags_beat_environment_beats_file)
{
	const char *path = write_file("# a comment\n\n node.id = 5 \nnum.partitions=3\n"
				      "log.level=debug\nlisten=0.0.0.0:7000\n");
	char config_arg[800];
	snprintf(config_arg, sizeof(config_arg), "--config=%s", path);
	char *argv[] = {"runneld", config_arg, "--num-partitions", "7", NULL};
	char *envp[] = {"RUNNEL_NUM_PARTITIONS=4", "RUNNEL_LOG_LEVEL=warn", "HOME=/x", NULL};
	enum config_action action;
	CHECK_OK(parse(4, argv, envp, &action));
	CHECK_EQ_INT(cfg.node_id, 5);          /* file only */
	CHECK_EQ_INT(cfg.log_level, RN_LOG_WARN); /* environment over file */
	CHECK_EQ_INT(cfg.num_partitions, 7);   /* flag over environment and file */
	CHECK_EQ_STR(cfg.listen.host, "0.0.0.0");
	CHECK_EQ_INT(cfg.listen.port, 7000);
	/* Derived defaults follow the final values. */
	CHECK_EQ_INT(cfg.voters[0].node_id, 5);
	CHECK_EQ_INT(cfg.advertise.port, 7000);
	CHECK_EQ_STR(cfg.config_file, path);
}

TEST(config_file_from_environment)
{
	const char *path = write_file("node.id=9\n");
	char env_config[800];
	snprintf(env_config, sizeof(env_config), "RUNNEL_CONFIG=%s", path);
	char *argv[] = {"runneld", NULL};
	char *envp[] = {env_config, NULL};
	enum config_action action;
	CHECK_OK(parse(1, argv, envp, &action));
	CHECK_EQ_INT(cfg.node_id, 9);
}

TEST(unknown_flag_is_named)
{
	char *argv[] = {"runneld", "--no-such-thing", "1", NULL};
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_EQ_INT(parse(3, argv, envp, &action), RN_E_INVALID_CONFIG);
	CHECK(strstr(err, "--no-such-thing") != NULL);
}

TEST(unknown_file_key_is_named_with_line)
{
	const char *path = write_file("node.id=2\nbogus.key=1\n");
	char *argv[] = {"runneld", "--config", (char *)path, NULL};
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_EQ_INT(parse(3, argv, envp, &action), RN_E_INVALID_CONFIG);
	CHECK(strstr(err, "bogus.key") != NULL);
	CHECK(strstr(err, ":2") != NULL);
}

TEST(unknown_environment_variable_is_reported_not_fatal)
{
	char *argv[] = {"runneld", NULL};
	char *envp[] = {"RUNNEL_NODE_IDD=3", "RUNNEL_BOOTSTRAP=h:1", NULL};
	enum config_action action;
	CHECK_OK(parse(1, argv, envp, &action));
	CHECK(strstr(cfg.env_warning, "RUNNEL_") != NULL);
	CHECK_EQ_INT(cfg.node_id, 1);
	/* A bad value for a known variable is fatal and named. */
	char *bad[] = {"RUNNEL_NUM_PARTITIONS=lots", NULL};
	CHECK_EQ_INT(parse(1, argv, bad, &action), RN_E_INVALID_CONFIG);
	CHECK(strstr(err, "num.partitions") != NULL);
	CHECK(strstr(err, "RUNNEL_NUM_PARTITIONS") != NULL);
}

TEST(bad_values_are_refused)
{
	char *envp[] = {NULL};
	enum config_action action;
	char *a1[] = {"runneld", "--node-id", "x1", NULL};
	CHECK_EQ_INT(parse(3, a1, envp, &action), RN_E_INVALID_CONFIG);
	CHECK(strstr(err, "node.id") != NULL);
	char *a2[] = {"runneld", "--listen", "localhost", NULL};
	CHECK_EQ_INT(parse(3, a2, envp, &action), RN_E_INVALID_CONFIG);
	CHECK(strstr(err, "listen") != NULL);
	char *a3[] = {"runneld", "--listen=h:70000", NULL};
	CHECK_EQ_INT(parse(2, a3, envp, &action), RN_E_INVALID_CONFIG);
	char *a4[] = {"runneld", "--roles", "broker,", NULL};
	CHECK_EQ_INT(parse(3, a4, envp, &action), RN_E_INVALID_CONFIG);
	char *a5[] = {"runneld", "--num-partitions", "0", NULL};
	CHECK_EQ_INT(parse(3, a5, envp, &action), RN_E_INVALID_CONFIG);
	char *a6[] = {"runneld", "--log-level", "loud", NULL};
	CHECK_EQ_INT(parse(3, a6, envp, &action), RN_E_INVALID_CONFIG);
	char *a7[] = {"runneld", "--node-id", NULL};
	CHECK_EQ_INT(parse(2, a7, envp, &action), RN_E_INVALID_CONFIG);
	char *a8[] = {"runneld", "--voters", "1@a:1,1@b:2", NULL};
	CHECK_EQ_INT(parse(3, a8, envp, &action), RN_E_INVALID_CONFIG);
	char *a9[] = {"runneld", "stray", NULL};
	CHECK_EQ_INT(parse(2, a9, envp, &action), RN_E_INVALID_CONFIG);
}

TEST(flush_policy_never_and_numbers)
{
	char *argv[] = {"runneld", "--log-flush-interval-messages", "1",
			"--log-flush-interval-ms=never", NULL};
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_OK(parse(4, argv, envp, &action));
	CHECK_EQ_INT(cfg.log_flush_interval_messages, 1);
	CHECK(cfg.log_flush_interval_ms == CONFIG_NEVER);
}

TEST(voters_and_roles_must_agree)
{
	char *envp[] = {NULL};
	enum config_action action;
	char *a1[] = {"runneld", "--voters", "2@h:1", NULL};
	CHECK_EQ_INT(parse(3, a1, envp, &action), RN_E_INVALID_CONFIG);
	char *a2[] = {"runneld", "--voters", "1@h:1,2@[::1]:2", NULL};
	CHECK_OK(parse(3, a2, envp, &action));
	CHECK_EQ_INT(cfg.voter_count, 2);
	CHECK_EQ_STR(cfg.voters[1].addr.host, "::1");
	char *a3[] = {"runneld", "--roles", "broker", "--voters", "2@h:1", NULL};
	CHECK_OK(parse(5, a3, envp, &action));
	CHECK_EQ_INT(cfg.roles, NODE_ROLE_BROKER);
}

TEST(help_and_version_actions)
{
	char *envp[] = {NULL};
	enum config_action action;
	char *a1[] = {"runneld", "--help", NULL};
	CHECK_OK(parse(2, a1, envp, &action));
	CHECK_EQ_INT(action, CONFIG_HELP);
	char *a2[] = {"runneld", "--version", NULL};
	CHECK_OK(parse(2, a2, envp, &action));
	CHECK_EQ_INT(action, CONFIG_VERSION);
}

TEST(help_lists_every_setting)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	config_print_help(f, "runneld");
	fclose(f);
	static const char *const names[] = {"--node-id", "--roles", "--listen", "--advertise",
		"--voters", "--data-dir", "--log-level", "--num-partitions",
		"--default-replication-factor", "--min-insync-replicas", "--message-max-bytes",
		"--log-segment-bytes", "--log-roll-ms", "--log-index-interval-bytes",
		"--log-flush-interval-messages", "--log-flush-interval-ms",
		"--replica-lag-time-max-ms", "--log-retention-check-interval-ms"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK(strstr(text, names[i]) != NULL);
	free(text);
}

/* docs/configuration.md embeds the generated table; it must not drift. */
TEST(docs_match_the_settings_table)
{
	char *table = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&table, &len);
	config_print_markdown(f);
	fclose(f);
	FILE *doc = fopen(RUNNEL_SOURCE_ROOT "/docs/configuration.md", "r");
	CHECK(doc != NULL);
	static char text[256 * 1024];
	size_t n = fread(text, 1, sizeof(text) - 1, doc);
	fclose(doc);
	text[n] = '\0';
	int found = strstr(text, table) != NULL;
	if (!found)
		fprintf(stderr, "  regenerate the table with: runneld --help-markdown\n");
	free(table);
	CHECK(found);
}

TEST(quorum_settings_have_kafka_defaults_and_are_checked)
{
	char *argv[] = {"runneld", NULL};
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_OK(parse(1, argv, envp, &action));
	CHECK_EQ_STR(cfg.cluster_id, "");
	CHECK_EQ_STR(cfg.rack, "");
	CHECK_EQ_INT(cfg.broker_heartbeat_interval_ms, 2000);
	CHECK_EQ_INT(cfg.broker_session_timeout_ms, 9000);
	CHECK(cfg.metadata_snapshot_interval_records > 0);

	char *ok[] = {"runneld", "--cluster-id", "MkU3OEVBNTcwNTJENDM2Qk", "--rack", "eu-1a",
		      "--metadata-snapshot-interval-records", "10", NULL};
	CHECK_OK(parse(7, ok, envp, &action));
	CHECK_EQ_STR(cfg.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
	CHECK_EQ_STR(cfg.rack, "eu-1a");
	CHECK_EQ_INT(cfg.metadata_snapshot_interval_records, 10);

	char *bad_id[] = {"runneld", "--cluster-id", "no spaces", NULL};
	CHECK_EQ_INT(parse(3, bad_id, envp, &action), RN_E_INVALID_CONFIG);
	CHECK(strstr(err, "cluster.id") != NULL);
	char *long_id[] = {"runneld", "--cluster-id", "0123456789012345678901234567890123456789", NULL};
	CHECK_EQ_INT(parse(3, long_id, envp, &action), RN_E_INVALID_CONFIG);

	/* A heartbeat as long as the session would fence every broker. */
	char *slow[] = {"runneld", "--broker-heartbeat-interval-ms", "9000", NULL};
	CHECK_EQ_INT(parse(3, slow, envp, &action), RN_E_INVALID_CONFIG);
	CHECK(strstr(err, "broker.session.timeout.ms") != NULL);
}

TEST(a_broker_only_node_is_an_observer_of_the_voters)
{
	char *argv[] = {"runneld", "--node-id", "4", "--roles", "broker", "--voters",
			"1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103", NULL};
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_OK(parse(7, argv, envp, &action));
	CHECK_EQ_INT(cfg.voter_count, 3);
	CHECK_EQ_INT(cfg.roles, NODE_ROLE_BROKER);
	/* Without voters given, the node would be its own voter and need the
	 * controller role. */
	char *alone[] = {"runneld", "--roles", "broker", NULL};
	CHECK_EQ_INT(parse(3, alone, envp, &action), RN_E_INVALID_CONFIG);
}

TEST(the_listen_form_is_one_listener_named_plaintext)
{
	char *argv[] = {"runneld", "--listen", "127.0.0.1:7001", "--advertise", "node1:7001", NULL};
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_OK(parse(5, argv, envp, &action));
	CHECK_EQ_INT(cfg.listener_count, 1);
	CHECK_EQ_STR(cfg.listeners[0].name, CONFIG_DEFAULT_LISTENER_NAME);
	CHECK_EQ_STR(cfg.listeners[0].bind.host, "127.0.0.1");
	CHECK_EQ_STR(cfg.listeners[0].advertise.host, "node1");
	CHECK_EQ_INT(cfg.listeners[0].advertise.port, 7001);
	CHECK_EQ_INT(cfg.inter_node, 0);
	CHECK_EQ_STR(cfg.voters[0].addr.host, "node1");
	/* advertised.listeners may name the one listener instead of advertise. */
	char *named[] = {"runneld", "--listen", "0.0.0.0:7001", "--advertised-listeners",
			 "PLAINTEXT://node2:7001", NULL};
	CHECK_OK(parse(5, named, envp, &action));
	CHECK_EQ_STR(cfg.advertise.host, "node2");
	CHECK_EQ_STR(cfg.listen.host, "0.0.0.0");
}

TEST(listeners_bind_and_advertise_by_name)
{
	char *argv[] = {"runneld", "--listeners",
			"EXTERNAL://0.0.0.0:9092,INTERNAL://0.0.0.0:9093", NULL};
	char *envp[] = {"RUNNEL_ADVERTISED_LISTENERS=INTERNAL://node1:9093,EXTERNAL://localhost:19092",
			"RUNNEL_INTER_NODE_LISTENER_NAME=INTERNAL", NULL};
	enum config_action action;
	CHECK_OK(parse(3, argv, envp, &action));
	CHECK_EQ_INT(cfg.listener_count, 2);
	CHECK_EQ_STR(cfg.listeners[0].name, "EXTERNAL");
	CHECK_EQ_STR(cfg.listeners[0].bind.host, "0.0.0.0");
	CHECK_EQ_INT(cfg.listeners[0].bind.port, 9092);
	CHECK_EQ_STR(cfg.listeners[0].advertise.host, "localhost");
	CHECK_EQ_INT(cfg.listeners[0].advertise.port, 19092);
	CHECK_EQ_STR(cfg.listeners[1].advertise.host, "node1");
	CHECK_EQ_INT(cfg.inter_node, 1);
	/* listen and advertise become the inter-node listener's, and the
	 * default voter is this node at its inter-node address. */
	CHECK_EQ_INT(cfg.listen.port, 9093);
	CHECK_EQ_STR(cfg.advertise.host, "node1");
	CHECK_EQ_INT(cfg.voters[0].addr.port, 9093);
	CHECK(config_listener_find(&cfg, "INTERNAL") == &cfg.listeners[1]);
	CHECK(config_listener_find(&cfg, "PLAINTEXT") == NULL);
	/* Without a name, the first listener is the inter-node one; a listener
	 * not in advertised.listeners announces its bind address. */
	char *plain[] = {"runneld", "--listeners", "A://127.0.0.1:1,B://127.0.0.2:2", NULL};
	char *none[] = {NULL};
	CHECK_OK(parse(3, plain, none, &action));
	CHECK_EQ_INT(cfg.inter_node, 0);
	CHECK_EQ_STR(cfg.listeners[1].advertise.host, "127.0.0.2");
	CHECK_EQ_STR(cfg.advertise.host, "127.0.0.1");
}

/* Runs argv (argc entries) and expects a configuration error mentioning want. */
static void refused(int argc, char **argv, const char *want)
{
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_EQ_INT(parse(argc, argv, envp, &action), RN_E_INVALID_CONFIG);
	if (!strstr(err, want))
		fprintf(stderr, "  error '%s' lacks '%s'\n", err, want);
	CHECK(strstr(err, want) != NULL);
}

TEST(listener_syntax_errors_say_what_is_wrong)
{
	char *a1[] = {"runneld", "--listeners", "INTERNAL:127.0.0.1:1", NULL};
	refused(3, a1, "expected NAME://HOST:PORT");
	char *a2[] = {"runneld", "--listeners", "internal://127.0.0.1:1", NULL};
	refused(3, a2, "A-Z, 0-9 and _");
	char *a3[] = {"runneld", "--listeners", "://127.0.0.1:1", NULL};
	refused(3, a3, "A-Z, 0-9 and _");
	char *a4[] = {"runneld", "--listeners", "A://127.0.0.1:1,A://127.0.0.1:2", NULL};
	refused(3, a4, "appears twice");
	char *a5[] = {"runneld", "--listeners", "A://127.0.0.1:0", NULL};
	refused(3, a5, "port from 1 to 65535");
	char *a6[] = {"runneld", "--listeners",
		      "A://h:1,B://h:2,C://h:3,D://h:4,E://h:5,F://h:6,G://h:7,H://h:8,I://h:9", NULL};
	refused(3, a6, "at most 8");
	char *a7[] = {"runneld", "--listeners", "A://h:1,", NULL};
	refused(3, a7, "listeners");
	char *a8[] = {"runneld", "--inter-node-listener-name", "in-ternal", NULL};
	refused(3, a8, "inter.node.listener.name");
	char *a9[] = {"runneld", "--listeners", "LONG_NAME_OF_THIRTY_THREE_CHARS_X://h:1", NULL};
	refused(3, a9, "1 to 32");
}

TEST(listener_settings_must_agree)
{
	char *a1[] = {"runneld", "--listen", "127.0.0.1:1", "--listeners", "A://127.0.0.1:2", NULL};
	refused(5, a1, "listen cannot be combined with listeners");
	char *a2[] = {"runneld", "--advertise", "h:1", "--listeners", "A://127.0.0.1:2", NULL};
	refused(5, a2, "advertise cannot be combined with listeners");
	char *a3[] = {"runneld", "--listeners", "A://127.0.0.1:2", "--advertised-listeners",
		      "B://h:2", NULL};
	refused(5, a3, "advertised.listeners names B");
	char *a4[] = {"runneld", "--listeners", "A://0.0.0.0:2", NULL};
	refused(3, a4, "wildcard");
	char *a5[] = {"runneld", "--listeners", "A://[::]:2,B://127.0.0.1:3", "--advertised-listeners",
		      "B://h:3", NULL};
	refused(5, a5, "listener A binds the wildcard");
	char *a6[] = {"runneld", "--listeners", "A://127.0.0.1:2", "--advertised-listeners",
		      "A://0.0.0.0:2", NULL};
	refused(5, a6, "wildcard");
	char *a7[] = {"runneld", "--listeners", "A://127.0.0.1:2", "--inter-node-listener-name",
		      "B", NULL};
	refused(5, a7, "inter.node.listener.name B is not declared");
	char *a8[] = {"runneld", "--listeners", "A://0.0.0.0:2,B://127.0.0.1:2",
		      "--advertised-listeners", "A://h:2", NULL};
	refused(5, a8, "both bind port 2");
	char *a9[] = {"runneld", "--advertise", "h:1", "--advertised-listeners", "PLAINTEXT://h:1",
		      NULL};
	refused(5, a9, "advertise cannot be combined with advertised.listeners");
}

TEST(listeners_in_a_config_file)
{
	const char *path = write_file(
		"listeners = INTERNAL://0.0.0.0:9093,EXTERNAL://0.0.0.0:9092\n"
		"advertised.listeners = INTERNAL://node1:9093,EXTERNAL://localhost:19092\n");
	char config_arg[800];
	snprintf(config_arg, sizeof(config_arg), "--config=%s", path);
	char *argv[] = {"runneld", config_arg, NULL};
	char *envp[] = {NULL};
	enum config_action action;
	CHECK_OK(parse(2, argv, envp, &action));
	CHECK_EQ_INT(cfg.listener_count, 2);
	CHECK_EQ_INT(cfg.inter_node, 0);
	CHECK_EQ_STR(cfg.advertise.host, "node1");
	char summary[2048];
	config_summary(&cfg, summary, sizeof(summary));
	CHECK(strstr(summary, "INTERNAL://0.0.0.0:9093>node1:9093,EXTERNAL://0.0.0.0:9092>"
			      "localhost:19092") != NULL);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
