/* raft_sim.c: runs the Raft simulator over one seed or a range of seeds and reports failures. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "test/sim/sim.h"

/* Failures printed in one range before giving up on the rest. */
#define SIM_MAX_REPORTED_FAILURES 5u

struct cli {
	struct sim_options opt;
	uint64_t first_seed, seed_count;
	bool expect_failure;
	const char *prog;
};

/* Written from the SIGABRT handler when an assertion inside the core stops
 * the process, so that even then the seed and the replay command appear. */
static char abort_note[512];
static size_t abort_note_len;

static void abort_cb(int sig)
{
	if (abort_note_len > 0 && write(STDERR_FILENO, abort_note, abort_note_len) < 0)
		abort_note_len = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

static int replay_command(const struct cli *c, uint64_t seed, char *buf, size_t size)
{
	char inject[64] = "";
	if (c->opt.inject != SIM_INJECT_NONE)
		snprintf(inject, sizeof(inject), " --inject %s", sim_inject_name(c->opt.inject));
	return snprintf(buf, size, "%s --nodes %u --seed %" PRIu64 "%s --verbose", c->prog,
			c->opt.nodes, seed, inject);
}

static void note_seed(const struct cli *c, uint64_t seed)
{
	char cmd[400];
	replay_command(c, seed, cmd, sizeof(cmd));
	int n = snprintf(abort_note, sizeof(abort_note),
			 "ABORT nodes=%u seed=%" PRIu64 "\n  replay: %s\n", c->opt.nodes, seed,
			 cmd);
	abort_note_len = n > 0 && (size_t)n < sizeof(abort_note) ? (size_t)n : 0;
}

static void report_failure(const struct cli *c, uint64_t seed, const struct sim_result *res)
{
	char cmd[400];
	replay_command(c, seed, cmd, sizeof(cmd));
	printf("FAIL nodes=%u seed=%" PRIu64 " step=%" PRIu64 ": %s\n  replay: %s\n",
	       c->opt.nodes, seed, res->failed_step, res->reason, cmd);
	fflush(stdout);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs every seed of the range in this process; returns the exit status. */
static int run_range(struct cli *c)
{
	double start = now_ms();
	uint64_t steps = 0, committed = 0, crashes = 0, partitions = 0;
	uint64_t compactions = 0, installs = 0, observer_runs = 0;
	uint32_t failures = 0, max_live = 0;
	uint64_t ran = 0;
	for (uint64_t i = 0; i < c->seed_count; i++, ran++) {
		c->opt.seed = c->first_seed + i;
		note_seed(c, c->opt.seed);
		struct sim_result res;
		if (sim_run(&c->opt, &res) != 0) {
			report_failure(c, c->opt.seed, &res);
			if (++failures == SIM_MAX_REPORTED_FAILURES) {
				ran++;
				break;
			}
			continue;
		}
		steps += res.steps;
		committed += res.committed;
		crashes += res.crashes;
		partitions += res.partitions;
		compactions += res.compactions;
		installs += res.installs;
		observer_runs += res.observers > 0;
		if (res.liveness_ticks > max_live)
			max_live = res.liveness_ticks;
	}
	double ms = now_ms() - start;
	printf("%s: nodes=%u seeds=%" PRIu64 "..%" PRIu64 " failures=%u in %.0f ms; "
	       "steps=%" PRIu64 " committed=%" PRIu64 " crashes=%" PRIu64
	       " partitions=%" PRIu64 " compactions=%" PRIu64 " snapshot installs=%" PRIu64
	       " runs with observers=%" PRIu64 " max liveness ticks=%u (bound %u)\n",
	       failures ? "FAILED" : "ok", c->opt.nodes, c->first_seed, c->first_seed + ran - 1,
	       failures, ms, steps, committed, crashes, partitions, compactions, installs,
	       observer_runs, max_live, SIM_LIVENESS_BOUND_TICKS);
	return failures ? 1 : 0;
}

/* One seed in a child process: an injected fault may well trip an assertion
 * inside the core, and that must not end the search. */
static int run_child(struct cli *c)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		signal(SIGABRT, SIG_DFL);
		fclose(stderr); /* the core's own messages are noise here */
		struct sim_result res;
		if (sim_run(&c->opt, &res) != 0) {
			report_failure(c, c->opt.seed, &res);
			_exit(1);
		}
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 2; /* killed: an assertion in the core, not the checker */
}

/* Self-test: with a broken behaviour injected the checker must report a
 * violation within the range.  Returns the exit status. */
static int run_expect_failure(struct cli *c)
{
	uint32_t aborts = 0;
	for (uint64_t i = 0; i < c->seed_count; i++) {
		c->opt.seed = c->first_seed + i;
		int rc = run_child(c);
		if (rc == 1) {
			printf("ok: the checker caught the injected '%s' at seed %" PRIu64
			       " (%" PRIu64 " seeds tried, %u stopped by core assertions)\n",
			       sim_inject_name(c->opt.inject), c->opt.seed, i + 1, aborts);
			return 0;
		}
		if (rc < 0)
			return 1;
		if (rc == 2)
			aborts++;
	}
	printf("FAILED: the injected '%s' went unnoticed by the checker over %" PRIu64
	       " seeds (%u stopped by core assertions)\n",
	       sim_inject_name(c->opt.inject), c->seed_count, aborts);
	return 1;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--nodes 3|5] [--seed S | --seeds FIRST:COUNT] [--verbose]\n"
		"          [--inject none|forget-sync|ack-before-persist|forget-vote|skip-install\n"
		"           [--expect-failure]]\n",
		prog);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_range(const char *s, struct cli *c)
{
	char buf[64];
	const char *colon = strchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = '\0';
	return parse_u64(buf, &c->first_seed) || parse_u64(colon + 1, &c->seed_count) ? -1 : 0;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
	uint64_t v;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--verbose") == 0) {
			c->opt.verbose = true;
		} else if (strcmp(a, "--expect-failure") == 0) {
			c->expect_failure = true;
		} else if (!val) {
			return -1;
		} else if (strcmp(a, "--nodes") == 0 && parse_u64(val, &v) == 0 &&
			   v >= SIM_MIN_NODES && v <= SIM_MAX_NODES) {
			c->opt.nodes = (uint32_t)v;
			i++;
		} else if (strcmp(a, "--seed") == 0 && parse_u64(val, &c->first_seed) == 0) {
			c->seed_count = 1;
			i++;
		} else if (strcmp(a, "--seeds") == 0 && parse_range(val, c) == 0) {
			i++;
		} else if (strcmp(a, "--inject") == 0 && sim_inject_parse(val, &c->opt.inject) == 0) {
			i++;
		} else {
			return -1;
		}
	}
	return c->seed_count > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct cli c = { .opt = { .nodes = 3 }, .first_seed = 1, .seed_count = 1,
			 .prog = argv[0] };
	if (parse_args(argc, argv, &c) != 0) {
		usage(argv[0]);
		return 2;
	}
	/* The core logs elections and step-downs; they belong in a trace only. */
	rn_log_set_level(c.opt.verbose ? RN_LOG_INFO : RN_LOG_ERROR);
	if (c.expect_failure)
		return run_expect_failure(&c);
	signal(SIGABRT, abort_cb);
	return run_range(&c);
}
