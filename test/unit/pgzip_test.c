/* test/unit/pgzip_test.c - registry/pgzip.c: parallel gzip as pigz makes
 * it. Every output goes back through zlib's own gunzip (inflate with a gzip
 * wrapper, which checks the crc32 and the size); sizes around the block
 * boundaries, empty and 1-byte inputs; and the bytes are the same for 1
 * thread and many, and at each level. No root, no network. */
#include <dlfcn.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "registry/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

/* zlib's inflate, loaded as pgzip.c loads deflate (the tests are not
 * linked with -lz either). */
static struct {
	__typeof__(inflateInit2_) *init;
	__typeof__(inflate) *inflate;
	__typeof__(inflateEnd) *end;
	__typeof__(zlibVersion) *version;
} zi;

static int load_inflate(void **state)
{
	void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);

	(void)state;
	if (!h)
		return -1;
	*(void **)&zi.init = dlsym(h, "inflateInit2_");
	*(void **)&zi.inflate = dlsym(h, "inflate");
	*(void **)&zi.end = dlsym(h, "inflateEnd");
	*(void **)&zi.version = dlsym(h, "zlibVersion");
	return zi.init && zi.inflate && zi.end && zi.version ? 0 : -1;
}

/* Some input that compresses, but not to nothing: words from a small
 * vocabulary, with a counter so that long matches are rare. */
static unsigned char *make_input(size_t n)
{
	static const char *words[] = { "layer ", "blob ", "manifest ", "sha256 ",  "devenv ",
				       "\n",     "tar ",  "gzip ",     "\x00\x01", "zz" };
	unsigned char *b = dv_xmalloc(n ? n : 1);
	unsigned long long x = 88172645463325252ULL;

	for (size_t i = 0; i < n;) {
		const char *w;
		size_t l;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w = words[x % 10];
		l = strlen(w) ? strlen(w) : 1;
		for (size_t k = 0; k < l && i < n; k++)
			b[i++] = (unsigned char)(x % 7 == 0 ? (x >> 8) & 0xff : (unsigned char)w[k]);
	}
	return b;
}

/* Gzip in[0..n) with pgzip on threads threads at level: the bytes, in
 * *out (caller frees). */
static size_t pgzip_buf(const unsigned char *in, size_t n, int level, unsigned threads,
			unsigned char **out)
{
	int ifd = memfd_create("in", MFD_CLOEXEC), ofd = memfd_create("out", MFD_CLOEXEC);
	struct dv_error err = { 0 };
	struct dv_sha256 h;
	char *text = NULL, hex[DV_SHA256_HEX], want[DV_SHA256_HEX];
	size_t len = 0;

	assert_true(ifd >= 0 && ofd >= 0);
	assert_int_equal(dv_write_full(ifd, in, n, &err), 0);
	assert_int_equal(lseek(ifd, 0, SEEK_SET), 0);
	dv_sha256_init(&h);
	if (reg_pgzip(ifd, ofd, level, threads, &h, &err) < 0)
		fail_msg("reg_pgzip: %s", err.msg);
	assert_int_equal(lseek(ofd, 0, SEEK_SET), 0);
	assert_int_equal(dv_read_all(ofd, &text, &len, &err), 0);
	/* The hash it kept is the bytes' it wrote. */
	dv_sha256_final_hex(&h, hex);
	dv_sha256_hex(text, len, want);
	assert_string_equal(hex, want);
	close(ifd);
	close(ofd);
	*out = (unsigned char *)text;
	return len;
}

/* gunzip gz with zlib: it must end exactly at its end, its crc32 and size
 * checked, and give back in[0..n). */
static void check_gunzip(const unsigned char *gz, size_t gzlen, const unsigned char *in, size_t n)
{
	z_stream s = { 0 };
	unsigned char *got = dv_xmalloc(n + 1);
	int r;

	assert_int_equal(zi.init(&s, 15 + 16, zi.version(), (int)sizeof(s)), Z_OK);
	s.next_in = (unsigned char *)gz;
	s.avail_in = (uInt)gzlen;
	s.next_out = got;
	s.avail_out = (uInt)(n + 1);
	r = zi.inflate(&s, Z_FINISH);
	assert_int_equal(r, Z_STREAM_END);
	assert_int_equal(s.avail_in, 0);
	assert_int_equal(s.total_out, n);
	assert_memory_equal(got, in, n);
	zi.end(&s);
	free(got);
	/* The header: gzip, deflate, no flags, no timestamp. */
	assert_true(gzlen >= 18);
	assert_int_equal(gz[0], 0x1f);
	assert_int_equal(gz[1], 0x8b);
	assert_int_equal(gz[2], 8);
	assert_int_equal(gz[3], 0);
	assert_int_equal(gz[4] | gz[5] | gz[6] | gz[7], 0);
}

static void round_trip(size_t n, int level)
{
	dv_autofree unsigned char *in = make_input(n);
	dv_autofree unsigned char *one = NULL;
	size_t len1 = pgzip_buf(in, n, level, 1, &one);

	check_gunzip(one, len1, in, n);
	/* The same bytes whatever the number of threads. */
	for (unsigned t = 2; t <= 7; t += 5) {
		dv_autofree unsigned char *many = NULL;
		size_t len = pgzip_buf(in, n, level, t, &many);

		assert_int_equal(len, len1);
		assert_memory_equal(many, one, len1);
	}
}

static void test_empty(void **state)
{
	(void)state;
	round_trip(0, 6);
}

static void test_one_byte(void **state)
{
	(void)state;
	round_trip(1, 6);
}

