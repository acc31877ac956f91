/* test_frame.c: length-prefixed frames. */
#include "common/errors.h"
#include "common/limits.h"
#include "test/unit/harness.h"
#include "wire/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* ------------------------------------------------------------ frame_buf */

/* A connected pair of stream sockets; the reading end is non-blocking. */
static bool socket_pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		return false;
	return fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0;
}

/* Writes all of buf (the socket buffer holds it: tests send little at once). */
static bool write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Frame i: len bytes, each (i + position) & 0xff, after its prefix. */
static size_t make_frame(uint8_t *out, uint32_t i, uint32_t len)
{
	frame_put_prefix(out, len);
	for (uint32_t k = 0; k < len; k++)
		out[FRAME_PREFIX_BYTES + k] = (uint8_t)(i + k);
	return FRAME_PREFIX_BYTES + len;
}

static bool frame_is(const uint8_t *body, uint32_t len, uint32_t i, uint32_t want_len)
{
	if (len != want_len)
		return false;
	for (uint32_t k = 0; k < len; k++)
		if (body[k] != (uint8_t)(i + k))
			return false;
	return true;
}

/* Takes frames and reads until the socket holds nothing more; checks each
 * frame against make_frame(i, sizes[i]).  Returns the frames seen in all
 * (UINT32_MAX on a wrong frame or an error). */
static uint32_t drain_frames(struct frame_buf *b, int fd, const uint32_t *sizes, uint32_t count,
			     uint32_t first)
{
	uint32_t i = first;
	for (;;) {
		uint8_t *body;
		uint32_t len;
		int rc;
		while ((rc = frame_buf_next(b, &body, &len)) == 0) {
			if (i >= count || !frame_is(body, len, i, sizes[i]))
				return UINT32_MAX;
			/* A frame is the caller's to change until the next read. */
			memset(body, 0xee, len);
			i++;
		}
		if (rc != RN_E_AGAIN)
			return UINT32_MAX;
		size_t got;
		rc = frame_buf_read(b, fd, &got);
		if (rc == RN_E_AGAIN)
			return i;
		if (rc != 0 || got == 0)
			return UINT32_MAX;
	}
}

TEST(frame_buf_small_frames_in_pieces)
{
	int fds[2];
	CHECK(socket_pair(fds));
	struct frame_buf b;
	frame_buf_init(&b, 128, RN_MAX_FRAME_BYTES);
	size_t got = 99;
	CHECK_EQ_INT(frame_buf_read(&b, fds[0], &got), RN_E_AGAIN);
	CHECK_EQ_INT(got, 0);
	CHECK(!frame_buf_pending(&b));
	/* Frames of 1 to 40 bytes written a few bytes at a time, so that they
	 * straddle reads and the end of the 128-byte buffer. */
	enum { N = 40 };
	uint32_t sizes[N];
	static uint8_t stream[N * 64];
	size_t total = 0;
	for (uint32_t i = 0; i < N; i++) {
		sizes[i] = 1 + i;
		total += make_frame(stream + total, i, sizes[i]);
	}
	uint32_t seen = 0;
	for (size_t off = 0; off < total; off += 7) {
		size_t n = total - off < 7 ? total - off : 7;
		CHECK(write_all(fds[1], stream + off, n));
		seen = drain_frames(&b, fds[0], sizes, N, seen);
		CHECK(seen != UINT32_MAX);
	}
	CHECK_EQ_INT(seen, N);
	CHECK(!frame_buf_pending(&b));
	CHECK_EQ_INT(b.cap, 128);
	close(fds[1]);
	CHECK_OK(frame_buf_read(&b, fds[0], &got));
	CHECK_EQ_INT(got, 0); /* the peer closed */
	frame_buf_free(&b);
	close(fds[0]);
}

TEST(frame_buf_grows_for_a_large_frame_and_shrinks_after)
{
	int fds[2];
	CHECK(socket_pair(fds));
	struct frame_buf b;
	frame_buf_init(&b, 256, RN_MAX_FRAME_BYTES);
	uint32_t sizes[] = {10, 3000, 20, 5};
	static uint8_t stream[4096];
	size_t total = 0;
	for (uint32_t i = 0; i < 4; i++)
		total += make_frame(stream + total, i, sizes[i]);
	/* The small frame, then the large one in two parts. */
	CHECK(write_all(fds[1], stream, 14 + 100));
	CHECK_EQ_INT(drain_frames(&b, fds[0], sizes, 1, 0), 1);
	uint8_t *body;
	uint32_t len;
	size_t got;
	CHECK_EQ_INT(frame_buf_read(&b, fds[0], &got), RN_E_AGAIN);
	CHECK_EQ_INT(frame_buf_next(&b, &body, &len), RN_E_AGAIN);
	CHECK(frame_buf_pending(&b));
	CHECK(write_all(fds[1], stream + 114, 14 + 3004 - 114));
	CHECK_EQ_INT(drain_frames(&b, fds[0], sizes, 2, 1), 2);
	/* Twice the large frame, so the next one fits after it. */
	CHECK_EQ_INT(b.cap, 2 * 3004);
	CHECK(write_all(fds[1], stream + 14 + 3004, total - 14 - 3004));
	CHECK_EQ_INT(drain_frames(&b, fds[0], sizes, 4, 2), 4);
	/* The large frames stopped: the next read is into the usual size. */
	uint8_t one[4 + 1];
	make_frame(one, 9, 1);
	CHECK(write_all(fds[1], one, sizeof(one)));
	CHECK_OK(frame_buf_read(&b, fds[0], &got));
	CHECK_EQ_INT(b.cap, 256);
	CHECK_OK(frame_buf_next(&b, &body, &len));
	CHECK(frame_is(body, len, 9, 1));
	frame_buf_free(&b);
	close(fds[0]);
	close(fds[1]);
}

