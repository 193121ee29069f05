/*
 * container/container.h - creating, entering, stopping containers.
 *
 * A container is an overlay of layer folders plus an upper folder, entered
 * through mount, pid, uts, ipc and cgroup namespaces, with pivot_root into
 * the overlay. Its mounts live only in its own mount namespace, so nothing
 * is left mounted on the host when it dies.
 *
 * Two kinds:
 *  - an env (ctr_start): a long-lived PID 1 (the tiny init embedded in
 *    devenv, run from a sealed memfd) that reaps orphans and passes SIGTERM
 *    on; commands enter it with ctr_exec().
 *  - a build container (ctr_run): one command under the same init, which
 *    exits with the command's status; used by provisioning steps.
 *
 * (The env's record, state.json, is env/record.c's, above this module.)
 */
#ifndef CONTAINER_H
#define CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <seccomp.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/str.h"

/* The Envfile's `user`: made to exist in an env at each start (passwd, group,
 * shadow when the image has one, and /home/NAME), written through the root. */
struct ctr_user {
	const char *name, *shell;
	uid_t uid;
	gid_t gid;
};
/* The sandbox (DESIGN.md "Security"): applied to every process of a
 * container just before exec, in this order: no_new_privs; these caps in
 * the bounding, permitted, effective and inheritable sets (ambient empty);
 * then the seccomp program. */
struct ctr_sandbox {
	unsigned long long caps;  /* bit n: capability n */
	const void *bpf;          /* struct sock_filter[]; NULL: unconfined */
	size_t bpf_len;           /* bytes */
	unsigned long long nproc; /* RLIMIT_NPROC: the pids limit where no pids
				      cgroup holds the env (rootless); 0: none */
};
extern const unsigned long long ctr_caps_docker;  /* Docker's 14 default caps */
extern const unsigned long long ctr_caps_default; /* podman's 11: Docker's without
						     NET_RAW, MKNOD, AUDIT_WRITE */
/* Docker's semantics on podman's default set (ctr_caps_default): + add -
 * drop; "ALL" in either. Names as "CAP_NET_ADMIN". EINVAL for an unknown
 * name. */
int ctr_caps_mask(const struct dv_strv *add, const struct dv_strv *drop, unsigned long long *out,
		  struct dv_error *err);
/* Docker's default seccomp profile (embedded), NUL-terminated. */
const char *ctr_seccomp_default(size_t *len);
/* Compile a Docker-format profile for these caps, this arch and kernel into
 * dir/<sha256>.bpf, unless it is there already. *out_path: caller frees. */
int ctr_seccomp_prepare(const char *dir, const void *profile, size_t len, unsigned long long caps,
			char **out_path, struct dv_error *err);
/* Read a stored program (NULL or "": unconfined). Release with
 * ctr_sandbox_release(). */
int ctr_sandbox_load(const char *bpf_path, unsigned long long caps, struct ctr_sandbox *out,
		     struct dv_error *err);
void ctr_sandbox_release(struct ctr_sandbox *sb);
/* noaudit.c: sb's program (or none) with socket(AF_NETLINK, *,
 * NETLINK_AUDIT) failing EPROTONOSUPPORT first ("no audit in this kernel":
 * the env's sshd then opens terminal sessions without CAP_AUDIT_WRITE).
 * -1 (sb unchanged) on an arch it does not know or a program too long. */
int ctr_sandbox_no_audit(struct ctr_sandbox *sb);

/* A secret: the file /run/secrets/NAME (0400, uid:gid) on a tmpfs of its
 * own, read-only, mounted while a build step or an exec'd command runs. */
struct ctr_secret {
	const char *name; /* a plain file name */
	const char *data;
	size_t len;
	uid_t uid;
	gid_t gid;
};

/* A bind mount into a container, made after the root and the checkout. */
struct ctr_mount {
	const char *source; /* absolute host path (a named volume's folder, a host mount);
				with has_tree only for messages */
	const char *target; /* absolute path inside; created when missing, never
				through a symlink that leaves the root */
	bool readonly;
	bool fill;                  /* a named volume: when its folder is empty, it first gets
				a copy of what the image has at target, and that folder's
				owner and mode (Docker's rule); where the image has
				nothing there, the env's user (else root) owns it */
	bool host;                  /* a host path (not a volume of the store): idmapped
				with ctr_spec.idmap; always nosuid and nodev */
	const char *const *protect; /* host path covering the checkout's git dir:
				       these paths in it (relative) are read-only
				       (see ctr_spec.git_protect) */
	size_t n_protect;
	bool has_tree; /* a host path of the Envfile: bind exactly tree_fd, never
				`source` looked up again */
	bool skeleton; /* target made in the skeleton (the bottom tmpfs), not in
				the env's upper, where `commit` would take it: for a
				mount devenv adds itself (a worktree's repository) */
	int tree_fd;   /* with has_tree: ctr_bind_tree() of the source; the
				caller closes it once the container started */
};

