/*
 * env/env.h - an env: its identity and record (state.json), finding it,
 * its life (up, halt, destroy, provision), its services, volumes, logs,
 * size on disk and network. Commands (cmd/) call this; it calls provision/
 * (builds, keys, images) and the runtime below.
 *
 * record.c:   envs/<id>/state.json, read and written atomically
 * lookup.c:   find an env (-e or the Envfile), list them, its lock
 * up.c:       up and provision: plan, record, on_up
 * start.c:    start the env's init on its files (mounts, ids, sandbox)
 * halt.c:     halt, destroy (and of a damaged env)
 * suspend.c:  freeze and thaw through the cgroups' freezer
 * commit.c:   the env's files as an image
 * push.c:     the env's provisioning to a registry (provision/teamcache.c)
 * services.c: the sidecars: resolve, start, stop, read live
 * volname.c:  volume names (no I/O)
 * volume.c:   the store's volumes/ folders: prepare, adopt, list, remove
 * df.c:       an env's size on disk (recorded at halt and commit), `devenv df`
 * logs.c:     the env's and its services' logs
 * net.c:      the env's network and ports (the host-side helper)
 * sweep.c:    give the host user back what a non-idmapped env changed; a
 *             command (on_up's, the dotfiles') run in the env with its sweep
 * gc.c:       what gc removes of envs: locks, seccomp programs none uses
 * dotfiles.c: the user's dotfiles copied into the env on its first start
 * sshd.c:     the env's ssh endpoint: ssh-config's and ssh-proxy's files and text
 * bundle.c:   `devenv bundle`: the env as one archive to carry offline
 * bundleload.c: `image load` of a bundle, for the checkout's env
 * kube.c:     `kube generate`: the env as a Pod's YAML (no I/O)
 * kubeyaml.c: its YAML quoting and Kubernetes names
 * kubegen.c:  what it looks up: the pinned image, services' images, --clone
 *
 * Order of calls for `up`: env_locate(), env_lock(), env_up(); release
 * with env_release().
 */
#ifndef ENV_ENV_H
#define ENV_ENV_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "container/container.h"
#include "envfile/envfile.h"
#include "hostnet/hostnet.h"
#include "layers/layers.h"
#include "provision/provision.h"
#include "util/ctx.h"
#include "util/error.h"
#include "util/str.h"

/* One of the env's services as state.json records it: its init. */
/* A service's healthcheck as it was started (env/health.c): the Envfile's
 * `healthcheck` over its image's Healthcheck, Docker's defaults filled in,
 * and what the check runs with (the service's environment and folder). */
struct env_svc_health {
	struct dv_strv test, envp; /* argv (CMD-SHELL: /bin/sh -c ...), environment */
	char *cwd;
	unsigned long long interval_ms, timeout_ms, start_period_ms, start_interval_ms;
	int retries;
};

struct env_svc_record {
	char *name;
	struct ctr_init init;          /* pid 0 when it could not be started */
	char *image_id;                /* its image's id, as last started */
	struct dv_strv layers;         /* and that image's layers: `rmi` and `gc`
				       leave them alone while the env exists */
	struct env_svc_health *health; /* NULL: no healthcheck */
};

/* state.json: what cannot be re-derived about an env. Running, suspended or
 * halted is never stored; read it with ctr_probe(). */
