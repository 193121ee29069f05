/*
 * provision/provision.h - from a validated spec to the layers an env runs
 * on: keys, builds, the team cache, trust, the inputs of steps. The env
 * itself (up, halt, state.json...) is env/'s (env/env.h).
 *
 * key.c:       cache keys. key(step i) = sha256(key(step i-1) || canonical
 *              JSON of step i || digests of its inputs); key(step 0) = the
 *              base image's id. Canonical JSON: keys sorted, no white space,
 *              UTF-8. Also the spec digest, the env id and a step's label.
 * build.c:     find each step in the cache or run it in a build container
 *              and commit it as a layer; the build cgroups
 * progress.c:  what a build prints (or --json events)
 * resolve.c:   the image an `image:` names: store, team, registry, Debian
 * teamcache.c: the team cache (cache_from) and pushing an env's steps
 * net.c:       a build step's network; which outbound tool runs here
 * sandbox.c:   `security:` as capabilities and a seccomp program
 * hostpath.c:  host paths of the Envfile, opened race-free at use
 * hostmount.c: host mounts as detached mount trees
 * copystat.c:  remembered digests of `copy` folders of a git checkout
 * gitcopy.c:   what git ignores, and blob ids from its index, for `copy`
 * git.c:       `git` steps: resolve commits, clone (libgit2, dlopen'd)
 * gitdir.c:    the checkout's git metadata the env must not write
 * gitconfig.c: git config files, read as git reads them
 * fetch.c:     `download` steps
 * reach.c:     where devenv's own fetches may connect
 * spec.c:      a container's ctr_spec: root, mounts, sandbox (builds, envs,
 *              services)
 * secrets.c:   `secrets:` read on the host (memory only), the layer scan
 * trust.c:     what an Envfile asks for beyond the default sandbox
 * allow.c:     the developer's yes to it, per checkout
 * cachemount.c: `cache` paths' folders (caches/<env id>/), mounted in steps
 * stepagent.c: a step's `ssh_agent: true` (the filter of hostnet/agent_run.c)
 * normalise.c: a step's files made reproducible: volatile files, SOURCE_DATE_EPOCH
 * verify.c:    `verify`: steps rebuilt in staging, compared with the cache's
 * recipe.c:    what each key was made of (recipes/<key>.json), `why`'s sentence
 *
 * Order of calls for `up`: prov_keys() (cheap: no I/O beyond the inputs of
 * `copy` steps), prov_build(), then env_up() (env/).
 */
#ifndef PROVISION_H
#define PROVISION_H

#include <stdbool.h>
#include <stdio.h>

#include <sys/stat.h>
#include <time.h>

#include "container/container.h"
#include "envfile/envfile.h"
#include "hostnet/hostnet.h"
#include "layers/layers.h"
#include "registry/registry.h"
#include "util/ctx.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/secret.h"
#include "util/str.h"

struct prov_team;

/* Canonical JSON of one provisioning step: its fields, the effective
 * environment and the shell. Caller frees. */
char *prov_step_json(const struct env_spec *spec, const struct env_step *step);
/* "run: apt-get install …" on one line, cut to fit a terminal (caller frees). */
char *prov_step_label(const struct env_step *step);

/* Keys of every provisioning step (64 hex each), in order, into *out. */
int prov_keys(const struct env_spec *spec, const char *base_id, struct dv_strv *out,
	      struct dv_error *err);
/* The same, remembering the digests of `copy` folders of a git checkout in
 * statdir (the store's git/, prov_git_dir) so that an unchanged one is not
 * read again (copystat.c). */
int prov_keys_at(const struct env_spec *spec, const char *base_id, int statdir, struct dv_strv *out,
		 struct dv_error *err);

/* hostpath.c: a host path the Envfile names (`copy` and `mounts` sources,
 * a seccomp profile), opened at the moment of use (DESIGN.md: host paths
 * are opened race-free from a dirfd at use): its real path, resolved at
 * load, with dv_open_resolved() (util/fs.h): from the checkout's fd with
 * RESOLVE_BENEATH when it lies inside, and with no symlink on the way
 * either way (ELOOP when one appeared since, even one staying inside).
 * Hash, copy or mount the fd returned, never the path again. An error is
 * one line at the entry's Envfile position, errnum the open's errno: exit
 * status 1 ("'copy' path 'data/x' now goes through a symlink ('/home/ann/
 * shop/data/x' had none when the Envfile was read); nothing was copied"),
 * but 2, as at load, for a path that no longer exists ("...; create it, or
 * remove it from 'mounts'": p->fix). */
struct prov_hostpath {
	const char *what;    /* "'copy' path", "mount source", "seccomp profile" */
	const char *written; /* the path as the Envfile writes it */
	const char *real;    /* its real path, resolved when the Envfile was read */
	unsigned line, col;  /* its position in spec->display (0: none) */
	const char *done;    /* what did not happen: "copied", "mounted", "read" */
	const char *fix;     /* when it is gone: "remove it from 'mounts'"... */
};
int prov_host_open(const struct env_spec *spec, const struct prov_hostpath *p, int flags,
		   struct dv_error *err);
/* That error line for an open of p that failed with errno e. -1. */
int prov_host_fail(const struct env_spec *spec, const struct prov_hostpath *p, int e,
		   struct dv_error *err);
/* The content of such a path, which must be a regular file; *out: caller
 * frees. */
int prov_host_read(const struct env_spec *spec, const struct prov_hostpath *p, char **out,
		   size_t *len, struct dv_error *err);
/* What a spec names that is read whole before anything uses it, once: a
 * seccomp profile of the checkout (spec->security.seccomp_text). */
