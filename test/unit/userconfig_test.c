/*
 * test/unit/userconfig_test.c - envfile/userconfig.c: the user's
 * config.yaml (`dotfiles`), its errors with positions, where it is looked
 * for, and the dotfiles trust request (provision/trust.c). No root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "envfile/envfile.h"
#include "provision/provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

static int parse(const char *text, struct env_userconfig *c, struct dv_error *err)
{
	return envfile_userconfig_parse(text, strlen(text), "config.yaml", c, err);
}

/* text must fail with exactly "config.yaml:L:C: msg" (msg: a prefix). */
static void bad(const char *text, unsigned line, unsigned col, const char *msg)
{
	struct env_userconfig c;
	struct dv_error err = { 0 };

	assert_int_equal(parse(text, &c, &err), -1);
	assert_string_equal(err.file, "config.yaml");
	assert_int_equal(err.line, line);
	assert_int_equal(err.col, col);
	if (strncmp(err.msg, msg, strlen(msg)))
		fail_msg("'%s' does not start with '%s'", err.msg, msg);
	assert_int_equal(err.status, 2);
	assert_null(c.dotfiles);
}

static void test_empty(void **state)
{
	struct env_userconfig c;
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(parse("", &c, &err), 0);
	assert_null(c.dotfiles);
	assert_int_equal(parse("# nothing yet\n", &c, &err), 0);
	assert_null(c.dotfiles);
	assert_int_equal(parse("dotfiles:\n", &c, &err), 0);
	assert_null(c.dotfiles);
}

