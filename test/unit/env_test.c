/*
 * test/unit/env_test.c - env/: the env record (state.json: written, read,
 * round trip, damaged), volume names, the store's volumes listed without
 * an fd left open, and the container spec an env and its services start
 * with (provision/spec.c). No root: a temporary folder as the store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "env/env.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/str.h"

#define ID "0123456789ab"

static char root[64];

static void put(const char *rel, const char *text)
{
	unit_put(root, rel, text);
}

static char *get(int fd, const char *rel)
{
	struct dv_error err = { 0 };
	char *text = NULL;
	size_t len;

	assert_int_equal(dv_read_file_at(fd, rel, &text, &len, &err), 0);
	return text;
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/devenv-envtest.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return dv_rm_tree_at(AT_FDCWD, root, &(struct dv_error){ 0 });
}

/* The folder envs/ of the test: root itself, with the env's folder. */
static int envs_dir(void)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_true(mkdirat(fd, ID, 0700) == 0 || errno == EEXIST);
	return fd;
}

/* Every field set, so that one not written or not read shows. */
static void test_record_round_trip(void **state)
{
	struct env_svc_record svc = { .name = "db", .init = { 4321, 11 }, .image_id = "sha256:ee" };
	struct ctr_mount_rec mounts[2] = {
		{ .source = "/srv/vol", .target = "/data", .readonly = false, .volume = true },
		{ .source = "/home/ann/x", .target = "/x", .readonly = true },
	};
	struct hnet_port ports[2] = {
		{ .host_ip = "127.0.0.1", .host_port = 8080, .container_port = 80 },
		{ .host_ip = "::1", .host_port = 23456, .container_port = 8000, .auto_port = true }
	};
	struct env_record st = {
		.id = ID,
		.name = "proj",
		.checkout = "/home/ann/proj",
		.envfile = "Envfile",
		.spec_digest = "abc",
		.image = "debian:bookworm",
		.image_id = "sha256:aa",
		.image_for = "debian:trixie",
		.workdir = "/home/ann/proj",
		.shell = "/bin/bash",
		.init = { 1234, 987654 },
		.user = "dev",
		.user_uid = 1000,
		.user_gid = 1001,
		.host_uid = 2000,
		.host_gid = 2001,
		.userns_map = "keep-id",
		.ownership = "idmapped",
		.started_ns = 1700000000123456789LL,
		.sweep_pending = true,
		.checkout_dev = 2049,
		.checkout_ino = 77,
		.mounts = mounts,
		.n_mounts = 2,
		.seccomp = "/s/seccomp/x.bpf",
		.caps = 0xa80425fbULL,
		.created = 1700000000,
		.services = &svc,
		.n_services = 1,
		.network = "private",
		.ports = ports,
		.n_ports = 2,
		.limits = { .memory = 1 << 30, .cpus_milli = 1500, .pids = 512 },
		.net = { .helper = { 55, 66 }, .outbound = { 77, 88 } },
	};
	struct env_record back = { 0 };
	struct dv_error err = { 0 };
	dv_autoclose int fd = envs_dir();
	dv_autofree char *one = NULL, *two = NULL;
	struct ctr_owner ob;
	const struct ctr_owner *o;

	(void)state;
	dv_strv_push(&st.layers, "l1");
	dv_strv_push(&st.layers, "l2");
	dv_strv_push(&st.steps, "k1");
	dv_strv_push(&st.env, "A=1");
	dv_strv_push(&st.cgroups, "/sys/fs/cgroup/devenv/x");
	dv_strv_push(&st.volumes, "proj-" ID "-cache");
	dv_strv_push(&st.git_protect, ".git");
	dv_strv_push(&st.svc_binds, "/home/ann/pg");
	dv_strv_push(&svc.layers, "s1");
	dv_strv_push(&mounts[0].protect, "sub");

	assert_int_equal(env_record_write(fd, &st, &err), 0);
	one = get(fd, ID "/state.json");
	assert_int_equal(env_record_read(fd, ID, &back, &err), 0);
	assert_string_equal(back.id, ID);
	assert_string_equal(back.name, "proj");
	assert_string_equal(back.checkout, "/home/ann/proj");
	assert_string_equal(back.envfile, "Envfile");
	assert_string_equal(back.spec_digest, "abc");
	assert_string_equal(back.image, "debian:bookworm");
	assert_string_equal(back.image_id, "sha256:aa");
	assert_string_equal(back.image_for, "debian:trixie");
	assert_int_equal(back.layers.n, 2);
	assert_string_equal(back.layers.v[1], "l2");
	assert_string_equal(back.steps.v[0], "k1");
	assert_string_equal(back.workdir, "/home/ann/proj");
	assert_string_equal(back.shell, "/bin/bash");
	assert_string_equal(back.env.v[0], "A=1");
	assert_string_equal(back.cgroups.v[0], "/sys/fs/cgroup/devenv/x");
	assert_string_equal(back.volumes.v[0], "proj-" ID "-cache");
	assert_int_equal(back.limits.memory, 1 << 30);
	assert_int_equal(back.limits.cpus_milli, 1500);
	assert_int_equal(back.limits.pids, 512);
	assert_int_equal(back.init.pid, 1234);
	assert_int_equal(back.init.start_time, 987654);
	assert_int_equal(back.created, 1700000000);
	assert_string_equal(back.user, "dev");
	assert_int_equal(back.user_uid, 1000);
	assert_int_equal(back.user_gid, 1001);
	assert_int_equal(back.host_uid, 2000);
	assert_int_equal(back.host_gid, 2001);
	assert_string_equal(back.ownership, "idmapped");
	assert_string_equal(back.userns_map, "keep-id");
	assert_string_equal(back.seccomp, "/s/seccomp/x.bpf");
	assert_int_equal(back.caps, 0xa80425fbULL);
	assert_int_equal(back.started_ns, 1700000000123456789LL);
	assert_true(back.sweep_pending);
	assert_int_equal(back.checkout_dev, 2049);
	assert_int_equal(back.checkout_ino, 77);
	assert_int_equal(back.n_mounts, 2);
	assert_string_equal(back.mounts[0].source, "/srv/vol");
	assert_string_equal(back.mounts[0].target, "/data");
	assert_true(back.mounts[0].volume);
	assert_false(back.mounts[0].readonly);
	assert_string_equal(back.mounts[0].protect.v[0], "sub");
	assert_true(back.mounts[1].readonly);
	assert_string_equal(back.git_protect.v[0], ".git");
	assert_string_equal(back.svc_binds.v[0], "/home/ann/pg");
	assert_int_equal(back.n_services, 1);
	assert_string_equal(back.services[0].name, "db");
	assert_int_equal(back.services[0].init.pid, 4321);
	assert_string_equal(back.services[0].image_id, "sha256:ee");
	assert_string_equal(back.services[0].layers.v[0], "s1");
	assert_string_equal(back.network, "private");
	assert_int_equal(back.n_ports, 2);
	assert_string_equal(back.ports[0].host_ip, "127.0.0.1");
	assert_int_equal(back.ports[0].host_port, 8080);
	assert_int_equal(back.ports[0].container_port, 80);
	assert_false(back.ports[0].auto_port);
	assert_string_equal(back.ports[1].host_ip, "::1");
	assert_int_equal(back.ports[1].host_port, 23456);
	assert_true(back.ports[1].auto_port);
	assert_int_equal(back.net.helper.pid, 55);
	assert_int_equal(back.net.helper.start_time, 66);
	assert_int_equal(back.net.outbound.pid, 77);
	assert_int_equal(back.net.outbound.start_time, 88);

	/* What was read writes the same text again. */
	assert_int_equal(env_record_write(fd, &back, &err), 0);
	two = get(fd, ID "/state.json");
	assert_string_equal(one, two);

	/* idmapped: the owner the sessions get; otherwise none. */
	o = env_record_owner(&back, &ob);
	assert_non_null(o);
	assert_int_equal(o->host_uid, 2000);
	assert_int_equal(o->n_mounts, 2);
	assert_ptr_equal(o->git_protect, &back.git_protect);
	free(back.ownership);
	back.ownership = dv_xstrdup("chown");
	assert_null(env_record_owner(&back, &ob));

	env_record_release(&back);
	env_record_release(&back); /* released twice: still empty */
	dv_strv_release(&st.layers);
	dv_strv_release(&st.steps);
	dv_strv_release(&st.env);
	dv_strv_release(&st.cgroups);
	dv_strv_release(&st.volumes);
	dv_strv_release(&st.git_protect);
	dv_strv_release(&st.svc_binds);
	dv_strv_release(&svc.layers);
	dv_strv_release(&mounts[0].protect);
}

