/* raft_wire.h: Raft messages (raft/raft.h) to and from the RaftMessage request of runnel.proto. */
#ifndef RUNNEL_BROKER_RAFT_WIRE_H
#define RUNNEL_BROKER_RAFT_WIRE_H

/*
 * The controller shell sends each message of a Ready as one one-way
 * RaftMessage request, and turns a received one back into a struct raft_msg
 * for raft_step.  Every field of struct raft_msg travels, so that the core's
 * fast catch-up (APPEND_RESP log_term and reject_hint) works across nodes.
 */

#include "broker/config.h"
#include "raft/raft.h"
#include "wire/runnel.pb-c.h"

/* The sender's identity carried beside the core's fields. */
struct raft_wire_origin {
	const char *cluster_id; /* "" until known */
	const char *host;       /* advertised address */
	int32_t port;
};

/*
 * Fills req (a Request with header and body, all initialised here) to carry
 * m.  The request points into m, origin and the storage given (hdr, body,
 * entry_structs, entry_ptrs with room for m->entry_count each), so it must be
 * packed before any of them changes.
 */
void raft_wire_encode(const struct raft_msg *m, const struct raft_wire_origin *origin,
		      Runnel__Request *req, Runnel__RequestHeader *hdr,
		      Runnel__RaftMessageRequest *body, Runnel__RaftEntry *entry_structs,
		      Runnel__RaftEntry **entry_ptrs);

/*
 * Turns a received RaftMessage into m.  m points into body (entries into
 * the entries array given, which must hold RAFT_MAX_ENTRIES_PER_MSG), so it
 * is valid while body is.
 * Returns 0 or RN_E_INVAL (an unknown type, more than
 * RAFT_MAX_ENTRIES_PER_MSG entries, an entry or snapshot over its limit,
 * or ids of 0): the message is then dropped.
 */
int raft_wire_decode(const Runnel__RaftMessageRequest *body, struct raft_msg *m,
		     struct raft_entry *entries);

#endif
