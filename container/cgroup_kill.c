/*
 * container/cgroup_kill.c - empty an env's cgroups before a new init uses
 * them: a devenv killed between starting an init and recording it in
 * state.json leaves an init nobody knows of, on the same upper folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* SIGKILL each pid listed in dir/cgroup.procs; *left: how many there were. */
static int kill_listed(const char *dir, unsigned *left, struct dv_error *err)
{
	dv_autofree char *path = dv_xasprintf("%s/cgroup.procs", dir);
	dv_autofree char *text = NULL;
	size_t len;
	char *p, *end;

	*left = 0;
	if (dv_read_file_at(AT_FDCWD, path, &text, &len, err) < 0) {
		if (err->errnum == ENOENT) {
			memset(err, 0, sizeof(*err));
			return 0;
		}
		return -1;
	}
	for (p = text; *p; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 1) {
			kill((pid_t)pid, SIGKILL);
			(*left)++;
		}
	}
	return 0;
}

int ctr_cgroup_kill(const struct dv_strv *paths, struct dv_error *err)
{
	/* A frozen (v1) task takes SIGKILL only once thawed. */
	ctr_cgroup_freeze(paths, false, 0, &(struct dv_error){ 0 });
	for (size_t i = 0; i < paths->n; i++) {
		dv_autofree char *knob = dv_xasprintf("%s/cgroup.kill", paths->v[i]);
		dv_autoclose int fd = open(knob, O_WRONLY | O_CLOEXEC);
		unsigned left = 0;

		/* cgroup v2 kills the whole tree at once */
		if (fd >= 0 && write(fd, "1", 1) < 0 && errno != ENOENT)
			return dv_err(err, errno, "cannot write '%s'", knob);
		for (int tries = 0; tries < 100; tries++) {
			if (kill_listed(paths->v[i], &left, err) < 0)
				return -1;
			if (left == 0)
				break;
			poll(NULL, 0, 20);
		}
		if (left)
			return dv_err_plain(err, EBUSY, "processes in '%s' survive SIGKILL",
					    paths->v[i]);
	}
	return 0;
}
