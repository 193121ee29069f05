/* test/unit/layers_test.c - the store: opening, names, commit, cache, gc, and
 * import of tars built here by hand, hostile ones included. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <seccomp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "layers/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/str.h"

#define MTIME 1700000000LL

struct fx {
	char dir[64]; /* /tmp/layers_test.XXXXXX */
	char *store;  /* dir/store */
	struct layer_store st;
};

static bool rootless(void)
{
	return geteuid() != 0;
}

static int fx_setup(void **state)
{
	struct fx *f = dv_xcalloc(1, sizeof(*f));
	struct dv_error err = { 0 };

	snprintf(f->dir, sizeof(f->dir), "/tmp/layers_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->store = dv_xasprintf("%s/store", f->dir);
	assert_int_equal(layer_store_open(f->store, rootless(), &f->st, &err), 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	struct dv_error err = { 0 };

	unsetenv("DEVENV_MAX_LAYER_SIZE"); /* test_max_layer_size's, when it failed */
	layer_store_release(&f->st);
	if (rootless()) { /* images may hold 0555 folders */
		char *argv[] = { "chmod", "-R", "u+rwX", f->dir, NULL };
		int code;

		dv_run(argv, true, &code, &err);
	}
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, f->dir, &err), 0);
	free(f->store);
	free(f);
	return 0;
}

/* --- a tar writer, by hand, so the tests can write anything at all --- */

struct tb {
	struct dv_buf b;
};

static void octal(char *field, size_t n, unsigned long long v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%0*llo", (int)(n - 1), v);
	memcpy(field, tmp, n - 1);
	field[n - 1] = 0;
}

static void tb_header(struct tb *t, const char *name, char type, unsigned mode,
		      unsigned long long size, const char *link, unsigned dmaj, unsigned dmin)
{
	char h[512] = { 0 };
	unsigned sum = 0;
	size_t i;

	snprintf(h, 100, "%s", name);
	octal(h + 100, 8, mode);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, MTIME);
	memset(h + 148, ' ', 8);
	h[156] = type;
	if (link)
		snprintf(h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	octal(h + 329, 8, dmaj);
	octal(h + 337, 8, dmin);
	for (i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	dv_buf_add(&t->b, h, 512);
}

static void tb_data(struct tb *t, const void *data, size_t n)
{
	static const char zero[512];

	if (n)
		dv_buf_add(&t->b, data, n);
	if (n % 512)
		dv_buf_add(&t->b, zero, 512 - n % 512);
}

static void pax_rec(struct dv_buf *b, const char *key, const char *val)
{
	size_t n = strlen(key) + strlen(val) + 3, len = n;
	char digits[32];

	/* The length counts itself. */
	for (;;) {
		size_t d = (size_t)snprintf(digits, sizeof(digits), "%zu", len);

		if (n + d == len)
			break;
		len = n + d;
	}
	dv_buf_addf(b, "%zu %s=%s\n", len, key, val);
}

/* One entry; a pax header first when a name is long or there is an xattr. */
static void tb_add(struct tb *t, char type, const char *name, unsigned mode, const char *data,
		   const char *link, const char *xname, const char *xval)
{
	size_t n = data ? strlen(data) : 0;

	if (strlen(name) > 99 || (link && strlen(link) > 99) || xname) {
		struct dv_buf p = { 0 };
		char key[128];

		if (strlen(name) > 99)
			pax_rec(&p, "path", name);
		if (link && strlen(link) > 99)
			pax_rec(&p, "linkpath", link);
		if (xname) {
			snprintf(key, sizeof(key), "SCHILY.xattr.%s", xname);
			pax_rec(&p, key, xval);
		}
		tb_header(t, "PaxHeader", 'x', 0644, p.len, NULL, 0, 0);
		tb_data(t, p.s, p.len);
		dv_buf_release(&p);
	}
	tb_header(t, name, type, mode, n, link, 0, 0);
	tb_data(t, data, n);
}

#define tb_file(t, name, mode, data) tb_add(t, '0', name, mode, data, NULL, NULL, NULL)
#define tb_dir(t, name, mode) tb_add(t, '5', name, mode, NULL, NULL, NULL, NULL)
#define tb_sym(t, name, target) tb_add(t, '2', name, 0777, NULL, target, NULL, NULL)
#define tb_hard(t, name, mode, target) tb_add(t, '1', name, mode, NULL, target, NULL, NULL)

static void tb_dev(struct tb *t, char type, const char *name, unsigned maj, unsigned min)
{
	tb_header(t, name, type, 0666, 0, NULL, maj, min);
}

/* Write the tar (with its end blocks) to dir/name; compress with "gzip" or
 * "zstd" when asked. Returns the path (caller frees). */
static char *tb_write(struct tb *t, const char *dir, const char *name, const char *compress)
{
	static const char zero[1024];
	char *path = dv_xasprintf("%s/%s", dir, name);
	struct dv_error err = { 0 };
	int fd, code;

	dv_buf_add(&t->b, zero, sizeof(zero));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, t->b.s, t->b.len, &err), 0);
	close(fd);
	dv_buf_release(&t->b);
	if (compress) {
		char *argv[] = { (char *)compress, "-q", "-f", path, NULL };
		char *out;

		assert_int_equal(dv_run(argv, true, &code, &err), 0);
		assert_int_equal(code, 0);
		out = dv_xasprintf("%s.%s", path, !strcmp(compress, "gzip") ? "gz" : "zst");
		free(path);
		path = out;
	}
	return path;
}

static bool have(const char *prog)
{
	char *argv[] = { (char *)prog, "--version", NULL };
	struct dv_error err = { 0 };
	int code = 0;

	return dv_run(argv, true, &code, &err) == 0 && code == 0;
}

/* How many entries a store folder holds (".", ".." aside). */
static int count_in(const struct fx *f, const char *sub)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", f->store, sub);
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void assert_store_empty(const struct fx *f)
{
	assert_int_equal(count_in(f, "layers"), 0);
	assert_int_equal(count_in(f, "images"), 0);
	assert_int_equal(count_in(f, "tmp"), 0);
}

/* Import a tar that must fail with exactly "<its path>: `msg`", leaving the
 * store empty. */
static void import_fails(struct fx *f, struct tb *t, const char *msg)
{
	dv_autofree char *path = tb_write(t, f->dir, "bad.tar", NULL);
	dv_autofree char *want = dv_xasprintf("%s: %s", path, msg);
	struct layer_image img = { 0 };
	struct dv_error err = { 0 };

	assert_int_equal(layer_image_import(&f->st, path, "bad", &img, NULL, &err), -1);
	assert_string_equal(err.msg, want);
	assert_null(img.name);
	assert_store_empty(f);
}

static char *diff_file(const struct fx *f, const char *id, const char *rel)
{
	return dv_xasprintf("%s/layers/%s/diff/%s", f->store, id, rel);
}

/* --- the store --- */

static void test_store_refusals(void **state)
{
	struct fx *f = *state;
	struct layer_store st = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *home = dv_xasprintf("%s/home", f->dir);
	dv_autofree char *home_slash = dv_xasprintf("%s/home/", f->dir);
	dv_autofree char *home_dots = dv_xasprintf("%s/home/x/..", f->dir);
	dv_autofree char *link = dv_xasprintf("%s/tohome", f->dir);
	dv_autofree char *msg = NULL;
	char *old = getenv("HOME") ? dv_xstrdup(getenv("HOME")) : NULL;
	struct stat sb;

	assert_int_equal(layer_store_open("/", false, &st, &err), -1);
	assert_string_equal(
		err.msg,
		"refusing to use '/' as the devenv store; set DEVENV_HOME to a folder of its own");
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_store_open("/tmp/..", false, &st, &err), -1);
	assert_string_equal(
		err.msg,
		"refusing to use '/' as the devenv store; set DEVENV_HOME to a folder of its own");
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_store_open("store", false, &st, &err), -1);
	assert_string_equal(err.msg, "refusing to use the relative path 'store' as the devenv "
				     "store; set DEVENV_HOME to an absolute path");
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_store_open(".", false, &st, &err), -1);
	assert_true(dv_str_startswith(err.msg, "refusing to use the relative path '.'"));

	assert_int_equal(mkdir(home, 0755), 0);
	setenv("HOME", home, 1);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_store_open(home, false, &st, &err), -1);
	msg = dv_xasprintf("refusing to use your home folder '%s' as the devenv store; set "
			   "DEVENV_HOME to a folder of its own",
			   home);
	assert_string_equal(err.msg, msg);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_store_open(home_slash, false, &st, &err), -1);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_store_open(home_dots, false, &st, &err), -1);
	assert_int_equal(symlink(home, link), 0);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_store_open(link, false, &st, &err), -1);
	/* Nothing was created in the refused home. */
	{
		dv_autofree char *inside = dv_xasprintf("%s/layers", home);

		assert_int_equal(stat(inside, &sb), -1);
	}
	if (old)
		setenv("HOME", old, 1);
	else
		unsetenv("HOME");
	free(old);
	layer_store_release(&st); /* a zeroed store: harmless, closes nothing */
	layer_store_release(&st);
	assert_true(fcntl(0, F_GETFD) >= 0 || errno == EBADF);
}

