/* cli_perf.h: runnel perf: throughput and latency benchmarks, their histogram and their reports. */
#ifndef RUNNEL_CLIENTS_CLI_PERF_H
#define RUNNEL_CLIENTS_CLI_PERF_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "clients/cli.h"
#include "clients/runnel.h"

/* ---------------------------------------------------------------- histogram */

/*
 * A log-linear latency histogram in microseconds, in the manner of
 * HdrHistogram: values below 2^(PERF_HIST_SUB_BITS+1) have a bucket each;
 * above, every power of two is cut into 2^PERF_HIST_SUB_BITS equal buckets,
 * so a bucket is never wider than 1/256 of the values it holds (0.4%).
 * Values of PERF_HIST_MAX_US and more (over an hour) share the last bucket;
 * the exact minimum, maximum and sum are kept beside the buckets.  The
 * struct is a fixed 51 KB: recording never allocates.
 */
#define PERF_HIST_SUB_BITS 8
#define PERF_HIST_TOP_BITS 32
#define PERF_HIST_MAX_US ((UINT64_C(1) << PERF_HIST_TOP_BITS) - 1)
#define PERF_HIST_BUCKETS ((PERF_HIST_TOP_BITS - PERF_HIST_SUB_BITS + 1) << PERF_HIST_SUB_BITS)

struct perf_hist {
	uint64_t counts[PERF_HIST_BUCKETS];
	uint64_t total;
	uint64_t sum_us;
	uint64_t min_us; /* UINT64_MAX while empty */
	uint64_t max_us;
};

/* Empties h. */
void perf_hist_init(struct perf_hist *h);

/* Counts one value of us microseconds. */
void perf_hist_record(struct perf_hist *h, uint64_t us);

/* The bucket that holds us, and the smallest and largest value of bucket
 * index (index < PERF_HIST_BUCKETS). */
uint32_t perf_hist_bucket(uint64_t us);
uint64_t perf_hist_bucket_low(uint32_t index);
uint64_t perf_hist_bucket_high(uint32_t index);

/*
 * The value at percentile pct (0 to 100) of what was recorded: the largest
 * value of the first bucket at which the count of values so far reaches
 * pct% of the total (at least one value), kept between the exact minimum
 * and maximum (the last bucket, which also holds every larger value,
 * gives the maximum).  So it is never below the exact percentile and at
 * most 1/256 above it; a larger pct never gives a smaller value.  0 when
 * h is empty.
 */
uint64_t perf_hist_percentile(const struct perf_hist *h, double pct);

/* The mean in microseconds; 0 when empty. */
double perf_hist_mean_us(const struct perf_hist *h);

/* --------------------------------------------------------------- reporting */

/* Progress lines go to stderr this often while a benchmark runs. */
#define PERF_REPORT_INTERVAL_US (5 * 1000 * 1000)

/* Kafka's tools count a megabyte as 2^20 bytes; so does perf. */
#define PERF_BYTES_PER_MB (1024.0 * 1024.0)

/* The counters of one progress window (the records completed since the
 * last progress line). */
struct perf_window {
	int64_t start_us;
	uint64_t records;
	uint64_t bytes;
	uint64_t sum_us;
	uint64_t max_us;
};

/* Starts a new window at now_us. */
void perf_window_reset(struct perf_window *w, int64_t now_us);

/* Counts one completed record of bytes bytes and latency_us. */
static inline void perf_window_add(struct perf_window *w, uint64_t bytes, uint64_t latency_us)
{
	w->records++;
	w->bytes += bytes;
	w->sum_us += latency_us;
	if (latency_us > w->max_us)
		w->max_us = latency_us;
}

/* Writes "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms
 * max latency." for the window ending at now_us; verb replaces "sent". */
void perf_window_print(FILE *out, const char *verb, const struct perf_window *w, int64_t now_us);

/* The outcome of a run. */
struct perf_result {
	uint64_t records;
	uint64_t bytes;
	int64_t elapsed_us; /* taken as 1 when smaller */
	const struct perf_hist *latency; /* NULL for consume */
};

double perf_records_per_sec(const struct perf_result *r);
double perf_mb_per_sec(const struct perf_result *r);

/*
 * The final line of produce and e2e: "N records VERB, X records/sec (Y
 * MB/sec), A ms avg latency, M ms max latency, P50 ms 50th, P95 ms 95th,
 * P99 ms 99th, P999 ms 99.9th." and a newline.
 */
void perf_print_latency_text(FILE *out, const char *verb, const struct perf_result *r);

