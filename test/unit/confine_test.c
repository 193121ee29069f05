/* test/unit/confine_test.c - container/confine.c: ctr_confine, the sandbox
 * of devenv's host-side helpers, in a forked child each: what
 * /proc/PID/status then says (as the helpers' integration tests read it),
 * an allow-list that kills (mmap with PROT_EXEC too), a deny-list that
 * answers EPERM, argument rules, ids, and a refusal without CAP_SETPCAP.
 * As root and as an ordinary user (run-tests runs both). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "container/container.h"
#include "util/error.h"

/* What every child below calls once confined (sigaltstack: ASan's _exit
 * takes its alternate signal stack down). */
static const int base[] = {
	SCMP_SYS(read),   SCMP_SYS(write), SCMP_SYS(getpid),     SCMP_SYS(prctl),
	SCMP_SYS(munmap), SCMP_SYS(exit),  SCMP_SYS(exit_group), SCMP_SYS(sigaltstack),
};

struct child {
	pid_t pid;
	char status[4096]; /* its /proc/PID/status once confined */
	int wstatus;
};

/* Fork; the child confines with c (exit 100 + errnum when refused), says
 * so, waits for a byte, then exits with after()'s value. */
static void run(const struct ctr_confine *c, int (*after)(void), struct child *out)
{
	int ready[2], go[2];
	char b = 0, path[64];
	FILE *f;
	size_t n;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	out->pid = fork();
	assert_true(out->pid >= 0);
	if (out->pid == 0) {
		struct dv_error err = { 0 };

		close(ready[0]);
		close(go[1]);
		if (ctr_confine(c, &err) < 0)
			_exit(100 + err.errnum);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(99);
		_exit(after());
	}
	close(ready[1]);
	close(go[0]);
	out->status[0] = 0;
	if (read(ready[0], &b, 1) == 1) {
		snprintf(path, sizeof(path), "/proc/%d/status", (int)out->pid);
		f = fopen(path, "r");
		assert_non_null(f);
		n = fread(out->status, 1, sizeof(out->status) - 1, f);
		out->status[n] = 0;
		fclose(f);
		assert_int_equal(write(go[1], "g", 1), 1);
	}
	close(ready[0]);
	close(go[1]);
	assert_int_equal(waitpid(out->pid, &out->wstatus, 0), out->pid);
}

/* An ordinary user's process cannot empty its bounding set (no
 * CAP_SETPCAP); it has no capability to get from it either. */
static void assert_confined(const struct child *ch)
{
	static const char *const lines[] = {
		"\nCapPrm:\t0000000000000000\n",
		"\nCapEff:\t0000000000000000\n",
		"\nCapAmb:\t0000000000000000\n",
		"\nNoNewPrivs:\t1\n",
		"\nSeccomp:\t2\n",
		"\nCapBnd:\t0000000000000000\n",
	};
	size_t n = sizeof(lines) / sizeof(lines[0]) - (geteuid() != 0);

	for (size_t i = 0; i < n; i++)
		if (!strstr(ch->status, lines[i]))
			fail_msg("no '%s' in\n%s", lines[i] + 1, ch->status);
}

static void assert_exit(const struct child *ch, int code)
{
	assert_true(WIFEXITED(ch->wstatus));
	assert_int_equal(WEXITSTATUS(ch->wstatus), code);
}

static void assert_killed(const struct child *ch)
{
	assert_true(WIFSIGNALED(ch->wstatus));
	assert_int_equal(WTERMSIG(ch->wstatus), SIGSYS);
}

/* The allow-list: data mappings yes, kill() as the rule says, then an
 * executable mapping, which kills. */
static int maps_then_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) < 0 || kill(getpid(), 0) < 0)
		return 1;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 2;
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 3;
}

static int kill_usr1(void)
{
	kill(getpid(), SIGUSR1);
	return 4;
}

static void test_allow_list(void **state)
{
	static const struct ctr_confine_rule rules[] = {
		{ SCMP_SYS(kill), SCMP_A1(SCMP_CMP_EQ, 0, 0) },
	};
	struct ctr_confine c = {
		.who = "the test",
		.calls = base,
		.n_calls = sizeof(base) / sizeof(base[0]),
		.rules = rules,
		.n_rules = 1,
		.unprivileged_ok = geteuid() != 0,
	};
	struct child ch;

	(void)state;
	run(&c, maps_then_exec, &ch);
	assert_confined(&ch);
	assert_killed(&ch);
	run(&c, kill_usr1, &ch); /* the rule lets signal 0 through, not SIGUSR1 */
	assert_killed(&ch);
}

/* The deny-list: listed calls and rules answer EPERM, the rest runs (an
 * executable mapping too: git and its helpers load code). */
static int denied_calls(void)
{
	void *p;

	if (syscall(SYS_getppid) != -1 || errno != EPERM)
		return 1;
	if (kill(getpid(), SIGUSR2) != -1 || errno != EPERM)
		return 2;
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || syscall(SYS_gettid) <= 0)
		return 3;
	return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 ? 0 : 4;
}

static void test_deny_list(void **state)
{
	static const int denied[] = { SCMP_SYS(getppid) };
	static const struct ctr_confine_rule rules[] = {
		{ SCMP_SYS(kill), SCMP_A1(SCMP_CMP_EQ, SIGUSR2, 0) },
	};
	struct ctr_confine c = {
		.who = "the test",
		.calls = denied,
		.n_calls = 1,
		.rules = rules,
		.n_rules = 1,
		.deny_list = true,
		.unprivileged_ok = true,
		.keep_dumpable = true,
	};
	struct child ch;

	(void)state;
	run(&c, denied_calls, &ch);
	assert_confined(&ch);
	assert_exit(&ch, 0);
}

static int zero(void)
{
	return 0;
}

/* As root: other ids, for good. As a user: without CAP_SETPCAP, an error
 * unless unprivileged_ok. */
static void test_ids_and_privilege(void **state)
{
	struct ctr_confine c = {
		.who = "the test",
		.calls = base,
		.n_calls = sizeof(base) / sizeof(base[0]),
	};
	struct child ch;
	const char *groups;

	(void)state;
	if (geteuid() != 0) {
		run(&c, zero, &ch);
		assert_exit(&ch, 100 + EPERM);
		c.unprivileged_ok = true;
		run(&c, zero, &ch);
		assert_confined(&ch);
		assert_exit(&ch, 0);
		return;
	}
	c.set_ids = true;
	c.uid = 65534;
	c.gid = 65533;
	run(&c, zero, &ch);
	assert_confined(&ch);
	assert_non_null(strstr(ch.status, "\nUid:\t65534\t65534\t65534\t65534\n"));
	assert_non_null(strstr(ch.status, "\nGid:\t65533\t65533\t65533\t65533\n"));
	groups = strstr(ch.status, "\nGroups:");
	assert_non_null(groups);
	assert_int_equal(strcspn(groups + 8, "\n"), strspn(groups + 8, " \t"));
	assert_exit(&ch, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_list),
		cmocka_unit_test(test_deny_list),
		cmocka_unit_test(test_ids_and_privilege),
	};

	return cmocka_run_group_tests_name("confine", tests, NULL, NULL);
}
