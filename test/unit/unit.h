/*
 * test/unit/unit.h - what several unit tests share (header-only: each test
 * is a binary of its own, linked with libdevenv.a and nothing else).
 */
#ifndef DV_UNIT_H
#define DV_UNIT_H

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/str.h"

/* dir/rel with text in it (0644, replaced when there), its folders made on
 * the way; fails the test when it cannot. */
static inline void unit_put(const char *dir, const char *rel, const char *text)
{
	dv_autofree char *path = dv_xasprintf("%s/%s", dir, rel);
	struct dv_error err = { 0 };
	char *slash = strrchr(path, '/');
	int fd;

	*slash = 0;
	assert_int_equal(dv_mkdir_p(path, 0755, &err), 0);
	*slash = '/';
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(dv_write_full(fd, text, strlen(text), &err), 0);
	close(fd);
}

#endif
