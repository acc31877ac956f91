/* cli_group_format.c: the runnel group command's output and its seek arithmetic. */
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "common/errors.h"

int cli_parse_seek_target(const char *arg, struct cli_seek_target *out)
{
	int64_t v = 0;
	if (!arg)
		return RN_E_INVAL;
	if (strcmp(arg, "beginning") == 0 || strcmp(arg, "earliest") == 0) {
		*out = (struct cli_seek_target){CLI_SEEK_BEGINNING, 0};
		return 0;
	}
	if (strcmp(arg, "end") == 0 || strcmp(arg, "latest") == 0) {
		*out = (struct cli_seek_target){CLI_SEEK_END, 0};
		return 0;
	}
	if (arg[0] == '@') {
		if (arg[1] == '-' || cli_parse_int64(arg + 1, 0, INT64_MAX, &v) != 0)
			return RN_E_INVAL;
		*out = (struct cli_seek_target){CLI_SEEK_TIMESTAMP, v};
		return 0;
	}
	if (arg[0] == '-' || cli_parse_int64(arg, 0, INT64_MAX, &v) != 0)
		return RN_E_INVAL;
	*out = (struct cli_seek_target){CLI_SEEK_OFFSET, v};
	return 0;
}

int64_t cli_seek_new_offset(const struct cli_seek_target *t, int64_t log_start, int64_t log_end,
			    int64_t ts_offset)
{
	switch (t->kind) {
	case CLI_SEEK_BEGINNING:
		return log_start;
	case CLI_SEEK_END:
		return log_end;
	case CLI_SEEK_TIMESTAMP:
		return ts_offset >= 0 ? ts_offset : log_end;
	case CLI_SEEK_OFFSET:
		break;
	}
	/* An offset outside the log would only be reset by the consumer;
	 * clamping says at once where it will really start. */
	if (t->value < log_start)
		return log_start;
	if (t->value > log_end)
		return log_end;
	return t->value;
}

static void json_str(FILE *out, const char *s)
{
	if (s)
		cli_json_string(out, s, strlen(s));
	else
		fputs("null", out);
}

void cli_group_list_print_text(FILE *out, const struct runnel_group_listing *l, size_t n)
{
	int w = (int)strlen("GROUP"), ws = (int)strlen("STATE");
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(l[i].group) > w)
			w = (int)strlen(l[i].group);
		if ((int)strlen(l[i].state) > ws)
			ws = (int)strlen(l[i].state);
	}
	fprintf(out, "%-*s  %-*s  COORDINATOR  MEMBERS\n", w, "GROUP", ws, "STATE");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%-*s  %-*s  %-11d  %d\n", w, l[i].group, ws, l[i].state, l[i].coordinator,
			l[i].member_count);
}

void cli_group_list_print_json(FILE *out, const struct runnel_group_listing *l, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",{\"group\":" : "{\"group\":", out);
		json_str(out, l[i].group);
		fputs(",\"state\":", out);
		json_str(out, l[i].state);
		fprintf(out, ",\"coordinator\":%d,\"members\":%d,\"protocol_type\":", l[i].coordinator,
			l[i].member_count);
		json_str(out, l[i].protocol_type);
		fputc('}', out);
	}
	fputs("]\n", out);
}

/* A number, or "-" when not known (negative). */
static const char *num_or_dash(int64_t v, char *buf, size_t cap)
{
	if (v < 0)
		return "-";
	snprintf(buf, cap, "%lld", (long long)v);
	return buf;
}

#define GROUP_COLUMNS 8
#define GROUP_CELL 256

static void describe_cells(const struct runnel_group_partition_info *p, char cells[][GROUP_CELL])
{
	char num[32];
	snprintf(cells[0], GROUP_CELL, "%s", p->topic);
	snprintf(cells[1], GROUP_CELL, "%d", p->partition);
	snprintf(cells[2], GROUP_CELL, "%s", num_or_dash(p->committed_offset, num, sizeof(num)));
	snprintf(cells[3], GROUP_CELL, "%s", num_or_dash(p->log_end_offset, num, sizeof(num)));
	snprintf(cells[4], GROUP_CELL, "%s", num_or_dash(p->lag, num, sizeof(num)));
	snprintf(cells[5], GROUP_CELL, "%s", p->member ? p->member->member_id : "-");
	snprintf(cells[6], GROUP_CELL, "%s", p->member ? p->member->client_id : "-");
	snprintf(cells[7], GROUP_CELL, "%s", p->member ? p->member->host : "-");
}

