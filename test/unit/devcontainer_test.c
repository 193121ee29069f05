/*
 * test/unit/devcontainer_test.c - envfile/devcontainer.c: the JSONC
 * stripping, the translation to struct env_spec, its error positions, the
 * Envfile it writes for `init --from-devcontainer`, and envfile_find()'s
 * choice between an Envfile and a devcontainer.json. No root, no network.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "envfile/envfile.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/banned.h"

static char *format_err(const struct dv_error *err)
{
	return dv_xasprintf("%s:%u:%u: %s", err->file, err->line, err->col, err->msg);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);
	dv_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct dv_error err = { 0 };

	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, text, strlen(text), &err), 0);
}

static void make_dir(const char *dir, const char *name)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, name);
	struct dv_error err = { 0 };

	assert_int_equal(dv_mkdir_p(path, 0755, &err), 0);
}

/* A temporary folder "proj" (the ${localWorkspaceFolder}) per test. */
static int tree_setup(void **state)
{
	char tmpl[] = "/tmp/devenv-dc-test.XXXXXX";
	char *root = mkdtemp(tmpl);
	char *real;

	if (!root)
		return -1;
	real = realpath(root, NULL);
	*state = dv_xasprintf("%s/proj", real);
	free(real);
	make_dir(tmpl, "proj");
	return 0;
}

static int tree_teardown(void **state)
{
	char *proj = *state;
	char *root = dv_xstrdup(proj);
	char *argv_cmd;

	*strrchr(root, '/') = '\0';
	argv_cmd = dv_xasprintf("%s", root);
	/* small trees: remove them with nftw-free recursion through rm -r */
	if (fork() == 0) {
		execlp("rm", "rm", "-rf", argv_cmd, (char *)NULL);
		_exit(127);
	}
	wait(NULL);
	free(argv_cmd);
	free(root);
	free(proj);
	return 0;
}

static int parse(const char *dir, const char *json, struct env_spec *spec, struct dv_strv *unsup,
		 struct dv_error *err)
{
	return envfile_devcontainer_parse(json, strlen(json), ".devcontainer/devcontainer.json",
					  dir, dir, spec, unsup, err);
}

static void expect_error(const char *dir, const char *json, const char *want)
{
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *got = NULL;

	assert_int_equal(parse(dir, json, &spec, NULL, &err), -1);
	got = format_err(&err);
	if (!want) /* the message is another module's: only its place is checked */
		assert_true(dv_str_startswith(got, ".devcontainer/devcontainer.json:2:"));
	else
		assert_string_equal(got, want);
	assert_null(spec.image);
}

/* ---- JSONC ---- */

static void test_strip(void **state)
{
	static const char in[] = "{ // c1\n"
				 "  \"a\": \"x // not a comment /* nor this */\", /* c2\n"
				 "  still c2 */ \"b\": [1, 2,],\n"
				 "  \"c\": \"\\\" , }\",\n"
				 "}\n";
	static const char want[] = "{      \n"
				   "  \"a\": \"x // not a comment /* nor this */\",      \n"
				   "              \"b\": [1, 2 ],\n"
				   "  \"c\": \"\\\" , }\" \n"
				   "}\n";
	dv_autofree char *out = NULL;
	size_t off = 0;

	(void)state;
	assert_int_equal(envfile_jsonc_strip(in, strlen(in), &out, &off), 0);
	assert_string_equal(out, want);
	assert_int_equal(strlen(out), strlen(in)); /* offsets, hence positions, kept */
}

static void test_strip_unclosed(void **state)
{
	static const char in[] = "{\n  \"a\": 1 /* oops\n}\n";
	char *out = NULL;
	size_t off = 0;

	(void)state;
	assert_int_equal(envfile_jsonc_strip(in, strlen(in), &out, &off), -1);
	assert_null(out);
	assert_int_equal(off, 11);
}

static void test_syntax_errors(void **state)
{
	const char *dir = *state;

	expect_error(dir, "{\n  \"image\": \"busybox\"\n  \"name\": \"x\"\n}\n",
		     ".devcontainer/devcontainer.json:3:3: invalid JSON: object value separator "
		     "',' expected");
	expect_error(dir, "// only a comment\n{\n  \"image\": \"busybox\",\n",
		     ".devcontainer/devcontainer.json:4:1: invalid JSON: the file ends before its "
		     "object does");
	expect_error(dir, "{ \"image\": \"a\" /* never closed\n}",
		     ".devcontainer/devcontainer.json:1:16: invalid JSON: this /* comment is never "
		     "closed");
	expect_error(dir, "[\"busybox\"]",
		     ".devcontainer/devcontainer.json:1:1: a devcontainer.json must hold one object "
		     "such as { \"image\": \"debian:bookworm\" }");
	expect_error(dir, "{ \"image\": \"busybox\" } x",
		     ".devcontainer/devcontainer.json:1:24: invalid JSON: unexpected character");
	expect_error(dir, "",
		     ".devcontainer/devcontainer.json:1:1: invalid JSON: the file ends "
		     "before its object does");
}

