/*
 * provision/gitdir.c - which paths of the checkout hold git metadata, to be
 * read-only inside the env (container/gitdir.c makes them so).
 *
 * `.git` itself, a folder or (a worktree's, a submodule's) a file; and for
 * each submodule whose git dir lives under `.git/modules/`, the `.git` file
 * of its working tree, found through `core.worktree` in that module's
 * config: the read-only side, which the env cannot have changed, never
 * `.gitmodules`, which it can. A module whose working tree is outside the
 * checkout is none of the env's business.
 *
 * And each gitlink of the index (a submodule the checkout records, mode
 * 160000) that is not checked out: `git status` on the host looks into
 * such a folder, so a `.git` the env made there would be read and its
 * fsmonitor run. Its folder, empty, is made read-only as a whole. (One
 * that does not exist at all cannot be covered: nothing can be mounted
 * where nothing is. The README says so.)
 *
 * And each path of the worktree that the repository's config names for
 * git on the host to run or read: core.hooksPath (a folder of hooks, run
 * by `git commit`), core.fsmonitor (a command, run by `git status`; each
 * of its words with a '/' in it), include.path and includeIf.*.path (a
 * config file, read by every git command). Only the read-only side is
 * read: .git/config, .git/config.worktree, each module's config, and what
 * they include inside .git; never a file of the worktree, which the env
 * may have written (an included file of the worktree is protected, not
 * read). A value through `~` or `%(prefix)` is never the checkout's. One
 * that climbs out of a folder of the worktree with `..` gets that folder
 * too, so that it cannot become a symlink. (A path that does not exist
 * cannot be covered, as above; the README says so.)
 *
 * Then, for each host path bound into the env or a service, which of those
 * paths it covers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define CONFIG_MAX (1u << 20)
#define MODULES_DEPTH 16
#define INCLUDE_DEPTH 10 /* git's MAX_INCLUDE_DEPTH */

/* Lexically normalise the relative path "a/./b/../c" into out ("a/c");
 * false when it climbs above its start. climbed (may be NULL) gets each
 * folder that a `..` climbs out of ("a/b" for "a/b/../c"). */
static bool normalise(const char *path, char *out, size_t size, struct dv_strv *climbed)
{
	size_t len = 0;

	out[0] = 0;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash;

			if (!len)
				return false;
			if (climbed)
				dv_strv_push(climbed, out);
			slash = strrchr(out, '/');
			len = slash ? (size_t)(slash - out) : 0;
			out[len] = 0;
		} else {
			if (len + n + 2 > size)
				return false;
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
			out[len] = 0;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return len > 0;
}

/* Is path at or below dir (both relative to the checkout)? */
static bool at_or_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == 0);
}

/* rel joins the paths, unless one there covers it already; those it
 * covers go (its read-only bind is recursive, and a folder is pinned
 * only on the way to a path, never over one). */
static void add_path(struct dv_strv *out, const char *rel)
{
	size_t j = 0;

	for (size_t i = 0; i < out->n; i++)
		if (at_or_below(rel, out->v[i]))
			return;
	for (size_t i = 0; i < out->n; i++) {
		if (at_or_below(out->v[i], rel))
			free(out->v[i]);
		else
			out->v[j++] = out->v[i];
	}
	out->n = j;
	if (out->v)
		out->v[j] = NULL;
	dv_strv_push(out, rel);
}

/* Where a path a config value names leads: from the folder base (absolute)
 * unless absolute, normalised, into abs (absolute). false when it cannot
 * be known here (`~`, `%(prefix)`, too long). up gets each folder a `..`
 * climbs out of (absolute, without the leading '/'). */
static bool resolve_abs(const char *base, const char *value, char *abs, size_t size,
			struct dv_strv *up)
{
	char joined[8300];
	int n;

	if (!*value || value[0] == '~' || !strncmp(value, "%(prefix)/", 10) || size < 2)
		return false;
	if (value[0] == '/')
		n = snprintf(joined, sizeof(joined), "%s", value);
	else
		n = snprintf(joined, sizeof(joined), "%s/%s", base, value);
	abs[0] = '/';
	return n >= 0 && (size_t)n < sizeof(joined) && normalise(joined, abs + 1, size - 1, up);
}

