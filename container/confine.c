/*
 * container/confine.c - the sandbox devenv puts its own host-side helpers
 * in: the network helper and its socket maker (hostnet/confine.c),
 * ssh-proxy's relay (relay_confine.c), the ssh agent filter
 * (hostnet/agent_run.c) and the git credential relay (hostnet/gitcred.c).
 *
 * Each helper is a process of devenv's, on the host, whose input comes
 * from an env or a network peer. Once it holds what it needs, it keeps no
 * capability in any set (bounding and ambient too) and cannot get one
 * back (securebits locked, no_new_privs), optionally as other ids, and
 * loads a seccomp filter: a bug in it that the env or the peer could
 * reach gives them an unprivileged process that can do what its filter
 * lets it, not root on the host.
 *
 * The filter is one of two kinds (struct ctr_confine): an allow-list (the
 * relays: anything else kills the process; mmap and mprotect allowed only
 * without PROT_EXEC, so nothing maps code) or a deny-list (the credential
 * relay, which runs the host's git and its credential helpers: those can
 * be anything, so only what none of them has a use for is refused, with
 * EPERM). Each caller names its own calls, and its argument-filtered
 * rules (socket families, kill signals, an ioctl), beside why; the two
 * that run a host program on input from outside (the credential relay's
 * git and its helpers, cache_trust's ssh-keygen: provision/signing.c)
 * share one deny-list, ctr_confine_tool().
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/container.h"
#include "util/banned.h"

static int filter(const struct ctr_confine *c, struct dv_error *err)
{
	uint32_t act = c->deny_list ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_ALLOW;
	scmp_filter_ctx ctx = seccomp_init(c->deny_list ? SCMP_ACT_ALLOW : SCMP_ACT_KILL_PROCESS);
	int r = ctx ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < c->n_calls; i++) {
		r = seccomp_rule_add(ctx, act, c->calls[i], 0);
		/* a call this arch does not have: nothing to allow or refuse */
		if (r == -EDOM || r == -EFAULT)
			r = 0;
	}
	for (size_t i = 0; r == 0 && i < c->n_rules; i++)
		r = seccomp_rule_add(ctx, act, c->rules[i].call, 1, c->rules[i].arg);
	/* malloc maps memory; nothing maps code. (The last 0 of each
	 * comparison is its unused datum_b: clang's
	 * -Wmissing-field-initializers wants it written.) */
	if (r == 0 && !c->deny_list)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0 && !c->deny_list)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_load(ctx);
	if (ctx)
		seccomp_release(ctx);
	if (r < 0)
		return dv_err(err, -r, "cannot load %s's seccomp filter", c->who);
	return 0;
}

/* A refusal of a capability step: an error, unless the caller may run
 * without CAP_SETPCAP (an ordinary user's process has nothing to drop;
 * no_new_privs and the filter keep it that way). */
static bool refused(const struct ctr_confine *c)
{
	return !(c->unprivileged_ok && errno == EPERM);
}

int ctr_confine(const struct ctr_confine *c, struct dv_error *err)
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
		  0, 0, 0) < 0 &&
	    refused(c))
		return dv_err(err, errno, "cannot set %s's securebits", c->who);
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && refused(c))
			return dv_err(err, errno, "cannot drop capability %d from the bounding set",
				      cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return dv_err(err, errno, "cannot clear the ambient capabilities");
	if (c->set_ids) {
		/* Groups first: setresuid takes away the right to. Leaving
		 * uid 0 also empties the permitted and effective sets. */
		if (setgroups(0, NULL) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
		    setresuid(c->uid, c->uid, c->uid) < 0)
			return dv_err(err, errno, "cannot become uid %u gid %u", (unsigned)c->uid,
				      (unsigned)c->gid);
	}
	if (syscall(SYS_capset, &hdr, none) < 0)
		return dv_err(err, errno, "cannot drop %s's capabilities", c->who);
	/* Changing ids made us undumpable already; as uid 0 say it: what
	 * the helper holds reaches into the env or the host user's secrets. */
	if (!c->keep_dumpable && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return dv_err(err, errno, "cannot make %s undumpable", c->who);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return dv_err(err, errno, "cannot set no_new_privs");
	return filter(c, err);
}

/* What no host program devenv runs on outside input has a use for: a way
 * back to privilege or out of the host's namespaces, the kernel's rarer
 * surfaces, the machine's clock, keys and swap. */
static const int tool_denied[] = {
	SCMP_SYS(ptrace),
	SCMP_SYS(process_vm_readv),
	SCMP_SYS(process_vm_writev),
	SCMP_SYS(mount),
	SCMP_SYS(umount2),
	SCMP_SYS(pivot_root),
	SCMP_SYS(chroot),
	SCMP_SYS(unshare),
	SCMP_SYS(setns),
	SCMP_SYS(bpf),
	SCMP_SYS(perf_event_open),
	SCMP_SYS(userfaultfd),
	SCMP_SYS(io_uring_setup),
	SCMP_SYS(io_uring_enter),
	SCMP_SYS(io_uring_register),
	SCMP_SYS(kexec_load),
	SCMP_SYS(kexec_file_load),
	SCMP_SYS(init_module),
	SCMP_SYS(finit_module),
	SCMP_SYS(delete_module),
	SCMP_SYS(open_by_handle_at),
	SCMP_SYS(name_to_handle_at),
	SCMP_SYS(fsopen),
	SCMP_SYS(fsmount),
	SCMP_SYS(fsconfig),
	SCMP_SYS(fspick),
	SCMP_SYS(move_mount),
	SCMP_SYS(open_tree),
	SCMP_SYS(mount_setattr),
	SCMP_SYS(swapon),
	SCMP_SYS(swapoff),
	SCMP_SYS(reboot),
	SCMP_SYS(acct),
	SCMP_SYS(quotactl),
	SCMP_SYS(syslog),
	SCMP_SYS(settimeofday),
	SCMP_SYS(clock_settime),
	SCMP_SYS(clock_adjtime),
	SCMP_SYS(adjtimex),
	SCMP_SYS(iopl),
	SCMP_SYS(ioperm),
	SCMP_SYS(vhangup),
	SCMP_SYS(lookup_dcookie),
	SCMP_SYS(add_key),
	SCMP_SYS(request_key),
	SCMP_SYS(keyctl),
};
/* ... and, for one that needs no network, sockets. */
static const int tool_denied_net[] = { SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect) };

int ctr_confine_tool(const char *who, bool no_network, struct dv_error *err)
{
	enum {
		N = sizeof(tool_denied) / sizeof(tool_denied[0]),
		N_NET = sizeof(tool_denied_net) / sizeof(tool_denied_net[0])
	};
	/* typing into the terminal of whoever ran devenv */
	static const struct ctr_confine_rule rules[] = {
		{ SCMP_SYS(ioctl), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI) },
	};
	int calls[N + N_NET];
	/* A deny-list, not an allow-list: the program (and what it runs: a
	 * credential helper) can be anything. Without CAP_SETPCAP (an
	 * ordinary user) there is no capability to drop. */
	struct ctr_confine c = {
		.who = who,
		.calls = calls,
		.n_calls = N + (no_network ? N_NET : 0),
		.rules = rules,
		.n_rules = sizeof(rules) / sizeof(rules[0]),
		.deny_list = true,
		.unprivileged_ok = true,
	};

	memcpy(calls, tool_denied, sizeof(tool_denied));
	memcpy(calls + N, tool_denied_net, sizeof(tool_denied_net));
	return ctr_confine(&c, err);
}
