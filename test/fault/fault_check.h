/* fault_check.h: the failure-injection checker: unique records, a whole cluster, verification. */
#ifndef RUNNEL_TEST_FAULT_CHECK_H
#define RUNNEL_TEST_FAULT_CHECK_H

/*
 * fault-check has three commands.  `produce` sends records with unique ids
 * (acks=all) and writes every acknowledgement to a state file; `whole` waits
 * until a topic is fully replicated again; `verify` reads the topic back and
 * compares it with the state file.  A record's id is its sequence number
 * within one produce run: the value is "<run id>:<seq>:" plus padding and
 * the key is the decimal seq, so records of other runs in the same topic
 * are recognised and left out.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/limits.h"

/* Records one run produces and verify tracks at most: the per-id tables
 * take 16 bytes an id, so this bounds them near 160 MB. */
#define FC_MAX_RECORDS 10000000u
/* Partitions of the checked topic at most. */
#define FC_MAX_PARTITIONS RN_MAX_PARTITIONS_PER_TOPIC
/* Distinct error names counted in a summary at most; later kinds are
 * added to the last one, "OTHER". */
#define FC_MAX_ERROR_KINDS 32
#define FC_ERROR_NAME_LEN 48
/* Example ids listed per problem in a report. */
#define FC_MAX_EXAMPLES 20
/* A run id: hex wall-clock ms, '-', the process id. */
#define FC_RUN_ID_LEN 48
/* The longest state file line accepted. */
#define FC_MAX_LINE 512

/* Exit codes shared by the commands. */
#define FC_EXIT_OK 0
#define FC_EXIT_FAILED 1
#define FC_EXIT_USAGE 2

/* What the state file says about one id. */
#define FC_REC_PENDING (-1) /* sent, no answer (yet) */
#define FC_REC_FAILED (-2)  /* delivery failed or the send was refused */

/* ------------------------------------------------------------ error tally */

struct fc_error_kind {
	char name[FC_ERROR_NAME_LEN];
	uint64_t count;
};

/* Failed deliveries counted by error name. */
struct fc_error_tally {
	struct fc_error_kind kinds[FC_MAX_ERROR_KINDS];
	size_t count;
};

/* Adds n failures named name (an rn_errname). */
void fc_tally_add(struct fc_error_tally *t, const char *name, uint64_t n);
/* Total failures counted. */
uint64_t fc_tally_total(const struct fc_error_tally *t);
/* Writes "NAME=N NAME=N" (or "none") to out. */
void fc_tally_print(const struct fc_error_tally *t, FILE *out);

/* -------------------------------------------------------------- id tables */

/* The outcome of every id of a run, indexed by id: partition is the
 * partition it was acknowledged in, or FC_REC_PENDING / FC_REC_FAILED;
 * offset is its acknowledged offset (-1 otherwise). */
struct fc_records {
	int32_t *partition;
	int64_t *offset;
	size_t count; /* ids 0..count-1 are known */
	size_t cap;
};

/* Makes ids 0..n-1 known (new ones pending).  Returns 0, RN_E_FULL (n over
 * FC_MAX_RECORDS) or RN_E_NOMEM. */
int fc_records_extend(struct fc_records *r, size_t n);
void fc_records_free(struct fc_records *r);

/* ---------------------------------------------------------------- state */

/* The summary of a produce run. */
struct fc_produce_stats {
	uint64_t sent;
	uint64_t acknowledged;
	uint64_t failed;
	uint64_t unresolved; /* neither acknowledged nor failed when the run ended */
	/* The longest time without an acknowledgement (between two, from the
	 * start to the first, or from the last to the end of sending), and
	 * when it began, in ms since the run started; -1 when not known. */
	int64_t longest_unavailable_ms;
	int64_t longest_unavailable_at_ms;
	int64_t duration_ms;
	struct fc_error_tally errors;
};

/* A state file as verify reads it. */
struct fc_state {
	char run_id[FC_RUN_ID_LEN];
	char topic[RN_MAX_TOPIC_NAME_LEN + 1];
	/* 1 when the producer finished and wrote its summary; 0 for the
	 * journal of a producer that was killed (stats derived from the
	 * lines, timings unknown). */
	int complete;
	struct fc_records rec;
	struct fc_produce_stats stats;
};

/* The journal a producer appends to while it runs. */
struct fc_journal {
	FILE *f;
	const char *path;
};

