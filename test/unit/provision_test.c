/* test/unit/provision_test.c - cache keys: canonical JSON, chaining, inputs. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "provision/provision.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define KEY_BEFORE_STEP_ENV "418f92fd57dc57b098363cfcc0d4acba4d6f137b1e1a9fd6635a605c5c32c9c1"
/* Computed by the code before `copy` sources were opened race-free. */
#define KEY_COPY_FILE "02c211cc03e6b80d33a50f606853d10501f71d2dbdcb88fe169e6dcdff4790f6"
#define KEY_COPY_FOLDER "750ba8a5e8a0c2d1d9b11da8944573efff5409d8d2de963a3e4dbe622610bc5f"
#define BASE "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static char *make_checkout(void)
{
	char tmpl[] = "/var/tmp/devenv-prov-XXXXXX";
	struct dv_error err = { 0 };
	char *dir, *f;
	int fd;

	assert_non_null(mkdtemp(tmpl));
	dir = dv_xstrdup(tmpl);
	f = dv_xasprintf("%s/req.txt", dir);
	fd = open(f, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, "flask\n", 6, &err), 0);
	close(fd);
	free(f);
	return dir;
}

static void keys_for(const char *text, const char *dir, struct dv_strv *keys)
{
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };

	if (envfile_parse(text, strlen(text), "Envfile", dir, dir, &spec, &err) < 0)
		fail_msg("parse: %s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	if (prov_keys(&spec, BASE, keys, &err) < 0)
		fail_msg("keys: %s", err.msg);
	env_spec_release(&spec);
}

static const char *FIVE = "image: busybox\n"
			  "provision:\n"
			  "  - run: echo 1\n"
			  "  - run: echo 2\n"
			  "  - copy: req.txt\n"
			  "    to: /tmp/req.txt\n"
			  "  - run: echo 4\n"
			  "  - run: echo 5\n";

