/*
 * container/keepid.c - a rootless env with `user:` in which the host user
 * is that user's uid (podman's --userns=keep-id), the layers shared.
 *
 * devenv's own namespace (util/userns.c) maps 0 to the host user H and
 * 1..n to the subordinate ids; layers and uppers hold the image's ids in
 * that numbering (an image's root owns its files as H on the disk). For
 * the user U to be H, the env's init gets a user namespace of its own,
 * nested in devenv's, with
 *
 *     0 .. U-1  ->  1 .. U       (root and the ids below U: subordinate)
 *     U         ->  0            (the user: the host user)
 *     U+1 .. n  ->  U+1 .. n
 *
 * A kernel overlay cannot show the layers through that map (an image's
 * /etc/passwd would be U's), overlayfs cannot be idmapped, and a layer's
 * ext4 folder can be idmapped only by the host's root. FUSE can: a FUSE
 * connection reads the ids its server reports in the user namespace of
 * whoever mounted it. So the init mounts FUSE in its namespace (with a
 * /dev/fuse it opened there: the kernel wants both in one namespace) and
 * hands the device to devenv, which runs fuse-overlayfs in devenv's own
 * namespace over the same lowers, upper and work folders: it reports the
 * image's ids as they are on the disk (0 for /etc/passwd), the env reads
 * them through its map (root's), and a file the env creates is reported
 * to fuse-overlayfs with the creator's id inside, which it stores as such:
 * the upper holds the image's ids, as a kernel overlay's does, and is a
 * layer like any (`devenv commit`). No chown, no copy, nothing per map.
 *
 * The checkout is a plain bind: U's files there are the host user's. What
 * root (a subordinate id now) makes there is swept at halt, as every
 * rootless env's other ids are (provision/sweep.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

int ctr_keepid_check(char *server, const char **why)
{
	static const char *const dirs[] = { "/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin" };
	int fd;

	*why = NULL;
	server[0] = 0;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !server[0]; i++) {
		snprintf(server, 64, "%s/fuse-overlayfs", dirs[i]);
		if (access(server, X_OK) < 0)
			server[0] = 0;
	}
	if (!server[0]) {
		*why = "fuse-overlayfs is not installed (Debian package fuse-overlayfs)";
		return -1;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*why = errno == ENOENT ? "there is no /dev/fuse (modprobe fuse)"
				       : "/dev/fuse cannot be opened by you (Debian's udev makes it "
					 "0666: 'sudo chmod 0666 /dev/fuse')";
		return -1;
	}
	close(fd);
	return 0;
}

/* How many ids /proc/self/{uid,gid}_map gives us, from 0 up without a gap. */
static unsigned long ids_from_zero(const char *file)
{
	char buf[512];
	dv_autoclose int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	unsigned long have = 0, in, out, count;
	const char *p = buf;
	int used;
	bool grew = true;

	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* Lines may come in any order: take each that starts where we are. */
	while (grew) {
		grew = false;
		for (p = buf; sscanf(p, " %lu %lu %lu%n", &in, &out, &count, &used) == 3; p += used)
			if (in == have) {
				have += count;
				grew = true;
			}
	}
	return have;
}

int ctr_keepid_plan(struct ctr_keepid *k, unsigned uid, unsigned gid, const char **why)
{
	k->uid = uid;
	k->gid = gid;
	k->uids = ids_from_zero("/proc/self/uid_map");
	k->gids = ids_from_zero("/proc/self/gid_map");
	if (k->uids <= 1 || k->gids <= 1) {
		*why = "there are no subordinate ids for root and the env's other users (a "
		       "single-id map: no /etc/subuid and /etc/subgid range)";
		return -1;
	}
	/* U itself and the U ids below it must exist: root goes to 1. */
	if (uid == 0 || gid == 0 || k->uids <= uid || k->gids <= gid) {
		*why = "your uid or gid is beyond your subordinate ids (/etc/subuid, /etc/subgid "
		       "give fewer ids than your uid number)";
		return -1;
	}
	return 0;
}

