/* file_io.h: writing small files whole and durably (checkpoints, snapshots). */
#ifndef RUNNEL_STORAGE_FILE_IO_H
#define RUNNEL_STORAGE_FILE_IO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all len bytes of buf to fd, retrying short writes and EINTR.
 * Returns 0 or RN_E_IO (errno says why). */
int file_write_all(int fd, const void *buf, size_t len);

/*
 * Creates (or truncates) name, relative to dir_fd (AT_FDCWD for a path),
 * writes buf into it and fsyncs it, so that a later rename publishes a whole
 * file.  The caller renames it into place (and fsyncs the directory when the
 * new name must survive a crash).  Returns 0 or RN_E_IO with errno set; the
 * file is left for the caller to remove on failure.
 */
int file_write_synced(int dir_fd, const char *name, const void *buf, size_t len);

/*
 * Reads the whole file name (relative to dir_fd, AT_FDCWD for a path) into
 * a new buffer with a NUL byte after its len bytes.  Returns 0 with *out
 * (the caller frees it) and *len, RN_E_NOT_FOUND (no such file),
 * RN_E_CORRUPT_STATE (larger than max_bytes, or shorter than it said),
 * RN_E_NOMEM or RN_E_IO.
 */
int file_read_whole(int dir_fd, const char *name, size_t max_bytes, uint8_t **out, size_t *len);

#endif
