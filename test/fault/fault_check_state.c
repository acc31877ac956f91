/* fault_check_state.c: the checker's state file: the journal, the final state, reading back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "test/fault/fault_check.h"

/*
 * The file is text, one fact per line:
 *
 *   runnel-fault-check-state 1
 *   run_id <id>
 *   topic <name>
 *   ack <id> <partition> <offset>      an acknowledged record
 *   fail <id> [<ERROR_NAME>]           a record whose delivery failed
 *   sent <n>                           \
 *   stats <key> <value> ...             | only in the final state, which
 *   error <ERROR_NAME> <n>              | the producer writes when it ends
 *   end                                /
 *
 * While the producer runs, the file is its journal: the header and then
 * ack and fail lines in the order the answers came, pushed to the file
 * every second.  When it ends, the journal is replaced (atomically) by the
 * final state, whose ack lines are in id order and whose last line is
 * "end".  A journal without "end" is the evidence of a producer that was
 * killed; verify accepts it and says so.
 */

#define STATE_MAGIC "runnel-fault-check-state 1"

int fc_journal_open(struct fc_journal *j, const char *path, const char *run_id, const char *topic)
{
	j->path = path;
	j->f = fopen(path, "w");
	if (!j->f) {
		fprintf(stderr, "fault-check: cannot create %s: %s\n", path, strerror(errno));
		return RN_E_IO;
	}
	fprintf(j->f, "%s\nrun_id %s\ntopic %s\n", STATE_MAGIC, run_id, topic);
	return fc_journal_flush(j);
}

void fc_journal_ack(struct fc_journal *j, uint64_t id, int32_t partition, int64_t offset)
{
	if (j->f)
		fprintf(j->f, "ack %llu %d %lld\n", (unsigned long long)id, partition,
			(long long)offset);
}

void fc_journal_fail(struct fc_journal *j, uint64_t id, const char *err_name)
{
	if (j->f)
		fprintf(j->f, "fail %llu %s\n", (unsigned long long)id, err_name);
}

int fc_journal_flush(struct fc_journal *j)
{
	if (!j->f)
		return 0;
	if (fflush(j->f) != 0) {
		fprintf(stderr, "fault-check: writing %s: %s\n", j->path, strerror(errno));
		return RN_E_IO;
	}
	return 0;
}

void fc_journal_close(struct fc_journal *j)
{
	if (j->f)
		fclose(j->f);
	j->f = NULL;
}

static void write_body(FILE *f, const char *run_id, const char *topic, const struct fc_records *rec,
		       const struct fc_produce_stats *st)
{
	fprintf(f, "%s\nrun_id %s\ntopic %s\n", STATE_MAGIC, run_id, topic);
	for (size_t i = 0; i < rec->count; i++) {
		if (rec->partition[i] >= 0)
			fprintf(f, "ack %zu %d %lld\n", i, rec->partition[i],
				(long long)rec->offset[i]);
		else if (rec->partition[i] == FC_REC_FAILED)
			fprintf(f, "fail %zu\n", i);
	}
	fprintf(f, "sent %llu\n", (unsigned long long)st->sent);
	fprintf(f,
		"stats acknowledged %llu failed %llu unresolved %llu longest_unavailable_ms %lld "
		"longest_unavailable_at_ms %lld duration_ms %lld\n",
		(unsigned long long)st->acknowledged, (unsigned long long)st->failed,
		(unsigned long long)st->unresolved, (long long)st->longest_unavailable_ms,
		(long long)st->longest_unavailable_at_ms, (long long)st->duration_ms);
	for (size_t i = 0; i < st->errors.count; i++)
		fprintf(f, "error %s %llu\n", st->errors.kinds[i].name,
			(unsigned long long)st->errors.kinds[i].count);
	fprintf(f, "end\n");
}

int fc_state_write(const char *path, const char *run_id, const char *topic,
		   const struct fc_records *rec, const struct fc_produce_stats *st)
{
	size_t n = strlen(path) + 8;
	char *tmp = malloc(n);
	if (!tmp)
		return RN_E_NOMEM;
	snprintf(tmp, n, "%s.tmp", path);
	int rc = RN_E_IO;
	FILE *f = fopen(tmp, "w");
	if (!f)
		goto out_msg;
	write_body(f, run_id, topic, rec, st);
	/* The rename must not expose a file whose data is not on disk yet. */
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		goto out_unlink;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		goto out_unlink;
	free(tmp);
	return 0;
out_unlink:
	unlink(tmp);
out_msg:
	fprintf(stderr, "fault-check: cannot write %s: %s\n", path, strerror(errno));
	free(tmp);
	return rc;
}

/* ------------------------------------------------------------- reading */

static int bad_line(const char *path, size_t lineno, const char *what)
{
	fprintf(stderr, "fault-check: %s:%zu: %s\n", path, lineno, what);
	return RN_E_CORRUPT_STATE;
}

/* Records one "ack" or "fail" line. */
static int load_outcome(struct fc_state *st, int is_ack, unsigned long long id, int partition,
			long long offset, const char *err_name)
{
	if (id >= FC_MAX_RECORDS)
		return RN_E_FULL;
	int rc = fc_records_extend(&st->rec, (size_t)id + 1);
	if (rc != 0)
		return rc;
	/* An acknowledgement is final: a later line cannot undo it. */
	if (st->rec.partition[id] >= 0)
		return 0;
	if (is_ack) {
		st->rec.partition[id] = partition;
		st->rec.offset[id] = offset;
		return 0;
	}
	if (st->rec.partition[id] == FC_REC_FAILED)
		return 0;
	st->rec.partition[id] = FC_REC_FAILED;
	if (err_name && *err_name)
		fc_tally_add(&st->stats.errors, err_name, 1);
	return 0;
}

