/*
 * cmd/sshd.c - ssh-config and ssh-proxy: the env as an ssh host
 * (devenv-NAME) for ssh, scp, rsync and editors, with no port opened.
 *
 * ssh-config prints (or, with --install, writes to ~/.ssh/devenv_config
 * and includes from ~/.ssh/config, once) a Host entry per env whose
 * ProxyCommand is `devenv ssh-proxy NAME`, and writes each env's host key
 * to ~/.ssh/devenv_known_hosts, which the entries name: ssh checks the
 * key. ssh-proxy runs the env's sshd -i over its stdio (env/sshd.c).
 *
 * Run by root for a user of sudo (SUDO_UID), the entries call
 * `sudo -n devenv ssh-proxy`, a comment gives the sudoers rule, and the
 * user's files are written by a child that has become that user.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* Root acting for a user of sudo: that user's ids, else none. */
static bool sudo_user(uid_t *uid, gid_t *gid)
{
	const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");
	char *end;
	unsigned long n;

	if (geteuid() != 0 || !u || !g || !*u || !*g)
		return false;
	n = strtoul(u, &end, 10);
	if (*end || n == 0 || n > UINT_MAX - 1)
		return false;
	*uid = (uid_t)n;
	n = strtoul(g, &end, 10);
	if (*end || n > UINT_MAX - 1)
		return false;
	*gid = (gid_t)n;
	return true;
}

/* The home whose ~/.ssh we read and write: sudo's user's, else $HOME,
 * else the passwd entry's. */
static char *user_home(struct dv_error *err)
{
	const char *h = getenv("HOME");
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (sudo_user(&uid, &gid)) {
		pw = getpwuid(uid);
		if (pw && pw->pw_dir[0] == '/')
			return dv_xstrdup(pw->pw_dir);
	} else if (h && h[0] == '/') {
		return dv_xstrdup(h);
	} else if ((pw = getpwuid(getuid())) && pw->pw_dir[0] == '/') {
		return dv_xstrdup(pw->pw_dir);
	}
	dv_err(err, 0, "cannot tell your home folder: set HOME");
	return NULL;
}

/* The keys to authorise: the .pub files of home/.ssh and the agent's.
 * Root for a user of sudo reads them as that user, in a child of theirs:
 * never root's eyes on files through links in their home. */
static int user_keys(const char *home, struct dv_buf *keys, struct dv_error *err)
{
	struct dv_error none = { 0 };
	uid_t uid;
	gid_t gid;
	int p[2], st;
	pid_t pid;

	if (!sudo_user(&uid, &gid)) {
		int files = env_sshd_user_keys(home, keys, &none);

		if (!env_sshd_agent_keys(keys) && files < 0)
			goto nokeys;
		return 0;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return dv_err(err, errno, "fork");
	}
	if (pid == 0) {
		struct dv_buf b = { 0 };

		close(p[0]);
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(1);
		env_sshd_user_keys(home, &b, &none);
		_exit(b.s && dv_write_full(p[1], b.s, b.len, &none) < 0 ? 1 : 0);
	}
	close(p[1]);
	{
		dv_autofree char *text = NULL;
		size_t len = 0;

		if (dv_read_all(p[0], &text, &len, &none) == 0)
			env_sshd_keys_filter(text, len, keys); /* checked again, on our side */
	}
	close(p[0]);
	if (dv_waitpid(pid, &st, err) < 0)
		return -1;
	if (keys->len)
		return 0;
nokeys:
	return dv_err_plain(err, ENOENT,
			    "no public key to authorise: none in %s/.ssh/*.pub nor in your ssh "
			    "agent; make one with ssh-keygen",
			    home);
}

static int proxy_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)c;
	(void)arg;
	(void)data;
	(void)err;
	return -1;
}

