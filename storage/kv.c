/* kv.c: node-local state in LMDB (cluster id, Raft state and log, checkpoints). */
#include "storage/kv.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/storage_limits.h"

#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A named database handle.  A handle opened inside a transaction only
 * survives if that transaction commits, so new ones stay pending until then. */
struct kv_table {
	char name[KV_MAX_TABLE_NAME_LEN + 1];
	MDB_dbi dbi;
	bool pending;
};

struct kv {
	MDB_env *env;
	struct kv_table tables[KV_MAX_TABLES];
	uint32_t table_count;
	struct kv_txn *open_txn; /* the one write transaction, if any */
};

struct kv_txn {
	struct kv *kv;
	MDB_txn *txn;
};

/* Converts an LMDB result at the I/O boundary, logging real failures. */
static int map_err(int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return RN_E_NOT_FOUND;
	case ENOMEM:
		LOG_ERROR("storage", "lmdb %s: out of memory", what);
		return RN_E_NOMEM;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case MDB_DBS_FULL:
		LOG_ERROR("storage", "lmdb %s: %s", what, mdb_strerror(rc));
		return RN_E_FULL;
	default:
		LOG_ERROR("storage", "lmdb %s: %s", what, mdb_strerror(rc));
		return RN_E_IO;
	}
}

static void tables_settle(struct kv *kv, bool committed)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < kv->table_count; i++) {
		if (kv->tables[i].pending && !committed)
			continue;
		kv->tables[i].pending = false;
		kv->tables[kept++] = kv->tables[i];
	}
	kv->table_count = kept;
}

/* Finds or opens the handle of a table within txn.  Without create, a
 * missing table is RN_E_NOT_FOUND. */
static int table_dbi(struct kv *kv, MDB_txn *txn, const char *table, bool create, MDB_dbi *dbi)
{
	if (!table || strlen(table) == 0 || strlen(table) > KV_MAX_TABLE_NAME_LEN)
		return RN_E_INVAL;
	for (uint32_t i = 0; i < kv->table_count; i++) {
		if (strcmp(kv->tables[i].name, table) != 0)
			continue;
		/* A handle still pending in the write transaction is not usable
		 * by a read transaction, which does not see that table yet. */
		if (kv->tables[i].pending && kv->open_txn && txn != kv->open_txn->txn)
			return map_err(mdb_dbi_open(txn, table, 0, dbi), "open table");
		*dbi = kv->tables[i].dbi;
		return 0;
	}
	if (kv->table_count == KV_MAX_TABLES) {
		LOG_ERROR("storage", "lmdb: more than %u tables", KV_MAX_TABLES);
		return RN_E_FULL;
	}
	int rc = mdb_dbi_open(txn, table, create ? MDB_CREATE : 0, dbi);
	if (rc)
		return map_err(rc, "open table");
	struct kv_table *t = &kv->tables[kv->table_count++];
	strcpy(t->name, table);
	t->dbi = *dbi;
	t->pending = true;
	return 0;
}

static int check_key(const struct kv *kv, const void *key, size_t key_len)
{
	if (!key || key_len == 0 || key_len > (size_t)mdb_env_get_maxkeysize(kv->env))
		return RN_E_INVAL;
	return 0;
}

int kv_open(const char *dir, uint64_t map_size_bytes, struct kv **out)
{
	if (!dir)
		return RN_E_INVAL;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		LOG_ERROR("storage", "cannot create %s: %s", dir, strerror(errno));
		return RN_E_IO;
	}
	struct kv *kv = calloc(1, sizeof(*kv));
	if (!kv)
		return RN_E_NOMEM;
	int rc = mdb_env_create(&kv->env);
	if (rc)
		goto fail_kv;
	rc = mdb_env_set_mapsize(kv->env, map_size_bytes ? map_size_bytes : KV_DEFAULT_MAP_BYTES);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(kv->env, KV_MAX_TABLES);
	/* NOSYNC: commits reach the page cache only and kv_sync makes them
	 * durable, so the event loop never waits on the disk.  NOTLS: read
	 * transactions are not tied to thread-local slots. */
	if (rc == 0)
		rc = mdb_env_open(kv->env, dir, MDB_NOSYNC | MDB_NOTLS, 0644);
	if (rc)
		goto fail_env;
	*out = kv;
	return 0;
