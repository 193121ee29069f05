/*
 * container/exec.c - ctr_exec: run a command in a running env (ssh, on_up).
 *
 * The hot path of `devenv ssh`: pidfd_open, start-time check, join the
 * cgroups, one setns into every namespace, fork the supervisor, which forks
 * and execs the command. The command holds no fd of the host's: its stdin,
 * stdout and stderr are pipes (or a pty of the env's) that we relay
 * (relay.c), and it runs in a session of its own; the supervisor stays in
 * the env with it, passes our signals on, and kills its session should we
 * be killed (the lifeline: a pipe whose EOF it reads). After setns we are
 * inside the container's mount namespace, where every file belongs to the
 * image: nothing below loads a library or asks NSS (no getpwnam, no
 * execvp's locale/NSS-free but environ-bound search: our own PATH walk).
 * A --user is looked up by parsing the env's /etc/passwd (user.c); the
 * child sets its groups, gid and uid last, after the checkout's view of
 * its own (session.c), which is prepared on the host's side before setns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
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
	if (ra->set_ids &&
	    ((!ra->no_setgroups && setgroups(ra->ngroups, ra->groups) < 0) ||
	     setresgid(ra->gid, ra->gid, ra->gid) < 0 || setresuid(ra->uid, ra->uid, ra->uid) < 0))
		return errno;
	return 0;
}

/* The supervisor's fds (ctr_fds_place): the command's 0, 1, 2, then these. */
enum { SUP_ERRW = 3, SUP_LIFE = 4, SUP_NFDS = 5 };

/* The command: a session of its own (with the env's pty as its controlling
 * terminal when it has one), so that no terminal of the host's is its. */
static _Noreturn void command(const struct ctr_exec *x, const struct run_as *ra, bool tty,
			      const sigset_t *old)
{
	int e, sig;

	if (setsid() < 0 || (tty && ioctl(0, TIOCSCTTY, 0) < 0)) {
		e = errno;
		goto fail;
	}
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, old, NULL);
	/* setns put our root and cwd at the env's root; nothing of the host's
	 * stays reachable through the working directory (CVE-2024-21626). */
	if (!x->cwd || chdir(x->cwd) < 0)
		if (chdir("/") < 0) {
			/* "/" always exists */
		}
	e = exec_lookup(x->argv, ra->envp);
fail:
	if (write(SUP_ERRW, &e, sizeof(e)) < 0) {
		/* nothing left to tell */
	}
	_exit(127);
}

/* Is process pid of procfd (the env's /proc) alive, in session sid? */
static bool in_session(int procfd, long pid, pid_t sid)
{
	char path[32], buf[512], *p, state;
	long s;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%ld/stat", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* "pid (comm) state ppid pgrp session ...": comm may hold anything */
	p = strrchr(buf, ')');
	return p && sscanf(p + 1, " %c %*d %*d %ld", &state, &s) == 2 && s == sid && state != 'Z' &&
	       state != 'X';
}

/* SIGKILL to every process of the command's session, found in the env's
 * /proc, until a look finds none left (what forked meanwhile is found by
 * the next). The pidfd is opened before the check: a pid reused between
 * the two is never signalled. One we may not signal does not count. */
static void kill_session(pid_t sid)
{
	kill(-sid, SIGKILL);
	for (int round = 0; round < 1000; round++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		bool found = false;

		if (!d)
			return;
		while ((de = readdir(d))) {
			char *end;
			long pid = strtol(de->d_name, &end, 10);
			int pfd;

			if (pid <= 0 || *end || pid == getpid())
				continue;
			pfd = pidfd_open((pid_t)pid, 0);
			if (pfd < 0)
				continue;
			if (in_session(dirfd(d), pid, sid))
				found |= pidfd_send_signal(pfd, SIGKILL, NULL, 0) == 0;
			close(pfd);
		}
		closedir(d);
		if (!found)
			return;
		/* Give what was killed a moment to go (a process in D state
		 * stays until its I/O ends) rather than spin on /proc. */
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	}
}

/* The supervisor's wait: for the command's end, whose status it exits
 * with (128+signal when signalled); for signals from devenv to pass on; or
 * for the lifeline's EOF (devenv was killed), and then the command's
 * session goes too, as an ssh session goes with its connection. */
