/* layers/pull.c - an image from an OCI registry becomes layers and an image.
 *
 * Order: manifest (an index picks this machine's platform), config, then
 * each layer the store lacks: downloaded into a staging folder under tmp/
 * with its digest checked as it streams, unpacked by the import extractor
 * (so its id is its diff_id, as for an imported tar) and checked against the
 * config's rootfs.diff_ids. Only when every layer is staged are they
 * committed and the record written, so a failed pull leaves the store as it
 * was. Every digest is checked to be sha256:<64 hex> before it becomes a URL
 * or a path (CVE-2024-3727). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

#define PULL_CONFIG_MAX (8u << 20)

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
};

/* An image being pulled, or a remote image whose layers are fetched one at
 * a time (layer_remote_*). */
struct layer_remote {
	struct layer_reg *reg;
	char *name;     /* normalised reference */
	bool progress;
	char *manifest_text, *config_text;
	size_t config_len;
	char manifest_hex[65], config_hex[65];
	struct json_object *manifest, *config;
	struct json_object *layers; /* the manifest's, borrowed */
	struct dv_strv diff_ids;    /* hex, parallel to layers */
};

/* One pull's staging folders: parallel to the layers, "" when the layer
 * is in the store already (or was committed). */
struct staged {
	const struct layer_store *st;
	struct dv_strv names;
};

static void staged_release(struct staged *s)
{
	for (size_t i = 0; i < s->names.n; i++)
		if (s->names.v[i][0])
			layer_rm_tree(s->st->tmp_fd, s->names.v[i], &(struct dv_error){0});
	dv_strv_release(&s->names);
}

