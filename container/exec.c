/*
 * container/exec.c - ctr_exec: run a command in a running env (ssh, on_up).
 *
 * The hot path of `devenv ssh`: pidfd_open, start-time check, join the
 * cgroups, one setns into every namespace, fork, exec. After setns we are
 * inside the container's mount namespace, where every file belongs to the
 * image: nothing below loads a library or asks NSS (no getpwnam, no
 * execvp's locale/NSS-free but environ-bound search: our own PATH walk).
 * A --user is looked up by parsing the env's /etc/passwd (user.c); the
 * child sets its groups, gid and uid last, after the checkout's view of
 * its own (session.c), which is prepared on the host's side before setns.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer checks at exit from a thread that ptraces this process.
 * Once ctr_exec made us non-dumpable and moved our children into the env's
 * pid namespace, that thread cannot attach and the check waits forever: it
 * is off from there (ASan builds only). */
static bool lsan_off;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return lsan_off;
}
#else
static bool lsan_off __attribute__((unused));
#endif

#define ENTER_NS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)

/* Is the env's namespace of this kind (ns: "user", "net") another than
 * ours? A rootless env lives in a user namespace of its own
 * (util/userns.h): joining it comes first, in the same setns, and gives us
 * root there. `network: private` gives the env a network namespace of its
 * own, to be joined too; a `host` env's is ours, which a rootless devenv
 * could not "join" (setns needs rights over the host's namespace). */
static bool in_other_ns(pid_t pid, const char *ns)
{
	char path[48], own[32];
	struct stat self, env;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	snprintf(own, sizeof(own), "/proc/self/ns/%s", ns);
	return stat(own, &self) == 0 && stat(path, &env) == 0 &&
	       (self.st_ino != env.st_ino || self.st_dev != env.st_dev);
}

/* execvpe with the PATH of the command's own environment. */
static int exec_lookup(char *const *argv, char *const *envp)
{
	const char *path = CTR_DEFAULT_PATH, *p;
	char buf[4096];
	int saved = ENOENT;
	size_t i, nlen = strlen(argv[0]);

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		return errno;
	}
	for (i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], "PATH=", 5))
			path = envp[i] + 5;
	for (p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		if (dlen + nlen + 3 <= sizeof(buf)) {
			memcpy(buf, p, dlen);
			if (!dlen) /* an empty entry is the current folder */
				buf[dlen++] = '.';
			if (buf[dlen - 1] != '/')
				buf[dlen++] = '/';
			memcpy(buf + dlen, argv[0], nlen + 1);
			execve(buf, argv, envp);
			/* As execvp: remember "permission denied", keep looking
			 * past what is missing, stop at anything else. */
			if (errno == EACCES)
				saved = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP &&
				 errno != ENAMETOOLONG)
				return errno;
		}
		if (!*end)
			break;
		p = end;
	}
	return saved;
}

/* Who the child becomes (ctr_exec's --user), and its view of the checkout. */
struct run_as {
	bool set_ids;
	uid_t uid;
	gid_t gid;
	gid_t groups[33]; /* the primary group first, then the supplementary ones */
	size_t ngroups;
	struct ctr_session view; /* the checkout's idmapped view, when it needs its own */
	char *const *envp;
	/* A rootless env's user namespace, read before joining it: which ids
	 * exist there, and whether setgroups is allowed (single-id: not). */
	bool userns, no_setgroups;
	char uid_map[256], gid_map[256];
};

static void read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

/* Is `id` inside one of the map's "inside outside count" lines? */
static bool id_mapped(const char *map, unsigned long id)
{
	unsigned long in, out, count;
	int used;

	while (sscanf(map, " %lu %lu %lu%n", &in, &out, &count, &used) == 3) {
		if (id >= in && id - in < count)
			return true;
		map += used;
	}
	return false;
}

static void read_userns(pid_t pid, struct run_as *ra)
{
	char path[48], sg[16];

	ra->userns = true;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	read_small(path, ra->uid_map, sizeof(ra->uid_map));
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	read_small(path, ra->gid_map, sizeof(ra->gid_map));
	snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
	read_small(path, sg, sizeof(sg));
	ra->no_setgroups = !strncmp(sg, "deny", 4);
}

