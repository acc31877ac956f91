/* cli_elect.c: the output of runnel cluster elect-leaders: one line (or JSON object) per partition. */
#include <string.h>

#include "clients/cli.h"
#include "common/errors.h"

/* What a result means for the operator: moved, nothing to do, or a
 * failure worth a non-zero exit. */
static const char *outcome(const struct runnel_election_result *r)
{
	if (r->error == 0)
		return "elected";
	if (r->error == RN_E_ELECTION_NOT_NEEDED)
		return "not-needed";
	return "failed";
}

void cli_elect_count(const struct runnel_election_result *rs, size_t n,
		     struct cli_elect_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		if (rs[i].error == 0)
			out->elected++;
		else if (rs[i].error == RN_E_ELECTION_NOT_NEEDED)
			out->not_needed++;
		else
			out->failed++;
	}
}

void cli_elect_print_text(FILE *out, const struct runnel_election_result *rs, size_t n)
{
	struct cli_elect_counts k;
	for (size_t i = 0; i < n; i++) {
		const struct runnel_election_result *r = &rs[i];
		if (r->partition >= 0)
			fprintf(out, "%-10s %s-%d", outcome(r), r->topic, r->partition);
		else
			fprintf(out, "%-10s %s", outcome(r), r->topic);
		/* Elected and not-needed speak for themselves; a failure says
		 * why, in the controller's words when it gave some. */
		if (r->error != 0 && r->error != RN_E_ELECTION_NOT_NEEDED)
			fprintf(out, "  %s: %s", rn_errname(r->error),
				r->message[0] ? r->message : rn_strerror(r->error));
		fputc('\n', out);
	}
	cli_elect_count(rs, n, &k);
	fprintf(out, "%zu elected, %zu already led by their preferred replica, %zu failed\n",
		k.elected, k.not_needed, k.failed);
}

void cli_elect_print_json(FILE *out, const struct runnel_election_result *rs, size_t n)
{
	struct cli_elect_counts k;
	fputs("{\"results\":[", out);
	for (size_t i = 0; i < n; i++) {
		const struct runnel_election_result *r = &rs[i];
		fputs(i ? ",{\"topic\":" : "{\"topic\":", out);
		cli_json_string(out, r->topic, strlen(r->topic));
		fprintf(out, ",\"partition\":%d,\"outcome\":\"%s\",\"error\":", r->partition,
			outcome(r));
		if (r->error == 0) {
			fputs("null,\"message\":\"\"}", out);
			continue;
		}
		cli_json_string(out, rn_errname(r->error), strlen(rn_errname(r->error)));
		fputs(",\"message\":", out);
		cli_json_string(out, r->message, strlen(r->message));
		fputc('}', out);
	}
	cli_elect_count(rs, n, &k);
	fprintf(out, "],\"elected\":%zu,\"not_needed\":%zu,\"failed\":%zu}\n", k.elected,
		k.not_needed, k.failed);
}
