/* codec.h: the request/response codec and API version table shared by nodes and clients. */
#ifndef RUNNEL_WIRE_CODEC_H
#define RUNNEL_WIRE_CODEC_H

/*
 * A frame on a connection is a 4-byte big-endian length (wire/frame.h)
 * followed by one protobuf message: a Runnel__Request from client to node or
 * a Runnel__Response from node to client.  This module turns frame bodies
 * into generated protobuf structs and back, and says which APIs and versions
 * a node serves.  docs/protocol.md describes the protocol.
 */

#include <stddef.h>
#include <stdint.h>

#include "wire/runnel.pb-c.h"

/*
 * In a Request or Response the oneof body field number is the API key plus
 * this offset; the generated body-case enum values follow the same rule.
 */
#define WIRE_BODY_FIELD_OFFSET 100

/* One API a node serves: its key, the inclusive range of versions it
 * understands, and a name for logs. */
struct wire_api_range {
	int32_t api_key;
	int32_t min_version;
	int32_t max_version;
	const char *name;
};

/*
 * Returns the table of served APIs, sorted by api_key, and stores its length
 * in *count.  The table is static: never free it.
 */
const struct wire_api_range *wire_api_table(size_t *count);

/* Returns the table entry for api_key, or NULL if the node does not serve
 * it.  The entry is static. */
const struct wire_api_range *wire_api_find(int32_t api_key);

/*
 * Decodes a frame body (the bytes after the length prefix) into a Request.
 * frame: the body; len: its length in bytes.
 * On success returns 0 and stores a newly allocated message in *out, which
 * the caller releases with wire_request_free.  The message does not point
 * into frame, so the frame may be discarded at once.
 * Errors: RN_E_MALFORMED_FRAME when the bytes are not a valid Request,
 * RN_E_NOMEM; *out is then NULL.
 */
int wire_request_decode(const uint8_t *frame, size_t len, Runnel__Request **out);

/*
 * As wire_request_decode, but without copying the record batches of a
 * Produce request: each PartitionProduceData.records points into frame (so
 * the broker can stamp and append a batch where it was received).  The
 * caller keeps frame in place and unchanged, except for those batches,
 * while it reads them; every other field is the message's own.
 *
 * It accepts and refuses exactly the frames wire_request_decode does, with
 * the same codes, and builds the same message.  A Produce request in the
 * shape encoders emit (each singular field once, with its schema's wire
 * type, no unknown fields) is walked in place with a single allocation;
 * any other frame, and every other API, is decoded by protobuf-c.
 */
int wire_request_decode_inplace(uint8_t *frame, size_t len, Runnel__Request **out);

/* Frees a Request from either decoder.  NULL is allowed. */
void wire_request_free(Runnel__Request *req);

/*
 * Decodes a frame body into a Response, exactly as wire_request_decode does
 * for requests.  Release the result with wire_response_free.
 * Errors: RN_E_MALFORMED_FRAME; *out is then NULL.
 */
int wire_response_decode(const uint8_t *frame, size_t len, Runnel__Response **out);

/* Frees a Response from wire_response_decode.  NULL is allowed. */
void wire_response_free(Runnel__Response *resp);

/*
 * Checks the envelope of a decoded request, in this order:
 *   RN_E_INVALID_REQUEST     the header is missing, or the client id is
 *                            longer than RN_MAX_CLIENT_ID_LEN
 *   RN_E_UNSUPPORTED_API     header.api_key is not in the API table
 *   RN_E_UNSUPPORTED_VERSION header.api_version is outside the served range
 *   RN_E_INVALID_REQUEST     the body is absent or is not the one
 *                            header.api_key names
 * Returns 0 when the request may be dispatched.  why may be NULL; otherwise
 * *why is set to a static human-readable reason on error (suitable for a
 * response's error_message) and to NULL on success.  The body's contents are
 * not checked here; each handler checks its own fields.
 */
int wire_request_check(const Runnel__Request *req, const char **why);

/*
 * Bytes wire_frame_pack will write for msg: the length prefix plus the
 * packed message.  Callers compare this with RN_MAX_FRAME_BYTES (plus the
 * prefix) before packing a frame a peer would refuse.
 */
size_t wire_frame_size(const ProtobufCMessage *msg);

/*
 * Writes the length prefix and then the packed msg into out, which must hold
 * wire_frame_size(msg) bytes.  Returns the number of bytes written (always
 * equal to wire_frame_size(msg)).  The message must pack to fewer than 4 GiB.
 */
size_t wire_frame_pack(const ProtobufCMessage *msg, uint8_t *out);

#endif
