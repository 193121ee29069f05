/*
 * cmd/kube.c - `devenv kube generate [-e ENV] [--image REF] [--push]
 * [--clone] [-o FILE]`: the env as a Kubernetes Pod (env/kube.c), its
 * YAML to standard output or FILE, one warning line per Envfile key the
 * Pod cannot express.
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
#include "util/fs.h"
#include "util/banned.h"

struct kube_opts {
	struct env_kube_opts o;
	const char *out;
};

static int kube_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct kube_opts *k = data;

	(void)err;
	if (c == 'I')
		k->o.image = arg;
	else if (c == 'P')
		k->o.push = true;
	else if (c == 'K')
		k->o.clone = true;
	else if (c == 'o')
		k->out = arg;
	else
		return -1;
	return 0;
}

/* FILE written whole, or not at all: a temporary beside it, renamed. Root
 * writing into a folder another user owns gives the file to that user.
 * FILE that exists and is no regular file (a FIFO, /dev/stdout, a
 * terminal) is written to as it is, never replaced. */
static int write_out(const char *file, const struct dv_buf *b, struct dv_error *err)
{
	dv_autofree char *dir = dv_xstrdup(file), *tmp = NULL;
	char *slash = strrchr(dir, '/');
	struct stat sb;
	int fd;

	if (stat(file, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
		fd = open(file, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return dv_err(err, errno, "cannot write '%s'", file);
		if (dv_write_full(fd, b->s, b->len, err) < 0) {
			close(fd);
			return dv_err_prefix(err, "cannot write '%s'", file);
		}
		close(fd);
		return 0;
	}
	if (slash)
		slash[slash == dir ? 1 : 0] = 0;
	tmp = dv_xasprintf("%s.tmp.%d", file, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return dv_err(err, errno, "cannot write '%s'", file);
	if (geteuid() == 0 && stat(slash ? dir : ".", &sb) == 0 && sb.st_uid != 0 &&
	    fchown(fd, sb.st_uid, sb.st_gid) < 0) {
		close(fd);
		unlink(tmp);
		return dv_err(err, errno, "cannot give '%s' to the folder's owner", file);
	}
	if (dv_write_full(fd, b->s, b->len, err) < 0 || close(fd) < 0 || rename(tmp, file) < 0) {
		if (!err->msg[0])
			dv_err(err, errno, "cannot write '%s'", file);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int cmd_kube(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	struct kube_opts k = { { 0 }, NULL };
	struct opt_spec os = { NULL, NULL, kube_opt, &k };
	struct env env = { .lock_fd = -1 };
	struct dv_buf yaml = { 0 };
	struct dv_strv warnings = { 0 };
	const struct cmd *sub;
	bool helped;
	int oi, ret = -1;

	if (!(sub = cmd_parse_sub(ctx, call, &os, &oi, &helped, err)))
		return helped ? 0 : -1;
	if (cmd_sub_args(sub, call->argc, oi, 0, 0, err) < 0)
		return -1;
	if (k.o.image && k.o.image[0] == '-')
		return dv_err_usage(err, "--image '%s': an image reference cannot start with '-'",
				    k.o.image);
	/* Refused as `up` refuses it: what the Envfile asks beyond the
	 * default sandbox, unless allowed for this checkout. */
	if (env_locate(ctx, st, true, &env, err) < 0 ||
	    prov_trust_check(ctx, st, env.id, &env.spec, err) < 0 ||
	    env_kube_generate(ctx, st, &env, &k.o, &yaml, &warnings, err) < 0)
		goto out;
	for (size_t i = 0; i < warnings.n; i++) {
		struct dv_buf line = { 0 };

		dv_buf_add_safe(&line, warnings.v[i], strlen(warnings.v[i]));
		fprintf(stderr, "devenv: warning: %s\n", line.s);
		dv_buf_release(&line);
	}
	if (k.out) {
		if (write_out(k.out, &yaml, err) < 0)
			goto out;
		if (!ctx->quiet)
			fprintf(stderr,
				"wrote %s: a Pod for env '%s' ('podman kube play %s', or "
				"'kubectl apply -f %s')\n",
				k.out, env.spec.name, k.out, k.out);
	} else if (fwrite(yaml.s, 1, yaml.len, stdout) != yaml.len || fflush(stdout) != 0) {
		dv_err(err, errno, "cannot write the YAML to standard output");
		goto out;
	}
	ret = 0;
out:
	dv_buf_release(&yaml);
	dv_strv_release(&warnings);
	env_release(&env);
	return ret;
}
