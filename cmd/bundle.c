/*
 * cmd/bundle.c - `devenv bundle [-o FILE]`: the env of this checkout as one
 * archive to carry offline (env/bundle.c); `devenv image load FILE` in the
 * project's checkout takes it in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/banned.h"

static int output_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)err;
	if (c != 'o')
		return -1;
	*(const char **)data = arg;
	return 0;
}

/* Root writing into a folder another user owns (a checkout): the file is
 * theirs, never root-owned (set on the new file before it gets its name).
 * -1: as who writes it. */
static void folder_owner(const char *file, int *uid, int *gid)
{
	dv_autofree char *dir = dv_xstrdup(file);
	char *slash = strrchr(dir, '/');
	struct stat sb;

	*uid = *gid = -1;
	if (geteuid() != 0)
		return;
	if (slash)
		slash[slash == dir ? 1 : 0] = 0;
	if (stat(slash ? dir : ".", &sb) == 0 && sb.st_uid != 0) {
		*uid = (int)sb.st_uid;
		*gid = (int)sb.st_gid;
	}
}

int cmd_bundle(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	const char *out = NULL;
	struct opt_spec os = { NULL, NULL, output_opt, &out };
	struct env env = { .lock_fd = -1 };
	dv_autofree char *dflt = NULL;
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), ret = -1;

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0)
		return -1;
	/* The trust check as push has it: a git step's remote may be asked. */
	if (env_locate(ctx, st, true, &env, err) == 0 &&
	    prov_trust_check(ctx, st, env.id, &env.spec, err) == 0) {
		int uid, gid;

		if (!out)
			out = dflt = dv_xasprintf("%s.bundle.tar", env.spec.name);
		folder_owner(out, &uid, &gid);
		if (env_bundle(ctx, st, &env, out, uid, gid, err) == 0) {
			if (!ctx->quiet)
				printf("wrote %s: env '%s' to carry ('devenv image load %s' in "
				       "the project's checkout, then 'devenv up')\n",
				       out, env.spec.name, out);
			ret = 0;
		}
	}
	env_release(&env);
	return ret;
}
