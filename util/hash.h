/*
 * util/hash.h - SHA-256, for content addresses and cache keys.
 *
 * dv_sha256_init(), then _update() any number of times, then _final().
 * Hex digests are 64 lower-case characters plus NUL.
 */
#ifndef DV_HASH_H
#define DV_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define DV_SHA256_HEX 65

struct dv_sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t used;
};

void dv_sha256_init(struct dv_sha256 *c);
void dv_sha256_update(struct dv_sha256 *c, const void *data, size_t n);
void dv_sha256_final(struct dv_sha256 *c, unsigned char out[32]);
void dv_sha256_final_hex(struct dv_sha256 *c, char out[DV_SHA256_HEX]);
void dv_sha256_hex(const void *data, size_t n, char out[DV_SHA256_HEX]);
/* Hash the whole content of fd from its current offset. */
int dv_sha256_fd(int fd, char out[DV_SHA256_HEX], struct dv_error *err);

#endif
