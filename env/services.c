/*
 * env/services.c - the env's services: sidecar containers (Docker's
 * links, compose's services) that share the env's network namespace.
 *
 * Each service is a container of its own (mount, pid, uts, ipc namespaces,
 * Docker's default sandbox) on its image's layers plus an upper folder of its
 * own, envs/<id>/services/<name>/{upper,work}, which survives halt and goes
 * with destroy. Its command runs under the same init as an env; its output
 * goes to services/<name>/log and its exit status to services/<name>/exit,
 * through pipes to a log relay on the host's side (container/ns.c): no file
 * of the host's is ever the service's.
 * It sits in the env's cgroups, so `resources` cover it and suspend freezes
 * it with the env. state.json records each service's init; whether it runs
 * is read live.
 *
 * Order of calls for `up`: env_svc_resolve() before anything starts
 * (a missing image is then one clear line and nothing runs), the env's
 * init, env_svc_start(), then on_up. halt: env_svc_stop()
 * before the env's init. env_svc_start() starts them in depends_on's
 * order and waits for a `condition: service_healthy` (health.c); what a
 * service is doing is read by svcinfo.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/fault.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

void env_svc_images_release(struct layer_image *imgs, size_t n)
{
	for (size_t i = 0; imgs && i < n; i++)
		layer_image_release(&imgs[i]);
	free(imgs);
}

/* The image config's strings under config.KEY (Env, Entrypoint, Cmd). */
static void config_strv(struct json_object *cfg, const char *key, struct dv_strv *out)
{
	struct json_object *a;

	if (!cfg || !json_object_object_get_ex(cfg, key, &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (json_object_is_type(e, json_type_string))
			dv_strv_push(out, json_object_get_string(e));
	}
}

/* KEY=... in envp, or -1. */
static ssize_t env_find(const struct dv_strv *envp, const char *key, size_t klen)
{
	for (size_t i = 0; i < envp->n; i++)
		if (!strncmp(envp->v[i], key, klen) && envp->v[i][klen] == '=')
			return (ssize_t)i;
	return -1;
}

static void env_set(struct dv_strv *envp, const char *key, const char *value)
{
	ssize_t at = env_find(envp, key, strlen(key));
	char *kv = dv_xasprintf("%s=%s", key, value);

	if (at < 0) {
		dv_strv_push_owned(envp, kv);
	} else {
		free(envp->v[at]);
		envp->v[at] = kv;
	}
}

/* What the service runs: argv, environment (the image's Env, then the
 * service's `env`), working folder. */
struct svc_cmd {
	struct dv_strv argv, envp;
	char *cwd;
};

static void svc_cmd_release(struct svc_cmd *c)
{
	dv_strv_release(&c->argv);
	dv_strv_release(&c->envp);
	free(c->cwd);
	memset(c, 0, sizeof(*c));
}

static int svc_cmd_make(const struct env_spec *spec, const struct env_service *svc,
			const struct layer_image *img, struct svc_cmd *out, struct dv_error *err)
{
	struct json_object *root = img->config ? json_tokener_parse(img->config) : NULL;
	struct json_object *cfg = NULL, *wd;

	if (root)
		json_object_object_get_ex(root, "config", &cfg);
	config_strv(cfg, "Env", &out->envp);
	for (size_t i = 0; i < svc->n_env; i++)
		env_set(&out->envp, svc->env[i].key, svc->env[i].value);
	if (env_find(&out->envp, "PATH", 4) < 0)
		dv_strv_push(&out->envp, PROV_DEFAULT_PATH);
	if (env_find(&out->envp, "HOME", 4) < 0)
		dv_strv_push(&out->envp, "HOME=/root");
	if (svc->command.n) {
		for (size_t i = 0; i < svc->command.n; i++)
			dv_strv_push(&out->argv, svc->command.v[i]);
	} else {
		config_strv(cfg, "Entrypoint", &out->argv);
		config_strv(cfg, "Cmd", &out->argv);
	}
	if (cfg && json_object_object_get_ex(cfg, "WorkingDir", &wd) &&
	    json_object_is_type(wd, json_type_string) && json_object_get_string(wd)[0] == '/')
		out->cwd = dv_xstrdup(json_object_get_string(wd));
	else
		out->cwd = dv_xstrdup("/");
	json_object_put(root);
	if (!out->argv.n)
		return dv_err_at(err, spec->display, svc->line, svc->col,
				 "service '%s': image '%s' has no Entrypoint or Cmd; give the service a `command`",
				 svc->name, img->name);
	return 0;
}

int env_svc_resolve(const struct layer_store *st, const struct env_spec *spec,
		    struct layer_image **out, struct dv_error *err)
{
	struct layer_image *imgs = dv_xcalloc(spec->n_services + 1, sizeof(*imgs));

	*out = NULL;
	for (size_t i = 0; i < spec->n_services; i++) {
		const struct env_service *svc = &spec->services[i];
		struct svc_cmd cmd = { 0 };
		int r;

		if (prov_resolve_image(st, spec, svc->image, NULL, &imgs[i], err) < 0) {
			env_svc_images_release(imgs, spec->n_services);
			dv_err_prefix(err, "service '%s'", svc->name);
			/* Point at the service in the Envfile unless the
			 * error already names a place. */
			if (!err->file[0] && spec->display) {
				snprintf(err->file, sizeof(err->file), "%s", spec->display);
				err->line = svc->line;
				err->col = svc->col;
			}
			return -1;
		}
		/* What can be known before anything starts is said then: a
		 * service with nothing to run, a host mount gone since. */
		r = svc_cmd_make(spec, svc, &imgs[i], &cmd, err);
		svc_cmd_release(&cmd);
		for (size_t j = 0; r == 0 && j < svc->n_volumes; j++) {
			const struct env_mount *m = &svc->volumes[j];
			struct prov_hostpath hp = { "mount source",
						    m->source,
						    m->source_abs,
						    m->line,
						    m->col,
						    "started",
						    "remove it from its 'volumes'" };
			int fd = m->volume ? -1 : prov_host_open(spec, &hp, O_PATH, err);

			if (fd >= 0)
				close(fd);
			else if (!m->volume)
				r = -1;
		}
		if (r < 0) {
			env_svc_images_release(imgs, spec->n_services);
			return -1;
		}
	}
	*out = imgs;
	return 0;
}

/* Docker's default sandbox, whatever the env's `security` says: that key is
 * the env's, as a compose service has its own cap_add. */
static int svc_sandbox(const struct layer_store *st, const struct env *env, struct prov_ctr *c,
		       struct dv_error *err)
{
	struct env_spec plain = { .display = env->spec.display };
	dv_autofree char *bpf = NULL;
	unsigned long long caps;

	return prov_ctr_sandbox(c, st, &plain, &env->state.limits, &env->state.cgroups, &caps, &bpf,
				err);
}

/* Start one service; *out gets its init. */
static int start_one(const struct layer_store *st, struct env *env, int efd,
		     const struct env_service *svc, const struct layer_image *img,
		     struct ctr_init *out, int *commit, struct env_svc_health **health,
		     struct dv_error *err)
{
	const struct env_spec *spec = &env->spec;
	dv_autofree char *dir = dv_xasprintf("%s/envs/%s/services/%s", st->root, env->id, svc->name);
	dv_autofree char *upper = dv_xasprintf("%s/upper", dir);
	dv_autofree char *work = dv_xasprintf("%s/work", dir);
	dv_autofree char *log = dv_xasprintf("%s/services/%s/log", env->id, svc->name);
	dv_autofree char *exitf = dv_xasprintf("%s/services/%s/exit", env->id, svc->name);
	struct env_vol_env ve = { st, spec, env->id };
	dv_autofree struct dv_strv *protect = dv_xcalloc(svc->n_volumes + 1, sizeof(*protect));
	struct ctr_idmap idmap;
	dv_autoclose int log_fd = -1;
	dv_autoclose int exit_fd = -1;
	dv_autoclose int log_dir = -1;
	struct ctr_logcap cap;
	char netns[64];
	struct stat nsb, self_nsb;
	struct svc_cmd cmd = { 0 };
	struct prov_ctr c;
	int ret = -1;

	prov_ctr_init(&c, st, svc->name, &img->layers, upper, work);
	if (spec->network == ENV_NET_PRIVATE) {
		int fd;

		snprintf(netns, sizeof(netns), "/proc/%d/ns/net", (int)env->state.init.pid);
		c.cs.netns_path = netns;
		/* Without root each devenv command has a user namespace of its
		 * own, and the env's init (not dumpable) is out of reach of a
		 * later command's: only the `up` that starts the env can start
		 * its services. Checked before anything of the last run's
		 * record (its exit status) is touched. */
		fd = open(netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == EACCES || errno == EPERM)
				dv_err(err, errno,
				       "cannot start service '%s' in the running env's network "
				       "namespace from this command without root; 'devenv reload' "
				       "restarts the env with its services",
				       svc->name);
			else
				dv_err(err, errno, "cannot open the env's network namespace '%s'",
				       netns);
			goto out;
		}
		/* Already ours (the env is on the host's network after all):
		 * nothing to join, and a rootless command could not join the
		 * host's namespace anyway. */
		if (fstat(fd, &nsb) == 0 && stat("/proc/self/ns/net", &self_nsb) == 0 &&
		    nsb.st_dev == self_nsb.st_dev && nsb.st_ino == self_nsb.st_ino)
			c.cs.netns_path = NULL;
		close(fd);
	}
	if (dv_mkdir_p(upper, 0755, err) < 0 || dv_mkdir_p(work, 0700, err) < 0)
		goto out;
	log_fd = openat(efd, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log_fd < 0) {
		dv_err(err, errno, "cannot open the log of service '%s'", svc->name);
		goto out;
	}
	/* Its folder, where the relay rotates the log (env/logs.c). */
	*strrchr(log, '/') = 0;
	log_dir = openat(efd, log, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (log_dir < 0) {
		dv_err(err, errno, "cannot open the folder of service '%s'", svc->name);
		goto out;
	}
	env_log_cap(spec, log_dir, &cap);
	/* A fresh exit file for this run: an old status must not describe it. */
	if (unlinkat(efd, exitf, 0) < 0 && errno != ENOENT) {
		dv_err(err, errno, "cannot reset the exit status of service '%s'", svc->name);
		goto out;
	}
	exit_fd = openat(efd, exitf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (exit_fd < 0) {
		dv_err(err, errno, "cannot create the exit file of service '%s'", svc->name);
		goto out;
	}
	if (svc_cmd_make(spec, svc, img, &cmd, err) < 0 || svc_sandbox(st, env, &c, err) < 0)
		goto out;
	/* Its healthcheck runs with what its command runs with (health.c). */
	*health = env_health_make(svc, img->config, &cmd.envp, cmd.cwd);
	/* The env's own volumes (shared with the env when it names them
	 * too) or shared ones, and host mounts, in order. */
	if (prov_ctr_mounts(&c, spec, svc->volumes, svc->n_volumes, "remove it from its 'volumes'",
			    env_vol_folder, &ve, err) < 0)
		goto out;
	for (size_t i = 0; i < svc->n_volumes; i++) {
		const struct env_mount *m = &svc->volumes[i];

		/* A bind covering the checkout's git dir: read-only there. */
		if (m->volume || !prov_git_paths_in(spec->checkout, &env->state.git_protect,
						    m->source_abs, &protect[i]))
			continue;
		c.mounts[i].readonly = true;
		c.mounts[i].protect = (const char *const *)protect[i].v;
		c.mounts[i].n_protect = protect[i].n;
	}
	/* A service runs as root: its host binds map the host user to root
	 * and nothing else, so it can leave no other id there (user.c). */
	if (env->state.ownership && !strcmp(env->state.ownership, "idmapped")) {
		idmap = (struct ctr_idmap){ env->state.host_uid, 0, env->state.host_gid, 0 };
		c.cs.idmap = &idmap;
	}
	prov_ctr_hosts(&c, spec);
	c.cs.log_fd = log_fd;
	c.cs.log_cap = &cap;
	c.cs.cgroups = &env->state.cgroups;
	dprintf(log_fd, SVC_START_MARK "'%s' (image %s)\n", svc->name, img->name);
	{
		struct ctr_exec x = { .argv = cmd.argv.v,
				      .envp = cmd.envp.v,
				      .cwd = cmd.cwd,
				      .tee_fd = -1 };

		if (ctr_start_service(&c.cs, &x, exit_fd, out, commit, err) < 0)
			goto out;
	}
	ret = 0;
out:
	prov_ctr_release(&c);
	for (size_t i = 0; i < svc->n_volumes; i++)
		dv_strv_release(&protect[i]);
	svc_cmd_release(&cmd);
	return ret;
}

static struct env_svc_record *find_state(struct env_record *s, const char *name)
{
	for (size_t i = 0; i < s->n_services; i++)
		if (!strcmp(s->services[i].name, name))
			return &s->services[i];
	return NULL;
}

/* Before svc starts: what it depends on with `condition: service_healthy`
 * healthy. Those this call started are recorded and let go first (a
 * service's command runs only once state.json names it). */
static int wait_deps(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		     int efd, const struct env_service *svc, struct env_svc_record *next,
		     const bool *started, int *commit, struct dv_error *err)
{
	const struct env_spec *spec = &env->spec;
	struct env_record *s = &env->state;
	struct env_svc_record *saved = s->services;
	size_t n_saved = s->n_services, n = 0;
	dv_autofree struct env_svc_record *now = NULL;
	dv_autofree char *why = NULL;
	struct dv_strv names = { 0 };
	int ret = -1;

	for (size_t j = 0; j < svc->n_depends_on; j++)
		if (svc->depends_on[j].healthy)
			dv_strv_push(&names, svc->depends_on[j].name);
	if (!names.n)
		return 0;
	/* The record as it stands: what runs, what this call started. */
	now = dv_xcalloc(spec->n_services + 1, sizeof(*now));
	for (size_t j = 0; j < spec->n_services; j++)
		if (next[j].init.pid)
			now[n++] = next[j];
	s->services = now;
	s->n_services = n;
	if (env_record_write(efd, s, err) < 0)
		goto out;
	for (size_t j = 0; j < spec->n_services; j++)
		if (started[j] && ctr_commit(&commit[j], &(struct dv_error){ 0 }) < 0) {
			/* It died at once: the wait tells. */
		}
	why = dv_xasprintf("service '%s'", svc->name);
	ret = env_health_wait(ctx, st, env, names.v, names.n, 0, why, err);
out:
	s->services = saved;
	s->n_services = n_saved;
	dv_strv_release(&names);
	return ret;
}

int env_svc_start(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env, int efd,
		  const struct layer_image *imgs, struct dv_error *err)
{
	const struct env_spec *spec = &env->spec;
	struct env_record *s = &env->state;
	struct env_svc_record *next = NULL;
	dv_autofree int *commit = NULL;
	bool *started = NULL;
	dv_autofree bool *kept = NULL;
	dv_autofree size_t *order = NULL;
	size_t n_started = 0;
	int ret = -1;

	/* An env without services pays nothing (a cached `up` is ~20 ms). */
	if (!spec->n_services && !s->n_services)
		return 0;
	next = dv_xcalloc(spec->n_services + 1, sizeof(*next));
	started = dv_xcalloc(spec->n_services + 1, sizeof(*started));
	kept = dv_xcalloc(spec->n_services + 1, sizeof(*kept));
	order = dv_xcalloc(spec->n_services + 1, sizeof(*order));
	commit = dv_xcalloc(spec->n_services + 1, sizeof(*commit));
	for (size_t i = 0; i <= spec->n_services; i++)
		commit[i] = -1;
	if (spec->n_services) {
		dv_autofree char *sdir = dv_xasprintf("%s/services", env->id);

		if (dv_mkdirat_ok(efd, sdir, 0700, err) < 0)
			goto out;
	}
	/* Services the Envfile no longer names stop; running ones stay. */
	for (size_t i = 0; i < s->n_services; i++) {
		bool named = false;

		for (size_t j = 0; j < spec->n_services && !named; j++)
			named = !strcmp(spec->services[j].name, s->services[i].name);
		if (!named && ctr_stop(&s->services[i].init, 10, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < spec->n_services; i++) {
		const struct env_service *svc = &spec->services[i];
		struct env_svc_record *old = find_state(s, svc->name);

		next[i].name = dv_xstrdup(svc->name);
		if (old && ctr_probe(&old->init) != CTR_STOPPED) {
			/* Running on the layers it started on, which stay kept. */
			next[i].init = old->init;
			next[i].image_id = old->image_id;
			next[i].layers = old->layers;
			next[i].health = old->health;
			old->image_id = NULL;
			old->health = NULL;
			memset(&old->layers, 0, sizeof(old->layers));
			kept[i] = true;
		}
	}
	/* In depends_on's order (health.c's env_svc_order), each after
	 * what it depends on has started, or is healthy when it says so. */
	env_svc_order(spec, order);
	for (size_t k = 0; k < spec->n_services; k++) {
		size_t i = order[k];
		const struct env_service *svc = &spec->services[i];

		if (kept[i])
			continue;
		if (wait_deps(ctx, st, env, efd, svc, next, started, commit, err) < 0 ||
		    (next[i].image_id = dv_xstrdup(imgs[i].id),
		     start_one(st, env, efd, svc, &imgs[i], &next[i].init, &commit[i],
			       &next[i].health, err) < 0)) {
			/* Nothing half-started stays: stop what this call started. */
			for (size_t j = 0; j < spec->n_services; j++)
				if (started[j])
					ctr_stop(&next[j].init, 0, &(struct dv_error){ 0 });
			for (size_t j = 0; j < spec->n_services; j++) {
				free(next[j].name);
				free(next[j].image_id);
				dv_strv_release(&next[j].layers);
				env_health_free(next[j].health);
			}
			goto out;
		}
		for (size_t j = 0; j < imgs[i].layers.n; j++)
			dv_strv_push(&next[i].layers, imgs[i].layers.v[j]);
		dv_fault_point("services.started");
		started[i] = true;
		n_started++;
		if (!ctx->quiet)
			printf("service '%s' started (image %s)\n", svc->name, imgs[i].name);
	}
	for (size_t i = 0; i < s->n_services; i++) {
		free(s->services[i].name);
		free(s->services[i].image_id);
		dv_strv_release(&s->services[i].layers);
		env_health_free(s->services[i].health);
	}
	free(s->services);
	s->services = next;
	s->n_services = spec->n_services;
	next = NULL;
	/* Recorded, the services go on (ns.c's commit point, as the env's). */
	if (env_record_write(efd, s, err) < 0)
		goto out;
	dv_fault_point("services.state");
	for (size_t i = 0; i < spec->n_services; i++)
		if (started[i] && ctr_commit(&commit[i], &(struct dv_error){ 0 }) < 0) {
			/* It died at once: the poll below tells. */
		}
	if (n_started) {
		/* A service that dies at once (a bad command, a missing
		 * setting) is worth a word before on_up relies on it. Longer
		 * than this and every `up` pays for it. */
		fflush(stdout);
		poll(NULL, 0, 500);
		for (size_t i = 0; i < spec->n_services; i++) {
			struct env_svc_info info;

			if (!started[i])
				continue;
			env_svc_info(st, env, i, &info);
			if (info.state != ENV_SVC_EXITED && info.state != ENV_SVC_STOPPED)
				continue;
			if (info.exit_status >= 0)
				fprintf(stderr,
					"devenv: warning: service '%s' exited at once with status %d; its last lines:\n",
					info.name, info.exit_status);
			else
				fprintf(stderr,
					"devenv: warning: service '%s' stopped at once; its last lines:\n",
					info.name);
			env_svc_tail(st, env->id, info.name, 5, stderr, "  ");
		}
	}
	ret = 0;
out:
	/* Not committed: those inits exit now, nothing of them stays. */
	for (size_t i = 0; i <= spec->n_services; i++)
		if (commit[i] >= 0)
			close(commit[i]);
	free(next);
	free(started);
	return ret;
}

int env_svc_stop(const struct layer_store *st, struct env *env, unsigned timeout_s,
		 struct dv_error *err)
{
	struct env_record *s = &env->state;
	dv_autofree struct ctr_init *inits = dv_xcalloc(s->n_services + 1, sizeof(*inits));

	(void)st;
	for (size_t i = 0; i < s->n_services; i++)
		inits[i] = s->services[i].init;
	return ctr_stop_all(inits, s->n_services, timeout_s, err);
}
