/* fault_check.c: fault-check's entry point, shared helpers, and the `whole` command. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "test/fault/fault_check.h"

static const char main_usage[] =
	"usage: fault-check produce -b BOOTSTRAP -t TOPIC --state FILE [--duration-s S] [--rate N]\n"
	"                           [--max-in-flight N] [--delivery-timeout-ms MS]\n"
	"                           [--value-bytes N]\n"
	"       fault-check whole -b BOOTSTRAP -t TOPIC [--timeout-s S]\n"
	"       fault-check verify -b BOOTSTRAP -t TOPIC --state FILE --report FILE [--whole-ms MS]\n"
	"                          [--fail-on-duplicates] [--timeout-s S]\n"
	"\n"
	"Produces records with unique ids (acks=all) while faults are injected, waits until\n"
	"the topic is fully replicated again, and verifies that nothing acknowledged was lost.\n"
	"Each command takes --help.\n";

/* ------------------------------------------------------------ helpers */

int fc_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return RN_E_INVAL;
	*out = v;
	return 0;
}

int fc_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "fault-check %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return FC_EXIT_USAGE;
}

void fc_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

void fc_tally_add(struct fc_error_tally *t, const char *name, uint64_t n)
{
	for (size_t i = 0; i < t->count; i++) {
		if (strcmp(t->kinds[i].name, name) == 0) {
			t->kinds[i].count += n;
			return;
		}
	}
	/* The last slot collects every kind that did not get its own, so the
	 * total stays exact. */
	if (t->count == FC_MAX_ERROR_KINDS) {
		snprintf(t->kinds[FC_MAX_ERROR_KINDS - 1].name, FC_ERROR_NAME_LEN, "OTHER");
		t->kinds[FC_MAX_ERROR_KINDS - 1].count += n;
		return;
	}
	snprintf(t->kinds[t->count].name, FC_ERROR_NAME_LEN, "%s", name);
	t->kinds[t->count].count = n;
	t->count++;
}

uint64_t fc_tally_total(const struct fc_error_tally *t)
{
	uint64_t total = 0;
	for (size_t i = 0; i < t->count; i++)
		total += t->kinds[i].count;
	return total;
}

void fc_tally_print(const struct fc_error_tally *t, FILE *out)
{
	if (t->count == 0)
		fputs("none", out);
	for (size_t i = 0; i < t->count; i++)
		fprintf(out, "%s%s=%llu", i ? " " : "", t->kinds[i].name,
			(unsigned long long)t->kinds[i].count);
}

int fc_records_extend(struct fc_records *r, size_t n)
{
	if (n <= r->count)
		return 0;
	if (n > FC_MAX_RECORDS)
		return RN_E_FULL;
	if (n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < n)
			cap *= 2;
		if (cap > FC_MAX_RECORDS)
			cap = FC_MAX_RECORDS;
		int32_t *np = realloc(r->partition, cap * sizeof(*np));
		if (!np)
			return RN_E_NOMEM;
		r->partition = np;
		int64_t *no = realloc(r->offset, cap * sizeof(*no));
		if (!no)
			return RN_E_NOMEM;
		r->offset = no;
		r->cap = cap;
	}
	for (size_t i = r->count; i < n; i++) {
		r->partition[i] = FC_REC_PENDING;
		r->offset[i] = -1;
	}
	r->count = n;
	return 0;
}

void fc_records_free(struct fc_records *r)
{
	free(r->partition);
	free(r->offset);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------- whole */

static const char whole_usage[] =
	"usage: fault-check whole -b BOOTSTRAP -t TOPIC [--timeout-s S]\n"
	"\n"
	"Waits until every partition of TOPIC has a leader and an ISR equal to its replicas,\n"
	"and the cluster is healthy (a quorum leader, no fenced broker, no offline partition).\n"
	"Prints \"whole after N ms\" and exits 0, or exits 1 after S seconds (default 120).\n";

/* How often `whole` looks again, and the timeouts of each look. */
#define FC_WHOLE_INTERVAL_MS 250
#define FC_WHOLE_REQUEST_TIMEOUT_MS 5000

/* Returns 1 when every member of a is in b (the lists have no repeats). */
static int subset(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && b[j] != a[i])
			j++;
		if (j == nb)
			return 0;
	}
	return 1;
}

/* Checks the cluster: returns 1 when healthy, else 0 with why set. */
static int cluster_healthy(runnel_admin *a, char *why, size_t cap)
{
	struct runnel_cluster_status *st = NULL;
	int rc = runnel_admin_describe_cluster(a, &st);
	if (rc != 0) {
		snprintf(why, cap, "cluster status: %s", runnel_admin_errmsg(a));
		return 0;
	}
	int ok = 0;
	if (st->leader_id < 0)
		snprintf(why, cap, "no quorum leader");
	else if (st->leader_unreachable)
		snprintf(why, cap, "quorum leader %d does not answer", st->leader_id);
	else if (st->broker_count == 0)
		snprintf(why, cap, "no broker registered");
	else if (st->offline_count > 0)
		snprintf(why, cap, "%d partitions offline", st->offline_count);
	else
		ok = 1;
	for (size_t i = 0; ok && i < st->broker_count; i++) {
		if (st->brokers[i].fenced) {
			snprintf(why, cap, "broker %d is fenced", st->brokers[i].id);
			ok = 0;
		}
	}
	runnel_cluster_status_free(st);
	return ok;
}

