/*
 * cmd/image.c - the store's images: images, rmi, tag, commit and the image
 * family (import, save, load, inspect, bootstrap).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/banned.h"

/* "host/path:tag" as REPOSITORY and TAG ("<none>" for a digest name). */
static void split_name(const char *name, char *repo, size_t rn, char *tag, size_t tn)
{
	const char *slash = strrchr(name, '/'), *at = strchr(name, '@');
	const char *colon = strrchr(slash ? slash : name, ':');

	if (at) {
		snprintf(repo, rn, "%.*s", (int)(at - name), name);
		snprintf(tag, tn, "<none>");
	} else if (colon) {
		snprintf(repo, rn, "%.*s", (int)(colon - name), name);
		snprintf(tag, tn, "%s", colon + 1);
	} else {
		snprintf(repo, rn, "%s", name);
		snprintf(tag, tn, "<none>");
	}
}

/* When the image was made: its config's "created" (RFC 3339, as registries
 * and commit give it), else when it was stored here (imports have no date,
 * so that their ids depend on their content alone). */
static long long image_created(const struct layer_image *img)
{
	struct json_object *o = img->config ? json_tokener_parse(img->config) : NULL, *c;
	long long t = img->created, when;

	if (o && json_object_object_get_ex(o, "created", &c) &&
	    layer_time_parse(json_object_get_string(c), &when) == 0)
		t = when;
	json_object_put(o);
	return t;
}

int cmd_images(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	struct layer_image *imgs;
	size_t n;
	bool helped;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err);
	struct json_object *arr = NULL;

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0 || layer_image_list(st, &imgs, &n, err) < 0)
		return -1;
	if (ctx->json)
		arr = json_object_new_array();
	else
		printf("%-32s  %-12s  %-12s  %-14s  %s\n", "REPOSITORY", "TAG", "IMAGE ID",
		       "CREATED", "SIZE");
	for (size_t i = 0; i < n; i++) {
		char size[32], age[32], when[40], repo[256], tag[160];
		long long created = image_created(&imgs[i]);

		split_name(imgs[i].name, repo, sizeof(repo), tag, sizeof(tag));
		dv_str_size(size, sizeof(size), imgs[i].size);
		cmd_age(age, sizeof(age), created);
		if (arr) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(imgs[i].name));
			json_object_object_add(o, "repository", json_object_new_string(repo));
			json_object_object_add(o, "tag", json_object_new_string(tag));
			json_object_object_add(o, "id", json_object_new_string(imgs[i].id));
			json_object_object_add(o, "created", json_object_new_int64(created));
			json_object_object_add(o, "size",
					       json_object_new_int64((int64_t)imgs[i].size));
			json_object_object_add(o, "layers",
					       json_object_new_int((int)imgs[i].layers.n));
			json_object_array_add(arr, o);
		} else {
			/* As `docker images` shows them: the id without "sha256:", cut to 12. */
			snprintf(when, sizeof(when), "%s ago", age);
			printf("%-32s  %-12s  %.12s  %-14s  %s\n", repo, tag,
			       imgs[i].id + (strncmp(imgs[i].id, "sha256:", 7) ? 0 : 7), when, size);
		}
		layer_image_release(&imgs[i]);
	}
	{
		/* Not listed: one line each, naming the file, saying what to do. */
		struct dv_strv damaged = { 0 };

		layer_image_damaged(st, &damaged);
		for (size_t i = 0; i < damaged.n; i++)
			layer_image_say_damaged(st, damaged.v[i]);
		dv_strv_release(&damaged);
	}
	free(imgs);
	if (arr) {
		prov_json_print(stdout, arr,
				JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(arr);
	}
	return 0;
}

int cmd_commit(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	struct layer_image img = { 0 };
	bool helped;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != call->argc)
		return dv_err_usage(err, "usage: devenv commit [-e NAME|ID] IMAGE[:TAG]");
	/* The Envfile tells which secrets to look for (env_commit); an env
	 * whose Envfile cannot be read any more is committed still. */
	bool located = env_locate(ctx, st, true, &env, &(struct dv_error){ 0 }) == 0;

	if (!located) {
		env_release(&env);
		env = (struct env){ .lock_fd = -1 };
		located = env_locate(ctx, st, false, &env, err) == 0;
		if (located && env.has_state)
			fprintf(stderr,
				"devenv: warning: env '%s': its Envfile cannot be read; the "
				"commit is not looked through for its secrets\n",
				env.state.name);
	}
	if (located && env_commit(ctx, st, &env, call->argv[oi], &img, err) == 0) {
		if (!ctx->quiet)
			printf("%s %s\n", img.name, img.id);
		ret = 0;
	}
	layer_image_release(&img);
	env_release(&env);
	return ret;
}

