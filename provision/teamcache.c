/*
 * provision/teamcache.c - the team cache: provisioning steps' layers taken
 * from registry images (Envfile `cache_from`, `up --cache-from`), and
 * `devenv push` of an env's provisioning, which makes such images.
 *
 * A pushed env is an ordinary OCI image: the base image's layers, then one
 * layer per step, each annotated with its cache key (dev.devenv.cache.key),
 * so skopeo, podman and `image: REF` all read it. Its manifest names the
 * base: dev.devenv.base.ref is the Envfile's `image:` as written and, for a
 * base no registry serves (bootstrapped or imported here),
 * dev.devenv.base.manifest is the digest of that base pushed untagged into
 * the same repository. A teammate's store then takes the very same base
 * from there, and so computes the same keys.
 *
 * Keys start from the base image's id (provision/key.c). A base re-exported
 * for the push can get another config digest than the pusher's (export.c
 * writes its own tar form), so a step's annotation may hold two keys,
 * comma-separated: the pusher's, and the one a store holding the pushed base
 * computes.
 *
 * A cache source that cannot be read is a warning and its steps run here:
 * the cache only ever saves time, it never stops an `up`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "util/banned.h"

#define ANN_KEY "dev.devenv.cache.key"
#define ANN_STEP "dev.devenv.step"
#define ANN_BASE_REF "dev.devenv.base.ref"
#define ANN_BASE_MANIFEST "dev.devenv.base.manifest"
#define ANN_BASE_IDS "dev.devenv.base.ids"
#define ANN_RECIPE "dev.devenv.recipe" /* what the key was made of (recipe.c) */

struct prov_team {
	const struct dv_strv *refs;
	const char *image; /* the Envfile's `image:` */
	const struct env_spec *spec;
	bool quiet;                  /* nothing to build: no warning for a source
					  that cannot be read */
	char env[13];                /* the env's id, "" when unknown */
	struct reg_remote **remotes; /* opened on first use */
	bool *tried;
	bool *told;        /* warned that its base is not ours */
	char (*marks)[17]; /* cache_trust: the file's mark each source was checked with */
};

struct prov_team *prov_team_new(const struct env_spec *spec)
{
	struct prov_team *t;
	size_t n = spec->cache_from.n;

	if (!n)
		return NULL;
	t = dv_xcalloc(1, sizeof(*t));
	t->refs = &spec->cache_from;
	t->image = spec->image;
	t->spec = spec;
	if (spec->checkout && spec->relpath)
		prov_env_id(spec->checkout, spec->relpath, t->env);
	t->remotes = dv_xcalloc(n, sizeof(*t->remotes));
	t->tried = dv_xcalloc(n, sizeof(*t->tried));
	t->told = dv_xcalloc(n, sizeof(*t->told));
	t->marks = dv_xcalloc(n, sizeof(*t->marks));
	return t;
}

void prov_team_free(struct prov_team *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->refs->n; i++)
		reg_remote_free(t->remotes[i]);
	free(t->remotes);
	free(t->tried);
	free(t->told);
	free(t->marks);
	free(t);
}

/* Source i, opened the first time; NULL (after one warning, unless
 * t->quiet) when it cannot be read. */
static struct reg_remote *source(struct prov_team *t, size_t i)
{
	struct dv_error err = { 0 };

	if (t->tried[i])
		return t->remotes[i];
	t->tried[i] = true;
	if (reg_remote_open(t->refs->v[i], &t->remotes[i], &err) < 0 && !t->quiet)
		fprintf(stderr, "devenv: warning: cache_from '%s': %s; its steps run here\n",
			t->refs->v[i], err.msg);
	/* `cache_trust`: nothing of a source whose manifest no listed key
	 * signed, neither its layers nor its base. */
	if (t->remotes[i] && t->spec->cache_trust) {
		dv_autofree char *who = NULL;

		if (prov_sig_check(t->spec, t->remotes[i], &who, t->marks[i], &err) != 0) {
			if (!t->quiet)
				fprintf(stderr,
					"devenv: warning: cache_from '%s': %s; its steps run "
					"here\n",
					t->refs->v[i], err.msg);
			reg_remote_free(t->remotes[i]);
			t->remotes[i] = NULL;
		}
	}
	return t->remotes[i];
}

