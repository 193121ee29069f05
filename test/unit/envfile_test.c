/*
 * test/unit/envfile_test.c - envfile/ against the fixtures in
 * test/fixtures/envfile/ and temporary folder trees. No root, no network.
 *
 * Each bad/NAME.yaml must fail with exactly the line in bad/NAME.expected
 * ("Envfile:L:C: message"); a new fixture needs no code here. A fixture
 * without its .expected fails and prints the line it gave.
 */
#include <dirent.h>
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
#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

static char fixtures[PATH_MAX]; /* real path of test/fixtures/envfile */

/* ---- helpers ---- */

static char *read_text(const char *path, size_t *len)
{
	struct dv_error err = { 0 };
	char *text = NULL;
	size_t n = 0;

	if (dv_read_file_at(AT_FDCWD, path, &text, &n, &err) < 0)
		return NULL;
	if (len)
		*len = n;
	return text;
}

static void write_text(const char *dir, const char *name, const char *text)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);
	dv_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct dv_error err = { 0 };

	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, text, strlen(text), &err), 0);
}

static void make_dir(const char *dir, const char *name)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);
	struct dv_error err = { 0 };

	assert_int_equal(dv_mkdir_p(path, 0755, &err), 0);
}

static char *format_err(const struct dv_error *err)
{
	return dv_xasprintf("%s:%u:%u: %s", err->file, err->line, err->col, err->msg);
}

static int parse_fixture(const char *sub, const char *name, struct env_spec *spec,
			 struct dv_error *err)
{
	dv_autofree char *dir = dv_xasprintf("%s/%s", fixtures, sub);
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);
	dv_autofree char *text = NULL;
	size_t len = 0;

	text = read_text(path, &len);
	if (!text)
		fail_msg("cannot read fixture '%s'", path);
	return envfile_parse(text, len, "Envfile", dir, dir, spec, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .yaml files of a fixture folder, sorted. */
static void list_yaml(const char *sub, struct dv_strv *out)
{
	dv_autofree char *dir = dv_xasprintf("%s/%s", fixtures, sub);
	dv_autoclosedir DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (dv_str_endswith(de->d_name, ".yaml"))
			dv_strv_push(out, de->d_name);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
}

static int is_zeroed(const struct env_spec *spec)
{
	static const struct env_spec zero;

	return memcmp(spec, &zero, sizeof(zero)) == 0;
}

/* ---- fixtures ---- */

static void test_bad_fixtures(void **state)
{
	struct dv_strv names = { 0 };
	size_t i, failed = 0;

	(void)state;
	list_yaml("bad", &names);
	assert_true(names.n >= 20);
	for (i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		dv_autofree char *exp_path = NULL;
		dv_autofree char *expected = NULL;
		dv_autofree char *got = NULL;
		struct dv_error err = { 0 };
		struct env_spec spec = { 0 };
		size_t n;

		exp_path = dv_xasprintf("%s/bad/%.*s.expected", fixtures,
					(int)(strlen(name) - strlen(".yaml")), name);
		if (parse_fixture("bad", name, &spec, &err) == 0) {
			print_error("bad/%s: parsed without an error\n", name);
			env_spec_release(&spec);
			failed++;
			continue;
		}
		if (!is_zeroed(&spec)) {
			print_error("bad/%s: the spec is not zeroed after the error\n", name);
			failed++;
		}
		if (err.status != 2) {
			print_error("bad/%s: exit status %d, not 2\n", name, err.status);
			failed++;
		}
		got = format_err(&err);
		expected = read_text(exp_path, NULL);
		if (!expected) {
			print_error("bad/%s: no .expected file; the error was:\n%s\n", name, got);
			failed++;
			continue;
		}
		n = strlen(expected);
		while (n && (expected[n - 1] == '\n' || expected[n - 1] == '\r'))
			expected[--n] = '\0';
		if (strcmp(got, expected) != 0) {
			print_error("bad/%s:\n  expected: %s\n  got:      %s\n", name, expected,
				    got);
			failed++;
		}
	}
	dv_strv_release(&names);
	if (failed)
		fail_msg("%zu bad fixture check(s) failed", failed);
}

static void test_good_fixtures_parse(void **state)
{
	struct dv_strv names = { 0 };
	size_t i, failed = 0;

	(void)state;
	list_yaml("good", &names);
	assert_true(names.n >= 3);
	for (i = 0; i < names.n; i++) {
		struct dv_error err = { 0 };
		struct env_spec spec = { 0 };

		if (parse_fixture("good", names.v[i], &spec, &err) < 0) {
			dv_autofree char *got = format_err(&err);

			print_error("good/%s: %s\n", names.v[i], got);
			failed++;
		}
		env_spec_release(&spec);
		env_spec_release(&spec); /* twice is allowed */
	}
	dv_strv_release(&names);
	if (failed)
		fail_msg("%zu good fixture(s) failed", failed);
}

/* What `devenv init` writes must itself be a valid Envfile. */
static void test_init_template_parses(void **state)
{
	dv_autofree char *path = dv_xasprintf("%s/../../../templates/default.Envfile", fixtures);
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	size_t len = 0;
	dv_autofree char *text = read_text(path, &len);

	(void)state;
	assert_non_null(text);
	if (envfile_parse(text, len, "Envfile", fixtures, fixtures, &spec, &err) < 0) {
		dv_autofree char *got = format_err(&err);

		fail_msg("templates/default.Envfile: %s", got);
	}
	assert_string_equal(spec.image, "debian:bookworm");
	assert_true(spec.n_provision >= 1);
	env_spec_release(&spec);
}

static void test_good_minimal_defaults(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *dir = dv_xasprintf("%s/good", fixtures);

	(void)state;
	assert_int_equal(parse_fixture("good", "minimal.yaml", &spec, &err), 0);
	assert_string_equal(spec.name, "good"); /* the checkout folder's name */
	assert_string_equal(spec.image, "debian:bookworm");
	assert_string_equal(spec.workdir, "/workspace");
	assert_string_equal(spec.shell, "/bin/sh");
	assert_string_equal(spec.display, "Envfile");
	assert_string_equal(spec.checkout, dir);
	assert_int_equal(spec.n_env, 0);
	assert_int_equal(spec.n_provision, 0);
	assert_int_equal(spec.n_on_up, 0);
	assert_null(spec.user); /* no user: commands run as root */
	/* a network of its own unless `network: host` asks for the host's */
	assert_int_equal(spec.network, ENV_NET_PRIVATE);
	assert_int_equal(spec.network_line, 0);
	assert_null(spec.path); /* only envfile_load knows it */
	assert_null(spec.relpath);
	assert_false(dv_err_isset(&err));
	env_spec_release(&spec);
	assert_true(is_zeroed(&spec));
}

static void test_good_security(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "security.yaml", &spec, &err), 0);
	assert_true(spec.security.git_metadata_rw);
	assert_int_equal(spec.security.git_metadata_line, 6);
	assert_int_equal(spec.security.cap_add_line, 4);
	assert_int_equal(spec.security.seccomp_col, 3);
	env_spec_release(&spec);
	assert_int_equal(parse_fixture("good", "minimal.yaml", &spec, &err), 0);
	assert_false(spec.security.git_metadata_rw); /* read-only unless asked */
	env_spec_release(&spec);
}

