/*
 * container/init.c - the container's PID 1 (built alone, static, libc only;
 * embedded in devenv by init_blob.S and run from a sealed memfd).
 *
 *   devenv-init env             an env: wait for devenv's commit byte on fd 3
 *                               (EOF: devenv died before it recorded us:
 *                               exit at once, and the namespace goes with
 *                               us); then reap orphans forever; on SIGTERM or
 *                               SIGINT pass SIGTERM to everything and exit 0
 *                               once no other process is left in the pid
 *                               namespace (commands entered with `devenv ssh`
 *                               are not our children, yet must get to finish
 *                               their SIGTERM handling). It holds no file of
 *                               the host's: fds 0-2 are the env's /dev/null.
 *   devenv-init run -- ARGV...  a build step: run ARGV, reap everything, and
 *                               when ARGV exits kill the rest and exit with
 *                               its status (128+signal when signalled).
 *   devenv-init service -- ARGV...  a service: the commit byte on fd 4 as an
 *                               env, then as run, and when ARGV exits
 *                               its status goes, in decimal, to fd 3 and a
 *                               line saying so to stderr, both pipes to the
 *                               service's log relay (below); we exit once
 *                               the relay has closed fd 3, so that the log
 *                               and the exit file are whole when devenv sees
 *                               the service stopped.
 *   devenv-log log [SIZE FILES] a log relay, on the host's side (ns.c
 *                               starts it in a session of its own): a
 *                               service's, or the env's on_up output. It
 *                               appends fd 0 (the service's stdout and
 *                               stderr) to fd 4 (its log), then writes the
 *                               status line read from fd 3 to fd 5 (its exit
 *                               file), and exits at EOF. With SIZE and FILES
 *                               (decimal) it keeps the log at most SIZE
 *                               bytes: when the next line would not fit it
 *                               renames "log" to "log.1" (log.1 to log.2 ...,
 *                               FILES files in all, the oldest dropped) in
 *                               the folder fd 6 and goes on in a new "log".
 *                               No capability, no other fd of devenv's.
 *
 * It must stay tiny (resident anonymous memory <= 256 KiB): no malloc, no
 * stdio buffers, signals read from a signalfd rather than handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h> /* renameat; no stdio buffer is used */
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char buf[512];

	/* a and c are short constants; only b (a command's name) is cut. */
	if (la + lb + lc + 2 > sizeof(buf))
		lb = sizeof(buf) - la - lc - 2;
	memcpy(buf, a, la);
	memcpy(buf + la, b, lb);
	memcpy(buf + la + lb, c, lc);
	buf[la + lb + lc] = '\n';
	if (write(2, buf, la + lb + lc + 1) < 0) {
		/* stderr gone: nobody to tell */
	}
}

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Reap every child that has exited; returns 1 when none is left. */
static int reap(pid_t main_pid, int *main_status, int *main_done)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p < 0)
			return errno == ECHILD;
		if (p == 0)
			return 0;
		if (p == main_pid) {
			*main_status = status_of(st);
			*main_done = 1;
		}
	}
}

static pid_t spawn(char **argv, const sigset_t *empty)
{
	pid_t pid = fork();
	int sig;

	if (pid != 0)
		return pid;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, empty, NULL);
	/* glibc's execvp searches the PATH of our environment, which is the
	 * command's own; it needs no NSS. */
	execvp(argv[0], argv);
	{
		int e = errno;
		char msg[128] = "': ";

		strncat(msg, strerror(e), sizeof(msg) - 4);
		say("devenv: cannot run '", argv[0], msg);
		_exit(e == ENOENT ? 127 : 126);
	}
}

/* "N\n" to fd 3, and a line to the log; fd 3 is never the command's. Then
 * let go of the log and wait until the relay has written both down and
 * closed its end of fd 3 (a pipe without readers polls POLLERR); a relay
 * that is gone or stuck does not keep us for more than 2 s. */