/* Drop source i after a failure, with one warning. */
static void drop(struct prov_team *t, size_t i, const struct dv_error *err)
{
	fprintf(stderr, "devenv: warning: cache_from '%s': %s; its steps run here\n", t->refs->v[i],
		err->msg);
	reg_remote_free(t->remotes[i]);
	t->remotes[i] = NULL;
}

/* Does the comma-separated list hold key? */
static bool lists_key(const char *list, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, key, n) && (p[n] == ',' || p[n] == 0))
			return true;
	return false;
}

/* Source i has no layer for a key: when it was built on an image of the
 * same name but another id, none of its keys can match ours; say so once,
 * and how to take its base instead. */
static void tell_other_base(struct prov_team *t, size_t i, const char *base_id)
{
	struct reg_remote *r = t->remotes[i];
	const char *ref = reg_remote_annotation(r, SIZE_MAX, ANN_BASE_REF);
	const char *ids = reg_remote_annotation(r, SIZE_MAX, ANN_BASE_IDS);
	const char *hex = dv_str_startswith(base_id, "sha256:") ? base_id + 7 : base_id;

	if (t->told[i] || !ref || !ids || strcmp(ref, t->image) || lists_key(ids, hex))
		return;
	t->told[i] = true;
	/* A base of a registry's (its tag has moved since), or one the cache
	 * does not carry: prov_team_pin could not take it. */
	if (layer_ref_has_host(t->image))
		fprintf(stderr,
			"devenv: warning: cache_from '%s' was built on another '%s' than this "
			"store's (sha256:%.12s); none of its steps can be used. 'devenv pull %s' "
			"takes the registry's current one.\n",
			t->refs->v[i], t->image, hex, t->image);
	else
		fprintf(stderr,
			"devenv: warning: cache_from '%s' was built on another '%s' than this "
			"store's (sha256:%.12s) and does not carry it; none of its steps can be "
			"used. A 'devenv push' of the cache by this devenv sends its base along.\n",
			t->refs->v[i], t->image, hex);
}

int prov_team_fetch(const struct layer_store *st, struct prov_team *t, const char *base_id,
		    const char *key, char id[65], struct dv_error *err)
{
	for (size_t i = 0; t && i < t->refs->n; i++) {
		struct reg_remote *r = source(t, i);
		struct dv_error fail = { 0 };
		size_t l, n = r ? reg_remote_layers(r) : 0;

		for (l = 0; l < n; l++)
			if (lists_key(reg_remote_annotation(r, l, ANN_KEY), key))
				break;
		if (!r)
			continue;
		if (l == n) {
			tell_other_base(t, i, base_id);
			continue;
		}
		if (reg_remote_fetch(st, r, l, id, &fail) < 0) {
			if (fail.errnum == ENOSPC || fail.errnum == EDQUOT) {
				*err = fail; /* running the step would not fit either */
				return -1;
			}
			drop(t, i, &fail);
			continue;
		}
		/* Recorded with its source: it serves the envs that name that
		 * source (and this env), never another project's same step. */
		if (layer_cache_put_trust(st, key, id, reg_remote_name(r), t->env[0] ? t->env : NULL,
					  t->spec->cache_trust ? t->marks[i] : NULL, err) < 0)
			return -1;
		return 0;
	}
	return 1;
}

int prov_team_diff_id(struct prov_team *t, const char *key, const char **from, char diff_id[65])
{
	for (size_t i = 0; t && i < t->refs->n; i++) {
		struct reg_remote *r = source(t, i);
		size_t n = r ? reg_remote_layers(r) : 0;

		for (size_t l = 0; l < n; l++) {
			const char *d = reg_remote_diff_id(r, l);

			if (d && lists_key(reg_remote_annotation(r, l, ANN_KEY), key)) {
				*from = t->refs->v[i];
				snprintf(diff_id, 65, "%s", d);
				return 0;
			}
		}
	}
	return 1;
}

/* A base taken from source i: the mark of the cache_trust file its
 * signature was checked against (none without cache_trust). */
