/*
 * container/overlay.c - the env's root file system, mounted on `merged`
 * beside its upper folder in the child's own mount namespace: a small
 * tmpfs skeleton as the bottom layer (the mount targets and /etc's
 * generated files, so none is made in the upper), then the kernel overlay
 * of the image's layers and the upper, or, for a keep-id env, the FUSE
 * mount fuse-overlayfs serves from devenv's side (keepid.c).
 *
 * Every upper is a layer (a build step's is committed, an env's may be):
 * redirect_dir, metacopy and index are off, so that nothing in it refers
 * to the lowers it was made over.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

static int write_file_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode,
			 struct dv_error *err)
{
	dv_autoclose int fd =
		openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0)
		return dv_err(err, errno, "cannot create '%s'", name);
	return dv_write_full(fd, data, len, err);
}

/* The bottom layer: every mount target the runtime needs, so that none has
 * to be created in the overlay (a build's upper stays exactly what its
 * command wrote), plus the content of /etc/hosts, hostname, resolv.conf. */
static int make_skeleton(const struct ctr_spec *spec, struct dv_error *err)
{
	static const char *const opts[] = { "mode", "0755", "size", "1m", NULL };
	const char *host = spec->hostname ? spec->hostname : "devenv";
	dv_autoclose int sk = ctr_new_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	dv_autofree char *resolv = NULL;
	struct dv_buf hb = { 0 };
	char hosts[512];
	size_t rlen = 0;
	int n;

	if (sk < 0)
		return -1;
	if (mkdirat(sk, "proc", 0555) < 0 || mkdirat(sk, "sys", 0555) < 0 ||
	    mkdirat(sk, "dev", 0755) < 0 || mkdirat(sk, "etc", 0755) < 0)
		return dv_err(err, errno, "cannot create mount targets");
	/* The env's services share its network namespace: each of their
	 * names is this host too. */
	dv_buf_addf(&hb, "127.0.0.1\tlocalhost %s\n", host);
	for (size_t i = 0; i < spec->n_hosts; i++)
		if (strcmp(spec->hosts[i], host))
			dv_buf_addf(&hb, "127.0.0.1\t%s\n", spec->hosts[i]);
	dv_buf_addf(&hb, "::1\tlocalhost ip6-localhost ip6-loopback\n");
	n = write_file_at(sk, "etc/hosts", hb.s, hb.len, 0644, err);
	dv_buf_release(&hb);
	if (n < 0)
		return -1;
	n = snprintf(hosts, sizeof(hosts), "%s\n", host);
	if (write_file_at(sk, "etc/hostname", hosts, (size_t)n, 0644, err) < 0)
		return -1;
	/* A service joining a private env's namespace (netns_path), or a build
	 * step in a namespace of its own, alike. */
	if (spec->new_netns || spec->netns_path) {
		/* `network: private`: DNS is slirp4netns's (or pasta's, set up
		 * alike); the host's resolver may well be on its loopback. */
		resolv = dv_xstrdup("nameserver 10.0.2.3\n");
		rlen = strlen(resolv);
	} else {
		struct dv_error ignored = { 0 };
		/* The host's own file, symlinks followed: it is the host's choice. */
		dv_autoclose int fd = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);

		if (fd >= 0 && dv_read_all(fd, &resolv, &rlen, &ignored) < 0)
			rlen = 0;
	}
	if (write_file_at(sk, "etc/resolv.conf", resolv ? resolv : "", rlen, 0644, err) < 0)
		return -1;
	if (spec->workdir && spec->checkout) {
		int fd = ctr_mkdir_p_in_root(sk, spec->workdir, 0755, err);

		if (fd < 0)
			return dv_err_prefix(err, "workdir");
		close(fd);
	}
	/* Secrets' mount point, under the image's /run. */
	if (spec->n_secrets || spec->secrets_dir) {
		int fd = ctr_mkdir_p_in_root(sk, "/run/secrets", 0755, err);

		if (fd < 0)
			return dv_err_prefix(err, "secrets");
		close(fd);
	}
	for (size_t i = 0; i < spec->n_mounts; i++) {
		int fd;

		if (!spec->mounts[i].skeleton)
			continue;
		if ((fd = ctr_mkdir_p_in_root(sk, spec->mounts[i].target, 0755, err)) < 0)
			return dv_err_prefix(err, "mount target '%s'", spec->mounts[i].target);
		close(fd);
	}
	return dv_steal_fd(&sk);
}

