/* registry/registry.c - an OCI distribution client: manifests and blobs of one
 * repository, over libcurl; GETs for pulls, and HEAD, POST, PATCH and PUT
 * for pushes (blob uploads, cross-repository mounts, manifests).
 *
 * Auth as docker does it: ask anonymously; on 401 with a Bearer challenge,
 * get a token from its realm (with the user's ~/.docker/config.json
 * credentials for that host when there are any) and ask again; on a Basic
 * challenge send those credentials. Plain http only for loopback hosts and
 * those listed in DEVENV_INSECURE_REGISTRIES, so a name in an Envfile cannot
 * downgrade a pull to clear text. Transient failures (5xx, 429, a reset
 * connection) are retried with backoff. Every blob is hashed while it
 * streams and refused when it is not what its digest says. A push asks for
 * a token of scope pull,push (and pull on the repository it mounts from);
 * our credentials go to an upload location only on the registry's own
 * scheme and host. A blob larger than one chunk (DEVENV_PUSH_CHUNK_SIZE,
 * default 32 MiB) is sent as a chunked upload: PATCHes of Content-Range
 * start-end, each to the Location the previous answer gave, then a PUT
 * with the digest; a failed chunk is retried like any request, and a 416
 * (the session lost track of what it has) starts a new session. */
#include <errno.h>
#include <fcntl.h>
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

#define REG_MANIFEST_MAX (4u << 20)
#define REG_ERRBODY_MAX 8192
#define REG_ATTEMPTS 4
/* A resumable download that got further since its last failure starts its
 * count of attempts again, this many times at most. */
#define REG_RESUMES 64

static const char reg_accept[] =
	"Accept: application/vnd.oci.image.index.v1+json, "
	"application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.docker.distribution.manifest.v2+json";

struct reg {
	const struct reg_curl *c;
	char *name;   /* the normalised reference, for messages */
	char *host;   /* asked: as in the name ("127.0.0.1:5000"), or Docker Hub's mirror */
	char *base;   /* "https://registry-1.docker.io/v2/library/busybox" */
	char *basic;  /* base64 "user:pass" from the docker config, or NULL */
	char *origin; /* "https://registry-1.docker.io", where relative URLs start */
	char *path;   /* the repository: "library/busybox" */
	char *auth;   /* "Authorization: ..." once we have one, or NULL */
	char *from;   /* push: the repository blobs may be mounted from, or NULL */
	unsigned long long chunk; /* push: chunk size of uploads; 0: always one PUT */
	bool insecure, push;
};

/* What a request sends: len bytes from fd (read from offset start) or from
 * mem + start. */
struct upload {
	int fd;
	const char *mem;
	unsigned long long start, len, off;
};

struct reg_req {
	const char *method; /* "GET", "HEAD", "POST", "PUT", "PATCH" */
	const char *url;
	const char *accept;
	const char *ctype; /* Content-Type of what is sent, or NULL */
	const char *range; /* a "Content-Range: ..." header line, or NULL */
	struct upload *up; /* PUT's and PATCH's body; NULL: none */
	bool no_auth;      /* an upload location on another host */
};

/* Where one response goes: the body of a 2xx into fd or memory, counted,
 * capped and hashed; the body of an error into errbody, for its message. */
struct sink {
	const struct reg_curl *c;
	CURL *h;
	int fd;
	struct dv_buf mem, errbody;
	unsigned long long n, max;
	struct dv_sha256 sha;
	bool too_big;
	struct dv_error werr;
	char *content_type, *challenge, *location;
	unsigned long long chunk_min; /* OCI-Chunk-Min-Length of an upload; 0: none */
	/* A resumable download (reg_blob_stream): n and sha carry over
	 * from one response to the next, which is asked with "Range: bytes=n-".
	 * A 206 must start at n; of a 200 (the server ignored Range) the first
	 * skip bytes, those we already passed on, are dropped. Either way the
	 * digest covers exactly the bytes that went to fd. */
	bool resume, started;
	unsigned long long skip;
	long long range_start; /* Content-Range's first byte; -1 when absent */
	unsigned long long ranged; /* responses that continued a cut one */
	reg_progress_fn progress;
	void *progress_data;
};

