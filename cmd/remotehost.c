/*
 * cmd/remotehost.c - a remote host over the user's own OpenSSH client
 * (`--host ssh://USER@HOST[:PORT]`): the URL, the ssh command line, one
 * ControlMaster connection per command, running a command there with its
 * output streamed and its exit status kept, the probe (can the remote run
 * this devenv?) and the self copy.
 *
 * The ssh command is ${DEVENV_SSH:-ssh} split on spaces, then devenv's own
 * options, then -p PORT, then `-- USER@HOST` and one command string built
 * with dv_buf_add_shquoted (never pasted): a host or user that starts with
 * '-' is refused, and `--` keeps it from being an option anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

void cmd_rhost_release(struct cmd_rhost *h)
{
	cmd_rhost_disconnect(h);
	free(h->url);
	free(h->user);
	free(h->host);
	free(h->port);
	free(h->dest);
	free(h->home);
	free(h->devenv);
	free(h->sync_token);
	memset(h, 0, sizeof(*h));
}

static bool word_ok(const char *s, size_t n, const char *extra)
{
	if (!n || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)))
			return false;
	}
	return true;
}

int cmd_rhost_parse(const char *url, struct cmd_rhost *h, struct dv_error *err)
{
	const char *p, *at, *end, *colon = NULL;
	static const char form[] = "give ssh://USER@HOST[:PORT] (as --host, DEVENV_HOST or "
				   "config.yaml's host:)";

	memset(h, 0, sizeof(*h));
	if (!dv_str_startswith(url, "ssh://"))
		return dv_err_usage(err, "host '%.200s' is not an ssh:// URL; %s", url, form);
	p = url + 6;
	end = p + strlen(p);
	if (end > p && end[-1] == '/')
		end--;
	at = memchr(p, '@', (size_t)(end - p));
	if (at && !word_ok(p, (size_t)(at - p), "._-"))
		return dv_err_usage(err,
				    "host '%.200s': the user name must be letters, digits, "
				    "'.', '_' or '-' and not start with '-'; %s",
				    url, form);
	if (at)
		h->user = dv_xstrndup(p, (size_t)(at - p));
	p = at ? at + 1 : p;
	if (*p == '[') { /* [v6]:port */
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close || !word_ok(p + 1, (size_t)(close - p - 1), ":.") ||
		    (close + 1 < end && close[1] != ':'))
			goto bad_host;
		h->host = dv_xstrndup(p + 1, (size_t)(close - p - 1));
		colon = close + 1 < end ? close + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		if (!word_ok(p, (size_t)((colon ? colon : end) - p), ".-_"))
			goto bad_host;
		h->host = dv_xstrndup(p, (size_t)((colon ? colon : end) - p));
	}
	if (colon) {
		char *e;
		unsigned long port;

		errno = 0;
		port = strtoul(colon + 1, &e, 10);
		if (colon[1] < '0' || colon[1] > '9' || e != end || errno || !port || port > 65535)
			return dv_err_usage(err, "host '%.200s': the port must be 1 to 65535; %s",
					    url, form);
		h->port = dv_xasprintf("%lu", port);
	}
	h->url = dv_xstrdup(url);
	h->dest = h->user ? dv_xasprintf("%s@%s", h->user, h->host) : dv_xstrdup(h->host);
	return 0;
bad_host:
	return dv_err_usage(err,
			    "host '%.200s': the host must be a name or an address (not "
			    "starting with '-'); %s",
			    url, form);
}

