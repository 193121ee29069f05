/* test/fuzz/records_fuzz.c - the store's own records, as a crash, a full
 * disk or a hand edit may leave them: an image record
 * (images/<repo>/<tag>.json), a layer's layer.json, a cache entry
 * (cache/<key>). The first byte picks which (0: image record, 1:
 * layer.json, 2: cache entry, by its value mod 3); the rest is the file.
 *
 * Checked: no sanitizer report; a refusal has a message; an image record
 * that reads is kept: written, read back and written again it gives the
 * same text and the same image; a cache entry that serves a layer serves
 * one of the entry's ids, and still serves it once gc has pruned the entry
 * (the layer exists). */
#include "layers/internal.h"
#include "fuzz.h"

#define NAME "localhost/fuzz:latest"
#define LAYER "1111111111111111111111111111111111111111111111111111111111111111"
#define KEY LAYER /* a built layer: its id is its key */

static struct layer_store st;
static bool opened;

static void open_store(void)
{
	struct dv_error err = { 0 };
	dv_autofree char *root = dv_xasprintf("%s/store", fuzz_tmpdir("records"));

	if (layer_store_open(root, geteuid() != 0, &st, &err) < 0)
		fuzz_fail("cannot open the store: %s", err.msg);
	/* One layer that exists, for records and cache entries to name. */
	mkdirat(st.layers_fd, LAYER, 0700);
	mkdirat(st.layers_fd, LAYER "/diff", 0700);
	mkdirat(st.images_fd, "localhost", 0700);
	mkdirat(st.images_fd, "localhost/fuzz", 0700);
	opened = true;
}

static char *record_text(void)
{
	struct dv_error err = { 0 };
	char *text = NULL;
	size_t len;

	if (dv_read_file_at(st.images_fd, "localhost/fuzz/latest.json", &text, &len, &err) < 0)
		fuzz_fail("cannot read the record back: %s", err.msg);
	return text;
}

static void image_record(const char *data, size_t size)
{
	struct layer_image a = { 0 }, b = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *one = NULL, *two = NULL;

	fuzz_write_at(st.images_fd, "localhost/fuzz/latest.json", data, size);
	if (layer_record_read(&st, NAME, &a, &err) < 0) {
		fuzz_check_error(&err, NULL, NULL, 0);
		return;
	}
	if (layer_record_write(&st, &a, &err) < 0)
		fuzz_fail("cannot write what was read: %s", err.msg);
	one = record_text();
	if (layer_record_read(&st, NAME, &b, &err) < 0)
		fuzz_fail("cannot read what was written: %s\n%s", err.msg, one);
	if (layer_record_write(&st, &b, &err) < 0)
		fuzz_fail("cannot write what was read: %s", err.msg);
	two = record_text();
	if (strcmp(one, two))
		fuzz_fail("the round trip changed the record: first\n%s\nthen\n%s", one, two);
	if (strcmp(a.id, b.id) || strcmp(a.config, b.config) || a.layers.n != b.layers.n ||
	    a.created != b.created || !a.from != !b.from || (a.from && strcmp(a.from, b.from)) ||
	    !a.from_env != !b.from_env || (a.from_env && strcmp(a.from_env, b.from_env)))
		fuzz_fail("the record reads back as another image:\n%s", one);
	layer_image_release(&a);
	layer_image_release(&b);
	layer_image_release(&b);
}

static void layer_meta(const char *data, size_t size)
{
	struct json_object *o;

	fuzz_write_at(st.layers_fd, LAYER "/layer.json", data, size);
	(void)layer_size(&st, LAYER);
	o = layer_meta_read(&st, LAYER);
	if (o)
		json_object_put(o);
	(void)layer_exists(&st, LAYER);
}

static void cache_entry(const char *data, size_t size)
{
	struct dv_strv sources = { 0 };
	struct layer_cache_scope scope = { .sources = &sources, .env = "0123456789ab" };
	struct dv_error err = { 0 };
	char id[65], again[65];

	dv_strv_push(&sources, "busybox");
	dv_strv_push(&sources, "registry.example:5000/team/base:1");
	fuzz_write_at(st.cache_fd, KEY, data, size);
	for (int i = 0; i < 2; i++) {
		const struct layer_cache_scope *sc = i ? &scope : NULL;

		memset(&err, 0, sizeof(err));
		if (layer_cache_get(&st, KEY, sc, id, &err) < 0) {
			fuzz_check_error(&err, NULL, NULL, 0);
			continue;
		}
		if (!memmem(data, size, id, 64))
			fuzz_fail("cache entry serves '%s', which it does not name", id);
		memset(&err, 0, sizeof(err));
		if (layer_cache_prune(&st, KEY, &err) < 0)
			fuzz_fail("cannot prune the entry: %s", err.msg);
		if (layer_cache_get(&st, KEY, sc, again, &err) < 0 || strcmp(id, again))
			fuzz_fail("the entry served '%s', and after gc %s", id,
				  err.msg[0] ? err.msg : again);
		fuzz_write_at(st.cache_fd, KEY, data, size);
	}
	dv_strv_release(&sources);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char meta[] = "{\"id\":\"" LAYER "\",\"size\":1}";

	if (!opened)
		open_store();
	if (!size)
		return 0;
	/* Each input starts from the same store: one whole layer. */
	fuzz_write_at(st.layers_fd, LAYER "/layer.json", meta, strlen(meta));
	switch (data[0] % 3) {
	case 0:
		image_record((const char *)data + 1, size - 1);
		break;
	case 1:
		layer_meta((const char *)data + 1, size - 1);
		break;
	default:
		cache_entry((const char *)data + 1, size - 1);
		break;
	}
	return 0;
}
