/*
 * provision/lockplan.c - Envfile.lock against a spec: what the lock gives
 * a plan (git commits, the epoch, an `auto` snapshot time), the lock a
 * plan makes, and `--frozen`'s comparison of the Envfile's inputs with the
 * lock's (never the keys: they start from a base another machine may not
 * have).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "provision/lock.h"
#include "util/cleanup.h"
#include "util/hash.h"
#include "util/banned.h"

void prov_lock_input(const struct env_spec *spec, const struct env_step *step, char out[72])
{
	dv_autofree char *json = prov_step_json(spec, step);
	char hex[DV_SHA256_HEX];

	dv_sha256_hex(json, strlen(json), hex);
	snprintf(out, 72, "sha256:%s", hex);
}

bool prov_lock_frozen_env(void)
{
	const char *v = getenv("DEVENV_FROZEN");

	return v && *v && strcmp(v, "0") != 0;
}

void prov_lock_apply(struct env_spec *spec, const struct prov_lock *l, const bool *update)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	for (size_t i = 0; l && i < spec->n_provision; i++) {
		struct env_step *step = &spec->provision[i];
		char input[72];

		if (step->kind != ENV_STEP_GIT || step->git_commit || (update && update[i]))
			continue;
		prov_lock_input(spec, step, input);
		for (size_t k = 0; k < l->n_steps; k++)
			if (l->steps[k].commit && !strcmp(l->steps[k].input, input)) {
				step->git_commit = dv_xstrdup(l->steps[k].commit);
				break;
			}
	}
	/* The snapshot time: written (apt's parser resolves it, or here), or
	 * `auto`: the lock's, else now (the lock then keeps it). */
	if (spec->apt_snapshot && !spec->apt_snapshot_time) {
		if (strcmp(spec->apt_snapshot, "auto") != 0)
			prov_lock_time_parse(spec->apt_snapshot, &spec->apt_snapshot_time);
		else
			spec->apt_snapshot_time = l && l->apt_snapshot ? l->apt_snapshot
								       : (long long)time(NULL);
	}
	/* devenv's own SOURCE_DATE_EPOCH wins; else the lock's; else a new
	 * lock's: the snapshot time, or now. */
	if (sde && *sde) {
		char *end;
		long long v = strtoll(sde, &end, 10);

		if (!*end && v > 0)
			spec->source_date_epoch = v;
	}
	if (!spec->source_date_epoch)
		spec->source_date_epoch = l && l->source_date_epoch ? l->source_date_epoch
					  : spec->apt_snapshot_time ? spec->apt_snapshot_time
								    : (long long)time(NULL);
}

static char *dup_or_null(const char *s)
{
	return s ? dv_xstrdup(s) : NULL;
}

/* The manifest digest a registry served img by: the old lock's for the
 * same id, the digest of a digest name, or asked of the registry of its
 * name (one request, only when the lock has none for this id); NULL for
 * an image no registry serves (bootstrapped, imported, localhost/). */
static char *image_digest(const struct layer_image *img, const struct prov_lock_image *old)
{
	char hex[65];
	struct reg_remote *r = NULL;
	char *out = NULL;

	if (old && old->id && !strcmp(old->id, img->id))
		return dup_or_null(old->digest);
	if (layer_ref_digest(img->name, hex))
		return dv_xasprintf("sha256:%s", hex);
	if (!layer_ref_has_host(img->name) || !strncmp(img->name, "localhost/", 10) || img->from)
		return NULL;
	if (reg_remote_open(img->name, &r, &(struct dv_error){ 0 }) < 0)
		return NULL;
	if (reg_remote_config(r) && !strcmp(reg_remote_config(r), img->id + 7))
		out = dv_xasprintf("sha256:%s", reg_remote_digest(r));
	reg_remote_free(r);
	return out;
}

/* A copy step's content digest: sha256:<treesum of what it copies>. */
static int copy_content(const struct env_spec *spec, const struct env_step *step, const char *prev,
			char **out, struct dv_error *err)
{
	struct prov_copy c;

	if (prov_copy_open(spec, step, prev, &c, err) < 0)
		return -1;
	*out = dv_xasprintf("sha256:%s", c.digest);
	prov_copy_release(&c);
	return 0;
}

static const char *base_hex(const char *id)
{
	return strncmp(id, "sha256:", 7) == 0 ? id + 7 : id;
}

