/*
 * registry/internal.h - what the files of registry/ share (registry.h has
 * the file map). Nothing outside registry/ includes this file.
 *
 * Calls go one way: pull.c, pull_layer.c, push.c and login.c use blob.c,
 * manifest.c and auth.c, which send their requests through http.c on a
 * struct reg from registry.c; creds.c and curl.c are at the bottom.
 *
 * A pull or push works on the store below it through layers/internal.h
 * (staging, extract, commit, libarchive, OCI documents), not only
 * layers.h: those are the store's own steps, which registry/ takes part in.
 */
#ifndef REGISTRY_INTERNAL_H
#define REGISTRY_INTERNAL_H

#include <pthread.h>

#include "curl.h"
#include "layers/internal.h"
#include "registry.h"
#include "util/hash.h"
#include "util/str.h"

/* ---- registry.c: a connection to one repository ---- */

/* A connection to one repository of an OCI registry: reg_open() with a
 * normalised name, then reg_manifest() and reg_blob() any number of times,
 * reg_free(). It keeps the bearer token it got. */
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
	bool stream; /* push: DEVENV_PUSH_CHUNK_SIZE unset: gzip blobs stream (push.c) */
};
struct reg *reg_open(const char *name, struct dv_error *err);
/* For a push: as reg_open(), asking for tokens of scope pull,push
 * (and pull on `from`, a repository of the same registry that blobs may be
 * mounted from; NULL: none). */
struct reg *reg_open_push(const char *name, const char *from, struct dv_error *err);
/* As reg_open(); use_mirror: pulls of docker.io images go to
 * DEVENV_REGISTRY_MIRROR when set (pushes and logins never do). */
struct reg *reg_connect(const char *name, bool use_mirror, struct dv_error *err);
/* A second connection to the same repository, with the token r has: one
 * struct reg is used by one thread at a time. Free with reg_free(). */
struct reg *reg_dup(const struct reg *r);
void reg_free(struct reg *r);
/* The normalised name it was opened with, for messages. */
const char *reg_name(const struct reg *r);

/* ---- http.c: one request and where its answer goes ---- */

/* A file another thread is still writing (push.c uploads a gzip blob as
 * it is compressed): the writer adds what it wrote (reg_grow_add) and
 * says when it is done or failed (reg_grow_end); an upload that reads it
 * waits for more. */
struct reg_grow {
	pthread_mutex_t lock;
	pthread_cond_t more;
	unsigned long long written;
	bool done, failed;
};
void reg_grow_init(struct reg_grow *g);
void reg_grow_add(struct reg_grow *g, unsigned long long n);
void reg_grow_end(struct reg_grow *g, bool ok);
void reg_grow_destroy(struct reg_grow *g);

/* What a request sends: len bytes from fd (read from offset start) or from
 * mem + start; or, with grow, all of fd (read with pread from offset 0) as
 * it grows, in chunked transfer encoding, len unused. */
struct reg_upload {
	int fd;
	const char *mem;
	unsigned long long start, len, off;
	struct reg_grow *grow;
};
/* libcurl's read callback for u (data): the next bytes of the body, 0 at
 * its end, CURL_READFUNC_ABORT when it cannot be read (a grow that failed). */
size_t reg_upload_read(char *p, size_t size, size_t nmemb, void *data);

struct reg_req {
	const char *method; /* "GET", "HEAD", "POST", "PUT", "PATCH" */
	const char *url;
	const char *accept;
	const char *ctype;     /* Content-Type of what is sent, or NULL */
	const char *range;     /* a "Content-Range: ..." header line, or NULL */
	struct reg_upload *up; /* PUT's and PATCH's body; NULL: none */
	bool no_auth;          /* an upload location on another host */
};

/* Called from the download as a streamed blob's bytes arrive: done is the
 * count so far. Returning false stops the download (errnum ECANCELED). */
typedef bool (*reg_progress_fn)(void *data, unsigned long long done);

/* The most of an error body kept for its message. */
#define REG_ERRBODY_MAX 8192

/* Where one response goes: the body of a 2xx into fd or memory, counted,
 * capped and hashed; the body of an error into errbody, for its message.
 * Set c, fd (-1: memory) and max; release with reg_sink_release(). */
struct reg_sink {
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
	long long range_start;     /* Content-Range's first byte; -1 when absent */
	unsigned long long ranged; /* responses that continued a cut one */
	reg_progress_fn progress;
	void *progress_data;
};
void reg_sink_release(struct reg_sink *s);

/* Request q with retries of what is transient (no response, 5xx, 429),
 * sending r->auth when with_auth; 0 with *status whatever the HTTP
 * status. */
