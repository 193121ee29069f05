/*
 * container/internal.h - helpers shared by the files of container/ only.
 *
 * ns.c        ctr_start, ctr_run, ctr_start_service: clone into new namespaces, become the init
 * child.c     a forked child's error pipe to its parent, and its fds laid out for exec
 * overlay.c   the root on `merged`: the skeleton, then the overlay (or keep-id's FUSE)
 * at.c        paths inside a root from its fd (openat2 RESOLVE_IN_ROOT); new detached mounts
 * mount.c     on the root: /proc /sys /dev /etc, the checkout, the masks, then pivot_root
 * binds.c     the Envfile's volumes and host mounts (ctr_spec.mounts), ctr_bind_tree
 * gitdir.c    the checkout's git dir, read-only inside
 * user.c      the env's users (passwd, group); idmapped mounts of host paths
 * keepid.c    rootless keep-id: the env's root served by fuse-overlayfs from devenv's side
 * copy.c      ctr_copy_in: a host file or folder into a build's upper
 * exec.c      ctr_exec: setns into a running env, the command's supervisor
 * session.c   a session's own idmapped view of the checkout (ctr_exec as other ids)
 * relay.c     copying between the host's fds and a container's pipes or pty
 * secrets.c   secrets as files on a read-only tmpfs at /run/secrets
 * relay_confine.c  that relay with no capability, under seccomp (ssh-proxy's calls)
 * confine.c   ctr_confine: the sandbox of devenv's host-side helpers (their calls are theirs)
 * noaudit.c   a sandbox whose audit socket is "not in the kernel" (the env's sshd)
 * sandbox.c   no_new_privs, capabilities, seccomp: the last steps before exec
 * seccomp.c   Docker-format seccomp profiles compiled to BPF (seccomp_blob.S embeds the default)
 * stop.c      ctr_stop, ctr_probe: pidfds checked against the init's start time
 * cgroup.c    the env's cgroup folders, joined before the child runs
 * cgroup_limits.c  `resources` limits, the freezer, OOM-kill counts (v2 and v1)
 * cgroup_kill.c    emptying an env's cgroups left by a killed devenv
 * chown.c     the sweep: host paths given back to the host user where nothing is idmapped
 * init.c      the env's PID 1 (a separate static program, see init_blob.S)
 * netns.c     a new network namespace's `lo`; slirp4netns or pasta on one
 */
#ifndef CTR_INTERNAL_H
#define CTR_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "container/container.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/term.h"

#define CTR_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ctr_exited for a pidfd opened already: has it exited within ms? */
bool ctr_pidfd_exited(int pidfd, int ms);

/* Is any of these cgroups frozen (v1 freezer.state, v2 cgroup.freeze)? */
bool ctr_cgroup_frozen(const struct dv_strv *cgroups);
/* Write pid (0: ourselves) into each cgroup's cgroup.procs. */
int ctr_cgroup_join(const struct dv_strv *cgroups, pid_t pid, struct dv_error *err);

/* at.c. openat2(rootfd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): every
 * symlink stays inside the root. O_CLOEXEC is added. -1 with errno. */
int ctr_openat_in_root(int rootfd, const char *path, int flags, mode_t mode);
/* mkdir -p of path inside the root (0755 root-owned folders); returns an
 * O_PATH fd of the folder. */
int ctr_mkdir_p_in_root(int rootfd, const char *path, mode_t mode, struct dv_error *err);
/* A new detached mount (fsopen ... fsmount) of fs `type`, with opts (key,
 * value pairs, NULL-terminated; a NULL value is a flag) and attrs
 * (MOUNT_ATTR_*). */
int ctr_new_fs(const char *type, const char *const *opts, unsigned attrs, struct dv_error *err);
/* Fill err (errno e, the message fmt) with the kernel's reason from the fs
 * context fsfd's log appended; -1. */