int cmd_ssh_proxy(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		  struct dv_error *err)
{
	struct opt_spec os = { NULL, NULL, proxy_opt, NULL };
	struct dv_ctx one = *ctx;
	struct env env = { .lock_fd = -1 };
	struct dv_strv envp = { 0 };
	struct dv_buf keys = { 0 }, conf = { 0 };
	dv_autofree char *home = NULL;
	dv_autofree char *priv = NULL;
	dv_autofree char *pub = NULL;
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), status = 0, ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (call->argc - oi != 1)
		return dv_err_usage(err, "usage: devenv ssh-proxy NAME (ssh's ProxyCommand, as "
					 "'devenv ssh-config' writes it)");
	/* Nothing it runs on the host gains a privilege (ssh-keygen). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return dv_err(err, errno, "cannot set no_new_privs");
	one.env_sel = call->argv[oi];
	one.tty_in = false; /* ssh's stream, never a terminal */
	if (env_locate(&one, st, false, &env, err) < 0)
		goto out;
	if (!env.has_state) {
		dv_err_plain(err, ESRCH, "env %s was never brought up; 'devenv up' creates it",
			     env.id);
		goto out;
	}
	if (env_checkout_check(&env.state, err) < 0 || !(home = user_home(err)))
		goto out;
	/* ~/.ssh's .pub files, and the keys of the agent ssh runs us with. */
	if (user_keys(home, &keys, err) < 0 || env_sshd_hostkey(st, env.id, &priv, &pub, err) < 0)
		goto out;
	env_sshd_config(&env.state, &conf);
	dv_strv_push(&envp, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	dv_strv_push_owned(&envp, dv_xasprintf("DEVENV_SSHD_HOST_KEY=%s", priv));
	dv_strv_push_owned(&envp, dv_xasprintf("DEVENV_SSHD_KEYS=%s", keys.s));
	dv_strv_push_owned(&envp, dv_xasprintf("DEVENV_SSHD_CONFIG=%s", conf.s));
	char *argv[] = { "/bin/sh", "-c", (char *)env_sshd_script, NULL };
	/* As the env's root, named: joining a keep-id env's user namespace
	 * makes us its user otherwise. In the env's own mount namespace
	 * (owner NULL): sshd's sessions see the checkout as the env's
	 * processes do. */
	struct ctr_exec x = { .argv = argv,
			      .envp = envp.v,
			      .cwd = "/",
			      .tee_fd = -1,
			      .user = "root",
			      .confine_relay = true };
	struct ctr_sandbox sb = { 0 };
	if (ctr_sandbox_load(env.state.seccomp, env.state.caps, &sb, err) < 0)
		goto out;
	sb.nproc = prov_nproc_fallback(&env.state.limits, &env.state.cgroups);
	ctr_sandbox_no_audit(&sb); /* else a terminal session ends at once */
	x.sandbox = &sb;
	int xr = ctr_exec(&env.state.init, &env.state.cgroups, &x, &status, err);
	ctr_sandbox_release(&sb);
	if (xr < 0) {
		cmd_exec_failed(&env.state, err);
		goto out;
	}
	if (status == ENV_SSHD_NO_SSHD || status == 127) {
		dv_err_plain(err, ENOENT,
			     "env '%s' has no sshd: add the package openssh-server to its image "
			     "(a provisioning step: apt-get install -y openssh-server)",
			     env.state.name);
		goto out;
	}
	if (status == ENV_SSHD_NO_FILES) {
		dv_err_plain(err, EIO, "env '%s': cannot write sshd's files in %s", env.state.name,
			     ENV_SSHD_RUNDIR);
		goto out;
	}
	err->status = status;
	ret = status == 0 ? 0 : -2;
out:
	dv_buf_release(&keys);
	dv_buf_release(&conf);
	dv_strv_release(&envp);
	env_release(&env);
	return ret;
}

/* 'word' for sh, with %% for ssh's own %-expansion of ProxyCommand. */
static void sh_word(struct dv_buf *b, const char *s)
{
	dv_buf_adds(b, "'");
	for (; *s; s++)
		dv_buf_adds(b, *s == '\'' ? "'\\''" : *s == '%' ? "%%" : (char[]){ *s, 0 });
	dv_buf_adds(b, "'");
}

/* A path ssh's config reads back as one word. */
static int cfg_path_ok(const char *p, struct dv_error *err)
{
	for (const char *s = p; *s; s++)
		if (*s == '"' || *s == '%' || *s == '\\' || (unsigned char)*s < 0x20)
			return dv_err_plain(err, EINVAL,
					    "'%s' cannot be written in ssh's config (a quote, %%, "
					    "backslash or control character); set HOME to another "
					    "folder",
					    p);
	return 0;
}

struct cfg_opts {
	bool install;
};

static int cfg_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)arg;
	(void)err;
	if (c != 'I')
		return -1;
	((struct cfg_opts *)data)->install = true;
	return 0;
}

/* What ssh-config writes in the user's ~/.ssh. */
struct user_files {
	const char *home;
	const char *known;  /* devenv_known_hosts' new lines */
	const char *config; /* devenv_config's text; NULL: print only */
};

