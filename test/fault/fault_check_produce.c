/* fault_check_produce.c: `fault-check produce`: paced acks=all records with unique ids. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients/runnel.h"
#include "common/clock.h"
#include "common/errors.h"
#include "test/fault/fault_check.h"

static const char produce_usage[] =
	"usage: fault-check produce -b BOOTSTRAP -t TOPIC --state FILE [--duration-s S] [--rate N]\n"
	"                           [--max-in-flight N] [--delivery-timeout-ms MS]\n"
	"                           [--value-bytes N] [--no-idempotence]\n"
	"\n"
	"Sends records with unique ids (acks=all, retries on, idempotent: a retry never\n"
	"writes a record twice) at N records/s (default 1000)\n"
	"for S seconds (default 30) or until SIGTERM/SIGINT, then waits for the answers\n"
	"(at most the delivery timeout, default 120000 ms; a second signal stops waiting).\n"
	"FILE receives every acknowledged record as it is acknowledged, and the full state\n"
	"with the run's statistics at the end.  --max-in-flight is the number of requests\n"
	"pipelined on one connection (default 5 when idempotent, at most 5 then; 1 with\n"
	"--no-idempotence, which keeps order across retries).  --no-idempotence sends\n"
	"without a producer id (enable.idempotence=false): retries may then write records\n"
	"twice.  Without it the cluster must support idempotence, or every record fails.\n"
	"Exits 0 when the run completed (failed deliveries are counted, not fatal), 2 on\n"
	"usage errors or when the topic cannot be reached at all.\n";

/* Producer settings suited to faults: a request stuck on a dead or paused
 * node fails after this long and is retried elsewhere, instead of waiting
 * for the library's 30 s default. */
#define FC_PRODUCE_REQUEST_TIMEOUT_MS 10000
#define FC_PRODUCE_LINGER_MS 5
/*
 * While a leader is away its records wait in the producer, and the
 * producer charges each waiting batch at least batch_size bytes of its
 * buffer, however few records it holds: in an outage that is one record
 * per batch.  Small batches and a large buffer let a long outage queue up
 * (FC_PRODUCE_BUFFER_BYTES / FC_MIN_BATCH_BYTES records) instead of
 * stalling the other partitions; batches grow with the rate so that one
 * batch in flight per partition still carries 1/FC_BATCH_SHARE of a
 * second's records.
 */
#define FC_PRODUCE_BUFFER_BYTES (256u * 1024u * 1024u)
#define FC_MIN_BATCH_BYTES (4u * 1024u)
#define FC_MAX_BATCH_BYTES (64u * 1024u)
#define FC_BATCH_SHARE 50u
/* Bytes a record adds beyond its value, at most (key, lengths, header of
 * a one-record batch). */
#define FC_RECORD_OVERHEAD_BYTES 128u
#define FC_DEFAULT_RATE 1000
#define FC_MAX_RATE 1000000
#define FC_DEFAULT_DURATION_S 30
#define FC_MAX_DURATION_S (7 * 86400)
#define FC_DEFAULT_VALUE_BYTES 100
#define FC_MAX_VALUE_BYTES (64 * 1024)
/* How often the journal is pushed to the file, and progress printed. */
#define FC_JOURNAL_FLUSH_MS 1000
#define FC_PROGRESS_MS 5000
/* Records sent in one turn of the loop at most before the producer is
 * polled again, so that a burst after a stall does not starve the answers. */
#define FC_MAX_SENDS_PER_TURN 1000
/* The longest sleep between two turns of the loop: how late an answer
 * may be taken in, and so the resolution of the unavailability window. */
#define FC_MAX_TURN_MS 5
/* Extra time the final flush allows beyond the delivery timeout, so that
 * the producer's own expiry reports every record first. */
#define FC_FLUSH_MARGIN_MS 5000

struct produce_opts {
	const char *bootstrap;
	const char *topic;
	const char *state_path;
	int64_t duration_s;
	int64_t rate;
	int64_t max_in_flight; /* 0 until parsed: the default follows idempotence */
	int no_idempotence;
	int64_t delivery_timeout_ms;
	int64_t value_bytes;
};

/* The producer's sizes, derived from the options. */
struct produce_sizing {
	uint32_t batch_bytes;
	/* Records queued or in flight at most: the buffer holds this many
	 * even at one record per batch, so a send never waits for memory. */
	size_t max_backlog;
};