/* The folders of the checkout a `..` climbed out of (resolve_abs's up),
 * relative to it, but those in its .git, into climbed. */
static void climbed_in(const char *checkout, const struct dv_strv *up, struct dv_strv *climbed)
{
	for (size_t i = 0; i < up->n; i++) {
		char abs[8300];
		const char *r;

		snprintf(abs, sizeof(abs), "/%s", up->v[i]);
		if ((r = dv_path_below(abs, checkout)) && *r && !at_or_below(r, ".git"))
			dv_strv_push(climbed, r);
	}
}

/* Where a path a config value names leads, relative to the checkout: from
 * the folder base (absolute: the checkout for the worktree, its .git for
 * an include in .git/config) unless absolute. Into out ("" for the
 * checkout itself); false when it is outside the checkout or cannot be
 * known here. climbed gets the folders of the checkout a `..` climbs out
 * of. */
static bool resolve(const char *checkout, const char *base, const char *value, char *out,
		    size_t size, struct dv_strv *climbed)
{
	char norm[8300];
	struct dv_strv up = { 0 };
	const char *rel;

	if (!resolve_abs(base, value, norm, sizeof(norm), &up) ||
	    !(rel = dv_path_below(norm, checkout)) || strlen(rel) >= size) {
		dv_strv_release(&up);
		return false;
	}
	memcpy(out, rel, strlen(rel) + 1);
	climbed_in(checkout, &up, climbed);
	dv_strv_release(&up);
	return true;
}

/* What one repository's config files say (gitconfig.c). */
struct cfg_scan {
	int gitfd;           /* the git dir read: the checkout's .git, or a
				     worktree's common git dir */
	const char *gitroot; /* its path (absolute, real) */
	const char *checkout;
	char dir[4096]; /* the folder of the file read (absolute) */
	int depth;
	char worktree[4096]; /* core.worktree, the last one ("" when none) */
	/* every value: which one git takes may depend on an includeIf */
	struct dv_strv hooks, fsmonitor;
	struct dv_strv *out;
};

/* A path of the worktree a key names: read-only (and what a `..` in it
 * climbs out of). One in .git is so already; the checkout itself cannot
 * be, and for a folder of hooks that is said. */
static void add_named(struct cfg_scan *c, const char *base, const char *value, const char *key)
{
	struct dv_strv climbed = { 0 };
	char rel[4096];

	if (resolve(c->checkout, base, value, rel, sizeof(rel), &climbed)) {
		if (!*rel && !strcmp(key, "core.hooksPath"))
			fprintf(stderr,
				"devenv: warning: %s '%s' in the repository's config "
				"names the checkout itself, which cannot be made read-only: git "
				"on the host runs the hooks the env puts there; give the hooks a "
				"folder of their own\n",
				key, value);
		else if (*rel && !at_or_below(rel, ".git"))
			add_path(c->out, rel);
		for (size_t i = 0; i < climbed.n; i++)
			add_path(c->out, climbed.v[i]);
	}
	dv_strv_release(&climbed);
}

static void read_config(struct cfg_scan *c, const char *rel);

static void on_var(const char *var, const char *value, void *arg)
{
	struct cfg_scan *c = arg;
	size_t n = strlen(var);

	if (!value)
		return;
	if (!strcmp(var, "core.worktree")) {
		snprintf(c->worktree, sizeof(c->worktree), "%s", value); /* the last one wins */
	} else if (!strcmp(var, "core.hookspath")) {
		dv_strv_push(&c->hooks, value);
	} else if (!strcmp(var, "core.fsmonitor")) {
		dv_strv_push(&c->fsmonitor, value);
	} else if (!strcmp(var, "include.path") ||
		   (!strncmp(var, "includeif.", 10) && n > 15 && !strcmp(var + n - 5, ".path"))) {
		/* Whatever its condition: it may hold on the host. Relative
		 * to the folder of the file that includes it, as in git. One
		 * in the git dir is read (the env cannot have written it). */
		struct dv_strv up = { 0 }, climbed = { 0 };
		char abs[8300];
		const char *in;

		if (resolve_abs(c->dir, value, abs, sizeof(abs), &up) &&
		    (in = dv_path_below(abs, c->gitroot)) && *in) {
			climbed_in(c->checkout, &up, &climbed);
			for (size_t i = 0; i < climbed.n; i++)
				add_path(c->out, climbed.v[i]);
			if (c->depth < INCLUDE_DEPTH)
				read_config(c, in);
		} else {
			add_named(c, c->dir, value, "include.path");
		}
		dv_strv_release(&up);
		dv_strv_release(&climbed);
	}
}

