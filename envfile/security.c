/*
 * envfile/security.c - the `security:` key:
 *
 *   security:
 *     seccomp: default | unconfined | PATH   # PATH: Docker's profile format,
 *                                           # relative to the Envfile's folder
 *     cap_add: [NET_ADMIN]                   # with or without CAP_, any case, or ALL
 *     cap_drop: [MKNOD]
 *     git_metadata: read-only | read-write  # the checkout's git dir inside the env
 *
 * Capability names are checked against libcap's table here, so that a typo
 * is an Envfile error with its position rather than a failure at `up`.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

static const char *const sec_keys[] = { "seccomp", "cap_add", "cap_drop", "git_metadata" };

static bool null_node(const struct env_node *n)
{
	return n->type == ENV_NODE_SCALAR && n->plain &&
	       (!strcmp(n->value, "") || !strcmp(n->value, "~") || !strcmp(n->value, "null"));
}


static int set_seccomp(const struct env_node *val, const char *display, const char *dir,
		       const char *checkout, struct env_security *out, struct dv_error *err)
{
	dv_autofree char *joined = NULL;
	dv_autofree char *real_checkout = NULL;
	struct stat st;
	char *real;

	if (val->type != ENV_NODE_SCALAR || null_node(val) || strlen(val->value) != val->len)
		return dv_err_at(err, display, val->line, val->col,
				 "'seccomp' must be 'default', 'unconfined' or the path of a profile");
	free(out->seccomp);
	out->seccomp = dv_xstrdup(val->value);
	if (!strcmp(val->value, "default") || !strcmp(val->value, "unconfined"))
		return 0;
	real_checkout = realpath(checkout, NULL);
	if (!real_checkout)
		return dv_err(err, errno, "cannot resolve the checkout '%s'", checkout);
	joined = val->value[0] == '/' ? dv_xstrdup(val->value)
				      : dv_xasprintf("%s/%s", dir, val->value);
	real = realpath(joined, NULL);
	if (!real)
		return dv_err_at(err, display, val->line, val->col,
				 "seccomp profile '%s' cannot be read: %s; paths are relative to the "
				 "Envfile's folder",
				 val->value, strerror(errno));
	if (!envfile_path_inside(real, real_checkout) || stat(real, &st) < 0 ||
	    !S_ISREG(st.st_mode)) {
		free(real);
		return dv_err_at(err, display, val->line, val->col,
				 "seccomp profile '%s' must be a file inside the checkout",
				 val->value);
	}
	free(out->seccomp_abs);
	out->seccomp_abs = real;
	return 0;
}

static int set_caps(const struct env_node *key, const struct env_node *val, const char *display,
		    struct dv_strv *out, struct dv_error *err)
{
	if (null_node(val))
		return 0;
	if (val->type != ENV_NODE_SEQ)
		return dv_err_at(err, display, val->line, val->col,
				 "'%s' must be a list of capabilities such as [NET_ADMIN]",
				 key->value);
	for (size_t i = 0; i < val->n; i++) {
		const struct env_node *c = val->items[i];
		char name[64], lower[64];
		cap_value_t cv;
		size_t j;

		if (c->type != ENV_NODE_SCALAR || strlen(c->value) != c->len || !c->len ||
		    c->len > 40)
			return dv_err_at(err, display, c->line, c->col,
					 "'%s' items must be capability names such as NET_ADMIN",
					 key->value);
		for (j = 0; c->value[j]; j++)
			name[j] = (char)toupper((unsigned char)c->value[j]);
		name[j] = 0;
		if (!strcmp(name, "ALL")) {
			dv_strv_push(out, "ALL");
			continue;
		}
		if (strncmp(name, "CAP_", 4)) {
			memmove(name + 4, name, j + 1);
			memcpy(name, "CAP_", 4);
		}
		for (j = 0; name[j]; j++)
			lower[j] = (char)tolower((unsigned char)name[j]);
		lower[j] = 0;
		if (cap_from_name(lower, &cv) < 0)
			return dv_err_at(err, display, c->line, c->col,
					 "unknown capability '%s' in '%s'; names are as in "
					 "capabilities(7), e.g. NET_ADMIN or CAP_NET_ADMIN",
					 c->value, key->value);
		dv_strv_push(out, name);
	}
	return 0;
}

static int set_git_metadata(const struct env_node *val, const char *display,
			    struct env_security *out, struct dv_error *err)
{
	if (val->type != ENV_NODE_SCALAR || strlen(val->value) != val->len ||
	    (strcmp(val->value, "read-only") && strcmp(val->value, "read-write")))
		return dv_err_at(err, display, val->line, val->col,
				 "'git_metadata' must be 'read-only' (the default) or 'read-write'");
	out->git_metadata_rw = !strcmp(val->value, "read-write");
	return 0;
}

int envfile_set_security(const struct env_node *key, const struct env_node *val,
			 const char *display, const char *dir, const char *checkout,
			 struct env_security *out, struct dv_error *err)
{
	(void)key;
	if (null_node(val))
		return 0;
	if (val->type != ENV_NODE_MAP)
		return dv_err_at(err, display, val->line, val->col,
				 "'security' must be a mapping such as '{ seccomp: default }'");
	for (size_t i = 0; i < val->n; i += 2) {
		const struct env_node *k = val->items[i], *x = val->items[i + 1];
		int r;

		if (k->type != ENV_NODE_SCALAR)
			return dv_err_at(err, display, k->line, k->col, "a key must be a name");
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(val->items[j]->value, k->value))
				return dv_err_at(err, display, k->line, k->col,
						 "duplicate key '%s' (first at line %u)", k->value,
						 val->items[j]->line);
		if (!strcmp(k->value, "seccomp")) {
			out->seccomp_line = k->line;
			out->seccomp_col = k->col;
			r = set_seccomp(x, display, dir, checkout, out, err);
		} else if (!strcmp(k->value, "cap_add")) {
			out->cap_add_line = k->line;
			out->cap_add_col = k->col;
			r = set_caps(k, x, display, &out->cap_add, err);
		} else if (!strcmp(k->value, "cap_drop")) {
			r = set_caps(k, x, display, &out->cap_drop, err);
		} else if (!strcmp(k->value, "git_metadata")) {
			out->git_metadata_line = k->line;
			out->git_metadata_col = k->col;
			r = set_git_metadata(x, display, out, err);
		} else {
			size_t best = 0, d, bd = (size_t)-1;

			for (size_t j = 0; j < 4; j++)
				if ((d = dv_str_distance(k->value, sec_keys[j])) < bd)
					bd = d, best = j;
			if (bd <= 2)
				return dv_err_at(err, display, k->line, k->col,
						 "unknown key '%s' in 'security' (did you mean '%s'?)",
						 k->value, sec_keys[best]);
			return dv_err_at(err, display, k->line, k->col,
					 "unknown key '%s' in 'security' (valid keys: seccomp, "
					 "cap_add, cap_drop, git_metadata)",
					 k->value);
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

void env_security_release(struct env_security *sec)
{
	free(sec->seccomp);
	free(sec->seccomp_abs);
	free(sec->seccomp_text);
	dv_strv_release(&sec->cap_add);
	dv_strv_release(&sec->cap_drop);
	memset(sec, 0, sizeof(*sec));
}
