/* util/str.c - see str.h. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"
#include "banned.h"

void *dv_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		DV_BUG("out of memory");
	return p;
}

void *dv_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		DV_BUG("out of memory");
	return p;
}

void *dv_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		DV_BUG("out of memory");
	return p;
}

char *dv_xstrdup(const char *s)
{
	return dv_xstrndup(s, strlen(s));
}

char *dv_xstrndup(const char *s, size_t n)
{
	char *p = dv_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *dv_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		DV_BUG("out of memory");
	va_end(ap);
	return p;
}

static void buf_grow(struct dv_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	b->cap = (b->len + extra + 1) * 2;
	b->s = dv_xrealloc(b->s, b->cap);
}

void dv_buf_add(struct dv_buf *b, const void *data, size_t n)
{
	buf_grow(b, n);
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = 0;
}

void dv_buf_adds(struct dv_buf *b, const char *s)
{
	dv_buf_add(b, s, strlen(s));
}

void dv_buf_addf(struct dv_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		DV_BUG("out of memory");
	dv_buf_add(b, p, (size_t)n);
	free(p);
}

void dv_buf_add_shquoted(struct dv_buf *b, const char *s)
{
	dv_buf_adds(b, "'");
	for (const char *q; (q = strchr(s, '\'')); s = q + 1) {
		dv_buf_add(b, s, (size_t)(q - s));
		dv_buf_adds(b, "'\\''");
	}
	dv_buf_adds(b, s);
	dv_buf_adds(b, "'");
}

char *dv_buf_steal(struct dv_buf *b)
{
	char *s = b->s ? b->s : dv_xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void dv_buf_release(struct dv_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

void dv_strv_push_owned(struct dv_strv *sv, char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = dv_xrealloc(sv->v, sv->cap * sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void dv_strv_push(struct dv_strv *sv, const char *s)
{
	dv_strv_push_owned(sv, dv_xstrdup(s));
}

void dv_strv_release(struct dv_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

bool dv_str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool dv_str_endswith(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

bool dv_str_is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == 0;
}

size_t dv_str_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t *row = dv_xcalloc(lb + 1, sizeof(*row)), d;

	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t prev = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cur = row[j], best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	d = row[lb];
	free(row);
	return d;
}

void dv_str_size(char *out, size_t outlen, unsigned long long bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outlen, "%llu B", bytes);
	else
		snprintf(out, outlen, "%.1f %s", v, units[u]);
}

/* The next piece of s[0..n) as it may be printed: *len bytes of s, copied
 * as they are (returns NULL), or an escape written into esc (returned).
 * json: s is JSON text as json-c writes it, C0 controls escaped inside its
 * strings and white space outside them: only what json-c leaves is escaped,
 * in JSON's own form (a byte that is not UTF-8 has none: U+FFFD). */
static const char *safe_next(const unsigned char *s, size_t n, size_t *len, char esc[8], bool json)
{
	unsigned c = s[0], cp;
	size_t need, i;

	*len = 1;
	if (c < 0x80) {
		if ((c >= 0x20 && c != 0x7f) || c == '\t' || (json && c < 0x20))
			return NULL;
		snprintf(esc, 8, json ? "\\u%04x" : "\\x%02x", c);
		return esc;
	}
	/* UTF-8 as RFC 3629 has it: no overlong forms, no surrogates, nothing
	 * past U+10FFFF. Each byte of a broken sequence is escaped alone. */
	if (c >= 0xc2 && c <= 0xdf)
		need = 1, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3, cp = c & 0x07;
	else
		goto bad;
	if (n < need + 1)
		goto bad;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
		goto bad;
	*len = need + 1;
	/* C1 controls (a terminal takes U+009B as CSI) and the bidirectional
	 * controls, which make a line read other than it is: the embeddings
	 * and overrides, the isolates and the marks (U+061C, U+200E, U+200F). */
	if (dv_str_cp_unsafe(cp)) {
		snprintf(esc, 8, "\\u%04x", cp);
		return esc;
	}
	return NULL;
bad:
	if (json)
		snprintf(esc, 8, "\\ufffd");
	else
		snprintf(esc, 8, "\\x%02x", c);
	return esc;
}

