/*
 * cmd/help.c - help, version and the man page, from the command table.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/banned.h"

int cmd_version(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		struct dv_error *err)
{
	bool helped;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err);

	(void)st;
	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0)
		return -1;
	printf("devenv %s\n", DEVENV_VERSION);
	return 0;
}

void cmd_print_usage(const struct cmd_table *t, FILE *f)
{
	fprintf(f,
		"usage: devenv [-e NAME|ID] [-q] [--json] [--host ssh://USER@HOST[:PORT]] COMMAND [OPTIONS]\n\n"
		"Reproducible development environments in Linux containers, from an Envfile.\n\n"
		"commands:\n");
	for (size_t i = 0; i < t->n; i++)
		if (!(t->cmds[i].flags & CMD_HIDDEN))
			fprintf(f, "  %-10s %s\n", t->cmds[i].name, t->cmds[i].summary);
	fprintf(f, "\n'devenv COMMAND --help' explains one and its options. -e, -q and --json "
		   "may come before\nthe command as after it. The store is $DEVENV_HOME, else "
		   "/var/lib/devenv as root\nand $XDG_DATA_HOME/devenv (~/.local/share/devenv) "
		   "without root.\n");
}

/* roff-escape s: backslashes, and a leading dot or quote. */
static void roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

/* roff-escape a text for an argument in quotes ("...") */
static void roff_quoted(const char *s)
{
	for (; *s; s++)
		if (*s == '"')
			fputs("\\(dq", stdout);
		else if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
}

/* One command of devenv(1): a sub-section with its usage, what it does,
 * and its own options. */
static void man_cmd(const struct cmd *c)
{
	char fl[96];

	printf(".SS \"devenv ");
	roff_quoted(c->name);
	if (c->usage[0]) {
		putchar(' ');
		roff_quoted(c->usage);
	}
	printf("\"\n");
	roff(c->summary);
	printf("\n");
	for (const struct cmd_opt *o = c->opts; o && (o->shortname || o->name); o++) {
		cmd_opt_flags(o, fl, sizeof(fl));
		printf(".TP\n.B ");
		roff(fl + strspn(fl, " "));
		printf("\n");
		roff(o->help);
		printf("\n");
	}
}

/* devenv help --man: devenv(1) in roff, from the same tables `--help`
 * prints, so the two cannot drift apart (the Makefile writes devenv.1). */
static void print_man(const struct cmd_table *t)
{
	const struct cmd *sub;

	printf(".TH DEVENV 1 \"\" \"devenv %s\" \"User Commands\"\n", DEVENV_VERSION);
	printf(".SH NAME\ndevenv \\- reproducible development environments in Linux containers\n");
	printf(".SH SYNOPSIS\n.B devenv\n[\\fIGLOBAL OPTIONS\\fR]\n.I COMMAND\n[\\fIOPTIONS\\fR]\n");
	printf(".SH DESCRIPTION\nReproducible development environments in Linux containers, from an "
	       "Envfile.\n.B devenv\nlooks for a file named\n.I Envfile\nin the current folder, then "
	       "its parents up to the repository root.\n");
	printf(".SH COMMANDS\n");
	for (size_t i = 0; i < t->n; i++) {
		if (t->cmds[i].flags & CMD_HIDDEN)
			continue;
		man_cmd(&t->cmds[i]);
		for (size_t k = 0; (sub = cmd_sub_nth(&t->cmds[i], k)) != NULL; k++)
			man_cmd(sub);
	}
	printf(".SH OPTIONS\nEvery command takes these, after the command or before it\n"
	       "(\\fBdevenv \\-e web status\\fR):\n");
	for (size_t i = 0; i < cmd_n_common_opts; i++) {
		printf(".TP\n.B ");
		roff(cmd_common_opts[i].flags + strspn(cmd_common_opts[i].flags, " "));
		printf("\n");
		roff(cmd_common_opts[i].help);
		printf("\n");
	}
	printf(".SH ENVIRONMENT\n.TP\n.B DEVENV_HOME\nthe store; else /var/lib/devenv as root and "
	       "$XDG_DATA_HOME/devenv (~/.local/share/devenv) without root\n"
	       ".TP\n.B NO_COLOR\nwhen set and not empty, no colour in progress lines\n");
	printf(".SH EXIT STATUS\n0 done, 1 failed, 2 usage or Envfile error;\n.B devenv ssh\n"
	       "exits with its command's status, or 125 when devenv itself failed.\n");
	printf(".SH SEE ALSO\nREADME.md of devenv, which explains the Envfile.\n");
}

int cmd_unknown(const struct cmd_table *t, const char *name, struct dv_error *err)
{
	const char *names[64];
	struct dv_buf hint = { 0 };
	size_t n = 0;

	for (size_t i = 0; i < t->n && n < 64; i++)
		if (!(t->cmds[i].flags & CMD_HIDDEN))
			names[n++] = t->cmds[i].name;
	dv_suggest(name, names, n, &hint);
	dv_err_usage(err, "'%s' is not a devenv command%s; 'devenv help' lists them", name,
		     hint.s ? hint.s : "");
	dv_buf_release(&hint);
	return -1;
}

int cmd_help(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	const struct cmd *c;

	(void)ctx;
	(void)st;
	if (call->argc < 2) {
		cmd_print_usage(call->table, stdout);
		return 0;
	}
	if (!strcmp(call->argv[1], "--man")) {
		print_man(call->table);
		return 0;
	}
	if (!strcmp(call->argv[1], "--help") || !strcmp(call->argv[1], "-h")) {
		cmd_print_help(call->self, NULL);
		return 0;
	}
	c = cmd_find(call->table, call->argv[1]);
	if (!c || (c->flags & CMD_HIDDEN))
		return cmd_unknown(call->table, call->argv[1], err);
	if (call->argc > 2 && (c->flags & CMD_SUBCOMMANDS)) {
		const struct cmd *sub = cmd_find_sub(c, call->argv[2]);

		if (!sub)
			return dv_err_usage(err,
					    "'%s' is not a 'devenv %s' command; see 'devenv help %s'",
					    call->argv[2], c->name, c->name);
		c = sub;
	}
	cmd_print_help(c, NULL);
	return 0;
}
