/* util/treesum.c - records of a copied tree's digest (treesum.h). */
#include <stdio.h>
#include <string.h>

#include "treesum.h"
#include "banned.h"

static void record(struct dv_sha256 *h, const char *name, const char *line, size_t n)
{
	dv_sha256_update(h, name, strlen(name) + 1);
	dv_sha256_update(h, line, n + 1);
}

void dv_treesum_file(struct dv_sha256 *h, const char *name, mode_t mode, const char *content)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "f %o %s", DV_TREESUM_MODE(mode), content);

	record(h, name, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void dv_treesum_link(struct dv_sha256 *h, const char *name, const char *target)
{
	dv_sha256_update(h, name, strlen(name) + 1);
	dv_sha256_update(h, "l ", 2);
	dv_sha256_update(h, target, strlen(target) + 1);
}

void dv_treesum_dir(struct dv_sha256 *h, const char *name, mode_t mode)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "d %o", DV_TREESUM_MODE(mode));

	record(h, name, line, (size_t)n);
}
