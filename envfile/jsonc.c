/*
 * envfile/jsonc.c - JSON with comments (devcontainer.json's dialect), read
 * with json-c, with the position of every member and item.
 *
 * Comments and trailing commas are blanked out byte for byte, so that every
 * offset, hence every line:col, stays the original's; then json-c parses
 * the text strictly, and a walk over the same text beside json-c's tree
 * notes where each value starts, since json-c keeps no positions.
 */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

/* A devcontainer.json needs four levels; json-c stops deeper files, which
 * also bounds the recursion of walk() below. */
#define JSONC_MAX_DEPTH 32

/* Where a member or an item starts in the text. */
struct env_jsonc_pos {
	const json_object *parent;
	char *key;  /* member's key; NULL for an array item */
	size_t idx; /* array item's index */
	size_t key_off, val_off;
};

static void off_to_pos(const char *text, size_t len, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n') {
			(*line)++;
			*col = 1;
		} else if ((c & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

int envfile_jsonc_strip(const char *text, size_t len, char **out, size_t *err_off_out)
{
	char *s = dv_xmalloc(len + 1);
	size_t i = 0;

	memcpy(s, text, len);
	s[len] = '\0';
	*out = NULL;
	while (i < len) {
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\' && i + 1 < len)
					i++;
			i++;
		} else if (s[i] == '/' && i + 1 < len && s[i + 1] == '/') {
			for (; i < len && s[i] != '\n'; i++)
				s[i] = ' ';
		} else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
			size_t start = i;

			s[i++] = ' ';
			s[i++] = ' ';
			while (i < len && !(s[i] == '*' && i + 1 < len && s[i + 1] == '/')) {
				if (s[i] != '\n')
					s[i] = ' ';
				i++;
			}
			if (i >= len) {
				free(s);
				*err_off_out = start;
				return -1;
			}
			s[i++] = ' ';
			s[i++] = ' ';
		} else {
			i++;
		}
	}
	/* A comma followed (past blanks) by a closing bracket is a trailing one. */
	for (i = 0; i < len; i++) {
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\' && i + 1 < len)
					i++;
		} else if (s[i] == ',') {
			size_t j = i + 1;

			while (j < len && strchr(" \t\r\n", s[j]) && s[j])
				j++;
			if (j < len && (s[j] == '}' || s[j] == ']'))
				s[i] = ' ';
		}
	}
	*out = s;
	return 0;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return i;
}

static size_t skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i + 1;
}

/* A member's key, its escapes decoded (json-c decodes them for us). */
static char *key_decode(const char *s, size_t i, size_t end)
{
	json_object *k = NULL;
	char *key;

	if (memchr(s + i, '\\', end - i)) {
		dv_autofree char *q = dv_xstrndup(s + i, end - i);

		k = json_tokener_parse(q);
	}
	key = k && json_object_is_type(k, json_type_string) ? dv_xstrdup(json_object_get_string(k))
							    : dv_xstrndup(s + i + 1, end - i - 2);
	json_object_put(k);
	return key;
}

/* Does json-c's value have the kind the text at i starts? A mismatch can
 * only come of a pairing gone wrong; the walk then goes on without a value
 * rather than ask json-c for an array's item of an object (an abort). */
static json_object *same_kind(json_object *o, char c)
{
	if (c == '{')
		return json_object_is_type(o, json_type_object) ? o : NULL;
	if (c == '[')
		return json_object_is_type(o, json_type_array) ? o : NULL;
	return o;
}

/* The offset of the first byte that is not strict UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or len. json-c's
 * own check lets those through, and libyaml refuses them. */
static size_t bad_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0, n;
	unsigned cp;

	while (i < len && (n = envfile_utf8_char(s + i, len - i, &cp)))
		i += n;
	return i;
}

struct key_at {
	char *key;
	size_t off;
};

static int key_at_cmp(const void *a, const void *b)
{
	const struct key_at *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : x->off < y->off ? -1 : x->off > y->off;
}

/* Skip the value at i of text json-c has accepted, noting in *dup the first
 * key (by place) that an object of it holds twice, and in *first where the
 * same key came before (both SIZE_MAX when none). */
