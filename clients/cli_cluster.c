/* cli_cluster.c: runnel cluster status (the quorum, the brokers, a health verdict), elect-leaders, and the cluster-wide config defaults. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "clients/cli_config.h"
#include "common/errors.h"

static const char cluster_usage[] =
	"usage: runnel cluster status [--format text|json]\n"
	"       runnel cluster elect-leaders [--topic NAME [--partition N]] [--format text|json]\n"
	"       runnel cluster describe-config [--format text|json]\n"
	"       runnel cluster alter-config [-c KEY=VALUE]... [--delete KEY]... [--validate-only]\n"
	"\n"
	"  status         the metadata quorum, the brokers and partition health\n"
	"  elect-leaders  move leadership back to each partition's preferred replica (its\n"
	"                 first replica) where that replica is alive and in sync; every\n"
	"                 partition of every topic unless --topic (and --partition) narrow it\n"
	"  describe-config  every topic config key with its cluster-wide value and source\n"
	"                 (cluster: a cluster-wide default; default: built in)\n"
	"  alter-config   set or remove cluster-wide defaults of topic config keys; a topic's\n"
	"                 own override still wins\n"
	"\n"
	"  -c, --config KEY=VALUE  alter-config: set a cluster-wide default (repeatable)\n"
	"  -d, --delete KEY        alter-config: remove a cluster-wide default (repeatable)\n"
	"  --validate-only         alter-config: check the changes, change nothing\n"
	"  --topic NAME       elect-leaders: only this topic\n"
	"  --partition N      elect-leaders: only this partition of --topic\n"
	"  --format text|json output format (default text)\n"
	"\n"
	"exit status: 0 healthy (status) or no partition failed (elect-leaders),\n"
	"3 reachable but unhealthy (status), 1 no node answered, a partition failed\n"
	"or another error, 2 usage mistake\n";

struct cluster_opts {
	const char *sub; /* "status", "elect-leaders", "describe-config" or "alter-config" */
	int json;
	const char *topic;  /* NULL: every topic */
	int32_t partition;  /* -1: every partition */
	struct runnel_config_entry sets[CLI_MAX_CONFIGS]; /* alter-config -c */
	char *set_keys[CLI_MAX_CONFIGS];                  /* owned copies of their keys */
	size_t set_count;
	const char *deletes[CLI_MAX_CONFIGS]; /* alter-config --delete */
	size_t delete_count;
	int validate_only;
};

/* Adds one -c KEY=VALUE.  Returns 0 or CLI_EXIT_USAGE. */
static int add_set(struct cluster_opts *o, const char *arg)
{
	size_t klen;
	const char *value;
	if (cli_split_kv(arg, &klen, &value) != 0) {
		cli_usage_error("cluster", "-c wants KEY=VALUE, not \"%s\"", arg);
		return CLI_EXIT_USAGE;
	}
	if (o->set_count >= CLI_MAX_CONFIGS) {
		cli_usage_error("cluster", "at most %d -c options", CLI_MAX_CONFIGS);
		return CLI_EXIT_USAGE;
	}
	char *key = strndup(arg, klen);
	if (!key)
		return CLI_EXIT_ERROR;
	o->set_keys[o->set_count] = key;
	o->sets[o->set_count].name = key;
	o->sets[o->set_count].value = value;
	o->set_count++;
	return 0;
}

/* Parses one option of the cluster commands.  Returns 0, CLI_EXIT_USAGE or
 * -1 after printing help. */
