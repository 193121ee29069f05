/*
 * envfile/envfile.h - the Envfile (YAML, version 1) as a validated
 * struct env_spec. Knows nothing of containers.
 *
 * Order of calls: envfile_find() from the caller's folder, then
 * envfile_load(), use the spec, env_spec_release().
 *
 * Every error carries file:line:col (1-based) and exit status 2 in
 * err->status; the message follows STYLE.md ("unknown key 'provison' (did
 * you mean 'provision'?)").
 */
#ifndef ENVFILE_H
#define ENVFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/str.h"

enum env_step_kind { ENV_STEP_RUN, ENV_STEP_COPY, ENV_STEP_GIT, ENV_STEP_DOWNLOAD };

struct env_kv {
	char *key, *value;
};

/* One `cache` path (envfile/cache.c): a folder of the store mounted there
 * while a `run` step runs, kept across builds (provision/cachemount.c). */
#define ENV_CACHE_PATH_MAX 200
struct env_cache {
	char *path; /* absolute, plain, no trailing '/' */
	unsigned line, col;
};

struct env_step {
	enum env_step_kind kind;
	char *run;          /* RUN: the command, run as `shell -c run` */
	char *copy;         /* COPY: the path as written (relative to the Envfile's folder) */
	char *copy_abs;     /* COPY: its real path on the host, inside the checkout */
	char *to;           /* COPY, GIT, DOWNLOAD: absolute destination inside the env */
	char *git;          /* GIT: the repository URL (https://, http://, file://) */
	char *ref;          /* GIT: `ref` (branch, tag or commit), NULL: the remote's HEAD */
	char *download;     /* DOWNLOAD: the URL (http:// or https://) */
	char *sha256;       /* DOWNLOAD: the declared digest, 64 lower-case hex */
	struct env_kv *env; /* the step's own `env`, in file order (run and on_up steps) */
	size_t n_env;
	char *git_commit;        /* GIT: the resolved commit (40 hex), filled in by
			     provision/git.c before the keys are computed */
	unsigned line, col;      /* where the step starts in the Envfile */
	struct env_cache *cache; /* RUN: the step's own `cache` paths (the top-level
				    ones apply too: prov_step_caches) */
	size_t n_cache;
	struct dv_strv secrets;             /* `secrets: [NAME]`: mounted at /run/secrets/NAME
					    while it runs (names only; not in its key) */
	unsigned *secrets_pos;              /* line, col of each name */
	unsigned secrets_line, secrets_col; /* the key's position (0: absent) */
	/* on_up: `wait_for: [SERVICE, ...]` (envfile/health.c): before its
	 * run, each named service healthy (running when it has no check),
	 * within `wait_timeout` (default ENV_WAIT_TIMEOUT_MS). */
	struct dv_strv wait_for;
	unsigned long long wait_timeout_ms;
	unsigned wait_line, wait_col; /* `wait_for`'s position (0: absent) */
	bool ssh_agent;               /* RUN in provision: `ssh_agent: true` (not in its key) */
};

/* One top-level `secrets` entry: where its value is read on the host, at
 * the moment a step or on_up needs it (provision/secrets.c). The value is
 * never part of the spec. */
enum env_secret_kind { ENV_SECRET_FILE, ENV_SECRET_ENV, ENV_SECRET_COMMAND };
struct env_secret {
	char *name; /* the key: [A-Za-z0-9_.-], 1..63, the file /run/secrets/NAME */
	enum env_secret_kind kind;
	char *source;       /* FILE: the path as written; ENV: the variable; COMMAND: the command */
	char *file_rel;     /* FILE, relative: its path below the checkout; NULL: absolute (a
			   trust request), or not a file */
	unsigned line, col; /* the name's position */
	unsigned src_line, src_col; /* the source's */
};

/* `network`: private (the default, as Docker's bridge: a network namespace
 * of the env's own) or host (the host's network namespace, its loopback
 * services and abstract unix sockets included: a trust request). */
enum env_network { ENV_NET_PRIVATE, ENV_NET_HOST };

