/*
 * hostnet/helper.c - the env's network helper, `devenv __net-helper`, and
 * how `up` and `halt` start and stop it.
 *
 * The helper is devenv itself, re-executed as `devenv __net-helper` in a
 * session of its own (so a closing terminal does not kill it) with nothing
 * of `up` but a report pipe: no store lock, no env lock, a fresh and small
 * address space. It
 *  - starts slirp4netns (or pasta) on the init's network namespace, holding
 *    slirp4netns's exit fd, so that outbound traffic dies with the helper
 *    (container/netns.c);
 *  - for `network: private`, forks a child that joins the env's network
 *    namespace and makes sockets there on request (maker.c);
 *  - listens on every forwarded host port and relays (forward.c);
 *  - then, and its socket maker once in the env's namespace, keeps no
 *    privilege: the checkout owner's ids, no capability, no_new_privs, a
 *    seccomp allow-list (confine.c);
 *  - exits when the init does (a pidfd in its poll set) or on SIGTERM.
 * It reports "ready" or its first error through fd 3. `up` starts it as
 * soon as the init's namespaces exist (hnet_spawn from the clone hook)
 * and reads the report once the init runs (hnet_wait), so that its
 * start and slirp4netns's overlap the init's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

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

/* "UID:GID" -> ids->set; "-" -> not; -1 when malformed. */
static int ids_from_arg(const char *arg, struct hnet_ids *ids)
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
	*ids = (struct hnet_ids){ true, (uid_t)u, (gid_t)g };
	return 0;
}

/* argv: __net-helper PID START host|private OUTBOUND|- slirp|pasta UID:GID|-
 *       IP,HOST,CONTAINER... */
int hnet_helper_main(int argc, char **argv)
{
	struct net_report r = { .helper = getpid() };
	struct ctr_init init = { 0 };
	struct hnet_spec net = { 0 };
	struct hnet_port *ports = NULL;
	dv_autoclose int pidfd = -1;
	int maker = -1, exit_w = -1, ret, *listeners = NULL;
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
		if (hnet_port_from_arg(argv[7 + i], &ports[i]) < 0) {
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
		if (hnet_maker_start(netfd, &net.ids, &maker, &maker_pid, &r.err) < 0) {
			close(netfd);
			goto fail;
		}
		close(netfd);
		/* Without outbound traffic the env still works (and its ports
		 * too): a warning, not a failure. */
		if (net.outbound) {
			struct dv_error why = { 0 };

			if (ctr_outbound_start(net.outbound, net.pasta, init.pid, &exit_w,
					       &r.outbound, &why) < 0)
				snprintf(r.warning, sizeof(r.warning),
					 "%.400s; the env has no outbound network", why.msg);
		}
	}
	listeners = dv_xcalloc(net.n_ports + 1, sizeof(*listeners));
	for (size_t i = 0; i < net.n_ports; i++) {
		listeners[i] = hnet_port_listen(&ports[i], &r.err);
		if (listeners[i] < 0)
			goto fail;
	}
	/* Everything that needed a privilege is done (ports below 1024 are
	 * bound, slirp4netns runs): the relay runs without any, before `up`
	 * hears that we are ready. slirp4netns ends when our exit closes its
	 * exit fd, whatever our ids by then. */
	if (hnet_confine(&net.ids, &r.err) < 0)
		goto fail;
	report(3, &r);
	ret = hnet_forward_run(ports, listeners, net.n_ports, pidfd, maker);
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

int hnet_spawn(const struct ctr_init *init, const struct hnet_spec *net, struct dv_error *err)
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
		dv_strv_push_owned(&argv, hnet_port_to_arg(&net->ports[i]));
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
						      o && *o ? ":" : ""),
					 NULL };

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

int hnet_wait(int fd, struct hnet_procs *out, char *warning, size_t warning_size,
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

int hnet_start(const struct ctr_init *init, const struct hnet_spec *net, struct hnet_procs *out,
	       char *warning, size_t warning_size, struct dv_error *err)
{
	int fd = hnet_spawn(init, net, err);

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -1;
	return hnet_wait(fd, out, warning, warning_size, err);
}

int hnet_stop(const struct hnet_procs *p, struct dv_error *err)
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
