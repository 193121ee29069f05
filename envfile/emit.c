/*
 * envfile/emit.c - a tree of struct env_node written out as Envfile YAML,
 * with libyaml's emitter (which quotes what needs quoting), for `devenv
 * init --from-devcontainer`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

/* The length of the character at s that a YAML reader would not give back
 * as written outside double quotes, or refuses anywhere: a control
 * character (tab included), a line break (YAML 1.1 has NEL, LS and PS
 * besides CR and LF), a byte-order mark, U+FFFE and U+FFFF, a byte that
 * is not UTF-8 (its length 1, *cp the byte); 0 for any other character. */
static size_t unsafe_char(const unsigned char *s, unsigned *cp)
{
	size_t n = envfile_utf8_char(s, 4, cp);

	if (!n) {
		*cp = s[0];
		return 1;
	}
	if (*cp < 0x20 || (*cp >= 0x7f && *cp <= 0x9f) || *cp == 0x2028 || *cp == 0x2029 ||
	    *cp == 0xfeff || *cp == 0xfffe || *cp == 0xffff)
		return n;
	return 0;
}

/* Plain unless YAML 1.1 would read the text as something else than a
 * string (null, a boolean, a number), which envfile_validate() rejects, or
 * it holds a character that only double quotes keep as it is. */
static yaml_scalar_style_t style_for(const char *s)
{
	static const char *const words[] = { "",   "~",  "null", "true", "false", "yes",
					     "no", "on", "off",  "y",    "n" };
	char *end;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	strtod(s, &end);
	if (end != s || s[0] == '.' || s[strcspn(s, "\n\t'\"#")])
		return YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		unsigned cp;

		if (unsafe_char(p, &cp))
			return YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		p += envfile_utf8_char(p, 4, &cp);
	}
	return YAML_ANY_SCALAR_STYLE;
}

void envfile_emit_comment(struct dv_buf *out, const char *fmt, ...)
{
	dv_autofree char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		DV_BUG("out of memory");
	va_end(ap);
	dv_buf_adds(out, "# ");
	for (const unsigned char *p = (const unsigned char *)text; *p;) {
		unsigned cp;
		size_t n = unsafe_char(p, &cp);

		if (!n) {
			n = envfile_utf8_char(p, 4, &cp);
			dv_buf_add(out, p, n);
		} else if (cp == '\n' || cp == '\r' || cp == '\t') {
			dv_buf_adds(out, cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : "\\t");
		} else if (cp < 0x80 || n == 1) {
			dv_buf_addf(out, "\\x%02x", cp); /* a control, or not UTF-8 */
		} else {
			dv_buf_addf(out, "\\u%04x", cp);
		}
		p += n;
	}
	dv_buf_adds(out, "\n");
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
	return yaml_emitter_emit(em, ev) ? 0 : -1;
}

static int emit_node(yaml_emitter_t *em, const struct env_node *n, bool flow)
{
	yaml_event_t ev;

	switch (n->type) {
	case ENV_NODE_SCALAR:
		/* fails on text that is not UTF-8 */
		if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)n->value,
						  (int)n->len, 1, 1, style_for(n->value)))
			return -1;
		return emit(em, &ev);
	case ENV_NODE_SEQ:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
						     flow ? YAML_FLOW_SEQUENCE_STYLE
							  : YAML_BLOCK_SEQUENCE_STYLE);
		if (emit(em, &ev) < 0)
			return -1;
		for (size_t i = 0; i < n->n; i++)
			if (emit_node(em, n->items[i], flow) < 0)
				return -1;
		yaml_sequence_end_event_initialize(&ev);
		return emit(em, &ev);
	case ENV_NODE_MAP:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (emit(em, &ev) < 0)
			return -1;
		for (size_t i = 0; i < n->n; i += 2) {
			if (emit_node(em, n->items[i], false) < 0)
				return -1;
			/* short lists of one-line values read best on one line */
			if (emit_node(em, n->items[i + 1],
				      !strcmp(n->items[i]->value, "ports") ||
					      !strcmp(n->items[i]->value, "cap_add")) < 0)
				return -1;
		}
		yaml_mapping_end_event_initialize(&ev);
		return emit(em, &ev);
	}
	return -1;
}

static int write_handler(void *data, unsigned char *buf, size_t size)
{
	dv_buf_add(data, buf, size);
	return 1;
}

int envfile_node_emit(const struct env_node *root, struct dv_buf *out, struct dv_error *err)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	int ok;

	if (!yaml_emitter_initialize(&em))
		DV_BUG("out of memory");
	yaml_emitter_set_output(&em, write_handler, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = emit(&em, &ev) == 0;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && emit(&em, &ev) == 0 && emit_node(&em, root, false) == 0;
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && emit(&em, &ev) == 0;
	yaml_stream_end_event_initialize(&ev);
	ok = ok && emit(&em, &ev) == 0;
	if (!ok)
		dv_err(err, 0, "cannot write YAML: %s", em.problem ? em.problem : "emitter error");
	yaml_emitter_delete(&em);
	return ok ? 0 : -1;
}