static void test_no_image(void **state)
{
	const char *dir = *state;

	expect_error(dir,
		     "{\n  \"name\": \"x\",\n  \"build\": { \"dockerfile\": \"Dockerfile\" }\n}\n",
		     ".devcontainer/devcontainer.json:3:3: 'build.dockerfile' is not supported yet; "
		     "give an 'image' or write an Envfile (devenv init)");
	expect_error(dir, "{\n  \"dockerComposeFile\": \"c.yml\", \"service\": \"app\"\n}\n",
		     ".devcontainer/devcontainer.json:2:3: 'dockerComposeFile' is not supported yet; "
		     "give an 'image' or write an Envfile (devenv init)");
	expect_error(dir, "{ \"name\": \"x\" }",
		     ".devcontainer/devcontainer.json:1:1: the devcontainer.json has no 'image'; give "
		     "one such as \"image\": \"debian:bookworm\"");
}

static void test_bad_values(void **state)
{
	const char *dir = *state;

	/* envfile_validate's rules, at the JSON value's position */
	expect_error(dir, "{\n  \"image\": \"bad image!\"\n}",
		     ".devcontainer/devcontainer.json:2:12: 'image' must be an image reference such "
		     "as 'debian:bookworm', not 'bad image!'");
	expect_error(dir, "{ \"image\": 3 }",
		     ".devcontainer/devcontainer.json:1:12: 'image' must be a string, not a number");
	expect_error(dir, "{ \"image\": \"busybox\",\n  \"containerEnv\": { \"A\": 1 } }",
		     ".devcontainer/devcontainer.json:2:26: the value of 'A' in 'containerEnv' must "
		     "be a string, not a number");
	expect_error(dir,
		     "{ \"image\": \"busybox\",\n  \"postCreateCommand\": \"echo ${devcontainerId}\" }",
		     ".devcontainer/devcontainer.json:2:24: '${devcontainerId}' is not a variable "
		     "devenv can fill in; it knows ${localWorkspaceFolder}, "
		     "${localWorkspaceFolderBasename}, ${containerWorkspaceFolder} and "
		     "${localEnv:NAME}");
	expect_error(dir, "{ \"image\": \"busybox\",\n  \"workspaceFolder\": \"src\" }",
		     ".devcontainer/devcontainer.json:2:22: 'workdir' must be an absolute path such "
		     "as '/workspace', not 'src'");
	expect_error(dir, "{ \"image\": \"busy\\u0000box\" }",
		     ".devcontainer/devcontainer.json:1:12: 'image' must not contain a NUL character");
	expect_error(dir, "{ \"image\": \"busybox\",\n  \"remoteEnv\": { \"A\": \"x\\u0000\" } }",
		     ".devcontainer/devcontainer.json:2:23: the value of 'A' in 'remoteEnv' must not "
		     "contain a NUL character");
	expect_error(dir, "{ \"image\": \"busybox\",\n  \"postStartCommand\": [] }",
		     ".devcontainer/devcontainer.json:2:23: 'postStartCommand' must be a command "
		     "line, or an array of its words, not an empty array");
}

/* ---- the mapping ---- */

static const char full_json[] =
	"// the shapes VS Code writes\n"
	"{\n"
	"  \"name\": \"My App (dev)\",\n"
	"  \"image\": \"busybox\",\n"
	"  \"containerEnv\": { \"A\": \"1\", \"B\": \"${localWorkspaceFolderBasename}\", \"C\": "
	"\"c\" },\n"
	"  \"remoteEnv\": { \"A\": \"2\", \"C\": null, \"D\": "
	"\"${containerWorkspaceFolder}/bin\",\n"
	"                 \"PATH\": \"${containerEnv:PATH}:/x\", \"H\": "
	"\"${localEnv:DV_DC_TEST:dflt}\" },\n"
	"  \"remoteUser\": \"dev\",\n"
	"  \"containerUser\": \"other\",\n"
	"  \"onCreateCommand\": \"echo one\",\n"
	"  \"updateContentCommand\": [\"printf\", \"%s\\n\", \"it's two\"],\n"
	"  \"postCreateCommand\": { \"z\": \"echo three\", \"a\": [\"echo\", \"four\"] },\n"
	"  \"postStartCommand\": \"echo start\",\n"
	"  \"postAttachCommand\": \"echo attach\",\n"
	"  \"features\": { \"ghcr.io/devcontainers/features/node:1\": {} },\n"
	"  \"runArgs\": [\"--privileged\"],\n"
	"  \"customizations\": { \"vscode\": { \"extensions\": [] } },\n"
	"}\n";

/* "name": Latin letters with marks keep their letters, as a folder's do. */
static void test_name_transliterated(void **state)
{
	const char *dir = *state;
	struct env_spec spec = { 0 };
	struct dv_strv unsup = { 0 };
	struct dv_error err = { 0 };

	assert_int_equal(parse(dir, "{ \"image\": \"busybox\", \"name\": \"Café Straße (Ωmega)\" }",
			       &spec, &unsup, &err),
			 0);
	assert_string_equal(spec.name, "cafe-strasse-mega"); /* Ω is no Latin letter */
	env_spec_release(&spec);
	dv_strv_release(&unsup);
}

