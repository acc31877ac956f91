/* file_io.c: writing small files whole and durably. */
#include "storage/file_io.h"

#include "common/errors.h"

#include <errno.h>
#include <fcntl.h>
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
