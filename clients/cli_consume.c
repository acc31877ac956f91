/* cli_consume.c: runnel consume: print records of a topic. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "common/errors.h"

static const char consume_usage[] =
	"usage: runnel consume TOPIC [-o beginning|end|OFFSET|-N|@TIMESTAMP_MS] [-p PARTITION]\n"
	"                      [-n COUNT] [-e] [-f FORMAT] [--rack RACK]\n"
	"\n"
	"  -o POSITION   where to start in each partition (default end: new records only):\n"
	"                beginning, end, an absolute OFFSET, -N (N records before the end),\n"
	"                @TIMESTAMP_MS (the first record at or after that time)\n"
	"  -p PARTITION  read only this partition\n"
	"  -n COUNT      exit after COUNT records\n"
	"  -e            exit once the end of every partition is reached\n"
	"  -f FORMAT     output format (default %s\\n): %t topic, %p partition, %o offset,\n"
	"                %k key, %s value, %T timestamp (ms), %h headers (k=v,...),\n"
	"                \\n newline, \\t tab, \\r, \\\\, %% percent\n"
	"  --rack RACK   the consumer's rack (client.rack): read partitions whose leader is\n"
	"                in another rack from an in-sync replica in RACK when there is one\n"
	"Without -e or -n it runs until interrupted (SIGINT, SIGTERM), then exits 0.\n";

#define CLI_DEFAULT_FORMAT "%s\\n"

struct consume_opts {
	const char *topic;
	struct runnel_position start;
	int32_t partition; /* -1: all */
	int64_t count;     /* 0: no limit */
	int exit_at_end;
	const char *format;
	const char *rack; /* NULL: none */
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* Without SA_RESTART, a signal interrupts poll() so that the loop sees the
 * stop flag at once. */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Returns 0, CLI_EXIT_USAGE, or -1 after printing help. */
static int parse_consume_opts(int argc, char **argv, struct consume_opts *o)
{
	static const struct option opts[] = {
		{"offset", required_argument, NULL, 'o'},
		{"partition", required_argument, NULL, 'p'},
		{"count", required_argument, NULL, 'n'},
		{"exit", no_argument, NULL, 'e'},
		{"format", required_argument, NULL, 'f'},
		{"rack", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	int64_t v;
	size_t bad;
	while ((ch = getopt_long(argc, argv, "o:p:n:ef:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (cli_parse_offset(optarg, &o->start) != 0) {
				cli_usage_error("consume",
						"-o is beginning, end, OFFSET, -N or @TIMESTAMP_MS, not \"%s\"",
						optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'p':
			if (cli_parse_int64(optarg, 0, INT32_MAX, &v) != 0) {
				cli_usage_error("consume", "-p wants a partition number, not \"%s\"", optarg);
				return CLI_EXIT_USAGE;
			}
			o->partition = (int32_t)v;
			break;
		case 'n':
			if (cli_parse_int64(optarg, 1, INT64_MAX, &o->count) != 0) {
				cli_usage_error("consume", "-n wants a positive count, not \"%s\"", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'e':
			o->exit_at_end = 1;
			break;
		case 'f':
			if (cli_format_check(optarg, &bad) != 0) {
				cli_usage_error("consume", "unknown token at position %zu of format \"%s\"",
						bad, optarg);
				return CLI_EXIT_USAGE;
			}
			o->format = optarg;
			break;
		case 'R':
			if (!*optarg || strlen(optarg) > RUNNEL_MAX_RACK_LEN) {
				cli_usage_error("consume", "--rack wants a name of 1 to %d bytes",
						RUNNEL_MAX_RACK_LEN);
				return CLI_EXIT_USAGE;
			}
			o->rack = optarg;
			break;
		case 'h':
			fputs(consume_usage, stdout);
			return -1;
		default:
			fputs(consume_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_usage_error("consume", optind >= argc ? "needs a topic" : "takes one topic");
		return CLI_EXIT_USAGE;
	}
	o->topic = argv[optind];
	return 0;
}

static int consumer_open(const struct cli_global *g, const struct consume_opts *o,
			 runnel_consumer **out)
{
	struct runnel_consumer_config cfg;
	runnel_consumer_config_init(&cfg);
	cfg.client.bootstrap = g->bootstrap;
	/* A position outside the log (an old offset after retention) falls
	 * back to the oldest record rather than failing. */
	cfg.auto_offset_reset = RUNNEL_RESET_EARLIEST;
	cfg.client_rack = o->rack;
	int rc = runnel_consumer_new(&cfg, out);
	if (rc != 0) {
		cli_error("consume", rc, rc == RN_E_INVAL ? "bad bootstrap list" : NULL);
		return CLI_EXIT_ERROR;
	}
	int32_t part = o->partition;
	rc = runnel_consumer_assign(*out, o->topic, part >= 0 ? &part : NULL, part >= 0 ? 1 : 0);
	if (rc == 0)
		rc = runnel_consumer_seek(*out, o->topic, -1, o->start);
	if (rc != 0) {
		cli_error("consume", rc, runnel_consumer_errmsg(*out));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* Polls and prints until the end (-e), the count (-n), a signal or an
 * error.  Returns the exit code. */
static int consume_loop(runnel_consumer *c, const struct consume_opts *o)
{
	struct runnel_record recs[CLI_CONSUME_BATCH];
	int64_t printed = 0;
	while (!g_stop) {
		if (o->exit_at_end && runnel_consumer_at_end(c))
			break;
		size_t n = 0;
		int rc = runnel_consumer_poll(c, CLI_CONSUME_POLL_MS, recs, CLI_CONSUME_BATCH, &n);
		if (rc != 0) {
			fflush(stdout);
			cli_error("consume", rc, runnel_consumer_errmsg(c));
			return CLI_EXIT_ERROR;
		}
		for (size_t i = 0; i < n; i++) {
			cli_format_render(o->format, &recs[i], stdout);
			if (o->count > 0 && ++printed >= o->count)
				break;
		}
		fflush(stdout);
		if (o->count > 0 && printed >= o->count)
			break;
	}
	return CLI_EXIT_OK;
}

int cli_consume_main(const struct cli_global *g, int argc, char **argv)
{
	struct consume_opts o = {
		.start = {RUNNEL_POS_END, 0},
		.partition = -1,
		.format = CLI_DEFAULT_FORMAT,
	};
	runnel_consumer *c = NULL;
	int rc = parse_consume_opts(argc, argv, &o);
	if (rc != 0)
		return rc == -1 ? CLI_EXIT_OK : rc;
	install_signals();
	rc = consumer_open(g, &o, &c);
	if (rc == 0)
		rc = consume_loop(c, &o);
	fflush(stdout);
	runnel_consumer_free(c);
	return rc;
}
