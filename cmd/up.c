/*
 * cmd/up.c - up, provision, reload and halt: the commands that build, start or
 * stop an env, with --json's progress events.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "provision/lock.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* The options of the commands that build. */
struct build_opts {
	struct dv_strv from; /* --cache-from REF (repeatable) */
	bool frozen;         /* --frozen */
	bool explain;        /* --explain */
};

static int cache_from_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct build_opts *bo = data;

	(void)err;
	if (c == 'F' || c == 'X') {
		*(c == 'F' ? &bo->frozen : &bo->explain) = true;
		return 0;
	}
	if (c != 'C')
		return -1;
	dv_strv_push(&bo->from, arg);
	return 0;
}

/* The command line's --cache-from images, after the Envfile's. */
static void add_cache_from(struct env *env, struct dv_strv *extra)
{
	for (size_t i = 0; i < extra->n; i++)
		dv_strv_push(&env->spec.cache_from, extra->v[i]);
	dv_strv_release(extra);
}

/* --json on up, provision and reload: JSON Lines of progress on stdout
 * (provision/progress.c), so everything else printed to stdout (step
 * output, messages) goes to stderr instead and stdout stays parseable. */
static int events_begin(struct dv_ctx *ctx, struct dv_error *err)
{
	int fd;

	if (!ctx->json)
		return 0;
	fflush(stdout);
	fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || !(ctx->events = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return dv_err(err, errno, "cannot write to stdout");
	}
	if (dup2(2, 1) < 0)
		return dv_err(err, errno, "cannot send output to stderr");
	return 0;
}

/* The last line: {"result":"ok","env":…,"id":…[,"ports":[…]],"seconds":…}, or
 * {"result":"failed","error":"Envfile:3:5: …","seconds":…}. */
static int events_end(struct dv_ctx *ctx, const struct env *env, int ret, unsigned long long t0,
		      struct dv_error *err)
{
	struct json_object *o;
	FILE *f = ctx->events;
	int bad;

	if (!f)
		return ret;
	o = json_object_new_object();
	json_object_object_add(o, "result", json_object_new_string(ret == 0 ? "ok" : "failed"));
	if (ret == 0 && env->spec.name)
		json_object_object_add(o, "env", json_object_new_string(env->spec.name));
	if (ret == 0 && env->id[0])
		json_object_object_add(o, "id", json_object_new_string(env->id));
	if (ret == 0 && env->state.n_ports) { /* the forwards, `auto` ones chosen */
		struct json_object *a = json_object_new_array();

		for (size_t i = 0; i < env->state.n_ports; i++) {
			const struct hnet_port *p = &env->state.ports[i];
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "container_port",
					       json_object_new_int((int)p->container_port));
			json_object_object_add(e, "host_ip", json_object_new_string(p->host_ip));
			json_object_object_add(e, "host_port",
					       json_object_new_int((int)p->host_port));
			json_object_object_add(e, "auto", json_object_new_boolean(p->auto_port));
			json_object_array_add(a, e);
		}
		json_object_object_add(o, "ports", a);
	}
	if (ret != 0) {
		char msg[sizeof(err->file) + sizeof(err->msg) + 32];

		if (err->file[0] && err->line)
			snprintf(msg, sizeof(msg), "%s:%u:%u: %s", err->file, err->line, err->col,
				 err->msg);
		else if (err->file[0])
			snprintf(msg, sizeof(msg), "%s: %s", err->file, err->msg);
		else
			snprintf(msg, sizeof(msg), "%s", err->msg);
		json_object_object_add(o, "error", json_object_new_string(msg));
	}
	json_object_object_add(o, "seconds", prov_json_seconds((double)(dv_now_ns() - t0) / 1e9));
	prov_json_print(f, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(o);
	bad = fflush(f) != 0 || ferror(f);
	fclose(f);
	ctx->events = NULL;
	if (bad && ret == 0)
		return dv_err(err, errno, "cannot write output");
	return ret;
}

