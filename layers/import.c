/* layers/import.c - a root filesystem tarball becomes a layer and an image. */
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

/* The OCI config of an imported rootfs. Written by hand, keys sorted and no
 * white space, and with no timestamp, so its digest (the image id) depends
 * on the tar's content alone. */
static char *import_config(const char *layer_id)
{
	return dv_xasprintf("{\"architecture\":\"" LAYER_ARCH "\","
			    "\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/"
			    "usr/bin:/sbin:/bin\"]},"
			    "\"os\":\"linux\","
			    "\"rootfs\":{\"diff_ids\":[\"sha256:%s\"],\"type\":\"layers\"}}",
			    layer_id);
}

int layer_import_stream(const struct layer_store *st, int fd, const char *what, const char *step,
			char id[65], unsigned long long *size, unsigned *skipped_devices,
			struct dv_error *err)
{
	const struct layer_ar *ar = layer_ar_load(err);
	dv_autofree char *staging = NULL;
	dv_autoclose int sfd = -1, rootfd = -1;
	char diff_id[72];
	unsigned skipped = 0;

	if (!ar || layer_staging_create(st, false, "import", &staging, err) < 0)
		return -1;
	if ((sfd = dv_open_dir_at(st->tmp_fd, staging, err)) < 0 ||
	    (rootfd = dv_open_dir_at(sfd, "diff", err)) < 0 ||
	    layer_extract(ar, fd, what, rootfd, st->rootless, id, &skipped, err) < 0)
		goto fail;
	*size = dv_du_at(sfd, "diff");
	snprintf(diff_id, sizeof(diff_id), "sha256:%s", id);
	dv_closep(&rootfd);
	rootfd = -1;
	/* Same content imported before (or concurrently): its layer is kept
	 * and this staging dropped. */
	if (layer_commit_full(st, staging, id, NULL, step, diff_id, true, *size, err) < 0)
		goto fail;
	if (skipped_devices)
		*skipped_devices = skipped;
	return 0;
fail:
	/* Nothing of a failed import stays: the store is as it was. */
	layer_rm_tree(st->tmp_fd, staging, &(struct dv_error){ 0 });
	return -1;
}

int layer_image_import(const struct layer_store *st, const char *tar_path, const char *name,
		       struct layer_image *out, unsigned *skipped_devices, struct dv_error *err)
{
	dv_autofree char *norm = NULL, *config = NULL, *step = NULL;
	dv_autoclose int fd = -1, bfd = -1;
	struct layer_image img = { 0 };
	char id[65], cfg_hex[65];
	unsigned long long size;
	const char *base;

	if (layer_ref_normalize(name, true, &norm, err) < 0)
		return -1;
	if (layer_ref_digest(norm, NULL))
		return dv_err_usage(err,
				    "cannot name an import '%s': name it by a tag, not a digest",
				    name);
	fd = open(tar_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", tar_path);
	base = strrchr(tar_path, '/');
	step = dv_xasprintf("import %s", base ? base + 1 : tar_path);
	if (layer_import_stream(st, fd, tar_path, step, id, &size, skipped_devices, err) < 0)
		return -1;

	config = import_config(id);
	dv_sha256_hex(config, strlen(config), cfg_hex);
	if ((bfd = layer_blobs_dir(st, err)) < 0 ||
	    dv_write_file_atomic(bfd, cfg_hex, config, strlen(config), 0600, err) < 0)
		return dv_err_prefix(err, "cannot store the config of '%s'", norm);
	img.name = dv_steal_ptr(&norm);
	img.id = dv_xasprintf("sha256:%s", cfg_hex);
	dv_strv_push(&img.layers, id);
	img.config = dv_steal_ptr(&config);
	img.size = size;
	return layer_image_record(st, &img, out, err);
}
