/*
 * test/unit/templates_test.c - templates/: every embedded template renders
 * to an Envfile that parses, with its dependency files and without them,
 * and the detection order. Temporary folders only; no root, no network.
 */
#include <fcntl.h>
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
#include "templates/templates.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

static const char *const dep_files[] = { "requirements.txt", "package.json", "package-lock.json",
					 "go.mod",           "go.sum",       "Cargo.toml",
					 "Cargo.lock",       "host-ca.crt" };
#define N_DEPS (sizeof(dep_files) / sizeof(dep_files[0]))

struct tree {
	char dir[64];
	int fd;
};

static void tree_new(struct tree *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/dv-tmpl-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->fd = open(t->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->fd >= 0);
}

static void tree_put(struct tree *t, const char *name, const char *text)
{
	dv_autoclose int fd = openat(t->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct dv_error err = { 0 };

	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, text, strlen(text), &err), 0);
}

static void tree_free(struct tree *t)
{
	struct dv_error err = { 0 };

	close(t->fd);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, t->dir, &err), 0);
}

/* Render t in the folder and parse the result; returns the number of copy
 * steps, fails the test on a parse error or a leftover '@' marker. */
static size_t render_parse(const struct tmpl *t, struct tree *tr, struct dv_strv *missing)
{
	dv_autofree char *text = tmpl_render(t, tr->fd, missing);
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	size_t copies = 0;

	for (const char *p = text; *p; p += strcspn(p, "\n"), p += *p == '\n')
		if (*p == '@')
			fail_msg("template %s: marker line left in '%.40s'", t->name, p);
	if (envfile_parse(text, strlen(text), "Envfile", tr->dir, tr->dir, &spec, &err) < 0)
		fail_msg("template %s: Envfile:%u:%u: %s\n%s", t->name, err.line, err.col, err.msg,
			 text);
	assert_string_equal(spec.image, "debian:bookworm");
	assert_true(spec.n_provision >= 1);
	for (size_t i = 0; i < spec.n_provision; i++)
		copies += spec.provision[i].kind == ENV_STEP_COPY;
	env_spec_release(&spec);
	return copies;
}

static void test_every_template_parses(void **state)
{
	size_t n;
	const struct tmpl *all = tmpl_all(&n);

	(void)state;
	assert_true(n >= 7);
	for (size_t i = 0; i < n; i++) {
		struct tree bare, full;
		struct dv_strv miss_bare = { 0 }, miss_full = { 0 };
		size_t copies_bare, copies_full;

		tree_new(&bare);
		tree_new(&full);
		for (size_t j = 0; j < N_DEPS; j++)
			tree_put(&full, dep_files[j], "\n");
		copies_bare = render_parse(&all[i], &bare, &miss_bare);
		copies_full = render_parse(&all[i], &full, &miss_full);
		/* Without its files a template copies nothing and says which
		 * files it missed; with them, every step is live. */
		assert_int_equal(copies_bare, 0);
		assert_int_equal(miss_full.n, 0);
		assert_int_equal(miss_bare.n > 0, copies_full > 0);
		if (!strcmp(all[i].name, "python") || !strcmp(all[i].name, "node") ||
		    !strcmp(all[i].name, "go") || !strcmp(all[i].name, "rust") ||
		    !strcmp(all[i].name, "python-postgres"))
			assert_true(copies_full >= 1);
		dv_strv_release(&miss_bare);
		dv_strv_release(&miss_full);
		tree_free(&bare);
		tree_free(&full);
	}
}

static void test_python_postgres_has_service(void **state)
{
	struct tree tr;
	struct dv_strv missing = { 0 };
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *text = NULL;

	(void)state;
	tree_new(&tr);
	text = tmpl_render(tmpl_find("python-postgres"), tr.fd, &missing);
	assert_int_equal(envfile_parse(text, strlen(text), "Envfile", tr.dir, tr.dir, &spec, &err),
			 0);
	assert_int_equal(spec.n_services, 1);
	assert_string_equal(spec.services[0].name, "db");
	assert_string_equal(spec.services[0].image, "postgres:15");
	assert_int_equal(spec.n_ports, 1);
	env_spec_release(&spec);
	dv_strv_release(&missing);
	tree_free(&tr);
}

static const char *detect_one(struct tree *tr, size_t *n)
{
	static struct tmpl_match m[8];

	*n = tmpl_detect(tr->fd, m, 8);
	return *n ? m[0].tmpl->name : "default";
}

