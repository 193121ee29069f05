/*
 * provision/signing.c - the signed team cache: `push --sign KEY` signs the
 * pushed manifest's digest with ssh-keygen and stores the signature beside
 * it (registry/sign.c); `cache_trust: FILE` takes a cache_from image only
 * when its manifest carries a valid signature by a principal that
 * allowed_signers file lists.
 *
 * What is signed is the text "sha256:<hex>" (71 bytes, no newline), the
 * manifest's digest, with namespace "devenv": the manifest names its
 * config and layers by digest, and each blob is checked against its digest
 * as it is fetched, so the signature covers every byte taken.
 *
 * ssh-keygen runs as a child with a clean environment (PATH, LC_ALL; and
 * SSH_AUTH_SOCK when signing, for a key held by the agent), from "/",
 * given the message on stdin and the signature and allowed signers as
 * /dev/fd/3 and /dev/fd/4 (memfds: read once, never a path of the
 * checkout that could change between two runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

#define SIG_NAMESPACE "devenv"
#define SIGNERS_MAX (1 << 20)
#define OUT_MAX 65536

/* A memfd holding len bytes of data, at offset 0. */
static int memfd_with(const char *name, const char *data, size_t len, struct dv_error *err)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return dv_err(err, errno, "memfd_create");
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dv_err(err, errno, "cannot write a memfd");
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		dv_err(err, errno, "lseek");
		close(fd);
		return -1;
	}
	return fd;
}

/* The ssh-keygen that checks a registry's signature runs confined as the
 * credential relay's git does (ctr_confine_tool, container/confine.c):
 * every capability dropped, no_new_privs, no way out of the host's
 * namespaces, no kernel surface a parser has no use for, no typing into
 * the terminal, and no network (it needs none). */
static int confine(struct dv_error *err)
{
	return ctr_confine_tool("ssh-keygen", true, err);
}

/* ssh-keygen's exit status when it could not be confined. */
#define CONFINE_FAILED 126

/* Run ssh-keygen argv with stdin `in`, fds 3 and 4 (when >= 0), stdout
 * into *out (at most OUT_MAX bytes kept), stderr the user's when
 * show_errors, else discarded. *status: its exit status (128+signal). */
static int keygen(char *const argv[], bool agent, int in, int fd3, int fd4, bool show_errors,
		  struct dv_buf *out, int *status, struct dv_error *err)
{
	const char *sock = agent ? getenv("SSH_AUTH_SOCK") : NULL;
	dv_autofree char *sockvar = sock ? dv_xasprintf("SSH_AUTH_SOCK=%s", sock) : NULL;
	char *envp[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", sockvar, NULL };
	int p[2], st = 0;
	char buf[4096];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int a = fd3 >= 0 ? fcntl(fd3, F_DUPFD_CLOEXEC, 10) : -1;
		int b = fd4 >= 0 ? fcntl(fd4, F_DUPFD_CLOEXEC, 10) : -1;

		if (null < 0 || dup2(in >= 0 ? in : null, 0) < 0 || dup2(p[1], 1) < 0 ||
		    (!show_errors && dup2(null, 2) < 0) || (a >= 0 && dup2(a, 3) < 0) ||
		    (b >= 0 && dup2(b, 4) < 0) || chdir("/") < 0)
			_exit(127);
		/* Checking a signature from a registry: confined. Signing
		 * (the developer's own key, maybe through the agent's socket):
		 * as it is. */
		if (!agent && confine(&(struct dv_error){ 0 }) < 0)
			_exit(CONFINE_FAILED);
		/* No stdin offset shared with the parent's reads. */
		execve("/usr/bin/ssh-keygen", argv, envp);
		execve("/bin/ssh-keygen", argv, envp);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out->len + (size_t)n <= OUT_MAX)
			dv_buf_add(out, buf, (size_t)n);
	}
	close(p[0]);
	if (dv_waitpid(pid, &st, err) < 0)
		return -1;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

