/*
 * container/ns.c - ctr_start and ctr_run: a child in new mount, pid, uts,
 * ipc and cgroup namespaces that builds the root (overlay.c, mount.c) and
 * becomes the container's PID 1 by executing the embedded init from a
 * sealed memfd.
 *
 * Order, and why:
 *  1. memfd with the init, before anything can fail half-way;
 *  2. clone; the child waits on the sync pipe while the parent puts it in
 *     its cgroups, so that it never runs outside them;
 *  3. the child unshares its cgroup namespace (rooted at the env's cgroup),
 *     makes every mount private, mounts, pivots, and execs the init;
 *  4. the error pipe (close-on-exec) reports the child's first failure
 *     word for word; EOF means the init runs;
 *  5. an env's or a service's init then waits on the commit pipe
 *     (ctr_commit) before it does anything: devenv records it first, so
 *     killed before the byte, nothing of the start stays.
 *
 * No orphan: the child asks for SIGKILL at its parent's death first thing,
 * and holds no write end of the sync pipe nor of the commit pipe (a clone
 * copies every fd, O_CLOEXEC or not): should devenv die before the child
 * asked, the sync read sees EOF; after, the signal comes. A build step's
 * init keeps that signal (it dies with devenv); an env's or a service's
 * child clears it just before the exec (the init reads EOF on the commit
 * pipe should devenv die from then on), and outlives devenv once
 * committed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

extern const unsigned char ctr_init_blob[], ctr_init_blob_end[];

#define CTR_NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC)

/* The init as a sealed memfd: nothing can change it once we have checked
 * nothing, and no file of the host becomes the container's /proc/1/exe. */