/* The same as one JSON object on one line: records, records_per_sec,
 * mb_per_sec, bytes, elapsed_ms, latency_ms {avg,p50,p95,p99,p999,max}. */
void perf_print_latency_json(FILE *out, const struct perf_result *r);

/* consume's report: Kafka's consumer perf header line and values line
 * (start and end as wall-clock ms), or one JSON object: records,
 * records_per_sec, mb_per_sec, bytes, elapsed_ms. */
void perf_print_consume_text(FILE *out, const struct perf_result *r, int64_t start_wall_ms,
			     int64_t end_wall_ms);
void perf_print_consume_json(FILE *out, const struct perf_result *r);

/* ----------------------------------------------------------------- commands */

/* The largest --record-size accepted; the producer refuses records over
 * its max.request.size anyway. */
#define PERF_MAX_RECORD_BYTES (64 * 1024 * 1024)

/* -X options one perf command takes at most. */
#define PERF_MAX_SETTINGS CLI_MAX_CONFIGS

/* What stops consume and e2e when no record arrives (Kafka's consumer perf
 * default). */
#define PERF_DEFAULT_TIMEOUT_MS 10000

/* The record size of e2e by default; its smallest, the send time it
 * carries. */
#define PERF_DEFAULT_E2E_RECORD_BYTES 100
#define PERF_E2E_STAMP_BYTES 8

/* Options of every perf mode (only some apply to each). */
struct perf_opts {
	const char *mode; /* produce, consume, e2e */
	const char *topic;
	int64_t records;
	int64_t record_size; /* -1: not given */
	int64_t throughput;  /* records per second, -1: as fast as possible */
	int32_t acks;
	int has_acks;
	int64_t batch_size;  /* -1: not given */
	int64_t linger_ms;   /* -1: not given */
	int64_t timeout_ms;
	int json;
	const char *settings[PERF_MAX_SETTINGS]; /* -X KEY=VALUE */
	size_t setting_count;
};

/*
 * Fills the configs that are not NULL for o: defaults, the bootstrap list,
 * the -X settings (each goes to every config that knows its key), then
 * the explicit options (--acks, --batch-size, --linger-ms) on the producer.
 * A consumer reads from the earliest offset.  keys[0..o->setting_count)
 * receives copies of the -X keys, which the configs do not need after
 * their constructors ran: free them with perf_free_keys.  Returns 0, or
 * CLI_EXIT_USAGE (or CLI_EXIT_ERROR when out of memory) after saying what
 * was wrong.
 */
int perf_configure(const struct cli_global *g, const struct perf_opts *o,
		   struct runnel_producer_config *pcfg, struct runnel_consumer_config *ccfg,
		   char **keys);
void perf_free_keys(char **keys, size_t count);

/* The paced send loop produce and e2e share. */
struct perf_sender {
	runnel_producer *p;
	const char *topic;
	uint8_t *payload;
	size_t payload_len;
	uint64_t records;
	int64_t throughput;
	/* Writes the send time (monotonic ns, little-endian) into the first
	 * PERF_E2E_STAMP_BYTES of each record. */
	int stamp;
	/* Print progress lines on stderr. */
	int progress;
	int32_t flush_timeout_ms;
	/* When not NULL: sending stops once this is set (by another thread). */
	const atomic_int *cancel;
	/* The time the delivery callbacks of one dispatch pass share (-1: not
	 * read yet), and whether they may share one. */
	int64_t pass_now_us;
	int share_clock;
	/* Outcome. */
	int64_t start_us, end_us;
	uint64_t sent, acked, failed;
	int first_err;
	char errmsg[512];
	struct perf_hist ack_latency;
	struct perf_window window;
};

/* Sends s->records records as s says and waits for their delivery.
 * Returns 0 when every record was acknowledged, else the first error (with
 * s->errmsg saying what happened). */
int perf_sender_run(struct perf_sender *s);

/* Says on stderr why a run failed ("runnel: WHAT: ..."): the send error
 * when no record could be sent, else how many records were not
 * acknowledged and the first error. */
void perf_sender_report(const struct perf_sender *s, const char *what);

/* A payload of len random printable bytes (malloc'd; NULL when out of
 * memory). */
uint8_t *perf_payload_new(size_t len);

/* The monotonic clock in microseconds and nanoseconds. */
int64_t perf_now_us(void);
int64_t perf_now_ns(void);

/* runnel perf e2e. */
int cli_perf_e2e(const struct cli_global *g, const struct perf_opts *o);

/* runnel perf: argc/argv start at "perf". */
int cli_perf_main(const struct cli_global *g, int argc, char **argv);

#endif
