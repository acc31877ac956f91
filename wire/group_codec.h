/* group_codec.h: offsets-topic records (broker/group_record.h) to and from their key and value bytes (wire/group.proto). */
#ifndef RUNNEL_WIRE_GROUP_CODEC_H
#define RUNNEL_WIRE_GROUP_CODEC_H

/*
 * A record of __consumer_offsets has a key (a GroupRecordKey) and a value
 * (an OffsetValue or a GroupValue, chosen by the key's kind); a tombstone
 * has no value at all (a null value in the record batch), which deletes the
 * key when the partition is compacted or replayed.  Equal keys encode to
 * equal bytes, because compaction compares key bytes.
 *
 * Decoding checks every string against the fixed fields of
 * struct group_record and every blob against the GROUP_MAX_* limits, so a
 * record that decodes can be handed to group_load_record as is.
 */

#include <stddef.h>
#include <stdint.h>

#include "broker/group_record.h"

/*
 * Encodes the key of rec (its type, group id and, for offsets, topic and
 * partition).
 *   buf, len  receive a malloc'd buffer the caller frees with free()
 * Returns 0, RN_E_INVAL (unknown type, empty group id) or RN_E_NOMEM.
 */
int group_codec_encode_key(const struct group_record *rec, uint8_t **buf, size_t *len);

/*
 * Encodes the value of rec.  A tombstone has no value: *buf is NULL, *len 0
 * and the caller writes a null value.
 *   buf, len  receive a malloc'd buffer the caller frees with free()
 * Returns 0, RN_E_INVAL (unknown type) or RN_E_NOMEM.
 */
int group_codec_encode_value(const struct group_record *rec, uint8_t **buf, size_t *len);

/*
 * Decodes a record.
 *   key, key_len      the record's key bytes
 *   value, value_len  the value bytes; value NULL means a null value (a
 *                     tombstone).  A present value of 0 bytes is an
 *                     empty message, not a tombstone.
 *   out               filled on success; free what it owns with
 *                     group_record_clear
 * Returns 0, RN_E_CORRUPT_MESSAGE (bytes that are not the messages of
 * wire/group.proto, a key with no kind set, a string too long for its field,
 * a blob over its limit, more than GROUP_MAX_MEMBERS members) or RN_E_NOMEM;
 * on error out owns nothing.
 */
int group_codec_decode(const uint8_t *key, size_t key_len, const uint8_t *value,
		       size_t value_len, struct group_record *out);

#endif
