/*
 * container/binds.c - the env's `volumes` and `mounts` (ctr_spec.mounts):
 * recursive binds of host folders or files, made after the checkout and
 * before pivot_root, in order (so a later target may sit inside an earlier
 * one).
 *
 * A host path of the Envfile arrives as a detached mount that
 * ctr_bind_tree made just before the container was started: opened
 * race-free (RESOLVE_BENEATH from the checkout, or RESOLVE_NO_SYMLINKS)
 * and cloned at once, so what is bound is what was opened, never a path
 * looked up again. Targets are reached from the root's fd with
 * RESOLVE_IN_ROOT, so an image's symlink (data -> /etc) is followed inside
 * the root and can never put a mount on the host; a missing target is
 * created the same way (a folder for a folder, an empty file for a file),
 * in the checkout or a host mount as the host user (see open_target).
 * Created targets land in the env's upper, as workdir does; build
 * containers never get mounts (provisioning sees only what `copy` brings),
 * so no layer holds one, but for a step's `cache` folders, whose targets
 * are the skeleton's (the bottom tmpfs, overlay.c) and never made in the
 * upper.
 *
 * A named volume that is empty when it is mounted first gets a copy of
 * what the image has at its target, with that folder's owner and mode,
 * as Docker does; so `cache:/home/dev/.cache` starts as the image left it,
 * and where the image has nothing there the env's user owns it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* Owner, mode and times of st on fd, the file or folder the copy has just
 * created, never on its name: we run before pivot_root, as root of the
 * host (or as its user, without root), and a process of an env that mounts
 * the volume already can swap a name there for a symlink to any host file
 * meanwhile (fchmodat follows symlinks). Owner first: chown clears s-bits. */
static int keep_meta(int fd, const struct stat *st, const char *sub, struct dv_error *err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchown(fd, st->st_uid, st->st_gid) < 0)
		return dv_err(err, errno, "cannot set the owner of '%s' in the volume", sub);
	if (fchmod(fd, st->st_mode & 07777) < 0)
		return dv_err(err, errno, "cannot set the mode of '%s' in the volume", sub);
	if (futimens(fd, ts) < 0)
		return dv_err(err, errno, "cannot set the times of '%s' in the volume", sub);
	return 0;
}

/* A symlink's owner and times: by name, as no fd of a symlink can be
 * changed, but never following it (and a symlink has no mode to set). */
