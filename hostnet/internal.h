/*
 * hostnet/internal.h - what the files of hostnet/ share (the file map is
 * in hostnet.h); nothing outside the folder but its unit test includes it.
 */
#ifndef HNET_INTERNAL_H
#define HNET_INTERNAL_H

#include <sys/socket.h>

#include "hostnet/hostnet.h"
#include "util/error.h"

/* port.c. ip:port as a socket address; -1 when ip is not an IP literal. */
int hnet_port_sockaddr(const char *ip, unsigned port, struct sockaddr_storage *ss, socklen_t *len);
/* The helper's argv form of a port, "IP,HOST,CONTAINER" (caller frees), and
 * back (out->host_ip points into arg, which is cut); -1 when malformed. */
char *hnet_port_to_arg(const struct hnet_port *p);
int hnet_port_from_arg(char *arg, struct hnet_port *out);
/* A non-blocking socket listening on p's host side. */
int hnet_port_listen(const struct hnet_port *p, struct dv_error *err);

/* maker.c. Fork the socket maker: a child that joins the network
 * namespace netfd (which it closes; the caller closes its own), drops to
 * ids (hnet_confine) and hands out sockets made there. *sock: our end of
 * the pair; *pid: the child. -1 with err filled. */
int hnet_maker_start(int netfd, const struct hnet_ids *ids, int *sock, pid_t *pid,
		     struct dv_error *err);
/* A new non-blocking TCP socket of `family` from the socket maker at the
 * other end of sock (a child in the env's network namespace); -1 if none. */
int hnet_socket_from(int sock, int family);

/* confine.c: drop to ids with no capability for good, no_new_privs, and
 * the relay's seccomp allow-list (the helper, its socket maker). */
int hnet_confine(const struct hnet_ids *ids, struct dv_error *err);

/* forward.c. Relay every connection accepted on listeners[i] to 127.0.0.1:
 * ports[i].container_port, made by `maker` (>= 0: in the env's network
 * namespace) or here; until the process behind init_pidfd exits or
 * SIGTERM/SIGINT/SIGHUP. */
int hnet_forward_run(const struct hnet_port *ports, const int *listeners, size_t n, int init_pidfd,
		     int maker);

#endif
