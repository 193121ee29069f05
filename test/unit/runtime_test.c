/*
 * test/unit/runtime_test.c - the runtime's file-system code (container/):
 * paths inside a root (at.c), the overlay and its skeleton (overlay.c),
 * binds and volumes (binds.c), copy into a build's upper (copy.c), users
 * (user.c), the git dir read-only (gitdir.c), the root built and entered
 * (mount.c), a forked child's fds (child.c).
 *
 * What mounts needs a mount namespace of its own: main() makes one (and,
 * without root, a user namespace mapping us to its root, as devenv does
 * rootless), and each test works in a tmpfs of its own, so nothing is
 * left mounted or written on the host. Where neither can be made, those
 * tests skip and say why; the rest need no privilege at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "container/internal.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/str.h"

static char root[64];     /* this test's scratch folder */
static bool can_mount;    /* a mount namespace of our own */
static bool in_userns;    /* ... in a user namespace of our own (no root) */
static char why_not[160]; /* why not, for the skips */

#define NEED_MOUNTS() \
	do { \
		if (!can_mount) { \
			print_message("skipped: %s\n", why_not); \
			skip(); \
		} \
	} while (0)

static char *at(const char *rel)
{
	return dv_xasprintf("%s/%s", root, rel);
}

static void put(const char *rel, const char *text)
{
	unit_put(root, rel, text);
}

static void mkd(const char *rel)
{
	dv_autofree char *path = at(rel);

	assert_int_equal(dv_mkdir_p(path, 0755, &(struct dv_error){ 0 }), 0);
}

static void link_to(const char *target, const char *rel)
{
	dv_autofree char *path = at(rel);

	assert_int_equal(symlink(target, path), 0);
}

/* The file's content; NULL when it cannot be read. */
static char *get_at(int dirfd, const char *path)
{
	struct dv_error err = { 0 };
	char *text = NULL;
	size_t len;

	if (dv_read_file_at(dirfd, path, &text, &len, &err) < 0)
		return NULL;
	return text;
}

static char *get(const char *rel)
{
	dv_autofree char *path = at(rel);

	return get_at(AT_FDCWD, path);
}

#define ASSERT_FILE(rel, want) \
	do { \
		dv_autofree char *got_ = get(rel); \
		assert_non_null(got_); \
		assert_string_equal(got_, want); \
	} while (0)

static void chmod_rel(const char *rel, mode_t mode)
{
	dv_autofree char *path = at(rel);

	assert_int_equal(chmod(path, mode), 0);
}

static bool exists(const char *rel)
{
	dv_autofree char *path = at(rel);
	struct stat st;

	return lstat(path, &st) == 0;
}

static int open_dir(const char *rel)
{
	dv_autofree char *path = at(rel);
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/devenv-rttest.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	/* A tmpfs of the test's own: overlay's upper needs xattrs, and what
	 * the test mounts below goes with it. */
	if (can_mount && mount("tmpfs", root, "tmpfs", 0, "mode=0755") < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (can_mount) {
		umount2(root, MNT_DETACH);
		return rmdir(root);
	}
	return dv_rm_tree_at(AT_FDCWD, root, &(struct dv_error){ 0 });
}

/* at.c: every way out of the root (an absolute symlink, `..` past the
 * top, an absolute path) stays inside it. */
static void test_openat_in_root(void **state)
{
	static const char *const paths[] = { "etc/hosts",     "/etc/hosts",   "//etc/hosts",
					     "abs/etc/hosts", "up/etc/hosts", "hostslink" };
	dv_autoclose int rootfd = -1;

	(void)state;
	put("r/etc/hosts", "inside");
	link_to("/", "r/abs");
	link_to("../../../../../..", "r/up");
	link_to("/etc/hosts", "r/hostslink");
	rootfd = open_dir("r");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		dv_autoclose int fd = ctr_openat_in_root(rootfd, paths[i], O_RDONLY, 0);
		char buf[16] = { 0 };

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), 6);
		assert_string_equal(buf, "inside");
	}
	/* "" and "/" are the root itself. */
	{
		dv_autoclose int fd = ctr_openat_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
		struct stat a, b;

		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &a), 0);
		assert_int_equal(fstat(rootfd, &b), 0);
		assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	}
}

/* at.c: mkdir -p inside the root follows a symlinked component inside it,
 * never out of it, and refuses a path too long to hold. */
