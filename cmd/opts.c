/*
 * cmd/opts.c - a command's options: parsed from its row of the table, and
 * printed by --help from the same rows.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/banned.h"

/* The options every command takes, before the command as after it:
 * `COMMAND --help` and devenv(1) print them. `only`: the commands it
 * means something for (0: every one). */
const struct cmd_common_opt cmd_common_opts[] = {
	{ "-e, --env NAME|ID",
	  "act on that env, from anywhere (default: the Envfile's, found from "
	  "the current folder)",
	  CMD_ENV },
	{ "    --json",
	  "output JSON where the command prints data; on up, provision and reload, "
	  "JSON Lines of progress (README: Progress and scripting)",
	  CMD_JSON },
	{ "-q, --quiet",
	  "no messages on success, only errors and warnings (what a command is "
	  "for, as status's or ls's listing, is still printed); on up, provision and "
	  "reload, a failed step's output too",
	  0 },
	{ "    --host ssh://USER@HOST[:PORT]",
	  "run it on that machine over ssh (also DEVENV_HOST; up, provision and reload: "
	  "config.yaml's host:); later commands in the checkout find it there by themselves "
	  "(README: On a bigger host over ssh)",
	  CMD_REMOTE },
	{ "-h, --help", "the command's usage and options", 0 },
};

const size_t cmd_n_common_opts = sizeof(cmd_common_opts) / sizeof(cmd_common_opts[0]);

static int opt_code(const struct cmd_opt *o)
{
	return o->code ? o->code : o->shortname;
}

const struct cmd *cmd_find(const struct cmd_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->cmds[i].name, name) == 0)
			return &t->cmds[i];
	return NULL;
}

const struct cmd *cmd_sub_nth(const struct cmd *parent, size_t k)
{
	for (size_t i = 0; parent->subs && parent->subs[i].name; i++)
		if (i == k)
			return &parent->subs[i];
	return NULL;
}

const struct cmd *cmd_find_sub(const struct cmd *parent, const char *name)
{
	const struct cmd *c;

	for (size_t i = 0; (c = cmd_sub_nth(parent, i)) != NULL; i++)
		if (!strcmp(c->name + strlen(parent->name) + 1, name))
			return c;
	return NULL;
}