static int write_map(pid_t pid, const char *what, unsigned id, unsigned long n, struct dv_error *err)
{
	char path[48], map[160];
	int len;
	dv_autoclose int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	len = snprintf(map, sizeof(map), "0 1 %u\n%u 0 1\n", id, id);
	if (n > (unsigned long)id + 1)
		len += snprintf(map + len, sizeof(map) - (size_t)len, "%u %u %lu\n", id + 1, id + 1,
				n - id - 1);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	/* One write: the kernel takes a map whole, once. */
	if (fd < 0 || write(fd, map, (size_t)len) != len)
		return dv_err(err, errno, "cannot write the env's %s", what);
	return 0;
}

int ctr_keepid_maps(pid_t pid, const struct ctr_keepid *k, struct dv_error *err)
{
	if (write_map(pid, "uid_map", k->uid, k->uids, err) < 0 ||
	    write_map(pid, "gid_map", k->gid, k->gids, err) < 0)
		return dv_err_prefix(err, "keep-id");
	return 0;
}

int ctr_keepid_enter(const struct ctr_keepid *k, struct dv_error *err)
{
	/* We are the host user here, uid U, with every capability of this
	 * namespace: /dev/fuse is opened as the host user, then we become
	 * the env's root. The real uid stays U, the host user: so the init
	 * can be signalled by `halt`, which runs in a user namespace of its
	 * own, sibling of devenv's, with no right over ours but the host
	 * user's own (kill(2): the sender's uid is the target's real uid).
	 * The effective and saved ids are root's, which the exec keeps. */
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return dv_err(err, errno, "cannot open /dev/fuse");
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(k->uid, 0, 0) < 0) {
		int e = errno;

		close(fd);
		return dv_err(err, e, "cannot become root in the env's user namespace");
	}
	/* A change of euid made us non-dumpable, with our memory still the
	 * one devenv was started with in the host's user namespace: devenv's
	 * network helper could not open our /proc/PID/ns/net until the exec.
	 * Dumpable again (nothing of the env runs yet; the init makes itself
	 * non-dumpable once it is the init). */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return fd;
}

int ctr_keepid_send(int sock, int fuse, struct dv_error *err)
{
	if (dv_send_fd(sock, "f", 1, fuse) < 0)
		return dv_err(err, errno, "cannot hand /dev/fuse to devenv");
	return 0;
}

/* The fd the child sent: 1 with it in *fd, 0 when it sent none (it
 * failed: its error comes on the error pipe). */
static int recv_fd(int sock, int *fd, struct dv_error *err)
{
	char byte;
	ssize_t n = dv_recv_fd(sock, &byte, 1, fd);

	if (n < 0)
		return dv_err(err, errno, "keep-id: cannot receive /dev/fuse");
	return n > 0 && *fd >= 0;
}

/* fuse-overlayfs's -o: the layers top first, the skeleton at the bottom;
 * noacl: no POSIX ACLs on the env's root (a getxattr of the ACL per
 * lookup made small-file work 1.5 to 2.5 times slower here), as the
 * checkout and volumes, binds of the host's, keep theirs. */
static int server_options(const struct ctr_spec *spec, const char *skel, struct dv_buf *b,
			  struct dv_error *err)
{
	dv_buf_adds(b, "lowerdir=");
	for (size_t i = 0; i <= spec->n_lowers; i++) {
		const char *l = i < spec->n_lowers ? spec->lowers[i] : skel;

		if (strpbrk(l, ":,\\"))
			return dv_err(err, EINVAL,
				      "keep-id: layer path '%s' has ':', ',' or '\\', "
				      "which fuse-overlayfs cannot take",
				      l);
		dv_buf_addf(b, "%s%s", i ? ":" : "", l);
	}
	if (strpbrk(spec->upper, ":,\\") || strpbrk(spec->work, ":,\\"))
		return dv_err(err, EINVAL,
			      "keep-id: the store's path '%s' has ':', ',' or '\\', "
			      "which fuse-overlayfs cannot take",
			      spec->upper);
	dv_buf_addf(b, ",upperdir=%s,workdir=%s,noacl", spec->upper, spec->work);
	return 0;
}

/* The bottom layer of the env's root: the mount targets the runtime needs
 * (the kernel overlay's tmpfs skeleton, which fuse-overlayfs, outside the
 * env's mount namespace, cannot see), as a folder beside the upper. */