int prov_spec_read_inputs(struct env_spec *spec, struct dv_error *err);
/* hostmount.c: a host mount (`mounts`, a service's `volumes`; fix: as in
 * prov_hostpath) opened so, as a detached clone of its mount tree for the
 * container to attach (ctr_bind_tree): *out, whose tree_fd the caller
 * closes once the container started, with prov_host_trees_close(). */
int prov_host_tree(const struct env_spec *spec, const struct env_mount *h, const char *fix,
		   struct ctr_mount *out, struct dv_error *err);
void prov_host_trees_close(struct ctr_mount *m, size_t n);

/* A `copy` step's files as its recipe lists them (recipe.c), in the walk's
 * order: "sha256:HEX\tPATH" per file, "symlink:HEX\tPATH" per link (the
 * digest of its target); the first PROV_FILES_MAX kept, every one counted
 * and in the digest `all` (each line with its NUL). */
#define PROV_FILES_MAX 10000
struct prov_files {
	struct dv_strv lines;
	size_t total;
	struct dv_sha256 all;
};

/* What building a `copy` step needs (prov_copy_open, key.c): its source
 * opened race-free, what its key leaves out, and the digests of what the
 * source held as it was read. Release with prov_copy_release(). */
struct prov_copy {
	int fd;                  /* O_PATH fd of the source (-1: none) */
	struct dv_strv skips;    /* what git ignores (and every .git), sorted: the copy
				    leaves them out too; empty outside a repository */
	char key[65];            /* the step's key, from what was read through fd */
	char digest[65];         /* util/treesum.h's digest of the entries and contents
				    read through fd, named as the Envfile writes the path:
				    what ctr_copy_in must report having written */
	struct prov_files files; /* what was read, for the step's recipe */
};
/* prev: the key before the step (the base image's id without "sha256:"
 * for step 1). */
int prov_copy_open(const struct env_spec *spec, const struct env_step *step, const char *prev,
		   struct prov_copy *out, struct dv_error *err);
void prov_copy_release(struct prov_copy *c);
/* A `copy` step's files as read now (*files initialised here; release
 * files->lines); what git ignores is left out, as the copy does. */
int prov_copy_files(const struct env_spec *spec, const struct env_step *step,
		    struct prov_files *files, struct dv_error *err);
struct prov_gitcopy;
int prov_gitcopy_open(const struct env_spec *spec, const char *folder, struct prov_gitcopy **out,
		      struct dv_error *err);
bool prov_gitcopy_skip(struct prov_gitcopy *c, const char *sub, const char *name, bool is_dir);
/* The file's git blob id: the index's when st (of fd) says the index is
 * current, else hashed from fd (a regular file, opened for reading). */
int prov_gitcopy_file_id(struct prov_gitcopy *c, const char *sub, int fd, const struct stat *st,
			 char hex[41], struct dv_error *err);
/* The index's id when st says it is current: 1; else 0 (no read). */
int prov_gitcopy_index_id(struct prov_gitcopy *c, const char *sub, const struct stat *st,
			  char hex[41]);
void prov_gitcopy_close(struct prov_gitcopy *c);
struct dv_sha256;
/* copystat.c: 1 and the digest when the record for folder (fd: the folder
 * opened race-free, folder its real path) still holds. */
int prov_copystat_get(int dir, const struct env_spec *spec, int fd, const char *folder,
		      char digest[65]);
void prov_copystat_begin(const struct env_spec *spec, const char *folder, struct dv_sha256 *h);
void prov_copystat_line(struct dv_sha256 *h, const char *sub, const struct stat *st);
void prov_copystat_put(int dir, const char *folder, const char fp[65], const char digest[65],
		       const struct dv_strv *skips);
/* The store's git/ folder (created): resolutions and copy records. */
int prov_git_dir(const struct layer_store *st, struct dv_error *err);

/* Digest of everything in the spec that shapes the env (image, keys,
 * workdir, shell, env, on_up, name): equal digests mean nothing to do. */
char *prov_spec_digest(const struct env_spec *spec, const char *base_id, const struct dv_strv *keys);

/* Make sure every step's layer exists, running the missing ones. Prints
 * "[3/7] run: ... (cached)" lines, or streams a step's output and its time.
 * *layers gets the full chain, bottom first: the image's layers then one
 * per step. A failing step: -1 with the step's Envfile line and status. */
int prov_build(const struct dv_ctx *ctx, const struct layer_store *st, const struct env_spec *spec,
	       const struct layer_image *base, const struct dv_strv *keys, struct prov_team *team,
	       struct dv_strv *layers, struct dv_error *err);
/* The one name of the cgroup a build step of process pid runs in:
 * "build-<store id>-<pid>" (gc finds those of dead pids by it). out has
 * room for PROV_CGROUP_NAME_MAX bytes. */
#define PROV_CGROUP_NAME_MAX 64
int prov_build_cgroup_name(const struct layer_store *st, pid_t pid, char *out, struct dv_error *err);
/* gc: remove the build cgroups of this store's dead pids, in every
 * hierarchy (a killed build leaves its own); adds their number to *removed. */
int prov_build_cgroups_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err);

/* Progress of prov_build (provision/progress.c): _start before a step
 * runs, _end once it is known how the step was obtained. Prints to stdout,
 * or JSON Lines to ctx->events; with ctx->quiet nothing, and the output of
 * the step between _start and _end reaches stderr only if it failed.
 * _release undoes a capture left open (on an early return). */
enum prov_result { PROV_CACHED, PROV_PULLED, PROV_RAN, PROV_FAILED };
struct prov_progress {
	const struct dv_ctx *ctx;
	size_t of;
	bool color;
	int saved_out, saved_err, capture; /* -q: fds 1 and 2 while a step runs */
};
void prov_progress_init(struct prov_progress *p, const struct dv_ctx *ctx, size_t of);
void prov_progress_start(struct prov_progress *p, size_t i, const char *label);
void prov_progress_end(struct prov_progress *p, size_t i, const char *label, enum prov_result r,
		       double secs);
