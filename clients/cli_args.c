/* cli_args.c: parsing the runnel CLI's option values. */
#include "clients/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

void cli_error(const char *what, int err, const char *message)
{
	fprintf(stderr, "runnel: %s: %s: %s\n", what, rn_errname(err),
		message && *message ? message : rn_strerror(err));
}

void cli_usage_error(const char *what, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "runnel: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see runnel %s --help)\n", what);
}

int cli_parse_int64(const char *arg, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	if (!arg || !*arg || (*arg != '-' && (*arg < '0' || *arg > '9')))
		return RN_E_INVAL;
	errno = 0;
	long long v = strtoll(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return RN_E_INVAL;
	*out = v;
	return 0;
}

int cli_parse_offset(const char *arg, struct runnel_position *out)
{
	int64_t v = 0;
	if (!arg)
		return RN_E_INVAL;
	if (strcmp(arg, "beginning") == 0) {
		*out = (struct runnel_position){RUNNEL_POS_BEGINNING, 0};
		return 0;
	}
	if (strcmp(arg, "end") == 0) {
		*out = (struct runnel_position){RUNNEL_POS_END, 0};
		return 0;
	}
	if (arg[0] == '@') {
		if (cli_parse_int64(arg + 1, 0, INT64_MAX, &v) != 0 || arg[1] == '-')
			return RN_E_INVAL;
		*out = (struct runnel_position){RUNNEL_POS_TIMESTAMP, v};
		return 0;
	}
	if (arg[0] == '-') {
		/* "-0" would mean "the end" and is accepted as such. */
		if (arg[1] == '-' || cli_parse_int64(arg + 1, 0, INT64_MAX, &v) != 0)
			return RN_E_INVAL;
		*out = (struct runnel_position){RUNNEL_POS_FROM_END, v};
		return 0;
	}
	if (cli_parse_int64(arg, 0, INT64_MAX, &v) != 0)
		return RN_E_INVAL;
	*out = (struct runnel_position){RUNNEL_POS_OFFSET, v};
	return 0;
}

int cli_parse_acks(const char *arg, int32_t *out)
{
	if (!arg)
		return RN_E_INVAL;
	if (strcmp(arg, "all") == 0 || strcmp(arg, "-1") == 0)
		*out = -1;
	else if (strcmp(arg, "0") == 0)
		*out = 0;
	else if (strcmp(arg, "1") == 0)
		*out = 1;
	else
		return RN_E_INVAL;
	return 0;
}

int cli_split_kv(const char *arg, size_t *key_len, const char **value)
{
	const char *eq = arg ? strchr(arg, '=') : NULL;
	if (!eq || eq == arg)
		return RN_E_INVAL;
	*key_len = (size_t)(eq - arg);
	*value = eq + 1;
	return 0;
}
