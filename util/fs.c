/* util/fs.c - see fs.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"
#include "str.h"
#include "banned.h"

int dv_read_all(int fd, char **out, size_t *len, struct dv_error *err)
{
	struct dv_buf b = { 0 };
	char chunk[16384];
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			dv_buf_release(&b);
			return dv_err(err, errno, "read");
		}
		if (n == 0)
			break;
		dv_buf_add(&b, chunk, (size_t)n);
	}
	*len = b.len;
	*out = dv_buf_steal(&b);
	return 0;
}

int dv_read_file_at(int dirfd, const char *path, char **out, size_t *len, struct dv_error *err)
{
	dv_autoclose int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", path);
	if (dv_read_all(fd, out, len, err) < 0)
		return dv_err_prefix(err, "reading '%s'", path);
	return 0;
}

int dv_write_full(int fd, const void *data, size_t len, struct dv_error *err)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dv_err(err, errno, "write");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int dv_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 struct dv_error *err)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(name, '/');
	dv_autoclose int fd = -1;
	dv_autoclose int parent = -1;

	if (slash)
		snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmp.%d", (int)(slash - name), name, slash + 1,
			 (int)getpid());
	else
		snprintf(tmp, sizeof(tmp), ".%s.tmp.%d", name, (int)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return dv_err(err, errno, "cannot create '%s'", tmp);
	if (dv_write_full(fd, data, len, err) < 0 || fsync(fd) < 0) {
		if (!dv_err_isset(err))
			dv_err(err, errno, "fsync '%s'", tmp);
		unlinkat(dirfd, tmp, 0);
		return dv_err_prefix(err, "writing '%s'", name);
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = errno;

		unlinkat(dirfd, tmp, 0);
		return dv_err(err, e, "cannot rename '%s' to '%s'", tmp, name);
	}
	/* The rename is durable only once the folder itself is synced. */
	if (slash) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
		parent = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		parent = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (parent >= 0)
		fsync(parent);
	return 0;
}

int dv_renameat(int olddirfd, const char *oldname, int newdirfd, const char *newname,
		struct dv_error *err)
{
	if (renameat(olddirfd, oldname, newdirfd, newname) < 0)
		return dv_err(err, errno, "cannot rename '%s' to '%s'", oldname, newname);
	return 0;
}

int dv_mkdir_p(const char *path, mode_t mode, struct dv_error *err)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		return dv_err(err, ENAMETOOLONG, "'%s'", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		buf[i] = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return dv_err(err, errno, "cannot create folder '%s'", buf);
		buf[i] = i < n ? '/' : 0;
	}
	return 0;
}

int dv_mkdirat_ok(int dirfd, const char *name, mode_t mode, struct dv_error *err)
{
	struct stat st;

	if (mkdirat(dirfd, name, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return dv_err(err, errno, "cannot create folder '%s'", name);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot stat '%s'", name);
	if (!S_ISDIR(st.st_mode))
		return dv_err(err, ENOTDIR, "'%s' exists and is not a folder", name);
	return 0;
}

DIR *dv_opendir_fd(int fd)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;

	if (!d && dup >= 0) {
		int e = errno;

		close(dup);
		errno = e;
	}
	if (d)
		rewinddir(d);
	return d;
}

int dv_openat2(int dirfd, const char *path, int flags, mode_t mode, unsigned long long resolve)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = resolve,
	};
	int fd, tries = 0;

	/* EAGAIN: a rename somewhere in the tree raced the lookup; the kernel
	 * asks us to try again rather than risk a wrong answer. */
	do
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN && ++tries < 16);
	return fd;
}

int dv_openat_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	return dv_openat2(dirfd, *path ? path : ".", flags, mode,
			  RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
}