void prov_progress_release(struct prov_progress *p);
/* --json: {"on_up":1,"of":2,"label":…,"result":"ran|failed","seconds":…} */
void prov_progress_on_up(const struct dv_ctx *ctx, size_t i, size_t of, const char *run, bool ok,
			 double secs);
struct json_object;
struct json_object *prov_json_seconds(double secs); /* 1.23, for --json */
/* o as JSON text (json-c's flags) and a newline, to f: what json-c leaves
 * and a terminal would act on (C1 controls, DEL, bytes that are not UTF-8)
 * as JSON escapes (dv_buf_add_safe_json), so that every --json output,
 * whatever an Envfile, an image or an env put in it, is safe and still
 * says the same. */
void prov_json_print(FILE *f, struct json_object *o, int flags);

/* teamcache.c: the team cache. A prov_team reads the spec's cache_from
 * images, each opened on first use (NULL: the spec has none). */
struct prov_team *prov_team_new(const struct env_spec *spec);
void prov_team_free(struct prov_team *t);
/* The layer a cache_from image holds for key, fetched and put in the cache
 * (id: the layer's id): 0; 1 when no source has it (team may be NULL); -1
 * when the store cannot take it. A source that fails is a warning. */
int prov_team_fetch(const struct layer_store *st, struct prov_team *t, const char *base_id,
		    const char *key, char id[65], struct dv_error *err);
/* The base image `image` (as the Envfile writes it) from the cache_from
 * image that was built on it, recorded under that name with its source
 * (layer_image.from): 0; 1 when none has it. */
int prov_team_base(const struct layer_store *st, struct prov_team *t, const char *image,
		   struct layer_image *img, struct dv_error *err);
/* The cache_from image that names `image` as its base and was built on
 * another one than ours (the store's image of that name, whose id none of
 * its keys start from): that base, taken by its digest (from the store
 * when an env took it before, else pulled), kept under its digest name
 * ("repo@sha256:..."), never under `image`, which stays the store's: 0 and
 * img. 1 when no source has such a base (or ours is theirs); -1 when the
 * store cannot take it. One line says which base the env uses; quiet:
 * nothing is to be built, so a source that cannot be read is no warning. */
int prov_team_pin(const struct layer_store *st, struct prov_team *t, const char *image,
		  const struct layer_image *ours, bool quiet, struct layer_image *img,
		  struct dv_error *err);
/* verify.c: the diff_id (64 hex) of the layer the first cache_from source
 * holding key has for it, and that source as the Envfile writes it: 0; 1
 * when none has it (t may be NULL; a source that cannot be read is a
 * warning, as for prov_team_fetch). Nothing is fetched but manifests and
 * configs. */
int prov_team_diff_id(struct prov_team *t, const char *key, const char **from, char diff_id[65]);
/* Without fetching anything: 0 when a cache_from image holds a layer for
 * key (*ref: which); else 1, with *note the recipe annotation (NULL: none)
 * of the first source's layer of step `step` (from 0) and *ref its source. */
int prov_team_lookup(struct prov_team *t, const char *key, size_t step, const char **ref,
		     const char **note);
/* May the env of spec (NULL: none) use img? Yes for an image not taken
 * through cache_from; else only when spec names img's source or is the env
 * it was taken for. */
bool prov_team_vouches(const struct env_spec *spec, const struct layer_image *img);
/* Is img the image of that id, or a team's base whose source says it stands
 * for it (dev.devenv.base.ids: a base pushed along gets another id there)? */
bool prov_team_stands_for(const struct layer_image *img, const char *id);
/* Push the provisioning of spec as image dest: the base image's layers and
 * one layer per step, annotated with the steps' cache keys, as built in
 * this store for the current Envfile (a step not built is an error at its
 * line). The base is the store's image `pinned` (a team's base the env's
 * record pins for spec->image: prov_team_pin) when not NULL and present,
 * else the store's image of spec->image. A base no registry serves goes
 * along untagged. */
int prov_team_push(const struct dv_ctx *ctx, const struct layer_store *st,
		   const struct env_spec *spec, const char *pinned, const char *dest,
		   enum reg_compression comp, struct dv_error *err);
/* The same, then the pushed manifest signed with ssh key `sign` when not
 * NULL (prov_sign_manifest). */
int prov_team_push_sign(const struct dv_ctx *ctx, const struct layer_store *st,
			const struct env_spec *spec, const char *pinned, const char *dest,
			enum reg_compression comp, const char *sign, struct dv_error *err);
/* The same, giving the pushed name (normalised; caller frees) and the
 * manifest's sha256 (either may be NULL). */
int prov_team_push_out(const struct dv_ctx *ctx, const struct layer_store *st,
		       const struct env_spec *spec, const char *pinned, const char *dest,
		       enum reg_compression comp, const char *sign, char **out_name,
		       char *out_digest, struct dv_error *err);

/* The spec's `resources` as cgroup limits. */
void prov_limits(const struct env_spec *spec, struct ctr_limits *out);
/* Rootless without a delegated cgroup (cgroups empty): the pids limit as
 * RLIMIT_NPROC for the sandbox, else 0. */
unsigned long long prov_nproc_fallback(const struct ctr_limits *lim, const struct dv_strv *cgroups);
/* Call fn with the path and mode of every entry of a git index's bytes
 * (versions 2 to 4; a gitlink, a submodule, has mode 0160000), in order,
 * until it returns true; false when the bytes are not an index. */
bool prov_git_index_each(const unsigned char *data, size_t len,
			 bool (*fn)(const char *path, unsigned mode, void *arg), void *arg);
/* Does the index hold an entry for path (relative to the repository's
 * root, '/'-separated)? false too when it is no index. */
