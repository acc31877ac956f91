/* raft_store.h: persistence of the Raft log and hard state in the node's LMDB environment. */
#ifndef RUNNEL_RAFT_RAFT_STORE_H
#define RUNNEL_RAFT_RAFT_STORE_H

/*
 * Layout (storage/kv.h tables):
 *   KV_TABLE_RAFT_META  "hard_state" -> term, vote, commit: three 8-byte
 *                       big-endian integers (24 bytes)
 *   KV_TABLE_RAFT_META  "snapshot" -> index, term: two 8-byte big-endian
 *                       integers, then the snapshot's bytes (absent: no
 *                       snapshot)
 *   KV_TABLE_RAFT_LOG   index as 8 bytes big-endian (so key order is index
 *                       order) -> the entry's term as 8 bytes big-endian,
 *                       then its data; consecutive from the snapshot's
 *                       index + 1 (from 1 without a snapshot)
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

/* Keys of the hard state and the snapshot in KV_TABLE_RAFT_META. */
#define RAFT_STORE_HARD_STATE_KEY "hard_state"
#define RAFT_STORE_SNAPSHOT_KEY "snapshot"

/* Everything raft_store_load_all returns; owned by the caller, freed with
 * raft_store_state_free. */
struct raft_store_state {
	struct raft_hard_state hs;     /* all zero on a node that never saved one */
	struct raft_snapshot snapshot; /* index 0: none; data malloc'd (NULL if len 0) */
	struct raft_entry *entries;    /* malloc'd, index order; NULL if count 0 */
	uint32_t count;
};

/*
 * Loads the hard state, the snapshot and the log (the entries after the
 * snapshot), ready for raft_new_from:
 *   struct raft_restore rs = { &st.hs, &st.snapshot, st.entries, st.count,
 *                              applied };
 * Returns 0, RN_E_CORRUPT_STATE (as raft_store_load, with the log
 * consecutive from the snapshot's index + 1; a snapshot value shorter than
 * 16 bytes or larger than RAFT_MAX_SNAPSHOT_BYTES of data), RN_E_IO or
 * RN_E_NOMEM.  On error st holds nothing to free.
 */
int raft_store_load_all(struct kv *kv, struct raft_store_state *st);

/* Frees what raft_store_load_all returned in st and zeroes it. */
void raft_store_state_free(struct raft_store_state *st);

/*
 * Loads the persisted hard state and log of a store without a snapshot
 * (raft_store_load_all loads both kinds).
 *   hs       receives the hard state (all zero on a node that never saved one)
 *   entries  receives a malloc'd array of *count entries in index order, each
 *            with malloc'd data (NULL when empty); free with
 *            raft_store_free_entries.  NULL when *count is 0.
 * Returns 0, RN_E_CORRUPT_STATE (a hard state or entry value of the wrong
 * size, a key that is not 8 bytes, indexes not consecutive from 1, an entry
 * larger than RN_MAX_METADATA_RECORD_BYTES; a stored snapshot, which this
 * function cannot return), RN_E_IO or RN_E_NOMEM.  On error nothing is
 * returned to free.
 */
int raft_store_load(struct kv *kv, struct raft_hard_state *hs, struct raft_entry **entries,
		    uint32_t *count);

/* Frees an array returned by raft_store_load (NULL is fine). */
void raft_store_free_entries(struct raft_entry *entries, uint32_t count);

/*
 * Persists one Ready in a single transaction: writes rd->snapshot (when not
 * NULL, replacing the stored one), removes entries <= rd->compact_to and
 * entries >= rd->truncate_from (each when non-zero), writes rd->entries (an
 * entry at an index that already exists replaces it), and the hard state
 * when rd->hard_state_changed.  Committed entries and messages are not
 * stored, and installing a snapshot in the state machine is the caller's.
 * Returns 0, RN_E_FULL (the LMDB map is full), RN_E_IO or RN_E_NOMEM; on
 * error nothing was written.
 */
int raft_store_save(struct kv *kv, const struct raft_ready *rd);

#endif
