/*
 * util/parse.h - small values that come from outside: sizes ("512m") and
 * OCI digests ("sha256:<hex>"). One parser each, so every caller refuses
 * the same inputs (an overflow, a digest that would become a path).
 */
#ifndef DV_PARSE_H
#define DV_PARSE_H

#include <stdbool.h>

#include "error.h"

/* A size in bytes: decimal digits, then at most one of k, m, g, t (either
 * case; powers of 1024) and nothing else: "4096", "512k", "2G". 0 with *out
 * set; -1 with err filled and *out untouched: errnum EINVAL when s is not
 * such a size (empty, a sign, a space, another suffix), ERANGE when it is
 * more than 2^64 - 1 bytes. Callers that word their own message read
 * err->errnum. */
int dv_size_parse(const char *s, unsigned long long *out, struct dv_error *err);

/* An OCI digest as devenv accepts one: "sha256:" and 64 lower-case hex
 * digits, nothing else (no other algorithm, no upper case; CVE-2024-3727:
 * the hex becomes a path and a URL). The hex (s + 7) when s is one, NULL
 * when not or when s is NULL. */
const char *dv_digest_hex(const char *s);

/* Is s a SHA-256 in hex (64 lower-case hex digits, nothing else; a layer
 * id, a download's 'sha256')? False for NULL. */
bool dv_is_sha256_hex(const char *s);

#endif
