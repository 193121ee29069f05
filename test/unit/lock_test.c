/* Envfile.lock: strict parsing with positions, the fixed text, times, and
 * the frozen comparison (provision/lock.c, lockplan.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "provision/lock.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D64 "sha256:" H64

static const char *GOOD =
	"{\n"
	"  \"lockfile\": 1,\n"
	"  \"note\": \"written by devenv: commit it with the Envfile; 'devenv lock --update' "
	"moves what it pins\",\n"
	"  \"source_date_epoch\": 1764979200,\n"
	"  \"apt_snapshot\": \"2026-11-20T00:00:00Z\",\n"
	"  \"base\": { \"image\": \"debian:bookworm\", \"name\": \"localhost/debian:bookworm\", "
	"\"id\": \"" D64 "\" },\n"
	"  \"steps\": [\n"
	"    { \"step\": 1, \"label\": \"run: echo \\\"hi\\\"\", \"input\": \"" D64
	"\", \"key\": \"" H64 "\" },\n"
	"    { \"step\": 2, \"label\": \"git: x\", \"input\": \"" D64
	"\", \"commit\": \"0123456789abcdef0123456789abcdef01234567\", \"key\": \"" H64 "\" }\n"
	"  ],\n"
	"  \"services\": [\n"
	"    { \"name\": \"db\", \"image\": \"postgres:16\", \"name2\": 0 }\n"
	"  ]\n"
	"}\n";

/* GOOD without its bad service line: a valid lock. */
static char *good(void)
{
	struct dv_buf b = { 0 };
	const char *svc = strstr(GOOD, ",\n  \"services\"");

	dv_buf_addf(&b, "%.*s\n}\n", (int)(svc - GOOD), GOOD);
	return dv_buf_steal(&b);
}

