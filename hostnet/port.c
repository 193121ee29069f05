/*
 * hostnet/port.c - a forward (`ports:` entry) on the host's side: its
 * socket address, its form on the helper's command line, the listening
 * socket, and the probe `up` makes before anything starts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

int hnet_port_sockaddr(const char *ip, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

char *hnet_port_to_arg(const struct hnet_port *p)
{
	return dv_xasprintf("%s,%u,%u", p->host_ip, p->host_port, p->container_port);
}

/* A port number 1..65535 spelt in decimal and nothing else; 0 if not. */
static unsigned port_num(const char *s)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	return errno || *end || v < 1 || v > 65535 ? 0 : (unsigned)v;
}

int hnet_port_from_arg(char *arg, struct hnet_port *out)
{
	/* From the right: an IPv6 address has colons, never commas. */
	char *c1 = strrchr(arg, ','), *c2;
	struct sockaddr_storage ss;
	socklen_t len;

	if (!c1)
		return -1;
	*c1 = 0;
	c2 = strrchr(arg, ',');
	if (!c2)
		return -1;
	*c2 = 0;
	*out = (struct hnet_port){ arg, port_num(c2 + 1), port_num(c1 + 1), false };
	if (!out->host_port || !out->container_port || hnet_port_sockaddr(arg, 1, &ss, &len) < 0)
		return -1;
	return 0;
}

int hnet_port_listen(const struct hnet_port *p, struct dv_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	dv_autoclose int fd = -1;
	int one = 1;

	if (hnet_port_sockaddr(p->host_ip, p->host_port, &ss, &len) < 0)
		return dv_err(err, EINVAL, "'%s' is not an IP address", p->host_ip);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return dv_err(err, errno, "socket");
	/* As every server does: a connection of a moment ago in TIME_WAIT
	 * does not make the port "in use". */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0)
		return dv_err(err, errno, "cannot listen on %s:%u", p->host_ip, p->host_port);
	return dv_steal_fd(&fd);
}

int hnet_port_probe(const struct hnet_port *p, struct dv_error *err)
{
	int fd = hnet_port_listen(p, err);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}
