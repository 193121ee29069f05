/*
 * layers/export.c - a layer's folder as an OCI layer tar: the reverse of
 * extract.c, for `image save` and `commit` (and, later, push).
 *
 * The tar is deterministic, so a layer exports to the same bytes, and the
 * same diff_id, every time and on every machine with the same libarchive:
 * entries in byte order of their names, depth first, paths relative
 * without "./", folders with a trailing "/", numeric owners, the files'
 * own modes and mtimes (to the nanosecond), a pax header only where ustar
 * cannot say it (a name past its fields or not ASCII, a long link target,
 * an mtime with nanoseconds, an attribute). Overlay's
 * forms become OCI's: a 0/0 character device NAME is the whiteout
 * ".wh.NAME", a folder marked opaque gets a ".wh..wh..opq" entry. Of the
 * extended attributes user.* and security.capability travel (file
 * capabilities, as Docker keeps them), in byte order of their names;
 * overlay's own never do, nor trusted.* or the other security.* ones.
 *
 * Names and link targets are bytes, written as they are: a name that is
 * UTF-8 goes into the pax header as it is (as Docker and podman write it),
 * one that is not gets the entry's hdrcharset=BINARY (libarchive's own
 * fallback; POSIX's way to say "these bytes are no text"). libarchive
 * checks names against the locale's charset, so the walk runs in C.UTF-8
 * (uselocale: this thread only; the process's locale stays "C"); without
 * C.UTF-8 the whole archive is hdrcharset=BINARY, one pax header more
 * per entry. A sparse file's holes are not read (SEEK_DATA/SEEK_HOLE) but
 * go out as zeros: no GNU sparse entries (see write_content); extract.c
 * makes holes of them again, and a tar written to a file (image save's)
 * has them as holes too (layer_sparse_write).
 *
 * The walk opens each entry relative to its folder with O_NOFOLLOW and
 * never leaves the layer's filesystem.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
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
	int out_fd;                  /* -1: hash only */
	struct layer_sparse_out out; /* out_fd's writer: zeros as holes in a file */
	struct dv_sha256 sha;
	unsigned long long bytes;
	dev_t dev;
	struct inode_seen *links; /* regular files with more than one link */
	size_t nlinks, caplinks;
	const char *xattr_ns; /* overlay's: "trusted." or, rootless, "user." */
	struct dv_error *err;
	int write_errno;
};

