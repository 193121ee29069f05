/*
 * env/halt.c - halt (the env's processes stop, its files stay) and destroy
 * (its folder goes too), of an env whose state.json is damaged as well.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/fault.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int env_halt(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
	     unsigned timeout_s, bool say, struct dv_error *err)
{
	dv_autoclose int efd = env_envs_fd(st);
	struct dv_error warn = { 0 };

	if (env_lock_existing(st, env, err) < 0)
		return -1;
	/* Services go first (they may be using the env's network namespace),
	 * thawed first when the env is suspended: a frozen process takes no
	 * signal. */
	if (env->state.n_services) {
		if (ctr_probe(&env->state.init) == CTR_FROZEN &&
		    ctr_cgroup_freeze(&env->state.cgroups, false, 0, err) < 0)
			return -1;
		if (env_svc_stop(st, env, timeout_s, err) < 0)
			return -1;
	}
	if (ctr_probe(&env->state.init) == CTR_STOPPED) {
		if (say && !ctx->quiet)
			printf("env '%s' is not running\n", env->state.name);
	} else {
		/* A frozen env takes no signal: thaw it first. */
		if (ctr_probe(&env->state.init) == CTR_FROZEN &&
		    ctr_cgroup_freeze(&env->state.cgroups, false, 0, err) < 0)
			return -1;
		if (ctr_stop(&env->state.init, timeout_s, err) < 0)
			return -1;
		if (say && !ctx->quiet)
			printf("env '%s' halted; its files are kept\n", env->state.name);
		/* Its size changes only while it runs: recorded now, for `ls`,
		 * `status` and `df` (env/df.c). */
		env_size_record(st, env->id, "halt");
	}
	/* Every process of the env is gone with its init: what a background
	 * writer left in the checkout is swept now (sweep.c). */
	if (env_sweep_pending(env, efd, err) < 0)
		return -1;
	/* Its forwarder and slirp4netns exit with the init; make sure they are
	 * gone, and the host ports free, before halt returns. */
	if (env->state.net.helper.pid || env->state.net.outbound.pid) {
		env_net_stop(&env->state);
		if (env_record_write(efd, &env->state, err) < 0)
			return -1;
	}
	/* The env is stopped either way; a cgroup that stays busy a moment
	 * longer (a `devenv ssh` still exiting) is removed by the next halt. */
	if (env->state.cgroups.n) {
		if (ctr_cgroup_remove(&env->state.cgroups, &warn) < 0) {
			fprintf(stderr, "devenv: warning: %s\n", warn.msg);
			return 0;
		}
		dv_strv_release(&env->state.cgroups);
		if (env_record_write(efd, &env->state, err) < 0)
			return -1;
	}
	return 0;
}

/* One rename makes the env vanish whole, so a destroy killed half-way
 * never leaves a half-removed env that `up` would boot; gc finishes the
 * removal of an interrupted one. dv_rm_tree_at never follows a link nor
 * crosses a mount, so links the env planted to host paths cannot make it
 * remove anything outside. */
static int remove_env_dir(const struct layer_store *st, const char *id, const char *name,
			  struct dv_error *err)
{
	dv_autoclose int efd = env_envs_fd(st);
	dv_autofree char *staging = NULL;

	if (efd < 0)
		return dv_err(err, errno, "cannot open '%s/envs'", st->root);
	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	{
		dv_autofree char *dest = dv_xasprintf("%s/env", staging);

		if (renameat(efd, id, st->tmp_fd, dest) < 0) {
			dv_err(err, errno, "cannot remove env '%s'", name);
			layer_staging_discard(st, staging, &(struct dv_error){ 0 });
			return -1;
		}
	}
	/* Its lock goes with it, unlinked while the caller holds it: who
	 * waits for it sees it gone once we let go (dv_lock_at), and finds
	 * no env. */
	{
		dv_autofree char *lock = dv_xasprintf("%s.lock", id);

		unlinkat(efd, lock, 0);
	}
	dv_fault_point("destroy.renamed");
	if (layer_staging_discard(st, staging, err) < 0)
		return dv_err_prefix(err, "env '%s' is gone; 'devenv gc' removes its remains", name);
	return 0;
}

