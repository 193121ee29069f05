/*
 * env/net.c - the Envfile's `network` and `ports` for an env's life:
 * checked before `up` starts anything, the host-side helper started after
 * the init and recorded in state.json, stopped at halt.
 *
 * Which forwards need a helper: every one for `network: private`; for
 * `host`, only those whose two ports differ (with equal ports the app binds
 * the host's port itself).
 *
 * `auto` ports ("8000", "auto:8000"): env_net_check chooses each one's
 * host port into the spec, stable per checkout: the one its last start
 * recorded while that is free, else from a start derived from the env id
 * and the container port (auto_start) the first free one of 20000-29999
 * that no other env of the store records. A port another program bound
 * between the choice and the helper's bind fails `up` as any taken port.
 */
#include <errno.h>
#include <stdint.h>
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

/* The range `auto` ports come from: below Linux's ephemeral ports
 * (32768-60999), where outgoing connections would take them, and above
 * most servers' habits (8000, 8080, 5432...). */
#define AUTO_FIRST 20000u
#define AUTO_SPAN 10000u

/* Where an `auto` port's search starts: the same for a checkout (its env
 * id) and a container port every time, another for another checkout. */
static unsigned auto_start(const char *id, unsigned container_port)
{
	char key[32];
	uint32_t h = 2166136261u; /* FNV-1a */

	snprintf(key, sizeof(key), "%s:%u", id, container_port);
	for (const char *c = key; *c; c++) {
		h ^= (unsigned char)*c;
		h *= 16777619u;
	}
	return AUTO_FIRST + h % AUTO_SPAN;
}

/* Is port a host port of another entry of this Envfile (an explicit one,
 * or an `auto` one chosen before entry i)? */
static bool taken_by_spec(const struct env_spec *spec, size_t i, unsigned port)
{
	for (size_t j = 0; j < spec->n_ports; j++)
		if (j != i && spec->ports[j].host_port == port &&
		    (!spec->ports[j].auto_port || j < i))
			return true;
	return false;
}

/* Is port recorded by another env of the store (running, or halted and
 * to come back to it)? */
static bool taken_by_others(const struct env_record *others, size_t n, const char *id, unsigned port)
{
	for (size_t k = 0; k < n; k++)
		for (size_t j = 0; j < others[k].n_ports; j++)
			if (others[k].ports[j].host_port == port && strcmp(others[k].id, id) != 0)
				return true;
	return false;
}

/* 0 when host_ip:port can be bound now, else the errno. */
static int probe(const char *host_ip, unsigned port, struct dv_error *why)
{
	struct hnet_port cp = { (char *)host_ip, port, 1, false };

	return hnet_port_probe(&cp, why) == 0 ? 0 : why->errnum ? why->errnum : EIO;
}

/* by: who holds p's host port, as ", held by ..." (empty if unknown): an
 * env of this store (its forwarder; found from state.json too, where
 * without root its fds are not ours to read), else a process, else (without
 * root) whose it is. */
static void holder(const struct layer_store *st, const struct env_port *p, char *by, size_t size)
{
	struct hnet_port cp = { p->host_ip, p->host_port, p->container_port, false };
	struct env_record *envs = NULL;
	size_t n = 0;
	char comm[64];
	long uid;
	pid_t pid = hnet_port_holder(&cp, comm, sizeof(comm), &uid);

	by[0] = '\0';
	if (uid < 0)
		return; /* no socket of our network namespace */
	if (pid)
		snprintf(by, size, ", held by pid %d (%s)", (int)pid, comm);
	else if (!dv_userns_is_initial())
		snprintf(by, size, ", held by %s ('ss -ltnp' names it)",
			 uid == 0 ? "a process of yours" : "another user's process");
	if ((pid && strcmp(comm, "devenv-net") != 0) ||
	    env_list(st, NULL, &envs, &n, &(struct dv_error){ 0 }) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct env_record *e = &envs[i];
		bool forwards = false;

		for (size_t j = 0; j < e->n_ports; j++)
			forwards |= e->ports[j].host_port == p->host_port;
		if (forwards && e->net.helper.pid && (pid ? e->net.helper.pid == pid : true) &&
		    ctr_probe(&e->net.helper) != CTR_STOPPED)
			snprintf(by, size, ", held by env '%s' (its forwarder, pid %d)", e->name,
				 (int)e->net.helper.pid);
	}
	for (size_t i = 0; i < n; i++)
		env_record_release(&envs[i]);
	free(envs);
}