struct env_record {
	char *id, *name;
	char *checkout, *envfile; /* checkout real path; Envfile path inside it */
	char *spec_digest;        /* sha256 of the Envfile's normalised spec */
	char *image, *image_id;
	char *image_for;       /* "" or the Envfile's `image:` that `image` stands
				       for: a team's base pinned by digest
				       (provision/teamcache.c prov_team_pin) */
	struct dv_strv layers; /* layer ids, bottom first */
	struct dv_strv steps;  /* provisioning keys, one per step, in order */
	char *workdir, *shell;
	struct dv_strv env; /* KEY=VALUE for commands entering the env */
	struct dv_strv cgroups;
	struct ctr_limits limits;                        /* as written into the cgroups */
	struct ctr_init init;                            /* pid 0 when never started */
	char *user;                                      /* the Envfile's `user` ("" when none) */
	unsigned user_uid, user_gid, host_uid, host_gid; /* of the last start */
	char *userns_map;     /* "keep-id" (ctr_keepid), or "" (root is the host
				       user, or root mode): the start's map */
	char *ownership;      /* how the checkout's files get the host user as
				       owner: "idmapped" (see ctr_owner), "chown" (no
				       idmap here: ctr_sweep after each command and
				       at halt), "rootless" (ctr_sweep at halt) */
	long long started_ns; /* CLOCK_REALTIME_COARSE before the last start: the
				       sweep looks at what changed since */
	bool sweep_pending;   /* started and not swept since (an init that
				       died without halt): the next up sweeps first */
	unsigned long long checkout_dev, checkout_ino; /* the checkout folder the last
				       start mounted (0: not recorded, an older devenv):
				       one removed and made again at the same path
				       while the env runs is another (env_checkout_check) */
	struct ctr_mount_rec *mounts; /* the env's volumes and mounts of the last start */
	size_t n_mounts;
	struct dv_strv git_protect;      /* read-only paths of the checkout (".git"...) */
	struct dv_strv svc_binds;        /* host paths the services bind: swept too */
	char *seccomp;                   /* stored BPF program; "": unconfined */
	unsigned long long caps;         /* the env's capabilities */
	long long created;               /* unix seconds */
	struct env_svc_record *services; /* the services of the last start, in
					       Envfile order */
	size_t n_services;
	struct dv_strv volumes;  /* named volumes the env (and its services) name,
				       as of the last up: their store names
				       (env/volname.c; an older devenv wrote
				       the Envfile's); `volume ls` and `destroy
				       --volumes` read them */
	char *network;           /* "host" or "private", as last started */
	struct hnet_port *ports; /* forwards of the last start */
	size_t n_ports;
	struct hnet_procs net;          /* its host-side helpers */
	char *dotfiles;                 /* "COMMIT URL" of the user's dotfiles copied into
				       this upper (dotfiles.c); "": none yet */
	struct dv_strv git_credentials; /* `git_credentials`: hosts whose credentials
				       the host's git gives a session (hostnet/gitcred.c) */
	char *ssh_agent;                /* `ssh_agent` of the last up: "", "all", "list",
					"confirm" (hostnet/agent.c serves it) */
	struct dv_strv ssh_agent_keys;  /* "list": the key comments or fingerprints */
};
/* record.c: read envs/<id>/state.json. errnum ENOENT: no such env; EBADMSG: the file
 * is damaged (empty, truncated, garbage, or not this env's), with one line
 * naming it and saying what to do (`devenv destroy -e ID`). */
int env_record_read(int envs_fd, const char *id, struct env_record *out, struct dv_error *err);
int env_record_write(int envs_fd, const struct env_record *st, struct dv_error *err);
void env_record_release(struct env_record *st);
/* Free n records and their strings. */
void env_mount_recs_free(struct ctr_mount_rec *m, size_t n);
/* The checkout's owner for ctr_exec (buf filled), or NULL when the checkout
 * is not idmapped. */
const struct ctr_owner *env_record_owner(const struct env_record *st, struct ctr_owner *buf);

/* lookup.c: a located env: its id, state.json when it exists, the spec
 * when loaded. */
struct env {
	char id[13];
	bool has_state, has_spec;
	struct env_record state;
	struct env_spec spec;
	int lock_fd;      /* held env lock, or -1 */
	bool refresh_git; /* up asks git remotes again (reload does) */
	/* Envfile.lock (provision/lock.h): --frozen / DEVENV_FROZEN=1, and
	 * `devenv lock --update [STEP|base|SERVICE]...` (all: every item). */
	bool frozen, lock_all;
	struct dv_strv lock_update;
	bool explain; /* up --explain: say why each step that runs runs (why.c) */
};
void env_release(struct env *env);

/* why.c: for each step of keys (built on img), why it runs: "" for one
 * cached or in the team cache, else the first input that differs from the
 * last build of env and from the team cache's (provision/recipe.c). verbose
 * (`devenv why`): "cached", "taken from the team cache (REF)", "runs: …".
 * objs, when not NULL (`why --json`): a JSON array that gets, per step,
 * {step, label, state: cached|team|runs, team: REF|null, why, team_why}. */
int env_explain(const struct layer_store *st, const struct env *env, const struct layer_image *img,
		const struct dv_strv *keys, struct prov_team *team, bool verbose,
		struct dv_strv *out, struct json_object *objs, struct dv_error *err);