static void test_store_layout(void **state)
{
	struct fx *f = *state;
	static const char *const dirs[] = { "layers", "images", "cache",       "tmp",
					    "envs",   "blobs",  "blobs/sha256" };
	struct stat sb;
	size_t i;

	assert_int_equal(stat(f->store, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		dv_autofree char *p = dv_xasprintf("%s/%s", f->store, dirs[i]);

		assert_int_equal(lstat(p, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
		assert_int_equal(sb.st_mode & 0777, 0700);
	}
	assert_true(f->st.root[0] == '/');
}

/* --- names --- */

static void test_ref_normalize(void **state)
{
	static const struct {
		const char *in, *imp, *pull;
	} ok[] = {
		{ "busybox", "localhost/busybox:latest", "docker.io/library/busybox:latest" },
		{ "busybox:1.36", "localhost/busybox:1.36", "docker.io/library/busybox:1.36" },
		{ "library/busybox", "localhost/library/busybox:latest",
		  "docker.io/library/busybox:latest" },
		{ "team/app:v_1.2-rc", "localhost/team/app:v_1.2-rc", "docker.io/team/app:v_1.2-rc" },
		{ "docker.io/busybox", "docker.io/library/busybox:latest",
		  "docker.io/library/busybox:latest" },
		{ "quay.io/foo/bar:v1", "quay.io/foo/bar:v1", "quay.io/foo/bar:v1" },
		{ "localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t" },
		/* A digest names the image exactly: a tag beside it is dropped. */
		{ "127.0.0.1:5000/a/b@sha256:abababababababababababababababababababababababababababababababab",
		  "127.0.0.1:5000/a/b@sha256:abababababababababababababababababababababababababababababababab",
		  "127.0.0.1:5000/a/b@sha256:abababababababababababababababababababababababababababababababab" },
		{ "busybox:1@sha256:abababababababababababababababababababababababababababababababab",
		  "localhost/busybox@sha256:abababababababababababababababababababababababababababababababab",
		  "docker.io/library/busybox@sha256:abababababababababababababababababababababababababababababababab" },
		{ "localhost/debian:bookworm", "localhost/debian:bookworm",
		  "localhost/debian:bookworm" },
		{ "my-reg.example.com/x.y_z", "my-reg.example.com/x.y_z:latest",
		  "my-reg.example.com/x.y_z:latest" },
	};
	static const struct {
		const char *in, *msg;
	} bad[] = {
		{ "", "invalid image name '': it is empty" },
		{ "Busybox", "invalid image name 'Busybox': repository names must be lower case" },
		{ "a/../b", "invalid image name 'a/../b': each part of the repository is a-z 0-9 "
			    "joined by . _ -" },
		{ "a//b", "invalid image name 'a//b': each part of the repository is a-z 0-9 joined "
			  "by . _ -" },
		{ "..",
		  "invalid image name '..': each part of the repository is a-z 0-9 joined by . _ -" },
		{ "-a",
		  "invalid image name '-a': each part of the repository is a-z 0-9 joined by . _ -" },
		{ "busybox:", "invalid image name 'busybox:': a tag is 1 to 128 of A-Z a-z 0-9 _ . "
			      "- and does not start with . or -" },
		{ "busybox:..", "invalid image name 'busybox:..': a tag is 1 to 128 of A-Z a-z 0-9 "
				"_ . - and does not start with . or -" },
		{ "busybox:a/b", "invalid image name 'busybox:a/b': bad registry host 'busybox:a'" },
		{ ":tag", "invalid image name ':tag': each part of the repository is a-z 0-9 joined "
			  "by . _ -" },
		{ "busybox@sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
		  "invalid image name 'busybox@sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"
		  "ABCDEF0123456789': a digest is 'sha256:' and 64 lower-case hex digits" },
		{ "busybox@sha256:abcd",
		  "invalid image name 'busybox@sha256:abcd': a digest is 'sha256:' and 64 lower-case "
		  "hex digits" },
		{ "bad_host.io:x/y",
		  "invalid image name 'bad_host.io:x/y': bad registry host 'bad_host.io:x'" },
		{ "a b", "invalid image name 'a b': each part of the repository is a-z 0-9 joined "
			 "by . _ -" },
	};
	char longtag[140];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct dv_error err = { 0 };
		char *a = NULL, *b = NULL;

		assert_int_equal(layer_ref_normalize(ok[i].in, true, &a, &err), 0);
		assert_int_equal(layer_ref_normalize(ok[i].in, false, &b, &err), 0);
		assert_string_equal(a, ok[i].imp);
		assert_string_equal(b, ok[i].pull);
		free(a);
		free(b);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dv_error err = { 0 };
		char *a = NULL;

		assert_int_equal(layer_ref_normalize(bad[i].in, true, &a, &err), -1);
		assert_null(a);
		assert_string_equal(err.msg, bad[i].msg);
		assert_int_equal(err.status, 2);
	}
	memset(longtag, 'a', sizeof(longtag));
	memcpy(longtag, "x:", 2);
	longtag[2 + 129] = 0;
	{
		struct dv_error err = { 0 };
		char *a = NULL;

		assert_int_equal(layer_ref_normalize(longtag, true, &a, &err), -1);
		longtag[2 + 128] = 0;
		assert_int_equal(layer_ref_normalize(longtag, true, &a, &err), 0);
		free(a);
	}
}

/* --- staging, commit, cache --- */

static void make_layer(struct fx *f, const char *id, const char *parent, const char *content)
{
	struct dv_error err = { 0 };
	dv_autofree char *name = NULL, *diff = NULL, *file = NULL;
	int fd;

	assert_int_equal(layer_staging_new(&f->st, &name, &err), 0);
	diff = layer_staging_path(&f->st, name, "diff");
	file = dv_xasprintf("%s/file", diff);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, content, strlen(content), &err), 0);
	close(fd);
	assert_int_equal(layer_commit(&f->st, name, id, parent, "run: echo", &err), 0);
}

static char *hexid(char c)
{
	char *s = dv_xmalloc(65);

	memset(s, c, 64);
	s[64] = 0;
	return s;
}

