/* partitioner.c: murmur2 key hashing and the sticky partitioner. */
#include "clients/partitioner.h"

#include "common/rn_assert.h"

static uint32_t read_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint32_t partitioner_murmur2(const void *data, size_t len)
{
	const uint8_t *p = data;
	const uint32_t m = PARTITIONER_MURMUR2_M;
	/* Kafka mixes the length in as a Java int, so only its low 32 bits count. */
	uint32_t h = PARTITIONER_MURMUR2_SEED ^ (uint32_t)len;
	size_t blocks = len / 4;

	for (size_t i = 0; i < blocks; i++) {
		uint32_t k = read_le32(p + 4 * i);
		k *= m;
		k ^= k >> PARTITIONER_MURMUR2_R;
		k *= m;
		h *= m;
		h ^= k;
	}
	/* The tail bytes are folded in from the highest to the lowest, each
	 * case falling through to the next, exactly as Kafka does. */
	const uint8_t *tail = p + 4 * blocks;
	switch (len % 4) {
	case 3:
		h ^= (uint32_t)tail[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)tail[1] << 8;
		/* fall through */
	case 1:
		h ^= (uint32_t)tail[0];
		h *= m;
		break;
	default:
		break;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

int32_t partitioner_key_partition(const void *key, size_t key_len, int32_t partition_count)
{
	RN_ASSERT(partition_count >= 1);
	uint32_t h = partitioner_murmur2(key, key_len) & 0x7fffffffu;
	return (int32_t)(h % (uint32_t)partition_count);
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