/* `devenv why [STEP]` (up.c: the plan as up makes it, nothing built):
 * a line per step, or step `step`'s only (1-based; 0: all); json: one JSON
 * object per line instead (env_explain's objs). */
int env_why(const struct layer_store *st, struct env *env, size_t step, bool json,
	    struct dv_error *err);

/* Find the env: by ctx->env_sel (a name or an id prefix among the store's
 * envs; an ambiguous name lists the candidates), else from the Envfile found
 * from the current folder. With need_spec the Envfile is loaded and
 * validated (for -e, from the checkout recorded in state.json). ENOENT when
 * no such env exists (has_state false is then not an error for `up`). */
int env_locate(const struct dv_ctx *ctx, const struct layer_store *st, bool need_spec,
	       struct env *out, struct dv_error *err);
/* Every env in the store (for ls, gc, rmi): states, caller releases each.
 * An env whose state.json cannot be read (damaged: env_record_read) is not
 * among them; its id goes to *damaged when that is not NULL (gc must not
 * collect the layers of an env it cannot read; ls shows it). */
int env_list(const struct layer_store *st, struct dv_strv *damaged, struct env_record **out,
	     size_t *n, struct dv_error *err);
/* Print the one line of a damaged env's state.json (stderr). */
void env_say_damaged(const struct layer_store *st, const char *id);
/* Take the env's exclusive lock (waiting, and saying for whom). */
int env_lock(const struct layer_store *st, struct env *env, struct dv_error *err);
/* The same, for an env that must exist: one clear line when it was never
 * brought up, or was destroyed while we waited. */
int env_lock_existing(const struct layer_store *st, struct env *env, struct dv_error *err);
/* Mark (set) or unmark the env a commit freezes, under the env's lock: the
 * next env_lock() thaws an env a killed commit left marked. */
void env_commit_mark(const struct layer_store *st, const struct env *env, bool set);
/* A command could not enter env because it was frozen: true when that was
 * a commit's freeze (over now, waited for under the env's lock, or thawed
 * if that commit was killed), so entering again will do; false when the
 * env is suspended. */
bool env_commit_wait(const struct layer_store *st, const struct env *env);
/* The name of an env's cgroups: "<store id>-<env id>" (two stores on one
 * checkout share the env id). Running envs of an older devenv keep the
 * paths state.json records. out: PROV_CGROUP_NAME_MAX bytes. */
int env_cgroup_name(const struct layer_store *st, const char *env_id, char *out,
		    struct dv_error *err);
/* Is the running env's checkout still the folder it mounted? A checkout
 * removed and cloned again at the same path (or moved away) while the env
 * runs is invisible inside: the env keeps the old, deleted folder. -1 with
 * ESTALE and what to do (halt and up) when so; 0 when it is the same, the
 * env is not running, or its start recorded nothing (an older devenv's).
 * One stat: `up` on a running env and `ssh` call it. */
int env_checkout_check(const struct env_record *s, struct dv_error *err);

/* gc.c: remove the lock files of envs that no longer exist (none held). */
int env_locks_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err);
/* Remove the compiled seccomp programs no env in `envs` refers to
 * (provision/sandbox.c); adds the bytes freed to *bytes. */
int env_sandbox_gc(const struct layer_store *st, const struct env_record *envs, size_t n,
		   unsigned long long *bytes, struct dv_error *err);

/* up.c: build what is missing, create or start, run on_up. Before on_up
 * runs it lets go of the env lock and ctx->store_lock_fd. */
int env_up(struct dv_ctx *ctx, const struct layer_store *st, struct env *env, struct dv_error *err);
/* provision: rebuild against the current Envfile; recreate the env on the
 * new layers if they changed (restarting it if it ran). */
int env_provision(struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		  struct dv_error *err);
/* `devenv lock`: the plan (keys, the base resolved) written as the lock,
 * nothing built; check: --check (the frozen comparison, exit 1). */
int env_lockfile(struct dv_ctx *ctx, const struct layer_store *st, struct env *env, bool check,
		 struct dv_error *err);
/* halt.c: SIGTERM, SIGKILL after timeout_s; the env's files stay. */
int env_halt(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
	     unsigned timeout_s, bool say, struct dv_error *err);