int cmd_tag(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	    struct dv_error *err)
{
	struct layer_image img = { 0 };
	bool helped;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 2 != call->argc)
		return dv_err_usage(err, "usage: devenv tag IMAGE NAME[:TAG]");
	if (layer_image_tag(st, call->argv[oi], call->argv[oi + 1], &img, err) == 0) {
		if (!ctx->quiet)
			printf("%s %s\n", img.name, img.id);
		ret = 0;
	}
	layer_image_release(&img);
	return ret;
}

int cmd_rmi(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	    struct dv_error *err)
{
	struct layer_image img = { 0 };
	struct env_record *all = NULL;
	size_t n = 0;
	bool helped;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != call->argc)
		return dv_err_usage(err, "usage: devenv rmi IMAGE");
	if (layer_image_resolve(st, call->argv[oi], &img, err) < 0 && err->errnum == EBADMSG) {
		/* A damaged record: what it named is unknown, so no env can be
		 * found using it; gc keeps every layer while it is there. */
		dv_autofree char *name = NULL;

		memset(err, 0, sizeof(*err));
		if (layer_image_remove_damaged(st, call->argv[oi], &name, err) < 0)
			goto out;
		if (!ctx->quiet)
			printf("removed the damaged record of image '%s'\n", name);
		ret = 0;
		goto out;
	}
	if (dv_err_isset(err) || env_list(st, NULL, &all, &n, err) < 0)
		goto out;
	/* A damaged env's image is not known: gc keeps every layer while
	 * there is one, so removing the image's name loses nothing. */
	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i].image_id, img.id) == 0) {
			dv_err_plain(err, EBUSY,
				     "image '%s' is used by env '%s' (%s); destroy it first",
				     img.name, all[i].name, all[i].id);
			goto out;
		}
		for (size_t k = 0; k < all[i].n_services; k++) {
			if (all[i].services[k].image_id &&
			    !strcmp(all[i].services[k].image_id, img.id)) {
				dv_err_plain(err, EBUSY,
					     "image '%s' is used by service '%s' of env '%s' (%s); destroy the env first",
					     img.name, all[i].services[k].name, all[i].name,
					     all[i].id);
				goto out;
			}
		}
	}
	if (layer_image_remove(st, img.name, err) < 0)
		goto out;
	if (!ctx->quiet)
		printf("removed image '%s' ('devenv gc' frees its layers)\n", img.name);
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		env_record_release(&all[i]);
	free(all);
	layer_image_release(&img);
	return ret;
}

static int dir_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)err;
	if (c != 'C')
		return -1;
	*(const char **)data = arg;
	return 0;
}

/* A bundle (`devenv bundle`): for the env of the checkout we are in. */
static int load_bundle(struct dv_ctx *ctx, struct layer_store *st, int nargs, const char *file,
		       const char *dir, struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	dv_autofree char *abs = NULL;
	int ret = -1;

	if (nargs != 1)
		return dv_err_usage(err,
				    "'%s' is a bundle: it names its own images; load it "
				    "without NAME, in its project's checkout",
				    file);
	/* -C: the checkout at DIR (the file named from here). */
	if (dir) {
		if (!(abs = realpath(file, NULL)))
			return dv_err(err, errno, "cannot open '%s'", file);
		file = abs;
		if (chdir(dir) < 0)
			return dv_err(err, errno, "cannot enter '%s' (-C)", dir);
	}
	if (env_locate(ctx, st, true, &env, err) < 0) {
		if (err->errnum == ENOENT)
			dv_err_prefix(err,
				      "'%s' is a bundle: run 'devenv image load' in its "
				      "project's checkout (where its Envfile is)",
				      file);
	} else {
		ret = env_bundle_load(ctx, st, &env, file, err);
	}
	env_release(&env);
	return ret;
}

