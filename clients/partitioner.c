/* partitioner.c: murmur2 key hashing and the sticky partitioner. */
#include "clients/partitioner.h"

#include "common/murmur2.h"
#include "common/rn_assert.h"

/* One implementation of Kafka's hash serves the producer and the group
 * coordinator (common/murmur2.c), so a key and a group id map the same way
 * everywhere. */
uint32_t partitioner_murmur2(const void *data, size_t len)
{
	return rn_murmur2(data, len);
}

int32_t partitioner_key_partition(const void *key, size_t key_len, int32_t partition_count)
{
	RN_ASSERT(partition_count >= 1);
	return rn_murmur2_partition(key, key_len, partition_count);
}

static uint32_t rng_next(uint32_t *state)
{
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

void partitioner_sticky_init(struct partitioner_sticky *s, uint32_t seed)
{
	s->current = -1;
	s->rng = seed ? seed : 0x2545f491u;
}

int32_t partitioner_sticky_partition(struct partitioner_sticky *s, int32_t partition_count)
{
	RN_ASSERT(partition_count >= 1);
	/* The partition count can grow (or the first call comes) after the
	 * current choice was made; choose again when it no longer fits. */
	if (s->current < 0 || s->current >= partition_count)
		s->current = (int32_t)(rng_next(&s->rng) % (uint32_t)partition_count);
	return s->current;
}

void partitioner_sticky_batch_closed(struct partitioner_sticky *s, int32_t partition,
				     int32_t partition_count)
{
	if (partition != s->current || partition_count <= 1)
		return;
	/* A random step of 1..count-1 always lands on a different partition,
	 * and over many batches every partition gets its share. */
	uint32_t step = 1 + rng_next(&s->rng) % (uint32_t)(partition_count - 1);
	s->current = (int32_t)(((uint32_t)s->current + step) % (uint32_t)partition_count);
}
