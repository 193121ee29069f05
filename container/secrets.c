/*
 * container/secrets.c - a container's secrets as files: a tmpfs of their
 * own (memory, never the store), /run/secrets/NAME 0400 owned by the
 * user who runs the command, the mount made read-only, attached at
 * /run/secrets reached from the root's fd (RESOLVE_IN_ROOT: an image's
 * symlink cannot send it elsewhere).
 *
 * A build step's is mounted with its root (mount.c), its mount point in
 * the skeleton so that the step's upper never holds it; an exec'd
 * command's (on_up) in a mount namespace of its own, made by its
 * supervisor (exec.c), so that it goes when the command ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int ctr_secrets_mount(int rootfd, const struct ctr_secret *v, size_t n, struct dv_error *err)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	dv_autoclose int fs = -1;
	dv_autoclose int t = -1;
	unsigned long long total = 0;
	char size[32];
	struct stat st;

	/* Room for the files and their pages, and no more. */
	for (size_t i = 0; i < n; i++)
		total += (v[i].len + 4095) / 4096 * 4096;
	snprintf(size, sizeof(size), "%llu", total + 65536);
	const char *const opts[] = { "mode", "0755", "size", size, NULL };
	fs = ctr_new_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
			err);
	if (fs < 0)
		return dv_err_prefix(err, "secrets");
	for (size_t i = 0; i < n; i++) {
		dv_autoclose int fd = openat(fs, v[i].name,
					     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					     0400);

		if (fd < 0 || dv_write_full(fd, v[i].data, v[i].len, err) < 0 ||
		    fchown(fd, v[i].uid, v[i].gid) < 0 || fchmod(fd, 0400) < 0)
			return dv_err(err, errno, "cannot write secret '%s'", v[i].name);
	}
	if (mount_setattr(fs, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
		return dv_err(err, errno, "cannot make the secrets read-only");
	t = ctr_openat_in_root(rootfd, "run/secrets", O_PATH | O_NOFOLLOW | O_DIRECTORY, 0);
	if (t < 0 || fstat(t, &st) < 0)
		return dv_err(err, errno,
			      "cannot open /run/secrets in the container for its secrets (the "
			      "image's /run must be a folder; an env started before its Envfile "
			      "declared secrets needs 'devenv reload')");
	if (move_mount(fs, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mount the secrets on /run/secrets");
	return 0;
}

int ctr_secrets_enter(const struct ctr_secret *v, size_t n, struct dv_error *err)
{
	dv_autoclose int root = -1;

	/* Our own mount namespace: the command's secrets are not the env's,
	 * and they go with it. Nothing propagates back (the env's mounts are
	 * private, and so are ours from here). */
	if (unshare(CLONE_NEWNS) < 0)
		return dv_err(err, errno,
			      "cannot give the command a mount namespace for its secrets");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return dv_err(err, errno, "cannot make the command's mounts private");
	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return dv_err(err, errno, "cannot open the env's root");
	return ctr_secrets_mount(root, v, n, err);
}
