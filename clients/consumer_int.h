/* consumer_int.h: the consumer's internals, shared by consumer.c and its group membership (consumer_group.c). */
#ifndef RUNNEL_CLIENTS_CONSUMER_INT_H
#define RUNNEL_CLIENTS_CONSUMER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "clients/client.h"
#include "clients/fetchbuf.h"
#include "clients/runnel.h"

/* One partition the consumer knows.  Entries are never removed while the
 * consumer lives (in-flight requests refer to them by index); a partition
 * a rebalance took away is only made inactive. */
struct cpart {
	char *topic; /* owned */
	int32_t partition;
	int64_t position;
	int64_t high_watermark; /* -1: not known */
	int need_resolve;       /* pending must be turned into an offset */
	struct runnel_position pending;
	int fetching;
	/* The fetch in flight was sent ahead, for the records after those
	 * still buffered; after one such fetch failed, none is sent ahead
	 * again until the buffer is read. */
	int fetch_ahead;
	int ahead_failed;
	int resolving; /* a ListOffsets for pending is in flight */
	uint32_t gen; /* bumped by seeks: answers to older fetches are dropped */
	int64_t retry_at_ms;
	int32_t max_bytes;
	struct fetchbuf fb;
	/* The node of the last fetch sent, and whether it was an in-sync
	 * replica other than the leader (chosen for client_rack). */
	int32_t fetch_node;
	int fetch_from_replica;
	/* A replica that refused or failed: not chosen again before
	 * avoid_until_ms. */
	int32_t avoid_node;
	int64_t avoid_until_ms;
	/* 0 while the partition is not read: not assigned by the group, or
	 * waiting for its committed offset (awaiting_offset). */
	int active;
	int awaiting_offset;
	/* The position last committed for the group (-1: none), so that an
	 * auto commit skips partitions that did not move. */
	int64_t committed;
};

struct cgroup;

struct runnel_consumer {
	struct runnel_consumer_config cfg;
	struct client client;
	char *rack; /* owned copy of client_rack, NULL for none */
	struct cpart *parts;
	size_t part_count;
	size_t rr; /* where the next drain starts, for fairness */
	struct runnel_header *hdrs;
	size_t hdr_cap;
	/* Where the partitions' compressed batches are decompressed; reset at
	 * the start of each poll, when the records of the last one lapse. */
	struct fetch_arena arena;
	int fatal; /* an error to report from the next poll */
	int need_metadata;
	int64_t next_metadata_ms;
	/* Group membership; NULL without a group_id. */
	struct cgroup *group;
	int closed;
};

/* The partition's entry, or NULL. */
struct cpart *consumer_find_part(const struct runnel_consumer *c, const char *topic,
				 int32_t partition);

/* Adds topic/partition (active) unless it is known.  Returns 0 or
 * RN_E_NOMEM; *out (may be NULL) points to the entry until the next add. */
int consumer_add_part(struct runnel_consumer *c, const char *topic, int32_t partition,
		      struct cpart **out);

/* Moves p to pos, dropping buffered records and in-flight answers. */
void consumer_seek_part(struct cpart *p, struct runnel_position pos);

/* Where a partition without a usable offset starts (auto_offset_reset). */
struct runnel_position consumer_reset_position(const struct runnel_consumer *c);

/* Stops reading p: buffered records and in-flight answers are dropped. */
void consumer_deactivate_part(struct cpart *p);

/* ---- consumer_group.c ---- */

/* Creates the group state for c (c->cfg.group_id set).  Returns 0,
 * RN_E_INVAL (bad group id or assignment strategy) or RN_E_NOMEM. */
int cgroup_new(struct runnel_consumer *c, struct cgroup **out);
void cgroup_free(struct cgroup *g);

/* True once runnel_consumer_subscribe was called. */
int cgroup_subscribed(const struct cgroup *g);

/* True while the consumer holds an assignment of the current generation. */
int cgroup_stable(const struct cgroup *g);

/*
 * Drives the membership from runnel_consumer_poll: finds the coordinator,
 * (re)joins and syncs (blocking, as Kafka's poll does during a
 * rebalance), fetches committed offsets of new partitions, and sends
 * heartbeats and auto commits without waiting.  Returns 0, or an error
 * that poll must report (a fatal answer of the coordinator).
 */
int cgroup_step(struct runnel_consumer *c);

#endif
