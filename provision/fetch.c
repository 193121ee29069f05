/*
 * provision/fetch.c - `download` steps: the file fetched on the host with
 * libcurl (loaded on first use by registry/curl.c), hashed as it arrives and
 * checked against the Envfile's sha256 before anything is copied in.
 *
 * The file goes into a staging folder of the store's tmp/ that the caller
 * removes, so a failed or interrupted download leaves nothing behind. The
 * cache key holds the declared digest, so a cached step needs no network.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/curl.h"
#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

/* Every address curl connects to (a name's, a redirect's) is checked
 * against what the Envfile may reach (reach.c). */
struct guard {
	unsigned allowed;
	enum prov_where refused_where;
	char refused[64];
};

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct guard *g = arg;
	enum prov_where w = prov_where_sockaddr(&a->addr);

	(void)purpose;
	if (!prov_reach_ok(g->allowed, w)) {
		if (!g->refused[0]) {
			prov_reach_address(&a->addr, g->refused, sizeof(g->refused));
			g->refused_where = w;
		}
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

struct sink {
	int fd;
	struct dv_sha256 h;
	struct dv_error werr;
	bool failed;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;

	if (dv_write_full(s->fd, p, n, &s->werr) < 0) {
		s->failed = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	dv_sha256_update(&s->h, p, n);
	(void)size; /* always 1 */
	return n;
}

/* The file's name: the URL's last path segment, so that a `to` ending in
 * '/' gets it; "download" when the URL has none we can use. */
char *prov_download_name(const char *url)
{
	const char *path = strstr(url, "://");
	const char *end, *slash;
	size_t n;

	path = path ? strchr(path + 3, '/') : NULL;
	if (!path)
		return dv_xstrdup("download");
	end = path + strcspn(path, "?#");
	for (slash = end; slash > path && slash[-1] != '/'; slash--)
		;
	n = (size_t)(end - slash);
	if (n == 0 || n > 200 || (n == 1 && slash[0] == '.') || (n == 2 && !strncmp(slash, "..", 2)))
		return dv_xstrdup("download");
	return dv_xasprintf("%.*s", (int)n, slash);
}

static int step_err(const struct env_spec *spec, const struct env_step *step, struct dv_error *err,
		    const char *msg)
{
	dv_err_at(err, spec->display, step->line, step->col, "download %s: %s", step->download, msg);
	return -1;
}

int prov_download(const struct env_spec *spec, const struct env_step *step, const char *dir,
		  char **out_path, struct dv_error *err)
{
	const struct reg_curl *c = reg_curl_load(err);
	dv_autofree char *name = prov_download_name(step->download);
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);
	struct sink s = { .fd = -1 };
	struct guard g = { .allowed = prov_reach_allowed(step->download) };
	char cerr[CURL_ERROR_SIZE] = "", hex[DV_SHA256_HEX], msg[600];
	long code = 0;
	CURL *h;
	CURLcode rc;

	if (!c)
		return -1;
	s.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (s.fd < 0)
		return dv_err(err, errno, "cannot create '%s'", path);
	/* 0644 whatever the umask: the file lands in the env with this mode */
	if (fchmod(s.fd, 0644) < 0) {
		close(s.fd);
		return dv_err(err, errno, "cannot set the mode of '%s'", path);
	}
	dv_sha256_init(&s.h);
	h = c->curl_easy_init();
	if (!h) {
		close(s.fd);
		return dv_err(err, ENOMEM, "cannot start a download");
	}
	c->curl_easy_setopt(h, CURLOPT_URL, step->download);
	c->curl_easy_setopt(h, CURLOPT_USERAGENT, "devenv/0.1");
	c->curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	c->curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	c->curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	c->curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	c->curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	c->curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	/* The Envfile says http or https; a redirect must not make it file:// */
	c->curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	c->curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	c->curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	c->curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &g);
	c->curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	c->curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	c->curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	rc = c->curl_easy_perform(h);
	c->curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	c->curl_easy_cleanup(h);
	if (s.failed) {
		close(s.fd);
		*err = s.werr;
		return dv_err_prefix(err, "download %s", step->download);
	}
	if (close(s.fd) < 0)
		return dv_err(err, errno, "cannot write '%s'", path);
	if (rc != CURLE_OK && g.refused[0]) {
		snprintf(msg, sizeof(msg),
			 "refused to connect to %s, %s: devenv reaches this "
			 "machine or a link-local address only where the Envfile writes the address "
			 "itself (a trust request)",
			 g.refused, prov_where_name(g.refused_where));
		return step_err(spec, step, err, msg);
	}
	if (rc != CURLE_OK) {
		snprintf(msg, sizeof(msg), "%s; check the URL and the network",
			 cerr[0] ? cerr : c->curl_easy_strerror(rc));
		step_err(spec, step, err, msg);
		err->errnum = EHOSTUNREACH;
		return -1;
	}
	if (code >= 400) {
		snprintf(msg, sizeof(msg), "the server answered HTTP %ld; check the URL", code);
		return step_err(spec, step, err, msg);
	}
	dv_sha256_final_hex(&s.h, hex);
	if (strcmp(hex, step->sha256) != 0) {
		snprintf(msg, sizeof(msg),
			 "sha256 is %s but the Envfile says %s; check the URL, or "
			 "update 'sha256:'",
			 hex, step->sha256);
		return step_err(spec, step, err, msg);
	}
	*out_path = dv_steal_ptr(&path);
	return 0;
}
