/*
 * env/gc.c - what `devenv gc` removes on the envs' behalf: the lock files
 * of envs that are gone, the seccomp programs no env uses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int env_locks_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err)
{
	dv_autoclose int fd = env_envs_fd(st);
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;

	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s/envs'", st->root);
	d = dv_opendir_fd(fd); /* its own fd: ours closes, and so does a failure */
	if (!d)
		return dv_err(err, errno, "cannot read '%s/envs'", st->root);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char env[64];
		struct stat sb;
		int lock;

		if (len <= 5 || len - 5 >= sizeof(env) || strcmp(de->d_name + len - 5, ".lock"))
			continue;
		snprintf(env, sizeof(env), "%.*s", (int)(len - 5), de->d_name);
		if (fstatat(fd, env, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		/* Its env is gone: unless someone holds it (an `up` about to
		 * make the env), it goes, unlinked while we hold it. */
		lock = openat(fd, de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (lock < 0)
			continue;
		if (flock(lock, LOCK_EX | LOCK_NB) == 0 &&
		    fstatat(fd, env, &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT &&
		    unlinkat(fd, de->d_name, 0) == 0)
			(*removed)++;
		close(lock);
	}
	return 0;
}

int env_sandbox_gc(const struct layer_store *st, const struct env_record *envs, size_t n,
		   unsigned long long *bytes, struct dv_error *err)
{
	struct dv_strv keep = { 0 };
	int ret;

	for (size_t i = 0; i < n; i++)
		if (envs[i].seccomp && envs[i].seccomp[0])
			dv_strv_push(&keep, envs[i].seccomp);
	ret = prov_seccomp_gc(st, &keep, bytes, err);
	dv_strv_release(&keep);
	return ret;
}