static la_ssize_t write_cb(struct archive *a, void *data, const void *buf, size_t n)
{
	struct exp *x = data;

	(void)a;
	dv_sha256_update(&x->sha, buf, n);
	x->bytes += n;
	if (x->out_fd >= 0 && layer_sparse_write(&x->out, buf, n) < 0) {
		x->write_errno = errno ? errno : EIO;
		return -1;
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

/* The header of x->e. ARCHIVE_WARN is libarchive's pax writer having
 * written a name that is not UTF-8 as bytes, with hdrcharset=BINARY: the
 * entry is whole (its other warnings are about ACLs, user and group names,
 * which we never set). */
static int put_header(struct exp *x, const char *path)
{
	int r = x->ar->archive_write_header(x->a, x->e);

	return r == ARCHIVE_OK || r == ARCHIVE_WARN ? 0 : ar_fail(x, "write", path);
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
	ar->archive_entry_copy_pathname(x->e, path);
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
	return put_header(x, path);
}

static bool xattr_travels(const char *name)
{
	if (dv_str_startswith(name, "user."))
		return !dv_str_startswith(name, "user.overlay.");
	return !strcmp(name, "security.capability");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* fd's extended attributes that travel (see the top), onto x->e in byte
 * order of their names, so the tar does not depend on the filesystem's. */
static int add_xattrs(struct exp *x, int fd, const char *path)
{
	dv_autofree char *list = NULL;
	dv_autofree const char **names = NULL;
	ssize_t len;
	size_t n = 0, cap = 0;

	for (;;) {
		len = flistxattr(fd, NULL, 0);
		if (len <= 0)
			return len < 0 && errno != ENOTSUP
				       ? dv_err(x->err, errno, "cannot list the attributes of '%s'",
						path)
				       : 0;
		free(list);
		list = dv_xmalloc((size_t)len);
		len = flistxattr(fd, list, (size_t)len);
		if (len >= 0)
			break;
		if (errno != ERANGE) /* ERANGE: one was added since */
			return dv_err(x->err, errno, "cannot list the attributes of '%s'", path);
	}
	for (char *p = list; p < list + len; p += strlen(p) + 1) {
		if (!xattr_travels(p))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			names = dv_xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = p;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		dv_autofree char *val = NULL;
		ssize_t vlen = fgetxattr(fd, names[i], NULL, 0);

		if (vlen < 0 && errno == ENODATA) /* removed since */
			continue;
		if (vlen >= 0) {
			val = dv_xmalloc((size_t)vlen + 1);
			vlen = fgetxattr(fd, names[i], val, (size_t)vlen);
		}
		if (vlen < 0)
			return dv_err(x->err, errno, "cannot read the attribute '%s' of '%s'",
				      names[i], path);
		x->ar->archive_entry_xattr_add_entry(x->e, names[i], val, (size_t)vlen);
	}
	return 0;
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

/* A hole of fd: none of its bytes is read, the tar gets zeros. A layer
 * tar never holds a sparse entry: OCI's layer spec says they SHOULD NOT
 * be used, and containers/storage (podman save, push) cannot write them
 * back. Holes stay holes where it counts, on disk: extract.c writes
 * blocks of zeros as holes. */
static int copy_data(struct exp *x, int fd, const char *path, off_t from, off_t end, bool zeros)
{
	static const char zero[65536];
	char buf[65536];

	while (from < end) {
		size_t want =
			(size_t)(end - from < (off_t)sizeof(buf) ? end - from : (off_t)sizeof(buf));
		ssize_t n = zeros ? (ssize_t)want : pread(fd, buf, want, from);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* shrank under us: the header promised more */
			return dv_err(x->err, n < 0 ? errno : EIO, "cannot read '%s' of the layer",
				      path);
		if (x->ar->archive_write_data(x->a, zeros ? zero : buf, (size_t)n) != n)
			return ar_fail(x, "write", path);
		from += n;
	}
	return 0;
}

/* fd's bytes, its holes (when it has fewer blocks than its size says:
 * SEEK_DATA/SEEK_HOLE) as zeros, never read. */
static int write_content(struct exp *x, int fd, const char *path, const struct stat *st)
{
	off_t pos = 0, data, hole;

	if ((off_t)st->st_blocks * 512 >= st->st_size)
		return copy_data(x, fd, path, 0, st->st_size, false);
	while (pos < st->st_size) {
		data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO) /* a hole to the end */
			break;
		if (data < 0) /* no SEEK_DATA here: read it all */
			return copy_data(x, fd, path, pos, st->st_size, false);
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > st->st_size)
			hole = st->st_size;
		if (copy_data(x, fd, path, pos, data, true) < 0 ||
		    copy_data(x, fd, path, data, hole, false) < 0)
			return -1;
		pos = hole;
	}
	return copy_data(x, fd, path, pos, st->st_size, true);
}

static int write_file(struct exp *x, int dirfd, const char *name, const char *path,
		      const struct stat *st)
{
	const struct layer_ar *ar = x->ar;
	dv_autoclose int fd = -1;

	if (st->st_nlink > 1) {
		for (size_t i = 0; i < x->nlinks; i++)
			if (x->links[i].dev == st->st_dev && x->links[i].ino == st->st_ino) {
				fill(x, path, st, AE_IFREG);
				ar->archive_entry_copy_hardlink(x->e, x->links[i].path);
				ar->archive_entry_set_size(x->e, 0);
				return put_header(x, path);
			}
		if (x->nlinks == x->caplinks) {
			x->caplinks = x->caplinks ? x->caplinks * 2 : 16;
			x->links = dv_xrealloc(x->links, x->caplinks * sizeof(*x->links));
		}
		x->links[x->nlinks++] =
			(struct inode_seen){ st->st_dev, st->st_ino, dv_xstrdup(path) };
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return dv_err(x->err, errno, "cannot read '%s' of the layer", path);
	if (needs_lower(x, fd))
		return dv_err(x->err, 0,
			      "'%s' holds only metadata, its data is in the layer below; "
			      "'devenv reload' and redo the change",
			      path);
	fill(x, path, st, AE_IFREG);
	ar->archive_entry_set_size(x->e, st->st_size);
	if (add_xattrs(x, fd, path) < 0 || put_header(x, path) < 0)
		return -1;
	return write_content(x, fd, path, st);
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
			ret = dv_err(x->err, EXDEV, "'%s' of the layer is on another filesystem",
				     path);
		} else if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) {
			dv_autofree char *wh = dv_xasprintf("%s.wh.%s", prefix, name);

			ret = write_marker(x, wh);
		} else if (S_ISDIR(st.st_mode)) {
			dv_autoclose int sub =
				openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dv_autofree char *dir = dv_xasprintf("%s/", path);

			if (sub < 0) {
				ret = dv_err(x->err, errno, "cannot open '%s' of the layer", path);
				continue;
			}
			fill(x, dir, &st, AE_IFDIR);
			if (add_xattrs(x, sub, dir) < 0 || put_header(x, dir) < 0) {
				ret = -1;
				continue;
			}
			if (needs_lower(x, sub)) {
				ret = dv_err(x->err, 0,
					     "'%s' was renamed by an overlay that kept it in the "
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
				ret = dv_err(x->err, errno,
					     "cannot read the link '%s' of the layer", path);
				continue;
			}
			target[len] = 0;
			fill(x, path, &st, AE_IFLNK);
			x->ar->archive_entry_copy_symlink(x->e, target);
			ret = put_header(x, path);
		} else if (S_ISREG(st.st_mode)) {
			ret = write_file(x, fd, name, path, &st);
		} else if (S_ISFIFO(st.st_mode)) {
			fill(x, path, &st, AE_IFIFO);
			ret = put_header(x, path);
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
	struct exp x = { .ar = ar,
			 .out_fd = out_fd,
			 .err = err,
			 .xattr_ns = st->rootless ? "user." : "trusted." };
	dv_autoclose int fd = -1;
	struct stat sb;
	locale_t utf8 = (locale_t)0, old = (locale_t)0;
	int ret = -1;

	if (!ar)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0)
		return dv_err(err, errno, "cannot open the layer folder '%s'", dir);
	x.dev = sb.st_dev;
	dv_sha256_init(&x.sha);
	if (out_fd >= 0)
		layer_sparse_open(&x.out, out_fd);
	/* Before the archive is made: libarchive takes its charset then. */
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (utf8)
		old = uselocale(utf8);
	x.a = ar->archive_write_new();
	x.e = ar->archive_entry_new();
	if (!x.a || !x.e) {
		dv_err(err, ENOMEM, "libarchive");
		goto out;
	}
	if (ar->archive_write_set_format_pax(x.a) != ARCHIVE_OK ||
	    (!utf8 && ar->archive_write_set_format_option(x.a, "pax", "hdrcharset", "BINARY") !=
			      ARCHIVE_OK) ||
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
	if (out_fd >= 0 && layer_sparse_close(&x.out) < 0) {
		dv_err(err, errno, "cannot write the layer tar");
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
	if (utf8) {
		uselocale(old);
		freelocale(utf8);
	}
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
