/*
 * hostnet/internal.h - what the files of hostnet/ share (the file map is
 * in hostnet.h); nothing outside the folder but its unit test includes it.
 */
#ifndef HNET_INTERNAL_H
#define HNET_INTERNAL_H

#include <stdbool.h>
#include <sys/socket.h>

#include "hostnet/hostnet.h"
#include "util/error.h"
#include "util/str.h"

/* port.c. ip:port as a socket address; -1 when ip is not an IP literal. */
int hnet_port_sockaddr(const char *ip, unsigned port, struct sockaddr_storage *ss, socklen_t *len);
/* The helper's argv form of a port, "IP,HOST,CONTAINER" (caller frees), and
 * back (out->host_ip points into arg, which is cut); -1 when malformed. */
char *hnet_port_to_arg(const struct hnet_port *p);
int hnet_port_from_arg(char *arg, struct hnet_port *out);
/* A non-blocking socket listening on p's host side. */
int hnet_port_listen(const struct hnet_port *p, struct dv_error *err);

/* sshfwd.c: the ssh command line the forwarder runs (appended to out):
 * ssh_argv's options, the forwarder's own, one -L per port, "--", DEST.
 * -1 when ssh_argv does not end "-- DEST" or DEST starts with '-', or a
 * port is malformed. */
struct hnet_fwd_port;
int hnet_sshfwd_argv(const char *const *ssh_argv, const struct hnet_fwd_port *ports, size_t n,
		     struct dv_strv *out, struct dv_error *err);

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

/* gitcred_proto.c: the credential relay's requests and answers (gitcred.c
 * does the I/O). */
enum hnet_cred_op { HNET_CRED_GET, HNET_CRED_STORE, HNET_CRED_ERASE };
struct hnet_cred {
	enum hnet_cred_op op;
	char *protocol, *host, *path, *username, *password; /* NULL: not given */
};
void hnet_cred_release(struct hnet_cred *c);
bool hnet_cred_host_listed(const char *host, const struct dv_strv *hosts);
/* A request from `git credential-cache` in the env (buf: all it sent):
 * 0 and *out (release it) when it may go to the host's git; -1 and *why
 * (static text) when refused. */
int hnet_cred_parse(const char *buf, size_t len, const struct dv_strv *hosts, struct hnet_cred *out,
		    const char **why);
/* The input of `git credential fill|approve|reject`: protocol, host, path,
 * and with with_user the username and password (caller frees). */
char *hnet_cred_format(const struct hnet_cred *c, bool with_user);
/* The username and password of `git credential fill`'s output (both, or
 * -1 and neither; clean values only; caller frees). */
int hnet_cred_answer(const char *buf, size_t len, char **user, char **pass);

#endif
