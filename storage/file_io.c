/* file_io.c: writing small files whole and durably. */
#include "storage/file_io.h"

#include "common/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int file_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return RN_E_IO;
		}
		done += (size_t)n;
	}
	return 0;
}

int file_write_synced(int dir_fd, const char *name, const void *buf, size_t len)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return RN_E_IO;
	int rc = file_write_all(fd, buf, len);
	if (rc == 0 && fsync(fd) != 0)
		rc = RN_E_IO;
	int saved = errno;
	if (close(fd) != 0 && rc == 0)
		return RN_E_IO;
	errno = saved;
	return rc;
}

int file_read_whole(int dir_fd, const char *name, size_t max_bytes, uint8_t **out, size_t *len)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? RN_E_NOT_FOUND : RN_E_IO;
	int rc = 0;
	uint8_t *buf = NULL;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = RN_E_IO;
		goto close_fd;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max_bytes) {
		rc = RN_E_CORRUPT_STATE;
		goto close_fd;
	}
	size_t size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (!buf) {
		rc = RN_E_NOMEM;
		goto close_fd;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? RN_E_IO : RN_E_CORRUPT_STATE;
			free(buf);
			goto close_fd;
		}
		got += (size_t)n;
	}
	buf[size] = 0;
	*out = buf;
	*len = size;
close_fd:
	close(fd);
	return rc;
}