bool prov_git_index_has(const unsigned char *data, size_t len, const char *path);
/* Is relpath (the Envfile's) tracked in the index of the repository whose
 * root is checkout: its `.git` folder, or the git dir a `.git` file names
 * (a worktree's, a submodule's)? false when there is no index to read, or
 * it cannot be read (with core.splitIndex, an entry only in the shared
 * index is not found). Reads the index: only where trust is checked. */
bool prov_git_tracked(const char *checkout, const char *relpath);
/* gitconfig.c: each variable of a git config file's text, in order, as
 * git reads it: var is "section.key" or "section.subsection.key", section
 * and key in lower case (git's own spelling: "core.hookspath",
 * "includeif.gitdir:~/work/.path"), value the value as git sees it, NULL
 * for a bare key (true). Both are borrowed for the call. false when the
 * text is not all valid (git would stop with "bad config line"); fn has
 * then seen the variables before that point. */
typedef void (*prov_git_config_fn)(const char *var, const char *value, void *arg);
bool prov_git_config_parse(const char *text, size_t len, prov_git_config_fn fn, void *arg);
/* gitdir.c: the checkout's git metadata, read-only inside the env unless
 * `security.git_metadata: read-write`: ".git", "<worktree>/.git" of each
 * submodule whose git dir is in .git/modules (its core.worktree), the
 * folder of each gitlink of the index that is not checked out, and each
 * path of the worktree the repository's config names for the host's git
 * (core.hooksPath, core.fsmonitor, include.path, includeIf.*.path; read
 * from .git only). No .git: none. *out gets paths relative to the
 * checkout, none at or below another, ".git" first. A core.hooksPath
 * naming the checkout itself is a warning on stderr. */
int prov_git_paths(const char *checkout, struct dv_strv *out, struct dv_error *err);
/* gitdir.c: a checkout that is a git worktree (`git worktree add`): its
 * repository's git dir (the common dir, real path), for the env to mount
 * at the same path so that the `.git` file's `gitdir:` leads there; NULL
 * when the checkout is none. Taken from what git made on the host, never
 * on the word of the `.git` file alone (the checkout's): the git dir it
 * names must name this checkout back and be `worktrees/<name>` of a
 * repository's git dir, both outside the checkout. One that is not is a
 * warning on stderr, and NULL. *out is the caller's to free. -1 only when
 * the checkout cannot be opened. With a worktree, prov_git_paths adds
 * the paths of the checkout that its repository's config names. */
int prov_git_common_dir(const char *checkout, char **out, struct dv_error *err);
/* Which of paths (relative to checkout) the host path source (real,
 * absolute) covers: pushed to *out relative to source. true when source
 * lies inside one of them: the whole mount must be read-only. */
bool prov_git_paths_in(const char *checkout, const struct dv_strv *paths, const char *source,
		       struct dv_strv *out);

/* Say, once per command, which `resources` no cgroup enforces. */
void prov_warn_undelegated(const struct ctr_limits *lim, const struct dv_strv *cgroups);

/* The PATH of an environment that sets none (the env's, a service's). */
#define PROV_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* KEY=VALUE environment for processes in the env or a build container: the
 * Envfile's `env`, PATH defaulted, HOME=/root. */
void prov_envp(const struct env_spec *spec, struct dv_strv *out);
/* The same for one step: its own `env` over the Envfile's (step may be NULL). */
void prov_step_envp(const struct env_spec *spec, const struct env_step *step, struct dv_strv *out);

/* git.c: fill in the commit of every `git` step (step->git_commit). With
 * refresh (provision, reload) the remote is asked; without (up, push) a
 * commit remembered in the store is used, and the remote asked only when
 * there is none. A ref of 40 hex digits is the commit, without asking. */
int prov_git_resolve(const struct layer_store *st, struct env_spec *spec, bool refresh,
		     struct dv_error *err);
/* Clone a git step's repository (with .git) into dir/src and check out
 * its resolved commit (as the branch when `ref` names one): *out_path. */
int prov_git_clone(const struct env_spec *spec, const struct env_step *step, const char *dir,
		   char **out_path, struct dv_error *err);
/* The store's memory that the step's URL and ref resolved to commit for
 * spec's env (a bundle's git input): the next prov_git_resolve() without
 * refresh of that env takes it; no other env does. */
int prov_git_remember(const struct layer_store *st, const struct env_spec *spec,
		      const struct env_step *step, const char *commit, struct dv_error *err);
/* prov_git_clone() from the repository folder `local` (a bundle's input,
 * inputs.c), its origin then set to the step's URL. */
int prov_git_clone_local(const struct env_spec *spec, const struct env_step *step,
			 const char *local, const char *dir, char **out_path, struct dv_error *err);
/* fetch.c: the file name a download gets: the URL's last path segment, or
 * "download" (caller frees). */
char *prov_download_name(const char *url);
/* inputs.c: a git or download step's input for a build: the store's
 * inputs/ (a bundle's, matched by commit or sha256) before any network,
 * else prov_git_clone() / prov_download(). */
int prov_input_fetch(const struct layer_store *st, const struct env_spec *spec,
		     const struct env_step *step, const char *dir, char **out_path,
		     struct dv_error *err);
/* gitkeep.c: a bundle's clone (from: the folder its tar was unpacked in)
 * kept as a new .git in the empty folder to: objects, refs, packed-refs,
 * HEAD and a config of devenv's; one line naming `what` when it carries a
 * file that would have git read from elsewhere. prov_git_kept_redirect:
 * that file of a kept clone (dir: its folder), or NULL. */
int prov_git_keep(int from, int to, const char *what, struct dv_error *err);
const char *prov_git_kept_redirect(int dir);
/* inputs/ (made when create): its fd; -1 with ENOENT when absent. */
int prov_inputs_dir(const struct layer_store *st, bool create, struct dv_error *err);
/* The names in inputs/ of a step's input: "download-<sha256>" (a file) or
 * "git-<commit>" (a repository folder); NULL for other steps. */
