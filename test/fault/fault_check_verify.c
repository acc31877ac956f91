/* fault_check_verify.c: `fault-check verify`: reads a topic back, compares it with the state. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "test/fault/fault_check.h"

static const char verify_usage[] =
	"usage: fault-check verify -b BOOTSTRAP -t TOPIC --state FILE --report FILE [--whole-ms MS]\n"
	"                          [--fail-on-duplicates] [--timeout-s S]\n"
	"\n"
	"Reads every partition of TOPIC from its log start to its high watermark (taken\n"
	"first) and compares what it finds with the produce run's state FILE.  Prints a table\n"
	"and writes it as JSON to the report FILE.  Exits 1 when an acknowledged record is\n"
	"lost, records are out of order, an acknowledged offset holds another record, or a\n"
	"partition cannot be read within S seconds (default 120); with --fail-on-duplicates\n"
	"also when a record was written twice.  Exits 2 on usage or connection errors.\n";

/* Offsets verify keeps track of at most, over all partitions (8 bytes
 * each): the run's records plus what earlier runs left in the topic. */
#define FC_MAX_TOPIC_OFFSETS (2u * FC_MAX_RECORDS)
/* Records taken from the consumer per poll, and the poll's wait. */
#define FC_VERIFY_POLL_RECORDS 1024
#define FC_VERIFY_POLL_MS 500
#define FC_VERIFY_REQUEST_TIMEOUT_MS 10000
/* How often the partitions' offsets are asked for again while some are
 * unknown (their leader is down or moving). */
#define FC_VERIFY_RETRY_MS 500

/* What was read at one offset: an id of the run, or FC_FOUND_*. */
struct verify_part {
	int64_t *read_at; /* high_watermark - log_start entries */
	int64_t max_first_id;
};

struct verify_opts {
	const char *bootstrap;
	const char *topic;
	const char *state_path;
	const char *report_path;
	int64_t whole_ms;
	int64_t timeout_s;
	int fail_on_duplicates;
};

struct verify_run {
	struct verify_opts o;
	struct fc_state st;
	struct fc_verify_result v;
	struct verify_part *vp;
	uint32_t *read_count; /* per id: offsets it was read at */
	size_t read_count_len;
	int64_t deadline;
};

void fc_examples_add(struct fc_examples *e, uint64_t id, int32_t partition, int64_t offset,
		     int64_t found)
{
	if (e->count < FC_MAX_EXAMPLES)
		e->ex[e->count++] = (struct fc_example){id, partition, offset, found};
}

/* Returns 0, FC_EXIT_USAGE, or -1 after printing help. */
static int parse_verify_opts(int argc, char **argv, struct verify_opts *o)
{
	static const struct option opts[] = {
		{"bootstrap", required_argument, NULL, 'b'},
		{"topic", required_argument, NULL, 't'},
		{"state", required_argument, NULL, 's'},
		{"report", required_argument, NULL, 'R'},
		{"whole-ms", required_argument, NULL, 'W'},
		{"fail-on-duplicates", no_argument, NULL, 'F'},
		{"timeout-s", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "b:t:h", opts, NULL)) != -1) {
		if (ch == 'b') {
			o->bootstrap = optarg;
		} else if (ch == 't') {
			o->topic = optarg;
		} else if (ch == 's') {
			o->state_path = optarg;
		} else if (ch == 'R') {
			o->report_path = optarg;
		} else if (ch == 'F') {
			o->fail_on_duplicates = 1;
		} else if (ch == 'W') {
			if (fc_parse_int(optarg, 0, INT64_MAX / 2, &o->whole_ms) != 0)
				return fc_usage_error("verify", "--whole-ms wants ms, not \"%s\"", optarg);
		} else if (ch == 'T') {
			if (fc_parse_int(optarg, 1, 86400, &o->timeout_s) != 0)
				return fc_usage_error("verify", "--timeout-s wants s, not \"%s\"", optarg);
		} else if (ch == 'h') {
			fputs(verify_usage, stdout);
			return -1;
		} else {
			fputs(verify_usage, stderr);
			return FC_EXIT_USAGE;
		}
	}
	if (!o->bootstrap || !o->topic || !o->state_path || !o->report_path || optind != argc)
		return fc_usage_error("verify",
				      "needs -b BOOTSTRAP, -t TOPIC, --state FILE and --report FILE");
	return 0;
}

