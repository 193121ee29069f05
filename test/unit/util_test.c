/* test/unit/util_test.c - util/: sha256, strings, the terminal filter, atomic
 * writes, safe removal, /etc/subuid parsing. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/cleanup.h"
#include "util/dl.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/str.h"
#include "util/term.h"
#include "util/treesum.h"
#include "util/userns.h"

static void test_sha256_vectors(void **state)
{
	char hex[DV_SHA256_HEX];
	struct dv_sha256 c;
	char million[1001];

	(void)state;
	dv_sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	dv_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	dv_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a's, fed in uneven pieces */
	memset(million, 'a', sizeof(million));
	dv_sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		dv_sha256_update(&c, million, i % 2 ? 999 : 1001);
	dv_sha256_final_hex(&c, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_strings(void **state)
{
	struct dv_buf b = { 0 };
	char size[32];
	char *s;

	(void)state;
	assert_int_equal(dv_str_distance("provison", "provision"), 1);
	assert_int_equal(dv_str_distance("", "abc"), 3);
	assert_true(dv_str_is_hex("0123abcdef", 10));
	assert_false(dv_str_is_hex("0123ABCDEF", 10));
	assert_false(dv_str_is_hex("0123", 5));
	dv_buf_addf(&b, "%d-%s", 7, "x");
	dv_buf_adds(&b, "y");
	s = dv_buf_steal(&b);
	assert_string_equal(s, "7-xy");
	free(s);
	dv_buf_release(&b);
	dv_str_size(size, sizeof(size), 1536);
	assert_string_equal(size, "1.5 KiB");
}

static void test_errors(void **state)
{
	struct dv_error err = { 0 };

	(void)state;
	dv_err(&err, ENOENT, "cannot open '%s'", "x");
	assert_string_equal(err.msg, "cannot open 'x': No such file or directory");
	dv_err_prefix(&err, "reading Envfile");
	assert_string_equal(err.msg, "reading Envfile: cannot open 'x': No such file or directory");
	memset(&err, 0, sizeof(err));
	dv_err_at(&err, "Envfile", 7, 3, "unknown key '%s'", "provison");
	assert_int_equal(err.status, 2);
	assert_int_equal(err.line, 7);
	/* context keeps the position */
	dv_err_prefix(&err, "step 1");
	assert_int_equal(err.line, 7);
	assert_string_equal(err.file, "Envfile");

	/* A later error replaces the position and its exit status 2 (issue 14:
	 * vset kept them, so a plain failure printed "Envfile:7:3:" and exited 2). */
	dv_err(&err, EIO, "cannot write");
	assert_string_equal(err.file, "");
	assert_int_equal(err.line, 0);
	assert_int_equal(err.col, 0);
	assert_int_equal(err.status, 0);
	dv_err_at(&err, "Envfile", 7, 3, "x");
	dv_err_plain(&err, ENOENT, "gone");
	assert_string_equal(err.file, "");
	assert_int_equal(err.status, 0);
	assert_int_equal(err.errnum, ENOENT);
	dv_err_at(&err, "Envfile", 7, 3, "x");
	dv_err_usage(&err, "bad option");
	assert_string_equal(err.file, "");
	assert_int_equal(err.line, 0);
	assert_int_equal(err.status, 2);
	/* a status the caller chose stays (ssh's 125) */
	memset(&err, 0, sizeof(err));
	err.status = 125;
	dv_err(&err, 0, "no env");
	assert_int_equal(err.status, 125);
}

/* Text from a registry, an image, a layer or an env, made safe to print. */
static void test_safe_text(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain text\twith a tab", "plain text\twith a tab" },
		{ "F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny \xe2\x82\xac \xf0\x9f\x90\xb3",
		  "F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny \xe2\x82\xac \xf0\x9f\x90\xb3" },
		{ "\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J" },
		{ "a\nb\rc\x7f"
		  "d\x01",
		  "a\\x0ab\\x0dc\\x7fd\\x01" },
		/* C1 controls: U+009B is CSI to many terminals */
		{ "\xc2\x9b"
		  "31m\xc2\x85"
		  "x\xc2\xa0",
		  "\\u009b31m\\u0085x\xc2\xa0" },
		/* the bidirectional overrides ("Trojan Source") */
		{ "abc\xe2\x80\xae"
		  "fed\xe2\x81\xa6",
		  "abc\\u202efed\\u2066" },
		/* and the marks, which reorder a line as well */
		{ "a\xe2\x80\x8f"
		  "b\xe2\x80\x8e"
		  "c\xd8\x9c"
		  "d",
		  "a\\u200fb\\u200ec\\u061cd" },
		/* not UTF-8: stray, overlong, surrogate, past U+10FFFF, cut short */
		{ "\xff\x80", "\\xff\\x80" },
		{ "\xc0\xaf\xe0\x80\xaf", "\\xc0\\xaf\\xe0\\x80\\xaf" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
		{ "ok\xe2\x82", "ok\\xe2\\x82" },
		{ "\xc3", "\\xc3" },
	};
	char small[8], out[256];
	struct dv_buf b = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(dv_str_safe(out, sizeof(out), cases[i].in), cases[i].out);
		dv_buf_add_safe(&b, cases[i].in, strlen(cases[i].in));
		assert_string_equal(b.s, cases[i].out);
		dv_buf_release(&b);
		/* what is safe stays the same */
		assert_string_equal(dv_str_safe(out, sizeof(out), cases[i].out), cases[i].out);
	}
	/* a NUL inside counts as any other control character */
	dv_buf_add_safe(&b, "a\0b", 3);
	assert_string_equal(b.s, "a\\x00b");
	dv_buf_release(&b);
	/* a fixed buffer never ends in half an escape or half a character */
	assert_string_equal(dv_str_safe(small, sizeof(small), "abcd\x1b"), "abcd");
	assert_string_equal(dv_str_safe(small, sizeof(small), "abcdef\xc3\xa1"), "abcdef");
	assert_string_equal(dv_str_safe(small, sizeof(small), "abcde\xc3\xa1"), "abcde\xc3\xa1");
	/* JSON text stays JSON: what json-c leaves becomes a JSON escape */
	dv_buf_add_safe_json(&b, "{\n  \"a\": \"\xc2\x9b"
				 "31m\x7f\xff\xe2\x80\xae F\xc5\x91\\u001b\"\n}");
	assert_string_equal(b.s,
			    "{\n  \"a\": \"\\u009b31m\\u007f\\ufffd\\u202e F\xc5\x91\\u001b\"\n}");
	dv_buf_release(&b);
	/* every error message is made safe where it is set */
	dv_err_plain(&err, EIO, "registry answered: %s", "\x1b]0;pwned\x07");
	assert_string_equal(err.msg, "registry answered: \\x1b]0;pwned\\x07");
	dv_err_prefix(&err, "pulling '%s'", "x\x1b[2J");
	assert_string_equal(err.msg, "pulling 'x\\x1b[2J': registry answered: \\x1b]0;pwned\\x07");
	dv_err_at(&err,
		  "Env\x1b"
		  "file",
		  1, 1, "x");
	assert_string_equal(err.file, "Env\\x1bfile");
}

