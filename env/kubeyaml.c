/*
 * env/kubeyaml.c - the small YAML writer `devenv kube generate` emits
 * with: every string goes out through one quoting function (a YAML
 * double-quoted scalar, so no value an Envfile holds can end the scalar,
 * start a new key or be read as a number, a boolean or null), and every
 * name through one mangling function (a Kubernetes DNS label). No I/O.
 */
#include <stdio.h>
#include <string.h>

#include "env/env.h"
#include "util/hash.h"
#include "util/banned.h"

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool env_kube_quote(struct dv_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	dv_buf_add(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(p + i, n - i);

		if (!l)
			return false;
		if (l > 1) {
			/* U+0085, U+2028, U+2029: line breaks to a YAML reader;
			 * U+FFFE, U+FFFF: not printable to one. */
			if ((l == 2 && p[i] == 0xc2 && p[i + 1] == 0x85) ||
			    (l == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
			     (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)))
				dv_buf_addf(b, "\\%s", l == 2 ? "N" : p[i + 2] == 0xa8 ? "L" : "P");
			else if (l == 3 && p[i] == 0xef && p[i + 1] == 0xbf && p[i + 2] >= 0xbe)
				dv_buf_addf(b, "\\u%s", p[i + 2] == 0xbe ? "FFFE" : "FFFF");
			else if (l == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)
				dv_buf_addf(b, "\\x%02x", p[i + 1]); /* C1 controls */
			else
				dv_buf_add(b, p + i, l);
			i += l;
			continue;
		}
		switch (p[i]) {
		case '"':
			dv_buf_adds(b, "\\\"");
			break;
		case '\\':
			dv_buf_adds(b, "\\\\");
			break;
		case '\n':
			dv_buf_adds(b, "\\n");
			break;
		case '\t':
			dv_buf_adds(b, "\\t");
			break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f)
				dv_buf_addf(b, "\\x%02x", p[i]);
			else
				dv_buf_add(b, p + i, 1);
		}
		i++;
	}
	dv_buf_add(b, "\"", 1);
	return true;
}

static bool label_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ENV_KUBE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] == '-' && i > 0 && i + 1 < n)))
			return false;
	return true;
}

void env_kube_name(const char *in, char out[ENV_KUBE_NAME_MAX + 1])
{
	struct dv_sha256 c;
	unsigned char h[32];
	size_t o = 0;
	bool dash = false;

	if (label_ok(in)) {
		snprintf(out, ENV_KUBE_NAME_MAX + 1, "%s", in);
		return;
	}
	/* Lower case, digits, one dash for each run of anything else; then
	 * 8 hex digits of the original's sha256, so that "a_b" and "a.b"
	 * stay two names. */
	for (const char *p = in; *p && o < ENV_KUBE_NAME_MAX - 9; p++) {
		char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
			if (dash && o > 0)
				out[o++] = '-';
			dash = false;
			out[o++] = ch;
		} else {
			dash = true;
		}
	}
	dv_sha256_init(&c);
	dv_sha256_update(&c, in, strlen(in));
	dv_sha256_final(&c, h);
	if (o > 0)
		out[o++] = '-';
	snprintf(out + o, ENV_KUBE_NAME_MAX + 1 - o, "%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
}
