/*
 * env/dotfiles.c - the user's dotfiles (config.yaml `dotfiles`, envfile/
 * userconfig.c) in an env, as the devcontainer CLI's --dotfiles-repository
 * does it: on the env's first start the repository is cloned on the host
 * (libgit2, as a `git` step is: provision/git.c) into a staging folder of
 * the store, never into the project's layers; sent into the running env as
 * a tar on the stdin of `tar -x` run there as the env's user (root, or
 * `user:`), into `target` (~/dotfiles); then its install script runs there
 * (`install`, else the first of install.sh, install, bootstrap.sh,
 * bootstrap, script/bootstrap, setup.sh, setup, script/setup), else each
 * top-level dotfile of it is symlinked into the home.
 *
 * Only bytes cross into the env: no host fd, no host path, no host process
 * in it. It runs after `up` let go of its locks, as on_up does (an install
 * script may take long), and takes the env's lock again to record it. The copy and the script run as any `devenv ssh` command does
 * (ctr_exec: the env's namespaces, sandbox and user), with on_up's output
 * handling (terminal, made safe, and the env's log).
 *
 * Once per upper: state.json's `dotfiles` ("COMMIT URL") says it is done;
 * an upper reset (new layers, a new user namespace map) clears it, and
 * `reload` does it again (with the repository's current commit). The files
 * stay in the env's upper: `commit` takes them along as any file of the
 * env; `push` (the provisioning steps only) never.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* Run inside by /bin/sh: $1 the target (~/... or absolute), $2 the install
 * command or "". The tar arrives on stdin; the install script gets none. */
static const char script[] =
	"set -e\n"
	"t=$1\n"
	"case $t in \"~/\"*) t=$HOME/${t#\"~/\"} ;; esac\n"
	"command -v tar >/dev/null 2>&1 || {\n"
	"  echo \"devenv: this env has no 'tar', which copying your dotfiles in needs\" >&2\n"
	"  exit 127\n"
	"}\n"
	"mkdir -p \"$t\"\n"
	"cd \"$t\"\n"
	"tar -xf -\n"
	"exec </dev/null\n"
	"if [ -n \"$2\" ]; then exec /bin/sh -c \"$2\"; fi\n"
	"for f in install.sh install bootstrap.sh bootstrap script/bootstrap setup.sh setup "
	"script/setup; do\n"
	"  if [ -f \"$f\" ]; then chmod +x \"$f\"; exec \"./$f\"; fi\n"
	"done\n"
	"for f in .[!.]* ..?*; do\n"
	"  [ -e \"$f\" ] || [ -L \"$f\" ] || continue\n"
	"  case $f in .git|.github|.gitmodules) continue ;; esac\n"
	"  ln -sfn \"$t/$f\" \"$HOME/$f\"\n"
	"done\n";

bool env_dotfiles_due(const struct env *env)
{
	return env->spec.dotfiles &&
	       (env->refresh_git || !env->state.dotfiles || !env->state.dotfiles[0]);
}

/* The repository cloned (at its current commit: *commit) and written as a
 * tar into a file of the staging folder `name`: its fd, at offset 0. */
static int clone_tar(const struct layer_store *st, const struct env_dotfiles *d, const char *name,
		     char commit[41], struct dv_error *err)
{
	struct env_step step = { .kind = ENV_STEP_GIT,
				 .git = d->repository,
				 .to = "/",
				 .line = d->line,
				 .col = d->col };
	struct env_spec tmp = { .display = d->config, .provision = &step, .n_provision = 1 };
	dv_autofree char *dir = layer_staging_path(st, name, "diff");
	dv_autofree char *tar = layer_staging_path(st, name, "dotfiles.tar");
	dv_autofree char *src = NULL;
	char diff_id[65];
	int fd = -1;

	/* Asked every time: a first start or a reload wants what is there now. */
	if (prov_git_resolve(st, &tmp, true, err) < 0)
		goto out;
	snprintf(commit, 41, "%s", step.git_commit);
	if (prov_git_clone(&tmp, &step, dir, &src, err) < 0)
		goto out;
	fd = open(tar, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		dv_err(err, errno, "cannot create '%s'", tar);
		goto out;
	}
	if (layer_export_dir(st, src, fd, diff_id, NULL, err) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		if (!err->msg[0])
			dv_err(err, errno, "cannot read '%s'", tar);
		close(fd);
		fd = -1;
	}
out:
	free(step.git_commit);
	if (fd < 0) {
		dv_err_prefix(err, "dotfiles");
		err->status = 1; /* not the config's fault: a clone or the store */
	}
	return fd;
}