static void test_mkdir_p_in_root(void **state)
{
	dv_autofree char *outside = at("outside");
	dv_autoclose int rootfd = -1;
	dv_autoclose int fd = -1;
	struct dv_error err = { 0 };
	char *lng;
	struct stat st;

	(void)state;
	mkd("outside");
	mkd("r/var/home");
	link_to("/var/home", "r/home");
	link_to(outside, "r/out");
	rootfd = open_dir("r");
	fd = ctr_mkdir_p_in_root(rootfd, "home/dev/.cache", 0755, &err);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_true(exists("r/var/home/dev/.cache"));
	/* Again: there already. */
	close(dv_steal_fd(&fd));
	fd = ctr_mkdir_p_in_root(rootfd, "/home/dev/.cache/", 0755, &err);
	assert_true(fd >= 0);
	/* r/out names a host folder: inside the root it leads nowhere, and
	 * nothing is made on the host. */
	assert_int_equal(ctr_mkdir_p_in_root(rootfd, "out/x", 0755, &err), -1);
	assert_false(exists("outside/x"));
	lng = dv_xcalloc(1, PATH_MAX + 10);
	memset(lng, 'a', PATH_MAX + 8);
	err = (struct dv_error){ 0 };
	assert_int_equal(ctr_mkdir_p_in_root(rootfd, lng, 0755, &err), -1);
	assert_int_equal(err.errnum, ENAMETOOLONG);
	free(lng);
}

/* user.c: the Envfile's user made to exist in the image's files, once,
 * and found again by name, with its groups. */
