/*
 * envfile/secrets.c - `secrets:` (top level) and a step's or an `on_up`
 * entry's `secrets: [NAME, ...]`.
 *
 *   secrets:
 *     npm_token: { file: .secrets/npm }      # relative: inside the checkout
 *     licence:   { file: /home/ann/lic.key } # absolute: a trust request
 *     gh:        { env: GH_TOKEN }           # a host variable: a request
 *     vault:     { command: "pass show x" }  # run on the host: a request
 *
 * Only where each value comes from is kept here; the values are read on
 * the host by provision/secrets.c when a step or on_up needs them, and
 * never enter the spec (nor its digest, nor a key).
 */
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

static const char *const secret_keys[] = { "file", "env", "command" };

/* 1 to 63 of [A-Za-z0-9_.-], not starting with '.' or '-': a file name
 * under /run/secrets whatever it is. */
static bool valid_secret_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

/* A host variable's name: [A-Za-z_][A-Za-z0-9_]*. */
static bool valid_var(const char *s)
{
	if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A relative file: its path below the checkout, no ".." nor "." part (it
 * is opened beneath the checkout with no symlink on the way). */
static int file_rel(struct env_vctx *v, const struct env_node *val, const char *s, char **out)
{
	const char *checkout = envfile_real_checkout(v), *below;
	dv_autofree char *copy = dv_xstrdup(s);
	char buf[64], *save = NULL;
	struct dv_buf b = { 0 };

	if (!checkout)
		return -1;
	below = dv_path_below(v->dir, checkout);
	if (!below)
		return ENV_AT(v, val, "the Envfile's folder is not inside its checkout");
	if (below[0])
		dv_buf_addf(&b, "%s", below);
	for (char *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (!strcmp(p, "..") || !strcmp(p, ".")) {
			dv_buf_release(&b);
			return ENV_AT(v, val,
				      "secret file '%s' must not contain '.' or '..'; write the path "
				      "inside the checkout, or an absolute host path",
				      envfile_shown(s, buf, sizeof(buf)));
		}
		dv_buf_addf(&b, "%s%s", b.len ? "/" : "", p);
	}
	if (!b.len) {
		dv_buf_release(&b);
		return ENV_AT(v, val, "secret file '%s' names no file",
			      envfile_shown(s, buf, sizeof(buf)));
	}
	*out = b.s;
	return 0;
}

static int parse_secret(struct env_vctx *v, const struct env_node *name, const struct env_node *val,
			struct env_secret *out)
{
	const struct env_node *src_k = NULL, *src_v = NULL;
	char buf[64];
	const char *s;

	out->name = dv_xstrdup(name->value);
	out->line = name->line;
	out->col = name->col;
	if (!valid_secret_name(name->value))
		return ENV_AT(v, name,
			      "secret name '%s' must be 1 to 63 letters, digits, '_', '.' or '-', "
			      "not starting with '.' or '-' (it is the file /run/secrets/NAME)",
			      envfile_shown(name->value, buf, sizeof(buf)));
	if (val->type != ENV_NODE_MAP || val->n == 0)
		return ENV_AT(v, envfile_is_null(val) ? name : val,
			      "secret '%s' must be a mapping with one of 'file:', 'env:' or "
			      "'command:', not %s",
			      out->name, envfile_describe(val));
	for (size_t i = 0; i < val->n; i += 2) {
		const struct env_node *k = val->items[i];
		bool known = false;

		if (envfile_check_key(v, val, i) < 0)
			return -1;
		for (size_t j = 0; j < sizeof(secret_keys) / sizeof(*secret_keys); j++)
			known |= !strcmp(k->value, secret_keys[j]);
		if (!known)
			return envfile_unknown_key(v, k, " in a secret", secret_keys,
						   sizeof(secret_keys) / sizeof(*secret_keys));
		if (src_k)
			return ENV_AT(v, k, "secret '%s' has both '%s' and '%s'; give one",
				      out->name, src_k->value, k->value);
		src_k = k;
		src_v = val->items[i + 1];
	}
	if (envfile_get_string(v, "the secret's source", src_k, src_v, &s) < 0)
		return -1;
	out->src_line = src_v->line;
	out->src_col = src_v->col;
	out->source = dv_xstrdup(s);
	if (!strcmp(src_k->value, "env")) {
		out->kind = ENV_SECRET_ENV;
		if (!valid_var(s))
			return ENV_AT(v, src_v,
				      "'env' must name a host variable ([A-Za-z_][A-Za-z0-9_]*), "
				      "not '%s'",
				      envfile_shown(s, buf, sizeof(buf)));
		return 0;
	}
	if (!strcmp(src_k->value, "command")) {
		out->kind = ENV_SECRET_COMMAND;
		if (!s[strspn(s, " \t\r\n")])
			return ENV_AT(v, src_v, "'command' is empty; give the command to run");
		return 0;
	}
	out->kind = ENV_SECRET_FILE;
	if (s[0] == '/')
		return 0;
	return file_rel(v, src_v, s, &out->file_rel);
}

int envfile_set_secrets(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			struct env_spec *spec)
{
	(void)key;
	if (envfile_is_null(val))
		return 0;
	if (val->type != ENV_NODE_MAP)
		return ENV_AT(v, val,
			      "'secrets' must be a mapping of NAME: { file: PATH | env: VAR | "
			      "command: CMD }, not %s",
			      envfile_describe(val));
	spec->secrets = dv_xcalloc(val->n / 2 + 1, sizeof(*spec->secrets));
	for (size_t i = 0; i < val->n; i += 2) {
		if (envfile_check_key(v, val, i) < 0)
			return -1;
		spec->n_secrets++;
		if (parse_secret(v, val->items[i], val->items[i + 1],
				 &spec->secrets[spec->n_secrets - 1]) < 0)
			return -1;
	}
	return 0;
}

int envfile_step_secrets(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			 struct env_step *step)
{
	step->secrets_line = key->line;
	step->secrets_col = key->col;
	if (envfile_is_null(val))
		return 0;
	if (val->type != ENV_NODE_SEQ)
		return ENV_AT(v, val, "a step's 'secrets' must be a list of secret names, not %s",
			      envfile_describe(val));
	for (size_t i = 0; i < val->n; i++) {
		const struct env_node *x = val->items[i];
		char buf[64];
		const char *s;

		if (envfile_get_string(v, "a secret's name", NULL, x, &s) < 0)
			return -1;
		for (size_t j = 0; j < step->secrets.n; j++)
			if (!strcmp(step->secrets.v[j], s))
				return ENV_AT(v, x, "secret '%s' is named twice",
					      envfile_shown(s, buf, sizeof(buf)));
		dv_strv_push(&step->secrets, s);
		step->secrets_pos = dv_xrealloc(step->secrets_pos,
						2 * step->secrets.n * sizeof(*step->secrets_pos));
		step->secrets_pos[2 * step->secrets.n - 2] = x->line;
		step->secrets_pos[2 * step->secrets.n - 1] = x->col;
	}
	return 0;
}

/* After every key is read: each name a step gives is declared. */
static int check_steps(struct env_vctx *v, const struct env_spec *spec,
		       const struct env_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < steps[i].secrets.n; j++) {
			const char *s = steps[i].secrets.v[j];
			bool found = false;
			char buf[64];

			for (size_t k = 0; k < spec->n_secrets && !found; k++)
				found = !strcmp(spec->secrets[k].name, s);
			if (!found)
				return envfile_at(v, steps[i].secrets_pos[2 * j],
						  steps[i].secrets_pos[2 * j + 1],
						  "secret '%s' is not declared in the top-level "
						  "'secrets:'",
						  envfile_shown(s, buf, sizeof(buf)));
		}
	return 0;
}

int envfile_check_secrets(struct env_vctx *v, const struct env_spec *spec)
{
	if (check_steps(v, spec, spec->provision, spec->n_provision) < 0)
		return -1;
	return check_steps(v, spec, spec->on_up, spec->n_on_up);
}

void envfile_secrets_release(struct env_secret *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].name);
		free(s[i].source);
		free(s[i].file_rel);
	}
	free(s);
}
