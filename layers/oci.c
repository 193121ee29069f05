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
 *                        (`devenv commit`), with its "created" and history
 *   layer_image_load     an OCI layout archive or a docker-archive into
 *                        the store
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/str.h"
#include "util/banned.h"

#define MT_MANIFEST LAYER_MT_MANIFEST
#define MT_CONFIG LAYER_MT_CONFIG
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"

/* Does config o already have rootfs {"type":"layers","diff_ids": ids}? */
static bool config_has_diff_ids(struct json_object *o, struct json_object *ids)
{
	struct json_object *rootfs, *have, *type;

	return json_object_object_get_ex(o, "rootfs", &rootfs) &&
	       json_object_object_get_ex(rootfs, "type", &type) &&
	       json_object_is_type(type, json_type_string) &&
	       !strcmp(json_object_get_string(type), "layers") &&
	       json_object_object_get_ex(rootfs, "diff_ids", &have) && json_object_equal(have, ids);
}

char *layer_config_with_diff_ids(const char *config, const struct dv_strv *diff_ids,
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
	/* Unchanged diff_ids keep the config's very bytes, so its digest (the
	 * image id) survives a push and a pull. */
	if (config && config_has_diff_ids(o, ids)) {
		json_object_put(rootfs);
		json_object_put(ids);
		return dv_xstrdup(config);
	}
	json_object_object_add(rootfs, "type", json_object_new_string("layers"));
	json_object_object_add(rootfs, "diff_ids", ids);
	json_object_object_add(o, "rootfs", rootfs);
	return dv_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE));
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
		    (s = dv_digest_hex(json_object_get_string(d)))) {
			dv_strv_push(out, s);
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

void layer_time_rfc3339(long long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

int layer_time_parse(const char *s, long long *t)
{
	struct tm tm = { 0 };
	const char *p;
	long long off = 0;

	if (!s || strlen(s) < 20 || (s[10] != 'T' && s[10] != 't') ||
	    !(p = strptime(s, "%Y-%m-%d", &tm)) || p != s + 10 ||
	    !(p = strptime(s + 11, "%H:%M:%S", &tm)) || p != s + 19)
		return -1;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if ((*p == 'Z' || *p == 'z') && !p[1]) {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		for (int i = 1; i < 6; i++)
			if (i != 3 && (p[i] < '0' || p[i] > '9'))
				return -1;
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (off > 24 * 3600)
			return -1;
		if (*p == '-')
			off = -off;
	} else {
		return -1;
	}
	*t = (long long)timegm(&tm) - off;
	return 0;
}

/* config with "created" and the history entries of its layers that its
 * history lacks (see layer_image_compose). */
static char *config_with_created(char *config, long long created, size_t nlayers,
				 struct dv_error *err)
{
	layer_autojson struct json_object *o = json_tokener_parse(config);
	struct json_object *hist = NULL;
	char when[32];
	size_t have = 0;

	if (!o || !json_object_is_type(o, json_type_object)) {
		dv_err(err, EINVAL, "the image's config is not a JSON object");
		return NULL;
	}
	layer_time_rfc3339(created, when);
	json_object_object_add(o, "created", json_object_new_string(when));
	if (json_object_object_get_ex(o, "history", &hist) &&
	    !json_object_is_type(hist, json_type_array)) {
		json_object_object_del(o, "history");
		hist = NULL;
	}
	for (size_t i = 0; hist && i < json_object_array_length(hist); i++) {
		struct json_object *h = json_object_array_get_idx(hist, i), *empty;

		if (!json_object_object_get_ex(h, "empty_layer", &empty) ||
		    !json_object_get_boolean(empty))
			have++;
	}
	if (have > nlayers) { /* says more than there is: no history is better */
		json_object_object_del(o, "history");
		hist = NULL;
		have = 0;
	}
	if (!hist) {
		hist = json_object_new_array();
		json_object_object_add(o, "history", hist);
	}
	for (; have < nlayers; have++) {
		struct json_object *h = json_object_new_object();

		json_object_object_add(h, "created", json_object_new_string(when));
		json_object_object_add(h, "created_by", json_object_new_string("devenv commit"));
		json_object_array_add(hist, h);
	}
	free(config);
	return dv_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE));
}

