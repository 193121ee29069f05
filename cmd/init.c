/*
 * cmd/init.c - init: write an Envfile, from a template or a devcontainer.json.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "templates/templates.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* Write text as DIR/Envfile (dir NULL: here): a temporary file linked
 * into place, so no half-written Envfile after a crash, and never one over
 * an existing one (errnum EEXIST). */
static int write_new_envfile(const char *dir, const char *text, struct dv_error *err)
{
	dv_autoclose int fd = -1;
	dv_autoclose int dirfd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : AT_FDCWD;
	char tmp[64];

	if (dirfd < 0 && dir)
		return dv_err(err, errno, "cannot open '%s'", dir);
	snprintf(tmp, sizeof(tmp), ".Envfile.tmp.%d", (int)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return dv_err(err, errno, "cannot create 'Envfile'");
	if (dv_write_full(fd, text, strlen(text), err) < 0 || fsync(fd) < 0) {
		unlinkat(dirfd, tmp, 0);
		return dv_err_isset(err) ? dv_err_prefix(err, "writing 'Envfile'")
					 : dv_err(err, errno, "writing 'Envfile'");
	}
	if (linkat(dirfd, tmp, dirfd, "Envfile", 0) < 0) {
		int e = errno;

		unlinkat(dirfd, tmp, 0);
		if (e == EEXIST)
			return dv_err_plain(err, EEXIST,
					    "an Envfile is already here; edit it, or remove it first");
		return dv_err(err, e, "cannot create 'Envfile'");
	}
	unlinkat(dirfd, tmp, 0);
	return 0;
}

struct init_opts {
	const char *tmpl;
	bool list;
	bool from_dc; /* --from-devcontainer */
};

static int init_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	struct init_opts *o = data;

	(void)err;
	if (c == 't')
		o->tmpl = arg;
	else if (c == 'L')
		o->list = true;
	else if (c == 'D')
		o->from_dc = true;
	else
		return -1;
	return 0;
}


/* init --from-devcontainer asks what `up` on the devcontainer.json would
 * (the same list, the same record): its ${localEnv:...} values are written
 * into the Envfile, so they are read only after a yes. The store is opened
 * for that alone (init does not otherwise touch it). */
static int init_trust_check(struct dv_ctx *ctx, const char *path, const char *checkout,
			    const char *disp, struct dv_error *err)
{
	struct layer_store st = { .root_fd = -1,
				  .layers_fd = -1,
				  .images_fd = -1,
				  .cache_fd = -1,
				  .tmp_fd = -1 };
	struct env_spec spec = { 0 };
	struct prov_requests r;
	char id[13];
	int ret = -1;

	if (envfile_load_quiet(path, checkout, disp, &spec, err) < 0)
		return -1;
	/* The user's config too, so that the yes recorded is the one `up` asks. */
	if (prov_spec_read_inputs(&spec, err) < 0 || envfile_userconfig_apply(&spec, NULL, err) < 0) {
		env_spec_release(&spec);
		return -1;
	}
	prov_trust_requests(&spec, &r);
	if (!r.n) {
		ret = 0;
		goto out;
	}
	prov_env_id(checkout, path + strlen(checkout) + 1, id);
	if (cmd_store_root(ctx, err) < 0 || layer_store_open(ctx->home, ctx->rootless, &st, err) < 0)
		goto out;
	ret = prov_trust_check(ctx, &st, id, &spec, err);
out:
	prov_requests_release(&r);
	env_spec_release(&spec);
	layer_store_release(&st);
	return ret;
}

/* init --from-devcontainer: the devcontainer.json this checkout would run,
 * as an Envfile beside its .devcontainer/, never over an existing one. */
