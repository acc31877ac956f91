/* respq.c: the ordered response ring. */
#include "broker/respq.h"

#include "common/errors.h"
#include "common/rn_assert.h"

#include <string.h>

void respq_init(struct respq *q)
{
	memset(q, 0, sizeof(*q));
}

uint32_t respq_count(const struct respq *q)
{
	RN_ASSERT(q->tail - q->head <= RESPQ_CAPACITY);
	return (uint32_t)(q->tail - q->head);
}

int respq_push(struct respq *q, void *item, uint64_t *seq)
{
	RN_ASSERT(item != NULL);
	if (respq_count(q) >= RESPQ_CAPACITY)
		return RN_E_FULL;
	struct respq_slot *s = &q->slots[q->tail % RESPQ_CAPACITY];
	s->item = item;
	s->done = false;
	*seq = q->tail++;
	return RN_OK;
}

void respq_mark_done(struct respq *q, uint64_t seq)
{
	RN_ASSERT(seq >= q->head && seq < q->tail);
	struct respq_slot *s = &q->slots[seq % RESPQ_CAPACITY];
	RN_ASSERT(!s->done);
	s->done = true;
}

static void *pop_head(struct respq *q)
{
	struct respq_slot *s = &q->slots[q->head % RESPQ_CAPACITY];
	void *item = s->item;
	s->item = NULL;
	s->done = false;
	q->head++;
	return item;
}

void *respq_pop_done(struct respq *q)
{
	if (q->head == q->tail || !q->slots[q->head % RESPQ_CAPACITY].done)
		return NULL;
	return pop_head(q);
}

void *respq_pop_any(struct respq *q)
{
	if (q->head == q->tail)
		return NULL;
	return pop_head(q);
}