/* Reads the "stats" line's key/value pairs. */
static int load_stats(struct fc_state *st, char *rest)
{
	char *save = NULL;
	for (char *k = strtok_r(rest, " \n", &save); k; k = strtok_r(NULL, " \n", &save)) {
		char *v = strtok_r(NULL, " \n", &save);
		if (!v)
			return RN_E_CORRUPT_STATE;
		long long n = strtoll(v, NULL, 10);
		struct fc_produce_stats *s = &st->stats;
		if (strcmp(k, "acknowledged") == 0)
			s->acknowledged = (uint64_t)n;
		else if (strcmp(k, "failed") == 0)
			s->failed = (uint64_t)n;
		else if (strcmp(k, "unresolved") == 0)
			s->unresolved = (uint64_t)n;
		else if (strcmp(k, "longest_unavailable_ms") == 0)
			s->longest_unavailable_ms = n;
		else if (strcmp(k, "longest_unavailable_at_ms") == 0)
			s->longest_unavailable_at_ms = n;
		else if (strcmp(k, "duration_ms") == 0)
			s->duration_ms = n;
	}
	return 0;
}

/* Interprets one line after the header.  Returns 0 or an error. */
static int load_line(struct fc_state *st, char *line, int *summary_errors)
{
	unsigned long long id, n;
	int partition;
	long long offset;
	char name[FC_ERROR_NAME_LEN] = "";
	if (strcmp(line, "end") == 0) {
		st->complete = 1;
		return 0;
	}
	if (sscanf(line, "ack %llu %d %lld", &id, &partition, &offset) == 3 && partition >= 0)
		return load_outcome(st, 1, id, partition, offset, NULL);
	if (sscanf(line, "fail %llu %47s", &id, name) >= 1)
		return load_outcome(st, 0, id, -1, -1, name);
	if (sscanf(line, "sent %llu", &n) == 1) {
		st->stats.sent = n;
		return n > FC_MAX_RECORDS ? RN_E_FULL : fc_records_extend(&st->rec, (size_t)n);
	}
	if (strncmp(line, "stats ", 6) == 0)
		return load_stats(st, line + 6);
	if (sscanf(line, "error %47s %llu", name, &n) == 2) {
		/* The summary's counts replace those of the fail lines, which
		 * in the final state carry no names. */
		if (!*summary_errors)
			memset(&st->stats.errors, 0, sizeof(st->stats.errors));
		*summary_errors = 1;
		fc_tally_add(&st->stats.errors, name, n);
		return 0;
	}
	return RN_E_CORRUPT_STATE;
}

/* Reads the three header lines. */
static int load_header(FILE *f, const char *path, struct fc_state *st)
{
	char line[FC_MAX_LINE];
	if (!fgets(line, sizeof(line), f) || strncmp(line, STATE_MAGIC, strlen(STATE_MAGIC)) != 0)
		return bad_line(path, 1, "not a fault-check state file");
	if (!fgets(line, sizeof(line), f) || sscanf(line, "run_id %47s", st->run_id) != 1)
		return bad_line(path, 2, "no run_id");
	if (!fgets(line, sizeof(line), f) || sscanf(line, "topic %249s", st->topic) != 1)
		return bad_line(path, 3, "no topic");
	return 0;
}

/* Fills in what a journal does not say from its lines. */
static void derive_stats(struct fc_state *st)
{
	struct fc_produce_stats *s = &st->stats;
	uint64_t acked = 0, failed = 0;
	for (size_t i = 0; i < st->rec.count; i++) {
		acked += st->rec.partition[i] >= 0;
		failed += st->rec.partition[i] == FC_REC_FAILED;
	}
	s->acknowledged = acked;
	if (!st->complete) {
		s->sent = st->rec.count;
		s->failed = failed;
		s->unresolved = s->sent - acked - failed;
		s->longest_unavailable_ms = -1;
		s->longest_unavailable_at_ms = -1;
		s->duration_ms = -1;
	}
}

int fc_state_load(const char *path, struct fc_state *st)
{
	memset(st, 0, sizeof(*st));
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "fault-check: cannot read %s: %s\n", path, strerror(errno));
		return RN_E_IO;
	}
	int rc = load_header(f, path, st);
	char line[FC_MAX_LINE];
	size_t lineno = 3;
	int summary_errors = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			/* A journal cut off by a kill may end in half a
			 * line: only the very last line may be incomplete. */
			if (fgetc(f) == EOF)
				break;
			rc = bad_line(path, lineno, "line too long");
			break;
		}
		line[len - 1] = '\0';
		if (st->complete) {
			rc = bad_line(path, lineno, "text after \"end\"");
			break;
		}
		rc = load_line(st, line, &summary_errors);
		if (rc == RN_E_CORRUPT_STATE)
			bad_line(path, lineno, "unrecognised line");
		else if (rc == RN_E_FULL)
			bad_line(path, lineno, "more ids than fault-check tracks");
	}
	fclose(f);
	if (rc != 0) {
		fc_state_free(st);
		return rc;
	}
	derive_stats(st);
	return 0;
}

void fc_state_free(struct fc_state *st)
{
	fc_records_free(&st->rec);
}
