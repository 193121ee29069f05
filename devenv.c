/*
 * devenv.c - the command line: global set-up and a table of commands.
 *
 * Each cmd_* parses its options, calls a module or two and prints. Errors
 * come back in struct dv_error and are printed once, here. Exit status:
 * 0 done, 1 failed, 2 usage or Envfile error; `ssh` exits with its
 * command's status, or 125 when devenv itself failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "container/container.h"
#include "env/env.h"
#include "envfile/envfile.h"
#include "layers/layers.h"
#include "provision/provision.h"
#include "templates/templates.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/ctx.h"
#include "util/userns.h"
#include "util/fs.h"
#include "util/term.h"
#include "util/banned.h"

#define DEVENV_VERSION "0.1.0"

enum {
	CMD_STORE = 1 << 0,       /* opens the store */
	CMD_LOCKS_STORE = 1 << 1, /* holds it shared, so `gc` cannot remove what it builds */
	CMD_STORE_PEEK = 1 << 2,  /* only reads envs/: opens the root, creates nothing (hot path) */
	CMD_HIDDEN = 1 << 3,      /* for tools (completion), not in help or the man page */
	CMD_ENV = 1 << 4,         /* acts on an env: -e NAME|ID means something */
	CMD_JSON = 1 << 5,        /* --json means something */
	CMD_ARGV_TAIL = 1 << 6,   /* options stop at the first word (ssh's command) */
	CMD_SUBCOMMANDS = 1 << 7, /* `devenv CMD SUB ...`: options stop at SUB */
};

/*
 * A command's own options: one row each. parse_opts() takes them from here,
 * and --help, `devenv help --man` (devenv.1) and the completions
 * (`__complete options`) print them, so the four never disagree. To add an
 * option: a row here, and its code handled in the command's own() (struct
 * opt_spec). The code is what getopt_long returns: the short letter, or for
 * a long option without one any letter the table does not use otherwise.
 */
struct cmd_opt {
	char shortname;   /* 'f' for -f, or 0: long only */
	const char *name; /* "force" for --force, or NULL: short only */
	const char *arg;  /* the value's name ("S", "REF"), or NULL: takes none */
	int code;         /* what own() gets; 0: shortname */
	const char *help;
};

struct cmd {
	const char *name;
	int (*run)(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		   struct dv_error *err);
	unsigned flags;
	const char *usage;
	const char *summary;
	const struct cmd_opt *opts; /* its own options, ended by { 0 }; NULL: none */
};

static const struct cmd *find_cmd(const char *name);
static const struct cmd *find_sub(const struct cmd *parent, const char *name);
static const struct cmd *sub_nth(const struct cmd *parent, size_t k);

/* What a command does with its own options (cmd->opts): own() gets each
 * one's code and value. shorts/longs: options kept out of the table (none
 * here; an option there works but --help cannot explain it). */
struct opt_spec {
	const char *shorts;          /* more short options (getopt syntax) */
	const struct option *longs;  /* more long options, terminated by {0} */
	int (*own)(int c, const char *arg, void *data, struct dv_error *err);
	void *data;
};

/* The options every command takes, before the command as after it:
 * `COMMAND --help` and devenv(1) print them. `only`: the commands it
 * means something for (0: every one). */
static const struct {
	const char *flags, *help;
	unsigned only;
} common_opts[] = {
	{ "-e, --env NAME|ID", "act on that env, from anywhere (default: the Envfile's, found from "
			       "the current folder)", CMD_ENV },
	{ "    --json", "output JSON where the command prints data; on up, provision and reload, "
		      "JSON Lines of progress (README: Progress and scripting)", CMD_JSON },
	{ "-q, --quiet", "no messages on success, only errors and warnings (what a command is "
			 "for, as status's or ls's listing, is still printed); on up, provision and "
			 "reload, a failed step's output too", 0 },
	{ "-h, --help", "the command's usage and options", 0 },
};

#define N_COMMON (sizeof(common_opts) / sizeof(common_opts[0]))

static int opt_code(const struct cmd_opt *o)
{
	return o->code ? o->code : o->shortname;
}

/* "-f, --force" / "    --cache-from REF" / "-t, --timeout S" */
static void opt_flags(const struct cmd_opt *o, char *out, size_t n)
{
	if (o->shortname && o->name)
		snprintf(out, n, "-%c, --%s%s%s", o->shortname, o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
	else if (o->shortname)
		snprintf(out, n, "-%c%s%s", o->shortname, o->arg ? " " : "", o->arg ? o->arg : "");
	else
		snprintf(out, n, "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* `devenv CMD --help`: usage, what it does, its sub-commands, its own
 * options, then the common ones that mean something for it. */
static void print_cmd_help(const struct cmd *cmd, const struct opt_spec *os)
{
	const struct cmd *sub;
	bool any = false;
	char fl[96];

	printf("usage: devenv %s%s%s\n\n%s\n", cmd->name, cmd->usage[0] ? " " : "", cmd->usage,
	       cmd->summary);
	if (cmd->flags & CMD_SUBCOMMANDS) {
		printf("\ncommands:\n");
		for (size_t i = 0; (sub = sub_nth(cmd, i)) != NULL; i++)
			printf("  %-10s %s\n", sub->name + strlen(cmd->name) + 1, sub->summary);
		printf("\n'devenv %s COMMAND --help' explains one.\n", cmd->name);
	}
	for (const struct cmd_opt *o = cmd->opts; o && (o->shortname || o->name); o++) {
		if (!any)
			printf("\noptions:\n");
		any = true;
		opt_flags(o, fl, sizeof(fl));
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
	for (size_t i = 0; i < N_COMMON; i++)
		if (!common_opts[i].only || (cmd->flags & common_opts[i].only))
			printf("  %-24s %s\n", common_opts[i].flags, common_opts[i].help);
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

/* Parse the command's options: the common ones (--help, --json, -e NAME|ID,
 * -q) and its own (cmd->opts, handed to os->own). Options may come after
 * the arguments too (`devenv logs web -f`), except for commands whose
 * arguments are a command line (ssh) or a sub-command. Returns optind, or
 * -1 after printing help (*helped, status 0) or on a usage error. */
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
			print_cmd_help(cmd, os);
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

static int no_args(const struct cmd *cmd, int argc, char **argv, int optind_, struct dv_error *err)
{
	if (optind_ < argc)
		return dv_err_usage(err, "'devenv %s' takes no argument '%s'; see 'devenv %s --help'",
				    cmd->name, argv[optind_], cmd->name);
	return 0;
}

static const char *status_name(const struct env *env)
{
	if (!env->has_state)
		return "not created";
	switch (ctr_probe(&env->state.init)) {
	case CTR_RUNNING: return "running";
	case CTR_FROZEN: return "suspended";
	default: return "halted";
	}
}

/* ---- env commands ---- */

#define ENV_CMD_PROLOGUE_OPTS(need_spec, os)                                          \
	struct env env = { .lock_fd = -1 };                                      \
	bool helped;                                                                  \
	int oi = parse_opts(ctx, self, argc, argv, os, &helped, err), ret;            \
	if (oi < 0)                                                                   \
		return helped ? 0 : -1;                                               \
	if (no_args(self, argc, argv, oi, err) < 0)                                         \
		return -1;                                                            \
	if (env_locate(ctx, st, need_spec, &env, err) < 0) {                     \
		env_release(&env);                                               \
		return -1;                                                            \
	}
#define ENV_CMD_PROLOGUE(need_spec) ENV_CMD_PROLOGUE_OPTS(need_spec, NULL)

/* --cache-from REF (repeatable), for the commands that build. */
static int cache_from_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)err;
	if (c != 'C')
		return -1;
	dv_strv_push(data, arg);
	return 0;
}

/* The command line's --cache-from images, after the Envfile's. */
static void add_cache_from(struct env *env, struct dv_strv *extra)
{
	for (size_t i = 0; i < extra->n; i++)
		dv_strv_push(&env->spec.cache_from, extra->v[i]);
	dv_strv_release(extra);
}

/* --json on up, provision and reload: JSON Lines of progress on stdout
 * (provision/progress.c), so everything else printed to stdout (step
 * output, messages) goes to stderr instead and stdout stays parseable. */
static int events_begin(struct dv_ctx *ctx, struct dv_error *err)
{
	int fd;

	if (!ctx->json)
		return 0;
	fflush(stdout);
	fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || !(ctx->events = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return dv_err(err, errno, "cannot write to stdout");
	}
	if (dup2(2, 1) < 0)
		return dv_err(err, errno, "cannot send output to stderr");
	return 0;
}

/* The last line: {"result":"ok","env":…,"id":…,"seconds":…}, or
 * {"result":"failed","error":"Envfile:3:5: …","seconds":…}. */
static int events_end(struct dv_ctx *ctx, const struct env *env, int ret,
		      unsigned long long t0, struct dv_error *err)
{
	struct json_object *o;
	FILE *f = ctx->events;
	int bad;

	if (!f)
		return ret;
	o = json_object_new_object();
	json_object_object_add(o, "result", json_object_new_string(ret == 0 ? "ok" : "failed"));
	if (ret == 0 && env->spec.name)
		json_object_object_add(o, "env", json_object_new_string(env->spec.name));
	if (ret == 0 && env->id[0])
		json_object_object_add(o, "id", json_object_new_string(env->id));
	if (ret != 0) {
		char msg[sizeof(err->file) + sizeof(err->msg) + 32];

		if (err->file[0] && err->line)
			snprintf(msg, sizeof(msg), "%s:%u:%u: %s", err->file, err->line, err->col, err->msg);
		else if (err->file[0])
			snprintf(msg, sizeof(msg), "%s: %s", err->file, err->msg);
		else
			snprintf(msg, sizeof(msg), "%s", err->msg);
		json_object_object_add(o, "error", json_object_new_string(msg));
	}
	json_object_object_add(o, "seconds", prov_json_seconds((double)(dv_now_ns() - t0) / 1e9));
	prov_json_print(f, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(o);
	bad = fflush(f) != 0 || ferror(f);
	fclose(f);
	ctx->events = NULL;
	if (bad && ret == 0)
		return dv_err(err, errno, "cannot write output");
	return ret;
}

/* up and provision: the commands that build, with --cache-from and --json. */
static int up_or_provision(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
			   const struct cmd *self, bool up, struct dv_error *err)
{
	struct dv_strv from = { 0 };
	struct opt_spec os = { NULL, NULL, cache_from_opt, &from };
	struct env env = { .lock_fd = -1 };
	unsigned long long t0 = dv_now_ns();
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err), ret = -1;

	if (oi < 0 || no_args(self, argc, argv, oi, err) < 0) {
		dv_strv_release(&from);
		return oi < 0 && helped ? 0 : -1;
	}
	/* The trust check comes before anything runs: no pull, no clone, no
	 * step. --cache-from is the developer's own choice, not a request. */
	if (events_begin(ctx, err) < 0 || env_locate(ctx, st, true, &env, err) < 0 ||
	    prov_trust_check(ctx, st, env.id, &env.spec, err) < 0) {
		dv_strv_release(&from);
		goto out;
	}
	add_cache_from(&env, &from);
	ret = up ? env_up(ctx, st, &env, err) : env_provision(ctx, st, &env, err);
out:
	ret = events_end(ctx, &env, ret, t0, err);
	env_release(&env);
	return ret;
}

static int cmd_up(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		  struct dv_error *err)
{
	return up_or_provision(ctx, st, argc, argv, find_cmd("up"), true, err);
}

static int cmd_provision(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
			 struct dv_error *err)
{
	return up_or_provision(ctx, st, argc, argv, find_cmd("provision"), false, err);
}

static int timeout_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	char *end;
	unsigned long v;

	if (c != 't')
		return -1;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v > 3600)
		return dv_err_usage(err, "--timeout takes whole seconds from 0 to 3600, not '%s'", arg);
	*(unsigned *)data = (unsigned)v;
	return 0;
}

static int halt_or_reload(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
			  const struct cmd *self, bool reload, struct dv_error *err)
{
	unsigned timeout = 10;
	struct opt_spec os = { NULL, NULL, timeout_opt, &timeout };
	struct env env = { .lock_fd = -1 };
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err), ret = -1;
	unsigned long long t0 = dv_now_ns();

	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0)
		return -1;
	if (!reload)
		ctx->json = false; /* halt has no events; --json is accepted and ignored */
	if (events_begin(ctx, err) < 0 || env_locate(ctx, st, reload, &env, err) < 0)
		goto out;
	/* Before the halt: a reload not allowed leaves the env as it was. */
	if (reload && prov_trust_check(ctx, st, env.id, &env.spec, err) < 0)
		goto out;
	env.refresh_git = reload; /* reload picks up new commits of git steps */
	if (reload && !env.has_state) {
		ret = env_up(ctx, st, &env, err);
		goto out;
	}
	if (env_halt(ctx, st, &env, timeout, true, err) < 0)
		goto out;
	ret = reload ? env_up(ctx, st, &env, err) : 0;
out:
	ret = events_end(ctx, &env, ret, t0, err);
	env_release(&env);
	return ret;
}

static int cmd_halt(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		    struct dv_error *err)
{
	return halt_or_reload(ctx, st, argc, argv, find_cmd("halt"), false, err);
}

static int cmd_reload(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		      struct dv_error *err)
{
	return halt_or_reload(ctx, st, argc, argv, find_cmd("reload"), true, err);
}

static int suspend_or_resume(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
			     const struct cmd *self, bool freeze, struct dv_error *err)
{
	ENV_CMD_PROLOGUE(false);
	ret = env_suspend(ctx, st, &env, freeze, err);
	env_release(&env);
	return ret;
}

static int cmd_suspend(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		       struct dv_error *err)
{
	return suspend_or_resume(ctx, st, argc, argv, find_cmd("suspend"), true, err);
}

static int cmd_resume(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		      struct dv_error *err)
{
	return suspend_or_resume(ctx, st, argc, argv, find_cmd("resume"), false, err);
}

struct destroy_opts {
	bool force, volumes;
};

