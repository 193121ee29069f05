/* registry/blob.c - blobs of a repository: GET (hashed while it streams
 * and refused when it is not what its digest says; resumed when cut),
 * HEAD, and uploads: a cross-repository mount, else one PUT, else for a
 * blob larger than one chunk (DEVENV_PUSH_CHUNK_SIZE, default 32 MiB) a
 * chunked upload: PATCHes of Content-Range start-end, each to the Location
 * the previous answer gave, then a PUT with the digest; a failed chunk is
 * retried like any request, and a 416 (the session lost track of what it
 * has) starts a new session. Our credentials go to an upload location
 * only on the registry's own scheme and host. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/banned.h"

/* The blob s received is the one asked for (hex), or one line saying not. */
static int blob_digest_check(const struct reg *r, struct reg_sink *s, const char *hex,
			     struct dv_error *err)
{
	char got[DV_SHA256_HEX];

	dv_sha256_final_hex(&s->sha, got);
	if (!strcmp(got, hex))
		return 0;
	return dv_err_plain(err, EBADMSG,
			    "digest mismatch: registry '%s' sent sha256:%.12s... for blob "
			    "sha256:%.12s... of '%s'",
			    r->host, got, hex, r->name);
}

int reg_blob(struct reg *r, const char *hex, unsigned long long max, int fd, char **body,
	     size_t *len, struct dv_error *err)
{
	dv_autofree char *what = NULL;
	struct reg_sink s = { .c = r->c, .fd = fd, .max = max };
	int ret = -1;

	if (!dv_is_sha256_hex(hex))
		return dv_err(err, EINVAL, "invalid blob digest 'sha256:%s'", hex);
	what = dv_xasprintf("blobs/sha256:%s", hex);
	if (reg_get(r, what, NULL, &s, "blob", err) < 0)
		goto out;
	if (blob_digest_check(r, &s, hex, err) < 0)
		goto out;
	if (fd < 0) {
		dv_buf_add(&s.mem, "", 0);
		*len = s.mem.len;
		*body = dv_buf_steal(&s.mem);
	} else if (len) {
		*len = (size_t)s.n;
	}
	ret = 0;
out:
	reg_sink_release(&s);
	return ret;
}

int reg_blob_stream(struct reg *r, const char *hex, unsigned long long size, int fd,
		    const char *desc, reg_progress_fn progress, void *progress_data,
		    struct dv_error *err)
{
	dv_autofree char *what = NULL;
	struct reg_sink s = { .c = r->c,
			      .fd = fd,
			      .max = size,
			      .resume = true,
			      .range_start = -1,
			      .progress = progress,
			      .progress_data = progress_data };
	int ret = -1;

	if (!dv_is_sha256_hex(hex))
		return dv_err(err, EINVAL, "invalid blob digest 'sha256:%s'", hex);
	dv_sha256_init(&s.sha);
	what = dv_xasprintf("blobs/sha256:%s", hex);
	if (reg_get(r, what, NULL, &s, "blob", err) < 0) {
		if (s.n && err->errnum == EIO) {
			struct dv_error cause = *err;
			char total[32] = "?";

			if (size != ~0ULL)
				snprintf(total, sizeof(total), "%llu", size);
			dv_err_plain(err, EIO,
				     "download of %s sha256:%.12s... of '%s' was cut at %llu of %s "
				     "bytes and could not be resumed: %s",
				     desc, hex, r->name, s.n, total, cause.msg);
		}
		goto out;
	}
	if (blob_digest_check(r, &s, hex, err) < 0)
		goto out;
	ret = 0;
out:
	reg_sink_release(&s);
	return ret;
}

int reg_blob_exists(struct reg *r, const char *hex, bool *out, struct dv_error *err)
{
	dv_autofree char *url = NULL;
	struct reg_sink s = { .c = r->c, .fd = -1, .max = REG_ERRBODY_MAX };
	struct reg_req q = { .method = "HEAD" };
	long status;
	int ret = -1;

	if (!dv_is_sha256_hex(hex))
		return dv_err(err, EINVAL, "invalid blob digest 'sha256:%s'", hex);
	url = dv_xasprintf("%s/blobs/sha256:%s", r->base, hex);
	q.url = url;
	if (reg_do(r, &q, &s, &status, err) < 0)
		goto out;
	if (status == 200 || status == 404) {
		*out = status == 200;
		ret = 0;
	} else {
		reg_status_err(r, status, &s, "blob", err);
	}
out:
	reg_sink_release(&s);
	return ret;
}

/* An upload session's Location as a URL: relative ones are the registry's;
 * an absolute one elsewhere (a storage service) gets no credentials of
 * ours (*no_auth). NULL for anything but http(s), or http where we may not. */
static char *location_url(const struct reg *r, const char *loc, bool *no_auth)
{
	size_t on = strlen(r->origin);

	*no_auth = false;
	if (loc[0] == '/')
		return dv_xasprintf("%s%s", r->origin, loc);
	if (!strncmp(loc, r->origin, on) && (loc[on] == '/' || loc[on] == '?'))
		return dv_xstrdup(loc);
	*no_auth = true;
	if (dv_str_startswith(loc, "https://") || (r->insecure && dv_str_startswith(loc, "http://")))
		return dv_xstrdup(loc);
	return NULL;
}

