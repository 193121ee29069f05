/*
 * test/unit/container_test.c - container/cgroup*.c against fake cgroup
 * trees: a temporary folder with the files a cgroup v2 or v1 hierarchy
 * holds, and a mountinfo naming it. No root, no real cgroup. Pure v2 cannot
 * be tried for real on the hybrid CI machine, so these tests are its proof.
 * And the sweep (container/chown.c) on trees of our own files.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "container/container.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/str.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	unit_put(root, rel, text);
}

static char *get(const char *rel)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", root, rel);
	struct dv_error err = { 0 };
	char *text = NULL;
	size_t len;

	assert_int_equal(dv_read_file_at(AT_FDCWD, path, &text, &len, &err), 0);
	return text;
}

#define ASSERT_FILE(rel, want) \
	do { \
		dv_autofree char *got_ = get(rel); \
		assert_string_equal(got_, want); \
	} while (0)

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/devenv-cgtest.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return dv_rm_tree_at(AT_FDCWD, root, &(struct dv_error){ 0 });
}

/* A pure v2 machine: one cgroup2 at ROOT/v2 with the controllers enabled. */
static void fake_v2(const char *env)
{
	dv_autofree char *mi = dv_xasprintf("30 1 0:26 / %s/v2 rw - cgroup2 cgroup2 rw\n"
					    "31 1 0:27 / %s/other rw - tmpfs tmpfs rw\n",
					    root, root);
	dv_autofree char *d = dv_xasprintf("v2/devenv/%s", env);
	static const char *const files[][2] = {
		{ "memory.max", "max\n" },
		{ "memory.swap.max", "max\n" },
		{ "cpu.max", "max 100000\n" },
		{ "pids.max", "max\n" },
		{ "cgroup.freeze", "0\n" },
		{ "cgroup.events", "populated 1\nfrozen 0\n" },
		{ "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n" },
		{ "cgroup.procs", "" },
	};

	put("mountinfo", mi);
	put("v2/cgroup.subtree_control", "");
	put("v2/devenv/cgroup.subtree_control", "");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		dv_autofree char *rel = dv_xasprintf("%s/%s", d, files[i][0]);

		put(rel, files[i][1]);
	}
}

/* A v1 machine: memory, cpu+cpuacct, pids and freezer hierarchies. */
static void fake_v1(const char *env)
{
	dv_autofree char *mi =
		dv_xasprintf("40 1 0:40 / %s/memory rw - cgroup cgroup rw,memory\n"
			     "41 1 0:41 / %s/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
			     "42 1 0:42 / %s/pids rw - cgroup cgroup rw,pids\n"
			     "43 1 0:43 / %s/freezer rw - cgroup cgroup rw,freezer\n"
			     "44 1 0:44 / %s/devices rw - cgroup cgroup rw,devices\n"
			     "45 1 0:41 / %s/cpu rw - cgroup cgroup rw,cpu,cpuacct\n",
			     root, root, root, root, root, root);
	static const char *const files[][2] = {
		{ "memory", "memory.limit_in_bytes" }, { "memory", "memory.memsw.limit_in_bytes" },
		{ "memory", "memory.oom_control" },    { "cpu,cpuacct", "cpu.cfs_period_us" },
		{ "cpu,cpuacct", "cpu.cfs_quota_us" }, { "pids", "pids.max" },
		{ "freezer", "freezer.state" },
	};

	put("mountinfo", mi);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		dv_autofree char *rel =
			dv_xasprintf("%s/devenv/%s/%s", files[i][0], env, files[i][1]);

		put(rel, !strcmp(files[i][1], "freezer.state") ? "THAWED\n"
			 : !strcmp(files[i][1], "memory.oom_control")
				 ? "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"
				 : "-1\n");
	}
}

