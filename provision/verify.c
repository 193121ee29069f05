/*
 * provision/verify.c - `devenv verify [STEP...]`: is the cache what the
 * Envfile builds?
 *
 * Each step named (all by default) runs again, as prov_build runs it, in a
 * staging folder of its own on the cached layers below it (the chain the
 * env runs on, built here or taken from the team cache) with the epoch its
 * cached layer was built with (layer.json; else the spec's). Its files are
 * normalised as a build's are (normalise.c) and exported; the tar's
 * diff_id is compared with the cached layer's export. Nothing is
 * committed: the staging folder goes whatever happens. When they differ,
 * the two folders are walked side by side and each differing path printed
 * with what differs (type, mode, owner, mtime, content; "only in the
 * cache" / "only in the rebuild").
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
#include "util/hash.h"
#include "util/banned.h"

#define SECS_SINCE(t0) ((double)(dv_now_ns() - (t0)) / 1e9)
#define SHOW_MAX 40 /* differing paths printed per step */
#define MAX_DEPTH 200

struct cmp {
	unsigned shown, more;
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of folder fd (-1: none), sorted; *n of them. */
static char **names_of(int fd, size_t *n)
{
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;
	int dup_fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;

	*n = 0;
	if (dup_fd >= 0 && !(d = dv_opendir_fd(dup_fd)))
		close(dup_fd);
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = dv_xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = dv_xstrdup(de->d_name);
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_names);
	return v;
}

static void say(struct cmp *c, const char *path, const char *what)
{
	if (c->shown >= SHOW_MAX) {
		c->more++;
		return;
	}
	char safe[1024];

	c->shown++;
	printf("  /%s: %s\n", dv_str_safe(safe, sizeof(safe), path), what);
}

