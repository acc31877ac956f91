/* test_cli_group.c: consumer settings by Kafka name, group seek arithmetic, group list/describe output. */
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "common/errors.h"
#include "test/unit/harness.h"

TEST(consumer_settings_by_kafka_name)
{
	struct runnel_consumer_config cfg;
	runnel_consumer_config_init(&cfg);
	CHECK(cfg.enable_auto_commit == 1);
	CHECK_EQ_INT(cfg.session_timeout_ms, RUNNEL_DEFAULT_SESSION_TIMEOUT_MS);
	CHECK(runnel_consumer_config_set(&cfg, "session.timeout.ms", "3000") == 0);
	CHECK(runnel_consumer_config_set(&cfg, "heartbeat.interval.ms", "300") == 0);
	CHECK(runnel_consumer_config_set(&cfg, "max.poll.interval.ms", "20000") == 0);
	CHECK(runnel_consumer_config_set(&cfg, "enable.auto.commit", "false") == 0);
	CHECK(runnel_consumer_config_set(&cfg, "auto.commit.interval.ms", "500") == 0);
	CHECK(runnel_consumer_config_set(&cfg, "auto.offset.reset", "earliest") == 0);
	CHECK(runnel_consumer_config_set(&cfg, "partition.assignment.strategy", "sticky, range") == 0);
	CHECK(runnel_consumer_config_set(&cfg, "group.id", "billing") == 0);
	CHECK(runnel_consumer_config_set(&cfg, "request.timeout.ms", "7000") == 0);
	CHECK_EQ_INT(cfg.session_timeout_ms, 3000);
	CHECK_EQ_INT(cfg.heartbeat_interval_ms, 300);
	CHECK_EQ_INT(cfg.rebalance_timeout_ms, 20000);
	CHECK_EQ_INT(cfg.enable_auto_commit, 0);
	CHECK_EQ_INT(cfg.auto_commit_interval_ms, 500);
	CHECK(cfg.auto_offset_reset == RUNNEL_RESET_EARLIEST);
	CHECK(strcmp(cfg.assignment_strategy, "sticky, range") == 0);
	CHECK(strcmp(cfg.group_id, "billing") == 0);
	CHECK_EQ_INT(cfg.client.request_timeout_ms, 7000);
}

