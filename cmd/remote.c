/*
 * cmd/remote.c - a command run on another machine (`--host ssh://...`,
 * DEVENV_HOST, config.yaml's `host:`, or the checkout's local record):
 * up, provision, reload, halt, destroy, status, logs and ssh.
 *
 * up (provision, reload): the checkout located and its trust checked HERE
 * (the prompt is on this terminal, before anything runs there), one ssh
 * ControlMaster connection, the probe and self copy (remotehost.c), the
 * checkout sent (remotesync.c) to ~/.local/share/devenv/checkouts/<id>/
 * <folder name> there, then the remote devenv runs the command in it with
 * DEVENV_ALLOW_DIGEST: it runs only when the requests it finds are the ones
 * approved here. Output streams through ssh; the exit status is kept.
 *
 * The local record, <store>/remote/<id>.json: host, remote checkout, the
 * devenv used there, env name, checkout here, the ports forwarder's pid and
 * start time. `ssh` reads only it (one ssh -t, no probe; the checkout's
 * changes sent first over a ControlMaster, none: no connection more);
 * halt and destroy stop the forwarder; destroy removes the record and the
 * remote checkout.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

struct rrec {
	char *host, *dir, *devenv, *name, *checkout;
	long long fwd_pid;
	unsigned long long fwd_start;
	/* the forwards of the last up: the env's port (its container port;
	 * its port on the remote may change from one up to the next) ->
	 * port here, kept so the next up takes the same one here when it is
	 * free */
	unsigned fwd_container[32], fwd_remote[32], fwd_local[32];
	size_t n_fwd;
};

static void rrec_release(struct rrec *r)
{
	free(r->host);
	free(r->dir);
	free(r->devenv);
	free(r->name);
	free(r->checkout);
	memset(r, 0, sizeof(*r));
}

static char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? dv_xstrdup(json_object_get_string(v))
		       : NULL;
}

static int rrec_read(int root_fd, const char *name, struct rrec *r)
{
	dv_autofree char *text = NULL;
	size_t len;
	struct json_object *o, *v;

	memset(r, 0, sizeof(*r));
	if (root_fd < 0 || dv_read_file_at(root_fd, name, &text, &len, &(struct dv_error){ 0 }) < 0)
		return -1;
	o = json_tokener_parse(text);
	if (!o)
		return -1;
	r->host = jstr(o, "host");
	r->dir = jstr(o, "dir");
	r->devenv = jstr(o, "devenv");
	r->name = jstr(o, "name");
	r->checkout = jstr(o, "checkout");
	if (json_object_object_get_ex(o, "fwd_pid", &v))
		r->fwd_pid = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "fwd_start", &v))
		r->fwd_start = (unsigned long long)json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "ports", &v) && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v) && r->n_fwd < 32; i++) {
			struct json_object *p = json_object_array_get_idx(v, i), *x, *y, *c;

			if (json_object_object_get_ex(p, "remote", &x) &&
			    json_object_object_get_ex(p, "here", &y)) {
				r->fwd_container[r->n_fwd] =
					json_object_object_get_ex(p, "container", &c)
						? (unsigned)json_object_get_int(c)
						: 0;
				r->fwd_remote[r->n_fwd] = (unsigned)json_object_get_int(x);
				r->fwd_local[r->n_fwd++] = (unsigned)json_object_get_int(y);
			}
		}
	json_object_put(o);
	if (!r->host || !r->dir || !r->devenv) {
		rrec_release(r);
		return -1;
	}
	return 0;
}

