/* cli.h: the runnel command-line tool: shared options, argument parsing and output helpers. */
#ifndef RUNNEL_CLIENTS_CLI_H
#define RUNNEL_CLIENTS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clients/runnel.h"

/* Exit codes: success, a failure the tool reports, a usage mistake. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2
/* cluster status only: the cluster answered but is not healthy. */
#define CLI_EXIT_UNHEALTHY 3

/* Environment variable holding the default bootstrap list. */
#define CLI_BOOTSTRAP_ENV "RUNNEL_BOOTSTRAP"

/* How long topic create and delete wait for the controller. */
#define CLI_ADMIN_TIMEOUT_MS 30000

/* Records asked from the consumer per poll, and the wait of one poll. */
#define CLI_CONSUME_BATCH 256
#define CLI_CONSUME_POLL_MS 200

/* Topics whose names start with this are internal (__consumer_offsets):
 * `topic list` shows them only with --all. */
#define CLI_INTERNAL_TOPIC_PREFIX "__"

/* Most -H and -c options one command takes. */
#define CLI_MAX_HEADERS 64
#define CLI_MAX_CONFIGS 64

/* Options common to every command. */
struct cli_global {
	const char *bootstrap;
};

/* Prints "runnel: WHAT: ERRNAME: message" to stderr. */
void cli_error(const char *what, int err, const char *message);

