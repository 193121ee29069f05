/*
 * container/cgroup.c - one folder devenv/<name> per cgroup hierarchy.
 *
 * Works on pure cgroup v2 (/sys/fs/cgroup is cgroup2), on hybrid systems
 * (v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified) and on v1 alone.
 * Of the v1 hierarchies we use those with the controllers devenv needs
 * (cpu, cpuacct, memory, pids, freezer); a hierarchy mounted twice counts once.
 * Without root (in a user namespace) the folders are used only when every
 * hierarchy's devenv/ folder was delegated to the user (a cgroup2 without
 * cpu, memory or pids does not count); often none is: the caller warns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/userns.h"
#include "util/banned.h"

static bool has_controller(const char *opts)
{
	static const char *const wanted[] = { "cpu", "cpuacct", "memory", "pids", "freezer" };
	char buf[1024], *save = NULL, *tok;
	size_t i;

	snprintf(buf, sizeof(buf), "%s", opts);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
			if (!strcmp(tok, wanted[i]))
				return true;
	return false;
}

/* Best effort on v2: let the env's cgroup use the controllers the machine
 * gives (limits from `resources` need them); on hybrid systems there are none. */
static void enable_controllers(const char *dir)
{
	static const char *const wanted[] = { "+cpu", "+memory", "+pids" };
	char path[4096];
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (write(fd, wanted[i], strlen(wanted[i])) < 0) {
			/* controller not available here: fine */
		}
	close(fd);
}

int ctr_cgroup_create(const char *name, const struct ctr_limits *lim, struct dv_strv *out,
		      struct dv_error *err)
{
	return ctr_cgroup_create_in("/proc/self/mountinfo", name, lim, out, err);
}

/* A cgroup2 hierarchy with a controller devenv uses (this machine's holds
 * only hugetlb: without root, joining it would need its root's
 * cgroup.procs, for nothing). */
static bool v2_has_controller(const char *mnt)
{
	char path[4096], buf[512];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, "cpu") || !strcmp(tok, "memory") || !strcmp(tok, "pids"))
			return true;
	return false;
}

/* The hierarchies to use: mount points, and whether each is cgroup2. */
static int hierarchies(const char *mountinfo, bool rootless, struct dv_strv *mnts,
		       struct dv_strv *kinds, struct dv_error *err)
{
	dv_autofclose FILE *f = fopen(mountinfo, "re");
	struct dv_strv devs = { 0 };
	char line[4096];

	if (!f)
		return dv_err(err, errno, "cannot read '%s'", mountinfo);
	while (fgets(line, sizeof(line), f)) {
		char dev[32], mnt[2048], fstype[64], opts[1024];
		char *sep = strstr(line, " - ");
		bool seen = false;

		if (!sep || sscanf(line, "%*s %*s %31s %*s %2047s", dev, mnt) != 2 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (strcmp(fstype, "cgroup2") && !(!strcmp(fstype, "cgroup") && has_controller(opts)))
			continue;
		for (size_t i = 0; i < devs.n; i++)
			seen |= !strcmp(devs.v[i], dev);
		if (seen)
			continue;
		dv_strv_push(&devs, dev);
		dv_mountinfo_unescape(mnt);
		if (rootless && !strcmp(fstype, "cgroup2") && !v2_has_controller(mnt))
			continue;
		dv_strv_push(mnts, mnt);
		dv_strv_push(kinds, fstype);
	}
	dv_strv_release(&devs);
	return 0;
}

int ctr_cgroup_create_in(const char *mountinfo, const char *name, const struct ctr_limits *lim,
			 struct dv_strv *out, struct dv_error *err)
{
	struct dv_strv mnts = { 0 }, kinds = { 0 }, made = { 0 };
	char dir[4096];
	size_t i;
	bool rootless = !dv_userns_is_initial();

	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return dv_err(err, EINVAL, "invalid cgroup name '%s'", name);
	if (hierarchies(mountinfo, rootless, &mnts, &kinds, err) < 0)
		return -1;
	/* Without root: all of them delegated to us (each devenv/ folder made
	 * ours by an admin), or none used at all, so that limits are either
	 * enforced as with root or not (the caller warns). */
	for (i = 0; rootless && i < mnts.n; i++) {
		snprintf(dir, sizeof(dir), "%s/devenv", mnts.v[i]);
		if (access(dir, W_OK | X_OK) < 0) {
			dv_strv_release(&mnts);
			dv_strv_release(&kinds);
			return 0;
		}
	}
	for (i = 0; i < mnts.n; i++) {
		snprintf(dir, sizeof(dir), "%s/devenv", mnts.v[i]);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			dv_err(err, errno, "cannot create cgroup '%s'", dir);
			goto fail;
		}
		if (!strcmp(kinds.v[i], "cgroup2")) {
			enable_controllers(mnts.v[i]);
			enable_controllers(dir);
		}
		snprintf(dir, sizeof(dir), "%s/devenv/%s", mnts.v[i], name);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			dv_err(err, errno, "cannot create cgroup '%s'", dir);
			goto fail;
		}
		dv_strv_push(&made, dir);
	}
	dv_strv_release(&mnts);
	dv_strv_release(&kinds);
	if (lim && ctr_cgroup_set_limits(&made, lim, err) < 0)
		goto fail;
	for (i = 0; i < made.n; i++)
		dv_strv_push_owned(out, dv_steal_ptr(&made.v[i]));
	dv_strv_release(&made);
	return 0;
