/*
 * provision/gitconfig.c - git's config file format, read as git reads it,
 * for gitdir.c: which paths of the checkout a repository's own config
 * names (core.worktree of a submodule, core.hooksPath, core.fsmonitor,
 * include.path), so that the env cannot change them.
 *
 * This follows git's config.c (git_parse_source, get_base_var,
 * get_value, parse_value) rather than a looser reading: a key that git
 * sees and we did not would be a path left writable. Section and key
 * names are compared without case, a subsection with its case; `[a.b]`
 * is the old spelling of `[a "b"]` (lower case). A value is the rest of
 * the line, its leading and trailing whitespace dropped, each whitespace
 * character inside it one space, parts in double quotes kept as they
 * are, a comment started by ';' or '#' outside quotes, escapes \" \\ \n
 * \t \b, and a backslash at the end of a line joining the next. Where git
 * would stop with "bad config line", we stop too: git then reads no
 * config and runs nothing, and what we found before is kept.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "provision/provision.h"
#include "util/str.h"
#include "util/banned.h"

struct cfg_src {
	const char *p, *end;
	bool eof;
};

/* The next character, "\r\n" as '\n', and '\n' at the end (eof set). */
static int next_char(struct cfg_src *s)
{
	int c;

	if (s->p >= s->end) {
		s->eof = true;
		return '\n';
	}
	c = (unsigned char)*s->p++;
	if (c == '\r' && s->p < s->end && *s->p == '\n')
		c = (unsigned char)*s->p++;
	return c;
}

static void buf_reset(struct dv_buf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = 0;
}

static void buf_addch(struct dv_buf *b, int c)
{
	char ch = (char)c;

	dv_buf_add(b, &ch, 1);
}

static bool is_key_char(int c)
{
	return isalnum(c) || c == '-';
}

/* "[section]", "[section "sub"]" or "[section.sub]", after the '[': the
 * variable's prefix, "section" or "section.sub", into *name. */
static bool read_header(struct cfg_src *s, struct dv_buf *name)
{
	int c;

	buf_reset(name);
	for (;;) {
		c = next_char(s);
		if (s->eof)
			return false;
		if (c == ']')
			return true;
		if (isspace(c))
			break;
		if (!is_key_char(c) && c != '.')
			return false;
		buf_addch(name, tolower(c));
	}
	do
		c = next_char(s);
	while (isspace(c) && !s->eof);
	if (c != '"')
		return false;
	buf_addch(name, '.');
	for (;;) {
		c = next_char(s);
		if (c == '\n')
			return false;
		if (c == '"')
			break;
		if (c == '\\') {
			c = next_char(s);
			if (c == '\n')
				return false;
		}
		buf_addch(name, c);
	}
	return next_char(s) == ']';
}

/* A value, after the '='; false when a quote or an escape is left open. */
static bool read_value(struct cfg_src *s, struct dv_buf *value)
{
	bool quote = false, comment = false;
	size_t space = 0;

	buf_reset(value);
	for (;;) {
		int c = next_char(s);

		if (c == '\n')
			return !quote;
		if (comment)
			continue;
		if (isspace(c) && !quote) {
			if (value->len)
				space++;
			continue;
		}
		if (!quote && (c == ';' || c == '#')) {
			comment = true;
			continue;
		}
		for (; space; space--)
			buf_addch(value, ' ');
		if (c == '\\') {
			c = next_char(s);
			switch (c) {
			case '\n':
				continue;
			case 't':
				c = '\t';
				break;
			case 'b':
				c = '\b';
				break;
			case 'n':
				c = '\n';
				break;
			case '\\':
			case '"':
				break;
			default:
				return false;
			}
			buf_addch(value, c);
			continue;
		}
		if (c == '"') {
			quote = !quote;
			continue;
		}
		buf_addch(value, c);
	}
}

bool prov_git_config_parse(const char *text, size_t len, prov_git_config_fn fn, void *arg)
{
	struct cfg_src s = { text, text + len, false };
	struct dv_buf section = { 0 }, var = { 0 }, value = { 0 };
	bool comment = false, ok = false, has_section = false;

	/* a UTF-8 byte order mark, as git skips it */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		s.p += 3;
	for (;;) {
		int c = next_char(&s);

		if (c == '\n') {
			if (s.eof) {
				ok = true;
				break;
			}
			comment = false;
			continue;
		}
		if (comment || isspace(c))
			continue;
		if (c == '#' || c == ';') {
			comment = true;
			continue;
		}
		if (c == '[') {
			if (!read_header(&s, &section))
				break;
			has_section = true;
			continue;
		}
		/* A key: "name", "name = value"; outside any section, git
		 * stops ("key does not contain a section"). */
		if (!isalpha(c) || !has_section)
			break;
		buf_reset(&var);
		dv_buf_add(&var, section.s ? section.s : "", section.len);
		buf_addch(&var, '.');
		buf_addch(&var, tolower(c));
		for (;;) {
			c = next_char(&s);
			if (s.eof || !is_key_char(c))
				break;
			buf_addch(&var, tolower(c));
		}
		while (c == ' ' || c == '\t')
			c = next_char(&s);
		if (c == '\n') {
			fn(var.s, NULL, arg); /* a bare key: true */
			if (s.eof) {
				ok = true;
				break;
			}
			continue;
		}
		if (c != '=' || !read_value(&s, &value))
			break;
		fn(var.s, value.s ? value.s : "", arg);
	}
	dv_buf_release(&section);
	dv_buf_release(&var);
	dv_buf_release(&value);
	return ok;
}