/* ${DEVENV_SSH:-ssh}, devenv's options, -p PORT. */
static void base_argv(const struct cmd_rhost *h, struct dv_strv *out)
{
	const char *env = getenv("DEVENV_SSH");
	dv_autofree char *words = dv_xstrdup(env && *env ? env : "ssh");
	char *save = NULL;

	for (char *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		dv_strv_push(out, w);
	/* Without a terminal no prompt can be answered: fail at once. */
	if (!isatty(0)) {
		dv_strv_push(out, "-o");
		dv_strv_push(out, "BatchMode=yes");
	}
	if (h->port) {
		dv_strv_push(out, "-p");
		dv_strv_push(out, h->port);
	}
}

void cmd_rhost_argv(const struct cmd_rhost *h, bool tty, const char *command, struct dv_strv *out)
{
	base_argv(h, out);
	if (h->ctl_dir) {
		dv_strv_push_owned(out, dv_xasprintf("-oControlPath=%s/c", h->ctl_dir));
		dv_strv_push(out, "-oControlMaster=no");
	}
	/* -t: no "Connection to HOST closed." after the session (ssh's, at
	 * its default level); errors are still said. */
	if (command && tty)
		dv_strv_push(out, "-oLogLevel=ERROR");
	if (command)
		dv_strv_push(out, tty ? "-t" : "-T");
	dv_strv_push(out, "--");
	dv_strv_push(out, h->dest);
	if (command)
		dv_strv_push(out, command);
}

pid_t cmd_rhost_spawn(char *const *argv, int in_fd, int out_fd, bool quiet_err, struct dv_error *err)
{
	pid_t pid = fork();

	if (pid < 0)
		return dv_err(err, errno, "cannot start ssh"), -1;
	if (pid == 0) {
		if (in_fd >= 0 && dup2(in_fd, 0) < 0)
			_exit(127);
		if (out_fd >= 0 && dup2(out_fd, 1) < 0)
			_exit(127);
		if (quiet_err) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (null >= 0)
				dup2(null, 2);
		}
		syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
		/* What cmd_remote_main ignores while ssh runs is ssh's again. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr,
			"devenv: cannot run '%s': %s; install OpenSSH's client or set "
			"DEVENV_SSH\n",
			argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

int cmd_rhost_wait(pid_t pid, int *status, struct dv_error *err)
{
	int st;

	if (dv_waitpid(pid, &st, err) < 0)
		return -1;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

int cmd_rhost_unreachable(const struct cmd_rhost *h, struct dv_error *err)
{
	return dv_err_plain(err, 0,
			    "cannot reach %s over ssh (ssh exited 255: its message is above); "
			    "check that 'ssh %s%s %s true' works",
			    h->url, h->port ? "-p " : "", h->port ? h->port : "", h->dest);
}

int cmd_rhost_run(const struct cmd_rhost *h, const char *command, bool tty, int in_fd,
		  struct dv_buf *out, int *status, struct dv_error *err)
{
	struct dv_strv argv = { 0 };
	int pipefd[2] = { -1, -1 }, ret = -1;
	pid_t pid;

	cmd_rhost_argv(h, tty, command, &argv);
	if (out && pipe2(pipefd, O_CLOEXEC) < 0) {
		dv_err(err, errno, "pipe");
		goto out;
	}
	pid = cmd_rhost_spawn(argv.v, in_fd, pipefd[1], false, err);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pid < 0)
		goto out;
	if (out) {
		char buf[4096];
		ssize_t n;

		while ((n = read(pipefd[0], buf, sizeof(buf))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			/* What we read back (the probe, `port --json`) is small:
			 * a remote answering without end is stopped, not kept. */
			if (out->len + (size_t)n > CMD_RHOST_ANSWER_MAX) {
				kill(pid, SIGKILL);
				cmd_rhost_wait(pid, status, err);
				dv_err_plain(err, 0,
					     "%s answered with more than %d KiB (a devenv there "
					     "says far less); nothing of it was used: check the "
					     "remote account",
					     h->url, CMD_RHOST_ANSWER_MAX / 1024);
				goto out;
			}
			dv_buf_add(out, buf, (size_t)n);
		}
	}
	ret = cmd_rhost_wait(pid, status, err);
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	dv_strv_release(&argv);
	return ret;
}

