/* pstate.c: a partition's idempotent-producer state. */
#include "broker/pstate.h"

#include "common/errors.h"
#include "common/rn_assert.h"
#include "wire/batch.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP 16u

int32_t pstate_next_seq(int32_t seq)
{
	return seq == INT32_MAX ? 0 : seq + 1;
}

int32_t pstate_last_seq(int32_t first_seq, int32_t last_offset_delta)
{
	RN_ASSERT(first_seq >= 0 && last_offset_delta >= 0);
	int64_t last = (int64_t)first_seq + last_offset_delta;
	return (int32_t)(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

bool pstate_append_from_batch(const struct batch_info *info, struct pstate_append *a)
{
	if (info->producer_id < 0 || info->base_sequence < 0 || info->last_offset_delta < 0)
		return false;
	a->producer_id = info->producer_id;
	a->epoch = info->producer_epoch;
	a->first_seq = info->base_sequence;
	a->last_seq = pstate_last_seq(info->base_sequence, info->last_offset_delta);
	a->first_offset = info->base_offset;
	a->last_offset = info->base_offset + info->last_offset_delta;
	return true;
}

/* ------------------------------------------------------------------ table */

static uint32_t hash_id(int64_t id)
{
	uint64_t x = (uint64_t)id;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

void pstate_init(struct pstate *s)
{
	memset(s, 0, sizeof(*s));
}

void pstate_free(struct pstate *s)
{
	free(s->slots);
	pstate_init(s);
}

void pstate_clear(struct pstate *s)
{
	for (uint32_t i = 0; i < s->cap; i++)
		s->slots[i].producer_id = -1;
	s->count = 0;
}

static uint32_t slot_of(const struct pstate *s, int64_t producer_id)
{
	uint32_t mask = s->cap - 1;
	uint32_t i = hash_id(producer_id) & mask;
	while (s->slots[i].producer_id != -1 && s->slots[i].producer_id != producer_id)
		i = (i + 1) & mask;
	return i;
}

const struct pstate_producer *pstate_find(const struct pstate *s, int64_t producer_id)
{
	if (s->cap == 0 || producer_id < 0)
		return NULL;
	const struct pstate_producer *p = &s->slots[slot_of(s, producer_id)];
	return p->producer_id == producer_id ? p : NULL;
}

/* Removes slot i, moving later entries of its probe run back into the
 * hole so that lookups never stop early (no tombstones). */
static void remove_slot(struct pstate *s, uint32_t i)
{
	uint32_t mask = s->cap - 1;
	uint32_t hole = i;
	s->slots[hole].producer_id = -1;
	for (uint32_t j = (hole + 1) & mask; s->slots[j].producer_id != -1; j = (j + 1) & mask) {
		uint32_t home = hash_id(s->slots[j].producer_id) & mask;
		/* j may move to the hole when its home is not in (hole, j]. */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (stays)
			continue;
		s->slots[hole] = s->slots[j];
		s->slots[j].producer_id = -1;
		hole = j;
	}
	s->count--;
}

static int grow(struct pstate *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : MIN_CAP;
	struct pstate_producer *old = s->slots;
	uint32_t old_cap = s->cap;
	struct pstate_producer *slots = malloc((size_t)cap * sizeof(*slots));
	if (!slots)
		return RN_E_NOMEM;
	for (uint32_t i = 0; i < cap; i++)
		slots[i].producer_id = -1;
	s->slots = slots;
	s->cap = cap;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i].producer_id != -1)
			s->slots[slot_of(s, old[i].producer_id)] = old[i];
	free(old);
	return 0;
}

/* Forgets the least recently used producer, to stay within the limit. */
static void evict_oldest(struct pstate *s)
{
	uint32_t victim = UINT32_MAX;
	for (uint32_t i = 0; i < s->cap; i++)
		if (s->slots[i].producer_id != -1 &&
		    (victim == UINT32_MAX || s->slots[i].last_used < s->slots[victim].last_used))
			victim = i;
	RN_ASSERT(victim != UINT32_MAX);
	remove_slot(s, victim);
}

/* The producer's slot, inserted empty (epoch -1, no batches) if missing. */
static int entry_get(struct pstate *s, int64_t producer_id, struct pstate_producer **out)
{
	if (s->cap > 0) {
		struct pstate_producer *p = &s->slots[slot_of(s, producer_id)];
		if (p->producer_id == producer_id) {
			*out = p;
			return 0;
		}
	}
	if (s->count >= PSTATE_MAX_PRODUCERS)
		evict_oldest(s);
	/* At most three quarters full keeps probe runs short. */
	if ((uint64_t)(s->count + 1) * 4 > (uint64_t)s->cap * 3) {
		int rc = grow(s);
		if (rc)
			return rc;
	}
	struct pstate_producer *p = &s->slots[slot_of(s, producer_id)];
	memset(p, 0, sizeof(*p));
	p->producer_id = producer_id;
	p->epoch = -1;
	s->count++;
	*out = p;
	return 0;
}

/* --------------------------------------------------------------- checking */

static const struct pstate_batch *newest_batch(const struct pstate_producer *p)
{
	return p->count ? &p->batches[p->newest] : NULL;
}

int pstate_check(const struct pstate *s, const struct pstate_append *a, struct pstate_batch *dup)
{
	RN_ASSERT(a->producer_id >= 0 && a->first_seq >= 0);
	const struct pstate_producer *p = pstate_find(s, a->producer_id);
	if (!p)
		return 0;
	if (a->epoch < p->epoch)
		return RN_E_INVALID_PRODUCER_EPOCH;
	if (a->epoch > p->epoch)
		return a->first_seq == 0 ? 0 : RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER;
	for (uint32_t i = 0; i < p->count; i++) {
		const struct pstate_batch *b = &p->batches[i];
		if (b->first_seq == a->first_seq && b->last_seq == a->last_seq) {
			*dup = *b;
			return RN_E_DUPLICATE_SEQUENCE_NUMBER;
		}
	}
	const struct pstate_batch *last = newest_batch(p);
	int32_t expected = last ? pstate_next_seq(last->last_seq) : 0;
	return a->first_seq == expected ? 0 : RN_E_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

int pstate_update(struct pstate *s, const struct pstate_append *a)
{
	if (a->producer_id < 0)
		return 0;
	struct pstate_producer *p;
	int rc = entry_get(s, a->producer_id, &p);
	if (rc)
		return rc;
	if (a->epoch != p->epoch) {
		p->epoch = a->epoch;
		p->count = 0;
	}
	const struct pstate_batch *last = newest_batch(p);
	/* A batch already cached (a follower fetching again what it has, or a
	 * replay overlapping a snapshot) is not added twice. */
	if (last && last->first_seq == a->first_seq && last->last_seq == a->last_seq &&
	    last->first_offset == a->first_offset)
		return 0;
	uint8_t slot = p->count ? (uint8_t)((p->newest + 1) % PSTATE_CACHED_BATCHES) : 0;
	if (p->count < PSTATE_CACHED_BATCHES)
		p->count++;
	p->newest = slot;
	p->batches[slot] = (struct pstate_batch){a->first_seq, a->last_seq, a->first_offset,
						 a->last_offset};
	p->last_used = ++s->clock;
	return 0;
}

void pstate_truncate(struct pstate *s, int64_t offset)
{
	for (uint32_t i = 0; i < s->cap;) {
		struct pstate_producer *p = &s->slots[i];
		if (p->producer_id == -1) {
			i++;
			continue;
		}
		/* Walk newest to oldest, dropping batches at or after offset. */
		while (p->count > 0 && p->batches[p->newest].first_offset >= offset) {
			p->count--;
			p->newest = (uint8_t)((p->newest + PSTATE_CACHED_BATCHES - 1) %
					      PSTATE_CACHED_BATCHES);
		}
		if (p->count == 0) {
			/* remove_slot may move a later entry into slot i: look again. */
			remove_slot(s, i);
			continue;
		}
		i++;
	}
}

/* --------------------------------------------------------------- snapshot */

static uint8_t *put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
	return b + 2;
}

static uint8_t *put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (24 - 8 * i));
	return b + 4;
}

