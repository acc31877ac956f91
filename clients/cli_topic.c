/* cli_topic.c: runnel topic create|list|describe|alter-config|delete. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "clients/cli_config.h"
#include "common/errors.h"
#include "common/limits.h"

static const char topic_usage[] =
	"usage: runnel topic create NAME [-p PARTITIONS] [-r REPLICAS] [-c KEY=VALUE]...\n"
	"       runnel topic list [--all] [--format text|json]\n"
	"       runnel topic describe NAME [--format text|json]\n"
	"       runnel topic alter-config NAME [-c KEY=VALUE]... [--delete KEY]... [--validate-only]\n"
	"       runnel topic delete NAME\n"
	"\n"
	"  -p, --partitions N     partitions of a new topic (default: the node's)\n"
	"  -r, --replicas N       replication factor of a new topic (default: the node's)\n"
	"  -c, --config KEY=VALUE a topic configuration entry (repeatable)\n"
	"  -d, --delete KEY       alter-config: remove the topic's override of KEY, back to\n"
	"                         the cluster-wide or built-in default (repeatable)\n"
	"  --validate-only        alter-config: check the changes, change nothing\n"
	"  --format text|json    output format of list and describe (default text)\n"
	"  --all                  list: include internal topics (__consumer_offsets)\n";

enum topic_format { FORMAT_TEXT, FORMAT_JSON };

struct topic_opts {
	const char *sub;
	const char *name;
	int32_t partitions;
	int32_t replicas;
	struct runnel_config_entry configs[CLI_MAX_CONFIGS];
	char *config_storage[CLI_MAX_CONFIGS];
	size_t config_count;
	const char *deletes[CLI_MAX_CONFIGS]; /* alter-config --delete keys */
	size_t delete_count;
	int validate_only;
	enum topic_format format;
	int all; /* list internal topics too */
};

static int add_config(struct topic_opts *o, const char *what, const char *arg)
{
	size_t klen;
	const char *value;
	if (cli_split_kv(arg, &klen, &value) != 0) {
		cli_usage_error(what, "-c wants KEY=VALUE, not \"%s\"", arg);
		return CLI_EXIT_USAGE;
	}
	if (o->config_count >= CLI_MAX_CONFIGS) {
		cli_usage_error(what, "at most %d -c options", CLI_MAX_CONFIGS);
		return CLI_EXIT_USAGE;
	}
	char *key = strndup(arg, klen);
	if (!key)
		return CLI_EXIT_ERROR;
	o->config_storage[o->config_count] = key;
	o->configs[o->config_count].name = key;
	o->configs[o->config_count].value = value;
	o->config_count++;
	return 0;
}

static int parse_count(const char *what, const char *flag, const char *arg, int64_t max, int32_t *out)
{
	int64_t v;
	if (cli_parse_int64(arg, 1, max, &v) != 0) {
		cli_usage_error(what, "%s wants a number from 1 to %lld, not \"%s\"", flag,
				(long long)max, arg);
		return CLI_EXIT_USAGE;
	}
	*out = (int32_t)v;
	return 0;
}

/* Parses the options after "topic SUB".  Returns 0, CLI_EXIT_USAGE, or -1
 * after printing help. */
