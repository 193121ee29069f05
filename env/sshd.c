/*
 * env/sshd.c - the env's ssh endpoint: what `devenv ssh-config` prints and
 * writes, and what `devenv ssh-proxy` hands the env's own sshd.
 *
 * No port is opened: ssh's ProxyCommand runs `devenv ssh-proxy NAME`, which
 * runs the env's `sshd -i` (inetd mode) over its stdin and stdout, through
 * ctr_exec like `devenv ssh`. sshd gets a config of devenv's, the env's host
 * key and the user's public keys as files in a folder of the env's /dev (a
 * tmpfs of the env's start, never a layer: `commit` does not see them),
 * written there by a small sh script run as the env's root
 * (env_sshd_script) from variables of its environment, which it unsets
 * before it execs sshd.
 *
 * The host key is the env's own, ed25519, made once by the host's
 * ssh-keygen in envs/<id>/sshd/ (destroy removes it with the env);
 * `ssh-config` writes its known_hosts line, so ssh checks it (never
 * StrictHostKeyChecking no).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* clang-format off */
const char env_sshd_script[] =
	"s=\n"
	"for p in /usr/sbin/sshd /usr/local/sbin/sshd /sbin/sshd /usr/bin/sshd; do\n"
	"  [ -x \"$p\" ] && s=$p && break\n"
	"done\n"
	"[ -n \"$s\" ] || exit " ENV_SSHD_STR(ENV_SSHD_NO_SSHD) "\n"
	"d=" ENV_SSHD_RUNDIR "\n"
	"umask 077\n"
	"mkdir -p \"$d\" && chmod 0755 \"$d\" || exit " ENV_SSHD_STR(ENV_SSHD_NO_FILES) "\n"
	"w() { printf '%s' \"$2\" >\"$d/$1.$$\" && chmod \"$3\" \"$d/$1.$$\" &&"
	" mv -f \"$d/$1.$$\" \"$d/$1\"; }\n"
	"w host_key \"$DEVENV_SSHD_HOST_KEY\" 0600 &&"
	" w authorized_keys \"$DEVENV_SSHD_KEYS\" 0644 &&"
	" w sshd_config \"$DEVENV_SSHD_CONFIG\" 0644 || exit " ENV_SSHD_STR(ENV_SSHD_NO_FILES) "\n"
	/* Debian's privilege separation folder, which its init would make. */
	"[ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd 2>/dev/null\n"
	/* SetEnv is sshd 8.7's: an older one refuses the whole config. */
	"if grep -q '^SetEnv ' \"$d/sshd_config\" 2>/dev/null &&"
	" ! \"$s\" -t -f \"$d/sshd_config\" >/dev/null 2>&1; then\n"
	"  grep -v '^SetEnv ' \"$d/sshd_config\" >\"$d/c.$$\" &&"
	" mv -f \"$d/c.$$\" \"$d/sshd_config\"\n"
	"fi\n"
	"unset DEVENV_SSHD_HOST_KEY DEVENV_SSHD_KEYS DEVENV_SSHD_CONFIG\n"
	"exec \"$s\" -i -e -f \"$d/sshd_config\"\n";
/* clang-format on */

/* "ssh-ed25519 AAAA...": a key type ssh knows, then base64, nothing else. */
static bool key_type_ok(const char *s, size_t n)
{
	static const char *const types[] = {
		"ssh-ed25519",
		"ssh-rsa",
		"ecdsa-sha2-nistp256",
		"ecdsa-sha2-nistp384",
		"ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com",
		"sk-ecdsa-sha2-nistp256@openssh.com",
		"ssh-dss",
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == n && !memcmp(types[i], s, n))
			return true;
	return false;
}

static bool b64_ok(const char *s, size_t n)
{
	if (n < 16 || n > 16384)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || c == '='))
			return false;
	}
	return true;
}

size_t env_sshd_keys_filter(const char *text, size_t len, struct dv_buf *out)
{
	size_t n = 0;

	for (size_t at = 0; at < len;) {
		const char *line = text + at, *nl = memchr(line, '\n', len - at);
		size_t ll = nl ? (size_t)(nl - line) : len - at, t, b;

		at += ll + 1;
		while (ll && (*line == ' ' || *line == '\t')) {
			line++;
			ll--;
		}
		t = 0;
		while (t < ll && line[t] != ' ' && line[t] != '\t')
			t++;
		if (!key_type_ok(line, t))
			continue;
		b = t;
		while (b < ll && (line[b] == ' ' || line[b] == '\t'))
			b++;
		size_t e = b;
		while (e < ll && line[e] != ' ' && line[e] != '\t' && line[e] != '\r')
			e++;
		if (!b64_ok(line + b, e - b))
			continue;
		/* The comment (user@host) stays on the host. */
		dv_buf_add(out, line, t);
		dv_buf_adds(out, " ");
		dv_buf_add(out, line + b, e - b);
		dv_buf_adds(out, "\n");
		n++;
	}
	return n;
}

