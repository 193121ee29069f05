/*
 * hostnet/maker.c - the socket maker of a `network: private` env: a child
 * of the helper in the env's network namespace that makes TCP sockets
 * there on request. A socket stays in the namespace it was made in, and
 * without root the helper could not setns back to the host's once in the
 * env's; so the helper listens on the host and asks the maker for each
 * upstream socket (one byte, '4' or '6'; the socket comes back with
 * SCM_RIGHTS).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/fs.h"
#include "util/banned.h"

/* The child in the env's network namespace: one new TCP socket per byte
 * asked for ('4' or '6'), passed back with SCM_RIGHTS. */
static _Noreturn void socket_maker(int sock, int netfd, const struct hnet_ids *ids)
{
	struct dv_error err = { 0 };
	char want;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (setns(netfd, CLONE_NEWNET) < 0)
		_exit(1);
	close(netfd);
	/* In the env's namespace for good: nothing more to be allowed. */
	if (hnet_confine(ids, &err) < 0)
		_exit(1);
	while (recv(sock, &want, 1, 0) == 1) {
		int s = socket(want == '6' ? AF_INET6 : AF_INET,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (dv_send_fd(sock, &want, 1, s) < 0)
			_exit(1);
		if (s >= 0)
			close(s);
	}
	_exit(0);
}

int hnet_maker_start(int netfd, const struct hnet_ids *ids, int *sock, pid_t *pid,
		     struct dv_error *err)
{
	int sp[2];
	pid_t c;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return dv_err(err, errno, "cannot start the socket maker");
	c = fork();
	if (c < 0) {
		int e = errno;

		close(sp[0]);
		close(sp[1]);
		return dv_err(err, e, "cannot start the socket maker");
	}
	if (c == 0) {
		close(sp[0]);
		socket_maker(sp[1], netfd, ids);
	}
	close(sp[1]);
	*sock = sp[0];
	*pid = c;
	return 0;
}

int hnet_socket_from(int sock, int family)
{
	char want = family == AF_INET6 ? '6' : '4', got;
	int fd;

	if (send(sock, &want, 1, MSG_NOSIGNAL) != 1 || dv_recv_fd(sock, &got, 1, &fd) != 1)
		return -1;
	return fd;
}
