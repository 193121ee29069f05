/*
 * container/chown.c - the checkout's ownership where it cannot be idmapped.
 *
 * state.json's checkout_ownership "chown": the kernel or the checkout's
 * filesystem refuses an idmapped mount, so what root (or the env's user,
 * when its uid is not the host user's) creates in the checkout has the
 * wrong owner on the host until it is given back. After each `ssh` and
 * `on_up` command, ctr_chown_back() walks the checkout and gives the host
 * user every entry such a uid created or changed since the command began.
 *
 * The walk never follows a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, each
 * step relative to a folder we hold open) and never leaves the checkout's
 * filesystem, so nothing the env plants there can steer a chown outside.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define MAX_DEPTH 200 /* two fds per level */

struct walk {
	const struct ctr_owner *o;
	struct timespec since;
	dev_t dev;
	unsigned long long changed;
};

static bool newer(const struct timespec *t, const struct timespec *since)
{
	return t->tv_sec > since->tv_sec || (t->tv_sec == since->tv_sec && t->tv_nsec >= since->tv_nsec);
}

/* Give `name` (in dirfd) to the host user if one of the mapped uids made it. */
static void fix(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	const struct ctr_owner *o = w->o;
	bool uid_ours = st->st_uid == 0 || (o->has_user && st->st_uid == o->user_uid);
	bool gid_ours = st->st_gid == 0 || (o->has_user && st->st_gid == o->user_gid);
	uid_t uid = uid_ours ? o->host_uid : st->st_uid;
	gid_t gid = gid_ours ? o->host_gid : st->st_gid;

	if ((uid == st->st_uid && gid == st->st_gid) || !newer(&st->st_ctim, &w->since))
		return;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH)) == 0)
		w->changed++;
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
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != w->dev)
			continue;
		fix(w, fd, de->d_name, &st);
		if (!S_ISDIR(st.st_mode))
			continue;
		sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			walk_dir(w, sub, depth + 1);
	}
}

int ctr_chown_back(const char *checkout, const struct ctr_owner *o, const struct timespec *since,
		   unsigned long long *changed, struct dv_error *err)
{
	struct walk w = { .o = o, .since = *since };
	dv_autoclose int fd = open(checkout, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return dv_err(err, errno, "cannot open the checkout '%s'", checkout);
	w.dev = st.st_dev;
	fix(&w, fd, "", &st);
	walk_dir(&w, fd, 0);
	if (changed)
		*changed = w.changed;
	return 0;
}
