/* util/bug.c - DV_BUG(): a broken invariant ends the process (STYLE.md 4).
 *
 * Apart from error.c: the allocators of str.c call it, and error.c calls
 * str.c to make messages safe; together they were a cycle. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "util/banned.h"

void dv_bug(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "devenv: BUG at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
