/* test/fuzz/state_fuzz.c - an env's state.json read (env_record_read), as
 * every command that looks at an env reads it, and the round trip
 * write -> read -> write.
 *
 * Checked: no sanitizer report; a refusal has a message; and what is read
 * is kept: writing what was read, reading that back and writing it again
 * gives the same text (so a field read but not written, written but not
 * read, or changed on the way, shows). The id the file names is replaced by
 * the folder's own before writing: the writer names its file after it. */
#include "env/env.h"
#include "fuzz.h"

#define ID "0123456789ab"

static int envs_fd = -1;

static char *write_and_read(struct env_record *st)
{
	struct dv_error err = { 0 };
	char *text = NULL;
	size_t len;

	if (env_record_write(envs_fd, st, &err) < 0)
		fuzz_fail("cannot write state.json: %s", err.msg);
	if (dv_read_file_at(envs_fd, ID "/state.json", &text, &len, &err) < 0)
		fuzz_fail("cannot read state.json back: %s", err.msg);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct env_record a = { 0 }, b = { 0 };
	struct dv_error err = { 0 };
	dv_autofree char *one = NULL, *two = NULL;

	if (envs_fd < 0) {
		envs_fd = open(fuzz_tmpdir("state"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		mkdirat(envs_fd, ID, 0700);
	}
	fuzz_write_at(envs_fd, ID "/state.json", data, size);
	if (env_record_read(envs_fd, ID, &a, &err) < 0) {
		fuzz_check_error(&err, NULL, NULL, 0);
		env_record_release(&a);
		return 0;
	}
	free(a.id);
	a.id = dv_xstrdup(ID);
	one = write_and_read(&a);
	if (env_record_read(envs_fd, ID, &b, &err) < 0)
		fuzz_fail("cannot read what was written: %s\n%s", err.msg, one);
	two = write_and_read(&b);
	if (strcmp(one, two))
		fuzz_fail("the round trip changed state.json: first\n%s\nthen\n%s", one, two);
	env_record_release(&a);
	env_record_release(&a);
	env_record_release(&b);
	return 0;
}
