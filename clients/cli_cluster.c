/* cli_cluster.c: runnel cluster status: the quorum, the brokers and a health verdict. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "common/errors.h"

static const char cluster_usage[] =
	"usage: runnel cluster status [--format text|json]\n"
	"\n"
	"  --format text|json  output format (default text)\n"
	"\n"
	"exit status: 0 healthy, 3 reachable but unhealthy, 1 no node answered or\n"
	"another error, 2 usage mistake\n";

/* Parses "status [--format F]".  Returns 0 with *json set, CLI_EXIT_USAGE,
 * or -1 after printing help. */
static int parse_status_opts(int argc, char **argv, int *json)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	*json = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'F':
			if (strcmp(optarg, "json") == 0) {
				*json = 1;
			} else if (strcmp(optarg, "text") != 0) {
				cli_usage_error("cluster", "--format is text or json, not \"%s\"", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(cluster_usage, stdout);
			return -1;
		default:
			fputs(cluster_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	/* The only positional word is the subcommand itself. */
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "status") != 0) {
			cli_usage_error("cluster", "unexpected argument \"%s\"", argv[i]);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

static int cmd_status(const struct cli_global *g, int json)
{
	struct runnel_client_config cfg;
	runnel_admin *a = NULL;
	struct runnel_cluster_status *st = NULL;
	runnel_client_config_init(&cfg);
	cfg.bootstrap = g->bootstrap;
	int rc = runnel_admin_new(&cfg, &a);
	if (rc != 0) {
		cli_error("cluster status", rc,
			  rc == RN_E_INVAL ? "bad bootstrap list (want HOST:PORT[,HOST:PORT...])" : NULL);
		return CLI_EXIT_ERROR;
	}
	rc = runnel_admin_describe_cluster(a, &st);
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
	int json = 0;
	if (argc < 2) {
		fputs(cluster_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(cluster_usage, stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "status") != 0) {
		cli_usage_error("cluster", "unknown subcommand \"%s\"", argv[1]);
		return CLI_EXIT_USAGE;
	}
	int rc = parse_status_opts(argc, argv, &json);
	if (rc == -1)
		return CLI_EXIT_OK;
	if (rc != 0)
		return rc;
	rc = cmd_status(g, json);
	fflush(stdout);
	return rc;
}