static int destroy_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct destroy_opts *o = data;

	(void)arg;
	(void)err;
	if (c == 'f')
		o->force = true;
	else if (c == 'V')
		o->volumes = true;
	else
		return -1;
	return 0;
}

/* 'a', 'b' */
static void quoted_list(const struct dv_strv *sv, struct dv_buf *b)
{
	for (size_t i = 0; i < sv->n; i++)
		dv_buf_addf(b, "%s'%s'", i ? ", " : "", sv->v[i]);
	if (!b->s)
		dv_buf_adds(b, "");
}

/* destroy --volumes: the destroyed env's own volumes. A shared one is kept
 * (as compose's `down -v` keeps external volumes), and so is one another
 * env names. Under the store's exclusive lock, so no `up` is between naming
 * one and recording it. */
static int destroy_volumes(const struct layer_store *st, const char *env_id,
			   const struct dv_strv *names, bool quiet, struct dv_error *err)
{
	struct env_vol *vols = NULL;
	size_t n = 0;
	dv_autoclose int lock = dv_lock_at(st->root_fd, "store.lock", true, "the store", err);

	if (lock < 0 || env_vol_list(st, false, &vols, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < names->n; i++) {
		const struct env_vol *v = NULL;

		for (size_t j = 0; j < n; j++)
			if (strcmp(vols[j].name, names->v[i]) == 0)
				v = &vols[j];
		if (!v)
			continue; /* never created, or removed already */
		if (v->envs.n) {
			struct dv_buf who = { 0 };

			quoted_list(&v->envs, &who);
			if (!quiet)
				printf("volume '%s' kept: env %s names it too\n", v->name, who.s);
			dv_buf_release(&who);
			continue;
		}
		if (v->damaged) {
			if (!quiet)
				printf("volume '%s' kept: its record is damaged; 'devenv volume rm "
				       "%s' removes it\n", v->name, v->name);
			continue;
		}
		/* One without a record was made before volumes were per env,
		 * when every env's were store-wide: removed as then. */
		if (v->shared && !v->legacy) {
			if (!quiet)
				printf("volume '%s' kept: it is shared; 'devenv volume rm %s' "
				       "removes it\n", v->name, v->name);
			continue;
		}
		if (!v->shared && strcmp(v->owner_id, env_id))
			continue; /* another env's (a name made to look like it) */
		if (env_vol_remove(st, v->name, err) < 0) {
			env_vols_free(vols, n);
			return -1;
		}
		if (!quiet)
			printf("volume '%s' removed\n", v->name);
	}
	env_vols_free(vols, n);
	return 0;
}

static int cmd_destroy(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		       struct dv_error *err)
{
	const struct cmd *self = find_cmd("destroy");
	struct destroy_opts dopts = { 0 };
	bool helped;
	struct opt_spec os = { NULL, NULL, destroy_opt, &dopts };
	struct env env = { .lock_fd = -1 };
	struct dv_strv volumes = { 0 };
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err), ret = -1;
	bool force;

	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0)
		return -1;
	force = dopts.force;
	if (env_locate(ctx, st, false, &env, err) < 0) {
		if (err->errnum != EBADMSG || !env.id[0])
			goto out;
		/* A damaged record: what its cgroups hold is killed and the
		 * env's folder removed, as for any other. */
		memset(err, 0, sizeof(*err));
		if (!force && !isatty(0)) {
			dv_err_usage(err, "'devenv destroy' asks before removing the damaged env %s; "
				     "pass -f to skip the question", env.id);
			goto out;
		}
		if (!force) {
			char answer[16] = "";

			printf("Destroy the damaged env %s? Its files outside the checkout are lost. [y/N] ",
			       env.id);
			fflush(stdout);
			if (!fgets(answer, sizeof(answer), stdin) ||
			    (answer[0] != 'y' && answer[0] != 'Y')) {
				printf("nothing destroyed\n");
				ret = 0;
				goto out;
			}
		}
		ret = env_destroy_damaged(ctx, st, &env, err);
		goto out;
	}
	if (!force && env.has_state) {
		char answer[16] = "";

		if (!isatty(0)) {
			dv_err_usage(err, "'devenv destroy' asks before removing env '%s'; pass -f to skip the question",
				     env.state.name);
			goto out;
		}
		printf("Destroy env '%s' (%s)? Its files outside the checkout are lost. [y/N] ",
		       env.state.name, env.id);
		fflush(stdout);
		if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
			printf("nothing destroyed\n");
			ret = 0;
			goto out;
		}
	}
	for (size_t i = 0; i < env.state.volumes.n; i++)
		dv_strv_push(&volumes, env.state.volumes.v[i]);
	if (dopts.volumes) {
		/* Its usual line says the volumes are kept: say what happens. */
		bool quiet = ctx->quiet;
		dv_autofree char *name = dv_xstrdup(env.has_state ? env.state.name : "");

		ctx->quiet = true;
		ret = env_destroy(ctx, st, &env, err);
		ctx->quiet = quiet;
		if (ret == 0 && !quiet)
			printf("env '%s' destroyed (the checkout is kept)\n", name);
		if (ret == 0)
			ret = destroy_volumes(st, env.id, &volumes, ctx->quiet, err);
	} else {
		ret = env_destroy(ctx, st, &env, err);
	}
out:
	dv_strv_release(&volumes);
	env_release(&env);
	return ret;
}

/* status: each service, live; an exited one with its last log lines. */
static void print_services(const struct layer_store *st, const struct env *env)
{
	if (env->state.n_services)
		printf("  services:\n");
	for (size_t i = 0; i < env->state.n_services; i++) {
		struct env_svc_info in;

		env_svc_info(st, env, i, &in);
		if (in.state == ENV_SVC_EXITED) {
			printf("    %s: exited with status %d; its last lines ('devenv logs %s' has all):\n",
			       in.name, in.exit_status, in.name);
			fflush(stdout);
			env_svc_tail(st, env->id, in.name, 5, stdout, "      ");
		} else if (in.state == ENV_SVC_RUNNING || in.state == ENV_SVC_FROZEN) {
			printf("    %s: %s (pid %d)\n", in.name, env_svc_state_name(in.state), (int)in.pid);
		} else {
			printf("    %s: stopped\n", in.name);
		}
	}
}

static struct json_object *services_json(const struct layer_store *st, const struct env *env)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < env->state.n_services; i++) {
		struct json_object *o = json_object_new_object();
		struct env_svc_info in;
		bool live;

		env_svc_info(st, env, i, &in);
		live = in.state == ENV_SVC_RUNNING || in.state == ENV_SVC_FROZEN;
		json_object_object_add(o, "name", json_object_new_string(in.name));
		json_object_object_add(o, "state", json_object_new_string(env_svc_state_name(in.state)));
		json_object_object_add(o, "exit_status", in.exit_status >= 0 ? json_object_new_int(in.exit_status) : NULL);
		json_object_object_add(o, "pid", live ? json_object_new_int(in.pid) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

/* The forwards of an env's last start, for `port --json` and `status --json`. */
static struct json_object *ports_json(const struct env_record *state)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < state->n_ports; i++) {
		const struct ctr_port *p = &state->ports[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "container_port", json_object_new_int((int)p->container_port));
		json_object_object_add(o, "protocol", json_object_new_string("tcp"));
		json_object_object_add(o, "host_ip", json_object_new_string(p->host_ip));
		json_object_object_add(o, "host_port", json_object_new_int((int)p->host_port));
		json_object_array_add(a, o);
	}
	return a;
}

/* "12.0 KiB", "~12.0 KiB" for an estimate. */
static void df_size(char *out, size_t n, unsigned long long bytes, bool estimate)
{
	char s[32];

	dv_str_size(s, sizeof(s), bytes);
	snprintf(out, n, "%s%s", estimate ? "~" : "", s);
}

static void format_age(char *out, size_t n, long long created)
{
	long long age = (long long)time(NULL) - created;

	if (age < 120)
		snprintf(out, n, "%llds", age);
	else if (age < 7200)
		snprintf(out, n, "%lldm", age / 60);
	else if (age < 172800)
		snprintf(out, n, "%lldh", age / 3600);
	else
		snprintf(out, n, "%lldd", age / 86400);
}

static int cmd_status(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		      struct dv_error *err)
{
	const struct cmd *self = find_cmd("status");
	ENV_CMD_PROLOGUE(false);
	const char *state = status_name(&env);
	bool running = env.has_state && ctr_probe(&env.state.init) != CTR_STOPPED;
	unsigned long long ooms = 0;
	/* The counters live in the env's cgroups, which halt removes: an init
	 * killed for memory leaves them for status to read until then. */
	bool oom_known = env.has_state && ctr_cgroup_oom_kills(&env.state.cgroups, &ooms) == 0;
	/* Recorded at halt and commit (provision/df.c): no walk here. */
	struct env_size sz;
	bool has_size = env.has_state && env_size_read(st, env.id, &sz);

	if (ctx->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(env.id));
		json_object_object_add(o, "name", env.has_state ? json_object_new_string(env.state.name) : NULL);
		json_object_object_add(o, "state", json_object_new_string(state));
		json_object_object_add(o, "pid", running ? json_object_new_int(env.state.init.pid) : NULL);
		json_object_object_add(o, "image", env.has_state ? json_object_new_string(env.state.image) : NULL);
		json_object_object_add(o, "image_id", env.has_state ? json_object_new_string(env.state.image_id) : NULL);
		json_object_object_add(o, "image_for", env.has_state && env.state.image_for && env.state.image_for[0] ? json_object_new_string(env.state.image_for) : NULL);
		json_object_object_add(o, "checkout", env.has_state ? json_object_new_string(env.state.checkout) : NULL);
		json_object_object_add(o, "workdir", env.has_state ? json_object_new_string(env.state.workdir) : NULL);
		json_object_object_add(o, "created", env.has_state ? json_object_new_int64(env.state.created) : NULL);
		json_object_object_add(o, "size", has_size ? json_object_new_int64((int64_t)sz.bytes) : NULL);
		json_object_object_add(o, "size_measured", has_size ? json_object_new_string(sz.when) : NULL);
		json_object_object_add(o, "size_at", has_size ? json_object_new_int64(sz.at) : NULL);
		json_object_object_add(o, "oom_kills", oom_known ? json_object_new_int64((int64_t)ooms) : NULL);
		json_object_object_add(o, "oom_killed", json_object_new_boolean(ooms > 0));
		json_object_object_add(o, "user", env.has_state && env.state.user[0] ? json_object_new_string(env.state.user) : NULL);
		json_object_object_add(o, "rootless", json_object_new_boolean(ctx->rootless));
		json_object_object_add(o, "checkout_ownership", env.has_state && env.state.ownership[0] ? json_object_new_string(env.state.ownership) : NULL);
		json_object_object_add(o, "userns_map", env.has_state && env.state.userns_map && env.state.userns_map[0] ? json_object_new_string(env.state.userns_map) : NULL);
		if (env.has_state) {
			char caps[32];

			snprintf(caps, sizeof(caps), "%llx", env.state.caps);
			json_object_object_add(o, "seccomp", json_object_new_string(env.state.seccomp && env.state.seccomp[0] ? "filtered" : "unconfined"));
			json_object_object_add(o, "caps", json_object_new_string(caps));
			json_object_object_add(o, "services", services_json(st, &env));
			json_object_object_add(o, "network", json_object_new_string(
				env.state.network && env.state.network[0] ? env.state.network : "host"));
			json_object_object_add(o, "ports", ports_json(&env.state));
		}
		prov_json_print(stdout, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(o);
	} else if (!env.has_state) {
		printf("env %s: not created ('devenv up' creates it)\n", env.id);
	} else {
		printf("env '%s' (%s): %s\n", env.state.name, env.id, state);
		{
			/* The checkout's path and the Envfile's workdir, escaped. */
			struct dv_buf co = { 0 }, wd = { 0 };

			dv_buf_add_safe(&co, env.state.checkout, strlen(env.state.checkout));
			dv_buf_add_safe(&wd, env.state.workdir, strlen(env.state.workdir));
			printf("  image:    %s", env.state.image);
			if (env.state.image_for && env.state.image_for[0]) /* a team's base, pinned (teamcache.c) */
				printf(" (the team's '%s', pinned by digest)", env.state.image_for);
			printf("\n  checkout: %s\n  workdir:  %s\n", co.s, wd.s);
			dv_buf_release(&co);
			dv_buf_release(&wd);
		}
		if (env.state.user[0])
			printf("  user:     %s (uid %u, gid %u)\n", env.state.user, env.state.user_uid,
			       env.state.user_gid);
		if (!strcmp(env.state.ownership, "rootless") && env.state.userns_map &&
		    !strcmp(env.state.userns_map, "keep-id"))
			printf("  checkout ownership: rootless, keep-id (user '%s', uid %u in the env, "
			       "is uid %u on the host; root and the env's other ids are your "
			       "subordinate ids until halt gives their files back to you)\n",
			       env.state.user, env.state.user_uid, env.state.host_uid);
		else if (!strcmp(env.state.ownership, "rootless"))
			printf("  checkout ownership: rootless (root in the env is uid %u on the "
			       "host; other ids of the env are your subordinate ids until halt gives "
			       "their files back to you)\n",
			       env.state.host_uid);
		else if (!strcmp(env.state.ownership, "chown"))
			printf("  checkout ownership: chown (no idmapped mount here: after each ssh and "
			       "on_up command, and at halt, what the env changed there is given to "
			       "uid %u, without setuid bits or file capabilities)\n",
			       env.state.host_uid);
		else if (env.state.ownership[0])
			printf("  checkout ownership: %s (only uid %u can own files there)\n",
			       env.state.ownership, env.state.host_uid);
		if (ctx->rootless)
			printf("  rootless: %s; %s\n",
			       ctx->userns == DV_USERNS_SINGLE
				       ? "single-id user namespace (only root in the env)"
				       : "user namespace with your subordinate ids",
			       env.state.cgroups.n ? "limits in a delegated cgroup"
						   : "no delegated cgroup: memory and cpus limits "
						     "not enforced, pids by RLIMIT_NPROC");
		printf("  sandbox:  seccomp %s, %s capabilities, no_new_privs\n",
		       env.state.seccomp && env.state.seccomp[0] ? "filter on" : "unconfined",
		       env.state.caps == ctr_caps_default ? "podman's default" : "custom");
		printf("  network:  %s\n",
		       env.state.network && env.state.network[0] ? env.state.network : "host");
		for (size_t i = 0; i < env.state.n_ports; i++)
			printf("  port:     %u/tcp -> %s:%u\n", env.state.ports[i].container_port,
			       env.state.ports[i].host_ip, env.state.ports[i].host_port);
		if (running)
			printf("  init pid: %d\n", (int)env.state.init.pid);
		if (has_size) {
			char size[40], age[32];

			df_size(size, sizeof(size), sz.bytes, false);
			format_age(age, sizeof(age), sz.at);
			printf("  size:     %s (at its last %s, %s ago%s)\n", size, sz.when, age,
			       running ? "; it may have grown since" : "");
		}
		if (ooms)
			printf("  out of memory: %llu process%s OOM-killed%s; see 'resources: memory'\n", ooms,
			       ooms == 1 ? "" : "es", running ? "" : ", the env's init may be among them");
		print_services(st, &env);
	}
	env_release(&env);
	ret = 0;
	return ret;
}

