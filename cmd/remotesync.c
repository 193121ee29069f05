/*
 * cmd/remotesync.c - the checkout sent to a remote host: the files git
 * lists (tracked, and untracked but not ignored: git ls-files -co
 * --exclude-standard; every file but .git's without git), compared with the
 * manifest of the last sync (mode, size, mtime per path, in the local
 * store's remote/<id>.manifest), and only what changed sent, with the paths
 * gone here, over the one ssh connection to `devenv __sync-recv` there.
 *
 * The stream: records "F MODE SIZE\0PATH\0" + SIZE bytes, "L\0PATH\0TARGET\0",
 * "D\0PATH\0", and "E\0" last. The receiver trusts no folder of the remote
 * checkout: the env may have put a symlink where a folder was, so every
 * path is walked a component at a time with O_NOFOLLOW, a symlink or file
 * in the way is removed, and each file lands by rename in its folder.
 * The manifest is valid while the remote's checkouts/<id>.sync holds the
 * token it names (a remote that lost its copy gets every file again): up
 * reads it in the probe; `devenv ssh` sends nothing when nothing changed,
 * else asks the receiver to check it (exit 3: all of it sent again).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/banned.h"

struct ment {
	char *path;
	char key[80]; /* "MODE SIZE MTIME" */
	mode_t mode;
	long long size;
};
struct mlist {
	struct ment *v;
	size_t n, cap;
};

static void mlist_add(struct mlist *m, char *path)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->v = dv_xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	memset(&m->v[m->n], 0, sizeof(m->v[0]));
	m->v[m->n++].path = path;
}

static void mlist_release(struct mlist *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static int ment_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ment *)a)->path, ((const struct ment *)b)->path);
}

/* Without git: every file below dir but .git's. */
static void walk(int dirfd, const char *prefix, struct mlist *m, int depth)
{
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;
	int fd;

	if (depth > 64)
		return;
	fd = openat(dirfd, prefix[0] ? prefix : ".",
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		char *p;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (!prefix[0] && !strcmp(de->d_name, ".git")))
			continue;
		p = prefix[0] ? dv_xasprintf("%s/%s", prefix, de->d_name) : dv_xstrdup(de->d_name);
		if (de->d_type == DT_DIR) {
			walk(dirfd, p, m, depth + 1);
			free(p);
		} else {
			mlist_add(m, p);
		}
	}
}

