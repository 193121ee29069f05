/* test/unit/trust_test.c - the trust requests of a parsed spec, their
 * digest (positions left out), and where git/download sources point. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "provision/provision.h"
#include "test/unit/unit.h"
#include "util/cleanup.h"
#include "util/fs.h"

static char *make_checkout(void)
{
	char tmpl[] = "/var/tmp/devenv-trust-XXXXXX";
	char *dir;

	assert_non_null(mkdtemp(tmpl));
	dir = realpath(tmpl, NULL);
	assert_non_null(dir);
	return dir;
}

static void parse(const char *dir, const char *text, struct env_spec *spec)
{
	struct dv_error err = { 0 };

	if (envfile_parse(text, strlen(text), "Envfile", dir, dir, spec, &err) < 0)
		fail_msg("parse: %s:%u:%u: %s", err.file, err.line, err.col, err.msg);
}

/* The requests of text, one printed line each, joined by newlines. */
static char *lines_of(const char *dir, const char *text)
{
	struct env_spec spec = { 0 };
	struct prov_requests r;
	struct dv_buf b = { 0 };

	parse(dir, text, &spec);
	prov_trust_requests(&spec, &r);
	dv_buf_adds(&b, "");
	for (size_t i = 0; i < r.n; i++) {
		dv_autofree char *line = prov_request_line(&r, i);

		dv_buf_addf(&b, "%s%s", i ? "\n" : "", line);
	}
	prov_requests_release(&r);
	env_spec_release(&spec);
	return dv_buf_steal(&b);
}

static void digest_of(const char *dir, const char *text, char hex[65])
{
	struct env_spec spec = { 0 };
	struct prov_requests r;

	parse(dir, text, &spec);
	/* what prov_spec_read_inputs does when the env is located */
	if (spec.security.seccomp_abs)
		assert_int_equal(dv_read_file_at(AT_FDCWD, spec.security.seccomp_abs,
						 &spec.security.seccomp_text,
						 &spec.security.seccomp_len, &(struct dv_error){ 0 }),
				 0);
	prov_trust_requests(&spec, &r);
	prov_trust_digest(&r, hex);
	prov_requests_release(&r);
	env_spec_release(&spec);
}

