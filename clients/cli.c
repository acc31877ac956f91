/* cli.c: the runnel command-line tool: global options and command dispatch. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "clients/cli_perf.h"

static const char usage_text[] =
	"usage: runnel [-b HOST:PORT[,HOST:PORT...]] COMMAND ...\n"
	"\n"
	"commands:\n"
	"  topic create NAME [-p PARTITIONS] [-r REPLICAS] [-c KEY=VALUE]...\n"
	"  topic list [--all] [--format text|json]\n"
	"  topic describe NAME [--format text|json]\n"
	"  topic alter-config NAME [-c KEY=VALUE]... [--delete KEY]... [--validate-only]\n"
	"  topic delete NAME\n"
	"  produce TOPIC [-K SEP] [-H KEY=VALUE]... [-p PARTITION] [--acks 0|1|all]\n"
	"                [--print-acks] [-Z]\n"
	"  consume TOPIC [-o beginning|end|OFFSET|-N|@TIMESTAMP_MS] [-p PARTITION]\n"
	"                [-n COUNT] [-e] [-f FORMAT] [--rack RACK] [-g GROUP] [-X KEY=VALUE]...\n"
	"  group list [--format text|json]\n"
	"  group describe GROUP [--format text|json]\n"
	"  group seek GROUP --to beginning|end|@TIMESTAMP_MS|OFFSET [--topic TOPIC] [--execute]\n"
	"  group delete GROUP\n"
	"  cluster status [--format text|json]\n"
	"  cluster elect-leaders [--topic NAME [--partition N]] [--format text|json]\n"
	"  cluster describe-config [--format text|json]\n"
	"  cluster alter-config [-c KEY=VALUE]... [--delete KEY]... [--validate-only]\n"
	"  perf produce TOPIC --records N --record-size BYTES [--acks 0|1|all]\n"
	"                [--batch-size BYTES] [--linger-ms MS] [--throughput R] [-X KEY=VALUE]...\n"
	"  perf consume TOPIC --records N [--timeout-ms MS]\n"
	"  perf e2e TOPIC --records N --throughput R [--record-size BYTES] [--acks 0|1|all]\n"
	"\n"
	"options:\n"
	"  -b, --bootstrap LIST  nodes to ask first (default: $" CLI_BOOTSTRAP_ENV
	", else " RUNNEL_DEFAULT_BOOTSTRAP ")\n"
	"  -h, --help            this text; COMMAND --help describes a command\n"
	"\n"
	"exit status: 0 success, 1 error (elect-leaders: some partition failed),\n"
	"             2 usage mistake,\n"
	"             3 cluster status: the cluster answered but is unhealthy\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"bootstrap", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_global g = {.bootstrap = getenv(CLI_BOOTSTRAP_ENV)};
	int ch;
	if (!g.bootstrap || !*g.bootstrap)
		g.bootstrap = RUNNEL_DEFAULT_BOOTSTRAP;
	/* "+" stops at the command name: its options are the command's. */
	while ((ch = getopt_long(argc, argv, "+b:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			g.bootstrap = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(usage_text, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return CLI_EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	/* Each command parses its own options from a fresh getopt state. */
	optind = 0;
	if (strcmp(cmd, "topic") == 0)
		return cli_topic_main(&g, sub_argc, sub_argv);
	if (strcmp(cmd, "produce") == 0)
		return cli_produce_main(&g, sub_argc, sub_argv);
	if (strcmp(cmd, "consume") == 0)
		return cli_consume_main(&g, sub_argc, sub_argv);
	if (strcmp(cmd, "group") == 0)
		return cli_group_main(&g, sub_argc, sub_argv);
	if (strcmp(cmd, "cluster") == 0)
		return cli_cluster_main(&g, sub_argc, sub_argv);
	if (strcmp(cmd, "perf") == 0)
		return cli_perf_main(&g, sub_argc, sub_argv);
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "runnel: unknown command \"%s\"\n", cmd);
	fputs(usage_text, stderr);
	return CLI_EXIT_USAGE;
}
