/*
 * templates/templates.h - the Envfile templates `devenv init` writes, and
 * the guess of which one fits a checkout.
 *
 * tmpl_detect() on the folder init runs in, tmpl_find() for --template,
 * then tmpl_render() for the text to write. The templates are embedded
 * (templates.S). A template line that starts "@FILE" copies FILE of the
 * checkout: it is kept when FILE is a regular file in the folder and
 * commented out otherwise, since a `copy` of a missing file is an Envfile
 * error. "@?FILE" marks an optional file (a lock file): commented out
 * without a word when missing.
 */
#ifndef DV_TEMPLATES_H
#define DV_TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/str.h"

/* What a template's steps fetch over the network: always (file NULL), or
 * only when the checkout has file (its steps are commented out without). */
struct tmpl_need {
	const char *what; /* "PyPI" */
	const char *how;  /* "pip install" */
	const char *file;
};

struct tmpl {
	const char *name;
	const char *summary; /* one line for `init --list` */
	const char *text;    /* embedded, NUL-terminated */
	struct tmpl_need needs[4];
};

/* Every template, in detection priority order after "default" (first). */
const struct tmpl *tmpl_all(size_t *n);

/* The template called name, or NULL. */
const struct tmpl *tmpl_find(const char *name);

/* What t's steps need from the network in the folder dirfd, or whatever
 * the folder holds when dirfd is -1: "the Debian mirror (apt-get), PyPI
 * (pip install)", or without how: "the Debian mirror, PyPI". The caller
 * frees it. */
char *tmpl_needs(const struct tmpl *t, int dirfd, bool how);

/* "default, python, ..." for messages; the caller frees it. */
char *tmpl_names(void);

struct tmpl_match {
	const struct tmpl *tmpl;
	char why[160]; /* "found requirements.txt" */
};

/* The stacks the folder dirfd looks like, best first (README "devenv init"
 * gives the order); at most max. 0 means none: use "default". */
size_t tmpl_detect(int dirfd, struct tmpl_match *out, size_t max);

/* The Envfile text of t for the folder dirfd; the caller frees it. The
 * names of the (not optional) files whose steps were commented out go
 * to *missing. */
char *tmpl_render(const struct tmpl *t, int dirfd, struct dv_strv *missing);

#endif
