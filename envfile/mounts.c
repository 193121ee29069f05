/*
 * envfile/mounts.c - `volumes` (named volumes kept in the store) and
 * `mounts` (host folders and files), both "SOURCE:TARGET[:ro|:rw]".
 *
 * A host mount's relative source starts at the Envfile's folder, as `copy`
 * does, and must stay inside the checkout once symlinks are resolved: a
 * teammate's Envfile must not reach into ~/.ssh by a "../../". So must an
 * absolute one written inside the checkout. Any other absolute source is
 * the writer's explicit choice and may be anywhere. Sources must exist
 * now, so that a typo is an error here rather than an empty folder
 * appearing somewhere at `up`; the real path found here is what `up` opens
 * (race-free, provision/hostpath.c), never the path as written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

static bool has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return true;
	return false;
}

static bool looks_like_path(const char *s)
{
	return s[0] == '/' || s[0] == '.' || s[0] == '~' || strchr(s, '/');
}

static int resolve_host(struct env_vctx *v, const struct env_node *item, const char *what,
			struct env_mount *m)
{
	dv_autofree char *joined = NULL;
	const char *checkout;
	char buf[64], *real;

	if (m->source[0] == '~')
		return ENV_AT(v, item, "%s: '~' is not expanded; write the absolute path, or a path "
			      "relative to the Envfile's folder", what);
	joined = m->source[0] == '/' ? dv_xstrdup(m->source)
				     : dv_xasprintf("%s/%s", v->dir, m->source);
	real = realpath(joined, NULL);
	if (!real && (errno == ENOENT || errno == ENOTDIR))
		return ENV_AT(v, item, "%s: '%s' does not exist; create it, or fix the path%s", what,
			      envfile_shown(m->source, buf, sizeof(buf)),
			      m->source[0] == '/' ? "" : " (relative to the Envfile's folder)");
	if (!real)
		return ENV_AT(v, item, "%s: '%s' cannot be resolved: %s", what,
			      envfile_shown(m->source, buf, sizeof(buf)), strerror(errno));
	m->source_abs = real;
	checkout = envfile_real_checkout(v);
	if (!checkout)
		return -1;
	/* An absolute path written inside the checkout is treated as a
	 * relative one: the checkout's own symlink must not turn a path that
	 * reads as the project's (as the trust prompt shows it) into '/'. */
	if (m->source[0] == '/' && !envfile_path_inside(m->source, checkout) &&
	    !envfile_path_inside(m->source, v->checkout))
		return 0;
	if (m->source[0] == '/' && !envfile_path_inside(real, checkout))
		return ENV_AT(v, item, "%s: '%s' is inside the checkout but leads outside it (a "
			      "symlink?); write the path it leads to if you mean to share that folder",
			      what, envfile_shown(m->source, buf, sizeof(buf)));
	if (!envfile_path_inside(real, checkout))
		return ENV_AT(v, item, "%s: '%s' is outside the checkout; write it as an absolute "
			      "path if you mean to share that folder", what,
			      envfile_shown(m->source, buf, sizeof(buf)));
	return 0;
}

