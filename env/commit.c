/*
 * env/commit.c - `devenv commit NAME[:TAG]`: the env's files as a new
 * image, as `docker commit` makes one: the env's layers, plus one more made
 * of its writable layer (what changed since it was provisioned, deletions
 * included), over the env's image's config.
 *
 * The writable layer goes through the same tar an `image save` writes
 * (layers/export.c) into the same importer a tarball goes through, by a
 * pipe: the new layer's id is that tar's diff_id. A running env is frozen
 * meanwhile where it has a freezer (Docker pauses too), so what is
 * committed is one moment of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env/env.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/banned.h"

/* The env's upper as a new layer, through a pipe: a child exports, we import. */
static int upper_layer(const struct layer_store *st, const char *upper, char id[65],
		       struct dv_error *err)
{
	int p[2], st_child = 0;
	unsigned long long size;
	pid_t pid, parent;
	int ret;

	if (pipe2(p, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		struct dv_error cerr = { 0 };
		char hex[65];

		/* Nobody to read it once we are gone: no exporter outlives us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(p[0]);
		if (layer_export_dir(st, upper, p[1], hex, NULL, &cerr) < 0) {
			dv_err_print(&cerr);
			_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	ret = layer_import_stream(st, p[0], "the env's files", "commit", id, &size, NULL, err);
	close(p[0]); /* a child still writing gets EPIPE */
	if (dv_waitpid(pid, &st_child, &(struct dv_error){ 0 }) < 0 || !WIFEXITED(st_child) ||
	    WEXITSTATUS(st_child)) {
		if (ret == 0) /* imported something, but the export did not finish */
			dv_err(err, 0, "cannot read the env's files");
		return -1;
	}
	return ret;
}

int env_commit(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
	       const char *name, struct layer_image *out, struct dv_error *err)
{
	dv_autofree char *upper = NULL;
	dv_autofree char *rel = dv_xasprintf("envs/%s/upper", env->id);
	struct layer_image base = { 0 };
	struct dv_strv layers = { 0 };
	bool frozen = false;
	char id[65];
	int ret = -1;

	struct prov_secrets sec = { 0 };

	/* The secrets it was given, read again (after the trust check: the
	 * Envfile may have changed since `up`), looked for in its files. */
	if (env->has_spec && env->spec.n_secrets &&
	    (prov_trust_check(ctx, st, env->id, &env->spec, err) < 0 ||
	     prov_secrets_read(&env->spec, PROV_SECRETS_STEPS | PROV_SECRETS_ON_UP, &sec, err) < 0))
		return -1;
	if (env_lock_existing(st, env, err) < 0) {
		prov_secrets_release(&sec);
		return -1;
	}
	if (ctr_probe(&env->state.init) == CTR_RUNNING && env->state.cgroups.n) {
		/* Should we be killed while it is frozen, the mark has the next
		 * command thaw it. */
		env_commit_mark(st, env, true);
		frozen = ctr_cgroup_freeze(&env->state.cgroups, true, 10000,
					   &(struct dv_error){ 0 }) == 0;
		if (!frozen)
			env_commit_mark(st, env, false);
	}
	dv_fault_point("commit.frozen");
	upper = dv_xasprintf("%s/envs/%s/upper", st->root, env->id);
	for (size_t i = 0; i < env->state.layers.n; i++)
		dv_strv_push(&layers, env->state.layers.v[i]);
	/* provision of a halted env recreates it on its new layers and leaves
	 * no upper until the next start: nothing changed yet, no layer to add. */
	if (faccessat(st->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
		if (prov_secrets_scan(&sec, upper, "the env's files", err) < 0) {
			dv_err_prefix(err, "cannot commit env '%s'", env->state.name);
			goto out;
		}
		if (upper_layer(st, upper, id, err) < 0) {
			dv_err_prefix(err, "cannot commit env '%s'", env->state.name);
			goto out;
		}
		dv_fault_point("commit.imported");
		dv_strv_push(&layers, id);
	}
	if (layers.n > ENV_MAX_LAYERS) {
		dv_err(err, 0,
		       "cannot commit env '%s': the image would have %zu layers, and an env "
		       "has at most %d (overlay's limit); merge provisioning steps first",
		       env->state.name, layers.n, ENV_MAX_LAYERS);
		goto out;
	}
	/* The env's image gives the settings (Env, Cmd...); gone: none. */
	if (layer_image_resolve(st, env->state.image_id, &base, &(struct dv_error){ 0 }) < 0 &&
	    layer_image_resolve(st, env->state.image, &base, &(struct dv_error){ 0 }) < 0)
		base.config = NULL;
	if (layer_image_compose(st, name, base.config, &layers, (long long)time(NULL), out, err) <
	    0) {
		dv_err_prefix(err, "cannot commit env '%s'", env->state.name);
	} else {
		/* The new layer's size is in its layer.json (import measured
		 * it); the env's, read by `ls` and `status`, is recorded too. */
		env_size_record(st, env->id, "commit");
		ret = 0;
	}
out:
	if (frozen && ctr_cgroup_freeze(&env->state.cgroups, false, 0, &(struct dv_error){ 0 }) == 0)
		env_commit_mark(st, env, false);
	layer_image_release(&base);
	dv_strv_release(&layers);
	prov_secrets_release(&sec);
	return ret;
}
