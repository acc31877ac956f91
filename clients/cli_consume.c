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
	"                      [-g GROUP] [-X KEY=VALUE]...\n"
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
	"  -g GROUP      read as a member of consumer group GROUP: the group shares out the\n"
	"                partitions, and the consumer starts at the group's committed offsets\n"
	"                and commits what it printed (every auto.commit.interval.ms, and on exit);\n"
	"                -o beginning|end then only says where partitions without a commit\n"
	"                start (auto.offset.reset; default end)\n"
	"  -X KEY=VALUE  a consumer setting by its Kafka name (repeatable), e.g.\n"
	"                session.timeout.ms, heartbeat.interval.ms, max.poll.interval.ms,\n"
	"                enable.auto.commit, auto.commit.interval.ms, auto.offset.reset,\n"
	"                partition.assignment.strategy (range,roundrobin,sticky),\n"
	"                fetch.max.wait.ms, client.id; with enable.auto.commit=false the\n"
	"                consumer commits after printing each batch\n"
	"Without -e or -n it runs until interrupted (SIGINT, SIGTERM), then exits 0 (a group\n"
	"member commits and leaves its group first).\n";

#define CLI_DEFAULT_FORMAT "%s\\n"

struct consume_opts {
	const char *topic;
	struct runnel_position start;
	int32_t partition; /* -1: all */
	int64_t count;     /* 0: no limit */
	int exit_at_end;
	const char *format;
	const char *rack; /* NULL: none */
	const char *group; /* NULL: no group */
	int has_start; /* -o was given */
	const char *xs[CLI_MAX_CONFIGS]; /* -X arguments, KEY=VALUE */
	size_t x_count;
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

/* With a group, the group chooses partitions and positions: -p makes no
 * sense, and -o can only say where partitions without a commit start. */
static int check_group_opts(const struct consume_opts *o)
{
	if (!o->group)
		return 0;
	if (o->partition >= 0) {
		cli_usage_error("consume", "-p cannot be used with -g: the group assigns partitions");
		return CLI_EXIT_USAGE;
	}
	if (o->has_start && o->start.kind != RUNNEL_POS_BEGINNING && o->start.kind != RUNNEL_POS_END) {
		cli_usage_error("consume", "with -g, -o is beginning or end (where partitions without a "
					   "committed offset start)");
		return CLI_EXIT_USAGE;
	}
	return 0;
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
		{"group", required_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	int64_t v;
	size_t bad;
	while ((ch = getopt_long(argc, argv, "o:p:n:ef:g:X:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (cli_parse_offset(optarg, &o->start) != 0) {
				cli_usage_error("consume",
						"-o is beginning, end, OFFSET, -N or @TIMESTAMP_MS, not \"%s\"",
						optarg);
				return CLI_EXIT_USAGE;
			}
			o->has_start = 1;
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
		case 'g':
			if (!*optarg || strlen(optarg) > RUNNEL_MAX_GROUP_ID_LEN) {
				cli_usage_error("consume", "-g wants a group id of 1 to %d bytes",
						RUNNEL_MAX_GROUP_ID_LEN);
				return CLI_EXIT_USAGE;
			}
			o->group = optarg;
			break;
		case 'X':
			if (o->x_count >= CLI_MAX_CONFIGS) {
				cli_usage_error("consume", "at most %d -X options", CLI_MAX_CONFIGS);
				return CLI_EXIT_USAGE;
			}
			o->xs[o->x_count++] = optarg;
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
	return check_group_opts(o);
}

/* Applies the -X settings.  keys holds the copied key strings (freed by
 * the caller); the values point into argv.  Returns 0 or CLI_EXIT_USAGE. */
static int apply_settings(const struct consume_opts *o, struct runnel_consumer_config *cfg,
			  char **keys)
{
	for (size_t i = 0; i < o->x_count; i++) {
		size_t klen;
		const char *value;
		if (cli_split_kv(o->xs[i], &klen, &value) != 0) {
			cli_usage_error("consume", "-X wants KEY=VALUE, not \"%s\"", o->xs[i]);
			return CLI_EXIT_USAGE;
		}
		if (!(keys[i] = strndup(o->xs[i], klen)))
			return CLI_EXIT_ERROR;
		int rc = runnel_consumer_config_set(cfg, keys[i], value);
		if (rc == RN_E_NOT_FOUND) {
			cli_usage_error("consume", "unknown consumer setting \"%s\"", keys[i]);
			return CLI_EXIT_USAGE;
		}
		if (rc != 0) {
			cli_usage_error("consume", "bad value \"%s\" for %s", value, keys[i]);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

/* Assigns the partitions by hand (no group) or subscribes (a group). */
static int consumer_start(runnel_consumer *c, const struct consume_opts *o, int grouped)
{
	int rc;
	if (grouped) {
		rc = runnel_consumer_subscribe(c, &o->topic, 1);
	} else {
		int32_t part = o->partition;
		rc = runnel_consumer_assign(c, o->topic, part >= 0 ? &part : NULL, part >= 0 ? 1 : 0);
		if (rc == 0)
			rc = runnel_consumer_seek(c, o->topic, -1, o->start);
	}
	if (rc != 0) {
		cli_error("consume", rc, runnel_consumer_errmsg(c));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

struct consume_run {
	runnel_consumer *c;
	int grouped;
	int manual_commit; /* a group member with enable.auto.commit=false */
};

static int consumer_open(const struct cli_global *g, const struct consume_opts *o,
			 struct consume_run *run)
{
	struct runnel_consumer_config cfg;
	char *keys[CLI_MAX_CONFIGS] = {0};
	runnel_consumer_config_init(&cfg);
	cfg.client.bootstrap = g->bootstrap;
	cfg.client_rack = o->rack;
	cfg.group_id = o->group;
	if (o->group) {
		/* Kafka's default for a group: new partitions start at the end,
		 * unless -o beginning says otherwise. */
		cfg.auto_offset_reset = o->has_start && o->start.kind == RUNNEL_POS_BEGINNING
						? RUNNEL_RESET_EARLIEST
						: RUNNEL_RESET_LATEST;
	} else {
		/* A position outside the log (an old offset after retention)
		 * falls back to the oldest record rather than failing. */
		cfg.auto_offset_reset = RUNNEL_RESET_EARLIEST;
	}
	int rc = apply_settings(o, &cfg, keys);
	run->grouped = cfg.group_id && *cfg.group_id;
	run->manual_commit = run->grouped && !cfg.enable_auto_commit;
	if (rc == 0 && run->grouped && o->partition >= 0) {
		cli_usage_error("consume", "-p cannot be used with a group: the group assigns partitions");
		rc = CLI_EXIT_USAGE;
	}
	if (rc == 0 && (rc = runnel_consumer_new(&cfg, &run->c)) != 0) {
		cli_error("consume", rc, rc == RN_E_INVAL ? "bad bootstrap list or consumer setting" : NULL);
		rc = CLI_EXIT_ERROR;
	}
	for (size_t i = 0; i < CLI_MAX_CONFIGS; i++)
		free(keys[i]);
	if (rc != 0)
		return rc;
	return consumer_start(run->c, o, run->grouped);
}

/* After -n stopped in the middle of a batch: moves each partition back to
 * its first record that was not printed, so that what is committed is
 * exactly what was printed. */
static void rewind_unprinted(runnel_consumer *c, const struct runnel_record *recs, size_t from,
			     size_t n)
{
	for (size_t i = from; i < n; i++) {
		int earlier = 0;
		for (size_t j = from; j < i && !earlier; j++)
			earlier = recs[j].partition == recs[i].partition &&
				  strcmp(recs[j].topic, recs[i].topic) == 0;
		if (!earlier)
			runnel_consumer_seek(c, recs[i].topic, recs[i].partition,
					     (struct runnel_position){RUNNEL_POS_OFFSET, recs[i].offset});
	}
}

/* Prints recs[0..n) until the count is reached; returns how many were
 * printed. */
static size_t print_batch(const struct consume_opts *o, const struct runnel_record *recs, size_t n,
			  int64_t *printed)
{
	size_t i = 0;
	while (i < n && (o->count == 0 || *printed < o->count)) {
		cli_format_render(o->format, &recs[i++], stdout);
		(*printed)++;
	}
	fflush(stdout);
	return i;
}

/* Polls and prints until the end (-e), the count (-n), a signal or an
 * error.  Returns the exit code. */
static int consume_loop(const struct consume_run *run, const struct consume_opts *o)
{
	struct runnel_record recs[CLI_CONSUME_BATCH];
	runnel_consumer *c = run->c;
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
		size_t done = print_batch(o, recs, n, &printed);
		if (done < n)
			rewind_unprinted(c, recs, done, n);
		/* Commit after processing: what was printed is what the
		 * positions now say. */
		if (run->manual_commit && n > 0)
			runnel_consumer_commit(c, NULL, 0, CLI_GROUP_CLOSE_TIMEOUT_MS);
		if (o->count > 0 && printed >= o->count)
			break;
	}
	return CLI_EXIT_OK;
}

/* A group member's goodbye: the final commit of what was printed, then
 * LeaveGroup.  A failed commit is reported but does not change the exit
 * status: the records will be read again, never lost. */
static void consumer_leave(const struct consume_run *run)
{
	if (!run->grouped)
		return;
	int rc = runnel_consumer_commit(run->c, NULL, 0, CLI_GROUP_CLOSE_TIMEOUT_MS);
	if (rc != 0 && rc != RN_E_REBALANCE_IN_PROGRESS)
		cli_error("consume: final commit", rc, runnel_consumer_errmsg(run->c));
	runnel_consumer_close(run->c, CLI_GROUP_CLOSE_TIMEOUT_MS);
}

int cli_consume_main(const struct cli_global *g, int argc, char **argv)
{
	struct consume_opts o = {
		.start = {RUNNEL_POS_END, 0},
		.partition = -1,
		.format = CLI_DEFAULT_FORMAT,
	};
	struct consume_run run = {0};
	int rc = parse_consume_opts(argc, argv, &o);
	if (rc != 0)
		return rc == -1 ? CLI_EXIT_OK : rc;
	install_signals();
	rc = consumer_open(g, &o, &run);
	if (rc == 0)
		rc = consume_loop(&run, &o);
	fflush(stdout);
	if (run.c)
		consumer_leave(&run);
	runnel_consumer_free(run.c);
	return rc;
}