/* state.json keeps each service's init across a write and a read, and an
 * older state.json without services reads as none. */
static void test_record_services(void **state)
{
	struct env_svc_record svc[2] = { { .name = "db", .init = { 1234, 987654 } },
					 { .name = "cache", .init = { 0, 0 } } };
	struct env_record st = { .id = ID, .name = "proj", .services = svc, .n_services = 2 };
	struct env_record back = { 0 };
	struct dv_error err = { 0 };
	dv_autoclose int fd = envs_dir();

	(void)state;
	assert_int_equal(env_record_write(fd, &st, &err), 0);
	assert_int_equal(env_record_read(fd, ID, &back, &err), 0);
	assert_int_equal(back.n_services, 2);
	assert_string_equal(back.services[0].name, "db");
	assert_int_equal(back.services[0].init.pid, 1234);
	assert_int_equal(back.services[0].init.start_time, 987654);
	assert_string_equal(back.services[1].name, "cache");
	assert_int_equal(back.services[1].init.pid, 0);
	env_record_release(&back);
	env_record_release(&back);

	put(ID "/state.json", "{\"id\":\"" ID "\",\"name\":\"old\"}");
	assert_int_equal(env_record_read(fd, ID, &back, &err), 0);
	assert_int_equal(back.n_services, 0);
	assert_null(back.services);
	env_record_release(&back);
}