static int init_memfd(struct dv_error *err)
{
	size_t len = (size_t)(ctr_init_blob_end - ctr_init_blob);
	dv_autoclose int fd =
		memfd_create("devenv-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);

	if (fd < 0 && errno == EINVAL) /* kernels before 6.3 */
		fd = memfd_create("devenv-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return dv_err(err, errno, "memfd_create");
	if (dv_write_full(fd, ctr_init_blob, len, err) < 0)
		return dv_err_prefix(err, "writing the init");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return dv_err(err, errno, "cannot seal the init");
	return dv_steal_fd(&fd);
}

struct launch {
	const struct ctr_spec *spec;
	const struct ctr_exec *x; /* run or service mode; NULL for an env */
	int memfd, errw, syncr;
	int errr, syncw;      /* the parent's ends: the child closes them */
	int commitr, commitw; /* env and service modes: the commit pipe; -1
				     for a build step */
	int out_fd, err_fd;   /* run and service modes: the command's stdout
				     and stderr, pipes to devenv (a build step) or
				     to the log relay (a service); -1 for an env */
	int status_fd;        /* service mode: the pipe the init writes the
				     exit status to; -1 in the other modes */
	int netns_fd;         /* spec->netns_path opened, or -1 */
	int fusesock;         /* keep-id env: the child's end of the socket
				     its /dev/fuse goes to devenv on; else -1 */
	int out_exit;         /* a build step's slirp4netns: its exit fd's
				     write end, and its pid (launch sets them) */
	pid_t out_pid;
};

static _Noreturn void child_main(const struct launch *l)
{
	static char *const env_argv[] = { "devenv-init", "env", NULL };
	static char *const env_envp[] = { "PATH=" CTR_DEFAULT_PATH, NULL };
	const struct ctr_spec *spec = l->spec;
	struct dv_error err = { 0 };
	char **argv = (char **)env_argv;
	char *const *envp = env_envp;
	bool service = l->status_fd >= 0;
	int errw, mem, out, errout, status, commit;
	int rootfd, skel = -1, null, fuse = -1;
	bool keepid = spec->keepid && !l->x;
	char c;

	/* Before anything can block: devenv's death kills us (the kernel
	 * delivers it to a PID 1 too, from the parent's pid namespace). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The parent's ends: held here, they would keep us from ever seeing
	 * its death as EOF (the sync read), or an uncommitted init alive. */
	close(l->syncw);
	close(l->errr);
	if (l->commitw >= 0)
		close(l->commitw);
	/* Out of the way of 0-4, which we fill last. */
	errw = fcntl(l->errw, F_DUPFD_CLOEXEC, 10);
	mem = fcntl(l->memfd, F_DUPFD_CLOEXEC, 10);
	out = l->x ? fcntl(l->out_fd, F_DUPFD_CLOEXEC, 10) : -1;
	errout = l->x ? fcntl(l->err_fd, F_DUPFD_CLOEXEC, 10) : -1;
	status = service ? fcntl(l->status_fd, F_DUPFD_CLOEXEC, 10) : -1;
	commit = l->commitr >= 0 ? fcntl(l->commitr, F_DUPFD_CLOEXEC, 10) : -1;
	if (errw < 0)
		_exit(1);
	if (mem < 0 || (l->x && (out < 0 || errout < 0)) || (service && status < 0) ||
	    (l->commitr >= 0 && commit < 0))
		ctr_child_fail(errw, (dv_err(&err, errno, "dup"), &err));
	/* Released once the parent has put us in our cgroups; EOF: it gave up,
	 * or died (perhaps before we asked for the signal above). */
	if (read(l->syncr, &c, 1) != 1)
		_exit(1);
	/* keep-id: our user namespace is the env's own, mapped by now. */
	if (keepid && (fuse = ctr_keepid_enter(spec->keepid, &err)) < 0)
		ctr_child_fail(errw, &err);
	/* A service joins its env's network namespace before anything else,
	 * while we still hold every capability of our user namespace. */
	if (l->netns_fd >= 0 && setns(l->netns_fd, CLONE_NEWNET) < 0) {
		/* Without root, each devenv command has a user namespace of its
		 * own, and one cannot join a network namespace another command's
		 * user namespace owns: the env and its services start together. */
		if (errno == EPERM)
			dv_err(&err, errno,
			       "cannot join the env's network namespace from this command; "
			       "'devenv reload' restarts the env with its services");
		else
			dv_err(&err, errno, "cannot join the env's network namespace");
		ctr_child_fail(errw, &err);
	}
	if (unshare(CLONE_NEWCGROUP) < 0)
		ctr_child_fail(errw, (dv_err(&err, errno, "cannot create cgroup namespace"), &err));
	/* `network: private`: the clone gave us a network namespace with only
	 * `lo`, and down; ping there needs no CAP_NET_RAW. */
	if (spec->new_netns && ctr_netns_setup(&err) < 0)
		ctr_child_fail(errw, &err);
	/* First of all, so that no mount of ours ever propagates to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		ctr_child_fail(errw, (dv_err(&err, errno, "cannot make mounts private"), &err));
	rootfd = keepid ? ctr_mount_keepid(spec, fuse, l->fusesock, &skel, &err)
			: ctr_mount_overlay(spec, true, &skel, &err);
	if (keepid) {
		close(fuse);
		close(l->fusesock);
	}
	if (rootfd >= 0 && !l->x && spec->user && ctr_user_ensure(rootfd, spec->user, &err) < 0)
		ctr_child_fail(errw, &err);
	if (rootfd < 0 || ctr_setup_root(spec, rootfd, skel, &err) < 0)
		ctr_child_fail(errw, &err);
	close(rootfd);
	close(skel);

	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		ctr_child_fail(errw, (dv_err(&err, errno, "cannot open /dev/null"), &err));
	/* Every container is a session of its own, with no terminal: nothing
	 * in it can reach the host's (TIOCSTI, job control, a hangup). */
	if (setsid() < 0)
		ctr_child_fail(errw, (dv_err(&err, errno, "setsid"), &err));
	if (l->x) {
		/* A build step: no stdin, its output through pipes that devenv
		 * relays, dies with us. A service outlives devenv like an env,
		 * its output through pipes to its log relay. No fd of the
		 * host's goes in: a file or a terminal could be chowned,
		 * chmodded or written through /proc/self/fd. */
		size_t n = 0, i;

		if (dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(errout, 2) < 0)
			ctr_child_fail(errw, (dv_err(&err, errno, "dup2"), &err));
		if (!l->x->cwd || chdir(l->x->cwd) < 0)
			if (chdir("/") < 0)
				ctr_child_fail(errw, (dv_err(&err, errno, "chdir /"), &err));
		while (l->x->argv[n])
			n++;
		argv = dv_xcalloc(n + 4, sizeof(*argv));
		argv[0] = "devenv-init";
		argv[1] = service ? "service" : "run";
		argv[2] = "--";
		for (i = 0; i < n; i++)
			argv[3 + i] = l->x->argv[i];
		envp = l->x->envp;
	} else {
		/* An env outlives devenv and holds no file of the host's. */
		if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			ctr_child_fail(errw, (dv_err(&err, errno, "dup2"), &err));
	}
	if (ctr_fds_close_from(3, true) < 0)
		ctr_child_fail(errw, (dv_err(&err, errno, "cannot close devenv's fds"), &err));
	if (status >= 0 && dup2(status, 3) < 0)
		ctr_child_fail(errw, (dv_err(&err, errno, "dup2"), &err));
	/* The commit pipe: fd 3 of an env's init, fd 4 of a service's. */
	if (commit >= 0 && dup2(commit, service ? 4 : 3) < 0)
		ctr_child_fail(errw, (dv_err(&err, errno, "dup2"), &err));
	/* An env's or a service's init outlives devenv once committed, and
	 * the commit pipe's EOF tells it of devenv's death before that: it
	 * goes without the signal, which the init could not clear before
	 * devenv, having committed, exits (a race lost under load: the env
	 * died right after `up`). A build step's keeps it across the exec. */
	if (commit >= 0)
		prctl(PR_SET_PDEATHSIG, 0);
	/* Last, so the init and everything under it inherit it. */
	if (ctr_sandbox_apply(spec->sandbox, &err) < 0)
		ctr_child_fail(errw, &err);
	fexecve(mem, argv, envp);
	ctr_child_fail(errw, (dv_err(&err, errno, "cannot run the container's init"), &err));
}

/* Clone the child, put it in its cgroups, release it, and wait until it has
 * exec'd the init. The caller fills l's spec, x, memfd and the run and
 * service modes' fds. *pidfd_out: a pidfd of it. */
static int launch(struct launch *lp, pid_t *pid_out, int *pidfd_out, int *commit_out,
		  struct dv_error *err)
{
	const struct ctr_spec *spec = lp->spec;
	dv_autoclose int pidfd = -1;
	dv_autoclose int netns = -1;
	int errp[2] = { -1, -1 }, syncp[2] = { -1, -1 }, commitp[2] = { -1, -1 }, st;
	int fusep[2] = { -1, -1 };
	bool keepid = spec->keepid && !lp->x;
	/* An env, or a build step, with a network of its own; a service joins
	 * its env's (netns_path). */
	unsigned long nsflags = CTR_NS_FLAGS | (spec->new_netns ? CLONE_NEWNET : 0) |
				(spec->keepid && !lp->x ? CLONE_NEWUSER : 0);
	struct clone_args args = {
		.flags = nsflags | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	struct launch l = *lp;
	pid_t pid;
	int r;

	l.netns_fd = -1;
	l.fusesock = -1;
	if (spec->netns_path) {
		netns = open(spec->netns_path, O_RDONLY | O_CLOEXEC);
		if (netns < 0)
			return dv_err(err, errno, "cannot open network namespace '%s'",
				      spec->netns_path);
		l.netns_fd = netns;
	}
	if (!spec->upper || !spec->work)
		return dv_err(err, EINVAL, "container without an upper folder");
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(syncp, O_CLOEXEC) < 0 ||
	    (commit_out && pipe2(commitp, O_CLOEXEC) < 0)) {
		r = dv_err(err, errno, "pipe");
		goto out;
	}
	l.errw = errp[1];
	l.errr = errp[0];
	l.syncr = syncp[0];
	l.syncw = syncp[1];
	l.commitr = commitp[0];
	l.commitw = commitp[1];
	if (keepid) {
		if (ctr_keepid_skel(spec, err) < 0) {
			r = -1;
			goto out;
		}
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fusep) < 0) {
			r = dv_err(err, errno, "socketpair");
			goto out;
		}
		l.fusesock = fusep[1];
	}
	dv_fault_point("launch.clone");
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0 && (errno == ENOSYS || errno == E2BIG)) {
		pid = (pid_t)syscall(SYS_clone, nsflags | SIGCHLD, 0, 0, 0, 0);
		if (pid > 0)
			pidfd = pidfd_open(pid, 0);
	}
	if (pid < 0) {
		r = dv_err(err, errno, "cannot create the container's namespaces");
		goto out;
	}
	if (pid == 0)
		child_main(&l);
	close(errp[1]);
	close(syncp[0]);
	errp[1] = syncp[0] = -1;
	if (fusep[1] >= 0) { /* the child's: its exit is our EOF */
		close(fusep[1]);
		fusep[1] = -1;
	}
	if (commitp[0] >= 0) {
		close(commitp[0]);
		commitp[0] = -1;
	}
	dv_fault_point("launch.cloned");
	/* What the env needs on the host's side starts now, and overlaps the
	 * cgroup join (a first writer waits for an RCU grace period, ~10 ms
	 * here) and the child's set-up. */
	if (!lp->x && spec->on_clone) {
		struct ctr_init born = { .pid = pid };

		ctr_start_time(pid, &born.start_time);
		spec->on_clone(&born, spec->on_clone_arg);
	}
	/* A build step's outbound traffic, ready before the step runs (it is
	 * held at the sync pipe until then). */
	if (lp->x && lp->status_fd < 0 && spec->new_netns && spec->outbound &&
	    ctr_outbound_start(spec->outbound, spec->outbound_pasta, pid, &lp->out_exit,
			       &lp->out_pid, err) < 0) {
		kill(pid, SIGKILL);
		dv_waitpid(pid, &st, &(struct dv_error){ 0 });
		r = dv_err_prefix(err, "the step's network");
		goto out;
	}
	dv_fault_point("launch.cgroup");
	if (pidfd < 0 || ctr_cgroup_join(spec->cgroups, pid, err) < 0) {
		if (pidfd < 0)
			dv_err(err, errno, "pidfd_open");
		kill(pid, SIGKILL);
		dv_waitpid(pid, &st, &(struct dv_error){ 0 });
		r = -1;
		goto out;
	}
	dv_fault_point("launch.joined");
	/* keep-id: the env's user namespace gets its maps before the child
	 * does anything in it. */
	if (keepid && ctr_keepid_maps(pid, spec->keepid, err) < 0) {
		kill(pid, SIGKILL);
		dv_waitpid(pid, &st, &(struct dv_error){ 0 });
		r = -1;
		goto out;
	}
	if (write(syncp[1], "g", 1) != 1) {
		r = dv_err(err, errno, "cannot start the container");
		kill(pid, SIGKILL);
		dv_waitpid(pid, &st, &(struct dv_error){ 0 });
		goto out;
	}
	close(syncp[1]);
	syncp[1] = -1;
	dv_fault_point("launch.released");
	/* keep-id: the child mounts its root and sends the device; the server
	 * must run before the child can read that root. */
	r = keepid ? ctr_keepid_serve(spec, fusep[0], err) : 1;
	if (r < 0) {
		kill(pid, SIGKILL);
		dv_waitpid(pid, &st, &(struct dv_error){ 0 });
		goto out;
	}
	r = ctr_child_result(errp[0], err);
	if (r != 0) {
		kill(pid, SIGKILL);
		dv_waitpid(pid, &st, &(struct dv_error){ 0 });
		r = -1;
		goto out;
	}
	dv_fault_point("launch.exec");
	*pid_out = pid;
	*pidfd_out = dv_steal_fd(&pidfd);
	if (commit_out) {
		*commit_out = commitp[1];
		commitp[1] = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (syncp[i] >= 0)
			close(syncp[i]);
		if (commitp[i] >= 0)
			close(commitp[i]);
		if (fusep[i] >= 0)
			close(fusep[i]);
	}
	return r;
}