static void test_mapping(void **state)
{
	const char *dir = *state;
	struct env_spec spec = { 0 };
	struct dv_strv unsup = { 0 };
	struct dv_error err = { 0 };

	unsetenv("DV_DC_TEST");
	assert_int_equal(parse(dir, full_json, &spec, &unsup, &err), 0);
	assert_string_equal(spec.name, "my-app-dev");
	assert_string_equal(spec.image, "busybox");
	assert_string_equal(spec.workdir, "/workspaces/proj");
	assert_string_equal(spec.user, "dev");
	assert_int_equal(spec.n_env, 4);
	assert_string_equal(spec.env[0].key, "A");
	assert_string_equal(spec.env[0].value, "2"); /* remoteEnv over containerEnv */
	assert_string_equal(spec.env[1].key, "B");
	assert_string_equal(spec.env[1].value, "proj");
	assert_string_equal(spec.env[2].key, "D"); /* C: null unsets it */
	assert_string_equal(spec.env[2].value, "/workspaces/proj/bin");
	assert_string_equal(spec.env[3].key, "H");
	assert_string_equal(spec.env[3].value, "dflt");
	assert_int_equal(spec.n_provision, 4);
	assert_string_equal(spec.provision[0].run, "echo one");
	assert_string_equal(spec.provision[1].run, "printf '%s\n' 'it'\\''s two'");
	assert_string_equal(spec.provision[2].run, "echo three"); /* object: in key order */
	assert_string_equal(spec.provision[3].run, "echo four");
	assert_int_equal(spec.provision[2].line, 12);
	assert_int_equal(spec.n_on_up, 1);
	assert_string_equal(spec.on_up[0].run, "echo start");
	assert_int_equal(unsup.n, 4);
	assert_string_equal(unsup.v[0], "remoteEnv.PATH (${containerEnv:...})");
	assert_string_equal(unsup.v[1], "postAttachCommand");
	assert_string_equal(unsup.v[2], "features");
	assert_string_equal(unsup.v[3], "runArgs");
	dv_strv_release(&unsup);
	env_spec_release(&spec);
}

/* Every prefix of a real file, and every byte of it flipped to a bracket or
 * a quote: an error with a position or a spec, never a crash (run it under
 * `make asan`). */
static void test_mangled(void **state)
{
	const char *dir = *state;
	size_t n = strlen(full_json);
	char *buf = dv_xmalloc(n + 1);

	for (size_t len = 0; len <= n; len++) {
		struct env_spec spec = { 0 };
		struct dv_error err = { 0 };

		memcpy(buf, full_json, len);
		buf[len] = '\0';
		if (parse(dir, buf, &spec, NULL, &err) == 0)
			env_spec_release(&spec);
		else
			assert_true(err.line > 0 && err.col > 0);
	}
	for (size_t i = 0; i < n; i++) {
		for (const char *c = "{}[]\",:/*\\"; *c; c++) {
			struct env_spec spec = { 0 };
			struct dv_strv unsup = { 0 };
			struct dv_error err = { 0 };

			memcpy(buf, full_json, n + 1);
			buf[i] = *c;
			if (parse(dir, buf, &spec, &unsup, &err) == 0)
				env_spec_release(&spec);
			else
				assert_true(err.line > 0 && err.col > 0);
			dv_strv_release(&unsup);
		}
	}
	free(buf);
}

static void test_mapping_security(void **state)
{
	const char *dir = *state;
	struct env_spec spec = { 0 };
	struct dv_strv unsup = { 0 };
	struct dv_error err = { 0 };

	assert_int_equal(parse(dir,
			       "{\"image\":\"busybox\",\"capAdd\":[\"SYS_PTRACE\"],"
			       "\"securityOpt\":[\"label=disable\",\"seccomp=unconfined\"],"
			       "\"init\":true,\"overrideCommand\":true,\"updateRemoteUserUID\":true,"
			       "\"privileged\":true}",
			       &spec, &unsup, &err),
			 0);
	assert_int_equal(spec.security.cap_add.n, 1);
	assert_string_equal(spec.security.seccomp, "unconfined");
	assert_int_equal(unsup.n, 2);
	assert_string_equal(unsup.v[0], "securityOpt \"label=disable\"");
	assert_string_equal(unsup.v[1], "privileged");
	dv_strv_release(&unsup);
	env_spec_release(&spec);

	/* false asks for what devenv cannot do */
	assert_int_equal(parse(dir, "{\"image\":\"busybox\",\"overrideCommand\":false}", &spec,
			       &unsup, &err),
			 0);
	assert_int_equal(unsup.n, 1);
	assert_string_equal(unsup.v[0], "overrideCommand");
	dv_strv_release(&unsup);
	env_spec_release(&spec);
}

