/* respq.h: a connection's ordered queue of response slots (pipelining). */
#ifndef RUNNEL_BROKER_RESPQ_H
#define RUNNEL_BROKER_RESPQ_H

/*
 * Every request a connection reads takes a slot at the tail.  Slots complete
 * in any order (a produce waiting for fsync, a long-polling fetch, a
 * CreateTopics waiting for the metadata commit), but responses leave in
 * request order: only completed slots at the head are popped.  The queue is
 * a fixed ring of RN_MAX_INFLIGHT_PER_CONN slots, so a connection can never
 * hold more pending requests than that.  The queue holds opaque items and
 * never frees them.
 */

#include "common/limits.h"

#include <stdbool.h>
#include <stdint.h>

#define RESPQ_CAPACITY RN_MAX_INFLIGHT_PER_CONN

struct respq_slot {
	void *item;
	bool done;
};

struct respq {
	struct respq_slot slots[RESPQ_CAPACITY];
	uint64_t head; /* sequence number of the oldest slot */
	uint64_t tail; /* sequence number the next slot gets */
};

void respq_init(struct respq *q);

/* Takes a slot at the tail for item (not NULL).  Returns 0 with *seq, or
 * RN_E_FULL when RESPQ_CAPACITY slots are pending. */
int respq_push(struct respq *q, void *item, uint64_t *seq);

/* Marks the slot seq (pending, not yet popped) complete. */
void respq_mark_done(struct respq *q, uint64_t seq);

/* Pops the head slot if it is complete and returns its item; NULL when the
 * queue is empty or the head is still pending. */
void *respq_pop_done(struct respq *q);

/* Pops the head slot whether or not it is complete (closing a connection). */
void *respq_pop_any(struct respq *q);

/* Slots pushed and not yet popped. */
uint32_t respq_count(const struct respq *q);

#endif
