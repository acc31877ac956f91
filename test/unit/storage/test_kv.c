/* test_kv.c: node-local LMDB state: tables, transactions, ranges and scans. */
#include "storage/kv.h"

#include "common/errors.h"
#include "test/unit/harness.h"

#include <stdlib.h>
#include <string.h>

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static int get_str(struct kv *kv, const char *table, const char *key, char *out, size_t cap)
{
	void *val;
	size_t len;
	int rc = kv_get(kv, table, key, strlen(key), &val, &len);
	if (rc)
		return rc;
	if (len >= cap) {
		free(val);
		return RN_E_INVAL;
	}
	memcpy(out, val, len);
	out[len] = '\0';
	free(val);
	return 0;
}

TEST(put_get_del)
{
	struct kv *kv;
	char out[64];
	CHECK_OK(kv_open(harness_tmpdir(), 0, &kv));
	CHECK_EQ_INT(get_str(kv, KV_TABLE_NODE, "cluster.id", out, sizeof(out)), RN_E_NOT_FOUND);
	CHECK_OK(kv_put(kv, KV_TABLE_NODE, "cluster.id", 10, "abc", 3));
	CHECK_OK(kv_put(kv, KV_TABLE_NODE, "node.id", 7, "1", 1));
	CHECK_OK(get_str(kv, KV_TABLE_NODE, "cluster.id", out, sizeof(out)));
	CHECK_EQ_STR(out, "abc");
	/* Tables are separate namespaces. */
	CHECK_EQ_INT(get_str(kv, KV_TABLE_RAFT_META, "cluster.id", out, sizeof(out)),
		     RN_E_NOT_FOUND);
	CHECK_OK(kv_put(kv, KV_TABLE_NODE, "cluster.id", 10, "xyz1", 4));
	CHECK_OK(get_str(kv, KV_TABLE_NODE, "cluster.id", out, sizeof(out)));
	CHECK_EQ_STR(out, "xyz1");
	CHECK_OK(kv_del(kv, KV_TABLE_NODE, "cluster.id", 10));
	CHECK_EQ_INT(get_str(kv, KV_TABLE_NODE, "cluster.id", out, sizeof(out)), RN_E_NOT_FOUND);
	CHECK_EQ_INT(kv_del(kv, KV_TABLE_NODE, "cluster.id", 10), RN_E_NOT_FOUND);
	/* Bad arguments are refused, not crashed on. */
	CHECK_EQ_INT(kv_put(kv, KV_TABLE_NODE, "", 0, "v", 1), RN_E_INVAL);
	CHECK_EQ_INT(kv_put(kv, "", "k", 1, "v", 1), RN_E_INVAL);
	CHECK_OK(kv_sync(kv));
	kv_close(kv);
}

TEST(survives_reopen)
{
	const char *dir = harness_tmpdir();
	struct kv *kv;
	char out[64];
	CHECK_OK(kv_open(dir, 16u << 20, &kv));
	CHECK_OK(kv_put(kv, KV_TABLE_CHECKPOINT, "t-0", 3, "42", 2));
	CHECK_OK(kv_sync(kv));
	kv_close(kv);
	CHECK_OK(kv_open(dir, 16u << 20, &kv));
	CHECK_OK(get_str(kv, KV_TABLE_CHECKPOINT, "t-0", out, sizeof(out)));
	CHECK_EQ_STR(out, "42");
	kv_close(kv);
}

TEST(txn_commit_and_abort)
{
	struct kv *kv;
	struct kv_txn *txn, *other;
	char out[64];
	CHECK_OK(kv_open(harness_tmpdir(), 0, &kv));
	CHECK_OK(kv_txn_begin(kv, &txn));
	/* One write transaction at a time. */
	CHECK_EQ_INT(kv_txn_begin(kv, &other), RN_E_INVAL);
	CHECK_OK(kv_txn_put(txn, KV_TABLE_RAFT_META, "term", 4, "5", 1));
	CHECK_OK(kv_txn_put(txn, KV_TABLE_RAFT_META, "vote", 4, "2", 1));
	CHECK_OK(kv_txn_commit(txn));
	CHECK_OK(get_str(kv, KV_TABLE_RAFT_META, "term", out, sizeof(out)));
	CHECK_EQ_STR(out, "5");
	CHECK_OK(kv_txn_begin(kv, &txn));
	CHECK_OK(kv_txn_put(txn, KV_TABLE_RAFT_META, "term", 4, "6", 1));
	CHECK_OK(kv_txn_del(txn, KV_TABLE_RAFT_META, "vote", 4));
	CHECK_OK(kv_txn_put(txn, "scratch", "k", 1, "v", 1));
	kv_txn_abort(txn);
	CHECK_OK(get_str(kv, KV_TABLE_RAFT_META, "term", out, sizeof(out)));
	CHECK_EQ_STR(out, "5");
	CHECK_OK(get_str(kv, KV_TABLE_RAFT_META, "vote", out, sizeof(out)));
	CHECK_EQ_STR(out, "2");
	/* The table created by the aborted transaction does not exist. */
	CHECK_EQ_INT(get_str(kv, "scratch", "k", out, sizeof(out)), RN_E_NOT_FOUND);
	CHECK_OK(kv_put(kv, "scratch", "k", 1, "w", 1));
	CHECK_OK(get_str(kv, "scratch", "k", out, sizeof(out)));
	CHECK_EQ_STR(out, "w");
	kv_close(kv);
}

