/*
 * hostnet/hostnet.h - an env's networking on the host's side (DESIGN.md:
 * what must live in the host's namespaces is a small host-side process).
 *
 * helper.c   the helper `devenv __net-helper`: hnet_spawn, hnet_wait, hnet_stop
 * port.c     forwards: parse and print, socket addresses, listen, hnet_port_probe
 * holder.c   who holds a taken host port (pid and name), for `up`'s error
 * maker.c    the socket maker in the env's network namespace, and asking it
 * forward.c  the relay loop between the host's ports and the env's
 * confine.c  the helper's and the maker's sandbox (ctr_confine): owner's ids, no caps, seccomp
 * agent.c    the filtering ssh agent's loop (the agent protocol)
 * agent_run.c  starting it: its socket in the env, its sandbox, its end
 * sshfwd.c   a remote env's ports here: `devenv-fwd`, the user's ssh -N -L, restarted
 *
 * Order for `up`: hnet_port_probe() on every forward before anything
 * starts; ctr_start() (with new_netns for `network: private`);
 * hnet_start() (or hnet_spawn() from the clone hook, then hnet_wait());
 * record the helpers in state.json; hnet_stop() at halt. The runtime's own
 * part (`lo` up in a new namespace, slirp4netns for a build step) is in
 * container/netns.c, which the helper uses too.
 */
/* container.h first and outside the guard: until struct env_record leaves
 * container.h (issue 14), that header includes this one for struct
 * hnet_procs, and struct ctr_init must be complete here either way. */
#include "container/container.h"

#ifndef HNET_HOSTNET_H
#define HNET_HOSTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/str.h"

struct hnet_port {
	char *host_ip; /* "127.0.0.1", "0.0.0.0", "::1"... */
	unsigned host_port, container_port;
	bool auto_port; /* the host port was devenv's choice (`auto`: env/net.c) */
};
/* Can host_ip:host_port be bound on this host right now? 0 when free; else
 * -1 with errnum EADDRINUSE (taken), EADDRNOTAVAIL (not an address of
 * this host) or EACCES (a port below 1024 without the right to it). */
int hnet_port_probe(const struct hnet_port *p, struct dv_error *err);
/* holder.c: who holds the host port p asks for, as `ss -ltnp` finds it (its
 * socket in /proc/net/tcp{,6}, then the process with an fd on it): the pid
 * and its name (comm, made printable), or 0 when none is found (without
 * root: any process outside devenv's user namespace, whose fds are not
 * ours to read). *uid: the socket's owner as /proc/net shows it to us (in
 * our user namespace: 65534 for an id it does not map), -1 if no socket
 * was found. For an error message only: it reads all of /proc. */
pid_t hnet_port_holder(const struct hnet_port *p, char *comm, size_t size, long *uid);

/* Who the helper becomes once set up (it keeps no capability either way):
 * set: these ids (as root, the checkout's owner); else its own (without
 * root: root of devenv's user namespace, which is the host user). */
struct hnet_ids {
	bool set;
	uid_t uid;
	gid_t gid;
};
/* What the helper is asked for. */
struct hnet_spec {
	bool private_ns;               /* the env has a network namespace of its own */
	const char *outbound;          /* private: path of slirp4netns or pasta; NULL: none */
	bool pasta;                    /* outbound is pasta */
	const struct hnet_port *ports; /* forwards the helper listens for */
	size_t n_ports;
	struct hnet_ids ids;
};
/* The host-side processes of a started env; pid 0: none. */
struct hnet_procs {
	struct ctr_init helper;   /* the forwarder, parent of slirp4netns */
	struct ctr_init outbound; /* slirp4netns or pasta */
};
/* Start the env's helper (own session, no terminal, no fd of ours; it exits
 * when the init does): slirp4netns/pasta attached to the init's network
 * namespace, ready before this returns, and a listener per port relaying
 * each connection to 127.0.0.1:container_port in the env's network
 * namespace (private) or the host's; then it drops to net->ids with no
 * capability, no_new_privs and a seccomp filter of its own. Nothing is
 * left running on failure. When outbound traffic could not be set up
 * (slirp4netns failed...), the rest still runs and *warning says why (""
 * when all is well). hnet_start() is hnet_spawn() then hnet_wait(). */
