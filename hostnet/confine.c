/*
 * hostnet/confine.c - the sandbox of the env's network helper
 * (devenv-net) and of its socket maker, for the env's whole life.
 *
 * Once the helper has bound its ports and started slirp4netns, and once
 * the maker has joined the env's network namespace, neither needs a
 * privilege again: they relay bytes between sockets they hold or are
 * handed. So each drops to the checkout's owner (as root; without root it
 * is root of devenv's user namespace, which is the host user already),
 * keeps no capability in any set and cannot get one back (securebits
 * locked, no_new_privs), and loads a seccomp allow-list of the calls the
 * relay loop makes: a bug in it that an env or a peer on a forwarded port
 * could reach gives them an unprivileged process that can only shuffle
 * sockets, not root on the host. The steps are ctr_confine's
 * (container/confine.c, shared with devenv's other host-side helpers);
 * what is here is this helper's filter.
 *
 * The filter is built with libseccomp at start (a few dozen rules; see
 * BENCHMARKS.md for its cost, which `up` does not wait for beyond the
 * helper's own start).
 */
#include <seccomp.h>
#include <signal.h>
#include <sys/socket.h>

#include "container/container.h"
#include "hostnet/internal.h"
#include "util/banned.h"

/* What the relay loop (forward.c), the socket maker and their exit path
 * call, and nothing else (mmap and mprotect without PROT_EXEC:
 * container/confine.c); anything else kills the process (its exit closes
 * slirp4netns's exit fd, so outbound traffic ends with it). */
static const int allowed[] = {
	/* sockets held or handed over */
	SCMP_SYS(accept4),
	SCMP_SYS(accept),
	SCMP_SYS(connect),
	SCMP_SYS(recvfrom),
	SCMP_SYS(sendto),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg),
	SCMP_SYS(shutdown),
	SCMP_SYS(getsockopt),
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(close),
	/* the loop */
	SCMP_SYS(epoll_create1),
	SCMP_SYS(epoll_ctl),
	SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_pwait2),
	SCMP_SYS(signalfd4),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall),
	/* memory (no executable mapping) */
	SCMP_SYS(brk),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	/* libc's odds and ends, and the way out */
	SCMP_SYS(futex),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(getrandom),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(lseek),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
};

/* New sockets: TCP ones of the maker (IPv4, IPv6) and of the host-network
 * forwarder; no packet, netlink or unix socket. At its end the helper
 * stops the maker (SIGKILL) and pasta (SIGTERM); the uid check of kill()
 * still applies. */
static const struct ctr_confine_rule rules[] = {
	{ SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, AF_INET, 0) },
	{ SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0) },
	{ SCMP_SYS(kill), SCMP_A1(SCMP_CMP_EQ, SIGKILL, 0) },
	{ SCMP_SYS(kill), SCMP_A1(SCMP_CMP_EQ, SIGTERM, 0) },
};

int hnet_confine(const struct hnet_ids *ids, struct dv_error *err)
{
	struct ctr_confine c = {
		.who = "the network helper",
		.calls = allowed,
		.n_calls = sizeof(allowed) / sizeof(allowed[0]),
		.rules = rules,
		.n_rules = sizeof(rules) / sizeof(rules[0]),
		.set_ids = ids->set,
		.uid = ids->uid,
		.gid = ids->gid,
	};

	return ctr_confine(&c, err);
}
