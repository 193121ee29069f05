/*
 * provision/lock.h - Envfile.lock: what an Envfile resolved to (the base
 * image's id and digest, each git step's commit, each download's and
 * copy's digest, each service image, the epoch and the apt snapshot
 * time), written next to the Envfile and committed with it.
 *
 * lock.c:     the file: strict parsing (errors at Envfile.lock:LINE:COL),
 *             the fixed text it is written as, read and written race-free
 *             beneath the checkout as the folder's owner
 * lockplan.c: the lock against a spec: fill it from a plan, apply it
 *             (commits, epoch, snapshot time), compare (`--frozen`)
 */
#ifndef PROVISION_LOCK_H
#define PROVISION_LOCK_H

#include <stdbool.h>

#include "provision/provision.h"

#define PROV_LOCK_NAME "Envfile.lock"

struct prov_lock_step {
	unsigned step; /* 1-based */
	char *label, *input, *commit, *sha256, *content, *key;
};
/* The base (name: NULL) or a service (name: the service's). */
struct prov_lock_image {
	char *name;   /* a service's name */
	char *image;  /* as the Envfile writes it */
	char *ref;    /* the store's normalised name ("name" in the file) */
	char *id;     /* sha256:<hex> of the config */
	char *digest; /* sha256:<hex> of the manifest a registry served, or NULL */
};
struct prov_lock {
	long long source_date_epoch;
	long long apt_snapshot; /* seconds; 0: none */
	struct prov_lock_image base;
	struct prov_lock_step *steps;
	size_t n_steps;
	struct prov_lock_image *svcs;
	size_t n_svcs;
};
void prov_lock_release(struct prov_lock *l);

/* The lock's text (display names it in errors, "Envfile.lock:12:5: ...").
 * On failure *out stays zeroed. */
int prov_lock_parse(const char *text, size_t len, const char *display, struct prov_lock *out,
		    struct dv_error *err);
/* Its text as written: fixed field order, a line per step and service. */
char *prov_lock_format(const struct prov_lock *l);
/* "2026-11-20T00:00:00Z" <-> seconds (UTC, whole seconds only). */
bool prov_lock_time_parse(const char *s, long long *out);
void prov_lock_time_format(long long t, char out[21]);

/* The lock's path as messages name it (next to spec->display). Caller frees. */
char *prov_lock_display(const struct env_spec *spec);
/* Read the spec's lock: 0; 1 when there is none; -1 (a symlink, not a
 * regular file, bad text). */
int prov_lock_read(const struct env_spec *spec, struct prov_lock *out, struct dv_error *err);
/* Write text as the lock (atomically, as the folder's owner, never
 * through a symlink): 0; 1 when the file already holds exactly text. */
int prov_lock_write(const struct env_spec *spec, const char *text, struct dv_error *err);

/* lockplan.c */
/* `input` of a step: sha256:<hex> of its canonical JSON. */
void prov_lock_input(const struct env_spec *spec, const struct env_step *step, char out[72]);
/* Before the keys: each git step whose input the lock has takes its commit
 * from it, unless update says to ask again (NULL: none; else one flag per
 * step); the epoch and an `auto` snapshot time from the lock (else now). */
void prov_lock_apply(struct env_spec *spec, const struct prov_lock *l, const bool *update);
/* The lock of a plan: base, keys, services' images; old (may be NULL)
 * lends what is unchanged (a copy's content, a digest). */
int prov_lock_make(const struct env_spec *spec, const struct layer_image *base,
		   const struct dv_strv *keys, const struct layer_image *svcs,
		   const struct prov_lock *old, struct prov_lock *out, struct dv_error *err);
/* `--frozen`: the Envfile's inputs against the lock's (not the keys): 0, or
 * -1 with the first difference at its Envfile line. Reads copy sources
 * only when their step differs in key (lock_keys NULL: always). */
int prov_lock_check(const struct env_spec *spec, const struct prov_lock *l,
		    const struct dv_strv *keys, struct dv_error *err);
/* DEVENV_FROZEN=1 in the environment. */
bool prov_lock_frozen_env(void);

#endif