static char *tmpdir(void)
{
	char tmpl[] = "/var/tmp/devenv-util-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return dv_xstrdup(tmpl);
}

/* in[0..n) through a fresh filter, fed in chunks of `chunk` bytes (0: all
 * at once), then ended; NUL-terminated into out[cap]. Each call gets just
 * the room the header promises, on the heap (so that make asan sees a byte
 * written past it). Returns the length. */
static size_t term_run(const char *in, size_t n, size_t chunk, char *out, size_t cap)
{
	struct dv_term_filter f = { 0 };
	size_t o = 0, len;
	char *room;

	for (size_t i = 0; i < n;) {
		size_t k = chunk && n - i > chunk ? chunk : n - i;

		room = dv_xmalloc(DV_TERM_FILTER_OUT(k));
		len = dv_term_filter_feed(&f, in + i, k, room);
		assert_true(len <= DV_TERM_FILTER_OUT(k) && o + len < cap);
		memcpy(out + o, room, len);
		free(room);
		o += len;
		i += k;
	}
	room = dv_xmalloc(DV_TERM_FILTER_OUT(0));
	len = dv_term_filter_end(&f, room);
	assert_true(o + len < cap);
	memcpy(out + o, room, len);
	free(room);
	o += len;
	out[o] = 0;
	/* ended: the struct is a fresh stream again */
	assert_true(f.state == 0 && f.len == 0 && !f.coloured);
	assert_true(o <= 4 * n + DV_TERM_FILTER_HOLD);
	return o;
}

/* What the filter let out is what a terminal may get: no control but \t \n
 * \r \b and the ESC of a kept CSI sequence (SGR, EL, CUF, CUB, CHA with
 * decimal parameters), no DEL, only UTF-8 without C1 or bidi controls. */
static void assert_term_safe(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned c = s[i];

		if (c == 0x1b) {
			size_t j = i + 1;
			bool colon = false;

			assert_true(j < n && s[j] == '[');
			for (j++;
			     j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == ';' || s[j] == ':');
			     j++)
				colon |= s[j] == ':';
			assert_true(j < n && strchr(colon ? "m" : "mKCDG", s[j]) && s[j]);
			i = j;
		} else if (c < 0x20 || c == 0x7f) {
			assert_true(c == '\t' || c == '\n' || c == '\r' || c == '\b');
		} else if (c >= 0x80) {
			unsigned need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1, cp = c & (0x3f >> need);

			assert_true(c >= 0xc2 && c <= 0xf4 && i + need < n);
			for (unsigned k = 1; k <= need; k++) {
				assert_int_equal(s[i + k] & 0xc0, 0x80);
				cp = cp << 6 | (s[i + k] & 0x3f);
			}
			assert_true(!dv_str_cp_unsafe(cp) && !(cp >= 0xd800 && cp <= 0xdfff));
			assert_true((need == 1 || cp >= 0x800) &&
				    (need < 3 || (cp >= 0x10000 && cp <= 0x10ffff)));
			i += need;
		}
	}
}