int cmd_rhost_connect(struct cmd_rhost *h, struct dv_error *err)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct dv_strv argv = { 0 };
	char tmpl[128];
	int status = 0, ret = -1;
	pid_t pid;

	snprintf(tmpl, sizeof(tmpl), "%s/devenv-ssh.XXXXXX",
		 rt && rt[0] == '/' && strlen(rt) < 64 && access(rt, W_OK) == 0 ? rt : "/tmp");
	if (!mkdtemp(tmpl))
		return dv_err(err, errno, "cannot make a folder for the ssh connection in '%s'",
			      tmpl);
	base_argv(h, &argv);
	dv_strv_push(&argv, "-oControlMaster=yes");
	dv_strv_push_owned(&argv, dv_xasprintf("-oControlPath=%s/c", tmpl));
	dv_strv_push(&argv, "-oControlPersist=no");
	dv_strv_push(&argv, "-f");
	dv_strv_push(&argv, "-N");
	dv_strv_push(&argv, "--");
	dv_strv_push(&argv, h->dest);
	/* -f: ssh forks once authenticated, its stdio on /dev/null; the
	 * parent's exit says the connection is ready. */
	pid = cmd_rhost_spawn(argv.v, -1, -1, false, err);
	if (pid < 0 || cmd_rhost_wait(pid, &status, err) < 0) {
		rmdir(tmpl);
		goto out;
	}
	if (status != 0) {
		rmdir(tmpl);
		cmd_rhost_unreachable(h, err);
		goto out;
	}
	h->ctl_dir = dv_xstrdup(tmpl);
	ret = 0;
out:
	dv_strv_release(&argv);
	return ret;
}

void cmd_rhost_disconnect(struct cmd_rhost *h)
{
	struct dv_strv argv = { 0 };
	struct dv_error ignored = { 0 };
	dv_autofree char *sock = NULL;
	int status;
	pid_t pid;

	if (!h->ctl_dir)
		return;
	base_argv(h, &argv);
	sock = dv_xasprintf("-oControlPath=%s/c", h->ctl_dir);
	dv_strv_push(&argv, sock);
	dv_strv_push(&argv, "-O");
	dv_strv_push(&argv, "exit");
	dv_strv_push(&argv, "--");
	dv_strv_push(&argv, h->dest);
	pid = cmd_rhost_spawn(argv.v, -1, -1, true, &ignored);
	if (pid > 0)
		cmd_rhost_wait(pid, &status, &ignored);
	dv_strv_release(&argv);
	free(sock);
	sock = dv_xasprintf("%s/c", h->ctl_dir);
	unlink(sock);
	rmdir(h->ctl_dir);
	free(h->ctl_dir);
	h->ctl_dir = NULL;
}

/* The file names of the shared objects this devenv runs with (the loader's
 * list: what it links and what they link), for the probe. */
static int add_lib(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *slash = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
	struct dv_buf *b = data;

	(void)size;
	if (slash && slash[1]) {
		dv_buf_adds(b, " ");
		dv_buf_add_shquoted(b, slash + 1);
	}
	return 0;
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool version_at_least(const char *have, const char *want)
{
	for (;;) {
		char *e1, *e2;
		unsigned long a = strtoul(have, &e1, 10), b = strtoul(want, &e2, 10);

		if (e1 == have || e2 == want)
			return e2 == want;
		if (a != b)
			return a > b;
		if (*e2 != '.')
			return true;
		if (*e1 != '.')
			return false;
		have = e1 + 1;
		want = e2 + 1;
	}
}

/* One line "KEY VALUE" of the probe's output, or NULL. */
static const char *probe_get(const char *out, const char *key, char *val, size_t n)
{
	size_t k = strlen(key);

	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (!strncmp(l, key, k) && (l[k] == ' ' || l[k] == '\n' || !l[k])) {
			const char *v = l[k] == ' ' ? l + k + 1 : l + k;
			size_t len = strcspn(v, "\n");

			snprintf(val, n, "%.*s", (int)len, v);
			return val;
		}
	}
	return NULL;
}

