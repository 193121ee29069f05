/*
 * provision/gitkeep.c - what a kept clone in inputs/git-<commit>/ may hold.
 *
 * A bundle is untrusted: a clone it carries could hold files that make
 * git (libgit2) read objects or history from elsewhere on the host:
 * objects/info/alternates (and http-alternates), a `commondir` or
 * `gitdir` file, info/grafts, `shallow`, a `.git` that is a file or a
 * symlink (`gitdir: /elsewhere`), or symlinks among its objects and refs.
 * Hooks and a config with core.* paths are only a danger to a git that
 * runs them, but nothing of them is needed either.
 *
 * So the loader keeps only what a clone is read from: objects (loose
 * objects in their two-hex folders, packs and their indexes), refs/,
 * packed-refs and HEAD, each a regular file or a folder, moved into a new
 * `.git/` with a config devenv writes itself; the working tree and
 * everything else of the bundle's tar are left behind. A clone carrying
 * one of the redirecting files is refused with one line. Before a build
 * clones from a kept input (prov_input_fetch) the same files are looked
 * for again (an input kept by an older devenv, or changed in the store):
 * such an input is not used.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

#define REFS_DEPTH 16
#define HEAD_MAX 4096

static const char *const redirects[] = {
	"objects/info/alternates",
	"objects/info/http-alternates",
	"commondir",
	"gitdir",
	"info/grafts",
	"shallow",
};

static int open_dir(int at, const char *name)
{
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* The clone's git folder in dir: .git, or dir itself when bare. NULL and
 * -1 when .git is there but no folder (a `gitdir:` file, a symlink). */
static int git_dir(int dir, const char **why)
{
	struct stat sb;

	if (fstatat(dir, ".git", &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? fcntl(dir, F_DUPFD_CLOEXEC, 3) : -1;
	if (!S_ISDIR(sb.st_mode)) {
		*why = ".git that is not a folder";
		return -1;
	}
	return open_dir(dir, ".git");
}

const char *prov_git_kept_redirect(int dir)
{
	const char *why = NULL;
	dv_autoclose int g = git_dir(dir, &why);
	struct stat sb;

	if (g < 0)
		return why ? why : ".git that cannot be opened";
	for (size_t i = 0; i < sizeof(redirects) / sizeof(redirects[0]); i++)
		if (fstatat(g, redirects[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			return redirects[i];
	if (fstatat(g, "objects", &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
		return "objects that is not a folder";
	return NULL;
}

static bool is_reg(int dir, const char *name)
{
	struct stat sb;

	return fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode);
}

static int move(int from, int to, const char *name, struct dv_error *err)
{
	if (renameat(from, name, to, name) < 0)
		return dv_err(err, errno, "cannot keep the git input's '%s'", name);
	return 0;
}

/* Each entry of from (a fresh folder to) that want() takes: regular files
 * moved, folders made and walked (kind: 0 refs, 1 objects, 2 a folder of
 * loose objects, 3 pack). */
static int keep(int from, int to, int kind, int depth, struct dv_error *err)
{
	DIR *d;
	struct dirent *e;
	int fd = fcntl(from, F_DUPFD_CLOEXEC, 3), ret = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return dv_err(err, errno, "cannot read the bundle's git input");
	}
	while (ret == 0 && (e = readdir(d))) {
		const char *n = e->d_name;
		size_t len = strlen(n);
		struct stat sb;
		int sub_kind = -1;

		if (!strcmp(n, ".") || !strcmp(n, "..") ||
		    fstatat(from, n, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			if (kind == 0 && depth < REFS_DEPTH)
				sub_kind = 0;
			else if (kind == 1 && len == 2 && dv_str_is_hex(n, 2))
				sub_kind = 2;
			else if (kind == 1 && !strcmp(n, "pack"))
				sub_kind = 3;
			if (sub_kind >= 0) {
				dv_autoclose int sf = open_dir(from, n), st = -1;

				if (sf < 0 || mkdirat(to, n, 0755) < 0 || (st = open_dir(to, n)) < 0)
					ret = dv_err(err, errno, "cannot keep the git input's '%s'",
						     n);
				else
					ret = keep(sf, st, sub_kind, depth + 1, err);
			}
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if (kind == 0 || (kind == 2 && (len == 38 || len == 62) && dv_str_is_hex(n, len)) ||
		    (kind == 3 && !strncmp(n, "pack-", 5) && len > 9 &&
		     (!strcmp(n + len - 5, ".pack") || !strcmp(n + len - 4, ".idx"))))
			ret = move(from, to, n, err);
	}
	closedir(d);
	return ret;
}

static const char config[] = "[core]\n"
			     "\trepositoryformatversion = 0\n"
			     "\tfilemode = true\n"
			     "\tbare = false\n";

int prov_git_keep(int from, int to, const char *what, struct dv_error *err)
{
	const char *why = prov_git_kept_redirect(from);
	dv_autoclose int g = -1, dot = -1, obj_from = -1, obj_to = -1, refs_from = -1, refs_to = -1;
	struct stat sb;

	if (why)
		return dv_err_plain(err, EPERM,
				    "%s carries %s, which would have git read from elsewhere on "
				    "this machine: the bundle is refused; ask its sender for a new one",
				    what, why);
	if ((g = git_dir(from, &why)) < 0 || !is_reg(g, "HEAD") ||
	    fstatat(g, "HEAD", &sb, AT_SYMLINK_NOFOLLOW) < 0 || sb.st_size > HEAD_MAX)
		return dv_err_plain(err, EINVAL, "%s is no git repository (no HEAD)", what);
	if (mkdirat(to, ".git", 0755) < 0 || (dot = open_dir(to, ".git")) < 0 ||
	    mkdirat(dot, "objects", 0755) < 0 || mkdirat(dot, "refs", 0755) < 0 ||
	    (obj_to = open_dir(dot, "objects")) < 0 || (refs_to = open_dir(dot, "refs")) < 0)
		return dv_err(err, errno, "cannot make the git input's .git");
	if ((obj_from = open_dir(g, "objects")) < 0)
		return dv_err(err, errno, "%s has no objects folder", what);
	if (keep(obj_from, obj_to, 1, 0, err) < 0)
		return -1;
	if ((refs_from = open_dir(g, "refs")) >= 0 && keep(refs_from, refs_to, 0, 0, err) < 0)
		return -1;
	if (move(g, dot, "HEAD", err) < 0 ||
	    (is_reg(g, "packed-refs") && move(g, dot, "packed-refs", err) < 0))
		return -1;
	return dv_write_file_atomic(dot, "config", config, sizeof(config) - 1, 0644, err);
}