static uint8_t *put64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	return b + 8;
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)((b[0] << 8) | b[1]);
}

static uint32_t get32(const uint8_t *b)
{
	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static uint64_t get64(const uint8_t *b)
{
	return ((uint64_t)get32(b) << 32) | get32(b + 4);
}

size_t pstate_snapshot_size(const struct pstate *s)
{
	size_t n = PSTATE_SNAPSHOT_HEADER_BYTES;
	for (uint32_t i = 0; i < s->cap; i++)
		if (s->slots[i].producer_id != -1)
			n += PSTATE_SNAPSHOT_PRODUCER_BYTES +
			     (size_t)s->slots[i].count * PSTATE_SNAPSHOT_BATCH_BYTES;
	return n;
}

void pstate_snapshot_write(const struct pstate *s, int64_t end_offset, uint8_t *buf)
{
	uint8_t *b = put32(buf, PSTATE_SNAPSHOT_MAGIC);
	b = put16(b, PSTATE_SNAPSHOT_VERSION);
	uint8_t *crc_at = b;
	b = put64(b + 4, (uint64_t)end_offset);
	b = put32(b, s->count);
	for (uint32_t i = 0; i < s->cap; i++) {
		const struct pstate_producer *p = &s->slots[i];
		if (p->producer_id == -1)
			continue;
		b = put64(b, (uint64_t)p->producer_id);
		b = put16(b, (uint16_t)p->epoch);
		b = put64(b, (uint64_t)p->last_used);
		*b++ = p->count;
		/* Oldest first, so that reading them back in order rebuilds the ring. */
		for (uint32_t k = 0; k < p->count; k++) {
			uint32_t at = (p->newest + PSTATE_CACHED_BATCHES - (p->count - 1) + k) %
				      PSTATE_CACHED_BATCHES;
			const struct pstate_batch *pb = &p->batches[at];
			b = put32(b, (uint32_t)pb->first_seq);
			b = put32(b, (uint32_t)pb->last_seq);
			b = put64(b, (uint64_t)pb->first_offset);
			b = put64(b, (uint64_t)pb->last_offset);
		}
	}
	RN_ASSERT((size_t)(b - buf) == pstate_snapshot_size(s));
	put32(crc_at, crc32c(crc_at + 4, (size_t)(b - crc_at - 4)));
}

/* Reads one producer at *b (bounds checked by the caller's length walk). */
static int read_producer(struct pstate *s, const uint8_t **bp, const uint8_t *end)
{
	const uint8_t *b = *bp;
	if ((size_t)(end - b) < PSTATE_SNAPSHOT_PRODUCER_BYTES)
		return RN_E_CORRUPT_STATE;
	int64_t id = (int64_t)get64(b);
	int16_t epoch = (int16_t)get16(b + 8);
	int64_t last_used = (int64_t)get64(b + 10);
	uint8_t count = b[18];
	b += PSTATE_SNAPSHOT_PRODUCER_BYTES;
	if (id < 0 || count == 0 || count > PSTATE_CACHED_BATCHES || pstate_find(s, id) ||
	    (size_t)(end - b) < (size_t)count * PSTATE_SNAPSHOT_BATCH_BYTES)
		return RN_E_CORRUPT_STATE;
	struct pstate_producer *p;
	int rc = entry_get(s, id, &p);
	if (rc)
		return rc;
	p->epoch = epoch;
	for (uint8_t k = 0; k < count; k++, b += PSTATE_SNAPSHOT_BATCH_BYTES) {
		struct pstate_batch pb = {(int32_t)get32(b), (int32_t)get32(b + 4),
					  (int64_t)get64(b + 8), (int64_t)get64(b + 16)};
		if (pb.first_seq < 0 || pb.last_seq < 0 || pb.first_offset < 0 ||
		    pb.last_offset < pb.first_offset)
			return RN_E_CORRUPT_STATE;
		p->batches[k] = pb;
	}
	p->count = count;
	p->newest = (uint8_t)(count - 1);
	p->last_used = last_used;
	if (last_used > s->clock)
		s->clock = last_used;
	*bp = b;
	return 0;
}

int pstate_snapshot_read(struct pstate *s, const uint8_t *buf, size_t len, int64_t *end_offset)
{
	pstate_clear(s);
	s->clock = 0;
	if (len < PSTATE_SNAPSHOT_HEADER_BYTES || get32(buf) != PSTATE_SNAPSHOT_MAGIC ||
	    get16(buf + 4) != PSTATE_SNAPSHOT_VERSION ||
	    get32(buf + 6) != crc32c(buf + 10, len - 10))
		return RN_E_CORRUPT_STATE;
	int64_t end = (int64_t)get64(buf + 10);
	uint32_t count = get32(buf + 18);
	if (end < 0 || count > PSTATE_MAX_PRODUCERS)
		return RN_E_CORRUPT_STATE;
	const uint8_t *b = buf + PSTATE_SNAPSHOT_HEADER_BYTES;
	const uint8_t *stop = buf + len;
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < count; i++)
		rc = read_producer(s, &b, stop);
	if (rc == 0 && b != stop)
		rc = RN_E_CORRUPT_STATE;
	if (rc) {
		pstate_clear(s);
		return rc;
	}
	*end_offset = end;
	return 0;
}