static void test_good_user(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "user.yaml", &spec, &err), 0);
	assert_string_equal(spec.user, "_dev-1");
	env_spec_release(&spec);
}

/* volumes: the short form's options, the mapping form, `shared` and its
 * position (a trust request). */
static void test_good_volumes_shared(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *files = dv_xasprintf("%s/good/files", fixtures);
	const struct env_service *db;

	(void)state;
	assert_int_equal(parse_fixture("good", "volumes-shared.yaml", &spec, &err), 0);
	assert_int_equal(spec.n_volumes, 4);
	assert_string_equal(spec.volumes[0].source, "cache");
	assert_false(spec.volumes[0].shared);
	assert_false(spec.volumes[0].readonly);
	assert_string_equal(spec.volumes[1].source, "toolcache");
	assert_string_equal(spec.volumes[1].target, "/opt/tools");
	assert_true(spec.volumes[1].shared);
	assert_true(spec.volumes[1].readonly);
	assert_int_equal(spec.volumes[1].line, 3);
	assert_int_equal(spec.volumes[1].col, 5);
	assert_string_equal(spec.volumes[2].source, "pgdata");
	assert_true(spec.volumes[2].volume);
	assert_true(spec.volumes[2].readonly);
	assert_false(spec.volumes[2].shared);
	assert_string_equal(spec.volumes[3].source, "team-cache");
	assert_string_equal(spec.volumes[3].target, "/srv/cache");
	assert_true(spec.volumes[3].shared);
	assert_false(spec.volumes[3].readonly);
	assert_int_equal(spec.volumes[3].line, 5);
	assert_int_equal(spec.volumes[3].col, 5);
	assert_int_equal(spec.n_mounts, 1);
	assert_false(spec.mounts[0].volume);
	assert_string_equal(spec.mounts[0].source_abs, files);
	assert_true(spec.mounts[0].readonly);
	db = &spec.services[0];
	assert_int_equal(db->n_volumes, 3);
	assert_true(db->volumes[0].volume);
	assert_true(db->volumes[0].shared);
	assert_false(db->volumes[0].readonly);
	assert_true(db->volumes[1].volume);
	assert_false(db->volumes[1].shared);
	assert_string_equal(db->volumes[1].target, "/data");
	assert_false(db->volumes[2].volume);
	assert_string_equal(db->volumes[2].source_abs, files);
	env_spec_release(&spec);
	assert_true(is_zeroed(&spec));
}

/* network, ports, volumes, mounts, services: defaults filled, paths resolved. */
static void test_good_daily(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *files = dv_xasprintf("%s/good/files", fixtures);
	dv_autofree char *data = dv_xasprintf("%s/good/files/data", fixtures);
	const struct env_service *db, *cache, *web;

	(void)state;
	assert_int_equal(parse_fixture("good", "daily.yaml", &spec, &err), 0);
	assert_int_equal(spec.network, ENV_NET_PRIVATE);
	assert_int_equal(spec.n_ports, 5);
	assert_string_equal(spec.ports[0].host_ip, "127.0.0.1");
	assert_int_equal(spec.ports[0].host_port, 8000);
	assert_int_equal(spec.ports[0].container_port, 8000);
	assert_int_equal(spec.ports[1].host_port, 5433);
	assert_int_equal(spec.ports[1].container_port, 5432);
	/* "9000" alone is a free host port of devenv's choosing (env/net.c) */
	assert_true(spec.ports[2].auto_port);
	assert_int_equal(spec.ports[2].host_port, 0);
	assert_int_equal(spec.ports[2].container_port, 9000);
	assert_false(spec.ports[0].auto_port);
	assert_string_equal(spec.ports[3].host_ip, "::1");
	assert_int_equal(spec.ports[3].container_port, 80);
	assert_string_equal(spec.ports[4].host_ip, "0.0.0.0");
	assert_int_equal(spec.ports[1].line, 5);

	assert_int_equal(spec.n_volumes, 2);
	assert_true(spec.volumes[0].volume);
	assert_string_equal(spec.volumes[0].source, "cache");
	assert_null(spec.volumes[0].source_abs);
	assert_string_equal(spec.volumes[0].target, "/home/dev/.cache");
	assert_false(spec.volumes[0].readonly);
	assert_true(spec.volumes[1].readonly);

	assert_int_equal(spec.n_mounts, 3);
	assert_false(spec.mounts[0].volume);
	assert_string_equal(spec.mounts[0].source, "./files/data");
	assert_string_equal(spec.mounts[0].source_abs, data);
	assert_true(spec.mounts[0].readonly);
	assert_string_equal(spec.mounts[1].source_abs, files); /* no "./" needed */
	assert_false(spec.mounts[1].readonly);
	assert_string_equal(spec.mounts[2].source_abs, "/tmp");

	assert_int_equal(spec.n_services, 3);
	db = &spec.services[0];
	cache = &spec.services[1];
	web = &spec.services[2];
	assert_string_equal(db->name, "db");
	assert_string_equal(db->image, "postgres:15");
	assert_int_equal(db->n_env, 1);
	assert_string_equal(db->env[0].key, "POSTGRES_PASSWORD");
	assert_int_equal(db->command.n, 0);
	assert_int_equal(db->n_volumes, 2);
	assert_true(db->volumes[0].volume);
	assert_false(db->volumes[1].volume);
	assert_string_equal(db->volumes[1].source_abs, files);
	assert_int_equal(cache->command.n, 3);
	assert_string_equal(cache->command.v[0], "/bin/sh");
	assert_string_equal(cache->command.v[2], "redis-server --save \"\"");
	assert_int_equal(web->command.n, 4);
	assert_string_equal(web->command.v[0], "httpd");
	env_spec_release(&spec);
	assert_true(is_zeroed(&spec));
}

