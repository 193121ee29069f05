/*
 * layers/export.c - a layer's folder as an OCI layer tar: the reverse of
 * extract.c, for `image save` and `commit` (and, later, push).
 *
 * The tar is deterministic, so a layer exports to the same bytes, and the
 * same diff_id, every time and on every machine with the same libarchive:
 * entries in byte order of their names, depth first, paths relative
 * without "./", folders with a trailing "/", numeric owners, the files'
 * own modes and mtimes, pax only where ustar cannot say it. Overlay's
 * forms become OCI's: a 0/0 character device NAME is the whiteout
 * ".wh.NAME", a folder marked opaque gets a ".wh..wh..opq" entry. Of the
 * extended attributes only security.capability travels (file
 * capabilities, as Docker keeps them); overlay's own never do.
 *
 * The walk opens each entry relative to its folder with O_NOFOLLOW and
 * never leaves the layer's filesystem.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/str.h"
#include "util/banned.h"

#define MAX_DEPTH 200 /* two fds per level */

struct inode_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct exp {
	const struct layer_ar *ar;
	struct archive *a;
	struct archive_entry *e;
	int out_fd;                 /* -1: hash only */
	struct dv_sha256 sha;
	unsigned long long bytes;
	dev_t dev;
	struct inode_seen *links;   /* regular files with more than one link */
	size_t nlinks, caplinks;
	const char *xattr_ns;       /* overlay's: "trusted." or, rootless, "user." */
	struct dv_error *err;
	int write_errno;
};

static la_ssize_t write_cb(struct archive *a, void *data, const void *buf, size_t n)
{
	struct exp *x = data;

	(void)a;
	dv_sha256_update(&x->sha, buf, n);
	x->bytes += n;
	if (x->out_fd >= 0) {
		struct dv_error e = { 0 };

		if (dv_write_full(x->out_fd, buf, n, &e) < 0) {
			x->write_errno = e.errnum ? e.errnum : EIO;
			return -1;
		}
	}
	return (la_ssize_t)n;
}

static int ar_fail(struct exp *x, const char *what, const char *path)
{
	if (x->write_errno)
		return dv_err(x->err, x->write_errno, "cannot write the layer tar");
	return dv_err(x->err, 0, "cannot %s '%s' in the layer tar: %s", what, path,
		      x->ar->archive_error_string(x->a));
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in folder fd, sorted (caller frees each and the array). */
static char **sorted_names(int fd, size_t *n, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(fd);
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d) {
		dv_err(err, errno, "cannot read a folder of the layer");
		return NULL;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = dv_xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = dv_xstrdup(de->d_name);
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_names);
	return v ? v : dv_xcalloc(1, sizeof(*v));
}

