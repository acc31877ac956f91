/* test_perf.c: runnel perf's latency histogram, result lines and producer settings. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/cli_perf.h"
#include "common/errors.h"
#include "test/unit/harness.h"

/* Output of a print function as a NUL-terminated string the caller frees. */
#define CAPTURE(var, call)                                       \
	do {                                                     \
		size_t len_ = 0;                                 \
		FILE *out = open_memstream(&(var), &len_);       \
		call;                                            \
		fclose(out);                                     \
	} while (0)

static struct perf_hist *hist_new(void)
{
	struct perf_hist *h = malloc(sizeof(*h));
	if (h)
		perf_hist_init(h);
	return h;
}

TEST(hist_buckets_are_exact_below_the_linear_range)
{
	for (uint64_t v = 0; v < 512; v++) {
		uint32_t b = perf_hist_bucket(v);
		CHECK_EQ_INT(b, v);
		CHECK_EQ_INT(perf_hist_bucket_low(b), v);
		CHECK_EQ_INT(perf_hist_bucket_high(b), v);
	}
}

/* Buckets tile the value range without gaps or overlaps, every value
 * lands in the bucket whose bounds hold it, and no bucket is wider than
 * 1/256 of its smallest value. */
TEST(hist_buckets_tile_the_range)
{
	for (uint32_t i = 0; i + 1 < PERF_HIST_BUCKETS; i++) {
		uint64_t lo = perf_hist_bucket_low(i), hi = perf_hist_bucket_high(i);
		CHECK(lo <= hi);
		CHECK_EQ_INT(hi + 1, perf_hist_bucket_low(i + 1));
		CHECK_EQ_INT(perf_hist_bucket(lo), i);
		CHECK_EQ_INT(perf_hist_bucket(hi), i);
		if (lo >= 256)
			CHECK((hi - lo + 1) * 256 <= lo);
	}
	CHECK_EQ_INT(perf_hist_bucket_high(PERF_HIST_BUCKETS - 1), PERF_HIST_MAX_US);
}

TEST(hist_clamps_huge_values_into_the_last_bucket)
{
	CHECK_EQ_INT(perf_hist_bucket(PERF_HIST_MAX_US), PERF_HIST_BUCKETS - 1);
	CHECK_EQ_INT(perf_hist_bucket(UINT64_MAX), PERF_HIST_BUCKETS - 1);
	struct perf_hist *h = hist_new();
	CHECK(h);
	perf_hist_record(h, UINT64_C(1) << 40);
	perf_hist_record(h, 7);
	/* The exact maximum survives the clamping. */
	CHECK_EQ_INT(h->max_us, UINT64_C(1) << 40);
	CHECK_EQ_INT(perf_hist_percentile(h, 100), UINT64_C(1) << 40);
	CHECK_EQ_INT(perf_hist_percentile(h, 50), 7);
	free(h);
}

TEST(hist_empty_and_single_value)
{
	struct perf_hist *h = hist_new();
	CHECK(h);
	CHECK_EQ_INT(perf_hist_percentile(h, 50), 0);
	CHECK(perf_hist_mean_us(h) == 0.0);
	perf_hist_record(h, 123457);
	/* One value: every percentile is that value, not its bucket's edge. */
	CHECK_EQ_INT(perf_hist_percentile(h, 0), 123457);
	CHECK_EQ_INT(perf_hist_percentile(h, 50), 123457);
	CHECK_EQ_INT(perf_hist_percentile(h, 99.9), 123457);
	CHECK_EQ_INT(perf_hist_percentile(h, 100), 123457);
	CHECK(perf_hist_mean_us(h) == 123457.0);
	free(h);
}

