/*
 * registry/curl.h - libcurl, loaded with dlopen() on first use (curl.c),
 * for the registry client and for provision/fetch.c's `download` steps.
 *
 * Only what talks HTTP pays the 7 ms it costs a process to link libcurl
 * (DESIGN.md "Start-up cost"): callers compile against the header
 * and call through the table.
 */
#ifndef REGISTRY_CURL_H
#define REGISTRY_CURL_H

/* Plain prototypes: the type-checking macros would expand our table's
 * calls (c->curl_easy_setopt(...)) into nonsense. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "util/error.h"

/* One pointer per function we call, typed from its own declaration. */
/* clang-format off */
#define REG_CURL_FUNCS(X) \
	X(curl_easy_init) \
	X(curl_easy_setopt) \
	X(curl_easy_perform) \
	X(curl_easy_getinfo) \
	X(curl_easy_cleanup) \
	X(curl_easy_strerror) \
	X(curl_easy_escape) \
	X(curl_free) \
	X(curl_slist_append) \
	X(curl_slist_free_all)
/* clang-format on */

#define REG_CURL_FIELD(f) __typeof__(f) *f;
struct reg_curl {
	REG_CURL_FUNCS(REG_CURL_FIELD)
};
#undef REG_CURL_FIELD

/* The table, loaded once; NULL with `cannot load libcurl.so.4: ...`. */
const struct reg_curl *reg_curl_load(struct dv_error *err);

#endif
