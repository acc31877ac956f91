/* frame_io.c: blocking request/response framing for tests that talk to a real runneld. */
#include "test/unit/broker/frame_io.h"

#include "common/rn_assert.h"
#include "wire/batch.h"
#include "wire/codec.h"

#include <stdlib.h>
#include <unistd.h>

void send_request(int fd, Runnel__Request *req)
{
	size_t n = wire_frame_size(&req->base);
	uint8_t *buf = malloc(n);
	wire_frame_pack(&req->base, buf);
	RN_ASSERT(write(fd, buf, n) == (ssize_t)n);
	free(buf);
}

int read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One response frame; NULL on EOF or timeout. */
Runnel__Response *recv_response(int fd)
{
	uint8_t prefix[4];
	if (read_full(fd, prefix, 4) != 0)
		return NULL;
	uint32_t len = be_get32(prefix);
	uint8_t *body = malloc(len ? len : 1);
	Runnel__Response *resp = NULL;
	if (read_full(fd, body, len) == 0)
		wire_response_decode(body, len, &resp);
	free(body);
	return resp;
}