/* `port`: the forwards of the running env, as `docker port` prints them. */
static int cmd_port(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		    struct dv_error *err)
{
	const struct cmd *self = find_cmd("port");
	ENV_CMD_PROLOGUE(false);
	ret = -1;
	if (!env.has_state) {
		dv_err_plain(err, ENOENT, "env %s was never brought up; 'devenv up' creates it",
			     env.id);
		goto out;
	}
	if (ctr_probe(&env.state.init) == CTR_STOPPED) {
		dv_err_plain(err, ESRCH, "env '%s' is not running; 'devenv up' starts it and its "
			     "forwards", env.state.name);
		goto out;
	}
	if (ctx->json) {
		struct json_object *a = ports_json(&env.state);

		prov_json_print(stdout, a, JSON_C_TO_STRING_PLAIN);
		json_object_put(a);
	} else {
		for (size_t i = 0; i < env.state.n_ports; i++) {
			const struct ctr_port *p = &env.state.ports[i];
			bool v6 = strchr(p->host_ip, ':') != NULL;

			printf("%u/tcp -> %s%s%s:%u\n", p->container_port, v6 ? "[" : "", p->host_ip,
			       v6 ? "]" : "", p->host_port);
		}
	}
	ret = 0;
out:
	env_release(&env);
	return ret;
}

static int cmd_ls(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		  struct dv_error *err)
{
	const struct cmd *self = find_cmd("ls");
	struct env_record *all;
	struct dv_strv damaged = { 0 };
	size_t n;
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, NULL, &helped, err);
	struct json_object *arr = NULL;

	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0 || env_list(st, &damaged, &all, &n, err) < 0)
		return -1;
	if (ctx->json)
		arr = json_object_new_array();
	else
		printf("%-12s  %-16s  %-8s  %-5s  %-10s  %-28s  %s\n", "ID", "NAME", "STATE", "AGE",
		       "SIZE", "IMAGE", "CHECKOUT");
	for (size_t i = 0; i < n; i++) {
		struct env tmp = { .has_state = true, .state = all[i] };
		const char *state = status_name(&tmp);
		struct env_size sz;
		bool has_size = env_size_read(st, all[i].id, &sz);
		char age[32], size[40] = "-";

		format_age(age, sizeof(age), all[i].created);
		/* The record of its last halt or commit; running, it may have grown. */
		if (has_size)
			df_size(size, sizeof(size), sz.bytes, strcmp(state, "halted") != 0);
		if (arr) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_string(all[i].id));
			json_object_object_add(o, "name", json_object_new_string(all[i].name));
			json_object_object_add(o, "state", json_object_new_string(state));
			json_object_object_add(o, "image", json_object_new_string(all[i].image));
			json_object_object_add(o, "checkout", json_object_new_string(all[i].checkout));
			json_object_object_add(o, "created", json_object_new_int64(all[i].created));
			json_object_object_add(o, "size", has_size ? json_object_new_int64((int64_t)sz.bytes) : NULL);
			json_object_object_add(o, "size_measured", has_size ? json_object_new_string(sz.when) : NULL);
			json_object_object_add(o, "size_at", has_size ? json_object_new_int64(sz.at) : NULL);
			json_object_array_add(arr, o);
		} else {
			printf("%-12s  %-16s  %-8s  %-5s  %-10s  %-28s  %s\n", all[i].id, all[i].name, state,
			       age, size, all[i].image, all[i].checkout);
		}
		env_record_release(&all[i]);
	}
	free(all);
	/* A damaged env is listed (by its folder's name), with the one line
	 * naming its file and saying what to do. */
	for (size_t i = 0; i < damaged.n; i++) {
		env_say_damaged(st, damaged.v[i]);
		if (arr) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_string(damaged.v[i]));
			json_object_object_add(o, "name", NULL);
			json_object_object_add(o, "state", json_object_new_string("damaged"));
			json_object_object_add(o, "image", NULL);
			json_object_object_add(o, "checkout", NULL);
			json_object_object_add(o, "created", NULL);
			json_object_array_add(arr, o);
		} else {
			printf("%-12s  %-16s  %-8s  %-5s  %-10s  %-28s  %s\n", damaged.v[i], "?", "damaged",
			       "?", "?", "?", "?");
		}
	}
	dv_strv_release(&damaged);
	if (arr) {
		prov_json_print(stdout, arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(arr);
	}
	return 0;
}

struct logs_opts {
	bool follow;
	long long tail; /* -1: all; -2: not given */
};

static int logs_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct logs_opts *o = data;
	unsigned long long v = 0;

	if (c == 'f') {
		o->follow = true;
		return 0;
	}
	if (c != 'n')
		return -1;
	if (!strcmp(arg, "all")) {
		o->tail = -1;
		return 0;
	}
	for (const char *p = arg; *p; p++)
		if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned)(*p - '0')) > 100000000)
			return dv_err_usage(err, "--tail takes a number of lines or 'all', not '%s'", arg);
	if (!*arg)
		return dv_err_usage(err, "--tail takes a number of lines or 'all', not ''");
	o->tail = (long long)v;
	return 0;
}

static int cmd_logs(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		    struct dv_error *err)
{
	const struct cmd *self = find_cmd("logs");
	struct logs_opts lo = { .tail = -2 };
	bool helped;
	struct opt_spec os = { NULL, NULL, logs_opt, &lo };
	struct env env = { .lock_fd = -1 };
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err), ret = -1;
	dv_autofree char *dir = NULL;
	const struct ctr_init *follows;
	const char *svc = NULL;

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi < argc)
		svc = argv[oi++];
	if (no_args(self, argc, argv, oi, err) < 0 || env_locate(ctx, st, false, &env, err) < 0)
		goto out;
	follows = &env.state.init;
	if (svc) {
		/* Only a name state.json records: never a path of the caller's. */
		const struct env_svc_record *ss = NULL;
		struct dv_buf names = { 0 };

		for (size_t i = 0; i < env.state.n_services; i++) {
			if (!strcmp(env.state.services[i].name, svc))
				ss = &env.state.services[i];
			dv_buf_addf(&names, "%s'%s'", i ? ", " : "", env.state.services[i].name);
		}
		if (!ss) {
			if (!env.has_state)
				dv_err_plain(err, ENOENT, "env %s was never brought up; 'devenv up' creates it", env.id);
			else if (!names.len)
				dv_err_plain(err, ENOENT, "env '%s' has no service '%s' (it started none)",
					     env.state.name, svc);
			else
				dv_err_plain(err, ENOENT, "env '%s' has no service '%s'; its services: %s",
					     env.state.name, svc, names.s);
			dv_buf_release(&names);
			goto out;
		}
		dv_buf_release(&names);
		follows = &ss->init;
		dir = dv_xasprintf("envs/%s/services/%s", env.id, ss->name);
	} else {
		dir = dv_xasprintf("envs/%s", env.id);
	}
	/* As tail -f: following starts from the last 10 lines. */
	if (lo.tail == -2)
		lo.tail = lo.follow ? 10 : -1;
	ret = env_logs_show(st, dir, lo.tail, lo.follow && env.has_state ? follows : NULL, err);
out:
	env_release(&env);
	return ret;
}

/* ---- ssh: the hot path. Reads state.json, enters, execs; nothing else. ---- */

struct ssh_opts {
	const char *command, *user;
};

static int ssh_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)err;
	if (c == 'u') {
		((struct ssh_opts *)data)->user = arg;
		return 0;
	}
	if (c != 'c')
		return -1;
	((struct ssh_opts *)data)->command = arg;
	return 0;
}

static int cmd_ssh(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		   struct dv_error *err)
{
	const struct cmd *self = find_cmd("ssh");
	struct ssh_opts so = { 0 };
	struct opt_spec os = { NULL, NULL, ssh_opt, &so };
	struct ctr_owner owner;
	struct env env = { .lock_fd = -1 };
	struct dv_strv envp = { 0 };
	char cwd[PATH_MAX], dir[PATH_MAX];
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err), status = 0, ret = -1;
	const char *term = getenv("TERM");

	err->status = 125;
	if (oi < 0) {
		if (!helped)
			err->status = 2;
		return helped ? 0 : -1;
	}
	if (so.command && oi < argc)
		return dv_err_usage(err, "give either -c CMD or -- ARGV..., not both");
	if (env_locate(ctx, st, false, &env, err) < 0)
		goto out;
	if (!env.has_state) {
		dv_err_plain(err, ESRCH, "env %s was never brought up; 'devenv up' creates it", env.id);
		goto out;
	}
	if (env_checkout_check(&env.state, err) < 0)
		goto out;
	/* From checkout/sub/dir start in workdir/sub/dir. */
	snprintf(dir, sizeof(dir), "%s", env.state.workdir);
	if (getcwd(cwd, sizeof(cwd))) {
		size_t n = strlen(env.state.checkout);

		if (strncmp(cwd, env.state.checkout, n) == 0 && (cwd[n] == '/' || cwd[n] == 0))
			snprintf(dir, sizeof(dir), "%s%s", env.state.workdir, cwd + n);
	}
	for (size_t i = 0; i < env.state.env.n; i++)
		dv_strv_push(&envp, env.state.env.v[i]);
	bool tty = ctx->tty_in; /* as `docker exec -it`: a terminal in, a pty inside */
	if (tty)
		dv_strv_push_owned(&envp, dv_xasprintf("TERM=%s", term ? term : "xterm"));
	char *shell_argv[] = { env.state.shell, "-c", (char *)so.command, NULL };
	char *login_argv[] = { env.state.shell, "-l", NULL };
	struct ctr_exec x = {
		.argv = so.command ? shell_argv : oi < argc ? argv + oi : login_argv,
		.envp = envp.v,
		.cwd = dir,
		.tty = tty,
		.tee_fd = -1,
		/* The Envfile's user unless --user says otherwise ("root" included). */
		.user = so.user ? so.user : env.state.user && env.state.user[0] ? env.state.user : NULL,
		.owner = env_record_owner(&env.state, &owner),
	};
	struct ctr_sandbox sb = { 0 };
	if (ctr_sandbox_load(env.state.seccomp, env.state.caps, &sb, err) < 0)
		goto out;
	sb.nproc = prov_nproc_fallback(&env.state.limits, &env.state.cgroups);
	x.sandbox = &sb;
	fflush(stdout);
	/* No separate liveness probe: ctr_exec checks the init's start time and
	 * the freezer itself, and says which (ESRCH, EBUSY). The sweep's
	 * folders ("chown" ownership only) are opened before it enters. */
	struct env_sweep sweep;
	env_sweep_open(&env.state, "command", &sweep);
	int xr = ctr_exec(&env.state.init, &env.state.cgroups, &x, &status, err);
	ctr_sandbox_release(&sb);
	if (xr == 0)
		env_sweep_run(&sweep);
	env_sweep_release(&sweep);
	if (xr < 0) {
		if (err->errnum == ESRCH)
			dv_err_plain(err, ESRCH, "env '%s' is not running; 'devenv up' starts it",
				     env.state.name);
		else if (err->errnum == EBUSY)
			dv_err_plain(err, EBUSY, "env '%s' is suspended; 'devenv resume' thaws it",
				     env.state.name);
		goto out;
	}
	err->status = status;
	ret = status == 0 ? 0 : -2; /* -2: exit with the command's status, print nothing */
out:
	dv_strv_release(&envp);
	env_release(&env);
	return ret;
}

/* ---- image store commands ---- */

/* "host/path:tag" as REPOSITORY and TAG ("<none>" for a digest name). */
static void split_name(const char *name, char *repo, size_t rn, char *tag, size_t tn)
{
	const char *slash = strrchr(name, '/'), *at = strchr(name, '@');
	const char *colon = strrchr(slash ? slash : name, ':');

	if (at) {
		snprintf(repo, rn, "%.*s", (int)(at - name), name);
		snprintf(tag, tn, "<none>");
	} else if (colon) {
		snprintf(repo, rn, "%.*s", (int)(colon - name), name);
		snprintf(tag, tn, "%s", colon + 1);
	} else {
		snprintf(repo, rn, "%s", name);
		snprintf(tag, tn, "<none>");
	}
}

/* When the image was made: its config's "created" (RFC 3339, as registries
 * and commit give it), else when it was stored here (imports have no date,
 * so that their ids depend on their content alone). */
static long long image_created(const struct layer_image *img)
{
	struct json_object *o = img->config ? json_tokener_parse(img->config) : NULL, *c;
	long long t = img->created, when;

	if (o && json_object_object_get_ex(o, "created", &c) &&
	    layer_time_parse(json_object_get_string(c), &when) == 0)
		t = when;
	json_object_put(o);
	return t;
}