int cmd_image(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	      struct dv_error *err)
{
	const struct cmd *sub;
	const char *dir = NULL;
	struct opt_spec os = { NULL, NULL, dir_opt, &dir };
	struct layer_image img = { 0 };
	unsigned skipped = 0;
	bool helped;
	int oi, ret = -1;
	const char *what;

	if (!(sub = cmd_parse_sub(ctx, call, &os, &oi, &helped, err)))
		return helped ? 0 : -1;
	what = sub->name + strlen("image ");
	if (strcmp(what, "import") == 0) {
		if (cmd_sub_args(sub, call->argc, oi, 2, 2, err) < 0)
			return -1;
		if (layer_image_import(st, call->argv[oi], call->argv[oi + 1], &img, &skipped,
				       err) < 0)
			goto out;
	} else if (strcmp(what, "inspect") == 0) {
		/* As `docker image inspect`: one JSON object per image asked for. */
		struct json_object *arr = json_object_new_array();

		if (cmd_sub_args(sub, call->argc, oi, 1, -1, err) < 0) {
			json_object_put(arr);
			return -1;
		}
		for (int i = oi; i < call->argc; i++) {
			struct json_object *o, *layers;
			struct layer_image one = { 0 };
			char repo[256], tag[160], when[32];

			o = json_object_new_object();
			layers = json_object_new_array();

			if (layer_image_resolve(st, call->argv[i], &one, err) < 0) {
				json_object_put(o);
				json_object_put(layers);
				json_object_put(arr);
				return -1;
			}
			split_name(one.name, repo, sizeof(repo), tag, sizeof(tag));
			json_object_object_add(o, "Id", json_object_new_string(one.id));
			json_object_object_add(o, "Name", json_object_new_string(one.name));
			json_object_object_add(o, "Repository", json_object_new_string(repo));
			json_object_object_add(o, "Tag", json_object_new_string(tag));
			layer_time_rfc3339(image_created(&one), when);
			json_object_object_add(o, "Created", json_object_new_string(when));
			json_object_object_add(o, "Size", json_object_new_int64((int64_t)one.size));
			for (size_t k = 0; k < one.layers.n; k++)
				json_object_array_add(layers,
						      json_object_new_string(one.layers.v[k]));
			json_object_object_add(o, "Layers", layers);
			json_object_object_add(o, "Config",
					       one.config ? json_tokener_parse(one.config) : NULL);
			json_object_array_add(arr, o);
			layer_image_release(&one);
		}
		/* The config is the image's: json-c leaves C1 controls and
		 * bytes that are not UTF-8 as they are. */
		prov_json_print(stdout, arr,
				JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(arr);
		return 0;
	} else if (strcmp(what, "load") == 0) {
		if (cmd_sub_args(sub, call->argc, oi, 1, 2, err) < 0)
			return -1;
		if (layer_bundle_sniff(call->argv[oi]))
			return load_bundle(ctx, st, call->argc - oi, call->argv[oi], dir, err);
		if (dir)
			return dv_err_usage(err,
					    "-C is for a bundle ('devenv bundle'); '%s' is not one",
					    call->argv[oi]);
		if (layer_image_load(st, call->argv[oi],
				     call->argc - oi == 2 ? call->argv[oi + 1] : NULL, &img, err) < 0)
			goto out;
	} else if (strcmp(what, "save") == 0) {
		if (cmd_sub_args(sub, call->argc, oi, 2, 2, err) < 0)
			return -1;
		if (layer_image_save(st, call->argv[oi], call->argv[oi + 1], err) < 0)
			return -1;
		if (!ctx->quiet)
			printf("saved %s to %s (an OCI image layout archive)\n", call->argv[oi],
			       call->argv[oi + 1]);
		return 0;
	} else {
		if (cmd_sub_args(sub, call->argc, oi, 1, 1, err) < 0)
			return -1;
		if (layer_image_bootstrap(st, call->argv[oi], &img, err) < 0)
			goto out;
	}
	if (skipped && !ctx->quiet)
		printf("skipped %u device node%s (the runtime provides /dev)\n", skipped,
		       skipped == 1 ? "" : "s");
	if (!ctx->quiet)
		printf("%s %s\n", img.name, img.id);
	ret = 0;
out:
	layer_image_release(&img);
	return ret;
}