/* destroy: halt, then remove envs/<id> without crossing a mount or following
 * a link. Never touches the checkout. */
int env_destroy(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		struct dv_error *err);
/* destroy of an env whose state.json is damaged (env_locate failed
 * with EBADMSG, env->id set): kills what its cgroups hold and what runs on
 * its files, removes its folder. */
int env_destroy_damaged(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
			struct dv_error *err);
/* suspend.c: suspend (freeze) or resume (thaw) a running env through its
 * cgroups' freezer. ESRCH when it is not running. */
int env_suspend(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		bool freeze, struct dv_error *err);
/* commit.c: the env's files as image `name` (its layers plus its writable
 * layer as a new one), frozen meanwhile where it has a freezer. */
int env_commit(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
	       const char *name, struct layer_image *out, struct dv_error *err);
/* up.c: `devenv verify`: the plan as `up` makes it, then prov_verify (the
 * steps `which` names, NULL: all): 0 same, 1 a step differs, -1 error. */
int env_verify(struct dv_ctx *ctx, const struct layer_store *st, struct env *env, const bool *which,
	       struct dv_error *err);
/* push.c: push the env's provisioning as image dest (prov_team_push), on
 * the base its record pins. */
/* bundle.c: the env (base, step layers with their keys, services, git and
 * download inputs, Envfile.lock) as one archive at `file`; bundleload.c:
 * such an archive into the store for this env (`devenv image load`). */
int env_bundle(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
	       const char *file, int uid, int gid, struct dv_error *err);
int env_bundle_load(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		    const char *file, struct dv_error *err);
/* `devenv push` of an env (provision/teamcache.c), the pushed manifest
 * signed with ssh key `sign` when not NULL (prov_sign_manifest). */
int env_push_sign(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		  const char *dest, enum reg_compression comp, const char *sign,
		  struct dv_error *err);

/* services.c: the env's services (sidecars in its network namespace).
 * Resolve (pulling when needed) every service's image, before anything
 * starts, and check what else can be checked then (a command to run, host
 * mount sources): *out has spec->n_services images (release with
 * env_svc_images_release). An error names the service and its line. */
int env_svc_resolve(const struct layer_store *st, const struct env_spec *spec,
		    struct layer_image **out, struct dv_error *err);
void env_svc_images_release(struct layer_image *imgs, size_t n);
/* Start every service of env->spec that is not running (the env's init
 * runs), record them in state.json, wait half a second and warn about any
 * that exited at once, with its last log lines. A service that cannot be
 * started stops those this call started and fails. */
int env_svc_start(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env, int efd,
		  const struct layer_image *imgs, struct dv_error *err);
/* SIGTERM every recorded service, SIGKILL after timeout_s. */
int env_svc_stop(const struct layer_store *st, struct env *env, unsigned timeout_s,
		 struct dv_error *err);
enum env_svc_state { ENV_SVC_RUNNING, ENV_SVC_FROZEN, ENV_SVC_EXITED, ENV_SVC_STOPPED };
struct env_svc_info {
	const char *name;         /* borrowed from env->state */
	enum env_svc_state state; /* EXITED: ended on its own while the env ran */
	int exit_status;          /* EXITED: its status; else -1 */
	pid_t pid;
};
/* Service i of env->state, read live. */
void env_svc_info(const struct layer_store *st, const struct env *env, size_t i,
		  struct env_svc_info *out);
const char *env_svc_state_name(enum env_svc_state s);

/* health.c: healthchecks, run by devenv itself through ctr_exec (never by
 * a process left behind): while `up` waits (depends_on's service_healthy,
 * on_up's wait_for) and once per `status`. */
/* The check a service starts with: svc's `healthcheck` over the image
 * config's (JSON, may be NULL), defaults filled; NULL when it has none. */
struct env_svc_health *env_health_make(const struct env_service *svc, const char *img_config,
				       const struct dv_strv *envp, const char *cwd);
void env_health_free(struct env_svc_health *h); /* record.c */
/* Wait until each of names (services of env->state) is healthy, or
 * running when it has no check; `why` says who waits ("on_up step 2",
 * "service 'web'"). timeout_ms 0: until the checks decide. A service that
 * exits, turns unhealthy, or is not ready in time is an error carrying the
 * check's last output. */