static void expect_error(const char *text, const char *where)
{
	struct prov_lock l;
	struct dv_error err = { 0 };
	char got[1200];

	assert_int_equal(prov_lock_parse(text, strlen(text), "Envfile.lock", &l, &err), -1);
	snprintf(got, sizeof(got), "%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	if (!strstr(got, where))
		fail_msg("expected '%s' in '%s'", where, got);
	assert_null(l.steps);
	assert_int_equal(err.status, 2);
}

/* Replace the first `from` in GOOD's valid form with `to`. */
static char *edit(const char *from, const char *to)
{
	dv_autofree char *g = good();
	char *at = strstr(g, from);

	assert_non_null(at);
	return dv_xasprintf("%.*s%s%s", (int)(at - g), g, to, at + strlen(from));
}

static void test_round_trip(void **state)
{
	dv_autofree char *text = good(), *again = NULL;
	struct prov_lock l;
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(prov_lock_parse(text, strlen(text), "Envfile.lock", &l, &err), 0);
	assert_int_equal(l.n_steps, 2);
	assert_string_equal(l.steps[1].commit, "0123456789abcdef0123456789abcdef01234567");
	assert_int_equal(l.source_date_epoch, 1764979200);
	assert_int_equal(l.apt_snapshot, 1795132800);
	assert_string_equal(l.base.ref, "localhost/debian:bookworm");
	assert_null(l.base.digest);
	again = prov_lock_format(&l);
	assert_string_equal(again, text); /* the text is what format writes */
	prov_lock_release(&l);
}

static void test_errors_at_positions(void **state)
{
	dv_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL,
			 *g = NULL, *h = NULL;

	(void)state;
	expect_error("garbage", "Envfile.lock:1:1: not valid JSON");
	expect_error("{\n  \"lockfile\": 1,\n",
		     "Envfile.lock:3:1: not valid JSON (it ends too soon)");
	expect_error("[]", "Envfile.lock:1:1: the lock must be a JSON object");
	expect_error("{}", "Envfile.lock:1:1: 'lockfile' is missing here");
	expect_error(GOOD, "Envfile.lock:12:45: unknown field 'name2'");
	a = edit("\"lockfile\": 1", "\"lockfile\": \"1\"");
	expect_error(a, "Envfile.lock:2:15: this devenv reads lockfile version 1 only");
	b = edit("\"key\": \"0123", "\"key\": \"X123");
	expect_error(b, "Envfile.lock:8:");
	expect_error(b, "must be 64 hex digits");
	c = edit("\"id\": \"sha256:", "\"id\": \"sha512:");
	expect_error(c, "Envfile.lock:6:");
	expect_error(c, "must be a digest");
	d = edit("\"step\": 2", "\"step\": 3");
	expect_error(d, "Envfile.lock:9:15: must be the step's number, 2");
	e = edit("\"source_date_epoch\": 1764979200", "\"source_date_epoch\": -1");
	expect_error(e, "Envfile.lock:4:24: must be a time");
	f = edit("2026-11-20T00:00:00Z", "2026-02-31T00:00:00Z");
	expect_error(f, "Envfile.lock:5:19: must be a UTC time");
	g = edit("\n}\n", "\n} x\n");
	expect_error(g, "Envfile.lock:11:3: not valid JSON");
	h = edit("\"label\": \"git: x\"", "\"label\": \"a\\u0000b\"");
	expect_error(h, "holds a NUL");
	expect_error("{\"lockfile\": 1, \"lockfile\": 1,", "not valid JSON");
}

static void test_time(void **state)
{
	long long t = 0;
	char out[21];

	(void)state;
	assert_true(prov_lock_time_parse("1970-01-01T00:00:01Z", &t));
	assert_int_equal(t, 1);
	assert_false(prov_lock_time_parse("2026-11-20T00:00:00+01:00", &t));
	assert_false(prov_lock_time_parse("2026-11-20 00:00:00Z", &t));
	assert_false(prov_lock_time_parse("2026-13-01T00:00:00Z", &t));
	assert_false(prov_lock_time_parse("2026-1a-01T00:00:00Z", &t));
	assert_false(prov_lock_time_parse("", &t));
	prov_lock_time_format(1795132800, out);
	assert_string_equal(out, "2026-11-20T00:00:00Z");
}

static void spec_of(const char *text, const char *dir, struct env_spec *spec)
{
	struct dv_error err = { 0 };

	if (envfile_parse(text, strlen(text), "Envfile", dir, dir, spec, &err) < 0)
		fail_msg("parse: %s:%u:%u: %s", err.file, err.line, err.col, err.msg);
}

static void test_make_check_apply(void **state)
{
	char tmpl[] = "/var/tmp/devenv-lock-XXXXXX";
	struct env_spec spec = { 0 }, other = { 0 };
	struct layer_image base = { .name = "localhost/busybox:latest", .id = D64 };
	struct dv_strv keys = { 0 };
	struct prov_lock l, back;
	struct dv_error err = { 0 };
	dv_autofree char *text = NULL;
	const char *envfile = "image: busybox\n"
			      "provision:\n"
			      "  - run: echo 1\n"
			      "  - git: https://example.com/r.git\n"
			      "    to: /r\n"
			      "  - copy: f\n"
			      "    to: /f\n";

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	unit_put(tmpl, "f", "one\n");
	spec_of(envfile, tmpl, &spec);
	spec.provision[1].git_commit = dv_xstrdup("0123456789abcdef0123456789abcdef01234567");
	assert_int_equal(prov_keys(&spec, base.id, &keys, &err), 0);
	spec.source_date_epoch = 42;
	assert_int_equal(prov_lock_make(&spec, &base, &keys, NULL, NULL, &l, &err), 0);
	assert_int_equal(l.source_date_epoch, 42);
	assert_non_null(l.steps[2].content);
	text = prov_lock_format(&l);
	assert_int_equal(prov_lock_parse(text, strlen(text), "Envfile.lock", &back, &err), 0);
	assert_int_equal(prov_lock_check(&spec, &back, &keys, &err), 0);
	assert_int_equal(prov_lock_check(&spec, &back, NULL, &err), 0);
	{ /* Another store's name for the same id: the lock's text stays. */
		struct layer_image digest_named = { .name = "localhost/busybox@" D64, .id = D64 };
		struct prov_lock again;
		dv_autofree char *text2 = NULL;

		assert_int_equal(prov_lock_make(&spec, &digest_named, &keys, NULL, &back, &again,
						&err),
				 0);
		text2 = prov_lock_format(&again);
		assert_string_equal(text2, text);
		prov_lock_release(&again);
	}

	/* The commit comes from the lock when the step's input is unchanged. */
	spec_of(envfile, tmpl, &other);
	prov_lock_apply(&other, &back, NULL);
	assert_string_equal(other.provision[1].git_commit,
			    "0123456789abcdef0123456789abcdef01234567");
	assert_int_equal(other.source_date_epoch, 42);
	env_spec_release(&other);
	{ /* ...but not when --update names it */
		bool upd[3] = { false, true, false };

		spec_of(envfile, tmpl, &other);
		prov_lock_apply(&other, &back, upd);
		assert_null(other.provision[1].git_commit);
		env_spec_release(&other);
	}

	/* A changed step text: at its line. */
	spec_of("image: busybox\nprovision:\n  - run: echo 2\n  - git: https://example.com/r.git\n"
		"    to: /r\n  - copy: f\n    to: /f\n",
		tmpl, &other);
	assert_int_equal(prov_lock_check(&other, &back, NULL, &err), -1);
	assert_int_equal(err.line, 3);
	assert_non_null(
		strstr(err.msg,
		       "step 1 (run: echo 2) differs from Envfile.lock: its text or environment changed"));
	env_spec_release(&other);
	/* Copied files changed: the content, not the text. */
	unit_put(tmpl, "f", "two\n");
	memset(&err, 0, sizeof(err));
	assert_int_equal(prov_lock_check(&spec, &back, NULL, &err), -1);
	assert_int_equal(err.line, 6);
	assert_non_null(strstr(err.msg, "the files it copies changed"));
	/* Another image; a step fewer. */
	spec_of("image: debian:bookworm\n", tmpl, &other);
	assert_int_equal(prov_lock_check(&other, &back, NULL, &err), -1);
	assert_non_null(
		strstr(err.msg,
		       "image 'debian:bookworm' differs from Envfile.lock: the lock pins another image"));
	env_spec_release(&other);
	spec_of("image: busybox\nprovision:\n  - run: echo 1\n", tmpl, &other);
	assert_int_equal(prov_lock_check(&other, &back, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "provisioning steps (the lock has 3)"));
	env_spec_release(&other);

	prov_lock_release(&l);
	prov_lock_release(&back);
	dv_strv_release(&keys);
	env_spec_release(&spec);
	unit_put(tmpl, "f", "");
	{
		dv_autofree char *f = dv_xasprintf("%s/f", tmpl);

		unlink(f);
		rmdir(tmpl);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_errors_at_positions),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_make_check_apply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
