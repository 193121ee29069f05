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

struct pull {
	const struct layer_store *st;
	struct layer_reg *reg;
	const char *name;
	bool progress;
	struct dv_strv staged; /* staging names, parallel to ids; "" when present */
	struct dv_strv ids;
};

static void pull_release(struct pull *p)
{
	size_t i;

	for (i = 0; i < p->staged.n; i++)
		if (p->staged.v[i][0])
			layer_rm_tree(p->st->tmp_fd, p->staged.v[i], &(struct dv_error){0});
	dv_strv_release(&p->staged);
	dv_strv_release(&p->ids);
	layer_reg_free(p->reg);
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
static int pick_platform(struct pull *p, struct json_object *index, char hex[65],
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
static int fetch_manifest(struct pull *p, char **out_text, char out_hex[65],
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

/* Download and unpack layer i into a new staging folder; check its diff_id. */
static int stage_layer(struct pull *p, const struct layer_ar *ar, struct json_object *desc,
		       const char *diff_hex, size_t i, size_t n, struct dv_error *err)
{
	dv_autofree char *staging = NULL;
	dv_autoclose int sfd = -1, bfd = -1, rootfd = -1;
	struct json_object *size;
	const char *hex = desc_hex(desc), *mt = jstr(desc, "mediaType");
	unsigned long long max = ~0ULL;
	char got[65], what[96];
	size_t k;
	bool known = false;

	if (!hex)
		return dv_err_plain(err, EINVAL, "the manifest of '%s' names an invalid layer digest",
				    p->name);
	for (k = 0; mt && k < sizeof(layer_types) / sizeof(layer_types[0]); k++)
		known |= !strcmp(mt, layer_types[k]);
	if (!known)
		return dv_err_plain(err, EPROTO,
				    "unsupported layer media type '%s' in '%s' (foreign and "
				    "non-distributable layers are not fetched)",
				    mt ? mt : "(none)", p->name);
	if (json_object_object_get_ex(desc, "size", &size)) {
		int64_t v = json_object_get_int64(size);

		if (v < 0)
			return dv_err_plain(err, EINVAL, "the manifest of '%s' gives a negative size",
					    p->name);
		max = (unsigned long long)v;
	}
	if (p->progress)
		fprintf(stderr, "devenv: layer %zu/%zu sha256:%.12s\n", i + 1, n, hex);
	if (layer_staging_create(p->st, false, "pull", &staging, err) < 0)
		return -1;
	dv_strv_push(&p->staged, staging); /* removed by pull_release unless committed */
	if ((sfd = dv_open_dir_at(p->st->tmp_fd, staging, err)) < 0)
		return -1;
	bfd = openat(sfd, "blob", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (bfd < 0)
		return dv_err(err, errno, "cannot create 'tmp/%s/blob'", staging);
	if (layer_reg_blob(p->reg, hex, max, bfd, NULL, NULL, err) < 0)
		return -1;
	if (lseek(bfd, 0, SEEK_SET) < 0)
		return dv_err(err, errno, "cannot rewind 'tmp/%s/blob'", staging);
	snprintf(what, sizeof(what), "layer sha256:%.12s of '%s'", hex, p->name);
	if ((rootfd = dv_open_dir_at(sfd, "diff", err)) < 0 ||
	    layer_extract(ar, bfd, what, rootfd, p->st->rootless, got, NULL, err) < 0)
		return -1;
	if (strcmp(got, diff_hex))
		return dv_err_plain(err, EBADMSG,
				    "digest mismatch: layer %zu of '%s' unpacks to sha256:%.12s..., "
				    "but its config says sha256:%.12s...",
				    i + 1, p->name, got, diff_hex);
	if (unlinkat(sfd, "blob", 0) < 0)
		return dv_err(err, errno, "cannot remove 'tmp/%s/blob'", staging);
	return 0;
}

int layer_image_pull(const struct layer_store *st, const char *ref, struct layer_image *out,
		     struct dv_error *err)
{
	dv_autofree char *norm = NULL, *mtext = NULL, *config = NULL, *step = NULL;
	layer_autojson struct json_object *manifest = NULL, *cfg = NULL;
	struct json_object *cdesc, *layers, *rootfs, *diff_ids;
	struct pull p = {.st = st, .progress = isatty(2)};
	struct layer_image img = {0};
	const struct layer_ar *ar = NULL;
	char mhex[65];
	const char *chex, *cmt;
	dv_autoclose int blobs = -1;
	size_t i, n, clen;
	int ret = -1;

	if (layer_ref_normalize(ref, false, &norm, err) < 0)
		return -1;
	p.name = norm;
	if (!(p.reg = layer_reg_open(norm, err)) || !(ar = layer_ar_load(err)))
		goto out;
	if (fetch_manifest(&p, &mtext, mhex, &manifest, err) < 0)
		goto out;
	if (!json_object_object_get_ex(manifest, "config", &cdesc) || !(chex = desc_hex(cdesc)) ||
	    !json_object_object_get_ex(manifest, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array)) {
		dv_err_plain(err, EINVAL, "the manifest of '%s' lacks a valid config or layers",
			     norm);
		goto out;
	}
	cmt = jstr(cdesc, "mediaType");
	if (cmt && strcmp(cmt, "application/vnd.oci.image.config.v1+json") &&
	    strcmp(cmt, "application/vnd.docker.container.image.v1+json")) {
		dv_err_plain(err, EPROTO, "unsupported config media type '%s' in '%s'", cmt, norm);
		goto out;
	}
	if (layer_reg_blob(p.reg, chex, PULL_CONFIG_MAX, -1, &config, &clen, err) < 0)
		goto out;
	if (!(cfg = json_tokener_parse(config)) || !json_object_object_get_ex(cfg, "rootfs", &rootfs) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &diff_ids) ||
	    !json_object_is_type(diff_ids, json_type_array) ||
	    json_object_array_length(diff_ids) != json_object_array_length(layers)) {
		dv_err_plain(err, EINVAL,
			     "the config of '%s' has no rootfs.diff_ids matching its layers", norm);
		goto out;
	}
	n = json_object_array_length(layers);
	if (n == 0) {
		dv_err_plain(err, EINVAL, "the manifest of '%s' has no layers", norm);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *d = json_object_get_string(json_object_array_get_idx(diff_ids, i));
		const char *id = d && dv_str_startswith(d, "sha256:") ? d + 7 : NULL;
		size_t k;
		bool dup = false;

		if (!id || !layer_is_id(id)) {
			dv_err_plain(err, EINVAL, "the config of '%s' names an invalid diff_id",
				     norm);
			goto out;
		}
		for (k = 0; k < i; k++)
			dup |= !strcmp(p.ids.v[k], id);
		dv_strv_push(&p.ids, id);
		if (dup || layer_exists(st, id)) {
			dv_strv_push(&p.staged, "");
			continue;
		}
		if (stage_layer(&p, ar, json_object_array_get_idx(layers, i), id, i, n, err) < 0)
			goto out;
	}
	/* Everything is here and checked: only now does the store change. */
	step = dv_xasprintf("pull %s", norm);
	for (i = 0; i < n; i++) {
		unsigned long long size;
		dv_autofree char *diff_id = NULL;

		if (!p.staged.v[i][0])
			continue;
		size = dv_du_at(st->tmp_fd, p.staged.v[i]);
		diff_id = dv_xasprintf("sha256:%s", p.ids.v[i]);
		if (layer_commit_full(st, p.staged.v[i], p.ids.v[i], NULL, step, diff_id, true, size,
				      err) < 0)
			goto out;
		p.staged.v[i][0] = 0; /* committed (or discarded as a duplicate) */
	}
	if ((blobs = layer_blobs_dir(st, err)) < 0 ||
	    dv_write_file_atomic(blobs, chex, config, clen, 0600, err) < 0 ||
	    dv_write_file_atomic(blobs, mhex, mtext, strlen(mtext), 0600, err) < 0) {
		dv_err_prefix(err, "cannot store the config of '%s'", norm);
		goto out;
	}
	img.name = dv_steal_ptr(&norm);
	img.id = dv_xasprintf("sha256:%s", chex);
	layer_image_set_layers(st, &img, &p.ids);
	img.config = dv_steal_ptr(&config);
	if (layer_image_record(st, &img, out, err) < 0)
		goto out;
	ret = 0;
out:
	pull_release(&p);
	return ret;
}
