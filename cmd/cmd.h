/*
 * cmd/cmd.h - the commands: one file each, or one a family, as git's
 * builtin/ and crun's src/<cmd>.c. devenv.c holds main() and the table.
 * main() calls a row's run() with a struct cmd_call (its row, the table,
 * its words); run() parses its options (cmd_parse_opts, or cmd_env_begin
 * for a command on one env), calls a module or two (env, provision,
 * layers...), prints, and returns 0, -1 with err set, or (ssh) -2.
 *
 *   allow.c      allow: what the Envfile asks for beyond the default sandbox
 *   cmd.c        what several commands share: cmd_env_begin, the store's place, sizes, ages
 *   complete.c   __complete: word lists for the shell completions
 *   df.c         df
 *   gc.c         gc
 *   help.c       help, version, devenv(1), the usage line
 *   image.c      images, rmi, tag, commit, image import|save|load|inspect|bootstrap
 *   init.c       init
 *   kube.c       kube generate: the env as a Kubernetes Pod
 *   lifecycle.c  suspend, resume, destroy
 *   logs.c       logs
 *   opts.c       a command's options: parsed from its table row, printed by --help
 *   registry.c   pull, push, login, logout
 *   remote.c     --host ssh://...: up, provision, reload, halt, destroy, status, logs, ssh
 *                run on another machine; its local record; ls's rows for it
 *   remotehost.c the ssh transport: URL, ControlMaster, running there, probe, self copy
 *   remotesync.c the checkout sent there (changed files, deletions); __sync-recv
 *   ssh.c        ssh (the hot path)
 *   sshd.c       ssh-config, ssh-proxy: the env as an ssh host
 *   status.c     status, port, ls
 *   up.c         up, provision, reload, halt; --json's progress events
 *   lock.c       lock: Envfile.lock written or checked without a build
 *   volume.c     volume ls|rm
 *   verify.c     verify: steps rebuilt and compared with the cache
 */
#ifndef CMD_H
#define CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "container/container.h"
#include "env/env.h"
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
	CMD_REMOTE = 1 << 8,      /* runs on --host / DEVENV_HOST's machine when given */
};

/*
 * A command's own options: one row each. cmd_parse_opts() takes them from
 * here, and --help, `devenv help --man` (devenv.1) and the completions
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

struct cmd_call;
struct json_object;

/* A row of the command table (devenv.c). A family's sub-commands are rows
 * of their own, named "PARENT SUB" and run by the parent's run(). */
struct cmd {
	const char *name;
	int (*run)(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		   struct dv_error *err);
	unsigned flags;
	const char *usage;
	const char *summary;
	const struct cmd_opt *opts; /* its own options, ended by { 0 }; NULL: none */
	const struct cmd *subs;     /* its sub-commands, ended by { 0 }; NULL: none */
};

/* Every command, as main() has them: help, the man page and the
 * completions list them. */
struct cmd_table {
	const struct cmd *cmds;
	size_t n;
};

/* What main() hands a command: its row, the table, and its words
 * (argv[0] is the command's name, as for main()). A command never looks
 * itself up by name. */
struct cmd_call {
	const struct cmd *self;
	const struct cmd_table *table;
	int argc;
	char **argv;
};

/* What a command does with its own options (cmd->opts): own() gets each
 * one's code and value. shorts/longs: options kept out of the table (none
 * here; an option there works but --help cannot explain it). */
struct opt_spec {
	const char *shorts;         /* more short options (getopt syntax) */
	const struct option *longs; /* more long options, terminated by {0} */
	int (*own)(int c, const char *arg, void *data, struct dv_error *err);
	void *data;
};

/* The options every command takes (opts.c): `COMMAND --help` and devenv(1)
 * print them. `only`: the commands (flags) it means something for; 0: all. */
struct cmd_common_opt {
	const char *flags, *help;
	unsigned only;
};
extern const struct cmd_common_opt cmd_common_opts[];
extern const size_t cmd_n_common_opts;

/* opts.c */
const struct cmd *cmd_find(const struct cmd_table *t, const char *name);
/* The k-th sub-command of parent, or NULL past the last. */
const struct cmd *cmd_sub_nth(const struct cmd *parent, size_t k);
const struct cmd *cmd_find_sub(const struct cmd *parent, const char *name);
/* "-f, --force" / "    --cache-from REF" / "-t, --timeout S" */
void cmd_opt_flags(const struct cmd_opt *o, char *out, size_t n);
/* `devenv CMD --help` */
void cmd_print_help(const struct cmd *cmd, const struct opt_spec *os);
/* Parse the command's options: the common ones (--help, --json, -e
 * NAME|ID, -q) and its own (cmd->opts, handed to os->own). Returns the
 * index in call->argv of its first argument, or -1 after printing help
 * (*helped; the command then returns 0) or on a usage error (err). */
