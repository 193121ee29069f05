/* registry/creds.c - registry credentials where the docker client keeps them.
 *
 * $DOCKER_CONFIG/config.json, else ~/.docker/config.json. For a host,
 * docker looks in this order, and so do we:
 *   credHelpers.<host>  a credential helper for that registry,
 *   credsStore          a helper for every registry,
 *   auths.<host>.auth   base64("user:pass") in the file itself.
 * A helper is the program docker-credential-NAME on PATH, speaking
 * docker's protocol: `get` reads the server's name on stdin and prints
 * {"ServerURL","Username","Secret"}; `store` reads that JSON; `erase` reads
 * the name. (An identity token, Username "<token>", is an OAuth refresh
 * token for Docker Hub's login flow; we cannot use it and say so.) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define HELPER_OUT_MAX (64u << 10)

char *reg_docker_config_dir(void)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (dir && *dir)
		return dv_xstrdup(dir);
	if (home && *home)
		return dv_xasprintf("%s/.docker", home);
	return NULL;
}

const char *reg_auths_key(const char *host)
{
	return strcmp(host, "docker.io") ? host : "https://index.docker.io/v1/";
}

char *reg_base64(const char *s)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), i, o = 0;
	const unsigned char *p = (const unsigned char *)s;
	char *out = dv_xmalloc(4 * ((n + 2) / 3) + 1);

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return out;
}

/* config.json as JSON, or NULL when there is none or it is not an object. */
static struct json_object *read_config(void)
{
	dv_autofree char *dir = reg_docker_config_dir(), *path = NULL, *text = NULL;
	struct json_object *o;
	size_t len;

	if (!dir)
		return NULL;
	path = dv_xasprintf("%s/config.json", dir);
	if (dv_read_file_at(AT_FDCWD, path, &text, &len, &(struct dv_error){ 0 }) < 0)
		return NULL;
	o = json_tokener_parse(text);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static const char *str_at(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The helper config.json names for host, or NULL. Only names that make a
 * plain program name: no path, nothing a shell would read. */
static const char *helper_for(struct json_object *cfg, const char *host)
{
	struct json_object *helpers;
	const char *name = NULL;

	if (json_object_object_get_ex(cfg, "credHelpers", &helpers))
		name = str_at(helpers, reg_auths_key(host));
	if (!name)
		name = str_at(cfg, "credsStore");
	if (!name || !name[0] ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(name))
		return NULL;
	return name;
}

/* Run docker-credential-NAME ACTION with input on its stdin; its stdout
 * into *out. The helper's own exit status into *status. Its stdin is a
 * socket, so that a helper that does not read it cannot kill us with
 * SIGPIPE. */
static int run_helper(const char *name, const char *action, const char *input, char **out,
		      int *status, struct dv_error *err)
{
	dv_autofree char *prog = dv_xasprintf("docker-credential-%s", name);
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, ws, exec_errno = 0,
	    waited;
	struct dv_error wait_err = { 0 };
	struct dv_buf b = { 0 };
	char buf[4096];
	ssize_t n;
	pid_t pid = -1;

	/* errp carries the child's errno when exec fails; it closes on exec. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		int e = errno;

		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			if (outp[i] >= 0)
				close(outp[i]);
			if (errp[i] >= 0)
				close(errp[i]);
		}
		return dv_err(err, e, "cannot run '%s'", prog);
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (dup2(in[1], 0) >= 0 && dup2(outp[1], 1) >= 0 && (null < 0 || dup2(null, 2) >= 0))
			execlp(prog, prog, action, (char *)NULL);
		exec_errno = errno;
		(void)!write(errp[1], &exec_errno, sizeof(exec_errno));
		_exit(127);
	}
	close(in[1]);
	close(outp[1]);
	close(errp[1]);
	(void)!send(in[0], input, strlen(input), MSG_NOSIGNAL);
	shutdown(in[0], SHUT_WR);
	while ((n = read(outp[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && b.len < HELPER_OUT_MAX)
			dv_buf_add(&b, buf, (size_t)n);
	if (read(errp[0], &exec_errno, sizeof(exec_errno)) != sizeof(exec_errno))
		exec_errno = 0;
	close(in[0]);
	close(outp[0]);
	close(errp[0]);
	waited = dv_waitpid(pid, &ws, &wait_err);
	if (exec_errno) {
		dv_buf_release(&b);
		/* execlp says EACCES when a folder of PATH could not be searched
		 * and the program was found nowhere else. */
		if (exec_errno == ENOENT || exec_errno == EACCES)
			return dv_err_plain(err, ENOENT,
					    "the credential helper '%s' that docker's config.json "
					    "names is not installed (not on PATH)",
					    prog);
		return dv_err(err, exec_errno, "cannot run the credential helper '%s'", prog);
	}
	/* Without its exit status (ECHILD: SIGCHLD is ignored, so the kernel
	 * reaped it) the helper has not said its output is good. */
	if (waited < 0) {
		dv_buf_release(&b);
		return dv_err(err, wait_err.errnum,
			      "cannot learn how the credential helper '%s' ended", prog);
	}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	dv_buf_add(&b, "", 0);
	*out = dv_buf_steal(&b);
	return 0;
}

/* From a helper's `get`: base64("user:secret"), or NULL with a warning. */
static char *helper_get(const char *name, const char *host)
{
	dv_autofree char *text = NULL, *pair = NULL;
	layer_autojson struct json_object *o = NULL;
	struct dv_error err = { 0 };
	const char *user, *secret;
	int status;

	if (run_helper(name, "get", reg_auths_key(host), &text, &status, &err) < 0) {
		fprintf(stderr, "devenv: warning: %s; going on without credentials for '%s'\n",
			err.msg, host);
		return NULL;
	}
	if (status != 0) /* "credentials not found in native keychain" */
		return NULL;
	if (!(o = json_tokener_parse(text)) || !(user = str_at(o, "Username")) ||
	    !(secret = str_at(o, "Secret")) || !user[0] || !secret[0]) {
		fprintf(stderr,
			"devenv: warning: docker-credential-%s gave no user and secret for '%s'\n",
			name, host);
		return NULL;
	}
	if (!strcmp(user, "<token>")) {
		fprintf(stderr,
			"devenv: warning: docker-credential-%s holds an identity token for '%s', "
			"which devenv cannot use; 'devenv login %s' stores a password\n",
			name, host, host);
		return NULL;
	}
	pair = dv_xasprintf("%s:%s", user, secret);
	return reg_base64(pair);
}

char *reg_creds_get(const char *host)
{
	layer_autojson struct json_object *cfg = read_config();
	struct json_object *auths, *entry;
	const char *helper, *a;
	size_t i, k;
	char keys[3][300];

	if (!cfg)
		return NULL;
	if ((helper = helper_for(cfg, host)))
		return helper_get(helper, host);
	if (!json_object_object_get_ex(cfg, "auths", &auths))
		return NULL;
	snprintf(keys[0], sizeof(keys[0]), "%s", host);
	snprintf(keys[1], sizeof(keys[1]), "https://%s", host);
	snprintf(keys[2], sizeof(keys[2]), "%s", reg_auths_key(host));
	for (k = 0; k < 3; k++) {
		if (!json_object_object_get_ex(auths, keys[k], &entry) ||
		    !(a = str_at(entry, "auth")) || !*a)
			continue;
		/* It goes into a header: base64 only, nothing that ends a line. */
		for (i = 0; a[i]; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
				    a[i]))
				return NULL;
		return dv_xstrdup(a);
	}
	return NULL;
}

