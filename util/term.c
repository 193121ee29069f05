/* util/term.c - see term.h. The states follow ECMA-48's (and the DEC
 * parser's, vt100.net/emu/dec_ansi_parser) closely enough that what a
 * terminal would take as one sequence is kept or dropped whole; where a
 * terminal would do something odd (a C0 control inside a CSI sequence, a
 * string that never ends), the sequence is dropped and the byte handled as
 * text again: whatever follows is filtered anyway, so this costs nothing
 * but a few odd characters on screen. */
#include <stdint.h>
#include <string.h>

#include "str.h"
#include "term.h"
#include "banned.h"

enum { GROUND, UTF8, ESC, ESC_INTER, CSI, STR, STR_ESC };

#define BEL 0x07
#define CAN 0x18
#define SUB 0x1a
#define ESC_BYTE 0x1b

/* Printable ASCII from p to out, eight bytes at a time; returns how many.
 * A word's mask flags each byte below 0x20 or above 0x7e ("hasless" and
 * "hasmore" of the bit hacks); a false flag needs a borrow or carry from a
 * flagged byte below it, so on a little-endian machine the lowest flag is
 * true. Each word is stored before it is looked at: out has the room
 * (DV_TERM_FILTER_OUT), and what lies past the run is written over next. */
static size_t plain_run(const unsigned char *p, size_t n, char *out)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	size_t i = 0;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; n - i >= 8; i += 8) {
		uint64_t w, m;

		memcpy(&w, p + i, 8);
		memcpy(out + i, &w, 8);
		m = ((w - 0x20 * ones) & ~w & high) | (((w + ones) | w) & high);
		if (m)
			return i + (size_t)__builtin_ctzll(m) / 8;
	}
#endif
	for (; i < n && p[i] >= 0x20 && p[i] < 0x7f; i++)
		out[i] = (char)p[i];
	return i;
}

static size_t put_hex(char *out, unsigned c)
{
	static const char hex[] = "0123456789abcdef";

	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 15];
	return 4;
}

/* A UTF-8 lead byte's continuation bytes (RFC 3629: no C0, C1, F5-FF),
 * 0 when it leads nothing. */
static unsigned utf8_need(unsigned c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 1;
	if (c >= 0xe0 && c <= 0xef)
		return 2;
	if (c >= 0xf0 && c <= 0xf4)
		return 3;
	return 0;
}

/* The character held is complete: text, or a C1 control, which acts as its
 * ESC form would (U+009B is CSI to many terminals) and goes with what it
 * starts; or a bidirectional control, which makes a line read other than
 * it is. */
static size_t utf8_done(struct dv_term_filter *f, char *out)
{
	unsigned cp = f->seq[0] & (0x7f >> f->len);
	size_t n = f->len;

	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (f->seq[i] & 0x3f);
	f->state = GROUND;
	f->len = 0;
	if (cp <= 0x9f) {
		if (cp == 0x9b) {
			f->state = CSI;
			f->drop = true;
		} else if (cp == 0x90 || cp == 0x98 || cp == 0x9d || cp == 0x9e || cp == 0x9f) {
			f->state = STR;
		}
		return 0;
	}
	if (dv_str_cp_unsafe(cp))
		return 0;
	memcpy(out, f->seq, n);
	return n;
}

/* A CSI sequence with decimal parameters is kept when it only colours
 * (SGR, whose sub-parameters are ':'-separated) or moves within the line. */
static bool csi_final_kept(unsigned c, bool colon)
{
	return c == 'm' || (!colon && (c == 'K' || c == 'C' || c == 'D' || c == 'G'));
}

static size_t csi_end(struct dv_term_filter *f, unsigned c, char *out)
{
	size_t n = f->len;

	f->state = GROUND;
	f->len = 0;
	if (f->drop || !csi_final_kept(c, f->colon))
		return 0;
	if (c == 'm') {
		/* Only zeros and separators: a reset (ESC [ m, ESC [ 0 m). */
		f->coloured = false;
		for (size_t i = 2; i < n; i++)
			if (f->seq[i] != '0' && f->seq[i] != ';')
				f->coloured = true;
	}
	memcpy(out, f->seq, n);
	out[n] = (char)c;
	return n + 1;
}

