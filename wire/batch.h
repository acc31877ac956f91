/* batch.h: the binary record batch: layout, validation, building and reading. */
#ifndef RUNNEL_WIRE_BATCH_H
#define RUNNEL_WIRE_BATCH_H

/*
 * docs/record-batch.md is the specification; this header is its code.  All
 * integers in the batch header are big-endian.  A batch is:
 *
 *   offset  size  field
 *        0     8  base_offset            first record's offset (set by the leader)
 *        8     4  batch_length           bytes after this field
 *       12     4  partition_leader_epoch (set by the leader)
 *       16     1  magic                  = 2
 *       17     4  crc                    CRC32C of bytes 21 .. end
 *       21     2  attributes             bits 0-2 compression, bit 3 timestamp type
 *       23     4  last_offset_delta
 *       27     8  first_timestamp
 *       35     8  max_timestamp
 *       43     8  producer_id            -1: none
 *       51     2  producer_epoch
 *       53     4  base_sequence          -1: none
 *       57     4  record_count
 *       61     .. records
 *
 * and each record is:
 *
 *   varint  length (bytes after this field)
 *   int8    attributes (0)
 *   varlong timestamp_delta  (from first_timestamp)
 *   varint  offset_delta     (from base_offset)
 *   varint  key_length (-1: null key)     then the key bytes
 *   varint  value_length (-1: null value) then the value bytes
 *   varint  header_count
 *     for each header: varint key_length, key, varint value_length (-1: null), value
 *
 * Varints are zig-zag encoded, 7 bits per byte, least significant group
 * first (Kafka's and protobuf's sint encoding).  Because the CRC starts at
 * the attributes, the leader can stamp base_offset and the leader epoch
 * without recomputing it.
 *
 * A compressed batch (attribute bits 0-2: 3 lz4, 4 zstd) keeps the header
 * above as it is; only the records, concatenated, are replaced by one frame
 * of the codec, and the CRC covers the compressed bytes.  Readers
 * decompress the records into a buffer of their own: a struct
 * batch_scratch, a region they manage (batch_decompress_records), or, for
 * batch_validate and batch_iter_init, a buffer of the calling thread.  The
 * records of a compressed batch may expand to BATCH_MAX_RECORDS_BYTES at
 * most (the size an uncompressed batch may have); a batch that expands
 * further is refused as CORRUPT_MESSAGE before more is allocated.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "wire/batch_codec.h"

#define BATCH_HEADER_BYTES 61u
#define BATCH_MAGIC 2
/* Bytes before and including batch_length: 8 + 4. */
#define BATCH_LOG_OVERHEAD 12u
#define BATCH_CRC_START 21u

#define BATCH_OFF_BASE_OFFSET 0
#define BATCH_OFF_LENGTH 8
#define BATCH_OFF_LEADER_EPOCH 12
#define BATCH_OFF_MAGIC 16
#define BATCH_OFF_CRC 17
#define BATCH_OFF_ATTRIBUTES 21
#define BATCH_OFF_LAST_OFFSET_DELTA 23
#define BATCH_OFF_FIRST_TIMESTAMP 27
#define BATCH_OFF_MAX_TIMESTAMP 35
#define BATCH_OFF_PRODUCER_ID 43
#define BATCH_OFF_PRODUCER_EPOCH 51
#define BATCH_OFF_BASE_SEQUENCE 53
#define BATCH_OFF_RECORD_COUNT 57

/* attributes: the codec (BATCH_COMPRESSION_*, batch_codec.h) and flags */
#define BATCH_ATTR_COMPRESSION_MASK 0x07
#define BATCH_ATTR_TIMESTAMP_LOG_APPEND 0x08

/* The most bytes the records of a compressed batch may decompress to: as
 * many as an uncompressed batch of the largest size holds. */
#define BATCH_MAX_RECORDS_BYTES (RN_MAX_BATCH_BYTES - BATCH_HEADER_BYTES)
/* The smallest decompression buffer a struct batch_scratch allocates. */
#define BATCH_SCRATCH_MIN_BYTES (64u * 1024u)

/* What a validated batch header says. */
struct batch_info {
	int64_t base_offset;
	uint32_t total_bytes; /* the whole batch: BATCH_LOG_OVERHEAD + batch_length */
	int32_t leader_epoch;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t first_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t record_count;
};

/* One record, pointing into the batch's bytes (valid while they are). */
struct record_view {
	int64_t offset;
	int64_t timestamp;
	const uint8_t *key; /* NULL when the key is null */
	int32_t key_len;    /* -1 when null */
	const uint8_t *value;
	int32_t value_len; /* -1 when null (a tombstone) */
	uint32_t header_count;
	const uint8_t *headers; /* encoded headers; read with batch_header_next */
	size_t headers_len;
};

struct record_header_view {
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;
	int32_t value_len; /* -1 when null */
};

/* Computes CRC32C (Castagnoli), as the batch crc field holds it. */
uint32_t crc32c(const void *data, size_t len);

/* Continues a CRC32C over more bytes: crc32c(ab) == crc32c_extend(crc32c(a), b). */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);