static void test_commit_and_cache(void **state)
{
	struct fx *f = *state;
	struct dv_error err = { 0 };
	dv_autofree char *id = hexid('a'), *key = hexid('b'), *missing = hexid('c');
	dv_autofree char *name = NULL, *work = NULL, *path = NULL, *meta = NULL, *dpath = NULL;
	dv_autofree char *text = NULL;
	char out[65];
	struct stat sb;
	size_t len;

	assert_false(layer_exists(&f->st, id));
	assert_null(layer_diff_path(&f->st, "../x"));
	make_layer(f, id, NULL, "one");
	assert_true(layer_exists(&f->st, id));
	dpath = layer_diff_path(&f->st, id);
	path = dv_xasprintf("%s/file", dpath);
	assert_int_equal(dv_read_file_at(AT_FDCWD, path, &text, &len, &err), 0);
	assert_string_equal(text, "one");
	work = dv_xasprintf("%s/layers/%s/work", f->store, id);
	assert_int_equal(lstat(work, &sb), -1);
	meta = dv_xasprintf("%s/layers/%s/layer.json", f->store, id);
	free(text);
	text = NULL;
	assert_int_equal(dv_read_file_at(AT_FDCWD, meta, &text, &len, &err), 0);
	assert_non_null(strstr(text, "\"step\":\"run: echo\""));
	assert_non_null(strstr(text, "\"parent\":null"));
	assert_int_equal(count_in(f, "tmp"), 0);

	/* A second commit of the same id (a concurrent build) keeps the first. */
	make_layer(f, id, NULL, "two");
	free(text);
	text = NULL;
	assert_int_equal(dv_read_file_at(AT_FDCWD, path, &text, &len, &err), 0);
	assert_string_equal(text, "one");
	assert_int_equal(count_in(f, "tmp"), 0);

	/* Discard. */
	assert_int_equal(layer_staging_new(&f->st, &name, &err), 0);
	assert_int_equal(count_in(f, "tmp"), 1);
	assert_int_equal(layer_staging_discard(&f->st, name, &err), 0);
	assert_int_equal(count_in(f, "tmp"), 0);
	assert_int_equal(layer_staging_discard(&f->st, "../layers", &err), -1);
	assert_int_equal(layer_commit(&f->st, "x", "../../etc", NULL, "s", &err), -1);

	/* Cache: a layer built here has its key as id and serves every env. */
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_cache_get(&f->st, key, NULL, out, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_cache_put(&f->st, key, id, NULL, NULL, &err), -1);
	assert_int_equal(err.errnum, EINVAL);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_cache_put(&f->st, id, id, NULL, NULL, &err), 0);
	assert_int_equal(layer_cache_get(&f->st, id, NULL, out, &err), 0);
	assert_string_equal(out, id);
	{
		/* A pulled one serves the envs naming its source, and the env
		 * it was pulled for; nothing else. */
		struct dv_strv mine = { 0 }, other = { 0 };
		struct layer_cache_scope by_source = { &mine, NULL },
					 by_env = { &other, "0123456789ab" };
		struct layer_cache_scope neither = { &other, "ba9876543210" };

		dv_strv_push(&mine, "reg.example/team/app:cache");
		dv_strv_push(&other, "reg.example/evil/app:cache");
		assert_int_equal(layer_cache_put(&f->st, key, id, "reg.example/team/app:cache",
						 "0123456789ab", &err),
				 0);
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_get(&f->st, key, NULL, out, &err), -1);
		assert_int_equal(err.errnum, ENOENT);
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_get(&f->st, key, &neither, out, &err), -1);
		assert_int_equal(err.errnum, ENOENT);
		err = (struct dv_error){ 0 };
		memset(out, 0, 65);
		assert_int_equal(layer_cache_get(&f->st, key, &by_source, out, &err), 0);
		assert_string_equal(out, id);
		memset(out, 0, 65);
		assert_int_equal(layer_cache_get(&f->st, key, &by_env, out, &err), 0);
		assert_string_equal(out, id);
		/* Another source's layer for the same key: each serves its own. */
		assert_int_equal(layer_cache_put(&f->st, key, missing, "reg.example/evil/app:cache",
						 NULL, &err),
				 0);
		assert_int_equal(layer_cache_get(&f->st, key, &by_source, out, &err), 0);
		assert_string_equal(out, id);
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_get(&f->st, key, &neither, out, &err), -1);
		assert_int_equal(err.errnum, ENOENT); /* its layer is gone */
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_put(&f->st, key, id, "bad source", NULL, &err), -1);
		/* cache_trust: a pulled line serves only with the mark of the
		 * env's file; recording it again with a mark keeps one line. */
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_get_trust(&f->st, key, &by_source, "0123456789abcdef",
						       out, &err),
				 -1);
		assert_int_equal(err.errnum, ENOENT);
		assert_int_equal(layer_cache_put_trust(&f->st, key, id, "reg.example/team/app:cache",
						       "0123456789ab", "0123456789abcdef", &err),
				 0);
		memset(out, 0, 65);
		assert_int_equal(layer_cache_get_trust(&f->st, key, &by_source, "0123456789abcdef",
						       out, &err),
				 0);
		assert_string_equal(out, id);
		assert_int_equal(layer_cache_get(&f->st, key, &by_env, out, &err), 0);
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_get_trust(&f->st, key, &by_env, "fedcba9876543210",
						       out, &err),
				 -1);
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_get_trust(&f->st, key, &by_source, "-", out, &err), -1);
		{
			dv_autofree char *entry = NULL;
			size_t elen;

			assert_int_equal(dv_read_file_at(f->st.cache_fd, key, &entry, &elen, &err),
					 0);
			assert_non_null(strstr(entry, " 0123456789ab trust=0123456789abcdef\n"));
			assert_null(strstr(entry, " 0123456789ab\n"));
		}
		/* A mark that is not 16 hex is no mark. */
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_put_trust(&f->st, key, id, "reg.example/team/app:cache",
						       "0123456789ab", "trust", &err),
				 0);
		assert_int_equal(layer_cache_get_trust(&f->st, key, &by_source, "0123456789abcdef",
						       out, &err),
				 -1);
		dv_strv_release(&mine);
		dv_strv_release(&other);
	}
	{
		/* An entry pulled before sources were recorded ("ID" that is
		 * not the key) serves nobody, and gc's prune drops it. */
		dv_autofree char *legacy = hexid('d');
		char line[66];

		snprintf(line, sizeof(line), "%s\n", id);
		assert_int_equal(dv_write_file_atomic(f->st.cache_fd, legacy, line, 65, 0600, &err),
				 0);
		err = (struct dv_error){ 0 };
		assert_int_equal(layer_cache_get(&f->st, legacy, NULL, out, &err), -1);
		assert_int_equal(err.errnum, ENOENT);
		assert_int_equal(layer_cache_prune(&f->st, legacy, &err), 0);
		assert_int_equal(faccessat(f->st.cache_fd, legacy, F_OK, 0), -1);
	}
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_cache_put(&f->st, "../x", id, NULL, NULL, &err), -1);
	assert_int_equal(layer_cache_get(&f->st, "ABC", NULL, out, &err), -1);
}

/* --- import --- */

static void good_tar(struct tb *t)
{
	char longname[200];

	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "etc/", 4);
	longname[150] = 0;
	tb_dir(t, "./", 0755);
	tb_dir(t, "./etc/", 0755);
	tb_file(t, "./etc/hostname", 0644, "box\n");
	tb_file(t, "./etc/hostname", 0600, "box2\n"); /* listed twice: the last wins */
	tb_file(t, longname, 0644, "long");
	tb_dir(t, "bin", 0755);
	tb_add(t, '0', "bin/sh", 0755, "#!sh\n", NULL, "user.test", "yes");
	tb_sym(t, "bin/ls", "sh");
	tb_hard(t, "bin/sh2", 0755, "bin/sh");
	tb_file(t, "bin/su", 04755, "su");
	tb_dir(t, "ro", 0555);
	tb_file(t, "ro/f", 0644, "in a read-only folder");
	tb_dir(t, "was_dir", 0755);
	tb_file(t, "was_dir/x", 0644, "x");
	tb_file(t, "was_dir", 0644, "now a file");
	tb_file(t, "was_file", 0644, "soon a folder");
	tb_dir(t, "was_file", 0700);
	tb_file(t, "deep/auto/made", 0644, "parents made on the way");
	tb_add(t, '6', "run/fifo", 0620, NULL, NULL, NULL, NULL);
}

