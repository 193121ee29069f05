/*
 * container/chown.c - the sweep: host paths given back to the host user
 * where nothing could be idmapped.
 *
 * state.json's checkout_ownership "chown" (the kernel or a filesystem
 * refuses an idmapped mount) and "rootless" (only root of the host can
 * idmap): processes of the env write the checkout and host mounts with
 * their own ids, so root in a "chown" env can leave a setuid-root file or
 * one with file capabilities there. ctr_sweep() gives every entry changed
 * since a given time back to the host user, and takes s-bits and file
 * capabilities away from what it gives: after each `ssh` and `on_up`
 * command ("chown"; what changed since the command started), and at `halt`
 * and `destroy` once every process of the env is gone (what changed since
 * the env started), so that a background writer is caught at the latest
 * then.
 *
 * The walk never follows a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, each
 * step relative to a folder we hold open) and never leaves the starting
 * mount: "another mount" is another mount id (statx STATX_MNT_ID), not
 * another st_dev, so a btrfs subvolume made inside the checkout (any user
 * can make one; it has an st_dev of its own) is walked, and a real mount
 * point (which the env cannot make on the host's side) is left alone. A
 * file is opened only by inode, through /proc/self/fd of an O_PATH fd
 * checked to be a regular file: a name swapped for a device node
 * meanwhile is never opened.
 *
 * Depth cannot stop the walk, which the env chooses: a folder 205 levels
 * down (or a million) is swept like the top. There is no recursion in C;
 * the folders from the top to the current one are a stack in memory
 * (struct level, 32 bytes a level: a small part of what each level
 * costs the disk). Only the deepest OPEN_LEVELS of them are held open; a
 * folder above those is "parked": its readdir position kept (telldir), its
 * fd closed. When the walk comes back up to a parked folder, it opens ".."
 * of the child it holds (never a symlink, never a name the env chose) and
 * goes on only if that is the same folder (st_dev, inode and mount id as
 * when it was parked), at the position kept (seekdir). If a rename moved
 * the child meanwhile (a writer still running, after an `ssh`), the walk
 * starts again from the top, a few times at most, then says so: at `halt`
 * nothing of the env runs any more.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

#define OPEN_LEVELS 64 /* folders held open at once (one fd and one DIR buffer each) */
#define MAX_RESTARTS 3 /* walks begun again when a parked folder moved */

/* getxattrat(2), Linux 6.13: the number is the same on every architecture
 * (the unified table from 424 on) but alpha, which we leave out. */
#if !defined(__NR_getxattrat) && !defined(__alpha__)
#define __NR_getxattrat 464
#endif

struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

struct level {
	DIR *d;    /* NULL while parked */
	long pos;  /* telldir() of a parked folder */
	dev_t dev; /* of the folder, to check it again when unparked */
	ino_t ino;
};

struct walk {
	int procfd;
	uid_t uid;
	gid_t gid;
	struct timespec since;
	dev_t dev;       /* the top's, where statx gives no mount id */
	uint64_t mnt_id; /* the top's mount */
	bool has_mnt_id;
	unsigned long long changed;
	struct level *lv; /* the top is lv[0], the current folder lv[n - 1] */
	size_t n, cap;
	int read_errno; /* a folder that could not be read whole: 0 when none */
	int cwd_saved;  /* before getxattrat: our cwd, given back at the end; -1 none */
	int cwd;        /* the DIR fd our cwd was moved to; -1 when unknown */
};

#define STATX_WANT (STATX_BASIC_STATS | STATX_MNT_ID)

static int stat_at(int dirfd, const char *name, struct statx *sx)
{
	int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (*name ? 0 : AT_EMPTY_PATH);

	return statx(dirfd, name, flags, STATX_WANT, sx);
}

static dev_t sx_dev(const struct statx *sx)
{
	return makedev(sx->stx_dev_major, sx->stx_dev_minor);
}

/* On the top's mount? By mount id: a btrfs subvolume has an st_dev of its
 * own on the same mount. Kernels before 5.8 give no mount id: st_dev then. */
