/* test/unit/registry_test.c - registry/: where a connection goes (http only
 * for loopback and listed hosts, Docker Hub and its mirror), and
 * credentials as docker keeps them (creds.c): base64, auths entries,
 * credential helpers, and a helper whose end cannot be waited for. No
 * root, no network: nothing is asked of a registry, and the helper is a
 * shell script in a temporary PATH folder. It defines waitpid(), so that a
 * test can make it fail the way it does when SIGCHLD is ignored. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

#include "registry/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

/* waitpid() for every caller in this program, creds.c's included (the
 * program's own definition comes before libc's, whatever the link line):
 * the real thing, through wait4(); or, with fail_wait, one that reaps the
 * child and then fails with ECHILD, leaving in *status what an
 * uninitialised variable may well hold: 0, "exited with 0". */
static bool fail_wait;

pid_t waitpid(pid_t pid, int *status, int options)
{
	pid_t got = wait4(pid, status, options, NULL);

	if (!fail_wait || got < 0)
		return got;
	if (status)
		*status = 0;
	errno = ECHILD;
	return -1;
}

struct fixture {
	char dir[64];
	char *old_path;
};

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* A docker config folder of our own, and docker-credential-dvtest on PATH:
 * `get` prints user "u", secret "s"; `store` and `erase` succeed. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	dv_autofree char *bin = NULL, *path = NULL;

	snprintf(f->dir, sizeof(f->dir), "/tmp/registry_test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	bin = dv_xasprintf("%s/bin", f->dir);
	if (mkdir(bin, 0700) < 0)
		return -1;
	write_file(bin, "docker-credential-dvtest",
		   "#!/bin/sh\n"
		   "cat >/dev/null\n"
		   "case $1 in get) echo '{\"ServerURL\":\"x\",\"Username\":\"u\",\"Secret\":\"s\"}' ;;\n"
		   "esac\n",
		   0755);
	f->old_path = dv_xstrdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	path = dv_xasprintf("%s:%s", bin, f->old_path);
	setenv("PATH", path, 1);
	setenv("DOCKER_CONFIG", f->dir, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fail_wait = false;
	signal(SIGCHLD, SIG_DFL);
	setenv("PATH", f->old_path, 1);
	unsetenv("DOCKER_CONFIG");
	dv_rm_tree_at(AT_FDCWD, f->dir, &(struct dv_error){ 0 });
	free(f->old_path);
	free(f);
	return 0;
}

static void test_base64(void **state)
{
	static const char *const v[][2] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "u:s", "dTpz" },
		{ "\xff\xfe", "//4=" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		dv_autofree char *got = reg_base64(v[i][0]);

		assert_string_equal(got, v[i][1]);
	}
	assert_string_equal(reg_auths_key("docker.io"), "https://index.docker.io/v1/");
	assert_string_equal(reg_auths_key("127.0.0.1:5000"), "127.0.0.1:5000");
}

/* auths.<host>.auth, under the host, https://host, or Docker Hub's key;
 * anything but base64 (it goes into a header) is refused. */
static void test_creds_auths(void **state)
{
	struct fixture *f = *state;
	dv_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	write_file(f->dir, "config.json",
		   "{\"auths\":{\"reg.example:5000\":{\"auth\":\"dTpz\"},"
		   "\"https://other.example\":{\"auth\":\"eDp5\"},"
		   "\"https://index.docker.io/v1/\":{\"auth\":\"aDpp\"},"
		   "\"bad.example\":{\"auth\":\"dTpz\\r\\nX-Evil: 1\"}}}",
		   0600);
	a = reg_creds_get("reg.example:5000");
	b = reg_creds_get("other.example");
	c = reg_creds_get("docker.io");
	d = reg_creds_get("bad.example");
	assert_string_equal(a, "dTpz");
	assert_string_equal(b, "eDp5");
	assert_string_equal(c, "aDpp");
	assert_null(d);
	assert_null(reg_creds_get("nowhere.example"));
}

static void test_creds_helper(void **state)
{
	struct fixture *f = *state;
	struct dv_error err = { 0 };
	dv_autofree char *got = NULL;
	bool found = false;

	write_file(f->dir, "config.json", "{\"credsStore\":\"dvtest\"}", 0600);
	got = reg_creds_get("reg.example");
	assert_non_null(got);
	assert_string_equal(got, "dTpz");
	assert_int_equal(reg_creds_helper_store("reg.example", "u", "s", &err), 1);
	assert_int_equal(reg_creds_helper_erase("reg.example", &found, &err), 1);
	assert_true(found);
	/* A name that is not a plain program name is no helper at all. */
	write_file(f->dir, "config.json", "{\"credsStore\":\"../dvtest\"}", 0600);
	assert_int_equal(reg_creds_helper_store("reg.example", "u", "s", &err), 0);
}

