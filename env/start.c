/*
 * env/start.c - start an env's init on its files: the layers as its root,
 * its volumes and mounts, whose ids it runs with, its sandbox, cgroups and
 * network; state.json records what started.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/fault.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/userns.h"
#include "util/banned.h"

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
const char *env_userns_map(const struct env *env, struct ctr_keepid *k, char *server,
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
static int owner_ids(const struct env *env, struct env_record *s, const char *why,
		     struct dv_error *err)
{
	dv_autofree const char **paths =
		dv_xcalloc(s->n_mounts + s->svc_binds.n + 2, sizeof(*paths));
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
				env->spec.user, why ? why : "they cannot be used", env->spec.user,
				(unsigned)ruid);
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
	s->ownership = dv_xstrdup(
		ctr_idmap_supported(paths, n, &(struct dv_error){ 0 }) ? "idmapped" : "chown");
	return 0;
}

/* What the env binds, as state.json keeps it for its sessions and the
 * sweep; each host mount learns which git paths it covers (gitdir.c). */
static void record_mounts(struct env_record *s, const struct env_spec *spec, struct ctr_mount *m,
			  size_t n)
{
	env_mount_recs_free(s->mounts, s->n_mounts);
	s->mounts = dv_xcalloc(n + 1, sizeof(*s->mounts));
	s->n_mounts = n;
	for (size_t i = 0; i < n; i++) {
		struct ctr_mount_rec *r = &s->mounts[i];

		r->source = dv_xstrdup(m[i].source);
		r->target = dv_xstrdup(m[i].target);
		r->volume = !m[i].host;
		if (m[i].host &&
		    prov_git_paths_in(spec->checkout, &s->git_protect, m[i].source, &r->protect))
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

/* The spec's `volumes` (each volume's folder, the env's own or a shared
 * one, made when missing) then `mounts`, as the container binds them
 * (prov_ctr_release closes the host mounts' trees). */
static int env_mounts(const struct layer_store *st, const struct env_spec *spec, const char *env_id,
		      const char *gitcommon, struct prov_ctr *c, struct dv_error *err)
{
	struct env_vol_env ve = { st, spec, env_id };

	if (prov_ctr_mounts(c, spec, spec->volumes, spec->n_volumes, NULL, env_vol_folder, &ve,
			    err) < 0 ||
	    prov_ctr_mounts(c, spec, spec->mounts, spec->n_mounts, "remove it from 'mounts'",
			    env_vol_folder, &ve, err) < 0)
		return -1;
	if (gitcommon) {
		/* A worktree's repository, at its own path: the `.git` file's
		 * `gitdir:` leads there inside as on the host. Read-only as
		 * the checkout's git dir is (prov_git_paths). */
		struct dv_error cerr = { 0 };
		int tree, e;

		tree = ctr_bind_tree(spec->checkout, gitcommon, &e, &cerr);
		if (tree < 0 && e)
			return dv_err(err, e,
				      "cannot open the git dir '%s' of the checkout's worktree "
				      "(it changed while up ran?); run 'devenv up' again",
				      gitcommon);
		if (tree < 0) {
			*err = cerr;
			return dv_err_prefix(err, "the git dir '%s' of the checkout's worktree",
					     gitcommon);
		}
		*prov_ctr_mount_add(c) =
			(struct ctr_mount){ .source = gitcommon,
					    .target = gitcommon,
					    .readonly = !spec->security.git_metadata_rw,
					    .host = true,
					    .has_tree = true,
					    .tree_fd = tree,
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
	if (common &&
	    (dv_path_below(common, spec->workdir) || dv_path_below(spec->workdir, common))) {
		fprintf(stderr,
			"devenv: warning: the checkout is a git worktree of '%s', which cannot "
			"be mounted at its own path inside: the workdir '%s' is there; set another "
			"'workdir' for git to work inside\n",
			common, spec->workdir);
		free(common);
		common = NULL;
	}
	*out = common;
	return 0;
}

/* Start the init on the env's files; state.json records it. */
int env_start(const struct layer_store *st, struct env *env, int efd, struct dv_error *err)
{
	struct env_record *s = &env->state;
	dv_autofree char *dir = dv_xasprintf("%s/envs/%s", st->root, env->id);
	dv_autofree char *upper = dv_xasprintf("%s/upper", dir);
	dv_autofree char *work = dv_xasprintf("%s/work", dir);
	dv_autofree char *log = dv_xasprintf("%s/log", env->id);
	dv_autoclose int log_fd = -1;
	struct prov_ctr c;
	struct ctr_idmap idmap;
	struct timespec now;
	struct ctr_user user;
	struct ctr_keepid keepid;
	char keepid_server[64];
	const char *why = NULL;
	struct env_net pn = { .fd = -1 };
	char cgname[PROV_CGROUP_NAME_MAX];
	dv_autoclose int commit = -1;
	dv_autofree char *gitcommon = NULL;
	int ret = -1;

	prov_ctr_init(&c, st, env->spec.name, &s->layers, upper, work);
	/* The services share the env's network: their names are localhost. */
	prov_ctr_hosts(&c, &env->spec);
	if (dv_mkdir_p(upper, 0755, err) < 0 || dv_mkdir_p(work, 0700, err) < 0)
		goto out;
	/* The log exists from the start ('devenv logs'); on_up appends to it.
	 * The init holds no file of the host's. */
	log_fd = openat(efd, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log_fd < 0) {
		dv_err(err, errno, "cannot open the env's log");
		goto out;
	}
	if (env_cgroup_name(st, env->id, cgname, err) < 0)
		goto out;
	/* Those an older devenv recorded (devenv/<env id>, a name another
	 * store's env may have too): removed when empty, never killed. */
	for (size_t i = 0; i < s->cgroups.n; i++) {
		const char *base = strrchr(s->cgroups.v[i], '/');

		if (base && strcmp(base + 1, cgname) && rmdir(s->cgroups.v[i]) < 0 && errno != ENOENT)
			fprintf(stderr,
				"devenv: warning: cannot remove cgroup '%s' of the env's last "
				"start: %s\n",
				s->cgroups.v[i], strerror(errno));
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
	c.cs.checkout = env->spec.checkout;
	c.cs.workdir = env->spec.workdir;
	c.cs.build = false;
	c.cs.cgroups = &s->cgroups;
	dv_strv_release(&s->git_protect);
	if (!env->spec.security.git_metadata_rw &&
	    prov_git_paths(env->spec.checkout, &s->git_protect, err) < 0)
		goto out;
	if (env_git_common(&env->spec, &gitcommon, err) < 0 ||
	    env_mounts(st, &env->spec, env->id, gitcommon, &c, err) < 0)
		goto out;
	record_mounts(s, &env->spec, c.mounts, c.n_mounts);
	free(s->userns_map);
	s->userns_map = dv_xstrdup(env_userns_map(env, &keepid, keepid_server, &why));
	if (s->userns_map[0])
		c.cs.keepid = &keepid;
	if (owner_ids(env, s, why, err) < 0)
		goto out;
	if (!strcmp(s->ownership, "idmapped")) {
		idmap = (struct ctr_idmap){ s->host_uid, s->host_uid, s->host_gid, s->host_gid };
		c.cs.idmap = &idmap;
	}
	c.cs.git_protect = (const char *const *)s->git_protect.v;
	c.cs.n_git_protect = s->git_protect.n;
	/* The sweep looks at what changed since: ctimes come from this clock
	 * (or a finer one, never earlier). */
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	s->started_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
	s->sweep_pending = strcmp(s->ownership, "idmapped") != 0;
	{
		/* Which folder this start mounts: one made again at the path
		 * while the env runs is not it (env_checkout_check). */
		struct stat cst;

		s->checkout_dev = s->checkout_ino = 0;
		if (stat(env->spec.checkout, &cst) == 0) {
			s->checkout_dev = (unsigned long long)cst.st_dev;
			s->checkout_ino = (unsigned long long)cst.st_ino;
		}
	}
	if (env->spec.user) {
		user = (struct ctr_user){ env->spec.user, env->spec.shell, s->user_uid,
					  s->user_gid };
		c.cs.user = &user;
	}
	free(s->seccomp);
	s->seccomp = NULL;
	if (prov_ctr_sandbox(&c, st, &env->spec, &s->limits, &s->cgroups, &s->caps, &s->seccomp,
			     err) < 0)
		goto out;
	prov_warn_undelegated(&s->limits, &s->cgroups);
	c.cs.new_netns = env->spec.network == ENV_NET_PRIVATE;
	/* The network helper starts as soon as the init's namespaces exist,
	 * while the init is put in its cgroups and builds its root. */
	env_net_prepare(&env->spec, s, &pn);
	c.cs.on_clone = env_net_on_clone;
	/* on_up's and `ssh --secret`'s secrets are mounted on it by each
	 * command (ctr_exec), in a mount namespace of its own. */
	c.cs.secrets_dir = env->spec.n_secrets > 0;
	c.cs.on_clone_arg = &pn;
	dv_fault_point("up.start");
	if (ctr_start(&c.cs, &s->init, &commit, err) < 0) {
		env_net_finish(&pn, s, false, &(struct dv_error){ 0 });
		goto out;
	}
	dv_fault_point("up.started");
	/* The commit point of `up`: state.json names the new init, then the
	 * init goes on. Killed before the byte, the init exits at once (its
	 * helpers follow it) and the env reads as halted, as it was; after,
	 * it runs and is recorded. */
	if (env_net_finish(&pn, s, true, err) < 0)
		goto stop;
	dv_fault_point("up.net");
	if (env_record_write(efd, s, err) < 0)
		goto stop;
	dv_fault_point("up.state");
	if (ctr_commit(&commit, err) < 0)
		goto stop;
	dv_fault_point("up.committed");
	ret = 0;
	goto out;
stop:
	hnet_stop(&s->net, &(struct dv_error){ 0 });
	ctr_stop(&s->init, 0, &(struct dv_error){ 0 });
out:
	env_net_release(&pn);
	if (ret < 0 && s->cgroups.n) {
		/* Nothing runs on them: an env that failed to start keeps none. */
		struct dv_error ignored = { 0 };

		ctr_cgroup_kill(&s->cgroups, &ignored);
		ctr_cgroup_remove(&s->cgroups, &ignored);
		dv_strv_release(&s->cgroups);
	}
	prov_ctr_release(&c);
	return ret;
}