static void test_url_forms(void **state)
{
	static const struct {
		const char *in, *url;
	} cases[] = {
		{ "https://github.com/ann/dotfiles", "https://github.com/ann/dotfiles" },
		{ "http://127.0.0.1:8000/d.git", "http://127.0.0.1:8000/d.git" },
		{ "file:///home/ann/dotfiles", "file:///home/ann/dotfiles" },
		{ "/home/ann/dotfiles", "file:///home/ann/dotfiles" },
		{ "ann/dotfiles", "https://github.com/ann/dotfiles.git" },
		{ "ann/dotfiles.git", "https://github.com/ann/dotfiles.git" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dv_autofree char *text = dv_xasprintf("dotfiles: %s\n", cases[i].in);
		struct env_userconfig c;
		struct dv_error err = { 0 };

		assert_int_equal(parse(text, &c, &err), 0);
		assert_non_null(c.dotfiles);
		assert_string_equal(c.dotfiles->repository, cases[i].url);
		assert_string_equal(c.dotfiles->target, "~/dotfiles");
		assert_null(c.dotfiles->install);
		assert_string_equal(c.dotfiles->config, "config.yaml");
		assert_int_equal(c.dotfiles->line, 1);
		assert_int_equal(c.dotfiles->col, 1);
		env_userconfig_release(&c);
	}
}

static void test_mapping(void **state)
{
	struct env_userconfig c;
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(parse("# mine\n"
			       "dotfiles:\n"
			       "  repository: https://example.com/d.git\n"
			       "  install: ./install.sh --minimal\n"
			       "  target: /opt/dots\n",
			       &c, &err),
			 0);
	assert_non_null(c.dotfiles);
	assert_string_equal(c.dotfiles->repository, "https://example.com/d.git");
	assert_string_equal(c.dotfiles->install, "./install.sh --minimal");
	assert_string_equal(c.dotfiles->target, "/opt/dots");
	assert_int_equal(c.dotfiles->line, 2);
	env_userconfig_release(&c);
	assert_int_equal(parse("dotfiles: {repository: a/b, target: ~/.dots}\n", &c, &err), 0);
	assert_string_equal(c.dotfiles->target, "~/.dots");
	env_userconfig_release(&c);
}

static void test_errors(void **state)
{
	(void)state;
	bad("- a\n", 1, 1, "the config must be a mapping");
	bad("dotfile: a/b\n", 1, 1,
	    "unknown key 'dotfile' in the config (did you mean 'dotfiles'?)");
	bad("dotfiles: a/b\ndotfiles: c/d\n", 2, 1, "duplicate key 'dotfiles'");
	bad("dotfiles: [a/b]\n", 1, 11, "'dotfiles' must be a repository URL or a mapping");
	bad("dotfiles: ftp://x/y\n", 1, 11, "'dotfiles' must be an https://, http:// or file://");
	bad("dotfiles: dots\n", 1, 11, "'dotfiles' must be an https://");
	bad("dotfiles: 'https://x/a b'\n", 1, 11, "'dotfiles' repository 'https://x/a b' contains");
	bad("dotfiles:\n  target: ~/d\n", 1, 1, "'dotfiles' needs 'repository:'");
	bad("dotfiles:\n  repository: a/b\n  instal: x\n", 3, 3,
	    "unknown key 'instal' in 'dotfiles' (did you mean 'install'?)");
	bad("dotfiles:\n  repository: a/b\n  install: [x]\n", 3, 12, "'install' must be a string");
	bad("dotfiles:\n  repository: a/b\n  target: dots\n", 3, 11, "'target' must be a folder");
	bad("dotfiles:\n  repository: a/b\n  target: \"~/\"\n", 3, 11, "'target' must be a folder");
	bad("dotfiles:\n  repository: a/b\n  target: /\n", 3, 11, "'target' must be a folder");
	bad("dotfiles:\n  repository: a/b\n  target: ~/../x\n", 3, 11, "'target' must be a folder");
	bad("dotfiles: &a x\n", 1, 11, "");
}

/* $XDG_CONFIG_HOME first, then $HOME/.config; a missing file sets
 * nothing; a bad one names its full path. */
static void test_load(void **state)
{
	char dir[] = "/tmp/devenv-userconfig-XXXXXX";
	dv_autofree char *sub = NULL, *path = NULL, *got = NULL;
	struct env_userconfig c;
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	dv_autoclose int fd = -1;
	char *old_xdg = getenv("XDG_CONFIG_HOME") ? dv_xstrdup(getenv("XDG_CONFIG_HOME")) : NULL;
	char *old_home = getenv("HOME") ? dv_xstrdup(getenv("HOME")) : NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("XDG_CONFIG_HOME", "relative", 1);
	setenv("HOME", dir, 1);
	got = envfile_userconfig_path();
	path = dv_xasprintf("%s/.config/devenv/config.yaml", dir);
	assert_string_equal(got, path);
	free(got);
	free(path);
	setenv("XDG_CONFIG_HOME", dir, 1);
	got = envfile_userconfig_path();
	path = dv_xasprintf("%s/devenv/config.yaml", dir);
	assert_string_equal(got, path);

	assert_int_equal(envfile_userconfig_load(&c, &err), 0); /* no file */
	assert_null(c.dotfiles);
	sub = dv_xasprintf("%s/devenv", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, "dotfiles: /srv/d\n", 17, &err), 0);
	assert_int_equal(envfile_userconfig_apply(&spec, NULL, &err), 0);
	assert_non_null(spec.dotfiles);
	assert_string_equal(spec.dotfiles->repository, "file:///srv/d");
	assert_string_equal(spec.dotfiles->config, path);
	env_spec_release(&spec);

	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, "dotfiles: 3\n", 12, 0), 12);
	assert_int_equal(envfile_userconfig_apply(&spec, NULL, &err), -1);
	assert_string_equal(err.file, path);
	assert_int_equal(err.line, 1);
	assert_int_equal(err.col, 11);
	assert_int_equal(err.status, 2);
	assert_null(spec.dotfiles);

	unlink(path);
	rmdir(sub);
	rmdir(dir);
	if (old_xdg)
		setenv("XDG_CONFIG_HOME", old_xdg, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	if (old_home)
		setenv("HOME", old_home, 1);
	free(old_xdg);
	free(old_home);
}

/* The trust prompt says the dotfiles go into the env; the digest holds
 * the repository, so another one asks again. */
