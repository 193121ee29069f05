/* layers/archive.c - libarchive through dlopen(), loaded on first use.
 *
 * Only import and export need libarchive, so the hot commands never pay for
 * loading it (DESIGN.md "Start-up cost"). We compile against its header and
 * resolve each function we call into one table, as systemd does. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

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