/* The files to send, with their keys; sorted by path. */
static int list_files(int cfd, const char *checkout, struct mlist *m, struct dv_error *err)
{
	char *argv[] = { "git", "-C", (char *)checkout, "ls-files", "-co", "--exclude-standard",
			 "-z",  NULL };
	struct dv_buf out = { 0 };
	int pipefd[2], status = 1;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	pid = cmd_rhost_spawn(argv, -1, pipefd[1], true, err);
	close(pipefd[1]);
	if (pid > 0) {
		char buf[8192];
		ssize_t n;

		while ((n = read(pipefd[0], buf, sizeof(buf))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			dv_buf_add(&out, buf, (size_t)n);
		}
	}
	close(pipefd[0]);
	if (pid < 0 || cmd_rhost_wait(pid, &status, err) < 0) {
		dv_buf_release(&out);
		return -1;
	}
	if (status == 0) {
		for (size_t i = 0; i < out.len;) {
			size_t len = strlen(out.s + i);

			if (len)
				mlist_add(m, dv_xstrndup(out.s + i, len));
			i += len + 1;
		}
	} else {
		walk(cfd, "", m, 0);
	}
	dv_buf_release(&out);
	/* Each path's kind and key; a listed path gone (deleted, not yet
	 * staged) or a folder (a submodule) is not sent. */
	size_t k = 0;

	for (size_t i = 0; i < m->n; i++) {
		struct stat st;
		struct ment *e = &m->v[i];

		if (fstatat(cfd, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) || strstr(e->path, "/../") ||
		    !strncmp(e->path, "../", 3) || e->path[0] == '/') {
			free(e->path);
			continue;
		}
		e->mode = st.st_mode;
		e->size = (long long)st.st_size;
		snprintf(e->key, sizeof(e->key), "%o %lld %lld.%09ld", (unsigned)st.st_mode,
			 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		m->v[k++] = *e;
	}
	m->n = k;
	qsort(m->v, m->n, sizeof(*m->v), ment_cmp);
	return 0;
}

/* The manifest: "T TOKEN\0" then "KEY\tPATH\0" each. */
static char *read_manifest(int root_fd, const char *id, struct mlist *m)
{
	dv_autofree char *text = NULL, *name = dv_xasprintf("remote/%s.manifest", id);
	size_t len;
	char *token = NULL;

	if (dv_read_file_at(root_fd, name, &text, &len, &(struct dv_error){ 0 }) < 0)
		return NULL;
	for (size_t i = 0; i < len;) {
		const char *r = text + i, *tab;
		size_t rl = strnlen(r, len - i);

		if (i + rl >= len)
			break;
		if (!strncmp(r, "T ", 2) && !token) {
			token = dv_xstrdup(r + 2);
		} else if ((tab = memchr(r, '\t', rl)) && (size_t)(tab - r) < sizeof(m->v[0].key)) {
			mlist_add(m, dv_xstrdup(tab + 1));
			snprintf(m->v[m->n - 1].key, sizeof(m->v[0].key), "%.*s", (int)(tab - r), r);
		}
		i += rl + 1;
	}
	qsort(m->v, m->n, sizeof(*m->v), ment_cmp);
	return token;
}

static int put(int fd, const void *p, size_t n, struct dv_error *err)
{
	return dv_write_full(fd, p, n, err);
}

static int send_file(int out, int cfd, const struct ment *e, struct dv_error *err)
{
	char hdr[64];
	int n;

	if (S_ISLNK(e->mode)) {
		char target[4096];
		ssize_t tl = readlinkat(cfd, e->path, target, sizeof(target) - 1);

		if (tl < 0)
			return 0; /* gone since: the next sync says so */
		target[tl] = 0;
		if (put(out, "L", 2, err) < 0 || put(out, e->path, strlen(e->path) + 1, err) < 0 ||
		    put(out, target, (size_t)tl + 1, err) < 0)
			return -1;
		return 0;
	}
	dv_autoclose int fd = openat(cfd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	long long left;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	left = (long long)st.st_size;
	n = snprintf(hdr, sizeof(hdr), "F %o %lld", (unsigned)(st.st_mode & 0777), left);
	if (put(out, hdr, (size_t)n + 1, err) < 0 || put(out, e->path, strlen(e->path) + 1, err) < 0)
		return -1;
	while (left > 0) {
		char buf[65536];
		ssize_t r =
			read(fd, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) { /* shrank since: zeros, the next sync sends it again */
			memset(buf, 0, sizeof(buf));
			r = left < (long long)sizeof(buf) ? (ssize_t)left : (ssize_t)sizeof(buf);
		}
		if (put(out, buf, (size_t)r, err) < 0)
			return -1;
		left -= r;
	}
	return 0;
}

static void write_manifest(int root_fd, const char *id, const char *token, const struct mlist *m)
{
	struct dv_buf b = { 0 };
	dv_autofree char *name = dv_xasprintf("remote/%s.manifest", id);

	dv_buf_addf(&b, "T %s", token);
	dv_buf_add(&b, "", 1);
	for (size_t i = 0; i < m->n; i++) {
		dv_buf_addf(&b, "%s\t%s", m->v[i].key, m->v[i].path);
		dv_buf_add(&b, "", 1);
	}
	dv_write_file_atomic(root_fd, name, b.s, b.len, 0600, &(struct dv_error){ 0 });
	dv_buf_release(&b);
}

static void new_token(char hex[17])
{
	unsigned char rnd[8] = { 0 };

	/* getrandom of 8 bytes does not fail once the pool is ready. */
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		for (int i = 0; i < 8; i++)
			rnd[i] = (unsigned char)(rand() ^ getpid() ^ i);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
}

/* One stream to `devenv __sync-recv DIR TOKEN TOKENFILE [EXPECT]` there:
 * what changed from old to now. Returns ssh's status (3: the remote's
 * token is not EXPECT, nothing read), or -1. */
static int send_stream(struct cmd_rhost *h, int cfd, const char *id, const char *dir,
		       const char *token, const char *expect, const struct mlist *now,
		       const struct mlist *old, size_t *sent, size_t *gone, struct dv_error *err)
{
	struct dv_buf c = { 0 };
	struct dv_strv argv = { 0 };
	dv_autofree char *tf = dv_xasprintf("%s/.local/share/devenv/checkouts/%s.sync", h->home, id);
	int pipefd[2] = { -1, -1 }, status = -1, r = 0;
	size_t i = 0, j = 0;
	pid_t pid;
	void (*oldpipe)(int);

	dv_buf_add_shquoted(&c, h->devenv);
	dv_buf_adds(&c, " __sync-recv ");
	dv_buf_add_shquoted(&c, dir);
	dv_buf_adds(&c, " ");
	dv_buf_add_shquoted(&c, token);
	dv_buf_adds(&c, " ");
	dv_buf_add_shquoted(&c, tf);
	if (expect) {
		dv_buf_adds(&c, " ");
		dv_buf_add_shquoted(&c, expect);
	}
	cmd_rhost_argv(h, false, c.s, &argv);
	dv_buf_release(&c);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		dv_strv_release(&argv);
		return dv_err(err, errno, "pipe");
	}
	pid = cmd_rhost_spawn(argv.v, pipefd[0], -1, false, err);
	close(pipefd[0]);
	dv_strv_release(&argv);
	if (pid < 0) {
		close(pipefd[1]);
		return -1;
	}
	oldpipe = signal(SIGPIPE, SIG_IGN);
	*sent = *gone = 0;
	/* A merge of the two sorted lists. */
	while (r == 0 && (i < now->n || j < old->n)) {
		int cmp = i >= now->n   ? 1
			  : j >= old->n ? -1
					: strcmp(now->v[i].path, old->v[j].path);

		if (cmp > 0) {
			r = put(pipefd[1], "D", 2, err);
			if (r == 0)
				r = put(pipefd[1], old->v[j].path, strlen(old->v[j].path) + 1, err);
			(*gone)++;
			j++;
			continue;
		}
		if (cmp < 0 || strcmp(now->v[i].key, old->v[j].key)) {
			r = send_file(pipefd[1], cfd, &now->v[i], err);
			(*sent)++;
		}
		i++;
		if (cmp == 0)
			j++;
	}
	if (r == 0)
		r = put(pipefd[1], "E", 2, err);
	close(pipefd[1]);
	signal(SIGPIPE, oldpipe);
	if (cmd_rhost_wait(pid, &status, err) < 0)
		return -1;
	if (status == 255)
		return cmd_rhost_unreachable(h, err);
	if (status == 3 && expect)
		return 3;
	/* A devenv there from before EXPECT: a usage error. */
	if (status == 2 && expect)
		return dv_err_plain(err, 0,
				    "cannot send the checkout's changes to %s: the devenv there is "
				    "older than this one; 'devenv up --host %s' updates it",
				    h->url, h->url);
	if (status != 0 || r < 0)
		return dv_err_plain(err, 0,
				    "cannot send the checkout to %s:%s (exit status %d there); "
				    "the next command sends it again",
				    h->url, dir, status);
	return 0;
}

static bool same_lists(const struct mlist *a, const struct mlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].path, b->v[i].path) || strcmp(a->v[i].key, b->v[i].key))
			return false;
	return true;
}