static void test_mapping_minimal(void **state)
{
	const char *dir = *state;
	struct env_spec spec = { 0 };
	struct dv_strv unsup = { 0 };
	struct dv_error err = { 0 };

	assert_int_equal(parse(dir,
			       "{\"image\":\"busybox\",\"remoteUser\":\"root\","
			       "\"workspaceFolder\":\"/src\",}",
			       &spec, &unsup, &err),
			 0);
	assert_string_equal(spec.name, "proj");
	assert_null(spec.user); /* root is who commands run as anyway */
	assert_string_equal(spec.workdir, "/src");
	assert_int_equal(spec.n_provision + spec.n_on_up + spec.n_env, 0);
	assert_int_equal(unsup.n, 0);
	env_spec_release(&spec);

	/* a workspaceMount binding the folder itself gives the workdir */
	assert_int_equal(parse(dir,
			       "{\"image\":\"busybox\",\"workspaceMount\":"
			       "\"source=${localWorkspaceFolder},target=/code,type=bind\"}",
			       &spec, &unsup, &err),
			 0);
	assert_string_equal(spec.workdir, "/code");
	assert_int_equal(unsup.n, 0);
	env_spec_release(&spec);
}

/* forwardPorts and mounts, in every shape devcontainer.json allows. */
static void test_mapping_ports_mounts(void **state)
{
	const char *dir = *state;
	struct env_spec spec = { 0 };
	struct dv_strv unsup = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *data = dv_xasprintf("%s/data", dir);
	static const char json[] =
		"{\n"
		"  \"image\": \"busybox\",\n"
		"  \"forwardPorts\": [3000, \"8080\", \"localhost:5000\", \"db:5432\"],\n"
		"  \"mounts\": [\n"
		"    \"source=cache,target=/home/dev/.cache,type=volume\",\n"
		"    \"type=bind,source=${localWorkspaceFolder}/data,target=/data,readonly\",\n"
		"    { \"source\": \"/tmp\", \"target\": \"/hosttmp\", \"type\": \"bind\" },\n"
		"    { \"source\": \"other\", \"target\": \"/other\", \"type\": \"volume\" },\n"
		"    { \"target\": \"/scratch\", \"type\": \"tmpfs\" },\n"
		"  ],\n"
		"}\n";

	make_dir(dir, "data");
	assert_int_equal(parse(dir, json, &spec, &unsup, &err), 0);
	assert_int_equal(spec.n_ports, 3);
	assert_string_equal(spec.ports[0].host_ip, "127.0.0.1");
	assert_int_equal(spec.ports[0].host_port, 3000);
	assert_int_equal(spec.ports[0].container_port, 3000);
	assert_int_equal(spec.ports[0].line, 3);
	assert_int_equal(spec.ports[0].col, 20);
	assert_int_equal(spec.ports[1].host_port, 8080);
	assert_int_equal(spec.ports[2].container_port, 5000);
	assert_int_equal(spec.n_volumes, 2);
	assert_string_equal(spec.volumes[0].source, "cache");
	assert_string_equal(spec.volumes[0].target, "/home/dev/.cache");
	assert_true(spec.volumes[0].volume);
	assert_string_equal(spec.volumes[1].source, "other");
	assert_int_equal(spec.n_mounts, 2);
	assert_string_equal(spec.mounts[0].source, "./data"); /* as an Envfile writes it */
	assert_string_equal(spec.mounts[0].source_abs, data);
	assert_string_equal(spec.mounts[0].target, "/data");
	assert_true(spec.mounts[0].readonly);
	assert_string_equal(spec.mounts[1].source, "/tmp");
	assert_false(spec.mounts[1].readonly);
	assert_int_equal(spec.mounts[1].line, 7);
	assert_int_equal(spec.mounts[1].col, 5);
	assert_int_equal(unsup.n, 2);
	assert_string_equal(unsup.v[0], "forwardPorts \"db:5432\"");
	assert_string_equal(unsup.v[1], "mounts type=tmpfs");
	dv_strv_release(&unsup);
	env_spec_release(&spec);

	/* the Envfile rules for mounts hold, at the JSON position */
	expect_error(dir,
		     "{ \"image\": \"busybox\",\n  \"mounts\": [\"source=${localWorkspaceFolder}/nope,"
		     "target=/n,type=bind\"] }",
		     ".devcontainer/devcontainer.json:2:14: 'mounts': './nope' does not exist; create "
		     "it, or fix the path (relative to the Envfile's folder)");
	expect_error(dir, "{ \"image\": \"busybox\",\n  \"mounts\": [{ \"source\": \"x\" }] }",
		     ".devcontainer/devcontainer.json:2:14: a mount needs a 'target': the path inside "
		     "the env");
	expect_error(dir, "{ \"image\": \"busybox\",\n  \"forwardPorts\": [70000] }", NULL);
}

