/* log.c: leveled log lines to stderr. */
#include "common/log.h"

#include "common/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum rn_log_level min_level = RN_LOG_INFO;
static char log_context[128];

void rn_log_set_level(enum rn_log_level level)
{
	min_level = level;
}

int rn_log_parse_level(const char *name, enum rn_log_level *out)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i]) == 0) {
			*out = (enum rn_log_level)i;
			return RN_OK;
		}
	}
	return RN_E_INVAL;
}

void rn_log_set_context(const char *context)
{
	snprintf(log_context, sizeof(log_context), "%s", context ? context : "");
}

int rn_log_enabled(enum rn_log_level level)
{
	return level >= min_level;
}

void rn_log(enum rn_log_level level, const char *component, const char *fmt, ...)
{
	static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
	if (level < min_level)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char line[2048];
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] %s%s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], component,
			 log_context, log_context[0] ? " " : "");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line so lines from threads do not interleave. */
	fwrite(line, 1, len, stderr);
}