/* One `ports` entry: "8000:8000", "127.0.0.1:5433:5432", or "8000",
 * "auto:8000", "IP:auto:8000" (a free host port of devenv's choosing,
 * stable per checkout: env/net.c). TCP only. */
struct env_port {
	char *host_ip;           /* dotted IPv4 or IPv6 literal; default "127.0.0.1" */
	unsigned host_port;      /* 1..65535; 0 for auto until env/net.c picks one */
	unsigned container_port; /* 1..65535 */
	unsigned line, col;
	bool auto_port; /* "8000", "auto:8000": the host port is devenv's choice */
};

/* One `volumes` entry ("cache:/home/dev/.cache[:ro|:shared|:ro,shared]" or { name,
 * target, readonly, shared }: a named volume kept in the store, the env's
 * own unless shared) or `mounts` entry ("./data:/data[:ro]" or { source,
 * target, readonly }: a host folder or file). */
struct env_mount {
	char *source;     /* volume: its name ([a-z0-9][a-z0-9_.-]*, at most 63);
			      host mount: the path as written */
	char *source_abs; /* host mount: its real path on the host; NULL for a volume */
	char *target;     /* absolute path inside the env (or service) */
	bool volume;      /* named volume, else host mount */
	bool readonly;    /* ":ro" */
	bool shared;      /* ":shared", `shared: true`: the store-wide named volume,
			      shared with every env naming it so (a trust request, at
			      line:col); else the env's own */
	unsigned line, col;
};

/* A service's `healthcheck:` (envfile/health.c), compose's keys and
 * meaning; what is not given comes from the image's Healthcheck, then
 * Docker's defaults (ENV_HEALTH_*), when the service starts. */
#define ENV_HEALTH_INTERVAL_MS 30000ULL
#define ENV_HEALTH_TIMEOUT_MS 30000ULL
#define ENV_HEALTH_START_INTERVAL_MS 5000ULL
#define ENV_HEALTH_RETRIES 3
#define ENV_WAIT_TIMEOUT_MS 120000ULL
struct env_health {
	struct dv_strv test; /* as an argv: ["CMD", a...] is a...; "CMD-SHELL"
			      * or a string S is ["/bin/sh", "-c", S]; empty:
			      * not given (the image's) */
	bool none;           /* test: ["NONE"] or disable: true: no check at all */
	unsigned long long interval_ms, timeout_ms, start_period_ms,
		start_interval_ms; /* 0: not given */
	int retries;               /* -1: not given */
	unsigned line, col;        /* the key's position (0: absent) */
};

/* One `depends_on` entry: the service named starts first, and with
 * `condition: service_healthy` is healthy before this one starts. */
struct env_dep {
	char *name;
	bool healthy; /* service_healthy, else service_started */
	unsigned line, col;
};

/* One `services` entry: a sidecar container sharing the env's network
 * namespace, reachable as localhost and by its name. */
struct env_service {
	char *name;                     /* the key: a valid env name, also its host name */
	char *image;                    /* OCI reference, required */
	unsigned image_line, image_col; /* where it is written */
	struct env_kv *env;             /* `env`, in file order */
	size_t n_env;
	struct dv_strv command;    /* `command`: a list is the argv; a string is
				    ["/bin/sh", "-c", STRING]; empty: the image's
				    Entrypoint + Cmd */
	struct env_mount *volumes; /* `volumes`: named volumes and host mounts alike */
	size_t n_volumes;
	unsigned line, col;
	struct env_health health;   /* `healthcheck` (line 0: absent) */
	struct env_dep *depends_on; /* `depends_on`, in file order */
	size_t n_depends_on;
};

/* A value read from the host's environment by `${localEnv:NAME}` (or its
 * older spelling `${env:NAME}`) in a devcontainer.json: a trust request.
 * Only the name is kept, never the value. */
struct env_hostvar {
	char *name;
	unsigned line, col; /* where the `${` is written */
};

/* `resources`; 0 means no limit. */
struct env_resources {
	unsigned long long memory; /* bytes, at least 6m */
	unsigned cpus_milli;       /* thousandths of a CPU, 0.01 to 1024 CPUs */
	unsigned long long pids;   /* 8 to 4194304 */
};