/* ---------------------------------------------------------- the offsets */

/* Takes the offsets a describe knows into the result; returns how many
 * partitions are still unknown. */
static int32_t take_offsets(struct verify_run *r, const struct runnel_topic_info *info)
{
	for (size_t i = 0; i < info->partition_count; i++) {
		const struct runnel_partition_info *pi = &info->partitions[i];
		if (pi->partition < 0 || pi->partition >= r->v.partition_count)
			continue;
		struct fc_part_result *pr = &r->v.parts[pi->partition];
		if (pr->high_watermark >= 0 || pi->log_start_offset < 0 || pi->high_watermark < 0)
			continue;
		pr->log_start = pi->log_start_offset;
		pr->high_watermark = pi->high_watermark;
	}
	int32_t unknown = 0;
	for (int32_t p = 0; p < r->v.partition_count; p++)
		unknown += r->v.parts[p].high_watermark < 0;
	return unknown;
}

/* Learns the partition count and each partition's log start and high
 * watermark, asking again while leaders are missing, for half the time
 * allowed: the other half is left for reading the partitions that are
 * known.  Returns 0 or FC_EXIT_USAGE (no answer at all, or no such topic). */
static int learn_offsets(struct verify_run *r, runnel_admin *a)
{
	int64_t now = rn_mono_ms();
	int64_t deadline = now + (r->deadline - now) / 2;
	for (;;) {
		struct runnel_topic_info *info = NULL;
		int rc = runnel_admin_describe_topic(a, r->o.topic, &info);
		if (rc == 0 && r->v.parts == NULL) {
			size_t n = info->partition_count;
			if (n == 0 || n > FC_MAX_PARTITIONS) {
				runnel_topic_info_free(info);
				return fc_usage_error("verify", "%s has %zu partitions (at most %u)",
						      r->o.topic, n, FC_MAX_PARTITIONS);
			}
			r->v.partition_count = (int32_t)info->partition_count;
			r->v.parts = calloc(info->partition_count, sizeof(*r->v.parts));
			r->vp = calloc(info->partition_count, sizeof(*r->vp));
			if (!r->v.parts || !r->vp) {
				runnel_topic_info_free(info);
				return fc_usage_error("verify", "out of memory");
			}
			for (size_t p = 0; p < info->partition_count; p++)
				r->v.parts[p].log_start = r->v.parts[p].high_watermark = -1;
		}
		int32_t unknown = rc == 0 ? take_offsets(r, info) : -1;
		if (info)
			runnel_topic_info_free(info);
		if (rc == RN_E_UNKNOWN_TOPIC_OR_PARTITION || (rc != 0 && rn_mono_ms() >= deadline))
			return fc_usage_error("verify", "describe %s: %s", r->o.topic,
					      runnel_admin_errmsg(a));
		if (unknown == 0 || (rc == 0 && rn_mono_ms() >= deadline))
			return 0;
		fc_sleep_ms(FC_VERIFY_RETRY_MS);
	}
}

