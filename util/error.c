/* util/error.c - filling and printing struct dv_error. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "str.h"

/* A message often quotes what came from outside (a registry's words, a
 * layer's entry name, a path): whatever it quotes, the line devenv prints
 * has no control character a terminal would act on. */
static void make_safe(char *msg, size_t size)
{
	char raw[sizeof(((struct dv_error *)0)->msg)];

	snprintf(raw, sizeof(raw), "%s", msg);
	dv_str_safe(msg, size, raw);
}

/* A new message replaces the whole error: a position an earlier
 * dv_err_at() left would print beside words it does not belong to, and
 * its status 2 (bad input) would become the exit status of a failure that
 * is not one. A status a caller chose (ssh's 125) stays. dv_err_at() and
 * dv_err_usage() set theirs after this. */
static void vset(struct dv_error *err, int errnum, const char *fmt, va_list ap)
{
	size_t n;

	err->file[0] = 0;
	err->line = err->col = 0;
	if (err->status == 2)
		err->status = 0;
	err->errnum = errnum;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	n = strlen(err->msg);
	if (errnum && n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	make_safe(err->msg, sizeof(err->msg));
}

int dv_err(struct dv_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int dv_err_plain(struct dv_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, 0, fmt, ap);
	va_end(ap);
	err->errnum = errnum;
	return -1;
}

int dv_err_usage(struct dv_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, 0, fmt, ap);
	va_end(ap);
	err->status = 2;
	return -1;
}

int dv_err_at(struct dv_error *err, const char *file, unsigned line, unsigned col, const char *fmt,
	      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, 0, fmt, ap);
	va_end(ap);
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	make_safe(err->file, sizeof(err->file));
	err->line = line;
	err->col = col;
	err->status = 2;
	return -1;
}

int dv_err_prefix(struct dv_error *err, const char *fmt, ...)
{
	char ctx[256], old[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* ctx, ": ", then as much of the old message as fits */
	size_t n = strlen(ctx), m = strlen(old);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, ctx, n);
	memcpy(err->msg + n, ": ", 2);
	if (m > sizeof(err->msg) - n - 3)
		m = sizeof(err->msg) - n - 3;
	memcpy(err->msg + n + 2, old, m);
	err->msg[n + 2 + m] = 0;
	make_safe(err->msg, sizeof(err->msg));
	return -1;
}

void dv_err_print(const struct dv_error *err)
{
	/* Safe already when set through dv_err*(); not so when a child sent
	 * the struct through a pipe. An escape is at most 6 bytes for 1. */
	char file[sizeof(err->file) * 6], msg[sizeof(err->msg) * 6];

	dv_str_safe(file, sizeof(file), err->file);
	dv_str_safe(msg, sizeof(msg), err->msg);
	if (file[0] && err->line)
		fprintf(stderr, "devenv: %s:%u:%u: %s\n", file, err->line, err->col, msg);
	else if (file[0])
		fprintf(stderr, "devenv: %s: %s\n", file, msg);
	else
		fprintf(stderr, "devenv: %s\n", msg[0] ? msg : "unknown error");
}