static void test_trust(void **state)
{
	struct env_spec spec = { .display = "Envfile" };
	struct env_dotfiles d = { .repository = "https://example.com/d.git",
				  .target = "~/dotfiles",
				  .config = "/home/ann/.config/devenv/config.yaml",
				  .line = 1,
				  .col = 1 };
	struct prov_requests r;
	char a[65], b[65];
	dv_autofree char *line = NULL;

	(void)state;
	prov_trust_requests(&spec, &r);
	assert_int_equal(r.n, 0);
	prov_requests_release(&r);
	spec.dotfiles = &d;
	prov_trust_requests(&spec, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].kind, PROV_REQ_DOTFILES);
	assert_string_equal(prov_req_kind_name(r.v[0].kind), "dotfiles");
	line = prov_request_line(&r, 0);
	assert_non_null(strstr(line, "your dotfiles 'https://example.com/d.git'"));
	assert_non_null(strstr(line, "the project's processes can read them"));
	prov_trust_digest(&r, a);
	prov_requests_release(&r);
	d.repository = "https://example.com/other.git";
	prov_trust_requests(&spec, &r);
	prov_trust_digest(&r, b);
	prov_requests_release(&r);
	assert_string_not_equal(a, b);
}

/* `apt_snapshot_url`: checked as the Envfile's; applied only to an Envfile
 * with `apt_snapshot` and no URL of its own, and never a trust request. */
/* `host`: where up runs (cmd/remote.c checks it in full). */
static void test_host(void **state)
{
	struct env_userconfig c;
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(parse("host: ssh://ann@build:2222\n", &c, &err), 0);
	assert_string_equal(c.host, "ssh://ann@build:2222");
	env_userconfig_release(&c);
	bad("host: ann@build\n", 1, 7, "'host' must be an ssh://USER@HOST[:PORT] URL");
	bad("host: [a]\n", 1, 7, "'host' must be a string");
}

static void test_apt_snapshot_url(void **state)
{
	struct env_userconfig c;
	struct dv_error err = { 0 };
	char dir[] = "/tmp/devenv-uc-apt-XXXXXX";
	char *old_xdg = getenv("XDG_CONFIG_HOME") ? dv_xstrdup(getenv("XDG_CONFIG_HOME")) : NULL;
	dv_autofree char *sub = NULL, *path = NULL;
	struct prov_requests r;
	int fd;

	(void)state;
	assert_int_equal(parse("apt_snapshot_url: http://10.0.0.5/archive/\n", &c, &err), 0);
	assert_string_equal(c.apt_snapshot_url, "http://10.0.0.5/archive");
	env_userconfig_release(&c);
	bad("apt_snapshot_url: ftp://x/archive\n", 1, 19,
	    "'apt_snapshot_url' must be an http:// or https:// URL");
	bad("apt_snapshot_url: [a]\n", 1, 19, "'apt_snapshot_url' must be a string");

	assert_non_null(mkdtemp(dir));
	setenv("XDG_CONFIG_HOME", dir, 1);
	sub = dv_xasprintf("%s/devenv", dir);
	path = dv_xasprintf("%s/config.yaml", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, "apt_snapshot_url: http://10.0.0.5/a\n", 36, &err), 0);
	close(fd);
	{
		struct env_spec spec = { .display = dv_xstrdup("Envfile") };

		assert_int_equal(envfile_userconfig_apply(&spec, NULL, &err), 0);
		assert_null(spec.apt_snapshot_url); /* no apt_snapshot */
		spec.apt_snapshot = dv_xstrdup("auto");
		spec.apt_snapshot_time = 1;
		assert_int_equal(envfile_userconfig_apply(&spec, NULL, &err), 0);
		assert_string_equal(spec.apt_snapshot_url, "http://10.0.0.5/a");
		prov_trust_requests(&spec, &r);
		assert_int_equal(r.n, 0);
		prov_requests_release(&r);
		env_spec_release(&spec);
	}
	{
		struct env_spec spec = { .display = dv_xstrdup("Envfile") };

		spec.apt_snapshot = dv_xstrdup("auto");
		spec.apt_snapshot_url = dv_xstrdup("https://mirror.example.org/s");
		assert_int_equal(envfile_userconfig_apply(&spec, NULL, &err), 0);
		assert_string_equal(spec.apt_snapshot_url, "https://mirror.example.org/s");
		env_spec_release(&spec);
	}
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	if (old_xdg)
		setenv("XDG_CONFIG_HOME", old_xdg, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	free(old_xdg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_apt_snapshot_url),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