/* up (check: false): the probe read the remote's token (h->sync_token);
 * a manifest of another token is of a copy that is gone. ssh (check:
 * true): no probe; nothing changed, nothing is done (no connection); else
 * the receiver checks the token and refuses (3) when it is not the
 * manifest's, and everything is sent again under a new one. */
static int sync_checkout(struct cmd_rhost *h, int root_fd, const char *id, const char *checkout,
			 const char *dir, bool check, struct dv_error *err)
{
	struct mlist now = { 0 }, old = { 0 };
	dv_autofree char *old_token = NULL;
	dv_autoclose int cfd = open(checkout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char token[17];
	size_t sent = 0, gone = 0;
	int ret = -1, st;

	if (cfd < 0)
		return dv_err(err, errno, "cannot open the checkout '%s'", checkout);
	if (list_files(cfd, checkout, &now, err) < 0)
		goto out;
	old_token = read_manifest(root_fd, id, &old);
	if (check && old_token && same_lists(&now, &old)) {
		ret = 0;
		goto out;
	}
	if (!old_token || (!check && (!h->sync_token || strcmp(old_token, h->sync_token)))) {
		mlist_release(&old);
		old_token = (free(old_token), NULL);
		new_token(token);
	} else {
		snprintf(token, sizeof(token), "%s", old_token);
	}
	if (check && !h->ctl_dir && cmd_rhost_connect(h, err) < 0)
		goto out;
	st = send_stream(h, cfd, id, dir, token, check ? old_token : NULL, &now, &old, &sent, &gone,
			 err);
	if (st == 3) { /* the remote's copy is not the manifest's: all of it */
		mlist_release(&old);
		new_token(token);
		st = send_stream(h, cfd, id, dir, token, NULL, &now, &old, &sent, &gone, err);
	}
	if (st < 0)
		goto out;
	write_manifest(root_fd, id, token, &now);
	if (!h->quiet && (sent || gone))
		fprintf(stderr, "devenv: sent %zu file%s to %s, removed %zu there\n", sent,
			sent == 1 ? "" : "s", h->url, gone);
	ret = 0;
out:
	mlist_release(&now);
	mlist_release(&old);
	return ret;
}

int cmd_remote_sync(struct cmd_rhost *h, int root_fd, const char *id, const char *checkout,
		    const char *dir, struct dv_error *err)
{
	return sync_checkout(h, root_fd, id, checkout, dir, false, err);
}

int cmd_remote_sync_changes(struct cmd_rhost *h, int root_fd, const char *id, const char *checkout,
			    const char *dir, struct dv_error *err)
{
	return sync_checkout(h, root_fd, id, checkout, dir, true, err);
}

/* ---- the receiving end, run there ---- */

/* Read exactly n bytes, or up to a NUL when n is 0 (into b). */
static int get_str(FILE *in, struct dv_buf *b)
{
	int ch;

	b->len = 0;
	if (b->s)
		b->s[0] = 0;
	while ((ch = getc(in)) != EOF && ch != 0) {
		char c = (char)ch;

		dv_buf_add(b, &c, 1);
	}
	if (ch == EOF)
		return -1;
	if (!b->s)
		dv_buf_adds(b, "");
	return 0;
}

static bool path_ok(const char *p)
{
	if (!*p || p[0] == '/')
		return false;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (n == 4 && !strncmp(c, ".git", 4) && c == p)
			return false;
		c += n;
		if (*c)
			c++;
		else
			break;
	}
	return p[strlen(p) - 1] != '/';
}