TEST(hist_percentiles_of_a_uniform_range)
{
	struct perf_hist *h = hist_new();
	CHECK(h);
	for (uint64_t v = 1; v <= 10000; v++)
		perf_hist_record(h, v);
	CHECK_EQ_INT(h->total, 10000);
	CHECK(perf_hist_mean_us(h) == 5000.5);
	/* The rank-th value is pct% of 10000; the answer is the top of its
	 * bucket, at most 1/256 above. */
	uint64_t p50 = perf_hist_percentile(h, 50), p99 = perf_hist_percentile(h, 99);
	CHECK(p50 >= 5000 && p50 <= 5000 + 5000 / 256);
	CHECK(p99 >= 9900 && p99 <= 9900 + 9900 / 256);
	CHECK_EQ_INT(perf_hist_percentile(h, 0), 1);
	CHECK_EQ_INT(perf_hist_percentile(h, 100), 10000);
	free(h);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Against the exact percentiles of random data spread over six orders of
 * magnitude: never below the exact value, never more than a bucket above,
 * and never decreasing with the percentile. */
TEST(hist_percentiles_match_sorted_data)
{
	enum { N = 20000 };
	static uint64_t vals[N];
	unsigned seed = (unsigned)time(NULL);
	srand(seed);
	struct perf_hist *h = hist_new();
	CHECK(h);
	for (int i = 0; i < N; i++) {
		int digits = rand() % 7;
		uint64_t v = (uint64_t)rand() % 1000;
		for (int d = 0; d < digits; d++)
			v = v * 10 + (uint64_t)(rand() % 10);
		vals[i] = v;
		perf_hist_record(h, v);
	}
	qsort(vals, N, sizeof(vals[0]), cmp_u64);
	static const double pcts[] = {0, 1, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
	uint64_t prev = 0;
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		size_t rank = (size_t)(pcts[i] / 100.0 * N + 0.999999);
		uint64_t exact = vals[rank ? rank - 1 : 0];
		uint64_t got = perf_hist_percentile(h, pcts[i]);
		if (got < exact || got > exact + exact / 256 || got < prev)
			fprintf(stderr, "  seed %u: p%g got %llu, exact %llu\n", seed, pcts[i],
				(unsigned long long)got, (unsigned long long)exact);
		CHECK(got >= exact);
		CHECK(got <= exact + exact / 256);
		CHECK(got >= prev);
		prev = got;
	}
	CHECK_EQ_INT(perf_hist_percentile(h, 100), vals[N - 1]);
	free(h);
}

TEST(latency_line_text_and_json)
{
	struct perf_hist *h = hist_new();
	CHECK(h);
	for (int i = 0; i < 990; i++)
		perf_hist_record(h, 2000);
	for (int i = 0; i < 10; i++)
		perf_hist_record(h, 50000);
	struct perf_result r = {.records = 1000, .bytes = 1048576, .elapsed_us = 500000, .latency = h};
	/* 2000 us lies in the bucket 2000..2003: percentiles report the top
	 * of their bucket, and 50000 is the exact maximum. */
	char *text = NULL, *json = NULL;
	CAPTURE(text, perf_print_latency_text(out, "sent", &r));
	CAPTURE(json, perf_print_latency_json(out, &r));
	CHECK_EQ_STR(text, "1000 records sent, 2000.0 records/sec (2.00 MB/sec), 2.48 ms avg latency, "
			   "50.00 ms max latency, 2.00 ms 50th, 2.00 ms 95th, 2.00 ms 99th, 50.00 ms 99.9th.\n");
	CHECK_EQ_STR(json, "{\"records\":1000,\"records_per_sec\":2000.0,\"mb_per_sec\":2.000,"
			   "\"bytes\":1048576,\"elapsed_ms\":500.000,\"latency_ms\":{\"avg\":2.480,"
			   "\"p50\":2.003,\"p95\":2.003,\"p99\":2.003,\"p999\":50.000,\"max\":50.000}}\n");
	free(text);
	free(json);
	free(h);
}

TEST(consume_lines)
{
	struct perf_result r = {.records = 4000, .bytes = 2 * 1048576, .elapsed_us = 2000000};
	char *text = NULL, *json = NULL;
	CAPTURE(text, perf_print_consume_text(out, &r, 1700000000123LL, 1700000002123LL));
	CAPTURE(json, perf_print_consume_json(out, &r));
	const char *values = strchr(text, '\n');
	CHECK(values);
	CHECK(strncmp(text, "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, "
			    "nMsg.sec, fetch.time.ms\n", (size_t)(values - text + 1)) == 0);
	/* The times are local: check the milliseconds and the numbers. */
	CHECK(strstr(values, ":123, ") != NULL);
	CHECK(strstr(values, ", 2.0000, 1.0000, 4000, 2000.0000, 2000\n") != NULL);
	CHECK_EQ_STR(json, "{\"records\":4000,\"records_per_sec\":2000.0,\"mb_per_sec\":1.000,"
			   "\"bytes\":2097152,\"elapsed_ms\":2000.000}\n");
	free(text);
	free(json);
}

TEST(window_line)
{
	struct perf_window w;
	perf_window_reset(&w, 1000000);
	perf_window_add(&w, 524288, 1000);
	perf_window_add(&w, 524288, 3000);
	char *text = NULL;
	CAPTURE(text, perf_window_print(out, "received", &w, 3000000));
	CHECK_EQ_STR(text, "2 records received, 1.0 records/sec (0.50 MB/sec), 2.00 ms avg latency, "
			   "3.00 ms max latency.\n");
	free(text);
}

TEST(producer_settings_by_kafka_name)
{
	struct runnel_producer_config cfg;
	runnel_producer_config_init(&cfg);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "acks", "all"), 0);
	CHECK_EQ_INT(cfg.acks, -1);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "acks", "1"), 0);
	CHECK_EQ_INT(cfg.acks, 1);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "batch.size", "1048576"), 0);
	CHECK_EQ_INT(cfg.batch_size, 1048576);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "linger.ms", "0"), 0);
	CHECK_EQ_INT(cfg.linger_ms, 0);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "buffer.memory", "8589934592"), 0);
	CHECK_EQ_INT(cfg.buffer_memory, 8589934592LL);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "max.in.flight.requests.per.connection", "9"), 0);
	CHECK_EQ_INT(cfg.client.max_in_flight, 9);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "client.id", "bench"), 0);
	CHECK_EQ_STR(cfg.client.client_id, "bench");
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "acks", "2"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "linger.ms", "-1"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "linger.ms", "5x"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "batch.size", "4294967296"), RN_E_INVAL);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compression.type", "lz4"), 0);
	CHECK_EQ_INT(cfg.compression_type, RUNNEL_COMPRESSION_LZ4);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compression.level", "9"), 0);
	CHECK_EQ_INT(cfg.compression_level, 9);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compression.type", "gzip"),
		     RN_E_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK_EQ_INT(runnel_producer_config_set(&cfg, "compression.codec", "lz4"), RN_E_NOT_FOUND);
	CHECK_EQ_INT(cfg.compression_type, RUNNEL_COMPRESSION_LZ4);
	/* Refused values leave the setting as it was. */
	CHECK_EQ_INT(cfg.linger_ms, 0);
	CHECK_EQ_INT(cfg.acks, 1);
}

