/* test_partitioner.c: murmur2 against Kafka's values, key partitioning and the sticky partitioner. */
#include <string.h>

#include "clients/partitioner.h"
#include "test/unit/harness.h"

struct murmur_case {
	const char *key;
	size_t len;
	int32_t expected;
};

/* The first seven are the results of Java Kafka's Utils.murmur2; the rest
 * come from murmur2_ref.py, an independent implementation, which also
 * reproduces the first seven. */
static const struct murmur_case cases[] = {
	{"21", 2, -973932308},
	{"foobar", 6, -790332482},
	{"a-little-bit-long-string", 24, -985981536},
	{"a-little-bit-longer-string", 26, -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 48, -58897971},
	{"abc", 3, 479470107},
	{"", 0, 275646681},
	{"key-0", 5, 29210041},
	{"key-1", 5, 193331640},
	{"user42", 6, -154169308},
	{"\xff\x00\x80", 3, -970489390},
	{"abcd", 4, -1323649548},
	{"abcde", 5, 461995741},
};

TEST(murmur2_matches_kafka)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int32_t got = (int32_t)partitioner_murmur2(cases[i].key, cases[i].len);
		if (got != cases[i].expected)
			fprintf(stderr, "  key #%zu \"%s\"\n", i, cases[i].key);
		CHECK_EQ_INT(got, cases[i].expected);
	}
}

TEST(key_partition_is_positive_hash_modulo)
{
	/* Values from murmur2_ref.py: (h & 0x7fffffff) % 7. */
	CHECK_EQ_INT(partitioner_key_partition("key-0", 5, 7), 0);
	CHECK_EQ_INT(partitioner_key_partition("key-1", 5, 7), 5);
	CHECK_EQ_INT(partitioner_key_partition("user42", 6, 7), 3);
	CHECK_EQ_INT(partitioner_key_partition("\xff\x00\x80", 3, 7), 6);
	/* A negative hash must not give a negative partition. */
	CHECK_EQ_INT(partitioner_key_partition("21", 2, 10),
		     (int32_t)(((uint32_t)-973932308 & 0x7fffffffu) % 10u));
	CHECK_EQ_INT(partitioner_key_partition("anything", 8, 1), 0);
}

TEST(same_key_same_partition)
{
	int32_t first = partitioner_key_partition("order-17", 8, 12);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(partitioner_key_partition("order-17", 8, 12), first);
}

TEST(sticky_stays_until_batch_closes)
{
	struct partitioner_sticky s;
	partitioner_sticky_init(&s, 12345);
	int32_t p = partitioner_sticky_partition(&s, 6);
	CHECK(p >= 0 && p < 6);
	for (int i = 0; i < 50; i++)
		CHECK_EQ_INT(partitioner_sticky_partition(&s, 6), p);
	/* Closing another partition's batch does not move the choice. */
	partitioner_sticky_batch_closed(&s, (p + 1) % 6, 6);
	CHECK_EQ_INT(partitioner_sticky_partition(&s, 6), p);
	partitioner_sticky_batch_closed(&s, p, 6);
	CHECK(partitioner_sticky_partition(&s, 6) != p);
}

TEST(sticky_spreads_over_batches)
{
	enum { PARTITIONS = 8, BATCHES = 8000 };
	int counts[PARTITIONS] = {0};
	struct partitioner_sticky s;
	partitioner_sticky_init(&s, 99);
	for (int b = 0; b < BATCHES; b++) {
		int32_t p = partitioner_sticky_partition(&s, PARTITIONS);
		CHECK(p >= 0 && p < PARTITIONS);
		counts[p]++;
		partitioner_sticky_batch_closed(&s, p, PARTITIONS);
	}
	/* Every partition gets a fair share: within 25% of the mean. */
	for (int p = 0; p < PARTITIONS; p++) {
		CHECK(counts[p] > BATCHES / PARTITIONS * 3 / 4);
		CHECK(counts[p] < BATCHES / PARTITIONS * 5 / 4);
	}
}

TEST(sticky_single_partition)
{
	struct partitioner_sticky s;
	partitioner_sticky_init(&s, 0);
	CHECK_EQ_INT(partitioner_sticky_partition(&s, 1), 0);
	partitioner_sticky_batch_closed(&s, 0, 1);
	CHECK_EQ_INT(partitioner_sticky_partition(&s, 1), 0);
	/* The count shrinking under the current choice picks again. */
	partitioner_sticky_init(&s, 7);
	int32_t p = partitioner_sticky_partition(&s, 100);
	CHECK(p < 100);
	CHECK(partitioner_sticky_partition(&s, 1) == 0);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
