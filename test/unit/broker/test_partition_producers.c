/* test_partition_producers.c: partitions deduplicate idempotent producers as leader and follower, and keep that state across restarts and truncations. */
#include "broker/config.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "broker/pstate.h"
#include "broker/pstate_store.h"
#include "common/errors.h"
#include "controller/metadata.h"
#include "storage/plog.h"
#include "test/unit/harness.h"
#include "wire/batch.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Node 1 leads, node 2 follows. */
#define LEADER 1
#define FOLLOWER 2
/* Small segments, so that a few batches roll the log (and write snapshots). */
#define SMALL_SEGMENT_BYTES 600u
#define NOW_MS 1700000000000ll

struct fixture {
	struct node n;
	struct pmgr *pm;
	struct meta_image *img;
	uint64_t index;
	struct partition *p;
	char dir[512]; /* the partition's log directory */
};

static int fixture_apply(struct fixture *f, const struct meta_record *rec)
{
	return meta_image_apply(f->img, ++f->index, rec);
}

/* Node self with its topics under dir hosts topic "t" (one partition,
 * replicas 1 and 2, led by node 1); segment_bytes 0 keeps the default. */
static int fixture_open(struct fixture *f, int32_t self, const char *dir, uint64_t segment_bytes)
{
	memset(f, 0, sizeof(*f));
	char *argv[] = {"runneld", NULL};
	char *envp[] = {NULL};
	enum config_action action;
	char err[CONFIG_MAX_ERROR];
	if (config_parse(&f->n.cfg, 1, argv, envp, &action, err) != RN_OK)
		return -1;
	f->n.cfg.node_id = self;
	if (segment_bytes)
		f->n.cfg.log_segment_bytes = (int64_t)segment_bytes;
	mkdir(dir, 0755);
	snprintf(f->n.topics_dir, sizeof(f->n.topics_dir), "%s", dir);
	snprintf(f->dir, sizeof(f->dir), "%s/t-0", dir);
	if (pmgr_new(&f->n, &f->pm) != RN_OK || meta_image_new(&f->img) != RN_OK)
		return -1;
	f->n.pm = f->pm;
	pmgr_set_live(f->pm, true);
	uint8_t topic_id[META_TOPIC_ID_LEN];
	memset(topic_id, 0x5a, sizeof(topic_id));
	struct meta_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.type = META_REC_TOPIC;
	snprintf(rec.u.topic.name, sizeof(rec.u.topic.name), "t");
	memcpy(rec.u.topic.topic_id, topic_id, META_TOPIC_ID_LEN);
	if (fixture_apply(f, &rec) != RN_OK)
		return -1;
	const struct meta_topic *t = meta_image_topic_by_name(f->img, "t");
	if (pmgr_apply_topic(f->pm, t) != RN_OK)
		return -1;
	memset(&rec, 0, sizeof(rec));
	rec.type = META_REC_PARTITION;
	memcpy(rec.u.partition.topic_id, topic_id, META_TOPIC_ID_LEN);
	rec.u.partition.replica_count = rec.u.partition.isr_count = 2;
	rec.u.partition.replicas[0] = rec.u.partition.isr[0] = LEADER;
	rec.u.partition.replicas[1] = rec.u.partition.isr[1] = FOLLOWER;
	rec.u.partition.leader = LEADER;
	if (fixture_apply(f, &rec) != RN_OK)
		return -1;
	t = meta_image_topic_by_name(f->img, "t");
	if (pmgr_apply_partition(f->pm, t, &t->partitions[0]) != RN_OK)
		return -1;
	f->p = pmgr_find(f->pm, "t", 0);
	return f->p ? 0 : -1;
}

/* A clean stop: the manager writes a snapshot at each log end. */
static void fixture_close(struct fixture *f)
{
	pmgr_free(f->pm);
	meta_image_free(f->img);
}

static char last_why[256];

