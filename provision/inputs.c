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
 * tree is never used). Anything else, or a mismatch, or a clone that
 * fails (a warning), goes to the network as before. Nothing is kept here by builds: only a bundle's load and
 * `devenv bundle` (which fetches what it lacks) write it.
 */
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
			struct dv_error e = { 0 };

			if (prov_git_clone_local(spec, step, url, dir, out_path, &e) == 0)
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
