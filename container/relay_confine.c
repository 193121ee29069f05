/*
 * container/relay_confine.c - the sandbox of a relaying devenv whose peer
 * is a network client: `devenv ssh-proxy`, between ssh and the env's
 * sshd (ctr_exec.confine_relay).
 *
 * Once the command runs, ctr_exec needs no privilege again: it shuffles
 * bytes between its stdio and the command's pipes, reads its signalfd and
 * reaps the supervisor. So it keeps no capability in any set and cannot
 * get one back (securebits locked, no_new_privs) and loads a seccomp
 * allow-list of what that loop and devenv's exit call (ctr_confine in
 * confine.c, as devenv's other host-side helpers do): a bug in the relay
 * that the bytes of an ssh connection could reach gives an unprivileged
 * process that can only copy them, not root on the host. Anything else kills it (the lifeline's
 * EOF then ends the command's session).
 */
#include <seccomp.h>

#include "container/internal.h"
#include "util/banned.h"

/* The relay's loop and its way out (mmap and mprotect without PROT_EXEC:
 * confine.c); no socket, no file opened. */
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

int ctr_relay_confine(struct dv_error *err)
{
	/* Without CAP_SETPCAP (in a user namespace of ours) the securebits
	 * and the bounding set are refused, and moot: we hold no capability
	 * over the host there anyway. The relay stays dumpable, as before
	 * it shared ctr_confine. */
	struct ctr_confine c = {
		.who = "the relay",
		.calls = allowed,
		.n_calls = sizeof(allowed) / sizeof(allowed[0]),
		.unprivileged_ok = true,
		.keep_dumpable = true,
	};

	return ctr_confine(&c, err);
}