static void record_exit(const char *cmd, int status)
{
	char num[16], tail[48] = "' exited with status ", *p = num + sizeof(num);
	struct pollfd pf = { .fd = 3, .events = 0 };
	size_t len;

	*--p = '\n';
	do
		*--p = (char)('0' + status % 10);
	while ((status /= 10) > 0 && p > num);
	len = (size_t)(num + sizeof(num) - p);
	if (write(3, p, len) < 0) {
		/* the relay is gone: nothing to record */
	}
	strncat(tail, p, len - 1);
	say("devenv: service command '", cmd, tail);
	close(1);
	close(2);
	while (poll(&pf, 1, 2000) < 0 && errno == EINTR) {
	}
}

/* The commit point (ns.c): devenv, the only holder of the pipe's write
 * end, writes one byte once it has recorded us. We come without a
 * parent-death signal (ns.c clears it before the exec): the pipe alone
 * says whether devenv died before committing. */
static int committed(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == 1;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The log's cap (0: none) and where the current file stands. */
static unsigned long long log_cap, log_size;
static unsigned log_files;
static int log_fd = 4;

static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > max / 10)
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* "log" for 0, "log.N" else. */
static void log_name(char *out, unsigned i)
{
	char num[12], *p = num + sizeof(num);

	memcpy(out, "log", 4);
	if (i == 0)
		return;
	*--p = 0;
	do
		*--p = (char)('0' + i % 10);
	while ((i /= 10) > 0);
	out[3] = '.';
	memcpy(out + 4, p, (size_t)(num + sizeof(num) - p));
}

/* log.(FILES-2) -> log.(FILES-1) ... log -> log.1, then a new "log" on fd 4.
 * Should the new one not open (a full disk, the env destroyed), the rest is
 * dropped: the cap holds. */
static void log_rotate(void)
{
	char from[20], to[20];
	struct stat sb;
	int fd;

	/* Larger than the cap: written before there was one (or a larger
	 * one). Kept, it would hold more than the cap for as long as the
	 * files last: dropped instead. */
	if (log_fd >= 0 && fstat(log_fd, &sb) == 0 && (unsigned long long)sb.st_size > log_cap)
		unlinkat(6, "log", 0);
	for (unsigned i = log_files - 1; i >= 1; i--) {
		log_name(from, i - 1);
		log_name(to, i);
		renameat(6, from, 6, to);
	}
	fd = openat(6, "log", O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		close(log_fd);
		log_fd = -1;
	} else if (fd != 4) {
		dup2(fd, 4);
		close(fd);
		log_fd = 4;
	}
	log_size = 0;
}

/* Append, cut into files of at most log_cap bytes at line ends (a line
 * longer than the cap alone is cut at the cap). */
static void log_out(const char *b, size_t n)
{
	while (n && log_fd >= 0) {
		size_t k = n;

		if (log_cap && log_size >= log_cap) { /* full, or larger than the cap before */
			log_rotate();
			continue;
		}
		if (log_cap && n > log_cap - log_size) {
			k = (size_t)(log_cap - log_size);
			while (k > 0 && b[k - 1] != '\n')
				k--;
			if (k == 0 && log_size > 0) {
				log_rotate();
				continue;
			}
			if (k == 0)
				k = (size_t)log_cap;
		}
		write_all(log_fd, b, k); /* disk full: the rest is lost, as with a file */
		log_size += k;
		b += k;
		n -= k;
		if (log_cap && log_size >= log_cap)
			log_rotate();
	}
}

/* The log relay (devenv-log log). It reads what a hostile service writes
 * and only ever copies it: no parsing but the status line's digits. */
