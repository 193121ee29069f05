/*
 * envfile/mounts.c - `volumes` (named volumes kept in the store) and
 * `mounts` (host folders and files), both "SOURCE:TARGET[:OPTIONS]" or a
 * mapping { name|source, target, readonly, shared }.
 *
 * A named volume is the env's own (provision/volname.c) unless `shared`
 * says it is the store-wide volume of that name, which every env naming it
 * as shared reaches: a trust request, at the entry's position. One name is
 * one volume within the env and its services, so every entry naming it says
 * `shared` or none does.
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
		return ENV_AT(v, item,
			      "%s: '~' is not expanded; write the absolute path, or a path "
			      "relative to the Envfile's folder",
			      what);
	joined = m->source[0] == '/' ? dv_xstrdup(m->source)
				     : dv_xasprintf("%s/%s", v->dir, m->source);
	real = realpath(joined, NULL);
	if (!real && (errno == ENOENT || errno == ENOTDIR))
		return ENV_AT(v, item, "%s: '%s' does not exist; create it, or fix the path%s",
			      what, envfile_shown(m->source, buf, sizeof(buf)),
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
		return ENV_AT(v, item,
			      "%s: '%s' is inside the checkout but leads outside it (a "
			      "symlink?); write the path it leads to if you mean to share that folder",
			      what, envfile_shown(m->source, buf, sizeof(buf)));
	if (!envfile_path_inside(real, checkout))
		return ENV_AT(v, item,
			      "%s: '%s' is outside the checkout; write it as an absolute "
			      "path if you mean to share that folder",
			      what, envfile_shown(m->source, buf, sizeof(buf)));
	return 0;
}

bool envfile_volume_name_scoped(const char *s)
{
	for (const char *p = strchr(s, '-'); p; p = strchr(p + 1, '-'))
		if (strspn(p + 1, "0123456789abcdef") == 12 && p[13] == '-')
			return true;
	return false;
}

/* What both forms share once source, target and options are known. `text`
 * is the entry as SOURCE:TARGET[:OPTIONS], for messages; shared_at is where
 * `shared` was said (NULL: nowhere). */
static int finish_mount(struct env_vctx *v, const struct env_node *item, enum env_mount_kinds kinds,
			const char *what, const char *text, const char *source, const char *target,
			const struct env_node *shared_at, struct env_mount *m)
{
	char buf[64];

	if (target[0] != '/')
		return ENV_AT(v, item,
			      "%s entry '%s': the target must be an absolute path inside "
			      "the env, such as '/data'",
			      what, envfile_shown(text, buf, sizeof(buf)));
	if (strspn(target, "/") == strlen(target))
		return ENV_AT(v, item,
			      "%s entry '%s': cannot mount over '/'; choose a folder such "
			      "as '/data'",
			      what, envfile_shown(text, buf, sizeof(buf)));
	if (has_dotdot(target))
		return ENV_AT(v, item, "%s entry '%s': the target must not contain '..'", what,
			      envfile_shown(text, buf, sizeof(buf)));
	m->target = dv_xstrdup(target);
	while (strlen(m->target) > 1 && m->target[strlen(m->target) - 1] == '/')
		m->target[strlen(m->target) - 1] = '\0';
	m->source = dv_xstrdup(source);
	if (kinds == ENV_MOUNT_VOLUMES && looks_like_path(source))
		return ENV_AT(v, item,
			      "'volumes' holds named volumes such as "
			      "\"cache:/home/dev/.cache\"; put host paths such as '%s' in 'mounts'",
			      envfile_shown(source, buf, sizeof(buf)));
	m->volume = kinds == ENV_MOUNT_VOLUMES ||
		    (kinds == ENV_MOUNT_ANY && !looks_like_path(source));
	if (m->volume && !envfile_valid_name(source))
		return ENV_AT(v, item,
			      "volume name '%s' must be 1 to 63 lower-case letters, digits, "
			      "'_', '.' or '-', starting with a letter or digit",
			      envfile_shown(source, buf, sizeof(buf)));
	if (shared_at && !m->volume)
		return ENV_AT(v, shared_at,
			      "%s entry '%s': 'shared' is for named volumes; a host "
			      "path is the host's already",
			      what, envfile_shown(text, buf, sizeof(buf)));
	if (m->shared && envfile_volume_name_scoped(source))
		return ENV_AT(v, shared_at,
			      "shared volume name '%s' holds a dash, 12 hex digits "
			      "and a dash, as the store's name of an env's own volume does; choose "
			      "another name",
			      envfile_shown(source, buf, sizeof(buf)));
	if (!m->volume)
		return resolve_host(v, item, what, m);
	return 0;
}

/* "SOURCE:TARGET[:OPTIONS]", OPTIONS a comma-separated list of 'ro', 'rw'
 * and 'shared' (a named volume that is the store-wide one of that name,
 * not the env's own: a trust request). */