static void set_trust(const struct prov_team *t, size_t i, struct layer_image *img)
{
	free(img->from_trust);
	img->from_trust = t->spec->cache_trust ? dv_xstrdup(t->marks[i]) : NULL;
}

/* ...and the base ids source i says it stands for (an env's cache: the
 * pusher's base id and the pushed base's), for Envfile.lock. */
static void set_ids(struct layer_image *img, const char *ids, bool self)
{
	free(img->from_ids);
	img->from_ids = ids && !self ? dv_xstrdup(ids) : NULL;
}

bool prov_team_stands_for(const struct layer_image *img, const char *id)
{
	const char *hex = dv_str_startswith(id, "sha256:") ? id + 7 : id;
	const char *own = dv_str_startswith(img->id, "sha256:") ? img->id + 7 : img->id;

	if (!strcmp(img->id, id))
		return true;
	return img->from && img->from_ids && lists_key(img->from_ids, own) &&
	       lists_key(img->from_ids, hex);
}

bool prov_team_vouches(const struct env_spec *spec, const struct layer_image *img)
{
	char env[13], mark[17];

	if (!img->from)
		return true;
	if (!spec)
		return false;
	/* With cache_trust, a team's base only when its source's signature
	 * was checked against this very file (a bundle's: the developer's
	 * own act, scoped to its env below). */
	if (spec->cache_trust && strncmp(img->from, "bundle:", 7) &&
	    (!img->from_trust || strcmp(img->from_trust, prov_sig_mark(spec, mark))))
		return false;
	if (img->from_env && spec->checkout && spec->relpath) {
		prov_env_id(spec->checkout, spec->relpath, env);
		if (!strcmp(img->from_env, env))
			return true;
	}
	for (size_t i = 0; i < spec->cache_from.n; i++) {
		dv_autofree char *norm = NULL;

		if (layer_ref_normalize(spec->cache_from.v[i], false, &norm,
					&(struct dv_error){ 0 }) == 0 &&
		    !strcmp(norm, img->from))
			return true;
	}
	return false;
}

/* "host/repo" of a normalised "host/repo:tag" or "host/repo@sha256:…". */
static char *repository(const char *name)
{
	const char *at = strchr(name, '@'), *slash = strrchr(name, '/');
	const char *colon = strrchr(name, ':');

	if (at)
		return dv_xstrndup(name, (size_t)(at - name));
	if (colon && slash && colon > slash)
		return dv_xstrndup(name, (size_t)(colon - name));
	return dv_xstrdup(name);
}

/* The base source i says `image` (as the Envfile writes it) stands for,
 * as "repo@sha256:HEX" (caller frees), or NULL: either an env's cache
 * built on `image` (ANN_BASE_REF, the base pushed along under
 * ANN_BASE_MANIFEST; *ids: the base ids its keys start from), or a team's
 * base itself, pushed from a store where it had that name
 * (REG_ANN_IMAGE_REF; *ids: its config's digest). */
static char *base_of(struct prov_team *t, size_t i, const char *image, const char **ids, bool *self)
{
	struct reg_remote *r = source(t, i);
	const char *ref, *digest, *own;
	dv_autofree char *repo = NULL, *norm = NULL;

	*ids = NULL;
	*self = false;
	if (!r)
		return NULL;
	repo = repository(reg_remote_name(r));
	ref = reg_remote_annotation(r, SIZE_MAX, ANN_BASE_REF);
	digest = reg_remote_annotation(r, SIZE_MAX, ANN_BASE_MANIFEST);
	/* The digest is the registry's word: printed and pulled only when it
	 * is one (no byte a terminal acts on). */
	if (ref && !strcmp(ref, image) && dv_digest_hex(digest)) {
		*ids = reg_remote_annotation(r, SIZE_MAX, ANN_BASE_IDS);
		return dv_xasprintf("%s@%s", repo, digest);
	}
	own = reg_remote_annotation(r, SIZE_MAX, REG_ANN_IMAGE_REF);
	if (own && layer_ref_normalize(image, true, &norm, &(struct dv_error){ 0 }) == 0 &&
	    !strcmp(own, norm)) {
		*ids = reg_remote_config(r);
		*self = true;
		return dv_xasprintf("%s@sha256:%s", repo, reg_remote_digest(r));
	}
	return NULL;
}

