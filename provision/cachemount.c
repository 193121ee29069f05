/*
 * provision/cachemount.c - the folders of `cache` paths (envfile/cache.c):
 * caches/<env id>/<name> in the store, <name> the path without its
 * leading '/' and with each other '/' written '+' ("root+.cache+pip"),
 * mounted at the path while a `run` step runs and kept across builds.
 *
 * Keyed by the env id (the checkout's real path and its Envfile's), so a
 * project never reads what another project's steps left there, and two
 * checkouts of one project have a cache each. A path is not a project,
 * though: one cloned where a destroyed one was gets the same id. So
 * caches/<env id>/+checkout records the checkout (device and inode of its
 * root) and a build of another checkout empties the folder before its
 * steps may read (or poison) what is there. One env's builds are one
 * at a time (its lock), so a cache folder has one writer. The mount's
 * target is made in the build container's skeleton (container/overlay.c),
 * never in the step's upper: the layer holds neither what the cache holds
 * nor an empty folder for it. Not part of any key: a step whose input
 * changes runs again over what the last run left in its caches.
 *
 * `destroy` leaves them (the next env of that checkout starts warm); `gc
 * --caches` removes them all; `df` shows them. The store's `store.lock`
 * is held shared by every build and exclusive by gc, so no step writes in
 * a cache gc removes.
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
#include "util/banned.h"

#define CACHES "caches"
/* Beside the cache folders, a file no cache's name can be (a name never
 * starts with '+', and df and gc look at folders only). */
#define CHECKOUT_STAMP "+checkout"

static char *cache_name(const char *path)
{
	char *s = dv_xstrdup(path + 1);

	for (char *p = s; *p; p++)
		if (*p == '/')
			*p = '+';
	return s;
}

/* The step's caches: the top-level ones, then its own that are not among
 * them; pointers into spec and step. */
static size_t step_caches(const struct env_spec *spec, const struct env_step *step, const char **out)
{
	size_t n = 0;

	for (size_t i = 0; i < spec->n_cache; i++)
		out[n++] = spec->cache[i].path;
	for (size_t i = 0; i < step->n_cache; i++) {
		bool dup = false;

		for (size_t j = 0; j < spec->n_cache && !dup; j++)
			dup = strcmp(spec->cache[j].path, step->cache[i].path) == 0;
		if (!dup)
			out[n++] = step->cache[i].path;
	}
	return n;
}

/* caches/<env id> is this checkout's: empty it when the stamp names
 * another (or none: made before the stamp), then stamp it. */
static int cache_claim(const struct layer_store *st, const char *env_id, const char *checkout,
		       struct dv_error *err)
{
	dv_autofree char *dir = dv_xasprintf(CACHES "/%s", env_id);
	dv_autofree char *stamp = dv_xasprintf(CACHES "/%s/" CHECKOUT_STAMP, env_id);
	char want[48], have[48] = "";
	struct stat sb;
	ssize_t r = -1;
	int fd;

