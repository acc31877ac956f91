/* test_epoch.c: the leader-epoch history of a partition log and its checkpoint. */
#include "storage/epoch_hist.h"
#include "storage/plog.h"
#include "storage/storage_limits.h"

#include "test/unit/harness.h"
#include "test/unit/storage/storage_util.h"

#define NOW 1000

/* Appends count batches of n records stamped with epoch. */
static int append_epoch(struct plog *log, int count, int n, int32_t epoch)
{
	static uint8_t buf[TEST_BATCH_CAP];
	for (int i = 0; i < count; i++) {
		size_t len = build_batch(buf, plog_end_offset(log), n);
		int rc = plog_append(log, buf, len, epoch, NOW, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

/* The end offset plog_epoch_end_offset gives for epoch, with the found
 * epoch in *found. */
static int64_t end_of(struct plog *log, int32_t epoch, int32_t *found)
{
	int64_t end;
	if (plog_epoch_end_offset(log, epoch, found, &end) != 0)
		return -100;
	return end;
}

static void checkpoint_path(char *out, size_t cap, const char *dir)
{
	snprintf(out, cap, "%s/%s", dir, PLOG_EPOCH_CHECKPOINT_FILE);
}

/* A log with epochs 1 (offsets 0..9), 3 (10..19) and 5 (20..29). */
static int make_three_epochs(const char *dir, struct plog **log)
{
	struct plog_config cfg;
	small_config(&cfg, 600, 128);
	int rc = plog_open(dir, &cfg, NOW, log);
	if (rc == 0)
		rc = append_epoch(*log, 5, 2, 1);
	if (rc == 0)
		rc = append_epoch(*log, 5, 2, 3);
	if (rc == 0)
		rc = append_epoch(*log, 5, 2, 5);
	return rc;
}

/* Checks the answers the three-epoch log must give. */
static int three_epochs_answers(struct plog *log)
{
	int32_t found;
	if (plog_latest_epoch(log) != 5 || plog_epoch_count(log) != 3)
		return 1;
	if (end_of(log, 0, &found) != -1 || found != -1)
		return 2;
	if (end_of(log, 1, &found) != 10 || found != 1)
		return 3;
	if (end_of(log, 2, &found) != 10 || found != 1)
		return 4;
	if (end_of(log, 3, &found) != 20 || found != 3)
		return 5;
	if (end_of(log, 5, &found) != 30 || found != 5)
		return 6;
	if (end_of(log, 99, &found) != 30 || found != 5)
		return 7;
	int64_t start;
	if (plog_epoch_start_offset(log, 3, &start) != 0 || start != 10)
		return 8;
	if (plog_epoch_start_offset(log, -1, &start) != 0 || start != 0)
		return 9;
	if (plog_epoch_start_offset(log, 2, &start) != RN_E_NOT_FOUND)
		return 10;
	return 0;
}

TEST(empty_log_has_no_epochs)
{
	struct plog_config cfg;
	struct plog *log;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(harness_tmpdir(), &cfg, NOW, &log));
	int32_t found;
	CHECK_EQ_INT(plog_latest_epoch(log), -1);
	CHECK_EQ_INT(end_of(log, 7, &found), -1);
	CHECK_EQ_INT(found, -1);
	int64_t start;
	CHECK_EQ_INT(plog_epoch_start_offset(log, -1, &start), RN_E_NOT_FOUND);
	CHECK_EQ_INT(plog_epoch_end_offset(log, 1, NULL, &start), RN_E_INVAL);
	plog_close(log);
}

TEST(appends_record_each_new_epoch_and_its_start)
{
	struct plog *log;
	CHECK_OK(make_three_epochs(harness_tmpdir(), &log));
	CHECK(plog_segment_count(log) > 1);
	CHECK_EQ_INT(three_epochs_answers(log), 0);
	/* A batch from an older epoch adds nothing (and is still appended). */
	CHECK_OK(append_epoch(log, 1, 2, 4));
	CHECK_EQ_INT(plog_epoch_count(log), 3);
	CHECK_EQ_INT(plog_end_offset(log), 32);
	plog_close(log);
}

TEST(history_survives_clean_and_unclean_reopen)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	CHECK_OK(make_three_epochs(dir, &log));
	plog_close(log);
	small_config(&cfg, 600, 128);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(three_epochs_answers(log), 0);
	plog_close(log);
	forget_clean_close(dir);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(three_epochs_answers(log), 0);
	CHECK_EQ_INT(read_all(log, 1 << 20), 30);
	plog_close(log);
}

TEST(truncate_drops_epochs_past_the_cut_durably)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	int32_t found;
	CHECK_OK(make_three_epochs(dir, &log));
	CHECK_OK(plog_truncate(log, 14));
	CHECK_EQ_INT(plog_latest_epoch(log), 3);
	CHECK_EQ_INT(end_of(log, 5, &found), 14);
	CHECK_EQ_INT(found, 3);
	/* Truncating exactly at an epoch's start removes that epoch. */
	CHECK_OK(plog_truncate(log, 10));
	CHECK_EQ_INT(plog_latest_epoch(log), 1);
	CHECK_EQ_INT(plog_epoch_count(log), 1);
	/* A new epoch may then start where the old one was cut. */
	CHECK_OK(append_epoch(log, 1, 2, 6));
	CHECK_EQ_INT(end_of(log, 5, &found), 10);
	CHECK_EQ_INT(found, 1);
	plog_close(log);
	small_config(&cfg, 600, 128);
	forget_clean_close(dir);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_epoch_count(log), 2);
	CHECK_EQ_INT(end_of(log, 6, &found), 12);
	CHECK_EQ_INT(found, 6);
	plog_close(log);
}

