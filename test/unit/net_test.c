/*
 * test/unit/net_test.c - hostnet/ without containers:
 * the helper's port arguments, socket addresses, the port probe on real
 * loopback sockets, and the relay loop between a client and a server on
 * 127.0.0.1 (host mode), half-close and "nothing listening" included;
 * the ports forwarder's ssh command line.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hostnet/internal.h"
#include "util/cleanup.h"
#include "util/error.h"

/* The response left in the relay when both ends have hung up: more than
 * the client's side can hold, less than the relay's upstream socket and
 * buffer can. */
#ifndef RESPONSE_SIZE
#define RESPONSE_SIZE (64 << 10)
#endif

/* close() and fork() of the code under test come here first (the
 * executable's definitions win over libc's). A close() that finds no fd is
 * counted: a second close() of a number is a bug even when it happens to
 * fail harmlessly, since another thread may have been given that number
 * meanwhile. fork() fails on request, for the paths that handle it. */
static int closes_of_nothing;
static bool fork_fails;

int close(int fd)
{
	static int (*real)(int);
	int r;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "close");
	r = real(fd);
	if (r < 0 && errno == EBADF)
		closes_of_nothing++;
	return r;
}

pid_t fork(void)
{
	static pid_t (*real)(void);

	if (fork_fails) {
		errno = EAGAIN;
		return -1;
	}
	if (!real)
		real = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
	return real();
}

static void test_port_arg(void **state)
{
	struct hnet_port in = { "127.0.0.1", 8000, 9000, false },
			 in6 = { "::1", 5433, 5432, false }, out;
	dv_autofree char *a = hnet_port_to_arg(&in);
	dv_autofree char *b = hnet_port_to_arg(&in6);

	(void)state;
	assert_string_equal(a, "127.0.0.1,8000,9000");
	assert_int_equal(hnet_port_from_arg(a, &out), 0);
	assert_string_equal(out.host_ip, "127.0.0.1");
	assert_int_equal(out.host_port, 8000);
	assert_int_equal(out.container_port, 9000);
	assert_int_equal(hnet_port_from_arg(b, &out), 0);
	assert_string_equal(out.host_ip, "::1");
	assert_int_equal(out.host_port, 5433);
	assert_int_equal(out.container_port, 5432);
	{
		const char *bad[] = { "",
				      "8000",
				      "127.0.0.1,8000",
				      "localhost,1,2",
				      "1.2.3.4,0,5",
				      "1.2.3.4,65536,5",
				      "1.2.3.4,x,5",
				      "1.2.3.4,5,",
				      "1.2.3.4,+5,6",
				      "1.2.3.4,5,6 ",
				      ",,",
				      NULL };

		for (size_t i = 0; bad[i]; i++) {
			char buf[64];

			snprintf(buf, sizeof(buf), "%s", bad[i]);
			if (hnet_port_from_arg(buf, &out) == 0)
				fail_msg("'%s' was accepted", bad[i]);
		}
	}
}

