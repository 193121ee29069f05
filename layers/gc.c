/* layers/gc.c - remove what nothing refers to.
 *
 * Kept: every layer of every image, every id in `in_use`, and the parents
 * of all those. Removed: other layers, cache entries whose layer is gone,
 * and tmp/ leftovers. A tmp/ entry named by layer_staging_create() carries
 * its maker's pid and start time: it is removed once that process is gone
 * (a pid reused since does not match the start time); any other tmp/ entry
 * is removed when older than a minute. The caller holds the store lock, so
 * no layer is being committed meanwhile.
 *
 * A layer is first renamed into tmp/ and only then deleted, so layers/
 * never shows a half-removed layer, whatever instant gc is killed at.
 */
#include <dirent.h>
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
#include "util/fault.h"
#include "util/fs.h"
#include "util/banned.h"

static bool strv_has(const struct dv_strv *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s))
			return true;
	return false;
}

/* Keep id and its parents (a provisioned chain names only its top). */
static void keep_chain(const struct layer_store *st, struct dv_strv *keep, const char *id)
{
	char cur[65];
	int depth;

	if (!layer_is_id(id))
		return;
	memcpy(cur, id, 65);
	for (depth = 0; depth < 4096 && !strv_has(keep, cur); depth++) {
		layer_autojson struct json_object *o = NULL;
		struct json_object *p;
		const char *parent;

		dv_strv_push(keep, cur);
		o = layer_meta_read(st, cur);
		if (!o || !json_object_object_get_ex(o, "parent", &p) ||
		    !layer_is_id(parent = json_object_get_string(p)))
			break;
		memcpy(cur, parent, 65);
	}
}

static DIR *dir_of(int fd)
{
	return dv_opendir_fd(fd);
}

static int gc_tmp(const struct layer_store *st, unsigned long long *bytes, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dir_of(st->tmp_fd);
	struct dirent *de;
	time_t now = time(NULL);

	if (!d)
		return dv_err(err, errno, "cannot read 'tmp'");
	while ((de = readdir(d))) {
		struct stat sb;
		bool ours;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(st->tmp_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		ours = de->d_name[0] >= '1' && de->d_name[0] <= '9' && strchr(de->d_name, '-');
		/* "-gc" entries are layers a gc moved here to delete; gc runs
		 * under the store lock, so they are this gc's or a dead one's. */
		if (!(ours && dv_str_endswith(de->d_name, "-gc")) &&
		    (ours ? layer_tmp_owner_alive(de->d_name) : now - sb.st_mtime < 60))
			continue;
		if (S_ISDIR(sb.st_mode))
			*bytes += dv_du_at(st->tmp_fd, de->d_name);
		*bytes += (unsigned long long)sb.st_blocks * 512;
		if (layer_rm_tree(st->tmp_fd, de->d_name, err) < 0)
			return dv_err_prefix(err, "cannot clean 'tmp'");
	}
	return 0;
}

int layer_gc(const struct layer_store *st, const struct dv_strv *in_use, unsigned *n_layers,
	     unsigned long long *bytes, struct dv_error *err)
{
	struct dv_strv keep = { 0 }, doomed = { 0 };
	struct layer_image *imgs = NULL;
	size_t nimg = 0, i, j;
	unsigned long long freed = 0;
	unsigned removed = 0;
	int ret = -1;

	if (layer_image_list(st, &imgs, &nimg, err) < 0)
		return -1;
	for (i = 0; i < nimg; i++)
		for (j = 0; j < imgs[i].layers.n; j++)
			keep_chain(st, &keep, imgs[i].layers.v[j]);
	for (i = 0; in_use && i < in_use->n; i++)
		keep_chain(st, &keep, in_use->v[i]);
	{
		dv_autoclosedir DIR *d = dir_of(st->layers_fd);
		struct dirent *de;

		if (!d) {
			dv_err(err, errno, "cannot read 'layers'");
			goto out;
		}
		while ((de = readdir(d)))
			if (layer_is_id(de->d_name) && !strv_has(&keep, de->d_name))
				dv_strv_push(&doomed, de->d_name);
	}
	for (i = 0; i < doomed.n; i++) {
		dv_autofree char *name = NULL;

		/* A name gc_tmp() removes at once, and that a later gc also
		 * removes if this one is killed. */
		if (layer_staging_create(st, false, "gc", &name, err) < 0)
			goto out;
		if (layer_rm_tree(st->tmp_fd, name, err) < 0 ||
		    dv_renameat(st->layers_fd, doomed.v[i], st->tmp_fd, name, err) < 0)
			goto out;
		dv_fault_point("gc.renamed");
		removed++;
	}
	fsync(st->layers_fd);
	{
		dv_autoclosedir DIR *d = dir_of(st->cache_fd);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' || !layer_is_id(de->d_name))
				continue;
			layer_cache_prune(st, de->d_name, &(struct dv_error){ 0 });
		}
	}
	if (gc_tmp(st, &freed, err) < 0)
		goto out;
	ret = 0;
out:
	if (n_layers)
		*n_layers = removed;
	if (bytes)
		*bytes = freed;
	for (i = 0; i < nimg; i++)
		layer_image_release(&imgs[i]);
	free(imgs);
	dv_strv_release(&keep);
	dv_strv_release(&doomed);
	return ret;
}

int layer_ids(const struct layer_store *st, struct dv_strv *out, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dir_of(st->layers_fd);
	struct dirent *de;

	if (!d)
		return dv_err(err, errno, "cannot read 'layers'");
	while ((de = readdir(d)))
		if (layer_is_id(de->d_name))
			dv_strv_push(out, de->d_name);
	return 0;
}