static int cmd_images(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		      struct dv_error *err)
{
	const struct cmd *self = find_cmd("images");
	struct layer_image *imgs;
	size_t n;
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, NULL, &helped, err);
	struct json_object *arr = NULL;

	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0 || layer_image_list(st, &imgs, &n, err) < 0)
		return -1;
	if (ctx->json)
		arr = json_object_new_array();
	else
		printf("%-32s  %-12s  %-12s  %-14s  %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
	for (size_t i = 0; i < n; i++) {
		char size[32], age[32], when[40], repo[256], tag[160];
		long long created = image_created(&imgs[i]);

		split_name(imgs[i].name, repo, sizeof(repo), tag, sizeof(tag));
		dv_str_size(size, sizeof(size), imgs[i].size);
		format_age(age, sizeof(age), created);
		if (arr) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(imgs[i].name));
			json_object_object_add(o, "repository", json_object_new_string(repo));
			json_object_object_add(o, "tag", json_object_new_string(tag));
			json_object_object_add(o, "id", json_object_new_string(imgs[i].id));
			json_object_object_add(o, "created", json_object_new_int64(created));
			json_object_object_add(o, "size", json_object_new_int64((int64_t)imgs[i].size));
			json_object_object_add(o, "layers", json_object_new_int((int)imgs[i].layers.n));
			json_object_array_add(arr, o);
		} else {
			/* As `docker images` shows them: the id without "sha256:", cut to 12. */
			snprintf(when, sizeof(when), "%s ago", age);
			printf("%-32s  %-12s  %.12s  %-14s  %s\n", repo, tag,
			       imgs[i].id + (strncmp(imgs[i].id, "sha256:", 7) ? 0 : 7), when, size);
		}
		layer_image_release(&imgs[i]);
	}
	{
		/* Not listed: one line each, naming the file, saying what to do. */
		struct dv_strv damaged = { 0 };

		layer_image_damaged(st, &damaged);
		for (size_t i = 0; i < damaged.n; i++)
			layer_image_say_damaged(st, damaged.v[i]);
		dv_strv_release(&damaged);
	}
	free(imgs);
	if (arr) {
		prov_json_print(stdout, arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(arr);
	}
	return 0;
}

static int cmd_commit(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		      struct dv_error *err)
{
	const struct cmd *self = find_cmd("commit");
	struct env env = { .lock_fd = -1 };
	struct layer_image img = { 0 };
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, NULL, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != argc)
		return dv_err_usage(err, "usage: devenv commit [-e NAME|ID] IMAGE[:TAG]");
	if (env_locate(ctx, st, false, &env, err) == 0 &&
	    env_commit(ctx, st, &env, argv[oi], &img, err) == 0) {
		if (!ctx->quiet)
			printf("%s %s\n", img.name, img.id);
		ret = 0;
	}
	layer_image_release(&img);
	env_release(&env);
	return ret;
}

static int cmd_tag(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		   struct dv_error *err)
{
	const struct cmd *self = find_cmd("tag");
	struct layer_image img = { 0 };
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, NULL, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 2 != argc)
		return dv_err_usage(err, "usage: devenv tag IMAGE NAME[:TAG]");
	if (layer_image_tag(st, argv[oi], argv[oi + 1], &img, err) == 0) {
		if (!ctx->quiet)
			printf("%s %s\n", img.name, img.id);
		ret = 0;
	}
	layer_image_release(&img);
	return ret;
}

static int cmd_rmi(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		   struct dv_error *err)
{
	const struct cmd *self = find_cmd("rmi");
	struct layer_image img = { 0 };
	struct env_record *all = NULL;
	size_t n = 0;
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, NULL, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != argc)
		return dv_err_usage(err, "usage: devenv rmi IMAGE");
	if (layer_image_resolve(st, argv[oi], &img, err) < 0 && err->errnum == EBADMSG) {
		/* A damaged record: what it named is unknown, so no env can be
		 * found using it; gc keeps every layer while it is there. */
		dv_autofree char *name = NULL;

		memset(err, 0, sizeof(*err));
		if (layer_image_remove_damaged(st, argv[oi], &name, err) < 0)
			goto out;
		if (!ctx->quiet)
			printf("removed the damaged record of image '%s'\n", name);
		ret = 0;
		goto out;
	}
	if (dv_err_isset(err) || env_list(st, NULL, &all, &n, err) < 0)
		goto out;
	/* A damaged env's image is not known: gc keeps every layer while
	 * there is one, so removing the image's name loses nothing. */
	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i].image_id, img.id) == 0) {
			dv_err_plain(err, EBUSY, "image '%s' is used by env '%s' (%s); destroy it first", img.name,
			       all[i].name, all[i].id);
			goto out;
		}
		for (size_t k = 0; k < all[i].n_services; k++) {
			if (all[i].services[k].image_id && !strcmp(all[i].services[k].image_id, img.id)) {
				dv_err_plain(err, EBUSY, "image '%s' is used by service '%s' of env '%s' (%s); destroy the env first",
					     img.name, all[i].services[k].name, all[i].name, all[i].id);
				goto out;
			}
		}
	}
	if (layer_image_remove(st, img.name, err) < 0)
		goto out;
	if (!ctx->quiet)
		printf("removed image '%s' ('devenv gc' frees its layers)\n", img.name);
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		env_record_release(&all[i]);
	free(all);
	layer_image_release(&img);
	return ret;
}

static int platform_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)err;
	if (c != 'P')
		return -1;
	*(const char **)data = arg;
	return 0;
}

static int cmd_pull(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		    struct dv_error *err)
{
	const struct cmd *self = find_cmd("pull");
	const char *platform = NULL;
	struct opt_spec os = { NULL, NULL, platform_opt, &platform };
	struct layer_image img = { 0 };
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err);

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != argc)
		return dv_err_usage(err, "usage: devenv pull [--platform OS/ARCH[/VARIANT]] "
					 "[host[:port]/]NAME[:TAG|@sha256:DIGEST]");
	if (layer_image_pull_platform(st, argv[oi], platform, &img, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf("%s %s\n", img.name, img.id);
	layer_image_release(&img);
	return 0;
}

/* `push REF` in a checkout where REF is no image of the store, or `push -e
 * NAME REF`: the env's provisioning, for the team cache. */
static int push_env(struct dv_ctx *ctx, struct layer_store *st, const char *dest,
		    enum layer_compression comp, struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	int ret = -1;

	/* The trust check as `up` has it: the push asks the git steps'
	 * remotes (file://, loopback...) for their commits when it has none
	 * remembered. */
	if (env_locate(ctx, st, true, &env, err) == 0 &&
	    prov_trust_check(ctx, st, env.id, &env.spec, err) == 0)
		ret = env_push(ctx, st, &env, dest, comp, err);
	env_release(&env);
	return ret;
}

static int compression_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	enum layer_compression *comp = data;

	if (c != 'C')
		return -1;
	if (strcmp(arg, "gzip") == 0)
		*comp = LAYER_GZIP;
	else if (strcmp(arg, "zstd") == 0)
		*comp = LAYER_ZSTD;
	else
		return dv_err_usage(err, "unknown compression '%s': use gzip or zstd", arg);
	return 0;
}

static int cmd_push(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		    struct dv_error *err)
{
	const struct cmd *self = find_cmd("push");
	enum layer_compression comp = LAYER_GZIP;
	struct opt_spec os = { NULL, NULL, compression_opt, &comp };
	dv_autofree char *name = NULL;
	struct layer_image img = { 0 };
	struct dv_error miss = { 0 };
	char digest[65];
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err);

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != argc && oi + 2 != argc)
		return dv_err_usage(err, "usage: devenv push [--compression gzip|zstd] IMAGE "
					 "[host[:port]/NAME[:TAG]], or in a checkout: devenv push "
					 "[--compression gzip|zstd] [-e NAME|ID] host[:port]/NAME[:TAG]");
	if (oi + 1 == argc) {
		if (ctx->env_sel)
			return push_env(ctx, st, argv[oi], comp, err);
		if (layer_image_resolve(st, argv[oi], &img, &miss) < 0) {
			struct dv_error no_env = { 0 };
			char *path = NULL, *checkout = NULL;
			bool in_checkout = envfile_find(".", &path, &checkout, &no_env) == 0;

			free(path);
			free(checkout);
			if (miss.errnum == ENOENT && in_checkout)
				return push_env(ctx, st, argv[oi], comp, err);
			*err = miss;
			return -1;
		}
		layer_image_release(&img);
	}
	if (layer_image_push(st, argv[oi], oi + 1 < argc ? argv[oi + 1] : NULL, comp,
			     ctx->quiet ? NULL : stdout, &name, digest, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf("%s sha256:%s\n", name, digest);
	return 0;
}

struct login_opts {
	const char *user;
	bool password_stdin;
};

static int login_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct login_opts *o = data;

	(void)err;
	if (c == 'u')
		o->user = arg;
	else if (c == 'P')
		o->password_stdin = true;
	else
		return -1;
	return 0;
}

/* One line of standard input without its line end (caller frees), after
 * a prompt on a terminal; a secret is read with echo off. */
static char *read_line(const char *prompt, bool secret, struct dv_error *err)
{
	struct termios old, quiet;
	bool tty = isatty(0), hidden = false;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
	}
	if (tty && secret && tcgetattr(0, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		hidden = tcsetattr(0, TCSAFLUSH, &quiet) == 0;
	}
	n = getline(&line, &cap, stdin);
	if (hidden) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		dv_err_plain(err, EINVAL, "nothing on standard input for the %s",
			     secret ? "password" : "user name");
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	return line;
}

static int cmd_login(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		     struct dv_error *err)
{
	const struct cmd *self = find_cmd("login");
	struct login_opts lo = { 0 };
	struct opt_spec os = { NULL, NULL, login_opt, &lo };
	dv_autofree char *user = NULL, *password = NULL;
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err), ret;

	(void)st;
	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != argc)
		return dv_err_usage(err, "usage: devenv login [-u USER] [--password-stdin] HOST[:PORT]");
	if (layer_host_check(argv[oi], err) < 0)
		return -1;
	if (!lo.user && !isatty(0))
		return dv_err_usage(err, "say who logs in: 'devenv login -u USER --password-stdin %s'",
				    argv[oi]);
	if (!lo.password_stdin && !isatty(0))
		return dv_err_usage(err, "standard input is not a terminal: give the password on it "
					 "with --password-stdin");
	user = lo.user ? dv_xstrdup(lo.user) : read_line("Username: ", false, err);
	if (!user || !(password = read_line("Password: ", true, err)))
		return -1;
	ret = layer_login(argv[oi], user, password, err);
	explicit_bzero(password, strlen(password));
	if (ret == 0 && !ctx->quiet)
		printf("logged in to %s\n", argv[oi]);
	return ret;
}

