/*
 * test/unit/agent_test.c - hostnet/agent.c without containers: the
 * fingerprint as ssh-keygen -l prints it, and the filter's loop between a
 * client and a fake agent on socketpairs: the listed key only in the
 * answer, a sign request forwarded for it alone (the fake agent never sees
 * the other), lock and add refused, each written to the log.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "hostnet/internal.h"

/* `ssh-keygen -t ed25519 -C unit-key`'s public blob, and what
 * `ssh-keygen -lf` printed for it. */
static const char key_b64[] = "AAAAC3NzaC1lZDI1NTE5AAAAIHtwP7my7yZyHTX77OmSvXDiFB6K8XmE5ST9YU+SsrFH";
static const char key_fp[] = "SHA256:aq2LpswbeaoLQHywkgNpzmCLV0gRhm4MlDb9NUvTeyU";

static size_t unb64(const char *s, unsigned char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0, bits = 0;
	size_t n = 0;

	for (; *s && *s != '='; s++) {
		acc = acc << 6 | (uint32_t)(strchr(t, *s) - t);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return n;
}

static void test_fingerprint(void **state)
{
	unsigned char blob[64];
	char fp[HNET_AGENT_FP_MAX];
	size_t n = unb64(key_b64, blob);

	(void)state;
	hnet_agent_fingerprint(blob, n, fp);
	assert_string_equal(fp, key_fp);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int full(int fd, void *buf, size_t n, bool w)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t r = w ? write(fd, p, n) : read(fd, p, n);

		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A message: type, then strings (len, bytes) given as (ptr, len) pairs. */
static size_t msg(unsigned char *out, unsigned char type, int nstr, ...)
{
	size_t off = 5;
	va_list ap;

	out[4] = type;
	va_start(ap, nstr);
	for (int i = 0; i < nstr; i++) {
		const void *p = va_arg(ap, const void *);
		size_t len = va_arg(ap, size_t);

		put32(out + off, (uint32_t)len);
		memcpy(out + off + 4, p, len);
		off += 4 + len;
	}
	va_end(ap);
	put32(out, (uint32_t)(off - 4));
	return off;
}

/* The fake agent: two keys (the real blob "unit-key", a made-up one
 * "other-key"); a sign request gets 14 and is counted in *signs (as a
 * byte sent back on `report`). */
static const char *other_comment = "other-key";

static _Noreturn void fake_agent(int fd, int report)
{
	unsigned char blob[64], in[4096], out[4096];
	size_t bn = unb64(key_b64, blob);
	static const unsigned char other[] = "not-a-real-key-blob";

	for (;;) {
		uint32_t len;
		size_t off;

		if (full(fd, in, 4, false) < 0)
			_exit(0);
		len = get32(in);
		if (len > sizeof(in) - 4 || full(fd, in + 4, len, false) < 0)
			_exit(1);
		if (in[4] == 11) {
			out[4] = 12;
			put32(out + 5, 2);
			off = 9;
			put32(out + off, (uint32_t)bn);
			memcpy(out + off + 4, blob, bn);
			off += 4 + bn;
			put32(out + off, 8);
			memcpy(out + off + 4, "unit-key", 8);
			off += 12;
			put32(out + off, sizeof(other) - 1);
			memcpy(out + off + 4, other, sizeof(other) - 1);
			off += 4 + sizeof(other) - 1;
			put32(out + off, (uint32_t)strlen(other_comment));
			memcpy(out + off + 4, other_comment, strlen(other_comment));
			off += 4 + strlen(other_comment);
			put32(out, (uint32_t)(off - 4));
		} else {
			if (in[4] == 13 && write(report, "s", 1) != 1)
				_exit(1);
			off = msg(out, in[4] == 13 ? 14 : 6, 1, "sig", (size_t)3);
		}
		if (full(fd, out, off, true) < 0)
			_exit(0);
	}
}

static unsigned char ask(int fd, const unsigned char *m, size_t n, unsigned char *ans, size_t size)
{
	uint32_t len;

	assert_int_equal(full(fd, (void *)m, n, true), 0);
	assert_int_equal(full(fd, ans, 4, false), 0);
	len = get32(ans);
	assert_true(len >= 1 && len <= size);
	assert_int_equal(full(fd, ans, len, false), 0);
	return ans[0];
}

static void test_filter(void **state)
{
	static const char *const keys[] = { "unit-key" };
	int up[2], life[2], logp[2], report[2], lst, cli;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char blob[64], m[4096], ans[4096];
	size_t bn = unb64(key_b64, blob);
	char logbuf[4096] = { 0 }, tmpl[] = "/tmp/agent_test.XXXXXX", signs[8];
	pid_t agent, filter;
	ssize_t got;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, up), 0);
	assert_int_equal(pipe2(life, O_CLOEXEC), 0);
	assert_int_equal(pipe2(logp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(report, O_CLOEXEC | O_NONBLOCK), 0);
	assert_non_null(mkdtemp(tmpl));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", tmpl);
	lst = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lst, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lst, 4), 0);
	agent = fork();
	if (agent == 0) {
		close(life[1]); /* the filter's lifeline is the test's alone */
		fake_agent(up[1], report[1]);
	}
	filter = fork();
	if (filter == 0) {
		struct hnet_agent_policy pol = { .mode = HNET_AGENT_LIST,
						 .keys = keys,
						 .n_keys = 1,
						 .env_name = "t",
						 .who = "ssh",
						 .log_fd = logp[1],
						 .tty_fd = -1,
						 .hold_fd = -1 };

		close(life[1]);
		_exit(hnet_agent_serve(&pol, lst, up[0], life[0]));
	}
	close(life[0]);
	close(logp[1]);
	cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cli, (struct sockaddr *)&sa, sizeof(sa)), 0);

	/* the listed key alone */
	assert_int_equal(ask(cli, m, msg(m, 11, 0), ans, sizeof(ans)), 12);
	assert_int_equal(get32(ans + 1), 1);
	assert_int_equal(get32(ans + 5), bn);
	assert_memory_equal(ans + 9, blob, bn);
	/* signed with it */
	assert_int_equal(ask(cli, m, msg(m, 13, 2, blob, bn, "data", (size_t)4), ans, sizeof(ans)),
			 14);
	/* the other refused before the agent sees it */
	assert_int_equal(ask(cli, m,
			     msg(m, 13, 2, "not-a-real-key-blob", (size_t)19, "data", (size_t)4),
			     ans, sizeof(ans)),
			 5);
	/* lock, remove all: refused */
	assert_int_equal(ask(cli, m, msg(m, 22, 1, "pw", (size_t)2), ans, sizeof(ans)), 5);
	assert_int_equal(ask(cli, m, msg(m, 19, 0), ans, sizeof(ans)), 5);
	got = read(report[0], signs, sizeof(signs));
	assert_int_equal(got, 1); /* the agent saw one sign request */

	close(cli);
	close(life[1]); /* the filter ends with its owner */
	assert_int_equal(waitpid(filter, NULL, 0), filter);
	got = read(logp[0], logbuf, sizeof(logbuf) - 1);
	assert_true(got > 0);
	assert_non_null(strstr(logbuf, "ssh_agent: ssh: sign with SHA256:aq2LpswbeaoLQHywkgNpzm"
				       "CLV0gRhm4MlDb9NUvTeyU (unit-key): allowed\n"));
	assert_non_null(strstr(logbuf, "(other-key): refused (not in ssh_agent)\n"));
	assert_non_null(strstr(logbuf, "ssh_agent: ssh: refused message 22 (lock)\n"));
	assert_non_null(
		strstr(logbuf, "ssh_agent: ssh: refused message 19 (remove_all_identities)\n"));
	close(up[0]);
	close(up[1]);
	kill(agent, SIGKILL);
	waitpid(agent, NULL, 0);
	unlink(sa.sun_path);
	rmdir(tmpl);
}

