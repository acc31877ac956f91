/* kv.h: node-local state in LMDB (cluster id, Raft state and log, checkpoints). */
#ifndef RUNNEL_STORAGE_KV_H
#define RUNNEL_STORAGE_KV_H

/*
 * One LMDB environment per node at DATA_DIR/node.mdb, with named tables.
 * Writes are committed without an fsync (MDB_NOSYNC) so the event loop never
 * waits on the disk; kv_sync makes every committed write durable and may be
 * called from a background thread.  Values returned by kv_get are copies the
 * caller frees with free().
 */

#include <stddef.h>
#include <stdint.h>

struct kv;
struct kv_txn;

/* Tables used by Runnel; a table is created on first use. */
#define KV_TABLE_NODE "node"           /* cluster.id, node.id, ... */
#define KV_TABLE_RAFT_META "raft_meta" /* term, vote, snapshot info */
#define KV_TABLE_RAFT_LOG "raft_log"   /* index (8 bytes big-endian) -> entry */
#define KV_TABLE_CHECKPOINT "checkpoint" /* per-partition high watermark, ... */

/* Opens or creates the environment in dir (map size in bytes, 0: default 1 GiB).
 * Returns 0, RN_E_IO or RN_E_NOMEM. */
int kv_open(const char *dir, uint64_t map_size_bytes, struct kv **out);
void kv_close(struct kv *kv);

/* Single-operation helpers; each is its own committed transaction. */
int kv_put(struct kv *kv, const char *table, const void *key, size_t key_len, const void *val,
	   size_t val_len);
/* Returns 0 with a malloc'd copy, or RN_E_NOT_FOUND. */
int kv_get(struct kv *kv, const char *table, const void *key, size_t key_len, void **val,
	   size_t *val_len);
int kv_del(struct kv *kv, const char *table, const void *key, size_t key_len);

/*
 * Write transactions for several changes that must land together.  One may
 * be open at a time (kv_txn_begin, kv_put and kv_del return RN_E_INVAL while
 * one is).  kv_txn_commit and kv_txn_abort free the transaction, whatever
 * the result.  Errors: RN_E_INVAL (empty or too long key or table name),
 * RN_E_NOT_FOUND (kv_txn_del of a missing key), RN_E_FULL (the map, the
 * transaction or the table count is full), RN_E_NOMEM, RN_E_IO.
 */
int kv_txn_begin(struct kv *kv, struct kv_txn **out);
int kv_txn_put(struct kv_txn *txn, const char *table, const void *key, size_t key_len,
	       const void *val, size_t val_len);
int kv_txn_del(struct kv_txn *txn, const char *table, const void *key, size_t key_len);
/* Deletes every key >= from_key in table (Raft log truncation). */
int kv_txn_del_from(struct kv_txn *txn, const char *table, const void *from_key, size_t key_len);
/* Deletes every key < below_key in table (Raft log compaction). */
int kv_txn_del_below(struct kv_txn *txn, const char *table, const void *below_key,
		     size_t key_len);
int kv_txn_commit(struct kv_txn *txn);
void kv_txn_abort(struct kv_txn *txn);

/* Calls cb for each key >= from_key (NULL: all) in key order until cb
 * returns non-zero, which kv_scan then returns.  key and val are valid only
 * during the call. */
typedef int (*kv_scan_cb)(void *arg, const void *key, size_t key_len, const void *val,
			  size_t val_len);
int kv_scan(struct kv *kv, const char *table, const void *from_key, size_t from_len,
	    kv_scan_cb cb, void *arg);

/* fsyncs every committed write; safe from any thread. Returns 0 or RN_E_IO. */
int kv_sync(struct kv *kv);

#endif