int ctr_commit(int *commit_fd, struct dv_error *err)
{
	ssize_t n;

	if (*commit_fd < 0)
		return 0;
	do
		n = write(*commit_fd, "c", 1);
	while (n < 0 && errno == EINTR);
	close(*commit_fd);
	*commit_fd = -1;
	if (n != 1)
		return dv_err(err, n < 0 ? errno : EIO, "the init died before it was committed");
	return 0;
}

int ctr_start(const struct ctr_spec *spec, struct ctr_init *out, int *commit_fd,
	      struct dv_error *err)
{
	dv_autoclose int mem = init_memfd(err);
	dv_autoclose int pidfd = -1;
	struct launch l = { .spec = spec,
			    .memfd = mem,
			    .out_fd = -1,
			    .err_fd = -1,
			    .status_fd = -1,
			    .out_exit = -1 };
	pid_t pid;

	*commit_fd = -1;
	if (mem < 0 || launch(&l, &pid, &pidfd, commit_fd, err) < 0)
		return dv_err_prefix(err, "cannot start env '%s'",
				     spec->hostname ? spec->hostname : "");
	if (ctr_start_time(pid, &out->start_time) < 0) {
		int e = errno;

		pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
		dv_waitpid(pid, &(int){ 0 }, &(struct dv_error){ 0 });
		close(*commit_fd);
		*commit_fd = -1;
		return dv_err(err, e, "the env's init died at once");
	}
	out->pid = pid;
	return 0;
}

