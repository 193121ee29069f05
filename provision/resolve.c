/*
 * provision/resolve.c - the image an Envfile's `image:` (or a service's)
 * names: from the store, a team's cache_from image, a registry, or
 * bootstrapped from the Debian mirror.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/banned.h"

/* A short name (`postgres:15`, `team/app`) in no record of the store, as
 * Docker reads it: docker.io/library/postgres:15, through
 * DEVENV_REGISTRY_MIRROR when set (registry/registry.c). Stored under that
 * full name, which layer_image_resolve() finds for the short one next time
 * (after a `localhost/` image of that name: local first). */
static int pull_short_name(const struct layer_store *st, const char *ref, struct layer_image *img,
			   struct dv_error *err)
{
	const char *mirror = getenv("DEVENV_REGISTRY_MIRROR");
	dv_autofree char *full = NULL;
	struct dv_error fail = { 0 };

	if (layer_ref_normalize(ref, false, &full, err) < 0)
		return -1;
	if (mirror && !*mirror)
		mirror = NULL;
	fprintf(stderr, "devenv: image '%s' is not in the store; pulling %s%s%s\n", ref, full,
		mirror ? " through the mirror " : "", mirror ? mirror : "");
	if (reg_pull(st, full, img, &fail) == 0)
		return 0;
	if (fail.errnum == ENOSPC || fail.errnum == EDQUOT || fail.errnum == EACCES) {
		*err = fail;
		return -1;
	}
	return dv_err_plain(err, fail.errnum ? fail.errnum : ENOENT,
			    "image '%s' is not in the store and cannot be pulled as %s (%s); "
			    "import one with 'devenv image import FILE %s' or pull it",
			    ref, full, fail.msg, ref);
}

/* The image, bootstrapping the default Debian image the first time, or
 * pulling one whose reference names a registry host, or a short name from
 * Docker Hub (or its mirror). */
int prov_resolve_image(const struct layer_store *st, const struct env_spec *spec, const char *ref,
		       struct prov_team *team, struct layer_image *img, struct dv_error *err)
{
	struct dv_error miss = { 0 };
	bool foreign = false;
	int found;

	if (layer_image_resolve(st, ref, img, &miss) == 0) {
		if (prov_team_vouches(spec, img))
			return 0;
		/* Another project's cache_from put it here: not ours to run on.
		 * What follows (bootstrap, pull) replaces it with our own. */
		dv_err_plain(&miss, ENOENT,
			     "image '%s' in this store was taken from cache_from "
			     "'%s' for another env%s%s%s, so it is not used here; import or pull "
			     "your own (it replaces that one)",
			     ref, img->from,
			     spec && spec->cache_trust ? " or unchecked by cache_trust '" : "",
			     spec && spec->cache_trust ? spec->cache_trust : "",
			     spec && spec->cache_trust ? "'" : "");
		layer_image_release(img);
		foreign = true;
	}
	/* A base no registry serves: the one a teammate's pushed env was built
	 * on, so that their keys are ours. */
	if (miss.errnum == ENOENT && team &&
	    (!layer_ref_has_host(ref) || dv_str_startswith(ref, "localhost/"))) {
		layer_image_release(img);
		if ((found = prov_team_base(st, team, ref, img, err)) <= 0)
			return found;
	}
	/* `localhost/NAME` is how the store names what it imported, committed
	 * or tagged: such an image missing is not pulled from port 80 of this
	 * machine (a registry here is written with its port, localhost:5000/x,
	 * and is a trust request). `devenv pull` still can, when asked. */
	if (miss.errnum == ENOENT && layer_ref_has_host(ref) &&
	    !dv_str_startswith(ref, "localhost/")) {
		fprintf(stderr, "devenv: image '%s' is not in the store; pulling it\n", ref);
		layer_image_release(img);
		return reg_pull(st, ref, img, err);
	}
	/* Not a short name (`localhost/NAME`), or one whose record here is
	 * another env's: pulled, it would stay behind that record. */
	if (miss.errnum != ENOENT || layer_ref_has_host(ref) ||
	    (foreign && !dv_str_startswith(ref, "debian:"))) {
		*err = miss;
		return -1;
	}
	layer_image_release(img);
	if (dv_str_startswith(ref, "debian:")) {
		fprintf(stderr,
			"devenv: image '%s' is not in the store; building it from the Debian "
			"mirror (once)\n",
			ref);
		return layer_image_bootstrap(st, ref, img, err);
	}
	return pull_short_name(st, ref, img, err);
}
