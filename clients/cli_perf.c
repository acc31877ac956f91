/* cli_perf.c: runnel perf: options, and the produce and consume benchmarks. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli_perf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/rn_assert.h"

static const char perf_usage[] =
	"usage: runnel perf produce TOPIC --records N --record-size BYTES [--acks 0|1|all]\n"
	"                   [--batch-size BYTES] [--linger-ms MS] [--throughput RECORDS_PER_SEC]\n"
	"                   [--format text|json] [-X KEY=VALUE]...\n"
	"       runnel perf consume TOPIC --records N [--timeout-ms MS] [--format text|json]\n"
	"                   [-X KEY=VALUE]...\n"
	"       runnel perf e2e TOPIC --records N --throughput RECORDS_PER_SEC\n"
	"                   [--record-size BYTES] [--acks 0|1|all] [--batch-size BYTES]\n"
	"                   [--linger-ms MS] [--timeout-ms MS] [--format text|json]\n"
	"                   [-X KEY=VALUE]...\n"
	"\n"
	"produce  sends N keyless records of BYTES bytes (one random payload) and reports the\n"
	"         throughput and the latency from send to acknowledgement; progress every 5 s\n"
	"         on stderr, the result on stdout\n"
	"consume  reads N records from the earliest offset of every partition\n"
	"e2e      produces at a fixed rate while consuming, and reports the latency from send\n"
	"         to receipt (each record carries its send time in its first 8 bytes)\n"
	"\n"
	"  --records N          how many records (required)\n"
	"  --record-size BYTES  payload size (produce: required; e2e: default 100, at least 8)\n"
	"  --acks 0|1|all       acknowledgement level (default all)\n"
	"  --batch-size BYTES   producer batch size (default 65536)\n"
	"  --linger-ms MS       how long a batch waits for more records (default 5)\n"
	"  --throughput R       records per second at most (produce: -1, the default, is\n"
	"                       as fast as possible)\n"
	"  --timeout-ms MS      consume, e2e: give up when no record arrives for this long\n"
	"                       (default 10000)\n"
	"  --format text|json   the result as text lines (default) or one JSON object\n"
	"  -X KEY=VALUE         a producer or consumer setting by its Kafka name (repeatable):\n"
	"                       acks, batch.size, linger.ms, compression.type (none, lz4, zstd),\n"
	"                       buffer.memory, max.request.size, enable.idempotence (true by\n"
	"                       default, as in the library; false turns it off),\n"
	"                       max.in.flight.requests.per.connection, delivery.timeout.ms,\n"
	"                       fetch.max.bytes, max.partition.fetch.bytes, fetch.max.wait.ms,\n"
	"                       ... (see docs/cli.md)\n"
	"Exits 0 when every record was delivered (and, for consume and e2e, received).\n";

/* Which options each mode takes. */
enum perf_opt_bit {
	OPT_RECORDS = 1 << 0,
	OPT_RECORD_SIZE = 1 << 1,
	OPT_ACKS = 1 << 2,
	OPT_BATCH_SIZE = 1 << 3,
	OPT_LINGER = 1 << 4,
	OPT_THROUGHPUT = 1 << 5,
	OPT_TIMEOUT = 1 << 6,
};

#define PRODUCER_OPTS (OPT_ACKS | OPT_BATCH_SIZE | OPT_LINGER)

struct mode_rules {
	const char *name;
	unsigned allowed;
	unsigned required;
};

static const struct mode_rules modes[] = {
	{"produce", OPT_RECORDS | OPT_RECORD_SIZE | OPT_THROUGHPUT | PRODUCER_OPTS,
	 OPT_RECORDS | OPT_RECORD_SIZE},
	{"consume", OPT_RECORDS | OPT_TIMEOUT, OPT_RECORDS},
	{"e2e", OPT_RECORDS | OPT_RECORD_SIZE | OPT_THROUGHPUT | OPT_TIMEOUT | PRODUCER_OPTS,
	 OPT_RECORDS | OPT_THROUGHPUT},
};

