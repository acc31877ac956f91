/* cli_status.c: the health verdict of a cluster status and its text and JSON output. */
#include "clients/cli.h"

#include <stdarg.h>
#include <string.h>

#include "common/limits.h"

/* Adds a line to a list of at most CLI_STATUS_MAX_LINES; the last slot
 * turns into a count of what did not fit, so nothing is dropped silently. */
static void add_line(char (*lines)[CLI_STATUS_LINE_LEN], size_t *count, size_t *dropped,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_line(char (*lines)[CLI_STATUS_LINE_LEN], size_t *count, size_t *dropped,
		     const char *fmt, ...)
{
	va_list ap;
	if (*count + 1 >= CLI_STATUS_MAX_LINES) {
		(*dropped)++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(lines[*count], CLI_STATUS_LINE_LEN, fmt, ap);
	va_end(ap);
	(*count)++;
}

static void close_lines(char (*lines)[CLI_STATUS_LINE_LEN], size_t *count, size_t dropped)
{
	if (dropped == 0)
		return;
	snprintf(lines[*count], CLI_STATUS_LINE_LEN, "... and %zu more", dropped);
	(*count)++;
}

/* "N partitions are WHAT: a-0, a-1, ..." naming the first few. */
static void partitions_line(char *buf, size_t cap, int32_t count, const char *what,
			    const struct runnel_partition_ref *refs, size_t listed)
{
	size_t used = (size_t)snprintf(buf, cap, "%d partition%s %s %s", count, count == 1 ? "" : "s",
				       count == 1 ? "is" : "are", what);
	for (size_t i = 0; i < listed && i < CLI_STATUS_NAMES_PER_LINE && used < cap; i++)
		used += (size_t)snprintf(buf + used, cap - used, "%s%s-%d", i ? ", " : ": ",
					 refs[i].topic, refs[i].partition);
	if ((size_t)count > CLI_STATUS_NAMES_PER_LINE && listed > 0 && used < cap)
		snprintf(buf + used, cap - used, ", ...");
}

static void assess_quorum(const struct runnel_cluster_status *st, struct cli_status_verdict *v,
			  size_t *dropped)
{
	if (st->leader_id < 0)
		add_line(v->problems, &v->problem_count, dropped,
			 "no quorum leader: node %d (%s) knows none; an election is running or a "
			 "majority of the voters is down",
			 st->answered_by, st->answered_role ? st->answered_role : "?");
	else if (st->leader_unreachable)
		add_line(v->problems, &v->problem_count, dropped,
			 "node %d names %d as the quorum leader, which did not confirm it (%s); the "
			 "quorum is shown as node %d sees it",
			 st->answered_by, st->leader_id,
			 st->leader_error ? st->leader_error : "no answer", st->answered_by);
}

static void assess_brokers(const struct runnel_cluster_status *st, struct cli_status_verdict *v,
			   size_t *dropped)
{
	if (st->broker_count == 0)
		add_line(v->problems, &v->problem_count, dropped, "no broker is registered");
	for (size_t i = 0; i < st->broker_count; i++) {
		const struct runnel_broker_state *b = &st->brokers[i];
		if (b->fenced)
			add_line(v->problems, &v->problem_count, dropped,
				 "broker %d (%s:%d) is fenced: it missed its heartbeats or has not "
				 "caught up with the metadata log",
				 b->id, b->host, b->port);
	}
}

/* Warns about members the leader has not heard from lately.  Only the
 * leader's view has contact times; elsewhere they are unknown (-1). */
static void assess_contact(const struct runnel_quorum_member *m, size_t n, const char *kind,
			   int32_t leader_id, struct cli_status_verdict *v, size_t *dropped)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i].id == leader_id || m[i].last_contact_ms < CLI_STATUS_STALE_CONTACT_MS)
			continue;
		add_line(v->warnings, &v->warning_count, dropped,
			 "the quorum leader has not heard from %s %d for %lld ms (lag %lld entries)",
			 kind, m[i].id, (long long)m[i].last_contact_ms, (long long)m[i].lag);
	}
}

