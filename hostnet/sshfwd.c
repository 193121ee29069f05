/*
 * hostnet/sshfwd.c - the ports forwarder of a remote env, `devenv-fwd`
 * (`devenv __ssh-fwd`): the env runs on another host (`up --host`), and
 * its `ports` answer here through the user's own OpenSSH client with -L.
 *
 * The forwarder is devenv re-executed in a session of its own (a closing
 * terminal does not end it), with none of our fds but a report pipe and
 * the user's environment (ssh needs HOME, SSH_AUTH_SOCK, its config). It
 * runs one `ssh -N -L IP:HP:127.0.0.1:RP... -- DEST` child, multiplexing
 * off (ControlPath none: the listeners must be that child's own), no
 * prompt (BatchMode: there is no terminal), ExitOnForwardFailure (a taken
 * port is an error, not a silent half), keepalives (a dropped link is seen
 * within 30 s). It reports "ready" on fd 3 once that ssh holds a listening
 * socket on every port (ssh binds them after the login: ready means
 * connected, authenticated and listening), or ssh's last line of stderr
 * when it exits first. Afterwards, when ssh exits (the link dropped, the
 * host rebooted), the forwarder starts it again after a back-off of 1 s
 * doubling to 30 s, until SIGTERM: then it ends ssh, waits for it (the
 * ports are free when it is gone) and exits. ssh dies with it
 * (PR_SET_PDEATHSIG) should it be killed.
 *
 * It keeps the user's privileges (it runs the user's ssh, ProxyCommand and
 * all, as the user would) and no sandbox of ours: it holds nothing of the
 * env or the store, and reads nothing the remote sends but ssh's stderr,
 * which reaches an error message made printable.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

#define FWD_READY_S 45 /* from ssh's start to every port listening */
#define FWD_BACKOFF_MAX_S 30
#define FWD_STABLE_S 60 /* a link that lasted this long resets the back-off */

extern char **environ;

struct fwd_report {
	struct dv_error err; /* msg "" : ready */
};

static void report(int fd, const struct fwd_report *r)
{
	ssize_t n = write(fd, r, sizeof(*r));

	(void)n;
	close(fd);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where "--" is in a NULL-terminated ssh argv that ends "-- DEST": its
 * index, or -1 when the argv is not of that form or DEST could be taken
 * for an option. */
static int dest_split(const char *const *argv)
{
	size_t n = 0;

	while (argv[n])
		n++;
	if (n < 3 || strcmp(argv[n - 2], "--") || !argv[n - 1][0] || argv[n - 1][0] == '-')
		return -1;
	return (int)(n - 2);
}

int hnet_sshfwd_argv(const char *const *ssh_argv, const struct hnet_fwd_port *ports, size_t n,
		     struct dv_strv *out, struct dv_error *err)
{
	int dash = dest_split(ssh_argv);

	if (dash < 0)
		return dv_err(err, EINVAL,
			      "ports forwarder: the ssh command does not end '-- DEST'");
	for (int i = 0; i < dash; i++)
		dv_strv_push(out, ssh_argv[i]);
	static const char *const opts[] = {
		"-N",
		"-T",
		"-n",
		"-o",
		"BatchMode=yes",
		"-o",
		"ExitOnForwardFailure=yes",
		"-o",
		"ControlMaster=no",
		"-o",
		"ControlPath=none",
		"-o",
		"ServerAliveInterval=10",
		"-o",
		"ServerAliveCountMax=3",
		"-o",
		"ConnectTimeout=20",
		"-o",
		"PermitLocalCommand=no",
	};
	for (size_t i = 0; i < sizeof(opts) / sizeof(*opts); i++)
		dv_strv_push(out, opts[i]);
	for (size_t i = 0; i < n; i++) {
		const char *ip = ports[i].bind_ip ? ports[i].bind_ip : "127.0.0.1";
		struct sockaddr_storage ss;
		socklen_t len;

		if (hnet_port_sockaddr(ip, 1, &ss, &len) < 0 || !ports[i].local_port ||
		    ports[i].local_port > 65535 || !ports[i].remote_port ||
		    ports[i].remote_port > 65535)
			return dv_err(err, EINVAL, "ports forwarder: bad port '%s:%u:%u'", ip,
				      ports[i].local_port, ports[i].remote_port);
		dv_strv_push(out, "-L");
		dv_strv_push_owned(out, dv_xasprintf(strchr(ip, ':') ? "[%s]:%u:127.0.0.1:%u"
								     : "%s:%u:127.0.0.1:%u",
						     ip, ports[i].local_port, ports[i].remote_port));
	}
	dv_strv_push(out, "--");
	dv_strv_push(out, ssh_argv[dash + 1]);
	return 0;
}

/* The inodes of the sockets pid holds (up to max); their count. */
static size_t socket_inodes(pid_t pid, unsigned long *out, size_t max)
{
	char path[64], link[64];
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		ssize_t l = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		unsigned long ino;

		if (l <= 0)
			continue;
		link[l] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) == 1)
			out[n++] = ino;
	}
	closedir(d);
	return n;
}