static void sink_reset(struct sink *s)
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

static void sink_release(struct sink *s)
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
	struct sink *s = data;
	size_t n = size * nmemb;
	long code = 0;

	s->c->curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 300 && code < 400)
		return n; /* a redirect's own body */
	if (code < 200 || code >= 300) {
		if (s->errbody.len < REG_ERRBODY_MAX)
			dv_buf_add(&s->errbody, p,
				   n < REG_ERRBODY_MAX - s->errbody.len ? n
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
	struct sink *s = data;
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

static bool is_loopback(const char *host)
{
	static const char *const names[] = {"localhost", "127.0.0.1", "[::1]", "::1"};
	size_t i, hn = strlen(host);
	const char *colon = strrchr(host, ':');

	if (colon && host[0] != '[' && strchr(host, ':') == colon)
		hn = (size_t)(colon - host);
	else if (host[0] == '[' && (colon = strstr(host, "]:")))
		hn = (size_t)(colon - host) + 1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == hn && !strncmp(host, names[i], hn))
			return true;
	return false;
}

/* DEVENV_INSECURE_REGISTRIES: hosts (with their port when they have one)
 * separated by commas or blanks. */
static bool listed_insecure(const char *host)
{
	const char *list = getenv("DEVENV_INSECURE_REGISTRIES"), *p;
	size_t hn = strlen(host);

	for (p = list; p && *p;) {
		size_t n = strcspn(p, ", \t");

		if (n == hn && !strncmp(p, host, n))
			return true;
		p += n;
		p += strspn(p, ", \t");
	}
	return false;
}

/* use_mirror: pulls of docker.io images go to DEVENV_REGISTRY_MIRROR when
 * set; pushes never do. */
static struct reg *reg_connect(const char *name, bool use_mirror, struct dv_error *err)
{
	const struct reg_curl *c = reg_curl_load(err);
	const char *slash = strchr(name, '/'), *end;
	dv_autofree char *host = NULL, *path = NULL;
	struct reg *r;

	if (!c)
		return NULL;
	if (!slash || !layer_ref_has_host(name)) {
		dv_err(err, EINVAL, "invalid image name '%s': no registry host", name);
		return NULL;
	}
	end = strchr(name, '@');
	if (!end)
		end = strrchr(name, ':');
	if (!end || end < slash)
		end = name + strlen(name);
	host = dv_xstrndup(name, (size_t)(slash - name));
	path = dv_xstrndup(slash + 1, (size_t)(end - slash - 1));
	r = dv_xcalloc(1, sizeof(*r));
	r->c = c;
	r->name = dv_xstrdup(name);
	r->insecure = is_loopback(host) || listed_insecure(host);
	r->origin = dv_xasprintf("%s://%s", r->insecure ? "http" : "https",
				 strcmp(host, "docker.io") ? host : "registry-1.docker.io");
	r->base = dv_xasprintf("%s/v2/%s", r->origin, path);
	r->basic = reg_creds_get(host);
	if (use_mirror && !strcmp(host, "docker.io") && getenv("DEVENV_REGISTRY_MIRROR") &&
	    *getenv("DEVENV_REGISTRY_MIRROR")) {
		/* Docker Hub's images come from the mirror, as with dockerd's
		 * registry-mirrors: "host[:port]" or an http(s) URL, with that
		 * host's credentials. */
		const char *m = getenv("DEVENV_REGISTRY_MIRROR");
		bool plain = !strncmp(m, "http://", 7);

		m += plain ? 7 : !strncmp(m, "https://", 8) ? 8 : 0;
		free(host);
		host = dv_xstrndup(m, strcspn(m, "/"));
		r->insecure = plain || is_loopback(host) || listed_insecure(host);
		free(r->origin);
		r->origin = dv_xasprintf("%s://%s", r->insecure ? "http" : "https", host);
		free(r->base);
		r->base = dv_xasprintf("%s/v2/%s", r->origin, path);
		free(r->basic);
		r->basic = reg_creds_get(host);
	}
	r->host = dv_steal_ptr(&host);
	r->path = dv_steal_ptr(&path);
	return r;
}

struct reg *reg_open(const char *name, struct dv_error *err)
{
	return reg_connect(name, true, err);
}

/* DEVENV_PUSH_CHUNK_SIZE: bytes, or with K, M or G (KiB, MiB, GiB); 0
 * sends every blob in one PUT. Unset or empty: 32 MiB. */
static int chunk_size(unsigned long long *out, struct dv_error *err)
{
	const char *v = getenv("DEVENV_PUSH_CHUNK_SIZE");
	unsigned long long n, mul = 1;
	char *end;

	*out = 32ull << 20;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*end == 'K' || *end == 'k')
		mul = 1ull << 10, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1ull << 20, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1ull << 30, end++;
	if (errno || end == v || *end || v[0] < '0' || v[0] > '9' || n > (1ull << 40) / mul)
		return dv_err_plain(err, EINVAL,
				    "invalid DEVENV_PUSH_CHUNK_SIZE '%s': give bytes, optionally "
				    "with K, M or G, or 0 to send each blob in one request",
				    v);
	*out = n * mul;
	return 0;
}