int dv_open_nosymlinks(const char *abs_path, int flags, mode_t mode)
{
	return dv_openat2(AT_FDCWD, abs_path, flags, mode,
			  RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

const char *dv_path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/')
		return path[0] == '/' ? path + 1 : NULL;
	if (strncmp(path, dir, n) != 0 || (path[n] != '\0' && path[n] != '/'))
		return NULL;
	return path[n] ? path + n + 1 : "";
}

int dv_open_resolved(const char *root, const char *real, int flags)
{
	const char *rel = root ? dv_path_below(real, root) : NULL;
	dv_autoclose int top = -1;

	if (!rel)
		return dv_open_nosymlinks(real, flags, 0);
	/* root is the developer's folder, not the env's (inside an env it is
	 * a mount point): its real path, resolved earlier, has no symlink.
	 * Nor has real: a symlink below root now is one an env's process put
	 * there, and following it, even inside, would open another folder than
	 * the one checked ('data -> .' is the checkout, its .git included). */
	top = dv_open_nosymlinks(root, O_PATH | O_DIRECTORY, 0);
	if (top < 0)
		return -1;
	return dv_openat2(top, *rel ? rel : ".", flags, 0,
			  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

int dv_reopen_regular(int pathfd, struct stat *st)
{
	char self[64];
	struct stat own;

	if (!st)
		st = &own;
	if (fstat(pathfd, st) < 0)
		return -1;
	if (!S_ISREG(st->st_mode)) {
		errno = S_ISLNK(st->st_mode) ? ELOOP : S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pathfd);
	return open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

int dv_open_regular_at(int dirfd, const char *name, struct stat *st)
{
	dv_autoclose int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -1;
	return dv_reopen_regular(fd, st);
}

int dv_open_dir_at(int dirfd, const char *path, struct dv_error *err)
{
	char buf[PATH_MAX];
	char *save = NULL, *comp;
	int fd;

	if (strlen(path) >= sizeof(buf))
		return dv_err(err, ENAMETOOLONG, "'%s'", path);
	memcpy(buf, path, strlen(path) + 1);
	fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (path[0] == '/') {
		close(fd);
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", path);
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;

		close(fd);
		if (next < 0)
			return dv_err(err, e, "cannot open folder '%s'", path);
		fd = next;
	}
	return fd;
}

/* Open a folder below dirfd for removal. The kernel refuses to cross into
 * another mount (RESOLVE_NO_XDEV): a bind mount of the same filesystem has
 * the same st_dev, so comparing devices alone would walk into a bind-mounted
 * checkout and empty it. */
static int open_dir_same_mount(int dirfd, const char *name, const char *path, struct dv_error *err)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS) {
		/* Older kernels: compare mount ids instead. */
		struct statx a, b;

		fd = openat(dirfd, name, how.flags);
		if (fd >= 0 && (statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &a) < 0 ||
				statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &b) < 0 ||
				a.stx_mnt_id != b.stx_mnt_id)) {
			close(fd);
			fd = -1;
			errno = EXDEV;
		}
	}
	if (fd < 0 && errno == EXDEV)
		return dv_err_plain(err, EBUSY, "'%s' is a mount point; unmount it first", path);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", path);
	return fd;
}

/* Remove everything inside the open folder fd. */
static int rm_contents(int fd, const char *where, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(fd);
	struct dirent *de;

	if (!d)
		return dv_err(err, errno, "cannot read folder '%s'", where);
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		char path[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", where, de->d_name);
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return dv_err(err, errno, "cannot stat '%s'", path);
		}
		if (S_ISDIR(st.st_mode)) {
			dv_autoclose int sub = open_dir_same_mount(fd, de->d_name, path, err);

			if (sub < 0)
				return -1;
			if (rm_contents(sub, path, err) < 0)
				return -1;
			if (unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
				return dv_err(err, errno, "cannot remove '%s'", path);
		} else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
			return dv_err(err, errno, "cannot remove '%s'", path);
		}
	}
	if (errno)
		return dv_err(err, errno, "cannot read folder '%s'", where);
	return 0;
}

void dv_mountinfo_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
}

int dv_mount_under(const char *path, char *out, size_t outlen)
{
	dv_autofclose FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mnt[PATH_MAX];
	size_t n = strlen(path);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mount-point ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		dv_mountinfo_unescape(mnt);
		if (strncmp(mnt, path, n) == 0 && (mnt[n] == '/' || mnt[n] == 0)) {
			snprintf(out, outlen, "%s", mnt);
			return 1;
		}
	}
	return 0;
}

