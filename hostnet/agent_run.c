/*
 * hostnet/agent_run.c - starting and ending the filtering ssh agent.
 *
 * Lifetime: one filter per `devenv ssh` session and one per `up` (its
 * on_up), a child of that devenv command, ended by it (a lifeline pipe's
 * EOF) or by its death (the same EOF, and PR_SET_PDEATHSIG): no
 * long-lived process, and the developer's agent as their shell has it now
 * (SSH_AUTH_SOCK of the command that starts it).
 *
 * Its socket is devenv's own, never the developer's agent's fd: a short
 * child joins the env's user and mount namespaces, makes a folder of its
 * own (0711, a random name) in the env's /dev/shm (a tmpfs of the env's:
 * nothing reaches its upper or a layer, and it goes at halt), binds a
 * socket there (0666: every user of the env may use the agent the Envfile
 * gave it; the folder's name is not listed) and hands it back. The filter
 * then holds that socket, one connection to the developer's agent (made
 * here, before it is confined), the env's log and, for `confirm`, the
 * terminal; it drops every capability (as root: to the checkout owner's
 * ids), sets no_new_privs and loads a seccomp allow-list in which no file
 * can be opened and no socket made or connected.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* The loop's calls (agent.c) and its way out (mmap and mprotect without
 * PROT_EXEC: container/confine.c); anything else kills it. No file is
 * opened and no socket made or connected. */
static const int allowed[] = {
	SCMP_SYS(read),          SCMP_SYS(write),          SCMP_SYS(recvfrom),
	SCMP_SYS(sendto),        SCMP_SYS(close),          SCMP_SYS(poll),
	SCMP_SYS(ppoll),         SCMP_SYS(accept4),        SCMP_SYS(brk),
	SCMP_SYS(munmap),        SCMP_SYS(mremap),         SCMP_SYS(madvise),
	SCMP_SYS(futex),         SCMP_SYS(getpid),         SCMP_SYS(gettid),
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),   SCMP_SYS(time),
	SCMP_SYS(rt_sigreturn),  SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall),
	SCMP_SYS(fstat),         SCMP_SYS(newfstatat),     SCMP_SYS(lseek),
	SCMP_SYS(exit),          SCMP_SYS(exit_group),
};

/* Without CAP_SETPCAP (`devenv ssh` of a rootless store runs as the user,
 * with no capability to lose) the securebits and the bounding set are
 * refused, and moot: no_new_privs and the filter (no execve) keep it that
 * way. The error is the caller's to drop: the child only exits. */
static int confine(const struct hnet_ids *ids)
{
	struct dv_error err = { 0 };
	struct ctr_confine c = {
		.who = "the agent filter",
		.calls = allowed,
		.n_calls = sizeof(allowed) / sizeof(allowed[0]),
		.set_ids = ids->set,
		.uid = ids->uid,
		.gid = ids->gid,
		.unprivileged_ok = true,
	};

	return ctr_confine(&c, &err);
}

static bool in_other_userns(pid_t pid)
{
	char path[48];
	struct stat self, env;

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	return stat("/proc/self/ns/user", &self) == 0 && stat(path, &env) == 0 &&
	       (self.st_ino != env.st_ino || self.st_dev != env.st_dev);
}

/* The binder, in a child: in the env's namespaces, a listening socket at
 * /dev/shm/devenv-agent-XXXX/agent.sock, sent back on sock with its path. */