static void test_term_filter(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		/* kept: text, UTF-8, the controls of a line */
		{ "plain text\twith a tab\r\n", "plain text\twith a tab\r\n" },
		{ "F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny \xe2\x82\xac \xf0\x9f\x90\xb3 \xc2\xa0",
		  "F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny \xe2\x82\xac \xf0\x9f\x90\xb3 \xc2\xa0" },
		{ "50%\b\b\b51%", "50%\b\b\b51%" },
		/* kept: colours (ending with one left on: a reset is added) */
		{ "\x1b[1;31merror\x1b[0m ok", "\x1b[1;31merror\x1b[0m ok" },
		{ "\x1b[38;2;255;128;0m\x1b[48:5:21mx\x1b[m",
		  "\x1b[38;2;255;128;0m\x1b[48:5:21mx\x1b[m" },
		{ "\x1b[32mgreen", "\x1b[32mgreen\x1b[0m" },
		{ "\x1b[;mx", "\x1b[;mx" },
		/* kept: a progress bar's moves within the line */
		{ "\r[===  ] 60%\x1b[K\x1b[2K\x1b[5C\x1b[3D\x1b[10G\x1b[G",
		  "\r[===  ] 60%\x1b[K\x1b[2K\x1b[5C\x1b[3D\x1b[10G\x1b[G" },
		/* dropped whole: OSC 52 (the clipboard) and OSC 0 (the title),
		 * ended by BEL or ST; DCS, SOS, PM, APC */
		{ "step\x1b]52;c;ZWNobyBwd25lZAo=\x07 done", "step done" },
		{ "a\x1b]0;pwned\x1b\\b", "ab" },
		{ "a\x1bP+q544e\x1b\\b\x1bX sos \x1b\\c\x1b^pm\x1b\\d\x1b_apc\x07"
		  "e",
		  "abcde" },
		{ "a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "alink" },
		/* a newline ends a string that never does */
		{ "a\x1b]0;never ended\nnext line", "a\nnext line" },
		/* an ESC in a string ends it and starts what it starts */
		{ "\x1b]0;t\x1b[31mred", "\x1b[31mred\x1b[0m" },
		/* dropped whole: every other CSI sequence */
		{ "\x1b[2J\x1b[H\x1b[3J\x1b[1A\x1b[2;5H\x1b[6n\x1b[c\x1b[1;2r\x1b[L\x1b[S", "" },
		{ "\x1b[?1049h\x1b[?25l\x1b[>0c\x1b[=1c\x1b[<1m", "" },
		{ "\x1b[0 q\x1b[!p\x1b[2\"q", "" },
		{ "\x1b[2:1K\x1b[1:2C", "" },
		{ "\x1b["
		  "1111111111"
		  "1111111111"
		  "1111111111"
		  "1111111111"
		  "1111111111"
		  "1111111111"
		  "1111111111m|",
		  "|" },
		/* dropped: ESC sequences */
		{ "a\x1b"
		  "cb\x1b"
		  "7\x1b"
		  "8\x1bM\x1b(B\x1b#8\x1b%G\x1b=c",
		  "abc" },
		/* dropped alone: C0 controls, DEL; CAN and SUB end a sequence */
		{ "a\x01\x07\x0b\x0c\x0e\x1c\x7f"
		  "b",
		  "ab" },
		{ "\x1b[31\x18m\x1b]0;x\x1a"
		  "y",
		  "my" },
		/* a C0 control in a sequence ends it and is itself again */
		{ "\x1b[31\nx\x1b\ty", "\nx\ty" },
		/* C1 controls as UTF-8: dropped with what they start */
		{ "a\xc2\x85"
		  "b\xc2\x9b"
		  "2Jc\xc2\x9d"
		  "52;c;eA==\x07"
		  "d\xc2\x90q\x1b\\e\xc2\x9c"
		  "f",
		  "abcdef" },
		/* the bidirectional controls: overrides, isolates, marks */
		{ "abc\xe2\x80\xae"
		  "fed\xe2\x81\xa6"
		  "g\xe2\x80\x8f"
		  "h\xe2\x80\x8e"
		  "i\xd8\x9c"
		  "j",
		  "abcfedghij" },
		/* not UTF-8: each byte escaped, a raw 8-bit CSI included */
		{ "x\x9b"
		  "2J",
		  "x\\x9b2J" },
		{ "\xff\x80", "\\xff\\x80" },
		{ "\xc0\xaf\xe0\x80\xaf", "\\xc0\\xaf\\xe0\\x80\\xaf" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
		{ "\xe2\x82"
		  "a",
		  "\\xe2\\x82"
		  "a" },
		{ "\xe2\x82\x1b[31mx", "\\xe2\\x82\x1b[31mx\x1b[0m" },
		/* cut short at the end */
		{ "ok\xe2\x82", "ok\\xe2\\x82" },
		{ "ok\x1b[31", "ok" },
		{ "ok\x1b]52;c;", "ok" },
	};
	char out[1024], twice[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in), len;

		/* whole, then cut at every point, and byte by byte */
		len = term_run(cases[i].in, n, 0, out, sizeof(out));
		assert_string_equal(out, cases[i].out);
		assert_term_safe((const unsigned char *)out, len);
		for (size_t cut = 1; cut <= n; cut++) {
			struct dv_term_filter f = { 0 };
			size_t o = dv_term_filter_feed(&f, cases[i].in, cut, out);

			o += dv_term_filter_feed(&f, cases[i].in + cut, n - cut, out + o);
			o += dv_term_filter_end(&f, out + o);
			out[o] = 0;
			assert_string_equal(out, cases[i].out);
		}
		term_run(cases[i].in, n, 1, out, sizeof(out));
		assert_string_equal(out, cases[i].out);
		/* what went through once goes through unchanged */
		term_run(cases[i].out, strlen(cases[i].out), 0, twice, sizeof(twice));
		assert_string_equal(twice, cases[i].out);
	}
	/* a NUL is a control like the others, also in the fast path's words */
	assert_int_equal(term_run("ab\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0cd", 20, 0, out, sizeof(out)),
			 4);
	assert_string_equal(out, "abcd");
}

/* Random streams, cut at random: the same output whatever the cuts (a cut
 * sends the filter through its byte-by-byte path where a whole chunk takes
 * its fast paths), within the room promised, safe, and unchanged by a
 * second pass. Half of them bytes rich in what the filter looks at, half
 * pieces of text and whole sequences. */
