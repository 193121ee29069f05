/*
 * util/str.h - allocation that cannot fail, a growable buffer, string lists.
 *
 * dv_x* abort on out of memory (no caller can do better). A zeroed
 * struct dv_buf / struct dv_strv is a valid empty value; _release() frees
 * its contents and leaves zeroes, so it may be called twice.
 */
#ifndef DV_STR_H
#define DV_STR_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

void *dv_xmalloc(size_t n);
void *dv_xcalloc(size_t n, size_t size);
void *dv_xrealloc(void *p, size_t n);
char *dv_xstrdup(const char *s);
char *dv_xstrndup(const char *s, size_t n);
char *dv_xasprintf(const char *fmt, ...) DV_FMT(1, 2);

struct dv_buf {
	char *s; /* always NUL-terminated once anything was added */
	size_t len, cap;
};
void dv_buf_add(struct dv_buf *b, const void *data, size_t n);
void dv_buf_adds(struct dv_buf *b, const char *s);
void dv_buf_addf(struct dv_buf *b, const char *fmt, ...) DV_FMT(2, 3);
/* s as one word of a POSIX shell command line: single-quoted, each ' as
 * '\'' (a remote command over ssh is built with this, never by pasting). */
void dv_buf_add_shquoted(struct dv_buf *b, const char *s);
/* Hands the string out (caller frees); the buffer is left empty. */
char *dv_buf_steal(struct dv_buf *b);
void dv_buf_release(struct dv_buf *b);

struct dv_strv {
	char **v; /* NULL-terminated once anything was added */
	size_t n, cap;
};
void dv_strv_push(struct dv_strv *sv, const char *s); /* copies s */
void dv_strv_push_owned(struct dv_strv *sv, char *s); /* takes s */
void dv_strv_release(struct dv_strv *sv);

bool dv_str_startswith(const char *s, const char *prefix);
bool dv_str_endswith(const char *s, const char *suffix);
/* Is s exactly n lower-case hex digits? */
bool dv_str_is_hex(const char *s, size_t n);
/* Levenshtein distance, for "did you mean". */
size_t dv_str_distance(const char *a, const char *b);
/* Human size: "1.5 MiB". */
void dv_str_size(char *out, size_t outlen, unsigned long long bytes);

/* A character a terminal acts on, or one that makes a line read other than
 * it is: a C1 control (U+009B is CSI to many terminals), a bidirectional
 * control (the embeddings and overrides U+202A-202E, the isolates
 * U+2066-2069, the marks U+061C, U+200E, U+200F). dv_buf_add_safe()
 * escapes them, the terminal filter (util/term.h) drops them. */
static inline bool dv_str_cp_unsafe(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061c || cp == 0x200e || cp == 0x200f;
}

/* Text that came from outside devenv (a registry's answer, an image's
 * config, a layer's entry names, an env's files and processes) made safe
 * to print on a terminal: C0 control characters but tab, DEL, C1 control
 * characters, the bidirectional controls (U+202A-202E, U+2066-2069, and
 * the marks U+061C, U+200E, U+200F) and bytes that are not UTF-8 become
 * escapes as Go's %q writes them ("\x1b", "\u009b", "\u202e", "\xff");
 * everything else (valid UTF-8 text such as "Főtanúsítvány", tab) stays as
 * it is. Appends the n bytes of s made safe. Every text of an Envfile's
 * that the trust prompt shows goes through it too. */
void dv_buf_add_safe(struct dv_buf *b, const char *s, size_t n);
/* The same for JSON text as json-c writes it (which escapes C0 controls
 * in strings, but not DEL, C1 controls or bytes that are not UTF-8): those
 * become JSON escapes ("\u009b"; U+FFFD "\ufffd" for a byte that is not
 * UTF-8), so the text stays JSON. */
void dv_buf_add_safe_json(struct dv_buf *b, const char *json);
/* The same into out[outlen] (outlen > 0), NUL-terminated, as much as fits
 * without cutting an escape or a character in half; returns out. It never
 * allocates (for the error paths). s and out may not overlap. */
char *dv_str_safe(char *out, size_t outlen, const char *s);

/* git's levenshtein() (levenshtein.c): the optimal string alignment
 * distance from s1 to s2, with the costs of a swap of two neighbours (w), a
 * substitution (s), an addition (a) and a deletion (d). */
int dv_levenshtein(const char *s1, const char *s2, int w, int s, int a, int d);
/* Git's "did you mean" (help.c): appends " (did you mean 'status'?)", or
 * "'halt' or 'help'", to *out when a candidate is close to word; nothing
 * when none is. */
void dv_suggest(const char *word, const char *const *cands, size_t n, struct dv_buf *out);

#endif