void cmd_opt_flags(const struct cmd_opt *o, char *out, size_t n)
{
	if (o->shortname && o->name)
		snprintf(out, n, "-%c, --%s%s%s", o->shortname, o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
	else if (o->shortname)
		snprintf(out, n, "-%c%s%s", o->shortname, o->arg ? " " : "", o->arg ? o->arg : "");
	else
		snprintf(out, n, "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* Usage, what it does, its sub-commands, its own options, then the common
 * ones that mean something for it. */
void cmd_print_help(const struct cmd *cmd, const struct opt_spec *os)
{
	const struct cmd *sub;
	bool any = false;
	char fl[96];

	printf("usage: devenv %s%s%s\n\n%s\n", cmd->name, cmd->usage[0] ? " " : "", cmd->usage,
	       cmd->summary);
	if (cmd->flags & CMD_SUBCOMMANDS) {
		printf("\ncommands:\n");
		for (size_t i = 0; (sub = cmd_sub_nth(cmd, i)) != NULL; i++)
			printf("  %-10s %s\n", sub->name + strlen(cmd->name) + 1, sub->summary);
		printf("\n'devenv %s COMMAND --help' explains one.\n", cmd->name);
	}
	for (const struct cmd_opt *o = cmd->opts; o && (o->shortname || o->name); o++) {
		if (!any)
			printf("\noptions:\n");
		any = true;
		cmd_opt_flags(o, fl, sizeof(fl));
		printf("  %-24s %s\n", fl, o->help);
	}
	/* One parsed but not in the table: listed, so that completion.bats
	 * (every option --help lists is completed) finds it missing there. */
	for (const struct option *o = os ? os->longs : NULL; o && o->name; o++) {
		bool in_table = false;

		for (const struct cmd_opt *t = cmd->opts; t && (t->shortname || t->name); t++)
			in_table = in_table || (t->name && !strcmp(t->name, o->name));
		if (in_table)
			continue;
		if (!any)
			printf("\noptions:\n");
		any = true;
		printf("      --%-18s (not in the command's option table)\n", o->name);
	}
	printf("\ncommon options:\n");
	for (size_t i = 0; i < cmd_n_common_opts; i++)
		if (!cmd_common_opts[i].only || (cmd->flags & cmd_common_opts[i].only))
			printf("  %-24s %s\n", cmd_common_opts[i].flags, cmd_common_opts[i].help);
}

/* The long options a command takes, as "--name", for "did you mean": all
 * of them, whole (out is the caller's to release). */
static void long_names(const struct cmd *cmd, const struct opt_spec *os, struct dv_strv *out)
{
	static const char *const common[] = { "--help", "--json", "--env", "--quiet" };

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		dv_strv_push(out, common[i]);
	for (const struct cmd_opt *o = cmd->opts; o && (o->shortname || o->name); o++)
		if (o->name)
			dv_strv_push_owned(out, dv_xasprintf("--%s", o->name));
	for (const struct option *o = os ? os->longs : NULL; o && o->name; o++)
		dv_strv_push_owned(out, dv_xasprintf("--%s", o->name));
}

/* How many rows: a command's own options, or the long ones of os. */
static size_t n_opts(const struct cmd_opt *o)
{
	size_t n = 0;

	while (o && (o[n].shortname || o[n].name))
		n++;
	return n;
}

static size_t n_longs(const struct option *o)
{
	size_t n = 0;

	while (o && o[n].name)
		n++;
	return n;
}

/* getopt_long's arguments for cmd and os: sized for every row, so none is
 * dropped however many a command has (the caller frees both). */
static void getopt_tables(const struct cmd *cmd, const struct opt_spec *os, char **shorts_out,
			  struct option **longs_out)
{
	static const struct option common[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'J' },
		{ "env", required_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
	};
	size_t n = n_opts(cmd->opts), nc = sizeof(common) / sizeof(common[0]);
	const char *more = os && os->shorts ? os->shorts : "";
	/* "+:he:q", two bytes an option ("f:"), os's, the NUL */
	size_t cap = 8 + 2 * n + strlen(more);
	char *shorts = dv_xmalloc(cap), *p = shorts;
	struct option *longs =
		dv_xcalloc(nc + n + n_longs(os ? os->longs : NULL) + 1, sizeof(*longs));
	size_t nl = nc;

	memcpy(longs, common, sizeof(common));
	p += snprintf(p, cap, "%s:he:q", cmd->flags & (CMD_ARGV_TAIL | CMD_SUBCOMMANDS) ? "+" : "");
	for (const struct cmd_opt *o = cmd->opts; o && (o->shortname || o->name); o++) {
		if (o->name)
			longs[nl++] = (struct option){ o->name,
						       o->arg ? required_argument : no_argument,
						       NULL, opt_code(o) };
		if (o->shortname) {
			*p++ = o->shortname;
			if (o->arg)
				*p++ = ':';
		}
	}
	for (const struct option *o = os ? os->longs : NULL; o && o->name; o++)
		longs[nl++] = *o;
	snprintf(p, cap - (size_t)(p - shorts), "%s", more);
	*shorts_out = shorts;
	*longs_out = longs;
}

/* cmd_parse_opts() of cmd on argv (a family parses its own options, then
 * its sub-command's). Options may come after the arguments too (`devenv
 * logs web -f`), except for commands whose arguments are a command line
 * (ssh) or a sub-command. */
static int parse_opts(struct dv_ctx *ctx, const struct cmd *cmd, int argc, char **argv,
		      const struct opt_spec *os, bool *helped, struct dv_error *err)
{
	dv_autofree char *shorts = NULL;
	dv_autofree struct option *longs = NULL;
	int c;

	getopt_tables(cmd, os, &shorts, &longs);
	/* 0, not 1: glibc then sets its scan up afresh, ordering ('+') too;
	 * with 1 a sub-command kept its parent's "stop at the first
	 * argument" and `image inspect IMAGE --json` read --json as a name. */
	optind = 0;
	opterr = 0;
	*helped = false;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		switch (c) {
		case 'h':
			cmd_print_help(cmd, os);
			*helped = true;
			return -1;
		case 'J':
			ctx->json = true;
			break;
		case 'e':
			ctx->env_sel = optarg;
			break;
		case 'q':
			ctx->quiet = true;
			break;
		case '?': {
			const char *bad = argv[optind - 1];
			dv_autofree char *word = NULL;
			struct dv_strv cands = { 0 };
			struct dv_buf hint = { 0 };

			if (strncmp(bad, "--", 2) && optopt)
				return dv_err_usage(err,
						    "'devenv %s' has no option '-%c'; see 'devenv %s --help'",
						    cmd->name, optopt, cmd->name);
			word = dv_xstrndup(bad, strcspn(bad, "="));
			long_names(cmd, os, &cands);
			for (size_t i = 0; bad[strlen(word)] == '=' && i < cands.n; i++)
				if (!strcmp(cands.v[i], word)) {
					dv_strv_release(&cands);
					return dv_err_usage(err,
							    "option '%s' takes no value; see 'devenv %s --help'",
							    word, cmd->name);
				}
			dv_suggest(word, (const char *const *)cands.v, cands.n, &hint);
			dv_err_usage(err, "'devenv %s' has no option '%s'%s; see 'devenv %s --help'",
				     cmd->name, word, hint.s ? hint.s : "", cmd->name);
			dv_buf_release(&hint);
			dv_strv_release(&cands);
			return -1;
		}
		case ':':
			return dv_err_usage(err, "option '%s' needs a value; see 'devenv %s --help'",
					    argv[optind - 1], cmd->name);
		default:
			if (!os || !os->own || os->own(c, optarg, os->data, err) < 0)
				return dv_err_isset(err) ? -1 : dv_err_usage(err, "bad option");
		}
	}
	return optind;
}

int cmd_parse_opts(struct dv_ctx *ctx, const struct cmd_call *call, const struct opt_spec *os,
		   bool *helped, struct dv_error *err)
{
	return parse_opts(ctx, call->self, call->argc, call->argv, os, helped, err);
}

int cmd_no_args(const struct cmd_call *call, int oi, struct dv_error *err)
{
	if (oi < call->argc)
		return dv_err_usage(err,
				    "'devenv %s' takes no argument '%s'; see 'devenv %s --help'",
				    call->self->name, call->argv[oi], call->self->name);
	return 0;
}

/* The sub-command's options come from its own row (--help explains it). */
const struct cmd *cmd_parse_sub(struct dv_ctx *ctx, const struct cmd_call *call,
				const struct opt_spec *os, int *oi, bool *helped,
				struct dv_error *err)
{
	const struct cmd *self = call->self;
	int argc = call->argc;
	char **argv = call->argv;
	const char *names[16];
	const struct cmd *sub;
	struct dv_buf list = { 0 }, hint = { 0 };
	size_t n = 0;
	int first = parse_opts(ctx, self, argc, argv, NULL, helped, err), r;

	if (first < 0)
		return NULL;
	for (; n < 16 && (sub = cmd_sub_nth(self, n)) != NULL; n++) {
		names[n] = sub->name + strlen(self->name) + 1;
		dv_buf_addf(&list, "%s%s", n ? ", " : "", names[n]);
	}
	if (first >= argc) {
		dv_err_usage(err, "'devenv %s' needs a command: %s; see 'devenv %s --help'",
			     self->name, list.s, self->name);
		dv_buf_release(&list);
		return NULL;
	}
	sub = cmd_find_sub(self, argv[first]);
	if (!sub) {
		dv_suggest(argv[first], names, n, &hint);
		dv_err_usage(err, "'%s' is not a 'devenv %s' command%s; they are: %s", argv[first],
			     self->name, hint.s ? hint.s : "", list.s);
		dv_buf_release(&hint);
		dv_buf_release(&list);
		return NULL;
	}
	dv_buf_release(&list);
	r = parse_opts(ctx, sub, argc - first, argv + first, os, helped, err);
	if (r < 0)
		return NULL;
	*oi = first + r;
	return sub;
}

int cmd_sub_args(const struct cmd *sub, int argc, int oi, int n_min, int n_max, struct dv_error *err)
{
	if (argc - oi < n_min || (n_max >= 0 && argc - oi > n_max))
		return dv_err_usage(err, "usage: devenv %s %s; see 'devenv %s --help'", sub->name,
				    sub->usage, sub->name);
	return 0;
}
