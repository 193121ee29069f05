/*
 * provision/secrets.c - the values of `secrets:` read on the host, held in
 * memory only (zeroed when released), and the scan of a layer's files for
 * them before it is stored, committed or pushed.
 *
 * A relative `file:` is opened beneath the checkout with no symlink on the
 * way and must be a regular file; an absolute one is the developer's own
 * (a trust request) and opened as it is; `env:` is the host variable;
 * `command:` runs `/bin/sh -c CMD` from "/", stdin empty, stderr
 * the developer's, its stdout (trailing newlines dropped) the value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* Bigger is no secret but a file: `copy` it, or mount it. */
#define SECRET_MAX (1 << 20)

static int fail(const struct env_spec *spec, const struct env_secret *s, struct dv_error *err,
		const char *fmt, const char *a, const char *b)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, a, b);
	if (spec->display)
		dv_err_at(err, spec->display, s->src_line, s->src_col, "secret '%s': %s", s->name,
			  msg);
	else
		dv_err_plain(err, 0, "secret '%s': %s", s->name, msg);
	err->status = 1;
	return -1;
}

static int read_file(const struct env_spec *spec, const struct env_secret *s, char **out,
		     size_t *len, struct dv_error *err)
{
	dv_autoclose int dir = -1, pfd = -1, fd = -1;

	if (s->file_rel) {
		dir = open(spec->checkout, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dir >= 0)
			pfd = dv_openat2(dir, s->file_rel, O_PATH, 0,
					 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
						 RESOLVE_NO_MAGICLINKS);
	} else {
		pfd = open(s->source, O_PATH | O_CLOEXEC);
	}
	if (pfd < 0)
		return fail(spec, s, err, "cannot open '%s': %s%s", s->source,
			    errno == ELOOP ? "a symlink is on the way (a secret file of the "
					     "checkout is opened without following any)"
					   : strerror(errno));
	fd = dv_reopen_regular(pfd, NULL);
	if (fd < 0)
		return fail(spec, s, err, "'%s' %s", s->source,
			    errno == EINVAL ? "is not a regular file" : strerror(errno));
	/* No more than one byte over the limit: a file of the checkout is
	 * the env's to grow. */
	{
		struct dv_buf b = { 0 };
		char buf[16384];

		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				dv_secret_free(b.s, b.len);
				return fail(spec, s, err, "cannot read '%s': %s", s->source,
					    strerror(errno));
			}
			if (n == 0 || b.len > SECRET_MAX)
				break;
			dv_buf_add(&b, buf, (size_t)n);
		}
		explicit_bzero(buf, sizeof(buf));
		*len = b.len;
		*out = b.s ? b.s : dv_xstrdup("");
	}
	return 0;
}

static int run_command(const struct env_spec *spec, const struct env_secret *s, char **out,
		       size_t *len, struct dv_error *err)
{
	int p[2], st = 0;
	struct dv_buf b = { 0 };
	char buf[4096];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		/* From "/", as the credential relay's git: never the checkout,
		 * whose files (a script it names, a .git of its own) the env
		 * can write. */
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || chdir("/") < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", s->source, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len + (size_t)n <= SECRET_MAX + 1)
			dv_buf_add(&b, buf, (size_t)n);
	}
	explicit_bzero(buf, sizeof(buf));
	close(p[0]);
	if (dv_waitpid(pid, &st, err) < 0) {
		dv_secret_free(b.s, b.len);
		return -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		char code[32];

		snprintf(code, sizeof(code), "%d",
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		dv_secret_free(b.s, b.len);
		return fail(spec, s, err, "the command '%s' failed with exit status %s", s->source,
			    code);
	}
	while (b.len && (b.s[b.len - 1] == '\n' || b.s[b.len - 1] == '\r'))
		b.len--;
	*len = b.len;
	*out = b.s ? b.s : dv_xstrdup("");
	return 0;
}

static int read_one(const struct env_spec *spec, const struct env_secret *s, char **out,
		    size_t *len, struct dv_error *err)
{
	const char *v;

	switch (s->kind) {
	case ENV_SECRET_FILE:
		return read_file(spec, s, out, len, err);
	case ENV_SECRET_ENV:
		v = getenv(s->source);
		if (!v)
			return fail(spec, s, err, "your variable '%s' is not set%s", s->source, "");
		*out = dv_xstrdup(v);
		*len = strlen(v);
		return 0;
	default:
		return run_command(spec, s, out, len, err);
	}
}

static bool wanted(const struct env_spec *spec, const char *name, unsigned which,
		   const struct dv_strv *names)
{
	for (size_t i = 0; names && i < names->n; i++)
		if (!strcmp(names->v[i], name))
			return true;
	if (which & PROV_SECRETS_ALL)
		return true;
	for (size_t i = 0; (which & PROV_SECRETS_STEPS) && i < spec->n_provision; i++)
		for (size_t j = 0; j < spec->provision[i].secrets.n; j++)
			if (!strcmp(spec->provision[i].secrets.v[j], name))
				return true;
	for (size_t i = 0; (which & PROV_SECRETS_ON_UP) && i < spec->n_on_up; i++)
		for (size_t j = 0; j < spec->on_up[i].secrets.n; j++)
			if (!strcmp(spec->on_up[i].secrets.v[j], name))
				return true;
	return false;
}