char *prov_input_name(const struct env_step *step);
/* What inputs/ holds (`df`): each entry, whether it is an input a step can
 * take (else a leftover a plain gc removes), its size. */
struct prov_input {
	char *name; /* "git-<commit>", "download-<sha256>" */
	bool input;
	unsigned long long bytes;
};
int prov_input_list(const struct layer_store *st, struct prov_input **out, size_t *n,
		    struct dv_error *err);
void prov_inputs_free(struct prov_input *in, size_t n);
/* gc, under store.lock exclusive: all (`--caches`) removes inputs/, *n
 * counting its inputs; else only what is no input. *bytes grows by what
 * was removed. */
int prov_inputs_gc(const struct layer_store *st, bool all, unsigned *n, unsigned long long *bytes,
		   struct dv_error *err);
/* fetch.c: download a step's URL into dir (named after the URL's last
 * segment, mode 0644) and check its sha256: *out_path. */
int prov_download(const struct env_spec *spec, const struct env_step *step, const char *dir,
		  char **out_path, struct dv_error *err);

/* sandbox.c: the spec's `security` as capabilities and a stored seccomp
 * program (*bpf_path "" when unconfined; caller frees). */
int prov_sandbox(const struct layer_store *st, const struct env_spec *spec,
		 unsigned long long *caps, char **bpf_path, struct dv_error *err);
/* Remove the compiled seccomp programs whose paths `keep` does not hold
 * (gc holds the store lock, so no `up` is between compiling one and
 * recording it; env_sandbox_gc gives the envs' paths); adds the bytes freed
 * to *bytes. */
int prov_seccomp_gc(const struct layer_store *st, const struct dv_strv *keep,
		    unsigned long long *bytes, struct dv_error *err);
/* spec.c: a container's ctr_spec and what it points to, built one way for
 * a build step, an env and a service:
 *   prov_ctr_init(&c, st, hostname, layers, upper, work);   the root
 *   prov_ctr_hosts(&c, spec);         the services' names as localhost
 *   prov_ctr_mounts(&c, spec, ...);   volumes and host mounts, in order
 *   prov_ctr_sandbox(&c, st, spec, ...);
 *   ...set the rest of c.cs; ctr_start(&c.cs, ...) or ctr_run(&c.cs, ...)
 *   prov_ctr_release(&c);             also closes the host mounts' trees
 * c.cs points into c: c is never copied. */
struct prov_ctr {
	struct ctr_spec cs;
	const char **lowers; /* layer_diff_path() of each layer, top first */
	size_t n_lowers;
	struct ctr_mount *mounts; /* cs.mounts */
	size_t n_mounts;
	struct dv_strv paths;  /* the volumes' folders the mounts name */
	const char **hosts;    /* cs.hosts */
	struct ctr_sandbox sb; /* cs.sandbox, once prov_ctr_sandbox() loaded it */
};
/* layers: ids, bottom first (a chain, as state.json keeps it). */
void prov_ctr_init(struct prov_ctr *c, const struct layer_store *st, const char *hostname,
		   const struct dv_strv *layers, const char *upper, const char *work);
void prov_ctr_hosts(struct prov_ctr *c, const struct env_spec *spec);
/* One more mount, zeroed (tree_fd -1), for the caller to fill. */
struct ctr_mount *prov_ctr_mount_add(struct prov_ctr *c);
/* The folder of a volume m, made when missing (*dir: the caller's to own
 * then): env/'s env_vol_prepare, for its env. */
typedef int (*prov_volume_fn)(const struct env_mount *m, char **dir, void *arg,
			      struct dv_error *err);
/* m[0..n), in order: a volume's folder from volume() (filled from the image
 * when empty), a host path opened race-free (prov_host_tree; fix: what to
 * do when it is gone). */
int prov_ctr_mounts(struct prov_ctr *c, const struct env_spec *spec, const struct env_mount *m,
		    size_t n, const char *fix, prov_volume_fn volume, void *arg,
		    struct dv_error *err);
/* spec's sandbox (prov_sandbox: *caps, *bpf, the caller's to free) loaded
 * into c, with lim's pids as RLIMIT_NPROC where no cgroup holds them. */
int prov_ctr_sandbox(struct prov_ctr *c, const struct layer_store *st, const struct env_spec *spec,
		     const struct ctr_limits *lim, const struct dv_strv *cgroups,
		     unsigned long long *caps, char **bpf, struct dv_error *err);
void prov_ctr_release(struct prov_ctr *c);
/* Canonical JSON of `security` for the spec digest (cap names are checked
 * names, the profile by the sha256 of its content). */
void prov_security_json(const struct env_spec *spec, struct dv_buf *b);

/* The env id: first 12 hex digits of sha256(checkout real path || "\0" ||
 * Envfile path inside it). out has room for 13 bytes. */
void prov_env_id(const char *checkout, const char *relpath, char out[13]);


/* The image `ref` (as an Envfile writes it) for the env of spec: from the
 * store (unless another env's cache_from put it there: prov_team_vouches),
 * from a cache_from image (team may be NULL), pulled when the reference
 * names a registry host, bootstrapped for debian:SUITE, or pulled as
 * docker.io/library/NAME:TAG for any other short name. */
int prov_resolve_image(const struct layer_store *st, const struct env_spec *spec, const char *ref,
		       struct prov_team *team, struct layer_image *img, struct dv_error *err);

/* net.c: a build step's network: a namespace of its own with outbound traffic
 * (tool: slirp4netns or pasta), or, for `network: host` or where no tool
 * can run here, the host's (private_ns false). */