/* A service's healthcheck: the Envfile's keys over the image's
 * Healthcheck over Docker's defaults; NONE and disable turn it off; the
 * record keeps it (and a service without one writes no "health"). */
static void test_health_merge_and_record(void **state)
{
	static const char img[] =
		"{\"config\":{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"pg_isready\"],"
		"\"Interval\":2000000000,\"Timeout\":1500000,\"Retries\":7}}}";
	struct env_service svc = { .name = "db" };
	struct dv_strv envp = { 0 };
	struct env_svc_health *h;
	struct env_svc_record rec[2] = { { .name = "db", .init = { 1, 2 } },
					 { .name = "web", .init = { 3, 4 } } };
	struct env_record st = { .id = ID, .name = "proj", .services = rec, .n_services = 2 };
	struct env_record back = { 0 };
	struct dv_error err = { 0 };
	dv_autoclose int fd = envs_dir();
	dv_autofree char *text = NULL;
	size_t len;

	(void)state;
	dv_strv_push(&envp, "PATH=/bin");
	/* No check anywhere: none. */
	assert_null(env_health_make(&svc, "{\"config\":{}}", &envp, "/"));
	/* The image's, its missing keys Docker's defaults. */
	h = env_health_make(&svc, img, &envp, "/data");
	assert_non_null(h);
	assert_int_equal(h->test.n, 3);
	assert_string_equal(h->test.v[2], "pg_isready");
	assert_true(h->interval_ms == 2000 && h->timeout_ms == 2 && h->retries == 7);
	assert_true(h->start_period_ms == 0 && h->start_interval_ms == 5000);
	assert_string_equal(h->cwd, "/data");
	assert_string_equal(h->envp.v[0], "PATH=/bin");
	env_health_free(h);
	/* The Envfile's test and interval win; the rest stays the image's. */
	svc.health.line = 4;
	svc.health.retries = -1;
	svc.health.interval_ms = 300;
	dv_strv_push(&svc.health.test, "true");
	h = env_health_make(&svc, img, &envp, "/");
	assert_int_equal(h->test.n, 1);
	assert_string_equal(h->test.v[0], "true");
	assert_true(h->interval_ms == 300 && h->timeout_ms == 2 && h->retries == 7);
	/* Recorded with the service, read back alike. */
	rec[0].health = h;
	assert_int_equal(env_record_write(fd, &st, &err), 0);
	assert_int_equal(env_record_read(fd, ID, &back, &err), 0);
	assert_non_null(back.services[0].health);
	assert_string_equal(back.services[0].health->test.v[0], "true");
	assert_true(back.services[0].health->interval_ms == 300);
	assert_int_equal(back.services[0].health->retries, 7);
	assert_null(back.services[1].health);
	env_record_release(&back);
	assert_int_equal(dv_read_file_at(fd, ID "/state.json", &text, &len, &err), 0);
	assert_int_equal(strstr(strstr(text, "\"web\""), "\"health\"") == NULL, 1);
	env_health_free(h);
	/* disable: true (none) turns off the image's. */
	svc.health.none = true;
	assert_null(env_health_make(&svc, img, &envp, "/"));
	dv_strv_release(&svc.health.test);
	dv_strv_release(&envp);
}

