/*
 * cmd/cmd.c - what several commands share: the env they act on, sizes and
 * ages as they print them, where the store is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmd/cmd.h"
#include "util/banned.h"

/* The macro this replaces declared the command's locals and returned from
 * it; the command now declares its env and decides itself. */
int cmd_env_begin(struct dv_ctx *ctx, const struct layer_store *st, const struct cmd_call *call,
		  bool need_spec, const struct opt_spec *os, struct env *env, struct dv_error *err)
{
	bool helped;
	int oi = cmd_parse_opts(ctx, call, os, &helped, err);

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0 || env_locate(ctx, st, need_spec, env, err) < 0)
		return -1;
	return 1;
}

void cmd_quoted_list(const struct dv_strv *sv, struct dv_buf *b)
{
	for (size_t i = 0; i < sv->n; i++)
		dv_buf_addf(b, "%s'%s'", i ? ", " : "", sv->v[i]);
	if (!b->s)
		dv_buf_adds(b, "");
}

/* "12.0 KiB", "~12.0 KiB" for an estimate. */
void cmd_size(char *out, size_t n, unsigned long long bytes, bool estimate)
{
	char s[32];

	dv_str_size(s, sizeof(s), bytes);
	snprintf(out, n, "%s%s", estimate ? "~" : "", s);
}

void cmd_age(char *out, size_t n, long long created)
{
	long long age = (long long)time(NULL) - created;

	if (age < 120)
		snprintf(out, n, "%llds", age);
	else if (age < 7200)
		snprintf(out, n, "%lldm", age / 60);
	else if (age < 172800)
		snprintf(out, n, "%lldh", age / 3600);
	else
		snprintf(out, n, "%lldd", age / 86400);
}

int cmd_store_root(struct dv_ctx *ctx, struct dv_error *err)
{
	const char *home = getenv("DEVENV_HOME");

	if (home && *home) {
		if (home[0] != '/')
			return dv_err_usage(err, "DEVENV_HOME must be an absolute path, not '%s'",
					    home);
		ctx->home = dv_xstrdup(home);
	} else if (!ctx->rootless) {
		ctx->home = dv_xstrdup("/var/lib/devenv");
	} else if (getenv("XDG_DATA_HOME") && getenv("XDG_DATA_HOME")[0] == '/') {
		ctx->home = dv_xasprintf("%s/devenv", getenv("XDG_DATA_HOME"));
	} else if (getenv("HOME") && getenv("HOME")[0] == '/') {
		ctx->home = dv_xasprintf("%s/.local/share/devenv", getenv("HOME"));
	} else {
		return dv_err(err, 0, "cannot place the store: set DEVENV_HOME or HOME");
	}
	return 0;
}

int cmd_exec_failed(const struct env_record *s, struct dv_error *err)
{
	if (err->errnum == ESRCH)
		return dv_err_plain(err, ESRCH, "env '%s' is not running; 'devenv up' starts it",
				    s->name);
	if (err->errnum == EBUSY)
		return dv_err_plain(err, EBUSY, "env '%s' is suspended; 'devenv resume' thaws it",
				    s->name);
	return -1;
}
