/* cli_perf_stats.c: runnel perf's latency histogram and its result lines. */
#include "clients/cli_perf.h"

#include <string.h>
#include <time.h>

#include "common/rn_assert.h"

/* Values below this have a bucket of their own. */
#define HIST_EXACT_LIMIT (UINT64_C(1) << (PERF_HIST_SUB_BITS + 1))

void perf_hist_init(struct perf_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_us = UINT64_MAX;
}

uint32_t perf_hist_bucket(uint64_t us)
{
	if (us > PERF_HIST_MAX_US)
		us = PERF_HIST_MAX_US;
	if (us < HIST_EXACT_LIMIT)
		return (uint32_t)us;
	/* us lies in [2^e, 2^(e+1)); its top SUB_BITS+1 bits pick one of the
	 * 2^SUB_BITS buckets of that range, and the ranges follow each other
	 * after the exact buckets. */
	unsigned e = 63u - (unsigned)__builtin_clzll(us);
	unsigned shift = e - PERF_HIST_SUB_BITS;
	return (uint32_t)(((uint64_t)shift << PERF_HIST_SUB_BITS) + (us >> shift));
}

/* The shift of bucket index: how many low bits its values drop. */
static unsigned bucket_shift(uint32_t index)
{
	return index < HIST_EXACT_LIMIT ? 0 : (index >> PERF_HIST_SUB_BITS) - 1;
}

uint64_t perf_hist_bucket_low(uint32_t index)
{
	RN_ASSERT(index < PERF_HIST_BUCKETS);
	unsigned shift = bucket_shift(index);
	uint64_t top = index - ((uint64_t)shift << PERF_HIST_SUB_BITS);
	return top << shift;
}

uint64_t perf_hist_bucket_high(uint32_t index)
{
	return perf_hist_bucket_low(index) + (UINT64_C(1) << bucket_shift(index)) - 1;
}

void perf_hist_record(struct perf_hist *h, uint64_t us)
{
	h->counts[perf_hist_bucket(us)]++;
	h->total++;
	h->sum_us += us;
	if (us < h->min_us)
		h->min_us = us;
	if (us > h->max_us)
		h->max_us = us;
}

uint64_t perf_hist_percentile(const struct perf_hist *h, double pct)
{
	if (h->total == 0)
		return 0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	/* The rank of the value asked for, counted from 1: ceil, so that
	 * p50 of two values is the first and p100 the last. */
	double want = pct / 100.0 * (double)h->total;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < PERF_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			/* The last bucket also holds every larger value. */
			uint64_t v = h->max_us;
			if (i + 1 < PERF_HIST_BUCKETS)
				v = perf_hist_bucket_high(i);
			if (v > h->max_us)
				v = h->max_us;
			return v < h->min_us ? h->min_us : v;
		}
	}
	return h->max_us;
}

double perf_hist_mean_us(const struct perf_hist *h)
{
	return h->total ? (double)h->sum_us / (double)h->total : 0.0;
}

void perf_window_reset(struct perf_window *w, int64_t now_us)
{
	memset(w, 0, sizeof(*w));
	w->start_us = now_us;
}

static double ms(double us)
{
	return us / 1000.0;
}

void perf_window_print(FILE *out, const char *verb, const struct perf_window *w, int64_t now_us)
{
	double secs = (double)(now_us > w->start_us ? now_us - w->start_us : 1) / 1e6;
	double avg = w->records ? (double)w->sum_us / (double)w->records : 0.0;
	fprintf(out,
		"%llu records %s, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, "
		"%.2f ms max latency.\n",
		(unsigned long long)w->records, verb, (double)w->records / secs,
		(double)w->bytes / PERF_BYTES_PER_MB / secs, ms(avg), ms((double)w->max_us));
}

static double seconds(const struct perf_result *r)
{
	return (double)(r->elapsed_us > 0 ? r->elapsed_us : 1) / 1e6;
}

double perf_records_per_sec(const struct perf_result *r)
{
	return (double)r->records / seconds(r);
}

double perf_mb_per_sec(const struct perf_result *r)
{
	return (double)r->bytes / PERF_BYTES_PER_MB / seconds(r);
}

/* The latency summary in ms: avg, p50, p95, p99, p99.9, max. */
struct latency_summary {
	double avg, p50, p95, p99, p999, max;
};

static struct latency_summary summarize(const struct perf_hist *h)
{
	struct latency_summary s = {
		.avg = ms(perf_hist_mean_us(h)),
		.p50 = ms((double)perf_hist_percentile(h, 50)),
		.p95 = ms((double)perf_hist_percentile(h, 95)),
		.p99 = ms((double)perf_hist_percentile(h, 99)),
		.p999 = ms((double)perf_hist_percentile(h, 99.9)),
		.max = ms((double)h->max_us),
	};
	return s;
}

void perf_print_latency_text(FILE *out, const char *verb, const struct perf_result *r)
{
	RN_ASSERT(r->latency);
	struct latency_summary s = summarize(r->latency);
	fprintf(out,
		"%llu records %s, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, "
		"%.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.\n",
		(unsigned long long)r->records, verb, perf_records_per_sec(r), perf_mb_per_sec(r),
		s.avg, s.max, s.p50, s.p95, s.p99, s.p999);
}

static void print_common_json(FILE *out, const struct perf_result *r)
{
	fprintf(out, "\"records\":%llu,\"records_per_sec\":%.1f,\"mb_per_sec\":%.3f,\"bytes\":%llu,"
		     "\"elapsed_ms\":%.3f",
		(unsigned long long)r->records, perf_records_per_sec(r), perf_mb_per_sec(r),
		(unsigned long long)r->bytes, ms((double)r->elapsed_us));
}

void perf_print_latency_json(FILE *out, const struct perf_result *r)
{
	RN_ASSERT(r->latency);
	struct latency_summary s = summarize(r->latency);
	fputc('{', out);
	print_common_json(out, r);
	fprintf(out,
		",\"latency_ms\":{\"avg\":%.3f,\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,"
		"\"p999\":%.3f,\"max\":%.3f}}\n",
		s.avg, s.p50, s.p95, s.p99, s.p999, s.max);
}

/* Writes a wall-clock time as Kafka's consumer perf does:
 * 2024-05-01 12:00:00:123 (local time). */
static void print_wall(FILE *out, int64_t wall_ms)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	char buf[32];
	if (!localtime_r(&secs, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, sizeof(buf), "%lld", (long long)secs);
	fprintf(out, "%s:%03d", buf, (int)(wall_ms % 1000));
}

void perf_print_consume_text(FILE *out, const struct perf_result *r, int64_t start_wall_ms,
			     int64_t end_wall_ms)
{
	fputs("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
	      "fetch.time.ms\n",
	      out);
	print_wall(out, start_wall_ms);
	fputs(", ", out);
	print_wall(out, end_wall_ms);
	fprintf(out, ", %.4f, %.4f, %llu, %.4f, %lld\n", (double)r->bytes / PERF_BYTES_PER_MB,
		perf_mb_per_sec(r), (unsigned long long)r->records, perf_records_per_sec(r),
		(long long)(r->elapsed_us / 1000));
}

void perf_print_consume_json(FILE *out, const struct perf_result *r)
{
	fputc('{', out);
	print_common_json(out, r);
	fputs("}\n", out);
}
