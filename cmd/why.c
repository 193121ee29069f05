/*
 * cmd/why.c - `devenv why [STEP]`: which input of each step the cache lacks
 * differs from the last build of the env (env/why.c). Builds nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/banned.h"

int cmd_why(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	    struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	bool helped;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err), ret = -1;
	unsigned long step = 0;

	if (oi < 0)
		return helped ? 0 : -1;
	if (call->argc - oi > 1)
		return dv_err_usage(err, "'why' takes at most one step number");
	if (call->argc - oi == 1) {
		const char *a = call->argv[oi];
		char *end;

		errno = 0;
		step = strtoul(a, &end, 10);
		if (errno || *end || end == a || a[0] == '-' || a[0] == '+' || step == 0)
			return dv_err_usage(err, "'why' takes a step number (1, 2, ...), not '%s'",
					    a);
	}
	/* What the plan needs may pull the base or ask a git remote: the
	 * Envfile's requests are checked first, as up checks them. */
	if (env_locate(ctx, st, true, &env, err) < 0 ||
	    prov_trust_check(ctx, st, env.id, &env.spec, err) < 0)
		goto out;
	if (step > env.spec.n_provision) {
		dv_err_usage(err, "step %lu: the Envfile has %zu provisioning step%s", step,
			     env.spec.n_provision, env.spec.n_provision == 1 ? "" : "s");
		goto out;
	}
	ret = env_why(st, &env, step, ctx->json, err);
out:
	env_release(&env);
	return ret;
}
