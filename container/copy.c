/*
 * container/copy.c - ctr_copy_in: copy a host file or folder into the root
 * an overlay forms, so that it lands in the overlay's upper folder.
 *
 * A forked child gets a private mount namespace, mounts the overlay (as a
 * build container does) and copies. On the host side nothing is followed
 * past host_path itself (O_NOFOLLOW, then openat walking); inside, the
 * destination is resolved in the root (RESOLVE_IN_ROOT), so a layer's
 * symlink cannot send the copy to the host.
 *
 * Docker's COPY rules: a folder's content goes into dest (created); a file
 * becomes dest, or dest/<its name> when dest ends with '/'. Everything is
 * owned by root and keeps its mode and modification time; symlinks inside a
 * folder are copied as symlinks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int ctr_copy_data(int in, int out, const char *name, struct dv_error *err)
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
		if (dv_write_full(out, buf, (size_t)n, err) < 0)
			return dv_err_prefix(err, "copying '%s'", name);
	}
}

/* Owner root, the source's mode and times: on the open fd of the copy. */
static int set_meta(int fd, const struct stat *st, const char *name, struct dv_error *err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchown(fd, 0, 0) < 0 || fchmod(fd, st->st_mode & 07777) < 0 || futimens(fd, ts) < 0)
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

static int copy_file(int src, const struct stat *st, int dir, const char *name,
		     struct dv_error *err)
{
	dv_autoclose int out = -1;

	if (clear_entry(dir, name, err) < 0)
		return -1;
	out = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return dv_err(err, errno, "cannot create '%s'", name);
	if (ctr_copy_data(src, out, name, err) < 0)
		return -1;
	return set_meta(out, st, name, err);
}

