/* test/unit/recipe_test.c - provision/recipe.c: which input of a step
 * differs between two recipes, said in one sentence; hostile recipes (a
 * team's note comes from a registry) give no crash and no terminal escape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "provision/provision.h"
#include "util/banned.h"

#define P1 "1111111111111111111111111111111111111111111111111111111111111111"
#define P2 "2222222222222222222222222222222222222222222222222222222222222222"
#define D1 "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D2 "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void expect(const char *old, const char *now, size_t no, const char *want)
{
	char *got = prov_recipe_diff(old, now, no);

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_same_says_nothing(void **state)
{
	const char *r = "{\"kind\":\"run\",\"parent\":\"" P1 "\",\"text_digest\":\"" D1
			"\",\"env\":{\"A\":\"" D1 "\"}}";

	(void)state;
	expect(r, r, 2, "");
}

static void test_each_input_kind(void **state)
{
	(void)state;
	expect("{\"kind\":\"run\"}", "{\"kind\":\"copy\"}", 1, "its kind changed (run, now copy)");
	expect("{\"kind\":\"run\",\"text_digest\":\"" D1 "\"}",
	       "{\"kind\":\"run\",\"text_digest\":\"" D2 "\"}", 1,
	       "its text changed (sha256:aaaaaaaaaaaa, now sha256:bbbbbbbbbbbb)");
	expect("{\"env\":{\"A\":\"" D1 "\",\"B\":\"" D1 "\"}}",
	       "{\"env\":{\"A\":\"" D1 "\",\"B\":\"" D2 "\"}}", 1, "env value B changed");
	expect("{\"env\":{}}", "{\"env\":{\"NEW\":\"" D1 "\"}}", 1, "env value NEW was added");
	expect("{\"env\":{\"OLD\":\"" D1 "\"}}", "{\"env\":{}}", 1, "env value OLD was removed");
	expect("{\"git_commit\":\"0123456789abcdef\"}", "{\"git_commit\":\"fedcba9876543210\"}", 1,
	       "its git commit changed (0123456789ab, now fedcba987654)");
	expect("{\"download_sha256\":\"" P1 "\"}", "{\"download_sha256\":\"" P2 "\"}", 1,
	       "its download digest changed (sha256:111111111111, now sha256:222222222222)");
	expect("{\"parent\":\"" P1 "\"}", "{\"parent\":\"" P2 "\",\"base\":\"localhost/b:1\"}", 1,
	       "the base image changed (localhost/b:1 sha256:222222222222, was "
	       "sha256:111111111111)");
	expect("{\"parent\":\"" P1 "\"}", "{\"parent\":\"" P2 "\"}", 3, "its parent step 2 changed");
}

static void test_files(void **state)
{
	(void)state;
	expect("{\"files_digest\":\"" D1 "\",\"files\":{\"s/a\":\"" D1 "\",\"s/b\":\"" D1 "\"}}",
	       "{\"files_digest\":\"" D2 "\",\"files\":{\"s/a\":\"" D1 "\",\"s/b\":\"" D2 "\"}}", 1,
	       "copied file 's/b' changed (sha256:aaaaaaaaaaaa, now sha256:bbbbbbbbbbbb)");
	expect("{\"files_digest\":\"" D1 "\",\"files\":{\"s/a\":\"" D1 "\"}}",
	       "{\"files_digest\":\"" D2 "\",\"files\":{\"s/a\":\"" D1 "\",\"s/n\":\"" D2 "\"}}", 1,
	       "copied file 's/n' was added (sha256:bbbbbbbbbbbb)");
	expect("{\"files_digest\":\"" D1 "\",\"files\":{\"s/a\":\"" D1 "\",\"s/g\":\"" D2 "\"}}",
	       "{\"files_digest\":\"" D2 "\",\"files\":{\"s/a\":\"" D1 "\"}}", 1,
	       "copied file 's/g' was removed (it was sha256:bbbbbbbbbbbb)");
	/* one side's list cut (a team's note of a large folder): said so */
	expect("{\"files_digest\":\"" D1 "\"}", "{\"files_digest\":\"" D2 "\",\"files\":{}}", 1,
	       "its copied files changed (more than the recipe lists: not said which)");
	/* the same digest: the lists are not even looked at */
	expect("{\"files_digest\":\"" D1 "\",\"files\":{\"x\":\"" D1 "\"}}",
	       "{\"files_digest\":\"" D1 "\",\"files\":{}}", 1, "");
}

static void test_hostile(void **state)
{
	(void)state;
	/* not JSON, not an object */
	expect("{", "{}", 1, NULL);
	expect("[1]", "{}", 1, NULL);
	expect("{}", "\"x\"", 1, NULL);
	/* fields of the wrong type count as absent */
	expect("{\"kind\":1,\"env\":[],\"files\":\"x\"}", "{}", 1, "");
	/* what a note says is shown without a terminal's escapes */
	expect("{\"kind\":\"\\u001b[31mx\"}", "{\"kind\":\"run\"}", 1,
	       "its kind changed (??31mx, now run)");
	expect("{\"git_commit\":\"\\u001b]0;x\\u0007\"}", "{}", 1,
	       "its git commit changed (??0?x?, now none)");
	expect("{\"env\":{\"\\u001b[2J\":\"x\"}}", "{\"env\":{}}", 1,
	       "env value \\x1b[2J was removed");
	expect("{\"files_digest\":\"x\",\"files\":{\"a\\u001b\":\"y\"}}",
	       "{\"files_digest\":\"z\",\"files\":{}}", 1,
	       "copied file 'a\\x1b' was removed (it was y)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_says_nothing),
		cmocka_unit_test(test_each_input_kind),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests_name("recipe", tests, NULL, NULL);
}