static int parse_one(int ch, struct cluster_opts *o)
{
	int64_t v;
	switch (ch) {
	case 'F':
		if (strcmp(optarg, "json") == 0) {
			o->json = 1;
		} else if (strcmp(optarg, "text") != 0) {
			cli_usage_error("cluster", "--format is text or json, not \"%s\"", optarg);
			return CLI_EXIT_USAGE;
		}
		return 0;
	case 't':
		if (!*optarg) {
			cli_usage_error("cluster", "--topic wants a topic name");
			return CLI_EXIT_USAGE;
		}
		o->topic = optarg;
		return 0;
	case 'p':
		if (cli_parse_int64(optarg, 0, INT32_MAX, &v) != 0) {
			cli_usage_error("cluster", "--partition wants a partition number, not \"%s\"",
					optarg);
			return CLI_EXIT_USAGE;
		}
		o->partition = (int32_t)v;
		return 0;
	case 'c':
		return add_set(o, optarg);
	case 'd':
		if (o->delete_count >= CLI_MAX_CONFIGS) {
			cli_usage_error("cluster", "at most %d --delete options", CLI_MAX_CONFIGS);
			return CLI_EXIT_USAGE;
		}
		o->deletes[o->delete_count++] = optarg;
		return 0;
	case 'V':
		o->validate_only = 1;
		return 0;
	case 'h':
		fputs(cluster_usage, stdout);
		return -1;
	default:
		fputs(cluster_usage, stderr);
		return CLI_EXIT_USAGE;
	}
}

/* Parses "SUBCOMMAND [options]".  Returns 0, CLI_EXIT_USAGE, or -1 after
 * printing help. */