int prov_sign_manifest(const char *key, const char *name, const char *hex, struct dv_error *err)
{
	dv_autofree char *msg = dv_xasprintf("sha256:%s", hex);
	dv_autofree char *abs = NULL;
	dv_autoclose int in = -1;
	struct dv_buf out = { 0 };
	int status = 0, ret = -1;

	/* From "/": the key's path as the user wrote it, made absolute. */
	if (key[0] != '/') {
		dv_autofree char *cwd = getcwd(NULL, 0);

		if (!cwd)
			return dv_err(err, errno, "getcwd");
		abs = dv_xasprintf("%s/%s", cwd, key);
	} else {
		abs = dv_xstrdup(key);
	}
	{
		char *argv[] = { "ssh-keygen",  "-q", "-Y", "sign", "-n",
				 SIG_NAMESPACE, "-f", abs,  NULL };

		if ((in = memfd_with("devenv-msg", msg, strlen(msg), err)) < 0 ||
		    keygen(argv, true, in, -1, -1, true, &out, &status, err) < 0)
			goto done;
	}
	if (status == 127 && !out.len) {
		dv_err_plain(err, ENOENT,
			     "cannot sign with '%s': ssh-keygen (OpenSSH 8.1 or later) is not "
			     "installed; install openssh-client",
			     key);
		goto done;
	}
	if (status || !out.len || !dv_str_startswith(out.s, "-----BEGIN SSH SIGNATURE-----")) {
		dv_err_plain(err, EINVAL,
			     "cannot sign with '%s': ssh-keygen -Y sign failed (exit status %d); "
			     "name a private key file, or a public key whose private half is in "
			     "your ssh agent",
			     key, status);
		goto done;
	}
	ret = reg_sig_push(name, hex, out.s, out.len, err);
done:
	dv_buf_release(&out);
	return ret;
}

/* The allowed signers file of `cache_trust`, opened beneath the checkout
 * with no symlink on the way, a regular file, at most 1 MiB, into b. */
static int signers_read(const struct env_spec *spec, struct dv_buf *out, struct dv_error *err)
{
	dv_autoclose int dir = -1, pfd = -1, fd = -1;
	struct dv_buf b = { 0 };
	char buf[16384];

	dir = open(spec->checkout, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir >= 0)
		pfd = dv_openat2(dir, spec->cache_trust, O_PATH, 0,
				 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (pfd < 0)
		return dv_err_plain(err, errno, "cache_trust '%s' cannot be opened: %s",
				    spec->cache_trust,
				    errno == ELOOP ? "a symlink is on the way" : strerror(errno));
	if ((fd = dv_reopen_regular(pfd, NULL)) < 0)
		return dv_err_plain(err, errno, "cache_trust '%s' %s", spec->cache_trust,
				    errno == EINVAL ? "is not a regular file" : strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			dv_buf_release(&b);
			return dv_err_plain(err, errno, "cannot read cache_trust '%s': %s",
					    spec->cache_trust, strerror(errno));
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > SIGNERS_MAX) {
			dv_buf_release(&b);
			return dv_err_plain(err, EFBIG, "cache_trust '%s' is over 1 MiB",
					    spec->cache_trust);
		}
		dv_buf_add(&b, buf, (size_t)n);
	}
	*out = b;
	return 0;
}

/* The mark of a file's text: the first 16 hex of its sha256. */
static void mark_of(const struct dv_buf *b, char mark[17])
{
	char hex[65];

	dv_sha256_hex(b->s ? b->s : "", b->len, hex);
	memcpy(mark, hex, 16);
	mark[16] = 0;
}

/* As a memfd, and its mark. */
static int signers_fd(const struct env_spec *spec, char mark[17], struct dv_error *err)
{
	struct dv_buf b = { 0 };
	int mfd;

	if (signers_read(spec, &b, err) < 0)
		return -1;
	mark_of(&b, mark);
	mfd = memfd_with("devenv-signers", b.s ? b.s : "", b.len, err);
	dv_buf_release(&b);
	return mfd;
}

