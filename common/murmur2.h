/* murmur2.h: Kafka's murmur2 hash, shared by the producer's partitioner and the group coordinator. */
#ifndef RUNNEL_COMMON_MURMUR2_H
#define RUNNEL_COMMON_MURMUR2_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's murmur2 seed and constants, kept so that a key (or a group id)
 * lands on the same partition number as with Java Kafka. */
#define RN_MURMUR2_SEED 0x9747b28cu
#define RN_MURMUR2_M 0x5bd1e995u
#define RN_MURMUR2_R 24

/* Returns the 32-bit murmur2 hash of data[0..len), as Kafka's Utils.murmur2
 * computes it (cast to int32_t to compare with Java).  data may be NULL when
 * len is 0. */
uint32_t rn_murmur2(const void *data, size_t len);

/* Returns (murmur2(data) & 0x7fffffff) % count, Kafka's mapping of a key to
 * a partition and of a group id to its offsets-topic partition.  count must
 * be at least 1. */
int32_t rn_murmur2_partition(const void *data, size_t len, int32_t count);

#endif