static void test_term_filter_random(void **state)
{
	static const unsigned char pick[] = { 0x1b, '[',  ']',  'P',  '\\', 0x07, ';',  ':',
					      '?',  '1',  '3',  'm',  'K',  'C',  'G',  'H',
					      'J',  ' ',  '\n', 0x18, 0x00, 0x7f, 0xc2, 0x9b,
					      0x9d, 0xe2, 0x80, 0xae, 0xf0, 0x9f, 0xff, 'a' };
	static const char *const piece[] = {
		"the quick brown fox ",
		"jumps",
		"\n",
		"\r",
		"\t",
		"F\xc5\x91",
		"\xe6\x97\xa5\xe6\x9c\xac",
		"\xf0\x9f\x90\xb3",
		"\xe2\x80\x8f",
		"\x1b[31m",
		"\x1b[1;38;2;1;2;3m",
		"\x1b[38:5:9m",
		"\x1b[0m",
		"\x1b[m",
		"\x1b[2K",
		"\x1b[12G",
		"\x1b[2J",
		"\x1b[?25l",
		"\x1b]52;c;eA==\x07",
		"\x1b]0;t\x1b\\",
		"\x1bPq#0\x1b\\",
		"\xc2\x9b"
		"1m",
		"\x9b",
		"\xff",
		"\xe2\x80\xae",
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		"\x1b["
		"11111111111111111111111111111111111111111111111111111111111m",
	};
	static unsigned char in[4096];
	static char whole[4 * sizeof(in) + 256], cut[sizeof(whole)], again[4 * sizeof(whole) + 256];
	unsigned seed = 11;

	(void)state;
	for (int round = 0; round < 400; round++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(in)), len, len2;

		for (size_t i = 0; i < n;) {
			if (round % 2) {
				in[i++] = rand_r(&seed) % 4 ? pick[rand_r(&seed) % sizeof(pick)]
							    : (unsigned char)rand_r(&seed);
				continue;
			}
			const char *s = piece[rand_r(&seed) % (sizeof(piece) / sizeof(piece[0]))];
			size_t k = s[0] ? strlen(s) : 9; /* the NULs */

			k = k < n - i ? k : n - i;
			memcpy(in + i, s, k);
			i += k;
		}
		len = term_run((const char *)in, n, 0, whole, sizeof(whole));
		assert_term_safe((const unsigned char *)whole, len);
		len2 = term_run((const char *)in, n, 1 + (size_t)(rand_r(&seed) % 13), cut,
				sizeof(cut));
		assert_int_equal(len2, len);
		assert_memory_equal(cut, whole, len);
		len2 = term_run(whole, len, 0, again, sizeof(again));
		assert_int_equal(len2, len);
		assert_memory_equal(again, whole, len);
	}
	/* the worst case is the room promised: every byte escaped */
	memset(in, 0xff, sizeof(in));
	assert_int_equal(term_run((const char *)in, sizeof(in), 0, whole, sizeof(whole)),
			 4 * sizeof(in));
}

static void test_atomic_write(void **state)
{
	dv_autofree char *dir = tmpdir();
	dv_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dv_error err = { 0 };
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(dv_write_file_atomic(fd, "f.json", "{}", 2, 0600, &err), 0);
	assert_int_equal(dv_write_file_atomic(fd, "f.json", "{\"a\":1}", 7, 0600, &err), 0);
	assert_int_equal(dv_read_file_at(fd, "f.json", &text, &len, &err), 0);
	assert_string_equal(text, "{\"a\":1}");
	free(text);
	/* no temporary file is left behind */
	assert_int_equal(faccessat(fd, ".f.json.tmp", F_OK, 0), -1);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
}

/* /etc/subuid lines: by name or by uid, the first usable one; comments,
 * short lines, bad numbers and empty ranges are passed over. */
static void test_subid_find(void **state)
{
	dv_autofree char *dir = tmpdir();
	dv_autofree char *file = dv_xasprintf("%s/subuid", dir);
	static const char text[] = "# comment\n"
				   "bob:100000\n"
				   "alice:x:65536\n"
				   "alice:200000:0\n"
				   "alice:300000:65536\n"
				   "1001:400000:1000\n"
				   "carol:500000:70000";
	dv_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dv_error err = { 0 };
	unsigned long start = 0, count = 0;

	(void)state;
	assert_int_equal(dv_write_file_atomic(fd, "subuid", text, sizeof(text) - 1, 0644, &err), 0);
	assert_int_equal(dv_subid_find(file, "alice", 1000, &start, &count), 0);
	assert_int_equal(start, 300000);
	assert_int_equal(count, 65536);
	assert_int_equal(dv_subid_find(file, "dave", 1001, &start, &count), 0);
	assert_int_equal(start, 400000);
	assert_int_equal(count, 1000);
	/* the last line needs no newline */
	assert_int_equal(dv_subid_find(file, "carol", 7, &start, &count), 0);
	assert_int_equal(count, 70000);
	assert_int_equal(dv_subid_find(file, "bob", 1002, &start, &count), -1);
	assert_int_equal(dv_subid_find(file, NULL, 1003, &start, &count), -1);
	assert_int_equal(dv_subid_find("/nonexistent/subuid", "alice", 1000, &start, &count), -1);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
}

/* The removal must never follow a symlink out of the tree. */
static void test_rm_tree_keeps_link_targets(void **state)
{
	dv_autofree char *dir = tmpdir();
	dv_autofree char *outside = tmpdir();
	dv_autofree char *victim = dv_xasprintf("%s/precious", outside);
	dv_autofree char *tree = dv_xasprintf("%s/tree/a/b", dir);
	dv_autofree char *link1 = dv_xasprintf("%s/tree/a/b/to-outside", dir);
	dv_autofree char *link2 = dv_xasprintf("%s/tree/to-file", dir);
	struct dv_error err = { 0 };
	int fd;

	(void)state;
	fd = open(victim, O_CREAT | O_WRONLY | O_CLOEXEC, 0400);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dv_mkdir_p(tree, 0755, &err), 0);
	assert_int_equal(symlink(outside, link1), 0);
	assert_int_equal(symlink(victim, link2), 0);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(access(victim, F_OK), 0);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, outside, &err), 0);
}

/* A host path from an Envfile is opened beneath its tree: a folder swapped
 * for a symlink to '/' gives EXDEV, a symlink that stays inside is fine. */
static void test_open_beneath(void **state)
{
	dv_autofree char *dir = tmpdir();
	dv_autofree char *sub = dv_xasprintf("%s/sub", dir);
	dv_autofree char *file = dv_xasprintf("%s/sub/f", dir);
	dv_autofree char *inside = dv_xasprintf("%s/inside", dir);
	dv_autofree char *escape = dv_xasprintf("%s/escape", dir);
	struct dv_error err = { 0 };
	int dfd, fd;

	(void)state;
	assert_int_equal(dv_mkdir_p(sub, 0755, &err), 0);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink("sub", inside), 0);
	assert_int_equal(symlink("/", escape), 0);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	fd = dv_openat_beneath(dfd, "inside/f", O_RDONLY, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dv_openat_beneath(dfd, "escape/etc/passwd", O_RDONLY, 0), -1);
	assert_int_equal(errno, EXDEV);
	assert_int_equal(dv_openat_beneath(dfd, "../etc/passwd", O_RDONLY, 0), -1);
	assert_int_equal(errno, EXDEV);
	fd = dv_openat_beneath(dfd, "", O_PATH | O_DIRECTORY, 0); /* the tree itself */
	assert_true(fd >= 0);
	close(fd);
	close(dfd);
	fd = dv_open_nosymlinks(file, O_RDONLY, 0);
	assert_true(fd >= 0);
	close(fd);
	{
		dv_autofree char *via = dv_xasprintf("%s/inside/f", dir);

		assert_int_equal(dv_open_nosymlinks(via, O_RDONLY, 0), -1);
		assert_int_equal(errno, ELOOP);
	}
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
}

