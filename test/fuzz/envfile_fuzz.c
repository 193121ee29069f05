/* test/fuzz/envfile_fuzz.c - an Envfile read and validated (envfile_parse),
 * as `devenv up` reads one from a checkout.
 *
 * Checked: no sanitizer report; a spec is released twice safely; a refusal
 * is one line with a message and a position inside the text. The checkout
 * is a folder of the harness's own holding a file, a folder and a symlink
 * out, so `copy` steps resolve against something real. */
#include "envfile/envfile.h"
#include "fuzz.h"

static const char *checkout(void)
{
	static const char *dir;

	if (!dir) {
		int fd;

		dir = fuzz_tmpdir("envfile");
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		fuzz_write_at(fd, "file", "x\n", 2);
		mkdirat(fd, "dir", 0755);
		fuzz_write_at(fd, "dir/inner", "y\n", 2);
		if (symlinkat("/etc", fd, "out") < 0)
			fuzz_fail("symlink: %s", strerror(errno));
		close(fd);
	}
	return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = checkout();
	struct env_spec spec;
	struct dv_error err = { 0 };

	if (envfile_parse((const char *)data, size, "Envfile", dir, dir, &spec, &err) < 0)
		fuzz_check_error(&err, "Envfile", (const char *)data, size);
	env_spec_release(&spec);
	env_spec_release(&spec);
	return 0;
}
