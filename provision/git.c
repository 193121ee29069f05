/*
 * provision/git.c - `git` steps: libgit2 loaded on first use, the remote's
 * commit resolved (ls-remote) and remembered, the clone made on the host.
 *
 * The cache key of a git step holds the commit it clones, so the commit
 * must be known before the cache is looked at. Asking the remote costs a
 * network round trip, which a no-op `up` must not pay (DESIGN.md: an
 * unchanged Envfile checks its cache in milliseconds). So the resolution
 * is remembered in the store (git/<sha256 of URL and ref>): `up` uses the
 * remembered commit when there is one; `provision` and `reload` ask the
 * remote again, so that they pick up new commits. A `ref` of 40 hex digits
 * is a commit and needs no network at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git.h"
#include "provision.h"
#include "util/cleanup.h"
#include "util/dl.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

#define GIT_STR2(x) #x
#define GIT_STR(x) GIT_STR2(x)
/* The soname of the version whose header we compiled against: the option
 * structs we pass change between versions. */
#define GIT_SONAME "libgit2.so." GIT_STR(LIBGIT2_VER_MAJOR) "." GIT_STR(LIBGIT2_VER_MINOR)

static int git_init(void *table, struct dv_error *err)
{
	struct prov_git *g = table;

	if (g->git_libgit2_init() < 0)
		return dv_err(err, 0, "cannot initialise libgit2");
	/* Root runs devenv in a developer's checkout, which libgit2 (as git's
	 * safe.directory) refuses to open for another owner. That check guards
	 * against commands a repository's config makes git run; libgit2 runs
	 * none (no hooks, no fsmonitor), and we only read the index and the
	 * ignore rules. */
	g->git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
	return 0;
}

/* Resolved through util/dl.h on first use (STYLE.md 7: the same answer
 * every time); the handle stays open for the life of the process. */
#define PROV_GIT_OFFSET(f) DV_DL_OFFSET(struct prov_git, f)
static const char git_names[] = PROV_GIT_FUNCS(DV_DL_NAME);
static const unsigned short git_offsets[] = { PROV_GIT_FUNCS(PROV_GIT_OFFSET) };
#undef PROV_GIT_SYM
static struct prov_git git_table;
static struct dv_dl git_dl = DV_DL_INIT(GIT_SONAME, git_names, git_offsets, &git_table, git_init);

const struct prov_git *prov_git_load(struct dv_error *err)
{
	return dv_dl_load(&git_dl, err) < 0 ? NULL : &git_table;
}

const char *prov_git_errmsg(const struct prov_git *g)
{
	const git_error *e = g->git_error_last();

	return e && e->message ? e->message : "unknown error";
}

static bool is_commit_id(const char *s)
{
	return s && dv_str_is_hex(s, 40);
}

static int step_err(const struct env_spec *spec, const struct env_step *step, struct dv_error *err,
		    int errnum, const char *fmt, const char *a, const char *b)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, a, b);
	dv_err_at(err, spec->display, step->line, step->col, "git %s: %s", step->git, msg);
	err->errnum = errnum;
	return -1;
}

/* A remote named by a host name: where the name leads now (reach.c). The
 * check and libgit2's own lookup are two lookups: a name whose answer
 * changes in between (DNS rebinding) is the residual risk README states. */
static int check_reach(const struct env_spec *spec, const struct env_step *step,
		       struct dv_error *err)
{
	char why[400];

	if (prov_reach_resolve(step->git, why, sizeof(why)) == 0)
		return 0;
	return step_err(spec, step, err, EACCES, "%s%s", why, "");
}

/* ls-remote: the commit `ref` names on the remote (HEAD when NULL). A
 * branch wins over a tag of the same name, as in git; an annotated tag is
 * peeled to its commit. */
static int ls_remote(const struct env_spec *spec, const struct env_step *step, char out[41],
		     struct dv_error *err)
{
	const struct prov_git *g = prov_git_load(err);
	const git_remote_head **heads = NULL;
	git_remote *remote = NULL;
	const git_oid *found = NULL;
	git_remote_connect_options copts;
	int found_rank = 99, ret = -1;
	size_t n = 0;

