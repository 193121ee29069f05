/*
 * env/sweep.c - when and where ctr_sweep() runs (container/chown.c).
 *
 * "chown" ownership (no idmapped mounts here): after each `ssh` and
 * `on_up` command (what changed since it started), and at `halt`/`destroy`
 * once every process of the env is gone (what changed since the env
 * started: a background writer is caught then at the latest). "rootless":
 * at `halt`/`destroy` only; between halts the files of the env's non-root
 * users belong to subordinate ids of the host user (README: Without root).
 * A walk after each `ssh` would cost a walk of the whole checkout per
 * command, which a large checkout cannot afford on the hot path, and a
 * subordinate id is no id of anyone else's.
 *
 * The folders are the checkout, the env's host mounts and its services'
 * host binds, as state.json records them, opened in the host's mount
 * namespace as the Envfile's paths are (dv_open_resolved: beneath the
 * checkout, with no symlink on the way), never as the env sees them.
 *
 * env_exec_child() runs one such command (on_up's, the dotfiles' script)
 * with the sweep after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

/* As many as the Envfile has host paths: no limit of ours. */
static void push(struct env_sweep *s, int fd)
{
	s->fds = dv_xrealloc(s->fds, (s->n + 1) * sizeof(*s->fds));
	s->fds[s->n++] = fd;
}

static void add(struct env_sweep *s, const char *checkout, const char *path)
{
	int fd = dv_open_resolved(checkout, path, O_PATH | O_NOFOLLOW);

	if (fd < 0)
		fprintf(stderr,
			"devenv: warning: cannot open '%s' to give its new files to uid %u: %s\n",
			path, (unsigned)s->uid, strerror(errno));
	else
		push(s, fd);
}

void env_sweep_open(const struct env_record *st, const char *when, struct env_sweep *out)
{
	bool rootless = st->ownership && !strcmp(st->ownership, "rootless");
	bool chown = st->ownership && !strcmp(st->ownership, "chown");
	dv_autoclose int root = -1;

	*out = (struct env_sweep){ .procfd = -1 };
	if (!chown && !(rootless && !strcmp(when, "halt")))
		return;
	/* The env's /proc does not show us once we are in its namespaces. */
	out->procfd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	/* Without root we run as root of our user namespace: the host user. */
	out->uid = rootless ? 0 : st->host_uid;
	out->gid = rootless ? 0 : st->host_gid;
	/* After a command, what changed since it started: not since the env
	 * did, which would walk every file an earlier command wrote (and each
	 * sweep's own chown makes it new again) after every `ssh ls`. What a
	 * background writer changes between commands waits for `halt`, which
	 * looks at everything since the start. */
	if (!strcmp(when, "command")) {
		clock_gettime(CLOCK_REALTIME_COARSE, &out->since);
	} else {
		out->since.tv_sec = (time_t)(st->started_ns / 1000000000LL);
		out->since.tv_nsec = (long)(st->started_ns % 1000000000LL);
	}
	root = dv_open_nosymlinks(st->checkout, O_PATH | O_DIRECTORY, 0);
	if (root < 0) {
		fprintf(stderr,
			"devenv: warning: cannot open the checkout '%s' to give its new files "
			"to uid %u: %s\n",
			st->checkout, (unsigned)out->uid, strerror(errno));
		return;
	}
	push(out, dv_steal_fd(&root));
	/* A read-only mount is the one thing the env cannot have written. */
	for (size_t i = 0; i < st->n_mounts; i++)
		if (!st->mounts[i].volume && !st->mounts[i].readonly)
			add(out, st->checkout, st->mounts[i].source);
	for (size_t i = 0; i < st->svc_binds.n; i++)
		add(out, st->checkout, st->svc_binds.v[i]);
}

void env_sweep_run(const struct env_sweep *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct dv_error err = { 0 };

		if (ctr_sweep(s->fds[i], s->procfd, s->uid, s->gid, &s->since, NULL, &err) < 0)
			fprintf(stderr,
				"devenv: warning: cannot give the checkout's new files to uid %u: %s\n",
				(unsigned)s->uid, err.msg);
	}
}

void env_sweep_release(struct env_sweep *s)
{
	for (size_t i = 0; i < s->n; i++)
		close(s->fds[i]);
	free(s->fds);
	if (s->procfd >= 0)
		close(s->procfd);
	*s = (struct env_sweep){ .procfd = -1 };
}

/* An env that stopped without halt (its init died) was never swept: do it
 * before anything records a new start. */
int env_sweep_pending(struct env *env, int efd, struct dv_error *err)
{
	struct env_sweep sw;

	if (!env->has_state || !env->state.sweep_pending ||
	    ctr_probe(&env->state.init) != CTR_STOPPED)
		return 0;
	env_sweep_open(&env->state, "halt", &sw);
	env_sweep_run(&sw);
	env_sweep_release(&sw);
	env->state.sweep_pending = false;
	return env_record_write(efd, &env->state, err);
}

int env_exec_child(const struct env *env, const struct ctr_exec *x, int stdin_fd, int *status,
		   int *enter_errnum, struct dv_error *err)
{
	int wstatus, why[2];
	pid_t pid;

	/* The child tells through it why it could not enter (an errno), so
	 * that a command's own 125 is not taken for devenv's. */
	if (pipe2(why, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(why[0]);
		close(why[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		struct dv_error cerr = { 0 };
		struct ctr_exec cx = *x;
		struct ctr_sandbox sb;
		struct env_sweep sweep;
		int st = 0;

		close(why[0]);
		if (stdin_fd >= 0 && dup2(stdin_fd, 0) < 0)
			_exit(125);
		if (ctr_sandbox_load(env->state.seccomp, env->state.caps, &sb, &cerr) < 0) {
			dv_err_print(&cerr);
			_exit(125);
		}
		sb.nproc = prov_nproc_fallback(&env->state.limits, &env->state.cgroups);
		cx.sandbox = &sb;
		/* Opened here: ctr_exec leaves us in the env's namespaces. */
		env_sweep_open(&env->state, "command", &sweep);
		if (ctr_exec(&env->state.init, &env->state.cgroups, &cx, &st, &cerr) < 0) {
			int e = cerr.errnum ? cerr.errnum : EIO;

			/* halted or suspended: our parent says so */
			if (cerr.errnum != ESRCH && cerr.errnum != EBUSY)
				dv_err_print(&cerr);
			env_sweep_release(&sweep);
			if (write(why[1], &e, sizeof(e)) < 0) {
				/* the parent reads 125 as a failure to enter */
			}
			_exit(125);
		}
		env_sweep_run(&sweep);
		env_sweep_release(&sweep);
		_exit(st > 255 ? 255 : st);
	}
	close(why[1]);
	if (dv_waitpid(pid, &wstatus, err) < 0) {
		close(why[0]);
		return -1;
	}
	*status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	if (enter_errnum) {
		int e = 0;

		*enter_errnum = read(why[0], &e, sizeof(e)) == (ssize_t)sizeof(e) ? e : 0;
	}
	close(why[0]);
	return 0;
}