static int parse_mount(struct env_vctx *v, const struct env_node *item, enum env_mount_kinds kinds,
		       const char *what, struct env_mount *m)
{
	dv_autofree char *text = NULL;
	char *target, *opt, buf[64], buf2[64];
	const char *example = kinds == ENV_MOUNT_HOST ? "\"./data:/data:ro\""
						      : "\"cache:/home/dev/.cache\"";
	bool ro = false, rw = false;

	text = dv_xstrdup(item->value);
	target = strchr(text, ':');
	if (!target || target == text)
		return ENV_AT(v, item, "%s entry '%s' is not SOURCE:TARGET; write it as %s", what,
			      envfile_shown(item->value, buf, sizeof(buf)), example);
	*target++ = '\0';
	opt = strchr(target, ':');
	if (opt) {
		*opt++ = '\0';
		for (char *o = opt, *next; o; o = next) {
			bool *seen = NULL;

			next = strchr(o, ',');
			if (next)
				*next++ = '\0';
			if (strcmp(o, "ro") == 0)
				seen = &ro;
			else if (strcmp(o, "rw") == 0)
				seen = &rw;
			else if (strcmp(o, "shared") == 0 && kinds != ENV_MOUNT_HOST)
				seen = &m->shared;
			if (!seen || *seen)
				return ENV_AT(v, item, "%s entry '%s': %s, not '%s'", what,
					      envfile_shown(item->value, buf, sizeof(buf)),
					      kinds == ENV_MOUNT_HOST
						      ? "the option must be 'ro' or 'rw'"
						      : "each option must be 'ro', 'rw' or 'shared' "
							"('ro,shared' for both)",
					      envfile_shown(o, buf2, sizeof(buf2)));
			*seen = true;
		}
		if (ro && rw)
			return ENV_AT(v, item, "%s entry '%s': 'ro' or 'rw', not both", what,
				      envfile_shown(item->value, buf, sizeof(buf)));
		m->readonly = ro;
	}
	return finish_mount(v, item, kinds, what, item->value, text, target,
			    m->shared ? item : NULL, m);
}

static int get_bool(struct env_vctx *v, const char *what, const struct env_node *key,
		    const struct env_node *val, bool *out)
{
	if (val->type == ENV_NODE_SCALAR && val->plain &&
	    (strcmp(val->value, "true") == 0 || strcmp(val->value, "false") == 0)) {
		*out = val->value[0] == 't';
		return 0;
	}
	return ENV_AT(v, envfile_is_null(val) ? key : val,
		      "'%s' in %s must be true or false, "
		      "not %s",
		      key->value, what, envfile_describe(val));
}

/* { name: cache, target: /c, readonly: true, shared: true } for a named
 * volume, { source: ./data, target: /data, readonly: true } for a host
 * path: compose's long syntax, with devenv's names. */
static int parse_mount_map(struct env_vctx *v, const struct env_node *item,
			   enum env_mount_kinds kinds, const char *what, struct env_mount *m)
{
	static const char *const keys[] = { "name", "source", "target", "readonly", "shared" };
	const struct env_node *name = NULL, *source = NULL, *shared_at = NULL;
	const char *src = NULL, *target = NULL;
	dv_autofree char *entry = dv_xasprintf("an entry of %s", what);
	dv_autofree char *text = NULL;
	const char *want = kinds == ENV_MOUNT_VOLUMES ? "'name:' (the volume's)"
			   : kinds == ENV_MOUNT_HOST
				   ? "'source:' (a host path)"
				   : "'name:' (a named volume) or 'source:' (a host path)";

	for (size_t i = 0; i < item->n; i += 2) {
		const struct env_node *k = item->items[i], *x = item->items[i + 1];
		dv_autofree char *kwhat = NULL;
		int r;

		if (envfile_check_key(v, item, i) < 0)
			return -1;
		kwhat = dv_xasprintf("'%s' in %s", k->value, entry);
		if (strcmp(k->value, "name") == 0) {
			name = k;
			r = envfile_get_string(v, kwhat, k, x, &src);
		} else if (strcmp(k->value, "source") == 0) {
			source = k;
			r = envfile_get_string(v, kwhat, k, x, &src);
		} else if (strcmp(k->value, "target") == 0) {
			r = envfile_get_string(v, kwhat, k, x, &target);
		} else if (strcmp(k->value, "readonly") == 0) {
			r = get_bool(v, entry, k, x, &m->readonly);
		} else if (strcmp(k->value, "shared") == 0) {
			shared_at = k;
			r = get_bool(v, entry, k, x, &m->shared);
		} else {
			dv_autofree char *where = dv_xasprintf(" in %s", entry);

			r = envfile_unknown_key(v, k, where, keys, sizeof(keys) / sizeof(keys[0]));
		}
		if (r < 0)
			return -1;
	}
	if (name && source)
		return ENV_AT(v, source, "%s has both 'name:' and 'source:'; give %s", entry, want);
	if ((name && kinds == ENV_MOUNT_HOST) || (source && kinds == ENV_MOUNT_VOLUMES))
		return ENV_AT(v, name ? name : source, "%s: %s; %s", entry,
			      name ? "'name:' names a volume, which goes in 'volumes'"
				   : "'source:' is a host path, which goes in 'mounts'",
			      kinds == ENV_MOUNT_HOST ? "give 'source:'" : "give 'name:'");
	if (!src)
		return ENV_AT(v, item, "%s needs %s", entry, want);
	if (!target)
		return ENV_AT(v, item, "%s needs 'target:', the path inside the env", entry);
	if (name && looks_like_path(src))
		return ENV_AT(v, name,
			      "%s: 'name:' is a volume's name, not a path such as '%s'; "
			      "a host path goes in 'source:'",
			      entry, src);
	if (source && !looks_like_path(src))
		return ENV_AT(v, source,
			      "%s: 'source:' is a host path, such as './%s'; a named "
			      "volume goes in 'name:'",
			      entry, src);
	text = dv_xasprintf("%s:%s", src, target);
	return finish_mount(v, item, kinds, what, text, src, target, shared_at, m);
}

