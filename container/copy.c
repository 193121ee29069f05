/*
 * container/copy.c - ctr_copy_in: copy a host file or folder into the root
 * an overlay forms, so that it lands in the overlay's upper folder.
 *
 * The caller opened the source race-free (provision/hostpath.c) and hands
 * over that fd: nothing here looks a host path up by its name again. A
 * forked child gets a private mount namespace, mounts the overlay (as a
 * build container does) and copies from the fd. Below it every entry is
 * reached with *at() calls that follow no symlink (a symlink is copied as
 * one), and a file is opened for reading only once its fd is known to be a
 * regular file, so a fifo or a device node planted in the checkout can
 * neither block the copy nor pour a device's content into a layer. Inside,
 * the destination is resolved in the root (RESOLVE_IN_ROOT), so a layer's
 * symlink cannot send the copy to the host.
 *
 * As it copies, it can digest what it wrote (util/treesum.h, entries in
 * name order, contents by the bytes it read), so that the caller can tell
 * whether the files changed between their hashing and their copy.
 *
 * Docker's COPY rules: a folder's content goes into dest (created); a file
 * becomes dest, or dest/<its name> when dest ends with '/'. Everything is
 * owned by root and keeps its mode (less group and other write, which are
 * the cloner's umask's: util/treesum.h) and modification time; symlinks
 * inside a folder are copied as symlinks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/treesum.h"
#include "util/banned.h"

/* One copy: what to leave out, and the digest of what was written (NULL:
 * none). */
struct copier {
	const struct dv_strv *skips;
	struct dv_sha256 *sum;
};

static int copy_data(int in, int out, const char *name, struct dv_sha256 *h, struct dv_error *err)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dv_err(err, errno, "cannot read '%s'", name);
		if (n == 0)
			return 0;
		if (h)
			dv_sha256_update(h, buf, (size_t)n);
		if (dv_write_full(out, buf, (size_t)n, err) < 0)
			return dv_err_prefix(err, "copying '%s'", name);
	}
}

int ctr_copy_data(int in, int out, const char *name, struct dv_error *err)
{
	return copy_data(in, out, name, NULL, err);
}

/* Owner root, the source's mode (less group and other write: treesum.h)
 * and times: on the open fd of the copy. */
static int set_meta(int fd, const struct stat *st, const char *name, struct dv_error *err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchown(fd, 0, 0) < 0 || fchmod(fd, DV_TREESUM_MODE(st->st_mode)) < 0 ||
	    futimens(fd, ts) < 0)
		return dv_err(err, errno, "cannot set owner and mode of '%s'", name);
	return 0;
}

/* Replace whatever dir/name is (not a folder) with nothing. */
static int clear_entry(int dir, const char *name, struct dv_error *err)
{
	if (unlinkat(dir, name, 0) < 0 && errno != ENOENT && errno != EISDIR)
		return dv_err(err, errno, "cannot replace '%s'", name);
	return 0;
}

/* in: a regular file opened for reading (st its stat); rel: its name in
 * the digest. */
static int copy_file(int in, const struct stat *st, int dir, const char *name, const char *rel,
		     struct copier *c, struct dv_error *err)
{
	dv_autoclose int out = -1;
	struct dv_sha256 h;
	char hex[DV_SHA256_HEX];

	if (clear_entry(dir, name, err) < 0)
		return -1;
	out = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return dv_err(err, errno, "cannot create '%s'", name);
	dv_sha256_init(&h);
	if (copy_data(in, out, name, c->sum ? &h : NULL, err) < 0)
		return -1;
	if (c->sum) {
		dv_sha256_final_hex(&h, hex);
		dv_treesum_file(c->sum, rel, st->st_mode, hex);
	}
	return set_meta(out, st, name, err);
}

/* The link's target: srcdir/srcname, or the O_PATH fd srcdir itself when
 * srcname is "". */