static int read_opt(int dirfd, const char *name, char **text, size_t *len, struct dv_error *err)
{
	*text = NULL;
	*len = 0;
	if (dv_read_file_at(dirfd, name, text, len, err) == 0)
		return 0;
	if (err->errnum != ENOENT)
		return -1;
	*err = (struct dv_error){ 0 };
	return 0;
}

static int write_user_files(const struct user_files *uf, struct dv_error *err)
{
	dv_autofree char *dir = dv_xasprintf("%s/.ssh", uf->home);
	dv_autofree char *old = NULL;
	dv_autoclose int fd = -1;
	struct dv_buf b = { 0 };
	struct dv_strv lines = { 0 };
	size_t len;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return dv_err(err, errno, "cannot create '%s'", dir);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return dv_err(err, errno, "cannot open '%s'", dir);
	for (const char *s = uf->known; *s;) {
		size_t n = strcspn(s, "\n");

		dv_strv_push_owned(&lines, dv_xstrndup(s, n));
		s += n + (s[n] == '\n');
	}
	if (read_opt(fd, "devenv_known_hosts", &old, &len, err) < 0)
		goto fail;
	env_sshd_known_merge(old ? old : "", len, &lines, &b);
	if (dv_write_file_atomic(fd, "devenv_known_hosts", b.s ? b.s : "", b.len, 0644, err) < 0)
		goto fail;
	dv_buf_release(&b);
	if (!uf->config) {
		dv_strv_release(&lines);
		return 0;
	}
	if (dv_write_file_atomic(fd, "devenv_config", uf->config, strlen(uf->config), 0600, err) < 0)
		goto fail;
	/* ~/.ssh/config: the user's, perhaps a link into their dotfiles:
	 * the file it leads to gets the line, its mode kept. */
	{
		dv_autofree char *cfg = dv_xasprintf("%s/config", dir);
		dv_autofree char *real = realpath(cfg, NULL);
		dv_autofree char *path = dv_xasprintf("%s/devenv_config", dir);
		const char *target = real ? real : cfg;
		dv_autofree char *rdir =
			dv_xstrndup(target, (size_t)(strrchr(target, '/') - target));
		dv_autoclose int rfd = open(rdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat sb;
		mode_t mode = 0600;

		if (rfd < 0) {
			dv_err(err, errno, "cannot open '%s'", rdir);
			goto fail;
		}
		free(old);
		old = NULL;
		if (read_opt(rfd, strrchr(target, '/') + 1, &old, &len, err) < 0)
			goto fail;
		if (old && fstatat(rfd, strrchr(target, '/') + 1, &sb, 0) == 0)
			mode = sb.st_mode & 07777;
		r = env_sshd_include(old ? old : "", len, path, &b);
		if (r > 0 &&
		    dv_write_file_atomic(rfd, strrchr(target, '/') + 1, b.s, b.len, mode, err) < 0)
			goto fail;
	}
	dv_buf_release(&b);
	dv_strv_release(&lines);
	return 0;
fail:
	dv_buf_release(&b);
	dv_strv_release(&lines);
	return -1;
}

/* As the user of sudo, in a child of that user's ids: never root's
 * writes through a link the user made in their home. */
static int write_as_user(const struct user_files *uf, struct dv_error *err)
{
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int st;

	if (!sudo_user(&uid, &gid))
		return write_user_files(uf, err);
	fflush(NULL);
	if ((pid = fork()) < 0)
		return dv_err(err, errno, "fork");
	if (pid == 0) {
		struct dv_error e = { 0 };

		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0) {
			dv_err(&e, errno, "cannot become uid %u", (unsigned)uid);
			dv_err_print(&e);
			_exit(1);
		}
		if (write_user_files(uf, &e) < 0) {
			dv_err_print(&e);
			_exit(1);
		}
		_exit(0);
	}
	if (dv_waitpid(pid, &st, err) < 0)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		dv_err_plain(err, EIO, "could not write your ~/.ssh files as uid %u", (unsigned)uid);
		err->status = 1;
		return -1;
	}
	return 0;
}

/* One env's Host entry. */
static void host_entry(struct dv_buf *b, const struct env_record *s, const char *proxy,
		       const char *known)
{
	dv_buf_addf(b,
		    "Host devenv-%s\n"
		    "\tHostName devenv-%s\n"
		    "\tUser %s\n"
		    "\tProxyCommand %s\n"
		    "\tHostKeyAlias devenv-%s\n"
		    "\tUserKnownHostsFile \"%s\"\n"
		    "\tStrictHostKeyChecking yes\n"
		    "\tCheckHostIP no\n\n",
		    s->name, s->name, s->user && s->user[0] ? s->user : "root", proxy, s->name,
		    known);
}

