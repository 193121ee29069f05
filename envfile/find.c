/* envfile/find.c - finding the Envfile (or a devcontainer.json) and its
 * checkout, and reading it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

/* This runs before every command (`devenv ssh` included), so it costs one
 * stat per name per folder and nothing else: no libgit2, no git process. */
static bool has_entry(const char *dir, const char *name, bool regular)
{
	char path[PATH_MAX + 16];
	struct stat st;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	if (stat(path, &st) < 0)
		return false;
	return !regular || S_ISREG(st.st_mode);
}

static char *join(const char *dir, const char *name)
{
	return dv_xasprintf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
}

int envfile_find(const char *start_dir, char **out_path, char **out_checkout, struct dv_error *err)
{
	dv_autofree char *cur = NULL;
	dv_autofree char *envdir = NULL;
	dv_autofree char *dcpath = NULL;
	dv_autofree char *dcbase = NULL;
	const char *checkout;

	*out_path = NULL;
	*out_checkout = NULL;
	cur = realpath(start_dir, NULL);
	if (!cur)
		return dv_err(err, errno, "cannot resolve '%s'", start_dir);
	for (;;) {
		char *slash;

		if (!envdir && has_entry(cur, "Envfile", true))
			envdir = dv_xstrdup(cur);
		/* The two places the Dev Containers spec looks first; an Envfile
		 * anywhere up to the root wins over them. */
		if (!envdir && !dcpath && has_entry(cur, ".devcontainer/devcontainer.json", true))
			dcpath = join(cur, ".devcontainer/devcontainer.json");
		if (!envdir && !dcpath && has_entry(cur, ".devcontainer.json", true))
			dcpath = join(cur, ".devcontainer.json");
		if (dcpath && !dcbase)
			dcbase = dv_xstrdup(cur);
		/* .git is a folder in a clone, a file in a worktree or submodule */
		if (has_entry(cur, ".git", false)) {
			checkout = cur;
			break;
		}
		if (strcmp(cur, "/") == 0) {
			checkout = envdir;
			break;
		}
		slash = strrchr(cur, '/');
		if (slash == cur)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (!envdir && dcpath) {
		/* no repository: the folder holding the json (or .devcontainer/) */
		*out_checkout = dv_xstrdup(checkout ? checkout : dcbase);
		*out_path = dv_steal_ptr(&dcpath);
		return 0;
	}
	if (!envdir) {
		dv_err(err, 0,
		       "no Envfile in '%s' or its parents up to the repository root; run 'devenv "
		       "init' to write one",
		       start_dir);
		err->errnum = ENOENT;
		return -1;
	}
	*out_path = join(envdir, "Envfile");
	*out_checkout = dv_xstrdup(checkout);
	return 0;
}

/* Strictly below dir. */
static bool path_inside(const char *path, const char *dir)
{
	const char *rel = dv_path_below(path, dir);

	return rel && *rel;
}

/* dir holds the json: the folder that holds .devcontainer/ is the one its
 * paths and ${localWorkspaceFolder} mean. Keys left out are said once, here,
 * so that every command reading the env says it the same way. */
static int load_devcontainer(const char *text, size_t len, const char *display, char *dir,
			     const char *checkout, bool warn, struct env_spec *out,
			     struct dv_error *err)
{
	struct dv_strv unsup = { 0 };
	struct dv_buf list = { 0 };

	if (dv_str_endswith(dir, "/.devcontainer"))
		dir[strlen(dir) - strlen("/.devcontainer")] = '\0';
	if (!dir[0]) {
		dir[0] = '/';
		dir[1] = '\0';
	}
	if (envfile_devcontainer_parse(text, len, display, dir, checkout, out, &unsup, err) < 0)
		return -1;
	if (unsup.n && warn) {
		/* The repository's keys and values: escaped (util/str.h). */
		for (size_t i = 0; i < unsup.n; i++) {
			dv_buf_adds(&list, i ? ", " : "");
			dv_buf_add_safe(&list, unsup.v[i], strlen(unsup.v[i]));
		}
		fprintf(stderr, "devenv: warning: %s: not supported, ignored: %s\n", display,
			list.s);
		dv_buf_release(&list);
	}
	dv_strv_release(&unsup);
	return 0;
}

static int load(const char *path, const char *checkout, const char *display, bool warn,
		struct env_spec *out, struct dv_error *err)
{
	dv_autoclose int fd = -1;
	dv_autofree char *text = NULL;
	dv_autofree char *dir = NULL;
	dv_autofree char *real_dir = NULL;
	dv_autofree char *real_checkout = NULL;
	dv_autofree char *abs_path = NULL;
	const char *base, *rel;
	struct env_spec spec = { 0 };
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!display)
		display = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", display);
	if (dv_read_all(fd, &text, &len, err) < 0)
		return dv_err_prefix(err, "reading '%s'", display);

	base = strrchr(path, '/');
	if (!base)
		dir = dv_xstrdup(".");
	else if (base == path)
		dir = dv_xstrdup("/");
	else
		dir = dv_xstrndup(path, (size_t)(base - path));
	base = base ? base + 1 : path;
	real_dir = realpath(dir, NULL);
	if (!real_dir)
		return dv_err(err, errno, "cannot resolve '%s'", dir);
	abs_path = join(real_dir, base);
	real_checkout = checkout ? realpath(checkout, NULL) : dv_xstrdup(real_dir);
	if (!real_checkout)
		return dv_err(err, errno, "cannot resolve the checkout '%s'", checkout);
	if (!path_inside(abs_path, real_checkout))
		return dv_err(err, 0, "the Envfile '%s' is not inside the checkout '%s'", abs_path,
			      real_checkout);
	rel = abs_path + strlen(real_checkout);
	if (*rel == '/')
		rel++;

	if (envfile_is_devcontainer(abs_path)) {
		if (load_devcontainer(text, len, display, real_dir, real_checkout, warn, &spec,
				      err) < 0)
			return -1;
	} else if (envfile_parse(text, len, display, real_dir, real_checkout, &spec, err) < 0) {
		return -1;
	}
	spec.relpath = dv_xstrdup(rel);
	spec.path = dv_steal_ptr(&abs_path);
	*out = spec;
	return 0;
}

