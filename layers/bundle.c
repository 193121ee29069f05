/*
 * layers/bundle.c - the archive of a bundle (`devenv bundle`): one OCI
 * image layout tar, as `image save` writes it (oci.c), holding several
 * manifests listed in index.json, each annotated with what it is, and
 * index.json itself annotated "dev.devenv.bundle". What the manifests mean
 * (an env's base, its step layers, its services, its git and download
 * inputs) is env/bundle.c's; this file moves blobs:
 *
 *   writing  layers exported (export.c's tars, once per layer), folders as
 *            tars, files and texts as blobs, then the archive
 *   reading  is a file a bundle (index.json read from the tar's first
 *            entries), the archive unpacked safely (extract.c) into
 *            staging, blobs opened by digest and checked, layers imported,
 *            a tar blob unpacked into a folder
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/str.h"
#include "util/banned.h"

struct layer_bundle {
	const struct layer_store *st;
	const struct layer_ar *ar;
	char *staging; /* tmp/<name>: blobs being written, or the unpacked archive */
	int rootfd;    /* reading: the unpacked archive */
	struct layer_oci_blob *blobs;
	size_t n, cap;
	struct dv_strv texts;  /* owned texts of blobs */
	struct dv_strv layers; /* writing: layer ids exported, with... */
	struct dv_strv hexes;  /* ...their digests */
	struct json_object *manifests;
	struct json_object *index; /* reading */
	unsigned files;
};

static struct layer_bundle *bundle_new(const struct layer_store *st, const char *tag,
				       struct dv_error *err)
{
	struct layer_bundle *b;
	const struct layer_ar *ar = layer_ar_load(err);

	if (!ar)
		return NULL;
	b = dv_xcalloc(1, sizeof(*b));
	b->st = st;
	b->ar = ar;
	b->rootfd = -1;
	if (layer_staging_create(st, false, tag, &b->staging, err) < 0) {
		free(b);
		return NULL;
	}
	return b;
}

struct layer_bundle *layer_bundle_new(const struct layer_store *st, struct dv_error *err)
{
	struct layer_bundle *b = bundle_new(st, "bundle", err);

	if (b)
		b->manifests = json_object_new_array();
	return b;
}

void layer_bundle_free(struct layer_bundle *b)
{
	if (!b)
		return;
	if (b->rootfd >= 0)
		close(b->rootfd);
	if (b->staging)
		layer_rm_tree(b->st->tmp_fd, b->staging, &(struct dv_error){ 0 });
	for (size_t i = 0; i < b->n; i++)
		free(b->blobs[i].path);
	free(b->blobs);
	free(b->staging);
	dv_strv_release(&b->texts);
	dv_strv_release(&b->layers);
	dv_strv_release(&b->hexes);
	if (b->manifests)
		json_object_put(b->manifests);
	if (b->index)
		json_object_put(b->index);
	free(b);
}

static struct layer_oci_blob *next_blob(struct layer_bundle *b)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 16;
		b->blobs = dv_xrealloc(b->blobs, b->cap * sizeof(*b->blobs));
	}
	memset(&b->blobs[b->n], 0, sizeof(b->blobs[0]));
	return &b->blobs[b->n++];
}

/* A new file in staging for the next blob; -1 on error (nothing added). */
static int blob_file(struct layer_bundle *b, struct layer_oci_blob **out, struct dv_error *err)
{
	char name[32];
	struct layer_oci_blob *bl;
	int fd;

	snprintf(name, sizeof(name), "%u.blob", b->files++);
	bl = next_blob(b);
	bl->path = layer_staging_path(b->st, b->staging, name);
	fd = open(bl->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		dv_err(err, errno, "cannot create '%s'", bl->path);
		free(bl->path);
		b->n--;
		return -1;
	}
	*out = bl;
	return fd;
}

int layer_bundle_add_layer(struct layer_bundle *b, const char *id, char hex[65],
			   unsigned long long *size, struct dv_error *err)
{
	struct layer_oci_blob *bl;
	dv_autoclose int fd = -1;

	for (size_t i = 0; i < b->layers.n; i++) {
		if (strcmp(b->layers.v[i], id))
			continue;
		for (size_t k = 0; k < b->n; k++)
			if (!strcmp(b->blobs[k].hex, b->hexes.v[i])) {
				*size = b->blobs[k].size;
				break;
			}
		snprintf(hex, 65, "%s", b->hexes.v[i]);
		return 0;
	}
	if ((fd = blob_file(b, &bl, err)) < 0)
		return -1;
	if (layer_export(b->st, id, fd, bl->hex, &bl->size, err) < 0)
		return -1;
	dv_strv_push(&b->layers, id);
	dv_strv_push(&b->hexes, bl->hex);
	snprintf(hex, 65, "%s", bl->hex);
	*size = bl->size;
	return 0;
}

