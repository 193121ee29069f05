/* test/unit/secrets_test.c - secrets: the masker (a secret split across
 * reads), the tree scan (across its read chunks, in link targets and
 * names), and the trust requests `secrets:` makes. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "provision/provision.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/secret.h"

static const struct dv_secret two[] = {
	{ "a", "hunter2", 7 },
	{ "b", "s3cr3t-t0ken", 12 },
};

/* in fed in pieces of `step` bytes, masked. */
static char *masked(const char *in, size_t step)
{
	struct dv_mask m;
	struct dv_buf out = { 0 };
	size_t n = strlen(in);

	dv_mask_init(&m, two, 2);
	dv_buf_adds(&out, "");
	for (size_t i = 0; i < n; i += step)
		dv_mask_feed(&m, in + i, n - i < step ? n - i : step, &out);
	dv_mask_end(&m, &out);
	dv_mask_release(&m);
	return dv_buf_steal(&out);
}

static void test_mask(void **state)
{
	static const char *const in = "pw=hunter2 tok=s3cr3t-t0ken hunter hunter22 s3cr3t\n";
	static const char *const want = "pw=**** tok=**** hunter ****2 s3cr3t\n";

	(void)state;
	for (size_t step = 1; step <= strlen(in); step++) {
		dv_autofree char *got = masked(in, step);

		assert_string_equal(got, want);
	}
	{
		/* A prefix at the very end is let out at EOF. */
		dv_autofree char *got = masked("ends with hunt", 3);

		assert_string_equal(got, "ends with hunt");
	}
}

static char *tmpdir(void)
{
	char tmpl[] = "/var/tmp/devenv-secrets-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return dv_xstrdup(tmpl);
}

static int scan(const char *dir, char **path, const struct dv_secret **which)
{
	struct dv_error err = { 0 };
	dv_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	assert_true(fd >= 0);
	r = dv_secret_scan_tree(fd, two, 2, path, which, &err);
	if (r < 0)
		fail_msg("scan: %s", err.msg);
	return r;
}

