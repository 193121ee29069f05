/* test/unit/normalise_test.c - SOURCE_DATE_EPOCH parsing, the volatile
 * files, and a step's folder normalised (provision/normalise.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "provision/provision.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"
#include "util/fs.h"

static void test_epoch_parse(void **state)
{
	long long t = 42;

	(void)state;
	assert_int_equal(prov_epoch_parse("1700000000", &t), 0);
	assert_int_equal(t, 1700000000LL);
	assert_int_equal(prov_epoch_parse("1", &t), 0);
	assert_int_equal(prov_epoch_parse("253402300799", &t), 0);
	t = 42;
	/* Nothing but decimal seconds, 1 to 9999-12-31. */
	const char *bad[] = { "",
			      "0",
			      "-1",
			      "+5",
			      "1e9",
			      " 1",
			      "1 ",
			      "0x10",
			      "12a",
			      "253402300800",
			      "99999999999999999999",
			      "１" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(prov_epoch_parse(bad[i], &t), -1);
	assert_int_equal(prov_epoch_parse(NULL, &t), -1);
	assert_int_equal(t, 42);
}

static void test_epoch_from_env(void **state)
{
	struct dv_error err = { 0 };
	long long t = 7;

	(void)state;
	unsetenv("SOURCE_DATE_EPOCH");
	assert_int_equal(prov_epoch_from_env(&t, &err), 0);
	assert_int_equal(t, 7); /* unset: untouched (the lock's stays) */
	setenv("SOURCE_DATE_EPOCH", "1700000001", 1);
	assert_int_equal(prov_epoch_from_env(&t, &err), 0);
	assert_int_equal(t, 1700000001LL);
	setenv("SOURCE_DATE_EPOCH", "now", 1);
	assert_int_equal(prov_epoch_from_env(&t, &err), -1);
	assert_int_equal(err.status, 2);
	assert_non_null(strstr(err.msg, "SOURCE_DATE_EPOCH 'now' is not a time"));
	unsetenv("SOURCE_DATE_EPOCH");
}

static void test_epoch_envp(void **state)
{
	struct env_spec spec = { 0 };
	struct dv_strv envp = { 0 };

	(void)state;
	prov_epoch_envp(&spec, &envp);
	assert_int_equal(envp.n, 0);
	spec.source_date_epoch = 1700000000;
	dv_strv_push(&envp, "PATH=/bin");
	prov_epoch_envp(&spec, &envp);
	assert_int_equal(envp.n, 2);
	assert_string_equal(envp.v[1], "SOURCE_DATE_EPOCH=1700000000");
	/* The Envfile's own wins. */
	dv_strv_release(&envp);
	dv_strv_push(&envp, "SOURCE_DATE_EPOCH=5");
	prov_epoch_envp(&spec, &envp);
	assert_int_equal(envp.n, 1);
	dv_strv_release(&envp);
}

static void test_volatile_match(void **state)
{
	(void)state;
	assert_true(prov_volatile_match("var/log/dpkg.log"));
	assert_true(prov_volatile_match("var/log/alternatives.log"));
	assert_true(prov_volatile_match("var/log/apt/history.log"));
	assert_true(prov_volatile_match("var/log/apt/eipp.log.xz"));
	assert_true(prov_volatile_match("var/cache/ldconfig/aux-cache"));
	assert_true(prov_volatile_match("var/cache/apt/pkgcache.bin"));
	assert_true(prov_volatile_match("var/lib/dpkg/status-old"));
	assert_true(prov_volatile_match("var/cache/debconf/templates.dat-old"));
	assert_false(prov_volatile_match("var/lib/dpkg/status"));
	assert_false(prov_volatile_match("var/log/apt"));
	assert_false(prov_volatile_match("var/log/apt/sub/x"));
	assert_false(prov_volatile_match("var/cache/apt/archives/x.bin"));
	assert_false(prov_volatile_match("var/log/other.log"));
	assert_false(prov_volatile_match("srv/var/log/dpkg.log"));
}

