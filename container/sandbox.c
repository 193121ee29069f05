/*
 * container/sandbox.c - what every process of a container gets just before
 * exec (the env's init, a build step's init, each `ssh` and on_up command):
 * no_new_privs, then the capability sets, then the seccomp program last
 * (capset and prctl are calls the filter may forbid).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* Docker's 14 (moby daemon/pkg/oci/caps/defaults.go). */
#define BIT(c) (1ULL << (c))
const unsigned long long ctr_caps_docker =
	BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) | BIT(CAP_MKNOD) |
	BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) |
	BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
/* podman's 11 (containers/common pkg/config/default.go), every env's, build
 * step's and service's default: Docker's without NET_RAW (an AF_PACKET
 * socket on the host's network reads the host's loopback traffic; ping
 * uses ICMP datagram sockets instead, see ctr_netns_setup), MKNOD (no
 * device a container may make is one it may open: everything is nodev)
 * and AUDIT_WRITE (the host's audit log is not the env's to write). */
const unsigned long long ctr_caps_default =
	ctr_caps_docker & ~(BIT(CAP_NET_RAW) | BIT(CAP_MKNOD) | BIT(CAP_AUDIT_WRITE));

int ctr_cap_bit(const char *name, struct dv_error *err)
{
	char low[64];
	cap_value_t v;
	size_t i;

	for (i = 0; name[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	low[i] = 0;
	if (cap_from_name(low, &v) < 0 || v >= 64)
		return dv_err(err, EINVAL, "unknown capability '%s'", name);
	return (int)v;
}

int ctr_caps_mask(const struct dv_strv *add, const struct dv_strv *drop, unsigned long long *out,
		  struct dv_error *err)
{
	unsigned long long caps = ctr_caps_default, all = 0, plus = 0, minus = 0;
	bool add_all = false, drop_all = false;
	int b;

	for (int c = 0; c <= CAP_LAST_CAP; c++)
		all |= BIT(c);
	for (size_t i = 0; add && i < add->n; i++) {
		if (!strcmp(add->v[i], "ALL"))
			add_all = true;
		else if ((b = ctr_cap_bit(add->v[i], err)) < 0)
			return -1;
		else
			plus |= BIT(b);
	}
	for (size_t i = 0; drop && i < drop->n; i++) {
		if (!strcmp(drop->v[i], "ALL"))
			drop_all = true;
		else if ((b = ctr_cap_bit(drop->v[i], err)) < 0)
			return -1;
		else
			minus |= BIT(b);
	}
	/* As Docker: drop ALL keeps only what is added; add ALL gives every
	 * cap but those dropped by name. */
	if (add_all)
		caps = all;
	else if (drop_all)
		caps = plus;
	else
		caps = (caps | plus);
	*out = caps & ~minus;
	return 0;
}

int ctr_sandbox_load(const char *bpf_path, unsigned long long caps, struct ctr_sandbox *out,
		     struct dv_error *err)
{
	char *data = NULL;
	size_t len = 0;

	memset(out, 0, sizeof(*out));
	out->caps = caps;
	if (!bpf_path || !*bpf_path)
		return 0;
	if (dv_read_file_at(AT_FDCWD, bpf_path, &data, &len, err) < 0)
		return dv_err_prefix(err, "seccomp program");
	if (!len || len % sizeof(struct sock_filter) ||
	    len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		free(data);
		return dv_err(err, EINVAL,
			      "'%s' is not a seccomp program; 'devenv reload' rebuilds it",
			      bpf_path);
	}
	out->bpf = data;
	out->bpf_len = len;
	return 0;
}

void ctr_sandbox_release(struct ctr_sandbox *sb)
{
	free((void *)sb->bpf);
	memset(sb, 0, sizeof(*sb));
}

int ctr_sandbox_apply(const struct ctr_sandbox *sb, struct dv_error *err)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	unsigned long long caps;
	int c;

	if (!sb)
		return 0;
	if (sb->nproc) {
		/* Counted per user of the env's user namespace (Linux 5.14+);
		 * never above the hard limit we were given. */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NPROC, &rl) < 0)
			return dv_err(err, errno, "getrlimit");
		if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > sb->nproc)
			rl.rlim_max = sb->nproc;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			return dv_err(err, errno, "cannot limit processes to %llu", sb->nproc);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return dv_err(err, errno, "cannot set no_new_privs");
	/* The bounding set first: dropping needs CAP_SETPCAP, which the
	 * capset below may take away. Beyond the last cap the kernel knows,
	 * PR_CAPBSET_READ fails. */
	caps = sb->caps;
	for (c = 0; c < 64; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break;
		if (!(caps >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return dv_err(err, errno, "cannot drop capability %d from the bounding set",
				      c);
	}
	if (c < 64)
		caps &= (c ? (1ULL << c) - 1 : 0);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return dv_err(err, errno, "cannot clear the ambient capabilities");
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)caps;
	data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(caps >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return dv_err(err, errno, "cannot set the capabilities");
	if (sb->bpf) {
		struct sock_fprog prog = {
			.len = (unsigned short)(sb->bpf_len / sizeof(struct sock_filter)),
			.filter = (struct sock_filter *)sb->bpf,
		};

		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			return dv_err(err, errno, "cannot load the seccomp filter");
	}
	return 0;
}
