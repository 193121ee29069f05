/* test/unit/bundle_test.c - a bundle's archive (layers/bundle.c): written
 * and read back, told apart from other archives, blobs checked; and the
 * names of a step's inputs (provision/inputs.c). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "layers/layers.h"
#include "provision/provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/str.h"

struct fx {
	char dir[64];
	char *store;
	struct layer_store st;
};

static int fx_setup(void **state)
{
	struct fx *f = dv_xcalloc(1, sizeof(*f));
	struct dv_error err = { 0 };

	snprintf(f->dir, sizeof(f->dir), "/tmp/bundle_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->store = dv_xasprintf("%s/store", f->dir);
	assert_int_equal(layer_store_open(f->store, geteuid() != 0, &f->st, &err), 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	struct dv_error err = { 0 };

	layer_store_release(&f->st);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, f->dir, &err), 0);
	free(f->store);
	free(f);
	return 0;
}

/* A bundle of one artifact manifest holding `payload`: its path. */
static char *write_one(struct fx *f, const char *payload, char payload_hex[65])
{
	struct dv_error err = { 0 };
	struct layer_bundle *b = layer_bundle_new(&f->st, &err);
	struct json_object *m = json_object_new_object(), *layers = json_object_new_array();
	struct json_object *d = json_object_new_object(), *ann = json_object_new_object();
	char *path = dv_xasprintf("%s/one.bundle", f->dir), digest[72];

	assert_non_null(b);
	layer_bundle_add_text(b, payload, payload_hex);
	snprintf(digest, sizeof(digest), "sha256:%s", payload_hex);
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_array_add(layers, d);
	json_object_object_add(m, "layers", layers);
	json_object_object_add(ann, "dev.devenv.bundle.role", json_object_new_string("lock"));
	layer_bundle_add_manifest(b, m, ann);
	assert_int_equal(layer_bundle_write(b, path, -1, -1, &err), 0);
	layer_bundle_free(b);
	return path;
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct dv_error err = { 0 };
	char hex[65];
	dv_autofree char *path = write_one(f, "{\"lockfile\":1}", hex);
	struct layer_bundle *b = NULL;
	struct json_object *mans, *o = NULL;
	dv_autoclose int fd = -1;
	char buf[64] = "";

	assert_true(layer_bundle_sniff(path));
	assert_int_equal(layer_bundle_open(&f->st, path, &b, &err), 0);
	mans = layer_bundle_manifests(b);
	assert_int_equal(json_object_array_length(mans), 1);
	fd = layer_bundle_blob(b, hex, &err);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 14);
	assert_string_equal(buf, "{\"lockfile\":1}");
	assert_int_equal(layer_bundle_json(b, hex, &o, &err), 0);
	json_object_put(o);
	/* A digest that is not hex never becomes a path. */
	assert_int_equal(layer_bundle_blob(b, "../../etc/passwd", &err), -1);
	assert_int_equal(layer_bundle_blob(b,
					   "0000000000000000000000000000000000000000000000000000000000000000",
					   &err),
			 -1);
	layer_bundle_free(b);
	/* Nothing left in staging. */
	{
		dv_autofree char *tmp = dv_xasprintf("%s/tmp", f->store);
		DIR *dir = opendir(tmp);
		struct dirent *e;
		int n = 0;

		assert_non_null(dir);
		while ((e = readdir(dir)))
			n += e->d_name[0] != '.';
		closedir(dir);
		assert_int_equal(n, 0);
	}
}

static void test_not_a_bundle(void **state)
{
	struct fx *f = *state;
	struct dv_error err = { 0 };
	dv_autofree char *path = dv_xasprintf("%s/plain", f->dir);
	struct layer_bundle *b = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	/* Not a tar at all; then an empty file. */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);
	assert_false(layer_bundle_sniff(path));
	assert_int_equal(layer_bundle_open(&f->st, path, &b, &err), -1);
	assert_false(layer_bundle_sniff("/nonexistent/bundle"));
}