/* An idmap for host paths (user.c): on disk uid_disk shows as uid_vis, and
 * gid_disk as gid_vis; no other id can be created or chowned to. */
struct ctr_idmap {
	unsigned uid_disk, uid_vis, gid_disk, gid_vis;
};
/* A detached clone of the mount tree at real (a host path's real path,
 * resolved when the Envfile was read), opened race-free at this moment
 * with dv_open_resolved(root, real) (util/fs.h): for ctr_mount.tree_fd.
 * The open and the clone happen in a short-lived child with a mount
 * namespace of its own: cloning a mount needs CAP_SYS_ADMIN over the
 * namespace it is in, which devenv without root has only in namespaces it
 * made, and a container's child could not clone a mount of ours either
 * (EINVAL), but can attach this. *open_errno: 0, or the errno of the
 * open when that failed (ELOOP, ENOENT: the path no longer leads
 * where it did), for the caller to say where. */
int ctr_bind_tree(const char *root, const char *real, int *open_errno, struct dv_error *err);

/* A rootless env with `user:` (container/keepid.c): the host user is the
 * user's uid inside, root and the image's other ids are subordinate ids.
 * The env's init gets a user namespace of its own nested in devenv's, with
 * uid (gid) <-> devenv's root and 0..uid-1 <-> devenv's 1..uid; its root is
 * a FUSE mount made in that namespace, served by fuse-overlayfs from
 * devenv's namespace over the same layers and upper as the kernel's
 * overlay would use. */
struct ctr_keepid {
	unsigned uid, gid;        /* the user's ids: the host user's numbers */
	unsigned long uids, gids; /* how many ids devenv's namespace has (0..n-1) */
	const char *server;       /* fuse-overlayfs, an absolute path */
};
/* Can this user run keep-id envs? 0, or -1 with *why (a static string
 * that says what to do) when /dev/fuse cannot be opened or fuse-overlayfs
 * is not installed. server[64] gets fuse-overlayfs's path. */
int ctr_keepid_check(char *server, const char **why);
/* keepid's maps for the user's ids in a namespace of `uids` and `gids`
 * ids; -1 with *why when the uid or gid is beyond them. */
int ctr_keepid_plan(struct ctr_keepid *k, unsigned uid, unsigned gid, const char **why);

struct ctr_init;
typedef void (*ctr_clone_hook)(const struct ctr_init *init, void *arg);
/* A log's cap: at most max_size bytes in "log" in the folder dir_fd (an
 * O_PATH fd is enough), then renamed "log.1" (and so on: max_files files
 * in all, the oldest dropped) by the relay, which goes on in a new "log". */
struct ctr_logcap {
	int dir_fd;
	unsigned long long max_size;
	unsigned max_files;
};

