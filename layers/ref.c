/* layers/ref.c - image names: check, normalise, split.
 *
 * A name is checked completely before any path is built from it (CVE-2024-3727
 * shows what a name that reaches a path unchecked can do). Apart from the
 * records (image.c): the store (store.c) normalises names too, and image.c
 * uses the store; together they were a cycle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "util/banned.h"

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A path component: [a-z0-9]+ joined by '.', '_' or '-' runs, so never
 * "", "." or "..". */
static bool valid_component(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum_lower(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* A registry host: letters, digits, '.', '-', then an optional ":port". */
static bool valid_host(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t hn = colon ? (size_t)(colon - s) : n, i;

	if (!valid_component(s, hn))
		return false;
	for (i = 0; i < hn; i++)
		if (s[i] == '_')
			return false;
	if (colon) {
		if (colon + 1 == s + n)
			return false;
		for (i = hn + 1; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				return false;
	}
	return true;
}

/* OCI tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
static bool valid_tag(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* "NAME[:TAG]@sha256:HEX" -> "host/path@sha256:HEX": the digest names the
 * image exactly, so a tag beside it is dropped (as docker does). */
static int normalize_digest(const char *ref, const char *at, bool for_import, char **out,
			    struct dv_error *err)
{
	dv_autofree char *name = NULL, *norm = NULL, *repo = NULL, *tag = NULL;

	if (!dv_digest_hex(at + 1))
		return dv_err_usage(err,
				    "invalid image name '%s': a digest is 'sha256:' and 64 "
				    "lower-case hex digits",
				    ref);
	name = dv_xstrndup(ref, (size_t)(at - ref));
	if (layer_ref_normalize(name, for_import, &norm, err) < 0 ||
	    layer_name_split(norm, &repo, &tag, err) < 0)
		return -1;
	*out = dv_xasprintf("%s%s", repo, at);
	return 0;
}

bool layer_ref_digest(const char *name, char hex[65])
{
	const char *at = strchr(name, '@');
	const char *h = at ? dv_digest_hex(at + 1) : NULL;

	if (!h)
		return false;
	if (hex)
		snprintf(hex, 65, "%s", h);
	return true;
}

bool layer_ref_has_host(const char *ref)
{
	const char *slash = strchr(ref, '/');
	size_t hn;

	if (!slash)
		return false;
	hn = (size_t)(slash - ref);
	return memchr(ref, '.', hn) || memchr(ref, ':', hn) ||
	       (hn == 9 && !memcmp(ref, "localhost", 9));
}

int layer_ref_normalize(const char *ref, bool for_import, char **out, struct dv_error *err)
{
	const char *slash, *colon, *tag = "latest", *p;
	dv_autofree char *repo = NULL;
	size_t rlen, ncomp = 0;
	bool has_host = false;

	if (!ref || !ref[0])
		return dv_err_usage(err, "invalid image name '': it is empty");
	if ((p = strchr(ref, '@')))
		return normalize_digest(ref, p, for_import, out, err);
	slash = strrchr(ref, '/');
	colon = strrchr(ref, ':');
	if (colon && (!slash || colon > slash)) {
		tag = colon + 1;
		rlen = (size_t)(colon - ref);
		if (!valid_tag(tag))
			return dv_err_usage(err,
					    "invalid image name '%s': a tag is 1 to 128 of A-Z a-z "
					    "0-9 _ . - and does not start with . or -",
					    ref);
	} else {
		rlen = strlen(ref);
	}
	if (rlen > 255)
		return dv_err_usage(err, "invalid image name '%s': it is too long", ref);
	/* The first component is a registry host when it looks like one
	 * (has '.' or ':', or is localhost) and more follow, as docker says. */
	slash = memchr(ref, '/', rlen);
	if (slash) {
		size_t hn = (size_t)(slash - ref);

		if (memchr(ref, '.', hn) || memchr(ref, ':', hn) ||
		    (hn == 9 && !memcmp(ref, "localhost", 9))) {
			if (!valid_host(ref, hn))
				return dv_err_usage(err,
						    "invalid image name '%s': bad registry host '%.*s'",
						    ref, (int)hn, ref);
			has_host = true;
		}
	}
	for (p = has_host ? slash + 1 : ref; p <= ref + rlen;) {
		const char *e = memchr(p, '/', (size_t)(ref + rlen - p));
		size_t n;

		if (!e)
			e = ref + rlen;
		n = (size_t)(e - p);
		if (!valid_component(p, n)) {
			size_t i;

			for (i = 0; i < n; i++)
				if (p[i] >= 'A' && p[i] <= 'Z')
					return dv_err_usage(err,
							    "invalid image name '%s': repository "
							    "names must be lower case",
							    ref);
			return dv_err_usage(err,
					    "invalid image name '%s': each part of the repository "
					    "is a-z 0-9 joined by . _ -",
					    ref);
		}
		ncomp++;
		p = e + 1;
	}
	if (has_host)
		repo = dv_xstrndup(ref, rlen);
	else if (for_import)
		repo = dv_xasprintf("localhost/%.*s", (int)rlen, ref);
	else if (ncomp == 1)
		repo = dv_xasprintf("docker.io/library/%.*s", (int)rlen, ref);
	else
		repo = dv_xasprintf("docker.io/%.*s", (int)rlen, ref);
	if (!strncmp(repo, "docker.io/", 10) && !strchr(repo + 10, '/')) {
		char *lib = dv_xasprintf("docker.io/library/%s", repo + 10);

		free(repo);
		repo = lib;
	}
	*out = dv_xasprintf("%s:%s", repo, tag);
	return 0;
}

int layer_name_split(const char *name, char **repo, char **tag, struct dv_error *err)
{
	const char *colon = strrchr(name, ':');
	const char *slash = strrchr(name, '/');
	const char *at = strchr(name, '@');

	/* A digest reference is stored as the "tag" "@sha256:HEX". */
	if (at) {
		if (!slash || slash > at || !layer_ref_digest(name, NULL))
			return dv_err(err, EINVAL, "invalid image name '%s'", name);
		*repo = dv_xstrndup(name, (size_t)(at - name));
		*tag = dv_xstrdup(at);
		return 0;
	}
	if (!colon || !slash || colon < slash)
		return dv_err(err, EINVAL, "invalid image name '%s'", name);
	*repo = dv_xstrndup(name, (size_t)(colon - name));
	*tag = dv_xstrdup(colon + 1);
	return 0;
}
