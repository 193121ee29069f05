/*
 * util/fs.h - syscall wrappers that loop on EINTR and short I/O and report
 * through struct dv_error; atomic writes; safe tree removal; locks.
 *
 * Every fd handed out is O_CLOEXEC and belongs to the caller.
 */
#ifndef DV_FS_H
#define DV_FS_H

#include <stdbool.h>
#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

/* Read everything from fd into a NUL-terminated malloc'd *out (caller frees). */
int dv_read_all(int fd, char **out, size_t *len, struct dv_error *err);
/* Open dirfd/path (no symlink following in the last component) and read it all.
 * errnum ENOENT when it does not exist. */
int dv_read_file_at(int dirfd, const char *path, char **out, size_t *len, struct dv_error *err);
int dv_write_full(int fd, const void *data, size_t len, struct dv_error *err);
/* Write dirfd/name atomically: temporary name in the same folder, fsync,
 * rename, fsync of the folder. Readers see the old or the new file. */
int dv_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 struct dv_error *err);
int dv_renameat(int olddirfd, const char *oldname, int newdirfd, const char *newname,
		struct dv_error *err);
/* mkdir -p of an absolute or relative path; existing folders are fine. */
int dv_mkdir_p(const char *path, mode_t mode, struct dv_error *err);
/* mkdirat that accepts EEXIST when the thing there is a folder (not a link). */
int dv_mkdirat_ok(int dirfd, const char *name, mode_t mode, struct dv_error *err);
/* A DIR stream over a duplicate of the open folder fd, rewound (a dup
 * shares the offset an earlier listing left at the end); fd stays ours.
 * NULL with errno set on failure. Close with closedir(). */
DIR *dv_opendir_fd(int fd);
/* openat2() with these RESOLVE_* flags, O_CLOEXEC added, retried while the
 * kernel says EAGAIN (a rename raced the lookup). -1 with errno. */
int dv_openat2(int dirfd, const char *path, int flags, mode_t mode, unsigned long long resolve);
/* openat2(dirfd, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), retried on
 * EAGAIN: path is resolved at this moment, and no component (symlinks that
 * stay inside included) may leave the tree at dirfd: a folder swapped for a
 * symlink to '/' meanwhile gives EXDEV, never a file outside. A symlink
 * that stays inside is followed: a host path an Envfile names is opened
 * with dv_open_resolved() instead. O_CLOEXEC is added. -1 with errno. */
int dv_openat_beneath(int dirfd, const char *path, int flags, mode_t mode);
/* The same from "/" for an absolute path with RESOLVE_NO_SYMLINKS: the path
 * must still be what it was when it was resolved (ELOOP when a symlink is
 * found on the way). */
int dv_open_nosymlinks(const char *abs_path, int flags, mode_t mode);
/* Reopen an O_PATH fd for reading when, and only when, it is a regular
 * file (through /proc/self/fd: the very inode, looked up by nothing else).
 * A fifo, socket or device node someone planted in a checkout is never
 * opened, so it can neither block us nor hand us a device's content.
 * *st (may be NULL) gets its stat. -1 with errno (EINVAL: not a regular
 * file). */
int dv_reopen_regular(int pathfd, struct stat *st);
/* The same for dirfd/name, never following a symlink there (ELOOP). */
int dv_open_regular_at(int dirfd, const char *name, struct stat *st);
/* The part of path below dir ("" for dir itself), or NULL when path is
 * not inside it; both absolute and normalised (real paths). */
const char *dv_path_below(const char *path, const char *dir);
/* Open real, a real path resolved earlier, as it is now, race-free: when it
 * lies below root (a real path too; may be NULL), from root's fd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
 * else with dv_open_nosymlinks(). Either way ELOOP when a symlink appeared
 * on it since (one inside root too: what is opened is then exactly the
 * path that was checked). How a host path an Envfile names is opened at
 * use, and a host mount's source at each session and sweep. -1 with errno. */
int dv_open_resolved(const char *root, const char *real, int flags);
/* Open a folder below dirfd without following symlinks in any component. */
int dv_open_dir_at(int dirfd, const char *path, struct dv_error *err);

/* Remove dirfd/name and everything below it. Never follows a symlink, never
 * crosses into another mount: when anything is mounted below it, it fails
 * with EBUSY naming the mount point before removing anything. A missing
 * name is success. */
int dv_rm_tree_at(int dirfd, const char *name, struct dv_error *err);
/* Undo /proc/self/mountinfo's \ooo escapes (blanks, backslash) in place. */
void dv_mountinfo_unescape(char *s);
/* Is anything mounted at path or below it (our mount namespace)? 1 with the
 * first such mount point in out, 0 when none, -1 when unknown. */
int dv_mount_under(const char *path, char *out, size_t outlen);
/* Total bytes (st_blocks*512) below dirfd/name, not following links. */
unsigned long long dv_du_at(int dirfd, const char *name);

/* One message of len bytes over a unix socket, with fd (>= 0) passed as
 * SCM_RIGHTS; loops on EINTR, never raises SIGPIPE. -1 with errno. */
int dv_send_fd(int sock, const void *data, size_t len, int fd);
/* The other end: up to len bytes into data, and the fd passed with them
 * in *fd (O_CLOEXEC; -1 when none came). Returns the bytes read, -1 with
 * errno. */
ssize_t dv_recv_fd(int sock, void *data, size_t len, int *fd);

/* waitpid that loops on EINTR; *status is the raw wait status. */
int dv_waitpid(pid_t pid, int *status, struct dv_error *err);
/* fork+exec argv (PATH lookup), wait; *exit_code is its exit status, or
 * 128+signal. Output goes to our stdout/stderr unless quiet. */
int dv_run(char *const argv[], bool quiet, int *exit_code, struct dv_error *err);

/* flock dirfd/name (created 0600), shared or exclusive. When another process
 * holds it, say on stderr what we wait for and a live process that holds
 * the file open (its pid and command line, found in /proc/PID/fd), then
 * wait. A lock file unlinked meanwhile (a destroyed env's) is not the lock
 * any more: we open the name again. Returns the fd. */
int dv_lock_at(int dirfd, const char *name, bool exclusive, const char *what, struct dv_error *err);

/* Monotonic clock in nanoseconds. */
unsigned long long dv_now_ns(void);

#endif
