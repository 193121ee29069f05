/*
 * envfile/cache.c - `cache: [/root/.cache/pip, /var/cache/apt]`, top-level
 * (every `run` step) and on a `run` step: folders of the store mounted at
 * those paths while the step runs (provision/cachemount.c), never part of
 * the step's layer or its key.
 *
 * A path is absolute and plain (no '.', '..' or empty component, of
 * [A-Za-z0-9._@~-] and '/', at most ENV_CACHE_PATH_MAX bytes), so that its
 * store folder's name is the path itself with '/' written '+'; not '/',
 * and not in /proc, /sys or /dev, which the runtime mounts itself. One path
 * inside another is refused: the outer mount would hide the inner one.
 */
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/banned.h"

static bool path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._@~-/", c);
}

/* "the path is X" when it is not fit, NULL when it is. */
static const char *path_problem(const char *p)
{
	static const char *const runtime[] = { "/proc", "/sys", "/dev" };

	if (p[0] != '/')
		return "not an absolute path";
	if (strlen(p) > ENV_CACHE_PATH_MAX)
		return "too long";
	for (const char *c = p; *c; c++)
		if (!path_char(*c))
			return "made of other characters than letters, digits, '._@~-' and '/'";
	for (const char *c = p; *c; c++) {
		size_t len;

		if (*c != '/')
			continue;
		len = strcspn(c + 1, "/");
		if ((len == 0 && c[1]) || (len == 1 && c[1] == '.') ||
		    (len == 2 && c[1] == '.' && c[2] == '.'))
			return "not plain (an empty, '.' or '..' component)";
	}
	if (strcmp(p, "/") == 0)
		return "the root";
	for (size_t i = 0; i < sizeof(runtime) / sizeof(*runtime); i++) {
		size_t n = strlen(runtime[i]);

		if (strncmp(p, runtime[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
			return "where the runtime mounts its own file systems";
	}
	return NULL;
}

bool envfile_cache_nested(const char *outer, const char *inner)
{
	size_t n = strlen(outer);

	return strncmp(outer, inner, n) == 0 && (inner[n] == '\0' || inner[n] == '/');
}

int envfile_set_cache(struct env_vctx *v, const struct env_node *val, struct env_cache **out,
		      size_t *n)
{
	char buf[64], buf2[64];

	if (envfile_is_null(val))
		return 0;
	if (val->type != ENV_NODE_SEQ)
		return ENV_AT(v, val,
			      "'cache' must be a list of paths such as [/root/.cache/pip], not %s",
			      envfile_describe(val));
	*out = dv_xcalloc(val->n + 1, sizeof(**out));
	for (size_t i = 0; i < val->n; i++) {
		const struct env_node *item = val->items[i];
		struct env_cache *c = &(*out)[*n];
		const char *s, *why;

		if (item->type != ENV_NODE_SCALAR || !item->len)
			return ENV_AT(v, item,
				      "each 'cache' entry must be a path such as "
				      "/root/.cache/pip, not %s",
				      envfile_describe(item));
		s = item->value;
		if (strlen(s) != item->len || (why = path_problem(s)) != NULL)
			return ENV_AT(v, item,
				      "'cache' path '%s' is %s; give an absolute path such as "
				      "/root/.cache/pip",
				      envfile_shown(s, buf, sizeof(buf)),
				      strlen(s) != item->len ? "not text" : why);
		c->path = dv_xstrdup(s);
		/* "/var/cache/apt/" is "/var/cache/apt" */
		while (strlen(c->path) > 1 && c->path[strlen(c->path) - 1] == '/')
			c->path[strlen(c->path) - 1] = '\0';
		c->line = item->line;
		c->col = item->col;
		(*n)++;
		for (size_t j = 0; j + 1 < *n; j++) {
			const char *a = (*out)[j].path, *b = c->path;

			if (strcmp(a, b) == 0)
				return ENV_AT(v, item,
					      "'cache' path '%s' is already listed at line %u",
					      envfile_shown(b, buf, sizeof(buf)), (*out)[j].line);
			if (envfile_cache_nested(a, b) || envfile_cache_nested(b, a))
				return ENV_AT(v, item,
					      "'cache' paths '%s' and '%s' are one inside the "
					      "other; keep the outer one",
					      envfile_shown(a, buf, sizeof(buf)),
					      envfile_shown(b, buf2, sizeof(buf2)));
		}
	}
	return 0;
}

int envfile_check_caches(struct env_vctx *v, const struct env_spec *spec)
{
	char buf[64], buf2[64];

	for (size_t i = 0; i < spec->n_provision; i++) {
		const struct env_step *st = &spec->provision[i];

		for (size_t j = 0; j < st->n_cache; j++)
			for (size_t k = 0; k < spec->n_cache; k++) {
				const char *a = spec->cache[k].path, *b = st->cache[j].path;

				/* The same path in both: one mount. */
				if (strcmp(a, b) &&
				    (envfile_cache_nested(a, b) || envfile_cache_nested(b, a)))
					return envfile_at(v, st->cache[j].line, st->cache[j].col,
							  "'cache' path '%s' and the top-level 'cache' path "
							  "'%s' (line %u) are one inside the other; keep the "
							  "outer one",
							  envfile_shown(b, buf, sizeof(buf)),
							  envfile_shown(a, buf2, sizeof(buf2)),
							  spec->cache[k].line);
			}
	}
	return 0;
}

void envfile_cache_release(struct env_cache *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}
