/*
 * container/relay.c - devenv between a container's processes and the
 * host's fds: nothing in an env ever holds a terminal or a file of the
 * host's (it could TIOCSTI the developer's shell, or chown and chmod the
 * file through /proc/self/fd); devenv copies through pipes or a pty of the
 * env's instead.
 *
 *  - ctr_relay_chunk(): one read's worth from a pipe or pty to our fd
 *    (build steps);
 *  - ctr_fds_place(): a forked child's fds laid out, all others closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/fs.h"
#include "util/banned.h"

bool ctr_relay_chunk(int from, int to, int tee)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	struct dv_error ignored = { 0 };

	if (n < 0)
		return errno == EINTR || errno == EAGAIN; /* EIO: a pty without slaves */
	if (n == 0)
		return false;
	if (tee >= 0)
		dv_write_full(tee, buf, (size_t)n, &ignored); /* a full disk loses log lines */
	/* Our end is gone (`ssh -c yes | head -1`): close the pipe, so that
	 * the writer gets its SIGPIPE as if it wrote there itself. */
	if (to >= 0 && dv_write_full(to, buf, (size_t)n, &ignored) < 0)
		return false;
	return true;
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