static int cmd_logout(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		      struct dv_error *err)
{
	const struct cmd *self = find_cmd("logout");
	bool helped, found = false;
	int oi = parse_opts(ctx, self, argc, argv, NULL, &helped, err);

	(void)st;
	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != argc)
		return dv_err_usage(err, "usage: devenv logout HOST[:PORT]");
	if (layer_logout(argv[oi], &found, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf(found ? "logged out of %s\n" : "not logged in to %s\n", argv[oi]);
	return 0;
}

/* `devenv image|volume SUB ...`: the sub-command, its options parsed (from
 * its row of subcommands[]; --help explains it). Returns its struct cmd
 * with *oi the index of its first argument in argv, or NULL: *helped after
 * help, else a usage error in err. */
static const struct cmd *parse_sub(struct dv_ctx *ctx, const struct cmd *self, int argc,
				   char **argv, const struct opt_spec *os, int *oi, bool *helped,
				   struct dv_error *err)
{
	const char *names[16];
	const struct cmd *sub;
	struct dv_buf list = { 0 }, hint = { 0 };
	size_t n = 0;
	int first = parse_opts(ctx, self, argc, argv, NULL, helped, err), r;

	if (first < 0)
		return NULL;
	for (; n < 16 && (sub = sub_nth(self, n)) != NULL; n++) {
		names[n] = sub->name + strlen(self->name) + 1;
		dv_buf_addf(&list, "%s%s", n ? ", " : "", names[n]);
	}
	if (first >= argc) {
		dv_err_usage(err, "'devenv %s' needs a command: %s; see 'devenv %s --help'", self->name,
			     list.s, self->name);
		dv_buf_release(&list);
		return NULL;
	}
	sub = find_sub(self, argv[first]);
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

/* A sub-command given n_min to n_max arguments (n_max < 0: any number). */
static int sub_args(const struct cmd *sub, int argc, int oi, int n_min, int n_max,
		    struct dv_error *err)
{
	if (argc - oi < n_min || (n_max >= 0 && argc - oi > n_max))
		return dv_err_usage(err, "usage: devenv %s %s; see 'devenv %s --help'", sub->name,
				    sub->usage, sub->name);
	return 0;
}

static int cmd_image(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		     struct dv_error *err)
{
	const struct cmd *self = find_cmd("image"), *sub;
	struct layer_image img = { 0 };
	unsigned skipped = 0;
	bool helped;
	int oi, ret = -1;
	const char *what;

	if (!(sub = parse_sub(ctx, self, argc, argv, NULL, &oi, &helped, err)))
		return helped ? 0 : -1;
	what = sub->name + strlen("image ");
	if (strcmp(what, "import") == 0) {
		if (sub_args(sub, argc, oi, 2, 2, err) < 0)
			return -1;
		if (layer_image_import(st, argv[oi], argv[oi + 1], &img, &skipped, err) < 0)
			goto out;
	} else if (strcmp(what, "inspect") == 0) {
		/* As `docker image inspect`: one JSON object per image asked for. */
		struct json_object *arr = json_object_new_array();

		if (sub_args(sub, argc, oi, 1, -1, err) < 0) {
			json_object_put(arr);
			return -1;
		}
		for (int i = oi; i < argc; i++) {
			struct json_object *o, *layers;
			struct layer_image one = { 0 };
			char repo[256], tag[160], when[32];

			o = json_object_new_object();
			layers = json_object_new_array();

			if (layer_image_resolve(st, argv[i], &one, err) < 0) {
				json_object_put(o);
				json_object_put(layers);
				json_object_put(arr);
				return -1;
			}
			split_name(one.name, repo, sizeof(repo), tag, sizeof(tag));
			json_object_object_add(o, "Id", json_object_new_string(one.id));
			json_object_object_add(o, "Name", json_object_new_string(one.name));
			json_object_object_add(o, "Repository", json_object_new_string(repo));
			json_object_object_add(o, "Tag", json_object_new_string(tag));
			layer_time_rfc3339(image_created(&one), when);
			json_object_object_add(o, "Created", json_object_new_string(when));
			json_object_object_add(o, "Size", json_object_new_int64((int64_t)one.size));
			for (size_t k = 0; k < one.layers.n; k++)
				json_object_array_add(layers, json_object_new_string(one.layers.v[k]));
			json_object_object_add(o, "Layers", layers);
			json_object_object_add(o, "Config", one.config ? json_tokener_parse(one.config) : NULL);
			json_object_array_add(arr, o);
			layer_image_release(&one);
		}
		/* The config is the image's: json-c leaves C1 controls and
		 * bytes that are not UTF-8 as they are. */
		prov_json_print(stdout, arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(arr);
		return 0;
	} else if (strcmp(what, "load") == 0) {
		if (sub_args(sub, argc, oi, 1, 2, err) < 0)
			return -1;
		if (layer_image_load(st, argv[oi], argc - oi == 2 ? argv[oi + 1] : NULL, &img, err) < 0)
			goto out;
	} else if (strcmp(what, "save") == 0) {
		if (sub_args(sub, argc, oi, 2, 2, err) < 0)
			return -1;
		if (layer_image_save(st, argv[oi], argv[oi + 1], err) < 0)
			return -1;
		if (!ctx->quiet)
			printf("saved %s to %s (an OCI image layout archive)\n", argv[oi], argv[oi + 1]);
		return 0;
	} else {
		if (sub_args(sub, argc, oi, 1, 1, err) < 0)
			return -1;
		if (layer_image_bootstrap(st, argv[oi], &img, err) < 0)
			goto out;
	}
	if (skipped && !ctx->quiet)
		printf("skipped %u device node%s (the runtime provides /dev)\n", skipped,
		       skipped == 1 ? "" : "s");
	if (!ctx->quiet)
		printf("%s %s\n", img.name, img.id);
	ret = 0;
out:
	layer_image_release(&img);
	return ret;
}

/* volume ls [--json] | volume rm [-f|--force] NAME... */
static int volume_ls(struct dv_ctx *ctx, const struct layer_store *st, struct dv_error *err)
{
	struct env_vol *v;
	size_t n, wv = 6, we = 3, wn = 4;
	struct json_object *arr = NULL;

	if (env_vol_list(st, true, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t e = v[i].owner_name ? strlen(v[i].owner_name) : 1;

		wv = strlen(v[i].name) > wv ? strlen(v[i].name) : wv;
		we = e > we ? e : we;
		wn = strlen(v[i].volume) > wn ? strlen(v[i].volume) : wn;
	}
	if (ctx->json)
		arr = json_object_new_array();
	else
		printf("%-*s  %-*s  %-*s  %-10s  %s\n", (int)wv, "VOLUME", (int)we, "ENV", (int)wn,
		       "NAME", "SIZE", "USED BY");
	for (size_t i = 0; i < n; i++) {
		char size[32];
		struct dv_buf who = { 0 };

		dv_str_size(size, sizeof(size), v[i].size);
		if (arr) {
			struct json_object *o = json_object_new_object();
			struct json_object *envs = json_object_new_array();
			struct json_object *owner = NULL;

			for (size_t j = 0; j < v[i].envs.n; j++) {
				struct json_object *e = json_object_new_object();

				json_object_object_add(e, "id", json_object_new_string(v[i].env_ids.v[j]));
				json_object_object_add(e, "name", json_object_new_string(v[i].envs.v[j]));
				json_object_array_add(envs, e);
			}
			if (v[i].owner_id) {
				owner = json_object_new_object();
				json_object_object_add(owner, "id", json_object_new_string(v[i].owner_id));
				json_object_object_add(owner, "name",
						       json_object_new_string(v[i].owner_name));
			}
			json_object_object_add(o, "name", json_object_new_string(v[i].name));
			json_object_object_add(o, "volume", json_object_new_string(v[i].volume));
			json_object_object_add(o, "env", owner);
			json_object_object_add(o, "shared", json_object_new_boolean(v[i].shared));
			json_object_object_add(o, "size", json_object_new_int64((int64_t)v[i].size));
			json_object_object_add(o, "envs", envs);
			json_object_object_add(o, "running", json_object_new_boolean(v[i].running));
			json_object_array_add(arr, o);
			continue;
		}
		for (size_t j = 0; j < v[i].envs.n; j++)
			dv_buf_addf(&who, "%s%s", j ? "," : "", v[i].envs.v[j]);
		printf("%-*s  %-*s  %-*s  %-10s  %s\n", (int)wv, v[i].name, (int)we,
		       v[i].owner_name ? v[i].owner_name : "-", (int)wn, v[i].volume, size,
		       who.s ? who.s : "-");
		dv_buf_release(&who);
	}
	env_vols_free(v, n);
	if (arr) {
		prov_json_print(stdout, arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(arr);
	}
	return 0;
}

/* A NAME of `volume rm`: a volume's store name, or in a checkout (or with
 * -e) the name its Envfile gives one of its env's own volumes. */
static const struct env_vol *volume_find(struct dv_ctx *ctx, const struct layer_store *st,
					     const struct env_vol *v, size_t n,
					     const char *name, struct dv_error *err)
{
	const struct env_vol *exact = NULL, *own = NULL;
	struct env env = { .lock_fd = -1 };
	struct dv_error ignored = { 0 };

	for (size_t j = 0; j < n; j++)
		if (!strcmp(v[j].name, name))
			exact = &v[j];
	if (env_locate(ctx, st, false, &env, &ignored) == 0)
		for (size_t j = 0; j < n; j++)
			if (v[j].owner_id && !strcmp(v[j].owner_id, env.id) &&
			    !strcmp(v[j].volume, name))
				own = &v[j];
	if (exact && own && exact != own) {
		dv_err_usage(err, "'%s' is both the store-wide volume '%s' and env %s's own '%s'; "
			     "give the full name; nothing was removed", name, exact->name, env.id,
			     own->name);
		env_release(&env);
		return NULL;
	}
	env_release(&env);
	if (!exact && !own)
		dv_err_plain(err, ENOENT, "no volume named '%s'; 'devenv volume ls' lists them; "
			     "nothing was removed", name);
	return exact ? exact : own;
}

/* All names are checked before anything is removed: a refused rm removes
 * nothing. A running env's volume is never removed (it is mounted there);
 * a halted env's only with --force (its next up starts it empty). */
static int volume_rm(struct dv_ctx *ctx, const struct layer_store *st, bool force, int argc,
		     char **argv, struct dv_error *err)
{
	struct env_vol *v = NULL;
	struct dv_strv names = { 0 }, found = { 0 };
	size_t n = 0;
	int ret = -1;
	dv_autoclose int lock = -1;

	for (int i = 0; i < argc; i++)
		dv_strv_push(&names, argv[i]);
	/* Exclusive, as gc: no `up` is between naming a volume and recording it. */
	lock = dv_lock_at(st->root_fd, "store.lock", true, "the store", err);
	if (lock < 0 || env_vol_list(st, false, &v, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		const struct env_vol *p = NULL;
		struct dv_buf who = { 0 };

		if (!env_vol_name_ok(names.v[i])) {
			dv_err_usage(err, "'%.80s' is not a volume name; 'devenv volume ls' lists them",
				     names.v[i]);
			goto out;
		}
		if (!(p = volume_find(ctx, st, v, n, names.v[i], err)))
			goto out;
		quoted_list(&p->envs, &who);
		if (p->running)
			dv_err_plain(err, EBUSY, "volume '%s' is in use by running env %s; halt it first; "
				     "nothing was removed", p->name, who.s);
		else if (p->envs.n && !force)
			dv_err_plain(err, EBUSY, "volume '%s' is named by env %s; 'devenv destroy "
				     "--volumes' there, or 'devenv volume rm --force %s' (its next "
				     "up starts it empty); nothing was removed", p->name, who.s, p->name);
		dv_buf_release(&who);
		if (dv_err_isset(err))
			goto out;
		for (size_t j = 0; p && j < found.n; j++)
			if (!strcmp(found.v[j], p->name))
				p = NULL; /* named twice */
		if (p)
			dv_strv_push(&found, p->name);
	}
	for (size_t i = 0; i < found.n; i++) {
		if (env_vol_remove(st, found.v[i], err) < 0)
			goto out;
		if (!ctx->quiet)
			printf("volume '%s' removed\n", found.v[i]);
	}
	ret = 0;
out:
	env_vols_free(v, n);
	dv_strv_release(&names);
	dv_strv_release(&found);
	return ret;
}

/* volume rm's -f, --force (volume_rm_opts) */
static int volume_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)arg;
	(void)err;
	if (c != 'f')
		return -1;
	*(bool *)data = true;
	return 0;
}

static int cmd_volume(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		      struct dv_error *err)
{
	const struct cmd *self = find_cmd("volume"), *sub;
	bool force = false, helped;
	struct opt_spec os = { NULL, NULL, volume_opt, &force };
	int oi;

	if (!(sub = parse_sub(ctx, self, argc, argv, &os, &oi, &helped, err)))
		return helped ? 0 : -1;
	if (!strcmp(sub->name, "volume ls"))
		return sub_args(sub, argc, oi, 0, 0, err) < 0 ? -1 : volume_ls(ctx, st, err);
	if (sub_args(sub, argc, oi, 1, -1, err) < 0)
		return -1;
	return volume_rm(ctx, st, force, argc - oi, argv + oi, err);
}

static int verbose_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)arg;
	(void)err;
	if (c != 'v')
		return -1;
	*(bool *)data = true;
	return 0;
}

/* `df`: docker system df's shape, from provision/df.c. */
static int cmd_df(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		  struct dv_error *err)
{
	const struct cmd *self = find_cmd("df");
	bool verbose = false, helped;
	struct opt_spec os = { NULL, NULL, verbose_opt, &verbose };
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err);
	struct env_df df;

	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0 || env_df(st, &df, err) < 0)
		return -1;
	if (ctx->json) {
		struct json_object *o = json_object_new_object();

		for (size_t r = 0; r < ENV_DF_N; r++) {
			const struct env_df_row *row = &df.rows[r];
			struct json_object *x = json_object_new_object(), *items = json_object_new_array();
			char key[16];

			for (size_t i = 0; i < row->n; i++) {
				const struct env_df_item *it = &row->items[i];
				struct json_object *y = json_object_new_object();

				json_object_object_add(y, "name", json_object_new_string(it->name));
				if (it->id)
					json_object_object_add(y, "id", json_object_new_string(it->id));
				if (it->state)
					json_object_object_add(y, "state", json_object_new_string(it->state));
				json_object_object_add(y, "size", json_object_new_int64((int64_t)it->size));
				json_object_object_add(y, "active", json_object_new_boolean(it->active));
				json_object_object_add(y, "estimate", json_object_new_boolean(it->estimate));
				json_object_array_add(items, y);
			}
			json_object_object_add(x, "total", json_object_new_int((int)row->total));
			json_object_object_add(x, "active", json_object_new_int((int)row->active));
			json_object_object_add(x, "size", json_object_new_int64((int64_t)row->size));
			json_object_object_add(x, "reclaimable", json_object_new_int64((int64_t)row->reclaimable));
			json_object_object_add(x, "estimate", json_object_new_boolean(row->estimate));
			json_object_object_add(x, "items", items);
			snprintf(key, sizeof(key), "%s", row->type);
			key[0] = (char)(key[0] - 'A' + 'a');
			json_object_object_add(o, key, x);
		}
		prov_json_print(stdout, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(o);
		env_df_release(&df);
		return 0;
	}
	printf("%-8s  %5s  %6s  %-11s  %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
	for (size_t r = 0; r < ENV_DF_N; r++) {
		const struct env_df_row *row = &df.rows[r];
		char size[40], rec[40];

		df_size(size, sizeof(size), row->size, row->estimate);
		dv_str_size(rec, sizeof(rec), row->reclaimable);
		printf("%-8s  %5u  %6u  %-11s  %s (%llu%%)\n", row->type, row->total, row->active, size,
		       rec, row->size ? row->reclaimable * 100 / row->size : 0ULL);
	}
	for (size_t r = 0; verbose && r < ENV_DF_N; r++) {
		const struct env_df_row *row = &df.rows[r];

		printf("\n%s:\n", row->type);
		for (size_t i = 0; i < row->n; i++) {
			const struct env_df_item *it = &row->items[i];
			char size[40];

			df_size(size, sizeof(size), it->size, it->estimate);
			if (r == ENV_DF_IMAGES)
				printf("  %-40s  %-19.19s  %-11s  %s\n", it->name, it->id, size,
				       it->active ? "used by an env" : "unused");
			else if (r == ENV_DF_LAYERS)
				printf("  %.12s  %-11s  %s\n", it->name, size, it->active ? "in use" : "unused (gc)");
			else if (r == ENV_DF_ENVS)
				printf("  %-12s  %-16s  %-8s  %s\n", it->id, it->name, it->state, size);
			else
				printf("  %-40s  %-11s  %s\n", it->name, size, it->state);
		}
	}
	if (df.rows[ENV_DF_ENVS].estimate)
		printf("~: a running env's size as of its last halt or commit\n");
	env_df_release(&df);
	return 0;
}

static int cmd_gc(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		  struct dv_error *err)
{
	const struct cmd *self = find_cmd("gc");
	struct env_record *all = NULL;
	struct dv_strv in_use = { 0 }, damaged = { 0 }, images = { 0 };
	size_t n = 0;
	unsigned layers = 0, records = 0, cgroups = 0, locks = 0;
	unsigned long long bytes = 0;
	char size[32];
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, NULL, &helped, err), ret = -1;
	dv_autoclose int lock = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0)
		return -1;
	/* Exclusive: no `up` may be between building a layer and recording it. */
	lock = dv_lock_at(st->root_fd, "store.lock", true, "the store", err);
	if (lock < 0 || env_list(st, &damaged, &all, &n, err) < 0)
		goto out;
	/* A damaged env or image record is skipped and reported; what layers
	 * it names is unknown (an env's init may run on them), so every layer
	 * stays until it is removed (destroy -e, rmi). */
	for (size_t i = 0; i < damaged.n; i++)
		env_say_damaged(st, damaged.v[i]);
	layer_image_damaged(st, &images);
	for (size_t i = 0; i < images.n; i++)
		layer_image_say_damaged(st, images.v[i]);
	if (damaged.n || images.n) {
		printf("kept every layer: %zu damaged record%s (see above)\n", damaged.n + images.n,
		       damaged.n + images.n == 1 ? "" : "s");
		if (layer_ids(st, &in_use, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < all[i].layers.n; j++)
			dv_strv_push(&in_use, all[i].layers.v[j]);
		for (size_t k = 0; k < all[i].n_services; k++)
			for (size_t j = 0; j < all[i].services[k].layers.n; j++)
				dv_strv_push(&in_use, all[i].services[k].layers.v[j]);
	}
	if (layer_gc(st, &in_use, &layers, &bytes, err) < 0 ||
	    env_sandbox_gc(st, all, n, &bytes, err) < 0 || prov_trust_gc(st, &records, err) < 0)
		goto out;
	dv_fault_point("gc.layers");
	/* What killed commands left: the cgroups of their build steps, the
	 * locks of envs destroyed since (tmp/ went with layer_gc). */
	if (prov_build_cgroups_gc(st, &cgroups, err) < 0 || env_locks_gc(st, &locks, err) < 0)
		goto out;
	dv_str_size(size, sizeof(size), bytes);
	if (ctx->quiet)
		layers = cgroups = locks = records = 0; /* -q: nothing said */
	else
		printf("removed %u layer%s, freed %s\n", layers, layers == 1 ? "" : "s", size);
	if (cgroups)
		printf("removed %u cgroup%s of killed builds\n", cgroups, cgroups == 1 ? "" : "s");
	if (locks)
		printf("removed %u lock file%s of removed envs\n", locks, locks == 1 ? "" : "s");
	if (records)
		printf("removed %u trust record%s of checkouts whose Envfile is gone\n", records,
		       records == 1 ? "" : "s");
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		env_record_release(&all[i]);
	free(all);
	dv_strv_release(&in_use);
	dv_strv_release(&damaged);
	dv_strv_release(&images);
	return ret;
}

/* ---- trust ---- */

static int revoke_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)arg;
	(void)err;
	if (c != 'R')
		return -1;
	*(bool *)data = true;
	return 0;
}