/* Allocates the per-offset and per-id tables. */
static int make_tables(struct verify_run *r)
{
	uint64_t total = 0;
	for (int32_t p = 0; p < r->v.partition_count; p++) {
		struct fc_part_result *pr = &r->v.parts[p];
		r->vp[p].max_first_id = -1;
		if (pr->high_watermark < 0)
			continue;
		if (pr->log_start > pr->high_watermark)
			pr->log_start = pr->high_watermark;
		total += (uint64_t)(pr->high_watermark - pr->log_start);
	}
	if (total > FC_MAX_TOPIC_OFFSETS)
		return fc_usage_error("verify", "%s holds %llu records, more than %u", r->o.topic,
				      (unsigned long long)total, FC_MAX_TOPIC_OFFSETS);
	for (int32_t p = 0; p < r->v.partition_count; p++) {
		struct fc_part_result *pr = &r->v.parts[p];
		size_t n = 0;
		if (pr->high_watermark > pr->log_start)
			n = (size_t)(pr->high_watermark - pr->log_start);
		r->vp[p].read_at = malloc((n ? n : 1) * sizeof(int64_t));
		if (!r->vp[p].read_at)
			return fc_usage_error("verify", "out of memory");
		for (size_t i = 0; i < n; i++)
			r->vp[p].read_at[i] = FC_FOUND_NOTHING;
	}
	r->read_count_len = r->st.rec.count;
	r->read_count = calloc(r->read_count_len ? r->read_count_len : 1, sizeof(*r->read_count));
	if (!r->read_count)
		return fc_usage_error("verify", "out of memory");
	return 0;
}

/* ------------------------------------------------------------- reading */

/* Parses a value "<run id>:<id>:..." of this run.  Returns the id, or -1
 * for a record of another run or not from the checker. */
static int64_t record_id(const struct verify_run *r, const struct runnel_record *rec)
{
	size_t idlen = strlen(r->st.run_id);
	const char *v = rec->value;
	if (!v || rec->value_len < 0 || (size_t)rec->value_len < idlen + 3 ||
	    memcmp(v, r->st.run_id, idlen) != 0 || v[idlen] != ':')
		return -1;
	uint64_t id = 0;
	size_t i = idlen + 1, digits = 0;
	while (i < (size_t)rec->value_len && v[i] >= '0' && v[i] <= '9' && digits < 19) {
		id = id * 10 + (uint64_t)(v[i++] - '0');
		digits++;
	}
	if (digits == 0 || i >= (size_t)rec->value_len || v[i] != ':' || id >= FC_MAX_RECORDS)
		return -1;
	return (int64_t)id;
}

/* Makes room in the id tables for id (a record the state file does not
 * know of, from the lost tail of a journal).  Returns 0 or RN_E_NOMEM. */
static int grow_ids(struct verify_run *r, uint64_t id)
{
	int rc = fc_records_extend(&r->st.rec, (size_t)id + 1);
	if (rc != 0)
		return rc;
	if (r->st.rec.count <= r->read_count_len)
		return 0;
	uint32_t *n = realloc(r->read_count, r->st.rec.count * sizeof(*n));
	if (!n)
		return RN_E_NOMEM;
	memset(n + r->read_count_len, 0, (r->st.rec.count - r->read_count_len) * sizeof(*n));
	r->read_count = n;
	r->read_count_len = r->st.rec.count;
	return 0;
}

/* Takes one consumed record into the tables. */
static void take_record(struct verify_run *r, const struct runnel_record *rec)
{
	int32_t p = rec->partition;
	if (p < 0 || p >= r->v.partition_count)
		return;
	struct fc_part_result *pr = &r->v.parts[p];
	if (pr->high_watermark < 0 || rec->offset < pr->log_start || rec->offset >= pr->high_watermark)
		return;
	int64_t *slot = &r->vp[p].read_at[rec->offset - pr->log_start];
	if (*slot != FC_FOUND_NOTHING)
		return; /* read again after a retry: not a second copy */
	pr->records++;
	r->v.records_read++;
	int64_t id = record_id(r, rec);
	if (id < 0 || grow_ids(r, (uint64_t)id) != 0) {
		*slot = FC_FOUND_OTHER;
		pr->other++;
		r->v.other_records++;
		return;
	}
	*slot = id;
	uint32_t seen = ++r->read_count[id];
	if (seen == 2) {
		pr->duplicated++;
		r->v.duplicated++;
		fc_examples_add(&r->v.duplicate_ex, (uint64_t)id, p, rec->offset, -1);
	}
	if (seen != 1)
		return;
	pr->read++;
	r->v.read++;
	if (id < r->vp[p].max_first_id) {
		pr->out_of_order++;
		r->v.out_of_order++;
		fc_examples_add(&r->v.order_ex, (uint64_t)id, p, rec->offset, r->vp[p].max_first_id);
	} else {
		r->vp[p].max_first_id = id;
	}
}

