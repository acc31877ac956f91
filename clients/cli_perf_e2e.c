/* cli_perf_e2e.c: runnel perf e2e: latency from send to receipt, producing while consuming. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli_perf.h"
#include "common/errors.h"
#include "wire/batch.h"

/* Records asked of the consumer per poll, and the wait of one poll (how
 * soon the consumer notices that it should stop). */
#define E2E_POLL_BATCH 1024
#define E2E_POLL_MS 100

/* The consumer side, run on its own thread with its own consumer object
 * while the main thread produces. */
struct e2e_reader {
	runnel_consumer *c;
	uint64_t want;
	int64_t timeout_ms;
	atomic_int stop; /* set by the main thread: give up */
	atomic_int failed; /* set by the reader: the producer can stop */
	/* Outcome, read by the main thread after the join. */
	uint64_t records, bytes;
	int64_t last_us; /* when the last record arrived */
	int err;
	char errmsg[512];
	struct perf_window window;
	struct perf_hist hist;
	struct runnel_record recs[E2E_POLL_BATCH];
};

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Counts the records of one poll, all received at now_ns.  Returns 0, or
 * RN_E_INVALID_RECORD for a record that carries no send time. */
static int take_records(struct e2e_reader *r, size_t n, int64_t now_ns)
{
	for (size_t i = 0; i < n; i++) {
		const struct runnel_record *rec = &r->recs[i];
		if (rec->value_len < PERF_E2E_STAMP_BYTES) {
			r->err = RN_E_INVALID_RECORD;
			snprintf(r->errmsg, sizeof(r->errmsg),
				 "record %s/%d@%lld is too short to carry a send time: is another "
				 "producer writing to the topic?",
				 rec->topic, rec->partition, (long long)rec->offset);
			return r->err;
		}
		int64_t sent_ns = (int64_t)get_le64(rec->value);
		uint64_t latency_us = now_ns > sent_ns ? (uint64_t)(now_ns - sent_ns) / 1000 : 0;
		uint64_t bytes = (uint64_t)rec->value_len;
		if (rec->key_len > 0)
			bytes += (uint64_t)rec->key_len;
		perf_hist_record(&r->hist, latency_us);
		perf_window_add(&r->window, bytes, latency_us);
		r->bytes += bytes;
	}
	r->records += n;
	return 0;
}

static void *reader_main(void *arg)
{
	struct e2e_reader *r = arg;
	int64_t next_report = perf_now_us() + PERF_REPORT_INTERVAL_US;
	r->last_us = perf_now_us();
	perf_window_reset(&r->window, r->last_us);
	while (r->records < r->want && !atomic_load(&r->stop)) {
		size_t n = 0, max = r->want - r->records < E2E_POLL_BATCH ? r->want - r->records
									 : E2E_POLL_BATCH;
		int rc = runnel_consumer_poll(r->c, E2E_POLL_MS, r->recs, max, &n);
		int64_t now_ns = perf_now_ns();
		if (rc != 0) {
			r->err = rc;
			snprintf(r->errmsg, sizeof(r->errmsg), "%s", runnel_consumer_errmsg(r->c));
			break;
		}
		if (take_records(r, n, now_ns) != 0)
			break;
		int64_t now = now_ns / 1000;
		if (n > 0)
			r->last_us = now;
		if (now - r->last_us >= r->timeout_ms * 1000) {
			r->err = RN_E_TIMEOUT;
			snprintf(r->errmsg, sizeof(r->errmsg),
				 "received %llu of %llu records; none arrived in the last %lld ms",
				 (unsigned long long)r->records, (unsigned long long)r->want,
				 (long long)r->timeout_ms);
			break;
		}
		if (now >= next_report) {
			perf_window_print(stderr, "received", &r->window, now);
			perf_window_reset(&r->window, now);
			next_report = now + PERF_REPORT_INTERVAL_US;
		}
	}
	if (r->err != 0)
		atomic_store(&r->failed, 1);
	return NULL;
}

/* Puts the consumer at the current end of every partition, so that it
 * reads only what this run produces.  Returns 0 or an error (reported). */