/* depends_on's order: each after what it names, else Envfile order. */
static void test_service_order(void **state)
{
	struct env_dep web_deps[] = { { .name = "db" }, { .name = "cache" } };
	struct env_dep db_deps[] = { { .name = "cache" } };
	struct env_service svcs[] = { { .name = "web", .depends_on = web_deps, .n_depends_on = 2 },
				      { .name = "mail" },
				      { .name = "db", .depends_on = db_deps, .n_depends_on = 1 },
				      { .name = "cache" } };
	struct env_spec spec = { .services = svcs, .n_services = 4 };
	size_t order[4];

	(void)state;
	env_svc_order(&spec, order);
	/* mail (1), cache (3), db (2), web (0) */
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 3);
	assert_int_equal(order[2], 2);
	assert_int_equal(order[3], 0);
}

/* A team's base pinned for an env (image_for) survives a write and a read;
 * an env on its own image writes no image_for, and an older state.json
 * reads as "" (not pinned). */
static void test_record_image_for(void **state)
{
	struct env_record st = { .id = ID,
				 .name = "proj",
				 .image = "127.0.0.1:5000/team/app@sha256:ab",
				 .image_id = "sha256:cd",
				 .image_for = "debian:bookworm" };
	struct env_record back = { 0 };
	struct dv_error err = { 0 };
	dv_autoclose int fd = envs_dir();
	dv_autofree char *text = NULL;

	(void)state;
	assert_int_equal(env_record_write(fd, &st, &err), 0);
	assert_int_equal(env_record_read(fd, ID, &back, &err), 0);
	assert_string_equal(back.image_for, "debian:bookworm");
	assert_string_equal(back.image, "127.0.0.1:5000/team/app@sha256:ab");
	env_record_release(&back);

	st.image_for = "";
	assert_int_equal(env_record_write(fd, &st, &err), 0);
	text = get(fd, ID "/state.json");
	assert_null(strstr(text, "image_for"));
	assert_int_equal(env_record_read(fd, ID, &back, &err), 0);
	assert_string_equal(back.image_for, "");
	env_record_release(&back);

	put(ID "/state.json", "{\"id\":\"" ID "\",\"name\":\"old\"}");
	assert_int_equal(env_record_read(fd, ID, &back, &err), 0);
	assert_string_equal(back.image_for, "");
	env_record_release(&back);
}

/* An older record: what it lacks reads as empty, caps as the default
 * sandbox's; white space after the object is no damage. */
static void test_record_old(void **state)
{
	struct env_record back = { 0 };
	struct dv_error err = { 0 };
	dv_autoclose int fd = envs_dir();

	(void)state;
	put(ID "/state.json",
	    "{\"id\":\"" ID "\",\"name\":\"old\",\"layers\":[\"a\",7,\"b\"]}\n \n");
	assert_int_equal(env_record_read(fd, ID, &back, &err), 0);
	assert_string_equal(back.name, "old");
	assert_string_equal(back.image, "");
	assert_string_equal(back.userns_map, "");
	assert_int_equal(back.layers.n, 2); /* what is not a string is left out */
	assert_string_equal(back.layers.v[1], "b");
	assert_int_equal(back.caps, ctr_caps_default);
	assert_int_equal(back.n_mounts, 0);
	assert_int_equal(back.init.pid, 0);
	env_record_release(&back);
}