TEST(consumer_settings_refuse_bad_input)
{
	struct runnel_consumer_config cfg;
	runnel_consumer_config_init(&cfg);
	CHECK_EQ_INT(runnel_consumer_config_set(&cfg, "no.such.setting", "1"), RN_E_NOT_FOUND);
	CHECK_EQ_INT(runnel_consumer_config_set(&cfg, "session.timeout.ms", "soon"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_consumer_config_set(&cfg, "session.timeout.ms", "-5"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_consumer_config_set(&cfg, "session.timeout.ms", "99999999999"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_consumer_config_set(&cfg, "enable.auto.commit", "maybe"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_consumer_config_set(&cfg, "auto.offset.reset", "middle"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_consumer_config_set(&cfg, "partition.assignment.strategy",
						"range,cooperative-sticky"),
		     RN_E_INVAL);
	CHECK_EQ_INT(runnel_consumer_config_set(&cfg, "partition.assignment.strategy", " , "), RN_E_INVAL);
	/* Nothing was changed by the refused values. */
	CHECK_EQ_INT(cfg.session_timeout_ms, RUNNEL_DEFAULT_SESSION_TIMEOUT_MS);
	CHECK_EQ_INT(cfg.enable_auto_commit, 1);
}

TEST(consumer_refuses_inconsistent_group_settings)
{
	struct runnel_consumer_config cfg;
	runnel_consumer *c = NULL;
	runnel_consumer_config_init(&cfg);
	cfg.group_id = "g";
	cfg.heartbeat_interval_ms = cfg.session_timeout_ms + 1;
	CHECK_EQ_INT(runnel_consumer_new(&cfg, &c), RN_E_INVAL);
	runnel_consumer_config_init(&cfg);
	cfg.group_id = "g";
	cfg.assignment_strategy = "nonsense";
	CHECK_EQ_INT(runnel_consumer_new(&cfg, &c), RN_E_INVAL);
	/* Subscribing needs a group; committing too. */
	runnel_consumer_config_init(&cfg);
	CHECK(runnel_consumer_new(&cfg, &c) == 0);
	const char *topic = "t";
	CHECK_EQ_INT(runnel_consumer_subscribe(c, &topic, 1), RN_E_INVAL);
	CHECK_EQ_INT(runnel_consumer_commit(c, NULL, 0, 100), RN_E_INVAL);
	CHECK_EQ_INT(runnel_consumer_close(c, 100), 0);
	runnel_consumer_free(c);
}

TEST(subscribed_consumer_before_joining)
{
	struct runnel_consumer_config cfg;
	runnel_consumer *c = NULL;
	runnel_consumer_config_init(&cfg);
	cfg.group_id = "g";
	CHECK(runnel_consumer_new(&cfg, &c) == 0);
	const char *topics[] = {"b", "a", "b"};
	CHECK(runnel_consumer_subscribe(c, topics, 3) == 0);
	CHECK(strcmp(runnel_consumer_member_id(c), "") == 0);
	CHECK_EQ_INT(runnel_consumer_generation(c), -1);
	CHECK_EQ_INT(runnel_consumer_at_end(c), 0);
	struct runnel_topic_partition *list = NULL;
	size_t n = 5;
	CHECK(runnel_consumer_assignment(c, &list, &n) == 0);
	CHECK_EQ_INT(n, 0);
	free(list);
	/* A member that has not joined holds nothing it could commit. */
	CHECK_EQ_INT(runnel_consumer_commit(c, NULL, 0, 100), RN_E_REBALANCE_IN_PROGRESS);
	/* A subscribed consumer cannot also take partitions by hand. */
	int32_t p = 0;
	CHECK_EQ_INT(runnel_consumer_assign(c, "a", &p, 1), RN_E_INVAL);
	runnel_consumer_free(c);
}

TEST(seek_targets)
{
	struct cli_seek_target t;
	CHECK(cli_parse_seek_target("beginning", &t) == 0 && t.kind == CLI_SEEK_BEGINNING);
	CHECK(cli_parse_seek_target("end", &t) == 0 && t.kind == CLI_SEEK_END);
	CHECK(cli_parse_seek_target("@1700000000000", &t) == 0 && t.kind == CLI_SEEK_TIMESTAMP);
	CHECK_EQ_INT(t.value, 1700000000000LL);
	CHECK(cli_parse_seek_target("42", &t) == 0 && t.kind == CLI_SEEK_OFFSET);
	CHECK_EQ_INT(t.value, 42);
	CHECK_EQ_INT(cli_parse_seek_target("-3", &t), RN_E_INVAL);
	CHECK_EQ_INT(cli_parse_seek_target("@-1", &t), RN_E_INVAL);
	CHECK_EQ_INT(cli_parse_seek_target("soon", &t), RN_E_INVAL);
	CHECK_EQ_INT(cli_parse_seek_target("12x", &t), RN_E_INVAL);
}

TEST(seek_new_offsets_stay_in_the_log)
{
	struct cli_seek_target t = {CLI_SEEK_OFFSET, 50};
	CHECK_EQ_INT(cli_seek_new_offset(&t, 10, 100, -1), 50);
	t.value = 5;
	CHECK_EQ_INT(cli_seek_new_offset(&t, 10, 100, -1), 10);
	t.value = 500;
	CHECK_EQ_INT(cli_seek_new_offset(&t, 10, 100, -1), 100);
	t = (struct cli_seek_target){CLI_SEEK_BEGINNING, 0};
	CHECK_EQ_INT(cli_seek_new_offset(&t, 10, 100, -1), 10);
	t = (struct cli_seek_target){CLI_SEEK_END, 0};
	CHECK_EQ_INT(cli_seek_new_offset(&t, 10, 100, -1), 100);
	t = (struct cli_seek_target){CLI_SEEK_TIMESTAMP, 1234};
	CHECK_EQ_INT(cli_seek_new_offset(&t, 10, 100, 37), 37);
	/* No record that new: the end. */
	CHECK_EQ_INT(cli_seek_new_offset(&t, 10, 100, -1), 100);
}

static char *render(void (*fn)(FILE *, const struct runnel_group_info *), const struct runnel_group_info *g)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fn(f, g);
	fclose(f);
	return buf;
}

TEST(describe_json_lists_partitions_with_lag_and_owner)
{
	struct runnel_topic_partition assigned[] = {{"orders", 0, -1}};
	struct runnel_group_member_info m = {"runnel-1", "runnel", "127.0.0.1", assigned, 1};
	struct runnel_group_partition_info parts[] = {
		{"orders", 0, 40, 50, 10, &m},
		{"orders", 1, -1, 7, -1, NULL},
	};
	struct runnel_group_info g = {"billing", "Stable", "consumer", "range", 3, 2, &m, 1, parts, 2};
	char *out = render(cli_group_describe_print_json, &g);
	CHECK(out != NULL);
	CHECK(strstr(out, "\"group\":\"billing\"") != NULL);
	CHECK(strstr(out, "\"state\":\"Stable\"") != NULL);
	CHECK(strstr(out, "\"coordinator\":2") != NULL);
	CHECK(strstr(out, "{\"topic\":\"orders\",\"partition\":0,\"committed_offset\":40,"
			  "\"log_end_offset\":50,\"lag\":10,\"member_id\":\"runnel-1\","
			  "\"client_id\":\"runnel\",\"host\":\"127.0.0.1\"}") != NULL);
	CHECK(strstr(out, "\"partition\":1,\"committed_offset\":-1,\"log_end_offset\":7,\"lag\":-1,"
			  "\"member_id\":null") != NULL);
	CHECK(out[strlen(out) - 1] == '\n');
	free(out);
	out = render(cli_group_describe_print_text, &g);
	CHECK(out != NULL);
	CHECK(strstr(out, "Group: billing") != NULL);
	CHECK(strstr(out, "runnel-1") != NULL);
	free(out);
}

TEST(list_json_is_an_array_of_groups)
{
	struct runnel_group_listing l[] = {{"a", "Stable", "consumer", 1, 3}, {"b", "Empty", "consumer", 2, 0}};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	cli_group_list_print_json(f, l, 2);
	fclose(f);
	CHECK(strcmp(buf, "[{\"group\":\"a\",\"state\":\"Stable\",\"coordinator\":1,\"members\":3,"
			  "\"protocol_type\":\"consumer\"},{\"group\":\"b\",\"state\":\"Empty\","
			  "\"coordinator\":2,\"members\":0,\"protocol_type\":\"consumer\"}]\n") == 0);
	free(buf);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
