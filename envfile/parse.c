/* envfile/parse.c - YAML text to a tree of struct env_node, with positions. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

/*
 * An Envfile needs three levels (keys, a list of steps, a step's keys); past
 * this depth the file is wrong anyway, and stopping here keeps the recursion
 * below from being driven off the stack by "[[[[[[...".
 */
#define ENV_MAX_DEPTH 32

#define ENV_MSG_ALIAS "anchors and aliases are not supported; write the value out in full"

struct loader {
	yaml_parser_t *parser;
	const char *text;
	size_t len;
	const char *display;
	struct dv_error *err;
};

/* libyaml gives no mark for reader errors (bad UTF-8), only a byte offset. */
static void offset_to_pos(const char *text, size_t len, size_t off, unsigned *line, unsigned *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n') {
			(*line)++;
			*col = 1;
		} else if ((c & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static size_t utf8_chars(const char *text, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)text[i] & 0xc0) != 0x80;
	return n;
}

static int yaml_error(struct loader *ld)
{
	yaml_parser_t *p = ld->parser;
	const char *problem = p->problem ? p->problem : "cannot parse it";
	unsigned line, col;

	if (p->error == YAML_MEMORY_ERROR)
		DV_BUG("out of memory");
	if (p->error == YAML_READER_ERROR) {
		offset_to_pos(ld->text, ld->len, p->problem_offset, &line, &col);
		return dv_err_at(ld->err, ld->display, line, col,
				 "invalid YAML: %s; the Envfile must be UTF-8 text", problem);
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	/* At the end of a text without a final newline libyaml's mark is on
	 * the line after the last (it adds the break): name the text's end.
	 * (Its index counts characters, not bytes.) */
	if (p->problem_mark.index >= utf8_chars(ld->text, ld->len))
		offset_to_pos(ld->text, ld->len, ld->len, &line, &col);
	/* libyaml's words for the commonest mistake do not name it */
	if (p->error == YAML_SCANNER_ERROR && p->problem_mark.index < ld->len &&
	    ld->text[p->problem_mark.index] == '\t')
		return dv_err_at(ld->err, ld->display, line, col,
				 "invalid YAML: a tab cannot indent YAML; use spaces");
	if (p->context && p->context_mark.line != p->problem_mark.line)
		return dv_err_at(ld->err, ld->display, line, col, "invalid YAML: %s (%s at line %u)",
				 problem, p->context, (unsigned)p->context_mark.line + 1);
	return dv_err_at(ld->err, ld->display, line, col, "invalid YAML: %s", problem);
}

static int next_event(struct loader *ld, yaml_event_t *ev)
{
	if (!yaml_parser_parse(ld->parser, ev))
		return yaml_error(ld);
	return 0;
}

static int err_at_mark(struct loader *ld, const yaml_mark_t *m, const char *msg)
{
	return dv_err_at(ld->err, ld->display, (unsigned)m->line + 1, (unsigned)m->column + 1, "%s",
			 msg);
}

/*
 * Anchors and aliases would let one node appear in many places (and a
 * "billion laughs" file expand without bound); tags would let a value
 * change type behind the reader's back. An Envfile needs neither.
 */
static int check_props(struct loader *ld, const yaml_event_t *ev, const yaml_char_t *anchor,
		       const yaml_char_t *tag)
{
	const char *t = (const char *)tag;

	if (anchor)
		return err_at_mark(ld, &ev->start_mark, ENV_MSG_ALIAS);
	if (t) {
		if (dv_str_startswith(t, "tag:yaml.org,2002:"))
			return dv_err_at(ld->err, ld->display, (unsigned)ev->start_mark.line + 1,
					 (unsigned)ev->start_mark.column + 1,
					 "tags such as '!!%s' are not supported; quote the value "
					 "to make it a string",
					 t + strlen("tag:yaml.org,2002:"));
		return dv_err_at(ld->err, ld->display, (unsigned)ev->start_mark.line + 1,
				 (unsigned)ev->start_mark.column + 1,
				 "tags such as '%s' are not supported; remove it", t);
	}
	return 0;
}

static struct env_node *node_new(enum env_node_type type, const yaml_event_t *ev)
{
	struct env_node *n = dv_xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->col = (unsigned)ev->start_mark.column + 1;
	return n;
}

static void node_push(struct env_node *parent, struct env_node *child, size_t *cap)
{
	if (parent->n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		parent->items = dv_xrealloc(parent->items, *cap * sizeof(*parent->items));
	}
	parent->items[parent->n++] = child;
}

void env_node_free(struct env_node *node)
{
	size_t i;

	if (!node)
		return;
	for (i = 0; i < node->n; i++)
		env_node_free(node->items[i]);
	free(node->items);
	free(node->value);
	free(node);
}

static int load_node(struct loader *ld, const yaml_event_t *ev, unsigned depth,
		     struct env_node **out);

/* Read children until the matching end event. */
static int load_children(struct loader *ld, struct env_node *node, yaml_event_type_t end,
			 unsigned depth)
{
	size_t cap = 0;

	for (;;) {
		struct env_node *child = NULL;
		yaml_event_t ev;
		int r;

		if (next_event(ld, &ev) < 0)
			return -1;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		r = load_node(ld, &ev, depth + 1, &child);
		yaml_event_delete(&ev);
		if (r < 0)
			return -1;
		node_push(node, child, &cap);
	}
}

static int load_node(struct loader *ld, const yaml_event_t *ev, unsigned depth,
		     struct env_node **out)
{
	struct env_node *node = NULL;

	if (depth > ENV_MAX_DEPTH)
		return err_at_mark(ld, &ev->start_mark, "the Envfile nests too deeply");
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return err_at_mark(ld, &ev->start_mark, ENV_MSG_ALIAS);
	case YAML_SCALAR_EVENT:
		if (check_props(ld, ev, ev->data.scalar.anchor, ev->data.scalar.tag) < 0)
			return -1;
		node = node_new(ENV_NODE_SCALAR, ev);
		node->len = ev->data.scalar.length;
		/* not strndup: a "\0" escape puts a NUL inside the value */
		node->value = dv_xmalloc(node->len + 1);
		memcpy(node->value, ev->data.scalar.value, node->len);
		node->value[node->len] = '\0';
		node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		break;
	case YAML_SEQUENCE_START_EVENT:
		if (check_props(ld, ev, ev->data.sequence_start.anchor,
				ev->data.sequence_start.tag) < 0)
			return -1;
		node = node_new(ENV_NODE_SEQ, ev);
		if (load_children(ld, node, YAML_SEQUENCE_END_EVENT, depth) < 0)
			goto fail;
		break;
	case YAML_MAPPING_START_EVENT:
		if (check_props(ld, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag) <
		    0)
			return -1;
		node = node_new(ENV_NODE_MAP, ev);
		if (load_children(ld, node, YAML_MAPPING_END_EVENT, depth) < 0)
			goto fail;
		break;
	default:
		DV_BUG("unexpected YAML event %d", (int)ev->type);
	}
	*out = node;
	return 0;
fail:
	env_node_free(node);
	return -1;
}

