/*
 * env/bundle.c - `devenv bundle`: an env carried offline, and its load by
 * `devenv image load` in the project's checkout.
 *
 * The bundle is one OCI layout archive (layers/bundle.c) whose index.json
 * lists, each annotated with dev.devenv.bundle.role:
 *
 *   base      the env's base image: its layers (export.c's tars) and its
 *             config as the store has it, so its id (which keys start
 *             from) survives
 *   env       the env's image as a push makes it: the base's layers, then
 *             one per step annotated dev.devenv.cache.key / dev.devenv.step
 *   service   each service's image (dev.devenv.service: its name)
 *   git       an artifact: a `git:` step's clone (a tar, with .git),
 *             annotated with URL, ref and commit
 *   download  an artifact: a `download:` step's file, with URL and sha256
 *   lock      an artifact: the Envfile.lock, when the checkout has one
 *
 * Load (env id from the checkout's Envfile): the base and services as
 * images (by their Envfile names when the store has none of those names),
 * the step layers as cache/<key> = "ID bundle:<env manifest digest> <env
 * id>" (the scope a cache_from layer has: only this env is served), the
 * inputs into inputs/ (provision/inputs.c) and each git step's commit
 * remembered, so that `up` asks no remote.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "provision/provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/banned.h"

#define ROLE "dev.devenv.bundle.role"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_EMPTY "application/vnd.oci.empty.v1+json"

static struct json_object *desc(const char *mt, const char *hex, unsigned long long size)
{
	struct json_object *d = json_object_new_object();
	char digest[72];

	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	json_object_object_add(d, "mediaType", json_object_new_string(mt));
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	return d;
}

static struct json_object *notes(const char *role, const char *name)
{
	struct json_object *a = json_object_new_object();

	json_object_object_add(a, ROLE, json_object_new_string(role));
	if (name)
		json_object_object_add(a, "io.containerd.image.name", json_object_new_string(name));
	return a;
}

static struct json_object *manifest(const char *cfg_mt, const char *cfg_hex,
				    unsigned long long cfg_size, struct json_object *layers)
{
	struct json_object *m = json_object_new_object();

	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType",
			       json_object_new_string("application/vnd.oci.image.manifest.v1+json"));
	json_object_object_add(m, "config", desc(cfg_mt, cfg_hex, cfg_size));
	json_object_object_add(m, "layers", layers);
	return m;
}

/* An image as it is: its layers, its config's very bytes. */
static int add_image(struct layer_bundle *b, const struct layer_image *img, struct json_object *ann,
		     struct dv_error *err)
{
	struct json_object *layers = json_object_new_array();
	char hex[65], cfg[65];

	for (size_t i = 0; i < img->layers.n; i++) {
		unsigned long long size;

		if (layer_bundle_add_layer(b, img->layers.v[i], hex, &size, err) < 0) {
			json_object_put(layers);
			json_object_put(ann);
			return -1;
		}
		json_object_array_add(layers, desc(MT_LAYER, hex, size));
	}
	layer_bundle_add_text(b, img->config ? img->config : "{}", cfg);
	if (strcmp(cfg, img->id + 7)) {
		json_object_put(layers);
		json_object_put(ann);
		return dv_err_plain(err, EINVAL,
				    "image '%s': its config does not hash to its id; pull or "
				    "bootstrap it again",
				    img->name);
	}
	layer_bundle_add_manifest(b,
				  manifest("application/vnd.oci.image.config.v1+json", cfg,
					   strlen(img->config ? img->config : "{}"), layers),
				  ann);
	return 0;
}

/* An artifact of one blob (a tar or a file). */
static void add_artifact(struct layer_bundle *b, const char *type, const char *hex,
			 unsigned long long size, const char *mt, struct json_object *ann)
{
	struct json_object *layers = json_object_new_array(), *m;
	char empty[65];

	layer_bundle_add_text(b, "{}", empty);
	json_object_array_add(layers, desc(mt, hex, size));
	m = manifest(MT_EMPTY, empty, 2, layers);
	json_object_object_add(m, "artifactType", json_object_new_string(type));
	/* On the manifest (whose digest is checked) and in index.json. */
	json_object_object_add(m, "annotations", json_object_get(ann));
	layer_bundle_add_manifest(b, m, ann);
}

/* The step's input in inputs/, fetched now when missing: its name. */
static int input_here(const struct layer_store *st, const struct env_spec *spec,
		      const struct env_step *step, int inputs, const char *name,
		      struct dv_error *err)
{
	dv_autofree char *staging = NULL, *dir = NULL, *path = NULL;
	struct dv_error ignored = { 0 };
	int ret;

