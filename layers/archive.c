/* layers/archive.c - libarchive through dlopen(), loaded on first use.
 *
 * Only import and export need libarchive, so the hot commands never pay for
 * loading it (DESIGN.md "Start-up cost"). We compile against its header and
 * resolve each function we call into one table, as systemd does. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"
#include "util/banned.h"

const struct layer_ar *layer_ar_load(struct dv_error *err)
{
	/* Function-local cache: every load gives the same answer (STYLE.md 7). */
	static struct layer_ar ar;
	static bool loaded;
	struct layer_ar tmp;
	void *h;

	if (loaded)
		return &ar;
	h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		dv_err(err, 0, "cannot load libarchive.so.13: %s", dlerror());
		return NULL;
	}
#define LAYER_AR_SYM(f)                                                                            \
	tmp.f = (__typeof__(f) *)dlsym(h, #f);                                                     \
	if (!tmp.f) {                                                                              \
		dv_err(err, 0, "cannot load libarchive.so.13: no symbol '%s'", #f);                \
		dlclose(h);                                                                        \
		return NULL;                                                                       \
	}
	LAYER_AR_FUNCS(LAYER_AR_SYM)
#undef LAYER_AR_SYM
	ar = tmp;
	loaded = true; /* the handle stays open for the life of the process */
	return &ar;
}

int layer_ar_err(const struct layer_ar *ar, struct archive *a, const char *msg,
		 struct dv_error *err)
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
