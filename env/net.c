/*
 * env/net.c - the Envfile's `network` and `ports` for an env's life:
 * checked before `up` starts anything, the host-side helper started after
 * the init and recorded in state.json, stopped at halt.
 *
 * Which forwards need a helper: every one for `network: private`; for
 * `host`, only those whose two ports differ (with equal ports the app binds
 * the host's port itself).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env/env.h"
#include "util/userns.h"
#include "util/banned.h"

static bool needs_forward(const struct env_spec *spec, const struct env_port *p)
{
	return spec->network == ENV_NET_PRIVATE || p->host_port != p->container_port;
}

static int check_ports(const struct env_spec *spec, struct dv_error *err)
{
	for (size_t i = 0; i < spec->n_ports; i++) {
		const struct env_port *p = &spec->ports[i];
		struct hnet_port cp = { p->host_ip, p->host_port, p->container_port };
		struct dv_error why = { 0 };
		char alt[32];

		if (hnet_port_probe(&cp, &why) == 0)
			continue;
		snprintf(alt, sizeof(alt), "%u:%u", p->host_port < 65535 ? p->host_port + 1 : 1024,
			 p->container_port);
		if (why.errnum == EADDRINUSE)
			return dv_err_at(err, spec->display, p->line, p->col,
					 "port %u on %s is already in use on this host; free it or "
					 "change the host side, e.g. \"%s\"",
					 p->host_port, p->host_ip, alt);
		if (why.errnum == EADDRNOTAVAIL)
			return dv_err_at(err, spec->display, p->line, p->col,
					 "%s is not an address of this host; use 127.0.0.1, or "
					 "0.0.0.0 for every interface",
					 p->host_ip);
		if (why.errnum == EACCES)
			return dv_err_at(err, spec->display, p->line, p->col,
					 "port %u on %s needs root to be bound on this host; use a "
					 "host port from 1024 up, e.g. \"%u:%u\"",
					 p->host_port, p->host_ip,
					 p->host_port + 8000 > 65535 ? 8000 : p->host_port + 8000,
					 p->container_port);
		return dv_err_at(err, spec->display, p->line, p->col, "port %u on %s: %s",
				 p->host_port, p->host_ip, why.msg);
	}
	return 0;
}

int env_net_check(const struct env_spec *spec, struct dv_error *err)
{
	if (check_ports(spec, err) < 0) {
		err->status = 1; /* the host's state, not the Envfile, is at fault */
		return -1;
	}
	return 0;
}

void env_net_prepare(const struct env_spec *spec, struct env_record *s, struct env_net *out)
{
	struct hnet_spec *net = &out->net;
	struct hnet_port *fw = dv_xcalloc(spec->n_ports + 1, sizeof(*fw));
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->name = spec->name;
	net->private_ns = spec->network == ENV_NET_PRIVATE;
	net->ports = fw;
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].host_ip);
	free(s->ports);
	free(s->network);
	s->network = dv_xstrdup(net->private_ns ? "private" : "host");
	s->ports = dv_xcalloc(spec->n_ports + 1, sizeof(*s->ports));
	s->n_ports = spec->n_ports;
	memset(&s->net, 0, sizeof(s->net));
	for (size_t i = 0; i < spec->n_ports; i++) {
		const struct env_port *p = &spec->ports[i];

		s->ports[i] = (struct hnet_port){ dv_xstrdup(p->host_ip), p->host_port,
						  p->container_port };
		if (needs_forward(spec, p))
			fw[net->n_ports++] = s->ports[i];
	}
	if (net->private_ns) {
		char why[256];
		const char *fix = "";

		net->outbound = prov_outbound_tool(&net->pasta, why, sizeof(why), &fix);
		if (!net->outbound && prov_outbound_say_once())
			snprintf(out->warning, sizeof(out->warning),
				 "%s; the env has no outbound network (%s)", why, fix);
	}
	/* Once set up, the helper runs as the checkout's owner; without root
	 * it stays root of our user namespace, which is the host user. */
	if (dv_userns_is_initial())
		net->ids = (struct hnet_ids){ true, s->host_uid, s->host_gid };
	out->needed = net->n_ports || net->outbound;
}

void env_net_on_clone(const struct ctr_init *init, void *arg)
{
	struct env_net *pn = arg;

	/* The init to be: its network namespace exists already. */
	if (pn->needed && pn->fd < 0)
		pn->fd = hnet_spawn(init, &pn->net, &pn->err);
}

int env_net_finish(struct env_net *pn, struct env_record *s, bool started, struct dv_error *err)
{
	char warning[512] = "";
	int ret = 0;

	memset(&s->net, 0, sizeof(s->net));
	if (pn->needed && started && pn->fd < 0 && !dv_err_isset(&pn->err))
		env_net_on_clone(&s->init, pn); /* no hook ran: start it now */
	if (pn->fd >= 0) {
		ret = hnet_wait(pn->fd, &s->net, warning, sizeof(warning), err);
		pn->fd = -1;
	} else if (pn->needed && started) {
		*err = pn->err;
		ret = -1;
	}
	if (!started) {
		/* It may have started on a child that then failed: gone with
		 * it, but not yet perhaps. */
		struct dv_error ignored = { 0 };

		hnet_stop(&s->net, &ignored);
		memset(&s->net, 0, sizeof(s->net));
		return 0;
	}
	if (ret < 0)
		return dv_err_prefix(err, "network of env '%s'", pn->name);
	if (pn->warning[0])
		fprintf(stderr, "devenv: warning: network: private: %s\n", pn->warning);
	if (warning[0])
		fprintf(stderr, "devenv: warning: network: private: %s\n", warning);
	return 0;
}

void env_net_release(struct env_net *pn)
{
	if (pn->fd >= 0)
		close(pn->fd);
	free((char *)pn->net.outbound);
	free((void *)pn->net.ports);
	memset(pn, 0, sizeof(*pn));
	pn->fd = -1;
}

void env_net_stop(struct env_record *s)
{
	struct dv_error warn = { 0 };

	if (!s->net.helper.pid && !s->net.outbound.pid)
		return;
	if (hnet_stop(&s->net, &warn) < 0)
		fprintf(stderr, "devenv: warning: %s\n", warn.msg);
	else
		memset(&s->net, 0, sizeof(s->net));
}
