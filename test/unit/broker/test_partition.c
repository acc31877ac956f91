/* test_partition.c: hosted partitions follow the metadata image: waiters woken when leadership is lost or the topic goes. */
#include "broker/config.h"
#include "broker/node.h"
#include "broker/partition.h"
#include "common/errors.h"
#include "controller/metadata.h"
#include "test/unit/harness.h"

#include <stdio.h>
#include <string.h>

/* Node 1 hosts the partitions; node 2 takes over. */
#define SELF 1
#define OTHER 2
#define NOT_WOKEN 1 /* no error code is positive */

/* A waiter that remembers the error it was woken with. */
struct probe {
	struct pwait w;
	int err;
	int wakes;
	bool unlink_self; /* as a produce does when it answers with an error */
};

static void probe_cb(struct pwait *w, int err)
{
	struct probe *pr = (struct probe *)w;
	pr->err = err;
	pr->wakes++;
	if (pr->unlink_self && err != RN_OK)
		pwait_unlink(w);
}

static void probe_init(struct probe *pr, bool unlink_self)
{
	memset(pr, 0, sizeof(*pr));
	pr->w.wake_cb = probe_cb;
	pr->err = NOT_WOKEN;
	pr->unlink_self = unlink_self;
}

struct fixture {
	struct node n;
	struct pmgr *pm;
	struct meta_image *img;
	uint64_t index;
	uint8_t topic_id[META_TOPIC_ID_LEN];
};

static int fixture_apply(struct fixture *f, const struct meta_record *rec)
{
	return meta_image_apply(f->img, ++f->index, rec);
}

/* A node with default settings and topic "t" (one partition, replicas 1
 * and 2, led by this node) applied to the image and the manager. */
static int fixture_open(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	char *argv[] = {"runneld", NULL};
	char *envp[] = {NULL};
	enum config_action action;
	char err[CONFIG_MAX_ERROR];
	if (config_parse(&f->n.cfg, 1, argv, envp, &action, err) != RN_OK)
		return -1;
	f->n.cfg.node_id = SELF;
	snprintf(f->n.topics_dir, sizeof(f->n.topics_dir), "%s", harness_tmpdir());
	if (pmgr_new(&f->n, &f->pm) != RN_OK || meta_image_new(&f->img) != RN_OK)
		return -1;
	f->n.pm = f->pm;
	pmgr_set_live(f->pm, true);
	memset(f->topic_id, 0x5a, sizeof(f->topic_id));
	struct meta_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.type = META_REC_TOPIC;
	snprintf(rec.u.topic.name, sizeof(rec.u.topic.name), "t");
	memcpy(rec.u.topic.topic_id, f->topic_id, META_TOPIC_ID_LEN);
	if (fixture_apply(f, &rec) != RN_OK)
		return -1;
	const struct meta_topic *t = meta_image_topic_by_name(f->img, "t");
	if (pmgr_apply_topic(f->pm, t) != RN_OK)
		return -1;
	memset(&rec, 0, sizeof(rec));
	rec.type = META_REC_PARTITION;
	memcpy(rec.u.partition.topic_id, f->topic_id, META_TOPIC_ID_LEN);
	rec.u.partition.replica_count = rec.u.partition.isr_count = 2;
	rec.u.partition.replicas[0] = rec.u.partition.isr[0] = SELF;
	rec.u.partition.replicas[1] = rec.u.partition.isr[1] = OTHER;
	rec.u.partition.leader = SELF;
	if (fixture_apply(f, &rec) != RN_OK)
		return -1;
	t = meta_image_topic_by_name(f->img, "t");
	return pmgr_apply_partition(f->pm, t, &t->partitions[0]);
}

static void fixture_close(struct fixture *f)
{
	pmgr_free(f->pm);
	meta_image_free(f->img);
}

/* Applies a PARTITION_CHANGE to the image and the manager, as the
 * controller shell does. */
static int change(struct fixture *f, bool has_leader, int32_t leader, int32_t leader_epoch,
		  int32_t partition_epoch)
{
	struct meta_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.type = META_REC_PARTITION_CHANGE;
	memcpy(rec.u.partition_change.topic_id, f->topic_id, META_TOPIC_ID_LEN);
	rec.u.partition_change.has_leader = has_leader;
	rec.u.partition_change.leader = leader;
	rec.u.partition_change.has_isr = true;
	rec.u.partition_change.isr_count = 1;
	rec.u.partition_change.isr[0] = has_leader && leader > 0 ? leader : SELF;
	rec.u.partition_change.leader_epoch = leader_epoch;
	rec.u.partition_change.partition_epoch = partition_epoch;
	int rc = fixture_apply(f, &rec);
	if (rc != RN_OK)
		return rc;
	const struct meta_topic *t = meta_image_topic_by_name(f->img, "t");
	return pmgr_apply_partition(f->pm, t, &t->partitions[0]);
}