struct reg *reg_open_push(const char *name, const char *from, struct dv_error *err)
{
	unsigned long long chunk;
	struct reg *r;

	if (chunk_size(&chunk, err) < 0)
		return NULL;
	if ((r = reg_connect(name, false, err))) {
		r->push = true;
		r->chunk = chunk;
		r->from = from ? dv_xstrdup(from) : NULL;
	}
	return r;
}

void reg_free(struct reg *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->host);
	free(r->base);
	free(r->origin);
	free(r->path);
	free(r->basic);
	free(r->auth);
	free(r->from);
	free(r);
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *data)
{
	struct upload *u = data;
	size_t n = size * nmemb;
	ssize_t got;

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
		if (q->up->fd >= 0 && lseek(q->up->fd, (off_t)q->up->start, SEEK_SET) < 0)
			return dv_err(err, errno, "cannot rewind what is being uploaded");
		c->curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		if (!strcmp(q->method, "PATCH"))
			c->curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
		c->curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		c->curl_easy_setopt(h, CURLOPT_READDATA, q->up);
		c->curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->up->len);
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
static int req_once(struct reg *r, const struct reg_req *q, bool with_auth, struct sink *s,
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
static int req_retry(struct reg *r, const struct reg_req *q, bool with_auth, struct sink *s,
		     long *status, struct dv_error *err)
{
	static const unsigned delay_ms[REG_ATTEMPTS - 1] = {250, 1000, 2000};
	unsigned fails = 0, resumes = 0;
	bool transient;

	for (;;) {
		struct dv_error e = {0};
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
		nanosleep(&(struct timespec){.tv_sec = delay_ms[fails] / 1000,
					     .tv_nsec = (long)(delay_ms[fails] % 1000) * 1000000L},
			  NULL);
		fails++;
	}
}

static int get_retry(struct reg *r, const char *url, const char *accept, bool with_auth,
		     struct sink *s, long *status, struct dv_error *err)
{
	struct reg_req q = {.method = "GET", .url = url, .accept = accept};

	return req_retry(r, &q, with_auth, s, status, err);
}

/* The value of key="value" (or key=value) in a challenge; caller frees. */
static char *challenge_param(const char *ch, const char *key)
{
	size_t k = strlen(key);
	const char *p = ch;

	while ((p = strstr(p, key))) {
		bool at_start = p == ch || p[-1] == ' ' || p[-1] == ',';

		p += k;
		if (!at_start || *p != '=')
			continue;
		p++;
		if (*p == '"') {
			const char *e = strchr(++p, '"');

			return e ? dv_xstrndup(p, (size_t)(e - p)) : NULL;
		}
		return dv_xstrndup(p, strcspn(p, ", "));
	}
	return NULL;
}

/* The registry's own words from an error body {"errors":[{"code","message"}]}
 * (or a token server's {"details"|"error"}); "" when it gave none. Escaped
 * (util/str.h): a registry's words must not drive the terminal. */
static void error_message(const struct dv_buf *body, char *out, size_t outlen)
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

static int url_escape(const struct reg_curl *c, const char *s, char **out)
{
	char *e = c->curl_easy_escape(NULL, s, 0);

	if (!e)
		return -1;
	*out = dv_xstrdup(e);
	c->curl_free(e);
	return 0;
}

/* After a 401 when we sent no credentials: what to do. */
static const char *login_hint(const struct reg *r)
{
	return r->basic ? "" : "; no credentials for it here: 'devenv login' to it first";
}

/* Answer a Bearer challenge: GET realm?service=..&scope=.. and keep the
 * token as our Authorization header. */
static int fetch_token(struct reg *r, const char *challenge, struct dv_error *err)
{
	dv_autofree char *realm = challenge_param(challenge, "realm");
	dv_autofree char *service = challenge_param(challenge, "service");
	dv_autofree char *scope = challenge_param(challenge, "scope");
	dv_autofree char *eservice = NULL, *escope = NULL, *url = NULL;
	dv_autofree char *from = NULL, *efrom = NULL;
	layer_autojson struct json_object *o = NULL;
	struct json_object *tok;
	struct sink s = {.c = r->c, .fd = -1, .max = 1u << 20};
	char msg[256];
	const char *t;
	long status;
	int ret = -1;
	size_t i;

	if (!realm || !(dv_str_startswith(realm, "https://") ||
			(r->insecure && dv_str_startswith(realm, "http://"))))
		return dv_err_plain(err, EACCES,
				    "registry '%s' asks for a token from an unusable realm '%s'",
				    r->host, realm ? realm : "");
	if (r->push) {
		/* Ours, whatever the challenge says: a push needs both. */
		free(scope);
		scope = dv_xasprintf("repository:%s:pull,push", r->path);
		if (r->from)
			from = dv_xasprintf("repository:%s:pull", r->from);
	} else if (!scope && r->path[0]) {
		scope = dv_xasprintf("repository:%s:pull", r->path);
	}
	/* No scope at all for a login: the token server checks who we are. */
	if ((scope && url_escape(r->c, scope, &escope) < 0) ||
	    (service && url_escape(r->c, service, &eservice) < 0) ||
	    (from && url_escape(r->c, from, &efrom) < 0))
		return dv_err(err, ENOMEM, "cannot build the token request");
	{
		struct dv_buf u = {0};
		char sep = strchr(realm, '?') ? '&' : '?';

		dv_buf_adds(&u, realm);
		if (escope) {
			dv_buf_addf(&u, "%cscope=%s", sep, escope);
			sep = '&';
		}
		if (efrom) {
			dv_buf_addf(&u, "%cscope=%s", sep, efrom);
			sep = '&';
		}
		if (eservice)
			dv_buf_addf(&u, "%cservice=%s", sep, eservice);
		url = dv_buf_steal(&u);
	}
	/* Credentials go to the token server only over https (or where the
	 * user allowed clear text). */
	free(r->auth);
	r->auth = NULL;
	if (r->basic && (dv_str_startswith(realm, "https://") || r->insecure))
		r->auth = dv_xasprintf("Authorization: Basic %s", r->basic);
	if (get_retry(r, url, NULL, true, &s, &status, err) < 0)
		goto out;
	free(r->auth);
	r->auth = NULL;
	if (status != 200) {
		error_message(&s.errbody, msg, sizeof(msg));
		dv_err_plain(err, EACCES, "registry '%s' refused a token for '%s' (HTTP %ld)%s%s%s",
			     r->host, r->name, status, msg[0] ? ": " : "", msg, login_hint(r));
		goto out;
	}
	dv_buf_add(&s.mem, "", 0);
	o = s.mem.s ? json_tokener_parse(s.mem.s) : NULL;
	if (!o || !((json_object_object_get_ex(o, "token", &tok) ||
		     json_object_object_get_ex(o, "access_token", &tok)) &&
		    (t = json_object_get_string(tok)) && *t)) {
		dv_err_plain(err, EACCES, "registry '%s' sent no token", r->host);
		goto out;
	}
	for (i = 0; t[i]; i++)
		if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f) {
			dv_err_plain(err, EACCES, "registry '%s' sent a malformed token", r->host);
			goto out;
		}
	r->auth = dv_xasprintf("Authorization: Bearer %s", t);
	ret = 0;
out:
	sink_release(&s);
	return ret;
}

