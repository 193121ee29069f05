/*
 * container/user.c - the Envfile's `user` inside the env, `ssh --user`, and
 * the idmapped view of the checkout.
 *
 * The env's /etc/passwd, /etc/group and /etc/shadow are files of the image:
 * they are parsed here, never through NSS (which would load the image's
 * libraries into devenv), and read and written only through the root's fd
 * (openat2 RESOLVE_IN_ROOT), so an image's symlinks cannot point them at
 * the host.
 *
 * Checkout ownership (README "The user inside, and who owns the checkout's
 * files"): every mount of a host path into an env is idmapped with maps of
 * ONE line, disk id of the host user -> one visible id. The env's own mount
 * namespace shows the host user as itself (H -> H); a session running as
 * another uid or gid gets, in a mount namespace of its own, clones made
 * from the host side with H -> its ids. Nothing else is mapped, so no
 * process of the env can create a file owned, or chown one, to any id but
 * the host user's: the kernel says EOVERFLOW. File capabilities written
 * through such a mount are stored as v3 with root id H, which grants
 * nothing outside the host user's own user namespaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

#define ID_MAX 4294967294ULL /* (uid_t)-1 means "no id" */
#define DB_MAX (8u << 20)    /* a passwd file larger than this is not one */

/* A regular file of the root (symlinks followed inside it), read whole;
 * ENOENT leaves *out NULL. FIFOs and devices are refused, never waited on. */
static int read_db(int rootfd, const char *path, char **out, size_t *len, struct stat *st,
		   struct dv_error *err)
{
	dv_autoclose int fd = ctr_openat_in_root(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);

	*out = NULL;
	*len = 0;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, st) < 0)
		return dv_err(err, errno, "cannot open '/%s' in the env", path);
	if (!S_ISREG(st->st_mode) || st->st_size > DB_MAX)
		return dv_err_plain(err, EINVAL,
				    "'/%s' in the env is not a regular file of at most 8 MiB", path);
	if (dv_read_all(fd, out, len, err) < 0)
		return dv_err_prefix(err, "reading '/%s' in the env", path);
	return 0;
}

/* Field i (0-based) of a ':'-separated line: start and length. */
static bool field(const char *line, size_t llen, unsigned i, const char **f, size_t *flen)
{
	const char *p = line, *end = line + llen;

	for (; i; i--) {
		p = memchr(p, ':', (size_t)(end - p));
		if (!p)
			return false;
		p++;
	}
	*f = p;
	p = memchr(p, ':', (size_t)(end - p));
	*flen = (size_t)((p ? p : end) - *f);
	return true;
}

/* A decimal id of at most ID_MAX, the whole of s[0..n). */
static bool parse_id(const char *s, size_t n, unsigned long long *out)
{
	unsigned long long v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > ID_MAX)
		return false;
	*out = v;
	return true;
}

struct db_entry {
	const char *name, *home; /* into the text; not NUL-terminated */
	size_t name_len, home_len;
	unsigned long long id, gid;
};

/* Find the first line whose name is `name` (when non-NULL) or whose id
 * (field 2) is `id`. Lines that do not parse are skipped, as libc does. */
static bool db_find(const char *text, size_t len, const char *name, unsigned long long id,
		    bool passwd, struct db_entry *out)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = (size_t)((nl ? nl : end) - p);
		const char *f;
		size_t flen;
		struct db_entry e = { 0 };

		if (field(p, llen, 0, &e.name, &e.name_len) && e.name_len && e.name[0] != '+' &&
		    e.name[0] != '-' && field(p, llen, 2, &f, &flen) && parse_id(f, flen, &e.id) &&
		    (!passwd || (field(p, llen, 3, &f, &flen) && parse_id(f, flen, &e.gid) &&
				 field(p, llen, 5, &e.home, &e.home_len)))) {
			if (name ? strlen(name) == e.name_len && !memcmp(name, e.name, e.name_len)
				 : e.id == id) {
				*out = e;
				return true;
			}
		}
		p += llen + 1;
	}
	return false;
}

/* Does the comma-separated member list [p, end) name `name`? */
static bool has_member(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;

		if ((size_t)(stop - p) == n && !memcmp(p, name, n))
			return true;
		p = stop + 1;
	}
	return false;
}

