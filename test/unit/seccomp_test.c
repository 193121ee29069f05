/* test/unit/container_test.c - container/: the seccomp profile's evaluation
 * (includes/excludes by caps, arch, minKernel), its compilation, and the
 * capability set arithmetic. No root, nothing loaded into the kernel. */
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "container/internal.h"
#include "util/error.h"
#include "util/str.h"

#define K(maj, min) ((maj)*1000 + (min))

/* The rule for name, the n-th one (0-based); NULL when none. */
static const struct ctr_sc_rule *rule(const struct ctr_sc_profile *p, const char *name, size_t nth)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (!strcmp(p->rules[i].name, name) && nth-- == 0)
			return &p->rules[i];
	return NULL;
}

static void eval_default(unsigned long long caps, unsigned kver, struct ctr_sc_profile *p)
{
	struct dv_error err = { 0 };
	size_t len;
	const char *text = ctr_seccomp_default(&len);

	assert_int_equal(ctr_seccomp_eval(text, len, caps, "amd64", kver, SCMP_ARCH_X86_64, p, &err),
			 0);
}

static void test_default_caps(void **state)
{
	struct ctr_sc_profile p;
	const struct ctr_sc_rule *r;

	(void)state;
	eval_default(ctr_caps_docker, K(6, 18), &p);
	assert_int_equal(p.default_action, SCMP_ACT_ERRNO(EPERM));
	/* archMap: x86_64 plus x86 and x32 */
	assert_int_equal(p.n_arches, 3);
	assert_int_equal(p.arches[1], SCMP_ARCH_X86);
	assert_int_equal(p.arches[2], SCMP_ARCH_X32);
	assert_non_null(rule(&p, "read", 0));
	assert_null(rule(&p, "mount", 0));  /* CAP_SYS_ADMIN only */
	assert_null(rule(&p, "keyctl", 0)); /* never */
	assert_null(rule(&p, "io_uring_setup", 0));
	assert_null(rule(&p, "reboot", 0));         /* CAP_SYS_BOOT */
	assert_non_null(rule(&p, "ptrace", 0));     /* kernel >= 4.8 */
	assert_non_null(rule(&p, "arch_prctl", 0)); /* amd64 */
	assert_null(rule(&p, "s390_runtime_instr", 0));
	/* clone: only without CLONE_NEW* flags */
	r = rule(&p, "clone", 0);
	assert_non_null(r);
	assert_int_equal(r->n_args, 1);
	assert_int_equal(r->args[0].op, SCMP_CMP_MASKED_EQ);
	assert_int_equal(r->args[0].datum_a, 0x7E020000);
	assert_int_equal(r->args[0].datum_b, 0);
	assert_null(rule(&p, "clone", 1));
	r = rule(&p, "clone3", 0);
	assert_non_null(r);
	assert_int_equal(r->action, SCMP_ACT_ERRNO(ENOSYS));
	/* socket: three ranges that leave out 38 (AF_ALG) and 40 (AF_VSOCK) */
	assert_non_null(rule(&p, "socket", 2));
	assert_int_equal(rule(&p, "socket", 0)->args[0].op, SCMP_CMP_LT);
	assert_int_equal(rule(&p, "socket", 0)->args[0].datum_a, 38);
	ctr_sc_profile_release(&p);
}

static void test_sys_admin_and_kernel(void **state)
{
	struct ctr_sc_profile p;

	(void)state;
	eval_default(ctr_caps_docker | 1ULL << CAP_SYS_ADMIN | 1ULL << CAP_SYS_BOOT, K(6, 18), &p);
	assert_non_null(rule(&p, "mount", 0));
	assert_non_null(rule(&p, "reboot", 0));
	/* clone unrestricted, clone3 allowed */
	assert_int_equal(rule(&p, "clone", 0)->n_args, 0);
	assert_int_equal(rule(&p, "clone3", 0)->action, SCMP_ACT_ALLOW);
	assert_null(rule(&p, "keyctl", 0));
	ctr_sc_profile_release(&p);

	eval_default(ctr_caps_docker, K(4, 7), &p);
	assert_null(rule(&p, "ptrace", 0));
	ctr_sc_profile_release(&p);
}

static void test_compile(void **state)
{
	struct ctr_sc_profile p;
	struct dv_error err = { 0 };
	void *prog = NULL;
	size_t len = 0;

	(void)state;
	eval_default(ctr_caps_docker, K(6, 18), &p);
	assert_int_equal(ctr_seccomp_compile(&p, &prog, &len, &err), 0);
	assert_true(len > 0 && len % sizeof(struct sock_filter) == 0);
	assert_true(len / sizeof(struct sock_filter) <= BPF_MAXINSNS);
	free(prog);
	ctr_sc_profile_release(&p);
}

static void test_bad_profile(void **state)
{
	struct ctr_sc_profile p;
	struct dv_error err = { 0 };
	const char *bad = "{\"defaultAction\":\"SCMP_ACT_NOPE\",\"syscalls\":[]}";

	(void)state;
	assert_int_equal(ctr_seccomp_eval("[", 1, 0, "amd64", K(6, 1), SCMP_ARCH_X86_64, &p, &err),
			 -1);
	assert_int_equal(ctr_seccomp_eval(bad, strlen(bad), 0, "amd64", K(6, 1), SCMP_ARCH_X86_64,
					  &p, &err),
			 -1);
}

static void test_caps_mask(void **state)
{
	struct dv_strv add = { 0 }, drop = { 0 };
	struct dv_error err = { 0 };
	unsigned long long m;

	(void)state;
	assert_int_equal(__builtin_popcountll(ctr_caps_docker), 14);
	/* podman's 11: Docker's without NET_RAW, MKNOD, AUDIT_WRITE */
	assert_int_equal(__builtin_popcountll(ctr_caps_default), 11);
	assert_int_equal(ctr_caps_default, 0x800405fbULL);
	assert_int_equal(ctr_caps_mask(&add, &drop, &m, &err), 0);
	assert_int_equal(m, ctr_caps_default);
	dv_strv_push(&add, "CAP_NET_ADMIN");
	dv_strv_push(&add, "CAP_NET_RAW");
	dv_strv_push(&drop, "CAP_SETFCAP");
	assert_int_equal(ctr_caps_mask(&add, &drop, &m, &err), 0);
	assert_int_equal(m, (ctr_caps_default | 1ULL << CAP_NET_ADMIN | 1ULL << CAP_NET_RAW) &
				    ~(1ULL << CAP_SETFCAP));
	dv_strv_push(&drop, "ALL");
	assert_int_equal(ctr_caps_mask(&add, &drop, &m, &err), 0);
	assert_int_equal(m, 1ULL << CAP_NET_ADMIN | 1ULL << CAP_NET_RAW);
	dv_strv_release(&add);
	dv_strv_push(&add, "CAP_NOPE");
	assert_int_equal(ctr_caps_mask(&add, NULL, &m, &err), -1);
	assert_int_equal(err.errnum, EINVAL);
	dv_strv_release(&add);
	dv_strv_release(&drop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_caps), cmocka_unit_test(test_sys_admin_and_kernel),
		cmocka_unit_test(test_compile),      cmocka_unit_test(test_bad_profile),
		cmocka_unit_test(test_caps_mask),
	};

	return cmocka_run_group_tests_name("container", tests, NULL, NULL);
}