int ctr_fs_fail(int fsfd, int e, struct dv_error *err, const char *fmt, ...) DV_FMT(4, 5);

/* overlay.c. In a child that has its own (private) mount namespace: mount
 * spec's overlay on "merged" next to spec->upper; returns an O_PATH fd of
 * its root.
 * with_skeleton: also put a small tmpfs under the layers holding the mount
 * targets (proc, sys, dev, etc/hosts...), so none is ever created in upper;
 * *skel_out gets that tmpfs's mount fd. */
int ctr_mount_overlay(const struct ctr_spec *spec, bool with_skeleton, int *skel_out,
		      struct dv_error *err);
/* overlay.c (keep-id, keepid.c): the env's root as a FUSE mount of the user
 * namespace we are in, made with fuse (ctr_keepid_enter's /dev/fuse),
 * which goes to devenv over sock; attached at the upper's `merged` like
 * ctr_mount_overlay's, *skel_out the skeleton for /etc's files. */
int ctr_mount_keepid(const struct ctr_spec *spec, int fuse, int sock, int *skel_out,
		     struct dv_error *err);
/* keepid.c. The parent's side: the keepid skeleton folder beside the upper (before
 * the clone), the child's maps (before releasing it), and, once the child
 * has mounted, fuse-overlayfs serving its /dev/fuse from our namespace:
 * 1 when it runs, 0 when the child sent nothing (its error pipe says
 * why), -1 on error. */
int ctr_keepid_skel(const struct ctr_spec *spec, struct dv_error *err);
int ctr_keepid_maps(pid_t pid, const struct ctr_keepid *k, struct dv_error *err);
int ctr_keepid_serve(const struct ctr_spec *spec, int sock, struct dv_error *err);
/* The child's side: /dev/fuse opened as the host user, then root of the
 * env's namespace (but for the real uid, k->uid); the fd, or -1. ctr_keepid_send hands it to devenv. */
int ctr_keepid_enter(const struct ctr_keepid *k, struct dv_error *err);
int ctr_keepid_send(int sock, int fuse, struct dv_error *err);
/* mount.c. Everything after the overlay: /proc, /sys, /dev, /etc files, the
 * checkout, then pivot_root into the root and detach the host's. */
int ctr_setup_root(const struct ctr_spec *spec, int rootfd, int skelfd, struct dv_error *err);

/* binds.c: spec->mounts bound into the root (after the checkout), each
 * target created when missing and resolved inside the root. */
int ctr_setup_binds(const struct ctr_spec *spec, int rootfd, int idmap_ns, struct dv_error *err);

/* The ids a command runs as (user.c). */
struct ctr_ids {
	uid_t uid;
	gid_t gid;
	char name[33];    /* "" when the uid has no passwd entry */
	char home[256];   /* "/" when none */
	gid_t groups[32]; /* supplementary: the /etc/group entries naming it */
	size_t ngroups;
};
/* After setns: resolve NAME|UID[:GID] through the env's /etc/passwd, and,
 * as Docker does, the user's supplementary groups through /etc/group
 * (none when a GID is given). */
int ctr_user_resolve(const char *spec, struct ctr_ids *out, struct dv_error *err);
/* Before pivot_root: make u exist in the root. */
int ctr_user_ensure(int rootfd, const struct ctr_user *u, struct dv_error *err);
/* The same through the root at `root` (an fd of /proc/PID/root of the
 * env's init), before entering the env. */
int ctr_user_resolve_in(int root, const char *spec, struct ctr_ids *out, struct dv_error *err);

/* An fd of a new user namespace mapping only uid_disk -> uid_vis and
 * gid_disk -> gid_vis (see struct ctr_idmap), for MOUNT_ATTR_IDMAP.
 * procfd: an fd of a /proc showing our children. */