static int parse_topic_opts(int argc, char **argv, struct topic_opts *o)
{
	static const struct option opts[] = {
		{"partitions", required_argument, NULL, 'p'},
		{"replicas", required_argument, NULL, 'r'},
		{"config", required_argument, NULL, 'c'},
		{"format", required_argument, NULL, 'F'},
		{"all", no_argument, NULL, 'A'},
		{"delete", required_argument, NULL, 'd'},
		{"validate-only", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch, rc;
	while ((ch = getopt_long(argc, argv, "p:r:c:d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if ((rc = parse_count("topic", "-p", optarg, RN_MAX_PARTITIONS_PER_TOPIC,
					      &o->partitions)) != 0)
				return rc;
			break;
		case 'r':
			if ((rc = parse_count("topic", "-r", optarg, RN_MAX_REPLICATION_FACTOR,
					      &o->replicas)) != 0)
				return rc;
			break;
		case 'c':
			if ((rc = add_config(o, "topic", optarg)) != 0)
				return rc;
			break;
		case 'F':
			if (strcmp(optarg, "text") == 0)
				o->format = FORMAT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				o->format = FORMAT_JSON;
			else {
				cli_usage_error("topic", "--format is text or json, not \"%s\"", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'A':
			o->all = 1;
			break;
		case 'd':
			if (o->delete_count >= CLI_MAX_CONFIGS) {
				cli_usage_error("topic", "at most %d --delete options", CLI_MAX_CONFIGS);
				return CLI_EXIT_USAGE;
			}
			o->deletes[o->delete_count++] = optarg;
			break;
		case 'V':
			o->validate_only = 1;
			break;
		case 'h':
			fputs(topic_usage, stdout);
			return -1;
		default:
			fputs(topic_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	/* Positional words: the subcommand (argv[1]) and maybe a name. */
	int pos = optind;
	if (pos < argc && argv[pos] == o->sub)
		pos++;
	if (pos < argc)
		o->name = argv[pos++];
	if (pos < argc) {
		cli_usage_error("topic", "unexpected argument \"%s\"", argv[pos]);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int admin_open(const struct cli_global *g, const char *what, runnel_admin **out)
{
	struct runnel_client_config cfg;
	runnel_client_config_init(&cfg);
	cfg.bootstrap = g->bootstrap;
	int rc = runnel_admin_new(&cfg, out);
	if (rc != 0) {
		cli_error(what, rc, rc == RN_E_INVAL ? "bad bootstrap list (want HOST:PORT[,HOST:PORT...])"
						     : NULL);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static int cmd_create(runnel_admin *a, const struct topic_opts *o)
{
	struct runnel_new_topic t = {
		.name = o->name,
		.partitions = o->partitions,
		.replication_factor = o->replicas,
		.configs = o->configs,
		.config_count = o->config_count,
	};
	int rc = runnel_admin_create_topic(a, &t, CLI_ADMIN_TIMEOUT_MS);
	if (rc != 0) {
		cli_error("topic create", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	printf("created topic %s\n", o->name);
	return CLI_EXIT_OK;
}

static int cmd_delete(runnel_admin *a, const struct topic_opts *o)
{
	int rc = runnel_admin_delete_topic(a, o->name, CLI_ADMIN_TIMEOUT_MS);
	if (rc != 0) {
		cli_error("topic delete", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	printf("deleted topic %s\n", o->name);
	return CLI_EXIT_OK;
}

static int cmd_list(runnel_admin *a, const struct topic_opts *o)
{
	struct runnel_topic_summary *list = NULL;
	size_t n = 0;
	int rc = runnel_admin_list_topics(a, &list, &n);
	if (rc != 0) {
		cli_error("topic list", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	/* Internal topics (named "__...", like __consumer_offsets) are the
	 * system's business and are listed only when asked for. */
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		if (!o->all && strncmp(list[i].name, CLI_INTERNAL_TOPIC_PREFIX,
				       strlen(CLI_INTERNAL_TOPIC_PREFIX)) == 0) {
			free(list[i].name);
			continue;
		}
		list[shown++] = list[i];
	}
	n = shown;
	if (o->format == FORMAT_JSON) {
		fputc('[', stdout);
		for (size_t i = 0; i < n; i++) {
			fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
			cli_json_string(stdout, list[i].name, strlen(list[i].name));
			printf(",\"partitions\":%d,\"replication_factor\":%d}", list[i].partitions,
			       list[i].replication_factor);
		}
		fputs("]\n", stdout);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", list[i].name);
	}
	runnel_topic_summaries_free(list, n);
	return CLI_EXIT_OK;
}

static void json_ids(const int32_t *ids, size_t n)
{
	fputc('[', stdout);
	for (size_t i = 0; i < n; i++)
		printf(i ? ",%d" : "%d", ids[i]);
	fputc(']', stdout);
}

static void describe_json(const struct runnel_topic_info *t)
{
	fputs("{\"name\":", stdout);
	cli_json_string(stdout, t->name, strlen(t->name));
	fputs(",\"partitions\":[", stdout);
	for (size_t i = 0; i < t->partition_count; i++) {
		const struct runnel_partition_info *p = &t->partitions[i];
		printf("%s{\"partition\":%d,\"leader\":%d,\"leader_epoch\":%d,\"replicas\":", i ? "," : "",
		       p->partition, p->leader, p->leader_epoch);
		json_ids(p->replicas, p->replica_count);
		fputs(",\"isr\":", stdout);
		json_ids(p->isr, p->isr_count);
		printf(",\"log_start_offset\":%lld,\"high_watermark\":%lld}", (long long)p->log_start_offset,
		       (long long)p->high_watermark);
	}
	fputs("],\"configs\":{", stdout);
	for (size_t i = 0; i < t->config_count; i++) {
		if (i)
			fputc(',', stdout);
		cli_json_string(stdout, t->configs[i].name, strlen(t->configs[i].name));
		fputc(':', stdout);
		cli_json_string(stdout, t->configs[i].value, strlen(t->configs[i].value));
	}
	fputs("},\"config_sources\":{", stdout);
	for (size_t i = 0; i < t->config_count; i++) {
		if (i)
			fputc(',', stdout);
		cli_json_string(stdout, t->configs[i].name, strlen(t->configs[i].name));
		fputc(':', stdout);
		cli_json_string(stdout, t->configs[i].source, strlen(t->configs[i].source));
	}
	fputs("}}\n", stdout);
}

/* Formats a list of node ids as "1,2,3" into buf. */
static const char *ids_text(const int32_t *ids, size_t n, char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < cap; i++)
		used += (size_t)snprintf(buf + used, cap - used, i ? ",%d" : "%d", ids[i]);
	return buf;
}

#define DESCRIBE_COLUMNS 7
#define DESCRIBE_CELL 128

static void describe_text(const struct runnel_topic_info *t)
{
	static const char *heads[DESCRIBE_COLUMNS] = {"PARTITION", "LEADER", "EPOCH", "REPLICAS",
						      "ISR", "LOG_START", "HIGH_WATERMARK"};
	size_t rows = t->partition_count;
	char(*cells)[DESCRIBE_COLUMNS][DESCRIBE_CELL] = calloc(rows ? rows : 1, sizeof(*cells));
	int width[DESCRIBE_COLUMNS];
	if (!cells)
		return;
	for (int c = 0; c < DESCRIBE_COLUMNS; c++)
		width[c] = (int)strlen(heads[c]);
	for (size_t r = 0; r < rows; r++) {
		const struct runnel_partition_info *p = &t->partitions[r];
		snprintf(cells[r][0], DESCRIBE_CELL, "%d", p->partition);
		snprintf(cells[r][1], DESCRIBE_CELL, "%d", p->leader);
		snprintf(cells[r][2], DESCRIBE_CELL, "%d", p->leader_epoch);
		ids_text(p->replicas, p->replica_count, cells[r][3], DESCRIBE_CELL);
		ids_text(p->isr, p->isr_count, cells[r][4], DESCRIBE_CELL);
		snprintf(cells[r][5], DESCRIBE_CELL, "%lld", (long long)p->log_start_offset);
		snprintf(cells[r][6], DESCRIBE_CELL, "%lld", (long long)p->high_watermark);
		for (int c = 0; c < DESCRIBE_COLUMNS; c++)
			if ((int)strlen(cells[r][c]) > width[c])
				width[c] = (int)strlen(cells[r][c]);
	}
	printf("Topic: %s\tPartitions: %zu\tReplicationFactor: %zu\n", t->name, t->partition_count,
	       t->partition_count ? t->partitions[0].replica_count : (size_t)0);
	if (t->config_count > 0)
		printf("Configs:\n");
	for (size_t i = 0; i < t->config_count; i++)
		printf("  %s=%s (%s)\n", t->configs[i].name, t->configs[i].value, t->configs[i].source);
	/* The last column is not padded, so lines carry no trailing blanks. */
	for (int c = 0; c + 1 < DESCRIBE_COLUMNS; c++)
		printf("%-*s  ", width[c], heads[c]);
	printf("%s\n", heads[DESCRIBE_COLUMNS - 1]);
	for (size_t r = 0; r < rows; r++) {
		for (int c = 0; c + 1 < DESCRIBE_COLUMNS; c++)
			printf("%-*s  ", width[c], cells[r][c]);
		printf("%s\n", cells[r][DESCRIBE_COLUMNS - 1]);
	}
	free(cells);
}

static int cmd_describe(runnel_admin *a, const struct topic_opts *o)
{
	struct runnel_topic_info *t = NULL;
	int rc = runnel_admin_describe_topic(a, o->name, &t);
	if (rc != 0) {
		cli_error("topic describe", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	if (o->format == FORMAT_JSON)
		describe_json(t);
	else
		describe_text(t);
	runnel_topic_info_free(t);
	return CLI_EXIT_OK;
}

static int cmd_alter(runnel_admin *a, const struct topic_opts *o)
{
	struct runnel_config_change ch[2 * CLI_MAX_CONFIGS];
	size_t n = cli_config_changes(o->configs, o->config_count, o->deletes, o->delete_count, ch);
	if (n == 0) {
		cli_usage_error("topic", "alter-config needs -c KEY=VALUE or --delete KEY");
		return CLI_EXIT_USAGE;
	}
	int rc = runnel_admin_alter_configs(a, RUNNEL_CONFIG_TOPIC, o->name, ch, n,
					    o->validate_only, CLI_ADMIN_TIMEOUT_MS);
	if (rc != 0) {
		cli_error("topic alter-config", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	char what[RN_MAX_TOPIC_NAME_LEN + sizeof("topic ")];
	snprintf(what, sizeof(what), "topic %s", o->name);
	cli_config_changes_print(stdout, what, ch, n, o->validate_only);
	return CLI_EXIT_OK;
}

static int run_sub(const struct cli_global *g, struct topic_opts *o)
{
	static const struct {
		const char *name;
		int needs_name;
		int (*fn)(runnel_admin *, const struct topic_opts *);
	} subs[] = {
		{"create", 1, cmd_create},
		{"delete", 1, cmd_delete},
		{"list", 0, cmd_list},
		{"describe", 1, cmd_describe},
		{"alter-config", 1, cmd_alter},
	};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(o->sub, subs[i].name) != 0)
			continue;
		if (subs[i].needs_name && !o->name) {
			cli_usage_error("topic", "%s needs a topic name", o->sub);
			return CLI_EXIT_USAGE;
		}
		if (!subs[i].needs_name && o->name) {
			cli_usage_error("topic", "%s takes no topic name", o->sub);
			return CLI_EXIT_USAGE;
		}
		if (strcmp(o->sub, "alter-config") != 0 && (o->delete_count || o->validate_only)) {
			cli_usage_error("topic", "--delete and --validate-only belong to alter-config");
			return CLI_EXIT_USAGE;
		}
		runnel_admin *a = NULL;
		int rc = admin_open(g, "topic", &a);
		if (rc != 0)
			return rc;
		rc = subs[i].fn(a, o);
		runnel_admin_free(a);
		return rc;
	}
	cli_usage_error("topic", "unknown subcommand \"%s\"", o->sub);
	return CLI_EXIT_USAGE;
}

int cli_topic_main(const struct cli_global *g, int argc, char **argv)
{
	struct topic_opts o = {0};
	if (argc < 2) {
		fputs(topic_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(topic_usage, stdout);
		return CLI_EXIT_OK;
	}
	o.sub = argv[1];
	int rc = parse_topic_opts(argc, argv, &o);
	if (rc == -1)
		rc = CLI_EXIT_OK;
	else if (rc == 0)
		rc = run_sub(g, &o);
	for (size_t i = 0; i < o.config_count; i++)
		free(o.config_storage[i]);
	fflush(stdout);
	return rc;
}