/* The gids of every /etc/group line "name:x:gid:members" listing `user`. */
static void supplementary_groups(int root, const char *user, struct ctr_ids *out)
{
	dv_autofree char *text = NULL;
	struct dv_error ignored = { 0 };
	struct stat st;
	size_t len;
	const char *p, *end;

	if (read_db(root, "etc/group", &text, &len, &st, &ignored) < 0 || !text)
		return;
	for (p = text, end = text + len; p < end && out->ngroups < 32;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *f[4] = { p, NULL, NULL, NULL };
		unsigned long long gid;
		int n = 1;

		for (const char *q = p; q < eol && n < 4; q++)
			if (*q == ':')
				f[n++] = q + 1;
		if (n == 4 && parse_id(f[2], (size_t)(f[3] - 1 - f[2]), &gid) &&
		    (gid_t)gid != out->gid && has_member(f[3], eol, user))
			out->groups[out->ngroups++] = (gid_t)gid;
		p = eol + 1;
	}
}

int ctr_user_resolve(const char *spec, struct ctr_ids *out, struct dv_error *err)
{
	dv_autoclose int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (root < 0)
		return dv_err(err, errno, "cannot open the env's root");
	return ctr_user_resolve_in(root, spec, out, err);
}

int ctr_user_resolve_in(int root, const char *spec, struct ctr_ids *out, struct dv_error *err)
{
	dv_autofree char *text = NULL;
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	unsigned long long uid = 0, gid = 0;
	bool numeric = ulen && strspn(spec, "0123456789") >= ulen;
	struct db_entry e = { 0 };
	struct stat st;
	size_t len;
	bool found;

	memset(out, 0, sizeof(*out));
	if (numeric && !parse_id(spec, ulen, &uid))
		return dv_err_plain(err, ERANGE, "user id '%.*s' is out of range (0 to %llu)",
				    (int)ulen, spec, ID_MAX);
	if (colon && !parse_id(colon + 1, strlen(colon + 1), &gid))
		return dv_err_plain(err, ERANGE,
				    "group id '%s' must be a number from 0 to %llu ('--user NAME|UID[:GID]')",
				    colon + 1, ID_MAX);
	if (!ulen || ulen > 32)
		return dv_err_plain(err, EINVAL,
				    "'%s' is not a user name or id ('--user NAME|UID[:GID]')", spec);
	if (read_db(root, "etc/passwd", &text, &len, &st, err) < 0)
		return -1;
	if (numeric) {
		found = text && db_find(text, len, NULL, uid, true, &e);
	} else {
		char name[33];

		snprintf(name, sizeof(name), "%.*s", (int)ulen, spec);
		found = text && db_find(text, len, name, 0, true, &e);
		if (!found)
			return dv_err_plain(err, ENOENT,
					    "no user '%s' in the env (its /etc/passwd has none)",
					    name);
		uid = e.id;
	}
	out->uid = (uid_t)uid;
	out->gid = (gid_t)(colon ? gid : found ? e.gid : uid);
	if (found) {
		snprintf(out->name, sizeof(out->name), "%.*s", (int)e.name_len, e.name);
		snprintf(out->home, sizeof(out->home), "%.*s", (int)e.home_len, e.home);
	}
	if (!out->home[0])
		snprintf(out->home, sizeof(out->home), "/");
	if (found && !colon)
		supplementary_groups(root, out->name, out);
	return 0;
}

/* Replace etc/NAME with text, keeping the old file's owner and mode. */
static int db_write(int etcfd, const char *name, const struct dv_buf *text, const struct stat *old,
		    struct dv_error *err)
{
	char tmp[64];
	dv_autoclose int fd = -1;

