/* test/fuzz/extract_fuzz.c - a layer tar (any compression) unpacked by
 * layer_extract(), as pulls, imports and loads unpack untrusted images.
 *
 * The target is sandbox/a/b/root; sandbox/ holds canaries around it (a
 * file beside the target, one above it, one at the top, and a folder with
 * a file). After each input the whole sandbox but the target must be as it
 * was: nothing created, changed, linked or removed outside the target.
 * /tmp/devenv-fuzz-escape (which the seeds aim absolute names and symlinks
 * at) must not appear. Then the target is removed for the next input.
 *
 * libarchive is not instrumented (it is dlopen()ed), so the fuzzer cannot
 * learn tar's header checksum: an uncompressed input has the checksum of
 * each header it can walk to set right first, or nearly every mutation of a
 * header would be refused before reaching extract.c. */
#include <sys/mman.h>

#include "layers/internal.h"
#include "fuzz.h"

#define ESCAPE "/tmp/devenv-fuzz-escape"

static const char *sandbox;
static char *before;
static int bfd = -1; /* sandbox/a/b */

static unsigned long long octal(const unsigned char *p, size_t n)
{
	unsigned long long v = 0;

	if (p[0] & 0x80) { /* base-256 */
		for (size_t i = 1; i < n; i++)
			v = v << 8 | p[i];
		return v;
	}
	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (unsigned)(p[i] - '0');
	return v;
}

static void fix_checksums(unsigned char *t, size_t n)
{
	static const unsigned char zero[512];

	/* compressed: gzip, xz, zstd, bzip2, lz4 */
	if (n >= 4 && (!memcmp(t, "\x1f\x8b", 2) ||
		       !memcmp(t,
			       "\xfd"
			       "7zXZ",
			       4) ||
		       !memcmp(t, "\x28\xb5\x2f\xfd", 4) || !memcmp(t, "BZh", 3) ||
		       !memcmp(t, "\x04\x22\x4d\x18", 4)))
		return;
	for (size_t off = 0; off + 512 <= n;) {
		unsigned char *h = t + off;
		unsigned long long size;
		unsigned sum = 0;

		if (!memcmp(h, zero, 512))
			return;
		memset(h + 148, ' ', 8);
		for (size_t i = 0; i < 512; i++)
			sum += h[i];
		snprintf((char *)h + 148, 8, "%06o", sum);
		size = octal(h + 124, 12);
		if (size > n)
			return;
		off += 512 + (size_t)(size + 511) / 512 * 512;
	}
}

static void setup(void)
{
	int fd;

	sandbox = fuzz_tmpdir("extract");
	fd = open(sandbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fuzz_write_at(fd, "canary", "top canary\n", 11);
	mkdirat(fd, "a", 0755);
	mkdirat(fd, "a/b", 0755);
	mkdirat(fd, "a/dir", 0755);
	fuzz_write_at(fd, "a/canary", "canary above the target\n", 24);
	fuzz_write_at(fd, "a/dir/file", "a file in a folder\n", 19);
	fuzz_write_at(fd, "a/b/canary", "canary beside the target\n", 25);
	if (symlinkat("../canary", fd, "a/b/link") < 0)
		fuzz_fail("symlink: %s", strerror(errno));
	bfd = openat(fd, "a/b", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	before = fuzz_snapshot(sandbox, "a/b/root");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dv_error err = { 0 };
	const struct layer_ar *ar = layer_ar_load(&err);
	unsigned skipped = 0;
	char hex[65];
	struct stat sb;
	dv_autofree unsigned char *copy = NULL;
	int fd, rootfd;

	if (!ar)
		fuzz_fail("%s", err.msg);
	if (!sandbox)
		setup();
	if (mkdirat(bfd, "root", 0755) < 0 ||
	    (rootfd = openat(bfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fuzz_fail("cannot make the target: %s", strerror(errno));
	copy = dv_xmalloc(size ? size : 1);
	memcpy(copy, data, size);
	fix_checksums(copy, size);
	fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || dv_write_full(fd, copy, size, &err) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		fuzz_fail("memfd: %s", strerror(errno));
	if (layer_extract(ar, fd, "layer.tar", rootfd, geteuid() != 0, hex, &skipped, &err) < 0)
		fuzz_check_error(&err, NULL, NULL, 0);
	else if (!dv_str_is_hex(hex, 64))
		fuzz_fail("extracted, with a diff_id '%.64s' that is not 64 hex digits", hex);
	close(fd);
	close(rootfd);
	fuzz_snapshot_check(sandbox, "a/b/root", before);
	if (lstat(ESCAPE, &sb) == 0)
		fuzz_fail("'%s' was created", ESCAPE);
	memset(&err, 0, sizeof(err));
	if (layer_rm_tree(bfd, "root", &err) < 0)
		fuzz_fail("cannot remove the target: %s", err.msg);
	return 0;
}