TEST(follower_copy_records_the_epochs_in_the_batches)
{
	struct plog_config cfg;
	struct plog *log;
	uint8_t buf[TEST_BATCH_CAP];
	plog_config_default(&cfg);
	CHECK_OK(plog_open(harness_tmpdir(), &cfg, NOW, &log));
	int32_t epochs[] = {2, 2, 7, 9, 9};
	for (int i = 0; i < 5; i++) {
		size_t len = build_batch(buf, i * 3, 3);
		batch_stamp(buf, i * 3, epochs[i]);
		CHECK_OK(plog_append_as_is(log, buf, len, NOW, NULL));
	}
	int32_t found;
	CHECK_EQ_INT(plog_epoch_count(log), 3);
	CHECK_EQ_INT(end_of(log, 2, &found), 6);
	CHECK_EQ_INT(end_of(log, 8, &found), 9);
	CHECK_EQ_INT(found, 7);
	CHECK_EQ_INT(end_of(log, 9, &found), 15);
	plog_close(log);
}

TEST(missing_or_damaged_checkpoint_is_rebuilt_from_batches)
{
	const char *dir = harness_tmpdir();
	char path[1024];
	struct plog_config cfg;
	struct plog *log;
	CHECK_OK(make_three_epochs(dir, &log));
	plog_close(log);
	checkpoint_path(path, sizeof(path), dir);
	small_config(&cfg, 600, 128);

	CHECK(unlink(path) == 0);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(three_epochs_answers(log), 0);
	plog_close(log);
	CHECK(file_exists(path));

	/* Entries out of order are not something the log wrote. */
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("0\n2\n5 10\n3 20\n", f);
	fclose(f);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(three_epochs_answers(log), 0);
	plog_close(log);

	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("0\n3\n1 0\n3 10\n", f); /* says 3 entries, holds 2 */
	fclose(f);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(three_epochs_answers(log), 0);
	plog_close(log);
}

TEST(epoch_of_a_torn_last_batch_is_forgotten)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_epoch(log, 3, 2, 1));
	CHECK_OK(append_epoch(log, 1, 2, 4));
	CHECK_EQ_INT(plog_latest_epoch(log), 4);
	plog_close(log);
	/* A crash tore the epoch 4 batch: recovery cuts it, and the history
	 * must not claim an epoch with no batch past the end. */
	char seg[1024];
	seg_path(seg, sizeof(seg), dir, 0, "log");
	CHECK(truncate(seg, file_size(seg) - 5) == 0);
	forget_clean_close(dir);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_end_offset(log), 6);
	CHECK_EQ_INT(plog_latest_epoch(log), 1);
	int32_t found;
	CHECK_EQ_INT(end_of(log, 4, &found), 6);
	CHECK_EQ_INT(found, 1);
	plog_close(log);
}

TEST(assign_marks_a_new_leaders_epoch_before_any_batch)
{
	const char *dir = harness_tmpdir();
	struct plog_config cfg;
	struct plog *log;
	int32_t found;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_OK(append_epoch(log, 3, 2, 1));
	CHECK_OK(plog_epoch_assign(log, 4));
	CHECK_EQ_INT(plog_latest_epoch(log), 4);
	/* Epoch 1 ends where the new leader began, even with no new batch. */
	CHECK_EQ_INT(end_of(log, 1, &found), 6);
	CHECK_EQ_INT(end_of(log, 3, &found), 6);
	CHECK_EQ_INT(found, 1);
	/* A newer epoch at the same offset replaces the empty one. */
	CHECK_OK(plog_epoch_assign(log, 6));
	CHECK_EQ_INT(plog_epoch_count(log), 2);
	CHECK_OK(plog_epoch_assign(log, 5)); /* older: nothing */
	CHECK_EQ_INT(plog_latest_epoch(log), 6);
	CHECK_EQ_INT(plog_epoch_assign(log, -1), RN_E_INVAL);
	CHECK_OK(append_epoch(log, 2, 2, 6));
	CHECK_EQ_INT(plog_epoch_count(log), 2);
	CHECK_EQ_INT(end_of(log, 6, &found), 10);
	plog_close(log);
	CHECK_OK(plog_open(dir, &cfg, NOW, &log));
	CHECK_EQ_INT(plog_epoch_count(log), 2);
	CHECK_EQ_INT(plog_latest_epoch(log), 6);
	plog_close(log);
}

