/*
 * provision/inputs.c - the store's inputs/: what `git` and `download` steps
 * fetch, as a bundle brings it (`devenv image load`, env/bundle.c):
 *
 *   inputs/download-<sha256>   a download's bytes, named by their digest
 *   inputs/git-<commit>/       a clone (with .git) holding that commit
 *
 * A step that runs takes its input from here before any network: a
 * download whose bytes still hash to the Envfile's sha256 (checked while
 * they are copied), a git step through a local clone of the folder
 * (libgit2 fetches over file://, reading every object back and checking
 * it against its id, then checks the commit out: the folder's own working
 * tree is never used; one carrying alternates or the like, gitkeep.c, is
 * not used at all). Anything else, or a mismatch, or a clone that
 * fails (a warning), goes to the network as before. Nothing is kept here by builds: only a bundle's load and
 * `devenv bundle` (which fetches what it lacks) write it, each input made
 * whole in tmp/ and renamed in (a killed load leaves its staging folder to
 * `gc`, never a part of an input here).
 *
 * `gc --caches` removes inputs/ (renamed into tmp/ first: never half
 * removed); `df` lists it. A plain `gc` removes only what is no input (a
 * name not of the two forms above, or of the wrong type: never taken).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/str.h"
#include "util/banned.h"

int prov_inputs_dir(const struct layer_store *st, bool create, struct dv_error *err)
{
	int fd;

	if (create && mkdirat(st->root_fd, "inputs", 0700) < 0 && errno != EEXIST)
		return dv_err(err, errno, "cannot create '%s/inputs'", st->root);
	fd = openat(st->root_fd, "inputs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s/inputs'", st->root);
	return fd;
}

char *prov_input_name(const struct env_step *step)
{
	if (step->kind == ENV_STEP_DOWNLOAD && step->sha256)
		return dv_xasprintf("download-%s", step->sha256);
	if (step->kind == ENV_STEP_GIT && step->git_commit)
		return dv_xasprintf("git-%s", step->git_commit);
	return NULL;
}

/* The kept download copied into dir/<its name>, hashed on the way: 0, or
 * -1 (nothing left behind) when absent or its bytes are not the step's. */
static int kept_download(int in, const struct env_step *step, const char *dir, char **out_path)
{
	dv_autofree char *name = prov_download_name(step->download);
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);
	dv_autoclose int out = -1;
	struct dv_error e = { 0 };
	struct dv_sha256 h;
	char buf[65536], hex[DV_SHA256_HEX];
	ssize_t r;

	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0 || fchmod(out, 0644) < 0)
		goto fail;
	dv_sha256_init(&h);
	while ((r = read(in, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || dv_write_full(out, buf, (size_t)r, &e) < 0)
			goto fail;
		dv_sha256_update(&h, buf, (size_t)r);
	}
	dv_sha256_final_hex(&h, hex);
	if (strcmp(hex, step->sha256) || close(dv_steal_fd(&out)) < 0)
		goto fail;
	*out_path = dv_steal_ptr(&path);
	return 0;
fail:
	unlink(path);
	return -1;
}

int prov_input_fetch(const struct layer_store *st, const struct env_spec *spec,
		     const struct env_step *step, const char *dir, char **out_path,
		     struct dv_error *err)
{
	dv_autofree char *name = prov_input_name(step);
	dv_autoclose int inputs = -1, fd = -1;
	struct stat sb;

