/*
 * cmd/cmd.h - the commands: one file each, or one a family, as git's
 * builtin/ and crun's src/<cmd>.c. devenv.c holds main() and the table.
 *
 *   allow.c      allow: what the Envfile asks for beyond the default sandbox
 *   cmd.c        what several commands share (the store's place, sizes, ages)
 *   complete.c   __complete: word lists for the shell completions
 *   df.c         df
 *   gc.c         gc
 *   help.c       help, version, devenv(1), the usage line
 *   image.c      images, rmi, tag, commit, image import|save|load|inspect|bootstrap
 *   init.c       init
 *   lifecycle.c  suspend, resume, destroy
 *   logs.c       logs
 *   opts.c       a command's options: parsed from its table row, printed by --help
 *   registry.c   pull, push, login, logout
 *   ssh.c        ssh (the hot path)
 *   status.c     status, port, ls
 *   up.c         up, provision, reload, halt; --json's progress events
 *   volume.c     volume ls|rm
 */
#ifndef CMD_H
#define CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "container/container.h"
#include "envfile/envfile.h"
#include "layers/layers.h"
#include "provision/provision.h"
#include "util/ctx.h"
#include "util/error.h"
#include "util/str.h"

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

/* (temporary: the table is devenv.c's) */
const struct cmd *find_cmd(const char *name);
const struct cmd *find_sub(const struct cmd *parent, const char *name);
const struct cmd *sub_nth(const struct cmd *parent, size_t k);
extern const struct cmd commands[], subcommands[];
extern const size_t n_commands, n_subcommands;


/* What a command does with its own options (cmd->opts): own() gets each
 * one's code and value. shorts/longs: options kept out of the table (none
 * here; an option there works but --help cannot explain it). */
struct opt_spec {
	const char *shorts;          /* more short options (getopt syntax) */
	const struct option *longs;  /* more long options, terminated by {0} */
	int (*own)(int c, const char *arg, void *data, struct dv_error *err);
	void *data;
};

/* The options every command takes (opts.c). */
struct common_opt {
	const char *flags, *help;
	unsigned only;
};
extern const struct common_opt common_opts[];
extern const size_t n_common_opts;

#define ENV_CMD_PROLOGUE_OPTS(need_spec, os)                                          \
	struct prov_env env = { .lock_fd = -1 };                                      \
	bool helped;                                                                  \
	int oi = parse_opts(ctx, self, argc, argv, os, &helped, err), ret;            \
	if (oi < 0)                                                                   \
		return helped ? 0 : -1;                                               \
	if (no_args(self, argc, argv, oi, err) < 0)                                         \
		return -1;                                                            \
	if (prov_env_locate(ctx, st, need_spec, &env, err) < 0) {                     \
		prov_env_release(&env);                                               \
		return -1;                                                            \
	}
#define ENV_CMD_PROLOGUE(need_spec) ENV_CMD_PROLOGUE_OPTS(need_spec, NULL)

/* opts.c */
void opt_flags(const struct cmd_opt *o, char *out, size_t n);
void print_cmd_help(const struct cmd *cmd, const struct opt_spec *os);
int parse_opts(struct dv_ctx *ctx, const struct cmd *cmd, int argc, char **argv,
	       const struct opt_spec *os, bool *helped, struct dv_error *err);
int no_args(const struct cmd *cmd, int argc, char **argv, int optind_, struct dv_error *err);
const struct cmd *parse_sub(struct dv_ctx *ctx, const struct cmd *self, int argc, char **argv,
			    const struct opt_spec *os, int *oi, bool *helped, struct dv_error *err);
int sub_args(const struct cmd *sub, int argc, int oi, int n_min, int n_max, struct dv_error *err);

/* cmd.c */
void quoted_list(const struct dv_strv *sv, struct dv_buf *b);
void df_size(char *out, size_t n, unsigned long long bytes, bool estimate);
void format_age(char *out, size_t n, long long created);
int store_root(struct dv_ctx *ctx, struct dv_error *err);

/* help.c */
void print_usage(FILE *f);
int unknown_command(const char *name, struct dv_error *err);

/* The commands (struct cmd's run). */
int cmd_up(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_provision(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_halt(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_reload(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_suspend(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_resume(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_destroy(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_status(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_port(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_ls(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_logs(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_ssh(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_images(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_commit(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_tag(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_rmi(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_pull(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_push(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_login(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_logout(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_image(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_volume(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_df(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_gc(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_allow(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_init(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_version(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_help(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);
int cmd_complete(struct dv_ctx *ctx, struct layer_store *st, int argc, char **argv, struct dv_error *err);

#endif