/* The one line for a forward that cannot be bound (why from probe). */
static int port_error(const struct layer_store *st, const struct env_spec *spec,
		      const struct env_port *p, const struct dv_error *why, struct dv_error *err)
{
	if (why->errnum == EADDRINUSE) {
		char by[160];
		bool v6 = strchr(p->host_ip, ':') != NULL;
		bool dflt = strcmp(p->host_ip, "127.0.0.1") == 0;

		holder(st, p, by, sizeof(by));
		return dv_err_at(err, spec->display, p->line, p->col,
				 "port %u on %s is already in use on this host%s; free it, or "
				 "write \"%s%s%s%sauto:%u\" for a free port of devenv's choosing",
				 p->host_port, p->host_ip, by, v6 ? "[" : "", dflt ? "" : p->host_ip,
				 v6 ? "]" : "", dflt ? "" : ":", p->container_port);
	}
	if (why->errnum == EADDRNOTAVAIL)
		return dv_err_at(err, spec->display, p->line, p->col,
				 "%s is not an address of this host; use 127.0.0.1, or "
				 "0.0.0.0 for every interface",
				 p->host_ip);
	if (why->errnum == EACCES)
		return dv_err_at(err, spec->display, p->line, p->col,
				 "port %u on %s needs root to be bound on this host; use a "
				 "host port from 1024 up, e.g. \"%u:%u\"",
				 p->host_port, p->host_ip,
				 p->host_port + 8000 > 65535 ? 8000 : p->host_port + 8000,
				 p->container_port);
	return dv_err_at(err, spec->display, p->line, p->col, "port %u on %s: %s", p->host_port,
			 p->host_ip, why->msg);
}

/* The host port this env's last start chose for p, or 0. */
static unsigned previous(const struct env *env, const struct env_port *p)
{
	if (!env->has_state)
		return 0;
	for (size_t i = 0; i < env->state.n_ports; i++) {
		const struct hnet_port *q = &env->state.ports[i];

		if (q->auto_port && q->container_port == p->container_port &&
		    strcmp(q->host_ip, p->host_ip) == 0)
			return q->host_port;
	}
	return 0;
}

/* Choose each `auto` entry's host port: the one of the last start while it
 * is free, else the first free one from auto_start() on (wrapping in the
 * range), past the ports this Envfile and the store's other envs hold. */
static int choose_auto(const struct layer_store *st, struct env *env, struct dv_error *err)
{
	struct env_spec *spec = &env->spec;
	struct env_record *others = NULL;
	size_t n_others = 0;
	bool listed = false;
	int ret = 0;

	for (size_t i = 0; i < spec->n_ports && ret == 0; i++) {
		struct env_port *p = &spec->ports[i];
		unsigned port = previous(env, p), first;
		struct dv_error why = { 0 };
		int e;

		if (!p->auto_port)
			continue;
		p->host_port = 0;
		if (port && !taken_by_spec(spec, i, port) && probe(p->host_ip, port, &why) == 0) {
			p->host_port = port;
			continue;
		}
		if (!listed) {
			listed = true;
			env_list(st, NULL, &others, &n_others, &(struct dv_error){ 0 });
		}
		first = auto_start(env->id, p->container_port);
		for (unsigned k = 0; k < AUTO_SPAN; k++) {
			port = AUTO_FIRST + (first - AUTO_FIRST + k) % AUTO_SPAN;
			if (taken_by_spec(spec, i, port) ||
			    taken_by_others(others, n_others, env->id, port))
				continue;
			memset(&why, 0, sizeof(why));
			e = probe(p->host_ip, port, &why);
			if (e == 0) {
				p->host_port = port;
				break;
			}
			if (e != EADDRINUSE) { /* not an address of ours...: no port will do */
				p->host_port = port;
				ret = port_error(st, spec, p, &why, err);
				p->host_port = 0;
				break;
			}
		}
		if (!p->host_port && ret == 0)
			ret = dv_err_at(err, spec->display, p->line, p->col,
					"no free host port on %s from %u to %u for port %u; free one, "
					"or give the host side (\"%u:%u\" with a free port)",
					p->host_ip, AUTO_FIRST, AUTO_FIRST + AUTO_SPAN - 1,
					p->container_port, AUTO_FIRST, p->container_port);
	}
	for (size_t k = 0; k < n_others; k++)
		env_record_release(&others[k]);
	free(others);
	return ret;
}

static int check_ports(const struct layer_store *st, const struct env_spec *spec,
		       struct dv_error *err)
{
	for (size_t i = 0; i < spec->n_ports; i++) {
		const struct env_port *p = &spec->ports[i];
		struct dv_error why = { 0 };

		if (!p->auto_port && probe(p->host_ip, p->host_port, &why) != 0)
			return port_error(st, spec, p, &why, err);
	}
	return 0;
}

int env_net_check(const struct layer_store *st, struct env *env, struct dv_error *err)
{
	if (check_ports(st, &env->spec, err) < 0 || choose_auto(st, env, err) < 0) {
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
						  p->container_port, p->auto_port };
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
