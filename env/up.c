/*
 * provision/env.c - an env's life: locate it, up, halt, provision, destroy.
 *
 * The env lives in envs/<id>/ (state.json, upper/, work/, log). Its mounts
 * exist only inside its own mount namespace, so a killed init leaves nothing
 * mounted on the host and the next `up` simply starts a new one on the same
 * files. Every change to an env happens under envs/<id>.lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "provision.h"
#include "util/fault.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/userns.h"
#include "util/banned.h"

void prov_env_release(struct prov_env *env)
{
	ctr_state_release(&env->state);
	env_spec_release(&env->spec);
	if (env->lock_fd >= 0)
		close(env->lock_fd);
	memset(env, 0, sizeof(*env));
	env->lock_fd = -1;
}

static int envs_fd(const struct layer_store *st)
{
	return openat(st->root_fd, "envs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int prov_env_list(const struct layer_store *st, struct dv_strv *damaged, struct ctr_state **out,
		  size_t *n, struct dv_error *err)
{
	dv_autoclose int fd = envs_fd(st);
	dv_autoclosedir DIR *d = fd < 0 ? NULL : dv_opendir_fd(fd);
	struct dirent *de;
	struct ctr_state *v = NULL;
	size_t count = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return dv_err(err, errno, "cannot read '%s/envs'", st->root);
	while ((de = readdir(d))) {
		struct ctr_state s = { 0 };
		struct dv_error ignored = { 0 };

		if (!dv_str_is_hex(de->d_name, 12))
			continue;
		if (ctr_state_read(fd, de->d_name, &s, &ignored) < 0) {
			ctr_state_release(&s);
			if (damaged && ignored.errnum != ENOENT)
				dv_strv_push(damaged, de->d_name);
			continue;
		}
		v = dv_xrealloc(v, (count + 1) * sizeof(*v));
		v[count++] = s;
	}
	*out = v;
	*n = count;
	return 0;
}

/* -e NAME|ID: an exact name, or an id prefix. */
static int locate_by_selector(const struct layer_store *st, const char *sel, struct prov_env *out,
			      struct dv_error *err)
{
	struct ctr_state *all;
	size_t n, match = SIZE_MAX, hits = 0;
	struct dv_buf names = { 0 };
	struct dv_strv damaged = { 0 };
	const char *broken = NULL;

	if (prov_env_list(st, &damaged, &all, &n, err) < 0)
		return -1;
	/* A damaged env goes by its id alone: its record holds no name. */
	for (size_t i = 0; i < damaged.n; i++) {
		if (strlen(sel) < 3 || !dv_str_startswith(damaged.v[i], sel))
			continue;
		dv_buf_addf(&names, "%s%s (damaged)", hits ? ", " : "", damaged.v[i]);
		broken = damaged.v[i];
		hits++;
	}
	for (size_t i = 0; i < n; i++) {
		bool by_id = strlen(sel) >= 3 && dv_str_startswith(all[i].id, sel);

		if (strcmp(all[i].name, sel) && !by_id)
			continue;
		dv_buf_addf(&names, "%s%s (%s, %s)", hits ? ", " : "", all[i].id, all[i].name,
			    all[i].checkout);
		match = i;
		broken = NULL;
		hits++;
	}
	if (hits == 1 && broken) {
		dv_autoclose int fd = envs_fd(st);
		struct ctr_state none = { 0 };

		snprintf(out->id, sizeof(out->id), "%s", broken);
		/* Read again for its one line (EBADMSG: destroy -e acts on it). */
		if (fd < 0 || ctr_state_read(fd, out->id, &none, err) == 0)
			dv_err_plain(err, EBADMSG, "env %s is damaged; 'devenv destroy -e %s' removes it",
				     out->id, out->id);
		ctr_state_release(&none);
		hits = 0;
	} else if (hits == 1) {
		out->state = all[match];
		memset(&all[match], 0, sizeof(all[match]));
		out->has_state = true;
		snprintf(out->id, sizeof(out->id), "%s", out->state.id);
	} else if (hits == 0 && !dv_err_isset(err)) {
		const char **cands = dv_xcalloc(n + 1, sizeof(*cands));
		struct dv_buf hint = { 0 };

		for (size_t i = 0; i < n; i++)
			cands[i] = all[i].name;
		dv_suggest(sel, cands, n, &hint); /* git's "did you mean" */
		dv_err_plain(err, ENOENT, "no env named '%s'%s; 'devenv ls' lists them", sel,
			     hint.s ? hint.s : "");
		dv_buf_release(&hint);
		free(cands);
	} else {
		dv_err_usage(err, "'%s' names %zu envs: %s; use the id", sel, hits, names.s);
	}
	for (size_t i = 0; i < n; i++)
		ctr_state_release(&all[i]);
	free(all);
	dv_buf_release(&names);
	dv_strv_release(&damaged);
	return hits == 1 ? 0 : -1;
}

static char *display_name(const char *path)
{
	char cwd[PATH_MAX];
	size_t n;

	if (getcwd(cwd, sizeof(cwd)) && (n = strlen(cwd)) && strncmp(path, cwd, n) == 0 &&
	    path[n] == '/')
		return dv_xstrdup(path + n + 1);
	return dv_xstrdup(path);
}

int prov_env_locate(const struct dv_ctx *ctx, const struct layer_store *st, bool need_spec,
		    struct prov_env *out, struct dv_error *err)
{
	dv_autofree char *path = NULL;
	dv_autofree char *checkout = NULL;
	dv_autoclose int efd = -1;
	struct dv_error miss = { 0 };

	out->lock_fd = -1;
	if (ctx->env_sel) {
		if (locate_by_selector(st, ctx->env_sel, out, err) < 0)
			return -1;
		if (!need_spec)
			return 0;
		path = dv_xasprintf("%s/%s", out->state.checkout, out->state.envfile);
		checkout = dv_xstrdup(out->state.checkout);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return dv_err(err, errno, "cannot read the current folder");
		if (envfile_find(cwd, &path, &checkout, err) < 0)
			return -1;
		prov_env_id(checkout, path + strlen(checkout) + 1, out->id);
		efd = envs_fd(st);
		if (efd >= 0 && ctr_state_read(efd, out->id, &out->state, &miss) == 0)
			out->has_state = true;
		else if (efd >= 0 && miss.errnum != ENOENT)
			return *err = miss, -1;
	}
	if (need_spec) {
		dv_autofree char *disp = display_name(path);

		if (envfile_load(path, checkout, disp, &out->spec, err) < 0)
			return -1;
		out->has_spec = true;
		if (prov_spec_read_inputs(&out->spec, err) < 0)
			return -1;
	}
	return 0;
}

