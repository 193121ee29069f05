/*
 * util/error.h - the one error type every module reports through.
 *
 * A failing function fills the caller's struct dv_error and returns -1 (or
 * NULL); success leaves it untouched. Context is added on the way up with
 * dv_err_prefix(); only devenv.c prints it, once, with dv_err_print().
 * The buffers are fixed so the failure path never allocates.
 */
#ifndef DV_ERROR_H
#define DV_ERROR_H

struct dv_error {
	int errnum;         /* errno of the failed call; 0 when none */
	unsigned line, col; /* 1-based position in `file`; 0 when none */
	char file[256];     /* "Envfile", "layers/4f2a/layer.json", or "" */
	char msg[512];
	int status; /* exit status wanted by the caller: 0 = default (1) */
};

#define DV_FMT(a, b) __attribute__((format(printf, a, b)))

/* Set a message (with ": strerror(errnum)" appended when errnum != 0). */
int dv_err(struct dv_error *err, int errnum, const char *fmt, ...) DV_FMT(3, 4);
/* Like dv_err(), but the message is complete as given: errnum is recorded
 * for callers to branch on, and no strerror text is appended. */
int dv_err_plain(struct dv_error *err, int errnum, const char *fmt, ...) DV_FMT(3, 4);
/* Set a message that points at file:line:col; exit status 2 (bad input). */
int dv_err_at(struct dv_error *err, const char *file, unsigned line, unsigned col, const char *fmt,
	      ...) DV_FMT(5, 6);
/* Prepend "context: " to the existing message. */
int dv_err_prefix(struct dv_error *err, const char *fmt, ...) DV_FMT(2, 3);
/* Mark the error as a usage/input error (exit status 2). */
int dv_err_usage(struct dv_error *err, const char *fmt, ...) DV_FMT(2, 3);
/* Write "devenv: [file:line:col: ]msg\n" to stderr. */
void dv_err_print(const struct dv_error *err);
/* Is the error set at all? */
static inline int dv_err_isset(const struct dv_error *err)
{
	return err->msg[0] != 0;
}

/* A broken invariant: prints "devenv: BUG at file:line: ..." and aborts (bug.c). */
#define DV_BUG(...) dv_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void dv_bug(const char *file, int line, const char *fmt, ...) DV_FMT(3, 4);

#endif