static size_t find_duplicate(const char *s, size_t len, size_t i, size_t *dup, size_t *first)
{
	struct key_at *keys = NULL;
	size_t n = 0;

	if (i >= len)
		return len;
	if (s[i] == '"')
		return skip_string(s, len, i);
	if (s[i] != '{' && s[i] != '[') {
		while (i < len && !strchr(",}] \t\r\n", s[i]))
			i++;
		return i;
	}
	if (s[i] == '[') {
		for (i = skip_ws(s, len, i + 1); i < len && s[i] != ']'; i = skip_ws(s, len, i)) {
			i = skip_ws(s, len, find_duplicate(s, len, i, dup, first));
			if (i < len && s[i] == ',')
				i++;
		}
		return i + 1;
	}
	for (i = skip_ws(s, len, i + 1); i < len && s[i] != '}'; i = skip_ws(s, len, i)) {
		size_t end = skip_string(s, len, i);

		keys = dv_xrealloc(keys, (n + 1) * sizeof(*keys));
		keys[n++] = (struct key_at){ key_decode(s, i, end), i };
		i = skip_ws(s, len, skip_ws(s, len, end) + 1); /* past the ':' */
		i = skip_ws(s, len, find_duplicate(s, len, i, dup, first));
		if (i < len && s[i] == ',')
			i++;
	}
	if (n > 1)
		qsort(keys, n, sizeof(*keys), key_at_cmp);
	for (size_t k = 0; k + 1 < n; k++)
		if (!strcmp(keys[k].key, keys[k + 1].key) &&
		    (k == 0 || strcmp(keys[k - 1].key, keys[k].key)) && keys[k + 1].off < *dup) {
			*dup = keys[k + 1].off;
			*first = keys[k].off;
		}
	for (size_t k = 0; k < n; k++)
		free(keys[k].key);
	free(keys);
	return i + 1;
}

static void pos_add(struct env_jsonc *dc, const json_object *parent, char *key, size_t idx,
		    size_t key_off, size_t val_off)
{
	if (dc->n_pos == dc->cap_pos) {
		dc->cap_pos = dc->cap_pos ? dc->cap_pos * 2 : 32;
		dc->pos = dv_xrealloc(dc->pos, dc->cap_pos * sizeof(*dc->pos));
	}
	dc->pos[dc->n_pos++] = (struct env_jsonc_pos){ parent, key, idx, key_off, val_off };
}

/* Walk the text json-c has just accepted, beside json-c's tree, noting where
 * each member and item starts: json-c keeps no positions. The keys of each
 * object are unique (find_duplicate() ran first), so the member json-c kept
 * under a key is the one written at that place. */
static size_t walk(struct env_jsonc *dc, json_object *obj, size_t i)
{
	const char *s = dc->text;
	size_t len = dc->len;

	if (i >= len)
		return len;
	if (s[i] == '{' || s[i] == '[') {
		bool is_obj = s[i] == '{';
		char close = is_obj ? '}' : ']';
		size_t idx = 0;

		for (i = skip_ws(s, len, i + 1); i < len && s[i] != close; i = skip_ws(s, len, i)) {
			json_object *child = NULL;
			size_t key_off = i;
			char *key = NULL;

			if (is_obj) {
				size_t end = skip_string(s, len, i);

				key = key_decode(s, i, end);
				i = skip_ws(s, len, end) + 1; /* the ':' */
				i = skip_ws(s, len, i);
				if (obj)
					json_object_object_get_ex(obj, key, &child);
			} else if (obj) {
				child = json_object_array_get_idx(obj, idx);
			}
			pos_add(dc, obj, key, idx++, key_off, i);
			i = skip_ws(s, len, walk(dc, i < len ? same_kind(child, s[i]) : NULL, i));
			if (i < len && s[i] == ',')
				i++;
		}
		return i + 1;
	}
	if (s[i] == '"')
		return skip_string(s, len, i);
	while (i < len && !strchr(",}] \t\r\n", s[i]))
		i++;
	return i;
}

static const struct env_jsonc_pos *pos_member(const struct env_jsonc *dc, const json_object *parent,
					      const char *key)
{
	for (size_t i = 0; i < dc->n_pos; i++)
		if (dc->pos[i].parent == parent && dc->pos[i].key && !strcmp(dc->pos[i].key, key))
			return &dc->pos[i];
	return NULL;
}

static const struct env_jsonc_pos *pos_item(const struct env_jsonc *dc, const json_object *parent,
					    size_t idx)
{
	for (size_t i = 0; i < dc->n_pos; i++)
		if (dc->pos[i].parent == parent && !dc->pos[i].key && dc->pos[i].idx == idx)
			return &dc->pos[i];
	return NULL;
}

size_t envfile_jsonc_key_off(const struct env_jsonc *dc, const json_object *parent, const char *key)
{
	const struct env_jsonc_pos *p = pos_member(dc, parent, key);

	return p ? p->key_off : 0;
}