static void test_step_json_is_canonical(void **state)
{
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *dir = make_checkout();
	const char *text = "image: busybox\nenv:\n  ZED: \"z\\\"q\"\n  ALPHA: a\n"
			   "provision:\n  - run: \"echo hi\\n\"\n  - copy: req.txt\n    to: /r\n";
	char *json;

	(void)state;
	assert_int_equal(envfile_parse(text, strlen(text), "Envfile", dir, dir, &spec, &err), 0);
	json = prov_step_json(&spec, &spec.provision[0]);
	assert_string_equal(json, "{\"env\":{\"ALPHA\":\"a\",\"ZED\":\"z\\\"q\"},\"kind\":\"run\","
				  "\"run\":\"echo hi\\n\",\"shell\":\"/bin/sh\"}");
	free(json);
	json = prov_step_json(&spec, &spec.provision[1]);
	assert_string_equal(json,
			    "{\"copy\":\"req.txt\",\"env\":{\"ALPHA\":\"a\",\"ZED\":\"z\\\"q\"},"
			    "\"kind\":\"copy\",\"shell\":\"/bin/sh\",\"to\":\"/r\"}");
	free(json);
	env_spec_release(&spec);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

/* The same Envfile and inputs give the same keys wherever the checkout is. */
static void test_keys_do_not_depend_on_the_machine(void **state)
{
	dv_autofree char *a = make_checkout();
	dv_autofree char *b = make_checkout();
	struct dv_strv ka = { 0 }, kb = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	keys_for(FIVE, a, &ka);
	keys_for(FIVE, b, &kb);
	assert_int_equal(ka.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_true(dv_str_is_hex(ka.v[i], 64));
		assert_string_equal(ka.v[i], kb.v[i]);
	}
	dv_strv_release(&ka);
	dv_strv_release(&kb);
	dv_rm_tree_at(AT_FDCWD, a, &err);
	dv_rm_tree_at(AT_FDCWD, b, &err);
}

/* Changing step k changes the keys of k..n and nothing before. */
static void test_change_invalidates_from_that_step(void **state)
{
	dv_autofree char *dir = make_checkout();
	struct dv_strv k1 = { 0 }, k2 = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *edited = dv_xstrdup(FIVE);

	(void)state;
	*strstr(edited, "echo 4") = 0;
	{
		dv_autofree char *text = dv_xasprintf("%secho four\n  - run: echo 5\n", edited);

		keys_for(FIVE, dir, &k1);
		keys_for(text, dir, &k2);
	}
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(k1.v[i], k2.v[i]);
	for (size_t i = 3; i < 5; i++)
		assert_string_not_equal(k1.v[i], k2.v[i]);
	dv_strv_release(&k1);
	dv_strv_release(&k2);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

/* resources shapes the env (digest) but no layer (keys); an Envfile
 * without it keeps the digest it had before the key existed. */
static char *digest_for(const char *text, struct dv_strv *keys)
{
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	char *d;

	if (envfile_parse(text, strlen(text), "Envfile", "/", "/", &spec, &err) < 0)
		fail_msg("parse: %s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	assert_int_equal(prov_keys(&spec, BASE, keys, &err), 0);
	d = prov_spec_digest(&spec, BASE, keys);
	env_spec_release(&spec);
	return d;
}

static void test_resources_in_digest_not_keys(void **state)
{
	struct dv_strv k1 = { 0 }, k2 = { 0 }, k3 = { 0 }, k4 = { 0 };
	dv_autofree char *none = digest_for("image: busybox\nprovision:\n  - run: x\n", &k1);
	dv_autofree char *null =
		digest_for("image: busybox\nresources:\nprovision:\n  - run: x\n", &k2);
	dv_autofree char *a =
		digest_for("image: busybox\nresources: { pids: 64 }\nprovision:\n  - run: x\n", &k3);
	dv_autofree char *b =
		digest_for("image: busybox\nresources: { pids: 65 }\nprovision:\n  - run: x\n", &k4);

	(void)state;
	assert_string_equal(none, null);
	assert_string_not_equal(none, a);
	assert_string_not_equal(a, b);
	assert_string_equal(k1.v[0], k3.v[0]);
	assert_string_equal(k3.v[0], k4.v[0]);
	dv_strv_release(&k1);
	dv_strv_release(&k2);
	dv_strv_release(&k3);
	dv_strv_release(&k4);
}

/* Editing a copied file (staged in git or not) changes that step's key. */
static void test_copy_content_is_in_the_key(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *f = dv_xasprintf("%s/req.txt", dir);
	struct dv_strv k1 = { 0 }, k2 = { 0 };
	struct dv_error err = { 0 };
	int fd;

	(void)state;
	keys_for(FIVE, dir, &k1);
	fd = open(f, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, "django\n", 7, &err), 0);
	close(fd);
	keys_for(FIVE, dir, &k2);
	assert_string_equal(k1.v[1], k2.v[1]);
	assert_string_not_equal(k1.v[2], k2.v[2]);
	assert_string_not_equal(k1.v[4], k2.v[4]);
	dv_strv_release(&k1);
	dv_strv_release(&k2);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

static void test_base_image_is_key_zero(void **state)
{
	dv_autofree char *dir = make_checkout();
	struct env_spec spec = { 0 };
	struct dv_strv k1 = { 0 }, k2 = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(envfile_parse(FIVE, strlen(FIVE), "Envfile", dir, dir, &spec, &err), 0);
	assert_int_equal(prov_keys(&spec, BASE, &k1, &err), 0);
	assert_int_equal(prov_keys(&spec,
				   "sha256:2222222222222222222222222222222222222222222222222222222222222222",
				   &k2, &err),
			 0);
	for (size_t i = 0; i < 5; i++)
		assert_string_not_equal(k1.v[i], k2.v[i]);
	env_spec_release(&spec);
	dv_strv_release(&k1);
	dv_strv_release(&k2);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

/* git, download and a step's env: their JSON, and what changes the key. */
static void test_new_step_kinds(void **state)
{
	static const char *const text =
		"image: busybox\nenv:\n  A: g\n  B: g\n"
		"provision:\n"
		"  - git: https://example.com/r.git\n    ref: v1\n    to: /src\n"
		"  - download: https://example.com/t.tgz\n"
		"    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
		"    to: /opt/t.tgz\n"
		"  - run: make\n    env:\n      B: s\n      C: s\n";
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	struct dv_strv k1 = { 0 }, k2 = { 0 }, k3 = { 0 };
	char *json;

	(void)state;
	assert_int_equal(envfile_parse(text, strlen(text), "Envfile", ".", ".", &spec, &err), 0);
	json = prov_step_json(&spec, &spec.provision[0]);
	assert_string_equal(json,
			    "{\"env\":{\"A\":\"g\",\"B\":\"g\"},\"git\":\"https://example.com/r.git\","
			    "\"kind\":\"git\",\"ref\":\"v1\",\"shell\":\"/bin/sh\",\"to\":\"/src\"}");
	free(json);
	json = prov_step_json(&spec, &spec.provision[1]);
	assert_string_equal(json, "{\"download\":\"https://example.com/t.tgz\",\"env\":{\"A\":\"g\","
				  "\"B\":\"g\"},\"kind\":\"download\",\"sha256\":\"9f86d081884c7d65"
				  "9a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\",\"shell\":"
				  "\"/bin/sh\",\"to\":\"/opt/t.tgz\"}");
	free(json);
	/* the step's env wins over the global one, and is sorted in */
	json = prov_step_json(&spec, &spec.provision[2]);
	assert_string_equal(json, "{\"env\":{\"A\":\"g\",\"B\":\"s\",\"C\":\"s\"},\"kind\":"
				  "\"run\",\"run\":\"make\",\"shell\":\"/bin/sh\"}");
	free(json);

	/* an unresolved git step is an error, not a key */
	assert_int_equal(prov_keys(&spec, BASE, &k1, &err), -1);
	assert_non_null(strstr(err.msg, "not resolved"));
	dv_strv_release(&k1);

	/* the resolved commit is in the key of the git step and all after */
	spec.provision[0].git_commit = dv_xstrdup("1111111111111111111111111111111111111111");
	assert_int_equal(prov_keys(&spec, BASE, &k1, &err), 0);
	free(spec.provision[0].git_commit);
	spec.provision[0].git_commit = dv_xstrdup("2222222222222222222222222222222222222222");
	assert_int_equal(prov_keys(&spec, BASE, &k2, &err), 0);
	for (size_t i = 0; i < 3; i++)
		assert_string_not_equal(k1.v[i], k2.v[i]);

	/* a step's env is in its key, not in the ones before it */
	free(spec.provision[2].env[1].value);
	spec.provision[2].env[1].value = dv_xstrdup("other");
	assert_int_equal(prov_keys(&spec, BASE, &k3, &err), 0);
	assert_string_equal(k2.v[0], k3.v[0]);
	assert_string_equal(k2.v[1], k3.v[1]);
	assert_string_not_equal(k2.v[2], k3.v[2]);
	dv_strv_release(&k1);
	dv_strv_release(&k2);
	dv_strv_release(&k3);
	env_spec_release(&spec);
}

/* Steps without `env:` keep the key they had before step env existed. */
static void test_step_without_env_keeps_its_key(void **state)
{
	struct dv_strv keys = { 0 };
	dv_autofree char *dir = make_checkout();
	struct dv_error err = { 0 };

	(void)state;
	keys_for("image: busybox\nenv:\n  A: b\nprovision:\n  - run: echo 1\n", dir, &keys);
	/* sha256(key 0 \0 the JSON as before step env \0), by hand */
	assert_string_equal(keys.v[0], KEY_BEFORE_STEP_ENV);
	dv_strv_release(&keys);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

/* `apt_snapshot`: its time and base URL are in every step's key (a copy
 * before any run step too), and an Envfile without it keeps its keys. */
static void test_apt_snapshot_in_keys(void **state)
{
	struct dv_strv plain = { 0 }, a = { 0 }, a2 = { 0 }, b = { 0 }, url = { 0 };
	dv_autofree char *dir = make_checkout();
	dv_autofree char *ta = dv_xasprintf("apt_snapshot: 2026-11-01T00:00:00Z\n%s", FIVE);
	dv_autofree char *tb = dv_xasprintf("apt_snapshot: 2026-11-01T00:00:01Z\n%s", FIVE);
	dv_autofree char *tu = dv_xasprintf("apt_snapshot: 2026-11-01T00:00:00Z\n"
					    "apt_snapshot_url: http://mirror.example.org/s/\n%s",
					    FIVE);
	dv_autofree char *tu2 = dv_xasprintf("apt_snapshot_url: http://mirror.example.org/s\n"
					     "apt_snapshot: 2026-11-01T00:00:00Z\n%s",
					     FIVE);
	struct dv_error err = { 0 };

	(void)state;
	keys_for(FIVE, dir, &plain);
	keys_for(ta, dir, &a);
	keys_for(tb, dir, &b);
	keys_for(tu, dir, &url);
	keys_for(tu2, dir, &a2); /* the same URL, its '/' left out, keys in another order */
	for (size_t i = 0; i < 5; i++) {
		assert_string_not_equal(plain.v[i], a.v[i]);
		assert_string_not_equal(a.v[i], b.v[i]);
		assert_string_not_equal(a.v[i], url.v[i]);
		assert_string_equal(url.v[i], a2.v[i]);
	}
	dv_strv_release(&plain);
	dv_strv_release(&a);
	dv_strv_release(&a2);
	dv_strv_release(&b);
	dv_strv_release(&url);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

/* Keys of `copy` steps are what they were before sources were opened
 * race-free (a file, a folder with a symlink, modes): caches stay valid. */
static void test_copy_keys_unchanged(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *d = dv_xasprintf("%s/d/s", dir);
	dv_autoclose int dfd = -1;
	struct dv_strv keys = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(dv_mkdir_p(d, 0755, &err), 0);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(dv_write_file_atomic(dfd, "d/x", "x\n", 2, 0644, &err), 0);
	assert_int_equal(dv_write_file_atomic(dfd, "d/s/y", "y\n", 2, 0600, &err), 0);
	assert_int_equal(symlinkat("x", dfd, "d/l"), 0);
	assert_int_equal(fchmodat(dfd, "d/s", 0700, 0), 0);
	assert_int_equal(fchmodat(dfd, "d", 0755, 0), 0);
	assert_int_equal(fchmodat(dfd, "d/x", 0644, 0), 0);
	assert_int_equal(fchmodat(dfd, "d/s/y", 0600, 0), 0);
	assert_int_equal(fchmodat(dfd, "req.txt", 0644, 0), 0); /* whatever the umask */
	keys_for("image: busybox\nprovision:\n  - copy: req.txt\n    to: /r\n"
		 "  - copy: d\n    to: /d\n",
		 dir, &keys);
	assert_string_equal(keys.v[0], KEY_COPY_FILE);
	assert_string_equal(keys.v[1], KEY_COPY_FOLDER);
	dv_strv_release(&keys);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

/* What building a copy step reads: the same key as the plan's, and its
 * source opened from the checkout as it is now; a folder of it swapped for
 * a symlink to '/' since the Envfile was read is one line at the step. */
static void test_copy_open(void **state)
{
	static const char *const text = "image: busybox\nprovision:\n  - copy: d/s\n    to: /s\n";
	dv_autofree char *dir = make_checkout();
	dv_autofree char *d = dv_xasprintf("%s/d", dir);
	dv_autofree char *moved = dv_xasprintf("%s/d.real", dir);
	dv_autofree char *s = dv_xasprintf("%s/d/s", dir);
	struct env_spec spec = { 0 };
	struct dv_strv keys = { 0 };
	struct prov_copy pc = { .fd = -1 };
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(dv_mkdir_p(s, 0755, &err), 0);
	assert_int_equal(envfile_parse(text, strlen(text), "Envfile", dir, dir, &spec, &err), 0);
	assert_int_equal(prov_keys(&spec, BASE, &keys, &err), 0);
	assert_int_equal(prov_copy_open(&spec, &spec.provision[0], &BASE[7], &pc, &err), 0);
	assert_string_equal(pc.key, keys.v[0]);
	assert_true(dv_str_is_hex(pc.digest, 64));
	assert_int_equal(pc.skips.n, 0);
	prov_copy_release(&pc);

	assert_int_equal(rename(d, moved), 0);
	assert_int_equal(symlink("/", d), 0);
	dv_strv_release(&keys);
	assert_int_equal(prov_keys(&spec, BASE, &keys, &err), -1);
	{
		dv_autofree char *want = dv_xasprintf("'copy' path 'd/s' now goes through a symlink "
						      "('%s' had none when the Envfile was read); "
						      "nothing was copied",
						      s);

		assert_string_equal(err.msg, want);
	}
	assert_int_equal(err.line, 3);
	assert_int_equal(err.status, 1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(prov_copy_open(&spec, &spec.provision[0], &BASE[7], &pc, &err), -1);
	assert_int_equal(err.errnum, ELOOP);
	assert_int_equal(pc.fd, -1);

	/* A symlink that stays inside is refused too: 'd -> d.real' is not
	 * the path that was checked. */
	assert_int_equal(unlink(d), 0);
	assert_int_equal(symlink("d.real", d), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(prov_copy_open(&spec, &spec.provision[0], &BASE[7], &pc, &err), -1);
	assert_int_equal(err.errnum, ELOOP);
	assert_int_equal(err.status, 1);

	dv_strv_release(&keys);
	env_spec_release(&spec);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

/* A seccomp profile is read at use from the checkout: never through a
 * symlink put there since the Envfile was read, never a fifo. */
static void test_host_read(void **state)
{
	static const char *const text = "image: busybox\nsecurity:\n  seccomp: p/prof.json\n";
	dv_autofree char *dir = make_checkout();
	dv_autofree char *p = dv_xasprintf("%s/p", dir);
	dv_autofree char *moved = dv_xasprintf("%s/p.real", dir);
	dv_autofree char *prof = dv_xasprintf("%s/p/prof.json", dir);
	dv_autofree char *got = NULL;
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	struct prov_hostpath hp;
	size_t len = 0;

	(void)state;
	assert_int_equal(dv_mkdir_p(p, 0755, &err), 0);
	assert_int_equal(dv_write_file_atomic(AT_FDCWD, prof, "{}", 2, 0644, &err), 0);
	assert_int_equal(envfile_parse(text, strlen(text), "Envfile", dir, dir, &spec, &err), 0);
	hp = (struct prov_hostpath){ "seccomp profile",
				     spec.security.seccomp,
				     spec.security.seccomp_abs,
				     spec.security.seccomp_line,
				     spec.security.seccomp_col,
				     "started",
				     "name another" };
	assert_int_equal(prov_host_read(&spec, &hp, &got, &len, &err), 0);
	assert_string_equal(got, "{}");

	assert_int_equal(rename(p, moved), 0);
	assert_int_equal(symlink("/", p), 0);
	assert_int_equal(prov_host_read(&spec, &hp, &got, &len, &err), -1);
	{
		dv_autofree char *want =
			dv_xasprintf("seccomp profile 'p/prof.json' now goes through a "
				     "symlink ('%s' had none when the Envfile was "
				     "read); nothing was started",
				     prof);

		assert_string_equal(err.msg, want);
	}
	assert_int_equal(err.line, 3);
	assert_int_equal(err.col, 3);
	assert_int_equal(err.status, 1);

	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(mkfifo(prof, 0644), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(prov_host_read(&spec, &hp, &got, &len, &err), -1);
	assert_string_equal(err.msg, "seccomp profile 'p/prof.json' is not a regular file; nothing "
				     "was started");
	env_spec_release(&spec);
	dv_rm_tree_at(AT_FDCWD, dir, &err);
}

static void test_env_id(void **state)
{
	char a[13], b[13], c[13];

	(void)state;
	prov_env_id("/home/ann/shop", "Envfile", a);
	prov_env_id("/home/ann/shop", "Envfile", b);
	prov_env_id("/home/ann/shop", "sub/Envfile", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_true(dv_str_is_hex(a, 12));
}

/* The git metadata read-only inside: .git, and each submodule's .git found
 * through core.worktree in .git/modules (names with slashes, nested
 * modules, quoted and absolute values), never one outside the checkout. */
static void test_git_paths(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *abs = NULL;
	struct dv_strv paths = { 0 }, in = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	assert_int_equal(prov_git_paths(dir, &paths, &err), 0);
	assert_int_equal(paths.n, 0); /* no .git: nothing */
	unit_put(dir, ".git/HEAD", "ref: refs/heads/main\n");
	unit_put(dir, ".git/modules/lib/sub/config",
		 "[core]\n\tbare = false\n\tworktree = ../../../../lib/sub\n");
	unit_put(dir, ".git/modules/lib/sub/modules/deep/config",
		 "[Core]\n  worktree = \"../../../../../../lib/sub/deep\" ; a comment\n");
	unit_put(dir, ".git/modules/away/config", "[core]\n\tworktree = ../../../../elsewhere\n");
	unit_put(dir, ".git/modules/self/config", "[core]\n\tworktree = ../..\n");
	abs = dv_xasprintf("[core]\n\tworktree = %s/tools/x\n", dir);
	unit_put(dir, ".git/modules/abs/config", abs);
	assert_int_equal(prov_git_paths(dir, &paths, &err), 0);
	assert_int_equal(paths.n, 4);
	assert_string_equal(paths.v[0], ".git");
	for (size_t i = 1; i < paths.n; i++)
		assert_true(!strcmp(paths.v[i], "lib/sub/.git") ||
			    !strcmp(paths.v[i], "lib/sub/deep/.git") ||
			    !strcmp(paths.v[i], "tools/x/.git"));
	/* What a host mount covers, relative to its source. */
	assert_false(prov_git_paths_in(dir, &paths, dir, &in));
	assert_int_equal(in.n, 4);
	dv_strv_release(&in);
	{
		dv_autofree char *lib = dv_xasprintf("%s/lib", dir);
		dv_autofree char *hooks = dv_xasprintf("%s/.git/hooks", dir);

		assert_false(prov_git_paths_in(dir, &paths, lib, &in));
		assert_int_equal(in.n, 2);
		assert_string_equal(in.v[0], "sub/.git");
		dv_strv_release(&in);
		assert_true(prov_git_paths_in(dir, &paths, hooks, &in));
		dv_strv_release(&in);
	}
	assert_false(prov_git_paths_in(dir, &paths, "/", &in));
	assert_true(!strncmp(in.v[0], dir + 1, strlen(dir) - 1) &&
		    !strcmp(in.v[0] + strlen(dir) - 1, "/.git"));
	dv_strv_release(&in);
	dv_strv_release(&paths);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
}

/* git ARGS... in dir, quietly; its exit status. */
static int git_in(const char *dir, const char *const *args)
{
	char *argv[16] = { "git", "-C",         (char *)dir, "-c", "user.email=t@devenv.invalid",
			   "-c",  "user.name=t" };
	struct dv_error err = { 0 };
	size_t n = 7;
	int code = -1;

	for (; *args && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (dv_run(argv, true, &code, &err) < 0)
		return -1;
	return code;
}

static bool collect_gitlinks(const char *path, unsigned mode, void *arg)
{
	if ((mode & 0170000) == 0160000)
		dv_strv_push(arg, path);
	return false;
}

/* Each variable of a git config text as "var=value" ("var" alone for a
 * bare key), into the strv arg. */
static void collect_var(const char *var, const char *value, void *arg)
{
	dv_strv_push_owned(arg, value ? dv_xasprintf("%s=%s", var, value) : dv_xstrdup(var));
}

static void config_vars(const char *text, bool ok, const char *const *want)
{
	struct dv_strv got = { 0 };
	size_t n = 0;

	assert_int_equal(prov_git_config_parse(text, strlen(text), collect_var, &got), ok);
	while (want[n])
		n++;
	assert_int_equal(got.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got.v[i], want[i]);
	dv_strv_release(&got);
}

/* git's config format as git reads it: sections and keys without case,
 * subsections with it (and the old [a.b]), quotes, escapes, comments,
 * continued lines, a key on the header's line; a bad line stops it. */
static void test_git_config_parse(void **state)
{
	(void)state;
	config_vars("[core]\n\thooksPath = .githooks\n", true,
		    (const char *const[]){ "core.hookspath=.githooks", NULL });
	config_vars("[CoRe]\r\n  HOOKSPATH=x\r\n\tbare\r\n", true,
		    (const char *const[]){ "core.hookspath=x", "core.bare", NULL });
	config_vars("# a comment\n; another\n[core] hooksPath = \"a b\" ; comment\n", true,
		    (const char *const[]){ "core.hookspath=a b", NULL });
	config_vars("[core]\n\tfsmonitor = \"sh \\\"x;y\\\"\"  tools/f#a comment\n", true,
		    (const char *const[]){ "core.fsmonitor=sh \"x;y\"  tools/f", NULL });
	config_vars("[a]\n\tb = one\\\n  two\\tthree   \n\tc = \"#kept\"\n\td =\n", true,
		    (const char *const[]){ "a.b=one  two\tthree", "a.c=#kept", "a.d=", NULL });
	config_vars("[includeIf \"gitdir:~/Work/\"]\n\tpath = ../w.cfg\n[Include.Sub]\n\tPath = p\n"
		    "[x \"A\\\"b\"]\n\tk = v\n",
		    true,
		    (const char *const[]){ "includeif.gitdir:~/Work/.path=../w.cfg",
					   "include.sub.path=p", "x.A\"b.k=v", NULL });
	/* where git stops with "bad config line", so do we */
	config_vars("[core]\n\ta = 1\n\tb = \"open\n\tc = 2\n", false,
		    (const char *const[]){ "core.a=1", NULL });
	config_vars("a = 1\n[core]\n\tb = 2\n", false, (const char *const[]){ NULL });
	config_vars("[core]\n\ta = \\q\n", false, (const char *const[]){ NULL });
	config_vars("[core\n\ta = 1\n", false, (const char *const[]){ NULL });
	config_vars("[core]\n\t1a = 1\n", false, (const char *const[]){ NULL });
	config_vars("\xef\xbb\xbf[core]\n\tk", true, (const char *const[]){ "core.k", NULL });
}

/* Is want among got? */
static bool has(const struct dv_strv *got, const char *want)
{
	for (size_t i = 0; i < got->n; i++)
		if (!strcmp(got->v[i], want))
			return true;
	return false;
}

/* Paths of the worktree the repository's config names for the host's git
 * to run or read are read-only too: core.hooksPath and core.fsmonitor
 * relative to the worktree, include.path relative to the including file,
 * absolute ones inside the checkout, includes inside .git followed, never
 * a file of the worktree read, nothing outside the checkout. */
static void test_git_config_paths(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *cfg = NULL;
	dv_autofree char *abs = NULL;
	struct dv_strv paths = { 0 }, in = { 0 };
	struct dv_error err = { 0 };
	static const char *const want[] = { ".git",
					    "lib/sub/.git",
					    "lib/sub/hooks",
					    ".githooks",
					    "team.cfg",
					    "tools/fsmon.sh",
					    "abs.cfg",
					    "a",
					    "hooks2",
					    "cond.cfg",
					    NULL };
	size_t n = 0;

	(void)state;
	unit_put(dir, ".git/HEAD", "ref: refs/heads/main\n");
	cfg = dv_xasprintf("[core]\n\tbare = false\n\tHooksPath = \".githooks\"\n"
			   "[include]\n\tpath = ../team.cfg\n"
			   "[includeIf \"onbranch:main\"]\n\tpath = more.cfg\n"
			   "[include]\n\tpath = %s/abs.cfg\n\tpath = /etc/gitconfig\n"
			   "\tpath = ~/.gitconfig\n\tpath = ../../outside.cfg\n"
			   "[CORE]\n\thookspath = a/../hooks2\n\thookspath = .git/hooks\n"
			   "\tfsmonitor = true\n",
			   dir);
	unit_put(dir, ".git/config", cfg);
	/* read: it is in .git; relative to its own folder */
	unit_put(dir, ".git/more.cfg",
		 "[core]\n\tfsmonitor = \"sh tools/fsmon.sh\"\n"
		 "[includeIf \"gitdir:/x/\"]\n\tpath = ../cond.cfg\n");
	/* never read: a file of the worktree, which the env may have written */
	unit_put(dir, "team.cfg", "[core]\n\thooksPath = evil\n[include]\n\tpath = evil.cfg\n");
	unit_put(dir, ".git/modules/lib/sub/config",
		 "[core]\n\thooksPath = hooks\n\tworktree = ../../../../lib/sub\n");
	abs = dv_xasprintf("%s/abs.cfg", dir);
	assert_int_equal(prov_git_paths(dir, &paths, &err), 0);
	while (want[n]) {
		if (!has(&paths, want[n]))
			fail_msg("'%s' is not among the git paths", want[n]);
		n++;
	}
	assert_int_equal(paths.n, n);
	assert_string_equal(paths.v[0], ".git");
	/* a host mount of the hooks folder is read-only whole; one of the
	 * checkout covers them all */
	{
		dv_autofree char *hooks = dv_xasprintf("%s/.githooks", dir);

		assert_true(prov_git_paths_in(dir, &paths, hooks, &in));
		assert_false(prov_git_paths_in(dir, &paths, dir, &in));
		assert_int_equal(in.n, n);
		dv_strv_release(&in);
	}
	dv_strv_release(&paths);

	/* A path that covers others replaces them; the checkout itself
	 * cannot be covered (a warning says so). */
	unit_put(dir, ".git/config", "[core]\n\thooksPath = lib\n\thooksPath = .\n");
	unit_put(dir, ".git/more.cfg", "");
	assert_int_equal(prov_git_paths(dir, &paths, &err), 0);
	assert_int_equal(paths.n, 2);
	assert_string_equal(paths.v[0], ".git");
	assert_string_equal(paths.v[1], "lib");
	dv_strv_release(&paths);

	/* config.worktree too, and a config git cannot read adds what it
	 * had before the bad line */
	unit_put(dir, ".git/config", "[core]\n\tfsmonitor = ./fsm\n\tbad = \"\n\thooksPath = h\n");
	unit_put(dir, ".git/config.worktree", "[core]\n\thooksPath = wt-hooks\n");
	assert_int_equal(prov_git_paths(dir, &paths, &err), 0);
	assert_true(has(&paths, "fsm") && has(&paths, "wt-hooks") && !has(&paths, "h"));
	dv_strv_release(&paths);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
}

/* A gitlink of the index that is not checked out: its folder, empty, is
 * protected whole (git status on the host looks into it); a checked-out
 * or missing one is not. Index versions 2, 3 (an extended entry) and 4
 * (prefix-compressed paths) read alike. */
static void test_git_gitlinks(void **state)
{
	static const char *const versions[] = { "2", "3", "4" };
	const char *const sha = "1111111111111111111111111111111111111111";

	(void)state;
	for (size_t v = 0; v < 3; v++) {
		dv_autofree char *dir = make_checkout();
		dv_autofree char *empty = dv_xasprintf("%s/vendor/libfoo", dir);
		dv_autofree char *info1 = dv_xasprintf("160000,%s,vendor/libfoo", sha);
		dv_autofree char *info2 = dv_xasprintf("160000,%s,vendor/gone", sha);
		const char *init[] = { "init", "-q", NULL };
		const char *add1[] = { "update-index", "--add", "--cacheinfo", info1, NULL };
		const char *add2[] = { "update-index", "--add", "--cacheinfo", info2, NULL };
		const char *addf[] = { "add", "req.txt", NULL };
		const char *ita[] = { "add", "-N", "late.txt", NULL };
		const char *ver[] = { "update-index", "--index-version", versions[v], NULL };
		struct dv_strv paths = { 0 }, links = { 0 };
		struct dv_error err = { 0 };
		dv_autofree char *text = NULL;
		dv_autofree char *index = dv_xasprintf("%s/.git/index", dir);
		size_t len;

		assert_int_equal(git_in(dir, init), 0);
		assert_int_equal(dv_mkdir_p(empty, 0755, &err), 0);
		unit_put(dir, "late.txt", "x\n");
		assert_int_equal(git_in(dir, addf), 0);
		assert_int_equal(git_in(dir, add1), 0);
		assert_int_equal(git_in(dir, add2), 0);
		assert_int_equal(git_in(dir, ita), 0); /* intent-to-add: an extended entry in v3 */
		assert_int_equal(git_in(dir, ver), 0);
		assert_int_equal(dv_read_file_at(AT_FDCWD, index, &text, &len, &err), 0);
		assert_true(prov_git_index_each((const unsigned char *)text, len, collect_gitlinks,
						&links));
		assert_int_equal(links.n, 2);
		assert_string_equal(links.v[0], "vendor/gone");
		assert_string_equal(links.v[1], "vendor/libfoo");
		assert_false(prov_git_index_each((const unsigned char *)"DIRC\0\0\0\x09", 8,
						 collect_gitlinks, &links));
		assert_int_equal(prov_git_paths(dir, &paths, &err), 0);
		assert_int_equal(paths.n, 2); /* .git, and the folder that is there */
		assert_string_equal(paths.v[0], ".git");
		assert_string_equal(paths.v[1], "vendor/libfoo");
		dv_strv_release(&paths);
		dv_strv_release(&links);
		assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
	}
}

/* A checkout made by `git worktree add`: its repository's git dir is found
 * through what git made on the host (the worktree's git dir names this
 * checkout back, and is worktrees/<name> of a repository's git dir, both
 * outside the checkout), never on the word of the .git file alone; the
 * paths of the worktree the repository's config names are protected. */
static void test_git_worktree(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *main_ = dv_xasprintf("%s/main", dir);
	dv_autofree char *wt = dv_xasprintf("%s/wt", dir);
	dv_autofree char *other = dv_xasprintf("%s/other", dir);
	dv_autofree char *common = dv_xasprintf("%s/main/.git", dir);
	dv_autofree char *fake = NULL;
	dv_autofree char *secret = NULL;
	const char *init[] = { "init", "-q", NULL };
	const char *commit[] = { "commit", "-q", "--allow-empty", "-m", "first", NULL };
	const char *add_wt[] = { "worktree", "add", "-q", wt, "-b", "feat", NULL };
	const char *add_other[] = { "worktree", "add", "-q", other, "-b", "other", NULL };
	struct dv_strv paths = { 0 };
	struct dv_error err = { 0 };
	char *got = NULL;

	(void)state;
	assert_int_equal(dv_mkdir_p(main_, 0755, &err), 0);
	assert_int_equal(git_in(main_, init), 0);
	assert_int_equal(git_in(main_, commit), 0);
	assert_int_equal(git_in(main_, add_wt), 0);
	assert_int_equal(git_in(main_, add_other), 0);

	/* the worktree's repository; a plain repository or no git: none */
	assert_int_equal(prov_git_common_dir(wt, &got, &err), 0);
	assert_non_null(got);
	assert_string_equal(got, common);
	free(got);
	assert_int_equal(prov_git_common_dir(main_, &got, &err), 0);
	assert_null(got);
	assert_int_equal(prov_git_common_dir(dir, &got, &err), 0);
	assert_null(got);

	/* the repository's config (and the worktree's config.worktree, and
	 * what they include in the repository's git dir) names paths of the
	 * worktree: protected; one outside it is none of the env's */
	unit_put(main_, ".git/config",
		 "[core]\n\thooksPath = .githooks\n[include]\n\tpath = inc.cfg\n"
		 "\tpath = ../../team.cfg\n");
	unit_put(main_, ".git/inc.cfg", "[core]\n\tfsmonitor = \"sh tools/fsm.sh\"\n");
	unit_put(main_, ".git/worktrees/wt/config.worktree", "[core]\n\thooksPath = wt-hooks\n");
	assert_int_equal(prov_git_paths(wt, &paths, &err), 0);
	assert_string_equal(paths.v[0], ".git");
	assert_true(has(&paths, ".githooks") && has(&paths, "tools/fsm.sh") &&
		    has(&paths, "wt-hooks"));
	assert_int_equal(paths.n, 4);
	dv_strv_release(&paths);

	/* a git dir made in the checkout (which the env can write) that
	 * names a repository elsewhere: nothing */
	secret = dv_xasprintf("%s/secret", dir);
	assert_int_equal(dv_mkdir_p(secret, 0755, &err), 0);
	unit_put(secret, "HEAD", "ref: refs/heads/main\n");
	unit_put(secret, "objects/x", "");
	unit_put(secret, "refs/x", "");
	unit_put(secret, "worktrees/fake/x", "");
	fake = dv_xasprintf("%s\n", secret);
	unit_put(wt, "fake/commondir", fake);
	free(fake);
	fake = dv_xasprintf("%s/.git\n", wt);
	unit_put(wt, "fake/gitdir", fake);
	unit_put(wt, ".git", "gitdir: fake\n");
	assert_int_equal(prov_git_common_dir(wt, &got, &err), 0);
	assert_null(got);
	assert_int_equal(prov_git_paths(wt, &paths, &err), 0);
	assert_int_equal(paths.n, 1); /* .git only: no config of it was read */
	dv_strv_release(&paths);

	/* another worktree's git dir: it names that checkout, not this one */
	free(fake);
	fake = dv_xasprintf("gitdir: %s/worktrees/other\n", common);
	unit_put(wt, ".git", fake);
	assert_int_equal(prov_git_common_dir(wt, &got, &err), 0);
	assert_null(got);

	/* this worktree's own git dir, but its commondir changed to name a
	 * folder that is not the repository holding it */
	free(fake);
	fake = dv_xasprintf("gitdir: %s/worktrees/wt\n", common);
	unit_put(wt, ".git", fake);
	free(fake);
	fake = dv_xasprintf("%s\n", secret);
	unit_put(main_, ".git/worktrees/wt/commondir", fake);
	assert_int_equal(prov_git_common_dir(wt, &got, &err), 0);
	assert_null(got);
	unit_put(main_, ".git/worktrees/wt/commondir", "../..\n");
	assert_int_equal(prov_git_common_dir(wt, &got, &err), 0);
	assert_non_null(got);
	assert_string_equal(got, common);
	free(got);

	/* a .git file with no commondir behind it (a submodule's): none, and
	 * no warning */
	unit_put(dir, "sub-git/HEAD", "ref: refs/heads/main\n");
	unit_put(wt, ".git", "gitdir: ../sub-git\n");
	assert_int_equal(prov_git_common_dir(wt, &got, &err), 0);
	assert_null(got);
	assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_json_is_canonical),
		cmocka_unit_test(test_keys_do_not_depend_on_the_machine),
		cmocka_unit_test(test_change_invalidates_from_that_step),
		cmocka_unit_test(test_copy_content_is_in_the_key),
		cmocka_unit_test(test_base_image_is_key_zero),
		cmocka_unit_test(test_env_id),
		cmocka_unit_test(test_git_paths),
		cmocka_unit_test(test_git_gitlinks),
		cmocka_unit_test(test_git_config_parse),
		cmocka_unit_test(test_git_config_paths),
		cmocka_unit_test(test_git_worktree),
		cmocka_unit_test(test_new_step_kinds),
		cmocka_unit_test(test_step_without_env_keeps_its_key),
		cmocka_unit_test(test_apt_snapshot_in_keys),
		cmocka_unit_test(test_resources_in_digest_not_keys),
		cmocka_unit_test(test_copy_keys_unchanged),
		cmocka_unit_test(test_copy_open),
		cmocka_unit_test(test_host_read),
	};

	return cmocka_run_group_tests_name("provision", tests, NULL, NULL);
}