/* Read the config file rel (relative to the git dir c->gitfd). */
static void read_config(struct cfg_scan *c, const char *rel)
{
	dv_autoclose int fd =
		dv_openat_beneath(c->gitfd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
	dv_autofree char *text = NULL;
	char saved[sizeof(c->dir)];
	struct stat st;
	size_t len;
	const char *slash;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX ||
	    dv_read_all(fd, &text, &len, &(struct dv_error){ 0 }) < 0)
		return;
	memcpy(saved, c->dir, sizeof(saved));
	slash = strrchr(rel, '/');
	if (slash)
		snprintf(c->dir, sizeof(c->dir), "%s/%.*s", c->gitroot, (int)(slash - rel), rel);
	else
		snprintf(c->dir, sizeof(c->dir), "%s", c->gitroot);
	c->depth++;
	prov_git_config_parse(text, len, on_var, c);
	c->depth--;
	memcpy(c->dir, saved, sizeof(saved));
}

/* The hooks folder and fsmonitor command, once the worktree (relative to
 * the checkout) is known: relative to it, as git runs hooks there. */
static void add_worktree_paths(struct cfg_scan *c, const char *worktree)
{
	for (size_t i = 0; i < c->hooks.n; i++)
		add_named(c, worktree, c->hooks.v[i], "core.hooksPath");
	/* A command: each word that is a path (a bare name is looked up in
	 * PATH, not in the worktree). */
	for (size_t i = 0; i < c->fsmonitor.n; i++) {
		dv_autofree char *words = dv_xstrdup(c->fsmonitor.v[i]);

		for (char *w = words + strspn(words, " \t\n"), *next; *w; w = next) {
			size_t n = strcspn(w, " \t\n");

			next = w + n + strspn(w + n, " \t\n");
			w[n] = 0;
			/* as a shell would see a simple word: "tools/x", 'x'; */
			w += strspn(w, "'\"");
			for (n = strlen(w); n && strchr("'\";&|", w[n - 1]); n--)
				w[n - 1] = 0;
			if (strchr(w, '/') && *w != '-')
				add_named(c, worktree, w, "core.fsmonitor");
		}
	}
}

static void cfg_scan_release(struct cfg_scan *c)
{
	dv_strv_release(&c->hooks);
	dv_strv_release(&c->fsmonitor);
}

/* One module folder <dir> of the git dir gitfd at gitroot (dir:
 * "modules/a", "modules/a/modules/b"): its working tree's .git, and what
 * its config names there. */
static void add_module(int gitfd, const char *gitroot, const char *checkout, const char *dir,
		       struct dv_strv *out)
{
	struct cfg_scan c = { .gitfd = gitfd, .gitroot = gitroot, .checkout = checkout, .out = out };
	dv_autofree char *cfg = dv_xasprintf("%s/config", dir);
	dv_autofree char *gitdir = dv_xasprintf("%s/%s", gitroot, dir);
	char rel[4096], dotgit[4200];
	struct dv_strv climbed = { 0 };

	read_config(&c, cfg);
	/* core.worktree is relative to the module's git dir, wherever it
	 * is written. */
	if (*c.worktree && resolve(checkout, gitdir, c.worktree, rel, sizeof(rel), &climbed) &&
	    *rel && !at_or_below(rel, ".git")) {
		dv_autofree char *wt = dv_xasprintf("%s/%s", checkout, rel);

		snprintf(dotgit, sizeof(dotgit), "%s/.git", rel);
		add_path(out, dotgit);
		add_worktree_paths(&c, wt);
	}
	dv_strv_release(&climbed);
	cfg_scan_release(&c);
}

