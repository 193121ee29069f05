/*
 * cmd/lock.c - `devenv lock [--update [STEP...]] [--check]`: Envfile.lock
 * written from the plan (keys computed, the base resolved) without
 * building, asked again for (--update), or compared (--check, exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/banned.h"

struct lock_opts {
	bool update, check;
};

static int lock_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct lock_opts *o = data;

	(void)arg;
	(void)err;
	if (c == 'U')
		o->update = true;
	else if (c == 'K')
		o->check = true;
	else
		return -1;
	return 0;
}

/* STEP: a step number of the Envfile, `base`, or a service's name. */
static int check_item(const struct env_spec *spec, const char *item, struct dv_error *err)
{
	char *end;
	unsigned long n = strtoul(item, &end, 10);

	if (!strcmp(item, "base") ||
	    (item[0] >= '1' && item[0] <= '9' && !*end && n >= 1 && n <= spec->n_provision))
		return 0;
	for (size_t i = 0; i < spec->n_services; i++)
		if (!strcmp(spec->services[i].name, item))
			return 0;
	return dv_err_usage(err,
			    "'%s' is no item of the lock: name a step number (1 to %zu), 'base', "
			    "or a service",
			    item, spec->n_provision);
}

int cmd_lock(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	struct lock_opts o = { false, false };
	struct opt_spec os = { NULL, NULL, lock_opt, &o };
	struct env env = { .lock_fd = -1 };
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (o.check && o.update)
		return dv_err_usage(err, "--check and --update do not go together");
	if (!o.update && cmd_no_args(call, oi, err) < 0)
		return -1;
	if (env_locate(ctx, st, true, &env, err) < 0 ||
	    (!o.check && prov_trust_check(ctx, st, env.id, &env.spec, err) < 0))
		goto out;
	for (int i = oi; i < call->argc; i++) {
		if (check_item(&env.spec, call->argv[i], err) < 0)
			goto out;
		dv_strv_push(&env.lock_update, call->argv[i]);
	}
	env.lock_all = o.update && oi >= call->argc;
	ret = env_lockfile(ctx, st, &env, o.check, err);
out:
	env_release(&env);
	return ret;
}