static int read_some(const struct env_spec *spec, unsigned which, const struct dv_strv *names,
		     struct prov_secrets *out, struct dv_error *err)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < spec->n_secrets; i++) {
		const struct env_secret *s = &spec->secrets[i];
		struct dv_secret *d;
		/* A devenv holding a secret dumps no core: a crash (a BUG's
		 * abort) would write its memory where a core handler keeps
		 * it. Lowering the soft limit needs no privilege, and unlike
		 * PR_SET_DUMPABLE it leaves /proc/PID of our children ours;
		 * the hard limit stays, so a process of the env may raise it. */
		struct rlimit core;
		char *data = NULL, size[32];
		size_t len = 0, trimmed;

		if (!wanted(spec, s->name, which, names))
			continue;
		if (getrlimit(RLIMIT_CORE, &core) == 0 && core.rlim_cur) {
			core.rlim_cur = 0;
			(void)setrlimit(RLIMIT_CORE, &core);
		}
		if (read_one(spec, s, &data, &len, err) < 0) {
			prov_secrets_release(out);
			return -1;
		}
		trimmed = len;
		while (trimmed && (data[trimmed - 1] == '\n' || data[trimmed - 1] == '\r'))
			trimmed--;
		if (trimmed < PROV_SECRET_MIN || len > SECRET_MAX) {
			snprintf(size, sizeof(size), "%zu", trimmed);
			dv_secret_free(data, len);
			prov_secrets_release(out);
			return fail(spec, s, err,
				    len > SECRET_MAX
					    ? "its value is over 1 MiB (%s bytes)%s; mount a "
					      "file that big with 'mounts'"
					    : "its value is %s bytes long%s; a secret needs at "
					      "least 4 (devenv masks it in output and looks "
					      "for it in layers)",
				    size, "");
		}
		out->v = dv_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
		out->full = dv_xrealloc(out->full, (out->n + 1) * sizeof(*out->full));
		d = &out->v[out->n];
		*d = (struct dv_secret){ s->name, data, trimmed };
		out->full[out->n++] = len;
	}
	return 0;
}

int prov_secrets_read(const struct env_spec *spec, unsigned which, struct prov_secrets *out,
		      struct dv_error *err)
{
	return read_some(spec, which, NULL, out, err);
}

int prov_secrets_read_names(const struct env_spec *spec, const struct dv_strv *names,
			    struct prov_secrets *out, struct dv_error *err)
{
	return read_some(spec, 0, names, out, err);
}

void prov_secrets_release(struct prov_secrets *s)
{
	for (size_t i = 0; i < s->n; i++)
		dv_secret_free((char *)s->v[i].data, s->full[i]);
	free(s->v);
	free(s->full);
	memset(s, 0, sizeof(*s));
}

size_t prov_secrets_for(const struct prov_secrets *s, const struct dv_strv *names, uid_t uid,
			gid_t gid, struct ctr_secret **out)
{
	size_t n = 0;

	*out = names->n ? dv_xcalloc(names->n, sizeof(**out)) : NULL;
	for (size_t j = 0; j < names->n; j++)
		for (size_t i = 0; i < s->n; i++)
			if (!strcmp(s->v[i].name, names->v[j]))
				(*out)[n++] = (struct ctr_secret){ s->v[i].name, s->v[i].data,
								   s->full[i], uid, gid };
	return n;
}

int prov_secrets_scan(const struct prov_secrets *s, const char *dir, const char *what,
		      struct dv_error *err)
{
	dv_autoclose int fd = -1;
	dv_autofree char *path = NULL;
	const struct dv_secret *which = NULL;
	int r;

	if (!s->n)
		return 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open %s to look for secrets", what);
	r = dv_secret_scan_tree(fd, s->v, s->n, &path, &which, err);
	if (r < 0)
		return dv_err_prefix(err, "cannot look for secrets in %s", what);
	if (r == 0)
		return 0;
	{
		struct dv_buf masked = { 0 }, shown = { 0 };
		struct dv_mask m;

		/* The secret may be in the name itself. */
		dv_mask_init(&m, s->v, s->n);
		dv_mask_feed(&m, path, strlen(path), &masked);
		dv_mask_end(&m, &masked);
		dv_mask_release(&m);
		dv_buf_add_safe(&shown, masked.s ? masked.s : "", masked.len);
		dv_buf_release(&masked);
		dv_err_plain(err, EPERM,
			     "secret '%s' is in /%s of %s; refused (devenv never stores a "
			     "secret in a layer): remove it, or read it from /run/secrets/%s "
			     "without copying it",
			     which->name, shown.s, what, which->name);
		dv_buf_release(&shown);
	}
	err->status = 1;
	return -1;
}
