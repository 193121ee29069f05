/*
 * container/net.c - an env's networking on the host's side: the port probe,
 * `lo` in a new network namespace, and the env's helper process.
 *
 * The helper is devenv itself, re-executed as `devenv __net-helper` in a
 * session of its own (so a closing terminal does not kill it) with nothing
 * of `up` but a report pipe: no store lock, no env lock, a fresh and small
 * address space. It
 *  - starts slirp4netns (or pasta) on the init's network namespace, holding
 *    slirp4netns's exit fd, so that outbound traffic dies with the helper;
 *  - for `network: private`, forks a child that joins the env's network
 *    namespace and makes sockets there on request (a socket stays in the
 *    namespace it was made in; without root we could not setns back);
 *  - listens on every forwarded host port and relays (forward.c);
 *  - then, and its socket maker once in the env's namespace, keeps no
 *    privilege: the checkout owner's ids, no capability, no_new_privs, a
 *    seccomp allow-list (net_confine.c);
 *  - exits when the init does (a pidfd in its poll set) or on SIGTERM.
 * It reports "ready" or its first error through fd 3. `up` starts it as
 * soon as the init's namespaces exist (ctr_net_spawn from the clone hook)
 * and reads the report once the init runs (ctr_net_wait), so that its
 * start and slirp4netns's overlap the init's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

int ctr_port_sockaddr(const char *ip, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
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

char *ctr_port_to_arg(const struct ctr_port *p)
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

int ctr_port_from_arg(char *arg, struct ctr_port *out)
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
	*out = (struct ctr_port){ arg, port_num(c2 + 1), port_num(c1 + 1) };
	if (!out->host_port || !out->container_port || ctr_port_sockaddr(arg, 1, &ss, &len) < 0)
		return -1;
	return 0;
}

int ctr_port_listen(const struct ctr_port *p, struct dv_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	dv_autoclose int fd = -1;
	int one = 1;

	if (ctr_port_sockaddr(p->host_ip, p->host_port, &ss, &len) < 0)
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

int ctr_port_probe(const struct ctr_port *p, struct dv_error *err)
{
	int fd = ctr_port_listen(p, err);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int lo_up(struct dv_error *err)
{
	dv_autoclose int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (fd < 0)
		return dv_err(err, errno, "socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return dv_err(err, errno, "cannot read the flags of 'lo'");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return dv_err(err, errno, "cannot bring 'lo' up");
	return 0;
}

/* The lowest and highest group id our user namespace maps, as
 * "LOW\tHIGH"; every gid (Docker's range) in the host's. */
static void mapped_gids(char *out, size_t size)
{
	char buf[1024];
	dv_autoclose int fd = open("/proc/self/gid_map", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	unsigned long lo = ~0UL, hi = 0;
	char *p = buf, *end;

	if (n > 0)
		buf[n] = 0;
	while (n > 0 && *p) {
		unsigned long inside = strtoul(p, &end, 10), count;

		if (end == p)
			break;
		strtoul(end, &p, 10); /* the outside id */
		count = strtoul(p, &end, 10);
		if (end == p)
			break;
		p = end;
		/* the initial namespace's identity map: 0 4294967295 */
		if (count > 2147483648UL)
			count = 2147483648UL - inside;
		if (count && inside < lo)
			lo = inside;
		if (count && inside + count - 1 > hi)
			hi = inside + count - 1;
	}
	if (lo > hi)
		lo = hi = 0;
	snprintf(out, size, "%lu\t%lu", lo, hi);
}

int ctr_netns_setup(struct dv_error *err)
{
	char range[64];
	dv_autoclose int fd = -1;

	if (lo_up(err) < 0)
		return -1;
	/* ping without CAP_NET_RAW, through ICMP datagram sockets, for every
	 * group of the env (Docker does the same outside the host's network;
	 * rootless, only ids our user namespace maps can be named, as
	 * podman's rootless default). Nothing else in this namespace but the
	 * env is concerned. Where devenv itself runs with /proc/sys read-only
	 * (in a container of its own), ping needs NET_RAW, and that is all. */
	mapped_gids(range, sizeof(range));
	fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);
	if (fd < 0 && (errno == EROFS || errno == EACCES || errno == ENOENT))
		return 0;
	if (fd < 0 || write(fd, range, strlen(range)) < 0)
		return dv_err(err, errno, "cannot set net.ipv4.ping_group_range in the env's network namespace");
	return 0;
}