static int keep_link_meta(int dir, const char *name, const struct stat *st, const char *sub,
			  struct dv_error *err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchownat(dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot set the owner of '%s' in the volume", sub);
	if (utimensat(dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot set the times of '%s' in the volume", sub);
	return 0;
}

/* The image's folder src into the empty volume dst: files, folders and
 * symlinks (as symlinks) with their owners, modes and times. Device nodes,
 * fifos and sockets are left out: a volume holds data. */
static int copy_tree(int src, int dst, const char *where, int depth, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(src);
	struct dirent *de;

	if (!d)
		return dv_err(err, errno, "cannot read '%s' in the image", where);
	if (depth > 256)
		return dv_err(err, ELOOP, "'%s' is nested too deep", where);
	while ((errno = 0, de = readdir(d))) {
		const char *name = de->d_name;
		char sub[PATH_MAX];
		struct stat st;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", where, name);
		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return dv_err(err, errno, "cannot stat '%s'", sub);
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);

			if (n < 0)
				return dv_err(err, errno, "cannot read link '%s'", sub);
			target[n] = 0;
			if (symlinkat(target, dst, name) < 0)
				return dv_err(err, errno, "cannot create link '%s'", sub);
			if (keep_link_meta(dst, name, &st, sub, err) < 0)
				return -1;
		} else if (S_ISREG(st.st_mode)) {
			dv_autoclose int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			dv_autoclose int out = -1;

			if (in < 0)
				return dv_err(err, errno, "cannot open '%s'", sub);
			out = openat(dst, name,
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (out < 0)
				return dv_err(err, errno, "cannot create '%s' in the volume", sub);
			if (ctr_copy_data(in, out, sub, err) < 0)
				return -1;
			if (keep_meta(out, &st, sub, err) < 0)
				return -1;
		} else if (S_ISDIR(st.st_mode)) {
			dv_autoclose int in =
				openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			dv_autoclose int out = -1;

			if (in < 0)
				return dv_err(err, errno, "cannot open '%s'", sub);
			if (mkdirat(dst, name, 0700) < 0)
				return dv_err(err, errno, "cannot create '%s' in the volume", sub);
			out = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (out < 0)
				return dv_err(err, errno, "cannot open '%s' in the volume", sub);
			/* Its mode last, so that a read-only folder can be filled. */
			if (copy_tree(in, out, sub, depth + 1, err) < 0)
				return -1;
			if (keep_meta(out, &st, sub, err) < 0)
				return -1;
		}
	}
	if (errno)
		return dv_err(err, errno, "cannot read '%s' in the image", where);
	return 0;
}

/* Read through an open file description of its own (the volume's fd keeps
 * its offset); dv_opendir_fd reads a dup of that, which closedir closes,
 * and ours is closed here. */
static bool dir_empty(int fd)
{
	dv_autoclose int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dv_autoclosedir DIR *d = own < 0 ? NULL : dv_opendir_fd(own);
	struct dirent *de;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			return false;
	return true;
}

/* An empty volume's first content and owner (see the header). */
static int fill_volume(const struct ctr_spec *spec, int rootfd, const struct ctr_mount *m,
		       struct dv_error *err)
{
	dv_autoclose int vol = open(m->source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	dv_autoclose int img = -1;
	struct stat st;

	if (vol < 0)
		return dv_err(err, errno, "cannot open volume folder '%s'", m->source);
	if (!dir_empty(vol))
		return 0;
	img = ctr_openat_in_root(rootfd, m->target, O_RDONLY | O_DIRECTORY, 0);
	if (img < 0 && errno != ENOENT)
		return 0; /* not a folder there: the bind below says so */
	if (img < 0) {
		uid_t uid = spec->user ? spec->user->uid : 0;
		gid_t gid = spec->user ? spec->user->gid : 0;

		if (fchown(vol, uid, gid) < 0)
			return dv_err(err, errno, "cannot give volume '%s' to uid %u", m->source,
				      (unsigned)uid);
		return 0;
	}
	if (fstat(img, &st) < 0)
		return dv_err(err, errno, "cannot stat '%s' in the image", m->target);
	if (copy_tree(img, vol, m->target, 0, err) < 0)
		return dv_err_prefix(err, "filling volume '%s' from the image", m->source);
	if (fchown(vol, st.st_uid, st.st_gid) < 0 || fchmod(vol, st.st_mode & 07777) < 0)
		return dv_err(err, errno, "cannot give volume '%s' the owner of '%s'", m->source,
			      m->target);
	return 0;
}

/* Create the missing target (a folder, or an empty file) and its missing
 * folders, each reached from the root's fd (RESOLVE_IN_ROOT). */
static int make_target(int rootfd, const char *target, bool dir, struct dv_error *err)
{
	char parent[PATH_MAX];
	const char *base = strrchr(target, '/');
	dv_autoclose int pfd = -1;

	snprintf(parent, sizeof(parent), "%.*s", (int)(base - target), target);
	base++;
	pfd = ctr_mkdir_p_in_root(rootfd, parent[0] ? parent : "/", 0755, err);
	if (pfd < 0)
		return dv_err_prefix(err, "mount target '%s'", target);
	if (dir) {
		if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST)
			return dv_err(err, errno, "cannot create mount target '%s' in the env",
				      target);
	} else {
		dv_autoclose int f = openat(pfd, base,
					    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					    0644);

		if (f < 0 && errno != EEXIST)
			return dv_err(err, errno, "cannot create mount target '%s' in the env",
				      target);
	}
	return 0;
}

/* make_target with the filesystem ids uid:gid, looking up as root still:
 * a change of fsuid from 0 takes the filesystem capabilities out of the
 * effective set, and CAP_DAC_READ_SEARCH alone comes back, so that a
 * workdir below /root (0700) is still reached; writing needs uid:gid's
 * own rights. Setting fsuid 0 again brings the others back. */
static int make_target_as(int rootfd, const char *target, bool dir, uid_t uid, gid_t gid,
			  struct dv_error *err)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];
	uid_t ouid = (uid_t)setfsuid((uid_t)-1);
	gid_t ogid = (gid_t)setfsgid((gid_t)-1);
	int r = -1;

	setfsgid(gid);
	setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) {
		dv_err(err, EPERM, "cannot create mount target '%s' as uid %u", target,
		       (unsigned)uid);
		goto out;
	}
	if (syscall(SYS_capget, &h, caps) < 0)
		goto caps_fail;
	caps[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].effective |= CAP_TO_MASK(CAP_DAC_READ_SEARCH);
	if (syscall(SYS_capset, &h, caps) < 0)
		goto caps_fail;
	r = make_target(rootfd, target, dir, err);
	goto out;
