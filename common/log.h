/* log.h: leveled log lines to stderr with time, level and component. */
#ifndef RUNNEL_COMMON_LOG_H
#define RUNNEL_COMMON_LOG_H

enum rn_log_level { RN_LOG_DEBUG = 0, RN_LOG_INFO, RN_LOG_WARN, RN_LOG_ERROR };

/* Sets the lowest level printed (default INFO). */
void rn_log_set_level(enum rn_log_level level);

/* Parses "debug", "info", "warn" or "error"; returns 0 or RN_E_INVAL. */
int rn_log_parse_level(const char *name, enum rn_log_level *out);

/* Sets a prefix printed on every line (for example "node=1"); copied. */
void rn_log_set_context(const char *context);

/* Writes one line: "2026-11-21T08:32:23.123Z INFO  [broker] node=1 message". */
void rn_log(enum rn_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int rn_log_enabled(enum rn_log_level level);

#define LOG_DEBUG(comp, ...)                             \
	do {                                             \
		if (rn_log_enabled(RN_LOG_DEBUG))        \
			rn_log(RN_LOG_DEBUG, comp, __VA_ARGS__); \
	} while (0)
#define LOG_INFO(comp, ...) rn_log(RN_LOG_INFO, comp, __VA_ARGS__)
#define LOG_WARN(comp, ...) rn_log(RN_LOG_WARN, comp, __VA_ARGS__)
#define LOG_ERROR(comp, ...) rn_log(RN_LOG_ERROR, comp, __VA_ARGS__)

#endif