struct prov_build_net {
	bool private_ns;
	char *tool;
	bool pasta;
};
void prov_build_net(const struct env_spec *spec, struct prov_build_net *out);
/* Before a build step runs (outside -q's capture of its output): say, once
 * per command, that steps keep the host's network here, and why. */
void prov_build_net_warn(const struct env_spec *spec);
void prov_build_net_release(struct prov_build_net *bn);
/* What gives a private network namespace its outbound traffic here:
 * slirp4netns, else pasta (DEVENV_OUTBOUND: a path, or "none" to play a
 * machine without either). NULL when none can run, with what is missing
 * and its fix in why and fix. Caller frees. */
char *prov_outbound_tool(bool *pasta, char *why, size_t why_n, const char **fix);
/* Said once per command (by the first build step, or by the env's start):
 * true the first time it is asked, false after. */
bool prov_outbound_say_once(void);


/* secrets.c: the values of `secrets:`, read on the host when a build or
 * an up needs them, held in memory only (never in the store, a key, a
 * log or state.json) and zeroed when released. v[i].len leaves out a
 * trailing newline (what is masked and looked for); full[i] is what the
 * file /run/secrets/NAME holds. */
#define PROV_SECRET_MIN 4
enum { PROV_SECRETS_STEPS = 1, PROV_SECRETS_ON_UP = 2, PROV_SECRETS_ALL = 4 };
struct prov_secrets {
	struct dv_secret *v;
	size_t *full;
	size_t n;
};
/* Those the provision steps name (STEPS), on_up entries (ON_UP), or every
 * declared one (ALL). An error is one line at the source's position. */
int prov_secrets_read(const struct env_spec *spec, unsigned which, struct prov_secrets *out,
		      struct dv_error *err);
/* Those names gives (declared ones: the caller checked). */
int prov_secrets_read_names(const struct env_spec *spec, const struct dv_strv *names,
			    struct prov_secrets *out, struct dv_error *err);
void prov_secrets_release(struct prov_secrets *s);
/* The ones names gives, as the container's files owned by uid:gid: *out
 * (caller frees the array; the values stay s's); their number. */
size_t prov_secrets_for(const struct prov_secrets *s, const struct dv_strv *names, uid_t uid,
			gid_t gid, struct ctr_secret **out);
/* Refuse (EPERM, status 1) when a file, link or name below dir holds a
 * secret's bytes; what: "step 2's files", "the env's files". */
int prov_secrets_scan(const struct prov_secrets *s, const char *dir, const char *what,
		      struct dv_error *err);

/* trust.c: what an Envfile asks for beyond the default sandbox (README
 * "Trust"), computed from the spec alone; allow.c: the developer's yes,
 * recorded per checkout (the env id) in the store's trust/ folder.
 *
 * Order of calls: the command loads the spec, then prov_trust_check()
 * before anything runs (up, provision, reload, init --from-devcontainer);
 * `devenv allow` calls prov_trust_allow() or prov_trust_revoke(). */
enum prov_req_kind {
	PROV_REQ_MOUNT,         /* `mounts:` with a source outside the checkout */
	PROV_REQ_SERVICE_MOUNT, /* the same in a service's `volumes` */
	PROV_REQ_CAP_ADD,
	PROV_REQ_SECCOMP,      /* unconfined, or a profile of the checkout's */
	PROV_REQ_GIT_METADATA, /* `git_metadata: read-write` */
	PROV_REQ_PORT,         /* a host address other than loopback */
	PROV_REQ_GIT,          /* file://, loopback, link-local or private */
	PROV_REQ_DOWNLOAD,     /* loopback, link-local or private */
	PROV_REQ_HOST_ENV,     /* devcontainer.json's ${localEnv:NAME} */
	PROV_REQ_SHARED_VOLUME,
	PROV_REQ_CACHE_FROM,
	PROV_REQ_NETWORK_HOST,    /* a written `network: host` */
	PROV_REQ_IMAGE,           /* `image:` (env or service) from loopback or link-local */
	PROV_REQ_CHECKOUT,        /* an Envfile below the checkout's root its git index lacks */
	PROV_REQ_DOTFILES,        /* the user's config.yaml `dotfiles`, copied into the env */
	PROV_REQ_SECRET,          /* `secrets:` read from a host file outside the checkout, a
				     host variable, or a command run on the host */
	PROV_REQ_GIT_CREDENTIALS, /* `git_credentials`: the host's git credentials */
	PROV_REQ_SSH_AGENT,       /* `ssh_agent` (top level, or a step's) */
	PROV_REQ_APT_SNAPSHOT,    /* `apt_snapshot_url` on this machine or its network */
};
struct prov_request {
	enum prov_req_kind kind;
	unsigned line, col; /* in the spec's file; 0 when it has none */
	char *what;         /* "host path '/' at '/host', read-write" (printable) */
	char *gives;        /* one line: what it gives the env */
	char *extra;        /* digested, not shown (a profile's sha256), or NULL */
};
struct prov_requests {
	struct prov_request *v; /* in file order */
	size_t n;
	char *file; /* the spec's display name, made safe to print */
};
/* Every request of spec (none: out->n == 0). No I/O, but for an Envfile
 * below its checkout's root: the repository's index is read (is the
 * Envfile tracked there?). Release with prov_requests_release(). */
void prov_trust_requests(const struct env_spec *spec, struct prov_requests *out);
void prov_requests_release(struct prov_requests *r);
/* sha256 of the canonical list: kinds and texts sorted, positions left out. */
void prov_trust_digest(const struct prov_requests *r, char hex[65]);
/* "Envfile:3:3: host path '/' at '/host', read-write: the env can ..."
 * (caller frees). */
char *prov_request_line(const struct prov_requests *r, size_t i);
const char *prov_req_kind_name(enum prov_req_kind k);

