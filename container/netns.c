/*
 * container/netns.c - the runtime's part of an env's network: `lo` up and
 * ping allowed in a new network namespace (from the child, before its
 * mounts), and slirp4netns or pasta on a namespace for outbound traffic
 * (a build step's, from ctr_start; an env's, from its helper in hostnet/).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

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
		return dv_err(err, errno,
			      "cannot set net.ipv4.ping_group_range in the env's network namespace");
	return 0;
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

/* slirp4netns is ready when it says so on its ready fd; pasta when it has
 * daemonised. The exit fd's write end stays with our caller, so
 * slirp4netns ends with it. */
int ctr_outbound_start(const char *tool, bool pasta, pid_t pid, int *exit_w, pid_t *out,
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

	*exit_w = -1;
	*out = 0;
	if (pipe2(exitp, O_CLOEXEC) < 0)
		return dv_err(err, errno, "pipe");
	if (pipe2(readyp, O_CLOEXEC) < 0) {
		close(exitp[0]);
		close(exitp[1]);
		return dv_err(err, errno, "pipe");
	}
	if (pasta) {
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
		goto fail_pipes;
	}
	if (child == 0) {
		/* As podman starts it: --enable-sandbox (its own mount
		 * namespace on an empty root, capabilities dropped) and
		 * --enable-seccomp (its deny-list), once tap0 is set up. */
		char *slirp_argv[] = { (char *)tool,
				       "--configure",
				       "--mtu=65520",
				       "--disable-host-loopback",
				       "--enable-sandbox",
				       "--enable-seccomp",
				       a_exit,
				       a_ready,
				       a_pid,
				       "tap0",
				       NULL };
		/* pasta as slirp4netns sets it up: 10.0.2.100/24, gateway
		 * 10.0.2.2, DNS 10.0.2.3; nothing of the host's loopback. */
		char *pasta_argv[] = {
			(char *)tool, "--config-net", "--quiet",     "--address", "10.0.2.100",
			"--netmask",  "24",           "--gateway",   "10.0.2.2",  "--dns-forward",
			"10.0.2.3",   "--no-map-gw",  "--ipv4-only", "-t",        "none",
			"-u",         "none",         "-T",          "none",      "-U",
			"none",       "--pid",        a_pidfile,     "--netns",   a_ns,
			NULL
		};

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
		if (!pasta)
			prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* slirp4netns's sandbox makes only "/" private in the mount
		 * namespace it unshares, then detaches the old root: where our
		 * mounts are shared (systemd's default), that unmount would
		 * reach their peers, the host's /sys, /proc, cgroups... So it
		 * starts from a namespace of ours where every mount is
		 * private. (Without root, one owned by our user namespace
		 * already has them as slaves, which the kernel never lets
		 * propagate back; this costs that case nothing either.) */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(126);
		execv(tool, pasta ? pasta_argv : slirp_argv);
		_exit(127);
	}
	close(exitp[0]);
	close(readyp[1]);
	if (pasta) { /* it daemonises: no exit fd to hold, its pid from the pid file */
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