int dv_rm_tree_at(int dirfd, const char *name, struct dv_error *err)
{
	dv_autoclose int fd = -1;
	struct stat st;
	char self[64], real[PATH_MAX], busy[PATH_MAX];
	ssize_t n;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return dv_err(err, errno, "cannot stat '%s'", name);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return dv_err(err, errno, "cannot remove '%s'", name);
		return 0;
	}
	fd = open_dir_same_mount(dirfd, name, name, err);
	if (fd < 0)
		return -1;
	/* Refuse before removing anything when a mount sits anywhere below. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	n = readlink(self, real, sizeof(real) - 1);
	if (n > 0) {
		real[n] = 0;
		if (dv_mount_under(real, busy, sizeof(busy)) == 1)
			return dv_err_plain(err, EBUSY, "'%s' is a mount point; unmount it first",
					    busy);
	}
	if (rm_contents(fd, name, err) < 0)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return dv_err(err, errno, "cannot remove '%s'", name);
	return 0;
}

static unsigned long long du_fd(int fd)
{
	unsigned long long total = 0;
	struct dirent *de;
	DIR *d = dv_opendir_fd(fd);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		total += (unsigned long long)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(fd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				total += du_fd(sub);
				close(sub);
			}
		}
	}
	closedir(d);
	return total;
}

unsigned long long dv_du_at(int dirfd, const char *name)
{
	dv_autoclose int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? 0 : du_fd(fd);
}

int dv_waitpid(pid_t pid, int *status, struct dv_error *err)
{
	for (;;) {
		if (waitpid(pid, status, 0) >= 0)
			return 0;
		if (errno != EINTR)
			return dv_err(err, errno, "waitpid");
	}
}

int dv_run(char *const argv[], bool quiet, int *exit_code, struct dv_error *err)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return dv_err(err, errno, "fork");
	if (pid == 0) {
		if (quiet) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (null >= 0) {
				dup2(null, 1);
				dup2(null, 2);
			}
		}
		/* Only 0-2 go to the program: an fd our caller left open is not
		 * its business, and mmdebstrap picks the lowest free fd for the
		 * shell snippets it runs (`cat >&11`), which dash refuses past
		 * 9 once 3-9 are taken (a bats run, a make job server). */
		syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
		execvp(argv[0], argv);
		fprintf(stderr, "devenv: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (dv_waitpid(pid, &status, err) < 0)
		return -1;
	*exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

/* The pid /proc/locks gives for a flock on the file st names: who took
 * it, which may have exited since (a child it forked may hold it now). */
static pid_t lock_taker(const struct stat *st)
{
	FILE *f = fopen("/proc/locks", "re");
	char line[256];
	pid_t found = 0;

	while (f && !found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long ino;
		int pid;

		if (sscanf(line, "%*d: FLOCK %*s %*s %d %x:%x:%llu", &pid, &maj, &min, &ino) == 4 &&
		    ino == (unsigned long long)st->st_ino && maj == major(st->st_dev) &&
		    min == minor(st->st_dev) && pid > 0)
			found = (pid_t)pid;
	}
	if (f)
		fclose(f);
	return found;
}

/* A process other than us with an fd open on the file st names, alive:
 * its pid and its command line (NULs as spaces, cut) in cmd; 0 when we
 * can see none. Without root, from our user namespace, no /proc/PID/fd of
 * the host's can be read: then the pid that took the lock, when alive. */
static pid_t lock_holder(const struct stat *st, char *cmd, size_t cmd_size)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	pid_t self = getpid(), found = 0;

	if (!proc)
		return 0;
	while (!found && (de = readdir(proc))) {
		char path[64];
		DIR *fds;
		struct dirent *fe;
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			struct stat fst;

			if (fe->d_name[0] == '.' || fstatat(dirfd(fds), fe->d_name, &fst, 0) < 0)
				continue;
			if (fst.st_dev == st->st_dev && fst.st_ino == st->st_ino) {
				found = pid;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	if (!found)
		found = lock_taker(st);
	cmd[0] = 0;
	if (found) {
		char path[64];
		int fd;
		ssize_t n = 0;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)found);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, cmd, cmd_size - 1);
			close(fd);
		}
		if (n <= 0) /* it exited meanwhile */
			return 0;
		while (n > 0 && cmd[n - 1] == 0)
			n--;
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)cmd[i] < ' ' || cmd[i] == 0x7f)
				cmd[i] = ' ';
		cmd[n] = 0;
	}
	return found;
}

/* Is fd still the file at dirfd/name? A destroy unlinks an env's lock
 * while it holds it: who got it after that holds a lock on nothing. */
static bool lock_current(int dirfd, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int dv_lock_at(int dirfd, const char *name, bool exclusive, const char *what, struct dv_error *err)
{
	int op = exclusive ? LOCK_EX : LOCK_SH;
	bool said = false;

	for (;;) {
		dv_autoclose int fd =
			openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			return dv_err(err, errno, "cannot open lock '%s'", name);
		if (flock(fd, op | LOCK_NB) < 0) {
			struct stat st;
			char cmd[128];
			pid_t holder;

			if (errno != EWOULDBLOCK)
				return dv_err(err, errno, "cannot lock '%s'", name);
			/* Who holds it now, alive: never a pid written down by a
			 * process that may have died since. */
			if (!said) {
				holder = fstat(fd, &st) == 0 ? lock_holder(&st, cmd, sizeof(cmd))
							     : 0;
				if (holder)
					fprintf(stderr,
						"devenv: waiting for %s (held by pid %d: %s)\n",
						what, (int)holder, cmd);
				else
					fprintf(stderr,
						"devenv: waiting for %s (held by another process)\n",
						what);
				said = true;
			}
			while (flock(fd, op) < 0)
				if (errno != EINTR)
					return dv_err(err, errno, "cannot lock '%s'", name);
		}
		if (!lock_current(dirfd, name, fd))
			continue;
		if (exclusive) {
			char pid[32];
			int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());

			if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
				/* only a hint for a person reading it */
			}
		}
		return dv_steal_fd(&fd);
	}
}

unsigned long long dv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int dv_send_fd(int sock, const void *data, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		u.h.cmsg_level = SOL_SOCKET;
		u.h.cmsg_type = SCM_RIGHTS;
		u.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&u.h), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

ssize_t dv_recv_fd(int sock, void *data, size_t len, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { data, len };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}