static int log_relay(int argc, char **argv)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
	char buf[8192], st[8];
	size_t stlen = 0, i;
	int out_open = 1, st_open = 1;
	struct stat sb;

	prctl(PR_SET_DUMPABLE, 0);
	prctl(PR_SET_NAME, "devenv-log");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_capset, &h, none) < 0)
		return 125;
	if (argc == 4) {
		unsigned long long files;

		if (parse_num(argv[2], 1ULL << 50, &log_cap) < 0 ||
		    parse_num(argv[3], 1000, &files) < 0 || files < 1 || log_cap < 1)
			return 125;
		log_files = (unsigned)files;
		log_size = fstat(4, &sb) == 0 ? (unsigned long long)sb.st_size : 0;
	}
	while (out_open || st_open) {
		struct pollfd p[2] = { { out_open ? 0 : -1, POLLIN, 0 },
				       { st_open ? 3 : -1, POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 125;
		}
		if (p[0].revents) {
			n = read(0, buf, sizeof(buf));
			if (n > 0)
				log_out(buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				out_open = 0;
		}
		if (p[1].revents) {
			n = read(3, st + stlen, sizeof(st) - stlen);
			if (n > 0)
				stlen += (size_t)n;
			/* A whole line is all there is: the init waits for us to
			 * close fd 3 before it closes its end. */
			if (n > 0 ? memchr(st, '\n', stlen) || stlen == sizeof(st)
				  : n == 0 || (errno != EINTR && errno != EAGAIN))
				st_open = 0;
		}
	}
	for (i = 0; i < stlen && st[i] >= '0' && st[i] <= '9'; i++) {
	}
	if (i > 0 && i <= 3 && i + 1 == stlen && st[i] == '\n')
		write_all(5, st, stlen);
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t all, empty;
	pid_t main_pid = -1;
	int sfd, main_status = 0, main_done = 0, stopping = 0, service = 0;

	if ((argc == 2 || argc == 4) && !strcmp(argv[1], "log"))
		return log_relay(argc, argv);
	/* Nothing inside may ptrace us or open our memory or executable. */
	prctl(PR_SET_DUMPABLE, 0);
	/* Run from a memfd, we would be called "memfd:devenv-in". */
	prctl(PR_SET_NAME, "devenv-init");
	sigfillset(&all);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &all, NULL);
	sfd = signalfd(-1, &all, SFD_CLOEXEC);
	if (sfd < 0) {
		say("devenv-init: signalfd: ", strerror(errno), "");
		return 125;
	}
	if (argc >= 4 && !strcmp(argv[1], "service") && !strcmp(argv[2], "--")) {
		service = 1;
		fcntl(3, F_SETFD, FD_CLOEXEC);
		if (!committed(4))
			return 125;
	}
	if (argc == 2 && !strcmp(argv[1], "env") && !committed(3))
		return 125;
	if (argc >= 4 && (service || !strcmp(argv[1], "run")) && !strcmp(argv[2], "--")) {
		main_pid = spawn(argv + 3, &empty);
		if (main_pid < 0) {
			say("devenv: cannot run '", argv[3], "': fork failed");
			return 126;
		}
	} else if (argc != 2 || strcmp(argv[1], "env")) {
		say("usage: devenv-init env | run -- ARGV... | service -- ARGV... | log [SIZE FILES]",
		    "", "");
		return 125;
	}
	for (;;) {
		struct signalfd_siginfo si;
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		ssize_t n;

		/* Stopping: look every 20 ms whether anything is left. kill(-1, 0)
		 * fails with ESRCH when no process but us is in the namespace. */
		if (stopping && poll(&p, 1, 20) == 0) {
			reap(-1, &main_status, &main_done);
			if (kill(-1, 0) < 0 && errno == ESRCH)
				return 0;
			continue;
		}
		n = read(sfd, &si, sizeof(si));
		if (n != sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGCHLD: {
			int none = reap(main_pid, &main_status, &main_done);

			if (main_done) {
				/* The step is over: whatever it left behind goes. */
				kill(-1, SIGKILL);
				if (service)
					record_exit(argv[3], main_status);
				return main_status;
			}
			if (stopping && none && kill(-1, 0) < 0 && errno == ESRCH)
				return 0;
			break;
		}
		case SIGTERM:
		case SIGINT:
			if (main_pid > 0) {
				kill(main_pid, (int)si.ssi_signo);
				break;
			}
			stopping = 1;
			kill(-1, SIGTERM);
			if (reap(-1, &main_status, &main_done) && kill(-1, 0) < 0 && errno == ESRCH)
				return 0;
			break;
		default:
			break;
		}
	}
}
