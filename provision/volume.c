/*
 * provision/volume.c - named volumes: <store>/volumes/<NAME>/, plain
 * folders bound into every env (and service) that names them.
 *
 * A volume is created on first use by making it under tmp/ and renaming it
 * into volumes/ (RENAME_NOREPLACE), so two `up`s racing for the same name
 * both end up with the one folder. It is removed by renaming it into tmp/
 * first, so volumes/ never shows a half-removed volume. Which envs name a
 * volume is read from their state.json (`volumes`, recorded by each up);
 * `destroy` never removes one and `gc` never looks at them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

bool prov_volume_name_ok(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 1; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr("_.-", s[i])))
			return false;
	return i <= 63;
}

static int check_name(const char *name, struct dv_error *err)
{
	if (!prov_volume_name_ok(name))
		return dv_err_usage(err, "'%.80s' is not a volume name (1 to 63 lower-case letters, "
				    "digits, '_', '.' or '-', starting with a letter or digit); "
				    "'devenv volume ls' lists them", name);
	return 0;
}

static void push_unique(struct dv_strv *out, const char *name)
{
	for (size_t i = 0; i < out->n; i++)
		if (strcmp(out->v[i], name) == 0)
			return;
	dv_strv_push(out, name);
}

void prov_volume_names(const struct env_spec *spec, struct dv_strv *out)
{
	for (size_t i = 0; i < spec->n_volumes; i++)
		push_unique(out, spec->volumes[i].source);
	for (size_t i = 0; i < spec->n_services; i++)
		for (size_t j = 0; j < spec->services[i].n_volumes; j++)
			if (spec->services[i].volumes[j].volume)
				push_unique(out, spec->services[i].volumes[j].source);
}

static int volumes_fd(const struct layer_store *st, bool create, struct dv_error *err)
{
	if (create && dv_mkdirat_ok(st->root_fd, "volumes", 0700, err) < 0)
		return -1;
	return openat(st->root_fd, "volumes", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int prov_volume_prepare(const struct layer_store *st, const char *name, char **out,
			struct dv_error *err)
{
	dv_autoclose int vfd = -1;
	dv_autofree char *staging = NULL;
	dv_autofree char *from = NULL;
	struct stat sb;

	if (check_name(name, err) < 0)
		return -1;
	vfd = volumes_fd(st, true, err);
	if (vfd < 0)
		return dv_err_isset(err) ? -1 : dv_err(err, errno, "cannot open '%s/volumes'", st->root);
	if (fstatat(vfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
		/* Made whole under tmp/, then renamed in: a racing `up` either
		 * finds it there or loses the rename and uses the winner's. */
		if (layer_staging_new(st, &staging, err) < 0)
			return -1;
		from = dv_xasprintf("%s/diff", staging);
		if (renameat2(st->tmp_fd, from, vfd, name, RENAME_NOREPLACE) < 0 && errno != EEXIST) {
			int e = errno;

			layer_staging_discard(st, staging, &(struct dv_error){ 0 });
			return dv_err(err, e, "cannot create volume '%s'", name);
		}
		layer_staging_discard(st, staging, &(struct dv_error){ 0 });
	}
	if (fstatat(vfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot create volume '%s'", name);
	if (!S_ISDIR(sb.st_mode))
		return dv_err_plain(err, EINVAL, "'%s/volumes/%s' is not a folder; remove it", st->root,
				    name);
	*out = dv_xasprintf("%s/volumes/%s", st->root, name);
	return 0;
}

bool prov_volume_exists(const struct layer_store *st, const char *name)
{
	dv_autoclose int vfd = volumes_fd(st, false, &(struct dv_error){ 0 });
	struct stat sb;

	return vfd >= 0 && prov_volume_name_ok(name) &&
	       fstatat(vfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

int prov_volume_remove(const struct layer_store *st, const char *name, struct dv_error *err)
{
	dv_autoclose int vfd = -1;
	dv_autofree char *staging = NULL;
	dv_autofree char *dest = NULL;

	if (check_name(name, err) < 0)
		return -1;
	vfd = volumes_fd(st, false, err);
	if (vfd < 0 || !prov_volume_exists(st, name))
		return dv_err_plain(err, ENOENT, "no volume named '%s'; 'devenv volume ls' lists them",
				    name);
	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	dest = dv_xasprintf("%s/volume", staging);
	if (renameat(vfd, name, st->tmp_fd, dest) < 0) {
		int e = errno;

		layer_staging_discard(st, staging, &(struct dv_error){ 0 });
		return dv_err(err, e, "cannot remove volume '%s'", name);
	}
	/* Never follows a link nor crosses a mount: a link the env planted
	 * in the volume cannot make this remove anything outside. */
	if (layer_staging_discard(st, staging, err) < 0)
		return dv_err_prefix(err, "volume '%s' is gone; 'devenv gc' removes its remains", name);
	return 0;
}

int prov_volume_list(const struct layer_store *st, bool sizes, struct prov_volume **out, size_t *n,
		     struct dv_error *err)
{
	dv_autoclose int vfd = volumes_fd(st, false, err);
	dv_autoclosedir DIR *d = NULL;
	struct ctr_state *envs = NULL;
	size_t n_envs = 0, count = 0;
	struct prov_volume *v = NULL;
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (vfd < 0 && errno == ENOENT)
		return 0;
	if (vfd < 0 || !(d = dv_opendir_fd(dv_steal_fd(&vfd))))
		return dv_err(err, errno, "cannot read '%s/volumes'", st->root);
	if (prov_env_list(st, false, &envs, &n_envs, err) < 0)
		return -1;
	while ((de = readdir(d))) {
		struct prov_volume *p;

		if (!prov_volume_name_ok(de->d_name) || !prov_volume_exists(st, de->d_name))
			continue;
		v = dv_xrealloc(v, (count + 1) * sizeof(*v));
		p = &v[count++];
		memset(p, 0, sizeof(*p));
		p->name = dv_xstrdup(de->d_name);
		if (sizes) {
			dv_autoclose int vf = openat(st->root_fd, "volumes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			p->size = vf >= 0 ? dv_du_at(vf, de->d_name) : 0;
		}
		for (size_t i = 0; i < n_envs; i++)
			for (size_t j = 0; j < envs[i].volumes.n; j++)
				if (strcmp(envs[i].volumes.v[j], p->name) == 0) {
					dv_strv_push(&p->envs, envs[i].name);
					dv_strv_push(&p->env_ids, envs[i].id);
					if (ctr_probe(&envs[i].init) != CTR_STOPPED)
						p->running = true;
				}
	}
	for (size_t i = 0; i < n_envs; i++)
		ctr_state_release(&envs[i]);
	free(envs);
	/* Sorted, so the listing reads the same every time. */
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && strcmp(v[j - 1].name, v[j].name) > 0; j--) {
			struct prov_volume t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*out = v;
	*n = count;
	return 0;
}

void prov_volumes_free(struct prov_volume *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		dv_strv_release(&v[i].envs);
		dv_strv_release(&v[i].env_ids);
	}
	free(v);
}
