/* registry/http.c - one request to a registry over libcurl, and its
 * answer: the body of a 2xx into a file or memory, counted, capped and
 * hashed as it streams; the body of an error kept for its message.
 * Transient failures (5xx, 429, a reset connection) are retried with
 * backoff, and a blob download that was cut continues with "Range:" from
 * where it stopped. Only http and https, redirects to http only where
 * plain http is allowed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

#define REG_ATTEMPTS 4

/* A resumable download that got further since its last failure starts its
 * count of attempts again, this many times at most. */
#define REG_RESUMES 64

static void sink_reset(struct reg_sink *s)
{
	s->chunk_min = 0;
	s->too_big = false;
	s->mem.len = 0;
	s->errbody.len = 0;
	free(s->content_type);
	free(s->challenge);
	free(s->location);
	s->content_type = s->challenge = s->location = NULL;
	if (s->resume)
		return; /* what came so far stays: the next request continues it */
	s->n = 0;
	dv_sha256_init(&s->sha);
	if (s->fd >= 0) {
		if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0)
			dv_err(&s->werr, errno, "cannot reset the download file");
	}
}

void reg_sink_release(struct reg_sink *s)
{
	dv_buf_release(&s->mem);
	dv_buf_release(&s->errbody);
	free(s->content_type);
	free(s->challenge);
	free(s->location);
	s->content_type = s->challenge = s->location = NULL;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *data)
{
	struct reg_sink *s = data;
	size_t n = size * nmemb;
	long code = 0;

	s->c->curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 300 && code < 400)
		return n; /* a redirect's own body */
	if (code < 200 || code >= 300) {
		if (s->errbody.len < REG_ERRBODY_MAX)
			dv_buf_add(&s->errbody, p,
				   n < REG_ERRBODY_MAX - s->errbody.len
					   ? n
					   : REG_ERRBODY_MAX - s->errbody.len);
		return n;
	}
	if (s->resume && !s->started) {
		s->started = true;
		if (code == 206 && s->range_start != (long long)s->n) {
			dv_err_plain(&s->werr, EPROTO,
				     "the registry resumed a download at byte %lld, not at %llu",
				     s->range_start, s->n);
			return 0;
		}
		if (code != 206)
			s->skip = s->n; /* the whole blob again */
		else if (s->n)
			s->ranged++;
	}
	if (s->skip) {
		size_t k = s->skip < n ? (size_t)s->skip : n;

		s->skip -= k;
		if (k == n)
			return n;
		return k + on_body(p + k, 1, n - k, data);
	}
	if (n > s->max - s->n) {
		s->too_big = true;
		return 0;
	}
	s->n += n;
	dv_sha256_update(&s->sha, p, n);
	if (s->fd < 0)
		dv_buf_add(&s->mem, p, n);
	else if (dv_write_full(s->fd, p, n, &s->werr) < 0) {
		/* ENOSPC most often: say what could not be written. */
		dv_err(&s->werr, s->werr.errnum, "cannot write the download into the store");
		return 0;
	}
	if (s->progress && !s->progress(s->progress_data, s->n)) {
		dv_err_plain(&s->werr, ECANCELED, "download cancelled");
		return 0;
	}
	return n;
}

