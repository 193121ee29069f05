/*
 * cmd/lifecycle.c - suspend, resume and destroy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

static int suspend_or_resume(struct dv_ctx *ctx, struct layer_store *st,
			     const struct cmd_call *call, bool freeze, struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	int ret = cmd_env_begin(ctx, st, call, false, NULL, &env, err);

	if (ret <= 0) {
		env_release(&env);
		return ret;
	}
	ret = env_suspend(ctx, st, &env, freeze, err);
	env_release(&env);
	return ret;
}

int cmd_suspend(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		struct dv_error *err)
{
	return suspend_or_resume(ctx, st, call, true, err);
}

int cmd_resume(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	return suspend_or_resume(ctx, st, call, false, err);
}

struct destroy_opts {
	bool force, volumes;
};

static int destroy_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct destroy_opts *o = data;

	(void)arg;
	(void)err;
	if (c == 'f')
		o->force = true;
	else if (c == 'V')
		o->volumes = true;
	else
		return -1;
	return 0;
}


/* destroy --volumes: the destroyed env's own volumes. A shared one is kept
 * (as compose's `down -v` keeps external volumes), and so is one another
 * env names. Under the store's exclusive lock, so no `up` is between naming
 * one and recording it. */
static int destroy_volumes(const struct layer_store *st, const char *env_id,
			   const struct dv_strv *names, bool quiet, struct dv_error *err)
{
	struct env_vol *vols = NULL;
	size_t n = 0;
	dv_autoclose int lock = dv_lock_at(st->root_fd, "store.lock", true, "the store", err);

	if (lock < 0 || env_vol_list(st, false, &vols, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < names->n; i++) {
		const struct env_vol *v = NULL;

		for (size_t j = 0; j < n; j++)
			if (strcmp(vols[j].name, names->v[i]) == 0)
				v = &vols[j];
		if (!v)
			continue; /* never created, or removed already */
		if (v->envs.n) {
			struct dv_buf who = { 0 };

			cmd_quoted_list(&v->envs, &who);
			if (!quiet)
				printf("volume '%s' kept: env %s names it too\n", v->name, who.s);
			dv_buf_release(&who);
			continue;
		}
		if (v->damaged) {
			if (!quiet)
				printf("volume '%s' kept: its record is damaged; 'devenv volume rm "
				       "%s' removes it\n",
				       v->name, v->name);
			continue;
		}
		/* One without a record was made before volumes were per env,
		 * when every env's were store-wide: removed as then. */
		if (v->shared && !v->legacy) {
			if (!quiet)
				printf("volume '%s' kept: it is shared; 'devenv volume rm %s' "
				       "removes it\n",
				       v->name, v->name);
			continue;
		}
		if (!v->shared && strcmp(v->owner_id, env_id))
			continue; /* another env's (a name made to look like it) */
		if (env_vol_remove(st, v->name, err) < 0) {
			env_vols_free(vols, n);
			return -1;
		}
		if (!quiet)
			printf("volume '%s' removed\n", v->name);
	}
	env_vols_free(vols, n);
	return 0;
}

int cmd_destroy(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		struct dv_error *err)
{
	struct destroy_opts dopts = { 0 };
	bool helped;
	struct opt_spec os = { NULL, NULL, destroy_opt, &dopts };
	struct env env = { .lock_fd = -1 };
	struct dv_strv volumes = { 0 };
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;
	bool force;

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0)
		return -1;
	force = dopts.force;
	if (env_locate(ctx, st, false, &env, err) < 0) {
		if (err->errnum != EBADMSG || !env.id[0])
			goto out;
		/* A damaged record: what its cgroups hold is killed and the
		 * env's folder removed, as for any other. */
		memset(err, 0, sizeof(*err));
		if (!force && !isatty(0)) {
			dv_err_usage(err,
				     "'devenv destroy' asks before removing the damaged env %s; "
				     "pass -f to skip the question",
				     env.id);
			goto out;
		}
		if (!force) {
			char answer[16] = "";

			printf("Destroy the damaged env %s? Its files outside the checkout are lost. [y/N] ",
			       env.id);
			fflush(stdout);
			if (!fgets(answer, sizeof(answer), stdin) ||
			    (answer[0] != 'y' && answer[0] != 'Y')) {
				printf("nothing destroyed\n");
				ret = 0;
				goto out;
			}
		}
		ret = env_destroy_damaged(ctx, st, &env, err);
		goto out;
	}
	if (!force && env.has_state) {
		char answer[16] = "";

		if (!isatty(0)) {
			dv_err_usage(err,
				     "'devenv destroy' asks before removing env '%s'; pass -f to skip the question",
				     env.state.name);
			goto out;
		}
		printf("Destroy env '%s' (%s)? Its files outside the checkout are lost. [y/N] ",
		       env.state.name, env.id);
		fflush(stdout);
		if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
			printf("nothing destroyed\n");
			ret = 0;
			goto out;
		}
	}
	for (size_t i = 0; i < env.state.volumes.n; i++)
		dv_strv_push(&volumes, env.state.volumes.v[i]);
	if (dopts.volumes) {
		/* Its usual line says the volumes are kept: say what happens. */
		bool quiet = ctx->quiet;
		dv_autofree char *name = dv_xstrdup(env.has_state ? env.state.name : "");

		ctx->quiet = true;
		ret = env_destroy(ctx, st, &env, err);
		ctx->quiet = quiet;
		if (ret == 0 && !quiet)
			printf("env '%s' destroyed (the checkout is kept)\n", name);
		if (ret == 0)
			ret = destroy_volumes(st, env.id, &volumes, ctx->quiet, err);
	} else {
		ret = env_destroy(ctx, st, &env, err);
	}
out:
	dv_strv_release(&volumes);
	env_release(&env);
	return ret;
}