static void same_mounts(const struct env_mount *a, const struct env_mount *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(a[i].source, b[i].source);
		assert_string_equal(a[i].target, b[i].target);
		assert_int_equal(a[i].volume, b[i].volume);
		assert_int_equal(a[i].readonly, b[i].readonly);
	}
}

/* The Envfile init writes for json loads into the same spec; *yaml_out
 * (when not NULL) gets its text. */
static void round_trip(const char *dir, const char *json, char **yaml_out)
{
	struct env_spec a = { 0 }, b = { 0 };
	struct dv_error err = { 0 };
	char *yaml = NULL;

	assert_int_equal(parse(dir, json, &a, NULL, &err), 0);
	assert_int_equal(envfile_devcontainer_to_yaml(json, strlen(json),
						      ".devcontainer/devcontainer.json", NULL, dir,
						      dir, &yaml, &err),
			 0);
	if (envfile_parse(yaml, strlen(yaml), "Envfile", dir, dir, &b, &err) < 0)
		fail_msg("%s\n%s", format_err(&err), yaml);
	assert_string_equal(a.name, b.name);
	assert_string_equal(a.image, b.image);
	assert_string_equal(a.workdir, b.workdir);
	if (a.user || b.user)
		assert_string_equal(a.user, b.user);
	assert_int_equal(a.n_env, b.n_env);
	for (size_t i = 0; i < a.n_env; i++) {
		assert_string_equal(a.env[i].key, b.env[i].key);
		assert_string_equal(a.env[i].value, b.env[i].value);
	}
	assert_int_equal(a.n_provision, b.n_provision);
	for (size_t i = 0; i < a.n_provision; i++)
		assert_string_equal(a.provision[i].run, b.provision[i].run);
	assert_int_equal(a.n_on_up, b.n_on_up);
	for (size_t i = 0; i < a.n_on_up; i++)
		assert_string_equal(a.on_up[i].run, b.on_up[i].run);
	assert_int_equal(a.n_ports, b.n_ports);
	for (size_t i = 0; i < a.n_ports; i++) {
		assert_string_equal(a.ports[i].host_ip, b.ports[i].host_ip);
		assert_int_equal(a.ports[i].host_port, b.ports[i].host_port);
		assert_int_equal(a.ports[i].container_port, b.ports[i].container_port);
	}
	assert_int_equal(a.n_volumes, b.n_volumes);
	same_mounts(a.volumes, b.volumes, a.n_volumes);
	assert_int_equal(a.n_mounts, b.n_mounts);
	same_mounts(a.mounts, b.mounts, a.n_mounts);
	assert_int_equal(a.security.cap_add.n, b.security.cap_add.n);
	env_spec_release(&a);
	env_spec_release(&b);
	if (yaml_out)
		*yaml_out = yaml;
	else
		free(yaml);
}

static void test_to_yaml_round_trip(void **state)
{
	const char *dir = *state;
	dv_autofree char *yaml = NULL;

	unsetenv("DV_DC_TEST");
	round_trip(dir, full_json, &yaml);
	assert_non_null(strstr(yaml, "# Written by 'devenv init --from-devcontainer' from "
				     ".devcontainer/devcontainer.json.\n"));
	assert_non_null(strstr(yaml, "# Not carried over (devenv does not support them): "
				     "remoteEnv.PATH (${containerEnv:...}), postAttachCommand, "
				     "features, runArgs.\n"));
	assert_non_null(strstr(yaml, "# Left out (editor settings): customizations.\n"));

	make_dir(dir, "data");
	round_trip(dir,
		   "{\"image\":\"busybox\",\"forwardPorts\":[3000,\"localhost:8080\"],"
		   "\"mounts\":[\"source=cache,target=/c,type=volume\","
		   "{\"source\":\"${localWorkspaceFolder}/data\",\"target\":\"/d\","
		   "\"type\":\"bind\",\"readonly\":true}],\"capAdd\":[\"SYS_PTRACE\"]}",
		   NULL);
}

/* Values YAML would read as something else stay strings. */
static void test_to_yaml_quoting(void **state)
{
	const char *dir = *state;
	static const char json[] = "{\"image\":\"busybox\",\"containerEnv\":{\"Y\":\"yes\","
				   "\"E\":\"\",\"N\":\"null\",\"F\":\"1.5\",\"M\":\"a\\nb # c\","
				   "\"S\":\"'x': [y]\"}}";
	struct env_spec a = { 0 }, b = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *yaml = NULL;

	assert_int_equal(parse(dir, json, &a, NULL, &err), 0);
	assert_int_equal(envfile_devcontainer_to_yaml(json, strlen(json), "devcontainer.json", NULL,
						      dir, dir, &yaml, &err),
			 0);
	if (envfile_parse(yaml, strlen(yaml), "Envfile", dir, dir, &b, &err) < 0)
		fail_msg("%s\n%s", format_err(&err), yaml);
	assert_int_equal(a.n_env, 6);
	assert_int_equal(b.n_env, 6);
	for (size_t i = 0; i < a.n_env; i++)
		assert_string_equal(a.env[i].value, b.env[i].value);
	env_spec_release(&a);
	env_spec_release(&b);
}

