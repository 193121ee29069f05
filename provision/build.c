/*
 * provision/build.c - run the steps the cache lacks, commit each as a layer.
 *
 * A step runs in a build container on the chain below it, with a staging
 * folder as its upper; only a step that exits 0 is committed (by rename,
 * layers/layers.h), so a failed or interrupted step leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/banned.h"

#define SECS_SINCE(t0) ((double)(dv_now_ns() - (t0)) / 1e9)

void prov_limits(const struct env_spec *spec, struct ctr_limits *out)
{
	out->memory = spec->resources.memory;
	out->cpus_milli = spec->resources.cpus_milli;
	out->pids = spec->resources.pids;
}

/* KEY=VALUE list for processes: the Envfile's env, with PATH defaulted. */
void prov_envp(const struct env_spec *spec, struct dv_strv *out)
{
	prov_step_envp(spec, NULL, out);
}

/* The same, with a step's own env over the global one (step may be NULL). */
void prov_step_envp(const struct env_spec *spec, const struct env_step *step, struct dv_strv *out)
{
	size_t n_step = step ? step->n_env : 0;
	bool has_path = false;

	for (size_t i = 0; i < spec->n_env; i++) {
		bool overridden = false;

		for (size_t j = 0; j < n_step && !overridden; j++)
			overridden = !strcmp(spec->env[i].key, step->env[j].key);
		if (overridden)
			continue;
		dv_strv_push_owned(out, dv_xasprintf("%s=%s", spec->env[i].key, spec->env[i].value));
		if (!strcmp(spec->env[i].key, "PATH"))
			has_path = true;
	}
	for (size_t j = 0; j < n_step; j++) {
		dv_strv_push_owned(out, dv_xasprintf("%s=%s", step->env[j].key, step->env[j].value));
		if (!strcmp(step->env[j].key, "PATH"))
			has_path = true;
	}
	if (!has_path)
		dv_strv_push(out, PROV_DEFAULT_PATH);
	dv_strv_push(out, "HOME=/root");
}

/* git and download: fetched on the host into a staging folder of their
 * own (removed after, whatever happens), then copied in. */
static int fetch_step(const struct layer_store *st, const struct env_spec *spec,
		      const struct env_step *step, const struct ctr_spec *cs, struct dv_error *err)
{
	dv_autofree char *name = NULL, *dir = NULL, *path = NULL;
	struct dv_error ignored = { 0 };
	int ret;

	if (layer_staging_new(st, &name, err) < 0)
		return -1;
	/* Its empty diff/: a file named after the URL ("…/work") cannot
	 * collide with the staging folder's own diff/ and work/. */
	dir = layer_staging_path(st, name, "diff");
	ret = prov_input_fetch(st, spec, step, dir, &path, err);
	if (ret == 0) {
		/* The store's own staging folder, not the checkout: no race to
		 * fear, but the copier takes an fd. */
		const char *base = strrchr(path, '/');
		struct ctr_copy_src src = { .fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC),
					    .name = base ? base + 1 : path };

		ret = src.fd < 0 ? dv_err(err, errno, "cannot open '%s'", path)
				 : ctr_copy_in(cs, &src, step->to, err);
		if (src.fd >= 0)
			close(src.fd);
	}
	layer_staging_discard(st, name, &ignored);
	return ret;
}

/* What a build that failed at step i (from 0) keeps: the steps before it
 * are in the cache (each was committed as it ended), the failed one left
 * nothing. "steps 1-3 are cached, nothing of step 4 was kept". */
static const char *kept_note(size_t i, char *out, size_t n)
{
	if (i == 0)
		snprintf(out, n, "nothing of step 1 was kept");
	else if (i == 1)
		snprintf(out, n, "step 1 is cached, nothing of step 2 was kept");
	else
		snprintf(out, n, "steps 1-%zu are cached, nothing of step %zu was kept", i, i + 1);
	return out;
}

/* A `copy` step: its source opened race-free once (hostpath.c), read for
 * its key and copied from that one fd; and what the copier wrote must be
 * what was read, so that the layer is exactly what its key says. */