static int expect_event(struct loader *ld, yaml_event_type_t type)
{
	yaml_event_t ev;
	yaml_event_type_t got;

	if (next_event(ld, &ev) < 0)
		return -1;
	got = ev.type;
	if (got != type && got == YAML_DOCUMENT_START_EVENT) {
		err_at_mark(ld, &ev.start_mark,
			    "more than one YAML document in the Envfile; merge them and "
			    "remove the '---' line");
		yaml_event_delete(&ev);
		return -1;
	}
	yaml_event_delete(&ev);
	if (got != type)
		DV_BUG("unexpected YAML event %d, wanted %d", (int)got, (int)type);
	return 0;
}

int envfile_yaml_load(const char *text, size_t len, const char *display, struct env_node **out,
		      struct dv_error *err)
{
	yaml_parser_t parser_mem;
	envfile_autoparser yaml_parser_t *parser = NULL;
	struct loader ld = { .text = text, .len = len, .display = display, .err = err };
	struct env_node *root = NULL;
	yaml_event_t ev;
	int r;

	*out = NULL;
	if (!yaml_parser_initialize(&parser_mem))
		DV_BUG("out of memory");
	parser = &parser_mem;
	ld.parser = parser;
	yaml_parser_set_input_string(parser, (const unsigned char *)text, len);

	if (expect_event(&ld, YAML_STREAM_START_EVENT) < 0)
		return -1;
	if (next_event(&ld, &ev) < 0)
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0; /* nothing but comments and blank lines */
	}
	if (ev.type != YAML_DOCUMENT_START_EVENT)
		DV_BUG("unexpected YAML event %d", (int)ev.type);
	yaml_event_delete(&ev);

	if (next_event(&ld, &ev) < 0)
		return -1;
	r = load_node(&ld, &ev, 0, &root);
	yaml_event_delete(&ev);
	if (r < 0)
		return -1;
	if (expect_event(&ld, YAML_DOCUMENT_END_EVENT) < 0 ||
	    expect_event(&ld, YAML_STREAM_END_EVENT) < 0) {
		env_node_free(root);
		return -1;
	}
	*out = root;
	return 0;
}