/* A log relay: the init's `log` mode, run from its memfd in the host's
 * namespaces, in a session of its own and reparented at once (like the
 * network helper). It gets the read ends of the output and status pipes
 * (status_r -1: none), the log, the exit file (or the write end of a pipe
 * that ends with it), the log's folder when capped, and no other fd of
 * ours. */
static int start_log_relay(int mem, int out_r, int status_r, int log_fd, int exit_fd,
			   const struct ctr_logcap *cap, struct dv_error *err)
{
	char size[24], files[12];
	char *argv[] = { "devenv-log", "log", size, files, NULL };
	static char *const envp[] = { NULL };
	pid_t c;
	int st;

	snprintf(size, sizeof(size), "%llu", cap ? cap->max_size : 0);
	snprintf(files, sizeof(files), "%u", cap ? cap->max_files : 0);
	if (!cap || !cap->max_size || !cap->max_files || cap->dir_fd < 0)
		argv[2] = NULL; /* no cap: the log grows */
	c = fork();
	if (c < 0)
		return dv_err(err, errno, "fork");
	if (c == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		const int fds[] = { out_r,
				    null,
				    null,
				    status_r < 0 ? null : status_r,
				    log_fd,
				    exit_fd,
				    argv[2] ? cap->dir_fd : -1,
				    mem };

		/* Not in the checkout or the store, which it would keep busy. */
		if (null < 0 || setsid() < 0 || chdir("/") < 0 || ctr_fds_place(fds, 8, 7) < 0)
			_exit(126);
		c = fork();
		if (c == 0) {
			fexecve(7, argv, envp);
			_exit(127);
		}
		_exit(c < 0 ? 126 : 0);
	}
	if (dv_waitpid(c, &st, err) < 0)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return dv_err(err, EIO, "it could not be set up");
	return 0;
}

