/* test_frame.c: length-prefixed frames. */
#include "common/errors.h"
#include "common/limits.h"
#include "test/unit/harness.h"
#include "wire/frame.h"

TEST(frame_short_prefix_needs_more)
{
	uint8_t buf[8] = { 0 };
	uint32_t n = 12345;
	CHECK_EQ_INT(frame_check(buf, 0, RN_MAX_FRAME_BYTES, &n), RN_E_AGAIN);
	CHECK_EQ_INT(frame_check(buf, 3, RN_MAX_FRAME_BYTES, &n), RN_E_AGAIN);
	CHECK_EQ_INT(n, 12345); /* no prefix yet: untouched */
}

TEST(frame_zero_length_is_malformed)
{
	uint8_t buf[4];
	uint32_t n;
	frame_put_prefix(buf, 0);
	CHECK_EQ_INT(frame_check(buf, 4, RN_MAX_FRAME_BYTES, &n), RN_E_MALFORMED_FRAME);
}

TEST(frame_too_large)
{
	uint8_t buf[4];
	uint32_t n;
	frame_put_prefix(buf, RN_MAX_FRAME_BYTES + 1);
	CHECK_EQ_INT(frame_check(buf, 4, RN_MAX_FRAME_BYTES, &n), RN_E_FRAME_TOO_LARGE);
	CHECK_EQ_INT(n, RN_MAX_FRAME_BYTES + 1);
	frame_put_prefix(buf, 0xffffffffu);
	CHECK_EQ_INT(frame_check(buf, 4, RN_MAX_FRAME_BYTES, &n), RN_E_FRAME_TOO_LARGE);
	/* Exactly the limit is allowed (it then waits for the bytes). */
	frame_put_prefix(buf, 100);
	CHECK_EQ_INT(frame_check(buf, 4, 100, &n), RN_E_AGAIN);
	CHECK_EQ_INT(frame_check(buf, 4, 99, &n), RN_E_FRAME_TOO_LARGE);
}

TEST(frame_partial_then_complete)
{
	uint8_t buf[4 + 300];
	uint32_t n = 0;
	frame_put_prefix(buf, 300);
	CHECK_EQ_INT(buf[0], 0);
	CHECK_EQ_INT(buf[2], 1);
	CHECK_EQ_INT(buf[3], 44);
	CHECK_EQ_INT(frame_check(buf, 4, RN_MAX_FRAME_BYTES, &n), RN_E_AGAIN);
	CHECK_EQ_INT(n, 300);
	CHECK_EQ_INT(frame_check(buf, 303, RN_MAX_FRAME_BYTES, &n), RN_E_AGAIN);
	CHECK_OK(frame_check(buf, 304, RN_MAX_FRAME_BYTES, &n));
	CHECK_EQ_INT(n, 300);
	/* Bytes of the next frame after this one do not matter. */
	CHECK_OK(frame_check(buf, sizeof(buf), RN_MAX_FRAME_BYTES, &n));
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