/* The idmapped view of the checkout: needs CAP_SYS_ADMIN, so it comes
 * before the sandbox takes that away. */
static int become_mounts(struct run_as *ra)
{
	return ctr_session_attach(&ra->view);
}

/* The user's ids, after the sandbox: CAP_SETUID/CAP_SETGID are in the
 * default set and the filter allows set*id, and a uid other than 0 leaves
 * the process no capabilities at all (no keep-caps). */
static int become_ids(const struct run_as *ra)
{
	/* Root keeps no supplementary group of the host's (a single-id user
	 * namespace forbids setgroups: it has no other group to keep). */
	if (!ra->set_ids && setgroups(0, NULL) < 0 && errno != EPERM)
		return errno;
	if (ra->set_ids && ((!ra->no_setgroups && setgroups(ra->ngroups, ra->groups) < 0) ||
			    setresgid(ra->gid, ra->gid, ra->gid) < 0 ||
			    setresuid(ra->uid, ra->uid, ra->uid) < 0))
		return errno;
	return 0;
}

static _Noreturn void child(const struct ctr_exec *x, struct run_as *ra, int master,
			    int outw, int errw, const sigset_t *old)
{
	int e, sig;

	if (master >= 0) {
		int slave;

		setsid();
		/* The peer of our master, without a path lookup in the container. */
		slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
		if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0 || dup2(slave, 0) < 0 ||
		    dup2(slave, 1) < 0 || dup2(slave, 2) < 0) {
			e = errno;
			goto fail;
		}
	} else if (outw >= 0) {
		if (dup2(outw, 1) < 0 || dup2(outw, 2) < 0) {
			e = errno;
			goto fail;
		}
	}
	/* Only 0, 1, 2 reach the command; the error pipe closes on exec. */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, old, NULL);
	if ((e = become_mounts(ra)) != 0)
		goto fail;
	{
		struct dv_error serr = { 0 };

		if (ctr_sandbox_apply(x->sandbox, &serr) < 0) {
			e = serr.errnum ? serr.errnum : EPERM;
			goto fail;
		}
	}
	if ((e = become_ids(ra)) != 0)
		goto fail;
	/* setns put our root and cwd at the env's root; nothing of the host's
	 * stays reachable through the working directory (CVE-2024-21626). */
	if (!x->cwd || chdir(x->cwd) < 0)
		if (chdir("/") < 0) {
			/* "/" always exists */
		}
	e = exec_lookup(x->argv, ra->envp);
fail:
	if (write(errw, &e, sizeof(e)) < 0) {
		/* nothing left to tell */
	}
	_exit(127);
}

static void set_winsize(int from, int to)
{
	struct winsize ws;

	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

static bool copy_out(int from, int to, int tee)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	struct dv_error ignored = { 0 };

	if (n <= 0)
		return n < 0 && (errno == EINTR || errno == EAGAIN);
	dv_write_full(to, buf, (size_t)n, &ignored);
	if (tee >= 0)
		dv_write_full(tee, buf, (size_t)n, &ignored);
	return true;
}

/* Relay until the child has exited and its output is drained. master: the
 * pty (or -1), out: the tee pipe (or -1). Returns the child's raw status. */
