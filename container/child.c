/*
 * container/child.c - what a forked child of the runtime shares with its
 * parent: its first failure, sent whole through an error pipe (the pipe is
 * close-on-exec, so EOF means the child exec'd), and its fds laid out for
 * the program it becomes.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/banned.h"

void ctr_child_fail(int errpipe, const struct dv_error *err)
{
	/* One struct (< PIPE_BUF): the write is atomic. */
	ssize_t n = write(errpipe, err, sizeof(*err));

	(void)n;
	_exit(1);
}

int ctr_child_result(int errpipe, struct dv_error *err)
{
	struct dv_error got;
	size_t have = 0;

	while (have < sizeof(got)) {
		ssize_t n = read(errpipe, (char *)&got + have, sizeof(got) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dv_err(err, errno, "reading the container's status");
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have == 0)
		return 0;
	if (have < sizeof(got)) {
		dv_err(err, EIO, "the container's set-up failed");
		return 1;
	}
	got.msg[sizeof(got.msg) - 1] = 0;
	got.file[sizeof(got.file) - 1] = 0;
	*err = got;
	return 1;
}

int ctr_fds_place(const int *fds, int n, int keep)
{
	int tmp[8];

	if (n > 8) {
		errno = EINVAL;
		return -1;
	}
	/* Copies above n first, so that placing one never closes another. */
	for (int i = 0; i < n; i++) {
		tmp[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD_CLOEXEC, n);
		if (fds[i] >= 0 && tmp[i] < 0)
			return -1;
	}
	for (int i = 0; i < n; i++) {
		if (tmp[i] < 0)
			close(i);
		else if (dup3(tmp[i], i, i < keep ? 0 : O_CLOEXEC) < 0)
			return -1;
	}
	return (int)syscall(SYS_close_range, (unsigned)n, ~0U, 0U);
}
