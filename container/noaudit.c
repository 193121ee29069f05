/*
 * container/noaudit.c - a sandbox whose audit socket is "not in the
 * kernel": for the env's sshd (devenv ssh-proxy).
 *
 * Debian's sshd (built with Linux audit) writes a login record for each
 * session with a terminal, through socket(AF_NETLINK, ..., NETLINK_AUDIT),
 * and ends the session when that fails with anything but "no audit in this
 * kernel" (EINVAL, EPROTONOSUPPORT, EAFNOSUPPORT). An env has no
 * CAP_AUDIT_WRITE (podman's default set; Docker keeps it for this very
 * sshd), and without root none means anything outside the initial user
 * namespace. Rather than give the env's root a way to write the host's
 * audit log, the sshd's sandbox says the kernel has no audit: a few
 * instructions put before the env's own seccomp program (classic BPF
 * jumps are relative, so the program after them runs as it was).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "container/container.h"
#include "util/str.h"
#include "util/banned.h"

#if defined(__x86_64__)
#define NA_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NA_ARCH AUDIT_ARCH_AARCH64
#endif

int ctr_sandbox_no_audit(struct ctr_sandbox *sb)
{
#ifdef NA_ARCH
	/* args[] low words: little-endian, as both arches are. */
	const struct sock_filter pre[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NA_ARCH, 0, 7),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NETLINK_AUDIT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPROTONOSUPPORT & SECCOMP_RET_DATA)),
	};
	const struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	size_t n = sb->bpf ? sb->bpf_len : sizeof(allow);
	char *prog;

	if ((sizeof(pre) + n) / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -1;
	prog = dv_xmalloc(sizeof(pre) + n);
	memcpy(prog, pre, sizeof(pre));
	memcpy(prog + sizeof(pre), sb->bpf ? sb->bpf : (const void *)&allow, n);
	free((void *)sb->bpf);
	sb->bpf = prog;
	sb->bpf_len = sizeof(pre) + n;
	return 0;
#else
	(void)sb;
	return -1;
#endif
}