static int rrec_write(int root_fd, const char *id, const struct rrec *r, struct dv_error *err)
{
	struct json_object *o = json_object_new_object();
	dv_autofree char *name = dv_xasprintf("remote/%s.json", id);
	const char *text;
	int ret;

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "host", json_object_new_string(r->host));
	json_object_object_add(o, "dir", json_object_new_string(r->dir));
	json_object_object_add(o, "devenv", json_object_new_string(r->devenv));
	json_object_object_add(o, "name", r->name ? json_object_new_string(r->name) : NULL);
	json_object_object_add(o, "checkout",
			       r->checkout ? json_object_new_string(r->checkout) : NULL);
	json_object_object_add(o, "fwd_pid", json_object_new_int64(r->fwd_pid));
	json_object_object_add(o, "fwd_start", json_object_new_uint64(r->fwd_start));
	{
		struct json_object *a = json_object_new_array();

		for (size_t i = 0; i < r->n_fwd; i++) {
			struct json_object *p = json_object_new_object();

			json_object_object_add(p, "container",
					       json_object_new_int((int)r->fwd_container[i]));
			json_object_object_add(p, "remote",
					       json_object_new_int((int)r->fwd_remote[i]));
			json_object_object_add(p, "here", json_object_new_int((int)r->fwd_local[i]));
			json_object_array_add(a, p);
		}
		json_object_object_add(o, "ports", a);
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	ret = dv_mkdirat_ok(root_fd, "remote", 0700, err) < 0
		      ? -1
		      : dv_write_file_atomic(root_fd, name, text, strlen(text), 0600, err);
	json_object_put(o);
	return ret;
}

/* ---- the ports forwarder (hostnet/sshfwd.c, the harness owner's) ---- */

static void fwd_stop(struct rrec *r)
{
	if (r->fwd_pid > 0)
		hnet_sshfwd_stop((pid_t)r->fwd_pid, r->fwd_start);
	r->fwd_pid = 0;
	r->fwd_start = 0;
}

/* port here: the remote's own when free on this machine's loopback, else
 * one the kernel picks (the same machine in the tests, a port in use). */
static unsigned local_port(unsigned want)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	dv_autoclose int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return want;
	/* As ssh binds its -L ports: a connection of the last forward in
	 * TIME_WAIT on the port must not make us take another one. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	a.sin_port = htons((uint16_t)want);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return want;
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_port = 0;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return want;
	return ntohs(a.sin_port);
}

/* After up there: the env's published ports (`devenv port --json` there)
 * forwarded from this machine's loopback by `devenv-fwd` (ssh -N -L). */
static void fwd_start(const struct cmd_rhost *h, const char *remote_cmd, struct rrec *r)
{
	struct dv_buf out = { 0 };
	struct dv_error err = { 0 };
	struct json_object *a;
	size_t n;
	int status = 0;

	fwd_stop(r);
	if (cmd_rhost_run(h, remote_cmd, false, -1, &out, &status, &err) < 0 || status != 0 ||
	    !out.s) {
		dv_buf_release(&out);
		return;
	}
	a = json_tokener_parse(out.s);
	dv_buf_release(&out);
	n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	if (n) {
		dv_autofree struct hnet_fwd_port *ports = dv_xcalloc(n, sizeof(*ports));
		dv_autofree unsigned *cports = dv_xcalloc(n, sizeof(*cports));
		struct cmd_rhost plain = *h;
		struct dv_strv argv = { 0 };
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			struct json_object *p = json_object_array_get_idx(a, i), *v;
			int hp = json_object_object_get_ex(p, "host_port", &v)
					 ? json_object_get_int(v)
					 : 0;
			int cp = json_object_object_get_ex(p, "container_port", &v)
					 ? json_object_get_int(v)
					 : 0;

			if (hp > 0 && hp < 65536) {
				unsigned want = (unsigned)hp;

				/* The same env port as last time (an older record:
				 * the same remote port) keeps its port here. */
				for (size_t j = 0; j < r->n_fwd; j++)
					if (r->fwd_container[j]
						    ? cp > 0 && r->fwd_container[j] == (unsigned)cp
						    : r->fwd_remote[j] == (unsigned)hp)
						want = r->fwd_local[j];
				cports[k] = cp > 0 && cp < 65536 ? (unsigned)cp : 0;
				ports[k].local_port = local_port(want);
				ports[k++].remote_port = (unsigned)hp;
			}
		}
		/* Its own connection (devenv-fwd outlives this command's). */
		plain.ctl_dir = NULL;
		cmd_rhost_argv(&plain, false, NULL, &argv);
		pid_t pid;
		unsigned long long start;

		if (k && hnet_sshfwd_start((const char *const *)argv.v, ports, k, &pid, &start,
					   &err) < 0) {
			fprintf(stderr,
				"devenv: warning: the env's ports are not forwarded here: %s\n",
				err.msg);
		} else if (k) {
			r->fwd_pid = pid;
			r->fwd_start = start;
			r->n_fwd = 0;
			for (size_t i = 0; i < k && r->n_fwd < 32; i++, r->n_fwd++) {
				r->fwd_container[r->n_fwd] = cports[i];
				r->fwd_remote[r->n_fwd] = ports[i].remote_port;
				r->fwd_local[r->n_fwd] = ports[i].local_port;
			}
			for (size_t i = 0; i < k && !h->quiet; i++)
				fprintf(stderr, "devenv: 127.0.0.1:%u here -> 127.0.0.1:%u on %s\n",
					ports[i].local_port, ports[i].remote_port, h->url);
		}
		dv_strv_release(&argv);
	}
	if (a)
		json_object_put(a);
}