	if (stat(checkout, &sb) < 0)
		return dv_err(err, errno, "cannot read the checkout '%s'", checkout);
	snprintf(want, sizeof(want), "%llu:%llu\n", (unsigned long long)sb.st_dev,
		 (unsigned long long)sb.st_ino);
	fd = openat(st->root_fd, stamp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		r = read(fd, have, sizeof(have) - 1);
		close(fd);
	}
	have[r > 0 ? r : 0] = '\0';
	if (strcmp(have, want) == 0)
		return 0;
	if (dv_rm_tree_at(st->root_fd, dir, err) < 0 ||
	    dv_mkdirat_ok(st->root_fd, dir, 0755, err) < 0)
		return -1;
	fd = openat(st->root_fd, stamp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return dv_err(err, errno, "cannot write '%s/%s'", st->root, stamp);
	r = dv_write_full(fd, want, strlen(want), err);
	close(fd);
	return r < 0 ? -1 : 0;
}

int prov_cache_mounts(struct prov_ctr *c, const struct layer_store *st, const struct env_spec *spec,
		      const struct env_step *step, const char *env_id, struct dv_error *err)
{
	dv_autofree const char **paths = NULL;
	size_t n;

	if (!spec->n_cache && !step->n_cache)
		return 0;
	paths = dv_xcalloc(spec->n_cache + step->n_cache, sizeof(*paths));
	n = step_caches(spec, step, paths);
	if (!env_id || !env_id[0]) /* never: a built spec has a checkout (prov_build) */
		return dv_err_plain(err, EINVAL, "a step's caches need its env's id");
	if (dv_mkdirat_ok(st->root_fd, CACHES, 0755, err) < 0)
		return -1;
	{
		dv_autofree char *rel = dv_xasprintf(CACHES "/%s", env_id);

		if (dv_mkdirat_ok(st->root_fd, rel, 0755, err) < 0 ||
		    cache_claim(st, env_id, spec->checkout, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		dv_autofree char *name = cache_name(paths[i]);
		dv_autofree char *rel = dv_xasprintf(CACHES "/%s/%s", env_id, name);
		struct ctr_mount *m;

		if (dv_mkdirat_ok(st->root_fd, rel, 0755, err) < 0)
			return -1;
		dv_strv_push_owned(&c->paths, dv_xasprintf("%s/%s", st->root, rel));
		m = prov_ctr_mount_add(c);
		m->source = c->paths.v[c->paths.n - 1];
		m->target = paths[i];
		m->skeleton = true;
	}
	return 0;
}

static bool env_id_name(const char *s)
{
	return strlen(s) == 12 && strspn(s, "0123456789abcdef") == 12;
}

/* Each caches/<env id> folder, as an open fd, to fn. */
static int each_env(const struct layer_store *st,
		    int (*fn)(int dfd, const char *env_id, void *arg, struct dv_error *err),
		    void *arg, struct dv_error *err)
{
	dv_autoclose int fd =
		openat(st->root_fd, CACHES, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *e;
	struct dv_strv ids = { 0 };
	int ret = 0;

	if (fd < 0)
		return errno == ENOENT ? 0
				       : dv_err(err, errno, "cannot open '%s/" CACHES "'", st->root);
	d = fdopendir(fd);
	if (!d)
		return dv_err(err, errno, "cannot read '%s/" CACHES "'", st->root);
	fd = -1; /* the DIR's now */
	while ((e = readdir(d)) != NULL)
		if (env_id_name(e->d_name))
			dv_strv_push(&ids, e->d_name);
	for (size_t i = 0; i < ids.n && ret == 0; i++) {
		dv_autoclose int efd =
			openat(dirfd(d), ids.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (efd >= 0)
			ret = fn(efd, ids.v[i], arg, err);
	}
	closedir(d);
	dv_strv_release(&ids);
	return ret;
}

struct list_arg {
	struct prov_cache **out;
	size_t *n;
};

static int list_one(int efd, const char *env_id, void *arg, struct dv_error *err)
{
	struct list_arg *a = arg;
	dv_autoclose int fd = openat(efd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	(void)err;
	if (!d)
		return 0;
	fd = -1;
	while ((e = readdir(d)) != NULL) {
		struct prov_cache *c;

		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		*a->out = dv_xrealloc(*a->out, (*a->n + 1) * sizeof(**a->out));
		c = &(*a->out)[(*a->n)++];
		memset(c, 0, sizeof(*c));
		snprintf(c->env_id, sizeof(c->env_id), "%s", env_id);
		c->path = dv_xasprintf("/%s", e->d_name);
		for (char *p = c->path; *p; p++)
			if (*p == '+')
				*p = '/';
		c->bytes = dv_du_at(dirfd(d), e->d_name);
	}
	closedir(d);
	return 0;
}

int prov_cache_list(const struct layer_store *st, struct prov_cache **out, size_t *n,
		    struct dv_error *err)
{
	struct list_arg a = { out, n };

	*out = NULL;
	*n = 0;
	if (each_env(st, list_one, &a, err) < 0) {
		prov_caches_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

void prov_caches_free(struct prov_cache *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}

int prov_cache_clear(const struct layer_store *st, unsigned *n, unsigned long long *bytes,
		     struct dv_error *err)
{
	struct prov_cache *all = NULL;
	size_t k = 0;
	struct dv_strv ids = { 0 };
	int ret = -1;

	if (prov_cache_list(st, &all, &k, err) < 0)
		return -1;
	for (size_t i = 0; i < k; i++) {
		bool seen = false;

		*bytes += all[i].bytes;
		for (size_t j = 0; j < ids.n && !seen; j++)
			seen = strcmp(ids.v[j], all[i].env_id) == 0;
		if (!seen)
			dv_strv_push(&ids, all[i].env_id);
	}
	for (size_t i = 0; i < ids.n; i++) {
		dv_autofree char *rel = dv_xasprintf(CACHES "/%s", ids.v[i]);

		if (dv_rm_tree_at(st->root_fd, rel, err) < 0)
			goto out;
	}
	*n += (unsigned)k;
	ret = 0;
out:
	prov_caches_free(all, k);
	dv_strv_release(&ids);
	return ret;
}