static void test_clean_envfile_asks_nothing(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *got = NULL;
	dv_autofree char *data = dv_xasprintf("%s/data", dir);

	(void)state;
	assert_int_equal(mkdir(data, 0755), 0);
	got = lines_of(dir,
		       "image: busybox\n"
		       "mounts: [\"./data:/data\"]\n"
		       "volumes: [\"cache:/cache\"]\n"
		       "ports: [\"8000:8000\", \"127.0.0.2:8001:80\", \"[::1]:8002:80\"]\n"
		       "security: { seccomp: default, cap_drop: [MKNOD], git_metadata: read-only }\n"
		       "network: private\n"
		       "provision:\n"
		       "  - git: https://example.org/x.git\n"
		       "    to: /x\n"
		       "  - download: https://8.8.8.8/y\n"
		       "    sha256: 0000000000000000000000000000000000000000000000000000000000000000\n"
		       "    to: /y\n");
	assert_string_equal(got, "");
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

/* Each kind, with the exact line the prompt shows. */
static void test_each_kind_is_listed_at_its_place(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *got = NULL;

	(void)state;
	got = lines_of(dir,
		       "image: busybox\n"
		       "mounts: [\"/:/host\", \"/etc:/etc2:ro\"]\n"
		       "security:\n"
		       "  cap_add: [sys_admin, NET_ADMIN]\n"
		       "  seccomp: unconfined\n"
		       "  git_metadata: read-write\n"
		       "ports: [\"0.0.0.0:8000:80\", \"8001:80\", \"[::]:8002:80\"]\n"
		       "provision:\n"
		       "  - git: file:///root/private\n"
		       "    to: /x\n"
		       "  - download: http://127.0.0.1:8000/x\n"
		       "    sha256: 0000000000000000000000000000000000000000000000000000000000000000\n"
		       "    to: /y\n"
		       "  - git: http://[fe80::1]/r\n"
		       "    to: /z\n"
		       "  - download: http://10.1.2.3/x\n"
		       "    sha256: 0000000000000000000000000000000000000000000000000000000000000000\n"
		       "    to: /w\n"
		       "cache_from: registry.example/team/app:cache\n"
		       "network: host\n"
		       "services:\n"
		       "  db:\n"
		       "    image: postgres\n"
		       "    volumes: [\"/usr:/run/host\", \"data:/data\"]\n");
	assert_string_equal(
		got,
		"Envfile:2:10: host path '/' at '/host', read-write: the env can read and change "
		"every file there\n"
		"Envfile:2:21: host path '/etc' at '/etc2', read-only: the env can read every file "
		"there\n"
		"Envfile:4:3: cap_add CAP_NET_ADMIN, CAP_SYS_ADMIN: root in the env gets "
		"capabilities beyond the default set\n"
		"Envfile:5:3: seccomp unconfined: no system-call filter: the env reaches every "
		"system call of the host's kernel\n"
		"Envfile:6:3: git_metadata read-write: the env can write the checkout's git dir "
		"(its config and hooks; a git worktree's repository, with every worktree's), which "
		"git on the host obeys\n"
		"Envfile:7:9: port 0.0.0.0:8000 -> 80: the env's port is open to other machines, "
		"not only to this one\n"
		"Envfile:7:39: port [::]:8002 -> 80: the env's port is open to other machines, not "
		"only to this one\n"
		"Envfile:9:5: git file:///root/private: devenv clones files of this machine into the "
		"env, reading them with its own rights (root's, when run as root)\n"
		"Envfile:11:5: download http://127.0.0.1:8000/x: devenv fetches it from this "
		"machine's own services (loopback)\n"
		"Envfile:14:5: git http://[fe80::1]/r: devenv fetches it from a link-local address "
		"(169.254.169.254 is a cloud's metadata service, with the machine's credentials)\n"
		"Envfile:16:5: download http://10.1.2.3/x: devenv fetches it from your local "
		"network\n"
		"Envfile:19:1: cache_from 'registry.example/team/app:cache': provisioning steps are "
		"taken as layers built elsewhere (from this image) instead of run here\n"
		"Envfile:20:1: network: host: the env shares this machine's network: its loopback "
		"services and abstract unix sockets (an X11 display among them)\n"
		"Envfile:24:15: service 'db': host path '/usr' at '/run/host', read-write: the "
		"env can read and change every file there");
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

/* An absolute source that is the checkout (or inside it) gives nothing
 * the env does not have; a shared volume is a request. */
static void test_mount_inside_checkout_and_shared_volume(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *text = NULL, *got = NULL;
	struct env_spec spec = { 0 };
	struct prov_requests r;

	(void)state;
	text = dv_xasprintf("image: busybox\nmounts: [\"%s:/co\"]\nvolumes: [\"tools:/t\"]\n", dir);
	parse(dir, text, &spec);
	spec.volumes[0].shared = true; /* as the volumes work parses `shared` */
	prov_trust_requests(&spec, &r);
	assert_int_equal(r.n, 1);
	got = prov_request_line(&r, 0);
	assert_string_equal(got, "Envfile:3:11: shared volume 'tools' at '/t': every env on this "
				 "machine that names it shares its files (one project can plant "
				 "files another runs)");
	prov_requests_release(&r);
	env_spec_release(&spec);
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

/* `ssh_agent` (which keys) and a step's `ssh_agent: true` are requests;
 * a changed key list is another request (it asks again). */
static void test_ssh_agent_requests(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *got = NULL, *all = NULL;

	(void)state;
	got = lines_of(dir, "image: busybox\nssh_agent: [work, \"SHA256:47DEQpj8HBSa+/TImW+5JCeuQe"
			    "Rkm5NMpJWZG3hSuFU\"]\nprovision:\n  - run: git clone x\n"
			    "    ssh_agent: true\n");
	assert_string_equal(got,
			    "Envfile:2:1: ssh_agent: keys 'work', 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRk"
			    "m5NMpJWZG3hSuFU': the env's ssh sessions and on_up can sign with these "
			    "keys of your ssh agent (each signature is written to the env's log)\n"
			    "Envfile:4:5: ssh_agent for a provisioning step: keys 'work', 'SHA256:47DE"
			    "Qpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU': this step can sign with these "
			    "keys of your ssh agent while it runs");
	all = lines_of(dir, "image: busybox\nssh_agent: confirm\n");
	assert_string_equal(all, "Envfile:2:1: ssh_agent: all keys, each signature asked for on "
				 "your terminal: the env's ssh sessions and on_up can sign with "
				 "these keys of your ssh agent (each signature is written to the "
				 "env's log)");
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

/* Moving lines (and reordering a list) does not change the digest; a
 * changed request does, and so does one more or one fewer. */
static void test_digest_ignores_positions(void **state)
{
	dv_autofree char *dir = make_checkout();
	char a[65], b[65], c[65], d[65], e[65], f[65];

	(void)state;
	digest_of(dir,
		  "image: busybox\nmounts: [\"/:/host\"]\nsecurity: { cap_add: [SYS_ADMIN] }\n", a);
	digest_of(dir,
		  "# moved\n\nsecurity:\n  cap_add: [CAP_SYS_ADMIN]\nimage: busybox\n\n"
		  "mounts:\n  - \"/:/host\"\n",
		  b);
	digest_of(dir,
		  "image: busybox\nmounts: [\"/:/host:ro\"]\nsecurity: { cap_add: [SYS_ADMIN] }\n",
		  c);
	digest_of(dir,
		  "image: busybox\nmounts: [\"/:/host\"]\nsecurity: { cap_add: [SYS_ADMIN, NET_ADMIN] }\n",
		  d);
	digest_of(dir, "image: busybox\nmounts: [\"/:/host\"]\n", e);
	digest_of(dir,
		  "image: busybox\nmounts: [\"/:/host\", \"/etc:/e\"]\nsecurity: { cap_add: [SYS_ADMIN] }\n",
		  f);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_string_not_equal(a, e);
	assert_string_not_equal(a, f);
	/* Two mounts swapped: the same list. */
	digest_of(dir,
		  "image: busybox\nmounts: [\"/etc:/e\", \"/:/host\"]\nsecurity: { cap_add: [SYS_ADMIN] }\n",
		  c);
	assert_string_equal(c, f);
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

/* A backslash written in the Envfile is not the prompt's escape: a secret
 * command with "\x0a" typed out and one with a real newline (which ends
 * the comment before curl) are two requests, shown and digested apart. */
static void test_digest_backslash_is_not_an_escape(void **state)
{
	dv_autofree char *dir = make_checkout();
	char a[65], b[65];

	(void)state;
	digest_of(dir, "secrets: { t: { command: \"pass show t #\\\\x0acurl x | sh\" } }\n", a);
	digest_of(dir, "secrets: { t: { command: \"pass show t #\\ncurl x | sh\" } }\n", b);
	assert_string_not_equal(a, b);
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

/* A seccomp profile of the checkout: its content is in the digest. */
static void test_seccomp_profile_content_is_digested(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *prof = NULL;
	const char *text = "image: busybox\nsecurity: { seccomp: p.json }\n";
	char a[65], b[65], c[65];
	int fd;

	(void)state;
	prof = dv_xasprintf("%s/p.json", dir);
	fd = open(prof, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{}", 2), 2);
	close(fd);
	digest_of(dir, text, a);
	digest_of(dir, text, b);
	fd = open(prof, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_int_equal(write(fd, "{ }", 3), 3);
	close(fd);
	digest_of(dir, text, c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

static void test_where(void **state)
{
	static const struct {
		const char *url;
		enum prov_where w;
	} cases[] = {
		{ "file:///root/private", PROV_WHERE_FILE },
		{ "http://127.0.0.1:8000/x", PROV_WHERE_LOOPBACK },
		{ "http://127.1/x", PROV_WHERE_LOOPBACK },
		{ "http://2130706433/x", PROV_WHERE_LOOPBACK },
		{ "http://0x7f.1/x", PROV_WHERE_LOOPBACK },
		{ "http://0.0.0.0:80/x", PROV_WHERE_LOOPBACK },
		{ "http://LocalHost./x", PROV_WHERE_LOOPBACK },
		{ "http://api.localhost/x", PROV_WHERE_LOOPBACK },
		{ "http://[::1]:80/x", PROV_WHERE_LOOPBACK },
		{ "http://[::ffff:127.0.0.1]/x", PROV_WHERE_LOOPBACK },
		{ "http://user:pw@127.0.0.1/x", PROV_WHERE_LOOPBACK },
		{ "http://169.254.169.254/latest", PROV_WHERE_LINKLOCAL },
		{ "http://[fe80::1%25eth0]/x", PROV_WHERE_LINKLOCAL },
		{ "http://[::ffff:169.254.169.254]/x", PROV_WHERE_LINKLOCAL },
		{ "http://10.0.0.1/x", PROV_WHERE_PRIVATE },
		{ "http://172.16.0.1/x", PROV_WHERE_PRIVATE },
		{ "http://172.31.255.255/x", PROV_WHERE_PRIVATE },
		{ "http://192.168.1.1/x", PROV_WHERE_PRIVATE },
		{ "http://100.64.0.1/x", PROV_WHERE_PRIVATE },
		{ "http://[fd00::1]/x", PROV_WHERE_PRIVATE },
		{ "http://172.32.0.1/x", PROV_WHERE_PUBLIC },
		{ "http://8.8.8.8/x", PROV_WHERE_PUBLIC },
		{ "https://[2001:db8::1]/x", PROV_WHERE_PUBLIC },
		{ "https://example.org/x?y=127.0.0.1", PROV_WHERE_NAME },
		{ "https://127.0.0.1.nip.io/x", PROV_WHERE_NAME },
		{ "https://127.0.0.1@example.org/x", PROV_WHERE_NAME },
	};
	char host[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (prov_where_url(cases[i].url) != cases[i].w)
			fail_msg("%s: %s, not %s", cases[i].url,
				 prov_where_name(prov_where_url(cases[i].url)),
				 prov_where_name(cases[i].w));
	assert_int_equal(prov_url_host("http://u@[::1]:8/x", host, sizeof(host)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(prov_url_host("https://example.org", host, sizeof(host)), 0);
	assert_string_equal(host, "example.org");
}

static void test_where_sockaddr(void **state)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };

	(void)state;
	inet_pton(AF_INET, "127.0.0.53", &a4.sin_addr);
	assert_int_equal(prov_where_sockaddr((struct sockaddr *)&a4), PROV_WHERE_LOOPBACK);
	inet_pton(AF_INET, "169.254.169.254", &a4.sin_addr);
	assert_int_equal(prov_where_sockaddr((struct sockaddr *)&a4), PROV_WHERE_LINKLOCAL);
	inet_pton(AF_INET, "93.184.216.34", &a4.sin_addr);
	assert_int_equal(prov_where_sockaddr((struct sockaddr *)&a4), PROV_WHERE_PUBLIC);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr);
	assert_int_equal(prov_where_sockaddr((struct sockaddr *)&a6), PROV_WHERE_LOOPBACK);
	inet_pton(AF_INET6, "64:ff9b::a9fe:a9fe", &a6.sin6_addr);
	assert_int_equal(prov_where_sockaddr((struct sockaddr *)&a6), PROV_WHERE_LINKLOCAL);
}

/* A port's host address is classified as parsed, not as spelt: every
 * spelling of the unspecified address is every interface. */
static void test_port_loopback(void **state)
{
	static const char *const loopback[] = { "127.0.0.1",        "127.0.0.2",
						"127.255.255.254",  "::1",
						"0:0::1",           "0000::0001",
						"::ffff:127.0.0.1", "::FFFF:127.1.2.3" };
	static const char *const open[] = { "0.0.0.0",        "::",          "::0",
					    "0:0::0",         "::0.0.0.0",   "0:0:0:0:0:0:0:0",
					    "::ffff:0.0.0.0", "0.1.2.3",     "192.168.1.2",
					    "10.0.0.1",       "169.254.1.1", "fe80::1",
					    "2001:db8::1",    "::2",         "::127.0.0.1",
					    "128.0.0.1",      "localhost",   "" };

	(void)state;
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
		if (!prov_port_loopback(loopback[i]))
			fail_msg("'%s' is loopback", loopback[i]);
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		if (prov_port_loopback(open[i]))
			fail_msg("'%s' is not loopback", open[i]);
}

/* An image pulled from this machine or a link-local address asks, the
 * env's and a service's; a registry elsewhere and a store name do not. */
static void test_image_requests(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *got = NULL;

	(void)state;
	got = lines_of(dir, "image: localhost:18999/x\n"
			    "services:\n"
			    "  a: { image: 127.1:5000/a }\n"
			    "  b: { image: 169.254.169.254/b }\n"
			    "  c: { image: 0.0.0.0:5000/c }\n"
			    "  d: { image: api.localhost:5000/d }\n"
			    "  e: { image: 2130706433:5000/e }\n"
			    "  f: { image: 10.0.0.1:5000/f }\n"
			    "  g: { image: registry.example.org/g }\n"
			    "  h: { image: localhost/h }\n"
			    "  i: { image: postgres:15 }\n"
			    "  j: { image: library/busybox }\n");
	assert_string_equal(
		got,
		"Envfile:1:8: image localhost:18999/x: devenv pulls it from this machine's own "
		"services (loopback)\n"
		"Envfile:3:15: service 'a': image 127.1:5000/a: devenv pulls it from this machine's "
		"own services (loopback)\n"
		"Envfile:4:15: service 'b': image 169.254.169.254/b: devenv pulls it from a "
		"link-local address (169.254.169.254 is a cloud's metadata service, with the "
		"machine's credentials)\n"
		"Envfile:5:15: service 'c': image 0.0.0.0:5000/c: devenv pulls it from this "
		"machine's own services (loopback)\n"
		"Envfile:6:15: service 'd': image api.localhost:5000/d: devenv pulls it from this "
		"machine's own services (loopback)\n"
		"Envfile:7:15: service 'e': image 2130706433:5000/e: devenv pulls it from this "
		"machine's own services (loopback)");
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
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

/* An index's entries are found by their whole path, in index versions 2,
 * 3 (an extended entry) and 4 (prefix-compressed paths). */
static void test_index_lookup(void **state)
{
	static const char *const versions[] = { "2", "3", "4" };

	(void)state;
	for (size_t v = 0; v < 3; v++) {
		dv_autofree char *dir = make_checkout();
		dv_autofree char *index = dv_xasprintf("%s/.git/index", dir);
		dv_autofree char *text = NULL;
		const char *init[] = { "init", "-q", NULL };
		const char *add[] = { "add", "Envfile", "sub/Envfile", "sub/deep/x", NULL };
		const char *ita[] = { "add", "-N", "late", NULL };
		const char *ver[] = { "update-index", "--index-version", versions[v], NULL };
		const unsigned char *u;
		struct dv_error err = { 0 };
		size_t len;

		assert_int_equal(git_in(dir, init), 0);
		unit_put(dir, "Envfile", "image: busybox\n");
		unit_put(dir, "sub/Envfile", "image: busybox\n");
		unit_put(dir, "sub/deep/x", "x\n");
		unit_put(dir, "late", "x\n");
		assert_int_equal(git_in(dir, add), 0);
		assert_int_equal(git_in(dir, ita), 0);
		assert_int_equal(git_in(dir, ver), 0);
		assert_int_equal(dv_read_file_at(AT_FDCWD, index, &text, &len, &err), 0);
		u = (const unsigned char *)text;
		assert_true(prov_git_index_has(u, len, "Envfile"));
		assert_true(prov_git_index_has(u, len, "sub/Envfile"));
		assert_true(prov_git_index_has(u, len, "sub/deep/x"));
		assert_true(prov_git_index_has(u, len, "late"));
		assert_false(prov_git_index_has(u, len, "sub"));
		assert_false(prov_git_index_has(u, len, "sub/"));
		assert_false(prov_git_index_has(u, len, "sub/Envfil"));
		assert_false(prov_git_index_has(u, len, "sub/Envfile2"));
		assert_false(prov_git_index_has(u, len, "sub/deep"));
		assert_false(prov_git_index_has(u, len, "other/Envfile"));
		assert_false(prov_git_index_has(u, 12 + 40, "Envfile")); /* cut in its first entry */
		assert_false(
			prov_git_index_has((const unsigned char *)"DIRC\0\0\0\x09", 8, "Envfile"));
		assert_false(prov_git_index_has((const unsigned char *)"", 0, "Envfile"));
		assert_int_equal(dv_rm_tree_at(AT_FDCWD, dir, &err), 0);
	}
}

/* The requests of the Envfile at relpath of a checkout. */
static char *checkout_lines(const char *dir, const char *relpath)
{
	struct env_spec spec = { 0 };
	struct prov_requests r;
	struct dv_buf b = { 0 };

	parse(dir, "image: busybox\n", &spec);
	spec.relpath = dv_xstrdup(relpath);
	prov_trust_requests(&spec, &r);
	dv_buf_adds(&b, "");
	for (size_t i = 0; i < r.n; i++) {
		dv_autofree char *line = prov_request_line(&r, i);

		dv_buf_addf(&b, "%s%s", i ? "\n" : "", line);
	}
	prov_requests_release(&r);
	env_spec_release(&spec);
	return dv_buf_steal(&b);
}

/* An Envfile below the checkout's root that its repository does not
 * track asks for the whole checkout; one it tracks, or one at the root,
 * asks nothing. A `.git` file (a worktree's, a submodule's, a separate git
 * dir's) leads to the index too. */
static void test_checkout_request(void **state)
{
	dv_autofree char *dir = make_checkout(), *other = make_checkout();
	dv_autofree char *co = dv_xasprintf("%s/co", other);
	dv_autofree char *gd = dv_xasprintf("%s/gitdir", other);
	dv_autofree char *got = NULL, *want = NULL;
	const char *init[] = { "init", "-q", NULL };
	const char *add[] = { "add", "mono/app/Envfile", NULL };
	const char *init_sep[] = { "init", "-q", "--separate-git-dir", gd, co, NULL };
	const char *add_sep[] = { "add", "sub/Envfile", NULL };

	(void)state;
	assert_int_equal(git_in(dir, init), 0);
	unit_put(dir, "Downloads/proj/Envfile", "image: busybox\n");
	unit_put(dir, "mono/app/Envfile", "image: busybox\n");
	unit_put(dir, "Envfile", "image: busybox\n");
	assert_int_equal(git_in(dir, add), 0);
	got = checkout_lines(dir, "Downloads/proj/Envfile");
	want = dv_xasprintf("Envfile: the whole checkout '%s', read-write ('Downloads/proj/Envfile' "
			    "is not tracked by its git repository): the env can read and change "
			    "every file of that folder, not only of the Envfile's, and mounts "
			    "anywhere in it ask nothing",
			    dir);
	assert_string_equal(got, want);
	free(got);
	got = checkout_lines(dir, "mono/app/Envfile");
	assert_string_equal(got, "");
	free(got);
	got = checkout_lines(dir, "Envfile"); /* untracked, but the root's */
	assert_string_equal(got, "");
	free(got);
	got = checkout_lines(dir, ".devcontainer/devcontainer.json");
	assert_string_equal(got, "");
	free(got);
	got = checkout_lines(dir, "sub/.devcontainer/devcontainer.json");
	assert_non_null(strstr(got, "the whole checkout"));

	/* .git as a file naming the git dir */
	assert_int_equal(git_in(other, init_sep), 0);
	unit_put(co, "sub/Envfile", "image: busybox\n");
	free(got);
	got = checkout_lines(co, "sub/Envfile");
	assert_non_null(strstr(got, "the whole checkout"));
	assert_int_equal(git_in(co, add_sep), 0);
	free(got);
	got = checkout_lines(co, "sub/Envfile");
	assert_string_equal(got, "");
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
	dv_rm_tree_at(AT_FDCWD, other, &(struct dv_error){ 0 });
}

/* What the prompt shows of the Envfile's text cannot move the cursor,
 * clear the screen or reorder the line: the texts of the requests and the
 * file's own name, escaped as util/str.c escapes every text from outside. */
static void test_shown_escapes_controls(void **state)
{
	static const char name[] = "a\033[2J\rb\\c\xc2\x9b"
				   "d\xe2\x80\xae"
				   "e\xe2\x81\xa6"
				   "f\xe2\x80\x8f"
				   "g\xc3\xa9";
	dv_autofree char *dir = make_checkout(), *other = make_checkout();
	dv_autofree char *hostile = dv_xasprintf("%s/%s", other, name);
	dv_autofree char *text = NULL, *line = NULL, *want = NULL;
	struct env_spec spec = { 0 };
	struct prov_requests r;

	(void)state;
	assert_int_equal(mkdir(hostile, 0755), 0);
	/* YAML's double quotes spell the controls */
	text = dv_xasprintf("image: busybox\nmounts: [\"%s/a\\e[2J\\rb\\\\c\\u009bd\\u202ee"
			    "\\u2066f\\u200fg\\u00e9:/x\"]\n",
			    other);
	parse(dir, text, &spec);
	free(spec.display);
	spec.display = dv_xstrdup("sub\xe2\x80\x8e\033]0;x\007/Envfile");
	prov_trust_requests(&spec, &r);
	assert_int_equal(r.n, 1);
	line = prov_request_line(&r, 0);
	want = dv_xasprintf("sub\\u200e\\x1b]0;x\\x07/Envfile:2:10: host path '%s/a\\x1b[2J\\x0db"
			    "\\\\c\\u009bd\\u202ee\\u2066f\\u200fg\xc3\xa9' at '/x', read-write: the env "
			    "can read and change every file there",
			    other);
	assert_string_equal(line, want);
	prov_requests_release(&r);
	env_spec_release(&spec);
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
	dv_rm_tree_at(AT_FDCWD, other, &(struct dv_error){ 0 });
}

/* devcontainer.json's ${localEnv:NAME} (and ${env:NAME}): a request at the
 * variable itself, its name kept and never its value. */
static void test_local_env_requests(void **state)
{
	dv_autofree char *dir = make_checkout();
	const char *json = "{\n"
			   "  \"image\": \"busybox\",\n"
			   "  \"containerEnv\": { \"T\": \"x-${localEnv:TRUST_TEST_TOKEN}\",\n"
			   "                    \"U\": \"${env:TRUST_TEST_OTHER:dflt}\" },\n"
			   "  \"postStartCommand\": \"echo ${localEnv:TRUST_TEST_TOKEN}\"\n"
			   "}\n";
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	struct prov_requests r;
	struct dv_buf b = { 0 };

	(void)state;
	setenv("TRUST_TEST_TOKEN", "s3cret", 1);
	if (envfile_devcontainer_parse(json, strlen(json), ".devcontainer/devcontainer.json", dir,
				       dir, &spec, NULL, &err) < 0)
		fail_msg("parse: %s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	prov_trust_requests(&spec, &r);
	dv_buf_adds(&b, "");
	for (size_t i = 0; i < r.n; i++) {
		dv_autofree char *line = prov_request_line(&r, i);

		dv_buf_addf(&b, "%s\n", line);
	}
	assert_string_equal(
		b.s,
		".devcontainer/devcontainer.json:3:29: ${localEnv:TRUST_TEST_TOKEN}: the value of "
		"your environment variable 'TRUST_TEST_TOKEN' goes into the env (and its state on "
		"disk)\n"
		".devcontainer/devcontainer.json:4:27: ${localEnv:TRUST_TEST_OTHER}: the value of "
		"your environment variable 'TRUST_TEST_OTHER' goes into the env (and its state on "
		"disk)\n"
		".devcontainer/devcontainer.json:5:29: ${localEnv:TRUST_TEST_TOKEN}: the value of "
		"your environment variable 'TRUST_TEST_TOKEN' goes into the env (and its state on "
		"disk)\n");
	assert_null(strstr(b.s, "s3cret"));
	dv_buf_release(&b);
	prov_requests_release(&r);
	env_spec_release(&spec);
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

/* git_credentials: one request naming every host; another host asks again. */
static void test_git_credentials_request(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *got =
		lines_of(dir, "image: busybox\n"
			      "git_credentials: [github.com, \"git.example.com:8443\"]\n");
	char one[65], two[65];

	(void)state;
	assert_string_equal(got, "Envfile:2:1: git_credentials github.com, git.example.com:8443: "
				 "your git credentials for these hosts (what 'git credential fill' "
				 "gives on this machine) are handed to the env's git, and to any "
				 "process of the env that asks, while a session or on_up runs");
	digest_of(dir, "git_credentials: [github.com]\n", one);
	digest_of(dir, "git_credentials: [github.com, gitlab.com]\n", two);
	assert_string_not_equal(one, two);
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

/* `apt_snapshot_url` on this machine or the local network asks; a public
 * address or a name, and the default, do not. */
static void test_apt_snapshot_url_request(void **state)
{
	dv_autofree char *dir = make_checkout();
	dv_autofree char *loop = lines_of(dir, "image: debian:bookworm\n"
					       "apt_snapshot: 2026-11-20T00:00:00Z\n"
					       "apt_snapshot_url: http://127.0.0.1:8000/archive/\n");
	dv_autofree char *lan = lines_of(dir, "apt_snapshot: 2026-11-20T00:00:00Z\n"
					      "apt_snapshot_url: http://192.168.1.2/archive\n");
	dv_autofree char *pub = lines_of(dir, "apt_snapshot: 2026-11-20T00:00:00Z\n"
					      "apt_snapshot_url: https://snapshot.example.org/a\n");
	dv_autofree char *dflt = lines_of(dir, "apt_snapshot: 2026-11-20T00:00:00Z\n");

	(void)state;
	assert_string_equal(loop, "Envfile:3:19: apt_snapshot_url http://127.0.0.1:8000/archive: "
				  "the steps' apt fetches Debian's packages from this machine's "
				  "own services (loopback)");
	assert_string_equal(lan, "Envfile:2:19: apt_snapshot_url http://192.168.1.2/archive: the "
				 "steps' apt fetches Debian's packages from your local network");
	assert_string_equal(pub, "");
	assert_string_equal(dflt, "");
	dv_rm_tree_at(AT_FDCWD, dir, &(struct dv_error){ 0 });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_envfile_asks_nothing),
		cmocka_unit_test(test_git_credentials_request),
		cmocka_unit_test(test_each_kind_is_listed_at_its_place),
		cmocka_unit_test(test_mount_inside_checkout_and_shared_volume),
		cmocka_unit_test(test_ssh_agent_requests),
		cmocka_unit_test(test_digest_ignores_positions),
		cmocka_unit_test(test_digest_backslash_is_not_an_escape),
		cmocka_unit_test(test_seccomp_profile_content_is_digested),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_where_sockaddr),
		cmocka_unit_test(test_port_loopback),
		cmocka_unit_test(test_image_requests),
		cmocka_unit_test(test_index_lookup),
		cmocka_unit_test(test_checkout_request),
		cmocka_unit_test(test_shown_escapes_controls),
		cmocka_unit_test(test_local_env_requests),
		cmocka_unit_test(test_apt_snapshot_url_request),
	};

	return cmocka_run_group_tests_name("trust", tests, NULL, NULL);
}