static void test_path_below(void **state)
{
	(void)state;
	assert_string_equal(dv_path_below("/a/b/c", "/a/b"), "c");
	assert_string_equal(dv_path_below("/a/b", "/a/b"), "");
	assert_string_equal(dv_path_below("/a/b/c", "/a/b/"), "c");
	assert_string_equal(dv_path_below("/a/b", "/"), "a/b");
	assert_null(dv_path_below("/a/bc", "/a/b"));
	assert_null(dv_path_below("/a", "/a/b"));
	assert_null(dv_path_below("relative", "/"));
}

/* A path resolved earlier, opened as it is now (how `copy` and `mounts`
 * sources are opened at use): below root through the kernel's
 * RESOLVE_BENEATH, with no symlink at all, so the same path with a folder
 * swapped for a symlink to '/', or to another folder inside, is ELOOP;
 * outside root, no symlink either. */
static void test_open_resolved(void **state)
{
	dv_autofree char *tmp = tmpdir();
	dv_autofree char *dir = realpath(tmp, NULL);
	dv_autofree char *real = dv_xasprintf("%s/co/a/b/f", dir);
	dv_autofree char *root = dv_xasprintf("%s/co", dir);
	dv_autofree char *a = dv_xasprintf("%s/co/a", dir);
	dv_autofree char *moved = dv_xasprintf("%s/co/a.real", dir);
	dv_autofree char *b = dv_xasprintf("%s/co/a/b", dir);
	dv_autofree char *bsaved = dv_xasprintf("%s/co/b.real", dir);
	dv_autofree char *outside = dv_xasprintf("%s/out", dir);
	dv_autofree char *outlink = dv_xasprintf("%s/outlink", dir);
	dv_autofree char *via = dv_xasprintf("%s/outlink/f", dir);
	struct dv_error err = { 0 };
	char buf[8] = "";
	int fd;

	(void)state;
	assert_non_null(dir);
	assert_int_equal(dv_mkdir_p(b, 0755, &err), 0);
	assert_int_equal(dv_mkdir_p(outside, 0755, &err), 0);
	assert_int_equal(dv_write_file_atomic(AT_FDCWD, real, "in", 2, 0644, &err), 0);
	assert_int_equal(symlink("out", outlink), 0);

	fd = dv_open_resolved(root, real, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "in");
	close(fd);
	/* a folder of the checkout now a symlink to '/' */
	assert_int_equal(rename(a, moved), 0);
	assert_int_equal(symlink("/", a), 0);
	assert_int_equal(dv_open_resolved(root, real, O_PATH), -1);
	assert_int_equal(errno, ELOOP);
	/* a symlink that stays inside is refused too ('data -> .' would be
	 * the checkout, not the folder that was checked) */
	assert_int_equal(unlink(a), 0);
	assert_int_equal(symlink("a.real", a), 0);
	assert_int_equal(dv_open_resolved(root, real, O_PATH), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(unlink(a), 0);
	assert_int_equal(symlink(".", a), 0);
	assert_int_equal(dv_open_resolved(root, real, O_PATH), -1);
	assert_int_equal(errno, ELOOP);
	/* the last component too, and one reaching out by '..' */
	assert_int_equal(unlink(a), 0);
	assert_int_equal(rename(moved, a), 0);
	assert_int_equal(rename(b, bsaved), 0);
	assert_int_equal(symlink("../b.real", b), 0);
	assert_int_equal(dv_open_resolved(root, b, O_PATH), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(unlink(b), 0);
	assert_int_equal(symlink("../../out", b), 0);
	assert_int_equal(dv_open_resolved(root, real, O_PATH), -1);
	assert_int_equal(errno, ELOOP);
	/* the root itself */
	fd = dv_open_resolved(root, root, O_PATH | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	/* outside root: no symlink anywhere on the path */
	fd = dv_open_resolved(root, outside, O_PATH | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dv_open_resolved(root, via, O_PATH), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(dv_open_resolved(NULL, via, O_PATH), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, tmp, &err), 0);
}

/* Only a regular file is opened for reading: a fifo (which would block) or
 * a device node planted in a checkout never is. */
static void test_reopen_regular(void **state)
{
	dv_autofree char *dir = tmpdir();
	dv_autofree char *fifo = dv_xasprintf("%s/fifo", dir);
	dv_autofree char *link = dv_xasprintf("%s/link", dir);
	dv_autoclose int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct dv_error err = { 0 };
	struct stat st;
	int fd;

	(void)state;
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(dv_write_file_atomic(dfd, "file", "x", 1, 0644, &err), 0);
	assert_int_equal(symlink("file", link), 0);
	assert_int_equal(dv_open_regular_at(dfd, "fifo", &st), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(dv_open_regular_at(dfd, "link", &st), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(dv_open_regular_at(dfd, ".", &st), -1);
	assert_int_equal(errno, EISDIR);
	fd = dv_open_regular_at(dfd, "file", &st);
	assert_true(fd >= 0);
	assert_int_equal(st.st_size, 1);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	close(fd);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
}

/* The records of a copied tree's digest, byte for byte: cache keys made
 * before them must stay the same. */
static void test_treesum_records(void **state)
{
	static const char bytes[] = "src\0d 755\0src/a\0f 644 abc\0src/l\0l a\0";
	struct dv_sha256 h;
	char got[DV_SHA256_HEX], want[DV_SHA256_HEX];

	(void)state;
	dv_sha256_init(&h);
	dv_treesum_dir(&h, "src", 040755);
	dv_treesum_file(&h, "src/a", 0100644, "abc");
	dv_treesum_link(&h, "src/l", "a");
	dv_sha256_final_hex(&h, got);
	dv_sha256_hex(bytes, sizeof(bytes) - 1, want);
	assert_string_equal(got, want);
}

/* Group and other write are the cloner's umask's, not the project's: a
 * 0664 file and a 0775 folder (umask 002) record as 0644 and 0755 (022);
 * the other bits, setuid and sticky included, stay. */
static void test_treesum_umask(void **state)
{
	struct dv_sha256 a, b;
	char ha[DV_SHA256_HEX], hb[DV_SHA256_HEX];

	(void)state;
	dv_sha256_init(&a);
	dv_sha256_init(&b);
	dv_treesum_dir(&a, "src", 040775);
	dv_treesum_file(&a, "src/a", 0100664, "abc");
	dv_treesum_file(&a, "src/x", 0104777, "abc");
	dv_treesum_dir(&b, "src", 040755);
	dv_treesum_file(&b, "src/a", 0100644, "abc");
	dv_treesum_file(&b, "src/x", 0104755, "abc");
	dv_sha256_final_hex(&a, ha);
	dv_sha256_final_hex(&b, hb);
	assert_string_equal(ha, hb);
	assert_int_equal(DV_TREESUM_MODE(0101777), 01755);
	assert_int_equal(DV_TREESUM_MODE(0100600), 0600);
	dv_sha256_init(&b);
	dv_treesum_dir(&b, "src", 040755);
	dv_treesum_file(&b, "src/a", 0100600, "abc");
	dv_treesum_file(&b, "src/x", 0100755, "abc");
	dv_sha256_final_hex(&b, hb);
	assert_string_not_equal(ha, hb);
}

/* A mount below the tree stops the removal before anything under it goes. */
/* cmocka's skip() jumps out of the test: what it holds must be freed and
 * removed first (LSan, and no temporary folders left behind), and the
 * reason said. */
static void skip_freeing(const char *why, char **dirs, size_t n, char **other, size_t m)
{
	struct dv_error err = { 0 };

	for (size_t i = 0; i < n; i++) {
		dv_rm_tree_at(AT_FDCWD, dirs[i], &err);
		free(dirs[i]);
	}
	for (size_t i = 0; i < m; i++)
		free(other[i]);
	print_message("skipped: %s\n", why);
	skip();
}

static void test_rm_tree_stops_at_mount(void **state)
{
	char *dir, *mnt, *inside;
	struct dv_error err = { 0 };
	int fd;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: mounting a tmpfs needs root\n");
		skip();
	}
	dir = tmpdir();
	mnt = dv_xasprintf("%s/sub/mnt", dir);
	inside = dv_xasprintf("%s/sub/mnt/keep", dir);
	assert_int_equal(dv_mkdir_p(mnt, 0755, &err), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0)
		skip_freeing("cannot mount a tmpfs here", (char *[]){ dir }, 1,
			     (char *[]){ mnt, inside }, 2);
	fd = open(inside, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), -1);
	assert_int_equal(err.errnum, EBUSY);
	assert_non_null(strstr(err.msg, "is a mount point"));
	assert_int_equal(access(inside, F_OK), 0);
	umount2(mnt, MNT_DETACH);
	memset(&err, 0, sizeof(err));
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
	free(dir);
	free(mnt);
	free(inside);
}

/* A bind mount of the same filesystem has the same st_dev: still refused,
 * and the bind mount's source keeps its files (the checkout case). */
static void test_rm_tree_stops_at_bind_mount(void **state)
{
	char *dir, *src, *keep, *mnt, *sibling;
	struct dv_error err = { 0 };
	int fd;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: a bind mount needs root\n");
		skip();
	}
	dir = tmpdir();
	src = tmpdir();
	keep = dv_xasprintf("%s/Envfile", src);
	mnt = dv_xasprintf("%s/upper/mnt", dir);
	sibling = dv_xasprintf("%s/upper/a-file", dir);
	fd = open(keep, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dv_mkdir_p(mnt, 0755, &err), 0);
	fd = open(sibling, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	if (mount(src, mnt, NULL, MS_BIND, NULL) < 0)
		skip_freeing("cannot bind-mount here", (char *[]){ dir, src }, 2,
			     (char *[]){ keep, mnt, sibling }, 3);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), -1);
	assert_int_equal(err.errnum, EBUSY);
	assert_non_null(strstr(err.msg, "upper/mnt' is a mount point; unmount it first"));
	assert_int_equal(access(keep, F_OK), 0);
	assert_int_equal(access(sibling, F_OK), 0); /* nothing at all was removed */
	umount2(mnt, MNT_DETACH);
	memset(&err, 0, sizeof(err));
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
	assert_int_equal(access(keep, F_OK), 0);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, src, &err), 0);
	free(dir);
	free(src);
	free(keep);
	free(mnt);
	free(sibling);
}