int reg_req_retry(struct reg *r, const struct reg_req *q, bool with_auth, struct reg_sink *s,
		  long *status, struct dv_error *err);
/* The registry's own words from an error body, escaped; "" when none. */
void reg_error_message(const struct dv_buf *body, char *out, size_t outlen);
/* The error for an HTTP status that is not what we wanted: ENOENT for 404,
 * EACCES for 401/403, else EIO; desc names what was asked. -1. */
int reg_status_err(struct reg *r, long status, const struct reg_sink *s, const char *desc,
		   struct dv_error *err);
/* After a 401 when we sent no credentials: what to do ("" when we did). */
const char *reg_login_hint(const struct reg *r);
/* s escaped for a URL into *out (caller frees); -1 when libcurl cannot. */
int reg_url_escape(const struct reg_curl *c, const char *s, char **out);

/* ---- auth.c: requests that answer the registry's auth challenge ---- */

/* One request, answering one auth challenge; 0 whatever the HTTP status. */
int reg_do(struct reg *r, const struct reg_req *q, struct reg_sink *s, long *status,
	   struct dv_error *err);
/* GET base/<what>; fails on anything but 2xx (reg_status_err). */
int reg_get(struct reg *r, const char *what, const char *accept, struct reg_sink *s,
	    const char *desc, struct dv_error *err);
/* PUT `up` to url; 201 or `also_ok` is success, anything else the
 * registry's message about `what`. */
int reg_put(struct reg *r, const char *url, const char *ctype, struct reg_upload *up, bool no_auth,
	    long also_ok, const char *what, struct dv_error *err);
/* GET /v2/, answering its auth challenge: is the registry there and does
 * it let us in? */
int reg_ping(struct reg *r, struct dv_error *err);
/* Check basic (base64 "user:pass") against the registry at host: GET /v2/
 * with them (as Basic auth, or to its token server). errnum EACCES when
 * refused. A registry open to anyone accepts any. */
int reg_login_check(const char *host, const char *basic, struct dv_error *err);

/* ---- manifest.c ---- */

/* GET the manifest or index `reference` (a tag or "sha256:HEX"), at most
 * 4 MiB. *body (NUL-terminated) and *media_type (the Content-Type without
 * parameters, "" when absent) belong to the caller. A 404 fails with errnum
 * ENOENT, 401/403 with EACCES, each with the registry's own message. */
int reg_manifest(struct reg *r, const char *reference, char **body, size_t *len, char **media_type,
		 struct dv_error *err);
/* PUT the manifest body (NUL-terminated) of media_type as tag. */
int reg_manifest_put(struct reg *r, const char *tag, const char *body, const char *media_type,
		     struct dv_error *err);

/* ---- blob.c ---- */

/* GET blob sha256:hex, at most max bytes, checking its digest as it streams:
 * into fd (from offset 0, truncated first) when fd >= 0, else into *body.
 * A blob that does not match its digest fails with errnum EBADMSG. */
int reg_blob(struct reg *r, const char *hex, unsigned long long max, int fd, char **body,
	     size_t *len, struct dv_error *err);
/* GET blob sha256:hex of `size` bytes (~0ULL: unknown) into fd (a pipe to
 * an extractor, say: written in order, never rewound), checking its digest
 * as it streams. A cut transfer (reset, truncated body, 5xx) is asked again
 * from where it stopped with "Range: bytes=N-", with backoff, the running
 * digest continued; a registry that answers 200 instead of 206 resends the
 * whole blob, whose first N bytes are dropped. When it cannot be resumed:
 * "download of <desc> sha256:<12 hex>... of 'NAME' was cut at N of M bytes
 * and could not be resumed: <why>" (errnum EIO). A wrong digest fails with
 * errnum EBADMSG once the last byte has been written to fd. */
int reg_blob_stream(struct reg *r, const char *hex, unsigned long long size, int fd,
		    const char *desc, reg_progress_fn progress, void *progress_data,
		    struct dv_error *err);
/* HEAD blob sha256:hex: *out says whether the repository has it. */
int reg_blob_exists(struct reg *r, const char *hex, bool *out, struct dv_error *err);
/* Make blob sha256:hex (len bytes from fd, from offset 0, when fd >= 0;
 * else mem) be in the repository: nothing when it is there, a mount from
 * `from` when that works, else an upload: POST, then one PUT with the
 * digest, or for a blob larger than DEVENV_PUSH_CHUNK_SIZE (read by
 * reg_open_push(), which fails with EINVAL on a bad value) PATCHes of that
 * size and an empty PUT. *how: "exists", "mounted" or "pushed" (static
 * strings). With fd < 0 and mem NULL nothing is uploaded: *how is NULL
 * when it would have to be. */