caps_fail:
	dv_err(err, errno, "cannot create mount target '%s' as uid %u", target, (unsigned)uid);
out:
	setfsuid(ouid);
	setfsgid(ogid);
	return r;
}

/* The target inside the root, created when missing; an O_PATH fd.
 *
 * as: the checkout's and host mounts' idmap, or NULL. Those are idmapped
 * with the host user's ids alone (user.c), so root cannot own a file there
 * (EOVERFLOW): a target in the checkout that it lacks yet (node_modules on
 * a fresh clone) is then made as the ids the host user shows as there, and
 * is the host user's on the host, as if the developer had made it. */
static int open_target(int rootfd, const char *target, bool dir, const struct ctr_idmap *as,
		       struct dv_error *err)
{
	struct dv_error root_err = { 0 };
	int t = ctr_openat_in_root(rootfd, target, O_PATH, 0);

	if (t >= 0 || errno != ENOENT || !strrchr(target, '/'))
		return t >= 0 ? t
			      : dv_err(err, errno, "cannot open mount target '%s' in the env",
				       target);
	if (make_target(rootfd, target, dir, &root_err) < 0) {
		if (root_err.errnum != EOVERFLOW || !as) {
			*err = root_err;
			return -1;
		}
		if (make_target_as(rootfd, target, dir, as->uid_vis, as->gid_vis, err) < 0)
			return -1;
	}
	/* Resolved again in the root: a dangling symlink there stays refused. */
	t = ctr_openat_in_root(rootfd, target, O_PATH, 0);
	if (t < 0)
		return dv_err(err, errno, "cannot create mount target '%s' in the env", target);
	return t;
}

