/*
 * util/userns.c - the user namespace devenv runs in without root (userns.h).
 *
 * How the subid map is made (as util-linux `unshare --map-auto` does): two
 * children forked before the unshare stay in the initial namespace, wait
 * until we have unshared, and exec newuidmap and newgidmap on our pid. So
 * no wrapper process outlives the set-up, and signals, the terminal and
 * exit statuses stay ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/userns.h"
#include "util/banned.h"

/* The ids the env can use above root; a smaller range still works. */
#define SUBID_WANTED 65536UL

int dv_subid_find(const char *file, const char *name, unsigned long id, unsigned long *start,
		  unsigned long *count)
{
	dv_autoclose int fd = open(file, O_RDONLY | O_CLOEXEC);
	dv_autofree char *text = NULL;
	struct dv_error ignored = { 0 };
	char idbuf[24];
	size_t len;

	if (fd < 0 || dv_read_all(fd, &text, &len, &ignored) < 0)
		return -1;
	snprintf(idbuf, sizeof(idbuf), "%lu", id);
	for (char *line = text, *next; line && *line; line = next) {
		char *f[3], *end;
		unsigned long s, c;
		int n = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		for (char *p = line; n < 3; n++) {
			f[n] = p;
			p = strchr(p, ':');
			if (!p)
				break;
			*p++ = 0;
		}
		if (n != 2 || (strcmp(f[0], name ? name : "") && strcmp(f[0], idbuf)))
			continue;
		errno = 0;
		s = strtoul(f[1], &end, 10);
		if (errno || *end || end == f[1])
			continue;
		c = strtoul(f[2], &end, 10);
		if (errno || *end || end == f[2] || c == 0)
			continue;
		*start = s;
		*count = c;
		return 0;
	}
	return -1;
}

bool dv_userns_is_initial(void)
{
	char buf[128];
	dv_autoclose int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	unsigned long a, b, c;
	int used = 0;

	if (n <= 0)
		return true; /* no user namespaces in this kernel */
	buf[n] = 0;
	/* One line, the identity over every id. */
	return sscanf(buf, " %lu %lu %lu %n", &a, &b, &c, &used) == 3 && a == 0 && b == 0 &&
	       c == 4294967295UL && buf[used] == 0;
}

static int map_root(const char *file, unsigned long *out)
{
	char buf[128];
	dv_autoclose int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	unsigned long inside, outside, count;

	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (sscanf(buf, " %lu %lu %lu", &inside, &outside, &count) != 3 || inside != 0)
		return -1;
	*out = outside;
	return 0;
}