static int make_skel(const struct ctr_spec *spec, const char *skel, struct dv_error *err)
{
	static const char *const dirs[] = { "proc", "sys", "dev", "etc" };
	static const char *const files[] = { "etc/hosts", "etc/hostname", "etc/resolv.conf" };
	dv_autoclose int fd = -1;

	if (mkdir(skel, 0755) < 0 && errno != EEXIST)
		return dv_err(err, errno, "cannot create '%s'", skel);
	fd = open(skel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", skel);
	for (size_t i = 0; i < 4; i++)
		if (mkdirat(fd, dirs[i], 0755) < 0 && errno != EEXIST)
			return dv_err(err, errno, "cannot create '%s/%s'", skel, dirs[i]);
	for (size_t i = 0; i < 3; i++) {
		int f = openat(fd, files[i], O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

		if (f < 0)
			return dv_err(err, errno, "cannot create '%s/%s'", skel, files[i]);
		close(f);
	}
	if (spec->workdir && spec->checkout) {
		int w = ctr_mkdir_p_in_root(fd, spec->workdir, 0755, err);

		if (w < 0)
			return dv_err_prefix(err, "workdir");
		close(w);
	}
	if (spec->n_secrets || spec->secrets_dir) {
		int w = ctr_mkdir_p_in_root(fd, "/run/secrets", 0755, err);

		if (w < 0)
			return dv_err_prefix(err, "secrets");
		close(w);
	}
	return 0;
}

int ctr_keepid_skel(const struct ctr_spec *spec, struct dv_error *err)
{
	const char *slash = strrchr(spec->upper, '/');
	dv_autofree char *skel = NULL;

	if (!slash)
		return dv_err(err, EINVAL, "upper folder '%s' is not absolute", spec->upper);
	skel = dv_xasprintf("%.*s/keepid-skel", (int)(slash - spec->upper), spec->upper);
	return make_skel(spec, skel, err);
}

int ctr_keepid_serve(const struct ctr_spec *spec, int sock, struct dv_error *err)
{
	const char *slash = strrchr(spec->upper, '/');
	dv_autofree char *skel = NULL;
	struct dv_buf opts = { 0 };
	dv_autoclose int fuse = -1;
	int ep[2] = { -1, -1 }, st = 0, r;
	pid_t pid;
	char msg[512];
	ssize_t n = 0;

	r = recv_fd(sock, &fuse, err);
	if (r <= 0)
		return r;
	skel = dv_xasprintf("%.*s/keepid-skel", (int)(slash - spec->upper), spec->upper);
	if (server_options(spec, skel, &opts, err) < 0) {
		dv_buf_release(&opts);
		return -1;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		dv_buf_release(&opts);
		return dv_err(err, errno, "pipe");
	}
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "fuse-overlayfs", "-o", opts.s, "/dev/fd/3", NULL };
		struct dv_error e = { 0 };
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* A session of its own, in the env's cgroups (so that halt and
		 * the next up's kill find it), no fd of ours but the device. */
		setsid();
		if (ctr_cgroup_join(spec->cgroups, 0, &e) < 0)
			dprintf(ep[1], "%s\n", e.msg), _exit(126);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(ep[1], 2) < 0 ||
		    dup2(fuse, 3) < 0 || ctr_fds_close_from(4, false) < 0)
			_exit(126);
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		signal(SIGPIPE, SIG_DFL);
		execv(spec->keepid->server, argv);
		dprintf(2, "cannot run %s: %s\n", spec->keepid->server, strerror(errno));
		_exit(127);
	}
	close(ep[1]);
	dv_buf_release(&opts);
	if (pid < 0) {
		close(ep[0]);
		return dv_err(err, errno, "fork");
	}
	/* fuse-overlayfs makes itself a daemon once it serves the device: its
	 * first process exits 0 then, or with a message before. */
	if (dv_waitpid(pid, &st, err) < 0) {
		close(ep[0]);
		return -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		close(ep[0]);
		return 1;
	}
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	n = read(ep[0], msg, sizeof(msg) - 1);
	close(ep[0]);
	msg[n > 0 ? n : 0] = 0;
	/* Its last line says why ("unknown argument ignored" comes first). */
	{
		char *end = msg + strlen(msg), *line;

		while (end > msg && end[-1] == '\n')
			*--end = 0;
		line = strrchr(msg, '\n');
		line = line ? line + 1 : msg;
		return dv_err(err, 0, "keep-id: fuse-overlayfs failed%s%s", *line ? ": " : "", line);
	}
}
