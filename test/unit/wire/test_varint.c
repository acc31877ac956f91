/* test_varint.c: zig-zag varints and CRC32C. */
#include <limits.h>

#include "test/unit/harness.h"
#include "wire/batch.h"
#include "wire/varint.h"

static int varint_round_trips(int32_t v)
{
	uint8_t buf[VARINT_MAX_BYTES];
	size_t n = varint_put(buf, v);
	int32_t out = 0;
	return n == varint_size(v) && n <= VARINT_MAX_BYTES && varint_get(buf, n, &out) == n &&
	       out == v;
}

static int varlong_round_trips(int64_t v)
{
	uint8_t buf[VARLONG_MAX_BYTES];
	size_t n = varlong_put(buf, v);
	int64_t out = 0;
	return n == varlong_size(v) && n <= VARLONG_MAX_BYTES && varlong_get(buf, n, &out) == n &&
	       out == v;
}

TEST(varint_known_encodings)
{
	uint8_t buf[VARLONG_MAX_BYTES];
	/* Zig-zag: 0 -> 0, -1 -> 1, 1 -> 2, 63 -> 126, -64 -> 127, 64 -> 128. */
	CHECK_EQ_INT(varint_put(buf, 0), 1);
	CHECK_EQ_INT(buf[0], 0x00);
	CHECK_EQ_INT(varint_put(buf, -1), 1);
	CHECK_EQ_INT(buf[0], 0x01);
	CHECK_EQ_INT(varint_put(buf, 1), 1);
	CHECK_EQ_INT(buf[0], 0x02);
	CHECK_EQ_INT(varint_put(buf, -64), 1);
	CHECK_EQ_INT(buf[0], 0x7f);
	CHECK_EQ_INT(varint_put(buf, 64), 2);
	CHECK_EQ_INT(buf[0], 0x80);
	CHECK_EQ_INT(buf[1], 0x01);
	CHECK_EQ_INT(varint_put(buf, INT32_MIN), 5);
	CHECK_EQ_INT(buf[4], 0x0f);
	CHECK_EQ_INT(varlong_put(buf, INT64_MIN), 10);
	CHECK_EQ_INT(buf[9], 0x01);
}

TEST(varint_round_trip_edges)
{
	const int32_t v32[] = { 0, 1, -1, 63, -64, 64, -65, 8191, 8192, -8193, 1 << 20,
				INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1 };
	for (size_t i = 0; i < sizeof(v32) / sizeof(v32[0]); i++)
		CHECK(varint_round_trips(v32[i]));
	const int64_t v64[] = { 0, 1, -1, INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
				(int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN, INT64_MAX - 1,
				INT64_MIN + 1, 1700000000000LL };
	for (size_t i = 0; i < sizeof(v64) / sizeof(v64[0]); i++)
		CHECK(varlong_round_trips(v64[i]));
	CHECK_EQ_INT(varint_size(INT32_MAX), 5);
	CHECK_EQ_INT(varlong_size(INT64_MAX), 10);
}

TEST(varint_round_trip_sweep)
{
	/* Every power of two and its neighbours, both signs. */
	for (int s = 0; s < 63; s++) {
		int64_t p = (int64_t)1 << s;
		for (int64_t d = -1; d <= 1; d++) {
			CHECK(varlong_round_trips(p + d));
			CHECK(varlong_round_trips(-(p + d)));
			if (s < 31) {
				CHECK(varint_round_trips((int32_t)(p + d)));
				CHECK(varint_round_trips((int32_t)-(p + d)));
			}
		}
	}
}

TEST(varint_truncated_input)
{
	uint8_t buf[VARLONG_MAX_BYTES];
	int32_t v32;
	int64_t v64;
	size_t n = varint_put(buf, INT32_MIN);
	for (size_t avail = 0; avail < n; avail++)
		CHECK_EQ_INT(varint_get(buf, avail, &v32), 0);
	n = varlong_put(buf, INT64_MAX);
	for (size_t avail = 0; avail < n; avail++)
		CHECK_EQ_INT(varlong_get(buf, avail, &v64), 0);
}

TEST(varint_over_long_input)
{
	/* Six continuation bytes are longer than any int32 encoding. */
	const uint8_t six[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	int32_t v32;
	CHECK_EQ_INT(varint_get(six, sizeof(six), &v32), 0);
	/* Five bytes whose last one carries bits beyond 32. */
	const uint8_t big[] = { 0xff, 0xff, 0xff, 0xff, 0x1f };
	CHECK_EQ_INT(varint_get(big, sizeof(big), &v32), 0);
	const uint8_t max[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	CHECK_EQ_INT(varint_get(max, sizeof(max), &v32), 5);
	CHECK_EQ_INT(v32, INT32_MIN);

	uint8_t eleven[11];
	memset(eleven, 0x80, sizeof(eleven));
	eleven[10] = 0;
	int64_t v64;
	CHECK_EQ_INT(varlong_get(eleven, sizeof(eleven), &v64), 0);
	const uint8_t big64[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03 };
	CHECK_EQ_INT(varlong_get(big64, sizeof(big64), &v64), 0);
}

TEST(varint_reads_only_what_it_needs)
{
	/* Trailing bytes after a complete varint are not consumed. */
	const uint8_t buf[] = { 0x02, 0xff, 0xff };
	int32_t v;
	CHECK_EQ_INT(varint_get(buf, sizeof(buf), &v), 1);
	CHECK_EQ_INT(v, 1);
}

TEST(crc32c_known_vectors)
{
	CHECK_EQ_INT(crc32c("123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(crc32c("", 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeros and 32 bytes of 0xff. */
	uint8_t buf[32];
	memset(buf, 0, sizeof(buf));
	CHECK_EQ_INT(crc32c(buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ_INT(crc32c(buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CHECK_EQ_INT(crc32c(buf, sizeof(buf)), 0x46DD794Eu);
}

TEST(crc32c_extend_equals_one_shot)
{
	uint8_t buf[4096];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131u + 7u);
	uint32_t whole = crc32c(buf, sizeof(buf));
	const size_t cuts[] = { 0, 1, 3, 8, 63, 64, 1000, 4095, 4096 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t c = cuts[i];
		uint32_t part = crc32c_extend(crc32c(buf, c), buf + c, sizeof(buf) - c);
		CHECK_EQ_INT(part, whole);
	}
	CHECK_EQ_INT(crc32c_extend(crc32c("1234", 4), "56789", 5), 0xE3069283u);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