/* Where a git or download source is: the URL's host as written. */
enum prov_where {
	PROV_WHERE_PUBLIC,    /* a literal public address */
	PROV_WHERE_NAME,      /* a host name: checked when it is reached */
	PROV_WHERE_FILE,      /* file:// */
	PROV_WHERE_LOOPBACK,  /* 127/8, ::1, 0.0.0.0, localhost: this machine */
	PROV_WHERE_LINKLOCAL, /* 169.254/16, fe80::/10 */
	PROV_WHERE_PRIVATE,   /* 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, multicast */
};
struct sockaddr;
enum prov_where prov_where_url(const char *url);
enum prov_where prov_where_host(const char *host);
enum prov_where prov_where_sockaddr(const struct sockaddr *sa);
const char *prov_where_name(enum prov_where w);
/* Is ip (a port's host address, an IPv4 or IPv6 literal) one that only
 * this machine reaches: 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104? Anything
 * else, the unspecified address in any spelling first, is a request. */
bool prov_port_loopback(const char *ip);
/* The host of scheme://[user@]host[:port]/... ([v6] without brackets)
 * into host: 0, or -1 when there is none or it does not fit. */
int prov_url_host(const char *url, char *host, size_t size);

/* reach.c: where devenv's own fetches (git, download) may connect. The
 * classes of address (a bit per enum prov_where) a fetch of url may reach:
 * public and private; loopback or link-local only when the URL writes such
 * an address (a trust request); the proxy's, when the environment names
 * one. */
unsigned prov_reach_allowed(const char *url);
bool prov_reach_ok(unsigned allowed, enum prov_where w);
/* "127.0.0.1", "fe80::1" */
void prov_reach_address(const struct sockaddr *sa, char *out, size_t n);
/* For a fetcher that resolves the name itself (libgit2): resolve url's host
 * now; -1 with *why (one line) when an address is not allowed. */
int prov_reach_resolve(const char *url, char *why, size_t n);

/* Before anything runs: with no request, 0 at once. Else DEVENV_ALLOW=1,
 * or a record for env id whose digest matches, give 0; on a terminal
 * (stdin and stderr, not --json) the list is printed on stderr and
 * `[y/N]` asked, a yes recorded. Otherwise -1 with exit status 2 and one
 * line saying to run `devenv allow`; errnum EPERM. */
int prov_trust_check(const struct dv_ctx *ctx, const struct layer_store *st, const char *id,
		     const struct env_spec *spec, struct dv_error *err);
/* Record the digest of r for env id (trust/<id>, written atomically). */
int prov_trust_allow(const struct layer_store *st, const char *id, const struct env_spec *spec,
		     const struct prov_requests *r, struct dv_error *err);
/* Remove the record; ENOENT when there was none. */
int prov_trust_revoke(const struct layer_store *st, const char *id, struct dv_error *err);
/* Is there a record for id, and does it match r? (for `allow`'s output) */
bool prov_trust_recorded(const struct layer_store *st, const char *id,
			 const struct prov_requests *r);
/* gc: remove the records of checkouts whose Envfile is gone (as `direnv
 * prune`); *removed counts them. */
int prov_trust_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err);


/* cachemount.c: the `cache` folders of a `run` step (the top-level paths
 * and its own) added to c's mounts, made in caches/<env id>/ when missing;
 * nothing when it has none. */
int prov_cache_mounts(struct prov_ctr *c, const struct layer_store *st, const struct env_spec *spec,
		      const struct env_step *step, const char *env_id, struct dv_error *err);
/* One cache folder of the store (`df`): whose, for which path, its size. */
struct prov_cache {
	char env_id[13];
	char *path; /* "/root/.cache/pip" */
	unsigned long long bytes;
};
int prov_cache_list(const struct layer_store *st, struct prov_cache **out, size_t *n,
		    struct dv_error *err);
void prov_caches_free(struct prov_cache *c, size_t n);
/* `gc --caches`: every cache folder removed; *n and *bytes grow by what was. */
int prov_cache_clear(const struct layer_store *st, unsigned *n, unsigned long long *bytes,
		     struct dv_error *err);

/* stepagent.c: `ssh_agent: true` on step `index` (0-based): the filter
 * started and its folder added to c's mounts (at /run/devenv-agent);
 * out->agent.pid 0 when the host has no agent (a warning said so). Stop
 * it with prov_step_agent_end once the step has run (safe on a zeroed one
 * made with PROV_STEP_AGENT_INIT). */
struct prov_step_agent {
	struct hnet_agent agent;
	char *name; /* its folder in tmp/ */
};
#define PROV_STEP_AGENT_INIT \
	{ \
		.agent = HNET_AGENT_INIT, .name = NULL \
	}
int prov_step_agent(struct prov_ctr *c, const struct layer_store *st, const struct env_spec *spec,
		    size_t index, const char *env_id, struct prov_step_agent *out,
		    struct dv_error *err);
void prov_step_agent_end(const struct layer_store *st, struct prov_step_agent *a);

/* aptsnap.c: `apt_snapshot`. A run step's argv: `SHELL -c RUN`, or with
 * apt_snapshot set, that behind the prelude that points apt at the dated
 * archive (see the file's head). The argv borrows from spec, step and a. */
#define PROV_APT_STAMP 17 /* "20261120T000000Z" and its NUL */
struct prov_apt {
	char *argv[9];
	char stamp[PROV_APT_STAMP];
};
char **prov_apt_argv(const struct env_spec *spec, const struct env_step *step, struct prov_apt *a);
/* The snapshot time as the archive names it, YYYYMMDDTHHMMSSZ. */
void prov_apt_stamp(long long t, char out[PROV_APT_STAMP]);
/* The archive's base URL: the Envfile's, else the default. */
const char *prov_apt_url(const struct env_spec *spec);
/* After a run step with apt_snapshot set: did it both change apt's sources
 * and run apt (its upper folder says so)? Then prov_apt_warn, once -q's
 * held output is done with, says so in one warning (changed: the answer). */