/* Every module git dir below <dir> of the git dir gitfd: a folder holding
 * a `config` is one (its name may hold slashes: "lib/sub" lives in
 * modules/lib/sub), and its own submodules are in its `modules`; any
 * other folder is a part of a name. */
static void walk_modules(int gitfd, const char *gitroot, const char *checkout, const char *dir,
			 int depth, struct dv_strv *out)
{
	dv_autoclose int fd = -1;
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;

	if (depth > MODULES_DEPTH)
		return;
	fd = dv_openat_beneath(gitfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	d = fd < 0 ? NULL : dv_opendir_fd(fd);
	while (d && (de = readdir(d))) {
		dv_autofree char *sub = NULL;
		dv_autofree char *cfg = NULL;
		struct stat st;

		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		sub = dv_xasprintf("%s/%s", dir, de->d_name);
		cfg = dv_xasprintf("%s/config", de->d_name);
		if (fstatat(fd, cfg, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
			dv_autofree char *mods = dv_xasprintf("%s/modules", sub);

			add_module(gitfd, gitroot, checkout, sub, out);
			walk_modules(gitfd, gitroot, checkout, mods, depth + 1, out);
		} else {
			walk_modules(gitfd, gitroot, checkout, sub, depth + 1, out);
		}
	}
}

#define INDEX_MAX (256u << 20)

static unsigned be32(const unsigned char *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

/* Call fn for the path and mode of every entry of a git index (versions 2
 * to 4, SHA-1 object ids), in index order, until it returns true. false
 * when the text is not an index devenv can read (the caller then knows
 * nothing of its entries, as before). */
bool prov_git_index_each(const unsigned char *data, size_t len,
			 bool (*fn)(const char *path, unsigned mode, void *arg), void *arg)
{
	const unsigned char *p = data, *end = data + len;
	char path[4096] = "";
	size_t plen = 0;
	unsigned version, n;

	if (len < 12 || memcmp(data, "DIRC", 4))
		return false;
	version = be32(data + 4);
	n = be32(data + 8);
	if (version < 2 || version > 4)
		return false;
	p += 12;
	for (unsigned i = 0; i < n; i++) {
		const unsigned char *entry = p, *name;
		unsigned mode, flags;
		size_t fixed = 62, nlen;

		if ((size_t)(end - p) < fixed)
			return false;
		mode = be32(p + 24);
		flags = (unsigned)p[60] << 8 | p[61];
		if (version >= 3 && (flags & 0x4000))
			fixed += 2; /* extended flags */
		if ((size_t)(end - p) < fixed)
			return false;
		name = p + fixed;
		if (version == 4) {
			/* An offset-varint of how much of the previous path to
			 * drop, then the rest of this one, NUL-terminated. */
			size_t strip = 0;
			unsigned char c;

			do {
				if (name >= end)
					return false;
				c = *name++;
				strip = (strip << 7) | (c & 0x7f);
				if (c & 0x80)
					strip++;
			} while (c & 0x80);
			if (strip > plen)
				return false;
			plen -= strip;
		} else {
			plen = 0;
		}
		{
			const unsigned char *nul = memchr(name, 0, (size_t)(end - name));

			if (!nul)
				return false;
			nlen = (size_t)(nul - name);
			if (plen + nlen >= sizeof(path))
				return false;
			memcpy(path + plen, name, nlen);
			plen += nlen;
			path[plen] = 0;
			p = nul + 1;
		}
		if (version < 4) /* entries padded with NULs to a multiple of 8 */
			p = entry + ((size_t)(p - entry) + 7) / 8 * 8;
		if (p > end)
			return false;
		if (fn(path, mode, arg))
			break;
	}
	return true;
}

struct index_find {
	const char *path;
	bool found;
};

static bool find_entry(const char *path, unsigned mode, void *arg)
{
	struct index_find *f = arg;

	(void)mode;
	return (f->found = !strcmp(path, f->path));
}

bool prov_git_index_has(const unsigned char *data, size_t len, const char *path)
{
	struct index_find f = { path, false };

	return prov_git_index_each(data, len, find_entry, &f) && f.found;
}

struct gitlinks {
	int root; /* the checkout */
	struct dv_strv *out;
};

/* A gitlink (mode 160000) whose folder is there without a `.git`: the
 * folder itself. */
static bool add_gitlink(const char *path, unsigned mode, void *arg)
{
	struct gitlinks *g = arg;
	dv_autofree char *dotgit = NULL;
	struct stat st;

	if ((mode & 0170000) != 0160000 || !*path || !strcmp(path, ".git") ||
	    !strncmp(path, ".git/", 5))
		return false;
	dotgit = dv_xasprintf("%s/.git", path);
	if (fstatat(g->root, dotgit, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return false; /* checked out: its .git is found through .git/modules */
	if (fstatat(g->root, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return false;
	add_path(g->out, path);
	return false;
}

/* The index of the git dir gitfd, whole; NULL when there is none that
 * can be read (a regular file, not too large). */
static char *index_read(int gitfd, size_t *len)
{
	dv_autoclose int fd =
		dv_openat_beneath(gitfd, "index", O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
	char *data = NULL;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > INDEX_MAX ||
	    dv_read_all(fd, &data, len, &(struct dv_error){ 0 }) < 0)
		return NULL;
	return data;
}

static void add_gitlinks(int root, int gitfd, struct dv_strv *out)
{
	struct gitlinks g = { root, out };
	size_t len;
	dv_autofree char *data = index_read(gitfd, &len);

	if (data)
		prov_git_index_each((const unsigned char *)data, len, add_gitlink, &g);
}

#define DOTGIT_FILE_MAX 4096

/* The git dir of the checkout root: `.git` itself, or the folder a `.git`
 * file names ("gitdir: PATH", relative to the checkout), as a worktree's
 * and a submodule's have; -1 when there is none. */
static int git_dir_open(int root)
{
	dv_autoclose int fd = -1;
	dv_autofree char *text = NULL;
	struct stat st;
	size_t len;
	char *p;

	if (fstatat(root, ".git", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISDIR(st.st_mode))
		return openat(root, ".git", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	fd = openat(root, ".git", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > DOTGIT_FILE_MAX ||
	    dv_read_all(fd, &text, &len, &(struct dv_error){ 0 }) < 0 ||
	    strncmp(text, "gitdir:", 7) || strlen(text) != len)
		return -1;
	p = text + 7;
	p += strspn(p, " \t");
	p[strcspn(p, "\r\n")] = '\0';
	if (!*p)
		return -1;
	return openat(root, p, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* A small file name in dirfd (a regular file, no symlink), its first
 * line without the line end; NULL when there is none such. */
static char *read_line_at(int dirfd, const char *name)
{
	dv_autoclose int fd = dv_open_regular_at(dirfd, name, NULL);
	char *text = NULL;
	size_t len;

	if (fd < 0 || dv_read_all(fd, &text, &len, &(struct dv_error){ 0 }) < 0)
		return NULL;
	if (len > DOTGIT_FILE_MAX || strlen(text) != len) {
		free(text);
		return NULL;
	}
	text[strcspn(text, "\r\n")] = 0;
	return text;
}

/* A git worktree (`git worktree add`) as the host's git made it. */
struct worktree {
	char *common; /* the repository's (common) git dir: real path */
	char *gitdir; /* the worktree's own git dir, common/worktrees/NAME */
	int commonfd; /* common, O_PATH */
};

static void worktree_release(struct worktree *w)
{
	free(w->common);
	free(w->gitdir);
	if (w->commonfd >= 0)
		close(w->commonfd);
	*w = (struct worktree){ .commonfd = -1 };
}

/* The real path of value, relative to base unless absolute (the host's
 * view: symlinks followed); NULL when it does not exist. */
static char *real_from(const char *base, const char *value)
{
	dv_autofree char *joined = value[0] == '/' ? dv_xstrdup(value)
						   : dv_xasprintf("%s/%s", base, value);

	return realpath(joined, NULL);
}

/* Is the checkout a git worktree? Its `.git` file names the worktree's git
 * dir, whose `commondir` names the repository's. Neither is taken on the
 * word of the `.git` file, which is the checkout's, nor on that of a file
 * in the checkout: the git dir it names must be outside the checkout,
 * name this checkout's `.git` back (its `gitdir` file), and be
 * `worktrees/<name>` of a repository's git dir (HEAD, objects, refs)
 * outside the checkout, as `git worktree add` made them. 1 when it is
 * one (*out filled), 0 when not (no `.git` file, no `commondir`: a
 * submodule's), -1 when the `.git` file names a git dir failing these
 * checks, with why (for a warning) filled. */
static int worktree_open(int root, const char *checkout, struct worktree *out, char *why,
			 size_t size)
{
	dv_autofree char *line = read_line_at(root, ".git");
	dv_autofree char *gd = NULL;
	dv_autofree char *common = NULL;
	dv_autofree char *back = NULL;
	dv_autofree char *cd = NULL;
	dv_autofree char *wt = NULL;
	dv_autoclose int gdfd = -1;
	dv_autoclose int cdfd = -1;
	struct stat dotgit, st, st2;
	const char *p;

	*out = (struct worktree){ .commonfd = -1 };
	if (!line || strncmp(line, "gitdir:", 7))
		return 0;
	p = line + 7 + strspn(line + 7, " \t");
	if (!*p || fstatat(root, ".git", &dotgit, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (!(gd = real_from(checkout, p)) ||
	    (gdfd = open(gd, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0; /* git on the host cannot use it either */
	if (!(common = read_line_at(gdfd, "commondir")))
		return 0; /* a submodule's git dir, or one of a plain repository */
	if (dv_path_below(gd, checkout)) {
		snprintf(why, size,
			 "its git dir '%s' is inside the checkout, which the env can write", gd);
		return -1;
	}
	back = read_line_at(gdfd, "gitdir");
	if (back && back[0] != '/') { /* git 2.48's worktree.useRelativePaths */
		char *abs = dv_xasprintf("%s/%s", gd, back);

		free(back);
		back = abs;
	}
	if (!back || stat(back, &st) < 0 || st.st_dev != dotgit.st_dev ||
	    st.st_ino != dotgit.st_ino) {
		snprintf(why, size,
			 "its git dir '%s' belongs to another worktree (%s); run 'git "
			 "worktree repair' in the checkout",
			 gd, back ? back : "none");
		return -1;
	}
	if (!(cd = real_from(gd, common)) || dv_path_below(cd, checkout) ||
	    (cdfd = open(cd, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(why, size, "the repository's git dir '%s' (from '%s/commondir') is %s",
			 common, gd,
			 cd ? "inside the checkout, which the env can write" : "missing");
		return -1;
	}
	p = strrchr(gd, '/');
	wt = dv_xasprintf("worktrees/%s", p + 1);
	if (fstatat(cdfd, wt, &st, 0) < 0 || fstat(gdfd, &st2) < 0 || st.st_dev != st2.st_dev ||
	    st.st_ino != st2.st_ino || fstatat(cdfd, "HEAD", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fstatat(cdfd, "objects", &st, 0) < 0 || !S_ISDIR(st.st_mode) ||
	    fstatat(cdfd, "refs", &st, 0) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, size,
			 "'%s' (from '%s/commondir') is not the git dir of a repository "
			 "with this worktree",
			 cd, gd);
		return -1;
	}
	out->common = dv_steal_ptr(&cd);
	out->gitdir = dv_steal_ptr(&gd);
	out->commonfd = dv_steal_fd(&cdfd);
	return 1;
}

int prov_git_common_dir(const char *checkout, char **out, struct dv_error *err)
{
	dv_autoclose int root = dv_open_nosymlinks(checkout, O_PATH | O_DIRECTORY, 0);
	struct worktree w;
	char why[8400];
	int r;

	*out = NULL;
	if (root < 0)
		return dv_err(err, errno, "cannot open the checkout '%s'", checkout);
	r = worktree_open(root, checkout, &w, why, sizeof(why));
	if (r < 0)
		fprintf(stderr,
			"devenv: warning: '%s/.git' names a worktree git dir devenv does not "
			"mount: %s; git inside the env will not find the repository\n",
			checkout, why);
	if (r > 0)
		*out = dv_steal_ptr(&w.common);
	worktree_release(&w);
	return 0;
}

bool prov_git_tracked(const char *checkout, const char *relpath)
{
	dv_autoclose int root = dv_open_nosymlinks(checkout, O_PATH | O_DIRECTORY, 0);
	dv_autoclose int gitfd = root < 0 ? -1 : git_dir_open(root);
	dv_autofree char *data = NULL;
	size_t len;

	if (gitfd < 0 || !(data = index_read(gitfd, &len)))
		return false;
	return prov_git_index_has((const unsigned char *)data, len, relpath);
}

int prov_git_paths(const char *checkout, struct dv_strv *out, struct dv_error *err)
{
	dv_autoclose int root = dv_open_nosymlinks(checkout, O_PATH | O_DIRECTORY, 0);
	dv_autoclose int gitfd = -1;
	struct stat st;

	if (root < 0)
		return dv_err(err, errno, "cannot open the checkout '%s'", checkout);
	if (fstatat(root, ".git", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : dv_err(err, errno, "cannot read '%s/.git'", checkout);
	dv_strv_push(out, ".git");
	if (!S_ISDIR(st.st_mode)) {
		/* A worktree's: its repository's config names paths of this
		 * worktree too, and its own git dir holds its index and
		 * submodules. Outside the checkout, they are mounted
		 * read-only as they are (prov_git_common_dir). */
		struct worktree w;
		char why[8400];

		if (worktree_open(root, checkout, &w, why, sizeof(why)) > 0) {
			struct cfg_scan c = { .gitfd = w.commonfd,
					      .gitroot = w.common,
					      .checkout = checkout,
					      .out = out };
			const char *name = dv_path_below(w.gitdir, w.common);
			dv_autofree char *mods = dv_xasprintf("%s/modules", name);
			dv_autofree char *cfgwt = dv_xasprintf("%s/config.worktree", name);
			dv_autoclose int gdfd = dv_openat_beneath(w.commonfd, name,
								  O_PATH | O_DIRECTORY | O_NOFOLLOW,
								  0);

			walk_modules(w.commonfd, w.common, checkout, mods, 0, out);
			if (gdfd >= 0)
				add_gitlinks(root, gdfd, out);
			read_config(&c, "config");
			read_config(&c, cfgwt);
			add_worktree_paths(&c, checkout);
			cfg_scan_release(&c);
		}
		worktree_release(&w);
		return 0;
	}
	gitfd = openat(root, ".git", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (gitfd >= 0) {
		dv_autofree char *gitroot = dv_xasprintf("%s/.git", checkout);
		struct cfg_scan c = { .gitfd = gitfd,
				      .gitroot = gitroot,
				      .checkout = checkout,
				      .out = out };

		walk_modules(gitfd, gitroot, checkout, "modules", 0, out);
		add_gitlinks(root, gitfd, out);
		/* config.worktree counts only with extensions.worktreeConfig:
		 * read it anyway, a path too many costs nothing. */
		read_config(&c, "config");
		read_config(&c, "config.worktree");
		add_worktree_paths(&c, checkout);
		cfg_scan_release(&c);
	}
	return 0;
}


bool prov_git_paths_in(const char *checkout, const struct dv_strv *paths, const char *source,
		       struct dv_strv *out)
{
	for (size_t i = 0; i < paths->n; i++) {
		dv_autofree char *abs = dv_xasprintf("%s/%s", checkout, paths->v[i]);
		const char *rel;

		/* The mount is (inside) git metadata: all of it read-only. */
		if (dv_path_below(source, abs))
			return true;
		if ((rel = dv_path_below(abs, source)) && *rel)
			dv_strv_push(out, rel);
	}
	return false;
}
