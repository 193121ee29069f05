/*
 * registry/sign.c - a manifest's signature beside it in the registry.
 *
 * `devenv push --sign` stores an ssh signature (ssh-keygen -Y sign,
 * armored) of a manifest's digest as an OCI artifact: an image manifest of
 * artifactType application/vnd.dev.devenv.signature.v1, config the empty
 * descriptor, one layer (the armored signature) and `subject` the signed
 * manifest. It is PUT under the tag sha256-<hex>.devenv-sig (OCI 1.1's
 * fallback tag schema, which every registry serves); a registry with the
 * referrers API indexes it under its subject from that same PUT. Reading
 * takes the tag, else asks the referrers API. What is read here is only a
 * candidate: provision/signing.c checks it with ssh-keygen against the
 * allowed signers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "util/banned.h"

#define SIG_ARTIFACT "application/vnd.dev.devenv.signature.v1"
#define SIG_LAYER "application/vnd.dev.devenv.signature.v1+ssh"
#define MT_EMPTY "application/vnd.oci.empty.v1+json"
#define EMPTY_HEX "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define SIG_MAX 65536

static char *sig_manifest(const char *sig_hex, size_t sig_len, const char *subject_hex,
			  const char *subject_mt, size_t subject_len)
{
	struct json_object *m = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType", json_object_new_string(LAYER_MT_MANIFEST));
	json_object_object_add(m, "artifactType", json_object_new_string(SIG_ARTIFACT));
	json_object_object_add(m, "config", layer_oci_descriptor(MT_EMPTY, EMPTY_HEX, 2));
	json_object_array_add(arr, layer_oci_descriptor(SIG_LAYER, sig_hex, sig_len));
	json_object_object_add(m, "layers", arr);
	json_object_object_add(m, "subject",
			       layer_oci_descriptor(subject_mt, subject_hex, subject_len));
	return layer_json_text(m);
}

int reg_sig_push(const char *name, const char *hex, const char *sig, size_t len,
		 struct dv_error *err)
{
	dv_autofree char *norm = NULL, *body = NULL, *mt = NULL, *reference = NULL;
	dv_autofree char *manifest = NULL, *tag = NULL;
	struct reg *reg = NULL;
	const char *how;
	char sig_hex[65];
	size_t blen;
	int ret = -1;

	{
		dv_autofree char *d = dv_xasprintf("sha256:%s", hex);

		if (!dv_digest_hex(d))
			return dv_err(err, EINVAL, "not a digest: '%s'", hex);
	}
	if (layer_ref_normalize(name, false, &norm, err) < 0 ||
	    !(reg = reg_open_push(norm, NULL, err)))
		goto out;
	/* The subject's size and media type, as the registry has it. */
	reference = dv_xasprintf("sha256:%s", hex);
	if (reg_manifest(reg, reference, &body, &blen, &mt, err) < 0)
		goto out;
	dv_sha256_hex(sig, len, sig_hex);
	if (reg_blob_push(reg, EMPTY_HEX, -1, "{}", 2, &how, err) < 0 ||
	    reg_blob_push(reg, sig_hex, -1, sig, len, &how, err) < 0)
		goto out;
	manifest = sig_manifest(sig_hex, len, hex, mt[0] ? mt : LAYER_MT_MANIFEST, blen);
	tag = dv_xasprintf("sha256-%s.devenv-sig", hex);
	if (reg_manifest_put(reg, tag, manifest, LAYER_MT_MANIFEST, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		dv_err_prefix(err, "cannot store the signature of %s@sha256:%.12s", name, hex);
	reg_free(reg);
	return ret;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The signature blob of the artifact manifest `reference`, when it is one
 * of ours for subject hex: 0 with *sig, 1 when it is not. */
static int sig_of(struct reg *reg, const char *reference, const char *hex, char **sig, size_t *len,
		  struct dv_error *err)
{
	dv_autofree char *body = NULL, *mt = NULL;
	layer_autojson struct json_object *doc = NULL;
	struct json_object *subject, *layers, *l0, *size;
	const char *d, *lhex;
	size_t blen;

	if (reg_manifest(reg, reference, &body, &blen, &mt, err) < 0)
		return err->errnum == ENOENT ? 1 : -1;
	if (!(doc = json_tokener_parse(body)) || !json_object_is_type(doc, json_type_object) ||
	    !jstr(doc, "artifactType") || strcmp(jstr(doc, "artifactType"), SIG_ARTIFACT) ||
	    !json_object_object_get_ex(doc, "subject", &subject) ||
	    !(d = dv_digest_hex(jstr(subject, "digest"))) || strcmp(d, hex) ||
	    !json_object_object_get_ex(doc, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array) ||
	    json_object_array_length(layers) != 1 || !(l0 = json_object_array_get_idx(layers, 0)) ||
	    !jstr(l0, "mediaType") || strcmp(jstr(l0, "mediaType"), SIG_LAYER) ||
	    !(lhex = dv_digest_hex(jstr(l0, "digest"))) ||
	    !json_object_object_get_ex(l0, "size", &size) ||
	    !json_object_is_type(size, json_type_int) || json_object_get_int64(size) <= 0 ||
	    json_object_get_int64(size) > SIG_MAX)
		return 1;
	if (reg_blob(reg, lhex, SIG_MAX, -1, sig, len, err) < 0)
		return -1;
	return 0;
}

int reg_remote_signature(struct reg_remote *r, char **sig, size_t *len, struct dv_error *err)
{
	struct reg *reg = reg_remote_conn(r);
	const char *hex = reg_remote_digest(r);
	dv_autofree char *tag = dv_xasprintf("sha256-%s.devenv-sig", hex);
	dv_autofree char *what = dv_xasprintf("referrers/sha256:%s?artifactType=%s", hex,
					      "application%2Fvnd.dev.devenv.signature.v1");
	struct reg_sink s = { .c = reg->c, .fd = -1, .max = 1 << 20 };
	layer_autojson struct json_object *index = NULL;
	struct json_object *manifests;
	int ret;

	*sig = NULL;
	*len = 0;
	ret = sig_of(reg, tag, hex, sig, len, err);
	if (ret <= 0)
		return ret;
	*err = (struct dv_error){ 0 };
	/* No tag: a registry with the referrers API may know one (a
	 * signature pushed by digest by another tool); one without answers
	 * 404, which is "unsigned". */
	if (reg_get(reg, what, "application/vnd.oci.image.index.v1+json", &s, "referrers", err) < 0) {
		reg_sink_release(&s);
		*err = (struct dv_error){ 0 };
		return 1;
	}
	dv_buf_add(&s.mem, "", 0);
	index = json_tokener_parse(s.mem.s);
	reg_sink_release(&s);
	if (!index || !json_object_object_get_ex(index, "manifests", &manifests) ||
	    !json_object_is_type(manifests, json_type_array))
		return 1;
	for (size_t i = 0; i < json_object_array_length(manifests) && i < 8; i++) {
		const char *m =
			dv_digest_hex(jstr(json_object_array_get_idx(manifests, i), "digest"));
		dv_autofree char *ref = m ? dv_xasprintf("sha256:%s", m) : NULL;

		if (!ref)
			continue;
		ret = sig_of(reg, ref, hex, sig, len, err);
		if (ret <= 0)
			return ret;
		*err = (struct dv_error){ 0 };
	}
	return 1;
}
