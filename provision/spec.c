/*
 * provision/spec.c - a container's ctr_spec and what it points to (the
 * layers as lowers, its mounts, its sandbox), built one way for a build
 * step, an env (env/start.c) and a service (env/services.c).
 *
 * The volumes' folders are env/'s (env_vol_prepare): the caller hands a
 * function that makes one, so that this file knows nothing above it.
 */
#include <stdlib.h>
#include <string.h>

#include "provision.h"
#include "util/banned.h"

void prov_ctr_init(struct prov_ctr *c, const struct layer_store *st, const char *hostname,
		   const struct dv_strv *layers, const char *upper, const char *work)
{
	memset(c, 0, sizeof(*c));
	c->lowers = dv_xcalloc(layers->n + 1, sizeof(*c->lowers));
	c->n_lowers = layers->n;
	for (size_t i = 0; i < layers->n; i++) /* overlay wants the top layer first */
		c->lowers[i] = layer_diff_path(st, layers->v[layers->n - 1 - i]);
	c->cs.hostname = hostname;
	c->cs.lowers = c->lowers;
	c->cs.n_lowers = layers->n;
	c->cs.upper = upper;
	c->cs.work = work;
	c->cs.userns = st->rootless;
	c->cs.log_fd = -1;
}

void prov_ctr_hosts(struct prov_ctr *c, const struct env_spec *spec)
{
	free(c->hosts);
	c->hosts = dv_xcalloc(spec->n_services + 1, sizeof(*c->hosts));
	for (size_t i = 0; i < spec->n_services; i++)
		c->hosts[i] = spec->services[i].name;
	c->cs.hosts = c->hosts;
	c->cs.n_hosts = spec->n_services;
}

struct ctr_mount *prov_ctr_mount_add(struct prov_ctr *c)
{
	struct ctr_mount *m;

	c->mounts = dv_xrealloc(c->mounts, (c->n_mounts + 1) * sizeof(*c->mounts));
	m = &c->mounts[c->n_mounts++];
	memset(m, 0, sizeof(*m));
	m->tree_fd = -1;
	c->cs.mounts = c->mounts;
	c->cs.n_mounts = c->n_mounts;
	return m;
}

int prov_ctr_mounts(struct prov_ctr *c, const struct env_spec *spec, const struct env_mount *m,
		    size_t n, const char *fix, prov_volume_fn volume, void *arg,
		    struct dv_error *err)
{
	for (size_t i = 0; i < n; i++) {
		struct ctr_mount *cm = prov_ctr_mount_add(c);
		char *dir;

		if (m[i].volume) {
			/* An empty volume is filled from the image, as Docker does. */
			if (volume(&m[i], &dir, arg, err) < 0)
				return -1;
			dv_strv_push_owned(&c->paths, dir);
			*cm = (struct ctr_mount){ .source = dir,
						  .target = m[i].target,
						  .readonly = m[i].readonly,
						  .fill = true,
						  .tree_fd = -1 };
		} else if (prov_host_tree(spec, &m[i], fix, cm, err) < 0) {
			/* opened race-free, cloned: bound as it is */
			return -1;
		}
	}
	return 0;
}

int prov_ctr_sandbox(struct prov_ctr *c, const struct layer_store *st, const struct env_spec *spec,
		     const struct ctr_limits *lim, const struct dv_strv *cgroups,
		     unsigned long long *caps, char **bpf, struct dv_error *err)
{
	if (prov_sandbox(st, spec, caps, bpf, err) < 0 ||
	    ctr_sandbox_load(*bpf, *caps, &c->sb, err) < 0)
		return -1;
	c->sb.nproc = prov_nproc_fallback(lim, cgroups);
	c->cs.sandbox = &c->sb;
	return 0;
}

void prov_ctr_release(struct prov_ctr *c)
{
	for (size_t i = 0; i < c->n_lowers; i++)
		free((char *)c->lowers[i]);
	free(c->lowers);
	prov_host_trees_close(c->mounts, c->n_mounts);
	free(c->mounts);
	dv_strv_release(&c->paths);
	free(c->hosts);
	ctr_sandbox_release(&c->sb);
	memset(c, 0, sizeof(*c));
}