void cli_status_assess(const struct runnel_cluster_status *st, struct cli_status_verdict *v)
{
	size_t dropped_problems = 0, dropped_warnings = 0;
	char line[CLI_STATUS_LINE_LEN];
	memset(v, 0, sizeof(*v));
	assess_quorum(st, v, &dropped_problems);
	assess_brokers(st, v, &dropped_problems);
	if (st->offline_count > 0) {
		partitions_line(line, sizeof(line), st->offline_count, "offline", st->offline,
				st->offline_listed);
		add_line(v->problems, &v->problem_count, &dropped_problems, "%s", line);
	}
	if (st->under_replicated_count > 0) {
		partitions_line(line, sizeof(line), st->under_replicated_count, "under-replicated",
				st->under_replicated, st->under_replicated_listed);
		add_line(v->warnings, &v->warning_count, &dropped_warnings, "%s", line);
	}
	if (!st->leader_unreachable && st->leader_id >= 0 && st->answered_by == st->leader_id) {
		assess_contact(st->voters, st->voter_count, "voter", st->leader_id, v,
			       &dropped_warnings);
		assess_contact(st->observers, st->observer_count, "observer", st->leader_id, v,
			       &dropped_warnings);
	}
	close_lines(v->problems, &v->problem_count, dropped_problems);
	close_lines(v->warnings, &v->warning_count, dropped_warnings);
	v->healthy = v->problem_count == 0;
}

/* ------------------------------------------------------------------ text */

/* A number, or "-" when unknown (negative). */
static const char *num_text(int64_t n, char *buf, size_t cap)
{
	if (n < 0)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%lld", (long long)n);
	return buf;
}

static void members_text(FILE *out, const char *title, const struct runnel_quorum_member *m,
			 size_t n, int32_t leader_id)
{
	char a[32], b[32], c[32];
	if (n == 0) {
		fprintf(out, "%s: none\n", title);
		return;
	}
	fprintf(out, "%s:\n  %-8s %-9s %-14s %-10s %s\n", title, "ID", "ROLE", "LOG_END_OFFSET",
		"LAG", "LAST_CONTACT_MS");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-8d %-9s %-14s %-10s %s\n", m[i].id,
			m[i].id == leader_id ? "leader" : (title[0] == 'V' ? "follower" : "observer"),
			num_text(m[i].log_end_offset, a, sizeof(a)), num_text(m[i].lag, b, sizeof(b)),
			num_text(m[i].last_contact_ms, c, sizeof(c)));
}

static void brokers_text(FILE *out, const struct runnel_cluster_status *st)
{
	char addr[RN_MAX_ADDRESS_LEN + 16];
	if (st->broker_count == 0) {
		fprintf(out, "Brokers: none registered\n");
		return;
	}
	fprintf(out, "Brokers:\n  %-8s %-24s %-12s %s\n", "ID", "ADDRESS", "RACK", "STATE");
	for (size_t i = 0; i < st->broker_count; i++) {
		const struct runnel_broker_state *b = &st->brokers[i];
		snprintf(addr, sizeof(addr), "%s:%d", b->host, b->port);
		fprintf(out, "  %-8d %-24s %-12s %s\n", b->id, addr, b->rack[0] ? b->rack : "-",
			b->fenced ? "fenced" : "alive");
	}
}

static void lines_text(FILE *out, const char *title, char (*lines)[CLI_STATUS_LINE_LEN], size_t n)
{
	if (n == 0)
		return;
	fprintf(out, "%s:\n", title);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  - %s\n", lines[i]);
}

void cli_status_print_text(FILE *out, const struct runnel_cluster_status *st,
			   const struct cli_status_verdict *v)
{
	fprintf(out, "Cluster ID:        %s\n", st->cluster_id && *st->cluster_id ? st->cluster_id : "-");
	if (st->leader_id < 0)
		fprintf(out, "Quorum leader:     none\n");
	else if (st->leader_host)
		fprintf(out, "Quorum leader:     %d at %s:%d\n", st->leader_id, st->leader_host,
			st->leader_port);
	else
		fprintf(out, "Quorum leader:     %d\n", st->leader_id);
	fprintf(out, "Epoch:             %lld\n", (long long)st->epoch);
	fprintf(out, "Commit index:      %lld (high watermark %lld)\n", (long long)st->commit_index,
		(long long)st->high_watermark);
	fprintf(out, "Active controller: %d\n", st->controller_id);
	fprintf(out, "Answered by:       node %d (%s)\n\n", st->answered_by,
		st->answered_role ? st->answered_role : "?");
	members_text(out, "Voters", st->voters, st->voter_count, st->leader_id);
	members_text(out, "Observers", st->observers, st->observer_count, st->leader_id);
	fputc('\n', out);
	brokers_text(out, st);
	fprintf(out, "\nPartitions: %d total, %d offline, %d under-replicated\n\n", st->partition_total,
		st->offline_count, st->under_replicated_count);
	fprintf(out, "Health: %s\n", v->healthy ? "healthy" : "UNHEALTHY");
	lines_text(out, "Problems", (char(*)[CLI_STATUS_LINE_LEN])v->problems, v->problem_count);
	lines_text(out, "Warnings", (char(*)[CLI_STATUS_LINE_LEN])v->warnings, v->warning_count);
}