static int parse_entry(struct env_vctx *v, const struct env_node *item, enum env_mount_kinds kinds,
		       const char *what, struct env_mount *m)
{
	m->line = item->line;
	m->col = item->col;
	if (item->type == ENV_NODE_MAP)
		return parse_mount_map(v, item, kinds, what, m);
	if (item->type != ENV_NODE_SCALAR || envfile_is_null(item))
		return ENV_AT(v, item, "each entry of %s must be a string such as %s%s, not %s",
			      what,
			      kinds == ENV_MOUNT_HOST ? "\"./data:/data:ro\""
						      : "\"cache:/home/dev/.cache\"",
			      kinds == ENV_MOUNT_HOST ? " or a mapping { source, target }"
						      : " or a mapping { name, target }",
			      envfile_describe(item));
	return parse_mount(v, item, kinds, what, m);
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
		if (parse_entry(v, val->items[i], kinds, what, &(*out)[i]) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp((*out)[j].target, (*out)[i].target) == 0)
				return ENV_AT(v, val->items[i],
					      "'%s' is already mounted at line %u; "
					      "each target can be mounted once",
					      envfile_shown((*out)[i].target, buf, sizeof(buf)),
					      (*out)[j].line);
	}
	return 0;
}

const struct env_mount *envfile_volume_nth(const struct env_spec *spec, size_t i)
{
	if (i < spec->n_volumes)
		return &spec->volumes[i];
	i -= spec->n_volumes;
	for (size_t s = 0; s < spec->n_services; s++)
		for (size_t j = 0; j < spec->services[s].n_volumes; j++)
			if (spec->services[s].volumes[j].volume && i-- == 0)
				return &spec->services[s].volumes[j];
	return NULL;
}

/* A name is one volume in an env (its own, or the shared one), whichever
 * of the env and its services names it: every entry says the same. */
static int check_shared(struct env_vctx *v, const struct env_spec *spec)
{
	const struct env_mount *a, *b;
	char buf[64];

	for (size_t j = 1; (b = envfile_volume_nth(spec, j)) != NULL; j++)
		for (size_t i = 0; (a = envfile_volume_nth(spec, i)) != NULL && i < j; i++)
			if (!strcmp(a->source, b->source) && a->shared != b->shared)
				return envfile_at(v, b->line, b->col,
						  "volume '%s' is %sshared here "
						  "but %sat line %u; say 'shared' on every entry "
						  "naming it, or on none",
						  envfile_shown(b->source, buf, sizeof(buf)),
						  b->shared ? "" : "not ", a->shared ? "" : "not ",
						  a->line);
	return 0;
}

int envfile_check_mount_targets(struct env_vctx *v, const struct env_spec *spec)
{
	char buf[64];

	if (check_shared(v, spec) < 0)
		return -1;

	for (size_t i = 0; i < spec->n_volumes + spec->n_mounts; i++) {
		const struct env_mount *m = i < spec->n_volumes ? &spec->volumes[i]
								: &spec->mounts[i - spec->n_volumes];

		if (strcmp(m->target, spec->workdir) == 0)
			return envfile_at(v, m->line, m->col,
					  "'%s' is the workdir, where the "
					  "checkout is mounted; choose another target",
					  envfile_shown(m->target, buf, sizeof(buf)));
		/* A mount on a parent of workdir would hide the checkout, mounted
		 * before it. */
		if (strncmp(spec->workdir, m->target, strlen(m->target)) == 0 &&
		    spec->workdir[strlen(m->target)] == '/')
			return envfile_at(v, m->line, m->col,
					  "'%s' holds the workdir '%s' and would "
					  "hide the checkout; choose another target",
					  envfile_shown(m->target, buf, sizeof(buf)), spec->workdir);
		for (size_t j = 0; j < spec->n_volumes && i >= spec->n_volumes; j++)
			if (strcmp(spec->volumes[j].target, m->target) == 0)
				return envfile_at(v, m->line, m->col,
						  "'%s' is already mounted by "
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
