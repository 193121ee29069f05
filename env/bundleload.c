/*
 * env/bundleload.c - `devenv image load BUNDLE` in a project's checkout
 * (what a bundle holds: env/bundle.c). Every blob is checked against its
 * digest as it is read (layers/bundle.c), every layer against its
 * diff_id; the archive was unpacked beneath a staging folder, so no path
 * of it leaves that folder. What is loaded serves this env only (the
 * step layers' cache lines name it); the base and services are images
 * like pulled ones, the inputs are used only when their commit or sha256
 * is what a step asks for.
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
#include "provision/provision.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/banned.h"

#define ROLE "dev.devenv.bundle.role"

static void json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define layer_autojson __attribute__((cleanup(json_putp)))

static const char *note(struct json_object *o, const char *key)
{
	struct json_object *a, *v;

	if (!json_object_object_get_ex(o, "annotations", &a) ||
	    !json_object_object_get_ex(a, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static const char *digest_of(struct json_object *d)
{
	return dv_digest_hex(json_object_get_string(json_object_object_get(d, "digest")));
}

/* The one layer blob of an artifact manifest. */
static const char *artifact_blob(const struct layer_bundle *b, const char *man_hex,
				 struct json_object **man, struct dv_error *err)
{
	struct json_object *layers;
	const char *hex;

	if (layer_bundle_json(b, man_hex, man, err) < 0)
		return NULL;
	if (!json_object_object_get_ex(*man, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array) || json_object_array_length(layers) != 1 ||
	    !(hex = digest_of(json_object_array_get_idx(layers, 0)))) {
		dv_err_plain(err, EINVAL, "artifact sha256:%.12s of the bundle has not one blob",
			     man_hex);
		return NULL;
	}
	return hex;
}

/* A step's git input: the clone unpacked into inputs/git-<commit>
 * (remember_git, once all is loaded, points the steps at it). */