static bool same_mount(const struct walk *w, const struct statx *sx)
{
	if (w->has_mnt_id && (sx->stx_mask & STATX_MNT_ID))
		return sx->stx_mnt_id == w->mnt_id;
	return sx_dev(sx) == w->dev;
}

static bool newer(const struct statx_timestamp *t, const struct timespec *since)
{
	return t->tv_sec > since->tv_sec ||
	       (t->tv_sec == since->tv_sec && (long)t->tv_nsec >= since->tv_nsec);
}

static bool no_fcap(long r)
{
	return r < 0 && (errno == ENODATA || errno == EOPNOTSUPP);
}

/* Might dirfd/name have a security.capability attribute? One getxattrat()
 * by name, nothing opened. Before Linux 6.13 (ENOSYS, remembered): one
 * lgetxattr() of the name relative to our cwd, which moves to the folder
 * (once per folder) and is given back by ctr_sweep(); not a path through
 * /proc/self/fd, as the /proc we see after ctr_exec is the env's. "Maybe"
 * where neither can say (a capability whose root id we do not map:
 * EOVERFLOW; no cwd to give back). */
static bool may_have_fcap(struct walk *w, int dirfd, const char *name)
{
	static bool no_getxattrat; /* the kernel's answer; the same for every call */

#ifdef __NR_getxattrat
	if (!no_getxattrat) {
		struct xattr_args_v0 args = { 0 };
		long r = syscall(__NR_getxattrat, dirfd, name,
				 AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH),
				 "security.capability", &args, sizeof(args));

		if (!(r < 0 && errno == ENOSYS))
			return !no_fcap(r);
		no_getxattrat = true;
	}
#else
	no_getxattrat = true;
#endif
	if (!*name)
		return true;
	if (w->cwd_saved == -2)
		w->cwd_saved = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->cwd_saved < 0)
		return true;
	if (w->cwd != dirfd) {
		if (fchdir(dirfd) < 0)
			return true;
		w->cwd = dirfd;
	}
	return !no_fcap(lgetxattr(name, "security.capability", NULL, 0));
}

/* Every DIR closes here: its fd number may come back for another folder,
 * which our cwd is not. */
static void close_dir(struct walk *w, DIR *d)
{
	if (w->cwd == dirfd(d))
		w->cwd = -1;
	closedir(d);
}

/* Give dirfd/name (or dirfd itself, name "") to the host user. */
static void fix(struct walk *w, int dirfd, const char *name, const struct statx *sx)
{
	bool theirs = sx->stx_uid != w->uid || sx->stx_gid != w->gid;
	int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);
	dv_autoclose int fd = -1;
	struct stat now;

	if (!newer(&sx->stx_ctime, &w->since))
		return;
	if (theirs && fchownat(dirfd, name, w->uid, w->gid, flags) == 0)
		w->changed++;
	if (!S_ISREG(sx->stx_mode))
		return;
	/* The hot path: what a command wrote as the host user, with no s-bit
	 * and no file capability, is left as it is, never opened. (Our own
	 * chown and chmod below change the ctime: without this a file fixed
	 * once would be reopened by every later sweep that reaches back.) */
	if (!theirs && !(sx->stx_mode & (S_ISUID | S_ISGID)) && !may_have_fcap(w, dirfd, name))
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

/* Push the open folder fd (ours from now on) with its statx. */
static void push(struct walk *w, int fd, const struct statx *sx)
{
	DIR *d = fdopendir(fd);

	if (!d) {
		w->read_errno = errno;
		close(fd);
		return;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->lv = dv_xrealloc(w->lv, w->cap * sizeof(*w->lv));
	}
	w->lv[w->n++] = (struct level){ .d = d, .dev = sx_dev(sx), .ino = sx->stx_ino };
	/* Park the folder that falls out of the window of open ones (the open
	 * ones are always the deepest few, one run of levels). */
	if (w->n > OPEN_LEVELS && w->lv[w->n - 1 - OPEN_LEVELS].d) {
		struct level *p = &w->lv[w->n - 1 - OPEN_LEVELS];

		p->pos = telldir(p->d);
		close_dir(w, p->d);
		p->d = NULL;
	}
}

/* Reopen lv[n - 2], parked, as ".." of lv[n - 1]: false when it is not the
 * folder we parked (a rename moved the child meanwhile). */
