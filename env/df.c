/*
 * env/df.c - disk use: the env's size record, and `devenv df`.
 *
 * An env's size (its folder: the writable layer, its services' and its
 * logs) changes only while it runs, so it is measured when that ends
 * (halt) and at commit, and kept in envs/<id>/size.json
 * ({"bytes":N,"at":T,"when":"halt"}), written only when it changed. `ls`
 * and `status` read that record, never the tree. `df` sums what the store
 * records (layer.json's sizes: each layer once, however many images share
 * it) and walks only what has no record (an env never halted, volumes);
 * a running env's record may be behind, so df shows it as an estimate.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "env/env.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define SIZE_RECORD "size.json"

static int env_dir(const struct layer_store *st, const char *env_id)
{
	dv_autofree char *rel = dv_xasprintf("envs/%s", env_id);

	return openat(st->root_fd, rel, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

bool env_size_read(const struct layer_store *st, const char *env_id, struct env_size *out)
{
	dv_autofree char *rel = dv_xasprintf("envs/%s/" SIZE_RECORD, env_id);
	dv_autofree char *text = NULL;
	struct json_object *o, *b, *at, *when;
	size_t len;
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (dv_read_file_at(st->root_fd, rel, &text, &len, &(struct dv_error){ 0 }) < 0)
		return false;
	o = json_tokener_parse(text);
	if (o && json_object_object_get_ex(o, "bytes", &b) && json_object_is_type(b, json_type_int) &&
	    json_object_get_int64(b) >= 0 && json_object_object_get_ex(o, "at", &at) &&
	    json_object_is_type(at, json_type_int) && json_object_object_get_ex(o, "when", &when) &&
	    json_object_is_type(when, json_type_string)) {
		out->bytes = (unsigned long long)json_object_get_int64(b);
		out->at = json_object_get_int64(at);
		snprintf(out->when, sizeof(out->when), "%s", json_object_get_string(when));
		ok = true;
	}
	if (o)
		json_object_put(o);
	return ok; /* a damaged record is no record: the next halt writes it anew */
}

void env_size_record(const struct layer_store *st, const char *env_id, const char *when)
{
	dv_autoclose int dfd = env_dir(st, env_id);
	dv_autoclose int fd = -1;
	struct env_size old;
	unsigned long long bytes;
	char text[160];

	if (dfd < 0)
		return;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	bytes = dv_du_at(fd, ".");
	if (env_size_read(st, env_id, &old) && old.bytes == bytes)
		return; /* unchanged: no write */
	snprintf(text, sizeof(text), "{\"bytes\":%llu,\"at\":%lld,\"when\":\"%s\"}\n", bytes,
		 (long long)time(NULL), when);
	/* A record that cannot be written is no record: df walks the env. */
	dv_write_file_atomic(fd, SIZE_RECORD, text, strlen(text), 0600, &(struct dv_error){ 0 });
}

void env_size_forget(const struct layer_store *st, const char *env_id)
{
	dv_autoclose int dfd = env_dir(st, env_id);

	if (dfd >= 0)
		unlinkat(dfd, SIZE_RECORD, 0);
}

/* ---- devenv df ---- */

