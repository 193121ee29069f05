/*
 * util/secret.c - secrets masked in output and looked for in file trees
 * (util/secret.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"
#include "secret.h"
#include "str.h"
#include "banned.h"

void dv_secret_free(char *data, size_t len)
{
	if (!data)
		return;
	explicit_bzero(data, len);
	free(data);
}

void dv_mask_init(struct dv_mask *m, const struct dv_secret *v, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->v = v;
	m->n = n;
	for (size_t i = 0; i < n; i++)
		if (v[i].len > m->max)
			m->max = v[i].len;
	m->held = m->max ? dv_xmalloc(m->max) : NULL;
}

/* At buf[i] (len - i bytes left): the length of the longest secret that
 * starts there whole; or 0, and *partial when one may start there but
 * runs past the end. */
static size_t match_at(const struct dv_mask *m, const char *buf, size_t i, size_t len, bool *partial)
{
	size_t best = 0, left = len - i;

	*partial = false;
	for (size_t k = 0; k < m->n; k++) {
		const struct dv_secret *s = &m->v[k];

		if (s->len <= left) {
			if (s->len > best && !memcmp(buf + i, s->data, s->len))
				best = s->len;
		} else if (!memcmp(buf + i, s->data, left)) {
			*partial = true;
		}
	}
	return best;
}

static void mask_run(struct dv_mask *m, const char *buf, size_t len, bool at_end, struct dv_buf *out)
{
	size_t i = 0, from = 0;

	while (i < len) {
		bool partial;
		size_t k = match_at(m, buf, i, len, &partial);

		if (partial && !at_end) {
			/* Held: the next read tells. */
			dv_buf_add(out, buf + from, i - from);
			m->n_held = len - i;
			memcpy(m->held, buf + i, m->n_held);
			return;
		}
		if (k) {
			dv_buf_add(out, buf + from, i - from);
			dv_buf_adds(out, DV_SECRET_MASK);
			i += k;
			from = i;
			continue;
		}
		i++;
	}
	dv_buf_add(out, buf + from, len - from);
	m->n_held = 0;
}

void dv_mask_feed(struct dv_mask *m, const char *in, size_t n, struct dv_buf *out)
{
	char *buf;

	if (!m->max) {
		dv_buf_add(out, in, n);
		return;
	}
	if (!m->n_held) {
		mask_run(m, in, n, false, out);
		return;
	}
	buf = dv_xmalloc(m->n_held + n);
	memcpy(buf, m->held, m->n_held);
	memcpy(buf + m->n_held, in, n);
	mask_run(m, buf, m->n_held + n, false, out);
	explicit_bzero(buf, m->n_held + n);
	free(buf);
}

void dv_mask_end(struct dv_mask *m, struct dv_buf *out)
{
	size_t n = m->n_held;

	if (!n)
		return;
	m->n_held = 0;
	mask_run(m, m->held, n, true, out);
}

void dv_mask_release(struct dv_mask *m)
{
	if (m->held)
		explicit_bzero(m->held, m->max);
	free(m->held);
	memset(m, 0, sizeof(*m));
}

/* ---- the scan ---- */

#define SCAN_CHUNK (1 << 20)

struct scan {
	const struct dv_secret *v;
	size_t n, max;
	dev_t dev;
	char *buf; /* max - 1 carried bytes, then a chunk */
	const struct dv_secret *which;
};

static const struct dv_secret *found_in(const struct scan *s, const char *data, size_t len)
{
	for (size_t k = 0; k < s->n; k++)
		if (memmem(data, len, s->v[k].data, s->v[k].len))
			return &s->v[k];
	return NULL;
}

/* 1 when the file holds a secret. */
static int scan_file(struct scan *s, int fd, struct dv_error *err)
{
	size_t carry = 0;

	for (;;) {
		ssize_t n = read(fd, s->buf + carry, SCAN_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dv_err(err, errno, "read");
		if (n == 0)
			return 0;
		if ((s->which = found_in(s, s->buf, carry + (size_t)n)))
			return 1;
		/* The last max - 1 bytes may begin a secret the next read ends. */
		{
			size_t total = carry + (size_t)n, keep = s->max - 1;

			if (keep > total)
				keep = total;
			memmove(s->buf, s->buf + total - keep, keep);
			carry = keep;
		}
	}
}

static int scan_dir(struct scan *s, int dfd, const char *sub, char **path, struct dv_error *err)
{
	DIR *d = dv_opendir_fd(dfd);
	struct dirent *e;
	int ret = 0, saved = errno;

	close(dfd);
	errno = saved;
	if (!d)
		return dv_err(err, errno, "cannot read '%s'", sub[0] ? sub : ".");
	while (ret == 0 && (errno = 0, e = readdir(d))) {
		dv_autofree char *p = NULL;
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = sub[0] ? dv_xasprintf("%s/%s", sub, e->d_name) : dv_xstrdup(e->d_name);
		if ((s->which = found_in(s, e->d_name, strlen(e->d_name)))) {
			ret = 1;
		} else if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = dv_err(err, errno, "cannot stat '%s'", p);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target));

			if (n < 0)
				ret = dv_err(err, errno, "cannot read link '%s'", p);
			else if ((s->which = found_in(s, target, (size_t)n)))
				ret = 1;
		} else if (S_ISREG(st.st_mode) && st.st_size > 0) {
			dv_autoclose int fd = dv_open_regular_at(dirfd(d), e->d_name, NULL);

			if (fd < 0)
				ret = dv_err(err, errno, "cannot open '%s'", p);
			else
				ret = scan_file(s, fd, err);
			if (ret < 0)
				dv_err_prefix(err, "'%s'", p);
		} else if (S_ISDIR(st.st_mode) && st.st_dev == s->dev) {
			int sfd = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sfd < 0)
				ret = dv_err(err, errno, "cannot open '%s'", p);
			else
				ret = scan_dir(s, sfd, p, path, err); /* takes sfd */
			if (ret == 1 && *path)
				continue;
		}
		if (ret == 1 && !*path)
			*path = dv_steal_ptr(&p);
	}
	if (ret == 0 && errno)
		ret = dv_err(err, errno, "cannot read '%s'", sub[0] ? sub : ".");
	closedir(d);
	return ret;
}

int dv_secret_scan_tree(int dirfd, const struct dv_secret *v, size_t n, char **path,
			const struct dv_secret **which, struct dv_error *err)
{
	struct scan s = { .v = v, .n = n };
	struct stat st;
	int dfd, ret;

	*path = NULL;
	*which = NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i].len > s.max)
			s.max = v[i].len;
	if (!s.max)
		return 0;
	if (fstat(dirfd, &st) < 0)
		return dv_err(err, errno, "fstat");
	s.dev = st.st_dev;
	dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return dv_err(err, errno, "cannot open the tree to scan");
	s.buf = dv_xmalloc(s.max - 1 + SCAN_CHUNK);
	ret = scan_dir(&s, dfd, "", path, err);
	explicit_bzero(s.buf, s.max - 1 + SCAN_CHUNK);
	free(s.buf);
	if (ret == 1)
		*which = s.which;
	return ret;
}