struct ctr_spec {
	const char *hostname;      /* the env's name */
	const char *const *lowers; /* absolute layer diff folders, TOP first */
	size_t n_lowers;
	const char *upper, *work;       /* absolute overlay upper and work folders */
	const char *checkout;           /* host folder bind-mounted read-write at workdir
				       (nosuid, nodev); NULL: none */
	const struct ctr_idmap *idmap;  /* the checkout and host mounts idmapped so;
				       NULL: bound as they are (no idmap here,
				       rootless) */
	const char *const *git_protect; /* paths in the checkout bound read-only onto
					   themselves (".git", "sub/.git"), their
					   folders pinned (see ctr_git_protect) */
	size_t n_git_protect;
	const char *workdir;              /* absolute path inside; created when missing */
	bool build;                       /* build container: nothing the runtime creates
				       (mount targets, /etc/hosts...) is left in `upper`
				       (every overlay has redirect_dir, metacopy and
				       index off: an upper is always a layer) */
	int log_fd;                       /* a service's log, which its log relay (a small
				       host-side process) appends its stdout and
				       stderr to; unused for an env or a build */
	const struct ctr_logcap *log_cap; /* with log_fd: its cap (NULL: none) */
	const struct dv_strv *cgroups;    /* cgroup folders to put the container in (may be NULL) */
	const struct ctr_user *user;      /* env only: the user to create (NULL: none) */
	const struct ctr_keepid *keepid;  /* env only, rootless: the user is the host
				       user inside (NULL: root is) */
	const struct ctr_sandbox *sandbox; /* NULL: none (host root's caps, no filter) */
	bool userns;                       /* devenv runs in a user namespace (rootless):
				       overlay with userxattr */
	const struct ctr_mount *mounts;    /* `volumes` and `mounts`, in order */
	size_t n_mounts;
	bool new_netns;       /* `network: private`: a network namespace of
				       its own, with lo up (an env, or a build step) */
	const char *outbound; /* a build step with new_netns: slirp4netns (or
				       pasta, outbound_pasta) started on its network
				       namespace before the step runs, ended with it;
				       NULL: none */
	bool outbound_pasta;
	const char *netns_path;   /* join this network namespace instead (a service
				       joining its env's); NULL: none */
	const char *const *hosts; /* more names for 127.0.0.1 in /etc/hosts (the
				       env's services) */
	size_t n_hosts;
	const struct ctr_secret *secrets; /* a build step's: on /run/secrets (its mount
					     point in the skeleton, never in the upper),
					     masked in its output */
	size_t n_secrets;
	bool secrets_dir;        /* an env whose on_up names secrets: /run/secrets made in the
			     skeleton, for ctr_exec's x.secrets to mount on */
	ctr_clone_hook on_clone; /* env only, or NULL: called in the parent once
				       the child (the init to be: its pid and start
				       time are the init's) exists, before it is put in its cgroups
				       and builds its root, so that what the env needs
				       on the host's side (its network helper) starts
				       meanwhile; it must not fail the start */
	void *on_clone_arg;
};

struct ctr_init {
	pid_t pid;                     /* host pid of the env's PID 1 */
	unsigned long long start_time; /* field 22 of /proc/PID/stat */
};

/* Start an env: returns once its PID 1 runs with every mount in place.
 * On failure nothing is left running. The init then waits, doing nothing,
 * until ctr_commit(commit_fd): the caller records it first. Should we die
 * (or close *commit_fd) before, the init exits and its namespaces go with
 * it: that byte is the commit point of `up` (ARCHITECTURE.md). */
int ctr_start(const struct ctr_spec *spec, struct ctr_init *out, int *commit_fd,
	      struct dv_error *err);
/* Let the init started with *commit_fd go on, for good: from now on it
 * outlives us. Closes *commit_fd (-1 after; nothing to do when -1). Fails
 * when the init died meanwhile. */
int ctr_commit(int *commit_fd, struct dv_error *err);


enum ctr_status { CTR_STOPPED, CTR_RUNNING, CTR_FROZEN };
/* Read live: is this pid alive, and with this start time (so a reused pid
 * reads as stopped)? Never signals anything. */
enum ctr_status ctr_probe(const struct ctr_init *init);
/* Has the init exited, or does it within ms? An exited init that its parent
 * has not reaped yet (a zombie, which ctr_probe still reads as running)
 * counts as exited. For telling "stopped by another command" from a failure. */
bool ctr_exited(const struct ctr_init *init, int ms);