/* Indexed by bit number. */
static const char *const opt_names[] = {
	"--records",   "--record-size", "--acks",       "--batch-size",
	"--linger-ms", "--throughput",  "--timeout-ms",
};

static const struct option long_opts[] = {
	{"records", required_argument, NULL, 'n'},
	{"record-size", required_argument, NULL, 's'},
	{"acks", required_argument, NULL, 'a'},
	{"batch-size", required_argument, NULL, 'B'},
	{"linger-ms", required_argument, NULL, 'L'},
	{"throughput", required_argument, NULL, 't'},
	{"timeout-ms", required_argument, NULL, 'T'},
	{"format", required_argument, NULL, 'f'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Parses a number option into *out.  Returns 0 or CLI_EXIT_USAGE. */
static int number_opt(const char *name, const char *arg, int64_t min, int64_t max, int64_t *out)
{
	if (cli_parse_int64(arg, min, max, out) == 0)
		return 0;
	cli_usage_error("perf", "%s wants a number from %lld to %lld, not \"%s\"", name,
			(long long)min, (long long)max, arg);
	return CLI_EXIT_USAGE;
}

/* Handles one option character.  Returns 0, CLI_EXIT_USAGE, or -1 after
 * printing help. */
static int take_opt(int ch, struct perf_opts *o, unsigned *given)
{
	switch (ch) {
	case 'n':
		*given |= OPT_RECORDS;
		return number_opt("--records", optarg, 1, INT64_MAX / 2, &o->records);
	case 's':
		*given |= OPT_RECORD_SIZE;
		return number_opt("--record-size", optarg, 1, PERF_MAX_RECORD_BYTES,
				  &o->record_size);
	case 'a':
		*given |= OPT_ACKS;
		o->has_acks = 1;
		if (cli_parse_acks(optarg, &o->acks) == 0)
			return 0;
		cli_usage_error("perf", "--acks is 0, 1 or all, not \"%s\"", optarg);
		return CLI_EXIT_USAGE;
	case 'B':
		*given |= OPT_BATCH_SIZE;
		return number_opt("--batch-size", optarg, 1, RUNNEL_MAX_BATCH_SIZE, &o->batch_size);
	case 'L':
		*given |= OPT_LINGER;
		return number_opt("--linger-ms", optarg, 0, INT32_MAX, &o->linger_ms);
	case 't':
		*given |= OPT_THROUGHPUT;
		if (strcmp(optarg, "-1") == 0) {
			o->throughput = -1;
			return 0;
		}
		if (cli_parse_int64(optarg, 1, INT32_MAX, &o->throughput) == 0)
			return 0;
		cli_usage_error("perf",
				"--throughput wants -1 (no limit) or records per second, not \"%s\"",
				optarg);
		return CLI_EXIT_USAGE;
	case 'T':
		*given |= OPT_TIMEOUT;
		return number_opt("--timeout-ms", optarg, 1, INT32_MAX, &o->timeout_ms);
	case 'f':
		if (strcmp(optarg, "text") == 0 || strcmp(optarg, "json") == 0) {
			o->json = strcmp(optarg, "json") == 0;
			return 0;
		}
		cli_usage_error("perf", "--format is text or json, not \"%s\"", optarg);
		return CLI_EXIT_USAGE;
	case 'X':
		if (o->setting_count < PERF_MAX_SETTINGS) {
			o->settings[o->setting_count++] = optarg;
			return 0;
		}
		cli_usage_error("perf", "at most %d -X options", PERF_MAX_SETTINGS);
		return CLI_EXIT_USAGE;
	case 'h':
		fputs(perf_usage, stdout);
		return -1;
	default:
		fputs(perf_usage, stderr);
		return CLI_EXIT_USAGE;
	}
}

/* Checks the options given against what the mode takes. */
static int check_mode(const struct mode_rules *m, unsigned given)
{
	for (size_t i = 0; i < RN_ARRAY_LEN(opt_names); i++) {
		unsigned bit = 1u << i;
		if ((given & bit) && !(m->allowed & bit)) {
			cli_usage_error("perf", "%s does not take %s", m->name, opt_names[i]);
			return CLI_EXIT_USAGE;
		}
		if ((m->required & bit) && !(given & bit)) {
			cli_usage_error("perf", "%s needs %s", m->name, opt_names[i]);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

/* argv[0] is the mode.  Returns 0, CLI_EXIT_USAGE, or -1 after help. */
static int parse_perf_opts(int argc, char **argv, struct perf_opts *o)
{
	const struct mode_rules *m = NULL;
	unsigned given = 0;
	int ch, rc;
	for (size_t i = 0; i < RN_ARRAY_LEN(modes); i++)
		if (strcmp(argv[0], modes[i].name) == 0)
			m = &modes[i];
	if (!m) {
		if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
			fputs(perf_usage, stdout);
			return -1;
		}
		cli_usage_error("perf", "unknown mode \"%s\": produce, consume or e2e", argv[0]);
		return CLI_EXIT_USAGE;
	}
	o->mode = m->name;
	while ((ch = getopt_long(argc, argv, "X:h", long_opts, NULL)) != -1)
		if ((rc = take_opt(ch, o, &given)) != 0)
			return rc;
	if (optind + 1 != argc) {
		cli_usage_error("perf", optind >= argc ? "needs a topic" : "takes one topic");
		return CLI_EXIT_USAGE;
	}
	o->topic = argv[optind];
	if ((rc = check_mode(m, given)) != 0)
		return rc;
	if (strcmp(o->mode, "e2e") == 0 && o->throughput < 0) {
		cli_usage_error("perf", "e2e needs a --throughput of at least 1 record per second");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(o->mode, "e2e") == 0 && o->record_size >= 0 &&
	    o->record_size < PERF_E2E_STAMP_BYTES) {
		cli_usage_error("perf", "e2e records carry an %d-byte send time: --record-size is at least %d",
				PERF_E2E_STAMP_BYTES, PERF_E2E_STAMP_BYTES);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int perf_produce(const struct cli_global *g, const struct perf_opts *o)
{
	struct runnel_producer_config cfg;
	char *keys[PERF_MAX_SETTINGS];
	runnel_producer *p = NULL;
	int status = perf_configure(g, o, &cfg, NULL, keys);
	if (status != 0)
		goto out_keys;
	int rc = runnel_producer_new(&cfg, &p);
	if (rc != 0) {
		char why[256];
		if (runnel_producer_config_check(&cfg, why, sizeof(why)) == 0)
			snprintf(why, sizeof(why), "bad producer settings (bootstrap, batch.size, ...)");
		cli_error("perf produce", rc, why);
		status = CLI_EXIT_ERROR;
		goto out_keys;
	}
	struct perf_sender *s = calloc(1, sizeof(*s));
	uint8_t *payload = perf_payload_new((size_t)o->record_size);
	status = CLI_EXIT_ERROR;
	if (!s || !payload) {
		cli_error("perf produce", RN_E_NOMEM, NULL);
		goto out_free;
	}
	*s = (struct perf_sender){.p = p, .topic = o->topic, .payload = payload,
				  .payload_len = (size_t)o->record_size,
				  .records = (uint64_t)o->records, .throughput = o->throughput,
				  .progress = 1, .flush_timeout_ms = cfg.delivery_timeout_ms};
	if (perf_sender_run(s) != 0) {
		perf_sender_report(s, "perf produce");
		goto out_free;
	}
	struct perf_result r = {.records = s->acked, .bytes = s->acked * s->payload_len,
				.elapsed_us = s->end_us - s->start_us, .latency = &s->ack_latency};
	if (o->json)
		perf_print_latency_json(stdout, &r);
	else
		perf_print_latency_text(stdout, "sent", &r);
	status = CLI_EXIT_OK;
out_free:
	free(payload);
	free(s);
	runnel_producer_free(p);
out_keys:
	perf_free_keys(keys, o->setting_count);
	return status;
}

/* Records asked of the consumer per poll, and the wait of one poll. */
#define PERF_CONSUME_BATCH 4096
#define PERF_CONSUME_POLL_MS 100

/* Reads o->records records into *r.  Returns 0 or an error (reported). */
static int consume_records(runnel_consumer *c, const struct perf_opts *o, struct perf_result *r)
{
	static struct runnel_record recs[PERF_CONSUME_BATCH];
	int64_t start = perf_now_us(), last = start;
	uint64_t want = (uint64_t)o->records;
	while (r->records < want) {
		size_t n = 0, max = want - r->records < PERF_CONSUME_BATCH ? want - r->records
									   : PERF_CONSUME_BATCH;
		int rc = runnel_consumer_poll(c, PERF_CONSUME_POLL_MS, recs, max, &n);
		if (rc != 0) {
			cli_error("perf consume", rc, runnel_consumer_errmsg(c));
			return rc;
		}
		int64_t now = perf_now_us();
		for (size_t i = 0; i < n; i++)
			r->bytes += (uint64_t)(recs[i].key_len > 0 ? recs[i].key_len : 0) +
				    (uint64_t)(recs[i].value_len > 0 ? recs[i].value_len : 0);
		r->records += n;
		if (n > 0) {
			last = now;
		} else if (now - last >= o->timeout_ms * 1000) {
			fprintf(stderr,
				"runnel: perf consume: TIMEOUT: consumed %llu of %llu records; "
				"none arrived in the last %lld ms\n",
				(unsigned long long)r->records, (unsigned long long)want,
				(long long)o->timeout_ms);
			return RN_E_TIMEOUT;
		}
	}
	r->elapsed_us = perf_now_us() - start;
	return 0;
}

static int perf_consume(const struct cli_global *g, const struct perf_opts *o)
{
	struct runnel_consumer_config cfg;
	char *keys[PERF_MAX_SETTINGS];
	runnel_consumer *c = NULL;
	int status = perf_configure(g, o, NULL, &cfg, keys);
	if (status != 0)
		goto out_keys;
	status = CLI_EXIT_ERROR;
	int rc = runnel_consumer_new(&cfg, &c);
	if (rc != 0) {
		cli_error("perf consume", rc, "bad consumer settings");
		goto out_keys;
	}
	rc = runnel_consumer_assign(c, o->topic, NULL, 0);
	if (rc == 0)
		rc = runnel_consumer_seek(c, o->topic, -1,
					  (struct runnel_position){RUNNEL_POS_BEGINNING, 0});
	if (rc != 0) {
		cli_error("perf consume", rc, runnel_consumer_errmsg(c));
		goto out_free;
	}
	struct perf_result r = {0};
	int64_t start_wall = rn_wall_ms();
	if (consume_records(c, o, &r) != 0)
		goto out_free;
	if (o->json)
		perf_print_consume_json(stdout, &r);
	else
		perf_print_consume_text(stdout, &r, start_wall, rn_wall_ms());
	status = CLI_EXIT_OK;
out_free:
	runnel_consumer_free(c);
out_keys:
	perf_free_keys(keys, o->setting_count);
	return status;
}

int cli_perf_main(const struct cli_global *g, int argc, char **argv)
{
	struct perf_opts o = {.record_size = -1, .throughput = -1, .batch_size = -1,
			      .linger_ms = -1, .timeout_ms = PERF_DEFAULT_TIMEOUT_MS};
	if (argc < 2) {
		cli_usage_error("perf", "needs a mode: produce, consume or e2e");
		return CLI_EXIT_USAGE;
	}
	int rc = parse_perf_opts(argc - 1, argv + 1, &o);
	if (rc != 0)
		return rc == -1 ? CLI_EXIT_OK : rc;
	if (strcmp(o.mode, "produce") == 0)
		return perf_produce(g, &o);
	if (strcmp(o.mode, "consume") == 0)
		return perf_consume(g, &o);
	if (o.record_size < 0)
		o.record_size = PERF_DEFAULT_E2E_RECORD_BYTES;
	return cli_perf_e2e(g, &o);
}
