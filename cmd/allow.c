/*
 * cmd/allow.c - allow: what an Envfile asks for beyond the default sandbox.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/banned.h"

static int revoke_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)arg;
	(void)err;
	if (c != 'R')
		return -1;
	*(bool *)data = true;
	return 0;
}

/* allow: show the Envfile's requests and record the yes for this checkout,
 * never asking (the prompt of `up` is the asking form); --revoke. */
int cmd_allow(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	      struct dv_error *err)
{
	bool revoke = false;
	struct opt_spec os = { NULL, NULL, revoke_opt, &revoke };
	struct prov_requests r = { 0 };
	struct json_object *o = NULL, *list;
	struct env env = { .lock_fd = -1 };
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0)
		return -1;
	/* --revoke needs no Envfile that loads: a broken one can be revoked. */
	if (env_locate(ctx, st, !revoke, &env, err) < 0)
		goto out;
	if (revoke) {
		struct dv_error none = { 0 };
		bool had = prov_trust_revoke(st, env.id, &none) == 0;

		if (!had && none.errnum != ENOENT) {
			*err = none;
			goto out;
		}
		if (ctx->json)
			printf("{\"id\":\"%s\",\"revoked\":%s}\n", env.id, had ? "true" : "false");
		else if (!ctx->quiet)
			printf(had ? "revoked what this checkout was allowed (env id %s); the next "
				     "'devenv up' asks again\n"
				   : "nothing was allowed for this checkout (env id %s)\n",
			       env.id);
		ret = 0;
		goto out;
	}
	prov_trust_requests(&env.spec, &r);
	if (r.n && prov_trust_allow(st, env.id, &env.spec, &r, err) < 0)
		goto out;
	if (ctx->json) {
		char hex[65];

		o = json_object_new_object();
		list = json_object_new_array();
		prov_trust_digest(&r, hex);
		json_object_object_add(o, "id", json_object_new_string(env.id));
		json_object_object_add(o, "file", json_object_new_string(r.file));
		for (size_t i = 0; i < r.n; i++) {
			struct json_object *q = json_object_new_object();

			json_object_object_add(q, "kind",
					       json_object_new_string(
						       prov_req_kind_name(r.v[i].kind)));
			json_object_object_add(q, "line", json_object_new_int((int)r.v[i].line));
			json_object_object_add(q, "col", json_object_new_int((int)r.v[i].col));
			json_object_object_add(q, "request", json_object_new_string(r.v[i].what));
			json_object_object_add(q, "gives", json_object_new_string(r.v[i].gives));
			json_object_array_add(list, q);
		}
		json_object_object_add(o, "requests", list);
		json_object_object_add(o, "allowed", json_object_new_boolean(r.n > 0));
		if (r.n)
			json_object_object_add(o, "digest", json_object_new_string(hex));
		prov_json_print(stdout, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	} else if (!ctx->quiet && !r.n) {
		printf("%s asks for nothing beyond the default sandbox; there is nothing to allow\n",
		       r.file);
	} else if (!ctx->quiet) {
		printf("%s asks for these beyond the default sandbox:\n", r.file);
		for (size_t i = 0; i < r.n; i++) {
			dv_autofree char *line = prov_request_line(&r, i);

			printf("  %s\n", line);
		}
		printf("allowed for this checkout (env id %s); 'devenv allow --revoke' takes it back\n",
		       env.id);
	}
	ret = 0;
out:
	if (o)
		json_object_put(o);
	prov_requests_release(&r);
	env_release(&env);
	return ret;
}