static int copy_step(const struct layer_store *st, const struct env_spec *spec,
		     const struct env_step *step, size_t index, const char *prev, const char *key,
		     const struct ctr_spec *cs, struct dv_error *err)
{
	const char *base = strrchr(step->copy_abs, '/');
	struct prov_copy pc = { .fd = -1 };
	struct ctr_copy_src src = { 0 };
	const char *changed = NULL;
	int ret = -1;

	if (prov_copy_open(spec, step, prev, &pc, err) < 0)
		return -1;
	/* Read since the keys were made, at the start of this command. */
	if (strcmp(pc.key, key) != 0) {
		changed = "changed while this command ran";
		goto out;
	}
	src = (struct ctr_copy_src){ .fd = pc.fd,
				     .name = base ? base + 1 : step->copy_abs,
				     .skips = &pc.skips,
				     .rel = step->copy };
	if (ctr_copy_in(cs, &src, step->to, err) < 0)
		goto out;
	if (strcmp(src.digest, pc.digest) != 0) {
		changed = "changed while it was being copied";
		goto out;
	}
	prov_recipe_record_copy(st, spec, index, prev, key, &pc.files);
	ret = 0;
out:
	if (changed) {
		char kept[96];

		dv_err_at(err, spec->display, step->line, step->col,
			  "'copy' path '%s' %s; %s; run the command again", step->copy, changed,
			  kept_note(index, kept, sizeof(kept)));
		err->status = 1;
	}
	prov_copy_release(&pc);
	return ret;
}

int prov_build_cgroup_name(const struct layer_store *st, pid_t pid, char *out, struct dv_error *err)
{
	char sid[9];

	if (layer_store_id(st, sid, err) < 0)
		return -1;
	snprintf(out, PROV_CGROUP_NAME_MAX, "build-%s-%d", sid, (int)pid);
	return 0;
}

/* Is the store's filesystem out of space or inodes (for its user)? */
static bool store_full(const struct layer_store *st)
{
	struct statvfs v;

	if (statvfs(st->root, &v) < 0)
		return false;
	return (unsigned long long)v.f_bavail * v.f_frsize < 1024 * 1024 ||
	       (v.f_files && v.f_favail == 0);
}