int dv_userns_root_ids(uid_t *uid, gid_t *gid)
{
	unsigned long u, g;

	if (dv_userns_is_initial() || map_root("/proc/self/uid_map", &u) < 0 ||
	    map_root("/proc/self/gid_map", &g) < 0)
		return -1;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

/* The setuid helper's absolute path in path[64], whatever PATH says. */
static bool find_helper(const char *name, char *path)
{
	static const char *const dirs[] = { "/usr/bin", "/bin", "/usr/sbin", "/sbin" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, 64, "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

struct subids {
	unsigned long uid_start, uid_count, gid_start, gid_count;
	char newuidmap[64], newgidmap[64];
};

static enum dv_userns_mode plan(uid_t uid, struct subids *ids, const char **why)
{
	struct passwd *pw = getpwuid(uid);
	const char *name = pw ? pw->pw_name : NULL;

	*why = NULL;
	if (dv_subid_find("/etc/subuid", name, uid, &ids->uid_start, &ids->uid_count) < 0 ||
	    dv_subid_find("/etc/subgid", name, uid, &ids->gid_start, &ids->gid_count) < 0) {
		*why = "no /etc/subuid and /etc/subgid range for this user";
		return DV_USERNS_SINGLE;
	}
	if (!find_helper("newuidmap", ids->newuidmap) || !find_helper("newgidmap", ids->newgidmap)) {
		*why = "newuidmap/newgidmap are not installed (Debian package uidmap)";
		return DV_USERNS_SINGLE;
	}
	if (ids->uid_count > SUBID_WANTED)
		ids->uid_count = SUBID_WANTED;
	if (ids->gid_count > SUBID_WANTED)
		ids->gid_count = SUBID_WANTED;
	return DV_USERNS_SUBID;
}

enum dv_userns_mode dv_userns_plan(uid_t uid, const char **why)
{
	struct subids ids;

	return plan(uid, &ids, why);
}

static int write_proc(const char *file, const char *text, struct dv_error *err)
{
	dv_autoclose int fd = open(file, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return dv_err(err, errno, "cannot write %s", file);
	return 0;
}

/* A child that stays outside: once told to go, it execs `tool` (newuidmap
 * or newgidmap) on `pid` with the map 0 -> id, 1.. -> the subid range. */
static pid_t spawn_mapper(const char *tool, pid_t pid, unsigned long id, unsigned long start,
			  unsigned long count, const int gop[2])
{
	pid_t child = fork();
	char p[16], i[24], s[24], c[24], go;

	if (child != 0)
		return child;
	close(gop[1]);
	if (read(gop[0], &go, 1) != 1)
		_exit(1); /* EOF: the unshare failed */
	snprintf(p, sizeof(p), "%d", (int)pid);
	snprintf(i, sizeof(i), "%lu", id);
	snprintf(s, sizeof(s), "%lu", start);
	snprintf(c, sizeof(c), "%lu", count);
	{
		char *argv[] = { (char *)tool, p, "0", i, "1", "1", s, c, NULL };

		execv(tool, argv);
	}
	fprintf(stderr, "devenv: cannot run %s: %s\n", tool, strerror(errno));
	_exit(127);
}

int dv_userns_enter(enum dv_userns_mode *mode, const char **why, struct dv_error *err)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	struct subids ids = { 0 };
	int gop[2], st, e = 0;
	pid_t kids[2] = { -1, -1 };
	bool failed = false;

	*mode = plan(uid, &ids, why);
	if (*mode == DV_USERNS_SINGLE) {
		char map[64];

		if (unshare(CLONE_NEWUSER) < 0)
			return dv_err(err, errno,
				      "cannot create a user namespace (is "
				      "kernel.unprivileged_userns_clone off?)");
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
		if (write_proc("/proc/self/setgroups", "deny", err) < 0 ||
		    write_proc("/proc/self/uid_map", map, err) < 0)
			return -1;
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
		return write_proc("/proc/self/gid_map", map, err);
	}
	/* Both helpers at once, started before the unshare so that they stay
	 * in the initial namespace; released by one byte each. */
	if (pipe2(gop, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	kids[0] = spawn_mapper(ids.newuidmap, getpid(), uid, ids.uid_start, ids.uid_count, gop);
	if (kids[0] >= 0)
		kids[1] = spawn_mapper(ids.newgidmap, getpid(), gid, ids.gid_start, ids.gid_count,
				       gop);
	close(gop[0]);
	if (kids[0] < 0 || kids[1] < 0)
		e = errno;
	else if (unshare(CLONE_NEWUSER) < 0)
		e = errno;
	else if (write(gop[1], "gg", 2) != 2)
		e = errno ? errno : EIO;
	close(gop[1]); /* EOF for a helper not released */
	for (int k = 0; k < 2; k++) {
		if (kids[k] < 0)
			continue;
		if (dv_waitpid(kids[k], &st, &(struct dv_error){ 0 }) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			failed = true;
	}
	if (e)
		return dv_err(err, e,
			      "cannot create a user namespace (is "
			      "kernel.unprivileged_userns_clone off?)");
	if (failed)
		return dv_err(err, 0,
			      "newuidmap/newgidmap could not map uid %u to 0 and %lu ids from "
			      "%lu (/etc/subuid, /etc/subgid); fix those ranges or remove them "
			      "to run with a single-id map",
			      (unsigned)uid, ids.uid_count, ids.uid_start);
	/* The host user's supplementary groups mean nothing in here. */
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return dv_err(err, errno, "setgroups");
	return 0;
}