/* One request, answering one auth challenge; 0 whatever the HTTP status. */
static int reg_do(struct reg *r, const struct reg_req *q, struct sink *s, long *status,
		  struct dv_error *err)
{
	bool retried = false;

	for (;;) {
		if (req_retry(r, q, true, s, status, err) < 0)
			return -1;
		if (*status != 401 || retried || !s->challenge || q->no_auth)
			return 0;
		retried = true;
		if (!strncasecmp(s->challenge, "Bearer ", 7)) {
			dv_autofree char *ch = dv_xstrdup(s->challenge);

			if (fetch_token(r, ch, err) < 0)
				return -1;
		} else if (!strncasecmp(s->challenge, "Basic", 5) && r->basic) {
			/* Over https, or where the user chose clear text. */
			free(r->auth);
			r->auth = dv_xasprintf("Authorization: Basic %s", r->basic);
		} else {
			return 0;
		}
	}
}

/* The error for an HTTP status that is not what we wanted. */
static int status_err(struct reg *r, long status, const struct sink *s, const char *desc,
		      struct dv_error *err)
{
	char msg[256];

	error_message(&s->errbody, msg, sizeof(msg));
	if (status == 404)
		return dv_err_plain(err, ENOENT, "%s of '%s' not found in registry '%s'%s%s", desc,
				    r->name, r->host, msg[0] ? ": " : "", msg);
	if (status == 401 || status == 403)
		return dv_err_plain(err, EACCES, "registry '%s' denied access to '%s' (HTTP %ld)%s%s%s",
				    r->host, r->name, status, msg[0] ? ": " : "", msg,
				    status == 401 ? login_hint(r) : "");
	return dv_err_plain(err, EIO, "registry '%s' answered HTTP %ld for the %s of '%s'%s%s",
			    r->host, status, desc, r->name, msg[0] ? ": " : "", msg);
}

