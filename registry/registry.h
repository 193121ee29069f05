/*
 * registry/registry.h - the OCI registry client: pull an image into the
 * store, push one from it, read a remote image layer by layer (the team
 * cache), and log in to a registry.
 *
 * Files:
 *   registry.c    one repository of a registry: host, http or https, credentials
 *   http.c        one request over libcurl: retries, resumed downloads, errors
 *   auth.c        requests that answer auth challenges (tokens, Basic); ping, login check
 *   blob.c        blobs: GET checked against their digest, HEAD, uploads and mounts
 *   manifest.c    manifests and indexes: GET and PUT
 *   curl.c        libcurl through dlopen() (curl.h)
 *   pull.c        an image from a registry into the store; remote images
 *   pull_layer.c  one layer, unpacked while it downloads
 *   push.c        an image of the store to a registry
 *   pgzip.c       push's gzip: on every CPU as pigz makes it, the same bytes on any count
 *   login.c       login and logout: credentials into docker's config.json
 *   creds.c       credentials as docker keeps them (config.json, helpers)
 *   sign.c        a manifest's signature beside it (push --sign, cache_trust)
 *
 * Uses the store (layers/) below it; nothing here knows envs or Envfiles.
 * Plain http only for loopback hosts and those in
 * DEVENV_INSECURE_REGISTRIES; every digest is checked to be
 * sha256:<64 hex> before it becomes a URL or a path.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "layers/layers.h"
#include "util/error.h"

/* Fetch ref from its OCI registry: the manifest (an index picks
 * linux/<this machine's arch>), the config, and each layer not yet in the
 * store, each blob checked against its sha256 while it streams. Layers are
 * unpacked with the import extractor, so their ids are their diff_ids and
 * must match the config's rootfs.diff_ids. Stored as the normalised name
 * ("docker.io/library/busybox:latest", or "repo@sha256:HEX" for a digest
 * reference). On failure nothing new is left in the store. Progress goes
 * to stderr when it is a terminal. */
int reg_pull(const struct layer_store *st, const char *ref, struct layer_image *out,
	     struct dv_error *err);
/* The same, for platform "OS/ARCH[/VARIANT]" (NULL: this machine's): from
 * an index the manifest for it; an image without one must say it is for
 * it in its config. */
int reg_pull_platform(const struct layer_store *st, const char *ref, const char *platform,
		      struct layer_image *out, struct dv_error *err);

/* A remote image whose manifest (an index picks this machine's platform)
 * and config are fetched and checked, and whose layers are fetched one at
 * a time: what the team cache (`cache_from`) reads. */
struct reg_remote;
int reg_remote_open(const char *ref, struct reg_remote **out, struct dv_error *err);
void reg_remote_free(struct reg_remote *r);
const char *reg_remote_name(const struct reg_remote *r); /* normalised */
size_t reg_remote_layers(const struct reg_remote *r);
/* The sha256 (64 hex) of the image manifest (the one an index picked), and
 * of its config. */
const char *reg_remote_digest(const struct reg_remote *r);
const char *reg_remote_config(const struct reg_remote *r);
/* Layer i's diff_id (64 hex) as its config says, or NULL. */
const char *reg_remote_diff_id(const struct reg_remote *r, size_t i);
/* Annotation key of layer i's descriptor (i == SIZE_MAX: of the manifest),
 * or NULL. */
const char *reg_remote_annotation(const struct reg_remote *r, size_t i, const char *key);
/* Make layer i a layer of the store, as a pull does (digest and diff_id
 * checked, nothing left on failure); id: its diff_id, the layer's id. */
int reg_remote_fetch(const struct layer_store *st, struct reg_remote *r, size_t i, char id[65],
		     struct dv_error *err);

/* How push compresses layers: gzip (tar+gzip, what every client reads) or
 * zstd (tar+zstd: smaller and faster to unpack; podman, containerd,
 * skopeo and devenv read it). */
enum reg_compression { REG_GZIP, REG_ZSTD };

/* The manifest annotation of a pushed image that no registry served (a
 * `localhost/` name: bootstrapped, imported, committed here): its name in
 * the store, "localhost/debian:bookworm". A team's base pushed as
 * team/base and named in `cache_from` stands in for that name
 * (provision/teamcache.c). */
#define REG_ANN_IMAGE_REF "dev.devenv.image.ref"

/* Send the image ref to an OCI registry as dest (NULL: under its own
 * name; normalised as a pull's, so it names a registry host): each layer
 * as layers/export.c's tar, compressed as comp asks; a config whose rootfs.diff_ids are
 * those tars'; an OCI image manifest PUT under dest's tag. A blob the
 * repository has is not sent again, one the image's own repository on the
 * same registry has is mounted from there. One line per blob to log (may
 * be NULL): "layer 1/2 sha256:<12 hex> pushed|mounted|exists", "config ...".
 * *out_name: the normalised dest (caller frees); digest: the manifest's
 * sha256. Of the store only layer.json changes: it keeps each layer's
 * push form per compression (diff_id, digest, size), so a layer is
 * exported once for each. errnum EACCES when the registry denies us,
 * ENOENT when ref is not in the store, ENOSPC when the store's tmp/ fills
 * up (nothing is left there). */
int reg_push(const struct layer_store *st, const char *ref, const char *dest,
	     enum reg_compression comp, FILE *log, char **out_name, char digest[65],
	     struct dv_error *err);

struct json_object;

/* What reg_push_image adds to a manifest: annotations for the manifest
 * and per layer (each may be NULL), and whether the manifest goes under its
 * digest rather than dest's tag. */
struct reg_push_notes {
	struct json_object *manifest;
	struct json_object *const *layer; /* parallel to the image's layers */
	bool untagged;
};
/* reg_push of an image that need not be recorded in the store
 * (img->name only says where blobs may be mounted from); config: the
 * pushed config's sha256, when not NULL. */
int reg_push_image(const struct layer_store *st, const struct layer_image *img, const char *dest,
		   enum reg_compression comp, const struct reg_push_notes *notes, FILE *log,
		   char **out_name, char digest[65], char config[65], struct dv_error *err);

/* sign.c: store sig (len bytes: an armored ssh signature of the text
 * "sha256:<hex>") beside manifest sha256:hex of repository name (a
 * normalised reference): an OCI artifact whose subject is that manifest,
 * under the tag "sha256-<hex>.devenv-sig" (a registry with the referrers
 * API also lists it there). */
int reg_sig_push(const char *name, const char *hex, const char *sig, size_t len,
		 struct dv_error *err);
/* The signature stored beside r's manifest (the tag, else the referrers
 * API): 0 with *sig (caller frees, at most 64 KiB), 1 when there is none,
 * -1 when the registry could not be asked. Not checked here. */
int reg_remote_signature(struct reg_remote *r, char **sig, size_t *len, struct dv_error *err);

/* login.c: check user and password with the registry at host
 * ("host[:port]"), then keep them as docker does, auths.<host>.auth in
 * $DOCKER_CONFIG/config.json, else ~/.docker/config.json (mode 0600, other
 * keys kept), or with the credential helper it names for host, where
 * pulls and pushes find them. errnum EACCES when the registry refuses
 * them. logout removes the entry; *found says whether there was one. */
int reg_host_check(const char *host, struct dv_error *err); /* "host[:port]", status 2 */
int reg_login(const char *host, const char *user, const char *password, struct dv_error *err);
int reg_logout(const char *host, bool *found, struct dv_error *err);

#endif