	if (!g)
		return -1;
	if (check_reach(spec, step, err) < 0)
		goto out;
	if (g->git_remote_create_detached(&remote, step->git) < 0) {
		step_err(spec, step, err, 0, "%s%s", "bad URL: ", prov_git_errmsg(g));
		goto out;
	}
	/* No redirect to another host: where it leads cannot be checked. */
	g->git_remote_connect_options_init(&copts, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
	copts.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
	if (g->git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &copts) < 0 ||
	    g->git_remote_ls(&heads, &n, remote) < 0) {
		step_err(spec, step, err, EHOSTUNREACH, "cannot reach the repository: %s%s",
			 prov_git_errmsg(g), "");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = heads[i]->name;
		int rank = 99;

		if (!step->ref) {
			if (strcmp(name, "HEAD") == 0)
				rank = 0;
		} else if (strncmp(name, "refs/heads/", 11) == 0 && !strcmp(name + 11, step->ref)) {
			rank = 1;
		} else if (strncmp(name, "refs/tags/", 10) == 0 &&
			   strncmp(name + 10, step->ref, strlen(step->ref)) == 0) {
			const char *rest = name + 10 + strlen(step->ref);

			if (strcmp(rest, "^{}") == 0)
				rank = 2; /* the peeled commit of an annotated tag */
			else if (!*rest)
				rank = 3;
		} else if (strcmp(name, step->ref) == 0) {
			rank = 4; /* a full ref name such as refs/pull/1/head */
		}
		if (rank < found_rank) {
			found_rank = rank;
			found = &heads[i]->oid;
		}
	}
	if (!found) {
		if (step->ref)
			step_err(spec, step, err, ENOENT,
				 "the repository has no branch or tag '%s'%s; a commit must be "
				 "written in full (40 hex digits)",
				 step->ref, "");
		else
			step_err(spec, step, err, ENOENT,
				 "the repository has no HEAD%s%s; give "
				 "'ref:'",
				 "", "");
		goto out;
	}
	g->git_oid_tostr(out, 41, found);
	ret = 0;
out:
	if (remote) {
		g->git_remote_disconnect(remote);
		g->git_remote_free(remote);
	}
	return ret;
}

/* The remembered resolution's file name: sha256 of URL and ref. */
/* git/<hex>: what the step's URL and ref resolved to. With env: the commit
 * a bundle loaded for that env brought, which serves that env only (a
 * bundle's sender names no commit for another project's step). */
static void memo_name(const struct env_step *step, const struct env_spec *env,
		      char hex[DV_SHA256_HEX])
{
	struct dv_sha256 h;

	dv_sha256_init(&h);
	dv_sha256_update(&h, step->git, strlen(step->git) + 1);
	if (step->ref)
		dv_sha256_update(&h, step->ref, strlen(step->ref));
	if (env) { /* the env: its checkout and Envfile, as prov_env_id */
		dv_sha256_update(&h, "", 1);
		dv_sha256_update(&h, env->checkout, strlen(env->checkout) + 1);
		dv_sha256_update(&h, env->relpath, strlen(env->relpath));
	}
	dv_sha256_final_hex(&h, hex);
}

/* The commit remembered under git/<hex>: true and commit. */
static bool memo_read(int dir, const char *hex, char commit[41])
{
	dv_autofree char *text = NULL;
	size_t len = 0;

	if (dv_read_file_at(dir, hex, &text, &len, &(struct dv_error){ 0 }) < 0 || len < 40)
		return false;
	text[40] = 0;
	if (!is_commit_id(text))
		return false;
	memcpy(commit, text, 41);
	return true;
}