int hnet_start(const struct ctr_init *init, const struct hnet_spec *net, struct hnet_procs *out,
	       char *warning, size_t warning_size, struct dv_error *err);
/* The first half: start the helper and return at once with the read end
 * of its report pipe (-1 on failure, err set). The init may still be
 * setting up (its network namespace exists from the clone on: see
 * ctr_spec.on_clone), so the helper's start overlaps the env's. */
int hnet_spawn(const struct ctr_init *init, const struct hnet_spec *net, struct dv_error *err);
/* The second half: wait for the report on fd (which it closes). */
int hnet_wait(int fd, struct hnet_procs *out, char *warning, size_t warning_size,
	      struct dv_error *err);
/* Stop them (a stopped or reused pid is success); returns when gone. */
int hnet_stop(const struct hnet_procs *p, struct dv_error *err);
/* The helper itself: `devenv __net-helper ...` (argv as hnet_start
 * writes it, report pipe on fd 3). Returns the exit status. */
int hnet_helper_main(int argc, char **argv);

/* sshfwd.c: the ports of a remote env (`up --host`) answered here. One
 * forward: bind_ip:local_port here (bind_ip NULL: 127.0.0.1) to
 * 127.0.0.1:remote_port on the remote host (where the remote devenv
 * publishes the env's port). */
struct hnet_fwd_port {
	const char *bind_ip;
	unsigned local_port, remote_port;
};
/* Start `devenv-fwd`: its own session, no fd of ours, the user's
 * environment; it runs `SSH_ARGV... -N -L ... -- DEST` (ssh_argv: NULL
 * terminated, ending "--", DEST; DEST may not start with '-'), without a
 * prompt (BatchMode) and without multiplexing, and returns once ssh listens
 * on every local port (connected, logged in), or with ssh's last line of
 * stderr when it failed (a taken port, a refused login). Afterwards it
 * starts ssh again whenever the link drops (back-off 1 s to 30 s). *pid
 * and *start: what to record and give hnet_sshfwd_stop. */
int hnet_sshfwd_start(const char *const *ssh_argv, const struct hnet_fwd_port *ports, size_t n,
		      pid_t *pid, unsigned long long *start, struct dv_error *err);
/* End it (SIGTERM, then SIGKILL after 3 s) and return once it is gone, its
 * ssh and ports with it; a stopped or reused pid is success. -1 with errno. */
int hnet_sshfwd_stop(pid_t pid, unsigned long long start);
/* The forwarder itself: `devenv __ssh-fwd ...`. Returns the exit status. */
int hnet_sshfwd_main(int argc, char **argv);

/* gitcred.c: `git_credentials`. A relay for one `devenv ssh` session or
 * one `up`'s on_up: a unix socket in the env's /dev/shm (a tmpfs: nothing
 * on the env's disk) served by a child of ours on the host, which answers
 * git's `credential-cache` protocol with the host's `git credential
 * fill` for the listed hosts only (approve and reject only of what it
 * gave). Own session, no capability, no_new_privs, a seccomp filter; it
 * removes the socket and exits when hnet_gitcred_stop() closes its
 * lifeline, or when we die. */
struct hnet_gitcred {
	pid_t pid;     /* the relay; 0: none */
	int lifeline;  /* our end; -1: none */
	char path[64]; /* the socket as the env sees it */
};
/* Start it for the running env of init; -1 with err (nothing left). */
int hnet_gitcred_start(const struct ctr_init *init, const struct dv_strv *hosts,
		       struct hnet_gitcred *out, struct dv_error *err);