TEST(frame_buf_follows_the_stream)
{
	int fds[2];
	CHECK(socket_pair(fds));
	struct frame_buf b;
	frame_buf_init(&b, 1024 * 1024, RN_MAX_FRAME_BYTES);
	enum { N = 500 };
	uint32_t sizes[N];
	static uint8_t stream[N * 110];
	size_t total = 0;
	for (uint32_t i = 0; i < N; i++) {
		sizes[i] = 1 + (i * 37) % 100;
		total += make_frame(stream + total, i, sizes[i]);
	}
	CHECK(total > FRAME_BUF_SMALL_BYTES);
	CHECK(write_all(fds[1], stream, total));
	/* A new buffer is small; the read that fills it makes the next one
	 * large, which takes the rest at once. */
	size_t got;
	CHECK_OK(frame_buf_read(&b, fds[0], &got));
	CHECK_EQ_INT(got, FRAME_BUF_SMALL_BYTES);
	uint8_t *body;
	uint32_t len;
	uint32_t i = 0;
	while (frame_buf_next(&b, &body, &len) == 0) {
		CHECK(frame_is(body, len, i, sizes[i]));
		i++;
	}
	CHECK_OK(frame_buf_read(&b, fds[0], &got));
	CHECK_EQ_INT(got, total - FRAME_BUF_SMALL_BYTES);
	CHECK_EQ_INT(b.cap, 1024 * 1024);
	while (frame_buf_next(&b, &body, &len) == 0) {
		CHECK(frame_is(body, len, i, sizes[i]));
		i++;
	}
	CHECK_EQ_INT(i, N);
	/* A quiet stream: small frames one at a time.  The buffer shrinks back. */
	for (uint32_t q = 0; q <= FRAME_BUF_QUIET_READS; q++) {
		uint8_t one[4 + 3];
		make_frame(one, q, 3);
		CHECK(write_all(fds[1], one, sizeof(one)));
		CHECK_OK(frame_buf_read(&b, fds[0], &got));
		CHECK_OK(frame_buf_next(&b, &body, &len));
		CHECK(frame_is(body, len, q, 3));
	}
	CHECK_EQ_INT(b.cap, FRAME_BUF_SMALL_BYTES);
	frame_buf_free(&b);
	close(fds[0]);
	close(fds[1]);
}

TEST(frame_buf_refuses_bad_prefixes)
{
	int fds[2];
	CHECK(socket_pair(fds));
	struct frame_buf b;
	frame_buf_init(&b, 64, 1000);
	uint8_t bad[8];
	frame_put_prefix(bad, 1001);
	frame_put_prefix(bad + 4, 0);
	CHECK(write_all(fds[1], bad, 4));
	size_t got;
	CHECK_OK(frame_buf_read(&b, fds[0], &got));
	uint8_t *body;
	uint32_t len = 0;
	CHECK_EQ_INT(frame_buf_next(&b, &body, &len), RN_E_FRAME_TOO_LARGE);
	CHECK_EQ_INT(len, 1001);
	/* The refused frame stays: the stream cannot go on past it. */
	CHECK_EQ_INT(frame_buf_next(&b, &body, &len), RN_E_FRAME_TOO_LARGE);
	frame_buf_free(&b);

	frame_buf_init(&b, 64, 1000);
	CHECK(write_all(fds[1], bad + 4, 4));
	CHECK_OK(frame_buf_read(&b, fds[0], &got));
	CHECK_EQ_INT(frame_buf_next(&b, &body, &len), RN_E_MALFORMED_FRAME);
	frame_buf_free(&b);
	close(fds[0]);
	close(fds[1]);
	/* A closed descriptor is an I/O error. */
	frame_buf_init(&b, 64, 1000);
	CHECK_EQ_INT(frame_buf_read(&b, fds[0], &got), RN_E_IO);
	CHECK_EQ_INT(errno, EBADF);
	frame_buf_free(&b);
}

int main(int argc, char **argv)
{
	return harness_run(argc, argv);
}