static int parse_cluster_opts(int argc, char **argv, struct cluster_opts *o)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'F'},
		{"topic", required_argument, NULL, 't'},
		{"partition", required_argument, NULL, 'p'},
		{"config", required_argument, NULL, 'c'},
		{"delete", required_argument, NULL, 'd'},
		{"validate-only", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch, rc;
	while ((ch = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1)
		if ((rc = parse_one(ch, o)) != 0)
			return rc;
	/* The only positional word is the subcommand itself. */
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], o->sub) != 0) {
			cli_usage_error("cluster", "unexpected argument \"%s\"", argv[i]);
			return CLI_EXIT_USAGE;
		}
	}
	int elect = strcmp(o->sub, "elect-leaders") == 0;
	if (!elect && (o->topic || o->partition >= 0)) {
		cli_usage_error("cluster", "--topic and --partition belong to elect-leaders");
		return CLI_EXIT_USAGE;
	}
	if (o->partition >= 0 && !o->topic) {
		cli_usage_error("cluster", "--partition needs --topic");
		return CLI_EXIT_USAGE;
	}
	int alter = strcmp(o->sub, "alter-config") == 0;
	if (!alter && (o->set_count || o->delete_count || o->validate_only)) {
		cli_usage_error("cluster", "-c, --delete and --validate-only belong to alter-config");
		return CLI_EXIT_USAGE;
	}
	if (alter && o->set_count + o->delete_count == 0) {
		cli_usage_error("cluster", "alter-config needs -c KEY=VALUE or --delete KEY");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* Opens an admin client for the global options.  Returns 0 or
 * CLI_EXIT_ERROR after printing why. */
static int admin_open(const struct cli_global *g, const char *what, runnel_admin **a)
{
	struct runnel_client_config cfg;
	runnel_client_config_init(&cfg);
	cfg.bootstrap = g->bootstrap;
	int rc = runnel_admin_new(&cfg, a);
	if (rc != 0) {
		cli_error(what, rc,
			  rc == RN_E_INVAL ? "bad bootstrap list (want HOST:PORT[,HOST:PORT...])" : NULL);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static int cmd_elect(const struct cli_global *g, const struct cluster_opts *o)
{
	runnel_admin *a = NULL;
	struct runnel_election_result *rs = NULL;
	struct cli_elect_counts k;
	size_t n = 0;
	if (admin_open(g, "cluster elect-leaders", &a) != 0)
		return CLI_EXIT_ERROR;
	int rc = runnel_admin_elect_leaders(a, o->topic, o->partition, CLI_ELECT_TIMEOUT_MS, &rs, &n);
	if (rc != 0) {
		cli_error("cluster elect-leaders", rc, runnel_admin_errmsg(a));
		runnel_admin_free(a);
		return CLI_EXIT_ERROR;
	}
	if (o->json)
		cli_elect_print_json(stdout, rs, n);
	else
		cli_elect_print_text(stdout, rs, n);
	cli_elect_count(rs, n, &k);
	runnel_election_results_free(rs, n);
	runnel_admin_free(a);
	return k.failed ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

static int cmd_alter_config(const struct cli_global *g, const struct cluster_opts *o)
{
	runnel_admin *a = NULL;
	struct runnel_config_change ch[2 * CLI_MAX_CONFIGS];
	size_t n = cli_config_changes(o->sets, o->set_count, o->deletes, o->delete_count, ch);
	if (admin_open(g, "cluster alter-config", &a) != 0)
		return CLI_EXIT_ERROR;
	int rc = runnel_admin_alter_configs(a, RUNNEL_CONFIG_CLUSTER, NULL, ch, n, o->validate_only,
					    CLI_ADMIN_TIMEOUT_MS);
	if (rc != 0) {
		cli_error("cluster alter-config", rc, runnel_admin_errmsg(a));
		runnel_admin_free(a);
		return CLI_EXIT_ERROR;
	}
	cli_config_changes_print(stdout, "cluster defaults", ch, n, o->validate_only);
	runnel_admin_free(a);
	return CLI_EXIT_OK;
}

static int cmd_describe_config(const struct cli_global *g, const struct cluster_opts *o)
{
	runnel_admin *a = NULL;
	struct runnel_config_entry *e = NULL;
	size_t n = 0;
	if (admin_open(g, "cluster describe-config", &a) != 0)
		return CLI_EXIT_ERROR;
	int rc = runnel_admin_describe_configs(a, RUNNEL_CONFIG_CLUSTER, NULL, &e, &n);
	if (rc != 0) {
		cli_error("cluster describe-config", rc, runnel_admin_errmsg(a));
		runnel_admin_free(a);
		return CLI_EXIT_ERROR;
	}
	if (o->json) {
		cli_config_print_json(stdout, e, n);
	} else {
		printf("Cluster-wide topic config defaults:\n");
		cli_config_print_text(stdout, e, n);
	}
	runnel_config_entries_free(e, n);
	runnel_admin_free(a);
	return CLI_EXIT_OK;
}

static int cmd_status(const struct cli_global *g, int json)
{
	runnel_admin *a = NULL;
	struct runnel_cluster_status *st = NULL;
	if (admin_open(g, "cluster status", &a) != 0)
		return CLI_EXIT_ERROR;
	int rc = runnel_admin_describe_cluster(a, &st);
	if (rc != 0) {
		cli_error("cluster status", rc, runnel_admin_errmsg(a));
		runnel_admin_free(a);
		return CLI_EXIT_ERROR;
	}
	/* About 64 KiB: on the heap rather than the stack. */
	struct cli_status_verdict *v = malloc(sizeof(*v));
	if (!v) {
		cli_error("cluster status", RN_E_NOMEM, NULL);
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	cli_status_assess(st, v);
	if (json)
		cli_status_print_json(stdout, st, v);
	else
		cli_status_print_text(stdout, st, v);
	rc = v->healthy ? CLI_EXIT_OK : CLI_EXIT_UNHEALTHY;
	free(v);
out:
	runnel_cluster_status_free(st);
	runnel_admin_free(a);
	return rc;
}

int cli_cluster_main(const struct cli_global *g, int argc, char **argv)
{
	struct cluster_opts o = {.partition = -1};
	if (argc < 2) {
		fputs(cluster_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(cluster_usage, stdout);
		return CLI_EXIT_OK;
	}
	static const char *const subs[] = {"status", "elect-leaders", "describe-config",
					   "alter-config"};
	size_t sub = 0;
	while (sub < sizeof(subs) / sizeof(subs[0]) && strcmp(argv[1], subs[sub]) != 0)
		sub++;
	if (sub == sizeof(subs) / sizeof(subs[0])) {
		cli_usage_error("cluster", "unknown subcommand \"%s\"", argv[1]);
		return CLI_EXIT_USAGE;
	}
	o.sub = argv[1];
	int rc = parse_cluster_opts(argc, argv, &o);
	if (rc == 0) {
		switch (sub) {
		case 0:
			rc = cmd_status(g, o.json);
			break;
		case 1:
			rc = cmd_elect(g, &o);
			break;
		case 2:
			rc = cmd_describe_config(g, &o);
			break;
		default:
			rc = cmd_alter_config(g, &o);
			break;
		}
	} else if (rc == -1) {
		rc = CLI_EXIT_OK;
	}
	for (size_t i = 0; i < o.set_count; i++)
		free(o.set_keys[i]);
	fflush(stdout);
	return rc;
}