/* GET base/<what>; fails on anything but 2xx. */
static int reg_get(struct reg *r, const char *what, const char *accept, struct sink *s,
		   const char *desc, struct dv_error *err)
{
	dv_autofree char *url = dv_xasprintf("%s/%s", r->base, what);
	struct reg_req q = {.method = "GET", .url = url, .accept = accept};
	long status;

	if (reg_do(r, &q, s, &status, err) < 0)
		return -1;
	if (status >= 200 && status < 300)
		return 0;
	return status_err(r, status, s, desc, err);
}

int reg_manifest(struct reg *r, const char *reference, char **body, size_t *len,
		       char **media_type, struct dv_error *err)
{
	dv_autofree char *what = dv_xasprintf("manifests/%s", reference);
	struct sink s = {.c = r->c, .fd = -1, .max = REG_MANIFEST_MAX};

	if (reg_get(r, what, reg_accept, &s, "manifest", err) < 0) {
		sink_release(&s);
		return -1;
	}
	dv_buf_add(&s.mem, "", 0); /* NUL-terminated even when empty */
	*len = s.mem.len;
	*media_type = dv_xstrdup(s.content_type ? s.content_type : "");
	*body = dv_buf_steal(&s.mem);
	sink_release(&s);
	return 0;
}

/* The blob s received is the one asked for (hex), or one line saying not. */
static int blob_digest_check(const struct reg *r, struct sink *s, const char *hex,
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

int reg_blob(struct reg *r, const char *hex, unsigned long long max, int fd,
		   char **body, size_t *len, struct dv_error *err)
{
	dv_autofree char *what = NULL;
	struct sink s = {.c = r->c, .fd = fd, .max = max};
	int ret = -1;

	if (!dv_str_is_hex(hex, 64))
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
	sink_release(&s);
	return ret;
}

int reg_blob_stream(struct reg *r, const char *hex, unsigned long long size, int fd,
			  const char *desc, reg_progress_fn progress, void *progress_data,
			  struct dv_error *err)
{
	dv_autofree char *what = NULL;
	struct sink s = {.c = r->c, .fd = fd, .max = size, .resume = true, .range_start = -1,
			 .progress = progress, .progress_data = progress_data};
	int ret = -1;

	if (!dv_str_is_hex(hex, 64))
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
	sink_release(&s);
	return ret;
}

const char *reg_name(const struct reg *r)
{
	return r->name;
}

struct reg *reg_dup(const struct reg *r)
{
	struct reg *d = dv_xcalloc(1, sizeof(*d));

	*d = *r;
	d->name = dv_xstrdup(r->name);
	d->host = dv_xstrdup(r->host);
	d->base = dv_xstrdup(r->base);
	d->origin = dv_xstrdup(r->origin);
	d->path = dv_xstrdup(r->path);
	d->basic = r->basic ? dv_xstrdup(r->basic) : NULL;
	d->auth = r->auth ? dv_xstrdup(r->auth) : NULL;
	d->from = r->from ? dv_xstrdup(r->from) : NULL;
	return d;
}

int reg_login_check(const char *host, const char *basic, struct dv_error *err)
{
	dv_autofree char *name = dv_xasprintf("%s/x", host);
	struct reg *r = reg_connect(name, false, err); /* the host itself, never a mirror */
	int ret;

	if (!r)
		return -1;
	/* The registry as a whole, with these credentials, not the saved ones. */
	free(r->name);
	r->name = dv_xstrdup(host);
	r->path[0] = 0;
	free(r->basic);
	r->basic = dv_xstrdup(basic);
	ret = reg_ping(r, err);
	/* A registry that lets anyone in says nothing about the password;
	 * one that asked and took it has vouched for it. */
	reg_free(r);
	return ret;
}

/* ---- push ---- */

int reg_ping(struct reg *r, struct dv_error *err)
{
	dv_autofree char *url = dv_xasprintf("%s/v2/", r->origin);
	struct sink s = {.c = r->c, .fd = -1, .max = REG_ERRBODY_MAX};
	struct reg_req q = {.method = "GET", .url = url};
	long status;
	int ret = -1;

	if (reg_do(r, &q, &s, &status, err) < 0)
		goto out;
	if (status >= 200 && status < 300)
		ret = 0;
	else
		status_err(r, status, &s, "API root", err);
out:
	sink_release(&s);
	return ret;
}

int reg_blob_exists(struct reg *r, const char *hex, bool *out, struct dv_error *err)
{
	dv_autofree char *url = NULL;
	struct sink s = {.c = r->c, .fd = -1, .max = REG_ERRBODY_MAX};
	struct reg_req q = {.method = "HEAD"};
	long status;
	int ret = -1;

	if (!dv_str_is_hex(hex, 64))
		return dv_err(err, EINVAL, "invalid blob digest 'sha256:%s'", hex);
	url = dv_xasprintf("%s/blobs/sha256:%s", r->base, hex);
	q.url = url;
	if (reg_do(r, &q, &s, &status, err) < 0)
		goto out;
	if (status == 200 || status == 404) {
		*out = status == 200;
		ret = 0;
	} else {
		status_err(r, status, &s, "blob", err);
	}
out:
	sink_release(&s);
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
	struct sink s = {.c = r->c, .fd = -1, .max = REG_ERRBODY_MAX};
	struct reg_req q = {.method = "POST"};
	long status;
	int ret = -1;

	if (r->from && url_escape(r->c, r->from, &efrom) < 0)
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
			dv_err_plain(err, EPROTO, "registry '%s' gave an unusable upload location '%s'",
				     r->host, s.location);
		else
			ret = 0;
	} else if (status == 202) {
		dv_err_plain(err, EPROTO, "registry '%s' started an upload without a location",
			     r->host);
	} else {
		status_err(r, status, &s, "upload", err);
	}
out:
	sink_release(&s);
	return ret;
}