static _Noreturn void watch(pid_t cmd)
{
	int pidfd = pidfd_open(cmd, 0), st = 0;
	struct pollfd p[2] = { { .fd = SUP_LIFE, .events = POLLIN },
			       { .fd = pidfd, .events = POLLIN } };
	pid_t done = 0;

	for (;;) {
		/* Without a pidfd (a seccomp profile may forbid it): look every 50 ms. */
		int r = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 50);

		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && p[0].revents) {
			unsigned char b[64];
			ssize_t n = read(SUP_LIFE, b, sizeof(b));

			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				kill_session(cmd);
				break;
			}
			for (ssize_t i = 0; i < n; i++)
				if (b[i] & ~CTR_LIFE_PID)
					kill(b[i] & CTR_LIFE_PID ? cmd : -cmd, b[i] & ~CTR_LIFE_PID);
		}
		if (pidfd >= 0 ? r > 0 && p[1].revents : (done = waitpid(cmd, &st, WNOHANG)) != 0)
			break;
	}
	while (done <= 0 && (done = waitpid(cmd, &st, 0)) < 0 && errno == EINTR) {
	}
	_exit(done < 0 ? 125 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* The supervisor: devenv forked into the env's pid namespace. It stays
 * there for as long as the command runs, so it holds nothing of the
 * host's (no fd but its own pipes) and is never more than the command: it
 * makes the command's view of the checkout, then takes the env's sandbox
 * and the command's ids itself. Not dumpable, so that nothing in the env
 * can trace it or open its /proc files (its exe is the host's devenv: the
 * CVE-2019-5736 class). Every signal is blocked: only devenv, through the
 * lifeline, decides what happens to the command. */
static _Noreturn void supervise(const struct ctr_exec *x, struct run_as *ra, int master,
				const int stdio[3], int errw, int life, const sigset_t *old)
{
	int fds[SUP_NFDS] = { stdio[0], stdio[1], stdio[2], errw, life };
	struct dv_error serr = { 0 };
	sigset_t all;
	pid_t cmd;
	int e;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (setsid() < 0) {
		dv_err(&serr, errno, "cannot start a session for the command");
		goto fail;
	}
	if ((e = become_mounts(ra)) != 0) {
		dv_err(&serr, e, "cannot give the command its view of the checkout");
		goto fail;
	}
	if (x->n_secrets) {
		struct ctr_secret sv[x->n_secrets];

		for (size_t i = 0; i < x->n_secrets; i++) {
			sv[i] = x->secrets[i];
			sv[i].uid = ra->set_ids ? ra->uid : 0;
			sv[i].gid = ra->set_ids ? ra->gid : 0;
		}
		if (ctr_secrets_enter(sv, x->n_secrets, &serr) < 0)
			goto fail;
	}
	if (master >= 0) {
		/* The peer of our master, without a path lookup in the container. */
		int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);

		if (slave < 0) {
			dv_err(&serr, errno, "cannot open the env's terminal");
			goto fail;
		}
		fds[0] = fds[1] = fds[2] = slave;
	}
	if (ctr_fds_place(fds, SUP_NFDS, 3) < 0) {
		dv_err(&serr, errno, "cannot place the command's fds");
		goto fail;
	}
	errw = SUP_ERRW;
	if (ctr_sandbox_apply(x->sandbox, &serr) < 0)
		goto fail;
	if ((e = become_ids(ra)) != 0) {
		dv_err(&serr, e, "cannot become uid %u", (unsigned)ra->uid);
		goto fail;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* a change of uid resets it */
	cmd = fork();
	if (cmd < 0) {
		dv_err(&serr, errno, "fork");
		goto fail;
	}
	if (cmd == 0)
		command(x, ra, master >= 0, old);
	/* Its pipes and pty are the command's alone: devenv sees EOF once it
	 * and what it started have closed them. */
	close(0);
	close(1);
	close(2);
	close(SUP_ERRW);
	watch(cmd);
fail:
	/* A whole error (devenv failed: 125), unlike the command's own exec
	 * failure, which is an errno (126, 127); one write, under PIPE_BUF. */
	ctr_child_fail(errw, &serr);
}

/* Is our stdin /dev/null (or closed)? Then the command's is empty from the
 * start, and nothing needs relaying. */
static bool stdin_empty(void)
{
	struct stat sb;

	return fstat(0, &sb) < 0 || (S_ISCHR(sb.st_mode) && sb.st_rdev == makedev(1, 3));
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

/* A closed 0, 1 or 2 would be taken by one of our pipes: /dev/null there
 * (before setns: ours, not the env's). */
static int stdio_open(struct dv_error *err)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return dv_err(err, errno, "cannot open /dev/null");
	return 0;
}

/* pidfd: the init's (ctr_pidfd_checked), ctr_exec's to close. */
static int exec_in(int pidfd, const struct ctr_init *init, const struct dv_strv *cgroups,
		   const struct ctr_exec *x, int *status, struct dv_error *err)
{
	dv_autoclose int master = -1;
	dv_autoclose int sfd = -1;
	struct run_as ra = { .view = { .checkout = -1 }, .envp = x->envp };
	struct ctr_ids ids;
	struct dv_strv envp = { 0 };
	struct ctr_relay r = { .sfd = -1,
			       .life = -1,
			       .master = -1,
			       .in = -1,
			       .out = -1,
			       .err = -1,
			       .hold = -1 };
	struct dv_mask masks[2];
	dv_autofree struct dv_secret *sv = NULL;
	int errp[2] = { -1, -1 }, life[2] = { -1, -1 }, inp[2] = { -1, -1 }, outp[2] = { -1, -1 };
	int errout[2] = { -1, -1 }, st = 0, e = 0, ret = -1;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	struct termios saved_tio;
	bool raw = false, join_userns = false;
	sigset_t mask, old;
	pid_t pid;
	ssize_t n;

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
	/* Our child is devenv, in the env's pid namespace: not dumpable,
	 * nothing there can open its /proc/PID/exe (the host's binary) or its
	 * memory (the CVE-2019-5736 class). The command's exec resets it. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		dv_err(err, errno, "prctl");
		goto out_early;
	}
	if (in_other_ns(init->pid, "user")) {
		join_userns = true;
		if (x->user) /* which ids it has: only a --user needs to know */
			read_userns(init->pid, &ra);
	}
	if (setns(pidfd, ENTER_NS | (join_userns ? CLONE_NEWUSER : 0) |
				 (in_other_ns(init->pid, "net") ? CLONE_NEWNET : 0)) < 0) {
		dv_err(err, errno, "cannot enter the env");
		goto out_early;
	}
	if ((x->user && !x->owner && ctr_user_resolve(x->user, &ids, err) < 0) ||
	    (x->user && run_as_user(x, &ids, &ra, &envp, err) < 0))
		goto out_early;
	if (x->tty) {
		/* The container's devpts, now that we are in its mount namespace. */
		master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || unlockpt(master) < 0) {
			dv_err(err, errno, "cannot allocate a terminal in the env");
			goto out_early;
		}
		ctr_relay_winsize(master);
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGWINCH);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	/* Without a pty ^C and ^\ reach us alone (the command has a session
	 * of its own) and we pass them on; with one they are bytes, and a
	 * stray signal must not leave the terminal raw. */
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &mask, &old) < 0) {
		dv_err(err, errno, "sigprocmask");
		goto out_early;
	}
	/* A reader of ours that went away is the command's to learn about
	 * (ctr_relay_chunk), not a reason for us to die. */
	sigaction(SIGPIPE, &ign, &old_pipe);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		dv_err(err, errno, "signalfd");
		goto out;
	}
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(life, O_CLOEXEC) < 0 ||
	    (!x->tty && (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
			 pipe2(errout, O_CLOEXEC) < 0))) {
		dv_err(err, errno, "pipe");
		goto out;
	}
	/* Nothing to read (on_up; /dev/null): the command's stdin is at EOF. */
	if (!x->tty && (x->no_stdin || stdin_empty())) {
		close(inp[1]);
		inp[1] = -1;
	}
	pid = fork();
	if (pid < 0) {
		dv_err(err, errno, "fork");
		goto out;
	}
	if (pid == 0)
		supervise(x, &ra, master, (const int[3]){ inp[0], outp[1], errout[1] }, errp[1],
			  life[0], &old);
	{
		/* The command's ends of its pipes are its own (and the
		 * supervisor's until it has started it). */
		int *theirs[] = { &errp[1], &life[0], &inp[0], &outp[1], &errout[1] };

		for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
			if (*theirs[i] >= 0) {
				close(*theirs[i]);
				*theirs[i] = -1;
			}
	}
	{
		/* The command's exec failure (an errno), or the supervisor's
		 * own (a whole error): told apart by their sizes. */
		union {
			int e;
			struct dv_error err;
		} got;

		do
			n = read(errp[0], &got, sizeof(got));
		while (n < 0 && errno == EINTR);
		if (n == sizeof(got.e)) {
			struct dv_buf shown = { 0 }; /* the Envfile's shell, or the user's command */

			e = got.e;
			dv_waitpid(pid, &st, &(struct dv_error){ 0 });
			dv_buf_add_safe(&shown, x->argv[0], strlen(x->argv[0]));
			fprintf(stderr, "devenv: cannot run '%s': %s\n", shown.s, strerror(e));
			dv_buf_release(&shown);
			*status = e == ENOENT ? 127 : 126;
			ret = 0;
			goto out;
		}
		if (n == sizeof(got.err)) {
			dv_waitpid(pid, &st, &(struct dv_error){ 0 });
			got.err.msg[sizeof(got.err.msg) - 1] = 0;
			got.err.file[sizeof(got.err.file) - 1] = 0;
			*err = got.err;
			goto out;
		}
	}
	if (x->confine_relay && ctr_relay_confine(err) < 0)
		goto out;
	if (master >= 0 && isatty(0) && tcgetattr(0, &saved_tio) == 0) {
		struct termios tio = saved_tio;

		cfmakeraw(&tio);
		raw = tcsetattr(0, TCSADRAIN, &tio) == 0;
	}
	/* Our own ends: never block on the command's input. */
	if (master >= 0 || inp[1] >= 0)
		fcntl(master >= 0 ? master : inp[1], F_SETFL, O_NONBLOCK);
	r.sfd = sfd;
	r.pid = pid;
	r.life = life[1];
	r.master = master;
	r.in = inp[1];
	r.out = outp[0];
	r.err = errout[0];
	r.tee = x->tee_fd;
	r.quiet = x->tee_fd >= 0 && x->tee_only;
	r.filter = x->filter;
	if (x->n_secrets) {
		/* What is masked: each value, a trailing newline left out. */
		sv = dv_xcalloc(x->n_secrets, sizeof(*sv));
		for (size_t i = 0; i < x->n_secrets; i++) {
			sv[i] = (struct dv_secret){ x->secrets[i].name, x->secrets[i].data,
						    x->secrets[i].len };
			while (sv[i].len > 1 && (sv[i].data[sv[i].len - 1] == '\n' ||
						 sv[i].data[sv[i].len - 1] == '\r'))
				sv[i].len--;
		}
		dv_mask_init(&masks[0], sv, x->n_secrets);
		dv_mask_init(&masks[1], sv, x->n_secrets);
		r.mask = masks;
	}
	r.stdin_open = master >= 0 || inp[1] >= 0;
	r.hold = x->hold_fd > 0 ? x->hold_fd : -1;
	st = ctr_relay_run(&r, err);
	/* It closed what ended. */
	inp[1] = r.in;
	outp[0] = r.out;
	errout[0] = r.err;
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
	/* The lifeline last: should we fail before the supervisor has
	 * exited, its EOF ends the command's session. */
	for (int i = 0; i < 2; i++) {
		int *ours[] = { &errp[i], &inp[i], &outp[i], &errout[i], &life[i] };

		for (size_t j = 0; j < sizeof(ours) / sizeof(ours[0]); j++)
			if (*ours[j] >= 0)
				close(*ours[j]);
	}
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r.mask) {
		dv_mask_release(&masks[0]);
		dv_mask_release(&masks[1]);
	}