int env_sshd_user_keys(const char *home, struct dv_buf *out, struct dv_error *err)
{
	dv_autofree char *dir = dv_xasprintf("%s/.ssh", home);
	dv_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;
	size_t n = 0;

	if (fd < 0 || !(d = dv_opendir_fd(fd)))
		return dv_err_plain(err, ENOENT,
				    "no public key to authorise: '%s' cannot be read (%s); make one "
				    "with ssh-keygen",
				    dir, strerror(errno));
	while ((de = readdir(d))) {
		dv_autofree char *text = NULL;
		struct stat sb;
		size_t len;
		int f;

		if (de->d_name[0] == '.' || !dv_str_endswith(de->d_name, ".pub"))
			continue;
		/* Never a link nor a fifo: only the folder's own regular files. */
		f = dv_open_regular_at(fd, de->d_name, &sb);
		if (f < 0)
			continue;
		if (sb.st_size <= 65536 && dv_read_all(f, &text, &len, &(struct dv_error){ 0 }) == 0)
			n += env_sshd_keys_filter(text, len, out);
		close(f);
	}
	if (!n)
		return dv_err_plain(err, ENOENT,
				    "no public key to authorise in '%s' (its *.pub files); make one "
				    "with ssh-keygen",
				    dir);
	return (int)n;
}

/* A value sshd's config parser reads back as one word: in double quotes,
 * with " and \ escaped. */
static void cfg_quoted(struct dv_buf *b, const char *s)
{
	dv_buf_adds(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			dv_buf_adds(b, "\\");
		dv_buf_add(b, s, 1);
	}
	dv_buf_adds(b, "\"");
}

void env_sshd_config(const struct env_record *s, struct dv_buf *out)
{
	dv_buf_adds(out, "# devenv ssh-proxy: this env's sshd, in inetd mode (sshd -i)\n"
			 "HostKey " ENV_SSHD_RUNDIR "/host_key\n"
			 "AuthorizedKeysFile " ENV_SSHD_RUNDIR "/authorized_keys\n"
			 "PidFile none\n"
			 "UsePAM no\n"
			 "PasswordAuthentication no\n"
			 "ChallengeResponseAuthentication no\n"
			 "PermitRootLogin prohibit-password\n"
			 "AllowTcpForwarding yes\n"
			 "X11Forwarding no\n"
			 "PrintMotd no\n"
			 "Subsystem sftp internal-sftp\n"
			 "LogLevel ERROR\n");
	/* The Envfile's env, as `devenv ssh` gives it (OpenSSH 8.7 on). */
	if (!s)
		return;
	for (size_t i = 0; i < s->env.n; i++) {
		const char *kv = s->env.v[i];

		if (strchr(kv, '\n') || strchr(kv, '\r') || !strchr(kv, '=') || kv[0] == '=')
			continue;
		dv_buf_adds(out, "SetEnv ");
		cfg_quoted(out, kv);
		dv_buf_adds(out, "\n");
	}
}

/* Run a host program (ssh-keygen, ssh-add), never on ssh-proxy's stdio
 * (ssh's stream): stdin from /dev/null; one of its outputs into *got (at
 * most 256 KiB: its stdout with `want_stdout`, else its stderr), the other
 * to /dev/null. Returns its exit status (127: not found, 128+signal), -1
 * when it could not be started. */