struct ctr_exec {
	char *const *argv; /* run inside; a name without '/' is looked up in the env's PATH */
	char *const *envp; /* complete environment for argv */
	const char *cwd;   /* inside the container; falls back to "/" when missing */
	bool tty;          /* allocate a pty from the container's devpts, relay it,
			       pass window-size changes on; else pipes: stdin,
			       stdout and stderr apart */
	int tee_fd;        /* >= 0: also copy the command's output to this fd (the log) */
	bool tee_only;     /* with tee_fd: the output goes there alone (-q) */
	bool filter;       /* ctr_run, ctr_exec: the output reaches our stdout and
			       stderr made safe for a terminal (util/term.h); the
			       tee gets it raw */
	bool no_stdin;     /* the command's stdin is empty, and ours is left
			       alone (on_up); else ours is relayed to it */
	const char *user;  /* NULL: as root, environment as given; else NAME|UID[:GID],
			       looked up in the env's /etc/passwd after entering (never
			       NSS); the command gets those ids, the supplementary
			       groups /etc/group gives the name (none with a GID),
			       and HOME, USER, LOGNAME */
	const struct ctr_owner *owner;     /* NULL: the checkout as mounted */
	const struct ctr_sandbox *sandbox; /* ctr_exec only; NULL: none */
	const struct ctr_secret *secrets;  /* ctr_exec only: on /run/secrets in a mount
					      namespace of the command's own, owned by its
					      user; masked in its output and tee */
	size_t n_secrets;
	bool confine_relay; /* ctr_exec: once the command runs, we relay with no
			       capability, no_new_privs and a seccomp allow-list
			       (ssh-proxy: its peer is a network client) */
	int hold_fd;        /* ctr_exec, > 0: a socket on which "h" stops our reading of
			stdin (answered "k" once it has stopped) and "r" resumes it,
			for a question asked on the same terminal (the ssh agent's
			`confirm`); 0: none */
};

/* A mount the env made, as state.json records it: sessions that need an
 * idmapped view of their own clone the host paths again, and re-attach the
 * volumes that their clones would cover. */
struct ctr_mount_rec {
	char *source, *target;
	bool readonly, volume;
	struct dv_strv protect; /* a host mount covering the git dir: read-only paths */
};

/* Who the checkout's files belong to (README: "The user inside, and who
 * owns the checkout's files"). A command whose uid and gid are the host
 * user's runs in the env's own mount namespace, where the checkout and host
 * mounts map the host user to itself; any other gets a mount namespace of
 * its own where clones of them, made from the host side before entering,
 * map the host user (and nothing else) to the command's ids. */
struct ctr_owner {
	const char *workdir;
	const char *checkout; /* host path of the checkout */
	uid_t host_uid;
	gid_t host_gid;
	const struct ctr_mount_rec *mounts; /* the env's volumes and mounts, in order */
	size_t n_mounts;
	const struct dv_strv *git_protect; /* read-only paths of the checkout (may be NULL) */
};

/* Can these host paths (and what is mounted below them) be idmapped
 * (kernel and filesystem)? Tries it. DEVENV_NO_IDMAP=1 in the environment
 * says no (tests, diagnosis). */
bool ctr_idmap_supported(const char *const *paths, size_t n, struct dv_error *err);

/* Where they cannot ("chown" ownership), and without root ("rootless"): the
 * sweep. Below the folder (or file) `fd`, every entry whose ctime is at or
 * after `since` (CLOCK_REALTIME_COARSE, the clock of ctimes) and which is
 * not owned by uid:gid is given to uid:gid (the kernel then drops its file
 * capabilities), loses its setuid and setgid bits when it is a file, and a
 * security.capability attribute on such an entry owned by uid:gid already
 * is removed. Never follows a symlink nor enters another mount than fd's
 * (by mount id: a btrfs subvolume is walked); no depth stops it, and it
 * holds a bounded number of fds. Run it where nothing of the env still
 * writes (halt), or as often as wanted.
 * procfd: an fd of our /proc/self/fd (files are reopened through it, by
 * inode, never by a name the env may swap for a device meanwhile).
 * *changed (may be NULL): how many entries were changed. Fails when a
 * folder could not be read, or with errnum EAGAIN when folders kept moving
 * under the walk (a writer still running); what it reached is swept
 * either way. */
int ctr_sweep(int fd, int procfd, uid_t uid, gid_t gid, const struct timespec *since,
	      unsigned long long *changed, struct dv_error *err);

/* Enter a running env and run x->argv there: pidfd_open the init, check its
 * start time, join its cgroups, setns into all its namespaces, fork a
 * supervisor there, which starts the command in a session of its own.
 * The command's fds 0, 1, 2 are pipes (or the env's pty) relayed to ours,
 * and no other fd reaches it. SIGINT, SIGQUIT, SIGTERM and SIGHUP to us
 * go on to its process group (with a pty: TERM and HUP to the command, ^C
 * is a byte); should we be killed, its whole session is killed; a command
 * that ends leaves what it started in the background running. *status:
 * its exit status, 128+signal, 126 when it cannot be run, 127 when not
 * found. Returns -1 (with errnum ESRCH when the env is not running) when
 * devenv itself failed. */
