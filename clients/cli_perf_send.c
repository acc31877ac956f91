/* cli_perf_send.c: runnel perf's send loop: records paced by the clock, latency to delivery. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clients/cli_perf.h"
#include "common/errors.h"

/* The loop drives the producer's I/O (and so runs delivery callbacks, which
 * is when a latency is taken) after every chunk of records: about
 * SEND_POLL_BYTES of payload, at most SEND_POLL_RECORDS records.  Smaller
 * chunks make latencies more exact and cost one poll() each. */
#define SEND_POLL_BYTES (64 * 1024)
#define SEND_POLL_RECORDS 256
/* One flush call lasts at most this long, so that progress lines keep
 * coming while the last records are delivered. */
#define SEND_FLUSH_TURN_MS 1000

int64_t perf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t perf_now_us(void)
{
	return perf_now_ns() / 1000;
}

uint8_t *perf_payload_new(size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return NULL;
	/* xorshift64: the bytes only need to look like data, not be secret. */
	uint64_t x = (uint64_t)perf_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)('!' + (x >> 32) % ('~' - '!' + 1));
	}
	return buf;
}

/* The delivery callback has only the opaque pointer; the one sender a
 * process runs at a time is here. */
static struct perf_sender *g_sender;

/* The time a delivery callback is called at.  One runnel_producer_poll
 * calls every callback that is due in one tight pass (it returns as soon as
 * it has called any), so the callbacks of a poll from the send loop share
 * the clock reading of the first: the pass takes microseconds, and a clock
 * read per record would cost a fifth of the loop.  Flush polls several
 * times, so while draining every callback reads the clock. */
static int64_t callback_now_us(struct perf_sender *s)
{
	if (!s->share_clock)
		return perf_now_us();
	if (s->pass_now_us < 0)
		s->pass_now_us = perf_now_us();
	return s->pass_now_us;
}

/* Drives the producer's I/O for up to timeout_ms; its callbacks share one
 * clock reading. */
static void poll_producer(struct perf_sender *s, int timeout_ms)
{
	s->pass_now_us = -1;
	runnel_producer_poll(s->p, timeout_ms);
}

/*
 * Each record's opaque pointer carries its send time (us since the start of
 * the run) instead of pointing at anything, so that no record needs memory
 * of its own.  Unsigned wrap-around keeps the difference right even where
 * a pointer is only 32 bits (for latencies under 71 minutes).
 */
static void delivery_cb(void *opaque, int err, int32_t partition, int64_t offset)
{
	(void)partition;
	(void)offset;
	struct perf_sender *s = g_sender;
	uintptr_t now = (uintptr_t)(callback_now_us(s) - s->start_us);
	uint64_t latency_us = (uint64_t)(now - (uintptr_t)opaque);
	if (err != 0) {
		if (s->failed++ == 0) {
			s->first_err = err;
			snprintf(s->errmsg, sizeof(s->errmsg), "%s", runnel_producer_errmsg(s->p));
		}
		return;
	}
	s->acked++;
	perf_hist_record(&s->ack_latency, latency_us);
	perf_window_add(&s->window, s->payload_len, latency_us);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* How many records may go at now_us: all that are left, or as many as the
 * rate allows since the start (the first at once). */
static uint64_t records_due(const struct perf_sender *s, int64_t now_us)
{
	uint64_t left = s->records - s->sent;
	if (s->throughput < 0)
		return left;
	double allowed = (double)(now_us - s->start_us) * (double)s->throughput / 1e6 + 1.0;
	if (allowed >= (double)s->records)
		return left;
	uint64_t n = (uint64_t)allowed;
	return n > s->sent ? n - s->sent : 0;
}

/* Milliseconds until the next record is due (at least 1: sub-millisecond
 * gaps are made up by sending the records due together). */
static int wait_ms(const struct perf_sender *s, int64_t now_us)
{
	double due_us = (double)s->start_us + (double)s->sent * 1e6 / (double)s->throughput;
	double ms = (due_us - (double)now_us) / 1000.0;
	if (ms < 1.0)
		return 1;
	return ms > SEND_FLUSH_TURN_MS ? SEND_FLUSH_TURN_MS : (int)ms + 1;
}

/* Sends n records.  Returns 0 or the send error (kept in s). */
static int send_records(struct perf_sender *s, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int64_t now_ns = perf_now_ns();
		if (s->stamp)
			put_le64(s->payload, (uint64_t)now_ns);
		void *sent_at = (void *)(uintptr_t)(now_ns / 1000 - s->start_us);
		int rc = runnel_producer_send(s->p, s->topic, -1, NULL, -1, s->payload,
					      (int32_t)s->payload_len, NULL, 0, -1, delivery_cb,
					      sent_at);
		if (rc != 0) {
			s->first_err = rc;
			snprintf(s->errmsg, sizeof(s->errmsg), "%s", runnel_producer_errmsg(s->p));
			return rc;
		}
		s->sent++;
	}
	return 0;
}