size_t envfile_jsonc_val_off(const struct env_jsonc *dc, const json_object *parent, const char *key)
{
	const struct env_jsonc_pos *p = pos_member(dc, parent, key);

	return p ? p->val_off : 0;
}

size_t envfile_jsonc_item_off(const struct env_jsonc *dc, const json_object *parent, size_t idx)
{
	const struct env_jsonc_pos *p = pos_item(dc, parent, idx);

	return p ? p->val_off : 0;
}

void envfile_jsonc_pos(const struct env_jsonc *doc, size_t off, unsigned *line, unsigned *col)
{
	off_to_pos(doc->orig, doc->len, off, line, col);
}

void envfile_jsonc_release(struct env_jsonc *doc)
{
	json_object_put(doc->root);
	for (size_t i = 0; i < doc->n_pos; i++)
		free(doc->pos[i].key);
	free(doc->pos);
	free(doc->text);
	memset(doc, 0, sizeof(*doc));
}

static int jerr_at(struct env_jsonc *doc, const char *display, struct dv_error *err, size_t off,
		   const char *fmt, ...) DV_FMT(5, 6);
static int jerr_at(struct env_jsonc *doc, const char *display, struct dv_error *err, size_t off,
		   const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	unsigned line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	off_to_pos(doc->orig, doc->len, off, &line, &col);
	envfile_jsonc_release(doc);
	return dv_err_at(err, display, line, col, "%s", msg);
}

int envfile_jsonc_load(const char *text, size_t len, const char *display, struct env_jsonc *out,
		       struct dv_error *err)
{
	struct env_jsonc doc = { .orig = text, .len = len };
	struct env_jsonc *dc = &doc;
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	size_t off, end;

	if (memchr(dc->orig, '\0', dc->len))
		return jerr_at(dc, display, err,
			       (size_t)((const char *)memchr(dc->orig, '\0', dc->len) - dc->orig),
			       "invalid JSON: a NUL byte; the file must be UTF-8 text");
	if ((off = bad_utf8((const unsigned char *)dc->orig, dc->len)) != dc->len)
		return jerr_at(dc, display, err, off,
			       "invalid JSON: a byte that is not UTF-8 (or an overlong or "
			       "surrogate form); the file must be UTF-8 text");
	if (envfile_jsonc_strip(dc->orig, dc->len, &dc->text, &off) < 0)
		return jerr_at(dc, display, err, off,
			       "invalid JSON: this /* comment is never closed");

	tok = json_tokener_new_ex(JSONC_MAX_DEPTH);
	if (!tok)
		DV_BUG("out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	dc->root = json_tokener_parse_ex(tok, dc->text, (int)dc->len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue ||
	    (jerr == json_tokener_success && !dc->root && skip_ws(dc->text, dc->len, 0) == dc->len))
		return jerr_at(dc, display, err, dc->len,
			       "invalid JSON: the file ends before its object does");
	if (jerr != json_tokener_success)
		return jerr_at(dc, display, err, end, "invalid JSON: %s",
			       json_tokener_error_desc(jerr));
	if (skip_ws(dc->text, dc->len, end) != dc->len)
		return jerr_at(dc, display, err, skip_ws(dc->text, dc->len, end),
			       "invalid JSON: text after the closing '}'");
	if (!json_object_is_type(dc->root, json_type_object))
		return jerr_at(dc, display, err, skip_ws(dc->text, dc->len, 0),
			       "a devcontainer.json must hold one object such as "
			       "{ \"image\": \"debian:bookworm\" }");
	/* Duplicate keys: an error at the second. json-c keeps the last, a
	 * reader of the file may well go by the first. */
	{
		size_t dup = SIZE_MAX, first = SIZE_MAX;
		unsigned line, col;

		find_duplicate(dc->text, dc->len, skip_ws(dc->text, dc->len, 0), &dup, &first);
		if (dup != SIZE_MAX) {
			dv_autofree char *key =
				key_decode(dc->text, dup, skip_string(dc->text, dc->len, dup));
			char shown[64];

			off_to_pos(dc->orig, dc->len, first, &line, &col);
			return jerr_at(dc, display, err, dup,
				       "duplicate key '%s' (first at line %u, column %u); "
				       "remove one of them",
				       envfile_shown(key, shown, sizeof(shown)), line, col);
		}
	}
	walk(dc, dc->root, skip_ws(dc->text, dc->len, 0));
	*out = doc;
	return 0;
}