int layer_image_compose(const struct layer_store *st, const char *name, const char *base_config,
			const struct dv_strv *layers, long long created, struct layer_image *out,
			struct dv_error *err)
{
	dv_autofree char *norm = NULL, *config = NULL;
	struct dv_strv diff_ids = { 0 };
	struct layer_image img = { 0 };
	char hex[65];
	int ret = -1;

	if (layer_ref_normalize(name, true, &norm, err) < 0)
		return -1;
	if (diff_ids_of(st, layers, &diff_ids, err) < 0 ||
	    !(config = layer_config_with_diff_ids(base_config, &diff_ids, err)) ||
	    (created >= 0 && !(config = config_with_created(config, created, layers->n, err))) ||
	    store_config(st, config, hex, err) < 0)
		goto out;
	img.name = dv_steal_ptr(&norm);
	img.id = dv_xasprintf("sha256:%s", hex);
	layer_image_set_layers(st, &img, layers);
	img.config = dv_steal_ptr(&config);
	ret = layer_image_record(st, &img, out, err);
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
	return layer_image_record(st, &img, out, err);
}

/* ---- save ---- */


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
		    const struct layer_oci_blob *b, struct dv_error *err)
{
	dv_autofree char *path = dv_xasprintf("blobs/sha256/%s", b->hex);
	dv_autoclose int fd = -1;

	if (add_entry(ar, a, e, path, AE_IFREG, b->size, err) < 0)
		return -1;
	if (!b->path)
		return ar->archive_write_data(a, b->text, b->size) == (la_ssize_t)b->size
			       ? 0
			       : dv_err(err, 0, "cannot write '%s': %s", path,
					ar->archive_error_string(a));
	fd = open(b->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot read '%s'", b->path);
	return layer_ar_write_fd(ar, a, fd, path, err);
}

static int cmp_blobs(const void *x, const void *y)
{
	return strcmp(((const struct layer_oci_blob *)x)->hex,
		      ((const struct layer_oci_blob *)y)->hex);
}

static la_ssize_t sparse_cb(struct archive *a, void *data, const void *buf, size_t n)
{
	(void)a;
	return layer_sparse_write(data, buf, n) < 0 ? -1 : (la_ssize_t)n;
}

/* The archive itself: oci-layout, index.json, then every blob in hex
 * order; into a new file with its layers' zeros as holes. */
int layer_oci_write_archive(const struct layer_ar *ar, int fd, const char *index,
			    struct layer_oci_blob *blobs, size_t n, struct dv_error *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct archive *a = ar->archive_write_new();
	struct archive_entry *e = ar->archive_entry_new();
	struct layer_sparse_out so = { .fd = -1 };
	int ret = -1;

	if (!a || !e) {
		dv_err(err, ENOMEM, "libarchive");
		goto out;
	}
	qsort(blobs, n, sizeof(*blobs), cmp_blobs);
	layer_sparse_open(&so, fd);
	/* No padding of the last block, as archive_write_open_fd() does for
	 * a file: the same bytes as before. */
	if (ar->archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    ar->archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    ar->archive_write_open(a, &so, NULL, sparse_cb, NULL) != ARCHIVE_OK) {
		dv_err(err, 0, "cannot start the archive: %s", ar->archive_error_string(a));
		goto out;
	}
	if (add_entry(ar, a, e, "oci-layout", AE_IFREG, sizeof(layout) - 1, err) < 0 ||
	    ar->archive_write_data(a, layout, sizeof(layout) - 1) !=
		    (la_ssize_t)(sizeof(layout) - 1) ||
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
	if (layer_sparse_close(&so) < 0) {
		dv_err(err, errno, "cannot write the archive");
		goto out;
	}
	ret = 0;
out:
	if (ret < 0 && so.error) /* its words, not libarchive's "Write error" */
		dv_err(err, so.error, "cannot write the archive");
	if (e)
		ar->archive_entry_free(e);
	if (a)
		ar->archive_write_free(a);
	return ret;
}

struct json_object *layer_oci_descriptor(const char *media_type, const char *hex,
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

char *layer_json_text(struct json_object *o)
{
	char *s = dv_xstrdup(
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));

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
	dv_autofree struct layer_oci_blob *blobs = NULL;
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
	if (!(config = layer_config_with_diff_ids(img.config, &diff_ids, err)))
		goto out;
	blobs[n].text = config;
	blobs[n].size = strlen(config);
	dv_sha256_hex(config, strlen(config), blobs[n].hex);
	m = json_object_new_object();
	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType", json_object_new_string(MT_MANIFEST));
	json_object_object_add(m, "config",
			       layer_oci_descriptor(MT_CONFIG, blobs[n].hex, blobs[n].size));
	layers = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(layers,
				      layer_oci_descriptor(MT_LAYER, blobs[i].hex, blobs[i].size));
	json_object_object_add(m, "layers", layers);
	manifest = layer_json_text(m);
	n++;
	blobs[n].text = manifest;
	blobs[n].size = strlen(manifest);
	dv_sha256_hex(manifest, strlen(manifest), blobs[n].hex);
	if (layer_name_split(img.name, &repo, &tag, err) < 0)
		goto out;
	desc = layer_oci_descriptor(MT_MANIFEST, blobs[n].hex, blobs[n].size);
	ann = json_object_new_object();
	/* The tag, as the layout spec says; the whole name for podman and
	 * containerd, which read it from here. */
	json_object_object_add(ann, "io.containerd.image.name", json_object_new_string(img.name));
	json_object_object_add(ann, "org.opencontainers.image.ref.name",
			       json_object_new_string(tag));
	json_object_object_add(desc, "annotations", ann);
	mans = json_object_new_array();
	json_object_array_add(mans, desc);
	idx = json_object_new_object();
	json_object_object_add(idx, "schemaVersion", json_object_new_int(2));
	json_object_object_add(idx, "manifests", mans);
	index = layer_json_text(idx);
	n++;
	/* Next to the file, renamed over it when complete. */
	tmp = dv_xasprintf("%s.devenv-tmp", file);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0) {
		dv_err(err, errno, "cannot create '%s'", tmp);
		goto out;
	}
	if (layer_oci_write_archive(ar, out, index, blobs, n, err) < 0 || fsync(out) < 0 ||
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
	/* Every entry: write_archive sorted them, so the layers' paths may be
	 * anywhere (the others are NULL). */
	for (size_t i = 0; blobs && i < img.layers.n + 2; i++)
		free(blobs[i].path);
	dv_strv_release(&diff_ids);
	layer_image_release(&img);
	return ret;
}

/* ---- load ---- */

/* "sha256:<64 lower-case hex>" and nothing else (CVE-2024-3727): the hex,
 * or NULL. Checked before the digest ever becomes a path. */
static const char *digest_hex(struct json_object *desc)
{
	struct json_object *d;

	if (!desc || !json_object_object_get_ex(desc, "digest", &d))
		return NULL;
	return dv_digest_hex(json_object_get_string(d));
}

static const char *str_field(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* Open blobs/sha256/<hex> of the unpacked archive and check that its bytes
 * hash to hex; *text (may be NULL) gets its content when small (JSON). */
int layer_oci_open_blob(int rootfd, const char *hex, char **text, struct dv_error *err)
{
	char rel[96], got[65];
	dv_autoclose int fd = -1;

	snprintf(rel, sizeof(rel), "blobs/sha256/%s", hex);
	fd = openat(rootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "the archive has no blob sha256:%.12s", hex);
	if (dv_sha256_fd(fd, got, err) < 0)
		return -1;
	if (strcmp(got, hex))
		return dv_err_plain(err, EBADMSG,
				    "blob sha256:%.12s of the archive does not match its "
				    "digest (it hashes to sha256:%.12s)",
				    hex, got);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return dv_err(err, errno, "lseek");
	if (text) {
		struct stat sb;
		size_t len;

		/* The failed call's own error, not a guess at one. */
		if (fstat(fd, &sb) < 0)
			return dv_err(err, errno, "cannot read blob sha256:%.12s of the archive",
				      hex);
		/* JSON documents are small; a huge one is an attack on memory. */
		if (sb.st_size > (4 << 20))
			return dv_err_plain(err, EFBIG,
					    "blob sha256:%.12s of the archive is too big "
					    "for a manifest or config (over 4 MiB)",
					    hex);
		return dv_read_all(fd, text, &len, err) < 0 ? -1 : 0;
	}
	return dv_steal_fd(&fd);
}

/* The manifest to load from index.json: the only one, or the one naming
 * `want` (a tag or a whole name) among several; a nested index (a multi-platform
 * image) is followed to this machine's platform. */
static int pick_manifest(int rootfd, struct json_object *index, const char *want, char hex[65],
			 char **name, struct dv_error *err)
{
	struct json_object *mans, *pick = NULL;
	size_t n;

	if (!json_object_object_get_ex(index, "manifests", &mans) ||
	    !json_object_is_type(mans, json_type_array) || !(n = json_object_array_length(mans)))
		return dv_err_plain(err, EINVAL, "the archive's index.json lists no image");
	for (size_t i = 0; i < n && !pick; i++) {
		struct json_object *d = json_object_array_get_idx(mans, i), *ann = NULL;
		const char *ref = NULL, *full = NULL;

		if (json_object_object_get_ex(d, "annotations", &ann)) {
			ref = str_field(ann, "org.opencontainers.image.ref.name");
			full = str_field(ann, "io.containerd.image.name");
		}
		/* One image: that one, whatever it is to be called. */
		if (n == 1 ||
		    (want && ((ref && !strcmp(ref, want)) || (full && !strcmp(full, want))))) {
			pick = d;
			if (full || ref)
				*name = dv_xstrdup(full ? full : ref);
		}
	}
	if (!pick && !want)
		return dv_err_plain(err, EINVAL,
				    "the archive holds %zu images: say which one "
				    "('devenv image load FILE NAME')",
				    n);
	if (!pick)
		return dv_err_plain(err, ENOENT, "the archive holds no image named '%s'", want);
	if (!digest_hex(pick))
		return dv_err_plain(err, EINVAL, "the archive's index.json has a bad digest");
	snprintf(hex, 65, "%s", digest_hex(pick));
	/* A multi-platform index: this machine's entry. */
	if (str_field(pick, "mediaType") &&
	    (!strcmp(str_field(pick, "mediaType"), "application/vnd.oci.image.index.v1+json") ||
	     !strcmp(str_field(pick, "mediaType"),
		     "application/vnd.docker.distribution.manifest.list.v2+json"))) {
		dv_autofree char *text = NULL;
		layer_autojson struct json_object *sub = NULL;
		struct json_object *list;

		if (layer_oci_open_blob(rootfd, hex, &text, err) < 0)
			return -1;
		sub = json_tokener_parse(text);
		if (!sub || !json_object_object_get_ex(sub, "manifests", &list) ||
		    !json_object_is_type(list, json_type_array))
			return dv_err_plain(err, EINVAL,
					    "the archive's image index is not valid JSON");
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			struct json_object *d = json_object_array_get_idx(list, i), *pl;
			const char *os, *arch;

			if (!json_object_object_get_ex(d, "platform", &pl))
				continue;
			os = str_field(pl, "os");
			arch = str_field(pl, "architecture");
			if (os && arch && !strcmp(os, "linux") && !strcmp(arch, LAYER_ARCH) &&
			    digest_hex(d)) {
				snprintf(hex, 65, "%s", digest_hex(d));
				return 0;
			}
		}
		return dv_err_plain(err, ENOENT, "the archive's image has no linux/%s variant",
				    LAYER_ARCH);
	}
	return 0;
}

/* ---- docker-archive (`docker save`, `podman save`'s default) ----
 *
 * manifest.json: [{"Config": PATH, "RepoTags": ["name:tag"...],
 * "Layers": [PATH...]}], the paths inside the archive: "<id>/layer.tar"
 * and "<hex>.json" of docker's legacy form, "<hex>.tar" of podman's,
 * "blobs/sha256/<hex>" of docker 25's. Each is opened beneath the
 * unpacked archive (a symlink may join two layers' tars, as docker writes
 * them, but nothing leaves it). The image id is the config's sha256; a
 * config whose name says a digest must hash to it; every layer must
 * unpack to its diff_id, as for an OCI layout. */

/* A hex digest the file name ends in ("<hex>.json", "blobs/sha256/<hex>"),
 * or NULL. */
static const char *name_hex(const char *path, char out[65])
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 5 && !strcmp(base + n - 5, ".json"))
		n -= 5;
	if (n != 64)
		return NULL;
	memcpy(out, base, 64);
	out[64] = 0;
	return layer_is_id(out) ? out : NULL;
}