TEST(empty_assigned_epoch_gives_way_to_copied_batches)
{
	struct plog_config cfg;
	struct plog *log;
	uint8_t buf[TEST_BATCH_CAP];
	int32_t found;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(harness_tmpdir(), &cfg, NOW, &log));
	CHECK_OK(append_epoch(log, 2, 2, 4));
	/* This node led epoch 7 without writing, then follows a leader whose
	 * log holds epoch 5 batches from offset 4 on. */
	CHECK_OK(plog_epoch_assign(log, 7));
	size_t len = build_batch(buf, 4, 3);
	batch_stamp(buf, 4, 5);
	CHECK_OK(plog_append_as_is(log, buf, len, NOW, NULL));
	CHECK_EQ_INT(plog_latest_epoch(log), 5);
	CHECK_EQ_INT(end_of(log, 5, &found), 7);
	CHECK_EQ_INT(found, 5);
	CHECK_EQ_INT(end_of(log, 4, &found), 4);
	CHECK_EQ_INT(found, 4);
	/* Epoch 7 had no batch: a question about it gets epoch 5's answer. */
	CHECK_EQ_INT(end_of(log, 7, &found), 7);
	CHECK_EQ_INT(found, 5);
	plog_close(log);
}

TEST(truncate_at_the_end_drops_an_assigned_epoch_without_batches)
{
	struct plog_config cfg;
	struct plog *log;
	int32_t found;
	plog_config_default(&cfg);
	CHECK_OK(plog_open(harness_tmpdir(), &cfg, NOW, &log));
	CHECK_OK(append_epoch(log, 2, 2, 5));
	CHECK_OK(plog_epoch_assign(log, 7));
	CHECK_EQ_INT(plog_latest_epoch(log), 7);
	/* The new leader says epoch 5 ends at 4 here: nothing to cut, but the
	 * follower must stop calling 7 its last epoch. */
	CHECK_OK(plog_truncate(log, 4));
	CHECK_EQ_INT(plog_end_offset(log), 4);
	CHECK_EQ_INT(plog_latest_epoch(log), 5);
	CHECK_EQ_INT(end_of(log, 7, &found), 4);
	CHECK_EQ_INT(found, 5);
	plog_close(log);
}

TEST(history_is_bounded_dropping_the_oldest)
{
	struct epoch_hist h = {0};
	for (uint32_t i = 0; i < PLOG_MAX_EPOCH_ENTRIES + 10; i++)
		CHECK_EQ_INT(epoch_hist_add(&h, (int32_t)i, (int64_t)i * 2), 1);
	CHECK_EQ_INT(h.n, PLOG_MAX_EPOCH_ENTRIES);
	CHECK_EQ_INT(h.v[0].epoch, 10);
	int32_t found;
	int64_t end;
	epoch_hist_end_offset(&h, 9, 1 << 30, &found, &end);
	CHECK_EQ_INT(found, -1);
	/* Going backwards is refused; repeating the latest is a no-op. */
	CHECK_EQ_INT(epoch_hist_add(&h, (int32_t)PLOG_MAX_EPOCH_ENTRIES + 10, 0), RN_E_INVAL);
	CHECK_EQ_INT(epoch_hist_add(&h, 3, 1ll << 40), 0);
	CHECK_EQ_INT(epoch_hist_add(&h, -1, 5), RN_E_INVAL);
	epoch_hist_free(&h);
}

TEST(checkpoint_round_trips_at_full_size)
{
	const char *dir = harness_tmpdir();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	struct epoch_hist h = {0}, back = {0};
	for (uint32_t i = 0; i < PLOG_MAX_EPOCH_ENTRIES; i++)
		CHECK_EQ_INT(epoch_hist_add(&h, (int32_t)(i * 3 + 1), (int64_t)i * 1000000007ll), 1);
	CHECK_OK(epoch_hist_store(&h, dfd, "cp"));
	CHECK_OK(epoch_hist_load(&back, dfd, "cp"));
	CHECK_EQ_INT(back.n, h.n);
	for (uint32_t i = 0; i < h.n; i++) {
		CHECK_EQ_INT(back.v[i].epoch, h.v[i].epoch);
		CHECK_EQ_INT(back.v[i].start_offset, h.v[i].start_offset);
	}
	CHECK_EQ_INT(epoch_hist_load(&back, dfd, "absent"), RN_E_NOT_FOUND);
	CHECK_EQ_INT(back.n, 0);
	epoch_hist_free(&h);
	epoch_hist_free(&back);
	close(dfd);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