/* Our own binary's identity: size and change time (a rebuilt devenv of the
 * same version is copied again). */
static char *self_ident(struct dv_error *err)
{
	struct stat st;

	if (stat("/proc/self/exe", &st) < 0)
		return dv_err(err, errno, "cannot read /proc/self/exe"), NULL;
	return dv_xasprintf("%lld-%lld.%09ld", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			    st.st_mtim.tv_nsec);
}

static int self_copy(struct cmd_rhost *h, const char *bin, const char *ident, struct dv_error *err)
{
	struct dv_buf c = { 0 };
	dv_autoclose int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int status = 0, ret = -1;

	if (fd < 0)
		return dv_err(err, errno, "cannot read /proc/self/exe");
	/* Atomic: a temporary name beside it, then mv over the old one. */
	dv_buf_adds(&c, "set -e; b=");
	dv_buf_add_shquoted(&c, bin);
	dv_buf_adds(&c, "; mkdir -p \"${b%/*}\"; t=\"$b.tmp.$$\"; cat >\"$t\"; chmod 755 \"$t\"; "
			"mv -f \"$t\" \"$b\"; printf '%s\\n' ");
	dv_buf_add_shquoted(&c, ident);
	dv_buf_adds(&c, " >\"$t.id\"; mv -f \"$t.id\" \"$b.id\"");
	if (!h->quiet)
		fprintf(stderr, "devenv: copying devenv %s to %s:%s\n", DEVENV_VERSION, h->url, bin);
	if (cmd_rhost_run(h, c.s, false, fd, NULL, &status, err) < 0)
		goto out;
	if (status == 255) {
		cmd_rhost_unreachable(h, err);
		goto out;
	}
	if (status != 0) {
		dv_err_plain(err, 0, "cannot copy devenv to %s:%s (exit status %d)", h->url, bin,
			     status);
		goto out;
	}
	ret = 0;
out:
	dv_buf_release(&c);
	return ret;
}