/* ---- hostile files ---- */

/* A key given twice is an error at the second, never a crash (json-c keeps
 * the last, the walk for positions paired the first with it: an abort
 * when their kinds differed). */
static void test_duplicate_keys(void **state)
{
	const char *dir = *state;
	static const char issue[] = "{\"image\":\"busybox\",\"a\":[1],\"a\":{}}";
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *msg = NULL;
	char *yaml = NULL;

	expect_error(dir, issue,
		     ".devcontainer/devcontainer.json:1:28: duplicate key 'a' (first at line 1, "
		     "column 20); remove one of them");
	assert_int_equal(envfile_devcontainer_to_yaml(issue, strlen(issue), "dc.json", NULL, dir,
						      dir, &yaml, &err),
			 -1);
	assert_null(yaml);
	msg = format_err(&err);
	assert_string_equal(msg, "dc.json:1:28: duplicate key 'a' (first at line 1, column 20); "
				 "remove one of them");
	expect_error(dir, "{\"image\":\"busybox\",\"a\":{},\"a\":[1]}",
		     ".devcontainer/devcontainer.json:1:27: duplicate key 'a' (first at line 1, "
		     "column 20); remove one of them");
	expect_error(dir, "{ \"image\": \"busybox\",\n  \"image\": \"alpine\" }",
		     ".devcontainer/devcontainer.json:2:3: duplicate key 'image' (first at line "
		     "1, column 3); remove one of them");
	/* the same key written two ways */
	expect_error(dir, "{\"image\":\"busybox\",\"\\u0061\":1,\"a\":2}",
		     ".devcontainer/devcontainer.json:1:31: duplicate key 'a' (first at line 1, "
		     "column 20); remove one of them");
	/* deep down, in an array */
	expect_error(dir, "{\"image\":\"busybox\",\n\"x\":[0,{\"k\":{\"a\":1},\"k\":[2,[3]]}]}",
		     ".devcontainer/devcontainer.json:2:21: duplicate key 'k' (first at line 2, "
		     "column 9); remove one of them");
	expect_error(dir,
		     "{\"image\":\"busybox\",\n\"mounts\":[{\"type\":\"volume\",\"source\":\"v\","
		     "\"target\":\"/a\",\"target\":\"/b\"}]}",
		     ".devcontainer/devcontainer.json:2:55: duplicate key 'target' (first at "
		     "line 2, column 41); remove one of them");
	/* the first of two duplicates in the text is the one named */
	expect_error(dir, "{\"b\":1,\"a\":1,\"a\":2,\"b\":2,\"image\":\"x\"}",
		     ".devcontainer/devcontainer.json:1:14: duplicate key 'a' (first at line 1, "
		     "column 8); remove one of them");
	/* one name in two objects, or two cases, is no duplicate */
	assert_int_equal(parse(dir,
			       "{\"image\":\"busybox\",\"x\":{\"image\":[1]},\"y\":{\"image\":{}},"
			       "\"containerEnv\":{\"A\":\"1\",\"a\":\"2\"}}",
			       &spec, NULL, &err),
			 0);
	assert_string_equal(spec.image, "busybox");
	assert_int_equal(spec.n_env, 2);
	env_spec_release(&spec);
}

/* Line breaks as YAML knows them (CR, LF, NEL, LS, PS), other control
 * characters and a byte-order mark, raw and escaped. */
static const char *const breakers[] = {
	"\\n",          "\\r",     "\\r\\n",  "\xc2\x85", "\\u0085", "\xe2\x80\xa8", "\\u2028",
	"\xe2\x80\xa9", "\\u2029", "\\u0001", "\\u001b",  "\\u007f", "\\u009b",      "\xef\xbb\xbf",
	"\\t",          "\\u000b", "\\u000c", "\\ufffe",  "\\uffff", "\xef\xbf\xbe",
};

/* A key's name (which init names in a comment) never becomes a line of
 * YAML of its own. */