static void test_block_boundaries(void **state)
{
	static const size_t sizes[] = {
		REG_PGZIP_BLOCK - 1,
		REG_PGZIP_BLOCK,
		REG_PGZIP_BLOCK + 1,
		2 * REG_PGZIP_BLOCK,
		2 * REG_PGZIP_BLOCK + 1,
		3 * REG_PGZIP_BLOCK - 1,
		32768 - 1,
		32768,
		32768 + 1,
		REG_PGZIP_BLOCK + 32768,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		round_trip(sizes[i], REG_PGZIP_LEVEL);
}

/* Many blocks: more than the ring of slots holds, so slots are reused
 * while workers still compress others. */
static void test_many_blocks(void **state)
{
	(void)state;
	round_trip(40 * REG_PGZIP_BLOCK + 12345, REG_PGZIP_LEVEL);
}

static void test_levels(void **state)
{
	size_t n = 3 * REG_PGZIP_BLOCK + 77;
	dv_autofree unsigned char *in = make_input(n);
	size_t prev = 0;

	(void)state;
	for (int level = 1; level <= 9; level += 4) {
		round_trip(n, level);
		/* Level 1 is not level 9: the level reaches deflate. */
		if (level == 1) {
			dv_autofree unsigned char *a = NULL;

			prev = pgzip_buf(in, n, 1, 1, &a);
		} else if (level == 9) {
			dv_autofree unsigned char *b = NULL;

			assert_true(pgzip_buf(in, n, 9, 1, &b) < prev);
		}
	}
}

/* Data that does not compress (random bytes): deflate's stored blocks,
 * bigger than the input, must fit. */
static void test_incompressible(void **state)
{
	size_t n = 5 * REG_PGZIP_BLOCK + 3;
	dv_autofree unsigned char *in = dv_xmalloc(n);
	dv_autofree unsigned char *one = NULL, *two = NULL;
	unsigned long long x = 0x9e3779b97f4a7c15ULL;
	size_t l1, l2;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		in[i] = (unsigned char)(x >> 24);
	}
	l1 = pgzip_buf(in, n, 9, 1, &one);
	l2 = pgzip_buf(in, n, 9, 3, &two);
	check_gunzip(one, l1, in, n);
	assert_int_equal(l1, l2);
	assert_memory_equal(one, two, l1);
}

/* A read error is an error, not a short blob. */
static void test_read_error(void **state)
{
	struct dv_error err = { 0 };
	int ofd = memfd_create("out", MFD_CLOEXEC);

	(void)state;
	/* A folder's fd: read() fails with EISDIR. */
	dv_autoclose int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(dfd >= 0 && ofd >= 0);
	assert_int_equal(reg_pgzip(dfd, ofd, 6, 3, NULL, &err), -1);
	assert_int_equal(err.errnum, EISDIR);
	close(ofd);
}

/* An upload that reads the blob as pgzip writes it (push.c's stream), as
 * libcurl calls it, on another thread. */
struct reader {
	struct reg_upload up;
	struct dv_buf got;
	bool aborted;
};

static void *read_thread(void *data)
{
	struct reader *rd = data;
	char buf[5000]; /* not a divisor of the blocks: reads cross writes */
	size_t n;

	while ((n = reg_upload_read(buf, 1, sizeof(buf), &rd->up)) != 0) {
		if (n == CURL_READFUNC_ABORT) {
			rd->aborted = true;
			break;
		}
		dv_buf_add(&rd->got, buf, n);
	}
	return NULL;
}

/* What the reader sent is every byte pgzip wrote, in order, though it
 * started before the first; a writer that fails aborts the reader. */
static void test_grow_stream(void **state)
{
	size_t n = 3 * REG_PGZIP_BLOCK + 4321;
	dv_autofree unsigned char *in = make_input(n);
	dv_autofree char *text = NULL;
	int ifd = memfd_create("in", MFD_CLOEXEC), ofd = memfd_create("out", MFD_CLOEXEC);
	struct dv_error err = { 0 };
	struct reg_grow g;
	struct reader rd = { 0 };
	pthread_t t;
	size_t len = 0;

	(void)state;
	assert_true(ifd >= 0 && ofd >= 0);
	assert_int_equal(dv_write_full(ifd, in, n, &err), 0);
	assert_int_equal(lseek(ifd, 0, SEEK_SET), 0);
	reg_grow_init(&g);
	rd.up = (struct reg_upload){ .fd = ofd, .grow = &g };
	assert_int_equal(pthread_create(&t, NULL, read_thread, &rd), 0);
	assert_int_equal(reg_pgzip_grow(ifd, ofd, 1, 3, NULL, &g, &err), 0);
	reg_grow_end(&g, true);
	pthread_join(t, NULL);
	assert_false(rd.aborted);
	assert_int_equal(lseek(ofd, 0, SEEK_SET), 0);
	assert_int_equal(dv_read_all(ofd, &text, &len, &err), 0);
	assert_int_equal(rd.got.len, len);
	assert_memory_equal(rd.got.s, text, len);
	reg_grow_destroy(&g);
	dv_buf_release(&rd.got);

	/* A failed writer: the reader stops, aborting its upload. */
	reg_grow_init(&g);
	rd = (struct reader){ .up = { .fd = ofd, .grow = &g } };
	assert_int_equal(pthread_create(&t, NULL, read_thread, &rd), 0);
	reg_grow_add(&g, 100);
	reg_grow_end(&g, false);
	pthread_join(t, NULL);
	assert_true(rd.aborted);
	reg_grow_destroy(&g);
	dv_buf_release(&rd.got);
	close(ifd);
	close(ofd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one_byte),
		cmocka_unit_test(test_block_boundaries),
		cmocka_unit_test(test_many_blocks),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_incompressible),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_grow_stream),
	};

	return cmocka_run_group_tests(tests, load_inflate, NULL);
}