static void test_v2_limits(void **state)
{
	struct ctr_limits lim = { .memory = 48ULL << 20, .cpus_milli = 1500, .pids = 64 };
	dv_autofree char *mi = dv_xasprintf("%s/mountinfo", root);
	struct dv_strv out = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	fake_v2("e1");
	assert_int_equal(ctr_cgroup_create_in(mi, "e1", &lim, &out, &err), 0);
	assert_int_equal(out.n, 1); /* the tmpfs is no cgroup */
	ASSERT_FILE("v2/devenv/e1/memory.max", "50331648");
	ASSERT_FILE("v2/devenv/e1/memory.swap.max", "50331648"); /* Docker: swap = memory */
	ASSERT_FILE("v2/devenv/e1/cpu.max", "150000 100000");
	ASSERT_FILE("v2/devenv/e1/pids.max", "64");
	/* controllers are enabled for the children of the root and of devenv/ */
	ASSERT_FILE("v2/cgroup.subtree_control", "+cpu+memory+pids");
	ASSERT_FILE("v2/devenv/cgroup.subtree_control", "+cpu+memory+pids");

	/* a folder reused with no limits asked for goes back to unlimited */
	lim = (struct ctr_limits){ 0 };
	assert_int_equal(ctr_cgroup_set_limits(&out, &lim, &err), 0);
	ASSERT_FILE("v2/devenv/e1/memory.max", "max");
	ASSERT_FILE("v2/devenv/e1/memory.swap.max", "max");
	ASSERT_FILE("v2/devenv/e1/cpu.max", "max");
	ASSERT_FILE("v2/devenv/e1/pids.max", "max");
	dv_strv_release(&out);
}

static void test_v1_limits(void **state)
{
	struct ctr_limits lim = { .memory = 6ULL << 20, .cpus_milli = 250, .pids = 8 };
	dv_autofree char *mi = dv_xasprintf("%s/mountinfo", root);
	struct dv_strv out = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	fake_v1("e1");
	assert_int_equal(ctr_cgroup_create_in(mi, "e1", &lim, &out, &err), 0);
	/* memory, cpu (mounted twice, counted once), pids, freezer; not devices */
	assert_int_equal(out.n, 4);
	ASSERT_FILE("memory/devenv/e1/memory.limit_in_bytes", "6291456");
	/* memory + swap: twice the memory, as Docker gives */
	ASSERT_FILE("memory/devenv/e1/memory.memsw.limit_in_bytes", "12582912");
	ASSERT_FILE("cpu,cpuacct/devenv/e1/cpu.cfs_period_us", "100000");
	ASSERT_FILE("cpu,cpuacct/devenv/e1/cpu.cfs_quota_us", "25000");
	ASSERT_FILE("pids/devenv/e1/pids.max", "8");
	dv_strv_release(&out);
}

static void test_missing_controller(void **state)
{
	struct ctr_limits lim = { .pids = 64 };
	dv_autofree char *mi = dv_xasprintf("%s/mountinfo", root);
	dv_autofree char *pids = dv_xasprintf("%s/v2/devenv/e1/pids.max", root);
	struct dv_strv out = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	fake_v2("e1");
	unlink(pids); /* like a hybrid machine's unified hierarchy */
	assert_int_equal(ctr_cgroup_create_in(mi, "e1", &lim, &out, &err), -1);
	assert_int_equal(err.errnum, ENOTSUP);
	assert_string_equal(err.msg,
			    "this machine has no pids cgroup controller for 'resources: pids'");
	assert_int_equal(out.n, 0);
}

static void test_v2_freeze(void **state)
{
	dv_autofree char *mi = dv_xasprintf("%s/mountinfo", root);
	struct dv_strv out = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	fake_v2("e1");
	assert_int_equal(ctr_cgroup_create_in(mi, "e1", NULL, &out, &err), 0);
	/* the kernel never says frozen: give up, thaw, ETIMEDOUT */
	assert_int_equal(ctr_cgroup_freeze(&out, true, 50, &err), -1);
	assert_int_equal(err.errnum, ETIMEDOUT);
	ASSERT_FILE("v2/devenv/e1/cgroup.freeze", "0");
	/* it does */
	put("v2/devenv/e1/cgroup.events", "populated 1\nfrozen 1\n");
	memset(&err, 0, sizeof(err));
	assert_int_equal(ctr_cgroup_freeze(&out, true, 50, &err), 0);
	ASSERT_FILE("v2/devenv/e1/cgroup.freeze", "1");
	assert_int_equal(ctr_cgroup_freeze(&out, false, 0, &err), 0);
	ASSERT_FILE("v2/devenv/e1/cgroup.freeze", "0");
	dv_strv_release(&out);
}

static void test_v1_freeze(void **state)
{
	dv_autofree char *mi = dv_xasprintf("%s/mountinfo", root);
	struct dv_strv out = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	fake_v1("e1");
	assert_int_equal(ctr_cgroup_create_in(mi, "e1", NULL, &out, &err), 0);
	assert_int_equal(ctr_cgroup_freeze(&out, true, 50, &err), 0);
	ASSERT_FILE("freezer/devenv/e1/freezer.state", "FROZEN");
	assert_int_equal(ctr_cgroup_freeze(&out, false, 0, &err), 0);
	ASSERT_FILE("freezer/devenv/e1/freezer.state", "THAWED");
	dv_strv_release(&out);
}