TEST(configure_routes_settings_to_each_client)
{
	struct cli_global g = {.bootstrap = "127.0.0.1:1"};
	struct perf_opts o = {.mode = "e2e", .has_acks = 1, .acks = 0, .batch_size = -1, .linger_ms = 7,
			      .setting_count = 3,
			      .settings = {"linger.ms=100", "fetch.max.wait.ms=20", "client.id=x"}};
	struct runnel_producer_config pcfg;
	struct runnel_consumer_config ccfg;
	char *keys[PERF_MAX_SETTINGS];
	CHECK_EQ_INT(perf_configure(&g, &o, &pcfg, &ccfg, keys), 0);
	/* The explicit option wins over -X. */
	CHECK_EQ_INT(pcfg.linger_ms, 7);
	CHECK_EQ_INT(pcfg.acks, 0);
	CHECK_EQ_INT(ccfg.fetch_max_wait_ms, 20);
	CHECK_EQ_STR(pcfg.client.client_id, "x");
	CHECK_EQ_STR(ccfg.client.client_id, "x");
	CHECK_EQ_STR(ccfg.client.bootstrap, "127.0.0.1:1");
	CHECK(ccfg.auto_offset_reset == RUNNEL_RESET_EARLIEST);
	perf_free_keys(keys, o.setting_count);

	/* A consumer-only key is unknown to produce. */
	struct perf_opts p = {.mode = "produce", .batch_size = -1, .linger_ms = -1,
			      .setting_count = 1, .settings = {"fetch.max.wait.ms=20"}};
	CHECK_EQ_INT(perf_configure(&g, &p, &pcfg, NULL, keys), CLI_EXIT_USAGE);
	perf_free_keys(keys, p.setting_count);
	p.settings[0] = "linger.ms=soon";
	CHECK_EQ_INT(perf_configure(&g, &p, &pcfg, NULL, keys), CLI_EXIT_USAGE);
	perf_free_keys(keys, p.setting_count);
	p.settings[0] = "=1";
	CHECK_EQ_INT(perf_configure(&g, &p, &pcfg, NULL, keys), CLI_EXIT_USAGE);
	perf_free_keys(keys, p.setting_count);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