/* Produces a batch of n records as the leader would. */
static int produce(struct partition *p, int64_t pid, int16_t epoch, int32_t seq, int n,
		   struct partition_produce_result *out)
{
	uint8_t buf[4096];
	struct batch_builder b;
	batch_builder_init(&b, buf, sizeof(buf));
	for (int i = 0; i < n; i++)
		if (batch_builder_add(&b, NOW_MS, "k", 1, "value", 5, NULL, 0) != RN_OK)
			return -1;
	size_t len = batch_builder_finish(&b, pid, epoch, seq);
	struct batch_info info;
	if (batch_validate(buf, len, RN_MAX_RECORDS_PER_BATCH, &info) != RN_OK)
		return -1;
	last_why[0] = '\0';
	return partition_produce(p, buf, len, &info, NOW_MS, out, last_why, sizeof(last_why));
}

/* Copies the leader's batches the follower lacks, as the fetcher does. */
static int replicate(struct partition *leader, struct partition *follower)
{
	int64_t off = plog_end_offset(follower->log);
	while (off < plog_end_offset(leader->log)) {
		struct plog_slice sl;
		if (plog_read(leader->log, off, 1u << 20, INT64_MAX, &sl) != RN_OK || sl.len == 0)
			return -1;
		uint8_t *buf = malloc(sl.len);
		int rc = buf && plog_slice_copy(&sl, buf) == RN_OK ? 0 : -1;
		for (size_t at = 0; rc == 0 && at < sl.len;) {
			struct batch_info info;
			if (batch_peek(buf + at, sl.len - at, &info) != RN_OK ||
			    partition_append_replica(follower, buf + at, info.total_bytes,
						     info.record_count, NOW_MS) != RN_OK) {
				rc = -1;
				break;
			}
			off = info.base_offset + info.last_offset_delta + 1;
			at += info.total_bytes;
		}
		free(buf);
		plog_slice_release(&sl);
		if (rc)
			return rc;
	}
	return 0;
}

/* The cached batches of p, oldest first. */
static const struct pstate_batch *cached(const struct pstate_producer *p, uint32_t k)
{
	return &p->batches[(p->newest + PSTATE_CACHED_BATCHES - (p->count - 1) + k) %
			   PSTATE_CACHED_BATCHES];
}

/* True when a and b hold the same producers, epochs and batches (the LRU
 * clock may differ). */
static bool states_equal(const struct pstate *a, const struct pstate *b)
{
	if (a->count != b->count)
		return false;
	for (uint32_t i = 0; i < a->cap; i++) {
		const struct pstate_producer *pa = &a->slots[i];
		if (pa->producer_id == -1)
			continue;
		const struct pstate_producer *pb = pstate_find(b, pa->producer_id);
		if (!pb || pb->epoch != pa->epoch || pb->count != pa->count)
			return false;
		for (uint32_t k = 0; k < pa->count; k++)
			if (memcmp(cached(pa, k), cached(pb, k), sizeof(struct pstate_batch)) != 0)
				return false;
	}
	return true;
}

/* The state a replay of the whole log gives. */
static bool equals_full_replay(struct partition *p)
{
	struct pstate full;
	pstate_init(&full);
	bool same = pstate_store_replay(p->log, 0, &full) == RN_OK &&
		    states_equal(&full, &p->producers);
	pstate_free(&full);
	return same;
}