	snprintf(tmp, sizeof(tmp), ".%s.devenv-tmp", name);
	unlinkat(etcfd, tmp, 0);
	fd = openat(etcfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return dv_err(err, errno, "cannot create '/etc/%s' in the env", tmp);
	if (dv_write_full(fd, text->s, text->len, err) < 0 ||
	    fchown(fd, old->st_uid, old->st_gid) < 0 || fchmod(fd, old->st_mode & 07777) < 0) {
		if (!dv_err_isset(err))
			dv_err(err, errno, "cannot write '/etc/%s' in the env", name);
		unlinkat(etcfd, tmp, 0);
		return -1;
	}
	if (renameat(etcfd, tmp, etcfd, name) < 0) {
		int e = errno;

		unlinkat(etcfd, tmp, 0);
		return dv_err(err, e, "cannot replace '/etc/%s' in the env", name);
	}
	return 0;
}

/* Append line to the database file etc/NAME (created 0644 when missing). */
static int db_append(int etcfd, const char *name, const char *text, size_t len,
		     const struct stat *st, const char *line, struct dv_error *err)
{
	struct dv_buf b = { 0 };
	struct stat fresh = { .st_mode = 0644 };
	int r;

	if (len)
		dv_buf_addf(&b, "%.*s%s", (int)len, text, text[len - 1] == '\n' ? "" : "\n");
	dv_buf_adds(&b, line);
	r = db_write(etcfd, name, &b, text ? st : &fresh, err);
	dv_buf_release(&b);
	return r;
}

/* Does a line of text start with "name:"? (shadow has no id to check.) */
static bool has_name(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if ((size_t)(end - p) > n && !memcmp(p, name, n) && p[n] == ':')
			return true;
		p = nl ? nl + 1 : end;
	}
	return false;
}

int ctr_user_ensure(int rootfd, const struct ctr_user *u, struct dv_error *err)
{
	dv_autoclose int etc = ctr_mkdir_p_in_root(rootfd, "etc", 0755, err);
	dv_autofree char *pw = NULL;
	dv_autofree char *gr = NULL;
	dv_autofree char *sh = NULL;
	dv_autofree char *home = dv_xasprintf("home/%s", u->name);
	struct stat pst = { 0 }, gst = { 0 }, sst = { 0 };
	struct db_entry e;
	size_t plen, glen, slen;
	char line[512];

	if (etc < 0)
		return -1;
	if (read_db(rootfd, "etc/passwd", &pw, &plen, &pst, err) < 0 ||
	    read_db(rootfd, "etc/group", &gr, &glen, &gst, err) < 0 ||
	    read_db(rootfd, "etc/shadow", &sh, &slen, &sst, err) < 0)
		return -1;
	if (pw && db_find(pw, plen, u->name, 0, true, &e)) {
		/* Reuse it when it is already ours (an earlier start, or the
		 * image's own with the host user's id); never renumber it. */
		if (e.id != u->uid)
			return dv_err_plain(err, EEXIST,
					    "the image already has a user '%s' with uid %llu, not the host user's %u; "
					    "choose another 'user' name in the Envfile",
					    u->name, e.id, (unsigned)u->uid);
	} else {
		snprintf(line, sizeof(line), "%s:x:%u:%u::/%s:%s\n", u->name, (unsigned)u->uid,
			 (unsigned)u->gid, home, u->shell);
		if (db_append(etc, "passwd", pw, plen, &pst, line, err) < 0)
			return -1;
	}
	/* The primary group: the image's with that gid, else one named after
	 * the user (unless that name is taken by another gid). */
	if (!(gr && db_find(gr, glen, NULL, u->gid, false, &e)) &&
	    !(gr && db_find(gr, glen, u->name, 0, false, &e))) {
		snprintf(line, sizeof(line), "%s:x:%u:\n", u->name, (unsigned)u->gid);
		if (db_append(etc, "group", gr, glen, &gst, line, err) < 0)
			return -1;
	}
	if (sh && !has_name(sh, slen, u->name)) {
		/* "*": no password, yet not locked ("!"), which sshd without
		 * PAM (devenv ssh-proxy) takes as "no login at all". */
		snprintf(line, sizeof(line), "%s:*::0:99999:7:::\n", u->name);
		if (db_append(etc, "shadow", sh, slen, &sst, line, err) < 0)
			return -1;
	}
	{
		dv_autoclose int h = ctr_openat_in_root(rootfd, home, O_PATH | O_DIRECTORY, 0);

		if (h < 0) {
			h = ctr_mkdir_p_in_root(rootfd, home, 0755, err);
			if (h < 0)
				return dv_err_prefix(err, "home of user '%s'", u->name);
			if (fchownat(h, "", u->uid, u->gid, AT_EMPTY_PATH) < 0)
				return dv_err(err, errno, "cannot give '/%s' to user '%s'", home,
					      u->name);
		}
	}
	return 0;
}

