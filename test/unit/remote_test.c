/* test/unit/remote_test.c - cmd/remotehost.c's URL check and ssh command
 * line, util/str.c's shell quoting: what --host lets through to ssh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cmd.h"

static void test_shquoted(void **state)
{
	static const char *const cases[][2] = {
		{ "", "''" },       { "plain", "'plain'" },
		{ "a b", "'a b'" }, { "it's", "'it'\\''s'" },
		{ "'", "''\\'''" }, { "$(rm -rf ~);`x`\n\"", "'$(rm -rf ~);`x`\n\"'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dv_buf b = { 0 };

		dv_buf_add_shquoted(&b, cases[i][0]);
		assert_string_equal(b.s, cases[i][1]);
		dv_buf_release(&b);
	}
}

static void test_parse_ok(void **state)
{
	struct cmd_rhost h;
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(cmd_rhost_parse("ssh://ann@build.example.com:2222", &h, &err), 0);
	assert_string_equal(h.user, "ann");
	assert_string_equal(h.host, "build.example.com");
	assert_string_equal(h.port, "2222");
	assert_string_equal(h.dest, "ann@build.example.com");
	cmd_rhost_release(&h);
	assert_int_equal(cmd_rhost_parse("ssh://gpu1/", &h, &err), 0);
	assert_null(h.user);
	assert_null(h.port);
	assert_string_equal(h.dest, "gpu1");
	cmd_rhost_release(&h);
	assert_int_equal(cmd_rhost_parse("ssh://me@[::1]:22", &h, &err), 0);
	assert_string_equal(h.host, "::1");
	assert_string_equal(h.port, "22");
	cmd_rhost_release(&h);
}

static void test_parse_refused(void **state)
{
	static const char *const bad[] = {
		"ann@host",               /* no scheme */
		"ssh://-oProxyCommand=x", /* an option as host */
		"ssh://-l@host",          /* an option as user */
		"ssh://ann@-host",        /* the host's leading '-' */
		"ssh://a;b@host",         /* shell in the user */
		"ssh://ann@ho st",        /* white space */
		"ssh://ann@host:0",       /* port range */
		"ssh://ann@host:65536",   /* port range */
		"ssh://ann@host:22x",     /* port junk */
		"ssh://ann@host:",        /* empty port */
		"ssh://ann@",             /* no host */
		"ssh://ann@host/path",    /* a path */
		"ssh://ann@[::1",         /* unclosed */
		"ssh://ann@host$(id)",    /* shell in the host */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cmd_rhost h;
		struct dv_error err = { 0 };

		assert_int_equal(cmd_rhost_parse(bad[i], &h, &err), -1);
		assert_int_equal(err.status, 2);
		cmd_rhost_release(&h);
	}
}

/* The destination comes after "--", the command last and whole. */
static void test_argv(void **state)
{
	struct cmd_rhost h;
	struct dv_error err = { 0 };
	struct dv_strv v = { 0 };

	(void)state;
	setenv("DEVENV_SSH", "ssh  -F /tmp/cfg", 1);
	assert_int_equal(cmd_rhost_parse("ssh://ann@box:2200", &h, &err), 0);
	cmd_rhost_argv(&h, true, "cd '/x' && exec 'devenv' 'ssh'", &v);
	assert_string_equal(v.v[0], "ssh");
	assert_string_equal(v.v[1], "-F");
	assert_string_equal(v.v[2], "/tmp/cfg");
	assert_string_equal(v.v[v.n - 3], "--");
	assert_string_equal(v.v[v.n - 2], "ann@box");
	assert_string_equal(v.v[v.n - 1], "cd '/x' && exec 'devenv' 'ssh'");
	assert_string_equal(v.v[v.n - 4], "-t");
	assert_string_equal(v.v[v.n - 5], "-oLogLevel=ERROR");
	assert_string_equal(v.v[v.n - 6], "2200");
	assert_string_equal(v.v[v.n - 7], "-p");
	dv_strv_release(&v);
	cmd_rhost_release(&h);
	unsetenv("DEVENV_SSH");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shquoted),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_argv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