static int count_snapshots(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len > strlen(PSTATE_STORE_SUFFIX) &&
		    strcmp(e->d_name + len - strlen(PSTATE_STORE_SUFFIX), PSTATE_STORE_SUFFIX) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void snapshot_path(const struct fixture *f, int64_t offset, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%020lld%s", f->dir, (long long)offset, PSTATE_STORE_SUFFIX);
}

/* Several producers, several epochs, more batches than the cache holds. */
static int produce_mix(struct partition *p, int rounds)
{
	struct partition_produce_result r;
	int32_t seq[3] = {0, 0, 0};
	for (int i = 0; i < rounds; i++) {
		for (int k = 0; k < 3; k++) {
			int n = 1 + (i + k) % 3;
			if (produce(p, 100 + k, 0, seq[k], n, &r) != RN_OK || r.duplicate)
				return -1;
			seq[k] += n;
		}
		/* A producer without an id is appended and not tracked. */
		if (produce(p, -1, -1, -1, 1, &r) != RN_OK)
			return -1;
	}
	return 0;
}

TEST(a_retry_is_answered_with_the_original_offsets_and_not_appended)
{
	struct fixture f;
	CHECK_OK(fixture_open(&f, LEADER, harness_tmpdir(), 0));
	CHECK(f.p->leading);
	struct partition_produce_result r;
	CHECK_OK(produce(f.p, 7, 0, 0, 3, &r));
	CHECK(!r.duplicate);
	CHECK_EQ_INT(r.append.base_offset, 0);
	CHECK_OK(produce(f.p, 7, 0, 3, 2, &r));
	CHECK_EQ_INT(r.append.base_offset, 3);
	CHECK_OK(produce(f.p, -1, -1, -1, 1, &r));
	CHECK_EQ_INT(r.append.base_offset, 5);
	/* Both batches retried: their offsets, nothing new in the log. */
	CHECK_OK(produce(f.p, 7, 0, 0, 3, &r));
	CHECK(r.duplicate);
	CHECK_EQ_INT(r.append.base_offset, 0);
	CHECK_EQ_INT(r.append.last_offset, 2);
	CHECK_OK(produce(f.p, 7, 0, 3, 2, &r));
	CHECK(r.duplicate);
	CHECK_EQ_INT(r.append.base_offset, 3);
	CHECK_EQ_INT(r.append.last_offset, 4);
	CHECK_EQ_INT(plog_end_offset(f.p->log), 6);
	/* A producer without an id is never deduplicated. */
	CHECK_OK(produce(f.p, -1, -1, -1, 1, &r));
	CHECK_EQ_INT(r.append.base_offset, 6);
	CHECK_EQ_INT(plog_end_offset(f.p->log), 7);
	fixture_close(&f);
}

TEST(gaps_old_epochs_and_missing_sequences_are_refused)
{
	struct fixture f;
	CHECK_OK(fixture_open(&f, LEADER, harness_tmpdir(), 0));
	struct partition_produce_result r;
	CHECK_OK(produce(f.p, 7, 1, 0, 5, &r));
	CHECK_EQ_INT(produce(f.p, 7, 1, 9, 1, &r), RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK(strstr(last_why, "producer id 7") != NULL);
	CHECK(strstr(last_why, "sequence 9 received, 5 expected") != NULL);
	CHECK_EQ_INT(produce(f.p, 7, 0, 5, 1, &r), RN_E_INVALID_PRODUCER_EPOCH);
	CHECK(strstr(last_why, "epoch 0 is older than its current epoch 1") != NULL);
	/* A new epoch starts at 0. */
	CHECK_EQ_INT(produce(f.p, 7, 2, 5, 1, &r), RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK(strstr(last_why, "0 expected") != NULL);
	CHECK_EQ_INT(produce(f.p, 7, 0, -1, 1, &r), RN_E_INVALID_RECORD);
	CHECK(strstr(last_why, "base sequence -1") != NULL);
	/* Nothing refused reached the log; the next in order does. */
	CHECK_EQ_INT(plog_end_offset(f.p->log), 5);
	CHECK_OK(produce(f.p, 7, 1, 5, 1, &r));
	CHECK_EQ_INT(r.append.base_offset, 5);
	CHECK_OK(produce(f.p, 7, 2, 0, 1, &r));
	CHECK_EQ_INT(r.append.base_offset, 6);
	fixture_close(&f);
}

TEST(a_follower_holds_the_leaders_state_and_deduplicates_as_leader)
{
	char ldir[512], fdir[512];
	snprintf(ldir, sizeof(ldir), "%s/leader", harness_tmpdir());
	snprintf(fdir, sizeof(fdir), "%s/follower", harness_tmpdir());
	struct fixture l, fl;
	CHECK_OK(fixture_open(&l, LEADER, ldir, SMALL_SEGMENT_BYTES));
	CHECK_OK(fixture_open(&fl, FOLLOWER, fdir, SMALL_SEGMENT_BYTES));
	CHECK(!fl.p->leading);
	CHECK_OK(produce_mix(l.p, 6));
	CHECK_OK(replicate(l.p, fl.p));
	CHECK_EQ_INT(plog_end_offset(fl.p->log), plog_end_offset(l.p->log));
	CHECK(l.p->producers.count == 3);
	CHECK(states_equal(&l.p->producers, &fl.p->producers));
	/* Followers roll and snapshot too. */
	CHECK(plog_segment_count(fl.p->log) > 1);
	CHECK(count_snapshots(fl.dir) >= 1);

	/* The follower's state answers a retry as the leader's does. */
	const struct pstate_producer *pp = pstate_find(&fl.p->producers, 101);
	CHECK(pp != NULL);
	const struct pstate_batch *newest = &pp->batches[pp->newest];
	struct pstate_append a = {101, 0, newest->first_seq, newest->last_seq, -1, -1};
	struct pstate_batch dup;
	CHECK_EQ_INT(pstate_check(&fl.p->producers, &a, &dup), RN_E_DUPLICATE_SEQUENCE_NUMBER);
	CHECK_EQ_INT(dup.first_offset, newest->first_offset);
	fixture_close(&fl);
	fixture_close(&l);
}

TEST(recovery_from_a_snapshot_and_a_replay_equals_a_full_replay)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", harness_tmpdir());
	struct fixture f;
	CHECK_OK(fixture_open(&f, LEADER, tmp, SMALL_SEGMENT_BYTES));
	CHECK_OK(produce_mix(f.p, 8));
	CHECK(plog_segment_count(f.p->log) > 3);
	/* Only the newest snapshots stay. */
	CHECK_EQ_INT(count_snapshots(f.dir), PSTATE_KEEP_SNAPSHOTS);
	CHECK(equals_full_replay(f.p));
	struct pstate before;
	pstate_init(&before);
	uint8_t *copy = malloc(pstate_snapshot_size(&f.p->producers));
	CHECK(copy != NULL);
	pstate_snapshot_write(&f.p->producers, 0, copy);
	int64_t ignored;
	CHECK_OK(pstate_snapshot_read(&before, copy, pstate_snapshot_size(&f.p->producers),
				      &ignored));
	free(copy);
	int64_t end = plog_end_offset(f.p->log);

	/* A clean stop writes a snapshot at the log end... */
	fixture_close(&f);
	char path[1024];
	snapshot_path(&f, end, path, sizeof(path));
	struct stat st;
	CHECK(stat(path, &st) == 0);
	CHECK_OK(fixture_open(&f, LEADER, tmp, SMALL_SEGMENT_BYTES));
	CHECK(states_equal(&before, &f.p->producers));
	fixture_close(&f);

	/* ...and without it (a crash) the roll snapshot and the batches after
	 * it give the same state. */
	CHECK(unlink(path) == 0);
	CHECK_OK(fixture_open(&f, LEADER, tmp, SMALL_SEGMENT_BYTES));
	CHECK(states_equal(&before, &f.p->producers));
	CHECK(equals_full_replay(f.p));
	/* Deduplication works from the recovered state. */
	struct partition_produce_result r;
	const struct pstate_producer *pp = pstate_find(&f.p->producers, 102);
	CHECK(pp != NULL);
	const struct pstate_batch *newest = &pp->batches[pp->newest];
	CHECK_OK(produce(f.p, 102, 0, newest->first_seq, newest->last_seq - newest->first_seq + 1,
			 &r));
	CHECK(r.duplicate);
	CHECK_EQ_INT(r.append.base_offset, newest->first_offset);
	CHECK_EQ_INT(plog_end_offset(f.p->log), end);
	pstate_free(&before);
	fixture_close(&f);
}

TEST(recovery_starts_from_the_snapshot_not_from_the_log_start)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", harness_tmpdir());
	struct fixture f;
	CHECK_OK(fixture_open(&f, LEADER, tmp, 0));
	struct partition_produce_result r;
	CHECK_OK(produce(f.p, 5, 0, 0, 2, &r));
	int64_t end = plog_end_offset(f.p->log);
	fixture_close(&f);
	/* Replace the clean-stop snapshot by one naming a producer the log
	 * never saw: only a load of the snapshot can bring it back. */
	struct pstate fake;
	pstate_init(&fake);
	struct pstate_append a = {999, 3, 0, 0, 0, 0};
	CHECK_OK(pstate_update(&fake, &a));
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s", f.dir);
	CHECK_OK(pstate_store_write(dir, &fake, end));
	pstate_free(&fake);
	CHECK_OK(fixture_open(&f, LEADER, tmp, 0));
	CHECK(pstate_find(&f.p->producers, 999) != NULL);
	CHECK(pstate_find(&f.p->producers, 5) == NULL);
	fixture_close(&f);
}

TEST(a_corrupt_snapshot_is_skipped)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", harness_tmpdir());
	struct fixture f;
	CHECK_OK(fixture_open(&f, LEADER, tmp, SMALL_SEGMENT_BYTES));
	CHECK_OK(produce_mix(f.p, 6));
	int64_t end = plog_end_offset(f.p->log);
	fixture_close(&f);
	char path[1024];
	snapshot_path(&f, end, path, sizeof(path));
	/* Flip a byte in the middle of the newest snapshot. */
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	uint8_t byte;
	CHECK(pread(fd, &byte, 1, 30) == 1);
	byte ^= 0xff;
	CHECK(pwrite(fd, &byte, 1, 30) == 1);
	close(fd);
	CHECK_OK(fixture_open(&f, LEADER, tmp, SMALL_SEGMENT_BYTES));
	CHECK_EQ_INT(f.p->producers.count, 3);
	CHECK(equals_full_replay(f.p));
	fixture_close(&f);
	/* A truncated (torn) file too. */
	CHECK(truncate(path, 10) == 0);
	CHECK_OK(fixture_open(&f, LEADER, tmp, SMALL_SEGMENT_BYTES));
	CHECK_EQ_INT(f.p->producers.count, 3);
	CHECK(equals_full_replay(f.p));
	fixture_close(&f);
}

