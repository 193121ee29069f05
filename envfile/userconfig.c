/*
 * envfile/userconfig.c - the user's own config, $XDG_CONFIG_HOME/devenv/
 * config.yaml (default ~/.config/devenv/config.yaml): per-person settings
 * that do not belong in a project's Envfile. Read with the Envfile's YAML
 * parser (parse.c), so errors have the same form ("config.yaml:3:5: ...").
 *
 * Its keys are `dotfiles`, `apt_snapshot_url` (the snapshot archive an
 * Envfile with `apt_snapshot` and no `apt_snapshot_url` uses, as the
 * Envfile's key is written) and `host` (ssh://USER@HOST[:PORT]: where up,
 * provision and reload run, as --host; cmd/remote.c). `dotfiles`:
 *
 *   dotfiles: https://github.com/ann/dotfiles
 *   dotfiles: ann/dotfiles                  (GitHub's short form)
 *   dotfiles: /home/ann/dotfiles            (a local repository: file://)
 *   dotfiles:
 *     repository: https://example.com/ann/dotfiles.git
 *     install: ./install.sh --minimal       (run by /bin/sh in the copy)
 *     target: ~/.dotfiles                   (where the copy goes; ~/dotfiles)
 *
 * A missing file is no error and sets nothing. The config is read by the
 * commands that read the Envfile and check trust (up, provision, reload,
 * push, allow): one open() that fails when there is none; `ssh` and the
 * rest never read it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

static const char *const config_keys[] = { "dotfiles", "apt_snapshot_url", "host" };
static const char *const dotfiles_keys[] = { "repository", "install", "target" };

void envfile_dotfiles_free(struct env_dotfiles *d)
{
	if (!d)
		return;
	free(d->repository);
	free(d->install);
	free(d->target);
	free(d->config);
	free(d);
}

void env_userconfig_release(struct env_userconfig *c)
{
	envfile_dotfiles_free(c->dotfiles);
	free(c->apt_snapshot_url);
	free(c->host);
	memset(c, 0, sizeof(*c));
}

/* No white space or control character anywhere (a URL, a target). */
static bool has_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return true;
	return false;
}

