/*
 * env/why.c - `devenv why [STEP]` and `up --explain`: for each step whose
 * key is not in the cache, the first input that differs from the last build
 * of this env (state.json's keys, their recipes: provision/recipe.c) and,
 * with cache_from, from the team cache's (its layers' dev.devenv.recipe).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/banned.h"

/* why --json: step i's object, its sentences as they are (NULL: null). */
static void explain_obj(struct json_object *objs, const struct env_spec *spec, size_t i,
			const char *state, const char *team, const char *why, const char *team_why)
{
	struct json_object *o;
	char *label;

	if (!objs)
		return;
	o = json_object_new_object();
	label = prov_step_label(&spec->provision[i]);
	json_object_object_add(o, "step", json_object_new_uint64(i + 1));
	json_object_object_add(o, "label", json_object_new_string(label));
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "team", team ? json_object_new_string(team) : NULL);
	json_object_object_add(o, "why", why ? json_object_new_string(why) : NULL);
	json_object_object_add(o, "team_why", team_why ? json_object_new_string(team_why) : NULL);
	json_object_array_add(objs, o);
	free(label);
}

int env_explain(const struct layer_store *st, const struct env *env, const struct layer_image *img,
		const struct dv_strv *keys, struct prov_team *team, bool verbose,
		struct dv_strv *out, struct json_object *objs, struct dv_error *err)
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
		const char *parent = i ? keys->v[i - 1] : img->id, *ref = NULL, *note = NULL;
		struct dv_buf b = { 0 };
		char id[65];
		dv_autofree char *why = NULL, *team_why = NULL, *no_step = NULL;

		if (layer_cache_get(st, keys->v[i], &scope, id, &(struct dv_error){ 0 }) == 0) {
			dv_strv_push(out, verbose ? "cached" : "");
			explain_obj(objs, spec, i, "cached", NULL, NULL, NULL);
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
			explain_obj(objs, spec, i, "team", ref, NULL, NULL);
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
			if (!team_why)
				team_why = dv_xstrdup(
					"its layer of this step has no record of what it "
					"was made of");
			dv_buf_adds(&b, "; against the team cache (");
			dv_buf_add_safe(&b, ref, strlen(ref));
			dv_buf_addf(&b, "): %s", team_why);
		} else if (team) {
			dv_buf_addf(&b, "; the team cache has no step %zu", i + 1);
			no_step = dv_xasprintf("the team cache has no step %zu", i + 1);
		}
		explain_obj(objs, spec, i, "runs", team ? ref : NULL, why,
			    team_why ? team_why : no_step);
		dv_strv_push_owned(out, dv_buf_steal(&b));
	}
	return 0;
}
