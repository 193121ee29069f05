/*
 * devenv.c - the command line: main(), the global options and the table of
 * commands. The commands themselves are in cmd/ (cmd/cmd.h has the map).
 *
 * main() finds the command's row, does the set-up its flags ask for (the
 * user namespace, the store, its lock), and runs it with its row and the
 * table (struct cmd_call). Errors come back in struct dv_error and are
 * printed once, here. Exit status: 0 done, 1 failed, 2 usage or Envfile
 * error; `ssh` exits with its command's status, or 125 when devenv itself
 * failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/userns.h"
#include "util/banned.h"

/* Each command's own options (struct cmd_opt): --help, devenv.1 and the
 * completions print these rows; cmd_parse_opts() parses them. */
static const struct cmd_opt init_opts[] = {
	{ 't', "template", "NAME", 0,
	  "write this template ('devenv init --list' names them) instead "
	  "of the one the checkout's files point to" },
	{ 0, "list", NULL, 'L', "list the templates and what each is for; write nothing" },
	{ 0, "from-devcontainer", NULL, 'D',
	  "write the Envfile the checkout's devcontainer.json "
	  "amounts to, beside its .devcontainer/ (asks first what "
	  "it would need allowed)" },
	{ 0 }
};
static const struct cmd_opt build_opts[] = {
	{ 0, "cache-from", "REF", 'C',
	  "also take steps from this image's layers (a team cache "
	  "pushed with 'devenv push'), after the Envfile's cache_from; "
	  "repeatable" },
	{ 0, "frozen", NULL, 'F',
	  "build only what Envfile.lock pins: fail before building when the Envfile's inputs "
	  "differ from it or it is missing (also DEVENV_FROZEN=1)" },
	{ 0, "explain", NULL, 'X',
	  "under each step that runs, say which input differs from the last build "
	  "(as 'devenv why')" },
	{ 0 }
};
static const struct cmd_opt ssh_opts_table[] = {
	{ 'u', "user", "NAME|UID[:GID]", 0,
	  "run as this user of the env ('root' included) "
	  "instead of the Envfile's user" },
	{ 'c', "command", "CMD", 0,
	  "run CMD with the env's shell instead of a login shell; "
	  "devenv exits with its status (or give the command after --)" },
	{ 's', "secret", "NAME", 0,
	  "give the command the Envfile's secret NAME at /run/secrets/NAME, masked in "
	  "its output (may be repeated)" },
	{ 0 }
};
static const struct cmd_opt ssh_config_opts[] = {
	{ 0, "install", NULL, 'I',
	  "write every env's entry to ~/.ssh/devenv_config and include it from "
	  "~/.ssh/config (once: the line is added first, the file's own lines kept)" },
	{ 0 }
};
static const struct cmd_opt timeout_opts[] = {
	{ 't', "timeout", "S", 0, "seconds between SIGTERM and SIGKILL, 0 to 3600 (default 10)" },
	{ 0 }
};
static const struct cmd_opt reload_opts[] = {
	{ 't', "timeout", "S", 0, "seconds between SIGTERM and SIGKILL, 0 to 3600 (default 10)" },
	{ 0, "frozen", NULL, 'F',
	  "build only what Envfile.lock pins: fail before halting when the Envfile's inputs "
	  "differ from it or it is missing (also DEVENV_FROZEN=1)" },
	{ 0, "explain", NULL, 'X',
	  "under each step that runs, say which input differs from the last build "
	  "(as 'devenv why')" },
	{ 0 }
};
static const struct cmd_opt lock_opts[] = {
	{ 0, "update", NULL, 'U',
	  "ask again for what the lock pins: every item, or only the STEPs named (a step "
	  "number, 'base', a service's name): a moved branch gives its new commit, a moved "
	  "tag its new image" },
	{ 0, "check", NULL, 'K',
	  "compare the Envfile's inputs with the lock's, as --frozen does; exit 1 on a "
	  "difference; write nothing" },
	{ 0 }
};
static const struct cmd_opt allow_opts[] = {
	{ 0, "revoke", NULL, 'R',
	  "take back what was allowed for this checkout; the next up "
	  "asks again" },
	{ 0 }
};
static const struct cmd_opt destroy_opts_table[] = {
	{ 'f', "force", NULL, 0, "do not ask first (needed when standard input is not a terminal)" },
	{ 0, "volumes", NULL, 'V',
	  "also remove the env's own named volumes: never shared ones, "
	  "nor one another env names" },
	{ 0 }
};
static const struct cmd_opt logs_opts[] = {
	{ 'f', "follow", NULL, 0,
	  "keep printing new output while the env (the service) runs, "
	  "through log rotations, from its last 10 lines (as tail -f; --tail "
	  "changes how many)" },
	{ 'n', "tail", "N|all", 0,
	  "only the last N lines, across the rotated files; 'all' (the "
	  "default without -f) everything the capped log keeps" },
	{ 0 }
};
static const struct cmd_opt df_opts[] = {
	{ 'v', "verbose", NULL, 0, "list each image, layer, env, volume and cache with its size" },
	{ 0 }
};
static const struct cmd_opt gc_opts[] = {
	{ 0, "caches", NULL, 'C',
	  "also remove the provisioning steps' caches ('cache:' paths) and the git and download inputs a bundle brought ('inputs/')" },
	{ 0 }
};
static const struct cmd_opt pull_opts[] = { { 0, "platform", "OS/ARCH[/VARIANT]", 'P',
					      "take this platform of a multi-platform image "
					      "(default: this machine's)" },
					    { 0 } };
