/*
 * container/child.c - what a forked child of the runtime shares with its
 * parent: its first failure, sent whole through an error pipe (the pipe is
 * close-on-exec, so EOF means the child exec'd), and its fds laid out for
 * the program it becomes.
 *
 * close_range(2) closes or flags every fd above the ones a program gets in
 * one call, but it is Linux 5.9, and CLOSE_RANGE_CLOEXEC 5.11; a seccomp
 * profile may refuse it too. Where it fails, each open fd is closed or
 * flagged alone: an fd of devenv's (a store lock, the terminal) must never
 * reach what runs in the env. Nothing here allocates (a forked child).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <stdlib.h>
#include <sys/resource.h>
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
	return ctr_fds_close_from((unsigned)n, false);
}

/* One fd: closed, or close-on-exec. */
static int fd_end(int fd, bool cloexec)
{
	int fl;

	if (!cloexec)
		return close(fd) < 0 && errno != EBADF && errno != EINTR ? -1 : 0;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return errno == EBADF ? 0 : -1;
	return fl & FD_CLOEXEC ? 0 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/* The fds listed in /proc/self/fd (read with getdents64 into the stack:
 * no opendir, which allocates); -1 when that cannot be read. */
static int fds_end_listed(unsigned from, bool cloexec)
{
	char buf[4096];
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (dir < 0)
		return -1;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			char *end;
			unsigned long fd = strtoul(de->d_name, &end, 10);

			off += de->d_reclen;
			if (*end || end == de->d_name || fd < from || fd > INT_MAX || (int)fd == dir)
				continue;
			if (fd_end((int)fd, cloexec) < 0) {
				close(dir);
				return -1;
			}
		}
	}
	close(dir);
	return n < 0 ? -1 : 0;
}

int ctr_fds_close_from(unsigned from, bool cloexec)
{
	struct rlimit rl;

	if (syscall(SYS_close_range, from, ~0U, cloexec ? CLOSE_RANGE_CLOEXEC : 0U) == 0)
		return 0;
	if (fds_end_listed(from, cloexec) == 0)
		return 0;
	/* No /proc (yet): every fd the limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
		rl.rlim_cur = INT_MAX;
	for (rlim_t fd = from; fd < rl.rlim_cur; fd++)
		if (fd_end((int)fd, cloexec) < 0)
			return -1;
	return 0;
}
