/* layers/extract.c - unpack an untrusted tar into a layer folder, safely.
 *
 * An image is untrusted input: a tar can name "../../etc/passwd", plant a
 * symlink and then write through it, hard-link a host file, or ask for a
 * chmod that a symlink would redirect (CVE-2021-32760). So we never use a
 * path string against the host: every entry is reached from the layer's
 * root fd by walking its components with O_NOFOLLOW, created with O_EXCL,
 * and its metadata set on the opened fd. archive_write_disk is not used.
 *
 * One pass: libarchive decompresses (raw format + filters) into a second,
 * tar-only reader through a callback that hashes every byte on the way, so
 * the layer's diff_id costs no second read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

struct deferred_dir {
	char *path; /* "" for the root */
	mode_t mode;
	struct timespec mtime;
};

struct ex {
	const struct layer_ar *ar;
	struct archive *outer, *inner;
	struct dv_sha256 sha;
	int rootfd;
	bool rootless;
	unsigned skipped;
	/* The parent folder of the previous entry, kept open: tars list a
	 * folder's entries together, so most entries need no walk at all. */
	char *cached_path;
	int cached_fd;
	struct deferred_dir *dirs;
	size_t ndirs, capdirs;
	/* The uncompressed stream so far, and the most it may be: a gzip or
	 * zstd bomb stops here, not when the disk is full. */
	unsigned long long bytes, max_bytes;
	bool too_big;
	struct dv_error *err;
};

/* DEVENV_MAX_LAYER_SIZE: bytes, or with k, m, g, t (powers of 1024);
 * 64 GiB when unset, unreadable or 0. One that does not fit in 64 bits is
 * an error (ERANGE): read modulo 2^64 it was a tiny limit nobody asked for. */
static int max_layer_bytes(unsigned long long *out, struct dv_error *err)
{
	const char *v = getenv("DEVENV_MAX_LAYER_SIZE");
	struct dv_error e = { 0 };
	unsigned long long n;

	*out = 64ULL << 30;
	if (!v || !*v)
		return 0;
	if (dv_size_parse(v, &n, &e) < 0) {
		if (e.errnum != ERANGE)
			return 0;
		*err = e;
		return dv_err_prefix(err, "DEVENV_MAX_LAYER_SIZE");
	}
	if (n)
		*out = n;
	return 0;
}

/* --- the hashing pipe between the two readers --- */

static la_ssize_t pipe_read(struct archive *a, void *data, const void **buf)
{
	struct ex *x = data;
	size_t size;
	la_int64_t off;
	int r;

	(void)a;
	r = x->ar->archive_read_data_block(x->outer, buf, &size, &off);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return -1;
	x->bytes += size;
	if (x->bytes > x->max_bytes) {
		x->too_big = true;
		return -1;
	}
	dv_sha256_update(&x->sha, *buf, size);
	return (la_ssize_t)size;
}

/* The most telling error of the two readers: the decompressor's if it
 * failed, else the tar reader's. */
static const char *ar_error(struct ex *x)
{
	const char *s = x->outer ? x->ar->archive_error_string(x->outer) : NULL;

	if (!s && x->inner)
		s = x->ar->archive_error_string(x->inner);
	return s ? s : "not a tar archive";
}

/* --- names --- */

/* Normalise a tar name: drop "./", "//" and "." components and a trailing
 * "/"; refuse absolute names and "..". "" is the layer's root. */
static int norm_name(const char *raw, char **out, const char *entry, struct dv_error *err)
{
	char *n = dv_xmalloc(strlen(raw) + 1);
	const char *p = raw;
	size_t len = 0;

	if (raw[0] == '/') {
		free(n);
		return dv_err(err, 0, "layer entry '%s' is an absolute path", entry);
	}
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t l = (size_t)(e - p);

		if (l == 2 && p[0] == '.' && p[1] == '.') {
			free(n);
			return dv_err(err, 0, "layer entry '%s' leaves the layer through '..'",
				      entry);
		}
		if (l > 0 && !(l == 1 && p[0] == '.')) {
			if (len)
				n[len++] = '/';
			memcpy(n + len, p, l);
			len += l;
		}
		p = *e ? e + 1 : e;
	}
	n[len] = 0;
	*out = n;
	return 0;
}

static void split_name(char *path, const char **parent, const char **base)
{
	char *slash = strrchr(path, '/');

	if (slash) {
		*slash = 0;
		*parent = path;
		*base = slash + 1;
	} else {
		*parent = "";
		*base = path;
	}
}