/* creds.c read the helper's exit status from an uninitialised variable
 * when waitpid() failed; whatever it held decided whether the helper's
 * output counted. A helper whose end we cannot learn has not vouched for
 * anything: no credentials, and store and erase fail. */
static void test_creds_helper_wait_fails(void **state)
{
	struct fixture *f = *state;
	struct dv_error err = { 0 };
	bool found = false;

	write_file(f->dir, "config.json", "{\"credsStore\":\"dvtest\"}", 0600);
	fail_wait = true;
	assert_null(reg_creds_get("reg.example"));
	assert_int_equal(reg_creds_helper_store("reg.example", "u", "s", &err), -1);
	assert_int_equal(err.errnum, ECHILD);
	assert_non_null(strstr(err.msg, "docker-credential-dvtest"));
	err = (struct dv_error){ 0 };
	assert_int_equal(reg_creds_helper_erase("reg.example", &found, &err), -1);
	assert_int_equal(err.errnum, ECHILD);
	fail_wait = false;
}

/* The same for real: with SIGCHLD ignored the kernel reaps the helper
 * itself, and waitpid() fails with ECHILD. */
static void test_creds_helper_sigchld_ignored(void **state)
{
	struct fixture *f = *state;
	struct dv_error err = { 0 };

	write_file(f->dir, "config.json", "{\"credsStore\":\"dvtest\"}", 0600);
	signal(SIGCHLD, SIG_IGN);
	assert_null(reg_creds_get("reg.example"));
	assert_int_equal(reg_creds_helper_store("reg.example", "u", "s", &err), -1);
	assert_int_equal(err.errnum, ECHILD);
	signal(SIGCHLD, SIG_DFL);
}

/* One connection's destination, as reg_connect() works it out. */
struct dest {
	const char *name;   /* normalised reference */
	bool push;          /* reg_open_push(): never the mirror */
	const char *origin; /* NULL: refused */
	const char *base, *host, *path;
};

static void check_dest(const struct dest *d)
{
	struct dv_error err = { 0 };
	struct reg *r = d->push ? reg_open_push(d->name, NULL, &err) : reg_open(d->name, &err);

	if (!d->origin) {
		assert_null(r);
		assert_int_equal(err.errnum, EINVAL);
		return;
	}
	if (!r)
		fail_msg("%s: %s", d->name, err.msg);
	assert_string_equal(r->origin, d->origin);
	assert_string_equal(r->base, d->base);
	assert_string_equal(r->host, d->host);
	assert_string_equal(r->path, d->path);
	assert_string_equal(reg_name(r), d->name);
	assert_true(r->insecure == !strncmp(d->origin, "http://", 7));
	reg_free(r);
}

/* Plain http only for loopback hosts and DEVENV_INSECURE_REGISTRIES, so
 * that a name in an Envfile cannot downgrade a pull to clear text; Docker
 * Hub's images from DEVENV_REGISTRY_MIRROR, but never a push. */
