/*
 * env/lookup.c - which env a command means: -e NAME|ID or the Envfile
 * found from the current folder; every env of the store; the env's lock;
 * its cgroups' name; is its checkout still the folder it mounted.
 *
 * The env lives in envs/<id>/ (state.json, upper/, work/, log). Every
 * change to an env happens under envs/<id>.lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

void env_release(struct env *env)
{
	env_record_release(&env->state);
	env_spec_release(&env->spec);
	dv_strv_release(&env->lock_update);
	if (env->lock_fd >= 0)
		close(env->lock_fd);
	memset(env, 0, sizeof(*env));
	env->lock_fd = -1;
}

int env_envs_fd(const struct layer_store *st)
{
	return openat(st->root_fd, "envs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int env_list(const struct layer_store *st, struct dv_strv *damaged, struct env_record **out,
	     size_t *n, struct dv_error *err)
{
	dv_autoclose int fd = env_envs_fd(st);
	dv_autoclosedir DIR *d = fd < 0 ? NULL : dv_opendir_fd(fd);
	struct dirent *de;
	struct env_record *v = NULL;
	size_t count = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return dv_err(err, errno, "cannot read '%s/envs'", st->root);
	while ((de = readdir(d))) {
		struct env_record s = { 0 };
		struct dv_error ignored = { 0 };

		if (!dv_str_is_hex(de->d_name, 12))
			continue;
		if (env_record_read(fd, de->d_name, &s, &ignored) < 0) {
			env_record_release(&s);
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
static int locate_by_selector(const struct layer_store *st, const char *sel, struct env *out,
			      struct dv_error *err)
{
	struct env_record *all;
	size_t n, match = SIZE_MAX, hits = 0;
	struct dv_buf names = { 0 };
	struct dv_strv damaged = { 0 };
	const char *broken = NULL;

	if (env_list(st, &damaged, &all, &n, err) < 0)
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
		dv_autoclose int fd = env_envs_fd(st);
		struct env_record none = { 0 };

		snprintf(out->id, sizeof(out->id), "%s", broken);
		/* Read again for its one line (EBADMSG: destroy -e acts on it). */
		if (fd < 0 || env_record_read(fd, out->id, &none, err) == 0)
			dv_err_plain(err, EBADMSG,
				     "env %s is damaged; 'devenv destroy -e %s' removes it",
				     out->id, out->id);
		env_record_release(&none);
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
		env_record_release(&all[i]);
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

int env_locate(const struct dv_ctx *ctx, const struct layer_store *st, bool need_spec,
	       struct env *out, struct dv_error *err)
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
		efd = env_envs_fd(st);
		if (efd >= 0 && env_record_read(efd, out->id, &out->state, &miss) == 0)
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
		/* The user's config.yaml (`dotfiles`): a trust request of the
		 * commands that load the spec, which are those that check trust. */
		if (envfile_userconfig_apply(&out->spec, ctx->userconfig, err) < 0)
			return -1;
	}
	return 0;
}

void env_commit_mark(const struct layer_store *st, const struct env *env, bool set)
{
	dv_autoclose int fd = env_envs_fd(st);
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

bool env_commit_wait(const struct layer_store *st, const struct env *env)
{
	dv_autoclose int fd = -1, lock = -1;
	char name[64], what[128];

	/* Thawed already: a suspend stays frozen, so this was a commit's
	 * moment (or a halt, which the next try tells). */
	if (ctr_probe(&env->state.init) != CTR_FROZEN)
		return true;
	fd = env_envs_fd(st);
	snprintf(name, sizeof(name), "%s/commit-frozen", env->id);
	if (fd < 0 || faccessat(fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return false; /* suspended */
	/* The commit holds the env's lock while the env is frozen: once we
	 * have it, the commit is over, or was killed and left it frozen. */
	snprintf(name, sizeof(name), "%s.lock", env->id);
	snprintf(what, sizeof(what), "env %s (a commit froze it)", env->id);
	lock = dv_lock_at(fd, name, true, what, &(struct dv_error){ 0 });
	if (lock < 0)
		return false;
	snprintf(name, sizeof(name), "%s/commit-frozen", env->id);
	if (faccessat(fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ctr_cgroup_freeze(&env->state.cgroups, false, 0, &(struct dv_error){ 0 }) == 0)
		unlinkat(fd, name, 0);
	return true;
}

int env_lock(const struct layer_store *st, struct env *env, struct dv_error *err)
{
	dv_autoclose int fd = env_envs_fd(st);
	char name[64], what[128];

	if (env->lock_fd >= 0)
		return 0;
	snprintf(name, sizeof(name), "%s.lock", env->id);
	snprintf(what, sizeof(what), "env %s", env->id);
	env->lock_fd = dv_lock_at(fd, name, true, what, err);
	if (env->lock_fd < 0)
		return -1;
	/* Another devenv may have changed it while we waited: read it again. */
	env_record_release(&env->state);
	env->has_state = env_record_read(fd, env->id, &env->state, &(struct dv_error){ 0 }) == 0;
	/* A commit marks the env it freezes, and unmarks it once thawed,
	 * holding this lock all along: marked now, it was killed meanwhile,
	 * and the env is not suspended but stranded frozen. */
	snprintf(name, sizeof(name), "%s/commit-frozen", env->id);
	if (env->has_state && faccessat(fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ctr_cgroup_freeze(&env->state.cgroups, false, 0, &(struct dv_error){ 0 }) == 0)
		unlinkat(fd, name, 0);
	return 0;
}

int env_lock_existing(const struct layer_store *st, struct env *env, struct dv_error *err)
{
	if (!env->has_state)
		return dv_err_plain(err, ENOENT,
				    "env %s was never brought up; 'devenv up' creates it", env->id);
	if (env_lock(st, env, err) < 0)
		return -1;
	if (!env->has_state) { /* destroyed while we waited for the lock */
		dv_autoclose int fd = env_envs_fd(st);
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

int env_cgroup_name(const struct layer_store *st, const char *env_id, char *out,
		    struct dv_error *err)
{
	char sid[9];

	if (layer_store_id(st, sid, err) < 0)
		return -1;
	snprintf(out, PROV_CGROUP_NAME_MAX, "%s-%s", sid, env_id);
	return 0;
}

int env_checkout_check(const struct env_record *s, struct dv_error *err)
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
		return dv_err_plain(err, ESTALE,
				    "the checkout '%s' of env '%s' is gone since the env "
				    "started (removed or moved): inside, '%s' is still the old folder; "
				    "put the checkout back, then run 'devenv halt' and 'devenv up' "
				    "(the env's files are kept)",
				    s->checkout, s->name, s->workdir);
	return dv_err_plain(err, ESTALE,
			    "the checkout '%s' of env '%s' was replaced since the env "
			    "started (another folder is at that path now): inside, '%s' is still the "
			    "old folder; run 'devenv halt' and 'devenv up' to start it on the new one "
			    "(the env's files are kept)",
			    s->checkout, s->name, s->workdir);
}

void env_say_damaged(const struct layer_store *st, const char *id)
{
	dv_autoclose int fd = env_envs_fd(st);
	struct env_record none = { 0 };
	struct dv_error e = { 0 };

	if (fd >= 0 && env_record_read(fd, id, &none, &e) < 0)
		dv_err_print(&e);
	env_record_release(&none);
}