int env_health_wait(const struct dv_ctx *ctx, const struct layer_store *st, const struct env *env,
		    char *const *names, size_t n, unsigned long long timeout_ms, const char *why,
		    struct dv_error *err);
enum env_health_state {
	ENV_HEALTH_NONE,
	ENV_HEALTH_STARTING,
	ENV_HEALTH_HEALTHY,
	ENV_HEALTH_UNHEALTHY,
	ENV_HEALTH_UNKNOWN
};
/* Service i of env->state, checked once now (status); *output the failing
 * check's last output (caller frees), or NULL. NONE: no check, or not
 * running. Where this command cannot run the check (without root, only
 * the `up` that started a service can), the last result `up` saw, *at its
 * time (unix seconds; 0: checked now), or UNKNOWN. */
enum env_health_state env_health_status(const struct layer_store *st, const struct env *env,
					size_t i, char **output, long long *at);
const char *env_health_name(enum env_health_state s);
/* The order services start in: each after those it depends_on, else in
 * Envfile order (the Envfile has no cycle); order[] gets n_services indices. */
void env_svc_order(const struct env_spec *spec, size_t *order);
/* df.c: an env's size on disk (its folder), recorded at halt and commit
 * in envs/<id>/size.json; `ls` and `status` read only the record. */
struct env_size {
	unsigned long long bytes;
	long long at;  /* when measured (unix seconds) */
	char when[16]; /* "halt", "commit" */
};
bool env_size_read(const struct layer_store *st, const char *env_id, struct env_size *out);
/* Measure and record (only when it changed); failures leave no record. */
void env_size_record(const struct layer_store *st, const char *env_id, const char *when);
/* The env's files were reset: the record no longer holds. */
void env_size_forget(const struct layer_store *st, const char *env_id);
/* `devenv df`: images, layers, envs, volumes (docker system df's rows), the
 * steps' caches (provision/cachemount.c) and the inputs/ a bundle brought. */
enum {
	ENV_DF_IMAGES,
	ENV_DF_LAYERS,
	ENV_DF_ENVS,
	ENV_DF_VOLUMES,
	ENV_DF_CACHES,
	ENV_DF_INPUTS, /* a bundle's git and download inputs (provision/inputs.c) */
	ENV_DF_N
};
struct env_df_item {
	char *name;        /* image name, layer id, env name ("?" damaged), volume,
			      cache path, inputs/ entry */
	char *id;          /* image id, env id (an env's, a cache's); NULL else */
	const char *state; /* envs: running, halted, damaged; volumes: in use, named, unused */
	unsigned long long size;
	bool active;   /* images: an env's; layers: an image's or env's; envs:
				 running; volumes: named by an env */
	bool estimate; /* a running env's record (from its last halt or commit) */
	char *env;     /* caches: the name of the env whose it is, NULL when that env
			  is gone (destroy leaves caches) */
};
struct env_df_row {
	const char *type;
	unsigned total, active;
	unsigned long long size, reclaimable;
	bool estimate;
	struct env_df_item *items;
	size_t n;
};
struct env_df {
	struct env_df_row rows[ENV_DF_N];
};
int env_df(const struct layer_store *st, struct env_df *out, struct dv_error *err);
void env_df_release(struct env_df *df);
/* logs.c: the cap of the env's log and its services' (`logs`), for the log
 * relay writing in dir_fd. */
void env_log_cap(const struct env_spec *spec, int dir_fd, struct ctr_logcap *out);
/* `devenv logs`: the log in dir (under the store's root: "envs/ID" or
 * "envs/ID/services/NAME"; "log", "log.1"...) to stdout, made safe for a
 * terminal: its last `tail` lines (-1: all), then, with follow, what comes
 * while that init runs, across rotations. */
int env_logs_show(const struct layer_store *st, const char *dir, long long tail,
		  const struct ctr_init *follow, struct dv_error *err);
/* The last `lines` lines of a service's log to f, each after indent. */
void env_svc_tail(const struct layer_store *st, const char *env_id, const char *name,
		  unsigned lines, FILE *f, const char *indent);
/* dotfiles.c: the user's dotfiles (env->spec.dotfiles, from config.yaml)
 * cloned on the host, copied into the running env's home and their install
 * script run there, once per upper (env->state.dotfiles), again on
 * `reload` (env->refresh_git). Output to the terminal and log_fd (-1:
 * none) as on_up's. Nothing to do: 0 at once. */