static int copy_link(int srcdir, const char *srcname, const struct stat *st, int dir,
		     const char *name, struct dv_error *err)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(srcdir, srcname, target, sizeof(target) - 1);
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (n < 0)
		return dv_err(err, errno, "cannot read link '%s'", srcname);
	target[n] = 0;
	if (clear_entry(dir, name, err) < 0)
		return -1;
	if (symlinkat(target, dir, name) < 0)
		return dv_err(err, errno, "cannot create link '%s'", name);
	if (fchownat(dir, name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 ||
	    utimensat(dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot set owner of link '%s'", name);
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
 * the paths in skips (relative to the copied folder; sub is src's). */
static int copy_tree(int src, int dst, const char *where, const char *sub,
		     const struct dv_strv *skips, int depth, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(src);
	struct dirent *de;

	if (!d)
		return dv_err(err, errno, "cannot read folder '%s'", where);
	if (depth > 256)
		return dv_err(err, ELOOP, "'%s' is nested too deep", where);
	while ((errno = 0, de = readdir(d))) {
		const char *name = de->d_name;
		struct stat st;

		if (!strcmp(name, ".") || !strcmp(name, "..") || skipped(skips, sub, name))
			continue;
		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return dv_err(err, errno, "cannot stat '%s/%s'", where, name);
		if (S_ISLNK(st.st_mode)) {
			if (copy_link(src, name, &st, dst, name, err) < 0)
				return -1;
		} else if (S_ISREG(st.st_mode)) {
			dv_autoclose int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

			if (in < 0)
				return dv_err(err, errno, "cannot open '%s/%s'", where, name);
			if (copy_file(in, &st, dst, name, err) < 0)
				return -1;
		} else if (S_ISDIR(st.st_mode)) {
			dv_autoclose int in = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dv_autoclose int out = -1;
			char w[PATH_MAX], s[PATH_MAX];

			snprintf(w, sizeof(w), "%s/%s", where, name);
			snprintf(s, sizeof(s), "%s%s%s", sub, sub[0] ? "/" : "", name);
			if (in < 0)
				return dv_err(err, errno, "cannot open '%s'", w);
			if (clear_entry(dst, name, err) < 0)
				return -1;
			if (mkdirat(dst, name, 0700) < 0 && errno != EEXIST)
				return dv_err(err, errno, "cannot create folder '%s'", name);
			out = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (out < 0)
				return dv_err(err, errno, "cannot open folder '%s'", name);
			if (copy_tree(in, out, w, s, skips, depth + 1, err) < 0)
				return -1;
			/* Last, so that a read-only source folder could be filled. */
			if (set_meta(out, &st, name, err) < 0)
				return -1;
		} else {
			return dv_err(err, 0, "cannot copy '%s/%s': not a file, folder or symlink",
				      where, name);
		}
	}
	if (errno)
		return dv_err(err, errno, "cannot read folder '%s'", where);
	return 0;
}

static int copy_in(int rootfd, const char *host_path, const char *dest,
		   const struct dv_strv *skips, struct dv_error *err)
{
	dv_autoclose int src = open(host_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	dv_autoclose int parent = -1;
	char buf[PATH_MAX];
	const char *base;
	struct stat st;
	size_t n = strlen(dest);

	if (src < 0 || fstat(src, &st) < 0)
		return dv_err(err, errno, "cannot open '%s'", host_path);
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
			return dv_err(err, errno, "cannot open '%s'", host_path);
		if (out < 0)
			return -1;
		outdir = openat(out, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (outdir < 0)
			return dv_err(err, errno, "cannot open '%s'", dest);
		return copy_tree(in, outdir, host_path, "", skips, 0, err);
	}
	if (buf[n - 1] == '/') {
		const char *hb = strrchr(host_path, '/');

		snprintf(buf + n, sizeof(buf) - n, "%s", hb ? hb + 1 : host_path);
	}
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
	if (S_ISLNK(st.st_mode)) {
		const char *hb = strrchr(host_path, '/');
		char hdir[PATH_MAX];
		dv_autoclose int hd = -1;

		if (!hb)
			snprintf(hdir, sizeof(hdir), ".");
		else if (hb == host_path)
			snprintf(hdir, sizeof(hdir), "/");
		else
			snprintf(hdir, sizeof(hdir), "%.*s", (int)(hb - host_path), host_path);
		hd = open(hdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (hd < 0)
			return dv_err(err, errno, "cannot open '%s'", hdir);
		return copy_link(hd, hb ? hb + 1 : host_path, &st, parent, base, err);
	}
	if (!S_ISREG(st.st_mode))
		return dv_err(err, 0, "cannot copy '%s': not a file, folder or symlink", host_path);
	{
		/* Reopen for reading through the O_PATH fd: the same inode. */
		char self[64];
		dv_autoclose int in = -1;

		snprintf(self, sizeof(self), "/proc/self/fd/%d", src);
		in = open(self, O_RDONLY | O_CLOEXEC);
		if (in < 0)
			return dv_err(err, errno, "cannot open '%s'", host_path);
		return copy_file(in, &st, parent, base, err);
	}
}

int ctr_copy_in(const struct ctr_spec *spec, const char *host_path, const char *dest,
		struct dv_error *err)
{
	return ctr_copy_in_skip(spec, host_path, dest, NULL, err);
}

int ctr_copy_in_skip(const struct ctr_spec *spec, const char *host_path, const char *dest,
		     const struct dv_strv *skips, struct dv_error *err)
{
	int errp[2];
	pid_t pid;
	int st, r;

	if (pipe2(errp, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(errp[0]);
		close(errp[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		struct dv_error cerr = { 0 };
		int rootfd;

		close(errp[0]);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			ctr_child_fail(errp[1], (dv_err(&cerr, errno, "cannot make a mount namespace"), &cerr));
		rootfd = ctr_mount_overlay(spec, false, NULL, &cerr);
		if (rootfd < 0 || copy_in(rootfd, host_path, dest, skips, &cerr) < 0)
			ctr_child_fail(errp[1], &cerr);
		_exit(0);
	}
	close(errp[1]);
	r = ctr_child_result(errp[0], err);
	close(errp[0]);
	if (dv_waitpid(pid, &st, r ? &(struct dv_error){ 0 } : err) < 0)
		return -1;
	if (r)
		return dv_err_prefix(err, "cannot copy '%s' to '%s'", host_path, dest);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return dv_err(err, 0, "cannot copy '%s' to '%s': the copier failed", host_path, dest);
	return 0;
}
