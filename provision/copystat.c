/*
 * provision/copystat.c - the stat cache of `copy` folders in a git
 * checkout (DESIGN.md "Provisioning and the cache": an unchanged checkout
 * costs no reads).
 *
 * Loading libgit2 and initialising it costs about 7 ms (measured: dlopen
 * 2.3 ms, git_libgit2_init 4.3 ms), more than a whole cached `up` may take.
 * So the digest of such a folder is remembered in the store (git/copy-<sha256
 * of the folder's path>) with a fingerprint of the stat data (mode, size,
 * mtime, ctime, inode) of everything the digest depended on: the folder's
 * entries but for those git left out (recorded with it, and not walked),
 * the index, .git/info/exclude and the .gitignore files above the folder.
 * When the fingerprint is unchanged, the digest is reused without loading
 * libgit2 or reading a file; anything else recomputes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void stat_line(struct dv_sha256 *h, const char *what, const struct stat *st)
{
	char line[256];
	int n;

	if (!st)
		n = snprintf(line, sizeof(line), "- ");
	else
		n = snprintf(line, sizeof(line), "%o %lld %lld.%09ld %lld.%09ld %llu ",
			     (unsigned)st->st_mode, (long long)st->st_size,
			     (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
			     (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec,
			     (unsigned long long)st->st_ino);
	dv_sha256_update(h, what, strlen(what) + 1);
	dv_sha256_update(h, line, (size_t)n);
}

/* The stat data of everything below dirfd (sub: its path below the copied
 * folder), but .git and the paths in skips. -1 when the folder cannot be
 * read (the caller then recomputes, and reports what is wrong). */
static int walk(int dirfd, const char *sub, const struct dv_strv *skips, struct dv_sha256 *h,
		int depth)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(dirfd);
	struct dv_strv names = { 0 };
	struct dirent *de;
	int ret = 0;

	if (!d || depth > 256)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, ".git"))
			dv_strv_push(&names, de->d_name);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; i < names.n && ret == 0; i++) {
		dv_autofree char *s = sub[0] ? dv_xasprintf("%s/%s", sub, names.v[i])
					     : dv_xstrdup(names.v[i]);
		const char *p = s;
		struct stat st;

		if (skips->n && bsearch(&p, skips->v, skips->n, sizeof(*skips->v), cmp_str))
			continue;
		if (fstatat(dirfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -1;
			break;
		}
		stat_line(h, s, &st);
		if (S_ISDIR(st.st_mode)) {
			dv_autoclose int fd =
				openat(dirfd, names.v[i],
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			ret = fd < 0 ? -1 : walk(fd, s, skips, h, depth + 1);
		}
	}
	dv_strv_release(&names);
	return ret;
}

void prov_copystat_line(struct dv_sha256 *h, const char *sub, const struct stat *st)
{
	stat_line(h, sub[0] ? sub : ".", st);
}

/* The part of the fingerprint outside the folder: what decides what git
 * ignores and what the index says. Taken before the folder is read. */
void prov_copystat_begin(const struct env_spec *spec, const char *folder, struct dv_sha256 *h)
{
	static const char *const extras[] = { ".git/index", ".git/info/exclude" };
	size_t n = strlen(spec->checkout);
	struct stat st;

	dv_sha256_init(h);
	for (size_t i = 0; i < 2; i++) {
		dv_autofree char *p = dv_xasprintf("%s/%s", spec->checkout, extras[i]);

		stat_line(h, extras[i], stat(p, &st) == 0 ? &st : NULL);
	}
	/* every .gitignore from the checkout down to the folder's parent */
	if (strncmp(folder, spec->checkout, n) == 0) {
		dv_autofree char *dir = dv_xstrdup(folder);

		for (char *slash; (slash = strrchr(dir, '/')) && (size_t)(slash - dir) >= n;) {
			*slash = 0;
			dv_autofree char *p = dv_xasprintf("%s/.gitignore", dir);

			stat_line(h, p, stat(p, &st) == 0 ? &st : NULL);
		}
	}
}

/* The whole fingerprint, as digest_root (key.c) takes it along the way;
 * fd: the folder, opened race-free (hostpath.c). */
static int fingerprint(const struct env_spec *spec, int fd, const char *folder,
		       const struct dv_strv *skips, char out[DV_SHA256_HEX])
{
	dv_autoclose int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dv_sha256 h;
	struct stat st;

	prov_copystat_begin(spec, folder, &h);
	if (dfd < 0 || fstat(dfd, &st) < 0)
		return -1;
	stat_line(&h, ".", &st);
	if (walk(dfd, "", skips, &h, 0) < 0)
		return -1;
	dv_sha256_final_hex(&h, out);
	return 0;
}

static void record_name(const char *folder, char name[80])
{
	char hex[DV_SHA256_HEX];

	dv_sha256_hex(folder, strlen(folder), hex);
	snprintf(name, 80, "copy-%s", hex);
}

int prov_copystat_get(int dir, const struct env_spec *spec, int fd, const char *folder,
		      char digest[DV_SHA256_HEX])
{
	dv_autofree char *text = NULL;
	struct dv_strv skips = { 0 };
	char name[80], fp[DV_SHA256_HEX];
	size_t len = 0;
	int hit = 0;

	if (dir < 0)
		return 0;
	record_name(folder, name);
	if (dv_read_file_at(dir, name, &text, &len, &(struct dv_error){ 0 }) < 0 || len < 134 ||
	    strlen(text) != len || strncmp(text, "F ", 2) || text[66] != '\n' ||
	    strncmp(text + 67, "D ", 2) || text[133] != '\n')
		return 0;
	for (char *line = text + 134, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl || strncmp(line, "S ", 2)) {
			dv_strv_release(&skips);
			return 0;
		}
		*nl = 0;
		dv_strv_push(&skips, line + 2);
	}
	if (fingerprint(spec, fd, folder, &skips, fp) == 0 && strncmp(fp, text + 2, 64) == 0) {
		memcpy(digest, text + 69, 64);
		digest[64] = 0;
		hit = 1;
	}
	dv_strv_release(&skips);
	return hit;
}

void prov_copystat_put(int dir, const char *folder, const char fp[DV_SHA256_HEX],
		       const char digest[DV_SHA256_HEX], const struct dv_strv *skips)
{
	struct dv_buf b = { 0 };
	char name[80];

	if (dir < 0)
		return;
	for (size_t i = 0; i < skips->n; i++)
		if (strchr(skips->v[i], '\n'))
			return; /* not worth a format for it: no record, no reuse */
	record_name(folder, name);
	dv_buf_addf(&b, "F %s\nD %s\n", fp, digest);
	for (size_t i = 0; i < skips->n; i++)
		dv_buf_addf(&b, "S %s\n", skips->v[i]);
	/* a cache: failing to write it costs the next `up` time, nothing else */
	dv_write_file_atomic(dir, name, b.s, b.len, 0600, &(struct dv_error){ 0 });
	dv_buf_release(&b);
}