	if (faccessat(inputs, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	dir = layer_staging_path(st, staging, "diff");
	ret = step->kind == ENV_STEP_GIT ? prov_git_clone(spec, step, dir, &path, err)
					 : prov_download(spec, step, dir, &path, err);
	if (ret == 0 && renameat(AT_FDCWD, path, inputs, name) < 0 && errno != EEXIST &&
	    errno != ENOTEMPTY)
		ret = dv_err(err, errno, "cannot keep '%s' in '%s/inputs'", name, st->root);
	layer_staging_discard(st, staging, &ignored);
	return ret;
}

static int add_inputs(struct layer_bundle *b, const struct layer_store *st,
		      const struct env_spec *spec, struct dv_error *err)
{
	dv_autoclose int inputs = -1;

	for (size_t i = 0; i < spec->n_provision; i++) {
		const struct env_step *s = &spec->provision[i];
		dv_autofree char *name = prov_input_name(s), *path = NULL;
		struct json_object *ann;
		unsigned long long size;
		char hex[65];

		if (!name)
			continue;
		if (inputs < 0 && (inputs = prov_inputs_dir(st, true, err)) < 0)
			return -1;
		if (input_here(st, spec, s, inputs, name, err) < 0)
			return -1;
		path = dv_xasprintf("%s/inputs/%s", st->root, name);
		ann = notes(s->kind == ENV_STEP_GIT ? "git" : "download", NULL);
		if (s->kind == ENV_STEP_GIT) {
			if (layer_bundle_add_dir(b, path, hex, &size, err) < 0) {
				json_object_put(ann);
				return -1;
			}
			json_object_object_add(ann, "dev.devenv.git.url",
					       json_object_new_string(s->git));
			if (s->ref)
				json_object_object_add(ann, "dev.devenv.git.ref",
						       json_object_new_string(s->ref));
			json_object_object_add(ann, "dev.devenv.git.commit",
					       json_object_new_string(s->git_commit));
			add_artifact(b, "application/vnd.dev.devenv.git.v1", hex, size, MT_LAYER,
				     ann);
		} else {
			dv_autoclose int fd =
				openat(inputs, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0 || layer_bundle_add_fd(b, fd, hex, &size, err) < 0) {
				json_object_put(ann);
				return dv_err_isset(err)
					       ? -1
					       : dv_err(err, errno, "cannot read '%s'", path);
			}
			if (strcmp(hex, s->sha256)) {
				json_object_put(ann);
				return dv_err_plain(err, EBADMSG,
						    "'%s' does not hash to the Envfile's sha256; remove "
						    "it and bundle again",
						    path);
			}
			json_object_object_add(ann, "dev.devenv.download.url",
					       json_object_new_string(s->download));
			json_object_object_add(ann, "dev.devenv.download.sha256",
					       json_object_new_string(s->sha256));
			add_artifact(b, "application/vnd.dev.devenv.download.v1", hex, size,
				     "application/octet-stream", ann);
		}
	}
	return 0;
}

/* The Envfile.lock beside the Envfile, opened beneath the checkout. */
static int add_lock(struct layer_bundle *b, const struct env_spec *spec, struct dv_error *err)
{
	dv_autofree char *rel = dv_xstrdup(spec->relpath), *lock = NULL;
	char *slash = strrchr(rel, '/');
	dv_autoclose int root = -1, fd = -1;
	unsigned long long size;
	struct stat sb;
	char hex[65];

	if (slash)
		slash[1] = 0;
	lock = dv_xasprintf("%sEnvfile.lock", slash ? rel : "");
	root = open(spec->checkout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return dv_err(err, errno, "cannot open '%s'", spec->checkout);
	fd = dv_openat_beneath(root, lock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return dv_err(err, fd < 0 ? errno : EINVAL,
			      "cannot read '%s' (it must be a regular file)", lock);
	if (layer_bundle_add_fd(b, fd, hex, &size, err) < 0)
		return -1;
	add_artifact(b, "application/vnd.dev.devenv.lock.v1", hex, size, "application/json",
		     notes("lock", NULL));
	return 0;
}

/* Nothing leaves with a secret's value of now in it, as for push
 * (provision/teamcache.c): looked for before anything is written. A step
 * the store lacks is left to the caller's loop, which names it. */
static int scan_secrets(const struct layer_store *st, const struct env_spec *spec,
			const struct dv_strv *keys, const char *env_id, struct dv_error *err)
{
	struct prov_secrets sec = { 0 };
	struct layer_cache_scope scope = { &spec->cache_from, env_id };
	int r;

	if (!spec->n_secrets)
		return 0;
	r = prov_secrets_read(spec, PROV_SECRETS_STEPS | PROV_SECRETS_ON_UP, &sec, err);
	for (size_t i = 0; r == 0 && i < keys->n; i++) {
		char id[65];
		dv_autofree char *dir = NULL, *what = NULL;

		if (layer_cache_get(st, keys->v[i], &scope, id, &(struct dv_error){ 0 }) < 0)
			continue;
		dir = layer_diff_path(st, id);
		what = dv_xasprintf("step %zu's files", i + 1);
		if ((r = prov_secrets_scan(&sec, dir, what, err)) < 0)
			dv_err_prefix(err, "cannot bundle env '%s'", spec->name);
	}
	prov_secrets_release(&sec);
	return r;
}

int env_bundle(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
	       const char *file, int uid, int gid, struct dv_error *err)
{
	struct env_spec *spec = &env->spec;
	struct layer_image base = { 0 };
	struct layer_bundle *b = NULL;
	struct dv_strv keys = { 0 };
	struct json_object *layers, *ann, *m;
	dv_autofree char *config = NULL;
	struct dv_strv diff_ids = { 0 };
	char env_id[13] = "", hex[65];
	bool pinned;
	int ret = -1;

	(void)ctx;
	/* The base this env runs on, as push takes it (env/push.c). */
	pinned = env->has_state && env->state.image_for &&
		 !strcmp(env->state.image_for, spec->image) &&
		 layer_image_resolve(st, env->state.image, &base, &(struct dv_error){ 0 }) == 0;
	if (!pinned && layer_image_resolve(st, spec->image, &base, err) < 0) {
		if (err->errnum == ENOENT)
			dv_err_plain(err, ENOENT,
				     "image '%s' is not in this store; run 'devenv up' first, then "
				     "bundle",
				     spec->image);
		goto out;
	}
	/* The keys as the build made them: the lock's commits and times. */
	if (env_lock_pins(spec, err) < 0 || prov_git_resolve(st, spec, false, err) < 0 ||
	    prov_keys(spec, base.id, &keys, err) < 0)
		goto out;
	prov_env_id(spec->checkout, spec->relpath, env_id);
	if (scan_secrets(st, spec, &keys, env_id, err) < 0 || !(b = layer_bundle_new(st, err)))
		goto out;
	ann = notes("base", spec->image);
	json_object_object_add(ann, "dev.devenv.image.id", json_object_new_string(base.id));
	if (add_image(b, &base, ann, err) < 0)
		goto out;
	layers = json_object_new_array();
	for (size_t i = 0; i < base.layers.n + keys.n; i++) {
		bool step = i >= base.layers.n;
		const char *key = step ? keys.v[i - base.layers.n] : NULL;
		struct layer_cache_scope scope = { &spec->cache_from, env_id };
		unsigned long long size;
		char id[65];

		if (step && layer_cache_get(st, key, &scope, id, err) < 0) {
			const struct env_step *s = &spec->provision[i - base.layers.n];

			json_object_put(layers);
			if (err->errnum == ENOENT)
				dv_err_at(err, spec->display, s->line, s->col,
					  "this step is not provisioned in this store; run 'devenv "
					  "up' first, then bundle");
			goto out;
		}
		if (layer_bundle_add_layer(b, step ? id : base.layers.v[i], hex, &size, err) < 0) {
			json_object_put(layers);
			goto out;
		}
		dv_strv_push(&diff_ids, hex);
		m = desc(MT_LAYER, hex, size);
		if (step) {
			dv_autofree char *label =
				prov_step_label(&spec->provision[i - base.layers.n]);
			struct json_object *a = json_object_new_object();

			json_object_object_add(a, "dev.devenv.cache.key",
					       json_object_new_string(key));
			json_object_object_add(a, "dev.devenv.step", json_object_new_string(label));
			json_object_object_add(m, "annotations", a);
		}
		json_object_array_add(layers, m);
	}
	if (!(config = layer_config_with_diff_ids(base.config, &diff_ids, err))) {
		json_object_put(layers);
		goto out;
	}
	layer_bundle_add_text(b, config, hex);
	m = manifest("application/vnd.oci.image.config.v1+json", hex, strlen(config), layers);
	ann = json_object_new_object();
	json_object_object_add(ann, "dev.devenv.base.ref", json_object_new_string(spec->image));
	json_object_object_add(ann, "dev.devenv.base.ids", json_object_new_string(base.id));
	json_object_object_add(m, "annotations", ann);
	layer_bundle_add_manifest(b, m, notes("env", spec->name));
	for (size_t i = 0; i < spec->n_services; i++) {
		struct layer_image img = { 0 };
		int r;

		if (layer_image_resolve(st, spec->services[i].image, &img, err) < 0) {
			if (err->errnum == ENOENT)
				dv_err_at(err, spec->display, spec->services[i].image_line,
					  spec->services[i].image_col,
					  "service '%s': image '%s' is not in this store; run 'devenv "
					  "up' first, then bundle",
					  spec->services[i].name, spec->services[i].image);
			goto out;
		}
		ann = notes("service", spec->services[i].image);
		json_object_object_add(ann, "dev.devenv.service",
				       json_object_new_string(spec->services[i].name));
		r = add_image(b, &img, ann, err);
		layer_image_release(&img);
		if (r < 0)
			goto out;
	}
	if (add_inputs(b, st, spec, err) < 0 || add_lock(b, spec, err) < 0 ||
	    layer_bundle_write(b, file, uid, gid, err) < 0)
		goto out;
	ret = 0;
out:
	layer_bundle_free(b);
	layer_image_release(&base);
	dv_strv_release(&keys);
	dv_strv_release(&diff_ids);
	return ret;
}
