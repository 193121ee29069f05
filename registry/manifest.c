/* registry/manifest.c - manifests and indexes of a repository: GET, with
 * the media types a pull reads (OCI's and docker's), and PUT for a push. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/banned.h"

#define REG_MANIFEST_MAX (4u << 20)

static const char reg_accept[] = "Accept: application/vnd.oci.image.index.v1+json, "
				 "application/vnd.oci.image.manifest.v1+json, "
				 "application/vnd.docker.distribution.manifest.list.v2+json, "
				 "application/vnd.docker.distribution.manifest.v2+json";

int reg_manifest(struct reg *r, const char *reference, char **body, size_t *len, char **media_type,
		 struct dv_error *err)
{
	dv_autofree char *what = dv_xasprintf("manifests/%s", reference);
	struct reg_sink s = { .c = r->c, .fd = -1, .max = REG_MANIFEST_MAX };

	if (reg_get(r, what, reg_accept, &s, "manifest", err) < 0) {
		reg_sink_release(&s);
		return -1;
	}
	dv_buf_add(&s.mem, "", 0); /* NUL-terminated even when empty */
	*len = s.mem.len;
	*media_type = dv_xstrdup(s.content_type ? s.content_type : "");
	*body = dv_buf_steal(&s.mem);
	reg_sink_release(&s);
	return 0;
}

int reg_manifest_put(struct reg *r, const char *tag, const char *body, const char *media_type,
		     struct dv_error *err)
{
	dv_autofree char *url = dv_xasprintf("%s/manifests/%s", r->base, tag);
	struct reg_upload up = { .fd = -1, .mem = body, .len = strlen(body) };

	return reg_put(r, url, media_type, &up, false, 200, "manifest upload", err);
}