const char *prov_sig_mark(const struct env_spec *spec, char mark[17])
{
	struct dv_buf b = { 0 };

	if (!spec->cache_trust)
		return NULL;
	if (signers_read(spec, &b, &(struct dv_error){ 0 }) < 0) {
		snprintf(mark, 17, "-"); /* matches no recorded mark */
		return mark;
	}
	mark_of(&b, mark);
	dv_buf_release(&b);
	return mark;
}

int prov_sig_check(const struct env_spec *spec, struct reg_remote *r, char **who, char mark[17],
		   struct dv_error *err)
{
	const char *hex = reg_remote_digest(r);
	dv_autofree char *sig = NULL, *msg = dv_xasprintf("sha256:%s", hex);
	dv_autoclose int sfd = -1, afd = -1;
	struct dv_buf principals = { 0 };
	struct dv_error fail = { 0 };
	size_t len = 0;
	int status = 0, ret = 1;

	*who = NULL;
	if ((afd = signers_fd(spec, mark, err)) < 0)
		return 1;
	ret = reg_remote_signature(r, &sig, &len, &fail);
	if (ret < 0) {
		dv_err_plain(err, EACCES, "its signature cannot be read: %s", fail.msg);
		return 1;
	}
	if (ret > 0) {
		dv_err_plain(err, EACCES,
			     "its manifest sha256:%.12s is not signed, and cache_trust '%s' asks "
			     "for a signature",
			     hex, spec->cache_trust);
		return 1;
	}
	if ((sfd = memfd_with("devenv-sig", sig, len, err)) < 0)
		return -1;
	{
		char *argv[] = { "ssh-keygen", "-Y", "find-principals", "-s",
				 "/dev/fd/3",  "-f", "/dev/fd/4",       NULL };

		if (keygen(argv, false, -1, sfd, afd, false, &principals, &status, err) < 0)
			return -1;
	}
	if (status == CONFINE_FAILED && !principals.len) {
		dv_buf_release(&principals);
		return dv_err_plain(err, EPERM, "ssh-keygen could not be confined to check it");
	}
	if (status == 127 && !principals.len) {
		dv_buf_release(&principals);
		dv_err_plain(err, ENOENT,
			     "ssh-keygen (OpenSSH 8.2 or later) is not installed to check its "
			     "signature; install openssh-client");
		return 1;
	}
	ret = 1;
	/* Each principal listed for the signing key, checked in turn (a
	 * key may be listed under several). */
	for (char *p = principals.s, *nl; status == 0 && p && *p && ret == 1; p = nl) {
		struct dv_buf junk = { 0 };
		dv_autoclose int in = -1;
		int vs = 0;

		nl = strchr(p, '\n');
		if (nl)
			*nl++ = 0;
		if (!*p)
			continue;
		{
			char *argv[] = { "ssh-keygen",  "-Y", "verify",    "-f",
					 "/dev/fd/4",   "-I", p,           "-n",
					 SIG_NAMESPACE, "-s", "/dev/fd/3", NULL };

			if ((in = memfd_with("devenv-msg", msg, strlen(msg), err)) < 0 ||
			    keygen(argv, false, in, sfd, afd, false, &junk, &vs, err) < 0) {
				dv_buf_release(&junk);
				dv_buf_release(&principals);
				return -1;
			}
		}
		dv_buf_release(&junk);
		if (vs == 0) {
			*who = dv_xstrdup(p);
			ret = 0;
		}
	}
	dv_buf_release(&principals);
	if (ret)
		dv_err_plain(err, EACCES,
			     "its manifest sha256:%.12s is not signed by a key that cache_trust "
			     "'%s' lists",
			     hex, spec->cache_trust);
	return ret;
}