/* --- walking to a parent folder --- */

static void cache_drop(struct ex *x)
{
	dv_closep(&x->cached_fd);
	x->cached_fd = -1;
	free(x->cached_path);
	x->cached_path = NULL;
}

/* The entry `name` is about to be replaced or removed: if the cached
 * folder is it or lies below it, the cached fd would point at a stale tree. */
static void cache_invalidate(struct ex *x, const char *name)
{
	size_t n = strlen(name);

	if (x->cached_path && !strncmp(x->cached_path, name, n) &&
	    (x->cached_path[n] == 0 || x->cached_path[n] == '/'))
		cache_drop(x);
}

/* Fast path: one openat2() that refuses every symlink and never leaves the
 * root. Any failure falls back to the walk, which also creates what is
 * missing and names the offending component. */
static int open_beneath(int rootfd, const char *path)
{
	/* A kernel probe, kept (STYLE.md 7); pulls unpack layers in several
	 * threads, so it is read and written atomically, not as a plain
	 * static one thread sets while another reads it (a data race). */
	static int no_openat2;
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd;

	if (__atomic_load_n(&no_openat2, __ATOMIC_RELAXED))
		return -1;
	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		__atomic_store_n(&no_openat2, 1, __ATOMIC_RELAXED);
	return (int)fd;
}

/* Open folder `path` below the root, never following a symlink. With an
 * entry, missing folders are created (0755, as tar does) and a failure is
 * reported in its name (`what` words it); without, it is silent. */
static int walk(struct ex *x, const char *path, const char *entry, const char *what)
{
	char *buf, *p;
	int fd;

	if (!path[0])
		return fcntl(x->rootfd, F_DUPFD_CLOEXEC, 3);
	fd = open_beneath(x->rootfd, path);
	if (fd >= 0)
		return fd;
	fd = fcntl(x->rootfd, F_DUPFD_CLOEXEC, 3);
	buf = dv_xstrdup(path);
	for (p = buf; fd >= 0 && p;) {
		char *slash = strchr(p, '/');
		struct stat sb;
		int next;

		if (slash)
			*slash = 0;
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && entry && errno == ENOENT && mkdirat(fd, p, 0755) == 0)
			next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && entry) {
			int e = errno;

			if (fstatat(fd, p, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
				dv_err(x->err, 0, "layer entry '%s' %s the symlink '%s'", entry,
				       what, buf);
			else if (e == ENOTDIR || e == ELOOP)
				dv_err(x->err, 0, "layer entry '%s' needs '%s' to be a folder",
				       entry, buf);
			else
				dv_err(x->err, e, "layer entry '%s': cannot open '%s'", entry, buf);
		}
		close(fd);
		fd = next;
		if (slash)
			*slash = '/';
		p = slash ? slash + 1 : NULL;
	}
	free(buf);
	return fd;
}

/* The parent folder of an entry, through the cache. Borrowed fd. */
static int parent_fd(struct ex *x, const char *parent, const char *entry)
{
	int fd;

	if (x->cached_path && !strcmp(x->cached_path, parent))
		return x->cached_fd;
	fd = walk(x, parent, entry, "would be written through");
	if (fd < 0)
		return -1;
	cache_drop(x);
	x->cached_path = dv_xstrdup(parent);
	x->cached_fd = fd;
	return fd;
}

/* Make room for a new entry `base` in dirfd: remove what is there (a
 * folder with all it holds), so the O_EXCL create that follows succeeds. */