int env_dotfiles_apply(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		       int efd, int log_fd, struct dv_error *err);

/* net.c: `network` and `ports`. Before anything starts: is every forward's
 * host ip:port free (one Envfile-positioned line when not, naming the
 * holder when it can)? Chooses each `auto` port's host port into
 * env->spec.ports (the last start's while free). */
int env_net_check(const struct layer_store *st, struct env *env, struct dv_error *err);
/* Starting the env's host-side helper (forwards, slirp4netns/pasta) with
 * its init, so that its start overlaps the init's:
 *   env_net_prepare(spec, s, &pn);   records network and ports in s
 *   ctr_spec.on_clone = env_net_on_clone, .on_clone_arg = &pn;
 *   ctr_start(...);
 *   env_net_finish(&pn, s, started, err);  waits for it into s->net (or,
 *                                     when !started, stops what started)
 *   env_net_release(&pn);
 * finish says once (a warning) when `private` has no outbound traffic, and
 * how to fix it. */
struct env_net {
	struct hnet_spec net; /* what the helper is asked for (owns outbound, ports) */
	bool needed;          /* forwards or outbound traffic to run */
	int fd;               /* the helper's report pipe; -1: not started */
	struct dv_error err;  /* why the hook could not start it */
	char warning[512];    /* no outbound traffic, and the fix */
	const char *name;     /* the env's, for messages */
};
void env_net_prepare(const struct env_spec *spec, struct env_record *s, struct env_net *out);
void env_net_on_clone(const struct ctr_init *init, void *arg);
int env_net_finish(struct env_net *pn, struct env_record *s, bool started, struct dv_error *err);
void env_net_release(struct env_net *pn);
/* Stop s->net's processes (halt, destroy) and clear them; a failure is a
 * warning. */
void env_net_stop(struct env_record *s);

/* agent.c: the env's `ssh_agent` as recorded, for one session or one up
 * (who: "ssh", "on_up"; in its log lines), its requests written to log_fd
 * (-1: the env's log in st, opened here); hold_fd (-1: none): the filter's
 * end of ctr_exec's hold_fd pair, for `confirm` in a session that relays
 * the terminal (a dup is kept): out->pid 0 when the env has
 * none, or when the host has no agent to filter (a one-line warning on
 * stderr, and the session goes on without). Stop it with
 * hnet_agent_stop(); out->path is SSH_AUTH_SOCK inside the env. */
int env_agent_start(const struct layer_store *st, const struct env_record *s, const char *who,
		    int log_fd, int hold_fd, struct hnet_agent *out, struct dv_error *err);

/* sweep.c: where nothing could be idmapped ("chown", "rootless"), give the
 * host user back the checkout's and host mounts' entries changed since
 * (container.h: ctr_sweep). Open the folders while still in the host's
 * mount namespace (before ctr_exec), run after. when: "command" (after an
 * ssh or on_up command, "chown" only: what changed since env_sweep_open)
 * or "halt" (both, once nothing of the env runs: what changed since the
 * env's start). A failure is a warning. */
struct env_sweep {
	int *fds; /* the checkout, then each host path written */
	size_t n;
	int procfd; /* our /proc/self/fd, opened while /proc shows us; -1: none */
	uid_t uid;
	gid_t gid;
	struct timespec since;
};
/* Fills *out always (nothing to sweep is n 0): env_sweep_release() it
 * whatever happens next. */
void env_sweep_open(const struct env_record *st, const char *when, struct env_sweep *out);
void env_sweep_run(const struct env_sweep *s);
/* Closes the fds; *s is then empty (procfd -1), and releasing it again is safe. */
void env_sweep_release(struct env_sweep *s);

/* volname.c, volume.c: named volumes, <store>/volumes/<NAME>/. An Envfile's
 * volume is its env's own, NAME-ID-VOLUME in the store, unless it says
 * `shared` (then the store-wide volume of that name): two checkouts or two
 * projects never share one by accident. */