/*
 * Reads the header of the batch at buf without checking the CRC or records.
 * Returns 0, or RN_E_CORRUPT_MESSAGE if avail < BATCH_HEADER_BYTES, the magic
 * is wrong, or batch_length is out of range, or RN_E_AGAIN when avail holds a
 * valid header but not the whole batch (info is then filled).
 */
int batch_peek(const uint8_t *buf, size_t avail, struct batch_info *info);

/* The codec of a batch (BATCH_COMPRESSION_*). */
static inline int batch_codec_of(const struct batch_info *info)
{
	return info->attributes & BATCH_ATTR_COMPRESSION_MASK;
}

/* The codec the header at buf[0..len) names, or -1 when len is shorter than
 * a header: for naming the codec of a batch batch_validate refused with
 * RN_E_UNSUPPORTED_COMPRESSION_TYPE (batch_codec_name). */
static inline int batch_peek_codec(const uint8_t *buf, size_t len)
{
	if (len < BATCH_HEADER_BYTES)
		return -1;
	return buf[BATCH_OFF_ATTRIBUTES + 1] & BATCH_ATTR_COMPRESSION_MASK;
}

/*
 * Checks that buf[0..len) is exactly one well-formed batch: header, CRC, and
 * every record's framing, offset deltas 0..record_count-1 in order, and the
 * record count against max_records.  A compressed batch's records are
 * decompressed and checked the same way, into a buffer of the calling
 * thread that is kept for the next batch (no allocation once it is large
 * enough).  An uncompressed batch is checked without allocating.
 * Returns 0 and fills info, or:
 *   RN_E_CORRUPT_MESSAGE     bad length, magic, CRC or record structure, a
 *                            compressed section that is not one good frame
 *                            or expands past BATCH_MAX_RECORDS_BYTES
 *   RN_E_RECORD_LIST_TOO_LARGE  more than max_records records
 *   RN_E_INVALID_RECORD      a record breaks a rule (too many headers, ...)
 *   RN_E_UNSUPPORTED_COMPRESSION_TYPE  a codec this build does not read
 *                            (gzip, snappy, or an undefined number)
 *   RN_E_NOMEM               no memory to decompress into
 */
int batch_validate(const uint8_t *buf, size_t len, uint32_t max_records, struct batch_info *info);

/*
 * As batch_validate, and keeps what it parsed: when the batch holds at most
 * cap records, views[0..record_count) receive the records exactly as
 * batch_iter_next would return them and *filled is set to 1, so that a
 * reader that validates before reading walks the records only once.  With
 * more records, or an error, *filled is 0 (views may have been written).
 * For a compressed batch the views point into the calling thread's
 * buffer, valid until its next batch_validate* of a compressed batch.
 */
int batch_validate_views(const uint8_t *buf, size_t len, uint32_t max_records,
			 struct batch_info *info, struct record_view *views, size_t cap,
			 int *filled);

/*
 * The parts of batch_validate, for readers that decompress into memory of
 * their own.  batch_check_header checks everything but the records (length,
 * magic, CRC, codec, counts) and fills info; batch_check_records checks the
 * records section records[0..len) (the batch's bytes after the header, or
 * their decompressed form) against info and fills views as
 * batch_validate_views does.  Errors as batch_validate.
 */
int batch_check_header(const uint8_t *buf, size_t len, uint32_t max_records,
		       struct batch_info *info);
int batch_check_records(const struct batch_info *info, const uint8_t *records, size_t len,
			struct record_view *views, size_t cap, int *filled);

/*
 * Decompresses the records of the compressed batch buf (its header checked,
 * info filled, by batch_check_header) into dst[0..cap).  Returns 0 with
 * *len set, or RN_E_FULL (they need more than cap bytes, and cap is below
 * BATCH_MAX_RECORDS_BYTES: a larger dst may be offered), or as
 * batch_validate for a bad or oversized frame.
 */
int batch_decompress_records(struct batch_codec *c, const uint8_t *buf,
			     const struct batch_info *info, uint8_t *dst, size_t cap, size_t *len);

/* The size to offer batch_decompress_records first: what the frame header
 * declares, or a guess from the compressed size; within
 * BATCH_MAX_RECORDS_BYTES. */
size_t batch_records_size_hint(const uint8_t *buf, const struct batch_info *info);

/* A reusable decompression buffer, grown as needed up to
 * BATCH_MAX_RECORDS_BYTES and kept, and the codec contexts. */
struct batch_scratch {
	uint8_t *buf;
	size_t cap;
	struct batch_codec codec;
};

void batch_scratch_init(struct batch_scratch *s);
void batch_scratch_destroy(struct batch_scratch *s);

/* Decompresses the records of a compressed batch (header checked) into
 * s->buf; *records and *len point at them until the next call.  Returns 0,
 * RN_E_NOMEM, or as batch_validate for a bad or oversized frame. */
int batch_scratch_inflate(struct batch_scratch *s, const uint8_t *buf,
			  const struct batch_info *info, const uint8_t **records, size_t *len);