static void maybe_report(struct perf_sender *s, int64_t *next_report_us)
{
	int64_t now = perf_now_us();
	if (!s->progress || now < *next_report_us)
		return;
	perf_window_print(stderr, "sent", &s->window, now);
	perf_window_reset(&s->window, now);
	*next_report_us = now + PERF_REPORT_INTERVAL_US;
}

/* Waits for every record sent to be delivered or failed, at most
 * s->flush_timeout_ms. */
static void drain(struct perf_sender *s, int64_t *next_report_us)
{
	int64_t deadline = perf_now_us() + (int64_t)s->flush_timeout_ms * 1000;
	s->share_clock = 0;
	while (runnel_producer_outstanding(s->p) > 0) {
		int64_t left_ms = (deadline - perf_now_us()) / 1000;
		if (left_ms <= 0)
			break;
		if (left_ms > SEND_FLUSH_TURN_MS)
			left_ms = SEND_FLUSH_TURN_MS;
		runnel_producer_flush(s->p, (int)left_ms);
		maybe_report(s, next_report_us);
	}
}

int perf_sender_run(struct perf_sender *s)
{
	uint64_t chunk = SEND_POLL_BYTES / (s->payload_len ? s->payload_len : 1);
	chunk = chunk < 1 ? 1 : chunk > SEND_POLL_RECORDS ? SEND_POLL_RECORDS : chunk;
	perf_hist_init(&s->ack_latency);
	s->share_clock = 1;
	g_sender = s;
	s->start_us = perf_now_us();
	perf_window_reset(&s->window, s->start_us);
	int64_t next_report_us = s->start_us + PERF_REPORT_INTERVAL_US;
	int rc = 0;
	/* A failed delivery stops the run: the rest would only fail too, or
	 * measure something else. */
	while (s->sent < s->records && s->failed == 0 && !(s->cancel && atomic_load(s->cancel))) {
		int64_t now = perf_now_us();
		uint64_t n = records_due(s, now);
		if (n == 0) {
			poll_producer(s, wait_ms(s, now));
		} else {
			if ((rc = send_records(s, n < chunk ? n : chunk)) != 0)
				break;
			poll_producer(s, 0);
		}
		maybe_report(s, &next_report_us);
	}
	drain(s, &next_report_us);
	s->end_us = perf_now_us();
	g_sender = NULL;
	if (rc != 0 || s->first_err != 0)
		return s->first_err;
	if (s->acked < s->sent) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%llu records still undelivered after %d ms",
			 (unsigned long long)(s->sent - s->acked), s->flush_timeout_ms);
		return s->first_err = RN_E_TIMEOUT;
	}
	return 0;
}

void perf_sender_report(const struct perf_sender *s, const char *what)
{
	const char *msg = s->errmsg[0] ? s->errmsg : rn_strerror(s->first_err);
	if (s->sent == 0) {
		cli_error(what, s->first_err, msg);
		return;
	}
	fprintf(stderr, "runnel: %s: %llu of %llu records were not acknowledged: %s: %s\n", what,
		(unsigned long long)(s->records - s->acked), (unsigned long long)s->records,
		rn_errname(s->first_err), msg);
}