/* Do the contents of a/name and b/name (regular files, or links) differ? */
static bool content_differs(int a, int b, const char *name, const struct stat *sa,
			    const struct stat *sb)
{
	char ta[4096], tb[4096];

	if (S_ISLNK(sa->st_mode)) {
		ssize_t la = readlinkat(a, name, ta, sizeof(ta)),
			lb = readlinkat(b, name, tb, sizeof(tb));

		return la != lb || la < 0 || memcmp(ta, tb, (size_t)la) != 0;
	}
	if (!S_ISREG(sa->st_mode))
		return false;
	if (sa->st_size != sb->st_size)
		return true;
	dv_autoclose int fa = openat(a, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	dv_autoclose int fb = openat(b, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fa < 0 || fb < 0)
		return true;
	for (off_t off = 0;;) {
		ssize_t na = pread(fa, ta, sizeof(ta), off), nb = pread(fb, tb, sizeof(tb), off);

		if (na != nb || na < 0)
			return true;
		if (na == 0)
			return false;
		if (memcmp(ta, tb, (size_t)na) != 0)
			return true;
		off += na;
	}
}

static const char *type_of(mode_t m)
{
	return S_ISDIR(m) ? "folder" : S_ISLNK(m) ? "link" : S_ISREG(m) ? "file" : "special";
}

/* Walk folder a (the cache's; -1: absent) and b (the rebuild's) side by side. */
static void compare(struct cmp *c, int a, int b, const char *prefix, int depth)
{
	size_t na = 0, nb = 0, i = 0, j = 0;
	char **va = names_of(a, &na), **vb = names_of(b, &nb);

	while (depth < MAX_DEPTH && (i < na || j < nb)) {
		int o = i >= na ? 1 : j >= nb ? -1 : strcmp(va[i], vb[j]);
		const char *name = o <= 0 ? va[i] : vb[j];
		dv_autofree char *path = dv_xasprintf("%s%s", prefix, name);
		struct stat sa, sb;

		if (o < 0) {
			say(c, path, "only in the cache");
			i++;
			continue;
		}
		if (o > 0) {
			say(c, path, "only in the rebuild");
			j++;
			continue;
		}
		i++, j++;
		if (fstatat(a, name, &sa, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fstatat(b, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			say(c, path, "unreadable");
			continue;
		}
		if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
			dv_autofree char *what = dv_xasprintf("type (%s in the cache, %s rebuilt)",
							      type_of(sa.st_mode),
							      type_of(sb.st_mode));
			say(c, path, what);
			continue;
		}
		struct dv_buf what = { 0 };

		if (content_differs(a, b, name, &sa, &sb))
			dv_buf_addf(&what, "%scontent", what.len ? ", " : "");
		if ((sa.st_mode & 07777) != (sb.st_mode & 07777))
			dv_buf_addf(&what, "%smode (%04o, %04o rebuilt)", what.len ? ", " : "",
				    (unsigned)(sa.st_mode & 07777), (unsigned)(sb.st_mode & 07777));
		if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid)
			dv_buf_addf(&what, "%sowner (%u:%u, %u:%u rebuilt)", what.len ? ", " : "",
				    (unsigned)sa.st_uid, (unsigned)sa.st_gid, (unsigned)sb.st_uid,
				    (unsigned)sb.st_gid);
		if (!S_ISLNK(sa.st_mode) && (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
					     sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec))
			dv_buf_addf(&what, "%smtime (%lld, %lld rebuilt)", what.len ? ", " : "",
				    (long long)sa.st_mtim.tv_sec, (long long)sb.st_mtim.tv_sec);
		if (what.len)
			say(c, path, what.s);
		dv_buf_release(&what);
		if (S_ISDIR(sa.st_mode)) {
			dv_autoclose int sa_fd =
				openat(a, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dv_autoclose int sb_fd =
				openat(b, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dv_autofree char *sub = dv_xasprintf("%s/", path);

			compare(c, sa_fd, sb_fd, sub, depth + 1);
		}
	}
	for (i = 0; i < na; i++)
		free(va[i]);
	for (j = 0; j < nb; j++)
		free(vb[j]);
	free(va);
	free(vb);
}

/* Step i rebuilt on chain and compared with layer id: 0 same, 1 differs. */
static int verify_step(const struct dv_ctx *ctx, const struct layer_store *st,
		       const struct env_spec *spec, size_t i, const char *prev, const char *key,
		       const char *id, const struct dv_strv *chain, const char *env_id,
		       struct prov_team *team, struct dv_error *err)
{
	const char *source = NULL;
	char theirs[65];
	struct env_spec s = *spec;
	dv_autofree char *label = prov_step_label(&spec->provision[i]);
	dv_autofree char *staging = NULL, *diff = NULL, *cached = NULL;
	struct dv_error ignored = { 0 };
	char want[65], got[65];
	struct prov_progress pg;
	unsigned long long t0 = dv_now_ns();
	bool had_epoch;
	int ret = -1, r;

	/* The epoch it was built with; a layer built without one (or pulled)
	 * is rebuilt with the spec's. */
	s.source_date_epoch = layer_epoch(st, id);
	had_epoch = s.source_date_epoch != 0;
	if (!had_epoch)
		s.source_date_epoch = spec->source_date_epoch;
	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	diff = layer_staging_path(st, staging, "diff");
	/* As `up` shows a step: its output, or with -q only when it fails. */
	prov_progress_init(&pg, ctx, spec->n_provision);
	prov_progress_start(&pg, i, label);
	r = prov_run_step(st, &s, i, prev, key, chain, staging, env_id, err);
	prov_progress_end(&pg, i, label, r < 0 ? PROV_FAILED : PROV_RAN, SECS_SINCE(t0));
	prov_progress_release(&pg);
	if (r < 0 || layer_export(st, id, -1, want, NULL, err) < 0 ||
	    layer_export_dir(st, diff, -1, got, NULL, err) < 0)
		goto out;
	/* The team cache's layer for the key, when it is not the one we have. */
	if (prov_team_diff_id(team, key, &source, theirs) == 0 && strcmp(theirs, want) != 0) {
		char safe[512];

		printf("[%zu/%zu] %s: the team cache '%s' has sha256:%.12s for it, %s\n", i + 1,
		       spec->n_provision, label, dv_str_safe(safe, sizeof(safe), source), theirs,
		       strcmp(theirs, got) ? "not what this rebuild gives"
					   : "the same as this rebuild");
		if (strcmp(theirs, got) != 0)
			ret = 1;
	}
	if (!strcmp(want, got)) {
		printf("[%zu/%zu] %s: same layer (sha256:%s)\n", i + 1, spec->n_provision, label,
		       want);
		ret = ret == 1 ? 1 : 0;
		goto out;
	}
	printf("[%zu/%zu] %s: differs: sha256:%.12s in the cache, sha256:%.12s rebuilt%s\n", i + 1,
	       spec->n_provision, label, want, got,
	       had_epoch ? ""
			 : " (the cached layer was built with no SOURCE_DATE_EPOCH, by an older "
			   "devenv: its files keep the times of that build)");
	{
		struct cmp c = { 0 };
		cached = layer_diff_path(st, id);
		dv_autoclose int a = open(cached, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		dv_autoclose int b = open(diff, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		compare(&c, a, b, "", 0);
		if (c.more)
			printf("  ... and %u more\n", c.more);
		if (!c.shown) /* what the walk does not see: an attribute, a hard link */
			printf("  (no file differs in type, mode, owner, mtime or content: an "
			       "extended attribute or a hard link does)\n");
	}
	ret = 1;
out:
	layer_staging_discard(st, staging, &ignored);
	return ret;
}

int prov_verify(const struct dv_ctx *ctx, const struct layer_store *st, const struct env_spec *spec,
		const struct layer_image *base, const struct dv_strv *keys, struct prov_team *team,
		const bool *which, struct dv_error *err)
{
	const char *base_key = strncmp(base->id, "sha256:", 7) == 0 ? base->id + 7 : base->id;
	struct layer_cache_scope scope = { &spec->cache_from, NULL };
	struct dv_strv chain = { 0 };
	char env_id[13] = "";
	size_t last = 0;
	int ret = -1;
	bool differs = false;

	if (spec->checkout && spec->relpath) {
		prov_env_id(spec->checkout, spec->relpath, env_id);
		scope.env = env_id;
	}
	for (size_t i = 0; i < spec->n_provision; i++)
		if (!which || which[i])
			last = i + 1;
	if (last == 0) {
		printf("no provisioning steps to verify\n");
		return 0;
	}
	for (size_t i = 0; i < base->layers.n; i++)
		dv_strv_push(&chain, base->layers.v[i]);
	for (size_t i = 0; i < last; i++) {
		struct dv_error miss = { 0 };
		char id[65];
		int r;

		if (layer_cache_get(st, keys->v[i], &scope, id, &miss) < 0) {
			dv_autofree char *label = prov_step_label(&spec->provision[i]);

			if (miss.errnum != ENOENT) {
				*err = miss;
				goto out;
			}
			dv_err_at(err, spec->display, spec->provision[i].line,
				  spec->provision[i].col,
				  "step %zu (%s) is not in the cache: there is nothing to verify "
				  "it against; 'devenv up' builds it",
				  i + 1, label);
			err->status = 1; /* no fault of the Envfile's */
			goto out;
		}
		if (!which || which[i]) {
			r = verify_step(ctx, st, spec, i, i ? keys->v[i - 1] : base_key, keys->v[i],
					id, &chain, env_id, team, err);
			if (r < 0)
				goto out;
			differs |= r == 1;
		}
		dv_strv_push(&chain, id);
	}
	ret = differs ? 1 : 0;
out:
	dv_strv_release(&chain);
	return ret;
}
