/*
 * cmd/verify.c - `devenv verify [STEP...]`: rebuild steps in staging and
 * compare their layers with the cache's (provision/verify.c). Exit 1 when
 * one differs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/banned.h"

int cmd_verify(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	dv_autofree bool *which = NULL;
	bool helped;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (env_locate(ctx, st, true, &env, err) < 0 ||
	    prov_trust_check(ctx, st, env.id, &env.spec, err) < 0)
		goto out;
	if (oi < call->argc)
		which = dv_xcalloc(env.spec.n_provision ? env.spec.n_provision : 1, sizeof(*which));
	for (int i = oi; i < call->argc; i++) {
		const char *a = call->argv[i];
		char *end;
		unsigned long n = strtoul(a, &end, 10);

		if (a[0] < '1' || a[0] > '9' || *end || n > env.spec.n_provision) {
			dv_err_usage(err,
				     "'%s' is no step of %s: give step numbers from 1 to %zu (as "
				     "'devenv up' counts them)",
				     a, env.spec.display, env.spec.n_provision);
			goto out;
		}
		which[n - 1] = true;
	}
	ret = env_verify(ctx, st, &env, which, err);
out:
	env_release(&env);
	return ret;
}