void cli_group_describe_print_text(FILE *out, const struct runnel_group_info *g)
{
	static const char *heads[GROUP_COLUMNS] = {"TOPIC", "PARTITION", "COMMITTED", "LOG_END",
						   "LAG", "MEMBER", "CLIENT", "HOST"};
	size_t rows = g->partition_count;
	char(*cells)[GROUP_COLUMNS][GROUP_CELL] = calloc(rows ? rows : 1, sizeof(*cells));
	int width[GROUP_COLUMNS];
	if (!cells)
		return;
	for (int c = 0; c < GROUP_COLUMNS; c++)
		width[c] = (int)strlen(heads[c]);
	for (size_t r = 0; r < rows; r++) {
		describe_cells(&g->partitions[r], cells[r]);
		for (int c = 0; c < GROUP_COLUMNS; c++)
			if ((int)strlen(cells[r][c]) > width[c])
				width[c] = (int)strlen(cells[r][c]);
	}
	fprintf(out, "Group: %s\tState: %s\tCoordinator: %d\tMembers: %zu\tProtocol: %s\tGeneration: %d\n",
		g->group, g->state, g->coordinator, g->member_count, *g->protocol ? g->protocol : "-",
		g->generation);
	for (int c = 0; c + 1 < GROUP_COLUMNS; c++)
		fprintf(out, "%-*s  ", width[c], heads[c]);
	fprintf(out, "%s\n", heads[GROUP_COLUMNS - 1]);
	for (size_t r = 0; r < rows; r++) {
		for (int c = 0; c + 1 < GROUP_COLUMNS; c++)
			fprintf(out, "%-*s  ", width[c], cells[r][c]);
		fprintf(out, "%s\n", cells[r][GROUP_COLUMNS - 1]);
	}
	free(cells);
}

static void member_json(FILE *out, const struct runnel_group_member_info *m)
{
	fputs("{\"member_id\":", out);
	json_str(out, m->member_id);
	fputs(",\"client_id\":", out);
	json_str(out, m->client_id);
	fputs(",\"host\":", out);
	json_str(out, m->host);
	fputs(",\"partitions\":[", out);
	for (size_t k = 0; k < m->assigned_count; k++) {
		fputs(k ? ",{\"topic\":" : "{\"topic\":", out);
		json_str(out, m->assigned[k].topic);
		fprintf(out, ",\"partition\":%d}", m->assigned[k].partition);
	}
	fputs("]}", out);
}

void cli_group_describe_print_json(FILE *out, const struct runnel_group_info *g)
{
	fputs("{\"group\":", out);
	json_str(out, g->group);
	fputs(",\"state\":", out);
	json_str(out, g->state);
	fprintf(out, ",\"coordinator\":%d,\"generation\":%d,\"protocol\":", g->coordinator,
		g->generation);
	json_str(out, g->protocol);
	fprintf(out, ",\"member_count\":%zu,\"members\":[", g->member_count);
	for (size_t i = 0; i < g->member_count; i++) {
		if (i)
			fputc(',', out);
		member_json(out, &g->members[i]);
	}
	fputs("],\"partitions\":[", out);
	for (size_t i = 0; i < g->partition_count; i++) {
		const struct runnel_group_partition_info *p = &g->partitions[i];
		fputs(i ? ",{\"topic\":" : "{\"topic\":", out);
		json_str(out, p->topic);
		fprintf(out, ",\"partition\":%d,\"committed_offset\":%lld,\"log_end_offset\":%lld,\"lag\":%lld",
			p->partition, (long long)p->committed_offset, (long long)p->log_end_offset,
			(long long)p->lag);
		fputs(",\"member_id\":", out);
		json_str(out, p->member ? p->member->member_id : NULL);
		fputs(",\"client_id\":", out);
		json_str(out, p->member ? p->member->client_id : NULL);
		fputs(",\"host\":", out);
		json_str(out, p->member ? p->member->host : NULL);
		fputc('}', out);
	}
	fputs("]}\n", out);
}
