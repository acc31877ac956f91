/* cleaner.c: the compaction core: the key map and the rewrite of one batch. */
#include "storage/cleaner.h"

#include "common/errors.h"
#include "common/limits.h"
#include "common/rn_assert.h"

#include <stdlib.h>
#include <string.h>

/* ---- the key map ---- */

/* One bucket: the key's hash and length, and its latest offset (-1: empty). */
struct bucket {
	uint64_t hash;
	int64_t offset;
	int32_t key_len;
	uint32_t tombstone; /* the latest record is a tombstone */
};

_Static_assert(sizeof(struct bucket) == CLEANER_MAP_BUCKET_BYTES, "bucket size");

struct cleaner_map {
	struct bucket *b;
	uint32_t mask;
	uint32_t used;
	uint32_t limit;
};

/* FNV-1a over the bytes, then a 64-bit finaliser (splitmix64) so that keys
 * differing only in their last bytes spread over every bucket bit. */
static uint64_t key_hash(const uint8_t *key, int32_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (int32_t i = 0; i < len; i++) {
		h ^= key[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

int cleaner_map_create(uint32_t buckets, struct cleaner_map **out)
{
	if (buckets < CLEANER_MAP_MIN_BUCKETS || buckets > CLEANER_MAP_MAX_BUCKETS ||
	    (buckets & (buckets - 1)) != 0)
		return RN_E_INVAL;
	struct cleaner_map *m = calloc(1, sizeof(*m));
	if (!m)
		return RN_E_NOMEM;
	m->b = malloc((size_t)buckets * sizeof(*m->b));
	if (!m->b) {
		free(m);
		return RN_E_NOMEM;
	}
	for (uint32_t i = 0; i < buckets; i++)
		m->b[i].offset = -1;
	m->mask = buckets - 1;
	m->limit = (uint32_t)((uint64_t)buckets * CLEANER_MAP_LOAD_PERCENT / 100u);
	*out = m;
	return 0;
}

void cleaner_map_free(struct cleaner_map *m)
{
	if (!m)
		return;
	free(m->b);
	free(m);
}

uint32_t cleaner_map_room(const struct cleaner_map *m)
{
	return m->limit - m->used;
}

uint32_t cleaner_map_size(const struct cleaner_map *m)
{
	return m->used;
}

/* The bucket holding the key, or the empty one where it would go.  The load
 * limit keeps an empty bucket in every probe sequence. */
static struct bucket *probe(const struct cleaner_map *m, uint64_t h, int32_t len)
{
	uint32_t i = (uint32_t)h & m->mask;
	for (;;) {
		struct bucket *b = &m->b[i];
		if (b->offset < 0 || (b->hash == h && b->key_len == len))
			return b;
		i = (i + 1) & m->mask;
	}
}

int cleaner_map_put(struct cleaner_map *m, const uint8_t *key, int32_t key_len, int64_t offset,
		    bool tombstone)
{
	RN_ASSERT(key_len >= 0 && offset >= 0);
	uint64_t h = key_hash(key, key_len);
	struct bucket *b = probe(m, h, key_len);
	if (b->offset < 0) {
		if (m->used >= m->limit)
			return RN_E_FULL;
		m->used++;
		b->hash = h;
		b->key_len = key_len;
	}
	b->offset = offset;
	b->tombstone = tombstone;
	return 0;
}

int64_t cleaner_map_get(const struct cleaner_map *m, const uint8_t *key, int32_t key_len,
			bool *tombstone)
{
	if (tombstone)
		*tombstone = false;
	if (key_len < 0)
		return -1;
	const struct bucket *b = probe(m, key_hash(key, key_len), key_len);
	if (tombstone && b->offset >= 0)
		*tombstone = b->tombstone != 0;
	return b->offset;
}

/* ---- what survives ---- */

bool cleaner_keeps(const struct cleaner_rules *rules, const struct record_view *rec,
		   int64_t batch_max_ts)
{
	if (rec->offset >= rules->map_end)
		return true;
	/* A record without a key cannot be superseded; Kafka refuses them in
	 * compacted topics at produce time, this log keeps what it holds. */
	if (rec->key_len < 0)
		return true;
	if (cleaner_map_get(rules->map, rec->key, rec->key_len, NULL) > rec->offset)
		return false;
	/* The latest record of its key (or a key the dirty part does not
	 * touch): a tombstone goes once its delete retention has passed. */
	return !(rec->value_len < 0 && batch_max_ts < rules->delete_before_ms);
}

/* ---- the rewrite ---- */

int cleaner_writer_init(struct cleaner_writer *w, cleaner_emit_cb emit, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->emit = emit;
	w->emit_arg = arg;
	batch_codec_init(&w->codec);
	size_t bound = batch_compress_bound(BATCH_COMPRESSION_LZ4, RN_MAX_BATCH_BYTES);
	size_t zbound = batch_compress_bound(BATCH_COMPRESSION_ZSTD, RN_MAX_BATCH_BYTES);
	w->packed_cap = bound > zbound ? bound : zbound;
	w->build = malloc(RN_MAX_BATCH_BYTES);
	w->packed = malloc(w->packed_cap);
	w->hdrs = malloc(RN_MAX_HEADERS_PER_RECORD * sizeof(*w->hdrs));
	if (!w->build || !w->packed || !w->hdrs) {
		cleaner_writer_destroy(w);
		return RN_E_NOMEM;
	}
	return 0;
}

void cleaner_writer_destroy(struct cleaner_writer *w)
{
	free(w->build);
	free(w->packed);
	free(w->hdrs);
	batch_codec_destroy(&w->codec);
	w->build = w->packed = NULL;
	w->hdrs = NULL;
}

static void put_crc(uint8_t *buf, size_t len)
{
	be_put32(buf + BATCH_OFF_CRC, crc32c(buf + BATCH_CRC_START, len - BATCH_CRC_START));
}

/* The producer sequence of the record delta records into a batch. */
static int32_t sequence_at(const struct batch_info *info, int64_t delta)
{
	if (info->base_sequence < 0)
		return info->base_sequence;
	return (int32_t)(((int64_t)info->base_sequence + delta) & 0x7fffffff);
}

int cleaner_writer_flush(struct cleaner_writer *w)
{
	if (!w->gap_open)
		return 0;
	w->gap_open = false;
	const struct batch_info *in = &w->gap_info;
	uint8_t h[BATCH_HEADER_BYTES];
	memset(h, 0, sizeof(h));
	be_put64(h + BATCH_OFF_BASE_OFFSET, (uint64_t)w->gap_base);
	be_put32(h + BATCH_OFF_LENGTH, BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD);
	be_put32(h + BATCH_OFF_LEADER_EPOCH, (uint32_t)in->leader_epoch);
	h[BATCH_OFF_MAGIC] = BATCH_MAGIC;
	be_put16(h + BATCH_OFF_ATTRIBUTES,
		 (uint16_t)(in->attributes & ~BATCH_ATTR_COMPRESSION_MASK));
	be_put32(h + BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(w->gap_end - w->gap_base - 1));
	/* The original's max timestamp, so that the time index and the
	 * segment's age stay what they were. */
	be_put64(h + BATCH_OFF_FIRST_TIMESTAMP, (uint64_t)in->max_timestamp);
	be_put64(h + BATCH_OFF_MAX_TIMESTAMP, (uint64_t)in->max_timestamp);
	be_put64(h + BATCH_OFF_PRODUCER_ID, (uint64_t)in->producer_id);
	be_put16(h + BATCH_OFF_PRODUCER_EPOCH, (uint16_t)in->producer_epoch);
	be_put32(h + BATCH_OFF_BASE_SEQUENCE,
		 (uint32_t)sequence_at(in, w->gap_base - in->base_offset));
	be_put32(h + BATCH_OFF_RECORD_COUNT, 0);
	put_crc(h, sizeof(h));
	return w->emit(w->emit_arg, h, sizeof(h));
}

/* Adds removed offsets [base, end) of the batch in to the pending empty
 * run, writing out the previous run first when it cannot be extended. */
static int gap_add(struct cleaner_writer *w, const struct batch_info *in, int64_t base,
		   int64_t end)
{
	if (w->gap_open &&
	    (w->gap_end != base || w->gap_info.leader_epoch != in->leader_epoch ||
	     end - w->gap_base > INT32_MAX)) {
		int rc = cleaner_writer_flush(w);
		if (rc)
			return rc;
	}
	if (!w->gap_open) {
		w->gap_open = true;
		w->gap_base = base;
		w->gap_info = *in;
	}
	w->gap_end = end;
	return 0;
}

/* Starts the surviving run at rec in the build buffer. */
static void run_start(struct cleaner_writer *w, struct batch_builder *b)
{
	batch_builder_init(b, w->build, RN_MAX_BATCH_BYTES);
}

static int run_add(struct cleaner_writer *w, struct batch_builder *b, const struct record_view *rec)
{
	uint32_t n = 0;
	const uint8_t *pos = rec->headers;
	size_t left = rec->headers_len;
	while (n < rec->header_count && n < RN_MAX_HEADERS_PER_RECORD) {
		int rc = batch_header_next(&pos, &left, &w->hdrs[n]);
		if (rc != 1)
			return RN_E_CORRUPT_STATE;
		n++;
	}
	/* The record came out of a batch of at most this size, so it fits. */
	int rc = batch_builder_add(b, rec->timestamp, rec->key, rec->key_len, rec->value,
				   rec->value_len, w->hdrs, n);
	return rc == 0 ? 0 : RN_E_CORRUPT_STATE;
}

/* Finishes the surviving run whose first record is at run_base and writes
 * it with the original's header fields and codec. */
static int run_finish(struct cleaner_writer *w, struct batch_builder *b,
		      const struct batch_info *in, int64_t run_base)
{
	int rc = cleaner_writer_flush(w);
	if (rc)
		return rc;
	size_t len = batch_builder_finish(b, in->producer_id, in->producer_epoch,
					  sequence_at(in, run_base - in->base_offset));
	RN_ASSERT(len > 0);
	uint8_t *out = w->build;
	uint16_t attrs = (uint16_t)(in->attributes & ~BATCH_ATTR_COMPRESSION_MASK);
	be_put16(out + BATCH_OFF_ATTRIBUTES, attrs);
	if (attrs & BATCH_ATTR_TIMESTAMP_LOG_APPEND)
		be_put64(out + BATCH_OFF_MAX_TIMESTAMP, (uint64_t)in->max_timestamp);
	put_crc(out, len);
	batch_stamp(out, run_base, in->leader_epoch);
	int codec = batch_codec_of(in);
	if (codec != BATCH_COMPRESSION_NONE) {
		size_t packed_len;
		rc = batch_compress(&w->codec, codec, BATCH_CODEC_LEVEL_DEFAULT, out, len,
				    w->packed, w->packed_cap, &packed_len);
		if (rc == RN_E_NOMEM)
			return rc;
		/* A run that does not fit compressed is kept uncompressed. */
		if (rc == 0) {
			out = w->packed;
			len = packed_len;
		}
	}
	return w->emit(w->emit_arg, out, len);
}

int cleaner_rewrite_batch(struct cleaner_writer *w, const struct cleaner_rules *rules,
			  const uint8_t *buf, size_t len, bool *changed)
{
	struct batch_info info;
	struct batch_iter it;
	struct record_view rec;
	*changed = false;
	if (batch_peek(buf, len, &info) != 0 || batch_iter_init(&it, buf, len) != 0)
		return RN_E_CORRUPT_STATE;
	int64_t last = info.base_offset + info.last_offset_delta;
	w->records_in += (uint64_t)info.record_count;
	/* A batch wholly past the map's end, or already empty, stays as is. */
	bool all = info.base_offset >= rules->map_end || info.record_count == 0;
	if (!all) {
		all = true;
		int rc;
		while ((rc = batch_iter_next(&it, &rec)) == 1)
			if (!cleaner_keeps(rules, &rec, info.max_timestamp)) {
				all = false;
				break;
			}
		if (rc < 0)
			return RN_E_CORRUPT_STATE;
	}
	if (all) {
		int rc = 0;
		if (info.record_count == 0)
			rc = gap_add(w, &info, info.base_offset, last + 1);
		else if ((rc = cleaner_writer_flush(w)) == 0)
			rc = w->emit(w->emit_arg, buf, len);
		w->records_out += (uint64_t)info.record_count;
		return rc;
	}
	*changed = true;
	if (batch_iter_init(&it, buf, len) != 0)
		return RN_E_CORRUPT_STATE;
	struct batch_builder b;
	int64_t run_base = -1; /* first offset of the open surviving run */
	int64_t next = info.base_offset;
	int rc;
	while ((rc = batch_iter_next(&it, &rec)) == 1) {
		if (rec.offset < next || rec.offset > last)
			return RN_E_CORRUPT_STATE;
		bool keep = cleaner_keeps(rules, &rec, info.max_timestamp);
		if (keep && run_base < 0) {
			if (rec.offset > next && (rc = gap_add(w, &info, next, rec.offset)) != 0)
				return rc;
			run_start(w, &b);
			run_base = rec.offset;
		} else if (!keep && run_base >= 0) {
			if ((rc = run_finish(w, &b, &info, run_base)) != 0)
				return rc;
			run_base = -1;
		}
		if (keep) {
			/* Survivors in one run have consecutive offsets. */
			if (rec.offset != run_base + b.count)
				return RN_E_CORRUPT_STATE;
			if ((rc = run_add(w, &b, &rec)) != 0)
				return rc;
			w->records_out++;
			next = rec.offset + 1;
		} else {
			if (rec.offset > next && (rc = gap_add(w, &info, next, rec.offset)) != 0)
				return rc;
			if ((rc = gap_add(w, &info, rec.offset, rec.offset + 1)) != 0)
				return rc;
			next = rec.offset + 1;
		}
	}
	if (rc < 0)
		return RN_E_CORRUPT_STATE;
	if (run_base >= 0 && (rc = run_finish(w, &b, &info, run_base)) != 0)
		return rc;
	if (next <= last)
		rc = gap_add(w, &info, next, last + 1);
	return rc;
}
