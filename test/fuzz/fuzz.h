/*
 * test/fuzz/fuzz.h - what the libFuzzer harnesses share (README "Testing").
 *
 * A harness is test/fuzz/<name>_fuzz.c defining LLVMFuzzerTestOneInput();
 * its seeds are test/fuzz/corpus/<name>/ (regression seeds: crash-<what>),
 * its dictionary, if any, test/fuzz/<name>.dict. The Makefile finds it by
 * that name and links it with every devenv object but devenv.o, built with
 * clang's ASan, UBSan and fuzzer coverage into build/fuzz/.
 *
 * A finding is a crash: a sanitizer report, or fuzz_fail() when a property
 * the harness checks does not hold (it prints why, then aborts, and
 * libFuzzer keeps the input). Everything here is static: each harness is
 * one program.
 */
#ifndef DEVENV_FUZZ_H
#define DEVENV_FUZZ_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 1, 2))) static inline void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FUZZ FINDING: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* A folder of the harness's own ($TMPDIR, else /dev/shm, else /tmp), made
 * once per process and removed at its normal exit (a crash leaves it, for a
 * look). */
static char *fuzz_tmp_root;

static inline void fuzz_tmp_cleanup(void)
{
	if (fuzz_tmp_root) {
		struct dv_error err = { 0 };

		dv_rm_tree_at(AT_FDCWD, fuzz_tmp_root, &err);
	}
}

static inline const char *fuzz_tmpdir(const char *tag)
{
	if (!fuzz_tmp_root) {
		const char *base = getenv("TMPDIR");

		/* tmpfs by default: the store's syncfs and fsyncs cost nothing
		 * there, and the disk the others use is left alone. */
		if (!base || !*base)
			base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		fuzz_tmp_root = dv_xasprintf("%s/devenv-fuzz-%s.XXXXXX", base, tag);
		if (!mkdtemp(fuzz_tmp_root))
			fuzz_fail("cannot make a temporary folder '%s': %s", fuzz_tmp_root,
				  strerror(errno));
		atexit(fuzz_tmp_cleanup);
	}
	return fuzz_tmp_root;
}

static inline void fuzz_write_at(int dirfd, const char *name, const void *data, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	struct dv_error err = { 0 };

	if (fd < 0 || dv_write_full(fd, data, len, &err) < 0)
		fuzz_fail("cannot write '%s': %s", name, fd < 0 ? strerror(errno) : err.msg);
	close(fd);
}

/* A bad input gets one clear line (STYLE.md 3): a message, one line (no
 * control character: util/error.c makes what it is given safe), and a
 * position, when there is one, inside the text that was read. */
static inline void fuzz_check_error(const struct dv_error *err, const char *file, const char *text,
				    size_t len)
{
	unsigned lines = 1;

	if (getenv("FUZZ_VERBOSE")) /* what each seed gives, when writing them */
		fprintf(stderr, "refused: %s:%u:%u: %s\n", err->file, err->line, err->col, err->msg);
	if (!err->msg[0])
		fuzz_fail("a failure without a message");
	/* One line, and nothing the input could make a terminal do (a tab
	 * is kept, as dv_str_safe keeps it). */
	for (const char *p = err->msg; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			fuzz_fail("a control character (0x%02x) in the error: %s",
				  (unsigned char)*p, err->msg);
	if (file && !strcmp(err->file, file) && err->line) {
		/* Every break YAML knows counts (\r, \n, U+0085, U+2028, U+2029):
		 * an upper bound of the lines any reader sees. */
		for (size_t i = 0; i < len; i++)
			lines += text[i] == '\n' || text[i] == '\r' ||
				 (i + 1 < len && text[i] == '\xc2' && text[i + 1] == '\x85') ||
				 (i + 2 < len && text[i] == '\xe2' && text[i + 1] == '\x80' &&
				  (text[i + 2] == '\xa8' || text[i + 2] == '\xa9'));
		if (err->line > lines)
			fuzz_fail("error at line %u of a %u-line input: %s", err->line, lines,
				  err->msg);
	}
}

/* --- the escape canary ---
 * A snapshot of a folder tree (names, types, modes, owners, sizes, link
 * counts, mtimes, symlink targets, and file contents up to 4 KiB) but the
 * subtree `skip` (a path relative to the top) and the mtime and link
 * count of skip's parent, which the harness changes on purpose. Two snapshots that differ
 * mean something was created, changed or removed outside the target. */
static inline int fuzz_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void fuzz_snap_dir(struct dv_buf *b, int fd, const char *rel, const char *skip)
{
	DIR *d = fdopendir(fd);
	struct dv_strv names = { 0 };
	struct dirent *de;

	if (!d)
		fuzz_fail("cannot read folder '%s': %s", rel, strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			dv_strv_push(&names, de->d_name);
	qsort(names.v, names.n, sizeof(char *), fuzz_cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		char *path = rel[0] ? dv_xasprintf("%s/%s", rel, name) : dv_xstrdup(name);
		struct stat sb;
		size_t plen = strlen(path);
		bool skip_parent = !strncmp(skip, path, plen) && skip[plen] == '/' &&
				   !strchr(skip + plen + 1, '/');

		if (!strcmp(path, skip)) {
			free(path);
			continue;
		}
		if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			fuzz_fail("cannot stat '%s': %s", path, strerror(errno));
		dv_buf_addf(b, "%s %o %u:%u %lld %lu %lld\n", path, sb.st_mode, sb.st_uid, sb.st_gid,
			    S_ISDIR(sb.st_mode) ? 0LL : (long long)sb.st_size, /* tmpfs: entries */
			    skip_parent ? 0UL : (unsigned long)sb.st_nlink,
			    skip_parent ? 0LL
					: (long long)sb.st_mtim.tv_nsec +
						  sb.st_mtim.tv_sec * 1000000000LL);
		if (S_ISLNK(sb.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(dirfd(d), name, target, sizeof(target) - 1);

			target[n > 0 ? n : 0] = 0;
			dv_buf_addf(b, "  -> %s\n", target);
		} else if (S_ISREG(sb.st_mode)) {
			int f = openat(dirfd(d), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			char buf[4096];
			ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf));

			if (n > 0)
				dv_buf_add(b, buf, (size_t)n);
			if (f >= 0)
				close(f);
		} else if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd(d), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				fuzz_fail("cannot open '%s': %s", path, strerror(errno));
			fuzz_snap_dir(b, sub, path, skip);
		}
		free(path);
	}
	dv_strv_release(&names);
	closedir(d);
}

/* The snapshot of the tree at top (caller frees). */
static inline char *fuzz_snapshot(const char *top, const char *skip)
{
	struct dv_buf b = { 0 };
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		fuzz_fail("cannot open '%s': %s", top, strerror(errno));
	fuzz_snap_dir(&b, fd, "", skip);
	return dv_buf_steal(&b);
}

/* Fails, showing the first difference, when the tree at top is no longer
 * what `before` recorded. */
static inline void fuzz_snapshot_check(const char *top, const char *skip, const char *before)
{
	char *now = fuzz_snapshot(top, skip);
	size_t i = 0;

	if (!strcmp(now, before)) {
		free(now);
		return;
	}
	while (now[i] && now[i] == before[i])
		i++;
	while (i && now[i - 1] != '\n')
		i--;
	fuzz_fail("something outside the target changed: it was\n%.300s\nand is now\n%.300s",
		  before + i, now + i);
}

#endif