/* ---- where things are ---- */

/* The store as env_locate needs it: its root only, opened by the caller. */
static struct layer_store store_view(const struct dv_ctx *ctx, int root_fd)
{
	return (struct layer_store){ .root_fd = root_fd,
				     .layers_fd = -1,
				     .images_fd = -1,
				     .cache_fd = -1,
				     .tmp_fd = -1,
				     .root = ctx->home };
}

static bool verb_is(const struct cmd *cmd, const char *name)
{
	return !strcmp(cmd->name, name);
}

static bool needs_spec(const struct cmd *cmd)
{
	return verb_is(cmd, "up") || verb_is(cmd, "provision") || verb_is(cmd, "reload");
}

/* The remote command: cd DIR && [DEVENV_ALLOW_DIGEST=D] exec DEVENV
 * [globals] VERB ARGS... (each word quoted). */
static char *remote_command(const struct dv_ctx *ctx, const char *dir, const char *devenv,
			    const char *digest, const char *verb, int argc, char **argv)
{
	struct dv_buf b = { 0 };

	if (dir) {
		dv_buf_adds(&b, "cd ");
		dv_buf_add_shquoted(&b, dir);
		dv_buf_adds(&b, " && ");
	}
	if (digest)
		dv_buf_addf(&b, "DEVENV_ALLOW_DIGEST=%s ", digest);
	dv_buf_adds(&b, "exec ");
	dv_buf_add_shquoted(&b, devenv);
	if (ctx->quiet)
		dv_buf_adds(&b, " -q");
	if (ctx->json)
		dv_buf_adds(&b, " --json");
	if (ctx->env_sel) {
		dv_buf_adds(&b, " -e ");
		dv_buf_add_shquoted(&b, ctx->env_sel);
	}
	dv_buf_adds(&b, " ");
	dv_buf_add_shquoted(&b, verb);
	for (int i = 1; i < argc; i++) {
		dv_buf_adds(&b, " ");
		dv_buf_add_shquoted(&b, argv[i]);
	}
	return dv_buf_steal(&b);
}

/* The checkout of the current folder: its env id, checkout, and the
 * Envfile's folder below it. */
static int locate_here(char id[13], char **checkout, char **rel_dir, struct dv_error *err)
{
	char cwd[PATH_MAX];
	dv_autofree char *path = NULL;
	const char *rel;
	char *slash;

	if (!getcwd(cwd, sizeof(cwd)))
		return dv_err(err, errno, "cannot read the current folder");
	if (envfile_find(cwd, &path, checkout, err) < 0)
		return -1;
	rel = path + strlen(*checkout) + 1;
	prov_env_id(*checkout, rel, id);
	*rel_dir = dv_xstrdup(rel);
	slash = strrchr(*rel_dir, '/');
	if (slash)
		*slash = 0;
	else
		(*rel_dir)[0] = 0;
	return 0;
}