static const struct cmd_opt push_opts[] = { { 0, "compression", "gzip|zstd", 'C',
					      "how layers are compressed: gzip (the default, every "
					      "registry and runtime reads it) or zstd (tar+zstd)" },
					    { 0, "sign", "KEY", 'S',
					      "sign the pushed manifest with this ssh key (a private "
					      "key file, or a public key held by your agent); "
					      "cache_trust checks it" },
					    { 0 } };
static const struct cmd_opt bundle_opts[] = {
	{ 'o', "output", "FILE", 0,
	  "write the bundle to FILE (default: NAME.bundle.tar, NAME the env's)" },
	{ 0 }
};
static const struct cmd_opt login_opts_table[] = {
	{ 'u', "username", "USER", 0, "who logs in (asked for on a terminal when not given)" },
	{ 0, "password-stdin", NULL, 'P',
	  "read the password from standard input (needed when it "
	  "is not a terminal)" },
	{ 0 }
};
static const struct cmd_opt volume_rm_opts[] = {
	{ 'f', "force", NULL, 0,
	  "remove a volume a halted env names too (its next up starts it "
	  "empty); never one a running env uses" },
	{ 0 }
};

/* `devenv image ...` and `devenv volume ...`: named "PARENT SUB", run by the
 * parent's cmd_* (run is NULL); `--help` and devenv.1 explain each. */
static const struct cmd_opt image_load_opts[] = {
	{ 'C', "directory", "DIR", 0,
	  "a bundle: load it for the env of the checkout at DIR (default: the current folder's)" },
	{ 0 }
};
static const struct cmd image_subs[] = {
	{ "image import", NULL, CMD_STORE, "FILE NAME[:TAG]",
	  "make an image of a rootfs tarball (plain, gzip or zstd), named localhost/NAME:TAG; device nodes are skipped",
	  NULL, NULL },
	{ "image save", NULL, CMD_STORE, "IMAGE FILE",
	  "write an image as an OCI image layout archive (what podman load and skopeo read)", NULL,
	  NULL },
	{ "image load", NULL, CMD_STORE, "[-C DIR] FILE [NAME[:TAG]]",
	  "read an image from an OCI image layout archive, every blob checked; named as the archive says, or NAME; a bundle ('devenv bundle') in its project's checkout: its images, step layers (for this env only) and inputs",
	  image_load_opts, NULL },
	{ "image inspect", NULL, CMD_STORE | CMD_JSON, "[--json] IMAGE...",
	  "the images as JSON, as 'docker image inspect' gives them: id, name, created, size, layers, config",
	  NULL, NULL },
	{ "image bootstrap", NULL, CMD_STORE, "debian:SUITE",
	  "build a Debian image with debootstrap or mmdebstrap", NULL, NULL },
	{ 0 }
};
static const struct cmd volume_subs[] = {
	{ "volume ls", NULL, CMD_STORE | CMD_JSON, "[--json]",
	  "list named volumes: store name, env, Envfile name, size, the envs naming them", NULL,
	  NULL },
	{ "volume rm", NULL, CMD_STORE, "[-f|--force] NAME...",
	  "remove volumes by store name, or in a checkout by their Envfile name; refused while an env names one (unless --force), never while one runs; all names are checked before any is removed",
	  volume_rm_opts, NULL },
	{ 0 }
};