/* Creates (truncates) path and writes the header.  Returns 0 or RN_E_IO. */
int fc_journal_open(struct fc_journal *j, const char *path, const char *run_id, const char *topic);
void fc_journal_ack(struct fc_journal *j, uint64_t id, int32_t partition, int64_t offset);
void fc_journal_fail(struct fc_journal *j, uint64_t id, const char *err_name);
/* Pushes buffered lines to the file.  Returns 0 or RN_E_IO. */
int fc_journal_flush(struct fc_journal *j);
void fc_journal_close(struct fc_journal *j);

/* Replaces path atomically (a temporary file, fsync, rename) with the full
 * state: every id's outcome in id order and the stats.  Returns 0 or
 * RN_E_IO. */
int fc_state_write(const char *path, const char *run_id, const char *topic,
		   const struct fc_records *rec, const struct fc_produce_stats *st);

/* Reads a full state file or a journal into st (free with
 * fc_state_free).  Returns 0, RN_E_IO (unreadable), RN_E_CORRUPT_STATE (not
 * a state file, or a bad line; a message goes to stderr), RN_E_FULL or
 * RN_E_NOMEM. */
int fc_state_load(const char *path, struct fc_state *st);
void fc_state_free(struct fc_state *st);

/* ---------------------------------------------------------- verify result */

/* What an acknowledged offset was found to hold, besides an id. */
#define FC_FOUND_NOTHING (-1) /* nothing was read there */
#define FC_FOUND_OTHER (-2)   /* a record of another run, or not a checker record */

/* One id worth showing in a report. */
struct fc_example {
	uint64_t id;
	int32_t partition; /* where it was acknowledged (or read) */
	int64_t offset;
	int64_t found; /* conflicts: what that offset holds (an id or FC_FOUND_*) */
};

struct fc_examples {
	struct fc_example ex[FC_MAX_EXAMPLES];
	size_t count;
};

/* Keeps the first FC_MAX_EXAMPLES examples. */
void fc_examples_add(struct fc_examples *e, uint64_t id, int32_t partition, int64_t offset,
		     int64_t found);

/* Counts of one partition. */
struct fc_part_result {
	int64_t log_start;      /* -1: not known */
	int64_t high_watermark; /* -1: not known */
	int complete;           /* read from log_start up to high_watermark */
	uint64_t acknowledged;  /* ids acknowledged in this partition */
	uint64_t read;          /* ids of the run first read here */
	uint64_t records;       /* records read here, any run */
	uint64_t other;         /* records of other runs or not from the checker */
	uint64_t lost;
	uint64_t duplicated;
	uint64_t out_of_order;
	uint64_t conflicts;
};

struct fc_verify_result {
	const struct fc_state *state;
	const char *topic;
	int32_t partition_count;
	struct fc_part_result *parts;
	uint64_t acknowledged;
	uint64_t read;         /* distinct ids of the run read */
	uint64_t records_read; /* records read, any run, duplicates included */
	uint64_t other_records;
	uint64_t lost;         /* acknowledged, never read */
	uint64_t duplicated;   /* ids read at more than one offset */
	uint64_t out_of_order; /* first occurrences after a higher id in their partition */
	uint64_t conflicts;    /* the acknowledged offset does not hold the id */
	uint64_t unreadable;   /* partitions not read completely */
	uint64_t lost_unreadable; /* of the lost, those in partitions not read completely */
	uint64_t failed_present;  /* ids whose delivery failed, read anyway */
	uint64_t unanswered_present; /* ids never answered, read anyway */
	int64_t whole_ms;     /* from --whole-ms; -1 when not given */
	int64_t read_ms;      /* how long reading took */
	struct fc_examples lost_ex, conflict_ex, order_ex, duplicate_ex;
	int fail_on_duplicates;
	int ok;
};

/* Prints the result as an aligned two-column table. */
void fc_report_print(const struct fc_verify_result *v, FILE *out);
/* Writes the result as JSON to path.  Returns 0 or RN_E_IO. */
int fc_report_write_json(const struct fc_verify_result *v, const char *path);

/* -------------------------------------------------------------- commands */

/* Each takes the arguments after its name (argv[0] is the command) and
 * returns the process exit code. */
int fc_cmd_produce(int argc, char **argv);
int fc_cmd_whole(int argc, char **argv);
int fc_cmd_verify(int argc, char **argv);

/* Parses a decimal integer in [min, max].  Returns 0 or RN_E_INVAL. */
int fc_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Prints "fault-check CMD: message" to stderr and returns FC_EXIT_USAGE. */
int fc_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sleeps ms milliseconds (returns early on a signal). */
void fc_sleep_ms(int64_t ms);

#endif