int prov_build_cgroups_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err)
{
	struct dv_strv all = { 0 }, doomed = { 0 };
	int ret = -1;

	if (ctr_cgroup_list("build-", &all, err) < 0)
		return -1;
	for (size_t i = 0; i < all.n; i++) {
		const char *base = strrchr(all.v[i], '/') + 1, *dash = strrchr(base, '-');
		char want[PROV_CGROUP_NAME_MAX];
		char *end;
		long pid = strtol(dash + 1, &end, 10);

		/* Only the name this store gives that pid's builds: another
		 * store's, or a live builder's, stay. */
		if (pid <= 0 || *end || prov_build_cgroup_name(st, (pid_t)pid, want, err) < 0)
			continue;
		if (strcmp(base, want) || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		dv_strv_push(&doomed, all.v[i]);
	}
	/* Its step died with it (parent-death signal); what an older devenv
	 * left running goes now. */
	if (ctr_cgroup_kill(&doomed, err) < 0 || ctr_cgroup_remove(&doomed, err) < 0)
		goto out;
	*removed += (unsigned)doomed.n;
	ret = 0;
out:
	dv_strv_release(&all);
	dv_strv_release(&doomed);
	return ret;
}

/* prev, key: the step's key and the one before it (the copy checks them). */
static int run_step(const struct layer_store *st, const struct env_spec *spec,
		    const struct env_step *step, size_t index, const char *prev, const char *key,
		    const struct dv_strv *chain, const char *staging, const char *env_id,
		    const struct prov_secrets *sec, bool *apt_warn, struct dv_error *err)
{
	dv_autofree struct ctr_secret *secrets = NULL;
	dv_autofree char *upper = layer_staging_path(st, staging, "diff");
	dv_autofree char *work = layer_staging_path(st, staging, "work");
	struct prov_ctr c;
	struct dv_strv envp = { 0 }, cgroups = { 0 };
	struct ctr_limits lim;
	char cgname[PROV_CGROUP_NAME_MAX];
	struct prov_build_net bn = { 0 };
	struct prov_step_agent agent = PROV_STEP_AGENT_INIT;
	unsigned long long caps = 0;
	char *bpf = NULL;
	int status = 0, ret = -1;

	prov_ctr_init(&c, st, spec->name, chain, upper, work);
	c.cs.workdir = "/";
	c.cs.build = true;

	if (step->kind == ENV_STEP_COPY) {
		ret = copy_step(st, spec, step, index, prev, key, &c.cs, err);
		goto out;
	}
	if (step->kind == ENV_STEP_GIT || step->kind == ENV_STEP_DOWNLOAD) {
		ret = fetch_step(st, spec, step, &c.cs, err);
		goto out;
	}
	/* The step runs under the env's limits (DESIGN.md: every process of
	 * the env in its cgroup), in a cgroup of its own, removed after. */
	prov_limits(spec, &lim);
	if (prov_build_cgroup_name(st, getpid(), cgname, err) < 0 ||
	    ctr_cgroup_create(cgname, &lim, &cgroups, err) < 0)
		goto out;
	c.cs.cgroups = &cgroups;
	/* Its `cache` folders, kept out of its layer (cachemount.c). */
	if (prov_cache_mounts(&c, st, spec, step, env_id, err) < 0)
		goto out;
	/* The same sandbox as the env's. */
	if (prov_ctr_sandbox(&c, st, spec, &lim, &cgroups, &caps, &bpf, err) < 0)
		goto out;
	prov_build_net(spec, &bn);
	c.cs.new_netns = bn.private_ns;
	c.cs.outbound = bn.tool;
	c.cs.outbound_pasta = bn.pasta;
	prov_step_envp(spec, step, &envp);
	prov_epoch_envp(spec, &envp); /* SOURCE_DATE_EPOCH (normalise.c) */
	/* Root's files on a tmpfs, masked in the output (ns.c). */
	c.cs.n_secrets = prov_secrets_for(sec, &step->secrets, 0, 0, &secrets);
	c.cs.secrets = secrets;
	/* `ssh_agent: true`: the developer's agent, filtered, while it runs */
	if (step->ssh_agent && prov_step_agent(&c, st, spec, index, env_id, &agent, err) < 0)
		goto out;
	if (agent.agent.pid)
		dv_strv_push_owned(&envp, dv_xasprintf("SSH_AUTH_SOCK=%s", agent.agent.path));
	struct prov_apt apt;
	char **argv = prov_apt_argv(spec, step, &apt); /* `apt_snapshot`: aptsnap.c */
	/* Its output is shown (or, with -q, held and shown when it fails):
	 * safe for a terminal, as every text of the env's devenv prints. */
	struct ctr_exec x = { .argv = argv,
			      .envp = envp.v,
			      .cwd = "/",
			      .tty = false,
			      .tee_fd = -1,
			      .filter = true };

	fflush(stdout);
	dv_fault_point("build.run");
	if (ctr_run(&c.cs, &x, &status, err) < 0)
		goto out;
	*apt_warn = prov_apt_changed(spec, step, upper); /* sources changed as apt ran */
	if (status != 0) {
		char kept[96];

		dv_err_at(err, spec->display, step->line, step->col,
			  "provisioning step %zu failed with exit status %d; %s", index + 1, status,
			  kept_note(index, kept, sizeof(kept)));
		err->status = 1;
		/* Its writes filled the store (they are still in the staging
		 * folder): the step's own error says ENOSPC, or EIO through
		 * overlay; devenv.c says the store is full. */
		if (store_full(st))
			err->errnum = ENOSPC;
		goto out;
	}
	dv_fault_point("build.ran");
	ret = 0;
out:
	/* Its volatile files left out, its times clamped (normalise.c). */
	if (ret == 0 && prov_normalise(upper, spec->source_date_epoch, err) < 0)
		ret = -1;
	/* What it wrote (a `copy` of a secret file of the checkout too) must
	 * hold no secret before it becomes a layer. */
	if (ret == 0 && sec->n) {
		dv_autofree char *what = dv_xasprintf("step %zu's files", index + 1);

		if (prov_secrets_scan(sec, upper, what, err) < 0) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			dv_err_at(err, spec->display, step->line, step->col,
				  "%s; nothing of it was kept", msg);
			err->status = 1;
			ret = -1;
		}
	}
	if (cgroups.n) {
		struct dv_error ignored = { 0 };

		if (ctr_cgroup_kill(&cgroups, &ignored) < 0 ||
		    ctr_cgroup_remove(&cgroups, &ignored) < 0)
			fprintf(stderr, "devenv: warning: %s\n", ignored.msg);
	}
	dv_strv_release(&cgroups);
	prov_step_agent_end(st, &agent);
	prov_ctr_release(&c);
	dv_strv_release(&envp);
	prov_build_net_release(&bn);
	free(bpf);
	return ret;
}