static int start_at_end(const struct runnel_producer_config *pcfg, runnel_consumer *c,
			const char *topic)
{
	runnel_admin *a = NULL;
	int64_t *ends = NULL;
	int32_t count = 0;
	int rc = runnel_admin_new(&pcfg->client, &a);
	if (rc != 0) {
		cli_error("perf e2e", rc, "bad bootstrap list");
		return rc;
	}
	rc = runnel_admin_list_offsets(a, topic, RUNNEL_OFFSET_LATEST, &ends, &count);
	if (rc != 0)
		cli_error("perf e2e", rc, runnel_admin_errmsg(a));
	if (rc == 0 && (rc = runnel_consumer_assign(c, topic, NULL, 0)) != 0)
		cli_error("perf e2e", rc, runnel_consumer_errmsg(c));
	for (int32_t p = 0; rc == 0 && p < count; p++) {
		/* A partition whose end was not known is read from its end as
		 * the consumer finds it. */
		struct runnel_position pos = {RUNNEL_POS_OFFSET, ends[p]};
		if (ends[p] < 0)
			pos = (struct runnel_position){RUNNEL_POS_END, 0};
		if ((rc = runnel_consumer_seek(c, topic, p, pos)) != 0)
			cli_error("perf e2e", rc, runnel_consumer_errmsg(c));
	}
	free(ends);
	runnel_admin_free(a);
	return rc;
}

/* Produces while r reads on its own thread.  Returns the exit status. */
static int run_both(const struct perf_opts *o, struct perf_sender *s, struct e2e_reader *r)
{
	pthread_t tid;
	/* ISA-L picks its CRC routine on the first call and stores the choice
	 * in a global; making that first call here keeps the two threads from
	 * racing to store it. */
	(void)crc32c("x", 1);
	if (pthread_create(&tid, NULL, reader_main, r) != 0) {
		cli_error("perf e2e", RN_E_NOMEM, "cannot start the consumer thread");
		return CLI_EXIT_ERROR;
	}
	int src = perf_sender_run(s);
	if (src != 0)
		atomic_store(&r->stop, 1);
	pthread_join(tid, NULL);
	if (src != 0) {
		perf_sender_report(s, "perf e2e");
		return CLI_EXIT_ERROR;
	}
	if (r->err != 0) {
		cli_error("perf e2e", r->err, r->errmsg);
		return CLI_EXIT_ERROR;
	}
	struct perf_result res = {.records = r->records, .bytes = r->bytes,
				  .elapsed_us = r->last_us - s->start_us, .latency = &r->hist};
	if (o->json)
		perf_print_latency_json(stdout, &res);
	else
		perf_print_latency_text(stdout, "received", &res);
	return CLI_EXIT_OK;
}

/* Creates the clients and runs.  Returns the exit status. */
static int e2e_with(const struct perf_opts *o, const struct runnel_producer_config *pcfg,
		    const struct runnel_consumer_config *ccfg, struct perf_sender *s,
		    struct e2e_reader *r)
{
	runnel_producer *p = NULL;
	int status = CLI_EXIT_ERROR;
	int rc = runnel_consumer_new(ccfg, &r->c);
	if (rc != 0) {
		cli_error("perf e2e", rc, "bad consumer settings");
		return CLI_EXIT_ERROR;
	}
	if (start_at_end(pcfg, r->c, o->topic) != 0)
		goto out_consumer;
	if ((rc = runnel_producer_new(pcfg, &p)) != 0) {
		char why[256];
		if (runnel_producer_config_check(pcfg, why, sizeof(why)) == 0)
			snprintf(why, sizeof(why), "bad producer settings (bootstrap, batch.size, ...)");
		cli_error("perf e2e", rc, why);
		goto out_consumer;
	}
	s->p = p;
	status = run_both(o, s, r);
	runnel_producer_free(p);
out_consumer:
	runnel_consumer_free(r->c);
	return status;
}

int cli_perf_e2e(const struct cli_global *g, const struct perf_opts *o)
{
	struct runnel_producer_config pcfg;
	struct runnel_consumer_config ccfg;
	char *keys[PERF_MAX_SETTINGS];
	int status = perf_configure(g, o, &pcfg, &ccfg, keys);
	if (status != 0)
		goto out_keys;
	status = CLI_EXIT_ERROR;
	struct perf_sender *s = calloc(1, sizeof(*s));
	struct e2e_reader *r = calloc(1, sizeof(*r));
	uint8_t *payload = perf_payload_new((size_t)o->record_size);
	if (!s || !r || !payload) {
		cli_error("perf e2e", RN_E_NOMEM, NULL);
		goto out_free;
	}
	*s = (struct perf_sender){.topic = o->topic,
				  .payload = payload,
				  .payload_len = (size_t)o->record_size,
				  .records = (uint64_t)o->records,
				  .throughput = o->throughput,
				  .stamp = 1,
				  .cancel = &r->failed,
				  .flush_timeout_ms = pcfg.delivery_timeout_ms};
	r->want = (uint64_t)o->records;
	r->timeout_ms = o->timeout_ms;
	perf_hist_init(&r->hist);
	status = e2e_with(o, &pcfg, &ccfg, s, r);
out_free:
	free(payload);
	free(r);
	free(s);
out_keys:
	perf_free_keys(keys, o->setting_count);
	return status;
}
