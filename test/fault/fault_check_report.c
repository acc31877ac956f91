/* fault_check_report.c: the verify result as a table on stdout and as a JSON report. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "test/fault/fault_check.h"

/* Width of the table's first column. */
#define REPORT_LABEL_WIDTH 28

static void row_u64(FILE *out, const char *label, uint64_t n)
{
	fprintf(out, "%-*s %llu\n", REPORT_LABEL_WIDTH, label, (unsigned long long)n);
}

static void row_ms(FILE *out, const char *label, int64_t ms)
{
	if (ms < 0)
		fprintf(out, "%-*s -\n", REPORT_LABEL_WIDTH, label);
	else
		fprintf(out, "%-*s %lld ms\n", REPORT_LABEL_WIDTH, label, (long long)ms);
}

/* "id 12 (p3@40 holds id 7)" lines for a list of examples. */
static void print_examples(FILE *out, const char *label, const struct fc_examples *e, int with_found)
{
	if (e->count == 0)
		return;
	fprintf(out, "%-*s", REPORT_LABEL_WIDTH, label);
	for (size_t i = 0; i < e->count; i++) {
		const struct fc_example *x = &e->ex[i];
		fprintf(out, " %llu (p%d@%lld", (unsigned long long)x->id, x->partition,
			(long long)x->offset);
		if (with_found && x->found >= 0)
			fprintf(out, " holds %lld", (long long)x->found);
		else if (with_found)
			fprintf(out, " holds %s",
				x->found == FC_FOUND_OTHER ? "another run's" : "nothing");
		fputc(')', out);
	}
	fputc('\n', out);
}

static void print_partitions(const struct fc_verify_result *v, FILE *out)
{
	fprintf(out, "\n%9s %10s %10s %8s %8s %6s %6s %6s %9s %6s %s\n", "partition", "log start",
		"high wm", "acked", "read", "lost", "dup", "order", "conflicts", "other", "complete");
	for (int32_t p = 0; p < v->partition_count; p++) {
		const struct fc_part_result *pr = &v->parts[p];
		fprintf(out, "%9d %10lld %10lld %8llu %8llu %6llu %6llu %6llu %9llu %6llu %s\n", p,
			(long long)pr->log_start, (long long)pr->high_watermark,
			(unsigned long long)pr->acknowledged, (unsigned long long)pr->read,
			(unsigned long long)pr->lost, (unsigned long long)pr->duplicated,
			(unsigned long long)pr->out_of_order, (unsigned long long)pr->conflicts,
			(unsigned long long)pr->other, pr->complete ? "yes" : "NO");
	}
}

void fc_report_print(const struct fc_verify_result *v, FILE *out)
{
	const struct fc_state *st = v->state;
	const struct fc_produce_stats *s = &st->stats;
	const int w = REPORT_LABEL_WIDTH;
	fprintf(out, "%-*s %s\n", w, "run id", st->run_id);
	fprintf(out, "%-*s %s (%d partitions)\n", w, "topic", v->topic, v->partition_count);
	fprintf(out, "%-*s %s\n", w, "state file",
		st->complete ? "complete" : "journal only (the producer did not finish)");
	row_u64(out, "sent", s->sent);
	row_u64(out, "acknowledged", v->acknowledged);
	fprintf(out, "%-*s %llu (", w, "failed deliveries", (unsigned long long)s->failed);
	fc_tally_print(&s->errors, out);
	fputs(")\n", out);
	row_u64(out, "unanswered", s->unresolved);
	row_u64(out, "read (distinct ids)", v->read);
	row_u64(out, "records read", v->records_read);
	row_u64(out, "records of other runs", v->other_records);
	fprintf(out, "%-*s %llu", w, "lost", (unsigned long long)v->lost);
	if (v->lost_unreadable > 0)
		fprintf(out, " (%llu in unreadable partitions)",
			(unsigned long long)v->lost_unreadable);
	fputc('\n', out);
	row_u64(out, "duplicated", v->duplicated);
	row_u64(out, "out of order", v->out_of_order);
	row_u64(out, "conflicting offsets", v->conflicts);
	fprintf(out, "%-*s %llu", w, "unreadable partitions", (unsigned long long)v->unreadable);
	for (int32_t p = 0, listed = 0; p < v->partition_count; p++)
		if (!v->parts[p].complete)
			fprintf(out, "%s%d", listed++ ? "," : " (partitions ", p);
	fputs(v->unreadable > 0 ? ")\n" : "\n", out);
	row_u64(out, "failed, yet written", v->failed_present);
	row_u64(out, "unanswered, yet written", v->unanswered_present);
	if (s->longest_unavailable_ms < 0)
		fprintf(out, "%-*s -\n", w, "longest unavailable");
	else
		fprintf(out, "%-*s %lld ms (from %lld ms)\n", w, "longest unavailable",
			(long long)s->longest_unavailable_ms, (long long)s->longest_unavailable_at_ms);
	row_ms(out, "time until whole", v->whole_ms);
	row_ms(out, "time to read", v->read_ms);
	fprintf(out, "%-*s %s\n", w, "result", v->ok ? "OK" : "FAILED");
	print_examples(out, "lost ids", &v->lost_ex, 0);
	print_examples(out, "conflicting ids", &v->conflict_ex, 1);
	print_examples(out, "out-of-order ids", &v->order_ex, 0);
	print_examples(out, "duplicated ids", &v->duplicate_ex, 0);
	print_partitions(v, out);
	fflush(out);
}