int prov_run_step(const struct layer_store *st, const struct env_spec *spec, size_t index,
		  const char *prev, const char *key, const struct dv_strv *chain,
		  const char *staging, const char *env_id, struct dv_error *err)
{
	struct prov_secrets sec = { 0 };
	bool apt_warn = false;
	int ret = -1;

	if (!spec->n_secrets ||
	    prov_secrets_read(spec, PROV_SECRETS_STEPS | PROV_SECRETS_ON_UP, &sec, err) == 0)
		ret = run_step(st, spec, &spec->provision[index], index, prev, key, chain, staging,
			       env_id, &sec, &apt_warn, err);
	prov_secrets_release(&sec);
	return ret;
}

int prov_build(const struct dv_ctx *ctx, const struct layer_store *st, const struct env_spec *spec,
	       const struct layer_image *base, const struct dv_strv *keys, struct prov_team *team,
	       struct dv_strv *layers, struct dv_error *err)
{
	size_t n = spec->n_provision;
	/* key(step 0): the image id without its "sha256:" (key.c) */
	const char *base_key = strncmp(base->id, "sha256:", 7) == 0 ? base->id + 7 : base->id;
	struct prov_progress pg;
	char env_id[13] = "", mark[17];
	/* A pulled layer serves the envs naming its source, and the env it was
	 * pulled for; a built one serves all (layers/store.c). */
	struct layer_cache_scope scope = { &spec->cache_from, NULL };
	const char *trust = prov_sig_mark(spec, mark); /* NULL without cache_trust */

	if (spec->checkout && spec->relpath) {
		prov_env_id(spec->checkout, spec->relpath, env_id);
		scope.env = env_id;
	}
	/* Found before any step runs, not at the mount of the step past it. */
	if (base->layers.n + n > ENV_MAX_LAYERS) {
		size_t first = base->layers.n < ENV_MAX_LAYERS ? ENV_MAX_LAYERS - base->layers.n : 0;

		if (first == 0)
			return dv_err_at(err, spec->display, spec->image_line, spec->image_col,
					 "image '%s' has %zu layers: an env has at most %d (overlay's limit)",
					 spec->image, base->layers.n, ENV_MAX_LAYERS);
		return dv_err_at(err, spec->display, spec->provision[first].line,
				 spec->provision[first].col,
				 "step %zu is one layer too many: image '%s' has %zu layer%s, and an env "
				 "has at most %d, its image's and one per step (overlay's limit); merge "
				 "steps, as one 'run' joined with '&&'",
				 first + 1, spec->image, base->layers.n,
				 base->layers.n == 1 ? "" : "s", ENV_MAX_LAYERS);
	}
	struct prov_secrets sec = { 0 };
	bool apt_warn = false;
	bool sec_read = false;
	int ret = -1;