static void test_tampered_blob(void **state)
{
	struct fx *f = *state;
	struct dv_error err = { 0 };
	char hex[65];
	dv_autofree char *path = write_one(f, "AAAAAAAAAAAAAAAAAAAA", hex);
	dv_autofree char *text = NULL;
	struct layer_bundle *b = NULL;
	size_t len;
	char *at;
	int fd;

	/* Same length, other bytes: the tar stays valid, the digest does not. */
	assert_int_equal(dv_read_file_at(AT_FDCWD, path, &text, &len, &err), 0);
	at = memmem(text, len, "AAAAAAAAAAAAAAAAAAAA", 20);
	assert_non_null(at);
	at[3] = 'B';
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	assert_true(layer_bundle_sniff(path));
	assert_int_equal(layer_bundle_open(&f->st, path, &b, &err), 0);
	assert_int_equal(layer_bundle_blob(b, hex, &err), -1);
	assert_int_equal(err.errnum, EBADMSG);
	assert_non_null(strstr(err.msg, "does not match its digest"));
	layer_bundle_free(b);
}

static void test_input_names(void **state)
{
	struct env_step s = { .kind = ENV_STEP_DOWNLOAD };
	dv_autofree char *n1 = NULL, *n2 = NULL, *n3 = NULL, *n4 = NULL;
	char sha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	char commit[] = "0123456789abcdef0123456789abcdef01234567";

	(void)state;
	s.sha256 = sha;
	n1 = prov_input_name(&s);
	assert_string_equal(n1,
			    "download-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	s = (struct env_step){ .kind = ENV_STEP_GIT, .git_commit = commit };
	n2 = prov_input_name(&s);
	assert_string_equal(n2, "git-0123456789abcdef0123456789abcdef01234567");
	/* Not resolved yet, or not an input at all. */
	s.git_commit = NULL;
	assert_null(prov_input_name(&s));
	s = (struct env_step){ .kind = ENV_STEP_RUN };
	assert_null(prov_input_name(&s));
	n3 = prov_download_name("https://example.com/a/tool.sh?x=1#y");
	assert_string_equal(n3, "tool.sh");
	n4 = prov_download_name("https://example.com/a/..");
	assert_string_equal(n4, "download");
}

/* inputs/ as df lists it and gc removes it: inputs by name and type, what
 * is no input (a stray name, a wrong type) removed by a plain gc, the rest
 * by gc --caches, the folder with it. */
static void test_inputs_gc(void **state)
{
	struct fx *f = *state;
	struct dv_error err = { 0 };
	struct prov_input *in = NULL;
	size_t n = 99;
	unsigned removed = 0;
	unsigned long long bytes = 0;
	char git[64], dl[96], wrong[96];
	int fd;

	/* No inputs/: nothing listed, nothing to do. */
	assert_int_equal(prov_input_list(&f->st, &in, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(prov_inputs_gc(&f->st, false, &removed, &bytes, &err), 0);
	fd = prov_inputs_dir(&f->st, true, &err);
	assert_true(fd >= 0);
	snprintf(git, sizeof(git), "git-%040d", 0);
	snprintf(dl, sizeof(dl), "download-%064d", 1);
	snprintf(wrong, sizeof(wrong), "download-%064d", 2);
	assert_int_equal(mkdirat(fd, git, 0700), 0);
	assert_int_equal(dv_write_file_atomic(fd, dl, "bytes", 5, 0600, &err), 0);
	assert_int_equal(mkdirat(fd, wrong, 0700), 0); /* a folder: never taken */
	assert_int_equal(dv_write_file_atomic(fd, ".download-x.123", "half", 4, 0600, &err), 0);
	assert_int_equal(prov_input_list(&f->st, &in, &n, &err), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(in[i].input, !strcmp(in[i].name, git) || !strcmp(in[i].name, dl));
	prov_inputs_free(in, n);

	assert_int_equal(prov_inputs_gc(&f->st, false, &removed, &bytes, &err), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(faccessat(fd, ".download-x.123", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(faccessat(fd, wrong, F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(faccessat(fd, git, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(faccessat(fd, dl, F_OK, AT_SYMLINK_NOFOLLOW), 0);

	bytes = 0;
	assert_int_equal(prov_inputs_gc(&f->st, true, &removed, &bytes, &err), 0);
	assert_int_equal(removed, 2);
	assert_true(bytes > 0);
	assert_int_equal(faccessat(f->st.root_fd, "inputs", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(prov_input_list(&f->st, &in, &n, &err), 0);
	assert_int_equal(n, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_bundle, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tampered_blob, fx_setup, fx_teardown),
		cmocka_unit_test(test_input_names),
		cmocka_unit_test_setup_teardown(test_inputs_gc, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