int prov_git_dir(const struct layer_store *st, struct dv_error *err)
{
	int fd;

	if (mkdirat(st->root_fd, "git", 0700) < 0 && errno != EEXIST)
		return dv_err(err, errno, "cannot create '%s/git'", st->root);
	fd = openat(st->root_fd, "git", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s/git'", st->root);
	return fd;
}

int prov_git_resolve(const struct layer_store *st, struct env_spec *spec, bool refresh,
		     struct dv_error *err)
{
	dv_autoclose int dir = -1;
	const struct env_spec *env = spec->checkout && spec->relpath ? spec : NULL;

	for (size_t i = 0; i < spec->n_provision; i++) {
		struct env_step *step = &spec->provision[i];
		char hex[DV_SHA256_HEX], ehex[DV_SHA256_HEX], commit[41];

		if (step->kind != ENV_STEP_GIT || step->git_commit)
			continue;
		if (is_commit_id(step->ref)) {
			step->git_commit = dv_xstrdup(step->ref);
			continue;
		}
		if (dir < 0 && (dir = prov_git_dir(st, err)) < 0)
			return -1;
		memo_name(step, NULL, hex);
		memo_name(step, env, ehex);
		if (!refresh &&
		    ((env && memo_read(dir, ehex, commit)) || memo_read(dir, hex, commit))) {
			step->git_commit = dv_xstrdup(commit);
			continue;
		}
		if (ls_remote(spec, step, commit, err) < 0)
			return -1;
		commit[40] = '\n';
		if (dv_write_file_atomic(dir, hex, commit, 41, 0600, err) < 0)
			return -1;
		commit[40] = 0;
		/* Asked again: what a bundle brought this env is behind it. */
		if (env)
			(void)unlinkat(dir, ehex, 0);
		step->git_commit = dv_xstrdup(commit);
	}
	return 0;
}

int prov_git_clone(const struct env_spec *spec, const struct env_step *step, const char *dir,
		   char **out_path, struct dv_error *err)
{
	const struct prov_git *g = prov_git_load(err);
	dv_autofree char *path = dv_xasprintf("%s/src", dir);
	git_clone_options co;
	git_checkout_options ck;
	git_repository *repo = NULL;
	git_oid want, head;
	char branch[512];

	if (!g)
		return -1;
	if (check_reach(spec, step, err) < 0)
		return -1;
	g->git_clone_options_init(&co, GIT_CLONE_OPTIONS_VERSION);
	co.fetch_opts.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
	/* A branch is checked out as that branch, so `git pull` works inside
	 * the env; a tag or a commit is checked out detached. */
	if (step->ref && !is_commit_id(step->ref) && strncmp(step->ref, "refs/", 5) != 0) {
		snprintf(branch, sizeof(branch), "%s", step->ref);
		co.checkout_branch = branch;
	}
	if (g->git_clone(&repo, step->git, path, &co) < 0) {
		/* checkout_branch fails for a tag: clone the default branch. Any
		 * other failure is said as it is, not tried again. */
		bool retry = co.checkout_branch != NULL;

		if (retry) {
			struct dv_error ignored = { 0 };

			dv_rm_tree_at(AT_FDCWD, path, &ignored);
			co.checkout_branch = NULL;
		}
		if (!retry || g->git_clone(&repo, step->git, path, &co) < 0)
			return step_err(spec, step, err, EHOSTUNREACH, "cannot clone: %s%s",
					prov_git_errmsg(g), "");
	}
	/* What the key says, even when the remote moved since it was resolved
	 * (or the branch was a tag). */
	g->git_checkout_options_init(&ck, GIT_CHECKOUT_OPTIONS_VERSION);
	ck.checkout_strategy = GIT_CHECKOUT_FORCE;
	if (g->git_oid_fromstr(&want, step->git_commit) < 0 ||
	    (!(g->git_reference_name_to_id(&head, repo, "HEAD") == 0 &&
	       g->git_oid_equal(&head, &want)) &&
	     (g->git_repository_set_head_detached(repo, &want) < 0 ||
	      g->git_checkout_head(repo, &ck) < 0))) {
		step_err(spec, step, err, ENOENT, "cannot check out commit %s: %s",
			 step->git_commit, prov_git_errmsg(g));
		g->git_repository_free(repo);
		return -1;
	}
	g->git_repository_free(repo);
	*out_path = dv_steal_ptr(&path);
	return 0;
}

int prov_git_remember(const struct layer_store *st, const struct env_spec *spec,
		      const struct env_step *step, const char *commit, struct dv_error *err)
{
	dv_autoclose int dir = -1;
	char hex[DV_SHA256_HEX], line[42];

	if (!is_commit_id(commit) || is_commit_id(step->ref))
		return 0;
	if ((dir = prov_git_dir(st, err)) < 0)
		return -1;
	if (!spec->checkout || !spec->relpath)
		return 0;
	memo_name(step, spec, hex);
	snprintf(line, sizeof(line), "%s\n", commit);
	return dv_write_file_atomic(dir, hex, line, 41, 0600, err);
}

int prov_git_clone_local(const struct env_spec *spec, const struct env_step *step,
			 const char *local, const char *dir, char **out_path, struct dv_error *err)
{
	const struct prov_git *g = prov_git_load(err);
	struct env_step tmp = *step;
	git_repository *repo = NULL;
	dv_autofree char *path = NULL;
	int r;

	if (!g)
		return -1;
	/* A local clone: objects read back through libgit2, every one checked
	 * against its id, and the commit checked out from them; the folder's
	 * own working tree is never copied. */
	tmp.git = (char *)local;
	if (prov_git_clone(spec, &tmp, dir, &path, err) < 0)
		return -1;
	r = g->git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (r == 0)
		r = g->git_remote_set_url(repo, "origin", step->git);
	if (repo)
		g->git_repository_free(repo);
	if (r < 0)
		return step_err(spec, step, err, EIO, "cannot set the clone's origin: %s%s",
				prov_git_errmsg(g), "");
	*out_path = dv_steal_ptr(&path);
	return 0;
}
