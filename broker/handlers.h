/* handlers.h: one handler per API; each answers or parks the request it is given. */
#ifndef RUNNEL_BROKER_HANDLERS_H
#define RUNNEL_BROKER_HANDLERS_H

/*
 * A handler receives a request whose envelope wire_request_check accepted
 * (header present, API and version served, body matching the key).  It
 * checks the body's own fields, then either answers at once (req_respond,
 * req_fail), parks the request (req_park) and answers later, or, for a
 * produce with acks=0, drops it (req_drop).
 */

struct req;
struct node;

void handle_api_versions(struct req *r);
void handle_metadata(struct req *r);
void handle_create_topics(struct req *r);
void handle_delete_topics(struct req *r);
void handle_incremental_alter_configs(struct req *r);
void handle_describe_configs(struct req *r);
void handle_produce(struct req *r);
void handle_fetch(struct req *r);
void handle_list_offsets(struct req *r);
void handle_describe_quorum(struct req *r);
void handle_broker_registration(struct req *r);
void handle_broker_heartbeat(struct req *r);
void handle_alter_partition(struct req *r);
void handle_elect_leaders(struct req *r);
void handle_init_producer_id(struct req *r);
void handle_find_coordinator(struct req *r);
void handle_join_group(struct req *r);
void handle_sync_group(struct req *r);
void handle_heartbeat(struct req *r);
void handle_leave_group(struct req *r);
void handle_offset_commit(struct req *r);
void handle_offset_fetch(struct req *r);
void handle_describe_groups(struct req *r);
void handle_list_groups(struct req *r);
void handle_delete_groups(struct req *r);
/* One-way: never answered (the request holds no response slot). */
void handle_raft_message(struct req *r);

/* Answers the fetches that became ready during this turn (called by the
 * node at the end of the turn). */
void fetch_answer_ready(struct node *n);

#endif