int layer_bundle_add_dir(struct layer_bundle *b, const char *dir, char hex[65],
			 unsigned long long *size, struct dv_error *err)
{
	struct layer_oci_blob *bl;
	dv_autoclose int fd = blob_file(b, &bl, err);

	if (fd < 0 || layer_export_dir(b->st, dir, fd, bl->hex, &bl->size, err) < 0)
		return -1;
	snprintf(hex, 65, "%s", bl->hex);
	*size = bl->size;
	return 0;
}

int layer_bundle_add_fd(struct layer_bundle *b, int in, char hex[65], unsigned long long *size,
			struct dv_error *err)
{
	struct layer_oci_blob *bl;
	dv_autoclose int fd = blob_file(b, &bl, err);
	struct dv_sha256 h;
	char buf[65536];
	ssize_t r;

	if (fd < 0)
		return -1;
	dv_sha256_init(&h);
	while ((r = read(in, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return dv_err(err, errno, "cannot read a file for the bundle");
		dv_sha256_update(&h, buf, (size_t)r);
		if (dv_write_full(fd, buf, (size_t)r, err) < 0)
			return -1;
		bl->size += (unsigned long long)r;
	}
	dv_sha256_final_hex(&h, bl->hex);
	snprintf(hex, 65, "%s", bl->hex);
	*size = bl->size;
	return 0;
}

void layer_bundle_add_text(struct layer_bundle *b, const char *text, char hex[65])
{
	struct layer_oci_blob *bl = next_blob(b);

	dv_strv_push(&b->texts, text);
	bl->text = b->texts.v[b->texts.n - 1];
	bl->size = strlen(text);
	dv_sha256_hex(bl->text, bl->size, bl->hex);
	snprintf(hex, 65, "%s", bl->hex);
}

void layer_bundle_add_manifest(struct layer_bundle *b, struct json_object *manifest,
			       struct json_object *ann)
{
	dv_autofree char *text = layer_json_text(manifest);
	char hex[65];
	struct json_object *desc;

	layer_bundle_add_text(b, text, hex);
	desc = layer_oci_descriptor(LAYER_MT_MANIFEST, hex, strlen(text));
	json_object_object_add(desc, "annotations", ann);
	json_object_array_add(b->manifests, desc);
}

int layer_bundle_write(struct layer_bundle *b, const char *file, int uid, int gid,
		       struct dv_error *err)
{
	struct json_object *idx = json_object_new_object(), *ann = json_object_new_object();
	dv_autofree char *index = NULL, *tmp = dv_xasprintf("%s.devenv-tmp", file);
	dv_autoclose int out = -1;

	json_object_object_add(idx, "schemaVersion", json_object_new_int(2));
	json_object_object_add(idx, "manifests", json_object_get(b->manifests));
	json_object_object_add(ann, LAYER_BUNDLE_ANN, json_object_new_string("1"));
	json_object_object_add(idx, "annotations", ann);
	index = layer_json_text(idx);
	/* A new file, never one found there (a link to another file). */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return dv_err(err, errno, "cannot remove '%s'", tmp);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return dv_err(err, errno, "cannot create '%s'", tmp);
	if (layer_oci_write_archive(b->ar, out, index, b->blobs, b->n, err) < 0 ||
	    (uid >= 0 && fchown(out, (uid_t)uid, (gid_t)gid) < 0) || fsync(out) < 0 ||
	    rename(tmp, file) < 0) {
		if (!dv_err_isset(err))
			dv_err(err, errno, "cannot write '%s'", file);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ---- reading ---- */

static bool index_is_bundle(struct json_object *idx)
{
	struct json_object *ann, *v;

	return idx && json_object_object_get_ex(idx, "annotations", &ann) &&
	       json_object_object_get_ex(ann, LAYER_BUNDLE_ANN, &v) &&
	       json_object_is_type(v, json_type_string);
}

bool layer_bundle_sniff(const char *file)
{
	const struct layer_ar *ar = layer_ar_load(&(struct dv_error){ 0 });
	struct archive *a;
	struct archive_entry *e;
	bool yes = false;
	dv_autoclose int fd = -1;

	if (!ar || (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || !(a = ar->archive_read_new()))
		return false;
	ar->archive_read_support_format_tar(a);
	/* index.json is the second entry of what oci.c writes; a few more
	 * for an archive written otherwise. */
	if (ar->archive_read_open_fd(a, fd, 65536) == ARCHIVE_OK)
		for (int i = 0; i < 4 && ar->archive_read_next_header(a, &e) == ARCHIVE_OK; i++) {
			const char *p = ar->archive_entry_pathname(e);
			dv_autofree char *text = NULL;
			size_t len = 0;
			const void *buf;
			size_t sz;
			la_int64_t off;

			if (!p || (strcmp(p, "index.json") && strcmp(p, "./index.json")))
				continue;
			if (ar->archive_entry_size(e) > (4 << 20))
				break;
			text = dv_xcalloc(1, (size_t)ar->archive_entry_size(e) + 1);
			while (ar->archive_read_data_block(a, &buf, &sz, &off) == ARCHIVE_OK) {
				if ((size_t)off + sz > (size_t)ar->archive_entry_size(e))
					break;
				memcpy(text + off, buf, sz);
				len = (size_t)off + sz;
			}
			text[len] = 0;
			layer_autojson struct json_object *idx = json_tokener_parse(text);

			yes = index_is_bundle(idx);
			break;
		}
	ar->archive_read_free(a);
	return yes;
}

int layer_bundle_open(const struct layer_store *st, const char *file, struct layer_bundle **out,
		      struct dv_error *err)
{
	struct layer_bundle *b = bundle_new(st, "load", err);
	dv_autoclose int fd = -1, sfd = -1;
	dv_autofree char *text = NULL;
	struct json_object *mans;
	char outer[65];
	size_t n;

	if (!b)
		return -1;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		dv_err(err, errno, "cannot open '%s'", file);
		goto fail;
	}
	if ((sfd = dv_open_dir_at(st->tmp_fd, b->staging, err)) < 0 ||
	    (b->rootfd = dv_open_dir_at(sfd, "diff", err)) < 0 ||
	    layer_extract(b->ar, fd, file, b->rootfd, st->rootless, outer, NULL, err) < 0)
		goto fail;
	if (dv_read_file_at(b->rootfd, "index.json", &text, &n, err) < 0)
		goto fail;
	b->index = json_tokener_parse(text);
	if (!index_is_bundle(b->index) || !json_object_object_get_ex(b->index, "manifests", &mans) ||
	    !json_object_is_type(mans, json_type_array)) {
		dv_err_plain(err, EINVAL, "'%s' is not a devenv bundle (its index.json is not one)",
			     file);
		goto fail;
	}
	*out = b;
	return 0;
fail:
	layer_bundle_free(b);
	return -1;
}

struct json_object *layer_bundle_manifests(const struct layer_bundle *b)
{
	return json_object_object_get(b->index, "manifests");
}

int layer_bundle_json(const struct layer_bundle *b, const char *hex, struct json_object **out,
		      struct dv_error *err)
{
	dv_autofree char *text = NULL;

	if (!dv_is_sha256_hex(hex))
		return dv_err_plain(err, EINVAL, "the bundle names a bad digest");
	if (layer_oci_open_blob(b->rootfd, hex, &text, err) < 0)
		return -1;
	*out = json_tokener_parse(text);
	if (!*out || !json_object_is_type(*out, json_type_object)) {
		if (*out)
			json_object_put(*out);
		*out = NULL;
		return dv_err_plain(err, EINVAL,
				    "blob sha256:%.12s of the bundle is not a JSON object", hex);
	}
	return 0;
}

int layer_bundle_blob(const struct layer_bundle *b, const char *hex, struct dv_error *err)
{
	if (!dv_is_sha256_hex(hex))
		return dv_err_plain(err, EINVAL, "the bundle names a bad digest");
	return layer_oci_open_blob(b->rootfd, hex, NULL, err);
}

int layer_bundle_import(const struct layer_bundle *b, const char *hex, const char *step,
			char id[65], struct dv_error *err)
{
	dv_autoclose int fd = layer_bundle_blob(b, hex, err);
	unsigned long long size;

	if (fd < 0 || layer_import_stream(b->st, fd, "the bundle", step, id, &size, NULL, err) < 0)
		return -1;
	/* Checked as a blob already; the tar must be what it hashes to. */
	if (strcmp(id, hex))
		return dv_err_plain(err, EBADMSG,
				    "layer sha256:%.12s of the bundle unpacks to sha256:%.12s", hex,
				    id);
	return 0;
}

int layer_bundle_extract(const struct layer_bundle *b, const char *hex, int dirfd,
			 struct dv_error *err)
{
	dv_autoclose int fd = layer_bundle_blob(b, hex, err);
	char got[65];

	if (fd < 0 ||
	    layer_extract(b->ar, fd, "the bundle", dirfd, b->st->rootless, got, NULL, err) < 0)
		return -1;
	return 0;
}

int layer_bundle_image(const struct layer_bundle *b, const char *man_hex, const char *name,
		       const char *source, const char *env, struct layer_image *out,
		       struct dv_error *err)
{
	layer_autojson struct json_object *man = NULL;
	dv_autofree char *cfg_text = NULL, *norm = NULL, *repo = NULL, *tag = NULL;
	struct json_object *layers;
	struct layer_image have = { 0 }, img = { 0 };
	struct dv_strv ids = { 0 };
	dv_autoclose int bfd = -1;
	const char *cfg_hex;
	int ret = -1;

	if (layer_bundle_json(b, man_hex, &man, err) < 0)
		return -1;
	cfg_hex = dv_digest_hex(json_object_get_string(
		json_object_object_get(json_object_object_get(man, "config"), "digest")));
	if (!cfg_hex || !json_object_object_get_ex(man, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		return dv_err_plain(err, EINVAL,
				    "manifest sha256:%.12s of the bundle is not an image manifest",
				    man_hex);
	if (layer_oci_open_blob(b->rootfd, cfg_hex, &cfg_text, err) < 0)
		return -1;
	{
		char got[65];

		dv_sha256_hex(cfg_text, strlen(cfg_text), got);
		if (strcmp(got, cfg_hex))
			return dv_err_plain(err, EINVAL,
					    "config sha256:%.12s of the bundle is not a JSON text",
					    cfg_hex);
	}
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		const char *hex = dv_digest_hex(json_object_get_string(
			json_object_object_get(json_object_array_get_idx(layers, i), "digest")));
		char id[65], step[96];

		snprintf(step, sizeof(step), "bundle layer %zu", i + 1);
		if (!hex) {
			dv_err_plain(err, EINVAL,
				     "layer %zu of manifest sha256:%.12s has a bad digest", i + 1,
				     man_hex);
			goto out;
		}
		if (layer_bundle_import(b, hex, step, id, err) < 0)
			goto out;
		dv_strv_push(&ids, id);
	}
	if (layer_ref_normalize(name, false, &norm, err) < 0)
		goto out;
	/* The image's id is its config's digest: the config goes in as it
	 * is (its diff_ids may name another tar form of the same files). */
	if (layer_image_resolve(b->st, norm, &have, &(struct dv_error){ 0 }) == 0) {
		bool same = !strcmp(have.id + 7, cfg_hex);

		layer_image_release(&have);
		if (same) {
			ret = layer_image_resolve(b->st, norm, out, err);
			goto out;
		}
		/* The store's name stays the store's: this one by digest. */
		if (layer_name_split(norm, &repo, &tag, err) < 0)
			goto out;
		free(norm);
		norm = dv_xasprintf("%s@sha256:%s", repo, man_hex);
	}
	bfd = layer_blobs_dir(b->st, err);
	if (bfd < 0 || dv_write_file_atomic(bfd, cfg_hex, cfg_text, strlen(cfg_text), 0600, err) < 0)
		goto out;
	img.name = dv_steal_ptr(&norm);
	img.id = dv_xasprintf("sha256:%s", cfg_hex);
	img.from = dv_xstrdup(source);
	img.from_env = dv_xstrdup(env);
	layer_image_set_layers(b->st, &img, &ids);
	img.config = dv_steal_ptr(&cfg_text);
	ret = layer_image_record(b->st, &img, out, err);
out:
	dv_strv_release(&ids);
	return ret;
}