	/* No inputs/ (no bundle was ever loaded): one failed openat. */
	if (name && (inputs = prov_inputs_dir(st, false, &(struct dv_error){ 0 })) >= 0 &&
	    (fd = openat(inputs, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0 &&
	    fstat(fd, &sb) == 0) {
		if (step->kind == ENV_STEP_DOWNLOAD && S_ISREG(sb.st_mode) &&
		    kept_download(fd, step, dir, out_path) == 0)
			return 0;
		if (step->kind == ENV_STEP_GIT && S_ISDIR(sb.st_mode)) {
			dv_autofree char *url = dv_xasprintf("file://%s/inputs/%s", st->root, name);
			dv_autofree char *src = dv_xasprintf("%s/src", dir);
			const char *redirect = prov_git_kept_redirect(fd); /* gitkeep.c */
			struct dv_error e = { 0 };

			if (redirect)
				dv_err_plain(&e, EPERM, "it carries %s", redirect);
			else if (prov_git_clone_local(spec, step, url, dir, out_path, &e) == 0)
				return 0;
			/* A broken input costs the network, never the step. */
			dv_rm_tree_at(AT_FDCWD, src, &(struct dv_error){ 0 });
			fprintf(stderr,
				"devenv: warning: '%s/inputs/%s' cannot be used (%s); cloning "
				"from the remote\n",
				st->root, name, e.msg);
		}
	}
	if (step->kind == ENV_STEP_GIT)
		return prov_git_clone(spec, step, dir, out_path, err);
	return prov_download(spec, step, dir, out_path, err);
}

/* Is `name` (of type mode) an input prov_input_fetch() can take? */
static bool is_input(const char *name, mode_t mode)
{
	if (!strncmp(name, "git-", 4))
		return S_ISDIR(mode) && strlen(name + 4) == 40 && dv_str_is_hex(name + 4, 40);
	if (!strncmp(name, "download-", 9))
		return S_ISREG(mode) && strlen(name + 9) == 64 && dv_str_is_hex(name + 9, 64);
	return false;
}

int prov_input_list(const struct layer_store *st, struct prov_input **out, size_t *n,
		    struct dv_error *err)
{
	struct dv_error e = { 0 };
	dv_autoclose int fd = prov_inputs_dir(st, false, &e);
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (fd < 0) {
		if (e.errnum == ENOENT) /* no bundle was ever loaded */
			return 0;
		*err = e;
		return -1;
	}
	d = dv_opendir_fd(fd); /* its own fd */
	if (!d)
		return dv_err(err, errno, "cannot read '%s/inputs'", st->root);
	while ((de = readdir(d))) {
		struct prov_input *in;
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		*out = dv_xrealloc(*out, (*n + 1) * sizeof(**out));
		in = &(*out)[(*n)++];
		in->name = dv_xstrdup(de->d_name);
		in->input = is_input(de->d_name, sb.st_mode);
		in->bytes = (unsigned long long)sb.st_blocks * 512;
		if (S_ISDIR(sb.st_mode))
			in->bytes += dv_du_at(fd, de->d_name);
	}
	return 0;
}

void prov_inputs_free(struct prov_input *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(in[i].name);
	free(in);
}

/* inputs/<name> (or inputs/ itself: name NULL) moved into a staging folder
 * of tmp/, then deleted: a gc killed half-way leaves it to the next. */
static int drop(const struct layer_store *st, int inputs, const char *name, struct dv_error *err)
{
	dv_autofree char *staging = NULL, *to = NULL;

	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	to = dv_xasprintf("%s/diff/x", staging);
	if (name ? renameat(inputs, name, st->tmp_fd, to) < 0
		 : renameat(st->root_fd, "inputs", st->tmp_fd, to) < 0) {
		dv_err(err, errno, "cannot remove '%s/inputs%s%s'", st->root, name ? "/" : "",
		       name ? name : "");
		layer_staging_discard(st, staging, &(struct dv_error){ 0 });
		return -1;
	}
	return layer_staging_discard(st, staging, err);
}

int prov_inputs_gc(const struct layer_store *st, bool all, unsigned *n, unsigned long long *bytes,
		   struct dv_error *err)
{
	struct prov_input *in = NULL;
	size_t k = 0;
	dv_autoclose int fd = -1;
	int ret = -1;

	if (prov_input_list(st, &in, &k, err) < 0)
		return -1;
	/* Listed under store.lock exclusive: no load or bundle adds to it. */
	if (k == 0) {
		if (all) /* an empty inputs/ (or none) */
			(void)unlinkat(st->root_fd, "inputs", AT_REMOVEDIR);
		ret = 0;
		goto out;
	}
	if ((fd = prov_inputs_dir(st, false, err)) < 0)
		goto out;
	for (size_t i = 0; i < k; i++) {
		if (all || !in[i].input)
			*bytes += in[i].bytes;
		if (all && in[i].input)
			(*n)++;
		if (!all && !in[i].input && drop(st, fd, in[i].name, err) < 0)
			goto out;
	}
	if (all && drop(st, -1, NULL, err) < 0)
		goto out;
	ret = 0;
out:
	prov_inputs_free(in, k);
	return ret;
}