TEST(a_truncation_rebuilds_the_state_of_the_remaining_log)
{
	char ldir[512], fdir[512];
	snprintf(ldir, sizeof(ldir), "%s/leader", harness_tmpdir());
	snprintf(fdir, sizeof(fdir), "%s/follower", harness_tmpdir());
	struct fixture l, fl;
	CHECK_OK(fixture_open(&l, LEADER, ldir, SMALL_SEGMENT_BYTES));
	CHECK_OK(fixture_open(&fl, FOLLOWER, fdir, SMALL_SEGMENT_BYTES));
	/* Producer 9 writes eight one-record batches at offsets 0..7: the
	 * cache keeps the last five (sequences 3..7). */
	struct partition_produce_result r;
	for (int i = 0; i < 8; i++)
		CHECK_OK(produce(l.p, 9, 0, i, 1, &r));
	CHECK_OK(produce_mix(l.p, 6));
	CHECK_OK(replicate(l.p, fl.p));
	CHECK(count_snapshots(fl.dir) >= 1);
	/* The node's flusher would have synced the log by now; storage
	 * (plog_truncate into a closed segment awaiting its first fsync, then
	 * a roll) trips an assertion otherwise. */
	int64_t synced;
	CHECK_OK(plog_sync(fl.p->log, &synced));

	/* The follower's log diverged from offset 2 on: the state is what
	 * offsets 0..1 imply, batches the cache had evicted included. */
	CHECK_OK(partition_truncate(fl.p, 2));
	CHECK_EQ_INT(plog_end_offset(fl.p->log), 2);
	CHECK_EQ_INT(fl.p->producers.count, 1);
	const struct pstate_producer *pp = pstate_find(&fl.p->producers, 9);
	CHECK(pp != NULL);
	CHECK_EQ_INT(pp->count, 2);
	CHECK_EQ_INT(pp->batches[pp->newest].last_seq, 1);
	CHECK(equals_full_replay(fl.p));
	/* Snapshots past the new end are gone. */
	CHECK_EQ_INT(count_snapshots(fl.dir), 0);
	/* Catching up again gives the leader's state. */
	CHECK_OK(replicate(l.p, fl.p));
	CHECK(states_equal(&l.p->producers, &fl.p->producers));
	fixture_close(&fl);
	fixture_close(&l);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