/* As batch_validate, decompressing into s rather than the thread's buffer;
 * views as for batch_validate_views (they point into s when compressed). */
int batch_validate_scratch(struct batch_scratch *s, const uint8_t *buf, size_t len,
			   uint32_t max_records, struct batch_info *info, struct record_view *views,
			   size_t cap, int *filled);

/* The most bytes batch_compress writes for an uncompressed batch of len
 * bytes. */
size_t batch_compress_bound(int codec, size_t len);

/*
 * Compresses the uncompressed, finished batch buf[0..len) into
 * out[0..cap) (cap >= batch_compress_bound): the same header with codec in
 * its attributes and a new batch_length and CRC, then the records as one
 * frame of codec at level (see batch_codec_compress).  The result may be
 * larger than the input when the records do not compress.  Returns 0 with
 * *out_len set, RN_E_FULL (the result would exceed RN_MAX_BATCH_BYTES),
 * RN_E_INVAL or RN_E_NOMEM.
 */
int batch_compress(struct batch_codec *c, int codec, int level, const uint8_t *buf, size_t len,
		   uint8_t *out, size_t cap, size_t *out_len);

/* Rewrites base_offset and partition_leader_epoch in place (no CRC change). */
void batch_stamp(uint8_t *buf, int64_t base_offset, int32_t leader_epoch);

/* Rewrites max_timestamp and sets the LogAppendTime attribute; recomputes
 * the CRC (used only for topics with message.timestamp.type=LogAppendTime). */
void batch_stamp_log_append_time(uint8_t *buf, size_t len, int64_t now_ms);

/* Iterates the records of a validated batch without allocating. */
struct batch_iter {
	const uint8_t *batch;
	const uint8_t *pos;
	const uint8_t *end;
	struct batch_info info;
	int32_t index;
};

/* Starts iteration over a batch that batch_validate accepted.  A compressed
 * batch is decompressed into a buffer of the calling thread (not the one
 * batch_validate uses), and the records point into it until the thread's
 * next batch_iter_init of a compressed batch.  Returns 0,
 * RN_E_CORRUPT_MESSAGE, RN_E_UNSUPPORTED_COMPRESSION_TYPE or RN_E_NOMEM. */
int batch_iter_init(struct batch_iter *it, const uint8_t *buf, size_t len);

/* Starts iteration over records[0..len), the records section of the batch
 * info describes (decompressed by the caller), which batch_check_records
 * accepted. */
void batch_iter_init_records(struct batch_iter *it, const struct batch_info *info,
			     const uint8_t *records, size_t len);

/* Returns 1 and fills rec, 0 at the end, or RN_E_CORRUPT_MESSAGE. */
int batch_iter_next(struct batch_iter *it, struct record_view *rec);

/* Walks a record's headers: pos/len start as rec->headers/headers_len.
 * Returns 1 and fills h, 0 at the end, or RN_E_CORRUPT_MESSAGE. */
int batch_header_next(const uint8_t **pos, size_t *len, struct record_header_view *h);

/*
 * Builds one uncompressed batch into a caller-owned buffer (batch_compress
 * then makes a compressed one of it).  The builder never
 * allocates: batch_builder_add fails with RN_E_FULL when the record does not
 * fit in the remaining capacity, and the caller then finishes this batch and
 * starts another.
 */
struct batch_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int32_t count;
	int64_t first_timestamp;
	int64_t max_timestamp;
};

/* Starts a batch in buf[0..cap).  cap must be at least BATCH_HEADER_BYTES. */
void batch_builder_init(struct batch_builder *b, uint8_t *buf, size_t cap);

/* Bytes a record would take (for sizing buffers). */
size_t batch_record_size(int64_t timestamp_delta, int32_t offset_delta, int32_t key_len,
			 int32_t value_len, uint32_t header_count, const struct record_header_view *headers);

/* Appends one record.  key/value may be NULL with len -1 for null.
 * Returns 0, RN_E_FULL, or RN_E_INVAL (too many headers or records). */
int batch_builder_add(struct batch_builder *b, int64_t timestamp, const void *key, int32_t key_len,
		      const void *value, int32_t value_len, const struct record_header_view *headers,
		      uint32_t header_count);

/* Writes the header and CRC.  base_offset is 0 and the producer fields are
 * producer_id/epoch/base_sequence (-1, -1, -1 for none).  Returns the batch
 * length in bytes. */
size_t batch_builder_finish(struct batch_builder *b, int64_t producer_id, int16_t producer_epoch,
			    int32_t base_sequence);

/* Big-endian helpers shared by the codecs. */
static inline void be_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline uint32_t be_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void be_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline uint16_t be_get16(const uint8_t *p)
{
	return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}
static inline void be_put64(uint8_t *p, uint64_t v)
{
	be_put32(p, (uint32_t)(v >> 32));
	be_put32(p + 4, (uint32_t)v);
}
static inline uint64_t be_get64(const uint8_t *p)
{
	return ((uint64_t)be_get32(p) << 32) | be_get32(p + 4);
}

#endif