/* PATH of the unpacked docker-archive, a regular file opened beneath it. */
static int open_member(int rootfd, const char *path, const char *what, struct dv_error *err)
{
	dv_autoclose int fd = -1;
	struct stat sb;

	if (!path || !path[0])
		return dv_err_plain(err, EINVAL, "the archive's manifest.json gives %s no path",
				    what);
	fd = dv_openat_beneath(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		return dv_err(err, errno == EXDEV ? 0 : errno,
			      errno == EXDEV ? "the archive's %s '%s' is outside the archive"
					     : "the archive has no %s '%s'",
			      what, path);
	if (fstat(fd, &sb) < 0)
		return dv_err(err, errno, "cannot read the archive's %s '%s'", what, path);
	if (!S_ISREG(sb.st_mode))
		return dv_err_plain(err, EINVAL, "the archive's %s '%s' is not a file", what, path);
	return dv_steal_fd(&fd);
}

/* The image of manifest.json to load: the only one, or the one whose
 * RepoTags hold `want`. Fills *cfg_text and cfg_hex (the config's digest:
 * the image id), *layers (the entry's Layers, borrowed from *top) and
 * *name (its first tag, may stay NULL). */
static int docker_pick(int rootfd, const char *want, struct json_object **top, char **cfg_text,
		       char cfg_hex[65], struct json_object **layers, char **name,
		       struct dv_error *err)
{
	dv_autofree char *text = NULL;
	dv_autoclose int fd = -1;
	struct json_object *pick = NULL, *tags;
	const char *cfg_path;
	char said[65];
	size_t n, len;
	struct stat sb;

	fd = open_member(rootfd, "manifest.json", "manifest", err);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || sb.st_size > (4 << 20))
		return dv_err_plain(err, EFBIG,
				    "the archive's manifest.json is too big (over 4 MiB)");
	if (dv_read_all(fd, &text, &len, err) < 0)
		return -1;
	*top = json_tokener_parse(text);
	if (!*top || !json_object_is_type(*top, json_type_array) ||
	    !(n = json_object_array_length(*top)))
		return dv_err_plain(err, EINVAL, "the archive's manifest.json lists no image");
	for (size_t i = 0; i < n && !pick; i++) {
		struct json_object *e = json_object_array_get_idx(*top, i);

		if (!json_object_is_type(e, json_type_object))
			return dv_err_plain(err, EINVAL,
					    "entry %zu of the archive's manifest.json "
					    "is not an object",
					    i + 1);
		if (n == 1)
			pick = e;
		if (json_object_object_get_ex(e, "RepoTags", &tags) &&
		    json_object_is_type(tags, json_type_array))
			for (size_t t = 0; t < json_object_array_length(tags); t++) {
				struct json_object *tag = json_object_array_get_idx(tags, t);

				if (!json_object_is_type(tag, json_type_string))
					continue;
				if (!*name && (pick == e || !want))
					*name = dv_xstrdup(json_object_get_string(tag));
				if (want && !strcmp(json_object_get_string(tag), want)) {
					pick = e;
					free(*name);
					*name = dv_xstrdup(want);
				}
			}
		if (pick != e && *name && n > 1) {
			free(*name);
			*name = NULL;
		}
	}
	if (!pick && !want)
		return dv_err_plain(err, EINVAL,
				    "the archive holds %zu images: say which one "
				    "('devenv image load FILE NAME')",
				    n);
	if (!pick)
		return dv_err_plain(err, ENOENT, "the archive holds no image named '%s'", want);
	cfg_path = str_field(pick, "Config");
	if (!json_object_object_get_ex(pick, "Layers", layers) ||
	    !json_object_is_type(*layers, json_type_array))
		return dv_err_plain(err, EINVAL, "the archive's manifest.json lists no layers");
	dv_autoclose int cfd = open_member(rootfd, cfg_path, "config", err);
	if (cfd < 0)
		return -1;
	if (fstat(cfd, &sb) < 0 || sb.st_size > (4 << 20))
		return dv_err_plain(err, EFBIG, "the archive's config '%s' is too big (over 4 MiB)",
				    cfg_path);
	if (dv_read_all(cfd, cfg_text, &len, err) < 0)
		return -1;
	dv_sha256_hex(*cfg_text, len, cfg_hex);
	if (name_hex(cfg_path, said) && strcmp(said, cfg_hex))
		return dv_err_plain(err, EBADMSG,
				    "the archive's config '%s' does not match its "
				    "digest (it hashes to sha256:%.12s)",
				    cfg_path, cfg_hex);
	return 0;
}

