/*
 * container/at.c - the primitives every mount of the runtime is made with:
 * paths reached inside a container's root from the root's fd, and new
 * detached filesystems from the mount API.
 *
 * A root comes from an image, and an image can plant symlinks such as
 * `etc -> /host/etc`: inside it, every path is resolved with openat2
 * RESOLVE_IN_ROOT (a symlink, absolute or with `..`, stays inside), never
 * joined into a string and looked up from the host's root (STYLE.md 9).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int ctr_openat_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	while (*path == '/')
		path++;
	return dv_openat2(rootfd, *path ? path : ".", flags, mode,
			  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int ctr_mkdir_p_in_root(int rootfd, const char *path, mode_t mode, struct dv_error *err)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;
	int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);

	if (n >= sizeof(buf)) {
		if (cur >= 0)
			close(cur);
		return dv_err(err, ENAMETOOLONG, "'%s'", path);
	}
	memcpy(buf, path, n + 1);
	for (i = 0; cur >= 0 && i <= n; i++) {
		const char *comp;
		int next;

		if (buf[i] != '/' && buf[i] != 0)
			continue;
		buf[i] = 0;
		comp = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
		if (!*comp || !strcmp(comp, ".")) {
			buf[i] = i < n ? '/' : 0;
			continue;
		}
		/* Resolve the whole prefix in the root, so that a symlinked
		 * component (home -> var/home) is followed inside it. */
		next = ctr_openat_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, comp, mode) < 0 && errno != EEXIST) {
				int e = errno;

				close(cur);
				return dv_err(err, e, "cannot create folder '%s'", buf);
			}
			next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			close(cur);
			return dv_err(err, e, "cannot open folder '%s'", buf);
		}
		close(cur);
		cur = next;
		buf[i] = i < n ? '/' : 0;
	}
	if (cur < 0)
		return dv_err(err, errno, "cannot open folder '%s'", path);
	return cur;
}

/* The kernel explains a refused fsconfig in the context's message log. */
int ctr_fs_fail(int fsfd, int e, struct dv_error *err, const char *fmt, ...)
{
	char what[300], log[200];
	ssize_t n = fsfd >= 0 ? read(fsfd, log, sizeof(log) - 1) : -1;
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	dv_err(err, e, "%s", what);
	if (n > 2) {
		log[n] = 0;
		log[strcspn(log, "\n")] = 0;
		len = strlen(err->msg);
		snprintf(err->msg + len, sizeof(err->msg) - len, " (%s)", log + 2);
	}
	return -1;
}

int ctr_new_fs(const char *type, const char *const *opts, unsigned attrs, struct dv_error *err)
{
	dv_autoclose int fs = fsopen(type, FSOPEN_CLOEXEC);
	int mnt;

	if (fs < 0)
		return dv_err(err, errno, "cannot mount %s", type);
	for (; opts && opts[0]; opts += 2) {
		int r = opts[1] ? fsconfig(fs, FSCONFIG_SET_STRING, opts[0], opts[1], 0)
				: fsconfig(fs, FSCONFIG_SET_FLAG, opts[0], NULL, 0);
		if (r < 0)
			return ctr_fs_fail(fs, errno, err, "cannot mount %s", type);
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ctr_fs_fail(fs, errno, err, "cannot mount %s", type);
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (mnt < 0)
		return ctr_fs_fail(fs, errno, err, "cannot mount %s", type);
	return mnt;
}