static int init_from_devcontainer(struct dv_ctx *ctx, struct dv_error *err)
{
	dv_autofree char *path = NULL, *checkout = NULL, *yaml = NULL, *dir = NULL;
	dv_autofree char *dest = NULL;
	char cwd[PATH_MAX];
	const char *disp;
	size_t n;

	if (!getcwd(cwd, sizeof(cwd)))
		return dv_err(err, errno, "cannot read the current folder");
	if (envfile_find(cwd, &path, &checkout, err) < 0) {
		if (err->errnum == ENOENT)
			return dv_err_plain(err, ENOENT,
					    "no .devcontainer/devcontainer.json or "
					    ".devcontainer.json here or in its parents up to the "
					    "repository root");
		return -1;
	}
	n = strlen(cwd);
	disp = !strncmp(path, cwd, n) && path[n] == '/' ? path + n + 1 : path;
	if (!envfile_is_devcontainer(path))
		return dv_err_plain(err, EEXIST,
				    "an Envfile is already here ('%s'); edit it, or "
				    "remove it first",
				    disp);
	if (init_trust_check(ctx, path, checkout, disp, err) < 0 ||
	    envfile_devcontainer_convert(path, checkout, disp, &yaml, &dir, err) < 0)
		return -1;
	if (write_new_envfile(dir, yaml, err) < 0)
		return -1;
	dest = dv_xasprintf("%s/Envfile", dir);
	if (!ctx->quiet)
		printf("wrote %s from %s; check it, then 'devenv up'\n",
		       !strncmp(dest, cwd, n) && dest[n] == '/' ? dest + n + 1 : dest, disp);
	return 0;
}

/* init: the template --template names, else the one the files here point
 * to (templates/templates.h), written as ./Envfile, never over one. */
int cmd_init(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	struct init_opts io = { 0 };
	struct opt_spec os = { NULL, NULL, init_opt, &io };
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err);
	struct tmpl_match found[8];
	size_t n_found = 0, n_all;
	const struct tmpl *t, *all = tmpl_all(&n_all);
	struct dv_strv missing = { 0 };
	dv_autoclose int dirfd = -1;
	dv_autofree char *text = NULL;
	struct dv_buf why = { 0 };
	int ret = -1;

	(void)st;
	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0)
		return -1;
	if (io.from_dc + io.list + !!io.tmpl > 1)
		return dv_err_usage(err, "'devenv init' takes one of --template, --list and "
					 "--from-devcontainer; see 'devenv init --help'");
	if (io.from_dc)
		return init_from_devcontainer(ctx, err);
	if (io.list) {
		for (size_t i = 0; i < n_all; i++) {
			dv_autofree char *needs = tmpl_needs(&all[i], -1, false);

			printf("%-16s %s; needs %s\n", all[i].name, all[i].summary, needs);
		}
		return 0;
	}
	dirfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return dv_err(err, errno, "cannot open the current folder");
	if (io.tmpl) {
		t = tmpl_find(io.tmpl);
		if (!t) {
			dv_autofree char *names = tmpl_names();
			const char *cands[32];
			struct dv_buf hint = { 0 };
			size_t k = 0;

			for (; k < n_all && k < 32; k++)
				cands[k] = all[k].name;
			dv_suggest(io.tmpl, cands, k, &hint);
			dv_err_usage(err, "unknown template '%s'%s; the templates are: %s", io.tmpl,
				     hint.s ? hint.s : "", names);
			dv_buf_release(&hint);
			return -1;
		}
		dv_buf_adds(&why, "chosen with --template");
	} else {
		n_found = tmpl_detect(dirfd, found, sizeof(found) / sizeof(found[0]));
		t = n_found ? found[0].tmpl : tmpl_find("default");
		dv_buf_adds(&why, n_found ? found[0].why : "no stack's marker file here");
		for (size_t i = 1; i < n_found; i++)
			dv_buf_addf(&why, "%s%s (%s)", i == 1 ? "; also matched " : ", ",
				    found[i].tmpl->name, found[i].why + strlen("found "));
		if (n_found > 1)
			dv_buf_adds(&why, ": 'devenv init --template NAME' picks another");
	}
	text = tmpl_render(t, dirfd, &missing);
	if (write_new_envfile(NULL, text, err) < 0)
		goto out;
	if (!ctx->quiet) {
		printf("wrote Envfile from the %s template (%s); edit it, then 'devenv up'\n",
		       t->name, why.s);
		for (size_t i = 0; i < missing.n; i++)
			printf("note: no %s here, so its steps are commented out in the Envfile\n",
			       missing.v[i]);
		{
			dv_autofree char *needs = tmpl_needs(t, dirfd, true);

			printf("its steps need from the network: %s\n", needs);
		}
	}
	ret = 0;
out:
	dv_strv_release(&missing);
	dv_buf_release(&why);
	return ret;
}
