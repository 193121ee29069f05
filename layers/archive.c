/* layers/archive.c - libarchive through dlopen(), loaded on first use.
 *
 * Only import and export need libarchive, so the hot commands never pay for
 * loading it (DESIGN.md "Start-up cost"). We compile against its header and
 * resolve each function we call into one table (util/dl.h), as systemd does. The
 * sparse writer (layer_sparse_*) keeps the zeros of the tars we write to
 * files as holes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "util/dl.h"
#include "util/fs.h"
#include "util/banned.h"

/* Resolved through util/dl.h on first use; safe from the pull threads. */
#define LAYER_AR_OFFSET(f) DV_DL_OFFSET(struct layer_ar, f)
static const char ar_names[] = LAYER_AR_FUNCS(DV_DL_NAME);
static const unsigned short ar_offsets[] = { LAYER_AR_FUNCS(LAYER_AR_OFFSET) };
#undef LAYER_AR_SYM
static struct layer_ar ar_table;
static struct dv_dl ar_dl = DV_DL_INIT("libarchive.so.13", ar_names, ar_offsets, &ar_table, NULL);

const struct layer_ar *layer_ar_load(struct dv_error *err)
{
	return dv_dl_load(&ar_dl, err) < 0 ? NULL : &ar_table;
}

int layer_ar_err(const struct layer_ar *ar, struct archive *a, const char *msg, struct dv_error *err)
{
	int e = ar->archive_errno(a);

	/* The errno of a failed read or write says it better than libarchive's
	 * "Write error"; its other codes (EILSEQ for a bad format, EINVAL for
	 * misuse, -1) come with words of their own. */
	if (e == ENOSPC || e == EDQUOT || e == EIO || e == EFBIG || e == EROFS || e == EPIPE)
		return dv_err(err, e, "%s", msg);
	return dv_err(err, 0, "%s: %s", msg, ar->archive_error_string(a));
}

int layer_ar_write_fd(const struct layer_ar *ar, struct archive *a, int fd, const char *what,
		      struct dv_error *err)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && ar->archive_write_data(a, buf, (size_t)n) != n) {
			char msg[300];

			snprintf(msg, sizeof(msg), "cannot write '%s'", what);
			return layer_ar_err(ar, a, msg, err);
		}
	return n < 0 ? dv_err(err, errno, "cannot read '%s'", what) : 0;
}

void layer_sparse_open(struct layer_sparse_out *o, int fd)
{
	struct stat sb;

	*o = (struct layer_sparse_out){ .fd = fd };
	o->seekable = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0 &&
		      lseek(fd, 0, SEEK_CUR) == 0;
}

int layer_write_holes(int fd, off_t off, const void *data, size_t n, off_t *end,
		      struct dv_error *err)
{
	static const char zero[4096];
	const char *buf = data;

	while (n > 0) {
		/* the block at off: whole (4 KiB, aligned) or the part of one */
		size_t len = 4096 - (size_t)(off % 4096), run;

		if (len > n)
			len = n;
		if (!memcmp(buf, zero, len)) { /* a hole, or zeros a write would add */
			buf += len;
			off += (off_t)len;
			n -= len;
			continue;
		}
		/* data up to the next whole block of zeros, in one write */
		for (run = len; run < n; run += len) {
			len = n - run < 4096 ? n - run : 4096;
			if (!memcmp(buf + run, zero, len))
				break;
		}
		if (lseek(fd, off, SEEK_SET) < 0)
			return dv_err(err, errno, "lseek");
		if (dv_write_full(fd, buf, run, err) < 0)
			return -1;
		buf += run;
		off += (off_t)run;
		*end = off;
		n -= run;
	}
	return 0;
}

int layer_sparse_write(struct layer_sparse_out *o, const void *data, size_t n)
{
	struct dv_error e = { 0 };

	if (!o->seekable) {
		if (dv_write_full(o->fd, data, n, &e) < 0)
			return errno = o->error = e.errnum ? e.errnum : EIO, -1;
		o->pos += (off_t)n;
		o->end = o->pos;
		return 0;
	}
	if (layer_write_holes(o->fd, o->pos, data, n, &o->end, &e) < 0)
		return errno = o->error = e.errnum ? e.errnum : EIO, -1;
	o->pos += (off_t)n;
	return 0;
}

int layer_sparse_close(struct layer_sparse_out *o)
{
	if (o->seekable && o->end != o->pos && ftruncate(o->fd, o->pos) < 0)
		return o->error = errno, -1;
	o->end = o->pos;
	return 0;
}