	prov_progress_init(&pg, ctx, n);
	for (size_t i = 0; i < base->layers.n; i++)
		dv_strv_push(layers, base->layers.v[i]);
	for (size_t i = 0; i < n; i++) {
		const struct env_step *step = &spec->provision[i];
		dv_autofree char *label = prov_step_label(step);
		dv_autofree char *staging = NULL;
		struct dv_error miss = { 0 };
		char id[65];
		unsigned long long t0 = dv_now_ns();
		bool committed;

		if (layer_cache_get_trust(st, keys->v[i], &scope, trust, id, &miss) == 0) {
			prov_progress_end(&pg, i, label, PROV_CACHED, SECS_SINCE(t0));
			dv_strv_push(layers, id);
			continue;
		}
		if (miss.errnum != ENOENT) {
			*err = miss;
			goto out;
		}
		/* The team cache: a pushed env's layer for this very key. */
		switch (prov_team_fetch(st, team, base->id, keys->v[i], id, err)) {
		case 0:
			prov_progress_end(&pg, i, label, PROV_PULLED, SECS_SINCE(t0));
			prov_recipe_record(st, spec, i, i ? keys->v[i - 1] : base_key, base->name,
					   keys->v[i]);
			dv_strv_push(layers, id);
			continue;
		case 1:
			break;
		default:
			goto out;
		}
		if (step->kind == ENV_STEP_RUN)
			prov_build_net_warn(spec);
		prov_progress_start(&pg, i, label);
		prov_recipe_explain(ctx, i);
		t0 = dv_now_ns();
		if (layer_staging_new(st, &staging, err) < 0) {
			prov_progress_end(&pg, i, label, PROV_FAILED, SECS_SINCE(t0));
			goto out;
		}
		/* Read once, when the first step runs of an Envfile whose
		 * steps or on_up name secrets: every step's files are looked
		 * through (a `copy` may take a secret file of the checkout). A
		 * build whose steps are all cached reads none. */
		if (spec->n_secrets && !sec_read) {
			if (prov_secrets_read(spec, PROV_SECRETS_STEPS | PROV_SECRETS_ON_UP, &sec,
					      err) < 0) {
				struct dv_error ignored = { 0 };

				prov_progress_end(&pg, i, label, PROV_FAILED, SECS_SINCE(t0));
				layer_staging_discard(st, staging, &ignored);
				goto out;
			}
			sec_read = true;
		}
		if (run_step(st, spec, step, i, i ? keys->v[i - 1] : base_key, keys->v[i], layers,
			     staging, env_id, &sec, &apt_warn, err) < 0) {
			struct dv_error ignored = { 0 };

			prov_progress_end(&pg, i, label, PROV_FAILED, SECS_SINCE(t0));
			prov_apt_warn(spec, step, i, label, apt_warn);
			layer_staging_discard(st, staging, &ignored);
			if (err->errnum == EINTR) {
				char kept[96];

				dv_err_at(err, spec->display, step->line, step->col,
					  "step %zu interrupted; %s", i + 1,
					  kept_note(i, kept, sizeof(kept)));
				err->status = 130; /* as a shell reports SIGINT */
				goto out;
			}
			/* devenv's own write that found the store full is no
			 * fault of the step's (devenv.c says the store is full). */
			if (!err->line && err->errnum != ENOSPC && err->errnum != EDQUOT) {
				err->line = step->line;
				err->col = step->col;
				snprintf(err->file, sizeof(err->file), "%s", spec->display);
			}
			goto out;
		}
		dv_fault_point("build.commit");
		committed = layer_commit_epoch(st, staging, keys->v[i],
					       layers->n ? layers->v[layers->n - 1] : "", label,
					       spec->source_date_epoch, err) == 0;
		if (committed)
			dv_fault_point("build.committed");
		if (!committed || layer_cache_put(st, keys->v[i], keys->v[i], NULL, NULL, err) < 0) {
			struct dv_error ignored = { 0 };

			prov_progress_end(&pg, i, label, PROV_FAILED, SECS_SINCE(t0));
			layer_staging_discard(st, staging, &ignored);
			goto out;
		}
		dv_fault_point("build.cached");
		if (step->kind != ENV_STEP_COPY) /* copy_step recorded its own */
			prov_recipe_record(st, spec, i, i ? keys->v[i - 1] : base_key, base->name,
					   keys->v[i]);
		dv_strv_push(layers, keys->v[i]);
		prov_progress_end(&pg, i, label, PROV_RAN, SECS_SINCE(t0));
		prov_apt_warn(spec, step, i, label, apt_warn); /* after -q's held output */
	}
	ret = 0;
out:
	prov_secrets_release(&sec);
	return ret;
}