/* The folder holding path's last component, walked without following a
 * symlink; create: folders made, a file or symlink in the way removed.
 * *base: the last component. */
static int parent_at(int root, const char *path, bool create, const char **base)
{
	int fd = dup(root);
	const char *c = path;

	for (;;) {
		size_t n = strcspn(c, "/");
		char comp[256];
		int next;

		if (!c[n]) {
			*base = c;
			return fd;
		}
		if (n >= sizeof(comp)) {
			close(fd);
			return -1;
		}
		memcpy(comp, c, n);
		comp[n] = 0;
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && create && errno != EACCES) {
			if (errno != ENOENT)
				unlinkat(fd, comp, 0);
			mkdirat(fd, comp, 0755);
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		close(fd);
		if (next < 0)
			return -1;
		fd = next;
		c += n + 1;
	}
}

/* A folder where the file goes is removed with what it holds. */
static int land(int pfd, const char *tmp, const char *base)
{
	if (renameat(pfd, tmp, pfd, base) == 0)
		return 0;
	if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
		struct dv_error ignored = { 0 };

		dv_rm_tree_at(pfd, base, &ignored);
		if (renameat(pfd, tmp, pfd, base) == 0)
			return 0;
	}
	unlinkat(pfd, tmp, 0);
	return -1;
}