/* The env a remote command means: -e NAME|ID among the records (name or
 * id prefix), else the current folder's checkout. */
static int find_record(const struct dv_ctx *ctx, int root_fd, char id[13], struct rrec *r,
		       bool *found, struct dv_error *err)
{
	dv_autofree char *checkout = NULL, *rel = NULL;

	*found = false;
	if (ctx->env_sel) {
		int fd = root_fd < 0 ? -1
				     : openat(root_fd, "remote", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		dv_autoclosedir DIR *d = fd < 0 ? NULL : dv_opendir_fd(fd);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			dv_autofree char *name = NULL;

			if (!dv_str_endswith(de->d_name, ".json") || strlen(de->d_name) != 17)
				continue;
			name = dv_xasprintf("remote/%s", de->d_name);
			if (rrec_read(root_fd, name, r) < 0)
				continue;
			if ((r->name && !strcmp(r->name, ctx->env_sel)) ||
			    !strncmp(de->d_name, ctx->env_sel, strlen(ctx->env_sel))) {
				snprintf(id, 13, "%.12s", de->d_name);
				*found = true;
				return 0;
			}
			rrec_release(r);
		}
		return 0;
	}
	if (locate_here(id, &checkout, &rel, err) < 0)
		return -1;
	{
		dv_autofree char *name = dv_xasprintf("remote/%s.json", id);

		*found = rrec_read(root_fd, name, r) == 0;
	}
	return 0;
}