/* Write one "inside outside 1" line to /proc/PID/NAME. An idmapped mount
 * reads "inside" as the id on disk and "outside" as the id processes see
 * and create files with; a map of one line leaves every other id unmapped,
 * which the kernel shows as nobody and refuses to create or chown to
 * (EOVERFLOW). */
static int write_map(int procfd, pid_t pid, const char *name, unsigned disk, unsigned vis,
		     struct dv_error *err)
{
	char path[64], line[32];
	dv_autoclose int fd = -1;
	int n = snprintf(line, sizeof(line), "%u %u 1\n", disk, vis);

	snprintf(path, sizeof(path), "%d/%s", (int)pid, name);
	fd = openat(procfd, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open /proc/%s", path);
	if (write(fd, line, (size_t)n) != n)
		return dv_err(err, errno, "cannot write /proc/%s", path);
	return 0;
}

/* The user namespace's owner for the moment it takes to set its maps: it
 * shares our memory (CLONE_VM), so creating it copies no page tables, and
 * it only waits to be killed. */
__attribute__((no_sanitize_address)) static int hold_userns(void *arg)
{
	(void)arg;
	for (;;)
		syscall(SYS_pause);
	return 0;
}

int ctr_idmap_userns(int procfd, const struct ctr_idmap *m, struct dv_error *err)
{
	/* Aligned for any ABI; the child only ever calls pause(). */
	static _Thread_local char stack[16384] __attribute__((aligned(64)));
	char ns[64];
	dv_autoclose int nsfd = -1;
	pid_t pid;
	int r = 0;

	pid = clone(hold_userns, stack + sizeof(stack), CLONE_NEWUSER | CLONE_VM | SIGCHLD, NULL);
	if (pid < 0)
		return dv_err(err, errno, "cannot create a user namespace for an idmapped mount");
	snprintf(ns, sizeof(ns), "%d/ns/user", (int)pid);
	if (write_map(procfd, pid, "uid_map", m->uid_disk, m->uid_vis, err) < 0 ||
	    write_map(procfd, pid, "gid_map", m->gid_disk, m->gid_vis, err) < 0)
		r = -1;
	else if ((nsfd = openat(procfd, ns, O_RDONLY | O_CLOEXEC)) < 0)
		r = dv_err(err, errno, "cannot open /proc/%s", ns);
	kill(pid, SIGKILL);
	dv_waitpid(pid, &(int){ 0 }, &(struct dv_error){ 0 });
	return r < 0 ? -1 : dv_steal_fd(&nsfd);
}

int ctr_idmap_mount(int mnt, int userns, unsigned attrs, struct dv_error *err)
{
	/* Private too: a session's clones are made in the host's namespace,
	 * where a clone of a shared mount (systemd's default) joins its peer
	 * group, and a mount made below it in the env would appear on the
	 * host. */
	struct mount_attr attr = { .attr_set = attrs | (userns >= 0 ? MOUNT_ATTR_IDMAP : 0),
				   .propagation = MS_PRIVATE,
				   .userns_fd = (uint64_t)(userns >= 0 ? userns : 0) };

	if (mount_setattr(mnt, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return dv_err(err, errno, "cannot set up the mount%s",
			      userns >= 0 ? "'s idmap" : "");
	return 0;
}

bool ctr_idmap_supported(const char *const *paths, size_t n, struct dv_error *err)
{
	struct ctr_idmap m = { 0, 0, 0, 0 };
	dv_autoclose int procfd = -1;
	dv_autoclose int ns = -1;
	const char *no = getenv("DEVENV_NO_IDMAP");

	if (no && *no && strcmp(no, "0"))
		return dv_err(err, ENOTSUP, "DEVENV_NO_IDMAP is set"), false;
	procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0 || (ns = ctr_idmap_userns(procfd, &m, err)) < 0)
		return procfd < 0 ? (dv_err(err, errno, "cannot open /proc"), false) : false;
	for (size_t i = 0; i < n; i++) {
		dv_autoclose int mnt = open_tree(AT_FDCWD, paths[i],
						 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);

		if (mnt < 0)
			return dv_err(err, errno, "cannot clone the mount of '%s'", paths[i]), false;
		if (ctr_idmap_mount(mnt, ns, 0, err) < 0)
			return dv_err_prefix(err, "'%s'", paths[i]), false;
	}
	return true;
}