int ctr_exec(const struct ctr_init *init, const struct dv_strv *cgroups, const struct ctr_exec *x,
	     int *status, struct dv_error *err);

/* Start time (field 22 of /proc/PID/stat) of pid; -1 with errno (ESRCH when
 * it does not exist or is a zombie). */
int ctr_start_time(pid_t pid, unsigned long long *out);
/* pidfd of the env's init, after checking that the pid still belongs to it.
 * -1 with errnum ESRCH ("env is not running") when it is gone or reused. */
int ctr_pidfd_checked(const struct ctr_init *init, struct dv_error *err);

/* SIGTERM to the init (which passes it on), then SIGKILL after timeout_s.
 * Returns when the init is gone. A stopped env is success. */
int ctr_stop(const struct ctr_init *init, unsigned timeout_s, struct dv_error *err);
/* SIGKILL every process (outside our mount namespace) with an overlay whose
 * folders are below dir, and wait until they are gone: the processes of an
 * env whose state.json is damaged. *killed: how many. */
int ctr_kill_mounting(const char *dir, unsigned *killed, struct dv_error *err);
/* The same for several inits at once (an env's services): SIGTERM to all,
 * then SIGKILL to those still there timeout_s after. */
int ctr_stop_all(const struct ctr_init *inits, size_t n, unsigned timeout_s, struct dv_error *err);

/* Run one command in a fresh build container (spec->build) and wait. It
 * runs in a session of its own; its output comes through pipes, copied to
 * our stdout/stderr (through the terminal filter with x->filter).
 * SIGINT/SIGTERM to devenv kill the whole container and return -1 with
 * errnum EINTR. */
int ctr_run(const struct ctr_spec *spec, const struct ctr_exec *x, int *status,
	    struct dv_error *err);

/* Start a service (a sidecar of an env, usually with spec->netns_path set
 * to the env's network namespace): like an env it outlives devenv, but its
 * init runs x->argv (with x->envp, in x->cwd) and ends when that ends. The
 * command's stdout and stderr go through a pipe to a log relay, a small
 * process on the host's side (own session, no terminal, holding only the
 * pipes, spec->log_fd and status_fd) that appends them to spec->log_fd;
 * when the command exits, its status (decimal, 128+signal when signalled)
 * is written to status_fd and a line saying so to the log, both before the
 * service's init exits; the relay exits then. Returns once the init runs;
 * it starts the command at ctr_commit(commit_fd), as ctr_start's init goes
 * on, and exits should we die before (out->start_time 0 when it is gone
 * already). */
int ctr_start_service(const struct ctr_spec *spec, const struct ctr_exec *x, int status_fd,
		      struct ctr_init *out, int *commit_fd, struct dv_error *err);

/* A log relay (as a service's) for output devenv writes itself (the
 * env's on_up): returns the write end of a pipe whose bytes the relay
 * appends to log_fd, capped by cap (NULL: none); *done_fd reads EOF once
 * the relay has written all and exited (after we close the write end).
 * -1 with err filled. */
int ctr_log_relay(int log_fd, const struct ctr_logcap *cap, int *done_fd, struct dv_error *err);

/* A host file or folder to copy in (ctr_copy_in). */
struct ctr_copy_src {
	int fd;                      /* an O_PATH fd of it, opened race-free by the caller
					(provision/hostpath.c): the copy reads only through it */
	const char *name;            /* its name: dest/NAME when dest ends with '/'; messages */
	const struct dv_strv *skips; /* paths below a folder to leave out (sorted, relative
					to it, e.g. "build" or "src/gen.c"), as `copy` of a
					folder does with what git ignores; NULL: none */
	const char *rel;             /* NULL, or the name the digest gives it (the path
					as the Envfile writes it): then ... */
	char digest[65];             /* ... the sha256 of util/treesum.h's records of what
					was written, each file's content as it was read */
};
/* Copy src (recursively; below src->fd no symlink is followed, a symlink
 * is copied as one, and only regular files are opened) to `dest` inside
 * the root that spec's overlay forms, writing only through the overlay (so
 * the result lands in spec->upper). Files are owned by root; modes are
 * kept. */
int ctr_copy_in(const struct ctr_spec *spec, struct ctr_copy_src *src, const char *dest,
		struct dv_error *err);