static int relay(pid_t pid, int sfd, int master, int out, int tee, struct dv_error *err)
{
	struct pollfd p[3];
	bool in_open = master >= 0, exited = false;
	int st = 0, data = master >= 0 ? master : out;

	for (;;) {
		nfds_t n = 0;
		int r;

		p[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (data >= 0)
			p[n++] = (struct pollfd){ .fd = data, .events = POLLIN };
		if (in_open)
			p[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
		/* After the child has gone, only drain what is already there: a
		 * background process may keep the pty open forever. */
		r = poll(p, n, exited ? 0 : -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return dv_err(err, errno, "poll");
		if (exited && (r == 0 || data < 0))
			return st;
		if (p[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH && master >= 0)
					set_winsize(0, master);
				else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP)
					kill(pid, (int)si.ssi_signo);
			}
			if (!exited && waitpid(pid, &st, WNOHANG) == pid)
				exited = true;
		}
		if (data >= 0 && p[1].revents) {
			if (!copy_out(data, 1, tee)) {
				/* EOF (pipe) or EIO (pty without slaves) */
				data = -1;
				if (!exited) {
					if (dv_waitpid(pid, &st, err) < 0)
						return -1;
					exited = true;
				}
			}
		}
		if (in_open && p[n - 1].revents) {
			if (!copy_out(0, master, -1))
				in_open = false;
		}
	}
}

/* Who the command runs as, read before entering the env when the checkout
 * needs a view of its own (its clones come from the host's side): the
 * env's /etc/passwd through the init's root. NULL user: root. */
static int resolve_early(pid_t pid, const char *user, struct ctr_ids *ids, struct dv_error *err)
{
	char path[48];
	dv_autoclose int root = -1;

	memset(ids, 0, sizeof(*ids));
	if (!user)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return dv_err(err, errno, "cannot open the env's root");
	return ctr_user_resolve_in(root, user, ids, err);
}

/* Inside the env: ids (x->user resolved), its environment. */
static int run_as_user(const struct ctr_exec *x, const struct ctr_ids *ids, struct run_as *ra,
		       struct dv_strv *envp, struct dv_error *err)
{
	if (ra->userns && (!id_mapped(ra->uid_map, ids->uid) || !id_mapped(ra->gid_map, ids->gid)))
		return dv_err_plain(err, EINVAL,
				    "uid %u or gid %u does not exist in this rootless env's user "
				    "namespace (it holds root and your /etc/subuid range; with a "
				    "single-id map, root only)",
				    (unsigned)ids->uid, (unsigned)ids->gid);
	ra->set_ids = true;
	ra->uid = ids->uid;
	ra->gid = ids->gid;
	ra->groups[0] = ids->gid;
	ra->ngroups = 1;
	for (size_t i = 0; i < ids->ngroups; i++) /* rootless: only those that exist there */
		if (!ra->userns || id_mapped(ra->gid_map, ids->groups[i]))
			ra->groups[ra->ngroups++] = ids->groups[i];
	for (size_t i = 0; x->envp && x->envp[i]; i++)
		if (strncmp(x->envp[i], "HOME=", 5) && strncmp(x->envp[i], "USER=", 5) &&
		    strncmp(x->envp[i], "LOGNAME=", 8))
			dv_strv_push(envp, x->envp[i]);
	dv_strv_push_owned(envp, dv_xasprintf("HOME=%s", ids->home));
	if (ids->name[0]) {
		dv_strv_push_owned(envp, dv_xasprintf("USER=%s", ids->name));
		dv_strv_push_owned(envp, dv_xasprintf("LOGNAME=%s", ids->name));
	}
	ra->envp = envp->v;
	return 0;
}

int ctr_exec(const struct ctr_init *init, const struct dv_strv *cgroups,
	     const struct ctr_exec *x, int *status, struct dv_error *err)
{
	dv_autoclose int pidfd = ctr_pidfd_checked(init, err);
	dv_autoclose int master = -1;
	dv_autoclose int sfd = -1;
	struct run_as ra = { .view = { .checkout = -1 }, .envp = x->envp };
	struct ctr_ids ids;
	struct dv_strv envp = { 0 };
	int errp[2] = { -1, -1 }, outp[2] = { -1, -1 }, st = 0, e = 0, ret = -1;
	struct termios saved_tio;
	bool raw = false, join_userns = false;
	sigset_t mask, old;
	pid_t pid;
	ssize_t n;

	if (pidfd < 0)
		return -1;
	if (!x->argv || !x->argv[0])
		return dv_err(err, EINVAL, "no command to run");
	/* Our child would freeze on joining: report, never wait (DESIGN.md). */
	if (ctr_cgroup_frozen(cgroups)) {
		dv_err(err, 0, "env is suspended; run 'devenv resume' first");
		err->errnum = EBUSY;
		return -1;
	}
	/* Before setns: the cgroup namespace we enter is rooted where we are. */
	if (ctr_cgroup_join(cgroups, 0, err) < 0)
		return -1;
	/* The checkout's view: its clones must come from the host's side. */
	if (x->owner && resolve_early(init->pid, x->user, &ids, err) < 0)
		return -1;
	if (x->owner && ctr_session_prepare(x->owner, ids.uid, ids.gid, &ra.view, err) < 0)
		return dv_err_prefix(err, "the checkout's view for uid %u", (unsigned)ids.uid);
	lsan_off = true;
	/* Our child is devenv, in the env's pid namespace, until it execs: not
	 * dumpable, nothing there can open its /proc/PID/exe (the host's
	 * binary) or its memory (the CVE-2019-5736 class). exec resets it. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		ctr_session_release(&ra.view);
		return dv_err(err, errno, "prctl");
	}
	if (in_other_ns(init->pid, "user")) {
		join_userns = true;
		if (x->user) /* which ids it has: only a --user needs to know */
			read_userns(init->pid, &ra);
	}
	if (setns(pidfd, ENTER_NS | (join_userns ? CLONE_NEWUSER : 0) |
			 (in_other_ns(init->pid, "net") ? CLONE_NEWNET : 0)) < 0) {
		ctr_session_release(&ra.view);
		return dv_err(err, errno, "cannot enter the env");
	}
	if ((x->user && !x->owner && ctr_user_resolve(x->user, &ids, err) < 0) ||
	    (x->user && run_as_user(x, &ids, &ra, &envp, err) < 0)) {
		ctr_session_release(&ra.view);
		dv_strv_release(&envp);
		return -1;
	}
	if (x->tty) {
		/* The container's devpts, now that we are in its mount namespace. */
		master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || unlockpt(master) < 0) {
			dv_err(err, errno, "cannot allocate a terminal in the env");
			ctr_session_release(&ra.view);
			dv_strv_release(&envp);
			return -1;
		}
		set_winsize(0, master);
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGWINCH);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	/* Without a pty the terminal sends ^C and ^\ to the command too, and we
	 * wait for its status; with one they are bytes, and a stray signal must
	 * not leave the terminal raw. */
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &mask, &old) < 0) {
		dv_err(err, errno, "sigprocmask");
		ctr_session_release(&ra.view);
		dv_strv_release(&envp);
		return -1;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		dv_err(err, errno, "signalfd");
		goto out;
	}
	if (pipe2(errp, O_CLOEXEC) < 0 ||
	    (!x->tty && x->tee_fd >= 0 && pipe2(outp, O_CLOEXEC) < 0)) {
		dv_err(err, errno, "pipe");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		dv_err(err, errno, "fork");
		goto out;
	}
	if (pid == 0)
		child(x, &ra, master, outp[1], errp[1], &old);
	close(errp[1]);
	errp[1] = -1;
	if (outp[1] >= 0) {
		close(outp[1]);
		outp[1] = -1;
	}
	do
		n = read(errp[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == sizeof(e)) {
		dv_waitpid(pid, &st, &(struct dv_error){ 0 });
		fprintf(stderr, "devenv: cannot run '%s': %s\n", x->argv[0], strerror(e));
		*status = e == ENOENT ? 127 : 126;
		ret = 0;
		goto out;
	}
	if (master >= 0 && isatty(0) && tcgetattr(0, &saved_tio) == 0) {
		struct termios tio = saved_tio;

		cfmakeraw(&tio);
		raw = tcsetattr(0, TCSADRAIN, &tio) == 0;
	}
	st = relay(pid, sfd, master, outp[0], x->tee_fd, err);
	if (st < 0)
		goto out;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	ret = 0;
out:
	if (raw)
		tcsetattr(0, TCSADRAIN, &saved_tio);
	if (sfd >= 0) {
		/* Consume what we blocked, so that restoring the mask delivers nothing. */
		struct signalfd_siginfo si;

		while (read(sfd, &si, sizeof(si)) > 0) {
		}
	}
	for (int i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	ctr_session_release(&ra.view);
	dv_strv_release(&envp);
	return ret;
}