static void check_good(const struct fx *f, const char *id)
{
	struct stat sb, sb2;
	char buf[64];
	ssize_t n;
	dv_autofree char *text = NULL;
	size_t len;
	struct dv_error err = { 0 };
#define P(rel) diff_file(f, id, rel)
	dv_autofree char *hostname = P("etc/hostname"), *sh = P("bin/sh"), *sh2 = P("bin/sh2"),
			 *ls = P("bin/ls"), *su = P("bin/su"), *ro = P("ro"), *etc = P("etc"),
			 *wd = P("was_dir"), *wf = P("was_file"), *made = P("deep/auto/made"),
			 *fifo = P("run/fifo"), *root = P("");
#undef P

	assert_int_equal(dv_read_file_at(AT_FDCWD, hostname, &text, &len, &err), 0);
	assert_string_equal(text, "box2\n");
	assert_int_equal(stat(hostname, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_mtime, MTIME);
	assert_int_equal(stat(sh, &sb), 0);
	assert_int_equal(stat(sh2, &sb2), 0);
	assert_int_equal(sb.st_ino, sb2.st_ino);
	n = getxattr(sh, "user.test", buf, sizeof(buf));
	if (n >= 0)
		assert_memory_equal(buf, "yes", 3);
	n = readlink(ls, buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "sh", 2);
	assert_int_equal(stat(su, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 04755);
	assert_int_equal(stat(ro, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0555);
	assert_int_equal(sb.st_mtime, MTIME); /* set after ro/f was written */
	assert_int_equal(stat(etc, &sb), 0);
	assert_int_equal(sb.st_mtime, MTIME);
	assert_int_equal(stat(root, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	assert_int_equal(lstat(wd, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(lstat(wf, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(lstat(made, &sb), 0);
	assert_int_equal(lstat(fifo, &sb), 0);
	assert_true(S_ISFIFO(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0620);
	if (!rootless())
		assert_int_equal(sb.st_uid, 0);
}

static void import_ok(struct fx *f, const char *path, const char *name, struct layer_image *img)
{
	struct dv_error err = { 0 };
	unsigned skipped = 99;

	if (layer_image_import(&f->st, path, name, img, &skipped, &err) < 0)
		fail_msg("import of '%s' failed: %s", path, err.msg);
	assert_int_equal(skipped, 0);
}

static void test_import_deterministic(void **state)
{
	struct fx *f = *state;
	struct fx *g = NULL;
	struct tb t = { 0 };
	struct layer_image a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *plain = NULL, *gz = NULL, *zst = NULL, *rec = NULL, *text = NULL;
	char hex[65];
	size_t len;
	int fd;

	good_tar(&t);
	plain = tb_write(&t, f->dir, "good.tar", NULL);
	good_tar(&t);
	gz = tb_write(&t, f->dir, "good2.tar", "gzip");

	import_ok(f, plain, "busybox", &a);
	assert_string_equal(a.name, "localhost/busybox:latest");
	assert_int_equal(a.layers.n, 1);
	/* The layer id is the diff_id: sha256 of the uncompressed tar. */
	fd = open(plain, O_RDONLY | O_CLOEXEC);
	assert_int_equal(dv_sha256_fd(fd, hex, &err), 0);
	close(fd);
	assert_string_equal(a.layers.v[0], hex);
	assert_true(dv_str_startswith(a.id, "sha256:"));
	assert_non_null(strstr(a.config, "\"diff_ids\":[\"sha256:"));
	assert_null(strstr(a.config, "created"));
	check_good(f, a.layers.v[0]);
	rec = dv_xasprintf("%s/images/localhost/busybox/latest.json", f->store);
	assert_int_equal(dv_read_file_at(AT_FDCWD, rec, &text, &len, &err), 0);
	assert_non_null(strstr(text, a.id));
	assert_true(a.size > 0);

	/* A second store, the gzip form: the same ids. */
	assert_int_equal(fx_setup((void **)&g), 0);
	import_ok(g, gz, "other:tag", &b);
	assert_string_equal(b.layers.v[0], a.layers.v[0]);
	assert_string_equal(b.id, a.id);
	check_good(g, b.layers.v[0]);

	/* zstd, and the same tar again in the first store: nothing new. */
	if (have("zstd")) {
		good_tar(&t);
		zst = tb_write(&t, f->dir, "good3.tar", "zstd");
		import_ok(g, zst, "third", &c);
		assert_string_equal(c.layers.v[0], a.layers.v[0]);
		assert_string_equal(c.id, a.id);
	} else {
		print_message("skipping zstd: no zstd program to make the tarball\n");
	}
	import_ok(f, gz, "busybox", &d);
	assert_string_equal(d.id, a.id);
	assert_int_equal(count_in(f, "layers"), 1);
	assert_int_equal(count_in(f, "tmp"), 0);

	layer_image_release(&a);
	layer_image_release(&b);
	layer_image_release(&c);
	layer_image_release(&d);
	layer_image_release(&d);
	fx_teardown((void **)&g);
}

/* DEVENV_MAX_LAYER_SIZE: a limit past 2^64 bytes is an error, not that
 * limit modulo 2^64 ("18014398509481985k" was 1 KiB, refusing this tar);
 * one that fits applies; an unreadable one leaves the default (64 GiB). */
static void test_max_layer_size(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	struct layer_image img = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *path = NULL;
	char *old = getenv("DEVENV_MAX_LAYER_SIZE");

	assert_null(old);
	good_tar(&t);
	path = tb_write(&t, f->dir, "good.tar", NULL);

	setenv("DEVENV_MAX_LAYER_SIZE", "18014398509481985k", 1);
	assert_int_equal(layer_image_import(&f->st, path, "big", &img, NULL, &err), -1);
	assert_int_equal(err.errnum, ERANGE);
	assert_true(dv_str_endswith(err.msg, "DEVENV_MAX_LAYER_SIZE: size '18014398509481985k' "
					     "is too large"));
	assert_null(img.name);
	assert_store_empty(f);

	setenv("DEVENV_MAX_LAYER_SIZE", "1k", 1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(layer_image_import(&f->st, path, "big", &img, NULL, &err), -1);
	assert_int_equal(err.errnum, EFBIG);
	assert_store_empty(f);

	setenv("DEVENV_MAX_LAYER_SIZE", "1 KiB", 1); /* unreadable: 64 GiB, as before */
	import_ok(f, path, "big", &img);
	layer_image_release(&img);
	unsetenv("DEVENV_MAX_LAYER_SIZE");
}

/* fstat() of this binary, which failing_fstat makes fail with EIO for an
 * unpacked archive's blobs (calls from the layers/ objects linked in come
 * here first): the real error, not a guess, must reach the user. */
static bool failing_fstat;

int fstat(int fd, struct stat *sb)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (failing_fstat && (n = readlink(link, path, sizeof(path) - 1)) > 0) {
		path[n] = 0;
		if (strstr(path, "/blobs/sha256/")) {
			errno = EIO;
			return -1;
		}
	}
	return fstatat(fd, "", sb, AT_EMPTY_PATH);
}

/* oci.c:536 read a failed fstat() of a manifest as "too big (over 4 MiB)"
 * (EFBIG); the load now fails with fstat's own error. */
static void test_load_keeps_real_error(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	struct layer_image img = { 0 }, back = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *path = NULL, *oci = NULL;

	good_tar(&t);
	path = tb_write(&t, f->dir, "good.tar", NULL);
	import_ok(f, path, "saved", &img);
	oci = dv_xasprintf("%s/saved.oci.tar", f->dir);
	if (layer_image_save(&f->st, "saved", oci, &err) < 0)
		fail_msg("save failed: %s", err.msg);
	assert_int_equal(layer_image_load(&f->st, oci, "saved", &back, &err), 0);
	layer_image_release(&back);

	failing_fstat = true;
	memset(&err, 0, sizeof(err));
	assert_int_equal(layer_image_load(&f->st, oci, "saved", &back, &err), -1);
	failing_fstat = false;
	assert_int_equal(err.errnum, EIO);
	assert_non_null(strstr(err.msg, "cannot read blob sha256:"));
	assert_non_null(strstr(err.msg, "Input/output error"));
	layer_image_release(&img);
}

/* DV_TEST_EXTRACT_THREADS=TAR: the child of test_extract_threads_no_openat2,
 * a fresh process on a kernel without openat2() (a seccomp filter answers
 * ENOSYS), unpacking TAR in 4 threads at once, each into a folder of its
 * own, and checking every tree. */
static pthread_barrier_t ex_barrier;

static void *extract_thread(void *arg)
{
	const char *tar = arg;
	struct dv_error err = { 0 };
	const struct layer_ar *ar = layer_ar_load(&err);
	char dir[] = "/tmp/layers_test_ex.XXXXXX", hex[65], *out = NULL;
	size_t len;
	int fd, rootfd, ok;

	if (!ar || !mkdtemp(dir))
		return (void *)1;
	fd = open(tar, O_RDONLY | O_CLOEXEC);
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pthread_barrier_wait(&ex_barrier);
	ok = layer_extract(ar, fd, tar, rootfd, rootless(), hex, NULL, &err) == 0 &&
	     dv_read_file_at(rootfd, "deep/auto/made", &out, &len, &err) == 0 &&
	     !strcmp(out, "parents made on the way");
	if (!ok)
		fprintf(stderr, "extract: %s\n", err.msg);
	free(out);
	close(fd);
	close(rootfd);
	{
		char *argv[] = { "chmod", "-R", "u+rwX", dir, NULL };
		int code;

		dv_run(argv, true, &code, &err);
	}
	dv_rm_tree_at(AT_FDCWD, dir, &err);
	return ok ? NULL : (void *)1;
}

static int extract_threads_main(const char *tar)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	pthread_t th[4];
	void *res;
	int bad = 0;

	if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) < 0 ||
	    seccomp_load(ctx) < 0)
		return 2;
	seccomp_release(ctx);
	pthread_barrier_init(&ex_barrier, NULL, 4);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, extract_thread, (void *)tar);
	for (int i = 0; i < 4; i++)
		bad |= pthread_join(th[i], &res) != 0 || res != NULL;
	return bad;
}

/* extract.c keeps "no openat2()" in a static the first ENOSYS sets, read
 * by every thread of a pull: it was a plain bool, a data race (TSan, which
 * exits 66 on one, fails this on the old code). In every build: the walk
 * that stands in for openat2() unpacks a tree whole. */
static void test_extract_threads_no_openat2(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	dv_autofree char *path = NULL;
	pid_t pid;
	int ws;

	good_tar(&t);
	path = tb_write(&t, f->dir, "good.tar", NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("DV_TEST_EXTRACT_THREADS", path, 1);
		execl("/proc/self/exe", "layers_test", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
}

static void test_import_not_tar(void **state)
{
	struct fx *f = *state;
	dv_autofree char *path = dv_xasprintf("%s/junk.tar", f->dir);
	struct layer_image img = { 0 };
	struct dv_error err = { 0 };
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	assert_int_equal(dv_write_full(fd, "hello, not a tar\n", 17, &err), 0);
	close(fd);
	assert_int_equal(layer_image_import(&f->st, path, "junk", &img, NULL, &err), -1);
	assert_true(dv_str_startswith(err.msg, "cannot read '"));
	assert_store_empty(f);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_image_import(&f->st, "/nonexistent.tar", "junk", &img, NULL, &err),
			 -1);
	assert_string_equal(err.msg, "cannot open '/nonexistent.tar': No such file or directory");
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_image_import(&f->st, path, "Junk", &img, NULL, &err), -1);
	assert_int_equal(err.status, 2);
	assert_store_empty(f);
}

/* --- resolve, list, remove --- */

static void test_resolve(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	struct layer_image a = { 0 }, r = { 0 }, *v = NULL;
	struct dv_error err = { 0 };
	dv_autofree char *path = NULL, *prefix = NULL, *pull = NULL;
	const char *refs[6];
	size_t n, i;

	tb_file(&t, "hello", 0644, "hi");
	path = tb_write(&t, f->dir, "hello.tar", NULL);
	import_ok(f, path, "busybox", &a);
	prefix = dv_xstrndup(a.id + 7, 12);
	pull = dv_xasprintf("sha256:%.20s", a.id + 7);
	refs[0] = "busybox";
	refs[1] = "busybox:latest";
	refs[2] = "localhost/busybox:latest";
	refs[3] = a.id;
	refs[4] = prefix;
	refs[5] = pull;
	for (i = 0; i < 6; i++) {
		err = (struct dv_error){ 0 };
		if (layer_image_resolve(&f->st, refs[i], &r, &err) < 0)
			fail_msg("resolve '%s': %s", refs[i], err.msg);
		assert_string_equal(r.id, a.id);
		assert_string_equal(r.name, "localhost/busybox:latest");
		assert_string_equal(r.layers.v[0], a.layers.v[0]);
		assert_string_equal(r.config, a.config);
		layer_image_release(&r);
	}
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_image_resolve(&f->st, "alpine", &r, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	assert_int_equal(err.status, 0);
	assert_string_equal(err.msg,
			    "image 'alpine' not found; import one with 'devenv image import FILE alpine'");
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_image_resolve(&f->st, "busybox:1.0", &r, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_image_resolve(&f->st, "abcdef", &r, &err), -1);
	assert_int_equal(err.errnum, ENOENT);

	/* A docker.io record (as a pull will write) is found by its short name. */
	import_ok(f, path, "docker.io/library/alpine:3", &r);
	layer_image_release(&r);
	assert_int_equal(layer_image_resolve(&f->st, "alpine:3", &r, &err), 0);
	assert_string_equal(r.name, "docker.io/library/alpine:3");
	layer_image_release(&r);

	assert_int_equal(layer_image_list(&f->st, &v, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "docker.io/library/alpine:3");
	assert_string_equal(v[1].name, "localhost/busybox:latest");
	for (i = 0; i < n; i++)
		layer_image_release(&v[i]);
	free(v);

	assert_int_equal(layer_image_remove(&f->st, "busybox", &err), 0);
	err = (struct dv_error){ 0 };
	assert_int_equal(layer_image_resolve(&f->st, "busybox", &r, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	/* Removing by id removes every tag of it; folders left empty go too. */
	assert_int_equal(layer_image_remove(&f->st, prefix, &err), 0);
	assert_int_equal(count_in(f, "images"), 0);
	layer_image_release(&a);
}

/* --- hostile tars --- */

static void test_hostile_paths(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	dv_autofree char *host = dv_xasprintf("%s/host", f->dir);
	dv_autofree char *hostfile = dv_xasprintf("%s/host/passwd", f->dir);
	dv_autofree char *written = dv_xasprintf("%s/host/file", f->dir);
	struct stat sb;
	int fd;

	assert_int_equal(mkdir(host, 0755), 0);
	fd = open(hostfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0400);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "root", 4), 4);
	close(fd);

	tb_file(&t, "../../etc/passwd", 0644, "x");
	import_fails(f, &t, "layer entry '../../etc/passwd' leaves the layer through '..'");
	tb_file(&t, "ok/../../x", 0644, "x");
	import_fails(f, &t, "layer entry 'ok/../../x' leaves the layer through '..'");
	tb_file(&t, "/etc/passwd", 0644, "x");
	import_fails(f, &t, "layer entry '/etc/passwd' is an absolute path");

	tb_sym(&t, "a", host);
	tb_file(&t, "a/file", 0644, "x");
	import_fails(f, &t, "layer entry 'a/file' would be written through the symlink 'a'");
	assert_int_equal(lstat(written, &sb), -1);
	tb_dir(&t, "d", 0755);
	tb_sym(&t, "d/a", host);
	tb_dir(&t, "d/a/sub", 0755);
	import_fails(f, &t, "layer entry 'd/a/sub' would be written through the symlink 'd/a'");

	tb_file(&t, "inside", 0644, "x");
	tb_hard(&t, "h", 0644, "../outside");
	import_fails(f, &t, "layer entry 'h' is a hard link to '../outside', outside the layer");
	tb_hard(&t, "h", 0644, hostfile);
	{
		dv_autofree char *msg =
			dv_xasprintf("layer entry 'h' is a hard link to '%s', outside the layer",
				     hostfile);

		import_fails(f, &t, msg);
	}
	tb_hard(&t, "h", 0644, "nothere");
	import_fails(f, &t,
		     "layer entry 'h' is a hard link to 'nothere', which is not a regular file in "
		     "the layer");
	tb_sym(&t, "l", host);
	tb_hard(&t, "h", 0644, "l/passwd");
	import_fails(f, &t, "layer entry 'h' is a hard link through the symlink 'l'");

	/* CVE-2021-32760: a symlink to a host file, a hard link to it, mode 04777. */
	tb_sym(&t, "s", hostfile);
	tb_hard(&t, "h", 04777, "s");
	import_fails(f, &t,
		     "layer entry 'h' is a hard link to 's', which is not a regular file in the layer");
	assert_int_equal(stat(hostfile, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0400);

	/* The same symlink replaced by a file of that name: only the layer changes. */
	{
		dv_autofree char *path = NULL, *text = NULL;
		struct layer_image img = { 0 };
		struct dv_error err = { 0 };
		size_t len;

		tb_sym(&t, "s", hostfile);
		tb_file(&t, "s", 04777, "mine");
		path = tb_write(&t, f->dir, "ok.tar", NULL);
		import_ok(f, path, "ok", &img);
		assert_int_equal(stat(hostfile, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, 0400);
		assert_int_equal(dv_read_file_at(AT_FDCWD, hostfile, &text, &len, &err), 0);
		assert_string_equal(text, "root");
		free(path);
		path = diff_file(f, img.layers.v[0], "s");
		assert_int_equal(lstat(path, &sb), 0);
		assert_true(S_ISREG(sb.st_mode));
		assert_int_equal(sb.st_mode & 07777, 04777);
		layer_image_release(&img);
	}
}

static void test_whiteouts(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	dv_autofree char *host = dv_xasprintf("%s/host", f->dir);
	dv_autofree char *hostfile = dv_xasprintf("%s/host/passwd", f->dir);
	const char *key = rootless() ? "user.overlay.opaque" : "trusted.overlay.opaque";
	struct stat sb;
	int order, fd;

	tb_file(&t, ".wh.", 0644, "");
	import_fails(f, &t, "invalid whiteout '.wh.'");
	tb_file(&t, ".wh..", 0644, "");
	import_fails(f, &t, "invalid whiteout '.wh..'");
	tb_file(&t, ".wh...", 0644, "");
	import_fails(f, &t, "invalid whiteout '.wh...'");
	tb_file(&t, "etc/.wh..", 0644, "");
	import_fails(f, &t, "invalid whiteout 'etc/.wh..'");
	tb_file(&t, "./etc/.wh...", 0644, "");
	import_fails(f, &t, "invalid whiteout 'etc/.wh...'");
	tb_file(&t, "etc/.wh..wh.plnk", 0644, "");
	import_fails(f, &t, "invalid whiteout 'etc/.wh..wh.plnk'");

	/* ".wh.link" where link -> a host folder: only the link goes. */
	assert_int_equal(mkdir(host, 0755), 0);
	fd = open(hostfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	close(fd);
	{
		dv_autofree char *path = NULL, *link = NULL;
		struct layer_image img = { 0 };

		tb_sym(&t, "link", host);
		tb_file(&t, ".wh.link", 0644, "");
		path = tb_write(&t, f->dir, "wh.tar", NULL);
		import_ok(f, path, "wh", &img);
		link = diff_file(f, img.layers.v[0], "link");
		assert_int_equal(lstat(link, &sb), 0);
		assert_true(S_ISCHR(sb.st_mode));
		assert_int_equal(sb.st_rdev, makedev(0, 0));
		assert_int_equal(stat(hostfile, &sb), 0);
		assert_int_equal(stat(host, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
		layer_image_release(&img);
	}

	/* Opaque folder and a whiteout in it, in both orders. */
	for (order = 0; order < 3; order++) {
		dv_autofree char *path = NULL, *d = NULL, *wf = NULL;
		struct layer_image img = { 0 };
		char buf[8];
		DIR *dir;
		struct dirent *de;
		int n = 0;

		if (order < 2)
			tb_dir(&t, "d", 0755);
		if (order == 0)
			tb_file(&t, "d/.wh..wh..opq", 0644, "");
		tb_file(&t, "d/.wh.f", 0644, "");
		if (order != 0)
			tb_file(&t, "d/.wh..wh..opq", 0644, "");
		tb_file(&t, "d/kept", 0644, "k");
		path = tb_write(&t, f->dir, "opq.tar", NULL);
		import_ok(f, path, "opq", &img);
		d = diff_file(f, img.layers.v[0], "d");
		wf = diff_file(f, img.layers.v[0], "d/f");
		assert_int_equal(getxattr(d, key, buf, sizeof(buf)), 1);
		assert_int_equal(buf[0], 'y');
		assert_int_equal(lstat(wf, &sb), 0);
		assert_true(S_ISCHR(sb.st_mode));
		assert_int_equal(sb.st_rdev, makedev(0, 0));
		dir = opendir(d);
		while ((de = readdir(dir)))
			if (de->d_name[0] != '.')
				n++;
		closedir(dir);
		assert_int_equal(n, 2); /* f (the whiteout) and kept; no ".wh." files */
		layer_image_release(&img);
	}
}

/* export.c is import's inverse: a layer exported and imported again is the
 * same tree (whiteouts, opaque folders, links, modes), and exporting that
 * gives the very same bytes (the diff_id is stable). */
static void test_export_roundtrip(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	struct dv_error err = { 0 };
	struct layer_image a = { 0 }, b = { 0 };
	dv_autofree char *path = NULL, *out1 = NULL, *out2 = NULL;
	char d1[65], d2[65], h[65];
	unsigned long long size;
	const char *key = rootless() ? "user.overlay.opaque" : "trusted.overlay.opaque";
	struct stat s1, s2;
	char buf[8];
	int fd;

	tb_dir(&t, "d", 0750);
	tb_file(&t, "d/.wh..wh..opq", 0644, "");
	tb_file(&t, "d/.wh.gone", 0644, "");
	tb_file(&t, "d/kept", 0640, "k");
	tb_hard(&t, "d/kept2", 0640, "d/kept");
	tb_sym(&t, "s", "d/kept");
	tb_file(&t, "x", 04755, "#!/bin/sh\n");
	path = tb_write(&t, f->dir, "rt.tar", NULL);
	import_ok(f, path, "rt", &a);

	out1 = dv_xasprintf("%s/out1.tar", f->dir);
	fd = open(out1, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_equal(layer_export(&f->st, a.layers.v[0], fd, d1, &size, &err), 0);
	close(fd);
	fd = open(out1, O_RDONLY | O_CLOEXEC);
	assert_int_equal(dv_sha256_fd(fd, h, &err), 0);
	close(fd);
	assert_string_equal(d1, h); /* the diff_id is the written bytes' */
	/* hashing alone gives the same */
	assert_int_equal(layer_export(&f->st, a.layers.v[0], -1, h, NULL, &err), 0);
	assert_string_equal(d1, h);

	import_ok(f, out1, "rt2", &b);
	assert_string_equal(b.layers.v[0], d1); /* imported: its id is its diff_id */
	{
		dv_autofree char *dir = diff_file(f, b.layers.v[0], "d");
		dv_autofree char *gone = diff_file(f, b.layers.v[0], "d/gone");
		dv_autofree char *k1 = diff_file(f, b.layers.v[0], "d/kept");
		dv_autofree char *k2 = diff_file(f, b.layers.v[0], "d/kept2");
		dv_autofree char *x = diff_file(f, b.layers.v[0], "x");

		assert_int_equal(getxattr(dir, key, buf, sizeof(buf)), 1);
		assert_int_equal(lstat(gone, &s1), 0);
		assert_true(S_ISCHR(s1.st_mode) && s1.st_rdev == makedev(0, 0));
		assert_int_equal(lstat(k1, &s1), 0);
		assert_int_equal(lstat(k2, &s2), 0);
		assert_int_equal(s1.st_ino, s2.st_ino);
		assert_int_equal(s1.st_mode & 07777, 0640);
		assert_int_equal(lstat(dir, &s1), 0);
		assert_int_equal(s1.st_mode & 07777, 0750);
		assert_int_equal(lstat(x, &s1), 0);
		/* An owner may set its own file's setuid bit, so rootless keeps it
		 * too (as check_good's bin/su); the env's mounts are nosuid. */
		assert_int_equal(s1.st_mode & 07777, 04755);
	}
	out2 = dv_xasprintf("%s/out2.tar", f->dir);
	fd = open(out2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_equal(layer_export(&f->st, b.layers.v[0], fd, d2, NULL, &err), 0);
	close(fd);
	assert_string_equal(d1, d2);
	layer_image_release(&a);
	layer_image_release(&b);
}

/* Names are bytes (issue 13): an env's files named in no charset at all,
 * in Latin-1, in UTF-8 (ca-certificates' NetLock_Arany_..._Főtanúsítvány),
 * 255-byte names, a 4000-byte path, link targets past ustar's 100 bytes
 * and not UTF-8, hard links among them, a sparse file and user.*
 * attributes: exported and imported again, every byte is back; the holes
 * go out as zeros and are holes again on import; a second export is the
 * same tar. */
static void mk_file(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		fail_msg("cannot create a test file: %s", strerror(errno));
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static char *read_all(const char *path)
{
	struct dv_error err = { 0 };
	char *text = NULL;
	size_t len;

	if (dv_read_file_at(AT_FDCWD, path, &text, &len, &err) < 0)
		fail_msg("cannot read '%s': %s", path, err.msg);
	return text;
}

static void test_export_names_bytes(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {
		"\xff\xfe",
		"caf\xe9",
		"ascii",
		"NetLock_Arany_=Class_Gold=_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem",
		"e\xcc\x81-nfd",
	};
	dv_autofree char *src = dv_xasprintf("%s/src", f->dir);
	dv_autofree char *out = dv_xasprintf("%s/names.tar", f->dir);
	/* VFS_CAP_REVISION_3 | effective, cap_net_bind_service, rootid 1000 */
	static const unsigned char capv3[24] = { 0x01, 0x00, 0x00,        0x03,
						 0x00, 0x04, [20] = 0xe8, 0x03 };
	char long_ascii[256], long_utf8[256], deep[4096], target[4000], link300[301];
	char d1[65], d2[65];
	struct dv_error err = { 0 };
	struct layer_image img = { 0 };
	unsigned long long size;
	struct stat sb, sb2;
	int sfd, dfd, fd;
	size_t i;

	assert_int_equal(mkdir(src, 0755), 0);
	sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sfd >= 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		mk_file(sfd, names[i], names[i]);
	memset(long_ascii, 'a', 255);
	long_ascii[255] = 0;
	for (i = 0; i < 127; i++)
		memcpy(long_utf8 + 2 * i, "\xc3\xa9", 2);
	long_utf8[254] = '\xff';
	long_utf8[255] = 0;
	mk_file(sfd, long_ascii, "255 ascii");
	mk_file(sfd, long_utf8, "255 bytes");
	assert_int_equal(linkat(sfd, "caf\xe9", sfd, "hard\xfe", 0), 0);
	/* a 4000-byte path: 19 folders of 200 bytes and a file */
	dfd = dup(sfd);
	deep[0] = 0;
	for (i = 0; i < 19; i++) {
		char seg[201];
		int next;

		memset(seg, i % 2 ? 'd' : '\xe9', 200);
		seg[200] = 0;
		assert_int_equal(mkdirat(dfd, seg, 0755), 0);
		next = openat(dfd, seg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(dfd);
		dfd = next;
		strcat(deep, seg);
		strcat(deep, "/");
	}
	mk_file(dfd, "deep\xff", "deep");
	strcat(deep, "deep\xff");
	assert_true(strlen(deep) > 3800);
	close(dfd);
	/* link targets: 300 bytes not UTF-8, and 3999 bytes */
	memset(link300, '\xfe', 300);
	link300[300] = 0;
	memset(target, 'x', sizeof(target) - 1);
	target[sizeof(target) - 1] = 0;
	assert_int_equal(symlinkat(link300, sfd, "l300"), 0);
	assert_int_equal(symlinkat(target, sfd, "l4000\xe9"), 0);
	/* sparse: 64 MiB with 5 bytes at 32 MiB; a second all hole */
	fd = openat(sfd, "sparse", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_int_equal(pwrite(fd, "data!", 5, 32 << 20), 5);
	assert_int_equal(ftruncate(fd, 64 << 20), 0);
	assert_int_equal(fsetxattr(fd, "user.test", "v\xff", 2, 0), 0);
	assert_int_equal(fsetxattr(fd, "user.overlay.opaque", "y", 1, 0), 0);
	close(fd);
	fd = openat(sfd, "hole", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	/* as root, a v3 file capability (bound to the root of a user
	 * namespace, uid 1000 here) is stored as it is and travels so */
	mk_file(sfd, "capv3", "");
	if (!rootless()) {
		fd = openat(sfd, "capv3", O_RDONLY | O_CLOEXEC);
		assert_int_equal(fsetxattr(fd, "security.capability", capv3, sizeof(capv3), 0), 0);
		close(fd);
	}
	close(sfd);

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (layer_export_dir(&f->st, src, fd, d1, &size, &err) < 0)
		fail_msg("export failed: %s", err.msg);
	close(fd);
	/* the holes go out as zeros (no GNU sparse entry: OCI's SHOULD NOT) */
	assert_true(size > (64 << 20) + (1 << 20));
	assert_int_equal(layer_export_dir(&f->st, src, -1, d2, NULL, &err), 0);
	assert_string_equal(d1, d2);
	import_ok(f, out, "names", &img);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		dv_autofree char *p = diff_file(f, img.layers.v[0], names[i]);
		dv_autofree char *text = read_all(p);

		assert_string_equal(text, names[i]);
	}
	{
		dv_autofree char *a = diff_file(f, img.layers.v[0], long_ascii);
		dv_autofree char *u = diff_file(f, img.layers.v[0], long_utf8);
		dv_autofree char *ta = read_all(a), *tu = read_all(u);
		dv_autofree char *c = diff_file(f, img.layers.v[0], "caf\xe9");
		dv_autofree char *h = diff_file(f, img.layers.v[0], "hard\xfe");
		dv_autofree char *l3 = diff_file(f, img.layers.v[0], "l300");
		dv_autofree char *l4 = diff_file(f, img.layers.v[0], "l4000\xe9");
		dv_autofree char *sp = diff_file(f, img.layers.v[0], "sparse");
		dv_autofree char *ho = diff_file(f, img.layers.v[0], "hole");
		dv_autofree char *root = diff_file(f, img.layers.v[0], "");
		char buf[4096], x[8];
		ssize_t n;
		int dirfd;

		assert_string_equal(ta, "255 ascii");
		assert_string_equal(tu, "255 bytes");
		assert_int_equal(stat(c, &sb), 0);
		assert_int_equal(stat(h, &sb2), 0);
		assert_int_equal(sb.st_ino, sb2.st_ino);
		n = readlink(l3, buf, sizeof(buf));
		assert_int_equal(n, 300);
		assert_memory_equal(buf, link300, 300);
		n = readlink(l4, buf, sizeof(buf));
		assert_int_equal(n, (ssize_t)strlen(target));
		assert_memory_equal(buf, target, strlen(target));
		/* the deep file, reached folder by folder */
		dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(dirfd >= 0);
		fd = openat(dirfd, deep, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail_msg("the 4000-byte path is not back: %s", strerror(errno));
		assert_int_equal(read(fd, buf, sizeof(buf)), 4);
		assert_memory_equal(buf, "deep", 4);
		close(fd);
		close(dirfd);
		/* sparse, still: 64 MiB long, its blocks few, the data in place */
		assert_int_equal(stat(sp, &sb), 0);
		assert_int_equal(sb.st_size, 64 << 20);
		assert_true(sb.st_blocks * 512 < (1 << 20));
		fd = open(sp, O_RDONLY | O_CLOEXEC);
		assert_int_equal(pread(fd, buf, 5, 32 << 20), 5);
		assert_memory_equal(buf, "data!", 5);
		assert_int_equal(fgetxattr(fd, "user.test", x, sizeof(x)), 2);
		assert_memory_equal(x, "v\xff", 2);
		close(fd);
		assert_int_equal(stat(ho, &sb), 0);
		assert_int_equal(sb.st_size, 1 << 20);
		assert_int_equal(sb.st_blocks, 0);
		if (!rootless()) {
			dv_autofree char *cp = diff_file(f, img.layers.v[0], "capv3");
			unsigned char got[64];

			assert_int_equal(getxattr(cp, "security.capability", got, sizeof(got)),
					 (ssize_t)sizeof(capv3));
			assert_memory_equal(got, capv3, sizeof(capv3));
		}
	}
	layer_image_release(&img);
}

/* RFC 3339 both ways: UTC with Z out; Z, z, offsets and fractions in;
 * anything else refused. */
static void test_time_rfc3339(void **state)
{
	static const struct {
		const char *in;
		long long want; /* -1: refused */
	} cases[] = {
		{ "2026-12-06T06:27:26Z", 1796538446 },
		{ "2026-12-06t06:27:26z", 1796538446 },
		{ "2026-12-06T07:27:26+01:00", 1796538446 },
		{ "2026-12-06T01:57:26.999999999-04:30", 1796538446 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-12-06T06:27:26", -1 },
		{ "2026-12-06 06:27:26Z", -1 },
		{ "2026-12-06T06:27:26.Z", -1 },
		{ "2026-12-06T06:27:26+0100", -1 },
		{ "2026-12-06T06:27:26Zjunk", -1 },
		{ "", -1 },
	};
	char out[32];
	long long t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = layer_time_parse(cases[i].in, &t);

		if (cases[i].want < 0) {
			if (r == 0)
				fail_msg("'%s' was taken as %lld", cases[i].in, t);
			continue;
		}
		if (r != 0 || t != cases[i].want)
			fail_msg("'%s': %d, %lld (want %lld)", cases[i].in, r, t, cases[i].want);
	}
	assert_int_equal(layer_time_parse(NULL, &t), -1);
	layer_time_rfc3339(1796538446, out);
	assert_string_equal(out, "2026-12-06T06:27:26Z");
	layer_time_rfc3339(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
}

static void test_devices(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	dv_autofree char *path = NULL, *null = NULL, *fifo = NULL;
	struct layer_image img = { 0 };
	struct dv_error err = { 0 };
	unsigned skipped = 0;
	struct stat sb;

	tb_dir(&t, "dev", 0755);
	tb_dev(&t, '3', "dev/null", 1, 3);
	tb_dev(&t, '4', "dev/sda", 8, 0);
	tb_dev(&t, '3', "dev/wh", 0, 0);
	tb_add(&t, '6', "dev/fifo", 0644, NULL, NULL, NULL, NULL);
	path = tb_write(&t, f->dir, "dev.tar", NULL);
	assert_int_equal(layer_image_import(&f->st, path, "dev", &img, &skipped, &err), 0);
	assert_int_equal(skipped, 3);
	null = diff_file(f, img.layers.v[0], "dev/null");
	assert_int_equal(lstat(null, &sb), -1);
	fifo = diff_file(f, img.layers.v[0], "dev/fifo");
	assert_int_equal(lstat(fifo, &sb), 0);
	assert_true(S_ISFIFO(sb.st_mode));
	layer_image_release(&img);
}

/* --- gc --- */

static void test_gc(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	struct layer_image img = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *a = hexid('a'), *b = hexid('b'), *c = hexid('c'), *k = hexid('e');
	dv_autofree char *path = NULL, *stale = NULL, *odd = NULL, *live = NULL;
	struct dv_strv in_use = { 0 };
	unsigned n = 0;
	unsigned long long bytes = 0;
	char out[65];

	tb_file(&t, "x", 0644, "x");
	path = tb_write(&t, f->dir, "x.tar", NULL);
	import_ok(f, path, "keep", &img);
	make_layer(f, a, NULL, "base");
	make_layer(f, b, a, "child"); /* in use: keeps its parent a too */
	make_layer(f, c, NULL, "orphan");
	assert_int_equal(layer_cache_put(&f->st, k, c, "reg.example/x:1", NULL, &err), 0);
	/* A crashed builder's staging (pid 1 did not start at time 1), a
	 * stray file, and a live staging of ours. */
	stale = dv_xasprintf("%s/tmp/1-1-0000abcd", f->store);
	assert_int_equal(mkdir(stale, 0700), 0);
	odd = dv_xasprintf("%s/tmp/fresh-stray", f->store);
	assert_int_equal(mkdir(odd, 0700), 0);
	{
		char *name = NULL;

		assert_int_equal(layer_staging_new(&f->st, &name, &err), 0);
		live = name;
	}
	dv_strv_push(&in_use, b);
	assert_int_equal(layer_gc(&f->st, &in_use, &n, &bytes, &err), 0);
	assert_int_equal(n, 1);
	assert_true(bytes > 0);
	assert_false(layer_exists(&f->st, c));
	assert_true(layer_exists(&f->st, a));
	assert_true(layer_exists(&f->st, b));
	assert_true(layer_exists(&f->st, img.layers.v[0]));
	assert_int_equal(layer_cache_get(&f->st, k, NULL, out, &err), -1);
	assert_int_equal(count_in(f, "cache"), 0);
	assert_int_equal(count_in(f, "tmp"), 2); /* the fresh stray and the live staging */
	assert_int_equal(layer_staging_discard(&f->st, live, &err), 0);

	/* Without the image and the in-use list, everything goes. */
	assert_int_equal(layer_image_remove(&f->st, "keep", &err), 0);
	assert_int_equal(layer_gc(&f->st, NULL, &n, &bytes, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(count_in(f, "layers"), 0);
	dv_strv_release(&in_use);
	layer_image_release(&img);
}

/* The store's id: made on first use, kept, another store's differs, a
 * damaged one replaced; nothing is left in tmp/. */
static void test_store_id(void **state)
{
	struct fx *f = *state;
	struct layer_store other = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *path = dv_xasprintf("%s/store-id", f->store);
	dv_autofree char *other_root = dv_xasprintf("%s/other", f->dir);
	char a[9], b[9], c[9];
	FILE *fp;

	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(layer_store_id(&f->st, a, &err), 0);
	assert_true(dv_str_is_hex(a, 8));
	assert_int_equal(layer_store_id(&f->st, b, &err), 0);
	assert_string_equal(a, b);
	assert_int_equal(layer_store_open(other_root, rootless(), &other, &err), 0);
	assert_int_equal(layer_store_id(&other, c, &err), 0);
	assert_string_not_equal(a, c);
	layer_store_release(&other);

	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("not hex!\n", fp);
	fclose(fp);
	assert_int_equal(layer_store_id(&f->st, b, &err), 0);
	assert_true(dv_str_is_hex(b, 8));
	assert_int_equal(layer_store_id(&f->st, c, &err), 0);
	assert_string_equal(b, c);
	{
		char *names = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&names, &len);
		dv_autoclosedir DIR *d = dv_opendir_fd(f->st.tmp_fd);
		struct dirent *de;

		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				fprintf(m, "%s ", de->d_name);
		fclose(m);
		assert_string_equal(names, "");
		free(names);
	}
}

/* A layer.json that is JSON but no object (a damaged record) reads as
 * unreadable: reading the image's size once aborted in json-c (found by the
 * records fuzzer). */
static void test_layer_json_not_object(void **state)
{
	struct fx *f = *state;
	struct tb t = { 0 };
	struct layer_image img = { 0 }, back = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *path = NULL, *meta = NULL;
	static const char *const damaged[] = { "2", "[]", "\"x\"", "true" };

	tb_file(&t, "x", 0644, "x");
	path = tb_write(&t, f->dir, "x.tar", NULL);
	import_ok(f, path, "keep", &img);
	meta = dv_xasprintf("%s/layers/%s/layer.json", f->store, img.layers.v[0]);
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		int fd = open(meta, O_WRONLY | O_TRUNC | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, damaged[i], strlen(damaged[i])),
				 (ssize_t)strlen(damaged[i]));
		close(fd);
		assert_int_equal(layer_image_resolve(&f->st, "keep", &back, &err), 0);
		layer_image_release(&back);
	}
	layer_image_release(&img);
}

int main(void)
{
	if (getenv("DV_TEST_EXTRACT_THREADS"))
		return extract_threads_main(getenv("DV_TEST_EXTRACT_THREADS"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_refusals, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_store_layout, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_store_id, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_layer_json_not_object, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_export_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_export_names_bytes, fx_setup, fx_teardown),
		cmocka_unit_test(test_time_rfc3339),
		cmocka_unit_test(test_ref_normalize),
		cmocka_unit_test_setup_teardown(test_commit_and_cache, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_deterministic, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_max_layer_size, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_keeps_real_error, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_extract_threads_no_openat2, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_not_tar, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_resolve, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_paths, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_devices, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_gc, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