/* Kernels before 6.8 lack "lowerdir+": one option string through mount(2),
 * with the layers relative to their common parent (we chdir there) so that a
 * long chain fits the one-page limit. */
static int overlay_legacy(const struct ctr_spec *spec, const char *skel_path, const char *merged,
			  struct dv_error *err)
{
	struct dv_buf b = { 0 };
	const char *first = spec->n_lowers ? spec->lowers[0] : skel_path;
	size_t common = first ? strlen(first) : 0, i;
	int ret = 0;

	for (i = 0; i < spec->n_lowers; i++) {
		size_t k = 0;

		while (k < common && spec->lowers[i][k] == first[k])
			k++;
		common = k;
	}
	while (common > 0 && first[common - 1] != '/')
		common--;
	if (common > 1) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", (int)common, first);
		if (chdir(dir) < 0)
			common = 0;
	} else {
		common = 0;
	}
	dv_buf_adds(&b, "lowerdir=");
	for (i = 0; i < spec->n_lowers; i++) {
		const char *l = spec->lowers[i] + common;

		if (strpbrk(l, ":,\\")) {
			dv_buf_release(&b);
			return dv_err(err, EINVAL,
				      "cannot mount overlay: layer path '%s' has ':' or ','",
				      spec->lowers[i]);
		}
		dv_buf_addf(&b, "%s%s", i ? ":" : "", l);
	}
	if (skel_path)
		dv_buf_addf(&b, "%s%s", spec->n_lowers ? ":" : "", skel_path);
	dv_buf_addf(&b, ",upperdir=%s,workdir=%s", spec->upper, spec->work);
	dv_buf_adds(&b, spec->userns ? ",redirect_dir=nofollow,metacopy=off,index=off"
				     : ",redirect_dir=off,metacopy=off,index=off");
	if (spec->userns)
		dv_buf_adds(&b, ",userxattr");
	if (b.len >= 4000)
		ret = dv_err(err, E2BIG,
			     "cannot mount overlay: too many layers for this kernel (needs 6.8)");
	else if (mount("overlay", merged, "overlay", MS_NODEV, b.s) < 0)
		ret = dv_err(err, errno, "cannot mount overlay");
	dv_buf_release(&b);
	if (chdir("/") < 0) {
		/* cannot fail for "/" */
	}
	return ret;
}

/* The folder the root is mounted on: `merged` beside the env's upper. */
static int make_merged(const struct ctr_spec *spec, char merged[PATH_MAX], struct dv_error *err)
{
	const char *slash = strrchr(spec->upper, '/');

	if (!slash)
		return dv_err(err, EINVAL, "upper folder '%s' is not absolute", spec->upper);
	snprintf(merged, PATH_MAX, "%.*s/merged", (int)(slash - spec->upper), spec->upper);
	if (mkdir(merged, 0700) < 0 && errno != EEXIST)
		return dv_err(err, errno, "cannot create '%s'", merged);
	return 0;
}

int ctr_mount_overlay(const struct ctr_spec *spec, bool with_skeleton, int *skel_out,
		      struct dv_error *err)
{
	char merged[PATH_MAX];
	dv_autoclose int skel = -1;
	dv_autoclose int fs = -1;
	size_t i;
	int mnt;