/* A comment is compared as the agent has it: a key whose comment holds a
 * control character ("other\1key", shown "other?key" in the log) is not
 * the Envfile's "other?key", for a listing nor for a signature. */
static void test_comment_as_is(void **state)
{
	static const char *const keys[] = { "other?key" };
	int up[2], life[2], report[2], lst, cli;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char m[4096], ans[4096];
	char tmpl[] = "/tmp/agent_test.XXXXXX", signs[8];
	pid_t agent, filter;

	(void)state;
	other_comment = "other\001key";
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, up), 0);
	assert_int_equal(pipe2(life, O_CLOEXEC), 0);
	assert_int_equal(pipe2(report, O_CLOEXEC | O_NONBLOCK), 0);
	assert_non_null(mkdtemp(tmpl));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", tmpl);
	lst = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lst, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lst, 4), 0);
	agent = fork();
	if (agent == 0) {
		close(life[1]);
		fake_agent(up[1], report[1]);
	}
	filter = fork();
	if (filter == 0) {
		struct hnet_agent_policy pol = { .mode = HNET_AGENT_LIST,
						 .keys = keys,
						 .n_keys = 1,
						 .env_name = "t",
						 .who = "ssh",
						 .log_fd = -1,
						 .tty_fd = -1,
						 .hold_fd = -1 };

		close(life[1]);
		_exit(hnet_agent_serve(&pol, lst, up[0], life[0]));
	}
	close(life[0]);
	cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(ask(cli, m, msg(m, 11, 0), ans, sizeof(ans)), 12);
	assert_int_equal(get32(ans + 1), 0);
	assert_int_equal(ask(cli, m,
			     msg(m, 13, 2, "not-a-real-key-blob", (size_t)19, "data", (size_t)4),
			     ans, sizeof(ans)),
			 5);
	assert_int_equal(read(report[0], signs, sizeof(signs)), -1); /* no sign request */
	close(cli);
	close(life[1]);
	assert_int_equal(waitpid(filter, NULL, 0), filter);
	close(up[0]);
	close(up[1]);
	kill(agent, SIGKILL);
	waitpid(agent, NULL, 0);
	unlink(sa.sun_path);
	rmdir(tmpl);
	other_comment = "other-key";
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_comment_as_is),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
