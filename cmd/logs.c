/*
 * cmd/logs.c - logs: the env's output or a service's, -f to follow it.
 */
#include <errno.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/banned.h"

struct logs_opts {
	bool follow;
	long long tail; /* -1: all; -2: not given */
};

static int logs_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct logs_opts *o = data;
	unsigned long long v = 0;

	if (c == 'f') {
		o->follow = true;
		return 0;
	}
	if (c != 'n')
		return -1;
	if (!strcmp(arg, "all")) {
		o->tail = -1;
		return 0;
	}
	for (const char *p = arg; *p; p++)
		if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned)(*p - '0')) > 100000000)
			return dv_err_usage(err, "--tail takes a number of lines or 'all', not '%s'",
					    arg);
	if (!*arg)
		return dv_err_usage(err, "--tail takes a number of lines or 'all', not ''");
	o->tail = (long long)v;
	return 0;
}

int cmd_logs(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	struct logs_opts lo = { .tail = -2 };
	bool helped;
	struct opt_spec os = { NULL, NULL, logs_opt, &lo };
	struct env env = { .lock_fd = -1 };
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;
	dv_autofree char *dir = NULL;
	const struct ctr_init *follows;
	const char *svc = NULL;

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi < call->argc)
		svc = call->argv[oi++];
	if (cmd_no_args(call, oi, err) < 0 || env_locate(ctx, st, false, &env, err) < 0)
		goto out;
	follows = &env.state.init;
	if (svc) {
		/* Only a name state.json records: never a path of the caller's. */
		const struct env_svc_record *ss = NULL;
		struct dv_buf names = { 0 };

		for (size_t i = 0; i < env.state.n_services; i++) {
			if (!strcmp(env.state.services[i].name, svc))
				ss = &env.state.services[i];
			dv_buf_addf(&names, "%s'%s'", i ? ", " : "", env.state.services[i].name);
		}
		if (!ss) {
			if (!env.has_state)
				dv_err_plain(err, ENOENT,
					     "env %s was never brought up; 'devenv up' creates it",
					     env.id);
			else if (!names.len)
				dv_err_plain(err, ENOENT,
					     "env '%s' has no service '%s' (it started none)",
					     env.state.name, svc);
			else
				dv_err_plain(err, ENOENT,
					     "env '%s' has no service '%s'; its services: %s",
					     env.state.name, svc, names.s);
			dv_buf_release(&names);
			goto out;
		}
		dv_buf_release(&names);
		follows = &ss->init;
		dir = dv_xasprintf("envs/%s/services/%s", env.id, ss->name);
	} else {
		dir = dv_xasprintf("envs/%s", env.id);
	}
	/* As tail -f: following starts from the last 10 lines. */
	if (lo.tail == -2)
		lo.tail = lo.follow ? 10 : -1;
	ret = env_logs_show(st, dir, lo.tail, lo.follow && env.has_state ? follows : NULL, err);
out:
	env_release(&env);
	return ret;
}
