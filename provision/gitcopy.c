/*
 * provision/gitcopy.c - `copy` of a folder of a git checkout: what git
 * ignores is neither in the key nor copied in, and tracked files are
 * identified by the index's blob ids when their stat data says the index
 * is current, so an unchanged large checkout is not read.
 *
 * A file's id is always the git blob id of its bytes as they are on disk
 * (the index's id when size, mtime and inode match and the entry is not
 * "racily clean"; else hashed here): the same key on every machine, and
 * never a stale one. Tracked files are copied even when an ignore rule
 * matches them, as git does. Every `.git` entry is left out: the layer holds
 * the files, not the history.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git.h"
#include "provision.h"
#include "util/cleanup.h"
#include "util/banned.h"

struct prov_gitcopy {
	const struct prov_git *g;
	git_repository *repo;
	git_index *index;
	char *prefix; /* the copied folder inside the work tree: "" or "src/" */
	struct timespec index_mtime;
};

void prov_gitcopy_close(struct prov_gitcopy *c)
{
	if (!c)
		return;
	if (c->index)
		c->g->git_index_free(c->index);
	if (c->repo)
		c->g->git_repository_free(c->repo);
	free(c->prefix);
	free(c);
}

int prov_gitcopy_open(const struct env_spec *spec, const char *folder, struct prov_gitcopy **out,
		      struct dv_error *err)
{
	dv_autofree char *dotgit = dv_xasprintf("%s/.git", spec->checkout);
	dv_autofree char *real_wd = NULL;
	struct prov_gitcopy *c;
	const char *wd;
	struct stat st;
	size_t n;

	*out = NULL;
	/* Only a checkout that is a repository pays for loading libgit2. */
	if (lstat(dotgit, &st) < 0)
		return 0;
	c = dv_xcalloc(1, sizeof(*c));
	c->g = prov_git_load(err);
	if (!c->g) {
		free(c);
		return -1;
	}
	if (c->g->git_repository_open_ext(&c->repo, spec->checkout, GIT_REPOSITORY_OPEN_NO_SEARCH,
					  NULL) < 0 ||
	    !(wd = c->g->git_repository_workdir(c->repo)) ||
	    c->g->git_repository_index(&c->index, c->repo) < 0) {
		dv_err(err, 0, "cannot open the repository '%s': %s", spec->checkout,
		       prov_git_errmsg(c->g));
		prov_gitcopy_close(c);
		return -1;
	}
	real_wd = realpath(wd, NULL);
	n = real_wd ? strlen(real_wd) : 0;
	if (!real_wd || strncmp(folder, real_wd, n) != 0 || (folder[n] && folder[n] != '/')) {
		prov_gitcopy_close(c); /* the folder is not in this work tree: copy it all */
		return 0;
	}
	c->prefix = folder[n] ? dv_xasprintf("%s/", folder + n + 1) : dv_xstrdup("");
	if (stat(dotgit, &st) == 0 && S_ISDIR(st.st_mode)) {
		dv_autofree char *ipath = dv_xasprintf("%s/index", dotgit);

		if (stat(ipath, &st) == 0)
			c->index_mtime = st.st_mtim;
	}
	*out = c;
	return 0;
}

/* sub: the path below the copied folder ("a/b.txt"). */
bool prov_gitcopy_skip(struct prov_gitcopy *c, const char *sub, const char *name, bool is_dir)
{
	dv_autofree char *path = dv_xasprintf("%s%s%s", c->prefix, sub, is_dir ? "/" : "");
	int ignored = 0;
	size_t pos;

	if (strcmp(name, ".git") == 0)
		return true;
	/* A tracked file is copied whatever the rules say; asking the index
	 * first (in memory) spares the ignore check, which stats every
	 * .gitignore up the path, for the common case. */
	if (!is_dir && c->g->git_index_get_bypath(c->index, path, 0))
		return false;
	if (c->g->git_ignore_path_is_ignored(&ignored, c->repo, path) < 0 || !ignored)
		return false;
	/* an ignored folder is copied only for the tracked files it holds */
	return is_dir ? c->g->git_index_find_prefix(&pos, c->index, path) != 0 : true;
}

static bool racy(const struct prov_gitcopy *c, const struct stat *st)
{
	return st->st_mtim.tv_sec > c->index_mtime.tv_sec ||
	       (st->st_mtim.tv_sec == c->index_mtime.tv_sec &&
		st->st_mtim.tv_nsec >= c->index_mtime.tv_nsec);
}

int prov_gitcopy_index_id(struct prov_gitcopy *c, const char *sub, const struct stat *st,
			  char hex[GIT_OID_HEXSZ + 1])
{
	dv_autofree char *path = dv_xasprintf("%s%s", c->prefix, sub);
	const git_index_entry *e = c->g->git_index_get_bypath(c->index, path, 0);

	if (e && !racy(c, st) && e->file_size == (uint32_t)st->st_size &&
	    e->mtime.seconds == (int32_t)st->st_mtim.tv_sec &&
	    e->mtime.nanoseconds == (uint32_t)st->st_mtim.tv_nsec &&
	    e->ino == (uint32_t)st->st_ino && (e->mode & 0170000) == 0100000) {
		c->g->git_oid_tostr(hex, GIT_OID_HEXSZ + 1, &e->id);
		return 1;
	}
	return 0;
}

int prov_gitcopy_file_id(struct prov_gitcopy *c, const char *sub, int fd, const struct stat *st,
			 char hex[GIT_OID_HEXSZ + 1], struct dv_error *err)
{
	char self[64];
	git_oid id;

	if (prov_gitcopy_index_id(c, sub, st, hex))
		return 0;
	/* Through the fd the caller opened and checked: libgit2 opens the
	 * very inode, following no symlink anyone put at its name since. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (c->g->git_odb_hashfile(&id, self, GIT_OBJECT_BLOB) < 0)
		return dv_err(err, errno, "cannot read '%s%s': %s", c->prefix, sub,
			      prov_git_errmsg(c->g));
	c->g->git_oid_tostr(hex, GIT_OID_HEXSZ + 1, &id);
	return 0;
}
