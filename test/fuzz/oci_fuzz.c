/* test/fuzz/oci_fuzz.c - an OCI image layout archive loaded into a store
 * (layer_image_load, as `devenv image load` does): index.json, a nested
 * index, the manifest, the config, the layers, the image record written
 * and read back.
 *
 * Input: parts separated by lines "=====": part 0 is index.json, parts 1..
 * are the blobs. In a part, "@N@" becomes "sha256:<digest of part N>",
 * "#N#" its size and "%N%" its path "blobs/sha256/<hex>", for N (one
 * digit) after the part: so digests stay right while the fuzzer changes
 * the documents around them. The harness writes the parts as a tar
 * (oci-layout, index.json, blobs/sha256/<hex>) and loads it into a fresh
 * store; a part 0 that is a JSON array is a docker-archive's
 * manifest.json instead (no oci-layout, no index.json). make-seeds.py
 * writes the seeds.
 *
 * Checked: no sanitizer report; a refusal has a message; a loaded image
 * reads back (layer_image_resolve) with the same id, config and layers;
 * nothing beside the store changes (canaries named like the store's
 * folders sit next to it). */
#include "layers/internal.h"
#include "util/hash.h"
#include "fuzz.h"

#define SEP "\n=====\n"
#define MAX_PARTS 10

static const char *top;
static char *before;
static int top_fd = -1;

struct part {
	const char *p;
	size_t n;
	char *text; /* after substitution */
	size_t len;
	char hex[65];
};

static void subst(struct part *parts, size_t np, size_t i)
{
	struct dv_buf b = { 0 };
	const char *s = parts[i].p, *end = s + parts[i].n;

	while (s < end) {
		if (end - s >= 3 && (s[0] == '@' || s[0] == '#' || s[0] == '%') && s[1] >= '0' &&
		    s[1] <= '9' && s[2] == s[0]) {
			size_t j = (size_t)(s[1] - '0');

			if (j > i && j < np) {
				if (s[0] == '@')
					dv_buf_addf(&b, "sha256:%s", parts[j].hex);
				else if (s[0] == '%')
					dv_buf_addf(&b, "blobs/sha256/%s", parts[j].hex);
				else
					dv_buf_addf(&b, "%zu", parts[j].len);
				s += 3;
				continue;
			}
		}
		dv_buf_add(&b, s, 1);
		s++;
	}
	parts[i].len = b.len;
	parts[i].text = dv_buf_steal(&b);
	dv_sha256_hex(parts[i].text, parts[i].len, parts[i].hex);
}

/* A ustar header for name of size bytes (type '0' file, '5' folder). */
static void tar_header(struct dv_buf *b, const char *name, size_t size, char type)
{
	unsigned char h[512] = { 0 };
	unsigned sum = 0;

	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011zo", size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	for (size_t i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	dv_buf_add(b, h, 512);
}

static void tar_file(struct dv_buf *b, const char *name, const char *data, size_t len)
{
	static const char zero[512];

	tar_header(b, name, len, '0');
	dv_buf_add(b, data, len);
	if (len % 512)
		dv_buf_add(b, zero, 512 - len % 512);
}

static void setup(void)
{
	top = fuzz_tmpdir("oci");
	top_fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fuzz_write_at(top_fd, "canary", "top canary\n", 11);
	mkdirat(top_fd, "images", 0755);
	fuzz_write_at(top_fd, "images/canary", "not the store's images\n", 23);
	mkdirat(top_fd, "layers", 0755);
	fuzz_write_at(top_fd, "layers/canary", "not the store's layers\n", 23);
	before = fuzz_snapshot(top, "store");
}

static void same_image(const struct layer_image *a, const struct layer_image *b)
{
	if (strcmp(a->id, b->id) || strcmp(a->config, b->config) || a->layers.n != b->layers.n)
		fuzz_fail("image '%s' reads back as another: id %s / %s", a->name, a->id, b->id);
	for (size_t i = 0; i < a->layers.n; i++)
		if (strcmp(a->layers.v[i], b->layers.v[i]))
			fuzz_fail("image '%s' reads back with layer %zu %s, not %s", a->name, i,
				  b->layers.v[i], a->layers.v[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct part parts[MAX_PARTS] = { 0 };
	struct layer_store st = { 0 };
	struct layer_image img = { 0 }, back = { 0 };
	struct dv_error err = { 0 };
	struct dv_buf tar = { 0 };
	const char *s = (const char *)data, *end = s + size;
	dv_autofree char *store = NULL, *file = NULL;
	size_t np = 0, lead;

	if (!top)
		setup();
	/* Split. */
	while (np < MAX_PARTS) {
		const char *sep = memmem(s, (size_t)(end - s), SEP, strlen(SEP));

		parts[np].p = s;
		parts[np].n = sep ? (size_t)(sep - s) : (size_t)(end - s);
		np++;
		if (!sep)
			break;
		s = sep + strlen(SEP);
	}
	for (size_t i = np; i-- > 0;)
		subst(parts, np, i);
	lead = strspn(parts[0].text, " \t\r\n");
	if (lead < parts[0].len && parts[0].text[lead] == '[') {
		tar_file(&tar, "manifest.json", parts[0].text, parts[0].len);
	} else {
		tar_file(&tar, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
		tar_file(&tar, "index.json", parts[0].text, parts[0].len);
	}
	tar_header(&tar, "blobs/", 0, '5');
	tar_header(&tar, "blobs/sha256/", 0, '5');
	for (size_t i = 1; i < np; i++) {
		char name[100];

		snprintf(name, sizeof(name), "blobs/sha256/%s", parts[i].hex);
		tar_file(&tar, name, parts[i].text, parts[i].len);
	}
	dv_buf_add(&tar, (char[1024]){ 0 }, 1024);

	store = dv_xasprintf("%s/store", top);
	if (layer_store_open(store, geteuid() != 0, &st, &err) < 0)
		fuzz_fail("cannot open the store: %s", err.msg);
	file = dv_xasprintf("%s/tmp/fuzz-in.tar", store);
	fuzz_write_at(AT_FDCWD, file, tar.s, tar.len);
	if (layer_image_load(&st, file, NULL, &img, &err) < 0) {
		fuzz_check_error(&err, NULL, NULL, 0);
	} else {
		if (layer_image_resolve(&st, img.name, &back, &err) < 0)
			fuzz_fail("image '%s' was loaded but cannot be read: %s", img.name, err.msg);
		same_image(&img, &back);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "loaded '%s' %s\n", img.name, img.id);
	}
	layer_image_release(&img);
	layer_image_release(&back);
	layer_store_release(&st);
	memset(&err, 0, sizeof(err));
	if (layer_rm_tree(top_fd, "store", &err) < 0)
		fuzz_fail("cannot remove the store: %s", err.msg);
	fuzz_snapshot_check(top, "store", before);
	for (size_t i = 0; i < np; i++)
		free(parts[i].text);
	dv_buf_release(&tar);
	return 0;
}