fail_env:
	mdb_env_close(kv->env);
fail_kv:
	free(kv);
	return map_err(rc, "open environment");
}

void kv_close(struct kv *kv)
{
	if (!kv)
		return;
	if (kv->open_txn)
		kv_txn_abort(kv->open_txn);
	mdb_env_close(kv->env);
	free(kv);
}

/* ---- write transactions ---- */

int kv_txn_begin(struct kv *kv, struct kv_txn **out)
{
	/* A second write transaction on the same thread would wait for itself. */
	if (kv->open_txn)
		return RN_E_INVAL;
	struct kv_txn *t = malloc(sizeof(*t));
	if (!t)
		return RN_E_NOMEM;
	int rc = mdb_txn_begin(kv->env, NULL, 0, &t->txn);
	if (rc) {
		free(t);
		return map_err(rc, "begin");
	}
	t->kv = kv;
	kv->open_txn = t;
	*out = t;
	return 0;
}

int kv_txn_put(struct kv_txn *txn, const char *table, const void *key, size_t key_len,
	       const void *val, size_t val_len)
{
	MDB_dbi dbi;
	int rc = check_key(txn->kv, key, key_len);
	if (rc == 0 && !val && val_len > 0)
		rc = RN_E_INVAL;
	if (rc == 0)
		rc = table_dbi(txn->kv, txn->txn, table, true, &dbi);
	if (rc)
		return rc;
	MDB_val k = {key_len, (void *)key}, v = {val_len, (void *)val};
	return map_err(mdb_put(txn->txn, dbi, &k, &v, 0), "put");
}

int kv_txn_del(struct kv_txn *txn, const char *table, const void *key, size_t key_len)
{
	MDB_dbi dbi;
	int rc = check_key(txn->kv, key, key_len);
	if (rc == 0)
		rc = table_dbi(txn->kv, txn->txn, table, true, &dbi);
	if (rc)
		return rc;
	MDB_val k = {key_len, (void *)key};
	rc = mdb_del(txn->txn, dbi, &k, NULL);
	return rc == MDB_NOTFOUND ? RN_E_NOT_FOUND : map_err(rc, "del");
}

/* Deletes keys from the cursor's position while they compare below bound
 * (or all of them when bound is NULL). */
static int delete_run(MDB_txn *txn, MDB_dbi dbi, MDB_cursor_op first, const MDB_val *start,
		      const MDB_val *bound)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc)
		return map_err(rc, "cursor");
	MDB_val k = start ? *start : (MDB_val){0, NULL}, v;
	rc = mdb_cursor_get(cur, &k, &v, first);
	while (rc == 0) {
		if (bound && mdb_cmp(txn, dbi, &k, bound) >= 0)
			break;
		rc = mdb_cursor_del(cur, 0);
		/* After a delete the cursor already rests on the following key,
		 * and MDB_NEXT returns that key rather than skipping it. */
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : map_err(rc, "delete range");
}

int kv_txn_del_from(struct kv_txn *txn, const char *table, const void *from_key, size_t key_len)
{
	MDB_dbi dbi;
	int rc = check_key(txn->kv, from_key, key_len);
	if (rc == 0)
		rc = table_dbi(txn->kv, txn->txn, table, true, &dbi);
	if (rc)
		return rc;
	MDB_val from = {key_len, (void *)from_key};
	return delete_run(txn->txn, dbi, MDB_SET_RANGE, &from, NULL);
}

int kv_txn_del_below(struct kv_txn *txn, const char *table, const void *below_key,
		     size_t key_len)
{
	MDB_dbi dbi;
	int rc = check_key(txn->kv, below_key, key_len);
	if (rc == 0)
		rc = table_dbi(txn->kv, txn->txn, table, true, &dbi);
	if (rc)
		return rc;
	MDB_val below = {key_len, (void *)below_key};
	return delete_run(txn->txn, dbi, MDB_FIRST, NULL, &below);
}