static int copy_link(int srcdir, const char *srcname, const struct stat *st, int dir,
		     const char *name, const char *rel, struct copier *c, struct dv_error *err)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(srcdir, srcname, target, sizeof(target) - 1);
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (n < 0)
		return dv_err(err, errno, "cannot read link '%s'", rel);
	target[n] = 0;
	if (clear_entry(dir, name, err) < 0)
		return -1;
	if (symlinkat(target, dir, name) < 0)
		return dv_err(err, errno, "cannot create link '%s'", name);
	if (fchownat(dir, name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 ||
	    utimensat(dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot set owner of link '%s'", name);
	if (c->sum)
		dv_treesum_link(c->sum, rel, target);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is sub/name among the sorted paths to leave out? */
static bool skipped(const struct dv_strv *skips, const char *sub, const char *name)
{
	char path[PATH_MAX];
	const char *p = path;

	if (!skips || !skips->n)
		return false;
	snprintf(path, sizeof(path), "%s%s%s", sub, sub[0] ? "/" : "", name);
	return bsearch(&p, skips->v, skips->n, sizeof(*skips->v), cmp_str) != NULL;
}

/* Copy the content of folder src into folder dst (both open fds), but for
 * the paths in c->skips (relative to the copied folder; sub is src's), in
 * name order, as the digest wants them. rel: src's name in the digest. */
static int copy_tree(int src, int dst, const char *sub, const char *rel, struct copier *c,
		     int depth, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(src);
	struct dv_strv names = { 0 };
	struct dirent *de;
	int ret = 0;

	if (!d)
		return dv_err(err, errno, "cannot read folder '%s'", rel);
	if (depth > 256)
		return dv_err(err, ELOOP, "'%s' is nested too deep", rel);
	while ((errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    !skipped(c->skips, sub, de->d_name))
			dv_strv_push(&names, de->d_name);
	if (errno) {
		dv_strv_release(&names);
		return dv_err(err, errno, "cannot read folder '%s'", rel);
	}
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; i < names.n && ret == 0; i++) {
		const char *name = names.v[i];
		dv_autofree char *r = dv_xasprintf("%s/%s", rel, name);
		dv_autofree char *s = sub[0] ? dv_xasprintf("%s/%s", sub, name) : dv_xstrdup(name);
		struct stat st;

		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = dv_err(err, errno, "cannot stat '%s'", r);
		} else if (S_ISLNK(st.st_mode)) {
			ret = copy_link(src, name, &st, dst, name, r, c, err);
		} else if (S_ISREG(st.st_mode)) {
			/* Opened as what fstatat saw, or not at all: it may
			 * have been swapped for a fifo or a device since. */
			dv_autoclose int in = dv_open_regular_at(src, name, &st);

			ret = in < 0 ? dv_err(err, errno, "cannot open '%s'", r)
				     : copy_file(in, &st, dst, name, r, c, err);
		} else if (S_ISDIR(st.st_mode)) {
			dv_autoclose int in =
				openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dv_autoclose int out = -1;

			if (in < 0 || fstat(in, &st) < 0) {
				ret = dv_err(err, errno, "cannot open '%s'", r);
				continue;
			}
			if (c->sum)
				dv_treesum_dir(c->sum, r, st.st_mode);
			if (clear_entry(dst, name, err) < 0) {
				ret = -1;
				continue;
			}
			if (mkdirat(dst, name, 0700) < 0 && errno != EEXIST) {
				ret = dv_err(err, errno, "cannot create folder '%s'", name);
				continue;
			}
			out = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (out < 0) {
				ret = dv_err(err, errno, "cannot open folder '%s'", name);
				continue;
			}
			ret = copy_tree(in, out, s, r, c, depth + 1, err);
			/* Last, so that a read-only source folder could be filled. */
			if (ret == 0)
				ret = set_meta(out, &st, name, err);
		} else {
			ret = dv_err(err, 0, "cannot copy '%s': not a file, folder or symlink", r);
		}
	}
	dv_strv_release(&names);
	return ret;
}

static int copy_in(int rootfd, int src, const char *name, const char *rel, const char *dest,
		   struct copier *c, struct dv_error *err)
{
	dv_autoclose int parent = -1;
	char buf[PATH_MAX];
	const char *base;
	struct stat st;
	size_t n = strlen(dest);

	if (fstat(src, &st) < 0)
		return dv_err(err, errno, "cannot stat '%s'", name);
	if (n == 0 || n >= sizeof(buf) - NAME_MAX - 2)
		return dv_err(err, EINVAL, "bad destination '%s'", dest);
	memcpy(buf, dest, n + 1);
	while (n > 1 && buf[n - 1] == '/' && buf[n - 2] == '/')
		buf[--n] = 0;
	if (S_ISDIR(st.st_mode)) {
		dv_autoclose int in = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		dv_autoclose int out = ctr_mkdir_p_in_root(rootfd, buf, 0755, err);
		dv_autoclose int outdir = -1;

		if (in < 0)
			return dv_err(err, errno, "cannot open '%s'", name);
		if (out < 0)
			return -1;
		outdir = openat(out, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (outdir < 0)
			return dv_err(err, errno, "cannot open '%s'", dest);
		if (c->sum)
			dv_treesum_dir(c->sum, rel, st.st_mode);
		return copy_tree(in, outdir, "", rel, c, 0, err);
	}
	if (buf[n - 1] == '/')
		snprintf(buf + n, sizeof(buf) - n, "%s", name);
	base = strrchr(buf, '/');
	if (base) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", (int)(base - buf), buf);
		parent = ctr_mkdir_p_in_root(rootfd, dir[0] ? dir : "/", 0755, err);
		base++;
	} else {
		parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
		base = buf;
	}
	if (parent < 0)
		return -1;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return dv_err(err, EINVAL, "bad destination '%s'", dest);
	if (S_ISLNK(st.st_mode))
		return copy_link(src, "", &st, parent, base, rel, c, err);
	if (!S_ISREG(st.st_mode))
		return dv_err(err, 0, "cannot copy '%s': not a file, folder or symlink", name);
	{
		/* Reopen for reading through the O_PATH fd: the same inode. */
		dv_autoclose int in = dv_reopen_regular(src, &st);

		if (in < 0)
			return dv_err(err, errno, "cannot open '%s'", name);
		return copy_file(in, &st, parent, base, rel, c, err);
	}
}

int ctr_copy_in(const struct ctr_spec *spec, struct ctr_copy_src *src, const char *dest,
		struct dv_error *err)
{
	const char *rel = src->rel ? src->rel : src->name;
	int errp[2], sump[2] = { -1, -1 };
	ssize_t got = 0;
	pid_t pid;
	int st, r;

	src->digest[0] = 0;
	if (pipe2(errp, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	if (pipe2(sump, O_CLOEXEC) < 0) {
		close(errp[0]);
		close(errp[1]);
		return dv_err(err, errno, "pipe");
	}
	pid = fork();
	if (pid < 0) {
		close(errp[0]);
		close(errp[1]);
		close(sump[0]);
		close(sump[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		struct dv_error cerr = { 0 };
		struct dv_sha256 sum;
		struct copier c = { src->skips, src->rel ? &sum : NULL };
		char hex[DV_SHA256_HEX];
		int rootfd;

		close(errp[0]);
		close(sump[0]);
		dv_sha256_init(&sum);
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			ctr_child_fail(errp[1],
				       (dv_err(&cerr, errno, "cannot make a mount namespace"),
					&cerr));
		rootfd = ctr_mount_overlay(spec, false, NULL, &cerr);
		if (rootfd < 0 || copy_in(rootfd, src->fd, src->name, rel, dest, &c, &cerr) < 0)
			ctr_child_fail(errp[1], &cerr);
		if (c.sum) {
			/* 64 bytes: the pipe takes them without a reader. */
			dv_sha256_final_hex(&sum, hex);
			if (dv_write_full(sump[1], hex, 64, &cerr) < 0)
				ctr_child_fail(errp[1], &cerr);
		}
		_exit(0);
	}
	close(errp[1]);
	close(sump[1]);
	r = ctr_child_result(errp[0], err);
	close(errp[0]);
	if (r == 0 && src->rel) {
		while (got < 64) {
			ssize_t n = read(sump[0], src->digest + got, (size_t)(64 - got));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += n;
		}
		src->digest[got] = 0;
	}
	close(sump[0]);
	if (dv_waitpid(pid, &st, r ? &(struct dv_error){ 0 } : err) < 0)
		return -1;
	if (r)
		return dv_err_prefix(err, "cannot copy '%s' to '%s'", src->name, dest);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || (src->rel && got != 64))
		return dv_err(err, 0, "cannot copy '%s' to '%s': the copier failed", src->name,
			      dest);
	return 0;
}