/* up and provision: the commands that build, with --cache-from and --json. */
static int up_or_provision(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
			   bool up, struct dv_error *err)
{
	struct build_opts bo = { 0 };
	struct dv_strv *from = &bo.from;
	struct opt_spec os = { NULL, NULL, cache_from_opt, &bo };
	struct env env = { .lock_fd = -1 };
	unsigned long long t0 = dv_now_ns();
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;

	if (oi < 0 || cmd_no_args(call, oi, err) < 0) {
		dv_strv_release(from);
		return oi < 0 && helped ? 0 : -1;
	}
	/* The trust check comes before anything runs: no pull, no clone, no
	 * step. --cache-from is the developer's own choice, not a request. */
	if (events_begin(ctx, err) < 0 || env_locate(ctx, st, true, &env, err) < 0 ||
	    prov_trust_check(ctx, st, env.id, &env.spec, err) < 0) {
		dv_strv_release(from);
		goto out;
	}
	env.frozen = bo.frozen || prov_lock_frozen_env();
	add_cache_from(&env, from);
	env.explain = bo.explain;
	ret = up ? env_up(ctx, st, &env, err) : env_provision(ctx, st, &env, err);
out:
	ret = events_end(ctx, &env, ret, t0, err);
	env_release(&env);
	return ret;
}

int cmd_up(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	   struct dv_error *err)
{
	return up_or_provision(ctx, st, call, true, err);
}

int cmd_provision(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		  struct dv_error *err)
{
	return up_or_provision(ctx, st, call, false, err);
}

struct halt_opts {
	unsigned timeout;
	bool frozen;  /* reload --frozen */
	bool explain; /* reload --explain */
};
static int timeout_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	char *end;
	unsigned long v;

	if (c == 'F' || c == 'X') {
		struct halt_opts *h = data;

		*(c == 'F' ? &h->frozen : &h->explain) = true;
		return 0;
	}
	if (c != 't')
		return -1;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v > 3600)
		return dv_err_usage(err, "--timeout takes whole seconds from 0 to 3600, not '%s'",
				    arg);
	((struct halt_opts *)data)->timeout = (unsigned)v;
	return 0;
}

static int frozen_check(const struct env_spec *spec, struct dv_error *err)
{
	struct prov_lock l;
	int r = prov_lock_read(spec, &l, err);

	if (r == 1) {
		dv_autofree char *name = prov_lock_display(spec);

		return dv_err_plain(err, ENOENT,
				    "--frozen: there is no %s next to %s; run 'devenv lock' and "
				    "commit it",
				    name, spec->display);
	}
	if (r == 0)
		r = prov_lock_check(spec, &l, NULL, err);
	prov_lock_release(&l);
	return r;
}

static int halt_or_reload(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
			  bool reload, struct dv_error *err)
{
	struct halt_opts h = { 10, false, false };
	struct opt_spec os = { NULL, NULL, timeout_opt, &h };
	struct env env = { .lock_fd = -1 };
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;
	unsigned long long t0 = dv_now_ns();

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0)
		return -1;
	if (!reload)
		ctx->json = false; /* halt has no events; --json is accepted and ignored */
	if (events_begin(ctx, err) < 0 || env_locate(ctx, st, reload, &env, err) < 0)
		goto out;
	/* Before the halt: a reload not allowed leaves the env as it was. */
	if (reload && prov_trust_check(ctx, st, env.id, &env.spec, err) < 0)
		goto out;
	env.refresh_git = reload; /* reload picks up new commits of git steps */
	env.frozen = reload && (h.frozen || prov_lock_frozen_env());
	env.explain = reload && h.explain;
	if (reload && !env.has_state) {
		ret = env_up(ctx, st, &env, err);
		goto out;
	}
	/* --frozen: a differing Envfile leaves the env running. */
	if (env.frozen && frozen_check(&env.spec, err) < 0)
		goto out;
	if (env_halt(ctx, st, &env, h.timeout, true, err) < 0)
		goto out;
	ret = reload ? env_up(ctx, st, &env, err) : 0;
out:
	ret = events_end(ctx, &env, ret, t0, err);
	env_release(&env);
	return ret;
}

int cmd_halt(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	return halt_or_reload(ctx, st, call, false, err);
}

int cmd_reload(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	return halt_or_reload(ctx, st, call, true, err);
}
