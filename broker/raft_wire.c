/* raft_wire.c: Raft messages to and from protobuf. */
#include "broker/raft_wire.h"

#include "common/errors.h"
#include "common/limits.h"

#include <string.h>

void raft_wire_encode(const struct raft_msg *m, const struct raft_wire_origin *origin,
		      Runnel__Request *req, Runnel__RequestHeader *hdr,
		      Runnel__RaftMessageRequest *body, Runnel__RaftEntry *entry_structs,
		      Runnel__RaftEntry **entry_ptrs)
{
	runnel__request__init(req);
	runnel__request_header__init(hdr);
	runnel__raft_message_request__init(body);
	hdr->api_key = RUNNEL__API_KEY__API_RAFT_MESSAGE;
	hdr->api_version = 0;
	hdr->client_id = "runneld";
	req->header = hdr;
	req->body_case = RUNNEL__REQUEST__BODY_RAFT_MESSAGE;
	req->raft_message = body;
	body->cluster_id = (char *)origin->cluster_id;
	body->from_host = (char *)origin->host;
	body->from_port = origin->port;
	body->type = (uint32_t)m->type;
	body->from = m->from;
	body->to = m->to;
	body->term = m->term;
	body->log_term = m->log_term;
	body->index = m->index;
	body->commit = m->commit;
	body->reject = m->reject;
	body->reject_hint = m->reject_hint;
	for (uint32_t i = 0; i < m->entry_count; i++) {
		Runnel__RaftEntry *e = &entry_structs[i];
		runnel__raft_entry__init(e);
		e->term = m->entries[i].term;
		e->index = m->entries[i].index;
		e->data.data = m->entries[i].data;
		e->data.len = m->entries[i].len;
		entry_ptrs[i] = e;
	}
	body->n_entries = m->entry_count;
	body->entries = m->entry_count ? entry_ptrs : NULL;
	body->snapshot.data = m->snapshot;
	body->snapshot.len = m->snapshot_len;
}

static bool type_known(uint32_t type)
{
	return type >= RAFT_MSG_VOTE && type <= RAFT_MSG_SNAPSHOT;
}

int raft_wire_decode(const Runnel__RaftMessageRequest *body, struct raft_msg *m,
		     struct raft_entry *entries)
{
	memset(m, 0, sizeof(*m));
	if (!type_known(body->type) || body->from == 0 || body->to == 0 ||
	    body->n_entries > RAFT_MAX_ENTRIES_PER_MSG ||
	    body->snapshot.len > RAFT_MAX_SNAPSHOT_BYTES)
		return RN_E_INVAL;
	m->type = (enum raft_msg_type)body->type;
	m->from = body->from;
	m->to = body->to;
	m->term = body->term;
	m->log_term = body->log_term;
	m->index = body->index;
	m->commit = body->commit;
	m->reject = body->reject;
	m->reject_hint = body->reject_hint;
	for (size_t i = 0; i < body->n_entries; i++) {
		const Runnel__RaftEntry *e = body->entries[i];
		if (e->data.len > RN_MAX_METADATA_RECORD_BYTES)
			return RN_E_INVAL;
		entries[i].term = e->term;
		entries[i].index = e->index;
		entries[i].len = (uint32_t)e->data.len;
		entries[i].data = e->data.len ? e->data.data : NULL;
	}
	m->entry_count = (uint32_t)body->n_entries;
	m->entries = m->entry_count ? entries : NULL;
	m->snapshot_len = (uint32_t)body->snapshot.len;
	m->snapshot = m->snapshot_len ? body->snapshot.data : NULL;
	return RN_OK;
}
