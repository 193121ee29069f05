/*
 * env/up.c - `up` and `provision`: what the Envfile asks for (the plan),
 * built and recorded in state.json, the env started (start.c) and on_up run.
 *
 * Its mounts exist only inside its own mount namespace, so a killed init
 * leaves nothing mounted on the host and the next `up` simply starts a new
 * one on the same files.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "env/env.h"
#include "env/internal.h"
#include "provision/lock.h"
#include "util/fault.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

static bool strv_equal(const struct dv_strv *a, const struct dv_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
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
	struct prov_lock lock; /* Envfile.lock as read (has_lock) */
	bool has_lock;
	struct dv_strv explain;   /* up --explain: why each step runs (why.c) */
	struct dv_strv lock_keys; /* keys at the lock's base when img stands for it */
};

static void plan_release(struct plan *p)
{
	prov_team_free(p->team);
	layer_image_release(&p->img);
	dv_strv_release(&p->keys);
	dv_strv_release(&p->layers);
	free(p->digest);
	env_svc_images_release(p->svc_imgs, p->n_svc);
	prov_lock_release(&p->lock);
	dv_strv_release(&p->explain);
	dv_strv_release(&p->lock_keys);
	memset(p, 0, sizeof(*p));
}

/* The team base this env's record pins for its `image:` (state.json
 * image_for), while the Envfile names the same `image:`, the store still
 * has it and it vouches for this env (taken for it, or the Envfile names
 * its source: a `reload` or `up` without --cache-from keeps it): 0 and
 * img, no network; 1 otherwise. */
static int pinned_base(const struct layer_store *st, const struct env *env, struct layer_image *img)
{
	const struct env_record *s = &env->state;

	if (!env->has_state || !s->image_for || strcmp(s->image_for, env->spec.image) ||
	    layer_image_resolve(st, s->image, img, &(struct dv_error){ 0 }) < 0)
		return 1;
	if (!strcmp(img->id, s->image_id) && prov_team_vouches(&env->spec, img))
		return 0;
	layer_image_release(img);
	return 1;
}

/* Is img what the store's image of that name is? A base the lock found
 * otherwise (a team's base standing for the lock's, one kept under a
 * digest name) is pinned as a team's base is: push and bundle take it. */
static bool is_named(const struct layer_store *st, const char *image, const struct layer_image *img)
{
	struct layer_image named = { 0 };
	bool same;

	if (layer_image_resolve(st, image, &named, &(struct dv_error){ 0 }) < 0)
		return false;
	same = !strcmp(named.id, img->id);
	layer_image_release(&named);
	return same;
}

/* Does the local cache lack the last step's key? Keys chain, so then some
 * step would be built (or taken from the team cache). */
