/* raft_store.c: persistence of the Raft log and hard state in LMDB. */
#include "raft/raft_store.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "storage/kv.h"

#define HARD_STATE_BYTES 24u
#define INDEX_KEY_BYTES 8u
#define TERM_BYTES 8u
#define SNAPSHOT_HEADER_BYTES 16u /* index, term */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void raft_store_free_entries(struct raft_entry *entries, uint32_t count)
{
	if (!entries)
		return;
	for (uint32_t i = 0; i < count; i++)
		free(entries[i].data);
	free(entries);
}

static int load_hard_state(struct kv *kv, struct raft_hard_state *hs)
{
	void *val = NULL;
	size_t len = 0;
	memset(hs, 0, sizeof(*hs));
	int rc = kv_get(kv, KV_TABLE_RAFT_META, RAFT_STORE_HARD_STATE_KEY,
			strlen(RAFT_STORE_HARD_STATE_KEY), &val, &len);
	if (rc == RN_E_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (len != HARD_STATE_BYTES) {
		free(val);
		return RN_E_CORRUPT_STATE;
	}
	const uint8_t *p = val;
	hs->term = get_be64(p);
	hs->vote = get_be64(p + 8);
	hs->commit = get_be64(p + 16);
	free(val);
	return 0;
}

/* Collects the log during kv_scan: entries consecutive from first. */
struct load_ctx {
	struct raft_entry *e;
	uint32_t count, cap;
	uint64_t first;
	int err;
};

static int load_entry_cb(void *arg, const void *key, size_t key_len, const void *val,
			 size_t val_len)
{
	struct load_ctx *c = arg;
	if (key_len != INDEX_KEY_BYTES || val_len < TERM_BYTES ||
	    val_len - TERM_BYTES > RN_MAX_METADATA_RECORD_BYTES ||
	    get_be64(key) != c->first + c->count || c->count == UINT32_MAX) {
		c->err = RN_E_CORRUPT_STATE;
		return 1;
	}
	if (c->count == c->cap) {
		uint32_t cap = c->cap ? (c->cap > UINT32_MAX / 2 ? UINT32_MAX : c->cap * 2) : 64;
		struct raft_entry *n = realloc(c->e, (size_t)cap * sizeof(*n));
		if (!n) {
			c->err = RN_E_NOMEM;
			return 1;
		}
		c->e = n;
		c->cap = cap;
	}
	struct raft_entry *e = &c->e[c->count];
	e->index = c->first + c->count;
	e->term = get_be64(val);
	e->len = (uint32_t)(val_len - TERM_BYTES);
	e->data = NULL;
	if (e->len > 0) {
		e->data = malloc(e->len);
		if (!e->data) {
			c->err = RN_E_NOMEM;
			return 1;
		}
		memcpy(e->data, (const uint8_t *)val + TERM_BYTES, e->len);
	}
	c->count++;
	return 0;
}

/* Loads the snapshot; snap->index 0 when none is stored. */
static int load_snapshot(struct kv *kv, struct raft_snapshot *snap)
{
	void *val = NULL;
	size_t len = 0;
	memset(snap, 0, sizeof(*snap));
	int rc = kv_get(kv, KV_TABLE_RAFT_META, RAFT_STORE_SNAPSHOT_KEY,
			strlen(RAFT_STORE_SNAPSHOT_KEY), &val, &len);
	if (rc == RN_E_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	const uint8_t *p = val;
	if (len < SNAPSHOT_HEADER_BYTES ||
	    len - SNAPSHOT_HEADER_BYTES > RAFT_MAX_SNAPSHOT_BYTES || get_be64(p) == 0) {
		free(val);
		return RN_E_CORRUPT_STATE;
	}
	snap->index = get_be64(p);
	snap->term = get_be64(p + 8);
	snap->len = (uint32_t)(len - SNAPSHOT_HEADER_BYTES);
	if (snap->len > 0) {
		/* Move the bytes to the front so the buffer can be kept. */
		memmove(val, p + SNAPSHOT_HEADER_BYTES, snap->len);
		snap->data = val;
		val = NULL;
	}
	free(val);
	return 0;
}

static int load_log(struct kv *kv, uint64_t first, struct raft_entry **entries, uint32_t *count)
{
	struct load_ctx c = { .first = first };
	int rc = kv_scan(kv, KV_TABLE_RAFT_LOG, NULL, 0, load_entry_cb, &c);
	if (c.err != 0)
		rc = c.err;
	else if (rc > 0)
		rc = RN_E_IO; /* the callback stopped the scan without saying why */
	if (rc != 0) {
		raft_store_free_entries(c.e, c.count);
		return rc;
	}
	*entries = c.e;
	*count = c.count;
	return 0;
}

int raft_store_load(struct kv *kv, struct raft_hard_state *hs, struct raft_entry **entries,
		    uint32_t *count)
{
	*entries = NULL;
	*count = 0;
	int rc = load_hard_state(kv, hs);
	if (rc != 0)
		return rc;
	struct raft_snapshot snap;
	rc = load_snapshot(kv, &snap);
	if (rc != 0)
		return rc;
	if (snap.index != 0) {
		free(snap.data);
		return RN_E_CORRUPT_STATE; /* the caller would lose the snapshot */
	}
	return load_log(kv, 1, entries, count);
}

int raft_store_load_all(struct kv *kv, struct raft_store_state *st)
{
	memset(st, 0, sizeof(*st));
	int rc = load_hard_state(kv, &st->hs);
	if (rc == 0)
		rc = load_snapshot(kv, &st->snapshot);
	if (rc == 0)
		rc = load_log(kv, st->snapshot.index + 1, &st->entries, &st->count);
	if (rc != 0)
		raft_store_state_free(st);
	return rc;
}

void raft_store_state_free(struct raft_store_state *st)
{
	free(st->snapshot.data);
	raft_store_free_entries(st->entries, st->count);
	memset(st, 0, sizeof(*st));
}

static int put_entry(struct kv_txn *txn, const struct raft_entry *e)
{
	uint8_t key[INDEX_KEY_BYTES];
	size_t len = TERM_BYTES + e->len;
	uint8_t *val = malloc(len);
	if (!val)
		return RN_E_NOMEM;
	put_be64(key, e->index);
	put_be64(val, e->term);
	if (e->len > 0)
		memcpy(val + TERM_BYTES, e->data, e->len);
	int rc = kv_txn_put(txn, KV_TABLE_RAFT_LOG, key, sizeof(key), val, len);
	free(val);
	return rc;
}

static int put_hard_state(struct kv_txn *txn, const struct raft_hard_state *hs)
{
	uint8_t val[HARD_STATE_BYTES];
	put_be64(val, hs->term);
	put_be64(val + 8, hs->vote);
	put_be64(val + 16, hs->commit);
	return kv_txn_put(txn, KV_TABLE_RAFT_META, RAFT_STORE_HARD_STATE_KEY,
			  strlen(RAFT_STORE_HARD_STATE_KEY), val, sizeof(val));
}

static int put_snapshot(struct kv_txn *txn, const struct raft_snapshot *snap)
{
	size_t len = SNAPSHOT_HEADER_BYTES + snap->len;
	uint8_t *val = malloc(len);
	if (!val)
		return RN_E_NOMEM;
	put_be64(val, snap->index);
	put_be64(val + 8, snap->term);
	if (snap->len > 0)
		memcpy(val + SNAPSHOT_HEADER_BYTES, snap->data, snap->len);
	int rc = kv_txn_put(txn, KV_TABLE_RAFT_META, RAFT_STORE_SNAPSHOT_KEY,
			    strlen(RAFT_STORE_SNAPSHOT_KEY), val, len);
	free(val);
	return rc;
}

/* The snapshot and the removal of the entries it covers. */
static int save_snapshot(struct kv_txn *txn, const struct raft_ready *rd)
{
	if (rd->snapshot) {
		int rc = put_snapshot(txn, rd->snapshot);
		if (rc != 0)
			return rc;
	}
	if (rd->compact_to != 0) {
		uint8_t key[INDEX_KEY_BYTES];
		put_be64(key, rd->compact_to + 1);
		return kv_txn_del_below(txn, KV_TABLE_RAFT_LOG, key, sizeof(key));
	}
	return 0;
}

int raft_store_save(struct kv *kv, const struct raft_ready *rd)
{
	if (!rd->hard_state_changed && rd->truncate_from == 0 && rd->entry_count == 0 &&
	    !rd->snapshot && rd->compact_to == 0)
		return 0;
	struct kv_txn *txn;
	int rc = kv_txn_begin(kv, &txn);
	if (rc != 0)
		return rc;
	rc = save_snapshot(txn, rd);
	if (rc != 0)
		goto abort_txn;
	if (rd->truncate_from != 0) {
		uint8_t key[INDEX_KEY_BYTES];
		put_be64(key, rd->truncate_from);
		rc = kv_txn_del_from(txn, KV_TABLE_RAFT_LOG, key, sizeof(key));
		if (rc != 0)
			goto abort_txn;
	}
	for (uint32_t i = 0; i < rd->entry_count; i++) {
		rc = put_entry(txn, &rd->entries[i]);
		if (rc != 0)
			goto abort_txn;
	}
	if (rd->hard_state_changed) {
		rc = put_hard_state(txn, &rd->hs);
		if (rc != 0)
			goto abort_txn;
	}
	return kv_txn_commit(txn);

abort_txn:
	kv_txn_abort(txn);
	return rc;
}