int ctr_idmap_userns(int procfd, const struct ctr_idmap *m, struct dv_error *err);
/* mount_setattr on the detached mount mnt and everything below it: attrs
 * (MOUNT_ATTR_*), private propagation, and, with userns >= 0, that
 * namespace's idmap. */
int ctr_idmap_mount(int mnt, int userns, unsigned attrs, struct dv_error *err);

/* gitdir.c: the checkout's git dir read-only (README "Security"). On the
 * attached mount mnt (a clone of the checkout or of a host mount covering
 * it), bind each of paths (relative to mnt's root, e.g. ".git" or
 * "lib/sub/.git") read-only onto itself, after binding each folder on the
 * way (lib, lib/sub) onto itself too: a mount point cannot be renamed,
 * removed or replaced, so the env can neither write the git dir nor move
 * it aside and make another. A path that does not exist is skipped; one
 * reached through a symlink is an error (ELOOP). */
int ctr_git_protect(int mnt, const char *const *paths, size_t n, struct dv_error *err);

/* session.c: a session's idmapped view (see the file's header). */
struct ctr_session {
	const struct ctr_owner *o;
	bool active;  /* the session needs a view of its own */
	int checkout; /* detached idmapped clone of the checkout, or -1 */
	int *mnts;    /* one per o->mounts: a host mount's clone, or -1 */
};
/* Before entering the env: for a session running as uid:gid, the clones
 * (none when those are the host user's). Release with ctr_session_release. */
int ctr_session_prepare(const struct ctr_owner *o, uid_t uid, gid_t gid, struct ctr_session *out,
			struct dv_error *err);
/* In the child, inside the env, before the sandbox: a mount namespace of its
 * own with the clones attached. 0, or an errno. */
int ctr_session_attach(struct ctr_session *s);
void ctr_session_release(struct ctr_session *s);

/* relay.c. The lifeline: a pipe from ctr_exec to the command's supervisor,
 * which kills the command's session when it reads EOF (devenv is gone)
 * and otherwise reads signals to pass on, one byte each: the signal's
 * number for the command's process group, or with CTR_LIFE_PID for the
 * command alone. */
#define CTR_LIFE_PID 0x80
struct ctr_relay {
	int sfd;          /* signalfd: SIGCHLD SIGWINCH SIGINT SIGQUIT SIGTERM SIGHUP */
	pid_t pid;        /* the supervisor, our child */
	int life;         /* the lifeline's write end */
	int master;       /* with a pty: its master (output and input); else -1 */
	int in, out, err; /* without: the command's stdin (write end, O_NONBLOCK),
			     stdout and stderr (read ends); -1 once closed */
	int tee;          /* >= 0: a copy of the output goes there (the env's log) */
	bool quiet;       /* the output goes to tee alone */
	bool filter;      /* our fds get stdout and stderr through filt[0], filt[1] */
	struct dv_term_filter filt[2];
	struct dv_mask *mask; /* NULL, or stdout's and stderr's: secrets masked first */
	bool stdin_open;      /* our fd 0 is still to be read */
	char buf[16384];      /* read from fd 0, not yet taken by the command */
	int hold;             /* ctr_exec's hold_fd, or -1 */
	bool held;            /* "h" came on it: fd 0 is not read until "r" */
	size_t off, len;
};
/* Relay until the supervisor has exited and the output is drained; closes
 * r->in, r->out, r->err as they end. Returns the supervisor's wait status,
 * or -1 with err filled. */
int ctr_relay_run(struct ctr_relay *r, struct dv_error *err);
/* One read from `from` to `to` (-1: nowhere), through `filt` (NULL: raw;
 * util/term.h) and raw to `tee` (-1: none). false at EOF, on a read error
 * (a pty's EIO) or when `to` is gone (EPIPE): the caller stops reading
 * `from`. */
bool ctr_relay_chunk(int from, int to, int tee, struct dv_term_filter *filt, struct dv_mask *mask);
/* With a mask (util/secret.h: secrets replaced before `to` or `tee` get
 * anything): the stream has ended, what the mask held goes on. Before
 * ctr_relay_end(). */