/* What the helper says on fd 3 once: ready (err.msg empty) or why not. */
struct net_report {
	pid_t helper, outbound;
	struct dv_error err;
	char warning[512];
};

static void report(int fd, const struct net_report *r)
{
	ssize_t n = write(fd, r, sizeof(*r));

	(void)n;
	close(fd);
}

/* The child in the env's network namespace: one new TCP socket per byte
 * asked for ('4' or '6'), passed back with SCM_RIGHTS. */
static _Noreturn void socket_maker(int sock, int netfd, const struct ctr_net_ids *ids)
{
	struct dv_error err = { 0 };
	char want;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (setns(netfd, CLONE_NEWNET) < 0)
		_exit(1);
	close(netfd);
	/* In the env's namespace for good: nothing more to be allowed. */
	if (ctr_net_confine(ids, &err) < 0)
		_exit(1);
	while (recv(sock, &want, 1, 0) == 1) {
		int s = socket(want == '6' ? AF_INET6 : AF_INET,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (dv_send_fd(sock, &want, 1, s) < 0)
			_exit(1);
		if (s >= 0)
			close(s);
	}
	_exit(0);
}

int ctr_net_socket_from(int sock, int family)
{
	char want = family == AF_INET6 ? '6' : '4', got;
	int fd;

	if (send(sock, &want, 1, MSG_NOSIGNAL) != 1 || dv_recv_fd(sock, &got, 1, &fd) != 1)
		return -1;
	return fd;
}

/* The first line a failed tool wrote to fd (a memfd; slirp4netns says what
 * failed first, then "child failed"), or a placeholder. */
static const char *first_line(int fd, char *buf, size_t size)
{
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, size - 1, 0);

	if (n <= 0)
		return "it said nothing";
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

/* Start slirp4netns (ready fd) or pasta (which daemonises once configured)
 * on pid's network namespace. *out: its pid. The exit fd's write end stays
 * with the helper, so slirp4netns ends with it. */
static int start_outbound(const struct ctr_net *net, pid_t pid, int *exit_w, pid_t *out,
			  struct dv_error *err)
{
	int exitp[2], readyp[2];
	char msg[256];
	char a_exit[32], a_ready[32], a_pid[32], a_ns[64], a_pidfile[64];
	dv_autoclose int pidfile = -1;
	/* Its complaints, for our error message. */
	dv_autoclose int errlog = memfd_create("devenv-outbound-err", MFD_CLOEXEC);
	pid_t child;
	int st;

	if (pipe2(exitp, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	if (pipe2(readyp, O_CLOEXEC) < 0) {
		close(exitp[0]);
		close(exitp[1]);
		return dv_err(err, errno, "pipe");
	}
	if (net->pasta) {
		pidfile = memfd_create("devenv-pasta-pid", MFD_CLOEXEC);
		if (pidfile < 0) {
			dv_err(err, errno, "memfd_create");
			goto fail_pipes;
		}
	}
	snprintf(a_exit, sizeof(a_exit), "--exit-fd=%d", exitp[0]);
	snprintf(a_ready, sizeof(a_ready), "--ready-fd=%d", readyp[1]);
	snprintf(a_pid, sizeof(a_pid), "%d", (int)pid);
	snprintf(a_ns, sizeof(a_ns), "/proc/%d/ns/net", (int)pid);
	snprintf(a_pidfile, sizeof(a_pidfile), "/proc/self/fd/%d", pidfile);
	child = fork();
	if (child < 0) {
		dv_err(err, errno, "fork");
		if (pidfile >= 0)
			close(pidfile);
		goto fail_pipes;
	}
	if (child == 0) {
		/* As podman starts it: --enable-sandbox (its own mount
		 * namespace on an empty root, capabilities dropped) and
		 * --enable-seccomp (its deny-list), once tap0 is set up. */
		char *slirp[] = { (char *)net->outbound, "--configure", "--mtu=65520",
				  "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
				  a_exit, a_ready, a_pid, "tap0", NULL };
		/* pasta as slirp4netns sets it up: 10.0.2.100/24, gateway
		 * 10.0.2.2, DNS 10.0.2.3; nothing of the host's loopback. */
		char *pasta[] = { (char *)net->outbound, "--config-net", "--quiet", "--address",
				  "10.0.2.100", "--netmask", "24", "--gateway", "10.0.2.2",
				  "--dns-forward", "10.0.2.3", "--no-map-gw", "--ipv4-only",
				  "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--pid",
				  a_pidfile, "--netns", a_ns, NULL };

		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		/* What it says on stdout is for people; its complaints, ours. */
		if (null >= 0)
			dup2(null, 1);
		if (errlog >= 0)
			dup2(errlog, 2);
		fcntl(exitp[0], F_SETFD, 0);
		fcntl(readyp[1], F_SETFD, 0);
		if (pidfile >= 0)
			fcntl(pidfile, F_SETFD, 0);
		if (!net->pasta)
			prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* slirp4netns's sandbox makes only "/" private in the mount
		 * namespace it unshares, then detaches the old root: where our
		 * mounts are shared (systemd's default), that unmount would
		 * reach their peers, the host's /sys, /proc, cgroups... So it
		 * starts from a namespace of ours where every mount is
		 * private. (Without root, one owned by our user namespace
		 * already has them as slaves, which the kernel never lets
		 * propagate back; this costs that case nothing either.) */
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(126);
		execv(net->outbound, net->pasta ? pasta : slirp);
		_exit(127);
	}
	close(exitp[0]);
	close(readyp[1]);
	if (net->pasta) { /* it daemonises: no exit fd to hold, its pid from the pid file */
		char buf[32] = "";
		ssize_t n;
		int r = 0;

		close(exitp[1]);
		close(readyp[0]);
		if (dv_waitpid(child, &st, err) < 0)
			r = -1;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			r = dv_err(err, 0, "pasta failed to set up the env's network: %s",
				   first_line(errlog, msg, sizeof(msg)));
		n = r == 0 ? pread(pidfile, buf, sizeof(buf) - 1, 0) : 0;
		*out = n > 0 ? (pid_t)atoi(buf) : 0;
		close(pidfile);
		return r;
	}
	*exit_w = exitp[1];
	{
		struct pollfd p = { .fd = readyp[0], .events = POLLIN };
		char c = 0;
		int r;

		do
			r = poll(&p, 1, 10000);
		while (r < 0 && errno == EINTR);
		if (r <= 0 || read(readyp[0], &c, 1) != 1 || c != '1') {
			close(readyp[0]);
			close(exitp[1]);
			*exit_w = -1;
			kill(child, SIGKILL);
			dv_waitpid(child, &st, &(struct dv_error){ 0 });
			return dv_err(err, 0, "slirp4netns failed to set up the env's network: %s",
				      first_line(errlog, msg, sizeof(msg)));
		}
		close(readyp[0]);
	}
	*out = child;
	return 0;
fail_pipes:
	close(exitp[0]);
	close(exitp[1]);
	close(readyp[0]);
	close(readyp[1]);
	return -1;
}

/* "UID:GID" -> ids->set; "-" -> not; -1 when malformed. */
static int ids_from_arg(const char *arg, struct ctr_net_ids *ids)
{
	char *end;
	unsigned long u, g;

	memset(ids, 0, sizeof(*ids));
	if (!strcmp(arg, "-"))
		return 0;
	errno = 0;
	u = strtoul(arg, &end, 10);
	if (errno || end == arg || *end != ':')
		return -1;
	arg = end + 1;
	g = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || u >= 0xffffffffUL || g >= 0xffffffffUL)
		return -1;
	*ids = (struct ctr_net_ids){ true, (uid_t)u, (gid_t)g };
	return 0;
}

int ctr_outbound_start(const char *tool, bool pasta, pid_t pid, int *exit_w, pid_t *out,
		       struct dv_error *err)
{
	struct ctr_net net = { .private_ns = true, .outbound = tool, .pasta = pasta };

	*exit_w = -1;
	*out = 0;
	return start_outbound(&net, pid, exit_w, out, err);
}

/* argv: __net-helper PID START host|private OUTBOUND|- slirp|pasta UID:GID|-
 *       IP,HOST,CONTAINER... */
int ctr_net_helper_main(int argc, char **argv)
{
	struct net_report r = { .helper = getpid() };
	struct ctr_init init = { 0 };
	struct ctr_net net = { 0 };
	struct ctr_port *ports = NULL;
	dv_autoclose int pidfd = -1;
	int maker = -1, exit_w = -1, sp[2], ret, *listeners = NULL;
	pid_t maker_pid = 0;
	struct rlimit nofile;

	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "devenv-net");
	/* Two fds a connection: the soft limit up to the hard one (no
	 * privilege needed), or the relay runs out of fds long before
	 * FWD_MAX_CONNS. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (argc < 7 || ids_from_arg(argv[6], &net.ids) < 0) {
		dv_err(&r.err, EINVAL, "net helper: bad arguments");
		goto fail;
	}
	init.pid = (pid_t)atoi(argv[1]);
	init.start_time = strtoull(argv[2], NULL, 10);
	net.private_ns = !strcmp(argv[3], "private");
	net.outbound = strcmp(argv[4], "-") ? argv[4] : NULL;
	net.pasta = !strcmp(argv[5], "pasta");
	net.n_ports = (size_t)(argc - 7);
	ports = dv_xcalloc(net.n_ports + 1, sizeof(*ports));
	for (size_t i = 0; i < net.n_ports; i++) {
		if (ctr_port_from_arg(argv[7 + i], &ports[i]) < 0) {
			dv_err(&r.err, EINVAL, "net helper: bad port '%s'", argv[7 + i]);
			goto fail;
		}
	}
	net.ports = ports;
	pidfd = ctr_pidfd_checked(&init, &r.err);
	if (pidfd < 0)
		goto fail;
	if (net.private_ns) {
		char path[64];
		int netfd;

		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)init.pid);
		netfd = open(path, O_RDONLY | O_CLOEXEC);
		if (netfd < 0) {
			dv_err(&r.err, errno, "cannot open the env's network namespace");
			goto fail;
		}
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0 ||
		    (maker_pid = fork()) < 0) {
			dv_err(&r.err, errno, "cannot start the socket maker");
			close(netfd);
			goto fail;
		}
		if (maker_pid == 0) {
			close(sp[0]);
			socket_maker(sp[1], netfd, &net.ids);
		}
		close(netfd);
		close(sp[1]);
		maker = sp[0];
		/* Without outbound traffic the env still works (and its ports
		 * too): a warning, not a failure. */
		if (net.outbound) {
			struct dv_error why = { 0 };

			if (start_outbound(&net, init.pid, &exit_w, &r.outbound, &why) < 0)
				snprintf(r.warning, sizeof(r.warning), "%.400s; the env has no outbound network",
					 why.msg);
		}
	}
	listeners = dv_xcalloc(net.n_ports + 1, sizeof(*listeners));
	for (size_t i = 0; i < net.n_ports; i++) {
		listeners[i] = ctr_port_listen(&ports[i], &r.err);
		if (listeners[i] < 0)
			goto fail;
	}
	/* Everything that needed a privilege is done (ports below 1024 are
	 * bound, slirp4netns runs): the relay runs without any, before `up`
	 * hears that we are ready. slirp4netns ends when our exit closes its
	 * exit fd, whatever our ids by then. */
	if (ctr_net_confine(&net.ids, &r.err) < 0)
		goto fail;
	report(3, &r);
	ret = ctr_forward_run(ports, listeners, net.n_ports, pidfd, maker);
	/* pasta (slirp4netns goes with its exit fd; this may not reach
	 * either once we are another user: pasta also ends with the env's
	 * namespace, and halt stops it) */
	if (r.outbound > 0)
		kill(r.outbound, SIGTERM);
	if (maker_pid > 0)
		kill(maker_pid, SIGKILL);
	free(listeners);
	free(ports);
	return ret < 0 ? 1 : 0;
fail:
	if (r.outbound > 0)
		kill(r.outbound, SIGTERM);
	if (maker_pid > 0)
		kill(maker_pid, SIGKILL);
	report(3, &r);
	free(listeners);
	free(ports);
	return 1;
}

int ctr_net_spawn(const struct ctr_init *init, const struct ctr_net *net, struct dv_error *err)
{
	struct dv_strv argv = { 0 };
	int rp[2];
	pid_t c;

	dv_strv_push(&argv, "devenv-net");
	dv_strv_push(&argv, "__net-helper");
	dv_strv_push_owned(&argv, dv_xasprintf("%d", (int)init->pid));
	dv_strv_push_owned(&argv, dv_xasprintf("%llu", init->start_time));
	dv_strv_push(&argv, net->private_ns ? "private" : "host");
	dv_strv_push(&argv, net->outbound ? net->outbound : "-");
	dv_strv_push(&argv, net->pasta ? "pasta" : "slirp");
	if (net->ids.set)
		dv_strv_push_owned(&argv, dv_xasprintf("%u:%u", (unsigned)net->ids.uid,
						       (unsigned)net->ids.gid));
	else
		dv_strv_push(&argv, "-");
	for (size_t i = 0; i < net->n_ports; i++)
		dv_strv_push_owned(&argv, ctr_port_to_arg(&net->ports[i]));
	if (pipe2(rp, O_CLOEXEC) < 0) {
		dv_strv_release(&argv);
		return dv_err(err, errno, "pipe");
	}
	c = fork();
	if (c < 0) {
		close(rp[0]);
		close(rp[1]);
		dv_strv_release(&argv);
		return dv_err(err, errno, "fork");
	}
	if (c == 0) {
		/* Its own session, so no terminal's hangup reaches it. One
		 * fork, not two, and no wait here: `up` runs on while it
		 * starts (it is reparented when `up` exits, which reaps it
		 * should it die first). It opens no terminal, so leading a
		 * session gives it none. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		setsid();
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    dup2(rp[1], 3) < 0)
			_exit(1);
		/* No fd of ours (the store and env locks above all) goes along,
		 * and no variable of ours: the helper and slirp4netns need none,
		 * and some would make them do what their seccomp filters forbid
		 * (LD_DEBUG's output from ld.so, after the filter: killed). */
		syscall(SYS_close_range, 4U, ~0U, 0U);
#if defined(__SANITIZE_ADDRESS__)
		/* (ASan builds) LeakSanitizer's check at exit makes calls the
		 * helper's seccomp filter forbids, and ptraces it. */
		{
			const char *o = getenv("ASAN_OPTIONS");
			char *envp[] = { dv_xasprintf("ASAN_OPTIONS=%s%sdetect_leaks=0", o ? o : "",
						      o && *o ? ":" : ""), NULL };

			execve("/proc/self/exe", argv.v, envp);
		}
#else
		execve("/proc/self/exe", argv.v, (char *[]){ NULL });
#endif
		_exit(127);
	}
	close(rp[1]);
	dv_strv_release(&argv);
	return rp[0];
}

int ctr_net_wait(int fd, struct ctr_net_procs *out, char *warning, size_t warning_size,
		 struct dv_error *err)
{
	struct net_report r;
	size_t have = 0;

	memset(out, 0, sizeof(*out));
	while (have < sizeof(r)) {
		ssize_t n = read(fd, (char *)&r + have, sizeof(r) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (have != sizeof(r))
		return dv_err(err, EIO, "the env's network helper died at start");
	if (r.err.msg[0]) {
		r.err.msg[sizeof(r.err.msg) - 1] = 0;
		r.err.file[sizeof(r.err.file) - 1] = 0;
		*err = r.err;
		return -1;
	}
	r.warning[sizeof(r.warning) - 1] = 0;
	snprintf(warning, warning_size, "%s", r.warning);
	out->helper.pid = r.helper;
	if (ctr_start_time(r.helper, &out->helper.start_time) < 0)
		return dv_err(err, ESRCH, "the env's network helper died at start");
	out->outbound.pid = r.outbound;
	if (r.outbound > 0 && ctr_start_time(r.outbound, &out->outbound.start_time) < 0)
		out->outbound.pid = 0;
	return 0;
}

int ctr_net_start(const struct ctr_init *init, const struct ctr_net *net,
		  struct ctr_net_procs *out, char *warning, size_t warning_size, struct dv_error *err)
{
	int fd = ctr_net_spawn(init, net, err);

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -1;
	return ctr_net_wait(fd, out, warning, warning_size, err);
}

int ctr_net_stop(const struct ctr_net_procs *p, struct dv_error *err)
{
	struct dv_error gone = { 0 };
	int fd;

	/* The helper holds the host's ports: gone before we return. */
	if (p->helper.pid > 0 && ctr_stop(&p->helper, 3, err) < 0)
		return -1;
	if (p->outbound.pid <= 0)
		return 0;
	/* slirp4netns ends once the helper's exit closed its exit fd, pasta
	 * on a signal; SIGKILL makes sure, and we do not wait: its exit
	 * unregisters its tap device, which waits for an RCU grace period
	 * (10-20 ms here) while it holds nothing of the env's or the
	 * host's anyone could see. */
	fd = ctr_pidfd_checked(&p->outbound, &gone);
	if (fd < 0)
		return gone.errnum == ESRCH ? 0 : (*err = gone, -1);
	if (pidfd_send_signal(fd, SIGKILL, NULL, 0) < 0 && errno != ESRCH) {
		dv_err(err, errno, "cannot stop the env's slirp4netns or pasta (pid %d)",
		       (int)p->outbound.pid);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