bool prov_apt_changed(const struct env_spec *spec, const struct env_step *step, const char *upper);
void prov_apt_warn(const struct env_spec *spec, const struct env_step *step, size_t index,
		   const char *label, bool changed);

/* normalise.c: SOURCE_DATE_EPOCH as steps get it. prov_epoch_parse: decimal
 * seconds, 1 to 9999-12-31, nothing else: 0, else -1. prov_epoch_from_env:
 * devenv's own environment's into *out (untouched when unset); a bad one is
 * an error saying so. */
int prov_epoch_parse(const char *s, long long *out);
int prov_epoch_from_env(long long *out, struct dv_error *err);
/* SOURCE_DATE_EPOCH=spec's appended to a step's environment, unless it has
 * one (the Envfile's) or spec has none. */
void prov_epoch_envp(const struct env_spec *spec, struct dv_strv *envp);
/* The files left out of every step's layer (README "Reproducible layers"):
 * fnmatch patterns relative to the root, '*' in the last component only;
 * NULL-terminated. _match: does rel ("var/log/dpkg.log") match one? */
extern const char *const prov_volatile_files[];
bool prov_volatile_match(const char *rel);
/* A step's upper folder made ready to commit: the volatile files removed;
 * with epoch > 0, every mtime past it clamped to it (symlinks not followed,
 * other filesystems not entered). */
int prov_normalise(const char *upper, long long epoch, struct dv_error *err);

/* verify.c: rebuild the steps `which` names (0-based; NULL: all) on the
 * cached chain below each, in staging never committed, and compare each
 * one's diff_id with its cached layer's and, when team (cache_from) has a
 * layer for its key, that one's; the differing files printed. 0 when all
 * match, 1 when one differs (printed), -1 on error. */
int prov_verify(const struct dv_ctx *ctx, const struct layer_store *st, const struct env_spec *spec,
		const struct layer_image *base, const struct dv_strv *keys, struct prov_team *team,
		const bool *which, struct dv_error *err);
/* build.c: run step `index` into staging folder `staging` on the layers
 * `chain` (bottom first), normalised as prov_build does, not committed. */
int prov_run_step(const struct layer_store *st, const struct env_spec *spec, size_t index,
		  const char *prev, const char *key, const struct dv_strv *chain,
		  const char *staging, const char *env_id, struct dv_error *err);
/* recipe.c: what a cache key was made of. parent: the key before step i
 * (from 0), or the base image's id for step 1; base_name: the base's name.
 * _make: the recipe as JSON (NULL and err when a copy's source cannot be
 * read); _record: written to recipes/<key>.json (a failure is a warning). */
struct json_object;
struct json_object *prov_recipe_make(const struct env_spec *spec, size_t i, const char *parent,
				     const char *base_name, struct dv_error *err);
void prov_recipe_record(const struct layer_store *st, const struct env_spec *spec, size_t i,
			const char *parent, const char *base_name, const char *key);
/* The same for a copy step just copied (build.c's copy_step, before its
 * commit), from the files it read (struct prov_copy's): no second walk. */
void prov_recipe_record_copy(const struct layer_store *st, const struct env_spec *spec, size_t i,
			     const char *parent, const char *key, const struct prov_files *files);
/* The first input of step i that differs from what old_key (the last
 * build's key of that step; NULL: none) was made of, as a sentence ("env
 * value FOO changed", "never built for this env"...). NULL on err. */
char *prov_recipe_why(const struct layer_store *st, const struct env_spec *spec, size_t i,
		      const char *parent, const char *base_name, const char *key,
		      const char *old_key, struct dv_error *err);
/* The same against a recipe note (a pushed layer's dev.devenv.recipe);
 * NULL when the note is no JSON object (or on err). */
char *prov_recipe_why_note(const struct env_spec *spec, size_t i, const char *parent,
			   const char *base_name, const char *note, struct dv_error *err);
/* The first input that differs between two recipes' JSON texts (old, now)
 * of step `no` (1-based), as a sentence; "" when none does; NULL when
 * either is no JSON object. */
char *prov_recipe_diff(const char *old, const char *now, size_t no);
/* The compact form of key's recipe for a pushed layer's annotation, or
 * NULL when the store has none. */
char *prov_recipe_note(const struct layer_store *st, const char *key);
/* up --explain: ctx->explain's sentence for step i, under its line (with
 * --json none: progress.c puts it in the step's event). */
void prov_recipe_explain(const struct dv_ctx *ctx, size_t i);
/* gc: remove the recipes of keys no cache entry holds. */
int prov_recipe_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err);
/* signing.c: the signed team cache. Sign "sha256:<hex>" (the manifest
 * digest) with key (ssh-keygen -Y sign -f KEY, namespace "devenv": a
 * private key file, or a public key whose private half is in the agent)
 * and store the signature beside manifest hex of name (reg_sig_push). */
int prov_sign_manifest(const char *key, const char *name, const char *hex, struct dv_error *err);
/* Is r's manifest signed by a principal spec->cache_trust lists? 0 with
 * *who (caller frees) and the file's mark (what layer_cache_put_trust
 * records); 1 when not, err->msg saying why (one phrase: "its manifest
 * ... is not signed ..."); -1 on a failure of ours. */
int prov_sig_check(const struct env_spec *spec, struct reg_remote *r, char **who, char mark[17],
		   struct dv_error *err);
/* The mark of spec's cache_trust file as it is now (16 hex; "-" when it
 * cannot be read, which matches no layer), for layer_cache_scope.trust;
 * NULL without cache_trust (no file read). */
const char *prov_sig_mark(const struct env_spec *spec, char mark[17]);

#endif