int prov_team_base(const struct layer_store *st, struct prov_team *t, const char *image,
		   struct layer_image *img, struct dv_error *err)
{
	for (size_t i = 0; t && i < t->refs->n; i++) {
		const char *ids;
		bool self;
		dv_autofree char *from = base_of(t, i, image, &ids, &self);
		struct layer_image pulled = { 0 };
		struct dv_error fail = { 0 };

		if (!from)
			continue;
		if (self)
			fprintf(stderr,
				"devenv: image '%s' is not in the store; pulling the team's, "
				"cache_from '%s'\n",
				image, t->refs->v[i]);
		else
			fprintf(stderr,
				"devenv: image '%s' is not in the store; pulling the one '%s' "
				"was built on\n",
				image, t->refs->v[i]);
		if (reg_pull(st, from, &pulled, &fail) < 0) {
			drop(t, i, &fail);
			continue;
		}
		layer_image_release(&pulled);
		/* Under the Envfile's name, as a bootstrap or import records it
		 * (the digest name it was pulled under is not kept), with where
		 * it came from: it serves the envs naming that source, and this
		 * one, never another project's `image:` of the same name. */
		if (layer_image_tag(st, from, image, img, err) < 0 || (set_trust(t, i, img), 0) ||
		    (set_ids(img, ids, self), 0) ||
		    layer_image_scope(st, img, reg_remote_name(t->remotes[i]),
				      t->env[0] ? t->env : NULL, err) < 0)
			return -1;
		layer_image_remove(st, from, &(struct dv_error){ 0 });
		return 0;
	}
	return 1;
}

int prov_team_pin(const struct layer_store *st, struct prov_team *t, const char *image,
		  const struct layer_image *ours, bool quiet, struct layer_image *img,
		  struct dv_error *err)
{
	const char *hex = dv_str_startswith(ours->id, "sha256:") ? ours->id + 7 : ours->id;
	int ret = 1;

	if (t)
		t->quiet = quiet;

	for (size_t i = 0; t && i < t->refs->n; i++) {
		const char *ids;
		bool self;
		dv_autofree char *from = base_of(t, i, image, &ids, &self);
		struct dv_error fail = { 0 };

		if (!from)
			continue;
		if (ids && lists_key(ids, hex))
			break; /* built on ours: its keys are ours */
		/* Taken before, for this env or another clone naming the same
		 * source: no network beyond the manifest read above. */
		if (layer_image_resolve(st, from, img, &fail) == 0 &&
		    prov_team_vouches(t->spec, img)) {
			fprintf(stderr,
				"devenv: cache_from '%s' %s another '%s' than this store's "
				"(sha256:%.12s): this env uses that one, %s, pinned by digest; the "
				"store's '%s' stays as it is\n",
				t->refs->v[i], self ? "is" : "was built on", image, hex, from,
				image);
			ret = 0;
			break;
		}
		layer_image_release(img);
		fail = (struct dv_error){ 0 };
		fprintf(stderr,
			"devenv: cache_from '%s' %s another '%s' than this store's "
			"(sha256:%.12s): pulling that one, %s, pinned by digest for this env; the "
			"store's '%s' stays as it is\n",
			t->refs->v[i], self ? "is" : "was built on", image, hex, from, image);
		if (reg_pull(st, from, img, &fail) < 0) {
			if (fail.errnum == ENOSPC || fail.errnum == EDQUOT) {
				*err = fail;
				ret = -1;
				break;
			}
			drop(t, i, &fail);
			continue;
		}
		/* Kept under its digest name, with where it came from: it
		 * serves the envs naming that source, and this one. */
		ret = 0;
		set_trust(t, i, img);
		set_ids(img, ids, self);
		if (layer_image_scope(st, img, reg_remote_name(t->remotes[i]),
				      t->env[0] ? t->env : NULL, err) < 0) {
			layer_image_release(img);
			ret = -1;
		}
		break;
	}
	if (t)
		t->quiet = false;
	return ret;
}

/* {"dev.devenv.cache.key": keys, "dev.devenv.step": label[,
 * "dev.devenv.recipe": its recipe, compact]} */
