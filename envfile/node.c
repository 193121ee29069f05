/*
 * envfile/node.c - the small checks every Envfile key's parser shares:
 * positions in messages, "must be X, not Y", duplicate and unknown keys,
 * strings, names, environment maps. Used by the key parsers that live in
 * files of their own (network.c, mounts.c, services.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

int envfile_at(struct env_vctx *v, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[sizeof(v->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dv_err_at(v->err, v->display, line, col, "%s", msg);
}

const char *envfile_shown(const char *s, char *buf, size_t size)
{
	size_t i, j = 0, max = 48;

	for (i = 0; s[i] && j + 4 < size; i++) {
		if (i == max) {
			buf[j++] = '.';
			buf[j++] = '.';
			buf[j++] = '.';
			break;
		}
		buf[j++] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	}
	buf[j] = '\0';
	return buf;
}

bool envfile_is_null(const struct env_node *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->type != ENV_NODE_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->value, nulls[i]) == 0)
			return true;
	return false;
}

const char *envfile_describe(const struct env_node *n)
{
	static const char *const bools[] = { "true", "false", "True", "False", "TRUE", "FALSE",
					     "yes",  "no",    "Yes",  "No",    "YES",  "NO",
					     "on",   "off",   "On",   "Off",   "ON",   "OFF" };
	char *end;

	if (n->type == ENV_NODE_MAP)
		return "a mapping";
	if (n->type == ENV_NODE_SEQ)
		return "a list";
	if (!n->plain)
		return "a string";
	if (envfile_is_null(n))
		return "empty";
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		if (strcmp(n->value, bools[i]) == 0)
			return "a boolean";
	if (strcmp(n->value, ".inf") == 0 || strcmp(n->value, "-.inf") == 0 ||
	    strcmp(n->value, ".nan") == 0)
		return "a number";
	strtod(n->value, &end);
	if (end != n->value && *end == '\0')
		return "a number";
	return "a string";
}

int envfile_check_key(struct env_vctx *v, const struct env_node *map, size_t i)
{
	const struct env_node *key = map->items[i];
	char buf[64];

	if (key->type != ENV_NODE_SCALAR)
		return ENV_AT(v, key, "a key must be a name, not %s", envfile_describe(key));
	if (strlen(key->value) != key->len)
		return ENV_AT(v, key, "a key must not contain a NUL character");
	for (size_t j = 0; j < i; j += 2)
		if (strcmp(map->items[j]->value, key->value) == 0)
			return ENV_AT(v, key, "duplicate key '%s' (first at line %u)",
				      envfile_shown(key->value, buf, sizeof(buf)),
				      map->items[j]->line);
	return 0;
}

int envfile_get_string(struct env_vctx *v, const char *what, const struct env_node *key,
		       const struct env_node *val, const char **out)
{
	const struct env_node *pos = key ? key : val;

	if (val->type != ENV_NODE_SCALAR)
		return ENV_AT(v, val, "%s must be a string, not %s", what, envfile_describe(val));
	if (envfile_is_null(val))
		return ENV_AT(v, pos, "%s has no value; give one or remove the line", what);
	if (strlen(val->value) != val->len)
		return ENV_AT(v, val, "%s must not contain a NUL character", what);
	*out = val->value;
	return 0;
}

int envfile_get_shell_command(struct env_vctx *v, const char *what, const struct env_node *key,
			      const struct env_node *val, struct dv_strv *out)
{
	const char *s;

	if (envfile_get_string(v, what, key, val, &s) < 0)
		return -1;
	if (!s[strspn(s, " \t\r\n")])
		return ENV_AT(v, val, "%s is empty; give the command, or remove the line", what);
	dv_strv_push(out, "/bin/sh");
	dv_strv_push(out, "-c");
	dv_strv_push(out, s);
	return 0;
}

int envfile_unknown_key(struct env_vctx *v, const struct env_node *key, const char *where,
			const char *const *valid, size_t n)
{
	struct dv_buf list = { 0 };
	size_t best_d = (size_t)-1, len = strlen(key->value);
	const char *best = NULL;
	char buf[64];
	int r;

	for (size_t i = 0; i < n; i++) {
		size_t d = dv_str_distance(key->value, valid[i]);

		if (d < best_d) {
			best_d = d;
			best = valid[i];
		}
	}
	if (best && best_d <= 2 && best_d < len)
		return ENV_AT(v, key, "unknown key '%s'%s (did you mean '%s'?)",
			      envfile_shown(key->value, buf, sizeof(buf)), where, best);
	for (size_t i = 0; i < n; i++)
		dv_buf_addf(&list, "%s%s", i ? ", " : "", valid[i]);
	r = ENV_AT(v, key, "unknown key '%s'%s (valid keys: %s)",
		   envfile_shown(key->value, buf, sizeof(buf)), where, list.s);
	dv_buf_release(&list);
	return r;
}

bool envfile_valid_name(const char *s)
{
	size_t i;

	if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0]))
		return false;
	for (i = 1; s[i]; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    !strchr("_.-", s[i]))
			return false;
	return i <= 63;
}

static bool valid_env_name(const char *s)
{
	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return false;
	for (size_t i = 1; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

int envfile_env_map(struct env_vctx *v, const char *what, const struct env_node *val,
		    struct env_kv **out, size_t *n)
{
	char buf[64];

	if (envfile_is_null(val))
		return 0;
	if (val->type != ENV_NODE_MAP)
		return ENV_AT(v, val, "%s must be a mapping of NAME: value, not %s", what,
			      envfile_describe(val));
	*out = dv_xcalloc(val->n / 2 + 1, sizeof(**out));
	for (size_t i = 0; i < val->n; i += 2) {
		const struct env_node *k = val->items[i], *x = val->items[i + 1];

		if (envfile_check_key(v, val, i) < 0)
			return -1;
		if (!valid_env_name(k->value))
			return ENV_AT(v, k,
				      "'%s' in %s is not a valid variable name; use letters, "
				      "digits and '_', not starting with a digit",
				      envfile_shown(k->value, buf, sizeof(buf)), what);
		if (x->type != ENV_NODE_SCALAR)
			return ENV_AT(v, x, "the value of '%s' in %s must be a string, not %s",
				      k->value, what, envfile_describe(x));
		if (envfile_is_null(x))
			return ENV_AT(v, k,
				      "'%s' in %s has no value; write '%s: \"\"' for an "
				      "empty one",
				      k->value, what, k->value);
		if (strlen(x->value) != x->len)
			return ENV_AT(v, x,
				      "the value of '%s' in %s must not contain a NUL "
				      "character",
				      k->value, what);
		(*out)[*n].key = dv_xstrdup(k->value);
		(*out)[*n].value = dv_xstrdup(x->value);
		(*n)++;
	}
	return 0;
}

void envfile_env_release(struct env_kv *env, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(env[i].key);
		free(env[i].value);
	}
	free(env);
}

const char *envfile_real_checkout(struct env_vctx *v)
{
	if (!v->real_checkout) {
		v->real_checkout = realpath(v->checkout, NULL);
		if (!v->real_checkout)
			dv_err(v->err, errno, "cannot resolve the checkout '%s'", v->checkout);
	}
	return v->real_checkout;
}

bool envfile_path_inside(const char *path, const char *dir)
{
	return dv_path_below(path, dir) != NULL;
}

size_t envfile_utf8_char(const unsigned char *s, size_t len, unsigned *cp)
{
	size_t n = s[0] < 0x80                    ? 1
		   : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		   : s[0] >= 0xe0 && s[0] <= 0xef ? 3
		   : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						  : 0;
	unsigned char lo = s[0] == 0xe0 ? 0xa0 : s[0] == 0xf0 ? 0x90 : 0x80;
	unsigned char hi = s[0] == 0xed ? 0x9f : s[0] == 0xf4 ? 0x8f : 0xbf;

	if (!n || n > len || (n > 1 && (s[1] < lo || s[1] > hi)))
		return 0;
	*cp = n == 1 ? s[0] : s[0] & (0x7fu >> n);
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[k] & 0x3fu);
	}
	return n;
}