static void test_hostile_keys(void **state)
{
	const char *dir = *state;
	static const char issue[] = "{\"image\":\"busybox\",\"x\\nprovision:\\n  - run: echo "
				    "INJECTED > /pwned\\n#\":1}";
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	char *yaml = NULL;

	assert_int_equal(envfile_devcontainer_to_yaml(issue, strlen(issue), "dc.json", NULL, dir,
						      dir, &yaml, &err),
			 0);
	assert_non_null(strstr(yaml, "\n# Not carried over (devenv does not support them): "
				     "x\\nprovision:\\n  - run: echo INJECTED > /pwned\\n#.\n"));
	assert_int_equal(envfile_parse(yaml, strlen(yaml), "Envfile", dir, dir, &spec, &err), 0);
	assert_int_equal(spec.n_provision, 0);
	env_spec_release(&spec);
	free(yaml);

	for (size_t i = 0; i < sizeof(breakers) / sizeof(breakers[0]); i++) {
		const char *b = breakers[i];
		dv_autofree char *json =
			dv_xasprintf("{\"image\":\"busybox\",\"x%sprovision:%s- run: echo INJECTED%s#\":1,"
				     "\"securityOpt\":[\"label=%simage: evil\"],\"customizations\":{}}",
				     b, b, b, b);

		if (envfile_devcontainer_to_yaml(json, strlen(json), "dc.json", NULL, dir, dir,
						 &yaml, &err) < 0)
			fail_msg("%s: %s", json, format_err(&err));
		if (envfile_parse(yaml, strlen(yaml), "Envfile", dir, dir, &spec, &err) < 0)
			fail_msg("%s\n%s", format_err(&err), yaml);
		assert_int_equal(spec.n_provision, 0);
		assert_string_equal(spec.image, "busybox");
		/* one line names both */
		assert_non_null(strstr(yaml, "\n# Not carried over (devenv does not support "
					     "them): securityOpt \"label="));
		assert_null(strstr(yaml, "\nprovision"));
		assert_null(strstr(yaml, "\nimage: evil"));
		env_spec_release(&spec);
		free(yaml);
	}

	/* nor does the name of the file it came from */
	assert_int_equal(envfile_devcontainer_to_yaml("{\"image\":\"busybox\"}", 19, "dc.json",
						      "a\nimage: evil\xe2\x80\xa8", dir, dir, &yaml,
						      &err),
			 0);
	assert_non_null(strstr(yaml, "from a\\nimage: evil\\u2028.\n"));
	assert_int_equal(envfile_parse(yaml, strlen(yaml), "Envfile", dir, dir, &spec, &err), 0);
	assert_string_equal(spec.image, "busybox");
	env_spec_release(&spec);
	free(yaml);
}

/* Values holding them are written so that they read back the same. */
static void test_hostile_values(void **state)
{
	const char *dir = *state;

	for (size_t i = 0; i < sizeof(breakers) / sizeof(breakers[0]); i++) {
		const char *b = breakers[i];
		dv_autofree char *json =
			dv_xasprintf("{\"image\":\"busybox\",\"name\":\"n%sx\",\"containerEnv\":{"
				     "\"A\":\"%s\",\"B\":\"a%sb\",\"C\":\"%s- run: x\",\"D\":\" %s \","
				     "\"E\":\"x: %s\"},\"remoteEnv\":{\"F\":\"%s#\"},"
				     "\"postCreateCommand\":\"echo a%sprovision:%s  - run: b\","
				     "\"postStartCommand\":[\"printf\",\"%s\"],"
				     "\"workspaceFolder\":\"/w%sx\","
				     "\"mounts\":[\"type=volume,source=v,target=/v%sx\"]}",
				     b, b, b, b, b, b, b, b, b, b, b, b);

		round_trip(dir, json, NULL);
	}
	/* what YAML would read as structure, an alias, a tag, a directive */
	round_trip(dir,
		   "{\"image\":\"busybox\",\"containerEnv\":{\"A\":\"*a\",\"B\":\"&a x\","
		   "\"C\":\"!!str\",\"D\":\"%YAML 1.1\",\"E\":\"- x\",\"F\":\"? x\",\"G\":\"{a: b}\","
		   "\"H\":\"[x]\",\"I\":\"a: b\",\"J\":\"# c\",\"K\":\"@x\",\"L\":\"`x\",\"M\":\"|\","
		   "\"N\":\">\",\"O\":\"---\",\"P\":\"...\",\"Q\":\"<<\",\"R\":\"=\",\"S\":\"0x1F\","
		   "\"T\":\".inf\",\"U\":\"~\",\"V\":\"Off\",\"W\":\"1_000\",\"X\":\"0o7\","
		   "\"Y\":\"\\\\\",\"Z\":\"\\\"\"}}",
		   NULL);
}

/* Bytes that are not UTF-8 (json-c lets overlong and surrogate forms
 * through; libyaml does not) are an error at their place, in a key or in
 * a value. */
static void test_invalid_utf8(void **state)
{
	const char *dir = *state;
	static const char *const bad[] = {
		"\xc0\xaf",         /* overlong '/' */
		"\xe0\x80\xaf",     /* overlong, three bytes */
		"\xf0\x80\x80\xaf", /* overlong, four bytes */
		"\xed\xa0\x80",     /* a surrogate */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"\x80",             /* a lone continuation byte */
		"\xe2\x80",         /* cut short */
		"\xff",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dv_autofree char *in_key =
			dv_xasprintf("{\"image\":\"busybox\",\n\"k%s\":1}", bad[i]);
		dv_autofree char *in_val =
			dv_xasprintf("{\"image\":\"busybox\",\n\"containerEnv\":{\"A\":\"ab%s\"}}",
				     bad[i]);
		dv_autofree char *in_comment =
			dv_xasprintf("{\"image\":\"busybox\" // %s\n}", bad[i]);
		struct dv_error err = { 0 };
		char *yaml = NULL;

		expect_error(dir, in_key,
			     ".devcontainer/devcontainer.json:2:3: invalid JSON: a byte that is not "
			     "UTF-8 (or an overlong or surrogate form); the file must be UTF-8 "
			     "text");
		expect_error(dir, in_val,
			     ".devcontainer/devcontainer.json:2:24: invalid JSON: a byte that is not "
			     "UTF-8 (or an overlong or surrogate form); the file must be UTF-8 "
			     "text");
		expect_error(dir, in_comment,
			     ".devcontainer/devcontainer.json:1:23: invalid JSON: a byte that is not "
			     "UTF-8 (or an overlong or surrogate form); the file must be UTF-8 "
			     "text");
		assert_int_equal(envfile_devcontainer_to_yaml(in_key, strlen(in_key), "dc.json",
							      NULL, dir, dir, &yaml, &err),
				 -1);
		assert_null(yaml);
	}
}

