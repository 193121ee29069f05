/*
 * provision/hostmount.c - a host mount of the Envfile (`mounts`, a
 * service's `volumes`) as the container binds it: its source opened at
 * this moment, race-free (as hostpath.c opens paths), and cloned as a
 * detached mount tree (ctr_bind_tree) just before the container starts.
 * The container attaches that tree: what it mounts is what was opened,
 * never the path looked up again.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/banned.h"

int prov_host_tree(const struct env_spec *spec, const struct env_mount *h, const char *fix,
		   struct ctr_mount *out, struct dv_error *err)
{
	struct prov_hostpath p = { "mount source", h->source, h->source_abs, h->line, h->col,
				   "mounted",      fix };
	struct dv_error cerr = { 0 };
	struct stat st;
	int tree, e;

	tree = ctr_bind_tree(spec->checkout, h->source_abs, &e, &cerr);
	if (tree < 0 && e)
		return prov_host_fail(spec, &p, e, err);
	if (tree < 0) {
		*err = cerr;
		return dv_err_prefix(err, "mount source '%s'", h->source);
	}
	if (fstat(tree, &st) < 0 || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
		close(tree);
		return prov_host_fail(spec, &p, EINVAL, err);
	}
	*out = (struct ctr_mount){ .source = h->source_abs,
				   .target = h->target,
				   .readonly = h->readonly,
				   .host = true,
				   .has_tree = true,
				   .tree_fd = tree };
	return 0;
}

void prov_host_trees_close(struct ctr_mount *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++)
		if (m[i].has_tree && m[i].tree_fd >= 0) {
			close(m[i].tree_fd);
			m[i].tree_fd = -1;
			m[i].has_tree = false;
		}
}
