/* test/unit/cmd_test.c - cmd/opts.c: a command's options parsed from its row
 * of the table, however many it has; its sub-commands found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cmd.h"

#define N_LONG 50

/* What own() saw: the code of each option, and its value. */
struct seen {
	int codes[128];
	const char *vals[128];
	size_t n;
};

static int record(int c, const char *arg, void *data, struct dv_error *err)
{
	struct seen *s = data;

	(void)err;
	if (s->n < 128) {
		s->codes[s->n] = c;
		s->vals[s->n] = arg;
		s->n++;
	}
	return 0;
}

/* A command with N_LONG long options ("opt00"...), each with a code of its
 * own, the last with a value, and one with a long name. */
static struct cmd_opt many[N_LONG + 2];
static char names[N_LONG][16]; /* "opt" and any int: no truncation warning */

static const struct cmd *many_cmd(void)
{
	static struct cmd c = { "many", NULL, 0, "", "a command with many options", many, NULL };

	for (int i = 0; i < N_LONG; i++) {
		snprintf(names[i], sizeof(names[i]), "opt%02d", i);
		many[i] =
			(struct cmd_opt){ 0, names[i], i == N_LONG - 1 ? "V" : NULL, 1000 + i, "" };
	}
	many[N_LONG] = (struct cmd_opt){ 0, "an-option-whose-name-is-longer-than-forty-letters",
					 NULL, 2000, "" };
	return &c;
}

static int parse(const struct cmd *c, struct seen *s, struct dv_error *err, int argc, ...)
{
	char *argv[64];
	struct dv_ctx ctx = { .store_lock_fd = -1 };
	struct opt_spec os = { NULL, NULL, record, s };
	struct cmd_call call = { c, NULL, argc, argv };
	va_list ap;
	bool helped = false;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);
	return cmd_parse_opts(&ctx, &call, &os, &helped, err);
}

/* Every option of the table is parsed, the 50th as the first: none past a
 * fixed count is dropped (it once said "has no option" past the 11th). */
static void test_many_long_options(void **state)
{
	const struct cmd *c = many_cmd();
	struct seen s = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(parse(c, &s, &err, 5, "many", "--opt00", "--opt36", "--opt48", "--opt49=x"),
			 5);
	assert_string_equal(err.msg, "");
	assert_int_equal(s.n, 4);
	assert_int_equal(s.codes[0], 1000);
	assert_int_equal(s.codes[1], 1036);
	assert_int_equal(s.codes[2], 1048);
	assert_int_equal(s.codes[3], 1049);
	assert_string_equal(s.vals[3], "x");
	memset(&s, 0, sizeof(s));
	assert_int_equal(parse(c, &s, &err, 2, "many",
			       "--an-option-whose-name-is-longer-than-forty-letters"),
			 2);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.codes[0], 2000);
}

/* "did you mean" offers any of them, whole, however long its name. */
static void test_did_you_mean_past_many(void **state)
{
	const struct cmd *c = many_cmd();
	struct seen s = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(parse(c, &s, &err, 2, "many", "--opt49x"), -1);
	assert_non_null(strstr(err.msg, "'--opt49'"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(parse(c, &s, &err, 2, "many",
			       "--an-option-whose-name-is-longer-than-forty-lettars"),
			 -1);
	assert_non_null(strstr(err.msg, "'--an-option-whose-name-is-longer-than-forty-letters'"));
	/* a value given to one that takes none */
	memset(&err, 0, sizeof(err));
	assert_int_equal(parse(c, &s, &err, 2, "many", "--opt48=1"), -1);
	assert_string_equal(err.msg, "option '--opt48' takes no value; see 'devenv many --help'");
}

/* Every short letter the table can give, each with a value. */
static void test_many_short_options(void **state)
{
	static const char letters[] = "abcdfgijklmnoprstuvwxyzABCDEFGHIKLMNOPQRSTUVWXYZ";
	static struct cmd_opt shorts[sizeof(letters)];
	static struct cmd c = { "shorts", NULL, 0, "", "", shorts, NULL };
	struct seen s = { 0 };
	struct dv_error err = { 0 };
	char *argv[2 * sizeof(letters) + 2];
	char flags[sizeof(letters)][3];
	struct dv_ctx ctx = { .store_lock_fd = -1 };
	struct opt_spec os = { NULL, NULL, record, &s };
	struct cmd_call call = { &c, NULL, 1, argv };
	bool helped;
	size_t n = strlen(letters);

	(void)state;
	argv[0] = "shorts";
	for (size_t i = 0; i < n; i++) {
		shorts[i] = (struct cmd_opt){ letters[i], NULL, "V", 0, "" };
		snprintf(flags[i], sizeof(flags[i]), "-%c", letters[i]);
		argv[call.argc++] = flags[i];
		argv[call.argc++] = "v";
	}
	argv[call.argc] = NULL;
	assert_int_equal(cmd_parse_opts(&ctx, &call, &os, &helped, &err), call.argc);
	assert_string_equal(err.msg, "");
	assert_int_equal(s.n, n);
	assert_int_equal(s.codes[n - 1], 'Z');
}

static void test_subcommands(void **state)
{
	static const struct cmd subs[] = {
		{ "fam one", NULL, 0, "", "", NULL, NULL },
		{ "fam two", NULL, 0, "X", "", NULL, NULL },
		{ 0 },
	};
	static const struct cmd fam = { "fam", NULL, CMD_SUBCOMMANDS, "", "", NULL, subs };
	static const struct cmd cmds[] = { { "fam", NULL, CMD_SUBCOMMANDS, "", "", NULL, subs } };
	const struct cmd_table t = { cmds, 1 };
	char *argv[] = { "fam", "two", "x", "y", NULL };
	struct cmd_call call = { &fam, &t, 4, argv };
	struct dv_ctx ctx = { .store_lock_fd = -1 };
	struct dv_error err = { 0 };
	bool helped;
	int oi = -1;

	(void)state;
	assert_ptr_equal(cmd_find(&t, "fam"), &cmds[0]);
	assert_null(cmd_find(&t, "fa"));
	assert_ptr_equal(cmd_sub_nth(&fam, 1), &subs[1]);
	assert_null(cmd_sub_nth(&fam, 2));
	assert_ptr_equal(cmd_find_sub(&fam, "one"), &subs[0]);
	assert_null(cmd_find_sub(&fam, "three"));
	assert_ptr_equal(cmd_parse_sub(&ctx, &call, NULL, &oi, &helped, &err), &subs[1]);
	assert_int_equal(oi, 2);
	assert_int_equal(cmd_sub_args(&subs[1], 4, oi, 1, 1, &err), -1);
	assert_string_equal(err.msg, "usage: devenv fam two X; see 'devenv fam two --help'");
	memset(&err, 0, sizeof(err));
	call.argc = 2;
	argv[1] = "thre";
	assert_null(cmd_parse_sub(&ctx, &call, NULL, &oi, &helped, &err));
	assert_string_equal(err.msg, "'thre' is not a 'devenv fam' command; they are: one, two");
	memset(&err, 0, sizeof(err));
	assert_int_equal(cmd_no_args(&call, 1, &err), -1);
	assert_string_equal(err.msg,
			    "'devenv fam' takes no argument 'thre'; see 'devenv fam --help'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_long_options),
		cmocka_unit_test(test_did_you_mean_past_many),
		cmocka_unit_test(test_many_short_options),
		cmocka_unit_test(test_subcommands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
