/*
 * container/mount.c - the container's root file system, built inside the
 * child's own mount namespace (see ns.c): overlay, fresh /proc, read-only
 * /sys, a small /dev, generated /etc files, the checkout, pivot_root.
 *
 * Everything inside the root is reached from the root's fd with openat2
 * RESOLVE_IN_ROOT, and mounts are attached to opened fds with move_mount,
 * so an image's symlinks (etc -> /host/etc) can never redirect a mount to
 * the host.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

int ctr_openat_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	while (*path == '/')
		path++;
	return dv_openat2(rootfd, *path ? path : ".", flags, mode,
			  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int ctr_mkdir_p_in_root(int rootfd, const char *path, mode_t mode, struct dv_error *err)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;
	int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);

	if (n >= sizeof(buf)) {
		if (cur >= 0)
			close(cur);
		return dv_err(err, ENAMETOOLONG, "'%s'", path);
	}
	memcpy(buf, path, n + 1);
	for (i = 0; cur >= 0 && i <= n; i++) {
		const char *comp;
		int next;

		if (buf[i] != '/' && buf[i] != 0)
			continue;
		buf[i] = 0;
		comp = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
		if (!*comp || !strcmp(comp, ".")) {
			buf[i] = i < n ? '/' : 0;
			continue;
		}
		/* Resolve the whole prefix in the root, so that a symlinked
		 * component (home -> var/home) is followed inside it. */
		next = ctr_openat_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, comp, mode) < 0 && errno != EEXIST) {
				int e = errno;

				close(cur);
				return dv_err(err, e, "cannot create folder '%s'", buf);
			}
			next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			close(cur);
			return dv_err(err, e, "cannot open folder '%s'", buf);
		}
		close(cur);
		cur = next;
		buf[i] = i < n ? '/' : 0;
	}
	if (cur < 0)
		return dv_err(err, errno, "cannot open folder '%s'", path);
	return cur;
}

/* The kernel explains a refused fsconfig in the context's message log. */
static int DV_FMT(4, 5) fs_fail(int fsfd, int e, struct dv_error *err, const char *fmt, ...)
{
	char what[300], log[200];
	ssize_t n = fsfd >= 0 ? read(fsfd, log, sizeof(log) - 1) : -1;
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	dv_err(err, e, "%s", what);
	if (n > 2) {
		log[n] = 0;
		log[strcspn(log, "\n")] = 0;
		len = strlen(err->msg);
		snprintf(err->msg + len, sizeof(err->msg) - len, " (%s)", log + 2);
	}
	return -1;
}

/* A new detached mount of fs `type` with options (key, value pairs; a NULL
 * value is a flag) and mount attributes. */
