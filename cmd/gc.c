/*
 * cmd/gc.c - gc: remove what nothing refers to.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/banned.h"

static int caches_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)arg;
	(void)err;
	if (c != 'C')
		return -1;
	*(bool *)data = true;
	return 0;
}

int cmd_gc(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	   struct dv_error *err)
{
	struct env_record *all = NULL;
	struct dv_strv in_use = { 0 }, damaged = { 0 }, images = { 0 };
	size_t n = 0;
	unsigned layers = 0, records = 0, cgroups = 0, locks = 0, recipes = 0;
	unsigned long long bytes = 0;
	char size[32];
	bool helped, caches = false;
	struct opt_spec os = { NULL, NULL, caches_opt, &caches };
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;
	unsigned n_caches = 0, n_inputs = 0;
	unsigned long long cache_bytes = 0, input_bytes = 0;
	dv_autoclose int lock = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0)
		return -1;
	/* Exclusive: no `up` may be between building a layer and recording it. */
	lock = dv_lock_at(st->root_fd, "store.lock", true, "the store", err);
	if (lock < 0 || env_list(st, &damaged, &all, &n, err) < 0)
		goto out;
	/* A damaged env or image record is skipped and reported; what layers
	 * it names is unknown (an env's init may run on them), so every layer
	 * stays until it is removed (destroy -e, rmi). */
	for (size_t i = 0; i < damaged.n; i++)
		env_say_damaged(st, damaged.v[i]);
	layer_image_damaged(st, &images);
	for (size_t i = 0; i < images.n; i++)
		layer_image_say_damaged(st, images.v[i]);
	if (damaged.n || images.n) {
		printf("kept every layer: %zu damaged record%s (see above)\n", damaged.n + images.n,
		       damaged.n + images.n == 1 ? "" : "s");
		if (layer_ids(st, &in_use, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < all[i].layers.n; j++)
			dv_strv_push(&in_use, all[i].layers.v[j]);
		for (size_t k = 0; k < all[i].n_services; k++)
			for (size_t j = 0; j < all[i].services[k].layers.n; j++)
				dv_strv_push(&in_use, all[i].services[k].layers.v[j]);
	}
	if (layer_gc(st, &in_use, &layers, &bytes, err) < 0 ||
	    env_sandbox_gc(st, all, n, &bytes, err) < 0 || prov_trust_gc(st, &records, err) < 0 ||
	    prov_recipe_gc(st, &recipes, err) < 0) /* with their keys: not said apart */
		goto out;
	dv_fault_point("gc.layers");
	/* What killed commands left: the cgroups of their build steps, the
	 * locks of envs destroyed since (tmp/ went with layer_gc). */
	if (prov_build_cgroups_gc(st, &cgroups, err) < 0 || env_locks_gc(st, &locks, err) < 0)
		goto out;
	/* --caches: the steps' caches, which nothing else removes (destroy
	 * leaves them for the checkout's next env), and the git and download
	 * inputs a bundle brought; without, only what in inputs/ is no input. */
	if (caches && prov_cache_clear(st, &n_caches, &cache_bytes, err) < 0)
		goto out;
	if (prov_inputs_gc(st, caches, &n_inputs, caches ? &input_bytes : &bytes, err) < 0)
		goto out;
	dv_str_size(size, sizeof(size), bytes);
	if (ctx->quiet)
		layers = cgroups = locks = records = 0; /* -q: nothing said */
	else
		printf("removed %u layer%s, freed %s\n", layers, layers == 1 ? "" : "s", size);
	if (caches && !ctx->quiet) {
		char csize[32];

		dv_str_size(csize, sizeof(csize), cache_bytes);
		printf("removed %u cache%s, freed %s\n", n_caches, n_caches == 1 ? "" : "s", csize);
		dv_str_size(csize, sizeof(csize), input_bytes);
		printf("removed %u input%s, freed %s\n", n_inputs, n_inputs == 1 ? "" : "s", csize);
	}
	if (cgroups)
		printf("removed %u cgroup%s of killed builds\n", cgroups, cgroups == 1 ? "" : "s");
	if (locks)
		printf("removed %u lock file%s of removed envs\n", locks, locks == 1 ? "" : "s");
	if (records)
		printf("removed %u trust record%s of checkouts whose Envfile is gone\n", records,
		       records == 1 ? "" : "s");
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		env_record_release(&all[i]);
	free(all);
	dv_strv_release(&in_use);
	dv_strv_release(&damaged);
	dv_strv_release(&images);
	return ret;
}