int kv_txn_commit(struct kv_txn *txn)
{
	struct kv *kv = txn->kv;
	int rc = mdb_txn_commit(txn->txn);
	tables_settle(kv, rc == 0);
	kv->open_txn = NULL;
	free(txn);
	return map_err(rc, "commit");
}

void kv_txn_abort(struct kv_txn *txn)
{
	struct kv *kv = txn->kv;
	mdb_txn_abort(txn->txn);
	tables_settle(kv, false);
	kv->open_txn = NULL;
	free(txn);
}

/* ---- single operations ---- */

int kv_put(struct kv *kv, const char *table, const void *key, size_t key_len, const void *val,
	   size_t val_len)
{
	struct kv_txn *txn;
	int rc = kv_txn_begin(kv, &txn);
	if (rc)
		return rc;
	rc = kv_txn_put(txn, table, key, key_len, val, val_len);
	if (rc) {
		kv_txn_abort(txn);
		return rc;
	}
	return kv_txn_commit(txn);
}

int kv_del(struct kv *kv, const char *table, const void *key, size_t key_len)
{
	struct kv_txn *txn;
	int rc = kv_txn_begin(kv, &txn);
	if (rc)
		return rc;
	rc = kv_txn_del(txn, table, key, key_len);
	if (rc) {
		kv_txn_abort(txn);
		return rc;
	}
	return kv_txn_commit(txn);
}

/* Begins a read transaction and finds the table; *txn is NULL when the
 * table does not exist yet (then there is nothing to read). */
static int read_begin(struct kv *kv, const char *table, MDB_txn **txn, MDB_dbi *dbi)
{
	int rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, txn);
	if (rc)
		return map_err(rc, "begin read");
	rc = table_dbi(kv, *txn, table, false, dbi);
	if (rc) {
		mdb_txn_abort(*txn);
		/* Within a write transaction the pending handles belong to it. */
		if (!kv->open_txn)
			tables_settle(kv, false);
		*txn = NULL;
	}
	return rc;
}

/* Ends a read transaction, keeping any table handle it opened. */
static void read_end(struct kv *kv, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);
	if (!kv->open_txn)
		tables_settle(kv, rc == 0);
}

int kv_get(struct kv *kv, const char *table, const void *key, size_t key_len, void **val,
	   size_t *val_len)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc = check_key(kv, key, key_len);
	if (rc == 0)
		rc = read_begin(kv, table, &txn, &dbi);
	if (rc)
		return rc;
	MDB_val k = {key_len, (void *)key}, v;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0) {
		void *copy = malloc(v.mv_size ? v.mv_size : 1);
		if (copy) {
			memcpy(copy, v.mv_data, v.mv_size);
			*val = copy;
			*val_len = v.mv_size;
		} else {
			rc = ENOMEM;
		}
	}
	read_end(kv, txn);
	return map_err(rc, "get");
}

int kv_scan(struct kv *kv, const char *table, const void *from_key, size_t from_len,
	    kv_scan_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	if (from_key && check_key(kv, from_key, from_len) != 0)
		return RN_E_INVAL;
	int rc = read_begin(kv, table, &txn, &dbi);
	if (rc)
		return rc == RN_E_NOT_FOUND ? 0 : rc;
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc) {
		read_end(kv, txn);
		return map_err(rc, "cursor");
	}
	MDB_val k = {from_len, (void *)from_key}, v;
	int result = 0;
	rc = mdb_cursor_get(cur, &k, &v, from_key ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		result = cb(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
		if (result)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	read_end(kv, txn);
	if (result)
		return result;
	return rc == MDB_NOTFOUND ? 0 : map_err(rc, "scan");
}

int kv_sync(struct kv *kv)
{
	return map_err(mdb_env_sync(kv->env, 1), "sync");
}