static void test_detect_order(void **state)
{
	static const struct {
		const char *files[3];
		const char *want;
		size_t n;
	} cases[] = {
		{ { NULL }, "default", 0 },
		{ { "pyproject.toml" }, "python", 1 },
		{ { "requirements.txt", "package.json", "Makefile" }, "python", 3 },
		{ { "package.json", "go.mod" }, "node", 2 },
		{ { "go.mod", "Cargo.toml" }, "go", 2 },
		{ { "Cargo.toml", "Makefile" }, "rust", 2 },
		{ { "CMakeLists.txt" }, "c", 1 },
		{ { "Makefile", "makefile" }, "c", 1 }, /* one stack, matched once */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tree tr;
		size_t n;

		tree_new(&tr);
		for (size_t j = 0; j < 3 && cases[i].files[j]; j++)
			tree_put(&tr, cases[i].files[j], "\n");
		assert_string_equal(detect_one(&tr, &n), cases[i].want);
		assert_int_equal(n, cases[i].n);
		tree_free(&tr);
	}
}

static void test_detect_postgres(void **state)
{
	struct tree tr;
	size_t n;

	(void)state;
	tree_new(&tr);
	tree_put(&tr, "requirements.txt", "flask\nPsycopg2-binary==2.9\n");
	assert_string_equal(detect_one(&tr, &n), "python-postgres");
	tree_free(&tr);

	tree_new(&tr);
	tree_put(&tr, "pyproject.toml", "[project]\n");
	tree_put(&tr, "docker-compose.yml", "services:\n  db:\n    image: postgres:16\n");
	assert_string_equal(detect_one(&tr, &n), "python-postgres");
	tree_free(&tr);

	/* postgres without Python is no Python template */
	tree_new(&tr);
	tree_put(&tr, "docker-compose.yml", "services:\n  db:\n    image: postgres:16\n");
	assert_string_equal(detect_one(&tr, &n), "default");
	tree_free(&tr);

	/* a marker that is not a regular file does not count */
	tree_new(&tr);
	assert_int_equal(mkdirat(tr.fd, "requirements.txt", 0755), 0);
	assert_int_equal(symlinkat("/etc/passwd", tr.fd, "package.json"), 0);
	assert_string_equal(detect_one(&tr, &n), "default");
	tree_free(&tr);
}

static void test_needs(void **state)
{
	struct tree tr;
	dv_autofree char *all = NULL, *bare = NULL, *full = NULL, *dflt = NULL;

	(void)state;
	tree_new(&tr);
	all = tmpl_needs(tmpl_find("python-postgres"), -1, false);
	assert_string_equal(all, "the Debian mirror, PyPI, Docker Hub");
	bare = tmpl_needs(tmpl_find("python-postgres"), tr.fd, true);
	assert_string_equal(bare, "the Debian mirror (apt-get), Docker Hub (image postgres:15, "
				  "unless this store has it)");
	tree_put(&tr, "requirements.txt", "\n");
	full = tmpl_needs(tmpl_find("python-postgres"), tr.fd, true);
	assert_non_null(strstr(full, "PyPI (pip install)"));
	dflt = tmpl_needs(tmpl_find("c"), tr.fd, false);
	assert_string_equal(dflt, "the Debian mirror");
	tree_free(&tr);
}

/* Item 6 of issue 13: a template with a service keeps it off the host's
 * network (network: private) and forwards its ports on loopback only. */
static void test_services_private_and_loopback(void **state)
{
	size_t n;
	const struct tmpl *all = tmpl_all(&n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct tree tr;
		struct dv_strv missing = { 0 };
		struct env_spec spec = { 0 };
		struct dv_error err = { 0 };
		dv_autofree char *text = NULL;

		tree_new(&tr);
		text = tmpl_render(&all[i], tr.fd, &missing);
		assert_int_equal(envfile_parse(text, strlen(text), "Envfile", tr.dir, tr.dir, &spec,
					       &err),
				 0);
		if (spec.n_services) {
			if (spec.network != ENV_NET_PRIVATE || !spec.network_line)
				fail_msg("template %s has services but no 'network: private'",
					 all[i].name);
			for (size_t p = 0; p < spec.n_ports; p++)
				if (strcmp(spec.ports[p].host_ip, "127.0.0.1"))
					fail_msg("template %s forwards a port on %s", all[i].name,
						 spec.ports[p].host_ip);
		}
		env_spec_release(&spec);
		dv_strv_release(&missing);
		tree_free(&tr);
	}
}

static void test_find_and_names(void **state)
{
	dv_autofree char *names = tmpl_names();

	(void)state;
	assert_null(tmpl_find("pyhton"));
	assert_non_null(tmpl_find("c"));
	assert_string_equal(names, "default, python-postgres, python, node, go, rust, c");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_template_parses),
		cmocka_unit_test(test_python_postgres_has_service),
		cmocka_unit_test(test_detect_order),
		cmocka_unit_test(test_detect_postgres),
		cmocka_unit_test(test_find_and_names),
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_services_private_and_loopback),
	};

	return cmocka_run_group_tests_name("templates", tests, NULL, NULL);
}
