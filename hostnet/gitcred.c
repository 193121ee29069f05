/*
 * hostnet/gitcred.c - the git credential relay of `git_credentials`.
 *
 * The env's git reaches it with a helper it already has: `git
 * credential-cache --socket PATH` (git's client for its own credential
 * daemon), set through GIT_CONFIG_COUNT/KEY/VALUE in the session's
 * environment. Nothing is written to the env's disk and no program of
 * devenv's goes into the env: the only thing there is the socket, in the
 * env's /dev/shm (a tmpfs of the env's own, checked with fstatfs), bound
 * by a short-lived child that joined the env's mount namespace (and its
 * user namespace when that is another) through the init's pidfd, checked
 * against its start time: every path it walks is the env's, /dev/shm with
 * RESOLVE_NO_SYMLINKS. The socket is the relay's own, never an fd of the
 * host's. It is made with umask 0 (srwxrwxrwx) rather than chmod'ed: a
 * chmod by name could follow a symlink the env swapped in.
 *
 * The relay is a child of the devenv command (a session's `devenv ssh`,
 * `up` for on_up), in the host's namespaces, as the user who ran devenv:
 * its git credentials are the ones asked for. It runs in a session of its
 * own, with stdin/stdout/stderr on /dev/null (a helper of the host's that
 * would prompt finds no terminal; GIT_TERMINAL_PROMPT=0 and an empty
 * GIT_ASKPASS say so to git itself), no capability (uid 0 keeps none:
 * securebits), no_new_privs, and a seccomp deny-list inherited by the git
 * it runs (an allow-list would break the host's credential helpers, which
 * can be anything: libsecret over D-Bus, pass with gpg...). git runs from
 * "/", never from the checkout, whose .git/config an env may have written.
 *
 * Per request: the env's text is checked (gitcred_proto.c), `git
 * credential fill` gets only protocol, host and path, and only username
 * and password go back. `store` and `erase` (git's approve and reject
 * after the server said yes or no) reach the host's helpers only for a
 * credential this relay gave: an env can neither plant a password of its
 * choosing in the host's store nor erase one it was not given.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define REQ_MAX (64 * 1024)  /* git's requests are a few hundred bytes */
#define GIT_TIMEOUT_MS 30000 /* a host helper that hangs (a GUI prompt) */
#define GIVEN_MAX 16

extern char **environ;

/* Credentials this relay gave, the only ones store/erase may name. */
struct given {
	struct hnet_cred v[GIVEN_MAX];
	size_t next;
};

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static struct hnet_cred *given_find(struct given *g, const struct hnet_cred *c)
{
	for (size_t i = 0; i < GIVEN_MAX; i++)
		if (same(g->v[i].protocol, c->protocol) && g->v[i].host &&
		    strcasecmp(g->v[i].host, c->host) == 0 && same(g->v[i].username, c->username) &&
		    same(g->v[i].password, c->password))
			return &g->v[i];
	return NULL;
}

/* The environment of the host's git: ours (the user's: HOME, XDG_*, the
 * D-Bus session of a keyring...) without what points git at a repository
 * or changes its config from outside, and with no prompt. */
static void git_envp(struct dv_strv *out)
{
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, "GIT_", 4) != 0 || dv_str_startswith(*e, "GIT_EXEC_PATH=") ||
		    dv_str_startswith(*e, "GIT_CONFIG_GLOBAL=") ||
		    dv_str_startswith(*e, "GIT_CONFIG_SYSTEM=") ||
		    dv_str_startswith(*e, "GIT_CONFIG_NOSYSTEM="))
			dv_strv_push(out, *e);
	dv_strv_push(out, "GIT_TERMINAL_PROMPT=0");
	dv_strv_push(out, "GIT_ASKPASS=");
	dv_strv_push(out, "SSH_ASKPASS=");
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `git credential OP` with input; its stdout (at most REQ_MAX) in *out.
 * 0 when it exited 0. */