int layer_image_load(const struct layer_store *st, const char *file, const char *name,
		     struct layer_image *out, struct dv_error *err)
{
	const struct layer_ar *ar = layer_ar_load(err);
	dv_autofree char *staging = NULL, *index_text = NULL, *man_text = NULL, *cfg_text = NULL;
	dv_autofree char *found = NULL, *norm = NULL;
	layer_autojson struct json_object *index = NULL, *man = NULL, *cfg = NULL;
	struct json_object *layers, *rootfs, *diff_ids;
	dv_autoclose int fd = -1, sfd = -1, rootfd = -1;
	struct dv_strv ids = { 0 };
	char man_hex[65], cfg_hex[65], outer_hex[65];
	bool docker = false;
	size_t n;
	int ret = -1;

	if (!ar)
		return -1;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", file);
	/* Unpacked safely (extract.c) into staging, so that blobs can be
	 * read in any order; removed at the end whatever happens. */
	if (layer_staging_create(st, false, "load", &staging, err) < 0)
		return -1;
	if ((sfd = dv_open_dir_at(st->tmp_fd, staging, err)) < 0 ||
	    (rootfd = dv_open_dir_at(sfd, "diff", err)) < 0 ||
	    layer_extract(ar, fd, file, rootfd, st->rootless, outer_hex, NULL, err) < 0)
		goto out;
	/* An OCI layout (index.json; docker 25's saves have both), else a
	 * docker-archive (manifest.json only). */
	if (faccessat(rootfd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    faccessat(rootfd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		docker = true;
		if (docker_pick(rootfd, name, &man, &cfg_text, cfg_hex, &layers, &found, err) < 0)
			goto out;
	} else {
		if (dv_read_file_at(rootfd, "index.json", &index_text, &n, err) < 0 ||
		    !(index = json_tokener_parse(index_text))) {
			if (!dv_err_isset(err))
				dv_err_plain(err, EINVAL,
					     "'%s' is not an OCI image layout archive "
					     "(index.json is not JSON)",
					     file);
			else
				dv_err_plain(err, EINVAL,
					     "'%s' is not an OCI image layout archive "
					     "or a docker-archive (it has no index.json or "
					     "manifest.json)",
					     file);
			goto out;
		}
		if (pick_manifest(rootfd, index, name, man_hex, &found, err) < 0 ||
		    layer_oci_open_blob(rootfd, man_hex, &man_text, err) < 0)
			goto out;
		man = json_tokener_parse(man_text);
		if (!man || !digest_hex(json_object_object_get(man, "config")) ||
		    !json_object_object_get_ex(man, "layers", &layers) ||
		    !json_object_is_type(layers, json_type_array)) {
			dv_err_plain(err, EINVAL,
				     "the archive's manifest sha256:%.12s is not an image "
				     "manifest",
				     man_hex);
			goto out;
		}
		snprintf(cfg_hex, sizeof(cfg_hex), "%s",
			 digest_hex(json_object_object_get(man, "config")));
		if (layer_oci_open_blob(rootfd, cfg_hex, &cfg_text, err) < 0)
			goto out;
	}
	cfg = json_tokener_parse(cfg_text);
	if (!cfg || !json_object_object_get_ex(cfg, "rootfs", &rootfs) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &diff_ids) ||
	    !json_object_is_type(diff_ids, json_type_array) ||
	    json_object_array_length(diff_ids) != json_object_array_length(layers)) {
		dv_err_plain(err, EINVAL, "the image's config does not list one diff_id per layer");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		struct json_object *l = json_object_array_get_idx(layers, i);
		const char *hex = docker ? NULL : digest_hex(l);
		const char *want = json_object_get_string(json_object_array_get_idx(diff_ids, i));
		dv_autoclose int lfd = -1;
		char id[65], step[96];
		unsigned long long size;

		if (docker) {
			if (!json_object_is_type(l, json_type_string)) {
				dv_err_plain(err, EINVAL,
					     "layer %zu of the archive's manifest.json is not "
					     "a path",
					     i + 1);
				goto out;
			}
			lfd = open_member(rootfd, json_object_get_string(l), "layer", err);
		} else if (!hex) {
			dv_err_plain(err, EINVAL, "layer %zu of the manifest has a bad digest",
				     i + 1);
			goto out;
		} else {
			lfd = layer_oci_open_blob(rootfd, hex, NULL, err);
		}
		if (lfd < 0)
			goto out;
		snprintf(step, sizeof(step), "load layer %zu", i + 1);
		if (layer_import_stream(st, lfd, file, step, id, &size, NULL, err) < 0)
			goto out;
		/* What the config says the layer is: its uncompressed digest. */
		if (!want || strncmp(want, "sha256:", 7) || strcmp(want + 7, id)) {
			dv_err_plain(err, EBADMSG,
				     "layer %zu unpacks to sha256:%.12s, not the config's %s",
				     i + 1, id, want ? want : "(none)");
			goto out;
		}
		dv_strv_push(&ids, id);
	}
	if (!name && !found) {
		dv_err_usage(err, "the archive names no image: say what to call it "
				  "('devenv image load FILE NAME[:TAG]')");
		goto out;
	}
	{
		struct layer_image img = { 0 };

		if (layer_ref_normalize(name && (strchr(name, '/') || strchr(name, ':')) ? name
					: name                                           ? name
											 : found,
					true, &norm, err) < 0 ||
		    store_config(st, cfg_text, cfg_hex, err) < 0)
			goto out;
		img.name = dv_steal_ptr(&norm);
		img.id = dv_xasprintf("sha256:%s", cfg_hex);
		layer_image_set_layers(st, &img, &ids);
		img.config = dv_xstrdup(cfg_text);
		if (layer_image_record(st, &img, out, err) < 0)
			goto out;
	}
	ret = 0;
out:
	/* Layers already imported stay (gc frees them if nothing uses them). */
	if (staging)
		layer_rm_tree(st->tmp_fd, staging, &(struct dv_error){ 0 });
	dv_strv_release(&ids);
	return ret;
}