static int make_room(struct ex *x, int dirfd, const char *base, const char *name)
{
	struct stat sb;

	if (fstatat(dirfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : dv_err(x->err, errno, "layer entry '%s'", name);
	cache_invalidate(x, name);
	if (S_ISDIR(sb.st_mode))
		return layer_rm_tree(dirfd, base, x->err);
	if (unlinkat(dirfd, base, 0) < 0)
		return dv_err(x->err, errno, "layer entry '%s': cannot replace it", name);
	return 0;
}

/* --- metadata, always on an fd we opened ourselves --- */

/* Only xattrs that mean something in an image are kept. trusted.* and
 * *.overlay.* could steer overlayfs (redirects, opaque dirs, metacopy). */
static bool xattr_allowed(const char *name)
{
	if (dv_str_startswith(name, "user."))
		return !dv_str_startswith(name, "user.overlay.");
	return !strcmp(name, "security.capability");
}

/* Rootless, an owner outside our user namespace's map (EINVAL), or any
 * other owner without one (EPERM), stays ours: the file is then root's in
 * the env. */
static bool owner_unmappable(const struct ex *x)
{
	return x->rootless && (errno == EINVAL || errno == EPERM);
}

static int set_meta(struct ex *x, int fd, struct archive_entry *e, const char *name, bool dir)
{
	const struct layer_ar *ar = x->ar;
	struct timespec ts[2];
	const char *xname;
	const void *xval;
	size_t xlen;

	/* Owner first: chown clears the setuid bits that fchmod then sets. */
	if (fchown(fd, (uid_t)ar->archive_entry_uid(e), (gid_t)ar->archive_entry_gid(e)) < 0 &&
	    !owner_unmappable(x))
		return dv_err(x->err, errno, "layer entry '%s': cannot set its owner", name);
	ar->archive_entry_xattr_reset(e);
	while (ar->archive_entry_xattr_next(e, &xname, &xval, &xlen) == ARCHIVE_OK) {
		if (!xattr_allowed(xname))
			continue;
		if (fsetxattr(fd, xname, xval, xlen, 0) < 0 && errno != ENOTSUP && errno != EPERM)
			return dv_err(x->err, errno, "layer entry '%s': cannot set xattr '%s'",
				      name, xname);
	}
	if (dir)
		return 0; /* mode and times come last (see finish_dirs) */
	if (fchmod(fd, ar->archive_entry_perm(e) & 07777) < 0)
		return dv_err(x->err, errno, "layer entry '%s': cannot set its mode", name);
	ts[0].tv_sec = ts[1].tv_sec = ar->archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = ar->archive_entry_mtime_nsec(e);
	if (futimens(fd, ts) < 0)
		return dv_err(x->err, errno, "layer entry '%s': cannot set its times", name);
	return 0;
}

/* A folder's mode and mtime are set after all its entries are written:
 * writing into it would move its mtime, and a 0555 folder would refuse
 * them when rootless. */
static void defer_dir(struct ex *x, const char *name, struct archive_entry *e)
{
	struct deferred_dir *d;

	if (x->ndirs == x->capdirs) {
		x->capdirs = x->capdirs ? x->capdirs * 2 : 64;
		x->dirs = dv_xrealloc(x->dirs, x->capdirs * sizeof(*x->dirs));
	}
	d = &x->dirs[x->ndirs++];
	d->path = dv_xstrdup(name);
	d->mode = x->ar->archive_entry_perm(e) & 07777;
	d->mtime.tv_sec = x->ar->archive_entry_mtime(e);
	d->mtime.tv_nsec = x->ar->archive_entry_mtime_nsec(e);
}

static int finish_dirs(struct ex *x)
{
	size_t i;

	cache_drop(x);
	for (i = 0; i < x->ndirs; i++) {
		const struct deferred_dir *d = &x->dirs[i];
		struct timespec ts[2] = { d->mtime, d->mtime };
		/* A later entry may have replaced the folder: then open fails
		 * (ELOOP, ENOTDIR, ENOENT) and there is nothing to set. */
		dv_autoclose int fd = walk(x, d->path, NULL, NULL);

		if (fd < 0)
			continue;
		if (fchmod(fd, d->mode) < 0 || futimens(fd, ts) < 0)
			return dv_err(x->err, errno, "layer entry '%s': cannot set its mode",
				      d->path[0] ? d->path : ".");
	}
	return 0;
}

/* --- entry kinds --- */

static int do_dir(struct ex *x, struct archive_entry *e, const char *name, int pfd, const char *base)
{
	dv_autoclose int fd = -1;
	struct stat sb;

	if (!name[0]) {
		fd = fcntl(x->rootfd, F_DUPFD_CLOEXEC, 3);
	} else {
		if (mkdirat(pfd, base, 0700) < 0) {
			/* A folder listed twice, or made earlier for its entries,
			 * keeps its contents; anything else is replaced. */
			if (errno != EEXIST || fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				return dv_err(x->err, errno, "layer entry '%s': cannot create it",
					      name);
			if (!S_ISDIR(sb.st_mode) &&
			    (make_room(x, pfd, base, name) < 0 || mkdirat(pfd, base, 0700) < 0))
				return dv_err_isset(x->err)
					       ? -1
					       : dv_err(x->err, errno,
							"layer entry '%s': cannot create it", name);
		}
		fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return dv_err(x->err, errno, "layer entry '%s': cannot open it", name);
	if (set_meta(x, fd, e, name, true) < 0)
		return -1;
	defer_dir(x, name, e);
	return 0;
}

/* The entry's data into fd; *end: where its last byte ended. */
static int write_data(struct ex *x, int fd, const char *name, la_int64_t *end)
{
	const void *buf;
	size_t size;
	la_int64_t off, pos = 0;
	struct dv_error e = { 0 };
	int r;

	for (;;) {
		r = x->ar->archive_read_data_block(x->inner, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return dv_err(x->err, 0, "layer entry '%s': %s", name, ar_error(x));
		/* its zeros never written: what is not written reads as
		 * zeros, and a sparse file exported as zeros (export.c) is
		 * sparse again, as with `cp --sparse=always` */
		if (layer_write_holes(fd, (off_t)off, buf, size, &(off_t){ 0 }, &e) < 0) {
			/* the failed call's errno (ENOSPC: devenv.c says the
			 * store is full), not one guessed after the fact */
			*x->err = e;
			return e.errnum ? dv_err(x->err, e.errnum,
						 "layer entry '%s': cannot write it", name)
					: dv_err_prefix(x->err, "layer entry '%s': cannot write it",
							name);
		}
		pos = off + (la_int64_t)size;
	}
	*end = pos;
	return 0;
}

static int do_file(struct ex *x, struct archive_entry *e, const char *name, int pfd,
		   const char *base)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	dv_autoclose int fd = openat(pfd, base, flags, 0600);
	la_int64_t end = 0;

	if (fd < 0 && errno == EEXIST) {
		if (make_room(x, pfd, base, name) < 0)
			return -1;
		fd = openat(pfd, base, flags, 0600);
	}
	if (fd < 0)
		return dv_err(x->err, errno, "layer entry '%s': cannot create it", name);
	if (write_data(x, fd, name, &end) < 0)
		return -1;
	/* It may end in a hole: its size is then the file offset's, not yet
	 * its length (one syscall per file saved when it ends in data). */
	if (lseek(fd, 0, SEEK_CUR) != x->ar->archive_entry_size(e) &&
	    ftruncate(fd, x->ar->archive_entry_size(e)) < 0)
		return dv_err(x->err, errno, "layer entry '%s'", name);
	return set_meta(x, fd, e, name, false);
}

static int do_symlink(struct ex *x, struct archive_entry *e, const char *name, int pfd,
		      const char *base)
{
	const char *target = x->ar->archive_entry_symlink(e);
	struct timespec ts[2];

	if (!target)
		return dv_err(x->err, 0, "layer entry '%s' is a symlink without a target", name);
	/* The target is stored as written and never followed by us. */
	if (symlinkat(target, pfd, base) < 0) {
		if (errno != EEXIST || make_room(x, pfd, base, name) < 0 ||
		    symlinkat(target, pfd, base) < 0)
			return dv_err_isset(x->err)
				       ? -1
				       : dv_err(x->err, errno, "layer entry '%s': cannot create it",
						name);
	}
	if (fchownat(pfd, base, (uid_t)x->ar->archive_entry_uid(e),
		     (gid_t)x->ar->archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0 &&
	    !owner_unmappable(x))
		return dv_err(x->err, errno, "layer entry '%s': cannot set its owner", name);
	ts[0].tv_sec = ts[1].tv_sec = x->ar->archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = x->ar->archive_entry_mtime_nsec(e);
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(x->err, errno, "layer entry '%s': cannot set its times", name);
	return 0;
}

/* A hard link's target must be a regular file this layer already holds,
 * reached by the same walk: never a symlink, never outside. No metadata is
 * applied to it (the inode is the target's: CVE-2021-32760). */
static int do_hardlink(struct ex *x, const char *raw_target, const char *name, int pfd,
		       const char *base)
{
	dv_autofree char *target = NULL;
	dv_autoclose int tfd = -1;
	const char *tparent, *tbase;
	struct dv_error e = { 0 };
	struct stat tsb, sb;

	if (norm_name(raw_target, &target, raw_target, &e) < 0 || !target[0])
		return dv_err(x->err, 0,
			      "layer entry '%s' is a hard link to '%s', outside the layer", name,
			      raw_target);
	split_name(target, &tparent, &tbase);
	tfd = walk(x, tparent, name, "is a hard link through");
	if (tfd < 0)
		return -1;
	if (fstatat(tfd, tbase, &tsb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(tsb.st_mode))
		return dv_err(x->err, 0,
			      "layer entry '%s' is a hard link to '%s', which is not a regular "
			      "file in the layer",
			      name, raw_target);
	if (fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 && sb.st_ino == tsb.st_ino &&
	    sb.st_dev == tsb.st_dev)
		return 0; /* already that file */
	if (make_room(x, pfd, base, name) < 0)
		return -1;
	if (linkat(tfd, tbase, pfd, base, 0) < 0)
		return dv_err(x->err, errno, "layer entry '%s': cannot link it to '%s'", name,
			      raw_target);
	return 0;
}

static int do_fifo(struct ex *x, struct archive_entry *e, const char *name, int pfd,
		   const char *base)
{
	dv_autoclose int fd = -1;

	if (mknodat(pfd, base, S_IFIFO | 0600, 0) < 0) {
		if (errno != EEXIST || make_room(x, pfd, base, name) < 0 ||
		    mknodat(pfd, base, S_IFIFO | 0600, 0) < 0)
			return dv_err_isset(x->err)
				       ? -1
				       : dv_err(x->err, errno, "layer entry '%s': cannot create it",
						name);
	}
	/* Opening a fifo for reading without O_NONBLOCK would wait for a writer. */
	fd = openat(pfd, base, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dv_err(x->err, errno, "layer entry '%s': cannot open it", name);
	return set_meta(x, fd, e, name, false);
}

/* OCI whiteouts become overlay's: ".wh.NAME" a 0/0 character device NAME,
 * ".wh..wh..opq" the opaque xattr on the folder. */
static int do_whiteout(struct ex *x, const char *name, int pfd, const char *parent, const char *base)
{
	const char *victim = base + 4;
	dv_autofree char *vname = NULL;

	if (!strcmp(base, ".wh..wh..opq")) {
		const char *key = x->rootless ? "user.overlay.opaque" : "trusted.overlay.opaque";

		if (fsetxattr(pfd, key, "y", 1, 0) < 0)
			return dv_err(x->err, errno, "layer entry '%s': cannot set '%s'", name, key);
		return 0;
	}
	if (!victim[0] || !strcmp(victim, ".") || !strcmp(victim, "..") ||
	    dv_str_startswith(victim, ".wh."))
		return dv_err(x->err, 0, "invalid whiteout '%s'", name);
	vname = parent[0] ? dv_xasprintf("%s/%s", parent, victim) : dv_xstrdup(victim);
	/* mknodat never follows: a symlink named NAME is replaced, not its target. */
	if (mknodat(pfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0) {
		if (errno != EEXIST || make_room(x, pfd, victim, vname) < 0 ||
		    mknodat(pfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
			return dv_err_isset(x->err)
				       ? -1
				       : dv_err(x->err, errno,
						"layer entry '%s': cannot create whiteout", name);
	}
	return 0;
}

static int do_entry(struct ex *x, struct archive_entry *e)
{
	const struct layer_ar *ar = x->ar;
	const char *raw = ar->archive_entry_pathname(e);
	dv_autofree char *name = NULL, *split = NULL;
	const char *parent, *base, *link;
	unsigned type = ar->archive_entry_filetype(e);
	int pfd;

	if (!raw)
		raw = ar->archive_entry_pathname_utf8(e);
	if (!raw)
		return dv_err(x->err, 0, "layer entry without a name");
	if (norm_name(raw, &name, raw, x->err) < 0)
		return -1;
	if (type == AE_IFCHR || type == AE_IFBLK) {
		x->skipped++;
		return 0;
	}
	if (!name[0]) {
		if (type != AE_IFDIR)
			return dv_err(x->err, 0, "layer entry '%s' replaces the root folder", raw);
		return do_dir(x, e, name, -1, "");
	}
	split = dv_xstrdup(name);
	split_name(split, &parent, &base);
	if (dv_str_startswith(base, ".wh.")) {
		/* Check the name before walking: an invalid one must not
		 * create its parent folders. */
		if (strcmp(base, ".wh..wh..opq") &&
		    (!base[4] || !strcmp(base + 4, ".") || !strcmp(base + 4, "..") ||
		     dv_str_startswith(base + 4, ".wh.")))
			return dv_err(x->err, 0, "invalid whiteout '%s'", name);
	}
	pfd = parent_fd(x, parent, name);
	if (pfd < 0)
		return -1;
	if (dv_str_startswith(base, ".wh."))
		return do_whiteout(x, name, pfd, parent, base);
	link = ar->archive_entry_hardlink(e);
	if (link)
		return do_hardlink(x, link, name, pfd, base);
	switch (type) {
	case AE_IFDIR:
		return do_dir(x, e, name, pfd, base);
	case AE_IFREG:
		return do_file(x, e, name, pfd, base);
	case AE_IFLNK:
		return do_symlink(x, e, name, pfd, base);
	case AE_IFIFO:
		return do_fifo(x, e, name, pfd, base);
	default:
		return dv_err(x->err, 0, "layer entry '%s' has an unsupported type (0%o)", name,
			      type);
	}
}

static int setup(struct ex *x, int fd, const char *what)
{
	const struct layer_ar *ar = x->ar;
	struct archive_entry *e;
	int r;

	x->outer = ar->archive_read_new();
	x->inner = ar->archive_read_new();
	if (!x->outer || !x->inner)
		DV_BUG("out of memory");
	/* Named filters, not _all: no external program is ever spawned for an
	 * odd compression. WARN means "through an external program": refuse. */
	if (ar->archive_read_support_filter_gzip(x->outer) != ARCHIVE_OK ||
	    ar->archive_read_support_filter_zstd(x->outer) != ARCHIVE_OK ||
	    ar->archive_read_support_filter_xz(x->outer) != ARCHIVE_OK ||
	    ar->archive_read_support_filter_bzip2(x->outer) != ARCHIVE_OK ||
	    ar->archive_read_support_filter_lzma(x->outer) != ARCHIVE_OK)
		return dv_err(x->err, 0, "libarchive lacks a decompressor: %s",
			      ar->archive_error_string(x->outer));
	ar->archive_read_support_filter_lz4(x->outer); /* optional */
	ar->archive_read_support_format_raw(x->outer);
	if (ar->archive_read_open_fd(x->outer, fd, 1 << 17) != ARCHIVE_OK ||
	    ar->archive_read_next_header(x->outer, &e) != ARCHIVE_OK)
		return dv_err(x->err, 0, "cannot read '%s': %s", what, ar_error(x));
	ar->archive_read_support_format_tar(x->inner);
	r = ar->archive_read_open(x->inner, x, NULL, pipe_read, NULL);
	if (r != ARCHIVE_OK)
		return dv_err(x->err, 0, "cannot read '%s': %s", what, ar_error(x));
	return 0;
}

int layer_extract(const struct layer_ar *ar, int fd, const char *what, int rootfd, bool rootless,
		  char hex[65], unsigned *skipped_devices, struct dv_error *err)
{
	struct ex x = { .ar = ar, .rootfd = rootfd, .rootless = rootless, .cached_fd = -1, .err = err };
	struct archive_entry *e;
	const void *buf;
	la_ssize_t n;
	int ret = -1, r;
	size_t i;

	if (max_layer_bytes(&x.max_bytes, err) < 0)
		return -1;
	dv_sha256_init(&x.sha);
	if (setup(&x, fd, what) < 0)
		goto out;
	for (;;) {
		r = ar->archive_read_next_header(x.inner, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			dv_err(err, 0, "cannot read '%s': %s", what, ar_error(&x));
			goto out;
		}
		if (do_entry(&x, e) < 0) {
			dv_err_prefix(err, "%s", what); /* which tar or layer, for the user */
			goto out;
		}
	}
	/* The tar reader stops at the end-of-archive blocks; the diff_id
	 * covers the whole stream, padding included. */
	while ((n = pipe_read(x.inner, &x, &buf)) > 0)
		;
	if (n < 0) {
		dv_err(err, 0, "cannot read '%s': %s", what, ar_error(&x));
		goto out;
	}
	if (finish_dirs(&x) < 0)
		goto out;
	dv_sha256_final_hex(&x.sha, hex);
	if (skipped_devices)
		*skipped_devices = x.skipped;
	ret = 0;
out:
	if (ret < 0 && x.too_big) {
		char lim[32];

		dv_str_size(lim, sizeof(lim), x.max_bytes);
		dv_err_plain(err, EFBIG,
			     "'%s' unpacks to more than %s: refused (DEVENV_MAX_LAYER_SIZE "
			     "sets the limit)",
			     what, lim);
	}
	cache_drop(&x);
	for (i = 0; i < x.ndirs; i++)
		free(x.dirs[i].path);
	free(x.dirs);
	if (x.inner)
		ar->archive_read_free(x.inner);
	if (x.outer)
		ar->archive_read_free(x.outer);
	return ret;
}
