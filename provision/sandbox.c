/*
 * provision/sandbox.c - the Envfile's `security:` to a container sandbox.
 *
 * The seccomp program is compiled once per (profile, caps, arch, kernel)
 * into the store's seccomp/ folder; envs, build steps and `ssh` load it.
 * The sandbox is not part of provisioning cache keys: it decides what a
 * step may do, not what a step that succeeds produces (a step the sandbox
 * stops fails, and a failed step is never cached).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "provision/provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int prov_sandbox(const struct layer_store *st, const struct env_spec *spec,
		 unsigned long long *caps, char **bpf_path, struct dv_error *err)
{
	const struct env_security *sec = &spec->security;
	dv_autofree char *dir = NULL;
	const char *profile;
	size_t len;

	if (ctr_caps_mask(&sec->cap_add, &sec->cap_drop, caps, err) < 0)
		return dv_err_prefix(err, "%s: security", spec->display);
	if (sec->seccomp && !strcmp(sec->seccomp, "unconfined")) {
		*bpf_path = dv_xstrdup("");
		return 0;
	}
	if (sec->seccomp_abs) {
		/* The bytes read when the env was located, which the trust
		 * prompt showed and the digest holds. */
		if (!sec->seccomp_text)
			return dv_err(err, EINVAL, "seccomp profile '%s' was not read",
				      sec->seccomp);
		profile = sec->seccomp_text;
		len = sec->seccomp_len;
	} else {
		profile = ctr_seccomp_default(&len);
	}
	dir = dv_xasprintf("%s/seccomp", st->root);
	if (ctr_seccomp_prepare(dir, profile, len, *caps, bpf_path, err) < 0)
		return dv_err_prefix(err, "seccomp profile '%s'",
				     sec->seccomp_abs ? sec->seccomp : "default");
	return 0;
}

int prov_seccomp_gc(const struct layer_store *st, const struct dv_strv *keep,
		    unsigned long long *bytes, struct dv_error *err)
{
	dv_autoclose int dfd = openat(st->root_fd, "seccomp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dv_autoclosedir DIR *d = dfd < 0 ? NULL : dv_opendir_fd(dfd);
	struct dirent *de;

	if (dfd < 0 && errno == ENOENT)
		return 0;
	if (!d)
		return dv_err(err, errno, "cannot read '%s/seccomp'", st->root);
	while ((de = readdir(d))) {
		dv_autofree char *path = dv_xasprintf("%s/seccomp/%s", st->root, de->d_name);
		bool used = false;
		struct stat sb;

		if (!dv_str_endswith(de->d_name, ".bpf"))
			continue;
		for (size_t i = 0; i < keep->n && !used; i++)
			used = !strcmp(keep->v[i], path);
		if (used || fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* The next `up` that needs it compiles it again. */
		if (unlinkat(dfd, de->d_name, 0) == 0)
			*bytes += (unsigned long long)sb.st_blocks * 512;
	}
	return 0;
}

unsigned long long prov_nproc_fallback(const struct ctr_limits *lim, const struct dv_strv *cgroups)
{
	return cgroups->n ? 0 : lim->pids;
}

void prov_warn_undelegated(const struct ctr_limits *lim, const struct dv_strv *cgroups)
{
	static bool said;
	const char *unenforced = lim->memory && lim->cpus_milli ? "memory and cpus are"
				 : lim->memory                  ? "memory is"
				 : lim->cpus_milli              ? "cpus is"
								: NULL;

	if (said || cgroups->n || (!unenforced && !lim->pids))
		return;
	said = true;
	if (unenforced)
		fprintf(stderr,
			"devenv: warning: no cgroup is delegated to this user here: `resources` %s "
			"not enforced (README: Without root)\n",
			unenforced);
	if (lim->pids)
		fprintf(stderr,
			"devenv: note: no pids cgroup here: pids is enforced per user of the env "
			"with RLIMIT_NPROC\n");
}
