/* cli_group.c: runnel group list|describe|seek|delete. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "common/errors.h"

static const char group_usage[] =
	"usage: runnel group list [--format text|json]\n"
	"       runnel group describe GROUP [--format text|json]\n"
	"       runnel group seek GROUP --to beginning|end|@TIMESTAMP_MS|OFFSET [--topic TOPIC]\n"
	"                         [--execute]\n"
	"       runnel group delete GROUP\n"
	"\n"
	"  --format text|json  output format of list and describe (default text)\n"
	"  --to POSITION       seek: where the group's committed offsets move to\n"
	"  --topic TOPIC       seek: only this topic (default: every topic the group\n"
	"                      has committed offsets for)\n"
	"  --execute           seek: commit the new offsets (without it, only show them)\n"
	"seek and delete need a group without members: stop its consumers first.\n";

struct group_opts {
	const char *sub;
	const char *group;
	int json;
	int has_target;
	struct cli_seek_target target;
	const char *topic;
	int execute;
};

/* Returns 0, CLI_EXIT_USAGE, or -1 after printing help. */
static int parse_group_opts(int argc, char **argv, struct group_opts *o)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'F'}, {"to", required_argument, NULL, 'T'},
		{"topic", required_argument, NULL, 't'},  {"execute", no_argument, NULL, 'x'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'F':
			if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
				cli_usage_error("group", "--format is text or json, not \"%s\"", optarg);
				return CLI_EXIT_USAGE;
			}
			o->json = strcmp(optarg, "json") == 0;
			break;
		case 'T':
			if (cli_parse_seek_target(optarg, &o->target) != 0) {
				cli_usage_error("group", "--to is beginning, end, @TIMESTAMP_MS or OFFSET, not \"%s\"",
						optarg);
				return CLI_EXIT_USAGE;
			}
			o->has_target = 1;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'x':
			o->execute = 1;
			break;
		case 'h':
			fputs(group_usage, stdout);
			return -1;
		default:
			fputs(group_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	int pos = optind;
	if (pos < argc && argv[pos] == o->sub)
		pos++;
	if (pos < argc)
		o->group = argv[pos++];
	if (pos < argc) {
		cli_usage_error("group", "unexpected argument \"%s\"", argv[pos]);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int cmd_list(runnel_admin *a, const struct group_opts *o)
{
	struct runnel_group_listing *l = NULL;
	size_t n = 0;
	int rc = runnel_admin_list_groups(a, &l, &n);
	if (rc != 0) {
		cli_error("group list", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	if (o->json)
		cli_group_list_print_json(stdout, l, n);
	else
		cli_group_list_print_text(stdout, l, n);
	runnel_group_listings_free(l, n);
	return CLI_EXIT_OK;
}

static int cmd_describe(runnel_admin *a, const struct group_opts *o)
{
	struct runnel_group_info *g = NULL;
	int rc = runnel_admin_describe_group(a, o->group, &g);
	if (rc != 0) {
		cli_error("group describe", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	if (o->json)
		cli_group_describe_print_json(stdout, g);
	else
		cli_group_describe_print_text(stdout, g);
	runnel_group_info_free(g);
	return CLI_EXIT_OK;
}

static int cmd_delete(runnel_admin *a, const struct group_opts *o)
{
	int rc = runnel_admin_delete_group(a, o->group);
	if (rc != 0) {
		cli_error("group delete", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	printf("deleted group %s\n", o->group);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------ seek */

/* One row of the seek plan. */
struct seek_row {
	const char *topic;
	int32_t partition;
	int64_t current; /* -1: no commit */
	int64_t next;
};

struct seek_plan {
	struct seek_row *rows;
	size_t n;
};

static int64_t committed_of(const struct runnel_group_info *g, const char *topic, int32_t partition)
{
	for (size_t i = 0; g && i < g->partition_count; i++)
		if (g->partitions[i].partition == partition && strcmp(g->partitions[i].topic, topic) == 0)
			return g->partitions[i].committed_offset;
	return -1;
}

/* Adds a row for every partition of topic with its new offset. */
static int plan_topic(runnel_admin *a, const struct group_opts *o, const struct runnel_group_info *g,
		      const char *topic, struct seek_plan *plan)
{
	int64_t *starts = NULL, *ends = NULL, *stamps = NULL;
	int32_t n = 0, n2 = 0, n3 = 0;
	int rc = runnel_admin_list_offsets(a, topic, RUNNEL_OFFSET_EARLIEST, &starts, &n);
	if (rc == 0)
		rc = runnel_admin_list_offsets(a, topic, RUNNEL_OFFSET_LATEST, &ends, &n2);
	if (rc == 0 && o->target.kind == CLI_SEEK_TIMESTAMP)
		rc = runnel_admin_list_offsets(a, topic, o->target.value, &stamps, &n3);
	struct seek_row *rows = rc == 0 ? realloc(plan->rows, (plan->n + (size_t)n + 1) * sizeof(*rows)) : NULL;
	if (rc == 0 && !rows)
		rc = RN_E_NOMEM;
	for (int32_t p = 0; rc == 0 && p < n && p < n2; p++) {
		int64_t ts = stamps && p < n3 ? stamps[p] : -1;
		rows[plan->n++] = (struct seek_row){topic, p, committed_of(g, topic, p),
						    cli_seek_new_offset(&o->target, starts[p], ends[p], ts)};
	}
	if (rows)
		plan->rows = rows;
	free(starts);
	free(ends);
	free(stamps);
	return rc;
}

static void plan_print(const struct seek_plan *plan)
{
	int w = (int)strlen("TOPIC");
	for (size_t i = 0; i < plan->n; i++)
		if ((int)strlen(plan->rows[i].topic) > w)
			w = (int)strlen(plan->rows[i].topic);
	printf("%-*s  PARTITION  CURRENT  NEW\n", w, "TOPIC");
	for (size_t i = 0; i < plan->n; i++) {
		char cur[32] = "-";
		if (plan->rows[i].current >= 0)
			snprintf(cur, sizeof(cur), "%lld", (long long)plan->rows[i].current);
		printf("%-*s  %-9d  %-7s  %lld\n", w, plan->rows[i].topic, plan->rows[i].partition, cur,
		       (long long)plan->rows[i].next);
	}
}

static int plan_commit(runnel_admin *a, const char *group, const struct seek_plan *plan)
{
	struct runnel_topic_partition *tps = malloc((plan->n ? plan->n : 1) * sizeof(*tps));
	if (!tps)
		return RN_E_NOMEM;
	for (size_t i = 0; i < plan->n; i++)
		tps[i] = (struct runnel_topic_partition){plan->rows[i].topic, plan->rows[i].partition,
							 plan->rows[i].next};
	int rc = runnel_admin_commit_group_offsets(a, group, tps, plan->n);
	free(tps);
	return rc;
}

/* The group as it is now; a group that does not exist yet is described
 * as none (NULL) so that offsets can be set before its first member. */
static int seek_group_state(runnel_admin *a, const struct group_opts *o, struct runnel_group_info **g)
{
	int rc = runnel_admin_describe_group(a, o->group, g);
	if (rc == RN_E_GROUP_ID_NOT_FOUND) {
		*g = NULL;
		return 0;
	}
	if (rc != 0) {
		cli_error("group seek", rc, runnel_admin_errmsg(a));
		return CLI_EXIT_ERROR;
	}
	if ((*g)->member_count > 0) {
		fprintf(stderr,
			"runnel: group seek: group %s has %zu active member(s) (state %s); offsets can "
			"only be moved while it has none: stop its consumers first\n",
			o->group, (*g)->member_count, (*g)->state);
		runnel_group_info_free(*g);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static int cmd_seek(runnel_admin *a, const struct group_opts *o)
{
	struct runnel_group_info *g = NULL;
	struct seek_plan plan = {0};
	int rc = seek_group_state(a, o, &g);
	if (rc != 0)
		return rc;
	const char *last = NULL;
	for (size_t i = 0; g && !o->topic && i < g->partition_count && rc == 0; i++) {
		const struct runnel_group_partition_info *p = &g->partitions[i];
		/* Partitions are sorted by topic: each topic is planned once. */
		if (p->committed_offset < 0 || (last && strcmp(last, p->topic) == 0))
			continue;
		last = p->topic;
		rc = plan_topic(a, o, g, p->topic, &plan);
	}
	if (o->topic)
		rc = plan_topic(a, o, g, o->topic, &plan);
	if (rc != 0) {
		cli_error("group seek", rc, runnel_admin_errmsg(a));
		rc = CLI_EXIT_ERROR;
	} else if (plan.n == 0) {
		fprintf(stderr, "runnel: group seek: group %s has no committed offsets; name a topic "
				"with --topic\n", o->group);
		rc = CLI_EXIT_ERROR;
	} else {
		plan_print(&plan);
		if (!o->execute) {
			printf("dry run: nothing committed (add --execute to commit these offsets)\n");
		} else if ((rc = plan_commit(a, o->group, &plan)) != 0) {
			cli_error("group seek", rc, runnel_admin_errmsg(a));
			rc = CLI_EXIT_ERROR;
		} else {
			printf("committed %zu offsets for group %s\n", plan.n, o->group);
		}
	}
	free(plan.rows);
	runnel_group_info_free(g);
	return rc;
}

static int run_sub(const struct cli_global *gl, const struct group_opts *o)
{
	static const struct {
		const char *name;
		int needs_group;
		int (*fn)(runnel_admin *, const struct group_opts *);
	} subs[] = {
		{"list", 0, cmd_list},
		{"describe", 1, cmd_describe},
		{"seek", 1, cmd_seek},
		{"delete", 1, cmd_delete},
	};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(o->sub, subs[i].name) != 0)
			continue;
		if (subs[i].needs_group != (o->group != NULL)) {
			cli_usage_error("group", subs[i].needs_group ? "%s needs a group id" : "%s takes no group id",
					o->sub);
			return CLI_EXIT_USAGE;
		}
		if (subs[i].fn == cmd_seek && !o->has_target) {
			cli_usage_error("group", "seek needs --to");
			return CLI_EXIT_USAGE;
		}
		struct runnel_client_config cfg;
		runnel_admin *a = NULL;
		runnel_client_config_init(&cfg);
		cfg.bootstrap = gl->bootstrap;
		int rc = runnel_admin_new(&cfg, &a);
		if (rc != 0) {
			cli_error("group", rc, "bad bootstrap list (want HOST:PORT[,HOST:PORT...])");
			return CLI_EXIT_ERROR;
		}
		rc = subs[i].fn(a, o);
		runnel_admin_free(a);
		return rc;
	}
	cli_usage_error("group", "unknown subcommand \"%s\"", o->sub);
	return CLI_EXIT_USAGE;
}

int cli_group_main(const struct cli_global *g, int argc, char **argv)
{
	struct group_opts o = {0};
	if (argc < 2) {
		fputs(group_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(group_usage, stdout);
		return CLI_EXIT_OK;
	}
	o.sub = argv[1];
	int rc = parse_group_opts(argc, argv, &o);
	if (rc == -1)
		rc = CLI_EXIT_OK;
	else if (rc == 0)
		rc = run_sub(g, &o);
	fflush(stdout);
	return rc;
}
