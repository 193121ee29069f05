/*
 * container/init.c - the container's PID 1 (built alone, static, libc only;
 * embedded in devenv by init_blob.S and run from a sealed memfd).
 *
 *   devenv-init env             an env: reap orphans forever; on SIGTERM or
 *                               SIGINT pass SIGTERM to everything and exit 0
 *                               once no other process is left in the pid
 *                               namespace (commands entered with `devenv ssh`
 *                               are not our children, yet must get to finish
 *                               their SIGTERM handling). The env's log is fd 3.
 *   devenv-init run -- ARGV...  a build step: run ARGV, reap everything, and
 *                               when ARGV exits kill the rest and exit with
 *                               its status (128+signal when signalled).
 *   devenv-init service -- ARGV...  a service: as run, and when ARGV exits
 *                               its status goes, in decimal, to fd 3 (a file
 *                               in the service's folder on the host) and a
 *                               line saying so to stderr (the service's log),
 *                               so that devenv can report an exited service.
 *
 * It must stay tiny (resident anonymous memory <= 256 KiB): no malloc, no
 * stdio buffers, signals read from a signalfd rather than handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
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

/* "N\n" to fd 3, and a line to the log; fd 3 is never the command's. */
static void record_exit(const char *cmd, int status)
{
	char num[16], tail[48] = "' exited with status ", *p = num + sizeof(num);
	size_t len;

	*--p = '\n';
	do
		*--p = (char)('0' + status % 10);
	while ((status /= 10) > 0 && p > num);
	len = (size_t)(num + sizeof(num) - p);
	if (write(3, p, len) < 0) {
		/* the host-side file is gone (destroyed): nothing to record */
	}
	strncat(tail, p, len - 1);
	say("devenv: service command '", cmd, tail);
}

int main(int argc, char **argv)
{
	sigset_t all, empty;
	pid_t main_pid = -1;
	int sfd, main_status = 0, main_done = 0, stopping = 0, service = 0;

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
	}
	if (argc >= 4 && (service || !strcmp(argv[1], "run")) && !strcmp(argv[2], "--")) {
		main_pid = spawn(argv + 3, &empty);
		if (main_pid < 0) {
			say("devenv: cannot run '", argv[3], "': fork failed");
			return 126;
		}
	} else if (argc != 2 || strcmp(argv[1], "env")) {
		say("usage: devenv-init env | run -- ARGV... | service -- ARGV...", "", "");
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