static void test_user_ensure_resolve(void **state)
{
	uid_t uid = geteuid() == 0 && !in_userns ? 1000 : geteuid();
	gid_t gid = geteuid() == 0 && !in_userns ? 1000 : getegid();
	struct ctr_user u = { .name = "dev", .shell = "/bin/bash", .uid = uid, .gid = gid };
	dv_autofree char *want_pw = NULL;
	dv_autofree char *want_gr = NULL;
	dv_autoclose int rootfd = -1;
	struct dv_error err = { 0 };
	struct ctr_ids ids;
	struct stat st;

	(void)state;
	put("r/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
	put("r/etc/group", "root:x:0:\nstaff:x:50:dev,other\n");
	rootfd = open_dir("r");
	for (int round = 0; round < 2; round++)
		assert_int_equal(ctr_user_ensure(rootfd, &u, &err), 0);
	want_pw = dv_xasprintf("root:x:0:0:root:/root:/bin/sh\ndev:x:%u:%u::/home/dev:/bin/bash\n",
			       (unsigned)uid, (unsigned)gid);
	ASSERT_FILE("r/etc/passwd", want_pw);
	if (gid != 0 && gid != 50) {
		want_gr =
			dv_xasprintf("root:x:0:\nstaff:x:50:dev,other\ndev:x:%u:\n", (unsigned)gid);
		ASSERT_FILE("r/etc/group", want_gr);
	}
	{
		dv_autofree char *home = at("r/home/dev");

		assert_int_equal(stat(home, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_uid, uid);
	}
	assert_int_equal(ctr_user_resolve_in(rootfd, "dev", &ids, &err), 0);
	assert_int_equal(ids.uid, uid);
	assert_int_equal(ids.gid, gid);
	assert_string_equal(ids.name, "dev");
	assert_string_equal(ids.home, "/home/dev");
	assert_true(ids.ngroups >= 1);
	assert_int_equal(ids.groups[ids.ngroups - 1], 50);
	/* A uid with no entry: as given, home "/"; an explicit group: no
	 * supplementary ones. */
	assert_int_equal(ctr_user_resolve_in(rootfd, "4242:7", &ids, &err), 0);
	assert_int_equal(ids.uid, 4242);
	assert_int_equal(ids.gid, 7);
	assert_string_equal(ids.name, "");
	assert_string_equal(ids.home, "/");
	assert_int_equal(ids.ngroups, 0);
	assert_int_equal(ctr_user_resolve_in(rootfd, "nobody-here", &ids, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	/* The image's own "dev" with another uid is never renumbered. */
	put("r/etc/passwd", "dev:x:4321:4321::/home/dev:/bin/sh\n");
	err = (struct dv_error){ 0 };
	assert_int_equal(ctr_user_ensure(rootfd, &u, &err), -1);
	assert_int_equal(err.errnum, EEXIST);
}

/* copy.c's plain copy: all of a pipe, to a file. */
static void test_copy_data(void **state)
{
	dv_autofree char *path = at("out");
	dv_autofree char *text = NULL;
	dv_autoclose int out = -1;
	struct dv_error err = { 0 };
	char big[100000];
	int p[2];
	pid_t pid;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(dv_write_full(p[1], big, sizeof(big), &err) < 0);
	}
	close(p[1]);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(out >= 0);
	assert_int_equal(ctr_copy_data(p[0], out, "out", &err), 0);
	close(p[0]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	text = get("out");
	assert_int_equal(strlen(text), sizeof(big));
	assert_memory_equal(text, big, sizeof(big));
}

/* A spec for the overlay of lowers l1 (top) and l2 over upper, work. */
static void overlay_spec(struct ctr_spec *spec, const char **lowers, char **paths)
{
	paths[0] = at("l1");
	paths[1] = at("l2");
	paths[2] = at("upper");
	paths[3] = at("work");
	mkd("l1");
	mkd("l2");
	mkd("upper");
	mkd("work");
	lowers[0] = paths[0];
	lowers[1] = paths[1];
	*spec = (struct ctr_spec){ .lowers = lowers,
				   .n_lowers = 2,
				   .upper = paths[2],
				   .work = paths[3],
				   .userns = in_userns };
}

/* overlay.c: the layers in order, top first, over the skeleton's
 * generated files; what is written lands in the upper alone. */
static void test_overlay(void **state)
{
	static const char *const hosts[] = { "db", "box" };
	const char *lowers[2];
	char *paths[4];
	struct ctr_spec spec;
	struct dv_error err = { 0 };
	dv_autoclose int mnt = -1;
	dv_autoclose int skel = -1;

	(void)state;
	NEED_MOUNTS();
	overlay_spec(&spec, lowers, paths);
	spec.hostname = "box";
	spec.hosts = hosts;
	spec.n_hosts = 2;
	put("l1/f", "top");
	put("l2/f", "bottom");
	put("l2/g", "g");
	mnt = ctr_mount_overlay(&spec, true, &skel, &err);
	if (mnt < 0)
		print_message("%s\n", err.msg);
	assert_true(mnt >= 0);
	assert_true(skel >= 0);
	ASSERT_FILE("merged/f", "top");
	ASSERT_FILE("merged/g", "g");
	ASSERT_FILE("merged/etc/hosts", "127.0.0.1\tlocalhost box\n127.0.0.1\tdb\n"
					"::1\tlocalhost ip6-localhost ip6-loopback\n");
	ASSERT_FILE("merged/etc/hostname", "box\n");
	assert_true(exists("merged/proc") && exists("merged/dev") && exists("merged/sys"));
	/* Mount targets live in the skeleton, not in the upper. */
	assert_false(exists("upper/etc"));
	put("merged/new", "n");
	ASSERT_FILE("upper/new", "n");
	assert_false(exists("l1/new"));
	ASSERT_FILE("l2/f", "bottom");
	for (int i = 0; i < 4; i++)
		free(paths[i]);
}

/* Is path on a read-only mount? (Not by a write refused: without root,
 * the host's files are nobody's and refuse first with EACCES.) */
static bool read_only(const char *path)
{
	struct statvfs v;

	return statvfs(path, &v) == 0 && (v.f_flag & ST_RDONLY);
}

/* What the env's init sees once the root is built (test_setup_root); the
 * first failed check's number, 0 when none. */
static int check_root(const char *host_path)
{
	char buf[64] = { 0 };
	struct stat st;
	int fd;

	if (getpid() != 1 || stat("/proc/self/stat", &st) < 0)
		return 21;
	if (stat("/dev/null", &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
		return 22;
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) != 4 || strcmp(buf, "box\n"))
		return 23;
	close(fd);
	if (gethostname(buf, sizeof(buf)) < 0 || strcmp(buf, "box"))
		return 24;
	fd = open("/work/file", O_RDONLY | O_CLOEXEC);
	memset(buf, 0, sizeof(buf));
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) != 8 || strcmp(buf, "checkout"))
		return 25;
	close(fd);
	if (!read_only("/sys"))
		return 26;
	/* The sandbox's masks: a file is the env's /dev/null, a folder an
	 * empty read-only tmpfs; /proc/sys read-only. */
	if (stat("/proc/kcore", &st) == 0 && (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)))
		return 27;
	if (!read_only("/proc/sys") || read_only("/proc"))
		return 28;
	/* Nothing of the host's tree is left. */
	if (stat(host_path, &st) == 0 || errno != ENOENT)
		return 29;
	if (access("/etc/hosts", F_OK) < 0 || !read_only("/etc/hosts") || read_only("/etc"))
		return 30;
	return 0;
}

/* mount.c: after the overlay (overlay.c), /proc, /sys, /dev, /etc, the
 * checkout at workdir, the masks, and pivot_root, in a child that is PID 1
 * of its pid namespace, as the env's init to be. */
static void test_setup_root(void **state)
{
	const char *lowers[2];
	char *paths[4];
	struct ctr_spec spec;
	struct ctr_sandbox sb = { 0 };
	dv_autofree char *co = at("co");
	int st;
	pid_t pid;

	(void)state;
	NEED_MOUNTS();
	overlay_spec(&spec, lowers, paths);
	put("l2/bin/true", "");
	put("co/file", "checkout");
	spec.hostname = "box";
	spec.checkout = co;
	spec.workdir = "/work";
	spec.sandbox = &sb;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pid_t init;

		/* A mount namespace of its own too: pivot_root moves the root of
		 * every process in the namespace. */
		if (unshare(CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(10);
		init = fork();
		if (init == 0) {
			struct dv_error err = { 0 };
			int skel = -1;
			int mnt = ctr_mount_overlay(&spec, true, &skel, &err);

			if (mnt < 0 || ctr_setup_root(&spec, mnt, skel, &err) < 0) {
				fprintf(stderr, "%s\n", err.msg);
				_exit(20);
			}
			_exit(check_root(root));
		}
		if (init < 0 || waitpid(init, &st, 0) != init || !WIFEXITED(st))
			_exit(11);
		_exit(WEXITSTATUS(st));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* The checkout was bound, never copied: what the env sees is ours. */
	assert_false(exists("upper/work/file"));
	for (int i = 0; i < 4; i++)
		free(paths[i]);
}

/* copy.c: a folder's content into dest in the upper, owned by root, modes
 * and symlinks kept; a layer's symlink cannot send it to the host. */
static void test_copy_in(void **state)
{
	dv_autofree char *outside = at("outside");
	char *inner;
	const char *lowers[2];
	char *paths[4];
	struct ctr_spec spec;
	struct dv_error err = { 0 };
	struct ctr_copy_src src = { .fd = -1 };
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	(void)state;
	NEED_MOUNTS();
	overlay_spec(&spec, lowers, paths);
	mkd("outside");
	link_to(outside, "l1/esc");
	put("src/a", "A");
	put("src/sub/b", "B");
	chmod_rel("src/a", 0640);
	link_to("a", "src/link");
	src.fd = open_dir("src");
	src.name = "src";
	src.rel = "src";
	if (ctr_copy_in(&spec, &src, "/app/", &err) < 0)
		print_message("%s\n", err.msg);
	assert_int_equal(err.errnum, 0);
	ASSERT_FILE("upper/app/a", "A");
	ASSERT_FILE("upper/app/sub/b", "B");
	{
		dv_autofree char *p = at("upper/app/a");
		dv_autofree char *l = at("upper/app/link");

		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0640);
		assert_int_equal(st.st_uid, 0);
		n = readlink(l, target, sizeof(target) - 1);
		assert_int_equal(n, 1);
		assert_int_equal(target[0], 'a');
	}
	assert_int_equal(strlen(src.digest), 64);
	/* dest through l1's esc -> <host path>: resolved inside the root. */
	src.rel = NULL;
	inner = dv_xasprintf("l1%s", outside);
	mkd(inner);
	free(inner);
	if (ctr_copy_in(&spec, &src, "/esc/", &err) < 0)
		print_message("%s\n", err.msg);
	assert_int_equal(err.errnum, 0);
	inner = dv_xasprintf("upper%s/a", outside);
	ASSERT_FILE(inner, "A");
	free(inner);
	assert_false(exists("outside/a"));
	close(src.fd);
	for (int i = 0; i < 4; i++)
		free(paths[i]);
}

/* binds.c: a host folder bound read-only; a target through the image's
 * symlink to a host path is made, and mounted on, inside the root. */
static void test_binds(void **state)
{
	dv_autofree char *h = at("h");
	dv_autofree char *outside = at("outside");
	dv_autofree char *inner = NULL;
	struct ctr_mount m[2] = {
		{ .source = h, .target = "/data", .readonly = true, .tree_fd = -1 },
		{ .source = h, .target = "/link/x", .tree_fd = -1 },
	};
	struct ctr_spec spec = { .mounts = m, .n_mounts = 2 };
	struct dv_error err = { 0 };
	dv_autoclose int rootfd = -1;
	dv_autofree char *wpath = at("r/data/new");

	(void)state;
	NEED_MOUNTS();
	put("h/f", "host");
	mkd("r");
	mkd("outside");
	link_to(outside, "r/link");
	inner = dv_xasprintf("r%s", outside);
	mkd(inner);
	free(inner);
	rootfd = open_dir("r");
	if (ctr_setup_binds(&spec, rootfd, -1, &err) < 0)
		print_message("%s\n", err.msg);
	assert_int_equal(err.errnum, 0);
	ASSERT_FILE("r/data/f", "host");
	assert_true(open(wpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) < 0);
	assert_int_equal(errno, EROFS);
	inner = dv_xasprintf("r%s/x/f", outside);
	ASSERT_FILE(inner, "host");
	assert_false(exists("outside/x"));
	/* A build container takes none. */
	spec.build = true;
	assert_int_equal(ctr_setup_binds(&spec, rootfd, -1, &err), -1);
}

/* binds.c: "/" or nothing is no target. */
static void test_binds_refused(void **state)
{
	struct ctr_mount m = { .source = "/nope", .target = "//", .tree_fd = -1 };
	struct ctr_spec spec = { .mounts = &m, .n_mounts = 1 };
	struct dv_error err = { 0 };
	dv_autoclose int rootfd = -1;

	(void)state;
	mkd("r");
	rootfd = open_dir("r");
	assert_int_equal(ctr_setup_binds(&spec, rootfd, -1, &err), -1);
	assert_int_equal(err.errnum, EINVAL);
	assert_string_equal(err.msg, "cannot mount over '//'; choose a folder such as '/data'");
}

/* binds.c: an empty volume gets what the image has at its target, with
 * that folder's mode; no fd is left open on the way (dir_empty leaked
 * the one it read the volume through: issue 14). */
static void test_binds_fill_volume(void **state)
{
	dv_autofree char *vol = at("vol");
	struct ctr_mount m = { .source = vol, .target = "/cache", .fill = true, .tree_fd = -1 };
	struct ctr_spec spec = { .mounts = &m, .n_mounts = 1 };
	struct dv_error err = { 0 };
	dv_autoclose int rootfd = -1;
	struct stat st;
	int before;

	(void)state;
	NEED_MOUNTS();
	mkd("vol");
	put("r/cache/c", "cached");
	put("r/cache/d/e", "deep");
	chmod_rel("r/cache", 0750);
	rootfd = open_dir("r");
	before = count_fds();
	if (ctr_setup_binds(&spec, rootfd, -1, &err) < 0)
		print_message("%s\n", err.msg);
	assert_int_equal(err.errnum, 0);
	assert_int_equal(count_fds(), before);
	ASSERT_FILE("vol/c", "cached");
	ASSERT_FILE("vol/d/e", "deep");
	assert_int_equal(stat(vol, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	ASSERT_FILE("r/cache/c", "cached");
	/* Not empty now: left as it is, and no fd left either. */
	put("vol/c", "changed");
	before = count_fds();
	assert_int_equal(ctr_setup_binds(&spec, rootfd, -1, &err), 0);
	assert_int_equal(count_fds(), before);
	ASSERT_FILE("vol/c", "changed");
}

/* gitdir.c: the git dir of an attached checkout is read-only and cannot
 * be moved aside; the rest stays writable, and a missing path is skipped. */
static void test_git_protect(void **state)
{
	static const char *const paths[] = { ".git", "nope/.git" };
	dv_autofree char *co = at("co");
	dv_autofree char *in_git = at("t/.git/x");
	dv_autofree char *git = at("t/.git");
	dv_autofree char *moved = at("t/moved");
	struct dv_error err = { 0 };
	dv_autoclose int src = -1;
	dv_autoclose int t = -1;

	(void)state;
	NEED_MOUNTS();
	put("co/.git/HEAD", "ref: refs/heads/main\n");
	put("co/file", "f");
	mkd("t");
	src = open_tree(AT_FDCWD, co, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	assert_true(src >= 0);
	t = open_dir("t");
	assert_int_equal(move_mount(src, "", t, "",
				    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
			 0);
	if (ctr_git_protect(src, paths, 2, &err) < 0)
		print_message("%s\n", err.msg);
	assert_int_equal(err.errnum, 0);
	assert_true(open(in_git, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) < 0);
	assert_int_equal(errno, EROFS);
	assert_int_equal(rename(git, moved), -1);
	assert_int_equal(errno, EBUSY);
	put("t/file", "written");
	ASSERT_FILE("co/file", "written");
	/* Reached through a symlink: refused. */
	{
		static const char *const via[] = { "l/.git" };

		link_to(".", "co/l");
		err = (struct dv_error){ 0 };
		assert_int_equal(ctr_git_protect(src, via, 1, &err), -1);
		assert_int_equal(err.errnum, ELOOP);
	}
}

/* In a forked child: close_range refused with `errnum` (ENOSYS: Linux
 * before 5.9; EINVAL: CLOSE_RANGE_CLOEXEC before 5.11), then ctr_fds_place
 * and ctr_fds_close_from must still close or flag every fd above theirs.
 * With hide_proc, no /proc either (a tmpfs over it): the last resort,
 * every fd below the limit. The child's exit status says which check
 * failed (0: none). */
static int fds_without_close_range(int errnum, bool hide_proc)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		const int fds[3] = { 0, 1, 2 };
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		int a, b;

		if (hide_proc && (unshare(CLONE_NEWNS) < 0 ||
				  mount("tmpfs", "/proc", "tmpfs", 0, "size=4k") < 0))
			_exit(9);
		if (!ctx ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(errnum), SCMP_SYS(close_range), 0) < 0 ||
		    seccomp_load(ctx) < 0) /* libseccomp sets no_new_privs */
			_exit(10);
		a = dup2(1, 40);
		b = dup2(1, 1000);
		if (a != 40 || b != 1000)
			_exit(11);
		if (ctr_fds_close_from(20, true) < 0)
			_exit(12);
		if (!(fcntl(40, F_GETFD) & FD_CLOEXEC) || !(fcntl(1000, F_GETFD) & FD_CLOEXEC))
			_exit(13);
		if (fcntl(1, F_GETFD) & FD_CLOEXEC)
			_exit(14);
		if (ctr_fds_place(fds, 3, 3) < 0)
			_exit(15);
		if (fcntl(40, F_GETFD) >= 0 || errno != EBADF || fcntl(1000, F_GETFD) >= 0)
			_exit(16);
		if (fcntl(2, F_GETFD) < 0)
			_exit(17);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_fds_no_close_range(void **state)
{
	(void)state;
	assert_int_equal(fds_without_close_range(ENOSYS, false), 0);
	assert_int_equal(fds_without_close_range(EINVAL, false), 0);
	assert_int_equal(fds_without_close_range(EPERM, false), 0);
	if (can_mount)
		assert_int_equal(fds_without_close_range(ENOSYS, true), 0);
}

/* A mount namespace of our own, for what mounts; without root, in a user
 * namespace mapping our ids to its root (as rootless devenv runs). */
static void enter_namespaces(void)
{
	char map[64];
	int fd;

	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) < 0) {
			snprintf(why_not, sizeof(why_not), "no mount namespace: %s",
				 strerror(errno));
			return;
		}
	} else {
		uid_t uid = geteuid();
		gid_t gid = getegid();
		static const char *const files[] = { "/proc/self/setgroups", "/proc/self/uid_map",
						     "/proc/self/gid_map" };

		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
			snprintf(why_not, sizeof(why_not),
				 "needs root or an unprivileged user namespace (%s)",
				 strerror(errno));
			return;
		}
		for (int i = 0; i < 3; i++) {
			int len = i == 0 ? snprintf(map, sizeof(map), "deny")
					 : snprintf(map, sizeof(map), "0 %u 1",
						    i == 1 ? (unsigned)uid : (unsigned)gid);

			fd = open(files[i], O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, map, (size_t)len) != len) {
				snprintf(why_not, sizeof(why_not),
					 "cannot map ids in a user namespace: %s", strerror(errno));
				if (fd >= 0)
					close(fd);
				return;
			}
			close(fd);
		}
		in_userns = true;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(why_not, sizeof(why_not), "cannot make mounts private: %s",
			 strerror(errno));
		return;
	}
	can_mount = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_openat_in_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p_in_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_ensure_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setup_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binds_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binds_fill_volume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_git_protect, setup, teardown),
		cmocka_unit_test(test_fds_no_close_range),
	};

	enter_namespaces();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