/* ---------------------------------------------------------------- JSON */

/* Writes a JSON string; run ids, topic names and error names are plain
 * ASCII, but escape anyway so that the report always parses. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_examples(FILE *f, const char *name, const struct fc_examples *e, int with_found)
{
	fprintf(f, ",\"%s\":[", name);
	for (size_t i = 0; i < e->count; i++) {
		const struct fc_example *x = &e->ex[i];
		fprintf(f, "%s{\"id\":%llu,\"partition\":%d,\"offset\":%lld", i ? "," : "",
			(unsigned long long)x->id, x->partition, (long long)x->offset);
		if (with_found && x->found >= 0)
			fprintf(f, ",\"found\":%lld", (long long)x->found);
		else if (with_found)
			fprintf(f, ",\"found\":\"%s\"",
				x->found == FC_FOUND_OTHER ? "other" : "nothing");
		fputc('}', f);
	}
	fputc(']', f);
}

static void json_partitions(FILE *f, const struct fc_verify_result *v)
{
	fputs(",\"partitions\":{", f);
	for (int32_t p = 0; p < v->partition_count; p++) {
		const struct fc_part_result *pr = &v->parts[p];
		fprintf(f,
			"%s\"%d\":{\"log_start\":%lld,\"high_watermark\":%lld,\"acknowledged\":%llu,"
			"\"read\":%llu,\"records\":%llu,\"other\":%llu,\"lost\":%llu,"
			"\"duplicated\":%llu,\"out_of_order\":%llu,\"conflicts\":%llu,"
			"\"complete\":%s}",
			p ? "," : "", p, (long long)pr->log_start, (long long)pr->high_watermark,
			(unsigned long long)pr->acknowledged, (unsigned long long)pr->read,
			(unsigned long long)pr->records, (unsigned long long)pr->other,
			(unsigned long long)pr->lost, (unsigned long long)pr->duplicated,
			(unsigned long long)pr->out_of_order, (unsigned long long)pr->conflicts,
			pr->complete ? "true" : "false");
	}
	fputc('}', f);
}

static void json_body(FILE *f, const struct fc_verify_result *v)
{
	const struct fc_state *st = v->state;
	const struct fc_produce_stats *s = &st->stats;
	fputs("{\"run_id\":", f);
	json_str(f, st->run_id);
	fputs(",\"topic\":", f);
	json_str(f, v->topic);
	fprintf(f,
		",\"state_complete\":%s,\"sent\":%llu,\"acknowledged\":%llu,\"read\":%llu,"
		"\"records_read\":%llu,\"other_records\":%llu,\"lost\":%llu,\"duplicated\":%llu,"
		"\"out_of_order\":%llu,\"conflicts\":%llu,\"unreadable_partitions\":%llu,"
		"\"lost_in_unreadable_partitions\":%llu,"
		"\"failed_deliveries\":%llu,\"unanswered\":%llu,\"failed_present\":%llu,"
		"\"unanswered_present\":%llu",
		st->complete ? "true" : "false", (unsigned long long)s->sent,
		(unsigned long long)v->acknowledged, (unsigned long long)v->read,
		(unsigned long long)v->records_read, (unsigned long long)v->other_records,
		(unsigned long long)v->lost, (unsigned long long)v->duplicated,
		(unsigned long long)v->out_of_order, (unsigned long long)v->conflicts,
		(unsigned long long)v->unreadable, (unsigned long long)v->lost_unreadable,
		(unsigned long long)s->failed,
		(unsigned long long)s->unresolved, (unsigned long long)v->failed_present,
		(unsigned long long)v->unanswered_present);
	fputs(",\"failed_by_error\":{", f);
	for (size_t i = 0; i < s->errors.count; i++) {
		fputs(i ? "," : "", f);
		json_str(f, s->errors.kinds[i].name);
		fprintf(f, ":%llu", (unsigned long long)s->errors.kinds[i].count);
	}
	fputc('}', f);
	/* Unknown durations are null rather than a made-up number. */
	if (s->longest_unavailable_ms < 0)
		fputs(",\"longest_unavailable_ms\":null,\"longest_unavailable_at_ms\":null", f);
	else
		fprintf(f, ",\"longest_unavailable_ms\":%lld,\"longest_unavailable_at_ms\":%lld",
			(long long)s->longest_unavailable_ms, (long long)s->longest_unavailable_at_ms);
	if (v->whole_ms < 0)
		fputs(",\"whole_ms\":null", f);
	else
		fprintf(f, ",\"whole_ms\":%lld", (long long)v->whole_ms);
	fprintf(f, ",\"read_ms\":%lld,\"partition_count\":%d", (long long)v->read_ms,
		v->partition_count);
	json_partitions(f, v);
	json_examples(f, "lost_examples", &v->lost_ex, 0);
	json_examples(f, "conflict_examples", &v->conflict_ex, 1);
	json_examples(f, "out_of_order_examples", &v->order_ex, 0);
	json_examples(f, "duplicate_examples", &v->duplicate_ex, 0);
	fprintf(f, ",\"ok\":%s}\n", v->ok ? "true" : "false");
}

int fc_report_write_json(const struct fc_verify_result *v, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "fault-check verify: cannot write %s: %s\n", path, strerror(errno));
		return RN_E_IO;
	}
	json_body(f, v);
	if (fclose(f) != 0) {
		fprintf(stderr, "fault-check verify: writing %s: %s\n", path, strerror(errno));
		return RN_E_IO;
	}
	return 0;
}
