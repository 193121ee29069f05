/*
 * container/stop.c - is the env's init alive, and stopping it.
 *
 * A pid alone names a process only until it is reused. The init is known
 * by its pid and its start time; every signal goes through a pidfd opened
 * before the start time is checked, so it can only reach that process.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/fs.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

int ctr_start_time(pid_t pid, unsigned long long *out)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno = (errno == ENOENT ? ESRCH : errno), -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return errno = ESRCH, -1;
	buf[n] = 0;
	/* comm (field 2) may hold spaces and parentheses: start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || !p[1] || !p[2])
		return errno = EIO, -1;
	p++;
	/* A zombie has exited: no namespace is left to enter or stop. */
	if (p[1] == 'Z' || p[1] == 'X')
		return errno = ESRCH, -1;
	for (field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return errno = EIO, -1;
	*out = strtoull(p + 1, NULL, 10);
	return 0;
}

int ctr_pidfd_checked(const struct ctr_init *init, struct dv_error *err)
{
	unsigned long long t;
	int fd;

	if (init->pid <= 0)
		return dv_err(err, 0, "env is not running"), err->errnum = ESRCH, -1;
	fd = pidfd_open(init->pid, 0);
	if (fd < 0 && errno != ESRCH)
		return dv_err(err, errno, "pidfd_open");
	/* Checked after opening the pidfd: a match now means the pidfd holds
	 * the init itself, not a process that later took its pid. */
	if (fd < 0 || ctr_start_time(init->pid, &t) < 0 || t != init->start_time) {
		if (fd >= 0)
			close(fd);
		dv_err(err, 0, "env is not running");
		err->errnum = ESRCH;
		return -1;
	}
	return fd;
}

/* Wait up to ms for the process behind pidfd to exit; true when it did. */
static bool wait_exit(int pidfd, int ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		siginfo_t si;

		/* Reap it if it is our own child (ctr_start in this process). */
		waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG);
		return true;
	}
	return false;
}

bool ctr_exited(const struct ctr_init *init, int ms)
{
	struct dv_error gone = { 0 };
	dv_autoclose int fd = ctr_pidfd_checked(init, &gone);

	if (fd < 0)
		return gone.errnum == ESRCH;
	return wait_exit(fd, ms);
}

bool ctr_pidfd_exited(int pidfd, int ms)
{
	return wait_exit(pidfd, ms);
}