static void test_connect_destination(void **state)
{
	static const char hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char digest_name[128];
	const struct dest plain[] = {
		{ "127.0.0.1:5000/team/app:1", false, "http://127.0.0.1:5000",
		  "http://127.0.0.1:5000/v2/team/app", "127.0.0.1:5000", "team/app" },
		{ "localhost/x:1", false, "http://localhost", "http://localhost/v2/x", "localhost",
		  "x" },
		{ "localhost:5000/x", false, "http://localhost:5000", "http://localhost:5000/v2/x",
		  "localhost:5000", "x" },
		{ "[::1]:5000/x:1", false, "http://[::1]:5000", "http://[::1]:5000/v2/x",
		  "[::1]:5000", "x" },
		{ "localhost.evil.example/x:1", false, "https://localhost.evil.example",
		  "https://localhost.evil.example/v2/x", "localhost.evil.example", "x" },
		{ "127.0.0.1.evil.example/x:1", false, "https://127.0.0.1.evil.example",
		  "https://127.0.0.1.evil.example/v2/x", "127.0.0.1.evil.example", "x" },
		{ "reg.example:5000/x:1", false, "https://reg.example:5000",
		  "https://reg.example:5000/v2/x", "reg.example:5000", "x" },
		{ "docker.io/library/busybox:latest", false, "https://registry-1.docker.io",
		  "https://registry-1.docker.io/v2/library/busybox", "docker.io", "library/busybox" },
		{ "busybox:latest", false, NULL, NULL, NULL, NULL },
	};
	const struct dest listed[] = {
		{ "reg.example:5000/x:1", false, "http://reg.example:5000",
		  "http://reg.example:5000/v2/x", "reg.example:5000", "x" },
		{ "reg.example/x:1", false, "https://reg.example", "https://reg.example/v2/x",
		  "reg.example", "x" },
		{ "b.example/x:1", true, "http://b.example", "http://b.example/v2/x", "b.example",
		  "x" },
	};
	const struct dest mirrored[] = {
		{ "docker.io/library/busybox:latest", false, "http://mirror.example:5000",
		  "http://mirror.example:5000/v2/library/busybox", "mirror.example:5000",
		  "library/busybox" },
		{ "docker.io/library/busybox:latest", true, "https://registry-1.docker.io",
		  "https://registry-1.docker.io/v2/library/busybox", "docker.io", "library/busybox" },
		{ "quay.example/x:1", false, "https://quay.example", "https://quay.example/v2/x",
		  "quay.example", "x" },
	};
	const struct dest https_mirror = { "docker.io/library/debian:12",
					   false,
					   "https://mirror.example",
					   "https://mirror.example/v2/library/debian",
					   "mirror.example",
					   "library/debian" };
	struct dv_error err = { 0 };
	struct dest by_digest;

	(void)state;
	if (!reg_curl_load(&err))
		skip(); /* libcurl.so.4 is not installed: nothing to connect with */
	unsetenv("DEVENV_INSECURE_REGISTRIES");
	unsetenv("DEVENV_REGISTRY_MIRROR");
	setenv("DOCKER_CONFIG", "/nonexistent", 1);
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		check_dest(&plain[i]);
	snprintf(digest_name, sizeof(digest_name), "reg.example/team/app@sha256:%s", hex);
	by_digest = (struct dest){ digest_name,           false,
				   "https://reg.example", "https://reg.example/v2/team/app",
				   "reg.example",         "team/app" };
	check_dest(&by_digest);
	/* Listed with its port, a host is listed only with that port. */
	setenv("DEVENV_INSECURE_REGISTRIES", "a.example, reg.example:5000\tb.example", 1);
	for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++)
		check_dest(&listed[i]);
	unsetenv("DEVENV_INSECURE_REGISTRIES");
	setenv("DEVENV_REGISTRY_MIRROR", "http://mirror.example:5000", 1);
	for (size_t i = 0; i < sizeof(mirrored) / sizeof(mirrored[0]); i++)
		check_dest(&mirrored[i]);
	setenv("DEVENV_REGISTRY_MIRROR", "mirror.example/some/path", 1);
	check_dest(&https_mirror);
	unsetenv("DEVENV_REGISTRY_MIRROR");
	unsetenv("DOCKER_CONFIG");
}

/* A connection for another thread: the same destination and token, its
 * own copies. */
static void test_connect_dup(void **state)
{
	struct dv_error err = { 0 };
	struct reg *r, *d;

	(void)state;
	if (!reg_curl_load(&err))
		skip(); /* libcurl.so.4 is not installed: nothing to connect with */
	setenv("DOCKER_CONFIG", "/nonexistent", 1);
	r = reg_open_push("127.0.0.1:5000/team/app:1", "team/base", &err);
	assert_non_null(r);
	r->auth = dv_xstrdup("Authorization: Bearer t");
	d = reg_dup(r);
	assert_ptr_not_equal(d->base, r->base);
	assert_string_equal(d->base, r->base);
	assert_string_equal(d->auth, r->auth);
	assert_string_equal(d->from, "team/base");
	assert_true(d->push && d->insecure);
	assert_int_equal(d->chunk, r->chunk);
	reg_free(r);
	assert_string_equal(d->auth, "Authorization: Bearer t");
	reg_free(d);
	unsetenv("DOCKER_CONFIG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_destination),
		cmocka_unit_test(test_connect_dup),
		cmocka_unit_test(test_base64),
		cmocka_unit_test_setup_teardown(test_creds_auths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creds_helper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creds_helper_wait_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creds_helper_sigchld_ignored, setup, teardown),
	};

	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
