/* cli_config.c: building, printing and describing config changes for the CLI. */
#include "clients/cli_config.h"

#include <string.h>

#include "clients/cli.h"

size_t cli_config_changes(const struct runnel_config_entry *sets, size_t nsets,
			  const char *const *deletes, size_t ndeletes,
			  struct runnel_config_change *out)
{
	size_t n = 0;
	for (size_t i = 0; i < nsets; i++)
		out[n++] = (struct runnel_config_change){ sets[i].name, RUNNEL_CONFIG_SET,
							  sets[i].value };
	for (size_t i = 0; i < ndeletes; i++)
		out[n++] = (struct runnel_config_change){ deletes[i], RUNNEL_CONFIG_DELETE, NULL };
	return n;
}

void cli_config_changes_print(FILE *out, const char *what, const struct runnel_config_change *ch,
			      size_t n, int validate_only)
{
	fprintf(out, "%s %s:", validate_only ? "validated" : "altered", what);
	for (size_t i = 0; i < n; i++) {
		if (ch[i].op == RUNNEL_CONFIG_SET)
			fprintf(out, "%s set %s=%s", i ? "," : "", ch[i].name, ch[i].value);
		else
			fprintf(out, "%s deleted %s", i ? "," : "", ch[i].name);
	}
	fputs(validate_only ? " (nothing changed)\n" : "\n", out);
}

void cli_config_print_text(FILE *out, const struct runnel_config_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %s=%s (%s)\n", e[i].name, e[i].value, e[i].source);
}

/* One JSON object of name -> value (field 0) or name -> source (field 1). */
static void json_map(FILE *out, const struct runnel_config_entry *e, size_t n, int sources)
{
	fputc('{', out);
	for (size_t i = 0; i < n; i++) {
		const char *v = sources ? e[i].source : e[i].value;
		if (i)
			fputc(',', out);
		cli_json_string(out, e[i].name, strlen(e[i].name));
		fputc(':', out);
		cli_json_string(out, v, strlen(v));
	}
	fputc('}', out);
}

void cli_config_print_json(FILE *out, const struct runnel_config_entry *e, size_t n)
{
	fputs("{\"configs\":", out);
	json_map(out, e, n, 0);
	fputs(",\"config_sources\":", out);
	json_map(out, e, n, 1);
	fputs("}\n", out);
}