/* POST blobs/uploads/ (a cross-repository mount when r->from is set): 201
 * is a finished mount (*mounted); 202 starts a session at *location, whose
 * chunks must be at least *chunk_min bytes (0: any). */
static int start_upload(struct reg *r, const char *hex, bool *mounted, char **location,
			bool *no_auth, unsigned long long *chunk_min, struct dv_error *err)
{
	dv_autofree char *url = NULL, *efrom = NULL;
	struct reg_sink s = { .c = r->c, .fd = -1, .max = REG_ERRBODY_MAX };
	struct reg_req q = { .method = "POST" };
	long status;
	int ret = -1;

	if (r->from && reg_url_escape(r->c, r->from, &efrom) < 0)
		return dv_err(err, ENOMEM, "cannot build the upload request");
	if (efrom)
		url = dv_xasprintf("%s/blobs/uploads/?mount=sha256:%s&from=%s", r->base, hex, efrom);
	else
		url = dv_xasprintf("%s/blobs/uploads/", r->base);
	q.url = url;
	*mounted = false;
	if (reg_do(r, &q, &s, &status, err) < 0)
		goto out;
	if (status == 201 && efrom) {
		*mounted = true;
		ret = 0;
	} else if (status == 202 && s.location && s.location[0]) {
		*chunk_min = s.chunk_min;
		if (!(*location = location_url(r, s.location, no_auth)))
			dv_err_plain(err, EPROTO,
				     "registry '%s' gave an unusable upload location '%s'", r->host,
				     s.location);
		else
			ret = 0;
	} else if (status == 202) {
		dv_err_plain(err, EPROTO, "registry '%s' started an upload without a location",
			     r->host);
	} else {
		reg_status_err(r, status, &s, "upload", err);
	}
out:
	reg_sink_release(&s);
	return ret;
}

/* PUT the whole blob to an upload session (a monolithic upload). */
static int finish_upload(struct reg *r, const char *location, bool no_auth, const char *hex,
			 struct reg_upload *up, struct dv_error *err)
{
	dv_autofree char *url = dv_xasprintf("%s%sdigest=sha256%%3A%s", location,
					     strchr(location, '?') ? "&" : "?", hex);

	return reg_put(r, url, "application/octet-stream", up, no_auth, 204, "upload of blob", err);
}

/* Does an error body say the upload session is gone or holds something
 * else than we think ({"errors":[{"code":"BLOB_UPLOAD_INVALID"}]})?
 * docker-registry answers so, with a 404, to a chunk sent again after it
 * kept part of its first try. */
static bool upload_lost(const struct dv_buf *body)
{
	layer_autojson struct json_object *o = NULL;
	struct json_object *errs, *code;
	const char *c;

	if (!body->len || !(o = json_tokener_parse(body->s)) ||
	    !json_object_object_get_ex(o, "errors", &errs) ||
	    !json_object_is_type(errs, json_type_array) || !json_object_array_length(errs) ||
	    !json_object_object_get_ex(json_object_array_get_idx(errs, 0), "code", &code) ||
	    !(c = json_object_get_string(code)))
		return false;
	return !strcmp(c, "BLOB_UPLOAD_INVALID") || !strcmp(c, "BLOB_UPLOAD_UNKNOWN");
}

/* PATCH one chunk of `whole` (n bytes from off) to the session at
 * *location, which moves to the Location of the answer. *status: 202, or
 * 416 when the session has lost track of what it holds (416, or
 * docker-registry's 404 BLOB_UPLOAD_INVALID): the caller starts again. */
static int send_chunk(struct reg *r, char **location, bool *no_auth, const struct reg_upload *whole,
		      unsigned long long off, unsigned long long n, long *status,
		      struct dv_error *err)
{
	struct reg_upload up = { .fd = whole->fd, .mem = whole->mem, .start = off, .len = n };
	struct reg_sink s = { .c = r->c, .fd = -1, .max = REG_ERRBODY_MAX };
	char range[80];
	struct reg_req q = { .method = "PATCH",
			     .url = *location,
			     .ctype = "application/octet-stream",
			     .range = range,
			     .up = &up,
			     .no_auth = *no_auth };
	char *next;
	int ret = -1;

	snprintf(range, sizeof(range), "Content-Range: %llu-%llu", off, off + n - 1);
	if (reg_do(r, &q, &s, status, err) < 0)
		goto out;
	if (*status == 416 || (*status == 404 && upload_lost(&s.errbody))) {
		*status = 416;
		ret = 0;
	} else if (*status != 202) {
		reg_status_err(r, *status, &s, "upload of blob", err);
	} else if (!s.location || !s.location[0]) {
		dv_err_plain(err, EPROTO,
			     "registry '%s' took a chunk without saying where to go on", r->host);
	} else if (!(next = location_url(r, s.location, no_auth))) {
		dv_err_plain(err, EPROTO, "registry '%s' gave an unusable upload location '%s'",
			     r->host, s.location);
	} else {
		free(*location);
		*location = next;
		ret = 0;
	}
out:
	reg_sink_release(&s);
	return ret;
}