/* Does one of the sockets in inodes listen on TCP port `port` (table: the
 * family's /proc/net file)? */
static bool listens(const char *table, unsigned port, const unsigned long *inodes, size_t n)
{
	dv_autofclose FILE *f = fopen(table, "re");
	char line[512];

	if (!f || !fgets(line, sizeof(line), f))
		return false;
	while (fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned st, lport;
		unsigned long inode;
		const char *colon;

		if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) !=
			    3 ||
		    st != 0x0A)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &lport) != 1 || lport != port)
			continue;
		for (size_t i = 0; i < n; i++)
			if (inodes[i] == inode)
				return true;
	}
	return false;
}

/* Does ssh (pid) listen on every port? */
static bool all_listening(pid_t pid, const struct hnet_port *ports, size_t n)
{
	unsigned long inodes[256];
	size_t k = socket_inodes(pid, inodes, sizeof(inodes) / sizeof(*inodes));

	for (size_t i = 0; i < n; i++) {
		const char *table = strchr(ports[i].host_ip, ':') ? "/proc/net/tcp6"
								  : "/proc/net/tcp";

		if (!listens(table, ports[i].host_port, inodes, k))
			return false;
	}
	return true;
}

/* The last two lines ssh said on stderr, made printable (a remote's
 * banner reaches it too). */
struct said {
	char acc[200], prev[200], last[200];
	size_t have;
};

static void said_line(struct said *s)
{
	if (!s->have)
		return;
	s->acc[s->have] = '\0';
	memcpy(s->prev, s->last, sizeof(s->prev));
	memcpy(s->last, s->acc, sizeof(s->last));
	s->have = 0;
}

static void said_add(struct said *s, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];

		if (c == '\n' || c == '\r')
			said_line(s);
		else if (s->have + 1 < sizeof(s->acc))
			s->acc[s->have++] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
}