/* The copy is a checkout of its own: a .git folder at its root (the remote
 * devenv looks no further up for one: a $HOME kept in git is never the
 * env's checkout), with `devenv-copy` in it (provision/trust.c: the Envfile's
 * place in the checkout was asked about where devenv was run). A symlink
 * or file the env put there is replaced. */
static bool fd_is_reg(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static int mark_copy(int root, struct dv_error *err)
{
	dv_autoclose int git = -1, fd = -1;

	git = openat(root, ".git", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (git < 0) {
		if (errno != ENOENT)
			unlinkat(root, ".git", 0);
		if (mkdirat(root, ".git", 0755) < 0 && errno != EEXIST)
			return dv_err(err, errno, "cannot make its .git folder");
		git = openat(root, ".git", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (git < 0)
			return dv_err(err, errno, "cannot open its .git folder");
	}
	/* Not a regular file (a symlink, a fifo: .git writable by the env
	 * with git_metadata: read-write): replaced, never opened. */
	fd = openat(git, "devenv-copy",
		    O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
	if (fd >= 0 && !fd_is_reg(fd)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		unlinkat(git, "devenv-copy", 0);
		unlinkat(git, "devenv-copy", AT_REMOVEDIR);
		fd = openat(git, "devenv-copy",
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return dv_err(err, errno, "cannot write .git/devenv-copy");
	return 0;
}

int cmd_sync_recv(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		  struct dv_error *err)
{
	struct dv_buf hdr = { 0 }, path = { 0 }, target = { 0 };
	dv_autofree char *tokfile = NULL;
	dv_autoclose int root = -1;
	char tmp[64];
	unsigned long files = 0;
	int ret = -1;

	(void)ctx;
	(void)st;
	if (call->argc != 4 && call->argc != 5)
		return dv_err_usage(err, "usage: devenv __sync-recv DIR TOKEN TOKENFILE [EXPECT]");
	/* EXPECT: the token the sender's manifest names; another one (or
	 * none) there means the copy is not what it lists: exit 3, unread. */
	if (call->argc == 5) {
		dv_autofree char *have = NULL;
		size_t len = 0;
		int dfd = AT_FDCWD;

		if (dv_read_file_at(dfd, call->argv[3], &have, &len, &(struct dv_error){ 0 }) < 0 ||
		    len != strlen(call->argv[4]) + 1 || strncmp(have, call->argv[4], len - 1) ||
		    have[len - 1] != '\n') {
			err->status = 3;
			return -2;
		}
	}
	if (dv_mkdir_p(call->argv[1], 0700, err) < 0)
		return -1;
	root = open(call->argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return dv_err(err, errno, "cannot open '%s'", call->argv[1]);
	if (mark_copy(root, err) < 0)
		return dv_err_prefix(err, "'%s'", call->argv[1]);
	snprintf(tmp, sizeof(tmp), ".devenv-sync.%d", (int)getpid());
	for (;;) {
		const char *base;
		dv_autoclose int pfd = -1;

		if (get_str(stdin, &hdr) < 0) {
			dv_err_plain(err, 0, "the checkout's stream ended early");
			goto out;
		}
		if (!strcmp(hdr.s, "E"))
			break;
		if (get_str(stdin, &path) < 0 || !path_ok(path.s)) {
			dv_err_plain(err, 0, "the checkout's stream names a bad path");
			goto out;
		}
		if (!strcmp(hdr.s, "D")) {
			pfd = parent_at(root, path.s, false, &base);
			if (pfd >= 0 && unlinkat(pfd, base, 0) == 0) {
				/* Folders left empty go too (rmdir refuses the rest),
				 * each reached as the file was: the env may have put a
				 * symlink on the way since. */
				dv_autofree char *dirs = dv_xstrdup(path.s);

				dv_fault_point("sync-recv.rmdir");
				for (char *s = strrchr(dirs, '/'); s; s = strrchr(dirs, '/')) {
					const char *dbase;
					dv_autoclose int dfd = -1;

					*s = 0;
					dfd = parent_at(root, dirs, false, &dbase);
					if (dfd < 0 || unlinkat(dfd, dbase, AT_REMOVEDIR) < 0)
						break;
				}
			}
			continue;
		}
		if (!strcmp(hdr.s, "L")) {
			if (get_str(stdin, &target) < 0)
				goto short_stream;
			pfd = parent_at(root, path.s, true, &base);
			if (pfd < 0)
				goto cannot;
			unlinkat(pfd, tmp, 0);
			if (symlinkat(target.s, pfd, tmp) < 0 || land(pfd, tmp, base) < 0)
				goto cannot;
			files++;
			continue;
		}
		unsigned mode;
		long long size;
		dv_autoclose int fd = -1;

		if (sscanf(hdr.s, "F %o %lld", &mode, &size) != 2 || size < 0) {
			dv_err_plain(err, 0, "the checkout's stream has a bad record");
			goto out;
		}
		pfd = parent_at(root, path.s, true, &base);
		if (pfd < 0)
			goto cannot;
		unlinkat(pfd, tmp, 0);
		fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    mode & 0777);
		if (fd < 0)
			goto cannot;
		while (size > 0) {
			char buf[65536];
			size_t want = size < (long long)sizeof(buf) ? (size_t)size : sizeof(buf);
			size_t got = fread(buf, 1, want, stdin);

			/* A cut stream leaves no temporary file in the checkout. */
			if (got == 0) {
				unlinkat(pfd, tmp, 0);
				goto short_stream;
			}
			if (dv_write_full(fd, buf, got, err) < 0) {
				unlinkat(pfd, tmp, 0);
				goto out;
			}
			size -= (long long)got;
		}
		if (fchmod(fd, mode & 0777) < 0 || land(pfd, tmp, base) < 0)
			goto cannot;
		files++;
	}
	tokfile = dv_xstrdup(call->argv[3]);
	{
		dv_autofree char *text = dv_xasprintf("%s\n", call->argv[2]);
		dv_autofree char *dir = dv_xstrdup(tokfile);
		char *slash = strrchr(dir, '/');
		dv_autoclose int dfd = -1;

		if (slash)
			*slash = 0;
		dfd = open(slash && dir[0] ? dir
			   : slash         ? "/"
					   : ".",
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 ||
		    dv_write_file_atomic(dfd,
					 strrchr(tokfile, '/') ? strrchr(tokfile, '/') + 1 : tokfile,
					 text, strlen(text), 0600, err) < 0)
			goto out;
	}
	ret = 0;
	goto out;
short_stream:
	dv_err_plain(err, 0, "the checkout's stream ended early");
	goto out;
cannot:
	dv_err(err, errno, "cannot write '%s/%s'", call->argv[1], path.s);
out:
	dv_buf_release(&hdr);
	dv_buf_release(&path);
	dv_buf_release(&target);
	return ret;
}
