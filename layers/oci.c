/*
 * layers/oci.c - images out of the store in OCI's forms, and images made
 * of layers the store already holds:
 *
 *   layer_image_save     an OCI image layout as one tar ("oci-archive"),
 *                        what `skopeo copy oci-archive:FILE` and `podman
 *                        load` read: oci-layout, index.json (named by the
 *                        image's tag), blobs/sha256/{manifest,config,layers}
 *   layer_image_tag      another name for an image
 *   layer_image_compose  an image of given layers over a base config
 *                        (`devenv commit`)
 *
 * Layers leave as export.c's deterministic, uncompressed tars, and the
 * config's rootfs.diff_ids say what those tars hash to; the archive's own
 * entries have owner 0 and mtime 0, so one image saves to the same bytes
 * every time.
 */
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
#include "util/str.h"
#include "util/banned.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"

/* The config text with rootfs.diff_ids replaced (hex ids, no prefix). */
static char *config_with_diff_ids(const char *config, const struct dv_strv *diff_ids,
				  struct dv_error *err)
{
	layer_autojson struct json_object *o = json_tokener_parse(config ? config : "{}");
	struct json_object *rootfs = json_object_new_object(), *ids = json_object_new_array();

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(rootfs);
		json_object_put(ids);
		dv_err(err, EINVAL, "the image's config is not a JSON object");
		return NULL;
	}
	for (size_t i = 0; i < diff_ids->n; i++) {
		char d[72];

		snprintf(d, sizeof(d), "sha256:%s", diff_ids->v[i]);
		json_object_array_add(ids, json_object_new_string(d));
	}
	json_object_object_add(rootfs, "type", json_object_new_string("layers"));
	json_object_object_add(rootfs, "diff_ids", ids);
	json_object_object_add(o, "rootfs", rootfs);
	return dv_xstrdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Each layer's diff_id: layer.json's when it has one (imported, pulled),
 * else what its export hashes to (a provisioning step's). */
static int diff_ids_of(const struct layer_store *st, const struct dv_strv *layers,
		       struct dv_strv *out, struct dv_error *err)
{
	for (size_t i = 0; i < layers->n; i++) {
		layer_autojson struct json_object *meta = layer_meta_read(st, layers->v[i]);
		struct json_object *d;
		const char *s;
		char hex[65];

		if (meta && json_object_object_get_ex(meta, "diff_id", &d) &&
		    (s = json_object_get_string(d)) && dv_str_startswith(s, "sha256:") &&
		    layer_is_id(s + 7)) {
			dv_strv_push(out, s + 7);
			continue;
		}
		if (layer_export(st, layers->v[i], -1, hex, NULL, err) < 0)
			return -1;
		dv_strv_push(out, hex);
	}
	return 0;
}

static int store_config(const struct layer_store *st, const char *config, char hex[65],
			struct dv_error *err)
{
	dv_autoclose int bfd = layer_blobs_dir(st, err);

	dv_sha256_hex(config, strlen(config), hex);
	if (bfd < 0 || dv_write_file_atomic(bfd, hex, config, strlen(config), 0600, err) < 0)
		return dv_err_prefix(err, "cannot store an image config");
	return 0;
}

int layer_image_compose(const struct layer_store *st, const char *name, const char *base_config,
			const struct dv_strv *layers, struct layer_image *out, struct dv_error *err)
{
	dv_autofree char *norm = NULL, *config = NULL;
	struct dv_strv diff_ids = { 0 };
	struct layer_image img = { 0 };
	char hex[65];
	int ret = -1;

	if (layer_ref_normalize(name, true, &norm, err) < 0)
		return -1;
	if (diff_ids_of(st, layers, &diff_ids, err) < 0 ||
	    !(config = config_with_diff_ids(base_config, &diff_ids, err)) ||
	    store_config(st, config, hex, err) < 0)
		goto out;
	img.name = dv_steal_ptr(&norm);
	img.id = dv_xasprintf("sha256:%s", hex);
	for (size_t i = 0; i < layers->n; i++) {
		dv_strv_push(&img.layers, layers->v[i]);
		img.size += layer_size(st, layers->v[i]);
	}
	img.config = dv_steal_ptr(&config);
	img.created = (long long)time(NULL);
	if (layer_record_write(st, &img, err) < 0)
		goto out;
	if (out) {
		*out = img;
		img = (struct layer_image){ 0 };
	}
	ret = 0;
out:
	layer_image_release(&img);
	dv_strv_release(&diff_ids);
	return ret;
}

int layer_image_tag(const struct layer_store *st, const char *src, const char *dst,
		    struct layer_image *out, struct dv_error *err)
{
	struct layer_image img = { 0 };
	char *norm = NULL;

	if (layer_ref_normalize(dst, true, &norm, err) < 0)
		return -1;
	if (layer_image_resolve(st, src, &img, err) < 0) {
		free(norm);
		return -1;
	}
	free(img.name);
	img.name = norm;
	img.created = (long long)time(NULL);
	if (layer_record_write(st, &img, err) < 0) {
		layer_image_release(&img);
		return -1;
	}
	if (out)
		*out = img;
	else
		layer_image_release(&img);
	return 0;
}

/* ---- save ---- */

struct blob {
	char hex[65];
	char *path;          /* a file in staging, or NULL: `text` */
	const char *text;
	unsigned long long size;
};

static int add_entry(const struct layer_ar *ar, struct archive *a, struct archive_entry *e,
		     const char *path, unsigned type, unsigned long long size, struct dv_error *err)
{
	ar->archive_entry_clear(e);
	ar->archive_entry_set_pathname(e, path);
	ar->archive_entry_set_filetype(e, type);
	ar->archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	ar->archive_entry_set_mtime(e, 0, 0);
	ar->archive_entry_set_size(e, (la_int64_t)size);
	if (ar->archive_write_header(a, e) != ARCHIVE_OK)
		return dv_err(err, 0, "cannot write '%s' to the archive: %s", path,
			      ar->archive_error_string(a));
	return 0;
}

static int add_blob(const struct layer_ar *ar, struct archive *a, struct archive_entry *e,
		    const struct blob *b, struct dv_error *err)
{
	dv_autofree char *path = dv_xasprintf("blobs/sha256/%s", b->hex);
	dv_autoclose int fd = -1;
	char buf[65536];
	ssize_t n;

	if (add_entry(ar, a, e, path, AE_IFREG, b->size, err) < 0)
		return -1;
	if (!b->path)
		return ar->archive_write_data(a, b->text, b->size) == (la_ssize_t)b->size
			       ? 0
			       : dv_err(err, 0, "cannot write '%s': %s", path, ar->archive_error_string(a));
	fd = open(b->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot read '%s'", b->path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (ar->archive_write_data(a, buf, (size_t)n) != n)
			return dv_err(err, 0, "cannot write '%s': %s", path, ar->archive_error_string(a));
	return n < 0 ? dv_err(err, errno, "cannot read '%s'", b->path) : 0;
}

static int cmp_blobs(const void *x, const void *y)
{
	return strcmp(((const struct blob *)x)->hex, ((const struct blob *)y)->hex);
}

/* The archive itself: oci-layout, index.json, then every blob in hex order. */
static int write_archive(const struct layer_ar *ar, int fd, const char *index, struct blob *blobs,
			 size_t n, struct dv_error *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct archive *a = ar->archive_write_new();
	struct archive_entry *e = ar->archive_entry_new();
	int ret = -1;

	if (!a || !e) {
		dv_err(err, ENOMEM, "libarchive");
		goto out;
	}
	qsort(blobs, n, sizeof(*blobs), cmp_blobs);
	if (ar->archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    ar->archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		dv_err(err, 0, "cannot start the archive: %s", ar->archive_error_string(a));
		goto out;
	}
	if (add_entry(ar, a, e, "oci-layout", AE_IFREG, sizeof(layout) - 1, err) < 0 ||
	    ar->archive_write_data(a, layout, sizeof(layout) - 1) != (la_ssize_t)(sizeof(layout) - 1) ||
	    add_entry(ar, a, e, "index.json", AE_IFREG, strlen(index), err) < 0 ||
	    ar->archive_write_data(a, index, strlen(index)) != (la_ssize_t)strlen(index) ||
	    add_entry(ar, a, e, "blobs/", AE_IFDIR, 0, err) < 0 ||
	    add_entry(ar, a, e, "blobs/sha256/", AE_IFDIR, 0, err) < 0) {
		if (!dv_err_isset(err))
			dv_err(err, 0, "cannot write the archive: %s", ar->archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(blobs[i].hex, blobs[i - 1].hex))
			continue; /* a layer twice in one image */
		if (add_blob(ar, a, e, &blobs[i], err) < 0)
			goto out;
	}
	if (ar->archive_write_close(a) != ARCHIVE_OK) {
		dv_err(err, 0, "cannot finish the archive: %s", ar->archive_error_string(a));
		goto out;
	}
	ret = 0;
out:
	if (e)
		ar->archive_entry_free(e);
	if (a)
		ar->archive_write_free(a);
	return ret;
}

/* {"mediaType":M,"digest":"sha256:H","size":N} */
static struct json_object *descriptor(const char *media_type, const char *hex,
				      unsigned long long size)
{
	struct json_object *d = json_object_new_object();
	char digest[72];

	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	json_object_object_add(d, "mediaType", json_object_new_string(media_type));
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	return d;
}

static char *json_text(struct json_object *o)
{
	char *s = dv_xstrdup(
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

int layer_image_save(const struct layer_store *st, const char *ref, const char *file,
		     struct dv_error *err)
{
	const struct layer_ar *ar = layer_ar_load(err);
	struct layer_image img = { 0 };
	dv_autofree char *staging = NULL, *config = NULL, *manifest = NULL, *index = NULL;
	dv_autofree char *tmp = NULL, *tag = NULL, *repo = NULL;
	dv_autofree struct blob *blobs = NULL;
	struct dv_strv diff_ids = { 0 };
	struct json_object *m, *layers, *idx, *mans, *desc, *ann;
	dv_autoclose int out = -1;
	size_t n = 0;
	int ret = -1;

	if (!ar || layer_image_resolve(st, ref, &img, err) < 0)
		return -1;
	if (layer_staging_create(st, false, "save", &staging, err) < 0)
		goto out;
	blobs = dv_xcalloc(img.layers.n + 2, sizeof(*blobs));
	for (size_t i = 0; i < img.layers.n; i++, n++) {
		dv_autoclose int fd = -1;
		char name[32];

		snprintf(name, sizeof(name), "%zu.tar", i);
		blobs[n].path = layer_staging_path(st, staging, name);
		fd = open(blobs[n].path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			dv_err(err, errno, "cannot create '%s'", blobs[n].path);
			goto out;
		}
		if (layer_export(st, img.layers.v[i], fd, blobs[n].hex, &blobs[n].size, err) < 0)
			goto out;
		dv_strv_push(&diff_ids, blobs[n].hex);
	}
	if (!(config = config_with_diff_ids(img.config, &diff_ids, err)))
		goto out;
	blobs[n].text = config;
	blobs[n].size = strlen(config);
	dv_sha256_hex(config, strlen(config), blobs[n].hex);
	m = json_object_new_object();
	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType", json_object_new_string(MT_MANIFEST));
	json_object_object_add(m, "config", descriptor(MT_CONFIG, blobs[n].hex, blobs[n].size));
	layers = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(layers, descriptor(MT_LAYER, blobs[i].hex, blobs[i].size));
	json_object_object_add(m, "layers", layers);
	manifest = json_text(m);
	n++;
	blobs[n].text = manifest;
	blobs[n].size = strlen(manifest);
	dv_sha256_hex(manifest, strlen(manifest), blobs[n].hex);
	if (layer_name_split(img.name, &repo, &tag, err) < 0)
		goto out;
	desc = descriptor(MT_MANIFEST, blobs[n].hex, blobs[n].size);
	ann = json_object_new_object();
	/* The tag, as the layout spec says; the whole name for podman and
	 * containerd, which read it from here. */
	json_object_object_add(ann, "io.containerd.image.name", json_object_new_string(img.name));
	json_object_object_add(ann, "org.opencontainers.image.ref.name", json_object_new_string(tag));
	json_object_object_add(desc, "annotations", ann);
	mans = json_object_new_array();
	json_object_array_add(mans, desc);
	idx = json_object_new_object();
	json_object_object_add(idx, "schemaVersion", json_object_new_int(2));
	json_object_object_add(idx, "manifests", mans);
	index = json_text(idx);
	n++;
	/* Next to the file, renamed over it when complete. */
	tmp = dv_xasprintf("%s.devenv-tmp", file);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0) {
		dv_err(err, errno, "cannot create '%s'", tmp);
		goto out;
	}
	if (write_archive(ar, out, index, blobs, n, err) < 0 || fsync(out) < 0 ||
	    rename(tmp, file) < 0) {
		if (!dv_err_isset(err))
			dv_err(err, errno, "cannot write '%s'", file);
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	if (staging)
		layer_rm_tree(st->tmp_fd, staging, &(struct dv_error){ 0 });
	for (size_t i = 0; blobs && i < img.layers.n; i++)
		free(blobs[i].path);
	dv_strv_release(&diff_ids);
	layer_image_release(&img);
	return ret;
}
