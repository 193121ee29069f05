/* registry/curl.c - libcurl through dlopen(), loaded on first use.
 *
 * Only what talks HTTP (pulls, pushes, logins, `download` steps) pays the
 * 7 ms it costs a process to link libcurl (DESIGN.md "Start-up cost"): the
 * table of curl.h, filled by util/dl.h's loader. */
#include "curl.h"
#include "util/dl.h"
#include "util/banned.h"

#define REG_CURL_OFFSET(f) DV_DL_OFFSET(struct reg_curl, f)
static const char curl_names[] = REG_CURL_FUNCS(DV_DL_NAME);
static const unsigned short curl_offsets[] = { REG_CURL_FUNCS(REG_CURL_OFFSET) };
#undef REG_CURL_SYM
static struct reg_curl curl;
static struct dv_dl curl_dl = DV_DL_INIT("libcurl.so.4", curl_names, curl_offsets, &curl, NULL);

const struct reg_curl *reg_curl_load(struct dv_error *err)
{
	return dv_dl_load(&curl_dl, err) < 0 ? NULL : &curl;
}