/* One byte that is not plain text, or any byte inside a sequence. */
static size_t filter_byte(struct dv_term_filter *f, unsigned c, char *out)
{
	size_t o = 0;

again:
	switch (f->state) {
	case GROUND:
		if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r' || c == '\b') {
			out[o++] = (char)c;
		} else if (c == ESC_BYTE) {
			f->state = ESC;
		} else if (c >= 0x80) {
			f->need = (unsigned char)utf8_need(c);
			if (!f->need)
				return o + put_hex(out + o, c);
			f->seq[0] = (unsigned char)c;
			f->len = 1;
			f->state = UTF8;
		}
		return o; /* other C0 controls and DEL: dropped */
	case UTF8: {
		unsigned lo = 0x80, hi = 0xbf;

		/* The second byte rules out overlong forms, surrogates and
		 * what lies past U+10FFFF. */
		if (f->len == 1 && f->seq[0] == 0xe0)
			lo = 0xa0;
		else if (f->len == 1 && f->seq[0] == 0xed)
			hi = 0x9f;
		else if (f->len == 1 && f->seq[0] == 0xf0)
			lo = 0x90;
		else if (f->len == 1 && f->seq[0] == 0xf4)
			hi = 0x8f;
		if (c < lo || c > hi) {
			/* Each byte of a broken character alone, as
			 * dv_buf_add_safe() has it; c starts afresh. */
			for (size_t i = 0; i < f->len; i++)
				o += put_hex(out + o, f->seq[i]);
			f->len = 0;
			f->state = GROUND;
			goto again;
		}
		f->seq[f->len++] = (unsigned char)c;
		if (--f->need)
			return o;
		return o + utf8_done(f, out + o);
	}
	case ESC:
		if (c == '[') {
			f->state = CSI;
			f->drop = f->colon = false;
			f->seq[0] = ESC_BYTE;
			f->seq[1] = '[';
			f->len = 2;
		} else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
			f->state = STR; /* OSC, DCS, SOS, PM, APC */
		} else if (c >= 0x20 && c <= 0x2f) {
			f->state = ESC_INTER; /* ESC ( B, ESC # 8... */
		} else if (c >= 0x30 && c <= 0x7e) {
			f->state = GROUND; /* ESC c (reset), ESC 7, ESC M... */
		} else if (c != ESC_BYTE) {
			f->state = GROUND;
			if (c != CAN && c != SUB)
				goto again;
		}
		return o;
	case ESC_INTER:
		if (c >= 0x30 && c <= 0x7e) {
			f->state = GROUND;
		} else if (c == ESC_BYTE) {
			f->state = ESC;
		} else if (c < 0x20 || c > 0x2f) {
			f->state = GROUND;
			if (c != CAN && c != SUB)
				goto again;
		}
		return o;
	case CSI:
		if (c >= 0x30 && c <= 0x3f) {
			/* '<' '=' '>' '?': private (DECTCEM, the alternate
			 * screen, mouse modes...), never kept. */
			if (c == ':')
				f->colon = true;
			else if (c > ';')
				f->drop = true;
			if (f->len < DV_TERM_FILTER_HOLD - 1)
				f->seq[f->len++] = (unsigned char)c;
			else
				f->drop = true;
			return o;
		}
		if (c >= 0x20 && c <= 0x2f) {
			f->drop = true; /* intermediate bytes: DECSCUSR, DECSTR... */
			return o;
		}
		if (c >= 0x40 && c <= 0x7e)
			return o + csi_end(f, c, out + o);
		f->len = 0;
		f->state = c == ESC_BYTE ? ESC : GROUND;
		if (c != ESC_BYTE && c != CAN && c != SUB)
			goto again;
		return o;
	case STR:
		/* xterm ends OSC at BEL too; a newline ends any string here,
		 * so that a stray ESC ] does not swallow the rest of a build's
		 * output (the terminal never saw the string start). */
		if (c == BEL || c == CAN || c == SUB) {
			f->state = GROUND;
		} else if (c == '\n') {
			f->state = GROUND;
			out[o++] = '\n';
		} else if (c == ESC_BYTE) {
			f->state = STR_ESC;
		}
		return o;
	case STR_ESC:
		if (c == '\\') { /* ST */
			f->state = GROUND;
			return o;
		}
		f->state = ESC; /* an ESC ends the string and starts anew */
		goto again;
	}
	return o;
}