static int new_fs(const char *type, const char *const *opts, unsigned attrs, struct dv_error *err)
{
	dv_autoclose int fs = fsopen(type, FSOPEN_CLOEXEC);
	int mnt;

	if (fs < 0)
		return dv_err(err, errno, "cannot mount %s", type);
	for (; opts && opts[0]; opts += 2) {
		int r = opts[1] ? fsconfig(fs, FSCONFIG_SET_STRING, opts[0], opts[1], 0)
				: fsconfig(fs, FSCONFIG_SET_FLAG, opts[0], NULL, 0);
		if (r < 0)
			return fs_fail(fs, errno, err, "cannot mount %s", type);
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fs_fail(fs, errno, err, "cannot mount %s", type);
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (mnt < 0)
		return fs_fail(fs, errno, err, "cannot mount %s", type);
	return mnt;
}

static int write_file_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode,
			 struct dv_error *err)
{
	dv_autoclose int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				     mode);

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
	dv_autoclose int sk = new_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
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
			return dv_err(err, EINVAL, "cannot mount overlay: layer path '%s' has ':' or ','",
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
		ret = dv_err(err, E2BIG, "cannot mount overlay: too many layers for this kernel (needs 6.8)");
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
		const char *l = i < spec->n_lowers ? spec->lowers[i] : with_skeleton ? merged : NULL;

		if (!l)
			break;
		if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", l, 0) == 0)
			continue;
		if (errno == EINVAL && i == 0) {
			if (overlay_legacy(spec, with_skeleton ? merged : NULL, merged, err) < 0)
				return -1;
			goto opened;
		}
		return fs_fail(fs, errno, err, "cannot mount overlay: layer '%s'", l);
	}
	if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", spec->upper, 0) < 0)
		return fs_fail(fs, errno, err, "cannot mount overlay: upper '%s'", spec->upper);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "workdir", spec->work, 0) < 0)
		return fs_fail(fs, errno, err, "cannot mount overlay: work '%s'", spec->work);
	{
		/* Every upper must be a self-contained layer: a build step's is
		 * committed, an env's may be (`devenv commit`). */
		static const char *const off[] = { "redirect_dir", "metacopy", "index" };

		for (i = 0; i < 3; i++) {
			/* userxattr allows redirect_dir=nofollow only (which
			 * creates none either). */
			const char *v = i == 0 && spec->userns ? "nofollow" : "off";

			if (fsconfig(fs, FSCONFIG_SET_STRING, off[i], v, 0) < 0)
				return fs_fail(fs, errno, err, "cannot mount overlay: %s=%s", off[i], v);
		}
	}
	/* In a user namespace overlay keeps whiteouts and opaque folders in
	 * user.overlay.* (trusted.* needs root of the host). */
	if (spec->userns && fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
		return fs_fail(fs, errno, err, "%s", "cannot mount overlay: userxattr (needs Linux 5.11)");
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fs_fail(fs, errno, err, "%s", "cannot mount overlay");
	/* nodev: with CAP_MKNOD a process may create the host disk's node, but
	 * never open it (there is no device cgroup to stop it otherwise). */
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return fs_fail(fs, errno, err, "%s", "cannot mount overlay");
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
			return fs_fail(fs, errno, err, "%s", "keep-id: cannot mount FUSE");
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
		return fs_fail(fs, errno, err, "%s", "keep-id: cannot mount FUSE");
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return fs_fail(fs, errno, err, "%s", "keep-id: cannot mount FUSE");
	/* The server starts once it has the device; until then what reads the
	 * root waits. */
	if (ctr_keepid_send(sock, fuse, err) < 0 ||
	    move_mount(mnt, "", AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		int e = errno;

		close(mnt);
		return dv_err_isset(err) ? -1 : dv_err(err, e, "cannot mount the root on '%s'", merged);
	}
	if (skel_out)
		*skel_out = dv_steal_fd(&skel);
	return mnt;
}

/* Attach mount `mnt` on path inside the root, which must be a folder (dir)
 * or a regular file. */
static int attach(int rootfd, const char *path, int mnt, bool dir, struct dv_error *err)
{
	dv_autoclose int t = ctr_openat_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
	struct stat st;

	if (t < 0 || fstat(t, &st) < 0)
		return dv_err(err, errno, "cannot open '/%s' in the container", path);
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return dv_err(err, 0, "image rootfs: '%s' must be a %s", path, dir ? "directory" : "file");
	if (move_mount(mnt, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mount on '/%s'", path);
	return 0;
}

/* A bind mount of a host device node, checked to be the character device it
 * claims to be (the host's /dev is trusted, but cheaply verified). */
static int bind_dev(int devfd, const char *name, struct dv_error *err)
{
	char host[32];
	dv_autoclose int src = -1;
	dv_autoclose int t = -1;
	struct stat st;

	snprintf(host, sizeof(host), "/dev/%s", name);
	src = open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	if (src < 0 || fstat(src, &st) < 0)
		return dv_err(err, errno, "cannot bind '%s'", host);
	if (!S_ISCHR(st.st_mode))
		return dv_err(err, 0, "host '%s' is not a character device", host);
	t = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (t < 0)
		return dv_err(err, errno, "cannot create '/dev/%s'", name);
	if (move_mount(src, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot bind '%s'", host);
	return 0;
}

/* The env's own node: made anew on `nodes` (a tmpfs that is attached
 * nowhere, so nothing in the env can make a node there) and bound from it.
 * Its mode (0666 whatever the umask) is still set without following a
 * name, as everywhere we set metadata: no symlink there can redirect it. */
static int make_dev(int devfd, int nodes, const char *name, dev_t rdev, struct dv_error *err)
{
	dv_autoclose int src = -1;
	dv_autoclose int t = -1;

	if (mknodat(nodes, name, S_IFCHR | 0666, rdev) < 0 ||
	    fchmodat(nodes, name, 0666, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot make '/dev/%s'", name);
	src = open_tree(nodes, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	if (src < 0)
		return dv_err(err, errno, "cannot bind '/dev/%s'", name);
	t = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (t < 0)
		return dv_err(err, errno, "cannot create '/dev/%s'", name);
	if (move_mount(src, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot bind '/dev/%s'", name);
	return 0;
}

/* /dev/null and its kind. A bind of the host's node is the host's inode:
 * run by root, root in the env (CAP_CHOWN, CAP_FOWNER) could chown or
 * chmod the host's /dev/null (`chmod 600 /dev/null` breaks every program
 * of the host's users) through it, or through a step's stdin. So root's
 * envs get nodes of their own; without root, mknod is not allowed, and the
 * host's are bound: root of our user namespace cannot change them, their
 * owner is not mapped there. */
static int setup_dev_nodes(int devfd, bool userns, struct dv_error *err)
{
	static const struct {
		const char *name;
		unsigned major, minor;
	} nodes[] = { { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
		      { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 } };
	static const char *const opts[] = { "mode", "0755", "size", "4k", NULL };
	dv_autoclose int fs = -1;
	size_t i;

	if (userns) {
		for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
			if (bind_dev(devfd, nodes[i].name, err) < 0)
				return -1;
		return 0;
	}
	fs = new_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (fs < 0)
		return -1;
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (make_dev(devfd, fs, nodes[i].name, makedev(nodes[i].major, nodes[i].minor), err) < 0)
			return -1;
	return 0;
}

static int setup_dev(int rootfd, bool userns, struct dv_error *err)
{
	static const char *const dev_opts[] = { "mode", "0755", "size", "64k", NULL };
	static const char *const pts_opts[] = { "newinstance", NULL, "ptmxmode", "0666",
						"mode", "0620", "gid", "5", NULL };
	static const char *const pts_opts_nogid[] = { "newinstance", NULL, "ptmxmode", "0666",
						      "mode", "0620", NULL };
	static const char *const shm_opts[] = { "mode", "1777", "size", "64m", NULL };
	static const char *const links[][2] = {
		{ "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
		{ "core", "/proc/kcore" },
	};
	/* nodev: a node made in /dev cannot be opened; the binds below are
	 * mounts of their own and keep working. */
	dv_autoclose int dev = new_fs("tmpfs", dev_opts,
				      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV, err);
	dv_autoclose int pts = -1;
	dv_autoclose int shm = -1;
	size_t i;

	if (dev < 0)
		return -1;
	/* Attach first: nothing can be mounted inside a detached tree. */
	if (attach(rootfd, "dev", dev, true, err) < 0)
		return -1;
	if (setup_dev_nodes(dev, userns, err) < 0)
		return -1;
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i][1], dev, links[i][0]) < 0)
			return dv_err(err, errno, "cannot create '/dev/%s'", links[i][0]);
	if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0)
		return dv_err(err, errno, "cannot create /dev folders");
	pts = new_fs("devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (pts < 0 && err->errnum == EINVAL) /* a single-id user namespace has no group 5 */
		pts = new_fs("devpts", pts_opts_nogid, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (pts < 0)
		return -1;
	if (move_mount(pts, "", dev, "pts", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mount /dev/pts");
	shm = new_fs("tmpfs", shm_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	if (shm < 0)
		return -1;
	if (move_mount(shm, "", dev, "shm", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mount /dev/shm");
	return 0;
}

static int setup_sys(int rootfd, struct dv_error *err)
{
	const unsigned ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	struct dv_error ignored = { 0 };
	dv_autoclose int sys = new_fs("sysfs", NULL, ro, &ignored);

	if (sys < 0) {
		/* No new sysfs allowed (it is tied to the network namespace's
		 * owner): a read-only bind of the host's. */
		struct mount_attr attr = { .attr_set = ro };

		sys = open_tree(AT_FDCWD, "/sys", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (sys < 0)
			return dv_err(err, errno, "cannot bind /sys");
		if (mount_setattr(sys, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			return dv_err(err, errno, "cannot make /sys read-only");
	}
	return attach(rootfd, "sys", sys, true, err);
}

/* /etc/hosts, hostname, resolv.conf: read-only binds of the skeleton's
 * files. Where the image's file is a symlink to nowhere, or not a file, the
 * image keeps its own. */
static int setup_etc(int rootfd, int skelfd, struct dv_error *err)
{
	static const char *const files[] = { "etc/hosts", "etc/hostname", "etc/resolv.conf" };
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	};
	size_t i;

	for (i = 0; i < 3; i++) {
		dv_autoclose int src = open_tree(skelfd, files[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		dv_autoclose int t = ctr_openat_in_root(rootfd, files[i], O_PATH, 0);
		struct stat st;

		if (src < 0)
			return dv_err(err, errno, "cannot bind '/%s'", files[i]);
		if (t < 0 || fstat(t, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (mount_setattr(src, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
			return dv_err(err, errno, "cannot bind '/%s'", files[i]);
		if (move_mount(src, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			return dv_err(err, errno, "cannot bind '/%s'", files[i]);
	}
	return 0;
}

/* The checkout at workdir: nosuid and nodev (a setuid file made there runs
 * as nobody special inside), idmapped with idmap_ns (>= 0) so that only the
 * host user's id can be written (user.c), and its git dir read-only unless
 * the Envfile says read-write (gitdir.c). */
static int setup_checkout(const struct ctr_spec *spec, int rootfd, int idmap_ns,
			  struct dv_error *err)
{
	dv_autoclose int src = open_tree(AT_FDCWD, spec->checkout,
					 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	dv_autoclose int t = -1;

	if (src < 0)
		return dv_err(err, errno, "cannot bind checkout '%s'", spec->checkout);
	/* The skeleton provides workdir unless a layer hides it (a symlink
	 * to a missing folder, an opaque parent): then make it in the env. */
	t = ctr_openat_in_root(rootfd, spec->workdir, O_PATH | O_DIRECTORY, 0);
	if (t < 0 && errno == ENOENT && !spec->build)
		t = ctr_mkdir_p_in_root(rootfd, spec->workdir, 0755, err);
	if (t < 0)
		return dv_err_isset(err) ? -1 : dv_err(err, errno, "cannot mount checkout at '%s'", spec->workdir);
	if (ctr_idmap_mount(src, idmap_ns, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID, err) < 0)
		return dv_err_prefix(err, "checkout '%s'", spec->checkout);
	if (move_mount(src, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mount checkout at '%s'", spec->workdir);
	/* src is now the attached mount: bind its git dir onto itself. */
	return ctr_git_protect(src, spec->git_protect, spec->n_git_protect, err);
}

/* Docker's masked paths: runc's list plus /proc/interrupts and powercap
 * (and each cpu's thermal_throttle, below). */
static const char *const masked_paths[] = {
	"proc/acpi", "proc/asound", "proc/kcore", "proc/keys", "proc/latency_stats",
	"proc/timer_list", "proc/timer_stats", "proc/sched_debug", "sys/firmware", "proc/scsi",
	"proc/interrupts", "sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
	"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger",
};

/* A file gets the container's /dev/null, verified to be the 1:3 node
 * (CVE-2025-31133: an image cannot trick us into binding something else);
 * a folder a read-only empty tmpfs. Missing paths are skipped. */
static int mask_path(int rootfd, const char *path, struct dv_error *err)
{
	static const char *const opts[] = { "nr_blocks", "1", "nr_inodes", "1", "mode", "0555", NULL };
	const unsigned ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	dv_autoclose int t = ctr_openat_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
	dv_autoclose int src = -1;
	struct stat st, ns;

	if (t < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (t < 0 || fstat(t, &st) < 0)
		return dv_err(err, errno, "cannot open '/%s' to mask it", path);
	if (S_ISDIR(st.st_mode)) {
		src = new_fs("tmpfs", opts, ro, err);
		if (src < 0)
			return -1;
	} else {
		src = open_tree(rootfd, "dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
		if (src < 0 || fstat(src, &ns) < 0)
			return dv_err(err, errno, "cannot open /dev/null to mask '/%s'", path);
		if (!S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3))
			return dv_err(err, 0, "/dev/null is not the null device; refusing to mask '/%s' with it",
				      path);
	}
	if (move_mount(src, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mask '/%s'", path);
	return 0;
}

static int readonly_path(int rootfd, const char *path, struct dv_error *err)
{
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	};
	dv_autoclose int t = ctr_openat_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
	dv_autoclose int src = -1;

	if (t < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (t >= 0)
		src = open_tree(t, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (t < 0 || src < 0)
		return dv_err(err, errno, "cannot make '/%s' read-only", path);
	if (mount_setattr(src, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0 ||
	    move_mount(src, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot make '/%s' read-only", path);
	return 0;
}

static int setup_masks(int rootfd, struct dv_error *err)
{
	dv_autoclose int cpus = -1;
	DIR *d;
	struct dirent *de;
	size_t i;

	for (i = 0; i < sizeof(readonly_paths) / sizeof(readonly_paths[0]); i++)
		if (readonly_path(rootfd, readonly_paths[i], err) < 0)
			return -1;
	for (i = 0; i < sizeof(masked_paths) / sizeof(masked_paths[0]); i++)
		if (mask_path(rootfd, masked_paths[i], err) < 0)
			return -1;
	cpus = ctr_openat_in_root(rootfd, "sys/devices/system/cpu", O_RDONLY | O_DIRECTORY, 0);
	if (cpus < 0)
		return 0;
	d = fdopendir(dv_steal_fd(&cpus));
	if (!d)
		return dv_err(err, errno, "fdopendir");
	while ((de = readdir(d))) {
		char p[300];

		if (strncmp(de->d_name, "cpu", 3) || de->d_name[3] < '0' || de->d_name[3] > '9')
			continue;
		snprintf(p, sizeof(p), "sys/devices/system/cpu/%s/thermal_throttle", de->d_name);
		if (mask_path(rootfd, p, err) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int ctr_setup_root(const struct ctr_spec *spec, int rootfd, int skelfd, struct dv_error *err)
{
	static const char *const dirs[] = { "proc", "sys", "dev" };
	dv_autoclose int proc = -1;
	dv_autoclose int procfd = -1;
	dv_autoclose int idmap_ns = -1;
	size_t i;

	for (i = 0; i < 3; i++) {
		struct stat st;

		if (fstatat(rootfd, dirs[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			return dv_err(err, 0, "image rootfs: '%s' must be a directory", dirs[i]);
	}
	/* proc belongs to the pid namespace of the process that creates it: us. */
	proc = new_fs("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
	if (proc < 0 || attach(rootfd, "proc", proc, true, err) < 0)
		return -1;
	if (setup_sys(rootfd, err) < 0 || setup_dev(rootfd, spec->userns, err) < 0)
		return -1;
	if (skelfd >= 0 && setup_etc(rootfd, skelfd, err) < 0)
		return -1;
	/* One user namespace holds the idmap of every host path; the new
	 * /proc is the one that shows our children (we are PID 1 here). */
	if (spec->idmap) {
		procfd = ctr_openat_in_root(rootfd, "proc", O_PATH | O_DIRECTORY, 0);
		if (procfd < 0)
			return dv_err(err, errno, "cannot open the container's /proc");
		idmap_ns = ctr_idmap_userns(procfd, spec->idmap, err);
		if (idmap_ns < 0)
			return -1;
	}
	if (spec->checkout && spec->workdir && setup_checkout(spec, rootfd, idmap_ns, err) < 0)
		return -1;
	if (spec->n_mounts && ctr_setup_binds(spec, rootfd, idmap_ns, err) < 0)
		return -1;
	if (spec->sandbox && setup_masks(rootfd, err) < 0)
		return -1;
	if (sethostname(spec->hostname ? spec->hostname : "devenv",
			strlen(spec->hostname ? spec->hostname : "devenv")) < 0)
		return dv_err(err, errno, "cannot set hostname '%s'", spec->hostname);
	/* runc's trick: stack the old root under the new one, then detach it,
	 * with no folder for it needed inside the image. */
	if (fchdir(rootfd) < 0)
		return dv_err(err, errno, "cannot enter the root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return dv_err(err, errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return dv_err(err, errno, "cannot detach the host's root");
	if (chdir("/") < 0)
		return dv_err(err, errno, "chdir /");
	return 0;
}