static void test_oom_kills(void **state)
{
	dv_autofree char *mi = dv_xasprintf("%s/mountinfo", root);
	struct dv_strv v1 = { 0 }, v2 = { 0 }, none = { 0 };
	struct dv_error err = { 0 };
	unsigned long long n = 99;

	(void)state;
	fake_v2("e2");
	assert_int_equal(ctr_cgroup_create_in(mi, "e2", NULL, &v2, &err), 0);
	assert_int_equal(ctr_cgroup_oom_kills(&v2, &n), 0);
	assert_true(n == 0);
	put("v2/devenv/e2/memory.events",
	    "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n");
	assert_int_equal(ctr_cgroup_oom_kills(&v2, &n), 0);
	assert_true(n == 2);

	fake_v1("e1");
	assert_int_equal(ctr_cgroup_create_in(mi, "e1", NULL, &v1, &err), 0);
	put("memory/devenv/e1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
	assert_int_equal(ctr_cgroup_oom_kills(&v1, &n), 0);
	assert_true(n == 3);

	/* no memory controller: unknown, not zero */
	dv_strv_push(&none, root);
	assert_int_equal(ctr_cgroup_oom_kills(&none, &n), -1);
	dv_strv_release(&v1);
	dv_strv_release(&v2);
	dv_strv_release(&none);
}

/* ---- the sweep ---- */

static unsigned open_fds(void)
{
	dv_autoclosedir DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	return n;
}

/* root/a/a/.../a (depth folders) with a setuid file "s" at depth `mark`
 * and at the bottom, and every 100 levels a folder "b" beside the next
 * "a" holding one too (so the walk comes back up from deep down and goes
 * down again). */
static void deep_tree(unsigned depth, unsigned mark)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	for (unsigned i = 1; i <= depth; i++) {
		int next;

		assert_int_equal(mkdirat(fd, "a", 0755), 0);
		next = openat(fd, "a", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
		if (i == mark || i == depth) {
			int f = openat(fd, "s", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);

			assert_true(f >= 0);
			assert_int_equal(fchmod(f, 04755), 0);
			close(f);
		}
		if (i % 100 == 0) {
			int f;

			assert_int_equal(mkdirat(fd, "b", 0755), 0);
			f = openat(fd, "b/s", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
			assert_true(f >= 0);
			assert_int_equal(fchmod(f, 04755), 0);
			close(f);
		}
	}
	close(fd);
}

/* The mode of root/a/.../a/s at depth. */
static mode_t deep_mode(unsigned depth)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	for (unsigned i = 1; i <= depth; i++) {
		int next = openat(fd, "a", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	assert_int_equal(fstatat(fd, "s", &st, AT_SYMLINK_NOFOLLOW), 0);
	close(fd);
	return st.st_mode & 07777;
}

static int sweep_root(const struct timespec *since, unsigned long long *changed)
{
	dv_autoclose int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	dv_autoclose int procfd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct dv_error err = { 0 };
	int r = ctr_sweep(fd, procfd, getuid(), getgid(), since, changed, &err);

	if (r < 0)
		fprintf(stderr, "ctr_sweep: %s\n", err.msg);
	return r;
}

/* No depth stops the walk (it stopped at 200 folders), and it holds no
 * more fds after than before, however deep it went. */
static void test_sweep_deep(void **state)
{
	struct timespec zero = { 0 };
	unsigned long long changed = 0;
	unsigned fds = open_fds();

	(void)state;
	/* (not deeper: the teardown's dv_rm_tree_at holds an fd per level) */
	deep_tree(300, 30);
	assert_int_equal(sweep_root(&zero, &changed), 0);
	assert_int_equal(deep_mode(30), 0755);
	assert_int_equal(deep_mode(300), 0755);
	assert_int_equal(changed, 2 + 3); /* and the three b/s */
	assert_int_equal(open_fds(), fds);
}

/* What changed before `since` is not looked at; a second sweep has
 * nothing left to change. */
static void test_sweep_since(void **state)
{
	struct timespec zero = { 0 }, later;
	unsigned long long changed = 1;

	(void)state;
	deep_tree(3, 2);
	clock_gettime(CLOCK_REALTIME, &later);
	later.tv_sec += 3600;
	assert_int_equal(sweep_root(&later, &changed), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(deep_mode(2), 04755);
	assert_int_equal(sweep_root(&zero, &changed), 0);
	assert_int_equal(changed, 2);
	assert_int_equal(deep_mode(2), 0755);
	assert_int_equal(sweep_root(&zero, &changed), 0);
	assert_int_equal(changed, 0);
}

/* A symlink to a folder outside is not followed. */
static void test_sweep_symlink(void **state)
{
	struct timespec zero = { 0 };
	dv_autofree char *out = dv_xasprintf("%s.out", root);
	dv_autofree char *link = dv_xasprintf("%s/l", root);
	dv_autofree char *file = dv_xasprintf("%s/s", out);
	struct stat st;
	int f;

	(void)state;
	assert_int_equal(mkdir(out, 0755), 0);
	f = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 04755);
	assert_true(f >= 0);
	assert_int_equal(fchmod(f, 04755), 0);
	close(f);
	assert_int_equal(symlink(out, link), 0);
	assert_int_equal(sweep_root(&zero, NULL), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	unlink(file);
	rmdir(out);
}

/* How many files below root one sweep (since 0) opened: IN_OPEN events
 * with a name (the walk opens the folder itself: an event without one).
 * -1 on failure. No cmocka assert: also run in a child. */
static int sweep_opens(void)
{
	struct timespec zero = { 0 };
	dv_autoclose int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	int named = 0;

	char cwd[PATH_MAX], after[PATH_MAX];

	/* (before Linux 6.13 the sweep moves our cwd, and gives it back) */
	if (in < 0 || inotify_add_watch(in, root, IN_OPEN) < 0 || !getcwd(cwd, sizeof(cwd)) ||
	    sweep_root(&zero, NULL) < 0 || !getcwd(after, sizeof(after)) || strcmp(cwd, after))
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			named += ev->len > 0 && ev->name[0];
			p += sizeof(*ev) + ev->len;
		}
	return named;
}

/* fn() in a child where getxattrat(2) fails with ENOSYS, as before Linux
 * 6.13 (464 on every architecture but alpha): its result, or -1. */
static int without_getxattrat(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

		if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), 464, 0) < 0 ||
		    seccomp_load(ctx) < 0)
			_exit(255);
		_exit(fn() & 0xff);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status) == 255 ? -1 : WEXITSTATUS(status);
}

