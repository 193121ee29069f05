/*
 * provision/reach.c - where devenv's own fetches for `git` and `download`
 * steps may connect (README "Trust").
 *
 * Those fetches run on the host, with devenv's rights and the host's
 * network: an Envfile must not use them to reach this machine's loopback
 * services or a cloud's metadata service (169.254.169.254) unless the
 * developer said yes. A URL that writes such an address is a trust request
 * (trust.c). A URL that names a host is checked where it is reached: an
 * address of this machine (loopback, 0.0.0.0) or a link-local one is
 * refused, whether a name or a redirect led there. Private addresses
 * (10/8, 192.168/16...) are allowed behind a name: an internal mirror is
 * usually reached that way, and the env itself reaches that network
 * anyway.
 *
 * libcurl (fetch.c) checks every address it connects to, redirects and
 * DNS answers included (CURLOPT_OPENSOCKETFUNCTION). libgit2 resolves on
 * its own: its host is resolved and checked just before (git.c), and it
 * follows no redirect to another host.
 *
 * A proxy named in the environment (http_proxy, https_proxy, all_proxy) is
 * the developer's: connections to its address are allowed, and what the
 * proxy then reaches is its own rules' business.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "provision.h"
#include "util/banned.h"

#define BIT(w) (1u << (w))

/* The classes of the addresses host resolves to now (NAME when it does not). */
static unsigned resolve_classes(const char *host)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	unsigned m = 0;

	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return BIT(PROV_WHERE_NAME);
	for (struct addrinfo *a = res; a; a = a->ai_next)
		m |= BIT(prov_where_sockaddr(a->ai_addr));
	freeaddrinfo(res);
	return m;
}

/* The proxy curl would take for url from the environment, or NULL. */
static const char *env_proxy(const char *url)
{
	static const char *const https_vars[] = { "https_proxy", "HTTPS_PROXY", "all_proxy",
						  "ALL_PROXY", NULL };
	/* curl reads only the lower-case http_proxy (httpoxy) */
	static const char *const http_vars[] = { "http_proxy", "all_proxy", "ALL_PROXY", NULL };
	const char *const *vars = dv_str_startswith(url, "https:") ? https_vars : http_vars;

	for (; *vars; vars++) {
		const char *v = getenv(*vars);

		if (v && *v)
			return v;
	}
	return NULL;
}

unsigned prov_reach_allowed(const char *url)
{
	unsigned m = BIT(PROV_WHERE_PUBLIC) | BIT(PROV_WHERE_PRIVATE);
	enum prov_where w = prov_where_url(url);
	const char *proxy = env_proxy(url);

	/* Written in the URL: listed, and allowed, as a trust request. */
	if (w == PROV_WHERE_LOOPBACK || w == PROV_WHERE_LINKLOCAL)
		m |= BIT(w);
	if (proxy) {
		char host[256], *with_scheme = strstr(proxy, "://")
						       ? NULL
						       : dv_xasprintf("http://%s", proxy);

		if (prov_url_host(with_scheme ? with_scheme : proxy, host, sizeof(host)) == 0) {
			enum prov_where pw = prov_where_host(host);

			m |= pw == PROV_WHERE_NAME ? resolve_classes(host) : BIT(pw);
		}
		free(with_scheme);
	}
	return m;
}

bool prov_reach_ok(unsigned allowed, enum prov_where w)
{
	return (allowed & BIT(w)) != 0;
}

void prov_reach_address(const struct sockaddr *sa, char *out, size_t n)
{
	char buf[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
			  sizeof(buf));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  buf, sizeof(buf));
	snprintf(out, n, "%s", buf);
}

int prov_reach_resolve(const char *url, char *why, size_t n)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	unsigned allowed;
	char host[256];
	int ret = 0;

	if (prov_where_url(url) != PROV_WHERE_NAME || prov_url_host(url, host, sizeof(host)) < 0)
		return 0;
	/* Unresolvable: libgit2 says so in its own words. */
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return 0;
	allowed = prov_reach_allowed(url);
	for (struct addrinfo *a = res; a && !ret; a = a->ai_next) {
		enum prov_where w = prov_where_sockaddr(a->ai_addr);
		char addr[INET6_ADDRSTRLEN];

		if (prov_reach_ok(allowed, w))
			continue;
		prov_reach_address(a->ai_addr, addr, sizeof(addr));
		snprintf(why, n,
			 "'%s' resolves to %s, %s: devenv reaches this machine or a "
			 "link-local address only where the Envfile writes the address itself (a "
			 "trust request)",
			 host, addr, prov_where_name(w));
		ret = -1;
	}
	freeaddrinfo(res);
	return ret;
}