/* allow: show the Envfile's requests and record the yes for this checkout,
 * never asking (the prompt of `up` is the asking form); --revoke. */
static int cmd_allow(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		     struct dv_error *err)
{
	const struct cmd *self = find_cmd("allow");
	bool revoke = false;
	struct opt_spec os = { NULL, NULL, revoke_opt, &revoke };
	struct prov_requests r = { 0 };
	struct json_object *o = NULL, *list;
	struct env env = { .lock_fd = -1 };
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0)
		return -1;
	/* --revoke needs no Envfile that loads: a broken one can be revoked. */
	if (env_locate(ctx, st, !revoke, &env, err) < 0)
		goto out;
	if (revoke) {
		struct dv_error none = { 0 };
		bool had = prov_trust_revoke(st, env.id, &none) == 0;

		if (!had && none.errnum != ENOENT) {
			*err = none;
			goto out;
		}
		if (ctx->json)
			printf("{\"id\":\"%s\",\"revoked\":%s}\n", env.id, had ? "true" : "false");
		else if (!ctx->quiet)
			printf(had ? "revoked what this checkout was allowed (env id %s); the next "
				     "'devenv up' asks again\n"
				   : "nothing was allowed for this checkout (env id %s)\n", env.id);
		ret = 0;
		goto out;
	}
	prov_trust_requests(&env.spec, &r);
	if (r.n && prov_trust_allow(st, env.id, &env.spec, &r, err) < 0)
		goto out;
	if (ctx->json) {
		char hex[65];

		o = json_object_new_object();
		list = json_object_new_array();
		prov_trust_digest(&r, hex);
		json_object_object_add(o, "id", json_object_new_string(env.id));
		json_object_object_add(o, "file", json_object_new_string(r.file));
		for (size_t i = 0; i < r.n; i++) {
			struct json_object *q = json_object_new_object();

			json_object_object_add(q, "kind", json_object_new_string(prov_req_kind_name(r.v[i].kind)));
			json_object_object_add(q, "line", json_object_new_int((int)r.v[i].line));
			json_object_object_add(q, "col", json_object_new_int((int)r.v[i].col));
			json_object_object_add(q, "request", json_object_new_string(r.v[i].what));
			json_object_object_add(q, "gives", json_object_new_string(r.v[i].gives));
			json_object_array_add(list, q);
		}
		json_object_object_add(o, "requests", list);
		json_object_object_add(o, "allowed", json_object_new_boolean(r.n > 0));
		if (r.n)
			json_object_object_add(o, "digest", json_object_new_string(hex));
		prov_json_print(stdout, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	} else if (!ctx->quiet && !r.n) {
		printf("%s asks for nothing beyond the default sandbox; there is nothing to allow\n",
		       r.file);
	} else if (!ctx->quiet) {
		printf("%s asks for these beyond the default sandbox:\n", r.file);
		for (size_t i = 0; i < r.n; i++) {
			dv_autofree char *line = prov_request_line(&r, i);

			printf("  %s\n", line);
		}
		printf("allowed for this checkout (env id %s); 'devenv allow --revoke' takes it back\n",
		       env.id);
	}
	ret = 0;
out:
	if (o)
		json_object_put(o);
	prov_requests_release(&r);
	env_release(&env);
	return ret;
}

/* ---- misc ---- */

/* Write text as DIR/Envfile (dir NULL: here): a temporary file linked
 * into place, so no half-written Envfile after a crash, and never one over
 * an existing one (errnum EEXIST). */
static int write_new_envfile(const char *dir, const char *text, struct dv_error *err)
{
	dv_autoclose int fd = -1;
	dv_autoclose int dirfd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : AT_FDCWD;
	char tmp[64];

	if (dirfd < 0 && dir)
		return dv_err(err, errno, "cannot open '%s'", dir);
	snprintf(tmp, sizeof(tmp), ".Envfile.tmp.%d", (int)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return dv_err(err, errno, "cannot create 'Envfile'");
	if (dv_write_full(fd, text, strlen(text), err) < 0 || fsync(fd) < 0) {
		unlinkat(dirfd, tmp, 0);
		return dv_err_isset(err) ? dv_err_prefix(err, "writing 'Envfile'")
					 : dv_err(err, errno, "writing 'Envfile'");
	}
	if (linkat(dirfd, tmp, dirfd, "Envfile", 0) < 0) {
		int e = errno;

		unlinkat(dirfd, tmp, 0);
		if (e == EEXIST)
			return dv_err_plain(err, EEXIST, "an Envfile is already here; edit it, or remove it first");
		return dv_err(err, e, "cannot create 'Envfile'");
	}
	unlinkat(dirfd, tmp, 0);
	return 0;
}

struct init_opts {
	const char *tmpl;
	bool list;
	bool from_dc; /* --from-devcontainer */
};

static int init_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct init_opts *o = data;

	(void)err;
	if (c == 't')
		o->tmpl = arg;
	else if (c == 'L')
		o->list = true;
	else if (c == 'D')
		o->from_dc = true;
	else
		return -1;
	return 0;
}

static int store_root(struct dv_ctx *ctx, struct dv_error *err);

/* init --from-devcontainer asks what `up` on the devcontainer.json would
 * (the same list, the same record): its ${localEnv:...} values are written
 * into the Envfile, so they are read only after a yes. The store is opened
 * for that alone (init does not otherwise touch it). */
static int init_trust_check(struct dv_ctx *ctx, const char *path, const char *checkout,
			    const char *disp, struct dv_error *err)
{
	struct layer_store st = { .root_fd = -1, .layers_fd = -1, .images_fd = -1,
				  .cache_fd = -1, .tmp_fd = -1 };
	struct env_spec spec = { 0 };
	struct prov_requests r;
	char id[13];
	int ret = -1;

	if (envfile_load_quiet(path, checkout, disp, &spec, err) < 0)
		return -1;
	if (prov_spec_read_inputs(&spec, err) < 0) {
		env_spec_release(&spec);
		return -1;
	}
	prov_trust_requests(&spec, &r);
	if (!r.n) {
		ret = 0;
		goto out;
	}
	prov_env_id(checkout, path + strlen(checkout) + 1, id);
	if (store_root(ctx, err) < 0 || layer_store_open(ctx->home, ctx->rootless, &st, err) < 0)
		goto out;
	ret = prov_trust_check(ctx, &st, id, &spec, err);
out:
	prov_requests_release(&r);
	env_spec_release(&spec);
	layer_store_release(&st);
	return ret;
}

/* init --from-devcontainer: the devcontainer.json this checkout would run,
 * as an Envfile beside its .devcontainer/, never over an existing one. */
static int init_from_devcontainer(struct dv_ctx *ctx, struct dv_error *err)
{
	dv_autofree char *path = NULL, *checkout = NULL, *yaml = NULL, *dir = NULL;
	dv_autofree char *dest = NULL;
	char cwd[PATH_MAX];
	const char *disp;
	size_t n;

	if (!getcwd(cwd, sizeof(cwd)))
		return dv_err(err, errno, "cannot read the current folder");
	if (envfile_find(cwd, &path, &checkout, err) < 0) {
		if (err->errnum == ENOENT)
			return dv_err_plain(err, ENOENT, "no .devcontainer/devcontainer.json or "
					    ".devcontainer.json here or in its parents up to the "
					    "repository root");
		return -1;
	}
	n = strlen(cwd);
	disp = !strncmp(path, cwd, n) && path[n] == '/' ? path + n + 1 : path;
	if (!envfile_is_devcontainer(path))
		return dv_err_plain(err, EEXIST, "an Envfile is already here ('%s'); edit it, or "
				    "remove it first", disp);
	if (init_trust_check(ctx, path, checkout, disp, err) < 0 ||
	    envfile_devcontainer_convert(path, checkout, disp, &yaml, &dir, err) < 0)
		return -1;
	if (write_new_envfile(dir, yaml, err) < 0)
		return -1;
	dest = dv_xasprintf("%s/Envfile", dir);
	if (!ctx->quiet)
		printf("wrote %s from %s; check it, then 'devenv up'\n",
		       !strncmp(dest, cwd, n) && dest[n] == '/' ? dest + n + 1 : dest, disp);
	return 0;
}

/* init: the template --template names, else the one the files here point
 * to (templates/templates.h), written as ./Envfile, never over one. */
static int cmd_init(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		    struct dv_error *err)
{
	const struct cmd *self = find_cmd("init");
	struct init_opts io = { 0 };
	struct opt_spec os = { NULL, NULL, init_opt, &io };
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, &os, &helped, err);
	struct tmpl_match found[8];
	size_t n_found = 0, n_all;
	const struct tmpl *t, *all = tmpl_all(&n_all);
	struct dv_strv missing = { 0 };
	dv_autoclose int dirfd = -1;
	dv_autofree char *text = NULL;
	struct dv_buf why = { 0 };
	int ret = -1;

	(void)st;
	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0)
		return -1;
	if (io.from_dc + io.list + !!io.tmpl > 1)
		return dv_err_usage(err, "'devenv init' takes one of --template, --list and "
				    "--from-devcontainer; see 'devenv init --help'");
	if (io.from_dc)
		return init_from_devcontainer(ctx, err);
	if (io.list) {
		for (size_t i = 0; i < n_all; i++) {
			dv_autofree char *needs = tmpl_needs(&all[i], -1, false);

			printf("%-16s %s; needs %s\n", all[i].name, all[i].summary, needs);
		}
		return 0;
	}
	dirfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return dv_err(err, errno, "cannot open the current folder");
	if (io.tmpl) {
		t = tmpl_find(io.tmpl);
		if (!t) {
			dv_autofree char *names = tmpl_names();
			const char *cands[32];
			struct dv_buf hint = { 0 };
			size_t k = 0;

			for (; k < n_all && k < 32; k++)
				cands[k] = all[k].name;
			dv_suggest(io.tmpl, cands, k, &hint);
			dv_err_usage(err, "unknown template '%s'%s; the templates are: %s", io.tmpl,
				     hint.s ? hint.s : "", names);
			dv_buf_release(&hint);
			return -1;
		}
		dv_buf_adds(&why, "chosen with --template");
	} else {
		n_found = tmpl_detect(dirfd, found, sizeof(found) / sizeof(found[0]));
		t = n_found ? found[0].tmpl : tmpl_find("default");
		dv_buf_adds(&why, n_found ? found[0].why : "no stack's marker file here");
		for (size_t i = 1; i < n_found; i++)
			dv_buf_addf(&why, "%s%s (%s)", i == 1 ? "; also matched " : ", ",
				    found[i].tmpl->name, found[i].why + strlen("found "));
		if (n_found > 1)
			dv_buf_adds(&why, ": 'devenv init --template NAME' picks another");
	}
	text = tmpl_render(t, dirfd, &missing);
	if (write_new_envfile(NULL, text, err) < 0)
		goto out;
	if (!ctx->quiet) {
		printf("wrote Envfile from the %s template (%s); edit it, then 'devenv up'\n", t->name,
		       why.s);
		for (size_t i = 0; i < missing.n; i++)
			printf("note: no %s here, so its steps are commented out in the Envfile\n",
			       missing.v[i]);
		{
			dv_autofree char *needs = tmpl_needs(t, dirfd, true);

			printf("its steps need from the network: %s\n", needs);
		}
	}
	ret = 0;
out:
	dv_strv_release(&missing);
	dv_buf_release(&why);
	return ret;
}