static void test_scan(void **state)
{
	dv_autofree char *dir = tmpdir(), *path = NULL, *big = NULL;
	const struct dv_secret *which = NULL;
	size_t at = (1 << 20) - 5; /* across the scanner's first read */
	struct dv_error err = { 0 };
	dv_autoclose int fd = -1;

	(void)state;
	unit_put(dir, "etc/clean", "nothing here\n");
	unit_put(dir, "usr/share/hunter", "hunter2");
	assert_int_equal(scan(dir, &path, &which), 1);
	assert_string_equal(path, "usr/share/hunter");
	assert_string_equal(which->name, "a");
	free(path);
	path = NULL;
	unit_put(dir, "usr/share/hunter", "hunter3");
	assert_int_equal(scan(dir, &path, &which), 0);
	assert_null(path);

	big = dv_xcalloc(1, (1 << 20) + 64);
	memset(big, 'x', (1 << 20) + 63);
	memcpy(big + at, "s3cr3t-t0ken", 12);
	unit_put(dir, "var/big", big);
	assert_int_equal(scan(dir, &path, &which), 1);
	assert_string_equal(path, "var/big");
	assert_string_equal(which->name, "b");
	free(path);
	path = NULL;
	big[at] = 'x';
	unit_put(dir, "var/big", big);
	assert_int_equal(scan(dir, &path, &which), 0);

	/* A link's target, and a name. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(symlinkat("/x/hunter2/y", fd, "etc/link"), 0);
	assert_int_equal(scan(dir, &path, &which), 1);
	assert_string_equal(path, "etc/link");
	free(path);
	path = NULL;
	assert_int_equal(unlinkat(fd, "etc/link", 0), 0);
	unit_put(dir, "tmp/hunter2.txt", "");
	assert_int_equal(scan(dir, &path, &which), 1);
	assert_string_equal(path, "tmp/hunter2.txt");
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
}

static void test_trust(void **state)
{
	dv_autofree char *dir = tmpdir();
	static const char text[] = "secrets:\n"
				   "  rel: { file: s/tok }\n"
				   "  abs: { file: /etc/tok }\n"
				   "  var: { env: TOK }\n"
				   "  cmd: { command: pass show x }\n";
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	struct prov_requests r;
	struct dv_buf b = { 0 };

	(void)state;
	if (envfile_parse(text, strlen(text), "Envfile", dir, dir, &spec, &err) < 0)
		fail_msg("parse: %s", err.msg);
	prov_trust_requests(&spec, &r);
	for (size_t i = 0; i < r.n; i++) {
		dv_autofree char *line = prov_request_line(&r, i);

		dv_buf_addf(&b, "%s\n", line);
	}
	assert_string_equal(b.s,
			    "Envfile:3:16: secret 'abs' from host file '/etc/tok': the file's content is "
			    "given to the steps that name the secret\n"
			    "Envfile:4:15: secret 'var' from your variable 'TOK': its value is given to "
			    "the steps that name the secret\n"
			    "Envfile:5:19: secret 'cmd' from the host command 'pass show x': the command "
			    "runs on this machine as you, at each build and up that needs it, and its "
			    "output is given to the steps that name the secret\n");
	assert_string_equal(spec.secrets[0].file_rel, "s/tok");
	dv_buf_release(&b);
	prov_requests_release(&r);
	env_spec_release(&spec);
	rmdir(dir);
}

/* A secret file of the checkout is the env's to write: one far over the
 * limit (sparse, 1 GiB) is refused after at most 1 MiB read, never read
 * whole into memory (here limited to 64 MiB of data). */
static void test_big_file(void **state)
{
	dv_autofree char *dir = NULL, *tok = NULL;
	static const char text[] = "secrets:\n  big: { file: tok }\n";
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	int fd, st = 0;
	pid_t pid;

	(void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	skip(); /* a sanitizer's shadow does not fit in RLIMIT_DATA (before
		 * any allocation: skip() jumps past the cleanups) */
#endif
	dir = tmpdir();
	tok = dv_xasprintf("%s/tok", dir);
	fd = open(tok, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1LL << 30), 0);
	close(fd);
	if (envfile_parse(text, strlen(text), "Envfile", dir, dir, &spec, &err) < 0)
		fail_msg("parse: %s", err.msg);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 64 << 20, 64 << 20 };
		struct prov_secrets s;

		setrlimit(RLIMIT_DATA, &rl);
		if (prov_secrets_read(&spec, PROV_SECRETS_ALL, &s, &err) == 0)
			_exit(2);
		_exit(strstr(err.msg, "over 1 MiB") ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	env_spec_release(&spec);
	unlink(tok);
	rmdir(dir);
}

/* A secret command runs on the host, never from the checkout, whose files
 * (a .git of an unpacked project, a script it names) the env can write. */
static void test_command_not_in_checkout(void **state)
{
	dv_autofree char *dir = tmpdir();
	static const char text[] = "secrets:\n  cwd: { command: 'pwd; echo tail' }\n";
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	struct prov_secrets s;

	(void)state;
	if (envfile_parse(text, strlen(text), "Envfile", dir, dir, &spec, &err) < 0)
		fail_msg("parse: %s", err.msg);
	if (prov_secrets_read(&spec, PROV_SECRETS_ALL, &s, &err) < 0)
		fail_msg("read: %s", err.msg);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.v[0].len, strlen("/\ntail"));
	assert_memory_equal(s.v[0].data, "/\ntail", s.v[0].len);
	prov_secrets_release(&s);
	env_spec_release(&spec);
	rmdir(dir);
}

/* A devenv holding a secret dumps no core (its soft limit is 0); the hard
 * limit stays, for the env's processes to raise. */
static void test_no_core(void **state)
{
	dv_autofree char *dir = NULL;
	static const char text[] = "secrets:\n  tok: { env: DV_TEST_SECRET }\n";
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	struct prov_secrets s;
	struct rlimit before, after;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_CORE, &before), 0);
	if (before.rlim_max == 0)
		skip(); /* no core to turn off: the hard limit is 0 here */
	dir = tmpdir();
	before.rlim_cur = before.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_CORE, &before), 0);
	setenv("DV_TEST_SECRET", "hunter22", 1);
	if (envfile_parse(text, strlen(text), "Envfile", dir, dir, &spec, &err) < 0)
		fail_msg("parse: %s", err.msg);
	if (prov_secrets_read(&spec, PROV_SECRETS_ALL, &s, &err) < 0)
		fail_msg("read: %s", err.msg);
	assert_int_equal(s.n, 1);
	assert_int_equal(getrlimit(RLIMIT_CORE, &after), 0);
	assert_int_equal(after.rlim_cur, 0);
	assert_int_equal(after.rlim_max, before.rlim_max);
	prov_secrets_release(&s);
	env_spec_release(&spec);
	unsetenv("DV_TEST_SECRET");
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_big_file),
		cmocka_unit_test(test_command_not_in_checkout),
		cmocka_unit_test(test_no_core),
	};

	return cmocka_run_group_tests_name("secrets", tests, NULL, NULL);
}