/* "Name: value\r\n" -> value, trimmed (caller frees); NULL for other names. */
static char *header_value(const char *p, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(p, name, k) || p[k] != ':')
		return NULL;
	p += k + 1;
	n -= k + 1;
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	return dv_xstrndup(p, n);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *data)
{
	struct reg_sink *s = data;
	size_t n = size * nmemb;
	char *v;

	/* Each response of a redirect chain starts with its status line. */
	if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
		free(s->content_type);
		free(s->challenge);
		free(s->location);
		s->content_type = s->challenge = s->location = NULL;
		s->chunk_min = 0;
		s->started = false;
		s->skip = 0;
		s->range_start = -1;
	} else if (s->resume && (v = header_value(p, n, "content-range"))) {
		/* "bytes FIRST-LAST/TOTAL" */
		if (!strncmp(v, "bytes ", 6) && v[6] >= '0' && v[6] <= '9')
			s->range_start = strtoll(v + 6, NULL, 10);
		free(v);
	} else if ((v = header_value(p, n, "location"))) {
		free(s->location);
		s->location = v;
	} else if ((v = header_value(p, n, "content-type"))) {
		v[strcspn(v, "; ")] = 0;
		free(s->content_type);
		s->content_type = v;
	} else if ((v = header_value(p, n, "www-authenticate"))) {
		free(s->challenge);
		s->challenge = v;
	} else if ((v = header_value(p, n, "oci-chunk-min-length"))) {
		char *end;
		unsigned long long m;

		errno = 0;
		m = strtoull(v, &end, 10);
		if (!errno && end != v && !*end && v[0] != '-')
			s->chunk_min = m;
		free(v);
	}
	return n;
}

void reg_grow_init(struct reg_grow *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->more, NULL);
}

void reg_grow_add(struct reg_grow *g, unsigned long long n)
{
	pthread_mutex_lock(&g->lock);
	g->written += n;
	pthread_cond_broadcast(&g->more);
	pthread_mutex_unlock(&g->lock);
}

void reg_grow_end(struct reg_grow *g, bool ok)
{
	pthread_mutex_lock(&g->lock);
	g->done = ok;
	g->failed = !ok;
	pthread_cond_broadcast(&g->more);
	pthread_mutex_unlock(&g->lock);
}

void reg_grow_destroy(struct reg_grow *g)
{
	pthread_cond_destroy(&g->more);
	pthread_mutex_destroy(&g->lock);
}

/* The next bytes of a file still being written: wait until there are
 * some, or it ends (0: the body's end) or fails (the upload aborts). */
static size_t grow_read(struct reg_upload *u, char *p, size_t n)
{
	struct reg_grow *g = u->grow;
	unsigned long long avail;
	bool failed;
	ssize_t got;

	pthread_mutex_lock(&g->lock);
	while (!g->done && !g->failed && g->written <= u->off)
		pthread_cond_wait(&g->more, &g->lock);
	failed = g->failed;
	avail = g->written > u->off ? g->written - u->off : 0;
	pthread_mutex_unlock(&g->lock);
	if (failed)
		return CURL_READFUNC_ABORT;
	if (!avail)
		return 0;
	if (n > avail)
		n = (size_t)avail;
	do
		got = pread(u->fd, p, n, (off_t)u->off);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return CURL_READFUNC_ABORT;
	u->off += (unsigned long long)got;
	return (size_t)got;
}

size_t reg_upload_read(char *p, size_t size, size_t nmemb, void *data)
{
	struct reg_upload *u = data;
	size_t n = size * nmemb;
	ssize_t got;

	if (u->grow)
		return grow_read(u, p, n);
	if (n > u->len - u->off)
		n = (size_t)(u->len - u->off);
	if (!n)
		return 0;
	if (u->fd < 0) {
		memcpy(p, u->mem + u->start + u->off, n);
		u->off += n;
		return n;
	}
	do
		got = read(u->fd, p, n);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return CURL_READFUNC_ABORT; /* the file shrank under us */
	u->off += (unsigned long long)got;
	return (size_t)got;
}