/* ------------------------------------------------------------------ JSON */

static void json_str(FILE *out, const char *s)
{
	if (!s)
		fputs("null", out);
	else
		cli_json_string(out, s, strlen(s));
}

/* A number, or null when unknown (negative). */
static void json_num(FILE *out, int64_t n)
{
	if (n < 0)
		fputs("null", out);
	else
		fprintf(out, "%lld", (long long)n);
}

static void members_json(FILE *out, const struct runnel_quorum_member *m, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%s{\"id\":%d,\"log_end_offset\":", i ? "," : "", m[i].id);
		json_num(out, m[i].log_end_offset);
		fputs(",\"lag\":", out);
		json_num(out, m[i].lag);
		fputs(",\"last_contact_ms\":", out);
		json_num(out, m[i].last_contact_ms);
		fputc('}', out);
	}
	fputc(']', out);
}

static void quorum_json(FILE *out, const struct runnel_cluster_status *st)
{
	fprintf(out, "\"quorum\":{\"leader_id\":%d,\"leader_host\":", st->leader_id);
	json_str(out, st->leader_host);
	fputs(",\"leader_port\":", out);
	json_num(out, st->leader_host ? st->leader_port : -1);
	fprintf(out, ",\"leader_reachable\":%s,\"epoch\":%lld,\"commit_index\":%lld,"
		     "\"high_watermark\":%lld,\"voters\":",
		st->leader_id >= 0 && !st->leader_unreachable ? "true" : "false",
		(long long)st->epoch, (long long)st->commit_index, (long long)st->high_watermark);
	members_json(out, st->voters, st->voter_count);
	fputs(",\"observers\":", out);
	members_json(out, st->observers, st->observer_count);
	fputc('}', out);
}

static void brokers_json(FILE *out, const struct runnel_cluster_status *st)
{
	fputs("\"brokers\":[", out);
	for (size_t i = 0; i < st->broker_count; i++) {
		const struct runnel_broker_state *b = &st->brokers[i];
		fprintf(out, "%s{\"id\":%d,\"host\":", i ? "," : "", b->id);
		json_str(out, b->host);
		fprintf(out, ",\"port\":%d,\"rack\":", b->port);
		json_str(out, b->rack[0] ? b->rack : NULL);
		fprintf(out, ",\"state\":\"%s\"}", b->fenced ? "fenced" : "alive");
	}
	fputc(']', out);
}

static void refs_json(FILE *out, const struct runnel_partition_ref *refs, size_t n)
{
	char name[RN_MAX_TOPIC_NAME_LEN + 16];
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		snprintf(name, sizeof(name), "%s-%d", refs[i].topic, refs[i].partition);
		json_str(out, name);
	}
	fputc(']', out);
}

static void lines_json(FILE *out, const char (*lines)[CLI_STATUS_LINE_LEN], size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		json_str(out, lines[i]);
	}
	fputc(']', out);
}

void cli_status_print_json(FILE *out, const struct runnel_cluster_status *st,
			   const struct cli_status_verdict *v)
{
	fputs("{\"cluster_id\":", out);
	json_str(out, st->cluster_id);
	fprintf(out, ",\"answered_by\":%d,\"answered_role\":", st->answered_by);
	json_str(out, st->answered_role);
	fprintf(out, ",\"controller_id\":%d,", st->controller_id);
	quorum_json(out, st);
	fputc(',', out);
	brokers_json(out, st);
	fprintf(out, ",\"partitions\":{\"total\":%d,\"offline\":%d,\"under_replicated\":%d,"
		     "\"offline_partitions\":",
		st->partition_total, st->offline_count, st->under_replicated_count);
	refs_json(out, st->offline, st->offline_listed);
	fputs(",\"under_replicated_partitions\":", out);
	refs_json(out, st->under_replicated, st->under_replicated_listed);
	fprintf(out, "},\"healthy\":%s,\"problems\":", v->healthy ? "true" : "false");
	lines_json(out, v->problems, v->problem_count);
	fputs(",\"warnings\":", out);
	lines_json(out, v->warnings, v->warning_count);
	fputs("}\n", out);
}