	if (make_merged(spec, merged, err) < 0)
		return -1;
	if (with_skeleton) {
		/* Attached at `merged`, named as the bottom layer by that path,
		 * then covered by the overlay mounted on the same folder. */
		skel = make_skeleton(spec, err);
		if (skel < 0)
			return -1;
		if (move_mount(skel, "", AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return dv_err(err, errno, "cannot mount skeleton on '%s'", merged);
	}
	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return dv_err(err, errno, "cannot mount overlay");
	for (i = 0; i <= spec->n_lowers; i++) {
		const char *l = i < spec->n_lowers ? spec->lowers[i]
				: with_skeleton    ? merged
						   : NULL;

		if (!l)
			break;
		if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", l, 0) == 0)
			continue;
		if (errno == EINVAL && i == 0) {
			if (overlay_legacy(spec, with_skeleton ? merged : NULL, merged, err) < 0)
				return -1;
			goto opened;
		}
		return ctr_fs_fail(fs, errno, err, "cannot mount overlay: layer '%s'", l);
	}
	if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", spec->upper, 0) < 0)
		return ctr_fs_fail(fs, errno, err, "cannot mount overlay: upper '%s'", spec->upper);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "workdir", spec->work, 0) < 0)
		return ctr_fs_fail(fs, errno, err, "cannot mount overlay: work '%s'", spec->work);
	{
		/* Every upper must be a self-contained layer: a build step's is
		 * committed, an env's may be (`devenv commit`). */
		static const char *const off[] = { "redirect_dir", "metacopy", "index" };

		for (i = 0; i < 3; i++) {
			/* userxattr allows redirect_dir=nofollow only (which
			 * creates none either). */
			const char *v = i == 0 && spec->userns ? "nofollow" : "off";

			if (fsconfig(fs, FSCONFIG_SET_STRING, off[i], v, 0) < 0)
				return ctr_fs_fail(fs, errno, err, "cannot mount overlay: %s=%s",
						   off[i], v);
		}
	}
	/* In a user namespace overlay keeps whiteouts and opaque folders in
	 * user.overlay.* (trusted.* needs root of the host). */
	if (spec->userns && fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
		return ctr_fs_fail(fs, errno, err, "%s",
				   "cannot mount overlay: userxattr (needs Linux 5.11)");
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ctr_fs_fail(fs, errno, err, "%s", "cannot mount overlay");
	/* nodev: with CAP_MKNOD a process may create the host disk's node, but
	 * never open it (there is no device cgroup to stop it otherwise). */
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return ctr_fs_fail(fs, errno, err, "%s", "cannot mount overlay");
	if (move_mount(mnt, "", AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		int e = errno;

		close(mnt);
		return dv_err(err, e, "cannot mount overlay on '%s'", merged);
	}
	if (skel_out)
		*skel_out = dv_steal_fd(&skel);
	return mnt;
opened:
	mnt = open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (mnt < 0)
		return dv_err(err, errno, "cannot open '%s'", merged);
	if (skel_out)
		*skel_out = dv_steal_fd(&skel);
	return mnt;
}

int ctr_mount_keepid(const struct ctr_spec *spec, int fuse, int sock, int *skel_out,
		     struct dv_error *err)
{
	char merged[PATH_MAX], num[16];
	dv_autoclose int skel = -1;
	dv_autoclose int fs = -1;
	int mnt;

	if (make_merged(spec, merged, err) < 0)
		return -1;
	skel = make_skeleton(spec, err);
	if (skel < 0)
		return -1;
	fs = fsopen("fuse", FSOPEN_CLOEXEC);
	if (fs < 0)
		return dv_err(err, errno, "keep-id: cannot mount FUSE");
	snprintf(num, sizeof(num), "%d", fuse);
	/* The source names the upper, as an overlay's options do, for
	 * ctr_kill_mounting to find the env's processes by it. */
	{
		dv_autofree char *src = dv_xasprintf("devenv-keepid:%s", spec->upper);

		if (fsconfig(fs, FSCONFIG_SET_STRING, "source", src, 0) < 0)
			return ctr_fs_fail(fs, errno, err, "%s", "keep-id: cannot mount FUSE");
	}
	/* allow_other: every id of the env, not only the mounter's;
	 * default_permissions: the kernel checks modes, as on any disk. */
	if (fsconfig(fs, FSCONFIG_SET_STRING, "fd", num, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "rootmode", "40000", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "user_id", "0", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "group_id", "0", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "allow_other", NULL, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "default_permissions", NULL, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ctr_fs_fail(fs, errno, err, "%s", "keep-id: cannot mount FUSE");
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return ctr_fs_fail(fs, errno, err, "%s", "keep-id: cannot mount FUSE");
	/* The server starts once it has the device; until then what reads the
	 * root waits. */
	if (ctr_keepid_send(sock, fuse, err) < 0 ||
	    move_mount(mnt, "", AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		int e = errno;

		close(mnt);
		return dv_err_isset(err) ? -1
					 : dv_err(err, e, "cannot mount the root on '%s'", merged);
	}
	if (skel_out)
		*skel_out = dv_steal_fd(&skel);
	return mnt;
}