int cmd_parse_opts(struct dv_ctx *ctx, const struct cmd_call *call, const struct opt_spec *os,
		   bool *helped, struct dv_error *err);
/* A usage error when call->argv has words from oi on. */
int cmd_no_args(const struct cmd_call *call, int oi, struct dv_error *err);
/* `devenv image|volume SUB ...`: the sub-command, its options parsed. Returns
 * its row with *oi the index of its first argument, or NULL: *helped after
 * help, else a usage error in err. */
const struct cmd *cmd_parse_sub(struct dv_ctx *ctx, const struct cmd_call *call,
				const struct opt_spec *os, int *oi, bool *helped,
				struct dv_error *err);
/* A sub-command given n_min to n_max arguments (n_max < 0: any number). */
int cmd_sub_args(const struct cmd *sub, int argc, int oi, int n_min, int n_max,
		 struct dv_error *err);

/* cmd.c */
/* The start of a command that acts on one env and takes no argument: its
 * options parsed (os: its own, or NULL), then its env located (need_spec:
 * the Envfile loaded too). Returns 1 to go on with *env, 0 after --help
 * (the command returns 0), -1 on an error. *env is the caller's to release
 * (env_release) in every case. */
int cmd_env_begin(struct dv_ctx *ctx, const struct layer_store *st, const struct cmd_call *call,
		  bool need_spec, const struct opt_spec *os, struct env *env, struct dv_error *err);
/* 'a', 'b' */
void cmd_quoted_list(const struct dv_strv *sv, struct dv_buf *b);
/* "12.0 KiB", "~12.0 KiB" for an estimate. */
void cmd_size(char *out, size_t n, unsigned long long bytes, bool estimate);
/* "42s", "3m", "5h", "2d" since created. */
void cmd_age(char *out, size_t n, long long created);
/* ctx->home: $DEVENV_HOME, else /var/lib/devenv as root, else under
 * $XDG_DATA_HOME or ~/.local/share (caller frees). */
int cmd_store_root(struct dv_ctx *ctx, struct dv_error *err);
/* After ctr_exec() into env s failed: its ESRCH (the env is not running)
 * and EBUSY (suspended) said as a command on the env says them, any other
 * error left as it is. Returns -1. */
int cmd_exec_failed(const struct env_record *s, struct dv_error *err);

/* remotehost.c: another machine over the user's OpenSSH client. */
struct cmd_rhost {
	char *url, *user, *host, *port; /* ssh://USER@HOST:PORT; user, port may be NULL */
	char *dest;                     /* USER@HOST: ssh's destination */
	char *ctl_dir;                  /* the ControlMaster's folder while connected */
	bool quiet;
	/* what cmd_rhost_prepare() found there */
	char *home;       /* the remote account's $HOME */
	char *devenv;     /* the devenv to run there: "devenv" (PATH) or the copy's path */
	char *sync_token; /* checkouts/<id>.sync's, or NULL */
	bool has_rsync;
};
/* Parse and check ssh://[USER@]HOST[:PORT]; a usage error otherwise. */
int cmd_rhost_parse(const char *url, struct cmd_rhost *h, struct dv_error *err);
void cmd_rhost_release(struct cmd_rhost *h);
/* The ssh command line running command there (NULL: none, for -O/-N);
 * tty: -t, else -T. */
void cmd_rhost_argv(const struct cmd_rhost *h, bool tty, const char *command, struct dv_strv *out);
/* One ControlMaster connection, used by every later cmd_rhost_run until
 * cmd_rhost_disconnect (cmd_rhost_release calls it). */
int cmd_rhost_connect(struct cmd_rhost *h, struct dv_error *err);
void cmd_rhost_disconnect(struct cmd_rhost *h);
/* Run command there: stdin from in_fd (-1: ours), stdout into out (NULL:
 * ours, streamed; else at most CMD_RHOST_ANSWER_MAX bytes, more is an
 * error); *status is its exit status (255: ssh failed). */