static bool unpark(struct walk *w)
{
	struct level *p = &w->lv[w->n - 2], *c = &w->lv[w->n - 1];
	int fd = openat(dirfd(c->d), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct statx sx;

	if (fd < 0)
		return false;
	if (stat_at(fd, "", &sx) < 0 || sx_dev(&sx) != p->dev || sx.stx_ino != p->ino ||
	    !same_mount(w, &sx) || !(p->d = fdopendir(fd))) {
		close(fd);
		return false;
	}
	seekdir(p->d, p->pos);
	return true;
}

static void unwind(struct walk *w)
{
	while (w->n)
		if (w->lv[--w->n].d)
			close_dir(w, w->lv[w->n].d);
}

/* Walk below the open folder top (its statx in sx). false when a parked
 * folder could not be found again: the caller may begin again. */
static bool walk_tree(struct walk *w, int top, const struct statx *sx)
{
	int fd = fcntl(top, F_DUPFD_CLOEXEC, 3);

	if (fd < 0) {
		w->read_errno = errno;
		return true;
	}
	push(w, fd, sx);
	if (w->n)
		rewinddir(w->lv[0].d); /* the dup shares top's offset */
	while (w->n) {
		struct level *l = &w->lv[w->n - 1];
		struct dirent *de;
		struct statx st;
		int sub;

		errno = 0;
		de = readdir(l->d);
		if (!de) {
			if (errno)
				w->read_errno = errno;
			if (w->n > 1 && !w->lv[w->n - 2].d && !unpark(w)) {
				unwind(w);
				return false;
			}
			close_dir(w, w->lv[--w->n].d);
			continue;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    stat_at(dirfd(l->d), de->d_name, &st) < 0 || !same_mount(w, &st))
			continue;
		fix(w, dirfd(l->d), de->d_name, &st);
		if (!S_ISDIR(st.stx_mode))
			continue;
		sub = openat(dirfd(l->d), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		/* The folder we looked at, not one renamed into its place. */
		{
			struct statx now;

			if (stat_at(sub, "", &now) < 0 || sx_dev(&now) != sx_dev(&st) ||
			    now.stx_ino != st.stx_ino || !same_mount(w, &now)) {
				close(sub);
				continue;
			}
		}
		push(w, sub, &st);
	}
	return true;
}

int ctr_sweep(int fd, int procfd, uid_t uid, gid_t gid, const struct timespec *since,
	      unsigned long long *changed, struct dv_error *err)
{
	struct walk w = { .procfd = procfd,
			  .uid = uid,
			  .gid = gid,
			  .since = *since,
			  .cwd_saved = -2,
			  .cwd = -1 };
	struct statx sx;
	int ret = 0;

	if (stat_at(fd, "", &sx) < 0)
		return dv_err(err, errno, "cannot stat the folder to sweep");
	w.dev = sx_dev(&sx);
	w.mnt_id = sx.stx_mnt_id;
	w.has_mnt_id = (sx.stx_mask & STATX_MNT_ID) != 0;
	if (S_ISREG(sx.stx_mode)) {
		fix(&w, fd, "", &sx); /* a host mount of one file */
	} else if (S_ISDIR(sx.stx_mode)) {
		dv_autoclose int dir = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int tries = 0;

		if (dir < 0)
			return dv_err(err, errno, "cannot open the folder to sweep");
		fix(&w, dir, "", &sx);
		while (!walk_tree(&w, dir, &sx))
			if (++tries > MAX_RESTARTS) {
				ret = dv_err_plain(err, EAGAIN,
						   "folders kept moving during the sweep; "
						   "'devenv halt' sweeps again once nothing of the env runs");
				break;
			}
		free(w.lv);
	}
	if (w.cwd_saved >= 0) {
		if (fchdir(w.cwd_saved) < 0 && !ret)
			ret = dv_err(err, errno,
				     "cannot go back to the folder we were in after the sweep");
		close(w.cwd_saved);
	}
	if (!ret && w.read_errno)
		ret = dv_err(err, w.read_errno, "cannot read every folder to sweep");
	if (changed)
		*changed = w.changed;
	return ret;
}
