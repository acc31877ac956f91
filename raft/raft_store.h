/* raft_store.h: persistence of the Raft log and hard state in the node's LMDB environment. */
#ifndef RUNNEL_RAFT_RAFT_STORE_H
#define RUNNEL_RAFT_RAFT_STORE_H

/*
 * Layout (storage/kv.h tables):
 *   KV_TABLE_RAFT_META  "hard_state" -> term, vote, commit: three 8-byte
 *                       big-endian integers (24 bytes)
 *   KV_TABLE_RAFT_LOG   index as 8 bytes big-endian (so key order is index
 *                       order) -> the entry's term as 8 bytes big-endian,
 *                       then its data
 *
 * raft_store_save writes one Ready in one LMDB transaction, so a crash leaves
 * either all of it or none of it.  kv commits without fsync: the caller must
 * make the write durable with kv_sync (through the flusher) before it sends
 * the Ready's messages or acknowledges anything that depends on it, and only
 * then call raft_advance.
 */

#include <stdint.h>

#include "raft/raft.h"

struct kv;

/* Key of the hard state in KV_TABLE_RAFT_META. */
#define RAFT_STORE_HARD_STATE_KEY "hard_state"

/*
 * Loads the persisted hard state and log.
 *   hs       receives the hard state (all zero on a node that never saved one)
 *   entries  receives a malloc'd array of *count entries in index order, each
 *            with malloc'd data (NULL when empty); free with
 *            raft_store_free_entries.  NULL when *count is 0.
 * Returns 0, RN_E_CORRUPT_STATE (a hard state or entry value of the wrong
 * size, a key that is not 8 bytes, indexes not consecutive from 1, an entry
 * larger than RN_MAX_METADATA_RECORD_BYTES), RN_E_IO or RN_E_NOMEM.  On error
 * nothing is returned to free.
 */
int raft_store_load(struct kv *kv, struct raft_hard_state *hs, struct raft_entry **entries,
		    uint32_t *count);

/* Frees an array returned by raft_store_load (NULL is fine). */
void raft_store_free_entries(struct raft_entry *entries, uint32_t count);

/*
 * Persists one Ready in a single transaction: removes entries >=
 * rd->truncate_from (when non-zero), writes rd->entries (an entry at an index
 * that already exists replaces it), and the hard state when
 * rd->hard_state_changed.  Committed entries and messages are not stored.
 * Returns 0, RN_E_IO or RN_E_NOMEM; on error nothing was written.
 */
int raft_store_save(struct kv *kv, const struct raft_ready *rd);

#endif