out_early:
	ctr_session_release(&ra.view);
	dv_strv_release(&envp);
	return ret;
}

int ctr_exec(const struct ctr_init *init, const struct dv_strv *cgroups, const struct ctr_exec *x,
	     int *status, struct dv_error *err)
{
	/* The init's pidfd, opened once, before anything else (a closed 0, 1
	 * or 2 taken care of first, so that it cannot be one of them): exec_in
	 * enters through it, and we tell by it whether the init is gone when
	 * exec_in fails, perhaps inside the env's mount namespace, whose /proc
	 * does not show the init by its host pid. */
	dv_autoclose int pidfd = stdio_open(err) < 0 ? -1 : ctr_pidfd_checked(init, err);

	if (pidfd < 0)
		return -1;
	if (exec_in(pidfd, init, cgroups, x, status, err) == 0)
		return 0;
	/* An env halted between our liveness check and our entering fails
	 * anywhere on the way in (its cgroups removed: ENODEV or ENOENT; its
	 * pid namespace dying: fork's ENOMEM): that is "not running", not the
	 * step that happened to notice. */
	if (err->errnum != ESRCH && err->errnum != EBUSY && ctr_pidfd_exited(pidfd, 50)) {
		int keep = err->status;

		*err = (struct dv_error){ .status = keep };
		dv_err(err, 0, "env is not running");
		err->errnum = ESRCH;
	}
	return -1;
}
