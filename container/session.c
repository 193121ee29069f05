/*
 * container/session.c - a session's own view of the checkout and host mounts.
 *
 * The env's mount namespace maps the host user to itself on every host path
 * (user.c). A session running as other ids (root, `ssh --user 1`, the env's
 * user when its ids are not the host user's) gets a mount namespace of its
 * own in which the checkout and each host mount are clones mapping the
 * host user to the session's ids, and nothing else: what it creates there
 * belongs to the host user, and it can make nothing belong to another id.
 *
 * An idmapped mount cannot be idmapped again, so the clones are made from
 * the host's side, before the session enters the env (ctr_session_prepare);
 * the child attaches them after entering (ctr_session_attach), covering the
 * env's own, then binds the git dir read-only in them again (gitdir.c) and
 * re-attaches the volumes that they cover (a `node_modules` volume inside
 * the workdir stays a volume).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

void ctr_session_release(struct ctr_session *s)
{
	if (s->checkout >= 0)
		close(s->checkout);
	for (size_t i = 0; s->mnts && i < s->o->n_mounts; i++)
		if (s->mnts[i] >= 0)
			close(s->mnts[i]);
	free(s->mnts);
	*s = (struct ctr_session){ .checkout = -1 };
}


/* A detached clone of fd's mount tree, idmapped with ns. */
static int clone_idmapped(int fd, int ns, unsigned attrs, const char *what, struct dv_error *err)
{
	dv_autoclose int mnt =
		open_tree(fd, "",
			  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);

	if (mnt < 0)
		return dv_err(err, errno, "cannot clone the mount of '%s'", what);
	if (ctr_idmap_mount(mnt, ns, attrs | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID, err) < 0)
		return dv_err_prefix(err, "'%s'", what);
	return dv_steal_fd(&mnt);
}

int ctr_session_prepare(const struct ctr_owner *o, uid_t uid, gid_t gid, struct ctr_session *out,
			struct dv_error *err)
{
	struct ctr_idmap map = { o->host_uid, uid, o->host_gid, gid };
	dv_autoclose int procfd = -1;
	dv_autoclose int ns = -1;
	dv_autoclose int root = -1;

	*out = (struct ctr_session){ .checkout = -1, .o = o };
	/* The host user's own ids: the env's mount namespace is its view. */
	if (uid == o->host_uid && gid == o->host_gid)
		return 0;
	procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return dv_err(err, errno, "cannot open /proc");
	if ((ns = ctr_idmap_userns(procfd, &map, err)) < 0)
		return -1;
	root = dv_open_nosymlinks(o->checkout, O_PATH | O_DIRECTORY, 0);
	if (root < 0)
		return dv_err(err, errno, "cannot open the checkout '%s'", o->checkout);
	out->mnts = dv_xcalloc(o->n_mounts + 1, sizeof(*out->mnts));
	for (size_t i = 0; i < o->n_mounts; i++)
		out->mnts[i] = -1;
	out->checkout = clone_idmapped(root, ns, 0, o->checkout, err);
	if (out->checkout < 0)
		goto fail;
	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct ctr_mount_rec *m = &o->mounts[i];
		dv_autoclose int src = -1;

		if (m->volume)
			continue;
		/* As up opened it (dv_open_resolved): the path whose git dirs
		 * m->protect names, a symlink the env put on it since refused
		 * ('data -> .' would clone the checkout, .git unprotected). */
		src = dv_open_resolved(o->checkout, m->source, O_PATH);
		if (src < 0 && errno == ELOOP) {
			dv_err_plain(err, ELOOP,
				     "mount source '%s' now goes through a symlink (it had "
				     "none when the env started); nothing was mounted",
				     m->source);
			goto fail;
		}
		if (src < 0) {
			dv_err(err, errno, "cannot open mount source '%s'", m->source);
			goto fail;
		}
		out->mnts[i] = clone_idmapped(src, ns, m->readonly ? MOUNT_ATTR_RDONLY : 0,
					      m->source, err);
		if (out->mnts[i] < 0)
			goto fail;
	}
	out->active = true;
	return 0;
fail:
	ctr_session_release(out);
	return -1;
}

/* Is the volume i covered by the checkout's clone or a host mount's? */
static bool covered(const struct ctr_owner *o, size_t i)
{
	if (dv_path_below(o->mounts[i].target, o->workdir))
		return true;
	for (size_t j = 0; j < o->n_mounts; j++)
		if (j != i && !o->mounts[j].volume &&
		    dv_path_below(o->mounts[i].target, o->mounts[j].target))
			return true;
	return false;
}

static int protect(int mnt, const struct dv_strv *paths)
{
	struct dv_error err = { 0 };

	if (!paths || !paths->n)
		return 0;
	if (ctr_git_protect(mnt, (const char *const *)paths->v, paths->n, &err) < 0)
		return err.errnum ? err.errnum : EINVAL;
	return 0;
}

int ctr_session_attach(struct ctr_session *s)
{
	const struct ctr_owner *o = s->o;
	int e;

	if (!s->active)
		return 0;
	/* Private first, so that nothing we mount reaches the env's
	 * namespace, whatever its propagation. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return errno;
	/* Volumes our clones will cover, taken from under them first. */
	for (size_t i = 0; i < o->n_mounts; i++)
		if (o->mounts[i].volume && covered(o, i))
			s->mnts[i] = open_tree(AT_FDCWD, o->mounts[i].target,
					       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (move_mount(s->checkout, "", AT_FDCWD, o->workdir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return errno;
	if ((e = protect(s->checkout, o->git_protect)) != 0)
		return e;
	for (size_t i = 0; i < o->n_mounts; i++) {
		if (s->mnts[i] < 0)
			continue;
		if (move_mount(s->mnts[i], "", AT_FDCWD, o->mounts[i].target,
			       MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return errno;
		if (!o->mounts[i].volume && (e = protect(s->mnts[i], &o->mounts[i].protect)) != 0)
			return e;
	}
	return 0;
}