static void add_safe(struct dv_buf *b, const char *s, size_t n, bool json)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len;
	char esc[8];

	dv_buf_add(b, "", 0);
	while (i < n) {
		size_t run = i;

		/* Plain text goes in whole runs. */
		while (run < n && !safe_next(p + run, n - run, &len, esc, json))
			run += len;
		dv_buf_add(b, s + i, run - i);
		if (run == n)
			break;
		dv_buf_adds(b, safe_next(p + run, n - run, &len, esc, json));
		i = run + len;
	}
}

void dv_buf_add_safe(struct dv_buf *b, const char *s, size_t n)
{
	add_safe(b, s, n, false);
}

void dv_buf_add_safe_json(struct dv_buf *b, const char *json)
{
	add_safe(b, json, strlen(json), true);
}

char *dv_str_safe(char *out, size_t outlen, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, j = 0, len;
	char esc[8];

	while (i < n) {
		const char *e = safe_next(p + i, n - i, &len, esc, false);
		size_t m = e ? strlen(e) : len;

		if (j + m >= outlen)
			break;
		memcpy(out + j, e ? e : s + i, m);
		j += m;
		i += len;
	}
	out[j] = 0;
	return out;
}

/*
 * git's levenshtein() (levenshtein.c): the optimal string alignment
 * distance, with a cost for a swap of two neighbours (w), a substitution
 * (s), an addition (a) and a deletion (d); git's help.c weighs them 0, 2, 1,
 * 3 for "did you mean".
 */
int dv_levenshtein(const char *s1, const char *s2, int w, int s, int a, int d)
{
	size_t len1 = strlen(s1), len2 = strlen(s2);
	int *row0 = dv_xcalloc(len2 + 1, sizeof(int)), *row1 = dv_xcalloc(len2 + 1, sizeof(int));
	int *row2 = dv_xcalloc(len2 + 1, sizeof(int)), *tmp, r;

	for (size_t j = 0; j <= len2; j++)
		row1[j] = (int)j * a;
	for (size_t i = 0; i < len1; i++) {
		row2[0] = (int)(i + 1) * d;
		for (size_t j = 0; j < len2; j++) {
			row2[j + 1] = row1[j] + s * (s1[i] != s2[j]);
			if (i > 0 && j > 0 && s1[i - 1] == s2[j] && s1[i] == s2[j - 1] &&
			    row2[j + 1] > row0[j - 1] + w)
				row2[j + 1] = row0[j - 1] + w;
			if (row2[j + 1] > row1[j + 1] + d)
				row2[j + 1] = row1[j + 1] + d;
			if (row2[j + 1] > row2[j] + a)
				row2[j + 1] = row2[j] + a;
		}
		tmp = row0;
		row0 = row1;
		row1 = row2;
		row2 = tmp;
	}
	r = row1[len2];
	free(row0);
	free(row1);
	free(row2);
	return r;
}

/* " (did you mean 'status'?)" (or "'halt' or 'help'") into *out when a
 * candidate is close to word, as git's help_unknown_cmd() judges it: a
 * candidate word is the start of scores 0, any other its distance + 1, and
 * the best ones are shown when under 7. Nothing when none is. */
void dv_suggest(const char *word, const char *const *cands, size_t n, struct dv_buf *out)
{
	int best = INT_MAX, *score = dv_xcalloc(n ? n : 1, sizeof(int));
	size_t shown = 0, count = 0;

	for (size_t i = 0; i < n; i++) {
		score[i] = dv_str_startswith(cands[i], word) && *word
				   ? 0
				   : dv_levenshtein(word, cands[i], 0, 2, 1, 3) + 1;
		if (score[i] < best)
			best = score[i];
	}
	if (best >= 7) { /* git's SIMILARITY_FLOOR */
		free(score);
		return;
	}
	for (size_t i = 0; i < n; i++)
		count += score[i] == best;
	for (size_t i = 0; i < n; i++) {
		if (score[i] != best)
			continue;
		dv_buf_addf(out, "%s'%s'",
			    shown == 0           ? " (did you mean "
			    : shown + 1 == count ? " or "
						 : ", ",
			    cands[i]);
		shown++;
	}
	if (shown)
		dv_buf_adds(out, "?)");
	free(score);
}