static int parse_mount(struct env_vctx *v, const struct env_node *item, enum env_mount_kinds kinds,
		       const char *what, struct env_mount *m)
{
	dv_autofree char *text = NULL;
	char *target, *opt, buf[64];
	const char *example = kinds == ENV_MOUNT_HOST ? "\"./data:/data:ro\""
						      : "\"cache:/home/dev/.cache\"";

	m->line = item->line;
	m->col = item->col;
	if (item->type != ENV_NODE_SCALAR || envfile_is_null(item))
		return ENV_AT(v, item, "each entry of %s must be a string such as %s, not %s", what,
			      example, envfile_describe(item));
	text = dv_xstrdup(item->value);
	target = strchr(text, ':');
	if (!target || target == text)
		return ENV_AT(v, item, "%s entry '%s' is not SOURCE:TARGET; write it as %s", what,
			      envfile_shown(item->value, buf, sizeof(buf)), example);
	*target++ = '\0';
	opt = strchr(target, ':');
	if (opt) {
		*opt++ = '\0';
		if (strcmp(opt, "ro") == 0)
			m->readonly = true;
		else if (strcmp(opt, "rw") != 0)
			return ENV_AT(v, item, "%s entry '%s': the option must be 'ro' or 'rw', not "
				      "'%s'", what, envfile_shown(item->value, buf, sizeof(buf)),
				      opt);
	}
	if (target[0] != '/')
		return ENV_AT(v, item, "%s entry '%s': the target must be an absolute path inside "
			      "the env, such as '/data'", what,
			      envfile_shown(item->value, buf, sizeof(buf)));
	if (strspn(target, "/") == strlen(target))
		return ENV_AT(v, item, "%s entry '%s': cannot mount over '/'; choose a folder such "
			      "as '/data'", what, envfile_shown(item->value, buf, sizeof(buf)));
	if (has_dotdot(target))
		return ENV_AT(v, item, "%s entry '%s': the target must not contain '..'", what,
			      envfile_shown(item->value, buf, sizeof(buf)));
	m->target = dv_xstrdup(target);
	while (strlen(m->target) > 1 && m->target[strlen(m->target) - 1] == '/')
		m->target[strlen(m->target) - 1] = '\0';
	m->source = dv_xstrdup(text);
	if (kinds == ENV_MOUNT_VOLUMES && looks_like_path(text))
		return ENV_AT(v, item, "'volumes' holds named volumes such as "
			      "\"cache:/home/dev/.cache\"; put host paths such as '%s' in 'mounts'",
			      envfile_shown(text, buf, sizeof(buf)));
	m->volume = kinds == ENV_MOUNT_VOLUMES || (kinds == ENV_MOUNT_ANY && !looks_like_path(text));
	if (m->volume && !envfile_valid_name(text))
		return ENV_AT(v, item, "volume name '%s' must be 1 to 63 lower-case letters, digits, "
			      "'_', '.' or '-', starting with a letter or digit",
			      envfile_shown(text, buf, sizeof(buf)));
	if (!m->volume)
		return resolve_host(v, item, what, m);
	return 0;
}

int envfile_set_mounts(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		       enum env_mount_kinds kinds, const char *what, struct env_mount **out,
		       size_t *n)
{
	char buf[64];

	(void)key;
	if (envfile_is_null(val))
		return 0;
	if (val->type != ENV_NODE_SEQ)
		return ENV_AT(v, val, "%s must be a list such as [%s], not %s", what,
			      kinds == ENV_MOUNT_HOST ? "\"./data:/data:ro\""
						      : "\"cache:/home/dev/.cache\"",
			      envfile_describe(val));
	*out = dv_xcalloc(val->n + 1, sizeof(**out));
	for (size_t i = 0; i < val->n; i++) {
		(*n)++;
		if (parse_mount(v, val->items[i], kinds, what, &(*out)[i]) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp((*out)[j].target, (*out)[i].target) == 0)
				return ENV_AT(v, val->items[i], "'%s' is already mounted at line %u; "
					      "each target can be mounted once",
					      envfile_shown((*out)[i].target, buf, sizeof(buf)),
					      (*out)[j].line);
	}
	return 0;
}

int envfile_check_mount_targets(struct env_vctx *v, const struct env_spec *spec)
{
	char buf[64];

	for (size_t i = 0; i < spec->n_volumes + spec->n_mounts; i++) {
		const struct env_mount *m = i < spec->n_volumes ? &spec->volumes[i]
								: &spec->mounts[i - spec->n_volumes];

		if (strcmp(m->target, spec->workdir) == 0)
			return envfile_at(v, m->line, m->col, "'%s' is the workdir, where the "
					  "checkout is mounted; choose another target",
					  envfile_shown(m->target, buf, sizeof(buf)));
		/* A mount on a parent of workdir would hide the checkout, mounted
		 * before it. */
		if (strncmp(spec->workdir, m->target, strlen(m->target)) == 0 &&
		    spec->workdir[strlen(m->target)] == '/')
			return envfile_at(v, m->line, m->col, "'%s' holds the workdir '%s' and would "
					  "hide the checkout; choose another target",
					  envfile_shown(m->target, buf, sizeof(buf)), spec->workdir);
		for (size_t j = 0; j < spec->n_volumes && i >= spec->n_volumes; j++)
			if (strcmp(spec->volumes[j].target, m->target) == 0)
				return envfile_at(v, m->line, m->col, "'%s' is already mounted by "
						  "'volumes' at line %u; each target can be "
						  "mounted once",
						  envfile_shown(m->target, buf, sizeof(buf)),
						  spec->volumes[j].line);
	}
	return 0;
}

void envfile_mounts_release(struct env_mount *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].source);
		free(m[i].source_abs);
		free(m[i].target);
	}
	free(m);
}