int env_destroy(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		struct dv_error *err)
{
	dv_autofree char *name = NULL;
	dv_autofree char *real = NULL;
	char busy[PATH_MAX];

	if (!env->has_state)
		return dv_err_plain(err, ENOENT, "there is no env here to destroy");
	if (env_halt(ctx, st, env, 10, false, err) < 0)
		return -1;
	dv_fault_point("destroy.halted");
	/* A start killed before its commit point may have made the env's
	 * cgroups and not recorded them: they go, whatever state.json says. */
	{
		char cg[PROV_CGROUP_NAME_MAX];
		struct dv_strv cgroups = { 0 };
		struct dv_error warn = { 0 };

		if (env_cgroup_name(st, env->id, cg, &warn) < 0 ||
		    ctr_cgroup_create(cg, NULL, &cgroups, &warn) < 0 ||
		    ctr_cgroup_kill(&cgroups, &warn) < 0 || ctr_cgroup_remove(&cgroups, &warn) < 0)
			fprintf(stderr, "devenv: warning: %s\n", warn.msg);
		dv_strv_release(&cgroups);
	}
	name = dv_xstrdup(env->state.name);
	/* Nothing may be mounted below the env (its mounts live in its own
	 * namespace, so one here was put there by hand): refuse before
	 * removing anything. */
	real = dv_xasprintf("%s/envs/%s", st->root, env->id);
	if (dv_mount_under(real, busy, sizeof(busy)) == 1)
		return dv_err_plain(err, EBUSY,
				    "'%s' is a mount point; unmount it first; nothing was removed",
				    busy);
	if (remove_env_dir(st, env->id, name, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf("env '%s' destroyed (the checkout and named volumes are kept)\n", name);
	return 0;
}

int env_destroy_damaged(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
			struct dv_error *err)
{
	dv_autofree char *dir = dv_xasprintf("%s/envs/%s", st->root, env->id);
	char cgname[PROV_CGROUP_NAME_MAX], busy[PATH_MAX];
	struct dv_strv cgroups = { 0 };
	unsigned killed = 0;
	int ret = -1;

	if (env_lock(st, env, err) < 0)
		return -1;
	if (env->has_state) /* written anew while we waited */
		return dv_err_plain(err, EAGAIN,
				    "env %s was brought up again meanwhile; run the "
				    "command again",
				    env->id);
	if (access(dir, F_OK) < 0 && errno == ENOENT)
		return dv_err_plain(err, ENOENT, "env %s was destroyed meanwhile", env->id);
	/* Its processes, whatever its record said: those in its cgroups
	 * (named from the store's id and its own), and those running on its
	 * files (no cgroup without root unless delegated). Never the cgroups
	 * of an older devenv's name, which another store's env may share. */
	if (env_cgroup_name(st, env->id, cgname, err) < 0 ||
	    ctr_cgroup_create(cgname, NULL, &cgroups, err) < 0 ||
	    ctr_cgroup_kill(&cgroups, err) < 0 || ctr_cgroup_remove(&cgroups, err) < 0 ||
	    ctr_kill_mounting(dir, &killed, err) < 0)
		goto out;
	if (dv_mount_under(dir, busy, sizeof(busy)) == 1) {
		dv_err_plain(err, EBUSY,
			     "'%s' is a mount point; unmount it first; nothing was removed", busy);
		goto out;
	}
	if (remove_env_dir(st, env->id, env->id, err) < 0)
		goto out;
	if (!ctx->quiet)
		printf("damaged env %s destroyed (the checkout and named volumes are kept)\n",
		       env->id);
	ret = 0;
out:
	dv_strv_release(&cgroups);
	return ret;
}