char *cmd_remote_recorded(const struct dv_ctx *ctx)
{
	dv_autofree char *dir = dv_xasprintf("%s/remote", ctx->home);
	dv_autoclose int root_fd = -1;
	struct rrec r;
	char id[13];
	bool found = false;
	char *host;

	/* One stat when no env was ever brought up elsewhere. */
	if (access(dir, F_OK) < 0)
		return NULL;
	root_fd = open(ctx->home, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (find_record(ctx, root_fd, id, &r, &found, &(struct dv_error){ 0 }) < 0 || !found)
		return NULL;
	/* An env of the same checkout (or name) here wins. */
	{
		struct layer_store st = store_view(ctx, root_fd);
		struct env env = { .lock_fd = -1 };
		bool local = env_locate(ctx, &st, false, &env, &(struct dv_error){ 0 }) == 0 &&
			     env.has_state;

		env_release(&env);
		if (local) {
			rrec_release(&r);
			return NULL;
		}
	}
	host = dv_steal_ptr(&r.host);
	rrec_release(&r);
	return host;
}

/* The remote checkout's root (the sync's DIR) in r->dir, <HOME>/.local/
 * share/devenv/checkouts/<id>/<folder>[/<Envfile's folder>]: its length,
 * and that of <HOME>; 0 when r->dir is not of that form. */
static size_t sync_root(const struct rrec *r, const char *id, size_t *home_len)
{
	dv_autofree char *mid = dv_xasprintf("/.local/share/devenv/checkouts/%s/", id);
	const char *at = strstr(r->dir, mid), *end;

	if (!at || at == r->dir || !at[strlen(mid)])
		return 0;
	*home_len = (size_t)(at - r->dir);
	end = strchr(at + strlen(mid), '/');
	return end ? (size_t)(end - r->dir) : strlen(r->dir);
}

/* Before the session: the checkout's changes since the last sync sent
 * (a local env's checkout is mounted: an edit is seen at once). Nothing
 * changed: no connection more than the session's own. */
static int ssh_sync(struct cmd_rhost *h, int root_fd, const char *id, const struct rrec *r,
		    struct dv_error *err)
{
	size_t home_len = 0, len;
	dv_autofree char *dir = NULL;
	bool quiet = h->quiet;
	int ret;

	len = r->checkout ? sync_root(r, id, &home_len) : 0;
	if (!len || access(r->checkout, F_OK) < 0)
		return 0; /* a record of an older devenv, or no checkout here */
	dir = dv_xstrndup(r->dir, len);
	h->home = dv_xstrndup(r->dir, home_len);
	h->devenv = dv_xstrdup(r->devenv);
	h->quiet = true; /* a session's output is its command's */
	ret = cmd_remote_sync_changes(h, root_fd, id, r->checkout, dir, err);
	h->quiet = quiet;
	return ret;
}

/* `devenv ssh` there: one `ssh -t` (a pty when ours is one), no probe;
 * over the ControlMaster when ssh_sync opened one. */
static int remote_ssh(struct dv_ctx *ctx, struct cmd_rhost *h, int root_fd, const char *id,
		      const struct rrec *r, int argc, char **argv, struct dv_error *err)
{
	bool tty = isatty(0) && isatty(1);
	dv_autofree char *c = NULL;
	struct dv_strv sargv = { 0 };
	const char *sel = ctx->env_sel;
	int status = 0;
	pid_t pid;

	if (ssh_sync(h, root_fd, id, r, err) < 0)
		return -1;
	ctx->env_sel = NULL; /* the remote checkout's folder says which env */
	c = remote_command(ctx, r->dir, r->devenv, NULL, "ssh", argc, argv);
	ctx->env_sel = sel;
	cmd_rhost_argv(h, tty, c, &sargv);
	pid = cmd_rhost_spawn(sargv.v, -1, -1, false, err);
	dv_strv_release(&sargv);
	if (pid < 0 || cmd_rhost_wait(pid, &status, err) < 0)
		return -1;
	err->status = status;
	return status ? -2 : 0;
}

static int ensure_store(struct dv_ctx *ctx, int *root_fd, struct dv_error *err)
{
	if ((!ctx->home && cmd_store_root(ctx, err) < 0) || dv_mkdir_p(ctx->home, 0700, err) < 0)
		return -1;
	*root_fd = open(ctx->home, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*root_fd < 0)
		return dv_err(err, errno, "cannot open the store '%s'", ctx->home);
	return 0;
}

/* up/provision/reload: locate, trust here, digest for there. */
static int check_trust(struct dv_ctx *ctx, int root_fd, struct env *env, char digest[65],
		       struct dv_error *err)
{
	struct layer_store st = store_view(ctx, root_fd);
	struct prov_requests r = { 0 };
	const char *sel = ctx->env_sel;
	int ret;

	digest[0] = 0;
	ctx->env_sel = NULL;
	ret = env_locate(ctx, &st, true, env, err);
	ctx->env_sel = sel;
	if (ret < 0)
		return -1;
	if (prov_trust_check(ctx, &st, env->id, &env->spec, err) < 0)
		return -1;
	/* Always passed, that of no request too: the copy there is the env's
	 * to write (its Envfile is not sent again while unchanged here), and
	 * a request it added must be refused there, never asked about. */
	prov_trust_requests(&env->spec, &r);
	prov_trust_digest(&r, digest);
	prov_requests_release(&r);
	return 0;
}

int cmd_remote_main(struct dv_ctx *ctx, const struct cmd *cmd, const char *host, int argc,
		    char **argv, struct dv_error *err)
{
	struct cmd_rhost h;
	struct env env = { .lock_fd = -1 };
	struct rrec r = { 0 };
	dv_autoclose int root_fd = -1;
	dv_autofree char *checkout = NULL, *rel = NULL, *c = NULL, *pc = NULL;
	char id[13] = "", digest[65] = "";
	bool found = false, tty = isatty(0) && isatty(1);
	int status = 0, ret = -1;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1; /* the local --help */
	if (cmd_rhost_parse(host, &h, err) < 0)
		return -1;
	h.quiet = ctx->quiet || ctx->json;
	/* ^C (or a closed terminal) ends ssh, which is in our process group;
	 * we outlive it to close the ControlMaster (its own session) and
	 * report. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (ensure_store(ctx, &root_fd, err) < 0)
		goto out;
	if (needs_spec(cmd)) {
		if (check_trust(ctx, root_fd, &env, digest, err) < 0)
			goto out;
		snprintf(id, sizeof(id), "%s", env.id);
		if (locate_here(id, &checkout, &rel, err) < 0)
			goto out;
		{
			dv_autofree char *name = dv_xasprintf("remote/%s.json", id);

			found = rrec_read(root_fd, name, &r) == 0;
		}
	} else if (find_record(ctx, root_fd, id, &r, &found, err) < 0) {
		goto out;
	}
	if (found && strcmp(r.host, h.url) && !needs_spec(cmd)) {
		dv_err_plain(err, 0, "env %s runs on %s, not %s; give --host %s (or none)", id,
			     r.host, h.url, r.host);
		goto out;
	}
	/* One machine per checkout: the other one's env would be orphaned. */
	if (found && strcmp(r.host, h.url)) {
		dv_err_plain(err, 0,
			     "this checkout's env is on %s; 'devenv destroy' it there first to "
			     "bring it up on %s (or, that machine gone, remove %s/remote/%s.json)",
			     r.host, h.url, ctx->home, id);
		goto out;
	}
	if (verb_is(cmd, "ssh")) {
		if (!found) {
			dv_err_plain(err, ENOENT,
				     "no env of this checkout was brought up on %s from here; "
				     "'devenv up --host %s' does",
				     h.url, h.url);
			goto out;
		}
		ret = remote_ssh(ctx, &h, root_fd, id, &r, argc, argv, err);
		goto out;
	}
	if (!needs_spec(cmd) && !found && !ctx->env_sel) {
		dv_err_plain(err, ENOENT,
			     "no env of this checkout was brought up on %s from here; 'devenv up "
			     "--host %s' does",
			     h.url, h.url);
		goto out;
	}
	if (cmd_rhost_connect(&h, err) < 0 || cmd_rhost_prepare(&h, id[0] ? id : "none", err) < 0)
		goto out;
	if (needs_spec(cmd)) {
		const char *slash = strrchr(checkout, '/');
		dv_autofree char *base =
			dv_xasprintf("%s/.local/share/devenv/checkouts/%s", h.home, id);
		dv_autofree char *dir =
			dv_xasprintf("%s/%s", base, slash && slash[1] ? slash + 1 : "checkout");

		free(r.host);
		free(r.devenv);
		free(r.checkout);
		free(r.name);
		r.host = dv_xstrdup(h.url);
		r.devenv = dv_xstrdup(h.devenv);
		r.checkout = dv_xstrdup(checkout);
		r.name = dv_xstrdup(env.spec.name ? env.spec.name : id);
		if (!r.dir || !dv_str_startswith(r.dir, dir))
			r.dir = (free(r.dir),
				 rel[0] ? dv_xasprintf("%s/%s", dir, rel) : dv_xstrdup(dir));
		/* Recorded before anything runs there: a dropped connection
		 * leaves a record halt, destroy and the next up find. */
		if (rrec_write(root_fd, id, &r, err) < 0 ||
		    cmd_remote_sync(&h, root_fd, id, checkout, dir, err) < 0)
			goto out;
	} else {
		free(r.devenv);
		r.devenv = dv_xstrdup(h.devenv);
	}
	c = remote_command(ctx, found || needs_spec(cmd) ? r.dir : NULL, h.devenv,
			   digest[0] ? digest : NULL, cmd->name, argc, argv);
	if (found && ctx->env_sel && !needs_spec(cmd)) {
		const char *sel = ctx->env_sel;

		free(c);
		ctx->env_sel = NULL;
		c = remote_command(ctx, r.dir, h.devenv, NULL, cmd->name, argc, argv);
		ctx->env_sel = sel;
	}
	if (cmd_rhost_run(&h, c, tty, -1, NULL, &status, err) < 0)
		goto out;
	if (status == 255) {
		cmd_rhost_unreachable(&h, err);
		goto out;
	}
	if (found || needs_spec(cmd)) {
		if ((verb_is(cmd, "up") || verb_is(cmd, "reload") || verb_is(cmd, "provision")) &&
		    status == 0) {
			struct dv_ctx q = { .json = true };

			pc = remote_command(&q, r.dir, h.devenv, NULL, "port", 1, argv);
			fwd_start(&h, pc, &r);
			rrec_write(root_fd, id, &r, &(struct dv_error){ 0 });
		} else if ((verb_is(cmd, "halt") || verb_is(cmd, "destroy")) && status == 0) {
			fwd_stop(&r);
			rrec_write(root_fd, id, &r, &(struct dv_error){ 0 });
		}
		if (verb_is(cmd, "destroy") && status == 0) {
			/* The remote copy of the checkout goes with the env. */
			struct dv_buf rm = { 0 };
			dv_autofree char *base =
				dv_xasprintf("%s/.local/share/devenv/checkouts/%s", h.home, id);
			dv_autofree char *name = dv_xasprintf("remote/%s.json", id);
			dv_autofree char *man = dv_xasprintf("remote/%s.manifest", id);
			int st2 = 0;

			dv_buf_adds(&rm, "rm -rf -- ");
			dv_buf_add_shquoted(&rm, base);
			dv_buf_adds(&rm, " ");
			dv_buf_add_shquoted(&rm, base);
			dv_buf_adds(&rm, ".sync");
			/* The env is gone there: so is its record here, even when
			 * a file there (one the env's other users made) stays. */
			if (cmd_rhost_run(&h, rm.s, false, -1, NULL, &st2, err) < 0 || st2 != 0)
				fprintf(stderr,
					"devenv: warning: cannot remove the env's checkout on %s: "
					"remove '%s' there\n",
					h.url, base);
			unlinkat(root_fd, name, 0);
			unlinkat(root_fd, man, 0);
			dv_buf_release(&rm);
		}
	}
	err->status = status;
	ret = status ? -2 : 0;
out:
	cmd_rhost_release(&h);
	rrec_release(&r);
	env_release(&env);
	return ret;
}

void cmd_remote_ls(int root_fd, struct json_object *arr, struct dv_strv *rows)
{
	int fd = root_fd < 0 ? -1 : openat(root_fd, "remote", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dv_autoclosedir DIR *d = fd < 0 ? NULL : dv_opendir_fd(fd);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		dv_autofree char *name = NULL;
		struct rrec r;
		char id[13];

		if (!dv_str_endswith(de->d_name, ".json") || strlen(de->d_name) != 17)
			continue;
		name = dv_xasprintf("remote/%s", de->d_name);
		if (rrec_read(root_fd, name, &r) < 0)
			continue;
		snprintf(id, sizeof(id), "%.12s", de->d_name);
		if (arr) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_string(id));
			json_object_object_add(o, "name",
					       r.name ? json_object_new_string(r.name) : NULL);
			json_object_object_add(o, "state", json_object_new_string("remote"));
			json_object_object_add(o, "host", json_object_new_string(r.host));
			json_object_object_add(o, "remote_checkout", json_object_new_string(r.dir));
			json_object_object_add(o, "checkout",
					       r.checkout ? json_object_new_string(r.checkout)
							  : NULL);
			json_object_array_add(arr, o);
		} else {
			struct dv_buf b = { 0 };
			char safe[256];

			dv_buf_addf(&b, "%-12s  %-16s  %-8s  %-5s  %-10s  %-28s  %s  %s", id,
				    dv_str_safe(safe, sizeof(safe), r.name ? r.name : "?"),
				    "remote", "-", "-", "-", r.checkout ? r.checkout : "-", r.host);
			dv_strv_push_owned(rows, dv_buf_steal(&b));
		}
		rrec_release(&r);
	}
}
