/* registry/curl.c - libcurl through dlopen(), loaded on first use.
 *
 * Only pulls talk to registries, so no other command pays the 7 ms it costs
 * a process to link libcurl (DESIGN.md "Start-up cost"). Same pattern as
 * layers/archive.c: compile against the header, resolve each function we call. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "internal.h"
#include "util/banned.h"

const struct reg_curl *reg_curl_load(struct dv_error *err)
{
	/* Function-local cache: every load gives the same answer (STYLE.md 7). */
	static struct reg_curl c;
	static bool loaded;
	struct reg_curl tmp;
	void *h;

	if (loaded)
		return &c;
	h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		dv_err(err, 0, "cannot load libcurl.so.4: %s", dlerror());
		return NULL;
	}
#define REG_CURL_SYM(f)                                                                          \
	tmp.f = (__typeof__(f) *)dlsym(h, #f);                                                     \
	if (!tmp.f) {                                                                              \
		dv_err(err, 0, "cannot load libcurl.so.4: no symbol '%s'", #f);                    \
		dlclose(h);                                                                        \
		return NULL;                                                                       \
	}
	REG_CURL_FUNCS(REG_CURL_SYM)
#undef REG_CURL_SYM
	c = tmp;
	loaded = true; /* the handle stays open for the life of the process */
	return &c;
}
