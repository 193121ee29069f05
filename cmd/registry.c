/*
 * cmd/registry.c - pull, push, login and logout: images to and from a registry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/banned.h"

static int platform_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)err;
	if (c != 'P')
		return -1;
	*(const char **)data = arg;
	return 0;
}

int cmd_pull(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	const char *platform = NULL;
	struct opt_spec os = { NULL, NULL, platform_opt, &platform };
	struct layer_image img = { 0 };
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err);

	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != call->argc)
		return dv_err_usage(err, "usage: devenv pull [--platform OS/ARCH[/VARIANT]] "
					 "[host[:port]/]NAME[:TAG|@sha256:DIGEST]");
	if (reg_pull_platform(st, call->argv[oi], platform, &img, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf("%s %s\n", img.name, img.id);
	layer_image_release(&img);
	return 0;
}

/* `push REF` in a checkout where REF is no image of the store, or `push -e
 * NAME REF`: the env's provisioning, for the team cache. */
static int push_env(struct dv_ctx *ctx, struct layer_store *st, const char *dest,
		    enum reg_compression comp, const char *sign, struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	int ret = -1;

	/* The trust check as `up` has it: the push asks the git steps'
	 * remotes (file://, loopback...) for their commits when it has none
	 * remembered. */
	if (env_locate(ctx, st, true, &env, err) == 0 &&
	    prov_trust_check(ctx, st, env.id, &env.spec, err) == 0)
		ret = env_push_sign(ctx, st, &env, dest, comp, sign, err);
	env_release(&env);
	return ret;
}

struct push_opts {
	enum reg_compression comp;
	const char *sign; /* --sign KEY, or NULL */
};

static int compression_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct push_opts *po = data;
	enum reg_compression *comp = &po->comp;

	if (c == 'S') {
		po->sign = arg;
		return 0;
	}
	if (c != 'C')
		return -1;
	if (strcmp(arg, "gzip") == 0)
		*comp = REG_GZIP;
	else if (strcmp(arg, "zstd") == 0)
		*comp = REG_ZSTD;
	else
		return dv_err_usage(err, "unknown compression '%s': use gzip or zstd", arg);
	return 0;
}

int cmd_push(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	struct push_opts po = { REG_GZIP, NULL };
	enum reg_compression comp;
	struct opt_spec os = { NULL, NULL, compression_opt, &po };
	dv_autofree char *name = NULL;
	struct layer_image img = { 0 };
	struct dv_error miss = { 0 };
	char digest[65];
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err);

	if (oi < 0)
		return helped ? 0 : -1;
	comp = po.comp;
	if (oi + 1 != call->argc && oi + 2 != call->argc)
		return dv_err_usage(err,
				    "usage: devenv push [--compression gzip|zstd] [--sign KEY] IMAGE "
				    "[host[:port]/NAME[:TAG]], or in a checkout: devenv push "
				    "[--compression gzip|zstd] [--sign KEY] [-e NAME|ID] "
				    "host[:port]/NAME[:TAG]");
	if (oi + 1 == call->argc) {
		if (ctx->env_sel)
			return push_env(ctx, st, call->argv[oi], comp, po.sign, err);
		if (layer_image_resolve(st, call->argv[oi], &img, &miss) < 0) {
			struct dv_error no_env = { 0 };
			char *path = NULL, *checkout = NULL;
			bool in_checkout = envfile_find(".", &path, &checkout, &no_env) == 0;

			free(path);
			free(checkout);
			if (miss.errnum == ENOENT && in_checkout)
				return push_env(ctx, st, call->argv[oi], comp, po.sign, err);
			*err = miss;
			return -1;
		}
		layer_image_release(&img);
	}
	if (reg_push(st, call->argv[oi], oi + 1 < call->argc ? call->argv[oi + 1] : NULL, comp,
		     ctx->quiet ? NULL : stdout, &name, digest, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf("%s sha256:%s\n", name, digest);
	if (po.sign) {
		if (prov_sign_manifest(po.sign, name, digest, err) < 0)
			return -1;
		if (!ctx->quiet)
			printf("signed %s@sha256:%s with '%s'\n", name, digest, po.sign);
	}
	return 0;
}

struct login_opts {
	const char *user;
	bool password_stdin;
};

static int login_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct login_opts *o = data;

	(void)err;
	if (c == 'u')
		o->user = arg;
	else if (c == 'P')
		o->password_stdin = true;
	else
		return -1;
	return 0;
}

/* One line of standard input without its line end (caller frees), after
 * a prompt on a terminal; a secret is read with echo off. */
static char *read_line(const char *prompt, bool secret, struct dv_error *err)
{
	struct termios old, quiet;
	bool tty = isatty(0), hidden = false;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
	}
	if (tty && secret && tcgetattr(0, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		hidden = tcsetattr(0, TCSAFLUSH, &quiet) == 0;
	}
	n = getline(&line, &cap, stdin);
	if (hidden) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		dv_err_plain(err, EINVAL, "nothing on standard input for the %s",
			     secret ? "password" : "user name");
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	return line;
}

int cmd_login(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	      struct dv_error *err)
{
	struct login_opts lo = { 0 };
	struct opt_spec os = { NULL, NULL, login_opt, &lo };
	dv_autofree char *user = NULL, *password = NULL;
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret;

	(void)st;
	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != call->argc)
		return dv_err_usage(err,
				    "usage: devenv login [-u USER] [--password-stdin] HOST[:PORT]");
	if (reg_host_check(call->argv[oi], err) < 0)
		return -1;
	if (!lo.user && !isatty(0))
		return dv_err_usage(err,
				    "say who logs in: 'devenv login -u USER --password-stdin %s'",
				    call->argv[oi]);
	if (!lo.password_stdin && !isatty(0))
		return dv_err_usage(err, "standard input is not a terminal: give the password on it "
					 "with --password-stdin");
	user = lo.user ? dv_xstrdup(lo.user) : read_line("Username: ", false, err);
	if (!user || !(password = read_line("Password: ", true, err)))
		return -1;
	ret = reg_login(call->argv[oi], user, password, err);
	explicit_bzero(password, strlen(password));
	if (ret == 0 && !ctx->quiet)
		printf("logged in to %s\n", call->argv[oi]);
	return ret;
}

int cmd_logout(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	bool helped, found = false;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err);

	(void)st;
	if (oi < 0)
		return helped ? 0 : -1;
	if (oi + 1 != call->argc)
		return dv_err_usage(err, "usage: devenv logout HOST[:PORT]");
	if (reg_logout(call->argv[oi], &found, err) < 0)
		return -1;
	if (!ctx->quiet)
		printf(found ? "logged out of %s\n" : "not logged in to %s\n", call->argv[oi]);
	return 0;
}