#define CMD_RHOST_ANSWER_MAX (1024 * 1024)
int cmd_rhost_run(const struct cmd_rhost *h, const char *command, bool tty, int in_fd,
		  struct dv_buf *out, int *status, struct dv_error *err);
pid_t cmd_rhost_spawn(char *const *argv, int in_fd, int out_fd, bool quiet_err,
		      struct dv_error *err);
int cmd_rhost_wait(pid_t pid, int *status, struct dv_error *err);
/* ssh's 255 said as one line. Returns -1. */
int cmd_rhost_unreachable(const struct cmd_rhost *h, struct dv_error *err);
/* The probe (OS, architecture, cgroups, user namespaces, the shared
 * libraries this devenv runs with, a devenv on its PATH, the copy, the
 * checkout's sync token), then the self copy when no devenv of this
 * version or newer is there; refuses in one line naming what is missing. */
int cmd_rhost_prepare(struct cmd_rhost *h, const char *id, struct dv_error *err);

/* remotesync.c: the checkout (git ls-files -co --exclude-standard, or
 * every file without git) sent to dir there: only files changed since the
 * last sync (the manifest kept in the local store's remote/<id>.manifest,
 * valid while the remote's checkouts/<id>.sync token matches), files gone
 * here removed there. root_fd: the local store's root. */
int cmd_remote_sync(struct cmd_rhost *h, int root_fd, const char *id, const char *checkout,
		    const char *dir, struct dv_error *err);
/* Before `devenv ssh` there: what changed since the last sync, sent the
 * same way; nothing changed: nothing done (no connection, no probe). Else
 * h is connected (a ControlMaster the session then uses) and the receiver
 * checks that the remote's copy is the manifest's (all of it sent again
 * when not). Needs h->home and h->devenv (the local record's). */
int cmd_remote_sync_changes(struct cmd_rhost *h, int root_fd, const char *id, const char *checkout,
			    const char *dir, struct dv_error *err);
/* `devenv __sync-recv DIR TOKEN TOKENFILE [EXPECT]`: the receiving end,
 * run there; EXPECT not TOKENFILE's token: exit status 3, nothing read. */
int cmd_sync_recv(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		  struct dv_error *err);

/* remote.c */
/* The command on --host's machine (host: its URL). The caller has not
 * entered a user namespace nor opened the store. */
int cmd_remote_main(struct dv_ctx *ctx, const struct cmd *cmd, const char *host, int argc,
		    char **argv, struct dv_error *err);
/* The host of the checkout's remote env (its local record), or NULL. */
char *cmd_remote_recorded(const struct dv_ctx *ctx);
/* ls: the remote envs' rows (NAME, HOST, ...), or their JSON objects. */
void cmd_remote_ls(int root_fd, struct json_object *arr, struct dv_strv *rows);

/* help.c */
/* `devenv --help`, and without a command (to stderr). */
void cmd_print_usage(const struct cmd_table *t, FILE *f);
/* A command's name not found: a usage error with git's "did you mean". */
int cmd_unknown(const struct cmd_table *t, const char *name, struct dv_error *err);

/* The commands: the run() of their rows. */
int cmd_lock(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_kube(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_up(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	   struct dv_error *err);
int cmd_provision(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		  struct dv_error *err);
int cmd_halt(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_reload(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);
int cmd_suspend(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		struct dv_error *err);
int cmd_resume(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);
int cmd_destroy(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		struct dv_error *err);
int cmd_status(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);
int cmd_port(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_ls(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	   struct dv_error *err);
int cmd_logs(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_ssh(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	    struct dv_error *err);
int cmd_ssh_config(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		   struct dv_error *err);
int cmd_ssh_proxy(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		  struct dv_error *err);
int cmd_images(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);
int cmd_commit(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);
int cmd_tag(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	    struct dv_error *err);
int cmd_rmi(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	    struct dv_error *err);
int cmd_pull(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_push(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_login(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	      struct dv_error *err);
int cmd_logout(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);
int cmd_image(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	      struct dv_error *err);
int cmd_volume(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);
int cmd_bundle(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);
int cmd_df(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	   struct dv_error *err);
int cmd_gc(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	   struct dv_error *err);
int cmd_allow(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	      struct dv_error *err);
int cmd_init(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_why(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	    struct dv_error *err);
int cmd_version(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		struct dv_error *err);
int cmd_help(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err);
int cmd_complete(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		 struct dv_error *err);
int cmd_verify(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err);

#endif