void layer_remote_free(struct layer_remote *r)
{
	if (!r)
		return;
	layer_reg_free(r->reg);
	free(r->name);
	free(r->manifest_text);
	free(r->config_text);
	json_object_put(r->manifest);
	json_object_put(r->config);
	dv_strv_release(&r->diff_ids);
	free(r);
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The hex of a descriptor's digest, or NULL when it is not sha256:<64 hex>. */
static const char *desc_hex(struct json_object *desc)
{
	const char *d = jstr(desc, "digest");

	if (!d || !dv_str_startswith(d, "sha256:") || !dv_str_is_hex(d + 7, 64))
		return NULL;
	return d + 7;
}

static bool is_index(const char *mt)
{
	return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

static bool is_manifest(const char *mt)
{
	return !strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST);
}

/* The media type: the response's Content-Type, else the document's own
 * mediaType (OCI makes it optional), else guessed from its shape. */
static const char *media_type(const char *header, struct json_object *doc)
{
	const char *mt = jstr(doc, "mediaType");
	struct json_object *v;

	if (header[0] && (is_index(header) || is_manifest(header)))
		return header;
	if (mt)
		return mt;
	if (header[0] && strcmp(header, "application/json") &&
	    strcmp(header, "application/octet-stream") && strcmp(header, "text/plain"))
		return header;
	if (json_object_object_get_ex(doc, "manifests", &v))
		return MT_OCI_INDEX;
	if (json_object_object_get_ex(doc, "config", &v))
		return MT_OCI_MANIFEST;
	return header[0] ? header : "(none)";
}

/* From an index, the digest of the linux/LAYER_ARCH manifest. */
static int pick_platform(struct layer_remote *p, struct json_object *index, char hex[65],
			 struct dv_error *err)
{
	struct json_object *list, *m, *plat;
	struct dv_buf seen = {0};
	size_t i, n;

	if (!json_object_object_get_ex(index, "manifests", &list) ||
	    !json_object_is_type(list, json_type_array))
		return dv_err_plain(err, EINVAL, "index of '%s' lists no manifests", p->name);
	n = json_object_array_length(list);
	for (i = 0; i < n; i++) {
		const char *os, *arch, *variant, *h;

		m = json_object_array_get_idx(list, i);
		if (!json_object_object_get_ex(m, "platform", &plat))
			continue;
		os = jstr(plat, "os");
		arch = jstr(plat, "architecture");
		variant = jstr(plat, "variant");
		if (!os || !arch)
			continue;
		if (!strcmp(os, "linux") && !strcmp(arch, LAYER_ARCH)) {
			if (!(h = desc_hex(m))) {
				dv_buf_release(&seen);
				return dv_err_plain(err, EINVAL,
						    "index of '%s' names an invalid digest",
						    p->name);
			}
			snprintf(hex, 65, "%s", h);
			dv_buf_release(&seen);
			return 0;
		}
		if (!strcmp(os, "unknown"))
			continue; /* attestations, not images */
		dv_buf_addf(&seen, "%s%s/%s%s%s", seen.len ? ", " : "", os, arch,
			    variant ? "/" : "", variant ? variant : "");
	}
	dv_err_plain(err, ENOENT, "no linux/%s image in '%s'; it has: %s", LAYER_ARCH, p->name,
		     seen.len ? seen.s : "no platforms");
	dv_buf_release(&seen);
	return -1;
}

/* The image manifest (following an index), its digest, and its JSON. */
static int fetch_manifest(struct layer_remote *p, char **out_text, char out_hex[65],
			  struct json_object **out, struct dv_error *err)
{
	dv_autofree char *text = NULL, *mt = NULL, *reference = NULL;
	char want[65] = "", got[65], child[65];
	const char *type;
	size_t len;
	int depth;

	if (layer_ref_digest(p->name, want))
		reference = dv_xasprintf("sha256:%s", want);
	else
		reference = dv_xstrdup(strrchr(p->name, ':') + 1);
	for (depth = 0;; depth++) {
		layer_autojson struct json_object *doc = NULL;

		free(text);
		free(mt);
		text = mt = NULL;
		if (layer_reg_manifest(p->reg, reference, &text, &len, &mt, err) < 0)
			return -1;
		dv_sha256_hex(text, len, got);
		if (want[0] && strcmp(want, got))
			return dv_err_plain(err, EBADMSG,
					    "digest mismatch: the manifest of '%s' has digest "
					    "sha256:%.12s..., not sha256:%.12s...",
					    p->name, got, want);
		if (!(doc = json_tokener_parse(text)) || !json_object_is_type(doc, json_type_object))
			return dv_err_plain(err, EINVAL, "the manifest of '%s' is not JSON",
					    p->name);
		type = media_type(mt, doc);
		if (is_manifest(type)) {
			*out = dv_steal_ptr(&doc);
			*out_text = dv_steal_ptr(&text);
			snprintf(out_hex, 65, "%s", got);
			return 0;
		}
		if (!is_index(type))
			return dv_err_plain(err, EPROTO,
					    "unsupported manifest media type '%s' for '%s'", type,
					    p->name);
		if (depth > 0)
			return dv_err_plain(err, EPROTO, "the index of '%s' names another index",
					    p->name);
		if (pick_platform(p, doc, child, err) < 0)
			return -1;
		free(reference);
		reference = dv_xasprintf("sha256:%s", child);
		snprintf(want, sizeof(want), "%s", child);
	}
}

/* Download and unpack layer i of r into a new staging folder (its name
 * into *out), and check its diff_id. */
static int stage_layer(const struct layer_store *st, struct layer_remote *r,
		       const struct layer_ar *ar, size_t i, char **out, struct dv_error *err)
{
	dv_autofree char *staging = NULL;
	dv_autoclose int sfd = -1, bfd = -1, rootfd = -1;
	struct json_object *size, *desc = json_object_array_get_idx(r->layers, i);
	const char *hex = desc_hex(desc), *mt = jstr(desc, "mediaType");
	const char *diff_hex = r->diff_ids.v[i];
	size_t n = r->diff_ids.n;
	unsigned long long max = ~0ULL;
	char got[65], what[96];
	size_t k;
	bool known = false;

	if (!hex)
		return dv_err_plain(err, EINVAL, "the manifest of '%s' names an invalid layer digest",
				    r->name);
	for (k = 0; mt && k < sizeof(layer_types) / sizeof(layer_types[0]); k++)
		known |= !strcmp(mt, layer_types[k]);
	if (!known)
		return dv_err_plain(err, EPROTO,
				    "unsupported layer media type '%s' in '%s' (foreign and "
				    "non-distributable layers are not fetched)",
				    mt ? mt : "(none)", r->name);
	if (json_object_object_get_ex(desc, "size", &size)) {
		int64_t v = json_object_get_int64(size);

		if (v < 0)
			return dv_err_plain(err, EINVAL, "the manifest of '%s' gives a negative size",
					    r->name);
		max = (unsigned long long)v;
	}
	if (r->progress)
		fprintf(stderr, "devenv: layer %zu/%zu sha256:%.12s\n", i + 1, n, hex);
	if (layer_staging_create(st, false, "pull", &staging, err) < 0)
		return -1;
	*out = dv_xstrdup(staging); /* the caller removes it unless committed */
	if ((sfd = dv_open_dir_at(st->tmp_fd, staging, err)) < 0)
		return -1;
	bfd = openat(sfd, "blob", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (bfd < 0)
		return dv_err(err, errno, "cannot create 'tmp/%s/blob'", staging);
	if (layer_reg_blob(r->reg, hex, max, bfd, NULL, NULL, err) < 0)
		return -1;
	if (lseek(bfd, 0, SEEK_SET) < 0)
		return dv_err(err, errno, "cannot rewind 'tmp/%s/blob'", staging);
	snprintf(what, sizeof(what), "layer sha256:%.12s of '%s'", hex, r->name);
	if ((rootfd = dv_open_dir_at(sfd, "diff", err)) < 0 ||
	    layer_extract(ar, bfd, what, rootfd, st->rootless, got, NULL, err) < 0)
		return -1;
	if (strcmp(got, diff_hex))
		return dv_err_plain(err, EBADMSG,
				    "digest mismatch: layer %zu of '%s' unpacks to sha256:%.12s..., "
				    "but its config says sha256:%.12s...",
				    i + 1, r->name, got, diff_hex);
	if (unlinkat(sfd, "blob", 0) < 0)
		return dv_err(err, errno, "cannot remove 'tmp/%s/blob'", staging);
	return 0;
}

/* Commit staged layer i of r as layers/<its diff_id>. */
static int commit_layer(const struct layer_store *st, const struct layer_remote *r, size_t i,
			const char *staging, struct dv_error *err)
{
	dv_autofree char *diff_id = dv_xasprintf("sha256:%s", r->diff_ids.v[i]);
	dv_autofree char *step = dv_xasprintf("pull %s", r->name);
	unsigned long long size = dv_du_at(st->tmp_fd, staging);

	return layer_commit_full(st, staging, r->diff_ids.v[i], NULL, step, diff_id, true, size,
				 err);
}

int layer_remote_open(const char *ref, struct layer_remote **out, struct dv_error *err)
{
	struct layer_remote *r = dv_xcalloc(1, sizeof(*r));
	struct json_object *cdesc, *rootfs, *diff_ids;
	const char *chex, *cmt;
	size_t i, n;

	r->progress = isatty(2);
	if (layer_ref_normalize(ref, false, &r->name, err) < 0 ||
	    !(r->reg = layer_reg_open(r->name, err)) ||
	    fetch_manifest(r, &r->manifest_text, r->manifest_hex, &r->manifest, err) < 0)
		goto fail;
	if (!json_object_object_get_ex(r->manifest, "config", &cdesc) || !(chex = desc_hex(cdesc)) ||
	    !json_object_object_get_ex(r->manifest, "layers", &r->layers) ||
	    !json_object_is_type(r->layers, json_type_array)) {
		dv_err_plain(err, EINVAL, "the manifest of '%s' lacks a valid config or layers",
			     r->name);
		goto fail;
	}
	cmt = jstr(cdesc, "mediaType");
	if (cmt && strcmp(cmt, "application/vnd.oci.image.config.v1+json") &&
	    strcmp(cmt, "application/vnd.docker.container.image.v1+json")) {
		dv_err_plain(err, EPROTO, "unsupported config media type '%s' in '%s'", cmt,
			     r->name);
		goto fail;
	}
	snprintf(r->config_hex, sizeof(r->config_hex), "%s", chex);
	if (layer_reg_blob(r->reg, chex, PULL_CONFIG_MAX, -1, &r->config_text, &r->config_len,
			   err) < 0)
		goto fail;
	if (!(r->config = json_tokener_parse(r->config_text)) ||
	    !json_object_object_get_ex(r->config, "rootfs", &rootfs) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &diff_ids) ||
	    !json_object_is_type(diff_ids, json_type_array) ||
	    json_object_array_length(diff_ids) != json_object_array_length(r->layers)) {
		dv_err_plain(err, EINVAL,
			     "the config of '%s' has no rootfs.diff_ids matching its layers", r->name);
		goto fail;
	}
	n = json_object_array_length(r->layers);
	if (n == 0) {
		dv_err_plain(err, EINVAL, "the manifest of '%s' has no layers", r->name);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		const char *d = json_object_get_string(json_object_array_get_idx(diff_ids, i));
		const char *id = d && dv_str_startswith(d, "sha256:") ? d + 7 : NULL;

		if (!id || !layer_is_id(id)) {
			dv_err_plain(err, EINVAL, "the config of '%s' names an invalid diff_id",
				     r->name);
			goto fail;
		}
		dv_strv_push(&r->diff_ids, id);
	}
	*out = r;
	return 0;
fail:
	layer_remote_free(r);
	return -1;
}

const char *layer_remote_name(const struct layer_remote *r)
{
	return r->name;
}

size_t layer_remote_layers(const struct layer_remote *r)
{
	return r->diff_ids.n;
}

const char *layer_remote_annotation(const struct layer_remote *r, size_t i, const char *key)
{
	struct json_object *holder = i == SIZE_MAX ? r->manifest
				     : i < r->diff_ids.n ? json_object_array_get_idx(r->layers, i)
							 : NULL;
	struct json_object *annotations;

	if (!holder || !json_object_object_get_ex(holder, "annotations", &annotations))
		return NULL;
	return jstr(annotations, key);
}

int layer_remote_fetch(const struct layer_store *st, struct layer_remote *r, size_t i,
		       char id[65], struct dv_error *err)
{
	const struct layer_ar *ar;
	dv_autofree char *staging = NULL;
	int ret = -1;

	if (i >= r->diff_ids.n)
		return dv_err(err, EINVAL, "'%s' has no layer %zu", r->name, i + 1);
	snprintf(id, 65, "%s", r->diff_ids.v[i]);
	if (layer_exists(st, id))
		return 0;
	if (!(ar = layer_ar_load(err)))
		return -1;
	if (stage_layer(st, r, ar, i, &staging, err) == 0 && commit_layer(st, r, i, staging, err) == 0)
		ret = 0;
	else if (staging)
		layer_rm_tree(st->tmp_fd, staging, &(struct dv_error){0});
	return ret;
}

int layer_image_pull(const struct layer_store *st, const char *ref, struct layer_image *out,
		     struct dv_error *err)
{
	struct layer_remote *r = NULL;
	struct staged staged = {.st = st};
	struct layer_image img = {0};
	const struct layer_ar *ar = NULL;
	dv_autoclose int blobs = -1;
	size_t i, n;
	int ret = -1;

	if (layer_remote_open(ref, &r, err) < 0 || !(ar = layer_ar_load(err)))
		goto out;
	n = r->diff_ids.n;
	for (i = 0; i < n; i++) {
		char *name = NULL;
		bool dup = false;

		for (size_t k = 0; k < i; k++)
			dup |= !strcmp(r->diff_ids.v[k], r->diff_ids.v[i]);
		if (dup || layer_exists(st, r->diff_ids.v[i])) {
			dv_strv_push(&staged.names, "");
			continue;
		}
		if (stage_layer(st, r, ar, i, &name, err) < 0) {
			if (name)
				dv_strv_push_owned(&staged.names, name);
			goto out;
		}
		dv_strv_push_owned(&staged.names, name);
	}
	/* Everything is here and checked: only now does the store change. */
	for (i = 0; i < n; i++) {
		if (!staged.names.v[i][0])
			continue;
		if (commit_layer(st, r, i, staged.names.v[i], err) < 0)
			goto out;
		staged.names.v[i][0] = 0; /* committed (or discarded as a duplicate) */
	}
	if ((blobs = layer_blobs_dir(st, err)) < 0 ||
	    dv_write_file_atomic(blobs, r->config_hex, r->config_text, r->config_len, 0600, err) < 0 ||
	    dv_write_file_atomic(blobs, r->manifest_hex, r->manifest_text, strlen(r->manifest_text),
				 0600, err) < 0) {
		dv_err_prefix(err, "cannot store the config of '%s'", r->name);
		goto out;
	}
	img.name = dv_steal_ptr(&r->name);
	img.id = dv_xasprintf("sha256:%s", r->config_hex);
	layer_image_set_layers(st, &img, &r->diff_ids);
	img.config = dv_steal_ptr(&r->config_text);
	if (layer_image_record(st, &img, out, err) < 0)
		goto out;
	ret = 0;
out:
	staged_release(&staged);
	layer_remote_free(r);
	return ret;
}