/* How a child that passes "a" then "b" `hits` times with DEVENV_FAULT=spec
 * ends: its exit status (0 when it survived), or 128+signal. */
static int fault_run(const char *spec, int hits)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		setenv("DEVENV_FAULT", spec, 1);
		dv_fault_point("a");
		for (int i = 0; i < hits; i++)
			dv_fault_point("b");
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void test_fault_point(void **state)
{
	(void)state;
	assert_int_equal(fault_run("", 3), 0);
	assert_int_equal(fault_run("c", 3), 0);
	assert_int_equal(fault_run("b", 0), 0);
	assert_int_equal(fault_run("b", 1), 128 + SIGKILL);
	assert_int_equal(fault_run("a", 0), 128 + SIGKILL);
	assert_int_equal(fault_run("b:3", 2), 0);
	assert_int_equal(fault_run("b:3", 3), 128 + SIGKILL);
	assert_int_equal(fault_run("b:term", 1), 128 + SIGTERM);
	assert_int_equal(fault_run("b:hup", 1), 128 + SIGHUP);
	assert_int_equal(fault_run("b:2:term", 1), 0);
	assert_int_equal(fault_run("b:2:term", 2), 128 + SIGTERM);
	/* a prefix of a point is not that point */
	assert_int_equal(fault_run("", 1), 0);
	assert_int_equal(fault_run("bb", 1), 0);
}