/* PUT `up` to url; 201 or `also_ok` is success, anything else the
 * registry's message about `what`. */
static int reg_put(struct reg *r, const char *url, const char *ctype, struct upload *up,
		   bool no_auth, long also_ok, const char *what, struct dv_error *err)
{
	struct sink s = {.c = r->c, .fd = -1, .max = REG_ERRBODY_MAX};
	struct reg_req q = {.method = "PUT", .url = url, .ctype = ctype, .up = up, .no_auth = no_auth};
	long status;
	int ret = -1;

	if (reg_do(r, &q, &s, &status, err) < 0)
		goto out;
	if (status == 201 || status == also_ok)
		ret = 0;
	else
		status_err(r, status, &s, what, err);
out:
	sink_release(&s);
	return ret;
}

/* PUT the whole blob to an upload session (a monolithic upload). */
static int finish_upload(struct reg *r, const char *location, bool no_auth, const char *hex,
			 struct upload *up, struct dv_error *err)
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
static int send_chunk(struct reg *r, char **location, bool *no_auth,
		      const struct upload *whole, unsigned long long off, unsigned long long n,
		      long *status, struct dv_error *err)
{
	struct upload up = {.fd = whole->fd, .mem = whole->mem, .start = off, .len = n};
	struct sink s = {.c = r->c, .fd = -1, .max = REG_ERRBODY_MAX};
	char range[80];
	struct reg_req q = {.method = "PATCH",
			    .url = *location,
			    .ctype = "application/octet-stream",
			    .range = range,
			    .up = &up,
			    .no_auth = *no_auth};
	char *next;
	int ret = -1;

	snprintf(range, sizeof(range), "Content-Range: %llu-%llu", off, off + n - 1);
	if (reg_do(r, &q, &s, status, err) < 0)
		goto out;
	if (*status == 416 || (*status == 404 && upload_lost(&s.errbody))) {
		*status = 416;
		ret = 0;
	} else if (*status != 202) {
		status_err(r, *status, &s, "upload of blob", err);
	} else if (!s.location || !s.location[0]) {
		dv_err_plain(err, EPROTO, "registry '%s' took a chunk without saying where to go on",
			     r->host);
	} else if (!(next = location_url(r, s.location, no_auth))) {
		dv_err_plain(err, EPROTO, "registry '%s' gave an unusable upload location '%s'",
			     r->host, s.location);
	} else {
		free(*location);
		*location = next;
		ret = 0;
	}
out:
	sink_release(&s);
	return ret;
}

/* Send whole in chunks of r->chunk bytes (or the session's minimum, when
 * larger) to the session at *location, then PUT ?digest= with no body.
 * A 416 says the session holds something else than we sent (a chunk
 * retried after the registry kept part of it): once, the upload begins
 * again from byte 0 in a new session. *how as reg_blob_push's. */
static int chunked_upload(struct reg *r, const char *hex, char **location, bool *no_auth,
			  unsigned long long chunk_min, const struct upload *whole,
			  const char **how, struct dv_error *err)
{
	struct upload none = {.fd = -1, .mem = "", .len = 0};
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

int reg_blob_push(struct reg *r, const char *hex, int fd, const char *mem,
			unsigned long long len, const char **how, struct dv_error *err)
{
	struct upload up = {.fd = fd, .mem = mem, .len = len};
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

int reg_manifest_put(struct reg *r, const char *tag, const char *body,
			   const char *media_type, struct dv_error *err)
{
	dv_autofree char *url = dv_xasprintf("%s/manifests/%s", r->base, tag);
	struct upload up = {.fd = -1, .mem = body, .len = strlen(body)};

	return reg_put(r, url, media_type, &up, false, 200, "manifest upload", err);
}
