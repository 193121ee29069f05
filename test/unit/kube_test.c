/* `devenv kube generate`'s pure parts (env/kubeyaml.c, env/kube.c): the
 * one YAML quoting function, Kubernetes names, the shell words of the
 * kubectl exec lines, and the Pod emitted for a parsed Envfile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env/env.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"

static char *quoted(const char *s, bool *ok)
{
	struct dv_buf b = { 0 };

	*ok = env_kube_quote(&b, s);
	return dv_buf_steal(&b);
}

static void test_quote(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "\"\"" },
		{ "plain", "\"plain\"" },
		{ "yes", "\"yes\"" },
		{ "a: b", "\"a: b\"" },
		{ "x\"\n  hostNetwork: true\n#", "\"x\\\"\\n  hostNetwork: true\\n#\"" },
		{ "back\\slash", "\"back\\\\slash\"" },
		{ "tab\there", "\"tab\\there\"" },
		{ "esc\x1b[31m", "\"esc\\x1b[31m\"" },
		{ "del\x7f", "\"del\\x7f\"" },
		{ "Fő", "\"Fő\"" },
		{ "ls\xe2\x80\xa8ps\xe2\x80\xa9nel\xc2\x85", "\"ls\\Lps\\Pnel\\N\"" },
		{ "c1\xc2\x9b", "\"c1\\x9b\"" },
		{ "nonchar\xef\xbf\xbe\xef\xbf\xbf\xef\xbf\xbd",
		  "\"nonchar\\uFFFE\\uFFFF\xef\xbf\xbd\"" },
	};
	bool ok;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dv_autofree char *got = quoted(cases[i].in, &ok);

		assert_true(ok);
		assert_string_equal(got, cases[i].out);
	}
	/* Not UTF-8: refused, never written as something else. */
	free(quoted("bad\xff", &ok));
	assert_false(ok);
	free(quoted("overlong\xc0\xaf", &ok));
	assert_false(ok);
	free(quoted("surrogate\xed\xa0\x80", &ok));
	assert_false(ok);
	free(quoted("cut\xe2\x80", &ok));
	assert_false(ok);
}

static void test_name(void **state)
{
	(void)state;
	char out[ENV_KUBE_NAME_MAX + 1], other[ENV_KUBE_NAME_MAX + 1];
	char longname[100];

	env_kube_name("web", out);
	assert_string_equal(out, "web");
	env_kube_name("web-1", out);
	assert_string_equal(out, "web-1");
	/* Mangled: a hash keeps "a_b" and "a.b" two names. */
	env_kube_name("a_b", out);
	env_kube_name("a.b", other);
	assert_true(strncmp(out, "a-b-", 4) == 0 && strlen(out) == 12);
	assert_true(strncmp(other, "a-b-", 4) == 0 && strcmp(out, other) != 0);
	env_kube_name("-lead", out);
	assert_true(strncmp(out, "lead-", 5) == 0);
	env_kube_name("Upper", out);
	assert_true(strncmp(out, "upper-", 6) == 0);
	env_kube_name("___", out);
	assert_int_equal(strlen(out), 8);
	memset(longname, 'a', 99);
	longname[99] = 0;
	env_kube_name(longname, out);
	assert_true(strlen(out) <= ENV_KUBE_NAME_MAX);
	assert_true(out[strlen(out) - 1] != '-');
	for (const char *p = out; *p; p++)
		assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
	/* The same input, the same name. */
	env_kube_name("a_b", other);
	env_kube_name("a_b", out);
	assert_string_equal(out, other);
}

static void test_shq(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain/path-1.2", "plain/path-1.2" },
		{ "", "''" },
		{ "a b", "'a b'" },
		{ "it's", "'it'\\''s'" },
		{ "$(id)", "'$(id)'" },
		{ "-oProxyCommand=x", "-oProxyCommand=x" },
		{ "two\nlines 'q'", "$'two\\x0alines \\'q\\''" },
		{ "ls\xe2\x80\xa8kind: x", "$'ls\\xe2\\x80\\xa8kind: x'" },
		{ "nel\xc2\x85 c1\xc2\x9b", "$'nel\\xc2\\x85 c1\\xc2\\x9b'" },
		{ "F\xc5\x91 ok", "'F\xc5\x91 ok'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dv_buf b = { 0 };

		env_kube_shq(&b, cases[i].in);
		assert_string_equal(b.s, cases[i].out);
		dv_buf_release(&b);
	}
}

static const char *ENVFILE = "name: app\n"
			     "image: busybox\n"
			     "env:\n"
			     "  K: \"v\\n  hostNetwork: true\"\n"
			     "ports:\n"
			     "  - \"8080:80\"\n"
			     "resources:\n"
			     "  pids: 100\n"
			     "services:\n"
			     "  db:\n"
			     "    image: redis:7\n"
			     "on_up:\n"
			     "  - run: \"echo hi\\n# not a comment\"\n";

static void test_yaml(void **state)
{
	(void)state;
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	struct dv_buf b = { 0 };
	struct dv_strv w = { 0 };
	const char *imgs[] = { "docker.io/library/redis@sha256:ab" };
	struct env_kube_in in = { "0123456789ab", "r.example/app@sha256:00", imgs, NULL, NULL };

	assert_int_equal(envfile_parse(ENVFILE, strlen(ENVFILE), "Envfile", "/tmp", "/tmp/app",
				       &spec, &err),
			 0);
	assert_int_equal(env_kube_yaml(&spec, &in, &b, &w, &err), 0);
	/* Values stay values: no line of the output starts a key of
	 * theirs, and on_up's command stays on its comment line. */
	assert_null(strstr(b.s, "\n  hostNetwork"));
	assert_non_null(strstr(b.s, "      value: \"v\\n  hostNetwork: true\"\n"));
	assert_non_null(strstr(b.s, "#   kubectl exec app -c app -- /bin/sh -c $'echo hi\\x0a# not a "
				    "comment'\n"));
	assert_non_null(strstr(b.s, "    image: \"docker.io/library/redis@sha256:ab\"\n"));
	assert_non_null(strstr(b.s, "      hostPort: 8080\n"));
	assert_non_null(strstr(b.s, "      path: \"/tmp/app\"\n"));
	/* pids: one warning. */
	assert_int_equal(w.n, 1);
	assert_string_equal(w.v[0], "Envfile: 'resources.pids' has no Pod field: left out");
	/* The same bytes again. */
	{
		struct dv_buf again = { 0 };
		struct dv_strv w2 = { 0 };

		assert_int_equal(env_kube_yaml(&spec, &in, &again, &w2, &err), 0);
		assert_string_equal(again.s, b.s);
		dv_buf_release(&again);
		dv_strv_release(&w2);
	}
	dv_buf_release(&b);
	dv_strv_release(&w);
	/* A checkout path that is not UTF-8: one clear error. */
	free(spec.checkout);
	spec.checkout = dv_xstrdup("/tmp/\xff");
	assert_int_equal(env_kube_yaml(&spec, &in, &b, &w, &err), -1);
	assert_non_null(strstr(err.msg, "not UTF-8"));
	dv_buf_release(&b);
	dv_strv_release(&w);
	env_spec_release(&spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_shq),
		cmocka_unit_test(test_yaml),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