static int run_git(const char *op, const char *input, char **envp, char **out, size_t *out_len)
{
	int in[2], o[2], status = 0, ret = -1;
	size_t cap = 4096, len = 0, in_len = strlen(input), in_off = 0;
	long long deadline = now_ms() + GIT_TIMEOUT_MS;
	char *buf = malloc(cap);
	pid_t pid;

	*out = NULL;
	*out_len = 0;
	if (!buf)
		return -1;
	if (pipe2(in, O_CLOEXEC) < 0) {
		free(buf);
		return -1;
	}
	if (pipe2(o, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		free(buf);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "git", "credential", (char *)op, NULL };

		if (dup2(in[0], 0) < 0 || dup2(o[1], 1) < 0 || chdir("/") < 0)
			_exit(127);
		execvpe("git", argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	if (pid < 0) {
		close(in[1]);
		close(o[0]);
		free(buf);
		return -1;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = { { .fd = o[0], .events = POLLIN },
				       { .fd = in[1], .events = POLLOUT } };
		long long left = deadline - now_ms();
		int n = in[1] >= 0 ? 2 : 1;

		if (left <= 0 || poll(p, (nfds_t)n, (int)left) <= 0) {
			if (errno == EINTR && left > 0)
				continue;
			kill(pid, SIGKILL);
			break;
		}
		if (n == 2 && p[1].revents) {
			ssize_t w = write(in[1], input + in_off, in_len - in_off);

			if (w > 0)
				in_off += (size_t)w;
			if (w < 0 || in_off == in_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (p[0].revents) {
			ssize_t r;

			if (len == cap) {
				if (cap >= REQ_MAX) {
					kill(pid, SIGKILL);
					break;
				}
				char *nb = realloc(buf, cap * 2);
				if (!nb) {
					kill(pid, SIGKILL);
					break;
				}
				buf = nb;
				cap *= 2;
			}
			r = read(o[0], buf + len, cap - len);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
	}
	if (in[1] >= 0)
		close(in[1]);
	close(o[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ret = 0;
		*out = buf;
		*out_len = len;
		buf = NULL;
	}
	free(buf);
	return ret;
}

static void serve(int conn, const struct dv_strv *hosts, char **envp, struct given *g)
{
	struct timeval tv = { 10, 0 };
	char *req = malloc(REQ_MAX);
	size_t len = 0;
	struct hnet_cred c = { 0 };
	const char *why;

	if (!req)
		return;
	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (;;) { /* to EOF: git's client half-closes after its request */
		ssize_t r = read(conn, req + len, REQ_MAX - len);

		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (len += (size_t)r) == REQ_MAX)
			goto out; /* too long, or too slow: refused */
	}
	if (hnet_cred_parse(req, len, hosts, &c, &why) < 0)
		goto out; /* nothing back: git goes on to its next helper or prompt */
	if (c.op == HNET_CRED_GET) {
		dv_autofree char *in = NULL;
		char *ans = NULL, *user = NULL, *pass = NULL;
		size_t ans_len;

		/* A username the env gave is a hint git may pass on; keep it. */
		free(c.password);
		c.password = NULL;
		in = hnet_cred_format(&c, true);
		if (run_git("fill", in, envp, &ans, &ans_len) == 0 &&
		    hnet_cred_answer(ans, ans_len, &user, &pass) == 0) {
			dv_autofree char *reply =
				dv_xasprintf("username=%s\npassword=%s\n", user, pass);
			struct hnet_cred *slot = &g->v[g->next++ % GIVEN_MAX];

			(void)!write(conn, reply, strlen(reply));
			explicit_bzero(reply, strlen(reply));
			hnet_cred_release(slot);
			*slot = (struct hnet_cred){ .protocol = dv_xstrdup(c.protocol),
						    .host = dv_xstrdup(c.host),
						    .username = user,
						    .password = pass };
			user = pass = NULL;
		}
		free(user);
		free(pass);
		if (ans)
			explicit_bzero(ans, ans_len);
		free(ans);
	} else {
		struct hnet_cred *slot = given_find(g, &c);

		if (slot) {
			dv_autofree char *in = hnet_cred_format(&c, true);
			char *ans = NULL;
			size_t ans_len;

			run_git(c.op == HNET_CRED_STORE ? "approve" : "reject", in, envp, &ans,
				&ans_len);
			free(ans);
			if (c.op == HNET_CRED_ERASE)
				hnet_cred_release(slot);
		}
	}
out:
	hnet_cred_release(&c);
	explicit_bzero(req, len);
	free(req);
}

/* The git it runs inherits this: no way back to privilege or out of the
 * host's namespaces, no kernel surface a credential helper has no use for,
 * no typing into a terminal (ctr_confine_tool, container/confine.c); the
 * network stays, for helpers that ask a server. */
static int confine(struct dv_error *err)
{
	return ctr_confine_tool("the credential relay", false, err);
}

static void relay_main(int sock, int lifeline, int shm, const char *name,
		       const struct dv_strv *hosts, pid_t parent)
{
	struct dv_error err = { 0 };
	struct dv_strv envp = { 0 };
	struct given g = { 0 };
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "devenv-gitcred");
	if (getppid() != parent)
		_exit(0);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(1);
	/* Our three at 3, 4, 5; nothing else of devenv's. Up out of the way
	 * first: one of them may be at 3, 4 or 5 already. */
	sock = fcntl(sock, F_DUPFD_CLOEXEC, 10);
	lifeline = fcntl(lifeline, F_DUPFD_CLOEXEC, 10);
	shm = fcntl(shm, F_DUPFD_CLOEXEC, 10);
	if (sock < 0 || lifeline < 0 || shm < 0 || dup2(sock, 3) < 0 || dup2(lifeline, 4) < 0 ||
	    dup2(shm, 5) < 0)
		_exit(1);
	syscall(SYS_close_range, 6, ~0U, 0);
	for (int fd = 3; fd <= 5; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	git_envp(&envp);
	if (confine(&err) < 0)
		_exit(1);
	for (;;) {
		struct pollfd p[2] = { { .fd = 3, .events = POLLIN },
				       { .fd = 4, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break; /* the session or on_up is over */
		if (p[0].revents) {
			int conn = accept4(3, NULL, NULL, SOCK_CLOEXEC);

			if (conn >= 0) {
				serve(conn, hosts, envp.v, &g);
				close(conn);
			}
		}
	}
	unlinkat(5, name, 0);
	_exit(0);
}

/* Is pid's namespace of this kind another than ours? */
static bool other_ns(pid_t pid, const char *kind)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, kind);
	if (stat(path, &a) < 0)
		return true;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	return stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

/* The child that makes the socket: in the env's mount namespace (and user
 * namespace when it is another: without root, keep-id's FUSE root admits
 * no process from outside it), so every path is the env's and none can
 * lead out. It sends back the listening socket and an O_PATH fd of
 * /dev/shm (a tmpfs: the relay removes the socket through it), or errno. */
static void maker(int pidfd, bool userns, int out, const char *name)
{
	int fds[2] = { -1, -1 }, e = 0;
	struct statfs sfs;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char ctl[CMSG_SPACE(sizeof(fds))] = { 0 };
	struct iovec iov = { &e, sizeof(e) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (setns(pidfd, CLONE_NEWNS | (userns ? CLONE_NEWUSER : 0)) < 0) {
		e = errno;
		goto send;
	}
	fds[1] = dv_openat2(AT_FDCWD, "/dev/shm", O_PATH | O_DIRECTORY, 0,
			    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fds[1] < 0 || fstatfs(fds[1], &sfs) < 0 || fchdir(fds[1]) < 0) {
		e = errno;
		goto send;
	}
	if (sfs.f_type != TMPFS_MAGIC) {
		e = ENOTDIR;
		goto send;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", name);
	fds[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	umask(0); /* srwxrwxrwx from the start: no chmod by name afterwards */
	if (fds[0] < 0 || bind(fds[0], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fds[0], 16) < 0)
		e = errno;
send:
	if (e == 0) {
		struct cmsghdr *cm;

		mh.msg_control = ctl;
		mh.msg_controllen = sizeof(ctl);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	}
	_exit(sendmsg(out, &mh, MSG_NOSIGNAL) < 0);
}

int hnet_gitcred_start(const struct ctr_init *init, const struct dv_strv *hosts,
		       struct hnet_gitcred *out, struct dv_error *err)
{
	dv_autoclose int pidfd = -1, shm = -1, sock = -1;
	int life[2], sp[2], fds[2], e = 0;
	unsigned char rnd[8];
	char name[40], ctl[CMSG_SPACE(sizeof(fds))];
	struct iovec iov = { &e, sizeof(e) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl,
			     .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;
	pid_t self = getpid(), pid;
	ssize_t n;

	*out = (struct hnet_gitcred){ .lifeline = -1 };
	pidfd = ctr_pidfd_checked(init, err);
	if (pidfd < 0)
		return -1;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return dv_err(err, errno, "getrandom");
	snprintf(name, sizeof(name), "devenv-git-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return dv_err(err, errno, "socketpair");
	pid = fork();
	if (pid == 0) {
		close(sp[0]);
		maker(pidfd, other_ns(init->pid, "user"), sp[1], name);
	}
	close(sp[1]);
	if (pid < 0) {
		close(sp[0]);
		return dv_err(err, errno, "fork");
	}
	n = recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC);
	close(sp[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	cm = n == sizeof(e) && e == 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(fds)))
		return dv_err(err, e ? e : EPROTO, "cannot make a socket in the env's /dev/shm");
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	sock = fds[0];
	shm = fds[1];
	if (pipe2(life, O_CLOEXEC) < 0) {
		unlinkat(shm, name, 0);
		return dv_err(err, errno, "pipe");
	}
	pid = fork();
	if (pid == 0) {
		close(life[1]);
		relay_main(sock, life[0], shm, name, hosts, self);
	}
	close(life[0]);
	if (pid < 0) {
		close(life[1]);
		unlinkat(shm, name, 0);
		return dv_err(err, errno, "fork");
	}
	out->pid = pid;
	out->lifeline = life[1];
	snprintf(out->path, sizeof(out->path), "/dev/shm/%s", name);
	return 0;
}

void hnet_gitcred_envp(const struct hnet_gitcred *r, struct dv_strv *envp)
{
	unsigned long n = 0;
	size_t at = envp->n;

	/* The Envfile's own GIT_CONFIG_COUNT entries stay; ours comes after. */
	for (size_t i = 0; i < envp->n; i++)
		if (dv_str_startswith(envp->v[i], "GIT_CONFIG_COUNT=")) {
			n = strtoul(envp->v[i] + 17, NULL, 10);
			at = i;
		}
	if (at < envp->n) {
		free(envp->v[at]);
		envp->v[at] = dv_xasprintf("GIT_CONFIG_COUNT=%lu", n + 1);
	} else {
		dv_strv_push(envp, "GIT_CONFIG_COUNT=1");
	}
	dv_strv_push_owned(envp, dv_xasprintf("GIT_CONFIG_KEY_%lu=credential.helper", n));
	dv_strv_push_owned(envp, dv_xasprintf("GIT_CONFIG_VALUE_%lu=cache --socket %s", n, r->path));
}

void hnet_gitcred_stop(struct hnet_gitcred *r)
{
	if (r->lifeline >= 0)
		close(r->lifeline);
	if (r->pid > 0)
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
	*r = (struct hnet_gitcred){ .lifeline = -1 };
}