/* Header fields every entry shares. */
static void fill(struct exp *x, const char *path, const struct stat *st, unsigned type)
{
	const struct layer_ar *ar = x->ar;

	ar->archive_entry_clear(x->e);
	ar->archive_entry_set_pathname(x->e, path);
	ar->archive_entry_set_filetype(x->e, type);
	ar->archive_entry_set_perm(x->e, st->st_mode & 07777);
	ar->archive_entry_set_uid(x->e, st->st_uid);
	ar->archive_entry_set_gid(x->e, st->st_gid);
	ar->archive_entry_set_mtime(x->e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

/* A zero-byte regular file, owned by root, mode 0, time 0: a whiteout
 * entry. Its time is nobody's: an import makes the whiteout anew, so any
 * other would change what the layer exports to. */
static int write_marker(struct exp *x, const char *path)
{
	struct stat st = { .st_mode = 0 };

	fill(x, path, &st, AE_IFREG);
	x->ar->archive_entry_set_size(x->e, 0);
	if (x->ar->archive_write_header(x->a, x->e) != ARCHIVE_OK)
		return ar_fail(x, "write", path);
	return 0;
}

static void add_capability(struct exp *x, int dirfd, const char *name, const struct stat *st)
{
	char buf[256];
	ssize_t n;
	dv_autoclose int fd = -1;

	if (!S_ISREG(st->st_mode))
		return;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	n = fgetxattr(fd, "security.capability", buf, sizeof(buf));
	if (n > 0)
		x->ar->archive_entry_xattr_add_entry(x->e, "security.capability", buf, (size_t)n);
}

static bool is_opaque(struct exp *x, int fd)
{
	char key[40], v[4];
	ssize_t n;

	snprintf(key, sizeof(key), "%soverlay.opaque", x->xattr_ns);
	n = fgetxattr(fd, key, v, sizeof(v));

	return n == 1 && v[0] == 'y';
}

/* Overlay's redirect (a renamed folder) or metacopy (data left below)
 * means this folder is no layer on its own: an upper made before devenv
 * turned them off. */
static bool needs_lower(struct exp *x, int fd)
{
	char key[40];

	snprintf(key, sizeof(key), "%soverlay.redirect", x->xattr_ns);
	if (fgetxattr(fd, key, NULL, 0) >= 0)
		return true;
	snprintf(key, sizeof(key), "%soverlay.metacopy", x->xattr_ns);
	return fgetxattr(fd, key, NULL, 0) >= 0;
}

static int write_file(struct exp *x, int dirfd, const char *name, const char *path,
		      const struct stat *st)
{
	const struct layer_ar *ar = x->ar;
	dv_autoclose int fd = -1;
	char buf[65536];
	off_t left = st->st_size;

	if (st->st_nlink > 1) {
		for (size_t i = 0; i < x->nlinks; i++)
			if (x->links[i].dev == st->st_dev && x->links[i].ino == st->st_ino) {
				fill(x, path, st, AE_IFREG);
				ar->archive_entry_set_hardlink(x->e, x->links[i].path);
				ar->archive_entry_set_size(x->e, 0);
				if (ar->archive_write_header(x->a, x->e) != ARCHIVE_OK)
					return ar_fail(x, "write", path);
				return 0;
			}
		if (x->nlinks == x->caplinks) {
			x->caplinks = x->caplinks ? x->caplinks * 2 : 16;
			x->links = dv_xrealloc(x->links, x->caplinks * sizeof(*x->links));
		}
		x->links[x->nlinks++] = (struct inode_seen){ st->st_dev, st->st_ino, dv_xstrdup(path) };
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return dv_err(x->err, errno, "cannot read '%s' of the layer", path);
	if (needs_lower(x, fd))
		return dv_err(x->err, 0, "'%s' holds only metadata, its data is in the layer below; "
					 "'devenv reload' and redo the change",
			      path);
	fill(x, path, st, AE_IFREG);
	ar->archive_entry_set_size(x->e, st->st_size);
	add_capability(x, dirfd, name, st);
	if (ar->archive_write_header(x->a, x->e) != ARCHIVE_OK)
		return ar_fail(x, "write", path);
	while (left > 0) {
		ssize_t n = read(fd, buf, (size_t)(left < (off_t)sizeof(buf) ? left : (off_t)sizeof(buf)));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* shrank under us: the header promised more */
			return dv_err(x->err, n < 0 ? errno : EIO, "cannot read '%s' of the layer", path);
		if (ar->archive_write_data(x->a, buf, (size_t)n) != n)
			return ar_fail(x, "write", path);
		left -= n;
	}
	return 0;
}

static int walk(struct exp *x, int fd, const char *prefix, int depth)
{
	size_t n, i;
	char **names;
	int ret = 0;

	if (depth > MAX_DEPTH)
		return dv_err(x->err, ELOOP, "layer folder '%s' nests too deep", prefix);
	names = sorted_names(fd, &n, x->err);
	if (!names)
		return -1;
	for (i = 0; i < n && ret == 0; i++) {
		const char *name = names[i];
		dv_autofree char *path = dv_xasprintf("%s%s", prefix, name);
		struct stat st;

		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = dv_err(x->err, errno, "cannot read '%s' of the layer", path);
		} else if (st.st_dev != x->dev) {
			ret = dv_err(x->err, EXDEV, "'%s' of the layer is on another filesystem", path);
		} else if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) {
			dv_autofree char *wh = dv_xasprintf("%s.wh.%s", prefix, name);

			ret = write_marker(x, wh);
		} else if (S_ISDIR(st.st_mode)) {
			dv_autoclose int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dv_autofree char *dir = dv_xasprintf("%s/", path);

			if (sub < 0) {
				ret = dv_err(x->err, errno, "cannot open '%s' of the layer", path);
				continue;
			}
			fill(x, dir, &st, AE_IFDIR);
			if (x->ar->archive_write_header(x->a, x->e) != ARCHIVE_OK) {
				ret = ar_fail(x, "write", dir);
				continue;
			}
			if (needs_lower(x, sub)) {
				ret = dv_err(x->err, 0, "'%s' was renamed by an overlay that kept it in the "
						      "layer below; 'devenv reload' and redo the change",
					     dir);
				continue;
			}
			if (is_opaque(x, sub)) {
				dv_autofree char *opq = dv_xasprintf("%s.wh..wh..opq", dir);

				ret = write_marker(x, opq);
			}
			if (ret == 0)
				ret = walk(x, sub, dir, depth + 1);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t len = readlinkat(fd, name, target, sizeof(target) - 1);

			if (len < 0) {
				ret = dv_err(x->err, errno, "cannot read the link '%s' of the layer", path);
				continue;
			}
			target[len] = 0;
			fill(x, path, &st, AE_IFLNK);
			x->ar->archive_entry_set_symlink(x->e, target);
			if (x->ar->archive_write_header(x->a, x->e) != ARCHIVE_OK)
				ret = ar_fail(x, "write", path);
		} else if (S_ISREG(st.st_mode)) {
			ret = write_file(x, fd, name, path, &st);
		} else if (S_ISFIFO(st.st_mode)) {
			fill(x, path, &st, AE_IFIFO);
			if (x->ar->archive_write_header(x->a, x->e) != ARCHIVE_OK)
				ret = ar_fail(x, "write", path);
		}
		/* Sockets and device nodes (none is ever extracted) are left out. */
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int layer_export_dir(const struct layer_store *st, const char *dir, int out_fd,
		     char diff_id[DV_SHA256_HEX], unsigned long long *size, struct dv_error *err)
{
	const struct layer_ar *ar = layer_ar_load(err);
	struct exp x = { .ar = ar, .out_fd = out_fd, .err = err,
			 .xattr_ns = st->rootless ? "user." : "trusted." };
	dv_autoclose int fd = -1;
	struct stat sb;
	int ret = -1;

	if (!ar)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0)
		return dv_err(err, errno, "cannot open the layer folder '%s'", dir);
	x.dev = sb.st_dev;
	dv_sha256_init(&x.sha);
	x.a = ar->archive_write_new();
	x.e = ar->archive_entry_new();
	if (!x.a || !x.e) {
		dv_err(err, ENOMEM, "libarchive");
		goto out;
	}
	if (ar->archive_write_set_format_pax_restricted(x.a) != ARCHIVE_OK ||
	    ar->archive_write_set_bytes_in_last_block(x.a, 1) != ARCHIVE_OK ||
	    ar->archive_write_open(x.a, &x, NULL, write_cb, NULL) != ARCHIVE_OK) {
		ar_fail(&x, "start", dir);
		goto out;
	}
	if (walk(&x, fd, "", 0) < 0)
		goto out;
	if (ar->archive_write_close(x.a) != ARCHIVE_OK) {
		ar_fail(&x, "finish", dir);
		goto out;
	}
	dv_sha256_final_hex(&x.sha, diff_id);
	if (size)
		*size = x.bytes;
	ret = 0;
out:
	if (x.e)
		ar->archive_entry_free(x.e);
	if (x.a)
		ar->archive_write_free(x.a);
	for (size_t i = 0; i < x.nlinks; i++)
		free(x.links[i].path);
	free(x.links);
	return ret;
}

int layer_export(const struct layer_store *st, const char *id, int out_fd,
		 char diff_id[DV_SHA256_HEX], unsigned long long *size, struct dv_error *err)
{
	dv_autofree char *dir = layer_diff_path(st, id);

	if (!layer_is_id(id) || !layer_exists(st, id))
		return dv_err(err, ENOENT, "no layer '%s' in the store", id ? id : "");
	if (layer_export_dir(st, dir, out_fd, diff_id, size, err) < 0)
		return dv_err_prefix(err, "cannot export layer %.12s", id);
	return 0;
}