int ctr_log_relay(int log_fd, const struct ctr_logcap *cap, int *done_fd, struct dv_error *err)
{
	dv_autoclose int mem = init_memfd(err);
	int outp[2] = { -1, -1 }, donep[2] = { -1, -1 };

	if (mem < 0)
		return -1;
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(donep, O_CLOEXEC) < 0) {
		dv_err(err, errno, "pipe");
		goto fail;
	}
	if (start_log_relay(mem, outp[0], -1, log_fd, donep[1], cap, err) < 0)
		goto fail;
	close(outp[0]);
	close(donep[1]);
	*done_fd = donep[0];
	return outp[1];
fail:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (donep[i] >= 0)
			close(donep[i]);
	}
	return -1;
}

int ctr_start_service(const struct ctr_spec *spec, const struct ctr_exec *x, int status_fd,
		      struct ctr_init *out, int *commit_fd, struct dv_error *err)
{
	dv_autoclose int mem = init_memfd(err);
	dv_autoclose int pidfd = -1;
	struct launch l = { .spec = spec, .x = x, .memfd = mem, .out_exit = -1 };
	int outp[2] = { -1, -1 }, stp[2] = { -1, -1 }, ret = -1;
	pid_t pid;

	*commit_fd = -1;
	if (mem < 0)
		return dv_err_prefix(err, "cannot start service '%s'",
				     spec->hostname ? spec->hostname : "");
	if (status_fd < 0 || spec->log_fd < 0)
		return dv_err(err, EINVAL, "a service needs a log and a status file");
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(stp, O_CLOEXEC) < 0) {
		dv_err(err, errno, "pipe");
		goto out;
	}
	/* First the relay: should the service not start, it sees EOF as
	 * soon as we close our ends, and exits. */
	if (start_log_relay(mem, outp[0], stp[0], spec->log_fd, status_fd, spec->log_cap, err) < 0) {
		dv_err_prefix(err, "cannot start the log relay of service '%s'",
			      spec->hostname ? spec->hostname : "");
		goto out;
	}
	l.out_fd = l.err_fd = outp[1];
	l.status_fd = stp[1];
	if (launch(&l, &pid, &pidfd, commit_fd, err) < 0) {
		dv_err_prefix(err, "cannot start service '%s'",
			      spec->hostname ? spec->hostname : "");
		goto out;
	}
	/* The command may be gone already (a service that exits at once): its
	 * init outlives it only for a moment, which is enough to read this or
	 * not; not running is then what ctr_probe says, and the status file
	 * tells why. */
	if (ctr_start_time(pid, &out->start_time) < 0)
		out->start_time = 0;
	out->pid = pid;
	ret = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (stp[i] >= 0)
			close(stp[i]);
	}
	return ret;
}

