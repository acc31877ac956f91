/* partitioner.h: how the producer picks a partition: Kafka's murmur2 for keys, sticky for keyless records. */
#ifndef RUNNEL_CLIENTS_PARTITIONER_H
#define RUNNEL_CLIENTS_PARTITIONER_H

#include <stddef.h>
#include <stdint.h>

/* Returns the 32-bit murmur2 hash of data[0..len), as Kafka's
 * Utils.murmur2 computes it (cast to int32_t to compare with Java): the
 * shared rn_murmur2 of common/murmur2.h. */
uint32_t partitioner_murmur2(const void *data, size_t len);

/* Returns (murmur2(key) & 0x7fffffff) % partition_count.
 * partition_count must be at least 1. */
int32_t partitioner_key_partition(const void *key, size_t key_len, int32_t partition_count);

/*
 * The sticky choice for keyless records: every keyless record of a topic goes
 * to the same partition until that partition's batch is closed (full or
 * lingered), then the next batch goes to the next partition.  Filling one
 * batch at a time gives larger batches than spreading single records.
 */
struct partitioner_sticky {
	int32_t current; /* -1: not chosen yet */
	uint32_t rng;    /* xorshift state; never 0 */
};

/* seed picks the first partition (pass any varying value, e.g. the clock). */
void partitioner_sticky_init(struct partitioner_sticky *s, uint32_t seed);

/* Returns the partition for the next keyless record (0..partition_count-1). */
int32_t partitioner_sticky_partition(struct partitioner_sticky *s, int32_t partition_count);

/* Tells the sticky partitioner that partition's open batch was closed; if it
 * was the sticky one, the next keyless record moves to another partition. */
void partitioner_sticky_batch_closed(struct partitioner_sticky *s, int32_t partition,
				     int32_t partition_count);

#endif
