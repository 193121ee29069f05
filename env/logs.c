/*
 * env/logs.c - an env's log (its on_up output) and each service's,
 * capped and rotated, and read back by `devenv logs`.
 *
 * The writer of a log is a log relay (container/init.c's `log` mode): the
 * service's own, or the one `up` starts for on_up. It keeps "log" at most
 * `logs: max_size` bytes, renaming it "log.1" (log.1 to log.2 ...) when the
 * next line would not fit: `logs: max_files` files in all. The reader here
 * holds each file open while it reads, so a rotation under it loses
 * nothing: `logs` prints the oldest first; `logs --tail N` the last N lines
 * across files; `logs -f` the last 10 and then what comes, across
 * rotations, while the env (the service) runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/env.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/term.h"
#include "util/banned.h"

#define LOG_FILES_MAX 100
#define CHUNK 16384

void env_log_cap(const struct env_spec *spec, int dir_fd, struct ctr_logcap *out)
{
	out->dir_fd = dir_fd;
	out->max_size = spec->logs.max_size ? spec->logs.max_size : ENV_LOG_SIZE_DEFAULT;
	out->max_files = spec->logs.max_files ? spec->logs.max_files : ENV_LOG_FILES_DEFAULT;
}

struct reader {
	int fds[LOG_FILES_MAX]; /* fds[0] "log", fds[i] "log.i" */
	size_t n;
	struct dv_term_filter filt;
	char buf[CHUNK];
	char safe[DV_TERM_FILTER_OUT(CHUNK)];
};

/* From fd's offset *off to its end, to stdout (made safe for a terminal:
 * the log is the env's record as it wrote it). */
static int copy_out(struct reader *r, int fd, off_t *off, struct dv_error *err)
{
	for (;;) {
		ssize_t n = pread(fd, r->buf, sizeof(r->buf), *off);
		size_t len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dv_err(err, errno, "reading the log");
		if (n == 0)
			return 0;
		*off += n;
		len = dv_term_filter_feed(&r->filt, r->buf, (size_t)n, r->safe);
		if (len && fwrite(r->safe, 1, len, stdout) != len)
			return dv_err(err, errno, "cannot write output");
	}
}

/* Where the last `tail` lines start: file *file at *off (the oldest file's
 * start when there are fewer). The last byte, when a newline, ends the
 * last line rather than starting one. */
static int find_tail(struct reader *r, long long tail, size_t *file, off_t *off,
		     struct dv_error *err)
{
	long long seen = 0;
	bool last_byte = true;

	*file = r->n ? r->n - 1 : 0;
	*off = 0;
	if (tail == 0) {
		struct stat sb;

		*file = 0;
		*off = r->n && fstat(r->fds[0], &sb) == 0 ? sb.st_size : 0;
		return 0;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct stat sb;
		off_t end;

		if (fstat(r->fds[i], &sb) < 0)
			return dv_err(err, errno, "reading the log");
		for (end = sb.st_size; end > 0;) {
			off_t from = end > (off_t)sizeof(r->buf) ? end - (off_t)sizeof(r->buf) : 0;
			ssize_t n = pread(r->fds[i], r->buf, (size_t)(end - from), from);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? dv_err(err, errno, "reading the log") : 0;
			for (ssize_t k = n - 1; k >= 0; k--) {
				if (r->buf[k] == '\n' && !last_byte && ++seen == tail) {
					*file = i;
					*off = from + k + 1;
					return 0;
				}
				last_byte = false;
			}
			end = from;
		}
	}
	return 0;
}

static void reader_close(struct reader *r)
{
	for (size_t i = 0; i < r->n; i++)
		close(r->fds[i]);
	r->n = 0;
}