/* What is left in the pipes of a container whose init has exited: every
 * writer died with its pid namespace, so this ends at EOF (or at once
 * should something outside still hold a write end). */
static void drain(struct pollfd *p, const int *to, struct dv_term_filter *filt,
		  struct dv_mask *mask, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		while (p[i].fd >= 0 && poll(&p[i], 1, 0) > 0 &&
		       ctr_relay_chunk(p[i].fd, to[i], -1, filt ? &filt[i] : NULL,
				       mask ? &mask[i] : NULL)) {
		}
		if (mask)
			ctr_relay_mask_end(to[i], -1, filt ? &filt[i] : NULL, &mask[i]);
		if (filt)
			ctr_relay_end(to[i], &filt[i]);
	}
}

/* A build step's slirp4netns ends when its exit fd closes (pasta, which
 * daemonised, is told to); reaped, so that nothing of the step is left. */
static void stop_outbound(struct launch *l)
{
	if (l->out_pid <= 0)
		return;
	if (l->out_exit >= 0) {
		close(l->out_exit);
		l->out_exit = -1;
		dv_waitpid(l->out_pid, &(int){ 0 }, &(struct dv_error){ 0 });
	} else {
		kill(l->out_pid, SIGTERM);
	}
	l->out_pid = 0;
}