/* ---- finding and loading ---- */

static void test_find_and_load(void **state)
{
	const char *proj = *state;
	struct env_spec spec = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *sub = dv_xasprintf("%s/src/x", proj);
	dv_autofree char *want = dv_xasprintf("%s/.devcontainer/devcontainer.json", proj);
	dv_autofree char *envfile = dv_xasprintf("%s/Envfile", proj);
	char *path = NULL, *checkout = NULL;

	make_dir(proj, ".git");
	make_dir(proj, "src/x");
	make_dir(proj, ".devcontainer");
	write_text(proj, ".devcontainer/devcontainer.json", "{ \"image\": \"busybox\" }");
	assert_int_equal(envfile_find(sub, &path, &checkout, &err), 0);
	assert_string_equal(path, want);
	assert_string_equal(checkout, proj);
	assert_int_equal(envfile_load(path, checkout, ".devcontainer/devcontainer.json", &spec, &err),
			 0);
	assert_string_equal(spec.relpath, ".devcontainer/devcontainer.json");
	assert_string_equal(spec.image, "busybox");
	assert_string_equal(spec.workdir, "/workspaces/proj");
	env_spec_release(&spec);
	free(path);
	free(checkout);

	/* an Envfile wins */
	write_text(proj, "Envfile", "image: alpine\n");
	assert_int_equal(envfile_find(sub, &path, &checkout, &err), 0);
	assert_string_equal(path, envfile);
	free(path);
	free(checkout);
	unlink(envfile);

	/* .devcontainer.json at the root, when there is no .devcontainer/ */
	unlink(want);
	write_text(proj, ".devcontainer.json", "{ \"image\": \"busybox\" }");
	assert_int_equal(envfile_find(sub, &path, &checkout, &err), 0);
	assert_true(dv_str_endswith(path, "/proj/.devcontainer.json"));
	assert_int_equal(envfile_load(path, checkout, ".devcontainer.json", &spec, &err), 0);
	assert_string_equal(spec.relpath, ".devcontainer.json");
	assert_string_equal(spec.workdir, "/workspaces/proj");
	env_spec_release(&spec);
	free(path);
	free(checkout);
}

/* init --from-devcontainer's reading: the Envfile belongs beside .devcontainer/. */
static void test_convert(void **state)
{
	const char *proj = *state;
	struct dv_error err = { 0 };
	dv_autofree char *json = dv_xasprintf("%s/.devcontainer/devcontainer.json", proj);
	char *yaml = NULL, *dir = NULL;

	make_dir(proj, ".devcontainer");
	write_text(proj, ".devcontainer/devcontainer.json",
		   "{ \"image\": \"busybox\", \"postCreateCommand\": \"true\" }");
	assert_int_equal(envfile_devcontainer_convert(json, proj, "dc.json", &yaml, &dir, &err), 0);
	assert_string_equal(dir, proj);
	assert_non_null(strstr(yaml, "\nimage: busybox\n"));
	free(yaml);
	free(dir);

	/* a symlinked json: the Envfile still goes beside .devcontainer/ */
	make_dir(proj, "shared");
	write_text(proj, "shared/dc.json",
		   "{ \"image\": \"busybox\", \"postCreateCommand\": \"true\" }");
	unlink(json);
	assert_int_equal(symlink("../shared/dc.json", json), 0);
	assert_int_equal(envfile_devcontainer_convert(json, proj, "dc.json", &yaml, &dir, &err), 0);
	assert_string_equal(dir, proj);
	assert_true(dv_str_startswith(yaml, "# Written by 'devenv init --from-devcontainer' from "
					    ".devcontainer/devcontainer.json.\n"));
	assert_non_null(strstr(yaml, "\nprovision:\n- run: \"true\"\n"));
	free(yaml);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strip),
		cmocka_unit_test(test_strip_unclosed),
		cmocka_unit_test_setup_teardown(test_syntax_errors, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_no_image, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_mapping, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_name_transliterated, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_mangled, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_mapping_security, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_mapping_minimal, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_mapping_ports_mounts, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_to_yaml_round_trip, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_to_yaml_quoting, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_keys, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_keys, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_values, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_find_and_load, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_convert, tree_setup, tree_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
