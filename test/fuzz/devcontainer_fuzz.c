/*
 * test/fuzz/devcontainer_fuzz.c - a devcontainer.json read as `devenv up`
 * reads one (envfile_devcontainer_parse), and written as an Envfile as
 * `devenv init --from-devcontainer` writes one
 * (envfile_devcontainer_to_yaml). Seeds: test/fuzz/corpus/devcontainer/.
 *
 * Checked, besides no sanitizer report:
 * - a refusal is one line with a message, at a line inside the input;
 * - the json reads into a spec exactly when init writes an Envfile for it;
 * - that Envfile loads, with the Envfile's own reader, into the same spec
 *   (name, image, workdir, user, env, steps, ports, mounts, volumes,
 *   security): no key or value of the json became YAML structure.
 */
#include "envfile/envfile.h"
#include "fuzz.h"

/* The folder holding .devcontainer/ (${localWorkspaceFolder}), with a
 * folder and a file for bind mounts to name. */
static const char *workspace(void)
{
	static char *root;

	if (!root) {
		char *dir;
		int fd;

		root = realpath(fuzz_tmpdir("devcontainer"), NULL);
		if (!root)
			fuzz_fail("realpath: %s", strerror(errno));
		dir = dv_xasprintf("%s/.devcontainer", root);
		mkdir(dir, 0755);
		free(dir);
		dir = dv_xasprintf("%s/data", root);
		mkdir(dir, 0755);
		free(dir);
		dir = dv_xasprintf("%s/file", root);
		fd = open(dir, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		free(dir);
	}
	return root;
}

static void same_str(const char *what, const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a && strcmp(a, b)))
		fuzz_fail("%s differs: '%s' in the json, '%s' in its Envfile", what,
			  a ? a : "(none)", b ? b : "(none)");
}

static void same_int(const char *what, long long a, long long b)
{
	if (a != b)
		fuzz_fail("%s differs: %lld in the json, %lld in its Envfile", what, a, b);
}

static void same_kv(const char *what, const struct env_kv *a, size_t na, const struct env_kv *b,
		    size_t nb)
{
	same_int(what, (long long)na, (long long)nb);
	for (size_t i = 0; i < na; i++) {
		same_str(what, a[i].key, b[i].key);
		same_str(what, a[i].value, b[i].value);
	}
}

static void same_steps(const char *what, const struct env_step *a, size_t na,
		       const struct env_step *b, size_t nb)
{
	same_int(what, (long long)na, (long long)nb);
	for (size_t i = 0; i < na; i++) {
		same_int(what, a[i].kind, b[i].kind);
		same_str(what, a[i].run, b[i].run);
		same_str(what, a[i].copy, b[i].copy);
		same_str(what, a[i].to, b[i].to);
		same_kv(what, a[i].env, a[i].n_env, b[i].env, b[i].n_env);
	}
}

static void same_mounts(const char *what, const struct env_mount *a, size_t na,
			const struct env_mount *b, size_t nb)
{
	same_int(what, (long long)na, (long long)nb);
	for (size_t i = 0; i < na; i++) {
		same_str(what, a[i].source, b[i].source);
		same_str(what, a[i].source_abs, b[i].source_abs);
		same_str(what, a[i].target, b[i].target);
		same_int(what, a[i].volume, b[i].volume);
		same_int(what, a[i].readonly, b[i].readonly);
		same_int(what, a[i].shared, b[i].shared);
	}
}

static void same_strv(const char *what, const struct dv_strv *a, const struct dv_strv *b)
{
	same_int(what, (long long)a->n, (long long)b->n);
	for (size_t i = 0; i < a->n; i++)
		same_str(what, a->v[i], b->v[i]);
}

static void same_spec(const struct env_spec *a, const struct env_spec *b)
{
	same_str("name", a->name, b->name);
	same_str("image", a->image, b->image);
	same_str("workdir", a->workdir, b->workdir);
	same_str("shell", a->shell, b->shell);
	same_str("user", a->user, b->user);
	same_kv("env", a->env, a->n_env, b->env, b->n_env);
	same_steps("provision", a->provision, a->n_provision, b->provision, b->n_provision);
	same_steps("on_up", a->on_up, a->n_on_up, b->on_up, b->n_on_up);
	same_int("network", a->network, b->network);
	same_int("ports", (long long)a->n_ports, (long long)b->n_ports);
	for (size_t i = 0; i < a->n_ports; i++) {
		same_str("ports", a->ports[i].host_ip, b->ports[i].host_ip);
		same_int("ports", a->ports[i].host_port, b->ports[i].host_port);
		same_int("ports", a->ports[i].container_port, b->ports[i].container_port);
	}
	same_mounts("volumes", a->volumes, a->n_volumes, b->volumes, b->n_volumes);
	same_mounts("mounts", a->mounts, a->n_mounts, b->mounts, b->n_mounts);
	same_int("services", (long long)a->n_services, (long long)b->n_services);
	same_str("seccomp", a->security.seccomp, b->security.seccomp);
	same_strv("cap_add", &a->security.cap_add, &b->security.cap_add);
	same_strv("cap_drop", &a->security.cap_drop, &b->security.cap_drop);
	same_int("git_metadata", a->security.git_metadata_rw, b->security.git_metadata_rw);
	same_int("resources", (long long)a->resources.memory, (long long)b->resources.memory);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = workspace(), *text = (const char *)data;
	struct env_spec a = { 0 }, b = { 0 };
	struct dv_error err = { 0 }, yerr = { 0 };
	char *yaml = NULL;
	int parsed, written;

	parsed = envfile_devcontainer_parse(text, size, "devcontainer.json", dir, dir, &a, NULL,
					    &err);
	if (parsed < 0)
		fuzz_check_error(&err, "devcontainer.json", text, size);
	written = envfile_devcontainer_to_yaml(text, size, "devcontainer.json", NULL, dir, dir,
					       &yaml, &yerr);
	if (written < 0)
		fuzz_check_error(&yerr, "devcontainer.json", text, size);
	if (parsed != written)
		fuzz_fail("the json %s, but init %s (%s)", parsed ? "does not load" : "loads",
			  written ? "writes no Envfile" : "writes one", parsed ? err.msg : yerr.msg);
	if (written == 0) {
		if (envfile_parse(yaml, strlen(yaml), "Envfile", dir, dir, &b, &yerr) < 0)
			fuzz_fail("the Envfile init wrote does not load: Envfile:%u:%u: %s\n%s",
				  yerr.line, yerr.col, yerr.msg, yaml);
		same_spec(&a, &b);
	}
	free(yaml);
	env_spec_release(&a);
	env_spec_release(&b);
	return 0;
}
