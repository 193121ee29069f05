/*
 * env/svcinfo.c - what a service is doing, read live (its init, its exit
 * file) and the last lines of its log: for `up`'s warnings, `status`, and
 * a wait for a service (health.c) that ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

void env_svc_info(const struct layer_store *st, const struct env *env, size_t i,
		  struct env_svc_info *out)
{
	const struct env_svc_record *ss = &env->state.services[i];
	dv_autofree char *path = dv_xasprintf("envs/%s/services/%s/exit", env->id, ss->name);
	enum ctr_status cs = ctr_probe(&ss->init);

	out->name = ss->name;
	out->pid = ss->init.pid;
	out->exit_status = -1;
	if (cs == CTR_RUNNING || cs == CTR_FROZEN) {
		out->state = cs == CTR_RUNNING ? ENV_SVC_RUNNING : ENV_SVC_FROZEN;
		return;
	}
	out->state = ENV_SVC_STOPPED;
	/* Halted with its env, a service is simply stopped (its status then
	 * says only that halt ended it). */
	if (ctr_probe(&env->state.init) == CTR_STOPPED)
		return;
	{
		dv_autofree char *text = NULL;
		size_t len;
		char *end;
		long v;

		if (dv_read_file_at(st->root_fd, path, &text, &len, &(struct dv_error){ 0 }) < 0 ||
		    !len)
			return;
		errno = 0;
		v = strtol(text, &end, 10);
		if (errno || end == text || v < 0 || v > 255)
			return;
		out->state = ENV_SVC_EXITED;
		out->exit_status = (int)v;
	}
}

const char *env_svc_state_name(enum env_svc_state s)
{
	switch (s) {
	case ENV_SVC_RUNNING:
		return "running";
	case ENV_SVC_FROZEN:
		return "suspended";
	case ENV_SVC_EXITED:
		return "exited";
	case ENV_SVC_STOPPED:
		break;
	}
	return "stopped";
}

void env_svc_tail(const struct layer_store *st, const char *env_id, const char *name,
		  unsigned lines, FILE *f, const char *indent)
{
	dv_autofree char *path = dv_xasprintf("envs/%s/services/%s/log", env_id, name);
	dv_autofree char *older = dv_xasprintf("%s.1", path);
	dv_autoclose int fd = openat(st->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	dv_autoclose int fd1 = -1;
	char buf[8192];
	struct stat sb, sb1;
	off_t from;
	ssize_t n, n1 = 0;
	size_t start, seen = 0;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return;
	/* Just rotated (logs: max_size): the lines before are in log.1. */
	if (sb.st_size < (off_t)sizeof(buf) - 1) {
		fd1 = openat(st->root_fd, older, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd1 >= 0 && fstat(fd1, &sb1) == 0) {
			off_t room = (off_t)sizeof(buf) - 1 - sb.st_size;

			from = sb1.st_size > room ? sb1.st_size - room : 0;
			n1 = pread(fd1, buf, (size_t)(sb1.st_size - from), from);
			if (n1 < 0)
				n1 = 0;
		}
	}
	from = sb.st_size > (off_t)sizeof(buf) - 1 ? sb.st_size - (off_t)sizeof(buf) + 1 : 0;
	n = pread(fd, buf + n1, sizeof(buf) - 1 - (size_t)n1, from);
	if (n < 0)
		return;
	n += n1;
	if (n <= 0)
		return;
	if (buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	/* Back from the end to the start of the lines-th last line, but not
	 * before this run's first line: the log keeps every run. */
	start = (size_t)n;
	while (start > 0) {
		if (buf[start - 1] == '\n' &&
		    (++seen == lines ||
		     !strncmp(buf + start, SVC_START_MARK, strlen(SVC_START_MARK))))
			break;
		start--;
	}
	if (!strncmp(buf + start, SVC_START_MARK, strlen(SVC_START_MARK))) {
		char *nl = strchr(buf + start, '\n');

		if (!nl)
			return;
		start = (size_t)(nl + 1 - buf);
	}
	/* The service's own words, shown in devenv's output: what a terminal
	 * would act on (escape codes, a CSI) is shown escaped, as every text
	 * from an env is (`devenv logs` is the service's stream, unchanged). */
	for (char *p = buf + start, *nl; *p; p = nl + 1) {
		struct dv_buf line = { 0 };
		size_t len;

		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len && p[len - 1] == '\r')
			len--;
		dv_buf_add_safe(&line, p, len);
		fprintf(f, "%s%s\n", indent, line.s);
		dv_buf_release(&line);
		if (!nl)
			break;
	}
}