#define ENV_VOL_NAME_MAX 63
struct env_vol {
	char *name;              /* the store's name: its folder, what `volume rm` takes */
	char *volume;            /* the name an Envfile gives it */
	char *owner_id;          /* the env it belongs to (id, name as of its last up); */
	char *owner_name;        /* NULL: a store-wide volume */
	bool shared;             /* store-wide: made as `shared`, or before volumes were
				     per env */
	bool legacy;             /* made before volumes were per env, and taken over by
				     no env (yet): it has no record */
	bool damaged;            /* its record cannot be read: whose it is is unknown,
				     so it counts as shared and only `volume rm`
				     removes it (never destroy --volumes, never adopted) */
	unsigned long long size; /* bytes on disk (du), when asked for */
	struct dv_strv envs;     /* names of the envs naming it (state.json) */
	struct dv_strv env_ids;  /* and their ids, in the same order */
	bool running;            /* one of them is running */
};
/* [a-z0-9][a-z0-9_.-]*, at most 63 characters (the Envfile's rule). */
bool env_vol_name_ok(const char *name);
/* An env's own volume's store name: "NAME-ID-VOLUME", [a-z0-9-] only, at
 * most 63 characters (a Kubernetes name); long names are cut, a cut volume
 * name gaining 8 hex digits of its sha256. Deterministic. */
void env_vol_store_name(const char *env_name, const char *env_id, const char *volume,
			char out[ENV_VOL_NAME_MAX + 1]);
/* The store name of m, a volume of the env (spec, env_id). */
void env_vol_of(const struct env_spec *spec, const char *env_id, const struct env_mount *m,
		char out[ENV_VOL_NAME_MAX + 1]);
/* The store names of the volumes a spec uses (`volumes` and its
 * services'), each once. */
void env_vol_names(const struct env_spec *spec, const char *env_id, struct dv_strv *out);
/* Two volumes of the spec that would be one folder ('a_b' and 'a-b'), or a
 * name both shared and not: an error at the second one's position. */
int env_vol_check(const struct env_spec *spec, const char *env_id, struct dv_error *err);
/* Before the env's state.json is written anew: volumes made before volumes
 * were per env that its last state (`recorded`) names and its Envfile still
 * names as its own are taken over (renamed to NAME-ID-VOLUME, and so in
 * `recorded`) when no other env names them, else left store-wide; a note
 * says which. Returns how many were taken over, or -1. */
int env_vol_adopt(const struct layer_store *st, const struct env_spec *spec, const char *env_id,
		  struct dv_strv *recorded, struct dv_error *err);
/* The folder of m, a volume of the env (spec, env_id), created (empty,
 * atomically, with its record) when missing; *out: its absolute path
 * (caller frees). EEXIST (at m's Envfile position): that folder is another
 * env's. */
int env_vol_prepare(const struct layer_store *st, const struct env_spec *spec, const char *env_id,
		    const struct env_mount *m, char **out, struct dv_error *err);
bool env_vol_exists(const struct layer_store *st, const char *name);
/* Remove a volume (its store name) and its files (whoever names it: callers
 * check). ENOENT when there is none. */
int env_vol_remove(const struct layer_store *st, const char *name, struct dv_error *err);
/* Every volume, sorted by store name, with its owner and the envs naming
 * it; sizes: du each (walks its files). Free with env_vols_free(). */
int env_vol_list(const struct layer_store *st, bool sizes, struct env_vol **out, size_t *n,
		 struct dv_error *err);
void env_vols_free(struct env_vol *v, size_t n);

/* kube.c, kubeyaml.c, kubegen.c: `devenv kube generate` (README "A Pod
 * for Kubernetes"). */
#define ENV_KUBE_NAME_MAX 63
#define ENV_KUBE_UID 1000 /* runAsUser/runAsGroup for an Envfile's `user` */
#define ENV_KUBE_UID_STR "1000"
#define ENV_KUBE_PVC_SIZE "1Gi" /* each named volume's claim */
/* s as a YAML double-quoted scalar (every byte that could end it or a
 * line escaped); false when s is not valid UTF-8 (b then holds part of it). */
bool env_kube_quote(struct dv_buf *b, const char *s);
/* in as a Kubernetes name (a DNS label: [a-z0-9-], at most 63, starting
 * and ending with a letter or digit): in itself when it is one, else its
 * letters and digits in lower case, runs of anything else a '-', and 8
 * hex digits of its sha256. Deterministic. */
void env_kube_name(const char *in, char out[ENV_KUBE_NAME_MAX + 1]);
/* s as one shell word on one line: as is when plain, '...' else, bash's
 * $'...' when it holds a control character. */
