/* util/parse.c - sizes and digests from outside (util/parse.h). */
#include <errno.h>
#include <stdint.h>

#include "parse.h"
#include "str.h"
#include "util/banned.h"

int dv_size_parse(const char *s, unsigned long long *out, struct dv_error *err)
{
	unsigned long long v = 0;
	unsigned shift = 0;
	const char *p = s;

	if (!p || *p < '0' || *p > '9')
		return dv_err_plain(err, EINVAL,
				    "invalid size '%s': give bytes, or a number "
				    "with k, m, g or t",
				    s ? s : "");
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (unsigned)(*p - '0')) / 10)
			return dv_err_plain(err, ERANGE, "size '%s' is too large", s);
		v = v * 10 + (unsigned)(*p - '0');
	}
	switch (*p) {
	case 0:
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		shift = 64;
		break;
	}
	if (shift == 64 || (*p && p[1]))
		return dv_err_plain(err, EINVAL,
				    "invalid size '%s': give bytes, or a number "
				    "with k, m, g or t",
				    s);
	/* A shift past the top bit wraps silently ("18014398509481985k" is
	 * 2^64 + 1024: 1 KiB): check before shifting. */
	if (shift && v > (UINT64_MAX >> shift))
		return dv_err_plain(err, ERANGE, "size '%s' is too large", s);
	*out = v << shift;
	return 0;
}

bool dv_is_sha256_hex(const char *s)
{
	return s && dv_str_is_hex(s, 64);
}

const char *dv_digest_hex(const char *s)
{
	return s && dv_str_startswith(s, "sha256:") && dv_is_sha256_hex(s + 7) ? s + 7 : NULL;
}
