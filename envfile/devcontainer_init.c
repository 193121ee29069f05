/*
 * envfile/devcontainer_init.c - a devcontainer.json written out as an
 * Envfile, for `devenv init --from-devcontainer`.
 *
 * devcontainer.c translates the json into the Envfile's tree; here the
 * tree is validated, printed as YAML (emit.c) under comments saying what
 * was left out, and read back to prove the text means the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/str.h"
#include "util/banned.h"

static void comment_list(struct dv_buf *b, const char *what, const struct dv_strv *names)
{
	struct dv_buf list = { 0 };

	for (size_t i = 0; i < names->n; i++)
		dv_buf_addf(&list, "%s%s", i ? ", " : "", names->v[i]);
	envfile_emit_comment(b, "%s: %s.", what, list.s);
	dv_buf_release(&list);
}

/* The first node of a (the translation) that b (its Envfile, read back)
 * does not hold the same: another kind, other text, or a scalar that reads
 * as another type; NULL when they are the same tree. */
static const struct env_node *first_change(const struct env_node *a, const struct env_node *b)
{
	if (!b || a->type != b->type)
		return a;
	if (a->type == ENV_NODE_SCALAR)
		return a->len == b->len && !memcmp(a->value, b->value, a->len) &&
				       !strcmp(envfile_describe(a), envfile_describe(b))
			       ? NULL
			       : a;
	for (size_t i = 0; i < a->n; i++) {
		const struct env_node *c = first_change(a->items[i], i < b->n ? b->items[i] : NULL);

		if (c)
			return c;
	}
	return a->n == b->n ? NULL : a;
}

/* Refuse to write an Envfile that would not load, or not into the spec the
 * devcontainer.json gives: the text written is read back with the
 * Envfile's own reader and its tree compared with the translation's (the
 * same tree validates into the same spec). */
static int reads_back(const char *text, size_t len, const struct env_node *root,
		      const char *display, struct dv_error *err)
{
	struct env_node *back = NULL;
	const struct env_node *bad;
	struct dv_error e = { 0 };

	if (envfile_yaml_load(text, len, "Envfile", &back, &e) < 0)
		return dv_err_at(err, display, 0, 0,
				 "cannot write its Envfile: the text would not load (%s:%u:%u: "
				 "%s); write the Envfile by hand (devenv init)",
				 e.file, e.line, e.col, e.msg);
	bad = first_change(root, back);
	env_node_free(back);
	if (bad)
		return dv_err_at(err, display, bad->line, bad->col,
				 "cannot write this value into an Envfile so that it reads back "
				 "the same; write the Envfile by hand (devenv init)");
	return 0;
}

int envfile_devcontainer_to_yaml(const char *text, size_t len, const char *display,
				 const char *source, const char *dir, const char *checkout,
				 char **out, struct dv_error *err)
{
	struct env_node *root = NULL;
	struct dv_strv unsup = { 0 }, editor = { 0 };
	struct env_spec spec = { 0 };
	struct dv_buf b = { 0 };
	int ok;

	*out = NULL;
	if (!checkout)
		checkout = dir;
	if (envfile_dc_load(text, len, display, dir, &root, &unsup, &editor, NULL, err) < 0)
		return -1;
	/* Refuse to write an Envfile that would not load. */
	if (envfile_validate(root, display, dir, checkout, &spec, err) < 0) {
		env_node_free(root);
		dv_strv_release(&unsup);
		dv_strv_release(&editor);
		return -1;
	}
	env_spec_release(&spec);

	/* Every line goes through emit.c, which escapes what the json holds. */
	envfile_emit_comment(&b, "Written by 'devenv init --from-devcontainer' from %s.",
			     source ? source : display);
	if (unsup.n)
		comment_list(&b, "Not carried over (devenv does not support them)", &unsup);
	if (editor.n)
		comment_list(&b, "Left out (editor settings)", &editor);
	envfile_emit_comment(&b, "Unlike postCreateCommand in a dev container, 'provision' "
				 "steps run as");
	envfile_emit_comment(&b, "root without the checkout mounted; 'copy' steps bring "
				 "files in.");
	ok = envfile_node_emit(root, &b, err) == 0 &&
	     reads_back(b.s, b.len, root, display, err) == 0;
	env_node_free(root);
	dv_strv_release(&unsup);
	dv_strv_release(&editor);
	if (!ok) {
		dv_buf_release(&b);
		return -1;
	}
	*out = dv_buf_steal(&b);
	return 0;
}
