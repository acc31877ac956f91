/* cli_produce.c: runnel produce: one record per stdin line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli.h"
#include "common/errors.h"

static const char produce_usage[] =
	"usage: runnel produce TOPIC [-K SEP] [-H KEY=VALUE]... [-p PARTITION] [--acks 0|1|all]\n"
	"                      [--print-acks] [-Z] [-z none|lz4|zstd] [-X KEY=VALUE]...\n"
	"\n"
	"Reads records from stdin, one per line (the newline is not part of the record).\n"
	"  -K SEP          text before the first SEP is the key (no SEP: null key)\n"
	"  -H KEY=VALUE    add this header to every record (repeatable)\n"
	"  -p PARTITION    send every record to this partition\n"
	"  --acks 0|1|all  acknowledgement level (default all; 0 and 1 turn idempotence\n"
	"                  off unless -X enable.idempotence=true asks for it, which fails)\n"
	"  --print-acks    print KEY<TAB>PARTITION<TAB>OFFSET for each acknowledged record\n"
	"  -Z              an empty value is sent as null (a tombstone)\n"
	"  --delivery-timeout MS  give up on a record this long after reading it\n"
	"                  (default 120000)\n"
	"  -z CODEC        compress batches with none (the default), lz4 or zstd\n"
	"                  (compression.type; consumers decompress by themselves)\n"
	"  -X KEY=VALUE    a producer setting by its Kafka name (repeatable), e.g.\n"
	"                  compression.type, compression.level, batch.size, linger.ms,\n"
	"                  buffer.memory, max.request.size, client.id; the options above\n"
	"                  win over -X.  The producer is idempotent by default (a retry\n"
	"                  never writes a record twice); -X enable.idempotence=false\n"
	"                  turns that off\n"
	"Exits 0 only when every record was acknowledged.\n";

/* Extra time flush waits beyond the delivery timeout, so that the
 * producer's own expiry reports records before the CLI gives up. */
#define CLI_FLUSH_MARGIN_MS 5000

struct produce_opts {
	const char *topic;
	const char *key_sep;
	size_t key_sep_len;
	struct runnel_header headers[CLI_MAX_HEADERS];
	size_t header_count;
	int32_t partition;
	int32_t acks;
	int has_acks; /* --acks was given */
	int print_acks;
	int null_empty;
	int32_t delivery_timeout_ms;
	int32_t compression; /* -1: not given */
	const char *xs[CLI_MAX_CONFIGS]; /* -X arguments, KEY=VALUE */
	size_t x_count;
};

struct produce_stats {
	size_t sent;
	size_t acked;
	size_t failed;
	int first_err;
	int print_acks;
};

/* What a delivery callback gets with --print-acks: the record's key. */
struct ack_key {
	int32_t len; /* -1: null */
	char bytes[];
};

static void delivery_cb(void *opaque, int err, int32_t partition, int64_t offset);

/* The callbacks need the counters; the CLI has one producer at a time. */
static struct produce_stats *g_stats;

static void delivery_cb(void *opaque, int err, int32_t partition, int64_t offset)
{
	struct ack_key *k = opaque;
	if (err == 0) {
		g_stats->acked++;
		if (g_stats->print_acks) {
			if (k && k->len > 0)
				fwrite(k->bytes, 1, (size_t)k->len, stdout);
			printf("\t%d\t%lld\n", partition, (long long)offset);
		}
	} else {
		g_stats->failed++;
		if (g_stats->first_err == 0)
			g_stats->first_err = err;
	}
	free(k);
}

static int add_header(struct produce_opts *o, const char *arg)
{
	size_t klen;
	const char *value;
	if (cli_split_kv(arg, &klen, &value) != 0) {
		cli_usage_error("produce", "-H wants KEY=VALUE, not \"%s\"", arg);
		return CLI_EXIT_USAGE;
	}
	if (o->header_count >= CLI_MAX_HEADERS) {
		cli_usage_error("produce", "at most %d -H options", CLI_MAX_HEADERS);
		return CLI_EXIT_USAGE;
	}
	struct runnel_header *h = &o->headers[o->header_count++];
	h->key = arg;
	h->key_len = (int32_t)klen;
	h->value = value;
	h->value_len = (int32_t)strlen(value);
	return 0;
}

