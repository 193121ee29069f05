/*
 * env/lockfile.c - Envfile.lock in a plan (up.c): the base and the
 * services' images the lock pins, found in the store by id or pulled by
 * digest from the registry the Envfile's image names (never one the lock
 * names: it is the repository's, untrusted), and the lock written after a
 * build.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "env/internal.h"
#include "provision/lock.h"
#include "util/cleanup.h"
#include "util/banned.h"

bool *env_lock_updates(const struct env *env)
{
	bool *u = dv_xcalloc(env->spec.n_provision + 1, sizeof(*u));

	for (size_t i = 0; i < env->spec.n_provision; i++) {
		char num[24];

		snprintf(num, sizeof(num), "%zu", i + 1);
		u[i] = env->lock_all;
		for (size_t k = 0; k < env->lock_update.n; k++)
			if (!strcmp(env->lock_update.v[k], num))
				u[i] = true;
	}
	return u;
}

bool env_lock_updating(const struct env *env, const char *item)
{
	if (env->lock_all)
		return true;
	for (size_t k = 0; k < env->lock_update.n; k++)
		if (!strcmp(env->lock_update.v[k], item))
			return true;
	return false;
}

/* A store image of that id the spec may use (one named name first; one
 * of that very id before a team's base standing for it). */
static int by_id(const struct layer_store *st, const struct env_spec *spec, const char *id,
		 const char *name, struct layer_image *img)
{
	struct layer_image *all = NULL;
	size_t n = 0, pick = (size_t)-1;

	/* The name it had first: one record read, as without a lock. */
	if (layer_image_resolve(st, name, img, &(struct dv_error){ 0 }) == 0) {
		if (prov_team_stands_for(img, id) && prov_team_vouches(spec, img))
			return 0;
		layer_image_release(img);
	}
	if (layer_image_list(st, &all, &n, &(struct dv_error){ 0 }) < 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		bool same = !strcmp(all[i].id, id);

		if (!prov_team_stands_for(&all[i], id) || !prov_team_vouches(spec, &all[i]))
			continue;
		if (pick == (size_t)-1 || (same && strcmp(all[pick].id, id)) ||
		    (same == !strcmp(all[pick].id, id) && !strcmp(all[i].name, name)))
			pick = i;
	}
	if (pick != (size_t)-1) {
		*img = all[pick];
		memset(&all[pick], 0, sizeof(all[pick]));
	}
	for (size_t i = 0; i < n; i++)
		layer_image_release(&all[i]);
	free(all);
	return pick == (size_t)-1;
}

/* image (the Envfile's) by the lock's digest from its own registry. */
static int by_digest(const struct layer_store *st, const char *image, const char *digest,
		     const char *id, struct layer_image *img, struct dv_error *why)
{
	dv_autofree char *norm = NULL, *ref = NULL;
	size_t n;

	if (!strncmp(image, "debian:", 7) || layer_ref_normalize(image, false, &norm, why) < 0)
		return 1;
	n = strcspn(norm, "@");
	if (norm[n] != '@') { /* drop the tag: after the last '/', a ':' */
		char *slash = strrchr(norm, '/'), *colon = strrchr(norm, ':');

		n = colon && slash && colon > slash ? (size_t)(colon - norm) : strlen(norm);
	}
	ref = dv_xasprintf("%.*s@%s", (int)n, norm, digest);
	fprintf(stderr, "devenv: pulling %s, the base Envfile.lock pins\n", ref);
	if (reg_pull(st, ref, img, why) < 0)
		return 1;
	if (strcmp(img->id, id)) {
		dv_err_plain(why, EBADMSG, "%s has id %.19s..., not the lock's %.19s...", ref,
			     img->id, id);
		layer_image_release(img);
		return 1;
	}
	return 0;
}

/* What a machine lacking a pinned image is told. */
static int missing(const struct env *env, const char *what, const struct prov_lock_image *m,
		   const struct dv_error *why, struct dv_error *err)
{
	dv_autofree char *lock = prov_lock_display(&env->spec);

	/* Resolved as without a lock (a team's base among the ways): the
	 * plan says so when it is not the lock's (env_lock_differs). */
	if (!env->frozen)
		return 1;
	dv_err_plain(err, ENOENT,
		     "--frozen: %s %s pinned by %s (id %s%s%s) is not in the store and cannot be "
		     "fetched%s%s%s; get it from a registry that has it (%s), a team cache "
		     "(cache_from), or 'devenv image load BUNDLE'",
		     what, m->image, lock, m->id, m->digest ? ", digest " : "",
		     m->digest ? m->digest : "", why->msg[0] ? " (" : "", why->msg,
		     why->msg[0] ? ")" : "",
		     m->digest ? "by that digest" : "the lock names no digest: it was built here");
	return -1;
}

static int lock_image(const struct layer_store *st, const struct env *env,
		      const struct prov_lock_image *m, struct prov_team *team, const char *what,
		      struct layer_image *img, struct dv_error *err)
{
	struct dv_error why = { 0 };