static const struct cmd_opt kube_generate_opts[] = {
	{ 0, "image", "REF", 'I',
	  "the env's image in a registry (resolved to its digest); default: its last 'devenv push'" },
	{ 0, "push", NULL, 'P',
	  "push a service image only this store has next to the env's image (else an error)" },
	{ 0, "clone", NULL, 'K',
	  "the checkout as an init container cloning its remote 'origin' at the current commit "
	  "(default: a hostPath)" },
	{ 'o', "output", "FILE", 0, "write the YAML to FILE (default: standard output)" },
	{ 0 }
};
static const struct cmd kube_subs[] = {
	{ "kube generate", NULL, CMD_STORE | CMD_ENV,
	  "[-e NAME|ID] [--image REF] [--push] [--clone] [-o FILE]",
	  "the env as a Kubernetes Pod (and PersistentVolumeClaims) for 'podman kube play' or 'kubectl apply': its pushed image pinned by digest, services as containers, on_up as kubectl exec lines; one warning per key a Pod cannot express",
	  kube_generate_opts, NULL },
	{ 0 }
};

static const struct cmd commands[] = {
	{ "init", cmd_init, 0, "[-t|--template NAME | --list | --from-devcontainer]",
	  "write an Envfile for this checkout: from the template its files suggest, --template's, or its devcontainer.json",
	  init_opts, NULL },
	{ "up", cmd_up, CMD_STORE | CMD_REMOTE | CMD_LOCKS_STORE | CMD_ENV | CMD_JSON,
	  "[-e NAME|ID] [--cache-from REF]... [--frozen] [--explain]",
	  "build what is missing (taking steps a cache_from image holds), create or start the env, run on_up",
	  build_opts, NULL },
	{ "ssh", cmd_ssh, CMD_STORE_PEEK | CMD_REMOTE | CMD_ENV | CMD_ARGV_TAIL,
	  "[-e NAME|ID] [-u|--user NAME|UID[:GID]] [-s|--secret NAME]... [-c CMD | -- ARGV...]",
	  "open a shell, or run a command, in the running env", ssh_opts_table, NULL },
	{ "ssh-config", cmd_ssh_config, CMD_STORE, "[NAME] [--install]",
	  "print an ssh Host entry (devenv-NAME) for each env, or NAME's, whose ProxyCommand is 'devenv ssh-proxy NAME'; write their host keys to ~/.ssh/devenv_known_hosts",
	  ssh_config_opts, NULL },
	{ "ssh-proxy", cmd_ssh_proxy, CMD_STORE_PEEK, "NAME",
	  "run the env's sshd -i over standard input and output (ssh's ProxyCommand): ssh, scp, rsync and editors reach the env with no port opened",
	  NULL, NULL },
	{ "halt", cmd_halt, CMD_STORE | CMD_REMOTE | CMD_ENV, "[-e NAME|ID] [--timeout S]",
	  "stop the env (SIGTERM, then SIGKILL after S seconds, default 10); keeps its files",
	  timeout_opts, NULL },
	{ "suspend", cmd_suspend, CMD_STORE | CMD_ENV, "[-e NAME|ID]",
	  "freeze every process of the running env", NULL, NULL },
	{ "resume", cmd_resume, CMD_STORE | CMD_ENV, "[-e NAME|ID]", "thaw a suspended env", NULL,
	  NULL },
	{ "reload", cmd_reload, CMD_STORE | CMD_REMOTE | CMD_LOCKS_STORE | CMD_ENV | CMD_JSON,
	  "[-e NAME|ID] [--timeout S] [--frozen] [--explain]",
	  "halt and up again, picking up Envfile changes (a changed image or step rebuilds the env: every file outside the checkout and volumes is reset)",
	  reload_opts, NULL },
	{ "provision", cmd_provision, CMD_STORE | CMD_REMOTE | CMD_LOCKS_STORE | CMD_ENV | CMD_JSON,
	  "[-e NAME|ID] [--cache-from REF]... [--frozen] [--explain]",
	  "rebuild provisioning against the current Envfile", build_opts, NULL },
	{ "allow", cmd_allow, CMD_STORE | CMD_ENV | CMD_JSON, "[-e NAME|ID] [--revoke]",
	  "show what the Envfile asks for beyond the default sandbox and allow it for this checkout (never asking), or --revoke that",
	  allow_opts, NULL },
	{ "destroy", cmd_destroy, CMD_STORE | CMD_REMOTE | CMD_ENV, "[-e NAME|ID] [-f] [--volumes]",
	  "remove the env (never the checkout; its own named volumes only with --volumes, never shared ones nor those another env names)",
	  destroy_opts_table, NULL },
	{ "status", cmd_status, CMD_STORE | CMD_REMOTE | CMD_ENV | CMD_JSON,
	  "[-e NAME|ID] [--json]", "this env's state", NULL, NULL },
	{ "port", cmd_port, CMD_STORE | CMD_ENV | CMD_JSON, "[-e NAME|ID] [--json]",
	  "the env's forwarded ports (CONTAINER/tcp -> HOST_IP:HOST_PORT)", NULL, NULL },
	{ "ls", cmd_ls, CMD_STORE | CMD_JSON, "[--json]",
	  "every env on this machine, and those brought up elsewhere with --host (their HOST)",
	  NULL, NULL },
	{ "logs", cmd_logs, CMD_STORE | CMD_REMOTE | CMD_ENV,
	  "[-e NAME|ID] [-f] [-n|--tail N|all] [SERVICE]",
	  "the env's output (on_up steps), or a service's (capped and rotated: 'logs' in the Envfile)",
	  logs_opts, NULL },
	{ "images", cmd_images, CMD_STORE | CMD_JSON, "[--json]", "list images in the store", NULL,
	  NULL },
	{ "rmi", cmd_rmi, CMD_STORE, "IMAGE", "remove an image no env uses", NULL, NULL },
	{ "pull", cmd_pull, CMD_STORE | CMD_LOCKS_STORE,
	  "[--platform OS/ARCH[/VARIANT]] [host[:port]/]NAME[:TAG|@sha256:DIGEST]",
	  "fetch an image from an OCI registry (this machine's platform, or --platform's)",
	  pull_opts, NULL },
	{ "push", cmd_push, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV,
	  "[--compression gzip|zstd] [--sign KEY] IMAGE [host[:port]/NAME[:TAG]] | [-e NAME|ID] "
	  "host[:port]/NAME[:TAG]",
	  "send an image to an OCI registry (layers gzip, or tar+zstd; blobs over DEVENV_PUSH_CHUNK_SIZE in chunks); in a checkout, the env's provisioning for the team cache",
	  push_opts, NULL },
	{ "login", cmd_login, 0, "[-u|--username USER] [--password-stdin] HOST[:PORT]",
	  "check and keep credentials for a registry (docker's config.json)", login_opts_table,
	  NULL },
	{ "logout", cmd_logout, 0, "HOST[:PORT]", "forget the credentials kept for a registry",
	  NULL, NULL },
	{ "tag", cmd_tag, CMD_STORE, "IMAGE NAME[:TAG]", "give an image another name", NULL, NULL },
	{ "commit", cmd_commit, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV, "[-e NAME|ID] IMAGE[:TAG]",
	  "the env's files as a new image (its layers plus what changed)", NULL, NULL },
	{ "image", cmd_image, CMD_STORE | CMD_LOCKS_STORE | CMD_SUBCOMMANDS, "COMMAND ...",
	  "import a rootfs tarball, save or load an OCI archive, inspect images, or build a Debian image",
	  NULL, image_subs },
	{ "volume", cmd_volume, CMD_STORE | CMD_SUBCOMMANDS, "COMMAND ...",
	  "list or remove named volumes", NULL, volume_subs },
	{ "kube", cmd_kube, CMD_STORE | CMD_LOCKS_STORE | CMD_SUBCOMMANDS, "COMMAND ...",
	  "the env for Kubernetes: generate a Pod", NULL, kube_subs },
	{ "gc", cmd_gc, CMD_STORE, "[--caches]", "remove layers nothing refers to", gc_opts, NULL },
	{ "df", cmd_df, CMD_STORE | CMD_JSON, "[-v] [--json]",
	  "disk use, as docker system df: images, layers, envs, volumes, step caches and inputs, in use, size and what is reclaimable",
	  df_opts, NULL },
	{ "verify", cmd_verify, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV, "[-e NAME|ID] [STEP...]",
	  "rebuild the steps (all, or those numbered) in a scratch area and compare each layer with the cache's, listing the files that differ; exit 1 when one does",
	  NULL, NULL },
	{ "why", cmd_why, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV | CMD_JSON,
	  "[-e NAME|ID] [--json] [STEP]",
	  "say, for each step (or STEP) the cache lacks, which input differs from the last build of the env and from the team cache's; builds nothing",
	  NULL, NULL },
	{ "version", cmd_version, 0, "", "print devenv's version", NULL, NULL },
	{ "help", cmd_help, 0, "[COMMAND [SUBCOMMAND]]", "list the commands, or explain one", NULL,
	  NULL },
	{ "bundle", cmd_bundle, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV, "[-e NAME|ID] [-o FILE]",
	  "the env as one archive to carry offline: base, step layers, services' images, git and download inputs, Envfile.lock ('devenv image load FILE' in the checkout takes it in)",
	  bundle_opts, NULL },
	{ "lock", cmd_lock, CMD_STORE | CMD_LOCKS_STORE | CMD_ENV, "[--update [STEP...]] [--check]",
	  "write Envfile.lock (the base's id and digest, git commits, digests, keys) without building; --update asks again, --check compares",
	  lock_opts, NULL },
	{ "__sync-recv", cmd_sync_recv, CMD_HIDDEN, "DIR TOKEN TOKENFILE",
	  "the receiving end of a checkout sent by --host (run there)", NULL, NULL },
	{ "__complete", cmd_complete, CMD_STORE_PEEK | CMD_HIDDEN, "WORDS",
	  "words for shell completion", NULL, NULL },
};

