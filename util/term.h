/*
 * util/term.h - an env's output stream made safe for a terminal.
 *
 * What a build step, an on_up step or a service writes is shown by devenv
 * (up, provision, reload, logs). A terminal acts on some of those bytes:
 * OSC 52 writes the clipboard, OSC 0 retitles, ESC c and CSI 2J wipe the
 * screen, CSI A moves up over lines devenv printed, DCS talks to the
 * terminal itself. The filter keeps what build tools print to look right
 * and drops the rest:
 *
 *  - kept: printable ASCII, valid UTF-8, \t \n \r \b, and the CSI sequences
 *    that only colour or move within the line: SGR (ESC [ ... m, ':' sub
 *    parameters too), erase in line (K), cursor forward, back and to a
 *    column (C D G), with decimal parameters only;
 *  - dropped, whole: OSC (ESC ] ... BEL or ST), DCS, SOS, PM and APC strings,
 *    every other CSI and ESC sequence, and a sequence started by a C1
 *    control (U+009B, U+009D...); dropped alone: other C0 controls, DEL, C1
 *    controls and the bidirectional controls (dv_str_cp_unsafe());
 *  - replaced: each byte that is not UTF-8 (a raw 0x9b included) becomes
 *    "\xNN", as dv_buf_add_safe() writes it.
 *
 * Order of calls: a zeroed struct dv_term_filter is a stream at its start;
 * dv_term_filter_feed() for each chunk read, in order (a sequence or a
 * character may be cut between chunks: the state carries over); at the end
 * of the stream dv_term_filter_end(), which gives what is still held and
 * resets the struct. Nothing allocates; the caller gives the room. Output
 * filtered once comes through the filter unchanged.
 */
#ifndef DV_TERM_H
#define DV_TERM_H

#include <stdbool.h>
#include <stddef.h>

/* The longest CSI sequence kept (ESC [ 38;2;R;G;B;48;2;R;G;B m is 40). */
#define DV_TERM_FILTER_HOLD 64
/* Room enough for what feeding n bytes gives: 4 per byte ("\xNN") plus
 * what was held from earlier chunks. dv_term_filter_end() needs
 * DV_TERM_FILTER_OUT(0). */
#define DV_TERM_FILTER_OUT(n) (4 * (size_t)(n) + DV_TERM_FILTER_HOLD)

struct dv_term_filter {
	unsigned char state;
	unsigned char len;                      /* bytes held in seq[] */
	unsigned char need;                     /* UTF-8: continuation bytes still to come */
	bool drop;                              /* the CSI sequence held goes, whatever its end */
	bool colon;                             /* ... has a ':' (SGR only) */
	bool coloured;                          /* an SGR that is not a reset went out last */
	unsigned char seq[DV_TERM_FILTER_HOLD]; /* a CSI sequence or a UTF-8 character */
};

/* Filters in[0..n) into out, which has room for DV_TERM_FILTER_OUT(n)
 * bytes; returns how many were written there. */
size_t dv_term_filter_feed(struct dv_term_filter *f, const char *in, size_t n, char *out);
/* The end of the stream: a character cut short becomes escapes, a sequence
 * cut short is dropped, and when the stream left a colour on, an SGR reset
 * ends it (so devenv's next line is not painted). Returns the bytes written
 * to out (room for DV_TERM_FILTER_OUT(0)); *f is zeroed again. */
size_t dv_term_filter_end(struct dv_term_filter *f, char *out);

#endif
