/*
 * env/why.c - `devenv why [STEP]` and `up --explain`: for each step whose
 * key is not in the cache, the first input that differs from the last build
 * of this env (state.json's keys, their recipes: provision/recipe.c) and,
 * with cache_from, from the team cache's (its layers' dev.devenv.recipe).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/banned.h"

int env_explain(const struct layer_store *st, const struct env *env, const struct layer_image *img,
		const struct dv_strv *keys, struct prov_team *team, bool verbose,
		struct dv_strv *out, struct dv_error *err)
{
	const struct env_spec *spec = &env->spec;
	const struct dv_strv *old = env->has_state ? &env->state.steps : NULL;
	struct layer_cache_scope scope = { &spec->cache_from, NULL };
	char env_id[13] = "";

	if (spec->checkout && spec->relpath) {
		prov_env_id(spec->checkout, spec->relpath, env_id);
		scope.env = env_id;
	}
	for (size_t i = 0; i < keys->n && i < spec->n_provision; i++) {
		const char *parent = i ? keys->v[i - 1] : img->id, *ref, *note;
		struct dv_buf b = { 0 };
		char id[65];
		dv_autofree char *why = NULL, *team_why = NULL;

		if (layer_cache_get(st, keys->v[i], &scope, id, &(struct dv_error){ 0 }) == 0) {
			dv_strv_push(out, verbose ? "cached" : "");
			continue;
		}
		if (prov_team_lookup(team, keys->v[i], i, &ref, &note) == 0) {
			if (verbose) {
				dv_buf_adds(&b, "taken from the team cache (");
				dv_buf_add_safe(&b, ref, strlen(ref));
				dv_buf_adds(&b, ")");
				dv_strv_push_owned(out, dv_buf_steal(&b));
			} else {
				dv_strv_push(out, "");
			}
			continue;
		}
		why = prov_recipe_why(st, spec, i, parent, img->name, keys->v[i],
				      old && i < old->n ? old->v[i] : NULL, err);
		if (!why)
			return -1;
		dv_buf_adds(&b, verbose ? "runs: " : "");
		dv_buf_adds(&b, why);
		if (team && ref) {
			team_why = note ? prov_recipe_why_note(spec, i, parent, img->name, note, err)
					: NULL;
			if (note && !team_why && err->msg[0]) {
				dv_buf_release(&b);
				return -1;
			}
			dv_buf_adds(&b, "; against the team cache (");
			dv_buf_add_safe(&b, ref, strlen(ref));
			dv_buf_addf(&b, "): %s",
				    team_why
					    ? team_why
					    : "its layer of this step has no record of what it was made of");
		} else if (team) {
			dv_buf_addf(&b, "; the team cache has no step %zu", i + 1);
		}
		dv_strv_push_owned(out, dv_buf_steal(&b));
	}
	return 0;
}