/* dv_run hands the program 0-2 only: fds its caller left open (a bats
 * run's 3-9) are closed, or mmdebstrap's `cat >&11` fails under dash. */
static void test_run_closes_inherited_fds(void **state)
{
	struct dv_error err = { 0 };
	char *argv[] = { "sh", "-c",
			 "[ -e /proc/self/fd/9 ] && exit 3; [ -e /proc/self/fd/1 ] || exit 4; exit 0",
			 NULL };
	int fd, code = -1;

	(void)state;
	fd = open("/dev/null", O_RDONLY); /* inheritable, as a shell's 9< is */
	assert_true(fd >= 0);
	if (fd != 9) {
		assert_int_equal(dup2(fd, 9), 9);
		close(fd);
	}
	assert_int_equal(dv_run(argv, false, &code, &err), 0);
	assert_int_equal(code, 0);
	close(9);
}

/* git's levenshtein() with help.c's weights, and its "did you mean". */
static void test_suggest(void **state)
{
	static const char *const cmds[] = { "init", "up",   "ssh",  "halt",   "status",
					    "ls",   "logs", "help", "images", "image" };
	struct dv_buf b = { 0 };

	(void)state;
	/* a swap costs 0, an addition 1, a substitution 2, a deletion 3 */
	assert_int_equal(dv_levenshtein("stauts", "status", 0, 2, 1, 3), 0);
	assert_int_equal(dv_levenshtein("stat", "status", 0, 2, 1, 3), 2);
	assert_int_equal(dv_levenshtein("lss", "ls", 0, 2, 1, 3), 3);
	assert_int_equal(dv_levenshtein("halr", "halt", 0, 2, 1, 3), 2);
	assert_int_equal(dv_levenshtein("", "up", 0, 2, 1, 3), 2);
	assert_int_equal(dv_levenshtein("up", "", 0, 2, 1, 3), 6);
	dv_suggest("stauts", cmds, 10, &b);
	assert_string_equal(b.s, " (did you mean 'status'?)");
	dv_buf_release(&b);
	/* the start of a command is the best guess; several equal ones are all named */
	dv_suggest("ima", cmds, 10, &b);
	assert_string_equal(b.s, " (did you mean 'images' or 'image'?)");
	dv_buf_release(&b);
	dv_suggest("h", cmds, 10, &b);
	assert_string_equal(b.s, " (did you mean 'halt' or 'help'?)");
	dv_buf_release(&b);
	dv_suggest("lss", cmds, 10, &b);
	assert_string_equal(b.s, " (did you mean 'ls' or 'logs'?)");
	dv_buf_release(&b);
	/* nothing close (git's floor of 7), and no candidates: nothing said */
	dv_suggest("xyzzy", cmds, 10, &b);
	assert_null(b.s);
	dv_suggest("x", cmds, 0, &b);
	assert_null(b.s);
}

/* One size parser: the grammar of 'memory' and DEVENV_MAX_LAYER_SIZE, and
 * no wrap past 2^64 (issue 14: "18014398509481985k" was 1 KiB). */
static void test_size_parse(void **state)
{
	struct dv_error err = { 0 };
	unsigned long long v = 7;

	(void)state;
	assert_int_equal(dv_size_parse("4096", &v, &err), 0);
	assert_true(v == 4096);
	assert_int_equal(dv_size_parse("512k", &v, &err), 0);
	assert_true(v == 512ULL << 10);
	assert_int_equal(dv_size_parse("2G", &v, &err), 0);
	assert_true(v == 2ULL << 30);
	assert_int_equal(dv_size_parse("3t", &v, &err), 0);
	assert_true(v == 3ULL << 40);
	assert_int_equal(dv_size_parse("0", &v, &err), 0);
	assert_true(v == 0);
	assert_int_equal(dv_size_parse("18446744073709551615", &v, &err), 0);
	assert_true(v == 18446744073709551615ULL);
	assert_int_equal(dv_size_parse("16777215t", &v, &err), 0);
	assert_true(v == 16777215ULL << 40);

	v = 7;
	assert_int_equal(dv_size_parse("18014398509481985k", &v, &err), -1);
	assert_int_equal(err.errnum, ERANGE);
	assert_string_equal(err.msg, "size '18014398509481985k' is too large");
	assert_true(v == 7);
	assert_int_equal(dv_size_parse("16777216t", &v, &err), -1);
	assert_int_equal(err.errnum, ERANGE);
	assert_int_equal(dv_size_parse("18446744073709551616", &v, &err), -1);
	assert_int_equal(err.errnum, ERANGE);
	assert_int_equal(dv_size_parse("99999999999999999999999g", &v, &err), -1);
	assert_int_equal(err.errnum, ERANGE);

	static const char *const bad[] = { "",    "k",  "-1",   "+1",   " 1", "1 ",
					   "1kb", "1x", "1.5g", "0x10", "1e3" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(dv_size_parse(bad[i], &v, &err), -1);
		assert_int_equal(err.errnum, EINVAL);
	}
	assert_string_equal(err.msg,
			    "invalid size '1e3': give bytes, or a number with k, m, g or t");
	assert_int_equal(dv_size_parse(NULL, &v, &err), -1);
	assert_true(v == 7);
}

