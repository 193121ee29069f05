/*
 * container/relay_confine.c - the sandbox of a relaying devenv whose peer
 * is a network client: `devenv ssh-proxy`, between ssh and the env's
 * sshd (ctr_exec.confine_relay).
 *
 * Once the command runs, ctr_exec needs no privilege again: it shuffles
 * bytes between its stdio and the command's pipes, reads its signalfd and
 * reaps the supervisor. So it keeps no capability in any set and cannot
 * get one back (securebits locked, no_new_privs) and loads a seccomp
 * allow-list of what that loop and devenv's exit call, as devenv-net does
 * (hostnet/confine.c): a bug in the relay that the bytes of an ssh
 * connection could reach gives an unprivileged process that can only
 * copy them, not root on the host. Anything else kills it (the lifeline's
 * EOF then ends the command's session).
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/banned.h"

static const int allowed[] = {
	/* the relay (container/relay.c) */
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(close),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(wait4),
	SCMP_SYS(waitid),
	SCMP_SYS(fcntl),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigaction),
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

static int filter(struct dv_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = ctx ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
		if (r == -EDOM || r == -EFAULT) /* not a call of this arch */
			r = 0;
	}
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_load(ctx);
	if (ctx)
		seccomp_release(ctx);
	if (r < 0)
		return dv_err(err, -r, "cannot load the relay's seccomp filter");
	return 0;
}

int ctr_relay_confine(struct dv_error *err)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2] = { { 0 } };

	/* Root's special cases off for good; needs CAP_SETPCAP, so first
	 * (without it, in a user namespace of ours, skipped: we hold no
	 * capability over the host there anyway). */
	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
			  SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
			  SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		  0, 0, 0) < 0 &&
	    errno != EPERM)
		return dv_err(err, errno, "cannot set the relay's securebits");
	for (int c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EPERM)
			return dv_err(err, errno, "cannot drop capability %d", c);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return dv_err(err, errno, "cannot clear the ambient capabilities");
	if (syscall(SYS_capset, &hdr, none) < 0)
		return dv_err(err, errno, "cannot drop the relay's capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return dv_err(err, errno, "cannot set no_new_privs");
	return filter(err);
}
