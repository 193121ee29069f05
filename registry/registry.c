/* registry/registry.c - one repository of an OCI registry, as the other
 * files of registry/ reach it: its host (Docker Hub's images from
 * DEVENV_REGISTRY_MIRROR when set), http or https, the credentials docker
 * keeps for that host (creds.c), and for a push the chunk size of uploads.
 * Plain http only for loopback hosts and those listed in
 * DEVENV_INSECURE_REGISTRIES, so a name in an Envfile cannot downgrade a
 * pull to clear text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/banned.h"

static bool is_loopback(const char *host)
{
	static const char *const names[] = { "localhost", "127.0.0.1", "[::1]", "::1" };
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
struct reg *reg_connect(const char *name, bool use_mirror, struct dv_error *err)
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
 * sends every blob in one PUT. Unset or empty: 32 MiB. Read by
 * dv_size_parse, as every size is; a chunk must be under 1 TiB (so a T
 * suffix, which that parser knows, is still refused here). */
static int chunk_size(unsigned long long *out, struct dv_error *err)
{
	const char *v = getenv("DEVENV_PUSH_CHUNK_SIZE");
	struct dv_error perr = { 0 };
	unsigned long long n;

	*out = 32ull << 20;
	if (!v || !*v)
		return 0;
	if (dv_size_parse(v, &n, &perr) < 0 || n >= 1ull << 40)
		return dv_err_plain(err, EINVAL,
				    "invalid DEVENV_PUSH_CHUNK_SIZE '%s': give bytes, optionally "
				    "with K, M or G, or 0 to send each blob in one request",
				    v);
	*out = n;
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
		/* A chunk size of one's own: requests stay under it. */
		r->stream = !getenv("DEVENV_PUSH_CHUNK_SIZE") || !*getenv("DEVENV_PUSH_CHUNK_SIZE");
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