static bool strv_has(const struct dv_strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

static void add_once(struct dv_strv *v, const char *s)
{
	if (!strv_has(v, s))
		dv_strv_push(v, s);
}

static struct env_df_item *item_add(struct env_df_row *r, const char *name, const char *id,
				    unsigned long long size, bool active)
{
	struct env_df_item *it;

	r->items = dv_xrealloc(r->items, (r->n + 1) * sizeof(*r->items));
	it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->name = dv_xstrdup(name);
	it->id = id ? dv_xstrdup(id) : NULL;
	it->size = size;
	it->active = active;
	r->total++;
	r->size += size;
	if (active)
		r->active++;
	return it;
}

/* The bytes of the layers of ids not yet in seen, each once. */
static unsigned long long layers_bytes(const struct layer_store *st, const struct dv_strv *ids,
				       struct dv_strv *seen)
{
	unsigned long long n = 0;

	for (size_t i = 0; i < ids->n; i++) {
		if (strv_has(seen, ids->v[i]))
			continue;
		dv_strv_push(seen, ids->v[i]);
		n += layer_size(st, ids->v[i]);
	}
	return n;
}

int env_df(const struct layer_store *st, struct env_df *out, struct dv_error *err)
{
	struct env_record *envs = NULL;
	struct layer_image *imgs = NULL;
	struct env_vol *vols = NULL;
	struct prov_cache *caches = NULL;
	size_t n_caches = 0;
	struct prov_input *inputs = NULL;
	size_t n_inputs = 0;
	struct dv_strv damaged = { 0 }, env_layers = { 0 }, used_images = { 0 }, ids = { 0 };
	struct dv_strv seen = { 0 }, kept = { 0 };
	size_t n_envs = 0, n_imgs = 0, n_vols = 0;
	dv_autoclose int efd = -1;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	out->rows[ENV_DF_IMAGES].type = "Images";
	out->rows[ENV_DF_LAYERS].type = "Layers";
	out->rows[ENV_DF_ENVS].type = "Envs";
	out->rows[ENV_DF_VOLUMES].type = "Volumes";
	out->rows[ENV_DF_CACHES].type = "Caches";
	out->rows[ENV_DF_INPUTS].type = "Inputs";
	if (env_list(st, &damaged, &envs, &n_envs, err) < 0 ||
	    layer_image_list(st, &imgs, &n_imgs, err) < 0 || layer_ids(st, &ids, err) < 0 ||
	    env_vol_list(st, true, &vols, &n_vols, err) < 0)
		goto out;
	efd = openat(st->root_fd, "envs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	/* Envs: what `destroy` would free; a halted env's is reclaimable. */
	for (size_t i = 0; i < n_envs; i++) {
		struct env_size rec;
		bool running = ctr_probe(&envs[i].init) != CTR_STOPPED;
		bool has = env_size_read(st, envs[i].id, &rec);
		unsigned long long bytes = rec.bytes;
		struct env_df_item *it;

		if (!has && efd >= 0) /* never halted: walked now */
			bytes = dv_du_at(efd, envs[i].id);
		it = item_add(&out->rows[ENV_DF_ENVS], envs[i].name, envs[i].id, bytes, running);

		/* A running env's record is from its last halt or commit. */
		it->estimate = has && running;
		it->state = running ? "running" : "halted";
		out->rows[ENV_DF_ENVS].estimate |= it->estimate;
		if (!running)
			out->rows[ENV_DF_ENVS].reclaimable += bytes;
		for (size_t j = 0; j < envs[i].layers.n; j++)
			add_once(&env_layers, envs[i].layers.v[j]);
		if (envs[i].image_id)
			add_once(&used_images, envs[i].image_id);
		for (size_t k = 0; k < envs[i].n_services; k++) {
			for (size_t j = 0; j < envs[i].services[k].layers.n; j++)
				add_once(&env_layers, envs[i].services[k].layers.v[j]);
			if (envs[i].services[k].image_id)
				add_once(&used_images, envs[i].services[k].image_id);
		}
	}
	for (size_t i = 0; i < damaged.n; i++) {
		struct env_df_item *it = item_add(&out->rows[ENV_DF_ENVS], "?", damaged.v[i],
						  efd >= 0 ? dv_du_at(efd, damaged.v[i]) : 0, false);

		it->state = "damaged";
	}

	/* Images: their layers, each counted once; reclaimable what only
	 * images no env uses hold (rmi, then gc). */
	for (size_t i = 0; i < n_imgs; i++) {
		bool active = strv_has(&used_images, imgs[i].id);
		struct env_df_item *it =
			item_add(&out->rows[ENV_DF_IMAGES], imgs[i].name, imgs[i].id, 0, active);
		struct dv_strv none = { 0 };

		/* Its own size, shared layers and all (the row counts each once). */
		it->size = layers_bytes(st, &imgs[i].layers, &none);
		dv_strv_release(&none);
		if (active)
			for (size_t j = 0; j < imgs[i].layers.n; j++)
				add_once(&kept, imgs[i].layers.v[j]);
	}
	for (size_t i = 0; i < n_imgs; i++)
		out->rows[ENV_DF_IMAGES].size += layers_bytes(st, &imgs[i].layers, &seen);
	for (size_t i = 0; i < env_layers.n; i++)
		add_once(&kept, env_layers.v[i]);
	for (size_t i = 0; i < n_imgs; i++)
		for (size_t j = 0; j < imgs[i].layers.n; j++)
			if (!strv_has(&kept, imgs[i].layers.v[j])) {
				out->rows[ENV_DF_IMAGES].reclaimable +=
					layer_size(st, imgs[i].layers.v[j]);
				dv_strv_push(&kept, imgs[i].layers.v[j]); /* once */
			}

	/* Layers: all of them; reclaimable what neither an image nor an env
	 * holds (what `gc` removes now). */
	for (size_t i = 0; i < n_imgs; i++)
		for (size_t j = 0; j < imgs[i].layers.n; j++)
			add_once(&env_layers, imgs[i].layers.v[j]);
	for (size_t i = 0; i < ids.n; i++) {
		bool used = strv_has(&env_layers, ids.v[i]);
		unsigned long long bytes = layer_size(st, ids.v[i]);

		item_add(&out->rows[ENV_DF_LAYERS], ids.v[i], NULL, bytes, used);
		if (!used)
			out->rows[ENV_DF_LAYERS].reclaimable += bytes;
	}

	/* Volumes: named by no env, `volume rm` frees them. */
	for (size_t i = 0; i < n_vols; i++) {
		bool named = vols[i].envs.n > 0;
		struct env_df_item *it = item_add(&out->rows[ENV_DF_VOLUMES], vols[i].name, NULL,
						  vols[i].size, named);

		it->state = vols[i].running ? "in use" : named ? "named" : "unused";
		if (!named)
			out->rows[ENV_DF_VOLUMES].reclaimable += vols[i].size;
	}

	/* Caches: an env's (active) or a destroyed env's; `gc --caches`
	 * frees them all. */
	if (prov_cache_list(st, &caches, &n_caches, err) < 0)
		goto out;
	for (size_t i = 0; i < n_caches; i++) {
		const char *owner = NULL;
		struct env_df_item *it;

		for (size_t j = 0; j < n_envs && !owner; j++)
			if (strcmp(envs[j].id, caches[i].env_id) == 0)
				owner = envs[j].name;
		it = item_add(&out->rows[ENV_DF_CACHES], caches[i].path, caches[i].env_id,
			      caches[i].bytes, owner != NULL);
		it->env = owner ? dv_xstrdup(owner) : NULL;
		out->rows[ENV_DF_CACHES].reclaimable += caches[i].bytes;
	}
	/* Inputs: a bundle's git clones and downloads; nothing holds one (a
	 * build copies from it), `gc --caches` frees them all. */
	if (prov_input_list(st, &inputs, &n_inputs, err) < 0)
		goto out;
	for (size_t i = 0; i < n_inputs; i++) {
		item_add(&out->rows[ENV_DF_INPUTS], inputs[i].name, NULL, inputs[i].bytes, false);
		out->rows[ENV_DF_INPUTS].reclaimable += inputs[i].bytes;
	}
	ret = 0;
out:
	for (size_t i = 0; i < n_envs; i++)
		env_record_release(&envs[i]);
	free(envs);
	for (size_t i = 0; i < n_imgs; i++)
		layer_image_release(&imgs[i]);
	free(imgs);
	env_vols_free(vols, n_vols);
	prov_caches_free(caches, n_caches);
	prov_inputs_free(inputs, n_inputs);
	dv_strv_release(&damaged);
	dv_strv_release(&env_layers);
	dv_strv_release(&used_images);
	dv_strv_release(&ids);
	dv_strv_release(&seen);
	dv_strv_release(&kept);
	if (ret < 0)
		env_df_release(out);
	return ret;
}

void env_df_release(struct env_df *df)
{
	for (size_t r = 0; r < ENV_DF_N; r++) {
		for (size_t i = 0; i < df->rows[r].n; i++) {
			free(df->rows[r].items[i].name);
			free(df->rows[r].items[i].id);
			free(df->rows[r].items[i].env);
		}
		free(df->rows[r].items);
		df->rows[r].items = NULL;
		df->rows[r].n = 0;
	}
}