int prov_lock_make(const struct env_spec *spec, const struct layer_image *base,
		   const struct dv_strv *keys, const struct layer_image *svcs,
		   const struct prov_lock *old, struct prov_lock *out, struct dv_error *err)
{
	memset(out, 0, sizeof(*out));
	out->source_date_epoch = old && old->source_date_epoch ? old->source_date_epoch
				 : spec->source_date_epoch     ? spec->source_date_epoch
							       : (long long)time(NULL);
	out->apt_snapshot = spec->apt_snapshot ? spec->apt_snapshot_time : 0;
	out->base.image = dv_xstrdup(spec->image);
	/* The store's name as the lock first had it: another store may keep
	 * the same image under its digest name, and the lock must not churn. */
	out->base.ref =
		dv_xstrdup(old && old->base.id && !strcmp(old->base.id, base->id) && old->base.ref
				   ? old->base.ref
				   : base->name);
	out->base.id = dv_xstrdup(base->id);
	out->base.digest = image_digest(base, old ? &old->base : NULL);
	out->n_steps = spec->n_provision;
	out->steps = dv_xcalloc(out->n_steps + 1, sizeof(*out->steps));
	for (size_t i = 0; i < spec->n_provision; i++) {
		const struct env_step *step = &spec->provision[i];
		struct prov_lock_step *s = &out->steps[i];
		char input[72];

		prov_lock_input(spec, step, input);
		s->step = (unsigned)i + 1;
		s->label = prov_step_label(step);
		s->input = dv_xstrdup(input);
		s->key = dv_xstrdup(keys->v[i]);
		if (step->kind == ENV_STEP_GIT)
			s->commit = dup_or_null(step->git_commit);
		if (step->kind == ENV_STEP_DOWNLOAD)
			s->sha256 = dup_or_null(step->sha256);
		if (step->kind != ENV_STEP_COPY)
			continue;
		/* Its key holds the content: an unchanged key, the same content. */
		if (old && i < old->n_steps && old->steps[i].content &&
		    !strcmp(old->steps[i].key, keys->v[i])) {
			s->content = dv_xstrdup(old->steps[i].content);
		} else if (copy_content(spec, step, i ? keys->v[i - 1] : base_hex(base->id),
					&s->content, err) < 0) {
			prov_lock_release(out);
			return -1;
		}
	}
	out->n_svcs = spec->n_services;
	out->svcs = dv_xcalloc(out->n_svcs + 1, sizeof(*out->svcs));
	for (size_t i = 0; i < spec->n_services; i++) {
		struct prov_lock_image *m = &out->svcs[i];
		const struct prov_lock_image *was = NULL;

		for (size_t k = 0; old && k < old->n_svcs; k++)
			if (!strcmp(old->svcs[k].name, spec->services[i].name))
				was = &old->svcs[k];
		m->name = dv_xstrdup(spec->services[i].name);
		m->image = dv_xstrdup(spec->services[i].image);
		m->ref = dv_xstrdup(svcs[i].name);
		m->id = dv_xstrdup(svcs[i].id);
		m->digest = image_digest(&svcs[i], was);
	}
	return 0;
}

/* One line at the Envfile's position: what differs, why, and what to do. */
static int differs(const struct env_spec *spec, unsigned line, unsigned col, struct dv_error *err,
		   const char *what, const char *why)
{
	dv_autofree char *lock = prov_lock_display(spec);

	dv_err_at(err, spec->display, line, col,
		  "%s differs from %s%s%s; run 'devenv lock' to accept it", what, lock,
		  why ? ": " : "", why ? why : "");
	err->status = 1;
	return -1;
}

int prov_lock_check(const struct env_spec *spec, const struct prov_lock *l,
		    const struct dv_strv *keys, struct dv_error *err)
{
	dv_autofree char *msg = NULL;

	if (strcmp(spec->image, l->base.image)) {
		msg = dv_xasprintf("image '%s'", spec->image);
		return differs(spec, spec->image_line, spec->image_col, err, msg,
			       "the lock pins another image");
	}
	if (!spec->apt_snapshot != !l->apt_snapshot ||
	    (spec->apt_snapshot && strcmp(spec->apt_snapshot, "auto") &&
	     spec->apt_snapshot_time != l->apt_snapshot))
		return differs(spec, 0, 0, err, "apt_snapshot", NULL);
	for (size_t i = 0; i < spec->n_provision; i++) {
		const struct env_step *step = &spec->provision[i];
		dv_autofree char *label = prov_step_label(step), *content = NULL, *why = NULL;
		char input[72];

		msg = dv_xasprintf("step %zu (%s)", i + 1, label);
		if (i >= l->n_steps)
			return differs(spec, step->line, step->col, err, msg,
				       "the lock has no such step");
		prov_lock_input(spec, step, input);
		if (strcmp(input, l->steps[i].input))
			return differs(spec, step->line, step->col, err, msg,
				       "its text or environment changed");
		free(msg);
		msg = NULL;
		if (step->kind != ENV_STEP_COPY || !l->steps[i].content ||
		    (keys && i < keys->n && !strcmp(keys->v[i], l->steps[i].key)))
			continue;
		/* The content alone: any prev gives the same treesum. */
		if (copy_content(spec, step, "", &content, err) < 0)
			return -1;
		if (strcmp(content, l->steps[i].content)) {
			msg = dv_xasprintf("step %zu (%s)", i + 1, label);
			why = dv_xasprintf("the files it copies changed (%.19s..., the lock has %.19s...)",
					   content, l->steps[i].content);
			return differs(spec, step->line, step->col, err, msg, why);
		}
	}
	if (l->n_steps > spec->n_provision) {
		msg = dv_xasprintf("the Envfile's %zu provisioning steps (the lock has %zu)",
				   spec->n_provision, l->n_steps);
		return differs(spec, 0, 0, err, msg, NULL);
	}
	for (size_t i = 0; i < spec->n_services; i++) {
		const struct env_service *svc = &spec->services[i];
		size_t k;

		for (k = 0; k < l->n_svcs && strcmp(l->svcs[k].name, svc->name); k++) {
		}
		if (k == l->n_svcs || strcmp(l->svcs[k].image, svc->image)) {
			msg = dv_xasprintf("service '%s' (image '%s')", svc->name, svc->image);
			return differs(spec, svc->image_line, svc->image_col, err, msg, NULL);
		}
	}
	if (l->n_svcs != spec->n_services)
		return differs(spec, 0, 0, err, "the Envfile's services", NULL);
	return 0;
}