static int bind_one(const struct ctr_spec *spec, int rootfd, const struct ctr_mount *m,
		    int idmap_ns, struct dv_error *err)
{
	unsigned attrs = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID |
			 (m->readonly ? MOUNT_ATTR_RDONLY : 0);
	dv_autoclose int src = -1;
	dv_autoclose int t = -1;
	struct stat ss, ts;

	if (!m->target || m->target[0] != '/' || !m->target[strspn(m->target, "/")])
		return dv_err_plain(err, EINVAL,
				    "cannot mount over '%s'; choose a folder such as '/data'",
				    m->target ? m->target : "");
	if (m->fill && fill_volume(spec, rootfd, m, err) < 0)
		return -1;
	/* A host path of the Envfile was opened race-free and cloned before
	 * our namespace existed (ctr_bind_tree): bind that, never the path. A
	 * volume's folder is the store's own. */
	if (m->has_tree)
		src = fcntl(m->tree_fd, F_DUPFD_CLOEXEC, 3);
	else
		src = open_tree(AT_FDCWD, m->source,
				OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
					AT_SYMLINK_NOFOLLOW);
	if (src < 0 && errno == ENOENT)
		return dv_err_plain(err, ENOENT,
				    "mount source '%s' no longer exists; create it, or "
				    "remove it from the Envfile",
				    m->source);
	if (src < 0 || fstat(src, &ss) < 0)
		return dv_err(err, errno, "cannot bind '%s'", m->source);
	if (!S_ISDIR(ss.st_mode) && !S_ISREG(ss.st_mode))
		return dv_err_plain(err, EINVAL,
				    "mount source '%s' is not a folder or a regular file",
				    m->source);
	/* A build step's cache: its target is the skeleton's (overlay.c),
	 * never made in the upper, which becomes the layer. */
	if (spec->build) {
		t = ctr_openat_in_root(rootfd, m->target, O_PATH, 0);
		if (t < 0)
			return dv_err(err, errno,
				      "cannot mount cache '%s': the step's root hides it (a "
				      "symlink or a file on its way?)",
				      m->target);
	} else {
		t = open_target(rootfd, m->target, S_ISDIR(ss.st_mode), spec->idmap, err);
	}
	if (t < 0)
		return -1;
	if (fstat(t, &ts) < 0)
		return dv_err(err, errno, "cannot stat mount target '%s'", m->target);
	if (S_ISDIR(ss.st_mode) != S_ISDIR(ts.st_mode) ||
	    (!S_ISDIR(ts.st_mode) && !S_ISREG(ts.st_mode)))
		return dv_err_plain(err, ENOTDIR,
				    "cannot mount %s '%s' on '%s': it is %s in the env",
				    S_ISDIR(ss.st_mode) ? "folder" : "file", m->source, m->target,
				    S_ISDIR(ts.st_mode)   ? "a folder"
				    : S_ISREG(ts.st_mode) ? "a file"
							  : "not a file");
	/* A host path is the checkout's equal: only the host user's id can be
	 * written there (user.c). A volume keeps the ids its programs need. */
	if (ctr_idmap_mount(src, m->host ? idmap_ns : -1, attrs, err) < 0)
		return dv_err_prefix(err, "mount of '%s'", m->source);
	if (move_mount(src, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return dv_err(err, errno, "cannot mount '%s' on '%s'", m->source, m->target);
	/* It covers the checkout's git dir: read-only there too (gitdir.c). */
	if (m->n_protect && S_ISDIR(ss.st_mode) &&
	    ctr_git_protect(src, m->protect, m->n_protect, err) < 0)
		return dv_err_prefix(err, "mount of '%s'", m->source);
	return 0;
}

/* What the helper of ctr_bind_tree says: 0, or the errno of the step that
 * failed (stage 0: the open, 1: the clone). */
struct tree_reply {
	int errnum, stage;
};

static _Noreturn void tree_helper(int sock, const char *root, const char *real)
{
	struct tree_reply r = { 0, 0 };
	int fd = -1, tree = -1;

	/* A mount namespace of our own (our user namespace's: without root,
	 * the only kind in which we may clone a mount), as the one we came
	 * from is now: the path is then resolved here, at this moment. Every
	 * mount private first, so that the clone is no peer of the host's: a
	 * mount made in the env below it must never appear on the host. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		r = (struct tree_reply){ errno, 1 };
	else if ((fd = dv_open_resolved(root, real, O_PATH)) < 0)
		r = (struct tree_reply){ errno, 0 };
	else if ((tree = open_tree(fd, "",
				   AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
					   AT_RECURSIVE)) < 0)
		r = (struct tree_reply){ errno, 1 };
	dv_send_fd(sock, &r, sizeof(r), tree);
	_exit(0);
}

int ctr_bind_tree(const char *root, const char *real, int *open_errno, struct dv_error *err)
{
	struct tree_reply r = { EIO, 1 };
	int sv[2], st, tree = -1;
	ssize_t n;
	pid_t pid;

	*open_errno = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return dv_err(err, errno, "socketpair");
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		close(sv[0]);
		tree_helper(sv[1], root, real);
	}
	close(sv[1]);
	n = dv_recv_fd(sv[0], &r, sizeof(r), &tree);
	close(sv[0]);
	dv_waitpid(pid, &st, &(struct dv_error){ 0 });
	if (n == (ssize_t)sizeof(r) && r.errnum == 0 && tree >= 0)
		return tree;
	if (tree >= 0)
		close(tree);
	if (n != (ssize_t)sizeof(r))
		return dv_err(err, EIO, "cannot clone the mount of '%s': its helper failed", real);
	if (r.stage == 0) {
		*open_errno = r.errnum;
		return dv_err(err, r.errnum, "cannot open '%s'", real);
	}
	return dv_err(err, r.errnum, "cannot clone the mount of '%s'", real);
}

int ctr_setup_binds(const struct ctr_spec *spec, int rootfd, int idmap_ns, struct dv_error *err)
{
	/* A build step's upper becomes a layer: no mount target may land
	 * there, and steps see only what `copy` brings, but for their caches
	 * (folders of the store, targets in the skeleton). */
	for (size_t i = 0; spec->build && i < spec->n_mounts; i++)
		if (!spec->mounts[i].skeleton || spec->mounts[i].host || spec->mounts[i].fill)
			return dv_err_plain(err, EINVAL,
					    "build containers take no volumes or mounts");
	for (size_t i = 0; i < spec->n_mounts; i++)
		if (bind_one(spec, rootfd, &spec->mounts[i], idmap_ns, err) < 0)
			return -1;
	return 0;
}