static void test_sockaddr(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	assert_int_equal(hnet_port_sockaddr("0.0.0.0", 80, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
	assert_int_equal(hnet_port_sockaddr("::", 8080, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(hnet_port_sockaddr("example.org", 80, &ss, &len), -1);
	assert_int_equal(hnet_port_sockaddr("[::1]", 80, &ss, &len), -1);
}

/* A listening socket on 127.0.0.1 at a port the kernel picks. */
static int listen_any(unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	/* As the forwarder's: the relay's TIME_WAIT leftovers do not hold it. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_probe(void **state)
{
	unsigned port;
	int fd = listen_any(&port);
	struct hnet_port p = { "127.0.0.1", port, port, false };
	struct hnet_port elsewhere = { "203.0.113.7", 8000, 8000, false }; /* TEST-NET-3: not ours */
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(hnet_port_probe(&p, &err), -1);
	assert_int_equal(err.errnum, EADDRINUSE);
	close(fd);
	assert_int_equal(hnet_port_probe(&p, &err), 0);
	assert_int_equal(hnet_port_probe(&elsewhere, &err), -1);
	assert_int_equal(err.errnum, EADDRNOTAVAIL);
}

/* Who holds a taken port: this process, named by its comm; a free port:
 * no one. (A v6 listener too: /proc/net/tcp6.) */
static void test_holder(void **state)
{
	unsigned port;
	int fd = listen_any(&port);
	struct hnet_port p = { "127.0.0.1", port, port, false };
	char comm[64], own[64] = "";
	FILE *f = fopen("/proc/self/comm", "re");

	(void)state;
	assert_non_null(f);
	assert_non_null(fgets(own, sizeof(own), f));
	fclose(f);
	own[strcspn(own, "\n")] = '\0';
	long uid;

	assert_int_equal(hnet_port_holder(&p, comm, sizeof(comm), &uid), getpid());
	assert_string_equal(comm, own);
	assert_int_equal(uid, (long)getuid());
	close(fd);
	assert_int_equal(hnet_port_holder(&p, comm, sizeof(comm), &uid), 0);
	assert_int_equal(uid, -1);
}

/* A client of 127.0.0.1:port; rcvbuf > 0: its receive buffer, set (and
 * locked against autotuning) before the window is agreed. */
static int connect_with(unsigned port, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int connect_to(unsigned port)
{
	return connect_with(port, 0);
}

static size_t read_all(int fd, char *buf, size_t size)
{
	size_t have = 0;
	ssize_t n;

	while (have < size && (n = read(fd, buf + have, size - have)) > 0)
		have += (size_t)n;
	return have;
}

static void test_relay(void **state)
{
	unsigned up_port, free_port;
	int server = listen_any(&up_port), spare = listen_any(&free_port);
	struct hnet_port ports[2];
	int listeners[2], c, s, pidfd;
	pid_t sleeper, fwd;
	char buf[256];
	size_t n;
	struct dv_error err = { 0 };

	(void)state;
	close(spare); /* free_port: nothing listens there now */
	ports[0] = (struct hnet_port){ "127.0.0.1", 0, up_port, false };
	ports[1] = (struct hnet_port){ "127.0.0.1", 0, free_port, false };
	for (int i = 0; i < 2; i++) {
		unsigned lp;

		listeners[i] = listen_any(&lp);
		ports[i].host_port = lp;
		/* As hnet_port_listen makes them: the relay accepts until EAGAIN. */
		fcntl(listeners[i], F_SETFL, O_NONBLOCK);
		/* The relay's sockets towards its clients inherit a small send
		 * buffer, locked (for the hang-ups below). */
		assert_int_equal(setsockopt(listeners[i], SOL_SOCKET, SO_SNDBUF, &(int){ 4096 },
					    sizeof(int)),
				 0);
	}
	/* The "init": the relay ends when it does. Both die with us, should
	 * an assertion end the test (they would hold its output open). */
	sleeper = fork();
	if (sleeper == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	pidfd = pidfd_open(sleeper, 0);
	assert_true(pidfd >= 0);
	fwd = fork();
	if (fwd == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(hnet_forward_run(ports, listeners, 2, pidfd, -1) == 0 ? 0 : 1);
	}
	close(listeners[0]);
	close(listeners[1]);

	/* Nothing listening behind the second forward: that connection ends. */
	c = connect_to(ports[1].host_port);
	assert_int_equal(read_all(c, buf, sizeof(buf)), 0);
	close(c);

	/* Request, half-close, response, EOF. */
	c = connect_to(ports[0].host_port);
	assert_int_equal(write(c, "ping", 4), 4);
	shutdown(c, SHUT_WR);
	s = accept(server, NULL, NULL);
	assert_true(s >= 0);
	n = read_all(s, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(s, "pong", 4), 4);
	close(s);
	n = read_all(c, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "pong", 4);
	close(c);

	/* Both ends hang up while much of the response still waits in the
	 * relay and its sockets for a slow client: it arrives whole. The
	 * client's side holds little (its receive buffer and the relay's
	 * send buffer towards it are small and locked), so most of the
	 * response waits in the relay's buffer and its upstream socket. The
	 * server closes with SO_LINGER: that close returns once the relay's
	 * kernel has acknowledged every byte and the FIN, so from then on
	 * the relay has seen both hang-ups with data left, and only then
	 * does the client read. */
	c = connect_with(ports[0].host_port, 4096);
	assert_int_equal(write(c, "get", 3), 3);
	shutdown(c, SHUT_WR);
	s = accept(server, NULL, NULL);
	assert_true(s >= 0);
	{
		enum { BIG = RESPONSE_SIZE };
		char *big = malloc(BIG), *got = malloc(BIG + 1);
		struct pollfd done = { .events = POLLIN };
		pid_t writer;
		int st;

		assert_non_null(big);
		assert_non_null(got);
		for (size_t i = 0; i < BIG; i++)
			big[i] = (char)('a' + i % 26);
		writer = fork();
		if (writer == 0) {
			struct linger lg = { .l_onoff = 1, .l_linger = 20 };
			char req[8];

			_exit(read_all(s, req, sizeof(req)) == 3 && write(s, big, BIG) == BIG &&
					      setsockopt(s, SOL_SOCKET, SO_LINGER, &lg,
							 sizeof(lg)) == 0 &&
					      close(s) == 0
				      ? 0
				      : 1);
		}
		/* Whichever close is the last one lingers: ours, should the
		 * writer's come first. */
		close(s);
		done.fd = pidfd_open(writer, 0);
		assert_true(done.fd >= 0);
		if (poll(&done, 1, 30 * 1000) != 1) {
			kill(writer, SIGKILL);
			fail_msg("the writer could not hand its %d bytes to the relay in 30 s", BIG);
		}
		close(done.fd);
		assert_int_equal(waitpid(writer, &st, 0), writer);
		assert_int_equal(read_all(c, got, BIG + 1), BIG);
		assert_memory_equal(got, big, BIG);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		free(big);
		free(got);
	}
	close(c);

	/* A client that vanishes leaves the relay serving the next one. */
	c = connect_to(ports[0].host_port);
	close(c);
	s = accept(server, NULL, NULL);
	close(s);
	c = connect_to(ports[0].host_port);
	s = accept(server, NULL, NULL);
	assert_int_equal(write(s, "again", 5), 5);
	close(s);
	assert_int_equal(read_all(c, buf, sizeof(buf)), 5);
	close(c);

	/* The init dies: so does the relay, and the ports are free. */
	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	{
		int st;

		assert_int_equal(waitpid(fwd, &st, 0), fwd);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(hnet_port_probe(&ports[0], &err), 0);
	close(pidfd);
	close(server);
}

/* ctr_outbound_start's pid file (pasta) is closed once, whether pasta ran
 * or could not be started: it used to be closed by hand and again by
 * dv_autoclose. /bin/true stands in for pasta: it exits 0 having written
 * no pid (or, without root, the child cannot make its mount namespace and
 * exits 126: a failure, which closes the same way). */
static void test_outbound_closes_once(void **state)
{
	struct dv_error err = { 0 };
	int exit_w = 5, r;
	pid_t pid = 5;

	(void)state;
	closes_of_nothing = 0;
	r = ctr_outbound_start("/bin/true", true, getpid(), &exit_w, &pid, &err);
	assert_int_equal(closes_of_nothing, 0);
	assert_int_equal(exit_w, -1);
	assert_int_equal(pid, 0);
	if (r < 0)
		assert_string_equal(err.msg,
				    "pasta failed to set up the env's network: it said nothing");

	/* fork fails: an error, and each fd closed once. */
	err = (struct dv_error){ 0 };
	fork_fails = true;
	r = ctr_outbound_start("/bin/true", true, getpid(), &exit_w, &pid, &err);
	fork_fails = false;
	assert_int_equal(r, -1);
	assert_int_equal(err.errnum, EAGAIN);
	assert_string_equal(err.msg, "fork: Resource temporarily unavailable");
	assert_int_equal(closes_of_nothing, 0);
}

/* The forwarder's ssh command line: the caller's options, ours, one -L
 * per port (IPv6 bracketed), "--" and the destination last; a destination
 * that could be an option, or no "--", is refused. */
static void test_sshfwd_argv(void **state)
{
	const char *ssh[] = { "ssh", "-F", "/x/cfg", "-p", "2222", "--", "u@h", NULL };
	const struct hnet_fwd_port ports[] = { { NULL, 8080, 18080 }, { "::1", 5432, 5432 } };
	struct dv_strv out = { 0 };
	struct dv_error err = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(hnet_sshfwd_argv(ssh, ports, 2, &out, &err), 0);
	assert_string_equal(out.v[0], "ssh");
	assert_string_equal(out.v[2], "/x/cfg");
	assert_string_equal(out.v[4], "2222");
	assert_string_equal(out.v[out.n - 2], "--");
	assert_string_equal(out.v[out.n - 1], "u@h");
	assert_string_equal(out.v[out.n - 3], "[::1]:5432:127.0.0.1:5432");
	assert_string_equal(out.v[out.n - 5], "127.0.0.1:8080:127.0.0.1:18080");
	for (i = 0; i < out.n; i++)
		if (!strcmp(out.v[i], "BatchMode=yes"))
			break;
	assert_true(i < out.n);
	for (i = 0; i < out.n; i++)
		if (!strcmp(out.v[i], "ControlPath=none"))
			break;
	assert_true(i < out.n);
	assert_null(out.v[out.n]);
	dv_strv_release(&out);

	const char *hostile[] = { "ssh", "--", "-oProxyCommand=sh", NULL };
	assert_int_equal(hnet_sshfwd_argv(hostile, ports, 1, &out, &err), -1);
	assert_int_equal(err.errnum, EINVAL);
	const char *no_dash[] = { "ssh", "u@h", NULL };
	assert_int_equal(hnet_sshfwd_argv(no_dash, ports, 1, &out, &err), -1);
	const char *extra[] = { "ssh", "--", "u@h", "true", NULL };
	assert_int_equal(hnet_sshfwd_argv(extra, ports, 1, &out, &err), -1);
	const struct hnet_fwd_port bad[] = { { "not-an-ip", 1, 2 } }, zero[] = { { NULL, 0, 2 } };
	assert_int_equal(hnet_sshfwd_argv(ssh, bad, 1, &out, &err), -1);
	assert_int_equal(hnet_sshfwd_argv(ssh, zero, 1, &out, &err), -1);
	dv_strv_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_arg),    cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_probe),       cmocka_unit_test(test_holder),
		cmocka_unit_test(test_relay),       cmocka_unit_test(test_outbound_closes_once),
		cmocka_unit_test(test_sshfwd_argv),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
