/*
 * cmd/volume.c - volume ls and volume rm.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* volume ls [--json] | volume rm [-f|--force] NAME... */
static int volume_ls(struct dv_ctx *ctx, const struct layer_store *st, struct dv_error *err)
{
	struct env_vol *v;
	size_t n, wv = 6, we = 3, wn = 4;
	struct json_object *arr = NULL;

	if (env_vol_list(st, true, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t e = v[i].owner_name ? strlen(v[i].owner_name) : 1;

		wv = strlen(v[i].name) > wv ? strlen(v[i].name) : wv;
		we = e > we ? e : we;
		wn = strlen(v[i].volume) > wn ? strlen(v[i].volume) : wn;
	}
	if (ctx->json)
		arr = json_object_new_array();
	else
		printf("%-*s  %-*s  %-*s  %-10s  %s\n", (int)wv, "VOLUME", (int)we, "ENV", (int)wn,
		       "NAME", "SIZE", "USED BY");
	for (size_t i = 0; i < n; i++) {
		char size[32];
		struct dv_buf who = { 0 };

		dv_str_size(size, sizeof(size), v[i].size);
		if (arr) {
			struct json_object *o = json_object_new_object();
			struct json_object *envs = json_object_new_array();
			struct json_object *owner = NULL;

			for (size_t j = 0; j < v[i].envs.n; j++) {
				struct json_object *e = json_object_new_object();

				json_object_object_add(e, "id",
						       json_object_new_string(v[i].env_ids.v[j]));
				json_object_object_add(e, "name",
						       json_object_new_string(v[i].envs.v[j]));
				json_object_array_add(envs, e);
			}
			if (v[i].owner_id) {
				owner = json_object_new_object();
				json_object_object_add(owner, "id",
						       json_object_new_string(v[i].owner_id));
				json_object_object_add(owner, "name",
						       json_object_new_string(v[i].owner_name));
			}
			json_object_object_add(o, "name", json_object_new_string(v[i].name));
			json_object_object_add(o, "volume", json_object_new_string(v[i].volume));
			json_object_object_add(o, "env", owner);
			json_object_object_add(o, "shared", json_object_new_boolean(v[i].shared));
			json_object_object_add(o, "size", json_object_new_int64((int64_t)v[i].size));
			json_object_object_add(o, "envs", envs);
			json_object_object_add(o, "running", json_object_new_boolean(v[i].running));
			json_object_array_add(arr, o);
			continue;
		}
		for (size_t j = 0; j < v[i].envs.n; j++)
			dv_buf_addf(&who, "%s%s", j ? "," : "", v[i].envs.v[j]);
		printf("%-*s  %-*s  %-*s  %-10s  %s\n", (int)wv, v[i].name, (int)we,
		       v[i].owner_name ? v[i].owner_name : "-", (int)wn, v[i].volume, size,
		       who.s ? who.s : "-");
		dv_buf_release(&who);
	}
	env_vols_free(v, n);
	if (arr) {
		prov_json_print(stdout, arr,
				JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(arr);
	}
	return 0;
}

/* A NAME of `volume rm`: a volume's store name, or in a checkout (or with
 * -e) the name its Envfile gives one of its env's own volumes. */
static const struct env_vol *volume_find(struct dv_ctx *ctx, const struct layer_store *st,
					 const struct env_vol *v, size_t n, const char *name,
					 struct dv_error *err)
{
	const struct env_vol *exact = NULL, *own = NULL;
	struct env env = { .lock_fd = -1 };
	struct dv_error ignored = { 0 };

	for (size_t j = 0; j < n; j++)
		if (!strcmp(v[j].name, name))
			exact = &v[j];
	if (env_locate(ctx, st, false, &env, &ignored) == 0)
		for (size_t j = 0; j < n; j++)
			if (v[j].owner_id && !strcmp(v[j].owner_id, env.id) &&
			    !strcmp(v[j].volume, name))
				own = &v[j];
	if (exact && own && exact != own) {
		dv_err_usage(err,
			     "'%s' is both the store-wide volume '%s' and env %s's own '%s'; "
			     "give the full name; nothing was removed",
			     name, exact->name, env.id, own->name);
		env_release(&env);
		return NULL;
	}
	env_release(&env);
	if (!exact && !own)
		dv_err_plain(err, ENOENT,
			     "no volume named '%s'; 'devenv volume ls' lists them; "
			     "nothing was removed",
			     name);
	return exact ? exact : own;
}

/* All names are checked before anything is removed: a refused rm removes
 * nothing. A running env's volume is never removed (it is mounted there);
 * a halted env's only with --force (its next up starts it empty). */
static int volume_rm(struct dv_ctx *ctx, const struct layer_store *st, bool force, int argc,
		     char **argv, struct dv_error *err)
{
	struct env_vol *v = NULL;
	struct dv_strv names = { 0 }, found = { 0 };
	size_t n = 0;
	int ret = -1;
	dv_autoclose int lock = -1;

	for (int i = 0; i < argc; i++)
		dv_strv_push(&names, argv[i]);
	/* Exclusive, as gc: no `up` is between naming a volume and recording it. */
	lock = dv_lock_at(st->root_fd, "store.lock", true, "the store", err);
	if (lock < 0 || env_vol_list(st, false, &v, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		const struct env_vol *p = NULL;
		struct dv_buf who = { 0 };

		if (!env_vol_name_ok(names.v[i])) {
			dv_err_usage(err,
				     "'%.80s' is not a volume name; 'devenv volume ls' lists them",
				     names.v[i]);
			goto out;
		}
		if (!(p = volume_find(ctx, st, v, n, names.v[i], err)))
			goto out;
		cmd_quoted_list(&p->envs, &who);
		if (p->running)
			dv_err_plain(err, EBUSY,
				     "volume '%s' is in use by running env %s; halt it first; "
				     "nothing was removed",
				     p->name, who.s);
		else if (p->envs.n && !force)
			dv_err_plain(err, EBUSY,
				     "volume '%s' is named by env %s; 'devenv destroy "
				     "--volumes' there, or 'devenv volume rm --force %s' (its next "
				     "up starts it empty); nothing was removed",
				     p->name, who.s, p->name);
		dv_buf_release(&who);
		if (dv_err_isset(err))
			goto out;
		for (size_t j = 0; p && j < found.n; j++)
			if (!strcmp(found.v[j], p->name))
				p = NULL; /* named twice */
		if (p)
			dv_strv_push(&found, p->name);
	}
	for (size_t i = 0; i < found.n; i++) {
		if (env_vol_remove(st, found.v[i], err) < 0)
			goto out;
		if (!ctx->quiet)
			printf("volume '%s' removed\n", found.v[i]);
	}
	ret = 0;
out:
	env_vols_free(v, n);
	dv_strv_release(&names);
	dv_strv_release(&found);
	return ret;
}

/* volume rm's -f, --force (volume_rm_opts) */
static int volume_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)arg;
	(void)err;
	if (c != 'f')
		return -1;
	*(bool *)data = true;
	return 0;
}

int cmd_volume(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	const struct cmd *sub;
	bool force = false, helped;
	struct opt_spec os = { NULL, NULL, volume_opt, &force };
	int oi;

	if (!(sub = cmd_parse_sub(ctx, call, &os, &oi, &helped, err)))
		return helped ? 0 : -1;
	if (!strcmp(sub->name, "volume ls"))
		return cmd_sub_args(sub, call->argc, oi, 0, 0, err) < 0 ? -1
									: volume_ls(ctx, st, err);
	if (cmd_sub_args(sub, call->argc, oi, 1, -1, err) < 0)
		return -1;
	return volume_rm(ctx, st, force, call->argc - oi, call->argv + oi, err);
}
