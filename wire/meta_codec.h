/* meta_codec.h: metadata log records (controller/metadata.h) to and from their protobuf bytes (wire/metadata.proto). */
#ifndef RUNNEL_WIRE_META_CODEC_H
#define RUNNEL_WIRE_META_CODEC_H

/*
 * One metadata record is one MetadataRecord message, the payload of one Raft
 * log entry.  Decoding checks everything the structs can hold (string
 * lengths, id sizes, counts against common/limits.h) so that a record that
 * decodes can be handed to meta_image_apply without further size checks.
 */

#include <stddef.h>
#include <stdint.h>

#include "controller/metadata.h"

/*
 * Encodes rec.
 *   buf, len  receive a malloc'd buffer the caller frees with free()
 * Returns 0, RN_E_INVAL (unknown record type, more than
 * RN_MAX_CONFIGS_PER_TOPIC configs, counts above RN_MAX_REPLICATION_FACTOR,
 * or an encoding larger than RN_MAX_METADATA_RECORD_BYTES) or RN_E_NOMEM.
 */
int meta_record_encode(const struct meta_record *rec, uint8_t **buf, size_t *len);

/*
 * Decodes buf[0..len) into out.  On success out may own memory (a TOPIC
 * record's configs): free it with meta_record_free_contents.
 * Returns 0, RN_E_CORRUPT_STATE (not a MetadataRecord, no record set, a
 * string too long for its field, an id that is not 16
 * bytes, too many replicas, ISR members or configs, len above
 * RN_MAX_METADATA_RECORD_BYTES) or RN_E_NOMEM; on error out owns nothing.
 */
int meta_record_decode(const uint8_t *buf, size_t len, struct meta_record *out);

/*
 * A snapshot of the metadata image: the records that rebuild it, so that a
 * node whose log prefix was truncated can start from the snapshot instead.
 * Layout (integers big-endian):
 *   magic "RNMS" (4 bytes), format version (u32, META_SNAPSHOT_VERSION),
 *   applied index (u64), record count (u32),
 *   per record: length (u32) then one MetadataRecord,
 *   CRC32C (u32) of every byte before it.
 */
#define META_SNAPSHOT_VERSION 1u
/* The largest snapshot encoded or decoded; it must travel in one Raft
 * message, so it stays well below RN_MAX_FRAME_BYTES. */
#define META_SNAPSHOT_MAX_BYTES (48u * 1024u * 1024u)

/*
 * Encodes the image.
 *   buf, len  receive a malloc'd buffer the caller frees with free()
 * Returns 0, RN_E_FULL (the snapshot would exceed META_SNAPSHOT_MAX_BYTES),
 * RN_E_INVAL (a record of the image does not encode) or RN_E_NOMEM.
 */
int meta_snapshot_encode(const struct meta_image *img, uint8_t **buf, size_t *len);

/*
 * Decodes a snapshot into a fresh image equal to the one encoded, with its
 * applied index restored.
 *   out  receives the image; the caller frees it with meta_image_free
 * Returns 0, RN_E_CORRUPT_STATE (bad magic, version, CRC, length or record,
 * or records that do not rebuild a consistent image) or RN_E_NOMEM; on
 * error *out is NULL.
 */
int meta_snapshot_decode(const uint8_t *buf, size_t len, struct meta_image **out);

#endif