	if (by_id(st, &env->spec, m->id, m->ref ? m->ref : m->image, img) == 0)
		return 0;
	if (m->digest && by_digest(st, m->image, m->digest, m->id, img, &why) == 0)
		return 0;
	/* Without --frozen the plan's own team paths follow (prov_team_pin). A
	 * team's base its source says stands for the lock's is the lock's. */
	if (env->frozen && team &&
	    prov_team_base(st, team, m->image, img, &(struct dv_error){ 0 }) == 0) {
		if (prov_team_stands_for(img, m->id))
			return 0;
		layer_image_release(img);
	}
	return missing(env, what, m, &why, err);
}

/* `lock --update`: image asked of its registry again (a moved tag: its
 * new image); 1 when it names none (bootstrapped, imported). */
static int repull(const struct layer_store *st, const char *image, struct layer_image *img)
{
	dv_autofree char *norm = NULL;
	struct dv_error why = { 0 };

	if (!strncmp(image, "debian:", 7) || !strncmp(image, "localhost/", 10) ||
	    layer_ref_normalize(image, false, &norm, &why) < 0)
		return 1;
	if (reg_pull(st, norm, img, &why) == 0)
		return 0;
	fprintf(stderr, "devenv: warning: cannot ask the registry for '%s' again (%s)\n", image,
		why.msg);
	return 1;
}

int env_lock_base(const struct layer_store *st, const struct env *env, const struct prov_lock *l,
		  struct prov_team *team, struct layer_image *img, struct dv_error *err)
{
	if (env_lock_updating(env, "base"))
		return repull(st, env->spec.image, img);
	if (!l || strcmp(l->base.image, env->spec.image))
		return 1;
	return lock_image(st, env, &l->base, team, "the base", img, err);
}

int env_lock_services(const struct layer_store *st, const struct env *env,
		      const struct prov_lock *l, struct layer_image *imgs, struct dv_error *err)
{
	for (size_t i = 0; i < env->spec.n_services; i++) {
		const struct env_service *svc = &env->spec.services[i];
		struct layer_image img = { 0 };
		size_t k;
		int r;

		for (k = 0; l && k < l->n_svcs && strcmp(l->svcs[k].name, svc->name); k++) {
		}
		if (env_lock_updating(env, svc->name)) {
			if (repull(st, svc->image, &img) == 0) {
				layer_image_release(&imgs[i]);
				imgs[i] = img;
			}
			continue;
		}
		if (!l || k == l->n_svcs || strcmp(l->svcs[k].image, svc->image) ||
		    !strcmp(imgs[i].id, l->svcs[k].id))
			continue;
		if ((r = lock_image(st, env, &l->svcs[k], NULL, "the service image", &img, err)) < 0)
			return -1;
		if (r == 0) {
			layer_image_release(&imgs[i]);
			imgs[i] = img;
		}
	}
	return 0;
}

bool env_lock_stands(const struct env_spec *spec, const struct prov_lock *l,
		     const struct layer_image *img)
{
	return l && !strcmp(l->base.image, spec->image) && strcmp(img->id, l->base.id) &&
	       prov_team_stands_for(img, l->base.id);
}

int env_lock_keys(const struct env_spec *spec, const struct prov_lock *l,
		  const struct layer_image *img, int gitdir, struct dv_strv *out,
		  struct dv_error *err)
{
	if (!env_lock_stands(spec, l, img))
		return 0;
	return prov_keys_at(spec, l->base.id, gitdir, out, err);
}

int env_lock_save(const struct dv_ctx *ctx, const struct env_spec *spec,
		  const struct prov_lock *old, const struct layer_image *base,
		  const struct dv_strv *keys, const struct layer_image *svcs, struct dv_error *err)
{
	struct prov_lock l;
	dv_autofree char *text = NULL, *disp = prov_lock_display(spec);
	struct layer_image as = { 0 };
	int r;

	/* A team's base standing for the lock's: the lock keeps its base (and
	 * keys is the plan's keys at that id: env_lock_keys). */
	if (env_lock_stands(spec, old, base)) {
		as.name = old->base.ref ? old->base.ref : base->name;
		as.id = old->base.id;
		base = &as;
	}
	if (prov_lock_make(spec, base, keys, svcs, old, &l, err) < 0)
		return -1;
	text = prov_lock_format(&l);
	prov_lock_release(&l);
	if ((r = prov_lock_write(spec, text, err)) < 0)
		return -1;
	if (r == 0 && !ctx->quiet)
		printf("%s %s\n", old ? "updated" : "wrote", disp);
	return r;
}

void env_lock_differs(const struct env *env, const struct prov_lock *l,
		      const struct layer_image *img)
{
	dv_autofree char *lock = prov_lock_display(&env->spec);

	if (!l || strcmp(l->base.image, env->spec.image) || prov_team_stands_for(img, l->base.id) ||
	    env_lock_updating(env, "base"))
		return;
	fprintf(stderr,
		"devenv: warning: the base %s names for '%s' (%.19s...) is not in this store and "
		"no registry serves it by digest; this env uses %s (%.19s...) and the lock is "
		"updated to it\n",
		lock, env->spec.image, l->base.id, img->name, img->id);
}

int env_lock_pins(struct env_spec *spec, struct dv_error *err)
{
	struct prov_lock l = { 0 };
	int r = prov_lock_read(spec, &l, err);

	if (r < 0)
		return -1;
	prov_lock_apply(spec, r == 0 ? &l : NULL, NULL);
	prov_lock_release(&l);
	return 0;
}
