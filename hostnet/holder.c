/*
 * hostnet/holder.c - who holds a host port that `up` found taken, found as
 * `ss -ltnp` finds it: the socket's inode in /proc/net/tcp or tcp6 (a
 * listener on the port first, else a socket only bound to it), then the
 * process with an fd on "socket:[INODE]" under /proc/PID/fd.
 *
 * Only on that error path. Without root, another user's processes' fds are
 * not ours to read; a socket of another network namespace is not in our
 * tables: then no one is named, and the message says only that the port
 * is taken.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostnet/hostnet.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define TCP_LISTEN 0x0A

/* The inode of a socket on port in one /proc/net table: a listener's if
 * there is one (*listening then true), else one bound to it; 0 if none. */
static unsigned long socket_inode(const char *table, unsigned port, bool *listening, long *uid)
{
	dv_autofclose FILE *f = fopen(table, "re");
	char line[512];
	unsigned long bound = 0;
	long bound_uid = -1;

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f)) /* the header */
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char local[64], remote[64];
		unsigned st, lport;
		unsigned long inode, owner;
		const char *colon;

		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*s %63s %63s %x %*s %*s %*s %lu %*s %lu", local, remote, &st,
			   &owner, &inode) != 5 ||
		    !inode)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &lport) != 1 || lport != port)
			continue;
		if (st == TCP_LISTEN) {
			*listening = true;
			*uid = (long)owner;
			return inode;
		}
		if (!bound) {
			bound = inode;
			bound_uid = (long)owner;
		}
	}
	if (bound)
		*uid = bound_uid;
	return bound;
}

/* Does pid (a /proc entry) hold an fd on link ("socket:[INODE]")? */
static bool holds(int proc_fd, const char *pid, const char *link)
{
	dv_autofree char *path = dv_xasprintf("%s/fd", pid);
	dv_autoclose int fd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dv_autoclosedir DIR *d = fd < 0 ? NULL : dv_opendir_fd(fd);
	struct dirent *de;
	char target[64];

	if (!d)
		return false;
	while ((de = readdir(d))) {
		ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, link) == 0)
			return true;
	}
	return false;
}

static void read_comm(int proc_fd, const char *pid, char *comm, size_t size)
{
	dv_autofree char *path = dv_xasprintf("%s/comm", pid);
	dv_autoclose int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, comm, size - 1);

	if (n <= 0) {
		snprintf(comm, size, "?");
		return;
	}
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	/* A process names itself: nothing of it reaches a terminal raw. */
	for (char *c = comm; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
}

pid_t hnet_port_holder(const struct hnet_port *p, char *comm, size_t size, long *uid)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	unsigned long inodes[2];
	bool listening[2] = { false, false };
	dv_autoclose int proc_fd = -1;
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;
	char link[2][48];
	long uids[2] = { -1, -1 };

	for (size_t i = 0; i < 2; i++)
		inodes[i] = socket_inode(tables[i], p->host_port, &listening[i], &uids[i]);
	/* A listener (in either table) before a socket only bound. */
	for (size_t i = 0; i < 2; i++)
		if ((listening[0] || listening[1]) && !listening[i])
			inodes[i] = 0;
	*uid = inodes[0] ? uids[0] : inodes[1] ? uids[1] : -1;
	if (!inodes[0] && !inodes[1])
		return 0;
	for (size_t i = 0; i < 2; i++)
		snprintf(link[i], sizeof(link[i]), "socket:[%lu]", inodes[i]);
	proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = proc_fd < 0 ? NULL : dv_opendir_fd(proc_fd);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (pid <= 0 || *end)
			continue;
		for (size_t i = 0; i < 2; i++) {
			if (!inodes[i] || !holds(proc_fd, de->d_name, link[i]))
				continue;
			read_comm(proc_fd, de->d_name, comm, size);
			return (pid_t)pid;
		}
	}
	return 0;
}