void env_kube_shq(struct dv_buf *b, const char *s);
/* What env_kube_yaml needs beside the spec. */
struct env_kube_in {
	const char *env_id;
	const char *image;                    /* the env's, REPO@sha256:HEX */
	const char *const *svc_images;        /* per service, as the Pod names it; NULL:
					      the Envfile's */
	const char *clone_url, *clone_commit; /* --clone; NULL: the checkout a hostPath */
};
/* The PVCs and the Pod (then on_up as comments) into out; each key the Pod
 * cannot express one line into warnings. -1 (EILSEQ) when a string is not
 * UTF-8; EINVAL for a capability libcap does not know. */
int env_kube_yaml(const struct env_spec *spec, const struct env_kube_in *in, struct dv_buf *out,
		  struct dv_strv *warnings, struct dv_error *err);
struct env_kube_opts {
	const char *image; /* --image REF; NULL: the env's last push */
	bool push, clone;  /* --push, --clone */
};
/* Look up what the Pod names (kubegen.c) and write it: env located with
 * its spec, its trust checked by the caller. */
int env_kube_generate(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		      const struct env_kube_opts *o, struct dv_buf *yaml, struct dv_strv *warnings,
		      struct dv_error *err);
/* push.c's: record the env's push (envs/<id>/pushed: "NAME sha256:HEX")
 * for kube generate; a failure is a warning. */
void env_push_record(const struct layer_store *st, const char *env_id, const char *name,
		     const char *digest);

/* sshd.c: the env's ssh endpoint (`ssh-config`, `ssh-proxy`): the env's
 * sshd in inetd mode over ssh-proxy's stdio, its files in a folder of the
 * env's /dev (a tmpfs: never in a layer). */
#define ENV_SSHD_RUNDIR "/dev/.devenv-sshd"
#define ENV_SSHD_STR_(x) #x
#define ENV_SSHD_STR(x) ENV_SSHD_STR_(x)
#define ENV_SSHD_NO_SSHD 120  /* env_sshd_script's status: no sshd in the env */
#define ENV_SSHD_NO_FILES 121 /* it could not write its files */
/* sh -c this as the env's root, with DEVENV_SSHD_HOST_KEY, DEVENV_SSHD_KEYS
 * and DEVENV_SSHD_CONFIG in its environment: writes them to ENV_SSHD_RUNDIR
 * and execs sshd -i. */
extern const char env_sshd_script[];
/* The env's ed25519 host key, made once with the host's ssh-keygen in
 * envs/<id>/sshd/: *priv the private key file, *pub "ssh-ed25519 BASE64"
 * (caller frees both). */
int env_sshd_hostkey(const struct layer_store *st, const char *env_id, char **priv, char **pub,
		     struct dv_error *err);
/* The "TYPE BASE64" of each public key line of text (a .pub file, an
 * authorized_keys): options, comments and anything else left out. Appends
 * them to out, one a line; returns how many. */
size_t env_sshd_keys_filter(const char *text, size_t len, struct dv_buf *out);
/* The keys of the .pub files of home/.ssh (regular files only): their count, or -1
 * (ENOENT: none, with what to do). */
int env_sshd_user_keys(const char *home, struct dv_buf *out, struct dv_error *err);
/* The keys the user's ssh agent holds (SSH_AUTH_SOCK; `ssh-add -L`),
 * appended to out: how many (0: no agent, or none). */
size_t env_sshd_agent_keys(struct dv_buf *out);
/* The sshd_config ssh-proxy gives the env's sshd; s (may be NULL): the
 * Envfile's env as SetEnv lines. */
void env_sshd_config(const struct env_record *s, struct dv_buf *out);
/* ~/.ssh/config's text with `Include "path"` first: 1 with the new text in
 * *out, 0 when an Include of path is there already (out untouched). The
 * user's lines are kept byte for byte. */
int env_sshd_include(const char *text, size_t len, const char *path, struct dv_buf *out);
/* A known_hosts file's text with `lines` ("HOST TYPE BASE64") in place of
 * the lines for the same HOST, the others kept. */
void env_sshd_known_merge(const char *old, size_t len, const struct dv_strv *lines,
			  struct dv_buf *out);

#endif
