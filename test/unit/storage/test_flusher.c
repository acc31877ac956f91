/* test_flusher.c: the background flusher: ordering, group commit and stop. */
#include "storage/flusher.h"

#include "storage/kv.h"
#include "storage/plog.h"
#include "test/unit/harness.h"
#include "test/unit/storage/storage_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define NOW 1000
#define LOGS 3

static atomic_int notifications;

static void count_cb(void *arg)
{
	(void)arg;
	atomic_fetch_add(&notifications, 1);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits up to 10 s for request seq to complete. */
static int wait_for(struct flusher *f, int64_t seq)
{
	for (int i = 0; i < 10000; i++) {
		if (flusher_completed(f, NULL) >= seq)
			return 1;
		sleep_ms(1);
	}
	return 0;
}

static int open_logs(struct plog **logs, const char *base)
{
	struct plog_config cfg;
	small_config(&cfg, 8192, 512);
	for (int i = 0; i < LOGS; i++) {
		char dir[1024];
		snprintf(dir, sizeof(dir), "%s/topic-%d", base, i);
		if (plog_open(dir, &cfg, NOW, &logs[i]) != 0)
			return -1;
	}
	return 0;
}

TEST(requests_complete_in_order_and_sync)
{
	struct plog *logs[LOGS];
	struct kv *kv;
	struct flusher *f;
	const char *base = harness_tmpdir();
	char kvdir[1024];
	snprintf(kvdir, sizeof(kvdir), "%s/node.mdb", base);
	CHECK_OK(open_logs(logs, base));
	CHECK_OK(kv_open(kvdir, 0, &kv));
	atomic_store(&notifications, 0);
	CHECK_OK(flusher_start(count_cb, NULL, &f));
	CHECK_EQ_INT(flusher_completed(f, NULL), 0);
	int64_t last = 0, seen = 0;
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < LOGS; i++)
			CHECK_OK(append_batches(logs[i], 2, 3, NOW));
		CHECK_OK(kv_put(kv, KV_TABLE_CHECKPOINT, "hw", 2, &round, sizeof(round)));
		int64_t seq = flusher_submit(f, logs, LOGS, kv);
		CHECK_EQ_INT(seq, last + 1);
		last = seq;
		/* Completion never goes backwards. */
		int64_t done = flusher_completed(f, NULL);
		CHECK(done >= seen && done <= last);
		seen = done;
	}
	CHECK(wait_for(f, last));
	uint64_t failed = 99;
	CHECK_EQ_INT(flusher_completed(f, &failed), last);
	CHECK_EQ_INT(failed, 0);
	CHECK(atomic_load(&notifications) >= 1);
	for (int i = 0; i < LOGS; i++) {
		CHECK_EQ_INT(plog_end_offset(logs[i]), 300);
		CHECK_EQ_INT(plog_synced_end(logs[i]), 300);
	}
	flusher_stop(f);
	for (int i = 0; i < LOGS; i++)
		plog_close(logs[i]);
	kv_close(kv);
}

TEST(stop_drains_the_queue)
{
	struct plog *logs[LOGS];
	struct flusher *f;
	CHECK_OK(open_logs(logs, harness_tmpdir()));
	CHECK_OK(flusher_start(NULL, NULL, &f));
	int64_t seq = 0;
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < LOGS; i++)
			CHECK_OK(append_batches(logs[i], 1, 2, NOW));
		seq = flusher_submit(f, logs, LOGS, NULL);
		CHECK(seq > 0);
	}
	/* The owner closes its logs at once; the flusher's holds keep them. */
	for (int i = 0; i < LOGS; i++) {
		plog_hold(logs[i]);
		plog_close(logs[i]);
	}
	flusher_stop(f);
	for (int i = 0; i < LOGS; i++) {
		CHECK_EQ_INT(plog_synced_end(logs[i]), 40);
		plog_unhold(logs[i]);
	}
}

TEST(empty_request_is_a_barrier)
{
	struct flusher *f;
	CHECK_OK(flusher_start(NULL, NULL, &f));
	int64_t a = flusher_submit(f, NULL, 0, NULL);
	int64_t b = flusher_submit(f, NULL, 0, NULL);
	CHECK_EQ_INT(a, 1);
	CHECK_EQ_INT(b, 2);
	CHECK(wait_for(f, b));
	CHECK_EQ_INT(flusher_submit(f, NULL, 3, NULL), RN_E_INVAL);
	flusher_stop(f);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