/* Marks partitions whose position reached their high watermark; returns
 * how many are still incomplete. */
static int32_t update_complete(struct verify_run *r, runnel_consumer *c)
{
	int32_t left = 0;
	for (int32_t p = 0; p < r->v.partition_count; p++) {
		struct fc_part_result *pr = &r->v.parts[p];
		int64_t pos = -1, hw = -1;
		if (!pr->complete && pr->high_watermark >= 0 &&
		    (pr->high_watermark == pr->log_start ||
		     (runnel_consumer_position(c, r->o.topic, p, &pos, &hw) == 0 &&
		      pos >= pr->high_watermark)))
			pr->complete = 1;
		left += !pr->complete;
	}
	return left;
}

static int open_consumer(struct verify_run *r, runnel_consumer **out)
{
	struct runnel_consumer_config cfg;
	runnel_consumer_config_init(&cfg);
	cfg.client.bootstrap = r->o.bootstrap;
	cfg.client.client_id = "fault-check-verify";
	cfg.client.request_timeout_ms = FC_VERIFY_REQUEST_TIMEOUT_MS;
	cfg.fetch_max_wait_ms = FC_VERIFY_POLL_MS;
	/* An offset that retention removed meanwhile: start at the oldest. */
	cfg.auto_offset_reset = RUNNEL_RESET_EARLIEST;
	int rc = runnel_consumer_new(&cfg, out);
	if (rc != 0)
		return fc_usage_error("verify", "cannot create the consumer: %s", rn_strerror(rc));
	rc = runnel_consumer_assign(*out, r->o.topic, NULL, 0);
	for (int32_t p = 0; rc == 0 && p < r->v.partition_count; p++) {
		const struct fc_part_result *pr = &r->v.parts[p];
		struct runnel_position from = {RUNNEL_POS_OFFSET, pr->log_start};
		if (pr->high_watermark > pr->log_start)
			rc = runnel_consumer_seek(*out, r->o.topic, p, from);
	}
	if (rc != 0)
		return fc_usage_error("verify", "assign %s: %s", r->o.topic,
				      runnel_consumer_errmsg(*out));
	return 0;
}

/* Reads every partition up to its high watermark, or until the deadline.
 * Returns 0 or FC_EXIT_USAGE. */
static int read_topic(struct verify_run *r)
{
	runnel_consumer *c = NULL;
	int rc = open_consumer(r, &c);
	struct runnel_record *recs = calloc(FC_VERIFY_POLL_RECORDS, sizeof(*recs));
	if (rc == 0 && !recs)
		rc = fc_usage_error("verify", "out of memory");
	int last_err = 0;
	while (rc == 0 && update_complete(r, c) > 0 && rn_mono_ms() < r->deadline) {
		size_t n = 0;
		int prc = runnel_consumer_poll(c, FC_VERIFY_POLL_MS, recs, FC_VERIFY_POLL_RECORDS, &n);
		if (prc != 0 && prc != last_err) {
			/* The partitions left are reported as unreadable. */
			fprintf(stderr, "fault-check verify: reading %s: %s\n", r->o.topic,
				runnel_consumer_errmsg(c));
			last_err = prc;
			fc_sleep_ms(FC_VERIFY_RETRY_MS);
		}
		for (size_t i = 0; i < n; i++)
			take_record(r, &recs[i]);
	}
	free(recs);
	if (c)
		runnel_consumer_free(c);
	return rc;
}

/* ----------------------------------------------------------- comparing */