void ctr_relay_mask_end(int to, int tee, struct dv_term_filter *filt, struct dv_mask *mask);
/* The stream through `filt` has ended: what it still holds, to `to`. */
void ctr_relay_end(int to, struct dv_term_filter *filt);
/* Our terminal's size (fd 0) to the pty. */
void ctr_relay_winsize(int master);

/* secrets.c: the secrets on a read-only tmpfs at /run/secrets of the root
 * at rootfd (a build step's, from mount.c); or, in a supervisor inside an
 * env (exec.c), in a mount namespace of the command's own. */
int ctr_secrets_mount(int rootfd, const struct ctr_secret *v, size_t n, struct dv_error *err);
int ctr_secrets_enter(const struct ctr_secret *v, size_t n, struct dv_error *err);

/* child.c. A forked child with no caller: send err through the error pipe, _exit(1). */
_Noreturn void ctr_child_fail(int errpipe, const struct dv_error *err);
/* Parent side: read the pipe until EOF. 1 with *err filled when the child
 * sent an error, 0 at plain EOF (the child exec'd), -1 on read error. */
int ctr_child_result(int errpipe, struct dv_error *err);
/* In a forked child: fds[i] becomes fd i (-1: i is closed), close-on-exec
 * from index keep on, and every fd from n up is closed. n <= 8. -1 with
 * errno. */
int ctr_fds_place(const int *fds, int n, int keep);
/* Every fd from `from` up closed, or (cloexec) made close-on-exec:
 * close_range, else one fd at a time. -1 with errno. */
int ctr_fds_close_from(unsigned from, bool cloexec);

/* sandbox.c: no_new_privs, caps, seccomp (in that order); NULL: nothing. */
int ctr_sandbox_apply(const struct ctr_sandbox *sb, struct dv_error *err);

/* seccomp.c, split so the unit tests can check the profile's evaluation. */
#include <seccomp.h>
struct ctr_sc_rule {
	const char *name; /* borrowed from the profile's JSON */
	uint32_t action;  /* SCMP_ACT_* */
	unsigned n_args;
	struct scmp_arg_cmp args[6];
};
struct ctr_sc_profile {
	struct json_object *json;
	uint32_t default_action;
	uint32_t arches[8]; /* native first, then archMap's sub-arches */
	size_t n_arches;
	struct ctr_sc_rule *rules; /* the entries that apply, one name each */
	size_t n_rules;
	struct dv_strv all_names; /* every name listed, applying or not */
};
/* Evaluate includes/excludes for caps, the Go arch name ("amd64"), the
 * kernel (major * 1000 + minor) and the native libseccomp arch token. */
int ctr_seccomp_eval(const char *text, size_t len, unsigned long long caps, const char *goarch,
		     unsigned kver, uint32_t native, struct ctr_sc_profile *out,
		     struct dv_error *err);
int ctr_seccomp_compile(const struct ctr_sc_profile *p, void **out, size_t *out_len,
			struct dv_error *err);
void ctr_sc_profile_release(struct ctr_sc_profile *p);

/* A capability's number from its name ("CAP_NET_ADMIN", "net_admin");
 * -1 with EINVAL for a name libcap does not know. */
int ctr_cap_bit(const char *name, struct dv_error *err);

/* netns.c: in a new network namespace, bring `lo` up (no `ip` binary)
 * and let every group the env has ping (net.ipv4.ping_group_range). */
int ctr_netns_setup(struct dv_error *err);

/* copy.c: all of in to out (name for messages). */
int ctr_copy_data(int in, int out, const char *name, struct dv_error *err);

/* relay_confine.c: drop every capability, no_new_privs, and the relay's
 * seccomp allow-list (ctr_exec.confine_relay). */
int ctr_relay_confine(struct dv_error *err);

#endif