/* owner/name of GitHub, as the devcontainer CLI takes it. */
static bool github_short(const char *s)
{
	const char *slash = strchr(s, '/');

	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || strchr(s, ':'))
		return false;
	for (const char *p = s; *p; p++)
		if (!(*p == '/' || *p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return false;
	return s[0] != '.' && slash[1] != '.';
}

/* The repository as a URL libgit2 clones: https://, http://, file://; an
 * absolute path is file://, owner/name is GitHub's. */
static int repo_url(struct env_vctx *v, const struct env_node *val, const char *s, char **out)
{
	char buf[64];

	if (has_space(s))
		return ENV_AT(v, val,
			      "'dotfiles' repository '%s' contains white space or a control "
			      "character; percent-encode it",
			      envfile_shown(s, buf, sizeof(buf)));
	if ((dv_str_startswith(s, "https://") && s[8]) ||
	    (dv_str_startswith(s, "http://") && s[7]) || (dv_str_startswith(s, "file:///") && s[8]))
		*out = dv_xstrdup(s);
	else if (s[0] == '/' && s[1])
		*out = dv_xasprintf("file://%s", s);
	else if (github_short(s))
		*out = dv_xasprintf("https://github.com/%s%s", s,
				    dv_str_endswith(s, ".git") ? "" : ".git");
	else
		return ENV_AT(v, val,
			      "'dotfiles' must be an https://, http:// or file:// URL, an absolute "
			      "path or GitHub's OWNER/NAME, not '%s'",
			      envfile_shown(s, buf, sizeof(buf)));
	return 0;
}

/* `target`: ~/PATH or an absolute path, neither the home itself nor "/". */
static int target_path(struct env_vctx *v, const struct env_node *val, const char *s)
{
	char buf[64];

	if (has_space(s) || strstr(s, "/../") || dv_str_endswith(s, "/..") ||
	    !((s[0] == '~' && s[1] == '/' && s[2] && strcmp(s, "~/.")) ||
	      (s[0] == '/' && s[1] && strcmp(s, "/root") && strcmp(s, "/root/"))))
		return ENV_AT(v, val,
			      "'target' must be a folder such as ~/dotfiles or /opt/dotfiles "
			      "(no white space, not the home itself, no '..'), not '%s'",
			      envfile_shown(s, buf, sizeof(buf)));
	return 0;
}

static int set_dotfiles(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			struct env_dotfiles *d)
{
	const char *s;

	d->line = key->line;
	d->col = key->col;
	if (val->type == ENV_NODE_SCALAR) {
		if (envfile_get_string(v, "'dotfiles'", key, val, &s) < 0)
			return -1;
		return repo_url(v, val, s, &d->repository);
	}
	if (val->type != ENV_NODE_MAP)
		return ENV_AT(v, val,
			      "'dotfiles' must be a repository URL or a mapping with 'repository', "
			      "not %s",
			      envfile_describe(val));
	for (size_t i = 0; i < val->n; i += 2) {
		const struct env_node *k = val->items[i], *x = val->items[i + 1];

		if (envfile_check_key(v, val, i) < 0)
			return -1;
		if (!strcmp(k->value, "repository")) {
			if (envfile_get_string(v, "'repository'", k, x, &s) < 0 ||
			    repo_url(v, x, s, &d->repository) < 0)
				return -1;
		} else if (!strcmp(k->value, "install")) {
			if (envfile_get_string(v, "'install'", k, x, &s) < 0)
				return -1;
			d->install = dv_xstrdup(s);
		} else if (!strcmp(k->value, "target")) {
			if (envfile_get_string(v, "'target'", k, x, &s) < 0 ||
			    target_path(v, x, s) < 0)
				return -1;
			d->target = dv_xstrdup(s);
		} else {
			return envfile_unknown_key(v, k, " in 'dotfiles'", dotfiles_keys,
						   sizeof(dotfiles_keys) / sizeof(dotfiles_keys[0]));
		}
	}
	if (!d->repository)
		return ENV_AT(v, key, "'dotfiles' needs 'repository:' (the URL of your dotfiles)");
	return 0;
}

int envfile_userconfig_parse(const char *text, size_t len, const char *display,
			     struct env_userconfig *out, struct dv_error *err)
{
	struct env_vctx v = { .display = display ? display : "config.yaml", .err = err };
	struct env_node *root = NULL;
	struct env_userconfig c = { 0 };
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (envfile_yaml_load(text, len, v.display, &root, err) < 0)
		return -1;
	if (!root || envfile_is_null(root)) {
		ret = 0;
		goto out;
	}
	if (root->type != ENV_NODE_MAP) {
		ENV_AT(&v, root, "the config must be a mapping of settings (dotfiles: ...), not %s",
		       envfile_describe(root));
		goto out;
	}
	for (size_t i = 0; i < root->n; i += 2) {
		const struct env_node *k = root->items[i], *x = root->items[i + 1];

		if (envfile_check_key(&v, root, i) < 0)
			goto out;
		if (!strcmp(k->value, "dotfiles")) {
			if (envfile_is_null(x))
				continue; /* `dotfiles:` left empty: none */
			c.dotfiles = dv_xcalloc(1, sizeof(*c.dotfiles));
			if (set_dotfiles(&v, k, x, c.dotfiles) < 0)
				goto out;
			if (!c.dotfiles->target)
				c.dotfiles->target = dv_xstrdup("~/dotfiles");
			c.dotfiles->config = dv_xstrdup(v.display);
		} else if (!strcmp(k->value, "apt_snapshot_url")) {
			const char *s;
			char buf[64];

			if (envfile_get_string(&v, "'apt_snapshot_url'", k, x, &s) < 0)
				goto out;
			free(c.apt_snapshot_url);
			c.apt_snapshot_url = envfile_apt_url(s);
			if (!c.apt_snapshot_url) {
				ENV_AT(&v, x,
				       "'apt_snapshot_url' must be an http:// or https:// URL such as "
				       "'%s', without white space, quotes, '#', '&', '?' or '\\', not "
				       "'%s'",
				       ENV_APT_SNAPSHOT_URL, envfile_shown(s, buf, sizeof(buf)));
				goto out;
			}
		} else if (!strcmp(k->value, "host")) {
			const char *s;
			char buf[64];

			if (envfile_get_string(&v, "'host'", k, x, &s) < 0)
				goto out;
			/* Checked in full where it is used (cmd/remotehost.c);
			 * here: its form, so the error has a position. */
			if (!dv_str_startswith(s, "ssh://") || has_space(s)) {
				ENV_AT(&v, x,
				       "'host' must be an ssh://USER@HOST[:PORT] URL, not '%s'",
				       envfile_shown(s, buf, sizeof(buf)));
				goto out;
			}
			free(c.host);
			c.host = dv_xstrdup(s);
		} else {
			envfile_unknown_key(&v, k, " in the config", config_keys,
					    sizeof(config_keys) / sizeof(config_keys[0]));
			goto out;
		}
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	ret = 0;
out:
	env_userconfig_release(&c);
	env_node_free(root);
	return ret;
}

char *envfile_userconfig_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (xdg && xdg[0] == '/')
		return dv_xasprintf("%s/devenv/config.yaml", xdg);
	if (home && home[0] == '/')
		return dv_xasprintf("%s/.config/devenv/config.yaml", home);
	return NULL;
}

static int load(struct env_userconfig *out, struct dv_error *err)
{
	dv_autofree char *path = envfile_userconfig_path();
	dv_autofree char *text = NULL;
	dv_autoclose int fd = -1;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!path)
		return 0;
	/* The user's own file, followed through symlinks: dotfile managers
	 * link ~/.config's files into a repository. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR
			       ? 0
			       : dv_err(err, errno, "cannot open '%s'", path);
	if (dv_read_all(fd, &text, &len, err) < 0)
		return dv_err_prefix(err, "reading '%s'", path);
	return envfile_userconfig_parse(text, len, path, out, err);
}

int envfile_userconfig_load(struct env_userconfig *out, struct dv_error *err)
{
	if (load(out, err) < 0)
		return -1;
	out->loaded = true;
	return 0;
}

int envfile_userconfig_apply(struct env_spec *spec, struct env_userconfig *loaded,
			     struct dv_error *err)
{
	struct env_userconfig c;

	if (loaded && loaded->loaded) { /* read once already (main, looking for `host:`) */
		c = *loaded;
		memset(loaded, 0, sizeof(*loaded));
	} else if (envfile_userconfig_load(&c, err) < 0) {
		err->status = 2;
		return -1;
	}
	envfile_dotfiles_free(spec->dotfiles);
	spec->dotfiles = c.dotfiles;
	c.dotfiles = NULL;
	/* The user's snapshot mirror, for an Envfile that names none (the
	 * project's own choice wins; no position: nothing to ask about). */
	if (spec->apt_snapshot && !spec->apt_snapshot_url)
		spec->apt_snapshot_url = dv_steal_ptr(&c.apt_snapshot_url);
	env_userconfig_release(&c);
	return 0;
}