/* `logs:`: the env's log and each service's, capped and rotated. */
#define ENV_LOG_SIZE_DEFAULT (10ULL << 20)
#define ENV_LOG_FILES_DEFAULT 2U
struct env_logs {
	unsigned long long max_size; /* bytes per file, 4k to 1g; default 10 MiB */
	unsigned max_files;          /* files kept, the current one included: 1 to 100; default 2 */
};

/* `security:` (DESIGN.md "Security"). All empty: Docker's defaults. */
struct env_security {
	char *seccomp;      /* NULL or "default", "unconfined", else a profile path as written */
	char *seccomp_abs;  /* a profile: its real path on the host, inside the checkout */
	char *seccomp_text; /* and its content, read once when the env is located
				     (prov_spec_read_inputs): what the trust prompt
				     shows, the digest holds and the filter is compiled
				     from are the same bytes; NULL until then */
	size_t seccomp_len;
	struct dv_strv cap_add; /* "CAP_NET_ADMIN" (upper case, prefixed) or "ALL" */
	struct dv_strv cap_drop;
	bool git_metadata_rw; /* `git_metadata: read-write`: the checkout's git dir is
				     writable inside (default read-only: a trust request) */
	/* Where each key is written (line 0: absent), for messages and trust. */
	unsigned seccomp_line, seccomp_col, cap_add_line, cap_add_col;
	unsigned git_metadata_line, git_metadata_col;
};

/* `ssh_agent` (envfile/agent.c): the developer's agent, filtered. */
enum env_agent_mode { ENV_AGENT_NONE, ENV_AGENT_ALL, ENV_AGENT_LIST, ENV_AGENT_CONFIRM };
struct env_agent {
	enum env_agent_mode mode;
	struct dv_strv keys; /* LIST: key comments or "SHA256:..." fingerprints */
	unsigned line, col;  /* the key's position (0: absent) */
};

/* The most layers an env can have, its image's and one per provisioning
 * step: overlay stacks at most 500 lower layers (the kernel's
 * OVL_MAX_STACK), and every container of devenv adds one, the skeleton of
 * mount points under the image (container/mount.c). */
#define ENV_MAX_LAYERS 499

struct env_spec {
	char *path;     /* absolute path of the Envfile */
	char *display;  /* the name used in messages: path relative to the cwd, e.g. "Envfile" */
	char *checkout; /* real path of the checkout (repository root, else the Envfile's folder) */
	char *relpath; /* the Envfile's path inside the checkout, e.g. "Envfile" or "sub/Envfile" */
	char *name;    /* `name`, default: the checkout folder's name */
	char *image;   /* `image`, default "debian:bookworm" (the embedded default image) */
	unsigned image_line, image_col; /* where it is written (0: the default) */
	char *workdir;                  /* `workdir`, default "/workspace"; absolute */
	char *shell;                    /* `shell`, default "/bin/sh"; absolute */
	char *user;         /* `user`, NULL when absent (commands run as root); never "root" */
	struct env_kv *env; /* `env`, in file order */
	size_t n_env;
	struct env_step *provision;
	size_t n_provision;
	struct env_step *on_up;
	size_t n_on_up;
	struct env_resources resources;
	struct env_logs logs; /* `logs`, defaults filled in */
	struct env_security security;
	struct dv_strv cache_from; /* `cache_from`, plus `up --cache-from`: registry images
				    * whose layers stand in for steps (the team cache) */
	unsigned cache_from_line, cache_from_col; /* the key's position (0: absent) */
	enum env_network network;                 /* `network` */
	unsigned network_line, network_col;       /* the key's position (0: absent) */
	struct env_port *ports;                   /* `ports`, in file order */
	size_t n_ports;
	struct env_mount *volumes; /* `volumes`: named volumes only (volume == true) */
	size_t n_volumes;
	struct env_mount *mounts; /* `mounts`: host paths only (volume == false) */
	size_t n_mounts;
	struct env_service *services; /* `services`, in file order */
	size_t n_services;
	struct env_hostvar *host_env; /* devcontainer.json's ${localEnv:...}, in file order */
	size_t n_host_env;
	struct env_cache *cache; /* top-level `cache`: for every `run` step */
	size_t n_cache;
	struct env_dotfiles *dotfiles; /* the user's config.yaml `dotfiles` (not the
					  Envfile's: envfile_userconfig_apply), or NULL */
	struct env_secret *secrets;    /* `secrets`, in file order */
	size_t n_secrets;
	struct dv_strv git_credentials; /* `git_credentials`: hosts, lower case, in file order */
	unsigned git_credentials_line, git_credentials_col; /* the key's position (0: absent) */
	struct env_agent ssh_agent;                         /* `ssh_agent`: sessions and on_up */
	/* `apt_snapshot` (envfile/aptsnap.c): every run step of a Debian-based
	 * env sees the Debian archive as of this time (provision/aptsnap.c). */
	char *apt_snapshot;          /* as written: "2026-11-20T00:00:00Z" or "auto"; NULL: none */
	long long apt_snapshot_time; /* resolved, seconds since the epoch; 0: unset */
	char *apt_snapshot_url;      /* `apt_snapshot_url`, no trailing '/'; NULL: the default */
	unsigned apt_snapshot_line, apt_snapshot_col, apt_snapshot_url_line, apt_snapshot_url_col;
	long long source_date_epoch; /* SOURCE_DATE_EPOCH for steps and their layers (0: none):
					Envfile.lock's, or devenv's own environment's */
	char *cache_trust;           /* `cache_trust`: an allowed_signers file, its path below the
			      checkout; NULL: cache_from images need no signature */
	unsigned cache_trust_line, cache_trust_col; /* the key's position (0: absent) */
};