/* Limits from the Envfile's `resources`; 0 means none. */
struct ctr_limits {
	unsigned long long memory; /* bytes */
	unsigned cpus_milli;       /* thousandths of a CPU (1500: 1.5 CPUs) */
	unsigned long long pids;   /* most processes and threads at once */
};

/* Per-env cgroups: one folder named devenv/<name> in each hierarchy this
 * machine mounts (cgroup v2 unified, and each v1 controller hierarchy),
 * with lim (may be NULL) written. *out lists the absolute folders created.
 * ENOTSUP when a limit asked for has no controller here. remove tolerates
 * missing ones. */
int ctr_cgroup_create(const char *name, const struct ctr_limits *lim, struct dv_strv *out,
		      struct dv_error *err);
/* The same on a mountinfo file of one's choice (the unit tests' fake tree). */
int ctr_cgroup_create_in(const char *mountinfo, const char *name, const struct ctr_limits *lim,
			 struct dv_strv *out, struct dv_error *err);
/* Write lim into existing cgroup folders (v2 or v1 files, whichever exist). */
int ctr_cgroup_set_limits(const struct dv_strv *cgroups, const struct ctr_limits *lim,
			  struct dv_error *err);
/* Freeze (waiting up to timeout_ms until the kernel says FROZEN; on timeout
 * thaws again, ETIMEDOUT) or thaw. ENOTSUP without a freezer. */
int ctr_cgroup_freeze(const struct dv_strv *cgroups, bool freeze, unsigned timeout_ms,
		      struct dv_error *err);
/* How many processes the OOM killer killed in these cgroups (v2
 * memory.events, v1 memory.oom_control); -1 when no folder tells. */
int ctr_cgroup_oom_kills(const struct dv_strv *cgroups, unsigned long long *out);
int ctr_cgroup_remove(const struct dv_strv *paths, struct dv_error *err);
/* The cgroups devenv made in every hierarchy (<mount>/devenv/NAME) whose
 * NAME starts with prefix, appended to out as paths. */
int ctr_cgroup_list(const char *prefix, struct dv_strv *out, struct dv_error *err);
/* SIGKILL every process in these cgroups and wait until they are empty
 * (cgroup.kill on v2; each pid of cgroup.procs on v1). */
int ctr_cgroup_kill(const struct dv_strv *paths, struct dv_error *err);


/* netns.c: slirp4netns (or, with pasta, pasta) on pid's network namespace,
 * set up before this returns (a build step's, and an env's from its
 * helper). *exit_w: the write end of slirp4netns's exit fd (closing it
 * ends it; -1 for pasta, which daemonises); *out: its pid (0 when pasta's
 * pid file said nothing). */
int ctr_outbound_start(const char *tool, bool pasta, pid_t pid, int *exit_w, pid_t *out,
		       struct dv_error *err);

/* confine.c: the sandbox of devenv's own host-side helpers (the network
 * helper, ssh-proxy's relay, the ssh agent filter, the credential relay),
 * entered once each holds what it needs: every capability dropped
 * (bounding and ambient too), securebits locked, optionally other ids,
 * no_new_privs, then a seccomp filter of calls (system call numbers,
 * SCMP_SYS) and rules (one argument compared each). */
struct ctr_confine_rule {
	int call;
	struct scmp_arg_cmp arg; /* SCMP_A0(SCMP_CMP_EQ, AF_INET, 0) ... */
};
struct ctr_confine {
	const char *who; /* "the relay": for messages */
	const int *calls;
	size_t n_calls;
	const struct ctr_confine_rule *rules;
	size_t n_rules;
	bool deny_list; /* calls and rules refused (EPERM), the rest allowed;
				 else an allow-list: they (and mmap, mprotect without
				 PROT_EXEC) allowed, anything else kills the process */
	bool set_ids;   /* become uid and gid, with no supplementary groups */
	uid_t uid;
	gid_t gid;
	bool unprivileged_ok; /* without CAP_SETPCAP (an ordinary user's process, with
				 no capability to lose) go on; else an error */
	bool keep_dumpable;   /* leave PR_SET_DUMPABLE as it is */
};
int ctr_confine(const struct ctr_confine *c, struct dv_error *err);
/* ctr_confine with the deny-list of a host program devenv runs on outside
 * input (git for the credential relay, ssh-keygen for cache_trust): who
 * names it in messages; no_network refuses sockets too. */
int ctr_confine_tool(const char *who, bool no_network, struct dv_error *err);

#endif