/* Set up the method and the body of q on h. */
static int req_method(const struct reg_curl *c, CURL *h, const struct reg_req *q,
		      struct dv_error *err)
{
	if (!strcmp(q->method, "HEAD")) {
		c->curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "POST")) {
		c->curl_easy_setopt(h, CURLOPT_POST, 1L);
		c->curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		c->curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (!strcmp(q->method, "PUT") || !strcmp(q->method, "PATCH")) {
		q->up->off = 0;
		if (q->up->fd >= 0 && !q->up->grow &&
		    lseek(q->up->fd, (off_t)q->up->start, SEEK_SET) < 0)
			return dv_err(err, errno, "cannot rewind what is being uploaded");
		c->curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		if (!strcmp(q->method, "PATCH"))
			c->curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
		c->curl_easy_setopt(h, CURLOPT_READFUNCTION, reg_upload_read);
		c->curl_easy_setopt(h, CURLOPT_READDATA, q->up);
		/* A growing file: -1, which libcurl sends in chunked
		 * transfer encoding over HTTP/1.1 (HTTP/2 needs none). */
		c->curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				    q->up->grow ? (curl_off_t)-1 : (curl_off_t)q->up->len);
	} else {
		/* GET. Blobs are often served by a redirect to a CDN; libcurl
		 * does not send our Authorization header to another host. */
		c->curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		c->curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	}
	return 0;
}

/* One request; 0 with *status set whatever the HTTP status, -1 when no
 * response came (*transient says whether trying again may help). */
static int req_once(struct reg *r, const struct reg_req *q, bool with_auth, struct reg_sink *s,
		    long *status, bool *transient, struct dv_error *err)
{
	const struct reg_curl *c = r->c;
	struct curl_slist *hdr = NULL;
	char cerr[CURL_ERROR_SIZE] = "", ctype[256], range[64];
	CURLcode rc;
	CURL *h;

	*transient = false;
	if (!(h = c->curl_easy_init()))
		return dv_err(err, ENOMEM, "cannot start an HTTP request");
	s->h = h;
	if (q->accept)
		hdr = c->curl_slist_append(hdr, q->accept);
	if (with_auth && r->auth && !q->no_auth)
		hdr = c->curl_slist_append(hdr, r->auth);
	if (q->ctype) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", q->ctype);
		hdr = c->curl_slist_append(hdr, ctype);
	}
	if (q->range)
		hdr = c->curl_slist_append(hdr, q->range);
	/* No "Expect: 100-continue" round trip before each upload. */
	hdr = c->curl_slist_append(hdr, "Expect:");
	if (s->resume && s->n) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-", s->n);
		hdr = c->curl_slist_append(hdr, range);
	}
	if (req_method(c, h, q, err) < 0) {
		c->curl_easy_cleanup(h);
		c->curl_slist_free_all(hdr);
		s->h = NULL;
		return -1;
	}
	c->curl_easy_setopt(h, CURLOPT_URL, q->url);
	c->curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	c->curl_easy_setopt(h, CURLOPT_USERAGENT, "devenv/0.1");
	c->curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	c->curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	c->curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	c->curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
	c->curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	c->curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* Never file:// etc., and no downgrade to http unless allowed. */
	c->curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	c->curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
	c->curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	c->curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	c->curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	rc = c->curl_easy_perform(h);
	*status = 0;
	c->curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	c->curl_easy_cleanup(h);
	c->curl_slist_free_all(hdr);
	s->h = NULL;
	if (dv_err_isset(&s->werr)) {
		*err = s->werr;
		return -1;
	}
	if (s->too_big)
		return dv_err_plain(err, EFBIG, "'%s' sent more than %llu bytes for '%s'", r->host,
				    s->max, q->url);
	if (rc != CURLE_OK) {
		*transient = rc == CURLE_COULDNT_CONNECT || rc == CURLE_RECV_ERROR ||
			     rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE ||
			     rc == CURLE_GOT_NOTHING || rc == CURLE_OPERATION_TIMEDOUT ||
			     rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM;
		return dv_err_plain(err, EIO, "cannot reach registry '%s': %s", r->host,
				    cerr[0] ? cerr : c->curl_easy_strerror(rc));
	}
	return 0;
}

/* A request with retries of what is transient (no response, 5xx, 429).
 * A resumable download that got further before it failed (s->resume)
 * continues where it stopped, with its attempts counted afresh. */