/* cache_from: one reference, or a list, in order. */
static void test_good_cache_from(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "cache-from.yaml", &spec, &err), 0);
	assert_int_equal(spec.cache_from.n, 1);
	assert_string_equal(spec.cache_from.v[0], "registry.example.com/team/app-dev:cache");
	env_spec_release(&spec);
	assert_int_equal(parse_fixture("good", "cache-from-list.yaml", &spec, &err), 0);
	assert_int_equal(spec.cache_from.n, 2);
	assert_string_equal(spec.cache_from.v[0], "registry.example.com/team/app-dev:cache");
	assert_true(strstr(spec.cache_from.v[1], "@sha256:0123") != NULL);
	env_spec_release(&spec);
	assert_int_equal(spec.cache_from.n, 0);
}

/* cache_trust: its path below the checkout, doubled slashes gone;
 * absent: NULL. */
static void test_good_cache_trust(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "cache-trust.yaml", &spec, &err), 0);
	assert_string_equal(spec.cache_trust, ".devenv/allowed_signers");
	assert_int_equal(spec.cache_trust_line, 3);
	assert_int_equal(spec.cache_trust_col, 1);
	env_spec_release(&spec);
	assert_int_equal(parse_fixture("good", "minimal.yaml", &spec, &err), 0);
	assert_null(spec.cache_trust);
	env_spec_release(&spec);
}

static void test_good_git_credentials(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "gitcred.yaml", &spec, &err), 0);
	assert_int_equal(spec.git_credentials.n, 4);
	assert_string_equal(spec.git_credentials.v[0], "github.com");
	assert_string_equal(spec.git_credentials.v[1], "git.example.com:8443");
	assert_string_equal(spec.git_credentials.v[2], "[::1]:3000");
	assert_string_equal(spec.git_credentials.v[3], "127.0.0.1");
	assert_int_equal(spec.git_credentials_line, 1);
	env_spec_release(&spec);
	assert_int_equal(parse_fixture("good", "minimal.yaml", &spec, &err), 0);
	assert_int_equal(spec.git_credentials.n, 0);
	assert_int_equal(spec.git_credentials_line, 0);
	env_spec_release(&spec);
}

static void test_good_full(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *req = dv_xasprintf("%s/good/files/requirements.txt", fixtures);
	dv_autofree char *files = dv_xasprintf("%s/good/files", fixtures);

	(void)state;
	assert_int_equal(parse_fixture("good", "full.yaml", &spec, &err), 0);
	assert_string_equal(spec.name, "shop");
	assert_string_equal(spec.image, "docker.io/library/python:3.12-slim");
	assert_string_equal(spec.workdir, "/src/shop");
	assert_string_equal(spec.shell, "/bin/bash");

	assert_int_equal(spec.n_env, 5);
	assert_string_equal(spec.env[0].key, "PYTHONDONTWRITEBYTECODE");
	assert_string_equal(spec.env[0].value, "1");
	assert_string_equal(spec.env[1].key, "DEBUG");
	assert_string_equal(spec.env[1].value, "true");
	assert_string_equal(spec.env[2].key, "RATIO");
	assert_string_equal(spec.env[2].value, "1.50");
	assert_string_equal(spec.env[3].key, "_EMPTY");
	assert_string_equal(spec.env[3].value, "");
	assert_string_equal(spec.env[4].key, "GREETING");
	assert_string_equal(spec.env[4].value, "hello: world");

	assert_int_equal(spec.n_provision, 5);
	assert_int_equal(spec.provision[0].kind, ENV_STEP_RUN);
	assert_string_equal(spec.provision[0].run, "apt-get update && apt-get install -y libpq-dev");
	assert_int_equal(spec.provision[0].line, 13);
	assert_int_equal(spec.provision[0].col, 5);
	assert_null(spec.provision[0].copy);
	assert_int_equal(spec.provision[1].kind, ENV_STEP_COPY);
	assert_string_equal(spec.provision[1].copy, "files/requirements.txt");
	assert_string_equal(spec.provision[1].copy_abs, req);
	assert_string_equal(spec.provision[1].to, "/tmp/requirements.txt");
	assert_null(spec.provision[1].run);
	assert_int_equal(spec.provision[1].line, 14);
	assert_int_equal(spec.provision[2].kind, ENV_STEP_RUN);
	assert_string_equal(spec.provision[2].run, "pip install -r /tmp/requirements.txt\n"
						   "rm /tmp/requirements.txt\n");
	/* a folder, named with a "./" and a harmless "..", resolves to itself */
	assert_int_equal(spec.provision[3].kind, ENV_STEP_COPY);
	assert_string_equal(spec.provision[3].copy, "./files/../files");
	assert_string_equal(spec.provision[3].copy_abs, files);
	assert_string_equal(spec.provision[3].to, "/opt/files");
	/* "run: true" is the command true, not a boolean */
	assert_string_equal(spec.provision[4].run, "true");

	assert_int_equal(spec.n_on_up, 1);
	assert_int_equal(spec.on_up[0].kind, ENV_STEP_RUN);
	assert_string_equal(spec.on_up[0].run, "./scripts/migrate");
	env_spec_release(&spec);
}

static void test_good_null_lists(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "null-lists.yaml", &spec, &err), 0);
	assert_string_equal(spec.name, "0.dev_env-1");
	assert_string_equal(spec.image, "alpine");
	assert_string_equal(spec.workdir, "/w/"); /* kept as written */
	assert_int_equal(spec.n_env, 0);
	assert_int_equal(spec.n_provision, 0);
	assert_int_equal(spec.n_on_up, 0);
	env_spec_release(&spec);
}

/* `cache`: top-level and a step's, trailing '/' dropped, positions kept;
 * a step without one has none of its own. */
