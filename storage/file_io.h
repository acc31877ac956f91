/* file_io.h: writing small files whole and durably (checkpoints, snapshots). */
#ifndef RUNNEL_STORAGE_FILE_IO_H
#define RUNNEL_STORAGE_FILE_IO_H

#include <stddef.h>

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

#endif
