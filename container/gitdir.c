/*
 * container/gitdir.c - the checkout's git dir, read-only inside the env.
 *
 * Read-only `config` and `hooks` are not enough: an env that can write
 * `.git/commondir`, add `.git/modules/x/config`, or rename `.git` aside and
 * make a new one still gets its code run by the developer's next `git
 * status` on the host (core.fsmonitor, hooks). So the whole git dir is a
 * read-only bind of itself: a mount point, which cannot be written,
 * renamed, removed or replaced from inside (EROFS, EBUSY). For a git dir
 * deeper down (a submodule's `lib/sub/.git`), each folder on the way is
 * bound onto itself too (a "pin"): else renaming `lib` would carry the
 * protected `.git` away and let the env put a fresh `lib/sub/.git` in its
 * place.
 *
 * The same binds make read-only the paths of the worktree that the
 * repository's config names (a core.hooksPath folder, an included file:
 * provision/gitdir.c), a folder or a file alike.
 *
 * Every bind is a clone of the mount it sits on, so it keeps that mount's
 * idmap, nosuid and nodev: git inside sees the git dir owned as the
 * checkout is, and its safe.directory check passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* Bind mnt/rel onto itself, read-only when ro. 0 when it does not exist. */
static int bind_self(int mnt, const char *rel, bool ro, struct dv_error *err)
{
	/* No symlink anywhere: the path is the env's to change, and a bind
	 * through one could land elsewhere in the checkout. */
	dv_autoclose int at =
		dv_openat2(mnt, rel, O_PATH | O_NOFOLLOW, 0,
			   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	dv_autoclose int clone = -1;
	struct stat st;

	if (at < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (at < 0 && errno != ELOOP)
		return dv_err(err, errno, "cannot open '%s' in the checkout", rel);
	if (at >= 0 && fstat(at, &st) < 0)
		return dv_err(err, errno, "cannot open '%s' in the checkout", rel);
	/* O_PATH | O_NOFOLLOW opens a symlink at the end itself. */
	if (at < 0 || S_ISLNK(st.st_mode))
		return dv_err_plain(err, ELOOP,
				    "cannot make '%s' of the checkout read-only: it is "
				    "%sa symbolic link; replace the link, or set "
				    "'security: {git_metadata: read-write}'",
				    rel, at < 0 ? "reached through " : "");
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return dv_err_plain(err, EINVAL,
				    "'%s' in the checkout is neither a folder nor a file", rel);
	clone = open_tree(at, "",
			  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (clone < 0)
		return dv_err(err, errno, "cannot bind '%s' of the checkout", rel);
	if (ro && ctr_idmap_mount(clone, -1, MOUNT_ATTR_RDONLY, err) < 0)
		return dv_err_prefix(err, "'%s' read-only", rel);
	if (move_mount(clone, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot bind '%s' of the checkout onto itself", rel);
	return 0;
}

/* Was the folder `dir` pinned already for one of the first n paths? */
static bool pinned(const char *const *paths, size_t n, const char *dir)
{
	size_t len = strlen(dir);

	for (size_t j = 0; j < n; j++)
		if (!strncmp(paths[j], dir, len) && paths[j][len] == '/')
			return true;
	return false;
}

int ctr_git_protect(int mnt, const char *const *paths, size_t n, struct dv_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char buf[4096];
		size_t len = strlen(paths[i]);

		if (len >= sizeof(buf))
			return dv_err(err, ENAMETOOLONG, "'%s'", paths[i]);
		memcpy(buf, paths[i], len + 1);
		/* The folders on the way first, shallowest first. */
		for (char *slash = strchr(buf, '/'); slash; slash = strchr(slash + 1, '/')) {
			*slash = 0;
			if (*buf && !pinned(paths, i, buf) && bind_self(mnt, buf, false, err) < 0)
				return -1;
			*slash = '/';
		}
		if (bind_self(mnt, buf, true, err) < 0)
			return -1;
	}
	return 0;
}