/* Fast paths for what is whole in the chunk: a UTF-8 character that is
 * text, and a CSI sequence that is kept. Each returns the bytes it took (0:
 * none, the state machine decides) and what it wrote. Both decide as the
 * state machine would (the unit tests compare them, by cutting). */
static size_t utf8_text(const unsigned char *p, size_t n, char *out)
{
	unsigned need = utf8_need(p[0]), cp = p[0] & (0x3f >> need);

	if (!need || n <= need)
		return 0;
	for (unsigned k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) || dv_str_cp_unsafe(cp))
		return 0;
	memcpy(out, p, need + 1);
	return need + 1;
}

/* Text that is not only ASCII: characters and printable ASCII as they
 * come, one for one, up to anything else. */
static size_t utf8_run(const unsigned char *p, size_t n, char *out)
{
	size_t i = 0, k;

	while (i < n) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			out[i] = (char)p[i];
			i++;
		} else if (p[i] >= 0xc2 && (k = utf8_text(p + i, n - i, out + i))) {
			i += k;
		} else {
			break;
		}
	}
	return i;
}

static size_t csi_kept(struct dv_term_filter *f, const unsigned char *p, size_t n, char *out)
{
	bool colon = false, colour = false;
	size_t j;

	if (n < 3 || p[1] != '[')
		return 0;
	for (j = 2; j < n && j < DV_TERM_FILTER_HOLD && p[j] >= '0' && p[j] <= ';'; j++) {
		colon |= p[j] == ':';
		colour |= p[j] != '0' && p[j] != ';';
	}
	if (j == n || j == DV_TERM_FILTER_HOLD || !csi_final_kept(p[j], colon))
		return 0;
	if (p[j] == 'm')
		f->coloured = colour;
	for (size_t k = 0; k <= j; k++)
		out[k] = (char)p[k];
	return j + 1;
}

size_t dv_term_filter_feed(struct dv_term_filter *f, const char *in, size_t n, char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0, k;

	while (i < n) {
		if (f->state != GROUND) {
			o += filter_byte(f, p[i++], out + o);
			continue;
		}
		k = plain_run(p + i, n - i, out + o);
		o += k;
		i += k;
		if (i == n)
			break;
		k = 0;
		switch (p[i]) {
		case '\n':
		case '\t':
		case '\r':
		case '\b':
			out[o++] = (char)p[i++];
			continue;
		case 0: /* binary output: its NULs go eight at a time */
			if (n - i < 8 || memcmp(p + i, "\0\0\0\0\0\0\0\0", 8))
				break;
			while (n - i >= 8 && !memcmp(p + i, "\0\0\0\0\0\0\0\0", 8))
				i += 8;
			continue;
		case ESC_BYTE:
			k = csi_kept(f, p + i, n - i, out + o);
			break;
		default:
			k = p[i] >= 0xc2 ? utf8_run(p + i, n - i, out + o) : 0;
			break;
		}
		if (k) {
			o += k;
			i += k;
			continue;
		}
		o += filter_byte(f, p[i++], out + o);
	}
	return o;
}

size_t dv_term_filter_end(struct dv_term_filter *f, char *out)
{
	size_t o = 0;

	if (f->state == UTF8)
		for (size_t i = 0; i < f->len; i++)
			o += put_hex(out + o, f->seq[i]);
	if (f->coloured) {
		memcpy(out + o, "\033[0m", 4);
		o += 4;
	}
	*f = (struct dv_term_filter){ 0 };
	return o;
}