/* The snapshot archive's base URL when neither the Envfile nor the user's
 * config names one. */
#define ENV_APT_SNAPSHOT_URL "https://snapshot.debian.org/archive"

/* ---- the user's config (userconfig.c) ----
 * $XDG_CONFIG_HOME/devenv/config.yaml (default ~/.config/devenv/): per-person
 * settings, never the project's. Errors: "PATH:line:col: ...", status 2. */

/* `dotfiles`: a repository cloned on the host and copied into the env's
 * home on its first start (env/dotfiles.c). */
struct env_dotfiles {
	char *repository;   /* https://, http:// or file:// (a path and GitHub's
			       OWNER/NAME are written so) */
	char *install;      /* `install`: run by /bin/sh in the copy; NULL: the
			       first of install.sh, install, bootstrap.sh, ... */
	char *target;       /* `target`: ~/PATH or absolute; default "~/dotfiles" */
	char *config;       /* the config file's path, for messages */
	unsigned line, col; /* where `dotfiles` is written in it */
};
struct env_userconfig {
	struct env_dotfiles *dotfiles; /* NULL: none */
	char *apt_snapshot_url;        /* `apt_snapshot_url`: the snapshot archive an Envfile
					  with `apt_snapshot` and no URL of its own uses */
	char *host;                    /* `host`: ssh://USER@HOST[:PORT] up runs on, or NULL */
	bool loaded; /* read (envfile_userconfig_load) and not yet taken by _apply */
};
/* The config's path ($XDG_CONFIG_HOME, else $HOME/.config), or NULL when
 * neither is an absolute path. Caller frees. */
char *envfile_userconfig_path(void);
/* Parse the config's text (the unit tests' entry point); display names it
 * in errors. An empty text sets nothing. */
int envfile_userconfig_parse(const char *text, size_t len, const char *display,
			     struct env_userconfig *out, struct dv_error *err);
/* Read it from its path: no file is no error and sets nothing. */
int envfile_userconfig_load(struct env_userconfig *out, struct dv_error *err);
void env_userconfig_release(struct env_userconfig *c);
void envfile_dotfiles_free(struct env_dotfiles *d);
/* Read the user's config into spec (spec->dotfiles), for the commands
 * that check trust and start envs (up, provision, reload, push, allow).
 * loaded: the config main() read already (its contents taken), or NULL. */
int envfile_userconfig_apply(struct env_spec *spec, struct env_userconfig *loaded,
			     struct dv_error *err);