int cmd_rhost_prepare(struct cmd_rhost *h, const char *id, struct dv_error *err)
{
	struct dv_buf script = { 0 }, out = { 0 }, libs = { 0 };
	struct utsname u;
	dv_autofree char *ident = NULL, *bin = NULL;
	char v[4096], missing[1024] = "", safe[1200];
	int status = 0, ret = -1;

	if (uname(&u) < 0)
		return dv_err(err, errno, "uname");
	ident = self_ident(err);
	if (!ident)
		return -1;
	dl_iterate_phdr(add_lib, &libs);
	dv_buf_addf(&script,
		    "echo \"os $(uname -s)\"; echo \"arch $(uname -m)\"; echo \"kernel $(uname "
		    "-r)\"; echo \"home $HOME\"; "
		    "[ -d /sys/fs/cgroup ] || echo 'missing cgroups (/sys/fs/cgroup)'; "
		    "[ -e /proc/self/ns/user ] || echo 'missing user namespaces'; "
		    "if [ \"$(id -u)\" != 0 ]; then "
		    "[ \"$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1)\" "
		    "= 0 ] && echo 'missing unprivileged user namespaces (sysctl "
		    "kernel.unprivileged_userns_clone=0)'; "
		    "[ \"$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 1)\" = 0 ] "
		    "&& echo 'missing user namespaces (sysctl user.max_user_namespaces=0)'; fi; "
		    "for l in%s; do f=; for d in /lib/*-linux-gnu* /usr/lib/*-linux-gnu* /lib64 "
		    "/usr/lib64 /lib /usr/lib /usr/local/lib; do [ -e \"$d/$l\" ] && f=1 && break; "
		    "done; [ -n \"$f\" ] || echo \"missing the shared library $l\"; done; "
		    "p=$(devenv version 2>/dev/null) && echo \"path ${p#devenv }\"; "
		    "b=\"$HOME/.local/share/devenv/bin/devenv-%s\"; [ -x \"$b\" ] && echo \"copy "
		    "$(cat \"$b.id\" 2>/dev/null)\"; "
		    "t=$(cat \"$HOME/.local/share/devenv/checkouts/%s.sync\" 2>/dev/null) && echo "
		    "\"sync $t\"; "
		    "command -v rsync >/dev/null && echo rsync; echo end",
		    libs.s ? libs.s : "", DEVENV_VERSION, id);
	if (cmd_rhost_run(h, script.s, false, -1, &out, &status, err) < 0)
		goto out;
	if (status == 255) {
		cmd_rhost_unreachable(h, err);
		goto out;
	}
	if (status != 0 || !out.s || !probe_get(out.s, "end", v, sizeof(v))) {
		dv_err_plain(err, 0,
			     "%s: the probe (a POSIX shell command) failed with exit status "
			     "%d; the remote account's shell must be sh-compatible",
			     h->url, status);
		goto out;
	}
	/* What the remote says is printed made safe (no escape reaches the
	 * terminal); $HOME with a control character is refused. */
	if (!probe_get(out.s, "os", v, sizeof(v)) || strcmp(v, "Linux")) {
		dv_err_plain(err, 0, "%s runs %s, not Linux; devenv runs envs on Linux only",
			     h->url, dv_str_safe(safe, sizeof(safe), v));
		goto out;
	}
	for (const char *l = out.s; (l = strstr(l, "missing ")); l++) {
		if (l != out.s && l[-1] != '\n')
			continue;
		size_t len = strcspn(l + 8, "\n"), have = strlen(missing);

		snprintf(missing + have, sizeof(missing) - have, "%s%.*s", have ? ", " : "",
			 (int)len, l + 8);
	}
	if (!probe_get(out.s, "home", v, sizeof(v)) || v[0] != '/' || has_ctl(v)) {
		dv_err_plain(err, 0,
			     "%s: the remote account has no absolute $HOME (or one with a control "
			     "character)",
			     h->url);
		goto out;
	}
	h->home = dv_xstrdup(v);
	h->sync_token = probe_get(out.s, "sync", v, sizeof(v)) ? dv_xstrdup(v) : NULL;
	h->has_rsync = probe_get(out.s, "rsync", v, sizeof(v)) != NULL;
	if (probe_get(out.s, "path", v, sizeof(v)) && version_at_least(v, DEVENV_VERSION)) {
		h->devenv = dv_xstrdup("devenv");
		ret = 0;
		goto out;
	}
	if (!probe_get(out.s, "arch", v, sizeof(v)) || strcmp(v, u.machine)) {
		dv_err_plain(err, 0,
			     "%s is %s and this machine is %s: this devenv cannot run there; "
			     "install devenv %s or newer for %s on it",
			     h->url, dv_str_safe(safe, sizeof(safe), v), u.machine, DEVENV_VERSION,
			     safe);
		goto out;
	}
	if (missing[0]) {
		dv_err_plain(err, 0,
			     "%s cannot run this devenv (%s %s, kernel %s): missing %s; install what is "
			     "missing, or devenv itself there",
			     h->url, u.sysname, u.machine, u.release,
			     dv_str_safe(safe, sizeof(safe), missing));
		goto out;
	}
	bin = dv_xasprintf("%s/.local/share/devenv/bin/devenv-%s", h->home, DEVENV_VERSION);
	if (!probe_get(out.s, "copy", v, sizeof(v)) || strcmp(v, ident)) {
		if (self_copy(h, bin, ident, err) < 0)
			goto out;
	}
	h->devenv = dv_steal_ptr(&bin);
	ret = 0;
out:
	dv_buf_release(&script);
	dv_buf_release(&out);
	dv_buf_release(&libs);
	return ret;
}