/* Send whole in chunks of r->chunk bytes (or the session's minimum, when
 * larger) to the session at *location, then PUT ?digest= with no body.
 * A 416 says the session holds something else than we sent (a chunk
 * retried after the registry kept part of it): once, the upload begins
 * again from byte 0 in a new session. *how as reg_blob_push's. */
static int chunked_upload(struct reg *r, const char *hex, char **location, bool *no_auth,
			  unsigned long long chunk_min, const struct reg_upload *whole,
			  const char **how, struct dv_error *err)
{
	struct reg_upload none = { .fd = -1, .mem = "", .len = 0 };
	unsigned long long off = 0, chunk;
	bool restarted = false, mounted;
	long status;

	for (;;) {
		chunk = r->chunk > chunk_min ? r->chunk : chunk_min;
		for (off = 0; off < whole->len; off += chunk) {
			unsigned long long n = whole->len - off < chunk ? whole->len - off : chunk;

			if (send_chunk(r, location, no_auth, whole, off, n, &status, err) < 0)
				return -1;
			if (status == 416)
				break;
		}
		if (off >= whole->len)
			break;
		if (restarted)
			return dv_err_plain(err, EIO,
					    "registry '%s' lost track of the upload of blob "
					    "sha256:%.12s... twice (at bytes %llu-%llu)",
					    r->host, hex, off, off + chunk - 1);
		restarted = true;
		free(*location);
		*location = NULL;
		if (start_upload(r, hex, &mounted, location, no_auth, &chunk_min, err) < 0)
			return -1;
		if (mounted) {
			*how = "mounted";
			return 0;
		}
	}
	if (finish_upload(r, *location, *no_auth, hex, &none, err) < 0)
		return -1;
	*how = "pushed";
	return 0;
}

int reg_blob_push(struct reg *r, const char *hex, int fd, const char *mem, unsigned long long len,
		  const char **how, struct dv_error *err)
{
	struct reg_upload up = { .fd = fd, .mem = mem, .len = len };
	dv_autofree char *location = NULL;
	unsigned long long chunk_min = 0;
	bool exists, mounted, no_auth;

	if (reg_blob_exists(r, hex, &exists, err) < 0)
		return -1;
	if (exists) {
		*how = "exists";
		return 0;
	}
	if (fd < 0 && !mem && !r->from) {
		*how = NULL; /* no mount to try: open no session we would leave */
		return 0;
	}
	if (start_upload(r, hex, &mounted, &location, &no_auth, &chunk_min, err) < 0)
		return -1;
	if (mounted) {
		*how = "mounted";
		return 0;
	}
	if (fd < 0 && !mem) {
		*how = NULL; /* the caller has no bytes at hand yet */
		return 0;
	}
	/* Small blobs in one PUT: a chunked upload costs a round trip more. */
	if (r->chunk && len > r->chunk)
		return chunked_upload(r, hex, &location, &no_auth, chunk_min, &up, how, err);
	if (finish_upload(r, location, no_auth, hex, &up, err) < 0)
		return -1;
	*how = "pushed";
	return 0;
}

int reg_blob_stream_send(struct reg *r, int fd, struct reg_grow *grow, char **location,
			 bool *no_auth, struct dv_error *err)
{
	struct reg_upload up = { .fd = fd, .grow = grow };
	struct reg_sink s = { .c = r->c, .fd = -1, .max = REG_ERRBODY_MAX };
	struct reg_req q = { .method = "PATCH", .ctype = "application/octet-stream", .up = &up };
	unsigned long long chunk_min = 0;
	char *from = r->from, *next;
	bool mounted;
	long status;
	int ret;

	/* No digest yet: no mount to ask for. */
	r->from = NULL;
	ret = start_upload(r, "", &mounted, location, no_auth, &chunk_min, err);
	r->from = from;
	if (ret < 0)
		return -1;
	ret = -1;
	/* A session that wants chunks of a size of its own gets them. */
	if (chunk_min)
		return dv_err_plain(err, EPROTO, "registry '%s' wants chunks of %llu bytes",
				    r->host, chunk_min);
	q.url = *location;
	q.no_auth = *no_auth;
	if (reg_do(r, &q, &s, &status, err) < 0)
		goto out;
	if (status != 202) {
		reg_status_err(r, status, &s, "streamed upload of a blob", err);
	} else if (!s.location || !s.location[0] || !(next = location_url(r, s.location, no_auth))) {
		dv_err_plain(err, EPROTO,
			     "registry '%s' took a stream without saying where to go on", r->host);
	} else {
		free(*location);
		*location = next;
		ret = 0;
	}
out:
	reg_sink_release(&s);
	return ret;
}

int reg_blob_stream_finish(struct reg *r, const char *location, bool no_auth, const char *hex,
			   struct dv_error *err)
{
	struct reg_upload none = { .fd = -1, .mem = "", .len = 0 };

	return finish_upload(r, location, no_auth, hex, &none, err);
}
