/*
 * container/mount.c - everything the child mounts on the root once it is
 * there (overlay.c), inside its own mount namespace (see ns.c): a fresh
 * /proc, a read-only /sys, a small /dev, /etc's generated files, the
 * checkout (its git dir read-only, gitdir.c), the Envfile's mounts
 * (binds.c), the sandbox's masked paths; then pivot_root.
 *
 * Everything inside the root is reached from the root's fd with openat2
 * RESOLVE_IN_ROOT (at.c), and mounts are attached to opened fds with
 * move_mount, so an image's symlinks (etc -> /host/etc) can never redirect
 * a mount to the host.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* Attach mount `mnt` on path inside the root, which must be a folder (dir)
 * or a regular file. */
static int attach(int rootfd, const char *path, int mnt, bool dir, struct dv_error *err)
{
	dv_autoclose int t = ctr_openat_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
	struct stat st;

	if (t < 0 || fstat(t, &st) < 0)
		return dv_err(err, errno, "cannot open '/%s' in the container", path);
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return dv_err(err, 0, "image rootfs: '%s' must be a %s", path,
			      dir ? "directory" : "file");
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
	} nodes[] = { { "null", 1, 3 },   { "zero", 1, 5 },    { "full", 1, 7 },
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
	fs = ctr_new_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (fs < 0)
		return -1;
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (make_dev(devfd, fs, nodes[i].name, makedev(nodes[i].major, nodes[i].minor),
			     err) < 0)
			return -1;
	return 0;
}

static int setup_dev(int rootfd, bool userns, struct dv_error *err)
{
	static const char *const dev_opts[] = { "mode", "0755", "size", "64k", NULL };
	static const char *const pts_opts[] = { "newinstance", NULL,  "ptmxmode", "0666", "mode",
						"0620",        "gid", "5",        NULL };
	static const char *const pts_opts_nogid[] = { "newinstance", NULL,   "ptmxmode", "0666",
						      "mode",        "0620", NULL };
	static const char *const shm_opts[] = { "mode", "1777", "size", "64m", NULL };
	static const char *const links[][2] = {
		{ "ptmx", "pts/ptmx" },          { "fd", "/proc/self/fd" },
		{ "stdin", "/proc/self/fd/0" },  { "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" }, { "core", "/proc/kcore" },
	};
	/* nodev: a node made in /dev cannot be opened; the binds below are
	 * mounts of their own and keep working. */
	dv_autoclose int dev = ctr_new_fs("tmpfs", dev_opts,
					  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV,
					  err);
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
	pts = ctr_new_fs("devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (pts < 0 && err->errnum == EINVAL) /* a single-id user namespace has no group 5 */
		pts = ctr_new_fs("devpts", pts_opts_nogid, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
				 err);
	if (pts < 0)
		return -1;
	if (move_mount(pts, "", dev, "pts", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mount /dev/pts");
	shm = ctr_new_fs("tmpfs", shm_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	if (shm < 0)
		return -1;
	if (move_mount(shm, "", dev, "shm", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mount /dev/shm");
	return 0;
}

static int setup_sys(int rootfd, struct dv_error *err)
{
	const unsigned ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			    MOUNT_ATTR_NOEXEC;
	struct dv_error ignored = { 0 };
	dv_autoclose int sys = ctr_new_fs("sysfs", NULL, ro, &ignored);

	if (sys < 0) {
		/* No new sysfs allowed (it is tied to the network namespace's
		 * owner): a read-only bind of the host's. */
		struct mount_attr attr = { .attr_set = ro };

		sys = open_tree(AT_FDCWD, "/sys",
				OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
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
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			    MOUNT_ATTR_NOEXEC,
	};
	size_t i;

	for (i = 0; i < 3; i++) {
		dv_autoclose int src =
			open_tree(skelfd, files[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
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
		return dv_err_isset(err)
			       ? -1
			       : dv_err(err, errno, "cannot mount checkout at '%s'", spec->workdir);
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
	"proc/acpi",          "proc/asound",     "proc/kcore",       "proc/keys",
	"proc/latency_stats", "proc/timer_list", "proc/timer_stats", "proc/sched_debug",
	"sys/firmware",       "proc/scsi",       "proc/interrupts",  "sys/devices/virtual/powercap",
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
	const unsigned ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			    MOUNT_ATTR_NOEXEC;
	dv_autoclose int t = ctr_openat_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
	dv_autoclose int src = -1;
	struct stat st, ns;

	if (t < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (t < 0 || fstat(t, &st) < 0)
		return dv_err(err, errno, "cannot open '/%s' to mask it", path);
	if (S_ISDIR(st.st_mode)) {
		src = ctr_new_fs("tmpfs", opts, ro, err);
		if (src < 0)
			return -1;
	} else {
		src = open_tree(rootfd, "dev/null",
				OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
		if (src < 0 || fstat(src, &ns) < 0)
			return dv_err(err, errno, "cannot open /dev/null to mask '/%s'", path);
		if (!S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3))
			return dv_err(err, 0,
				      "/dev/null is not the null device; refusing to mask '/%s' with it",
				      path);
	}
	if (move_mount(src, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mask '/%s'", path);
	return 0;
}

static int readonly_path(int rootfd, const char *path, struct dv_error *err)
{
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			    MOUNT_ATTR_NOEXEC,
	};
	dv_autoclose int t = ctr_openat_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
	dv_autoclose int src = -1;

	if (t < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (t >= 0)
		src = open_tree(t, "",
				OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
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
	proc = ctr_new_fs("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
			  err);
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
	if (spec->n_secrets && ctr_secrets_mount(rootfd, spec->secrets, spec->n_secrets, err) < 0)
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