static const struct cmd_table table = { commands, sizeof(commands) / sizeof(commands[0]) };

/* --host URL / --host=URL among the command's words (before `--`, and for
 * ssh before its command), taken out of argv: *argc shrinks. A value of
 * one of the command's own options is skipped, never read as --host. */
static const char *take_host(const struct cmd *cmd, int *argc, char **argv, struct dv_error *err)
{
	const char *host = NULL;

	for (int i = 1; i < *argc; i++) {
		const char *w = argv[i];
		int take = 0;

		if (!strcmp(w, "--"))
			break;
		if (!strcmp(w, "--host")) {
			if (i + 1 >= *argc) {
				dv_err_usage(err,
					     "option '--host' needs a value: ssh://USER@HOST[:PORT]");
				return NULL;
			}
			host = argv[i + 1];
			take = 2;
		} else if (!strncmp(w, "--host=", 7)) {
			host = w + 7;
			take = 1;
		} else if (w[0] != '-') {
			if (cmd->flags & CMD_ARGV_TAIL)
				break;
			continue;
		} else {
			/* An option of the table taking a value: skip the value. */
			for (const struct cmd_opt *o = cmd->opts; o && (o->shortname || o->name);
			     o++)
				if (o->arg && ((o->shortname && w[1] == o->shortname && !w[2]) ||
					       (o->name && w[1] == '-' && !strcmp(w + 2, o->name))))
					i++;
			if (!strcmp(w, "-e") || !strcmp(w, "--env"))
				i++;
			continue;
		}
		memmove(argv + i, argv + i + take, (size_t)(*argc - i - take + 1) * sizeof(*argv));
		*argc -= take;
		i--;
	}
	return host;
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
	if (cmd == cmd_find(&table, "image"))
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
	struct layer_store st = { .root_fd = -1,
				  .layers_fd = -1,
				  .images_fd = -1,
				  .cache_fd = -1,
				  .tmp_fd = -1 };
	struct dv_error err = { 0 };
	struct env_userconfig ucfg = { 0 };
	const char *global_host = NULL; /* --host before the command */
	const struct cmd *cmd;
	int ret = -1, status, first = 1;

	/* The env's host-side network helper (hostnet/helper.c), not a command. */
	if (argc >= 2 && !strcmp(argv[1], "__net-helper"))
		return hnet_helper_main(argc - 1, argv + 1);
	/* A remote env's ports forwarder (hostnet/sshfwd.c), not a command. */
	if (argc >= 2 && !strcmp(argv[1], "__ssh-fwd"))
		return hnet_sshfwd_main(argc - 1, argv + 1);
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
				fprintf(stderr,
					"devenv: option '%s' needs a value: the env's name or "
					"id; see 'devenv --help'\n",
					o);
				return 2;
			}
			ctx.env_sel = argv[++first];
		} else if (!strcmp(o, "--host") && first + 1 < argc) {
			global_host = argv[++first];
		} else if (!strncmp(o, "--host=", 7)) {
			global_host = o + 7;
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
		cmd_print_usage(&table, first >= argc ? stderr : stdout);
		return first >= argc ? 2 : 0;
	}
	if (!strcmp(argv[first], "--version"))
		argv[first] = "version";
	cmd = cmd_find(&table, argv[first]);
	if (!cmd) {
		if (argv[first][0] == '-') {
			static const char *const globals[] = { "--env",  "--json",    "--quiet",
							       "--help", "--version", "--host" };
			dv_autofree char *word = dv_xstrndup(argv[first], strcspn(argv[first], "="));
			struct dv_buf hint = { 0 };

			dv_suggest(word, globals, 6, &hint);
			fprintf(stderr,
				"devenv: '%s' is not an option before the command%s; see "
				"'devenv --help'\n",
				word, hint.s ? hint.s : "");
			dv_buf_release(&hint);
			return 2;
		}
		cmd_unknown(&table, argv[first], &err);
		dv_err_print(&err);
		return 2;
	}
	if (global_host && !(cmd->flags & CMD_REMOTE)) {
		fprintf(stderr,
			"devenv: --host means something for up, provision, reload, halt, destroy, "
			"status, logs and ssh, not '%s'\n",
			cmd->name);
		return 2;
	}
	argc -= first - 1;
	argv += first - 1;
	ctx.rootless = geteuid() != 0 || !dv_userns_is_initial();
	ctx.host_uid = geteuid();
	ctx.host_gid = getegid();
	/* Another machine (cmd/remote.c): --host, DEVENV_HOST (a getenv), for
	 * up/provision/reload config.yaml's host: (read once, handed to the
	 * Envfile's lookup), else the checkout's local record for the verbs
	 * that are no hot path. Before any user namespace: ssh runs as us. */
	if (cmd->flags & CMD_REMOTE) {
		const char *host;
		dv_autofree char *found = NULL;
		int argc1 = argc - 1;

		host = take_host(cmd, &argc1, argv + 1, &err);
		if (err.msg[0]) {
			dv_err_print(&err);
			return 2;
		}
		if (!host)
			host = global_host;
		argc = argc1 + 1;
		if (!host || !*host)
			host = getenv("DEVENV_HOST");
		if ((!host || !*host) && (cmd->flags & CMD_LOCKS_STORE)) {
			if (envfile_userconfig_load(&ucfg, &err) < 0) {
				dv_err_print(&err);
				return 2;
			}
			ctx.userconfig = &ucfg;
			host = ucfg.host;
		}
		if ((!host || !*host) && !(cmd->flags & CMD_LOCKS_STORE) &&
		    !(cmd->flags & CMD_STORE_PEEK) && cmd_store_root(&ctx, &err) == 0)
			host = found = cmd_remote_recorded(&ctx);
		if (host && *host) {
			ret = cmd_remote_main(&ctx, cmd, host, argc - 1, argv + 1, &err);
			if (ret != 1)
				goto done;
			ret = -1;
		}
		free(ctx.home);
		ctx.home = NULL;
	}
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
	if ((cmd->flags & CMD_STORE) && (cmd_store_root(&ctx, &err) < 0 ||
					 layer_store_open(ctx.home, ctx.rootless, &st, &err) < 0))
		goto done;
	if ((cmd->flags & CMD_STORE_PEEK) &&
	    (cmd_store_root(&ctx, &err) < 0 || layer_store_peek(ctx.home, &st, &err) < 0))
		goto done;
	if (cmd->flags & CMD_LOCKS_STORE) {
		ctx.store_lock_fd = dv_lock_at(st.root_fd, "store.lock", false,
					       "the store ('devenv gc' runs)", &err);
		if (ctx.store_lock_fd < 0)
			goto done;
	}
	{
		const struct cmd_call call = { cmd, &table, argc - 1, argv + 1 };

		ret = cmd->run(&ctx, &st, &call, &err);
	}
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
	if (cmd == cmd_find(&table, "ssh") && ret == -1 && err.status == 0)
		status = 125;
	if (ctx.store_lock_fd >= 0)
		close(ctx.store_lock_fd);
	layer_store_release(&st);
	env_userconfig_release(&ucfg);
	free(ctx.home);
	return status;
}