int cmd_ssh_config(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		   struct dv_error *err)
{
	struct cfg_opts co = { 0 };
	struct opt_spec os = { NULL, NULL, cfg_opt, &co };
	struct env_record *all = NULL;
	size_t n = 0;
	struct env one = { .lock_fd = -1 };
	struct dv_buf out = { 0 }, known = { 0 }, proxy = { 0 };
	dv_autofree char *home = NULL;
	dv_autofree char *exe = NULL;
	dv_autofree char *kh = NULL;
	bool helped, sudo;
	uid_t suid;
	gid_t sgid;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (call->argc - oi > 1 || (co.install && call->argc - oi == 1))
		return dv_err_usage(err, "usage: devenv ssh-config [NAME] | --install (which "
					 "writes every env's entry)");
	if (!(home = user_home(err)) || cfg_path_ok(home, err) < 0)
		return -1;
	if (!(exe = realpath("/proc/self/exe", NULL)))
		return dv_err(err, errno, "cannot tell devenv's own path");
	if (cfg_path_ok(exe, err) < 0)
		return -1;
	kh = dv_xasprintf("%s/.ssh/devenv_known_hosts", home);
	if (call->argc - oi == 1) {
		struct dv_ctx c1 = *ctx;

		c1.env_sel = call->argv[oi];
		if (env_locate(&c1, st, false, &one, err) < 0)
			goto out;
		if (!one.has_state) {
			dv_err_plain(err, ESRCH,
				     "env %s was never brought up; 'devenv up' creates it", one.id);
			goto out;
		}
		all = &one.state;
		n = 1;
	} else if (env_list(st, NULL, &all, &n, err) < 0) {
		goto out;
	}
	sudo = sudo_user(&suid, &sgid);
	if (sudo) {
		struct passwd *pw = getpwuid(suid);

		dv_buf_addf(&out,
			    "# The store is root's: ssh runs ssh-proxy with sudo. Allow it (visudo -f "
			    "/etc/sudoers.d/devenv-ssh):\n"
			    "#   %s ALL=(root) NOPASSWD: %s ssh-proxy *\n\n",
			    pw ? pw->pw_name : "USER", exe);
		/* Never a DEVENV_HOME through sudo: who chose it would choose
		 * what root's devenv reads. */
		if (strcmp(ctx->home, "/var/lib/devenv"))
			dv_buf_adds(&out, "# (sudo resets DEVENV_HOME: these entries reach root's "
					  "store /var/lib/devenv)\n\n");
		dv_buf_adds(&proxy, "sudo -n ");
	} else if (ctx->rootless || strcmp(ctx->home, "/var/lib/devenv")) {
		/* ssh may run it with another environment (an editor's). */
		dv_buf_adds(&proxy, "env DEVENV_HOME=");
		sh_word(&proxy, ctx->home);
		dv_buf_adds(&proxy, " ");
	}
	sh_word(&proxy, exe);
	dv_buf_adds(&proxy, " ssh-proxy");
	for (size_t i = 0; i < n; i++) {
		dv_autofree char *priv = NULL;
		dv_autofree char *pub = NULL;
		struct dv_buf p = { 0 };

		if (env_sshd_hostkey(st, all[i].id, &priv, &pub, err) < 0)
			goto out;
		dv_buf_addf(&known, "devenv-%s %s\n", all[i].name, pub);
		dv_buf_add(&p, proxy.s, proxy.len);
		dv_buf_adds(&p, " ");
		sh_word(&p, all[i].name);
		host_entry(&out, &all[i], p.s, kh);
		dv_buf_release(&p);
	}
	{
		struct user_files uf = { home, known.s ? known.s : "",
					 co.install ? (out.s ? out.s : "") : NULL };

		if (write_as_user(&uf, err) < 0)
			goto out;
	}
	if (co.install)
		printf("devenv: wrote %zu env%s to %s/.ssh/devenv_config, included from "
		       "%s/.ssh/config; 'ssh devenv-NAME' reaches one\n",
		       n, n == 1 ? "" : "s", home, home);
	else if (out.s)
		fputs(out.s, stdout);
	ret = 0;
out:
	if (all != &one.state) {
		for (size_t i = 0; i < n; i++)
			env_record_release(&all[i]);
		free(all);
	}
	env_release(&one);
	dv_buf_release(&out);
	dv_buf_release(&known);
	dv_buf_release(&proxy);
	return ret;
}
