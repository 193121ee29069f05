/*
 * test/unit/sshd_test.c - env/sshd.c, the text of the env's ssh endpoint:
 * which public key lines reach the env (and without their comments), the
 * sshd_config (SetEnv quoting), ~/.ssh/config's Include (added once,
 * first, the user's lines kept), known_hosts lines replaced per host, and
 * the user's keys read from a folder (links and fifos skipped). No root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "env/env.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/str.h"

#define ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2Wwjkxng/VPr7SiR/JbaFG4+6XWVykY3ZIQH6Nr/3S"
#define RSA "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"

static void test_keys_filter(void **state)
{
	static const char text[] = "# a comment\n" ED " me@laptop\n"
				   "  " RSA "\n"
				   "command=\"rm -rf /\" " ED " forced\n"
				   "ssh-ed25519 not*base64 x\n"
				   "ssh-ed25519\n"
				   "unknown-type AAAAC3NzaC1lZDI1NTE5AAAA\n"
				   "\n" ED "\r\n" ED;
	struct dv_buf b = { 0 };

	(void)state;
	assert_int_equal(env_sshd_keys_filter(text, strlen(text), &b), 4);
	assert_string_equal(b.s, ED "\n" RSA "\n" ED "\n" ED "\n");
	dv_buf_release(&b);
	assert_int_equal(env_sshd_keys_filter("", 0, &b), 0);
	assert_null(b.s);
}

static void test_config(void **state)
{
	struct env_record r = { 0 };
	struct dv_buf b = { 0 };

	(void)state;
	dv_strv_push(&r.env, "GREETING=hello \"there\"");
	dv_strv_push(&r.env, "BACK=a\\b");
	dv_strv_push(&r.env, "NL=a\nb");
	dv_strv_push(&r.env, "=x");
	env_sshd_config(&r, &b);
	assert_non_null(strstr(b.s, "\nUsePAM no\n"));
	assert_non_null(strstr(b.s, "\nPasswordAuthentication no\n"));
	assert_non_null(strstr(b.s, "\nHostKey " ENV_SSHD_RUNDIR "/host_key\n"));
	assert_non_null(strstr(b.s, "\nSubsystem sftp internal-sftp\n"));
	assert_non_null(strstr(b.s, "\nSetEnv \"GREETING=hello \\\"there\\\"\"\n"));
	assert_non_null(strstr(b.s, "\nSetEnv \"BACK=a\\\\b\"\n"));
	assert_null(strstr(b.s, "NL="));
	assert_null(strstr(b.s, "\"=x"));
	dv_buf_release(&b);
	dv_strv_release(&r.env);
}

static int inc(const char *text, struct dv_buf *b)
{
	return env_sshd_include(text, strlen(text), "/h/.ssh/devenv_config", b);
}

static void test_include(void **state)
{
	static const char user[] = "Host example\n\tUser someone\n";
	struct dv_buf b = { 0 };

	(void)state;
	/* None yet: made with the line alone. */
	assert_int_equal(env_sshd_include("", 0, "/h/.ssh/devenv_config", &b), 1);
	assert_non_null(strstr(b.s, "\nInclude \"/h/.ssh/devenv_config\"\n"));
	dv_buf_release(&b);
	/* First, the user's lines after it byte for byte. */
	assert_int_equal(env_sshd_include(user, strlen(user), "/h/.ssh/devenv_config", &b), 1);
	assert_true(dv_str_endswith(b.s, "\n\n"
					 "Host example\n\tUser someone\n"));
	assert_true(strstr(b.s, "Include") < strstr(b.s, "Host example"));
	/* Once: again on its own output, nothing to do. */
	{
		dv_autofree char *again = dv_buf_steal(&b);

		assert_int_equal(env_sshd_include(again, strlen(again), "/h/.ssh/devenv_config", &b),
				 0);
		assert_null(b.s);
	}
	/* The user's own spelling of it counts too; another file does not. */
	assert_int_equal(inc("  include=/h/.ssh/devenv_config\n", &b), 0);
	assert_int_equal(inc("INCLUDE other /h/.ssh/devenv_config\n", &b), 0);
	assert_int_equal(inc("Include /h/.ssh/devenv_config.old\n", &b), 1);
	dv_buf_release(&b);
	assert_int_equal(inc("# Include /h/.ssh/devenv_config\n", &b), 1);
	dv_buf_release(&b);
}

static void test_known_merge(void **state)
{
	static const char old[] = "devenv-web ssh-ed25519 OLD\n"
				  "devenv-webapp ssh-ed25519 KEEP\n"
				  "\n"
				  "devenv-api ssh-ed25519 API";
	struct dv_strv lines = { 0 };
	struct dv_buf b = { 0 };

	(void)state;
	dv_strv_push(&lines, "devenv-web ssh-ed25519 NEW");
	env_sshd_known_merge(old, strlen(old), &lines, &b);
	assert_string_equal(b.s, "devenv-webapp ssh-ed25519 KEEP\n"
				 "devenv-api ssh-ed25519 API\n"
				 "devenv-web ssh-ed25519 NEW\n");
	dv_buf_release(&b);
	dv_strv_release(&lines);
}

static void test_user_keys(void **state)
{
	char home[] = "/tmp/sshd_test.XXXXXX";
	struct dv_error err = { 0 };
	struct dv_buf b = { 0 };
	dv_autofree char *ssh = NULL;
	dv_autofree char *fifo = NULL;
	dv_autofree char *link = NULL;

	(void)state;
	assert_non_null(mkdtemp(home));
	/* No ~/.ssh: what to do. */
	assert_int_equal(env_sshd_user_keys(home, &b, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	assert_non_null(strstr(err.msg, "ssh-keygen"));
	unit_put(home, ".ssh/id_ed25519.pub", ED " me@laptop\n");
	unit_put(home, ".ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n" ED "\n");
	unit_put(home, ".ssh/authorized_keys", RSA "\n");
	ssh = dv_xasprintf("%s/.ssh", home);
	fifo = dv_xasprintf("%s/fifo.pub", ssh);
	link = dv_xasprintf("%s/link.pub", ssh);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	assert_int_equal(symlink("id_ed25519.pub", link), 0);
	err = (struct dv_error){ 0 };
	assert_int_equal(env_sshd_user_keys(home, &b, &err), 1);
	assert_string_equal(b.s, ED "\n");
	dv_buf_release(&b);
	unlink(fifo);
	unlink(link);
	{
		dv_autofree char *pub = dv_xasprintf("%s/id_ed25519.pub", ssh);

		unlink(pub);
	}
	assert_int_equal(env_sshd_user_keys(home, &b, &err), -1);
	assert_non_null(strstr(err.msg, "no public key"));
	dv_rm_tree_at(AT_FDCWD, home, &err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_filter), cmocka_unit_test(test_config),
		cmocka_unit_test(test_include),     cmocka_unit_test(test_known_merge),
		cmocka_unit_test(test_user_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