/* Point git in the env at it: GIT_CONFIG_COUNT (one more than envp has)
 * and GIT_CONFIG_KEY_n/VALUE_n for credential.helper. */
void hnet_gitcred_envp(const struct hnet_gitcred *r, struct dv_strv *envp);
/* End it and wait for it; a zeroed or stopped one is fine. */
void hnet_gitcred_stop(struct hnet_gitcred *r);
/* The filtering ssh agent (agent.c, agent_run.c; README "ssh_agent").
 * Which keys an env may use from the developer's agent: */
enum hnet_agent_mode { HNET_AGENT_ALL = 1, HNET_AGENT_LIST, HNET_AGENT_CONFIRM };
struct hnet_agent_policy {
	enum hnet_agent_mode mode;
	const char *const *keys; /* LIST: key comments or "SHA256:..." fingerprints */
	size_t n_keys;
	const char *env_name; /* in log lines and prompts */
	const char *who;      /* "ssh", "on_up", "step 2": in log lines */
	int log_fd;           /* the env's log (O_APPEND); -1: none */
	int tty_fd;           /* confirm: the terminal to ask on; -1: none (refuse) */
	int hold_fd;          /* confirm: the relay of that terminal (ctr_exec's hold_fd),
				 held while we ask; -1: none */
};
/* A running filter; pid 0: none. */
struct hnet_agent {
	pid_t pid;
	int life;      /* the write end of its lifeline: closing it ends the filter */
	char path[96]; /* SSH_AUTH_SOCK inside the env */
	int shm, dir;  /* the env's /dev/shm and the socket's folder there (-1: none) */
};
#define HNET_AGENT_INIT \
	{ \
		.pid = 0, .life = -1, .path = "", .shm = -1, .dir = -1 \
	}
/* Serve the env of init (a running env's init; its user and mount
 * namespaces) with a filter of the developer's agent at `upstream` (their
 * SSH_AUTH_SOCK): a socket of the filter's own, bound at a fresh folder of
 * the env's /dev/shm (a tmpfs: nothing reaches a layer), out->path; the
 * filter a child of ours in a session of its own, with no capability,
 * no_new_privs and a seccomp filter, holding one connection to the
 * developer's agent, the socket, pol->log_fd and pol->tty_fd, and ending
 * with us (or hnet_agent_stop). When upstream is NULL or cannot be
 * reached, nothing starts (out->pid 0) and *warning says why; -1 only when
 * devenv itself failed. pol's fds stay the caller's to close. */
int hnet_agent_start(const struct ctr_init *init, const char *upstream,
		     const struct hnet_agent_policy *pol, const struct hnet_ids *ids,
		     struct hnet_agent *out, char *warning, size_t warning_size,
		     struct dv_error *err);
/* The same for a build step, whose container is not running yet: the
 * socket at the host folder dir (agent.sock), which the caller binds into
 * the step's container at `inside` (out->path: inside/agent.sock). */
int hnet_agent_start_in(int dir, const char *inside, const char *upstream,
			const struct hnet_agent_policy *pol, const struct hnet_ids *ids,
			struct hnet_agent *out, char *warning, size_t warning_size,
			struct dv_error *err);
/* End it, wait, and remove its socket (nothing to do for a zeroed one
 * whose fds are -1); a->pid 0 after. */
void hnet_agent_stop(struct hnet_agent *a);
/* The filter's loop (agent.c): until life_fd reads EOF. Returns the exit
 * status. */
int hnet_agent_serve(const struct hnet_agent_policy *pol, int listen_fd, int upstream, int life_fd);
/* "SHA256:" and the unpadded base64 of the blob's sha256, as ssh-keygen -l. */
#define HNET_AGENT_FP_MAX 51
void hnet_agent_fingerprint(const unsigned char *blob, size_t len, char out[HNET_AGENT_FP_MAX]);

#endif
