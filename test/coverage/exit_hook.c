/*
 * test/coverage/exit_hook.c - in coverage builds only (make coverage), how
 * a devenv process inside an env leaves: without writing its counts.
 *
 * gcov's counts are written to the build folder's absolute path
 * (build/coverage/...) at exit and before each exec (libgcov's
 * __gcov_exec* wrappers, which the compiler calls instead of exec*). A
 * devenv process inside an env, after pivot_root, does not see that
 * folder: libgcov would print its failures on the env's stderr (which the
 * tests compare), or, as root there, make the folders in the env's own
 * files. So here, linked into build/coverage/devenv only (never into
 * devenv itself): the exec wrappers dump only where the folder is there,
 * and a destructor, which runs before libgcov's (theirs have a priority,
 * 100; one without runs first), sends an exit's writes to a path that can
 * never be made and its complaints to /dev/null. Such a process's counts
 * are lost; the host's are kept.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef DV_COVERAGE_DIR
#error "DV_COVERAGE_DIR: the build folder the counts go to"
#endif

/* libgcov's, and the wrappers the compiler calls (ours replace them). */
void __gcov_dump(void);
void __gcov_reset(void);
int __gcov_execv(const char *path, char *const argv[]);
int __gcov_execve(const char *path, char *const argv[], char *const envp[]);
int __gcov_execvp(const char *file, char *const argv[]);
int __gcov_execlp(const char *file, const char *arg, ...);

static int reachable(void)
{
	struct stat st;

	return stat(DV_COVERAGE_DIR, &st) == 0;
}

__attribute__((destructor)) static void dv_coverage_exit(void)
{
	int fd;

	if (reachable())
		return;
	/* Under a character device, no folder can be made. */
	setenv("GCOV_PREFIX", "/dev/null", 1);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0)
		dup2(fd, STDERR_FILENO);
}

/* As libgcov's: the counts so far are written, and reset when exec failed
 * (the process goes on counting from zero, as it would have after exec). */
static int dumped(void)
{
	if (!reachable())
		return 0;
	__gcov_dump();
	return 1;
}

int __gcov_execv(const char *path, char *const argv[])
{
	int d = dumped(), ret = execv(path, argv);

	if (d)
		__gcov_reset();
	return ret;
}

int __gcov_execve(const char *path, char *const argv[], char *const envp[])
{
	int d = dumped(), ret = execve(path, argv, envp);

	if (d)
		__gcov_reset();
	return ret;
}

int __gcov_execvp(const char *file, char *const argv[])
{
	int d = dumped(), ret = execvp(file, argv);

	if (d)
		__gcov_reset();
	return ret;
}

int __gcov_execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	size_t n = 1;

	va_start(ap, arg);
	while (va_arg(ap, char *))
		n++;
	va_end(ap);

	char *argv[n + 1];

	argv[0] = (char *)arg;
	va_start(ap, arg);
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	return __gcov_execvp(file, argv);
}