/* The hot path: what is the host user's already, with no s-bit and no
 * file capability, is never opened (one statx, and one getxattrat by name
 * or, before Linux 6.13, one lgetxattr), however often a sweep reaches
 * back over it (each sweep's own chown made what it fixed new again, and
 * every later one reopened it). */
static void test_sweep_no_reopen(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++) {
		dv_autofree char *name = dv_xasprintf("f%d", i);

		put(name, "x");
	}
	assert_int_equal(sweep_opens(), 0);
	assert_int_equal(without_getxattrat(sweep_opens), 0);
}

static int capped_left(void)
{
	dv_autofree char *path = dv_xasprintf("%s/capped", root);

	if (sweep_opens() < 0)
		return -1;
	return lgetxattr(path, "security.capability", NULL, 0) < 0 && errno == ENODATA ? 0 : 1;
}

/* ...and a file capability on the host user's file is still found and
 * removed, with getxattrat or without. Needs CAP_SETFCAP to set one. */
static void test_sweep_fcap(void **state)
{
	/* VFS_CAP_REVISION_2 | effective; permitted: CAP_SETUID */
	const uint32_t cap[5] = { 0x02000001, 1u << 7, 0, 0, 0 };
	/* Not dv_autofree: skip() leaves by longjmp, past any cleanup. */
	char *path = dv_xasprintf("%s/capped", root);

	(void)state;
	for (int round = 0; round < 2; round++) {
		put("capped", "x");
		if (lsetxattr(path, "security.capability", cap, sizeof(cap), 0) < 0) {
			free(path);
			print_message(
				"skipped: setting security.capability needs CAP_SETFCAP (root)\n");
			skip();
		}
		put("plain", "x");
		assert_int_equal(round ? without_getxattrat(capped_left) : capped_left(), 0);
	}
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_controller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_freeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_freeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oom_kills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_deep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_no_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_fcap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