/* No state.json: ENOENT, the env does not exist. */
static void test_record_missing(void **state)
{
	struct env_record back = { 0 };
	struct dv_error err = { 0 };
	dv_autoclose int fd = envs_dir();

	(void)state;
	assert_int_equal(env_record_read(fd, ID, &back, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	env_record_release(&back);
}

/* A damaged state.json: EBADMSG and one line naming the file (its full
 * path), why, and what removes the env. */
static void test_record_damaged(void **state)
{
	static const char *const cases[][2] = {
		{ "", "empty" },
		{ "{\"id\":\"" ID "\",\"name\":\"pr", "not a JSON object" },
		{ "garbage", "not a JSON object" },
		{ "[1,2]", "not a JSON object" },
		{ "{\"id\":\"" ID "\"} {}", "not a JSON object" },
		{ "{\"name\":\"proj\"}", "it names no env or another env" },
		{ "{\"id\":7}", "it names no env or another env" },
		{ "{\"id\":\"ba9876543210\"}", "it names no env or another env" },
	};
	dv_autoclose int fd = envs_dir();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env_record back = { 0 };
		struct dv_error err = { 0 };
		dv_autofree char *want = dv_xasprintf("'%s/%s/state.json' is damaged (%s); 'devenv "
						      "destroy -e %s' removes the env",
						      root, ID, cases[i][1], ID);

		put(ID "/state.json", cases[i][0]);
		assert_int_equal(env_record_read(fd, ID, &back, &err), -1);
		assert_int_equal(err.errnum, EBADMSG);
		assert_string_equal(err.msg, want);
		env_record_release(&back);
	}
}

/* A label as Kubernetes takes it: [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63. */
static bool k8s_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* An env's own volume is NAME-ID-VOLUME in the store (volname.c). */
static void test_volume_store_names(void **state)
{
	static const char id[] = ID;
	char a[ENV_VOL_NAME_MAX + 1], b[ENV_VOL_NAME_MAX + 1];
	char env63[64], vol63[64], vol63b[64];

	(void)state;
	env_vol_store_name("proj", id, "cache", a);
	assert_string_equal(a, "proj-0123456789ab-cache");
	env_vol_store_name("my_app.v2", id, "pg_data", a);
	assert_string_equal(a, "my-app-v2-0123456789ab-pg-data");
	env_vol_store_name("a--b_", id, "c..d.", a);
	assert_string_equal(a, "a-b-0123456789ab-c-d");
	/* two checkouts of one project: one name, two ids, two volumes */
	env_vol_store_name("shop", "aaaaaaaaaaaa", "pgdata", a);
	env_vol_store_name("shop", "bbbbbbbbbbbb", "pgdata", b);
	assert_string_not_equal(a, b);

	/* long names are cut to 63, deterministically, and stay apart */
	memset(env63, 'e', 63);
	env63[63] = 0;
	memset(vol63, 'v', 63);
	vol63[63] = 0;
	memcpy(vol63b, vol63, sizeof(vol63b));
	vol63b[62] = 'w';
	env_vol_store_name(env63, id, "cache", a);
	assert_int_equal(strlen(a), 63);
	assert_true(k8s_label(a));
	assert_true(dv_str_endswith(a, "-0123456789ab-cache"));
	env_vol_store_name(env63, id, vol63, a);
	env_vol_store_name(env63, id, vol63b, b);
	assert_true(k8s_label(a));
	assert_true(k8s_label(b));
	assert_int_equal(strlen(a), 63);
	assert_string_not_equal(a, b);
	assert_true(dv_str_startswith(a, "eeeeeeeeeeeeeeee-0123456789ab-vvv"));
	env_vol_store_name(env63, id, vol63b, a);
	assert_string_equal(a, b);
	env_vol_store_name("p", id, vol63, a);
	assert_true(k8s_label(a));
	assert_true(dv_str_startswith(a, "p-0123456789ab-vvvv"));
	/* a cut that ends on a dash loses it */
	env_vol_store_name(env63, id, "x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x", a);
	assert_true(k8s_label(a));
	assert_null(strstr(a, "--"));

	/* every own volume looks so; a shared name may not */
	assert_true(envfile_volume_name_scoped("proj-0123456789ab-cache"));
	env_vol_store_name(env63, id, vol63, a);
	assert_true(envfile_volume_name_scoped(a));
	assert_false(envfile_volume_name_scoped("toolcache"));
	assert_false(envfile_volume_name_scoped("a-0123456789abc-b"));
	assert_false(envfile_volume_name_scoped("a-0123456789ab"));
	assert_false(envfile_volume_name_scoped("0123456789ab-b"));
}

/* What state.json records, and two names that would be one folder. */
static void test_volume_names_of_a_spec(void **state)
{
	struct env_mount vols[] = {
		{ .source = "cache", .target = "/c", .volume = true, .line = 3, .col = 5 },
		{ .source = "toolcache", .target = "/t", .volume = true, .shared = true },
	};
	struct env_mount svc_vols[] = {
		{ .source = "cache", .target = "/d", .volume = true },
		{ .source = "./x", .source_abs = "/tmp", .target = "/x" },
		{ .source = "pg_data", .target = "/p", .volume = true, .line = 9, .col = 7 },
	};
	struct env_service svc = { .name = "db", .volumes = svc_vols, .n_volumes = 3 };
	struct env_spec spec = { .name = "proj",
				 .display = "Envfile",
				 .volumes = vols,
				 .n_volumes = 2,
				 .services = &svc,
				 .n_services = 1 };
	struct dv_strv names = { 0 };
	struct dv_error err = { 0 };

	(void)state;
	env_vol_names(&spec, ID, &names);
	assert_int_equal(names.n, 3);
	assert_string_equal(names.v[0], "proj-0123456789ab-cache");
	assert_string_equal(names.v[1], "toolcache");
	assert_string_equal(names.v[2], "proj-0123456789ab-pg-data");
	dv_strv_release(&names);
	assert_int_equal(env_vol_check(&spec, ID, &err), 0);
	vols[0].source = "pg.data";
	assert_int_equal(env_vol_check(&spec, ID, &err), -1);
	assert_int_equal(err.line, 9);
	assert_int_equal(err.col, 7);
	assert_string_equal(err.msg, "volumes 'pg_data' and 'pg.data' (line 3) would be one folder "
				     "'proj-0123456789ab-pg-data' in the store; rename one");
}

static unsigned open_fds(void)
{
	dv_autoclosedir DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	return n;
}

/* Listing the store's volumes (`volume ls`, df, completion) leaves no fd
 * open: dv_opendir_fd() dups the fd it is given, so each caller keeps
 * closing its own. Asked many times, as a long-lived caller would. */
static void test_volume_list_closes(void **state)
{
	struct layer_store st = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *store = dv_xasprintf("%s/store", root);
	unsigned before;

	(void)state;
	assert_int_equal(layer_store_open(store, true, &st, &err), 0);
	put("store/envs/" ID "/state.json",
	    "{\"id\":\"" ID "\",\"name\":\"proj\",\"volumes\":[\"proj-" ID "-cache\"]}");
	put("store/volumes/proj-" ID "-cache/f", "x");
	put("store/volumes/.proj-" ID "-cache.json",
	    "{\"volume\":\"cache\",\"env\":{\"id\":\"" ID "\",\"name\":\"proj\"}}\n");
	put("store/volumes/toolcache/f", "y");
	before = open_fds();
	for (int i = 0; i < 20; i++) {
		struct env_vol *v = NULL;
		size_t n = 0;

		assert_int_equal(env_vol_list(&st, true, &v, &n, &err), 0);
		assert_int_equal(n, 2);
		assert_string_equal(v[0].name, "proj-" ID "-cache");
		assert_string_equal(v[0].owner_id, ID);
		assert_string_equal(v[0].envs.v[0], "proj");
		assert_string_equal(v[1].name, "toolcache");
		assert_true(v[1].shared);
		env_vols_free(v, n);
	}
	assert_int_equal(open_fds(), before);
	layer_store_release(&st);
}

#define LAYER_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LAYER_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static int fake_volume(const struct env_mount *m, char **dir, void *arg, struct dv_error *err)
{
	unsigned *calls = arg;

	(void)err;
	++*calls;
	if (!strcmp(m->source, "bad"))
		return dv_err(err, EEXIST, "volume 'bad' is another env's");
	*dir = dv_xasprintf("/store/volumes/%s", m->source);
	return 0;
}

/* provision/spec.c, as env/start.c and env/services.c use it: the layers
 * top first, the services as host names, volumes from the caller's
 * function (filled from the image), in the Envfile's order; a failure
 * stops there, and release frees what was made. */
static void test_container_spec(void **state)
{
	struct layer_store st = { .root = "/store", .rootless = true };
	struct dv_strv layers = { 0 };
	struct env_mount vols[] = {
		{ .source = "cache", .target = "/c", .volume = true },
		{ .source = "data", .target = "/d", .volume = true, .readonly = true },
		{ .source = "bad", .target = "/b", .volume = true }
	};
	struct env_service svcs[] = { { .name = "db" }, { .name = "redis" } };
	struct env_spec spec = { .name = "proj", .services = svcs, .n_services = 2 };
	struct dv_error err = { 0 };
	struct prov_ctr c;
	unsigned calls = 0;

	(void)state;
	dv_strv_push(&layers, LAYER_A);
	dv_strv_push(&layers, LAYER_B);
	prov_ctr_init(&c, &st, "proj", &layers, "/u", "/w");
	assert_int_equal(c.cs.n_lowers, 2);
	/* the top layer first */
	assert_string_equal(c.cs.lowers[0], "/store/layers/" LAYER_B "/diff");
	assert_string_equal(c.cs.lowers[1], "/store/layers/" LAYER_A "/diff");
	assert_string_equal(c.cs.upper, "/u");
	assert_string_equal(c.cs.hostname, "proj");
	assert_true(c.cs.userns);
	assert_int_equal(c.cs.log_fd, -1);
	prov_ctr_hosts(&c, &spec);
	assert_int_equal(c.cs.n_hosts, 2);
	assert_string_equal(c.cs.hosts[1], "redis");

	assert_int_equal(prov_ctr_mounts(&c, &spec, vols, 2, NULL, fake_volume, &calls, &err), 0);
	assert_int_equal(calls, 2);
	assert_int_equal(c.cs.n_mounts, 2);
	assert_ptr_equal(c.cs.mounts, c.mounts);
	assert_string_equal(c.cs.mounts[0].source, "/store/volumes/cache");
	assert_string_equal(c.cs.mounts[0].target, "/c");
	assert_true(c.cs.mounts[0].fill);
	assert_false(c.cs.mounts[0].host);
	assert_false(c.cs.mounts[0].readonly);
	assert_true(c.cs.mounts[1].readonly);
	assert_int_equal(prov_ctr_mounts(&c, &spec, vols + 2, 1, NULL, fake_volume, &calls, &err),
			 -1);
	assert_int_equal(err.errnum, EEXIST);
	prov_ctr_release(&c);
	assert_null(c.mounts);
	assert_null(c.lowers);
	dv_strv_release(&layers);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_services, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_merge_and_record, setup, teardown),
		cmocka_unit_test(test_service_order),
		cmocka_unit_test_setup_teardown(test_record_image_for, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_damaged, setup, teardown),
		cmocka_unit_test(test_volume_store_names),
		cmocka_unit_test(test_volume_names_of_a_spec),
		cmocka_unit_test_setup_teardown(test_volume_list_closes, setup, teardown),
		cmocka_unit_test(test_container_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
