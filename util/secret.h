/*
 * util/secret.h - a secret's bytes masked in a stream of output, and
 * looked for in a tree of files (a layer, an env's upper).
 *
 * Both stream: the masker holds back at most the longest secret's length
 * less one byte (a secret split across two reads is still masked), the
 * scanner keeps as much of each read for the next one.
 */
#ifndef DV_SECRET_H
#define DV_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "str.h"

/* One secret's value (not NUL-terminated; never empty). */
struct dv_secret {
	const char *name; /* for messages: "secret 'npm_token'" */
	const char *data;
	size_t len;
};

/* What devenv shows instead of a secret. */
#define DV_SECRET_MASK "****"

/* A stream's masker. Order: dv_mask_init(), dv_mask_feed() per chunk,
 * dv_mask_end() at EOF (what is still held), dv_mask_release(). */
struct dv_mask {
	const struct dv_secret *v;
	size_t n, max;
	char *held; /* fewer than max bytes that may start a secret */
	size_t n_held;
};
void dv_mask_init(struct dv_mask *m, const struct dv_secret *v, size_t n);
/* in masked, appended to out; a tail that may begin a secret is held. */
void dv_mask_feed(struct dv_mask *m, const char *in, size_t n, struct dv_buf *out);
void dv_mask_end(struct dv_mask *m, struct dv_buf *out);
void dv_mask_release(struct dv_mask *m);

/* Look for every secret's bytes in the tree below dirfd: file contents,
 * symlink targets and names; never follows a symlink nor leaves the mount
 * (a file system mounted below is not part of a layer). 1 when one is
 * found: *path (caller frees) the entry's path below dirfd, *which the
 * secret; 0 when none is; -1 with err. */
int dv_secret_scan_tree(int dirfd, const struct dv_secret *v, size_t n, char **path,
			const struct dv_secret **which, struct dv_error *err);

/* Zero, then free (a value held in memory only). */
void dv_secret_free(char *data, size_t len);

#endif
