/* coord_internal.h: the coordinator shell's state, shared by coord.c, coord_append.c and coord_topic.c. */
#ifndef RUNNEL_BROKER_COORD_INTERNAL_H
#define RUNNEL_BROKER_COORD_INTERNAL_H

#include "broker/coord.h"
#include "broker/partition.h"
#include "broker/replica.h"
#include "controller/metadata.h"

#include <stdbool.h>
#include <stdint.h>

struct event;
struct peer;

enum coord_part_state {
	COORD_PART_UNLOADED = 0, /* this node does not lead the partition */
	COORD_PART_LOADING,      /* replaying the log into gc */
	COORD_PART_LOADED,       /* gc serves the partition's groups */
};

/* One partition of the offsets topic, as this node coordinates it. */
struct coord_part {
	int32_t index;
	enum coord_part_state state;
	int32_t leader_epoch; /* the epoch it was loaded in */
	uint64_t load_gen;    /* changes at every load: older appends are ignored */
	struct group_coordinator *gc;
	int64_t load_next; /* next offset to replay */
	int64_t load_end;  /* the log end when loading started */
	int64_t load_started_ms;
	uint64_t loaded_records;
	uint64_t skipped_records;
};

/* One append of coordinator records waiting for the high watermark. */
struct coord_append {
	struct pwait w; /* first: the wake callback casts the pwait back */
	struct coord *c;
	struct coord_append *prev;
	struct coord_append *next;
	int32_t partition;
	uint64_t load_gen;
	uint64_t append_id;
	struct replica_ack_wait ack;
	int64_t deadline_ms; /* monotonic */
	bool done;
	int err;
	void (*done_cb)(void *arg, int err);
	void *arg;
};

struct coord {
	struct node *node;
	struct group_config gcfg;
	struct event *tick_ev;
	struct event *work_ev; /* end-of-turn work: completed appends, loading steps */
	bool work_pending;
	bool reconcile_due;
	/* The offsets topic as last seen in the image. */
	bool have_topic;
	uint8_t topic_id[META_TOPIC_ID_LEN];
	struct coord_part *parts;
	uint32_t part_count;
	/* Appends still waiting, and those completed but not yet reported. */
	struct coord_append *waiting;
	struct coord_append *done_head;
	struct coord_append *done_tail;
	struct coord_wait *waits;
	/* Creation of the offsets topic. */
	bool create_in_flight;
	struct peer *create_peer;
	int64_t create_next_ms; /* monotonic: no attempt before then */
};

/* coord.c: runs the end-of-turn work soon. */
void coord_schedule_work(struct coord *c);

/* coord_append.c */
void coord_append_records(struct coord *c, struct coord_part *cp, struct group_out *out,
			  void (*done_cb)(void *arg, int err), void *arg);
/* Reports completed appends to their coordinators. */
void coord_appends_report(struct coord *c);
/* Fails appends past their deadline. */
void coord_appends_expire(struct coord *c, int64_t mono_ms);
/* Drops every append (shutdown): callbacks run with RN_E_SHUTTING_DOWN. */
void coord_appends_drop_all(struct coord *c);

/* coord_topic.c */
void coord_topic_ensure(struct coord *c);
void coord_topic_cancel(struct coord *c);

#endif
