/* murmur2.c: Kafka's murmur2 hash. */
#include "common/murmur2.h"

#include "common/rn_assert.h"

static uint32_t read_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

uint32_t rn_murmur2(const void *data, size_t len)
{
	const uint8_t *p = data;
	const uint32_t m = RN_MURMUR2_M;
	/* Kafka mixes the length in as a Java int, so only its low 32 bits count. */
	uint32_t h = RN_MURMUR2_SEED ^ (uint32_t)len;
	size_t blocks = len / 4;
	for (size_t i = 0; i < blocks; i++) {
		uint32_t k = read_le32(p + 4 * i);
		k *= m;
		k ^= k >> RN_MURMUR2_R;
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

int32_t rn_murmur2_partition(const void *data, size_t len, int32_t count)
{
	RN_ASSERT(count >= 1);
	uint32_t h = rn_murmur2(data, len) & 0x7fffffffu;
	return (int32_t)(h % (uint32_t)count);
}
