/*
 * test/unit/gitcred_test.c - the git credential relay's filter
 * (hostnet/gitcred_proto.c): what an env's request may carry to the
 * host's `git credential`, and what of its answer goes back. No I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hostnet/internal.h"
#include "util/cleanup.h"

static const char *const listed[] = { "github.com", "127.0.0.1:8080", NULL };
static const struct dv_strv hosts = { (char **)listed, 2, 2 };

static int parse(const char *text, struct hnet_cred *c, const char **why)
{
	return hnet_cred_parse(text, strlen(text), &hosts, c, why);
}

static void test_get_listed(void **state)
{
	struct hnet_cred c = { 0 };
	const char *why;

	(void)state;
	assert_int_equal(parse("action=get\ntimeout=900\nprotocol=https\nhost=GitHub.com\n"
			       "wwwauth[]=Basic realm=\"x\"\ncapability[]=authtype\n",
			       &c, &why),
			 0);
	assert_int_equal(c.op, HNET_CRED_GET);
	assert_string_equal(c.host, "GitHub.com");
	assert_null(c.path);
	assert_null(c.username);
	{
		dv_autofree char *in = hnet_cred_format(&c, true);

		/* nothing of the extras reaches the host's git */
		assert_string_equal(in, "protocol=https\nhost=GitHub.com\n\n");
	}
	hnet_cred_release(&c);
	assert_int_equal(parse("action=get\nprotocol=http\nhost=127.0.0.1:8080\npath=a/b.git\n"
			       "username=me\n",
			       &c, &why),
			 0);
	{
		dv_autofree char *in = hnet_cred_format(&c, true);

		assert_string_equal(in, "protocol=http\nhost=127.0.0.1:8080\npath=a/b.git\n"
					"username=me\n\n");
	}
	hnet_cred_release(&c);
}

static void test_refused(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "action=get\nprotocol=https\nhost=gitlab.com\n",
		  "a host the Envfile does not list" },
		{ "action=get\nprotocol=https\nhost=github.com.evil.example\n",
		  "a host the Envfile does not list" },
		{ "action=get\nprotocol=http\nhost=127.0.0.1\n", "a host the Envfile does not list" },
		{ "action=get\nprotocol=https\n", "a host the Envfile does not list" },
		{ "action=get\nprotocol=ssh\nhost=github.com\n",
		  "a protocol other than http or https" },
		{ "action=get\nhost=github.com\n", "a protocol other than http or https" },
		{ "action=get\nurl=https://github.com\n", "a url= attribute" },
		{ "action=get\nprotocol=https\nhost=github.com\nhost=gitlab.com\n",
		  "an attribute given twice" },
		{ "action=get\nprotocol=https\nhost=github.com\rhost=gitlab.com\n",
		  "a control character in a value" },
		{ "action=get\nprotocol=https\nhost=github.com\npath=x\x1b[2J\n",
		  "a control character in a value" },
		{ "protocol=https\nhost=github.com\n", "no action" },
		{ "action=exit\n", "an action other than get, store or erase" },
		{ "action=get\naction=get\n", "two actions" },
		{ "action=get\nprotocol\n", "a line without '='" },
		{ "action=store\nprotocol=https\nhost=github.com\nusername=a\n",
		  "store or erase without username and password" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hnet_cred c = { 0 };
		const char *why = NULL;

		if (parse(bad[i].text, &c, &why) == 0)
			fail_msg("accepted: %s", bad[i].text);
		assert_non_null(why);
		if (strcmp(why, bad[i].why))
			fail_msg("%s: %s, not %s", bad[i].text, why, bad[i].why);
		assert_null(c.host);
	}
	{ /* a NUL byte anywhere */
		static const char nul[] = "action=get\nprotocol=https\nhost=github.com\0x\n";
		struct hnet_cred c = { 0 };
		const char *why;

		assert_int_equal(hnet_cred_parse(nul, sizeof(nul) - 1, &hosts, &c, &why), -1);
		assert_string_equal(why, "a NUL byte");
	}
}

static void test_answer(void **state)
{
	char *user, *pass;
	const char *good = "protocol=https\nhost=github.com\nusername=me\npassword=s3cret\n"
			   "password_expiry_utc=1\n";

	(void)state;
	assert_int_equal(hnet_cred_answer(good, strlen(good), &user, &pass), 0);
	assert_string_equal(user, "me");
	assert_string_equal(pass, "s3cret");
	free(user);
	free(pass);
	/* no password: nothing */
	assert_int_equal(hnet_cred_answer("username=me\n", 12, &user, &pass), -1);
	assert_null(user);
	assert_null(pass);
	/* a control character: nothing */
	assert_int_equal(hnet_cred_answer("username=me\npassword=a\rb\n", 25, &user, &pass), -1);
	assert_null(pass);
}

/* The session's git configuration: after the Envfile's own entries. */
static void test_envp(void **state)
{
	struct hnet_gitcred r = { .pid = 1, .lifeline = -1, .path = "/dev/shm/devenv-git-x" };
	struct dv_strv envp = { 0 };

	(void)state;
	dv_strv_push(&envp, "PATH=/bin");
	hnet_gitcred_envp(&r, &envp);
	assert_int_equal(envp.n, 4);
	assert_string_equal(envp.v[1], "GIT_CONFIG_COUNT=1");
	assert_string_equal(envp.v[2], "GIT_CONFIG_KEY_0=credential.helper");
	assert_string_equal(envp.v[3], "GIT_CONFIG_VALUE_0=cache --socket /dev/shm/devenv-git-x");
	dv_strv_release(&envp);
	dv_strv_push(&envp, "GIT_CONFIG_COUNT=2");
	dv_strv_push(&envp, "GIT_CONFIG_KEY_0=a.b");
	hnet_gitcred_envp(&r, &envp);
	assert_int_equal(envp.n, 4);
	assert_string_equal(envp.v[0], "GIT_CONFIG_COUNT=3");
	assert_string_equal(envp.v[2], "GIT_CONFIG_KEY_2=credential.helper");
	assert_string_equal(envp.v[3], "GIT_CONFIG_VALUE_2=cache --socket /dev/shm/devenv-git-x");
	dv_strv_release(&envp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_listed),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_envp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