static bool would_build(const struct layer_store *st, const struct env_spec *spec,
			const struct dv_strv *keys)
{
	char env_id[13] = "", id[65], mark[17];
	struct layer_cache_scope scope = { &spec->cache_from, NULL };

	if (!keys->n)
		return false;
	if (spec->checkout && spec->relpath) {
		prov_env_id(spec->checkout, spec->relpath, env_id);
		scope.env = env_id;
	}
	return layer_cache_get_trust(st, keys->v[keys->n - 1], &scope, prov_sig_mark(spec, mark),
				     id, &(struct dv_error){ 0 }) < 0;
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
static int plan_make(const struct layer_store *st, struct env *env, bool refresh, struct plan *p,
		     struct dv_error *err)
{
	struct env_spec *spec = &env->spec;
	dv_autoclose int gitdir = -1;
	dv_autofree bool *update = NULL;
	bool building, locked;
	int r;

	/* SOURCE_DATE_EPOCH of devenv's environment: over the lock's. */
	if (prov_epoch_from_env(&spec->source_date_epoch, err) < 0)
		return -1;
	/* Envfile.lock, read on every up (once): it wins over what the store
	 * remembers (git commits, a pinned base); --frozen compares first. */
	if ((r = prov_lock_read(spec, &p->lock, err)) < 0)
		return -1;
	p->has_lock = r == 0;
	if (env->frozen && !p->has_lock) {
		dv_autofree char *lock = prov_lock_display(spec);

		dv_err_plain(err, ENOENT,
			     "--frozen: there is no %s next to %s; run 'devenv lock' "
			     "and commit it",
			     lock, spec->display);
		return -1;
	}
	if (env->frozen && prov_lock_check(spec, &p->lock, NULL, err) < 0)
		return -1;
	update = env_lock_updates(env);
	prov_lock_apply(spec, p->has_lock ? &p->lock : NULL, update);
	p->team = prov_team_new(spec);
	if ((r = env_lock_base(st, env, p->has_lock ? &p->lock : NULL, p->team, &p->img, err)) < 0)
		return -1;
	locked = r == 0;
	p->pinned = locked ? !is_named(st, spec->image, &p->img)
			   : pinned_base(st, env, &p->img) == 0;
	if ((!locked && !p->pinned &&
	     prov_resolve_image(st, spec, spec->image, p->team, &p->img, err) < 0) ||
	    prov_git_resolve(st, spec, refresh, err) < 0 || (gitdir = prov_git_dir(st, err)) < 0 ||
	    prov_keys_at(spec, p->img.id, gitdir, &p->keys, err) < 0)
		return -1;
	/* Asked when the env is new (which base it has is decided then, even
	 * when another env of the store built the same steps on the store's
	 * image) or when a step would be built: an env that exists and has
	 * nothing to build never opens a registry. */
	building = p->team && !layer_ref_has_host(spec->image) && would_build(st, spec, &p->keys);
	if (!locked && p->team && !layer_ref_has_host(spec->image) && (building || !env->has_state)) {
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
	if (!locked)
		env_lock_differs(env, p->has_lock ? &p->lock : NULL, &p->img);
	if (env_lock_keys(spec, p->has_lock ? &p->lock : NULL, &p->img, gitdir, &p->lock_keys,
			  err) < 0)
		return -1;
	if (env_svc_resolve(st, spec, &p->svc_imgs, err) < 0 ||
	    env_lock_services(st, env, p->has_lock ? &p->lock : NULL, p->svc_imgs, err) < 0)
		return -1;
	p->n_svc = spec->n_services;
	p->digest = prov_spec_digest(spec, p->img.id, &p->keys);
	return 0;
}

/* After a build: the lock, written when its bytes change. */
static int lock_save(const struct dv_ctx *ctx, const struct env *env, const struct plan *p,
		     struct dv_error *err)
{
	struct dv_error why = { 0 };
	struct dv_ctx quiet = *ctx; /* up's output stays as it was: git status shows the lock */

	(void)err;
	quiet.quiet = true;
	/* A checkout devenv cannot write in (read-only, another's) still
	 * gets its env: the lock is a warning there, not a failure. */
	if (env_lock_save(&quiet, &env->spec, p->has_lock ? &p->lock : NULL, &p->img,
			  p->lock_keys.n ? &p->lock_keys : &p->keys, p->svc_imgs, &why) < 0)
		fprintf(stderr,
			"devenv: warning: %s; the env is built, but its lock was not written\n",
			why.msg);
	return 0;
}

/* up --explain: the sentences prov_build prints under each step it runs. */
static int explain(struct dv_ctx *ctx, const struct layer_store *st, const struct env *env,
		   struct plan *p, struct dv_error *err)
{
	if (!env->explain)
		return 0;
	if (env_explain(st, env, &p->img, &p->keys, p->team, false, &p->explain, NULL, err) < 0)
		return -1;
	ctx->explain = &p->explain;
	return 0;
}

int env_why(const struct layer_store *st, struct env *env, size_t step, bool json,
	    struct dv_error *err)
{
	struct plan p = { 0 };
	struct dv_strv lines = { 0 };
	struct json_object *objs = json ? json_object_new_array() : NULL;
	int ret = -1;

	if (plan_make(st, env, false, &p, err) < 0 ||
	    env_explain(st, env, &p.img, &p.keys, p.team, true, &lines, objs, err) < 0)
		goto out;
	if (!lines.n && !json)
		printf("env '%s' has no provisioning steps\n", env->spec.name);
	for (size_t i = 0; i < lines.n; i++) {
		dv_autofree char *label = prov_step_label(&env->spec.provision[i]);

		if (step && step != i + 1)
			continue;
		if (json)
			prov_json_print(stdout, json_object_array_get_idx(objs, i),
					JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		else
			printf("step %zu (%s): %s\n", i + 1, label, lines.v[i]);
	}
	ret = 0;
out:
	json_object_put(objs);
	dv_strv_release(&lines);
	plan_release(&p);
	return ret;
}

/* Say what changed between the running env and the Envfile, and what
 * `reload` would do about it: a changed image or step means new layers,
 * on which the env is recreated (reset_upper); anything else restarts it
 * on the files it has. Said with -q too: the change is not applied. */
static void report_change(const struct env *env, const struct plan *p)
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
		printf("env '%s' is running, but its provisioning steps changed%s\n", spec->name,
		       tail);
	else
		printf("env '%s' is running, but its Envfile changed; 'devenv reload' restarts it with "
		       "the change (its files are kept)\n",
		       spec->name);
}

static void fill_state(struct env_record *s, const struct env *env, const struct plan *p)
{
	const struct env_spec *spec = &env->spec;
	long long created = s->created ? s->created : (long long)time(NULL);
	struct ctr_init init = s->init;
	struct dv_strv cgroups = s->cgroups;
	char *seccomp = s->seccomp;
	unsigned long long caps = s->caps;
	struct env_svc_record *services = s->services;
	size_t n_services = s->n_services;
	/* The ports of the last start, until the next (env_net_prepare):
	 * `auto` ones come back to theirs. */
	struct hnet_port *ports = s->ports;
	size_t n_ports = s->n_ports;
	/* What the last start left to sweep (sweep.c) stays until swept. */
	struct env_record own = { .ownership = s->ownership,
				  .host_uid = s->host_uid,
				  .host_gid = s->host_gid,
				  .started_ns = s->started_ns,
				  .sweep_pending = s->sweep_pending,
				  .mounts = s->mounts,
				  .n_mounts = s->n_mounts,
				  .git_protect = s->git_protect,
				  .svc_binds = s->svc_binds };

	char *map = s->userns_map;
	char *dotfiles = s->dotfiles; /* what the upper holds stays */

	s->dotfiles = NULL;
	s->userns_map = NULL;
	memset(&s->cgroups, 0, sizeof(s->cgroups));
	s->seccomp = NULL;
	s->services = NULL;
	s->n_services = 0;
	s->ownership = NULL;
	s->ports = NULL;
	s->n_ports = 0;
	s->mounts = NULL;
	s->n_mounts = 0;
	memset(&s->git_protect, 0, sizeof(s->git_protect));
	memset(&s->svc_binds, 0, sizeof(s->svc_binds));
	env_record_release(s);
	s->ownership = own.ownership;
	s->userns_map = map;
	s->dotfiles = dotfiles;
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
	s->ports = ports;
	s->n_ports = n_ports;
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
	for (size_t i = 0; i < spec->git_credentials.n; i++)
		dv_strv_push(&s->git_credentials, spec->git_credentials.v[i]);
	env_vol_names(spec, env->id, &s->volumes);
	s->cgroups = cgroups;
	s->init = init;
	{
		static const char *const modes[] = { [ENV_AGENT_NONE] = "",
						     [ENV_AGENT_ALL] = "all",
						     [ENV_AGENT_LIST] = "list",
						     [ENV_AGENT_CONFIRM] = "confirm" };

		s->ssh_agent = dv_xstrdup(modes[spec->ssh_agent.mode]);
		for (size_t i = 0; i < spec->ssh_agent.keys.n; i++)
			dv_strv_push(&s->ssh_agent_keys, spec->ssh_agent.keys.v[i]);
	}
	s->created = created;
}

/* Run the on_up steps in the running env, output to the terminal and log.
 * ctr_exec() moves the calling process into the env's namespaces, so each
 * step runs from a child of ours. */
static int run_on_up_steps(const struct dv_ctx *ctx, const struct layer_store *st,
			   const struct env *env, int log_fd, const struct hnet_gitcred *gcred,
			   const char *agent_sock, struct dv_error *err)
{
	const struct env_spec *spec = &env->spec;
	struct prov_secrets sec = { 0 };
	int ret = -1;

	/* Read when an on_up entry names one (memory only), once. */
	for (size_t i = 0; i < spec->n_on_up; i++)
		if (spec->on_up[i].secrets.n) {
			if (prov_secrets_read(spec, PROV_SECRETS_ON_UP, &sec, err) < 0)
				return -1;
			break;
		}
	for (size_t i = 0; i < spec->n_on_up; i++) {
		const struct env_step *step = &spec->on_up[i];
		char *argv[] = { spec->shell, "-c", step->run, NULL };
		struct dv_strv envp = { 0 };
		struct ctr_owner owner;
		dv_autofree struct ctr_secret *secrets = NULL;
		size_t n_secrets = prov_secrets_for(&sec, &step->secrets, 0, 0, &secrets);

		prov_step_envp(spec, step, &envp); /* the step's own `env` over the env's */
		if (gcred->pid)
			hnet_gitcred_envp(gcred, &envp);
		if (agent_sock)
			dv_strv_push_owned(&envp, dv_xasprintf("SSH_AUTH_SOCK=%s", agent_sock));
		/* No input (the terminal's typeahead is the developer's),
		 * output to us, made safe for a terminal, and as it is to the
		 * log, or with -q to the log alone ('devenv logs'). */
		struct ctr_exec x = { .argv = argv,
				      .envp = envp.v,
				      .cwd = spec->workdir,
				      .tty = false,
				      .tee_fd = log_fd,
				      .tee_only = ctx->quiet,
				      .filter = true,
				      .no_stdin = true,
				      .user = env->state.user && env->state.user[0] ? env->state.user
										    : NULL,
				      .owner = env_record_owner(&env->state, &owner),
				      .sandbox = NULL,
				      .secrets = secrets,
				      .n_secrets = n_secrets };
		int status = 0;
		unsigned long long t0 = dv_now_ns();

		/* wait_for: the services it names ready first (health.c). */
		if (step->wait_for.n) {
			dv_autofree char *why = dv_xasprintf("on_up step %zu", i + 1);

			if (env_health_wait(ctx, st, env, step->wait_for.v, step->wait_for.n,
					    step->wait_timeout_ms ? step->wait_timeout_ms
								  : ENV_WAIT_TIMEOUT_MS,
					    why, err) < 0) {
				dv_strv_release(&envp);
				snprintf(err->file, sizeof(err->file), "%s", spec->display);
				err->line = step->wait_line;
				err->col = step->wait_col;
				err->status = 1;
				goto out;
			}
			t0 = dv_now_ns();
		}
		if (!ctx->quiet) {
			struct dv_buf shown = { 0 }; /* the repository's text, escaped */

			dv_buf_add_safe(&shown, step->run, strcspn(step->run, "\n"));
			printf("[on_up %zu/%zu] run: %s\n", i + 1, spec->n_on_up, shown.s);
			dv_buf_release(&shown);
		}
		fflush(stdout);
		dprintf(log_fd, "[on_up %zu/%zu] run: %s\n", i + 1, spec->n_on_up, step->run);
		/* A commit elsewhere freezes the env for a moment (it does not
		 * hold our lock: on_up runs without it): the step never
		 * started, so it enters again once the commit is over. */
		for (int tries = 0;; tries++) {
			int why = 0;

			if (env_exec_child(env, &x, -1, &status, &why, err) < 0) {
				dv_strv_release(&envp);
				goto out;
			}
			if (status != 125 || why != EBUSY || tries == 10 ||
			    !env_commit_wait(st, env))
				break;
		}
		dv_strv_release(&envp);
		/* `halt`, `destroy` or a `reload` elsewhere stopped the env: the
		 * step was killed (143, 137) or could not enter (125). The init
		 * passes SIGTERM on and exits when its processes have: a moment. */
		if (status == 125 && ctr_probe(&env->state.init) == CTR_FROZEN) {
			dv_err(err, 0,
			       "env '%s' was suspended by another command while on_up ran; "
			       "'devenv resume' thaws it (the rest of on_up did not run)",
			       spec->name);
			err->errnum = EBUSY;
			goto out;
		}
		if ((status == 125 || status == 128 + SIGTERM || status == 128 + SIGKILL) &&
		    ctr_exited(&env->state.init, 2000)) {
			dv_err(err, 0,
			       "env '%s' was halted by another command while on_up ran; "
			       "'devenv up' starts it again",
			       spec->name);
			err->errnum = ESRCH;
			goto out;
		}
		prov_progress_on_up(ctx, i, spec->n_on_up, step->run, status == 0,
				    (double)(dv_now_ns() - t0) / 1e9);
		if (status != 0) {
			dv_err_at(err, spec->display, step->line, step->col,
				  "on_up step failed with exit status %d; the env is running, see 'devenv logs'",
				  status);
			err->status = 1;
			goto out;
		}
	}
	ret = 0;
out:
	prov_secrets_release(&sec);
	return ret;
}

/* on_up with `git_credentials`: one relay for all its steps (hostnet/gitcred.c);
 * with the env's `ssh_agent`, one filter for all of them (hostnet/agent_run.c). */
static int run_on_up(const struct dv_ctx *ctx, const struct layer_store *st, const struct env *env,
		     int log_fd, struct dv_error *err)
{
	struct hnet_gitcred gcred = { .lifeline = -1 };
	struct hnet_agent agent = HNET_AGENT_INIT;
	int ret;

	if (env->spec.n_on_up && env->state.git_credentials.n) {
		struct dv_error gerr = { 0 };

		if (hnet_gitcred_start(&env->state.init, &env->state.git_credentials, &gcred,
				       &gerr) < 0)
			fprintf(stderr,
				"devenv: warning: git_credentials: %s; on_up runs without them\n",
				gerr.msg);
	}
	if (env->spec.n_on_up && env->state.ssh_agent && env->state.ssh_agent[0] &&
	    env_agent_start(NULL, &env->state, "on_up", log_fd, -1, &agent, err) < 0) {
		hnet_gitcred_stop(&gcred);
		return -1;
	}
	ret = run_on_up_steps(ctx, st, env, log_fd, &gcred, agent.pid ? agent.path : NULL, err);
	hnet_agent_stop(&agent);
	hnet_gitcred_stop(&gcred);
	return ret;
}

/* The env's writable layer no longer fits its chain: start it afresh. */
static int reset_upper(const struct env *env, int efd, bool say, bool remap, struct dv_error *err)
{
	dv_autofree char *upper = dv_xasprintf("%s/upper", env->id);
	dv_autofree char *work = dv_xasprintf("%s/work", env->id);

	if (dv_rm_tree_at(efd, upper, err) < 0 || dv_rm_tree_at(efd, work, err) < 0)
		return dv_err_prefix(err, "resetting env '%s'", env->spec.name);
	if (say)
		printf("env '%s' was recreated %s: its files outside the checkout were reset "
		       "(the checkout and volumes are kept)\n",
		       env->spec.name,
		       remap ? "for its new user namespace map (`user:` changed, "
			       "or keep-id became possible or impossible here)"
			     : "on its new layers");
	return 0;
}

/* Record the plan in state.json; a changed chain (or files left by an env
 * that was never recorded) resets the upper first, said unless quiet. */
static int record(const struct layer_store *st, struct env *env, int efd, const struct plan *p,
		  bool quiet, struct dv_error *err)
{
	bool changed = env->has_state && !strv_equal(&p->layers, &env->state.layers);
	struct ctr_keepid k;
	char server[64];
	const char *why, *map = env_userns_map(env, &k, server, &why);
	/* The map decides who owns what in the upper (and keep-id's upper is
	 * fuse-overlayfs's, with its own opaque marks): a new map, a new env. */
	bool remap = env->has_state && !changed && env->state.init.pid &&
		     strcmp(env->state.userns_map ? env->state.userns_map : "", map);

	if (env_vol_check(&env->spec, env->id, err) < 0)
		return -1;
	if (dv_mkdirat_ok(efd, env->id, 0700, err) < 0)
		return -1;
	if ((changed || remap || !env->has_state) &&
	    reset_upper(env, efd, (changed || remap) && !quiet, remap && !changed, err) < 0)
		return -1;
	if (changed)
		env_size_forget(st, env->id);      /* its files were reset */
	if (changed || remap || !env->has_state) { /* and the dotfiles with them */
		free(env->state.dotfiles);
		env->state.dotfiles = NULL;
	}
	/* Volumes made before volumes were per env, that the state about to
	 * be replaced names (env/volume.c). */
	if (env->has_state && env_vol_adopt(st, &env->spec, env->id, &env->state.volumes, err) < 0)
		return -1;
	fill_state(&env->state, env, p);
	env->has_state = true;
	return env_record_write(efd, &env->state, err);
}

/* "port 8000 -> 127.0.0.1:23456", a line per forward of the env's start
 * (`auto` ones are devenv's choice: up is where one learns them). */
static void say_ports(const struct env_record *s)
{
	for (size_t i = 0; i < s->n_ports; i++) {
		const struct hnet_port *fw = &s->ports[i];
		bool v6 = strchr(fw->host_ip, ':') != NULL;

		printf("port %u -> %s%s%s:%u\n", fw->container_port, v6 ? "[" : "", fw->host_ip,
		       v6 ? "]" : "", fw->host_port);
	}
}

/* Start the recorded env, let go of the locks (on_up may run for long and
 * must not hold up `halt` or `gc`), then run on_up. */
static int start_and_on_up(struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
			   int efd, const struct plan *p, struct dv_error *err)
{
	dv_autofree char *log = dv_xasprintf("%s/log", env->id);
	dv_autoclose int log_fd = -1;
	dv_autoclose int log_dir = -1;
	dv_autoclose int to_log = -1;
	dv_autoclose int done = -1;
	struct ctr_logcap cap;
	int ret;

	/* Services left running by an init that died belong to no env now. */
	if (env->state.n_services && env_svc_stop(st, env, 10, err) < 0)
		return -1;
	if (env_start(st, env, efd, err) < 0)
		return -1;
	dv_fault_point("up.services");
	/* After the init (they join its network namespace), before on_up
	 * (which may migrate a database). */
	if (env_svc_start(ctx, st, env, efd, p->svc_imgs, err) < 0) {
		struct dv_error ignored = { 0 };

		ctr_stop(&env->state.init, 0, &ignored);
		env_net_stop(&env->state);
		return -1;
	}
	if (!ctx->quiet) {
		printf("env '%s' is up (id %s); 'devenv ssh' steps in\n", env->spec.name, env->id);
		say_ports(&env->state);
	}
	/* on_up's output (and the dotfiles') goes to the log through a log
	 * relay, which caps and rotates it as a service's (env/logs.c);
	 * without either, none. */
	if (env->spec.n_on_up || env_dotfiles_due(env)) {
		log_fd = openat(efd, log, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		if (log_fd < 0)
			return dv_err(err, errno, "cannot open the env's log");
		log_dir = openat(efd, env->id, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (log_dir < 0)
			return dv_err(err, errno, "cannot open the env's folder");
		env_log_cap(&env->spec, log_dir, &cap);
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
	if (!env->spec.n_on_up && to_log < 0)
		return 0;
	/* The user's dotfiles before on_up (the devcontainer CLI's order:
	 * dotfiles, then postStartCommand), without the locks as on_up: an
	 * install script may take long. */
	ret = env_dotfiles_apply(ctx, st, env, efd, to_log, err);
	if (ret == 0 && env->spec.n_on_up)
		ret = run_on_up(ctx, st, env, to_log, err);
	/* The log whole before we return ('devenv logs' right after). */
	close(to_log);
	to_log = -1;
	while (poll(&(struct pollfd){ .fd = done, .events = POLLIN }, 1, 5000) < 0 &&
	       errno == EINTR) {
	}
	return ret;
}

int env_up(struct dv_ctx *ctx, const struct layer_store *st, struct env *env, struct dv_error *err)
{
	dv_autoclose int efd = env_envs_fd(st);
	struct plan p = { 0 };
	int ret = -1;

	if (efd < 0)
		return dv_err(err, errno, "cannot open '%s/envs'", st->root);
	if (env_lock(st, env, err) < 0 || plan_make(st, env, env->refresh_git, &p, err) < 0)
		goto out;
	dv_fault_point("up.plan");
	if (env->has_state && ctr_probe(&env->state.init) == CTR_FROZEN) {
		dv_err_plain(err, EBUSY, "env '%s' is suspended; 'devenv resume' thaws it",
			     env->spec.name);
		goto out;
	}
	if (env->has_state && ctr_probe(&env->state.init) != CTR_STOPPED) {
		if (env_checkout_check(&env->state, err) < 0)
			goto out;
		if (strcmp(p.digest, env->state.spec_digest) == 0) {
			if (!ctx->quiet) {
				printf("env '%s' is already running\n", env->spec.name);
				say_ports(&env->state);
			}
		} else {
			report_change(env, &p);
		}
		/* A service that exited or was stopped starts again, on the
		 * volumes the running env has (an older devenv's among them:
		 * its state then says what they are called now). */
		ret = env_vol_adopt(st, &env->spec, env->id, &env->state.volumes, err);
		if (ret < 0 || (ret > 0 && env_record_write(efd, &env->state, err) < 0)) {
			ret = -1;
			goto out;
		}
		ret = env_svc_start(ctx, st, env, efd, p.svc_imgs, err);
		goto out;
	}
	/* A taken port stops `up` before anything is built or started. The
	 * forwarder of an init that died goes with it, but perhaps not yet. */
	if (env->has_state)
		env_net_stop(&env->state);
	if (env_net_check(st, env, err) < 0 || env_sweep_pending(env, efd, err) < 0)
		goto out;
	if (explain(ctx, st, env, &p, err) < 0 ||
	    prov_build(ctx, st, &env->spec, &p.img, &p.keys, p.team, &p.layers, err) < 0 ||
	    lock_save(ctx, env, &p, err) < 0 || record(st, env, efd, &p, ctx->quiet, err) < 0)
		goto out;
	dv_fault_point("up.record");
	ret = start_and_on_up(ctx, st, env, efd, &p, err);
out:
	ctx->explain = NULL;
	plan_release(&p);
	return ret;
}

int env_provision(struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		  struct dv_error *err)
{
	dv_autoclose int efd = env_envs_fd(st);
	struct plan p = { 0 };
	bool running;
	int ret = -1;

	if (efd < 0)
		return dv_err(err, errno, "cannot open '%s/envs'", st->root);
	/* Build first: a failing step leaves a running env running. */
	if (env_lock(st, env, err) < 0 || plan_make(st, env, true, &p, err) < 0 ||
	    explain(ctx, st, env, &p, err) < 0 ||
	    prov_build(ctx, st, &env->spec, &p.img, &p.keys, p.team, &p.layers, err) < 0 ||
	    lock_save(ctx, env, &p, err) < 0)
		goto out;
	running = env->has_state && ctr_probe(&env->state.init) != CTR_STOPPED;
	if (env->has_state && strcmp(p.digest, env->state.spec_digest) == 0 &&
	    strv_equal(&p.layers, &env->state.layers)) {
		if (!ctx->quiet)
			printf("env '%s' is up to date with its Envfile\n", env->spec.name);
		ret = 0;
		goto out;
	}
	/* Halted, its ports are free for the check (its `auto` ones kept). */
	if (running &&
	    (env_halt(ctx, st, env, 10, false, err) < 0 || env_net_check(st, env, err) < 0))
		goto out;
	if (env_sweep_pending(env, efd, err) < 0 || record(st, env, efd, &p, ctx->quiet, err) < 0)
		goto out;
	ret = running ? start_and_on_up(ctx, st, env, efd, &p, err) : 0;
out:
	ctx->explain = NULL;
	plan_release(&p);
	return ret;
}

int env_verify(struct dv_ctx *ctx, const struct layer_store *st, struct env *env, const bool *which,
	       struct dv_error *err)
{
	struct plan p = { 0 };
	int ret = -1;

	/* The git steps' remembered commits: what the cache was built from. */
	if (env_lock(st, env, err) == 0 && plan_make(st, env, false, &p, err) == 0)
		ret = prov_verify(ctx, st, &env->spec, &p.img, &p.keys, p.team, which, err);
	plan_release(&p);
	return ret;
}

int env_lockfile(struct dv_ctx *ctx, const struct layer_store *st, struct env *env, bool check,
		 struct dv_error *err)
{
	struct plan p = { 0 };
	dv_autofree char *name = prov_lock_display(&env->spec);
	int ret = -1;

	if (check) { /* the frozen comparison alone: nothing resolved */
		if ((ret = prov_lock_read(&env->spec, &p.lock, err)) < 0)
			return -1;
		if (ret == 1) {
			dv_err_plain(err, ENOENT, "there is no %s; 'devenv lock' writes it", name);
			err->status = 1;
			return -1;
		}
		ret = prov_lock_check(&env->spec, &p.lock, NULL, err);
		if (ret == 0 && !ctx->quiet)
			printf("%s matches the Envfile\n", name);
		prov_lock_release(&p.lock);
		return ret;
	}
	if (env_lock(st, env, err) < 0 ||
	    plan_make(st, env, env->lock_all || env->lock_update.n, &p, err) < 0)
		goto out;
	ret = env_lock_save(ctx, &env->spec, p.has_lock ? &p.lock : NULL, &p.img,
			    p.lock_keys.n ? &p.lock_keys : &p.keys, p.svc_imgs, err);
	if (ret == 1 && !ctx->quiet)
		printf("%s is up to date\n", name);
	ret = ret < 0 ? -1 : 0;
out:
	plan_release(&p);
	return ret;
}
