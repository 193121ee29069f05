/*
 * provision/normalise.c - a step's files made reproducible before they
 * become a layer (README "Reproducible layers").
 *
 * Two things, on the step's upper folder (its staging diff/), after it
 * exited 0 and before it is committed:
 *
 * - The volatile files (prov_volatile_files: what package managers stamp
 *   with the time of the run, found by building one apt step twice and
 *   diffing) are left out: removed from the upper, so the env sees the
 *   base's copy if it has one. dpkg, apt and ld.so make them anew.
 * - With a SOURCE_DATE_EPOCH, every mtime later than it (files, folders,
 *   links) is set to it, the folders' after their contents, so that every
 *   export of the layer (push, image save, verify) gives the same tar. The
 *   times are clamped in the layer's own files rather than by export: no
 *   export has to read layer.json, and the env sees what a pull of the
 *   layer would give.
 *
 * Both never follow a symlink and never leave the upper's filesystem: the
 * step made those files, and it may have made var/log a link to '/'.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define MAX_DEPTH 200

/* Relative to the root; '*' only in the last component. Keep README's
 * list ("Reproducible layers") the same. */
const char *const prov_volatile_files[] = {
	"var/log/dpkg.log",             /* dpkg: a line per action, timed */
	"var/log/alternatives.log",     /* update-alternatives: likewise */
	"var/log/apt/*",                /* history.log, term.log, eipp.log.xz */
	"var/cache/ldconfig/aux-cache", /* ld.so's, with the libraries' ctimes */
	"var/cache/apt/*.bin",          /* apt's binary caches (pkgcache, srcpkgcache) */
	"var/cache/debconf/*-old",      /* debconf's backups of its databases */
	"var/lib/dpkg/*-old",           /* dpkg's status-old, diversions-old, ... */
	NULL,
};

int prov_epoch_parse(const char *s, long long *out)
{
	long long v = 0;

	if (!s || !*s || strlen(s) > 18)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v <= 0 || v > 253402300799LL) /* 9999-12-31T23:59:59Z */
		return -1;
	*out = v;
	return 0;
}

int prov_epoch_from_env(long long *out, struct dv_error *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");

	if (!s)
		return 0;
	if (prov_epoch_parse(s, out) == 0)
		return 0;
	dv_err_plain(err, EINVAL,
		     "SOURCE_DATE_EPOCH '%.40s' is not a time: give seconds since 1970 (as "
		     "'date +%%s' prints), or unset it",
		     s);
	err->status = 2; /* bad input, as an Envfile's */
	return -1;
}

void prov_epoch_envp(const struct env_spec *spec, struct dv_strv *envp)
{
	/* The Envfile's own SOURCE_DATE_EPOCH (in the step's key) wins. */
	for (size_t i = 0; spec->source_date_epoch > 0 && i < envp->n; i++)
		if (dv_str_startswith(envp->v[i], "SOURCE_DATE_EPOCH="))
			return;
	if (spec->source_date_epoch > 0)
		dv_strv_push_owned(envp,
				   dv_xasprintf("SOURCE_DATE_EPOCH=%lld", spec->source_date_epoch));
}

bool prov_volatile_match(const char *rel)
{
	for (size_t i = 0; prov_volatile_files[i]; i++)
		if (fnmatch(prov_volatile_files[i], rel, FNM_PATHNAME | FNM_PERIOD) == 0)
			return true;
	return false;
}

/* The volatile files of one pattern's folder, removed: regular files only
 * (a whiteout, a folder the step made there, stay). */
static int drop_volatile(int root, const char *pattern, struct dv_error *err)
{
	const char *slash = strrchr(pattern, '/');
	dv_autofree char *dir = dv_xstrndup(pattern, (size_t)(slash - pattern));
	dv_autoclose int fd = dv_openat2(root, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0,
					 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
						 RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV
			       ? 0
			       : dv_err(err, errno, "cannot open '/%s' of the step's files", dir);
	d = dv_opendir_fd(fd);
	if (!d)
		return dv_err(err, errno, "cannot read '/%s' of the step's files", dir);
	while ((de = readdir(d))) {
		struct stat sb;

		if (fnmatch(slash + 1, de->d_name, FNM_PERIOD) != 0 ||
		    fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
			return dv_err(err, errno, "cannot leave '/%s/%s' out of the layer", dir,
				      de->d_name);
	}
	return 0;
}

static int clamp_at(int fd, const char *name, const struct stat *sb, long long epoch,
		    const char *path, struct dv_error *err)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = (time_t)epoch } };

	if (sb->st_mtim.tv_sec < epoch || (sb->st_mtim.tv_sec == epoch && !sb->st_mtim.tv_nsec))
		return 0;
	if (utimensat(fd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot set the time of '/%s' in the step's files", path);
	return 0;
}

static int clamp_walk(int fd, dev_t dev, const char *prefix, long long epoch, int depth,
		      struct dv_error *err)
{
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;
	int dup_fd;

	if (depth > MAX_DEPTH)
		return dv_err(err, ELOOP, "the step's files nest too deep at '/%s'", prefix);
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0 || !(d = dv_opendir_fd(dup_fd))) {
		if (dup_fd >= 0)
			close(dup_fd);
		return dv_err(err, errno, "cannot read '/%s' of the step's files", prefix);
	}
	while ((de = readdir(d))) {
		dv_autofree char *path = NULL;
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		path = dv_xasprintf("%s%s", prefix, de->d_name);
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			return dv_err(err, errno, "cannot read '/%s' of the step's files", path);
		if (sb.st_dev != dev)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			dv_autoclose int sub =
				openat(fd, de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dv_autofree char *sub_prefix = dv_xasprintf("%s/", path);

			if (sub < 0)
				return dv_err(err, errno, "cannot open '/%s' of the step's files",
					      path);
			if (clamp_walk(sub, dev, sub_prefix, epoch, depth + 1, err) < 0)
				return -1;
		}
		if (clamp_at(fd, de->d_name, &sb, epoch, path, err) < 0)
			return -1;
	}
	return 0;
}

int prov_normalise(const char *upper, long long epoch, struct dv_error *err)
{
	dv_autoclose int fd = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return dv_err(err, errno, "cannot open the step's files '%s'", upper);
	for (size_t i = 0; prov_volatile_files[i]; i++)
		if (drop_volatile(fd, prov_volatile_files[i], err) < 0)
			return -1;
	return epoch > 0 ? clamp_walk(fd, sb.st_dev, "", epoch, 0, err) : 0;
}