/* Reads -z's codec.  Returns 0 or CLI_EXIT_USAGE after saying why. */
static int parse_codec(const char *arg, int32_t *out)
{
	struct runnel_producer_config probe;
	runnel_producer_config_init(&probe);
	int rc = runnel_producer_config_set(&probe, "compression.type", arg);
	if (rc == RN_E_UNSUPPORTED_COMPRESSION_TYPE) {
		cli_usage_error("produce", "-z %s is not supported: use none, lz4 or zstd", arg);
		return CLI_EXIT_USAGE;
	}
	if (rc != 0) {
		cli_usage_error("produce", "-z is none, lz4 or zstd, not \"%s\"", arg);
		return CLI_EXIT_USAGE;
	}
	*out = probe.compression_type;
	return 0;
}

/* Returns 0, CLI_EXIT_USAGE, or -1 after printing help. */
static int parse_produce_opts(int argc, char **argv, struct produce_opts *o)
{
	static const struct option opts[] = {
		{"key-delimiter", required_argument, NULL, 'K'},
		{"header", required_argument, NULL, 'H'},
		{"partition", required_argument, NULL, 'p'},
		{"acks", required_argument, NULL, 'a'},
		{"print-acks", no_argument, NULL, 'P'},
		{"delivery-timeout", required_argument, NULL, 'D'},
		{"compression", required_argument, NULL, 'z'},
		{"config", required_argument, NULL, 'X'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch, rc;
	int64_t v;
	while ((ch = getopt_long(argc, argv, "K:H:p:Zz:X:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'K':
			if (!*optarg) {
				cli_usage_error("produce", "-K wants a non-empty separator");
				return CLI_EXIT_USAGE;
			}
			o->key_sep = optarg;
			o->key_sep_len = strlen(optarg);
			break;
		case 'H':
			if ((rc = add_header(o, optarg)) != 0)
				return rc;
			break;
		case 'p':
			if (cli_parse_int64(optarg, 0, INT32_MAX, &v) != 0) {
				cli_usage_error("produce", "-p wants a partition number, not \"%s\"", optarg);
				return CLI_EXIT_USAGE;
			}
			o->partition = (int32_t)v;
			break;
		case 'a':
			if (cli_parse_acks(optarg, &o->acks) != 0) {
				cli_usage_error("produce", "--acks is 0, 1 or all, not \"%s\"", optarg);
				return CLI_EXIT_USAGE;
			}
			o->has_acks = 1;
			break;
		case 'P':
			o->print_acks = 1;
			break;
		case 'Z':
			o->null_empty = 1;
			break;
		case 'D':
			if (cli_parse_int64(optarg, 1, INT32_MAX - CLI_FLUSH_MARGIN_MS, &v) != 0) {
				cli_usage_error("produce", "--delivery-timeout wants milliseconds, not \"%s\"",
						optarg);
				return CLI_EXIT_USAGE;
			}
			o->delivery_timeout_ms = (int32_t)v;
			break;
		case 'z':
			if ((rc = parse_codec(optarg, &o->compression)) != 0)
				return rc;
			break;
		case 'X':
			if (o->x_count >= CLI_MAX_CONFIGS) {
				cli_usage_error("produce", "at most %d -X options", CLI_MAX_CONFIGS);
				return CLI_EXIT_USAGE;
			}
			o->xs[o->x_count++] = optarg;
			break;
		case 'h':
			fputs(produce_usage, stdout);
			return -1;
		default:
			fputs(produce_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_usage_error("produce", optind >= argc ? "needs a topic" : "takes one topic");
		return CLI_EXIT_USAGE;
	}
	o->topic = argv[optind];
	return 0;
}

/* Reads one line without its newline into *buf (grown as needed).  Returns
 * 1 with *len set, 0 at the end of input, or RN_E_MESSAGE_TOO_LARGE when the
 * line is longer than max (the rest of the line is not read). */
static int read_line(FILE *in, char **buf, size_t *cap, size_t max, size_t *len)
{
	size_t n = 0;
	int ch = EOF;
	while ((ch = getc_unlocked(in)) != EOF && ch != '\n') {
		if (n >= max)
			return RN_E_MESSAGE_TOO_LARGE;
		if (n + 1 >= *cap) {
			size_t ncap = *cap ? *cap * 2 : 4096;
			char *nb = realloc(*buf, ncap);
			if (!nb)
				return RN_E_NOMEM;
			*buf = nb;
			*cap = ncap;
		}
		(*buf)[n++] = (char)ch;
	}
	if (ch == EOF && n == 0)
		return 0;
	*len = n;
	return 1;
}

static int send_line(runnel_producer *p, const struct produce_opts *o, const char *line, size_t len)
{
	const char *key = NULL, *value = line;
	int32_t key_len = -1, value_len = (int32_t)len;
	if (o->key_sep) {
		const char *sep = memmem(line, len, o->key_sep, o->key_sep_len);
		if (sep) {
			key = line;
			key_len = (int32_t)(sep - line);
			value = sep + o->key_sep_len;
			value_len = (int32_t)(len - (size_t)key_len - o->key_sep_len);
		}
	}
	if (o->null_empty && value_len == 0) {
		value = NULL;
		value_len = -1;
	}
	struct ack_key *k = NULL;
	if (o->print_acks) {
		k = malloc(sizeof(*k) + (key_len > 0 ? (size_t)key_len : 0));
		if (!k)
			return RN_E_NOMEM;
		k->len = key_len;
		if (key_len > 0)
			memcpy(k->bytes, key, (size_t)key_len);
	}
	int rc = runnel_producer_send(p, o->topic, o->partition, key, key_len, value, value_len,
				      o->headers, o->header_count, -1, delivery_cb, k);
	if (rc != 0)
		free(k);
	return rc;
}

/* Lines between two non-blocking polls while reading input. */
#define CLI_PRODUCE_POLL_EVERY 16

/* Reads stdin and sends every line.  Returns CLI_EXIT_OK or
 * CLI_EXIT_ERROR after printing why it stopped. */
static int produce_input(runnel_producer *p, const struct produce_opts *o, struct produce_stats *st,
			 uint32_t max_line)
{
	char *buf = NULL;
	size_t cap = 0, len = 0, lineno = 0;
	int rc, status = CLI_EXIT_OK;
	while ((rc = read_line(stdin, &buf, &cap, max_line, &len)) == 1) {
		lineno++;
		rc = send_line(p, o, buf ? buf : "", len);
		if (rc == RN_E_MESSAGE_TOO_LARGE)
			break;
		if (rc != 0) {
			cli_error("produce", rc, runnel_producer_errmsg(p));
			status = CLI_EXIT_ERROR;
			break;
		}
		st->sent++;
		if (lineno % CLI_PRODUCE_POLL_EVERY == 0)
			runnel_producer_poll(p, 0);
	}
	if (rc == RN_E_MESSAGE_TOO_LARGE) {
		char msg[160];
		/* A line that was read whole failed in send (the framing did
		 * not fit); one that was not is the next line. */
		size_t bad = st->sent + 1 == lineno ? lineno : lineno + 1;
		snprintf(msg, sizeof(msg),
			 "line %zu is too long: a record must fit in one %u-byte batch", bad, max_line);
		cli_error("produce", rc, msg);
		status = CLI_EXIT_ERROR;
	} else if (rc < 0 && status == CLI_EXIT_OK) {
		cli_error("produce", rc, "cannot read standard input");
		status = CLI_EXIT_ERROR;
	}
	free(buf);
	return status;
}

/* Applies one -X KEY=VALUE.  Returns 0, or CLI_EXIT_USAGE or
 * CLI_EXIT_ERROR after saying why.  The value stays in argv. */
static int apply_setting(struct runnel_producer_config *cfg, const char *arg)
{
	size_t klen;
	const char *value;
	if (cli_split_kv(arg, &klen, &value) != 0) {
		cli_usage_error("produce", "-X wants KEY=VALUE, not \"%s\"", arg);
		return CLI_EXIT_USAGE;
	}
	char *key = strndup(arg, klen);
	if (!key) {
		cli_error("produce", RN_E_NOMEM, NULL);
		return CLI_EXIT_ERROR;
	}
	int rc = runnel_producer_config_set(cfg, key, value);
	if (rc == RN_E_NOT_FOUND)
		cli_usage_error("produce", "unknown producer setting \"%s\"", key);
	else if (rc == RN_E_UNSUPPORTED_COMPRESSION_TYPE)
		cli_usage_error("produce", "%s %s is not supported: use none, lz4 or zstd", key, value);
	else if (rc != 0)
		cli_usage_error("produce", "bad value \"%s\" for %s", value, key);
	free(key);
	return rc == 0 ? 0 : CLI_EXIT_USAGE;
}

/* The producer's settings: the defaults, then -X, then the options.
 * Returns 0 or an exit status after saying why. */
static int configure(const struct cli_global *g, const struct produce_opts *o,
		     struct runnel_producer_config *cfg)
{
	runnel_producer_config_init(cfg);
	cfg->client.bootstrap = g->bootstrap;
	for (size_t i = 0; i < o->x_count; i++) {
		int rc = apply_setting(cfg, o->xs[i]);
		if (rc != 0)
			return rc;
	}
	if (o->has_acks)
		cfg->acks = o->acks;
	if (o->delivery_timeout_ms > 0)
		cfg->delivery_timeout_ms = o->delivery_timeout_ms;
	if (o->compression >= 0)
		cfg->compression_type = o->compression;
	return 0;
}

int cli_produce_main(const struct cli_global *g, int argc, char **argv)
{
	struct produce_opts o = {.partition = -1, .acks = -1, .compression = -1};
	struct produce_stats st = {0};
	runnel_producer *p = NULL;
	int rc = parse_produce_opts(argc, argv, &o);
	if (rc != 0)
		return rc == -1 ? CLI_EXIT_OK : rc;
	struct runnel_producer_config cfg;
	if ((rc = configure(g, &o, &cfg)) != 0)
		return rc;
	rc = runnel_producer_new(&cfg, &p);
	if (rc != 0) {
		char why[256];
		if (runnel_producer_config_check(&cfg, why, sizeof(why)) == 0)
			snprintf(why, sizeof(why), "bad setting: the bootstrap list, or a value out of range");
		cli_error("produce", rc, why);
		return CLI_EXIT_ERROR;
	}
	st.print_acks = o.print_acks;
	g_stats = &st;
	/* No line can be longer than the largest batch; reading stops there
	 * rather than buffering an endless line. */
	uint32_t max_line = cfg.message_max_bytes;
	int status = produce_input(p, &o, &st, max_line);
	int frc = runnel_producer_flush(p, cfg.delivery_timeout_ms + CLI_FLUSH_MARGIN_MS);
	size_t not_acked = st.sent - st.acked;
	if (not_acked > 0) {
		int err = st.first_err ? st.first_err : frc;
		fprintf(stderr, "runnel: %zu of %zu records were not acknowledged: %s: %s\n", not_acked,
			st.sent, rn_errname(err), runnel_producer_errmsg(p)[0] ? runnel_producer_errmsg(p)
									       : rn_strerror(err));
		status = CLI_EXIT_ERROR;
	}
	fflush(stdout);
	runnel_producer_free(p);
	g_stats = NULL;
	return status;
}