/* Checks the topic: returns 1 when every partition is whole, else 0 with
 * why set. */
static int topic_whole(runnel_admin *a, const char *topic, char *why, size_t cap)
{
	struct runnel_topic_info *info = NULL;
	int rc = runnel_admin_describe_topic(a, topic, &info);
	if (rc != 0) {
		snprintf(why, cap, "describe %s: %s", topic, runnel_admin_errmsg(a));
		return 0;
	}
	int ok = info->partition_count > 0;
	if (!ok)
		snprintf(why, cap, "%s has no partitions", topic);
	for (size_t i = 0; ok && i < info->partition_count; i++) {
		const struct runnel_partition_info *p = &info->partitions[i];
		if (p->error != 0 || p->leader < 0) {
			snprintf(why, cap, "%s-%d has no leader (%s)", topic, p->partition,
				 rn_errname(p->error));
			ok = 0;
		} else if (p->isr_count != p->replica_count ||
			   !subset(p->replicas, p->replica_count, p->isr, p->isr_count)) {
			snprintf(why, cap, "%s-%d has %zu of %zu replicas in sync", topic,
				 p->partition, p->isr_count, p->replica_count);
			ok = 0;
		}
	}
	runnel_topic_info_free(info);
	return ok;
}

static int parse_whole_opts(int argc, char **argv, const char **bootstrap, const char **topic,
			    int64_t *timeout_s)
{
	static const struct option opts[] = {
		{"bootstrap", required_argument, NULL, 'b'},
		{"topic", required_argument, NULL, 't'},
		{"timeout-s", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "b:t:h", opts, NULL)) != -1) {
		if (ch == 'b') {
			*bootstrap = optarg;
		} else if (ch == 't') {
			*topic = optarg;
		} else if (ch == 'T') {
			if (fc_parse_int(optarg, 1, 86400, timeout_s) != 0)
				return fc_usage_error("whole", "--timeout-s wants seconds, not \"%s\"",
						      optarg);
		} else if (ch == 'h') {
			fputs(whole_usage, stdout);
			return -1;
		} else {
			fputs(whole_usage, stderr);
			return FC_EXIT_USAGE;
		}
	}
	if (!*bootstrap || !*topic || optind != argc)
		return fc_usage_error("whole", "needs -b BOOTSTRAP and -t TOPIC, and nothing else");
	return 0;
}

int fc_cmd_whole(int argc, char **argv)
{
	const char *bootstrap = NULL, *topic = NULL;
	int64_t timeout_s = 120;
	int rc = parse_whole_opts(argc, argv, &bootstrap, &topic, &timeout_s);
	if (rc != 0)
		return rc < 0 ? FC_EXIT_OK : rc;
	struct runnel_client_config cfg;
	runnel_client_config_init(&cfg);
	cfg.bootstrap = bootstrap;
	cfg.client_id = "fault-check-whole";
	cfg.request_timeout_ms = FC_WHOLE_REQUEST_TIMEOUT_MS;
	cfg.metadata_timeout_ms = FC_WHOLE_REQUEST_TIMEOUT_MS;
	runnel_admin *a = NULL;
	if (runnel_admin_new(&cfg, &a) != 0)
		return fc_usage_error("whole", "bad bootstrap list \"%s\"", bootstrap);
	int64_t start = rn_mono_ms(), deadline = start + timeout_s * 1000;
	char why[512] = "", last[512] = "";
	for (;;) {
		if (cluster_healthy(a, why, sizeof(why)) && topic_whole(a, topic, why, sizeof(why))) {
			printf("whole after %lld ms\n", (long long)(rn_mono_ms() - start));
			runnel_admin_free(a);
			return FC_EXIT_OK;
		}
		/* Say what is missing when it changes, so a slow recovery
		 * shows its stages. */
		if (strcmp(why, last) != 0) {
			fprintf(stderr, "fault-check whole: +%lld ms: %s\n",
				(long long)(rn_mono_ms() - start), why);
			snprintf(last, sizeof(last), "%s", why);
		}
		if (rn_mono_ms() + FC_WHOLE_INTERVAL_MS >= deadline)
			break;
		fc_sleep_ms(FC_WHOLE_INTERVAL_MS);
	}
	printf("not whole after %lld ms: %s\n", (long long)(rn_mono_ms() - start), why);
	runnel_admin_free(a);
	return FC_EXIT_FAILED;
}

/* -------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(main_usage, stderr);
		return FC_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "produce") == 0)
		return fc_cmd_produce(argc - 1, argv + 1);
	if (strcmp(cmd, "whole") == 0)
		return fc_cmd_whole(argc - 1, argv + 1);
	if (strcmp(cmd, "verify") == 0)
		return fc_cmd_verify(argc - 1, argv + 1);
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(main_usage, stdout);
		return FC_EXIT_OK;
	}
	fprintf(stderr, "fault-check: unknown command \"%s\"\n%s", cmd, main_usage);
	return FC_EXIT_USAGE;
}