static int run_host(char *const argv[], bool want_stdout, struct dv_buf *got, struct dv_error *err)
{
	char buf[4096];
	int p[2], st;
	pid_t pid;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || dup2(null, 0) < 0 || dup2(want_stdout ? p[1] : null, 1) < 0 ||
		    dup2(want_stdout ? null : p[1], 2) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(p[1]);
	while ((n = read(p[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && got->len < 256 * 1024)
			dv_buf_add(got, buf, (size_t)n);
	close(p[0]);
	if (dv_waitpid(pid, &st, err) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A new ed25519 key at path, by the host's ssh-keygen. */
static int keygen(const char *path, const char *comment, struct dv_error *err)
{
	char *argv[] = { "ssh-keygen",    "-q", "-t",         "ed25519", "-N", "", "-C",
			 (char *)comment, "-f", (char *)path, NULL };
	struct dv_buf msg = { 0 };
	int st = run_host(argv, false, &msg, err);

	if (st == 127)
		dv_err_plain(err, ENOENT,
			     "ssh-keygen is not installed on this host: install openssh-client "
			     "(the env's host key is made with it)");
	else if (st > 0)
		dv_err_plain(err, EIO, "ssh-keygen could not make the env's host key: %.*s",
			     msg.s ? (int)strcspn(msg.s, "\r\n") : 9, msg.s ? msg.s : "it failed");
	dv_buf_release(&msg);
	return st == 0 ? 0 : -1;
}

size_t env_sshd_agent_keys(struct dv_buf *out)
{
	char *argv[] = { "ssh-add", "-L", NULL };
	struct dv_buf got = { 0 };
	size_t n = 0;

	if (!getenv("SSH_AUTH_SOCK") || !*getenv("SSH_AUTH_SOCK"))
		return 0;
	if (run_host(argv, true, &got, &(struct dv_error){ 0 }) == 0 && got.s)
		n = env_sshd_keys_filter(got.s, got.len, out);
	dv_buf_release(&got);
	return n;
}

/* Read sshd/host_key(.pub) of the env's folder: 0, or -1 with errno ENOENT
 * when there is none yet. */
static int read_key(int efd, char **priv, char **pub, struct dv_error *err)
{
	dv_autofree char *p = NULL;
	dv_autofree char *q = NULL;
	struct dv_buf b = { 0 };
	size_t plen, qlen;

	if (dv_read_file_at(efd, "sshd/host_key", &p, &plen, err) < 0 ||
	    dv_read_file_at(efd, "sshd/host_key.pub", &q, &qlen, err) < 0)
		return -1;
	if (env_sshd_keys_filter(q, qlen, &b) != 1) {
		dv_buf_release(&b);
		return dv_err_plain(err, EBADMSG,
				    "the env's host key (sshd/host_key.pub) is damaged; remove its "
				    "sshd folder and run 'devenv ssh-config' again");
	}
	b.s[b.len - 1] = 0; /* no newline */
	*pub = dv_buf_steal(&b);
	*priv = p;
	p = NULL;
	return 0;
}

int env_sshd_hostkey(const struct layer_store *st, const char *env_id, char **priv, char **pub,
		     struct dv_error *err)
{
	dv_autoclose int envs = env_envs_fd(st);
	dv_autoclose int efd = -1;
	struct dv_error first = { 0 };
	char tmp[64], comment[64];
	dv_autofree char *path = NULL;

	if (envs < 0 || (efd = openat(envs, env_id, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return dv_err(err, errno, "cannot open the env's folder envs/%s", env_id);
	if (read_key(efd, priv, pub, &first) == 0)
		return 0;
	if (first.errnum != ENOENT) {
		*err = first;
		return -1;
	}
	/* Made aside and renamed into place: two at once keep the first. */
	snprintf(tmp, sizeof(tmp), ".sshd.tmp.%d", (int)getpid());
	dv_rm_tree_at(efd, tmp, &(struct dv_error){ 0 });
	if (mkdirat(efd, tmp, 0700) < 0)
		return dv_err(err, errno, "cannot create envs/%s/%s", env_id, tmp);
	path = dv_xasprintf("%s/envs/%s/%s/host_key", st->root, env_id, tmp);
	snprintf(comment, sizeof(comment), "devenv-%s", env_id);
	if (keygen(path, comment, err) < 0) {
		dv_rm_tree_at(efd, tmp, &(struct dv_error){ 0 });
		return -1;
	}
	if (renameat2(efd, tmp, efd, "sshd", RENAME_NOREPLACE) < 0) {
		int e = errno;

		dv_rm_tree_at(efd, tmp, &(struct dv_error){ 0 });
		if (e != EEXIST && e != ENOTEMPTY)
			return dv_err(err, e, "cannot rename envs/%s/%s", env_id, tmp);
	}
	return read_key(efd, priv, pub, err);
}

/* Does line (n bytes) say "Include" with `path` among its words? */
static bool includes(const char *line, size_t n, const char *path)
{
	size_t i = 0, pl = strlen(path);

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (n - i < 8 || strncasecmp(line + i, "include", 7) ||
	    (line[i + 7] != ' ' && line[i + 7] != '\t' && line[i + 7] != '='))
		return false;
	for (i += 8; i + pl <= n; i++) {
		char before = line[i - 1], after = i + pl < n ? line[i + pl] : ' ';

		if (!memcmp(line + i, path, pl) && strchr(" \t\"=", before) &&
		    strchr(" \t\"\r", after))
			return true;
	}
	return false;
}

int env_sshd_include(const char *text, size_t len, const char *path, struct dv_buf *out)
{
	for (size_t at = 0; at < len;) {
		const char *line = text + at, *nl = memchr(line, '\n', len - at);
		size_t ll = nl ? (size_t)(nl - line) : len - at;

		if (includes(line, ll, path))
			return 0;
		at += ll + 1;
	}
	/* First: an Include after a Host or Match line would belong to it. */
	dv_buf_addf(out,
		    "# Added by devenv ssh-config --install: its envs as devenv-NAME\n"
		    "Include \"%s\"\n",
		    path);
	if (len)
		dv_buf_adds(out, "\n");
	dv_buf_add(out, text, len);
	return 1;
}

void env_sshd_known_merge(const char *old, size_t len, const struct dv_strv *lines,
			  struct dv_buf *out)
{
	for (size_t at = 0; at < len;) {
		const char *line = old + at, *nl = memchr(line, '\n', len - at);
		size_t ll = nl ? (size_t)(nl - line) : len - at;
		bool replaced = false;

		at += ll + 1;
		/* A host's line is replaced by its new one (same first word). */
		for (size_t i = 0; i < lines->n && !replaced; i++) {
			size_t w = strcspn(lines->v[i], " ");

			replaced = ll > w && !memcmp(line, lines->v[i], w + 1);
		}
		if (replaced || !ll)
			continue;
		dv_buf_add(out, line, ll);
		dv_buf_adds(out, "\n");
	}
	for (size_t i = 0; i < lines->n; i++)
		dv_buf_addf(out, "%s\n", lines->v[i]);
}