/* Start ssh with its stderr on a pipe (*errfd); its pid, or -1. */
static pid_t spawn_ssh(char *const *argv, int *errfd)
{
	int p[2];
	pid_t parent = getpid(), c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	c = fork();
	if (c < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (c == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		sigset_t none;

		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(p[1], 2) < 0)
			_exit(1);
		execvp(argv[0], argv);
		dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*errfd = p[0];
	return c;
}

static int reap(pid_t pid)
{
	int st = 0;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void free_ports(struct hnet_port *ports, size_t n)
{
	for (size_t i = 0; ports && i < n; i++)
		free(ports[i].host_ip);
	free(ports);
}

/* argv: __ssh-fwd N IP,HOST,REMOTE... SSH-ARGV... -- DEST (the caller's ssh
 * command, to which hnet_sshfwd_argv adds ours), report pipe on fd 3. */
int hnet_sshfwd_main(int argc, char **argv)
{
	struct fwd_report r = { 0 };
	struct hnet_port *ports = NULL;
	struct hnet_fwd_port *fwd = NULL;
	struct dv_strv cmd = { 0 };
	size_t n = 0;
	char **ssh;
	sigset_t mask;
	dv_autoclose int sfd = -1;
	bool reported = false;
	unsigned backoff = 1;

	/* What the starting devenv ignored or blocked (its ^C handling) is
	 * inherited across exec: an ignored SIGTERM would never reach the
	 * signalfd, so the defaults first, then our own mask. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "devenv-fwd");
	if (argc >= 2)
		n = strtoul(argv[1], NULL, 10);
	if (argc < 2 || n < 1 || n > 256 || (size_t)argc < 2 + n + 3) {
		dv_err(&r.err, EINVAL, "ports forwarder: bad arguments");
		report(3, &r);
		return 1;
	}
	ports = dv_xcalloc(n, sizeof(*ports));
	fwd = dv_xcalloc(n, sizeof(*fwd));
	for (size_t i = 0; i < n; i++) {
		/* A copy: from_arg cuts it, and argv is what ps shows. */
		char *arg = dv_xstrdup(argv[2 + i]);

		if (hnet_port_from_arg(arg, &ports[i]) < 0) {
			free(arg);
			ports[i].host_ip = NULL;
			dv_err(&r.err, EINVAL, "ports forwarder: bad port '%s'", argv[2 + i]);
			goto fail;
		}
		fwd[i] = (struct hnet_fwd_port){ ports[i].host_ip, ports[i].host_port,
						 ports[i].container_port };
	}
	if (hnet_sshfwd_argv((const char *const *)(argv + 2 + n), fwd, n, &cmd, &r.err) < 0)
		goto fail;
	free(fwd);
	fwd = NULL;
	ssh = cmd.v;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		dv_err(&r.err, errno, "ports forwarder: signalfd");
		goto fail;
	}
	for (;;) {
		struct said said = { .have = 0 };
		char last[420] = "";
		int errfd = -1, status;
		bool ready = reported, stop = false, exited = false;
		long long started = now_ms();
		pid_t pid = spawn_ssh(ssh, &errfd);

		if (pid < 0) {
			snprintf(last, sizeof(last), "cannot start ssh: %s", strerror(errno));
			goto down;
		}
		while (!exited && !stop) {
			struct pollfd pf[2] = { { sfd, POLLIN, 0 }, { errfd, POLLIN, 0 } };
			int timeout = ready ? -1 : 20;

			if (poll(pf, errfd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
				break;
			if (pf[0].revents & POLLIN) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					if (si.ssi_signo != SIGCHLD)
						stop = true;
			}
			if (errfd >= 0 && (pf[1].revents & (POLLIN | POLLHUP))) {
				char buf[512];
				ssize_t k = read(errfd, buf, sizeof(buf));

				if (k > 0) {
					said_add(&said, buf, (size_t)k);
				} else {
					close(errfd);
					errfd = -1;
				}
			}
			if (waitpid(pid, &status, WNOHANG) == pid) {
				exited = true;
				break;
			}
			if (!ready && all_listening(pid, ports, n)) {
				ready = true;
				if (!reported) {
					report(3, &r);
					reported = true;
				}
			}
			if (!ready && now_ms() - started > FWD_READY_S * 1000LL) {
				snprintf(last, sizeof(last),
					 "ssh did not set up the forwards within %d s", FWD_READY_S);
				kill(pid, SIGKILL);
				break;
			}
		}
		if (!exited) {
			kill(pid, SIGTERM);
			status = reap(pid);
		} else {
			status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		/* What it said last, its last lines still in the pipe. */
		if (errfd >= 0) {
			char buf[512];
			ssize_t k;

			fcntl(errfd, F_SETFL, O_NONBLOCK);
			while ((k = read(errfd, buf, sizeof(buf))) > 0)
				said_add(&said, buf, (size_t)k);
			close(errfd);
		}
		said_line(&said);
		if (!last[0] && said.last[0])
			snprintf(last, sizeof(last), "%s%s%s", said.prev, said.prev[0] ? "; " : "",
				 said.last);
		if (stop)
			break;
		if (!last[0])
			snprintf(last, sizeof(last), "ssh exited with status %d", status);
	down:
		if (!reported) {
			dv_err(&r.err, 0, "cannot forward the env's ports from '%s' (ssh -N -L): %s",
			       cmd.v[cmd.n - 1], last);
			goto fail;
		}
		/* The link dropped: again after the back-off, unless told to stop. */
		if (now_ms() - started > FWD_STABLE_S * 1000LL)
			backoff = 1;
		{
			struct pollfd pf = { sfd, POLLIN, 0 };
			long long until = now_ms() + backoff * 1000LL;

			while (!stop && now_ms() < until) {
				struct signalfd_siginfo si;

				if (poll(&pf, 1, (int)(until - now_ms())) > 0)
					while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
						if (si.ssi_signo != SIGCHLD)
							stop = true;
			}
		}
		if (stop)
			break;
		backoff = backoff * 2 > FWD_BACKOFF_MAX_S ? FWD_BACKOFF_MAX_S : backoff * 2;
	}
	dv_strv_release(&cmd);
	free_ports(ports, n);
	return 0;
fail:
	report(3, &r);
	dv_strv_release(&cmd);
	free(fwd);
	free_ports(ports, n);
	return 1;
}

int hnet_sshfwd_start(const char *const *ssh_argv, const struct hnet_fwd_port *ports, size_t n,
		      pid_t *pid, unsigned long long *start, struct dv_error *err)
{
	struct dv_strv argv = { 0 }, ssh = { 0 };
	struct fwd_report r;
	size_t have = 0;
	int rp[2];
	pid_t c;

	*pid = 0;
	*start = 0;
	if (n < 1 || n > 256)
		return dv_err(err, EINVAL, "ports forwarder: %zu ports (1 to 256)", n);
	if (hnet_sshfwd_argv(ssh_argv, ports, n, &ssh, err) < 0) {
		dv_strv_release(&ssh);
		return -1;
	}
	dv_strv_push(&argv, "devenv-fwd");
	dv_strv_push(&argv, "__ssh-fwd");
	dv_strv_push_owned(&argv, dv_xasprintf("%zu", n));
	for (size_t i = 0; i < n; i++)
		dv_strv_push_owned(&argv,
				   dv_xasprintf("%s,%u,%u",
						ports[i].bind_ip ? ports[i].bind_ip : "127.0.0.1",
						ports[i].local_port, ports[i].remote_port));
	dv_strv_release(&ssh);
	for (size_t i = 0; ssh_argv[i]; i++)
		dv_strv_push(&argv, ssh_argv[i]);
	if (pipe2(rp, O_CLOEXEC) < 0) {
		dv_strv_release(&argv);
		return dv_err(err, errno, "pipe");
	}
	c = fork();
	if (c < 0) {
		close(rp[0]);
		close(rp[1]);
		dv_strv_release(&argv);
		return dv_err(err, errno, "fork");
	}
	if (c == 0) {
		/* A session of its own (no terminal's hangup reaches it), no
		 * fd of ours but the report pipe on 3; the user's environment,
		 * which ssh needs. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		setsid();
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    dup2(rp[1], 3) < 0)
			_exit(1);
		syscall(SYS_close_range, 4U, ~0U, 0U);
		execve("/proc/self/exe", argv.v, environ);
		_exit(127);
	}
	close(rp[1]);
	dv_strv_release(&argv);
	while (have < sizeof(r)) {
		ssize_t k = read(rp[0], (char *)&r + have, sizeof(r) - have);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
	}
	close(rp[0]);
	if (have != sizeof(r)) {
		waitpid(c, NULL, WNOHANG);
		return dv_err(err, EIO, "the ports forwarder died at start");
	}
	if (r.err.msg[0]) {
		r.err.msg[sizeof(r.err.msg) - 1] = 0;
		r.err.file[sizeof(r.err.file) - 1] = 0;
		*err = r.err;
		waitpid(c, NULL, 0);
		return -1;
	}
	if (ctr_start_time(c, start) < 0)
		return dv_err(err, ESRCH, "the ports forwarder died at start");
	*pid = c;
	return 0;
}

int hnet_sshfwd_stop(pid_t pid, unsigned long long start)
{
	struct ctr_init p = { .pid = pid, .start_time = start };
	struct dv_error err = { 0 };

	if (pid <= 0)
		return 0;
	if (ctr_stop(&p, 3, &err) < 0) {
		errno = err.errnum ? err.errnum : EIO;
		return -1;
	}
	return 0;
}
