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

#endif