static void test_digest_hex(void **state)
{
	const char *hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char buf[80];

	(void)state;
	snprintf(buf, sizeof(buf), "sha256:%s", hex);
	assert_ptr_equal(dv_digest_hex(buf), buf + 7);
	assert_true(dv_is_sha256_hex(hex));
	assert_null(dv_digest_hex(NULL));
	assert_false(dv_is_sha256_hex(NULL));
	assert_null(dv_digest_hex(hex)); /* no algorithm */
	buf[70] = 0;
	assert_null(dv_digest_hex(buf));               /* 63 digits */
	snprintf(buf, sizeof(buf), "sha256:%sa", hex); /* 65 */
	assert_null(dv_digest_hex(buf));
	snprintf(buf, sizeof(buf), "sha512:%s", hex);
	assert_null(dv_digest_hex(buf));
	snprintf(buf, sizeof(buf), "SHA256:%s", hex);
	assert_null(dv_digest_hex(buf));
	snprintf(buf, sizeof(buf), "sha256:%s", hex);
	buf[7] = 'E'; /* upper case */
	assert_null(dv_digest_hex(buf));
	buf[7] = '/'; /* a path */
	assert_null(dv_digest_hex(buf));
	assert_null(dv_digest_hex("sha256:"));
	assert_false(dv_is_sha256_hex(""));
}

/* The dlopen loader, on libc: every name resolved once, a missing library
 * or function named, a failed init retried, several threads at once. */
struct test_libc {
	size_t (*strlen)(const char *);
	int (*abs)(int);
};
#define TEST_LIBC_FUNCS(X) X(strlen) X(abs)
#define TEST_LIBC_OFFSET(f) DV_DL_OFFSET(struct test_libc, f)
static int test_init_calls, test_init_fail;

static int test_libc_init(void *table, struct dv_error *err)
{
	struct test_libc *t = table;

	test_init_calls++;
	if (test_init_fail)
		return dv_err(err, 0, "cannot initialise %zu", t->strlen("libc"));
	return 0;
}

static struct test_libc test_libc_table;
static const char test_libc_names[] = TEST_LIBC_FUNCS(DV_DL_NAME);
static const unsigned short test_libc_offsets[] = { TEST_LIBC_FUNCS(TEST_LIBC_OFFSET) };
static struct dv_dl test_libc_dl =
	DV_DL_INIT("libc.so.6", test_libc_names, test_libc_offsets, &test_libc_table, NULL);

static void *load_libc(void *arg)
{
	struct dv_error err = { 0 };

	(void)arg;
	if (dv_dl_load(&test_libc_dl, &err) < 0 || test_libc_table.strlen("four") != 4)
		return (void *)1;
	return NULL;
}

static void test_dl_load(void **state)
{
	static const char missing[] = "strlen\0dv_no_such_function\0";
	static const unsigned short missing_offsets[] = { 0, 0 };
	static struct test_libc t2;
	struct dv_dl nolib =
		DV_DL_INIT("libdevenv-no-such.so.1", test_libc_names, test_libc_offsets, &t2, NULL);
	struct dv_dl nosym = DV_DL_INIT("libc.so.6", missing, missing_offsets, &t2, NULL);
	struct dv_dl init =
		DV_DL_INIT("libc.so.6", test_libc_names, test_libc_offsets, &t2, test_libc_init);
	struct dv_error err = { 0 };
	pthread_t th[4];
	void *res;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, load_libc, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &res), 0);
		assert_null(res);
	}
	assert_int_equal(test_libc_table.abs(-3), 3);

	assert_int_equal(dv_dl_load(&nolib, &err), -1);
	assert_true(dv_str_startswith(err.msg, "cannot load libdevenv-no-such.so.1: "));
	assert_int_equal(dv_dl_load(&nosym, &err), -1);
	assert_string_equal(err.msg, "cannot load libc.so.6: no symbol 'dv_no_such_function'");

	test_init_fail = 1;
	assert_int_equal(dv_dl_load(&init, &err), -1);
	assert_string_equal(err.msg, "cannot initialise 4");
	test_init_fail = 0;
	assert_int_equal(dv_dl_load(&init, &err), 0);
	assert_int_equal(dv_dl_load(&init, &err), 0);
	assert_int_equal(test_init_calls, 2); /* once failed, once for good, then cached */
	assert_int_equal(t2.strlen("ab"), 2);
}

/* DV_TEST_SHA_THREADS: the child of test_sha256_first_use_threads, a fresh
 * process whose first hashes run in 8 threads at once. */
static pthread_barrier_t sha_barrier;

static void *sha_thread(void *arg)
{
	char hex[65];

	(void)arg;
	pthread_barrier_wait(&sha_barrier);
	dv_sha256_hex("abc", 3, hex);
	return strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
		       ? (void *)1
		       : NULL;
}

static int sha_threads_main(void)
{
	pthread_t th[8];
	void *res;
	int bad = 0;

	pthread_barrier_init(&sha_barrier, NULL, 8);
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, sha_thread, NULL);
	for (int i = 0; i < 8; i++)
		bad |= pthread_join(th[i], &res) != 0 || res != NULL;
	return bad;
}

/* hash.c's CPU probe was a static set on first use, read and written by
 * pull threads at once: a data race. Run under ThreadSanitizer (which
 * exits 66 on a race), this fails on the old code; every build checks the
 * threads' hashes. */
static void test_sha256_first_use_threads(void **state)
{
	pid_t pid;
	int ws;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("DV_TEST_SHA_THREADS", "1", 1);
		execl("/proc/self/exe", "util_test", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
}

int main(void)
{
	if (getenv("DV_TEST_SHA_THREADS"))
		return sha_threads_main();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_first_use_threads),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_safe_text),
		cmocka_unit_test(test_term_filter),
		cmocka_unit_test(test_term_filter_random),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_subid_find),
		cmocka_unit_test(test_rm_tree_keeps_link_targets),
		cmocka_unit_test(test_open_beneath),
		cmocka_unit_test(test_path_below),
		cmocka_unit_test(test_open_resolved),
		cmocka_unit_test(test_reopen_regular),
		cmocka_unit_test(test_treesum_records),
		cmocka_unit_test(test_treesum_umask),
		cmocka_unit_test(test_rm_tree_stops_at_mount),
		cmocka_unit_test(test_rm_tree_stops_at_bind_mount),
		cmocka_unit_test(test_fault_point),
		cmocka_unit_test(test_run_closes_inherited_fds),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_digest_hex),
		cmocka_unit_test(test_dl_load),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