int ctr_stop(const struct ctr_init *init, unsigned timeout_s, struct dv_error *err)
{
	struct dv_error gone = { 0 };
	dv_autoclose int fd = ctr_pidfd_checked(init, &gone);

	if (fd < 0)
		return gone.errnum == ESRCH ? 0 : (*err = gone, -1);
	if (pidfd_send_signal(fd, SIGTERM, NULL, 0) < 0 && errno != ESRCH)
		return dv_err(err, errno, "cannot signal the env's init");
	if (wait_exit(fd, (int)(timeout_s > 3600 ? 3600000 : timeout_s * 1000)))
		return 0;
	if (pidfd_send_signal(fd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		return dv_err(err, errno, "cannot kill the env's init");
	/* A frozen (cgroup v1) init cannot die until it is thawed. */
	if (!wait_exit(fd, 10000))
		return dv_err(err, ETIMEDOUT, "the env's init (pid %d) did not exit after SIGKILL",
			      (int)init->pid);
	return 0;
}

/* Is the init's freezer cgroup frozen? Reads /proc/PID/cgroup and finds the
 * freezer (v1) or unified (v2) mount in our mountinfo. */
static bool frozen(pid_t pid)
{
	char path[4096], line[4096], v1[1024] = "", v2[1024] = "";
	bool is_frozen = false;
	dv_autofclose FILE *f = NULL;
	dv_autofclose FILE *mi = NULL;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;

		if (!b)
			continue;
		b[strcspn(b, "\n")] = 0;
		*b = 0;
		if (!strcmp(a + 1, "freezer"))
			snprintf(v1, sizeof(v1), "%s", b + 1);
		else if (!a[1] && !strncmp(line, "0:", 2))
			snprintf(v2, sizeof(v2), "%s", b + 1);
	}
	mi = fopen("/proc/self/mountinfo", "re");
	while (mi && fgets(line, sizeof(line), mi)) {
		char *sep = strstr(line, " - "), mnt[1024], fstype[64], opts[1024];
		char state[32] = "";
		ssize_t n;
		int fd;

		if (!sep || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (!strcmp(fstype, "cgroup") && v1[0] && strstr(opts, "freezer"))
			snprintf(path, sizeof(path), "%s%s/freezer.state", mnt, v1);
		else if (!strcmp(fstype, "cgroup2") && v2[0])
			snprintf(path, sizeof(path), "%s%s/cgroup.events", mnt, v2);
		else
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, state, sizeof(state) - 1);
		close(fd);
		if (n > 0) {
			state[n] = 0;
			if (!strncmp(state, "FROZEN", 6) || strstr(state, "frozen 1"))
				is_frozen = true;
		}
	}
	return is_frozen;
}

enum ctr_status ctr_probe(const struct ctr_init *init)
{
	unsigned long long t;

	if (init->pid <= 0 || ctr_start_time(init->pid, &t) < 0 || t != init->start_time)
		return CTR_STOPPED;
	return frozen(init->pid) ? CTR_FROZEN : CTR_RUNNING;
}

int ctr_stop_all(const struct ctr_init *inits, size_t n, unsigned timeout_s, struct dv_error *err)
{
	dv_autofree int *fds = dv_xcalloc(n + 1, sizeof(*fds));
	unsigned long long t0;
	int ret = 0;

	/* All at once, so that n services take one timeout, not n. */
	for (size_t i = 0; i < n; i++) {
		struct dv_error gone = { 0 };

		fds[i] = ctr_pidfd_checked(&inits[i], &gone);
		if (fds[i] < 0 && gone.errnum != ESRCH && ret == 0)
			ret = (*err = gone, -1);
		if (fds[i] >= 0 && pidfd_send_signal(fds[i], SIGTERM, NULL, 0) < 0 &&
		    errno != ESRCH && ret == 0)
			ret = dv_err(err, errno, "cannot signal pid %d", (int)inits[i].pid);
	}
	t0 = dv_now_ns();
	for (size_t i = 0; i < n; i++) {
		long long left;

		if (fds[i] < 0)
			continue;
		left = (long long)(timeout_s > 3600 ? 3600 : timeout_s) * 1000 -
		       (long long)((dv_now_ns() - t0) / 1000000);
		if (!wait_exit(fds[i], left > 0 ? (int)left : 0)) {
			pidfd_send_signal(fds[i], SIGKILL, NULL, 0);
			if (!wait_exit(fds[i], 10000) && ret == 0)
				ret = dv_err(err, ETIMEDOUT, "pid %d did not exit after SIGKILL",
					     (int)inits[i].pid);
		}
		close(fds[i]);
	}
	return ret;
}

/* Does the process's mount table have an overlay whose folders are at or
 * below dir (upperdir=DIR/..., lowerdir=...:DIR/...)? */
static bool mounts_below(pid_t pid, const char *dir)
{
	char path[64], line[8192];
	dv_autofree char *eq = dv_xasprintf("=%s/", dir);
	dv_autofree char *colon = dv_xasprintf(":%s/", dir);
	dv_autofclose FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	if (!(f = fopen(path, "re")))
		return false;
	while (fgets(line, sizeof(line), f))
		/* An overlay's upperdir=DIR/...; a keep-id root's source
		 * devenv-keepid:DIR/... (container/keepid.c). */
		if ((strstr(line, " - overlay ") || strstr(line, " - fuse devenv-keepid:")) &&
		    (strstr(line, eq) || strstr(line, colon)))
			return true;
	return false;
}

/* One pass over /proc: SIGKILL (through a pidfd) each process, outside our
 * mount namespace, whose mounts are below dir; wait for them to exit. */
static int kill_pass(const char *dir, const struct stat *self, unsigned *killed,
		     struct dv_error *err)
{
	dv_autoclosedir DIR *d = opendir("/proc");
	struct dirent *de;
	int pidfds[256];
	size_t n = 0;

	if (!d)
		return dv_err(err, errno, "cannot read '/proc'");
	while ((de = readdir(d)) && n < sizeof(pidfds) / sizeof(pidfds[0])) {
		char path[64];
		struct stat other;
		pid_t pid = (pid_t)atoi(de->d_name);
		int pfd;

		if (pid <= 1 || pid == getpid())
			continue;
		/* The pidfd first: a pid reused after the check cannot be hit. */
		pfd = pidfd_open(pid, 0);
		if (pfd < 0)
			continue;
		/* Not ours: our own namespace may see an env's mount only if
		 * one leaked. (An env's init is not dumpable: without root its
		 * ns link cannot be looked at, its mountinfo can.) */
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		if ((stat(path, &other) == 0 && other.st_ino == self->st_ino &&
		     other.st_dev == self->st_dev) ||
		    !mounts_below(pid, dir) || pidfd_send_signal(pfd, SIGKILL, NULL, 0) < 0) {
			close(pfd);
			continue;
		}
		pidfds[n++] = pfd;
	}
	for (size_t i = 0; i < n; i++) {
		wait_exit(pidfds[i], 5000);
		close(pidfds[i]);
	}
	*killed += (unsigned)n;
	return (int)n;
}

int ctr_kill_mounting(const char *dir, unsigned *killed, struct dv_error *err)
{
	struct stat self;
	int found;

	*killed = 0;
	if (stat("/proc/self/ns/mnt", &self) < 0)
		return dv_err(err, errno, "cannot read '/proc/self/ns/mnt'");
	/* A killed init takes its pid namespace along: a second pass finds
	 * what a full first one could not hold. */
	for (int pass = 0; pass < 8; pass++)
		if ((found = kill_pass(dir, &self, killed, err)) <= 0)
			return found;
	return 0;
}
