/*
 * envfile/cachetrust.c - `cache_trust: FILE`: an allowed_signers file of
 * the checkout (ssh-keygen's format) whose principals the team cache's
 * images must be signed by (provision/signing.c).
 *
 * FILE is relative to the Envfile's folder and stays inside the checkout:
 * no absolute path, no "." or ".." part; it is opened beneath the checkout
 * with no symlink on the way when it is read.
 */
#include <string.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int envfile_set_cache_trust(struct env_vctx *v, const struct env_node *key,
			    const struct env_node *val, struct env_spec *spec)
{
	const char *checkout, *below, *s;
	dv_autofree char *copy = NULL;
	struct dv_buf b = { 0 };
	char buf[64], *save = NULL;

	if (val->type != ENV_NODE_SCALAR || envfile_is_null(val) || !val->value[0] ||
	    strlen(val->value) != val->len)
		return ENV_AT(v, val,
			      "'cache_trust' must name an allowed_signers file of the checkout, "
			      "such as 'cache_trust: .devenv/allowed_signers', not %s",
			      envfile_describe(val));
	s = val->value;
	if (s[0] == '/')
		return ENV_AT(v, val,
			      "'cache_trust' must be a path inside the checkout (relative to the "
			      "Envfile's folder), not the absolute '%s'",
			      envfile_shown(s, buf, sizeof(buf)));
	if (!(checkout = envfile_real_checkout(v)))
		return -1;
	if (!(below = dv_path_below(v->dir, checkout)))
		return ENV_AT(v, val, "the Envfile's folder is not inside its checkout");
	if (below[0])
		dv_buf_addf(&b, "%s", below);
	copy = dv_xstrdup(s);
	for (char *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (!strcmp(p, "..") || !strcmp(p, ".")) {
			dv_buf_release(&b);
			return ENV_AT(v, val,
				      "'cache_trust' file '%s' must not contain '.' or '..': write "
				      "its path inside the checkout",
				      envfile_shown(s, buf, sizeof(buf)));
		}
		dv_buf_addf(&b, "%s%s", b.len ? "/" : "", p);
	}
	free(spec->cache_trust);
	spec->cache_trust = b.s;
	spec->cache_trust_line = key->line;
	spec->cache_trust_col = key->col;
	return 0;
}
