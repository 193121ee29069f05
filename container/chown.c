/*
 * container/chown.c - the sweep: host paths given back to the host user
 * where nothing could be idmapped.
 *
 * state.json's checkout_ownership "chown" (the kernel or a filesystem
 * refuses an idmapped mount) and "rootless" (only root of the host can
 * idmap): processes of the env write the checkout and host mounts with
 * their own ids, so root in a "chown" env can leave a setuid-root file or
 * one with file capabilities there. ctr_sweep() gives every entry changed
 * since the env started back to the host user, and takes s-bits and file
 * capabilities away from what it gives: after each `ssh` and `on_up`
 * command ("chown"), and at `halt` and `destroy` once every process of the
 * env is gone, so that a background writer is caught at the latest then.
 *
 * The walk never follows a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, each
 * step relative to a folder we hold open) and never leaves the starting
 * filesystem, so nothing the env plants there can steer a chown outside.
 * A file is opened only by inode, through /proc/self/fd of an O_PATH fd
 * checked to be a regular file: a name swapped for a device node meanwhile
 * is never opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define MAX_DEPTH 200 /* two fds per level */

struct walk {
	int procfd;
	uid_t uid;
	gid_t gid;
	struct timespec since;
	dev_t dev;
	unsigned long long changed;
};

static bool newer(const struct timespec *t, const struct timespec *since)
{
	return t->tv_sec > since->tv_sec || (t->tv_sec == since->tv_sec && t->tv_nsec >= since->tv_nsec);
}

/* Give dirfd/name (or dirfd itself, name "") to the host user. */
static void fix(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	bool theirs = st->st_uid != w->uid || st->st_gid != w->gid;
	int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);
	dv_autoclose int fd = -1;
	struct stat now;

	if (!newer(&st->st_ctim, &w->since))
		return;
	if (theirs && fchownat(dirfd, name, w->uid, w->gid, flags) == 0)
		w->changed++;
	if (!S_ISREG(st->st_mode))
		return;
	/* The kernel drops setuid (and setgid with group exec) and the file
	 * capability on chown; whatever is left of them goes too, on what we
	 * gave and on what was the host user's already but changed. */
	fd = *name ? openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
		   : fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_uid != w->uid)
		return;
	{
		/* Reopened by inode through /proc: the file we checked, never
		 * a device node swapped in under its name. */
		char num[16];
		dv_autoclose int rfd = -1;

		snprintf(num, sizeof(num), "%d", fd);
		rfd = openat(w->procfd, num, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (rfd < 0)
			return;
		if ((now.st_mode & (S_ISUID | S_ISGID)) && fchmod(rfd, now.st_mode & 0777) == 0)
			w->changed++;
		if (fremovexattr(rfd, "security.capability") == 0)
			w->changed++;
	}
}

static void walk_dir(struct walk *w, int fd, int depth)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(fd);
	struct dirent *de;

	if (!d || depth > MAX_DEPTH)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		dv_autoclose int sub = -1;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != w->dev)
			continue;
		fix(w, dirfd(d), de->d_name, &st);
		if (!S_ISDIR(st.st_mode))
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			walk_dir(w, sub, depth + 1);
	}
}

int ctr_sweep(int fd, int procfd, uid_t uid, gid_t gid, const struct timespec *since,
	      unsigned long long *changed, struct dv_error *err)
{
	struct walk w = { .procfd = procfd, .uid = uid, .gid = gid, .since = *since };
	struct stat st;

	if (fstat(fd, &st) < 0)
		return dv_err(err, errno, "cannot stat the folder to sweep");
	w.dev = st.st_dev;
	if (S_ISREG(st.st_mode)) {
		fix(&w, fd, "", &st); /* a host mount of one file */
	} else if (S_ISDIR(st.st_mode)) {
		dv_autoclose int dir = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dir < 0)
			return dv_err(err, errno, "cannot open the folder to sweep");
		fix(&w, dir, "", &st);
		walk_dir(&w, dir, 0);
	}
	if (changed)
		*changed = w.changed;
	return 0;
}