int reg_creds_helper_store(const char *host, const char *user, const char *secret,
			   struct dv_error *err)
{
	layer_autojson struct json_object *cfg = read_config(), *in = NULL;
	dv_autofree char *text = NULL;
	const char *helper = cfg ? helper_for(cfg, host) : NULL;
	int status;

	if (!helper)
		return 0;
	in = json_object_new_object();
	json_object_object_add(in, "ServerURL", json_object_new_string(reg_auths_key(host)));
	json_object_object_add(in, "Username", json_object_new_string(user));
	json_object_object_add(in, "Secret", json_object_new_string(secret));
	if (run_helper(helper, "store", json_object_to_json_string_ext(in, JSON_C_TO_STRING_PLAIN),
		       &text, &status, err) < 0)
		return -1;
	if (status != 0)
		return dv_err_plain(err, EIO,
				    "docker-credential-%s could not store the credentials: %.*s",
				    helper, (int)strcspn(text, "\n"), text[0] ? text : "it failed");
	return 1;
}

int reg_creds_helper_erase(const char *host, bool *found, struct dv_error *err)
{
	layer_autojson struct json_object *cfg = read_config();
	dv_autofree char *text = NULL;
	const char *helper = cfg ? helper_for(cfg, host) : NULL;
	int status;

	if (!helper)
		return 0;
	if (run_helper(helper, "erase", reg_auths_key(host), &text, &status, err) < 0)
		return -1;
	/* Helpers say "credentials not found in native keychain" and fail when
	 * there was nothing to erase. */
	*found = status == 0;
	if (status != 0 && !strstr(text, "not found"))
		return dv_err_plain(err, EIO,
				    "docker-credential-%s could not erase the credentials: %.*s",
				    helper, (int)strcspn(text, "\n"), text[0] ? text : "it failed");
	return 1;
}