/* The script in the env as its user, stdin the tar: its exit status. */
static int run_in_env(const struct dv_ctx *ctx, const struct env *env, int tar_fd, int log_fd,
		      int *status, struct dv_error *err)
{
	const struct env_dotfiles *d = env->spec.dotfiles;
	char *argv[] = { "/bin/sh",
			 "-c",
			 (char *)script,
			 "devenv-dotfiles",
			 d->target,
			 d->install ? d->install : "",
			 NULL };
	struct dv_strv envp = { 0 };
	struct ctr_owner owner;
	int ret;

	prov_step_envp(&env->spec, NULL, &envp);
	struct ctr_exec x = { .argv = argv,
			      .envp = envp.v,
			      .cwd = "/",
			      .tee_fd = log_fd,
			      .tee_only = ctx->quiet,
			      .filter = true,
			      .user = env->state.user && env->state.user[0] ? env->state.user : NULL,
			      .owner = env_record_owner(&env->state, &owner) };
	ret = env_exec_child(env, &x, tar_fd, status, NULL, err);
	dv_strv_release(&envp);
	return ret;
}

/* Record them in, under the env's lock again (it was let go before, as
 * for on_up), unless the env was halted or started anew meanwhile: that
 * upper or init is not the one they went into. */
static int mark_done(const struct layer_store *st, struct env *env, int efd, const char *commit,
		     struct dv_error *err)
{
	struct ctr_init init = env->state.init;
	int ret = 0;

	if (env_lock(st, env, err) < 0)
		return -1;
	if (env->has_state && env->state.init.pid == init.pid &&
	    env->state.init.start_time == init.start_time) {
		free(env->state.dotfiles);
		env->state.dotfiles = dv_xasprintf("%s %s", commit, env->spec.dotfiles->repository);
		ret = env_record_write(efd, &env->state, err);
	}
	close(env->lock_fd);
	env->lock_fd = -1;
	return ret;
}

int env_dotfiles_apply(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		       int efd, int log_fd, struct dv_error *err)
{
	const struct env_dotfiles *d = env->spec.dotfiles;
	dv_autofree char *name = NULL;
	dv_autoclose int tar = -1;
	struct dv_error ignored = { 0 };
	struct dv_buf shown = { 0 };
	char commit[41] = "";
	int status = 0, ret = -1;

	if (!env_dotfiles_due(env))
		return 0;
	if (layer_staging_new(st, &name, err) < 0)
		return -1;
	dv_buf_add_safe(&shown, d->repository, strlen(d->repository));
	if (!ctx->quiet) {
		printf("[dotfiles] %s into %s\n", shown.s, d->target);
		fflush(stdout);
	}
	if (log_fd >= 0)
		dprintf(log_fd, "[dotfiles] %s into %s\n", d->repository, d->target);
	if ((tar = clone_tar(st, d, name, commit, err)) < 0 ||
	    run_in_env(ctx, env, tar, log_fd, &status, err) < 0)
		goto out;
	if (status == 125 && ctr_probe(&env->state.init) != CTR_RUNNING) {
		dv_err(err, ESRCH,
		       "env '%s' was halted or suspended by another command while your dotfiles "
		       "were copied in",
		       env->spec.name);
		goto out;
	}
	if (status != 0) {
		dv_err_at(err, d->config, d->line, d->col,
			  "dotfiles '%s': copying them in or their install script failed with exit "
			  "status %d; the env is running (on_up did not run), see 'devenv logs'; "
			  "'devenv reload' tries again",
			  shown.s, status);
		err->status = 1;
		goto out;
	}
	ret = mark_done(st, env, efd, commit, err);
out:
	layer_staging_discard(st, name, &ignored);
	dv_buf_release(&shown);
	return ret;
}
