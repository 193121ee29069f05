/*
 * provision/hostpath.c - host paths an Envfile names (`copy` and `mounts`
 * sources, a seccomp profile), opened at the moment of use.
 *
 * The Envfile was read and checked earlier (envfile/: each such path's
 * real path, and that it stays inside the checkout where it must). Between
 * then and now anything in the checkout may have changed: a process of the
 * env can swap a folder for a symlink to '/' and back as fast as it likes.
 * So nothing is looked up by the path string checked then: the real path
 * resolved at load is opened (dv_open_resolved), the kernel walking it
 * component by component, from the checkout's fd with openat2(
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) inside the checkout, else from
 * '/' with RESOLVE_NO_SYMLINKS. That real path has no symlink, so a symlink
 * on it now was put there since, and fails with ELOOP: one that leads out
 * (to '/'), and one that stays inside too, since what was checked is the
 * path, not where a link now leads ('data -> .' would mount the checkout,
 * whose .git a mount of 'data' was not found to cover). What is then
 * hashed, copied or mounted is the fd this returns, never the path again.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int prov_host_fail(const struct env_spec *spec, const struct prov_hostpath *p, int e,
		   struct dv_error *err)
{
	char why[PATH_MAX + 128];
	int status = 1; /* the Envfile was fine when it was read */

	if (e == EXDEV) {
		snprintf(why, sizeof(why), "now leads outside the checkout; nothing was %s",
			 p->done);
	} else if (e == ELOOP) {
		snprintf(why, sizeof(why),
			 "now goes through a symlink ('%s' had none when the "
			 "Envfile was read); nothing was %s",
			 p->real, p->done);
	} else if (e == ENOENT || e == ENOTDIR) {
		/* as when the Envfile is read */
		snprintf(why, sizeof(why), "no longer exists; create it, or %s", p->fix);
		status = 2;
	} else if (e == EAGAIN) {
		snprintf(why, sizeof(why),
			 "kept being renamed while it was opened (something is "
			 "racing devenv); nothing was %s",
			 p->done);
	} else if (e == EINVAL || e == EISDIR) {
		snprintf(why, sizeof(why), "is not %s; nothing was %s",
			 strcmp(p->done, "mounted") ? "a regular file"
						    : "a folder or a regular file",
			 p->done);
	} else {
		snprintf(why, sizeof(why), "cannot be opened: %s; nothing was %s", strerror(e),
			 p->done);
	}
	if (spec->display && p->line)
		dv_err_at(err, spec->display, p->line, p->col, "%s '%s' %s", p->what, p->written,
			  why);
	else
		dv_err_plain(err, e, "%s '%s' %s", p->what, p->written, why);
	err->errnum = e;
	err->status = status;
	return -1;
}

int prov_host_open(const struct env_spec *spec, const struct prov_hostpath *p, int flags,
		   struct dv_error *err)
{
	int fd = dv_open_resolved(spec->checkout, p->real, flags);

	if (fd < 0)
		return prov_host_fail(spec, p, errno, err);
	return fd;
}

int prov_host_read(const struct env_spec *spec, const struct prov_hostpath *p, char **out,
		   size_t *len, struct dv_error *err)
{
	dv_autoclose int pfd = prov_host_open(spec, p, O_PATH, err);
	dv_autoclose int fd = -1;

	if (pfd < 0)
		return -1;
	fd = dv_reopen_regular(pfd, NULL);
	if (fd < 0)
		return prov_host_fail(spec, p, errno, err);
	if (dv_read_all(fd, out, len, err) < 0)
		return dv_err_prefix(err, "%s '%s'", p->what, p->written);
	return 0;
}

int prov_spec_read_inputs(struct env_spec *spec, struct dv_error *err)
{
	struct env_security *sec = &spec->security;
	struct prov_hostpath hp = { "seccomp profile",          sec->seccomp,     sec->seccomp_abs,
				    sec->seccomp_line,          sec->seccomp_col, "read",
				    "name another in 'seccomp'" };

	/* Read once, here: were the trust prompt, the spec digest and the
	 * compiler to read it each for itself, a running env could rewrite it
	 * between the yes and the use. */
	if (!sec->seccomp_abs || sec->seccomp_text)
		return 0;
	return prov_host_read(spec, &hp, &sec->seccomp_text, &sec->seccomp_len, err);
}
