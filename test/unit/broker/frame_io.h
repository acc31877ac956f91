/* frame_io.h: blocking request/response framing for tests that talk to a real runneld. */
#ifndef RUNNEL_TEST_BROKER_FRAME_IO_H
#define RUNNEL_TEST_BROKER_FRAME_IO_H

#include <stddef.h>
#include <stdint.h>

#include "wire/runnel.pb-c.h"

/* Writes req as one frame; aborts if the socket does not take it all. */
void send_request(int fd, Runnel__Request *req);

/* Reads exactly n bytes; 0, or -1 on EOF, error or timeout. */
int read_full(int fd, uint8_t *buf, size_t n);

/* One response frame, owned by the caller (runnel__response__free_unpacked);
 * NULL on EOF, timeout or an undecodable frame. */
Runnel__Response *recv_response(int fd);

#endif