static _Noreturn void binder(int pidfd, pid_t pid, int sock)
{
	char name[40], path[96];
	unsigned char rnd[6];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int shm, dir, s;
	struct stat st;
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u = { 0 };
	int fds[3];
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (setns(pidfd, CLONE_NEWNS | (in_other_userns(pid) ? CLONE_NEWUSER : 0)) < 0)
		_exit(10);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		_exit(11);
	snprintf(name, sizeof(name), "devenv-agent-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5]);
	/* No name of the env's is followed: /dev and /dev/shm are the env's
	 * tmpfs mounts, the folder is new (mkdirat fails on anything there)
	 * and checked to be ours once opened. */
	shm = open("/dev/shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (shm < 0 || mkdirat(shm, name, 0711) < 0)
		_exit(12);
	dir = openat(shm, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0 || fstat(dir, &st) < 0 || st.st_uid != geteuid() || fchmod(dir, 0711) < 0 ||
	    fchdir(dir) < 0)
		_exit(13);
	umask(0111);
	memcpy(sa.sun_path, "agent.sock", sizeof("agent.sock"));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0)
		_exit(14);
	snprintf(path, sizeof(path), "/dev/shm/%s/agent.sock", name);
	iov = (struct iovec){ path, strlen(path) + 1 };
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
	fds[0] = s;
	fds[1] = shm;
	fds[2] = dir;
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	_exit(sendmsg(sock, &mh, 0) < 0 ? 15 : 0);
}

/* The listening socket; out->path, out->shm and out->dir (to remove it). */
static int bind_in_env(const struct ctr_init *init, struct hnet_agent *out, struct dv_error *err)
{
	dv_autoclose int pidfd = ctr_pidfd_checked(init, err);
	int sp[2], st = 0, fd = -1, fds[3];
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char *path = out->path;
	size_t size = sizeof(out->path);
	struct iovec iov = { path, size - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t n;
	pid_t pid;

	if (pidfd < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return dv_err(err, errno, "socketpair");
	pid = fork();
	if (pid < 0) {
		close(sp[0]);
		close(sp[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		close(sp[0]);
		binder(pidfd, init->pid, sp[1]);
	}
	close(sp[1]);
	memset(path, 0, size);
	n = recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC);
	close(sp[0]);
	cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(3 * sizeof(int))) {
		memcpy(fds, CMSG_DATA(cm), sizeof(fds));
		fd = fds[0];
		out->shm = fds[1];
		out->dir = fds[2];
	}
	if (dv_waitpid(pid, &st, err) < 0 || fd < 0 || !path[0]) {
		if (fd >= 0)
			close(fd);
		if (!err->msg[0]) {
			static const char *const what[] = {
				[10] = "cannot enter the env",
				[11] = "no random name",
				[12] = "cannot make a folder in the env's /dev/shm (is it full?)",
				[13] = "the env's /dev/shm folder is not ours",
				[14] = "cannot bind a socket in the env's /dev/shm",
				[15] = "cannot pass the socket on",
			};
			int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;

			dv_err(err, 0, "%s",
			       code >= 10 && code <= 15
				       ? what[code]
				       : "cannot make the ssh agent's socket in the env");
		}
		return -1;
	}
	return fd;
}

static int connect_upstream(const char *path, char *warning, size_t wsize)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(warning, wsize,
			 "SSH_AUTH_SOCK '%s' is too long a path; the env gets no "
			 "ssh agent",
			 path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(warning, wsize,
			 "cannot reach your ssh agent at SSH_AUTH_SOCK '%s' (%s); the env gets no "
			 "ssh agent",
			 path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* fds[] to 3, 4, ... in order, every other fd above closed; 0-2 /dev/null. */
static int place(int *fds, int n, int devnull)
{
	int tmp[8];

	for (int i = 0; i < n; i++) {
		tmp[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD, 64);
		if (fds[i] >= 0 && tmp[i] < 0)
			return -1;
	}
	for (int i = 0; i < 3; i++)
		if (dup2(devnull, i) < 0)
			return -1;
	for (int i = 0; i < n; i++) {
		if (tmp[i] >= 0 && dup2(tmp[i], 3 + i) < 0)
			return -1;
		fds[i] = tmp[i] >= 0 ? 3 + i : -1;
	}
	return syscall(SYS_close_range, 3 + n, ~0U, 0) == 0 ? 0 : -1;
}

/* A socket listening at dir/agent.sock, dir a host folder of devenv's
 * (a build step's: bound into it by the caller). */
static int bind_in_dir(int dir, struct dv_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	dv_autoclose int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old;
	int r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/agent.sock", dir);
	if (s < 0)
		return dv_err(err, errno, "socket");
	old = umask(0111);
	r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(s, 16) < 0)
		return dv_err(err, errno, "cannot make the ssh agent's socket");
	return dv_steal_fd(&s);
}

static int start(const struct ctr_init *init, int host_dir, const char *upstream,
		 const struct hnet_agent_policy *pol, const struct hnet_ids *ids,
		 struct hnet_agent *out, char *warning, size_t warning_size, struct dv_error *err)
{
	dv_autoclose int up = -1;
	dv_autoclose int listen_fd = -1;
	dv_autoclose int devnull = -1;
	int life[2];
	pid_t parent = getpid(), pid;

	warning[0] = 0;
	if (!upstream || !upstream[0]) {
		snprintf(warning, warning_size,
			 "no ssh agent on this host (SSH_AUTH_SOCK is not set); the env gets none");
		return 0;
	}
	up = connect_upstream(upstream, warning, warning_size);
	if (up < 0)
		return 0;
	if (init) {
		listen_fd = bind_in_env(init, out, err);
	} else {
		listen_fd = bind_in_dir(host_dir, err);
		if (listen_fd >= 0)
			out->dir = fcntl(host_dir, F_DUPFD_CLOEXEC, 3);
	}
	if (listen_fd < 0) {
		hnet_agent_stop(out);
		return dv_err_prefix(err, "ssh_agent");
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return dv_err(err, errno, "cannot open /dev/null");
	if (pipe2(life, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(life[0]);
		close(life[1]);
		hnet_agent_stop(out);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		struct hnet_agent_policy p = *pol;
		int fds[6] = { listen_fd, up, life[0], pol->log_fd, pol->tty_fd, pol->hold_fd };

		/* Gone with our parent, whatever kills it; out of its session
		 * and process group (a ^C is the session's, not ours). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		setsid();
		prctl(PR_SET_NAME, "devenv-agent");
		close(life[1]);
		signal(SIGPIPE, SIG_IGN);
		if (place(fds, 6, devnull) < 0 || confine(ids) < 0)
			_exit(125);
		p.log_fd = fds[3];
		p.tty_fd = fds[4];
		p.hold_fd = fds[5];
		_exit(hnet_agent_serve(&p, fds[0], fds[1], fds[2]));
	}
	close(life[0]);
	out->pid = pid;
	out->life = life[1];
	return 0;
}

int hnet_agent_start(const struct ctr_init *init, const char *upstream,
		     const struct hnet_agent_policy *pol, const struct hnet_ids *ids,
		     struct hnet_agent *out, char *warning, size_t warning_size,
		     struct dv_error *err)
{
	*out = (struct hnet_agent)HNET_AGENT_INIT;
	return start(init, -1, upstream, pol, ids, out, warning, warning_size, err);
}

int hnet_agent_start_in(int dir, const char *inside, const char *upstream,
			const struct hnet_agent_policy *pol, const struct hnet_ids *ids,
			struct hnet_agent *out, char *warning, size_t warning_size,
			struct dv_error *err)
{
	*out = (struct hnet_agent)HNET_AGENT_INIT;
	snprintf(out->path, sizeof(out->path), "%s/agent.sock", inside);
	return start(NULL, dir, upstream, pol, ids, out, warning, warning_size, err);
}

void hnet_agent_stop(struct hnet_agent *a)
{
	const char *name = strrchr(a->path, '/');
	int st;

	/* Our child, not reaped yet: its pid is its own. It keeps nothing to
	 * flush (each log line is one write), and may be waiting for an
	 * answer on the terminal that nobody will give now. */
	if (a->pid > 0) {
		close(a->life);
		kill(a->pid, SIGKILL);
		while (waitpid(a->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	/* The socket and its folder, through the fds the binder opened on
	 * the env's /dev/shm (no name of the env's is followed). */
	if (a->dir >= 0)
		unlinkat(a->dir, "agent.sock", 0);
	if (a->shm >= 0 && name && name > a->path) {
		const char *dir = a->path + strlen("/dev/shm/");
		char folder[64];

		if ((size_t)(name - dir) < sizeof(folder)) {
			memcpy(folder, dir, (size_t)(name - dir));
			folder[name - dir] = 0;
			unlinkat(a->shm, folder, AT_REMOVEDIR);
		}
	}
	if (a->dir >= 0)
		close(a->dir);
	if (a->shm >= 0)
		close(a->shm);
	*a = (struct hnet_agent)HNET_AGENT_INIT;
}