static void test_good_cache(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "cache.yaml", &spec, &err), 0);
	assert_int_equal(spec.n_cache, 2);
	assert_string_equal(spec.cache[0].path, "/var/cache/apt");
	assert_string_equal(spec.cache[1].path, "/var/lib/apt/lists");
	assert_int_equal(spec.cache[1].line, 2);
	assert_int_equal(spec.cache[1].col, 26);
	assert_int_equal(spec.n_provision, 2);
	assert_int_equal(spec.provision[0].n_cache, 2);
	assert_string_equal(spec.provision[0].cache[0].path, "/root/.cache/pip");
	assert_int_equal(spec.provision[0].cache[0].line, 5);
	assert_string_equal(spec.provision[0].cache[1].path, "/var/cache/apt");
	assert_int_equal(spec.provision[1].n_cache, 0);
	env_spec_release(&spec);
}

static void test_good_flow_style(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "flow.yaml", &spec, &err), 0);
	assert_string_equal(spec.image, "registry.example.org:5000/team/base@sha256:abc");
	assert_int_equal(spec.n_env, 2);
	assert_string_equal(spec.env[0].key, "A");
	assert_string_equal(spec.env[0].value, "x y");
	assert_string_equal(spec.env[1].value, "no");
	assert_int_equal(spec.n_provision, 2);
	assert_string_equal(spec.provision[0].run, "echo one");
	assert_string_equal(spec.provision[1].run, "echo 'two'");
	assert_int_equal(spec.n_on_up, 1);
	assert_string_equal(spec.on_up[0].run, "date");
	env_spec_release(&spec);
}

/* ---- temporary trees ---- */

struct tree {
	char root[PATH_MAX]; /* real path of a fresh temporary folder */
};

static int tree_setup(void **state)
{
	struct tree *t = dv_xcalloc(1, sizeof(*t));
	char tmpl[] = "/tmp/envfile-test.XXXXXX";
	char *real;

	if (!mkdtemp(tmpl))
		return -1;
	real = realpath(tmpl, NULL);
	if (!real)
		return -1;
	snprintf(t->root, sizeof(t->root), "%s", real);
	free(real);
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	struct dv_error err = { 0 };
	int r = dv_rm_tree_at(AT_FDCWD, t->root, &err);

	free(t);
	return r;
}

static void test_find_in_repo(void **state)
{
	struct tree *t = *state;
	struct dv_error err = { 0 };
	dv_autofree char *repo = dv_xasprintf("%s/repo", t->root);
	dv_autofree char *start = dv_xasprintf("%s/repo/a/b", t->root);
	dv_autofree char *want = dv_xasprintf("%s/repo/Envfile", t->root);
	dv_autofree char *path = NULL;
	dv_autofree char *checkout = NULL;

	make_dir(t->root, "repo/.git");
	make_dir(t->root, "repo/a/b");
	write_text(repo, "Envfile", "image: alpine\n");
	/* an Envfile above the repository is never found from inside it */
	write_text(t->root, "Envfile", "image: wrong\n");
	assert_int_equal(envfile_find(start, &path, &checkout, &err), 0);
	assert_string_equal(path, want);
	assert_string_equal(checkout, repo);
	free(path);
	free(checkout);
	/* start at the root itself */
	assert_int_equal(envfile_find(repo, &path, &checkout, &err), 0);
	assert_string_equal(path, want);
	assert_string_equal(checkout, repo);
}

static void test_find_in_subfolder(void **state)
{
	struct tree *t = *state;
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *repo = dv_xasprintf("%s/repo", t->root);
	dv_autofree char *sub = dv_xasprintf("%s/repo/svc/api", t->root);
	dv_autofree char *start = dv_xasprintf("%s/repo/svc/api/src/x", t->root);
	dv_autofree char *want = dv_xasprintf("%s/repo/svc/api/Envfile", t->root);
	dv_autofree char *path = NULL;
	dv_autofree char *checkout = NULL;

	/* .git as a file, as in a worktree or a submodule */
	make_dir(t->root, "repo/svc/api/src/x");
	write_text(repo, ".git", "gitdir: /elsewhere/.git/worktrees/repo\n");
	write_text(repo, "Envfile", "image: outer\n");
	write_text(sub, "Envfile", "image: inner\n");
	assert_int_equal(envfile_find(start, &path, &checkout, &err), 0);
	assert_string_equal(path, want);
	assert_string_equal(checkout, repo);

	assert_int_equal(envfile_load(path, checkout, "svc/api/Envfile", &spec, &err), 0);
	assert_string_equal(spec.path, want);
	assert_string_equal(spec.relpath, "svc/api/Envfile");
	assert_string_equal(spec.checkout, repo);
	assert_string_equal(spec.display, "svc/api/Envfile");
	assert_string_equal(spec.image, "inner");
	assert_string_equal(spec.name, "repo"); /* the checkout's name, not the subfolder's */
	env_spec_release(&spec);
}