/* Prints "runnel: WHAT: message" to stderr (for usage mistakes). */
void cli_usage_error(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses the -o argument of consume: "beginning", "end", an offset
 * ("123"), "-N" (N before the end) or "@TIMESTAMP_MS".  Returns 0 or
 * RN_E_INVAL. */
int cli_parse_offset(const char *arg, struct runnel_position *out);

/* Parses a decimal integer in [min, max] with nothing after it.  Returns 0
 * or RN_E_INVAL. */
int cli_parse_int64(const char *arg, int64_t min, int64_t max, int64_t *out);

/* Parses --acks: "0", "1", "all" or "-1".  Returns 0 or RN_E_INVAL. */
int cli_parse_acks(const char *arg, int32_t *out);

/* Splits "KEY=VALUE" at the first '='; *key_len is the key's length and
 * *value points after the '='.  Returns 0, or RN_E_INVAL without '=' or
 * with an empty key. */
int cli_split_kv(const char *arg, size_t *key_len, const char **value);

/* Checks a consume format string: only %t %p %o %k %s %T %h %% and the
 * escapes \n \t \r \\ are known.  Returns 0 or RN_E_INVAL, with the bad
 * token's position in *bad_pos. */
int cli_format_check(const char *fmt, size_t *bad_pos);

/* Writes rec to out as fmt (already checked) says.  Null keys, values and
 * header values print as nothing. */
void cli_format_render(const char *fmt, const struct runnel_record *rec, FILE *out);

/* Writes s[0..len) as a JSON string literal with quotes and escapes. */
void cli_json_string(FILE *out, const char *s, size_t len);

/* ------------------------------------------------------- cluster status */

/* Lines in a verdict's problems and warnings lists at most (the last one
 * says how many more were left out), and the length of one line. */
#define CLI_STATUS_MAX_LINES 64
#define CLI_STATUS_LINE_LEN 512
/* Partitions named in one problem line before "...". */
#define CLI_STATUS_NAMES_PER_LINE 5
/* A voter or observer the leader has not heard from for this long is worth
 * a warning: a healthy member is contacted every heartbeat. */
#define CLI_STATUS_STALE_CONTACT_MS 5000

/*
 * What is wrong with a cluster.  Problems make it unhealthy: no quorum
 * leader (or one that does not answer), a fenced broker, no broker at all,
 * an offline partition.  Warnings do not: under-replicated partitions, a
 * quorum member the leader has not heard from lately.
 */
struct cli_status_verdict {
	int healthy;
	size_t problem_count;
	char problems[CLI_STATUS_MAX_LINES][CLI_STATUS_LINE_LEN];
	size_t warning_count;
	char warnings[CLI_STATUS_MAX_LINES][CLI_STATUS_LINE_LEN];
};

/* Fills v from st; pure, no I/O. */
void cli_status_assess(const struct runnel_cluster_status *st, struct cli_status_verdict *v);

/* Writes st and v as readable text, or as one JSON object on one line
 * (the fields are listed in docs/cli.md). */
void cli_status_print_text(FILE *out, const struct runnel_cluster_status *st,
			   const struct cli_status_verdict *v);
void cli_status_print_json(FILE *out, const struct runnel_cluster_status *st,
			   const struct cli_status_verdict *v);

/* -------------------------------------------------- cluster elect-leaders */

/* How long elect-leaders waits for the controller's answer. */
#define CLI_ELECT_TIMEOUT_MS 30000

/* Results of an election by outcome: the preferred replica leads now, it
 * already led, or it could not (any other error). */
struct cli_elect_counts {
	size_t elected;
	size_t not_needed;
	size_t failed;
};

/* Counts rs[0..n) by outcome into *out; pure. */
void cli_elect_count(const struct runnel_election_result *rs, size_t n,
		     struct cli_elect_counts *out);

/* Writes one line per result ("elected    orders-0", "not-needed orders-1",
 * "failed     orders-2  PREFERRED_LEADER_NOT_AVAILABLE: ...") and a
 * summary line; or one JSON object on one line (fields in docs/cli.md). */
void cli_elect_print_text(FILE *out, const struct runnel_election_result *rs, size_t n);
void cli_elect_print_json(FILE *out, const struct runnel_election_result *rs, size_t n);

/* ------------------------------------------------------- consumer groups */

/* How long `consume -g` waits for its final commit and LeaveGroup. */
#define CLI_GROUP_CLOSE_TIMEOUT_MS 10000

/* Where `group seek --to` moves the committed offsets. */
enum cli_seek_kind { CLI_SEEK_BEGINNING, CLI_SEEK_END, CLI_SEEK_OFFSET, CLI_SEEK_TIMESTAMP };

struct cli_seek_target {
	enum cli_seek_kind kind;
	int64_t value; /* the offset or the timestamp (ms) */
};

/* Parses "beginning", "end", "@TIMESTAMP_MS" or an offset.  Returns 0 or
 * RN_E_INVAL. */
int cli_parse_seek_target(const char *arg, struct cli_seek_target *out);

/* The offset a partition whose log runs from log_start to log_end (the
 * high watermark) moves to: an offset is kept within the log, and a
 * timestamp that matched no record (ts_offset -1) means the end.  Pure. */
int64_t cli_seek_new_offset(const struct cli_seek_target *t, int64_t log_start, int64_t log_end,
			    int64_t ts_offset);

/* `group list` output: a table (GROUP STATE COORDINATOR MEMBERS), or a
 * JSON array of {"group","state","coordinator","members","protocol_type"}
 * on one line. */
void cli_group_list_print_text(FILE *out, const struct runnel_group_listing *l, size_t n);
void cli_group_list_print_json(FILE *out, const struct runnel_group_listing *l, size_t n);

/* `group describe` output: a summary line and a table of partitions, or one
 * JSON object on one line (fields in docs/cli.md). */
void cli_group_describe_print_text(FILE *out, const struct runnel_group_info *g);
void cli_group_describe_print_json(FILE *out, const struct runnel_group_info *g);

/* Subcommands: argc/argv start at the command name ("topic", ...). */
int cli_topic_main(const struct cli_global *g, int argc, char **argv);
int cli_produce_main(const struct cli_global *g, int argc, char **argv);
int cli_consume_main(const struct cli_global *g, int argc, char **argv);
int cli_cluster_main(const struct cli_global *g, int argc, char **argv);
int cli_group_main(const struct cli_global *g, int argc, char **argv);

#endif
