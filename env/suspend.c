/*
 * env/suspend.c - `suspend` and `resume`: freeze and thaw a running
 * env through its cgroups' freezer. Nothing is stored: whether an env is
 * suspended is read live from the freezer (ctr_probe).
 */
#include <errno.h>
#include <stdio.h>

#include "env/env.h"
#include "util/banned.h"

#define FREEZE_TIMEOUT_MS 10000

int env_suspend(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		bool freeze, struct dv_error *err)
{
	enum ctr_status now;

	if (env_lock_existing(st, env, err) < 0)
		return -1;
	now = ctr_probe(&env->state.init);
	if (now == CTR_STOPPED)
		return dv_err_plain(err, ESRCH, "env '%s' is not running; 'devenv up' starts it",
				    env->state.name);
	if ((now == CTR_FROZEN) == freeze) {
		if (!ctx->quiet)
			printf("env '%s' is %s\n", env->state.name,
			       freeze ? "already suspended" : "not suspended");
		return 0;
	}
	if (ctx->rootless && env->state.cgroups.n == 0)
		return dv_err_plain(err, ENOTSUP,
				    "cannot %s env '%s': without root that needs a cgroup freezer "
				    "delegated to this user, and none is (README: Without root)",
				    freeze ? "suspend" : "resume", env->state.name);
	if (ctr_cgroup_freeze(&env->state.cgroups, freeze, FREEZE_TIMEOUT_MS, err) < 0)
		return dv_err_prefix(err, "cannot %s env '%s'", freeze ? "suspend" : "resume",
				     env->state.name);
	if (!ctx->quiet) {
		if (freeze)
			printf("env '%s' suspended; 'devenv resume' thaws it\n", env->state.name);
		else
			printf("env '%s' resumed\n", env->state.name);
	}
	return 0;
}
