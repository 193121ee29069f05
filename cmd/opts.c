/*
 * cmd/opts.c - a command's options: parsed from its row of the table, and
 * printed by --help from the same rows.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/fault.h"
#include "util/term.h"
#include "util/userns.h"
#include "templates/templates.h"
#include "util/banned.h"

/* The options every command takes, before the command as after it:
 * `COMMAND --help` and devenv(1) print them. `only`: the commands it
 * means something for (0: every one). */
const struct cmd_common_opt cmd_common_opts[] = {
	{ "-e, --env NAME|ID", "act on that env, from anywhere (default: the Envfile's, found from "
			       "the current folder)", CMD_ENV },
	{ "    --json", "output JSON where the command prints data; on up, provision and reload, "
		      "JSON Lines of progress (README: Progress and scripting)", CMD_JSON },
	{ "-q, --quiet", "no messages on success, only errors and warnings (what a command is "
			 "for, as status's or ls's listing, is still printed); on up, provision and "
			 "reload, a failed step's output too", 0 },
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

/* The long options a command takes, for "did you mean". */
static size_t long_names(const struct cmd *cmd, const struct opt_spec *os, const char **out,
			 size_t max)
{
	static const char *const common[] = { "--help", "--json", "--env", "--quiet" };
	static char buf[32][40];
	size_t n = 0;

	for (size_t i = 0; i < 4 && n < max; i++)
		out[n++] = common[i];
	for (const struct cmd_opt *o = cmd->opts; o && (o->shortname || o->name) && n < max; o++)
		if (o->name && n < 32) {
			snprintf(buf[n], sizeof(buf[n]), "--%s", o->name);
			out[n] = buf[n];
			n++;
		}
	for (const struct option *o = os ? os->longs : NULL; o && o->name && n < max && n < 32; o++) {
		snprintf(buf[n], sizeof(buf[n]), "--%s", o->name);
		out[n] = buf[n];
		n++;
	}
	return n;
}

/* cmd_parse_opts() of cmd on argv (a family parses its own options, then
 * its sub-command's). Options may come after the arguments too (`devenv
 * logs web -f`), except for commands whose arguments are a command line
 * (ssh) or a sub-command. */
static int parse_opts(struct dv_ctx *ctx, const struct cmd *cmd, int argc, char **argv,
		      const struct opt_spec *os, bool *helped, struct dv_error *err)
{
	struct option longs[40] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'J' },
		{ "env", required_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
	};
	char shorts[96];
	size_t nl = 4, ns;
	int c;

	ns = (size_t)snprintf(shorts, sizeof(shorts), "%s:he:q",
			      cmd->flags & (CMD_ARGV_TAIL | CMD_SUBCOMMANDS) ? "+" : "");
	for (const struct cmd_opt *o = cmd->opts; o && (o->shortname || o->name); o++) {
		if (o->name && nl < 39)
			longs[nl++] = (struct option){ o->name, o->arg ? required_argument : no_argument,
						       NULL, opt_code(o) };
		if (o->shortname && ns + 3 < sizeof(shorts)) {
			shorts[ns++] = o->shortname;
			if (o->arg)
				shorts[ns++] = ':';
			shorts[ns] = 0;
		}
	}
	for (const struct option *o = os ? os->longs : NULL; o && o->name && nl < 39; o++)
		longs[nl++] = *o;
	if (os && os->shorts)
		snprintf(shorts + ns, sizeof(shorts) - ns, "%s", os->shorts);
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
			const char *cands[40], *bad = argv[optind - 1];
			dv_autofree char *word = NULL;
			struct dv_buf hint = { 0 };
			size_t n;

			if (strncmp(bad, "--", 2) && optopt)
				return dv_err_usage(err, "'devenv %s' has no option '-%c'; see 'devenv %s --help'",
						    cmd->name, optopt, cmd->name);
			word = dv_xstrndup(bad, strcspn(bad, "="));
			n = long_names(cmd, os, cands, 40);
			for (size_t i = 0; bad[strlen(word)] == '=' && i < n; i++)
				if (!strcmp(cands[i], word))
					return dv_err_usage(err, "option '%s' takes no value; see 'devenv %s --help'",
							    word, cmd->name);
			dv_suggest(word, cands, n, &hint);
			dv_err_usage(err, "'devenv %s' has no option '%s'%s; see 'devenv %s --help'",
				     cmd->name, word, hint.s ? hint.s : "", cmd->name);
			dv_buf_release(&hint);
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
		return dv_err_usage(err, "'devenv %s' takes no argument '%s'; see 'devenv %s --help'",
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
		dv_err_usage(err, "'devenv %s' needs a command: %s; see 'devenv %s --help'", self->name,
			     list.s, self->name);
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

int cmd_sub_args(const struct cmd *sub, int argc, int oi, int n_min, int n_max,
		 struct dv_error *err)
{
	if (argc - oi < n_min || (n_max >= 0 && argc - oi > n_max))
		return dv_err_usage(err, "usage: devenv %s %s; see 'devenv %s --help'", sub->name,
				    sub->usage, sub->name);
	return 0;
}