static struct json_object *step_notes(const char *key, const char *key2, const char *label,
				      const char *recipe)
{
	struct json_object *o = json_object_new_object();
	dv_autofree char *both = NULL;

	if (key2 && strcmp(key, key2))
		both = dv_xasprintf("%s,%s", key, key2);
	json_object_object_add(o, ANN_KEY, json_object_new_string(both ? both : key));
	json_object_object_add(o, ANN_STEP, json_object_new_string(label));
	if (recipe)
		json_object_object_add(o, ANN_RECIPE, json_object_new_string(recipe));
	return o;
}

int prov_team_push(const struct dv_ctx *ctx, const struct layer_store *st,
		   const struct env_spec *spec, const char *pinned_image, const char *dest,
		   enum reg_compression comp, struct dv_error *err)
{
	return prov_team_push_sign(ctx, st, spec, pinned_image, dest, comp, NULL, err);
}

int prov_team_push_sign(const struct dv_ctx *ctx, const struct layer_store *st,
			const struct env_spec *spec, const char *pinned_image, const char *dest,
			enum reg_compression comp, const char *sign, struct dv_error *err)
{
	return prov_team_push_out(ctx, st, spec, pinned_image, dest, comp, sign, NULL, NULL, err);
}

int prov_team_push_out(const struct dv_ctx *ctx, const struct layer_store *st,
		       const struct env_spec *spec, const char *pinned_image, const char *dest,
		       enum reg_compression comp, const char *sign, char **out_name,
		       char *out_digest, struct dv_error *err)
{
	struct layer_image base = { 0 }, img = { 0 };
	struct dv_strv keys = { 0 }, pushed_keys = { 0 };
	struct json_object **notes = NULL, *manifest_notes = json_object_new_object();
	struct reg_push_notes pn = { 0 };
	dv_autofree char *name = NULL;
	char digest[65], base_digest[65], base_config[72], ann[72], env_id[13] = "";
	bool own_base, pinned;
	size_t nb = 0;
	int ret = -1;

	/* The base this env runs on: a team's base it pinned (plan_make), or
	 * the store's image of the Envfile's name. */
	pinned = pinned_image &&
		 layer_image_resolve(st, pinned_image, &base, &(struct dv_error){ 0 }) == 0;
	if (!pinned && layer_image_resolve(st, spec->image, &base, err) < 0) {
		if (err->errnum == ENOENT)
			dv_err_plain(err, ENOENT,
				     "image '%s' is not in this store; run 'devenv up' first, "
				     "then push",
				     spec->image);
		goto out;
	}
	/* Only fills in the git steps' commits (as `up` would: the ones the
	 * layers were built from), hence the cast. */
	if (prov_git_resolve(st, (struct env_spec *)spec, false, err) < 0 ||
	    prov_keys(spec, base.id, &keys, err) < 0)
		goto out;
	img.name = base.name;
	img.config = base.config;
	for (size_t i = 0; i < base.layers.n; i++)
		dv_strv_push(&img.layers, base.layers.v[i]);
	nb = base.layers.n;
	if (spec->checkout && spec->relpath)
		prov_env_id(spec->checkout, spec->relpath, env_id);
	for (size_t i = 0; i < keys.n; i++) {
		struct layer_cache_scope scope = { &spec->cache_from, env_id[0] ? env_id : NULL };
		char id[65];

		if (layer_cache_get(st, keys.v[i], &scope, id, err) < 0) {
			const struct env_step *s = &spec->provision[i];

			if (err->errnum == ENOENT)
				dv_err_at(err, spec->display, s->line, s->col,
					  "this step is not provisioned in this store; run 'devenv "
					  "up' or 'devenv provision' first, then push");
			goto out;
		}
		dv_strv_push(&img.layers, id);
	}
	/* Nothing leaves with a secret's value of now in it (a layer built
	 * before the secret took that value), looked for before any byte is
	 * sent. */
	if (spec->n_secrets) {
		struct prov_secrets sec = { 0 };
		int r = prov_secrets_read(spec, PROV_SECRETS_STEPS | PROV_SECRETS_ON_UP, &sec, err);

		for (size_t i = 0; r == 0 && i < keys.n; i++) {
			dv_autofree char *dir = layer_diff_path(st, img.layers.v[nb + i]);
			dv_autofree char *what = dv_xasprintf("step %zu's files", i + 1);

			r = prov_secrets_scan(&sec, dir, what, err);
			if (r < 0)
				dv_err_prefix(err, "cannot push env '%s'", spec->name);
		}
		prov_secrets_release(&sec);
		if (r < 0)
			goto out;
	}
	/* A base no registry serves goes along, under its digest; so does a
	 * team's base this env pinned (from another repository, maybe). */
	own_base = pinned || !layer_ref_has_host(base.name) ||
		   dv_str_startswith(base.name, "localhost/");
	if (own_base) {
		struct reg_push_notes untagged = { .untagged = true };

		if (reg_push_image(st, &base, dest, comp, &untagged, NULL, NULL, base_digest,
				   base_config + 7, err) < 0)
			goto out;
		memcpy(base_config, "sha256:", 7);
		if (prov_keys(spec, base_config, &pushed_keys, err) < 0)
			goto out;
		snprintf(ann, sizeof(ann), "sha256:%s", base_digest);
		json_object_object_add(manifest_notes, ANN_BASE_MANIFEST,
				       json_object_new_string(ann));
	}
	json_object_object_add(manifest_notes, ANN_BASE_REF, json_object_new_string(spec->image));
	{
		/* The ids a store's base may have for these keys to match. */
		const char *y = dv_str_startswith(base.id, "sha256:") ? base.id + 7 : base.id;
		dv_autofree char *ids = own_base && strcmp(y, base_config + 7)
						? dv_xasprintf("%s,%s", y, base_config + 7)
						: dv_xstrdup(y);

		json_object_object_add(manifest_notes, ANN_BASE_IDS, json_object_new_string(ids));
	}
	notes = dv_xcalloc(img.layers.n, sizeof(*notes));
	for (size_t i = 0; i < keys.n; i++) {
		dv_autofree char *label = prov_step_label(&spec->provision[i]);
		dv_autofree char *recipe = prov_recipe_note(st, keys.v[i]);

		notes[nb + i] =
			step_notes(keys.v[i], own_base ? pushed_keys.v[i] : NULL, label, recipe);
	}
	pn.manifest = manifest_notes;
	pn.layer = notes;
	if (reg_push_image(st, &img, dest, comp, &pn, ctx->quiet ? NULL : stdout, &name, digest,
			   NULL, err) < 0)
		goto out;
	if (!ctx->quiet)
		printf("pushed env '%s' (%zu step%s) as %s@sha256:%s\n", spec->name, keys.n,
		       keys.n == 1 ? "" : "s", name, digest);
	if (sign) {
		if (prov_sign_manifest(sign, name, digest, err) < 0)
			goto out;
		if (!ctx->quiet)
			printf("signed %s@sha256:%s with '%s'\n", name, digest, sign);
	}
	if (out_digest)
		memcpy(out_digest, digest, 65);
	if (out_name) {
		*out_name = name;
		name = NULL;
	}
	ret = 0;
out:
	for (size_t i = 0; notes && i < img.layers.n; i++)
		json_object_put(notes[i]);
	free(notes);
	json_object_put(manifest_notes);
	dv_strv_release(&img.layers);
	dv_strv_release(&keys);
	dv_strv_release(&pushed_keys);
	layer_image_release(&base);
	return ret;
}

int prov_team_lookup(struct prov_team *t, const char *key, size_t step, const char **ref,
		     const char **note)
{
	*ref = *note = NULL;
	for (size_t i = 0; t && i < t->refs->n; i++) {
		struct reg_remote *r = source(t, i);
		size_t n = r ? reg_remote_layers(r) : 0, k = 0;

		for (size_t l = 0; l < n; l++) {
			const char *keys = reg_remote_annotation(r, l, ANN_KEY);

			if (!keys)
				continue;
			if (lists_key(keys, key)) {
				*ref = t->refs->v[i];
				return 0;
			}
			if (k++ == step && !*note) {
				*ref = t->refs->v[i];
				*note = reg_remote_annotation(r, l, ANN_RECIPE);
			}
		}
	}
	return 1;
}