int ctr_run(const struct ctr_spec *spec, const struct ctr_exec *x, int *status, struct dv_error *err)
{
	static const int to[] = { 1, 2 };
	/* What the step prints is shown to the developer: safe for a terminal. */
	struct dv_term_filter filt_v[2] = { 0 }, *filt = x->filter ? filt_v : NULL;
	/* A step's secrets never reach the developer's terminal (nor -q's
	 * capture): masked first. */
	struct dv_mask masks_v[2], *masks = spec->n_secrets ? masks_v : NULL;
	sigset_t mask, old;
	dv_autoclose int mem = init_memfd(err);
	dv_autoclose int sfd = -1;
	dv_autoclose int pidfd = -1;
	struct launch l = { .spec = spec, .x = x, .memfd = mem, .status_fd = -1, .out_exit = -1 };
	struct pollfd p[4];
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	pid_t pid;
	int st, ret = -1;
	bool interrupted = false;
	dv_autofree struct dv_secret *secrets_v = NULL;

	if (mem < 0)
		return dv_err_prefix(err, "cannot start build container");
	/* Signals arrive through the signalfd only, and kill the container. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
		return dv_err(err, errno, "sigprocmask");
	if (masks) {
		struct dv_secret *sv = dv_xcalloc(spec->n_secrets, sizeof(*sv));

		for (size_t i = 0; i < spec->n_secrets; i++)
			sv[i] = (struct dv_secret){ spec->secrets[i].name, spec->secrets[i].data,
						    spec->secrets[i].len };
		/* A trailing newline is no part of what is masked. */
		for (size_t i = 0; i < spec->n_secrets; i++)
			while (sv[i].len > 1 && (sv[i].data[sv[i].len - 1] == '\n' ||
						 sv[i].data[sv[i].len - 1] == '\r'))
				sv[i].len--;
		secrets_v = sv;
		dv_mask_init(&masks[0], sv, spec->n_secrets);
		dv_mask_init(&masks[1], sv, spec->n_secrets);
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		dv_err(err, errno, "signalfd");
		goto out;
	}
	/* The step's output comes through pipes and we copy it to our stdout
	 * and stderr (a terminal, a file, the -q capture): the step never
	 * holds a host fd it could chmod or TIOCSTI. */
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		dv_err(err, errno, "pipe");
		goto out;
	}
	l.out_fd = outp[1];
	l.err_fd = errp[1];
	if (launch(&l, &pid, &pidfd, NULL, err) < 0) {
		dv_err_prefix(err, "cannot start build container");
		goto out;
	}
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	/* Killed here, the step dies with us (its parent-death signal). */
	dv_fault_point("run.running");
	p[0] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
	p[2] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
	p[3] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (;;) {
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			/* Cannot watch it any more: do not leave it running. */
			dv_err(err, errno, "poll");
			pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
			dv_waitpid(pid, &st, &(struct dv_error){ 0 });
			goto out;
		}
		for (int i = 0; i < 2; i++)
			if (p[i].revents &&
			    !ctr_relay_chunk(p[i].fd, to[i], -1, filt ? &filt[i] : NULL,
					     masks ? &masks[i] : NULL))
				p[i].fd = -1; /* closed below, at out */
		if (p[2].revents)
			break;
		if (p[3].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) > 0) {
				/* PID 1's death takes its whole pid namespace down. */
				pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
				interrupted = true;
				break;
			}
		}
	}
	if (dv_waitpid(pid, &st, err) < 0)
		goto out;
	drain(p, to, filt, masks, 2);
	if (interrupted) {
		dv_err(err, 0, "interrupted");
		err->errnum = EINTR;
		goto out;
	}
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	ret = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	stop_outbound(&l);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (masks) {
		dv_mask_release(&masks[0]);
		dv_mask_release(&masks[1]);
	}
	return ret;
}