/* Compares each acknowledged id with what was read. */
static void compare(struct verify_run *r)
{
	const struct fc_records *rec = &r->st.rec;
	for (size_t id = 0; id < rec->count; id++) {
		uint32_t reads = id < r->read_count_len ? r->read_count[id] : 0;
		int32_t p = rec->partition[id];
		if (p == FC_REC_FAILED)
			r->v.failed_present += reads > 0;
		if (p == FC_REC_PENDING)
			r->v.unanswered_present += reads > 0;
		if (p < 0)
			continue;
		int64_t off = rec->offset[id];
		struct fc_part_result *pr = p < r->v.partition_count ? &r->v.parts[p] : NULL;
		int64_t found = FC_FOUND_NOTHING;
		if (pr && pr->high_watermark >= 0 && off >= pr->log_start && off < pr->high_watermark)
			found = r->vp[p].read_at[off - pr->log_start];
		r->v.acknowledged++;
		if (pr)
			pr->acknowledged++;
		/* The acknowledged offset holds another record, or nothing
		 * while the record sits elsewhere. */
		if (found != (int64_t)id && (found != FC_FOUND_NOTHING || reads > 0)) {
			r->v.conflicts++;
			if (pr)
				pr->conflicts++;
			fc_examples_add(&r->v.conflict_ex, id, p, off, found);
		}
		if (reads == 0) {
			r->v.lost++;
			r->v.lost_unreadable += pr && !pr->complete;
			if (pr)
				pr->lost++;
			fc_examples_add(&r->v.lost_ex, id, p, off, found);
		}
	}
	for (int32_t p = 0; p < r->v.partition_count; p++)
		r->v.unreadable += !r->v.parts[p].complete;
	r->v.ok = r->v.lost == 0 && r->v.out_of_order == 0 && r->v.conflicts == 0 &&
		  r->v.unreadable == 0 && (!r->o.fail_on_duplicates || r->v.duplicated == 0);
}

static int run_verify(struct verify_run *r)
{
	if (fc_state_load(r->o.state_path, &r->st) != 0)
		return FC_EXIT_USAGE;
	if (strcmp(r->st.topic, r->o.topic) != 0)
		return fc_usage_error("verify", "%s is the state of topic %s, not %s", r->o.state_path,
				      r->st.topic, r->o.topic);
	if (!r->st.complete)
		fprintf(stderr, "fault-check verify: %s is the journal of a producer that did not "
				"finish; verifying the acknowledgements it holds\n",
			r->o.state_path);
	struct runnel_client_config cfg;
	runnel_client_config_init(&cfg);
	cfg.bootstrap = r->o.bootstrap;
	cfg.client_id = "fault-check-verify";
	cfg.request_timeout_ms = FC_VERIFY_REQUEST_TIMEOUT_MS;
	runnel_admin *a = NULL;
	if (runnel_admin_new(&cfg, &a) != 0)
		return fc_usage_error("verify", "bad bootstrap list \"%s\"", r->o.bootstrap);
	int64_t start = rn_mono_ms();
	r->deadline = start + r->o.timeout_s * 1000;
	int rc = learn_offsets(r, a);
	runnel_admin_free(a);
	if (rc == 0)
		rc = make_tables(r);
	if (rc == 0)
		rc = read_topic(r);
	if (rc != 0)
		return rc;
	r->v.read_ms = rn_mono_ms() - start;
	compare(r);
	fc_report_print(&r->v, stdout);
	if (fc_report_write_json(&r->v, r->o.report_path) != 0)
		return FC_EXIT_USAGE;
	return r->v.ok ? FC_EXIT_OK : FC_EXIT_FAILED;
}

int fc_cmd_verify(int argc, char **argv)
{
	struct verify_run r;
	memset(&r, 0, sizeof(r));
	r.o.whole_ms = -1;
	r.o.timeout_s = 120;
	int rc = parse_verify_opts(argc, argv, &r.o);
	if (rc != 0)
		return rc < 0 ? FC_EXIT_OK : rc;
	r.v.state = &r.st;
	r.v.topic = r.o.topic;
	r.v.whole_ms = r.o.whole_ms;
	r.v.fail_on_duplicates = r.o.fail_on_duplicates;
	rc = run_verify(&r);
	for (int32_t p = 0; r.vp && p < r.v.partition_count; p++)
		free(r.vp[p].read_at);
	free(r.vp);
	free(r.v.parts);
	free(r.read_count);
	fc_state_free(&r.st);
	return rc;
}
