/*
 * env/internal.h - what env/'s files share and nothing outside env/ calls.
 * The folder's file map is env/env.h's.
 */
#ifndef ENV_INTERNAL_H
#define ENV_INTERNAL_H

#include "env/env.h"

/* lookup.c: the store's envs/ folder, opened (-1 and errno on failure). */
int env_envs_fd(const struct layer_store *st);

/* start.c: start the init on the env's files (env->state holds the plan,
 * up.c's record()); state.json (efd: envs/) records what started. */
int env_start(const struct layer_store *st, struct env *env, int efd, struct dv_error *err);
/* Which user namespace map an env's start gets (container/keepid.c):
 * "keep-id" or "" (*why: why not keep-id, or NULL); k and server are
 * filled for keep-id. */
const char *env_userns_map(const struct env *env, struct ctr_keepid *k, char *server,
			   const char **why);

/* volume.c: prov_ctr_mounts()'s volume function for the env (st, spec,
 * env_id): env_vol_prepare(). */
struct env_vol_env {
	const struct layer_store *st;
	const struct env_spec *spec;
	const char *env_id;
};
int env_vol_folder(const struct env_mount *m, char **dir, void *arg, struct dv_error *err);

/* sweep.c: an env that stopped without halt (its init died) was never
 * swept: sweep it and record that, before anything records a new start. */
int env_sweep_pending(struct env *env, int efd, struct dv_error *err);
/* Run x in the running env from a child of ours (ctr_exec() moves its
 * caller into the env's namespaces), under the env's sandbox, with the
 * "command" sweep after it; stdin_fd >= 0 becomes its stdin. *status: its
 * exit status, 128+signal, or 125 when it could not enter (a halted or
 * suspended env's ESRCH or EBUSY is not printed: the caller says which).
 * *enter_errnum (may be NULL): why it could not enter, 0 when it did. */
int env_exec_child(const struct env *env, const struct ctr_exec *x, int stdin_fd, int *status,
		   int *enter_errnum, struct dv_error *err);

/* dotfiles.c: are the user's dotfiles to be copied in at this start (set
 * in the config, and not yet in this upper, or a reload)? */
bool env_dotfiles_due(const struct env *env);
/* The first line of each run in a service's log (services.c writes it,
 * svcinfo.c's tail stops there). */
#define SVC_START_MARK "devenv: starting service "

/* lockfile.c: Envfile.lock in the plan (provision/lock.h). Which steps
 * `lock --update` asks again (caller frees; one flag per step), and
 * whether it names item ("base", a service). */
struct prov_lock;
bool *env_lock_updates(const struct env *env);
bool env_lock_updating(const struct env *env, const char *item);
/* The base the lock pins for the Envfile's image: 0 and img (the store's
 * image of that id, else pulled by digest, else the team's); 1 when the
 * lock has none for it (or it is being updated, or cannot be had and not
 * --frozen: a warning); -1 (--frozen: what is missing and how to get it). */
/* lockfile.c: Envfile.lock's pins (git commits, an `auto` snapshot time,
 * the epoch) applied to spec, for a command that computes the keys without
 * a plan (push, bundle): no lock, none; a broken one is its error. */
int env_lock_pins(struct env_spec *spec, struct dv_error *err);
int env_lock_base(const struct layer_store *st, const struct env *env, const struct prov_lock *l,
		  struct prov_team *team, struct layer_image *img, struct dv_error *err);
/* A warning when the plan's base is not the one the lock names. */
void env_lock_differs(const struct env *env, const struct prov_lock *l,
		      const struct layer_image *img);
/* The same for the services' images, resolved in imgs, replaced there. */
int env_lock_services(const struct layer_store *st, const struct env *env,
		      const struct prov_lock *l, struct layer_image *imgs, struct dv_error *err);
/* Is img a team's base whose source says it stands for the lock's base
 * (prov_team_stands_for)? Then the lock keeps its base and its keys are
 * the ones at the lock's id: env_lock_keys (out left empty otherwise). */
bool env_lock_stands(const struct env_spec *spec, const struct prov_lock *l,
		     const struct layer_image *img);
int env_lock_keys(const struct env_spec *spec, const struct prov_lock *l,
		  const struct layer_image *img, int gitdir, struct dv_strv *out,
		  struct dv_error *err);
/* Write the plan's lock when its bytes change ("wrote Envfile.lock"). */
int env_lock_save(const struct dv_ctx *ctx, const struct env_spec *spec,
		  const struct prov_lock *old, const struct layer_image *base,
		  const struct dv_strv *keys, const struct layer_image *svcs, struct dv_error *err);

#endif