/* Look for "Envfile" in start_dir and its parents, stopping at the repository
 * root (the first folder holding .git) or "/". *out_path is the Envfile's
 * absolute path, *out_checkout the repository root's real path (or the
 * Envfile's folder when there is no repository). Both belong to the caller.
 * errnum ENOENT when none is found. */
int envfile_find(const char *start_dir, char **out_path, char **out_checkout, struct dv_error *err);

/* The env name a checkout folder gives when the Envfile has no `name:`
 * (its last component; caller frees): [a-z0-9_.-], at most 63, Latin
 * letters with marks as their letters, anything else a '-' and a hash
 * suffix (README "Envfile reference"). */
char *envfile_name_from_folder(const char *folder);

/* Read and validate the Envfile at path, belonging to checkout. `display` is
 * the file name used in error positions. On failure *out stays zeroed. */
int envfile_load(const char *path, const char *checkout, const char *display, struct env_spec *out,
		 struct dv_error *err);
/* The same without the warning line of a devcontainer.json's left-out keys
 * (for a command that reads it twice). */
int envfile_load_quiet(const char *path, const char *checkout, const char *display,
		       struct env_spec *out, struct dv_error *err);

/* Parse text already in memory (the unit tests' entry point); dir is the
 * folder relative paths of `copy` resolve against. Leaves out->path and
 * out->relpath NULL (only envfile_load knows them) and copies checkout as
 * given; NULL display, dir, checkout mean "Envfile", ".", dir. */
int envfile_parse(const char *text, size_t len, const char *display, const char *dir,
		  const char *checkout, struct env_spec *out, struct dv_error *err);

void env_spec_release(struct env_spec *spec);

/* The spec's i-th named volume entry, the env's then each service's; NULL
 * past the last. */
const struct env_mount *envfile_volume_nth(const struct env_spec *spec, size_t i);
/* Does a volume name look like an env's own volume in the store,
 * NAME-ID-VOLUME (provision/volname.c), whose id is 12 hex digits between
 * dashes? A shared volume may not be named so: it would reach into that
 * env's own. */
bool envfile_volume_name_scoped(const char *name);

/* ---- devcontainer.json (devcontainer.c) ----
 * With no Envfile, envfile_find() gives a ".devcontainer/devcontainer.json"
 * or ".devcontainer.json" instead, and envfile_load() reads it through a
 * translation to the same spec, printing one warning line that lists the
 * keys it cannot honour. */

/* Is path a devcontainer.json (by its name)? */
bool envfile_is_devcontainer(const char *path);

/* Parse a devcontainer.json already in memory; dir is the folder that holds
 * .devcontainer/ (${localWorkspaceFolder}), against which the relative paths
 * of the spec resolve. *unsupported (when not NULL) gets the keys left out,
 * for one warning. Errors name display:line:col. */
int envfile_devcontainer_parse(const char *text, size_t len, const char *display, const char *dir,
			       const char *checkout, struct env_spec *out,
			       struct dv_strv *unsupported, struct dv_error *err);

/* The same translation written as Envfile YAML (for dir/Envfile), with a
 * comment header naming source (NULL: display) and what was not carried
 * over. Fails rather than write an Envfile that would not load. *out:
 * caller frees. */
int envfile_devcontainer_to_yaml(const char *text, size_t len, const char *display,
				 const char *source, const char *dir, const char *checkout,
				 char **out, struct dv_error *err);

/* For `devenv init --from-devcontainer`: read the devcontainer.json at path
 * and give its Envfile text (*out_yaml) and the folder the Envfile belongs
 * in (*out_dir, the one holding .devcontainer/). Both: caller frees. */
int envfile_devcontainer_convert(const char *path, const char *checkout, const char *display,
				 char **out_yaml, char **out_dir, struct dv_error *err);

/* Blank out // and block comments and trailing commas, byte for byte, so
 * that offsets stay the original's. *out: caller frees. On an unclosed
 * comment, -1 with *err_off at its start. */
int envfile_jsonc_strip(const char *text, size_t len, char **out, size_t *err_off);

#endif