struct produce_run {
	struct produce_opts o;
	char run_id[FC_RUN_ID_LEN];
	runnel_producer *p;
	struct fc_records rec;
	struct fc_journal journal;
	struct fc_produce_stats st;
	int64_t start_ms;
	int64_t last_ack_ms;
	char *value;
	struct produce_sizing sizing;
	/* Time sending waited for a full backlog to shrink. */
	int64_t held_back_ms;
	int held_back;
};

/* Set by SIGTERM/SIGINT: the first stops sending, the second stops
 * waiting for answers. */
static volatile sig_atomic_t g_signals;

/* The delivery callback's run (one producer per process). */
static struct produce_run *g_run;

static void on_signal(int sig)
{
	(void)sig;
	g_signals++;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the producer's poll() returns at once. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* Updates the longest window without an acknowledgement, ending at now. */
static void note_gap(struct produce_run *r, int64_t now)
{
	int64_t gap = now - r->last_ack_ms;
	if (gap > r->st.longest_unavailable_ms) {
		r->st.longest_unavailable_ms = gap;
		r->st.longest_unavailable_at_ms = r->last_ack_ms - r->start_ms;
	}
}

static void record_failure(struct produce_run *r, uint64_t id, int err)
{
	r->rec.partition[id] = FC_REC_FAILED;
	r->st.failed++;
	fc_tally_add(&r->st.errors, rn_errname(err), 1);
	fc_journal_fail(&r->journal, id, rn_errname(err));
}

static void delivery_cb(void *opaque, int err, int32_t partition, int64_t offset)
{
	struct produce_run *r = g_run;
	uint64_t id = (uint64_t)(uintptr_t)opaque;
	if (err != 0) {
		record_failure(r, id, err);
		return;
	}
	int64_t now = rn_mono_ms();
	note_gap(r, now);
	r->last_ack_ms = now;
	r->rec.partition[id] = partition;
	r->rec.offset[id] = offset;
	r->st.acknowledged++;
	fc_journal_ack(&r->journal, id, partition, offset);
}

static int parse_num(const char *name, const char *arg, int64_t min, int64_t max, int64_t *out)
{
	if (fc_parse_int(arg, min, max, out) != 0)
		return fc_usage_error("produce", "%s wants a number from %lld to %lld, not \"%s\"",
				      name, (long long)min, (long long)max, arg);
	return 0;
}

/* Returns 0, FC_EXIT_USAGE, or -1 after printing help. */
static int parse_produce_opts(int argc, char **argv, struct produce_opts *o)
{
	static const struct option opts[] = {
		{"bootstrap", required_argument, NULL, 'b'},
		{"topic", required_argument, NULL, 't'},
		{"state", required_argument, NULL, 's'},
		{"duration-s", required_argument, NULL, 'd'},
		{"rate", required_argument, NULL, 'r'},
		{"max-in-flight", required_argument, NULL, 'm'},
		{"delivery-timeout-ms", required_argument, NULL, 'D'},
		{"value-bytes", required_argument, NULL, 'v'},
		{"no-idempotence", no_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch, rc = 0;
	while (rc == 0 && (ch = getopt_long(argc, argv, "b:t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			o->bootstrap = optarg;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 's':
			o->state_path = optarg;
			break;
		case 'd':
			rc = parse_num("--duration-s", optarg, 1, FC_MAX_DURATION_S, &o->duration_s);
			break;
		case 'r':
			rc = parse_num("--rate", optarg, 1, FC_MAX_RATE, &o->rate);
			break;
		case 'm':
			rc = parse_num("--max-in-flight", optarg, 1, RUNNEL_MAX_IN_FLIGHT_LIMIT,
				       &o->max_in_flight);
			break;
		case 'D':
			rc = parse_num("--delivery-timeout-ms", optarg, 1,
				       INT32_MAX - FC_FLUSH_MARGIN_MS, &o->delivery_timeout_ms);
			break;
		case 'v':
			rc = parse_num("--value-bytes", optarg, 0, FC_MAX_VALUE_BYTES,
				       &o->value_bytes);
			break;
		case 'I':
			o->no_idempotence = 1;
			break;
		case 'h':
			fputs(produce_usage, stdout);
			return -1;
		default:
			fputs(produce_usage, stderr);
			return FC_EXIT_USAGE;
		}
	}
	if (rc != 0)
		return rc;
	if (!o->bootstrap || !o->topic || !o->state_path || optind != argc)
		return fc_usage_error("produce", "needs -b BOOTSTRAP, -t TOPIC and --state FILE");
	if (o->max_in_flight == 0)
		o->max_in_flight = o->no_idempotence ? 1 : RUNNEL_IDEMPOTENCE_MAX_IN_FLIGHT;
	if (!o->no_idempotence && o->max_in_flight > RUNNEL_IDEMPOTENCE_MAX_IN_FLIGHT)
		return fc_usage_error("produce",
				      "--max-in-flight %lld: an idempotent producer keeps at most %d "
				      "(or give --no-idempotence)",
				      (long long)o->max_in_flight, RUNNEL_IDEMPOTENCE_MAX_IN_FLIGHT);
	return 0;
}

static struct produce_sizing size_producer(const struct produce_opts *o)
{
	struct produce_sizing z;
	uint64_t record = (uint64_t)o->value_bytes + FC_RUN_ID_LEN + FC_RECORD_OVERHEAD_BYTES;
	uint64_t batch = (uint64_t)o->rate * record / FC_BATCH_SHARE;
	if (batch < FC_MIN_BATCH_BYTES)
		batch = FC_MIN_BATCH_BYTES;
	if (batch > FC_MAX_BATCH_BYTES)
		batch = FC_MAX_BATCH_BYTES;
	z.batch_bytes = (uint32_t)batch;
	z.max_backlog = FC_PRODUCE_BUFFER_BYTES / (batch > record ? batch : record);
	return z;
}

static int open_producer(struct produce_run *r)
{
	struct runnel_producer_config cfg;
	runnel_producer_config_init(&cfg);
	r->sizing = size_producer(&r->o);
	cfg.batch_size = r->sizing.batch_bytes;
	cfg.buffer_memory = FC_PRODUCE_BUFFER_BYTES;
	cfg.client.bootstrap = r->o.bootstrap;
	cfg.client.client_id = "fault-check";
	cfg.client.max_in_flight = (int32_t)r->o.max_in_flight;
	cfg.client.request_timeout_ms = FC_PRODUCE_REQUEST_TIMEOUT_MS;
	cfg.acks = -1;
	cfg.linger_ms = FC_PRODUCE_LINGER_MS;
	cfg.delivery_timeout_ms = (int32_t)r->o.delivery_timeout_ms;
	/* Asked for explicitly: a cluster without it fails the run instead of
	 * a silent fallback that would make duplicates look like a bug. */
	cfg.enable_idempotence = r->o.no_idempotence ? 0 : 1;
	char why[256];
	int rc = runnel_producer_new(&cfg, &r->p);
	if (rc != 0) {
		if (runnel_producer_config_check(&cfg, why, sizeof(why)) == 0)
			snprintf(why, sizeof(why), "%s", rn_strerror(rc));
		return fc_usage_error("produce", "cannot create the producer: %s (bootstrap \"%s\")",
				      why, r->o.bootstrap);
	}
	return 0;
}

/* The value is "<run id>:<id>:" followed by padding up to --value-bytes. */
static int make_value_buffer(struct produce_run *r)
{
	size_t cap = (size_t)r->o.value_bytes + FC_RUN_ID_LEN + 32;
	r->value = malloc(cap);
	if (!r->value)
		return RN_E_NOMEM;
	memset(r->value, 'x', cap);
	return 0;
}

/* Sends record id.  Returns 0, or an error that ends the run (only for the
 * first record: the topic cannot be reached at all). */
static int send_one(struct produce_run *r, uint64_t id)
{
	char key[24];
	int key_len = snprintf(key, sizeof(key), "%" PRIu64, id);
	int prefix = snprintf(r->value, FC_RUN_ID_LEN + 32, "%s:%" PRIu64 ":", r->run_id, id);
	/* snprintf's terminator lands in the padding; put the padding back. */
	r->value[prefix] = 'x';
	size_t len = (size_t)prefix;
	if ((size_t)r->o.value_bytes > len)
		len = (size_t)r->o.value_bytes;
	int rc = fc_records_extend(&r->rec, (size_t)id + 1);
	if (rc != 0)
		return rc;
	r->st.sent++;
	rc = runnel_producer_send(r->p, r->o.topic, -1, key, key_len, r->value, (int32_t)len, NULL, 0,
				  -1, delivery_cb, (void *)(uintptr_t)id);
	if (rc == 0)
		return 0;
	if (id == 0) {
		fprintf(stderr, "fault-check produce: %s\n", runnel_producer_errmsg(r->p));
		return rc;
	}
	/* Refused without a callback: the record never left; count it as a
	 * failed delivery like any other. */
	record_failure(r, id, rc);
	return 0;
}

static void print_progress(struct produce_run *r, int64_t now, const char *phase)
{
	printf("[%6.1fs] %s: sent %llu acknowledged %llu failed %llu outstanding %zu longest "
	       "unavailable %lld ms%s\n",
	       (double)(now - r->start_ms) / 1000.0, phase, (unsigned long long)r->st.sent,
	       (unsigned long long)r->st.acknowledged, (unsigned long long)r->st.failed,
	       runnel_producer_outstanding(r->p), (long long)r->st.longest_unavailable_ms,
	       r->held_back ? " (backlog full: sending waits)" : "");
	fflush(stdout);
}

/* Lets the producer do what is ready: read answers, run callbacks, send.
 * The loop sleeps between turns itself, so that one wait serves the pacing
 * of sends, the journal flushes and the progress lines. */
static void turn(struct produce_run *r)
{
	runnel_producer_poll(r->p, 0);
}

/* Sends at the configured rate until the duration ends or a signal comes.
 * Returns 0 or the error of the first send. */
static int send_loop(struct produce_run *r)
{
	int64_t end = r->start_ms + r->o.duration_s * 1000;
	int64_t next_flush = r->start_ms + FC_JOURNAL_FLUSH_MS;
	int64_t next_progress = r->start_ms + FC_PROGRESS_MS;
	for (;;) {
		int64_t now = rn_mono_ms();
		if (g_signals || now >= end)
			break;
		/* Records due by now on a steady schedule from the start: a
		 * stall is followed by a catch-up burst, so the total matches
		 * the rate. */
		uint64_t due = (uint64_t)((now - r->start_ms) * r->o.rate / 1000) + 1;
		int n = 0;
		for (; r->st.sent < due && n < FC_MAX_SENDS_PER_TURN; n++) {
			/* A full backlog waits here, in this loop, where
			 * signals and progress are still seen. */
			if (runnel_producer_outstanding(r->p) >= r->sizing.max_backlog)
				break;
			if (r->st.sent >= FC_MAX_RECORDS) {
				printf("fault-check produce: stopping at %u records "
				       "(the most tracked)\n",
				       FC_MAX_RECORDS);
				return 0;
			}
			int rc = send_one(r, r->st.sent);
			if (rc != 0)
				return rc;
		}
		r->held_back = r->st.sent < due && n < FC_MAX_SENDS_PER_TURN;
		turn(r);
		now = rn_mono_ms();
		uint64_t rate = (uint64_t)r->o.rate;
		int64_t next_due = r->start_ms + (int64_t)((r->st.sent * 1000 + rate - 1) / rate);
		if (r->held_back) {
			fc_sleep_ms(FC_MAX_TURN_MS);
			r->held_back_ms += FC_MAX_TURN_MS;
		} else if (next_due > now) {
			int64_t nap = next_due - now;
			fc_sleep_ms(nap < FC_MAX_TURN_MS ? nap : FC_MAX_TURN_MS);
		}
		if (now >= next_flush) {
			fc_journal_flush(&r->journal);
			next_flush = now + FC_JOURNAL_FLUSH_MS;
		}
		if (now >= next_progress) {
			print_progress(r, now, "producing");
			next_progress = now + FC_PROGRESS_MS;
		}
	}
	return 0;
}

/* Waits for the answers to everything sent, bounded by the delivery
 * timeout; a second signal stops waiting. */
static void drain(struct produce_run *r)
{
	int64_t start = rn_mono_ms();
	int64_t deadline = start + r->o.delivery_timeout_ms + FC_FLUSH_MARGIN_MS;
	int64_t next_progress = start + FC_PROGRESS_MS;
	int64_t next_flush = start + FC_JOURNAL_FLUSH_MS;
	int signals_at_start = g_signals;
	while (runnel_producer_outstanding(r->p) > 0) {
		int64_t now = rn_mono_ms();
		if (now >= deadline || g_signals > signals_at_start)
			break;
		turn(r);
		fc_sleep_ms(FC_MAX_TURN_MS);
		now = rn_mono_ms();
		if (now >= next_flush) {
			fc_journal_flush(&r->journal);
			next_flush = now + FC_JOURNAL_FLUSH_MS;
		}
		if (now >= next_progress) {
			print_progress(r, now, "waiting for answers");
			next_progress = now + FC_PROGRESS_MS;
		}
	}
}

static void print_summary(const struct produce_run *r)
{
	printf("fault-check produce: run %s topic %s: sent %llu acknowledged %llu failed %llu (",
	       r->run_id, r->o.topic, (unsigned long long)r->st.sent,
	       (unsigned long long)r->st.acknowledged, (unsigned long long)r->st.failed);
	fc_tally_print(&r->st.errors, stdout);
	printf(") unresolved %llu longest unavailable %lld ms at %lld ms; held back %lld ms; "
	       "%.1f s; state %s\n",
	       (unsigned long long)r->st.unresolved, (long long)r->st.longest_unavailable_ms,
	       (long long)r->st.longest_unavailable_at_ms, (long long)r->held_back_ms,
	       (double)r->st.duration_ms / 1000.0, r->o.state_path);
	fflush(stdout);
}

/* Ends the run: the window since the last acknowledgement (up to the end
 * of sending) counts, unanswered records are counted, the state written. */
static int finish(struct produce_run *r, int64_t send_end_ms)
{
	note_gap(r, send_end_ms > r->last_ack_ms ? send_end_ms : r->last_ack_ms);
	r->st.duration_ms = rn_mono_ms() - r->start_ms;
	r->st.unresolved = r->st.sent - r->st.acknowledged - r->st.failed;
	fc_journal_flush(&r->journal);
	fc_journal_close(&r->journal);
	int rc = fc_state_write(r->o.state_path, r->run_id, r->o.topic, &r->rec, &r->st);
	print_summary(r);
	return rc;
}

static int run_produce(struct produce_run *r)
{
	snprintf(r->run_id, sizeof(r->run_id), "%" PRIx64 "-%d", (uint64_t)rn_wall_ms(),
		 (int)getpid());
	if (open_producer(r) != 0)
		return FC_EXIT_USAGE;
	if (make_value_buffer(r) != 0 ||
	    fc_journal_open(&r->journal, r->o.state_path, r->run_id, r->o.topic) != 0)
		return FC_EXIT_USAGE;
	printf("fault-check produce: run %s topic %s rate %lld/s for %lld s, state %s\n", r->run_id,
	       r->o.topic, (long long)r->o.rate, (long long)r->o.duration_s, r->o.state_path);
	fflush(stdout);
	install_signals();
	r->start_ms = rn_mono_ms();
	r->last_ack_ms = r->start_ms;
	int rc = send_loop(r);
	int64_t send_end = rn_mono_ms();
	if (rc != 0) {
		/* Nothing was sent: leave an empty journal as the state. */
		fc_journal_close(&r->journal);
		return FC_EXIT_USAGE;
	}
	drain(r);
	return finish(r, send_end) == 0 ? FC_EXIT_OK : FC_EXIT_USAGE;
}

int fc_cmd_produce(int argc, char **argv)
{
	struct produce_run r;
	memset(&r, 0, sizeof(r));
	r.o.duration_s = FC_DEFAULT_DURATION_S;
	r.o.rate = FC_DEFAULT_RATE;
	r.o.max_in_flight = 0;
	r.o.delivery_timeout_ms = RUNNEL_DEFAULT_DELIVERY_TIMEOUT_MS;
	r.o.value_bytes = FC_DEFAULT_VALUE_BYTES;
	int rc = parse_produce_opts(argc, argv, &r.o);
	if (rc != 0)
		return rc < 0 ? FC_EXIT_OK : rc;
	g_run = &r;
	rc = run_produce(&r);
	if (r.p)
		runnel_producer_free(r.p);
	fc_journal_close(&r.journal);
	fc_records_free(&r.rec);
	free(r.value);
	return rc;
}