TEST(losing_leadership_wakes_produce_and_fetch_waiters)
{
	struct fixture f;
	CHECK_OK(fixture_open(&f));
	struct partition *p = pmgr_find(f.pm, "t", 0);
	CHECK(p != NULL);
	CHECK_EQ_INT(p->leader, SELF);
	struct probe produce, fetch;
	probe_init(&produce, true);
	probe_init(&fetch, false);
	partition_wait_produce(p, &produce.w);
	partition_watch_fetch(p, &fetch.w);

	/* An ISR change that keeps this node the leader only asks waiting
	 * produces to look again (acks=all may now fail min.insync.replicas);
	 * nothing fails. */
	CHECK_OK(change(&f, false, 0, 0, 1));
	CHECK_EQ_INT(produce.wakes, 1);
	CHECK_EQ_INT(produce.err, RN_OK);
	CHECK(produce.w.p != NULL);
	CHECK_EQ_INT(fetch.wakes, 0);

	/* The controller moves the leadership: both answer at once. */
	CHECK_OK(change(&f, true, OTHER, 1, 2));
	CHECK_EQ_INT(p->leader, OTHER);
	CHECK_EQ_INT(p->leader_epoch, 1);
	CHECK_EQ_INT(produce.err, RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK_EQ_INT(fetch.err, RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK_EQ_INT(produce.wakes, 2);
	CHECK(produce.w.p == NULL);

	/* A later change while not leading wakes nobody again. */
	CHECK_OK(change(&f, true, OTHER, 2, 3));
	CHECK_EQ_INT(fetch.wakes, 1);
	pwait_unlink(&fetch.w);
	fixture_close(&f);
}

TEST(an_offline_partition_wakes_its_waiters)
{
	struct fixture f;
	CHECK_OK(fixture_open(&f));
	struct partition *p = pmgr_find(f.pm, "t", 0);
	CHECK(p != NULL);
	struct probe produce;
	probe_init(&produce, true);
	partition_wait_produce(p, &produce.w);
	/* Fenced while the only in-sync replica: no leader at all. */
	CHECK_OK(change(&f, true, META_NO_LEADER, 1, 1));
	CHECK_EQ_INT(produce.err, RN_E_NOT_LEADER_OR_FOLLOWER);
	fixture_close(&f);
}

TEST(a_removed_topic_wakes_with_unknown_topic)
{
	struct fixture f;
	CHECK_OK(fixture_open(&f));
	struct partition *p = pmgr_find(f.pm, "t", 0);
	CHECK(p != NULL);
	struct probe produce, fetch;
	probe_init(&produce, true);
	probe_init(&fetch, false);
	partition_wait_produce(p, &produce.w);
	partition_watch_fetch(p, &fetch.w);
	pmgr_remove_topic(f.pm, "t");
	CHECK_EQ_INT(produce.err, RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK_EQ_INT(fetch.err, RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK(fetch.w.p == NULL);
	CHECK(pmgr_find(f.pm, "t", 0) == NULL);
	fixture_close(&f);
}

/* A snapshot replaces the image: reconciling with it wakes waiters on
 * partitions this node no longer leads, and on topics that are gone. */
TEST(a_snapshot_install_wakes_waiters)
{
	struct fixture f;
	CHECK_OK(fixture_open(&f));
	struct partition *p = pmgr_find(f.pm, "t", 0);
	CHECK(p != NULL);
	struct probe fetch;
	probe_init(&fetch, false);
	partition_watch_fetch(p, &fetch.w);
	/* The new image: the same topic, now led by the other node. */
	struct meta_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.type = META_REC_PARTITION_CHANGE;
	memcpy(rec.u.partition_change.topic_id, f.topic_id, META_TOPIC_ID_LEN);
	rec.u.partition_change.has_leader = true;
	rec.u.partition_change.leader = OTHER;
	rec.u.partition_change.leader_epoch = 4;
	rec.u.partition_change.partition_epoch = 4;
	CHECK_OK(fixture_apply(&f, &rec));
	CHECK_OK(pmgr_reconcile(f.pm, f.img));
	CHECK_EQ_INT(fetch.err, RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK_EQ_INT(p->leader_epoch, 4);
	pwait_unlink(&fetch.w);

	/* And an image without the topic removes it. */
	probe_init(&fetch, false);
	partition_watch_fetch(p, &fetch.w);
	struct meta_image *empty = NULL;
	CHECK_OK(meta_image_new(&empty));
	CHECK_OK(pmgr_reconcile(f.pm, empty));
	CHECK_EQ_INT(fetch.err, RN_E_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK(!pmgr_has_topic(f.pm, "t"));
	meta_image_free(empty);
	fixture_close(&f);
}

TEST(a_partition_moved_off_this_node_wakes_its_waiters)
{
	struct fixture f;
	CHECK_OK(fixture_open(&f));
	struct partition *p = pmgr_find(f.pm, "t", 0);
	CHECK(p != NULL);
	struct probe produce;
	probe_init(&produce, true);
	partition_wait_produce(p, &produce.w);
	/* The manager hears of a replica set without this node. */
	struct meta_partition mp;
	memset(&mp, 0, sizeof(mp));
	mp.replica_count = mp.isr_count = 1;
	mp.replicas[0] = mp.isr[0] = OTHER;
	mp.leader = OTHER;
	mp.leader_epoch = 7;
	const struct meta_topic *t = meta_image_topic_by_name(f.img, "t");
	CHECK_OK(pmgr_apply_partition(f.pm, t, &mp));
	CHECK_EQ_INT(produce.err, RN_E_NOT_LEADER_OR_FOLLOWER);
	CHECK_EQ_INT(p->leader, OTHER);
	fixture_close(&f);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