static long long mtime_of(const char *dir, const char *rel)
{
	dv_autofree char *p = dv_xasprintf("%s/%s", dir, rel);
	struct stat sb;

	assert_int_equal(lstat(p, &sb), 0);
	return (long long)sb.st_mtim.tv_sec;
}

static bool exists(const char *dir, const char *rel)
{
	dv_autofree char *p = dv_xasprintf("%s/%s", dir, rel);
	struct stat sb;

	return lstat(p, &sb) == 0;
}

static void test_normalise(void **state)
{
	char tmpl[] = "/var/tmp/devenv-norm-XXXXXX";
	struct dv_error err = { 0 };
	const long long epoch = 1000000000;
	struct timespec old[2] = { { .tv_sec = 500 }, { .tv_sec = 500 } };
	dv_autofree char *up = NULL, *outside = NULL, *lnk = NULL, *d = NULL, *tool = NULL;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	up = dv_xasprintf("%s/upper", tmpl);
	outside = dv_xasprintf("%s/outside", tmpl);
	unit_put(up, "var/log/dpkg.log", "x");
	unit_put(up, "var/log/apt/term.log", "x");
	unit_put(up, "var/log/keep.log", "x");
	unit_put(up, "var/cache/apt/pkgcache.bin", "x");
	unit_put(up, "var/lib/dpkg/status-old", "x");
	unit_put(up, "var/lib/dpkg/status", "x");
	unit_put(up, "usr/bin/tool", "x");
	/* A folder named like a volatile file stays; so does a link. */
	d = dv_xasprintf("%s/var/log/apt/dir-old", up);
	assert_int_equal(mkdir(d, 0755), 0);
	/* A step's link to elsewhere: its target's files are not touched. */
	unit_put(outside, "dpkg.log", "x");
	unit_put(outside, "x-old", "x");
	unit_put(up, "var/cache/x", "x");
	lnk = dv_xasprintf("%s/var/cache/debconf", up);
	assert_int_equal(symlink(outside, lnk), 0);
	/* An old file keeps its time. */
	tool = dv_xasprintf("%s/usr/bin/tool", up);
	assert_int_equal(utimensat(AT_FDCWD, tool, old, 0), 0);

	assert_int_equal(prov_normalise(up, epoch, &err), 0);
	assert_false(exists(up, "var/log/dpkg.log"));
	assert_false(exists(up, "var/log/apt/term.log"));
	assert_false(exists(up, "var/cache/apt/pkgcache.bin"));
	assert_false(exists(up, "var/lib/dpkg/status-old"));
	assert_true(exists(up, "var/log/keep.log"));
	assert_true(exists(up, "var/lib/dpkg/status"));
	assert_true(exists(up, "var/log/apt/dir-old"));
	assert_true(exists(outside, "dpkg.log"));
	assert_true(exists(outside, "x-old"));
	assert_int_equal(mtime_of(up, "usr/bin/tool"), 500);
	assert_int_equal(mtime_of(up, "var/log/keep.log"), epoch);
	assert_int_equal(mtime_of(up, "var/log"), epoch); /* after its files went */
	assert_int_equal(mtime_of(up, "var/log/apt"), epoch);
	assert_int_equal(mtime_of(up, "var/cache/debconf"), epoch); /* the link itself */
	assert_true(mtime_of(tmpl, "outside") > epoch);             /* not its target */
	assert_true(mtime_of(outside, "x-old") > epoch);

	/* No epoch: the files go, the times stay. */
	unit_put(up, "var/log/dpkg.log", "x");
	assert_int_equal(prov_normalise(up, 0, &err), 0);
	assert_false(exists(up, "var/log/dpkg.log"));
	assert_true(mtime_of(up, "var/log") > epoch);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, tmpl, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_parse), cmocka_unit_test(test_epoch_from_env),
		cmocka_unit_test(test_epoch_envp),  cmocka_unit_test(test_volatile_match),
		cmocka_unit_test(test_normalise),
	};

	return cmocka_run_group_tests_name("normalise", tests, NULL, NULL);
}