struct collect {
	uint64_t keys[4096];
	int n;
	int stop_after;
};

static int collect_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct collect *c = arg;
	const uint8_t *k = key;
	uint64_t v = 0;
	if (key_len != 8 || val_len != 8)
		return -1;
	for (int i = 0; i < 8; i++)
		v = v << 8 | k[i];
	c->keys[c->n++] = v;
	return c->stop_after && c->n == c->stop_after ? 77 : 0;
}

static int fill_log(struct kv *kv, uint64_t first, uint64_t last)
{
	struct kv_txn *txn;
	int rc = kv_txn_begin(kv, &txn);
	for (uint64_t i = first; rc == 0 && i <= last; i++) {
		uint8_t k[8];
		be64(k, i);
		rc = kv_txn_put(txn, KV_TABLE_RAFT_LOG, k, 8, k, 8);
	}
	if (rc) {
		kv_txn_abort(txn);
		return rc;
	}
	return kv_txn_commit(txn);
}

TEST(scan_in_key_order_from_a_key)
{
	struct kv *kv;
	struct collect c = {0};
	uint8_t from[8];
	CHECK_OK(kv_open(harness_tmpdir(), 0, &kv));
	CHECK_OK(kv_scan(kv, KV_TABLE_RAFT_LOG, NULL, 0, collect_cb, &c));
	CHECK_EQ_INT(c.n, 0);
	CHECK_OK(fill_log(kv, 1, 300));
	CHECK_OK(kv_scan(kv, KV_TABLE_RAFT_LOG, NULL, 0, collect_cb, &c));
	CHECK_EQ_INT(c.n, 300);
	for (int i = 0; i < 300; i++)
		CHECK_EQ_INT(c.keys[i], i + 1);
	memset(&c, 0, sizeof(c));
	be64(from, 250);
	CHECK_OK(kv_scan(kv, KV_TABLE_RAFT_LOG, from, 8, collect_cb, &c));
	CHECK_EQ_INT(c.n, 51);
	CHECK_EQ_INT(c.keys[0], 250);
	/* A non-zero return stops the scan and comes back to the caller. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 5;
	CHECK_EQ_INT(kv_scan(kv, KV_TABLE_RAFT_LOG, NULL, 0, collect_cb, &c), 77);
	CHECK_EQ_INT(c.n, 5);
	kv_close(kv);
}

TEST(del_from_and_del_below)
{
	struct kv *kv;
	struct kv_txn *txn;
	struct collect c = {0};
	uint8_t k[8];
	CHECK_OK(kv_open(harness_tmpdir(), 0, &kv));
	/* Enough entries to span many LMDB pages. */
	CHECK_OK(fill_log(kv, 1, 3000));
	CHECK_OK(kv_txn_begin(kv, &txn));
	be64(k, 2001);
	CHECK_OK(kv_txn_del_from(txn, KV_TABLE_RAFT_LOG, k, 8));
	be64(k, 101);
	CHECK_OK(kv_txn_del_below(txn, KV_TABLE_RAFT_LOG, k, 8));
	CHECK_OK(kv_txn_commit(txn));
	CHECK_OK(kv_scan(kv, KV_TABLE_RAFT_LOG, NULL, 0, collect_cb, &c));
	CHECK_EQ_INT(c.n, 1900);
	for (int i = 0; i < c.n; i++)
		CHECK_EQ_INT(c.keys[i], 101 + i);
	/* Ranges past either end delete nothing. */
	CHECK_OK(kv_txn_begin(kv, &txn));
	be64(k, 5000);
	CHECK_OK(kv_txn_del_from(txn, KV_TABLE_RAFT_LOG, k, 8));
	be64(k, 1);
	CHECK_OK(kv_txn_del_below(txn, KV_TABLE_RAFT_LOG, k, 8));
	CHECK_OK(kv_txn_commit(txn));
	memset(&c, 0, sizeof(c));
	CHECK_OK(kv_scan(kv, KV_TABLE_RAFT_LOG, NULL, 0, collect_cb, &c));
	CHECK_EQ_INT(c.n, 1900);
	kv_close(kv);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
