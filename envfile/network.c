/*
 * envfile/network.c - `network: private|host` and `ports`.
 *
 * `private` is the default (as Docker's bridge): the host's loopback
 * services and abstract unix sockets are not an untrusted env's to reach.
 * `host` is asked for by name, and its position kept for the trust prompt.
 *
 * A port is "HOST:CONTAINER", "IP:HOST:CONTAINER" ("[::1]:8000:8000" for
 * IPv6), or, for a free host port of devenv's choosing (env/net.c), one
 * number, "auto:CONTAINER", "IP:auto:CONTAINER" (or compose's
 * "IP::CONTAINER"); optionally ending in "/tcp". The host side binds 127.0.0.1 unless an address is given: a dev
 * server should not be reachable from the café's Wi-Fi unless asked for
 * ("0.0.0.0:8000:8000"). UDP and ranges are refused by name rather than
 * misread.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

int envfile_set_network(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			struct env_spec *spec)
{
	const char *s;
	char buf[64];

	if (envfile_get_string(v, "'network'", key, val, &s) < 0)
		return -1;
	spec->network_line = key->line;
	spec->network_col = key->col;
	if (strcmp(s, "host") == 0)
		spec->network = ENV_NET_HOST;
	else if (strcmp(s, "private") == 0)
		spec->network = ENV_NET_PRIVATE;
	else
		return ENV_AT(v, val, "'network' must be 'private' or 'host', not '%s'",
			      envfile_shown(s, buf, sizeof(buf)));
	return 0;
}

/* "8000" -> 8000; 0 for anything that is not 1..65535. */
static unsigned port_number(const char *s, size_t len)
{
	unsigned long p = 0;

	if (len == 0 || len > 5)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		p = p * 10 + (unsigned)(s[i] - '0');
	}
	return p >= 1 && p <= 65535 ? (unsigned)p : 0;
}

static int parse_port(struct env_vctx *v, const struct env_node *item, struct env_port *out)
{
	dv_autofree char *text = NULL;
	const char *parts[3], *ip = NULL;
	size_t lens[3], n = 0;
	char *p, *slash, buf[64];

	if (item->type != ENV_NODE_SCALAR || envfile_is_null(item))
		return ENV_AT(v, item,
			      "each entry of 'ports' must be a string such as "
			      "\"8000:8000\", not %s",
			      envfile_describe(item));
	text = dv_xstrdup(item->value);
	out->line = item->line;
	out->col = item->col;
	slash = strchr(text, '/');
	if (slash) {
		if (strcmp(slash, "/tcp") != 0)
			return ENV_AT(v, item,
				      "port '%s': only TCP ports can be forwarded; "
				      "write \"8000:8000\" or \"8000:8000/tcp\"",
				      envfile_shown(item->value, buf, sizeof(buf)));
		*slash = '\0';
	}
	if (strchr(text, '-'))
		return ENV_AT(v, item, "port '%s': ranges are not supported; list each port",
			      envfile_shown(item->value, buf, sizeof(buf)));
	p = text;
	if (*p == '[') { /* [IPv6]:HOST:CONTAINER */
		char *close = strchr(p, ']');

		if (!close || close[1] != ':')
			goto bad;
		*close = '\0';
		ip = p + 1;
		p = close + 2;
	}
	for (;;) {
		char *colon = strchr(p, ':');

		if (n == 3)
			goto bad;
		parts[n] = p;
		lens[n++] = colon ? (size_t)(colon - p) : strlen(p);
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	if (n == 3 && ip)
		goto bad;
	if (n == 3) {
		ip = parts[0];
		parts[0] = parts[1], lens[0] = lens[1];
		parts[1] = parts[2], lens[1] = lens[2];
		n = 2;
	}
	if (ip && n != 2)
		goto bad;
	/* "8000", "auto:8000", "IP:auto:8000", and compose's "IP::8000". */
	out->auto_port = n == 1 || (lens[0] == 4 && strncmp(parts[0], "auto", 4) == 0) ||
			 (ip && lens[0] == 0);
	out->host_port = out->auto_port ? 0 : port_number(parts[0], lens[0]);
	out->container_port = port_number(parts[n - 1], lens[n - 1]);
	if ((!out->auto_port && !out->host_port) || !out->container_port)
		return ENV_AT(v, item, "port '%s': port numbers must be from 1 to 65535",
			      envfile_shown(item->value, buf, sizeof(buf)));
	if (ip) {
		unsigned char addr[16];

		if (inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
			return ENV_AT(v, item,
				      "port '%s': '%s' is not an IP address; write "
				      "\"127.0.0.1:8000:8000\", or \"0.0.0.0:8000:8000\" for every "
				      "interface",
				      envfile_shown(item->value, buf, sizeof(buf)), ip);
		out->host_ip = dv_xstrdup(ip);
	} else {
		out->host_ip = dv_xstrdup("127.0.0.1");
	}
	return 0;
bad:
	return ENV_AT(v, item,
		      "port '%s' is not HOST:CONTAINER, IP:HOST:CONTAINER or PORT; "
		      "write it as \"8000:8000\" or \"127.0.0.1:5433:5432\"",
		      envfile_shown(item->value, buf, sizeof(buf)));
}

int envfile_set_ports(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		      struct env_spec *spec)
{
	(void)key;
	if (envfile_is_null(val))
		return 0;
	if (val->type != ENV_NODE_SEQ)
		return ENV_AT(v, val, "'ports' must be a list such as [\"8000:8000\"], not %s",
			      envfile_describe(val));
	spec->ports = dv_xcalloc(val->n + 1, sizeof(*spec->ports));
	for (size_t i = 0; i < val->n; i++) {
		struct env_port *p = &spec->ports[i];

		spec->n_ports++;
		if (parse_port(v, val->items[i], p) < 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			const struct env_port *q = &spec->ports[j];

			if (p->auto_port && q->auto_port && q->container_port == p->container_port &&
			    strcmp(q->host_ip, p->host_ip) == 0)
				return ENV_AT(v, val->items[i],
					      "port %u is already forwarded from a free host port "
					      "at line %u; one 'auto' forward per port and address",
					      p->container_port, q->line);
			if (!p->auto_port && q->host_port == p->host_port &&
			    (strcmp(q->host_ip, p->host_ip) == 0 ||
			     strcmp(q->host_ip, "0.0.0.0") == 0 ||
			     strcmp(p->host_ip, "0.0.0.0") == 0))
				return ENV_AT(v, val->items[i],
					      "host port %u is already forwarded "
					      "at line %u; each host port can forward once",
					      p->host_port, q->line);
		}
	}
	return 0;
}

/* With `network: host` the env's ports are the host's: nothing to choose. */
int envfile_check_auto_ports(struct env_vctx *v, const struct env_spec *spec)
{
	if (spec->network != ENV_NET_HOST)
		return 0;
	for (size_t i = 0; i < spec->n_ports; i++) {
		const struct env_port *p = &spec->ports[i];

		if (p->auto_port)
			return envfile_at(v, p->line, p->col,
					  "port %u would take a free host port (\"%u\" and "
					  "\"auto:%u\" do), but with 'network: host' (line %u) the "
					  "env's ports are the host's; write \"%u:%u\"",
					  p->container_port, p->container_port, p->container_port,
					  spec->network_line, p->container_port, p->container_port);
	}
	return 0;
}

void envfile_ports_release(struct env_port *ports, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ports[i].host_ip);
	free(ports);
}