int reg_req_retry(struct reg *r, const struct reg_req *q, bool with_auth, struct reg_sink *s,
		  long *status, struct dv_error *err)
{
	static const unsigned delay_ms[REG_ATTEMPTS - 1] = { 250, 1000, 2000 };
	unsigned fails = 0, resumes = 0;
	bool transient;

	for (;;) {
		struct dv_error e = { 0 };
		unsigned long long before;
		int rc;

		sink_reset(s);
		if (dv_err_isset(&s->werr)) {
			*err = s->werr;
			return -1;
		}
		before = s->n;
		rc = req_once(r, q, with_auth, s, status, &transient, &e);
		if (rc == 0 && *status != 429 && *status < 500)
			return 0;
		if (rc < 0 && !transient) {
			*err = e;
			return -1;
		}
		if (s->resume && s->n > before && resumes < REG_RESUMES) {
			resumes++;
			fails = 0;
		}
		if (fails == REG_ATTEMPTS - 1) {
			if (rc < 0) {
				*err = e;
				return -1;
			}
			return 0; /* the caller reports the status */
		}
		nanosleep(&(struct timespec){ .tv_sec = delay_ms[fails] / 1000,
					      .tv_nsec = (long)(delay_ms[fails] % 1000) * 1000000L },
			  NULL);
		fails++;
	}
}

/* The registry's own words from an error body {"errors":[{"code","message"}]}
 * (or a token server's {"details"|"error"}); "" when it gave none. Escaped
 * (util/str.h): a registry's words must not drive the terminal. */
void reg_error_message(const struct dv_buf *body, char *out, size_t outlen)
{
	layer_autojson struct json_object *o = NULL;
	struct json_object *errs, *e0, *msg, *code;

	out[0] = 0;
	if (!body->len || !(o = json_tokener_parse(body->s)))
		return;
	if (json_object_object_get_ex(o, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array) && json_object_array_length(errs) > 0) {
		e0 = json_object_array_get_idx(errs, 0);
		if (json_object_object_get_ex(e0, "message", &msg) &&
		    json_object_get_string(msg)[0]) {
			dv_str_safe(out, outlen, json_object_get_string(msg));
			return;
		}
		if (json_object_object_get_ex(e0, "code", &code))
			dv_str_safe(out, outlen, json_object_get_string(code));
		return;
	}
	if (json_object_object_get_ex(o, "details", &msg) ||
	    json_object_object_get_ex(o, "error", &msg))
		dv_str_safe(out, outlen, json_object_get_string(msg));
}

int reg_url_escape(const struct reg_curl *c, const char *s, char **out)
{
	char *e = c->curl_easy_escape(NULL, s, 0);

	if (!e)
		return -1;
	*out = dv_xstrdup(e);
	c->curl_free(e);
	return 0;
}

/* After a 401 when we sent no credentials: what to do. */
const char *reg_login_hint(const struct reg *r)
{
	return r->basic ? "" : "; no credentials for it here: 'devenv login' to it first";
}

/* The error for an HTTP status that is not what we wanted. */
int reg_status_err(struct reg *r, long status, const struct reg_sink *s, const char *desc,
		   struct dv_error *err)
{
	char msg[256];

	reg_error_message(&s->errbody, msg, sizeof(msg));
	if (status == 404)
		return dv_err_plain(err, ENOENT, "%s of '%s' not found in registry '%s'%s%s", desc,
				    r->name, r->host, msg[0] ? ": " : "", msg);
	if (status == 401 || status == 403)
		return dv_err_plain(err, EACCES,
				    "registry '%s' denied access to '%s' (HTTP %ld)%s%s%s", r->host,
				    r->name, status, msg[0] ? ": " : "", msg,
				    status == 401 ? reg_login_hint(r) : "");
	return dv_err_plain(err, EIO, "registry '%s' answered HTTP %ld for the %s of '%s'%s%s",
			    r->host, status, desc, r->name, msg[0] ? ": " : "", msg);
}