int reg_blob_push(struct reg *r, const char *hex, int fd, const char *mem, unsigned long long len,
		  const char **how, struct dv_error *err);
/* A streamed upload of a blob whose digest is known only at its end
 * (push.c): reg_blob_stream_send() POSTs a session and sends all of fd,
 * which grow says is still being written, in one PATCH as it grows;
 * *location (caller frees) is where the session went on. Then
 * reg_blob_stream_finish() PUTs ?digest=sha256:hex with no body. Either
 * failing, the caller uploads the file as reg_blob_push() does. */
int reg_blob_stream_send(struct reg *r, int fd, struct reg_grow *grow, char **location,
			 bool *no_auth, struct dv_error *err);
int reg_blob_stream_finish(struct reg *r, const char *location, bool no_auth, const char *hex,
			   struct dv_error *err);

/* ---- pull_layer.c ---- */

/* One layer of an image, streamed from the registry into a new staging
 * folder tmp/<name>/diff: blob sha256:hex of `size` bytes (~0ULL: unknown)
 * is unpacked while it downloads (no copy of it on disk), resumed when cut,
 * its digest checked, and what it unpacks to checked against diff_hex.
 * *out_staging: the staging name (caller frees; commit it with
 * layer_commit_full(), or layer_staging_discard() it). On failure nothing
 * is left in tmp/. reg serves this call only: give each concurrent call
 * its own (reg_dup). progress (may be NULL) is called from another thread
 * as bytes arrive. */
int reg_pull_layer(const struct layer_store *st, struct reg *reg, const char *hex,
		   unsigned long long size, const char *diff_hex, reg_progress_fn progress,
		   void *progress_data, char **out_staging, struct dv_error *err);

/* ---- pull.c ---- */

/* The connection a remote image was read through. */
struct reg *reg_remote_conn(struct reg_remote *r);

/* ---- creds.c: credentials as docker keeps them ---- */

/* credHelpers.<host>, else credsStore (a docker-credential-NAME program),
 * else auths.<host>. get: base64("user:pass"), or NULL (anonymous; a
 * broken helper is a warning). The helper functions return 0 when no
 * helper is configured for host, 1 when the helper did it; erase sets
 * *found. */
char *reg_creds_get(const char *host);
int reg_creds_helper_store(const char *host, const char *user, const char *secret,
			   struct dv_error *err);
int reg_creds_helper_erase(const char *host, bool *found, struct dv_error *err);
/* The docker client's config folder: $DOCKER_CONFIG, else ~/.docker;
 * NULL when neither is set. Caller frees. */
char *reg_docker_config_dir(void);
/* The key docker uses for host in "auths" and with helpers. */
const char *reg_auths_key(const char *host);
char *reg_base64(const char *s);

/* ---- pgzip.c: gzip on several threads, as pigz makes it ---- */

/* The input is compressed in blocks of this many bytes. */
#define REG_PGZIP_BLOCK (128 * 1024)
/* The level push compresses gzip layers at: 1, measured (ARCHITECTURE.md
 * "registry/"): zlib's 6 costs 2.3x the CPU of 1 for blobs 8% smaller, 2
 * and 3 cost 6% and 18% more for 1.3% and 2.3%; at 1 a push of bench/push's
 * image takes no more CPU than skopeo's --dest-compress (Go's pgzip). */
#define REG_PGZIP_LEVEL 1
/* The most threads one gzip uses, whatever the CPUs. */
#define REG_PGZIP_MAX_THREADS 16
/* Gzip all of in_fd into out_fd at level (1-9; else 6) on threads threads
 * (1: on the caller's alone). The bytes written depend only on the input
 * and the level, never on threads: no timestamp, no name. hash (NULL:
 * none), initialised by the caller, is updated with every byte written,
 * on the writing thread while the others compress. */
int reg_pgzip(int in_fd, int out_fd, int level, unsigned threads, struct dv_sha256 *hash,
	      struct dv_error *err);
/* As reg_pgzip(), telling grow (not NULL) of every write to out_fd; the
 * caller ends it (reg_grow_end). */
int reg_pgzip_grow(int in_fd, int out_fd, int level, unsigned threads, struct dv_sha256 *hash,
		   struct reg_grow *grow, struct dv_error *err);
/* The CPUs this process may run on (at least 1). */
unsigned reg_pgzip_threads(void);

#endif