static int cmd_version(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		       struct dv_error *err)
{
	const struct cmd *self = find_cmd("version");
	bool helped;
	int oi = parse_opts(ctx, self, argc, argv, NULL, &helped, err);

	(void)st;
	if (oi < 0)
		return helped ? 0 : -1;
	if (no_args(self, argc, argv, oi, err) < 0)
		return -1;
	printf("devenv %s\n", DEVENV_VERSION);
	return 0;
}

static int cmd_help(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		    struct dv_error *err);
static int cmd_allow(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		     struct dv_error *err);
static int cmd_complete(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
			struct dv_error *err);

/* Each command's own options (struct cmd_opt): --help, devenv.1 and the
 * completions print these rows; parse_opts() parses them. */
static const struct cmd_opt init_opts[] = {
	{ 't', "template", "NAME", 0, "write this template ('devenv init --list' names them) instead "
				      "of the one the checkout's files point to" },
	{ 0, "list", NULL, 'L', "list the templates and what each is for; write nothing" },
	{ 0, "from-devcontainer", NULL, 'D', "write the Envfile the checkout's devcontainer.json "
					     "amounts to, beside its .devcontainer/ (asks first what "
					     "it would need allowed)" },
	{ 0 }
};
static const struct cmd_opt build_opts[] = {
	{ 0, "cache-from", "REF", 'C', "also take steps from this image's layers (a team cache "
				       "pushed with 'devenv push'), after the Envfile's cache_from; "
				       "repeatable" },
	{ 0 }
};
static const struct cmd_opt ssh_opts_table[] = {
	{ 'u', "user", "NAME|UID[:GID]", 0, "run as this user of the env ('root' included) "
					    "instead of the Envfile's user" },
	{ 'c', "command", "CMD", 0, "run CMD with the env's shell instead of a login shell; "
				    "devenv exits with its status (or give the command after --)" },
	{ 0 }
};
static const struct cmd_opt timeout_opts[] = {
	{ 't', "timeout", "S", 0, "seconds between SIGTERM and SIGKILL, 0 to 3600 (default 10)" },
	{ 0 }
};
static const struct cmd_opt allow_opts[] = {
	{ 0, "revoke", NULL, 'R', "take back what was allowed for this checkout; the next up "
				  "asks again" },
	{ 0 }
};
static const struct cmd_opt destroy_opts_table[] = {
	{ 'f', "force", NULL, 0, "do not ask first (needed when standard input is not a terminal)" },
	{ 0, "volumes", NULL, 'V', "also remove the env's own named volumes: never shared ones, "
				   "nor one another env names" },
	{ 0 }
};
static const struct cmd_opt logs_opts[] = {
	{ 'f', "follow", NULL, 0, "keep printing new output while the env (the service) runs, "
				  "through log rotations, from its last 10 lines (as tail -f; --tail "
				  "changes how many)" },
	{ 'n', "tail", "N|all", 0, "only the last N lines, across the rotated files; 'all' (the "
				   "default without -f) everything the capped log keeps" },
	{ 0 }
};
static const struct cmd_opt df_opts[] = {
	{ 'v', "verbose", NULL, 0, "list each image, layer, env and volume with its size" },
	{ 0 }
};
static const struct cmd_opt pull_opts[] = {
	{ 0, "platform", "OS/ARCH[/VARIANT]", 'P', "take this platform of a multi-platform image "
						   "(default: this machine's)" },
	{ 0 }
};
static const struct cmd_opt push_opts[] = {
	{ 0, "compression", "gzip|zstd", 'C', "how layers are compressed: gzip (the default, every "
					      "registry and runtime reads it) or zstd (tar+zstd)" },
	{ 0 }
};
static const struct cmd_opt login_opts_table[] = {
	{ 'u', "username", "USER", 0, "who logs in (asked for on a terminal when not given)" },
	{ 0, "password-stdin", NULL, 'P', "read the password from standard input (needed when it "
					  "is not a terminal)" },
	{ 0 }
};
static const struct cmd_opt volume_rm_opts[] = {
	{ 'f', "force", NULL, 0, "remove a volume a halted env names too (its next up starts it "
				 "empty); never one a running env uses" },
	{ 0 }
};

static const struct cmd commands[] = {
	{ "init", cmd_init, 0, "[-t|--template NAME | --list | --from-devcontainer]", "write an Envfile for this checkout: from the template its files suggest, --template's, or its devcontainer.json", init_opts },
	{ "up", cmd_up, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV | CMD_JSON, "[-e NAME|ID] [--cache-from REF]...", "build what is missing (taking steps a cache_from image holds), create or start the env, run on_up", build_opts },
	{ "ssh", cmd_ssh, CMD_STORE_PEEK | CMD_ENV | CMD_ARGV_TAIL, "[-e NAME|ID] [-u|--user NAME|UID[:GID]] [-c CMD | -- ARGV...]", "open a shell, or run a command, in the running env", ssh_opts_table },
	{ "halt", cmd_halt, CMD_STORE | CMD_ENV, "[-e NAME|ID] [--timeout S]", "stop the env (SIGTERM, then SIGKILL after S seconds, default 10); keeps its files", timeout_opts },
	{ "suspend", cmd_suspend, CMD_STORE | CMD_ENV, "[-e NAME|ID]", "freeze every process of the running env", NULL },
	{ "resume", cmd_resume, CMD_STORE | CMD_ENV, "[-e NAME|ID]", "thaw a suspended env", NULL },
	{ "reload", cmd_reload, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV | CMD_JSON, "[-e NAME|ID] [--timeout S]", "halt and up again, picking up Envfile changes (a changed image or step rebuilds the env: every file outside the checkout and volumes is reset)", timeout_opts },
	{ "provision", cmd_provision, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV | CMD_JSON, "[-e NAME|ID] [--cache-from REF]...", "rebuild provisioning against the current Envfile", build_opts },
	{ "allow", cmd_allow, CMD_STORE | CMD_ENV | CMD_JSON, "[-e NAME|ID] [--revoke]", "show what the Envfile asks for beyond the default sandbox and allow it for this checkout (never asking), or --revoke that", allow_opts },
	{ "destroy", cmd_destroy, CMD_STORE | CMD_ENV, "[-e NAME|ID] [-f] [--volumes]", "remove the env (never the checkout; its own named volumes only with --volumes, never shared ones nor those another env names)", destroy_opts_table },
	{ "status", cmd_status, CMD_STORE | CMD_ENV | CMD_JSON, "[-e NAME|ID] [--json]", "this env's state", NULL },
	{ "port", cmd_port, CMD_STORE | CMD_ENV | CMD_JSON, "[-e NAME|ID] [--json]", "the env's forwarded ports (CONTAINER/tcp -> HOST_IP:HOST_PORT)", NULL },
	{ "ls", cmd_ls, CMD_STORE | CMD_JSON, "[--json]", "every env on this machine", NULL },
	{ "logs", cmd_logs, CMD_STORE | CMD_ENV, "[-e NAME|ID] [-f] [-n|--tail N|all] [SERVICE]", "the env's output (on_up steps), or a service's (capped and rotated: 'logs' in the Envfile)", logs_opts },
	{ "images", cmd_images, CMD_STORE | CMD_JSON, "[--json]", "list images in the store", NULL },
	{ "rmi", cmd_rmi, CMD_STORE, "IMAGE", "remove an image no env uses", NULL },
	{ "pull", cmd_pull, CMD_STORE | CMD_LOCKS_STORE, "[--platform OS/ARCH[/VARIANT]] [host[:port]/]NAME[:TAG|@sha256:DIGEST]", "fetch an image from an OCI registry (this machine's platform, or --platform's)", pull_opts },
	{ "push", cmd_push, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV, "[--compression gzip|zstd] IMAGE [host[:port]/NAME[:TAG]] | [-e NAME|ID] host[:port]/NAME[:TAG]", "send an image to an OCI registry (layers gzip, or tar+zstd; blobs over DEVENV_PUSH_CHUNK_SIZE in chunks); in a checkout, the env's provisioning for the team cache", push_opts },
	{ "login", cmd_login, 0, "[-u|--username USER] [--password-stdin] HOST[:PORT]", "check and keep credentials for a registry (docker's config.json)", login_opts_table },
	{ "logout", cmd_logout, 0, "HOST[:PORT]", "forget the credentials kept for a registry", NULL },
	{ "tag", cmd_tag, CMD_STORE, "IMAGE NAME[:TAG]", "give an image another name", NULL },
	{ "commit", cmd_commit, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV, "[-e NAME|ID] IMAGE[:TAG]", "the env's files as a new image (its layers plus what changed)", NULL },
	{ "image", cmd_image, CMD_STORE | CMD_LOCKS_STORE | CMD_SUBCOMMANDS, "COMMAND ...", "import a rootfs tarball, save or load an OCI archive, inspect images, or build a Debian image", NULL },
	{ "volume", cmd_volume, CMD_STORE | CMD_SUBCOMMANDS, "COMMAND ...", "list or remove named volumes", NULL },
	{ "gc", cmd_gc, CMD_STORE, "", "remove layers nothing refers to", NULL },
	{ "df", cmd_df, CMD_STORE | CMD_JSON, "[-v] [--json]", "disk use, as docker system df: images, layers, envs and volumes, in use, size and what is reclaimable", df_opts },
	{ "version", cmd_version, 0, "", "print devenv's version", NULL },
	{ "help", cmd_help, 0, "[COMMAND [SUBCOMMAND]]", "list the commands, or explain one", NULL },
	{ "__complete", cmd_complete, CMD_STORE_PEEK | CMD_HIDDEN, "WORDS", "words for shell completion", NULL },
};

/* `devenv image ...` and `devenv volume ...`: named "PARENT SUB", run by the
 * parent's cmd_* (run is NULL); `--help` and devenv.1 explain each. */
static const struct cmd subcommands[] = {
	{ "image import", NULL, CMD_STORE, "FILE NAME[:TAG]", "make an image of a rootfs tarball (plain, gzip or zstd), named localhost/NAME:TAG; device nodes are skipped", NULL },
	{ "image save", NULL, CMD_STORE, "IMAGE FILE", "write an image as an OCI image layout archive (what podman load and skopeo read)", NULL },
	{ "image load", NULL, CMD_STORE, "FILE [NAME[:TAG]]", "read an image from an OCI image layout archive, every blob checked; named as the archive says, or NAME", NULL },
	{ "image inspect", NULL, CMD_STORE | CMD_JSON, "[--json] IMAGE...", "the images as JSON, as 'docker image inspect' gives them: id, name, created, size, layers, config", NULL },
	{ "image bootstrap", NULL, CMD_STORE, "debian:SUITE", "build a Debian image with debootstrap or mmdebstrap", NULL },
	{ "volume ls", NULL, CMD_STORE | CMD_JSON, "[--json]", "list named volumes: store name, env, Envfile name, size, the envs naming them", NULL },
	{ "volume rm", NULL, CMD_STORE, "[-f|--force] NAME...", "remove volumes by store name, or in a checkout by their Envfile name; refused while an env names one (unless --force), never while one runs; all names are checked before any is removed", volume_rm_opts },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))
#define N_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static const struct cmd *sub_nth(const struct cmd *parent, size_t k)
{
	size_t n = strlen(parent->name);

	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		if (!strncmp(subcommands[i].name, parent->name, n) && subcommands[i].name[n] == ' ' &&
		    k-- == 0)
			return &subcommands[i];
	return NULL;
}

static const struct cmd *find_sub(const struct cmd *parent, const char *name)
{
	const struct cmd *c;

	for (size_t i = 0; (c = sub_nth(parent, i)) != NULL; i++)
		if (!strcmp(c->name + strlen(parent->name) + 1, name))
			return c;
	return NULL;
}


static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_usage(FILE *f)
{
	fprintf(f, "usage: devenv [-e NAME|ID] [-q] [--json] COMMAND [OPTIONS]\n\n"
		   "Reproducible development environments in Linux containers, from an Envfile.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!(commands[i].flags & CMD_HIDDEN))
			fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'devenv COMMAND --help' explains one and its options. -e, -q and --json "
		   "may come before\nthe command as after it. The store is $DEVENV_HOME, else "
		   "/var/lib/devenv as root\nand $XDG_DATA_HOME/devenv (~/.local/share/devenv) "
		   "without root.\n");
}

/* ---- shell completion and the man page ---- */

/* Names of env (state.json "name") under envs/, one a line. Reads only;
 * an env being created or removed is skipped. */
static void complete_envs(int root_fd)
{
	dv_autoclose int fd = root_fd < 0 ? -1 : openat(root_fd, "envs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : dv_opendir_fd(fd);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		dv_autofree char *path = dv_xasprintf("envs/%s/state.json", e->d_name);
		dv_autofree char *text = NULL;
		struct dv_error ignored = { 0 };
		struct json_object *o, *name;
		size_t len;

		if (e->d_name[0] == '.' ||
		    dv_read_file_at(root_fd, path, &text, &len, &ignored) < 0)
			continue;
		o = json_tokener_parse(text);
		if (o && json_object_object_get_ex(o, "name", &name) &&
		    json_object_is_type(name, json_type_string))
			printf("%s\n", json_object_get_string(name));
		json_object_put(o);
	}
	closedir(d);
}

/* images/<repo...>/<tag>.json as REPO:TAG, and the short name for
 * localhost/ and docker.io/library/ images, which commands accept too. */
static void complete_images_in(int dirfd, const char *repo, int depth)
{
	DIR *d = dv_opendir_fd(fcntl(dirfd, F_DUPFD_CLOEXEC, 3));
	struct dirent *e;

	if (!d || depth > 8) {
		if (d)
			closedir(d);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		if (n > 5 && !strcmp(e->d_name + n - 5, ".json") && *repo) {
			const char *shortname = dv_str_startswith(repo, "localhost/") ? repo + 10
						: dv_str_startswith(repo, "docker.io/library/") ? repo + 18
						: NULL;

			printf("%s:%.*s\n", repo, (int)(n - 5), e->d_name);
			if (shortname)
				printf("%s:%.*s\n", shortname, (int)(n - 5), e->d_name);
			continue;
		}
		int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (sub >= 0) {
			dv_autofree char *r = *repo ? dv_xasprintf("%s/%s", repo, e->d_name)
						    : dv_xstrdup(e->d_name);

			complete_images_in(sub, r, depth + 1);
			close(sub);
		}
	}
	closedir(d);
}