int envfile_load(const char *path, const char *checkout, const char *display, struct env_spec *out,
		 struct dv_error *err)
{
	return load(path, checkout, display, true, out, err);
}

int envfile_load_quiet(const char *path, const char *checkout, const char *display,
		       struct env_spec *out, struct dv_error *err)
{
	return load(path, checkout, display, false, out, err);
}

int envfile_devcontainer_convert(const char *path, const char *checkout, const char *display,
				 char **out_yaml, char **out_dir, struct dv_error *err)
{
	dv_autoclose int fd = -1;
	dv_autofree char *text = NULL;
	dv_autofree char *dir = NULL;
	dv_autofree char *folder = NULL;
	const char *src;
	char *slash;
	size_t len;

	*out_yaml = NULL;
	*out_dir = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", display);
	if (dv_read_all(fd, &text, &len, err) < 0)
		return dv_err_prefix(err, "reading '%s'", display);
	/* the json's folder, not the json: a symlinked json keeps its place */
	slash = strrchr(path, '/');
	folder = slash == path ? dv_xstrdup("/")
		 : slash       ? dv_xstrndup(path, (size_t)(slash - path))
			       : dv_xstrdup(".");
	dir = realpath(folder, NULL);
	if (!dir)
		return dv_err(err, errno, "cannot resolve '%s'", folder);
	if (dv_str_endswith(dir, "/.devcontainer"))
		dir[strlen(dir) - strlen("/.devcontainer")] = '\0';
	if (!dir[0]) {
		dir[0] = '/';
		dir[1] = '\0';
	}
	/* the header names the json as seen from the Envfile's folder */
	src = dv_str_endswith(path, "/.devcontainer.json") ? ".devcontainer.json"
							   : ".devcontainer/devcontainer.json";
	if (envfile_devcontainer_to_yaml(text, len, display, src, dir, checkout, out_yaml, err) < 0)
		return -1;
	*out_dir = dv_steal_ptr(&dir);
	return 0;
}