fail:
	ctr_cgroup_remove(&made, &(struct dv_error){ 0 });
	dv_strv_release(&made);
	dv_strv_release(&mnts);
	dv_strv_release(&kinds);
	return -1;
}

int ctr_cgroup_list(const char *prefix, struct dv_strv *out, struct dv_error *err)
{
	struct dv_strv mnts = { 0 }, kinds = { 0 };
	size_t plen = strlen(prefix);

	if (hierarchies("/proc/self/mountinfo", !dv_userns_is_initial(), &mnts, &kinds, err) < 0)
		return -1;
	for (size_t i = 0; i < mnts.n; i++) {
		char dir[4096];
		DIR *d;
		struct dirent *de;

		snprintf(dir, sizeof(dir), "%s/devenv", mnts.v[i]);
		d = opendir(dir);
		while (d && (de = readdir(d)))
			if (de->d_type == DT_DIR && !strncmp(de->d_name, prefix, plen) &&
			    strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				dv_strv_push_owned(out, dv_xasprintf("%s/%s", dir, de->d_name));
		if (d)
			closedir(d);
	}
	dv_strv_release(&mnts);
	dv_strv_release(&kinds);
	return 0;
}

int ctr_cgroup_remove(const struct dv_strv *paths, struct dv_error *err)
{
	int ret = 0;
	size_t i;

	for (i = 0; paths && i < paths->n; i++) {
		int tries = 0;

		/* A cgroup stays busy for a moment after its last process died. */
		while (rmdir(paths->v[i]) < 0) {
			if (errno == ENOENT)
				break;
			if (errno != EBUSY || ++tries > 100) {
				ret = dv_err(err, errno, "cannot remove cgroup '%s'", paths->v[i]);
				break;
			}
			nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
		}
	}
	return ret;
}

int ctr_cgroup_join(const struct dv_strv *cgroups, pid_t pid, struct dv_error *err)
{
	char path[4096], num[32];
	size_t i;
	int len = snprintf(num, sizeof(num), "%d", (int)pid);

	for (i = 0; cgroups && i < cgroups->n; i++) {
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cgroups->v[i]);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return dv_err(err, errno, "cannot join cgroup '%s'", cgroups->v[i]);
		n = write(fd, num, (size_t)len);
		close(fd);
		if (n != len)
			return dv_err(err, n < 0 ? errno : EIO, "cannot join cgroup '%s'",
				      cgroups->v[i]);
	}
	return 0;
}

bool ctr_cgroup_frozen(const struct dv_strv *cgroups)
{
	static const char *const files[] = { "freezer.state", "cgroup.freeze" };
	char path[4096], buf[16];
	size_t i, k;

	for (i = 0; cgroups && i < cgroups->n; i++) {
		for (k = 0; k < 2; k++) {
			ssize_t n;
			int fd;

			snprintf(path, sizeof(path), "%s/%s", cgroups->v[i], files[k]);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0 && (buf[0] == '1' || !strncmp(buf, "FROZEN", 6) ||
				      !strncmp(buf, "FREEZING", 8)))
				return true;
			break;
		}
	}
	return false;
}