/* devenv __complete commands|options CMD [SUB]|subcommands CMD|envs|images|volumes|templates: the words
 * the shell completions (completions/) offer, one a line. Reads the store
 * without opening it properly (no user namespace, nothing created), so a
 * TAB stays instant. */
static int cmd_complete(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
			struct dv_error *err)
{
	(void)ctx;
	if (argc < 2)
		return dv_err_usage(err, "usage: devenv __complete commands|options CMD [SUB]|subcommands CMD|envs|images|volumes|templates");
	if (!strcmp(argv[1], "commands")) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!(commands[i].flags & CMD_HIDDEN))
				printf("%s\n", commands[i].name);
	} else if (!strcmp(argv[1], "options")) {
		/* `options CMD [SUB]`: the command's own, then the common ones
		 * that mean something for it. */
		const struct cmd *c = argc > 2 ? find_cmd(argv[2]) : NULL;

		if (c && argc > 3 && (c->flags & CMD_SUBCOMMANDS) && find_sub(c, argv[3]))
			c = find_sub(c, argv[3]);
		for (const struct cmd_opt *o = c ? c->opts : NULL; o && (o->shortname || o->name); o++)
			if (o->name)
				printf("--%s\n", o->name);
		printf("--help\n--quiet\n");
		if (c && (c->flags & CMD_ENV))
			printf("--env\n");
		if (c && (c->flags & CMD_JSON))
			printf("--json\n");
	} else if (!strcmp(argv[1], "subcommands")) {
		const struct cmd *c = argc > 2 ? find_cmd(argv[2]) : NULL, *sub;

		for (size_t k = 0; c && (sub = sub_nth(c, k)) != NULL; k++)
			printf("%s\n", sub->name + strlen(c->name) + 1);
	} else if (!strcmp(argv[1], "envs")) {
		complete_envs(st->root_fd);
	} else if (!strcmp(argv[1], "images")) {
		dv_autoclose int fd = st->root_fd < 0 ? -1 : openat(st->root_fd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0)
			complete_images_in(fd, "", 0);
	} else if (!strcmp(argv[1], "volumes")) {
		dv_autoclose int fd = st->root_fd < 0 ? -1 : openat(st->root_fd, "volumes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd < 0 ? NULL : dv_opendir_fd(fcntl(fd, F_DUPFD_CLOEXEC, 3));
		struct dirent *e;

		while (d && (e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN))
				printf("%s\n", e->d_name);
		if (d)
			closedir(d);
	} else if (!strcmp(argv[1], "templates")) {
		size_t n;
		const struct tmpl *t = tmpl_all(&n);

		for (size_t i = 0; i < n; i++)
			printf("%s\n", t[i].name);
	} else {
		return dv_err_usage(err, "__complete: unknown word list '%s'", argv[1]);
	}
	return 0;
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
		opt_flags(o, fl, sizeof(fl));
		printf(".TP\n.B ");
		roff(fl + strspn(fl, " "));
		printf("\n");
		roff(o->help);
		printf("\n");
	}
}

/* devenv help --man: devenv(1) in roff, from the same tables `--help`
 * prints, so the two cannot drift apart (the Makefile writes devenv.1). */
static void print_man(void)
{
	const struct cmd *sub;

	printf(".TH DEVENV 1 \"\" \"devenv %s\" \"User Commands\"\n", DEVENV_VERSION);
	printf(".SH NAME\ndevenv \\- reproducible development environments in Linux containers\n");
	printf(".SH SYNOPSIS\n.B devenv\n[\\fIGLOBAL OPTIONS\\fR]\n.I COMMAND\n[\\fIOPTIONS\\fR]\n");
	printf(".SH DESCRIPTION\nReproducible development environments in Linux containers, from an "
	       "Envfile.\n.B devenv\nlooks for a file named\n.I Envfile\nin the current folder, then "
	       "its parents up to the repository root.\n");
	printf(".SH COMMANDS\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (commands[i].flags & CMD_HIDDEN)
			continue;
		man_cmd(&commands[i]);
		for (size_t k = 0; (sub = sub_nth(&commands[i], k)) != NULL; k++)
			man_cmd(sub);
	}
	printf(".SH OPTIONS\nEvery command takes these, after the command or before it\n"
	       "(\\fBdevenv \\-e web status\\fR):\n");
	for (size_t i = 0; i < N_COMMON; i++) {
		printf(".TP\n.B ");
		roff(common_opts[i].flags + strspn(common_opts[i].flags, " "));
		printf("\n");
		roff(common_opts[i].help);
		printf("\n");
	}
	printf(".SH ENVIRONMENT\n.TP\n.B DEVENV_HOME\nthe store; else /var/lib/devenv as root and "
	       "$XDG_DATA_HOME/devenv (~/.local/share/devenv) without root\n"
	       ".TP\n.B NO_COLOR\nwhen set and not empty, no colour in progress lines\n");
	printf(".SH EXIT STATUS\n0 done, 1 failed, 2 usage or Envfile error;\n.B devenv ssh\n"
	       "exits with its command's status, or 125 when devenv itself failed.\n");
	printf(".SH SEE ALSO\nREADME.md of devenv, which explains the Envfile.\n");
}

/* A command's name not found: one line, with git's "did you mean". */
static int unknown_command(const char *name, struct dv_error *err)
{
	const char *names[64];
	struct dv_buf hint = { 0 };
	size_t n = 0;

	for (size_t i = 0; i < N_COMMANDS && n < 64; i++)
		if (!(commands[i].flags & CMD_HIDDEN))
			names[n++] = commands[i].name;
	dv_suggest(name, names, n, &hint);
	dv_err_usage(err, "'%s' is not a devenv command%s; 'devenv help' lists them", name,
		     hint.s ? hint.s : "");
	dv_buf_release(&hint);
	return -1;
}

static int cmd_help(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv,
		    struct dv_error *err)
{
	const struct cmd *c;

	(void)ctx;
	(void)st;
	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--man")) {
		print_man();
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		print_cmd_help(find_cmd("help"), NULL);
		return 0;
	}
	c = find_cmd(argv[1]);
	if (!c || (c->flags & CMD_HIDDEN))
		return unknown_command(argv[1], err);
	if (argc > 2 && (c->flags & CMD_SUBCOMMANDS)) {
		const struct cmd *sub = find_sub(c, argv[2]);

		if (!sub)
			return dv_err_usage(err, "'%s' is not a 'devenv %s' command; see 'devenv help %s'",
					    argv[2], c->name, c->name);
		c = sub;
	}
	print_cmd_help(c, NULL);
	return 0;
}

static int store_root(struct dv_ctx *ctx, struct dv_error *err)
{
	const char *home = getenv("DEVENV_HOME");

	if (home && *home) {
		if (home[0] != '/')
			return dv_err_usage(err, "DEVENV_HOME must be an absolute path, not '%s'", home);
		ctx->home = dv_xstrdup(home);
	} else if (!ctx->rootless) {
		ctx->home = dv_xstrdup("/var/lib/devenv");
	} else if (getenv("XDG_DATA_HOME") && getenv("XDG_DATA_HOME")[0] == '/') {
		ctx->home = dv_xasprintf("%s/devenv", getenv("XDG_DATA_HOME"));
	} else if (getenv("HOME") && getenv("HOME")[0] == '/') {
		ctx->home = dv_xasprintf("%s/.local/share/devenv", getenv("HOME"));
	} else {
		return dv_err(err, 0, "cannot place the store: set DEVENV_HOME or HOME");
	}
	return 0;
}

/* A full disk or quota (ENOSPC, EDQUOT) under a command that writes only in
 * the store is a full store, whichever write noticed (a seccomp filter, a
 * state.json, a layer entry) and whatever step was running: say that, and
 * what to do, not the position of the step. `image save` writes where it
 * is told; its message names that file. */
static void full_store(const char *root, const struct cmd *cmd, int argc, char **argv,
		       struct dv_error *err)
{
	char was[sizeof(err->file) + sizeof(err->msg) + 32];

	if (!root || (err->errnum != ENOSPC && err->errnum != EDQUOT) ||
	    !(cmd->flags & (CMD_STORE | CMD_STORE_PEEK)))
		return;
	if (cmd == find_cmd("image"))
		for (int i = 2; i < argc; i++)
			if (argv[i][0] != '-') {
				if (!strcmp(argv[i], "save"))
					return;
				break;
			}
	/* A step's position stays when its writes filled the store. */
	if (err->file[0] && err->line)
		snprintf(was, sizeof(was), "%s:%u:%u: %s", err->file, err->line, err->col, err->msg);
	else
		snprintf(was, sizeof(was), "%s", err->msg);
	err->file[0] = 0;
	err->line = err->col = 0;
	if (err->status == 2) /* not bad input; ssh keeps its 125 */
		err->status = 1;
	dv_err_plain(err, err->errnum,
		     "the store '%s' is full (%.300s); 'devenv gc' frees what no env or image uses, "
		     "or make room on its disk",
		     root, was);
}

int main(int argc, char **argv)
{
	struct dv_ctx ctx = { .store_lock_fd = -1 };
	struct layer_store st = { .root_fd = -1, .layers_fd = -1, .images_fd = -1, .cache_fd = -1, .tmp_fd = -1 };
	struct dv_error err = { 0 };
	const struct cmd *cmd;
	int ret = -1, status, first = 1;

	/* The env's host-side network helper (container/net.c), not a command. */
	if (argc >= 2 && !strcmp(argv[1], "__net-helper"))
		return ctr_net_helper_main(argc - 1, argv + 1);
	/* Global options: -e NAME|ID, -q, --json before the command mean what
	 * they mean after it (`devenv -e web status`). */
	while (first < argc && argv[first][0] == '-' && argv[first][1]) {
		const char *o = argv[first];

		if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) {
			ctx.quiet = true;
		} else if (!strcmp(o, "--json")) {
			ctx.json = true;
		} else if (!strcmp(o, "-e") || !strcmp(o, "--env")) {
			if (first + 1 >= argc) {
				fprintf(stderr, "devenv: option '%s' needs a value: the env's name or "
					"id; see 'devenv --help'\n", o);
				return 2;
			}
			ctx.env_sel = argv[++first];
		} else if (!strncmp(o, "--env=", 6)) {
			ctx.env_sel = o + 6;
		} else if (!strncmp(o, "-e", 2) && o[2]) {
			ctx.env_sel = o + 2;
		} else {
			break;
		}
		first++;
	}
	if (first >= argc || !strcmp(argv[first], "--help") || !strcmp(argv[first], "-h")) {
		print_usage(first >= argc ? stderr : stdout);
		return first >= argc ? 2 : 0;
	}
	if (!strcmp(argv[first], "--version"))
		argv[first] = "version";
	cmd = find_cmd(argv[first]);
	if (!cmd) {
		if (argv[first][0] == '-') {
			static const char *const globals[] = { "--env", "--json", "--quiet", "--help",
							       "--version" };
			dv_autofree char *word = dv_xstrndup(argv[first], strcspn(argv[first], "="));
			struct dv_buf hint = { 0 };

			dv_suggest(word, globals, 5, &hint);
			fprintf(stderr, "devenv: '%s' is not an option before the command%s; see "
				"'devenv --help'\n", word, hint.s ? hint.s : "");
			dv_buf_release(&hint);
			return 2;
		}
		unknown_command(argv[first], &err);
		dv_err_print(&err);
		return 2;
	}
	argc -= first - 1;
	argv += first - 1;
	ctx.rootless = geteuid() != 0 || !dv_userns_is_initial();
	ctx.host_uid = geteuid();
	ctx.host_gid = getegid();
	/* Without root, everything that touches the store runs as root of a
	 * user namespace of ours (util/userns.h); `ssh` joins the env's. */
	if ((cmd->flags & CMD_STORE) && geteuid() != 0) {
		enum dv_userns_mode mode;
		const char *why = NULL;

		if (dv_userns_enter(&mode, &why, &err) < 0)
			goto done;
		ctx.userns = (int)mode;
		if (mode == DV_USERNS_SINGLE && (cmd->flags & CMD_LOCKS_STORE))
			fprintf(stderr, "devenv: note: single-id user namespace (%s): %s\n", why,
				DV_USERNS_SINGLE_LIMITS);
	}
	ctx.tty_in = isatty(0);
	ctx.tty_out = isatty(1);
	if ((cmd->flags & CMD_STORE) &&
	    (store_root(&ctx, &err) < 0 || layer_store_open(ctx.home, ctx.rootless, &st, &err) < 0))
		goto done;
	if (cmd->flags & CMD_STORE_PEEK) {
		if (store_root(&ctx, &err) < 0)
			goto done;
		st.root = ctx.home;
		st.root_fd = open(ctx.home, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (st.root_fd < 0 && errno != ENOENT) {
			dv_err(&err, errno, "cannot open the store '%s'", ctx.home);
			goto done;
		}
	}
	if (cmd->flags & CMD_LOCKS_STORE) {
		ctx.store_lock_fd = dv_lock_at(st.root_fd, "store.lock", false,
					       "the store ('devenv gc' runs)", &err);
		if (ctx.store_lock_fd < 0)
			goto done;
	}
	ret = cmd->run(&ctx, &st, argc - 1, argv + 1, &err);
done:
	if (ret == -1) {
		full_store(st.root ? st.root : ctx.home, cmd, argc, argv, &err);
		dv_err_print(&err);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (ret == 0)
			fprintf(stderr, "devenv: cannot write output: %s\n", strerror(errno));
		ret = -1;
	}
	status = ret == 0 ? 0 : err.status ? err.status : 1;
	if (cmd == find_cmd("ssh") && ret == -1 && err.status == 0)
		status = 125;
	if (ctx.store_lock_fd >= 0)
		close(ctx.store_lock_fd);
	if (cmd->flags & CMD_STORE_PEEK) {
		if (st.root_fd >= 0)
			close(st.root_fd);
	} else {
		layer_store_release(&st);
	}
	free(ctx.home);
	return status;
}