void prov_env_commit_mark(const struct layer_store *st, const struct prov_env *env, bool set)
{
	dv_autoclose int fd = envs_fd(st);
	char mark[64];

	snprintf(mark, sizeof(mark), "%s/commit-frozen", env->id);
	if (fd < 0)
		return;
	if (set) {
		int m = openat(fd, mark, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (m >= 0)
			close(m);
	} else {
		unlinkat(fd, mark, 0);
	}
}

int prov_env_lock(const struct layer_store *st, struct prov_env *env, struct dv_error *err)
{
	dv_autoclose int fd = envs_fd(st);
	char name[64], what[128];

	if (env->lock_fd >= 0)
		return 0;
	snprintf(name, sizeof(name), "%s.lock", env->id);
	snprintf(what, sizeof(what), "env %s", env->id);
	env->lock_fd = dv_lock_at(fd, name, true, what, err);
	if (env->lock_fd < 0)
		return -1;
	/* Another devenv may have changed it while we waited: read it again. */
	ctr_state_release(&env->state);
	env->has_state = ctr_state_read(fd, env->id, &env->state, &(struct dv_error){ 0 }) == 0;
	/* A commit marks the env it freezes, and unmarks it once thawed,
	 * holding this lock all along: marked now, it was killed meanwhile,
	 * and the env is not suspended but stranded frozen. */
	snprintf(name, sizeof(name), "%s/commit-frozen", env->id);
	if (env->has_state && faccessat(fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ctr_cgroup_freeze(&env->state.cgroups, false, 0, &(struct dv_error){ 0 }) == 0)
		unlinkat(fd, name, 0);
	return 0;
}

int prov_env_locks_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err)
{
	dv_autoclose int fd = envs_fd(st);
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;

	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s/envs'", st->root);
	d = fdopendir(dup(fd));
	if (!d)
		return dv_err(err, errno, "cannot read '%s/envs'", st->root);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char env[64];
		struct stat sb;
		int lock;

		if (len <= 5 || len - 5 >= sizeof(env) || strcmp(de->d_name + len - 5, ".lock"))
			continue;
		snprintf(env, sizeof(env), "%.*s", (int)(len - 5), de->d_name);
		if (fstatat(fd, env, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		/* Its env is gone: unless someone holds it (an `up` about to
		 * make the env), it goes, unlinked while we hold it. */
		lock = openat(fd, de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (lock < 0)
			continue;
		if (flock(lock, LOCK_EX | LOCK_NB) == 0 && fstatat(fd, env, &sb, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT && unlinkat(fd, de->d_name, 0) == 0)
			(*removed)++;
		close(lock);
	}
	return 0;
}

int prov_env_lock_existing(const struct layer_store *st, struct prov_env *env,
			   struct dv_error *err)
{
	if (!env->has_state)
		return dv_err_plain(err, ENOENT, "env %s was never brought up; 'devenv up' creates it",
				    env->id);
	if (prov_env_lock(st, env, err) < 0)
		return -1;
	if (!env->has_state) { /* destroyed while we waited for the lock */
		dv_autoclose int fd = envs_fd(st);
		char name[32];

		/* The lock we made again for it goes too. */
		snprintf(name, sizeof(name), "%s.lock", env->id);
		if (fd >= 0)
			unlinkat(fd, name, 0);
		close(env->lock_fd);
		env->lock_fd = -1;
		return dv_err_plain(err, ENOENT, "env %s was destroyed meanwhile", env->id);
	}
	return 0;
}

static bool strv_equal(const struct dv_strv *a, const struct dv_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

/* A short name (`postgres:15`, `team/app`) in no record of the store, as
 * Docker reads it: docker.io/library/postgres:15, through
 * DEVENV_REGISTRY_MIRROR when set (layers/registry.c). Stored under that
 * full name, which layer_image_resolve() finds for the short one next time
 * (after a `localhost/` image of that name: local first). */
static int pull_short_name(const struct layer_store *st, const char *ref, struct layer_image *img,
			   struct dv_error *err)
{
	const char *mirror = getenv("DEVENV_REGISTRY_MIRROR");
	dv_autofree char *full = NULL;
	struct dv_error fail = { 0 };

	if (layer_ref_normalize(ref, false, &full, err) < 0)
		return -1;
	if (mirror && !*mirror)
		mirror = NULL;
	fprintf(stderr, "devenv: image '%s' is not in the store; pulling %s%s%s\n", ref, full,
		mirror ? " through the mirror " : "", mirror ? mirror : "");
	if (layer_image_pull(st, full, img, &fail) == 0)
		return 0;
	if (fail.errnum == ENOSPC || fail.errnum == EDQUOT || fail.errnum == EACCES) {
		*err = fail;
		return -1;
	}
	return dv_err_plain(err, fail.errnum ? fail.errnum : ENOENT,
			    "image '%s' is not in the store and cannot be pulled as %s (%s); "
			    "import one with 'devenv image import FILE %s' or pull it",
			    ref, full, fail.msg, ref);
}

/* The image, bootstrapping the default Debian image the first time, or
 * pulling one whose reference names a registry host, or a short name from
 * Docker Hub (or its mirror). */
int prov_resolve_image(const struct layer_store *st, const struct env_spec *spec, const char *ref,
		       struct prov_team *team, struct layer_image *img, struct dv_error *err)
{
	struct dv_error miss = { 0 };
	bool foreign = false;
	int found;

	if (layer_image_resolve(st, ref, img, &miss) == 0) {
		if (prov_team_vouches(spec, img))
			return 0;
		/* Another project's cache_from put it here: not ours to run on.
		 * What follows (bootstrap, pull) replaces it with our own. */
		dv_err_plain(&miss, ENOENT, "image '%s' in this store was taken from cache_from "
			     "'%s' for another env, so it is not used here; import or pull your "
			     "own (it replaces that one)", ref, img->from);
		layer_image_release(img);
		foreign = true;
	}
	/* A base no registry serves: the one a teammate's pushed env was built
	 * on, so that their keys are ours. */
	if (miss.errnum == ENOENT && team &&
	    (!layer_ref_has_host(ref) || dv_str_startswith(ref, "localhost/"))) {
		layer_image_release(img);
		if ((found = prov_team_base(st, team, ref, img, err)) <= 0)
			return found;
	}
	/* `localhost/NAME` is how the store names what it imported, committed
	 * or tagged: such an image missing is not pulled from port 80 of this
	 * machine (a registry here is written with its port, localhost:5000/x,
	 * and is a trust request). `devenv pull` still can, when asked. */
	if (miss.errnum == ENOENT && layer_ref_has_host(ref) && !dv_str_startswith(ref, "localhost/")) {
		fprintf(stderr, "devenv: image '%s' is not in the store; pulling it\n", ref);
		layer_image_release(img);
		return layer_image_pull(st, ref, img, err);
	}
	/* Not a short name (`localhost/NAME`), or one whose record here is
	 * another env's: pulled, it would stay behind that record. */
	if (miss.errnum != ENOENT || layer_ref_has_host(ref) ||
	    (foreign && !dv_str_startswith(ref, "debian:"))) {
		*err = miss;
		return -1;
	}
	layer_image_release(img);
	if (dv_str_startswith(ref, "debian:")) {
		fprintf(stderr, "devenv: image '%s' is not in the store; building it from the Debian "
			"mirror (once)\n", ref);
		return layer_image_bootstrap(st, ref, img, err);
	}
	return pull_short_name(st, ref, img, err);
}

/* What the Envfile asks for: the image, the step keys, the spec digest,
 * and (after build) the full layer chain. */
struct plan {
	struct layer_image img;
	struct prov_team *team; /* cache_from, or NULL */
	bool pinned;            /* img is a team's base standing for spec->image */
	struct dv_strv keys, layers;
	char *digest;
	struct layer_image *svc_imgs; /* one per service of the spec */
	size_t n_svc;
};

static void plan_release(struct plan *p)
{
	prov_team_free(p->team);
	layer_image_release(&p->img);
	dv_strv_release(&p->keys);
	dv_strv_release(&p->layers);
	free(p->digest);
	prov_services_images_release(p->svc_imgs, p->n_svc);
	memset(p, 0, sizeof(*p));
}

/* The team base this env's record pins for its `image:` (state.json
 * image_for), while the Envfile names the same `image:`, the store still
 * has it and it vouches for this env (taken for it, or the Envfile names
 * its source: a `reload` or `up` without --cache-from keeps it): 0 and
 * img, no network; 1 otherwise. */
static int pinned_base(const struct layer_store *st, const struct prov_env *env,
		       struct layer_image *img)
{
	const struct ctr_state *s = &env->state;

	if (!env->has_state || !s->image_for || strcmp(s->image_for, env->spec.image) ||
	    layer_image_resolve(st, s->image, img, &(struct dv_error){ 0 }) < 0)
		return 1;
	if (!strcmp(img->id, s->image_id) && prov_team_vouches(&env->spec, img))
		return 0;
	layer_image_release(img);
	return 1;
}

/* Does the local cache lack the last step's key? Keys chain, so then some
 * step would be built (or taken from the team cache). */
static bool would_build(const struct layer_store *st, const struct env_spec *spec,
			const struct dv_strv *keys)
{
	char env_id[13] = "", id[65];
	struct layer_cache_scope scope = { &spec->cache_from, NULL };

	if (!keys->n)
		return false;
	if (spec->checkout && spec->relpath) {
		prov_env_id(spec->checkout, spec->relpath, env_id);
		scope.env = env_id;
	}
	return layer_cache_get(st, keys->v[keys->n - 1], &scope, id, &(struct dv_error){ 0 }) < 0;
}

/* refresh: ask git remotes for their current commits (provision, reload)
 * rather than use the ones remembered (git.c).
 *
 * One base for a team: when the store's image of the Envfile's name (a
 * `debian:bookworm` bootstrapped here) is not the one the cache_from image
 * was built on, and a step would be built, the cache's base is taken by
 * its digest and used for this env only (p->pinned: state.json keeps it,
 * so later ups use it with no network); the store's image of that name is
 * left alone, for the envs that use it. */
static int plan_make(const struct layer_store *st, struct prov_env *env, bool refresh,
		     struct plan *p, struct dv_error *err)
{
	struct env_spec *spec = &env->spec;
	dv_autoclose int gitdir = -1;
	bool building;
	int r;

	p->team = prov_team_new(spec);
	p->pinned = pinned_base(st, env, &p->img) == 0;
	if ((!p->pinned && prov_resolve_image(st, spec, spec->image, p->team, &p->img, err) < 0) ||
	    prov_git_resolve(st, spec, refresh, err) < 0 ||
	    (gitdir = prov_git_dir(st, err)) < 0 ||
	    prov_keys_at(spec, p->img.id, gitdir, &p->keys, err) < 0)
		return -1;
	/* Asked when the env is new (which base it has is decided then, even
	 * when another env of the store built the same steps on the store's
	 * image) or when a step would be built: an env that exists and has
	 * nothing to build never opens a registry. */
	building = p->team && !layer_ref_has_host(spec->image) && would_build(st, spec, &p->keys);
	if (p->team && !layer_ref_has_host(spec->image) && (building || !env->has_state)) {
		struct layer_image pin = { 0 };

		if ((r = prov_team_pin(st, p->team, spec->image, &p->img, !building, &pin, err)) < 0)
			return -1;
		if (r == 0) {
			layer_image_release(&p->img);
			p->img = pin;
			p->pinned = true;
			dv_strv_release(&p->keys);
			if (prov_keys_at(spec, p->img.id, gitdir, &p->keys, err) < 0)
				return -1;
		}
	}
	if (prov_services_resolve(st, spec, &p->svc_imgs, err) < 0)
		return -1;
	p->n_svc = spec->n_services;
	p->digest = prov_spec_digest(spec, p->img.id, &p->keys);
	return 0;
}

/* Say what changed between the running env and the Envfile, and what
 * `reload` would do about it: a changed image or step means new layers,
 * on which the env is recreated (reset_upper); anything else restarts it
 * on the files it has. Said with -q too: the change is not applied. */
static void report_change(const struct prov_env *env, const struct plan *p)
{
	const struct env_spec *spec = &env->spec;
	const char *tail = "; 'devenv reload' rebuilds the env: every file outside the checkout "
			   "and volumes is reset";
	size_t i;

	if (strcmp(p->img.id, env->state.image_id) != 0) {
		printf("env '%s' is running, but its image changed (now '%s')%s\n", spec->name,
		       p->img.name, tail);
		return;
	}
	for (i = 0; i < p->keys.n && i < env->state.steps.n; i++)
		if (strcmp(p->keys.v[i], env->state.steps.v[i]))
			break;
	if (i < p->keys.n && i < spec->n_provision)
		printf("env '%s' is running, but provisioning step %zu (%s:%u) changed%s\n",
		       spec->name, i + 1, spec->display, spec->provision[i].line, tail);
	else if (p->keys.n != env->state.steps.n)
		printf("env '%s' is running, but its provisioning steps changed%s\n", spec->name, tail);
	else
		printf("env '%s' is running, but its Envfile changed; 'devenv reload' restarts it with "
		       "the change (its files are kept)\n",
		       spec->name);
}

static void fill_state(struct ctr_state *s, const struct prov_env *env, const struct plan *p)
{
	const struct env_spec *spec = &env->spec;
	long long created = s->created ? s->created : (long long)time(NULL);
	struct ctr_init init = s->init;
	struct dv_strv cgroups = s->cgroups;
	char *seccomp = s->seccomp;
	unsigned long long caps = s->caps;
	struct ctr_service_state *services = s->services;
	size_t n_services = s->n_services;
	/* What the last start left to sweep (sweep.c) stays until swept. */
	struct ctr_state own = { .ownership = s->ownership, .host_uid = s->host_uid,
				 .host_gid = s->host_gid, .started_ns = s->started_ns,
				 .sweep_pending = s->sweep_pending, .mounts = s->mounts,
				 .n_mounts = s->n_mounts, .git_protect = s->git_protect,
				 .svc_binds = s->svc_binds };

	char *map = s->userns_map;

	s->userns_map = NULL;
	memset(&s->cgroups, 0, sizeof(s->cgroups));
	s->seccomp = NULL;
	s->services = NULL;
	s->n_services = 0;
	s->ownership = NULL;
	s->mounts = NULL;
	s->n_mounts = 0;
	memset(&s->git_protect, 0, sizeof(s->git_protect));
	memset(&s->svc_binds, 0, sizeof(s->svc_binds));
	ctr_state_release(s);
	s->ownership = own.ownership;
	s->userns_map = map;
	s->host_uid = own.host_uid;
	s->host_gid = own.host_gid;
	s->started_ns = own.started_ns;
	s->sweep_pending = own.sweep_pending;
	s->mounts = own.mounts;
	s->n_mounts = own.n_mounts;
	s->git_protect = own.git_protect;
	s->svc_binds = own.svc_binds;
	s->services = services;
	s->n_services = n_services;
	s->seccomp = seccomp;
	s->caps = caps;
	s->id = dv_xstrdup(env->id);
	s->name = dv_xstrdup(spec->name);
	s->checkout = dv_xstrdup(spec->checkout);
	s->envfile = dv_xstrdup(spec->relpath);
	s->spec_digest = dv_xstrdup(p->digest);
	s->image = dv_xstrdup(p->img.name);
	s->image_id = dv_xstrdup(p->img.id);
	s->image_for = dv_xstrdup(p->pinned ? spec->image : "");
	for (size_t i = 0; i < p->layers.n; i++)
		dv_strv_push(&s->layers, p->layers.v[i]);
	for (size_t i = 0; i < p->keys.n; i++)
		dv_strv_push(&s->steps, p->keys.v[i]);
	s->workdir = dv_xstrdup(spec->workdir);
	s->shell = dv_xstrdup(spec->shell);
	prov_envp(spec, &s->env);
	prov_volume_names(spec, env->id, &s->volumes);
	s->cgroups = cgroups;
	s->init = init;
	s->created = created;
}

/* Run the on_up steps in the running env, output to the terminal and log.
 * ctr_exec() moves the calling process into the env's namespaces, so each
 * step runs from a child of ours. */
static int run_on_up(const struct dv_ctx *ctx, const struct prov_env *env, int log_fd,
		     struct dv_error *err)
{
	const struct env_spec *spec = &env->spec;

	for (size_t i = 0; i < spec->n_on_up; i++) {
		const struct env_step *step = &spec->on_up[i];
		char *argv[] = { spec->shell, "-c", step->run, NULL };
		struct dv_strv envp = { 0 };
		struct ctr_owner owner;

		prov_step_envp(spec, step, &envp); /* the step's own `env` over the env's */
		/* No input (the terminal's typeahead is the developer's),
		 * output to us, made safe for a terminal, and as it is to the
		 * log, or with -q to the log alone ('devenv logs'). */
		struct ctr_exec x = { .argv = argv, .envp = envp.v, .cwd = spec->workdir,
				      .tty = false, .tee_fd = log_fd, .tee_only = ctx->quiet,
				      .filter = true, .no_stdin = true,
				      .user = env->state.user && env->state.user[0] ? env->state.user : NULL,
				      .owner = ctr_state_owner(&env->state, &owner),
				      .sandbox = NULL };
		int status = 0, wstatus;
		unsigned long long t0 = dv_now_ns();
		pid_t pid;

		if (!ctx->quiet) {
			struct dv_buf shown = { 0 }; /* the repository's text, escaped */

			dv_buf_add_safe(&shown, step->run, strcspn(step->run, "\n"));
			printf("[on_up %zu/%zu] run: %s\n", i + 1, spec->n_on_up, shown.s);
			dv_buf_release(&shown);
		}
		fflush(stdout);
		dprintf(log_fd, "[on_up %zu/%zu] run: %s\n", i + 1, spec->n_on_up, step->run);
		pid = fork();
		if (pid < 0) {
			dv_strv_release(&envp);
			return dv_err(err, errno, "fork");
		}
		if (pid == 0) {
			struct dv_error cerr = { 0 };
			struct ctr_sandbox sb;
			struct prov_sweep sweep;

			if (ctr_sandbox_load(env->state.seccomp, env->state.caps, &sb, &cerr) < 0) {
				dv_err_print(&cerr);
				_exit(125);
			}
			sb.nproc = prov_nproc_fallback(&env->state.limits, &env->state.cgroups);
			x.sandbox = &sb;
			/* Opened here: ctr_exec leaves us in the env's namespaces. */
			prov_sweep_open(&env->state, "command", &sweep);
			if (ctr_exec(&env->state.init, &env->state.cgroups, &x, &status, &cerr) < 0) {
				/* halted or suspended: our parent says so */
				if (cerr.errnum != ESRCH && cerr.errnum != EBUSY)
					dv_err_print(&cerr);
				prov_sweep_release(&sweep);
				_exit(125);
			}
			prov_sweep_run(&sweep);
			prov_sweep_release(&sweep);
			_exit(status > 255 ? 255 : status);
		}
		dv_strv_release(&envp);
		if (dv_waitpid(pid, &wstatus, err) < 0)
			return -1;
		status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
		/* `halt`, `destroy` or a `reload` elsewhere stopped the env: the
		 * step was killed (143, 137) or could not enter (125). The init
		 * passes SIGTERM on and exits when its processes have: a moment. */
		if (status == 125 && ctr_probe(&env->state.init) == CTR_FROZEN) {
			dv_err(err, 0, "env '%s' was suspended by another command while on_up ran; "
				       "'devenv resume' thaws it (the rest of on_up did not run)",
			       spec->name);
			err->errnum = EBUSY;
			return -1;
		}
		if ((status == 125 || status == 128 + SIGTERM || status == 128 + SIGKILL) &&
		    ctr_exited(&env->state.init, 2000)) {
			dv_err(err, 0, "env '%s' was halted by another command while on_up ran; "
				       "'devenv up' starts it again", spec->name);
			err->errnum = ESRCH;
			return -1;
		}
		prov_progress_on_up(ctx, i, spec->n_on_up, step->run, status == 0,
				    (double)(dv_now_ns() - t0) / 1e9);
		if (status != 0) {
			dv_err_at(err, spec->display, step->line, step->col,
				  "on_up step failed with exit status %d; the env is running, see 'devenv logs'",
				  status);
			err->status = 1;
			return -1;
		}
	}
	return 0;
}

/* A decimal id from the environment (SUDO_UID...), or fallback. */
static unsigned env_id(const char *name, unsigned fallback)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return fallback;
	errno = 0;
	n = strtoul(v, &end, 10);
	return errno || *end || n == 0 || n > 4294967294UL ? fallback : (unsigned)n;
}

/* Which user namespace map an env's start gets (container/keepid.c):
 * "keep-id" for a rootless env with `user:` where it can be had, else ""
 * (root is the host user, as before); *why says why not, when `user:` asks
 * for it. k is filled for keep-id. */
static const char *userns_map(const struct prov_env *env, struct ctr_keepid *k, char *server,
			      const char **why)
{
	uid_t ruid;
	gid_t rgid;

	*why = NULL;
	if (!env->spec.user || dv_userns_root_ids(&ruid, &rgid) < 0)
		return "";
	if (ctr_keepid_check(server, why) < 0 || ctr_keepid_plan(k, ruid, rgid, why) < 0)
		return "";
	k->server = server;
	return "keep-id";
}

/* The host user is the owner of the checkout: what the env creates there,
 * and in host mounts, must belong to it and to no other id (README: "The
 * user inside, and who owns the checkout's files"). The env's `user` gets
 * its ids; when the checkout is root's, the user is the one sudo was run
 * by, else uid 1000, and its files in the checkout go to root like
 * everything else there. Every host path is idmapped where the kernel and
 * each filesystem allow it ("idmapped"), else swept ("chown"). */
static int owner_ids(const struct prov_env *env, struct ctr_state *s, const char *why,
		     struct dv_error *err)
{
	dv_autofree const char **paths = dv_xcalloc(s->n_mounts + s->svc_binds.n + 2, sizeof(*paths));
	size_t n = 0;
	struct stat st;
	uid_t ruid;
	gid_t rgid;

	if (stat(env->spec.checkout, &st) < 0)
		return dv_err(err, errno, "cannot read the checkout '%s'", env->spec.checkout);
	free(s->user);
	s->user = dv_xstrdup(env->spec.user ? env->spec.user : "");
	free(s->ownership);
	if (dv_userns_root_ids(&ruid, &rgid) == 0) {
		/* Rootless: root in the env is the host user (util/userns.h),
		 * so root's files in the checkout are the user's already. The
		 * `user` gets the host user's uid number, which is one of the
		 * user's subordinate ids on the host. */
		s->host_uid = ruid;
		s->host_gid = rgid;
		s->user_uid = ruid;
		s->user_gid = rgid;
		s->ownership = dv_xstrdup("rootless");
		if (env->spec.user && strcmp(s->userns_map, "keep-id"))
			fprintf(stderr,
				"devenv: note: without root, user '%s' is you in the env only where "
				"/dev/fuse and fuse-overlayfs can be used, and here %s; so root in "
				"the env is you, and user '%s' (uid %u in the env) is a subordinate "
				"id of yours that cannot write the checkout (README: Without root)\n",
				env->spec.user, why ? why : "they cannot be used",
				env->spec.user, (unsigned)ruid);
		return 0;
	}
	s->host_uid = st.st_uid;
	s->host_gid = st.st_gid;
	s->user_uid = st.st_uid ? st.st_uid : env_id("SUDO_UID", 1000);
	s->user_gid = st.st_uid ? st.st_gid : env_id("SUDO_GID", 1000);
	paths[n++] = env->spec.checkout;
	for (size_t i = 0; i < s->n_mounts; i++)
		if (!s->mounts[i].volume)
			paths[n++] = s->mounts[i].source;
	for (size_t i = 0; i < s->svc_binds.n; i++)
		paths[n++] = s->svc_binds.v[i];
	s->ownership = dv_xstrdup(ctr_idmap_supported(paths, n, &(struct dv_error){ 0 }) ? "idmapped"
											     : "chown");
	return 0;
}

/* What the env binds, as state.json keeps it for its sessions and the
 * sweep; each host mount learns which git paths it covers (gitdir.c). */
static void record_mounts(struct ctr_state *s, const struct env_spec *spec, struct ctr_mount *m,
			  size_t n)
{
	ctr_mount_recs_free(s->mounts, s->n_mounts);
	s->mounts = dv_xcalloc(n + 1, sizeof(*s->mounts));
	s->n_mounts = n;
	for (size_t i = 0; i < n; i++) {
		struct ctr_mount_rec *r = &s->mounts[i];

		r->source = dv_xstrdup(m[i].source);
		r->target = dv_xstrdup(m[i].target);
		r->volume = !m[i].host;
		if (m[i].host && prov_git_paths_in(spec->checkout, &s->git_protect, m[i].source,
						   &r->protect))
			m[i].readonly = true; /* it is git metadata itself */
		r->readonly = m[i].readonly;
		m[i].protect = (const char *const *)r->protect.v;
		m[i].n_protect = r->protect.n;
	}
	dv_strv_release(&s->svc_binds);
	for (size_t i = 0; i < spec->n_services; i++)
		for (size_t j = 0; j < spec->services[i].n_volumes; j++)
			if (!spec->services[i].volumes[j].volume)
				dv_strv_push(&s->svc_binds, spec->services[i].volumes[j].source_abs);
}

/* An env that stopped without halt (its init died) was never swept: do it
 * before anything records a new start. */
static int sweep_pending(struct prov_env *env, int efd, struct dv_error *err)
{
	struct prov_sweep sw;

	if (!env->has_state || !env->state.sweep_pending || ctr_probe(&env->state.init) != CTR_STOPPED)
		return 0;
	prov_sweep_open(&env->state, "halt", &sw);
	prov_sweep_run(&sw);
	prov_sweep_release(&sw);
	env->state.sweep_pending = false;
	return ctr_state_write(efd, &env->state, err);
}

/* The spec's `volumes` (each volume's folder, the env's own or a shared
 * one, made when missing) then `mounts`, as the container binds them.
 * *paths holds the strings; the host mounts' trees are the caller's to
 * close (prov_host_trees_close). */
static int env_mounts(const struct layer_store *st, const struct env_spec *spec,
		      const char *env_id, const char *gitcommon, struct ctr_mount **out, size_t *n,
		      struct dv_strv *paths, struct dv_error *err)
{
	struct ctr_mount *m = dv_xcalloc(spec->n_volumes + spec->n_mounts + 2, sizeof(*m));

	*out = m;
	*n = 0;
	for (size_t i = 0; i < spec->n_volumes; i++) {
		const struct env_mount *v = &spec->volumes[i];
		char *dir;

		if (prov_volume_prepare(st, spec, env_id, v, &dir, err) < 0)
			return -1;
		dv_strv_push_owned(paths, dir);
		m[(*n)++] = (struct ctr_mount){ .source = dir, .target = v->target,
						.readonly = v->readonly, .fill = true };
	}
	for (size_t i = 0; i < spec->n_mounts; i++)
		if (prov_host_tree(spec, &spec->mounts[i], "remove it from 'mounts'", &m[(*n)++],
				   err) < 0)
			return -1;
	if (gitcommon) {
		/* A worktree's repository, at its own path: the `.git` file's
		 * `gitdir:` leads there inside as on the host. Read-only as
		 * the checkout's git dir is (prov_git_paths). */
		struct dv_error cerr = { 0 };
		int tree, e;

		tree = ctr_bind_tree(spec->checkout, gitcommon, &e, &cerr);
		if (tree < 0 && e)
			return dv_err(err, e, "cannot open the git dir '%s' of the checkout's worktree "
				      "(it changed while up ran?); run 'devenv up' again", gitcommon);
		if (tree < 0) {
			*err = cerr;
			return dv_err_prefix(err, "the git dir '%s' of the checkout's worktree", gitcommon);
		}
		m[(*n)++] = (struct ctr_mount){ .source = gitcommon, .target = gitcommon,
						.readonly = !spec->security.git_metadata_rw,
						.host = true, .has_tree = true, .tree_fd = tree,
						.skeleton = true };
	}
	return 0;
}

/* The repository of a checkout that is a git worktree, to mount at its
 * own path (gitdir.c), into *out; NULL when none, or when it cannot be
 * there. -1 when the checkout cannot be opened. */
static int env_git_common(const struct env_spec *spec, char **out, struct dv_error *err)
{
	char *common = NULL;

	*out = NULL;
	if (prov_git_common_dir(spec->checkout, &common, err) < 0)
		return -1;
	if (common && (dv_path_below(common, spec->workdir) || dv_path_below(spec->workdir, common))) {
		fprintf(stderr, "devenv: warning: the checkout is a git worktree of '%s', which cannot "
			"be mounted at its own path inside: the workdir '%s' is there; set another "
			"'workdir' for git to work inside\n", common, spec->workdir);
		free(common);
		common = NULL;
	}
	*out = common;
	return 0;
}

int prov_env_cgroup_name(const struct layer_store *st, const char *env_id, char *out,
			 struct dv_error *err)
{
	char sid[9];

	if (layer_store_id(st, sid, err) < 0)
		return -1;
	snprintf(out, PROV_CGROUP_NAME_MAX, "%s-%s", sid, env_id);
	return 0;
}

/* Start the init on the env's files; state.json records it. */
static int start_env(const struct layer_store *st, struct prov_env *env, int efd,
		     struct dv_error *err)
{
	struct ctr_state *s = &env->state;
	dv_autofree const char **lowers = dv_xcalloc(s->layers.n + 1, sizeof(*lowers));
	dv_autofree char *dir = dv_xasprintf("%s/envs/%s", st->root, env->id);
	dv_autofree char *upper = dv_xasprintf("%s/upper", dir);
	dv_autofree char *work = dv_xasprintf("%s/work", dir);
	dv_autofree char *log = dv_xasprintf("%s/log", env->id);
	dv_autoclose int log_fd = -1;
	struct ctr_spec cs = { 0 };
	struct ctr_idmap idmap;
	struct timespec now;
	struct ctr_user user;
	struct ctr_keepid keepid;
	char keepid_server[64];
	const char *why = NULL;
	struct ctr_sandbox sb = { 0 };
	dv_autofree const char **hosts = dv_xcalloc(env->spec.n_services + 1, sizeof(*hosts));
	dv_autofree struct ctr_mount *mounts = NULL;
	struct dv_strv mount_paths = { 0 };
	struct prov_net pn = { .fd = -1 };
	char cgname[PROV_CGROUP_NAME_MAX];
	dv_autoclose int commit = -1;
	dv_autofree char *gitcommon = NULL;
	int ret = -1;

	for (size_t i = 0; i < s->layers.n; i++)
		lowers[i] = layer_diff_path(st, s->layers.v[s->layers.n - 1 - i]);
	/* The services share the env's network: their names are localhost. */
	for (size_t i = 0; i < env->spec.n_services; i++)
		hosts[i] = env->spec.services[i].name;
	if (dv_mkdir_p(upper, 0755, err) < 0 || dv_mkdir_p(work, 0700, err) < 0)
		goto out;
	/* The log exists from the start ('devenv logs'); on_up appends to it.
	 * The init holds no file of the host's. */
	log_fd = openat(efd, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log_fd < 0) {
		dv_err(err, errno, "cannot open the env's log");
		goto out;
	}
	if (prov_env_cgroup_name(st, env->id, cgname, err) < 0)
		goto out;
	/* Those an older devenv recorded (devenv/<env id>, a name another
	 * store's env may have too): removed when empty, never killed. */
	for (size_t i = 0; i < s->cgroups.n; i++) {
		const char *base = strrchr(s->cgroups.v[i], '/');

		if (base && strcmp(base + 1, cgname) && rmdir(s->cgroups.v[i]) < 0 && errno != ENOENT)
			fprintf(stderr, "devenv: warning: cannot remove cgroup '%s' of the env's last "
				"start: %s\n", s->cgroups.v[i], strerror(errno));
	}
	/* A killed init may have left its cgroups, and a devenv killed between
	 * starting an init and recording it may have left an init running on
	 * these very files: empty the cgroups before a new init uses them. */
	dv_strv_release(&s->cgroups);
	prov_limits(&env->spec, &s->limits);
	if (ctr_cgroup_create(cgname, &s->limits, &s->cgroups, err) < 0 ||
	    ctr_cgroup_kill(&s->cgroups, err) < 0)
		goto out;
	dv_fault_point("up.cgroup");
	cs.hostname = env->spec.name;
	cs.lowers = lowers;
	cs.n_lowers = s->layers.n;
	cs.upper = upper;
	cs.work = work;
	cs.checkout = env->spec.checkout;
	cs.workdir = env->spec.workdir;
	cs.build = false;
	cs.userns = st->rootless;
	cs.cgroups = &s->cgroups;
	cs.hosts = hosts;
	cs.n_hosts = env->spec.n_services;
	dv_strv_release(&s->git_protect);
	if (!env->spec.security.git_metadata_rw &&
	    prov_git_paths(env->spec.checkout, &s->git_protect, err) < 0)
		goto out;
	if (env_git_common(&env->spec, &gitcommon, err) < 0 ||
	    env_mounts(st, &env->spec, env->id, gitcommon, &mounts, &cs.n_mounts, &mount_paths,
		       err) < 0)
		goto out;
	record_mounts(s, &env->spec, mounts, cs.n_mounts);
	cs.mounts = mounts;
	free(s->userns_map);
	s->userns_map = dv_xstrdup(userns_map(env, &keepid, keepid_server, &why));
	if (s->userns_map[0])
		cs.keepid = &keepid;
	if (owner_ids(env, s, why, err) < 0)
		goto out;
	if (!strcmp(s->ownership, "idmapped")) {
		idmap = (struct ctr_idmap){ s->host_uid, s->host_uid, s->host_gid, s->host_gid };
		cs.idmap = &idmap;
	}
	cs.git_protect = (const char *const *)s->git_protect.v;
	cs.n_git_protect = s->git_protect.n;
	/* The sweep looks at what changed since: ctimes come from this clock
	 * (or a finer one, never earlier). */
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	s->started_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
	s->sweep_pending = strcmp(s->ownership, "idmapped") != 0;
	{
		/* Which folder this start mounts: one made again at the path
		 * while the env runs is not it (prov_env_checkout_check). */
		struct stat cst;

		s->checkout_dev = s->checkout_ino = 0;
		if (stat(env->spec.checkout, &cst) == 0) {
			s->checkout_dev = (unsigned long long)cst.st_dev;
			s->checkout_ino = (unsigned long long)cst.st_ino;
		}
	}
	if (env->spec.user) {
		user = (struct ctr_user){ env->spec.user, env->spec.shell, s->user_uid, s->user_gid };
		cs.user = &user;
	}
	free(s->seccomp);
	s->seccomp = NULL;
	if (prov_sandbox(st, &env->spec, &s->caps, &s->seccomp, err) < 0 ||
	    ctr_sandbox_load(s->seccomp, s->caps, &sb, err) < 0)
		goto out;
	sb.nproc = prov_nproc_fallback(&s->limits, &s->cgroups);
	prov_warn_undelegated(&s->limits, &s->cgroups);
	cs.sandbox = &sb;
	cs.new_netns = env->spec.network == ENV_NET_PRIVATE;
	/* The network helper starts as soon as the init's namespaces exist,
	 * while the init is put in its cgroups and builds its root. */
	prov_net_prepare(&env->spec, s, &pn);
	cs.on_clone = prov_net_on_clone;
	cs.on_clone_arg = &pn;
	dv_fault_point("up.start");
	if (ctr_start(&cs, &s->init, &commit, err) < 0) {
		prov_net_finish(&pn, s, false, &(struct dv_error){ 0 });
		goto out;
	}
	dv_fault_point("up.started");
	/* The commit point of `up`: state.json names the new init, then the
	 * init goes on. Killed before the byte, the init exits at once (its
	 * helpers follow it) and the env reads as halted, as it was; after,
	 * it runs and is recorded. */
	if (prov_net_finish(&pn, s, true, err) < 0)
		goto stop;
	dv_fault_point("up.net");
	if (ctr_state_write(efd, s, err) < 0)
		goto stop;
	dv_fault_point("up.state");
	if (ctr_commit(&commit, err) < 0)
		goto stop;
	dv_fault_point("up.committed");
	ret = 0;
	goto out;
stop:
	ctr_net_stop(&s->net, &(struct dv_error){ 0 });
	ctr_stop(&s->init, 0, &(struct dv_error){ 0 });
out:
	prov_net_release(&pn);
	if (ret < 0 && s->cgroups.n) {
		/* Nothing runs on them: an env that failed to start keeps none. */
		struct dv_error ignored = { 0 };

		ctr_cgroup_kill(&s->cgroups, &ignored);
		ctr_cgroup_remove(&s->cgroups, &ignored);
		dv_strv_release(&s->cgroups);
	}
	for (size_t i = 0; i < s->layers.n; i++)
		free((char *)lowers[i]);
	prov_host_trees_close(mounts, cs.n_mounts);
	dv_strv_release(&mount_paths);
	ctr_sandbox_release(&sb);
	return ret;
}

/* The env's writable layer no longer fits its chain: start it afresh. */
static int reset_upper(const struct prov_env *env, int efd, bool say, bool remap,
		       struct dv_error *err)
{
	dv_autofree char *upper = dv_xasprintf("%s/upper", env->id);
	dv_autofree char *work = dv_xasprintf("%s/work", env->id);

	if (dv_rm_tree_at(efd, upper, err) < 0 || dv_rm_tree_at(efd, work, err) < 0)
		return dv_err_prefix(err, "resetting env '%s'", env->spec.name);
	if (say)
		printf("env '%s' was recreated %s: its files outside the checkout were reset "
		       "(the checkout and volumes are kept)\n",
		       env->spec.name, remap ? "for its new user namespace map (`user:` changed, "
					     "or keep-id became possible or impossible here)"
					   : "on its new layers");
	return 0;
}

/* Record the plan in state.json; a changed chain (or files left by an env
 * that was never recorded) resets the upper first, said unless quiet. */
static int record(const struct layer_store *st, struct prov_env *env, int efd, const struct plan *p,
		  bool quiet, struct dv_error *err)
{
	bool changed = env->has_state && !strv_equal(&p->layers, &env->state.layers);
	struct ctr_keepid k;
	char server[64];
	const char *why, *map = userns_map(env, &k, server, &why);
	/* The map decides who owns what in the upper (and keep-id's upper is
	 * fuse-overlayfs's, with its own opaque marks): a new map, a new env. */
	bool remap = env->has_state && !changed && env->state.init.pid &&
		     strcmp(env->state.userns_map ? env->state.userns_map : "", map);

	if (prov_volume_check(&env->spec, env->id, err) < 0)
		return -1;
	if (dv_mkdirat_ok(efd, env->id, 0700, err) < 0)
		return -1;
	if ((changed || remap || !env->has_state) &&
	    reset_upper(env, efd, (changed || remap) && !quiet, remap && !changed, err) < 0)
		return -1;
	if (changed)
		prov_env_size_forget(st, env->id); /* its files were reset */
	/* Volumes made before volumes were per env, that the state about to
	 * be replaced names (provision/volume.c). */
	if (env->has_state &&
	    prov_volume_adopt(st, &env->spec, env->id, &env->state.volumes, err) < 0)
		return -1;
	fill_state(&env->state, env, p);
	env->has_state = true;
	return ctr_state_write(efd, &env->state, err);
}

/* Start the recorded env, let go of the locks (on_up may run for long and
 * must not hold up `halt` or `gc`), then run on_up. */
static int start_and_on_up(struct dv_ctx *ctx, const struct layer_store *st,
			   struct prov_env *env, int efd, const struct plan *p, struct dv_error *err)
{
	dv_autofree char *log = dv_xasprintf("%s/log", env->id);
	dv_autoclose int log_fd = -1;
	dv_autoclose int log_dir = -1;
	dv_autoclose int to_log = -1;
	dv_autoclose int done = -1;
	struct ctr_logcap cap;
	int ret;

	/* Services left running by an init that died belong to no env now. */
	if (env->state.n_services && prov_services_stop(st, env, 10, err) < 0)
		return -1;
	if (start_env(st, env, efd, err) < 0)
		return -1;
	dv_fault_point("up.services");
	/* After the init (they join its network namespace), before on_up
	 * (which may migrate a database). */
	if (prov_services_start(ctx, st, env, efd, p->svc_imgs, err) < 0) {
		struct dv_error ignored = { 0 };

		ctr_stop(&env->state.init, 0, &ignored);
		prov_net_stop(&env->state);
		return -1;
	}
	if (!ctx->quiet)
		printf("env '%s' is up (id %s); 'devenv ssh' steps in\n", env->spec.name, env->id);
	/* on_up's output goes to the log through a log relay, which caps and
	 * rotates it as a service's (provision/logs.c); without on_up, none. */
	if (env->spec.n_on_up) {
		log_fd = openat(efd, log, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		if (log_fd < 0)
			return dv_err(err, errno, "cannot open the env's log");
		log_dir = openat(efd, env->id, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (log_dir < 0)
			return dv_err(err, errno, "cannot open the env's folder");
		prov_log_cap(&env->spec, log_dir, &cap);
		to_log = ctr_log_relay(log_fd, &cap, &done, err);
		if (to_log < 0)
			return dv_err_prefix(err, "cannot start the log relay of the env's on_up");
	}
	if (env->lock_fd >= 0) {
		close(env->lock_fd);
		env->lock_fd = -1;
	}
	if (ctx->store_lock_fd >= 0) {
		close(ctx->store_lock_fd);
		ctx->store_lock_fd = -1;
	}
	dv_fault_point("up.on_up");
	if (!env->spec.n_on_up)
		return 0;
	ret = run_on_up(ctx, env, to_log, err);
	/* The log whole before we return ('devenv logs' right after). */
	close(to_log);
	to_log = -1;
	while (poll(&(struct pollfd){ .fd = done, .events = POLLIN }, 1, 5000) < 0 && errno == EINTR) {
	}
	return ret;
}

int prov_env_checkout_check(const struct ctr_state *s, struct dv_error *err)
{
	struct stat st;
	int e;

	if (!s->checkout_ino || !s->checkout)
		return 0;
	e = stat(s->checkout, &st) == 0 ? 0 : errno;
	if (!e && (unsigned long long)st.st_dev == s->checkout_dev &&
	    (unsigned long long)st.st_ino == s->checkout_ino)
		return 0;
	if (ctr_probe(&s->init) == CTR_STOPPED)
		return 0; /* the next start mounts what is there */
	if (e == ENOENT || e == ENOTDIR)
		return dv_err_plain(err, ESTALE, "the checkout '%s' of env '%s' is gone since the env "
				    "started (removed or moved): inside, '%s' is still the old folder; "
				    "put the checkout back, then run 'devenv halt' and 'devenv up' "
				    "(the env's files are kept)", s->checkout, s->name, s->workdir);
	return dv_err_plain(err, ESTALE, "the checkout '%s' of env '%s' was replaced since the env "
			    "started (another folder is at that path now): inside, '%s' is still the "
			    "old folder; run 'devenv halt' and 'devenv up' to start it on the new one "
			    "(the env's files are kept)", s->checkout, s->name, s->workdir);
}

int prov_env_up(struct dv_ctx *ctx, const struct layer_store *st, struct prov_env *env,
		struct dv_error *err)
{
	dv_autoclose int efd = envs_fd(st);
	struct plan p = { 0 };
	int ret = -1;

	if (efd < 0)
		return dv_err(err, errno, "cannot open '%s/envs'", st->root);
	if (prov_env_lock(st, env, err) < 0 || plan_make(st, env, env->refresh_git, &p, err) < 0)
		goto out;
	dv_fault_point("up.plan");
	if (env->has_state && ctr_probe(&env->state.init) == CTR_FROZEN) {
		dv_err_plain(err, EBUSY, "env '%s' is suspended; 'devenv resume' thaws it",
			     env->spec.name);
		goto out;
	}
	if (env->has_state && ctr_probe(&env->state.init) != CTR_STOPPED) {
		if (prov_env_checkout_check(&env->state, err) < 0)
			goto out;
		if (strcmp(p.digest, env->state.spec_digest) == 0) {
			if (!ctx->quiet)
				printf("env '%s' is already running\n", env->spec.name);
		} else {
			report_change(env, &p);
		}
		/* A service that exited or was stopped starts again, on the
		 * volumes the running env has (an older devenv's among them:
		 * its state then says what they are called now). */
		ret = prov_volume_adopt(st, &env->spec, env->id, &env->state.volumes, err);
		if (ret < 0 || (ret > 0 && ctr_state_write(efd, &env->state, err) < 0)) {
			ret = -1;
			goto out;
		}
		ret = prov_services_start(ctx, st, env, efd, p.svc_imgs, err);
		goto out;
	}
	/* A taken port stops `up` before anything is built or started. The
	 * forwarder of an init that died goes with it, but perhaps not yet. */
	if (env->has_state)
		prov_net_stop(&env->state);
	if (prov_net_check(&env->spec, err) < 0 || sweep_pending(env, efd, err) < 0)
		goto out;
	if (prov_build(ctx, st, &env->spec, &p.img, &p.keys, p.team, &p.layers, err) < 0 ||
	    record(st, env, efd, &p, ctx->quiet, err) < 0)
		goto out;
	dv_fault_point("up.record");
	ret = start_and_on_up(ctx, st, env, efd, &p, err);
out:
	plan_release(&p);
	return ret;
}

int prov_env_halt(const struct dv_ctx *ctx, const struct layer_store *st, struct prov_env *env,
		  unsigned timeout_s, bool say, struct dv_error *err)
{
	dv_autoclose int efd = envs_fd(st);
	struct dv_error warn = { 0 };

	if (prov_env_lock_existing(st, env, err) < 0)
		return -1;
	/* Services go first (they may be using the env's network namespace),
	 * thawed first when the env is suspended: a frozen process takes no
	 * signal. */
	if (env->state.n_services) {
		if (ctr_probe(&env->state.init) == CTR_FROZEN &&
		    ctr_cgroup_freeze(&env->state.cgroups, false, 0, err) < 0)
			return -1;
		if (prov_services_stop(st, env, timeout_s, err) < 0)
			return -1;
	}
	if (ctr_probe(&env->state.init) == CTR_STOPPED) {
		if (say && !ctx->quiet)
			printf("env '%s' is not running\n", env->state.name);
	} else {
		/* A frozen env takes no signal: thaw it first. */
		if (ctr_probe(&env->state.init) == CTR_FROZEN &&
		    ctr_cgroup_freeze(&env->state.cgroups, false, 0, err) < 0)
			return -1;
		if (ctr_stop(&env->state.init, timeout_s, err) < 0)
			return -1;
		if (say && !ctx->quiet)
			printf("env '%s' halted; its files are kept\n", env->state.name);
		/* Its size changes only while it runs: recorded now, for `ls`,
		 * `status` and `df` (provision/df.c). */
		prov_env_size_record(st, env->id, "halt");
	}
	/* Every process of the env is gone with its init: what a background
	 * writer left in the checkout is swept now (sweep.c). */
	if (sweep_pending(env, efd, err) < 0)
		return -1;
	/* Its forwarder and slirp4netns exit with the init; make sure they are
	 * gone, and the host ports free, before halt returns. */
	if (env->state.net.helper.pid || env->state.net.outbound.pid) {
		prov_net_stop(&env->state);
		if (ctr_state_write(efd, &env->state, err) < 0)
			return -1;
	}
	/* The env is stopped either way; a cgroup that stays busy a moment
	 * longer (a `devenv ssh` still exiting) is removed by the next halt. */
	if (env->state.cgroups.n) {
		if (ctr_cgroup_remove(&env->state.cgroups, &warn) < 0) {
			fprintf(stderr, "devenv: warning: %s\n", warn.msg);
			return 0;
		}
		dv_strv_release(&env->state.cgroups);
		if (ctr_state_write(efd, &env->state, err) < 0)
			return -1;
	}
	return 0;
}

int prov_env_provision(struct dv_ctx *ctx, const struct layer_store *st, struct prov_env *env,
		       struct dv_error *err)
{
	dv_autoclose int efd = envs_fd(st);
	struct plan p = { 0 };
	bool running;
	int ret = -1;

	if (efd < 0)
		return dv_err(err, errno, "cannot open '%s/envs'", st->root);
	/* Build first: a failing step leaves a running env running. */
	if (prov_env_lock(st, env, err) < 0 || plan_make(st, env, true, &p, err) < 0 ||
	    prov_build(ctx, st, &env->spec, &p.img, &p.keys, p.team, &p.layers, err) < 0)
		goto out;
	running = env->has_state && ctr_probe(&env->state.init) != CTR_STOPPED;
	if (env->has_state && strcmp(p.digest, env->state.spec_digest) == 0 &&
	    strv_equal(&p.layers, &env->state.layers)) {
		if (!ctx->quiet)
			printf("env '%s' is up to date with its Envfile\n", env->spec.name);
		ret = 0;
		goto out;
	}
	if (running && prov_env_halt(ctx, st, env, 10, false, err) < 0)
		goto out;
	if (sweep_pending(env, efd, err) < 0 || record(st, env, efd, &p, ctx->quiet, err) < 0)
		goto out;
	ret = running ? start_and_on_up(ctx, st, env, efd, &p, err) : 0;
out:
	plan_release(&p);
	return ret;
}

/* One rename makes the env vanish whole, so a destroy killed half-way
 * never leaves a half-removed env that `up` would boot; gc finishes the
 * removal of an interrupted one. dv_rm_tree_at never follows a link nor
 * crosses a mount, so links the env planted to host paths cannot make it
 * remove anything outside. */
static int remove_env_dir(const struct layer_store *st, const char *id, const char *name,
			  struct dv_error *err)
{
	dv_autoclose int efd = envs_fd(st);
	dv_autofree char *staging = NULL;

	if (efd < 0)
		return dv_err(err, errno, "cannot open '%s/envs'", st->root);
	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	{
		dv_autofree char *dest = dv_xasprintf("%s/env", staging);

		if (renameat(efd, id, st->tmp_fd, dest) < 0) {
			dv_err(err, errno, "cannot remove env '%s'", name);
			layer_staging_discard(st, staging, &(struct dv_error){ 0 });
			return -1;
		}
	}
	/* Its lock goes with it, unlinked while the caller holds it: who
	 * waits for it sees it gone once we let go (dv_lock_at), and finds
	 * no env. */
	{
		dv_autofree char *lock = dv_xasprintf("%s.lock", id);

		unlinkat(efd, lock, 0);
	}
	dv_fault_point("destroy.renamed");
	if (layer_staging_discard(st, staging, err) < 0)
		return dv_err_prefix(err, "env '%s' is gone; 'devenv gc' removes its remains", name);
	return 0;
}

int prov_env_destroy(const struct dv_ctx *ctx, const struct layer_store *st,
		     struct prov_env *env, struct dv_error *err)
{
	dv_autofree char *name = NULL;
	dv_autofree char *real = NULL;
	char busy[PATH_MAX];

	if (!env->has_state)
		return dv_err_plain(err, ENOENT, "there is no env here to destroy");
	if (prov_env_halt(ctx, st, env, 10, false, err) < 0)
		return -1;
	dv_fault_point("destroy.halted");
	/* A start killed before its commit point may have made the env's
	 * cgroups and not recorded them: they go, whatever state.json says. */
	{
		char cg[PROV_CGROUP_NAME_MAX];
		struct dv_strv cgroups = { 0 };
		struct dv_error warn = { 0 };

		if (prov_env_cgroup_name(st, env->id, cg, &warn) < 0 ||
		    ctr_cgroup_create(cg, NULL, &cgroups, &warn) < 0 ||
		    ctr_cgroup_kill(&cgroups, &warn) < 0 || ctr_cgroup_remove(&cgroups, &warn) < 0)
			fprintf(stderr, "devenv: warning: %s\n", warn.msg);
		dv_strv_release(&cgroups);
	}
	name = dv_xstrdup(env->state.name);
	/* Nothing may be mounted below the env (its mounts live in its own
	 * namespace, so one here was put there by hand): refuse before
	 * removing anything. */
	real = dv_xasprintf("%s/envs/%s", st->root, env->id);
	if (dv_mount_under(real, busy, sizeof(busy)) == 1)
		return dv_err_plain(err, EBUSY, "'%s' is a mount point; unmount it first; nothing was removed",
				    busy);
	if (remove_env_dir(st, env->id, name, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf("env '%s' destroyed (the checkout and named volumes are kept)\n", name);
	return 0;
}

void prov_env_say_damaged(const struct layer_store *st, const char *id)
{
	dv_autoclose int fd = envs_fd(st);
	struct ctr_state none = { 0 };
	struct dv_error e = { 0 };

	if (fd >= 0 && ctr_state_read(fd, id, &none, &e) < 0)
		dv_err_print(&e);
	ctr_state_release(&none);
}

int prov_env_destroy_damaged(const struct dv_ctx *ctx, const struct layer_store *st,
			     struct prov_env *env, struct dv_error *err)
{
	dv_autofree char *dir = dv_xasprintf("%s/envs/%s", st->root, env->id);
	char cgname[PROV_CGROUP_NAME_MAX], busy[PATH_MAX];
	struct dv_strv cgroups = { 0 };
	unsigned killed = 0;
	int ret = -1;

	if (prov_env_lock(st, env, err) < 0)
		return -1;
	if (env->has_state) /* written anew while we waited */
		return dv_err_plain(err, EAGAIN, "env %s was brought up again meanwhile; run the "
				    "command again", env->id);
	if (access(dir, F_OK) < 0 && errno == ENOENT)
		return dv_err_plain(err, ENOENT, "env %s was destroyed meanwhile", env->id);
	/* Its processes, whatever its record said: those in its cgroups
	 * (named from the store's id and its own), and those running on its
	 * files (no cgroup without root unless delegated). Never the cgroups
	 * of an older devenv's name, which another store's env may share. */
	if (prov_env_cgroup_name(st, env->id, cgname, err) < 0 ||
	    ctr_cgroup_create(cgname, NULL, &cgroups, err) < 0 ||
	    ctr_cgroup_kill(&cgroups, err) < 0 || ctr_cgroup_remove(&cgroups, err) < 0 ||
	    ctr_kill_mounting(dir, &killed, err) < 0)
		goto out;
	if (dv_mount_under(dir, busy, sizeof(busy)) == 1) {
		dv_err_plain(err, EBUSY, "'%s' is a mount point; unmount it first; nothing was removed",
			     busy);
		goto out;
	}
	if (remove_env_dir(st, env->id, env->id, err) < 0)
		goto out;
	if (!ctx->quiet)
		printf("damaged env %s destroyed (the checkout and named volumes are kept)\n", env->id);
	ret = 0;
out:
	dv_strv_release(&cgroups);
	return ret;
}