static void test_find_without_git(void **state)
{
	struct tree *t = *state;
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *proj = dv_xasprintf("%s/My Project", t->root);
	dv_autofree char *start = dv_xasprintf("%s/My Project/deep/er", t->root);
	dv_autofree char *want = dv_xasprintf("%s/My Project/Envfile", t->root);
	dv_autofree char *path = NULL;
	dv_autofree char *checkout = NULL;
	char cwd[PATH_MAX];

	make_dir(t->root, "My Project/deep/er");
	write_text(proj, "Envfile", "shell: /bin/zsh\n");
	assert_int_equal(envfile_find(start, &path, &checkout, &err), 0);
	assert_string_equal(path, want);
	assert_string_equal(checkout, proj); /* no repository: the Envfile's folder */

	/* a relative path and no display name */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(start), 0);
	assert_int_equal(envfile_load("../../Envfile", NULL, NULL, &spec, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(spec.path, want);
	assert_string_equal(spec.relpath, "Envfile");
	assert_string_equal(spec.checkout, proj);
	assert_string_equal(spec.display, "../../Envfile");
	assert_string_equal(spec.name, "my-project"); /* made valid from "My Project" */
	assert_string_equal(spec.shell, "/bin/zsh");
	env_spec_release(&spec);
}

static void test_find_none(void **state)
{
	struct tree *t = *state;
	struct dv_error err = { 0 };
	dv_autofree char *repo = dv_xasprintf("%s/repo", t->root);
	dv_autofree char *start = dv_xasprintf("%s/repo/src", t->root);
	dv_autofree char *want = NULL;
	char *path = (char *)"unset", *checkout = (char *)"unset";

	make_dir(t->root, "repo/.git");
	make_dir(t->root, "repo/src/Envfile"); /* a folder is not an Envfile */
	write_text(t->root, "Envfile", "image: above-the-repo\n");
	assert_int_equal(envfile_find(start, &path, &checkout, &err), -1);
	assert_null(path);
	assert_null(checkout);
	assert_int_equal(err.errnum, ENOENT);
	want = dv_xasprintf("no Envfile in '%s' or its parents up to the repository root; "
			    "run 'devenv init' to write one",
			    start);
	assert_string_equal(err.msg, want);
	(void)repo;
}

static void test_find_missing_start(void **state)
{
	struct tree *t = *state;
	struct dv_error err = { 0 };
	dv_autofree char *start = dv_xasprintf("%s/nope", t->root);
	char *path = NULL, *checkout = NULL;

	assert_int_equal(envfile_find(start, &path, &checkout, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	assert_null(path);
	assert_null(checkout);
}

static void test_load_missing_file(void **state)
{
	struct tree *t = *state;
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *path = dv_xasprintf("%s/Envfile", t->root);

	assert_int_equal(envfile_load(path, t->root, "Envfile", &spec, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	assert_string_equal(err.msg, "cannot open 'Envfile': No such file or directory");
	assert_true(is_zeroed(&spec));
}

static void test_load_outside_checkout(void **state)
{
	struct tree *t = *state;
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *path = dv_xasprintf("%s/Envfile", t->root);
	dv_autofree char *repo = dv_xasprintf("%s/repo", t->root);

	make_dir(t->root, "repo");
	write_text(t->root, "Envfile", "image: alpine\n");
	assert_int_equal(envfile_load(path, repo, "Envfile", &spec, &err), -1);
	assert_true(is_zeroed(&spec));
}

/* Load an Envfile written into t->root/repo/sub (the checkout is repo) and
 * return its error line, or NULL when it loads. */
static char *load_in_repo(struct tree *t, const char *text, struct env_spec *spec)
{
	struct dv_error err = { 0 };
	dv_autofree char *repo = dv_xasprintf("%s/repo", t->root);
	dv_autofree char *sub = dv_xasprintf("%s/repo/sub", t->root);
	dv_autofree char *path = dv_xasprintf("%s/repo/sub/Envfile", t->root);

	write_text(sub, "Envfile", text);
	if (envfile_load(path, repo, "sub/Envfile", spec, &err) == 0)
		return NULL;
	assert_true(is_zeroed(spec));
	return format_err(&err);
}

static int repo_setup(void **state)
{
	struct tree *t;

	if (tree_setup(state) < 0)
		return -1;
	t = *state;
	make_dir(t->root, "repo/.git");
	make_dir(t->root, "repo/sub/data");
	write_text(t->root, "secret.txt", "outside\n");
	write_text(t->root, "repo/top.txt", "inside\n");
	write_text(t->root, "repo/sub/data/a.txt", "a\n");
	return 0;
}

static void make_link(const char *dir, const char *name, const char *target)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);

	assert_int_equal(symlink(target, path), 0);
}

static void test_copy_inside(void **state)
{
	struct tree *t = *state;
	struct env_spec spec = { 0 };
	dv_autofree char *top = dv_xasprintf("%s/repo/top.txt", t->root);
	dv_autofree char *a = dv_xasprintf("%s/repo/sub/data/a.txt", t->root);
	dv_autofree char *got = NULL;

	/* ".." that stays inside the checkout is fine; so is a link inside it */
	make_link(t->root, "repo/sub/link.txt", "data/a.txt");
	got = load_in_repo(t,
			   "provision:\n"
			   "  - copy: ../top.txt\n"
			   "    to: /tmp/top.txt\n"
			   "  - copy: link.txt\n"
			   "    to: /tmp/a.txt\n",
			   &spec);
	assert_null(got);
	assert_int_equal(spec.n_provision, 2);
	assert_string_equal(spec.provision[0].copy, "../top.txt");
	assert_string_equal(spec.provision[0].copy_abs, top);
	assert_string_equal(spec.provision[1].copy, "link.txt");
	assert_string_equal(spec.provision[1].copy_abs, a);
	assert_string_equal(spec.relpath, "sub/Envfile");
	env_spec_release(&spec);
}

static void test_copy_outside_dotdot(void **state)
{
	struct tree *t = *state;
	struct env_spec spec = { 0 };
	dv_autofree char *got = NULL;

	got = load_in_repo(t,
			   "image: alpine\n"
			   "provision:\n"
			   "  - copy: ../../secret.txt\n"
			   "    to: /tmp/secret.txt\n",
			   &spec);
	assert_non_null(got);
	assert_string_equal(got, "sub/Envfile:3:11: 'copy' path '../../secret.txt' is outside "
				 "the checkout; only files of the checkout can be copied");
}

static void test_copy_outside_symlink(void **state)
{
	struct tree *t = *state;
	struct env_spec spec = { 0 };
	dv_autofree char *target = dv_xasprintf("%s/secret.txt", t->root);
	dv_autofree char *got = NULL;

	make_link(t->root, "repo/sub/innocent.txt", target);
	make_link(t->root, "repo/sub/etc", "/etc");
	got = load_in_repo(t,
			   "provision:\n"
			   "  - copy: data/a.txt\n"
			   "    to: /tmp/a.txt\n"
			   "  - {copy: innocent.txt, to: /tmp/x}\n",
			   &spec);
	assert_non_null(got);
	assert_string_equal(got, "sub/Envfile:4:12: 'copy' path 'innocent.txt' is outside the "
				 "checkout; only files of the checkout can be copied");
	free(got);
	/* a link to a folder outside, with a path through it */
	got = load_in_repo(t, "provision:\n  - copy: etc/hostname\n    to: /tmp/h\n", &spec);
	assert_string_equal(got, "sub/Envfile:2:11: 'copy' path 'etc/hostname' is outside the "
				 "checkout; only files of the checkout can be copied");
}

static void test_copy_missing(void **state)
{
	struct tree *t = *state;
	struct env_spec spec = { 0 };
	dv_autofree char *got = NULL;

	/* top.txt exists, but in the checkout's root: paths start at the Envfile */
	got = load_in_repo(t, "provision:\n  - copy: top.txt\n    to: /tmp/top.txt\n", &spec);
	assert_string_equal(got, "sub/Envfile:2:11: 'copy' path 'top.txt' does not exist; paths "
				 "are relative to the Envfile's folder");
	free(got);
	make_link(t->root, "repo/sub/dangling", "nowhere");
	got = load_in_repo(t, "provision:\n  - copy: dangling\n    to: /tmp/d\n", &spec);
	assert_string_equal(got, "sub/Envfile:2:11: 'copy' path 'dangling' does not exist; paths "
				 "are relative to the Envfile's folder");
}

/* An absolute mount source written inside the checkout is held to the
 * rule of a relative one: the checkout's own symlink must not turn a path
 * that reads as the project's (as the trust prompt shows it) into a host
 * folder. One written outside stays the writer's choice. */
static void test_mount_absolute_inside_checkout(void **state)
{
	struct tree *t = *state;
	struct env_spec spec = { 0 };
	dv_autofree char *data = dv_xasprintf("%s/repo/sub/data", t->root);
	dv_autofree char *text = NULL;
	dv_autofree char *got = NULL;

	make_link(t->root, "repo/sub/out", t->root);
	make_link(t->root, "outlink", "repo/sub/data");
	text = dv_xasprintf("mounts: [\"%s/repo/sub/data:/d\", \"%s/outlink:/o\"]\n", t->root,
			    t->root);
	got = load_in_repo(t, text, &spec);
	assert_null(got);
	assert_string_equal(spec.mounts[0].source_abs, data);
	assert_string_equal(spec.mounts[1].source_abs, data); /* outside: as written */
	env_spec_release(&spec);
	free(text);
	text = dv_xasprintf("mounts: [\"%s/repo/sub/out:/x\"]\n", t->root);
	got = load_in_repo(t, text, &spec);
	assert_non_null(got);
	assert_non_null(strstr(got, "sub/Envfile:1:10: 'mounts': '"));
	assert_non_null(strstr(got, "' is inside the checkout but leads outside it (a symlink?); "
				    "write the path it leads to if you mean to share that folder"));
}

static void test_parse_in_memory(void **state)
{
	static const char text[] = "image: alpine\nname: x\n";
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	/* only len counts: what follows it is not read */
	assert_int_equal(envfile_parse(text, strlen("image: alpine\n"), "E", "/", "/", &spec, &err),
			 0);
	assert_string_equal(spec.image, "alpine");
	assert_string_equal(spec.name, "env"); /* "/" has no name to take */
	env_spec_release(&spec);
}

/* Each provisioning step is a layer: ENV_MAX_LAYERS steps load, one more is
 * an error at that step, before anything is built (issue 12); on_up steps
 * are no layers. */
static void test_layer_limit(void **state)
{
	struct dv_buf text = { 0 };
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	dv_autofree char *msg = NULL;

	(void)state;
	dv_buf_adds(&text, "image: alpine\nprovision:\n");
	for (int i = 0; i < ENV_MAX_LAYERS; i++)
		dv_buf_addf(&text, "  - run: echo %d\n", i);
	dv_buf_adds(&text, "on_up:\n");
	for (int i = 0; i <= ENV_MAX_LAYERS; i++)
		dv_buf_addf(&text, "  - run: echo %d\n", i);
	assert_int_equal(envfile_parse(text.s, text.len, "Envfile", "/", "/", &spec, &err), 0);
	assert_int_equal(spec.n_provision, ENV_MAX_LAYERS);
	env_spec_release(&spec);
	dv_buf_release(&text);

	dv_buf_adds(&text, "image: alpine\nprovision:\n");
	for (int i = 0; i <= ENV_MAX_LAYERS; i++)
		dv_buf_addf(&text, "  - run: echo %d\n", i);
	assert_int_equal(envfile_parse(text.s, text.len, "Envfile", "/", "/", &spec, &err), -1);
	msg = format_err(&err);
	assert_string_equal(msg, "Envfile:502:5: step 500 is one layer too many: an env has at "
				 "most 499 layers, its image's and one per step (overlay's limit); "
				 "merge steps, as one 'run' joined with '&&'");
	assert_true(is_zeroed(&spec));
	dv_buf_release(&text);
}

/* `network: host` is asked for, with its position (for the trust prompt);
 * `private` is the default spelt out. */
static void test_network_host(void **state)
{
	static const char host[] = "image: alpine\nnetwork: host\n";
	static const char priv[] = "image: alpine\nnetwork: private\n";
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(envfile_parse(host, strlen(host), "E", "/", "/", &spec, &err), 0);
	assert_int_equal(spec.network, ENV_NET_HOST);
	assert_int_equal(spec.network_line, 2);
	assert_int_equal(spec.network_col, 1);
	env_spec_release(&spec);
	assert_int_equal(envfile_parse(priv, strlen(priv), "E", "/", "/", &spec, &err), 0);
	assert_int_equal(spec.network, ENV_NET_PRIVATE);
	env_spec_release(&spec);
}

/* `ssh_agent`: true, confirm, a list (comments and fingerprints), false;
 * a step's own `ssh_agent: true`, which leaves on_up and the rest alone. */
static void test_ssh_agent(void **state)
{
	static const char all[] = "ssh_agent: true\n";
	static const char confirm[] = "ssh_agent: confirm\n";
	static const char off[] = "ssh_agent: false\n";
	static const char list[] =
		"image: alpine\nssh_agent:\n  - work key\n"
		"  - SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n"
		"provision:\n  - run: git clone x\n    ssh_agent: true\n  - run: make\n";
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(envfile_parse(all, strlen(all), "E", "/", "/", &spec, &err), 0);
	assert_int_equal(spec.ssh_agent.mode, ENV_AGENT_ALL);
	assert_int_equal(spec.ssh_agent.line, 1);
	env_spec_release(&spec);
	assert_int_equal(envfile_parse(confirm, strlen(confirm), "E", "/", "/", &spec, &err), 0);
	assert_int_equal(spec.ssh_agent.mode, ENV_AGENT_CONFIRM);
	env_spec_release(&spec);
	assert_int_equal(envfile_parse(off, strlen(off), "E", "/", "/", &spec, &err), 0);
	assert_int_equal(spec.ssh_agent.mode, ENV_AGENT_NONE);
	env_spec_release(&spec);
	assert_int_equal(envfile_parse(list, strlen(list), "E", "/", "/", &spec, &err), 0);
	assert_int_equal(spec.ssh_agent.mode, ENV_AGENT_LIST);
	assert_int_equal(spec.ssh_agent.line, 2);
	assert_int_equal(spec.ssh_agent.keys.n, 2);
	assert_string_equal(spec.ssh_agent.keys.v[0], "work key");
	assert_string_equal(spec.ssh_agent.keys.v[1],
			    "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
	assert_int_equal(spec.n_provision, 2);
	assert_true(spec.provision[0].ssh_agent);
	assert_false(spec.provision[1].ssh_agent);
	env_spec_release(&spec);
}

static void test_good_new_steps(void **state)
{
	static const char text[] =
		"image: alpine\n"
		"provision:\n"
		"  - git: file:///srv/repo.git\n    to: /src\n"
		"  - git: https://example.com/r.git\n    ref: release/1.2\n    to: /r\n"
		"  - download: http://example.com/t.tgz\n"
		"    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
		"    to: /opt/\n"
		"  - run: make\n    env: {CC: clang, X: \"\"}\n"
		"on_up:\n  - env:\n      PORT: 8000\n    run: ./serve\n";
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	if (envfile_parse(text, sizeof(text) - 1, "Envfile", "/", "/", &spec, &err) < 0)
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	assert_int_equal(spec.n_provision, 4);
	assert_int_equal(spec.provision[0].kind, ENV_STEP_GIT);
	assert_string_equal(spec.provision[0].git, "file:///srv/repo.git");
	assert_null(spec.provision[0].ref);
	assert_string_equal(spec.provision[0].to, "/src");
	assert_string_equal(spec.provision[1].ref, "release/1.2");
	assert_int_equal(spec.provision[2].kind, ENV_STEP_DOWNLOAD);
	assert_string_equal(spec.provision[2].download, "http://example.com/t.tgz");
	assert_string_equal(spec.provision[2].sha256,
			    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	assert_string_equal(spec.provision[2].to, "/opt/");
	assert_int_equal(spec.provision[3].n_env, 2);
	assert_string_equal(spec.provision[3].env[0].key, "CC");
	assert_string_equal(spec.provision[3].env[0].value, "clang");
	assert_string_equal(spec.provision[3].env[1].value, "");
	assert_int_equal(spec.on_up[0].n_env, 1);
	assert_string_equal(spec.on_up[0].env[0].value, "8000");
	assert_string_equal(spec.on_up[0].run, "./serve");
	env_spec_release(&spec);
}

/* `auto` ports: every spelling, and explicit ones beside them. */
static void test_good_auto_ports(void **state)
{
	static const char text[] = "ports:\n"
				   "  - \"auto:8000\"\n"
				   "  - \"0.0.0.0:auto:8001/tcp\"\n"
				   "  - \"[::1]:auto:8000\"\n"
				   "  - \"127.0.0.1::8002\"\n"
				   "  - \"8003\"\n"
				   "  - \"20000:8000\"\n";
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	if (envfile_parse(text, sizeof(text) - 1, "Envfile", "/", "/", &spec, &err) < 0)
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	assert_int_equal(spec.n_ports, 6);
	for (size_t i = 0; i < 5; i++) {
		assert_true(spec.ports[i].auto_port);
		assert_int_equal(spec.ports[i].host_port, 0);
	}
	assert_string_equal(spec.ports[0].host_ip, "127.0.0.1");
	assert_int_equal(spec.ports[0].container_port, 8000);
	assert_string_equal(spec.ports[1].host_ip, "0.0.0.0");
	assert_int_equal(spec.ports[1].container_port, 8001);
	assert_string_equal(spec.ports[2].host_ip, "::1");
	assert_int_equal(spec.ports[3].container_port, 8002);
	assert_int_equal(spec.ports[4].container_port, 8003);
	assert_false(spec.ports[5].auto_port);
	assert_int_equal(spec.ports[5].host_port, 20000);
	assert_int_equal(spec.ports[5].line, 7);
	env_spec_release(&spec);
}

static void test_good_resources(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "resources.yaml", &spec, &err), 0);
	assert_true(spec.resources.memory == 2ULL << 30);
	assert_int_equal(spec.resources.cpus_milli, 1500);
	assert_true(spec.resources.pids == 4096);
	env_spec_release(&spec);
	assert_int_equal(parse_fixture("good", "resources-min.yaml", &spec, &err), 0);
	assert_true(spec.resources.memory == 6ULL << 20);
	assert_int_equal(spec.resources.cpus_milli, 250);
	assert_true(spec.resources.pids == 8);
	env_spec_release(&spec);
	/* null, and no key at all: no limits */
	assert_int_equal(parse_fixture("good", "resources-null.yaml", &spec, &err), 0);
	assert_true(!spec.resources.memory && !spec.resources.cpus_milli && !spec.resources.pids);
	env_spec_release(&spec);
}

static void test_good_logs(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };

	(void)state;
	assert_int_equal(parse_fixture("good", "logs.yaml", &spec, &err), 0);
	assert_true(spec.logs.max_size == 10ULL << 20);
	assert_int_equal(spec.logs.max_files, 3);
	env_spec_release(&spec);
	assert_int_equal(parse_fixture("good", "logs-min.yaml", &spec, &err), 0);
	assert_true(spec.logs.max_size == 4096);
	assert_int_equal(spec.logs.max_files, 2);
	env_spec_release(&spec);
	/* no key: 10 MiB x 2 */
	assert_int_equal(parse_fixture("good", "minimal.yaml", &spec, &err), 0);
	assert_true(spec.logs.max_size == 10ULL << 20);
	assert_int_equal(spec.logs.max_files, 2);
	env_spec_release(&spec);
}

/* healthcheck, depends_on, wait_for: compose's forms, durations in ms. */
static void test_good_health(void **state)
{
	struct dv_error err = { 0 };
	struct env_spec spec = { 0 };
	const struct env_service *db, *cache, *plain, *web, *worker;

	(void)state;
	assert_int_equal(parse_fixture("good", "health.yaml", &spec, &err), 0);
	assert_int_equal(spec.n_services, 5);
	db = &spec.services[0];
	cache = &spec.services[1];
	plain = &spec.services[2];
	web = &spec.services[3];
	worker = &spec.services[4];
	assert_int_equal(db->health.test.n, 3);
	assert_string_equal(db->health.test.v[0], "/bin/sh");
	assert_string_equal(db->health.test.v[2], "pg_isready -U postgres");
	assert_true(db->health.interval_ms == 90000);
	assert_true(db->health.timeout_ms == 500);
	assert_true(db->health.start_period_ms == 0);
	assert_true(db->health.start_interval_ms == 1500);
	assert_int_equal(db->health.retries, 5);
	assert_int_equal(db->health.line, 4);
	assert_int_equal(cache->health.test.n, 2);
	assert_string_equal(cache->health.test.v[0], "redis-cli");
	assert_int_equal(cache->health.retries, -1);
	assert_true(cache->health.interval_ms == 0);
	assert_false(cache->health.none);
	assert_true(plain->health.none);
	assert_int_equal(plain->health.test.n, 0);
	assert_int_equal(web->health.line, 0);
	assert_int_equal(web->n_depends_on, 2);
	assert_string_equal(web->depends_on[0].name, "db");
	assert_true(web->depends_on[0].healthy);
	assert_string_equal(web->depends_on[1].name, "cache");
	assert_false(web->depends_on[1].healthy);
	assert_int_equal(worker->n_depends_on, 2);
	assert_false(worker->depends_on[0].healthy);
	assert_int_equal(spec.on_up[0].wait_for.n, 2);
	assert_string_equal(spec.on_up[0].wait_for.v[1], "cache");
	assert_true(spec.on_up[0].wait_timeout_ms == 45000);
	assert_int_equal(spec.on_up[1].wait_for.n, 0);
	env_spec_release(&spec);
}

/* The env name a folder gives (envfile_name_from_folder): ASCII as it
 * always was, Latin letters with marks as their letters, anything else a
 * hash suffix, so two such folders are two names. */
static void test_name_from_folder(void **state)
{
	static const struct {
		const char *folder, *name;
	} cases[] = {
		{ "/home/a/proj", "proj" },
		{ "/home/a/My App", "my-app" },
		{ "/x/café web", "cafe-web" },
		{ "/x/Straße", "strasse" },
		{ "/x/Ærø Łódź", "aero-lodz" },
		{ "/x/ÉCOLE_élève.v2", "ecole_eleve.v2" },
		{ "/x/Șțiință", "stiinta" },
		{ "/x/_hidden", "hidden" },
		{ "/x/...", "env" },
	};
	char *a, *b, *c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = envfile_name_from_folder(cases[i].folder);

		assert_string_equal(got, cases[i].name);
		assert_true(envfile_valid_name(got));
		free(got);
	}
	/* other scripts and bytes that are not UTF-8: a readable part, if
	 * any, and 8 hex digits of the name's hash */
	a = envfile_name_from_folder("/x/日本");
	b = envfile_name_from_folder("/x/中国");
	c = envfile_name_from_folder("/x/app \xff\xfe web");
	assert_int_equal(strlen(a), 12);
	assert_memory_equal(a, "env-", 4);
	assert_true(dv_str_is_hex(a + 4, 8));
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(c), strlen("app-web-") + 8);
	assert_memory_equal(c, "app-web-", 8);
	assert_true(envfile_valid_name(a) && envfile_valid_name(b) && envfile_valid_name(c));
	free(a);
	free(b);
	free(c);
	/* at most 63 characters, the hash suffix kept */
	{
		char longname[200] = "/x/";
		size_t at = 3;

		for (int i = 0; i < 60; i++, at += 2)
			memcpy(longname + at, "é", 2);
		memcpy(longname + at, "ж", 3);
		a = envfile_name_from_folder(longname);
		assert_int_equal(strlen(a), 63);
		assert_true(envfile_valid_name(a));
		assert_true(dv_str_is_hex(a + 55, 8) && a[54] == '-');
		free(a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_name_from_folder),
		cmocka_unit_test(test_good_volumes_shared),
		cmocka_unit_test(test_good_fixtures_parse),
		cmocka_unit_test(test_good_minimal_defaults),
		cmocka_unit_test(test_network_host),
		cmocka_unit_test(test_ssh_agent),
		cmocka_unit_test(test_init_template_parses),
		cmocka_unit_test(test_good_full),
		cmocka_unit_test(test_good_user),
		cmocka_unit_test(test_good_security),
		cmocka_unit_test(test_good_cache_from),
		cmocka_unit_test(test_good_git_credentials),
		cmocka_unit_test(test_good_cache_trust),
		cmocka_unit_test(test_good_daily),
		cmocka_unit_test(test_good_auto_ports),
		cmocka_unit_test(test_good_null_lists),
		cmocka_unit_test(test_good_flow_style),
		cmocka_unit_test(test_good_resources),
		cmocka_unit_test(test_good_logs),
		cmocka_unit_test(test_good_cache),
		cmocka_unit_test(test_good_health),
		cmocka_unit_test(test_good_new_steps),
		cmocka_unit_test(test_parse_in_memory),
		cmocka_unit_test(test_layer_limit),
		cmocka_unit_test_setup_teardown(test_find_in_repo, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_find_in_subfolder, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_find_without_git, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_find_none, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_find_missing_start, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_load_missing_file, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_load_outside_checkout, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_copy_inside, repo_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_copy_outside_dotdot, repo_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_copy_outside_symlink, repo_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_copy_missing, repo_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_mount_absolute_inside_checkout, repo_setup,
						tree_teardown),
	};
	char exe[PATH_MAX], *slash, *real;
	const char *env = getenv("DEVENV_FIXTURES");
	ssize_t n;

	/* Fixtures sit beside the test binary's folder (test/unit/../fixtures),
	 * so the binary runs from any cwd; DEVENV_FIXTURES overrides. */
	if (env) {
		snprintf(exe, sizeof(exe), "%s", env);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0) {
			perror("readlink /proc/self/exe");
			return 1;
		}
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		if (strlen(exe) + sizeof("/../fixtures/envfile") > sizeof(exe))
			return 1;
		memcpy(exe + strlen(exe), "/../fixtures/envfile", sizeof("/../fixtures/envfile"));
	}
	real = realpath(exe, NULL);
	if (!real) {
		fprintf(stderr, "envfile_test: no fixtures at '%s': %s\n", exe, strerror(errno));
		return 1;
	}
	snprintf(fixtures, sizeof(fixtures), "%s", real);
	free(real);
	return cmocka_run_group_tests_name("envfile", tests, NULL, NULL);
}