int env_logs_show(const struct layer_store *st, const char *dir, long long tail,
		  const struct ctr_init *follow, struct dv_error *err)
{
	static struct reader r; /* 100 KiB: not on the stack */
	dv_autoclose int dfd =
		openat(st->root_fd, dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	size_t file;
	off_t off, cur_off;
	int cur = -1, ret = -1;
	bool last = false;

	memset(&r.filt, 0, sizeof(r.filt));
	r.n = 0;
	if (dfd < 0 && errno == ENOENT && !follow)
		return 0; /* never started: no output yet */
	if (dfd < 0)
		return dv_err(err, errno, "cannot open the log folder '%s'", dir);
	/* The newest first: a rotation between two opens shows a file twice
	 * at worst, never loses one. */
	for (r.n = 0; r.n < LOG_FILES_MAX; r.n++) {
		char name[32]; /* "log." and a size_t */

		if (r.n)
			snprintf(name, sizeof(name), "log.%zu", r.n);
		else
			snprintf(name, sizeof(name), "log");
		r.fds[r.n] = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (r.fds[r.n] < 0 && errno == ENOENT)
			break;
		if (r.fds[r.n] < 0) {
			dv_err(err, errno, "cannot open the log '%s/%s'", dir, name);
			goto out;
		}
	}
	if (r.n == 0 && !follow) {
		ret = 0;
		goto out;
	}
	if (find_tail(&r, tail, &file, &off, err) < 0)
		goto out;
	cur_off = 0;
	for (size_t i = file + 1; r.n && i-- > 0;) {
		cur_off = i == file ? off : 0;
		if (copy_out(&r, r.fds[i], &cur_off, err) < 0)
			goto out;
	}
	/* Following: the current "log" from where we are. */
	cur = r.n ? dup(r.fds[0]) : -1;
	reader_close(&r);
	while (follow) {
		struct stat now, was;

		fflush(stdout);
		if (cur >= 0 && copy_out(&r, cur, &cur_off, err) < 0)
			goto out;
		if (last)
			break;
		dv_fault_point("logs.follow"); /* logs.bats: a write, then the stop, here */
		/* -f follows while the env (the service) runs, like `docker logs
		 * -f`. Once it has stopped, one more read: what was written
		 * between our last one and its end (a service's last lines and
		 * status, which its log relay writes before its init exits). */
		if (ctr_probe(follow) == CTR_STOPPED) {
			last = true;
		} else {
			poll(NULL, 0, 200);
		}
		/* Rotated: the old file is whole (the relay renames it only
		 * once done with it): its rest, then the new one from its start.
		 * Truncated in place (max_files 1): from the start. */
		if (fstatat(dfd, "log", &now, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* between the rename and the new file */
		if (cur >= 0 && fstat(cur, &was) < 0) {
			dv_err(err, errno, "reading the log");
			goto out;
		}
		if (cur >= 0 && was.st_ino == now.st_ino && was.st_dev == now.st_dev) {
			if (now.st_size < cur_off)
				cur_off = 0;
			continue;
		}
		if (cur >= 0) {
			int mid;

			if (copy_out(&r, cur, &cur_off, err) < 0)
				goto out;
			/* Rotated twice since we looked: the file between is
			 * log.1 now, whole too. */
			mid = openat(dfd, "log.1", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (mid >= 0 && fstat(mid, &now) == 0 &&
			    (now.st_ino != was.st_ino || now.st_dev != was.st_dev)) {
				off_t o = 0;

				if (copy_out(&r, mid, &o, err) < 0) {
					close(mid);
					goto out;
				}
			}
			if (mid >= 0)
				close(mid);
			close(cur);
		}
		cur = openat(dfd, "log", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		cur_off = 0;
	}
	{
		size_t len = dv_term_filter_end(&r.filt, r.safe); /* a colour left on ends */

		if (len && fwrite(r.safe, 1, len, stdout) != len) {
			dv_err(err, errno, "cannot write output");
			goto out;
		}
	}
	fflush(stdout);
	ret = 0;
out:
	if (cur >= 0)
		close(cur);
	reader_close(&r);
	return ret;
}
