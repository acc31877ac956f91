/* plog_epoch.c: the leader-epoch history of a partition log. */
#include "storage/plog.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/rn_assert.h"
#include "storage/plog_internal.h"
#include "storage/storage_limits.h"

#include <inttypes.h>

static int store(struct plog *log)
{
	return epoch_hist_store(&log->epochs, log->dir_fd, PLOG_EPOCH_CHECKPOINT_FILE);
}

/* Adds the epochs of one segment's batches to the history. */
static int scan_segment(struct plog *log, struct segment *s, struct seg_walker *w)
{
	seg_walker_retarget(w, s);
	uint64_t pos = 0;
	while (pos < s->size_bytes) {
		struct batch_info info;
		int rc = seg_walker_header(w, pos, &info);
		if (rc)
			return rc;
		if (info.leader_epoch >= 0) {
			rc = epoch_hist_add_batch(&log->epochs, info.leader_epoch, info.base_offset);
			if (rc < 0)
				return rc;
		}
		pos += info.total_bytes;
	}
	return 0;
}

/* Rebuilds the history from every batch header (a log written before the
 * history existed, or a lost checkpoint).  Reads headers only. */
static int rebuild(struct plog *log)
{
	struct seg_walker w;
	seg_walker_init(&w, log->segs[0], NULL, PLOG_SCAN_CHUNK_BYTES, RN_MAX_BATCH_BYTES);
	epoch_hist_free(&log->epochs);
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < log->seg_count; i++)
		rc = scan_segment(log, log->segs[i], &w);
	seg_walker_free(&w);
	if (rc == RN_E_CORRUPT_STATE)
		LOG_ERROR("storage", "%s: a batch header is unreadable while rebuilding the "
				     "leader-epoch history", log->dir);
	return rc ? rc : store(log);
}

int plog_epochs_open(struct plog *log)
{
	int rc = epoch_hist_load(&log->epochs, log->dir_fd, PLOG_EPOCH_CHECKPOINT_FILE);
	if (rc == RN_E_NOT_FOUND || rc == RN_E_CORRUPT_STATE) {
		if (rc == RN_E_CORRUPT_STATE || plog_end_offset(log) > plog_start_offset(log))
			LOG_WARN("storage", "%s: rebuilding the leader-epoch history (%s)", log->dir,
				 rc == RN_E_NOT_FOUND ? "no checkpoint" : "unreadable checkpoint");
		return rebuild(log);
	}
	if (rc)
		return rc;
	/* Recovery may have cut a torn tail; epochs that started there are
	 * gone with their batches. */
	if (epoch_hist_truncate(&log->epochs, plog_end_offset(log)))
		return store(log);
	return 0;
}

int plog_epochs_note_batch(struct plog *log, int32_t epoch, int64_t base_offset)
{
	/* The common case, another batch of the latest epoch, costs one compare. */
	if (epoch < 0 || epoch == epoch_hist_latest(&log->epochs))
		return 0;
	int rc = epoch_hist_add_batch(&log->epochs, epoch, base_offset);
	if (rc <= 0)
		return rc;
	LOG_DEBUG("storage", "%s: leader epoch %" PRId32 " starts at offset %" PRId64, log->dir,
		 epoch, base_offset);
	return store(log);
}

int plog_epochs_truncate(struct plog *log, int64_t end_offset)
{
	return epoch_hist_truncate(&log->epochs, end_offset) ? store(log) : 0;
}

int32_t plog_latest_epoch(const struct plog *log)
{
	return epoch_hist_latest(&log->epochs);
}

uint32_t plog_epoch_count(const struct plog *log)
{
	return log->epochs.n;
}

int plog_epoch_end_offset(const struct plog *log, int32_t epoch, int32_t *found_epoch,
			  int64_t *end_offset)
{
	if (!found_epoch || !end_offset)
		return RN_E_INVAL;
	epoch_hist_end_offset(&log->epochs, epoch, plog_end_offset(log), found_epoch, end_offset);
	return 0;
}

int plog_epoch_start_offset(const struct plog *log, int32_t epoch, int64_t *start_offset)
{
	const struct epoch_hist *h = &log->epochs;
	int32_t i = epoch == -1 ? (h->n ? 0 : -1) : epoch_hist_find(h, epoch);
	if (i < 0)
		return RN_E_NOT_FOUND;
	*start_offset = h->v[i].start_offset;
	return 0;
}

int plog_epoch_assign(struct plog *log, int32_t epoch)
{
	if (epoch < 0)
		return RN_E_INVAL;
	if (atomic_load(&log->failed))
		return RN_E_IO;
	if (epoch <= epoch_hist_latest(&log->epochs))
		return 0;
	int rc = plog_epochs_note_batch(log, epoch, plog_end_offset(log));
	if (rc == RN_E_IO)
		atomic_store(&log->failed, true);
	return rc;
}
