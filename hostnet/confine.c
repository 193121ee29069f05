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
 * sockets, not root on the host.
 *
 * The filter is built with libseccomp at start (a few dozen rules; see
 * BENCHMARKS.md for its cost, which `up` does not wait for beyond the
 * helper's own start).
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/banned.h"

/* What the relay loop (forward.c), the socket maker and their exit path
 * call, and nothing else; anything else kills the process (its exit
 * closes slirp4netns's exit fd, so outbound traffic ends with it). */
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
	/* memory (no executable mapping: see below) */
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

static int filter(struct dv_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = ctx ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
		/* a call this arch does not have: nothing to allow */
		if (r == -EDOM || r == -EFAULT)
			r = 0;
	}
	/* New sockets: TCP ones of the maker (IPv4, IPv6) and of the
	 * host-network forwarder. No packet, netlink or unix socket. (The
	 * last 0 of each SCMP_CMP_EQ is its unused datum_b: clang's
	 * -Wmissing-field-initializers wants it written.) */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, AF_INET, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0));
	/* malloc maps memory; nothing maps code. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* At its end the helper stops the maker (SIGKILL) and pasta
	 * (SIGTERM); the uid check of kill() still applies. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				     SCMP_A1(SCMP_CMP_EQ, SIGKILL, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				     SCMP_A1(SCMP_CMP_EQ, SIGTERM, 0));
	if (r == 0)
		r = seccomp_load(ctx);
	if (ctx)
		seccomp_release(ctx);
	if (r < 0)
		return dv_err(err, -r, "cannot load the network helper's seccomp filter");
	return 0;
}

int hnet_confine(const struct hnet_ids *ids, struct dv_error *err)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2] = { { 0 } };

	/* Root's special cases off for good (uid 0 without root, or a
	 * checkout root owns): no caps from exec or setuid back to 0. Needs
	 * CAP_SETPCAP, so first. */
	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
			  SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
			  SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		  0, 0, 0) < 0)
		return dv_err(err, errno, "cannot set the network helper's securebits");
	for (int c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return dv_err(err, errno, "cannot drop capability %d from the bounding set",
				      c);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return dv_err(err, errno, "cannot clear the ambient capabilities");
	if (ids->set) {
		/* Groups first: setresuid takes away the right to. Leaving
		 * uid 0 also empties the permitted and effective sets. */
		if (setgroups(0, NULL) < 0 || setresgid(ids->gid, ids->gid, ids->gid) < 0 ||
		    setresuid(ids->uid, ids->uid, ids->uid) < 0)
			return dv_err(err, errno, "cannot become uid %u gid %u", (unsigned)ids->uid,
				      (unsigned)ids->gid);
	}
	if (syscall(SYS_capset, &hdr, none) < 0)
		return dv_err(err, errno, "cannot drop the network helper's capabilities");
	/* Changing ids made us undumpable already; as uid 0 say it: the
	 * relay's sockets reach into the env. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return dv_err(err, errno, "cannot set no_new_privs");
	return filter(err);
}