static int load_git(const struct layer_store *st, const struct layer_bundle *b, const char *man_hex,
		    int inputs, struct dv_error *err)
{
	layer_autojson struct json_object *man = NULL;
	const char *hex = artifact_blob(b, man_hex, &man, err), *url, *commit;
	dv_autofree char *staging = NULL, *name = NULL, *what = NULL;
	dv_autoclose int sfd = -1, dfd = -1, rfd = -1;
	struct dv_error ignored = { 0 };
	int ret = -1;

	if (!hex)
		return -1;
	url = note(man, "dev.devenv.git.url");
	commit = note(man, "dev.devenv.git.commit");
	if (!url || !commit || !dv_str_is_hex(commit, 40))
		return dv_err_plain(err, EINVAL,
				    "git input sha256:%.12s of the bundle names no URL or commit",
				    man_hex);
	name = dv_xasprintf("git-%s", commit);
	if (faccessat(inputs, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	what = dv_xasprintf("git input sha256:%.12s of the bundle", man_hex);
	/* Only what a clone is read from is kept, in repo/ (gitkeep.c). */
	if ((sfd = dv_open_dir_at(st->tmp_fd, staging, err)) >= 0 &&
	    (dfd = dv_open_dir_at(sfd, "diff", err)) >= 0 &&
	    layer_bundle_extract(b, hex, dfd, err) == 0 &&
	    (mkdirat(sfd, "repo", 0700) == 0 || dv_err(err, errno, "cannot make %s", what) == 0) &&
	    (rfd = dv_open_dir_at(sfd, "repo", err)) >= 0 &&
	    prov_git_keep(dfd, rfd, what, err) == 0) {
		dv_fault_point("bundle.input");
		/* Flushed before the rename shows it, as a layer's commit is. */
		ret = syncfs(st->root_fd) < 0 ? -1 : renameat(sfd, "repo", inputs, name);
		if (ret < 0 && (errno == EEXIST || errno == ENOTEMPTY))
			ret = 0;
		else if (ret < 0)
			dv_err(err, errno, "cannot keep '%s' in '%s/inputs'", name, st->root);
	}
	layer_staging_discard(st, staging, &ignored);
	return ret;
}

/* Once everything loaded: each git step of this Envfile with the input's
 * URL and ref gets its commit remembered (so `up` asks no remote). */
static int remember_git(const struct layer_store *st, const struct env_spec *spec,
			const struct layer_bundle *b, const char *man_hex, struct dv_error *err)
{
	layer_autojson struct json_object *man = NULL;
	const char *url, *ref, *commit;

	if (layer_bundle_json(b, man_hex, &man, err) < 0)
		return -1;
	url = note(man, "dev.devenv.git.url");
	ref = note(man, "dev.devenv.git.ref");
	commit = note(man, "dev.devenv.git.commit");
	for (size_t i = 0; url && commit && i < spec->n_provision; i++) {
		const struct env_step *s = &spec->provision[i];

		if (s->kind == ENV_STEP_GIT && !strcmp(s->git, url) &&
		    !strcmp(s->ref ? s->ref : "", ref ? ref : "") &&
		    prov_git_remember(st, spec, s, commit, err) < 0)
			return -1;
	}
	return 0;
}

/* A download: its bytes as inputs/download-<sha256> (the blob's digest is
 * their sha256, checked as it was opened). Streamed (a download may be
 * large) into a staging folder of tmp/ and renamed in once whole: a load
 * killed half-way leaves inputs/ as it was, and its folder to `gc`. */
static int load_download(const struct layer_store *st, const struct layer_bundle *b,
			 const char *man_hex, int inputs, struct dv_error *err)
{
	layer_autojson struct json_object *man = NULL;
	const char *hex = artifact_blob(b, man_hex, &man, err), *sha;
	dv_autofree char *name = NULL, *staging = NULL;
	dv_autoclose int fd = -1, sfd = -1, out = -1;
	char buf[65536];
	ssize_t r;
	int ret = -1;

	if (!hex)
		return -1;
	sha = note(man, "dev.devenv.download.sha256");
	if (!sha || strcmp(sha, hex))
		return dv_err_plain(err, EBADMSG,
				    "download input sha256:%.12s of the bundle: its sha256 "
				    "annotation is not its blob's digest",
				    man_hex);
	name = dv_xasprintf("download-%s", hex);
	if (faccessat(inputs, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if ((fd = layer_bundle_blob(b, hex, err)) < 0 || layer_staging_new(st, &staging, err) < 0)
		return -1;
	if ((sfd = dv_open_dir_at(st->tmp_fd, staging, err)) < 0)
		goto out;
	out = openat(sfd, "diff/input", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		dv_err(err, errno, "cannot create '%s/tmp/%s/diff/input'", st->root, staging);
		goto out;
	}
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			dv_err(err, errno, "cannot read the bundle");
			goto out;
		}
		if (dv_write_full(out, buf, (size_t)r, err) < 0)
			goto out;
		dv_fault_point("bundle.input");
	}
	if (fsync(out) < 0 || renameat(sfd, "diff/input", inputs, name) < 0) {
		dv_err(err, errno, "cannot write '%s/inputs/%s'", st->root, name);
		goto out;
	}
	ret = 0;
out:
	layer_staging_discard(st, staging, &(struct dv_error){ 0 });
	return ret;
}

/* The step layers of the env manifest as cache/<key>, scoped to env_id. */
static int load_steps(const struct layer_store *st, const struct layer_bundle *b,
		      const char *man_hex, struct dv_strv *keys, struct dv_strv *ids,
		      struct dv_error *err)
{
	layer_autojson struct json_object *man = NULL;
	struct json_object *layers;

	(void)st;
	if (layer_bundle_json(b, man_hex, &man, err) < 0)
		return -1;
	if (!json_object_object_get_ex(man, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		return dv_err_plain(err, EINVAL, "the bundle's env manifest lists no layers");
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		struct json_object *l = json_object_array_get_idx(layers, i);
		const char *key = note(l, "dev.devenv.cache.key"), *hex = digest_of(l);
		char id[65], step[96];

		if (!key)
			continue;
		if (!hex || !dv_is_sha256_hex(key))
			return dv_err_plain(err, EINVAL,
					    "layer %zu of the bundle's env manifest has a bad digest "
					    "or cache key",
					    i + 1);
		snprintf(step, sizeof(step), "bundle step %.64s", key);
		if (layer_bundle_import(b, hex, step, id, err) < 0)
			return -1;
		dv_strv_push(keys, key);
		dv_strv_push(ids, id);
	}
	return 0;
}

/* A base or service image, under the Envfile's name for it (an image no
 * name of the Envfile asks for is not loaded: 1), scoped to this env: a
 * bundle's sender names neither another project's images nor their
 * contents. */
static int load_image(const struct dv_ctx *ctx, const struct env_spec *spec,
		      const struct layer_bundle *b, struct json_object *d, const char *env_id,
		      struct dv_error *err)
{
	struct layer_image img = { 0 };
	const char *name = NULL;
	const char *svc = note(d, "dev.devenv.service");
	dv_autofree char *source = dv_xasprintf("bundle:sha256:%s", digest_of(d));

	/* The Envfile's names for them: what `up` looks for. */
	if (!strcmp(note(d, ROLE), "base"))
		name = spec->image;
	for (size_t k = 0; svc && k < spec->n_services; k++)
		if (!strcmp(spec->services[k].name, svc))
			name = spec->services[k].image;
	if (!name)
		return 1;
	if (layer_bundle_image(b, digest_of(d), name, source, env_id, &img, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf("%s %s\n", img.name, img.id);
	layer_image_release(&img);
	return 0;
}

int env_bundle_load(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		    const char *file, struct dv_error *err)
{
	struct env_spec *spec = &env->spec;
	struct layer_bundle *b = NULL;
	struct json_object *mans;
	dv_autoclose int inputs = -1;
	char env_id[13];
	unsigned n_steps = 0, n_images = 0, n_inputs = 0;
	struct dv_strv keys = { 0 }, ids = { 0 };
	const char *env_hex = NULL;
	int ret = -1;

	prov_env_id(spec->checkout, spec->relpath, env_id);
	if (layer_bundle_open(st, file, &b, err) < 0)
		return -1;
	mans = layer_bundle_manifests(b);
	/* Checked first, loaded after: a bundle names what it is everywhere. */
	for (size_t i = 0; i < json_object_array_length(mans); i++) {
		struct json_object *d = json_object_array_get_idx(mans, i);

		if (!digest_of(d) || !note(d, ROLE)) {
			dv_err_plain(err, EINVAL,
				     "entry %zu of the bundle's index.json has a bad digest or no "
				     "role",
				     i + 1);
			goto out;
		}
	}
	/* Inputs first, then images, then the step layers; only when all of
	 * them are in does anything point at them (cache entries, remembered
	 * commits): a bundle that fails half-way serves nothing. */
	for (int phase = 0; phase < 3; phase++)
		for (size_t i = 0; i < json_object_array_length(mans); i++) {
			struct json_object *d = json_object_array_get_idx(mans, i);
			const char *role = note(d, ROLE), *hex = digest_of(d);
			bool input = !strcmp(role, "git") || !strcmp(role, "download");
			bool image = !strcmp(role, "base") || !strcmp(role, "service");

			if (phase == 0 && input) {
				if (inputs < 0 && (inputs = prov_inputs_dir(st, true, err)) < 0)
					goto out;
				if ((!strcmp(role, "git")
					     ? load_git(st, b, hex, inputs, err)
					     : load_download(st, b, hex, inputs, err)) < 0)
					goto out;
				n_inputs++;
			} else if (phase == 1 && image) {
				int r = load_image(ctx, spec, b, d, env_id, err);

				if (r < 0)
					goto out;
				n_images += r == 0;
			} else if (phase == 2 && !strcmp(role, "env")) {
				if (!env_hex)
					env_hex = hex;
				else {
					dv_err_plain(err, EINVAL, "the bundle holds two envs");
					goto out;
				}
				if (load_steps(st, b, hex, &keys, &ids, err) < 0)
					goto out;
			}
			/* "lock" and roles of later versions: carried, nothing to load. */
		}
	if (env_hex) {
		dv_autofree char *source = dv_xasprintf("bundle:sha256:%s", env_hex);

		for (size_t i = 0; i < keys.n; i++)
			if (layer_cache_put(st, keys.v[i], ids.v[i], source, env_id, err) < 0)
				goto out;
		n_steps = (unsigned)keys.n;
	}
	for (size_t i = 0; i < json_object_array_length(mans); i++) {
		struct json_object *d = json_object_array_get_idx(mans, i);

		if (!strcmp(note(d, ROLE), "git") && remember_git(st, spec, b, digest_of(d), err) < 0)
			goto out;
	}
	if (!ctx->quiet)
		printf("loaded %u image%s, %u step%s for env '%s' (%s) and %u input%s\n", n_images,
		       n_images == 1 ? "" : "s", n_steps, n_steps == 1 ? "" : "s", spec->name,
		       env_id, n_inputs, n_inputs == 1 ? "" : "s");
	ret = 0;
out:
	dv_strv_release(&keys);
	dv_strv_release(&ids);
	layer_bundle_free(b);
	return ret;
}
