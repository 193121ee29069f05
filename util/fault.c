/*
 * util/fault.c - dv_fault_point: a process that kills itself where
 * DEVENV_FAULT says, so that crash.bats can stop devenv at each stage of a
 * command as deterministically as a debugger would.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fault.h"
#include "util/banned.h"

static struct {
	int read;          /* DEVENV_FAULT looked at */
	char point[64];    /* "" when unset */
	unsigned long hit; /* which hit of it kills (1 = the first) */
	int sig;
	unsigned long seen;
} fault;

static void fault_parse(void)
{
	const char *v = getenv("DEVENV_FAULT");
	const char *colon;
	size_t len;

	fault.read = 1;
	fault.hit = 1;
	fault.sig = SIGKILL;
	if (!v || !*v)
		return;
	colon = strchr(v, ':');
	len = colon ? (size_t)(colon - v) : strlen(v);
	if (len >= sizeof(fault.point))
		return;
	memcpy(fault.point, v, len);
	fault.point[len] = 0;
	while (colon) {
		const char *arg = colon + 1;
		char *end;
		unsigned long n;

		colon = strchr(arg, ':');
		if (!strncmp(arg, "term", 4) && (arg[4] == 0 || arg[4] == ':'))
			fault.sig = SIGTERM;
		else if (!strncmp(arg, "hup", 3) && (arg[3] == 0 || arg[3] == ':'))
			fault.sig = SIGHUP;
		else if (!strncmp(arg, "stop", 4) && (arg[4] == 0 || arg[4] == ':'))
			fault.sig = SIGSTOP;
		else if ((n = strtoul(arg, &end, 10)) > 0 && (*end == 0 || *end == ':'))
			fault.hit = n;
	}
}

void dv_fault_point(const char *point)
{
	if (!fault.read)
		fault_parse();
	if (!fault.point[0] || strcmp(point, fault.point) != 0 || ++fault.seen != fault.hit)
		return;
	kill(getpid(), fault.sig);
	/* SIGTERM or SIGHUP may be blocked or handled (a build step turns them
	 * into its interruption): the point is where it arrived. SIGSTOP
	 * holds the process there until the test's SIGCONT, to open a race
	 * window as wide as the test needs. */
}
